"""Every exception class of PEP 249, each from a real error of dbmd or its database."""

import pytest

import dbmclient

SQL = 10                                # dbmd's error code for a failed statement


def raises(conn, sql, cls, sqlstate=None, params=None, exact=True):
    """Runs sql, which must fail with exactly cls (a subclass of it unless exact) and
    sqlstate; returns the exception."""
    with pytest.raises(dbmclient.Error) as ei:
        conn.execute(sql, params)
    e = ei.value
    assert (type(e) is cls) if exact else isinstance(e, cls), \
        f"{sql}: {type(e).__name__}: {e}"
    if sqlstate is not None:
        assert e.sqlstate == sqlstate, f"{sql}: {e.sqlstate}: {e}"
        assert e.pgcode == sqlstate
    assert isinstance(e, dbmclient.DatabaseError) == (cls is not dbmclient.InterfaceError)
    return e


@pytest.fixture
def conn(target):
    c = target.connect(autocommit=True)
    yield c
    c.close()


@pytest.fixture
def pg_conn(pg_target):
    c = pg_target.connect(autocommit=True)
    yield c
    c.close()


@pytest.fixture
def sqlite_conn(sqlite_target):
    c = sqlite_target.connect(autocommit=True)
    yield c
    c.close()


def test_unique_violation_is_an_integrity_error(target, conn, table):
    conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, u text UNIQUE, "
                 "n text NOT NULL, c integer CHECK (c > 0))")
    conn.execute(f"INSERT INTO {table} VALUES (1, 'a', 'n', 1)")
    e = raises(conn, f"INSERT INTO {table} VALUES (2, 'a', 'n', 1)", dbmclient.IntegrityError,
               "23505")
    assert (e.code, e.codename) == (SQL, "SQL")
    assert str(e)
    raises(conn, f"INSERT INTO {table} VALUES (1, 'b', 'n', 1)", dbmclient.IntegrityError,
           "23505")
    raises(conn, f"INSERT INTO {table} VALUES (3, 'c', NULL, 1)", dbmclient.IntegrityError,
           "23502")
    raises(conn, f"INSERT INTO {table} VALUES (4, 'd', 'n', 0)", dbmclient.IntegrityError,
           "23514")
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
    if target.is_pg:
        assert e.detail == "Key (u)=(a) already exists."


def test_division_by_zero_is_a_data_error_on_postgresql(pg_conn):
    e = raises(pg_conn, "SELECT 1/0", dbmclient.DataError, "22012")
    assert "division by zero" in str(e)
    raises(pg_conn, "SELECT 'abc'::integer", dbmclient.DataError, "22P02")
    raises(pg_conn, "SELECT 2147483647::int4 + 1", dbmclient.DataError, "22003")


def test_division_by_zero_on_sqlite_is_null(sqlite_conn):
    # SQLite does not fail on it: dbmd reports the NULL SQLite computes.
    assert sqlite_conn.execute("SELECT 1/0, 1.0/0").fetchone() == (None, None)


def test_syntax_error_and_undefined_objects_are_programming_errors(conn, table):
    e = raises(conn, "SELEKT 1", dbmclient.ProgrammingError, "42601")
    assert (e.code, e.codename) == (SQL, "SQL")
    raises(conn, "SELECT * FROM no_such_table_here", dbmclient.ProgrammingError, "42P01")
    conn.execute(f"CREATE TABLE {table} (a integer)")
    raises(conn, f"SELECT no_such_column FROM {table}", dbmclient.ProgrammingError, "42703")
    raises(conn, f"CREATE TABLE {table} (a integer)", dbmclient.ProgrammingError, "42P07")


def test_feature_not_supported_is_a_not_supported_error(pg_conn, table):
    pg_conn.execute(f"CREATE TABLE {table} (a integer)")
    # Refused by dbmd itself, and by PostgreSQL.
    raises(pg_conn, f"COPY {table} TO STDOUT", dbmclient.NotSupportedError, "0A000")
    raises(pg_conn, f"SELECT count(*) FROM {table} FOR UPDATE", dbmclient.NotSupportedError,
           "0A000")


def test_statement_timeout_is_an_operational_error(target):
    conn = target.connect(autocommit=True, overrides={"statement_timeout": "300ms"})
    slow = ("SELECT pg_sleep(10)" if target.is_pg else
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
            "WHERE i < 10000000000) SELECT count(*) FROM s")
    e = raises(conn, slow, dbmclient.OperationalError, "57014")
    assert "timeout" in str(e)
    # The handle is still good for the next statement.
    assert conn.execute("SELECT 1").fetchone() == (1,)
    conn.close()


