"""An a-method called without await does nothing: mypy says so."""
from dictsqlite import AsyncDictSQLite


async def main() -> None:
    db = AsyncDictSQLite("app.db")
    db.aset("k", 1)  # E: unused-coroutine
    db.aflush()  # E: unused-coroutine
