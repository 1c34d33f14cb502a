"""AsyncDictSQLite and AsyncTableProxy: every member in every persist and
storage mode, on real files, driven by real event loops."""
import asyncio
import os
import pickle
import sqlite3
import threading

import pytest

import dictsqlite
from dictsqlite import AsyncDictSQLite, AsyncTableProxy, DatabaseClosedError, DictSQLiteV4

PERSIST = ["memory", "lazy", "writethrough"]
STORAGE = ["pickle", "json", "jsonb", "bytes"]

VALUES = {
    "pickle": [{"a": [1, 2]}, (1, "x"), b"raw bytes", 3.5, {1, 2}],
    "json": [{"a": [1, 2]}, "text", 42, None, [1.5, True]],
    "jsonb": [{"a": [1, 2]}, "text", 42, None, [1.5, True]],
    "bytes": [b"one", b"\x00\x80two", b"", b"x" * 3000, b"\xff"],
}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def adb(db_path):
    opened = []

    def _open(path=None, *args, **kw):
        db = AsyncDictSQLite(path or db_path, *args, **kw)
        opened.append(db)
        return db

    yield _open
    for db in opened:
        if not db.closed:
            db.close()


def ready_value(awaitable):
    """The value of an awaitable that finishes at its first step."""
    it = awaitable.__await__()
    with pytest.raises(StopIteration) as stop:
        next(it)
    return stop.value.value


@pytest.mark.parametrize("persist", PERSIST)
@pytest.mark.parametrize("storage", STORAGE)
def test_every_member_in_every_mode(adb, db_path, persist, storage):
    values = VALUES[storage]

    async def main():
        db = adb(persist_mode=persist, storage_mode=storage)
        for i, v in enumerate(values):
            assert await db.aset(f"k{i}", v) is None
        for i, v in enumerate(values):
            assert await db.aget(f"k{i}") == v
            assert await db.acontains(f"k{i}") is True
        assert await db.acontains("missing") is False
        with pytest.raises(KeyError):
            await db.aget("missing")
        await db.abatch_set({f"b{i}": v for i, v in enumerate(values)})
        await db.abatch_set([("p0", values[0]), ("p1", values[1])])
        got = await db.abatch_get(["b0", "nope", "p1"])
        assert got == [values[0], None, values[1]]
        await db.adelete("k0")
        assert not await db.acontains("k0")
        with pytest.raises(KeyError):
            await db.adelete("k0")
        await db.aflush()
        # sync members
        db.set("s", values[1])
        assert db.get("s") == values[1]
        db.set_async("s2", values[2])
        assert db.get_async("s2") == values[2]
        assert db.get("nope") is None
        db["s3"] = values[3]
        assert db["s3"] == values[3] and "s3" in db
        del db["s3"]
        assert db.batch_get(["s", "nope"]) == [values[1], None]
        db.batch_set([("s4", values[4])])
        assert db["s4"] == values[4]
        assert len(db) == len(db.keys())
        st = db.stats()
        assert st["size"] == len(db) and st["capacity"] == 1_000_000
        # tables
        t = db.table("users")
        assert isinstance(t, AsyncTableProxy)
        await t.aset("alice", values[0])
        assert await t.aget("alice") == values[0]
        assert await t.abatch_get(["alice", "bob"]) == [values[0], None]
        assert t["alice"] == values[0] and "alice" not in db
        assert "users" in db.tables()
        await t.adelete("alice")
        db.flush()
        await db.aclose()
        assert db.closed

    run(main())
    if persist != "memory":
        with AsyncDictSQLite(db_path, persist_mode=persist, storage_mode=storage) as db:
            assert db["k1"] == values[1] and db["b0"] == values[0] and "k0" not in db


def test_defaults_are_the_rust_packages(adb):
    db = adb()
    st = db.stats()
    assert st["persist_mode"] == "Lazy" and st["storage_mode"] == "pickle"
    assert st["capacity"] == 1_000_000 and st["pool_size"] == 4


def test_bytes_are_pickled_in_pickle_mode(adb, db_path):
    """As in the Rust package's async class: no pre-pickled shortcut."""
    data = pickle.dumps([1, 2, 3])

    async def main():
        db = adb(persist_mode="writethrough")
        await db.aset("b", data)
        assert await db.aget("b") == data
        assert pickle.loads(await db.aget("b")) == [1, 2, 3]

    run(main())
    con = sqlite3.connect(db_path)
    (stored,) = con.execute("SELECT value FROM kv WHERE key='b'").fetchone()
    con.close()
    assert pickle.loads(stored) == data  # the bytes object itself was pickled


