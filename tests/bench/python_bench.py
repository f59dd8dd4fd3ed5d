"""python_bench.py: one Python measurement of the benchmark, in build/bench's RESULT format.

    /usr/bin/python3 -s tests/bench/python_bench.py [options] WORKLOAD PATH

One run is one cell of the matrix, with one client: the workload runs back to back
on one connection through a warm-up and then --reps timed repetitions of --duration
seconds; every operation's latency is recorded, and the median over the
repetitions of the throughput, p50, p99 and mean latency is printed as one
tab-separated RESULT line, as build/bench prints its own (tests/bench/run.sh puts
both into raw.tsv and the report).  Its last field adds client_cpu_us, the CPU time
this process spent per operation (user and system, median over the repetitions): what
the driver and the interpreter cost, apart from waiting for the server.

Workloads:
  py-point     SELECT abalance FROM pgbench_accounts WHERE aid = %s with a random
               aid of 1..--accounts: cursor.execute, then fetchone()
  py-fetchall  SELECT * FROM --table (int, text, float, timestamp): cursor.execute,
               then fetchall()
Paths:
  psycopg2            psycopg2 on --direct (a libpq conninfo), autocommit
  psycopg2-pgbouncer  psycopg2 on --pgbouncer, autocommit
  dbmclient           dbmclient.connect(environment, socket=--dbmd, autocommit=True)
  dbmclient-manager   dbmclient.get_database_manager(environment, socket=--dbmd)
                      and manager.execute (py-point only: it returns the rows)

Every path is given the same statement text, with %s as its placeholder.  The
cursor is made once and reused, as a program that runs one statement after
another does.  Python's garbage collector stays on, as in an application.
"""

import argparse
import os
import random
import sys
import time

POINT_SQL = "SELECT abalance FROM pgbench_accounts WHERE aid = %s"
FETCH_SQL = "SELECT * FROM {table}"
PATHS = ("psycopg2", "psycopg2-pgbouncer", "dbmclient", "dbmclient-manager")
WORKLOADS = ("py-point", "py-fetchall")
MIN_OPS = 5  # a repetition runs at least this many operations, however long they take


def die(msg):
    sys.stderr.write("python_bench: %s\n" % msg)
    sys.exit(1)


def percentile(sorted_v, q):
    """The q-quantile of a sorted list by the nearest rank, as build/bench takes it."""
    rank = int(q * len(sorted_v) + 0.999999)
    return sorted_v[min(max(rank, 1), len(sorted_v)) - 1]


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def open_path(o):
    """The path's connection, and a function that runs one statement and returns its rows
    (fetchone's row for py-point, fetchall's list for py-fetchall)."""
    fetch = "one" if o.workload == "py-point" else "all"
    if o.path.startswith("psycopg2"):
        import psycopg2
        dsn = o.direct if o.path == "psycopg2" else o.pgbouncer
        if not dsn:
            die("%s needs --%s" % (o.path, "direct" if o.path == "psycopg2" else "pgbouncer"))
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        return conn, cursor_op(conn.cursor(), fetch), "psycopg2=" + psycopg2.__version__.split()[0]
    import dbmclient
    if not o.dbmd:
        die("%s needs --dbmd" % o.path)
    version = "dbmclient=" + getattr(dbmclient, "__version__", "unknown")
    if o.path == "dbmclient":
        conn = dbmclient.connect(o.environment, socket=o.dbmd, autocommit=True)
        return conn, cursor_op(conn.cursor(), fetch), version
    if fetch != "one":
        die("dbmclient-manager runs py-point only")
    db = dbmclient.get_database_manager(o.environment, socket=o.dbmd)

    def manager_op(sql, params):
        return db.execute(sql, params)[0]
    return db, manager_op, version


def cursor_op(cur, fetch):
    if fetch == "one":
        def op(sql, params):
            cur.execute(sql, params)
            return cur.fetchone()
    else:
        def op(sql, params):
            cur.execute(sql, params)
            return cur.fetchall()
    return op


