"""Fault injection (issue 11), as apsw does: in a build with -DDS_FAULTS
(bash scripts/faults.sh), the nth SQLite step, SQLite prepare or OpenSSL EVP
call fails. Every public operation is swept over n = 1..(the calls it makes)
in each persist mode. After each injected failure: the call raised a Python
exception (never a crash: each sweep runs in a subprocess), the instance
still works, nothing that raised is visible, and nothing acknowledged is lost
(the state equals a model, before and after close and reopen)."""
import errno
import json
import os
import shutil

import pytest

import dictsqlite
from dictsqlite import DictSQLiteV4

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
    TOTALS["seq_injected"] += r["injected"]
    TOTALS["seq_raised"] += r["raised"]
    assert r["violations"] == []
    assert r["injected"] >= (6 if kind == "prepare" else 20)  # statements are prepared at open


# ---- the per-operation sweep ------------------------------------------------
# Above: one instance runs every operation in turn under each fault. Below:
# each (variant, operation) gets a fresh copy of a seeded file per fault, so a
# fault is attributed to one call; variants add memory mode, encryption, a
# tiny buffer and hot tier, batched writethrough, the background flusher
# meeting an armed fault, open, close and dealloc (the final flush under a
# fault). After each fault: the call raised one of the documented families or
# returned the right answer; the instance works or is cleanly closed; a call
# that raised changed nothing; nothing acknowledged is lost, as seen by this
# process reopening the file (it never had it open). Figures per sweep are
# printed, and the totals go to $DICTSQLITE_FAULTS_SUMMARY (scripts/faults.sh).

KINDS = ["step", "prepare", "evp"]
CAP = 30  # faults per (operation, kind); past it, the first and last CAP/2 calls

# Deterministic call counts: no background flusher (it would consume an armed
# fault at a random point), and a lazy buffer that never fills during a sweep.
BASE_OPTS = {"enable_async": False, "flush_interval_ms": 86400000}
PASSWORD = "fault-pw"

OPS = ["set", "set_new", "get_cold", "delete", "contains", "update", "clear", "pop",
       "setdefault", "popitem", "keys", "items", "iter", "len", "flush", "close",
       "tables", "table_set", "table_get", "stats", "open", "dealloc"]
# Encryption costs an Argon2 derivation per open: sweep the operations that
# seal or open values, and open itself.
ENC_OPS = ["set", "get_cold", "update", "items", "pop", "table_set", "flush", "open"]
WRITE_OPS = ["set", "set_new", "delete", "update", "clear", "pop", "setdefault",
             "popitem", "flush", "close", "table_set", "dealloc"]

# Each variant: the persist mode and the options beyond BASE_OPTS, the
# operations swept, and how long the fault stays armed after the operation
# returns (for the background flusher).
VARIANTS = {
    "lazy": ("lazy", {}, OPS, 0),
    "writethrough": ("writethrough", {}, OPS, 0),
    "memory": ("memory", {}, OPS, 0),
    "lazy-enc": ("lazy", {"encryption_password": PASSWORD}, ENC_OPS, 0),
    "writethrough-enc": ("writethrough", {"encryption_password": PASSWORD}, ENC_OPS, 0),
    # Writes that flush inside the call (a full buffer) and reads that go
    # cold because the hot tier holds two entries.
    "lazy-tiny": ("lazy", {"buffer_size": 2, "hot_capacity": 2}, OPS, 0),
    # Writethrough that commits every 4th write: a write may return before
    # its commit, as in lazy mode.
    "writethrough-batched": ("writethrough", {"buffer_size": 4}, WRITE_OPS, 0),
    # The flusher thread on, every 2 ms, and the fault left armed 30 ms after
    # the call: the flusher's own commits meet the faults.
    "lazy-async": ("lazy", {"enable_async": True, "flush_interval_ms": 2}, WRITE_OPS, 0.03),
}

# (variant, op) that currently fail: each a strict xfail with its repro.
KNOWN = {}

OP_CASES = [(v, op) for v, (_, _, ops, _) in VARIANTS.items() for op in ops]


def case_id(case):
    return "-".join(case)


