/* test_describe.c: what the backends offer the PostgreSQL front door, driven through a pool. */

/*
 * The front door (issue 15) reaches these through requests it makes itself: REQ_DESCRIBE,
 * parameters with declared types, and the fields of errors and notices (request_ops
 * pg_fields).  No client of dbmd's protocol can send them, so each test here plays the
 * front door: it builds a pool on the test's PostgreSQL database (tests/pg.h) or on a
 * SQLite file, submits requests with callbacks of its own, runs the event loop until
 * each is done, and reads what the callbacks were given, in order.
 */

#include <arpa/inet.h>
#include <syslog.h>

#include <event2/event.h>

#include "dbmd.h"
#include "pg.h"

#define MAX_EVENTS	64
#define MAX_FIELDS	24

/* One thing the owner was told: a reply frame, or the fields of a notice or error. */
struct ev {
	bool		 fields;	/* a pg_fields call; else a frame */
	bool		 notice;	/* pg_fields: a notice, not an error */
	struct proto_frame f;		/* a frame: its header and payload (in frame) */
	uint8_t		*frame;
	size_t		 n;		/* pg_fields: the fields */
	char		 codes[MAX_FIELDS];
	char		*values[MAX_FIELDS];
};

/* Everything one request told its owner. */
struct reply {
	struct ev	 ev[MAX_EVENTS];
	size_t		 nev;
	bool		 done;
	bool		 failed;
};

static struct {
	struct config	*cfg;
	struct pool	*pool;
	bool		 gone;
	uint32_t	 next_id;
} h;

static struct ev *
ev_add(struct reply *rep)
{
	cr_assert_lt(rep->nev, MAX_EVENTS, "more than %d events in one reply", MAX_EVENTS);
	return &rep->ev[rep->nev++];
}

static int
on_output(void *arg, struct request *r, const void *data, size_t len)
{
	struct reply *rep = arg;
	const uint8_t *p = data;
	struct proto_frame f;
	struct ev *e;
	int size;

	(void)r;
	cr_assert(!rep->done, "output after the reply was done");
	while (len > 0) {
		size = proto_frame_check(p, len, PROTO_MAX_FRAME_LIMIT, &f);
		cr_assert_gt(size, 0, "the backend handed on something not a whole frame");
		e = ev_add(rep);
		e->frame = malloc((size_t)size);
		cr_assert_not_null(e->frame);
		memcpy(e->frame, p, (size_t)size);
		cr_assert_eq(proto_frame_check(e->frame, (size_t)size, PROTO_MAX_FRAME_LIMIT,
		    &e->f), size);
		p += size;
		len -= (size_t)size;
	}
	return 0;
}

static void
on_done(void *arg, struct request *r)
{
	struct reply *rep = arg;

	rep->done = true;
	/* The daemon's own errors set r->failed, a backend's end the frames. */
	rep->failed = r->failed || (rep->nev > 0 && !rep->ev[rep->nev - 1].fields &&
	    rep->ev[rep->nev - 1].f.hdr.type == PROTO_MSG_ERROR);
}

static void
on_pg_fields(void *arg, struct request *r, bool notice, const struct pg_field *f, size_t n)
{
	struct reply *rep = arg;
	struct ev *e = ev_add(rep);
	size_t i;

	(void)r;
	cr_assert_leq(n, MAX_FIELDS);
	e->fields = true;
	e->notice = notice;
	e->n = n;
	for (i = 0; i < n; i++) {
		e->codes[i] = f[i].code;
		e->values[i] = strdup(f[i].value);
	}
}

static const struct request_ops front_ops = {
	.output = on_output,
	.done = on_done,
	.pg_fields = on_pg_fields,
};

/* A native client's: it takes no fields. */
static const struct request_ops native_ops = {
	.output = on_output,
	.done = on_done,
};

static void
reply_free(struct reply *rep)
{
	size_t i, j;

	for (i = 0; i < rep->nev; i++) {
		free(rep->ev[i].frame);
		for (j = 0; j < rep->ev[i].n; j++)
			free(rep->ev[i].values[j]);
	}
	memset(rep, 0, sizeof(*rep));
}

static void
pool_gone(void *arg, struct pool *p)
{
	(void)arg, (void)p;
	h.gone = true;
}

static void
pool_invalidated(void *arg, const char *db, const char *const *tables, size_t n)
{
	(void)db;
	(void)arg;
	h.pool->cache_ops->invalidate(h.pool->cache, tables, n);
}

