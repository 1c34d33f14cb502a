"""Make the committed migration fixtures in tests/data/migrate/ with the real
libraries, each in its own interpreter:

  the Rust package dictsqlite 2.x   RUST_PYTHON  (default: the benchmark peer venv)
  sqlitedict                        PEER_PYTHON  (default: the benchmark peer venv)
  dbm.sqlite3 (Python 3.13+)        PY313        (default: pyenv's 3.13.0)
  dbm.dumb                          this interpreter

Each fixture NAME.<ext> comes with NAME.expected.pickle: {"format": ...,
"tables": {table: {key: value}}}, the values as the writing library reads
them back after reopening the file (for the Rust package that is what its
own db[key] returns). Tests migrate each fixture and compare every value.

    python scripts/make_migration_fixtures.py [OUTDIR]
"""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "benchmarks", ".peers")
if not os.path.isdir(PEERS):  # a worktree: the peers live in the main checkout
    PEERS = "/work/main/benchmarks/.peers"
RUST_PYTHON = os.environ.get("RUST_PYTHON", os.path.join(PEERS, "rust", "bin", "python"))
PEER_PYTHON = os.environ.get("PEER_PYTHON", os.path.join(PEERS, "py", "bin", "python"))
PY313 = os.environ.get("PY313", "/root/.pyenv/versions/3.13.0/bin/python3")

# The values, as Python source every interpreter runs (the same text, so the
# same values, in each).
COMMON = textwrap.dedent('''
    import os, pickle, sys
    OUT = sys.argv[1]
    def expect(name, fmt, tables):
        with open(os.path.join(OUT, name + ".expected.pickle"), "wb") as f:
            pickle.dump({"format": fmt, "tables": tables}, f, protocol=4)
    def fresh(*paths):
        for p in paths:
            for s in ("", "-wal", "-shm", ".dat", ".dir", ".bak"):
                if os.path.exists(p + s):
                    os.unlink(p + s)
    JSONISH = {"s": "text", "unicode": "\\u00e9t\\u00e9 \\u2603", "i": 42, "neg": -7,
               "f": 1.5, "t": True, "n": None, "l": [1, 2, "x", [3.25]],
               "d": {"a": 1, "b": [True, None, {"c": "d"}]}, "big": 2**62,
               "empty": "", "key with spaces": {"nested": {"deep": [1, {"x": []}]}}}
    PICKLED = dict(JSONISH, b=b"\\x00\\x01raw\\xff", tup=(1, "two", 3.0), st={1, 2, 3},
                   cplx=complex(1, -2), huge=2**100, fs=frozenset({"a"}))
    BYTES = {"zero": b"\\x00\\x01\\x02", "hello": b"hello", "all": bytes(range(256)),
             "pickle_lookalike": b"\\x80\\x04K\\x01.", "digits": b"123"}
''')

RUST = COMMON + textwrap.dedent('''
    from dictsqlite import DictSQLiteV4
    import sqlite3
    def reread(path, tables, **kw):
        """What the Rust package reads back, per table, after reopening. A
        value it cannot read back itself (pickle mode keeps bytes that start
        with 0x00 as given, then fails to unpickle them) is expected as the
        bytes stored: the migration copies those as bytes."""
        out = {}
        db = DictSQLiteV4(path, **kw)
        for t, items in tables.items():
            view = db if t == "main" else db.table(t)
            out[t] = {}
            for k in items:
                try:
                    out[t][k] = view[k]
                except Exception:
                    con = sqlite3.connect(path)
                    full = k if t == "main" else t + ":" + k
                    out[t][k] = bytes(con.execute(
                        "SELECT value FROM kv_store WHERE key = ?", (full,)).fetchone()[0])
                    con.close()
        db.close()
        return out
    def make(name, mode, tables, **kw):
        path = os.path.join(OUT, name + ".db")
        fresh(path)
        db = DictSQLiteV4(path, storage_mode=mode, **kw)
        for t, items in tables.items():
            view = db if t == "main" else db.table(t)
            for k, v in items.items():
                view[k] = v
        db.close()
        got = reread(path, tables, storage_mode=mode, **kw)
        expect(name, "rust", got)
    make("rust_pickle", "pickle", {"main": dict(PICKLED, pre=pickle.dumps({"pre": [1]}),
         plain=b"plain bytes"), "users": {"alice": {"age": 30},
         "bob": [1, 2]}, "logs": {"1": "first", "2": b"second"}})
    make("rust_json", "json", {"main": JSONISH, "cfg": {"debug": False}})
    make("rust_jsonb", "jsonb", {"main": JSONISH, "cfg": {"debug": False, "n": 5}})
    make("rust_bytes", "bytes", {"main": BYTES, "blobs": {"x": b"\\xde\\xad"}})
    make("rust_separate", "pickle", {"main": {"a": 1, "b": "two"},
         "users": {"alice": {"age": 30}}}, table_mode="separate")
    make("rust_encrypted", "pickle", {"main": {k: v for k, v in PICKLED.items() if k != "b"},
                                      "users": {"alice": {"age": 30}}},
         encryption_password="s3cret pass")
    make("rust_encrypted_json", "json", {"main": JSONISH}, encryption_password="s3cret pass")
''')

