"""encryption_password: AES-256-GCM values, Argon2id key, checked at open."""
import sqlite3

import pytest

from dictsqlite import CorruptValueError, DictSQLiteV4

SECRET = "correct horse battery staple"


@pytest.mark.parametrize("mode", ["lazy", "writethrough"])
@pytest.mark.parametrize("storage", ["pickle", "json", "jsonb", "bytes"])
def test_encrypted_values_round_trip_and_are_not_stored_in_clear(db_path, mode, storage):
    value = b"top secret payload" if storage == "bytes" else {"secret": "top secret payload"}
    with DictSQLiteV4(db_path, persist_mode=mode, storage_mode=storage,
                      encryption_password=SECRET) as db:
        db["k"] = value
        assert db["k"] == value
        assert db.stats()["encryption_enabled"] is True
    raw = open(db_path, "rb").read()
    con = sqlite3.connect(db_path)
    (blob, codec), = con.execute("SELECT value, codec FROM kv WHERE key='k'").fetchall()
    con.close()
    assert b"top secret payload" not in raw and b"top secret payload" not in bytes(blob)
    assert codec & 0x10
    with DictSQLiteV4(db_path, persist_mode=mode, encryption_password=SECRET) as db:
        assert db["k"] == value          # cold read: decrypted
        assert db.items() == [("k", value)]


def test_wrong_password_fails_at_open_with_valueerror(db_path):
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        db["k"] = 1
    with pytest.raises(ValueError, match="wrong encryption_password"):
        DictSQLiteV4(db_path, encryption_password="not it")


def test_reading_encrypted_data_without_password_raises_valueerror(db_path):
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        db["k"] = 1
    with DictSQLiteV4(db_path) as db:
        with pytest.raises(ValueError, match="encrypted"):
            db["k"]


def test_ciphertext_moved_to_another_key_fails_authentication(db_path):
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        db["a"] = "value of a"
        db["b"] = "value of b"
    con = sqlite3.connect(db_path)
    con.execute("UPDATE kv SET value = (SELECT value FROM kv WHERE key='a') WHERE key='b'")
    con.commit()
    con.close()
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        assert db["a"] == "value of a"
        with pytest.raises(CorruptValueError, match="cannot decrypt"):
            db["b"]


def test_tampered_ciphertext_is_detected(db_path):
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        db["k"] = "payload"
    con = sqlite3.connect(db_path)
    blob = bytearray(con.execute("SELECT value FROM kv WHERE key='k'").fetchone()[0])
    blob[len(blob) // 2] ^= 1
    con.execute("UPDATE kv SET value=? WHERE key='k'", (bytes(blob),))
    con.commit()
    con.close()
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        with pytest.raises(CorruptValueError, match="cannot decrypt"):
            db["k"]


def test_keys_are_stored_in_plain_text(db_path):
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        db.table("users")["alice@example.com"] = "secret"
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT tbl, key FROM kv").fetchall() == [("users", "alice@example.com")]
    con.close()


def test_password_validation(tmp_path):
    with pytest.raises(ValueError, match="must not be empty"):
        DictSQLiteV4(str(tmp_path / "a.db"), encryption_password="")
    with pytest.raises(TypeError, match="str or bytes"):
        DictSQLiteV4(str(tmp_path / "a.db"), encryption_password=123)
    # memory mode takes a password, as the Rust package does, and says so
    with DictSQLiteV4(str(tmp_path / "a.db"), persist_mode="memory",
                      encryption_password="x") as db:
        db["k"] = 1
        assert db["k"] == 1
        assert db.stats()["encryption_enabled"] is True
    assert not (tmp_path / "a.db").exists()
    with DictSQLiteV4(str(tmp_path / "b.db"), encryption_password=b"bytes work too") as db:
        db["k"] = 1
    with DictSQLiteV4(str(tmp_path / "b.db"), encryption_password=b"bytes work too") as db:
        assert db["k"] == 1


def test_encryption_survives_eviction_and_many_values(db_path):
    with DictSQLiteV4(db_path, persist_mode="lazy", hot_capacity=20,
                      encryption_password=SECRET) as db:
        db.update({f"k{i}": {"i": i} for i in range(500)})
        db.flush()
        assert all(db[f"k{i}"] == {"i": i} for i in range(500))
    with DictSQLiteV4(db_path, encryption_password=SECRET) as db:
        assert len(db) == 500 and db["k499"] == {"i": 499}
