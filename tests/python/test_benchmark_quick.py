"""The benchmark harness works (its quick mode); it never asserts timings."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="needs the source tree")
def test_benchmark_quick_mode_produces_json_markdown_and_verdicts(tmp_path):
    r = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["config"]["mode"] == "quick" and res["harness_failures"] == []
    for kind in ("b32", "small", "1k", "64k"):
        assert res["cells"]["dict+pickle"][kind]["ok"]
        assert res["cells"]["sqlite3+pickle/autocommit"][kind]["ok"]
        assert res["limits"]["by_kind"][kind]["ops"]["bulk_insert"]["per_op_s"] > 0
        assert res["cells"]["ours/memory"][kind]["ok"], res["notes"]
    md = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## Machine", "## Versions", "## Verdicts", "## Limits and floors",
                    "## Matrix"):
        assert heading in md