/* A pool for production/role on uri, as the factory would build it. */
static void
pool_up(const char *uri, const char *role)
{
	char *uset = t_strf("production.uri=%s", uri);
	const char *sets[] = { uset, NULL };
	char *env[] = { NULL };
	struct config_inputs in = { .config_file = t_h.conf, .environ = env, .sets = sets,
	    .uid = getuid() };
	struct pool_owner owner = { .gone = pool_gone, .invalidate = pool_invalidated };
	struct cfg_errors errs;
	struct role_config *rc;
	char err[256];

	log_init(LOG_WARNING);
	h.cfg = config_load(&in);
	free(uset);
	cr_assert_eq(config_nerrors(h.cfg), 0);
	dbmd = xcalloc(1, sizeof(*dbmd));
	dbmd->cfg = h.cfg;
	cr_assert_not_null(dbmd->base = event_base_new());
	cr_assert_eq(sqlite_backend_init(dbmd->base), 0);
	TAILQ_INIT(&errs);
	rc = config_resolve(h.cfg, "production", role, NULL, 0, &errs);
	cr_assert_not_null(rc);
	h.pool = pool_new(&owner, rc, rc->backend == BACKEND_POSTGRES ? &backend_pg :
	    &backend_sqlite, &cache_lru, err, sizeof(err));
	cr_assert_not_null(h.pool, "pool_new: %s", err);
}

static void
pool_down(void)
{
	if (h.pool != NULL) {
		pool_dispose(h.pool, "the test is over");
		while (!h.gone)
			event_base_loop(dbmd->base, EVLOOP_ONCE);
		pool_free(h.pool);
	}
	h.pool = NULL;
	h.gone = false;
	if (dbmd != NULL) {
		sqlite_backend_shutdown();
		event_base_free(dbmd->base);
		free(dbmd);
		dbmd = NULL;
	}
	config_free(h.cfg);
	h.cfg = NULL;
}

static void
pg_up(const char *role)
{
	char *uri;

	pg_db_new();
	uri = pg_uri();
	pool_up(uri, role);
	free(uri);
}

static void
pg_fini(void)
{
	pool_down();
	pg_teardown();
}

static void
sq_init(void)
{
	char *uri;

	pg_setup();		/* the harness's directory; no server is needed */
	uri = t_strf("sqlite:%s/dev.db", t_h.dir);
	pool_up(uri, "primary");
	free(uri);
}

/* A request as the front door makes one: version 2, its session and handle. */
static struct request *
mkreq(enum req_kind kind, struct reply *rep, const char *sql)
{
	struct request *r = request_new(kind, ++h.next_id);

	cr_assert_not_null(r);
	memset(rep, 0, sizeof(*rep));
	r->ops = &front_ops;
	r->owner = rep;
	r->version = 2;
	r->uid = getuid();
	r->sid = 1;
	r->hid = 1;
	if (sql != NULL)
		cr_assert_not_null(r->sql = strdup(sql));
	return r;
}

/*
 * Parameters: n values (NULL: none, for a describe's declared types), their lengths
 * (NULL: strlen), formats (NULL: all text) and types (NULL: none declared).
 */
static void
set_params(struct request *r, uint32_t n, const char *const *vals, const uint32_t *lens,
    const uint8_t *formats, const uint32_t *types)
{
	uint32_t i, len;

	r->nparams = n;
	if (vals != NULL) {
		r->params = calloc(n, sizeof(char *));
		r->lens = calloc(n, sizeof(uint32_t));
		cr_assert(r->params != NULL && r->lens != NULL);
		for (i = 0; i < n; i++) {
			len = lens != NULL ? lens[i] : (uint32_t)strlen(vals[i]);
			cr_assert_not_null(r->params[i] = malloc(len + 1));
			memcpy(r->params[i], vals[i], len);
			r->params[i][len] = '\0';
			r->lens[i] = len;
		}
	}
	if (formats != NULL) {
		cr_assert_not_null(r->formats = malloc(n));
		memcpy(r->formats, formats, n);
	}
	if (types != NULL) {
		cr_assert_not_null(r->types = calloc(n, sizeof(uint32_t)));
		memcpy(r->types, types, n * sizeof(uint32_t));
	}
}

/* Places r as a session does, and runs the loop until its reply is done. */
static void
run(struct request *r, struct reply *rep)
{
	if (cacheflow_begin(h.pool, r) == CACHEFLOW_RUN)
		pool_submit(h.pool, r);
	while (!rep->done)
		event_base_loop(dbmd->base, EVLOOP_ONCE);
}

/* Runs sql, which must succeed, with no parameters. */
static void
exec_ok(const char *sql)
{
	struct reply rep;

	run(mkreq(REQ_EXEC, &rep, sql), &rep);
	cr_assert(!rep.failed, "%s failed", sql);
	reply_free(&rep);
}

/* What the events say. */

static void
expect_frame(const struct reply *rep, size_t i, uint16_t type)
{
	cr_assert_lt(i, rep->nev, "event %zu missing: the reply has %zu", i, rep->nev);
	cr_assert(!rep->ev[i].fields, "event %zu is a pg_fields call, not frame %s", i,
	    proto_msg_name(type));
	cr_assert_eq(rep->ev[i].f.hdr.type, type, "event %zu is %s, not %s", i,
	    proto_msg_name(rep->ev[i].f.hdr.type), proto_msg_name(type));
}

static void
expect_complete(const struct reply *rep, size_t i, const char *tag, bool more)
{
	struct proto_complete m;

	expect_frame(rep, i, PROTO_MSG_COMPLETE);
	cr_assert_eq(proto_decode_complete(&rep->ev[i].f, &m), PROTO_DERR_OK);
	cr_assert_str_eq(m.command_tag, tag);
	cr_assert_eq(m.more, more, "COMPLETE %s: MORE is %d", tag, m.more);
	cr_assert_eq(m.cache_state, PROTO_CACHE_BYPASS);
	cr_assert_eq(m.rows_affected, 0);
}

