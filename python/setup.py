"""setup.py — metadata lives in pyproject.toml; this file only records, when the
package is built, where the libferclassify of a build tree is, so a package
installed from a checkout finds its build without any setting.

The recorded path is $FERD_CLASSIFY_LIB as set at install time, else the
checkout's build/classify/libferclassify.so.0 when it exists, else nothing.
A distribution package (FERD_PACKAGE_BUILD=1, set by debian/rules) records
nothing whatever the checkout holds: installed, it loads the system's library. It
goes into the installed package as ferd/_built.py (never into the sources) and
ferd.classifier tries it after $FERD_CLASSIFY_LIB and before the system's.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SONAME = "libferclassify.so.0"


def build_tree_library() -> str:
    if os.environ.get("FERD_PACKAGE_BUILD") == "1":
        return ""
    cands = []
    env = os.environ.get("FERD_CLASSIFY_LIB", "")
    if env:
        cands.append(env)
    cands.append(os.path.join(HERE, "..", "build", "classify"))
    for c in cands:
        p = os.path.join(c, SONAME) if os.path.isdir(c) else c
        if os.path.isfile(p):
            return os.path.abspath(p)
    return ""


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, "ferd", "_built.py")
        with open(target, "w") as f:
            f.write('"""Written by setup.py when the package was built."""\n'
                    f"BUILD_TREE_LIBRARY = {build_tree_library()!r}\n")


setup(cmdclass={"build_py": BuildPy})
