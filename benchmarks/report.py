"""Verdicts and the Markdown report of benchmarks/run.py (standard library only).

Ratios are computed from the exact medians. Where a ratio is printed next to a bar,
it is rounded *against* the library (up for "at most" bars, down for "at least" bars),
so a printed number never looks better than the measurement.
"""
import math

VALUE_KINDS = ["b32", "small", "1k", "64k"]
KIND_LABEL = {"b32": "32 B bytes", "small": "small dict", "1k": "1 KiB bytes", "64k": "64 KiB bytes"}
# schema argument of benchmarks/sqlite_limits.c -> row label of the limits table
LIMITS_SCHEMA_LABEL = {"split": "ours (kv + kv_large split)", "without_rowid": "WITHOUT ROWID",
                       "rowid": "rowid"}

# operations of the matrix, in report order: (op, title, unit)
MATRIX_OPS = [
    ("set_new", "set of new keys `db[k] = v`", "ops/s"),
    ("set_new_durable", "set of new keys + flush()/commit (durable cost of a batched write)", "ops/s"),
    ("overwrite", "overwrite `db[k] = v` (existing keys, random order)", "ops/s"),
    ("overwrite_durable", "overwrite + flush()/commit", "ops/s"),
    ("flush_after_set", "flush()/commit after the set of new keys", "rows/s"),
    ("get_hot", "hot get `db[k]` (same instance, random order)", "ops/s"),
    ("get_cold", "cold get `db[k]` (fresh instance after close and reopen)", "ops/s"),
    ("contains", "`k in db`", "ops/s"),
    ("len", "`len(db)`", "calls/s"),
    ("items", "iterating items", "items/s"),
    ("update_1k", "batch update of 1,000 items (`update(dict)`; diskcache: `transact()`)", "items/s"),
    ("update_1k_durable", "batch update of 1,000 items + flush()/commit", "items/s"),
    ("batch_set_1k", "`batch_set` of 1,000 items (dictsqlite only)", "items/s"),
    ("batch_set_1k_durable", "`batch_set` of 1,000 items + flush()", "items/s"),
    ("delete", "`del db[k]`", "ops/s"),
    ("delete_durable", "`del db[k]` + flush()/commit", "ops/s"),
    ("close", "close()", "calls/s"),
    ("open_existing", "open an existing store (before the cold get)", "calls/s"),
]

# which correctness check (worker.py check_values / len checks) belongs to which operation
VERIFY_MARKS = {
    "get_hot": ("verify_hot",),
    "get_cold": ("verify_reopen", "get_cold"),
    "batch_set_1k": ("verify_batch_set",),
    "batch_set_1k_durable": ("verify_batch_set",),
    "len": ("verify_len",),
    "items": ("verify_items",),
}

RUST_BY_DURABILITY = {"none": "rust/memory", "batched": "rust/lazy",
                      "per-write commit": "rust/writethrough",
                      "per-write (no transaction)": "rust/writethrough"}


# ------------------------------------------------------------------ lookups


def _op(d, op):
    if not d:
        return None
    o = (d.get("ops") or {}).get(op)
    return o["per_op_s"] if o else None


def cell_time(results, col, kind, op):
    c = results["cells"].get(col, {}).get(kind)
    if not c or not c.get("ok"):
        return None
    return _op(c, op)


def floor_time(results, name):
    return _op(results.get("floors"), name)


# label suffixes of a reference measured next to what it is compared with
SAME_PROCESS = " (same process)"  # a Python floor timed inside the cell's own process
AFTER_CELL = " (right after the cell)"  # C limits run again right after the cell
AFTER_BULK = " (right after the bulk load)"  # C bulk insert run again after ours/lazy's
# Series whose own growth a growth verdict quotes, at the same two sizes: dict+pickle
# (the in-memory reference with the same encode and decode) and the bare dict
# (d[k] = v, d[k]: what the cache hierarchy alone costs as the map grows).
GROWTH_REFERENCES = ("dict+pickle", "dict")


def _own_or(own_s, suffix, fallback_s):
    """(own_s, suffix) when the paired figure exists, else the run-start figure with no
    suffix: results.json files of older runs have no paired figures."""
    return (own_s, suffix) if own_s else (fallback_s, "")


def paired_floor(results, col, kind, name):
    """(seconds, label suffix) of floor `name` as measured inside the cell col × kind,
    right after its hot passes (worker.paired_floors); the separate floors process's
    figure when the cell has none (results of older runs)."""
    return _own_or(cell_time(results, col, kind, f"floor:{name}"), SAME_PROCESS,
                   floor_time(results, name))


def paired_c(results, col, kind, op):
    """(seconds, label suffix) of C limit `op` as run again right after the cell
    col × kind (run.py, cell["c_limits"]); the run-start figure when the cell has none."""
    c = results["cells"].get(col, {}).get(kind) or {}
    own = _op(c.get("c_limits"), op) if c.get("ok") else None
    return _own_or(own, AFTER_CELL, c_time(results, kind, op))


def paired_c_bulk(results):
    """(seconds per row, label suffix) of the C bulk insert as run again right after
    ours/lazy's bulk load; the run-start figure when there is none."""
    b = (results.get("bulk") or {}).get("ours/lazy") or {}
    return _own_or(_op(b.get("c_bulk"), "bulk_insert"), AFTER_BULK,
                   _op(results["limits"].get("bulk"), "bulk_insert"))


def c_time(results, kind, op):
    return _op(results["limits"]["by_kind"].get(kind), op)


def column(results, cid):
    for c in results["columns"]:
        if c["id"] == cid:
            return c
    return None


def rust_peer(results, col):
    """The Rust column a column is compared with: same mode for dictsqlite columns,
    same durability class for the others."""
    cid = col["id"]
    if cid.startswith("ours/"):
        rest = cid.split("/", 1)[1]
        if rest.endswith("/table"):  # a table proxy compares with the same mode
            rest = rest[: -len("/table")]
        return "rust/" + rest
    if cid.startswith("rust/"):
        return None
    return RUST_BY_DURABILITY.get(col.get("durability") or "")