SQLITEDICT = COMMON + textwrap.dedent('''
    import json
    from sqlitedict import SqliteDict
    path = os.path.join(OUT, "sqlitedict.sqlite")
    fresh(path)
    tables = {"unnamed": PICKLED, "second": {"k1": [1, 2], "k2": {"x": b"y"}}}
    for t, items in tables.items():
        with SqliteDict(path, tablename=t, autocommit=False) as d:
            d.update(items)
            d.commit()
    with SqliteDict(path, tablename="jsonenc", encode=json.dumps, decode=json.loads) as d:
        d.update({"a": {"b": [1, 2]}, "c": "text"})
        d.commit()
    got = {}
    for t in ("unnamed", "second"):
        with SqliteDict(path, tablename=t, flag="r") as d:
            got[t] = dict(d.items())
    with SqliteDict(path, tablename="jsonenc", flag="r", decode=json.loads) as d:
        got["jsonenc"] = dict(d.items())
    expect("sqlitedict", "sqlitedict", got)
''')

SHELVE_DBM = COMMON + textwrap.dedent('''
    import dbm.dumb, shelve
    KIND = sys.argv[2]
    if KIND == "sqlite3":
        import dbm.sqlite3 as backend
        ext = ".sqlite3"
    else:
        backend = dbm.dumb
        ext = ""
    path = os.path.join(OUT, "shelve_" + KIND + ext)
    fresh(path)
    with shelve.Shelf(backend.open(path, "c")) as s:
        s.update(PICKLED)
        s["\\u30ad\\u30fc"] = "unicode key"
    with shelve.Shelf(backend.open(path, "r")) as s:
        got = dict(s.items())
    expect("shelve_" + KIND, "shelve", {"main": got})
    path = os.path.join(OUT, "dbm_" + KIND + ext)
    fresh(path)
    with backend.open(path, "c") as d:
        for k, v in BYTES.items():
            d[k] = v
    with backend.open(path, "r") as d:
        got = {k.decode("utf-8"): bytes(d[k]) for k in d.keys()}
    expect("dbm_" + KIND, "dbm", {"main": got})
    for p in (path, os.path.join(OUT, "shelve_" + KIND + ext)):
        if os.path.exists(p + ".bak"):
            os.unlink(p + ".bak")  # dbm.dumb's backup of .dir: not needed
''')


def checkpoint(out):
    """Fold any -wal left by a writer into its database, so the committed
    fixture is one self-contained file (the Rust package's connection pool
    may outlive close() until its process exits)."""
    import sqlite3

    for name in os.listdir(out):
        path = os.path.join(out, name)
        if os.path.exists(path + "-wal"):
            con = sqlite3.connect(path)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
        for side in ("-wal", "-shm"):
            if os.path.exists(path + side) and os.path.getsize(path + side) == 0:
                os.unlink(path + side)


def run(python, code, *args):
    subprocess.run([python, "-c", code, *args], check=True)


def main(argv):
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(ROOT, "tests", "data", "migrate"))
    os.makedirs(out, exist_ok=True)
    run(RUST_PYTHON, RUST, out)
    run(PEER_PYTHON, SQLITEDICT, out)
    run(PY313, SHELVE_DBM, out, "sqlite3")
    run(sys.executable, SHELVE_DBM, out, "dumb")
    checkpoint(out)
    for name in sorted(os.listdir(out)):
        print(f"{os.path.getsize(os.path.join(out, name)):8d}  {name}")


if __name__ == "__main__":
    main(sys.argv)
