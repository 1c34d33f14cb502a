"""dictsqlite.dbm: the dbm interface over the dictsqlite engine.

    import shelve
    import dictsqlite.dbm

    with dictsqlite.dbm.open("cache.db", "c") as db:     # bytes keys and values
        db[b"greeting"] = b"hello"

    shelf = shelve.Shelf(dictsqlite.dbm.open("app.db", "c"))  # any picklable value
    shelf["user:alice"] = {"name": "Alice"}
    shelf.close()

Like the standard library's dbm modules: open(file, flag="r", mode=0o666)
and an exception class `error` (an OSError subclass, so `except dbm.error`
of the standard library's dbm catches it too). Keys and values are bytes;
str is accepted and stored UTF-8 encoded, as the standard modules do.
Unlike dbm.sqlite3, one object may be used from several threads at once.

shelve.open() picks its dbm module itself and cannot choose this one:
write shelve.Shelf(dictsqlite.dbm.open(path, flag)) instead.

How it is stored:
- In table "dbm" of a dictsqlite file (storage_mode="bytes"), so the file
  can also hold DictSQLiteV4 tables, and a DictSQLiteV4 opened on it (table
  "main" by default) never sees dbm keys, nor dbm the DictSQLiteV4 keys.
- The engine's keys are str: a bytes key is stored as key.decode("latin-1"),
  which maps every byte string to a distinct str and back, in the same
  order; ASCII keys read the same either way (as in `dictsqlite keys
  file.db --table dbm`); other bytes appear as the Latin-1 characters of
  their byte values.
- Writes commit before they return (persist_mode="writethrough"), as with
  dbm.sqlite3. A flag ending in "f" ("cf", "wf", "nf"; gdbm's "fast")
  buffers them instead (persist_mode="lazy"): committed by sync(), close()
  and the background flusher within a second, much faster for many small
  writes, and a crash may lose the writes of the last second.
"""
import errno as _errno
import os as _os
from collections.abc import MutableMapping as _MutableMapping

from dictsqlite._native import DatabaseClosedError as _DatabaseClosedError
from dictsqlite._native import DictSQLiteV4 as _DictSQLiteV4

__all__ = ["open", "error"]

TABLE = "dbm"
# A file and the companions SQLite and the engine keep beside it; flag "n"
# removes all of them, since a stale -wal beside a new file would be replayed
# into it.
_COMPANIONS = ("", "-wal", "-shm", "-journal", "-dsgen")
_FLAGS = "rwcn"
# What the engine raises for a call that failed (DatabaseClosedError and
# CorruptValueError are ValueErrors; I/O, lock and read-only errors are
# OSErrors): raised as dbm's error. TypeError (a key that is not bytes or
# str) and KeyError stay what they are, as in the standard dbm modules.
_ENGINE_ERRORS = (ValueError, OSError)


class error(OSError):
    """A dictsqlite.dbm failure: a missing file for flag 'r' or 'w', a file
    that is not a dictsqlite database, a write to a database opened with
    flag 'r', a closed object, or an I/O error of the engine (its errno and
    filename are kept)."""


def _key(key):
    """A dbm key (bytes, str or another bytes-like object) as the engine's str."""
    if type(key) is bytes:
        return key.decode("latin-1")
    if isinstance(key, str):
        return key.encode("utf-8").decode("latin-1")
    try:
        return bytes(memoryview(key)).decode("latin-1")
    except TypeError:
        raise TypeError(
            f"dictsqlite.dbm keys must be bytes or str, not {type(key).__name__}") from None


