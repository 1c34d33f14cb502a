# Type stubs of dictsqlite. The classes are C types (src/ext); their runtime
# __module__ is "dictsqlite", so they are declared here and re-exported by
# _native.pyi. scripts/typecheck.sh runs mypy.stubtest against the built
# extension, which compares these signatures with the __text_signature__ of
# every C method.
#
# Keys are typed str: the C code converts any other key with str() (as the
# Rust package does), but db[1] and db["1"] being one key is a surprise a
# type checker should point at; write db[str(1)] to mean it. Values are Any:
# what a value may be depends on storage_mode (any picklable object, JSON
# data, bytes), which the type of the instance does not record.
#
# The mode options accept any letter case at runtime ("LAZY" works); the
# stubs list the lowercase spellings, which is what Modes holds.
from _typeshed import StrOrBytesPath, SupportsKeysAndGetItem
from collections.abc import Callable, Coroutine, Iterable, Iterator, MutableMapping
from typing import Any, Final, Literal, TypeAlias, final, type_check_only

from typing_extensions import Self, disjoint_base

from dictsqlite.modules import safe_pickle as safe_pickle

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

__version__: Final[str]

_PersistMode: TypeAlias = Literal["memory", "lazy", "writethrough", "write_through"]
_StorageMode: TypeAlias = Literal["pickle", "json", "jsonb", "bytes"]
_TableMode: TypeAlias = Literal["prefix", "separate"]
_Encoding: TypeAlias = Literal["utf-8", "utf8"]
_Synchronous: TypeAlias = Literal["normal", "full"]
_Password: TypeAlias = str | bytes | None
# what update(), bulk_insert() and batch_set() take: a mapping or pairs
_Pairs: TypeAlias = SupportsKeysAndGetItem[str, Any] | Iterable[tuple[str, Any]]
# what abatch_set() takes: a dict (other mappings would be iterated for pairs)
_AsyncPairs: TypeAlias = dict[str, Any] | Iterable[tuple[str, Any]]
# what the a-methods return: the C awaitable has __await__, send, throw and
# close, so it is a collections.abc.Coroutine (asyncio.create_task takes it)
_Op: TypeAlias = Coroutine[Any, Any, Any]

class DatabaseClosedError(ValueError):
    """Raised when a closed database (or one inherited through fork()) is used."""

class CorruptValueError(ValueError):
    """Raised when a stored value cannot be decoded; the message names the key."""

class DatabaseLockedError(OSError):
    """Another connection held the write lock for longer than timeout (errno EBUSY)."""

class ReadOnlyError(OSError):
    """A write to a database opened with read_only=True, or to a file this process
    may not write."""

@type_check_only
class _Mapping(MutableMapping[str, Any]):
    """The dict API that DictSQLiteV4, TableProxy and the async classes share
    (DS_MAPPING_METHODS in src/ext/mapping.h). At runtime each class is
    registered as a collections.abc.MutableMapping."""

    def __getitem__(self, key: str, /) -> Any: ...
    def __setitem__(self, key: str, value: Any, /) -> None: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def get(self, key: str, default: Any = None, /) -> Any: ...
    def set(self, key: str, value: Any, /) -> None: ...
    def delete(self, key: str, /) -> None: ...
    def contains(self, key: str, /) -> bool: ...
    def pop(self, key: str, default: Any = ..., /) -> Any: ...
    def popitem(self) -> tuple[str, Any]: ...
    def setdefault(self, key: str, default: Any = None, /) -> Any: ...
    def update(self, other: _Pairs = (), /, **kwargs: Any) -> None: ...
    def bulk_insert(
        self, items: _Pairs, /, *, progress: Callable[[int, int], object] | None = None
    ) -> None: ...
    def batch_set(
        self, items: _Pairs, /, *, progress: Callable[[int, int], object] | None = None
    ) -> None: ...
    # lists, not views: they are read in one pass and stay valid after close()
    def keys(self) -> list[str]: ...  # type: ignore[override]
    def values(self) -> list[Any]: ...  # type: ignore[override]
    def items(self) -> list[tuple[str, Any]]: ...  # type: ignore[override]
    def clear(self) -> None: ...

