"""The build names the Debian package of a missing C library in one line."""
import os
import pathlib
import subprocess
import sys

import pytest

SETUP_PY = pathlib.Path(__file__).resolve().parents[2] / "setup.py"


@pytest.mark.skipif(not SETUP_PY.exists(), reason="needs the source tree")
def test_missing_system_library_stops_the_build_with_the_package_name(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH="")
    proc = subprocess.run([sys.executable, str(SETUP_PY), "--name"], cwd=SETUP_PY.parent,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert lines == ["error: the C library 'sqlite3' was not found by pkg-config: "
                     "apt-get install libsqlite3-dev"]
