"""Fixtures of the front-door tests: PostgreSQL's own clients against a real dbmd.

These tests drive dbmd's PostgreSQL-protocol socket with programs written elsewhere:
psql and pgbench as subprocesses, psycopg2 and psycopg (3) in-process, and node-postgres
when node and the `pg` package are at hand.  make check runs them; by hand, from the top
of the tree:

  make all && TEST_DBMD_BIN=$PWD/build/dbmd TEST_BUILDDIR=$PWD/build TEST_SRCDIR=$PWD \
    sh tests/pg_harness.sh sh tests/run_python_tests.sh tests/frontdoor

  TEST_DBMD_BIN   the dbmd to test
  TEST_BUILDDIR   the build directory: dbmctl, and where node's `pg` package is installed
  TEST_PGHOST     a private PostgreSQL server's socket directory (tests/pg_harness.sh),
  TEST_PGPORT     its port; user postgres, trust authentication.

Without TEST_PGHOST the PostgreSQL tests skip, unless CI=true: then they fail, so that CI
never passes by skipping them.  The SQLite tests run either way.

One dbmd serves the whole session, on a private directory that holds both its socket and
the front door's (.s.PGSQL.5432), so that a libpq connection string "host=DIR
dbname=ENV[/ROLE]" reaches it.  It is stopped with SIGTERM at the end and must exit 0.
Its environments:

  production          a database of the session's own on the private server, created
                      here with psycopg2; pool_size 8, transaction pooling (the default)
  production/small    the same database, pool_size 2: more clients than connections
  production/session  the same database, pool_mode: session
  production/locked   the same database, open to the user nobody only: refused here
  development         SQLite in dbmd's state directory (the default)

Tests name their tables after themselves (the `table` fixture) so they never meet.
"""

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

DBMD_BIN = os.environ.get("TEST_DBMD_BIN")
BUILDDIR = os.environ.get("TEST_BUILDDIR")
CI = os.environ.get("CI") == "true"

READY_S = 10.0          # dbmd must serve both sockets within this
STOP_S = 10.0           # and exit within this after SIGTERM
WAIT_S = 10.0           # the usual bound of anything else a test waits for
PG_PORT = 5432          # the front door's port, in its socket's name

# libpq reads PG* variables (PGOPTIONS, PGUSER, PGSSLMODE, ...): none of the caller's may
# change what the drivers in this process or the programs started from it send.
for _k in [k for k in os.environ if k.startswith("PG")]:
    del os.environ[_k]
os.environ["PGCONNECT_TIMEOUT"] = "10"

_seq = itertools.count()


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


def import_or_skip(name):
    """The module, or a skip without it; under CI=true a missing driver is an error (make
    deps installs python3-psycopg2 and python3-psycopg)."""
    if CI:
        import importlib
        return importlib.import_module(name)
    return pytest.importorskip(name)


def pg_params():
    """The private server's host and port, or skip (under CI=true: fail)."""
    host = os.environ.get("TEST_PGHOST")
    if host:
        return host, os.environ.get("TEST_PGPORT") or "5432"
    if CI:
        pytest.fail("TEST_PGHOST is not set, and CI=true: the PostgreSQL tests must run with "
                    "the server tests/pg_harness.sh starts (make check)")
    pytest.skip("no PostgreSQL server: TEST_PGHOST is not set (make check starts one)")


class PgDb:
    """A database of the session's own on the private server, reached directly."""

    def __init__(self):
        import psycopg2
        self.host, self.port = pg_params()
        self.name = f"dbmdfd_{os.getpid()}_{next(_seq)}"
        self.admin = psycopg2.connect(host=self.host, port=self.port, user="postgres",
                                      dbname="postgres", connect_timeout=10)
        self.admin.autocommit = True
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.name} TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C'")
        self.uri = f"postgresql://postgres@/{self.name}?host={self.host}&port={self.port}"

    def connect(self):
        import psycopg2
        c = psycopg2.connect(host=self.host, port=self.port, user="postgres",
                             dbname=self.name, connect_timeout=10)
        c.autocommit = True
        return c

    def query(self, sql, params=None):
        """All rows of one statement on a direct connection of its own."""
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


