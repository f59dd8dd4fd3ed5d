/* test_proto_v2.c: protocol version 2 end to end: typed ROW_DESC, binary values, v1 kept. */

/*
 * A real dbmd (tests/harness.h) spoken to in raw frames, since the library
 * offers version 1 only until its rewrite: a client that offers 1..1 must get
 * exactly the version 1 layout, one that offers 1..2 gets version 2 with
 * column types and bytea/BLOB values as their bytes.  SQLite runs on a file
 * in the test's directory (the environment staging), PostgreSQL on a database
 * of the test's own (production) on the server tests/pg_harness.sh starts;
 * without that server the PostgreSQL tests skip, unless CI=true, when they
 * fail (tests/pg.h).
 */

#include <sys/types.h>

#include <criterion/criterion.h>

#include "pg.h"

#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = 60)

SUITE(v2_sqlite);
SUITE(v2_pg);

#define OID_INT4	23
#define OID_JSON	114
#define OID_UUID	2950
#define NUMERIC_10_2	((10 << 16 | 2) + 4)	/* PostgreSQL's typmod of numeric(10,2) */

/* A raw connection with one handle open. */
struct raw {
	int			 fd;
	struct proto_decoder	 dec;
	uint16_t		 version;	/* what HELLO_OK said */
	uint32_t		 handle;
	uint32_t		 reqid;
};

/* One value of a row: its bytes, copied; NULL for SQL NULL. */
struct val {
	char		*p;
	uint32_t	 len;
};

/* A reply: the first result set's columns and rows, and how it ended. */
struct res {
	int		 ncols;
	char		*names[32];
	struct proto_col cols[32];
	bool		 desc_v1_only;	/* the ROW_DESC decoded as version 1, not as 2 */
	int		 nrows;
	struct val	 rows[16][32];
	uint8_t		 cache_state;
};

/* Connects, says HELLO offering min..max, and opens env/primary. */
static void
raw_start(struct raw *r, const struct t_dbmd *d, uint16_t max, const char *env)
{
	memset(r, 0, sizeof(*r));
	r->fd = t_raw_connect(d);
	proto_decoder_init(&r->dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello_version(r->fd, &r->dec, max, PROTO_DEFAULT_MAX_FRAME);
	r->version = max;
	r->handle = t_raw_open(r->fd, &r->dec, env, "primary");
	r->reqid = 10;
}

static void
raw_end(struct raw *r)
{
	proto_decoder_free(&r->dec);
	close(r->fd);
}

static void
res_free(struct res *x)
{
	int	 i, j;

	for (i = 0; i < x->ncols; i++)
		free(x->names[i]);
	for (i = 0; i < x->nrows; i++)
		for (j = 0; j < x->ncols; j++)
			free(x->rows[i][j].p);
	free(x);
}

/*
 * Sends EXEC in the session's layout (formats: NULL, all text) and reads its
 * reply, which must succeed; the caller frees the result.
 */
static struct res *
raw_exec(struct raw *r, const char *sql, uint16_t n, const char *const *params,
    const uint32_t *lens, const uint16_t *formats, uint32_t max_age)
{
	struct proto_exec	 m = { .version = r->version, .handle_id = r->handle,
	    .cache_max_age_ms = max_age, .sql = sql, .nparams = n, .params = params,
	    .param_lens = lens, .formats = formats };
	struct proto_row_desc	 rd, rd_other;
	struct proto_data_row	 dr;
	struct proto_complete	 c;
	struct proto_error	 e;
	struct proto_value	 v;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct res		*x = calloc(1, sizeof(*x));
	uint32_t		 id = ++r->reqid;
	int			 i;

	cr_assert_not_null(x);
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, id, &m), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r->fd, b.data, b.len), 0);
	proto_buf_free(&b);
	for (;;) {
		cr_assert_eq(t_raw_next(r->fd, &r->dec, &f, 10000), 1, "%s: no reply", sql);
		cr_assert_eq(f.hdr.request_id, id);
		switch (f.hdr.type) {
		case PROTO_MSG_ROW_DESC:
			cr_assert_eq(proto_decode_row_desc(&f, r->version, &rd), PROTO_DERR_OK,
			    "%s: ROW_DESC is not in version %u's layout", sql, r->version);
			x->desc_v1_only = proto_decode_row_desc(&f, 2, &rd_other) !=
			    PROTO_DERR_OK;
			cr_assert_leq(rd.ncols, 32);
			x->ncols = rd.ncols;
			for (i = 0; proto_iter_next(&rd.name_iter, &v); i++) {
				x->names[i] = t_strf("%s", v.ptr);
				proto_row_desc_col(&rd, (uint16_t)i, &x->cols[i]);
			}
			break;
		case PROTO_MSG_DATA_ROW:
			cr_assert_eq(proto_decode_data_row(&f, &dr), PROTO_DERR_OK);
			cr_assert_eq(dr.ncols, x->ncols);
			cr_assert_lt(x->nrows, 16);
			for (i = 0; proto_iter_next(&dr.value_iter, &v); i++) {
				if (v.ptr == NULL)
					continue;
				x->rows[x->nrows][i].p = malloc(v.len + 1);
				cr_assert_not_null(x->rows[x->nrows][i].p);
				memcpy(x->rows[x->nrows][i].p, v.ptr, v.len + 1);
				x->rows[x->nrows][i].len = v.len;
			}
			x->nrows++;
			break;
		case PROTO_MSG_COMPLETE:
			cr_assert_eq(proto_decode_complete(&f, &c), PROTO_DERR_OK);
			x->cache_state = c.cache_state;
			if (!c.more)
				return x;
			break;
		case PROTO_MSG_ERROR:
			cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
			cr_assert_fail("%s: %s (SQLSTATE %s)", sql, e.message, e.sqlstate);
			break;
		default:
			cr_assert_fail("%s: %s in the reply", sql, proto_msg_name(f.hdr.type));
		}
	}
}

