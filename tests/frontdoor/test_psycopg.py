"""psycopg 3 (Debian's python3-psycopg, libpq underneath) through the front door: the
extended protocol with server-side parameters, named prepared statements that outlive
the server connection they were made on, binary parameters and results, streaming,
pipelines, server-side cursors, cancel; on PostgreSQL and SQLite."""

import datetime
import decimal
import threading
import time
import uuid

import pytest

from conftest import import_or_skip

psycopg = import_or_skip("psycopg")
from psycopg import errors  # noqa: E402
from psycopg.pq import TransactionStatus  # noqa: E402
from psycopg.types.json import Json, Jsonb  # noqa: E402

from conftest import CancelWhenRunning  # noqa: E402


@pytest.fixture
def conn(dbmd, pg):
    c = dbmd.psycopg("production")
    yield c
    c.close()


TZ = datetime.timezone(datetime.timedelta(hours=2))

# (id, value, the cast the value is read back through)
VALUES = [
    ("int2", 12345, "int2"),
    ("int4", -2147483647, "int4"),
    ("int8", 2 ** 62 + 7, "int8"),
    ("float4", 1.5, "float4"),
    ("float8", 1.0 / 3, "float8"),
    ("float nan", float("-inf"), "float8"),
    ("numeric", decimal.Decimal("-12345678901234567890.000000001"), "numeric"),
    ("numeric nan", decimal.Decimal("NaN"), "numeric"),
    ("text", "héllo wörld ☃ 𝄞 '\"\\", "text"),
    ("empty text", "", "text"),
    ("varchar", "abc", "varchar"),
    ("bytea", b"\x00\x01\x02\xff\x00'\\", "bytea"),
    ("empty bytea", b"", "bytea"),
    ("bool true", True, "bool"),
    ("bool false", False, "bool"),
    ("null", None, "text"),
    ("date", datetime.date(1999, 12, 31), "date"),
    ("date bc", datetime.date(1, 1, 1), "date"),
    ("time", datetime.time(23, 59, 58, 123456), "time"),
    ("timestamp", datetime.datetime(2024, 2, 29, 12, 34, 56, 789012), "timestamp"),
    ("timestamptz", datetime.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=TZ),
     "timestamptz"),
    ("interval", datetime.timedelta(days=-3, seconds=7, microseconds=5), "interval"),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), "uuid"),
]


def same(a, b):
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, decimal.Decimal) and a.is_nan():
        return isinstance(b, decimal.Decimal) and b.is_nan()
    return a == b


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("name,value,typ", VALUES, ids=[v[0] for v in VALUES])
def test_round_trip(conn, name, value, typ, binary):
    """Parameters in text (%s) or binary (%b), results in the same format."""
    ph = "%b" if binary else "%s"
    cur = conn.cursor(binary=binary)
    cur.execute(f"SELECT {ph}::{typ}", (value,))
    got, = cur.fetchone()
    assert same(value, got), (value, got)
    if value is not None:
        assert cur.pgresult.fformat(0) == (1 if binary else 0)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_json(conn, binary):
    doc = {"a": [1, 2.5, None, True], "ü": {"nested": "☃"}}
    cur = conn.cursor(binary=binary)
    cur.execute("SELECT %s::json, %s::jsonb", (Json(doc), Jsonb(doc)))
    assert cur.fetchone() == (doc, doc)


def test_binary_results_of_the_listed_types(conn):
    cur = conn.cursor(binary=True)
    cur.execute("""SELECT 1::int, 2::int8, 3::int2, 1.5::float4, 2.25::float8, 1.25::numeric,
        'x'::text, 'y'::varchar, 'z'::bpchar, 'n'::name, 'c'::"char", 42::oid,
        '\\x00ff'::bytea, true, '2024-01-02'::date, '03:04:05'::time,
        '2024-01-02 03:04:05'::timestamp, '2024-01-02 03:04:05+00'::timestamptz,
        '1 day 2 hours'::interval, '12345678-1234-5678-1234-567812345678'::uuid,
        '{"a": 1}'::jsonb, '{"b": 2}'::json""")
    row = cur.fetchone()
    assert all(cur.pgresult.fformat(i) == 1 for i in range(len(row)))
    assert row == (1, 2, 3, 1.5, 2.25, decimal.Decimal("1.25"), "x", "y", "z", "n", "c", 42,
                   b"\x00\xff", True, datetime.date(2024, 1, 2), datetime.time(3, 4, 5),
                   datetime.datetime(2024, 1, 2, 3, 4, 5),
                   datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                   datetime.timedelta(days=1, hours=2),
                   uuid.UUID("12345678-1234-5678-1234-567812345678"), {"a": 1}, {"b": 2})


