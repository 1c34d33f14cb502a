"""rekey (CLI) and DictSQLiteV4._rekey: a new password, encryption of a
plaintext file in place, decryption; one transaction, so a failure, a fault
or a kill -9 leaves the file as it was."""
import inspect
import os
import signal
import subprocess
import sys
import time

import pytest

from dictsqlite import DictSQLiteV4

from cli_helpers import cli, cli_env, fill, one_line, raw_state


def values(path, password=None):
    kw = {"encryption_password": password} if password else {}
    with DictSQLiteV4(path, read_only=True, **kw) as db:
        return {t: dict(db.table(t).items()) for t in db.tables() if t != "main"} | {
            "main": {k: db[k] for k in db.keys() if k != "evil"}}


def opens_with(path, password):
    try:
        values(path, password)
        return True
    except ValueError:
        return False


@pytest.fixture
def plain_db(tmp_path):
    path = str(tmp_path / "r.db")
    fill(path)
    return path


def test_encrypt_then_change_the_password_then_decrypt(plain_db, tmp_path):
    before_raw = raw_state(plain_db)
    before = values(plain_db)
    r = cli("rekey", plain_db, env={"DICTSQLITE_NEW_PASSWORD": "one"})
    assert r.returncode == 0, r.stderr
    assert "encrypted" in r.stdout
    assert values(plain_db, "one") == before and raw_state(plain_db, "one") == before_raw
    assert not opens_with(plain_db, "two")
    with DictSQLiteV4(plain_db, read_only=True) as db:  # no password: locked
        assert db.stats()["encryption_enabled"] is False
        with pytest.raises(ValueError, match="encrypted"):
            db.table("j")["j1"]
    old = tmp_path / "old.txt"
    old.write_text("one\n")
    r = cli("rekey", plain_db, "--password-file", old, env={"DICTSQLITE_NEW_PASSWORD": "two"})
    assert r.returncode == 0, r.stderr
    assert values(plain_db, "two") == before
    assert not opens_with(plain_db, "one")
    r = cli("rekey", plain_db, "--decrypt", env={"DICTSQLITE_PASSWORD": "two"})
    assert r.returncode == 0, r.stderr
    assert values(plain_db) == before and raw_state(plain_db) == before_raw


def test_a_wrong_current_password_changes_nothing(plain_db):
    assert cli("rekey", plain_db, env={"DICTSQLITE_NEW_PASSWORD": "one"}).returncode == 0
    with open(plain_db, "rb") as f:
        image = f.read()
    r = cli("rekey", plain_db, env={"DICTSQLITE_PASSWORD": "wrong",
                                    "DICTSQLITE_NEW_PASSWORD": "two"})
    assert r.returncode == 1
    assert "wrong encryption_password" in one_line(r.stderr)
    with open(plain_db, "rb") as f:
        assert f.read() == image
    r = cli("rekey", plain_db, env={"DICTSQLITE_NEW_PASSWORD": "two"})  # no current one
    assert r.returncode == 1 and "current password" in one_line(r.stderr)


def test_rekey_needs_a_new_password_and_decrypt_needs_an_encrypted_file(plain_db):
    r = cli("rekey", plain_db)
    assert r.returncode == 1 and "new password" in one_line(r.stderr)
    r = cli("rekey", plain_db, "--decrypt")
    assert r.returncode == 1 and "not encrypted" in one_line(r.stderr)


def test_rekey_is_refused_while_another_process_has_the_file_open(plain_db):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom dictsqlite import DictSQLiteV4\n"
         "db = DictSQLiteV4(sys.argv[1]); db['x'] = 1\nprint('open', flush=True)\n"
         "time.sleep(60)", plain_db], stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert holder.stdout.readline().strip() == "open"
        r = cli("rekey", plain_db, env={"DICTSQLITE_NEW_PASSWORD": "one"})
        assert r.returncode == 1
        assert f"pid {holder.pid}" in one_line(r.stderr)
    finally:
        holder.kill()
        holder.wait()
    assert cli("rekey", plain_db, env={"DICTSQLITE_NEW_PASSWORD": "one"}).returncode == 0


