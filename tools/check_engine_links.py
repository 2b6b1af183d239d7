#!/usr/bin/env python3
"""Fails when the shipped engine (python/npusim/libnpusim.so) needs a shared library a plain
Debian machine with the set-up's packages lacks: `make python` links the Swift runtime in
statically, so the Python package needs no Swift toolchain.

Usage: check_engine_links.py LIBRARY
"""
import re
import subprocess
import sys

# The C and C++ runtimes, zlib, OpenBLAS and its Fortran runtime, the dynamic loader.
ALLOWED = {"linux-vdso", "libc", "libm", "libstdc++", "libgcc_s", "libz", "libopenblas", "libgfortran",
           "libquadmath", "/lib64/ld-linux-x86-64"}


def needed(library):
    out = subprocess.run(["ldd", library], capture_output=True, text=True, check=True).stdout
    return {re.split(r"[\s.]", line.strip())[0] for line in out.splitlines() if line.strip()}


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    extra = sorted(needed(argv[1]) - ALLOWED)
    if extra:
        print(f"{argv[1]} needs {', '.join(extra)}, which a machine without the Swift toolchain lacks; "
              f"build it with `make python` (it links the Swift runtime statically)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
