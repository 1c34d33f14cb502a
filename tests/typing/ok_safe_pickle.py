"""dictsqlite.modules.safe_pickle: mypy --strict must accept it; also run."""
import io
import pickle
from typing import Any, assert_type

from dictsqlite import safe_pickle
from dictsqlite.modules.safe_pickle import SafePolicy, SafeUnpickler, safe_loads, validate_pickle


def no_sets(module: str, name: str, obj: object) -> bool:
    return name != "set"


def main() -> None:
    policy = SafePolicy(allowed_module_prefixes=("collections",), validator=no_sets)
    assert_type(SafePolicy.for_package("myapp"), SafePolicy)
    data = pickle.dumps({"a": [1, 2]})
    assert_type(safe_loads(data, policy=policy), Any)
    assert SafeUnpickler(io.BytesIO(data), policy=policy).load() == {"a": [1, 2]}
    validate_pickle(data)
    try:
        validate_pickle(pickle.dumps(print))
    except ValueError as exc:
        assert "forbidden global" in str(exc)
    else:
        raise AssertionError("validate_pickle let builtins.print through")
    assert_type(policy.check_name("os", "system"), bool | None)
    assert_type(safe_pickle.make_policy(["myapp"]), SafePolicy)
    assert_type(safe_pickle.passthrough_loads(b"plain"), Any)
    assert_type(safe_pickle.DEFAULT_ALLOWED_BUILTINS, frozenset[str])


if __name__ == "__main__":
    main()
    print("ok_safe_pickle: ok")