def test_constructor_options(adb, tmp_path):
    db = adb(str(tmp_path / "a.db"), 10, "writethrough", "json", "t", 100, "prefix",
             pool_size=2, timeout=1.5, synchronous="full")
    assert db.stats()["capacity"] == 10 and db.table_name == "t"
    assert adb(str(tmp_path / "b.db"), hot_capacity=7).stats()["capacity"] == 7
    with pytest.raises(TypeError, match="capacity.*hot_capacity"):
        AsyncDictSQLite(str(tmp_path / "c.db"), capacity=1, hot_capacity=2)
    with pytest.raises(ValueError, match="pool_size"):
        AsyncDictSQLite(str(tmp_path / "c.db"), pool_size=0)
    with pytest.raises(TypeError, match="AsyncDictSQLite.*unexpected keyword"):
        AsyncDictSQLite(str(tmp_path / "c.db"), enable_asink=True)
    with pytest.raises(ValueError, match="persist_mode"):
        AsyncDictSQLite(str(tmp_path / "c.db"), persist_mode="eventually")
    assert not (tmp_path / "c.db").exists()


def test_encryption_and_safe_pickle(adb, db_path):
    async def main():
        db = adb(persist_mode="writethrough", encryption_password="pw",
                 enable_safe_pickle=True)
        await db.aset("k", {"x": 1})
        with pytest.raises(ValueError, match="forbidden"):
            await db.aset("bad", os.system)
        await db.aclose()
        db2 = adb(encryption_password="pw")
        assert await db2.aget("k") == {"x": 1}
        assert db2.stats()["encryption_enabled"]

    run(main())
    con = sqlite3.connect(db_path)
    (stored,) = con.execute("SELECT value FROM kv WHERE key='k'").fetchone()
    con.close()
    with pytest.raises(Exception):  # ciphertext, not a pickle
        pickle.loads(stored)
    with DictSQLiteV4(db_path) as nopw, pytest.raises(ValueError, match="password"):
        nopw["k"]


def test_hot_hits_and_memory_writes_finish_at_the_first_step(adb, db_path):
    db = adb(persist_mode="lazy")
    assert ready_value(db.aset("k", "v")) is None  # no loop needed at all
    assert ready_value(db.aget("k")) == "v"
    assert ready_value(db.acontains("k")) is True
    assert ready_value(db.abatch_get(["k"])) == ["v"]
    tup = (1, 2)
    db["t"] = tup
    assert ready_value(db.aget("t")) == tup  # a tuple value is not taken as args


def test_cold_reads_go_to_the_pool_and_come_back(adb, db_path):
    with DictSQLiteV4(db_path) as db:
        db.update({f"k{i}": i for i in range(500)})

    async def main():
        db = adb(persist_mode="writethrough")
        first = db.aget("k1")
        assert not first.done()  # a miss: waits on the pool
        assert await first == 1
        got = await asyncio.gather(*(db.aget(f"k{i}") for i in range(500)))
        assert got == list(range(500))
        assert await db.abatch_get([f"k{i}" for i in range(0, 500, 7)]) == list(range(0, 500, 7))
        assert db.stats()["cold_reads"] >= 1

    run(main())


def test_abatch_get_puts_hot_and_pool_answers_in_their_places(adb, db_path):
    with DictSQLiteV4(db_path) as db:
        db.update({f"k{i}": i for i in range(200)})

    async def main():
        db = adb(persist_mode="writethrough")
        for i in range(0, 200, 2):  # the even keys become hot
            assert await db.aget(f"k{i}") == i
        before = db.stats()["cold_reads"]
        keys = [f"k{i}" for i in range(200)] + ["nope"]
        assert await db.abatch_get(keys) == list(range(200)) + [None]
        # the hot tier answered the even keys in the call, the pool the rest:
        # one SQLite read for each odd key and the missing one
        assert db.stats()["cold_reads"] - before == 101
        assert await db.abatch_get(keys[:200]) == list(range(200))  # all hot now
        assert db.stats()["cold_reads"] - before == 101

    run(main())


def test_read_your_writes_across_sync_and_async(adb):
    async def main():
        db = adb(persist_mode="writethrough")
        await db.aset("a", 1)
        assert db["a"] == 1
        db["b"] = 2
        assert await db.aget("b") == 2
        await db.adelete("a")
        assert "a" not in db
        del db["b"]
        assert not await db.acontains("b")

    run(main())


def test_errors_surface_at_await_with_clear_messages(adb):
    async def main():
        db = adb(persist_mode="writethrough", storage_mode="json")
        op = db.aset("k", {1, 2})  # a set is not JSON
        with pytest.raises(TypeError, match="json"):
            await op
        assert "k" not in db
        with pytest.raises(TypeError, match="abatch_set expects"):
            await db.abatch_set(42)
        with pytest.raises(ValueError, match="item #1 must be a .key, value. pair"):
            await db.abatch_set([("a", 1), ("b",)])
        assert "a" not in db
        with pytest.raises(TypeError, match="2 arguments"):
            db.aset("only-key")
        await db.aclose()
        for call in (lambda: db.aget("k"), lambda: db.aset("k", 1), db.aflush,
                     lambda: db.abatch_get(["k"])):
            with pytest.raises(DatabaseClosedError):
                await call()
        await db.aclose()  # idempotent

    run(main())


