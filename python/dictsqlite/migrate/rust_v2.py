"""Reader of files written by the Rust package `dictsqlite` 2.x (PyPI).

Its format, as its wheel 2.1.3 writes it (checked by experiment, see
docs/migration.md):

- one table ``kv_store(key TEXT PRIMARY KEY, value BLOB, tier, access_count,
  last_access)``; the default table's keys are stored bare, other tables'
  as ``"table:key"`` (table_mode="prefix", its default);
- with table_mode="separate", one more table ``kv_<name>`` per table, whose
  name keeps only the letters, digits and ``_`` of the table's name;
- values untagged: the file does not say which storage mode wrote them, so
  the mode is inferred per table (or given by the caller);
- encrypted values: ``b"ENC\\0" + nonce(12) + ciphertext + tag(16)``,
  AES-256-GCM without associated data, key = PBKDF2-HMAC-SHA256(password,
  b"DictSQLite_v4_default_salt_16b", 100_000 iterations, 32 bytes).
"""
import hashlib

from dictsqlite.migrate import _payloads as P

MODES = ("pickle", "json", "jsonb", "bytes")
CODEC_OF_MODE = {"pickle": "pickle", "json": "json", "jsonb": "msgpack", "bytes": "bytes"}

_MARKER = b"ENC\x00"
_SALT = b"DictSQLite_v4_default_salt_16b"
_ITERATIONS = 100_000
_MAIN = "main"


def derive_key(password):
    """The AES key the Rust package derives from a password."""
    if isinstance(password, str):
        password = password.encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", password, _SALT, _ITERATIONS, 32)


def is_encrypted(value):
    # 4 marker + 12 nonce + 16 tag: the shortest sealed value (an empty one)
    return len(value) >= 32 and value[:4] == _MARKER


def decrypt(key, value):
    from dictsqlite._native import _legacy_aes256gcm_decrypt

    return _legacy_aes256gcm_decrypt(key, value[4:16], value[16:])


def passthrough(payload):
    """Bytes the pickle mode stored as given: its db[k] = b"..." keeps any
    value starting with 0x80 or 0x00 unpickled ("already a pickle"), whether
    or not it is one."""
    return payload[:1] in (b"\x80", b"\x00")


def fits(mode, payload):
    """Whether payload can have been written by storage mode `mode`."""
    if mode == "pickle":
        return passthrough(payload) or P.is_pickle(payload)
    if mode == "json":
        return P.is_json(payload)
    if mode == "jsonb":
        return P.is_msgpack(payload)
    return True


class RustSource:
    """Iterates (table, key, payload) of a Rust 2.x file, decrypted."""

    format = "rust"

    def __init__(self, path, *, password=None, table=None, storage_mode="auto",
                 split_tables=True, error):
        self.path = path
        self._error = error
        self._key = derive_key(password) if password is not None else None
        self._only = table
        if storage_mode not in ("auto",) + MODES:
            raise ValueError(f"storage_mode must be 'auto' or one of {MODES}, "
                             f"got {storage_mode!r}")
        self._mode = storage_mode
        self._split = split_tables
        self._con = P.open_sqlite_ro(path)
        self.skipped = []
        self._sources = []  # (sqlite table, namespace or None = split prefixes)
        for name in P.sqlite_tables(self._con):
            cols = P.table_columns(self._con, name)
            if name == "kv_store":
                self._sources.append((name, None))
            elif name.startswith("kv_") and "key" in cols and "value" in cols:
                self._sources.append((name, name[3:]))
            else:
                self.skipped.append(f"SQLite table {name!r}: not a table of the Rust package")
        self.encrypted = False
        self.modes = {}
        self.notes = []

    def close(self):
        self._con.close()

    def _rows(self):
        """(namespace, key, stored value) of every entry, in a stable order."""
        for sql_table, ns in self._sources:
            quoted = '"' + sql_table.replace('"', '""') + '"'
            for key, value in self._con.execute(f"SELECT key, value FROM {quoted} ORDER BY key"):
                if ns is None and not self._split:
                    table = _MAIN  # keys kept as stored, "users:alice" included
                elif ns is None:
                    # db.table("users")["alice"] and db["users:alice"] are one
                    # entry to the Rust package; the split follows its table
                    # proxies (docs/migration.md: split_tables=False keeps them).
                    table, sep, rest = key.partition(":")
                    table, key = (table, rest) if sep else (_MAIN, key)
                else:
                    table = ns
                if self._only is not None and table != self._only:
                    continue
                if isinstance(value, str):  # a TEXT cell: the bytes it holds
                    value = value.encode("utf-8")
                yield table, key, bytes(value)

    def _plain(self, table, key, value):
        if not is_encrypted(value):
            return value
        self.encrypted = True
        if self._key is None:
            raise self._error(table, key, "the value is encrypted: pass the Rust file's "
                              "password (password=...)")
        try:
            return decrypt(self._key, value)
        except ValueError as e:
            raise self._error(table, key, str(e)) from None

    def count(self):
        return sum(1 for _ in self._rows())

    def infer_modes(self):
        """Decide each table's storage mode (the first pass over the file)."""
        left = {}
        real = set()  # tables with a real pickle: passthrough bytes alone decide nothing
        for table, key, value in self._rows():
            cands = left.setdefault(table, ["pickle", "json", "jsonb"])
            payload = self._plain(table, key, value)
            if self._mode != "auto":
                # pickle: any value goes (one that is no pickle, which the
                # Rust package cannot read back either, is copied as bytes)
                if self._mode != "pickle" and not fits(self._mode, payload):
                    raise self._error(table, key, f"the value is not valid {self._mode} "
                                      f"data (storage_mode={self._mode!r} was given)")
                continue
            cands[:] = [m for m in cands if fits(m, payload)]
            if "pickle" in cands and table not in real and P.is_pickle(payload):
                real.add(table)
        if self._only is not None and self._only not in left:
            raise self._error(self._only, None, "no such table (no key of the file is in it)")
        if self._mode != "auto":
            self.modes = {t: self._mode for t in left}
            return self.modes
        undecided = []
        for table, cands in left.items():
            if "pickle" in cands and table not in real:
                cands.remove("pickle")  # only {} or 0 in MessagePack, say
            if "pickle" in cands:
                self.modes[table] = "pickle"
            elif cands == ["json", "jsonb"]:
                undecided.append(table)  # only the bytes 0-9: JSON numbers or fixints
            else:
                self.modes[table] = cands[0] if cands else "bytes"
        decided = set(self.modes.values()) & {"json", "jsonb"}
        for table in undecided:
            if len(decided) != 1:
                raise self._error(table, None, "every value reads as JSON and as MessagePack "
                                  "(single digits); pass storage_mode='json' or 'jsonb'")
            self.modes[table] = decided.pop()
            decided.add(self.modes[table])
        return self.modes

    def entries(self):
        """(table, key, codec, payload), after infer_modes()."""
        for table, key, value in self._rows():
            payload = self._plain(table, key, value)
            codec = CODEC_OF_MODE[self.modes[table]]
            if codec == "pickle" and not (P.looks_like_pickle(payload) or P.is_pickle(payload)):
                # Passthrough bytes that are no pickle: the Rust package
                # fails to read them back; as bytes they read back as stored.
                codec = "bytes"
                self.notes.append(f"table {table!r}, key {key!r}: stored by the pickle mode "
                                  "as given but not a pickle (the Rust package cannot read "
                                  "it back); copied as bytes")
            yield table, key, codec, payload
