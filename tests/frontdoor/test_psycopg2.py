"""psycopg2 (Debian's python3-psycopg2, libpq underneath) through the front door: types,
parameters, transactions, errors with SQLSTATE, named cursors, cancel, many threads."""

import datetime
import decimal
import io
import os
import threading
import time
import uuid

import pytest

from conftest import import_or_skip

psycopg2 = import_or_skip("psycopg2")
import psycopg2.errors  # noqa: E402
import psycopg2.extras  # noqa: E402

from conftest import CancelWhenRunning, wait_until  # noqa: E402

psycopg2.extras.register_uuid()


@pytest.fixture
def conn(dbmd, pg):
    c = dbmd.psycopg2("production")
    yield c
    c.close()


def test_connection_parameters(conn):
    assert conn.server_version >= 100000
    assert conn.encoding == "UTF8"
    assert conn.get_parameter_status("integer_datetimes") == "on"
    assert conn.get_parameter_status("standard_conforming_strings") == "on"
    assert conn.get_parameter_status("application_name") == "fd-psycopg2"
    assert conn.get_backend_pid() != 0


VALUES = [
    ("int", 42, "int"),
    ("negative int", -2147483647, "int"),
    ("bigint", 2 ** 62 + 1, "bigint"),
    ("float", 1.0 / 3, "float8"),
    ("float inf", float("inf"), "float8"),
    ("decimal", decimal.Decimal("-12345678901234567890.000000001"), "numeric"),
    ("str", "héllo wörld ☃ 𝄞 '\"\\ ", "text"),
    ("empty str", "", "text"),
    ("bytea with NULs", b"\x00\x01\x02\xff\x00'\\", "bytea"),
    ("bool true", True, "bool"),
    ("bool false", False, "bool"),
    ("null", None, "text"),
    ("date", datetime.date(1999, 12, 31), "date"),
    ("time", datetime.time(23, 59, 58, 123456), "time"),
    ("timestamp", datetime.datetime(2024, 2, 29, 12, 34, 56, 789012), "timestamp"),
    ("timestamptz", datetime.datetime(2024, 2, 29, 12, 34, 56, 789012,
                                      tzinfo=datetime.timezone.utc), "timestamptz"),
    ("interval", datetime.timedelta(days=3, seconds=7, microseconds=5), "interval"),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), "uuid"),
    ("int array", [1, 2, None, 4], "int[]"),
    ("text array", ["a", "b c", "ü"], "text[]"),
]


@pytest.mark.parametrize("name,value,typ", VALUES, ids=[v[0] for v in VALUES])
def test_round_trip(conn, name, value, typ):
    with conn.cursor() as cur:
        param = psycopg2.Binary(value) if isinstance(value, bytes) else value
        cur.execute(f"SELECT %s::{typ}", (param,))
        got, = cur.fetchone()
    if isinstance(value, bytes):
        got = bytes(got)
    assert got == value
    assert cur.description[0].type_code != 0


def test_json(conn):
    doc = {"a": [1, 2.5, None, True], "ü": {"nested": "☃"}}
    with conn.cursor() as cur:
        cur.execute("SELECT %s::json, %s::jsonb", (psycopg2.extras.Json(doc),
                                                    psycopg2.extras.Json(doc)))
        assert cur.fetchone() == (doc, doc)


def test_table_round_trip(conn, table, pg):
    rows = [(i, f"name {i} ☃", decimal.Decimal(i) / 8, bytes(range(i % 256)) + b"\x00",
             i % 2 == 0, None if i % 3 == 0 else datetime.date(2020, 1, 1 + i % 28))
            for i in range(50)]
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, n numeric, "
                    "b bytea, flag bool, d date)")
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {table} VALUES %s",
            [(r[0], r[1], r[2], psycopg2.Binary(r[3]), r[4], r[5]) for r in rows])
        cur.execute(f"SELECT * FROM {table} ORDER BY id")
        got = [(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in cur.fetchall()]
    assert got == rows
    assert pg.query(f"SELECT count(*), sum(length(b)) FROM {table}") == \
        [(50, sum(len(r[3]) for r in rows))]


def test_rowcount_and_description(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int, b text)")
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, str(i)) for i in range(7)])
        cur.execute(f"UPDATE {table} SET b = b || '!' WHERE a < 3")
        assert cur.rowcount == 3
        cur.execute(f"SELECT a, b FROM {table} WHERE a > %s ORDER BY a", (4,))
        assert [d.name for d in cur.description] == ["a", "b"]
        assert cur.rowcount == 2
        assert cur.fetchall() == [(5, "5"), (6, "6")]


