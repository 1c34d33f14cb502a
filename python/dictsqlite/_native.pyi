# The C extension. Its types and exceptions say __module__ == "dictsqlite",
# so they are declared in dictsqlite/__init__.pyi and re-exported here. The
# test hooks (_pickle_dumps_fast, _inject_fault, ...) are left out: they are
# private, and stubtest skips private runtime names that a stub leaves out.
from dictsqlite import AsyncDictSQLite as AsyncDictSQLite
from dictsqlite import AsyncTableProxy as AsyncTableProxy
from dictsqlite import CorruptValueError as CorruptValueError
from dictsqlite import DatabaseClosedError as DatabaseClosedError
from dictsqlite import DatabaseLockedError as DatabaseLockedError
from dictsqlite import DictSQLiteV4 as DictSQLiteV4
from dictsqlite import ReadOnlyError as ReadOnlyError
from dictsqlite import TableProxy as TableProxy
from typing import final

def sqlite_version() -> str: ...
def _flush_all() -> None: ...

@final
class _LoopQueue:
    """The completion queue of one event loop (used by dictsqlite._loops)."""

    def fileno(self) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def _drain(self) -> None: ...
