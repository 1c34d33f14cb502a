"""Tables (namespaces): db.table(name), table_name=, tables(), isolation."""
import collections.abc

import pytest

from dictsqlite import DatabaseClosedError, DictSQLiteV4, TableProxy


def test_table_proxy_has_the_full_dict_api(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    users = db.table("users")
    assert isinstance(users, TableProxy)
    assert isinstance(users, collections.abc.MutableMapping)
    users["alice"] = {"age": 30}
    users.update({"bob": 1}, carol=2)
    users.bulk_insert([("dave", 3)])
    users.batch_set({"erin": 4})
    assert users["alice"] == {"age": 30}
    assert len(users) == 5
    assert "bob" in users and users.contains("bob")
    assert users.get("nobody", "x") == "x"
    assert users.pop("dave") == 3
    assert users.pop("dave", None) is None
    assert users.setdefault("frank", 5) == 5
    del users["erin"]
    with pytest.raises(KeyError) as info:
        users["erin"]
    assert info.value.args == ("erin",)
    with pytest.raises(KeyError):
        del users["erin"]
    assert users.keys() == ["alice", "bob", "carol", "frank"]
    assert users.values() == [{"age": 30}, 1, 2, 5]
    assert users.items()[0] == ("alice", {"age": 30})
    assert list(users) == users.keys()
    assert users.batch_get(["alice", "zed"]) == {"alice": {"age": 30}}
    assert users == {"alice": {"age": 30}, "bob": 1, "carol": 2, "frank": 5}
    assert users.name == "users" and users.parent is db


def test_tables_never_collide_even_with_colons(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["a:b"] = "main a:b"
    db.table("a")["b"] = "table a, key b"
    db.table("a:b")[""] = "table a:b, empty key"
    db.table("")["a:b"] = "empty table"
    assert db["a:b"] == "main a:b"
    assert db.table("a")["b"] == "table a, key b"
    assert db.table("a:b")[""] == "table a:b, empty key"
    assert db.table("")["a:b"] == "empty table"
    assert "b" not in db
    assert db.keys() == ["a:b"]
    assert len(db) == 1


def test_len_keys_and_clear_cover_one_table_only(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db.update({"m1": 1, "m2": 2})
    t = db.table("t")
    t.update({"t1": 1, "t2": 2, "t3": 3})
    assert len(db) == 2 and len(t) == 3
    t.clear()
    assert len(t) == 0 and t.keys() == []
    assert db.keys() == ["m1", "m2"]
    db.clear()
    assert len(db) == 0
    t["again"] = 1
    assert t.keys() == ["again"]


def test_tables_lists_the_tables_that_hold_data(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["x"] = 1
    db.table("users")["u"] = 1
    db.table("empty")  # never written
    db.table("gone")["g"] = 1
    del db.table("gone")["g"]
    db.table("日本")["k"] = 1
    assert db.tables() == sorted(["main", "users", "日本"], key=lambda s: s.encode())


def test_table_name_option_makes_the_instance_act_on_that_table(db_path):
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        db.table("users")["alice"] = 1
        db["main-key"] = 2
    with DictSQLiteV4(db_path, table_name="users") as users:
        assert users.keys() == ["alice"]
        assert users["alice"] == 1
        assert "main-key" not in users
        assert users.table_name == "users"
        assert "table_name='users'" in repr(users)


def test_tables_persist_across_reopen(db_path):
    with DictSQLiteV4(db_path) as db:
        db.table("a")["k"] = "in a"
        db.table("b")["k"] = "in b"
    with DictSQLiteV4(db_path) as db:
        assert db.table("a")["k"] == "in a"
        assert db.table("b")["k"] == "in b"
        assert len(db.table("a")) == 1
        assert db.tables() == ["a", "b"]


def test_proxy_repr_is_bounded(open_db):
    db = open_db(persist_mode="memory")
    t = db.table("users")
    t["alice"] = {"age": 30}
    assert repr(t) == "TableProxy('users', {'alice': {'age': 30}})"
    t.update({f"u{i:03d}": i for i in range(100)})
    text = repr(t)
    assert text.startswith("TableProxy('users', {") and "(91 more)" in text
    assert len(text) < 400


def test_proxy_equality_with_dicts_proxies_and_instances(open_db, tmp_path):
    db = open_db(persist_mode="memory")
    a, b = db.table("a"), db.table("b")
    a.update({"k": 1})
    b.update({"k": 1})
    assert a == b and a == {"k": 1} and not (a != b)
    b["k"] = 2
    assert a != b
    other = open_db(str(tmp_path / "o.db"), persist_mode="memory")
    other["k"] = 1
    assert a == other
    assert a != [("k", 1)]


def test_proxy_of_a_closed_database_raises(open_db):
    db = open_db()
    t = db.table("t")
    t["a"] = 1
    db.close()
    with pytest.raises(DatabaseClosedError):
        t["a"]
    with pytest.raises(DatabaseClosedError):
        len(t)
    assert "closed" in repr(t)


def test_table_names_must_be_str(open_db):
    db = open_db()
    with pytest.raises(TypeError, match="table name must be a str"):
        db.table(5)
    with pytest.raises(TypeError):
        TableProxy()


def test_table_modes_both_isolate(tmp_path):
    for mode in ["prefix", "separate", "PREFIX"]:
        with DictSQLiteV4(str(tmp_path / f"{mode}.db"), table_mode=mode) as db:
            db.table("a")["k"] = 1
            assert "k" not in db
