"""LIVE: fresh files made by the Rust dictsqlite 2.x package during the test
run, migrated and compared value by value. Needs DICTSQLITE_RUST_PYTHON: a
Python with that package installed (CI: .venv-rust/bin/python)."""
import os
import pickle
import subprocess
import textwrap

import pytest

from dictsqlite import DictSQLiteV4
from dictsqlite.migrate import migrate

RUST_PYTHON = os.environ.get("DICTSQLITE_RUST_PYTHON")
pytestmark = pytest.mark.skipif(
    not RUST_PYTHON or not os.access(RUST_PYTHON, os.X_OK),
    reason="DICTSQLITE_RUST_PYTHON is not set to a Python with the Rust dictsqlite 2.x "
           "package (pip install dictsqlite==2.1.3 into a separate venv)")

MAKE = textwrap.dedent('''
    import pickle, sys
    from dictsqlite import DictSQLiteV4
    path, mode, table_mode, password, out = sys.argv[1:6]
    password = password or None
    values = {"s": "text", "i": 7, "f": 2.5, "l": [1, "a", None], "d": {"k": [True]}}
    if mode == "bytes":
        values = {"a": b"\\x00\\xff", "b": b"plain bytes", "c": bytes(range(40))}
    if mode == "pickle":
        values.update(t=(1, 2), st={3, 4}, b=b"\\x01\\x02")
    db = DictSQLiteV4(path, storage_mode=mode, table_mode=table_mode,
                      encryption_password=password)
    for k, v in values.items():
        db[k] = v
    users = db.table("users")
    for k, v in values.items():
        users["u_" + k] = v
    db.close()
    db = DictSQLiteV4(path, storage_mode=mode, table_mode=table_mode,
                      encryption_password=password)
    got = {"main": {k: db[k] for k in values},
           "users": {"u_" + k: db.table("users")["u_" + k] for k in values}}
    db.close()
    with open(out, "wb") as f:
        pickle.dump(got, f, protocol=4)
''')


def make_rust_file(tmp_path, mode, table_mode="prefix", password=""):
    path, out = tmp_path / "rust.db", tmp_path / "expected.pickle"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not our package
    subprocess.run([RUST_PYTHON, "-c", MAKE, str(path), mode, table_mode, password, str(out)],
                   check=True, env=env, timeout=120, capture_output=True)
    with open(out, "rb") as f:
        return str(path), pickle.load(f)


@pytest.mark.parametrize("mode", ["pickle", "json", "jsonb", "bytes"])
@pytest.mark.parametrize("table_mode", ["prefix", "separate"])
def test_a_fresh_rust_file_migrates_value_for_value(tmp_path, mode, table_mode):
    src, expected = make_rust_file(tmp_path, mode, table_mode)
    dst = str(tmp_path / "new.db")
    report = migrate(src, dst)
    assert report["tables"] == {"main": len(expected["main"]), "users": len(expected["users"])}
    assert set(report["storage_modes"].values()) == {mode}
    with DictSQLiteV4(dst) as db:
        for table, items in expected.items():
            assert dict(db.table(table).items()) == items


def test_a_fresh_encrypted_rust_file_migrates_with_its_password(tmp_path):
    src, expected = make_rust_file(tmp_path, "pickle", password="live pw")
    dst = str(tmp_path / "new.db")
    report = migrate(src, dst, password="live pw", dst_password="new pw")
    assert report["source_encrypted"] and report["encrypted"]
    with DictSQLiteV4(dst, encryption_password="new pw") as db:
        for table, items in expected.items():
            assert dict(db.table(table).items()) == items
