"""Issue 11, defect 8: lazy pending writes are bounded by bytes, not only
by count (20,000 new 64 KiB values with hot_capacity=1000 once peaked at
1.3 GB resident). Measured in a subprocess: peak RSS against the bytes
written."""
import pytest

from conftest import run_python

SCRIPT = r"""
import os, resource, sys
from dictsqlite import DictSQLiteV4
path, limit = sys.argv[1], int(sys.argv[2])
kw = {"max_pending_bytes": limit} if limit else {}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
db = DictSQLiteV4(path, persist_mode="lazy", hot_capacity=100, enable_async=False, **kw)
n = 6000
for i in range(n):
    db[f"k{i}"] = os.urandom(64 * 1024)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
db.close()
print(peak // 1024, n * 64 // 1024)
"""


@pytest.mark.parametrize("limit_mib", [0, 8])
def test_lazy_pending_writes_are_bounded_by_bytes(tmp_path, limit_mib):
    proc = run_python(SCRIPT, tmp_path / "p.db", limit_mib << 20, timeout=300)
    peak_mib, written_mib = map(int, proc.stdout.split())
    print(f"limit {limit_mib or 64} MiB: peak RSS +{peak_mib} MiB for {written_mib} MiB written")
    # warm tier (100 MiB) + SQLite's page cache (64 MiB) + pending bytes +
    # slack; without the byte bound it grows with the data (375 MiB here)
    assert peak_mib < 300
