"""Values round-trip in every storage mode, and every value records its
codec so a file reopened in another mode still reads everything."""
import pickle

import pytest

from dictsqlite import DictSQLiteV4

AWKWARD_PICKLE_VALUES = {
    "empty_dict": {},
    "empty_list": [],
    "empty_str": "",
    "empty_bytes": b"",
    "empty_tuple": (),
    "deep": [[[[[[[[[[{"x": [1]}]]]]]]]]]],
    "unicode": "naïve – 日本語 – emoji 🎉👍🏽",
    "nul": "a\x00b",
    "all_bytes": bytes(range(256)),
    "big_int": 2**200,
    "neg_big_int": -(2**100),
    "float": 0.1,
    "neg_zero": -0.0,
    "inf": float("inf"),
    "set": {1, 2, 3},
    "frozenset": frozenset({"a"}),
    "complex": 1 + 2j,
    "none": None,
    "bool": False,
    "bytearray": bytearray(b"ba"),
    "nested_tuple": (1, ("a", (b"b", None))),
}


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_pickle_mode_round_trips_awkward_values(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        db.update(AWKWARD_PICKLE_VALUES)
        for k, v in AWKWARD_PICKLE_VALUES.items():
            assert db[k] == v and type(db[k]) is type(v), k
    if mode != "memory":
        with DictSQLiteV4(db_path, persist_mode=mode) as db:
            for k, v in AWKWARD_PICKLE_VALUES.items():
                assert db[k] == v and type(db[k]) is type(v), k


def test_bytes_mode_round_trips_every_byte_and_buffer_types(db_path):
    with DictSQLiteV4(db_path, storage_mode="bytes") as db:
        db["all"] = bytes(range(256))
        db["empty"] = b""
        db["nul"] = b"\x00" * 10
        db["ba"] = bytearray(b"xyz")
        db["mv"] = memoryview(b"abcdef")[1:4]
        db["pickle_like"] = pickle.dumps([1])
    with DictSQLiteV4(db_path, storage_mode="bytes") as db:
        assert db["all"] == bytes(range(256))
        assert db["empty"] == b""
        assert db["nul"] == b"\x00" * 10
        assert db["ba"] == b"xyz" and type(db["ba"]) is bytes
        assert db["mv"] == b"bcd"
        assert db["pickle_like"] == pickle.dumps([1])


def test_bytes_mode_rejects_str_with_advice_and_stores_nothing(open_db):
    db = open_db(storage_mode="bytes")
    db["k"] = b"old"
    with pytest.raises(TypeError, match="got str: encode it"):
        db["k"] = "text"
    with pytest.raises(TypeError, match="bytes-like"):
        db["k"] = 12
    assert db["k"] == b"old"
    assert len(db) == 1


@pytest.mark.parametrize("size", [1 << 20, 50 << 20])
@pytest.mark.parametrize("storage", ["pickle", "bytes"])
def test_large_values_round_trip(db_path, size, storage):
    value = bytes(range(256)) * (size // 256)
    with DictSQLiteV4(db_path, storage_mode=storage) as db:
        db["big"] = value
        assert db["big"] == value
    with DictSQLiteV4(db_path, storage_mode=storage) as db:
        assert db["big"] == value


def test_large_structured_values_round_trip(db_path):
    value = {"rows": [{"i": i, "s": "x" * 50} for i in range(20000)]}  # ~1 MB
    for storage in ["pickle", "json", "jsonb"]:
        with DictSQLiteV4(db_path, storage_mode=storage) as db:
            db[storage] = value
        with DictSQLiteV4(db_path, storage_mode=storage) as db:
            assert db[storage] == value


def test_file_written_in_every_mode_reads_back_in_any_mode(db_path):
    written = {
        "pickle": {"p": {"set": {1, 2}}},
        "json": {"j": {"a": [1, 2.5, "x", None, True]}},
        "jsonb": {"m": {"b": [1, {"c": "d"}]}},
        "bytes": {"r": b"\x00\xff raw"},
    }
    for storage, items in written.items():
        with DictSQLiteV4(db_path, storage_mode=storage) as db:
            db.update(items)
    for storage in written:
        with DictSQLiteV4(db_path, storage_mode=storage) as db:
            assert db["p"] == {"set": {1, 2}}
            assert db["j"] == {"a": [1, 2.5, "x", None, True]}
            assert db["m"] == {"b": [1, {"c": "d"}]}
            assert db["r"] == b"\x00\xff raw"


def test_json_values_are_stored_as_text_sqlite_can_read(db_path):
    import sqlite3

    with DictSQLiteV4(db_path, storage_mode="json") as db:
        db["doc"] = {"name": "Alice", "tags": ["a"]}
    con = sqlite3.connect(db_path)
    typ, name = con.execute(
        "SELECT typeof(value), json_extract(value, '$.name') FROM kv WHERE key='doc'").fetchone()
    con.close()
    assert (typ, name) == ("text", "Alice")


def test_unpicklable_value_raises_and_stores_nothing(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    db["k"] = 1
    with pytest.raises((TypeError, AttributeError, pickle.PicklingError)):
        db["k"] = lambda: None
    assert db["k"] == 1


def test_corrupt_value_raises_an_error_naming_the_key(db_path):
    import sqlite3

    from dictsqlite import CorruptValueError

    with DictSQLiteV4(db_path) as db:
        db["victim"] = {"a": 1}
    con = sqlite3.connect(db_path)
    con.execute("UPDATE kv SET value = x'8004deadbeef' WHERE key='victim'")
    con.commit()
    con.execute("INSERT INTO kv VALUES('main', 'odd', 9, x'00')")
    con.commit()
    con.close()
    with DictSQLiteV4(db_path) as db:
        with pytest.raises(CorruptValueError, match="'victim'"):
            db["victim"]
        with pytest.raises(CorruptValueError, match="'odd'.*unknown codec"):
            db["odd"]