/* BEGIN or COMMIT on the handle, which must answer OK. */
static void
raw_txn(struct raw *r, uint16_t type)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	uint32_t		 id = ++r->reqid;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_handle(&b, type, id, r->handle), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r->fd, b.data, b.len), 0);
	proto_buf_free(&b);
	cr_assert_eq(t_raw_next(r->fd, &r->dec, &f, 10000), 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_OK, "%s answered with %s", proto_msg_name(type),
	    proto_msg_name(f.hdr.type));
}

/* A statement without parameters whose reply is not looked at. */
static void
raw_exec0(struct raw *r, const char *sql)
{
	res_free(raw_exec(r, sql, 0, NULL, NULL, NULL, 0));
}

static int
col_of(const struct res *x, const char *name)
{
	int	 i;

	for (i = 0; i < x->ncols; i++)
		if (strcmp(x->names[i], name) == 0)
			return i;
	cr_assert_fail("no column %s", name);
	return -1;
}

/* Column name has type oid (and typmod, unless -2), in format. */
static void
assert_col(const struct res *x, const char *name, uint32_t oid, int32_t typmod,
    uint16_t format)
{
	const struct proto_col *c = &x->cols[col_of(x, name)];

	cr_expect_eq(c->type_oid, oid, "column %s: type %u, want %u", name, c->type_oid, oid);
	if (typmod != -2)
		cr_expect_eq(c->typmod, typmod, "column %s: typmod %d, want %d", name, c->typmod,
		    typmod);
	cr_expect_eq(c->format, format, "column %s: format %u, want %u", name, c->format,
	    format);
}

/* Row i's value of column name is the len bytes of want. */
static void
assert_val(const struct res *x, int row, const char *name, const char *want, uint32_t len)
{
	const struct val *v;

	cr_assert_lt(row, x->nrows);
	v = &x->rows[row][col_of(x, name)];
	if (want == NULL) {
		cr_expect_null(v->p, "column %s: not NULL", name);
		return;
	}
	cr_assert_not_null(v->p, "column %s: NULL", name);
	cr_expect_eq(v->len, len, "column %s: %u bytes, want %u", name, v->len, len);
	cr_expect(v->len == len && memcmp(v->p, want, len) == 0, "column %s: other bytes",
	    name);
}

