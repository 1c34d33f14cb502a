#!/usr/bin/env python3
"""One benchmark cell in its own process.

Usage: python worker.py < spec.json     (or: python worker.py '{"kind": ...}')

The spec is a JSON object; the result is printed as one JSON object on the last line
of stdout. This file uses only the standard library plus the one library that the cell
measures, so it runs unchanged in every interpreter of the harness: the current one
(our dictsqlite), the venv with the Rust `dictsqlite` 2.x (same import name, so the two
never meet in one process), and the venv with the pure-Python peers.

Kinds of spec:
  probe   versions and paths of what this interpreter can import
  floors  the Python floors: d[k], k in d, pickle.dumps/loads, msgpack.packb/unpackb
  cell    one (library, mode, storage, value kind) cell of the matrix
  bulk    1M-entry lazy bulk load / flush (the lazy-flush bar)
  growth  one point (library, mode, size) of the growth sweep: per-op cost and RSS/entry
  async   the async rows of one library, each beside its sync idiom (see "async rows")

Methodology, the same in every kind: keys are "key%08d"; operations are timed in
chunks of 1,000 keys, each chunk a plain `for k in chunk:` loop around the library's
own idiom (db[k], db[k] = v, ...), so loop overhead is identical to the floors'.
gc.collect() runs before and gc is disabled during each timed loop; a warm-up
precedes the timed loops; each timed loop has a time budget after which it stops
early and reports how many operations it did ("capped").
"""
import gc
import json
import os
import pickle
import random
import shutil
import sys
import time

PROTO = pickle.HIGHEST_PROTOCOL
CHUNK = 1000
perf = time.perf_counter

# --------------------------------------------------------------------------- values

SMALL = {"name": "Alice", "age": 30, "tags": ["a", "b"]}
SMALL2 = {"name": "Bob", "age": 31, "tags": ["c", "d"]}


def _rbytes(size, seed):
    r = random.Random(seed)
    b = bytearray(r.getrandbits(8) for _ in range(size)) if size < 4096 else bytearray(
        r.randbytes(size))
    if size:
        b[0] = ord("V")  # never looks like a pickle (0x80) to a pickle-sniffing codec
    return bytes(b)


VALUE_KINDS = {
    "b32": lambda: (_rbytes(32, 1), _rbytes(32, 2)),
    "small": lambda: (dict(SMALL), dict(SMALL2)),
    "1k": lambda: (_rbytes(1024, 3), _rbytes(1024, 4)),
    "64k": lambda: (_rbytes(65536, 5), _rbytes(65536, 6)),
}


def make_keys(n, prefix="key", start=0):
    return [f"{prefix}{i:08d}" for i in range(start, start + n)]


def chunked(seq, size=CHUNK):
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def codec_loops(v):
    """`pickle.dumps` and `pickle.loads` of v in the cells' loop shape: (dumps, loads)."""
    blob = pickle.dumps(v, PROTO)

    def dumps_loop(c, v=v, dumps=pickle.dumps):
        for k in c:
            dumps(v, PROTO)

    def loads_loop(c, b=blob, loads=pickle.loads):
        for k in c:
            loads(b)

    return dumps_loop, loads_loop


def msgpack_loops(msgpack, v):
    """`msgpack.packb` and `msgpack.unpackb` of v in the cells' loop shape:
    (packed size, packb, unpackb)."""
    packed = msgpack.packb(v)

    def packb_loop(c, v=v, packb=msgpack.packb):
        for k in c:
            packb(v)

    def unpackb_loop(c, b=packed, unpackb=msgpack.unpackb):
        for k in c:
            unpackb(b)

    return len(packed), packb_loop, unpackb_loop


def dict_get_loop(d):
    """`d[k]` in the cells' loop shape."""
    def dget(c, d=d):
        for k in c:
            d[k]

    return dget


def import_floor_msgpack(floor_path):
    """(msgpack module or None, what happened) for the paired msgpack floor.

    msgpack is imported from this interpreter if it has one, else from floor_path: the
    site-packages of .peers/py, which run.py passes only when that venv runs the same
    major.minor. The path goes to the END of sys.path, so it can never shadow
    dictsqlite or anything else, and comes off again at once, so the rest of the cell
    imports nothing from there. A pure-Python msgpack (its C extension not loadable
    here) is refused: it is several times slower than the floors process's and would
    make the jsonb bar easy."""
    added = bool(floor_path) and floor_path not in sys.path
    if added:
        sys.path.append(floor_path)
    try:
        import msgpack
        version = ".".join(map(str, getattr(msgpack, "version", ())))
    except ImportError as e:
        return None, {"paired": False, "why": f"ImportError: {e}"}
    finally:
        if added:
            sys.path.remove(floor_path)
    impl = msgpack.unpackb.__module__
    what = {"paired": not impl.endswith("fallback"), "version": version,
            "implementation": impl, "file": msgpack.__file__}
    if not what["paired"]:
        what["why"] = "pure-Python fallback only"
    return (msgpack if what["paired"] else None), what


def paired_floors(rec, kind, v, keys, budget, passes, floor_path=None):
    """The Python floors of DESIGN.md's bars (d[k], pickle.dumps/loads of the cell's
    value, msgpack.unpackb of the small dict), timed in the cell's own process right
    after its hot passes, over the same shuffled keys, recorded as floor:<name>. A bar's
    ratio then compares two loops that ran under the same conditions: the floors of the
    separate floors process, run minutes earlier, moved by 20-34% between two runs of
    the same code on the project's machine. Returns info entries for the cell."""
    dumps_loop, loads_loop = codec_loops(v)
    d = dict.fromkeys(sorted(keys), v)  # built in key order, as the cell's store was
    loops = [(f"floor:pickle_dumps[{kind}]", dumps_loop),
             (f"floor:pickle_loads[{kind}]", loads_loop), ("floor:dict_get", dict_get_loop(d))]
    info = {}
    if kind == "small":
        msgpack, info["paired_msgpack"] = import_floor_msgpack(floor_path)
        if msgpack is not None:
            loops.append(("floor:msgpack_unpackb[small]", msgpack_loops(msgpack, v)[2]))
    for name, loop in loops:
        loop(keys[:CHUNK])  # warm-up, as the floors process does
        for _ in range(passes):
            rec.add(name, *timed_chunks(loop, keys, budget))
    return info


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed_chunks(fn, keys, budget):
    """Run fn(chunk) over consecutive chunks of keys with gc off; stop once `budget`
    seconds have passed. Chunks start small and grow to CHUNK keys, sized so that a
    slow operation overshoots the budget by little. Returns (operations done, seconds)."""
    n = len(keys)
    gc.collect()
    gc.disable()
    done = 0
    size = 10
    t0 = perf()
    try:
        while done < n:
            ch = keys[done:done + size]
            fn(ch)
            done += len(ch)
            el = perf() - t0
            if el > budget:
                break
            # next chunk: at most a quarter of the remaining budget, at most CHUNK keys
            size = max(1, min(CHUNK, size * 4, int((budget - el) * done / (4 * el)) if el > 0 else CHUNK))
    finally:
        t1 = perf()
        gc.enable()
    return done, t1 - t0


def timed_call(fn):
    gc.collect()
    gc.disable()
    t0 = perf()
    try:
        r = fn()
    finally:
        t1 = perf()
        gc.enable()
    return r, t1 - t0


