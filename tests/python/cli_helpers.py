"""Shared by the test_cli*.py suites: run `python -m dictsqlite` as a real
subprocess, and build real database files with every storage mode."""
import os
import pickle
import subprocess
import sys

import dictsqlite
from dictsqlite import DictSQLiteV4

PKG_DIR = os.path.dirname(os.path.dirname(dictsqlite.__file__))
PASSWORD_ENVS = ("DICTSQLITE_PASSWORD", "DICTSQLITE_DST_PASSWORD", "DICTSQLITE_NEW_PASSWORD",
                 "DICTSQLITE_DEBUG")


def cli_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in PASSWORD_ENVS}
    env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
    if extra:
        env.update(extra)
    return env


def cli(*args, env=None, input=None, timeout=120, cwd=None, stdin=subprocess.DEVNULL):
    """Run the CLI; returns the CompletedProcess (text mode)."""
    kw = {"input": input} if input is not None else {"stdin": stdin}
    return subprocess.run([sys.executable, "-m", "dictsqlite", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=cli_env(env),
                          cwd=cwd, **kw)


def listing(d):
    """Every file in d with its size and mtime: to see that nothing changed."""
    return sorted((n, os.stat(os.path.join(d, n)).st_size,
                   os.stat(os.path.join(d, n)).st_mtime_ns) for n in os.listdir(d))


class Evil:
    """Its pickle calls os.system: loading it must never happen."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def fill(path, password=None, marker=None):
    """A file with a table per storage mode (tables: main = pickle, j = json,
    m = jsonb, b = bytes), small and large values (kv and kv_large), a pickle
    of a class, bytes that look like a pickle, and a JSON value shaped like
    the dump's tag. marker: also store an Evil pickle under 'evil'."""
    kw = {"encryption_password": password} if password else {}
    with DictSQLiteV4(path, storage_mode="pickle", **kw) as db:
        db.update({
            "p_dict": {"a": [1, 2], "t": (1, "x")},
            "p_tuple": (1, "x", None),
            "p_set": {1, 2, 3},
            "p_prepickled": pickle.dumps({"z": 1}, protocol=4),
            "p_bytes": b"\x00\x01raw",
            "p_large": "x" * 5000,
            "ключ": "значение",
        })
        if marker:
            db["evil"] = Evil(marker)
    with DictSQLiteV4(path, storage_mode="json", table_name="j", **kw) as db:
        db.update({
            "j1": {"a": 1, "b": [1.0, 2, "x"]},
            "j2": "a string",
            "j3": 12345678901234567890123,
            "j_large": ["y" * 100] * 20,
            "tagish": {"$dictsqlite": "pickle", "b64": "gAROLg=="},
        })
    with DictSQLiteV4(path, storage_mode="jsonb", table_name="m", **kw) as db:
        db.update({"m1": {"k": [1, 2, 3]}, "m2": 2 ** 70, "m3": "s"})
    with DictSQLiteV4(path, storage_mode="bytes", table_name="b", **kw) as db:
        db.update({"b1": b"\xff" * 2000, "b2": b"", "b3": b"\x80\x04."})


def raw_state(path, password=None):
    """{table: [(key, codec, payload), ...]} of every table."""
    kw = {"encryption_password": password} if password else {}
    with DictSQLiteV4(path, read_only=True, **kw) as db:
        return {t: db.table(t)._raw_items() for t in db.tables()}


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dictsqlite: "), stderr
    assert "Traceback" not in stderr
    return lines[0]
