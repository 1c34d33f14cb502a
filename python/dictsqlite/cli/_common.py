"""What the subcommands share: the error type, passwords, the progress bar,
opening a database (read-only or for writing) and walking its raw rows."""
import contextlib
import getpass
import os
import sqlite3
import sys
import time
import urllib.parse

ENV_PASSWORD = "DICTSQLITE_PASSWORD"
ENV_DST_PASSWORD = "DICTSQLITE_DST_PASSWORD"

# Rows per _raw_items / _raw_set_many call: one SQLite page walk or one
# transaction each, large enough that the per-call cost is noise.
BATCH = 1000

# The CLI reads through SQLite pages, so a large hot tier only costs memory.
HOT_CAPACITY = 10_000


class CliError(Exception):
    """A failure to report as one line on stderr (exit code 1)."""


def fail(path, what):
    return CliError(f"{path}: {what}")


# ---- passwords -------------------------------------------------------------


def add_password_args(parser, *, prefix="", env=ENV_PASSWORD, what="the database"):
    """--[prefix]password-file FILE and --[prefix]password (a flag: prompt).
    A password is never taken as a value on the command line."""
    parser.add_argument(f"--{prefix}password-file", metavar="FILE",
                        dest=f"{prefix.replace('-', '_')}password_file",
                        help=f"read the password of {what} from FILE (first line)")
    parser.add_argument(f"--{prefix}password", action="store_true",
                        dest=f"{prefix.replace('-', '_')}password",
                        help=f"prompt for the password of {what} (also: env {env})")


