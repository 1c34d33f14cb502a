"""The command line (issue 13, part 2), run as a real subprocess
(`python -m dictsqlite ...`) against real files written by DictSQLiteV4 in
every storage mode, with tables and with a password."""
import json
import os
import pickle
import sqlite3
import subprocess
import sys

import pytest

from dictsqlite import DictSQLiteV4

from cli_helpers import cli, cli_env, fill, listing, one_line, raw_state

PW = "correct horse"


@pytest.fixture
def plain_db(tmp_path):
    path = str(tmp_path / "plain.db")
    fill(path, marker=str(tmp_path / "PWNED"))
    return path


@pytest.fixture
def secret_db(tmp_path):
    path = str(tmp_path / "secret.db")
    fill(path, password=PW, marker=str(tmp_path / "PWNED"))
    return path


@pytest.fixture
def pwfile(tmp_path):
    p = tmp_path / "pw.txt"
    p.write_text(PW + "\n")
    return str(p)


# ---- exit codes, errors, nothing created -------------------------------------


def test_info_on_a_missing_path_exits_1_with_one_line_and_creates_nothing(tmp_path):
    before = listing(tmp_path)
    r = cli("info", tmp_path / "typo.db")
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert "typo.db" in line and "no such file" in line
    assert r.stdout == ""
    assert listing(tmp_path) == before


@pytest.mark.parametrize("command", ["get", "keys", "dump", "verify", "del", "vacuum",
                                     "rekey"])
def test_every_command_on_a_missing_path_creates_nothing(tmp_path, command):
    extra = {"get": ["k"], "del": ["k"]}.get(command, [])
    r = cli(command, tmp_path / "typo.db", *extra)
    assert r.returncode == 1
    assert "no such file" in one_line(r.stderr)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("encrypted", [False, True])
def test_read_only_commands_leave_no_file_behind(plain_db, secret_db, pwfile, encrypted):
    path = secret_db if encrypted else plain_db
    d = os.path.dirname(path)
    for side in ("-dsgen", "-wal", "-shm"):
        if os.path.exists(path + side):
            os.unlink(path + side)
    before = listing(d)
    pw = ["--password-file", pwfile] if encrypted else []
    runs = [["info", path], ["info", "--json", path], ["get", path, "j1", "--table", "j", *pw],
            ["keys", path, *pw], ["dump", path, *pw], ["verify", path, *pw]]
    for args in runs:
        r = cli(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert listing(d) == before


def test_usage_errors_exit_2(plain_db):
    for args in (["nosuchcommand"], [], ["get", plain_db], ["keys", plain_db, "--limit", "x"]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_a_password_is_never_taken_from_argv(secret_db):
    # --password is a flag (prompt); a value after it is a usage error
    r = cli("keys", secret_db, "--password", PW)
    assert r.returncode == 2
    assert "unrecognized arguments" in r.stderr


def test_version_and_help_exit_0():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("dictsqlite ")
    r = cli("dump", "--help")
    assert r.returncode == 0 and "--table" in r.stdout


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello " * 1000)
    for command in ("info", "keys", "verify"):
        r = cli(command, bad)
        assert r.returncode == 1
        assert "notes.txt" in one_line(r.stderr)


def test_a_rust_dictsqlite_file_names_the_migrate_command(tmp_path):
    path = tmp_path / "rust.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE kv_store(key TEXT PRIMARY KEY, value BLOB)")
    con.commit()
    con.close()
    r = cli("info", path)
    assert r.returncode == 1
    assert "dictsqlite migrate" in one_line(r.stderr)


def test_debug_env_shows_the_traceback(tmp_path):
    r = cli("info", tmp_path / "typo.db", env={"DICTSQLITE_DEBUG": "1"})
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "CliError" in r.stderr


# ---- info ------------------------------------------------------------------------


def test_info_json_lists_tables_codecs_encryption_and_sizes(secret_db):
    r = cli("info", "--json", secret_db)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format_version"] == "2"
    assert info["tables"] == {"b": 3, "j": 5, "m": 3, "main": 8}
    assert info["encrypted"] is True
    assert info["kdf"]["algorithm"] == "argon2id" and info["kdf"]["t"] >= 1
    codecs = {(c["codec"], c["encrypted"]): c["count"] for c in info["codecs"]}
    assert codecs == {("pickle", True): 6, ("prepickled", True): 1, ("bytes", True): 4,
                      ("json", True): 5, ("msgpack", True): 3}
    assert info["file_bytes"] == os.path.getsize(secret_db)
    assert info["wal_bytes"] == 0


def test_info_text_output(plain_db):
    r = cli("info", plain_db)
    assert r.returncode == 0, r.stderr
    assert "encryption: off" in r.stdout
    assert "  main: 8 keys" in r.stdout and "  j: 5 keys" in r.stdout
    assert "  prepickled: 1" in r.stdout


# ---- get / set / del / keys ---------------------------------------------------------


def test_get_prints_json(plain_db):
    r = cli("get", plain_db, "j1", "--table", "j")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"a": 1, "b": [1.0, 2, "x"]}
    r = cli("get", plain_db, "m2", "--table", "m")
    assert json.loads(r.stdout) == 2 ** 70
    r = cli("get", plain_db, "b3", "--table", "b")
    assert json.loads(r.stdout) == {"$dictsqlite": "bytes", "b64": "gAQu"}


