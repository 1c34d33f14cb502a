"""del: remove keys."""
from dictsqlite.cli._common import add_password_args, fail, open_writable


def register(sub):
    p = sub.add_parser("del", help="remove keys",
                       description="Remove each KEY (one transaction per key). A missing "
                       "key is an error unless --missing-ok is given.")
    p.add_argument("path", help="the database file")
    p.add_argument("keys", nargs="+", metavar="key")
    p.add_argument("--table", default="main", help="the table (default: main)")
    p.add_argument("--missing-ok", action="store_true", help="ignore keys that are absent")
    add_password_args(p)
    p.set_defaults(run=run)


def run(args):
    db = open_writable(args.path, args)
    try:
        table = db.table(args.table)
        for key in args.keys:
            try:
                del table[key]
            except KeyError:
                if not args.missing_ok:
                    raise fail(args.path, f"no key {key!r} in table {args.table!r}") from None
    finally:
        db.close()
    return 0
