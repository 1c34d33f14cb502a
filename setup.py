"""Build dictsqlite: the C core (src/core) and the CPython binding (src/ext)
as one extension module, dictsqlite._native, against the system libraries
found with pkg-config."""
import os
import shlex
import subprocess
import sys
from glob import glob

from setuptools import Extension, setup

# pkg-config name -> the Debian package that provides it
SYSTEM_LIBRARIES = {
    "sqlite3": "libsqlite3-dev",
    "libcrypto": "libssl-dev",
    "libargon2": "libargon2-dev",
    "msgpack": "libmsgpack-dev",
    "libcjson": "libcjson-dev",
}


def pkg_config(*args):
    return shlex.split(subprocess.check_output(["pkg-config", *args], text=True))


def library_flags():
    try:
        subprocess.check_output(["pkg-config", "--version"])
    except (OSError, subprocess.CalledProcessError):
        sys.exit("error: pkg-config is missing: apt-get install pkg-config")
    cflags, libs = [], []
    for name, debian_package in SYSTEM_LIBRARIES.items():
        if subprocess.call(["pkg-config", "--exists", name]) != 0:
            sys.exit(f"error: the C library '{name}' was not found by pkg-config: "
                     f"apt-get install {debian_package}")
        cflags += pkg_config("--cflags", name)
        libs += pkg_config("--libs", name)
    return cflags, libs


cflags, libs = library_flags()
compile_args = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
                "-Wno-missing-field-initializers", "-O2", *cflags]
link_args = [*libs, "-lpthread"]
if os.environ.get("DICTSQLITE_FAULTS"):
    # test-only fault injection (include/dictsqlite/faults.h); never released
    compile_args.append("-DDS_FAULTS")
if os.environ.get("DICTSQLITE_SANITIZE"):
    # ASan + UBSan build of the whole extension; see README "Sanitizers".
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined", "-O1", "-g"]
    compile_args += sanitize
    link_args += ["-fsanitize=address,undefined"]

native = Extension(
    "dictsqlite._native",
    sources=sorted(glob("src/core/*.c")) + sorted(glob("src/ext/*.c")),
    include_dirs=["include", "src/ext"],
    depends=glob("include/dictsqlite/*.h") + glob("src/core/*.h") + glob("src/ext/*.h"),
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(ext_modules=[native])
