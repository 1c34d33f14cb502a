"""Write the seed corpus of the decoder harnesses (tests/fuzz/corpus/): the
encodings that dictsqlite itself stores for a spread of values, plus
hand-written edge cases. Run from the repository root against a built
package (PYTHONPATH=build/stage python3 tests/fuzz/make_seeds.py); the
output is committed, so this only needs re-running to change the seeds."""
import hashlib
import os
import sqlite3
import sys
import tempfile

import dictsqlite

def nested(depth):
    v = 0
    for _ in range(depth):
        v = [v]
    return v


NESTED = nested(40)  # past msgpack-c's 32-level unpacker stack

VALUES = [
    None, True, False, 0, -1, 127, 128, -33, 255, 65536, 2**31, 2**63 - 1, 2**64 - 1,
    -(2**63), 2**64, -(2**200), 1.5, -0.0, 1e300, 5e-324, "", "a", "é€😀",
    "x" * 40, "\x00\u2028\ud800", "q\"\\/\b\f\n\r\t", [], {}, [1, [2, [3, [4]]]],
    {"a": 1, "b": [True, None, 2.5], "c": {"d": "e"}}, {"": {"": []}},
    NESTED,
    {str(i): i for i in range(20)}, list(range(300)), "s" * 1000,
]

JSON_EXTRA = [
    b" [1, 2 ,3 ] ", b"\"\\u0000\\ud83d\\ude00\\udc00\"", b"-0", b"1E+2", b"0.5e-3",
    b"123456789012345678901234567890", b"{\"a\":1,\"a\":2}", b"[" * 1000 + b"]" * 1000,
    b"\"\xed\xa0\x80\"", b"01", b"1.", b"NaN", b"[1,]", b"{\"a\" 1}", b"\xef\xbb\xbf[]",
    b"tru", b"\"\\u12\"", b"[\"\\ud800\\u0041\"]", b"1e99999",
]

MSGPACK_EXTRA = [
    b"\xc1", b"\xc4\x03abc", b"\xc7\x03\x01-12", b"\xd4\x01\x35", b"\xd4\x02\x00",
    b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\x91" * 1000 + b"\xc0",
    b"\x81\x01\x02", b"\xa3\xed\xa0\x80", b"\xca\x7f\xc0\x00\x00", b"\xcb" + b"\xff" * 8,
    b"\xdb\x00\x00\x00\x02hi", b"\xc9\x00\x00\x00\x01\x01",
]


def stored_encodings(mode):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed.db")
        db = dictsqlite.DictSQLiteV4(path, storage_mode=mode)
        for i, v in enumerate(VALUES):
            db[f"k{i}"] = v
        db.close()
        con = sqlite3.connect(path)
        rows = con.execute("SELECT value FROM kv UNION ALL SELECT value FROM kv_large").fetchall()
        con.close()
    return [r[0].encode() if isinstance(r[0], str) else bytes(r[0]) for r in rows]


def write(folder, blobs):
    os.makedirs(folder, exist_ok=True)
    for b in blobs:
        with open(os.path.join(folder, hashlib.sha1(b).hexdigest()[:16]), "wb") as f:
            f.write(b)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    write(os.path.join(root, "json"), stored_encodings("json") + JSON_EXTRA)
    write(os.path.join(root, "msgpack"), stored_encodings("jsonb") + MSGPACK_EXTRA)
    print("seeds written to", root, file=sys.stderr)


if __name__ == "__main__":
    main()
