#!/usr/bin/env bash
# Fault injection (include/dictsqlite/faults.h): build the extension with
# -DDS_FAULTS into build/faults and run tests/python/test_faults.py against
# it. A default build has no hooks, and there that test skips.
#   bash scripts/faults.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
stage=build/faults
mkdir -p "$stage/dictsqlite"
DICTSQLITE_FAULTS=1 python3 setup.py -q build_ext --build-temp build/faults-obj \
    --build-lib "$stage" >/dev/null
cp -r python/dictsqlite/*.py python/dictsqlite/modules python/dictsqlite/py.typed \
    "$stage/dictsqlite/"
cd tests
PYTHONPATH="../$stage" exec python3 -m pytest -q -p no:cacheprovider python/test_faults.py "$@"