def test_batch_in_one_query_is_atomic(conn, pg, table):
    """execute_batch sends its statements joined in one Query message: outside a
    transaction PostgreSQL runs them all or none; several results give the last."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
        with pytest.raises(psycopg2.errors.UniqueViolation):
            psycopg2.extras.execute_batch(cur, f"INSERT INTO {table} VALUES (%s)",
                                          [(1,), (2,), (2,), (3,)], page_size=10)
        assert pg.query(f"SELECT count(*) FROM {table}") == [(0,)]
        psycopg2.extras.execute_batch(cur, f"INSERT INTO {table} VALUES (%s)",
                                      [(i,) for i in range(25)], page_size=10)
        assert pg.query(f"SELECT count(*) FROM {table}") == [(25,)]
        cur.execute("SELECT 1 AS one; SELECT 2 AS two")
        assert cur.description[0].name == "two" and cur.fetchall() == [(2,)]


def test_transactions(dbmd, pg, table):
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (a int)")
        c.commit()
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1)")
            assert c.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
            # Not visible outside before the commit.
            assert pg.query(f"SELECT count(*) FROM {table}") == [(0,)]
        c.commit()
        assert c.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        assert pg.query(f"SELECT count(*) FROM {table}") == [(1,)]
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (2)")
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone() == (2,)
        c.rollback()
        assert pg.query(f"SELECT count(*) FROM {table}") == [(1,)]
        # An error aborts the transaction: 'E' until the rollback.
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (3)")
            with pytest.raises(psycopg2.errors.DivisionByZero):
                cur.execute("SELECT 1/0")
            with pytest.raises(psycopg2.errors.InFailedSqlTransaction) as ei:
                cur.execute("SELECT 1")
            assert ei.value.pgcode == "25P02"
        c.rollback()
        # The connection as a context manager commits.
        with c:
            with c.cursor() as cur:
                cur.execute(f"INSERT INTO {table} VALUES (4)")
        assert pg.query(f"SELECT a FROM {table} ORDER BY a") == [(1,), (4,)]
        # Isolation levels and read-only transactions, as psycopg2 asks for them.
        c.set_session(isolation_level="SERIALIZABLE", readonly=True)
        with c.cursor() as cur:
            cur.execute("SHOW transaction_isolation")
            assert cur.fetchone() == ("serializable",)
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute(f"INSERT INTO {table} VALUES (5)")
        c.rollback()
    finally:
        c.close()


def test_transaction_status_after_error(dbmd, pg):
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            assert c.get_transaction_status() == \
                psycopg2.extensions.TRANSACTION_STATUS_INTRANS
            with pytest.raises(psycopg2.errors.DivisionByZero):
                cur.execute("SELECT 1/0")
            assert c.get_transaction_status() == \
                psycopg2.extensions.TRANSACTION_STATUS_INERROR
        c.rollback()
        assert c.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    finally:
        c.close()


def test_autocommit(conn, pg, table):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int)")
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        assert pg.query(f"SELECT count(*) FROM {table}") == [(1,)]
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {table} VALUES (2)")
        cur.execute("ROLLBACK")
    assert pg.query(f"SELECT count(*) FROM {table}") == [(1,)]


def test_errors_with_sqlstate(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
            cur.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
        e = ei.value
        assert e.pgcode == "23505"
        assert e.diag.constraint_name == f"{table}_pkey"
        assert e.diag.table_name == table
        assert e.diag.message_detail == "Key (id)=(1) already exists."
        assert e.diag.severity == "ERROR"

        with pytest.raises(psycopg2.errors.DivisionByZero) as ei:
            cur.execute("SELECT %s / 0", (1,))
        assert ei.value.pgcode == "22012"

        with pytest.raises(psycopg2.errors.UndefinedTable) as ei:
            cur.execute("SELECT * FROM no_such_table_here")
        assert ei.value.pgcode == "42P01"

        with pytest.raises(psycopg2.errors.SyntaxError) as ei:
            cur.execute("SELECT 1 FRM x")
        assert ei.value.pgcode == "42601"
        assert ei.value.diag.statement_position == "14"

        with pytest.raises(psycopg2.errors.RaiseException) as ei:
            cur.execute("DO $$ BEGIN RAISE EXCEPTION 'mine' USING DETAIL = 'd', "
                        "HINT = 'h'; END $$")
        assert (ei.value.diag.message_primary, ei.value.diag.message_detail,
                ei.value.diag.message_hint) == ("mine", "d", "h")
        # And the connection is fine after all of them.
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_notices(conn):
    with conn.cursor() as cur:
        cur.execute("DO $$ BEGIN RAISE NOTICE 'note %', 7; RAISE WARNING 'careful'; END $$")
    assert any("NOTICE:  note 7" in n for n in conn.notices)
    assert any("WARNING:  careful" in n for n in conn.notices)


def test_named_cursor_in_transaction(dbmd, pg):
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        with c.cursor(name="fd_named") as cur:
            cur.itersize = 7
            cur.execute("SELECT g, repeat('x', g) FROM generate_series(1, 100) g")
            got = list(cur)
        assert [r[0] for r in got] == list(range(1, 101))
        assert got[99][1] == "x" * 100
        # Several at once, fetched in turns.
        a = c.cursor(name="fd_a")
        b = c.cursor(name="fd_b")
        a.execute("SELECT generate_series(1, 10)")
        b.execute("SELECT generate_series(11, 20)")
        assert a.fetchmany(3) == [(1,), (2,), (3,)]
        assert b.fetchmany(3) == [(11,), (12,), (13,)]
        a.scroll(5)
        assert a.fetchone() == (9,)
        assert b.fetchall() == [(x,) for x in range(14, 21)]
        a.close()
        b.close()
        c.commit()
    finally:
        c.close()


def test_named_cursor_with_hold_refused_in_transaction_pooling(dbmd, pg):
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        cur = c.cursor(name="fd_held", withhold=True)
        with pytest.raises(psycopg2.errors.FeatureNotSupported) as ei:
            cur.execute("SELECT 1")
        assert "WITH HOLD" in str(ei.value)
        c.rollback()
    finally:
        c.close()


def test_named_cursor_with_hold_in_session_pooling(dbmd, pg):
    c = dbmd.psycopg2("production/session", autocommit=False)
    try:
        cur = c.cursor(name="fd_held", withhold=True)
        cur.execute("SELECT generate_series(1, 5)")
        c.commit()
        assert cur.fetchall() == [(x,) for x in range(1, 6)]
        cur.close()
    finally:
        c.close()


def test_cancel(dbmd, pg):
    c = dbmd.psycopg2("production")
    try:
        cur = c.cursor()
        t = CancelWhenRunning(pg, "fd-cancel-2", c.cancel)
        t.start()
        with pytest.raises(psycopg2.errors.QueryCanceled) as ei:
            cur.execute("SELECT pg_sleep(5) -- fd-cancel-2")
        took = time.monotonic() - t.finish()
        assert ei.value.pgcode == "57014"
        assert took < 2, took
        cur.execute("SELECT 'after'")
        assert cur.fetchone() == ("after",)
    finally:
        c.close()


def test_cancel_in_transaction(dbmd, pg, table):
    with dbmd.psycopg2("production") as c0, c0.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int)")
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        cur = c.cursor()
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        t = CancelWhenRunning(pg, "fd-cancel-txn", c.cancel)
        t.start()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cur.execute("SELECT pg_sleep(5) -- fd-cancel-txn")
        t.finish()
        # As in PostgreSQL, the next statement is refused (25P02) and nothing the
        # transaction did remains; dbmd discards the cancelled connection, so the
        # transaction is rolled back rather than left aborted.
        with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute(f"INSERT INTO {table} VALUES (2)")
        c.rollback()
        assert pg.query(f"SELECT count(*) FROM {table}") == [(0,)]
    finally:
        c.close()


def test_cancel_in_session_pooling_says_the_session_is_gone(dbmd, pg):
    """A cancelled connection is never reused (the cancel could land on a later
    statement), so a session-pooled client loses its session state: its next
    statement says so once, rather than running silently on a fresh session."""
    c = dbmd.psycopg2("production/session")
    try:
        cur = c.cursor()
        cur.execute("SET search_path = pg_catalog")
        t = CancelWhenRunning(pg, "fd-cancel-session", c.cancel)
        t.start()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cur.execute("SELECT pg_sleep(5) -- fd-cancel-session")
        t.finish()
        with pytest.raises(psycopg2.OperationalError, match="session state"):
            cur.execute("SHOW search_path")
        cur.execute("SHOW search_path")
        assert cur.fetchone() != ("pg_catalog",)
    finally:
        c.close()


def test_threads(dbmd, pg, table):
    """16 threads, each its own connection, 100 transactions each, on eight connections."""
    with dbmd.psycopg2("production") as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (thread int, i int, v text, PRIMARY KEY (thread, i))")
        cur.execute(f"CREATE TABLE {table}_sum (n int)")
        cur.execute(f"INSERT INTO {table}_sum VALUES (0)")
    errors = []

    def work(k):
        try:
            c = dbmd.psycopg2("production", autocommit=False,
                              application_name=f"fd-thread-{k}")
            try:
                for i in range(100):
                    with c.cursor() as cur:
                        cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)",
                                    (k, i, f"{k}:{i}"))
                        cur.execute(f"UPDATE {table}_sum SET n = n + 1 RETURNING n")
                        n, = cur.fetchone()
                        assert 1 <= n <= 1600
                        cur.execute(f"SELECT count(*), max(i) FROM {table} WHERE thread = %s",
                                    (k,))
                        assert cur.fetchone() == (i + 1, i)
                    if i % 10 == 9:
                        c.rollback()
                        with c.cursor() as cur:
                            cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)",
                                        (k, i, f"{k}:{i}"))
                            cur.execute(f"UPDATE {table}_sum SET n = n + 1")
                    c.commit()
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "threads still running after 60 s"
    assert errors == []
    assert pg.query(f"SELECT count(*), count(DISTINCT thread) FROM {table}") == [(1600, 16)]
    assert pg.query(f"SELECT n FROM {table}_sum") == [(1600,)]


def test_copy_refused_connection_usable(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int)")
        with pytest.raises(psycopg2.errors.FeatureNotSupported) as ei:
            cur.copy_expert(f"COPY {table} TO STDOUT", io.StringIO())
        assert ei.value.pgcode == "0A000"
        assert "COPY" in str(ei.value)
        with pytest.raises(psycopg2.errors.FeatureNotSupported):
            cur.copy_from(io.StringIO("1\n2\n"), table)
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        cur.execute(f"SELECT count(*) FROM {table}")
        assert cur.fetchone() == (1,)


@pytest.mark.parametrize("sql,word", [
    ("LISTEN fd_channel", "LISTEN"),
    ("SET search_path = public", "SET without LOCAL"),
    ("SET SESSION statement_timeout = 1000", "SET without LOCAL"),
    ("SELECT pg_advisory_lock(42)", "advisory lock"),
    ("SELECT pg_try_advisory_lock(42)", "advisory lock"),
    ("PREPARE fd_p AS SELECT 1", "PREPARE"),
    ("CREATE TEMP TABLE fd_tmp (a int)", "temporary table"),
])
def test_transaction_pooling_refusals(conn, sql, word):
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.FeatureNotSupported) as ei:
            cur.execute(sql)
        assert ei.value.pgcode == "0A000"
        assert word in ei.value.diag.message_primary
        assert "transaction pooling" in ei.value.diag.message_primary
        assert "pool_mode: session" in ei.value.diag.message_hint
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_set_session_in_autocommit(dbmd, pg):
    """psycopg2 applies set_session() in autocommit mode with SET default_transaction_...:
    refused in transaction pooling, where it would hold for one connection only."""
    c = dbmd.psycopg2("production")
    try:
        with pytest.raises(psycopg2.errors.FeatureNotSupported):
            c.set_session(isolation_level="SERIALIZABLE")
    finally:
        c.close()
    c = dbmd.psycopg2("production/session")
    try:
        c.set_session(isolation_level="SERIALIZABLE", readonly=True)
        with c.cursor() as cur:
            cur.execute("SHOW transaction_isolation")
            assert cur.fetchone() == ("serializable",)
    finally:
        c.close()


@pytest.mark.parametrize("sql", [
    "SELECT set_config('search_path', 'pg_catalog', false)",
    "SELECT 1 AS a INTO TEMP fd_select_into",
])
def test_transaction_pooling_refuses_session_state_in_other_words(conn, sql):
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.FeatureNotSupported):
            cur.execute(sql)


def test_transaction_scoped_state_allowed(dbmd, pg):
    c = dbmd.psycopg2("production", autocommit=False)
    try:
        with c.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = 12345")
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone() == ("12345ms",)
            cur.execute("SELECT pg_advisory_xact_lock(42)")
            cur.execute("CREATE TEMP TABLE fd_tmp_in_txn (a int) ON COMMIT DROP")
            cur.execute("INSERT INTO fd_tmp_in_txn VALUES (1)")
        c.commit()
    finally:
        c.close()


def test_session_pooling_allows_session_state(dbmd, pg):
    c = dbmd.psycopg2("production/session")
    try:
        with c.cursor() as cur:
            cur.execute("SET search_path = pg_catalog, public")
            cur.execute("SHOW search_path")
            assert cur.fetchone() == ("pg_catalog, public",)
            cur.execute("SELECT pg_advisory_lock(4242)")
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                        "objid = 4242 AND pid = pg_backend_pid()")
            assert cur.fetchone() == (1,)
            cur.execute("SELECT pg_advisory_unlock(4242)")
            assert cur.fetchone() == (True,)
            cur.execute("PREPARE fd_p(int) AS SELECT $1 * 2")
            cur.execute("EXECUTE fd_p(21)")
            assert cur.fetchone() == (42,)
            cur.execute("CREATE TEMP TABLE fd_tmp (a int)")
            cur.execute("INSERT INTO fd_tmp VALUES (1)")
            cur.execute("SELECT count(*) FROM fd_tmp")
            assert cur.fetchone() == (1,)
            cur.execute("LISTEN fd_channel")
            cur.execute("SELECT pg_advisory_lock(4243)")    # left for dbmd to clean
    finally:
        c.close()
    # Its session ends with it: the lock goes (when dbmd has reset the connection), and
    # the next client of the role finds none of that.
    wait_until(lambda: pg.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND objid = 4243") == [(0,)], "the advisory lock to go")
    c = dbmd.psycopg2("production/session")
    try:
        with c.cursor() as cur:
            cur.execute("SELECT to_regclass('fd_tmp') IS NULL, current_setting('search_path')")
            assert cur.fetchone() == (True, '"$user", public')
    finally:
        c.close()


def test_session_pooling_listen_notify(dbmd, pg):
    c = dbmd.psycopg2("production/session")
    try:
        with c.cursor() as cur:
            cur.execute("LISTEN fd_chan")
            cur.execute("NOTIFY fd_chan, 'from myself'")
        other = pg.connect()
        with other.cursor() as cur:
            cur.execute("NOTIFY fd_chan, 'from another'")
        other.close()

        def arrived():
            c.poll()
            return len(c.notifies) >= 2
        wait_until(arrived, "two notifications", timeout=2)
        assert [n.payload for n in c.notifies] == ["from myself", "from another"]
    finally:
        c.close()


def test_dbmctl_clients_shows_connection(dbmd, pg):
    c = dbmd.psycopg2("production", application_name="fd-shown-by-dbmctl")
    try:
        mine = [x for x in dbmd.clients() if x["name"] == "fd-shown-by-dbmctl"]
        assert len(mine) == 1, dbmd.clients()
        assert mine[0]["protocol"] == "postgresql"
        assert int(mine[0]["pid"]) == os.getpid()
        assert int(mine[0]["uid"]) == os.getuid()
    finally:
        c.close()
    wait_until(lambda: not any(x["name"] == "fd-shown-by-dbmctl" for x in dbmd.clients()),
               "the closed connection to leave dbmctl clients")


def test_unknown_environment(dbmd):
    with pytest.raises(psycopg2.OperationalError) as ei:
        psycopg2.connect(dbmd.dsn("no_such_env"))
    assert 'unknown environment "no_such_env"' in str(ei.value)
    assert "FATAL" in str(ei.value)


def test_unknown_role(dbmd, pg):
    with pytest.raises(psycopg2.OperationalError) as ei:
        psycopg2.connect(dbmd.dsn("production/no_such_role"))
    assert 'has no role "no_such_role"' in str(ei.value)


def test_access_refused(dbmd, pg):
    with pytest.raises(psycopg2.OperationalError) as ei:
        psycopg2.connect(dbmd.dsn("production/locked"))
    assert "FATAL" in str(ei.value)


def test_options_refused(dbmd, pg):
    with pytest.raises(psycopg2.OperationalError) as ei:
        psycopg2.connect(dbmd.dsn("production", options="'-c search_path=x'"))
    assert "search_path" in str(ei.value)


# SQLite through psycopg2: a program written against the development environment.

def test_sqlite_parameters_and_types(dbmd, table):
    c = dbmd.psycopg2("development")
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, name text, "
                        "score real, big integer, n numeric)")
            rows = [(1, "ada ☃", 1.5, 2 ** 62, decimal.Decimal("12.5")),
                    (2, "it's \\ \"q\"", None, -1, None),
                    (3, None, -0.25, 0, decimal.Decimal("-3"))]
            for r in rows:
                cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", r)
            cur.execute(f"SELECT id, name, score, big, n FROM {table} WHERE id >= %s "
                        "ORDER BY id", (1,))
            assert cur.fetchall() == rows
            assert [d.name for d in cur.description] == ["id", "name", "score", "big", "n"]
            cur.execute(f"SELECT count(*) FROM {table} WHERE name LIKE %s", ("%☃",))
            assert cur.fetchone() == (1,)
            cur.execute(f"SELECT id FROM {table} WHERE id IN %s ORDER BY id", ((1, 3),))
            assert cur.fetchall() == [(1,), (3,)]
            cur.execute(f"UPDATE {table} SET score = %(s)s WHERE id = %(id)s",
                        {"s": 7.0, "id": 2})
            assert cur.rowcount == 1
    finally:
        c.close()


def test_sqlite_postgresql_casts_fail_clearly(dbmd):
    """psycopg2 writes bytes and dates as PostgreSQL casts ('...'::bytea), which are not
    SQLite's SQL: an error with SQLSTATE, and the connection goes on."""
    c = dbmd.psycopg2("development")
    try:
        with c.cursor() as cur:
            for value in (psycopg2.Binary(b"\x00"), datetime.date(2024, 1, 2)):
                with pytest.raises(psycopg2.errors.SyntaxErrorOrAccessRuleViolation) as ei:
                    cur.execute("SELECT %s", (value,))
                assert ei.value.pgcode == "42000"
                assert "unrecognized token" in ei.value.diag.message_primary
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        c.close()


