"""Bytes are data (issue 11, defect 5; README "Storage modes"): hostile
pickles stored as bytes never run when read back, through any read, in any
persist mode, with safe pickle on or off. A marker file per payload proves
it: the control test shows that pickle.loads of the same bytes creates it.

The reads run in subprocesses (conftest.run_python), so a crash fails the
test instead of the run."""
import json
import os
import sys

import pytest

from conftest import run_python

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import malicious_pickles  # noqa: E402

CONTROL = r"""
import os, pickle, sys, time
sys.path.insert(0, sys.argv[2])
import malicious_pickles as m
d = sys.argv[1]
made = []
for name, data, marker in m.payloads(d):
    try:
        pickle.loads(data)
    except Exception:
        pass
deadline = time.monotonic() + 5  # Popen does not wait for its child
ps = m.payloads(d)
while time.monotonic() < deadline and not all(os.path.exists(mk) for _, _, mk in ps):
    time.sleep(0.05)
print(sum(os.path.exists(mk) for _, _, mk in ps), len(ps))
"""

STORE_AND_READ = r"""
import json, os, pickle, sys, time
sys.path.insert(0, sys.argv[2])
import malicious_pickles as m
from dictsqlite import DictSQLiteV4
d, mode, safe = sys.argv[1], sys.argv[3], sys.argv[4]
read_safe = sys.argv[5] if len(sys.argv) > 5 else safe
path = os.path.join(d, "db.sqlite")
sys.path.insert(0, d)  # myapp.py, when the test wrote one

def opts(safe):
    if safe == "0":
        return {}
    if safe == "myapp":  # an allowed module that merely imports subprocess
        return {"enable_safe_pickle": True, "safe_pickle_allowed_modules": ["myapp"]}
    return {"enable_safe_pickle": True}
kw = opts(safe)
ps = m.payloads(d)
outcome = {}
db = DictSQLiteV4(path, persist_mode=mode, hot_capacity=4, **kw)

def reads(db, name):
    got = []
    for how, fn in (("getitem", lambda: db[name]), ("get", lambda: db.get(name)),
                    ("values", lambda: db.values()[sorted(db.keys()).index(name)]),
                    ("items", lambda: dict(db.items())[name]),
                    ("batch_get", lambda: db.batch_get([name])[name])):
        try:
            v = fn()
            got.append("bytes" if v == data else f"other:{type(v).__name__}")
        except ValueError as exc:
            got.append("refused-naming-key" if repr(name) in str(exc) else f"refused:{exc}")
    return got

for name, data, marker in ps:
    try:
        db[name] = data
    except ValueError as exc:
        outcome[name] = ["write-refused"]
        continue
    outcome[name] = reads(db, name)
db.close()
if mode != "memory":
    db = DictSQLiteV4(path, persist_mode=mode, hot_capacity=4, **opts(read_safe))
    for name, data, marker in ps:
        if outcome[name] != ["write-refused"]:
            outcome[name] += reads(db, name)
    db.close()
time.sleep(0.5)  # a Popen child would have run by now
outcome["__markers__"] = sorted(n for n, _, mk in ps if os.path.exists(mk))
print(json.dumps(outcome))
"""


def test_control_every_payload_runs_under_pickle_loads(tmp_path):
    proc = run_python(CONTROL, tmp_path, HERE)
    made, total = map(int, proc.stdout.split())
    assert total >= 15
    assert made == total  # otherwise the corpus could not show anything


MYAPP = "import subprocess\nfrom subprocess import Popen\n"


@pytest.mark.parametrize("safe", ["0", "1", "myapp"], ids=["plain", "safe_pickle", "allow_myapp"])
@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_no_stored_payload_ever_runs(tmp_path, mode, safe):
    (tmp_path / "myapp.py").write_text(MYAPP)
    proc = run_python(STORE_AND_READ, tmp_path, HERE, mode, safe)
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome.pop("__markers__") == []
    assert len(outcome) >= 15
    for name, results in outcome.items():
        if safe != "0":
            # refused at the write (the opcode walk), or on read naming the key,
            # or back as the bytes: never anything else
            assert set(results) <= {"write-refused", "refused-naming-key", "bytes"}, (name, results)
        else:
            # without safe pickle the passthrough still reads them only through
            # the restricted unpickler: the exact bytes come back
            assert set(results) == {"bytes"}, (name, results)


BYPASS = r"""
import os, sys, time
d = sys.argv[1]
sys.path.insert(0, d)
sys.path.insert(0, sys.argv[2])
import malicious_pickles as m
from dictsqlite import DictSQLiteV4
marker = os.path.join(d, "bypass")
data = m.myapp_bypass(marker)
results = []
for safe in (False, True):
    kw = dict(enable_safe_pickle=True, safe_pickle_allowed_modules=["myapp"]) if safe else {}
    db = DictSQLiteV4(os.path.join(d, f"b{safe}.db"), **kw)
    try:
        db["k"] = data
        try:
            v = db["k"]
            results.append("bytes" if v == data else "other")
        except ValueError as exc:
            results.append("refused" if "'k'" in str(exc) else "refused-without-key")
    except ValueError:
        results.append("write-refused")
    db.close()
time.sleep(0.5)
print(results, os.path.exists(marker))
"""


def test_an_allowed_module_does_not_open_the_modules_it_imports(tmp_path):
    (tmp_path / "myapp.py").write_text("import subprocess\n")
    proc = run_python(BYPASS, tmp_path, HERE)
    results, made = proc.stdout.strip().rsplit(" ", 1)
    assert made == "False"
    assert results in ("['bytes', 'bytes']", "['bytes', 'refused']", "['bytes', 'write-refused']")


