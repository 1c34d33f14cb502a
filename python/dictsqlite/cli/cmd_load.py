"""load: read a dump (cmd_dump's JSON Lines) back in, in batches: each batch
of --batch entries of one table is one _raw_set_many call, one
transaction."""
import os
import sys

from dictsqlite.cli._common import BATCH, CliError, add_password_args, open_writable, progress
from dictsqlite.cli.cmd_dump import DumpError, decode_line


def register(sub):
    p = sub.add_parser("load", help="read a dump back in",
                       description="Read a dump made by 'dictsqlite dump' (a file, or '-' "
                       "for stdin) into the database, every value with the codec and the "
                       "bytes it had. Batches of --batch entries are committed one "
                       "transaction each. A missing database is created.")
    p.add_argument("path", help="the database file (created if missing)")
    p.add_argument("dump", nargs="?", default="-", help="the dump file (default: stdin)")
    p.add_argument("--table", help="load every entry into this table instead")
    p.add_argument("--batch", type=int, default=BATCH, help=f"entries per transaction "
                   f"(default: {BATCH})")
    add_password_args(p)
    p.set_defaults(run=run)


def run(args):
    if args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    if args.dump == "-":
        src, total, name = sys.stdin, None, "<stdin>"
    else:
        name = args.dump
        try:
            src = open(args.dump, encoding="utf-8", newline="\n")
        except OSError as exc:
            raise CliError(f"{args.dump}: cannot read: {exc.strerror}") from None
        total = os.path.getsize(args.dump)
    db = open_writable(args.path, args, create=True)
    pending = {}
    entries = 0
    tables = set()

    def commit(table):
        items = pending.pop(table, None)
        if items:
            db.table(table)._raw_set_many(items)

    try:
        with progress(total, "load") as bar:
            for lineno, line in enumerate(src, 1):
                try:
                    got = decode_line(line)
                except DumpError as exc:
                    raise CliError(f"{name}:{lineno}: {exc}") from None
                except UnicodeDecodeError:
                    raise CliError(f"{name}:{lineno}: not UTF-8") from None
                if total is not None:
                    bar.update(len(line.encode("utf-8")))
                if got is None:
                    continue
                table, key, codec, payload = got
                table = args.table or table
                batch = pending.setdefault(table, [])
                batch.append((key, codec, payload))
                entries += 1
                tables.add(table)
                if total is None:
                    bar.update(1)
                if len(batch) >= args.batch:
                    commit(table)
            for table in list(pending):
                commit(table)
    finally:
        if src is not sys.stdin:
            src.close()
        db.close()
    print(f"loaded {entries} entries into {len(tables)} table{'s' if len(tables) != 1 else ''}")
    return 0
