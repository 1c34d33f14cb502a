#!/usr/bin/env bash
# Take a fresh Debian 12 machine (python3 + root) to a working dictsqlite:
# the system libraries, the build tools, then the package itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    build-essential pkg-config cmake python3-dev python3-pip python3-venv \
    libsqlite3-dev libssl-dev libmsgpack-dev libcjson-dev libargon2-dev clang >/dev/null
python3 -m pip install -q --upgrade pip setuptools wheel pytest
# uvloop: the async tests run on it as well as on asyncio's own loop
python3 -m pip install -q uvloop
python3 -m pip install -q .
