"""Python values to dbmd and back, on both backends, through typed table columns."""

import datetime
import json
import math
import uuid
from decimal import Decimal

import pytest

import dbmclient

UTC = datetime.timezone.utc


def tz(hours, minutes=0):
    return datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))


BOTH, PG = ("sqlite", "postgresql"), ("postgresql",)

# id, PostgreSQL column type, SQLite column type, value sent, value expected back
# (None: the value sent), backends.
CASES = [
    ("int", "integer", "integer", 42, None, BOTH),
    ("int_min", "integer", "integer", -2147483648, None, BOTH),
    ("bigint_2_62", "bigint", "bigint", 2**62, None, BOTH),
    ("bigint_negative", "bigint", "bigint", -(2**62) - 12345, None, BOTH),
    ("bigint_max", "bigint", "bigint", 2**63 - 1, None, BOTH),
    ("smallint", "smallint", "smallint", -32768, None, BOTH),
    ("float", "double precision", "double precision", 1.5, None, BOTH),
    ("float_shortest_repr", "double precision", "double precision", 0.1 + 0.2, None, BOTH),
    ("float_tiny", "double precision", "double precision", -2.5e-300, None, BOTH),
    ("float_huge", "double precision", "double precision", 1.7976931348623157e308, None,
     BOTH),
    ("float_inf", "double precision", "double precision", math.inf, None, BOTH),
    ("float_minus_inf", "double precision", "double precision", -math.inf, None, BOTH),
    ("decimal", "numeric(10,2)", "numeric(10,2)", Decimal("12345.67"), None, BOTH),
    ("decimal_negative_small", "numeric(10,2)", "numeric(10,2)", Decimal("-0.01"), None,
     BOTH),
    ("decimal_wide", "numeric", "numeric", Decimal("-123456789012345678901234567890.0123456789"),
     None, PG),
    ("decimal_nan", "numeric", "numeric", Decimal("NaN"), None, PG),
    ("str_unicode", "text", "text", "héllo wörld — ✓ 😀 中文 'q' \"d\" \\ \t\n", None, BOTH),
    ("str_empty", "text", "text", "", None, BOTH),
    ("varchar", "varchar(20)", "varchar(20)", "ünïcode", None, BOTH),
    ("bytes_with_nuls", "bytea", "blob", b"\x00\x01\xff\x00abc\x00\x80", None, BOTH),
    ("bytes_all_values", "bytea", "blob", bytes(range(256)) * 4, None, BOTH),
    ("bytes_empty", "bytea", "blob", b"", None, BOTH),
    ("bytearray", "bytea", "blob", bytearray(b"\x00ba\x00"), b"\x00ba\x00", BOTH),
    ("memoryview", "bytea", "blob", memoryview(b"mv\x00"), b"mv\x00", BOTH),
    ("bool_true", "boolean", "boolean", True, None, BOTH),
    ("bool_false", "boolean", "boolean", False, None, BOTH),
    ("null_text", "text", "text", None, None, BOTH),
    ("null_int", "integer", "integer", None, None, BOTH),
    ("null_bytes", "bytea", "blob", None, None, BOTH),
    ("date", "date", "date", datetime.date(2024, 2, 29), None, BOTH),
    ("date_early", "date", "date", datetime.date(1, 1, 1), None, PG),
    ("datetime", "timestamp", "timestamp", datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
     None, BOTH),
    ("datetime_whole_second", "timestamp", "timestamp",
     datetime.datetime(1999, 12, 31, 23, 59, 59), None, BOTH),
    ("time", "time", "time", datetime.time(23, 59, 58, 999999), None, BOTH),
    ("time_midnight", "time", "time", datetime.time(0, 0), None, BOTH),
    ("timestamptz", "timestamptz", "timestamptz",
     datetime.datetime(2024, 6, 1, 12, 30, 0, 250000, tzinfo=tz(2)), None, BOTH),
    ("uuid", "uuid", "uuid", uuid.UUID("12345678-1234-5678-9abc-def012345678"), None, BOTH),
    ("uuid4", "uuid", "uuid", uuid.uuid4(), None, BOTH),
    ("json_as_text", "json", "json", '{"a": [1, 2, {"b": null}], "s": "ü"}', None, BOTH),
]


def case_params():
    for cid, pgt, sqt, val, want, backends in CASES:
        for b in backends:
            yield pytest.param(b, pgt if b == "postgresql" else sqt, val,
                               val if want is None else want, id=f"{b}-{cid}")


@pytest.fixture
def backend_target(request, backend):
    return request.getfixturevalue("pg_target" if backend == "postgresql" else
                                   "sqlite_target")


@pytest.mark.parametrize("backend,coltype,value,want", list(case_params()))
def test_round_trip_through_a_column(backend_target, table, coltype, value, want):
    conn = backend_target.connect(autocommit=True)
    conn.execute(f"CREATE TABLE {table} (k integer, v {coltype})")
    conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, value))
    cur = conn.execute(f"SELECT v FROM {table} WHERE k = %s", (1,))
    (got,) = cur.fetchone()
    assert type(got) is type(want), (got, want)
    if isinstance(want, Decimal) and want.is_nan():
        assert got.is_nan()
    else:
        assert got == want
    if isinstance(want, datetime.datetime) and want.tzinfo is not None:
        assert got.utcoffset() is not None
    # And as a parameter compared on the server side.
    if want is not None and coltype not in ("json", "double precision") and \
            not (isinstance(want, Decimal) and want.is_nan()):
        cur = conn.execute(f"SELECT count(*) FROM {table} WHERE v = %s", (value,))
        assert cur.fetchone() == (1,)
    conn.close()


