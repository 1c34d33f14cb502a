#!/usr/bin/env python3
"""dictsqlite benchmark: side by side with its peers and the physical limits.

    python3 benchmarks/run.py                 # full run (installs the pinned peers)
    python3 benchmarks/run.py --quick         # < 60 s smoke test, installs nothing
    python3 benchmarks/run.py --growth-max 10000000

Everything in one run on one machine:
  * the C limits (benchmarks/sqlite_limits.c, built here against the system libsqlite3
    with dictsqlite's PRAGMAs and schema) and the Python floors (d[k], pickle, msgpack);
  * the matrix: every (library, mode) column x value kind (32 B bytes, small dict,
    1 KiB, 64 KiB) x operation, each cell in its own subprocess (benchmarks/worker.py);
    our cells also time the Python floors themselves, and the C limits run again right
    after each ours/lazy and ours/writethrough cell, so that a bar compares figures
    taken under the same machine conditions;
  * the 1M-entry lazy bulk load (the C bulk insert again right after ours), the growth
    sweep, and (with --async-rows) async rows;
  * results.json, RESULTS.md (with a verdict for every bar of DESIGN.md) and PNG charts.

Interpreters: our dictsqlite runs in the interpreter that runs this script (where
`pip install .` put it; --ours-python to choose another). The Rust `dictsqlite` 2.x
(same import name) gets its own venv, .peers/rust; sqlitedict, diskcache, lmdb,
msgpack and matplotlib share .peers/py. Versions are pinned in requirements-*.txt.
Our cells may import .peers/py's msgpack for their msgpack floor (msgpack_site).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
REQS = {"rust": HERE / "requirements-rust.txt", "py": HERE / "requirements-peers.txt"}
WORKER = HERE / "worker.py"
LIMITS_SRC = HERE / "sqlite_limits.c"

sys.path.insert(0, str(HERE))
import report  # noqa: E402  (benchmarks/report.py: verdicts and Markdown)

VALUE_KINDS = ["b32", "small", "1k", "64k"]

# (column id, library, mode, storage, interpreter group)
#   interpreter group: "ours" (this interpreter), "rust" (.peers/rust), "py" (.peers/py),
#   "std" (.peers/py when present, else this interpreter: standard library only)
COLUMNS = [
    ("ours/memory", "ours", "memory", "pickle", "ours"),
    ("ours/lazy", "ours", "lazy", "pickle", "ours"),
    ("ours/writethrough", "ours", "writethrough", "pickle", "ours"),
    ("rust/memory", "rust", "memory", "pickle", "rust"),
    ("rust/lazy", "rust", "lazy", "pickle", "rust"),
    ("rust/writethrough", "rust", "writethrough", "pickle", "rust"),
    ("dict+pickle", "dict_pickle", "none", None, "std"),
    ("sqlite3+pickle/autocommit", "sqlite3_pickle", "autocommit", None, "std"),
    ("sqlite3+pickle/batched", "sqlite3_pickle", "batched", None, "std"),
    ("sqlitedict/autocommit", "sqlitedict", "autocommit", None, "py"),
    ("sqlitedict/batched", "sqlitedict", "batched", None, "py"),
    ("diskcache", "diskcache", "default", None, "py"),
    ("lmdb/txn-per-write", "lmdb", "pertxn", None, "py"),
    ("lmdb/batched", "lmdb", "batched", None, "py"),
    ("shelve", "shelve", "default", None, "std"),
    # jsonb storage: only the small-dict value kind (the hot-get jsonb bar)
    ("ours/memory/jsonb", "ours", "memory", "jsonb", "ours"),
    ("rust/memory/jsonb", "rust", "memory", "jsonb", "rust"),
    # the same operations through a TableProxy (db.table("bench"))
    ("ours/memory/table", "ours_table", "memory", "pickle", "ours"),
    ("ours/lazy/table", "ours_table", "lazy", "pickle", "ours"),
]
JSONB_ONLY_SMALL = {"ours/memory/jsonb", "rust/memory/jsonb"}
# columns whose bars compare against the C limits (writethrough: autocommit writes;
# both: the cold get): the limits are run again right after each of their cells
PAIRED_C_COLUMNS = {"ours/lazy", "ours/writethrough"}
# value sizes for the C limits when the floors process could not tell the pickled ones
DEFAULT_VALUE_SIZES = {"b32": 32, "small": 58, "1k": 1024, "64k": 65536}
QUICK_COLUMNS = {"ours/memory", "ours/lazy", "ours/writethrough", "dict+pickle",
                 "sqlite3+pickle/autocommit", "sqlite3+pickle/batched", "ours/memory/jsonb"}

GROWTH_SERIES = [
    ("ours/memory", "ours", "memory", "ours"),
    ("ours/lazy", "ours", "lazy", "ours"),
    ("rust/memory", "rust", "memory", "rust"),
    ("dict+pickle", "dict_pickle", "none", "std"),
    ("dict", "dict", "none", "std"),
]


_T0 = time.perf_counter()


def log(*a):
    print(f"{time.perf_counter() - _T0:7.1f}s", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ interpreters


def venv_python(name):
    return PEERS / name / "bin" / "python"


def ensure_venv(name):
    """Create .peers/NAME with the pinned requirements, unless it already has them."""
    req = REQS[name].read_text()
    d = PEERS / name
    marker = d / ".installed-requirements"
    py = venv_python(name)
    if py.exists() and marker.exists() and marker.read_text() == req:
        return True
    log(f"[setup] creating {d} from {REQS[name].name}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(d)], check=True)
    r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQS[name])])
    if r.returncode != 0:
        log(f"[setup] pip install into {d} failed; {name} peers will be skipped")
        return False
    marker.write_text(req)
    return True


def probe(python, modules):
    spec = {"kind": "probe", "modules": modules}
    r = run_worker(python, spec, timeout=120)
    return r if r.get("ok") else None


def worker_env(python):
    """The environment of a worker: PYTHONPATH/PYTHONHOME only reach our interpreter,
    so a PYTHONPATH pointing at our source tree can never shadow the Rust package."""
    env = dict(os.environ)
    if OURS_PYTHON is None or Path(python) != OURS_PYTHON:
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
    env.pop("PYTHONSTARTUP", None)
    return env


OURS_PYTHON = None


def run_worker(python, spec, timeout, raw_dir=None, tag=None):
    """Run one worker subprocess; return its JSON result (never raises)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run([str(python), str(WORKER)], input=json.dumps(spec), text=True,
                           capture_output=True, timeout=timeout, cwd=str(HERE),
                           env=worker_env(python))
    except subprocess.TimeoutExpired as e:
        return {"ok": False, "error": f"timed out after {timeout} s", "spec": spec,
                "stderr": (e.stderr or "")[-2000:] if isinstance(e.stderr, str) else ""}
    except OSError as e:
        return {"ok": False, "error": f"cannot start {python}: {e}", "spec": spec}
    if raw_dir is not None and tag:
        raw_dir.mkdir(parents=True, exist_ok=True)
        (raw_dir / f"{tag}.stderr.txt").write_text(p.stderr)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": f"worker exit {p.returncode}, no JSON result",
                "stderr": p.stderr[-3000:], "spec": spec,
                "wall_s": time.perf_counter() - t0}
    if p.returncode != 0 and out.get("ok"):
        out["ok"] = False
        out["error"] = f"worker exit {p.returncode}"
    if not out.get("ok"):
        out.setdefault("stderr", p.stderr[-3000:])
    return out