def limit_for(results, col, kind, op):
    """(seconds per op of the limit, label) for a matrix cell, or (None, None)."""
    dur = col.get("durability") or ""
    per_write = dur.startswith("per-write")
    jsonb = col.get("storage") == "jsonb"
    enc = floor_time(results, "msgpack_packb[small]" if jsonb else f"pickle_dumps[{kind}]")
    dec = floor_time(results, "msgpack_unpackb[small]" if jsonb else f"pickle_loads[{kind}]")
    enc_label = "msgpack.packb" if jsonb else "pickle.dumps"
    dec_label = "msgpack.unpackb" if jsonb else "pickle.loads"
    bulk = c_time(results, kind, "bulk_insert")
    if op in ("set_new", "overwrite", "update_1k", "batch_set_1k"):
        if per_write and op in ("set_new", "overwrite"):
            c_op = "autocommit_insert" if op == "set_new" else "autocommit_upsert"
            return c_time(results, kind, c_op), f"C {c_op.replace('_', ' ')}"
        if per_write and op in ("update_1k", "batch_set_1k"):  # one transaction per batch
            return bulk, "C bulk insert"
        return enc, f"bare encode ({enc_label})"
    if op.endswith("_durable") or op.startswith("flush_after"):
        return bulk, "C bulk insert"
    if op == "get_hot":
        if kind == "small":
            return dec, f"bare decode ({dec_label})"
        return floor_time(results, "dict_get"), "d[k]"
    if op == "get_cold":
        sel = c_time(results, kind, "point_select_cold")
        if sel is None or dec is None:
            return None, None
        return sel + dec, f"C point select + {dec_label}"
    if op == "contains":
        return floor_time(results, "dict_contains"), "k in d"
    if op == "len":
        return floor_time(results, "dict_len"), "len(d)"
    if op == "items":
        if dur == "none":
            return floor_time(results, "dict_items"), "dict items"
        return c_time(results, kind, "scan"), "C scan"
    if op == "delete":
        if per_write:
            return c_time(results, kind, "autocommit_delete"), "C autocommit delete"
        return floor_time(results, "dict_delete"), "del d[k]"
    return None, None


# ------------------------------------------------------------------ formatting


def fmt_rate(per_op_s):
    if not per_op_s:
        return "–"
    r = 1.0 / per_op_s
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if r >= div:
            return f"{r / div:.3g} {suf}"
    return f"{r:.3g}"


def fmt_time(s):
    if s is None:
        return "–"
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def ceil_to(x, digits=3):
    f = 10 ** digits
    return math.ceil(x * f - 1e-9) / f


def floor_to(x, digits=3):
    f = 10 ** digits
    return math.floor(x * f + 1e-9) / f


def fmt_ratio(x, direction=None):
    """direction 'le': round up; 'ge': round down; None: plain 3 significant digits."""
    if x is None:
        return "–"
    if direction == "le":
        return f"{ceil_to(x):.3f}"
    if direction == "ge":
        return f"{floor_to(x):.3f}"
    return f"{x:.3g}"


# ------------------------------------------------------------------ versions


def collect_versions(probes, columns, machine, limits, floors):
    v = {"python": machine.get("python"), "sqlite_system": machine.get("sqlite_python_module")}
    p = probes.get("ours") or {}
    d = p.get("dictsqlite") or {}
    v["dictsqlite_ours"] = d.get("version") if "version" in d else None
    v["dictsqlite_ours_file"] = d.get("file")
    p = probes.get("rust") or {}
    v["dictsqlite_rust"] = (p.get("dictsqlite") or {}).get("version")
    p = probes.get("py") or {}
    for name in ("sqlitedict", "diskcache", "lmdb", "msgpack", "matplotlib", "aiosqlite",
                 "uvloop"):
        v[name] = (p.get(name) or {}).get("version")
    for kind, lim in (limits.get("by_kind") or {}).items():
        if lim and lim.get("sqlite_version"):
            v["sqlite_c_limits"] = lim["sqlite_version"]
            break
    for c in columns:
        if c["id"] == "shelve" and c.get("version"):
            v["shelve"] = c["version"]
    return v


# ------------------------------------------------------------------ verdicts


