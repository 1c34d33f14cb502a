#!/usr/bin/env bash
# The README's install from a fresh clone of the current commit (HEAD, not
# the uncommitted changes), with Debian's own interpreter by default:
#   bash scripts/check_fresh_install.sh          # command 1: install + demo
#   bash scripts/check_fresh_install.sh --full   # then command 2, the whole
#                                                # test suite (about 10 min)
#   PYTHON=python3 bash scripts/check_fresh_install.sh   # another interpreter
#   KEEP=1 ...                                   # keep the clone afterwards
# It checks that .venv's interpreter is a venv over PYTHON (for
# /usr/bin/python3: sys.base_prefix == "/usr"), that dictsqlite is imported
# from .venv and not from the source tree, the demo's output, and that the run
# leaves nothing in the clone outside .venv, .venv-rust and build/
# (git clean -xdn). Exits 1 with a line naming the first check that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
full=""
case "${1:-}" in
    --full) full=1 ;;
    "") ;;
    *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-/usr/bin/python3}"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v "$PYTHON" >/dev/null || fail "PYTHON=$PYTHON not found"
want_base="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"

head="$(git rev-parse HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
    echo "note: uncommitted changes are not in the clone: it checks $head" >&2
tmp="$(mktemp -d /tmp/dictsqlite-fresh-XXXXXX)"
if [ -n "${KEEP:-}" ]; then
    echo "clone kept in $tmp/dictsqlite"
else
    trap 'rm -rf "$tmp"' EXIT
fi
clone="$tmp/dictsqlite"
# The common git directory, so that a linked worktree clones as well; then
# the exact commit, which need not be any branch's tip.
git clone -q --no-checkout "$(git rev-parse --path-format=absolute --git-common-dir)" "$clone"
git -C "$clone" checkout -q --detach "$head"
cd "$clone"

leftovers() {
    # git clean -xdn lists what is neither tracked nor the allowed output
    local extra
    extra="$(git clean -xdn | sed 's/^Would remove //' | grep -vxE '\.venv/|\.venv-rust/|build/' || true)"
    [ -z "$extra" ] || fail "$1 left files outside .venv, .venv-rust and build/: $(echo $extra)"
}

echo "== command 1 in $clone with PYTHON=$PYTHON ($("$PYTHON" -V 2>&1), $want_base)"
start=$SECONDS
# README: bash scripts/install.sh && .venv/bin/python examples/demo.py, one
# part at a time to say which failed (set -e skips the left side of &&)
PYTHON="$PYTHON" bash scripts/install.sh || fail "scripts/install.sh exited non-zero"
.venv/bin/python examples/demo.py | tee "$tmp/demo.out" || fail "examples/demo.py exited non-zero"
echo "== command 1: $((SECONDS - start)) s"

info="$(.venv/bin/python -c 'import sys, dictsqlite, dictsqlite._native as n
print(sys.prefix); print(sys.base_prefix); print(dictsqlite.__file__); print(n.__file__)')"
{ read -r prefix; read -r base; read -r pkg; read -r native; } <<<"$info"
[ "$prefix" = "$clone/.venv" ] || fail ".venv/bin/python has sys.prefix $prefix, expected $clone/.venv"
[ "$base" = "$want_base" ] || fail ".venv/bin/python has sys.base_prefix $base, expected $want_base ($PYTHON)"
case "$pkg" in "$clone/.venv/lib/"*) ;; *) fail "dictsqlite imported from $pkg, expected under $clone/.venv/lib/" ;; esac
case "$native" in "$clone/.venv/lib/"*) ;; *) fail "dictsqlite._native imported from $native, expected under .venv" ;; esac
echo "ok: .venv over $base, dictsqlite from $pkg"

# The demo: the version line, its seven numbered parts in order, and "done".
version="$(.venv/bin/python -c 'import dictsqlite; print(dictsqlite.__version__)')"
grep -q "^dictsqlite $version, SQLite [0-9.]*$" "$tmp/demo.out" ||
    fail "the demo's first line does not name dictsqlite $version and the SQLite version"
parts="$(grep -oE '^[1-7]\. [a-zA-Z]+' "$tmp/demo.out" | cut -c1 | tr -d '\n')"
[ "$parts" = 1234567 ] || fail "the demo printed parts '$parts', expected 1234567"
grep -q "^3\. lazy: stored and flushed 100,000 items in .* s; len = 10000[0-9]$" "$tmp/demo.out" ||
    fail "the demo's lazy part did not store 100,000 items"
[ "$(tail -n 1 "$tmp/demo.out")" = done ] || fail "the demo's last line is not 'done'"
echo "ok: demo output"
if [ -x .venv-rust/bin/python ]; then
    echo "ok: .venv-rust has $(.venv-rust/bin/python -c 'import importlib.metadata as m; print("dictsqlite", m.version("dictsqlite"))')"
else
    echo "note: no .venv-rust (see the warning above): the tests that need it skip"
fi
leftovers "command 1"

if [ -n "$full" ]; then
    echo "== command 2: bash scripts/test.sh"
    start=$SECONDS
    bash scripts/test.sh || fail "bash scripts/test.sh exited non-zero"
    echo "== command 2: $((SECONDS - start)) s"
    leftovers "command 2"
fi
echo "PASS: fresh clone of $head with $PYTHON"
