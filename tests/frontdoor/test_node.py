"""node-postgres (npm's `pg`, with `pg-cursor`) through the front door: node_pg.js beside
this file runs its checks against development and production.

The packages come from the npm registry, installed once into the build directory
(TEST_BUILDDIR/frontdoor-node).  Without node, or when npm cannot install them (no
registry in reach), the test skips and says why: that is the one test here that needs
the network, and it is skipped rather than failed, under CI too."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILDDIR

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["pg@8", "pg-cursor@2"]
INSTALL_S = 90


@pytest.fixture(scope="session")
def node_modules():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: node-postgres not tested")
    npm = shutil.which("npm")
    base = os.path.join(BUILDDIR, "frontdoor-node") if BUILDDIR else \
        os.path.join(tempfile.gettempdir(), f"dbmd-frontdoor-node-{os.getuid()}")
    modules = os.path.join(base, "node_modules")
    if all(os.path.isdir(os.path.join(modules, p.split("@")[0])) for p in PACKAGES):
        return node, modules
    if npm is None:
        pytest.skip("npm is not installed: node-postgres not tested")
    os.makedirs(base, exist_ok=True)
    try:
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                            "--fetch-retries=1", "--fetch-timeout=30000", "--prefix", base,
                            *PACKAGES],
                           capture_output=True, text=True, timeout=INSTALL_S,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {' '.join(PACKAGES)} took over {INSTALL_S} s (no registry "
                    "in reach?): node-postgres not tested")
    if r.returncode != 0:
        lines = [x.strip() for x in (r.stderr or r.stdout).splitlines() if x.strip()]
        tail = " / ".join(lines[:3])[:300]
        pytest.skip(f"npm install {' '.join(PACKAGES)} failed (no registry in reach?): "
                    f"{tail}: node-postgres not tested")
    return node, modules


@pytest.mark.parametrize("backends", ["sqlite", "sqlite+postgresql"])
def test_node_postgres(dbmd, request, node_modules, backends):
    if "postgresql" in backends:
        request.getfixturevalue("pg")
    node, modules = node_modules
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_PATH": modules,
           "HOME": os.environ.get("HOME", "/tmp")}
    args = [dbmd.dir] + (["with-postgresql"] if "postgresql" in backends else [])
    r = subprocess.run([node, "--no-deprecation", os.path.join(HERE, "node_pg.js"), *args],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"node_pg.js: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "FAIL" not in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith(" 0 failed"), r.stdout
