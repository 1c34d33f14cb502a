"""dictsqlite: a persistent dict with a C core.

    from dictsqlite import DictSQLiteV4
    db = DictSQLiteV4("app.db")          # writethrough + pickle by default
    db["user:alice"] = {"name": "Alice"}
    db.close()

The classes are the C types of dictsqlite._native; this package adds the
mode constants, the MutableMapping registration and the exit-time flush.
"""
import atexit as _atexit
import logging as _logging
from collections.abc import MutableMapping as _MutableMapping

from dictsqlite._native import (
    AsyncDictSQLite,
    AsyncTableProxy,
    CorruptValueError,
    DatabaseClosedError,
    DatabaseLockedError,
    ReadOnlyError,
    DictSQLiteV4,
    TableProxy,
    _flush_all,
)
from dictsqlite._native import sqlite_version as _sqlite_version
from dictsqlite.modules import safe_pickle

__all__ = [
    "DictSQLiteV4",
    "DictSQLite",
    "TableProxy",
    "AsyncDictSQLite",
    "AsyncTableProxy",
    "Modes",
    "DatabaseClosedError",
    "CorruptValueError",
    "DatabaseLockedError",
    "ReadOnlyError",
    "is_native_available",
    "safe_pickle",
    "__version__",
]

__version__ = "0.1.0"

DictSQLite = DictSQLiteV4


class Modes:
    """The mode strings the constructors accept (case-insensitive)."""

    MEMORY = "memory"
    LAZY = "lazy"
    WRITETHROUGH = "writethrough"
    PICKLE = "pickle"
    JSONB = "jsonb"
    BYTES = "bytes"
    JSON = "json"
    TABLE_PREFIX = "prefix"
    TABLE_SEPARATE = "separate"


def is_native_available() -> bool:
    """Always True: the C core is the only implementation."""
    return True


def sqlite_version() -> str:
    """The version of the SQLite library in use."""
    return _sqlite_version()


# The library's records (open/close, flushes, recounts at DEBUG; a failed
# background flush at WARNING) go to this logger; without a handler of the
# application's they go nowhere, not to logging's last-resort stderr handler.
# logging is imported before the exit-time flush is registered, so that
# flush runs before logging.shutdown (atexit runs handlers last-in first-out)
# and can still log.
_logging.getLogger("dictsqlite").addHandler(_logging.NullHandler())

_MutableMapping.register(DictSQLiteV4)
_MutableMapping.register(TableProxy)
_MutableMapping.register(AsyncDictSQLite)
_MutableMapping.register(AsyncTableProxy)
# Lazy-mode writes survive a normal exit even without close().
_atexit.register(_flush_all)