/* dbmd with staging on a SQLite file of the test's own. */
static void
start_sqlite(struct t_dbmd *d)
{
	char	*set = t_strf("staging.uri=sqlite:%s/v2.db", t_h.dir);

	t_dbmd_start(d, (const char *[]){ set, NULL });
	free(set);
}

/* dbmd with production on a database of the test's own. */
static void
start_pg(struct t_dbmd *d)
{
	pg_db_new();
	pg_dbmd_start(d, NULL, NULL);
}

/* Both backends. */

/* What a v1 and a v2 client each get for the same columns; v1 exactly as before. */
static void
v1_client_gets_v1_layout(struct t_dbmd *d, const char *env)
{
	struct raw	 r;
	struct res	*x;

	raw_start(&r, d, 1, env);
	x = raw_exec(&r, "SELECT 1 AS a, 'x' AS b", 0, NULL, NULL, NULL, 0);
	cr_assert_eq(x->ncols, 2);
	cr_assert(x->desc_v1_only, "a version 1 client got a ROW_DESC with types");
	cr_assert_eq(x->cols[0].type_oid, 0);
	assert_val(x, 0, "a", "1", 1);
	assert_val(x, 0, "b", "x", 1);
	res_free(x);
	raw_end(&r);
}

Test(v2_sqlite, a_v1_client_gets_the_v1_layout)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	v1_client_gets_v1_layout(&d, "staging");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(v2_pg, a_v1_client_gets_the_v1_layout_and_bytea_as_hex)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;

	start_pg(&d);
	v1_client_gets_v1_layout(&d, "production");
	raw_start(&r, &d, 1, "production");
	x = raw_exec(&r, "SELECT '\\x610062ff'::bytea AS b", 0, NULL, NULL, NULL, 0);
	cr_assert(x->desc_v1_only);
	assert_val(x, 0, "b", "\\x610062ff", 10);
	res_free(x);
	raw_end(&r);
	pg_dbmd_stop(&d);
}

/* A binary parameter with NULs goes in and comes back as the same bytes. */
static void
binary_param_round_trips(struct t_dbmd *d, const char *env, const char *create)
{
	static const char	 bin[] = { 'a', '\0', 'b', (char)0xFF, '\0' };
	const char *const	 p[] = { "1", bin };
	const uint32_t		 l[] = { 1, sizeof(bin) };
	const uint16_t		 fm[] = { PROTO_FORMAT_TEXT, PROTO_FORMAT_BINARY };
	const char *const	 pe[] = { "2", "" };
	const uint32_t		 le[] = { 1, 0 };
	struct raw		 r;
	struct res		*x;

	raw_start(&r, d, 2, env);
	raw_exec0(&r, create);
	res_free(raw_exec(&r, "INSERT INTO blobs VALUES ($1, $2)", 2, p, l, fm, 0));
	res_free(raw_exec(&r, "INSERT INTO blobs VALUES ($1, $2)", 2, pe, le, fm, 0));
	x = raw_exec(&r, "SELECT v FROM blobs ORDER BY k", 0, NULL, NULL, NULL, 0);
	cr_assert_eq(x->nrows, 2);
	assert_col(x, "v", PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY);
	assert_val(x, 0, "v", bin, sizeof(bin));
	assert_val(x, 1, "v", "", 0);	/* an empty binary value, not NULL */
	res_free(x);
	/* The binary parameter also reaches a WHERE clause as the same bytes. */
	x = raw_exec(&r, "SELECT k FROM blobs WHERE v = $1", 1, p + 1, l + 1, fm + 1, 0);
	cr_assert_eq(x->nrows, 1);
	assert_val(x, 0, "k", "1", 1);
	res_free(x);
	raw_end(&r);
}

