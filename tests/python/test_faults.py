"""Fault injection (issue 11), as apsw does: in a build with -DDS_FAULTS
(bash scripts/faults.sh), the nth SQLite step, SQLite prepare or OpenSSL EVP
call fails. Every public operation is swept over n = 1..(the calls it makes)
in each persist mode. After each injected failure: the call raised a Python
exception (never a crash: each sweep runs in a subprocess), the instance
still works, nothing that raised is visible, and nothing acknowledged is lost
(the state equals a model, before and after close and reopen)."""
import json

import pytest

from conftest import run_python
from dictsqlite import _native

if not hasattr(_native, "_inject_fault"):
    pytest.skip("needs a fault-injection build: bash scripts/faults.sh", allow_module_level=True)

SWEEP = r"""
import json, sys
from dictsqlite import DictSQLiteV4, DatabaseClosedError
from dictsqlite import _native as N
path, mode, kind = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(persist_mode=mode, hot_capacity=8, enable_async=False)
if kind == "evp":
    kw["encryption_password"] = "pw"
db = DictSQLiteV4(path, **kw)
model = {f"base{i}": i for i in range(40)}
other_model = {}
db.update(model)
db.flush()
other = db.table("other")
violations, injected, raised = [], 0, 0
ALLOWED = (OSError, ValueError, MemoryError)

def op_set(i): db[f"s{i}"] = i; model[f"s{i}"] = i
def op_overwrite(i): db["base0"] = ("v", i); model["base0"] = ("v", i)
def op_delete(i):
    k = f"base{1 + i % 30}"
    if k in model:
        del db[k]; del model[k]
def op_update(i):
    new = {f"u{i}a": i, f"u{i}b": [i]}
    db.update(new); model.update(new)
def op_pop(i):
    k = f"base{2 + i % 30}"
    assert db.pop(k, None) == model.pop(k, None)
def op_setdefault(i):
    assert db.setdefault(f"sd{i % 5}", i) == model.setdefault(f"sd{i % 5}", i)
def op_popitem(i):
    k, v = db.popitem()
    assert model.pop(k) == v
def op_get_cold(i):
    for k in ("base35", "base36", "base37", "base38"):
        assert db.get(k) == model.get(k)
def op_contains(i): assert ("base39" in db) == ("base39" in model)
def op_len(i): assert len(db) == len(model)
def op_keys(i): assert db.keys() == sorted(model)
def op_items(i): assert dict(db.items()) == model
def op_iter(i): assert list(db) == sorted(model)
def op_stats(i): db.stats()
def op_tables(i): db.tables()
def op_flush(i): db.flush()
def op_table_set(i): other[f"t{i}"] = i; other_model[f"t{i}"] = i
def op_table_clear(i): other.clear(); other_model.clear()
OPS = [op_set, op_overwrite, op_delete, op_update, op_pop, op_setdefault, op_popitem,
       op_get_cold, op_contains, op_len, op_keys, op_items, op_iter, op_stats, op_tables,
       op_flush, op_table_set, op_table_clear]

def check(where):
    N._inject_fault(kind, 0)
    if dict(db.items()) != model:
        got = dict(db.items())
        violations.append(f"{where}: state differs: extra {sorted(set(got) - set(model))[:5]}, "
                          f"missing {sorted(set(model) - set(got))[:5]}, changed "
                          f"{[k for k in got if k in model and got[k] != model[k]][:5]}")
    if dict(other.items()) != other_model:
        violations.append(f"{where}: table 'other' differs")

trial = 0
for op in OPS:
    N._inject_fault(kind, 0)
    before = (dict(model), dict(other_model))
    op(trial); trial += 1
    calls = min(N._fault_count(kind), 25)
    for n in range(1, calls + 1):
        saved = (dict(model), dict(other_model))
        N._inject_fault(kind, n)
        try:
            op(trial)
        except ALLOWED as exc:
            raised += 1
            model.clear(); model.update(saved[0])        # a call that raised
            other_model.clear(); other_model.update(saved[1])  # changed nothing
        except AssertionError as exc:
            violations.append(f"{op.__name__} n={n}: wrong answer under a fault")
        except BaseException as exc:
            violations.append(f"{op.__name__} n={n}: {type(exc).__name__}: {exc}")
        injected += 1
        trial += 1
        check(f"{op.__name__} {kind}#{n}")
        try:
            db["probe"] = trial; model["probe"] = trial  # still works
        except BaseException as exc:
            violations.append(f"{op.__name__} n={n}: instance broken: {exc!r}")
        check(f"{op.__name__} {kind}#{n} probe")

# close under a fault: raises and stays open, or closes; then the data is there
N._inject_fault(kind, 0)
db["last"] = 1; model["last"] = 1
N._inject_fault(kind, 1)
try:
    db.close()
except ALLOWED:
    raised += 1
    N._inject_fault(kind, 0)
    db.close()
injected += 1
N._inject_fault(kind, 0)
if mode != "memory":
    # open under a fault: raises or opens; never damages the file
    for n in range(1, 6):
        N._inject_fault(kind, n)
        try:
            DictSQLiteV4(path, **kw).close()
        except ALLOWED:
            raised += 1
        injected += 1
    N._inject_fault(kind, 0)
    again = DictSQLiteV4(path, **kw)
    if dict(again.items()) != model:
        violations.append("after reopen: an acknowledged write was lost or a failed one kept")
    if dict(again.table("other").items()) != other_model:
        violations.append("after reopen: table 'other' differs")
    again.close()
print(json.dumps({"injected": injected, "raised": raised, "violations": violations[:20]}))
"""

CASES = [(m, k) for m in ("lazy", "writethrough") for k in ("step", "prepare", "evp")]


@pytest.mark.parametrize("mode, kind", CASES)
def test_every_operation_survives_each_injected_fault(tmp_path, mode, kind):
    proc = run_python(SWEEP, tmp_path / "f.db", mode, kind, timeout=600)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{mode}/{kind}: {r['injected']} faults injected, {r['raised']} raised")
    assert r["violations"] == []
    assert r["injected"] >= (6 if kind == "prepare" else 20)  # statements are prepared at open