/* A version 2 ROW_DESC: names, types and typmods as given, every format text. */
static void
expect_desc(const struct reply *rep, size_t i, size_t n, const char *const *names,
    const uint32_t *types, const int32_t *typmods)
{
	struct proto_row_desc m;
	struct proto_value v;
	struct proto_col c;
	size_t k;

	expect_frame(rep, i, PROTO_MSG_ROW_DESC);
	cr_assert_eq(proto_decode_row_desc(&rep->ev[i].f, 2, &m), PROTO_DERR_OK);
	cr_assert_eq(m.ncols, n);
	for (k = 0; k < n; k++) {
		cr_assert(proto_iter_next(&m.name_iter, &v));
		cr_assert_str_eq(v.ptr, names[k]);
		proto_row_desc_col(&m, (uint16_t)k, &c);
		cr_assert_eq(c.type_oid, types[k], "%s: type %u, not %u", names[k], c.type_oid,
		    types[k]);
		cr_assert_eq(c.typmod, typmods != NULL ? typmods[k] : -1, "%s: typmod %d",
		    names[k], c.typmod);
		cr_assert_eq(c.format, PROTO_FORMAT_TEXT, "%s: not text", names[k]);
	}
}

static struct proto_error
error_of(const struct reply *rep, size_t i)
{
	struct proto_error e;

	expect_frame(rep, i, PROTO_MSG_ERROR);
	cr_assert_eq(proto_decode_error(&rep->ev[i].f, &e), PROTO_DERR_OK);
	return e;
}

/* The reply is one ERROR with this SQLSTATE (after the fields of it, for PostgreSQL). */
static struct proto_error
expect_only_error(const struct reply *rep, const char *sqlstate)
{
	struct proto_error e;

	cr_assert(rep->failed);
	e = error_of(rep, rep->nev - 1);
	cr_assert_str_eq(e.sqlstate, sqlstate, "SQLSTATE %s (%s), not %s", e.sqlstate,
	    e.message, sqlstate);
	cr_assert(rep->nev == 1 || (rep->nev == 2 && rep->ev[0].fields && !rep->ev[0].notice),
	    "the ERROR is not the whole reply: %zu events", rep->nev);
	return e;
}

/* Column col of the DATA_ROW at event i, copied. */
static char *
value_of(const struct reply *rep, size_t i, int col)
{
	struct proto_data_row m;
	struct proto_value v;
	int k;

	expect_frame(rep, i, PROTO_MSG_DATA_ROW);
	cr_assert_eq(proto_decode_data_row(&rep->ev[i].f, &m), PROTO_DERR_OK);
	for (k = 0; k <= col; k++)
		cr_assert(proto_iter_next(&m.value_iter, &v));
	cr_assert_not_null(v.ptr, "column %d is NULL", col);
	return t_strf("%.*s", (int)v.len, v.ptr);
}

/* The index of the first frame of this type. */
static size_t
find_frame(const struct reply *rep, uint16_t type)
{
	size_t i;

	for (i = 0; i < rep->nev; i++)
		if (!rep->ev[i].fields && rep->ev[i].f.hdr.type == type)
			return i;
	cr_assert_fail("no %s in the reply", proto_msg_name(type));
	return 0;
}

static const char *
field(const struct ev *e, char code)
{
	size_t i;

	cr_assert(e->fields);
	for (i = 0; i < e->n; i++)
		if (e->codes[i] == code)
			return e->values[i];
	return NULL;
}

/* The value of the only field code in event i, which must be present. */
static const char *
field_at(const struct reply *rep, size_t i, char code)
{
	const char *v;

	cr_assert_lt(i, rep->nev);
	cr_assert(rep->ev[i].fields, "event %zu is no pg_fields call", i);
	v = field(&rep->ev[i], code);
	cr_assert_not_null(v, "event %zu has no field '%c'", i, code);
	return v;
}

static size_t
count_fields(const struct reply *rep)
{
	size_t i, n = 0;

	for (i = 0; i < rep->nev; i++)
		n += rep->ev[i].fields;
	return n;
}

/* PostgreSQL: Describe. */

TestSuite(describe_pg, .fini = pg_fini, .timeout = 60);

static const uint32_t oid_int8 = 20, oid_int4 = 23, oid_text = 25, oid_varchar = 1043;

