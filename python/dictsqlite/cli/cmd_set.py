"""set: store one value. By default VALUE is JSON and is stored in the json
storage mode; --raw stores the string itself."""
import json
import sys

from dictsqlite.cli._common import CliError, add_password_args, fail, open_writable

MODES = ["json", "pickle", "jsonb", "bytes"]


def register(sub):
    p = sub.add_parser("set", help="store a value under a key",
                       description="Store VALUE under KEY (committed before the command "
                       "returns). VALUE is parsed as JSON unless --raw is given; '-' reads "
                       "it from stdin. A missing file is created.")
    p.add_argument("path", help="the database file (created if missing)")
    p.add_argument("key")
    p.add_argument("value", help="a JSON document, or with --raw any string ('-': stdin)")
    p.add_argument("--table", default="main", help="the table (default: main)")
    p.add_argument("--storage-mode", choices=MODES, default="json",
                   help="how the value is encoded (default: json)")
    p.add_argument("--raw", action="store_true",
                   help="store the string itself (bytes mode: its UTF-8 bytes)")
    add_password_args(p)
    p.set_defaults(run=run)


def parse_value(args):
    text = sys.stdin.read() if args.value == "-" else args.value
    if args.storage_mode == "bytes":
        return text.encode("utf-8")
    if args.raw:
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"VALUE is not JSON ({exc}); use --raw to store the string "
                       "as it is") from None


def run(args):
    value = parse_value(args)
    db = open_writable(args.path, args, create=True, storage_mode=args.storage_mode)
    try:
        try:
            db.table(args.table)[args.key] = value
        except (TypeError, ValueError) as exc:
            raise fail(args.path, f"cannot store key {args.key!r}: {exc}") from None
    finally:
        db.close()
    return 0