# ------------------------------------------------------------------ statistics


def op_stats(samples_s_per_op, counts):
    s = sorted(samples_s_per_op)
    med = statistics.median(s)
    return {
        "per_op_s": med,
        "ops_per_s": (1.0 / med) if med > 0 else None,
        "min_s": s[0],
        "max_s": s[-1],
        "spread": (s[-1] - s[0]) / med if med > 0 else 0.0,
        "samples": len(s),
        "count": sum(counts) if counts else None,
    }


def summarize(worker_out):
    ops = {}
    for op, o in (worker_out.get("ops") or {}).items():
        ops[op] = op_stats(o["samples_s_per_op"], o.get("counts"))
    return ops


# ------------------------------------------------------------------ machine


def machine_info(workdir):
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        cpu = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
               if ln.startswith("model name")]
        info["cpu"] = cpu[0] if cpu else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    try:
        mem = [ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal")][0]
        info["ram_gib"] = round(int(mem.split()[1]) / 1024 / 1024, 1)
    except (OSError, IndexError):
        info["ram_gib"] = None
    info["kernel"] = platform.release()
    info["os"] = platform.platform()
    info["python"] = sys.version.split()[0]
    info["python_build"] = " ".join(platform.python_build())
    import sqlite3
    info["sqlite_python_module"] = sqlite3.sqlite_version
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    try:
        df = subprocess.run(["df", "-T", str(workdir)], capture_output=True, text=True).stdout
        info["workdir_fs"] = df.splitlines()[1].split()[1]
    except Exception:
        info["workdir_fs"] = None
    try:
        info["git_commit"] = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short",
                                             "HEAD"], capture_output=True, text=True).stdout.strip()
    except Exception:
        info["git_commit"] = None
    return info


# ------------------------------------------------------------------ C limits


def build_limits(bindir):
    """cc -O2 sqlite_limits.c $(pkg-config --cflags --libs sqlite3)"""
    cc = os.environ.get("CC", "cc")
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sqlite3"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        flags = ["-lsqlite3"]
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / "sqlite_limits"
    cmd = [cc, "-O2", "-o", str(exe), str(LIMITS_SRC)] + flags
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, " ".join(cmd) + "\n" + r.stderr
    return exe, " ".join(cmd)