Test(describe_pg, gives_parameter_and_column_types_without_running)
{
	struct reply rep;
	struct request *r;

	pg_setup();
	pg_up("primary");
	exec_ok("CREATE TABLE t (id int8 PRIMARY KEY, name varchar(20), price numeric(10,2), "
	    "data bytea)");
	r = mkreq(REQ_DESCRIBE, &rep, "SELECT id, name, price, data FROM t WHERE id = $1 AND "
	    "name = $2");
	run(r, &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 4);
	/* varchar = unknown resolves as text = text. */
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_int8, oid_text }, NULL);
	expect_complete(&rep, 1, "PARAMETERS", true);
	/* varchar(20): 24; numeric(10,2): (10 << 16 | 2) + 4; bytea described as text. */
	expect_desc(&rep, 2, 4, (const char *[]){ "id", "name", "price", "data" },
	    (const uint32_t[]){ oid_int8, oid_varchar, 1700, 17 },
	    (const int32_t[]){ -1, 24, (10 << 16 | 2) + 4, -1 });
	expect_complete(&rep, 3, "DESCRIBE", false);
	reply_free(&rep);
	/* Describing counts as no statement. */
	cr_assert_eq(h.pool->stats.statements, 1);
}

Test(describe_pg, declared_types_are_the_parameters_types)
{
	struct reply rep;
	struct request *r;

	pg_setup();
	pg_up("primary");
	/* Fewer types than parameters: the server infers the rest. */
	r = mkreq(REQ_DESCRIBE, &rep, "SELECT $1 AS a, $2::int4 AS b");
	set_params(r, 1, NULL, NULL, NULL, (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 4);
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_int8, oid_int4 }, NULL);
	expect_desc(&rep, 2, 2, (const char *[]){ "a", "b" },
	    (const uint32_t[]){ oid_int8, oid_int4 }, NULL);
	reply_free(&rep);
}

Test(describe_pg, insert_has_parameters_and_no_columns_and_runs_nothing)
{
	struct reply rep;

	pg_setup();
	pg_up("primary");
	exec_ok("CREATE TABLE t (id int4, name text)");
	run(mkreq(REQ_DESCRIBE, &rep, "INSERT INTO t VALUES ($1, $2)"), &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 3);
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_int4, oid_text }, NULL);
	expect_complete(&rep, 1, "PARAMETERS", true);
	expect_complete(&rep, 2, "DESCRIBE", false);
	reply_free(&rep);
	/* No parameters: no ROW_DESC for them either. */
	run(mkreq(REQ_DESCRIBE, &rep, "DELETE FROM t"), &rep);
	cr_assert_eq(rep.nev, 2);
	expect_complete(&rep, 0, "PARAMETERS", true);
	expect_complete(&rep, 1, "DESCRIBE", false);
	reply_free(&rep);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0);
}

Test(describe_pg, errors_end_the_reply_with_their_sqlstate)
{
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_DESCRIBE, &rep, "SELEC 1"), &rep);
	expect_only_error(&rep, "42601");
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT * FROM nosuch"), &rep);
	expect_only_error(&rep, "42P01");
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT 1; SELECT 2"), &rep);
	expect_only_error(&rep, "42601");
	reply_free(&rep);
	/* The connection serves on. */
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT 1 AS one"), &rep);
	cr_assert(!rep.failed);
	reply_free(&rep);
}

/* A read_only role needs no transaction around what does not run: a write is described. */
Test(describe_pg, read_only_role_describes_a_write)
{
	struct reply rep;

	pg_setup();
	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (id int4)", 0, NULL);
	{
		char *uri = pg_uri();

		pool_up(uri, "read_only");
		free(uri);
	}
	run(mkreq(REQ_DESCRIBE, &rep, "INSERT INTO t VALUES ($1)"), &rep);
	cr_assert(!rep.failed);
	expect_desc(&rep, 0, 1, (const char *[]){ "$1" }, (const uint32_t[]){ oid_int4 },
	    NULL);
	reply_free(&rep);
	/* And the role still writes nothing. */
	run(mkreq(REQ_EXEC, &rep, "INSERT INTO t VALUES (1)"), &rep);
	expect_only_error(&rep, "25006");
	reply_free(&rep);
}

static void
lost(struct hold *hd, int code, const char *sqlstate, const char *msg)
{
	(void)hd, (void)code, (void)sqlstate;
	cr_assert_fail("the pool took the transaction's connection: %s", msg);
}

/* In a transaction it runs on the held connection: a temporary table there is seen. */
Test(describe_pg, in_a_transaction_runs_on_the_held_connection)
{
	struct hold hd = { .lost = lost };
	struct reply rep;
	struct request *r;

	pg_setup();
	pg_up("primary");
	r = mkreq(REQ_BEGIN, &rep, NULL);
	r->hold = &hd;
	run(r, &rep);
	cr_assert(!rep.failed && hd.conn != NULL && hd.in_txn);
	reply_free(&rep);
	r = mkreq(REQ_EXEC, &rep, "CREATE TEMP TABLE tt (a int8)");
	r->hold = &hd;
	run(r, &rep);
	cr_assert(!rep.failed);
	reply_free(&rep);
	r = mkreq(REQ_DESCRIBE, &rep, "SELECT a FROM tt");
	r->hold = &hd;
	run(r, &rep);
	cr_assert(!rep.failed);
	expect_complete(&rep, 0, "PARAMETERS", true);
	expect_desc(&rep, 1, 1, (const char *[]){ "a" }, (const uint32_t[]){ oid_int8 }, NULL);
	reply_free(&rep);
	cr_assert(hd.conn != NULL && hd.in_txn, "the describe ended the transaction");
	r = mkreq(REQ_ROLLBACK, &rep, NULL);
	r->hold = &hd;
	run(r, &rep);
	cr_assert(!rep.failed && hd.conn == NULL);
	reply_free(&rep);
}

