# Helper modules of dictsqlite: safe_pickle (restricted unpickling).
