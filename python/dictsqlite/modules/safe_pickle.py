"""Restricted unpickling for data you do not fully trust.

A pickle can name any global (``os.system``, ``subprocess.Popen``...) and call
it while loading. ``SafeUnpickler`` resolves globals through a policy: denied
names first, then safe builtins, explicitly listed globals, and classes (and
optionally functions) under allowed module prefixes. Anything else raises
``pickle.UnpicklingError("forbidden global: module.name")``.

``validate_pickle`` applies the same policy to a pickle *without running it*
by walking its opcodes (``pickletools.genops``); DictSQLiteV4 uses it to
refuse, at write time, values that a safe read would refuse later.
"""
from __future__ import annotations

import _compat_pickle
import copyreg
import inspect
import io
import pickle
import pickletools
from typing import Callable, Iterable, Optional

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

# Modules whose every global is refused, whatever the allow lists say.
_DENIED_MODULES = (
    "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "importlib",
    "ctypes", "multiprocessing", "pty", "runpy", "code", "codeop", "marshal",
    "pickle", "_pickle", "shelve", "webbrowser", "asyncio.subprocess",
)

DEFAULT_DENIED_GLOBALS = frozenset({
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "compile"),
    ("builtins", "__import__"), ("builtins", "open"), ("builtins", "getattr"),
    ("builtins", "setattr"), ("builtins", "delattr"), ("builtins", "globals"),
    ("builtins", "locals"), ("builtins", "vars"), ("builtins", "input"),
    ("builtins", "breakpoint"), ("builtins", "memoryview"),
    ("functools", "partial"), ("operator", "attrgetter"),
    ("operator", "methodcaller"), ("operator", "itemgetter"),
})

# Plain data types and the constructors pickle itself emits for them.
DEFAULT_ALLOWED_BUILTINS = frozenset({
    "int", "float", "complex", "str", "bytes", "bytearray", "bool", "list",
    "tuple", "dict", "set", "frozenset", "range", "slice", "object", "NoneType",
    "Ellipsis", "NotImplemented",
})

# Globals that standard pickles of plain data use outside builtins.
_DEFAULT_ALLOWED_GLOBALS = frozenset({
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("collections", "deque"), ("collections", "Counter"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"),
    ("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID"),
    ("_codecs", "encode"),
})


def _is_denied_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _DENIED_MODULES)