def params():
    out = []
    for case in OP_CASES:
        reason = KNOWN.get(case)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, id=case_id(case), marks=marks))
    return out


# The sweep, run in a fresh interpreter: argv[1] is a JSON job. It writes one
# record per injected fault to job["out"] (and "BEGIN kind n" lines to stdout,
# so a crash is attributed to the fault that caused it).
OP_SWEEP = r'''
import errno, gc, json, os, shutil, sys, time, traceback
import dictsqlite
from dictsqlite import DictSQLiteV4, DatabaseClosedError
from dictsqlite import _native as N

job = json.loads(sys.argv[1])
mode, op, opts, work = job["mode"], job["op"], job["opts"], job["work"]
KINDS, CAP, linger = job["kinds"], job["cap"], job["linger"]
SEED_M = {"k%d" % i: {"v": i} for i in range(8)}
SEED_T = {"t0": "tv0", "t1": "tv1"}
ALLOWED = (OSError, ValueError, MemoryError)

def disarm():
    for k in ("step", "prepare", "evp"):
        N._inject_fault(k, 0)

def companions(p):
    return [p + s for s in ("", "-wal", "-shm", "-dsgen", "-journal")]

template = os.path.join(work, "template.db")
if mode != "memory":
    disarm()
    with DictSQLiteV4(template, **opts) as d:
        d.update(SEED_M)
        d.table("t1").update(SEED_T)

def fresh(tag):
    p = os.path.join(work, tag + ".db")
    for src, dst in zip(companions(template), companions(p)):
        if os.path.exists(src):
            shutil.copyfile(src, dst)
    return p

def open_seeded(p):
    d = DictSQLiteV4(p, **opts)
    if mode == "memory":  # nothing persists: seed the instance itself
        d.update(SEED_M)
        d.table("t1").update(SEED_T)
    return d

def pre(d, m, t):
    """Unarmed setup inside the instance under test: for flush/close, a
    write the lazy buffer accepts before the operation (acknowledged)."""
    if op in ("flush", "close", "dealloc"):
        d["pending"] = "accepted"
        m["pending"] = "accepted"

def run(d, p, m, t):
    """Run op; return (result, new instance or None). Raises on failure."""
    if op == "set": d["k1"] = "new1"
    elif op == "set_new": d["n1"] = [1, 2]
    elif op == "get_cold": return d["k2"], None
    elif op == "delete": del d["k3"]
    elif op == "contains": return ("k4" in d, "zz" in d), None
    elif op == "update": d.update({"k5": "u5", "n2": "u2"})
    elif op == "clear": d.clear()
    elif op == "pop": return d.pop("k6"), None
    elif op == "setdefault": return (d.setdefault("k7", "x"), d.setdefault("n3", "sd")), None
    elif op == "popitem": return d.popitem(), None
    elif op == "keys": return list(d.keys()), None
    elif op == "items": return dict(d.items()), None
    elif op == "iter": return list(d), None
    elif op == "len": return len(d), None
    elif op == "flush": d.flush()
    elif op == "close": d.close()
    elif op == "tables": return d.tables(), None
    elif op == "table_set": d.table("t1")["t2"] = "tv2"
    elif op == "table_get": return d.table("t1")["t0"], None
    elif op == "stats": return d.stats(), None
    elif op == "open": return None, DictSQLiteV4(p, **opts)
    elif op == "dealloc":
        # The instance freed with its pending write: its final flush meets
        # the fault (issue 11 defect 1 crashed here).
        del d
        gc.collect()
    return None, None

def effect(m, t, r):
    """Apply a successful op to the model; return a problem or None."""
    if op == "set": m["k1"] = "new1"
    elif op == "set_new": m["n1"] = [1, 2]
    elif op == "get_cold":
        if r != m["k2"]: return "get returned %r, expected %r" % (r, m["k2"])
    elif op == "delete": del m["k3"]
    elif op == "contains":
        if r != (True, False): return "contains returned %r, expected (True, False)" % (r,)
    elif op == "update": m.update({"k5": "u5", "n2": "u2"})
    elif op == "clear": m.clear()
    elif op == "pop":
        exp = m.pop("k6")
        if r != exp: return "pop returned %r, expected %r" % (r, exp)
    elif op == "setdefault":
        exp = (m["k7"], "sd"); m["n3"] = "sd"
        if r != exp: return "setdefault returned %r, expected %r" % (r, exp)
    elif op == "popitem":
        k, v = r
        if k not in m or m[k] != v: return "popitem returned %r, not in model" % (r,)
        del m[k]
    elif op in ("keys", "iter"):
        if sorted(r) != sorted(m): return "%s returned %r, expected %r" % (op, sorted(r), sorted(m))
    elif op == "items":
        if r != m: return "items returned %r, expected %r" % (r, m)
    elif op == "len":
        if r != len(m): return "len returned %r, expected %d" % (r, len(m))
    elif op == "tables":
        if "t1" not in r: return "tables() returned %r, without t1" % (r,)
    elif op == "table_set": t["t2"] = "tv2"
    elif op == "table_get":
        if r != "tv0": return "table get returned %r, expected 'tv0'" % (r,)
    elif op == "stats":
        if not isinstance(r, dict): return "stats() returned %r" % (r,)
    return None

def contents(d):
    return dict(d.items()), dict(d.table("t1").items())

def one(kind, n, tag):
    """One trial: fault n of kind (0: unarmed). Returns the record."""
    rec = {"kind": kind, "n": n, "problems": [], "notes": []}
    p = fresh(tag) if mode != "memory" else os.path.join(work, tag + ".db")
    m, t = dict(SEED_M), dict(SEED_T)
    if mode == "memory" and op == "open":
        m, t = {}, {}  # a new memory instance starts empty
    disarm()
    d = None if op == "open" else open_seeded(p)
    if d is not None:
        pre(d, m, t)
    if op == "dealloc":
        holder = [d]
        d = None
        run_d = holder.pop  # run() gets the only reference
    else:
        run_d = lambda: d
    before_m, before_t = dict(m), dict(t)
    N._inject_fault(kind, n)
    try:
        r, nd = run(run_d(), p, m, t)
        exc = None
    except BaseException as e:
        exc = e
    if linger:
        time.sleep(linger)
    rec["seen"] = N._fault_count(kind)
    disarm()
    rec["fired"] = n > 0 and rec["seen"] >= n
    if exc is None:
        if nd is not None:
            d = nd
        prob = effect(m, t, r)
        if prob: rec["problems"].append("op succeeded with a wrong result: " + prob)
        rec["outcome"] = "ok"
    else:
        rec["outcome"] = "%s: %s" % (type(exc).__name__, exc)
        if not isinstance(exc, ALLOWED):
            rec["problems"].append("raised %s (not OSError/ValueError/MemoryError): %s\n%s"
                                   % (type(exc).__name__, exc,
                                      "".join(traceback.format_exception(exc))[-1500:]))
        # Message quality, reported as notes (the dedicated tests at the end
        # of test_faults.py fail on them): an OSError's errno must be a real
        # one, a MemoryError should say what ran out.
        if isinstance(exc, OSError) and exc.errno not in errno.errorcode:
            rec["notes"].append("OSError with errno %r: %s" % (exc.errno, exc))
        if isinstance(exc, MemoryError) and not str(exc):
            rec["notes"].append("MemoryError without a message")
        # A call that raised changed nothing (for flush/close: the accepted
        # pending write stays, to be retried).
        m, t = before_m, before_t
        if op == "open":
            try:
                d = DictSQLiteV4(p, **opts)
            except BaseException as e:
                rec["problems"].append("open after a failed open raised %r" % (e,))
                d = None
    closed = d is None or d.closed
    if not closed:
        try:
            try:
                got = contents(d)
            except OSError as e:
                # a fault that hit the background flusher is raised by the next
                # call, once, which does nothing (durability.md); then it goes on
                if "background flush failed" not in str(e):
                    raise
                rec["background_raised"] = 1
                got = contents(d)
            if got != (m, t):
                rec["problems"].append("same instance after %s: content %r, expected %r"
                                       % (rec["outcome"], got, (m, t)))
            d["__probe"] = "p"
            if d["__probe"] != "p":
                rec["problems"].append("probe write did not read back")
            m["__probe"] = "p"
            d.flush()  # commits what a lazy or batched buffer holds
        except DatabaseClosedError:
            closed = True
            rec["notes"].append("instance closed after " + rec["outcome"])
        except BaseException as e:
            rec["problems"].append("instance broken after %s: %s: %s"
                                   % (rec["outcome"], type(e).__name__, e))
    try:
        if d is not None:
            d.close()  # a retry, for a close that raised
    except BaseException as e:
        rec["problems"].append("close after disarming raised %s: %s" % (type(e).__name__, e))
    rec["path"] = p
    rec["expect"] = [m, t]
    if op == "dealloc" and mode != "memory":
        # A final flush that fails can only be reported ("Exception
        # ignored"): the pending write may be lost then, nothing else.
        m2 = dict(m)
        m2.pop("pending", None)
        rec["or_expect"] = [m2, t]
    return rec

records = []
for kind in KINDS:
    base = one(kind, 0, "%s_base" % kind)
    K = base["seen"]
    base["baseline"] = True
    records.append(base)
    if base["problems"] or base["outcome"] != "ok":
        break
    ns = list(range(1, K + 1))
    if K > CAP:
        ns = ns[:CAP // 2] + ns[-(CAP // 2):]
    for n in ns:
        print("BEGIN", kind, n, flush=True)
        rec = one(kind, n, "%s_%d" % (kind, n))
        records.append(rec)
        if not rec["fired"]:
            break  # the op now makes fewer calls: later n fire nowhere
with open(job["out"], "w") as f:
    json.dump(records, f)
'''

