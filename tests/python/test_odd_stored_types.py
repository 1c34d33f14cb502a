"""Issue 11, defect 8: walks over keys and tables make progress whatever type
a damaged or hand-edited file stores in the tbl and key columns (tables()
once never returned for a tbl stored as a BLOB)."""
import sqlite3

import pytest

from conftest import run_python

SCRIPT = r"""
import sys
from dictsqlite import DictSQLiteV4
db = DictSQLiteV4(sys.argv[1], persist_mode="lazy")
print(sorted(db.tables()))
print(len(list(iter(db))), len(db.keys()), len(db.items()))
t2 = db.table("t2")
print(sorted(t2.keys())[:3])
db.close()
"""


# Only a BLOB can differ: tbl and key have TEXT affinity, which stores a
# number given to them as TEXT.
@pytest.mark.parametrize("cast", ["BLOB"])
def test_walks_end_on_tbl_and_key_of_other_types(tmp_path, cast):
    path = str(tmp_path / "odd.db")
    from dictsqlite import DictSQLiteV4
    with DictSQLiteV4(path) as db:
        db.update({f"k{i:04}": i for i in range(600)})  # more than two scan pages
        t2 = db.table("t2")
        t2.update({f"x{i}": i for i in range(5)})
        db.table("t3")["y"] = 1
    con = sqlite3.connect(path)
    value = "'t2'" if cast == "BLOB" else "'42'"
    con.execute(f"UPDATE kv SET tbl = CAST({value} AS {cast}) WHERE tbl='t2' AND key='x0'")
    for key in ("k0300", "k0599"):
        new = f"'{key}'" if cast == "BLOB" else f"'{key[1:]}'"
        con.execute(f"UPDATE kv SET key = CAST({new} AS {cast}) WHERE tbl='main' AND key='{key}'")
    con.commit()
    con.close()
    proc = run_python(SCRIPT, path, timeout=60)
    tables, counts, t2keys = proc.stdout.strip().splitlines()
    assert tables == "['main', 't2', 't3']"
    assert counts == "598 598 598"  # the two odd keys cannot be reached
    assert t2keys == "['x1', 'x2', 'x3']"
