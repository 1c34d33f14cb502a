"""verify: PRAGMA integrity_check, then every value of every table is
decrypted and decoded. Pickles are checked structurally (pickletools walks
the opcodes; nothing runs) unless --unpickle, which loads them with the safe
policy. Each failing key is named on stderr; exit 1 if any failed."""
import pickletools
import sys

from dictsqlite.cli._common import (BATCH, add_password_args, connect_ro, one_line,
                                    open_readonly, progress)
from dictsqlite.cli.cmd_get import unpickle_safely


def register(sub):
    p = sub.add_parser("verify", help="check the file and every value",
                       description="Run SQLite's integrity_check, then decrypt and decode "
                       "every value of every table (pickles: structurally, unless "
                       "--unpickle). Names each failing key on stderr; exits 1 if any "
                       "check failed.")
    p.add_argument("path", help="the database file")
    p.add_argument("--table", help="only this table")
    p.add_argument("--unpickle", action="store_true",
                   help="load pickles with the safe policy (a refused global fails)")
    add_password_args(p)
    p.set_defaults(run=run)


def check_value(table, key, codec, payload, unpickle):
    """None if the value reads back, else what is wrong."""
    try:
        if codec == "prepickled":
            # read back through the restricted unpickler, or as the bytes
            # themselves: every payload is readable
            return None
        if codec == "pickle":
            if unpickle:
                unpickle_safely(codec, payload, key)
            else:
                ops = list(pickletools.genops(payload))
                if not ops or ops[-1][0].name != "STOP":
                    return "the pickle does not end with STOP"
            return None
        table._raw_decode(codec, payload, key)
        return None
    except Exception as exc:
        return one_line(exc)


class Verifier:
    def __init__(self, path, unpickle):
        self.path = path
        self.unpickle = unpickle
        self.checked = 0
        self.failed = 0

    def report(self, table_name, key, what):
        self.failed += 1
        print(f"dictsqlite: {self.path}: table {table_name!r}, key {key!r}: {what}",
              file=sys.stderr)

    def check(self, table, name, key, codec, payload):
        self.checked += 1
        what = check_value(table, key, codec, payload, self.unpickle)
        if what:
            self.report(name, key, what)

    def table(self, table, name, bar):
        after = None
        while True:
            try:
                page = table._raw_items(after=after, limit=BATCH)
            except (ValueError, OSError):
                # A value that cannot be decrypted (or has an unknown codec)
                # stops the page walk: check that page key by key.
                keys = table._raw_items(after=after, limit=BATCH, values=False)
                for key in keys:
                    try:
                        codec, payload = table._raw_get(key)
                    except Exception as exc:
                        self.checked += 1
                        self.report(name, key, one_line(exc))
                    else:
                        self.check(table, name, key, codec, payload)
                    bar.update(1)
                if len(keys) < BATCH:
                    return
                after = keys[-1]
                continue
            for key, codec, payload in page:
                self.check(table, name, key, codec, payload)
                bar.update(1)
            if len(page) < BATCH:
                return
            after = page[-1][0]


def integrity(path):
    con, _ = connect_ro(path)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()
    return [] if rows == ["ok"] else rows


def run(args):
    problems = integrity(args.path)
    for line in problems:
        print(f"dictsqlite: {args.path}: integrity_check: {line}", file=sys.stderr)
    v = Verifier(args.path, args.unpickle)
    db = open_readonly(args.path, args=args)
    try:
        names = [args.table] if args.table else db.tables()
        total = sum(len(db.table(n)) for n in names)
        with progress(total, "verify") as bar:
            for name in names:
                v.table(db.table(name), name, bar)
    finally:
        db.close()
    if problems or v.failed:
        print(f"FAILED: {v.failed} of {v.checked} values in {len(names)} tables"
              + (f", integrity_check: {len(problems)} problems" if problems else ""))
        return 1
    print(f"ok: {v.checked} values in {len(names)} tables, integrity_check ok")
    return 0