def _value(value, key):
    """A dbm value (bytes, str or bytes-like) as bytes."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(
            f"dictsqlite.dbm values must be bytes or str, not {type(value).__name__} "
            f"(key {key!r})") from None


def _checked(value, key):
    """A value read back: bytes, unless another program stored something else
    in table 'dbm' with DictSQLiteV4."""
    if type(value) is not bytes:
        raise error(f"the value of key {key!r} in table {TABLE!r} is a "
                    f"{type(value).__name__}, not bytes: it was not written by dictsqlite.dbm")
    return value


class _Database(_MutableMapping):
    """A dbm object: see the module's docstring."""

    __slots__ = ("_db", "_path")

    def __init__(self, db, path):
        self._db = db
        self._path = path

    # -- errors: the engine's, raised as the dbm module's
    def _error(self, exc):
        if isinstance(exc, _DatabaseClosedError):
            return error(f"the dictsqlite.dbm database {self._path!r} is closed")
        if isinstance(exc, OSError) and exc.errno is not None:
            return error(exc.errno, exc.strerror or str(exc), exc.filename or self._path)
        return error(f"{self._path!r}: {exc}")  # a corrupt or refused value

    def __getitem__(self, key):
        try:
            value = self._db[_key(key)]
        except KeyError:
            raise KeyError(key) from None
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc
        return _checked(value, key)

    def get(self, key, default=None):
        try:
            value = self._db.get(_key(key), _MISSING)
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc
        return default if value is _MISSING else _checked(value, key)

    def __setitem__(self, key, value):
        try:
            self._db[_key(key)] = _value(value, key)
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def setdefault(self, key, default=None):
        """The value of key; if it is missing, store default (bytes or str:
        None, the default default, cannot be stored) and return it as bytes."""
        k = _key(key)
        try:
            value = self._db.get(k, _MISSING)
            if value is _MISSING:
                value = self._db.setdefault(k, _value(default, key))
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc
        return _checked(value, key)

    def __delitem__(self, key):
        try:
            del self._db[_key(key)]
        except KeyError:
            raise KeyError(key) from None
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def __contains__(self, key):
        try:
            return _key(key) in self._db
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def __len__(self):
        try:
            return len(self._db)
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def __iter__(self):
        # The engine's iterator is made now, so a closed object fails here
        # rather than at the first next().
        try:
            keys = iter(self._db)
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc
        return self._iterate(keys)

    def _iterate(self, keys):
        try:
            for k in keys:
                yield k.encode("latin-1")
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def keys(self):
        """A list of the keys (bytes), as dbm.sqlite3's keys() gives."""
        try:
            return [k.encode("latin-1") for k in self._db.keys()]
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def update(self, other=(), /, **kw):
        """Store many pairs in one transaction: all of them, or none when it
        raises (a bad key or value included)."""
        if isinstance(other, _MutableMapping) or hasattr(other, "keys"):
            pairs = [(k, other[k]) for k in other.keys()]
        else:
            pairs = list(other)
        pairs.extend(kw.items())
        items = []
        for i, pair in enumerate(pairs):
            try:
                k, v = pair
            except (TypeError, ValueError):
                raise ValueError(f"update: element #{i} must be a (key, value) pair, "
                                 f"got {type(pair).__name__}") from None
            items.append((_key(k), _value(v, k)))
        try:
            self._db.batch_set(items)
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def clear(self):
        """Remove every key (one transaction)."""
        try:
            self._db.clear()
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def sync(self):
        """Commit buffered writes (flag '...f'); nothing to do otherwise."""
        try:
            self._db.flush()
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def close(self):
        """Commit and close; later calls raise error. Closing twice is fine."""
        try:
            self._db.close()
        except _ENGINE_ERRORS as exc:
            raise self._error(exc) from exc

    def __enter__(self):
        if self._db.closed:
            raise error(f"the dictsqlite.dbm database {self._path!r} is closed")
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = " (closed)" if self._db.closed else ""
        return f"<dictsqlite.dbm database {self._path!r}{state}>"


_MISSING = object()


def _create(path, mode):
    """Create path with mode (less the umask), as dbm does; False if it exists."""
    try:
        fd = _os.open(path, _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL | _os.O_CLOEXEC, mode)
    except FileExistsError:
        return False
    except OSError as exc:
        raise error(exc.errno, f"cannot create the database: {exc.strerror}", path) from exc
    _os.close(fd)
    return True


def open(file, flag="r", mode=0o666):
    """Open the dictsqlite.dbm database `file` and return the dbm object.

    flag: 'r' (the default): an existing database, read only;
          'w': an existing database, read and write;
          'c': read and write, created if missing;
          'n': a new, empty database, read and write (an existing file and its
               -wal, -shm, -dsgen companions are removed first).
          An "f" after the letter ("cf") buffers writes until sync(), close()
          or the background flusher (within a second) commit them; without
          it (or with "s") every write commits before it returns.
    mode: the permission bits of a file created by 'c' or 'n' (less the
          umask), 0o666 by default, as for the standard library's dbm.

    A missing file raises error for 'r' and 'w', and nothing is created.
    """
    path = _os.fsdecode(file)
    if (not isinstance(flag, str) or len(flag) not in (1, 2) or flag[0] not in _FLAGS
            or flag[1:] not in ("", "f", "s")):
        raise ValueError(f"flag must be 'r', 'w', 'c' or 'n', optionally followed by 'f' "
                         f"(buffered writes) or 's' (synchronized, the default), got {flag!r}")
    if not isinstance(mode, int):
        raise TypeError(f"mode must be an int (permission bits such as 0o666), "
                        f"got {type(mode).__name__}")
    how = flag[0]
    created = False
    if how in "rw":
        if not _os.path.exists(path):
            raise error(_errno.ENOENT, f"no dictsqlite.dbm database here (flag {flag!r} "
                        f"opens an existing file; 'c' creates one)", path)
    elif how == "n":
        for suffix in _COMPANIONS:
            try:
                _os.unlink(path + suffix)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise error(exc.errno, f"flag 'n' cannot remove the old file: {exc.strerror}",
                            path + suffix) from exc
        created = _create(path, mode)
    else:
        created = _create(path, mode)
    try:
        db = _DictSQLiteV4(
            path,
            persist_mode="lazy" if flag.endswith("f") else "writethrough",
            storage_mode="bytes",
            table_name=TABLE,
            read_only=how == "r",
            # A value some other program stored in this table with the pickle
            # codec is then read by the restricted unpickler, never by
            # pickle.loads: opening a dbm file runs no code from it.
            enable_safe_pickle=True,
        )
    except (OSError, ValueError) as exc:
        if created:  # leave nothing behind that this call made
            for suffix in _COMPANIONS:
                try:
                    _os.unlink(path + suffix)
                except OSError:
                    pass
        if isinstance(exc, OSError) and exc.errno is not None:
            raise error(exc.errno, f"cannot open as a dictsqlite.dbm database: {exc.strerror}",
                        path) from exc
        raise error(f"cannot open {path!r} as a dictsqlite.dbm database: {exc}") from exc
    return _Database(db, path)
