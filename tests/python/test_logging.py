"""Logging (issue 13, part 6): logging.getLogger("dictsqlite") with a
NullHandler; DEBUG for open/close, explicit flushes and recounts; WARNING
for a failed background flush, logged by the first call from Python after
it (the flusher thread itself never logs: it cannot take the GIL)."""
import logging
import sqlite3
import sys
import threading
import time
import warnings

import pytest

import dictsqlite
from conftest import run_python

LOGGER = "dictsqlite"


def records(caplog, level=None):
    return [r for r in caplog.records if r.name == LOGGER and (level is None or r.levelno == level)]


def test_the_package_logger_has_a_null_handler():
    logger = logging.getLogger(LOGGER)
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)


def test_nothing_reaches_stderr_without_a_configured_handler(tmp_path):
    # Without the NullHandler a WARNING would go to logging's last-resort
    # handler (stderr); DEBUG records are below every default level anyway.
    proc = run_python("""
        import logging, sys
        import dictsqlite
        logging.getLogger("dictsqlite").warning("a warning from the library")
        with dictsqlite.DictSQLiteV4(sys.argv[1]) as db:
            db["k"] = 1
            db.flush()
    """, tmp_path / "a.db")
    assert proc.stderr == ""


def test_debug_records_for_open_flush_and_close(tmp_path, caplog):
    path = str(tmp_path / "a.db")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    db = dictsqlite.DictSQLiteV4(path, persist_mode="lazy", storage_mode="json",
                                 enable_async=False)
    db.update({"a": 1, "b": 2, "c": 3})
    db.flush()
    db["d"] = 4
    db.close()
    msgs = [r.getMessage() for r in records(caplog, logging.DEBUG)]
    assert len(msgs) == 3, msgs
    assert msgs[0].startswith(f"open dictsqlite.DictSQLiteV4({path!r}): persist_mode=lazy, "
                              "storage_mode=json, table_name='main'")
    assert msgs[0].endswith(" ms")
    assert msgs[1].startswith(f"flush {path!r}: 3 pending writes committed in ")
    assert msgs[2].startswith(f"close {path!r}: 1 pending writes committed, in ")


def test_a_percent_sign_in_a_path_is_logged_as_it_is(tmp_path, caplog):
    path = str(tmp_path / "100%s%d.db")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    dictsqlite.DictSQLiteV4(path).close()
    assert all(repr(path) in r.getMessage() for r in records(caplog))
    assert len(records(caplog)) == 2


def test_a_recount_is_logged(tmp_path, caplog):
    path = str(tmp_path / "a.db")
    a = dictsqlite.DictSQLiteV4(path)
    b = dictsqlite.DictSQLiteV4(path)
    try:
        bt = b.table("t")
        assert len(b) == 0 and len(bt) == 0
        a.table("t")["x"] = 1  # another connection commits: b's counts go stale
        caplog.set_level(logging.DEBUG, logger=LOGGER)
        assert len(b) == 0
        assert len(bt) == 1
        msgs = [r.getMessage() for r in records(caplog, logging.DEBUG)]
        assert any(m.startswith(f"recount {path!r} table 'main': 0 keys") for m in msgs), msgs
        assert any(m.startswith(f"recount {path!r} table 't': 1 keys") for m in msgs), msgs
    finally:
        a.close()
        b.close()


def test_level_changes_take_effect_at_once(tmp_path, caplog):
    path = str(tmp_path / "a.db")
    logger = logging.getLogger(LOGGER)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with dictsqlite.DictSQLiteV4(path, persist_mode="lazy") as db:
        db.flush()
        logger.setLevel(logging.INFO)
        db.flush()
        n = len(records(caplog))
        logger.setLevel(logging.DEBUG)
        db.flush()
        assert len(records(caplog)) == n + 1


def test_a_handler_that_raises_never_fails_the_call(tmp_path, monkeypatch):
    class Broken(logging.Handler):
        def emit(self, record):
            raise RuntimeError("broken handler")

        def handleError(self, record):  # logging's own reporting, made fatal
            raise

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    logger = logging.getLogger(LOGGER)
    h = Broken()
    logger.addHandler(h)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with dictsqlite.DictSQLiteV4(str(tmp_path / "a.db")) as db:
            db["k"] = 1
            db.flush()
            assert db["k"] == 1
    finally:
        logger.removeHandler(h)
        logger.setLevel(old)
    # reported as unraisable (open, flush, close), not swallowed
    assert len(reported) == 3
    assert all(isinstance(u.exc_value, RuntimeError) for u in reported)
    assert "'dictsqlite' logger" in str(reported[0].object)