def run(o):
    conn, op, version = open_path(o)
    if o.workload == "py-point":
        sql = POINT_SQL
        rnd = random.Random(os.getpid())
        aids = [rnd.randint(1, o.accounts) for _ in range(1 << 16)]

        def params(i):
            return (aids[i & 0xffff],)
        check = lambda row: row is not None and isinstance(row[0], int)
    else:
        sql = FETCH_SQL.format(table=o.table)

        def params(i):
            return None
        check = lambda rows: len(rows) == o.rows and len(rows[0]) == 4
    clock = time.perf_counter_ns

    # Warm-up: the connection, the statement's plan on the server, the interpreter's caches.
    end = clock() + int(o.warmup * 1e9)
    i = 0
    while True:
        r = op(sql, params(i))
        if not check(r):
            die("%s on %s: unexpected result %r" % (o.workload, o.path, r if o.workload == "py-point" else len(r)))
        r = None
        i += 1
        if clock() >= end:
            break

    tput, p50, p99, mean, cpu = [], [], [], [], []
    total = 0
    for _ in range(o.reps):
        lat = []
        cpu0 = time.process_time_ns()
        start = clock()
        end = start + int(o.duration * 1e9)
        while True:
            p = params(i)
            t0 = clock()
            r = op(sql, p)
            t1 = clock()
            r = None  # the result is freed before the next operation, outside the timing
            lat.append(t1 - t0)
            i += 1
            if t1 >= end and len(lat) >= MIN_OPS:
                break
        elapsed = clock() - start
        cpu.append((time.process_time_ns() - cpu0) / len(lat) / 1e3)
        lat.sort()
        tput.append(len(lat) / (elapsed / 1e9))
        p50.append(percentile(lat, 0.50) / 1e3)
        p99.append(percentile(lat, 0.99) / 1e3)
        mean.append(sum(lat) / len(lat) / 1e3)
        total += len(lat)
    if hasattr(conn, "close"):
        conn.close()
    elif hasattr(conn, "dispose"):
        conn.dispose()

    extra = "python=%d.%d.%d %s client_cpu_us=%.1f" % (sys.version_info[:3] + (version, median(cpu)))
    if o.workload == "py-fetchall":
        extra += " rows=%d" % o.rows
    print("RESULT\t%s\t%s\t1\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s" % (
        o.workload, o.label or o.path, median(tput), median(p50), median(p99), median(mean),
        total, len(p50), extra))
    sys.stdout.flush()
    sys.stderr.write("  %-12s %-18s %3d clients: %10.1f ops/s  p50 %9.2f us  p99 %9.2f us  %s\n" % (
        o.workload, o.path, 1, median(tput), median(p50), median(p99), extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--duration", type=float, default=3, help="seconds per repetition (3)")
    ap.add_argument("-w", "--warmup", type=float, default=1, help="seconds of warm-up (1)")
    ap.add_argument("-r", "--reps", type=int, default=5, help="timed repetitions (5)")
    ap.add_argument("--direct", help="libpq conninfo of PostgreSQL")
    ap.add_argument("--pgbouncer", help="libpq conninfo of PgBouncer")
    ap.add_argument("--dbmd", help="dbmd's socket")
    ap.add_argument("--environment", default="production", help="dbmd's environment (production)")
    ap.add_argument("--accounts", type=int, default=100000, help="aids of pgbench_accounts (100000)")
    ap.add_argument("--table", default="bench_fetch", help="py-fetchall's table (bench_fetch)")
    ap.add_argument("--rows", type=int, default=100000, help="rows of that table (100000)")
    ap.add_argument("--label", help="the path's name in the RESULT line (another dbmd, say)")
    ap.add_argument("workload", choices=WORKLOADS)
    ap.add_argument("path", choices=PATHS)
    o = ap.parse_args()
    if o.reps < 1 or o.duration <= 0 or o.warmup < 0:
        die("-r must be >= 1, -d > 0 and -w >= 0")
    try:
        run(o)
    except Exception as e:  # one line on stderr; run.sh counts the cell as failed
        die("%s on %s: %s: %s" % (o.workload, o.path, type(e).__name__, e))


if __name__ == "__main__":
    main()
