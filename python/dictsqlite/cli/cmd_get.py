"""get: print one value as JSON. A pickle is only loaded with --unpickle,
and then through dictsqlite.modules.safe_pickle's safe policy."""
import base64
import json
import sys

from dictsqlite.cli._common import CliError, add_password_args, fail, one_line, open_readonly


def register(sub):
    p = sub.add_parser("get", help="print the value of a key as JSON",
                       description="Print the value of KEY as JSON. Values JSON cannot "
                       "hold (bytes) are printed in the dump's tagged form. Pickles are "
                       "refused unless --unpickle is given.")
    p.add_argument("path", help="the database file")
    p.add_argument("key")
    p.add_argument("--table", default="main", help="the table (default: main)")
    p.add_argument("--unpickle", action="store_true",
                   help="load a pickled value with the safe policy (never plain pickle)")
    p.add_argument("--raw", action="store_true",
                   help="write the stored bytes as they are (bytes and json values)")
    add_password_args(p)
    p.set_defaults(run=run)


def _default(obj):
    if isinstance(obj, (bytes, bytearray)):
        return {"$dictsqlite": "bytes", "b64": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(type(obj).__name__)


def to_json(value):
    try:
        text = json.dumps(value, ensure_ascii=False, default=_default)
    except (TypeError, ValueError):
        return json.dumps({"$repr": repr(value)})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it
        text = json.dumps(value, default=_default)
    return text


def unpickle_safely(codec, payload, key):
    from dictsqlite.modules import safe_pickle

    if codec == "prepickled":
        # as a read does: the restricted unpickler, else the bytes themselves
        return safe_pickle.passthrough_loads(payload)
    try:
        return safe_pickle.safe_loads(payload)
    except Exception as exc:
        raise CliError(f"the pickle of key {key!r} cannot be loaded under the safe "
                       f"policy: {one_line(exc)}") from None


def decode(mapping, key, codec, payload, *, unpickle):
    if codec in ("pickle", "prepickled"):
        if not unpickle:
            raise CliError(f"the value of key {key!r} is a pickle; it is not unpickled "
                           "unless --unpickle is given (then only with the safe policy)")
        return unpickle_safely(codec, payload, key)
    return mapping._raw_decode(codec, payload, key)


def run(args):
    db = open_readonly(args.path, args=args)
    try:
        table = db.table(args.table)
        try:
            codec, payload = table._raw_get(args.key)
        except KeyError:
            raise fail(args.path, f"no key {args.key!r} in table {args.table!r}") from None
        if args.raw and codec in ("bytes", "json"):
            sys.stdout.flush()
            sys.stdout.buffer.write(payload)
            sys.stdout.buffer.flush()
            return 0
        value = decode(table, args.key, codec, payload, unpickle=args.unpickle)
        print(to_json(value))
    finally:
        db.close()
    return 0
