"""The "json" and "jsonb" storage modes through the public API.

Both take what json.dumps(allow_nan=False) takes and give back what
json.loads would: dict key order kept, tuples as lists, ints of any size
exact, 1.0 still a float. Every check reads the value twice: from the open
instance, and after close() and a reopen, so the stored bytes are decoded
too and not only the copy in the hot tier."""
import collections
import enum
import math
import sqlite3
import struct
import sys

import pytest

from dictsqlite import DictSQLiteV4

JSON_MODES = ["json", "jsonb"]


@pytest.fixture(params=JSON_MODES)
def mode(request):
    return request.param


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "t.db")


def same(a, b):
    """Equal, and of the same types all the way down: True is not 1, 1.0 is
    not 1, -0.0 is not 0.0, and dict keys are in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def store_and_reread(path, mode, value, key="k"):
    """Write value, read it from the open instance and after a reopen."""
    db = DictSQLiteV4(path, storage_mode=mode)
    try:
        db[key] = value
        live = db[key]
    finally:
        db.close()
    db = DictSQLiteV4(path, storage_mode=mode)
    try:
        reopened = db[key]
    finally:
        db.close()
    return live, reopened


def assert_round_trip(path, mode, value, expected=None):
    expected = value if expected is None else expected
    live, reopened = store_and_reread(path, mode, value)
    assert same(live, expected), (live, expected)
    assert same(reopened, expected), (reopened, expected)


SCALARS = [
    None, True, False, 0, 1, -1, 255, -33, 2**31, 2**63 - 1, -2**63,
    0.0, -0.0, 1.0, 0.1, 1e308, 5e-324, -2.5,
    "", "Alice", "é", "日本語", "😀", "a\x00b", "\"\\\n\t\x01\x7f", "\u2028",
]


@pytest.mark.parametrize("value", SCALARS, ids=[repr(v) for v in SCALARS])
def test_scalars_read_back_with_their_type_and_value(path, mode, value):
    assert_round_trip(path, mode, value)


def test_nested_containers_read_back_unchanged(path, mode):
    value = {
        "name": "Alice",
        "age": 30,
        "tags": ["a", "b"],
        "address": {"city": "Zürich", "zip": "8000", "geo": [47.37, 8.54]},
        "empty_list": [],
        "empty_dict": {},
        "mixed": [1, 1.0, "1", None, True, [[]], {"x": {}}],
    }
    assert_round_trip(path, mode, value)


@pytest.mark.parametrize("container", [[], {}], ids=["list", "dict"])
def test_empty_containers_read_back_empty(path, mode, container):
    assert_round_trip(path, mode, container)


def test_dict_key_order_is_kept(path, mode):
    value = {"zebra": 1, "apple": 2, "mango": 3, "banana": 4}
    live, reopened = store_and_reread(path, mode, value)
    assert list(live) == ["zebra", "apple", "mango", "banana"]
    assert list(reopened) == ["zebra", "apple", "mango", "banana"]


def test_many_keys_keep_their_order(path, mode):
    value = {f"key{(i * 7919) % 1000}": i for i in range(1000)}
    assert_round_trip(path, mode, value)


def test_tuples_read_back_as_lists(path, mode):
    assert_round_trip(path, mode, (1, (2, "x"), ()), [1, [2, "x"], []])


@pytest.mark.parametrize("n", [2**64 - 1, 2**64, -2**63 - 1, 10**100, -(10**100), 3**500])
def test_ints_of_any_size_stay_exact(path, mode, n):
    assert_round_trip(path, mode, {"n": n, "list": [n, -n]})


def test_whole_floats_stay_floats_and_ints_stay_ints(path, mode):
    live, reopened = store_and_reread(path, mode, [1.0, 1, 0.0, 0, -0.0, 1e16])
    for got in (live, reopened):
        assert [type(x) for x in got] == [float, int, float, int, float, float]
        assert math.copysign(1.0, got[4]) == -1.0


def test_bools_stay_bools(path, mode):
    live, reopened = store_and_reread(path, mode, [True, False, 1, 0])
    for got in (live, reopened):
        assert [type(x) for x in got] == [bool, bool, int, int]


def test_floats_read_back_bit_for_bit(path, mode):
    values = [0.1, 1 / 3, 2.0**-1074, 1.7976931348623157e308, 123456789.12345679, -1e-300]
    assert_round_trip(path, mode, values)


def test_non_str_dict_keys_are_converted_like_json_dumps(path, mode):
    value = {1: "int", 2.5: "float", True: "bool", None: "none", 2**70: "big"}
    expected = {"1": "bool", "2.5": "float", "null": "none", "1180591620717411303424": "big"}
    # True == 1, so the dict literal keeps key 1 with the later value
    assert_round_trip(path, mode, value, expected)


def test_strings_with_every_kind_of_character_read_back_unchanged(path, mode):
    value = {
        "control": "".join(chr(i) for i in range(32)),
        "quotes": "\"'\\/",
        "latin1": "àéîõü ÿ",
        "bmp": "中文 한국어 ✓",
        "astral": "😀🎉𝄞",
        "long": "xé😀" * 10000,
        "nul in key \x00": "nul in value \x00",
    }
    assert_round_trip(path, mode, value)


def test_short_strings_shared_by_the_decoders_cache_never_mix_up(path, mode):
    """Short str keys and values are shared from a small cache of decoded
    strings; thousands of distinct ones (which must evict each other) and a few
    repeated ones still read back each as itself, also after a reopen."""
    records = {f"r{i}": {"name": f"n{i}", "tag": ["a", "b"][i % 2], f"f{i % 300}": "x" * (i % 30)}
               for i in range(3000)}
    with DictSQLiteV4(path, storage_mode=mode) as db:
        db.update(records)
        assert all(same(db[k], v) for k, v in records.items())
    with DictSQLiteV4(path, storage_mode=mode) as db:
        assert all(same(db[k], v) for k, v in records.items())


def test_lone_surrogates_in_strings_read_back_unchanged(path, mode):
    # what os.fsdecode() gives for undecodable file names
    value = {"file": "name\udcff.txt", "\ud800": ["\udfff", "a\ud800b"]}
    assert_round_trip(path, mode, value)


def test_subclasses_of_json_types_are_stored_as_their_base_type(path, mode):
    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    class Row(list):
        pass

    value = collections.OrderedDict([("color", Color.RED), ("name", Name("x")), ("row", Row([1]))])
    live, reopened = store_and_reread(path, mode, value)
    for got in (live, reopened):
        assert same(got, {"color": 1, "name": "x", "row": [1]})


def test_ordered_dict_is_stored_in_its_own_order(path, mode):
    value = collections.OrderedDict([("a", 1), ("b", 2), ("c", 3)])
    value.move_to_end("a")
    live, reopened = store_and_reread(path, mode, value)
    assert list(live) == list(reopened) == ["b", "c", "a"]


def test_deeply_nested_value_reads_back(path, mode):
    value = "leaf"
    for i in range(200):
        value = [value] if i % 2 else {"d": value}
    assert_round_trip(path, mode, value)


def test_value_nested_beyond_the_recursion_limit_raises_instead_of_crashing(path, mode):
    value = []
    for _ in range(sys.getrecursionlimit() + 100):
        value = [value]
    with DictSQLiteV4(path, storage_mode=mode) as db:
        with pytest.raises((RecursionError, ValueError)):
            db["k"] = value
        assert "k" not in db


def test_self_referencing_list_raises_instead_of_crashing(path, mode):
    value = [1]
    value.append(value)
    with DictSQLiteV4(path, storage_mode=mode) as db:
        with pytest.raises((RecursionError, ValueError)):
            db["k"] = value
        assert "k" not in db


UNSUPPORTED = [
    ({1, 2}, "set"),
    (frozenset([1]), "frozenset"),
    (b"bytes", "bytes"),
    (bytearray(b"x"), "bytearray"),
    (object(), "object"),
    (1 + 2j, "complex"),
    ({"nested": [1, {2}]}, "set"),
]


@pytest.mark.parametrize("value, type_name", UNSUPPORTED, ids=[t for _, t in UNSUPPORTED])
def test_unsupported_type_raises_type_error_naming_it(path, mode, value, type_name):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        with pytest.raises(TypeError, match=type_name):
            db["k"] = value


@pytest.mark.parametrize("value, type_name", UNSUPPORTED, ids=[t for _, t in UNSUPPORTED])
def test_failed_write_of_unsupported_type_leaves_the_old_value(path, mode, value, type_name):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        db["k"] = {"old": [1, 2]}
        with pytest.raises(TypeError):
            db["k"] = value
        assert same(db["k"], {"old": [1, 2]})
    with DictSQLiteV4(path, storage_mode=mode) as db:
        assert same(db["k"], {"old": [1, 2]})


def test_failed_write_of_new_key_stores_nothing(path, mode):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        with pytest.raises(TypeError):
            db["new"] = {"a": object()}
        assert "new" not in db
        assert len(db) == 0
    with DictSQLiteV4(path, storage_mode=mode) as db:
        assert "new" not in db


@pytest.mark.parametrize("key", [(1, 2), b"k", frozenset()], ids=["tuple", "bytes", "frozenset"])
def test_unsupported_dict_key_raises_type_error(path, mode, key):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        db["k"] = "old"
        with pytest.raises(TypeError):
            db["k"] = {key: 1}
        assert db["k"] == "old"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_infinity_raise_value_error_and_leave_the_old_value(path, mode, bad):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        db["k"] = 1.5
        for value in (bad, [1.0, bad], {"x": {"y": bad}}, {bad: 1}):
            with pytest.raises(ValueError):
                db["k"] = value
            assert same(db["k"], 1.5)
    with DictSQLiteV4(path, storage_mode=mode) as db:
        assert same(db["k"], 1.5)


def test_mutating_a_read_value_does_not_change_the_stored_one(path, mode):
    with DictSQLiteV4(path, storage_mode=mode) as db:
        db["k"] = {"list": [1, 2]}
        got = db["k"]
        got["list"].append(3)
        got["new"] = True
        assert same(db["k"], {"list": [1, 2]})


def test_many_values_survive_reopen(path, mode):
    values = {f"user:{i}": {"id": i, "name": f"n{i}", "score": i / 7, "big": 2**65 + i}
              for i in range(300)}
    with DictSQLiteV4(path, storage_mode=mode) as db:
        for k, v in values.items():
            db[k] = v
    with DictSQLiteV4(path, storage_mode=mode) as db:
        assert len(db) == 300
        for k, v in values.items():
            assert same(db[k], v)


@pytest.mark.parametrize("write_mode, read_mode", [("json", "jsonb"), ("jsonb", "json")])
def test_values_written_in_one_json_mode_read_back_in_the_other(path, write_mode, read_mode):
    value = {"a": [1, 2.0, 2**80, "é"], "b": None}
    with DictSQLiteV4(path, storage_mode=write_mode) as db:
        db["k"] = value
    with DictSQLiteV4(path, storage_mode=read_mode) as db:
        assert same(db["k"], value)


def test_json_mode_stores_text_that_sqlite_json_functions_read(path):
    with DictSQLiteV4(path, storage_mode="json") as db:
        db["k"] = {"name": "Zoë", "n": [1, 2.5]}
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT typeof(value), json_valid(value), json_extract(value, '$.name'), "
            "json_extract(value, '$.n[1]') FROM kv").fetchall()
    finally:
        con.close()
    assert rows == [("text", 1, "Zoë", 2.5)]
