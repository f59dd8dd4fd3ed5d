"""Fixtures of the dbmclient tests: real dbmd daemons, one on SQLite and one on PostgreSQL.

The environment comes from make check, or by hand from the top of the tree:

  make all && TEST_DBMD_BIN=$PWD/build/dbmd TEST_BUILDDIR=$PWD/build TEST_SRCDIR=$PWD \
    sh tests/pg_harness.sh sh -c \
    'PYTHONPATH=$PWD/build/python /usr/bin/python3 -m pytest -q client/python/tests'

  TEST_DBMD_BIN   the dbmd to test
  TEST_BUILDDIR   the build directory, which holds dbmctl
  TEST_PGHOST     a private PostgreSQL server's socket directory (tests/pg_harness.sh),
  TEST_PGPORT     its port; user postgres, trust authentication.

Without TEST_PGHOST the PostgreSQL tests skip, unless CI=true: then they fail, so that CI
never passes by skipping them.

Two dbmd daemons run for the whole session, each started with an environment of our making
(PATH, plus the DBMD_ variables a test wants dbmd to see) and stopped with SIGTERM at the
end, which must make them exit 0:

  sqlite_dbmd   development: SQLite in its state directory (the default), pool_size 4 by
                --set, idle_timeout 5m from its configuration file, statement_timeout
                overridable; test: in-memory SQLite (the default), pool_size 3 from
                DBMD_TEST_POOL_SIZE in dbmd's environment.
  pg_dbmd       production: a database of the session's own on the private server,
                statement_timeout overridable; production/read_only is the built-in
                read_only role on the same database.

Tests name tables after themselves (the `table` fixture), so they never see each other's.
The `target` fixture parametrizes a test over both backends: the environment to open, the
dbmd serving it and a way to look at the database from outside (psycopg2 or sqlite3).
"""

import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

import dbmclient

DBMD_BIN = os.environ.get("TEST_DBMD_BIN")
BUILDDIR = os.environ.get("TEST_BUILDDIR")
CI = os.environ.get("CI") == "true"

READY_S = 10.0          # dbmd must answer a ping within this
STOP_S = 10.0           # and exit within this after SIGTERM
WAIT_S = 10.0           # the usual bound of anything else a test waits for


