"""Batches: one transaction, all or nothing."""
import sqlite3

import pytest

from dictsqlite import DictSQLiteV4


class Unpicklable:
    def __reduce__(self):
        raise TypeError("refuses to be pickled")


@pytest.mark.parametrize("method", ["update", "bulk_insert", "batch_set"])
def test_writethrough_batch_with_a_bad_value_commits_nothing(db_path, method):
    with DictSQLiteV4(db_path) as db:
        db["existing"] = "old"
        items = [("a", 1), ("existing", "new"), ("bad", Unpicklable()), ("z", 3)]
        with pytest.raises(TypeError, match="refuses"):
            getattr(db, method)(items)
        assert db["existing"] == "old"
        assert len(db) == 1
        assert "a" not in db and "z" not in db
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 1
    con.close()


def test_writethrough_batch_is_one_transaction(db_path):
    with DictSQLiteV4(db_path) as db:
        before = db.stats()["flushes"]
        db.update({f"k{i}": i for i in range(1000)})
        assert db.stats()["flushes"] == before + 1
        assert db.stats()["dirty_entries"] == 0
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 1000
    con.close()


def test_batch_get_omits_missing_and_decodes(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode, storage_mode="json")
    db.batch_set([("a", {"x": [1]}), ("b", "text")])
    assert db.batch_get(["b", "a", "c"]) == {"a": {"x": [1]}, "b": "text"}
    assert db.batch_get([]) == {}


def test_update_accepts_any_mapping_with_keys(open_db):
    class Mapping:
        def keys(self):
            return ["a", "b"]

        def __getitem__(self, k):
            return k.upper()

    db = open_db()
    db.update(Mapping())
    assert db.items() == [("a", "A"), ("b", "B")]
