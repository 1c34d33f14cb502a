"""stats() reports honest numbers."""
import pytest

from dictsqlite import DictSQLiteV4


def test_hot_tier_size_follows_inserts_overwrites_deletes_and_pops(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    size = lambda: db.stats()["hot_tier_size"]
    assert size() == 0
    db["a"] = 1
    db["b"] = 2
    assert size() == 2          # rises on insert
    db["a"] = 3
    assert size() == 2          # unchanged on overwrite
    del db["a"]
    assert size() == 1          # falls on delete
    db.pop("b")
    assert size() == 0          # and on pop


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
@pytest.mark.parametrize("capacity", [1, 7, 64, 1000])
def test_hot_tier_never_exceeds_hot_capacity(db_path, mode, capacity):
    with DictSQLiteV4(db_path, persist_mode=mode, hot_capacity=capacity) as db:
        for i in range(3 * capacity + 50):
            db[f"k{i}"] = i
            if i % 7 == 0:
                db[f"k{i // 2}"]     # reads promote into the hot tier too
            assert db.stats()["hot_tier_size"] <= capacity
        s = db.stats()
        assert s["hot_tier_capacity"] == capacity
        assert s["hot_evictions"] > 0


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_exactly_hot_capacity_keys_fit_however_they_hash(db_path, mode):
    """The bound is on the whole hot tier, not on each shard: hot_capacity keys
    fit without an eviction even though they never split evenly over the
    shards, and one more key evicts exactly one."""
    with DictSQLiteV4(db_path, persist_mode=mode, hot_capacity=1000) as db:
        for i in range(1000):
            db[f"k{i}"] = i
        s = db.stats()
        assert (s["hot_tier_size"], s["hot_evictions"]) == (1000, 0)
        db["one more"] = 1
        s = db.stats()
        assert (s["hot_tier_size"], s["hot_evictions"]) == (1000, 1)
        assert len(db) == 1001 and db["k0"] == 0 and db["one more"] == 1


def test_hit_and_miss_counters_count(open_db):
    db = open_db(persist_mode="lazy", hot_capacity=10)
    db.update({f"k{i}": i for i in range(100)})
    db.flush()
    before = db.stats()
    db["k99"]                    # recent: a hot hit
    db["k0"]                     # evicted long ago: a hot miss, then warm
    after = db.stats()
    assert after["hot_hits"] == before["hot_hits"] + 1
    assert after["hot_misses"] >= before["hot_misses"] + 1
    assert after["warm_hits"] + after["cold_reads"] > before["warm_hits"] + before["cold_reads"]


def test_dirty_entries_and_file_size(open_db, db_path):
    db = open_db(persist_mode="lazy", enable_async=False)
    db.update({f"k{i}": "x" * 100 for i in range(1000)})
    assert db.stats()["dirty_entries"] == 1000
    db.flush()
    s = db.stats()
    assert s["dirty_entries"] == 0
    import os

    assert s["file_size_bytes"] > 100_000
    assert s["file_size_bytes"] <= os.path.getsize(db_path) + os.path.getsize(db_path + "-wal")
    mem = open_db(path=":memory:", persist_mode="memory")
    assert mem.stats()["file_size_bytes"] is None