/* A describe is never cached, and never stores anything. */
Test(describe_pg, is_never_cached)
{
	struct cache_stats st;
	struct reply rep;
	struct request *r;
	int i;

	pg_setup();
	pg_up("primary");
	for (i = 0; i < 2; i++) {
		r = mkreq(REQ_DESCRIBE, &rep, "SELECT 1 AS one");
		r->cache_max_age = 60000;
		run(r, &rep);
		cr_assert(!rep.failed);
		expect_complete(&rep, 0, "PARAMETERS", true);
		expect_complete(&rep, 2, "DESCRIBE", false);
		reply_free(&rep);
	}
	h.pool->cache_ops->stats(h.pool->cache, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.hits, 0);
}

/* PostgreSQL: declared parameter types. */

/* An int8 sent in binary: its 8 bytes, big-endian, with type 20. */
static void
int8_param(struct request *r, int64_t v, const uint32_t *types)
{
	uint64_t u = (uint64_t)v;
	char be[8];
	int i;

	for (i = 0; i < 8; i++)
		be[i] = (char)(u >> (56 - 8 * i));
	set_params(r, 1, (const char *const[]){ be }, (const uint32_t[]){ 8 },
	    (const uint8_t[]){ PROTO_FORMAT_BINARY }, types);
}

Test(describe_pg, typed_binary_int8_parameter)
{
	struct reply rep;
	struct request *r;
	char *v;

	pg_setup();
	pg_up("primary");
	r = mkreq(REQ_EXEC, &rep, "SELECT $1 + 1 AS n, pg_typeof($1)::text AS t");
	int8_param(r, 5000000000LL, (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "5000000001");
	free(v);
	v = value_of(&rep, 1, 1);
	cr_assert_str_eq(v, "bigint");
	free(v);
	reply_free(&rep);
	/* A negative one, and the same on a read_only role's transaction below. */
	r = mkreq(REQ_EXEC, &rep, "SELECT $1 AS n");
	int8_param(r, -2, (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "-2");
	free(v);
	reply_free(&rep);
}

Test(describe_pg, typed_parameters_on_a_read_only_role)
{
	struct reply rep;
	struct request *r;
	char *v;

	pg_setup();
	pg_db_new();
	{
		char *uri = pg_uri();

		pool_up(uri, "read_only");
		free(uri);
	}
	r = mkreq(REQ_EXEC, &rep, "SELECT $1 * 2 AS n");
	int8_param(r, 21, (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "42");
	free(v);
	reply_free(&rep);
}

/* Declared types without parameters: the statement runs, through the extended protocol. */
Test(describe_pg, declared_types_without_parameters)
{
	struct reply rep;
	struct request *r;
	char *v;

	pg_setup();
	pg_up("primary");
	r = mkreq(REQ_EXEC, &rep, "SELECT 7 AS seven");
	cr_assert_not_null(r->types = calloc(1, sizeof(uint32_t)));
	run(r, &rep);
	cr_assert(!rep.failed);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "7");
	free(v);
	reply_free(&rep);
	r = mkreq(REQ_EXEC, &rep, "SELECT 1; SELECT 2");
	cr_assert_not_null(r->types = calloc(1, sizeof(uint32_t)));
	run(r, &rep);
	expect_only_error(&rep, "42601");
	reply_free(&rep);
}

/* The same text and bytes with other declared types are another statement to the cache. */
Test(describe_pg, cache_key_holds_the_declared_types)
{
	static const char *const sql = "SELECT $1 = '01' AS eq";
	struct proto_complete m;
	struct reply rep;
	struct request *r;
	char *v;
	int i;
	const struct {
		const uint32_t	*types;
		const char	*want;
		uint8_t		 cache;
	} runs[] = {
		{ NULL, "f", PROTO_CACHE_MISS },			/* text = text */
		{ (const uint32_t[]){ oid_int8 }, "t", PROTO_CACHE_MISS },	/* 1 = 1 */
		{ (const uint32_t[]){ oid_int8 }, "t", PROTO_CACHE_HIT },
		{ NULL, "f", PROTO_CACHE_HIT },
		{ (const uint32_t[]){ 0 }, "f", PROTO_CACHE_HIT },	/* 0: inferred */
	};

	pg_setup();
	pg_up("primary");
	for (i = 0; i < (int)(sizeof(runs) / sizeof(runs[0])); i++) {
		r = mkreq(REQ_EXEC, &rep, sql);
		set_params(r, 1, (const char *const[]){ "1" }, NULL, NULL, runs[i].types);
		r->cache_max_age = 60000;
		run(r, &rep);
		cr_assert(!rep.failed, "run %d failed", i);
		v = value_of(&rep, 1, 0);
		cr_assert_str_eq(v, runs[i].want, "run %d: %s", i, v);
		free(v);
		expect_frame(&rep, 2, PROTO_MSG_COMPLETE);
		cr_assert_eq(proto_decode_complete(&rep.ev[2].f, &m), PROTO_DERR_OK);
		cr_assert_eq(m.cache_state, runs[i].cache, "run %d: cache state %d", i,
		    m.cache_state);
		reply_free(&rep);
	}
}

/* PostgreSQL: the fields of errors and notices. */

Test(describe_pg, error_fields_come_just_before_the_error)
{
	struct proto_error e;
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_EXEC, &rep, "SELECT * FROM nosuch"), &rep);
	cr_assert_eq(rep.nev, 2);
	cr_assert(rep.ev[0].fields && !rep.ev[0].notice);
	cr_assert_str_eq(field_at(&rep, 0, 'S'), "ERROR");
	cr_assert_str_eq(field_at(&rep, 0, 'V'), "ERROR");
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "42P01");
	cr_assert_str_eq(field_at(&rep, 0, 'P'), "15");
	cr_assert_not_null(field_at(&rep, 0, 'M'));
	cr_assert_not_null(field_at(&rep, 0, 'F'));
	cr_assert_not_null(field_at(&rep, 0, 'L'));
	cr_assert_not_null(field_at(&rep, 0, 'R'));
	e = error_of(&rep, 1);
	cr_assert_str_eq(e.sqlstate, "42P01");
	cr_assert_str_eq(e.message, field_at(&rep, 0, 'M'));
	reply_free(&rep);
	/* The same position after a row: the rows go first. */
	run(mkreq(REQ_EXEC, &rep, "SELECT 1/(2 - i) FROM generate_series(1, 3) i"), &rep);
	cr_assert(rep.failed);
	cr_assert_eq(count_fields(&rep), 1);
	expect_frame(&rep, 0, PROTO_MSG_ROW_DESC);
	expect_frame(&rep, 1, PROTO_MSG_DATA_ROW);
	cr_assert_str_eq(field_at(&rep, rep.nev - 2, 'C'), "22012");
	error_of(&rep, rep.nev - 1);
	reply_free(&rep);
}

