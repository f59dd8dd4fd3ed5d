"""The task's factory functions: configuration, one instance per configuration, disposal."""

import os
import re
import subprocess
import sys
import threading

import pytest

import dbmclient
from conftest import WAIT_S, python_env, wait_until


# Each factory returns a manager with the expected configuration.

def test_dev_manager_is_sqlite_in_the_state_dir_with_set_pool_size(sqlite_dbmd):
    m = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock)
    assert m.environment == "development"
    assert m.role == "primary"
    assert m.backend == "sqlite"
    assert not m.closed
    cfg = m.config
    assert cfg["uri"] == f"sqlite:{sqlite_dbmd.state}/development.db"
    assert cfg.source("uri") == "default"
    # --set development.pool_size=4 on dbmd's command line.
    assert cfg["pool_size"] == "4"
    assert cfg.source("pool_size").startswith("explicit")
    assert "development.pool_size" in cfg.source("pool_size")
    assert cfg["statement_timeout"] == "5m"
    assert cfg.source("statement_timeout") == "default"
    assert cfg["read_only"] == "false"
    # idle_timeout from dbmd's configuration file, where it is written.
    assert cfg["idle_timeout"] == "5m"
    assert cfg.source("idle_timeout") == f"file {sqlite_dbmd.conf}:3:5"


def test_test_manager_is_in_memory_sqlite_with_pool_size_from_dbmd_environment(sqlite_dbmd):
    m = dbmclient.get_test_database_manager(socket=sqlite_dbmd.sock)
    assert (m.environment, m.role, m.backend) == ("test", "primary", "sqlite")
    assert m.config["uri"] == "sqlite::memory:"
    assert m.config.source("uri") == "default"
    # DBMD_TEST_POOL_SIZE=3 in dbmd's environment, not ours.
    assert "DBMD_TEST_POOL_SIZE" not in os.environ
    assert m.config["pool_size"] == "3"
    assert "DBMD_TEST_POOL_SIZE" in m.config.source("pool_size")
    assert m.execute("SELECT 6 * 7") == [(42,)]


def test_prod_manager_is_the_private_postgresql(pg_dbmd, pg_db):
    m = dbmclient.get_prod_database_manager(socket=pg_dbmd.sock)
    assert (m.environment, m.role, m.backend) == ("production", "primary", "postgresql")
    assert pg_db.name in m.config["uri"]
    assert m.config.source("uri").startswith("explicit")
    assert m.config["overridable"] == "[statement_timeout]"
    assert m.execute("SELECT current_database()") == [(pg_db.name,)]


def test_prod_read_only_role(pg_dbmd):
    m = dbmclient.get_prod_database_manager(role="read_only", socket=pg_dbmd.sock)
    assert (m.environment, m.role) == ("production", "read_only")
    assert m.config["read_only"] == "true"
    assert m.config.source("read_only") == "default"
    assert m.execute("SHOW transaction_read_only") == [("on",)]


def test_config_agrees_with_dbmctl_resolve(sqlite_dbmd):
    m = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock)
    want = sqlite_dbmd.resolve("development", "primary")
    assert re.fullmatch(r"[0-9a-f]{16}", m.pool_hash)
    assert m.pool_hash == want["hash"][0]
    assert m.config["hash"] == want["hash"][0]
    assert m.config["environment"] == "development"
    assert m.config["role"] == "primary"
    assert m.config["backend"] == "sqlite"
    for key in ("uri", "pool_size", "statement_timeout", "cache.size", "overridable"):
        assert m.config[key] == want[key][0], key
    # A Mapping: keys, len, membership, and every value with its source.
    assert "pool_size" in m.config
    assert "no_such_key" not in m.config
    assert len(m.config) == len(list(m.config))
    items = m.config.items_with_source()
    by_key = {k: (v, s) for k, v, s in items}
    assert by_key["pool_size"] == ("4", m.config.source("pool_size"))
    assert by_key["uri"][1] == "default"
    assert set(by_key) == set(m.config)


def test_environment_and_role_default_to_development_primary(sqlite_dbmd, monkeypatch):
    monkeypatch.delenv("DBM_ENVIRONMENT", raising=False)
    monkeypatch.delenv("DBM_ROLE", raising=False)
    monkeypatch.setenv("DBMD_SOCKET", sqlite_dbmd.sock)
    m = dbmclient.get_database_manager()
    assert (m.environment, m.role, m.backend) == ("development", "primary", "sqlite")
    assert m.config["pool_size"] == "4"


def test_environment_role_and_socket_from_the_process_environment(sqlite_dbmd, monkeypatch):
    monkeypatch.setenv("DBM_ENVIRONMENT", "test")
    monkeypatch.setenv("DBM_ROLE", "read_only")
    monkeypatch.setenv("DBMD_SOCKET", sqlite_dbmd.sock)
    m = dbmclient.get_database_manager()
    assert (m.environment, m.role) == ("test", "read_only")
    assert m.config["uri"] == "sqlite::memory:"
    assert m.config["read_only"] == "true"
    # Explicit arguments beat the environment.
    d = dbmclient.get_database_manager("development", "primary")
    assert (d.environment, d.role) == ("development", "primary")