def test_binary_result_of_other_type_refused(conn):
    cur = conn.cursor(binary=True)
    with pytest.raises(errors.FeatureNotSupported) as ei:
        cur.execute("SELECT ARRAY[1, 2]")
    assert ei.value.sqlstate == "0A000"
    # The text form of the same works, and so does the connection.
    assert conn.execute("SELECT ARRAY[1, 2]").fetchone() == ([1, 2],)


def test_table_round_trip(conn, pg, table):
    rows = [(i, f"name {i} ☃", decimal.Decimal(i) / 8, bytes(range(i % 256)) + b"\x00",
             i % 2 == 0, None if i % 3 == 0 else datetime.date(2020, 1, 1 + i % 28),
             uuid.UUID(int=i))
            for i in range(60)]
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, n numeric, b bytea, "
                 "flag bool, d date, u uuid)")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    for binary in (False, True):
        got = conn.cursor(binary=binary).execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        assert got == rows
    assert pg.query(f"SELECT count(*) FROM {table}") == [(60,)]


def test_executemany_returning(conn, table):
    conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, v text)")
    cur = conn.cursor()
    cur.executemany(f"INSERT INTO {table} (v) VALUES (%s) RETURNING id, v",
                    [(f"v{i}",) for i in range(10)], returning=True)
    got = []
    while True:
        got.append(cur.fetchone())
        if not cur.nextset():
            break
    assert [v for _, v in got] == [f"v{i}" for i in range(10)]
    assert len({i for i, _ in got}) == 10


def test_stream(conn):
    n = 0
    for i, (v, s) in enumerate(conn.cursor().stream(
            "SELECT g, repeat('x', g % 100) FROM generate_series(1, 20000) g")):
        assert v == i + 1 and s == "x" * (v % 100)
        n += 1
    assert n == 20000
    # And the connection goes on.
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stream_binary(dbmd, pg):
    c = dbmd.psycopg("production")
    try:
        got = list(c.cursor(binary=True).stream("SELECT g, g::text FROM generate_series(1, 500) g"))
        assert got == [(i, str(i)) for i in range(1, 501)]
    finally:
        c.close()


def test_prepared_statements(dbmd, pg, table):
    c = dbmd.psycopg("production", autocommit=False)
    try:
        c.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v int)")
        c.commit()
        for txn in range(5):
            for k in range(10):
                c.execute(f"INSERT INTO {table} VALUES (%s, %s)", (txn * 10 + k, k),
                          prepare=True)
            got = c.execute(f"SELECT count(*), sum(v) FROM {table} WHERE k >= %s",
                            (txn * 10,), prepare=True).fetchone()
            assert got == (10, 45)
            if txn % 2:
                c.rollback()
            else:
                c.commit()
        # psycopg prepared them once, by name, and used the names after.
        assert len(c._prepared._names) >= 2
        assert pg.query(f"SELECT count(*) FROM {table}") == [(30,)]
    finally:
        c.close()


def test_prepare_threshold_zero(dbmd, pg):
    """Every statement prepared at once: the whole session runs on named statements."""
    c = dbmd.psycopg("production", autocommit=True)
    c.prepare_threshold = 0
    try:
        for i in range(20):
            assert c.execute("SELECT %s::int + %s::int", (i, 1)).fetchone() == (i + 1,)
            assert c.execute("SELECT %s::text || 'x'", (str(i),)).fetchone() == (f"{i}x",)
    finally:
        c.close()