def verdicts(results):
    """One entry per bar of DESIGN.md and cell it applies to.

    Each entry also carries the "≥ 2× faster than the Rust package" bar for the same
    cell (rust_* fields), since DESIGN.md applies that bar to every cell above it."""
    out = []

    def add(bar, cell, measured_s, ref_s, ref_label, threshold, direction, detail="",
            ratio=None, unit="time", rust=None):
        if ratio is None and measured_s is not None and ref_s:
            ratio = measured_s / ref_s
        met = None if ratio is None else (ratio <= threshold if direction == "le" else ratio >= threshold)
        e = {"bar": bar, "cell": cell, "measured_s": measured_s, "reference_s": ref_s,
             "reference": ref_label, "ratio": ratio, "threshold": threshold,
             "direction": direction, "met": met, "detail": detail, "unit": unit}
        if rust is not None:
            rust_label, rust_s = rust
            speed = (rust_s / measured_s) if (rust_s and measured_s) else None
            e.update(rust_cell=rust_label, rust_s=rust_s, rust_speedup=speed,
                     rust_met=None if speed is None else speed >= 2.0)
        out.append(e)

    def rust_of(col, kind, op):
        rc = rust_peer(results, {"id": col})
        return (f"{rc} {kind} {op}", cell_time(results, rc, kind, op) if rc else None)

    # Bars 1-3 compare against Python floors timed inside the same cell (paired_floor).
    # 1. hot get, bytes, memory mode <= 2x d[k]
    dk, how = paired_floor(results, "ours/memory", "b32", "dict_get")
    t = cell_time(results, "ours/memory", "b32", "get_hot")
    add("hot db[k], bytes, memory ≤ 2× d[k]", "ours/memory b32 get_hot", t, dk, "d[k]" + how,
        2.0, "le", rust=rust_of("ours/memory", "b32", "get_hot"))

    # 2. hot get small dict <= 1.3x bare decode (pickle; jsonb)
    for col, name, label in [(f"ours/{mode}", "pickle_loads[small]", "pickle.loads")
                             for mode in ("memory", "lazy", "writethrough")] + [
            ("ours/memory/jsonb", "msgpack_unpackb[small]", "msgpack.unpackb")]:
        dec, how = paired_floor(results, col, "small", name)
        t = cell_time(results, col, "small", "get_hot")
        cell = f"{col} small get_hot" + (" (pickle)" if name.startswith("pickle") else "")
        add("hot db[k], small dict ≤ 1.3× bare decode", cell, t, dec, label + how, 1.3, "le",
            rust=rust_of(col, "small", "get_hot"))

    # 3. set, memory and lazy <= 1.3x bare encode + 150 ns
    for mode in ("memory", "lazy"):
        for kind in VALUE_KINDS:
            enc, how = paired_floor(results, f"ours/{mode}", kind, f"pickle_dumps[{kind}]")
            for op in ("set_new", "overwrite"):
                t = cell_time(results, f"ours/{mode}", kind, op)
                limit = (1.3 * enc + 150e-9) if enc else None
                ratio = (t / limit) if (t and limit) else None
                add("db[k] = v, memory/lazy ≤ 1.3× bare encode + 150 ns",
                    f"ours/{mode} {kind} {op}", t, limit, "1.3 × pickle.dumps + 150 ns" + how,
                    1.0, "le", detail=f"pickle.dumps = {fmt_time(enc)}", ratio=ratio,
                    rust=rust_of(f"ours/{mode}", kind, op))

    # Bars 4-6 compare against the C limits run again right after the cell or the bulk
    # load (paired_c, paired_c_bulk); the cold get's decode is the cell's own floor.
    # 4. writethrough set <= 1.25x C autocommit upsert
    for kind in VALUE_KINDS:
        for op, c_op in (("set_new", "autocommit_insert"), ("overwrite", "autocommit_upsert")):
            t = cell_time(results, "ours/writethrough", kind, op)
            ref, how = paired_c(results, "ours/writethrough", kind, c_op)
            add("db[k] = v, writethrough (commit per write) ≤ 1.25× C autocommit",
                f"ours/writethrough {kind} {op}", t, ref,
                f"C {c_op.replace('_', ' ')}" + how, 1.25, "le",
                rust=rust_of("ours/writethrough", kind, op))

    # 5. lazy flush / bulk load of 1M small entries >= 0.8x C bulk insert rows/s
    c_bulk, bulk_how = paired_c_bulk(results)
    b = results.get("bulk", {}).get("ours/lazy") or {}
    rb = results.get("bulk", {}).get("rust/lazy") or {}
    n_bulk = b.get("n") or results["config"].get("bulk_n")
    for op, label in (("bulk_insert_flush", "bulk_insert(items) + flush()"),
                      ("sets_flush", "n × db[k] = v, then flush() (background flusher off)"),
                      ("sets_flush_default", "n × db[k] = v, then flush() (default settings)")):
        t = _op(b, op) if b.get("ok") else None
        speed = (c_bulk / t) if (t and c_bulk) else None  # rows/s ours / rows/s C
        rt = _op(rb, op) if rb.get("ok") else None
        add(f"lazy flush / bulk load of {n_bulk:,} small ≥ 0.8× C bulk insert rows/s",
            f"ours/lazy {label}", t, c_bulk, "C bulk insert in 1 transaction" + bulk_how, 0.8, "ge",
            ratio=speed, unit="throughput", rust=(f"rust/lazy {op}", rt))

    # 6. cold get <= 1.5x C point select + decode
    for mode in ("lazy", "writethrough"):
        for kind in VALUE_KINDS:
            t = cell_time(results, f"ours/{mode}", kind, "get_cold")
            sel, sel_how = paired_c(results, f"ours/{mode}", kind, "point_select_cold")
            dec, dec_how = paired_floor(results, f"ours/{mode}", kind, f"pickle_loads[{kind}]")
            ref = (sel + dec) if (sel and dec) else None
            add("cold db[k] ≤ 1.5× C point select + decode", f"ours/{mode} {kind} get_cold",
                t, ref, f"C point select on a fresh connection{sel_how} + pickle.loads{dec_how}",
                1.5, "le", rust=rust_of(f"ours/{mode}", kind, "get_cold"))

    # 8. growth
    g = results.get("growth") or {}
    for sid in ("ours/memory", "ours/lazy"):
        series = g.get(sid) or {}
        sizes = sorted((int(s) for s, v in series.items() if v.get("ok")))
        for op in ("set_new", "get_hot", "overwrite"):
            base = _op(series.get(str(sizes[0])), op) if sizes else None
            worst, worst_size = None, None
            for s in sizes[1:]:
                t = _op(series.get(str(s)), op)
                if t and base:
                    dev = t / base - 1.0
                    if worst is None or abs(dev) > abs(worst):
                        worst, worst_size = dev, s
            detail = (f"{op} per op at {sizes[0]:,}: {fmt_time(base)}; largest deviation "
                      f"{worst * 100:+.1f}% at {worst_size:,}" if worst is not None
                      else "fewer than two sizes measured")
            for ref_id in GROWTH_REFERENCES if worst is not None else ():
                ref_series = g.get(ref_id) or {}
                a0 = _op(ref_series.get(str(sizes[0])), op)  # None for a missing point
                a1 = _op(ref_series.get(str(worst_size)), op)
                if a0 and a1:
                    detail += f"; for comparison {ref_id}: {(a1 / a0 - 1) * 100:+.1f}%"
            add(f"growth: per-op cost within ±30% from {sizes[0]:,} to {sizes[-1]:,}" if sizes
                else "growth: per-op cost within ±30%", f"{sid} {op}", None, base,
                f"{op} at the smallest size", 0.30, "le", detail=detail,
                ratio=abs(worst) if worst is not None else None, unit="deviation")
    # memory: at the largest size measured for both (RSS is too coarse for small stores)
    dict_series = g.get("dict+pickle") or {}
    series = g.get("ours/memory") or {}
    common = [s for s in sorted((int(x) for x in series), reverse=True)
              if (series.get(str(s)) or {}).get("ok") and (dict_series.get(str(s)) or {}).get("ok")]
    if common:
        s = common[0]
        o = series[str(s)]["info"].get("rss_per_entry")
        r = dict_series[str(s)]["info"].get("rss_per_entry")
        add("growth: hot-tier memory per entry ≤ 1.5× a built-in dict of the same bytes",
            f"ours/memory at {s:,} entries", o, r, "dict {key: pickle.dumps(v)}", 1.5, "le",
            detail=f"RSS growth {o:.0f} B vs {r:.0f} B per entry" if (o and r) else "",
            unit="memory", rust=None)
    else:
        add("growth: hot-tier memory per entry ≤ 1.5× a built-in dict of the same bytes",
            "ours/memory", None, None, "dict {key: pickle.dumps(v)}", 1.5, "le", unit="memory")
    return out


