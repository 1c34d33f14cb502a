"""The async API: mypy --strict must accept it; scripts/typecheck.sh runs it
too. The a-methods return coroutines, so asyncio.create_task takes them."""
import asyncio
import os
import tempfile
from collections.abc import Coroutine
from typing import Any, assert_type

from dictsqlite import AsyncDictSQLite, AsyncTableProxy, Modes


async def main(workdir: str) -> None:
    async with AsyncDictSQLite(os.path.join(workdir, "async.db"), persist_mode=Modes.WRITETHROUGH,
                               pool_size=2, hot_capacity=1000) as db:
        assert_type(db, AsyncDictSQLite)
        await assert_type(db.aset("k", 1), Coroutine[Any, Any, None])
        assert_type(await db.aget("k"), Any)
        assert_type(await db.acontains("k"), bool)
        await db.abatch_set({"a": 1, "b": 2})
        await db.abatch_set([("c", 3)])
        assert_type(await db.abatch_get(["a", "zz"]), list[Any])
        assert_type(db.batch_get(["a"]), list[Any])
        task = asyncio.create_task(db.aget("a"))
        assert await task == 1
        got = await asyncio.gather(db.aget("a"), db.aget("b"))
        assert list(got) == [1, 2]
        await db.adelete("c")
        db["sync"] = True
        assert db.get_async("sync") is True
        db.set_async("s2", 1)
        await db.aflush()
        table = db.table("t")
        assert_type(table, AsyncTableProxy)
        assert_type(table.parent, AsyncDictSQLite)
        await table.aset("x", 1)
        assert table["x"] == 1
        assert_type(db.stats(), dict[str, Any])
    with AsyncDictSQLite(os.path.join(workdir, "async2.db"), 10, "lazy", "json") as db2:
        db2["j"] = {"a": 1}
    db3 = AsyncDictSQLite(os.path.join(workdir, "async3.db"))
    await db3.aclose()
    assert db3.closed


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
    print("ok_async: ok")
