"""Acknowledged writes survive SIGKILL, as DESIGN.md's durability table says.

Each test runs a real writer process, kills it with SIGKILL at a point it
reports over a pipe, then checks the file from this process: the data the
writer acknowledged is present and PRAGMA integrity_check says ok."""
import os
import signal
import subprocess
import sys

import pytest

import dictsqlite
from dictsqlite import DictSQLiteV4

from conftest import integrity_ok

WRITER = r"""
import sys
from dictsqlite import DictSQLiteV4
path, mode, action = sys.argv[1], sys.argv[2], sys.argv[3]
kw = {"persist_mode": mode}
if mode == "lazy":
    kw["enable_async"] = False   # nothing but flush() may commit
db = DictSQLiteV4(path, **kw)
i = 0
while True:
    db[f"k{i:07d}"] = {"i": i, "pad": "x" * 100}
    if action == "delete" and i % 2 == 1:
        del db[f"k{i - 1:07d}"]
    if mode == "lazy" and i == 499:
        db.flush()
        print("flushed", i, flush=True)
    elif mode != "lazy":
        print(i, flush=True)  # acknowledged: the write returned
    i += 1
"""


def start_writer(path, mode, action="set"):
    env = dict(os.environ)
    pkg_dir = os.path.dirname(os.path.dirname(dictsqlite.__file__))
    env["PYTHONPATH"] = pkg_dir + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-c", WRITER, path, mode, action],
                            stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("run", range(3))
def test_writethrough_write_that_returned_survives_sigkill(db_path, run):
    proc = start_writer(db_path, "writethrough")
    last = -1
    target = 300 + 250 * run  # kill at different points
    for line in proc.stdout:
        last = int(line)
        if last >= target:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert integrity_ok(db_path)
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        for i in range(last + 1):
            assert db[f"k{i:07d}"] == {"i": i, "pad": "x" * 100}
        assert len(db) >= last + 1


def test_writethrough_deletes_that_returned_survive_sigkill(db_path):
    proc = start_writer(db_path, "writethrough", "delete")
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 401:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert integrity_ok(db_path)
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        for i in range(last + 1):
            deleted = i % 2 == 0 and i + 1 <= last
            assert (f"k{i:07d}" in db) is not deleted, i


def test_lazy_writes_survive_sigkill_after_flush(db_path):
    proc = start_writer(db_path, "lazy")
    line = proc.stdout.readline()
    assert line.startswith("flushed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert integrity_ok(db_path)
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        assert len(db) >= 500
        for i in range(500):
            assert db[f"k{i:07d}"]["i"] == i


def test_integrity_holds_after_sigkill_during_bulk_flush(db_path):
    code = r"""
import sys
from dictsqlite import DictSQLiteV4
db = DictSQLiteV4(sys.argv[1], persist_mode="lazy", enable_async=False)
db.update({f"a{i}": i for i in range(1000)})
db.flush()
print("ready", flush=True)
db.update({f"b{i}": "y" * 200 for i in range(200000)})
db.flush()
print("done", flush=True)
"""
    env = dict(os.environ)
    pkg_dir = os.path.dirname(os.path.dirname(dictsqlite.__file__))
    env["PYTHONPATH"] = pkg_dir + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-c", code, db_path], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    import time

    time.sleep(0.3)  # somewhere inside the second update or flush
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert integrity_ok(db_path)
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        n_b = sum(1 for k in db.keys() if k.startswith("b"))
        assert n_b in (0, 200000)  # the flush is one transaction
        assert all(db[f"a{i}"] == i for i in range(1000))
