"""Builds the dbmclient package from a checkout of dbmd (`pip install client/python`).

The extension module is compiled together with the libdbmclient sources it needs, found
from this file's own location, so that nothing has to be built first.  `make python`
builds the same module against build/libdbmclient.a instead.  setuptools' build and
metadata directories go to a temporary directory, removed at exit, so that an in-tree
build leaves nothing behind in the checkout.  The package is built from the checkout
only: an sdist would lack the library's sources."""

import atexit
import glob
import os
import shutil
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# The library's sources lie outside this directory, where setuptools' file lists may not
# point, so they join the extension's only when it is compiled.  Absolute paths put each
# object at its source's path inside the build directory.
LIB_SOURCES = [os.path.join(TOP, "client", "libdbmclient.c"),
               os.path.join(TOP, "client", "result.c")]
LIB_SOURCES += sorted(glob.glob(os.path.join(TOP, "proto", "*.c")))


class BuildExtWithLibrary(build_ext):
    """build_ext that compiles libdbmclient's sources into the extension."""

    def build_extension(self, ext):
        ext.sources = ext.sources + [s for s in LIB_SOURCES if s not in ext.sources]
        ext.depends = ext.depends + glob.glob(os.path.join(TOP, "client", "*.h")) + \
            glob.glob(os.path.join(TOP, "proto", "*.h"))
        super().build_extension(ext)


WORK = tempfile.mkdtemp(prefix="dbmclient-build.")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)

setup(
    packages=["dbmclient"],
    ext_modules=[Extension(
        "dbmclient._dbmclient",
        sources=["_dbmclient.c"],
        include_dirs=[os.path.join(TOP, "client"), os.path.join(TOP, "proto")],
        define_macros=[("_GNU_SOURCE", None)],
        # Only PyInit__dbmclient is exported; the library's names stay inside the module.
        extra_compile_args=["-std=c11", "-fvisibility=hidden"],
    )],
    cmdclass={"build_ext": BuildExtWithLibrary},
    options={"build": {"build_base": os.path.join(WORK, "build")},
             "egg_info": {"egg_base": WORK}},
)
