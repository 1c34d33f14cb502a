"""dictsqlite.migrate on committed files made by the real libraries
(scripts/make_migration_fixtures.py): every value compared with what the
writing library itself reads back."""
import os
import pickle
import shutil
import sqlite3

import pytest

from dictsqlite import DictSQLiteV4
from dictsqlite.migrate import MigrationError, detect, migrate

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "migrate")
PASSWORD = "s3cret pass"

# fixture name -> (file to migrate, its format, migrate() keywords)
FIXTURES = {
    "rust_pickle": ("rust_pickle.db", "rust", {}),
    "rust_json": ("rust_json.db", "rust", {}),
    "rust_jsonb": ("rust_jsonb.db", "rust", {}),
    "rust_bytes": ("rust_bytes.db", "rust", {}),
    "rust_separate": ("rust_separate.db", "rust", {}),
    "rust_encrypted": ("rust_encrypted.db", "rust", {"password": PASSWORD}),
    "rust_encrypted_json": ("rust_encrypted_json.db", "rust", {"password": PASSWORD}),
    "sqlitedict": ("sqlitedict.sqlite", "sqlitedict", {}),
    "shelve_sqlite3": ("shelve_sqlite3.sqlite3", "shelve", {}),
    "shelve_dumb": ("shelve_dumb", "shelve", {}),
    "dbm_sqlite3": ("dbm_sqlite3.sqlite3", "dbm", {}),
    "dbm_dumb": ("dbm_dumb", "dbm", {}),
}
CODEC = {"rust_pickle": "pickle", "rust_json": "json", "rust_jsonb": "jsonb",
         "rust_bytes": "bytes", "rust_separate": "pickle", "rust_encrypted": "pickle",
         "rust_encrypted_json": "json", "shelve_sqlite3": "pickle", "shelve_dumb": "pickle",
         "dbm_sqlite3": "bytes", "dbm_dumb": "bytes"}


def expected(name):
    with open(os.path.join(DATA, name + ".expected.pickle"), "rb") as f:
        return pickle.load(f)


def copy_fixture(name, tmp_path):
    """Migrate from a copy: the committed file must never be touched."""
    fname = FIXTURES[name][0]
    for f in os.listdir(DATA):
        if f == fname or f.startswith(fname + "."):
            shutil.copy(os.path.join(DATA, f), tmp_path / f)
    return str(tmp_path / fname)


def contents(path, tables, **kw):
    with DictSQLiteV4(path, **kw) as db:
        return {t: dict(db.table(t).items()) for t in tables}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_value_survives_the_migration(name, tmp_path):
    src = copy_fixture(name, tmp_path)
    _file, fmt, kw = FIXTURES[name]
    exp = expected(name)
    assert exp["format"] == fmt
    dst = str(tmp_path / "new.db")
    report = migrate(src, dst, **kw)
    assert report["format"] == fmt
    assert report["tables"] == {t: len(v) for t, v in exp["tables"].items() if v}
    assert report["entries"] == sum(len(v) for v in exp["tables"].values())
    if name in CODEC:
        assert set(report["storage_modes"].values()) == {CODEC[name]}
    got = contents(dst, exp["tables"])
    if name in CODEC:  # every value kept its codec (a pickle table's non-pickle bytes: bytes)
        codec = {"jsonb": "msgpack"}.get(CODEC[name], CODEC[name])
        with DictSQLiteV4(dst, encryption_password=kw.get("dst_password")) as db:
            for table, items in exp["tables"].items():
                for key, c, _payload in db.table(table)._raw_items():
                    want = "bytes" if codec == "pickle" and name == "rust_pickle" and \
                        key == "b" else codec
                    assert c == want, (table, key, c)
    for table, items in exp["tables"].items():
        assert sorted(got[table]) == sorted(items), table
        for key, value in items.items():
            assert got[table][key] == value and type(got[table][key]) is type(value), \
                (table, key, got[table][key], value)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_detect_names_the_format(name, tmp_path):
    assert detect(copy_fixture(name, tmp_path)) == FIXTURES[name][1]