class Dbmd:
    """The dbmd under test: its directory (both sockets), state directory and log."""

    def __init__(self, sets):
        if not DBMD_BIN:
            pytest.fail("TEST_DBMD_BIN names the dbmd to test (make check sets it)")
        self.dir = tempfile.mkdtemp(prefix="dbmd-fd-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "dbmd.sock")
        self.pgsock = os.path.join(self.dir, f".s.PGSQL.{PG_PORT}")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "dbmd.yaml")
        self.logpath = os.path.join(self.dir, "dbmd.log")
        self.sets = list(sets)
        self.proc = None
        with open(self.conf, "w") as f:
            f.write("")

    def start(self):
        argv = [DBMD_BIN, "-f", "-c", self.conf, "-s", self.sock,
                "--set", f"daemon.state_dir={self.state}"]
        for s in self.sets:
            argv += ["--set", s]
        # Only PATH: a DBMD_ variable of the caller's would change dbmd's configuration.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + READY_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"dbmd exited with status {self.proc.returncode} before it "
                            f"was ready; its log:\n{self.log()}")
            if self.ping() and self.pg_ready():
                return self
            if time.monotonic() >= end:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"dbmd did not serve {self.sock} and {self.pgsock} in time; "
                            f"its log:\n{self.log()}")
            time.sleep(0.02)

    def pg_ready(self):
        """Whether the front door answers a startup packet (development, SQLite)."""
        import psycopg2
        try:
            psycopg2.connect(self.dsn("development"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def stop(self):
        """SIGTERM; returns the exit code.  One that does not exit in time fails."""
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

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # Connecting, as any PostgreSQL client does.

    def dsn(self, dbname, **kw):
        """A libpq connection string for environment (and role) dbname."""
        kw = {"host": self.dir, "port": PG_PORT, "dbname": dbname, **kw}
        return " ".join(f"{k}={v}" for k, v in kw.items())

    def psycopg2(self, dbname, autocommit=True, **kw):
        import psycopg2
        kw.setdefault("application_name", "fd-psycopg2")
        c = psycopg2.connect(self.dsn(dbname, **kw))
        c.autocommit = autocommit
        return c

    def psycopg(self, dbname, autocommit=True, **kw):
        import psycopg
        kw.setdefault("application_name", "fd-psycopg")
        return psycopg.connect(self.dsn(dbname, **kw), autocommit=autocommit)

    # dbmctl, the operator's view.

    def ctl(self, *args):
        if not BUILDDIR:
            pytest.fail("TEST_BUILDDIR names the build directory with dbmctl (make check "
                        "sets it)")
        r = subprocess.run([os.path.join(BUILDDIR, "dbmctl"), "-s", self.sock, *args],
                           capture_output=True, text=True, timeout=WAIT_S,
                           stdin=subprocess.DEVNULL)
        return r

    def ping(self):
        try:
            return self.ctl("ping").returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def clients(self):
        r = self.ctl("--json", "clients")
        assert r.returncode == 0, f"dbmctl clients: exit {r.returncode}: {r.stderr}"
        return json.loads(r.stdout)["clients"]


def _dbmd_sets(pg):
    sets = ["development.pool_size=4"]
    if pg is not None:
        sets += [f"production.uri={pg.uri}",
                 "production.pool_size=8",
                 "production.small.pool_size=2",
                 "production.session.pool_mode=session",
                 "production.locked.allow.users=nobody"]
    return sets


@pytest.fixture(scope="session")
def pg_db():
    """The session's database; None when there is no PostgreSQL (and not CI)."""
    if not os.environ.get("TEST_PGHOST"):
        if CI:
            pytest.fail("TEST_PGHOST is not set, and CI=true: the front-door tests must "
                        "run with the server tests/pg_harness.sh starts (make check)")
        yield None
        return
    db = PgDb()
    yield db
    db.drop()


@pytest.fixture(scope="session")
def dbmd(pg_db):
    d = Dbmd(_dbmd_sets(pg_db))
    try:
        d.start()
    except BaseException:
        d.cleanup()
        raise
    yield d
    code = d.stop()
    log = d.log()
    d.cleanup()
    assert code == 0, f"dbmd exited with status {code} at SIGTERM; its log:\n{log[-20000:]}"


@pytest.fixture
def pg(dbmd, pg_db):
    """The PostgreSQL side: skips (fails under CI) without a server."""
    if pg_db is None:
        pg_params()
    return pg_db


@pytest.fixture
def table(request):
    """A table name of the test's own (not created)."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"t_{name[:40]}_{next(_seq)}"


class CancelWhenRunning(threading.Thread):
    """Calls cancel() as soon as the server runs a statement holding marker, as seen in
    pg_stat_activity on a direct connection; started before the statement is sent."""

    def __init__(self, pg, marker, cancel):
        super().__init__(daemon=True)
        self.pg, self.marker, self.cancel = pg, marker, cancel
        self.cancelled_at = None
        self.error = None

    def run(self):
        try:
            c = self.pg.connect()
            try:
                end = time.monotonic() + WAIT_S
                with c.cursor() as cur:
                    while time.monotonic() < end:
                        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state = "
                                    "'active' AND pid <> pg_backend_pid() AND "
                                    "strpos(query, %s) > 0", (self.marker,))
                        if cur.fetchone()[0] > 0:
                            break
                        time.sleep(0.01)
                    else:
                        self.error = f"no statement with {self.marker!r} ran"
                        return
            finally:
                c.close()
            self.cancelled_at = time.monotonic()
            self.cancel()
        except Exception as e:  # noqa: BLE001 - reported by finish()
            self.error = repr(e)

    def finish(self):
        """Joins; fails the test if the cancel was never sent.  Returns when it was."""
        self.join(WAIT_S)
        assert not self.is_alive() and self.error is None, self.error
        return self.cancelled_at


# psql and pgbench, Debian's.

# What an ASan build's run gives the interpreter (tests/run_python_tests.sh), not for
# the programs started from it.
_NOT_INHERITED = {"LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC"}


def client_env(**extra):
    """The environment of psql and pgbench: no PG* variable of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in _NOT_INHERITED}
    env.update({"PGCONNECT_TIMEOUT": "10", "PSQLRC": "/dev/null", "LC_ALL": "C.UTF-8"})
    env.update(extra)
    return env


def psql(dbmd, dbname, script=None, args=(), timeout=30, **kw):
    """Runs psql on environment dbname with script on its standard input."""
    exe = shutil.which("psql")
    if exe is None:
        pytest.fail("psql is not installed (make deps installs postgresql)")
    argv = [exe, "-X", "--no-password", "-d", dbmd.dsn(dbname, **kw), *args]
    return subprocess.run(argv, input=script, capture_output=True, text=True,
                          timeout=timeout, env=client_env())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of dbmd's log beside its own output."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and "dbmd" in getattr(item, "fixturenames", ()):
        d = item.funcargs.get("dbmd") if hasattr(item, "funcargs") else None
        if isinstance(d, Dbmd):
            tail = "\n".join(d.log().splitlines()[-40:])
            rep.sections.append(("dbmd log (last 40 lines)", tail))
