"""Two DictSQLiteV4 objects on one file see each other's committed writes,
including keys the reader had already read and cached."""
import pytest

from dictsqlite import DictSQLiteV4

from conftest import run_python


@pytest.mark.parametrize("reader_mode", ["lazy", "writethrough"])
def test_writethrough_writes_are_seen_at_once(db_path, reader_mode):
    writer = DictSQLiteV4(db_path)
    reader = DictSQLiteV4(db_path, persist_mode=reader_mode)
    try:
        writer["k"] = "v1"
        assert reader["k"] == "v1"          # now cached in the reader's hot tier
        writer["k"] = "v2"
        assert reader["k"] == "v2"          # not the cached v1
        writer["new"] = 1
        assert "new" in reader and len(reader) == 2
        del writer["k"]
        assert "k" not in reader
        with pytest.raises(KeyError):
            reader["k"]
        assert len(reader) == 1
        assert reader.keys() == ["new"]
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("reader_mode", ["lazy", "writethrough"])
def test_lazy_writes_are_seen_after_flush(db_path, reader_mode):
    writer = DictSQLiteV4(db_path, persist_mode="lazy", enable_async=False)
    reader = DictSQLiteV4(db_path, persist_mode=reader_mode)
    try:
        writer["k"] = "v1"
        writer.flush()
        assert reader["k"] == "v1"
        writer["k"] = "v2"
        assert reader["k"] == "v1"          # not committed yet
        writer.flush()
        assert reader["k"] == "v2"
    finally:
        writer.close()
        reader.close()


def test_both_instances_write_and_neither_loses_anything(db_path):
    a = DictSQLiteV4(db_path, persist_mode="lazy", enable_async=False)
    b = DictSQLiteV4(db_path, persist_mode="lazy", enable_async=False)
    try:
        a["from_a"] = 1
        a["shared"] = "a"
        a.flush()
        b["from_b"] = 2     # pending in b when b notices a's commit
        assert b["shared"] == "a"
        b["shared"] = "b"
        b.flush()
        assert a["shared"] == "b" and a["from_b"] == 2
        assert len(a) == len(b) == 3
        assert a.keys() == b.keys() == ["from_a", "from_b", "shared"]
    finally:
        a.close()
        b.close()


def test_tables_and_clear_are_seen_by_the_other_instance(db_path):
    a = DictSQLiteV4(db_path)
    b = DictSQLiteV4(db_path)
    try:
        a.table("t").update({"x": 1, "y": 2})
        tb = b.table("t")
        assert tb["x"] == 1 and len(tb) == 2
        a.table("t").clear()
        assert len(tb) == 0 and "x" not in tb
        assert b.tables() == []
    finally:
        a.close()
        b.close()


def test_a_write_from_another_process_is_seen(db_path):
    db = DictSQLiteV4(db_path)
    try:
        db["k"] = "mine"
        assert db["k"] == "mine"
        run_python("""
            import sys
            from dictsqlite import DictSQLiteV4
            with DictSQLiteV4(sys.argv[1]) as other:
                other["k"] = "theirs"
                other["extra"] = 1
        """, db_path)
        assert db["k"] == "theirs"
        assert len(db) == 2
    finally:
        db.close()
