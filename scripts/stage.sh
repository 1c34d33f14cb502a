#!/usr/bin/env bash
# Build the extension into build/stage (not site-packages) and run pytest
# against it: for working in several checkouts (git worktrees) at once.
#   bash scripts/stage.sh                 # build, then the whole pytest suite
#   bash scripts/stage.sh -k threads      # build, then pytest with these args
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
stage=build/stage
mkdir -p "$stage/dictsqlite"
"$PY" setup.py -q build_ext --build-temp build/stage-obj --build-lib "$stage" >/dev/null
stage_python_package "$stage"
cd tests
PYTHONPATH="../$stage" exec "$PY" -m pytest -q -p no:cacheprovider python "$@"
