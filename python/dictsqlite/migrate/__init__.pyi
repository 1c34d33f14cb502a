# Type stubs of dictsqlite.migrate: copy another store's file into a new
# dictsqlite database (docs/migration.md).
from collections.abc import Callable
from os import PathLike
from typing import Any, Final, Literal, TypeAlias

__all__ = ["migrate", "detect", "MigrationError", "FORMATS"]

_Format: TypeAlias = Literal["auto", "rust", "sqlitedict", "shelve", "dbm"]
_Path: TypeAlias = str | PathLike[str]

FORMATS: Final[tuple[str, ...]]

class MigrationError(ValueError):
    path: str | None
    table: str | None
    key: str | None
    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        table: str | None = None,
        key: str | None = None,
    ) -> None: ...

def detect(src: _Path) -> Literal["rust", "sqlitedict", "shelve", "dbm"]: ...
def migrate(
    src: _Path,
    dst: _Path,
    *,
    source_format: _Format = "auto",
    password: str | None = None,
    dst_password: str | None = None,
    table: str | None = None,
    progress: Callable[[int, int | None], object] | None = None,
    storage_mode: Literal["auto", "pickle", "json", "jsonb", "bytes"] = "auto",
    split_tables: bool = True,
) -> dict[str, Any]: ...
