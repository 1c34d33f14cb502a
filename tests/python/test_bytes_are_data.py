"""Bytes are data, the friendly half: plain data pickles stored as bytes
still read back as their objects (as with the Rust package), other bytes
read back exactly, and objects stored as objects round-trip as before."""
import collections
import pickle

import pytest

PLAIN = [{"a": [1, 2]}, [1, "x", None], (1, 2.5), {1, 2}, 10 ** 30, "text", b"raw", None,
         frozenset({"a"}), {"nested": {"t": (1, [b"b"])}}]


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_plain_data_pickles_read_back_as_objects(open_db, mode):
    db = open_db(persist_mode=mode)
    for proto in range(2, 6):
        for i, value in enumerate(PLAIN):
            db[f"{proto}-{i}"] = pickle.dumps(value, proto)
    db.flush()
    for proto in range(2, 6):
        for i, value in enumerate(PLAIN):
            assert db[f"{proto}-{i}"] == value


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_bytes_that_are_not_plain_pickles_come_back_unchanged(open_db, mode, tmp_path):
    db = open_db(persist_mode=mode)
    odd = [b"\x80\x04 not a pickle.", b"\x80\x05", b"\x80\x04\x95" + b"\x00" * 8,
           pickle.dumps(collections.Counter("ab"), 4)[:-1],  # no STOP
           b"\x00\x01\x02", bytes(range(256)) * 10,
           pickle.dumps(Point(1), 4)]  # names a class outside the safe policy
    for i, data in enumerate(odd):
        db[f"k{i}"] = data
    for i, data in enumerate(odd):
        assert db[f"k{i}"] == data
    db.close()
    if mode != "memory":
        again = open_db(persist_mode=mode)
        for i, data in enumerate(odd):
            assert again[f"k{i}"] == data


class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Point) and other.x == self.x


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_objects_stored_as_objects_still_round_trip(open_db, mode):
    db = open_db(persist_mode=mode, hot_capacity=2)
    db["p"] = Point(3)
    db["c"] = collections.OrderedDict(a=1)
    for i in range(5):
        db[f"fill{i}"] = i  # push p out of the hot tier
    assert db["p"] == Point(3)
    assert db["c"] == collections.OrderedDict(a=1)
    # the same object pickled by the caller and stored as bytes is data
    raw = pickle.dumps(Point(4))
    db["raw"] = raw
    assert db["raw"] == raw
