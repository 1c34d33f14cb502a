"""A tour of dictsqlite's main features. Run: .venv/bin/python examples/demo.py
(after bash scripts/install.sh; any interpreter that imports dictsqlite will do)."""
import os
import pickle
import tempfile
import time

import dictsqlite
from dictsqlite import DictSQLiteV4

workdir = tempfile.mkdtemp(prefix="dictsqlite-demo-")
path = os.path.join(workdir, "app.db")
print(f"dictsqlite {dictsqlite.__version__}, SQLite {dictsqlite.sqlite_version()}")
print(f"database: {path}\n")

# 1. A dict that lands in SQLite: writethrough + pickle by default, so every
#    write is committed before the assignment returns.
db = DictSQLiteV4(path)
db["user:alice"] = {"name": "Alice", "age": 30}
db["user:bob"] = {"name": "Bob", "age": 25}
print("1. writethrough:", db["user:alice"], "| len:", len(db), "| 'user:bob' in db:", "user:bob" in db)
db.close()

# 2. Reopen: the data is there.
with DictSQLiteV4(path) as db:
    print("2. after reopen:", db.items())

# 3. Lazy mode: writes stay in memory until flush()/close() (or the
#    background flusher, or interpreter exit).
with DictSQLiteV4(path, persist_mode="lazy") as db:
    start = time.perf_counter()
    db.update({f"item:{i:06d}": {"i": i} for i in range(100_000)})
    db.flush()
    elapsed = time.perf_counter() - start
    print(f"3. lazy: stored and flushed 100,000 items in {elapsed:.2f} s; len = {len(db)}")

# 4. Storage modes: each value records its codec, so any mode reads any value.
with DictSQLiteV4(path, storage_mode="json") as db:
    db["config"] = {"theme": "dark", "sizes": [1, 2, 3]}
with DictSQLiteV4(path, storage_mode="jsonb") as db:
    db["msgpacked"] = {"compact": True}
with DictSQLiteV4(path, storage_mode="bytes") as db:
    db["raw"] = b"\x00\x01\x02"
    print("4. modes:", db["config"], db["msgpacked"], db["raw"])

# 5. Memory mode: no file at all, never evicts.
with DictSQLiteV4(":memory:", persist_mode="memory") as cache:
    cache["pre-pickled"] = pickle.dumps([1, 2, 3])  # stored as is, read unpickled
    print("5. memory:", cache["pre-pickled"], cache.stats()["persist_mode"])

# 6. Errors say what went wrong.
with DictSQLiteV4(path, storage_mode="bytes") as db:
    try:
        db["text"] = "not bytes"
    except TypeError as exc:
        print("6. TypeError:", exc)
    try:
        db["missing"]
    except KeyError as exc:
        print("   KeyError:", exc)
try:
    DictSQLiteV4(path, persist_mode="fast")  # type: ignore[arg-type]  # wrong on purpose
except ValueError as exc:
    print("   ValueError:", exc)

# 7. stats()
with DictSQLiteV4(path, persist_mode="lazy") as db:
    db["item:000001"]
    s = db.stats()
    print("7. stats:", {k: s[k] for k in ("hot_tier_size", "hot_hits", "hot_misses",
                                          "cold_reads", "file_size_bytes")})
print("\ndone")