def rm_path(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        for suffix in ("", "-wal", "-shm", "-journal", ".dat", ".dir", ".bak", ".db"):
            try:
                os.remove(path + suffix)
            except OSError:
                pass


# --------------------------------------------------------------------------- adapters
#
# Each adapter exposes loops (not single operations), so that the per-operation code in
# the timed loop is exactly the library's idiom with no wrapper call in between.
#
# durability:  "per-write commit"  each acknowledged write survives a process crash
#              "batched"           writes survive once flush()/commit()/close() returned
#              "none"              nothing is persisted


class Adapter:
    durability = "none"
    persistent = False      # cold get after reopen makes sense
    has_flush = False       # flush() is timed
    has_batch_set = False
    notes = ()

    def __init__(self, spec, path):
        self.spec = spec
        self.path = path

    # lifecycle
    def open(self):
        raise NotImplementedError

    def close(self):
        pass

    def flush(self):
        pass

    def drop(self):
        """Forget the instance completely (before a reopen)."""
        self.close()
        self.db = None
        gc.collect()

    # loops
    def set_loop(self, keys, v):
        db = self.db
        for k in keys:
            db[k] = v

    def get_loop(self, keys):
        db = self.db
        for k in keys:
            db[k]

    def contains_loop(self, keys):
        db = self.db
        for k in keys:
            k in db

    def del_loop(self, keys):
        db = self.db
        for k in keys:
            del db[k]

    def length(self):
        return len(self.db)

    def iter_items(self):
        c = 0
        for k, v in self.db.items():
            c += 1
        return c

    def update_batch(self, mapping):
        self.db.update(mapping)

    def batch_set(self, pairs):
        raise NotImplementedError

    def fill(self, keys, v):
        """Store v under keys quickly (not timed): the library's batch path, no flush."""
        for i in range(0, len(keys), 10_000):
            self.update_batch(dict.fromkeys(keys[i:i + 10_000], v))
        return True

    def read_one(self, k):
        return self.db[k]

    def version(self):
        return None


class DictSQLiteAdapter(Adapter):
    """Ours and the Rust package: the same Python API, different interpreters."""
    has_batch_set = True

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import dictsqlite
        self.mod = dictsqlite
        self.mode = spec["mode"]
        self.persistent = self.mode != "memory"
        self.has_flush = self.mode == "lazy"
        self.durability = {"memory": "none", "lazy": "batched",
                           "writethrough": "per-write commit"}[self.mode]
        self.kwargs = dict(persist_mode=self.mode,
                           storage_mode=spec.get("storage", "pickle"))
        for extra in ("hot_capacity", "enable_async", "buffer_size"):
            if extra in spec:
                self.kwargs[extra] = spec[extra]

    def open(self):
        path = ":memory:" if self.mode == "memory" else self.path
        self.db = self.mod.DictSQLiteV4(path, **self.kwargs)

    def close(self):
        if self.db is not None:
            self.db.close()

    def flush(self):
        self.db.flush()

    def batch_set(self, pairs):
        self.db.batch_set(pairs)

    def fill(self, keys, v):
        if _is_rust_package():
            # the Rust package's batch_set stores bytes raw, pickles everything else
            # whatever the storage mode, and its reads unpickle: keep values readable
            if self.kwargs["storage_mode"] != "pickle":
                self.set_loop(keys, v)
                return True
            if isinstance(v, bytes):
                v = pickle.dumps(v, PROTO)
        for i in range(0, len(keys), 10_000):
            self.db.batch_set([(k, v) for k in keys[i:i + 10_000]])
        return True

    def version(self):
        return _dist_version("dictsqlite") or getattr(self.mod, "__version__", None)


class DictSQLiteTableAdapter(DictSQLiteAdapter):
    """Ours through a table proxy, db.table("bench"): the dict operations run on the
    proxy, flush/close on the database that owns it."""

    def open(self):
        super().open()
        self.parent = self.db
        self.db = self.parent.table("bench")

    def close(self):
        if self.db is not None:
            self.parent.close()

    def flush(self):
        self.parent.flush()


class DictPickleAdapter(Adapter):
    """The built-in dict holding pickle.dumps(value): the in-memory reference."""
    durability = "none"

    def open(self):
        self.db = {}

    def set_loop(self, keys, v):
        d = self.db
        dumps = pickle.dumps
        for k in keys:
            d[k] = dumps(v, PROTO)

    def get_loop(self, keys):
        d = self.db
        loads = pickle.loads
        for k in keys:
            loads(d[k])

    def iter_items(self):
        loads = pickle.loads
        c = 0
        for k, v in self.db.items():
            loads(v)
            c += 1
        return c

    def update_batch(self, mapping):
        dumps = pickle.dumps
        self.db.update({k: dumps(v, PROTO) for k, v in mapping.items()})

    def read_one(self, k):
        return pickle.loads(self.db[k])

    def version(self):
        return sys.version.split()[0]


class DictAdapter(Adapter):
    """The built-in dict holding the value object itself (d[k] = v, d[k]): the
    growth sweep's reference for what the cache hierarchy alone costs a mapping
    as it grows, with no encode or decode on top. The base class's loops are
    exactly the dict idiom."""
    durability = "none"

    def open(self):
        self.db = {}

    def version(self):
        return sys.version.split()[0]


SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                  "PRAGMA cache_size=-65536", "PRAGMA mmap_size=268435456",
                  "PRAGMA temp_store=MEMORY", "PRAGMA busy_timeout=5000")
SQLITE_SCHEMA = ("CREATE TABLE IF NOT EXISTS kv(tbl TEXT NOT NULL, key TEXT NOT NULL, "
                 "codec INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY(tbl, key)) "
                 "WITHOUT ROWID")


class Sqlite3PickleAdapter(Adapter):
    """Raw Python sqlite3 + pickle with dictsqlite's PRAGMAs and schema.

    mode "autocommit": every statement its own transaction (per-write commit).
    mode "batched":   one explicit transaction, committed by flush().
    """
    persistent = True
    UPSERT = ("INSERT INTO kv(tbl,key,codec,value) VALUES('main',?,1,?) "
              "ON CONFLICT(tbl,key) DO UPDATE SET codec=excluded.codec, value=excluded.value")
    SELECT = "SELECT value FROM kv WHERE tbl='main' AND key=?"
    EXISTS = "SELECT 1 FROM kv WHERE tbl='main' AND key=?"
    DELETE = "DELETE FROM kv WHERE tbl='main' AND key=?"

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import sqlite3
        self.sqlite3 = sqlite3
        self.batched = spec["mode"] == "batched"
        self.durability = "batched" if self.batched else "per-write commit"
        self.has_flush = self.batched

    def open(self):
        self.db = self.sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
        for p in SQLITE_PRAGMAS:
            self.db.execute(p)
        self.db.execute(SQLITE_SCHEMA)
        if self.batched:
            self.db.execute("BEGIN")

    def close(self):
        if self.db is not None:
            if self.batched and self.db.in_transaction:
                self.db.execute("COMMIT")
            self.db.close()

    def flush(self):
        if self.batched:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")

    def set_loop(self, keys, v):
        ex = self.db.execute
        dumps = pickle.dumps
        sql = self.UPSERT
        for k in keys:
            ex(sql, (k, dumps(v, PROTO)))

    def get_loop(self, keys):
        ex = self.db.execute
        loads = pickle.loads
        sql = self.SELECT
        for k in keys:
            loads(ex(sql, (k,)).fetchone()[0])

    def contains_loop(self, keys):
        ex = self.db.execute
        sql = self.EXISTS
        for k in keys:
            ex(sql, (k,)).fetchone() is not None

    def del_loop(self, keys):
        ex = self.db.execute
        sql = self.DELETE
        for k in keys:
            ex(sql, (k,))

    def length(self):
        return self.db.execute("SELECT COUNT(*) FROM kv WHERE tbl='main'").fetchone()[0]

    def iter_items(self):
        loads = pickle.loads
        c = 0
        for k, v in self.db.execute("SELECT key, value FROM kv WHERE tbl='main'"):
            loads(v)
            c += 1
        return c

    def update_batch(self, mapping):
        dumps = pickle.dumps
        rows = [(k, dumps(v, PROTO)) for k, v in mapping.items()]
        if self.batched:
            self.db.executemany(self.UPSERT, rows)
        else:
            self.db.execute("BEGIN")
            self.db.executemany(self.UPSERT, rows)
            self.db.execute("COMMIT")

    def read_one(self, k):
        return pickle.loads(self.db.execute(self.SELECT, (k,)).fetchone()[0])

    def version(self):
        return "sqlite " + self.sqlite3.sqlite_version