# ------------------------------------------------------------------ markdown


def _md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
    return "\n".join(out)


def verdict_rows(results):
    rows = []
    for v in results["verdicts"]:
        d = v["direction"]
        sym = "≤" if d == "le" else "≥"
        if v["unit"] == "time":
            measured = fmt_time(v["measured_s"])
            ref = f"{v['reference']}: {fmt_time(v['reference_s'])}"
            ratio = f"{fmt_ratio(v['ratio'], d)}× (bar {sym} {v['threshold']}×)"
        elif v["unit"] == "throughput":
            measured = f"{fmt_rate(v['measured_s'])} rows/s"
            ref = f"{v['reference']}: {fmt_rate(v['reference_s'])} rows/s"
            ratio = f"{fmt_ratio(v['ratio'], d)}× (bar {sym} {v['threshold']}×)"
        elif v["unit"] == "deviation":
            measured = "–"
            ref = f"{v['reference']}: {fmt_time(v['reference_s'])}"
            ratio = (f"±{fmt_ratio(v['ratio'] * 100 if v['ratio'] is not None else None, d)}% "
                     f"(bar ≤ ±30%)")
        else:  # memory
            measured = f"{v['measured_s']:.0f} B" if v["measured_s"] else "–"
            ref = f"{v['reference']}: {v['reference_s']:.0f} B" if v["reference_s"] else "–"
            ratio = f"{fmt_ratio(v['ratio'], d)}× (bar {sym} {v['threshold']}×)"
        verdict = _verdict(v["met"])
        detail = f" ({v['detail']})" if v.get("detail") else ""
        if "rust_cell" in v:
            rust = (f"{fmt_time(v['rust_s'])} → {fmt_ratio(v['rust_speedup'], 'ge')}× faster"
                    if v["rust_s"] else "–")
            rust_verdict = _verdict(v["rust_met"])
        else:
            rust, rust_verdict = "n/a", "n/a"
        rows.append([v["bar"], v["cell"] + detail, measured, ref, ratio, verdict, rust, rust_verdict])
    return rows


def _verdict(met):
    return "**met**" if met else ("**not met**" if met is False else "not measured")


def cell_text(results, col, kind, op):
    c = results["cells"].get(col["id"], {}).get(kind)
    if c is None:
        return ""
    if not c.get("ok"):
        return "skipped" if c.get("skipped") else "**failed**"
    o = (c.get("ops") or {}).get(op)
    if not o:
        err = (c.get("errors") or {}).get(op)
        return "**error**" if err else "n/a"
    parts = [f"{fmt_rate(o['per_op_s'])}"]
    if o["samples"] > 1:
        parts[0] += f" ±{o['spread'] * 50:.0f}%"
    rc = rust_peer(results, col)
    rt = cell_time(results, rc, kind, op) if rc else None
    if rt:
        parts.append(f"R {rt / o['per_op_s']:.2g}")
    lt, _ = limit_for(results, col, kind, op)
    if lt:
        parts.append(f"L {lt / o['per_op_s']:.2g}")
    mark = ""
    if op in (c.get("capped") or {}):
        mark += "‡"
    errs = c.get("errors") or {}
    if any(k in errs for k in VERIFY_MARKS.get(op, ())):
        mark += "✗"
    return " · ".join(parts) + mark


def limit_cells(d, c_ops):
    """The table cells of one C limits run: rate and time per op of each of c_ops."""
    return [f"{fmt_rate(_op(d, o))}/s ({fmt_time(_op(d, o))})" for o in c_ops]


def paired_limits_rows(results, c_ops):
    """Rows of the C limits run again right after each cell (run.py, cell["c_limits"])."""
    rows = []
    for cid, by_kind in results["cells"].items():
        for kind in VALUE_KINDS:
            d = (by_kind.get(kind) or {}).get("c_limits")
            if not d:
                continue
            if "ops" not in d:
                rows.append([f"{cid} {kind}", "failed: " + str(d.get("error"))[:200]] +
                            [""] * len(c_ops))
                continue
            rows.append([f"{cid} {kind}", f"{d['value_size']} B"] +
                        limit_cells(d, c_ops))
    return rows


