"""One batch of the stored-value fuzz test (tests/python/test_fuzz_values.py),
run in its own interpreter so that a crash is a dead subprocess, not a dead
test run.

    PYTHONPATH=build/stage python3 tests/fuzz/fuzz_values_worker.py \\
        KIND SEED STORAGE_MODE PERSIST_MODE CASES WORKDIR

KIND is one of:
  values     a database written by dictsqlite, then its rows' value and codec
             columns (kv and kv_large) overwritten through the sqlite3 module:
             random bytes, bit flips, truncations, splices, seed-corpus
             values, other SQLite types, random codec bytes and flags, rows
             moved or copied to the other table. A case is one mutated row.
  files      the database file itself damaged: truncated, replaced by
             non-SQLite bytes, a valid SQLite header followed by garbage,
             flipped bytes, pages zeroed or swapped, a garbage -wal file,
             hostile schema and metadata. A case is one damaged file.
  columns    the tbl and key columns stored as another SQLite type (a BLOB of
             the same text, an integer, a real) in a table of 300 keys, so
             that key and table scans cross pages. A case is one such row.
  encrypted  an encrypted database (encryption_password) with flipped,
             truncated, swapped or re-flagged ciphertext and damaged key
             metadata, opened with and without the password. A case is one
             mutated row or metadata entry.

Everything is derived from SEED (random.Random), so a batch replays
exactly. Before each step the worker prints "STEP <case> <what>" (flushed),
so after a crash the last such line names the case. At the end it prints
one line "RESULT <json>": cases run, exceptions seen per operation, and
violations (a SystemError, a wrong type of error for a corrupt value, an
intact row that read back wrong).
"""
import json
import os
import random
import shutil
import sqlite3
import struct
import sys
import traceback

import dictsqlite
from dictsqlite import CorruptValueError, DictSQLiteV4

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
PASSWORD = "fuzz-password"

# ---------------------------------------------------------------- values