def test_sqlite_boolean_column(dbmd, table):
    c = dbmd.psycopg2("development")
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, flag boolean)")
            cur.execute(f"INSERT INTO {table} VALUES (1, %s), (2, %s), (3, NULL)",
                        (True, False))
            cur.execute(f"SELECT flag FROM {table} ORDER BY id")
            assert cur.description[0].type_code == 16
            assert cur.fetchall() == [(True,), (False,), (None,)]
    finally:
        c.close()


def test_sqlite_transactions_and_errors(dbmd, table):
    c = dbmd.psycopg2("development", autocommit=False)
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY)")
        c.commit()
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1)")
        c.rollback()
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (2)")
            with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
                cur.execute(f"INSERT INTO {table} VALUES (2)")
            assert ei.value.pgcode == "23505"
        c.rollback()
        with c.cursor() as cur:
            with pytest.raises(psycopg2.errors.UndefinedTable) as ei:
                cur.execute("SELECT * FROM no_such_table_here")
            assert ei.value.pgcode == "42P01"
        c.rollback()
        with c.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (3)")
        c.commit()
        with c.cursor() as cur:
            cur.execute(f"SELECT id FROM {table}")
            assert cur.fetchall() == [(3,)]
        c.rollback()
    finally:
        c.close()


def test_sqlite_program(dbmd):
    """A small program written for the development environment, as a developer would."""
    env = "development"

    def app(dsn):
        conn = psycopg2.connect(dsn)
        try:
            with conn:
                with conn.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS fd_todo (id integer PRIMARY KEY, "
                                "title text NOT NULL, done integer NOT NULL DEFAULT 0)")
                    cur.execute("DELETE FROM fd_todo")
                    for title in ("write tests", "run them", "ship ☃"):
                        cur.execute("INSERT INTO fd_todo (title) VALUES (%s) RETURNING id",
                                    (title,))
                        assert cur.fetchone()[0] > 0
            with conn:
                with conn.cursor() as cur:
                    cur.execute("UPDATE fd_todo SET done = %s WHERE title = %s",
                                (1, "write tests"))
                    assert cur.rowcount == 1
            with conn.cursor() as cur:
                cur.execute("SELECT title, done FROM fd_todo ORDER BY id")
                return cur.fetchall()
        finally:
            conn.close()

    assert app(dbmd.dsn(env)) == [("write tests", 1), ("run them", 0), ("ship ☃", 0)]
