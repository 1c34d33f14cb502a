"""A file of the Rust dictsqlite 2.x package opened with DictSQLiteV4 is
refused with a ValueError that names the exact command converting it, and
the failed open changes nothing on disk."""
import hashlib
import os
import sqlite3

import pytest

from dictsqlite import DictSQLiteV4

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "migrate")


def snapshot(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


def rust_like(path, journal_mode):
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA journal_mode={journal_mode}")
    con.execute("CREATE TABLE kv_store (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                "tier INTEGER DEFAULT 2, access_count INTEGER DEFAULT 0, "
                "last_access INTEGER DEFAULT 0)")
    con.execute("INSERT INTO kv_store (key, value) VALUES ('a', x'80044b012e')")
    con.commit()
    con.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_opening_a_rust_file_names_the_migrate_command(tmp_path, journal_mode):
    path = str(tmp_path / "old.db")
    rust_like(path, journal_mode)
    with pytest.raises(ValueError) as info:
        DictSQLiteV4(path)
    assert f"dictsqlite migrate {path} NEW.db" in str(info.value)


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
@pytest.mark.parametrize("read_only", [False, True])
def test_the_failed_open_changes_no_file(tmp_path, journal_mode, read_only):
    # A rollback-journal file would be switched to WAL (its header rewritten)
    # if the refusal came after PRAGMA journal_mode.
    path = str(tmp_path / "old.db")
    rust_like(path, journal_mode)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="dictsqlite migrate"):
        DictSQLiteV4(path, read_only=read_only)
    assert snapshot(tmp_path) == before


def test_a_real_rust_file_is_refused_and_unchanged(tmp_path):
    import shutil

    path = str(tmp_path / "rust_pickle.db")
    shutil.copy(os.path.join(DATA, "rust_pickle.db"), path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="written by the Rust dictsqlite package"):
        DictSQLiteV4(path)
    assert snapshot(tmp_path) == before


def test_a_path_with_spaces_is_quoted_in_the_command(tmp_path):
    path = str(tmp_path / "my old.db")
    rust_like(path, "wal")
    with pytest.raises(ValueError) as info:
        DictSQLiteV4(path)
    assert f"dictsqlite migrate '{path}' NEW.db" in str(info.value)


def test_the_async_class_refuses_it_too(tmp_path):
    from dictsqlite import AsyncDictSQLite

    path = str(tmp_path / "old.db")
    rust_like(path, "wal")
    with pytest.raises(ValueError, match="dictsqlite migrate"):
        AsyncDictSQLite(path)