/* On a read_only role dbmd's BEGIN goes before the text: the position is the client's. */
Test(describe_pg, error_position_is_the_clients_on_a_read_only_role)
{
	struct reply rep;

	pg_setup();
	pg_db_new();
	{
		char *uri = pg_uri();

		pool_up(uri, "read_only");
		free(uri);
	}
	run(mkreq(REQ_EXEC, &rep, "SELECT * FROM nosuch"), &rep);
	cr_assert_eq(rep.nev, 2);
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "42P01");
	cr_assert_str_eq(field_at(&rep, 0, 'P'), "15");
	reply_free(&rep);
	run(mkreq(REQ_EXEC, &rep, "SELEC 1"), &rep);
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "42601");
	cr_assert_str_eq(field_at(&rep, 0, 'P'), "1");
	reply_free(&rep);
}

Test(describe_pg, raised_error_gives_detail_hint_and_context)
{
	struct proto_error e;
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_EXEC, &rep, "DO $$BEGIN RAISE EXCEPTION 'boom %', 1 USING "
	    "DETAIL = 'the detail', HINT = 'the hint', ERRCODE = '22023'; END$$"), &rep);
	cr_assert_eq(rep.nev, 2);
	cr_assert_str_eq(field_at(&rep, 0, 'S'), "ERROR");
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "22023");
	cr_assert_str_eq(field_at(&rep, 0, 'M'), "boom 1");
	cr_assert_str_eq(field_at(&rep, 0, 'D'), "the detail");
	cr_assert_str_eq(field_at(&rep, 0, 'H'), "the hint");
	cr_assert_not_null(field_at(&rep, 0, 'W'));
	cr_assert_null(field(&rep.ev[0], 'P'));
	e = error_of(&rep, 1);
	cr_assert_str_eq(e.detail, "the detail");
	cr_assert_str_eq(e.hint, "the hint");
	reply_free(&rep);
}

/* A describe's error has its fields too. */
Test(describe_pg, describe_error_has_its_fields)
{
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT nosuch FROM pg_class"), &rep);
	expect_only_error(&rep, "42703");
	cr_assert_eq(rep.nev, 2);
	cr_assert_str_eq(field_at(&rep, 0, 'P'), "8");
	reply_free(&rep);
}

Test(describe_pg, notices_arrive_in_order_before_the_end)
{
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_EXEC, &rep, "DO $$BEGIN RAISE NOTICE 'one'; RAISE WARNING 'two' USING "
	    "HINT = 'a hint'; END$$"), &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 3);
	cr_assert(rep.ev[0].notice && rep.ev[1].notice);
	cr_assert_str_eq(field_at(&rep, 0, 'S'), "NOTICE");
	cr_assert_str_eq(field_at(&rep, 0, 'V'), "NOTICE");
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "00000");
	cr_assert_str_eq(field_at(&rep, 0, 'M'), "one");
	cr_assert_str_eq(field_at(&rep, 1, 'S'), "WARNING");
	cr_assert_str_eq(field_at(&rep, 1, 'C'), "01000");
	cr_assert_str_eq(field_at(&rep, 1, 'M'), "two");
	cr_assert_str_eq(field_at(&rep, 1, 'H'), "a hint");
	expect_frame(&rep, 2, PROTO_MSG_COMPLETE);
	reply_free(&rep);
}

