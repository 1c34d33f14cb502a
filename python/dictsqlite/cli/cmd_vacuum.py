"""vacuum: VACUUM the file and truncate its WAL, printing the sizes before
and after. Works on the SQLite level (no value is read), so it needs no
password."""
import os
import sqlite3

from dictsqlite.cli._common import CliError, connect_ro, fail, progress


def register(sub):
    p = sub.add_parser("vacuum", help="compact the file and truncate its WAL",
                       description="Rebuild the file without free pages (SQLite VACUUM), "
                       "then checkpoint and truncate the WAL (unless --keep-wal). Prints "
                       "the sizes before and after. Writes still pending in another "
                       "process (lazy mode) are that process's to flush.")
    p.add_argument("path", help="the database file")
    p.add_argument("--keep-wal", action="store_true", help="skip wal_checkpoint(TRUNCATE)")
    p.set_defaults(run=run)


def sizes(path):
    wal = path + "-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


def run(args):
    con, _ = connect_ro(args.path)  # exists, and is a dictsqlite file
    con.close()
    before = sizes(args.path)
    try:
        con = sqlite3.connect(args.path, timeout=5.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise fail(args.path, f"cannot open: {exc}") from None
    try:
        with progress(None, "vacuum") as bar:
            # VACUUM is one statement: the handler shows that it is working
            con.set_progress_handler(lambda: bar.update(1), 100_000)
            con.execute("VACUUM")
            if not args.keep_wal:
                busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if busy:
                    raise CliError(f"{args.path}: vacuumed, but the WAL could not be "
                                   "truncated: another connection is reading")
            con.set_progress_handler(None, 0)
    except sqlite3.OperationalError as exc:
        raise fail(args.path, f"cannot vacuum: {exc}") from None
    finally:
        con.close()
    after = sizes(args.path)
    print(f"before: {sum(before)} bytes (file {before[0]}, wal {before[1]})")
    print(f"after: {sum(after)} bytes (file {after[0]}, wal {after[1]})")
    return 0
