"""psql scripts through the front door: queries, several statements in one Query message,
errors with their SQLSTATE, transactions, \\d, ON_ERROR_STOP; on PostgreSQL and SQLite."""

import pytest

from conftest import psql

pytestmark = pytest.mark.usefixtures("dbmd")


def ok(r):
    assert r.returncode == 0, f"psql exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def one_value(dbmd, dbname, sql):
    return ok(psql(dbmd, dbname, args=["-A", "-t", "-c", sql])).strip()


@pytest.fixture(params=["production", "development"])
def env(request, dbmd):
    if request.param == "production":
        request.getfixturevalue("pg")
    return request.param


def test_queries(dbmd, env, table):
    out = ok(psql(dbmd, env, f"""
CREATE TABLE {table} (id integer PRIMARY KEY, name text, score real);
INSERT INTO {table} VALUES (1, 'ada', 1.5), (2, 'grace', 2.5), (3, 'ünïcode ☃', NULL);
SELECT name, score FROM {table} ORDER BY id;
UPDATE {table} SET score = 9 WHERE id = 3;
SELECT count(*) AS n, sum(score) AS total FROM {table};
DELETE FROM {table} WHERE id = 1;
""", args=["-v", "ON_ERROR_STOP=1"]))
    assert "INSERT 0 3" in out
    assert "ünïcode ☃" in out
    assert "UPDATE 1" in out and "DELETE 1" in out
    assert "(3 rows)" in out
    assert one_value(dbmd, env, f"SELECT count(*) FROM {table}") == "2"


def test_csv_and_null_output(dbmd, env):
    out = ok(psql(dbmd, env, args=["--csv", "-c", "SELECT 1 AS a, NULL AS b, 'x,y' AS c"]))
    assert out.splitlines() == ["a,b,c", '1,,"x,y"']


def test_several_statements_atomic_on_postgresql(dbmd, pg, table):
    ok(psql(dbmd, "production", args=["-c", f"CREATE TABLE {table} (a int PRIMARY KEY)"]))
    # One -c is one Query message: PostgreSQL runs it as one transaction, so the failing
    # second statement takes the first with it.
    r = psql(dbmd, "production", args=[
        "-c", f"INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (1)"])
    assert r.returncode == 1
    assert "duplicate key value violates unique constraint" in r.stderr
    assert one_value(dbmd, "production", f"SELECT count(*) FROM {table}") == "0"
    assert pg.query(f"SELECT count(*) FROM {table}") == [(0,)]
    # All of it commits when all of it works; psql shows each statement's result.
    out = ok(psql(dbmd, "production", args=[
        "-A", "-t", "-c",
        f"INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (2); "
        f"SELECT sum(a) FROM {table}"]))
    assert out.split("\n")[:3] == ["INSERT 0 1", "INSERT 0 1", "3"]
    assert pg.query(f"SELECT count(*) FROM {table}") == [(2,)]


def test_several_statements_one_by_one_on_sqlite(dbmd, table):
    ok(psql(dbmd, "development", args=["-c", f"CREATE TABLE {table} (a int PRIMARY KEY)"]))
    # SQLite runs them one after another and stops at the first error: the first insert
    # stays, the third never runs.
    r = psql(dbmd, "development", args=[
        "-c", f"INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (1); "
              f"INSERT INTO {table} VALUES (2)"])
    assert r.returncode == 1
    assert "UNIQUE constraint failed" in r.stderr
    assert one_value(dbmd, "development", f"SELECT group_concat(a) FROM {table}") == "1"


def test_errors_show_sqlstate_postgresql(dbmd, pg):
    r = psql(dbmd, "production", """\\set VERBOSITY verbose
SELECT 1/0;
SELECT * FROM no_such_table_here;
SELECT 1 FRM x;
\\echo last :SQLSTATE
SELECT 'still here' AS s;
""")
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert "ERROR:  22012: division by zero" in err
    assert 'ERROR:  42P01: relation "no_such_table_here" does not exist' in err
    assert 'ERROR:  42601: syntax error at or near "x"' in err
    # The position comes through: psql draws its caret under the token.
    assert "LINE 1: SELECT 1 FRM x;" in err
    caret = err.splitlines()[err.splitlines().index("LINE 1: SELECT 1 FRM x;") + 1]
    assert caret.index("^") == len("LINE 1: SELECT 1 FRM ")
    assert "last 42601" in r.stdout
    assert "still here" in r.stdout


