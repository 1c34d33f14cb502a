#!/usr/bin/env bash
# The whole test suite: the C unit tests of the core (ctest) and the pytest
# suites against the package that scripts/install.sh installed into .venv
# (run install.sh again after changing the sources). DICTSQLITE_SANITIZE=1
# runs both with AddressSanitizer + UndefinedBehaviorSanitizer instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# the failure paths, close races, decoders and the dict protocol. The
# 8-thread model test is left out here: under ASan's timing its writethrough
# run once saw keys() disagree with the model (issue 11 note, open defect);
# it runs in the normal suite above and in scripts/sanitize.sh.
SANITIZE_SUBSET="failure_rules or close_racing or dealloc or dict_protocol or storage_modes or encryption or safe_pickle or pickle_fast or options or tables or iteration or two_instances or async"
# the async tests must not skip their uvloop case where it was installed
export DICTSQLITE_REQUIRE_UVLOOP=1
if [ -n "${DICTSQLITE_SANITIZE:-}" ]; then
    exec bash scripts/sanitize.sh
fi
cmake -S . -B build/c -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/c -j"$(nproc)" >/dev/null
ctest --test-dir build/c --output-on-failure
# Run from tests/ so `import dictsqlite` finds the installed package, not ./python
(cd tests && "$PY" -m pytest -q -p no:cacheprovider python)
# mypy --strict and stubtest over the stubs (python/dictsqlite/*.pyi)
bash scripts/typecheck.sh
# Then the C tests and a focused pytest subset under ASan + UBSan (the whole
# suite under them: scripts/sanitize.sh with no arguments).
bash scripts/sanitize.sh -k "$SANITIZE_SUBSET"
# Fault injection: a -DDS_FAULTS build, every operation swept over failing calls
bash scripts/faults.sh
# The libFuzzer harnesses of the JSON and MessagePack decoders, 20 s each
bash scripts/fuzz.sh
