"""dictsqlite.dbm (issue 13, part 5): the dbm interface over our engine, and
shelve.Shelf on top of it, on real files; flags r/w/c/n, mode, bytes keys
mapped reversibly, a table of its own, errors as dbm.error, threads."""
import dbm as std_dbm
import os
import shelve
import sqlite3
import stat
import threading

import pytest

import dictsqlite
import dictsqlite.dbm as ddbm
from conftest import integrity_ok, run_python

ALL_BYTES = [bytes([i]) for i in range(256)] + [b"", b"\x00\xff", bytes(range(256)),
                                               "é".encode(), b"a:b"]


def files_in(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


# ---- open and the flags ------------------------------------------------------

def test_error_is_an_oserror_that_the_standard_dbm_error_catches():
    assert issubclass(ddbm.error, OSError)
    assert issubclass(ddbm.error, std_dbm.error)  # dbm.error is (dbm.error, OSError)


def test_r_on_a_missing_file_raises_dbm_error_and_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    for flag in ("r", "w", "rf", "w"):
        with pytest.raises(ddbm.error) as info:
            ddbm.open(path, flag)
        assert info.value.errno == 2 and str(path) in str(info.value)
    with pytest.raises(std_dbm.error):
        ddbm.open(path)  # flag 'r' is the default
    assert files_in(tmp_path) == []


def test_c_creates_and_reopens_with_every_flag(tmp_path):
    path = str(tmp_path / "a.db")
    with ddbm.open(path, "c") as db:
        db[b"k"] = b"v"
    for flag in ("r", "w", "c"):
        with ddbm.open(path, flag) as db:
            assert db[b"k"] == b"v"
            assert list(db.keys()) == [b"k"]
    assert integrity_ok(path)


def test_n_always_starts_empty(tmp_path):
    path = str(tmp_path / "a.db")
    with ddbm.open(path, "c") as db:
        db[b"k"] = b"v"
    with ddbm.open(path, "n") as db:
        assert len(db) == 0
        db[b"new"] = b"1"
    with ddbm.open(path, "r") as db:
        assert dict(db.items()) == {b"new": b"1"}


def test_w_writes_and_r_refuses_writes_with_dbm_error(tmp_path):
    path = str(tmp_path / "a.db")
    ddbm.open(path, "c").close()
    with ddbm.open(path, "w") as db:
        db[b"k"] = b"v"
    with ddbm.open(path, "r") as db:
        with pytest.raises(ddbm.error):
            db[b"k"] = b"other"
        with pytest.raises(ddbm.error):
            del db[b"k"]
        assert db[b"k"] == b"v"


@pytest.mark.parametrize("flag", ["x", "", "rw", "cc", "cf5", None, 1])
def test_a_bad_flag_is_a_value_error_naming_it(tmp_path, flag):
    with pytest.raises(ValueError, match="flag must be"):
        ddbm.open(tmp_path / "a.db", flag)
    assert files_in(tmp_path) == []


def test_mode_is_used_when_creating(tmp_path):
    old = os.umask(0o022)
    try:
        for flag, name in (("c", "c.db"), ("n", "n.db")):
            ddbm.open(tmp_path / name, flag, 0o640).close()
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640
        ddbm.open(tmp_path / "d.db", "c").close()  # 0o666 less the umask
        assert stat.S_IMODE(os.stat(tmp_path / "d.db").st_mode) == 0o644
    finally:
        os.umask(old)


def test_a_file_that_is_not_ours_raises_dbm_error_and_is_left_alone(tmp_path):
    path = tmp_path / "text.db"
    path.write_bytes(b"not a database at all, just text" * 10)
    before = path.read_bytes()
    for flag in ("r", "w", "c"):
        with pytest.raises(ddbm.error, match="cannot open"):
            ddbm.open(path, flag)
    assert path.read_bytes() == before


def test_paths_may_be_pathlike_or_bytes(tmp_path):
    with ddbm.open(os.fsencode(tmp_path / "b.db"), "c") as db:
        db["k"] = "v"
    with ddbm.open(tmp_path / "b.db") as db:
        assert db[b"k"] == b"v"


# ---- keys and values ----------------------------------------------------------

def test_every_byte_string_round_trips_as_a_key(tmp_path):
    path = str(tmp_path / "a.db")
    with ddbm.open(path, "c") as db:
        for i, k in enumerate(ALL_BYTES):
            db[k] = b"%d" % i
    with ddbm.open(path, "r") as db:
        assert len(db) == len(ALL_BYTES)
        assert sorted(db.keys()) == sorted(ALL_BYTES)
        assert sorted(db) == sorted(ALL_BYTES)
        for i, k in enumerate(ALL_BYTES):
            assert db[k] == b"%d" % i
            assert k in db


def test_str_keys_and_values_are_utf8_encoded(tmp_path):
    with ddbm.open(tmp_path / "a.db", "c") as db:
        db["clé"] = "été"
        assert db["clé".encode()] == "été".encode()
        assert "clé" in db and "clé".encode() in db
        db[bytearray(b"ba")] = memoryview(b"mv")
        assert db[b"ba"] == b"mv" and type(db[b"ba"]) is bytes


@pytest.mark.parametrize("bad", [1, None, 1.5, ["k"]])
def test_other_key_and_value_types_are_type_errors(tmp_path, bad):
    with ddbm.open(tmp_path / "a.db", "c") as db:
        with pytest.raises(TypeError, match="keys must be bytes or str"):
            db[bad] = b"v"
        with pytest.raises(TypeError, match="values must be bytes or str"):
            db[b"k"] = bad
        assert len(db) == 0


def test_mapping_methods(tmp_path):
    with ddbm.open(tmp_path / "a.db", "c") as db:
        assert db.get(b"x") is None and db.get(b"x", b"d") == b"d"
        assert db.setdefault(b"x", b"first") == b"first"
        assert db.setdefault(b"x", b"second") == b"first"
        assert db.setdefault(b"x") == b"first"  # present: the default is not stored
        with pytest.raises(TypeError):
            db.setdefault(b"y")  # missing, and None is not a value
        with pytest.raises(KeyError) as info:
            db[b"nope"]
        assert info.value.args == (b"nope",)
        with pytest.raises(KeyError):
            del db[b"nope"]
        db.update({b"a": b"1"}, b=b"2")
        db.update([(b"c", b"3")])
        assert dict(db.items()) == {b"x": b"first", b"a": b"1", b"b": b"2", b"c": b"3"}
        assert db.pop(b"a") == b"1" and b"a" not in db
        del db[b"b"]
        assert len(db) == 2
        db.clear()
        assert len(db) == 0 and list(db) == []


def test_a_bad_item_in_update_stores_nothing(tmp_path):
    with ddbm.open(tmp_path / "a.db", "c") as db:
        with pytest.raises(TypeError):
            db.update([(b"a", b"1"), (b"b", 2)])
        with pytest.raises(ValueError, match="element #1"):
            db.update([(b"a", b"1"), b"abc"])
        assert len(db) == 0


def test_dbm_keys_live_in_their_own_table(tmp_path):
    path = str(tmp_path / "a.db")
    with dictsqlite.DictSQLiteV4(path) as d:
        d["main-key"] = {"x": 1}
    with ddbm.open(path, "w") as db:
        assert len(db) == 0
        db[b"dbm-key"] = b"v"
    with dictsqlite.DictSQLiteV4(path) as d:
        assert list(d.keys()) == ["main-key"]
        assert d.table("dbm")["dbm-key"] == b"v"
        assert sorted(d.tables()) == ["dbm", "main"]


def test_a_foreign_pickle_in_the_dbm_table_is_never_unpickled(tmp_path):
    # Another program stores a pickle in table "dbm"; reading it through dbm
    # must not run its code (the restricted unpickler refuses it) and must
    # not hand back anything but bytes.
    path = str(tmp_path / "a.db")
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with dictsqlite.DictSQLiteV4(path, table_name="dbm") as d:
        d["evil"] = Evil()
        d["list"] = [1, 2]
    with ddbm.open(path, "r") as db:
        with pytest.raises(ddbm.error, match="evil"):
            db[b"evil"]
        with pytest.raises(ddbm.error, match="not bytes"):
            db[b"list"]
    assert not marker.exists()


# ---- closed objects -------------------------------------------------------------

def test_a_closed_object_raises_dbm_error(tmp_path):
    db = ddbm.open(tmp_path / "a.db", "c")
    db[b"k"] = b"v"
    db.close()
    db.close()  # twice is fine
    for call in (lambda: db[b"k"], lambda: db.__setitem__(b"k", b"v"), lambda: len(db),
                 lambda: db.keys(), lambda: iter(db), lambda: b"k" in db, lambda: db.get(b"k"),
                 lambda: db.sync(), lambda: db.__delitem__(b"k"), lambda: db.setdefault(b"k", b"v"),
                 lambda: db.__enter__()):
        with pytest.raises(ddbm.error, match="closed"):
            call()
    assert "closed" in repr(db)


# ---- persistence: writethrough by default, "f" buffers --------------------------

def test_writes_survive_a_kill_without_close(tmp_path):
    path = str(tmp_path / "a.db")
    run_python("""
        import os, sys
        import dictsqlite.dbm as ddbm
        db = ddbm.open(sys.argv[1], "c")
        db[b"k"] = b"v"
        db.update({b"a": b"1", b"b": b"2"})
        os._exit(0)   # no close, no atexit
    """, path)
    with ddbm.open(path) as db:
        assert dict(db.items()) == {b"k": b"v", b"a": b"1", b"b": b"2"}


def test_fast_flag_buffers_until_sync(tmp_path):
    path = str(tmp_path / "a.db")
    run_python("""
        import os, sys
        import dictsqlite.dbm as ddbm
        db = ddbm.open(sys.argv[1], "cf")
        db[b"synced"] = b"1"
        db.sync()
        db[b"unsynced"] = b"2"
        os._exit(0)   # before the background flusher's first round (1 s)
    """, path)
    with ddbm.open(path) as db:
        assert db.keys() == [b"synced"]


# ---- threads ------------------------------------------------------------------

def test_one_object_used_by_many_threads(tmp_path):
    path = str(tmp_path / "a.db")
    db = ddbm.open(path, "c")
    errors = []

    def work(t):
        try:
            for i in range(200):
                k = b"t%d-%d" % (t, i)
                db[k] = k * 2
                assert db[k] == k * 2
                if i % 3 == 0:
                    del db[k]
                if i % 50 == 0:
                    assert len(db) >= 0 and isinstance(db.keys(), list)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    expected = {b"t%d-%d" % (t, i): b"t%d-%d" % (t, i) * 2
                for t in range(8) for i in range(200) if i % 3}
    assert dict(db.items()) == expected
    db.close()
    assert integrity_ok(path)


def test_close_racing_other_threads_raises_only_dbm_error(tmp_path):
    db = ddbm.open(tmp_path / "a.db", "cf")
    unexpected = []
    stop = threading.Event()

    def work(t):
        i = 0
        while not stop.is_set():
            try:
                db[b"%d-%d" % (t, i)] = b"v"
                db.get(b"%d-%d" % (t, i))
                len(db)
            except ddbm.error:
                return
            except Exception as exc:  # pragma: no cover
                unexpected.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    threading.Event().wait(0.2)
    db.close()
    stop.set()
    for th in threads:
        th.join()
    assert unexpected == []


# ---- shelve -------------------------------------------------------------------

VALUES = {"dict": {"name": "Alice", "tags": ["a", "b"]}, "int": 7, "none": None,
          "bytes": b"\x00\xff", "nested": [(1, 2), {3}], "clé": "été"}


def test_shelf_end_to_end_with_every_flag(tmp_path):
    path = str(tmp_path / "shelf.db")
    with shelve.Shelf(ddbm.open(path, "c")) as shelf:
        shelf.update(VALUES)
        assert dict(shelf) == VALUES
    with shelve.Shelf(ddbm.open(path, "r")) as shelf:
        assert dict(shelf) == VALUES
        assert "int" in shelf and shelf.get("missing") is None and len(shelf) == len(VALUES)
        with pytest.raises(ddbm.error):
            shelf["int"] = 8
    with shelve.Shelf(ddbm.open(path, "w")) as shelf:
        shelf["int"] = 8
        del shelf["none"]
    with shelve.Shelf(ddbm.open(path, "c")) as shelf:
        assert shelf["int"] == 8 and "none" not in shelf
    with shelve.Shelf(ddbm.open(path, "n")) as shelf:
        assert len(shelf) == 0
        shelf["fresh"] = [1]
    with shelve.Shelf(ddbm.open(path, "r")) as shelf:
        assert dict(shelf) == {"fresh": [1]}
    assert integrity_ok(path)


def test_shelf_with_writeback_and_fast_flag_commits_at_close(tmp_path):
    path = str(tmp_path / "shelf.db")
    shelf = shelve.Shelf(ddbm.open(path, "cf"), writeback=True)
    shelf["list"] = []
    shelf["list"].append(1)  # writeback: stored at sync()/close()
    shelf.close()
    with shelve.Shelf(ddbm.open(path, "r")) as shelf:
        assert shelf["list"] == [1]


def test_shelf_reopened_in_another_process(tmp_path):
    path = str(tmp_path / "shelf.db")
    run_python("""
        import shelve, sys
        import dictsqlite.dbm as ddbm
        with shelve.Shelf(ddbm.open(sys.argv[1], "c")) as s:
            s["user:alice"] = {"name": "Alice", "age": 30}
    """, path)
    with shelve.Shelf(ddbm.open(path)) as shelf:
        assert shelf["user:alice"] == {"name": "Alice", "age": 30}
    # the shelf keys are the dbm table's keys, readable as they are
    with dictsqlite.DictSQLiteV4(path, table_name="dbm", read_only=True) as d:
        assert list(d.keys()) == ["user:alice"]


def test_shelve_open_cannot_pick_it(tmp_path):
    # shelve.open() chooses among the standard library's dbm modules: a file
    # of ours is not one it recognizes, so it is refused, never misread.
    path = str(tmp_path / "shelf.db")
    with shelve.Shelf(ddbm.open(path, "c")) as shelf:
        shelf["k"] = 1
    with pytest.raises(Exception):
        with shelve.open(path, "r") as s:
            s["k"]
    # and the file is still ours, untouched
    with shelve.Shelf(ddbm.open(path)) as shelf:
        assert shelf["k"] == 1


def test_the_file_is_a_dictsqlite_file_not_a_dbm_sqlite3_file(tmp_path):
    path = str(tmp_path / "a.db")
    with ddbm.open(path, "c") as db:
        db[b"k"] = b"v"
    con = sqlite3.connect(path)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    assert "kv" in names and "Dict" not in names
