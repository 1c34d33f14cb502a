"""Every GIL release in the binding goes through DS_WITHOUT_GIL (issue 11):
the macro counts the call so close() waits for it. A raw release elsewhere
is how stats() once raced close() into a segfault."""
import pathlib
import re

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
RAW = re.compile(r"\b(Py_BEGIN_ALLOW_THREADS|Py_UNBLOCK_THREADS|PyEval_SaveThread|"
                 r"PyEval_ReleaseThread|PyGILState_Release)\b")


def test_the_gil_is_released_only_inside_DS_WITHOUT_GIL():
    found = []
    for path in sorted(SRC.rglob("*.[ch]")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if RAW.search(line):
                found.append((path.relative_to(SRC).as_posix(), n, line.strip()))
    # the macro's own definition is the only one
    assert [f[:1] for f in found] == [("ext/dictsqlite_v4.h",)], found
    header = (SRC / "ext" / "dictsqlite_v4.h").read_text()
    macro = header[header.index("#define DS_WITHOUT_GIL"):]
    macro = macro[:macro.index("while (0)")]
    assert "Py_BEGIN_ALLOW_THREADS" in macro and "in_flight" in macro


def test_the_core_never_touches_python():
    core = SRC / "core"
    offenders = [p.name for p in core.rglob("*.[ch]") if "Python.h" in p.read_text()]
    assert offenders == []
