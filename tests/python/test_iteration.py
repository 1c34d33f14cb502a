"""Iteration is lazy, ordered by key, and refuses a changing table."""
import pytest

from dictsqlite import DatabaseClosedError, DictSQLiteV4


def test_iteration_order_is_utf8_key_order(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    keys = ["b", "a", "B", "é", "aa", "", "日", "🎉", "a\x00"]
    for k in keys:
        db[k] = 1
    expected = sorted(keys, key=lambda s: s.encode())
    assert list(db) == expected
    assert db.keys() == expected
    assert [k for k, _ in db.items()] == expected


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_iterating_a_large_database_reads_pages_not_a_full_list(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        db.update({f"k{i:06d}": i for i in range(5000)})
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        it = iter(db)
        first = [next(it) for _ in range(3)]
        assert first == ["k000000", "k000001", "k000002"]
        # Only pages were read: the hot tier holds none of the 5000 keys yet
        assert db.stats()["hot_tier_size"] == 0
        assert sum(1 for _ in it) == 4997


def test_changing_size_during_iteration_raises_runtimeerror(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.update({f"k{i}": i for i in range(10)})
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for k in db:
            db[k + "-new"] = 1
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for k in db:
            del db[k]


def test_overwriting_values_during_iteration_is_allowed(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.update({f"k{i}": i for i in range(600)})
    for k in db:
        db[k] = db[k] * 2
    assert db["k599"] == 1198


def test_iterating_a_closed_database_raises(open_db):
    db = open_db(persist_mode="lazy")
    db.update({f"k{i}": i for i in range(10)})
    it = iter(db)
    next(it)
    db.close()
    with pytest.raises(DatabaseClosedError):
        next(it)


def test_iterator_survives_its_database_being_dropped(tmp_path):
    db = DictSQLiteV4(str(tmp_path / "x.db"), persist_mode="memory")
    db.update({"a": 1, "b": 2})
    it = iter(db)
    del db
    assert list(it) == ["a", "b"]