def test_get_refuses_a_pickle_unless_unpickle_then_only_the_safe_policy(plain_db, tmp_path):
    r = cli("get", plain_db, "p_dict")
    assert r.returncode == 1
    assert "--unpickle" in one_line(r.stderr)
    r = cli("get", plain_db, "p_dict", "--unpickle")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"a": [1, 2], "t": [1, "x"]}
    # a pickle that would run os.system: refused, and nothing ran
    r = cli("get", plain_db, "evil", "--unpickle")
    assert r.returncode == 1
    assert "safe policy" in one_line(r.stderr)
    assert not os.path.exists(tmp_path / "PWNED")
    # bytes that looked like a pickle read as a read does (restricted)
    r = cli("get", plain_db, "p_prepickled", "--unpickle")
    assert json.loads(r.stdout) == {"z": 1}


def test_get_a_missing_key_is_one_line(plain_db):
    r = cli("get", plain_db, "nope")
    assert r.returncode == 1
    assert "'nope'" in one_line(r.stderr)


def test_set_parses_json_by_default_and_raw_stores_the_string(tmp_path):
    path = str(tmp_path / "new.db")
    assert cli("set", path, "k", '{"a": [1, 2]}').returncode == 0
    assert cli("set", path, "s", "not json", "--raw").returncode == 0
    assert cli("set", path, "b", "bytes!", "--storage-mode", "bytes", "--table", "t").returncode == 0
    assert cli("set", path, "p", "[1, 2]", "--storage-mode", "pickle").returncode == 0
    r = cli("set", path, "bad", "{not json")
    assert r.returncode == 1 and "--raw" in one_line(r.stderr)
    r = cli("set", path, "x", "-", input='{"from": "stdin"}')
    assert r.returncode == 0, r.stderr
    with DictSQLiteV4(path) as db:
        assert db["k"] == {"a": [1, 2]} and db["s"] == "not json" and db["p"] == [1, 2]
        assert db["x"] == {"from": "stdin"} and "bad" not in db
        assert db.table("t")["b"] == b"bytes!"
        assert db._raw_get("k") == ("json", b'{"a":[1,2]}')
        assert db._raw_get("p")[0] == "pickle"


def test_del_and_keys(plain_db):
    r = cli("keys", plain_db, "--table", "j")
    assert r.stdout.splitlines() == ["j1", "j2", "j3", "j_large", "tagish"]
    r = cli("keys", plain_db, "--table", "j", "--prefix", "j", "--limit", "2")
    assert r.stdout.splitlines() == ["j1", "j2"]
    r = cli("keys", plain_db, "--table", "j", "--prefix", "j_large")
    assert r.stdout.splitlines() == ["j_large"]
    assert cli("del", plain_db, "j1", "j2", "--table", "j").returncode == 0
    r = cli("del", plain_db, "j1", "--table", "j")
    assert r.returncode == 1 and "'j1'" in one_line(r.stderr)
    assert cli("del", plain_db, "j1", "--table", "j", "--missing-ok").returncode == 0
    assert cli("keys", plain_db, "--table", "j").stdout.splitlines() == ["j3", "j_large", "tagish"]


def test_keys_of_a_large_table_page_through(tmp_path):
    path = str(tmp_path / "big.db")
    with DictSQLiteV4(path) as db:
        db.update({f"k{i:05d}": i for i in range(2500)})
    r = cli("keys", path)
    assert r.stdout.splitlines() == [f"k{i:05d}" for i in range(2500)]
    r = cli("keys", path, "--prefix", "k01")
    assert r.stdout.splitlines() == [f"k{i:05d}" for i in range(1000, 2000)]


# ---- passwords ------------------------------------------------------------------------