def markdown(results):
    cfg = results["config"]
    m = results["machine"]
    v = results["versions"]
    L = []
    L.append("# dictsqlite benchmark results\n")
    L.append(f"Generated by `python3 benchmarks/run.py{' --quick' if cfg['mode'] == 'quick' else ''}` "
             f"(command: `{results.get('command', '')}`) on {m.get('date')}; "
             f"mode **{cfg['mode']}**; wall time {results.get('wall_s', 0):.0f} s. "
             "Every number below comes from this one run on this one machine.\n")
    if cfg["mode"] == "quick":
        L.append("> **Quick mode** (smoke test of the harness): tiny sizes, one repeat. "
                 "These numbers are not measurements to quote.\n")
    for n in results.get("notes", []):
        L.append(f"> Note: {n}\n")
    for h in results.get("harness_failures", []):
        L.append(f"> Harness failure: {h}\n")

    L.append("## Machine\n")
    L.append(_md_table(["", ""], [
        ["CPU", m.get("cpu")], ["cores", m.get("cores")], ["RAM", f"{m.get('ram_gib')} GiB"],
        ["kernel", m.get("kernel")], ["OS", m.get("os")],
        ["Python", f"{m.get('python')} ({m.get('python_build')})"],
        ["SQLite (system libsqlite3, used by the C limits and Python's sqlite3)",
         v.get("sqlite_c_limits") or v.get("sqlite_system")],
        ["filesystem of the databases", m.get("workdir_fs")],
        ["load average at start / end", f"{m.get('loadavg_start')} / {m.get('loadavg_end')}"],
        ["git commit", m.get("git_commit")],
    ]))
    L.append("")
    L.append("## Versions\n")
    L.append(_md_table(["package", "version"], [
        ["dictsqlite (ours)", f"{v.get('dictsqlite_ours')} ({v.get('dictsqlite_ours_file')})"],
        ["dictsqlite (Rust, PyPI)", v.get("dictsqlite_rust")],
        ["sqlitedict", v.get("sqlitedict")], ["diskcache", v.get("diskcache")],
        ["lmdb", v.get("lmdb")], ["msgpack", v.get("msgpack")],
        ["shelve", v.get("shelve")], ["matplotlib (charts)", v.get("matplotlib")],
        ["aiosqlite (async rows)", v.get("aiosqlite")], ["uvloop (--uvloop)", v.get("uvloop")],
    ]))
    L.append("")
    if cfg.get("async_only"):  # run.py --async-only: nothing else was measured
        L.extend(async_markdown(results.get("async") or {}, results.get("command", "")))
        return "\n".join(L) + "\n"

    L.append("## Method\n")
    L.append(
        f"- Keys `key%08d`; {cfg['n']:,} keys per cell ({cfg['n_64k']:,} for 64 KiB values). "
        "Values: 32 B bytes, the small dict `{\"name\": \"Alice\", \"age\": 30, \"tags\": [\"a\", \"b\"]}`, "
        "1 KiB and 64 KiB bytes.\n"
        "- Each cell (library × mode × value kind) runs in its own process. Within it, "
        f"{cfg['repeats']} repeat(s) for ours, "
        f"{cfg.get('peer_repeats', cfg['repeats'])} for the peers (the Rust package "
        "included), each on a fresh "
        "store: warm-up, set of new keys, flush, "
        "overwrite, hot get and contains (up to "
        f"{cfg['inner']} passes), len, items, batch updates of 1,000 items, close, reopen, "
        "cold get, delete.\n"
        "- Operations run in chunks of 1,000 keys, each chunk a plain `for k in chunk:` loop "
        "around the library's idiom; the floors use the same loop. `gc.collect()` before and "
        "gc disabled during each timed loop.\n"
        f"- A timed loop stops after {cfg['budget_s']} s (‡ marks such cells; the rest of the "
        "keys are then loaded through the library's batch path, not timed).\n"
        "- Each cell shows the median throughput over its samples, ± half the spread "
        "(max − min) as a percentage of the median, then **R** = throughput ÷ the Rust "
        "package's in the comparable column (same mode; for other libraries the same "
        "durability class) and **L** = throughput ÷ the limit's (1.0 = at the limit; the "
        "limit of each operation is listed below). ✗ = a value read back wrong in that cell "
        "(see Errors).\n"
        "- Durability: **per-write commit** = an acknowledged write survives a process crash; "
        "**batched** = writes survive once flush()/commit()/close() returned; **none** = "
        "nothing is persisted. Everything uses WAL + synchronous=NORMAL where the library "
        "allows it (lmdb: sync=False), so no column fsyncs per write.\n"
        "- Cold get: the same process, a fresh instance after close(); the OS page cache is warm.\n")

    L.append("## Verdicts: DESIGN.md performance bars\n")
    L.append("Computed from the medians; a printed ratio is rounded against us. Each "
             "reference is measured next to what it is compared with, and marked so: "
             "d[k], pickle.dumps/loads and msgpack.unpackb (the cold get's decode "
             "included) are timed inside the same cell's process, right after its hot "
             "passes, over the same keys (\"same process\"); the C limits of the "
             "writethrough and cold-get bars are run again right after that cell "
             "(\"right after the cell\"), and the C bulk insert right after our lazy "
             "bulk load (\"right after the bulk load\"). A reference without a mark comes "
             "from the C limits or the floors process at the start of the run (a result "
             "of an older run, or a floor the cell could not time). The L ratios of the "
             "matrix tables below use those run-start figures throughout.\n")
    L.append(_md_table(["bar", "cell", "measured (per op)", "reference", "ratio", "verdict",
                        "Rust package (same cell)", "≥ 2× faster than Rust"],
                       verdict_rows(results)))
    vs = results["verdicts"]
    cnt = [sum(1 for x in vs if x["met"]), sum(1 for x in vs if x["met"] is False),
           sum(1 for x in vs if x["met"] is None)]
    rv = [x for x in vs if "rust_cell" in x]
    rcnt = [sum(1 for x in rv if x["rust_met"]), sum(1 for x in rv if x["rust_met"] is False),
            sum(1 for x in rv if x["rust_met"] is None)]
    L.append(f"\nBars: {cnt[0]} met, {cnt[1]} not met, {cnt[2]} not measured. "
             f"≥ 2× faster than the Rust package: {rcnt[0]} met, {rcnt[1]} not met, "
             f"{rcnt[2]} not measured.\n")

    L.append("## Limits and floors\n")
    lim = results["limits"]
    L.append(f"C program `benchmarks/sqlite_limits.c` (`{str(lim.get('build', ''))[:200]}`), same "
             "PRAGMAs, schema and statements as dictsqlite's store. Value size = the pickled value. "
             "Throughput (per-op time), median of the repeats. The bars compare against the "
             "store's own layout (\"ours\": kv WITHOUT ROWID for values up to 800 B, kv_large "
             "rowid table above, each upsert also deleting the key from the other table); "
             "the single-table WITHOUT ROWID and rowid rows, one run each, show what either "
             "layout alone would give.\n")
    c_ops = ["autocommit_insert", "autocommit_upsert", "autocommit_delete", "bulk_insert",
             "point_select_cold", "point_select_hot", "scan"]
    rows = []
    for kind in VALUE_KINDS:
        for src in ("by_kind", "without_rowid_by_kind", "rowid_by_kind"):
            d = (lim.get(src) or {}).get(kind)
            if not d or "ops" not in d:
                continue
            # Results before the split have no "split" run: label by the schema measured.
            schema = LIMITS_SCHEMA_LABEL.get(d.get("schema") or "without_rowid", d.get("schema"))
            rows.append([f"{KIND_LABEL[kind]} ({d['value_size']} B), n={d['n']:,}", schema] +
                        limit_cells(d, c_ops))
    if rows:
        L.append(_md_table(["value", "schema"] + [o.replace("_", " ") for o in c_ops], rows))
    b = lim.get("bulk")
    if b and "ops" in b:
        L.append(f"\nBulk insert of {b['n']:,} rows of {b['value_size']} B in one transaction: "
                 f"{fmt_rate(_op(b, 'bulk_insert'))} rows/s ({fmt_time(_op(b, 'bulk_insert'))}/row).\n")
    paired = paired_limits_rows(results, c_ops)
    if paired:
        L.append("\nThe same C limits run again right after each of our cells they are a bar "
                 "for (the verdicts use these):\n")
        L.append(_md_table(["cell", "value size"] + [o.replace("_", " ") for o in c_ops], paired))
    fl = results.get("floors") or {}
    if fl.get("ops"):
        L.append("\nPython floors (same loop shape as the cells):\n")
        rows = []
        for name, o in sorted(fl["ops"].items()):
            rows.append([f"`{name}`", fmt_time(o["per_op_s"]), f"{fmt_rate(o['per_op_s'])}/s",
                         f"±{o['spread'] * 50:.0f}%"])
        L.append(_md_table(["floor", "per op", "throughput", "spread"], rows))
    L.append("")

    L.append("## Columns\n")
    L.append(_md_table(["column", "durability", "version", "interpreter"],
                       [[c["label"], c.get("durability") or "–", c.get("version") or "–",
                         c.get("interpreter") or "not available"] for c in results["columns"]]))
    L.append("")

    L.append("## Matrix\n")
    for op, title, unit in MATRIX_OPS:
        present = any((results["cells"].get(c["id"], {}).get(k) or {}).get("ops", {}).get(op)
                      for c in results["columns"] for k in VALUE_KINDS)
        if not present:
            continue
        L.append(f"### {title} ({unit})\n")
        lab = None
        for c in results["columns"]:
            for k in VALUE_KINDS:
                _, lab0 = limit_for(results, c, k, op)
                lab = lab or lab0
        rows = []
        for c in results["columns"]:
            texts = [cell_text(results, c, k, op) for k in VALUE_KINDS]
            if not any(t and t != "n/a" for t in texts):
                continue
            rows.append([c["label"], c.get("durability") or "–"] + texts)
        L.append(_md_table(["column", "durability"] + [KIND_LABEL[k] for k in VALUE_KINDS], rows))
        limits_used = sorted({limit_for(results, c, k, op)[1] for c in results["columns"]
                              for k in VALUE_KINDS if limit_for(results, c, k, op)[1]})
        if limits_used:
            L.append(f"\nL is against: {'; '.join(limits_used)}.\n")
        else:
            L.append("")

    errs = []
    for cid, by_kind in results["cells"].items():
        for k, c in by_kind.items():
            if not c.get("ok") and not c.get("skipped"):
                errs.append([cid, k, "cell failed", str(c.get("error"))[:300]])
            for op, e in (c.get("errors") or {}).items():
                errs.append([cid, k, op, str(e)[:300]])
            for op, e in (c.get("capped") or {}).items():
                errs.append([cid, k, op, f"capped by the time budget: timed {e} operations"])
    if errs:
        L.append("## Errors, wrong values and capped loops\n")
        L.append(_md_table(["column", "value", "operation", "what"], errs))
        L.append("")

    bulk = results.get("bulk") or {}
    if bulk:
        L.append(f"## Lazy bulk load of {results['config']['bulk_n']:,} small entries\n")
        rows = []
        for cid, d in bulk.items():
            if not d.get("ok"):
                rows.append([cid, "failed", str(d.get("error"))[:200], ""])
                continue
            rows.append([cid, f"{fmt_rate(_op(d, 'bulk_insert_flush'))} rows/s",
                         f"{fmt_rate(_op(d, 'sets_flush'))} rows/s",
                         f"{fmt_rate(_op(d, 'flush_after_sets'))} rows/s",
                         f"{fmt_rate(_op(d, 'sets_flush_default'))} rows/s",
                         "; ".join(f"{k}: {e}" for k, e in (d.get("errors") or {}).items())[:300]])
        for label, c_b in (("C bulk insert, one transaction (start of run)",
                            results["limits"].get("bulk") or {}),
                           ("C bulk insert, one transaction, right after ours/lazy",
                            (bulk.get("ours/lazy") or {}).get("c_bulk") or {})):
            if c_b.get("ops"):
                rows.append([label, f"{fmt_rate(_op(c_b, 'bulk_insert'))} rows/s", "", "", "", ""])
        L.append(_md_table(["column", "bulk_insert(items) + flush()",
                            "n × db[k] = v + flush() (enable_async=False)",
                            "of which flush() alone (rows/s; a store may write during the sets)",
                            "n × db[k] = v + flush() (the library's defaults)",
                            "errors"], rows))
        L.append("")

    g = results.get("growth") or {}
    if g:
        L.append("## Growth (small dict values)\n")
        L.append("Per-op cost at size N is measured on samples of up to "
                 f"{results['config']['growth_sample']:,} keys in a store of N entries; "
                 "memory = growth of the process RSS per entry while building the store "
                 "(keys formatted on the fly, so a dict holds its own key objects too).\n")
        rows = []
        for sid, series in g.items():
            for s in sorted(series, key=int):
                d = series[s]
                if not d.get("ok"):
                    rows.append([sid, f"{int(s):,}", "failed", "", "", str(d.get("error"))[:80]])
                    continue
                info = d.get("info") or {}
                rows.append([sid, f"{int(s):,}", fmt_time(_op(d, "set_new")),
                             fmt_time(_op(d, "get_hot")), fmt_time(_op(d, "overwrite")),
                             f"{info.get('rss_per_entry', 0):.0f} B"])
        L.append(_md_table(["series", "entries", "set new / op", "hot get / op", "overwrite / op",
                            "RSS / entry"], rows))
        L.append("")

    L.extend(async_markdown(results.get("async") or {}, results.get("command", "")))

    if results.get("charts"):
        L.append("## Charts\n")
        for c in results["charts"]:
            L.append(f"![{c}]({c})")
        L.append("")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------ async rows