class SqliteDictAdapter(Adapter):
    """sqlitedict: autocommit=True (commit per write) or autocommit=False + commit().

    journal_mode=WAL and synchronous=NORMAL, as ours (sqlitedict's defaults are
    DELETE and FULL, which would fsync at every commit)."""
    persistent = True

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import sqlitedict
        self.mod = sqlitedict
        self.auto = spec["mode"] == "autocommit"
        self.durability = "per-write commit" if self.auto else "batched"
        self.has_flush = not self.auto

    def open(self):
        self.db = self.mod.SqliteDict(self.path, autocommit=self.auto, journal_mode="WAL",
                                      outer_stack=False)
        self.db.conn.execute("PRAGMA synchronous=NORMAL")
        self.db.commit()

    def close(self):
        if self.db is not None:
            self.db.close()

    def flush(self):
        self.db.commit()

    def version(self):
        return _dist_version("sqlitedict")


class DiskCacheAdapter(Adapter):
    """diskcache.Cache: every set its own SQLite transaction (WAL, synchronous=NORMAL
    are its defaults); no eviction (size_limit raised, eviction_policy none)."""
    persistent = True
    durability = "per-write commit"
    notes = ("values of 32 KiB and more are stored by diskcache as separate files",)

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import diskcache
        self.mod = diskcache

    def open(self):
        self.db = self.mod.Cache(self.path, size_limit=2 ** 50, eviction_policy="none")

    def close(self):
        if self.db is not None:
            self.db.close()

    def iter_items(self):
        db = self.db
        c = 0
        for k in db:
            db[k]
            c += 1
        return c

    def update_batch(self, mapping):
        db = self.db
        with db.transact():
            for k, v in mapping.items():
                db[k] = v

    def version(self):
        return _dist_version("diskcache")


class LmdbAdapter(Adapter):
    """lmdb with pickle values. mode "pertxn": one write transaction per write
    (sync=False: survives a process crash, not power loss, like WAL+NORMAL);
    mode "batched": one write transaction committed by flush()."""
    persistent = True

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import lmdb
        self.mod = lmdb
        self.batched = spec["mode"] == "batched"
        self.durability = "batched" if self.batched else "per-write commit"
        self.has_flush = self.batched
        self.txn = None

    def open(self):
        self.env = self.mod.open(self.path, map_size=1 << 40, sync=False, metasync=False,
                                 subdir=True, lock=True)
        self.db = self.env
        if self.batched:
            self.txn = self.env.begin(write=True)

    def close(self):
        if self.txn is not None:
            self.txn.commit()
            self.txn = None
        if self.db is not None:
            self.env.close()

    def flush(self):
        if self.batched:
            self.txn.commit()
            self.txn = self.env.begin(write=True)

    def set_loop(self, keys, v):
        dumps = pickle.dumps
        if self.batched:
            put = self.txn.put
            for k in keys:
                put(k.encode(), dumps(v, PROTO))
        else:
            begin = self.env.begin
            for k in keys:
                with begin(write=True) as txn:
                    txn.put(k.encode(), dumps(v, PROTO))

    def get_loop(self, keys):
        loads = pickle.loads
        if self.batched:
            get = self.txn.get
            for k in keys:
                loads(get(k.encode()))
        else:
            begin = self.env.begin
            for k in keys:
                with begin() as txn:
                    loads(txn.get(k.encode()))

    def contains_loop(self, keys):
        if self.batched:
            get = self.txn.get
            for k in keys:
                get(k.encode()) is not None
        else:
            begin = self.env.begin
            for k in keys:
                with begin() as txn:
                    txn.get(k.encode()) is not None

    def del_loop(self, keys):
        if self.batched:
            delete = self.txn.delete
            for k in keys:
                delete(k.encode())
        else:
            begin = self.env.begin
            for k in keys:
                with begin(write=True) as txn:
                    txn.delete(k.encode())

    def length(self):
        if self.batched:
            return self.txn.stat()["entries"]
        return self.env.stat()["entries"]

    def iter_items(self):
        loads = pickle.loads
        c = 0
        txn = self.txn if self.batched else self.env.begin()
        for k, v in txn.cursor():
            k.decode()
            loads(v)
            c += 1
        if not self.batched:
            txn.abort()
        return c

    def update_batch(self, mapping):
        dumps = pickle.dumps
        if self.batched:
            put = self.txn.put
            for k, v in mapping.items():
                put(k.encode(), dumps(v, PROTO))
        else:
            with self.env.begin(write=True) as txn:
                for k, v in mapping.items():
                    txn.put(k.encode(), dumps(v, PROTO))

    def read_one(self, k):
        if self.batched:
            return pickle.loads(self.txn.get(k.encode()))
        with self.env.begin() as txn:
            return pickle.loads(txn.get(k.encode()))

    def version(self):
        return _dist_version("lmdb") or self.mod.__version__


class ShelveAdapter(Adapter):
    """shelve on the best dbm this interpreter has (dbm.gnu > dbm.ndbm > dbm.dumb).

    dbm.dumb (the only one when Python is built without gdbm/ndbm) writes the value and
    the index line of a new key at each write, without a transaction or fsync; its
    delete rewrites the whole index."""
    persistent = True
    has_flush = True

    def __init__(self, spec, path):
        super().__init__(spec, path)
        import shelve
        self.shelve = shelve
        self.backend = None
        for name in ("dbm.gnu", "dbm.ndbm", "dbm.dumb"):
            try:
                __import__(name)
                self.backend = name
                break
            except ImportError:
                continue
        self.durability = ("per-write (no transaction)" if self.backend == "dbm.dumb"
                           else "batched")
        self.notes = (f"backend {self.backend}; flush = shelf.sync()",)

    def open(self):
        import importlib
        mod = importlib.import_module(self.backend)
        flag = "c"
        self.db = self.shelve.Shelf(mod.open(self.path, flag), protocol=PROTO,
                                    writeback=False)

    def close(self):
        if self.db is not None:
            self.db.close()

    def flush(self):
        self.db.sync()

    def iter_items(self):
        c = 0
        for k, v in self.db.items():
            c += 1
        return c

    def version(self):
        return f"{sys.version.split()[0]} ({self.backend})"


ADAPTERS = {
    "ours": DictSQLiteAdapter,
    "ours_table": DictSQLiteTableAdapter,
    "rust": DictSQLiteAdapter,
    "dict_pickle": DictPickleAdapter,
    "dict": DictAdapter,
    "sqlite3_pickle": Sqlite3PickleAdapter,
    "sqlitedict": SqliteDictAdapter,
    "diskcache": DiskCacheAdapter,
    "lmdb": LmdbAdapter,
    "shelve": ShelveAdapter,
}


def _is_rust_package():
    """True when `dictsqlite` here is the Rust/PyO3 package from PyPI."""
    try:
        from importlib.metadata import metadata
        return metadata("dictsqlite")["Summary"] == RUST_SUMMARY
    except Exception:
        return False


RUST_SUMMARY = "High-performance DictSQLite v2 with I/O optimizations"


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


# --------------------------------------------------------------------------- helpers