def test_a_pickle_claiming_a_huge_frame_is_corrupt_or_bytes(tmp_path):
    from dictsqlite import CorruptValueError, DictSQLiteV4
    import pickle
    for tail in (b"N.", b"\x8c\x05hello.", b"\x8e" + (2 ** 62).to_bytes(8, "little") + b"."):
        data = b"\x80\x04\x95" + (2 ** 62).to_bytes(8, "little") + tail
        try:
            expected = [pickle.loads(data), data]
        except Exception:
            expected = [data]
        with DictSQLiteV4(str(tmp_path / "f.db")) as db:
            db["k"] = data
            try:
                assert db["k"] in expected  # never MemoryError
            except CorruptValueError as exc:
                assert "'k'" in str(exc)


EXT_BYPASS = r"""
import copyreg, os, pickle, sys
from dictsqlite import DictSQLiteV4
marker = sys.argv[1]
# an application registered an extension code, and some pickle used it, so
# copyreg's cache is warm: the unpickler would resolve EXT without find_class
copyreg.add_extension("os", "system", 240)
cmd = f"touch '{marker}'".encode()
payload = b"\x80\x02\x82\xf0X" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
pickle.loads(b"\x80\x02\x82\xf0.")
out = []
for safe in (False, True):
    db = DictSQLiteV4(os.path.join(os.path.dirname(marker), f"e{safe}.db"),
                      enable_safe_pickle=safe)
    try:
        db["k"] = payload
        out.append("bytes" if db["k"] == payload else "other")
    except ValueError:
        out.append("refused")
    db.close()
print(out, os.path.exists(marker))
"""


def test_an_extension_code_with_a_warm_copyreg_cache_runs_nothing(tmp_path):
    # found by the corpus work: EXT opcodes bypassed find_class
    proc = run_python(EXT_BYPASS, tmp_path / "ext-marker")
    results, made = proc.stdout.strip().rsplit(" ", 1)
    assert made == "False"
    assert results in ("['bytes', 'refused']", "['bytes', 'bytes']")


@pytest.mark.parametrize("read_safe", ["1", "myapp"], ids=["safe_pickle", "allow_myapp"])
@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
def test_payloads_stored_without_safe_pickle_read_with_it(tmp_path, mode, read_safe):
    """Stored before safe pickle was turned on: every write is accepted, and
    the restricted read gives the exact bytes back, also with myapp allowed
    (the dotted bypass of issue 11 defect 8)."""
    (tmp_path / "myapp.py").write_text(MYAPP)
    proc = run_python(STORE_AND_READ, tmp_path, HERE, mode, "0", read_safe)
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome.pop("__markers__") == []
    for name, results in outcome.items():
        assert set(results) == {"bytes"}, (name, results)
        assert len(results) == 10, (name, results)  # five reads, before and after reopen


# Stores the corpus, then rewrites every row's codec to 1 (a pickle this
# library wrote itself, not the passthrough), as a tampered file would, and
# reads each key with safe pickle on: the restricted unpickler must refuse it
# with a ValueError that names the key, and run nothing.
PLANTED = r"""
import json, os, sqlite3, sys, time
d = sys.argv[1]
sys.path.insert(0, d)
sys.path.insert(0, sys.argv[2])
import malicious_pickles as m
from dictsqlite import DictSQLiteV4
allowed = json.loads(sys.argv[3])
path = os.path.join(d, "planted.db")
ps = m.payloads(d)
with DictSQLiteV4(path, persist_mode="writethrough") as db:
    for name, data, marker in ps:
        db[name] = data
con = sqlite3.connect(path)
changed = con.execute("UPDATE kv SET codec = 1").rowcount
con.commit()
con.close()
kw = {"safe_pickle_allowed_modules": allowed} if allowed else {}
out = {}
with DictSQLiteV4(path, enable_safe_pickle=True, **kw) as db:
    for name, data, marker in ps:
        try:
            v = db[name]
            out[name] = ["returned", repr(v)[:100]]
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc), isinstance(exc, ValueError)]
time.sleep(0.5)  # a Popen child would have run by now
print(json.dumps({"changed": changed, "reads": out,
                  "markers": sorted(n for n, _, mk in ps if os.path.exists(mk))}))
"""


@pytest.mark.parametrize("allowed", [None, ["myapp"]], ids=["default", "allow_myapp"])
def test_planted_pickles_are_refused_on_read_naming_the_key(tmp_path, allowed):
    (tmp_path / "myapp.py").write_text(MYAPP)
    proc = run_python(PLANTED, tmp_path, HERE, json.dumps(allowed))
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["markers"] == [], f"code ran on read: {r['markers']}"
    assert r["changed"] == len(r["reads"])
    for name, res in r["reads"].items():
        assert res[0] != "returned", (name, res)
        assert res[2], f"{name}: {res[0]} is not a ValueError: {res[1]}"
        assert repr(name) in res[1], f"{name}: the refusal does not name the key: {res[1]}"


def test_write_refusal_names_the_key(open_db, tmp_path):
    """Common rule: an error message names the key. The write-time check of a
    passthrough value says which key and which global it refused."""
    db = open_db(enable_safe_pickle=True)
    name, payload, _ = next(p for p in malicious_pickles.payloads(str(tmp_path))
                            if p[0] == "posix_system")
    with pytest.raises(ValueError, match="posix.system") as info:
        db["upload"] = payload
    assert "'upload'" in str(info.value)
    assert "upload" not in db
    with pytest.raises(ValueError, match="'batch-key'.*posix.system"):
        db.update({"ok": 1, "batch-key": payload})
    assert "ok" not in db
