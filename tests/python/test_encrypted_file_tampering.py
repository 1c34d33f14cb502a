"""Someone who can write an encrypted database file but has no password must
not be able to make a read return a value of their choosing, least of all a
pickle that runs code: every value is authenticated with its table, key and
codec, and a plaintext row in an encrypted file is refused."""
import pickle
import sqlite3

import pytest

from dictsqlite import CorruptValueError, DictSQLiteV4

RAN = []


class Evil:
    def __reduce__(self):
        return (RAN.append, ("code ran",))


HOSTILE = pickle.dumps(Evil(), protocol=4)


def tamper(path, *statements):
    c = sqlite3.connect(path)
    for sql, args in statements:
        c.execute(sql, args)
    c.commit()
    c.close()


@pytest.mark.parametrize("storage", ["pickle", "jsonb", "bytes"])
def test_a_plaintext_row_planted_in_an_encrypted_file_is_refused(tmp_path, storage):
    path = str(tmp_path / "enc.db")
    with DictSQLiteV4(path, encryption_password="pw", storage_mode=storage) as db:
        db["ok"] = b"1" if storage == "bytes" else [1]
    tamper(path, ("INSERT INTO kv(tbl, key, codec, value) VALUES('main', 'planted', 1, ?)",
                  (HOSTILE,)))
    RAN.clear()
    with DictSQLiteV4(path, encryption_password="pw", storage_mode=storage) as db:
        with pytest.raises(CorruptValueError, match="planted.*not encrypted"):
            db["planted"]
        with pytest.raises(CorruptValueError, match="planted"):
            db.items()
        assert db["ok"] == (b"1" if storage == "bytes" else [1])
    assert RAN == []


def test_relabelling_the_codec_of_an_encrypted_value_is_detected(tmp_path):
    path = str(tmp_path / "enc.db")
    with DictSQLiteV4(path, encryption_password="pw") as db:
        db["upload"] = HOSTILE  # bytes from outside: stored as data, never unpickled
        assert db["upload"] == HOSTILE
    codec = sqlite3.connect(path).execute("SELECT codec FROM kv WHERE key='upload'").fetchone()[0]
    # clear the "pre-pickled bytes" flag, so the value would be unpickled
    tamper(path, ("UPDATE kv SET codec = ? WHERE key = 'upload'", (codec & ~0x40,)))
    RAN.clear()
    with DictSQLiteV4(path, encryption_password="pw") as db:
        with pytest.raises(CorruptValueError, match="upload"):
            db["upload"]
    assert RAN == []


def test_files_encrypted_before_the_codec_was_bound_still_open(tmp_path):
    """tests/data/encrypted_before_codec_binding.db was written by f76c608,
    which sealed table + key only and has no meta row "aad": it keeps
    reading, and new writes to it are sealed its way."""
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "data" / "encrypted_before_codec_binding.db"
    path = str(tmp_path / "old.db")
    shutil.copy(src, path)
    with DictSQLiteV4(path, encryption_password="pw") as db:
        assert dict(db.items()) == {"a": 1, "b": {"x": [1]}, "raw": b"data"}
        assert db.table("t")["k"] == "v"
        db["new"] = [2]
    with DictSQLiteV4(path, encryption_password="pw") as db:
        assert db["new"] == [2] and db["a"] == 1
    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM dictsqlite_meta")}
    assert "aad" not in names


def test_a_fresh_encrypted_file_records_its_layout_and_refuses_an_unknown_one(tmp_path):
    path = str(tmp_path / "enc.db")
    with DictSQLiteV4(path, encryption_password="pw") as db:
        db["a"] = 1
    rows = dict(sqlite3.connect(path).execute("SELECT name, value FROM dictsqlite_meta"))
    assert rows["aad"] in ("tbl,key,codec", b"tbl,key,codec")
    tamper(path, ("UPDATE dictsqlite_meta SET value = 'something,else' WHERE name = 'aad'", ()))
    with pytest.raises(OSError, match="unknown encryption layout"):
        DictSQLiteV4(path, encryption_password="pw")


def test_rekey_moves_an_old_file_to_the_codec_binding_layout_and_refuses_planted_rows(tmp_path):
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "data" / "encrypted_before_codec_binding.db"
    path = str(tmp_path / "old.db")
    shutil.copy(src, path)
    with DictSQLiteV4(path, encryption_password="pw") as db:
        db._rekey("pw2")
        assert db["a"] == 1
    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM dictsqlite_meta")}
    assert "aad" in names
    with DictSQLiteV4(path, encryption_password="pw2") as db:
        assert dict(db.items()) == {"a": 1, "b": {"x": [1]}, "raw": b"data"}
    # a planted plaintext row is not laundered into ciphertext by a rekey
    tamper(path, ("INSERT INTO kv(tbl, key, codec, value) VALUES('main', 'planted', 1, ?)",
                  (HOSTILE,)))
    with DictSQLiteV4(path, encryption_password="pw2") as db:
        with pytest.raises(CorruptValueError, match="planted"):
            db._rekey("pw3")
    with DictSQLiteV4(path, encryption_password="pw2") as db:
        assert db["a"] == 1