def test_the_source_is_left_byte_for_byte_as_it_was(tmp_path):
    src = copy_fixture("rust_pickle", tmp_path)
    before = open(src, "rb").read()
    names = sorted(os.listdir(tmp_path))
    migrate(src, str(tmp_path / "new.db"))
    assert open(src, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == sorted(names + ["new.db"])


def test_pickles_are_copied_as_the_same_bytes_never_loaded(tmp_path):
    src = copy_fixture("rust_pickle", tmp_path)
    dst = str(tmp_path / "new.db")
    migrate(src, dst)
    old = dict(sqlite3.connect(src).execute("SELECT key, value FROM kv_store"))
    new = {(t, k): bytes(v) for t, k, v in sqlite3.connect(dst).execute(
        "SELECT tbl, key, value FROM kv")}
    for key, value in old.items():
        table, sep, rest = key.partition(":")
        where = (table, rest) if sep else ("main", key)
        assert new[where] == bytes(value), where


def test_a_pickle_that_would_run_code_is_copied_but_not_run(tmp_path):
    # A shelve whose value calls os.system when loaded: migrating must not
    # load it (the marker file would appear).
    import dbm.dumb

    marker = tmp_path / "ran"
    evil = b"\x80\x02cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    base = str(tmp_path / "evil")
    with dbm.dumb.open(base, "c") as d:
        d[b"k"] = evil
    dst = str(tmp_path / "new.db")
    report = migrate(base, dst, source_format="shelve")
    assert report["entries"] == 1
    assert not marker.exists()
    con = sqlite3.connect(dst)
    assert bytes(con.execute("SELECT value FROM kv").fetchone()[0]) == evil
    con.close()
    assert not marker.exists()


def test_rust_encrypted_without_password_names_file_table_and_key(tmp_path):
    src = copy_fixture("rust_encrypted", tmp_path)
    dst = tmp_path / "new.db"
    with pytest.raises(MigrationError, match="encrypted") as info:
        migrate(src, str(dst))
    assert src in str(info.value) and "table " in str(info.value) and "key " in str(info.value)
    assert info.value.key is not None
    assert os.listdir(tmp_path) == ["rust_encrypted.db"]


def test_rust_wrong_password_fails_before_anything_is_written(tmp_path):
    src = copy_fixture("rust_encrypted", tmp_path)
    with pytest.raises(MigrationError, match="wrong password"):
        migrate(src, str(tmp_path / "new.db"), password="not it")
    assert os.listdir(tmp_path) == ["rust_encrypted.db"]


def test_dst_password_encrypts_the_destination(tmp_path):
    src = copy_fixture("rust_json", tmp_path)
    dst = str(tmp_path / "new.db")
    migrate(src, dst, dst_password="new pass")
    exp = expected("rust_json")["tables"]
    assert contents(dst, exp, encryption_password="new pass") == exp
    raw = open(dst, "rb").read()
    assert b"\\u00e9t\\u00e9" not in raw and "été".encode() not in raw
    with pytest.raises(ValueError):
        with DictSQLiteV4(dst) as db:
            db["s"]


def test_table_copies_only_that_table(tmp_path):
    src = copy_fixture("rust_pickle", tmp_path)
    dst = str(tmp_path / "new.db")
    report = migrate(src, dst, table="users")
    assert report["tables"] == {"users": 2}
    assert contents(dst, ["users", "main"]) == {
        "users": expected("rust_pickle")["tables"]["users"], "main": {}}


def test_split_tables_false_keeps_prefixed_keys_in_main(tmp_path):
    src = copy_fixture("rust_pickle", tmp_path)
    dst = str(tmp_path / "new.db")
    report = migrate(src, dst, split_tables=False)
    assert list(report["tables"]) == ["main"]
    with DictSQLiteV4(dst) as db:
        assert db["users:alice"] == {"age": 30}


def test_rust_storage_mode_given_checks_every_value(tmp_path):
    src = copy_fixture("rust_bytes", tmp_path)
    with pytest.raises(MigrationError, match="not valid json"):
        migrate(src, str(tmp_path / "new.db"), storage_mode="json")
    report = migrate(src, str(tmp_path / "new.db"), storage_mode="bytes")
    assert set(report["storage_modes"].values()) == {"bytes"}


def test_progress_counts_up_to_the_total(tmp_path):
    src = copy_fixture("rust_pickle", tmp_path)
    calls = []
    report = migrate(src, str(tmp_path / "new.db"), progress=lambda d, t: calls.append((d, t)))
    n = report["entries"]
    assert calls[0] == (0, n) and calls[-1] == (n, n)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_destination_with_data_is_refused_and_untouched(tmp_path):
    src = copy_fixture("sqlitedict", tmp_path)
    dst = tmp_path / "taken.db"
    dst.write_bytes(b"precious")
    with pytest.raises(MigrationError, match="taken.db.*not empty"):
        migrate(src, str(dst))
    assert dst.read_bytes() == b"precious"


def test_an_empty_destination_is_used_and_left_empty_on_failure(tmp_path):
    src = copy_fixture("rust_encrypted", tmp_path)
    dst = tmp_path / "empty.db"
    dst.touch()
    with pytest.raises(MigrationError):
        migrate(src, str(dst))  # no password
    assert dst.exists() and dst.stat().st_size == 0
    assert sorted(os.listdir(tmp_path)) == ["empty.db", "rust_encrypted.db"]
    migrate(src, str(dst), password=PASSWORD)
    assert contents(str(dst), ["users"])["users"] == {"alice": {"age": 30}}


def test_a_bad_value_is_named_before_anything_is_written(tmp_path):
    # A sqlitedict table whose second value is neither pickle nor JSON.
    src = str(tmp_path / "bad.sqlite")
    con = sqlite3.connect(src)
    con.execute('CREATE TABLE "unnamed" (key TEXT PRIMARY KEY, value BLOB)')
    con.execute("INSERT INTO unnamed VALUES ('a', ?)", (pickle.dumps(1),))
    con.execute("INSERT INTO unnamed VALUES ('b', x'00ff00')")
    con.commit()
    con.close()
    with pytest.raises(MigrationError) as info:
        migrate(src, str(tmp_path / "new.db"))
    msg = str(info.value)
    assert "bad.sqlite" in msg and "'unnamed'" in msg and "'b'" in msg
    assert os.listdir(tmp_path) == ["bad.sqlite"]


def test_an_error_midway_leaves_no_destination_and_no_temporary_file(tmp_path):
    # 2500 entries are written in batches; the progress callback raises once
    # the first batch is in (as a ^C in a progress bar would).
    import dbm.dumb

    base = str(tmp_path / "many")
    with dbm.dumb.open(base, "c") as d:
        for i in range(2500):
            d[b"k%d" % i] = b"v%d" % i
    before = sorted(os.listdir(tmp_path))

    def progress(done, total):
        if done >= 1000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate(base, str(tmp_path / "new.db"), progress=progress)
    assert sorted(os.listdir(tmp_path)) == before
    report = migrate(base, str(tmp_path / "new.db"))
    assert report == dict(report, format="dbm", entries=2500, tables={"main": 2500})


def test_a_dbm_key_that_is_not_utf8_is_named(tmp_path):
    import dbm.dumb

    base = str(tmp_path / "keys")
    with dbm.dumb.open(base, "c") as d:
        d[b"ok"] = b"1"
        d[b"\xff\xfe"] = b"2"
    with pytest.raises(MigrationError, match=r"b'\\xff\\xfe'.*not UTF-8"):
        migrate(base, str(tmp_path / "new.db"), source_format="dbm")
    assert not (tmp_path / "new.db").exists()


def test_a_dictsqlite_file_is_not_a_source(tmp_path):
    path = str(tmp_path / "ours.db")
    with DictSQLiteV4(path) as db:
        db["a"] = 1
    with pytest.raises(MigrationError, match="already a dictsqlite database"):
        migrate(path, str(tmp_path / "new.db"))


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(MigrationError, match="typo.db: no such file"):
        migrate(str(tmp_path / "typo.db"), str(tmp_path / "new.db"))
    assert os.listdir(tmp_path) == []


def test_bad_arguments_are_named(tmp_path):
    src = copy_fixture("sqlitedict", tmp_path)
    with pytest.raises(ValueError, match="source_format must be one of"):
        migrate(src, str(tmp_path / "n.db"), source_format="redis")
    with pytest.raises(MigrationError, match="password= is for"):
        migrate(src, str(tmp_path / "n.db"), password="x")
    with pytest.raises(MigrationError, match="is the source"):
        migrate(src, src)
    with pytest.raises(MigrationError, match="no such sqlitedict table"):
        migrate(src, str(tmp_path / "n.db"), table="nope")
    assert sorted(os.listdir(tmp_path)) == ["sqlitedict.sqlite"]


def test_the_payload_checks_agree_with_real_encoders(tmp_path):
    # MessagePack made by our engine's msgpack-c codec, pickles by pickle.
    from dictsqlite.migrate import _payloads as P

    values = {"a": {"k": [1, -1, 2**40, -2**40, 1.5, None, True, False, "é" * 40]},
              "b": list(range(20)), "c": "x" * 300, "d": {str(i): i for i in range(20)},
              "e": 0, "f": -33, "g": 2**63 - 1}
    path = str(tmp_path / "mp.db")
    with DictSQLiteV4(path, storage_mode="jsonb") as db:
        db.update(values)
    con = sqlite3.connect(path)
    for key, payload in con.execute("SELECT key, value FROM kv"):
        payload = bytes(payload)
        assert P.is_msgpack(payload), key
        assert not P.is_msgpack(payload + b"\x00") and not P.is_msgpack(payload[:-1] or b"\xc1")
    con.close()
    for v in values.values():
        for proto in range(6):
            data = pickle.dumps(v, protocol=proto)
            assert P.is_pickle(data)
            assert not P.is_pickle(data[:-1]) and not P.is_pickle(data + b".")
    assert not P.is_pickle(b"\x80\x04K\x01") and P.is_pickle(b"\x80\x04K\x01.")
    assert P.is_json(b'{"a": [1, 2]}') and not P.is_json(b"\xff") and not P.is_json(b"hello")


def test_rust_batch_set_bytes_in_a_pickle_table_need_storage_mode_pickle(tmp_path):
    # The Rust package's batch_set stores str as UTF-8 and bytes as given,
    # unpickled, even in pickle mode (and then cannot read them back).
    src = str(tmp_path / "old.db")
    shutil.copy(os.path.join(DATA, "rust_pickle.db"), src)
    con = sqlite3.connect(src)
    con.execute("INSERT INTO kv_store (key, value) VALUES ('from_batch', x'74657874')")
    con.commit()
    con.close()
    auto = migrate(src, str(tmp_path / "auto.db"))
    assert auto["storage_modes"]["main"] == "bytes"
    report = migrate(src, str(tmp_path / "new.db"), storage_mode="pickle")
    assert report["storage_modes"]["main"] == "pickle"
    assert any("'from_batch'" in n for n in report["notes"])
    with DictSQLiteV4(str(tmp_path / "new.db")) as db:
        assert db["from_batch"] == b"text" and db["tup"] == (1, "two", 3.0)
