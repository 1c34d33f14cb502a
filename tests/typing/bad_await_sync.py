"""Awaiting a sync method (set, flush, keys) of the async class is an error:
they return their result at once, not an awaitable."""
from dictsqlite import AsyncDictSQLite


async def main() -> None:
    db = AsyncDictSQLite("app.db")
    await db.flush()  # E: misc, func-returns-value
    keys = await db.keys()  # E: misc
    print(keys)