# run.py's results["async"]: {"enabled", "config", "rows": {library: worker result},
# "verdicts"}; worker.py's run_async names the operations below.

ASYNC_LIB_ORDER = ["ours", "rust", "aiosqlite", "executor/diskcache", "executor/sqlitedict"]
ASYNC_PEER_BAR = {"rust": 3.0, "aiosqlite": 5.0, "executor/diskcache": 5.0,
                  "executor/sqlitedict": 5.0}
LATENESS_BAR_S = 0.010


def _tick_op(a):
    return f"abatch_set_flush_{(a.get('config') or {}).get('tick_n', 200_000)}"


def _writers_op(a):
    return f"aset_wt_{(a.get('config') or {}).get('conc', 64)}writers"


def async_ops(a):
    """(op, label, unit) of the async rows' table, in report order; each async op is
    followed by the same library's sync idiom it is compared with."""
    conc = (a.get("config") or {}).get("conc", 64)
    tick_n = (a.get("config") or {}).get("tick_n", 200_000)
    return [
        ("aget_hot", "`await aget(k)`, hot (keys in cache)", "ops/s"),
        ("get_hot_sync", "sync `db[k]`, hot (same instance, same keys)", "ops/s"),
        ("aget_cold", "`await aget(k)`, cold (fresh instance), serial", "ops/s"),
        ("get_cold_sync", "sync `db[k]`, cold (fresh instance)", "ops/s"),
        ("aget_cold_gather", f"{conc} concurrent cold `aget`s (gather, waves of {conc})", "ops/s"),
        ("aset_wt", "`await aset(k, v)`, writethrough, 1 writer", "ops/s"),
        ("set_wt_sync", "sync `db[k] = v`, writethrough", "ops/s"),
        (_writers_op(a), f"{conc} writethrough writers (tasks awaiting aset): durable writes/s",
         "ops/s"),
        ("abatch_set_1k", "`await abatch_set(1,000 items)`, lazy", "items/s"),
        ("batch_set_1k_sync", "sync `batch_set(1,000 items)`, lazy", "items/s"),
        (_tick_op(a), f"`await abatch_set({tick_n:,} items)` + `await aflush()`", "items/s"),
        ("loop_lateness_max", "worst lateness of a 5 ms ticker during that call", "ms"),
        ("loop_lateness_idle", "worst lateness of the same ticker, idle loop (0.1 s before)", "ms"),
    ]


