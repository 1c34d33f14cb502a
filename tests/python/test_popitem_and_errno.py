"""Issue 11, defect 6: popitem exists on both types, and file errors carry
a real errno and the path."""
import collections.abc
import errno
import sqlite3

import pytest

from dictsqlite import DatabaseLockedError, DictSQLiteV4


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_popitem_takes_the_first_key_until_empty(open_db, mode):
    db = open_db(persist_mode=mode)
    db.update({"b": 2, "a": 1, "c": [3]})
    t = db.table("t")
    t["x"] = "y"
    assert isinstance(db, collections.abc.MutableMapping)
    assert db.popitem() == ("a", 1)
    assert db.popitem() == ("b", 2)
    assert db.popitem() == ("c", [3])
    with pytest.raises(KeyError, match="empty"):
        db.popitem()
    assert t.popitem() == ("x", "y") and len(t) == 0


def test_a_file_that_is_not_a_database_is_an_oserror_with_errno_and_path(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an SQLite file at all" * 200)
    with pytest.raises(OSError) as info:
        DictSQLiteV4(str(path))
    assert info.value.errno and info.value.errno != 0
    assert info.value.filename == str(path)


def test_a_lock_held_by_another_connection_is_database_locked_with_ebusy(tmp_path):
    path = str(tmp_path / "l.db")
    db = DictSQLiteV4(path, timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseLockedError) as info:
        db["k"] = 1
    assert info.value.errno == errno.EBUSY and info.value.filename == path
    assert isinstance(info.value, OSError)
    other.execute("ROLLBACK")
    assert "k" not in db
    db["k"] = 2
    assert db["k"] == 2
    db.close()
