"""The raw access API under the CLI and migration: _raw_items, _raw_get,
_raw_set_many and _raw_decode on DictSQLiteV4 and TableProxy. Payloads are
the stored bytes (decrypted), never decoded, so nothing is unpickled."""
import inspect
import pickle
import sqlite3

import pytest

from dictsqlite import DictSQLiteV4, CorruptValueError

from cli_helpers import Evil


def test_raw_items_gives_codec_and_stored_bytes_of_every_mode(tmp_path):
    path = str(tmp_path / "r.db")
    with DictSQLiteV4(path, storage_mode="json") as db:
        db["j"] = {"a": 1}
        db.table("t")["x"] = [1]
    with DictSQLiteV4(path, storage_mode="pickle") as db:
        db["p"] = {"a": 1}
        db["pp"] = pickle.dumps([1], protocol=4)
        db["raw"] = b"abc"
        db["evil"] = Evil(str(tmp_path / "PWNED"))
        items = db._raw_items()
        assert [(k, c) for k, c, _ in items] == [
            ("evil", "pickle"), ("j", "json"), ("p", "pickle"), ("pp", "prepickled"),
            ("raw", "bytes")]
        payloads = {k: p for k, _, p in items}
        assert payloads["j"] == b'{"a":1}'
        assert payloads["pp"] == pickle.dumps([1], protocol=4)
        assert pickle.loads(payloads["p"]) == {"a": 1}
        assert db.table("t")._raw_items() == [("x", "json", b"[1]")]
        assert db._raw_get("j") == ("json", b'{"a":1}')
        with pytest.raises(KeyError):
            db._raw_get("nope")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_raw_items_pages_with_after_and_limit(tmp_path, mode):
    db = DictSQLiteV4(str(tmp_path / "p.db"), persist_mode=mode, storage_mode="json")
    db.update({f"k{i:03d}": i for i in range(300)})
    got, after = [], None
    while True:
        page = db._raw_items(after=after, limit=64)
        got += page
        if len(page) < 64:
            break
        after = page[-1][0]
    assert [k for k, _, _ in got] == [f"k{i:03d}" for i in range(300)]
    assert db._raw_items(after="k100", limit=2, values=False) == ["k101", "k102"]
    assert db._raw_items(after="k299") == []
    db.close()


def test_raw_items_decrypts(tmp_path):
    path = str(tmp_path / "e.db")
    with DictSQLiteV4(path, storage_mode="json", encryption_password="pw") as db:
        db["a"] = [1, 2]
    with DictSQLiteV4(path, encryption_password="pw") as db:
        assert db._raw_items() == [("a", "json", b"[1,2]")]
        assert db._raw_get("a") == ("json", b"[1,2]")
    with DictSQLiteV4(path, read_only=True) as db:  # no password: refused, not ciphertext
        with pytest.raises(ValueError, match="encrypted"):
            db._raw_items()


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_raw_set_many_stores_triples_exactly_and_reads_decode_them(tmp_path, mode):
    path = str(tmp_path / "s.db")
    src = str(tmp_path / "src.db")
    with DictSQLiteV4(src, storage_mode="pickle") as db:
        db.update({"obj": {"a": (1, 2)}, "pp": pickle.dumps({"z": 1}, protocol=4)})
        triples = db._raw_items()
    triples += [("j", "json", b'{"b":[1,2.5]}'), ("js", "json", b'"s"'),
                ("m", "msgpack", b"\x93\x01\x02\x03"), ("b", "bytes", b"\x00" * 3000)]
    db = DictSQLiteV4(path, persist_mode=mode)
    db["j"] = "old, cached in the hot tier"
    assert db["j"] == "old, cached in the hot tier"
    db._raw_set_many(triples)
    assert db["j"] == {"b": [1, 2.5]} and db["js"] == "s" and db["m"] == [1, 2, 3]
    assert db["obj"] == {"a": (1, 2)} and db["pp"] == {"z": 1} and db["b"] == b"\x00" * 3000
    assert sorted(db._raw_items()) == sorted(triples)
    db.close()
    if mode != "memory":
        with DictSQLiteV4(path) as again:
            assert sorted(again._raw_items()) == sorted(triples)


def test_raw_set_many_encrypts_when_the_database_has_a_password(tmp_path):
    path = str(tmp_path / "enc.db")
    with DictSQLiteV4(path, encryption_password="pw") as db:
        db.table("t")._raw_set_many([("k", "json", b'{"secret":1}')])
    con = sqlite3.connect(path)
    codec, value = con.execute("SELECT codec, value FROM kv WHERE key='k'").fetchone()
    con.close()
    assert codec & 0x10 and b"secret" not in value
    with DictSQLiteV4(path, encryption_password="pw") as db:
        assert db.table("t")["k"] == {"secret": 1}


def test_raw_set_many_is_all_or_nothing_and_names_what_is_wrong(tmp_path):
    db = DictSQLiteV4(str(tmp_path / "v.db"))
    good = ("ok", "json", b"1")
    cases = [
        ([good, ("k", "yaml", b"1")], ValueError, "codec of key 'k'"),
        ([good, ("k", "json", b"\xff")], ValueError, "not valid UTF-8"),
        ([good, ("k", "bytes", "str")], TypeError, "payload of key 'k'"),
        ([good, (1, "bytes", b"")], TypeError, "key of item #1"),
        ([good, ("k", "bytes")], ValueError, "item #1"),
    ]
    for items, exc, match in cases:
        with pytest.raises(exc, match=match):
            db._raw_set_many(items)
        assert "ok" not in db
    db._raw_set_many([])
    db.close()


def test_raw_decode_decodes_json_msgpack_bytes_and_refuses_pickles(tmp_path):
    with DictSQLiteV4(str(tmp_path / "d.db")) as db:
        assert db._raw_decode("json", b'{"a":[1]}') == {"a": [1]}
        assert db._raw_decode("msgpack", b"\x92\x01\xa1x") == [1, "x"]
        assert db._raw_decode("bytes", b"\x00") == b"\x00"
        with pytest.raises(ValueError, match="does not unpickle"):
            db._raw_decode("pickle", pickle.dumps(1))
        with pytest.raises(CorruptValueError, match="'k'"):
            db._raw_decode("json", b"{bad", "k")


def test_the_raw_methods_have_text_signatures(tmp_path):
    with DictSQLiteV4(str(tmp_path / "s.db")) as db:
        for obj in (db, db.table("t")):
            assert str(inspect.signature(obj._raw_items)) == "(after=None, limit=-1, values=True)"
            assert str(inspect.signature(obj._raw_set_many)) == "(items, /)"
            assert str(inspect.signature(obj._raw_get)) == "(key, /)"
            assert str(inspect.signature(obj._raw_decode)) == "(codec, payload, key=None, /)"
