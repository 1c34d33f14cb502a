"""The benchmark harness works (its quick mode); it never asserts timings."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
PAIRED_C_COLUMNS = ("ours/lazy", "ours/writethrough")  # run.py runs the C limits after these
KINDS = ("b32", "small", "1k", "64k")

pytestmark = pytest.mark.skipif(not RUN.exists(), reason="needs the source tree")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run shared by the tests below (it takes about 25 s)."""
    out = tmp_path_factory.mktemp("bench-quick")
    r = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(RUN.parent))
    try:
        import report as mod
    finally:
        sys.path.remove(str(RUN.parent))
    return mod


def _references(results, report, bar_prefix):
    return [v["reference"] for v in report.verdicts(results) if v["bar"].startswith(bar_prefix)]


def test_benchmark_quick_mode_produces_json_markdown_and_verdicts(quick):
    out, res = quick
    assert res["config"]["mode"] == "quick" and res["harness_failures"] == []
    for kind in KINDS:
        assert res["cells"]["dict+pickle"][kind]["ok"]
        assert res["cells"]["sqlite3+pickle/autocommit"][kind]["ok"]
        assert res["limits"]["by_kind"][kind]["ops"]["bulk_insert"]["per_op_s"] > 0
        assert res["cells"]["ours/memory"][kind]["ok"], res["notes"]
    md = (out / "RESULTS.md").read_text()
    for heading in ("## Machine", "## Versions", "## Verdicts", "## Limits and floors",
                    "## Matrix"):
        assert heading in md


def test_c_limits_are_paired_with_our_cells_and_used_by_the_verdicts(quick, report):
    _, res = quick
    for col in PAIRED_C_COLUMNS:
        for kind in KINDS:
            cell = res["cells"][col][kind]
            assert cell["ok"], res["notes"]
            assert cell["c_limits"]["ops"]["autocommit_insert"]["per_op_s"] > 0
            assert cell["c_limits"]["ops"]["point_select_cold"]["per_op_s"] > 0
    assert res["bulk"]["ours/lazy"]["c_bulk"]["ops"]["bulk_insert"]["per_op_s"] > 0

    writethrough = _references(res, report, "db[k] = v, writethrough")
    cold = _references(res, report, "cold db[k]")
    bulk = _references(res, report, "lazy flush / bulk load")
    assert len(writethrough) == 8 and len(cold) == 8 and len(bulk) == 3
    assert all(ref.endswith(report.AFTER_CELL) for ref in writethrough), writethrough
    assert all(report.AFTER_CELL in ref and report.SAME_PROCESS in ref for ref in cold), cold
    assert all(ref.endswith(report.AFTER_BULK) for ref in bulk), bulk
    v = next(v for v in report.verdicts(res) if v["cell"] == "ours/writethrough 1k set_new")
    paired = res["cells"]["ours/writethrough"]["1k"]["c_limits"]["ops"]["autocommit_insert"]
    assert v["reference_s"] == paired["per_op_s"]


def test_jsonb_bar_uses_the_paired_msgpack_floor_when_msgpack_was_paired(quick, report):
    _, res = quick
    paired = res["cells"]["ours/memory/jsonb"]["small"]["info"]["paired_msgpack"]
    ref = next(v["reference"] for v in report.verdicts(res)
               if v["cell"].startswith("ours/memory/jsonb small get_hot"))
    # CI may have no .peers/py venv: then the floors process's figure, unmarked
    assert ref.endswith(report.SAME_PROCESS) == paired["paired"], (ref, paired)


def test_verdicts_fall_back_to_run_start_c_limits_for_older_results(quick, report):
    _, res = quick
    old = copy.deepcopy(res)
    for col in PAIRED_C_COLUMNS:
        for cell in old["cells"][col].values():
            cell.pop("c_limits", None)
    old["bulk"]["ours/lazy"].pop("c_bulk", None)
    refs = _references(old, report, "db[k] = v, writethrough") + \
        _references(old, report, "cold db[k]") + _references(old, report, "lazy flush")
    assert refs and not any(report.AFTER_CELL in r or report.AFTER_BULK in r for r in refs)
    v = next(v for v in report.verdicts(old) if v["cell"] == "ours/writethrough 1k set_new")
    assert v["reference_s"] == old["limits"]["by_kind"]["1k"]["ops"]["autocommit_insert"]["per_op_s"]
    assert "## Verdicts" in report.markdown(old)


def test_growth_verdicts_quote_the_change_of_both_dict_references(quick, report):
    """The sweep runs the bare dict (d[k] = v, d[k]) beside dict+pickle, and each
    growth verdict quotes how much both changed between the same two sizes."""
    _, res = quick
    for sid in ("dict", "dict+pickle"):
        points = res["growth"][sid]
        assert points and all(p["ok"] for p in points.values()), points
        for p in points.values():
            assert all(p["ops"][op]["per_op_s"] > 0 for op in ("get_hot", "set_new", "overwrite"))
    growth = [v for v in report.verdicts(res) if v["bar"].startswith("growth: per-op")]
    assert len(growth) == 6
    for v in growth:
        assert "; for comparison dict+pickle: " in v["detail"], v["detail"]
        assert "; for comparison dict: " in v["detail"], v["detail"]
