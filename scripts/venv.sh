# Sourced by the scripts in scripts/ (not run): which interpreter builds and
# runs the tests. scripts/install.sh makes two venvs in the checkout:
#   .venv       our package, pytest, uvloop and mypy: PY is its interpreter
#   .venv-rust  the Rust dictsqlite 2.1.3 from PyPI, for the differential and
#               migration tests, exported as DICTSQLITE_RUST_PYTHON (they skip
#               without it)
# Without .venv, PY is python3 on PATH, with a note, so a checkout where the
# packages were installed by hand still works.
venv_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$venv_root/.venv/bin/python" ]; then
    PY="$venv_root/.venv/bin/python"
else
    PY=python3
    # Once per run: test.sh calls the other scripts, which source this again.
    if [ -z "${DICTSQLITE_NO_VENV_NOTED:-}" ]; then
        echo "note: no .venv in $venv_root (bash scripts/install.sh makes it);" \
             "using $(command -v python3 || echo python3)" >&2
        export DICTSQLITE_NO_VENV_NOTED=1
    fi
fi
if [ -z "${DICTSQLITE_RUST_PYTHON:-}" ] && [ -x "$venv_root/.venv-rust/bin/python" ]; then
    export DICTSQLITE_RUST_PYTHON="$venv_root/.venv-rust/bin/python"
fi
# No __pycache__ in the source tree (tests/, benchmarks/): a run leaves
# nothing behind outside .venv, .venv-rust and build/ (git clean -xdn). pytest
# honours it for its rewritten test modules too.
export PYTHONDONTWRITEBYTECODE=1
# The pure-Python part of the package next to a staged build of the extension
# in $1/dictsqlite, as an install lays it out (stubs included).
stage_python_package() {
    cp -r "$venv_root"/python/dictsqlite/*.py "$venv_root"/python/dictsqlite/*.pyi \
        "$venv_root"/python/dictsqlite/modules "$venv_root"/python/dictsqlite/cli \
        "$venv_root"/python/dictsqlite/migrate "$venv_root"/python/dictsqlite/py.typed \
        "$1/dictsqlite/"
}