TOTALS = {"injected": 0, "survived": 0, "raised": 0, "succeeded": 0, "sweeps": 0,
          "notes": 0, "seq_injected": 0, "seq_raised": 0}


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    line = ("fault injection: {sweeps} sweeps, {injected} faults injected, {survived} "
            "survived ({raised} raised, {succeeded} succeeded anyway); {notes} "
            "message notes; sequence sweeps: {seq_injected} faults injected, {seq_raised} "
            "raised".format(**TOTALS))
    print("\n" + line)
    out = os.environ.get("DICTSQLITE_FAULTS_SUMMARY")
    if out:
        with open(out, "w") as f:
            f.write(line + "\n")


def reopen_contents(path, opts):
    with DictSQLiteV4(path, **opts) as d:
        return [dict(d.items()), dict(d.table("t1").items())]


@pytest.mark.parametrize("case", params())
def test_fault_sweep(case, tmp_path):
    variant, op = case
    mode, extra, _, linger = VARIANTS[variant]
    opts = dict(BASE_OPTS, persist_mode=mode, **extra)
    out = tmp_path / "records.json"
    job = {"mode": mode, "op": op, "opts": opts, "work": str(tmp_path), "linger": linger,
           "kinds": KINDS, "cap": CAP, "out": str(out)}
    proc = run_python(OP_SWEEP, json.dumps(job), timeout=300, check=False)
    if proc.returncode != 0:
        begun = [ln for ln in proc.stdout.splitlines() if ln.startswith("BEGIN")]
        last = begun[-1] if begun else "(before the first fault)"
        pytest.fail(f"sweep process died (exit {proc.returncode}) at {last}:\n"
                    f"{proc.stderr[-3000:]}")
    records = json.loads(out.read_text())
    problems = []
    for rec in records:
        where = f"{rec['kind']} n={rec['n']} ({rec['outcome']})"
        problems += [f"{where}: {p}" for p in rec["problems"]]
        baseline = rec.get("baseline")
        if not baseline and not rec["fired"]:
            continue
        # Nothing acknowledged lost, nothing that raised visible: the file as
        # a process that never had it open sees it.
        if mode != "memory":
            try:
                got = reopen_contents(rec["path"], opts)
            except BaseException as e:  # noqa: BLE001 - reported below
                problems.append(f"{where}: reopen failed: {type(e).__name__}: {e}")
            else:
                if got != rec["expect"] and (baseline or got != rec.get("or_expect")):
                    problems.append(f"{where}: after reopen {got!r}, expected {rec['expect']!r}")
        if baseline:
            continue
        TOTALS["injected"] += 1
        TOTALS["raised" if rec["outcome"] != "ok" else "succeeded"] += 1
        if not rec["problems"]:
            TOTALS["survived"] += 1
    TOTALS["sweeps"] += 1
    calls = {r["kind"]: r["seen"] for r in records if r.get("baseline")}
    fired = sum(1 for r in records if r["fired"])
    print(f"figures {case_id(case)}: calls {calls}, faults fired {fired}, raised "
          f"{sum(1 for r in records if r['fired'] and r['outcome'] != 'ok')}")
    unraisable = proc.stderr.count("Exception ignored")
    if unraisable and op != "dealloc":
        problems.append(f"{unraisable} 'Exception ignored' messages:\n{proc.stderr[-2000:]}")
    for rec in records:
        TOTALS["notes"] += len(rec["notes"])
        for p in rec["notes"]:
            print(f"note {case_id(case)} {rec['kind']} n={rec['n']}: {p}")
    assert not problems, "\n".join(problems[:12]) + (
        f"\n... {len(problems)} problems in all" if len(problems) > 12 else "")


