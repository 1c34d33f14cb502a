"""The plain-value pickle reader (src/ext/pickle_fast.c) must give exactly
what pickle.loads gives: same types, same values, shared references shared,
and everything outside its subset handed to pickle.loads."""
import datetime
import math
import pickle
import random
import struct

import pytest

from dictsqlite import DictSQLiteV4


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
