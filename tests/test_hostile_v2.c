/* test_hostile_v2.c: protocol version 2 against hostile clients, and the library against a hostile dbmd. */

/*
 * Two halves.  The daemon's: a real dbmd (tests/harness.h) spoken to in raw
 * frames that the library would never send: EXEC with the wrong number or
 * values of formats, huge parameter counts, binary values, ROW_DESCs that
 * fit a frame limit in version 1 but not in version 2.  The library's: a
 * fake dbmd forked from the test that speaks the handshake and OPEN
 * correctly and then answers EXEC from a script, with frames for requests
 * nobody sent, GOODBYE in the middle of a streamed result, and a slow reader
 * of large requests; and a real dbmd for the bookkeeping of requests in
 * flight across disposal, blocking calls and disconnect.
 */

#include <sys/resource.h>
#include <sys/types.h>

#include <criterion/criterion.h>

#include "pg.h"

#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = 60)

SUITE(hostile_sqlite);
SUITE(hostile_pg);
SUITE(hostile_fake);
SUITE(hostile_lib);

#define SMALL_FRAME	PROTO_HANDSHAKE_MAX_FRAME	/* the smallest limit a client may announce */

/* The daemon's half: raw frames. */

struct raw {
	int			 fd;
	struct proto_decoder	 dec;
	uint16_t		 version;
	uint32_t		 handle;
	uint32_t		 reqid;
};

/* A reply, as far as these tests look at it. */
struct reply {
	int		 ndesc;		/* ROW_DESC frames */
	int		 ncols;
	struct proto_col col0;		/* the first column's type */
	int		 nrows;
	char		*first;		/* the first row's first value, copied; NULL if none */
	uint32_t	 first_len;
	uint8_t		 cache_state;
	uint16_t	 err;		/* the ERROR's code, 0 when the reply succeeded */
	char		 sqlstate[6];
	char		 msg[256];
};

/* Connects, says HELLO offering 1..max with the frame limit given, and opens env/primary. */
static void
raw_start(struct raw *r, const struct t_dbmd *d, uint16_t max, uint32_t max_frame,
    const char *env)
{
	memset(r, 0, sizeof(*r));
	r->fd = t_raw_connect(d);
	proto_decoder_init(&r->dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello_version(r->fd, &r->dec, max, max_frame);
	r->version = max;
	/* Read anything, so that an oversized frame is seen and reported, not refused. */
	r->dec.max_payload = PROTO_MAX_FRAME_LIMIT;
	r->handle = t_raw_open(r->fd, &r->dec, env, "primary");
	r->reqid = 10;
}

static void
raw_end(struct raw *r)
{
	proto_decoder_free(&r->dec);
	close(r->fd);
}

/*
 * Reads the reply to request id: every frame must be well formed, carry id, and be
 * no larger than limit.  The caller frees x->first.
 */
static void
raw_reply(struct raw *r, uint32_t id, uint32_t limit, struct reply *x)
{
	struct proto_row_desc	 rd;
	struct proto_data_row	 dr;
	struct proto_complete	 c;
	struct proto_error	 e;
	struct proto_value	 v;
	struct proto_frame	 f;

	memset(x, 0, sizeof(*x));
	for (;;) {
		cr_assert_eq(t_raw_next(r->fd, &r->dec, &f, 10000), 1, "no reply to %u", id);
		cr_assert_eq(f.hdr.request_id, id, "%s for request %u, not %u",
		    proto_msg_name(f.hdr.type), f.hdr.request_id, id);
		cr_assert_leq(f.hdr.length, limit, "a %s of %u bytes over the limit of %u",
		    proto_msg_name(f.hdr.type), f.hdr.length, limit);
		switch (f.hdr.type) {
		case PROTO_MSG_ROW_DESC:
			cr_assert_eq(proto_decode_row_desc(&f, r->version, &rd), PROTO_DERR_OK,
			    "a malformed ROW_DESC");
			x->ndesc++;
			x->ncols = rd.ncols;
			proto_row_desc_col(&rd, 0, &x->col0);
			break;
		case PROTO_MSG_DATA_ROW:
			cr_assert_eq(x->ndesc, 1, "DATA_ROW without ROW_DESC");
			cr_assert_eq(proto_decode_data_row(&f, &dr), PROTO_DERR_OK);
			cr_assert_eq(dr.ncols, x->ncols);
			if (x->nrows++ == 0 && proto_iter_next(&dr.value_iter, &v) &&
			    v.ptr != NULL) {
				x->first = malloc(v.len + 1);
				cr_assert_not_null(x->first);
				memcpy(x->first, v.ptr, v.len + 1);
				x->first_len = v.len;
			}
			break;
		case PROTO_MSG_COMPLETE:
			cr_assert_eq(proto_decode_complete(&f, &c), PROTO_DERR_OK);
			x->cache_state = c.cache_state;
			if (!c.more)
				return;
			break;
		case PROTO_MSG_ERROR:
			cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
			x->err = e.code;
			snprintf(x->sqlstate, sizeof(x->sqlstate), "%s", e.sqlstate);
			snprintf(x->msg, sizeof(x->msg), "%s", e.message);
			return;
		default:
			cr_assert_fail("%s in a reply to EXEC", proto_msg_name(f.hdr.type));
		}
	}
}

/* Sends EXEC in the session's layout and reads the reply. */
static void
raw_exec(struct raw *r, const char *sql, uint16_t n, const char *const *params,
    const uint32_t *lens, const uint16_t *formats, uint32_t max_age, uint32_t limit,
    struct reply *x)
{
	struct proto_exec	 m = { .version = r->version, .handle_id = r->handle,
	    .cache_max_age_ms = max_age, .sql = sql, .nparams = n, .params = params,
	    .param_lens = lens, .formats = formats };
	struct proto_buf	 b;
	uint32_t		 id = ++r->reqid;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, id, &m), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r->fd, b.data, b.len), 0);
	proto_buf_free(&b);
	raw_reply(r, id, limit, x);
}

