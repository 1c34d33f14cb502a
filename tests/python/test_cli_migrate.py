"""`python -m dictsqlite migrate SRC DST` in a real subprocess (the command
is the CLI helper's thin wrapper over dictsqlite.migrate.migrate)."""
import os
import shutil
import subprocess
import sys

import pytest

import dictsqlite

pytest.importorskip("dictsqlite.cli.cmd_migrate")

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "migrate")


def cli(*args, input=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(dictsqlite.__file__)) + os.pathsep + \
        env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "dictsqlite", "migrate", *args],
                          capture_output=True, text=True, env=env, input=input, timeout=120)


def test_migrate_a_rust_file(tmp_path):
    src = str(tmp_path / "old.db")
    shutil.copy(os.path.join(DATA, "rust_pickle.db"), src)
    dst = str(tmp_path / "new.db")
    proc = cli(src, dst)
    assert proc.returncode == 0, proc.stderr
    with dictsqlite.DictSQLiteV4(dst) as db:
        assert db.table("users")["alice"] == {"age": 30}


def test_migrate_an_encrypted_rust_file_with_a_password_file(tmp_path):
    src = str(tmp_path / "old.db")
    shutil.copy(os.path.join(DATA, "rust_encrypted.db"), src)
    pw = tmp_path / "pw"
    pw.write_text("s3cret pass\n")
    dst = str(tmp_path / "new.db")
    proc = cli(src, dst, "--password-file", str(pw))
    assert proc.returncode == 0, proc.stderr
    with dictsqlite.DictSQLiteV4(dst) as db:
        assert db.table("users")["alice"] == {"age": 30}


def test_a_taken_destination_is_one_line_and_exit_1(tmp_path):
    src = str(tmp_path / "old.db")
    shutil.copy(os.path.join(DATA, "rust_pickle.db"), src)
    dst = tmp_path / "taken.db"
    dst.write_bytes(b"x")
    proc = cli(src, str(dst))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "taken.db" in proc.stderr
    assert dst.read_bytes() == b"x"


def test_a_dbm_dumb_shelf_is_named_by_its_base_name(tmp_path):
    for ext in (".dir", ".dat"):
        shutil.copy(os.path.join(DATA, "shelve_dumb" + ext), tmp_path / ("shelf" + ext))
    dst = str(tmp_path / "new.db")
    proc = cli(str(tmp_path / "shelf"), dst)
    assert proc.returncode == 0, proc.stderr
    with dictsqlite.DictSQLiteV4(dst) as db:
        assert len(db) > 0


def test_a_missing_source_is_one_line_and_exit_1(tmp_path):
    proc = cli(str(tmp_path / "nope.db"), str(tmp_path / "new.db"))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope.db" in proc.stderr
    assert not os.path.exists(tmp_path / "new.db")


def test_keep_prefixes_leaves_table_like_keys_in_the_main_table(tmp_path):
    src = str(tmp_path / "old.db")
    shutil.copy(os.path.join(DATA, "rust_pickle.db"), src)
    dst = str(tmp_path / "new.db")
    proc = cli(src, dst, "--keep-prefixes")
    assert proc.returncode == 0, proc.stderr
    with dictsqlite.DictSQLiteV4(dst) as db:
        assert db["users:alice"] == {"age": 30} and db.tables() == ["main"]
