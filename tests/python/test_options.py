"""Constructor options (issue 11, defect 7): each is checked for type, range
or choices before anything touches the disk, with an error that names it."""
import os

import pytest

from dictsqlite import DictSQLiteV4


@pytest.mark.parametrize("kw, exc, pattern", [
    ({"hot_capacity": "10"}, TypeError, r"hot_capacity must be an int, got str"),
    ({"hot_capacity": 10 ** 30}, ValueError, r"hot_capacity must be between 1 and \d+, got 1000"),
    ({"hot_capacity": 2.5}, TypeError, r"hot_capacity must be an int, got float"),
    ({"hot_capacity": True}, TypeError, r"hot_capacity must be an int, got bool"),
    ({"buffer_size": -1}, ValueError, r"buffer_size must be between 1 and"),
    ({"flush_interval_ms": 0}, ValueError, r"flush_interval_ms must be between 1 and 86400000"),
    ({"max_pending_bytes": 0}, ValueError, r"max_pending_bytes must be between 1 and"),
    ({"enable_safe_pickle": "no"}, TypeError, r"enable_safe_pickle must be True or False, got str"),
    ({"enable_async": 2}, ValueError, r"enable_async must be True or False, got 2"),
    ({"read_only": None}, TypeError, r"read_only must be True or False, got NoneType"),
    ({"persist_mode": 1}, TypeError, r"persist_mode must be a str"),
    ({"storage_mode": None}, TypeError, r"storage_mode must be a str"),
    ({"table_name": 5}, TypeError, r"table_name must be a str, got int"),
    ({"timeout": "5"}, TypeError, r"timeout must be a number of seconds"),
    ({"timeout": -1}, ValueError, r"timeout must be between 0 and \d+ seconds, got -1"),
    ({"timeout": float("nan")}, ValueError, r"timeout must be between 0"),
    ({"encryption_password": 123}, TypeError, r"encryption_password must be a str or bytes"),
    ({"enable_safe_pickle": True, "safe_pickle_allowed_modules": "mymod"}, TypeError,
     r"safe_pickle_allowed_modules must be a list of module names"),
    ({"enable_safe_pickle": True, "safe_pickle_allowed_modules": [b"x"]}, TypeError,
     r"safe_pickle_allowed_modules must hold module names \(str\); got b'x'"),
    ({"enable_safe_pickle": True, "safe_pickle_allowed_modules": ["not a module"]}, ValueError,
     r"'not a module', which is not a module name"),
    ({"safe_pickle_allowed_modules": ["mymod"]}, ValueError,
     r"safe_pickle_allowed_modules has no effect without enable_safe_pickle=True"),
    ({"read_only": True, "persist_mode": "memory"}, ValueError, r"read_only=True needs"),
    ({"no_such_option": 1}, TypeError, r"unexpected keyword argument 'no_such_option'"),
])
def test_a_bad_option_is_refused_by_name_before_the_file_is_touched(tmp_path, kw, exc, pattern):
    path = tmp_path / "never.db"
    with pytest.raises(exc, match=pattern):
        DictSQLiteV4(str(path), **kw)
    assert os.listdir(tmp_path) == []


def test_db_path_must_name_something(tmp_path):
    # SQLite opens a private temporary database for "": that would silently
    # persist nothing
    with pytest.raises(ValueError, match=r"db_path must name a file \(or be ':memory:'\), got ''"):
        DictSQLiteV4("")
    with pytest.raises(ValueError, match=r"db_path must not contain NUL"):
        DictSQLiteV4(str(tmp_path / "a\0b.db"))
    with pytest.raises(TypeError, match=r"db_path must be a str, bytes or os.PathLike, got int"):
        DictSQLiteV4(3)
    with pytest.raises(TypeError, match=r"missing required argument 'db_path'"):
        DictSQLiteV4()
    assert os.listdir(tmp_path) == []


def test_positional_and_keyword_arguments_follow_the_rust_signature(tmp_path):
    path = str(tmp_path / "p.db")
    # db_path, hot_capacity, enable_async, persist_mode, storage_mode, table_name
    with DictSQLiteV4(path, 50, False, "lazy", "json", "t") as db:
        db["k"] = [1]
        s = db.stats()
        assert (s["hot_tier_capacity"], s["persist_mode"], s["storage_mode"]) == (50, "Lazy", "json")
        assert db.table_name == "t"
    with pytest.raises(TypeError, match=r"multiple values for argument 'hot_capacity'"):
        DictSQLiteV4(path, 50, hot_capacity=60)
    # our additions are keyword-only
    with pytest.raises(TypeError, match=r"at most 13 positional arguments"):
        DictSQLiteV4(path, 1, True, "lazy", "pickle", "main", None, False, None, 100,
                     "utf-8", "prefix", 20, 1000)


def test_allowed_modules_take_effect_with_safe_pickle(tmp_path):
    path = str(tmp_path / "s.db")
    with DictSQLiteV4(path, enable_safe_pickle=True,
                      safe_pickle_allowed_modules=("collections",)) as db:
        import collections
        db["c"] = collections.OrderedDict(a=1)
        assert db["c"] == collections.OrderedDict(a=1)
        assert db.stats()["safe_pickle_enabled"] is True


def test_writethrough_buffer_size_default_commits_every_write(tmp_path):
    path = str(tmp_path / "w.db")
    with DictSQLiteV4(path) as db:
        assert db.stats()["buffer_size"] == 1
    with DictSQLiteV4(path, buffer_size=100) as db:
        assert db.stats()["buffer_size"] == 1  # 100 is the Rust package's default
    with DictSQLiteV4(path, buffer_size=7) as db:
        assert db.stats()["buffer_size"] == 7
    with DictSQLiteV4(path, persist_mode="lazy") as db:
        assert db.stats()["buffer_size"] == 100
