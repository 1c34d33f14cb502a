"""enable_safe_pickle: dangerous pickles are refused on write and on read."""
import collections
import fractions
import os
import pickle
import sqlite3

import pytest

from dictsqlite import DictSQLiteV4, safe_pickle
from dictsqlite.modules.safe_pickle import SafePolicy, SafeUnpickler, safe_loads, validate_pickle


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def test_plain_data_round_trips_with_safe_pickle_on(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode, enable_safe_pickle=True)
    values = {"d": {"a": [1, 2.5, None]}, "s": {1, 2}, "t": (1, "x"), "b": b"raw",
              "f": fractions.Fraction(1, 3), "o": collections.OrderedDict(a=1)}
    db.update(values)
    for k, v in values.items():
        assert db[k] == v
    assert db.stats()["safe_pickle_enabled"] is True


def test_dangerous_value_is_refused_on_write_and_nothing_is_stored(open_db, persist_mode):
    db = open_db(persist_mode=persist_mode, enable_safe_pickle=True)
    db["k"] = "old"
    with pytest.raises(ValueError, match=r"forbidden global: (posix|os)\.system"):
        db["k"] = Evil()
    with pytest.raises(ValueError, match="forbidden global"):
        db["k"] = pickle.dumps(Evil())  # a ready-made pickle is checked too
    assert db["k"] == "old"


def test_dangerous_pickle_planted_in_the_file_is_refused_on_read(db_path):
    with DictSQLiteV4(db_path) as db:
        db["victim"] = "harmless"
    con = sqlite3.connect(db_path)
    con.execute("UPDATE kv SET value = ? WHERE key = 'victim'", (pickle.dumps(Evil()),))
    con.commit()
    con.close()
    with DictSQLiteV4(db_path, enable_safe_pickle=True) as db:
        with pytest.raises(ValueError, match="forbidden global"):
            db["victim"]


def test_classes_of_allowed_modules_are_accepted(open_db):
    db = open_db(enable_safe_pickle=True, safe_pickle_allowed_modules=[Point.__module__])
    db["p"] = Point(1, 2)
    assert db["p"] == Point(1, 2)
    strict = open_db(enable_safe_pickle=True)
    with pytest.raises(ValueError, match="forbidden global"):
        strict["p"] = Point(1, 2)


def test_safe_unpickler_api():
    policy = SafePolicy.for_package(Point.__module__)
    assert safe_loads(pickle.dumps(Point(3, 4)), policy=policy) == Point(3, 4)
    with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
        safe_loads(pickle.dumps(Evil()))
    with pytest.raises(pickle.UnpicklingError, match="forbidden global: builtins.eval"):
        safe_loads(b"cbuiltins\neval\n(S'1'\ntR.")
    import io

    assert SafeUnpickler(io.BytesIO(pickle.dumps([1]))).load() == [1]
    with pytest.raises(ValueError, match="forbidden global"):
        validate_pickle(pickle.dumps(Evil()))
    validate_pickle(pickle.dumps({"ok": [1, 2]}))
    assert safe_pickle is not None


def test_functions_need_explicit_permission():
    data = pickle.dumps(os.path.join)
    with pytest.raises(pickle.UnpicklingError):
        safe_loads(data, policy=SafePolicy(allowed_module_prefixes=("posixpath",)))
    with pytest.raises(pickle.UnpicklingError):  # os is denied whatever the policy
        safe_loads(pickle.dumps(os.getcwd),
                   policy=SafePolicy(allowed_module_prefixes=("os", "posix"),
                                     allow_functions_from_prefixes=True))
