"""The sync API as a program would use it: mypy --strict must accept it, and
assert_type pins what the stubs say each call returns. scripts/typecheck.sh
also runs it, so what type-checks here also works."""
import os
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, assert_type

import dictsqlite
from dictsqlite import (
    CorruptValueError,
    DatabaseClosedError,
    DatabaseLockedError,
    DictSQLite,
    DictSQLiteV4,
    Modes,
    ReadOnlyError,
    TableProxy,
)


def count(mapping: MutableMapping[str, Any]) -> int:
    """Our classes pass where a MutableMapping is expected."""
    return len(mapping)


def main(workdir: str) -> None:
    path = os.path.join(workdir, "ok.db")
    db = DictSQLiteV4(path)
    assert_type(db, DictSQLiteV4)
    db["user:alice"] = {"name": "Alice"}
    assert_type(db["user:alice"], Any)
    db.set("n", 1)
    assert_type(db.get("n"), Any)
    assert db.get("missing", 0) == 0
    assert_type(db.contains("n"), bool)
    assert "n" in db
    assert_type(len(db), int)
    assert_type(db.keys(), list[str])
    assert_type(db.values(), list[Any])
    assert_type(db.items(), list[tuple[str, Any]])
    assert_type(iter(db), Iterator[str])
    for key in db:
        assert_type(key, str)
    db.update({"a": 1}, b=2)
    db.update([("c", 3)])
    db.bulk_insert({"d": 4})
    db.batch_set([("e", 5)])
    assert_type(db.batch_get(["a", "zz"]), dict[str, Any])
    assert db.pop("e") == 5
    assert db.pop("e", None) is None
    assert_type(db.setdefault("f", 6), Any)
    assert_type(db.popitem(), tuple[str, Any])
    db.delete("f")
    del db["d"]
    assert count(db) == len(db)
    assert db == dict(db.items())

    users = db.table("users")
    assert_type(users, TableProxy)
    users["bob"] = 1
    assert_type(users.name, str)
    assert_type(users.parent, DictSQLiteV4)
    assert count(users) == 1
    assert_type(db.tables(), list[str])
    assert_type(db.stats(), dict[str, Any])
    assert_type(db.path, str)
    assert_type(db.table_name, str)
    db.flush()
    db.clear()
    db.close()
    assert_type(db.closed, bool)

    # every option, by keyword, with the modes as Modes constants or literals
    with DictSQLiteV4(
        Path(workdir) / "options.db",
        hot_capacity=1000,
        enable_async=False,
        persist_mode=Modes.LAZY,
        storage_mode="json",
        table_name="t",
        encryption_password=b"secret",
        enable_safe_pickle=True,
        safe_pickle_allowed_modules=["myapp"],
        buffer_size=10,
        encoding="utf-8",
        table_mode=Modes.TABLE_SEPARATE,
        pool_size=2,
        flush_interval_ms=50,
        synchronous="full",
        timeout=0.5,
        max_pending_bytes=1 << 20,
    ) as opened:
        assert_type(opened, DictSQLiteV4)
        opened["x"] = [1, 2]
    with DictSQLite(":memory:", persist_mode="memory", storage_mode=Modes.BYTES) as mem:
        mem["raw"] = b"\x00"
    with DictSQLiteV4(os.path.join(workdir, "ok.db"), read_only=True) as ro:
        try:
            ro["x"] = 1
        except ReadOnlyError as exc:
            assert_type(exc, ReadOnlyError)
        else:
            raise AssertionError("read_only=True took a write")
    try:
        db["x"]
    except DatabaseClosedError:
        pass
    else:
        raise AssertionError("a closed database answered")
    errors: tuple[type[Exception], ...] = (CorruptValueError, DatabaseLockedError)
    assert issubclass(errors[0], ValueError) and issubclass(errors[1], OSError)
    assert_type(dictsqlite.sqlite_version(), str)
    assert_type(dictsqlite.is_native_available(), bool)
    assert_type(dictsqlite.__version__, str)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
    print("ok_sync: ok")
