/* test_client_types.c: typed columns, binary values and parameters through libdbmclient, on both backends. */

/*
 * Every test starts its own dbmd (tests/harness.h): the SQLite suites use
 * the built-in development environment, a real SQLite file in the test's
 * state directory; the PostgreSQL suites make a database of their own on
 * the shared server (tests/pg.h) and use production on it.  What a column's
 * type is, and how a value looks, is the backend's business: each behaviour
 * is proved once per backend, with the SQL that backend speaks.
 */

#include <criterion/criterion.h>

#include "pg.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* One timeout for every test, as test_broker.c explains; it only matters when something hangs. */
#define TIMEOUT		120
#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = TIMEOUT)

SUITE(types_sqlite);
SUITE(types_pg);

/* The bytes of the blob every test sends and expects: NULs at both ends and inside. */
static const char	 BLOB[] = { 0x00, (char)0xff, 0x00, 0x41, 0x00 };
#define BLOB_LEN	5

/* A dbmd and a client with a handle on the backend under test. */
struct be {
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	int		 pg;		/* 1: PostgreSQL, 0: SQLite */
};

/* SQLite: development, the SQLite file dbmd keeps in its state directory. */
static void
be_sqlite(struct be *b)
{
	memset(b, 0, sizeof(*b));
	t_dbmd_start(&b->d, NULL);
	b->c = t_connect(&b->d);
	b->h = t_open(b->c, "development", "primary");
	cr_assert_str_eq(dbm_handle_backend(b->h), "sqlite");
}

/*
 * PostgreSQL: production on the test's database, whose sessions show
 * timestamps in a zone with a half-hour offset and dates in ISO form, set
 * on the database before dbmd connects so that every pooled connection (and
 * every session reset) has them.
 */
static void
be_pg(struct be *b)
{
	char	*sql;

	memset(b, 0, sizeof(*b));
	b->pg = 1;
	pg_db_new();
	sql = t_strf("ALTER DATABASE %s SET timezone TO 'Asia/Kolkata'", pg.db);
	pq_exec0(pg.admin, sql, 0, NULL);
	free(sql);
	sql = t_strf("ALTER DATABASE %s SET datestyle TO 'ISO, MDY'", pg.db);
	pq_exec0(pg.admin, sql, 0, NULL);
	free(sql);
	sql = t_strf("ALTER DATABASE %s SET intervalstyle TO 'postgres'", pg.db);
	pq_exec0(pg.admin, sql, 0, NULL);
	free(sql);
	pg_dbmd_start(&b->d, NULL, NULL);
	b->c = t_connect(&b->d);
	b->h = t_open(b->c, "production", "primary");
	cr_assert_str_eq(dbm_handle_backend(b->h), "postgresql");
}

static void
be_stop(struct be *b)
{
	dbm_disconnect(b->c);
	if (b->pg)
		pg_dbmd_stop(&b->d);
	else
		cr_assert_eq(t_dbmd_stop(&b->d), 0);
}

/* dbm_exec_params that must succeed; the caller frees the result. */
static dbm_result *
exec_params(dbm_handle *h, const char *sql, int n, const char *const *values,
    const int *lengths, const int *formats)
{
	dbm_result	*r = dbm_exec_params(h, sql, n, values, lengths, formats, NULL);

	cr_assert_not_null(r, "%s: the connection failed", sql);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: %s: %s (SQLSTATE %s)", sql,
	    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r), dbm_result_sqlstate(r));
	return r;
}

