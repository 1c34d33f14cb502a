"""Migration into dictsqlite from the stores people use today.

    from dictsqlite.migrate import migrate
    report = migrate("old.db", "new.db")          # format detected
    report["tables"]                               # {"main": 120, "users": 3}

Sources (docs/migration.md has a guide per source):

- "rust": files of the Rust package ``dictsqlite`` 2.x, every storage mode,
  both table modes, encrypted ones with ``password=``;
- "sqlitedict": every table of a sqlitedict file;
- "shelve": a shelve over dbm.sqlite3, dbm.dumb, dbm.gnu or dbm.ndbm;
- "dbm": a plain dbm file of those kinds (bytes values).

No value is ever unpickled: pickles are copied as the bytes they were stored
as (codec pickle), JSON as JSON, MessagePack as MessagePack, bytes as bytes.
The destination is written under a temporary name beside it and appears
only when complete: on any error nothing is left behind.
"""
import os

from dictsqlite.migrate import _payloads as P

__all__ = ["migrate", "detect", "MigrationError", "FORMATS"]

FORMATS = ("auto", "rust", "sqlitedict", "shelve", "dbm")
_BATCH = 1000


class MigrationError(ValueError):
    """A migration failed; nothing was written to the destination.

    The message names the file, and the table and key when one is at fault;
    they are also the attributes path, table and key (None when not known).
    """

    def __init__(self, message, *, path=None, table=None, key=None):
        super().__init__(message)
        self.path = path
        self.table = table
        self.key = key


def _error_for(path):
    def make(table, key, why):
        where = [str(path)]
        if table is not None:
            where.append(f"table {table!r}")
        if key is not None:
            where.append(f"key {key!r}")
        return MigrationError(", ".join(where) + ": " + why, path=path, table=table, key=key)

    return make


def _sqlite_kind(path):
    """What a SQLite file is: 'rust', 'dictsqlite', 'dbm.sqlite3', 'sqlitedict' or None."""
    con = P.open_sqlite_ro(path)
    try:
        tables = P.sqlite_tables(con)
        lower = {t.lower() for t in tables}
        if "dictsqlite_meta" in lower or "kv" in lower:
            return "dictsqlite"
        if "kv_store" in lower:
            return "rust"
        if "Dict" in tables and P.table_columns(con, "Dict") == ["key", "value"]:
            return "dbm.sqlite3"
        if any(P.table_columns(con, t) == ["key", "value"] for t in tables):
            return "sqlitedict"
        return None
    finally:
        con.close()


def _open_source(src, fmt, *, password, table, storage_mode, split_tables=True):
    from dictsqlite.migrate import rust_v2, shelve_src, sqlitedict_src

    error = _error_for(src)
    exists = os.path.exists(src) or os.path.exists(shelve_src.dumb_base(src) + ".dir")
    if not exists:
        raise MigrationError(f"{src}: no such file", path=src)
    kind = _sqlite_kind(src) if P.is_sqlite_file(src) else None
    if kind == "dictsqlite":
        raise MigrationError(f"{src}: is already a dictsqlite database; nothing to migrate",
                             path=src)
    if fmt == "auto":
        if kind in ("rust", "sqlitedict"):
            fmt = kind
        elif kind == "dbm.sqlite3" or shelve_src.backend_of(src):
            fmt = None  # shelve or dbm: decided by the values
        else:
            raise MigrationError(
                f"{src}: not a file of a known source format (the Rust dictsqlite 2.x "
                "package, sqlitedict, shelve, dbm); pass source_format=", path=src)
    if password is not None and fmt != "rust":
        raise MigrationError(f"{src}: password= is for encrypted files of the Rust package; "
                             f"this source is {fmt or 'a dbm file'}", path=src)
    if (storage_mode != "auto" or split_tables is not True) and fmt != "rust":
        raise MigrationError(f"{src}: storage_mode= and split_tables= are for files of the "
                             "Rust package only", path=src)
    if fmt == "rust":
        if kind != "rust":
            raise error(None, None, "has no table kv_store: not a file of the Rust package")
        return rust_v2.RustSource(src, password=password, table=table,
                                  storage_mode=storage_mode, split_tables=split_tables,
                                  error=error)
    if fmt == "sqlitedict":
        if kind != "sqlitedict":
            raise error(None, None, "has no table (key, value): not a sqlitedict file")
        return sqlitedict_src.SqliteDictSource(src, table=table, error=error)
    as_shelve = {"shelve": True, "dbm": False, None: None}[fmt]
    return shelve_src.DbmSource(src, as_shelve=as_shelve, table=table, error=error)


def detect(src):
    """The source format of src: 'rust', 'sqlitedict', 'shelve' or 'dbm'.

    A dbm file counts as a shelve when every value is a pickle. Raises
    MigrationError for anything else (including a dictsqlite file)."""
    src = os.fspath(src)
    source = _open_source(src, "auto", password=None, table=None, storage_mode="auto")
    try:
        if source.format in ("shelve", "dbm") or getattr(source, "as_shelve", 0) is None:
            source.infer_modes()
        return source.format
    finally:
        source.close()


def _check_destination(dst):
    """Refuse a destination that holds anything; True if it exists (empty)."""
    if os.path.isdir(dst):
        raise MigrationError(f"{dst}: the destination is a directory; give a file name",
                             path=dst)
    for side in ("-wal", "-journal"):
        if os.path.exists(dst + side) and os.path.getsize(dst + side) > 0:
            raise MigrationError(f"{dst}: the destination has a non-empty {dst + side} (a "
                                 "database in use?); migrate into a new file", path=dst)
    if not os.path.exists(dst):
        return False
    if os.path.getsize(dst) > 0:
        raise MigrationError(f"{dst}: the destination exists and is not empty; migrate "
                             "into a new file (or remove it first)", path=dst)
    return True


