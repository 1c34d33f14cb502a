"""Every public callable has a signature and a docstring (help() and
inspect.signature work), and the signatures say what the C code accepts:
parameter names, defaults, how many arguments, and which may be keywords.
The stubs (python/dictsqlite/*.pyi) are checked against these signatures by
mypy.stubtest (scripts/typecheck.sh), so this is what keeps both honest."""
import asyncio
import collections.abc
import inspect
import pathlib
import pydoc
import tomllib
import types

import pytest

import dictsqlite
from dictsqlite import _native

REPO = pathlib.Path(__file__).resolve().parents[2]
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


PUBLIC_TYPES = [dictsqlite.DictSQLiteV4, dictsqlite.TableProxy, dictsqlite.AsyncDictSQLite,
                dictsqlite.AsyncTableProxy]


@pytest.fixture
def objects(tmp_path):
    """One instance of every public type, and of the awaitables and the
    iterator they return, by type."""
    db = dictsqlite.DictSQLiteV4(str(tmp_path / "sync.db"))
    adb = dictsqlite.AsyncDictSQLite(str(tmp_path / "async.db"))
    db["k"] = 1
    adb["k"] = 1
    ready = adb.aget("k")  # a hot hit: finished at once
    # Outside a running loop an op waits to be submitted at its first step,
    # so calling its methods with wrong arguments cannot touch a job.
    op = adb.aflush()
    assert type(ready) is not type(op), "expected both kinds of awaitable"
    keys = iter(db)
    yield {
        dictsqlite.DictSQLiteV4: db,
        dictsqlite.TableProxy: db.table("t"),
        dictsqlite.AsyncDictSQLite: adb,
        dictsqlite.AsyncTableProxy: adb.table("t"),
        type(ready): ready,
        type(op): op,
        type(keys): keys,
        _native._LoopQueue: _native._LoopQueue(),
    }
    op.close()
    db.close()
    adb.close()


def own_methods(tp):
    """(name, descriptor) of the methods a C type defines itself: the
    PyMethodDef entries, which need a text signature in their docstring."""
    return [(name, attr) for name, attr in vars(tp).items()
            if isinstance(attr, types.MethodDescriptorType)]


def test_every_method_of_every_type_has_a_signature_and_a_doc(objects):
    missing = []
    for tp in objects:
        assert (tp.__doc__ or "").strip(), f"{tp.__qualname__} has no docstring"
        methods = own_methods(tp)
        assert methods or tp not in PUBLIC_TYPES, f"{tp.__qualname__}: no methods found"
        for name, method in methods:
            where = f"{tp.__qualname__}.{name}"
            if method.__text_signature__ is None:
                missing.append(f"{where}: no __text_signature__ (doc: {method.__doc__!r})")
                continue
            inspect.signature(method)  # raises if the text signature is malformed
            if not (inspect.getdoc(method) or "").strip():
                missing.append(f"{where}: the docstring is only a signature")
        # the slots' wrappers (__getitem__, ...) come with CPython's signatures
        for name, attr in vars(tp).items():
            if callable(attr) and not isinstance(attr, type):
                inspect.signature(attr)
    assert not missing, "\n".join(missing)


def test_module_functions_have_signatures():
    for name, fn in vars(_native).items():
        if isinstance(fn, types.BuiltinFunctionType):
            assert fn.__text_signature__ is not None, name
            inspect.signature(fn)
    for fn in (dictsqlite.sqlite_version, dictsqlite.is_native_available):
        assert inspect.signature(fn).parameters == {}


@pytest.mark.parametrize("obj", [dictsqlite.DictSQLiteV4, dictsqlite.AsyncDictSQLite,
                                 dictsqlite.TableProxy, dictsqlite.AsyncTableProxy,
                                 dictsqlite.DatabaseClosedError, dictsqlite.CorruptValueError,
                                 dictsqlite.DatabaseLockedError, dictsqlite.ReadOnlyError,
                                 dictsqlite.Modes, dictsqlite.safe_pickle],
                         ids=lambda o: o.__name__)
def test_help_text_is_not_empty(obj):
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    assert (obj.__doc__ or "").strip()
    assert obj.__doc__.strip().splitlines()[0] in text


def test_help_shows_the_parameters(objects):
    text = pydoc.render_doc(dictsqlite.DictSQLiteV4, renderer=pydoc.plaintext)
    assert "get(self, key, default=None, /)" in text
    assert "update(self, other=(), /, **kwargs)" in text
    assert "persist_mode='writethrough'" in text


def arity(sig):
    """(least, most) positional arguments a signature takes (most None: any)."""
    params = list(sig.parameters.values())
    pos = [p for p in params if p.kind in POSITIONAL]
    least = sum(1 for p in pos if p.default is inspect.Parameter.empty)
    most = None if any(p.kind == p.VAR_POSITIONAL for p in params) else len(pos)
    return least, most


def test_argument_counts_match_the_c_code(objects):
    """One argument too many, or too few, is refused before the method does
    anything: so a signature that claims the wrong count fails here."""
    checked = 0
    for tp, obj in objects.items():
        for name, _ in own_methods(tp):
            bound = getattr(obj, name)
            least, most = arity(inspect.signature(bound))
            if most is not None:
                with pytest.raises(TypeError):
                    bound(*range(most + 1))
                checked += 1
            if least > 0:
                with pytest.raises(TypeError):
                    bound(*range(least - 1))
    assert checked > 50


