"""The plain-value pickle reader (src/ext/pickle_fast.c) must give exactly
what pickle.loads gives: same types, same values, shared references shared,
and everything outside its subset handed to pickle.loads. The writer
(src/ext/pickle_fast_write.c) must write pickles that load back exactly, and
leave everything else to pickle.dumps."""
import datetime
import math
import os
import pickle
import random
import sqlite3
import struct
import sys

import pytest

from dictsqlite import DictSQLiteV4
from dictsqlite._native import _pickle_dumps_fast, _pickle_loads_fast


def same(a, b, seen=None):
    """Type-strict structural equality (True != 1, 1.0 != 1, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def random_value(rng, depth=0):
    kind = rng.randrange(12 if depth < 4 else 8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31,
                           -2**31 - 1, 2**63, -2**63 - 1, 10**40, -10**40, 2**2048])
    if kind == 2:
        return rng.randint(-10**6, 10**6)
    if kind == 3:
        return rng.choice([0.0, -0.0, 1.5, -2.25e300, 5e-324, float("inf"), float("-inf")])
    if kind == 4:
        return rng.choice(["", "a", "é", "💡", "\ud800", "x" * 300, "y" * 70000, "\x00"])
    if kind == 5:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 255, 256, 300])))
    if kind == 6:
        return "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(20)))
    if kind == 7:
        return rng.random()
    n = rng.randrange(990, 1010) if depth == 0 and rng.random() < 0.05 else rng.randrange(0, 6)
    if kind == 8:
        return [random_value(rng, depth + 1) for _ in range(n)]
    if kind == 9:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3, 4, n])))
    return {str(random_value(rng, depth + 1)): random_value(rng, depth + 1) for _ in range(n)}


@pytest.mark.parametrize("mode", ["memory", "lazy"])
def test_random_plain_values_read_back_exactly(db_path, mode):
    rng = random.Random(20261124)
    values = {f"k{i}": random_value(rng) for i in range(1500)}
    with DictSQLiteV4(db_path, persist_mode=mode, storage_mode="pickle") as db:
        db.update(values)
        for k, v in values.items():
            assert same(db[k], v), k
        if mode == "memory":
            return
    with DictSQLiteV4(db_path, persist_mode=mode, storage_mode="pickle") as db:
        for k, v in values.items():
            assert same(db[k], v), k


def test_shared_and_cyclic_references_come_back_shared(db_path):
    inner = [1, 2]
    cyc = []
    cyc.append(cyc)
    selfdict = {}
    selfdict["me"] = selfdict
    with DictSQLiteV4(db_path, persist_mode="memory") as db:
        db["shared"] = {"a": inner, "b": inner, "t": (inner, inner)}
        got = db["shared"]
        assert got["a"] is got["b"] is got["t"][0] is got["t"][1]
        assert got["a"] is not inner and got["a"] == [1, 2]
        db["cyc"] = cyc
        c = db["cyc"]
        assert c[0] is c
        db["selfdict"] = selfdict
        s = db["selfdict"]
        assert s["me"] is s


class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return type(other) is Point and other.x == self.x


@pytest.mark.parametrize("value", [
    {1, 2, 3}, frozenset({"a"}), bytearray(b"xy"), Point(3), [Point(1), {"p": Point(2)}],
    datetime.date(2026, 11, 24), complex(1, 2), range(3), {"s": {1}},
])
def test_values_outside_the_subset_go_through_pickle(db_path, value):
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        db["v"] = value
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        assert db["v"] == value and type(db["v"]) is type(value)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_pickles_of_every_protocol_stored_as_bytes_decode_like_pickle(db_path, protocol):
    """Ready-made pickles (the Rust package's shortcut) of any protocol."""
    value = {"name": "Alice", "n": [1, 2.5, None, True, "é" * 3, b"\x00"], "t": (1,)}
    with DictSQLiteV4(db_path, persist_mode="memory") as db:
        raw = pickle.dumps(value, protocol)
        if raw[:1] == b"\x80":  # stored as a pickle only when it looks like one
            db["p"] = raw
            assert same(db["p"], pickle.loads(raw))


@pytest.mark.parametrize("raw", [
    b"\x80\x05K\x01",               # no STOP
    b"\x80\x05K\x01K\x02.",         # two values left on the stack
    b"\x80\x05\x8c\x05ab.",         # string longer than the data
    b"\x80\x05h\x00.",              # memo index never stored
    b"\x80\x05(u.",                 # SETITEMS with nothing below the mark
    b"\x80\x05\x8a\xffab.",         # LONG1 longer than the data
])
def test_odd_pickle_shaped_bytes_read_as_pickle_reads_them(db_path, raw):
    """Whatever pickle.loads makes of them (it ignores what is left on its
    stack at STOP), or the bytes themselves when it refuses them."""
    try:
        expected = pickle.loads(raw)
    except Exception:
        expected = raw
    with DictSQLiteV4(db_path, persist_mode="memory") as db:
        db["b"] = raw
        assert same(db["b"], expected)


# ---- the writer (src/ext/pickle_fast_write.c) --------------------------------
#
# db[k] = v in pickle mode writes plain values itself instead of calling
# pickle.dumps. Its pickles differ from pickle.dumps' bytes (no FRAME, no
# memo) but must load, with pickle.loads and with the reader above, as a
# type-strictly equal value; anything it cannot write that way (other types,
# subclasses, shared or cyclic containers, lone surrogates, deep nesting) it
# leaves to pickle.dumps.


def writer_gives_up(v):
    """Whether the writer leaves v (exact plain types only) to pickle.dumps:
    a lone surrogate, a container or a str/bytes of 64+ bytes met twice."""
    seen = set()

    def walk(x):
        if isinstance(x, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in x):
                return True
        tracked = (isinstance(x, (list, dict)) or (isinstance(x, tuple) and x)
                   or (isinstance(x, str) and len(x.encode()) >= 64)
                   or (isinstance(x, bytes) and len(x) >= 64))
        if tracked:
            if id(x) in seen:
                return True
            seen.add(id(x))
        if isinstance(x, (list, tuple)):
            return any(walk(y) for y in x)
        if isinstance(x, dict):
            return any(walk(k) or walk(y) for k, y in x.items())
        return False

    return walk(v)


def written_fast(v):
    """The writer's pickle of v, checked to load back equal both ways."""
    raw = _pickle_dumps_fast(v)
    assert raw is not None, repr(v)[:80]
    assert raw[:2] == b"\x80\x05" and raw[-1:] == b"."
    assert same(pickle.loads(raw), v), repr(v)[:80]
    assert _pickle_loads_fast(raw) is not None, "the reader refused it"
    assert same(_pickle_loads_fast(raw)[0], v), repr(v)[:80]
    return raw


def stored_blobs(path):
    """key -> (codec, value blob) as the file holds them."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT key, codec, value FROM kv UNION ALL "
                           "SELECT key, codec, value FROM kv_large").fetchall()
    finally:
        con.close()
    return {k: (codec, blob) for k, codec, blob in rows}


def test_writer_random_plain_values_load_back_exactly(db_path):
    rng = random.Random(20261125)
    values = {f"k{i}": random_value(rng) for i in range(1500)}
    gave_up = 0
    for v in values.values():
        if writer_gives_up(v):
            assert _pickle_dumps_fast(v) is None
            gave_up += 1
        else:
            written_fast(v)
    assert gave_up < len(values) // 5
    with DictSQLiteV4(db_path, persist_mode="lazy", storage_mode="pickle") as db:
        for k, v in values.items():
            db[k] = v
    with DictSQLiteV4(db_path, persist_mode="lazy", storage_mode="pickle") as db:
        for k, v in values.items():
            assert same(db[k], v), k


INT_BOUNDARIES = [0, 1, 255, 256, 65535, 65536, -1, -2, -128, -129, -255, -256, -257,
                  -2**31, -2**31 - 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, -2**63,
                  -2**63 - 1, 2**64, -2**64, 10**40, -10**40, 2**2047, -2**2047,
                  2**2048, -2**2048 - 1]


@pytest.mark.parametrize("v", INT_BOUNDARIES)
def test_writer_int_boundaries(v):
    raw = written_fast(v)
    # same opcode family as pickle.dumps, and LONG1/LONG4 as short as encode_long
    expected = pickle.dumps(v, 5)
    assert raw[2:] == expected[-len(raw) + 2:]


@pytest.mark.parametrize("v", [
    "a" * 255, "a" * 256, "é" * 127 + "a", "é" * 128, "💡" * 64, "", "\x00", "y" * 70000,
    b"", b"x" * 255, b"x" * 256, b"\x00" * 70000,
    (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),), ((), ()), (((1,),),),
    [], [1], [[], []], {}, {"a": 1}, {1: "int key", (1, 2): "tuple key", None: 0.5},
    -0.0, 0.0, float("nan"), -float("nan"), float("inf"), -float("inf"), 5e-324,
    True, False, None, [True, 1, 1.0, False, 0, 0.0],
    {"name": "Alice", "age": 30, "tags": ["a", "b"]},
])
def test_writer_boundaries(v):
    raw = written_fast(v)
    if isinstance(v, str) and len(v.encode()) == 255:
        assert raw[2] == 0x8C  # SHORT_BINUNICODE up to 255 bytes of UTF-8
    if isinstance(v, str) and len(v.encode()) == 256:
        assert raw[2:3] == b"X"  # BINUNICODE from 256


def test_writer_keeps_nan_bits_and_dict_order():
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    back = pickle.loads(written_fast(nan))
    assert struct.pack("<d", back) == struct.pack("<d", nan)
    d = {k: k for k in "zyxwvu"}
    assert list(pickle.loads(written_fast(d))) == list("zyxwvu")


def test_writer_protocols():
    v = {"a": [1, (2, 3)], "b": b"x"}
    assert _pickle_dumps_fast(v, 4)[:2] == b"\x80\x04"
    assert same(pickle.loads(_pickle_dumps_fast(v, 4)), v)
    for protocol in (0, 1, 2, 3, 6, -1):
        assert _pickle_dumps_fast(v, protocol) is None


class DictSub(dict):
    pass


class ListSub(list):
    pass


class StrSub(str):
    pass


class IntSub(int):
    pass


def _outside_values():
    shared = [1, 2]
    cyc = []
    cyc.append(cyc)
    selfdict = {}
    selfdict["me"] = selfdict
    tup = (1, [2])
    deep = [0]
    for _ in range(200):
        deep = [deep]
    long_str = "".join(["é"] * 32)  # 64 bytes of UTF-8, built at run time
    long_bytes = bytes(range(64))
    return {
        "dict subclass": DictSub(a=1),
        "list subclass": ListSub([1]),
        "str subclass": StrSub("s"),
        "int subclass": IntSub(3),
        "nested subclass": {"x": [IntSub(3)]},
        "set": {1, 2},
        "bytearray": bytearray(b"xy"),
        "shared list": [shared, shared],
        "shared in a dict": {"a": shared, "b": {"c": shared}},
        "shared tuple": [tup, tup],
        "dict key tuple shared with a value": {(1, 2): 0, "t": None},
        "cyclic list": cyc,
        "self dict": selfdict,
        "shared long str": [long_str, long_str],
        "shared long bytes": {"a": long_bytes, "b": (long_bytes,)},
        "lone surrogate": "\ud800",
        "lone surrogate as key": {"\udfff": 1},
        "200 deep": deep,
    }


@pytest.mark.parametrize("name", list(_outside_values()))
def test_writer_gives_up_outside_the_subset_and_pickle_takes_over(db_path, name):
    value = _outside_values()[name]
    if name == "dict key tuple shared with a value":
        key = next(iter(value))
        value["t"] = key
    assert _pickle_dumps_fast(value) is None
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        db["v"] = value
    with DictSQLiteV4(db_path, persist_mode="lazy") as db:
        got = db["v"]
    assert type(got) is type(value)
    if name == "shared list":
        assert got == value and got[0] is got[1]
    elif name == "shared in a dict":
        assert got == value and got["a"] is got["b"]["c"]
    elif name in ("shared tuple", "shared long str"):
        assert got == value and got[0] is got[1]
    elif name == "shared long bytes":
        assert got == value and got["a"] is got["b"][0]
    elif name == "cyclic list":
        assert got[0] is got
    elif name == "self dict":
        assert got["me"] is got
    elif name == "200 deep":
        depth = 0
        while got != [0]:
            got = got[0]
            depth += 1
        assert depth == 200
    else:
        assert got == value
        assert pickle.dumps(got) == pickle.dumps(value)  # same types inside too


def test_writer_copies_short_strings_met_twice():
    s, b = "".join(["é"] * 31) + "x", bytes(range(63))  # 63 bytes each
    raw = written_fast([s, s, b, b, {s: b}])
    assert raw.count(s.encode()) == 3 and raw.count(b) == 3


def test_writer_container_count_is_not_limited():
    """Past the inline set of seen containers a hash table takes over."""
    many = [[i] for i in range(20000)]
    assert same(pickle.loads(written_fast(many)), many)
    many.append(many[12345])
    assert _pickle_dumps_fast(many) is None
    d = {str(i): {"i": (i, [i])} for i in range(5000)}
    d["again"] = d["4999"]["i"]
    assert _pickle_dumps_fast(d) is None


def test_writer_depth_limit():
    v = 0
    for _ in range(100):
        v = [v]
    written_fast(v)
    assert _pickle_dumps_fast([v]) is None
    t = 0
    for _ in range(101):
        t = (t,)
    assert _pickle_dumps_fast(t) is None


def test_db_stores_the_writers_pickle_and_plain_pickle_loads_it(db_path):
    values = {"small": {"name": "Alice", "age": 30, "tags": ["a", "b"]},
              "big": {"rows": [[i, str(i), i / 3] for i in range(2000)]},
              "int": 2**100, "tuple": (1, ("x", b"y")), "none": None, "set": {1, 2}}
    s = [1]
    values["shared"] = [s, s]
    with DictSQLiteV4(db_path, persist_mode="lazy", storage_mode="pickle") as db:
        db.update(values)
        db["one-by-one"] = values["small"]
    values["one-by-one"] = values["small"]
    blobs = stored_blobs(db_path)
    assert set(blobs) == set(values)
    for k, v in values.items():
        codec, blob = blobs[k]
        got = pickle.loads(blob)
        assert same(got, v) if k not in ("set", "shared") else got == v, k
        fast = _pickle_dumps_fast(v)
        if fast is not None:
            assert blob == fast, k  # written by the fast path
        else:
            assert blob == pickle.dumps(v, 5), k
    shared = pickle.loads(blobs["shared"][1])
    assert shared[0] is shared[1]


def test_safe_pickle_policy_writes_plain_values_fast_and_checks_the_rest(db_path):
    """A plain value's pickle names no global, so the policy has nothing to
    refuse in it; anything else still goes through pickle.dumps and the check."""
    v = {"a": [1, 2]}
    with DictSQLiteV4(db_path, persist_mode="lazy", enable_safe_pickle=True) as db:
        db["v"] = v
        db["d"] = datetime.date(2026, 11, 24)  # allowed by the default policy
        with pytest.raises(ValueError, match="forbidden global"):
            db["bad"] = os.system
        assert "bad" not in db
    blobs = stored_blobs(db_path)
    assert blobs["v"][1] == _pickle_dumps_fast(v)
    assert blobs["d"][1] == pickle.dumps(datetime.date(2026, 11, 24), 5)
    assert "bad" not in blobs
    with DictSQLiteV4(db_path, enable_safe_pickle=True) as db:
        assert db["v"] == v and db["d"] == datetime.date(2026, 11, 24)


def test_writer_takes_no_references():
    leaves = ["s" * 300, "é", 10**30, 1.5, b"b", (1, "t"), None, True, 123456]
    value = {"l": list(leaves), "t": tuple(leaves), "d": {"k": leaves}}
    shared = [leaves, leaves]  # gives up part way through
    bad = {"a": leaves, "z": "\ud800"}
    before = [sys.getrefcount(x) for x in leaves + [value, shared, bad]]
    for _ in range(2000):
        _pickle_dumps_fast(value)
        _pickle_dumps_fast(shared)
        _pickle_dumps_fast(bad)
    assert [sys.getrefcount(x) for x in leaves + [value, shared, bad]] == before


def test_db_set_takes_no_references(db_path):
    leaves = ["s" * 300, "é", 10**30, 1.5, b"b", (1, "t"), None, True, 123456]
    value = {"l": list(leaves), "t": tuple(leaves), "d": {"k": leaves}}
    with DictSQLiteV4(db_path, persist_mode="memory") as db:
        db["v"] = value
        before = [sys.getrefcount(x) for x in leaves + [value]]
        for i in range(2000):
            db["v"] = value
            db[f"k{i % 50}"] = value
        assert [sys.getrefcount(x) for x in leaves + [value]] == before