def test_an_encrypted_file_takes_its_password_from_a_file_or_the_environment(secret_db, pwfile):
    r = cli("keys", secret_db)
    assert r.returncode == 1 and "is encrypted" in one_line(r.stderr)
    expected = ["evil", "p_bytes", "p_dict", "p_large", "p_prepickled", "p_set", "p_tuple",
                "ключ"]
    r = cli("keys", secret_db, "--password-file", pwfile)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected
    r = cli("keys", secret_db, env={"DICTSQLITE_PASSWORD": PW})
    assert r.stdout.splitlines() == expected
    r = cli("keys", secret_db, env={"DICTSQLITE_PASSWORD": "wrong"})
    assert r.returncode == 1 and "wrong encryption_password" in one_line(r.stderr)
    # --password prompts, which needs a terminal
    r = cli("keys", secret_db, "--password")
    assert r.returncode == 1 and "not a terminal" in one_line(r.stderr)


def test_the_password_prompt_reads_from_the_terminal(secret_db):
    pty = pytest.importorskip("pty")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI with a terminal as stdin
        os.execve(sys.executable, [sys.executable, "-m", "dictsqlite", "keys", secret_db,
                                   "--password"], cli_env())
    import select
    import time

    def read_some(deadline):
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"no output from the CLI; so far: {out!r}")
        try:
            return os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            return b""

    out = b""
    deadline = time.monotonic() + 60
    while b"Password:" not in out:
        out += read_some(deadline)
    os.write(fd, (PW + "\n").encode())
    while chunk := read_some(deadline):
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"p_dict" in out and PW.encode() not in out


# ---- dump / load ------------------------------------------------------------------------


@pytest.mark.parametrize("encrypted", [False, True])
def test_dump_then_load_restores_every_value_with_its_codec_and_bytes(
        plain_db, secret_db, pwfile, tmp_path, encrypted):
    src = secret_db if encrypted else plain_db
    pw = ["--password-file", pwfile] if encrypted else []
    out = tmp_path / "dump.jsonl"
    r = cli("dump", src, "-o", out, *pw)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["dictsqlite_dump"] == 1
    assert len(lines) == 1 + 8 + 5 + 3 + 3
    # the destination gets a password of its own (or none)
    dst = str(tmp_path / "copy.db")
    env = {"DICTSQLITE_PASSWORD": "another"} if encrypted else None
    r = cli("load", dst, out, env=env)
    assert r.returncode == 0, r.stderr
    assert "loaded 19 entries into 4 tables" in r.stdout
    assert raw_state(dst, "another" if encrypted else None) == raw_state(
        src, PW if encrypted else None)
    with DictSQLiteV4(dst, read_only=True,
                      encryption_password="another" if encrypted else None) as db:
        assert db["p_dict"] == {"a": [1, 2], "t": (1, "x")}
        assert db["p_set"] == {1, 2, 3} and db["p_tuple"] == (1, "x", None)
        assert db["p_prepickled"] == {"z": 1}  # still read through the restricted path
        assert db.table("j")["tagish"] == {"$dictsqlite": "pickle", "b64": "gAROLg=="}
        assert db.table("j")["j3"] == 12345678901234567890123
        assert db.table("m")["m2"] == 2 ** 70
        assert db.table("b")["b1"] == b"\xff" * 2000 and db.table("b")["b2"] == b""
        assert db.stats()["encryption_enabled"] is encrypted
    assert not os.path.exists(tmp_path / "PWNED")  # nothing was unpickled


def test_dump_piped_into_load_and_table_override(plain_db, tmp_path):
    dump = subprocess.Popen([sys.executable, "-m", "dictsqlite", "dump", plain_db, "--table", "j"],
                            stdout=subprocess.PIPE, env=cli_env())
    dst = str(tmp_path / "copy.db")
    load = subprocess.run([sys.executable, "-m", "dictsqlite", "load", dst, "-", "--table", "x",
                           "--batch", "2"], stdin=dump.stdout, capture_output=True, text=True,
                          env=cli_env())
    dump.stdout.close()
    assert dump.wait() == 0
    assert load.returncode == 0, load.stderr
    assert raw_state(dst) == {"x": raw_state(plain_db)["j"]}


