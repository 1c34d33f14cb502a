#!/usr/bin/env bash
# Build the libFuzzer harnesses of the JSON and MessagePack decoders
# (tests/fuzz/) with clang, ASan and UBSan, and run each on its seed corpus.
#   bash scripts/fuzz.sh            # bounded run for CI: 20 s per harness
#   bash scripts/fuzz.sh --long     # 30 min per harness (FUZZ_SECONDS overrides)
#   bash scripts/fuzz.sh --build    # build only
#   build/fuzz/fuzz_json FILE...    # replay inputs (a saved crash) after a build
# Needs clang (apt-get install clang) and the python3-dev headers. New inputs
# go to build/fuzz/work/<name>, crashes to build/fuzz/artifacts/; the committed
# seed corpus in tests/fuzz/corpus/<name> is only read. Exits non-zero when a
# harness finds a crash, a leak or a broken property (fuzz_common.h).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

mode=bounded
case "${1:-}" in
    --long) mode=long ;;
    --build) mode=build ;;
    "") ;;
    *) echo "usage: $0 [--long|--build]" >&2; exit 2 ;;
esac
seconds="${FUZZ_SECONDS:-$([ "$mode" = long ] && echo 1800 || echo 20)}"

CC="${FUZZ_CC:-clang}"
if ! command -v "$CC" >/dev/null; then
    echo "error: $CC not found: apt-get install clang" >&2
    exit 1
fi
# PYTHON overrides .venv's interpreter. A venv's sysconfig names its base
# interpreter's directories, so this embeds the base interpreter.
PY="${PYTHON:-$PY}"
# The python3-config of the interpreter that will be embedded.
pyconfig="$("$PY" -c 'import sys, sysconfig, os; print(os.path.join(sysconfig.get_config_var("BINDIR"), "python%d.%d-config" % sys.version_info[:2]))')"
[ -x "$pyconfig" ] || pyconfig="$PY-config"
# -O3/-DNDEBUG from python-config would fight the sanitizer flags; keep -I only.
py_cflags="$("$pyconfig" --includes)"
py_ldflags="$("$pyconfig" --embed --ldflags)"
py_libdir="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"

out=build/fuzz
mkdir -p "$out/artifacts"
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -Wno-missing-field-initializers
       -Iinclude -Isrc/ext $py_cflags $(pkg-config --cflags msgpack libcjson))
libs=($py_ldflags -Wl,-rpath,"$py_libdir" $(pkg-config --libs msgpack libcjson))
decoders=(src/ext/json_codec.c src/ext/msgpack_codec.c src/ext/key_string_cache.c)

for name in json msgpack; do
    "$CC" "${flags[@]}" -o "$out/fuzz_$name" "tests/fuzz/fuzz_$name.c" "${decoders[@]}" "${libs[@]}"
done
echo "built $out/fuzz_json and $out/fuzz_msgpack"
[ "$mode" = build ] && exit 0

# Leak checks: libFuzzer runs LeakSanitizer on an input whose mallocs
# outnumber its frees, so a leaked str/int/bytes (each a malloc block, see
# fuzz_common.h) is reported. Leaked lists and dicts stay reachable through
# CPython's GC lists: tests/python/test_refleaks.py covers those.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
for name in json msgpack; do
    mkdir -p "$out/work/$name"
    echo "== fuzz_$name: ${seconds}s, seeds tests/fuzz/corpus/$name"
    if ! "$out/fuzz_$name" "$out/work/$name" "tests/fuzz/corpus/$name" \
        -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
        2> "$out/fuzz_$name.log"; then
        status=1
        tail -n 60 "$out/fuzz_$name.log" >&2
        echo "fuzz_$name FAILED: see $out/fuzz_$name.log and $out/artifacts/" >&2
    else
        grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' \
            "$out/fuzz_$name.log" | sed "s/^/fuzz_$name /"
    fi
done
exit $status
