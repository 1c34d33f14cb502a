"""migrate: a thin wrapper over dictsqlite.migrate.migrate (written with the
migration work; docs/cli.md names the formats)."""
import importlib.util

from dictsqlite.cli._common import (ENV_DST_PASSWORD, ENV_PASSWORD, CliError,
                                    add_password_args, get_password, progress)

FORMATS = ["auto", "rust", "sqlitedict", "shelve", "dbm"]


def register(sub):
    p = sub.add_parser("migrate", help="convert another format into a dictsqlite file",
                       description="Copy every entry of SRC (a Rust dictsqlite 2.x file, "
                       "a sqlitedict file, or a shelve/dbm file) into DST.")
    p.add_argument("src", help="the file to read")
    p.add_argument("dst", help="the dictsqlite file to write")
    p.add_argument("--from", dest="source_format", choices=FORMATS, default="auto",
                   help="the format of SRC (default: auto)")
    p.add_argument("--table", help="the table of SRC to migrate (default: all)")
    p.add_argument("--storage-mode", choices=["auto", "pickle", "json", "jsonb", "bytes"],
                   default="auto", help="Rust files only: the storage mode they were "
                   "written in (default: inferred per table from its values)")
    p.add_argument("--keep-prefixes", action="store_true",
                   help="Rust files only: keep 'table:key' keys of the main table as "
                   "they are, instead of splitting them into tables")
    add_password_args(p, env=ENV_PASSWORD, what="SRC")
    add_password_args(p, prefix="dst-", env=ENV_DST_PASSWORD, what="DST")
    p.set_defaults(run=run)


def run(args):
    if importlib.util.find_spec("dictsqlite.migrate") is None:
        raise CliError("migrate: this installation has no dictsqlite.migrate module")
    from dictsqlite.migrate import migrate

    # no existence check here: a dbm.dumb file is named by its base name,
    # which exists only as NAME.dir and NAME.dat; migrate() names what is missing
    password = get_password(args, env=ENV_PASSWORD, label="password of SRC")
    dst_password = get_password(args, prefix="dst-", env=ENV_DST_PASSWORD, confirm=True,
                                label="password of DST")
    with progress(None, "migrate") as bar:
        result = migrate(args.src, args.dst, source_format=args.source_format,
                         password=password, dst_password=dst_password, table=args.table,
                         progress=bar.callback, storage_mode=args.storage_mode,
                         split_tables=not args.keep_prefixes)
    tables = result.get("tables")
    n_tables = tables if isinstance(tables, int) else len(tables or ())
    print(f"migrated {result.get('entries')} entries in {n_tables} tables "
          f"({result.get('format')}) from {args.src} to {args.dst}")
    return 0
