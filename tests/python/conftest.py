"""Shared fixtures: real database files in per-test temporary directories,
and a helper that runs a Python script in a real subprocess."""
import os
import subprocess
import sys
import textwrap

import pytest

import dictsqlite

PERSIST_MODES = ["memory", "lazy", "writethrough"]


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "test.db")


@pytest.fixture(params=PERSIST_MODES)
def persist_mode(request):
    return request.param


@pytest.fixture
def open_db(db_path):
    """open_db(**kw) -> a DictSQLiteV4 on db_path, closed after the test."""
    opened = []

    def _open(path=None, **kw):
        db = dictsqlite.DictSQLiteV4(path or db_path, **kw)
        opened.append(db)
        return db

    yield _open
    for db in opened:
        if not db.closed:
            db.close()


def run_python(code, *args, timeout=120, check=True, env=None):
    """Run code in a fresh interpreter that imports the same dictsqlite."""
    full_env = dict(os.environ)
    pkg_dir = os.path.dirname(os.path.dirname(dictsqlite.__file__))
    full_env["PYTHONPATH"] = pkg_dir + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def integrity_ok(path):
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