/* A statement that must succeed; returns its first value, copied (the caller frees). */
static char *
raw_value(struct raw *r, const char *sql, uint16_t n, const char *const *params,
    const uint32_t *lens, const uint16_t *formats, uint32_t max_age, uint8_t *cache_state)
{
	struct reply	 x;

	raw_exec(r, sql, n, params, lens, formats, max_age, PROTO_MAX_FRAME_LIMIT, &x);
	cr_assert_eq(x.err, 0, "%s: %s (SQLSTATE %s)", sql, x.msg, x.sqlstate);
	if (cache_state != NULL)
		*cache_state = x.cache_state;
	return x.first != NULL ? x.first : t_strf("(null)");
}

static void
raw_exec0(struct raw *r, const char *sql)
{
	free(raw_value(r, sql, 0, NULL, NULL, NULL, 0, NULL));
}

/* dbmd with staging on a SQLite file of the test's own. */
static void
start_sqlite(struct t_dbmd *d)
{
	char	*set = t_strf("staging.uri=sqlite:%s/hostile.db", t_h.dir);

	t_dbmd_start(d, (const char *[]){ set, NULL });
	free(set);
}

static void
start_pg(struct t_dbmd *d)
{
	pg_db_new();
	pg_dbmd_start(d, NULL, NULL);
}

/*
 * An EXEC whose body is written field by field, so that its formats can disagree
 * with its parameters: nparams parameters (each "x"), then nformats formats of the
 * value format.
 */
static void
raw_send_exec_formats(struct raw *r, uint16_t nparams, uint16_t nformats, uint16_t format)
{
	struct proto_buf	 b;
	uint16_t		 i;

	proto_buf_init(&b);
	proto_begin(&b, PROTO_MSG_EXEC, 0, ++r->reqid);
	proto_put_u32(&b, r->handle);
	proto_put_u32(&b, 0);
	proto_put_u32(&b, 0);
	proto_put_str(&b, "SELECT 1");
	proto_put_u16(&b, nparams);
	for (i = 0; i < nparams; i++)
		proto_put_nstr(&b, "x", 1);
	for (i = 0; i < nformats; i++)
		proto_put_u16(&b, format);
	cr_assert_eq(proto_end(&b), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r->fd, b.data, b.len), 0);
	proto_buf_free(&b);
}

/*
 * Table-driven: an EXEC whose formats do not match its parameters closes the
 * session with a protocol error; dbmd itself serves on.
 */
Test(hostile_sqlite, an_exec_whose_formats_do_not_match_its_parameters_is_refused)
{
	static const struct {
		const char	*what;
		uint16_t	 version, nparams, nformats, format;
	} cases[] = {
		{ "v2, fewer formats than parameters", 2, 3, 2, PROTO_FORMAT_TEXT },
		{ "v2, no formats at all", 2, 2, 0, PROTO_FORMAT_TEXT },
		{ "v2, more formats than parameters", 2, 1, 2, PROTO_FORMAT_BINARY },
		{ "v2, formats without parameters", 2, 0, 1, PROTO_FORMAT_TEXT },
		{ "v2, an unknown format 2", 2, 2, 2, 2 },
		{ "v2, an unknown format 0xffff", 2, 1, 1, 0xffff },
		{ "v1, carrying formats", 1, 1, 1, PROTO_FORMAT_TEXT },
	};
	struct t_dbmd	 d;
	struct raw	 r;
	size_t		 i;
	char		 reason[256];

	start_sqlite(&d);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw_start(&r, &d, cases[i].version, PROTO_DEFAULT_MAX_FRAME, "staging");
		raw_send_exec_formats(&r, cases[i].nparams, cases[i].nformats, cases[i].format);
		cr_expect_eq(t_raw_goodbye(r.fd, &r.dec, reason, sizeof(reason)),
		    PROTO_E_PROTOCOL, "%s: not closed with a protocol error", cases[i].what);
		raw_end(&r);
	}
	cr_assert(t_dbmd_answers(&d), "dbmd stopped serving");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* 65535 binary parameters: refused as SQL, the session and dbmd serve on. */