/* Asserts that value (row, col) of r is the five bytes of BLOB, as a binary bytea. */
static void
assert_blob(const dbm_result *r, int row, int col, const char *what)
{
	const char	*v = dbm_value(r, row, col);

	cr_assert_eq(dbm_coltype(r, col), DBM_OID_BYTEA, "%s: type %u, not bytea", what,
	    dbm_coltype(r, col));
	cr_assert_eq(dbm_colformat(r, col), DBM_FORMAT_BINARY, "%s: format %d, not binary",
	    what, dbm_colformat(r, col));
	cr_assert_eq(dbm_isnull(r, row, col), 0, "%s: NULL", what);
	cr_assert_eq(dbm_length(r, row, col), BLOB_LEN, "%s: %zu bytes, not %d", what,
	    dbm_length(r, row, col), BLOB_LEN);
	cr_assert_not_null(v, "%s: no value", what);
	cr_assert_eq(memcmp(v, BLOB, BLOB_LEN), 0, "%s: the bytes differ: %02x %02x %02x %02x "
	    "%02x", what, (unsigned char)v[0], (unsigned char)v[1], (unsigned char)v[2],
	    (unsigned char)v[3], (unsigned char)v[4]);
}

/*
 * One column's expected description and value: declared as decl, holding
 * literal, it must report oid and typmod and read back as text.
 */
struct coltype_case {
	const char	*decl;
	const char	*literal;
	unsigned int	 oid;
	int		 typmod;
	const char	*text;
};

/*
 * Makes a table with a column per case, inserts the literals as one row,
 * reads it back with SELECT * and checks every column: its type, typmod,
 * text format and value.
 */
static void
check_table_columns(dbm_handle *h, const struct coltype_case *cases, size_t n)
{
	char		*create, *insert, *p;
	dbm_result	*r;
	size_t		 i;

	create = t_strf("CREATE TABLE typed (");
	insert = t_strf("INSERT INTO typed VALUES (");
	for (i = 0; i < n; i++) {
		p = create;
		create = t_strf("%s%sc%zu %s", p, i ? ", " : "", i, cases[i].decl);
		free(p);
		p = insert;
		insert = t_strf("%s%s%s", p, i ? ", " : "", cases[i].literal);
		free(p);
	}
	p = create;
	create = t_strf("%s)", p);
	free(p);
	p = insert;
	insert = t_strf("%s)", p);
	free(p);
	t_exec0(h, create, 0, NULL);
	t_exec0(h, insert, 0, NULL);
	free(create);
	free(insert);

	r = t_exec(h, "SELECT * FROM typed", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 1);
	cr_assert_eq(dbm_ncols(r), (int)n);
	for (i = 0; i < n; i++) {
		int	 col = (int)i;

		cr_expect_eq(dbm_coltype(r, col), cases[i].oid, "%s: type %u, not %u",
		    cases[i].decl, dbm_coltype(r, col), cases[i].oid);
		cr_expect_eq(dbm_coltypmod(r, col), cases[i].typmod, "%s: typmod %d, not %d",
		    cases[i].decl, dbm_coltypmod(r, col), cases[i].typmod);
		cr_expect_eq(dbm_colformat(r, col), DBM_FORMAT_TEXT, "%s: format %d, not text",
		    cases[i].decl, dbm_colformat(r, col));
		cr_expect_eq(dbm_isnull(r, 0, col), 0, "%s: NULL", cases[i].decl);
		cr_expect_str_eq(dbm_value(r, 0, col), cases[i].text, "%s: %s reads \"%s\", not "
		    "\"%s\"", cases[i].decl, cases[i].literal, dbm_value(r, 0, col),
		    cases[i].text);
		cr_expect_eq(dbm_length(r, 0, col), strlen(cases[i].text), "%s: length %zu",
		    cases[i].decl, dbm_length(r, 0, col));
	}
	dbm_result_free(r);
}

/*
 * Column types.
 */

