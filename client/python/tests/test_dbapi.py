"""PEP 249: the module, Connection and Cursor, against a real dbmd on both backends."""

import datetime
import decimal
import time

import pytest

import dbmclient

# PostgreSQL's type OIDs, which dbmd reports on both backends.
BOOL, BYTEA, INT8, INT4, TEXT, JSON, FLOAT8 = 16, 17, 20, 23, 25, 114, 701
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, NUMERIC, UUID = 1082, 1083, 1114, 1184, 1700, 2950


def make_table(target, table, cols="id integer PRIMARY KEY, v text", rows=()):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} ({cols})")
    for r in rows:
        m.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(r))})", r)


def test_module_globals():
    assert dbmclient.apilevel == "2.0"
    assert dbmclient.threadsafety == 1
    assert dbmclient.paramstyle == "pyformat"
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                 "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert isinstance(getattr(dbmclient, name), type), name
    assert issubclass(dbmclient.Warning, Exception)
    assert issubclass(dbmclient.Error, Exception)
    assert not issubclass(dbmclient.Warning, dbmclient.Error)
    assert issubclass(dbmclient.InterfaceError, dbmclient.Error)
    assert issubclass(dbmclient.DatabaseError, dbmclient.Error)
    assert not issubclass(dbmclient.InterfaceError, dbmclient.DatabaseError)
    for name in ("DataError", "OperationalError", "IntegrityError", "InternalError",
                 "ProgrammingError", "NotSupportedError"):
        assert issubclass(getattr(dbmclient, name), dbmclient.DatabaseError), name


def test_type_objects_and_constructors():
    assert dbmclient.NUMBER == INT4
    assert dbmclient.NUMBER == INT8
    assert dbmclient.NUMBER == NUMERIC
    assert dbmclient.NUMBER == FLOAT8
    assert dbmclient.NUMBER != TEXT
    assert dbmclient.STRING == TEXT
    assert dbmclient.STRING != INT4
    assert dbmclient.BINARY == BYTEA
    assert dbmclient.DATETIME == TIMESTAMP
    assert dbmclient.DATETIME == DATE
    assert dbmclient.DATETIME == TIMESTAMPTZ
    assert dbmclient.DATETIME != BYTEA
    assert dbmclient.ROWID != TEXT
    assert dbmclient.Date(2024, 2, 29) == datetime.date(2024, 2, 29)
    assert dbmclient.Time(1, 2, 3) == datetime.time(1, 2, 3)
    assert dbmclient.Timestamp(2024, 2, 29, 1, 2, 3) == datetime.datetime(2024, 2, 29, 1, 2, 3)
    t = time.time()
    assert dbmclient.DateFromTicks(t) == datetime.date.fromtimestamp(t)
    # Whole seconds or not, as in sqlite3 and psycopg2 respectively.
    ts = dbmclient.TimestampFromTicks(t)
    assert type(ts) is datetime.datetime
    assert abs(ts - datetime.datetime.fromtimestamp(t)) < datetime.timedelta(seconds=1)
    tm = dbmclient.TimeFromTicks(t)
    assert type(tm) is datetime.time
    assert tm.replace(microsecond=0) == datetime.datetime.fromtimestamp(t).time().replace(
        microsecond=0)
    assert bytes(dbmclient.Binary(b"a\x00b")) == b"a\x00b"


def test_connection_basics(target):
    conn = target.connect()
    assert conn.backend == target.kind
    assert not conn.closed
    assert conn.autocommit is False
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                 "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert getattr(conn, name) is getattr(dbmclient, name), name
    cur = conn.cursor()
    assert cur.connection is conn
    assert cur.arraysize == 1
    assert cur.description is None
    assert cur.rowcount == -1
    assert cur.execute("SELECT 1 AS one") is cur
    assert cur.fetchall() == [(1,)]
    # The shortcut: a new cursor with the statement run.
    c2 = conn.execute("SELECT %s + 0 AS x", (5,))
    assert c2 is not cur and c2.connection is conn
    assert c2.fetchone() == (5,)
    conn.close()
    assert conn.closed


