"""DictSQLiteV4 behaves like a dict, in every persist mode."""
import collections.abc
import pickle

import pytest

import dictsqlite
from dictsqlite import DictSQLiteV4


def test_set_get_len_contains(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["user:alice"] = {"name": "Alice", "age": 30}
    assert db["user:alice"] == {"name": "Alice", "age": 30}
    assert len(db) == 1
    assert "user:alice" in db
    assert "user:bob" not in db


def test_missing_key_raises_keyerror_with_the_key(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    with pytest.raises(KeyError) as info:
        db["nope"]
    assert info.value.args == ("nope",)
    with pytest.raises(KeyError) as info:
        del db["nope"]
    assert info.value.args == ("nope",)


def test_overwrite_keeps_len_and_returns_new_value(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["k"] = 1
    db["k"] = 2
    assert db["k"] == 2
    assert len(db) == 1


def test_delete_removes_and_updates_len(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["a"] = 1
    db["b"] = 2
    del db["a"]
    assert "a" not in db
    assert len(db) == 1
    assert db.keys() == ["b"]


def test_get_with_and_without_default(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["a"] = 0
    assert db.get("a") == 0
    assert db.get("missing") is None
    assert db.get("missing", "dflt") == "dflt"


def test_keys_values_items_are_lists_in_key_order(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    for k in ["b", "a", "c"]:
        db[k] = k.upper()
    assert db.keys() == ["a", "b", "c"]
    assert db.values() == ["A", "B", "C"]
    assert db.items() == [("a", "A"), ("b", "B"), ("c", "C")]
    assert list(db) == ["a", "b", "c"]


def test_update_accepts_dict_pairs_and_keywords(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.update({"a": 1})
    db.update([("b", 2), ("c", 3)])
    db.update(d=4)
    db.update({"e": 5}, f=6)
    db.update(collections.OrderedDict(g=7))
    assert dict(db.items()) == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}


def test_update_rejects_non_pairs_and_stores_nothing(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    with pytest.raises(ValueError, match="pair"):
        db.update([("a", 1), ("b",)])
    assert len(db) == 0


def test_bulk_insert_stores_everything(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.bulk_insert({f"k{i}": i for i in range(1000)})
    assert len(db) == 1000
    assert db["k999"] == 999
    db.bulk_insert([("x", 1), ("y", 2)])
    assert db["y"] == 2


def test_pop_and_setdefault_follow_dict(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["a"] = 1
    assert db.pop("a") == 1
    assert "a" not in db
    assert db.pop("a", "dflt") == "dflt"
    with pytest.raises(KeyError):
        db.pop("a")
    assert db.setdefault("s", [1]) == [1]
    assert db.setdefault("s", [2]) == [1]
    assert db.setdefault("n") is None
    assert db["n"] is None


def test_clear_empties_the_table(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.update({f"k{i}": i for i in range(100)})
    db.clear()
    assert len(db) == 0
    assert db.keys() == []
    db["again"] = 1
    assert db.items() == [("again", 1)]


def test_method_aliases_set_delete_contains(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.set("a", 1)
    assert db.contains("a") is True
    db.delete("a")
    assert db.contains("a") is False
    with pytest.raises(KeyError):
        db.delete("a")


def test_batch_get_returns_found_keys_decoded(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.batch_set({"a": {"x": 1}, "b": [2]})
    assert db.batch_get(["a", "b", "missing"]) == {"a": {"x": 1}, "b": [2]}


def test_equality_with_dicts_and_other_instances(open_db, persist_mode, tmp_path):
    db = open_db(persist_mode=persist_mode)
    db.update({"a": 1, "b": [2]})
    assert db == {"a": 1, "b": [2]}
    assert db != {"a": 1}
    assert not (db == [("a", 1), ("b", [2])])
    assert db != 42
    other = open_db(str(tmp_path / "other.db"), persist_mode="memory")
    other.update({"b": [2], "a": 1})
    assert db == other


def test_repr_shows_path_table_and_bounded_preview(open_db, persist_mode, db_path):
    db = open_db(persist_mode=persist_mode)
    db.update({f"k{i:03d}": i for i in range(50)})
    text = repr(db)
    assert text.startswith("DictSQLiteV4(")
    assert repr(db_path) in text
    assert "table_name='main'" in text
    assert "'k000': 0" in text
    assert "(40 more)" in text
    assert "k049" not in text


def test_mutating_a_returned_value_does_not_change_the_stored_one(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["d"] = {"list": [1, 2]}
    got = db["d"]
    got["list"].append(3)
    assert db["d"] == {"list": [1, 2]}


def test_immutable_values_read_back_equal_many_times(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    values = {"s": "text", "b": b"bytes", "i": 10**30, "f": 1.5, "t": (1, "a", None),
              "n": None, "bool": True}
    db.update(values)
    for _ in range(3):
        for k, v in values.items():
            assert db[k] == v
            assert type(db[k]) is type(v)


def test_context_manager_closes_even_when_the_block_raises(db_path, persist_mode):
    with pytest.raises(RuntimeError):
        with DictSQLiteV4(db_path, persist_mode=persist_mode) as db:
            db["a"] = 1
            raise RuntimeError("boom")
    assert db.closed
    if persist_mode != "memory":
        with DictSQLiteV4(db_path, persist_mode=persist_mode) as db2:
            assert db2["a"] == 1


def test_registered_as_mutable_mapping():
    assert issubclass(DictSQLiteV4, collections.abc.MutableMapping)


def test_stats_reports_the_documented_keys(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode, hot_capacity=1000)
    db["a"] = 1
    db["b"] = 2
    db["a"] = 3
    s = db.stats()
    for key in ["hot_tier_size", "hot_tier_capacity", "num_shards", "encryption_enabled",
                "safe_pickle_enabled", "persist_mode", "hot_hits", "hot_misses",
                "warm_hits", "warm_misses", "dirty_entries", "file_size_bytes"]:
        assert key in s
    assert s["hot_tier_size"] == 2
    assert s["hot_tier_capacity"] == 1000
    assert s["persist_mode"] == {"memory": "Memory", "lazy": "Lazy",
                                 "writethrough": "WriteThrough"}[persist_mode]
    del db["b"]
    assert db.stats()["hot_tier_size"] == 1


def test_pre_pickled_bytes_read_back_unpickled_in_pickle_mode(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["p"] = pickle.dumps({"x": 1})
    assert db["p"] == {"x": 1}
    db["raw"] = b"\x80\x00 not a pickle"
    assert db["raw"] == b"\x80\x00 not a pickle"
    db["shaped"] = b"\x80\x04garbage."
    assert db["shaped"] == b"\x80\x04garbage."


def test_module_surface():
    assert dictsqlite.DictSQLite is DictSQLiteV4
    assert dictsqlite.is_native_available() is True
    assert isinstance(dictsqlite.__version__, str)
    assert DictSQLiteV4.__module__ == "dictsqlite"
    assert dictsqlite.TableProxy.__module__ == "dictsqlite"
    assert dictsqlite.CorruptValueError.__module__ == "dictsqlite"
    assert dictsqlite.DatabaseClosedError.__module__ == "dictsqlite"
    assert dictsqlite.Modes.WRITETHROUGH == "writethrough"
    assert dictsqlite.Modes.JSONB == "jsonb"
    assert dictsqlite.Modes.TABLE_SEPARATE == "separate"
