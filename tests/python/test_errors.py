"""Bad input gets a clear error naming the argument, and nothing changes."""
import os
import stat

import pytest

from dictsqlite import DictSQLiteV4


@pytest.mark.parametrize("kw, pattern", [
    ({"persist_mode": "fast"}, r"persist_mode must be one of 'memory', 'lazy', 'writethrough'; got 'fast'"),
    ({"storage_mode": "xml"}, r"storage_mode must be one of 'pickle', 'json', 'jsonb', 'bytes'; got 'xml'"),
    ({"table_mode": "nested"}, r"table_mode must be one of 'prefix', 'separate'; got 'nested'"),
    ({"encoding": "latin-1"}, r"encoding must be one of"),
    ({"synchronous": "off"}, r"synchronous must be one of 'normal', 'full'"),
    ({"hot_capacity": 0}, r"hot_capacity must be between 1 and "),
    ({"buffer_size": 0}, r"buffer_size must be between 1 and "),
    ({"pool_size": 0}, r"pool_size must be between 1 and "),
])
def test_bad_options_raise_valueerror_before_touching_the_file(tmp_path, kw, pattern):
    path = tmp_path / "never.db"
    with pytest.raises(ValueError, match=pattern):
        DictSQLiteV4(str(path), **kw)
    assert not path.exists()


def test_mode_names_are_case_insensitive_and_write_through_is_accepted(tmp_path):
    for mode in ["LAZY", "Memory", "write_through", "WriteThrough"]:
        with DictSQLiteV4(str(tmp_path / f"{mode}.db"), persist_mode=mode, storage_mode="JSONB") as db:
            db["a"] = [1]
            assert db["a"] == [1]


def test_all_parameters_accepted_by_keyword(tmp_path):
    db = DictSQLiteV4(db_path=str(tmp_path / "kw.db"), hot_capacity=10, enable_async=False,
                      persist_mode="lazy", storage_mode="pickle", table_name="t",
                      encryption_password=None, enable_safe_pickle=False,
                      safe_pickle_allowed_modules=None, buffer_size=5, encoding="utf-8",
                      table_mode="separate", pool_size=2, flush_interval_ms=10,
                      synchronous="full")
    db["a"] = 1
    db.close()


def test_wrong_option_types_raise_typeerror(tmp_path):
    with pytest.raises(TypeError):
        DictSQLiteV4(str(tmp_path / "a.db"), hot_capacity="many")
    with pytest.raises(TypeError, match="table_name must be a str"):
        DictSQLiteV4(str(tmp_path / "a.db"), table_name=5)


def test_unwritable_path_raises_oserror_naming_the_path(tmp_path):
    missing = str(tmp_path / "no" / "such" / "dir" / "x.db")
    with pytest.raises(OSError) as info:
        DictSQLiteV4(missing)
    assert info.value.filename == missing
    assert missing in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_raises_oserror(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(OSError):
            DictSQLiteV4(str(d / "x.db"))
    finally:
        d.chmod(stat.S_IRWXU)


def test_directory_as_path_raises_oserror(tmp_path):
    with pytest.raises(OSError) as info:
        DictSQLiteV4(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_non_database_file_raises_oserror_naming_the_path(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(OSError) as info:
        DictSQLiteV4(str(path))
    assert str(path) in str(info.value)


def test_rust_package_files_are_recognised(tmp_path):
    import sqlite3

    path = str(tmp_path / "rust.db")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE kv_store (key TEXT PRIMARY KEY, value BLOB)")
    con.execute("INSERT INTO kv_store VALUES ('main:a', x'01')")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="dictsqlite migrate"):
        DictSQLiteV4(path)