def async_ratios(a, lib):
    """The sync-ratio figures of one library: {name: (ratio, numerator op, denominator
    op)}; time ratios (async per-op / sync per-op) and throughput ratios."""
    row = (a.get("rows") or {}).get(lib) or {}
    if not row.get("ok"):
        return {}
    t = lambda op: _op(row, op)  # noqa: E731
    out = {}

    def ratio(name, num, den):
        x, y = t(num), t(den)
        out[name] = (x / y if x and y else None, num, den)

    ratio("hot", "aget_hot", "get_hot_sync")              # time ratio
    ratio("cold", "aget_cold", "get_cold_sync")           # time ratio
    ratio("gather", "aget_cold", "aget_cold_gather")      # throughput gather / serial
    ratio("wt", "aset_wt", "set_wt_sync")                 # time ratio
    ratio("writers", "aset_wt", _writers_op(a))            # throughput n writers / 1
    ratio("batch", "abatch_set_1k", "batch_set_1k_sync")  # time ratio
    return out


# (key, bar text, threshold, direction): issue 12 item 8, ours against its own sync idiom
ASYNC_BARS = [
    ("hot", "`await aget` hot ≤ 1.5× sync `db[k]`", 1.5, "le"),
    ("cold", "`await aget` cold ≤ 1.3× sync cold get", 1.3, "le"),
    ("gather", "64 concurrent cold `aget`s ≥ 1.5× the throughput of serial ones", 1.5, "ge"),
    ("wt", "`await aset` writethrough, 1 writer, ≤ 1.2× sync writethrough", 1.2, "le"),
    ("writers", "64 writethrough writers ≥ 10× one writer's durable writes/s", 10.0, "ge"),
    ("batch", "`abatch_set` of 1,000 (lazy) ≤ 1.2× sync `batch_set`", 1.2, "le"),
]


def async_verdicts(a):
    """Verdicts of issue 12 item 8 for ours: the sync-ratio bars, the loop-lateness bar,
    and for every async cell the peer bars (≥ 3× the Rust package, ≥ 5× aiosqlite and
    the executor peers). met is None when ours (or the peer) did not run."""
    out = []
    rows = a.get("rows") or {}
    ours = rows.get("ours") or {}
    ratios = async_ratios(a, "ours")
    for key, bar, thr, d in ASYNC_BARS:
        r, num, den = ratios.get(key, (None, None, None))
        met = None if r is None else (r <= thr if d == "le" else r >= thr)
        out.append({"bar": bar, "kind": "sync ratio", "lib": "ours", "ratio": r,
                    "numerator": num, "denominator": den,
                    "measured_s": _op(ours, num) if num else None,
                    "reference_s": _op(ours, den) if den else None,
                    "threshold": thr, "direction": d, "met": met})
    # the worst over every repeat, not the median of each repeat's worst
    lo = (ours.get("ops") or {}).get("loop_lateness_max") if ours.get("ok") else None
    late = lo["max_s"] if lo else None
    out.append({"bar": "event loop's worst lateness (5 ms ticker) during a "
                       f"{(a.get('config') or {}).get('tick_n', 200_000):,}-item "
                       "`abatch_set` + `aflush` < 10 ms", "kind": "lateness", "lib": "ours",
                "measured_s": late, "idle_s": _op(ours, "loop_lateness_idle"),
                "threshold": LATENESS_BAR_S, "direction": "lt",
                "met": None if late is None else late < LATENESS_BAR_S})
    for op, label, _ in async_ops(a):
        if op.endswith("_sync") or op.startswith("loop_lateness"):
            continue
        mine = _op(ours, op) if ours.get("ok") else None
        for peer, thr in ASYNC_PEER_BAR.items():
            p = rows.get(peer) or {}
            theirs = _op(p, op) if p.get("ok") else None
            sp = theirs / mine if mine and theirs else None
            out.append({"bar": f"≥ {thr:g}× faster than {peer}", "kind": "peer", "lib": "ours",
                        "op": op, "label": label, "peer": peer, "measured_s": mine,
                        "reference_s": theirs, "ratio": sp, "threshold": thr,
                        "direction": "ge", "met": None if sp is None else sp >= thr})
    return out


def _async_cell(row, op, unit):
    if not row.get("ok"):
        return "skipped" if row.get("skipped") else "**failed**"
    o = (row.get("ops") or {}).get(op)
    if not o:
        return "**error**" if any(k in (row.get("errors") or {}) for k in ASYNC_ROW_OF) else "–"
    if unit == "ms":
        txt = f"{o['max_s'] * 1e3:.3g} ms" if op == "loop_lateness_max" else \
            f"{o['per_op_s'] * 1e3:.3g} ms"
        return txt + (f" (median {o['per_op_s'] * 1e3:.3g})" if o["samples"] > 1 and
                      op == "loop_lateness_max" else "")
    txt = fmt_rate(o["per_op_s"])
    if o["samples"] > 1:
        txt += f" ±{o['spread'] * 50:.0f}%"
    if op in (row.get("capped") or {}):
        txt += "‡"
    return txt