class _Destination:
    """A dictsqlite database written under a temporary name beside dst."""

    def __init__(self, dst, password):
        from dictsqlite import DictSQLiteV4

        self.dst = dst
        self.pre_existed = _check_destination(dst)
        folder, name = os.path.split(os.path.abspath(dst))
        self.tmp = os.path.join(folder, f".{name}.migrating-{os.getpid()}")
        self._remove_tmp()  # left by an earlier run of this pid, killed
        self._tables = {}
        self.db = DictSQLiteV4(self.tmp, hot_capacity=4096, encryption_password=password)
        if not hasattr(self.db, "_raw_set_many"):
            self.abort()
            raise MigrationError(f"{dst}: this build of dictsqlite has no raw write API "
                                 "(_raw_set_many), so values cannot be copied as stored; "
                                 "rebuild it", path=dst)

    def write(self, table, batch):
        proxy = self._tables.get(table)
        if proxy is None:
            proxy = self._tables[table] = self.db.table(table)
        proxy._raw_set_many(batch)

    def commit(self):
        self._tables.clear()
        self.db.close()
        if self.pre_existed:
            # re-checked: the empty file must not have been filled meanwhile
            _check_destination(self.dst)
            os.replace(self.tmp, self.dst)
        else:
            try:
                os.link(self.tmp, self.dst)  # fails, rather than clobbers, if dst appeared
            except FileExistsError:
                raise MigrationError(f"{self.dst}: the destination appeared while migrating; "
                                     "it was left alone", path=self.dst) from None
            except OSError:  # a file system without hard links
                _check_destination(self.dst)
                os.replace(self.tmp, self.dst)
        self._remove_tmp()  # the name and the engine's -dsgen counter beside it
        fd = os.open(os.path.dirname(os.path.abspath(self.dst)), os.O_RDONLY)
        try:
            os.fsync(fd)  # the new name survives a power loss
        finally:
            os.close(fd)

    def _remove_tmp(self):
        for suffix in ("", "-wal", "-shm", "-journal", "-dsgen"):
            try:
                os.unlink(self.tmp + suffix)
            except FileNotFoundError:
                pass

    def abort(self):
        self._tables.clear()
        try:
            self.db.close()
        except Exception:
            pass  # the error being raised is the one that matters
        self._remove_tmp()


def migrate(src, dst, *, source_format="auto", password=None, dst_password=None,
            table=None, progress=None, storage_mode="auto", split_tables=True):
    """Copy every entry of src into a new dictsqlite database dst.

    source_format: "auto" (detected), "rust", "sqlitedict", "shelve" or "dbm".
    password: the source's password (encrypted files of the Rust package).
    dst_password: encrypt dst with this password.
    table: copy only this table of the source.
    progress: called as progress(done, total) as entries are written.
    storage_mode: Rust files only: "auto" (inferred per table), or the
    storage mode that wrote the file ("pickle", "json", "jsonb", "bytes").
    split_tables: Rust files only: a key "users:alice" of its table kv_store
    becomes key "alice" of table "users" (True, what the Rust package's
    db.table("users") reads), or stays key "users:alice" of table "main".

    dst must not exist or be empty. All or nothing: on any error dst is not
    created (an empty dst is left as it was). Returns a report:
    {"format", "source", "destination", "tables": {name: count}, "entries",
    "skipped": [what was not copied, and why], "notes": [values copied with
    another codec than their table's, and why], "storage_modes": {table: mode},
    "source_encrypted", "encrypted"}.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if source_format not in FORMATS:
        raise ValueError(f"source_format must be one of {FORMATS}, got {source_format!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable(done, total), got {type(progress).__name__}")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise MigrationError(f"{dst}: the destination is the source; give a new file name",
                             path=dst)
    _check_destination(dst)
    source = _open_source(src, source_format, password=password, table=table,
                          storage_mode=storage_mode, split_tables=split_tables)
    dest = None
    try:
        total = source.count()
        # First pass: every value is read (decrypted, its codec decided)
        # before dst exists, so a wrong password or a bad value costs nothing.
        source.infer_modes()
        dest = _Destination(dst, dst_password)
        counts, done = {}, 0
        if progress is not None:
            progress(0, total)
        batch_table, batch = None, []
        for tbl, key, codec, payload in source.entries():
            if batch and (tbl != batch_table or len(batch) >= _BATCH):
                done += _write(dest, dst, batch_table, batch, progress, done, total)
                batch = []
            batch_table = tbl
            batch.append((key, codec, payload))
            counts[tbl] = counts.get(tbl, 0) + 1
        if batch:
            done += _write(dest, dst, batch_table, batch, progress, done, total)
        dest.commit()
        dest = None
    except BaseException:
        if dest is not None:
            dest.abort()
        raise
    finally:
        source.close()
    return {
        "format": source.format,
        "source": src,
        "destination": dst,
        "tables": counts,
        "entries": done,
        "skipped": list(source.skipped),
        "notes": list(getattr(source, "notes", ())),
        "storage_modes": dict(source.modes),
        "source_encrypted": bool(source.encrypted),
        "encrypted": dst_password is not None,
    }


def _write(dest, dst, table, batch, progress, done, total):
    try:
        dest.write(table, batch)
    except MigrationError:
        raise
    except Exception as e:
        raise MigrationError(f"{dst}, table {table!r}: writing failed: {e}", path=dst,
                             table=table) from e
    if progress is not None:
        progress(done + len(batch), total)
    return len(batch)