def _read_password_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise fail(path, f"cannot read the password file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise fail(path, "the password file is not UTF-8 text") from None
    # the first line, without its newline: `echo secret > pw` works
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line:
        raise fail(path, "the password file is empty")
    return line


def _prompt(label, confirm):
    if not sys.stdin.isatty():
        raise CliError(f"cannot prompt for {label}: stdin is not a terminal "
                       "(use --password-file or the environment variable)")
    shown = label[:1].upper() + label[1:]
    try:
        first = getpass.getpass(f"{shown}: ")
        if confirm and getpass.getpass(f"{shown} (again): ") != first:
            raise CliError(f"the two entries of {label} differ")
    except EOFError:
        raise CliError(f"no {label} entered") from None
    if not first:
        raise CliError(f"{label} is empty")
    return first


def get_password(args, *, confirm=False, prefix="", env=ENV_PASSWORD, encrypted=False,
                 label="password"):
    """The password from, in order: --password-file, the environment
    variable, a prompt (when --password was given, or when the file is
    encrypted and stdin is a terminal). None when none applies."""
    attr = prefix.replace("-", "_")
    path = getattr(args, f"{attr}password_file", None)
    if path:
        return _read_password_file(path)
    value = os.environ.get(env)
    if value:
        return value
    if getattr(args, f"{attr}password", False) or (encrypted and sys.stdin.isatty()):
        return _prompt(label, confirm)
    return None


# ---- progress --------------------------------------------------------------


class _Progress:
    def __init__(self, total, label, stream):
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream
        self.drawn = False
        self.last = 0.0

    def update(self, n=1):
        self.done += n
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and (self.total is None or self.done < self.total):
            return
        self.last = now
        self._draw()

    def _draw(self):
        if self.total:
            frac = min(1.0, self.done / self.total)
            width = 30
            bar = "#" * int(frac * width)
            text = (f"\r{self.label} [{bar:<{width}}] {frac * 100:5.1f}% "
                    f"{self.done}/{self.total}")
        else:
            text = f"\r{self.label} {self.done}"
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def callback(self, done, total=None):
        """As a progress(done, total) callable (migrate's)."""
        if total is not None:
            self.total = total
        self.update(done - self.done)

    def close(self):
        if self.stream is not None and self.drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


@contextlib.contextmanager
def progress(total, label):
    """A progress bar on stderr while the block runs, only when stderr is a
    terminal: piped or redirected, nothing is printed. Yields an object with
    update(n)."""
    stream = sys.stderr if sys.stderr.isatty() else None
    bar = _Progress(total, label, stream)
    try:
        yield bar
    finally:
        bar.close()


# ---- opening files ---------------------------------------------------------


def _check_exists(path):
    if not os.path.exists(path):
        raise fail(path, "no such file")
    if os.path.isdir(path):
        raise fail(path, "is a directory, not a database file")


def connect_ro(path):
    """A Python sqlite3 connection that reads path without writing to it or
    beside it, as the C store opens read-only files: with no -wal/-shm
    present, immutable=1 (no locks, no side files); else mode=ro, which only
    uses the ones there."""
    _check_exists(path)
    in_use = os.path.exists(path + "-wal") or os.path.exists(path + "-shm")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    uri += "?mode=ro" if in_use else "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
        names = {r[0] for r in con.execute(
            "SELECT lower(name) FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise fail(path, f"cannot read it as SQLite: {exc}") from None
    if "kv" not in names:
        con.close()
        if "kv_store" in names:
            raise fail(path, "was written by the Rust dictsqlite package (table kv_store); "
                             f"convert it first: dictsqlite migrate {path} NEW.db")
        raise fail(path, "is not a dictsqlite database (it has no table kv)")
    return con, names


def meta(con):
    try:
        return {name: value for name, value in
                con.execute("SELECT name, value FROM dictsqlite_meta")}
    except sqlite3.DatabaseError:
        return {}


def is_encrypted(path):
    con, _ = connect_ro(path)
    try:
        return "key_check" in meta(con)
    finally:
        con.close()


def _open(path, password, **kw):
    import dictsqlite

    try:
        return dictsqlite.DictSQLiteV4(path, encryption_password=password, enable_async=False,
                                       hot_capacity=HOT_CAPACITY, **kw)
    except (OSError, ValueError) as exc:
        raise fail(path, one_line(exc)) from None


def _need_password(path, args, prefix, env, confirm=False):
    encrypted = is_encrypted(path)
    password = get_password(args, prefix=prefix, env=env, encrypted=encrypted,
                            confirm=confirm)
    if encrypted and password is None:
        raise fail(path, "is encrypted: give its password with --password-file FILE, "
                         f"the environment variable {env}, or --password (prompt)")
    return password if encrypted else None


def open_readonly(path, password=None, *, args=None, prefix="", env=ENV_PASSWORD):
    """DictSQLiteV4 on an existing file, read-only: nothing is created or
    written (no -wal/-shm/-dsgen left behind). A missing path is a
    CliError "no such file". With args, the password comes from them when
    the file is encrypted."""
    _check_exists(path)
    if password is None and args is not None:
        password = _need_password(path, args, prefix, env)
    return _open(path, password, read_only=True, persist_mode="writethrough")


def open_writable(path, args, *, create=False, prefix="", env=ENV_PASSWORD, **kw):
    """DictSQLiteV4 for writing (writethrough: every batch is one commit).
    An existing file must exist unless create is set; a new file gets a
    password (encrypted) when one is given."""
    if os.path.exists(path):
        password = _need_password(path, args, prefix, env)
    elif create:
        password = get_password(args, prefix=prefix, env=env, confirm=True)
    else:
        raise fail(path, "no such file")
    return _open(path, password, persist_mode="writethrough", **kw)


def one_line(exc):
    """An exception as one line, without Python's repr noise."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    elif isinstance(exc, KeyError) and exc.args:
        text = f"no such key: {exc.args[0]!r}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


# ---- walking raw rows --------------------------------------------------------


def iter_raw(mapping, *, values=True, batch=BATCH):
    """Every (key, codec, payload) of a table (or its keys, values=False),
    a page of SQLite at a time."""
    after = None
    while True:
        page = mapping._raw_items(after=after, limit=batch, values=values)
        if not page:
            return
        yield from page
        last = page[-1]
        after = last[0] if values else last
        if len(page) < batch:
            return


def table_names(db, wanted=None):
    names = db.tables()
    if wanted is None:
        return names
    return [wanted]


def write_line(out, text):
    out.write(text)
    out.write("\n")