def test_description_names_and_type_codes(target, table):
    decl = {"i": "integer", "b": "bigint", "t": "text", "f": "double precision",
            "n": "numeric(10,2)", "bo": "boolean", "by": "bytea" if target.is_pg else "blob",
            "d": "date", "ts": "timestamp", "tz": "timestamptz"}
    make_table(target, table, ", ".join(f"{k} {v}" for k, v in decl.items()))
    conn = target.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (1, 2**40, "x", 1.5, decimal.Decimal("12.34"), True, b"\x00",
                 datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5),
                 datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)))
    assert cur.rowcount == 1
    cur.execute(f"SELECT {', '.join(decl)} FROM {table}")
    desc = cur.description
    assert [d[0] for d in desc] == list(decl)
    assert all(len(d) == 7 for d in desc)
    codes = {d[0]: d[1] for d in desc}
    want = {"i": INT4 if target.is_pg else INT8, "b": INT8, "t": TEXT, "f": FLOAT8,
            "n": NUMERIC, "bo": BOOL, "by": BYTEA, "d": DATE, "ts": TIMESTAMP,
            "tz": TIMESTAMPTZ}
    assert codes == want
    assert all(type(c) is int for c in codes.values())
    assert codes["n"] == dbmclient.NUMBER and codes["t"] == dbmclient.STRING
    assert codes["by"] == dbmclient.BINARY and codes["ts"] == dbmclient.DATETIME
    for d in desc:
        assert d[2] is None and d[3] is None and d[6] is None
    row = cur.fetchone()
    assert row[:4] == (1, 2**40, "x", 1.5)
    assert row[5:] == (True, b"\x00", datetime.date(2020, 1, 2),
                       datetime.datetime(2020, 1, 2, 3, 4, 5),
                       datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    assert cur.fetchone() is None


def test_numeric_precision_and_scale_on_postgresql(pg_target, table):
    make_table(pg_target, table, "n numeric(10,2), m numeric, i integer")
    conn = pg_target.connect()
    cur = conn.cursor()
    cur.execute(f"SELECT n, m, i FROM {table}")
    n, m, i = cur.description
    assert (n[0], n[1], n[4], n[5]) == ("n", NUMERIC, 10, 2)
    assert (m[4], m[5]) == (None, None)
    assert i[1] == INT4
    assert cur.fetchall() == []
    conn.close()


def test_fetchone_fetchmany_fetchall_iteration_arraysize(target):
    conn = target.connect()
    cur = conn.cursor()
    q = ("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10) "
         "SELECT i FROM s ORDER BY i")
    cur.execute(q)
    assert cur.fetchone() == (1,)
    assert cur.fetchmany() == [(2,)]            # arraysize 1
    cur.arraysize = 3
    assert cur.fetchmany() == [(3,), (4,), (5,)]
    assert cur.fetchmany(2) == [(6,), (7,)]
    assert list(cur) == [(8,), (9,), (10,)]
    assert cur.rowcount == 10
    assert cur.fetchone() is None
    assert cur.fetchmany(5) == []
    assert cur.fetchall() == []
    cur.execute(q)
    assert cur.rowcount in (-1, 10)
    assert cur.fetchall() == [(i,) for i in range(1, 11)]
    assert cur.rowcount == 10
    cur.execute(q)
    assert [r[0] for r in cur] == list(range(1, 11))
    # A new execute replaces what was left of the last result.
    cur.execute(q)
    cur.fetchone()
    cur.execute("SELECT 'other'")
    assert cur.fetchall() == [("other",)]
    conn.close()


def test_fetch_without_a_result_set_is_an_error(target):
    conn = target.connect()
    cur = conn.cursor()
    with pytest.raises(dbmclient.Error):
        cur.fetchone()
    conn.close()


def test_executemany_and_dml_rowcount(target, table):
    make_table(target, table)
    conn = target.connect()
    cur = conn.cursor()
    cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%s, %s)",
                    [(i, f"v{i}") for i in range(5)])
    cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%(id)s, %(v)s)",
                    [{"id": i, "v": f"w{i}"} for i in range(5, 8)])
    cur.execute(f"UPDATE {table} SET v = v || '!' WHERE id < %s", (3,))
    assert cur.rowcount == 3
    assert cur.description is None
    assert cur.statusmessage == "UPDATE 3"
    cur.execute(f"DELETE FROM {table} WHERE id = %s", (7,))
    assert cur.rowcount == 1
    cur.execute(f"DELETE FROM {table} WHERE id = %s", (70,))
    assert cur.rowcount == 0
    cur.execute(f"SELECT id, v FROM {table} ORDER BY id")
    assert cur.fetchall() == [(0, "v0!"), (1, "v1!"), (2, "v2!"), (3, "v3"), (4, "v4"),
                              (5, "w5"), (6, "w6")]
    assert cur.statusmessage.startswith("SELECT")
    conn.commit()
    assert target.count(table) == 7
    conn.close()


def test_setinputsizes_setoutputsize_and_nextset(target):
    conn = target.connect()
    cur = conn.cursor()
    cur.setinputsizes([10, None])
    cur.setoutputsize(100)
    cur.setoutputsize(100, 0)
    cur.execute("SELECT 1")
    assert not cur.nextset()
    conn.close()


