"""Differential test of the async surface against the Rust package.

tests/differential/async_surface.py runs one scenario (every persist x storage
mode) and prints a transcript; we run it under our package and under the Rust
package `dictsqlite==2.1.3`, installed in a venv of its own (scripts/install.sh
makes .venv-rust and scripts/test.sh points DICTSQLITE_RUST_PYTHON at it).

Ours must give the dict-like answer the scenario expects at every step. Where
the two packages differ, the difference must be one listed in KNOWN below
(each one a defect of the Rust package that the README's "Differences" section
names), and the Rust side must still look like that defect: a difference that
is not listed, or a listed one whose shape changed, fails the test.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "differential" / "async_surface.py"
RUST_PY = os.environ.get("DICTSQLITE_RUST_PYTHON")


def raw_bytes(rec):
    """The Rust package returned the stored encoding instead of the value."""
    val = rec.get("ok")
    vals = val if isinstance(val, list) else [val]
    return "ok" in rec and all(v is None or (isinstance(v, dict) and set(v) == {"bytes"})
                               for v in vals)


def raised(*names):
    return lambda rec: rec.get("raised") in names


# step name -> (why the Rust package differs, what its record must look like)
KNOWN = {
    "sync get": ("get() returns the raw stored bytes", raw_bytes),
    "sync get after set": ("get() returns the raw stored bytes", raw_bytes),
    "get_async": ("get_async() returns the raw stored bytes", raw_bytes),
    "batch_get pairs": ("batch_get() returns the raw stored bytes", raw_bytes),
    "abatch_get": ("abatch_get() returns the raw stored bytes", raw_bytes),
    "reopen abatch_get": ("abatch_get() returns the raw stored bytes", raw_bytes),
    "aget after set_async": ("set_async() stores what its own aget() cannot decode",
                             raised("UnpicklingError", "UnicodeDecodeError", "ExtraData",
                                    "ValueError")),
    "aget after batch_set dict": ("batch_set() given a dict stores nothing, silently",
                                  raised("KeyError")),
    "table aset": ("table() returns a proxy without the a* members", raised("AttributeError")),
    "table aget": ("table() returns a proxy without the a* members", raised("AttributeError")),
    "table acontains": ("table() returns a proxy without the a* members",
                        raised("AttributeError")),
    "reopen table aget": ("table() returns a proxy without the a* members",
                          raised("AttributeError")),
}


def rust_env():
    """The environment for the Rust package's interpreter: no PYTHONPATH, which
    may point at our staged build (same import name)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def transcript(python, tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    env = rust_env() if name == "rust" else dict(os.environ)
    out = subprocess.run([python, str(SCRIPT), str(d)], cwd=str(d), env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{name}: {out.stderr[-2000:]}"
    steps, section = {}, None
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        if rec["step"].startswith("== "):
            section = rec["step"][3:]
            continue
        steps[(section, rec["step"])] = rec
    return steps


def test_ours_gives_the_expected_answer_everywhere(tmp_path):
    ours = transcript(sys.executable, tmp_path, "ours")
    assert len(ours) > 300
    wrong = [(k, r) for k, r in ours.items()
             if r.get("raised") != r.get("expect_raised")
             or ("expect" in r and r.get("ok") != r["expect"])]
    assert not wrong, wrong[:5]


@pytest.mark.skipif(not RUST_PY, reason="DICTSQLITE_RUST_PYTHON is not set (scripts/install.sh "
                    "makes .venv-rust with dictsqlite==2.1.3 and scripts/test.sh sets it)")
def test_every_difference_from_the_rust_package_is_a_known_one(tmp_path):
    probe = subprocess.run([RUST_PY, "-c", "import dictsqlite, importlib.metadata as m;"
                            "print(m.version('dictsqlite'), hasattr(dictsqlite, 'DatabaseLockedError'))"],
                           capture_output=True, text=True, env=rust_env())
    assert probe.returncode == 0, probe.stderr
    version, is_ours = probe.stdout.split()
    assert is_ours == "False" and version.startswith("2."), \
        f"{RUST_PY} imports dictsqlite {version}, not the Rust package 2.x"
    rust = transcript(RUST_PY, tmp_path, "rust")
    ours = transcript(sys.executable, tmp_path, "ours")
    assert set(rust) == set(ours)
    unknown, changed, seen = [], [], set()
    for key, mine in ours.items():
        theirs = rust[key]
        if theirs == mine:
            continue
        known = KNOWN.get(key[1])
        if known is None:
            unknown.append((key, theirs, mine))
        elif not known[1](theirs):
            changed.append((key, known[0], theirs))
        else:
            seen.add(key[1])
    assert not unknown, f"differences from dictsqlite {version} not in KNOWN: {unknown[:5]}"
    assert not changed, f"known differences whose shape changed: {changed[:5]}"
    # every listed difference still shows somewhere: a fixed one must leave the list
    assert seen == set(KNOWN), f"listed but not seen any more: {set(KNOWN) - seen}"
    same = sum(1 for k in ours if rust[k] == ours[k])
    print(f"{same} of {len(ours)} steps identical, {len(ours) - same} known differences")