Test(v2_sqlite, a_binary_parameter_with_nuls_round_trips)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;

	start_sqlite(&d);
	binary_param_round_trips(&d, "staging", "CREATE TABLE blobs (k INTEGER, v BLOB)");
	raw_start(&r, &d, 2, "staging");
	x = raw_exec(&r, "SELECT typeof(v) AS t FROM blobs ORDER BY k", 0, NULL, NULL, NULL,
	    0);
	assert_val(x, 0, "t", "blob", 4);
	assert_val(x, 1, "t", "blob", 4);
	res_free(x);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(v2_pg, a_binary_parameter_with_nuls_round_trips)
{
	struct t_dbmd	 d;

	start_pg(&d);
	binary_param_round_trips(&d, "production", "CREATE TABLE blobs (k int, v bytea)");
	pg_dbmd_stop(&d);
}

/*
 * A cached reply is kept per protocol version: a v1 client asking what a v2
 * client had cached gets the v1 layout (a miss), and then its own hit.
 */
static void
cache_keeps_versions_apart(struct t_dbmd *d, const char *env, const char *create,
    const char *insert)
{
	static const char	 q[] = "SELECT k, v FROM cached ORDER BY k";
	struct raw		 r1, r2;
	struct res		*x;

	raw_start(&r2, d, 2, env);
	raw_start(&r1, d, 1, env);
	raw_exec0(&r2, create);
	raw_exec0(&r2, insert);
	x = raw_exec(&r2, q, 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_MISS);
	assert_col(x, "v", PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY);
	assert_val(x, 0, "v", "\0\1", 2);
	res_free(x);
	x = raw_exec(&r2, q, 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_HIT, "the v2 reply was not cached");
	cr_assert_not(x->desc_v1_only);
	res_free(x);

	x = raw_exec(&r1, q, 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_MISS, "v1 was served v2's cached reply");
	cr_assert(x->desc_v1_only, "a version 1 client got a ROW_DESC with types");
	cr_assert_eq(x->nrows, 1);
	res_free(x);
	x = raw_exec(&r1, q, 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_HIT);
	cr_assert(x->desc_v1_only);
	res_free(x);
	x = raw_exec(&r2, q, 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_HIT);
	cr_assert_not(x->desc_v1_only, "v2 was served v1's cached reply");
	assert_val(x, 0, "v", "\0\1", 2);
	res_free(x);
	raw_end(&r1);
	raw_end(&r2);
}

Test(v2_sqlite, a_cached_v2_reply_is_never_served_to_a_v1_client)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	cache_keeps_versions_apart(&d, "staging", "CREATE TABLE cached (k TEXT, v BLOB)",
	    "INSERT INTO cached VALUES ('a', x'0001')");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(v2_pg, a_cached_v2_reply_is_never_served_to_a_v1_client)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;

	start_pg(&d);
	cache_keeps_versions_apart(&d, "production", "CREATE TABLE cached (k text, v bytea)",
	    "INSERT INTO cached VALUES ('a', '\\x0001')");
	raw_start(&r, &d, 1, "production");
	x = raw_exec(&r, "SELECT k, v FROM cached ORDER BY k", 0, NULL, NULL, NULL, 60000);
	cr_assert_eq(x->cache_state, PROTO_CACHE_HIT);
	assert_val(x, 0, "v", "\\x0001", 6);
	res_free(x);
	raw_end(&r);
	pg_dbmd_stop(&d);
}

/* PostgreSQL. */

Test(v2_pg, a_v2_client_gets_the_servers_types_and_bytea_as_bytes)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;

	start_pg(&d);
	raw_start(&r, &d, 2, "production");
	x = raw_exec(&r, "SELECT 1::int4 AS i4, 2::int8 AS i8, 'a'::text AS t, "
	    "'\\x610062'::bytea AS b, 12.5::numeric(10,2) AS n, true AS tf, "
	    "'2024-01-02 03:04:05+00'::timestamptz AS tz, NULL::bytea AS nb, "
	    "'x'::varchar(5) AS vc", 0, NULL, NULL, NULL, 0);
	cr_assert_not(x->desc_v1_only);
	assert_col(x, "i4", OID_INT4, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "i8", PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "t", PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "b", PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY);
	assert_col(x, "n", PROTO_OID_NUMERIC, NUMERIC_10_2, PROTO_FORMAT_TEXT);
	assert_col(x, "tf", PROTO_OID_BOOL, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "tz", PROTO_OID_TIMESTAMPTZ, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "nb", PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY);
	assert_col(x, "vc", 1043, 5 + 4, PROTO_FORMAT_TEXT);
	assert_val(x, 0, "i4", "1", 1);
	assert_val(x, 0, "b", "a\0b", 3);
	assert_val(x, 0, "n", "12.50", 5);
	assert_val(x, 0, "tf", "t", 1);
	assert_val(x, 0, "nb", NULL, 0);
	res_free(x);
	raw_end(&r);
	pg_dbmd_stop(&d);
}

