"""Command line: `python -m dictsqlite` (more commands arrive with later
releases, such as migrating files of the Rust package)."""
import argparse
import sys


def main(argv=None):
    import dictsqlite

    parser = argparse.ArgumentParser(prog="dictsqlite", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print versions")
    info = sub.add_parser("info", help="print the tables and sizes of a database")
    info.add_argument("path")
    args = parser.parse_args(argv)
    if args.command == "info":
        with dictsqlite.DictSQLiteV4(args.path, persist_mode="lazy") as db:
            for key, value in sorted(db.stats().items()):
                print(f"{key}: {value}")
        return 0
    print(f"dictsqlite {dictsqlite.__version__} (SQLite {dictsqlite.sqlite_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