def test_the_instance_keeps_working_with_the_new_key(tmp_path):
    path = str(tmp_path / "live.db")
    with DictSQLiteV4(path, persist_mode="lazy", hot_capacity=10) as db:
        db.update({f"k{i}": i for i in range(100)})
        db["pending"] = "not flushed yet"
        db._rekey("fresh")
        db["after"] = [1]
        assert db["k5"] == 5 and db["k99"] == 99  # cold reads decrypt with the new key
        assert db.stats()["encryption_enabled"] is True
    with DictSQLiteV4(path, encryption_password="fresh") as db:
        assert db["pending"] == "not flushed yet" and db["after"] == [1] and len(db) == 102
        db._rekey(None)
    with DictSQLiteV4(path) as db:
        assert db["k7"] == 7 and len(db) == 102


def test_rekey_errors(tmp_path):
    with DictSQLiteV4(str(tmp_path / "m.db"), persist_mode="memory") as db:
        with pytest.raises(ValueError, match="memory"):
            db._rekey("x")
    path = str(tmp_path / "e.db")
    with DictSQLiteV4(path) as db:
        db["a"] = 1
        with pytest.raises(ValueError, match="not encrypted"):
            db._rekey(None)
        with pytest.raises(ValueError, match="empty"):
            db._rekey("")
        with pytest.raises(TypeError):
            db._rekey(b"bytes")
    from dictsqlite import ReadOnlyError

    with DictSQLiteV4(path, read_only=True) as db:
        with pytest.raises(ReadOnlyError):
            db._rekey("x")


REKEY_BIG = r"""
import sys
from dictsqlite import DictSQLiteV4
db = DictSQLiteV4(sys.argv[1], encryption_password="old", enable_async=False)
print("go", flush=True)
db._rekey("new")
print("done", flush=True)
"""


def test_kill_9_during_a_rekey_of_a_big_file_leaves_the_old_password_working(tmp_path):
    path = str(tmp_path / "big.db")
    expected = {f"k{i:06d}": "v" * 150 + str(i) for i in range(100_000)}
    with DictSQLiteV4(path, storage_mode="json", encryption_password="old") as db:
        db.update(expected)
    killed_midway = 0
    for delay in (0.3, 0.6, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", REKEY_BIG, path], stdout=subprocess.PIPE,
                                text=True, env=cli_env())
        assert proc.stdout.readline().strip() == "go"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # atomic: exactly one password opens the file, and it reads everything
        new_ok, old_ok = opens_with(path, "new"), opens_with(path, "old")
        assert new_ok != old_ok
        if new_ok:  # the commit landed before the kill: put the old password back
            with DictSQLiteV4(path, storage_mode="json", encryption_password="new") as db:
                assert dict(db.items()) == expected
                db._rekey("old")
            continue
        killed_midway += 1
        with DictSQLiteV4(path, storage_mode="json", encryption_password="old") as db:
            assert len(db) == len(expected)
            assert dict(db.items()) == expected
    assert killed_midway >= 1, "every rekey finished before the kill: make the file bigger"


@pytest.fixture
def native():
    from dictsqlite import _native

    if not hasattr(_native, "_inject_fault"):
        pytest.skip("needs a fault-injection build: bash scripts/faults.sh")
    return _native


@pytest.mark.parametrize("kind", ["step", "prepare", "evp"])
def test_a_fault_anywhere_in_a_rekey_leaves_the_file_and_the_instance_as_they_were(
        tmp_path, native, kind):
    path = str(tmp_path / "f.db")
    expected = {f"k{i}": "x" * (i * 200) for i in range(12)}  # kv and kv_large rows
    with DictSQLiteV4(path, encryption_password="old") as db:
        db.update(expected)
    faults = 0
    for n in range(1, 400):
        with DictSQLiteV4(path, encryption_password="old", hot_capacity=4) as db:
            native._inject_fault(kind, n)
            try:
                db._rekey("new")
            except (OSError, ValueError, MemoryError):
                faults += 1
                native._inject_fault(kind, 0)
                assert dict(db.items()) == expected  # still the old key, still readable
            else:
                calls = native._fault_count(kind)
                native._inject_fault(kind, 0)
                db._rekey("old")  # back, for the next round
                if calls < n:
                    break  # the rekey made fewer calls than n: swept them all
        with DictSQLiteV4(path, encryption_password="old") as again:
            assert dict(again.items()) == expected
    assert faults >= 1


def test_rekey_has_a_text_signature(tmp_path):
    with DictSQLiteV4(str(tmp_path / "s.db")) as db:
        assert str(inspect.signature(db._rekey)) == "(new_password, /)"