/* PostgreSQL reports the server's OIDs and typmods, and its text forms. */
static const struct coltype_case pg_cases[] = {
	{ "bool", "true", DBM_OID_BOOL, -1, "t" },
	{ "int2", "-32768", DBM_OID_INT2, -1, "-32768" },
	{ "int4", "2147483647", DBM_OID_INT4, -1, "2147483647" },
	{ "int8", "-9223372036854775808", DBM_OID_INT8, -1, "-9223372036854775808" },
	{ "text", "'hello'", DBM_OID_TEXT, -1, "hello" },
	/* varchar(n): n + 4 (VARHDRSZ). */
	{ "varchar(20)", "'abc'", DBM_OID_VARCHAR, 24, "abc" },
	{ "float4", "1.5", DBM_OID_FLOAT4, -1, "1.5" },
	{ "float8", "-2.25", DBM_OID_FLOAT8, -1, "-2.25" },
	/* numeric(p,s): ((p << 16) | s) + 4. */
	{ "numeric(10,2)", "3.14159", DBM_OID_NUMERIC, ((10 << 16) | 2) + 4, "3.14" },
	{ "date", "'2024-02-29'", DBM_OID_DATE, -1, "2024-02-29" },
	{ "time", "'12:34:56'", DBM_OID_TIME, -1, "12:34:56" },
	{ "timestamp", "'2024-02-29 12:34:56'", DBM_OID_TIMESTAMP, -1, "2024-02-29 12:34:56" },
	/* Shown in the session's zone, Asia/Kolkata (be_pg), with its offset. */
	{ "timestamptz", "'2024-02-29 12:34:56+00'", DBM_OID_TIMESTAMPTZ, -1,
	  "2024-02-29 18:04:56+05:30" },
	{ "interval", "'1 day 2 hours 3 minutes 4 seconds'", DBM_OID_INTERVAL, -1,
	  "1 day 02:03:04" },
	{ "uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", DBM_OID_UUID, -1,
	  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
	{ "json", "'{\"a\":  1}'", DBM_OID_JSON, -1, "{\"a\":  1}" },
	{ "jsonb", "'{\"b\":[1,2]}'", DBM_OID_JSONB, -1, "{\"b\": [1, 2]}" },
};

Test(types_pg, every_column_type_reports_the_servers_oid_typmod_and_text_form,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	check_table_columns(b.h, pg_cases, ARRAY_LEN(pg_cases));
	be_stop(&b);
}

Test(types_pg, expressions_report_the_type_they_are_cast_to, .timeout = TIMEOUT)
{
	struct be	 b;
	dbm_result	*r;
	char		*sql;
	size_t		 i;

	be_pg(&b);
	for (i = 0; i < ARRAY_LEN(pg_cases); i++) {
		sql = t_strf("SELECT (%s)::%s", pg_cases[i].literal, pg_cases[i].decl);
		r = t_exec(b.h, sql, 0, NULL);
		cr_expect_eq(dbm_coltype(r, 0), pg_cases[i].oid, "%s: type %u, not %u", sql,
		    dbm_coltype(r, 0), pg_cases[i].oid);
		cr_expect_eq(dbm_colformat(r, 0), DBM_FORMAT_TEXT, "%s: format %d", sql,
		    dbm_colformat(r, 0));
		cr_expect_str_eq(dbm_value(r, 0, 0), pg_cases[i].text, "%s: \"%s\"", sql,
		    dbm_value(r, 0, 0));
		dbm_result_free(r);
		free(sql);
	}
	/* Without a cast, a literal is unknown to the server, and says so. */
	r = t_exec(b.h, "SELECT 1, 'x'::text, 2.5", 0, NULL);
	cr_expect_eq(dbm_coltype(r, 0), DBM_OID_INT4);
	cr_expect_eq(dbm_coltype(r, 1), DBM_OID_TEXT);
	cr_expect_eq(dbm_coltype(r, 2), DBM_OID_NUMERIC);
	cr_expect_eq(dbm_coltypmod(r, 2), -1);
	dbm_result_free(r);
	be_stop(&b);
}

/*
 * SQLite: a column's declared type maps to an OID; SQLite has no typmods,
 * and its values read as SQLite's own text of what is stored.
 */
static const struct coltype_case sqlite_cases[] = {
	{ "INTEGER", "42", DBM_OID_INT8, -1, "42" },
	{ "REAL", "1.5", DBM_OID_FLOAT8, -1, "1.5" },
	{ "FLOAT", "2.5", DBM_OID_FLOAT8, -1, "2.5" },
	{ "DOUBLE", "-0.25", DBM_OID_FLOAT8, -1, "-0.25" },
	{ "TEXT", "'hello'", DBM_OID_TEXT, -1, "hello" },
	{ "VARCHAR(20)", "'abc'", DBM_OID_TEXT, -1, "abc" },
	{ "NUMERIC", "12.5", DBM_OID_NUMERIC, -1, "12.5" },
	{ "DECIMAL(10,2)", "3.25", DBM_OID_NUMERIC, -1, "3.25" },
	{ "BOOLEAN", "1", DBM_OID_BOOL, -1, "1" },
	{ "DATE", "'2024-02-29'", DBM_OID_DATE, -1, "2024-02-29" },
	{ "TIMESTAMP", "'2024-02-29 12:34:56'", DBM_OID_TIMESTAMP, -1, "2024-02-29 12:34:56" },
	{ "DATETIME", "'2024-02-29 12:34:56'", DBM_OID_TIMESTAMP, -1, "2024-02-29 12:34:56" },
	{ "TIME", "'12:34:56'", DBM_OID_TIME, -1, "12:34:56" },
};

Test(types_sqlite, every_declared_type_maps_to_its_oid, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	check_table_columns(b.h, sqlite_cases, ARRAY_LEN(sqlite_cases));
	be_stop(&b);
}

Test(types_sqlite, a_blob_column_is_bytea_in_binary_format, .timeout = TIMEOUT)
{
	struct be	 b;
	dbm_result	*r;

	be_sqlite(&b);
	t_exec0(b.h, "CREATE TABLE bl (id INTEGER, b BLOB)", 0, NULL);
	t_exec0(b.h, "INSERT INTO bl VALUES (1, x'00ff004100'), (2, NULL)", 0, NULL);
	r = t_exec(b.h, "SELECT b FROM bl ORDER BY id", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 2);
	assert_blob(r, 0, 0, "BLOB column");
	cr_assert_eq(dbm_isnull(r, 1, 0), 1, "NULL blob came back as a value");
	cr_assert_eq(dbm_length(r, 1, 0), 0);
	dbm_result_free(r);
	be_stop(&b);
}

Test(types_sqlite, an_expression_is_typed_by_the_storage_class_of_its_first_row,
    .timeout = TIMEOUT)
{
	static const unsigned int want[] = { DBM_OID_INT8, DBM_OID_FLOAT8, DBM_OID_TEXT,
	    DBM_OID_BYTEA, DBM_OID_TEXT };
	struct be	 b;
	dbm_result	*r;
	size_t		 i;

	be_sqlite(&b);
	r = t_exec(b.h, "SELECT 1, 1.5, 'a', x'00', NULL", 0, NULL);
	cr_assert_eq(dbm_ncols(r), 5);
	for (i = 0; i < ARRAY_LEN(want); i++) {
		cr_expect_eq(dbm_coltype(r, (int)i), want[i], "column %zu: type %u, not %u", i,
		    dbm_coltype(r, (int)i), want[i]);
		cr_expect_eq(dbm_coltypmod(r, (int)i), -1, "column %zu: typmod %d", i,
		    dbm_coltypmod(r, (int)i));
		cr_expect_eq(dbm_colformat(r, (int)i), want[i] == DBM_OID_BYTEA ?
		    DBM_FORMAT_BINARY : DBM_FORMAT_TEXT, "column %zu: format %d", i,
		    dbm_colformat(r, (int)i));
	}
	cr_expect_str_eq(dbm_value(r, 0, 0), "1");
	cr_expect_str_eq(dbm_value(r, 0, 1), "1.5");
	cr_expect_str_eq(dbm_value(r, 0, 2), "a");
	cr_expect_eq(dbm_length(r, 0, 3), 1);
	cr_expect_eq(dbm_value(r, 0, 3)[0], '\0');
	cr_expect_eq(dbm_isnull(r, 0, 4), 1);
	dbm_result_free(r);

	/* The first row decides, whatever later rows hold. */
	r = t_exec(b.h, "WITH c(v) AS (VALUES (2), ('x')) SELECT v FROM c", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 2);
	cr_expect_eq(dbm_coltype(r, 0), DBM_OID_INT8, "type %u", dbm_coltype(r, 0));
	cr_expect_str_eq(dbm_value(r, 1, 0), "x");
	dbm_result_free(r);
	r = t_exec(b.h, "WITH c(v) AS (VALUES (NULL), (1)) SELECT v FROM c", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 2);
	cr_expect_eq(dbm_coltype(r, 0), DBM_OID_TEXT, "type %u", dbm_coltype(r, 0));
	cr_expect_str_eq(dbm_value(r, 1, 0), "1");
	dbm_result_free(r);
	be_stop(&b);
}

/*
 * Binary values.
 */

static void
blob_literal_comes_back_exactly(struct be *b, const char *sql, const char *empty_sql)
{
	dbm_result	*r;

	r = t_exec(b->h, sql, 0, NULL);
	cr_assert_eq(dbm_nrows(r), 1);
	assert_blob(r, 0, 0, sql);
	dbm_result_free(r);
	/* An empty blob is empty, not NULL. */
	r = t_exec(b->h, empty_sql, 0, NULL);
	cr_assert_eq(dbm_colformat(r, 0), DBM_FORMAT_BINARY);
	cr_assert_eq(dbm_isnull(r, 0, 0), 0, "%s: NULL", empty_sql);
	cr_assert_eq(dbm_length(r, 0, 0), 0, "%s: %zu bytes", empty_sql, dbm_length(r, 0, 0));
	dbm_result_free(r);
}

Test(types_sqlite, a_blob_with_nuls_comes_back_with_its_exact_bytes, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	blob_literal_comes_back_exactly(&b, "SELECT x'00ff004100'", "SELECT x''");
	be_stop(&b);
}

Test(types_pg, a_bytea_with_nuls_comes_back_with_its_exact_bytes, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	blob_literal_comes_back_exactly(&b, "SELECT '\\x00ff004100'::bytea", "SELECT ''::bytea");
	be_stop(&b);
}

/*
 * A binary parameter with NULs goes in through INSERT and comes back from
 * SELECT byte for byte; the database itself sees five bytes (hex_sql).
 */
static void
binary_param_round_trips(struct be *b, const char *create, const char *hex_sql,
    const char *hex)
{
	const char *const	 values[] = { BLOB };
	const int		 lengths[] = { BLOB_LEN }, formats[] = { DBM_FORMAT_BINARY };
	dbm_result		*r;

	t_exec0(b->h, create, 0, NULL);
	r = exec_params(b->h, "INSERT INTO bl VALUES (1, $1)", 1, values, lengths, formats);
	cr_assert_eq(dbm_affected(r), 1);
	dbm_result_free(r);
	r = t_exec(b->h, "SELECT b FROM bl WHERE id = 1", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 1);
	assert_blob(r, 0, 0, "the inserted blob");
	dbm_result_free(r);
	r = t_exec(b->h, hex_sql, 0, NULL);
	cr_assert_str_eq(dbm_value(r, 0, 0), hex, "stored as %s, not %s", dbm_value(r, 0, 0),
	    hex);
	cr_assert_str_eq(dbm_value(r, 0, 1), "5", "stored as %s bytes", dbm_value(r, 0, 1));
	dbm_result_free(r);
	/* Found by itself as a parameter too. */
	r = exec_params(b->h, "SELECT id FROM bl WHERE b = $1", 1, values, lengths, formats);
	cr_assert_eq(dbm_nrows(r), 1, "the blob parameter matched %d rows", dbm_nrows(r));
	dbm_result_free(r);
}

Test(types_sqlite, a_binary_parameter_with_nuls_round_trips_as_a_blob, .timeout = TIMEOUT)
{
	const char *const	 values[] = { BLOB };
	const int		 lengths[] = { BLOB_LEN }, formats[] = { DBM_FORMAT_BINARY };
	struct be		 b;
	dbm_result		*r;

	be_sqlite(&b);
	binary_param_round_trips(&b, "CREATE TABLE bl (id INTEGER, b BLOB)",
	    "SELECT hex(b), length(b) FROM bl WHERE id = 1", "00FF004100");
	r = exec_params(b.h, "SELECT typeof($1), $1", 1, values, lengths, formats);
	cr_assert_str_eq(dbm_value(r, 0, 0), "blob", "bound as %s", dbm_value(r, 0, 0));
	assert_blob(r, 0, 1, "SELECT $1");
	dbm_result_free(r);
	be_stop(&b);
}

Test(types_pg, a_binary_parameter_with_nuls_round_trips_as_bytea, .timeout = TIMEOUT)
{
	const char *const	 values[] = { BLOB };
	const int		 lengths[] = { BLOB_LEN }, formats[] = { DBM_FORMAT_BINARY };
	struct be		 b;
	dbm_result		*r;

	be_pg(&b);
	binary_param_round_trips(&b, "CREATE TABLE bl (id int, b bytea)",
	    "SELECT encode(b, 'hex'), length(b) FROM bl WHERE id = 1", "00ff004100");
	r = exec_params(b.h, "SELECT $1::bytea", 1, values, lengths, formats);
	assert_blob(r, 0, 0, "SELECT $1::bytea");
	dbm_result_free(r);
	be_stop(&b);
}

/* PostgreSQL reads a binary parameter in its type's binary wire form: int4 is 4 bytes, big-endian. */
Test(types_pg, a_binary_parameter_is_the_types_binary_wire_form, .timeout = TIMEOUT)
{
	static const char	 int4[] = { 0x00, 0x00, 0x01, 0x02 };
	const char *const	 values[] = { int4, "7" };
	const int		 lengths[] = { 4, 1 };
	const int		 formats[] = { DBM_FORMAT_BINARY, DBM_FORMAT_TEXT };
	struct be		 b;
	dbm_result		*r;

	be_pg(&b);
	r = exec_params(b.h, "SELECT $1::int4 + $2::int4", 2, values, lengths, formats);
	cr_assert_str_eq(dbm_value(r, 0, 0), "265", "0x0102 + 7 read as %s",
	    dbm_value(r, 0, 0));
	dbm_result_free(r);
	be_stop(&b);
}

/*
 * Text parameters beside binary ones: a text value is a C string, as libpq
 * has it (PQexecParams ignores paramLengths for text), so its entry in
 * lengths -- 0, or shorter than the string -- changes nothing, while the
 * binary value beside it is exactly its length.
 */
static void
text_params_with_lengths(struct be *b, const char *sql)
{
	static const int	 zero[] = { 0, BLOB_LEN }, short_[] = { 3, BLOB_LEN };
	const char *const	 values[] = { "abcXYZ", BLOB };
	const int		 formats[] = { DBM_FORMAT_TEXT, DBM_FORMAT_BINARY };
	const int		*lengths[] = { zero, short_ };
	dbm_result		*r;
	size_t			 i;

	for (i = 0; i < ARRAY_LEN(lengths); i++) {
		r = exec_params(b->h, sql, 2, values, lengths[i], formats);
		cr_assert_str_eq(dbm_value(r, 0, 0), "abcXYZ", "text given length %d: \"%s\"",
		    lengths[i][0], dbm_value(r, 0, 0));
		cr_assert_eq(dbm_length(r, 0, 0), 6);
		cr_assert_str_eq(dbm_value(r, 0, 1), "6");
		cr_assert_eq(dbm_coltype(r, 0), DBM_OID_TEXT);
		assert_blob(r, 0, 2, "the binary parameter beside a text one");
		dbm_result_free(r);
	}
}

Test(types_sqlite, text_parameters_beside_binary_ones_are_c_strings, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	text_params_with_lengths(&b, "SELECT CAST($1 AS TEXT), length($1), $2");
	be_stop(&b);
}

Test(types_pg, text_parameters_beside_binary_ones_are_c_strings, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	text_params_with_lengths(&b, "SELECT $1::text, length($1::text), $2::bytea");
	be_stop(&b);
}

/* NULL parameters, text and binary, are SQL NULL. */
static void
null_params_are_sql_null(struct be *b, const char *sql, const char *yes)
{
	const char *const	 values[] = { NULL, NULL, "" };
	const int		 lengths[] = { 0, 0, 0 };
	const int		 formats[] = { DBM_FORMAT_TEXT, DBM_FORMAT_BINARY,
	    DBM_FORMAT_BINARY };
	dbm_result		*r;

	r = exec_params(b->h, sql, 3, values, lengths, formats);
	cr_assert_eq(dbm_ncols(r), 5);
	cr_assert_str_eq(dbm_value(r, 0, 0), yes, "the text NULL is not NULL");
	cr_assert_str_eq(dbm_value(r, 0, 1), yes, "the binary NULL is not NULL");
	cr_assert_eq(dbm_isnull(r, 0, 2), 1, "the binary NULL came back as a value");
	/* An empty binary value is empty, not NULL. */
	cr_assert_eq(dbm_isnull(r, 0, 3), 0, "the empty blob came back as NULL");
	cr_assert_eq(dbm_length(r, 0, 3), 0);
	cr_assert_eq(dbm_coltype(r, 3), DBM_OID_BYTEA);
	cr_assert_str_eq(dbm_value(r, 0, 4), "0");
	dbm_result_free(r);
}

Test(types_sqlite, null_parameters_are_sql_null, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	null_params_are_sql_null(&b, "SELECT $1 IS NULL, $2 IS NULL, $2, $3, length($3)", "1");
	be_stop(&b);
}

Test(types_pg, null_parameters_are_sql_null, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	null_params_are_sql_null(&b, "SELECT $1::text IS NULL, $2::bytea IS NULL, $2::bytea, "
	    "$3::bytea, length($3::bytea)", "t");
	be_stop(&b);
}

/*
 * Arguments the library must refuse: each is an error result with
 * DBM_E_INTERNAL and a message, nothing reaches dbmd, and the connection
 * carries on.
 */
struct bad_args {
	const char		*what;
	int			 nparams;
	const char *const	*values;
	const int		*lengths;
	const int		*formats;
	size_t			 opts_size;	/* 0: no opts */
};

static const char *const one_value[] = { "1" };
static const int	 len_one[] = { 1 };
static const int	 len_negative[] = { -1 };
static const int	 fmt_seven[] = { 7 };
static const int	 fmt_negative[] = { -1 };
static const int	 fmt_binary[] = { DBM_FORMAT_BINARY };

static const struct bad_args bad_args[] = {
	{ "a format of 7", 1, one_value, len_one, fmt_seven, 0 },
	{ "a format of -1", 1, one_value, len_one, fmt_negative, 0 },
	{ "a binary parameter without lengths", 1, one_value, NULL, fmt_binary, 0 },
	{ "a binary parameter of length -1", 1, one_value, len_negative, fmt_binary, 0 },
	{ "nparams -1", -1, one_value, NULL, NULL, 0 },
	{ "one parameter and no values", 1, NULL, NULL, NULL, 0 },
	{ "opts of a size no version had", 0, NULL, NULL, NULL, 3 },
};

/* struct dbm_exec_opts as libdbmclient 0.1 declared it, before timeout_ms and row_chunk. */
struct exec_opts_0_1 {
	size_t		 size;
	unsigned long	 cache_max_age_ms;
};

static void
bad_args_are_refused(struct be *b)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct exec_opts_0_1	 old = { sizeof(struct exec_opts_0_1), 0 };
	dbm_result		*r;
	char			*v;
	size_t			 i;

	for (i = 0; i < ARRAY_LEN(bad_args); i++) {
		const struct bad_args	*a = &bad_args[i];

		eo.size = a->opts_size;
		r = dbm_exec_params(b->h, "SELECT 1", a->nparams, a->values, a->lengths,
		    a->formats, a->opts_size != 0 ? &eo : NULL);
		cr_assert_not_null(r, "%s: NULL, the connection failed: %s", a->what,
		    dbm_errmsg(b->c));
		cr_expect_eq(dbm_result_status(r), DBM_E_INTERNAL, "%s: %s (%s), not %s",
		    a->what, dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r),
		    dbm_strerror(DBM_E_INTERNAL));
		cr_expect_neq(dbm_result_errmsg(r)[0], '\0', "%s: no message", a->what);
		dbm_result_free(r);
		cr_assert_eq(dbm_connected(b->c), 1, "%s: the connection is gone: %s", a->what,
		    dbm_errmsg(b->c));
		v = t_value(b->h, "SELECT 'still here'", 0, NULL);
		cr_assert_str_eq(v, "still here", "after %s", a->what);
		free(v);
	}
	/* Options of an older, smaller size are not invalid: a program built against 0.1. */
	r = dbm_exec_params(b->h, "SELECT 'old opts'", 0, NULL, NULL, NULL,
	    (const struct dbm_exec_opts *)(const void *)&old);
	cr_assert_not_null(r, "%s", dbm_errmsg(b->c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "0.1's options refused: %s",
	    dbm_result_errmsg(r));
	cr_assert_str_eq(dbm_value(r, 0, 0), "old opts");
	dbm_result_free(r);
}