def wait_until(pred, what, timeout=WAIT_S, interval=0.01):
    """Polls pred until it returns something true, which is returned; fails after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def wait_pid(pid, timeout=WAIT_S):
    """Waits for a child process to exit; returns its exit code (-signal if killed)."""
    end = time.monotonic() + timeout
    while True:
        r, st = os.waitpid(pid, os.WNOHANG)
        if r == pid:
            return os.waitstatus_to_exitcode(st)
        if time.monotonic() >= end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"child process {pid} did not exit within {timeout:.1f}s")
        time.sleep(0.01)


def dbmctl_path():
    if not BUILDDIR:
        pytest.fail("TEST_BUILDDIR names the build directory with dbmctl (make check sets it)")
    return os.path.join(BUILDDIR, "dbmctl")


class Dbmd:
    """One dbmd started for the tests: its socket, its state directory, its log."""

    def __init__(self, name, sets=(), env=None, conf=""):
        if not DBMD_BIN:
            pytest.fail("TEST_DBMD_BIN names the dbmd to test (make check sets it)")
        self.dir = tempfile.mkdtemp(prefix=f"dbmd-py-{name}-")
        self.sock = os.path.join(self.dir, "dbmd.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "dbmd.yaml")
        self.logpath = os.path.join(self.dir, "dbmd.log")
        self.sets = list(sets)
        # Only what we give it: any other DBMD_ variable would stop dbmd from starting.
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        self.env.update(env or {})
        self.proc = None
        # dbmd refuses a -c file that does not exist: give it one, empty by default.
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        argv = [DBMD_BIN, "-f", "-c", self.conf, "-s", self.sock,
                "--set", f"daemon.state_dir={self.state}"]
        for s in self.sets:
            argv += ["--set", s]
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + READY_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"dbmd exited with status {self.proc.returncode} before it "
                            f"was ready; its log:\n{self.log()}")
            if self.ping():
                return self
            if time.monotonic() >= end:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"dbmd did not answer on {self.sock} in time; its log:\n"
                            f"{self.log()}")
            time.sleep(0.02)

    def stop(self):
        """SIGTERM; returns the exit code.  One that does not exit in time fails the test."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"dbmd did not exit within {STOP_S:.0f}s of SIGTERM; its log:\n"
                        f"{self.log()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # dbmctl, the operator's view.

    def ctl(self, *args, check=True):
        r = subprocess.run([dbmctl_path(), "-s", self.sock, *args], capture_output=True,
                           text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            pytest.fail(f"dbmctl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def ping(self):
        try:
            return self.ctl("ping", check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def clients(self):
        return self.ctl_json("clients")["clients"]

    def handles(self, pid=None):
        """Handles open in dbmd for the connections of process pid (default: this one)."""
        pid = os.getpid() if pid is None else pid
        return sum(int(c["handles"]) for c in self.clients() if int(c["pid"]) == pid)

    def client_pids(self):
        return {int(c["pid"]) for c in self.clients()}

    def resolve(self, env, role="primary"):
        """dbmctl resolve as {key: (value, source)}, with hash/backend/environment/role."""
        j = self.ctl_json("resolve", env, role)
        out = {k: (j[k], "") for k in ("environment", "role", "backend", "hash")}
        for kv in j["keys"]:
            out[kv["key"]] = (kv["value"], kv["source"])
        return out


# PostgreSQL, from outside.

_seq = itertools.count()


def pg_params():
    """The private server's host and port, or None (skip; under CI=true: fail)."""
    host = os.environ.get("TEST_PGHOST")
    if host:
        return host, os.environ.get("TEST_PGPORT") or "5432"
    if CI:
        pytest.fail("TEST_PGHOST is not set, and CI=true: the PostgreSQL tests must run with "
                    "the server tests/pg_harness.sh starts (make check)")
    pytest.skip("no PostgreSQL server: TEST_PGHOST is not set (make check starts one)")


def pg_connect(dbname, autocommit=True):
    import psycopg2
    host, port = pg_params()
    c = psycopg2.connect(host=host, port=port, user="postgres", dbname=dbname,
                         application_name="dbmclient-tests", connect_timeout=10)
    c.autocommit = autocommit
    return c


class PgDb:
    """The session's database on the private server."""

    def __init__(self):
        self.host, self.port = pg_params()
        self.name = f"dbmdpy_{os.getpid()}_{next(_seq)}"
        self.admin = pg_connect("postgres")
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.name} TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C'")
        self.uri = (f"postgresql://postgres@/{self.name}?host={self.host}"
                    f"&port={self.port}")

    def connect(self, autocommit=True):
        return pg_connect(self.name, autocommit)

    def query(self, sql, params=None):
        """All rows of one statement, on a connection of its own (autocommit)."""
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else None
        finally:
            c.close()

    def drop(self):
        with self.admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        self.admin.close()


# The session's daemons.

def _stop_checked(d):
    code = d.stop()
    log = d.log()
    d.cleanup()
    assert code == 0, f"dbmd exited with status {code} at SIGTERM; its log:\n{log}"


# Line 3, column 5 is idle_timeout's place, which its source names.
SQLITE_CONF = """environments:
  development:
    idle_timeout: 5m
"""


@pytest.fixture(scope="session")
def sqlite_dbmd():
    d = Dbmd("sqlite", sets=["development.pool_size=4",
                             "development.overridable=statement_timeout"],
             env={"DBMD_TEST_POOL_SIZE": "3"}, conf=SQLITE_CONF)
    try:
        d.start()
    except BaseException:
        d.cleanup()
        raise
    yield d
    dbmclient.dispose_all()
    _stop_checked(d)


@pytest.fixture(scope="session")
def pg_db():
    db = PgDb()
    yield db
    db.drop()


@pytest.fixture(scope="session")
def pg_dbmd(pg_db):
    d = Dbmd("pg", sets=[f"production.uri={pg_db.uri}",
                         "production.pool_size=16",
                         "production.overridable=statement_timeout"])
    try:
        d.start()
    except BaseException:
        d.cleanup()
        raise
    yield d
    dbmclient.dispose_all()
    _stop_checked(d)


class Target:
    """One backend as the tests see it: where to connect and how to look from outside."""

    def __init__(self, kind, dbmd, environment, pg=None):
        self.kind = kind                # "sqlite" or "postgresql"
        self.dbmd = dbmd
        self.sock = dbmd.sock
        self.environment = environment
        self.pg = pg

    @property
    def is_pg(self):
        return self.kind == "postgresql"

    def connect(self, **kw):
        kw.setdefault("socket", self.sock)
        return dbmclient.connect(self.environment, **kw)

    def manager(self, **kw):
        kw.setdefault("socket", self.sock)
        return dbmclient.get_database_manager(self.environment, **kw)

    def outside(self, sql):
        """All rows of a statement run on the database directly, not through dbmd."""
        if self.is_pg:
            return self.pg.query(sql)
        path = os.path.join(self.dbmd.state, "development.db")
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=WAIT_S)
        try:
            return c.execute(sql).fetchall()
        finally:
            c.close()

    def count(self, table):
        return self.outside(f"SELECT count(*) FROM {table}")[0][0]

    def __repr__(self):
        return f"<Target {self.kind}>"


@pytest.fixture
def sqlite_target(sqlite_dbmd):
    return Target("sqlite", sqlite_dbmd, "development")


@pytest.fixture
def pg_target(pg_dbmd, pg_db):
    return Target("postgresql", pg_dbmd, "production", pg=pg_db)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request):
    return request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}"
                                   "_target")


@pytest.fixture
def table(request):
    """A table name of the test's own (not created)."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"t_{name[:40]}_{next(_seq)}"


@pytest.fixture
def own_dbmd():
    """A dbmd of the test's own on SQLite, for tests that stop or kill it."""
    d = Dbmd("own")
    d.start()
    yield d
    d.cleanup()


@pytest.fixture(autouse=True)
def _dispose_after_test():
    """Every test starts without managers or connections left by another."""
    yield
    dbmclient.dispose_all()


def python_env():
    """The environment for a child Python that imports the dbmclient being tested."""
    env = dict(os.environ)
    pkgdir = os.path.dirname(os.path.dirname(os.path.abspath(dbmclient.__file__)))
    env["PYTHONPATH"] = pkgdir + (os.pathsep + env["PYTHONPATH"]
                                  if env.get("PYTHONPATH") else "")
    return env


def run_python(code, *args, timeout=60):
    """Runs code with args in a child interpreter (this one's binary); CompletedProcess."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, env=python_env(),
                          stdin=subprocess.DEVNULL)
