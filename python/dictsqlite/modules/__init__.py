"""Helper modules of dictsqlite."""