ASYNC_ROW_OF = ("hot", "cold", "wt", "batch", "lateness")


def async_markdown(a, command=""):
    L = ["## Async\n"]
    if not a.get("enabled"):
        L.append("Not run: the async rows run by default once our `AsyncDictSQLite` imports; "
                 "`--async-rows` runs them for the peers without it, `--async-only` runs "
                 "nothing else.\n")
        return L
    c = a.get("config") or {}
    rows = a.get("rows") or {}
    libs = [x for x in ASYNC_LIB_ORDER if x in rows] + [x for x in rows if x not in ASYNC_LIB_ORDER]
    loops = sorted({(r.get("info") or {}).get("loop") for r in rows.values() if r.get("ok")} - {None})
    L.append(
        f"Each library runs in its own process (worker kind `async`), on "
        f"{', '.join(loops) or 'no loop'}; every row is timed side by side with the same "
        f"library's sync idiom in that process, phases in rotating order across repeats "
        f"({c.get('repeats')} repeats of ours, {c.get('peer_repeats')} of each peer; "
        f"{c.get('budget')} s per timed loop). "
        f"Small dict values, pickled. Hot: {c.get('n_hot', 0):,} keys written by the "
        f"instance. Cold: a store of {c.get('n_cold', 0):,} keys written and closed first; "
        f"each phase opens a fresh instance and reads the same {c.get('n_cold_read', 0):,} "
        "keys in random order, once each (the OS page cache warm). Writethrough writers: "
        f"{c.get('conc')} tasks each awaiting `aset` in a loop, against one. Lateness: a "
        "task sleeping 5 ms in a loop; its worst `actual - expected` wake-up. "
        "Peers: the Rust package's `AsyncDictSQLite`; aiosqlite (one connection, WAL, "
        "synchronous=NORMAL, `kv(key TEXT PRIMARY KEY, value BLOB)`, a point select and an "
        "upsert, autocommit, batches in one transaction); `loop.run_in_executor(None, ...)` "
        "over diskcache and over sqlitedict (writethrough: `autocommit=True` and each write "
        "waits for its commit). ‡: the loop stopped at its time budget. "
        f"Part wall time: {a.get('wall_s', 0):.0f} s.\n")
    if a.get("ours_label", "ours") != "ours":
        L.append(f"> Column `ours` is **{a['ours_label']}**: no number in it is about our "
                 "dictsqlite.\n")
    L.append("### Operations per second\n")
    table = []
    for op, label, unit in async_ops(a):
        table.append([label, unit] + [_async_cell(rows[x], op, unit) for x in libs])
    L.append(_md_table(["row", "unit"] + libs, table))
    L.append("")
    L.append("### Against the same library's sync idiom\n")
    L.append("Time ratios (async per-op time / sync per-op time: lower is better) and "
             "throughput ratios (higher is better).\n")
    names = [("hot", "hot `aget` / `db[k]` (time)"), ("cold", "cold `aget` / `db[k]` (time)"),
             ("gather", f"{c.get('conc', 64)} concurrent / serial cold (throughput)"),
             ("wt", "writethrough `aset` / `db[k] = v` (time)"),
             ("writers", f"{c.get('conc', 64)} writers / 1 (throughput)"),
             ("batch", "`abatch_set` / `batch_set` 1,000 (time)")]
    table = []
    for key, label in names:
        cells = []
        for x in libs:
            r = async_ratios(a, x).get(key, (None,))[0]
            cells.append(fmt_ratio(r) if r is not None else "–")
        table.append([label] + cells)
    L.append(_md_table(["ratio"] + libs, table))
    L.append("")
    L.append("### Verdicts (issue 12 item 8)\n")
    vs = a.get("verdicts") or async_verdicts(a)
    if not (rows.get("ours") or {}).get("ok"):
        why = (rows.get("ours") or {}).get("error") or "not run"
        L.append(f"Ours: not measured ({why}).\n")
    table = []
    for v in vs:
        if v["kind"] == "sync ratio":
            sym = "≤" if v["direction"] == "le" else "≥"
            table.append([v["bar"], f"{fmt_ratio(v['ratio'], v['direction'])}× (bar {sym} "
                                    f"{v['threshold']:g}×)", _verdict(v["met"])])
        elif v["kind"] == "lateness":
            m = v["measured_s"]
            txt = (f"{ceil_to(m * 1e3, 2):.2f} ms (idle loop: {fmt_time(v.get('idle_s'))})"
                   if m is not None else "–")
            table.append([v["bar"], txt, _verdict(v["met"])])
    L.append(_md_table(["bar", "ours, measured", "verdict"], table))
    L.append("")
    peers = [p for p in ASYNC_PEER_BAR if p in rows]
    if peers:
        L.append("Ours against each peer, per async row: speed-up (the peer's time per op / "
                 "ours; rounded down), bar ≥ 3× the Rust package, ≥ 5× aiosqlite and the "
                 "executor peers.\n")
        table = []
        by = {}
        for v in vs:
            if v["kind"] == "peer":
                by.setdefault(v["op"], {"label": v["label"]})[v["peer"]] = v
        for op, d in by.items():
            cells = []
            for p in peers:
                v = d.get(p)
                if not v or v["ratio"] is None:
                    cells.append("not measured")
                else:
                    cells.append(f"{fmt_ratio(v['ratio'], 'ge')}× {_verdict(v['met'])}")
            table.append([d["label"]] + cells)
        L.append(_md_table(["row"] + [f"vs {p} (≥ {ASYNC_PEER_BAR[p]:g}×)" for p in peers],
                           table))
        L.append("")
    extra = []
    for x in libs:
        r = rows[x]
        if not r.get("ok"):
            extra.append(f"- {x}: {'skipped' if r.get('skipped') else 'FAILED'}: "
                         f"{str(r.get('error'))[:300]}")
            continue
        info = r.get("info") or {}
        bits = [f"version {info.get('version')}"] + list(info.get("notes") or [])
        for k, e in (r.get("errors") or {}).items():
            bits.append(f"error in {k}: {e[:200]}")
        extra.append(f"- {x}: " + "; ".join(bits))
    if extra:
        L.append("\n".join(extra))
        L.append("")
    return L