/* A notice raised for each row comes before the next row, and all before the end. */
Test(describe_pg, notices_keep_their_place_among_the_rows)
{
	struct reply rep;
	size_t i, rows = 0, notices = 0;
	char *v, want[16];

	pg_setup();
	pg_up("primary");
	exec_ok("CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS "
	    "$$BEGIN RAISE NOTICE 'row %', i; RETURN i; END$$");
	run(mkreq(REQ_EXEC, &rep, "SELECT noisy(i) AS n FROM generate_series(1, 5) i"), &rep);
	cr_assert(!rep.failed);
	for (i = 0; i < rep.nev; i++) {
		if (rep.ev[i].fields) {
			cr_assert(rep.ev[i].notice);
			snprintf(want, sizeof(want), "row %zu", ++notices);
			cr_assert_str_eq(field_at(&rep, i, 'M'), want);
			/* Notice k is never behind row k + 1. */
			cr_assert_geq(notices, rows, "notice %zu after row %zu", notices, rows);
		} else if (rep.ev[i].f.hdr.type == PROTO_MSG_DATA_ROW) {
			v = value_of(&rep, i, 0);
			cr_assert_eq(atoi(v), (int)++rows);
			free(v);
			cr_assert_geq(notices + 1, rows, "row %zu before notice %zu", rows,
			    notices + 1);
		}
	}
	cr_assert_eq(notices, 5);
	cr_assert_eq(rows, 5);
	expect_frame(&rep, rep.nev - 1, PROTO_MSG_COMPLETE);
	reply_free(&rep);
}

/* The client's COMMIT outside a transaction warns it; dbmd's own requests warn no one. */
Test(describe_pg, notices_of_dbmds_own_queries_reach_no_one)
{
	struct reply rep;

	pg_setup();
	pg_up("primary");
	run(mkreq(REQ_EXEC, &rep, "COMMIT"), &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(count_fields(&rep), 1);
	cr_assert_str_eq(field_at(&rep, 0, 'C'), "25P01");
	reply_free(&rep);
	run(mkreq(REQ_COMMIT, &rep, NULL), &rep);
	cr_assert_eq(count_fields(&rep), 0);
	reply_free(&rep);
	run(mkreq(REQ_ROLLBACK, &rep, NULL), &rep);
	cr_assert_eq(count_fields(&rep), 0);
	reply_free(&rep);
}

/* An owner that takes no fields gets the reply it always got. */
Test(describe_pg, owners_without_pg_fields_get_frames_only)
{
	struct reply rep;
	struct request *r;

	pg_setup();
	pg_up("primary");
	r = mkreq(REQ_EXEC, &rep, "DO $$BEGIN RAISE NOTICE 'quiet'; END$$");
	r->ops = &native_ops;
	run(r, &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 1);
	expect_frame(&rep, 0, PROTO_MSG_COMPLETE);
	reply_free(&rep);
	r = mkreq(REQ_EXEC, &rep, "SELEC 1");
	r->ops = &native_ops;
	run(r, &rep);
	expect_only_error(&rep, "42601");
	cr_assert_eq(rep.nev, 1);
	reply_free(&rep);
}

/* The cache stores a reply's frames: a hit has the rows and none of the notices. */
Test(describe_pg, cached_reply_holds_frames_only)
{
	struct proto_complete m;
	struct reply rep;
	struct request *r;
	char *v;
	int i;

	pg_setup();
	pg_up("primary");
	exec_ok("CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS "
	    "$$BEGIN RAISE NOTICE 'computing %', i; RETURN i * 2; END$$");
	for (i = 0; i < 2; i++) {
		r = mkreq(REQ_EXEC, &rep, "SELECT noisy(21) AS n");
		r->cache_max_age = 60000;
		run(r, &rep);
		cr_assert(!rep.failed);
		cr_assert_eq(count_fields(&rep), i == 0 ? 1 : 0, "run %d", i);
		cr_assert_eq(rep.nev, i == 0 ? 4 : 3);
		v = value_of(&rep, find_frame(&rep, PROTO_MSG_DATA_ROW), 0);
		cr_assert_str_eq(v, "42");
		free(v);
		expect_frame(&rep, rep.nev - 1, PROTO_MSG_COMPLETE);
		cr_assert_eq(proto_decode_complete(&rep.ev[rep.nev - 1].f, &m), PROTO_DERR_OK);
		cr_assert_eq(m.cache_state, i == 0 ? PROTO_CACHE_MISS : PROTO_CACHE_HIT);
		reply_free(&rep);
	}
}

/* SQLite. */

static void
sq_fini(void)
{
	pool_down();
	t_teardown();
}

TestSuite(describe_sqlite, .init = sq_init, .fini = sq_fini, .timeout = 30);

Test(describe_sqlite, gives_parameter_and_column_types_without_running)
{
	struct reply rep;
	struct request *r;

	exec_ok("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2), "
	    "data BLOB, flag BOOLEAN)");
	r = mkreq(REQ_DESCRIBE, &rep, "SELECT id, name, price, data, flag, id + 1 AS expr "
	    "FROM t WHERE id = $1 AND name = $2");
	set_params(r, 1, NULL, NULL, NULL, (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 4);
	/* $1 as declared, $2 text: SQLite has no parameter types. */
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_int8, oid_text }, NULL);
	expect_complete(&rep, 1, "PARAMETERS", true);
	expect_desc(&rep, 2, 6, (const char *[]){ "id", "name", "price", "data", "flag", "expr" },
	    (const uint32_t[]){ oid_int8, oid_text, 1700, 17, 16, oid_text }, NULL);
	expect_complete(&rep, 3, "DESCRIBE", false);
	reply_free(&rep);
	cr_assert_eq(h.pool->stats.statements, 1);
}