def test_permitted_override_is_applied_with_its_source(sqlite_dbmd):
    base = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock)
    m = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock,
                                           overrides={"statement_timeout": "7s"})
    assert m is not base
    assert m.config["statement_timeout"] == "7s"
    assert m.config.source("statement_timeout") == "request"
    # statement_timeout defines the pool: another pool, another hash.
    assert m.pool_hash != base.pool_hash
    assert base.config["statement_timeout"] == "5m"


# One instance per configuration.

def test_same_configuration_same_object(sqlite_dbmd):
    s = sqlite_dbmd.sock
    a = dbmclient.get_dev_database_manager(socket=s)
    assert dbmclient.get_dev_database_manager(socket=s) is a
    assert dbmclient.get_database_manager("development", socket=s) is a
    assert dbmclient.get_database_manager("development", "primary", socket=s) is a
    o1 = dbmclient.get_dev_database_manager(socket=s, overrides={"statement_timeout": "9s"})
    o2 = dbmclient.get_dev_database_manager(socket=s, overrides={"statement_timeout": "9s"})
    assert o1 is o2


def test_different_configuration_different_object(sqlite_dbmd):
    s = sqlite_dbmd.sock
    a = dbmclient.get_dev_database_manager(socket=s)
    others = [
        dbmclient.get_dev_database_manager(role="read_only", socket=s),
        dbmclient.get_test_database_manager(socket=s),
        dbmclient.get_dev_database_manager(socket=s, overrides={"statement_timeout": "8s"}),
        dbmclient.get_dev_database_manager(socket=s, overrides={"statement_timeout": "6s"}),
        dbmclient.get_dev_database_manager(socket=s, pinned=True),
        dbmclient.get_dev_database_manager(socket=s, cache_max_age=2.0),
    ]
    ids = {id(a)} | {id(o) for o in others}
    assert len(ids) == 1 + len(others)
    assert others[0].role == "read_only"


def test_concurrent_creation_gives_one_object_and_one_handle(sqlite_dbmd):
    s = sqlite_dbmd.sock
    wait_until(lambda: sqlite_dbmd.handles() == 0, "earlier tests' handles to be released")
    n = 16
    barrier = threading.Barrier(n)
    got = [None] * n
    errors = []

    def make(i):
        try:
            barrier.wait(WAIT_S)
            got[i] = dbmclient.get_dev_database_manager(socket=s)
        except BaseException as e:      # reported below: pytest does not see threads
            errors.append(e)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert all(g is got[0] for g in got)
    assert got[0].execute("SELECT 1") == [(1,)]
    # One manager was made, and one thread ran a statement: not a handle per caller.
    assert 1 <= sqlite_dbmd.handles() <= 2


# Disposal.

def test_dispose_releases_the_handle(sqlite_dbmd):
    m = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock)
    assert m.execute("SELECT 1") == [(1,)]
    assert sqlite_dbmd.handles() >= 1
    m.dispose()
    assert m.closed
    wait_until(lambda: sqlite_dbmd.handles() == 0, "the manager's handles to be released")
    with pytest.raises(dbmclient.InterfaceError):
        m.execute("SELECT 1")
    m.dispose()                         # idempotent
    # A disposed manager is forgotten: the next call makes a new one, which works.
    n = dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock)
    assert n is not m and not n.closed
    assert n.execute("SELECT 2") == [(2,)]


def test_context_manager_disposes(sqlite_dbmd):
    with dbmclient.get_test_database_manager(socket=sqlite_dbmd.sock) as db:
        assert db.execute("SELECT 'x'") == [("x",)]
        assert sqlite_dbmd.handles() >= 1
    assert db.closed
    wait_until(lambda: sqlite_dbmd.handles() == 0, "the handles to be released")


def test_dispose_all(sqlite_dbmd):
    s = sqlite_dbmd.sock
    ms = [dbmclient.get_dev_database_manager(socket=s),
          dbmclient.get_dev_database_manager(role="read_only", socket=s),
          dbmclient.get_test_database_manager(socket=s)]
    conn = dbmclient.connect("development", socket=s)
    for m in ms:
        assert m.execute("SELECT 1") == [(1,)]
    conn.cursor().execute("SELECT 1")
    assert sqlite_dbmd.handles() >= 4
    dbmclient.dispose_all()
    assert all(m.closed for m in ms)
    assert conn.closed
    wait_until(lambda: sqlite_dbmd.handles() == 0, "every handle to be released")
    assert dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock) is not ms[0]


AT_EXIT = r"""
import atexit, json, os, subprocess, sys, time
sock, dbmctl = sys.argv[1], sys.argv[2]

def handles():
    out = subprocess.run([dbmctl, "-s", sock, "--json", "clients"], capture_output=True,
                         text=True, check=True).stdout
    return sum(int(c["handles"]) for c in json.loads(out)["clients"]
               if int(c["pid"]) == os.getpid())

def handles_at_exit():
    # Registered before dbmclient is imported, so it runs after dbmclient's own handler,
    # while this process is still alive: what dbmclient released, it released itself.
    end = time.monotonic() + 5
    while (n := handles()) != 0 and time.monotonic() < end:
        time.sleep(0.01)
    print("at-exit handles", n, "closed", m.closed, flush=True)

atexit.register(handles_at_exit)
import dbmclient
m = dbmclient.get_dev_database_manager(socket=sock)
assert m.execute("SELECT 1") == [(1,)]
print("pid", os.getpid(), flush=True)
sys.stdin.readline()
"""


