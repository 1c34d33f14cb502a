"""read_only=True (issue 11, read-only use): an existing file is opened
without writing to it or next to it; reads work, every write raises
ReadOnlyError; a missing path raises FileNotFoundError and creates nothing."""
import errno
import os

import pytest

from dictsqlite import DictSQLiteV4, ReadOnlyError


def listing(d):
    return sorted((n, os.stat(os.path.join(d, n)).st_size, os.stat(os.path.join(d, n)).st_mtime_ns)
                  for n in os.listdir(d))


@pytest.fixture
def closed_db(tmp_path):
    path = str(tmp_path / "ro.db")
    with DictSQLiteV4(path, persist_mode="writethrough") as db:
        db.update({f"k{i}": {"i": i} for i in range(100)})
        db.table("other")["x"] = b"y" * 5000
    return path


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_reads_work_and_nothing_is_written_to_or_beside_the_file(closed_db, tmp_path, mode):
    os.unlink(closed_db + "-dsgen")  # not even the counter file gets created
    before = listing(tmp_path)
    db = DictSQLiteV4(closed_db, persist_mode=mode, read_only=True)
    assert len(db) == 100 and db["k5"] == {"i": 5} and "k99" in db
    assert db.tables() == ["main", "other"]
    assert db.table("other")["x"] == b"y" * 5000
    assert [k for k in db][:2] == ["k0", "k1"]
    writes = [lambda: db.__setitem__("n", 1), lambda: db.__delitem__("k1"),
              lambda: db.update({"a": 1}), db.clear, lambda: db.pop("k2"),
              lambda: db.table("other").__setitem__("z", 1), db.popitem]
    for write in writes:
        with pytest.raises(ReadOnlyError, match="read_only=True") as info:
            write()
        assert info.value.errno == errno.EROFS
    db.flush()
    db.close()
    assert listing(tmp_path) == before
    with DictSQLiteV4(closed_db) as again:  # and nothing changed
        assert len(again) == 100 and again["k1"] == {"i": 1}


def test_a_read_only_reader_sees_a_running_writer(closed_db, tmp_path):
    writer = DictSQLiteV4(closed_db)
    writer["k0"] = "new"
    reader = DictSQLiteV4(closed_db, read_only=True)
    assert reader["k0"] == "new"
    writer["k0"] = "newer"
    assert reader["k0"] == "newer"
    reader.close()
    writer.close()


def test_a_missing_path_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.db"):
        DictSQLiteV4(str(tmp_path / "missing.db"), read_only=True)
    assert os.listdir(tmp_path) == []


def test_a_file_without_our_schema_is_refused(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(OSError, match="holds no dictsqlite data") as info:
        DictSQLiteV4(str(path), read_only=True)
    assert info.value.errno
    assert os.listdir(tmp_path) == ["empty.db"]


def test_paths_with_uri_characters(tmp_path):
    path = str(tmp_path / "a%20b?c#d.db")
    with DictSQLiteV4(path) as db:
        db["k"] = 1
    with DictSQLiteV4(path, read_only=True) as db:
        assert db["k"] == 1
