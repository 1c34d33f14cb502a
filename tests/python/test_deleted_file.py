"""Issue 11, defect 8: once the database file is deleted or replaced, a
write is refused instead of being acknowledged into an unlinked inode and
lost at close."""
import errno
import os

import pytest

from dictsqlite import DictSQLiteV4


@pytest.mark.parametrize("side_files", [False, True])
def test_writes_after_the_file_was_deleted_raise(tmp_path, side_files):
    path = str(tmp_path / "gone.db")
    db = DictSQLiteV4(path, persist_mode="writethrough")
    db["before"] = 1
    os.unlink(path)
    if side_files:
        for suffix in ("-wal", "-shm", "-dsgen"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    with pytest.raises(FileNotFoundError, match="deleted or replaced while open") as info:
        db["after"] = 2
    assert info.value.errno == errno.ENOENT
    assert "after" not in db  # a call that raised changed nothing
    db.close()


def test_a_replaced_file_is_detected_and_the_new_one_untouched(tmp_path):
    path = str(tmp_path / "swap.db")
    db = DictSQLiteV4(path, persist_mode="lazy", enable_async=False)
    db["x"] = 1
    db.flush()
    with DictSQLiteV4(str(tmp_path / "other.db")) as other:
        other["y"] = 2
    os.replace(str(tmp_path / "other.db"), path)
    db["x"] = 3
    with pytest.raises(FileNotFoundError, match="deleted or replaced"):
        db.flush()
    # the buffered write is kept (the rule for accepted lazy writes)
    assert db["x"] == 3
    assert db.stats()["dirty_entries"] == 1
    with pytest.raises(FileNotFoundError):
        db.close()
    assert not db.closed  # close() that raised left it open, to retry


def test_a_chdir_after_open_is_not_a_deletion(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    db = DictSQLiteV4("rel.db", persist_mode="writethrough")
    db["x"] = 1
    monkeypatch.chdir(tmp_path / "b")
    db["y"] = 2  # still the same file: the check uses its absolute name
    db.close()
    with DictSQLiteV4(str(tmp_path / "a" / "rel.db")) as again:
        assert dict(again.items()) == {"x": 1, "y": 2}