def test_interpreter_exit_disposes(sqlite_dbmd):
    from conftest import dbmctl_path
    p = subprocess.Popen([sys.executable, "-c", AT_EXIT, sqlite_dbmd.sock, dbmctl_path()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=python_env())
    try:
        line = p.stdout.readline()
        assert line.startswith("pid "), line + p.stderr.read()
        pid = int(line.split()[1])
        assert sqlite_dbmd.handles(pid) >= 1
        p.stdin.write("exit\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=3 * WAIT_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "at-exit handles 0 closed True" in out, out + err
    wait_until(lambda: pid not in sqlite_dbmd.client_pids(),
               "the exited process to leave dbmd's clients")


# Refusals.

def test_unknown_environment_is_a_programming_error_with_dbmd_message(sqlite_dbmd):
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.get_database_manager("nosuchenv", socket=sqlite_dbmd.sock)
    assert 'unknown environment "nosuchenv"' in str(ei.value)
    assert isinstance(ei.value, dbmclient.DatabaseError)
    # Nothing was kept: asking again fails again.
    with pytest.raises(dbmclient.ProgrammingError):
        dbmclient.get_database_manager("nosuchenv", socket=sqlite_dbmd.sock)


def test_unknown_role_is_a_programming_error(sqlite_dbmd):
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.get_dev_database_manager(role="nosuchrole", socket=sqlite_dbmd.sock)
    assert "nosuchrole" in str(ei.value)


def test_override_not_permitted_is_refused(sqlite_dbmd):
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.get_dev_database_manager(socket=sqlite_dbmd.sock,
                                           overrides={"pool_size": 2})
    assert "pool_size" in str(ei.value)
    # test/primary permits no override at all.
    with pytest.raises(dbmclient.ProgrammingError):
        dbmclient.get_test_database_manager(socket=sqlite_dbmd.sock,
                                            overrides={"statement_timeout": "1s"})
    assert sqlite_dbmd.handles() == 0


def test_no_dbmd_on_the_socket_is_an_operational_error(tmp_path):
    with pytest.raises(dbmclient.OperationalError):
        dbmclient.get_dev_database_manager(socket=str(tmp_path / "nothing.sock"))


# manager.execute and manager.transaction, on both backends.

def test_execute_returns_rows(target, table):
    m = target.manager()
    r = m.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, v text)")
    assert list(r) == []
    r = m.execute(f"INSERT INTO {table} (id, v) VALUES (%s, %s), (%s, %s), (%s, %s)",
                  (1, "a", 2, "b", 3, "c"))
    assert r.rowcount == 3
    assert r.cmdtag.startswith("INSERT")
    r = m.execute(f"SELECT id, v FROM {table} WHERE id >= %s ORDER BY id", (2,))
    assert isinstance(r, list)
    assert r == [(2, "b"), (3, "c")]
    assert all(type(row) is tuple for row in r)
    assert r.columns == ["id", "v"]
    assert r.rowcount == 2
    assert r.cmdtag.startswith("SELECT")
    assert r.cache_hit in (None, False)
    assert target.count(table) == 3


def test_transaction_commits(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (v integer)")
    with m.transaction() as tx:
        tx.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
        # manager.execute on the thread that opened it runs inside the transaction.
        m.execute(f"INSERT INTO {table} VALUES (%s)", (2,))
        assert tx.execute(f"SELECT count(*) FROM {table}") == [(2,)]
        if target.is_pg:
            assert target.count(table) == 0
    assert target.count(table) == 2


def test_transaction_rolls_back_and_reraises(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (v integer)")

    class Boom(Exception):
        pass

    boom = Boom()
    with pytest.raises(Boom) as ei:
        with m.transaction() as tx:
            tx.execute(f"INSERT INTO {table} VALUES (1)")
            m.execute(f"INSERT INTO {table} VALUES (2)")
            raise boom
    assert ei.value is boom
    assert target.count(table) == 0
    assert m.execute(f"SELECT count(*) FROM {table}") == [(0,)]
    # A failed statement inside rolls back the whole transaction too.
    with pytest.raises(dbmclient.ProgrammingError):
        with m.transaction() as tx:
            tx.execute(f"INSERT INTO {table} VALUES (3)")
            tx.execute("SELEKT 1")
    assert target.count(table) == 0


def test_nested_transaction_is_refused(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (v integer)")
    with m.transaction() as tx:
        tx.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(dbmclient.ProgrammingError):
            with m.transaction():
                pass
        # The outer one is unharmed and commits.
        tx.execute(f"INSERT INTO {table} VALUES (2)")
    assert target.count(table) == 2