Test(v2_pg, bytea_comes_as_bytes_whatever_bytea_output_says)
{
	static const char	 want[] = { '\0', '\\', 'A', (char)0xFE };
	struct t_dbmd		 d;
	struct raw		 r;
	struct res		*x;

	start_pg(&d);
	raw_start(&r, &d, 2, "production");
	raw_exec0(&r, "CREATE TABLE esc (v bytea)");
	raw_exec0(&r, "INSERT INTO esc VALUES ('\\x005c41fe')");
	/* In a transaction: the setting stays on the one connection for both statements. */
	raw_txn(&r, PROTO_MSG_BEGIN);
	raw_exec0(&r, "SET LOCAL bytea_output = 'escape'");
	x = raw_exec(&r, "SELECT current_setting('bytea_output') AS o", 0, NULL, NULL, NULL,
	    0);
	assert_val(x, 0, "o", "escape", 6);
	res_free(x);
	x = raw_exec(&r, "SELECT v FROM esc", 0, NULL, NULL, NULL, 0);
	assert_val(x, 0, "v", want, sizeof(want));
	res_free(x);
	raw_txn(&r, PROTO_MSG_COMMIT);
	x = raw_exec(&r, "SELECT v FROM esc", 0, NULL, NULL, NULL, 0);
	assert_val(x, 0, "v", want, sizeof(want));
	res_free(x);
	raw_end(&r);
	pg_dbmd_stop(&d);
}

/* SQLite. */