def base_values(storage_mode, rng):
    """(key, value) pairs that storage_mode stores, small ones for kv and
    some over DS_STORE_SMALL_VALUE_MAX (800 bytes) for kv_large."""
    jsonish = [None, True, False, 0, -7, 2**40, 2**70, -(2**65), 1.5, -0.0, "", "text",
               "é€😀\x00", [1, 2, [3]], {"a": 1, "b": [None, "x"]}, list(range(400)),
               {"k%d" % i: "v" * 20 for i in range(60)}, "L" * 1500, [[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]
    if storage_mode == "bytes":
        values = [b"", b"\x00", b"\x80\x04.", b"plain", bytes(range(256)), b"B" * 2000,
                  b"\x80\x05K\x01.", bytes(rng.randrange(256) for _ in range(900))]
    elif storage_mode == "pickle":
        import collections
        import datetime
        import decimal
        values = jsonish + [b"raw bytes", b"\x80\x04K\x05.", (1, "a", (2.5,)), {1, 2, 3},
                            frozenset("ab"), 3 + 4j, bytearray(b"ba"),
                            datetime.datetime(2024, 1, 2, 3, 4, 5),
                            decimal.Decimal("1.25"), collections.OrderedDict(a=1),
                            {"big": b"x" * 3000, "t": (None,)}]
    else:
        values = jsonish
    return [("k%03d" % i, v) for i, v in enumerate(values)]


def corpus_values(rng):
    out = []
    for sub in ("json", "msgpack"):
        d = os.path.join(CORPUS, sub)
        if os.path.isdir(d):
            names = sorted(os.listdir(d))
            for name in rng.sample(names, min(8, len(names))):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
    return out


def hostile_pickles():
    """Pickles that are malformed in ways a bit flip rarely finds."""
    return [
        b"\x80\x04\x95" + struct.pack("<Q", 1 << 62) + b"K\x01.",  # frame of 2^62 bytes
        b"\x80\x04\x95" + struct.pack("<Q", 3) + b"K\x01.",        # frame longer than data
        b"\x80\x04B\xff\xff\xff\x7f.",                             # BINBYTES past the end
        b"\x80\x04\x8e" + struct.pack("<Q", 1 << 63) + b".",       # BINBYTES8 2^63
        b"\x80\x04\x8a\xff\xff\xff\x7f.",                          # LONG4 past the end
        b"\x80\x04h\x07.",                                         # BINGET of an empty memo
        b"\x80\x04(" * 5000 + b".",                                # many MARKs
        b"\x80\x04" + b"]" * 20000 + b"." ,                         # deep stack of lists
        b"\x80\x04" + b"](" * 3000 + b"e" * 3000 + b".",          # nested APPENDS
        b"\x80\x05\x97.",                                          # NEXT_BUFFER, no buffers
        b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.",   # a forbidden global
        b"\x80\x04\x8c\x02os\x8c\x06getpid\x93)R.",                 # reduce (harmless call)
        b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u.",
        b"\x80\x04.", b".", b"", b"\x80", b"\x80\x06K\x01.",
    ]


CODECS = [0, 1, 2, 3, 4, 5, 14, 15, 0x11, 0x12, 0x13, 0x14, 0x21, 0x22, 0x23, 0x24,
          0x41, 0x42, 0x44, 0x61, 0x81, 0x83, 0xF1, 0xFF, 256 + 1, 256 + 3, -1, -255,
          2**31, 2**40 + 2, -(2**63)]


def mutate_bytes(rng, b, others):
    b = bytes(b)
    op = rng.choice(["random", "flip", "flip", "truncate", "extend", "splice", "byte", "insert"])
    if op == "random":
        return op, rng.randbytes(rng.choice([0, 1, 2, 3, 8, 16, 28, 29, 64, 801, 2000]))
    if op == "flip" and b:
        ba = bytearray(b)
        for _ in range(rng.choice([1, 1, 2, 4, 16])):
            ba[rng.randrange(len(ba))] ^= 1 << rng.randrange(8)
        return op, bytes(ba)
    if op == "truncate" and b:
        return op, b[:rng.randrange(len(b))]
    if op == "extend":
        return op, b + rng.randbytes(rng.choice([1, 2, 7, 100]))
    if op == "splice" and others:
        o = bytes(rng.choice(others))
        return op, b[:rng.randrange(len(b) + 1)] + o[rng.randrange(len(o) + 1):]
    if op == "byte" and b:
        ba = bytearray(b)
        ba[rng.randrange(len(ba))] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0xC1, 0xDD, 0xDF, 0x22, 0x5C])
        return op, bytes(ba)
    if op == "insert":
        i = rng.randrange(len(b) + 1)
        return op, b[:i] + rng.choice([b"\xdd\xff\xff\xff\xff", b"[" * 1200, b"\\u", b"\x95",
                                       b"\xc7\xff\x01", b"\x00", b"\"", b"\xed\xa0\x80"]) + b[i:]
    return "random", rng.randbytes(rng.randrange(40))


def mutate_value(rng, value, others, pool):
    """A new content for the value column: (description, object for sqlite3)."""
    r = rng.random()
    if r < 0.08:
        return "keep", None
    if r < 0.16 and pool:
        return "pool", rng.choice(pool)
    if r < 0.22:  # another SQLite type than BLOB
        kind = rng.choice(["text", "int", "real", "textbytes"])
        if kind == "text":
            return "text", "".join(chr(rng.choice([0x22, 0x5B, 0x7B, 0x31, 0xE9, 0x20AC, 0x1F600, 0]))
                                   for _ in range(rng.randrange(12)))
        if kind == "int":
            return "int", rng.choice([0, 1, -1, 2**63 - 1, -(2**63)])
        if kind == "real":
            return "real", rng.choice([0.0, 1.5, float("inf"), float("-inf")])
        return "textbytes", bytes(value).decode("latin-1")
    op, b = mutate_bytes(rng, value, others)
    return op, b


def write_base(path, storage_mode, pairs, **kw):
    db = DictSQLiteV4(path, storage_mode=storage_mode, persist_mode="writethrough", **kw)
    for k, v in pairs:
        db[k] = v
    db.table("second")["s-key"] = pairs[1][1]
    db.close()


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


