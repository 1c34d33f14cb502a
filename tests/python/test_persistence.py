"""What survives a close, a reopen and a normal interpreter exit."""
import os

import pytest

from dictsqlite import DictSQLiteV4

from conftest import run_python


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_data_is_there_after_close_and_reopen(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        db.update({f"k{i}": {"i": i} for i in range(500)})
        del db["k0"]
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        assert len(db) == 499
        assert db["k499"] == {"i": 499}
        assert "k0" not in db


def test_memory_mode_never_creates_the_file(tmp_path):
    path = tmp_path / "never.db"
    with DictSQLiteV4(str(path), persist_mode="memory") as db:
        db["a"] = 1
    assert not path.exists()


def test_memory_mode_never_evicts_past_hot_capacity(open_db):
    db = open_db(persist_mode="memory", hot_capacity=10)
    db.update({f"k{i}": i for i in range(1000)})
    assert len(db) == 1000
    assert all(db[f"k{i}"] == i for i in range(1000))


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_eviction_never_loses_data(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode, hot_capacity=50) as db:
        db.update({f"k{i}": i for i in range(2000)})
        for i in range(0, 2000, 7):
            db[f"k{i}"] = -i
        assert db.stats()["hot_tier_size"] <= 50
        assert len(db) == 2000
        for i in range(2000):
            assert db[f"k{i}"] == (-i if i % 7 == 0 else i)
    with DictSQLiteV4(db_path, persist_mode=mode, hot_capacity=50) as db:
        assert len(db) == 2000
        assert db["k7"] == -7


def test_lazy_writes_survive_normal_exit_without_close(db_path):
    run_python("""
        import sys
        from dictsqlite import DictSQLiteV4
        db = DictSQLiteV4(sys.argv[1], persist_mode="lazy")
        for i in range(1000):
            db[f"k{i}"] = i
        # no close(), no flush(): the atexit flush must commit
    """, db_path)
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        assert len(db) == 1000
        assert db["k999"] == 999


def test_lazy_background_flusher_commits_within_the_interval(db_path):
    db = DictSQLiteV4(db_path, persist_mode="lazy", flush_interval_ms=50)
    try:
        db["a"] = 1
        import sqlite3
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            con = sqlite3.connect(db_path)
            n = con.execute("SELECT count(*) FROM kv").fetchone()[0]
            con.close()
            if n == 1:
                break
            time.sleep(0.02)
        assert n == 1
    finally:
        db.close()


def test_lazy_without_flusher_keeps_writes_until_flush(db_path):
    import sqlite3

    db = DictSQLiteV4(db_path, persist_mode="lazy", enable_async=False)
    try:
        db["a"] = 1
        con = sqlite3.connect(db_path)
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        db.flush()
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 1
        con.close()
    finally:
        db.close()


def test_writethrough_default_commits_every_write(db_path):
    import sqlite3

    db = DictSQLiteV4(db_path)
    try:
        assert db.stats()["buffer_size"] == 1
        db["a"] = 1
        con = sqlite3.connect(db_path)
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 1
        del db["a"]
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        con.close()
    finally:
        db.close()


def test_writethrough_with_explicit_buffer_size_commits_in_groups(db_path):
    import sqlite3

    db = DictSQLiteV4(db_path, buffer_size=10, enable_async=False)
    try:
        con = sqlite3.connect(db_path)
        for i in range(9):
            db[f"k{i}"] = i
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        db["k9"] = 9
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 10
        con.close()
    finally:
        db.close()


def test_close_is_idempotent_and_later_use_raises(db_path, persist_mode):
    from dictsqlite import DatabaseClosedError

    db = DictSQLiteV4(db_path, persist_mode=persist_mode)
    db["a"] = 1
    db.close()
    db.close()
    for op in (lambda: db["a"], lambda: db.__setitem__("a", 2), lambda: len(db),
               lambda: "a" in db, lambda: db.keys(), lambda: db.flush(), lambda: db.stats()):
        with pytest.raises(DatabaseClosedError, match="closed"):
            op()
    assert "closed" in repr(db)


def test_memory_path_works_in_every_mode(persist_mode):
    with DictSQLiteV4(":memory:", persist_mode=persist_mode) as db:
        db["a"] = 1
        assert db["a"] == 1
        assert len(db) == 1


def test_existing_empty_file_is_a_new_database(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with DictSQLiteV4(str(path)) as db:
        db["a"] = 1
    with DictSQLiteV4(str(path)) as db:
        assert db["a"] == 1


def test_pathlike_paths_are_accepted(tmp_path):
    with DictSQLiteV4(tmp_path / "p.db") as db:
        db["a"] = 1
    assert os.path.exists(tmp_path / "p.db")


def test_child_process_after_fork_must_reopen(db_path):
    run_python("""
        import os, sys
        from dictsqlite import DictSQLiteV4, DatabaseClosedError
        db = DictSQLiteV4(sys.argv[1])
        db["a"] = 1
        pid = os.fork()
        if pid == 0:
            try:
                db["a"]
            except DatabaseClosedError as e:
                os._exit(0 if "fork" in str(e) else 3)
            os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert db["a"] == 1
        db.close()
    """, db_path)


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_len_stays_exact_when_writing_to_a_reopened_database(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        db.update({f"k{i}": i for i in range(1000)})
    with DictSQLiteV4(db_path, persist_mode=mode, hot_capacity=100) as db:
        db.update({f"k{i}": -i for i in range(500, 1500)})  # 500 old, 500 new
        assert len(db) == 1500
        for i in range(0, 1500, 3):
            del db[f"k{i}"]
        assert len(db) == 1000
        db["k0"] = "back"
        db["k1"] = "overwritten"
        assert len(db) == 1001
        assert len(db.keys()) == 1001
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        assert len(db) == 1001
        assert db["k1"] == "overwritten" and db["k0"] == "back"
        assert db["k1499"] == -1499 and "k1497" not in db


def test_lazy_load_past_hot_capacity_stays_in_memory_and_counts_right(db_path):
    """The first eviction of a new database's keys must not force a flush
    (lazy mode commits at flush()/close()): whether a later key is new is
    known without asking SQLite, so len() stays exact and nothing is
    committed before flush()."""
    import sqlite3
    db = DictSQLiteV4(db_path, persist_mode="lazy", hot_capacity=1000, enable_async=False)
    try:
        for i in range(5000):
            db[f"k{i}"] = i
        db["k3"] = "again"  # an evicted key, written again: not a new key
        assert len(db) == 5000
        assert db.stats()["dirty_entries"] == 5000
        con = sqlite3.connect(db_path)
        assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        con.close()
        del db["k10"]
        assert len(db) == 4999
        db.flush()
    finally:
        db.close()
    with DictSQLiteV4(db_path) as db:
        assert len(db) == 4999 and db["k3"] == "again" and "k10" not in db
