"""Reference and memory leaks: refcounts of the objects we touch come back
to where they were, and repeating operations does not grow Python's heap."""
import gc
import sys
import tracemalloc

import pytest

from dictsqlite import DictSQLiteV4

MODES = ["memory", "lazy", "writethrough"]


@pytest.mark.parametrize("mode", MODES)
def test_refcounts_of_keys_and_values_are_unchanged(db_path, mode):
    key = "refcount-key-" + "x" * 20
    value = ("an", "immutable", "tuple")
    mutable = {"a": [1, 2]}
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        db[key] = value
        db["m"] = mutable
        db[key]
        before_key, before_value, before_mut = (sys.getrefcount(key), sys.getrefcount(value),
                                                sys.getrefcount(mutable))
        for _ in range(1000):
            db[key] = value
            db[key]
            db.get(key)
            key in db
            db["m"] = mutable
            db.get("missing", value)
        assert sys.getrefcount(key) == before_key
        assert sys.getrefcount(value) == before_value
        assert sys.getrefcount(mutable) == before_mut


def _heap_growth(fn, rounds=6):
    """Bytes of Python heap left behind per round, after a warm-up round."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            fn()
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - base) / rounds
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("storage", ["pickle", "json", "jsonb", "bytes"])
def test_repeated_operations_do_not_grow_the_heap(db_path, mode, storage):
    value = b"v" * 40 if storage == "bytes" else {"name": "Alice", "tags": ["a", "b"], "n": 10**20}
    db = DictSQLiteV4(db_path, persist_mode=mode, storage_mode=storage)
    try:
        def work():
            for i in range(300):
                k = f"k{i % 50}"
                db[k] = value
                db[k]
                db.get("nope")
                try:
                    db["nope"]
                except KeyError:
                    pass
                k in db
            db.update({f"u{i}": value for i in range(50)})
            db.items()
            db.pop("u0", None)
            db.flush()
            repr(db)
            db.stats()
        growth = _heap_growth(work)
        assert growth < 2048, f"{growth:.0f} bytes per round"
    finally:
        db.close()


def test_open_close_cycles_do_not_leak(tmp_path):
    path = str(tmp_path / "cycle.db")

    def work():
        for mode in MODES:
            db = DictSQLiteV4(path, persist_mode=mode)
            db["a"] = (1, 2)
            db["a"]
            db.close()
        db = DictSQLiteV4(path)
        db["b"] = 1
        del db  # dealloc without close()

    growth = _heap_growth(work, rounds=10)
    assert growth < 2048, f"{growth:.0f} bytes per round"


def test_failed_operations_do_not_leak(db_path):
    db = DictSQLiteV4(db_path, storage_mode="bytes")
    try:
        def work():
            for _ in range(200):
                try:
                    db["k"] = "str is rejected"
                except TypeError:
                    pass
                try:
                    db.update([("a", b"ok"), ("b", 5)])
                except TypeError:
                    pass
                try:
                    del db["missing"]
                except KeyError:
                    pass
        growth = _heap_growth(work)
        assert growth < 1024, f"{growth:.0f} bytes per round"
        assert "a" not in db
    finally:
        db.close()
