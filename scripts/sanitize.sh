#!/usr/bin/env bash
# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer:
# the C unit tests (with leak detection), then pytest against a sanitized
# build of the extension, loaded into the normal interpreter by preloading
# the sanitizer runtimes. CPython itself keeps memory alive at exit, so leak
# detection is off for the Python part; reference leaks are covered by
# tests/python/test_refleaks.py instead. --capture=sys lets a sanitizer report
# (written to file descriptor 2 by C code) reach the terminal even when it
# aborts the process. allocator_may_return_null: a corrupt pickle may claim
# a length of exabytes, and pickle asks malloc for it; in a normal build
# malloc fails and the read raises CorruptValueError, which is what the fuzz
# tests check, while ASan by default aborts on such a request.
#   bash scripts/sanitize.sh                # the whole pytest suite
#   bash scripts/sanitize.sh -k threads     # pytest with these arguments
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
cmake -S . -B build/asan -DDICTSQLITE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure

stage=build/asan-py
rm -rf "$stage" && mkdir -p "$stage"
DICTSQLITE_SANITIZE=1 "$PY" setup.py -q build_ext --build-temp build/asan-obj \
    --build-lib "$stage" --force >/dev/null
stage_python_package "$stage"
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
cd tests
LD_PRELOAD="$preload" PYTHONPATH="../$stage" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$PY" -m pytest -q -p no:cacheprovider --capture=sys python "$@"