class SafePolicy:
    """What a SafeUnpickler may resolve.

    allowed_module_prefixes: modules (and their submodules) whose classes are
    allowed, e.g. ``("myapp",)``. allow_functions_from_prefixes: also allow
    functions from them (off by default: a function is a call on load).
    allowed_globals: exact ``(module, name)`` pairs. denied_globals: pairs
    refused first (defaults to DEFAULT_DENIED_GLOBALS). validator: an extra
    ``callable(module, name, obj) -> bool`` run last.
    """

    def __init__(
        self,
        *,
        allowed_module_prefixes: Iterable[str] = (),
        allowed_builtins: Optional[Iterable[str]] = None,
        allowed_globals: Iterable[tuple[str, str]] = (),
        denied_globals: Optional[Iterable[tuple[str, str]]] = None,
        allow_functions_from_prefixes: bool = False,
        allow_classes_from_prefixes: bool = True,
        validator: Optional[Callable[[str, str, object], bool]] = None,
    ):
        if isinstance(allowed_module_prefixes, str):
            raise TypeError("allowed_module_prefixes must be an iterable of str, "
                            "not a single str")
        self.allowed_module_prefixes = tuple(allowed_module_prefixes)
        self.allowed_builtins = frozenset(
            DEFAULT_ALLOWED_BUILTINS if allowed_builtins is None else allowed_builtins)
        self.allowed_globals = frozenset(_DEFAULT_ALLOWED_GLOBALS) | frozenset(
            tuple(g) for g in allowed_globals)
        self.denied_globals = frozenset(
            DEFAULT_DENIED_GLOBALS if denied_globals is None else
            (tuple(g) for g in denied_globals))
        self.allow_functions_from_prefixes = allow_functions_from_prefixes
        self.allow_classes_from_prefixes = allow_classes_from_prefixes
        self.validator = validator

    @classmethod
    def for_package(cls, prefix: str, **kw) -> "SafePolicy":
        """A policy allowing the classes of one package (and its submodules)."""
        return cls(allowed_module_prefixes=(prefix,), **kw)

    def __repr__(self):
        return (f"SafePolicy(allowed_module_prefixes={self.allowed_module_prefixes!r}, "
                f"allow_functions_from_prefixes={self.allow_functions_from_prefixes!r})")

    def _under_prefix(self, module: str) -> bool:
        return any(module == p or module.startswith(p + ".")
                   for p in self.allowed_module_prefixes)

    def check_name(self, module: str, name: str) -> Optional[bool]:
        """Decide from the names alone: True/False, or None when the decision
        depends on what the global is (class or function under a prefix)."""
        if (module, name) in self.denied_globals or _is_denied_module(module):
            return False
        if module == "builtins":
            return name in self.allowed_builtins
        if (module, name) in self.allowed_globals:
            return True
        if self._under_prefix(module):
            return None
        return False

    def _allows_as_named(self, module: str, name: str, obj: object) -> bool:
        verdict = self.check_name(module, name)
        if verdict is None:
            if inspect.isclass(obj):
                verdict = self.allow_classes_from_prefixes
            else:
                verdict = self.allow_functions_from_prefixes and callable(obj)
        return bool(verdict)

    def allows(self, module: str, name: str, obj: object) -> bool:
        """May the global reached as module.name, which resolved to obj, be
        loaded? The name it was reached through is not enough: an allowed
        module that imports subprocess makes "myapp.Popen" or
        "myapp / subprocess.Popen" resolve to subprocess.Popen. So what obj
        itself is (its __module__ and __qualname__) must be allowed too, and a
        dotted name whose target does not say where it lives is refused."""
        if not self._allows_as_named(module, name, obj):
            return False
        real_module = getattr(obj, "__module__", None)
        real_name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if isinstance(real_module, str) and isinstance(real_name, str):
            if (real_module, real_name) != (module, name) and \
                    not self._allows_as_named(real_module, real_name, obj):
                return False
        elif "." in name:
            return False
        if self.validator is not None:
            return bool(self.validator(module, name, obj))
        return True


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """The name a protocol 0-2 pickle means: Python 2 spellings such as
    __builtin__.set are mapped as pickle's own fix_imports does, so the policy
    judges the global that is really loaded."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _forbidden(module: str, name: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"forbidden global: {module}.{name}")


class SafeUnpickler(pickle.Unpickler):
    """A pickle.Unpickler whose find_class obeys a SafePolicy."""

    def __init__(self, file, *, policy: Optional[SafePolicy] = None, **kw):
        super().__init__(file, **kw)
        self.policy = policy if policy is not None else SafePolicy()

    def find_class(self, module, name):
        module, name = _python3_name(module, name)
        verdict = self.policy.check_name(module, name)
        if verdict is False:
            raise _forbidden(module, name)
        obj = super().find_class(module, name)
        if not self.policy.allows(module, name, obj):
            raise _forbidden(module, name)
        return obj


def _check_extension_codes(unpickler, data) -> None:
    """The unpickler resolves EXT1/2/4 opcodes from copyreg's extension
    cache without calling find_class, so once the process has registered an
    extension code (and any pickle used it), its target would load unchecked.
    Check each code's target through find_class first; free when nothing is
    registered, which is the usual case."""
    if not copyreg._extension_registry:
        return
    try:
        ops = list(pickletools.genops(data))
    except Exception:
        return  # malformed: the load itself will fail
    for opcode, arg, _pos in ops:
        if opcode.name in ("EXT1", "EXT2", "EXT4"):
            target = copyreg._inverted_registry.get(arg)
            if target is None:
                raise pickle.UnpicklingError(f"unregistered extension code {arg}")
            unpickler.find_class(*target)


def safe_loads(data, *, policy: Optional[SafePolicy] = None, **kw):
    """pickle.loads through SafeUnpickler."""
    unpickler = SafeUnpickler(io.BytesIO(data), policy=policy, **kw)
    _check_extension_codes(unpickler, data)
    return unpickler.load()


def _globals_of(data) -> Iterable[tuple[str, str]]:
    """The (module, name) pairs a pickle would look up, without running it.

    GLOBAL/INST carry the names inline; STACK_GLOBAL takes the two strings
    pushed before it, which may come from the memo, so string pushes and memo
    traffic are followed. Anything the walk cannot resolve is reported as an
    unresolvable global so that the caller refuses it.
    """
    recent: list = []  # the last values pushed, as far as strings go
    memo: dict = {}
    for opcode, arg, _pos in pickletools.genops(data):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, qual = arg.partition(" ")
            yield module, qual
            recent.append(None)
        elif name in ("EXT1", "EXT2", "EXT4"):
            yield copyreg._inverted_registry.get(arg, ("<unregistered>", f"<ext {arg}>"))
            recent.append(None)
        elif name == "STACK_GLOBAL":
            if len(recent) >= 2 and isinstance(recent[-1], str) and isinstance(recent[-2], str):
                yield recent[-2], recent[-1]
            else:
                yield "<unresolved>", "<stack>"
            del recent[-2:]
            recent.append(None)
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                      "SHORT_BINSTRING", "BINSTRING", "STRING"):
            recent.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = recent[-1] if recent else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            recent.append(memo.get(arg))
        elif name in ("FRAME", "PROTO", "STOP"):
            pass
        else:
            recent.append(None)
        if len(recent) > 64:
            del recent[:-8]


def validate_pickle(data, policy: Optional[SafePolicy] = None) -> None:
    """Raise ValueError naming the first global the policy forbids.

    Classes under allowed prefixes are imported to tell classes from
    functions (importing a module the policy trusts is the same trust a read
    grants); nothing in the pickle is executed.
    """
    policy = policy if policy is not None else SafePolicy()
    try:
        found = list(_globals_of(data))
    except Exception as exc:  # malformed pickle
        raise ValueError(f"not a valid pickle: {exc}") from exc
    for module, name in found:
        module, name = _python3_name(module, name)
        verdict = policy.check_name(module, name)
        if verdict is not False:
            # Resolved as a protocol-4 read would (dotted names included),
            # so the write check and the read agree.
            try:
                obj = _resolve(module, name)
            except Exception:
                verdict = False
            else:
                verdict = policy.allows(module, name, obj)
        if not verdict:
            raise ValueError(f"forbidden global: {module}.{name}")


def _resolve(module: str, name: str):
    """What pickle's find_class would return for (module, name) at protocol
    4 and later, where name may be a dotted path."""
    obj = __import__(module, fromlist=["_"]) if module else None
    if obj is None:
        raise ValueError("empty module name")
    for part in name.split("."):
        if part == "<locals>":
            raise AttributeError(name)
        obj = getattr(obj, part)
    return obj


_DEFAULT_POLICY = SafePolicy()


def passthrough_loads(data, policy: Optional[SafePolicy] = None):
    """How DictSQLiteV4 reads bytes that were stored through the pickle
    passthrough (bytes that looked like a pickle): through the restricted
    unpickler only. A pickle of plain data comes back as its object; one that
    names a global the policy refuses, or that is not a valid pickle, comes
    back as the original bytes. Nothing in it runs."""
    try:
        return safe_loads(data, policy=policy if policy is not None else _DEFAULT_POLICY)
    except RecursionError:
        raise
    except Exception:
        return data


def make_policy(allowed_modules) -> SafePolicy:
    """The policy for DictSQLiteV4(enable_safe_pickle=True,
    safe_pickle_allowed_modules=allowed_modules): allowed_modules is None or
    an iterable of module names (str) whose classes may be loaded."""
    if allowed_modules is None:
        return SafePolicy()
    if isinstance(allowed_modules, (str, bytes, bytearray)):
        raise TypeError("safe_pickle_allowed_modules must be a list of module names "
                        f"(str), not a single {type(allowed_modules).__name__}")
    try:
        names = list(allowed_modules)
    except TypeError:
        raise TypeError("safe_pickle_allowed_modules must be a list of module names "
                        f"(str), got {type(allowed_modules).__name__}") from None
    for item in names:
        if not isinstance(item, str):
            raise TypeError("safe_pickle_allowed_modules must hold module names (str); "
                            f"got {item!r}")
        if not item or not all(part.isidentifier() for part in item.split(".")):
            raise ValueError("safe_pickle_allowed_modules holds "
                             f"{item!r}, which is not a module name")
    return SafePolicy(allowed_module_prefixes=names)


def safe_loads_with_policy(data, policy: SafePolicy):
    """What DictSQLiteV4 calls on every read when safe pickle is on: a
    refused global raises ValueError naming it."""
    try:
        return safe_loads(data, policy=policy)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("forbidden global"):
            raise ValueError(str(exc)) from exc
        raise

