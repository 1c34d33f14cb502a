"""The failure rules (README, "When something fails"):

- a call that raises changed nothing: not visible in this instance, never
  committed later;
- a write that was accepted into a lazy buffer is retried, never dropped;
- a lock wait is bounded by `timeout` and raises DatabaseLockedError;
- encryption is all or nothing per file.

Each test uses a real file and a second real SQLite connection that holds
the write lock, as another process would."""
import errno
import sqlite3

import pytest

from dictsqlite import DatabaseLockedError, DictSQLiteV4

from conftest import run_python


class WriteLock:
    """Another connection holding the database's write lock."""

    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.execute("ROLLBACK")
        self.con.close()


def reopened(path, **kw):
    with DictSQLiteV4(path, **kw) as db:
        return dict(db.items())


def test_failed_writethrough_writes_are_taken_back(db_path):
    db = DictSQLiteV4(db_path, persist_mode="writethrough", timeout=0.1)
    db["kept"] = 1
    db["old"] = "v1"
    lock = WriteLock(db_path)
    with pytest.raises(DatabaseLockedError) as info:
        db["new"] = "x"
    assert info.value.errno == errno.EBUSY
    assert info.value.filename == db_path
    with pytest.raises(DatabaseLockedError):
        db["old"] = "v2"
    with pytest.raises(DatabaseLockedError):
        del db["kept"]
    with pytest.raises(DatabaseLockedError):
        db.update({"u1": 1, "u2": 2})
    # nothing of what raised is visible ...
    assert "new" not in db and "u1" not in db and "u2" not in db
    assert db["old"] == "v1" and db["kept"] == 1
    assert len(db) == 2
    assert db.stats()["dirty_entries"] == 0
    lock.release()
    # ... later writes are not poisoned, and the failed ones are never committed
    db["after"] = 3
    db.close()
    assert reopened(db_path) == {"kept": 1, "old": "v1", "after": 3}


def test_a_value_sqlite_cannot_store_is_refused_before_anything_changes(tmp_path):
    # 1 GB: over SQLite's default length limit (1,000,000,000 bytes)
    proc = run_python("""
        import sys
        from dictsqlite import DictSQLiteV4
        path = sys.argv[1]
        db = DictSQLiteV4(path, persist_mode="writethrough")
        db["small"] = b"1"
        try:
            db["big"] = b"x" * 1_000_000_000
        except ValueError as e:
            assert "big" in str(e) and "at most" in str(e), e
        else:
            raise AssertionError("the oversize value was accepted")
        assert "big" not in db
        db["later"] = b"2"          # not poisoned
        db.close()                  # and close does not raise it again
        db = DictSQLiteV4(path)
        assert sorted(db.keys()) == ["later", "small"]
        db.close()
        print("ok")
    """, str(tmp_path / "big.db"), timeout=300)
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_update_with_a_bad_value_stores_nothing(open_db, mode):
    db = open_db(persist_mode=mode)
    db["a"] = 0
    pairs = [(f"k{i}", i) for i in range(20000)] + [("bad", lambda: 1)]
    with pytest.raises(Exception):
        db.update(pairs)
    assert len(db) == 1 and "k0" not in db and "k19999" not in db
    assert db["a"] == 0


def test_a_failed_lazy_flush_keeps_the_buffer_and_raises(db_path):
    db = DictSQLiteV4(db_path, persist_mode="lazy", enable_async=False, timeout=0.1)
    db["a"] = 1
    lock = WriteLock(db_path)
    with pytest.raises(DatabaseLockedError):
        db.flush()
    assert db["a"] == 1
    lock.release()
    db.flush()
    db.close()
    assert reopened(db_path) == {"a": 1}


def test_encrypted_file_opened_without_password_reads_and_writes_nothing(db_path):
    with DictSQLiteV4(db_path, encryption_password="pw") as db:
        db["secret"] = 1
    db = DictSQLiteV4(db_path)
    for call in (lambda: db["secret"], lambda: db.__setitem__("plain", 2),
                 lambda: db.keys(), lambda: db.__delitem__("secret"), lambda: db.clear()):
        with pytest.raises(ValueError, match="encryption_password"):
            call()
    db.close()
    with DictSQLiteV4(db_path, encryption_password="pw") as db:
        assert dict(db.items()) == {"secret": 1}


def test_password_on_a_plaintext_file_with_data_is_refused(db_path):
    with DictSQLiteV4(db_path) as db:
        db["plain"] = 1
    with pytest.raises(ValueError, match="rekey"):
        DictSQLiteV4(db_path, encryption_password="pw")
    # the file is untouched and still opens without a password
    assert reopened(db_path) == {"plain": 1}


def test_password_on_an_empty_plaintext_file_encrypts_it(db_path):
    DictSQLiteV4(db_path).close()
    with DictSQLiteV4(db_path, encryption_password="pw") as db:
        db["a"] = 1
    assert reopened(db_path, encryption_password="pw") == {"a": 1}