def test_method_parameters_are_positional_only(objects):
    """The C methods parse positional arguments only (METH_O, METH_FASTCALL,
    METH_NOARGS), except the named keyword-only options below; their
    signatures must say so, and a keyword is refused."""
    keyword_only = {("batch_set", "progress"), ("bulk_insert", "progress")}
    for tp in objects:
        for name, method in own_methods(tp):
            for p in list(inspect.signature(method).parameters.values())[1:]:
                if p.kind == p.KEYWORD_ONLY and (name, p.name) in keyword_only:
                    continue
                if name.startswith("_"):  # private helpers of the CLI may take keywords
                    continue
                assert p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD), \
                    f"{tp.__qualname__}.{name}: {p.name} is {p.kind.description}"
    db = objects[dictsqlite.DictSQLiteV4]
    for call in (lambda: db.get(key="k"), lambda: db.pop(key="k"),
                 lambda: db.setdefault("k", default=2), lambda: db.table(name="t"),
                 lambda: objects[dictsqlite.AsyncDictSQLite].aget(key="k")):
        with pytest.raises(TypeError):
            call()
    # update's **kwargs are pairs, as dict.update's are
    db.update({"a": 1}, other=2)
    assert db["other"] == 2 and db["a"] == 1


def test_the_signature_defaults_of_get_pop_and_setdefault_are_what_they_do(objects):
    db = objects[dictsqlite.DictSQLiteV4]
    assert inspect.signature(db.get).parameters["default"].default is None
    assert db.get("missing") is None
    assert db.setdefault("new") is None and "new" in db
    # pop's default=... means "no default": pop of a missing key raises
    assert inspect.signature(db.pop).parameters["default"].default is Ellipsis
    with pytest.raises(KeyError):
        db.pop("missing")


CLASSES = [dictsqlite.DictSQLiteV4, dictsqlite.AsyncDictSQLite]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_keywords_and_defaults_are_what_the_c_code_takes(cls, tmp_path):
    """Every parameter of the class signature is accepted by keyword with
    its default, and gives the same database as leaving it out."""
    sig = inspect.signature(cls)
    names = list(sig.parameters)
    assert names[0] == "db_path"
    path = str(tmp_path / "opts.db")
    with cls(path) as db:
        baseline = {k: v for k, v in db.stats().items() if k != "file_size_bytes"}
    for name, p in list(sig.parameters.items())[1:]:
        if p.default is Ellipsis:  # no default of its own (hot_capacity)
            continue
        with cls(path, **{name: p.default}) as db:
            got = {k: v for k, v in db.stats().items() if k != "file_size_bytes"}
        assert got == baseline, f"{cls.__name__}({name}={p.default!r}) is not the default"
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        cls(path, no_such_option=1)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_positional_parameters_match(cls, tmp_path):
    """The signature's positional parameters are exactly those the C code
    takes by position: all of them is fine, one more is refused."""
    sig = inspect.signature(cls)
    pos = [p for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    kwonly = [p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    assert kwonly, "the options of our own are keyword-only"
    path = str(tmp_path / "pos.db")
    with cls(path, *[p.default for p in pos[1:]]):
        pass
    first_kwonly = kwonly[0].default if kwonly[0].default is not Ellipsis else 10
    with pytest.raises(TypeError, match="positional"):
        cls(path, *[p.default for p in pos[1:]], first_kwonly)


def test_async_hot_capacity_and_capacity_are_one_option(tmp_path):
    sig = inspect.signature(dictsqlite.AsyncDictSQLite)
    assert sig.parameters["hot_capacity"].kind == inspect.Parameter.KEYWORD_ONLY
    with dictsqlite.AsyncDictSQLite(str(tmp_path / "a.db"), capacity=7) as db:
        by_position_name = db.stats()["capacity"]
    with dictsqlite.AsyncDictSQLite(str(tmp_path / "a.db"), hot_capacity=7) as db:
        assert db.stats()["capacity"] == by_position_name != 1000000
    with pytest.raises(TypeError, match="two names of one option"):
        dictsqlite.AsyncDictSQLite(str(tmp_path / "a.db"), capacity=7, hot_capacity=7)


def test_the_awaitables_are_coroutines(tmp_path):
    """The stubs type the a-methods as returning Coroutine, which is what
    asyncio.create_task() requires: both kinds of awaitable must be one."""
    async def main():
        async with dictsqlite.AsyncDictSQLite(str(tmp_path / "c.db"),
                                              persist_mode="writethrough") as db:
            write = db.aset("k", 1)  # a commit: waits for the worker
            assert isinstance(write, collections.abc.Coroutine)
            await asyncio.create_task(write)
            hit = db.aget("k")  # answered from memory at once
            assert isinstance(hit, collections.abc.Coroutine)
            assert type(hit) is not type(write)
            assert await asyncio.create_task(hit) == 1

    asyncio.run(main())


def test_the_stubs_are_shipped_with_the_package():
    """Every .pyi of the source tree is listed in pyproject's package-data
    and sits next to the module that is imported (installed or staged)."""
    src = REPO / "python" / "dictsqlite"
    if not src.is_dir():
        pytest.skip("needs the source tree")
    stubs = sorted(p.relative_to(src) for p in src.rglob("*.pyi"))
    assert pathlib.Path("__init__.pyi") in stubs and pathlib.Path("_native.pyi") in stubs
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    for stub in stubs:
        package = ".".join(("dictsqlite",) + stub.parent.parts)
        assert "*.pyi" in package_data.get(package, []), f"package-data misses {package}"
    installed = pathlib.Path(dictsqlite.__file__).parent
    if installed.resolve() != src.resolve():
        assert (installed / "py.typed").exists()
        for stub in stubs:
            assert (installed / stub).exists(), f"{stub} was not installed in {installed}"