def run_limits(exe, workdir, n, vsize, m, repeats, schema="split", what="all", nsel=None):
    runs = []
    for rep in range(repeats):
        db = workdir / f"limits-{schema}-{vsize}.db"
        r = subprocess.run([str(exe), str(db), str(n), str(vsize), str(m), str(1000 + rep), schema,
                            what, str(nsel or n)], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            return {"error": r.stderr[-2000:]}
        runs.append(json.loads(r.stdout))
    ops = {}
    for op in runs[0]["results"]:
        ops[op] = op_stats([x["results"][op]["seconds"] / x["results"][op]["count"] for x in runs],
                           [x["results"][op]["count"] for x in runs])
    return {"sqlite_version": runs[0]["sqlite_version"], "n": n, "m": runs[0].get("m"),
            "value_size": vsize, "schema": schema, "pragmas": runs[0]["pragmas"], "ops": ops}


def kind_limits_args(cfg, kind, value_sizes):
    """(n, value size, autocommit loop length, point selects) of the C limits of one
    value kind: the cells' key count and the pickled value's size."""
    n = cfg["n_64k"] if kind == "64k" else cfg["n"]
    vs = value_sizes.get(kind, DEFAULT_VALUE_SIZES[kind])
    m = min(n, cfg["c_autocommit_m_64k"] if kind == "64k" else cfg["c_autocommit_m"])
    nsel = min(n, cfg["c_select_sample"] or n)
    return n, vs, m, nsel


def kind_limits(exe, workdir, cfg, kind, value_sizes, schema="split", repeats=None):
    """The C limits of one value kind (every operation of sqlite_limits.c)."""
    n, vs, m, nsel = kind_limits_args(cfg, kind, value_sizes)
    return run_limits(exe, workdir, n, vs, m, repeats or cfg["repeats"], schema, nsel=nsel)


def bulk_repeats(cfg):
    return max(1, min(cfg["repeats"], 2))  # each repeat loads the 1M rows again


def bulk_limits(exe, workdir, cfg, value_sizes):
    """The C bulk insert of the lazy bulk-load bar: bulk_n small values, one transaction."""
    vs = value_sizes.get("small", DEFAULT_VALUE_SIZES["small"])
    return run_limits(exe, workdir, cfg["bulk_n"], vs, 1, bulk_repeats(cfg), "split", "bulk")


def paired_limits(label, run_them, harness_failures):
    """run_them() again right after `label` was measured, so that its bar compares two
    measurements taken under the same machine conditions: the limits timed at the start
    of a run drift by about ±20% between runs of unchanged code, enough to flip a verdict."""
    t0 = time.perf_counter()
    r = run_them()
    r["wall_s"] = time.perf_counter() - t0  # what the pairing costs the run
    status = f"FAILED ({r['error'][:200]})" if "error" in r else "ok"
    log(f"[limits] again after {label:30s} {r['wall_s']:6.1f} s {status}")
    if "error" in r:
        harness_failures.append(f"C limits after {label}: {r['error'][:200]}")
    return r


def msgpack_site(probes):
    """The site-packages directory of .peers/py's msgpack, for the msgpack floor timed
    inside our cells (the interpreter of ours usually has no msgpack), or None: when ours
    imports msgpack itself, when .peers/py has none, or when .peers/py runs another
    major.minor (msgpack's C extension is built for one)."""
    ours, py = probes.get("ours") or {}, probes.get("py") or {}
    if "file" in (ours.get("msgpack") or {}):
        return None
    f = (py.get("msgpack") or {}).get("file")
    minor = [".".join(str(p.get("python", "")).split(".")[:2]) for p in (ours, py)]
    if not f or minor[0] != minor[1]:
        return None
    return str(Path(f).parent.parent)  # .../site-packages/msgpack/__init__.py


# ------------------------------------------------------------------ async rows

# (id, worker library, interpreter group); "ours" needs our AsyncDictSQLite
ASYNC_LIBS = [
    ("ours", "ours", "ours"),
    ("rust", "rust", "rust"),
    ("aiosqlite", "aiosqlite", "py"),
    ("executor/diskcache", "executor/diskcache", "py"),
    ("executor/sqlitedict", "executor/sqlitedict", "py"),
]


def async_config(cfg, args):
    q = cfg["mode"] == "quick"
    return {
        "repeats": 1 if q else 3,        # ours; the peers get peer_repeats
        "peer_repeats": 1 if q else 2,
        "budget": 0.1 if q else 0.5,     # seconds per timed loop
        "cold_budget": 30.0,             # a safeguard: cold phases read n_cold_read keys
        "n_cold": 2_000 if q else 100_000,
        "n_cold_read": 1_000 if q else 10_000,
        "n_hot": 1_000 if q else 20_000,
        "conc": 64,
        "batch": 1000,
        "batches": 2 if q else 10,
        "tick_n": 5_000 if q else 200_000,
        "value_kind": "small",
        "uvloop": bool(args.uvloop),
    }


def uvloop_site(probes, group):
    """The site-packages directory of .peers/py's uvloop for a worker of `group`, or
    None when that interpreter imports uvloop itself or runs another major.minor."""
    mine, py = probes.get(group) or {}, probes.get("py") or {}
    f = (py.get("uvloop") or {}).get("file")
    minor = [".".join(str(p.get("python", "")).split(".")[:2]) for p in (mine, py)]
    if not f or minor[0] != minor[1]:
        return None
    return str(Path(f).parent.parent)  # .../site-packages/uvloop/__init__.py


def run_async_rows(args, cfg, interp, probes, ours_async, workdir, raw_dir, notes):
    """The async rows: one worker per library, every row beside its sync idiom.
    They run by default once our dictsqlite has AsyncDictSQLite; --async-rows runs the
    peers' rows without it, --no-async-rows skips them."""
    enabled = not args.no_async_rows and (args.async_rows or args.async_only or ours_async)
    out = {"enabled": enabled}
    if not enabled:
        if not args.no_async_rows:
            notes.append("async rows not run: our dictsqlite has no AsyncDictSQLite yet "
                         "(--async-rows runs the peers' rows)")
        return out
    acfg = async_config(cfg, args)
    out["config"] = acfg
    out["rows"] = {}
    t_start = time.perf_counter()
    wanted = [c.strip() for c in args.columns.split(",")] if args.columns and not args.async_only \
        else None
    for aid, lib, group in ASYNC_LIBS:
        if wanted and not any(w.split("/")[0] in aid for w in wanted):
            continue
        py = interp.get(group) if group != "ours" else interp.get("ours")
        if py is None:
            why = (f"{group} interpreter not available" if group != "ours" else
                   "our dictsqlite is not available")
            out["rows"][aid] = {"ok": False, "skipped": True, "error": why}
            continue
        if group == "ours" and not ours_async:
            out["rows"][aid] = {"ok": False, "skipped": True,
                                "error": "our dictsqlite has no AsyncDictSQLite yet"}
            continue
        if group == "py" and "version" not in ((probes.get("py") or {}).get(lib.split("/")[-1]) or {}):
            out["rows"][aid] = {"ok": False, "skipped": True,
                                "error": f"{lib.split('/')[-1]} not importable in .peers/py"}
            continue
        spec = dict(acfg, kind="async", lib=lib, dir=str(workdir / "async"),
                    repeats=acfg["repeats"] if group == "ours" else acfg["peer_repeats"])
        if args.uvloop:
            spec["uvloop_path"] = uvloop_site(probes, group)
        t0 = time.perf_counter()
        r = run_worker(py, spec, args.timeout, raw_dir, f"async-{aid.replace('/', '_')}")
        dt = time.perf_counter() - t0
        row = {"ok": bool(r.get("ok")), "wall_s": dt, "interpreter": str(py)}
        if r.get("ok"):
            row.update(ops=summarize(r), errors=r.get("errors") or {},
                       capped=r.get("capped") or {}, info=r.get("info") or {})
        else:
            row.update(error=r.get("error"), stderr=r.get("stderr"))
        out["rows"][aid] = row
        errs = row.get("errors")
        log(f"[async] {aid:22s} {dt:6.1f} s "
            f"{'ok' if row['ok'] else 'FAILED (' + str(row.get('error')) + ')'}"
            + (f" errors: {list(errs)}" if errs else ""))
    out["wall_s"] = time.perf_counter() - t_start
    out["verdicts"] = report.async_verdicts(out)
    return out


# ------------------------------------------------------------------ main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny sizes, 1 repeat, no installs, < 60 s; never asserts timings")
    ap.add_argument("--out", help="output directory (default benchmarks/results, "
                                   "--quick: benchmarks/results/quick)")
    ap.add_argument("--growth-max", type=int, default=1_000_000,
                    help="largest size of the growth sweep (10000000 extends it to 10M)")
    ap.add_argument("--n", type=int, help="keys per cell (default 100,000; quick 2,000)")
    ap.add_argument("--n-64k", type=int, help="keys per 64 KiB cell (default 2,000; quick 200)")
    ap.add_argument("--repeats", type=int,
                    help="repeats per cell of ours, of the floors and of the C limits "
                         "(default 3; quick 1)")
    ap.add_argument("--peer-repeats", type=int,
                    help="repeats per cell of the peers, the Rust package included "
                         "(default 2; quick 1)")
    ap.add_argument("--budget", type=float,
                    help="seconds after which a timed loop stops early (default 0.5; quick 0.3)")
    ap.add_argument("--bulk-n", type=int, help="entries of the lazy bulk-load bar (default 1,000,000)")
    ap.add_argument("--columns", help="comma-separated column ids or prefixes to run (default: all)")
    ap.add_argument("--value-kinds", help="comma-separated subset of b32,small,1k,64k")
    ap.add_argument("--no-install", action="store_true", help="use only peers already installed")
    ap.add_argument("--ours-python", help="interpreter with our dictsqlite (default: this one)")
    ap.add_argument("--allow-standin", action="store_true",
                    help="development only: let 'ours' be the Rust package (labelled as a stand-in)")
    ap.add_argument("--async-rows", action="store_true",
                    help="run the async rows even when our dictsqlite has no AsyncDictSQLite "
                         "(then the peers only); they run by default once ours has one")
    ap.add_argument("--no-async-rows", action="store_true", help="skip the async rows")
    ap.add_argument("--async-only", action="store_true",
                    help="only the async rows: no C limits, floors, matrix, bulk load or growth")
    ap.add_argument("--uvloop", action="store_true",
                    help="run the async rows on uvloop (from .peers/py) instead of asyncio's loop")
    ap.add_argument("--wait-idle", type=float, default=0,
                    help="wait up to this many seconds for the 1-minute load average to drop "
                         "below 0.5 before measuring")
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="only rebuild RESULTS.md and the charts from an existing results.json "
                         "(into its directory)")
    ap.add_argument("--skip-growth", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    ap.add_argument("--skip-charts", action="store_true")
    ap.add_argument("--workdir", help="where the databases go (default: a fresh temp dir)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per worker process")
    return ap.parse_args(argv)


def rebuild_report(path, charts=True):
    """RESULTS.md and charts again from results.json (verdicts recomputed)."""
    path = Path(path).resolve()
    results = json.loads(path.read_text())
    results["verdicts"] = report.verdicts(results)
    if (results.get("async") or {}).get("rows"):
        results["async"]["verdicts"] = report.async_verdicts(results["async"])
    path.write_text(json.dumps(results, indent=1, default=str))
    (path.parent / "RESULTS.md").write_text(report.markdown(results))
    if not charts:
        return 0
    for cand in (venv_python("py"), Path(sys.executable)):
        if cand.exists() and subprocess.run([str(cand), "-c", "import matplotlib"],
                                            capture_output=True).returncode == 0:
            r = subprocess.run([str(cand), str(HERE / "charts.py"), str(path), str(path.parent)])
            return r.returncode
    log("[charts] skipped: matplotlib not available")
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        return rebuild_report(args.report_only, charts=not args.skip_charts)
    t_start = time.perf_counter()
    q = args.quick
    cfg = {
        "mode": "quick" if q else "full",
        "n": args.n or (2_000 if q else 100_000),
        "n_64k": args.n_64k or (200 if q else 2_000),
        "repeats": args.repeats or (1 if q else 3),
        "peer_repeats": args.peer_repeats or args.repeats or (1 if q else 2),
        "inner": 1 if q else 3,
        "budget_s": args.budget or (0.3 if q else 0.5),
        "batch": 1000,
        "batches": 2 if q else 10,
        "bulk_n": args.bulk_n or (20_000 if q else 1_000_000),
        "growth_sizes": [s for s in ([1_000, 4_000] if q else
                                     [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000,
                                      10_000_000]) if s <= max(args.growth_max, 1_000)],
        "growth_sample": 2_000 if q else 100_000,
        "c_autocommit_m": 1_000 if q else 5_000,
        "c_autocommit_m_64k": 200 if q else 1_000,
        "c_select_sample": None,  # point selects over all n keys, as the cold get reads them all
        "async_only": bool(args.async_only),
    }
    out_dir = Path(args.out or (HERE / "results" / "quick" if q else HERE / "results")).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_dir = out_dir / "raw"
    if raw_dir.exists():
        shutil.rmtree(raw_dir, ignore_errors=True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dictsqlite-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    own_workdir = args.workdir is None
    notes = []
    harness_failures = []

    # ---------------------------------------------------------------- interpreters
    global OURS_PYTHON
    # absolute (not resolved: a venv's python is a symlink that must stay one): the
    # workers run with cwd=benchmarks/, where a relative path would name nothing
    interp = {"ours": Path(args.ours_python).absolute() if args.ours_python else Path(sys.executable)}
    OURS_PYTHON = interp["ours"]
    install = not (q or args.no_install)
    for name in ("rust", "py"):
        ok = ensure_venv(name) if install else venv_python(name).exists()
        interp[name] = venv_python(name) if ok else None
        if not ok:
            notes.append(f"interpreter group '{name}' not available "
                         f"({'install failed' if install else 'not installed; --quick installs nothing'})")
    interp["std"] = interp["py"] or Path(sys.executable)

    probes = {}
    pr = probe(interp["ours"], ["dictsqlite", "msgpack"])
    ours_ok = False
    ours_label = "ours"
    if pr and "version" in pr.get("dictsqlite", {}):
        d = pr["dictsqlite"]
        is_rust = bool(d.get("is_rust_package")) or str(PEERS / "rust") in (d.get("file") or "")
        if is_rust and not args.allow_standin:
            notes.append(f"'ours' skipped: {interp['ours']} imports the Rust package "
                         f"({d.get('file')}); install ours with `pip install .`")
        elif not d.get("has_DictSQLiteV4"):
            notes.append("'ours' skipped: dictsqlite has no DictSQLiteV4 yet")
        else:
            ours_ok = True
            if is_rust:
                ours_label = "ours (STAND-IN: the Rust package)"
                notes.append("DEVELOPMENT RUN: 'ours' is a stand-in (the Rust package); "
                             "no number here is about our dictsqlite")
    else:
        err = (pr or {}).get("dictsqlite", {}).get("error", "probe failed")
        notes.append(f"'ours' skipped: dictsqlite not importable in {interp['ours']} ({err})")
    probes["ours"] = pr
    if not ours_ok:
        interp["ours"] = None
    ours_async = ours_ok and bool(((pr or {}).get("dictsqlite") or {}).get("has_AsyncDictSQLite"))
    if interp["rust"]:
        probes["rust"] = probe(interp["rust"], ["dictsqlite", "msgpack"])
    if interp["py"]:
        probes["py"] = probe(interp["py"], ["sqlitedict", "diskcache", "lmdb", "msgpack", "matplotlib",
                                            "aiosqlite", "uvloop"])
    probes["std"] = probe(interp["std"], ["msgpack"])
    floor_path = msgpack_site(probes) if ours_ok else None
    if ours_ok and not floor_path and "file" not in ((pr or {}).get("msgpack") or {}):
        notes.append("msgpack is importable neither in the interpreter of ours nor from a "
                     ".peers/py of the same Python: the jsonb bar uses msgpack.unpackb "
                     "from the separate floors process")

    if args.wait_idle > 0:
        t_idle = time.time()
        while os.getloadavg()[0] >= 0.5 and time.time() - t_idle < args.wait_idle:
            time.sleep(5)
    machine = machine_info(workdir)
    la = machine.get("loadavg_start")
    if la and la[0] >= 0.5:
        notes.append(f"the machine was busy when the run started (load average {la[0]:.2f} "
                     f"on {machine.get('cores')} cores): other work makes every number slower "
                     "and noisier")
    log(f"[machine] {machine.get('cpu')} x{machine.get('cores')}, {machine.get('ram_gib')} GiB, "
        f"Python {machine['python']}, loadavg {machine.get('loadavg_start')}")

    # ---------------------------------------------------------------- C limits
    # by_kind: the store's schema ("split": kv WITHOUT ROWID for small values,
    # kv_large rowid for large ones); the two single-table layouts once each for comparison.
    limits = {"by_kind": {}, "without_rowid_by_kind": {}, "rowid_by_kind": {}, "bulk": None}
    if args.async_only:  # nothing but the async rows: no C program, floors or matrix
        exe, build = None, "not built (--async-only)"
        args.skip_growth = args.skip_bulk = True
    else:
        exe, build = build_limits(PEERS / "bin" if not q else workdir / "bin")
    limits["build"] = build
    value_sizes = {}
    # floors first: they tell the pickled sizes that the C program stores
    floors_py = interp["py"] or Path(sys.executable)
    if args.async_only:
        fl = {"ok": False, "error": "not run (--async-only)"}
    else:
        log("[floors] d[k], pickle, msgpack")
        fl = run_worker(floors_py, {"kind": "floors", "n": cfg["n"], "repeats": cfg["repeats"],
                                    "inner": cfg["inner"], "budget": 30.0},
                        args.timeout, raw_dir, "floors")
    if args.async_only:
        floors = {"ops": {}, "error": fl["error"]}
    elif not fl.get("ok"):
        harness_failures.append(f"floors: {fl.get('error')}")
        floors = {"ops": {}, "error": fl.get("error")}
    else:
        floors = {"ops": summarize(fl), "value_sizes": fl["value_sizes"],
                  "pickle_protocol": fl["pickle_protocol"], "msgpack": fl.get("msgpack_version"),
                  "interpreter": str(floors_py), "errors": fl.get("errors")}
        value_sizes = {k: v["pickled"] for k, v in fl["value_sizes"].items()}
    kinds = VALUE_KINDS if not args.value_kinds else [k for k in args.value_kinds.split(",")]
    if args.async_only:
        pass
    elif exe is None:
        notes.append("C limits not built: " + build.splitlines()[-1][:300])
        harness_failures.append("C limits build failed")
    else:
        for kind in kinds:
            n, vs, _, _ = kind_limits_args(cfg, kind, value_sizes)
            log(f"[limits] {kind}: n={n} value={vs} B")
            r = kind_limits(exe, workdir, cfg, kind, value_sizes)
            limits["by_kind"][kind] = r
            if "error" in r:
                harness_failures.append(f"C limits {kind}: {r['error'][:200]}")
            if not q:  # every row in one table of either layout, once, for the schema decision
                for schema in ("without_rowid", "rowid"):
                    limits[f"{schema}_by_kind"][kind] = kind_limits(exe, workdir, cfg, kind,
                                                                    value_sizes, schema, repeats=1)
        if not args.skip_bulk:
            log(f"[limits] bulk insert {cfg['bulk_n']} rows of "
                f"{value_sizes.get('small', DEFAULT_VALUE_SIZES['small'])} B")
            limits["bulk"] = bulk_limits(exe, workdir, cfg, value_sizes)

    # ---------------------------------------------------------------- matrix
    wanted = None
    if args.columns:
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
    columns = []
    for cid, lib, mode, storage, group in COLUMNS:
        if args.async_only:
            break
        if q and cid not in QUICK_COLUMNS:
            continue
        if wanted and not any(cid == w or cid.startswith(w) for w in wanted):
            continue
        columns.append({"id": cid, "lib": lib, "mode": mode, "storage": storage, "group": group,
                        "label": cid.replace("ours", ours_label, 1) if cid.startswith("ours") else cid,
                        "interpreter": str(interp.get(group)) if interp.get(group) else None})
    cells = {}
    for col in columns:
        cells[col["id"]] = {}
        py = interp.get(col["group"])
        for kind in kinds:
            if col["id"] in JSONB_ONLY_SMALL and kind != "small":
                continue
            if py is None:
                cells[col["id"]][kind] = {"ok": False, "skipped": True,
                                          "error": f"{col['group']} interpreter not available"}
                continue
            n = cfg["n_64k"] if kind == "64k" else cfg["n"]
            spec = {"kind": "cell", "lib": col["lib"], "mode": col["mode"], "value_kind": kind,
                    "n": n, "repeats": cfg["repeats"] if col["lib"] in ("ours", "ours_table")
                    else cfg["peer_repeats"], "inner": cfg["inner"],
                    "budget": cfg["budget_s"], "batch": cfg["batch"], "batches": cfg["batches"],
                    "dir": str(workdir / "cells")}
            if col["storage"]:
                spec["storage"] = col["storage"]
            if floor_path and col["group"] == "ours":
                spec["floor_path"] = floor_path
            t0 = time.perf_counter()
            r = run_worker(py, spec, args.timeout, raw_dir, f"cell-{col['id'].replace('/', '_')}-{kind}")
            dt = time.perf_counter() - t0
            cell = {"ok": bool(r.get("ok")), "n": n, "wall_s": dt}
            if r.get("ok"):
                cell.update(ops=summarize(r), errors=r.get("errors") or {}, capped=r.get("capped") or {},
                            info=r.get("info") or {})
                col.setdefault("durability", r["info"].get("durability"))
                col.setdefault("version", r["info"].get("version"))
            else:
                cell.update(error=r.get("error"), stderr=r.get("stderr"))
                if col["group"] == "std":
                    harness_failures.append(f"{col['id']} {kind}: {r.get('error')}")
            cells[col["id"]][kind] = cell
            status = "ok" if cell["ok"] else f"FAILED ({cell.get('error')})"
            errs = cell.get("errors")
            log(f"[cell] {col['id']:28s} {kind:5s} n={n:<7d} {dt:6.1f} s {status}"
                + (f" errors: {list(errs)}" if errs else ""))
            if exe is not None and cell["ok"] and col["id"] in PAIRED_C_COLUMNS:
                cell["c_limits"] = paired_limits(
                    f"{col['id']} {kind}",
                    lambda: kind_limits(exe, workdir, cfg, kind, value_sizes), harness_failures)

    def series_interpreter(sid, lib, group):
        """The interpreter to run a bulk or growth series with, or None when
        --columns leaves it out, quick mode skips the Rust package, or the
        library is not installed."""
        if wanted and not any(sid.startswith(w) or w.startswith(sid.split("/")[0]) for w in wanted):
            return None
        if q and lib == "rust":
            return None
        return interp.get(group)

    # ---------------------------------------------------------------- bulk 1M
    bulk = {}
    if not args.skip_bulk:
        for cid, lib, group in (("ours/lazy", "ours", "ours"), ("rust/lazy", "rust", "rust")):
            py = series_interpreter(cid, lib, group)
            if py is None:
                continue
            log(f"[bulk] {cid} n={cfg['bulk_n']}")
            spec = {"kind": "bulk", "lib": lib, "mode": "lazy", "n": cfg["bulk_n"],
                    "repeats": bulk_repeats(cfg), "dir": str(workdir / "bulk")}
            r = run_worker(py, spec, max(args.timeout, 1800), raw_dir, f"bulk-{lib}")
            bulk[cid] = ({"ok": True, "n": cfg["bulk_n"], "ops": summarize(r),
                          "errors": r.get("errors") or {}, "info": r.get("info")}
                         if r.get("ok") else {"ok": False, "error": r.get("error"),
                                              "stderr": r.get("stderr")})
            if cid == "ours/lazy" and exe is not None and bulk[cid]["ok"]:
                bulk[cid]["c_bulk"] = paired_limits(
                    f"{cid} bulk load", lambda: bulk_limits(exe, workdir, cfg, value_sizes),
                    harness_failures)

    # ---------------------------------------------------------------- growth
    growth = {}
    if not args.skip_growth:
        for sid, lib, mode, group in GROWTH_SERIES:
            py = series_interpreter(sid, lib, group)
            if py is None:
                continue
            growth[sid] = {}
            for size in cfg["growth_sizes"]:
                spec = {"kind": "growth", "lib": lib, "mode": mode, "n": size,
                        "repeats": cfg["repeats"], "budget": max(cfg["budget_s"], 2.0),
                        "sample": cfg["growth_sample"], "value_kind": "small",
                        "dir": str(workdir / "growth")}
                t0 = time.perf_counter()
                r = run_worker(py, spec, max(args.timeout, 3600), raw_dir,
                               f"growth-{sid.replace('/', '_')}-{size}")
                dt = time.perf_counter() - t0
                growth[sid][str(size)] = ({"ok": True, "ops": summarize(r), "info": r.get("info"),
                                           "errors": r.get("errors") or {}, "wall_s": dt}
                                          if r.get("ok") else {"ok": False, "error": r.get("error"),
                                                               "stderr": r.get("stderr")})
                log(f"[growth] {sid:14s} {size:>9d} {dt:6.1f} s "
                    f"{'ok' if r.get('ok') else 'FAILED ' + str(r.get('error'))}")

    # ---------------------------------------------------------------- async rows
    async_rows = run_async_rows(args, cfg, interp, probes, ours_async, workdir, raw_dir, notes)
    async_rows["ours_label"] = ours_label

    # ---------------------------------------------------------------- results
    try:
        machine["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    versions = report.collect_versions(probes, columns, machine, limits, floors)
    results = {
        "schema": 1,
        "generated": machine["date"],
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "config": cfg,
        "machine": machine,
        "versions": versions,
        "interpreters": {k: (str(v) if v else None) for k, v in interp.items()},
        "probes": probes,
        "limits": limits,
        "floors": floors,
        "columns": columns,
        "cells": cells,
        "bulk": bulk,
        "growth": growth,
        "async": async_rows,
        "notes": notes,
        "harness_failures": harness_failures,
    }
    results["verdicts"] = report.verdicts(results)
    results["wall_s"] = time.perf_counter() - t_start
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "RESULTS.md").write_text(report.markdown(results))
    log(f"[out] {out_dir / 'results.json'}")
    log(f"[out] {out_dir / 'RESULTS.md'}")

    # ---------------------------------------------------------------- charts
    if not args.skip_charts:
        chart_py = None
        for cand in (interp.get("py"), Path(sys.executable)):
            if cand and subprocess.run([str(cand), "-c", "import matplotlib"],
                                       capture_output=True).returncode == 0:
                chart_py = cand
                break
        if chart_py is None:
            msg = "charts skipped: matplotlib not available (run without --quick to install it)"
            results["notes"].append(msg)
            log("[charts] " + msg)
        else:
            r = subprocess.run([str(chart_py), str(HERE / "charts.py"), str(out_dir / "results.json"),
                                str(out_dir)], capture_output=True, text=True)
            if r.returncode != 0:
                results["notes"].append("charts failed: " + r.stderr[-500:])
                harness_failures.append("charts failed")
                log("[charts] FAILED\n" + r.stderr[-2000:])
            else:
                results["charts"] = sorted(p.name for p in out_dir.glob("*.png"))
                log(f"[charts] {len(results['charts'])} PNG files")
        results["wall_s"] = time.perf_counter() - t_start
        (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (out_dir / "RESULTS.md").write_text(report.markdown(results))

    if own_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"[done] {results['wall_s']:.1f} s")
    if harness_failures:
        log("[harness failures] " + "; ".join(harness_failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
