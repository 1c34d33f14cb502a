"""progress callbacks of batch_set and bulk_insert (issue 13, part 6):
progress(done, total) after each encoded chunk and last (total, total);
an exception it raises aborts the call and nothing is stored."""
import inspect

import pytest

import dictsqlite
from conftest import PERSIST_MODES

METHODS = ["batch_set", "bulk_insert"]


def stored(path, table="main"):
    if path is None:
        return None
    with dictsqlite.DictSQLiteV4(path, table_name=table, read_only=True) as d:
        return dict(d.items())


def target(open_db, mode, where):
    db = open_db(persist_mode=mode)
    return db, (db if where == "db" else db.table("t"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", ["db", "table"])
def test_progress_is_called_per_chunk_and_last_with_the_total(open_db, method, where):
    db, m = target(open_db, "lazy", where)
    calls = []
    getattr(m, method)({f"k{i}": i for i in range(2500)}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1024, 2500), (2048, 2500), (2500, 2500)]
    assert len(m) == 2500 and m["k2499"] == 2499


def test_total_is_known_for_an_iterator_too(open_db):
    db = open_db(persist_mode="lazy")
    calls = []
    db.batch_set(((f"k{i}", i) for i in range(10)), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 10)]


def test_an_empty_batch_reports_once(open_db):
    db = open_db()
    calls = []
    db.batch_set({}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 0)]


def test_large_values_report_every_4_mib(open_db):
    db = open_db(persist_mode="lazy", storage_mode="bytes")
    calls = []
    db.batch_set([(f"k{i}", bytes(1 << 20)) for i in range(10)],
                 progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]


@pytest.mark.parametrize("mode", PERSIST_MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", ["db", "table"])
@pytest.mark.parametrize("fail_at", [1024, 2500])  # a middle chunk, the last call
def test_an_exception_from_progress_aborts_and_stores_nothing(open_db, db_path, mode, method,
                                                              where, fail_at):
    db, m = target(open_db, mode, where)
    m["before"] = 1

    class Stop(Exception):
        pass

    def progress(done, total):
        if done == fail_at:
            raise Stop(done)

    with pytest.raises(Stop):
        getattr(m, method)({f"k{i}": i for i in range(2500)}, progress=progress)
    assert dict(m.items()) == {"before": 1}
    db.flush()
    db.close()
    if mode != "memory":
        assert stored(db_path, "main" if where == "db" else "t") == {"before": 1}


def test_progress_may_close_the_database_then_nothing_is_stored(open_db, db_path):
    db = open_db(persist_mode="writethrough")
    with pytest.raises(dictsqlite.DatabaseClosedError):
        db.batch_set({"a": 1}, progress=lambda d, t: db.close())
    assert stored(db_path) == {}


@pytest.mark.parametrize("bad", [1, "print", object()])
def test_progress_must_be_callable_or_none(open_db, bad):
    db = open_db()
    with pytest.raises(TypeError, match="progress must be None or a callable"):
        db.batch_set({"a": 1}, progress=bad)
    db.bulk_insert({"a": 1}, progress=None)
    assert dict(db.items()) == {"a": 1}


def test_other_keywords_are_refused(open_db):
    db = open_db()
    with pytest.raises(TypeError, match="unexpected keyword argument 'callback'"):
        db.batch_set({"a": 1}, callback=print)
    with pytest.raises(TypeError, match="unexpected keyword argument 'items'"):
        db.batch_set(items={"a": 1})
    with pytest.raises(TypeError, match="expected 1 argument"):
        db.batch_set()
    assert len(db) == 0


def test_update_keeps_dict_semantics_so_progress_is_an_item(open_db):
    db = open_db()
    db.update({"a": 1}, progress=5)
    assert dict(db.items()) == {"a": 1, "progress": 5}
    db.update(progress=print)  # a callable is an item too, never called
    assert db["progress"] is print


def test_the_async_class_shares_the_sync_members(tmp_path):
    db = dictsqlite.AsyncDictSQLite(str(tmp_path / "a.db"))
    try:
        calls = []
        db.batch_set({"a": 1, "b": 2}, progress=lambda d, t: calls.append((d, t)))
        assert calls == [(2, 2)] and db["b"] == 2
    finally:
        db.close()


@pytest.mark.parametrize("method", METHODS)
def test_signature_is_introspectable(method):
    sig = inspect.signature(getattr(dictsqlite.DictSQLiteV4, method))
    assert str(sig) == "(self, items, /, *, progress=None)"
    assert "progress(done, total)" in getattr(dictsqlite.DictSQLiteV4, method).__doc__


def test_progress_leaks_no_references(open_db):
    import sys

    db = open_db(persist_mode="lazy")
    value = ("an", "immutable", "tuple")
    calls = []

    def progress(done, total):
        calls.append(done)

    def failing(done, total):
        raise KeyError(done)

    items = [(f"k{i}", value) for i in range(1500)]
    db.batch_set(items, progress=progress)
    before = sys.getrefcount(progress), sys.getrefcount(failing), sys.getrefcount(value)
    for _ in range(50):
        db.batch_set(items, progress=progress)
        with pytest.raises(KeyError):
            db.bulk_insert(items, progress=failing)
    calls.clear()
    assert (sys.getrefcount(progress), sys.getrefcount(failing), sys.getrefcount(value)) == before
