"""Keys of every shape are stored and found exactly."""
import pytest

from dictsqlite import DictSQLiteV4

AWKWARD_KEYS = [
    "", ":", "::", "a:b", "'", '"', "\\", "%", "_", "\n\t",
    "'; DROP TABLE kv; --", "Robert'); DROP TABLE students;--",
    "x" * 10_000, "🎉", "日本語", "é", "e\u0301", "\x00", "nul\x00inside",
    " ", "  padded  ", "main", "kv",
]


@pytest.mark.parametrize("mode", ["memory", "lazy", "writethrough"])
def test_awkward_keys_round_trip_and_reopen(db_path, mode):
    with DictSQLiteV4(db_path, persist_mode=mode) as db:
        for i, k in enumerate(AWKWARD_KEYS):
            db[k] = i
        assert len(db) == len(AWKWARD_KEYS)
        for i, k in enumerate(AWKWARD_KEYS):
            assert db[k] == i, repr(k)
            assert k in db
        assert sorted(db.keys()) == sorted(AWKWARD_KEYS)
    if mode != "memory":
        with DictSQLiteV4(db_path, persist_mode=mode) as db:
            for i, k in enumerate(AWKWARD_KEYS):
                assert db[k] == i, repr(k)
            assert sorted(db.keys()) == sorted(AWKWARD_KEYS)


def test_non_str_keys_are_converted_with_str(open_db):
    db = open_db()
    db[1] = "one"
    db[(1, 2)] = "tuple"
    assert db["1"] == "one"
    assert db[1] == "one"
    assert db["(1, 2)"] == "tuple"
    assert db.keys() == ["(1, 2)", "1"]


def test_keys_with_lone_surrogates_are_rejected_clearly(open_db):
    db = open_db()
    with pytest.raises(UnicodeEncodeError):
        db["\ud800"] = 1
    assert len(db) == 0


def test_similar_keys_never_collide(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode)
    keys = ["a", "a ", " a", "A", "a\x00", "á", "a:b", "a:", ":b"]
    for i, k in enumerate(keys):
        db[k] = i
    for i, k in enumerate(keys):
        assert db[k] == i