class Recorder:
    def __init__(self):
        self.ops = {}
        self.errors = {}
        self.capped = {}

    def add(self, op, count, seconds, wanted=None):
        if count <= 0:
            return
        o = self.ops.setdefault(op, {"samples_s_per_op": []})
        o["samples_s_per_op"].append(seconds / count)
        o.setdefault("counts", []).append(count)
        if wanted is not None and count < wanted:
            self.capped[op] = f"{count} of {wanted}"

    def error(self, op, exc):
        self.errors.setdefault(op, f"{type(exc).__name__}: {exc}"[:500])

    def run(self, op, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as e:  # a failing peer must not hide the others
            self.error(op, e)
            return None


def check_values(adapter, keys, expected, rec, label):
    """Spot check that stored values read back as expected (not timed)."""
    bad = 0
    first = None
    for k in keys:
        try:
            got = adapter.read_one(k)
        except Exception as e:
            bad += 1
            first = first or f"{k}: {type(e).__name__}: {e}"
            continue
        if got != expected:
            bad += 1
            first = first or f"{k}: got {type(got).__name__} {str(got)[:60]!r}"
    if bad:
        rec.errors.setdefault(f"verify_{label}", f"{bad}/{len(keys)} wrong; first: {first}")
    return bad == 0


# --------------------------------------------------------------------------- kinds


def run_probe(spec):
    out = {"python": sys.version.split()[0], "executable": sys.executable}
    import sqlite3
    out["sqlite3_module_sqlite_version"] = sqlite3.sqlite_version
    for name in spec.get("modules", []):
        try:
            mod = __import__(name)
            out[name] = {"version": _dist_version(name) or getattr(mod, "__version__", None),
                         "file": getattr(mod, "__file__", None)}
            if name == "dictsqlite":
                out[name]["has_DictSQLiteV4"] = hasattr(mod, "DictSQLiteV4")
                out[name]["has_AsyncDictSQLite"] = hasattr(mod, "AsyncDictSQLite")
                out[name]["is_rust_package"] = _is_rust_package()
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    return out


def run_floors(spec):
    """The floors that DESIGN.md's bars refer to, with the same loop shape as the cells."""
    n = spec["n"]
    repeats = spec["repeats"]
    inner = spec.get("inner", 3)
    budget = spec.get("budget", 30.0)
    rnd = random.Random(spec.get("seed", 42))
    keys = make_keys(n)
    shuffled = keys[:]
    rnd.shuffle(shuffled)
    warm = shuffled[:CHUNK]
    rec = Recorder()
    out = {"n": n, "pickle_protocol": PROTO, "value_sizes": {}}

    def loop_empty(c):
        for k in c:
            pass

    for kind, mk in VALUE_KINDS.items():
        v, _ = mk()
        out["value_sizes"][kind] = {"pickled": len(pickle.dumps(v, PROTO))}
        dumps_loop, loads_loop = codec_loops(v)

        for _ in range(repeats):
            dumps_loop(warm)
            loads_loop(warm)
            for _ in range(inner):
                rec.add(f"pickle_dumps[{kind}]", *timed_chunks(dumps_loop, shuffled, budget))
                rec.add(f"pickle_loads[{kind}]", *timed_chunks(loads_loop, shuffled, budget))

    # d[k], k in d, d[k] = v, del d[k], len(d), iteration
    v32 = VALUE_KINDS["b32"]()[0]
    for _ in range(repeats):
        d = {}

        def dset(c, d=d, v=v32):
            for k in c:
                d[k] = v

        rec.add("dict_set_new", *timed_chunks(dset, keys, budget))

        dget = dict_get_loop(d)

        def dcontains(c, d=d):
            for k in c:
                k in d

        dget(shuffled)
        for _ in range(inner):
            rec.add("dict_get", *timed_chunks(dget, shuffled, budget))
            rec.add("dict_contains", *timed_chunks(dcontains, shuffled, budget))
            rec.add("empty_loop", *timed_chunks(loop_empty, shuffled, budget))
        L = 100_000
        _, s = timed_call(lambda: [len(d) for _ in range(L)])
        rec.add("dict_len", L, s)

        def items():
            c = 0
            for k, v in d.items():
                c += 1
            return c

        c, s = timed_call(items)
        rec.add("dict_items", c, s)

        def ddel(c, d=d):
            for k in c:
                del d[k]

        rec.add("dict_delete", *timed_chunks(ddel, shuffled, budget))

    try:
        import msgpack
        out["msgpack_version"] = msgpack.version if hasattr(msgpack, "version") else None
        out["msgpack_version"] = _dist_version("msgpack") or str(out["msgpack_version"])
        size, packb_loop, unpackb_loop = msgpack_loops(msgpack, SMALL)
        out["value_sizes"]["small"]["msgpack"] = size

        for _ in range(repeats):
            packb_loop(warm)
            unpackb_loop(warm)
            for _ in range(inner):
                rec.add("msgpack_packb[small]", *timed_chunks(packb_loop, shuffled, budget))
                rec.add("msgpack_unpackb[small]", *timed_chunks(unpackb_loop, shuffled, budget))
    except ImportError:
        out["msgpack_version"] = None
        rec.errors["msgpack"] = "msgpack not importable in this interpreter"
    out["ops"] = rec.ops
    out["errors"] = rec.errors
    return out


def run_cell(spec):
    lib = spec["lib"]
    n = spec["n"]
    repeats = spec["repeats"]
    inner = spec.get("inner", 3)
    budget = spec.get("budget", 30.0)
    batch = spec.get("batch", 1000)
    n_batches = spec.get("batches", 10)
    warm = spec.get("warmup", 1000)
    workdir = spec["dir"]
    os.makedirs(workdir, exist_ok=True)
    v1, v2 = VALUE_KINDS[spec["value_kind"]]()
    rnd = random.Random(spec.get("seed", 42))
    rec = Recorder()
    info = {}
    n_eff_all = []

    for rep in range(repeats):
        path = os.path.join(workdir, f"{lib}-{spec['mode']}-{spec['value_kind']}-{rep}")
        rm_path(path)
        ad = ADAPTERS[lib](spec, path)
        info.update(durability=ad.durability, persistent=ad.persistent,
                    has_flush=ad.has_flush, version=ad.version(), notes=list(ad.notes))
        if hasattr(ad, "mod"):
            info["module_file"] = ad.mod.__file__
        keys = make_keys(n)
        shuffled = keys[:]
        rnd.shuffle(shuffled)
        rss0 = rss_bytes()
        _, s = timed_call(ad.open)
        rec.add("open_new", 1, s)

        # warm-up: a few writes/reads/deletes of other keys, not timed
        wkeys = make_keys(min(warm, max(n // 10, 10)), prefix="warm")
        try:
            ad.set_loop(wkeys, v1)
            ad.get_loop(wkeys)
            ad.contains_loop(wkeys)
            ad.del_loop(wkeys)
            if ad.has_flush:
                ad.flush()
        except Exception as e:
            rec.error("warmup", e)

        # set of new keys (in key order)
        r = rec.run("set_new", timed_chunks, lambda c: ad.set_loop(c, v1), keys, budget)
        if r is None:
            ad.drop()
            rm_path(path)
            continue
        done, s = r
        rec.add("set_new", done, s, n)
        if rep == 0 and done == n:
            gc.collect()
            info["rss_delta_per_entry_after_set"] = (rss_bytes() - rss0) / max(done, 1)
        if done < n:  # capped: load the rest through the batch path, not timed
            if rec.run("fill", ad.fill, keys[done:], v1) is not True:
                keys = keys[:done]
                kept = set(keys)
                shuffled = [k for k in shuffled if k in kept]
        n_eff = len(keys)
        n_eff_all.append(n_eff)
        if ad.has_flush:
            r = rec.run("flush_after_set", timed_call, ad.flush)
            if r:
                rec.add("flush_after_set", n_eff, r[1])
                # the durable cost of a batched write: set + its share of flush
                rec.add("set_new_durable", n_eff, (s / done + r[1] / n_eff) * n_eff)

        # overwrite
        r = rec.run("overwrite", timed_chunks, lambda c: ad.set_loop(c, v2), shuffled, budget)
        if r:
            rec.add("overwrite", r[0], r[1], n_eff)
            # capped: the keys after the first r[0] of `shuffled` keep v1; every check
            # below reads keys from the start of `shuffled`, which hold v2
            if ad.has_flush:
                r2 = rec.run("flush_after_overwrite", timed_call, ad.flush)
                if r2:
                    rec.add("flush_after_overwrite", n_eff, r2[1])
                    rec.add("overwrite_durable", r[0], r[1] + r2[1] * r[0] / n_eff)

        # hot get: one untimed pass, then `inner` timed passes
        rec.run("get_hot", ad.get_loop, shuffled[:min(n_eff, 10_000)])
        for op, loop in (("get_hot", ad.get_loop), ("contains", ad.contains_loop)):
            spent = 0.0
            for _ in range(inner):  # extra passes only while within the budget
                r = rec.run(op, timed_chunks, loop, shuffled, budget)
                if not r:
                    break
                rec.add(op, r[0], r[1], n_eff)
                spent += r[1]
                if spent > budget:
                    break
        if lib == "ours":
            info.update(rec.run("paired_floors", paired_floors, rec, spec["value_kind"], v1,
                                shuffled, budget, inner, spec.get("floor_path")) or {})

        # len: as many calls as fit in the budget (at most 10,000); a slow len() (O(n) in
        # some libraries) is timed call by call, a fast one in groups of 100
        def len_loop():
            length = ad.length
            t0 = perf()
            length()
            c = 1
            step = 1 if perf() - t0 > 1e-4 else 100
            while c < 10_000 and perf() - t0 < budget:
                for _ in range(step):
                    length()
                c += step
            return c
        r = rec.run("len", timed_call, len_loop)
        if r:
            rec.add("len", r[0], r[1])
        got_len = rec.run("len", ad.length)
        if got_len is not None and got_len != n_eff:
            rec.errors.setdefault("verify_len", f"len() = {got_len}, expected {n_eff}")

        r = rec.run("items", timed_call, ad.iter_items)
        if r:
            rec.add("items", r[0], r[1])
            if r[0] != n_eff:
                rec.errors.setdefault("verify_items", f"items yielded {r[0]}, expected {n_eff}")

        # batch update of `batch` existing keys, n_batches times
        batches = [dict.fromkeys(shuffled[i * batch:(i + 1) * batch], v2)
                   for i in range(min(n_batches, max(1, n_eff // batch)))]

        def timed_batches(op, call, args):
            """Time call(a) for each a; then, if the store has one, its flush."""
            tot, tsec = 0, 0.0
            for a in args:
                r = rec.run(op, timed_call, lambda: call(a))
                if r:
                    tot += len(a)
                    tsec += r[1]
            if tot:
                rec.add(op, tot, tsec)
                if ad.has_flush:
                    r = rec.run(op + "_flush", timed_call, ad.flush)
                    if r:
                        rec.add(op + "_durable", tot, tsec + r[1])

        timed_batches("update_1k", ad.update_batch, batches)
        if ad.has_batch_set:
            timed_batches("batch_set_1k", ad.batch_set, [list(b.items()) for b in batches])
            # batch_set must store what it was given; then repair (untimed) so that a
            # library that got it wrong does not fail every later operation too
            bkeys = [k for b in batches for k in list(b)[:20]]
            check_values(ad, bkeys, v2, rec, "batch_set")
            rec.run("repair", ad.fill, [k for b in batches for k in b], v2)
            if ad.has_flush:
                rec.run("repair", ad.flush)

        sample = shuffled[:200]
        check_values(ad, sample, v2, rec, "hot")

        # close, reopen, cold get
        if ad.persistent:
            r = rec.run("close", timed_call, ad.close)
            if r:
                rec.add("close", 1, r[1])
            ad.db = None
            gc.collect()
            r = rec.run("open_existing", timed_call, ad.open)
            if r:
                rec.add("open_existing", 1, r[1])
                # every key once, as far as possible: the hit rate of a cold cache depends
                # on the fraction of the store read, so this loop gets a longer budget
                r = rec.run("get_cold", timed_chunks, ad.get_loop, shuffled, max(budget, 3.0))
                if r:
                    rec.add("get_cold", r[0], r[1], n_eff)
                got_len = rec.run("len_after_reopen", ad.length)
                if got_len is not None and got_len != n_eff:
                    rec.errors.setdefault("verify_reopen",
                                          f"after reopen len() = {got_len}, expected {n_eff}")
                check_values(ad, sample, v2, rec, "reopen")
            else:
                ad.db = None
        if ad.db is not None:
            r = rec.run("delete", timed_chunks, ad.del_loop, shuffled, budget)
            if r:
                rec.add("delete", r[0], r[1], n_eff)
                if ad.has_flush:
                    r2 = rec.run("delete_flush", timed_call, ad.flush)
                    if r2:
                        rec.add("delete_durable", r[0], r[1] + r2[1])
            r = rec.run("close", timed_call, ad.close)
            if r and not ad.persistent:
                rec.add("close", 1, r[1])
        ad.db = None
        ad = None
        gc.collect()
        rm_path(path)

    info["n_effective"] = n_eff_all
    return {"info": info, "ops": rec.ops, "errors": rec.errors, "capped": rec.capped}


def run_bulk(spec):
    """Lazy-mode bulk load of N small entries: bulk_insert+flush, and flush after sets."""
    n = spec["n"]
    repeats = spec["repeats"]
    workdir = spec["dir"]
    os.makedirs(workdir, exist_ok=True)
    v = VALUE_KINDS[spec.get("value_kind", "small")]()[0]
    keys = make_keys(n)
    rec = Recorder()
    info = {}
    for rep in range(repeats):
        # (a) bulk_insert(items) + flush() on a fresh lazy store
        path = os.path.join(workdir, f"bulk-{spec['lib']}-{rep}-a")
        rm_path(path)
        ad = ADAPTERS[spec["lib"]](dict(spec, mode="lazy"), path)
        info.update(version=ad.version(), module_file=getattr(ad, "mod", None) and ad.mod.__file__)
        ad.open()
        items = [(k, v) for k in keys]

        def load():
            ad.db.bulk_insert(items)
            ad.db.flush()
        r = rec.run("bulk_insert_flush", timed_call, load)
        if r:
            rec.add("bulk_insert_flush", n, r[1])
        items = None
        r = rec.run("close", timed_call, ad.close)
        ad.db = None
        gc.collect()
        ad.open()
        got = rec.run("verify", ad.length)
        if got != n:
            rec.errors.setdefault("verify_bulk", f"after bulk_insert+flush+reopen len() = {got}, expected {n}")
        ad.close()
        ad.db = None
        gc.collect()
        rm_path(path)

        # (b) n sets then flush(), timed together, with the background flusher off;
        # flush() alone is recorded too, but a store may write during the sets already.
        # (c) the same with the library's default settings (ours: the background
        # flusher on, so SQLite works on one core while the sets encode on another).
        for tag, op, extra in (("b", "sets_flush", {"enable_async": False}),
                               ("c", "sets_flush_default", {})):
            path = os.path.join(workdir, f"bulk-{spec['lib']}-{rep}-{tag}")
            rm_path(path)
            ad = ADAPTERS[spec["lib"]](dict(spec, mode="lazy", **extra), path)
            ad.open()
            r = rec.run(op, timed_call, lambda: ad.set_loop(keys, v))
            r2 = rec.run(op, timed_call, ad.flush)
            if r and r2:
                rec.add(op, n, r[1] + r2[1])
                if tag == "b":
                    rec.add("flush_after_sets", n, r2[1])
            ad.close()
            ad.db = None
            gc.collect()
            ad.open()
            got = rec.run("verify", ad.length)
            if got != n:
                rec.errors.setdefault(f"verify_{op}",
                                      f"after sets+flush+reopen len() = {got}, expected {n}")
            ad.close()
            ad.db = None
            gc.collect()
            rm_path(path)
    return {"info": info, "ops": rec.ops, "errors": rec.errors, "capped": rec.capped}


def run_growth(spec):
    """One point of the growth sweep.

    Phase 1 (memory): build a store of N entries with keys formatted on the fly (so a
    dict holds its own key objects, as a store does), measure the RSS growth per entry.
    Phase 2 (time): marginal per-op cost at size N on samples of up to 100,000 keys:
    set of new keys, get of existing keys (hot), overwrite."""
    lib = spec["lib"]
    n = spec["n"]
    repeats = spec["repeats"]
    budget = spec.get("budget", 30.0)
    workdir = spec["dir"]
    os.makedirs(workdir, exist_ok=True)
    v1, v2 = VALUE_KINDS[spec.get("value_kind", "small")]()
    rec = Recorder()
    s = dict(spec)
    if lib in ("ours", "rust"):
        s.setdefault("hot_capacity", max(1_000_000, 2 * n + 10 * 100_000))
    path = os.path.join(workdir, f"growth-{lib}-{spec['mode']}-{n}")
    rm_path(path)
    ad = ADAPTERS[lib](s, path)
    info = {"version": ad.version(), "durability": ad.durability}
    gc.collect()
    rss0 = rss_bytes()
    ad.open()
    db = ad.db
    if lib == "dict_pickle":
        dumps = pickle.dumps
        for i in range(n):
            db[f"key{i:08d}"] = dumps(v1, PROTO)
    elif hasattr(db, "__setitem__"):
        for i in range(n):
            db[f"key{i:08d}"] = v1
    else:
        for i in range(0, n, CHUNK):
            ad.set_loop([f"key{j:08d}" for j in range(i, min(n, i + CHUNK))], v1)
    if ad.has_flush:
        ad.flush()
    gc.collect()
    rss1 = rss_bytes()
    info["rss_per_entry"] = (rss1 - rss0) / n
    info["rss_total_delta"] = rss1 - rss0
    m = min(n, spec.get("sample", 100_000))
    rnd = random.Random(spec.get("seed", 7))
    for rep in range(repeats):
        existing = [f"key{i:08d}" for i in rnd.sample(range(n), m)]
        new = make_keys(m, prefix=f"new{rep:02d}_")
        ad.get_loop(existing[:1000])
        r = rec.run("get_hot", timed_chunks, ad.get_loop, existing, budget)
        if r:
            rec.add("get_hot", r[0], r[1], m)
        r = rec.run("set_new", timed_chunks, lambda c: ad.set_loop(c, v1), new, budget)
        if r:
            rec.add("set_new", r[0], r[1], m)
        r = rec.run("overwrite", timed_chunks, lambda c: ad.set_loop(c, v2), existing, budget)
        if r:
            rec.add("overwrite", r[0], r[1], m)
        rec.run("cleanup", ad.del_loop, new[:r[0] if r else m])
    if ad.has_flush:
        rec.run("flush", ad.flush)
    rec.run("close", ad.close)
    ad.db = None
    gc.collect()
    rm_path(path)
    return {"info": info, "ops": rec.ops, "errors": rec.errors, "capped": rec.capped}


# ---------------------------------------------------------------------- async rows
# The async rows (issue 12 item 8), one library per worker process, every row timed
# side by side with the same library's sync idiom in the same process:
#
#   hot      `await aget(k)` vs sync `db[k]`, keys written by this instance (in cache)
#   cold     a store of n_cold keys written and closed first; each phase opens a fresh
#            instance: serial `await aget(k)`, sync `db[k]`, and asyncio.gather in
#            waves of `conc` (64) awaits
#   wt       writethrough: one task awaiting aset in a loop, sync `db[k] = v`, then
#            `conc` tasks each awaiting aset in a loop (durable writes/s)
#   batch    lazy: `await abatch_set(1,000 items)` vs sync `batch_set` of the same size
#   lateness a 5 ms asyncio ticker's worst lateness (max(actual - expected wake-up))
#            during one `await abatch_set(tick_n items)` + `await aflush()`
#
# Libraries: "ours" and "rust" (AsyncDictSQLite, the same API: the Rust package runs
# in its own venv), "aiosqlite" (one connection, WAL + synchronous=NORMAL, table
# kv(key TEXT PRIMARY KEY, value BLOB), pickled values, a point select and an upsert
# whose SQL text stays the same, so sqlite3's statement cache keeps them prepared),
# "executor/diskcache" and "executor/sqlitedict" (`loop.run_in_executor(None, ...)`
# over the sync library). The phases of a row run in rotating order across repeats,
# so neither side always gets the warmer machine.

ASYNC_ROWS = ("hot", "cold", "wt", "batch", "lateness")


async def atimed_chunks(afn, keys, budget):
    """timed_chunks for a coroutine function afn(chunk)."""
    n = len(keys)
    gc.collect()
    gc.disable()
    done = 0
    size = 10
    t0 = perf()
    try:
        while done < n:
            ch = keys[done:done + size]
            await afn(ch)
            done += len(ch)
            el = perf() - t0
            if el > budget:
                break
            size = max(1, min(CHUNK, size * 4, int((budget - el) * done / (4 * el)) if el > 0 else CHUNK))
    finally:
        t1 = perf()
        gc.enable()
    return done, t1 - t0


class AsyncAdapterBase:
    """One library's async and sync idioms. Subclasses set, after open():
    aget(k) -> awaitable of the decoded value, get(k), aset(k, v) -> awaitable,
    set(k, v), abatch(items) -> awaitable, batch(items), aflush() -> awaitable, flush().
    The loops below are the shared idiom; the DictSQLite classes override the sync
    ones with the `db[k]` / `db[k] = v` syntax itself."""
    durable_writes = "per-write commit"
    notes = ()

    def __init__(self, spec):
        self.spec = spec

    async def aget_loop(self, keys):
        aget = self.aget
        for k in keys:
            await aget(k)

    def get_loop(self, keys):
        get = self.get
        for k in keys:
            get(k)

    async def aget_gather(self, keys, conc):
        import asyncio
        gather, aget = asyncio.gather, self.aget
        for i in range(0, len(keys), conc):
            await gather(*[aget(k) for k in keys[i:i + conc]])

    async def aset_loop(self, keys, v):
        aset = self.aset
        for k in keys:
            await aset(k, v)

    def set_loop(self, keys, v):
        put = self.set
        for k in keys:
            put(k, v)

    async def writer(self, keys, v, deadline):
        """One of the concurrent writers: awaits aset over its keys until the deadline."""
        aset = self.aset
        done = 0
        for k in keys:
            await aset(k, v)
            done += 1
            if perf() > deadline:
                break
        return done

    def version(self):
        return None


class AsyncDictSQLiteAdapter(AsyncAdapterBase):
    """Ours and the Rust package's AsyncDictSQLite (COMPAT.md's API)."""

    def __init__(self, spec):
        super().__init__(spec)
        import dictsqlite
        self.mod = dictsqlite
        if not hasattr(dictsqlite, "AsyncDictSQLite"):
            raise RuntimeError(f"dictsqlite ({dictsqlite.__file__}) has no AsyncDictSQLite")
        self.rust = _is_rust_package()
        if self.rust:
            self.notes = ("the Rust package's writethrough turns the default buffer_size=100 "
                          "into 1 (a commit per write); its batch_get/abatch_get return "
                          "undecoded pickles",)

    async def open(self, path, mode):
        self.db = self.mod.AsyncDictSQLite(path, persist_mode=mode, storage_mode="pickle")
        db = self.db
        self.aget, self.aset, self.abatch = db.aget, db.aset, db.abatch_set
        self.get, self.set, self.batch = db.__getitem__, db.__setitem__, db.batch_set
        self.aflush, self.flush = db.aflush, db.flush

    async def close(self):
        self.db.close()
        self.db = None

    def fill(self, keys, v):
        for i in range(0, len(keys), 10_000):
            self.db.batch_set([(k, v) for k in keys[i:i + 10_000]])
        self.db.flush()

    def get_loop(self, keys):
        db = self.db
        for k in keys:
            db[k]

    def set_loop(self, keys, v):
        db = self.db
        for k in keys:
            db[k] = v

    def read_one(self, k):
        return self.db[k]

    def version(self):
        return _dist_version("dictsqlite") or getattr(self.mod, "__version__", None)


class AiosqliteAdapter(AsyncAdapterBase):
    """aiosqlite on one connection (its idiom: one worker thread per connection),
    autocommit (isolation_level=None): every write its own transaction. aiosqlite has
    no lazy mode: a batch is one explicit transaction (BEGIN, executemany, COMMIT),
    in every mode, and flush does nothing. The sync side is the standard sqlite3
    module with the same PRAGMAs and statements, on a connection of its own."""
    SCHEMA = "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB)"
    SELECT = "SELECT value FROM kv WHERE key=?"
    UPSERT = ("INSERT INTO kv(key, value) VALUES(?, ?) "
              "ON CONFLICT(key) DO UPDATE SET value=excluded.value")
    PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
               "PRAGMA busy_timeout=5000")
    notes = ("no lazy mode: the batch rows commit one transaction per batch",)

    def __init__(self, spec):
        super().__init__(spec)
        import aiosqlite
        import sqlite3
        self.mod = aiosqlite
        self.sqlite3 = sqlite3

    async def open(self, path, mode):
        self.aconn = await self.mod.connect(path, isolation_level=None)
        for p in self.PRAGMAS:
            await self.aconn.execute(p)
        await self.aconn.execute(self.SCHEMA)
        self.conn = self.sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for p in self.PRAGMAS:
            self.conn.execute(p)
        fetch, ex, aex = self.aconn.execute_fetchall, self.conn.execute, self.aconn.execute
        aexm, exm = self.aconn.executemany, self.conn.executemany
        loads, dumps = pickle.loads, pickle.dumps
        sel, ups = self.SELECT, self.UPSERT

        async def aget(k):
            return loads((await fetch(sel, (k,)))[0][0])

        def get(k):
            return loads(ex(sel, (k,)).fetchone()[0])

        def aset(k, v):
            return aex(ups, (k, dumps(v, PROTO)))

        def put(k, v):
            ex(ups, (k, dumps(v, PROTO)))

        async def abatch(items):
            rows = [(k, dumps(v, PROTO)) for k, v in items]
            await aex("BEGIN")
            await aexm(ups, rows)
            await aex("COMMIT")

        def batch(items):
            rows = [(k, dumps(v, PROTO)) for k, v in items]
            ex("BEGIN")
            exm(ups, rows)
            ex("COMMIT")

        async def aflush():
            pass

        self.aget, self.get, self.aset, self.set = aget, get, aset, put
        self.abatch, self.batch, self.aflush = abatch, batch, aflush

    def flush(self):
        pass

    async def close(self):
        await self.aconn.close()
        self.conn.close()

    def fill(self, keys, v):
        self.batch([(k, v) for k in keys])

    def read_one(self, k):
        return self.get(k)

    def version(self):
        return _dist_version("aiosqlite")


class ExecutorAdapter(AsyncAdapterBase):
    """`loop.run_in_executor(None, f, ...)` over a sync library: the default thread
    pool, each call one hop there and back. diskcache: every set its own transaction;
    the batch is one `transact()`. sqlitedict: writethrough is autocommit=True, and
    each write then waits for its commit (`commit(blocking=True)`): sqlitedict's
    autocommit only queues the commit to its own thread, so without the wait a
    returned write is not yet durable; lazy is autocommit=False, flush = commit()."""

    def __init__(self, spec):
        super().__init__(spec)
        self.which = spec["lib"].split("/", 1)[1]
        if self.which == "diskcache":
            import diskcache
            self.mod = diskcache
        else:
            import sqlitedict
            self.mod = sqlitedict
            self.notes = ("writethrough: autocommit=True, then commit(blocking=True) in the "
                          "same executor call, so each write is durable when its await "
                          "returns",)

    async def open(self, path, mode):
        import asyncio
        loop = asyncio.get_running_loop()
        run = loop.run_in_executor
        if self.which == "diskcache":
            db = self.db = self.mod.Cache(path, size_limit=2 ** 50, eviction_policy="none")

            def batch(items):
                with db.transact():
                    for k, v in items:
                        db[k] = v
            put = db.__setitem__

            def flush():
                pass
        else:
            wt = mode == "writethrough"
            db = self.db = self.mod.SqliteDict(path, autocommit=wt, journal_mode="WAL",
                                               outer_stack=False)
            db.conn.execute("PRAGMA synchronous=NORMAL")
            db.commit()
            setitem, commit = db.__setitem__, db.commit
            if wt:
                def put(k, v):
                    setitem(k, v)
                    commit()
            else:
                put = setitem

            def batch(items):
                db.update(items)

            def flush():
                commit()
        get = db.__getitem__
        self.get, self.set, self.batch, self.flush = get, put, batch, flush
        self.aget = lambda k: run(None, get, k)
        self.aset = lambda k, v: run(None, put, k, v)
        self.abatch = lambda items: run(None, batch, items)
        self.aflush = lambda: run(None, flush)

    def get_loop(self, keys):
        db = self.db
        for k in keys:
            db[k]

    async def close(self):
        self.db.close()
        self.db = None

    def fill(self, keys, v):
        if self.which == "diskcache":
            for i in range(0, len(keys), 10_000):
                with self.db.transact():
                    for k in keys[i:i + 10_000]:
                        self.db[k] = v
        else:
            self.db.update((k, v) for k in keys)
            self.db.commit()

    def read_one(self, k):
        return self.db[k]

    def version(self):
        return _dist_version(self.which)


ASYNC_ADAPTERS = {"ours": AsyncDictSQLiteAdapter, "rust": AsyncDictSQLiteAdapter,
                  "aiosqlite": AiosqliteAdapter, "executor/diskcache": ExecutorAdapter,
                  "executor/sqlitedict": ExecutorAdapter}


def import_uvloop(path):
    """uvloop from this interpreter, else from the END of sys.path (.peers/py's
    site-packages, same Python major.minor), as the paired msgpack floor does; the
    path comes off again at once."""
    added = bool(path) and path not in sys.path
    if added:
        sys.path.append(path)
    try:
        import uvloop
        return uvloop
    finally:
        if added:
            sys.path.remove(path)


async def ticker(state, period=0.005):
    """Sleeps `period` in a loop; records the worst lateness of its wake-ups (the time
    between when it should have woken and when it ran) while state["measure"]."""
    import asyncio
    while not state["stop"]:
        t = perf()
        await asyncio.sleep(period)
        late = perf() - (t + period)
        state["ticks"] += 1
        key = "max" if state["measure"] else "idle_max"
        if late > state[key]:
            state[key] = late


def run_async(spec):
    import asyncio
    lib = spec["lib"]
    rows = spec.get("rows") or ASYNC_ROWS
    repeats = spec["repeats"]
    budget = spec.get("budget", 0.5)
    # every cold phase reads the same n_cold_read keys (a fixed count, not a time budget:
    # a phase that read more keys would find more of SQLite's pages already in its cache)
    cold_budget = spec.get("cold_budget", 30.0)
    n_cold_read = spec.get("n_cold_read", 10_000)
    conc = spec.get("conc", 64)
    n_cold = spec.get("n_cold", 100_000)
    n_hot = spec.get("n_hot", 20_000)
    batch = spec.get("batch", 1000)
    n_batches = spec.get("batches", 10)
    tick_n = spec.get("tick_n", 200_000)
    workdir = spec["dir"]
    os.makedirs(workdir, exist_ok=True)
    v1, v2 = VALUE_KINDS[spec.get("value_kind", "small")]()
    rnd = random.Random(spec.get("seed", 42))
    rec = Recorder()
    ad = ASYNC_ADAPTERS[lib](spec)
    info = {"version": ad.version(), "notes": list(ad.notes), "conc": conc, "n_cold": n_cold,
            "n_cold_read": n_cold_read,
            "n_hot": n_hot, "tick_n": tick_n, "module_file": getattr(ad.mod, "__file__", None)}
    tag = lib.replace("/", "_")

    def path_of(name):
        p = os.path.join(workdir, f"async-{tag}-{name}")
        return p

    def order(rep, phases):
        """The phases of a row, rotated by the repeat number."""
        i = rep % len(phases)
        return phases[i:] + phases[:i]

    async def row_hot(rep):
        path = path_of(f"hot-{rep}")
        rm_path(path)
        keys = make_keys(n_hot)
        shuffled = keys[:]
        rnd.shuffle(shuffled)
        await ad.open(path, "lazy")
        try:
            ad.fill(keys, v1)
            await ad.aget_loop(shuffled[:CHUNK])  # warm-up, both idioms
            ad.get_loop(shuffled)
            for phase in order(rep, ["a", "s"]):
                if phase == "a":
                    rec.add("aget_hot", *(await atimed_chunks(ad.aget_loop, shuffled, budget)))
                else:
                    rec.add("get_hot_sync", *timed_chunks(ad.get_loop, shuffled, budget))
            got = await ad.aget(shuffled[0])
            if got != v1:
                rec.errors.setdefault("verify_hot", f"aget({shuffled[0]!r}) = {str(got)[:60]!r}")
        finally:
            await ad.close()
            rm_path(path)

    cold_path = path_of("cold")
    cold_keys = make_keys(n_cold)
    cold_shuffled = cold_keys[:]
    rnd.shuffle(cold_shuffled)
    cold_shuffled = cold_shuffled[:n_cold_read]

    async def prepare_cold():
        rm_path(cold_path)
        await ad.open(cold_path, "lazy")
        try:
            ad.fill(cold_keys, v1)
        finally:
            await ad.close()
        # one untimed pass over the file, so that the OS page cache is as warm for the
        # first timed phase as for the later ones: "cold" is the library's cold tier
        await ad.open(cold_path, "lazy")
        try:
            ad.get_loop(cold_keys)
        finally:
            await ad.close()

    async def row_cold(rep):
        for phase in order(rep, ["a", "s", "g"]):
            await ad.open(cold_path, "lazy")
            try:
                if phase == "a":
                    rec.add("aget_cold", *(await atimed_chunks(ad.aget_loop, cold_shuffled,
                                                               cold_budget)), n_cold_read)
                elif phase == "s":
                    rec.add("get_cold_sync", *timed_chunks(ad.get_loop, cold_shuffled,
                                                           cold_budget), n_cold_read)
                else:
                    rec.add("aget_cold_gather", *(await atimed_chunks(
                        lambda c: ad.aget_gather(c, conc), cold_shuffled, cold_budget)),
                            n_cold_read)
                if phase == "a":
                    got = await ad.aget(cold_shuffled[-1])
                    if got != v1:
                        rec.errors.setdefault("verify_cold",
                                              f"aget({cold_shuffled[-1]!r}) = {str(got)[:60]!r}")
            finally:
                await ad.close()

    async def row_wt(rep):
        path = path_of(f"wt-{rep}")
        rm_path(path)
        await ad.open(path, "writethrough")
        try:
            warm = make_keys(100, prefix="warm")
            await ad.aset_loop(warm, v1)
            ad.set_loop(warm, v1)
            for phase in order(rep, ["a", "s", "c"]):
                if phase == "a":
                    keys = make_keys(n_cold, prefix=f"a{rep}_")
                    rec.add("aset_wt", *(await atimed_chunks(lambda c: ad.aset_loop(c, v1),
                                                             keys, budget)))
                elif phase == "s":
                    keys = make_keys(n_cold, prefix=f"s{rep}_")
                    rec.add("set_wt_sync", *timed_chunks(lambda c: ad.set_loop(c, v1),
                                                         keys, budget))
                else:
                    per = max(1, n_cold // conc)
                    slices = [make_keys(per, prefix=f"c{rep}_{w:02d}_") for w in range(conc)]
                    gc.collect()
                    gc.disable()
                    t0 = perf()
                    try:
                        counts = await asyncio.gather(*[ad.writer(s, v1, t0 + budget)
                                                        for s in slices])
                    finally:
                        t1 = perf()
                        gc.enable()
                    rec.add(f"aset_wt_{conc}writers", sum(counts), t1 - t0)
                    k = slices[conc - 1][max(0, counts[-1] - 1)]
                    if ad.read_one(k) != v1:
                        rec.errors.setdefault("verify_wt", f"{k!r} not read back")
        finally:
            await ad.close()
            rm_path(path)

    async def row_batch(rep):
        path = path_of(f"batch-{rep}")
        rm_path(path)
        await ad.open(path, "lazy")
        try:
            await ad.abatch([(k, v1) for k in make_keys(batch, prefix="warm")])
            ad.batch([(k, v1) for k in make_keys(batch, prefix="warms")])
            tots = {"a": [0, 0.0], "s": [0, 0.0]}
            for i in range(n_batches):
                for phase in order(rep + i, ["a", "s"]):
                    items = [(k, v2) for k in make_keys(batch, prefix=f"b{phase}{i:03d}_")]
                    if phase == "a":
                        _, s = await atimed_call(lambda: ad.abatch(items))
                    else:
                        _, s = timed_call(lambda: ad.batch(items))
                    tots[phase][0] += len(items)
                    tots[phase][1] += s
            rec.add("abatch_set_1k", *tots["a"])
            rec.add("batch_set_1k_sync", *tots["s"])
            await ad.aflush()
            k = f"ba{n_batches - 1:03d}_{batch - 1:08d}"
            if ad.read_one(k) != v2:
                rec.errors.setdefault("verify_batch", f"{k!r} not read back")
        finally:
            await ad.close()
            rm_path(path)

    async def row_lateness(rep):
        path = path_of(f"tick-{rep}")
        rm_path(path)
        await ad.open(path, "lazy")
        items = [(k, v1) for k in make_keys(tick_n, prefix="t")]
        state = {"stop": False, "measure": False, "ticks": 0, "max": 0.0, "idle_max": 0.0}
        try:
            gc.collect()
            task = asyncio.ensure_future(ticker(state))
            await asyncio.sleep(0.1)  # the idle loop's own lateness, for comparison
            state["measure"] = True
            t0 = perf()
            await ad.abatch(items)
            await ad.aflush()
            t1 = perf()
            state["measure"] = False
            await asyncio.sleep(0.02)
            state["stop"] = True
            await task
            rec.add(f"abatch_set_flush_{tick_n}", tick_n, t1 - t0)
            rec.add("loop_lateness_max", 1, state["max"])
            rec.add("loop_lateness_idle", 1, state["idle_max"])
            k = items[-1][0]
            if ad.read_one(k) != v1:
                rec.errors.setdefault("verify_lateness", f"{k!r} not read back")
        finally:
            await ad.close()
            rm_path(path)

    async def main():
        rowfns = {"hot": row_hot, "cold": row_cold, "wt": row_wt, "batch": row_batch,
                  "lateness": row_lateness}
        if "cold" in rows:
            try:
                await prepare_cold()
            except Exception as e:
                rec.error("cold", e)
        for rep in range(repeats):
            for row in rows:
                if row == "cold" and "cold" in rec.errors:
                    continue
                try:
                    await rowfns[row](rep)
                except Exception as e:  # one failing row must not hide the others
                    rec.error(row, e)
        rm_path(cold_path)

    uvloop = None
    if spec.get("uvloop"):
        uvloop = import_uvloop(spec.get("uvloop_path"))
    loop = uvloop.new_event_loop() if uvloop else asyncio.new_event_loop()
    info["loop"] = f"uvloop {uvloop.__version__}" if uvloop else f"asyncio {type(loop).__name__}"
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()
    return {"info": info, "ops": rec.ops, "errors": rec.errors, "capped": rec.capped}


async def atimed_call(afn):
    gc.collect()
    gc.disable()
    t0 = perf()
    try:
        r = await afn()
    finally:
        t1 = perf()
        gc.enable()
    return r, t1 - t0


KINDS = {"probe": run_probe, "floors": run_floors, "cell": run_cell, "bulk": run_bulk,
         "growth": run_growth, "async": run_async}


def main():
    raw = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    spec = json.loads(raw)
    t0 = perf()
    try:
        out = KINDS[spec["kind"]](spec)
        out["ok"] = True
    except Exception as e:
        import traceback
        out = {"ok": False, "error": f"{type(e).__name__}: {e}",
               "traceback": traceback.format_exc()}
    out["wall_s"] = perf() - t0
    out["spec"] = spec
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
