"""dump: every entry as JSON Lines, streamed a page at a time.

    {"dictsqlite_dump": 1, "source": "app.db", "tables": ["main"]}
    {"table":"main","key":"k","value":{"a":1}}
    {"table":"main","key":"p","value":{"$dictsqlite":"pickle","b64":"gASV..."}}

A json value is written as the JSON text stored (so its bytes come back
exactly); every other value, and a json value that could be mistaken for a
tag or does not fit on one line, as {"$dictsqlite": CODEC, "b64": ...} with
the stored bytes. CODEC is pickle, prepickled, msgpack, bytes or json.
Nothing is ever unpickled."""
import base64
import json
import os
import sys

from dictsqlite.cli._common import (CliError, add_password_args, fail, iter_raw,
                                    open_readonly, progress)

TAG = "$dictsqlite"
CODECS = ("pickle", "prepickled", "json", "msgpack", "bytes")
_decoder = json.JSONDecoder()


def register(sub):
    p = sub.add_parser("dump", help="write every entry as JSON Lines",
                       description="Write every entry (of every table, or of --table) as "
                       "JSON Lines to stdout or -o FILE; load reads it back exactly, "
                       "pickles included, without unpickling anything.")
    p.add_argument("path", help="the database file")
    p.add_argument("--table", help="only this table")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (replaced only once the dump is complete)")
    add_password_args(p)
    p.set_defaults(run=run)


def _inline_json(payload):
    """The stored JSON text, when it can stand in the line as it is."""
    if b"\n" in payload or b"\r" in payload or TAG.encode() in payload:
        return None
    try:
        text = payload.decode("utf-8")
        json.loads(text)
    except ValueError:
        return None
    return text


def encode_line(table, key, codec, payload):
    head = '{"table":' + json.dumps(table) + ',"key":' + json.dumps(key) + ',"value":'
    text = _inline_json(payload) if codec == "json" else None
    if text is None:
        text = json.dumps({TAG: codec, "b64": base64.b64encode(payload).decode("ascii")},
                          separators=(",", ":"))
    return head + text + "}"


def header(path, tables):
    return json.dumps({"dictsqlite_dump": 1, "source": os.path.basename(path),
                       "tables": tables})


class DumpError(ValueError):
    pass


def _tagged(value):
    codec = value.get(TAG)
    if codec not in CODECS:
        raise DumpError(f"unknown codec {codec!r} (expected one of {', '.join(CODECS)})")
    b64 = value.get("b64")
    if not isinstance(b64, str):
        raise DumpError("a tagged value needs a \"b64\" string")
    try:
        return codec, base64.b64decode(b64, validate=True)
    except ValueError as exc:
        raise DumpError(f"bad base64: {exc}") from None


def _fast(line):
    """(table, key, codec, payload) of a line in the layout dump writes,
    taking a json value's text as it stands; None for any other layout."""
    if not line.startswith('{"table":'):
        return None
    try:
        table, i = _decoder.raw_decode(line, 9)
        if not line.startswith(',"key":', i):
            return None
        key, j = _decoder.raw_decode(line, i + 7)
        if not line.startswith(',"value":', j) or not line.endswith("}"):
            return None
        text = line[j + 9:-1]
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(table, str) or not isinstance(key, str):
        return None
    if isinstance(value, dict) and TAG in value:
        return (table, key, *_tagged(value))
    return table, key, "json", text.encode("utf-8")


def decode_line(line):
    """(table, key, codec, payload), or None for the header and blank
    lines. DumpError says what is wrong."""
    line = line.rstrip("\n").rstrip("\r")
    if not line.strip():
        return None
    got = _fast(line)
    if got is not None:
        return got
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise DumpError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DumpError("expected a JSON object")
    if "dictsqlite_dump" in obj:
        return None
    table, key = obj.get("table"), obj.get("key")
    if not isinstance(table, str) or not isinstance(key, str) or "value" not in obj:
        raise DumpError('expected {"table": str, "key": str, "value": ...}')
    value = obj["value"]
    if isinstance(value, dict) and TAG in value:
        return (table, key, *_tagged(value))
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return table, key, "json", text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        return table, key, "json", text.encode("utf-8")
    except ValueError as exc:
        raise DumpError(str(exc)) from None


def run(args):
    db = open_readonly(args.path, args=args)
    tmp = None
    try:
        tables = [args.table] if args.table else db.tables()
        total = sum(len(db.table(t)) for t in tables)
        if args.output:
            tmp = args.output + ".tmp"
            try:
                out = open(tmp, "w", encoding="utf-8")
            except OSError as exc:
                raise fail(args.output, f"cannot write: {exc.strerror}") from None
        else:
            out = sys.stdout
        try:
            out.write(header(args.path, tables) + "\n")
            with progress(total, "dump") as bar:
                for t in tables:
                    for key, codec, payload in iter_raw(db.table(t)):
                        out.write(encode_line(t, key, codec, payload))
                        out.write("\n")
                        bar.update(1)
            out.flush()
            if tmp:
                os.fsync(out.fileno())
        finally:
            if tmp:
                out.close()
        if tmp:
            os.replace(tmp, args.output)
            tmp = None
    finally:
        db.close()
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return 0


__all__ = ["encode_line", "decode_line", "DumpError", "CliError"]