def test_fault_hook_arms_once_and_counts(tmp_path):
    """The hook itself: the nth call fails once, 0 disarms, counts reset."""
    n = dictsqlite._native
    db = DictSQLiteV4(str(tmp_path / "h.db"), persist_mode="writethrough")
    try:
        n._inject_fault("step", 0)
        db["a"] = 1
        calls = n._fault_count("step")
        assert calls > 0
        n._inject_fault("step", 1)
        with pytest.raises(OSError):
            db["b"] = 2
        assert n._fault_count("step") >= 1
        db["b"] = 2  # fired once only
        n._inject_fault("step", 10 ** 6)
        db["c"] = 3
        n._inject_fault("step", 0)
        assert db["b"] == 2 and db["c"] == 3
        with pytest.raises(ValueError, match="kind.*'step', 'prepare', 'evp'"):
            n._inject_fault("malloc", 1)
        with pytest.raises(ValueError, match="n must be >= 0"):
            n._inject_fault("step", -1)
    finally:
        n._inject_fault("step", 0)
        db.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


def evp_failures(path, op):
    """The exceptions of an EVP fault at each call an encrypted op makes."""
    n = dictsqlite._native
    excs = []
    with DictSQLiteV4(path, persist_mode="writethrough", encryption_password=PASSWORD) as db:
        db["k"] = "v"
        for i in range(1, 40):
            n._inject_fault("evp", i)
            try:
                if op == "set":
                    db["k"] = "w"
                else:
                    db.get("k")
            except (OSError, ValueError, MemoryError) as e:
                excs.append(e)
            finally:
                seen = n._fault_count("evp")
                n._inject_fault("evp", 0)
            db["k"] = "v"  # back to the sealed value (and out of nothing cached)
            if seen < i:
                break
    return excs


# ds_error_set once left sys_errno as the caller's stack held it: OSError with a
# garbage errno from an OpenSSL failure (fixed in src/core/common.c).
def test_openssl_failure_has_a_real_errno(tmp_path):
    excs = evp_failures(str(tmp_path / "e.db"), "set")
    oserrors = [e for e in excs if isinstance(e, OSError)]
    assert oserrors, "no EVP fault raised OSError"
    bad = [(e.errno, str(e)) for e in oserrors if e.errno not in errno.errorcode]
    assert not bad, f"{len(bad)} of {len(oserrors)} OSErrors with no real errno: {bad[:3]}"


# dsv4_raise (src/ext/db_ops.c) mapped DS_NOMEM to a bare PyErr_NoMemory(): a
# prepare that failed at open raised MemoryError() naming neither the path nor
# what failed. It now carries the core's message.
def test_out_of_memory_names_the_path(tmp_path):
    path = str(tmp_path / "m.db")
    DictSQLiteV4(path).close()
    n = dictsqlite._native
    n._inject_fault("prepare", 3)
    try:
        with pytest.raises(MemoryError) as info:
            DictSQLiteV4(path, persist_mode="writethrough")
    finally:
        n._inject_fault("prepare", 0)
    assert path in str(info.value)
