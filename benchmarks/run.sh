#!/bin/sh
# Run the dictsqlite benchmark (see benchmarks/README.md). Arguments go to run.py:
#   benchmarks/run.sh            full run, results in benchmarks/results/
#   benchmarks/run.sh --quick    < 60 s smoke test, installs nothing
set -e
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/run.py" "$@"