Test(types_sqlite, invalid_arguments_are_refused_as_error_results, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	bad_args_are_refused(&b);
	be_stop(&b);
}

Test(types_pg, invalid_arguments_are_refused_as_error_results, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	bad_args_are_refused(&b);
	be_stop(&b);
}

/* Out of range, a column has no type (0), no typmod (-1); a result without columns neither. */
static void
columns_out_of_range_have_no_type(struct be *b, const char *create)
{
	dbm_result	*r;

	r = t_exec(b->h, "SELECT 1", 0, NULL);
	cr_assert_eq(dbm_ncols(r), 1);
	cr_assert_neq(dbm_coltype(r, 0), 0);
	cr_expect_eq(dbm_coltype(r, 1), 0);
	cr_expect_eq(dbm_coltype(r, -1), 0);
	cr_expect_eq(dbm_coltype(r, 1000), 0);
	cr_expect_eq(dbm_coltypmod(r, 1), -1);
	cr_expect_eq(dbm_coltypmod(r, -1), -1);
	dbm_result_free(r);
	r = t_exec(b->h, create, 0, NULL);
	cr_assert_eq(dbm_ncols(r), 0);
	cr_expect_eq(dbm_coltype(r, 0), 0);
	cr_expect_eq(dbm_coltypmod(r, 0), -1);
	dbm_result_free(r);
}

Test(types_sqlite, a_column_out_of_range_has_type_0_and_typmod_minus_1, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b);
	columns_out_of_range_have_no_type(&b, "CREATE TABLE t (a INTEGER)");
	be_stop(&b);
}

Test(types_pg, a_column_out_of_range_has_type_0_and_typmod_minus_1, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	columns_out_of_range_have_no_type(&b, "CREATE TABLE t (a int)");
	be_stop(&b);
}