def test_aclose_drains_what_is_pending(adb, db_path):
    async def main():
        db = adb(persist_mode="writethrough")
        pending = [asyncio.ensure_future(db.aset(f"k{i}", i)) for i in range(200)]
        await db.aclose()
        await asyncio.gather(*pending)

    run(main())
    with DictSQLiteV4(db_path) as db:
        assert len(db) == 200


def test_ten_thousand_gathered_calls(adb):
    async def main():
        db = adb(persist_mode="writethrough")
        await asyncio.gather(*(db.aset(f"k{i}", i) for i in range(10_000)))
        got = await asyncio.gather(*(db.aget(f"k{i}") for i in range(10_000)))
        assert got == list(range(10_000))
        st = db.stats()
        assert st["async_grouped_writes"] == 10_000
        assert st["async_commit_groups"] < 10_000 / 4  # group commit at work

    run(main())


def test_several_loops_in_several_threads(adb):
    db = adb(persist_mode="writethrough")
    errors = []

    def worker(t):
        async def main():
            for i in range(200):
                await db.aset(f"t{t}:{i}", i)
            got = await asyncio.gather(*(db.aget(f"t{t}:{i}") for i in range(200)))
            assert got == list(range(200))

        try:
            asyncio.run(main())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors and len(db) == 800


def test_a_loop_without_add_reader_is_served_through_call_soon_threadsafe(adb):
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *a, **k):
            raise NotImplementedError

    db = adb(persist_mode="writethrough")
    loop = NoReaderLoop()
    try:
        async def main():
            await asyncio.gather(*(db.aset(f"k{i}", i) for i in range(100)))
            return await db.aget("k5")

        assert loop.run_until_complete(main()) == 5
    finally:
        loop.close()


def test_uvloop(adb):
    if os.environ.get("DICTSQLITE_REQUIRE_UVLOOP") == "1":
        import uvloop
    else:
        uvloop = pytest.importorskip("uvloop")
    db = adb(persist_mode="writethrough")

    async def main():
        await asyncio.gather(*(db.aset(f"k{i}", i) for i in range(500)))
        db2 = AsyncDictSQLite(db.path)  # cold: through the pool
        got = await asyncio.gather(*(db2.aget(f"k{i}") for i in range(500)))
        await db2.aclose()
        return got

    assert uvloop.run(main()) == list(range(500))


def test_commits_per_row_fall_as_writers_grow(tmp_path):
    """Group commit: under 1, 4 and 64 concurrent writers (the figures the
    README quotes come from benchmarks/; this checks the direction)."""
    ratios = {}
    for writers in (1, 4, 64):
        db = AsyncDictSQLite(str(tmp_path / f"w{writers}.db"), persist_mode="writethrough")

        async def writer(w):
            for i in range(640 // writers):
                await db.aset(f"w{w}:{i}", i)

        async def main():
            await asyncio.gather(*(writer(w) for w in range(writers)))

        run(main())
        st = db.stats()
        ratios[writers] = st["async_commit_groups"] / st["async_grouped_writes"]
        db.close()
    assert ratios[1] == 1.0
    assert ratios[64] < 0.5 and ratios[64] < ratios[4] <= 1.0


def test_sync_writers_in_threads_join_the_async_groups(tmp_path):
    """The async class's sync writes (set, del, update) in writethrough queue
    on the pool's writer like aset: threads writing at once share commits, and
    each call returns only after its own commit (another connection sees it)."""
    path = str(tmp_path / "sync_join.db")
    db = AsyncDictSQLite(path, persist_mode="writethrough")
    seen_late = []

    def writer(t):
        probe = sqlite3.connect(path)
        for i in range(150):
            db[f"t{t}:{i}"] = i
            if i % 50 == 0:  # committed when the call returned
                n = probe.execute("SELECT count(*) FROM kv WHERE key = ?",
                                  (f"t{t}:{i}",)).fetchone()[0]
                if n != 1:
                    seen_late.append((t, i))
        db.update({f"u{t}:{i}": i for i in range(10)})
        del db[f"t{t}:0"]
        probe.close()

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    st = db.stats()
    assert not seen_late
    assert st["async_grouped_writes"] == 8 * (150 + 1 + 1)
    assert st["async_commit_groups"] < st["async_grouped_writes"]  # shared commits
    with pytest.raises(KeyError):
        del db["t0:0"]
    db.close()
    with DictSQLiteV4(path) as check:
        assert len(check) == 8 * (149 + 10)


def test_async_class_is_a_mapping_and_compares(adb):
    from collections.abc import MutableMapping

    db = adb(persist_mode="memory")
    db["a"] = 1
    assert isinstance(db, MutableMapping) and db == {"a": 1}
    assert not isinstance(db, DictSQLiteV4)
    assert "AsyncDictSQLite(" in repr(db) and "AsyncTableProxy(" in repr(db.table("x"))
    assert dictsqlite.AsyncDictSQLite is AsyncDictSQLite
