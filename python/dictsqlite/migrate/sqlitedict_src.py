"""Reader of sqlitedict files (https://github.com/piskvorky/sqlitedict).

sqlitedict keeps each of its tables (tablename="unnamed" by default) as a
SQLite table ``"<tablename>"(key TEXT PRIMARY KEY, value BLOB)``. Values are
pickles (its default encode is pickle.dumps at the highest protocol), copied
as pickle bytes without being loaded. A file written with encode=json.dumps
holds JSON text instead: such values are copied with codec json. Anything
else (another custom encoder) is refused, naming the key.
"""
from dictsqlite.migrate import _payloads as P


def codec_of(payload):
    if P.looks_like_pickle(payload) or P.is_pickle(payload):
        return "pickle"
    if P.is_json(payload):
        return "json"
    return None


class SqliteDictSource:
    format = "sqlitedict"

    def __init__(self, path, *, table=None, error):
        self.path = path
        self._error = error
        self._con = P.open_sqlite_ro(path)
        self.skipped = []
        self.encrypted = False
        self.modes = {}
        found = []
        for name in P.sqlite_tables(self._con):
            if P.table_columns(self._con, name) != ["key", "value"]:
                self.skipped.append(f"SQLite table {name!r}: not a sqlitedict table "
                                    "(columns other than key, value)")
            else:
                found.append(name)
        if table is not None and table not in found:
            self._con.close()
            raise error(table, None, f"no such sqlitedict table; the file has {found}")
        self._tables = found if table is None else [table]

    def close(self):
        self._con.close()

    def _rows(self):
        for name in self._tables:
            quoted = '"' + name.replace('"', '""') + '"'
            for key, value in self._con.execute(f"SELECT key, value FROM {quoted} ORDER BY key"):
                if isinstance(key, bytes):
                    try:
                        key = key.decode("utf-8")
                    except UnicodeDecodeError:
                        raise self._error(name, key, "the key is not UTF-8 text") from None
                if isinstance(value, str):
                    value = value.encode("utf-8")
                elif value is None:
                    raise self._error(name, key, "the value is NULL")
                yield name, key, bytes(value)

    def count(self):
        return sum(self._con.execute(
            'SELECT COUNT(*) FROM "' + n.replace('"', '""') + '"').fetchone()[0]
            for n in self._tables)

    def _coded(self):
        for table, key, value in self._rows():
            codec = codec_of(value)
            if codec is None:
                raise self._error(table, key, "the value is neither a pickle nor JSON "
                                  "(a custom sqlitedict encode?); it cannot be migrated")
            yield table, key, codec, value

    def infer_modes(self):
        """Every value's codec, checked before anything is written."""
        seen = {name: set() for name in self._tables}
        for table, _key, codec, _value in self._coded():
            seen[table].add(codec)
        self.modes = {t: "/".join(sorted(c)) or "pickle" for t, c in seen.items()}
        return self.modes

    def entries(self):
        return self._coded()