def test_no_dbmd_is_an_operational_error(tmp_path):
    with pytest.raises(dbmclient.OperationalError) as ei:
        dbmclient.connect("development", socket=str(tmp_path / "no.sock")).execute("SELECT 1")
    assert ei.value.sqlstate is None


def test_dbmd_gone_is_an_operational_error(own_dbmd):
    conn = dbmclient.connect("development", socket=own_dbmd.sock, autocommit=True)
    m = dbmclient.get_dev_database_manager(socket=own_dbmd.sock)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    assert m.execute("SELECT 1") == [(1,)]
    assert own_dbmd.stop() == 0
    with pytest.raises(dbmclient.OperationalError):
        conn.execute("SELECT 1")
    with pytest.raises(dbmclient.OperationalError):
        m.execute("SELECT 1")
    with pytest.raises(dbmclient.OperationalError):
        dbmclient.connect("development", socket=own_dbmd.sock).execute("SELECT 1")


def test_write_through_read_only_role_is_an_internal_error(target, table):
    rw = target.connect(autocommit=True)
    rw.execute(f"CREATE TABLE {table} (a integer)")
    ro = target.connect(role="read_only", autocommit=True)
    assert ro.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    raises(ro, f"INSERT INTO {table} VALUES (1)", dbmclient.InternalError, "25006")
    assert target.count(table) == 0
    ro.close()
    rw.close()


def test_closed_cursor_is_an_interface_error(conn):
    cur = conn.cursor()
    cur.close()
    with pytest.raises(dbmclient.InterfaceError) as ei:
        cur.execute("SELECT 1")
    assert not isinstance(ei.value, dbmclient.DatabaseError)
    assert isinstance(ei.value, dbmclient.Error)


def test_unmapped_sqlstate_class_is_a_plain_database_error(pg_conn):
    # 21000 cardinality_violation: a class no more specific exception claims.
    e = raises(pg_conn, "SELECT (SELECT generate_series(1, 2))", dbmclient.DatabaseError,
               "21000")
    assert "more than one row" in str(e)


def test_raise_exception_carries_detail_and_hint(pg_conn):
    e = raises(pg_conn, "DO $$ BEGIN RAISE EXCEPTION 'it broke: %', 42 USING "
               "DETAIL = 'the detail of it', HINT = 'try again later'; END $$",
               dbmclient.DatabaseError, "P0001", exact=False)
    assert "it broke: 42" in str(e)
    assert e.detail == "the detail of it"
    assert e.hint == "try again later"


def test_detail_and_hint_with_a_chosen_sqlstate(pg_conn):
    e = raises(pg_conn, "DO $$ BEGIN RAISE EXCEPTION 'bad value' USING ERRCODE = '22023', "
               "DETAIL = 'détail ✓', HINT = 'a hint'; END $$", dbmclient.DataError, "22023")
    assert (e.detail, e.hint) == ("détail ✓", "a hint")
    e = raises(pg_conn, "SELECT 1/0", dbmclient.DataError, "22012")
    assert e.detail is None and e.hint is None


def test_sqlite_errors_have_no_detail_or_hint(sqlite_conn):
    e = raises(sqlite_conn, "SELEKT", dbmclient.ProgrammingError, "42601")
    assert e.detail is None and e.hint is None


def test_manager_raises_the_same_classes(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY)")
    m.execute(f"INSERT INTO {table} VALUES (1)")
    with pytest.raises(dbmclient.IntegrityError) as ei:
        m.execute(f"INSERT INTO {table} VALUES (1)")
    assert ei.value.sqlstate == "23505"
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        m.execute("SELEKT")
    assert ei.value.sqlstate == "42601"
    assert m.execute(f"SELECT count(*) FROM {table}") == [(1,)]


def test_dbmd_refusals_carry_dbmd_codes(sqlite_dbmd):
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.connect("nosuchenv", socket=sqlite_dbmd.sock).execute("SELECT 1")
    assert ei.value.codename == "UNKNOWN_ENV" and ei.value.code == 3
    assert ei.value.sqlstate is None
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.connect("development", "nosuchrole",
                          socket=sqlite_dbmd.sock).execute("SELECT 1")
    assert ei.value.codename == "UNKNOWN_ROLE" and ei.value.code == 4
    with pytest.raises(dbmclient.ProgrammingError) as ei:
        dbmclient.connect("development", socket=sqlite_dbmd.sock,
                          overrides={"pool_size": "2"}).execute("SELECT 1")
    assert ei.value.codename == "NOT_OVERRIDABLE" and ei.value.code == 6
