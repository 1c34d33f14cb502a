#!/usr/bin/env bash
# Build the extension into build/stage (not site-packages) and run pytest
# against it: for working in several checkouts (git worktrees) at once.
#   bash scripts/stage.sh                 # build, then the whole pytest suite
#   bash scripts/stage.sh -k threads      # build, then pytest with these args
set -euo pipefail
cd "$(dirname "$0")/.."
stage=build/stage
mkdir -p "$stage/dictsqlite"
python3 setup.py -q build_ext --build-temp build/stage-obj --build-lib "$stage" >/dev/null
cp -r python/dictsqlite/*.py python/dictsqlite/modules python/dictsqlite/cli python/dictsqlite/migrate python/dictsqlite/py.typed \
    "$stage/dictsqlite/"
cd tests
PYTHONPATH="../$stage" exec python3 -m pytest -q -p no:cacheprovider python "$@"
