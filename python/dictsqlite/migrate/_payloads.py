"""Checks on stored payloads that never run them.

Migration copies values as the bytes they were stored as, so the only
question it asks of a payload is "which codec is this?". Each check here
parses without building objects: pickletools.genops reads pickle opcodes
without executing one (no global is imported, no reducer called), and the
MessagePack walker only skips over the encoding.
"""
import json
import os
import pickletools
import sqlite3
import struct
from io import BytesIO

def looks_like_pickle(data):
    """Cheap test: PROTO 2-5 first, STOP last (what pickle.dumps writes)."""
    return len(data) >= 3 and data[0] == 0x80 and 2 <= data[1] <= 5 and data[-1] == 0x2E


def is_pickle(data):
    """True if data is exactly one well-formed pickle, any protocol."""
    if not data or data[-1] != 0x2E:  # every pickle ends with STOP
        return False
    stream = BytesIO(data)
    try:
        for op, _arg, pos in pickletools.genops(stream):
            if op.name == "STOP":
                return pos + 1 == len(data)
    except Exception:  # genops raises ValueError (and others) on garbage
        return False
    return False


def is_json(data):
    """True if data is UTF-8 JSON text (what a json storage mode writes)."""
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


# MessagePack first bytes -> (how many length bytes follow, how many items
# the length counts: 0 = that many raw bytes, 1 = that many objects,
# 2 = that many key/value pairs, or -1 for a fixed-size payload of n bytes).
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4,
          0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
          0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}  # fixext: type byte + data
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0),      # bin
          0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),      # str
          0xC7: (1, 3), 0xC8: (2, 3), 0xC9: (4, 3),      # ext: len, type, data
          0xDC: (2, 1), 0xDD: (4, 1),                    # array
          0xDE: (2, 2), 0xDF: (4, 2)}                    # map
_LEN = {1: ">B", 2: ">H", 4: ">I"}


def _skip_msgpack(data, pos, depth=0):
    """Position after the object at pos; raises ValueError if malformed."""
    if depth > 512:
        raise ValueError("nested too deep")
    if pos >= len(data):
        raise ValueError("truncated")
    b = data[pos]
    pos += 1
    if b <= 0x7F or b >= 0xE0:          # positive / negative fixint
        return pos
    if 0xA0 <= b <= 0xBF:               # fixstr
        return _need(data, pos + (b & 0x1F))
    if 0x90 <= b <= 0x9F:               # fixarray
        for _ in range(b & 0x0F):
            pos = _skip_msgpack(data, pos, depth + 1)
        return pos
    if 0x80 <= b <= 0x8F:               # fixmap
        for _ in range(2 * (b & 0x0F)):
            pos = _skip_msgpack(data, pos, depth + 1)
        return pos
    if b in _FIXED:
        return _need(data, pos + _FIXED[b])
    if b in _SIZED:
        width, kind = _SIZED[b]
        _need(data, pos + width)
        (n,) = struct.unpack_from(_LEN[width], data, pos)
        pos += width
        if kind == 0:
            return _need(data, pos + n)
        if kind == 3:
            return _need(data, pos + 1 + n)
        for _ in range(n * kind):
            pos = _skip_msgpack(data, pos, depth + 1)
        return pos
    raise ValueError(f"byte 0x{b:02x} starts no MessagePack object")  # 0xC1


def _need(data, end):
    if end > len(data):
        raise ValueError("truncated")
    return end


def is_msgpack(data):
    """True if data is exactly one well-formed MessagePack object."""
    try:
        return _skip_msgpack(data, 0) == len(data)
    except (ValueError, struct.error):
        return False


def open_sqlite_ro(path):
    """A connection that reads path and writes nothing to it or beside it.

    mode=ro alone still creates (and leaves) -wal and -shm next to a WAL
    database; when neither exists no one has the file open in WAL mode, and
    immutable=1 reads it with no side files. When they exist, mode=ro uses
    them, so a source another process is writing is read consistently.
    """
    from urllib.parse import quote

    absolute = os.path.abspath(path)
    in_use = os.path.exists(absolute + "-wal") or os.path.exists(absolute + "-shm")
    uri = "file:" + quote(absolute) + ("?mode=ro" if in_use else "?mode=ro&immutable=1")
    return sqlite3.connect(uri, uri=True)


def table_columns(con, table):
    """Lower-case column names of a table, in order."""
    rows = con.execute(f'PRAGMA table_info("{table.replace(chr(34), chr(34) * 2)}")')
    return [r[1].lower() for r in rows]


def sqlite_tables(con):
    """Names of the ordinary tables of a database."""
    return [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]


def is_sqlite_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False