def must_raise_interface_error(calls):
    """Runs each named call; every one must raise InterfaceError.  Lists those that did not."""
    wrong = []
    for name, call in calls:
        try:
            call()
        except dbmclient.InterfaceError:
            continue
        except Exception as e:
            wrong.append(f"{name}: {type(e).__name__}: {e}")
        else:
            wrong.append(f"{name}: no exception")
    assert wrong == []


def test_use_after_close_is_an_interface_error(target):
    conn = target.connect()
    cur = conn.cursor()
    cur.execute("SELECT 1")
    cur.close()
    assert cur.closed
    must_raise_interface_error([
        ("execute", lambda: cur.execute("SELECT 1")),
        ("fetchone", cur.fetchone),
        ("fetchall", cur.fetchall),
        ("fetchmany", lambda: cur.fetchmany(2)),
        ("executemany", lambda: cur.executemany("SELECT %s", [(1,)])),
        ("iteration", lambda: next(iter(cur))),
    ])
    other = conn.cursor()
    conn.close()
    assert conn.closed
    must_raise_interface_error([
        ("conn.cursor", conn.cursor),
        ("conn.commit", conn.commit),
        ("conn.rollback", conn.rollback),
        ("conn.execute", lambda: conn.execute("SELECT 1")),
        ("cursor of a closed connection: execute", lambda: other.execute("SELECT 1")),
    ])


def test_uncommitted_insert_is_invisible_and_close_rolls_back(target, table):
    make_table(target, table)
    watcher = target.connect(autocommit=True)
    conn = target.connect()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'a')")
    assert cur.rowcount == 1
    assert cur.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
    assert watcher.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    assert target.count(table) == 0
    conn.close()
    assert watcher.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    assert target.count(table) == 0
    watcher.close()


def test_commit_makes_it_visible_and_rollback_discards(target, table):
    make_table(target, table)
    conn = target.connect()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'a')")
    conn.commit()
    assert target.count(table) == 1
    # The next statement opens the next transaction.
    cur.execute(f"INSERT INTO {table} (id, v) VALUES (2, 'b')")
    conn.rollback()
    assert target.count(table) == 1
    cur.execute(f"SELECT id FROM {table}")
    assert cur.fetchall() == [(1,)]
    conn.commit()
    conn.rollback()                     # nothing open: harmless
    conn.close()
    assert target.count(table) == 1


def test_autocommit_true_commits_each_statement(target, table):
    make_table(target, table)
    conn = target.connect(autocommit=True)
    assert conn.autocommit is True
    conn.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'a')")
    assert target.count(table) == 1
    conn.rollback()                     # nothing to roll back
    assert target.count(table) == 1
    # Switched off, the next statement opens a transaction.
    conn.autocommit = False
    conn.execute(f"INSERT INTO {table} (id, v) VALUES (2, 'b')")
    assert target.count(table) == 1
    conn.rollback()
    conn.autocommit = True
    conn.execute(f"INSERT INTO {table} (id, v) VALUES (3, 'c')")
    assert target.count(table) == 2
    conn.close()


def test_context_manager_commits_or_rolls_back_and_stays_open(target, table):
    make_table(target, table)
    conn = target.connect()
    with conn as c:
        assert c is conn
        c.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'a')")
    assert not conn.closed
    assert target.count(table) == 1
    with pytest.raises(ZeroDivisionError):
        with conn:
            conn.execute(f"INSERT INTO {table} (id, v) VALUES (2, 'b')")
            1 / 0
    assert not conn.closed
    assert target.count(table) == 1
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
    conn.close()


def test_error_inside_a_transaction_then_rollback_recovers(target, table):
    make_table(target, table)
    conn = target.connect()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'a')")
    with pytest.raises(dbmclient.IntegrityError):
        cur.execute(f"INSERT INTO {table} (id, v) VALUES (1, 'dup')")
    conn.rollback()
    cur.execute(f"INSERT INTO {table} (id, v) VALUES (2, 'b')")
    conn.commit()
    assert target.outside(f"SELECT id FROM {table}") == [(2,)]
    conn.close()


def test_pinned_connection_keeps_session_state_on_postgresql(pg_target):
    conn = pg_target.connect(autocommit=True, pinned=True)
    conn.execute("SET application_name = 'pinned-test'")
    assert conn.execute("SHOW application_name").fetchone() == ("pinned-test",)
    conn.close()


def test_client_timeout_is_an_operational_error(pg_target):
    conn = pg_target.connect(autocommit=True, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(dbmclient.OperationalError):
        conn.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - t0 < 4
    conn.close()