def test_errors_show_sqlstate_sqlite(dbmd, table):
    r = psql(dbmd, "development", f"""\\set VERBOSITY verbose
CREATE TABLE {table} (a int PRIMARY KEY);
INSERT INTO {table} VALUES (1);
INSERT INTO {table} VALUES (1);
SELECT * FROM no_such_table_here;
SELECT 'still here' AS s;
""")
    assert r.returncode == 0, r.stderr
    assert f"ERROR:  23505: UNIQUE constraint failed: {table}.a" in r.stderr
    assert "ERROR:  42P01: no such table: no_such_table_here" in r.stderr
    assert "still here" in r.stdout


def test_notice_passed_on(dbmd, pg):
    r = psql(dbmd, "production", "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$;\n")
    assert r.returncode == 0, r.stderr
    assert "NOTICE:  hello 42" in r.stderr
    assert "DO" in r.stdout


def test_transactions_postgresql(dbmd, pg, table):
    r = psql(dbmd, "production", f"""
CREATE TABLE {table} (a int);
BEGIN;
INSERT INTO {table} VALUES (1);
SELECT count(*) AS inside FROM {table};
ROLLBACK;
BEGIN;
INSERT INTO {table} VALUES (2);
SELECT 1/0;
SELECT 'ignored';
COMMIT;
BEGIN;
INSERT INTO {table} VALUES (3);
SAVEPOINT s;
INSERT INTO {table} VALUES (4);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT string_agg(a::text, ',') AS left_over FROM {table};
""")
    assert r.returncode == 0, r.stderr
    assert "current transaction is aborted, commands ignored until end of transaction " \
           "block" in r.stderr
    # COMMIT of a failed transaction rolls back, and psql is told so.
    assert "ROLLBACK" in r.stdout
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert lines[lines.index("left_over") + 2] == "3"
    assert pg.query(f"SELECT a FROM {table}") == [(3,)]


def test_transactions_sqlite(dbmd, table):
    r = psql(dbmd, "development", f"""
CREATE TABLE {table} (a int);
BEGIN;
INSERT INTO {table} VALUES (1);
ROLLBACK;
BEGIN;
INSERT INTO {table} VALUES (2);
INSERT INTO {table} VALUES (3);
COMMIT;
SELECT group_concat(a) AS v FROM {table};
""", args=["-v", "ON_ERROR_STOP=1"])
    assert r.returncode == 0, r.stderr
    assert "2,3" in r.stdout


def test_describe_table_postgresql(dbmd, pg, table):
    ok(psql(dbmd, "production", args=["-c", f"""CREATE TABLE {table} (
        id serial PRIMARY KEY, v text NOT NULL, n numeric(10,2), b bytea,
        ts timestamptz DEFAULT now())"""]))
    out = ok(psql(dbmd, "production", f"\\d {table}\n\\dt {table}\n"))
    assert f'Table "public.{table}"' in out
    for col, typ in [("id", "integer"), ("v", "text"), ("n", "numeric(10,2)"),
                     ("b", "bytea"), ("ts", "timestamp with time zone")]:
        assert any(line.split("|")[0].strip() == col and line.split("|")[1].strip() == typ
                   for line in out.splitlines() if "|" in line), (col, typ, out)
    assert f'"{table}_pkey" PRIMARY KEY, btree (id)' in out
    assert "now()" in out
    # \dt lists it.
    assert f"public | {table} | table" in out


def test_describe_fails_cleanly_on_sqlite(dbmd, table):
    ok(psql(dbmd, "development", args=["-c", f"CREATE TABLE {table} (a int)"]))
    r = psql(dbmd, "development", f"\\d {table}\nSELECT 'alive' AS s;\n")
    # psql's catalog query is an error, not a crash: the connection goes on.
    assert "ERROR:" in r.stderr, r.stderr
    assert "alive" in r.stdout
    assert r.returncode == 0
    assert dbmd.alive()
    r = psql(dbmd, "development", args=["-c", "\\d"])
    assert r.returncode == 1 and "ERROR:" in r.stderr


def test_on_error_stop(dbmd, env, table):
    r = psql(dbmd, env, f"""\\set ON_ERROR_STOP on
CREATE TABLE {table} (a int);
INSERT INTO {table} VALUES (1);
SELECT * FROM no_such_table_here;
INSERT INTO {table} VALUES (2);
""")
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "no_such_table_here" in r.stderr
    assert one_value(dbmd, env, f"SELECT count(*) FROM {table}") == "1"
    # Without it, psql goes on past the error and exits 0.
    r = psql(dbmd, env, f"""SELECT * FROM no_such_table_here;
INSERT INTO {table} VALUES (2);
""")
    assert r.returncode == 0, r.stderr
    assert one_value(dbmd, env, f"SELECT count(*) FROM {table}") == "2"


