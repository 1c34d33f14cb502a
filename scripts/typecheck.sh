#!/usr/bin/env bash
# The type stubs (python/dictsqlite/*.pyi) against the code they describe:
#   1. mypy --strict accepts examples/*.py and tests/typing/ok_*.py, which
#      then also run (what type-checks must work);
#   2. mypy --strict rejects every tests/typing/bad_*.py line marked
#      "# E: code", with that error code, and nothing else;
#   3. mypy.stubtest compares the stubs with the runtime signatures (the
#      __text_signature__ of every C method), so they cannot drift apart.
# The stubs are read from python/ (MYPYPATH); the runtime is whichever
# dictsqlite python3 imports: the installed package, or a staged build with
#   bash scripts/stage.sh -k signatures && PYTHONPATH=build/stage bash scripts/typecheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
PY=${PYTHON:-$PY}
# Pinned: a newer mypy may add checks (stubtest did with @disjoint_base), so
# a version change is a deliberate step. scripts/install.sh installs the same.
MYPY_VERSION=2.4.1
if [ "$("$PY" -m mypy --version 2>/dev/null | awk '{print $2}')" != "$MYPY_VERSION" ]; then
    echo "typecheck: installing mypy==$MYPY_VERSION" >&2
    "$PY" -m pip install -q "mypy==$MYPY_VERSION"
fi
export MYPYPATH="$PWD/python"
# stubtest keeps a cache (mypy itself runs with --cache-dir=/dev/null) and
# takes its place only from a config file: under build/, so a run leaves
# nothing else in the checkout
mkdir -p build
printf '[mypy]\ncache_dir = build/mypy-cache\n' > build/stubtest.ini
mypy=("$PY" -m mypy --strict --show-error-codes --no-error-summary --no-incremental
      --cache-dir=/dev/null)

echo "== mypy --strict: examples and tests/typing/ok_*.py"
"${mypy[@]}" examples/*.py tests/typing/ok_*.py
for f in tests/typing/ok_*.py; do
    "$PY" "$f"
done

echo "== mypy --strict: each misuse in tests/typing/bad_*.py is flagged"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# mypy exits 1 when it finds errors, which is the point here; the verdict is
# what check_expected.py makes of its output.
status=0
"${mypy[@]}" tests/typing/bad_*.py > "$out" 2>&1 || status=$?
if [ "$status" -ne 1 ]; then
    cat "$out" >&2
    echo "typecheck: mypy on the bad files exited $status, expected 1 (errors found)" >&2
    exit 1
fi
"$PY" tests/typing/check_expected.py tests/typing/bad_*.py < "$out"

echo "== stubtest dictsqlite (runtime: $("$PY" -c 'import dictsqlite; print(dictsqlite.__file__)'))"
"$PY" -m mypy.stubtest --mypy-config-file build/stubtest.ini dictsqlite
echo "typecheck: ok"
