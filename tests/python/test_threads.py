"""Threads on one instance (issue 11): every operation mixed by 8 threads
ends in the state a model predicts, and close() racing any operation gives
no crash, no hang and no exception but DatabaseClosedError.

Each scenario runs in a subprocess, so a crash or a hang fails the test
instead of the run."""
import json

import pytest

from conftest import PERSIST_MODES, run_python

MIX = r"""
import json, random, sys, threading, time
from dictsqlite import DictSQLiteV4
path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = DictSQLiteV4(path, persist_mode=mode, hot_capacity=64, buffer_size=16)
other = db.table("other")
models = [dict() for _ in range(8)]
counts = [0] * 8
errors = []

def worker(t):
    rnd = random.Random(t)
    model = models[t]
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            k = f"t{t}-{rnd.randrange(40)}"
            op = rnd.randrange(14)
            if op < 4:
                v = [t, rnd.random()]
                db[k] = v
                model[k] = v
            elif op == 4:
                assert db.get(k) == model.get(k), (k, db.get(k), model.get(k))
            elif op == 5:
                if k in model:
                    del db[k]
                    del model[k]
                else:
                    assert k not in db
            elif op == 6:
                assert db.pop(k, None) == model.pop(k, None)
            elif op == 7:
                batch = {f"t{t}-{rnd.randrange(40)}": i for i in range(5)}
                db.update(batch)
                model.update(batch)
            elif op == 8:
                mine = {x for x in db.keys() if x.startswith(f"t{t}-")}
                assert mine == set(model), (mine ^ set(model))
            elif op == 9:
                s = db.stats()
                assert s["len"] >= 0
            elif op == 10:
                assert "main" in db.tables() or not len(db)
            elif op == 11:
                db.flush()
            elif op == 12:
                other[k] = t
                assert other[k] == t
            else:
                try:
                    sum(1 for _ in iter(db))
                except RuntimeError as exc:  # as a dict does
                    assert "changed size during iteration" in str(exc)
            counts[t] += 1
    except BaseException as exc:
        import traceback
        errors.append(traceback.format_exc())

threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
for th in threads: th.start()
for th in threads: th.join(120)
assert not any(th.is_alive() for th in threads), "hang"
assert not errors, errors[0]
expected = {}
for m in models: expected.update(m)
assert dict(db.items()) == expected
db.close()
if mode != "memory":
    with DictSQLiteV4(path, persist_mode=mode) as again:
        assert dict(again.items()) == expected
print(json.dumps({"ops": sum(counts), "keys": len(expected)}))
"""


@pytest.mark.parametrize("mode", PERSIST_MODES)
def test_eight_threads_mixing_every_operation_match_a_model(tmp_path, mode):
    proc = run_python(MIX, tmp_path / "mix.db", mode, 3.0, timeout=300)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(mode, result)
    assert result["ops"] > 1000


RACE = r"""
import sys, threading, time
from dictsqlite import DictSQLiteV4, DatabaseClosedError
path, mode, opname = sys.argv[1], sys.argv[2], sys.argv[3]
db = DictSQLiteV4(path, persist_mode=mode, hot_capacity=32, buffer_size=8)
for i in range(200):
    db[f"k{i}"] = i
other = db.table("other")
OPS = {
    "get": lambda i: db.get(f"k{i % 300}"),
    "set": lambda i: db.__setitem__(f"k{i % 300}", i),
    "delete": lambda i: db.pop(f"k{i % 300}", None),
    "contains": lambda i: f"k{i}" in db,
    "len": lambda i: len(db),
    "update": lambda i: db.update({f"u{i % 50}": i, f"v{i % 50}": i}),
    "keys": lambda i: db.keys(),
    "items": lambda i: list(db.items()),
    "iterate": lambda i: [k for k in db],
    "stats": lambda i: db.stats(),
    "tables": lambda i: db.tables(),
    "flush": lambda i: db.flush(),
    "clear": lambda i: other.clear(),
    "table": lambda i: other.__setitem__("x", i),
    "popitem": lambda i: db.popitem() if len(db) else None,
}
op = OPS[opname]
unexpected = []
started = threading.Barrier(5)

def worker():
    started.wait()
    i = 0
    while True:
        try:
            op(i)
        except DatabaseClosedError:
            return
        except KeyError:
            pass  # popitem racing an emptied table
        except RuntimeError as exc:
            if "changed size during iteration" not in str(exc):
                unexpected.append(repr(exc))
                return
        except BaseException as exc:
            unexpected.append(repr(exc))
            return
        i += 1

threads = [threading.Thread(target=worker) for _ in range(4)]
for th in threads: th.start()
started.wait()
time.sleep(0.05)
db.close()
for th in threads: th.join(60)
assert not any(th.is_alive() for th in threads), "a thread hung after close()"
assert not unexpected, unexpected
print("ok")
"""

RACE_OPS = ["get", "set", "delete", "contains", "len", "update", "keys", "items",
            "iterate", "stats", "tables", "flush", "clear", "table", "popitem"]


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
@pytest.mark.parametrize("opname", RACE_OPS)
def test_close_racing_an_operation_only_raises_database_closed(tmp_path, mode, opname):
    for trial in range(3):
        proc = run_python(RACE, tmp_path / f"race{trial}.db", mode, opname, timeout=120)
        assert proc.stdout.strip() == "ok"
