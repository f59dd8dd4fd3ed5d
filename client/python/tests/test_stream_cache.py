"""Large results stream with bounded memory; dbmd's result cache per statement."""

import json

import pytest

from conftest import run_python

N = 1_000_000
MIB = 1024 * 1024
STREAM_BOUND = 64 * MIB

# Runs in a fresh interpreter, so that its peak resident size is the streaming's alone.
STREAM_SCRIPT = r"""
import gc, json, sys
import dbmclient

def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

sock, env, sql = sys.argv[1:4]
conn = dbmclient.connect(env, socket=sock, autocommit=True)
cur = conn.cursor()
cur.execute("SELECT 1")
cur.fetchall()
gc.collect()
before = hwm()
cur.execute(sql)
count = total = 0
for (i,) in cur:
    count += 1
    total += i
after = hwm()
print(json.dumps({"count": count, "sum": total, "rowcount": cur.rowcount,
                  "growth": after - before}))
conn.close()
"""


def test_iterating_a_million_rows_keeps_memory_bounded(target):
    sql = ("SELECT i FROM generate_series(1, %d) AS g(i)" % N if target.is_pg else
           "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
           "SELECT i FROM s" % N)
    r = run_python(STREAM_SCRIPT, target.sock, target.environment, sql, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["count"] == N
    assert out["sum"] == N * (N + 1) // 2
    assert out["rowcount"] == N
    assert out["growth"] < STREAM_BOUND, \
        f"peak RSS grew by {out['growth'] / MIB:.1f} MiB while streaming {N} rows"


@pytest.fixture
def cached(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, v text)")
    m.execute(f"INSERT INTO {table} VALUES (1, 'one'), (2, 'two')")
    conn = target.connect(autocommit=True)
    yield conn
    conn.close()


def test_second_read_is_a_cache_hit_and_a_write_invalidates(cached, table):
    cur = cached.cursor()
    q = f"SELECT v FROM {table} WHERE id = %s"
    cur.execute(q, (1,), cache_max_age=5.0)
    assert cur.fetchall() == [("one",)]
    assert cur.cache_hit is False
    cur.execute(q, (1,), cache_max_age=5.0)
    assert cur.fetchall() == [("one",)]
    assert cur.cache_hit is True
    # Other parameters are another entry.
    cur.execute(q, (2,), cache_max_age=5.0)
    assert cur.fetchall() == [("two",)]
    assert cur.cache_hit is False
    # A write through dbmd invalidates before anyone can read a stale row.
    cur.execute(f"UPDATE {table} SET v = 'uno' WHERE id = %s", (1,))
    assert cur.rowcount == 1
    cur.execute(q, (1,), cache_max_age=5.0)
    assert cur.fetchall() == [("uno",)]
    assert cur.cache_hit is False
    cur.execute(q, (1,), cache_max_age=5.0)
    assert cur.fetchall() == [("uno",)]
    assert cur.cache_hit is True


def test_no_cache_unless_asked(cached, table):
    cur = cached.cursor()
    q = f"SELECT v FROM {table} WHERE id = 1"
    assert cur.cache_hit is None
    cur.execute(q)
    assert cur.fetchall() == [("one",)]
    assert cur.cache_hit is None
    cur.execute(q, cache_max_age=5.0)
    cur.execute(q, cache_max_age=5.0)
    assert cur.cache_hit is True
    # Not asking is not answered from the cache, whatever it holds.
    cur.execute(q)
    assert cur.cache_hit is None


def test_writes_are_never_cached(cached, table):
    cur = cached.cursor()
    cur.execute(f"UPDATE {table} SET v = v WHERE id = 1", cache_max_age=5.0)
    assert cur.rowcount == 1
    cur.execute(f"UPDATE {table} SET v = v WHERE id = 1", cache_max_age=5.0)
    assert cur.rowcount == 1
    assert cur.cache_hit is not True


def test_inside_a_transaction_the_cache_is_bypassed(target, cached, table):
    conn = target.connect()             # autocommit off: statements run in a transaction
    cur = conn.cursor()
    q = f"SELECT v FROM {table} WHERE id = 2"
    for _ in range(2):
        cur.execute(q, cache_max_age=5.0)
        assert cur.fetchall() == [("two",)]
        assert cur.cache_hit is not True
    conn.rollback()
    conn.close()


def test_manager_cache_max_age(target, table):
    plain = target.manager()
    plain.execute(f"CREATE TABLE {table} (v integer)")
    plain.execute(f"INSERT INTO {table} VALUES (5)")
    m = target.manager(cache_max_age=5.0)
    assert m is not plain
    q = f"SELECT sum(v) FROM {table}"
    r1, r2 = m.execute(q), m.execute(q)
    assert r1 == r2 == [(5,)]
    assert (r1.cache_hit, r2.cache_hit) == (False, True)
    assert plain.execute(q).cache_hit is None
    assert plain.execute(q, cache_max_age=5.0).cache_hit is True
    m.execute(f"INSERT INTO {table} VALUES (6)")
    r3 = m.execute(q)
    assert r3 == [(11,)] and r3.cache_hit is False