def test_nan_round_trips_on_postgresql(pg_target, table):
    conn = pg_target.connect(autocommit=True)
    conn.execute(f"CREATE TABLE {table} (v double precision)")
    conn.execute(f"INSERT INTO {table} VALUES (%s)", (math.nan,))
    (got,) = conn.execute(f"SELECT v FROM {table}").fetchone()
    assert type(got) is float and math.isnan(got)
    conn.close()


def test_parameters_in_typed_expressions(target):
    conn = target.connect(autocommit=True)
    # Arithmetic gives the parameter a number's type on both backends.
    row = conn.execute("SELECT %s + 1, %s * 2, %s + 0.5", (2**30, -3, 2)).fetchone()
    assert row == (2**30 + 1, -6, 2.5)
    if target.is_pg:
        row = conn.execute("SELECT %s::int8, %s::float8, %s::text, %s::bytea, %s::bool, %s",
                           (-2**62, 2.5, "s", b"\x00b", True, None)).fetchone()
        assert row == (-2**62, 2.5, "s", b"\x00b", True, None)
        assert [type(v) for v in row[:5]] == [int, float, str, bytes, bool]
    else:
        row = conn.execute("SELECT CAST(%s AS INTEGER), CAST(%s AS REAL), %s, %s, %s",
                           (-2**62, 2.5, "s", b"\x00b", None)).fetchone()
        assert row == (-2**62, 2.5, "s", b"\x00b", None)
        assert [type(v) for v in row[:4]] == [int, float, str, bytes]
    conn.close()


def test_untyped_parameter_in_a_select_list_is_text(target):
    # Neither backend has a type for it but the text it was sent as.
    conn = target.connect(autocommit=True)
    assert conn.execute("SELECT %s, %s", (7, "s")).fetchone() == ("7", "s")
    conn.close()


@pytest.mark.parametrize("zone,offset", [("Asia/Kolkata", tz(5, 30)),
                                         ("America/St_Johns", tz(-3, -30)),
                                         ("UTC", UTC)])
def test_timestamptz_in_the_session_time_zone(pg_target, zone, offset):
    conn = pg_target.connect()          # in a transaction: SET LOCAL lasts until commit
    cur = conn.cursor()
    cur.execute(f"SET LOCAL TimeZone = '{zone}'")
    cur.execute("SELECT '2024-01-02 03:04:05.5+00'::timestamptz, now() - now()")
    ts, iv = cur.fetchone()
    assert cur.description[0][1] == 1184
    assert ts.tzinfo is not None
    assert ts.utcoffset() == offset.utcoffset(None)
    assert ts == datetime.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert ts.astimezone(offset).replace(tzinfo=None) == ts.replace(tzinfo=None)
    # interval has no Python type here: it comes as PostgreSQL's text.
    assert iv == "00:00:00"
    conn.rollback()
    conn.close()


def test_timetz_comes_with_its_offset(pg_target):
    conn = pg_target.connect(autocommit=True)
    (t,) = conn.execute("SELECT '10:11:12+05:30'::timetz").fetchone()
    assert t == datetime.time(10, 11, 12, tzinfo=tz(5, 30))
    assert t.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    conn.close()


def test_values_python_cannot_hold_come_as_text(pg_target):
    conn = pg_target.connect(autocommit=True)
    row = conn.execute("SELECT 'infinity'::date, '-infinity'::timestamp, "
                       "'10000-01-01'::date, '0044-03-15 BC'::date").fetchone()
    assert all(type(v) is str for v in row), row
    assert row[0] == "infinity" and row[1] == "-infinity"
    conn.close()


def test_json_parsed_when_asked(target, table):
    doc = {"a": [1, 2, {"b": None}], "s": "ü", "n": 1.5}
    text = json.dumps(doc)
    plain = target.connect(autocommit=True)
    plain.execute(f"CREATE TABLE {table} (j json)")
    plain.execute(f"INSERT INTO {table} VALUES (%s)", (text,))
    plain.execute(f"INSERT INTO {table} VALUES (%s)", (dbmclient.Json(doc),))
    rows = plain.execute(f"SELECT j FROM {table}").fetchall()
    assert all(type(r[0]) is str for r in rows)
    assert [json.loads(r[0]) for r in rows] == [doc, doc]
    parsed = target.connect(autocommit=True, json_loads=json.loads)
    assert parsed.execute(f"SELECT j FROM {table}").fetchall() == [(doc,), (doc,)]
    if target.is_pg:
        row = parsed.execute("SELECT '[1, {\"k\": true}]'::jsonb, '\"x\"'::json").fetchone()
        assert row == ([1, {"k": True}], "x")
    plain.close()
    parsed.close()


def test_sqlite_values_that_do_not_parse_as_their_column_type_come_as_text(sqlite_target,
                                                                           table):
    conn = sqlite_target.connect(autocommit=True)
    conn.execute(f"CREATE TABLE {table} (i integer, d date, u uuid, b boolean)")
    conn.execute(f"INSERT INTO {table} VALUES ('abc', 'not a date', 'not a uuid', 'maybe')")
    assert conn.execute(f"SELECT i, d, u, b FROM {table}").fetchone() == \
        ("abc", "not a date", "not a uuid", "maybe")
    conn.close()


def test_unsupported_parameter_type_is_a_programming_error(target):
    conn = target.connect(autocommit=True)
    for bad in (object(), {1, 2}, 1j):
        with pytest.raises(dbmclient.ProgrammingError):
            conn.execute("SELECT %s", (bad,))
    # The connection is still usable.
    assert conn.execute("SELECT 1").fetchone() == (1,)
    conn.close()