Test(describe_sqlite, parameters_are_numbered_as_exec_binds_them)
{
	struct reply rep;

	run(mkreq(REQ_DESCRIBE, &rep, "SELECT $3, $1"), &rep);
	cr_assert(!rep.failed);
	expect_desc(&rep, 0, 3, (const char *[]){ "$1", "$2", "$3" },
	    (const uint32_t[]){ oid_text, oid_text, oid_text }, NULL);
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT ?, ?"), &rep);
	cr_assert(!rep.failed);
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_text, oid_text }, NULL);
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT :name"), &rep);
	expect_only_error(&rep, "08P01");
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, ""), &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 2);
	expect_complete(&rep, 0, "PARAMETERS", true);
	expect_complete(&rep, 1, "DESCRIBE", false);
	reply_free(&rep);
}

Test(describe_sqlite, insert_has_parameters_and_no_columns_and_runs_nothing)
{
	struct reply rep;
	char *v;

	exec_ok("CREATE TABLE t (id INTEGER, name TEXT)");
	run(mkreq(REQ_DESCRIBE, &rep, "INSERT INTO t VALUES ($1, $2)"), &rep);
	cr_assert(!rep.failed);
	cr_assert_eq(rep.nev, 3);
	expect_desc(&rep, 0, 2, (const char *[]){ "$1", "$2" },
	    (const uint32_t[]){ oid_text, oid_text }, NULL);
	expect_complete(&rep, 1, "PARAMETERS", true);
	expect_complete(&rep, 2, "DESCRIBE", false);
	reply_free(&rep);
	run(mkreq(REQ_EXEC, &rep, "SELECT count(*) FROM t"), &rep);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "0");
	free(v);
	reply_free(&rep);
}

Test(describe_sqlite, errors_end_the_reply_as_execs_do)
{
	struct proto_error e;
	struct reply rep;

	run(mkreq(REQ_DESCRIBE, &rep, "SELEC 1"), &rep);
	expect_only_error(&rep, "42601");
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT * FROM nosuch"), &rep);
	expect_only_error(&rep, "42P01");
	reply_free(&rep);
	run(mkreq(REQ_DESCRIBE, &rep, "SELECT 1; SELECT 2"), &rep);
	e = expect_only_error(&rep, "42601");
	cr_assert(strstr(e.message, "several statements") != NULL, "%s", e.message);
	reply_free(&rep);
	/* The authorizer holds for a describe: no other file is reached. */
	run(mkreq(REQ_DESCRIBE, &rep, "ATTACH DATABASE '/tmp/x.db' AS x"), &rep);
	e = expect_only_error(&rep, "42501");
	cr_assert(strstr(e.message, "ATTACH") != NULL, "%s", e.message);
	reply_free(&rep);
	/* SQLite's errors have no fields to add. */
	run(mkreq(REQ_DESCRIBE, &rep, "SELEC 1"), &rep);
	cr_assert_eq(count_fields(&rep), 0);
	reply_free(&rep);
}

/* Describing CREATE TEMP TABLE creates nothing, and leaves the connection clean. */
Test(describe_sqlite, describing_creates_nothing)
{
	struct reply rep;
	struct conn *c;

	run(mkreq(REQ_DESCRIBE, &rep, "CREATE TEMP TABLE tt (a INTEGER)"), &rep);
	cr_assert(!rep.failed);
	reply_free(&rep);
	c = TAILQ_FIRST(&h.pool->conns[CONN_IDLE]);
	cr_assert_not_null(c);
	cr_assert(!c->session_dirty);
	run(mkreq(REQ_EXEC, &rep, "SELECT * FROM tt"), &rep);
	expect_only_error(&rep, "42P01");
	reply_free(&rep);
}

/* SQLite takes the front door's parameters as text and ignores their declared types. */
Test(describe_sqlite, declared_types_are_ignored)
{
	struct reply rep;
	struct request *r;
	char *v;

	r = mkreq(REQ_EXEC, &rep, "SELECT $1 + 1 AS n");
	set_params(r, 1, (const char *const[]){ "41" }, NULL, NULL,
	    (const uint32_t[]){ oid_int8 });
	run(r, &rep);
	cr_assert(!rep.failed);
	v = value_of(&rep, 1, 0);
	cr_assert_str_eq(v, "42");
	free(v);
	reply_free(&rep);
}