static void
huge_nparams(struct t_dbmd *d, const char *env)
{
	const uint16_t	 n = UINT16_MAX;
	const char	**p = calloc(n, sizeof(*p));
	uint32_t	*l = calloc(n, sizeof(*l));
	uint16_t	*fm = calloc(n, sizeof(*fm));
	struct raw	 r;
	struct reply	 x;
	char		*v;
	uint32_t	 i;

	cr_assert(p != NULL && l != NULL && fm != NULL);
	for (i = 0; i < n; i++) {
		p[i] = (i % 2) ? "" : "\0\1";
		l[i] = (i % 2) ? 0 : 2;
		fm[i] = PROTO_FORMAT_BINARY;
	}
	raw_start(&r, d, 2, PROTO_DEFAULT_MAX_FRAME, env);
	raw_exec(&r, "SELECT 1", n, p, l, fm, 0, PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_neq(x.err, 0, "65535 parameters for none were accepted");
	free(x.first);
	/* The same cached: the key grows by a format byte per parameter. */
	raw_exec(&r, "SELECT 1", n, p, l, fm, 60000, PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_neq(x.err, 0);
	free(x.first);
	v = raw_value(&r, "SELECT 7", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(v, "7");
	free(v);
	raw_end(&r);
	free(p);
	free(l);
	free(fm);
}

Test(hostile_sqlite, huge_nparams_of_binary_values_are_refused_cleanly)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	huge_nparams(&d, "staging");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, huge_nparams_of_binary_values_are_refused_cleanly)
{
	struct t_dbmd	 d;

	start_pg(&d);
	huge_nparams(&d, "production");
	pg_dbmd_stop(&d);
}

/* A zero-length binary parameter is an empty BLOB, not NULL. */
Test(hostile_sqlite, a_zero_length_binary_parameter_is_an_empty_blob)
{
	const char *const	 p[] = { "" };
	const uint32_t		 l[] = { 0 };
	const uint16_t		 fm[] = { PROTO_FORMAT_BINARY };
	struct t_dbmd		 d;
	struct raw		 r;
	char			*v;

	start_sqlite(&d);
	raw_start(&r, &d, 2, PROTO_DEFAULT_MAX_FRAME, "staging");
	v = raw_value(&r, "SELECT typeof($1) || ':' || length($1)", 1, p, l, fm, 0, NULL);
	cr_assert_str_eq(v, "blob:0");
	free(v);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, a_binary_parameter_of_the_wrong_type_is_an_sql_error)
{
	const char *const	 p[] = { "\0\0\0\1\0" };
	const uint32_t		 l[] = { 5 };
	const uint16_t		 fm[] = { PROTO_FORMAT_BINARY };
	struct t_dbmd		 d;
	struct raw		 r;
	struct reply		 x;
	char			*v;

	start_pg(&d);
	raw_start(&r, &d, 2, PROTO_DEFAULT_MAX_FRAME, "production");
	/* Five bytes are no int4's binary form: the server says so, the session goes on. */
	raw_exec(&r, "SELECT $1::int4", 1, p, l, fm, 0, PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_SQL, "got %u: %s", x.err, x.msg);
	v = raw_value(&r, "SELECT length($1::bytea)", 1, p, l, fm, 0, NULL);
	cr_assert_str_eq(v, "5");
	free(v);
	raw_end(&r);
	pg_dbmd_stop(&d);
}

/* The same bytes as text and as binary are different values, cached apart. */
Test(hostile_sqlite, text_and_binary_of_the_same_bytes_are_cached_apart)
{
	const char *const	 p[] = { "ab" };
	const uint32_t		 l[] = { 2 };
	const uint16_t		 text[] = { PROTO_FORMAT_TEXT };
	const uint16_t		 bin[] = { PROTO_FORMAT_BINARY };
	struct t_dbmd		 d;
	struct raw		 r, r1;
	uint8_t			 cs;
	char			*v;

	start_sqlite(&d);
	raw_start(&r, &d, 2, PROTO_DEFAULT_MAX_FRAME, "staging");
	raw_start(&r1, &d, 1, PROTO_DEFAULT_MAX_FRAME, "staging");
	v = raw_value(&r, "SELECT typeof($1)", 1, p, l, text, 60000, &cs);
	cr_assert_str_eq(v, "text");
	cr_assert_eq(cs, PROTO_CACHE_MISS);
	free(v);
	v = raw_value(&r, "SELECT typeof($1)", 1, p, l, bin, 60000, &cs);
	cr_assert_str_eq(v, "blob", "the binary value was served the text value's result");
	free(v);
	v = raw_value(&r, "SELECT typeof($1)", 1, p, l, bin, 60000, &cs);
	cr_assert_str_eq(v, "blob");
	cr_assert_eq(cs, PROTO_CACHE_HIT);
	free(v);
	/* A v2 client's text value and a v1 client's value are the same statement... */
	v = raw_value(&r1, "SELECT typeof($1)", 1, p, l, NULL, 60000, &cs);
	cr_assert_str_eq(v, "text");
	/* ...but not the same reply layout: the v1 client has its own entry. */
	cr_assert_eq(cs, PROTO_CACHE_MISS);
	free(v);
	raw_end(&r1);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* Version 2's ROW_DESC on SQLite waits for the first step: an error there is the whole reply. */
Test(hostile_sqlite, a_first_step_error_is_answered_without_a_row_desc)
{
	struct t_dbmd	 d;
	struct raw	 r;
	struct reply	 x;
	char		*v;

	start_sqlite(&d);
	raw_start(&r, &d, 2, PROTO_DEFAULT_MAX_FRAME, "staging");
	raw_exec(&r, "SELECT abs(-9223372036854775807 - 1) AS a", 0, NULL, NULL, NULL, 0,
	    PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_neq(x.err, 0, "integer overflow was not an error");
	cr_assert_eq(x.ndesc, 0, "a ROW_DESC before the first step's error");
	/* An error after the first row: ROW_DESC, the row, then the error. */
	raw_exec(&r, "SELECT CASE WHEN v = 2 THEN abs(-9223372036854775807 - 1) ELSE v END "
	    "AS a FROM (SELECT 1 AS v UNION ALL SELECT 2)", 0, NULL, NULL, NULL, 0,
	    PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_neq(x.err, 0);
	cr_assert_eq(x.ndesc, 1);
	cr_assert_eq(x.nrows, 1);
	cr_assert_eq(x.col0.type_oid, PROTO_OID_INT8);
	free(x.first);
	/* No row at all: still a ROW_DESC, its expression column text. */
	raw_exec(&r, "SELECT 1 AS a WHERE 0", 0, NULL, NULL, NULL, 0, PROTO_DEFAULT_MAX_FRAME,
	    &x);
	cr_assert_eq(x.err, 0, "%s", x.msg);
	cr_assert_eq(x.ndesc, 1);
	cr_assert_eq(x.nrows, 0);
	cr_assert_eq(x.col0.type_oid, PROTO_OID_TEXT);
	v = raw_value(&r, "SELECT 7", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(v, "7");
	free(v);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* Interrupted on its first step (statement_timeout): the error alone, and the session goes on. */
Test(hostile_sqlite, a_first_step_interrupted_is_answered_without_a_row_desc)
{
	char		*set = t_strf("staging.uri=sqlite:%s/hostile.db", t_h.dir), *v;
	struct t_dbmd	 d;
	struct raw	 r;
	struct reply	 x;

	t_dbmd_start(&d, (const char *[]){ set, "staging.statement_timeout=200ms", NULL });
	free(set);
	raw_start(&r, &d, 2, PROTO_DEFAULT_MAX_FRAME, "staging");
	raw_exec(&r, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
	    "WHERE x < 1000000000) SELECT count(*) AS n FROM c", 0, NULL, NULL, NULL, 0,
	    PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_neq(x.err, 0, "a billion rows counted within 200 ms");
	cr_assert_eq(x.ndesc, 0, "a ROW_DESC before the interrupted first step");
	v = raw_value(&r, "SELECT 7", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(v, "7");
	free(v);
	raw_end(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* Operator replies: version 1's ROW_DESC to a v1 session, version 2's to a v2 session. */
static void
status_layout(struct raw *r)
{
	struct proto_row_desc	 rd;
	struct proto_complete	 c;
	struct proto_buf	 b;
	struct proto_frame	 f;
	uint32_t		 id = ++r->reqid;
	int			 ndesc = 0;
	bool			 more = true;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_STATUS, id), PROTO_E_OK);
	cr_assert_eq(t_raw_send(r->fd, b.data, b.len), 0);
	proto_buf_free(&b);
	while (more) {
		cr_assert_eq(t_raw_next(r->fd, &r->dec, &f, 10000), 1, "no reply to STATUS");
		cr_assert_eq(f.hdr.request_id, id);
		if (f.hdr.type == PROTO_MSG_ROW_DESC) {
			ndesc++;
			cr_assert_eq(proto_decode_row_desc(&f, r->version, &rd), PROTO_DERR_OK,
			    "STATUS's ROW_DESC is not in version %u's layout", r->version);
			cr_assert_neq(proto_decode_row_desc(&f, r->version == 1 ? 2 : 1, &rd),
			    PROTO_DERR_OK, "STATUS's ROW_DESC reads in both layouts");
		} else if (f.hdr.type == PROTO_MSG_COMPLETE) {
			cr_assert_eq(proto_decode_complete(&f, &c), PROTO_DERR_OK);
			more = c.more;
		} else
			cr_assert_eq(f.hdr.type, PROTO_MSG_DATA_ROW, "%s in STATUS's reply",
			    proto_msg_name(f.hdr.type));
	}
	cr_assert_geq(ndesc, 1);
}

Test(hostile_sqlite, operator_replies_follow_each_sessions_version)
{
	struct t_dbmd	 d;
	struct raw	 r1, r2;

	start_sqlite(&d);
	raw_start(&r1, &d, 1, PROTO_DEFAULT_MAX_FRAME, "staging");
	raw_start(&r2, &d, 2, PROTO_DEFAULT_MAX_FRAME, "staging");
	status_layout(&r1);
	status_layout(&r2);
	status_layout(&r1);
	raw_end(&r2);
	raw_end(&r1);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * The "AS c0001, ..." list of a statement with columns enough that its ROW_DESC
 * fits SMALL_FRAME in version 1 but not in version 2 (10 bytes more a column).
 */
static char *
wide_columns(const char *expr)
{
	struct proto_row_desc	 m = { 0 };
	struct proto_buf	 b;
	const char		**names;
	char			*cols, *p;
	uint16_t		 n, i;
	size_t			 v1 = 0, v2 = 0;

	names = calloc(2000, sizeof(*names));
	cr_assert_not_null(names);
	for (n = 1; n < 2000; n++) {
		names[n - 1] = t_strf("c%04u", (unsigned)n);
		m.ncols = n;
		m.names = names;
		proto_buf_init(&b);
		m.version = 1;
		cr_assert_eq(proto_encode_row_desc(&b, 1, &m), PROTO_E_OK);
		v1 = b.len - PROTO_HDR_SIZE;
		proto_buf_reset(&b);
		m.version = 2;
		cr_assert_eq(proto_encode_row_desc(&b, 1, &m), PROTO_E_OK);
		v2 = b.len - PROTO_HDR_SIZE;
		proto_buf_free(&b);
		if (v2 > SMALL_FRAME)
			break;
	}
	cr_assert(v1 <= SMALL_FRAME && v2 > SMALL_FRAME, "no width fits v1 only");
	cols = p = calloc(n, strlen(expr) + 16);
	cr_assert_not_null(cols);
	for (i = 0; i < n; i++) {
		p += sprintf(p, "%s%s AS %s", i > 0 ? ", " : "", expr, names[i]);
		free((char *)names[i]);
	}
	free(names);
	return cols;
}

/* A ROW_DESC that fits in version 1 and not in version 2: 54000, never a frame too big. */
static void
desc_fits_v1_only(struct t_dbmd *d, const char *env)
{
	char		*cols = wide_columns("1"), *sql = t_strf("SELECT %s", cols), *v;
	struct raw	 r1, r2;
	struct reply	 x;

	raw_start(&r1, d, 1, SMALL_FRAME, env);
	raw_start(&r2, d, 2, SMALL_FRAME, env);
	raw_exec(&r1, sql, 0, NULL, NULL, NULL, 0, SMALL_FRAME, &x);
	cr_assert_eq(x.err, 0, "v1: %s", x.msg);
	cr_assert_eq(x.nrows, 1);
	free(x.first);
	raw_exec(&r2, sql, 0, NULL, NULL, NULL, 0, SMALL_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_LIMIT, "v2: %u %s", x.err, x.msg);
	cr_assert_str_eq(x.sqlstate, "54000");
	cr_assert_eq(x.ndesc, 0);
	cr_assert_eq(x.nrows, 0);
	/* Cacheable, the same. */
	raw_exec(&r2, sql, 0, NULL, NULL, NULL, 60000, SMALL_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_LIMIT, "v2 cached: %u %s", x.err, x.msg);
	v = raw_value(&r2, "SELECT 7", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(v, "7");
	free(v);
	raw_end(&r2);
	raw_end(&r1);
	free(sql);
	free(cols);
}

/*
 * A cached reply is served only to a client whose frame limit it fits: one that
 * announced a smaller limit than the client that filled the cache gets 54000, as
 * it would from the database, never a frame larger than it said it reads.
 */
static void
cached_reply_respects_limit(struct t_dbmd *d, const char *env, uint16_t version)
{
	char		*cols = wide_columns("1"), *sql = t_strf("SELECT %s", cols);
	struct raw	 big, small;
	struct reply	 x;

	raw_start(&big, d, version, PROTO_DEFAULT_MAX_FRAME, env);
	raw_start(&small, d, version, SMALL_FRAME, env);
	raw_exec(&big, sql, 0, NULL, NULL, NULL, 60000, PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_eq(x.err, 0, "%s", x.msg);
	cr_assert_eq(x.cache_state, PROTO_CACHE_MISS);
	free(x.first);
	raw_exec(&big, sql, 0, NULL, NULL, NULL, 60000, PROTO_DEFAULT_MAX_FRAME, &x);
	cr_assert_eq(x.cache_state, PROTO_CACHE_HIT, "not cached");
	free(x.first);
	/* raw_reply fails the test on a frame over the small client's limit. */
	raw_exec(&small, sql, 0, NULL, NULL, NULL, 60000, SMALL_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_LIMIT, "%u %s", x.err, x.msg);
	free(x.first);
	raw_end(&small);
	raw_end(&big);
	free(sql);
	free(cols);
}

Test(hostile_sqlite, a_cached_reply_is_not_served_past_a_smaller_frame_limit)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	cached_reply_respects_limit(&d, "staging", 2);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, a_cached_reply_is_not_served_past_a_smaller_frame_limit)
{
	struct t_dbmd	 d;

	start_pg(&d);
	cached_reply_respects_limit(&d, "production", 2);
	pg_dbmd_stop(&d);
}

Test(hostile_sqlite, a_row_desc_that_fits_v1_but_not_v2_is_refused_with_54000)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	desc_fits_v1_only(&d, "staging");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, a_row_desc_that_fits_v1_but_not_v2_is_refused_with_54000)
{
	struct t_dbmd	 d;

	start_pg(&d);
	desc_fits_v1_only(&d, "production");
	pg_dbmd_stop(&d);
}

/*
 * A write refused for its ROW_DESC's size must not leave the cache serving what
 * the table held before it: either it did not run, or what it wrote invalidates.
 */
static void
refused_write_keeps_cache_true(struct t_dbmd *d, const char *env)
{
	char		*cols = wide_columns("a"),
			*sql = t_strf("INSERT INTO t VALUES (1) RETURNING %s", cols),
			*cached, *fresh;
	struct raw	 r;
	struct reply	 x;
	uint8_t		 cs;

	raw_start(&r, d, 2, SMALL_FRAME, env);
	raw_exec0(&r, "CREATE TABLE t (a INTEGER)");
	cached = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 60000, &cs);
	cr_assert_str_eq(cached, "0");
	free(cached);
	raw_exec(&r, sql, 0, NULL, NULL, NULL, 0, SMALL_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_LIMIT, "%u %s", x.err, x.msg);
	cached = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 60000, &cs);
	fresh = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(cached, fresh, "the cache says %s rows (%s), the table has %s",
	    cached, cs == PROTO_CACHE_HIT ? "a hit" : "a miss", fresh);
	free(cached);
	free(fresh);
	raw_end(&r);
	free(sql);
	free(cols);
}

/* The same for a row over the limit, which only shows once the statement has run. */
static void
refused_row_keeps_cache_true(struct t_dbmd *d, const char *env, uint16_t version,
    const char *big)
{
	char		*sql = t_strf("INSERT INTO t VALUES (1) RETURNING %s AS z", big),
			*cached, *fresh;
	struct raw	 r;
	struct reply	 x;
	uint8_t		 cs;

	raw_start(&r, d, version, SMALL_FRAME, env);
	raw_exec0(&r, "CREATE TABLE t (a INTEGER)");
	cached = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 60000, &cs);
	cr_assert_str_eq(cached, "0");
	free(cached);
	raw_exec(&r, sql, 0, NULL, NULL, NULL, 0, SMALL_FRAME, &x);
	cr_assert_eq(x.err, PROTO_E_LIMIT, "%u %s", x.err, x.msg);
	cached = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 60000, &cs);
	fresh = raw_value(&r, "SELECT count(*) FROM t", 0, NULL, NULL, NULL, 0, NULL);
	cr_assert_str_eq(cached, fresh, "the cache says %s rows (%s), the table has %s",
	    cached, cs == PROTO_CACHE_HIT ? "a hit" : "a miss", fresh);
	free(cached);
	free(fresh);
	raw_end(&r);
	free(sql);
}

Test(hostile_sqlite, a_write_refused_for_its_row_leaves_no_stale_cache)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	refused_row_keeps_cache_true(&d, "staging", 1, "printf('%.*c', 20000, 'x')");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, a_write_refused_for_its_row_leaves_no_stale_cache)
{
	struct t_dbmd	 d;

	start_pg(&d);
	refused_row_keeps_cache_true(&d, "production", 2, "repeat('x', 20000)");
	pg_dbmd_stop(&d);
}

Test(hostile_sqlite, a_write_refused_for_its_row_desc_leaves_no_stale_cache)
{
	struct t_dbmd	 d;

	start_sqlite(&d);
	refused_write_keeps_cache_true(&d, "staging");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(hostile_pg, a_write_refused_for_its_row_desc_leaves_no_stale_cache)
{
	struct t_dbmd	 d;

	start_pg(&d);
	refused_write_keeps_cache_true(&d, "production");
	pg_dbmd_stop(&d);
}

/* The library's half: a fake dbmd. */

/* What the fake does with the nth EXEC it gets (from 0), request id reqid. */
typedef void	(*fake_script)(int fd, struct proto_buf *out, uint32_t reqid, int nth);

struct fake {
	char		 sock[PATH_MAX];
	pid_t		 pid;
};

/* Sends all of b and empties it; the child exits when the peer has gone. */
static void
fake_send(int fd, struct proto_buf *b)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < b->len) {
		n = send(fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		off += (size_t)n;
	}
	proto_buf_reset(b);
}

/*
 * The fake's process: one client; HELLO_OK announcing version 2 and max_queued,
 * OPEN_OK, OK to DISPOSE, PONG to PING, EXEC to the script.  After OPEN it
 * reads nothing for pause_ms, as a dbmd busy elsewhere.
 */
static void
fake_serve(int lfd, fake_script script, uint32_t max_queued, int pause_ms)
{
	struct proto_hello_ok	 hok = { .version = 2, .server_version = "fake",
	    .max_frame = 16u << 20, .max_handles = 8, .max_queued = max_queued };
	struct proto_open_ok	 ook = { .pool_hash = 1, .backend = "sqlite" };
	struct proto_decoder	 dec;
	struct proto_frame	 f;
	struct proto_buf	 out;
	uint32_t		 handles = 0;
	size_t			 avail;
	uint8_t			*p;
	ssize_t			 n;
	int			 fd, r, nexec = 0;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	proto_decoder_init(&dec, 16u << 20);
	proto_buf_init(&out);
	for (;;) {
		if ((r = proto_decoder_next(&dec, &f)) == -1)
			_exit(2);
		if (r == 0) {
			if ((p = proto_decoder_space(&dec, 0, &avail)) == NULL)
				_exit(3);
			if ((n = recv(fd, p, avail, 0)) <= 0)
				_exit(0);
			proto_decoder_commit(&dec, (size_t)n);
			continue;
		}
		switch (f.hdr.type) {
		case PROTO_MSG_HELLO:
			proto_encode_hello_ok(&out, f.hdr.request_id, &hok);
			break;
		case PROTO_MSG_OPEN:
			ook.handle_id = ++handles;
			proto_encode_open_ok(&out, f.hdr.request_id, &ook);
			fake_send(fd, &out);
			if (pause_ms > 0)
				t_sleep_ms(pause_ms);
			break;
		case PROTO_MSG_EXEC:
			script(fd, &out, f.hdr.request_id, nexec++);
			break;
		case PROTO_MSG_DISPOSE:
			proto_encode_empty(&out, PROTO_MSG_OK, f.hdr.request_id);
			break;
		case PROTO_MSG_PING:
			proto_encode_empty(&out, PROTO_MSG_PONG, f.hdr.request_id);
			break;
		default:
			break;
		}
		fake_send(fd, &out);
	}
}

static void
fake_start(struct fake *fk, fake_script script, uint32_t max_queued, int pause_ms)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 lfd;

	snprintf(fk->sock, sizeof(fk->sock), "%s/fake.sock", t_h.dir);
	cr_assert_lt(strlen(fk->sock), sizeof(sun.sun_path));
	strcpy(sun.sun_path, fk->sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(lfd, -1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0, "bind: %s",
	    strerror(errno));
	cr_assert_eq(listen(lfd, 4), 0);
	if ((fk->pid = t_fork()) == 0) {
		fake_serve(lfd, script, max_queued, pause_ms);
		_exit(0);
	}
	close(lfd);
}

static void
fake_stop(struct fake *fk)
{
	t_kill_pid(fk->pid);
	fk->pid = 0;
}

/* A conn to the fake with a timeout, so that a hang fails the test rather than hangs it. */
static dbm_conn *
fake_connect(const struct fake *fk, unsigned long timeout_ms)
{
	struct dbm_connect_opts	 o = DBM_CONNECT_OPTS_INIT;
	dbm_conn		*c;

	o.socket_path = fk->sock;
	o.timeout_ms = timeout_ms;
	c = dbm_connect_opts(&o);
	cr_assert_not_null(c);
	cr_assert_eq(dbm_errcode(c), DBM_OK, "connect: %s", dbm_errmsg(c));
	return c;
}

/* Script pieces. */

static void
put_desc(struct proto_buf *out, uint32_t reqid, const char *name)
{
	const char *const	 names[] = { name };
	const struct proto_col	 cols[] = { { PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT } };
	struct proto_row_desc	 m = { .version = 2, .ncols = 1, .names = names,
	    .cols = cols };

	proto_encode_row_desc(out, reqid, &m);
}

static void
put_row(struct proto_buf *out, uint32_t reqid, const char *v)
{
	const char *const	 vals[] = { v };
	struct proto_data_row	 m = { .ncols = 1, .values = vals };

	proto_encode_data_row(out, reqid, &m);
}

static void
put_complete(struct proto_buf *out, uint32_t reqid, bool more)
{
	struct proto_complete	 m = { .rows_affected = 1, .command_tag = "SELECT 1",
	    .more = more };

	proto_encode_complete(out, reqid, &m);
}

/* A reply for a request that was never sent. */
static void
script_stray(int fd, struct proto_buf *out, uint32_t reqid, int nth)
{
	(void)fd;
	(void)nth;
	put_desc(out, reqid + 1000, "a");
}

Test(hostile_fake, a_frame_for_a_request_not_in_flight_ends_the_connection_cleanly)
{
	struct fake	 fk;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*res;

	fake_start(&fk, script_stray, 4, 0);
	c = fake_connect(&fk, 5000);
	h = t_open(c, "development", "primary");
	cr_assert_eq(dbm_send_exec_params(h, "SELECT 1", 0, NULL, NULL, NULL, NULL), DBM_OK);
	res = dbm_get_result(h);
	cr_assert_not_null(res);
	cr_assert_eq(dbm_result_status(res), DBM_E_PROTOCOL, "%s",
	    dbm_strerror(dbm_result_status(res)));
	dbm_result_free(res);
	cr_assert_null(dbm_get_result(h));
	cr_assert_eq(dbm_pending(h), 0);
	cr_assert_eq(dbm_connected(c), 0);
	cr_assert_null(dbm_exec(h, "SELECT 1", 0, NULL));
	cr_assert_eq(dbm_errcode(c), DBM_E_CONNECTION);
	dbm_disconnect(c);
	fake_stop(&fk);
}

/* Two pieces of a streamed result, then GOODBYE. */
static void
script_goodbye(int fd, struct proto_buf *out, uint32_t reqid, int nth)
{
	(void)fd;
	struct proto_goodbye	 g = { .code = PROTO_E_SHUTDOWN, .reason = "going away" };

	(void)nth;
	put_desc(out, reqid, "a");
	put_row(out, reqid, "1");
	put_row(out, reqid, "2");
	put_row(out, reqid, "3");
	proto_encode_goodbye(out, 0, &g);
}

Test(hostile_fake, goodbye_mid_stream_ends_the_pieces_with_its_code)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct fake		 fk;
	dbm_conn		*c;
	dbm_handle		*h, *h2;
	dbm_result		*res;
	int			 pieces = 0, last = DBM_OK;

	fake_start(&fk, script_goodbye, 4, 0);
	c = fake_connect(&fk, 5000);
	h = t_open(c, "development", "primary");
	h2 = t_open(c, "development", "primary");
	eo.row_chunk = 2;
	cr_assert_eq(dbm_send_exec_params(h, "SELECT 1", 0, NULL, NULL, NULL, &eo), DBM_OK);
	cr_assert_eq(dbm_send_begin(h2), DBM_OK);
	while ((res = dbm_get_result(h)) != NULL) {
		last = dbm_result_status(res);
		if (last == DBM_OK) {
			cr_assert(dbm_result_partial(res), "a whole piece before GOODBYE");
			cr_assert_eq(dbm_nrows(res), 2);
		}
		pieces++;
		dbm_result_free(res);
		cr_assert_lt(pieces, 10);
	}
	cr_assert_eq(pieces, 2, "%d results: a piece and the error expected", pieces);
	cr_assert_eq(last, DBM_E_SHUTDOWN, "%s", dbm_strerror(last));
	/* The other handle's request ended too, with the same code. */
	res = dbm_get_result(h2);
	cr_assert_not_null(res);
	cr_assert_eq(dbm_result_status(res), DBM_E_SHUTDOWN);
	dbm_result_free(res);
	cr_assert_null(dbm_get_result(h2));
	cr_assert_eq(dbm_pending(h2), 0);
	dbm_disconnect(c);
	fake_stop(&fk);
}

/* Answers any EXEC with the length of its first parameter. */
static void
script_length(int fd, struct proto_buf *out, uint32_t reqid, int nth)
{
	(void)fd;
	(void)nth;
	put_desc(out, reqid, "length");
	put_row(out, reqid, "big");
	put_complete(out, reqid, false);
}

/*
 * A statement larger than the socket takes at once is partly left for dbm_flush.
 * A program that goes straight to dbm_get_result (allowed: it waits) must not
 * wait for an answer to a request it never finished sending.
 */
Test(hostile_fake, get_result_sends_what_the_send_left_unwritten)
{
	const size_t	 len = 4u << 20;
	char		*big = malloc(len + 1);	/* a text value is a C string */
	const char	*vals[1] = { big };
	int		 lens[1] = { (int)len };
	struct fake	 fk;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*res;

	cr_assert_not_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	fake_start(&fk, script_length, 4, 300);
	c = fake_connect(&fk, 3000);
	h = t_open(c, "development", "primary");
	cr_assert_eq(dbm_send_exec_params(h, "SELECT length($1)", 1, vals, lens, NULL, NULL),
	    DBM_OK, "%s", dbm_errmsg(c));
	res = dbm_get_result(h);
	cr_assert_not_null(res);
	cr_assert_eq(dbm_result_status(res), DBM_OK, "%s: %s",
	    dbm_strerror(dbm_result_status(res)), dbm_result_errmsg(res));
	cr_assert_str_eq(dbm_value(res, 0, 0), "big");
	dbm_result_free(res);
	cr_assert_null(dbm_get_result(h));
	dbm_disconnect(c);
	fake_stop(&fk);
	free(big);
}

/* The same for a blocking call that must first wait for room among max_queued. */
Test(hostile_fake, a_blocking_call_waiting_for_room_sends_what_a_send_left)
{
	const size_t	 len = 4u << 20;
	char		*big = malloc(len + 1);	/* a text value is a C string */
	const char	*vals[1] = { big };
	int		 lens[1] = { (int)len };
	struct fake	 fk;
	dbm_conn	*c;
	dbm_handle	*h, *h2;
	dbm_result	*res;

	cr_assert_not_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	fake_start(&fk, script_length, 1, 300);
	c = fake_connect(&fk, 3000);
	h = t_open(c, "development", "primary");
	h2 = t_open(c, "development", "primary");
	cr_assert_eq(dbm_send_exec_params(h, "SELECT length($1)", 1, vals, lens, NULL, NULL),
	    DBM_OK, "%s", dbm_errmsg(c));
	res = dbm_exec(h2, "SELECT 1", 0, NULL);
	cr_assert_not_null(res, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(res), DBM_OK);
	dbm_result_free(res);
	res = dbm_get_result(h);
	cr_assert_not_null(res);
	cr_assert_eq(dbm_result_status(res), DBM_OK);
	dbm_result_free(res);
	dbm_disconnect(c);
	fake_stop(&fk);
	free(big);
}

/*
 * Out of memory copying a ROW_DESC while streaming.  The test's own malloc fails the
 * one size asked for; sanitizers bring their own allocator, so there it skips.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_OWN_MALLOC	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_OWN_MALLOC	0
#endif
#endif
#ifndef HAVE_OWN_MALLOC
#define HAVE_OWN_MALLOC	1
#endif

static volatile size_t	 fail_size;	/* malloc of exactly this many bytes fails; 0: none */

#if HAVE_OWN_MALLOC
void	*__libc_malloc(size_t);

void *
malloc(size_t n)
{
	if (n != 0 && n == fail_size) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}
#endif

/* A ROW_DESC whose payload has a size nothing else allocates: its name is long and odd. */
static size_t
odd_desc(struct proto_buf *out, uint32_t reqid)
{
	char	 name[4001];
	size_t	 start = out->len;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	put_desc(out, reqid, name);
	return out->len - start - PROTO_HDR_SIZE;
}

/* Two result sets, the second with the odd ROW_DESC. */
static void
script_two_sets(int fd, struct proto_buf *out, uint32_t reqid, int nth)
{
	(void)fd;
	(void)nth;
	put_desc(out, reqid, "a");
	put_row(out, reqid, "1");
	put_complete(out, reqid, true);
	odd_desc(out, reqid);
	put_row(out, reqid, "2");
	put_complete(out, reqid, false);
}

Test(hostile_fake, oom_copying_a_row_desc_while_streaming_ends_the_conn_cleanly)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct proto_buf	 b;
	struct fake		 fk;
	dbm_conn		*c;
	dbm_handle		*h;
	dbm_result		*res;
	int			 n = 0, last = DBM_OK;

	/* Valgrind, slowing things down, replaces malloc too. */
	if (!HAVE_OWN_MALLOC || t_slow() > 1)
		cr_skip_test("a sanitizer's or valgrind's allocator cannot be made to fail");
	proto_buf_init(&b);
	fake_start(&fk, script_two_sets, 4, 0);
	c = fake_connect(&fk, 5000);
	h = t_open(c, "development", "primary");
	eo.row_chunk = 1;
	cr_assert_eq(dbm_send_exec_params(h, "SELECT 1", 0, NULL, NULL, NULL, &eo), DBM_OK);
	fail_size = odd_desc(&b, 1);
	proto_buf_free(&b);
	while ((res = dbm_get_result(h)) != NULL) {
		last = dbm_result_status(res);
		dbm_result_free(res);
		cr_assert_lt(++n, 10);
	}
	fail_size = 0;
	cr_assert_eq(last, DBM_E_NOMEM, "the request ended with %s", dbm_strerror(last));
	cr_assert_eq(dbm_connected(c), 0);
	dbm_disconnect(c);
	fake_stop(&fk);
}

/* 100 MB of rows, written as they are made. */
static void
script_flood(int fd, struct proto_buf *out, uint32_t reqid, int nth)
{
	char	 v[1001];
	int	 i;

	(void)nth;
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	put_desc(out, reqid, "a");
	for (i = 0; i < 100000; i++) {
		put_row(out, reqid, v);
		if (out->len >= (1u << 20))
			fake_send(fd, out);
	}
	put_complete(out, reqid, false);
}

static long
maxrss_kb(void)
{
	struct rusage	 ru;

	cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/*
 * A streamed result whose handle is disposed is dropped as it comes: the library
 * holds about a piece, however long the result nobody will take.
 */
Test(hostile_fake, a_disposed_handles_streamed_result_is_not_hoarded)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct fake		 fk;
	dbm_conn		*c;
	dbm_handle		*h;
	long			 before, grew;

	if (!t_rss_shows_frees())
		cr_skip_test("resident memory means nothing under a sanitizer or valgrind");
	fake_start(&fk, script_flood, 4, 0);
	c = fake_connect(&fk, 30000);
	h = t_open(c, "development", "primary");
	eo.row_chunk = 100;
	cr_assert_eq(dbm_send_exec_params(h, "SELECT flood", 0, NULL, NULL, NULL, &eo), DBM_OK);
	before = maxrss_kb();
	cr_assert_eq(dbm_dispose(h), DBM_OK);
	cr_assert_eq(dbm_disposed(c), DBM_OK, "%s", dbm_errmsg(c));
	grew = maxrss_kb() - before;
	cr_assert_lt(grew, 32 * 1024, "the library grew by %ld MB for 100 MB nobody takes",
	    grew / 1024);
	cr_assert_eq(dbm_ping(c), DBM_OK);
	dbm_disconnect(c);
	fake_stop(&fk);
}

/* The library's half: a real dbmd. */

/*
 * Requests in flight on a handle that is disposed are dropped when their replies
 * come; another handle's requests are served meanwhile; and afterwards exactly
 * max_queued requests fit again, so nothing was counted twice or lost.
 */
Test(hostile_lib, inflight_counts_survive_disposal_blocking_calls_and_failures)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h1, *h2;
	dbm_result	*res;
	int		 i;

	t_dbmd_start(&d, (const char *[]){ "daemon.max_queued_per_client=4", NULL });
	c = t_connect(&d);
	h1 = t_open(c, "development", "primary");
	h2 = t_open(c, "development", "primary");
	for (i = 0; i < 3; i++)
		cr_assert_eq(dbm_send_exec_params(h1, "SELECT 1", 0, NULL, NULL, NULL, NULL),
		    DBM_OK);
	cr_assert_eq(dbm_send_exec_params(h2, "SELECT 2", 0, NULL, NULL, NULL, NULL), DBM_OK);
	cr_assert_eq(dbm_send_exec_params(h2, "SELECT 3", 0, NULL, NULL, NULL, NULL),
	    DBM_E_LIMIT, "a fifth request in flight was accepted");
	/* A refused statement, and a blocking call on h2 waiting for room. */
	cr_assert_eq(dbm_dispose(h1), DBM_OK);
	res = t_exec(h2, "SELECT 4", 0, NULL);
	cr_assert_str_eq(dbm_value(res, 0, 0), "4");
	dbm_result_free(res);
	/* h2's async result was kept for it, and came before its blocking one. */
	cr_assert_eq(dbm_is_busy(h2), 0, "h2's first reply was not kept when its second came");
	res = dbm_get_result(h2);
	cr_assert_not_null(res);
	cr_assert_str_eq(dbm_value(res, 0, 0), "2");
	dbm_result_free(res);
	cr_assert_null(dbm_get_result(h2));
	cr_assert_eq(dbm_disposed(c), DBM_OK, "%s", dbm_errmsg(c));
	res = t_exec_fails(h2, "SELECT * FROM no_such_table", 0, NULL, DBM_E_SQL);
	dbm_result_free(res);
	/* All four slots are free again, and a fifth is still refused. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(dbm_send_exec_params(h2, "SELECT 5", 0, NULL, NULL, NULL, NULL),
		    DBM_OK, "request %d of 4: %s", i + 1, dbm_errmsg(c));
	cr_assert_eq(dbm_send_exec_params(h2, "SELECT 5", 0, NULL, NULL, NULL, NULL),
	    DBM_E_LIMIT);
	for (i = 0; i < 4; i++) {
		res = dbm_get_result(h2);
		cr_assert_not_null(res);
		cr_assert_str_eq(dbm_value(res, 0, 0), "5");
		dbm_result_free(res);
		cr_assert_null(dbm_get_result(h2));
	}
	cr_assert_eq(dbm_pending(h2), 0);
	/* Disconnecting with requests in flight on an open handle. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(dbm_send_exec_params(h2, "SELECT 6", 0, NULL, NULL, NULL, NULL),
		    DBM_OK);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* A forked child's dbm_disconnect leaves the parent's requests and handles alone. */
Test(hostile_lib, a_forked_childs_disconnect_leaves_the_parents_requests_alone)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*res;
	pid_t		 pid;
	int		 st;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	cr_assert_eq(dbm_send_exec_params(h, "SELECT 8", 0, NULL, NULL, NULL, NULL), DBM_OK);
	if ((pid = t_fork()) == 0) {
		dbm_disconnect(c);
		_exit(0);
	}
	cr_assert(t_wait_pid(pid, 5000, &st));
	cr_assert_eq(t_exit_code(st), 0);
	res = dbm_get_result(h);
	cr_assert_not_null(res);
	cr_assert_eq(dbm_result_status(res), DBM_OK, "%s", dbm_result_errmsg(res));
	cr_assert_str_eq(dbm_value(res, 0, 0), "8");
	dbm_result_free(res);
	cr_assert_null(dbm_get_result(h));
	res = t_exec(h, "SELECT 9", 0, NULL);
	dbm_result_free(res);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}