def test_load_of_a_bad_line_names_the_line(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text('{"table":"main","key":"a","value":1}\n'
                    '{"table":"main","key":"b","value":{"$dictsqlite":"nope","b64":""}}\n')
    r = cli("load", tmp_path / "x.db", dump)
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert "d.jsonl:2" in line and "unknown codec" in line


def test_load_accepts_hand_written_json_lines(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text('{ "key": "a", "table": "main", "value": {"x": [1, 2]} }\n\n'
                    '{"table": "main", "key": "b", "value": {"$dictsqlite": "bytes", '
                    '"b64": "AAE="}}\n')
    path = str(tmp_path / "x.db")
    assert cli("load", path, dump).returncode == 0
    with DictSQLiteV4(path) as db:
        assert db["a"] == {"x": [1, 2]} and db["b"] == b"\x00\x01"


def test_dump_to_a_pipe_prints_no_progress_and_a_terminal_gets_a_bar(plain_db):
    r = cli("dump", plain_db)
    assert r.returncode == 0 and r.stderr == ""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "dictsqlite", "dump", plain_db],
                          stdout=subprocess.PIPE, stderr=slave, env=cli_env(), timeout=60)
    os.close(slave)
    bar = os.read(master, 65536)
    os.close(master)
    assert proc.returncode == 0
    assert b"dump [" in bar and b"100.0%" in bar


# ---- verify -------------------------------------------------------------------------------


def test_verify_passes_on_a_good_file_without_unpickling(plain_db, tmp_path):
    r = cli("verify", plain_db)
    assert r.returncode == 0, r.stderr
    assert "ok: 19 values in 4 tables" in r.stdout
    assert not os.path.exists(tmp_path / "PWNED")
    # --unpickle: the os.system pickle is refused (and not run)
    r = cli("verify", plain_db, "--unpickle")
    assert r.returncode == 1
    assert "'evil'" in r.stderr and "safe policy" in r.stderr
    assert not os.path.exists(tmp_path / "PWNED")


def _damage(path, table, key, value, codec=None):
    con = sqlite3.connect(path)
    for t in ("kv", "kv_large"):
        if codec is None:
            con.execute(f"UPDATE {t} SET value=? WHERE tbl=? AND key=?", (value, table, key))
        else:
            con.execute(f"UPDATE {t} SET value=?, codec=? WHERE tbl=? AND key=?",
                        (value, codec, table, key))
    con.commit()
    con.close()


def test_verify_names_each_key_that_fails_and_exits_1(plain_db):
    _damage(plain_db, "j", "j2", "{broken")
    _damage(plain_db, "m", "m1", b"\xc1")
    _damage(plain_db, "main", "p_dict", b"\x80\x04\x95garbage")
    _damage(plain_db, "b", "b2", b"", codec=9)
    r = cli("verify", plain_db)
    assert r.returncode == 1
    bad = [line for line in r.stderr.splitlines() if line.startswith("dictsqlite: ")]
    assert len(bad) == 4, r.stderr
    for key in ("'j2'", "'m1'", "'p_dict'", "'b2'"):
        assert any(key in line for line in bad), (key, r.stderr)
    assert "FAILED: 4 of 19 values" in r.stdout


def test_verify_names_a_value_that_fails_to_decrypt(secret_db, pwfile):
    con = sqlite3.connect(secret_db)
    (blob,) = con.execute("SELECT value FROM kv WHERE tbl='j' AND key='j2'").fetchone()
    con.execute("UPDATE kv SET value=? WHERE tbl='j' AND key='j2'",
                (blob[:-1] + bytes([blob[-1] ^ 1]),))
    con.commit()
    con.close()
    r = cli("verify", secret_db, "--password-file", pwfile)
    assert r.returncode == 1
    bad = [line for line in r.stderr.splitlines() if line.startswith("dictsqlite: ")]
    assert len(bad) == 1 and "'j2'" in bad[0] and "decrypt" in bad[0], r.stderr
    assert "FAILED: 1 of 19 values" in r.stdout


# ---- vacuum -------------------------------------------------------------------------------


def test_vacuum_shrinks_the_file_and_prints_the_sizes(tmp_path):
    path = str(tmp_path / "v.db")
    with DictSQLiteV4(path) as db:
        db.update({f"k{i}": "x" * 500 for i in range(3000)})
        for i in range(2900):
            del db[f"k{i}"]
    before = os.path.getsize(path)
    r = cli("vacuum", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("before: ") and "\nafter: " in r.stdout
    assert os.path.getsize(path) < before / 3
    with DictSQLiteV4(path) as db:
        assert len(db) == 100 and db["k2999"] == "x" * 500


# ---- migrate ------------------------------------------------------------------------------


def test_migrate_without_the_migrate_module_is_one_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("dictsqlite.migrate") is not None:
        pytest.skip("dictsqlite.migrate is present (its own tests cover the command)")
    src = tmp_path / "src.db"
    src.write_bytes(b"")
    r = cli("migrate", src, tmp_path / "dst.db")
    assert r.returncode == 1
    assert "dictsqlite.migrate" in one_line(r.stderr)
    assert not os.path.exists(tmp_path / "dst.db")
