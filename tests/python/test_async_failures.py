"""The async API on a bad day: cancellation, timeouts, failed commits, a
loop that goes away, kill -9. Real files, real locks held by another
connection, real subprocesses."""
import asyncio
import gc
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import dictsqlite
from dictsqlite import AsyncDictSQLite, DatabaseLockedError, DictSQLiteV4

from conftest import integrity_ok, run_python


def hold_write_lock(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    return con


def test_a_request_cancelled_before_the_writer_took_it_is_not_applied(db_path):
    db = AsyncDictSQLite(db_path, persist_mode="writethrough", timeout=10)
    db["warm"] = 0  # the file exists and the schema is there

    async def main():
        lock = hold_write_lock(db_path)
        first = asyncio.ensure_future(db.aset("first", 1))  # taken, waits for the lock
        await asyncio.sleep(0.2)
        second = asyncio.ensure_future(db.aset("second", 2))  # queued behind it
        await asyncio.sleep(0.05)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        lock.rollback()
        lock.close()
        await first

    asyncio.run(main())
    assert "first" in db and "second" not in db
    db.close()
    with DictSQLiteV4(db_path) as again:
        assert "first" in again and "second" not in again


def test_wait_for_and_timeout_leave_the_instance_usable(db_path):
    db = AsyncDictSQLite(db_path, persist_mode="writethrough", timeout=10)
    db["warm"] = 0

    async def main():
        lock = hold_write_lock(db_path)
        blocked = asyncio.ensure_future(db.aset("blocked", 1))
        await asyncio.sleep(0.1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(db.aset("late", 1), 0.1)
        if hasattr(asyncio, "timeout"):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await db.aset("later", 1)
        lock.rollback()
        lock.close()
        await blocked
        await db.aset("after", 2)
        return await db.aget("after")

    assert asyncio.run(main()) == 2
    assert "late" not in db and "later" not in db and "blocked" in db
    db.close()


def test_a_failed_group_commit_changes_nothing_and_raises_a_named_error(db_path):
    db = AsyncDictSQLite(db_path, persist_mode="writethrough", timeout=0.05)
    db["warm"] = 0

    async def main():
        lock = hold_write_lock(db_path)
        results = await asyncio.gather(*(db.aset(f"k{i}", i) for i in range(20)),
                                       return_exceptions=True)
        assert all(isinstance(r, DatabaseLockedError) for r in results), results
        assert not any(f"k{i}" in db for i in range(20))
        lock.rollback()
        lock.close()
        await db.aset("ok", 1)  # still usable
        await db.aflush()

    asyncio.run(main())
    db.close()
    with DictSQLiteV4(db_path) as again:
        assert sorted(again.keys()) == ["ok", "warm"]


def test_cancellation_storm_loses_no_acknowledged_write_and_leaks_nothing(db_path):
    db = AsyncDictSQLite(db_path, persist_mode="writethrough")
    acknowledged = set()
    rnd = random.Random(7)

    async def writer(i):
        await db.aset(f"k{i}", i)
        acknowledged.add(f"k{i}")

    async def main():
        for wave in range(5):
            tasks = [asyncio.ensure_future(writer(wave * 1000 + i)) for i in range(1000)]
            for _ in range(rnd.randrange(1, 4)):
                await asyncio.sleep(0)
            for t in tasks:
                if rnd.random() < 0.5:
                    t.cancel()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        await db.aset("still", "usable")

    asyncio.run(main())
    assert db["still"] == "usable"
    present = set(db.keys())
    assert acknowledged <= present
    db.close()
    with DictSQLiteV4(db_path) as again:
        assert acknowledged <= set(again.keys())
    gc.collect()
    ops = [o for o in gc.get_objects() if type(o).__name__ == "_AsyncOp"]
    assert ops == []


def test_a_loop_closed_with_requests_pending_neither_crashes_nor_hangs(tmp_path):
    path = str(tmp_path / "x.db")
    DictSQLiteV4(path).close()
    proc = run_python(f"""
        import asyncio, sqlite3
        from dictsqlite import AsyncDictSQLite
        path = {path!r}
        db = AsyncDictSQLite(path, persist_mode="writethrough", timeout=0.5)
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        loop = asyncio.new_event_loop()
        async def start():
            for i in range(50):
                asyncio.ensure_future(db.aset(f"k{{i}}", i))
            await asyncio.sleep(0.05)
        loop.run_until_complete(start())
        loop.close()  # the writes are still waiting for the lock
        print("closed")
    """, timeout=60)
    assert "closed" in proc.stdout


def test_an_instance_left_open_is_flushed_at_exit(tmp_path):
    path = str(tmp_path / "exit.db")
    run_python(f"""
        import asyncio
        from dictsqlite import AsyncDictSQLite
        db = AsyncDictSQLite({path!r})  # lazy: nothing is committed yet
        async def main():
            await db.abatch_set({{f"k{{i}}": i for i in range(100)}})
            await db.aset("last", "one")
        asyncio.run(main())
    """)
    with DictSQLiteV4(path) as db:
        assert len(db) == 101 and db["last"] == "one"


WRITERS = """
import asyncio, sys
from dictsqlite import AsyncDictSQLite
db = AsyncDictSQLite(sys.argv[1], persist_mode="writethrough")
out = sys.stdout
async def writer(w):
    i = 0
    while True:
        key = f"w{w}:{i}"
        await db.aset(key, i)
        out.write(key + "\\n")  # printed only once the await returned
        out.flush()
        i += 1
async def main():
    await asyncio.gather(*(writer(w) for w in range(50)))
asyncio.run(main())
"""


@pytest.mark.parametrize("trial", range(int(os.environ.get("DICTSQLITE_ASYNC_KILL_TRIALS", "5"))))
def test_kill_9_with_50_concurrent_writers_loses_no_acknowledged_write(tmp_path, trial):
    path = str(tmp_path / "kill.db")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(dictsqlite.__file__))
    proc = subprocess.Popen([sys.executable, "-c", WRITERS, path], stdout=subprocess.PIPE,
                            env=env, text=True)
    acknowledged = []
    deadline = time.monotonic() + 0.3 + random.Random(trial).random() * 0.7
    while time.monotonic() < deadline or len(acknowledged) < 50:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    acknowledged += [line for line in rest.splitlines() if line]
    assert len(acknowledged) >= 50
    assert integrity_ok(path)
    with DictSQLiteV4(path, read_only=True) as db:
        missing = [k for k in acknowledged if k not in db]
    assert missing == []


def test_requests_pending_when_their_loop_closes_are_released_by_close(db_path):
    """asyncio.run() returns while writes wait on another process's lock: the
    writer took them, so they commit once the lock goes, and close() frees
    their awaitables (their closed loop never will)."""
    db = AsyncDictSQLite(db_path, persist_mode="writethrough", timeout=5)
    db["warm"] = 0
    lock = hold_write_lock(db_path)

    async def main():
        for i in range(20):
            asyncio.ensure_future(db.aset(f"k{i}", i))
        await asyncio.sleep(0.2)  # the writer has taken them and waits on the lock

    asyncio.run(main())  # cancels the tasks; the jobs were taken, so they run on
    lock.rollback()
    lock.close()
    db.close()
    gc.collect()
    assert [o for o in gc.get_objects() if type(o).__name__ == "_AsyncOp"] == []
    with DictSQLiteV4(db_path) as again:
        assert again["warm"] == 0 and len(again) >= 2  # what the writer took committed
