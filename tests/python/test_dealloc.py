"""Issue 11, defect 1: an instance freed while its final flush fails must
report it as Python reports errors in __del__ ("Exception ignored ..."),
naming the path and the error but no values, and free cleanly."""
import sqlite3

import pytest

from conftest import run_python

SCRIPT = r"""
import gc, sqlite3, sys
from dictsqlite import DictSQLiteV4
path, how = sys.argv[1], sys.argv[2]
d = DictSQLiteV4(path, persist_mode="lazy", enable_async=False, timeout=0.2)
for i in range(20):
    d[f"k{i}"] = "SECRET-VALUE-" + "x" * 5000
if how == "locked":
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
elif how == "readonly":
    import os, stat
    os.chmod(path, stat.S_IRUSR)
del d
gc.collect()
print("survived")
"""


@pytest.mark.parametrize("how", ["locked"])
def test_freeing_an_instance_whose_final_flush_fails(tmp_path, how):
    path = str(tmp_path / "d.db")
    proc = run_python(SCRIPT, path, how, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived" in proc.stdout
    assert "Exception ignored in: \"closing, as it was freed, DictSQLiteV4(" in proc.stderr
    assert path in proc.stderr
    assert "locked" in proc.stderr
    assert "SECRET-VALUE" not in proc.stderr  # the repr (with values) is not printed
    assert len(proc.stderr) < 2000
    # nothing half-written: the file is still a good (empty) database
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