class Batch:
    def __init__(self, kind, seed, storage_mode, persist_mode, cases, workdir):
        self.kind, self.seed = kind, seed
        self.storage_mode, self.persist_mode = storage_mode, persist_mode
        self.cases, self.workdir = cases, workdir
        self.rng = random.Random(f"{kind}:{seed}:{storage_mode}:{persist_mode}")
        self.case = 0
        self.ran = 0
        self.exceptions = {}
        self.violations = []
        self.safe = False

    def step(self, what):
        print(f"STEP {self.case} {what}", flush=True)

    def violation(self, what):
        self.violations.append(f"case {self.case}: {what}")

    def record(self, op, exc):
        name = type(exc).__name__
        d = self.exceptions.setdefault(op, {})
        d[name] = d.get(name, 0) + 1
        if isinstance(exc, SystemError):
            self.violation(f"{op} raised SystemError: {exc!r}")
        elif not isinstance(exc, Exception):
            self.violation(f"{op} raised {name}, not an Exception: {exc!r}")

    def attempt(self, op, fn, *args):
        """(True, result) or (False, exception), recording the exception."""
        self.step(f"{op} {args[0]!r:.80}" if args and isinstance(args[0], str) else op)
        try:
            return True, fn(*args)
        except BaseException as exc:  # noqa: B036 - recorded, and SystemExit etc. are violations
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.record(op, exc)
            return False, exc

    def check_value_error(self, op, key, exc, mutated):
        """A stored value that does not decode must raise CorruptValueError
        naming the key (a safe-pickle refusal may stay a plain ValueError)."""
        if isinstance(exc, CorruptValueError):
            # A damaged file (kind "files") may fail a read for the page,
            # naming the path; a damaged value must name its key.
            if self.kind != "files" and repr(key) not in str(exc):
                self.violation(f"{op}({key!r}): CorruptValueError does not name the key: {exc}")
        elif self.kind == "files" and isinstance(exc, OSError) and exc.errno:
            pass  # a damaged page is the file's error: OSError with errno and path
        elif isinstance(exc, (MemoryError, RecursionError)):
            pass  # counted in the summary; issue 11 asks for CorruptValueError
        elif self.safe and type(exc) is ValueError:
            pass
        elif isinstance(exc, KeyError) and not mutated:
            self.violation(f"{op}({key!r}): KeyError for a stored key")
        elif not isinstance(exc, (KeyError, ValueError)):
            self.violation(f"{op}({key!r}) raised {type(exc).__name__}: {exc!r}")

    def exercise(self, db, expect=None, mutated=()):
        """Every read on db; writes at the end. expect: key -> value of rows
        left intact, which must read back exactly."""
        expect = expect or {}
        ok, keys = self.attempt("keys", db.keys)
        if ok:
            for k in keys:
                for op, fn in (("getitem", db.__getitem__), ("get", db.get)):
                    ok, v = self.attempt(op, fn, k)
                    if not ok:
                        self.check_value_error(op, k, v, k in mutated or not expect)
                    elif k in expect and not same(v, expect[k]):
                        self.violation(f"{op}({k!r}): intact row read back as {v!r:.200}, "
                                       f"expected {expect[k]!r:.200}")
                self.attempt("contains", db.__contains__, k)
        for k in expect:
            ok, v = self.attempt("contains", db.__contains__, k)
            if ok and not v:
                self.violation(f"intact key {k!r} is missing")
        self.attempt("len", len, db)
        self.attempt("iter", lambda: list(iter(db)))
        self.attempt("values", db.values)
        self.attempt("items", db.items)
        self.attempt("batch_get", db.batch_get, list(expect) + ["nope"])
        self.attempt("repr", repr, db)
        self.attempt("eq", db.__eq__, {})
        ok, tables = self.attempt("tables", db.tables)
        if ok:
            for t in tables:
                p = db.table(t)
                self.attempt("table.len", len, p)
                self.attempt("table.items", p.items)
        self.attempt("stats", db.stats)
        self.attempt("setitem", db.__setitem__, "fuzz-new", {"n": 1} if self.storage_mode != "bytes"
                     else b"n")
        if mutated:
            k = sorted(mutated)[0]
            self.attempt("overwrite", db.__setitem__, k, [1] if self.storage_mode != "bytes" else b"1")
            k = sorted(mutated)[-1]
            self.attempt("delete", db.__delitem__, k)
        self.attempt("pop", db.pop, "fuzz-new", None)
        self.attempt("flush", db.flush)

    def open(self, path, **kw):
        kw.setdefault("storage_mode", self.storage_mode)
        kw.setdefault("persist_mode", self.persist_mode)
        return self.attempt("open", lambda: DictSQLiteV4(path, **kw))

    def close(self, db):
        self.attempt("close", db.close)

    # ------------------------------------------------------------ kinds

    def run_values(self):
        rng = self.rng
        pairs = base_values(self.storage_mode, rng)
        pool = corpus_values(rng) + hostile_pickles()
        n_db = 0
        while self.ran < self.cases:
            n_db += 1
            path = os.path.join(self.workdir, f"values{n_db}.db")
            self.case = self.ran
            self.step("write base")
            write_base(path, self.storage_mode, pairs)
            con = sqlite3.connect(path)
            rows = [(t, tbl, key, codec, bytes(val)) for t in ("kv", "kv_large")
                    for tbl, key, codec, val in
                    con.execute(f"SELECT tbl, key, codec, CAST(value AS BLOB) FROM {t}")]
            others = [r[4] for r in rows]
            expect, mutated = {}, set()
            # What the intact file reads back as (pickle-shaped bytes read
            # back unpickled, tuples as lists in JSON...), before damage.
            db = DictSQLiteV4(path, storage_mode=self.storage_mode)
            orig = dict(db.items())
            db.close()
            for table, tbl, key, codec, val in rows:
                if self.ran >= self.cases:
                    break
                self.case = self.ran
                self.ran += 1
                what, new = mutate_value(rng, val, others, pool)
                new_codec = codec
                if rng.random() < 0.3:
                    new_codec = rng.choice(CODECS + ["1", "x", b"\x03", 2.0, 3.5])
                    what += f"+codec={new_codec!r}"
                if what == "keep" and new_codec == codec:
                    if tbl == "main":
                        expect[key] = orig[key]
                    continue
                if tbl == "main":
                    mutated.add(key)
                if what != "keep" and not what.startswith("keep"):
                    con.execute(f"UPDATE {table} SET value=? WHERE tbl=? AND key=?", (new, tbl, key))
                con.execute(f"UPDATE {table} SET codec=? WHERE tbl=? AND key=?", (new_codec, tbl, key))
                r = rng.random()
                other = "kv_large" if table == "kv" else "kv"
                if r < 0.05:  # the same key in both tables
                    con.execute(f"INSERT OR REPLACE INTO {other} SELECT * FROM {table} "
                                "WHERE tbl=? AND key=?", (tbl, key))
                elif r < 0.1:  # in the table its size does not belong to
                    con.execute(f"INSERT OR REPLACE INTO {other} SELECT * FROM {table} "
                                "WHERE tbl=? AND key=?", (tbl, key))
                    con.execute(f"DELETE FROM {table} WHERE tbl=? AND key=?", (tbl, key))
            con.commit()
            con.close()
            self.safe = rng.random() < 0.5
            ok, db = self.open(path, enable_safe_pickle=self.safe)
            if ok:
                self.exercise(db, expect, mutated)
                self.close(db)

    def run_files(self):
        rng = self.rng
        template = os.path.join(self.workdir, "template.db")
        write_base(template, self.storage_mode, base_values(self.storage_mode, rng))
        with open(template, "rb") as f:
            good = f.read()
        page = struct.unpack(">H", good[16:18])[0]
        page = 65536 if page == 1 else page
        while self.ran < self.cases:
            self.case = self.ran
            self.ran += 1
            path = os.path.join(self.workdir, f"file{self.case}.db")
            for suffix in ("", "-wal", "-shm", "-dsgen", "-journal"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            what = rng.choice(["truncate", "truncate", "random", "header+garbage", "flip",
                               "flip", "zero-page", "swap-pages", "garbage-wal", "schema",
                               "meta", "text"])
            self.step(f"make {what}")
            data = good
            if what == "truncate":
                data = good[:rng.choice([1, 15, 16, 99, 100, 101, page - 1, page, page + 1,
                                         rng.randrange(len(good))])]
            elif what == "random":
                data = rng.randbytes(rng.choice([1, 100, 512, page, 3 * page, 10000]))
            elif what == "text":
                data = rng.choice([b"hello\n", b"SQLite format 2\x00" + b"\x00" * 84,
                                   b"\x7fELF" + b"\x00" * 60, b"PK\x03\x04" + rng.randbytes(200)])
            elif what == "header+garbage":
                data = good[:100] + rng.randbytes(rng.choice([0, 100, page - 100, 5 * page]))
            elif what == "flip":
                ba = bytearray(good)
                lo = 0 if rng.random() < 0.3 else 100
                for _ in range(rng.choice([1, 2, 8, 64, 512])):
                    ba[rng.randrange(lo, len(ba))] ^= 1 << rng.randrange(8)
                data = bytes(ba)
            elif what == "zero-page" and len(good) > page:
                p = rng.randrange(len(good) // page)
                fill = b"\x00" * page if rng.random() < 0.5 else rng.randbytes(page)
                data = good[:p * page] + fill + good[(p + 1) * page:]
                if p == 0:
                    data = good[:100] + data[100:]
            elif what == "swap-pages" and len(good) >= 3 * page:
                a, b = sorted(rng.sample(range(1, len(good) // page), 2))
                pa, pb = good[a * page:(a + 1) * page], good[b * page:(b + 1) * page]
                data = good[:a * page] + pb + good[(a + 1) * page:b * page] + pa + good[(b + 1) * page:]
            with open(path, "wb") as f:
                f.write(data)
            if what == "garbage-wal":
                with open(path + "-wal", "wb") as f:
                    hdr = struct.pack(">IIII", 0x377F0682 + rng.randrange(2), 3007000, page, 0)
                    f.write(hdr + rng.randbytes(rng.choice([0, 8, 24 + page, 4 * (24 + page)])))
            elif what in ("schema", "meta"):
                self.hostile_schema(path, what)
            ok, db = self.open(path)
            if ok:
                self.exercise(db)
                self.close(db)

    def hostile_schema(self, path, what):
        con = sqlite3.connect(path)
        rng = self.rng
        if what == "meta":
            v = rng.choice(["999", "0", "-1", "abc", b"\x02", "2.5", "", "1"])
            con.execute("UPDATE dictsqlite_meta SET value=? WHERE name LIKE '%version%'", (v,))
        else:
            stmt = rng.choice([
                "DROP TABLE kv_large",
                "DROP TABLE kv; CREATE VIEW kv AS SELECT 'main' AS tbl, 'a' AS key, 1 AS codec, x'4b012e' AS value",
                "DROP TABLE kv; CREATE TABLE kv(tbl, key)",
                "DROP TABLE kv; CREATE TABLE kv(tbl TEXT, key TEXT, codec INTEGER, value BLOB)",
                "CREATE TABLE kv_store(key TEXT PRIMARY KEY, value BLOB)",
                "CREATE TRIGGER t BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'no'); END",
                "CREATE TRIGGER t BEFORE UPDATE ON kv BEGIN SELECT RAISE(FAIL, 'no'); END",
                "CREATE TRIGGER t BEFORE DELETE ON kv_large BEGIN SELECT RAISE(ABORT, 'no'); END",
                "DROP TABLE dictsqlite_meta",
                "ALTER TABLE kv RENAME TO kv_old",
                "CREATE INDEX i ON kv(value)",
            ])
            con.executescript(stmt)
        con.commit()
        con.close()

    def run_columns(self):
        rng = self.rng
        n_db = 0
        while self.ran < self.cases:
            n_db += 1
            path = os.path.join(self.workdir, f"columns{n_db}.db")
            db = DictSQLiteV4(path, storage_mode="bytes" if self.storage_mode == "bytes" else "json")
            db.update({"c%04d" % i: (b"v" if self.storage_mode == "bytes" else i) for i in range(300)})
            for t in ("t1", "t2", "t3"):
                db.table(t)["x"] = b"v" if self.storage_mode == "bytes" else 1
            db.close()
            con = sqlite3.connect(path)
            for _ in range(3):
                if self.ran >= self.cases:
                    break
                self.case = self.ran
                self.ran += 1
                col = rng.choice(["key", "tbl"])
                form = rng.choice(["CAST(%s AS BLOB)", "CAST(%s AS BLOB)", "12345", "1.5",
                                   "CAST(%s || x'00' AS BLOB)"])
                expr = form % col if "%s" in form else form
                where = "tbl='main' AND key=?" if col == "key" else "tbl=? AND key='x'"
                arg = "c%04d" % rng.randrange(300) if col == "key" else rng.choice(["t1", "t2", "t3"])
                self.step(f"mutate {col}={expr} at {arg}")
                con.execute(f"UPDATE OR IGNORE kv SET {col}={expr} WHERE {where}", (arg,))
            con.commit()
            con.close()
            ok, db = self.open(path)
            if ok:
                self.exercise(db)
                self.close(db)

    def run_encrypted(self):
        rng = self.rng
        template = os.path.join(self.workdir, "enc-template.db")
        pairs = base_values(self.storage_mode, rng)[:12]
        write_base(template, self.storage_mode, pairs, encryption_password=PASSWORD)
        n_db = 0
        while self.ran < self.cases:
            n_db += 1
            path = os.path.join(self.workdir, f"enc{n_db}.db")
            shutil.copyfile(template, path)
            con = sqlite3.connect(path)
            rows = [(t, tbl, key, codec, bytes(val)) for t in ("kv", "kv_large")
                    for tbl, key, codec, val in con.execute(f"SELECT tbl, key, codec, value FROM {t}")]
            others = [r[4] for r in rows]
            mutated = set()
            # Several rows per open: an open costs an Argon2id derivation.
            for table, tbl, key, codec, val in rng.sample(rows, min(len(rows), 6)):
                if self.ran >= self.cases:
                    break
                self.case = self.ran
                self.ran += 1
                op = rng.choice(["flip", "flip", "flip-tag", "flip-nonce", "truncate", "swap",
                                 "unflag", "codec", "short", "meta"])
                self.step(f"mutate {op} {key}")
                new, new_codec = val, codec
                if op == "flip":
                    ba = bytearray(val)
                    ba[rng.randrange(len(ba))] ^= 1 << rng.randrange(8)
                    new = bytes(ba)
                elif op == "flip-tag":
                    new = val[:-1] + bytes([val[-1] ^ 1])
                elif op == "flip-nonce":
                    new = bytes([val[0] ^ 0x80]) + val[1:]
                elif op == "truncate":
                    new = val[:rng.choice([0, 1, 12, 27, 28, 29, len(val) - 1])]
                elif op == "swap":
                    new = rng.choice(others)
                elif op == "unflag":  # ciphertext claimed to be plaintext
                    new_codec = codec & ~0x10
                elif op == "codec":
                    new_codec = rng.choice(CODECS)
                elif op == "short":
                    new = rng.randbytes(rng.randrange(40))
                elif op == "meta":
                    name = rng.choice(["kdf_salt", "key_check", "kdf"])
                    cur = con.execute("SELECT value FROM dictsqlite_meta WHERE name=?", (name,)).fetchone()
                    if cur is not None:
                        cur = bytes(cur[0]) if not isinstance(cur[0], str) else cur[0].encode()
                        if name == "kdf":
                            # small costs only: a large t or m is a slow open
                            # by design (see test_hostile_kdf_parameters)
                            nv = rng.choice([b"argon2id:t=1,m=8,p=1", b"argon2id:t=0,m=8,p=1",
                                             b"argon2id:t=1,m=7,p=1", b"argon2id:t=1,m=8,p=0",
                                             b"argon2id:t=1,m=64,p=99999999", b"argon2i:t=2",
                                             b"", b"x" * 200, cur[:-1]])
                        else:
                            nv = mutate_bytes(rng, cur, [])[1]
                        con.execute("UPDATE dictsqlite_meta SET value=? WHERE name=?", (nv, name))
                    continue
                if tbl == "main":
                    mutated.add(key)
                con.execute(f"UPDATE {table} SET value=?, codec=? WHERE tbl=? AND key=?",
                            (new, new_codec, tbl, key))
            con.commit()
            con.close()
            for password in (PASSWORD, None):
                kw = {"encryption_password": password} if password else {}
                ok, db = self.open(path, **kw)
                if ok:
                    self.exercise(db, mutated=mutated or {"k000"})
                    self.close(db)

    def run(self):
        getattr(self, "run_" + self.kind)()
        return {"kind": self.kind, "seed": self.seed, "storage_mode": self.storage_mode,
                "persist_mode": self.persist_mode, "cases": self.ran,
                "exceptions": self.exceptions, "violations": self.violations}


def main(argv):
    kind, seed, storage_mode, persist_mode, cases, workdir = argv
    os.makedirs(workdir, exist_ok=True)
    batch = Batch(kind, int(seed), storage_mode, persist_mode, int(cases), workdir)
    try:
        result = batch.run()
    except Exception:
        # A failure of the harness itself (e.g. writing the base database)
        traceback.print_exc()
        result = {"cases": batch.ran, "exceptions": batch.exceptions,
                  "violations": batch.violations + ["worker error: " + traceback.format_exc()]}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