def test_extended_protocol_from_psql(dbmd, env):
    # \gexec runs each value as a statement; \gset stores a row in variables.
    out = ok(psql(dbmd, env, """SELECT 21 AS half \\gset
SELECT :half * 2 AS whole;
SELECT 'SELECT ' || (7 * 6) AS q \\gexec
""", args=["-A", "-t"]))
    assert out.split() == ["42", "42"]


def test_refused_statements_say_why(dbmd, pg):
    r = psql(dbmd, "production", """\\set VERBOSITY verbose
LISTEN some_channel;
SET search_path = public;
SELECT pg_advisory_lock(1);
COPY (SELECT 1) TO STDOUT;
SELECT 'usable' AS s;
""")
    assert r.returncode == 0, r.stderr
    assert "ERROR:  0A000: LISTEN is not supported in transaction pooling" in r.stderr
    assert "ERROR:  0A000: SET without LOCAL is not supported in transaction pooling" \
        in r.stderr
    assert "ERROR:  0A000: a session advisory lock" in r.stderr
    assert "HINT:  use a role with pool_mode: session" in r.stderr
    assert "ERROR:  0A000: COPY is not supported" in r.stderr
    assert "usable" in r.stdout


def test_application_name_and_server_version(dbmd, pg):
    out = ok(psql(dbmd, "production", args=["-A", "-t", "-c", "SHOW server_version_num"]))
    assert int(out.strip()) >= 100000
    r = psql(dbmd, "development", "\\echo :SERVER_VERSION_NAME\n", args=["-A", "-t"])
    assert r.returncode == 0, r.stderr
    assert "SQLite" in r.stdout


def test_on_error_rollback_postgresql(dbmd, pg, table):
    r = psql(dbmd, "production", f"""\\set ON_ERROR_ROLLBACK on
CREATE TABLE {table} (a int);
BEGIN;
INSERT INTO {table} VALUES (1);
SELECT 1/0;
INSERT INTO {table} VALUES (2);
COMMIT;
""")
    assert r.returncode == 0, r.stderr
    assert "division by zero" in r.stderr
    assert "current transaction is aborted" not in r.stderr
    assert pg.query(f"SELECT a FROM {table} ORDER BY a") == [(1,), (2,)]


def test_on_error_rollback_sqlite(dbmd, table):
    r = psql(dbmd, "development", f"""\\set ON_ERROR_ROLLBACK on
CREATE TABLE {table} (a int PRIMARY KEY);
BEGIN;
INSERT INTO {table} VALUES (1);
INSERT INTO {table} VALUES (1);
INSERT INTO {table} VALUES (2);
COMMIT;
""")
    assert r.returncode == 0, r.stderr
    assert "UNIQUE constraint failed" in r.stderr
    assert one_value(dbmd, "development", f"SELECT group_concat(a) FROM {table}") == "1,2"


def test_fetch_count_cursor_postgresql(dbmd, pg):
    """FETCH_COUNT: psql reads a result through a cursor in a transaction of its own."""
    out = ok(psql(dbmd, "production", """\\set FETCH_COUNT 3
SELECT g FROM generate_series(1, 10) g;
""", args=["-A", "-t"]))
    assert out.split() == [str(i) for i in range(1, 11)]


def test_copy_refused_postgresql(dbmd, pg, table):
    r = psql(dbmd, "production", f"""CREATE TABLE {table} (a int);
\\copy {table} FROM STDIN
\\copy {table} TO STDOUT
INSERT INTO {table} VALUES (1);
SELECT count(*) FROM {table};
""", args=["-A", "-t"])
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("COPY is not supported") == 2
    assert r.stdout.split()[-1] == "1"


def test_gdesc_postgresql(dbmd, pg):
    """\\gdesc: the columns of a query from Describe, without running it."""
    out = ok(psql(dbmd, "production",
                  "SELECT 1 AS a, 'x'::text AS b, now() AS c, 1/0 AS d \\gdesc\n",
                  args=["-A", "-t"]))
    assert out.split() == ["a|integer", "b|text", "c|timestamp", "with", "time", "zone",
                           "d|integer"]
