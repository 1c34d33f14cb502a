"""The dictsqlite command line: `dictsqlite SUBCOMMAND ...` (the console
script) or `python -m dictsqlite SUBCOMMAND ...`. docs/cli.md describes
every command.

Exit codes: 0 ok, 1 error, 2 usage. Every error is one line on stderr,
"dictsqlite: <path>: <what>"; DICTSQLITE_DEBUG=1 adds the traceback."""
import argparse
import importlib
import os
import sys

from dictsqlite.cli._common import CliError, one_line

COMMANDS = ["info", "get", "set", "del", "keys", "dump", "load", "verify", "vacuum",
            "rekey", "migrate"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one line and exit code 2, like argparse, without the usage block
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see --help)\n")


def build_parser():
    import dictsqlite

    parser = _Parser(prog="dictsqlite", description="Inspect and maintain dictsqlite "
                     "database files.")
    parser.add_argument("--version", action="version",
                        version=f"dictsqlite {dictsqlite.__version__} "
                                f"(SQLite {dictsqlite.sqlite_version()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"dictsqlite.cli.cmd_{name}")
        module.register(sub)
    return parser


def main(argv=None):
    """Run one command; returns the exit code."""
    debug = os.environ.get("DICTSQLITE_DEBUG") == "1"
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.run(args) or 0
    except CliError as exc:
        if debug:
            raise
        print(f"dictsqlite: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dictsqlite: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dictsqlite keys db | head`: the reader has what it wanted. Point
        # stdout at nothing so the interpreter's final flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # one line, never a traceback
        if debug:
            raise
        path = getattr(args, "path", None) or getattr(args, "src", None)
        text = one_line(exc)
        if path and path not in text:
            text = f"{path}: {text}"
        print(f"dictsqlite: {text}", file=sys.stderr)
        return 1