def test_prepared_statements_move_between_server_connections(dbmd, pg, table):
    """production/small has two server connections.  Two other clients take turns
    holding them, so that each client's next transaction has only the connection it
    has never used: its named statements must run there all the same."""
    with dbmd.psycopg("production/small") as c:
        c.execute(f"CREATE TABLE {table} (client int, i int, PRIMARY KEY (client, i))")
    conns = [dbmd.psycopg("production/small", autocommit=False) for _ in range(4)]
    holders = [dbmd.psycopg("production/small", autocommit=False) for _ in range(2)]
    insert = f"INSERT INTO {table} VALUES (%s, %s)"
    backend = "SELECT pg_backend_pid() + %s"
    rows = [0] * len(conns)

    def txn(k):
        c = conns[k]
        c.execute(insert, (k, rows[k]), prepare=True)
        rows[k] += 1
        pid, = c.execute(backend, (0,), prepare=True).fetchone()
        return pid

    def hold(h):
        pid, = h.execute("SELECT pg_backend_pid()").fetchone()
        return pid              # its transaction stays open, holding that connection

    try:
        a, b = holders
        for k in range(len(conns)):
            pa = hold(a)
            hold(b)
            a.commit()                  # only a's connection is free
            first = txn(k)
            conns[k].commit()
            assert first == pa
            assert hold(a) == pa        # a takes it again
            b.commit()                  # only b's connection is free now
            second = txn(k)             # the statements k prepared, elsewhere
            conns[k].commit()
            a.commit()
            assert second != first
        for k, c in enumerate(conns):
            n, = c.execute(f"SELECT count(*) FROM {table} WHERE client = %s", (k,),
                           prepare=True).fetchone()
            assert n == rows[k]
            c.commit()
    finally:
        for c in conns + holders:
            c.close()


