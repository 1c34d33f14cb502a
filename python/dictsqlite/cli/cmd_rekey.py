"""rekey: change the password, encrypt a plaintext file in place, or
decrypt one (--decrypt), in one transaction (DictSQLiteV4._rekey): on an
error or a crash the file stays as it was."""
import fcntl
import os
import struct

from dictsqlite.cli._common import (ENV_PASSWORD, CliError, _open, add_password_args, fail,
                                    get_password, is_encrypted)

ENV_NEW_PASSWORD = "DICTSQLITE_NEW_PASSWORD"

# SQLite's unix VFS keeps a shared lock on this byte of the -shm file for as
# long as a connection has the WAL index open (UNIX_SHM_DMS: (22 + 8) * 4 +
# 8). F_GETLK reports only other processes' locks, so it tells whether
# another process has the file open, without disturbing it.
SHM_DMS_BYTE = 128


def register(sub):
    p = sub.add_parser("rekey", help="change the password, encrypt or decrypt in place",
                       description="Re-encrypt every value under a new password, encrypt a "
                       "plaintext file in place, or with --decrypt store every value in "
                       "plain text. One transaction: on an error or a crash the file stays "
                       "as it was. Refused while another process has the file open.")
    p.add_argument("path", help="the database file")
    p.add_argument("--decrypt", action="store_true", help="remove the encryption")
    add_password_args(p, what="the database (its current password)")
    add_password_args(p, prefix="new-", env=ENV_NEW_PASSWORD, what="the new password")
    p.set_defaults(run=run)


def other_process_pid(path):
    """The pid of another process that has path open (through SQLite's WAL
    index), or None. Linux/Unix only; a file without -shm has no open WAL
    connection."""
    try:
        fd = os.open(path + "-shm", os.O_RDONLY)
    except OSError:
        return None
    try:
        lock = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, SHM_DMS_BYTE, 1, 0)
        got = fcntl.fcntl(fd, fcntl.F_GETLK, lock)
        l_type, _, _, _, pid = struct.unpack("hhqqi", got)
        return pid if l_type != fcntl.F_UNLCK else None
    except OSError:
        return None
    finally:
        os.close(fd)


def run(args):
    path = args.path
    encrypted = is_encrypted(path)  # exists, and is a dictsqlite file
    if args.decrypt and not encrypted:
        raise fail(path, "is not encrypted: there is nothing to decrypt")
    old = None
    if encrypted:
        old = get_password(args, encrypted=True, label="current password")
        if old is None:
            raise fail(path, "is encrypted: give its current password with "
                             f"--password-file FILE, {ENV_PASSWORD} or --password (prompt)")
    new = None
    if not args.decrypt:
        new = get_password(args, prefix="new-", env=ENV_NEW_PASSWORD, confirm=True,
                           encrypted=True, label="new password")
        if new is None:
            raise CliError("rekey needs the new password: --new-password-file FILE, "
                           f"{ENV_NEW_PASSWORD} or --new-password (prompt); or --decrypt")
    db = _open(path, old, persist_mode="writethrough")
    try:
        pid = other_process_pid(path)
        if pid is not None:
            raise fail(path, f"is open in another process (pid {pid}); close it first, "
                             "since it would keep the old key")
        try:
            db._rekey(new)
        except (OSError, ValueError) as exc:
            raise fail(path, f"not rekeyed, the file is unchanged: {exc}") from None
    finally:
        db.close()
    what = "decrypted" if args.decrypt else ("rekeyed" if encrypted else "encrypted")
    print(f"{path}: {what}")
    return 0