@disjoint_base
class DictSQLiteV4(_Mapping):
    """A persistent dict stored in SQLite."""

    def __init__(
        self,
        db_path: StrOrBytesPath,
        hot_capacity: int = 1000000,
        enable_async: bool = True,
        persist_mode: _PersistMode = "writethrough",
        storage_mode: _StorageMode = "pickle",
        table_name: str = "main",
        encryption_password: _Password = None,
        enable_safe_pickle: bool = False,
        safe_pickle_allowed_modules: Iterable[str] | None = None,
        buffer_size: int = 100,
        encoding: _Encoding = "utf-8",
        table_mode: _TableMode = "prefix",
        pool_size: int = 20,
        *,
        flush_interval_ms: int = 1000,
        synchronous: _Synchronous = "normal",
        read_only: bool = False,
        timeout: float = 5.0,
        max_pending_bytes: int = 67108864,
    ) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> str: ...
    @property
    def table_name(self) -> str: ...
    def batch_get(self, keys: Iterable[str], /) -> dict[str, Any]: ...
    def table(self, name: str, /) -> TableProxy: ...
    def tables(self) -> list[str]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> Literal[False]: ...

DictSQLite = DictSQLiteV4

@final
class TableProxy(_Mapping):
    """The dict API of one table of a DictSQLiteV4; get one with db.table(name)."""

    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> DictSQLiteV4: ...
    def batch_get(self, keys: Iterable[str], /) -> dict[str, Any]: ...

@type_check_only
class _AsyncMethods(_Mapping):
    """The awaitable members of AsyncDictSQLite and AsyncTableProxy
    (DS_ASYNC_METHODS in src/ext/async_methods.h)."""

    def aget(self, key: str, /) -> _Op: ...
    def acontains(self, key: str, /) -> Coroutine[Any, Any, bool]: ...
    def aset(self, key: str, value: Any, /) -> Coroutine[Any, Any, None]: ...
    def adelete(self, key: str, /) -> Coroutine[Any, Any, None]: ...
    def abatch_get(self, keys: Iterable[str], /) -> Coroutine[Any, Any, list[Any]]: ...
    def abatch_set(self, items: _AsyncPairs, /) -> Coroutine[Any, Any, None]: ...
    def aflush(self) -> Coroutine[Any, Any, None]: ...
    # aligned with keys, None where a key is missing (the sync classes' returns a dict)
    def batch_get(self, keys: Iterable[str], /) -> list[Any]: ...
    def get_async(self, key: str, default: Any = None, /) -> Any: ...
    def set_async(self, key: str, value: Any, /) -> None: ...

@disjoint_base
class AsyncDictSQLite(_AsyncMethods):
    """A persistent dict for asyncio: await db.aget(k), await db.aset(k, v)."""

    def __init__(
        self,
        db_path: StrOrBytesPath,
        capacity: int = 1000000,
        persist_mode: _PersistMode = "lazy",
        storage_mode: _StorageMode = "pickle",
        table_name: str = "main",
        buffer_size: int = 100,
        table_mode: _TableMode = "prefix",
        *,
        # another name for capacity (pass one of the two): no default of its own
        hot_capacity: int = ...,
        encryption_password: _Password = None,
        enable_safe_pickle: bool = False,
        safe_pickle_allowed_modules: Iterable[str] | None = None,
        enable_async: bool = True,
        pool_size: int = 4,
        flush_interval_ms: int = 1000,
        synchronous: _Synchronous = "normal",
        read_only: bool = False,
        timeout: float = 5.0,
        max_pending_bytes: int = 67108864,
    ) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> str: ...
    @property
    def table_name(self) -> str: ...
    def aclose(self) -> Coroutine[Any, Any, None]: ...
    def table(self, name: str, /) -> AsyncTableProxy: ...
    def tables(self) -> list[str]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> Literal[False]: ...
    def __aenter__(self) -> Coroutine[Any, Any, Self]: ...
    def __aexit__(self, *exc_info: object) -> Coroutine[Any, Any, None]: ...

@final
class AsyncTableProxy(_AsyncMethods):
    """One table of an AsyncDictSQLite; get one with db.table(name)."""

    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> AsyncDictSQLite: ...

class Modes:
    """The mode strings the constructors accept (case-insensitive)."""

    MEMORY: Final = "memory"
    LAZY: Final = "lazy"
    WRITETHROUGH: Final = "writethrough"
    PICKLE: Final = "pickle"
    JSONB: Final = "jsonb"
    BYTES: Final = "bytes"
    JSON: Final = "json"
    TABLE_PREFIX: Final = "prefix"
    TABLE_SEPARATE: Final = "separate"

def is_native_available() -> bool: ...
def sqlite_version() -> str: ...
