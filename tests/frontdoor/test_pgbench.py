"""pgbench through the front door: -i with server-side generation, then timed runs in each
query mode, whose summary must show work done and no failed transaction."""

import re
import shutil
import subprocess

import pytest

from conftest import client_env

RUN_S = 2               # each timed run


def pgbench(dbmd, dbname, *args, timeout=60):
    exe = shutil.which("pgbench")
    if exe is None:
        pytest.fail("pgbench is not installed (make deps installs postgresql)")
    argv = [exe, "-h", dbmd.dir, "-p", "5432", *args, dbname]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=client_env(), stdin=subprocess.DEVNULL)


def summary(r):
    """(processed, failed) from pgbench's summary; fails the test on a bad run."""
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench exit {r.returncode}:\n{out}"
    m = re.search(r"^number of transactions actually processed: (\d+)", out, re.M)
    f = re.search(r"^number of failed transactions: (\d+)", out, re.M)
    assert m and f, f"no summary in pgbench's output:\n{out}"
    return int(m.group(1)), int(f.group(1))


@pytest.fixture(scope="module")
def bench(dbmd, pg_db):
    """production, initialized by pgbench -i through dbmd (COPY-free: -I dtGvp)."""
    if pg_db is None:
        from conftest import pg_params
        pg_params()
    r = pgbench(dbmd, "production", "-i", "-I", "dtGvp", "-s", "1", "-q")
    assert r.returncode == 0, f"pgbench -i: exit {r.returncode}:\n{r.stdout}{r.stderr}"
    assert "done in" in r.stderr, r.stderr
    return pg_db


def tpcb_consistent(pg):
    """TPC-B's invariant: every balance moved is in the history, once."""
    (a, b, t, h), = pg.query(
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts),"
        " (SELECT sum(bbalance) FROM pgbench_branches),"
        " (SELECT sum(tbalance) FROM pgbench_tellers),"
        " (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
    assert a == b == t == h, (a, b, t, h)
    return h


def test_init(bench):
    assert bench.query("SELECT count(*) FROM pgbench_accounts") == [(100000,)]
    assert bench.query("SELECT count(*) FROM pgbench_branches") == [(1,)]
    assert bench.query(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'pgbench_accounts_pkey'") == [(1,)]


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_tpcb(dbmd, bench, mode):
    before = bench.query("SELECT count(*) FROM pgbench_history")[0][0]
    processed, failed = summary(pgbench(dbmd, "production", "-M", mode, "-c", "4", "-j", "2",
                                        "-T", str(RUN_S), "-n"))
    assert failed == 0
    assert processed > 0
    after = bench.query("SELECT count(*) FROM pgbench_history")[0][0]
    assert after - before == processed
    tpcb_consistent(bench)


def test_select_only_prepared(dbmd, bench):
    # -n: no vacuum, which would also empty pgbench_history.
    processed, failed = summary(pgbench(dbmd, "production", "-S", "-M", "prepared",
                                        "-c", "8", "-j", "2", "-T", str(RUN_S), "-n"))
    assert failed == 0 and processed > 0


def test_more_clients_than_connections(dbmd, bench):
    # production/small has two connections for eight clients, each with its prepared
    # statements: every transaction may run on either connection.
    processed, failed = summary(pgbench(dbmd, "production/small", "-M", "prepared",
                                        "-c", "8", "-j", "2", "-t", "50", "-n"))
    assert failed == 0 and processed == 400
    tpcb_consistent(bench)


def test_session_pooling(dbmd, bench):
    processed, failed = summary(pgbench(dbmd, "production/session", "-M", "prepared",
                                        "-c", "2", "-j", "2", "-t", "100", "-n"))
    assert failed == 0 and processed == 200


def test_custom_script_on_sqlite(dbmd, tmp_path):
    """A script of pgbench's own variables and meta-commands, on SQLite."""
    r = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbmd.dsn("development"),
         "-c", "CREATE TABLE IF NOT EXISTS bench_kv (k integer PRIMARY KEY, v integer)",
         "-c", "DELETE FROM bench_kv"],
        capture_output=True, text=True, timeout=30, env=client_env())
    assert r.returncode == 0, r.stderr
    script = tmp_path / "kv.sql"
    script.write_text("\\set k random(1, 1000)\n"
                      "\\set v random(1, 100)\n"
                      "BEGIN;\n"
                      "INSERT INTO bench_kv VALUES (:k, :v) ON CONFLICT (k) DO UPDATE "
                      "SET v = bench_kv.v + excluded.v;\n"
                      "SELECT v FROM bench_kv WHERE k = :k;\n"
                      "END;\n")
    total = 0
    for mode in ("simple", "extended", "prepared"):
        processed, failed = summary(pgbench(dbmd, "development", "-n", "-f", str(script),
                                            "-M", mode, "-c", "2", "-t", "100"))
        assert failed == 0 and processed == 200
        total += processed
    r = subprocess.run(
        ["psql", "-X", "-A", "-t", "-d", dbmd.dsn("development"),
         "-c", "SELECT count(*) > 0, sum(v) > 0 FROM bench_kv"],
        capture_output=True, text=True, timeout=30, env=client_env())
    assert r.stdout.split() == ["t|t"] or r.stdout.split() == ["1|1"], r.stdout + r.stderr
