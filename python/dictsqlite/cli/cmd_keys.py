"""keys: one key per line, in key order."""
import sys

from dictsqlite.cli._common import add_password_args, iter_raw, open_readonly


def register(sub):
    p = sub.add_parser("keys", help="list keys, one per line",
                       description="Print the keys of a table, one per line, in key "
                       "order (UTF-8 byte order).")
    p.add_argument("path", help="the database file")
    p.add_argument("--table", default="main", help="the table (default: main)")
    p.add_argument("--prefix", help="only keys that start with PREFIX")
    p.add_argument("--limit", type=int, help="at most LIMIT keys")
    add_password_args(p)
    p.set_defaults(run=run)


def keys_of(table, prefix):
    if not prefix:
        yield from iter_raw(table, values=False)
        return
    # Keys that start with prefix form one run in key order, beginning at
    # prefix itself: start there, stop at the first key past it.
    if prefix in table:
        yield prefix
    after = prefix
    while True:
        page = table._raw_items(after=after, limit=1000, values=False)
        for key in page:
            if not key.startswith(prefix):
                return
            yield key
        if len(page) < 1000:
            return
        after = page[-1]


def run(args):
    # Only keys are read: an encrypted file's keys are plaintext, but the
    # engine opens it only with its password.
    db = open_readonly(args.path, args=args)
    out = sys.stdout
    try:
        table = db.table(args.table)
        for n, key in enumerate(keys_of(table, args.prefix)):
            if args.limit is not None and n >= args.limit:
                break
            out.write(key)
            out.write("\n")
    finally:
        db.close()
    return 0
