#!/usr/bin/python3
"""run.py — the `python` test suite: installs the package as a user would and
runs its pytest tests against this build.

    run.py WORKDIR

Exactly the documented installation, offline:
    /usr/bin/python3 -m venv --system-site-packages WORKDIR/venv
    WORKDIR/venv/bin/pip install --no-build-isolation WORKDIR/pkg
where WORKDIR/pkg is a fresh copy of the source tree's python/ (setuptools
builds in the tree it installs from, and a test never writes to the sources).
The venv is made once per build directory and the package reinstalled each
run. mypy --strict (Debian's python3-mypy) checks the type hints. Then pytest (Debian's python3-pytest, seen through the system site
packages) runs tests/python/ with the paths meson exported: FERD_BIN, FER_BIN,
FERCTL, FERD_CLASSIFY_LIB (the build's classify/ directory), FER_SOURCE_ROOT.

In a sanitizer build libferclassify needs the ASan runtime loaded first: it is
preloaded (LD_PRELOAD) into the interpreter, with leak detection off (the
interpreter itself keeps memory until exit); the C programs the tests start
run with the caller's ASAN_OPTIONS, leak checks included.
"""

import os
import shutil
import subprocess
import sys


def sh(*argv, **kw):
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kw)


def sanitizer_env(env):
    san = env.get("FER_SANITIZE", "none")
    if "address" not in san:
        return env
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        p = subprocess.run(["gcc", "-print-file-name=" + name], capture_output=True,
                           text=True).stdout.strip()
        if os.path.isabs(p) and os.path.exists(p):
            libs.append(p)
    env = dict(env)
    # The C programs the tests start get the caller's settings back (conftest's
    # child_env), leak checks included.
    env["FER_CHILD_ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "")
    env["FER_CHILD_LD_PRELOAD"] = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = " ".join(libs + [env.get("LD_PRELOAD", "")]).strip()
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run.py WORKDIR")
    work = os.path.abspath(sys.argv[1])
    source = os.environ.get("FER_SOURCE_ROOT") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))
    os.makedirs(work, exist_ok=True)
    venv = os.path.join(work, "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        sh("/usr/bin/python3", "-m", "venv", "--system-site-packages", venv)
    pkg = os.path.join(work, "pkg")
    shutil.rmtree(pkg, ignore_errors=True)
    shutil.copytree(os.path.join(source, "python"), pkg,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    sh(os.path.join(venv, "bin", "pip"), "install", "--no-build-isolation", "--no-index",
       "--force-reinstall", "--quiet", "--disable-pip-version-check", pkg)

    # The type hints hold (mypy --strict over the package as installed from).
    sh(py, "-m", "mypy", "--strict", "--cache-dir", os.path.join(work, "mypy-cache"),
       os.path.join(pkg, "ferd"))

    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("FER_MODEL", None)
    env.pop("FERD_SOCKET", None)
    env = sanitizer_env(env)
    tests = os.path.join(source, "tests", "python")
    # From the work directory, so the installed package is imported, never python/ itself.
    r = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        "--rootdir", tests, tests] + sys.argv[2:], cwd=work, env=env)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
