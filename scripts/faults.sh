#!/usr/bin/env bash
# Fault injection (include/dictsqlite/faults.h): build the extension with
# -DDS_FAULTS into build/faults (never site-packages) and run
# tests/python/test_faults.py against it. A default build has no hooks, and
# there that test skips.
#   bash scripts/faults.sh                    # the fault sweeps
#   bash scripts/faults.sh -k lazy            # pytest args pass through
#   FAULTS_SANITIZE=1 bash scripts/faults.sh  # the same under ASan + UBSan:
#                                             # error paths are where leaks
#                                             # and use-after-free hide
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
stage=build/faults
env=(DICTSQLITE_FAULTS=1)
run=()
if [ -n "${FAULTS_SANITIZE:-}" ]; then
    stage=build/faults-asan
    env+=(DICTSQLITE_SANITIZE=1)
    # As scripts/sanitize.sh: the runtimes preloaded into the normal
    # interpreter, leak detection off for CPython's own allocations, and a
    # corrupt pickle's exabyte allocation allowed to fail as in a normal build.
    run=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
         ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
         UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
fi
rm -rf "$stage" && mkdir -p "$stage/dictsqlite"
# Its own object directory, so a fault object is never linked into the stage
# or sanitizer builds, and --force because setuptools does not see a changed
# define as a reason to rebuild.
env "${env[@]}" "$PY" setup.py -q build_ext --build-temp "$stage-obj" \
    --build-lib "$stage" --force >/dev/null
stage_python_package "$stage"
summary="$PWD/$stage/summary.txt"
rm -f "$summary"
cd tests
rc=0
"${run[@]}" env PYTHONPATH="../$stage" DICTSQLITE_FAULTS_SUMMARY="$summary" \
    "$PY" -m pytest -q -p no:cacheprovider -rxX python/test_faults.py python/test_cli_rekey.py "$@" || rc=$?
[ -f "$summary" ] && cat "$summary"
exit "$rc"
