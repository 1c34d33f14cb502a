#!/usr/bin/env bash
# The whole test suite: the C unit tests of the core (ctest) and the pytest
# suites against the installed package. DICTSQLITE_SANITIZE=1 runs both with
# AddressSanitizer + UndefinedBehaviorSanitizer instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DICTSQLITE_SANITIZE:-}" ]; then
    exec bash scripts/sanitize.sh
fi
cmake -S . -B build/c -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/c -j"$(nproc)" >/dev/null
ctest --test-dir build/c --output-on-failure
# Run from tests/ so `import dictsqlite` finds the installed package, not ./python
cd tests && python3 -m pytest -q -p no:cacheprovider python