def hold_write_lock(path):
    con = sqlite3.connect(path, isolation_level=None, timeout=0)
    con.execute("BEGIN IMMEDIATE")
    return con


def test_a_failed_background_flush_is_logged_and_raised_at_the_next_call(tmp_path, caplog):
    path = str(tmp_path / "a.db")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    db = dictsqlite.DictSQLiteV4(path, persist_mode="lazy", flush_interval_ms=20, timeout=0.05)
    try:
        db["seed"] = 0
        db.flush()
        lock = hold_write_lock(path)
        db["k"] = 1  # buffered; the flusher's commits now meet the lock
        time.sleep(0.5)
        assert records(caplog) == []  # nothing logged from the flusher thread
        lock.rollback()
        lock.close()
        # the next call logs it and raises, changing nothing; the one after works
        with pytest.raises(dictsqlite.DatabaseLockedError,
                           match="background flush failed .* this call did nothing"):
            db["other"] = 2
        assert "other" not in db
        assert db.get("k") == 1
        warns = records(caplog, logging.WARNING)
        assert len(warns) == 1
        msg = warns[0].getMessage()
        assert msg.startswith(f"the background flush of {path!r} failed ")
        assert "the writes stay buffered" in msg
        assert warns[0].threadName == threading.current_thread().name
        db.flush()  # already raised: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            db.flush()
    finally:
        db.close()
    with dictsqlite.DictSQLiteV4(path, read_only=True) as d:
        assert d["k"] == 1


def test_a_handler_closing_the_database_makes_the_call_raise_closed(tmp_path):
    path = str(tmp_path / "a.db")
    db = dictsqlite.DictSQLiteV4(path, persist_mode="lazy", flush_interval_ms=20, timeout=0.05)

    class Closer(logging.Handler):
        def emit(self, record):
            db.close()

    logger = logging.getLogger(LOGGER)
    h = Closer(level=logging.WARNING)
    logger.addHandler(h)
    try:
        lock = hold_write_lock(path)
        db["k"] = 1
        time.sleep(0.3)
        lock.rollback()
        lock.close()
        with pytest.raises(dictsqlite.DatabaseClosedError):
            db.get("k")
    finally:
        logger.removeHandler(h)
        db.close()
    with dictsqlite.DictSQLiteV4(path, read_only=True) as d:
        assert d["k"] == 1  # close() committed it


def test_logging_leaks_nothing(tmp_path):
    import gc
    import tracemalloc

    logger = logging.getLogger(LOGGER)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # records reach the NullHandler only: nothing keeps them
    try:
        db = dictsqlite.DictSQLiteV4(str(tmp_path / "a.db"), persist_mode="lazy")

        def work():
            for i in range(200):
                db[f"k{i}"] = i
                db.flush()
            dictsqlite.DictSQLiteV4(str(tmp_path / "b.db")).close()

        work()
        gc.collect()
        tracemalloc.start()
        try:
            work()
            gc.collect()
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(5):
                work()
            gc.collect()
            growth = (tracemalloc.get_traced_memory()[0] - base) / 5
        finally:
            tracemalloc.stop()
        db.close()
    finally:
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    assert growth < 2048, growth


def test_a_flush_after_a_failed_background_flush_commits_and_warns_instead_of_raising(
        tmp_path, caplog):
    path = str(tmp_path / "a.db")
    db = dictsqlite.DictSQLiteV4(path, persist_mode="lazy", flush_interval_ms=20, timeout=0.05)
    try:
        lock = hold_write_lock(path)
        db["k"] = 1
        time.sleep(0.5)
        lock.rollback()
        lock.close()
        with pytest.warns(RuntimeWarning, match="background flusher failed"):
            db.flush()  # the first call after the failure: it commits them
    finally:
        db.close()
    with dictsqlite.DictSQLiteV4(path, read_only=True) as d:
        assert d["k"] == 1
