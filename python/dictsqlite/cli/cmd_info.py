"""info: format version, tables with key counts, codecs in use, encryption,
file and WAL sizes. Read with Python's sqlite3 in read-only mode: no value
is decrypted or decoded, so no password is needed."""
import json
import os
import sys

from dictsqlite.cli._common import connect_ro, meta

# codec byte layout (include/dictsqlite/entry.h, src/ext/codec.h)
CODEC_NAMES = {1: "pickle", 2: "json", 3: "msgpack", 4: "bytes"}
FLAG_ENCRYPTED = 0x10
FLAG_PREPICKLED = 0x40


def register(sub):
    p = sub.add_parser("info", help="format, tables, codecs, encryption and sizes of a file",
                       description="Show the format version, the tables with their key "
                       "counts, the codecs in use, encryption, and the file and WAL sizes. "
                       "Opens the file read-only and creates nothing.")
    p.add_argument("path", help="the database file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def codec_label(codec):
    base = CODEC_NAMES.get(codec & 0x0F) if not codec & 0x80 else None
    if base is None:
        return f"unknown({codec})"
    if base == "pickle" and codec & FLAG_PREPICKLED:
        return "prepickled"
    return base


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def parse_kdf(text):
    """'argon2id:t=2,m=19456,p=1' -> {'algorithm': 'argon2id', 't': 2, ...}"""
    if not text:
        return None
    algorithm, _, params = text.partition(":")
    out = {"algorithm": algorithm}
    for part in params.split(","):
        name, _, value = part.partition("=")
        if name:
            out[name] = int(value) if value.isdigit() else value
    return out


def collect(path):
    con, names = connect_ro(path)
    try:
        m = meta(con)
        sources = ["kv"] + (["kv_large"] if "kv_large" in names else [])
        union = " UNION ALL ".join(f"SELECT tbl, codec FROM {t}" for t in sources)
        tables = {str(tbl): n for tbl, n in con.execute(
            f"SELECT tbl, count(*) FROM ({union}) GROUP BY tbl ORDER BY tbl")}
        codecs = {}
        for codec, n in con.execute(f"SELECT codec, count(*) FROM ({union}) GROUP BY codec"):
            codec = int(codec) if isinstance(codec, int) else -1
            key = (codec_label(codec), bool(codec >= 0 and codec & FLAG_ENCRYPTED))
            codecs[key] = codecs.get(key, 0) + n
    finally:
        con.close()
    wal = path + "-wal"
    encrypted = "key_check" in m
    return {
        "path": path,
        "format_version": _text(m.get("format_version")),
        "file_bytes": os.path.getsize(path),
        "wal_bytes": os.path.getsize(wal) if os.path.exists(wal) else 0,
        "encrypted": encrypted,
        "kdf": parse_kdf(_text(m.get("kdf"))) if encrypted else None,
        "tables": tables,
        "codecs": [{"codec": name, "encrypted": enc, "count": n}
                   for (name, enc), n in sorted(codecs.items())],
    }


def run(args):
    info = collect(args.path)
    out = sys.stdout
    if args.json:
        json.dump(info, out)
        out.write("\n")
        return 0
    print(f"path: {info['path']}", file=out)
    print(f"format version: {info['format_version']}", file=out)
    print(f"file size: {info['file_bytes']} bytes", file=out)
    print(f"wal size: {info['wal_bytes']} bytes", file=out)
    if info["encrypted"]:
        kdf = info["kdf"] or {}
        params = ", ".join(f"{k}={v}" for k, v in kdf.items() if k != "algorithm")
        print(f"encryption: on ({kdf.get('algorithm', '?')}: {params})", file=out)
    else:
        print("encryption: off", file=out)
    print(f"tables: {len(info['tables'])}", file=out)
    for name, n in info["tables"].items():
        print(f"  {name}: {n} key{'s' if n != 1 else ''}", file=out)
    print("codecs:", file=out)
    for c in info["codecs"]:
        print(f"  {c['codec']}{' (encrypted)' if c['encrypted'] else ''}: {c['count']}",
              file=out)
    return 0