Test(v2_sqlite, declared_types_map_to_postgresql_types)
{
	static const struct {
		const char	*name;
		const char	*decl;
		uint32_t	 oid;
	} cols[] = {
		{ "b", "BOOLEAN", PROTO_OID_BOOL },
		{ "tz", "TIMESTAMPTZ", PROTO_OID_TIMESTAMPTZ },
		{ "tz2", "timestamp with time zone", PROTO_OID_TIMESTAMPTZ },
		{ "ts", "TIMESTAMP", PROTO_OID_TIMESTAMP },
		{ "dtm", "DATETIME", PROTO_OID_TIMESTAMP },
		{ "d", "date", PROTO_OID_DATE },
		{ "t", "TIME", PROTO_OID_TIME },
		{ "n", "NUMERIC(10,2)", PROTO_OID_NUMERIC },
		{ "de", "DECIMAL", PROTO_OID_NUMERIC },
		{ "u", "UUID", OID_UUID },
		{ "j", "JSON", OID_JSON },
		{ "i", "INTEGER", PROTO_OID_INT8 },
		{ "bi", "BIGINT", PROTO_OID_INT8 },
		{ "pt", "POINT", PROTO_OID_INT8 },	/* SQLite's rules: it holds "INT" */
		{ "vc", "VARCHAR(20)", PROTO_OID_TEXT },
		{ "cl", "CLOB", PROTO_OID_TEXT },
		{ "tx", "TEXT", PROTO_OID_TEXT },
		{ "bl", "BLOB", PROTO_OID_BYTEA },
		{ "r", "REAL", PROTO_OID_FLOAT8 },
		{ "f", "FLOAT", PROTO_OID_FLOAT8 },
		{ "db", "DOUBLE PRECISION", PROTO_OID_FLOAT8 },
		{ "m", "MONEY", PROTO_OID_NUMERIC },
		{ "none", "", PROTO_OID_TEXT },		/* no declared type, no rows: text */
	};
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;
	char		*sql = t_strf("CREATE TABLE typed ("), *s;
	size_t		 i;

	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		s = t_strf("%s%s%s %s", sql, i > 0 ? ", " : "", cols[i].name, cols[i].decl);
		free(sql);
		sql = s;
	}
	s = t_strf("%s)", sql);
	free(sql);
	start_sqlite(&d);
	raw_start(&r, &d, 2, "staging");
	raw_exec0(&r, s);
	free(s);
	x = raw_exec(&r, "SELECT * FROM typed", 0, NULL, NULL, NULL, 0);
	cr_assert_eq(x->ncols, (int)(sizeof(cols) / sizeof(cols[0])));
	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		assert_col(x, cols[i].name, cols[i].oid, -1, cols[i].oid == PROTO_OID_BYTEA ?
		    PROTO_FORMAT_BINARY : PROTO_FORMAT_TEXT);
	res_free(x);

	/* Values keep SQLite's dynamic typing: a TEXT in an INTEGER column stays text. */
	raw_exec0(&r, "CREATE TABLE loose (i INTEGER, bl BLOB, t TEXT)");
	raw_exec0(&r, "INSERT INTO loose VALUES ('abc', 'text in a blob', x'00ff')");
	x = raw_exec(&r, "SELECT i, bl, t FROM loose", 0, NULL, NULL, NULL, 0);
	assert_col(x, "i", PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT);
	assert_val(x, 0, "i", "abc", 3);
	assert_val(x, 0, "bl", "text in a blob", 14);
	assert_val(x, 0, "t", "\0\xff", 2);	/* a BLOB value arrives as its bytes */
	res_free(x);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(v2_sqlite, an_expressions_type_is_its_first_rows)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct res	*x;

	start_sqlite(&d);
	raw_start(&r, &d, 2, "staging");
	x = raw_exec(&r, "SELECT 1 AS i, 1.5 AS f, 'x' AS t, x'00ff' AS b, NULL AS n", 0,
	    NULL, NULL, NULL, 0);
	assert_col(x, "i", PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "f", PROTO_OID_FLOAT8, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "t", PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT);
	assert_col(x, "b", PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY);
	assert_col(x, "n", PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT);
	assert_val(x, 0, "i", "1", 1);
	assert_val(x, 0, "b", "\0\xff", 2);
	assert_val(x, 0, "n", NULL, 0);
	res_free(x);

	/* The first row decides; a later row of another kind keeps its own value. */
	x = raw_exec(&r, "SELECT v FROM (SELECT 1 AS o, 7 AS v UNION ALL SELECT 2, 'x') "
	    "ORDER BY o", 0, NULL, NULL, NULL, 0);
	assert_col(x, "v", PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT);
	assert_val(x, 0, "v", "7", 1);
	assert_val(x, 1, "v", "x", 1);
	res_free(x);

	/* No rows: nothing to go by, text. */
	x = raw_exec(&r, "SELECT 1 AS i WHERE 0", 0, NULL, NULL, NULL, 0);
	cr_assert_eq(x->nrows, 0);
	assert_col(x, "i", PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT);
	res_free(x);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(v2_sqlite, operator_replies_have_v2_layout_for_a_v2_session)
{
	struct proto_row_desc	 rd;
	struct proto_col	 c;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct t_dbmd		 d;
	struct raw		 r;
	int			 descs = 0;

	start_sqlite(&d);
	raw_start(&r, &d, 2, "staging");
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_STATUS, 99), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r.fd, b.data, b.len), 0);
	proto_buf_free(&b);
	for (;;) {
		cr_assert_eq(t_raw_next(r.fd, &r.dec, &f, 10000), 1);
		if (f.hdr.type == PROTO_MSG_ROW_DESC) {
			cr_assert_eq(proto_decode_row_desc(&f, 2, &rd), PROTO_DERR_OK);
			proto_row_desc_col(&rd, 0, &c);
			cr_assert_eq(c.type_oid, PROTO_OID_TEXT);
			descs++;
		}
		cr_assert_neq(f.hdr.type, PROTO_MSG_ERROR);
		if (proto_frame_ends_reply(&f.hdr))
			break;
	}
	cr_assert_eq(descs, 4);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}
