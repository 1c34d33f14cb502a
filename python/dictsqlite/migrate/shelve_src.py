"""Reader of shelve and dbm files: dbm.sqlite3 (Python 3.13+), dbm.dumb,
and dbm.gnu / dbm.ndbm when this Python has them.

A shelve is a dbm file whose keys are str encoded as UTF-8 and whose values
are pickles: they are copied as pickle bytes, never loaded. A plain dbm
file's values are bytes (codec bytes). Keys are decoded as UTF-8; a key that
is not UTF-8 is refused, naming it.

dbm.sqlite3 is read with sqlite3 directly (it is one table
``Dict(key BLOB UNIQUE NOT NULL, value BLOB NOT NULL)``), so files made by
Python 3.13 migrate on 3.11 too.
"""
import dbm
import os

from dictsqlite.migrate import _payloads as P

MAIN = "main"


def dumb_base(path):
    """The base name of a dbm.dumb database given as base, base.dat or .dir."""
    for ext in (".dir", ".dat", ".bak"):
        if path.endswith(ext) and os.path.exists(path[: -len(ext)] + ".dir"):
            return path[: -len(ext)]
    return path


def backend_of(path):
    """'dbm.sqlite3', 'dbm.dumb', 'dbm.gnu', 'dbm.ndbm' or None."""
    if P.is_sqlite_file(path):
        con = P.open_sqlite_ro(path)
        try:
            tables = P.sqlite_tables(con)
            if "Dict" in tables and P.table_columns(con, "Dict") == ["key", "value"]:
                return "dbm.sqlite3"
        finally:
            con.close()
        return None
    base = dumb_base(path)
    if os.path.exists(base + ".dir") and os.path.exists(base + ".dat"):
        return "dbm.dumb"
    try:
        kind = dbm.whichdb(path)
    except OSError:
        return None
    return kind or None


class DbmSource:
    """Iterates the entries of a dbm file, as a shelve or as plain dbm."""

    def __init__(self, path, *, as_shelve, backend=None, table=None, error):
        self.path = path
        self._error = error
        self.backend = backend or backend_of(path)
        if self.backend is None:
            raise error(None, None, "not a dbm file this Python can read (dbm.whichdb "
                        "found no dbm.sqlite3, dbm.dumb, dbm.gnu or dbm.ndbm database)")
        self.as_shelve = as_shelve
        self.format = "shelve" if as_shelve else "dbm"
        self.skipped = []
        self.encrypted = False
        self.modes = {}
        self._skip_all = table is not None and table != MAIN
        if self._skip_all:
            self.skipped.append(f"everything: a {self.format} file has only the table 'main'")
        self._con = self._db = None
        if self.backend == "dbm.sqlite3":
            self._con = P.open_sqlite_ro(path)
        elif self.backend == "dbm.dumb":
            import dbm.dumb

            self._db = dbm.dumb.open(dumb_base(path), "r")
        else:
            try:
                module = __import__(self.backend, fromlist=["open"])
            except ImportError:
                raise error(None, None, f"is a {self.backend} database, and this Python "
                            f"has no {self.backend} module") from None
            self._db = module.open(path, "r")

    def close(self):
        if self._con is not None:
            self._con.close()
        if self._db is not None:
            self._db.close()

    def _raw(self):
        if self._skip_all:
            return
        if self._con is not None:
            for key, value in self._con.execute("SELECT key, value FROM Dict ORDER BY key"):
                yield key, value
        else:
            for key in sorted(self._db.keys()):
                yield key, self._db[key]

    def _rows(self):
        for key, value in self._raw():
            if isinstance(key, str):  # a TEXT cell written by another tool
                key = key.encode("utf-8")
            try:
                text = bytes(key).decode("utf-8")
            except UnicodeDecodeError:
                raise self._error(MAIN, bytes(key), "the key is not UTF-8; dictsqlite "
                                  "keys are str") from None
            if isinstance(value, str):
                value = value.encode("utf-8")
            yield text, bytes(value)

    def count(self):
        if self._skip_all:
            return 0
        if self._con is not None:
            return self._con.execute("SELECT COUNT(*) FROM Dict").fetchone()[0]
        return len(self._db)

    def infer_modes(self):
        """As a shelve, every value must be a pickle; checked before writing."""
        if self.as_shelve is None:  # auto: a shelve if every value is a pickle
            self.as_shelve = all(P.looks_like_pickle(v) or P.is_pickle(v)
                                 for _k, v in self._rows())
            self.format = "shelve" if self.as_shelve else "dbm"
        elif self.as_shelve:
            for key, value in self._rows():
                if not (P.looks_like_pickle(value) or P.is_pickle(value)):
                    raise self._error(MAIN, key, "the value is not a pickle, so this is not "
                                      "a shelve; migrate it with source_format='dbm'")
        self.modes = {MAIN: "pickle" if self.as_shelve else "bytes"}
        return self.modes

    def entries(self):
        codec = "pickle" if self.as_shelve else "bytes"
        for key, value in self._rows():
            yield MAIN, key, codec, value
