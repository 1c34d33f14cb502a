# Stubs of dictsqlite.modules.safe_pickle (restricted unpickling).
import pickle
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol, type_check_only

from _typeshed import ReadableBuffer
from typing_extensions import Self

__all__ = [
    "SafePolicy",
    "SafeUnpickler",
    "safe_loads",
    "validate_pickle",
    "passthrough_loads",
    "make_policy",
    "DEFAULT_DENIED_GLOBALS",
    "DEFAULT_ALLOWED_BUILTINS",
]

DEFAULT_DENIED_GLOBALS: Final[frozenset[tuple[str, str]]]
DEFAULT_ALLOWED_BUILTINS: Final[frozenset[str]]

# validator(module, name, obj) -> may obj, reached as module.name, be loaded?
_Validator = Callable[[str, str, object], bool]

@type_check_only
class _ReadableFile(Protocol):
    """What pickle.Unpickler reads from."""

    def read(self, n: int, /) -> bytes: ...
    def readline(self) -> bytes: ...

class SafePolicy:
    """What a SafeUnpickler may resolve."""

    allowed_module_prefixes: tuple[str, ...]
    allowed_builtins: frozenset[str]
    allowed_globals: frozenset[tuple[str, str]]
    denied_globals: frozenset[tuple[str, str]]
    allow_functions_from_prefixes: bool
    allow_classes_from_prefixes: bool
    validator: _Validator | None
    def __init__(
        self,
        *,
        allowed_module_prefixes: Iterable[str] = (),
        allowed_builtins: Iterable[str] | None = None,
        allowed_globals: Iterable[tuple[str, str]] = (),
        denied_globals: Iterable[tuple[str, str]] | None = None,
        allow_functions_from_prefixes: bool = False,
        allow_classes_from_prefixes: bool = True,
        validator: _Validator | None = None,
    ) -> None: ...
    @classmethod
    def for_package(cls, prefix: str, **kw: Any) -> Self: ...
    def check_name(self, module: str, name: str) -> bool | None: ...
    def allows(self, module: str, name: str, obj: object) -> bool: ...

class SafeUnpickler(pickle.Unpickler):
    """A pickle.Unpickler whose find_class obeys a SafePolicy."""

    policy: SafePolicy
    def __init__(
        self,
        file: _ReadableFile,
        *,
        policy: SafePolicy | None = None,
        fix_imports: bool = True,
        encoding: str = "ASCII",
        errors: str = "strict",
        buffers: Iterable[Any] | None = (),
    ) -> None: ...
    def find_class(self, module: str, name: str) -> Any: ...

def safe_loads(
    data: ReadableBuffer,
    *,
    policy: SafePolicy | None = None,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
    buffers: Iterable[Any] | None = (),
) -> Any: ...
def validate_pickle(data: ReadableBuffer, policy: SafePolicy | None = None) -> None: ...
def passthrough_loads(data: bytes, policy: SafePolicy | None = None) -> Any: ...
def make_policy(allowed_modules: Iterable[str] | None) -> SafePolicy: ...
def safe_loads_with_policy(data: ReadableBuffer, policy: SafePolicy) -> Any: ...
