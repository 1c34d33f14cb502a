#!/usr/bin/env bash
# Take a fresh Debian 12 machine (python3 + root or sudo) to a working
# dictsqlite: the system libraries and build tools from apt, then two venvs in
# this checkout. Nothing goes into the interpreter's own site-packages, which
# Debian's /usr/bin/python3 refuses anyway (PEP 668,
# "externally-managed-environment"):
#   .venv       our package (pip install .), pytest, uvloop and mypy; the
#               README's commands and every script in scripts/ use
#               .venv/bin/python
#   .venv-rust  the Rust/PyO3 dictsqlite 2.1.3 from PyPI, for the differential
#               and migration tests. It has the same import name as ours, so it
#               never shares a venv with it. If it cannot be installed (no
#               network) this warns in one line and goes on; those tests skip.
# A second run reuses both venvs (and installs the package again, so it picks
# up changed sources).
#   bash scripts/install.sh                          # with python3 on PATH
#   PYTHON=/usr/bin/python3 bash scripts/install.sh  # with another interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
# Pinned so that every machine tests with the same tools.
DEV_PACKAGES=(pytest==9.2.0 uvloop==0.23.0 mypy==2.4.1)
RUST_PACKAGE=dictsqlite==2.1.3

# 1. apt: only what is missing, so that a second run, or a machine where all
# of it is already there, needs neither root nor the network for this step.
# python3-venv and python3-dev are Debian's venv module and headers for
# /usr/bin/python3; another interpreter brings its own.
APT_PACKAGES=(build-essential pkg-config cmake python3-dev python3-venv
              libsqlite3-dev libssl-dev libmsgpack-dev libcjson-dev libargon2-dev clang)
if command -v dpkg-query >/dev/null; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        SUDO=()
        [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
        echo "apt-get install ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq
        # env after sudo: sudo does not pass the caller's environment on
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
else
    echo "note: no dpkg here, so no apt step: this needs a C compiler, pkg-config, cmake," \
         "the Python headers and the C libraries sqlite3, libcrypto, libargon2," \
         "msgpack-c and libcjson" >&2
fi

# 2. The venvs. One is reused when it was made from the same interpreter
# (base prefix and version) and has a working pip; otherwise it is made again,
# so that PYTHON=... after a run with another interpreter takes effect.
if ! want="$("$PY" -c 'import sys; print(sys.base_prefix, *sys.version_info[:3])' 2>/dev/null)"; then
    echo "error: PYTHON=$PY does not run: expected a Python 3.11+ interpreter" >&2
    exit 1
fi
venv_ok() {
    local have
    [ -x "$1/bin/python" ] &&
        have="$("$1/bin/python" -c 'import sys; print(sys.base_prefix, *sys.version_info[:3])' 2>/dev/null)" &&
        [ "$have" = "$want" ] &&
        "$1/bin/python" -m pip --version >/dev/null 2>&1
}
made_venv=""
make_venv() {
    if venv_ok "$1"; then
        return 0
    fi
    made_venv=1
    [ -e "$1" ] && echo "$1 was made with another interpreter or is incomplete: making it again"
    rm -rf "$1"
    # The pip that ensurepip bundles (Debian: 23.0.1) is old. && rather than
    # set -e, which does not apply where the caller tests the result.
    "$PY" -m venv "$1" &&
        "$1/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
}
pip_in() {
    local venv="$1"
    shift
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

make_venv .venv
if [ -n "$made_venv" ]; then
    # setuptools' own build directories carry no interpreter but the version
    # in their names: objects built for the previous .venv are not reused.
    rm -rf build/lib.* build/temp.* build/bdist.*
fi
# setuptools >= 77 and wheel: the build requirements of pyproject.toml, so the
# package builds without a separate isolated environment (and without the
# network on a second run); scripts/stage.sh, sanitize.sh and faults.sh run
# setup.py with this interpreter too.
pip_in .venv "setuptools>=77" wheel "${DEV_PACKAGES[@]}"
pip_in .venv --no-build-isolation .
# setuptools writes its metadata beside the package (python/); build/ is where
# the build itself goes and may stay.
rm -rf python/dictsqlite.egg-info
.venv/bin/python -c 'import sys, dictsqlite
print(f"installed dictsqlite {dictsqlite.__version__} into .venv"
      f" (Python {sys.version.split()[0]}, {sys.base_prefix})")'

# 3. The Rust package, in its own venv. Its failure is not ours: warn, go on.
rust_ok() {
    venv_ok .venv-rust &&
        .venv-rust/bin/python -c 'import sys, importlib.metadata as m, dictsqlite
sys.exit(m.version("dictsqlite") != sys.argv[1])' "${RUST_PACKAGE#*==}" 2>/dev/null
}
mkdir -p build
if rust_ok; then
    echo "reusing .venv-rust ($RUST_PACKAGE)"
elif { make_venv .venv-rust && pip_in .venv-rust "$RUST_PACKAGE" && rust_ok; } \
        >build/install-rust.log 2>&1; then
    echo "installed the Rust $RUST_PACKAGE into .venv-rust"
else
    rm -rf .venv-rust
    echo "warning: could not install the Rust $RUST_PACKAGE into .venv-rust" \
         "(build/install-rust.log): the differential and migration tests will skip" >&2
fi