def test_prepared_statements_from_many_threads(dbmd, pg, table):
    with dbmd.psycopg("production/small") as c:
        c.execute(f"CREATE TABLE {table} (t int, i int)")
    errs = []

    def work(t):
        try:
            with dbmd.psycopg("production/small", autocommit=False) as c:
                c.prepare_threshold = 0
                for i in range(30):
                    with c.transaction():
                        c.execute(f"INSERT INTO {table} VALUES (%s, %s)", (t, i))
                        n, = c.execute(f"SELECT count(*) FROM {table} WHERE t = %s",
                                       (t,)).fetchone()
                        assert n == i + 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errs.append((t, repr(e)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errs == []
    assert pg.query(f"SELECT count(*) FROM {table}") == [(180,)]


@pytest.mark.parametrize("env", ["production", "development"])
def test_prepared_cache_overflow(dbmd, request, env):
    if env == "production":
        request.getfixturevalue("pg")
    c = dbmd.psycopg(env)
    c.prepare_threshold = 0
    c.prepared_max = 3
    try:
        for _ in range(2):
            for i in range(6):
                assert c.execute(f"SELECT {i} + %s", (1,)).fetchone()[0] == i + 1
    finally:
        c.close()


def test_large_values(dbmd, pg):
    """Results stream whatever their size; a parameter travels in one message, which may
    be as large as daemon.max_frame_size (1 MiB by default)."""
    c = dbmd.psycopg("production")
    try:
        n = 16 << 20
        assert len(c.execute("SELECT repeat('x', %s)", (n,)).fetchone()[0]) == n
        got, = c.cursor(binary=True).execute(
            "SELECT decode(repeat('00ff', %s), 'hex')", (n // 2,)).fetchone()
        assert len(got) == n and got[:4] == b"\x00\xff\x00\xff"
        v = bytes(range(256)) * 3500
        assert c.execute("SELECT %b::bytea", (v,)).fetchone() == (v,)
    finally:
        c.close()


def test_parameter_over_frame_size(dbmd, pg):
    c = dbmd.psycopg("production")
    try:
        v = b"\x01" * (2 << 20)
        try:
            assert c.execute("SELECT length(%b::bytea)", (v,)).fetchone() == (len(v),)
        except psycopg.Error as e:
            assert e.sqlstate == "54000", e
    finally:
        c.close()


def test_describe_prepared(conn):
    """Parse, then Describe of the statement: its parameters' and columns' types."""
    pgc = conn.pgconn
    res = pgc.prepare(b"fd_desc", b"SELECT $1::int + 1 AS n, $2::text AS t, now() AS ts")
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK
    res = pgc.describe_prepared(b"fd_desc")
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message
    assert [res.param_type(i) for i in range(res.nparams)] == [23, 25]
    assert [res.fname(i) for i in range(res.nfields)] == [b"n", b"t", b"ts"]
    assert [res.ftype(i) for i in range(res.nfields)] == [23, 25, 1184]
    res = pgc.exec_prepared(b"fd_desc", [b"41", b"x"])
    assert res.get_value(0, 0) == b"42" and res.get_value(0, 1) == b"x"
    # A statement with an error shows it at its Describe at the latest.
    pgc.prepare(b"fd_bad", b"SELECT * FROM no_such_table_here")
    res = pgc.describe_prepared(b"fd_bad")
    assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42P01"
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_pipeline(dbmd, pg, table):
    c = dbmd.psycopg("production")
    try:
        c.execute(f"CREATE TABLE {table} (a int PRIMARY KEY)")
        with c.pipeline() as p:
            curs = []
            for i in range(20):
                c.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
            for i in range(5):
                cur = c.cursor()
                cur.execute("SELECT %s::int * 2", (i,))
                curs.append(cur)
            p.sync()
            assert [cur.fetchone()[0] for cur in curs] == [0, 2, 4, 6, 8]
        assert pg.query(f"SELECT count(*) FROM {table}") == [(20,)]
        # An error in a pipeline fails what follows it up to the sync, as in PostgreSQL.
        with pytest.raises(errors.UniqueViolation):
            with c.pipeline():
                c.execute(f"INSERT INTO {table} VALUES (%s)", (100,))
                c.execute(f"INSERT INTO {table} VALUES (%s)", (0,))
                c.execute(f"INSERT INTO {table} VALUES (%s)", (101,))
        assert pg.query(f"SELECT count(*) FROM {table} WHERE a >= 100") == [(1,)]
        assert c.execute("SELECT 'after'").fetchone() == ("after",)
    finally:
        c.close()


def test_pipeline_in_transaction(dbmd, pg, table):
    c = dbmd.psycopg("production", autocommit=False)
    try:
        c.execute(f"CREATE TABLE {table} (a int)")
        c.commit()
        with c.pipeline():
            for i in range(10):
                c.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
            c.rollback()
            c.execute(f"INSERT INTO {table} VALUES (%s)", (42,))
            c.commit()
        assert pg.query(f"SELECT a FROM {table}") == [(42,)]
    finally:
        c.close()


def test_transactions(dbmd, pg, table):
    c = dbmd.psycopg("production", autocommit=True)
    try:
        c.execute(f"CREATE TABLE {table} (a int)")
        with c.transaction():
            c.execute(f"INSERT INTO {table} VALUES (1)")
            assert c.info.transaction_status == TransactionStatus.INTRANS
            with pytest.raises(errors.DivisionByZero):
                with c.transaction():       # a savepoint
                    c.execute(f"INSERT INTO {table} VALUES (2)")
                    c.execute("SELECT 1/0")
            c.execute(f"INSERT INTO {table} VALUES (3)")
        assert c.info.transaction_status == TransactionStatus.IDLE
        with pytest.raises(RuntimeError):
            with c.transaction():
                c.execute(f"INSERT INTO {table} VALUES (4)")
                raise RuntimeError("rolled back")
        assert pg.query(f"SELECT a FROM {table} ORDER BY a") == [(1,), (3,)]
    finally:
        c.close()


def test_errors_with_sqlstate(conn, table):
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
    with pytest.raises(errors.UniqueViolation) as ei:
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
    d = ei.value.diag
    assert (d.sqlstate, d.constraint_name, d.table_name, d.message_detail) == \
        ("23505", f"{table}_pkey", table, "Key (id)=(1) already exists.")
    with pytest.raises(errors.DivisionByZero):
        conn.execute("SELECT %s / 0", (1,))
    with pytest.raises(errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table_here WHERE a = %s", (1,))
    with pytest.raises(errors.SyntaxError) as ei:
        conn.execute("SELECT %s FRM x", (1,))
    assert ei.value.diag.statement_position == "15"     # in "SELECT $1 FRM x"
    with pytest.raises(errors.InvalidTextRepresentation):
        conn.execute("SELECT %s::int", ("abc",))
    with pytest.raises(errors.NumericValueOutOfRange):
        conn.execute("SELECT %b::int2", (70000,))
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_notices(conn):
    got = []
    conn.add_notice_handler(lambda d: got.append((d.severity, d.message_primary)))
    conn.execute("DO $$ BEGIN RAISE NOTICE 'note %', 7; RAISE WARNING 'careful'; END $$")
    assert got == [("NOTICE", "note 7"), ("WARNING", "careful")]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_server_side_cursor(dbmd, pg, binary):
    c = dbmd.psycopg("production", autocommit=False)
    try:
        with c.cursor(name="fd_server_cursor", binary=binary) as cur:
            cur.itersize = 7
            cur.execute("SELECT g, g::text FROM generate_series(1, 50) g WHERE g > %s", (0,))
            assert [d.name for d in cur.description] == ["g", "g"]
            assert cur.fetchmany(3) == [(1, "1"), (2, "2"), (3, "3")]
            assert list(cur) == [(i, str(i)) for i in range(4, 51)]
        c.commit()
    finally:
        c.close()


def test_server_side_cursor_by_sql(dbmd, pg):
    """The same as psycopg's server-side cursor, written out: DECLARE, then FETCH."""
    c = dbmd.psycopg("production", autocommit=False)
    try:
        c.execute("DECLARE fd_sql_cursor CURSOR FOR SELECT g FROM generate_series(1, 10) g "
                  "WHERE g > %s", (0,))
        assert c.execute("FETCH FORWARD 4 FROM fd_sql_cursor").fetchall() == \
            [(1,), (2,), (3,), (4,)]
        assert c.cursor(binary=True).execute(
            "FETCH FORWARD ALL FROM fd_sql_cursor").fetchall() == [(i,) for i in range(5, 11)]
        c.execute("CLOSE fd_sql_cursor")
        c.commit()
    finally:
        c.close()


def test_cancel(dbmd, pg):
    c = dbmd.psycopg("production")
    try:
        t = CancelWhenRunning(pg, "fd-cancel-3", c.cancel)
        t.start()
        with pytest.raises(errors.QueryCanceled) as ei:
            c.execute("SELECT pg_sleep(%s) -- fd-cancel-3", (5,))
        assert ei.value.sqlstate == "57014"
        assert time.monotonic() - t.finish() < 2
        assert c.execute("SELECT %s::int", (5,)).fetchone() == (5,)
    finally:
        c.close()


def test_copy_refused_connection_usable(conn, table):
    conn.execute(f"CREATE TABLE {table} (a int)")
    with pytest.raises(errors.FeatureNotSupported) as ei:
        with conn.cursor().copy(f"COPY {table} FROM STDIN") as cp:
            cp.write_row((1,))
    assert ei.value.sqlstate == "0A000"
    with pytest.raises(errors.FeatureNotSupported):
        with conn.cursor().copy(f"COPY {table} TO STDOUT") as cp:
            list(cp)
    conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


@pytest.mark.parametrize("sql,word", [
    ("LISTEN fd_channel", "LISTEN"),
    ("SET search_path = public", "SET without LOCAL"),
    ("SELECT pg_advisory_lock(%s)", "advisory lock"),
])
def test_transaction_pooling_refusals(conn, sql, word):
    with pytest.raises(errors.FeatureNotSupported) as ei:
        conn.execute(sql, (42,) if "%s" in sql else None)
    assert ei.value.sqlstate == "0A000"
    assert word in ei.value.diag.message_primary
    assert "pool_mode: session" in ei.value.diag.message_hint
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_session_pooling(dbmd, pg):
    c = dbmd.psycopg("production/session")
    try:
        c.execute("SET application_name = 'fd-renamed'")
        c.execute("SELECT pg_advisory_lock(%s)", (77,))
        c.execute("CREATE TEMP TABLE fd_tmp3 (a int)")
        c.execute("INSERT INTO fd_tmp3 VALUES (%s)", (1,))
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        for _ in range(5):
            with c.transaction():
                assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert c.execute("SELECT count(*) FROM fd_tmp3").fetchone() == (1,)
        assert c.execute("SHOW application_name").fetchone() == ("fd-renamed",)
        c.execute("SELECT pg_advisory_unlock(%s)", (77,))
    finally:
        c.close()


def test_connection_info(dbmd, pg):
    c = dbmd.psycopg("production", application_name="fd-info")
    try:
        i = c.info
        assert i.server_version >= 100000
        assert i.encoding == "utf-8"
        assert i.parameter_status("application_name") == "fd-info"
        assert i.parameter_status("integer_datetimes") == "on"
        assert i.parameter_status("DateStyle") is not None
        assert i.parameter_status("TimeZone") is not None
        assert i.backend_pid != 0
        assert i.transaction_status == TransactionStatus.IDLE
        mine = [x for x in dbmd.clients() if x["name"] == "fd-info"]
        assert len(mine) == 1 and mine[0]["protocol"] == "postgresql"
    finally:
        c.close()


def test_unknown_environment(dbmd):
    with pytest.raises(psycopg.OperationalError) as ei:
        psycopg.connect(dbmd.dsn("no_such_env"))
    assert 'unknown environment "no_such_env"' in str(ei.value)


# SQLite through psycopg: the values travel as parameters, not as literals.

def test_sqlite_parameters(dbmd, table):
    c = dbmd.psycopg("development")
    try:
        c.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, name text, score real, "
                  "data blob)")
        rows = [(1, "ada ☃", 1.5, b"\x00\x01\xff"), (2, "it's", None, b""),
                (3, None, -0.25, None)]
        c.cursor().executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows)
        for binary in (False, True):
            got = c.cursor(binary=binary).execute(
                f"SELECT id, name, score, data FROM {table} WHERE id >= %s ORDER BY id",
                (1,)).fetchall()
            assert got == rows
        assert c.execute(f"SELECT count(*) FROM {table} WHERE name = %b",
                         ("ada ☃",)).fetchone() == (1,)
        with pytest.raises(errors.UniqueViolation):
            c.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows[0])
        for i in range(5):
            assert c.execute(f"SELECT name FROM {table} WHERE id = %s", (1,),
                             prepare=True).fetchone() == ("ada ☃",)
    finally:
        c.close()


def test_sqlite_types_in_row_description(dbmd, table):
    c = dbmd.psycopg("development")
    try:
        c.execute(f"CREATE TABLE {table} (i integer, t text, r real, b blob, d date, "
                  "ts timestamp, n numeric, j json, u uuid)")
        c.execute(f"INSERT INTO {table} VALUES (1, 'x', 2.5, x'00ff', '2024-01-02', "
                  "'2024-01-02 03:04:05', 1.5, '{\"a\": 1}', "
                  "'12345678-1234-5678-1234-567812345678')")
        for binary in (False, True):
            row = c.cursor(binary=binary).execute(f"SELECT * FROM {table}").fetchone()
            assert row == (1, "x", 2.5, b"\x00\xff", datetime.date(2024, 1, 2),
                           datetime.datetime(2024, 1, 2, 3, 4, 5), decimal.Decimal("1.5"),
                           {"a": 1}, uuid.UUID("12345678-1234-5678-1234-567812345678"))
    finally:
        c.close()


def test_sqlite_transactions(dbmd, table):
    c = dbmd.psycopg("development", autocommit=False)
    try:
        c.execute(f"CREATE TABLE {table} (a integer)")
        c.commit()
        c.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
        c.rollback()
        with c.transaction():
            c.execute(f"INSERT INTO {table} VALUES (%s)", (2,))
        c.commit()
        assert c.execute(f"SELECT a FROM {table}").fetchall() == [(2,)]
        c.rollback()
    finally:
        c.close()


def test_sqlite_typed_parameters(dbmd, table):
    c = dbmd.psycopg("development")
    try:
        assert c.execute("SELECT %s > 10, %s = 1", (9, 1)).fetchone() == (0, 1)
        c.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, flag integer)")
        c.execute(f"INSERT INTO {table} VALUES (%s, %s), (%s, %s)", (1, True, 2, False))
        assert c.execute(f"SELECT id FROM {table} WHERE flag").fetchall() == [(1,)]
    finally:
        c.close()


def test_sqlite_boolean_column_text(dbmd, table):
    c = dbmd.psycopg("development")
    try:
        c.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, flag boolean)")
        c.execute(f"INSERT INTO {table} VALUES (1, 1), (2, 0), (3, NULL)")
        assert c.execute(f"SELECT flag FROM {table} ORDER BY id").fetchall() == \
            [(True,), (False,), (None,)]
    finally:
        c.close()


def test_sqlite_boolean_column_binary(dbmd, table):
    c = dbmd.psycopg("development")
    try:
        c.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, flag boolean)")
        c.execute(f"INSERT INTO {table} VALUES (1, 1), (2, 0), (3, NULL)")
        assert c.cursor(binary=True).execute(
            f"SELECT flag FROM {table} ORDER BY id").fetchall() == [(True,), (False,), (None,)]
    finally:
        c.close()


def test_sqlite_catalog_query_fails_clearly(dbmd):
    c = dbmd.psycopg("development")
    try:
        with pytest.raises(psycopg.Error) as ei:
            c.execute("SELECT relname FROM pg_catalog.pg_class WHERE relname = %s", ("x",))
        assert ei.value.sqlstate is not None
        assert c.execute("SELECT 1").fetchone() == (1,)
    finally:
        c.close()
