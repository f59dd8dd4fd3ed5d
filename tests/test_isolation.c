/* test_isolation.c: one client against the others: read_only, session state, memory, connections, time, access. */

/*
 * Style convention 17 as tests: every client is hostile.  A client must not
 * write through a read_only role whatever SQL it sends, leave session state
 * for the next client of a connection, grow dbmd by sending and never
 * reading, hold every connection of a pool, keep a transaction or a stalled
 * reply forever, wedge its reply with a frame larger than it accepts, or keep
 * access a reload took away.
 *
 * The PostgreSQL tests (suite iso_pg) run on a database of their own on the
 * server of tests/pg_harness.sh (tests/pg.h); the others (suite iso) on
 * SQLite.  Tests that act as a second user need root; they skip otherwise.
 * Every wait is a condition polled until a deadline scaled by t_slow(); the
 * memory tests sample dbmd's RSS for a window after the flood, the only way to
 * show that something does not happen.
 */

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <grp.h>
#include <pwd.h>

#include "pg.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* One .timeout for both suites (see test_broker.c: Criterion leaks otherwise). */
TestSuite(iso_pg, .init = pg_setup, .fini = pg_teardown, .timeout = 120);
TestSuite(iso, .init = t_setup, .fini = t_teardown, .timeout = 120);

#define BIG_PG_SQL	"SELECT repeat('x', 1000) FROM generate_series(1, 200000)"
#define BIG_SQLITE_SQL	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " \
			"WHERE x < 200000) SELECT x, printf('%01000d', x) FROM c"

/*
 * Helpers.
 */

/* A --set with a duration in ms, scaled like every wait of the tests. */
static char *
set_ms(const char *key, int ms)
{
	return t_strf("%s=%dms", key, ms * t_slow());
}

/* The test's directory and socket must be reachable by nobody. */
static void
skip_unless_root(void)
{
	if (geteuid() != 0) {
		pg_teardown();
		cr_skip_test("needs root to act as a second user");
	}
	chmod(t_h.dir, 0755);
}

/*
 * Forks a child that drops to the user nobody and runs fn, which reports what it saw
 * in its exit code (Criterion's assertions are the parent's).  Returns the pid.
 */
static pid_t
fork_nobody(int (*fn)(const struct t_dbmd *, void *), const struct t_dbmd *d, void *arg)
{
	struct passwd	*pw = getpwnam("nobody");
	pid_t		 pid;

	cr_assert_not_null(pw, "no user nobody");
	pid = t_fork();
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(100);
		_exit(fn(d, arg));
	}
	return pid;
}

/* Waits for a child of fork_nobody; its exit code. */
static int
wait_nobody(pid_t pid)
{
	int	 st;

	cr_assert(t_wait_pid(pid, 30000 * t_slow(), &st), "the child acting as nobody hangs");
	cr_assert(WIFEXITED(st), "the child acting as nobody died: %d", t_exit_code(st));
	return WEXITSTATUS(st);
}

/* dbmd's resident memory now, in KiB. */
static long
rss_kb(pid_t pid)
{
	char	*path = t_strf("/proc/%ld/status", (long)pid), *s = t_slurp(path), *p;
	long	 kb = -1;

	if ((p = strstr(s, "VmRSS:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(s);
	free(path);
	cr_assert(kb > 0, "no VmRSS for dbmd (pid %ld)", (long)pid);
	return kb;
}

/*
 * The most dbmd's RSS grows over base_kb in a window of ms (scaled), sampled; stops
 * early once it passes limit_kb.
 */
static long
rss_growth(pid_t pid, long base_kb, long limit_kb, int ms)
{
	int64_t	 end = t_now_ms() + (int64_t)ms * t_slow();
	long	 most = 0, g;

	for (;;) {
		g = rss_kb(pid) - base_kb;
		if (g > most)
			most = g;
		if (most >= limit_kb || t_now_ms() >= end)
			return most;
		t_sleep_ms(20);
	}
}

/*
 * Sends n bytes without ever reading: until all are sent or dbmd takes none for ms
 * (scaled), that is, it stopped reading us.  Returns the bytes sent.
 */
static size_t
send_unread(int fd, const uint8_t *p, size_t n, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };
	size_t		 sent = 0;
	ssize_t		 w;

	while (sent < n) {
		w = send(fd, p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		cr_assert(w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "send: %s",
		    w == 0 ? "nothing sent" : strerror(errno));
		if (poll(&pfd, 1, ms * t_slow()) == 0)
			break;
	}
	return sent;
}

/* A raw connection after HELLO. */
static int
raw_start(const struct t_dbmd *d, struct proto_decoder *dec, uint32_t max_frame)
{
	int	 fd = t_raw_connect(d);

	proto_decoder_init(dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello_max(fd, dec, max_frame);
	return fd;
}

/* Appends an EXEC frame to b. */
static void
raw_exec_frame(struct proto_buf *b, uint32_t reqid, uint32_t handle, const char *sql,
    uint32_t cache_ms)
{
	struct proto_exec	 m = { .handle_id = handle, .sql = sql,
	    .cache_max_age_ms = cache_ms };

	cr_assert_eq(proto_encode_exec(b, reqid, &m), PROTO_E_OK);
}

static void
raw_exec(int fd, uint32_t reqid, uint32_t handle, const char *sql)
{
	struct proto_buf	 b;

	proto_buf_init(&b);
	raw_exec_frame(&b, reqid, handle, sql, 0);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0, "dbmd closed the connection");
	proto_buf_free(&b);
}

/* How a reply ended. */
struct reply_end {
	uint16_t	 type;		/* PROTO_MSG_COMPLETE or PROTO_MSG_ERROR */
	uint16_t	 code;		/* ERROR's */
	char		 sqlstate[8];
	char		*msg;		/* ERROR's message, copied; free it */
	long		 rows;		/* DATA_ROWs before the end */
	uint32_t	 payload;	/* the largest frame's payload */
};

/*
 * Reads request reqid's reply to its end, each frame within ms (scaled): a reply that
 * stops, or a frame over the decoder's limit, fails the test.
 */
static void
raw_reply(int fd, struct proto_decoder *dec, uint32_t reqid, int ms, struct reply_end *e)
{
	struct proto_frame	 f;
	struct proto_error	 err;
	int			 r;

	memset(e, 0, sizeof(*e));
	for (;;) {
		r = t_raw_next(fd, dec, &f, ms);
		cr_assert_eq(r, 1, "request %u: the reply stopped after %ld rows (%s)", reqid,
		    e->rows, r == 0 ? "connection closed" : "nothing more came in time");
		cr_assert_neq(f.hdr.type, PROTO_MSG_GOODBYE, "request %u: GOODBYE", reqid);
		cr_assert_eq(f.hdr.request_id, reqid, "%s of request %u while reading %u",
		    proto_msg_name(f.hdr.type), f.hdr.request_id, reqid);
		if (f.hdr.length > e->payload)
			e->payload = f.hdr.length;
		switch (f.hdr.type) {
		case PROTO_MSG_ROW_DESC:
			continue;
		case PROTO_MSG_DATA_ROW:
			e->rows++;
			continue;
		case PROTO_MSG_COMPLETE:
			if (f.hdr.flags & PROTO_F_MORE)
				continue;
			e->type = f.hdr.type;
			return;
		case PROTO_MSG_ERROR:
			cr_assert_eq(proto_decode_error(&f, &err), PROTO_DERR_OK,
			    "malformed ERROR");
			e->type = f.hdr.type;
			e->code = err.code;
			snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", err.sqlstate);
			e->msg = t_strf("%s", err.message);
			return;
		default:
			cr_assert_fail("request %u: unexpected %s", reqid,
			    proto_msg_name(f.hdr.type));
		}
	}
}

/* Starts dbmd on the test's PostgreSQL database with a pool of one connection. */
static void
pg_start_one(struct t_dbmd *d, const char *extra1, const char *extra2)
{
	char	*acq = set_ms("production.acquire_timeout", 5000);

	pg_dbmd_start(d, NULL, "production.pool_size=1", acq, extra1, extra2, NULL);
	free(acq);
}

/*
 * A. A read_only PostgreSQL role cannot be made to write, whatever SQL it sends.
 */

struct ro_case {
	char	 name[48];
	char	 sql[4][128];	/* in order; "@begin", "@commit": dbm_begin, dbm_commit */
	int	 write;		/* the index of the write, which must fail */
};

ParameterizedTestParameters(iso_pg, read_only_cannot_be_made_writable)
{
	static struct ro_case cases[] = {
		{ "START TRANSACTION READ WRITE", { "START TRANSACTION READ WRITE",
		    "CREATE TABLE x (i int)", "COMMIT" }, 1 },
		{ "SET default_transaction_read_only", {
		    "SET default_transaction_read_only = off", "CREATE TABLE x (i int)" }, 1 },
		{ "SET SESSION CHARACTERISTICS", {
		    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
		    "INSERT INTO t VALUES (1)" }, 1 },
		{ "set_config default_transaction_read_only", {
		    "SELECT set_config('default_transaction_read_only', 'off', false)",
		    "INSERT INTO t VALUES (1)" }, 1 },
		{ "set_config transaction_read_only", {
		    "SELECT set_config('transaction_read_only', 'off', false)",
		    "INSERT INTO t VALUES (1)" }, 1 },
		{ "SET transaction_read_only", { "SET transaction_read_only = off",
		    "INSERT INTO t VALUES (1)" }, 1 },
		{ "RESET ALL", { "RESET ALL", "INSERT INTO t VALUES (1)" }, 1 },
		{ "DO block", {
		    "DO $$ BEGIN SET TRANSACTION READ WRITE; CREATE TABLE y (i int); END $$" },
		    0 },
		{ "a function that inserts", { "SELECT ins()" }, 0 },
		{ "dbm_begin, SET TRANSACTION READ WRITE", { "@begin",
		    "SET TRANSACTION READ WRITE", "INSERT INTO t VALUES (1)", "@commit" }, 2 },
		{ "a comment before START", { "/* x */ START TRANSACTION READ WRITE",
		    "CREATE TABLE x (i int)", "COMMIT" }, 1 },
		{ "BEGIN in a nested comment", { "/* /* */ BEGIN */ CREATE TABLE x (i int)" },
		    0 },
		{ "BEGIN in a line comment", { "-- BEGIN\nINSERT INTO t VALUES (1)" }, 0 },
	};

	return cr_make_param_array(struct ro_case, cases, ARRAY_LEN(cases));
}

ParameterizedTest(struct ro_case *rc, iso_pg, read_only_cannot_be_made_writable)
{
	struct t_dbmd	 d;
	dbm_conn	*c, *rc_conn;
	dbm_handle	*p, *ro;
	dbm_result	*r;
	int		 i, st;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	p = t_open(c, "production", "primary");
	t_exec0(p, "CREATE TABLE t (i int)", 0, NULL);
	t_exec0(p, "CREATE FUNCTION ins() RETURNS int LANGUAGE plpgsql AS "
	    "$$ BEGIN INSERT INTO t VALUES (1); RETURN 1; END $$", 0, NULL);

	rc_conn = t_connect(&d);
	ro = t_open(rc_conn, "production", "read_only");
	for (i = 0; i < 4 && rc->sql[i][0] != '\0'; i++) {
		if (strcmp(rc->sql[i], "@begin") == 0) {
			cr_assert_eq(dbm_begin(ro), DBM_OK, "%s: BEGIN: %s", rc->name,
			    dbm_errmsg(rc_conn));
			continue;
		}
		if (strcmp(rc->sql[i], "@commit") == 0) {
			dbm_commit(ro);
			continue;
		}
		r = dbm_exec(ro, rc->sql[i], 0, NULL);
		cr_assert_not_null(r, "%s: %s: the connection failed: %s", rc->name, rc->sql[i],
		    dbm_errmsg(rc_conn));
		st = dbm_result_status(r);
		if (i == rc->write)
			cr_assert_neq(st, DBM_OK, "%s: the write \"%s\" succeeded through read_only",
			    rc->name, rc->sql[i]);
		dbm_result_free(r);
	}
	/* Whatever it left open ends with the client. */
	dbm_disconnect(rc_conn);

	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM pg_class WHERE relname IN "
	    "('x', 'y')", 0, NULL), 0, "%s: a table was created through read_only", rc->name);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0,
	    "%s: a row was inserted through read_only", rc->name);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(iso_pg, read_only_still_reads_with_and_without_parameters_and_in_transactions)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*p, *ro;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	p = t_open(c, "production", "primary");
	t_exec0(p, "CREATE TABLE t (i int)", 0, NULL);
	t_exec0(p, "INSERT INTO t VALUES (1), (2)", 0, NULL);
	ro = t_open(c, "production", "read_only");
	v = t_value(ro, "SELECT count(*) FROM t", 0, NULL);
	cr_assert_str_eq(v, "2");
	free(v);
	v = t_value(ro, "SELECT sum(i) + $1::int FROM t", 1, (const char *[]){ "39" });
	cr_assert_str_eq(v, "42");
	free(v);

	t_exec0(ro, "BEGIN", 0, NULL);
	v = t_value(ro, "SELECT max(i) FROM t", 0, NULL);
	cr_assert_str_eq(v, "2");
	free(v);
	v = t_value(ro, "SELECT count(*) FROM t WHERE i = $1", 1, (const char *[]){ "1" });
	cr_assert_str_eq(v, "1");
	free(v);
	v = t_value(ro, "SHOW transaction_read_only", 0, NULL);
	cr_assert_str_eq(v, "on");
	free(v);
	t_exec0(ro, "COMMIT", 0, NULL);

	cr_assert_eq(dbm_begin(ro), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	v = t_value(ro, "SELECT min(i) FROM t", 0, NULL);
	cr_assert_str_eq(v, "1");
	free(v);
	cr_assert_eq(dbm_commit(ro), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	v = t_value(ro, "SELECT 'still reads'", 0, NULL);
	cr_assert_str_eq(v, "still reads");
	free(v);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * B. Session state one client leaves on a connection does not reach the next client of
 * that connection (pool_size=1: both use the one connection; A keeps its handle).
 */

struct carry_case {
	char	 name[40];
	char	 setup[5][96];	/* on the database directly; %s: the test's database */
	char	 a_role[16];
	char	 a_sql[96];	/* client A's; %s as above */
	char	 b_role[16];
	char	 b_sql[192];	/* client B's, after */
	int	 b_fails;	/* B's statement must fail */
	char	 want[16];	/* else its one value */
	char	 check[64];	/* then on the database directly, if not "" ... */
	char	 check_want[16];	/* ... gives this */
};

#define EVIL_SETUP { "CREATE TABLE acct (v text)", "INSERT INTO acct VALUES ('public')", \
	"CREATE SCHEMA evil", "CREATE TABLE evil.acct (v text)", \
	"INSERT INTO evil.acct VALUES ('evil')" }

ParameterizedTestParameters(iso_pg, session_state_does_not_reach_the_next_client)
{
	static struct carry_case cases[] = {
		{ "search_path", EVIL_SETUP, "primary", "SET search_path = evil, public",
		    "primary", "SELECT v FROM acct", 0, "public", "", "" },
		{ "search_path by set_config", EVIL_SETUP, "primary",
		    "SELECT set_config('search_path', 'evil, public', false)",
		    "primary", "SELECT v FROM acct", 0, "public", "", "" },
		{ "statement_timeout", { "" }, "primary", "SET statement_timeout = '1ms'",
		    "primary", "SELECT 'slept' FROM pg_sleep(0.05)", 0, "slept", "", "" },
		{ "SET ROLE", { "CREATE ROLE iso_%s" }, "primary", "SET ROLE iso_%s",
		    "primary", "SELECT current_user", 0, "postgres", "", "" },
		{ "SET SESSION AUTHORIZATION", { "CREATE ROLE iso_%s" }, "primary",
		    "SET SESSION AUTHORIZATION iso_%s",
		    "primary", "SELECT session_user", 0, "postgres", "", "" },
		{ "a custom setting", { "" }, "primary", "SET myapp.tenant = 'a'",
		    "primary", "SELECT coalesce(current_setting('myapp.tenant', true), '')", 0,
		    "", "", "" },
		{ "temporary table", { "" }, "primary", "CREATE TEMP TABLE scratch (v text)",
		    "primary", "SELECT count(*) FROM scratch", 1, "", "", "" },
		{ "prepared statement", { "" }, "primary", "PREPARE p AS SELECT 1",
		    "primary", "EXECUTE p", 1, "", "", "" },
		{ "advisory lock", { "" }, "primary", "SELECT pg_advisory_lock(42)",
		    "primary", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
		    "database = (SELECT oid FROM pg_database WHERE datname = current_database())",
		    0, "0", "SELECT pg_try_advisory_lock(42)::int", "1" },
		{ "read_only turned off", { "CREATE TABLE acct (v text)" }, "read_only",
		    "SET default_transaction_read_only = off",
		    "read_only", "INSERT INTO acct VALUES ('ro')", 1, "",
		    "SELECT count(*) FROM acct", "0" },
	};

	return cr_make_param_array(struct carry_case, cases, ARRAY_LEN(cases));
}

ParameterizedTest(struct carry_case *cc, iso_pg, session_state_does_not_reach_the_next_client)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	dbm_result	*r;
	char		*sql, *v;
	int		 i;

	pg_db_new();
	for (i = 0; i < 5 && cc->setup[i][0] != '\0'; i++) {
		sql = t_strf(cc->setup[i], pg.db);
		pq_exec0(pg.check, sql, 0, NULL);
		free(sql);
	}
	pg_start_one(&d, NULL, NULL);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "production", cc->a_role);
	sql = t_strf(cc->a_sql, pg.db);
	t_exec0(ha, sql, 0, NULL);
	free(sql);

	/* A's handle stays open: B's statement must still find a clean session. */
	hb = t_open(cb, "production", cc->b_role);
	r = dbm_exec(hb, cc->b_sql, 0, NULL);
	cr_assert_not_null(r, "%s: %s: the connection failed: %s", cc->name, cc->b_sql,
	    dbm_errmsg(cb));
	if (cc->b_fails)
		cr_assert_neq(dbm_result_status(r), DBM_OK, "%s: B's \"%s\" succeeded: it saw "
		    "A's session", cc->name, cc->b_sql);
	else {
		cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: B's \"%s\" failed: %s (%s)",
		    cc->name, cc->b_sql, dbm_result_errmsg(r), dbm_result_sqlstate(r));
		cr_assert_str_eq(dbm_value(r, 0, 0), cc->want, "%s: B's \"%s\" gave %s, not %s",
		    cc->name, cc->b_sql, dbm_value(r, 0, 0), cc->want);
	}
	dbm_result_free(r);
	if (cc->check[0] != '\0') {
		v = pq_str(pg.check, cc->check, 0, NULL);
		cr_assert_str_eq(v, cc->check_want, "%s: %s gave %s", cc->name, cc->check, v);
		free(v);
	}
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	pg_dbmd_stop(&d);
	if (strstr(cc->setup[0], "ROLE") != NULL) {
		sql = t_strf("DROP ROLE iso_%s", pg.db);
		PQclear(PQexec(pg.admin, sql));
		free(sql);
	}
}

/* What a child acting as nobody reads: one value of one statement on env/primary. */
struct nobody_read {
	const char	*env;
	const char	*sql;
	const char	*want;
	int		 cached;	/* asks for the result cache */
};

/*
 * As nobody: exit 0 when the statement's one value is the one wanted, 1 when it is
 * another, more when it could not run.
 */
static int
nobody_reads(const struct t_dbmd *d, void *arg)
{
	const struct nobody_read *nr = arg;
	struct dbm_exec_opts o = DBM_EXEC_OPTS_INIT;
	dbm_conn	*c = dbm_connect(d->sock);
	dbm_handle	*h;
	dbm_result	*r;
	int		 code;

	if (dbm_errcode(c) != DBM_OK)
		return 10;
	if ((h = dbm_open(c, nr->env, "primary", NULL)) == NULL)
		return 11;
	o.cache_max_age_ms = nr->cached ? 60000 : 0;
	r = dbm_exec_opts(h, nr->sql, 0, NULL, &o);
	if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_nrows(r) != 1)
		code = 12;
	else
		code = strcmp(dbm_value(r, 0, 0), nr->want) == 0 ? 0 : 1;
	dbm_result_free(r);
	dbm_disconnect(c);
	return code;
}

static const struct nobody_read reads_public_acct = { "production", "SELECT v FROM acct",
    "public", 0 };

Test(iso_pg, without_session_reset_one_users_handles_share_settings_but_another_user_does_not)
{
	static const char *const setup[] = EVIL_SETUP;
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	char		*v, *acq = set_ms("production.acquire_timeout", 5000);
	size_t		 i;

	pg_db_new();
	skip_unless_root();
	for (i = 0; i < ARRAY_LEN(setup); i++)
		pq_exec0(pg.check, setup[i], 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=1", acq, "production.session_reset=false",
	    "daemon.socket_mode=0666", "production.allow.users=root,nobody", NULL);
	free(acq);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "production", "primary");
	t_exec0(ha, "SET search_path = evil, public", 0, NULL);
	/* The documented trade: one user's handles share a session. */
	hb = t_open(cb, "production", "primary");
	v = t_value(hb, "SELECT v FROM acct", 0, NULL);
	cr_assert_str_eq(v, "evil", "with session_reset=false the same user's second "
	    "handle saw %s", v);
	free(v);
	/* Another user's never does. */
	cr_assert_eq(wait_nobody(fork_nobody(nobody_reads, &d, (void *)&reads_public_acct)), 0,
	    "nobody's session was not clean (1: it saw root's search_path)");
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	pg_dbmd_stop(&d);
}

static const struct nobody_read reads_real_acct_cached = { "development",
    "SELECT v FROM acct", "real", 1 };

/*
 * With session_reset off a result read through a temporary table stays its user's:
 * the pool's cache, which every user of the pool reads, never holds it.
 */
Test(iso, a_result_read_through_session_state_is_not_cached_for_others)
{
	static const char *const sets[] = { "development.pool_size=1",
	    "development.session_reset=false", "daemon.socket_mode=0666",
	    "development.allow.users=root,nobody", NULL };
	struct dbm_exec_opts o = DBM_EXEC_OPTS_INIT;
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;

	skip_unless_root();
	t_dbmd_start(&d, sets);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	t_exec0(h, "CREATE TABLE acct (v TEXT)", 0, NULL);
	t_exec0(h, "INSERT INTO acct VALUES ('real')", 0, NULL);
	t_exec0(h, "CREATE TEMP TABLE acct AS SELECT 'poison' AS v", 0, NULL);
	/* The handle's own statements see its temporary table... */
	r = t_exec(h, "SELECT v FROM acct", 0, NULL);
	cr_assert_str_eq(dbm_value(r, 0, 0), "poison", "the handle's own session state");
	dbm_result_free(r);
	/* ...but a read that fills the pool's cache runs where no session state is. */
	o.cache_max_age_ms = 60000;
	r = dbm_exec_opts(h, "SELECT v FROM acct", 0, NULL, &o);
	cr_assert_not_null(r);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	cr_assert_str_eq(dbm_value(r, 0, 0), "real", "a cached read saw session state");
	dbm_result_free(r);
	cr_assert_eq(wait_nobody(fork_nobody(nobody_reads, &d,
	    (void *)&reads_real_acct_cached)), 0,
	    "nobody was served another user's temporary table (1) from the cache");
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

static const struct nobody_read reads_no_rowid = { "development",
    "SELECT last_insert_rowid()", "0", 0 };

Test(iso, sqlite_last_insert_rowid_tells_another_user_nothing)
{
	static const char *const sets[] = { "development.pool_size=1",
	    "daemon.socket_mode=0666", "development.allow.users=root,nobody", NULL };
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;

	skip_unless_root();
	t_dbmd_start(&d, sets);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	t_exec0(h, "CREATE TABLE t (i INTEGER PRIMARY KEY)", 0, NULL);
	t_exec0(h, "INSERT INTO t VALUES (4242)", 0, NULL);
	cr_assert_eq(wait_nobody(fork_nobody(nobody_reads, &d, (void *)&reads_no_rowid)), 0,
	    "nobody saw root's last inserted rowid (1)");
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * C. SQLite: a temporary table of one client does not shadow the real one for the next.
 */

Test(iso, sqlite_temp_table_does_not_shadow_the_real_table_for_another_client)
{
	static const char *const sets[] = { "development.pool_size=1", NULL };
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb, *cc;
	dbm_handle	*ha, *hb, *hc;
	char		*v;

	t_dbmd_start(&d, sets);
	ca = t_connect(&d);
	cb = t_connect(&d);
	cc = t_connect(&d);
	ha = t_open(ca, "development", "primary");
	t_exec0(ha, "CREATE TABLE accounts (v TEXT)", 0, NULL);
	t_exec0(ha, "INSERT INTO accounts VALUES ('real')", 0, NULL);
	/* One statement makes and fills it: nothing of A's lands elsewhere by accident. */
	t_exec0(ha, "CREATE TEMP TABLE accounts AS SELECT 'temp' AS v", 0, NULL);

	hb = t_open(cb, "development", "primary");
	v = t_value(hb, "SELECT group_concat(v) FROM accounts", 0, NULL);
	cr_assert_str_eq(v, "real", "B read %s: A's temporary table shadowed the real one", v);
	free(v);
	t_exec0(hb, "INSERT INTO accounts VALUES ('b')", 0, NULL);

	hc = t_open(cc, "development", "primary");
	v = t_value(hc, "SELECT group_concat(v, ',') FROM (SELECT v FROM main.accounts "
	    "ORDER BY v)", 0, NULL);
	cr_assert_str_eq(v, "b,real", "main.accounts holds %s: B's insert went elsewhere", v);
	free(v);
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	dbm_disconnect(cc);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * D. A client that sends and never reads holds a bounded share of dbmd's memory.
 */

Test(iso, a_client_that_sends_status_requests_and_never_reads_does_not_grow_dbmd)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_buf	 b;
	dbm_conn		*c;
	dbm_result		*r;
	long			 base, grew;
	size_t			 sent;
	uint32_t		 i;
	int			 fd;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	/* Pools make STATUS longer; and the first STATUS warms up what it allocates. */
	t_open(c, "development", "primary");
	t_open(c, "test", "primary");
	for (i = 0; i < 3; i++) {
		r = dbm_status(c);
		cr_assert_not_null(r);
		dbm_result_free(r);
	}
	fd = raw_start(&d, &dec, PROTO_DEFAULT_MAX_FRAME);
	base = rss_kb(d.pid);

	proto_buf_init(&b);
	for (i = 0; i < 20000; i++)
		cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_STATUS, 10 + i), PROTO_E_OK);
	sent = send_unread(fd, b.data, b.len, 1000);
	proto_buf_free(&b);

	cr_assert(t_dbmd_answers(&d), "dbmd does not answer a ping during the flood");
	grew = rss_growth(d.pid, base, 16 * 1024, 2000);
	cr_log_info("dbmd grew by %ld KiB for %zu bytes of STATUS", grew, sent);
	cr_assert_lt(grew, 16 * 1024, "dbmd grew by %ld KiB for a client that sent %zu bytes "
	    "of STATUS and read nothing", grew, sent);
	cr_assert(t_dbmd_answers(&d), "dbmd does not answer a ping after the flood");
	close(fd);
	proto_decoder_free(&dec);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(iso, a_client_that_asks_for_cached_results_and_never_reads_does_not_grow_dbmd)
{
	static const char sql[] = "SELECT zeroblob(900000)";
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_buf	 b;
	dbm_conn		*c;
	dbm_handle		*h;
	dbm_result		*r;
	long			 base, grew;
	size_t			 sent;
	uint32_t		 i, hid;
	int			 fd;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	eo.cache_max_age_ms = 600000;
	for (i = 0; i < 2; i++) {
		r = dbm_exec_opts(h, sql, 0, NULL, &eo);
		cr_assert_not_null(r, "%s", dbm_errmsg(c));
		cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
		cr_assert_eq(dbm_length(r, 0, 0), 900000);
		if (i == 1)
			cr_assert_eq(dbm_cache_state(r), DBM_CACHE_HIT, "the result was not cached");
		dbm_result_free(r);
	}
	fd = raw_start(&d, &dec, PROTO_DEFAULT_MAX_FRAME);
	hid = t_raw_open(fd, &dec, "development", "primary");
	base = rss_kb(d.pid);

	proto_buf_init(&b);
	for (i = 0; i < 300; i++)
		raw_exec_frame(&b, 10 + i, hid, sql, 600000);
	sent = send_unread(fd, b.data, b.len, 1000);
	proto_buf_free(&b);

	cr_assert(t_dbmd_answers(&d), "dbmd does not answer a ping during the flood");
	grew = rss_growth(d.pid, base, 32 * 1024, 2000);
	cr_log_info("dbmd grew by %ld KiB for %zu bytes of cached EXECs", grew, sent);
	cr_assert_lt(grew, 32 * 1024, "dbmd grew by %ld KiB for a client that sent %zu bytes "
	    "of cached EXECs and read nothing", grew, sent);
	cr_assert(t_dbmd_answers(&d), "dbmd does not answer a ping after the flood");
	close(fd);
	proto_decoder_free(&dec);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * E. One client cannot hold every connection of a pool: at most pool_size - 1 between
 * statements (daemon.max_pinned_per_client is 4, the pool 3: the limit is 2).
 */

static const char *const three_sets[] = { "development.pool_size=3",
    "development.acquire_timeout=5s", NULL };

Test(iso, a_client_cannot_pin_every_connection_of_a_pool)
{
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;
	struct t_dbmd		 d;
	dbm_conn		*c, *other;
	dbm_handle		*h[3];
	char			*v;

	t_dbmd_start(&d, three_sets);
	c = t_connect(&d);
	other = t_connect(&d);
	o.pinned = 1;
	h[0] = dbm_open(c, "development", "primary", &o);
	cr_assert_not_null(h[0], "pinned open 1: %s", dbm_errmsg(c));
	h[1] = dbm_open(c, "development", "primary", &o);
	cr_assert_not_null(h[1], "pinned open 2: %s", dbm_errmsg(c));
	h[2] = dbm_open(c, "development", "primary", &o);
	cr_assert_null(h[2], "a third pinned handle on a pool of 3 was allowed");
	cr_assert_eq(dbm_errcode(c), DBM_E_LIMIT, "the third pinned open failed with %s: %s",
	    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
	v = t_value(t_open(other, "development", "primary"), "SELECT 'served'", 0, NULL);
	cr_assert_str_eq(v, "served");
	free(v);
	/* Giving one back allows one again. */
	cr_assert_eq(dbm_dispose(h[1]), DBM_OK);
	h[1] = dbm_open(c, "development", "primary", &o);
	cr_assert_not_null(h[1], "pinned open after a dispose: %s", dbm_errmsg(c));
	dbm_disconnect(c);
	dbm_disconnect(other);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Pinned handles of a pool of one, and pinned handles over all of a user's clients:
 * neither takes the last connection.
 */
Test(iso, pinned_handles_never_take_a_pools_last_connection)
{
	static const char *const one[] = { "development.pool_size=1", NULL };
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;
	struct t_dbmd		 d;
	dbm_conn		*c, *c2;
	dbm_handle		*h, *h2[2];

	t_dbmd_start(&d, one);
	c = t_connect(&d);
	o.pinned = 1;
	cr_assert_null(dbm_open(c, "development", "primary", &o),
	    "a pinned handle took a pool of one");
	cr_assert_eq(dbm_errcode(c), DBM_E_LIMIT, "%s", dbm_errmsg(c));
	/* A transaction may: it ends by idle_in_transaction_timeout at the latest. */
	h = t_open(c, "development", "primary");
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_rollback(h), DBM_OK, "ROLLBACK: %s", dbm_errmsg(c));
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);

	/* Pool of 3: one client pins 2; the same user's second client may pin none. */
	t_dbmd_start(&d, three_sets);
	c = t_connect(&d);
	c2 = t_connect(&d);
	h2[0] = dbm_open(c, "development", "primary", &o);
	h2[1] = dbm_open(c, "development", "primary", &o);
	cr_assert(h2[0] != NULL && h2[1] != NULL, "pinned opens: %s", dbm_errmsg(c));
	cr_assert_null(dbm_open(c2, "development", "primary", &o),
	    "the user's second client pinned the pool's last connection");
	cr_assert_eq(dbm_errcode(c2), DBM_E_LIMIT, "%s", dbm_errmsg(c2));
	cr_assert_eq(dbm_dispose(h2[0]), DBM_OK);
	cr_assert_eq(dbm_ping(c), DBM_OK, "the dispose is done once a ping answers");
	h = dbm_open(c2, "development", "primary", &o);
	cr_assert_not_null(h, "pinned open after a dispose: %s", dbm_errmsg(c2));
	dbm_disconnect(c);
	dbm_disconnect(c2);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Notifications have no way to a client: a client that LISTENs and notifies itself in
 * bulk must not make dbmd keep them.
 */
Test(iso_pg, notifications_a_client_asks_for_are_not_kept)
{
	struct dbm_open_opts po = DBM_OPEN_OPTS_INIT;
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	long		 base, grew;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=2", NULL);
	c = t_connect(&d);
	po.pinned = 1;
	h = dbm_open(c, "production", "primary", &po);
	cr_assert_not_null(h, "pinned open: %s", dbm_errmsg(c));
	t_exec0(h, "LISTEN c", 0, NULL);
	base = rss_kb(d.pid);
	/* 20000 notifications of 8 kB: 160 MB had dbmd kept them. */
	v = t_value(h, "SELECT count(pg_notify('c', g::text || repeat('x', 7900))) FROM "
	    "generate_series(1, 20000) g", 0, NULL);
	cr_assert_str_eq(v, "20000");
	free(v);
	/* The server sends them once idle: into the statement that follows at once. */
	t_exec0(h, "SELECT pg_sleep(1)", 0, NULL);
	grew = rss_kb(d.pid) - base;
	if (t_rss_shows_frees())
		cr_assert_lt(grew, 32 * 1024, "dbmd grew by %ld kB holding notifications", grew);
	cr_assert_eq(dbm_dispose(h), DBM_OK);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/* On PostgreSQL: SQLite's BEGIN takes the write lock, so two would not coexist anyway. */
Test(iso_pg, a_client_cannot_hold_every_connection_in_transactions)
{
	struct t_dbmd	 d;
	dbm_conn	*c, *other;
	dbm_handle	*h[3];
	char		*v, *acq = set_ms("production.acquire_timeout", 5000);
	int		 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=3", acq, NULL);
	free(acq);
	c = t_connect(&d);
	other = t_connect(&d);
	for (i = 0; i < 3; i++)
		h[i] = t_open(c, "production", "primary");
	cr_assert_eq(dbm_begin(h[0]), DBM_OK, "BEGIN 1: %s", dbm_errmsg(c));
	t_exec0(h[0], "SELECT 1", 0, NULL);
	cr_assert_eq(dbm_begin(h[1]), DBM_OK, "BEGIN 2: %s", dbm_errmsg(c));
	t_exec0(h[1], "SELECT 1", 0, NULL);
	cr_assert_eq(dbm_begin(h[2]), DBM_E_LIMIT, "a third transaction on a pool of 3: %s",
	    dbm_errmsg(c));
	v = t_value(t_open(other, "production", "primary"), "SELECT 'served'", 0, NULL);
	cr_assert_str_eq(v, "served");
	free(v);
	cr_assert_eq(dbm_commit(h[0]), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_begin(h[2]), DBM_OK, "BEGIN after a COMMIT: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_rollback(h[2]), DBM_OK);
	dbm_disconnect(c);
	dbm_disconnect(other);
	pg_dbmd_stop(&d);
}

/*
 * F. idle_in_transaction_timeout: a transaction left idle is rolled back and its
 * connection released; its client learns why at its next request.
 */

/* A's next request after its transaction was ended for idling. */
static void
assert_told_idle(dbm_handle *h, dbm_conn *c)
{
	dbm_result	*r = dbm_exec(h, "SELECT 1", 0, NULL);
	char		*v;

	cr_assert_not_null(r, "the idle client's connection failed: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_E_TIMEOUT, "the idle client's next request: "
	    "%s: %s", dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
	cr_assert_str_eq(dbm_result_sqlstate(r), "25P03");
	cr_assert_not_null(strstr(dbm_result_errmsg(r), "idle_in_transaction_timeout"), "%s",
	    dbm_result_errmsg(r));
	dbm_result_free(r);
	/* Told once; the handle then serves again. */
	v = t_value(h, "SELECT 'again'", 0, NULL);
	cr_assert_str_eq(v, "again");
	free(v);
}

Test(iso_pg, an_idle_transaction_is_rolled_back_and_its_connection_released)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	char		*v, *idle = set_ms("production.idle_in_transaction_timeout", 300);
	int64_t		 t0;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (i int)", 0, NULL);
	pg_start_one(&d, idle, NULL);
	free(idle);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "production", "primary");
	hb = t_open(cb, "production", "primary");
	cr_assert_eq(dbm_begin(ha), DBM_OK, "BEGIN: %s", dbm_errmsg(ca));
	t_exec0(ha, "INSERT INTO t VALUES (1)", 0, NULL);
	t0 = t_now_ms();
	/* Waits for the one connection, which the idle transaction gives up. */
	v = t_value(hb, "SELECT count(*) FROM t", 0, NULL);
	cr_assert_str_eq(v, "0");
	free(v);
	cr_assert_lt(t_now_ms() - t0, 4000 * t_slow());
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0);
	assert_told_idle(ha, ca);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0,
	    "the idle transaction's insert was committed");
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	pg_dbmd_stop(&d);
}

Test(iso, an_idle_sqlite_transaction_is_rolled_back_and_its_connection_released)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	char		*v, *idle = set_ms("development.idle_in_transaction_timeout", 300);
	char		*acq = set_ms("development.acquire_timeout", 5000);
	const char	*sets[] = { "development.pool_size=1", idle, acq, NULL };

	t_dbmd_start(&d, sets);
	free(idle);
	free(acq);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "development", "primary");
	hb = t_open(cb, "development", "primary");
	t_exec0(ha, "CREATE TABLE t (i INTEGER)", 0, NULL);
	cr_assert_eq(dbm_begin(ha), DBM_OK, "BEGIN: %s", dbm_errmsg(ca));
	t_exec0(ha, "INSERT INTO t VALUES (1)", 0, NULL);
	t_exec0(hb, "INSERT INTO t VALUES (2)", 0, NULL);
	assert_told_idle(ha, ca);
	v = t_value(hb, "SELECT group_concat(i) FROM t", 0, NULL);
	cr_assert_str_eq(v, "2", "t holds %s: the idle transaction's insert stayed", v);
	free(v);
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(iso, an_idle_sqlite_begin_immediate_stops_blocking_writers)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	char		*v, *idle = set_ms("development.idle_in_transaction_timeout", 300);
	char		*acq = set_ms("development.acquire_timeout", 5000);
	const char	*sets[] = { "development.pool_size=2", idle, acq, NULL };

	t_dbmd_start(&d, sets);
	free(idle);
	free(acq);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "development", "primary");
	hb = t_open(cb, "development", "primary");
	t_exec0(ha, "CREATE TABLE t (i INTEGER)", 0, NULL);
	t_exec0(ha, "BEGIN IMMEDIATE", 0, NULL);
	t_exec0(ha, "INSERT INTO t VALUES (1)", 0, NULL);
	/* On the other connection: the write lock is A's until its transaction ends. */
	t_exec0(hb, "INSERT INTO t VALUES (2)", 0, NULL);
	assert_told_idle(ha, ca);
	v = t_value(hb, "SELECT group_concat(i) FROM t", 0, NULL);
	cr_assert_str_eq(v, "2", "t holds %s", v);
	free(v);
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * G. stall_timeout: a client that reads none of its reply loses the statement, not the
 * pool its connection.
 */

/* A raw client asks for a big result and reads nothing until another client was served. */
static void
stalled_reader_is_cut_off(struct t_dbmd *d, const char *env, const char *big)
{
	struct proto_decoder	 dec;
	struct reply_end	 e;
	dbm_conn		*c;
	dbm_handle		*h;
	uint32_t		 hid;
	char			*v;
	int			 fd;

	c = t_connect(d);
	h = t_open(c, env, "primary");
	fd = raw_start(d, &dec, PROTO_DEFAULT_MAX_FRAME);
	hid = t_raw_open(fd, &dec, env, "primary");
	raw_exec(fd, 3, hid, big);
	/* The one connection comes back within stall_timeout and then some. */
	v = t_value(h, "SELECT 'served'", 0, NULL);
	cr_assert_str_eq(v, "served");
	free(v);
	raw_reply(fd, &dec, 3, 10000, &e);
	cr_assert_eq(e.type, PROTO_MSG_ERROR, "the stalled reply ended with COMPLETE after %ld "
	    "rows", e.rows);
	cr_assert_eq(e.code, PROTO_E_TIMEOUT, "ERROR %u: %s", e.code, e.msg);
	cr_assert_str_eq(e.sqlstate, "57014", "%s", e.msg);
	free(e.msg);
	/* The raw client is still served. */
	raw_exec(fd, 4, hid, "SELECT 1");
	raw_reply(fd, &dec, 4, 5000, &e);
	cr_assert_eq(e.type, PROTO_MSG_COMPLETE, "%s", e.msg != NULL ? e.msg : "");
	close(fd);
	proto_decoder_free(&dec);
	dbm_disconnect(c);
}

Test(iso_pg, a_client_that_stops_reading_is_cut_off_after_stall_timeout)
{
	struct t_dbmd	 d;
	char		*stall = set_ms("production.stall_timeout", 500);

	pg_db_new();
	pg_start_one(&d, stall, NULL);
	free(stall);
	stalled_reader_is_cut_off(&d, "production", BIG_PG_SQL);
	pg_dbmd_stop(&d);
}

Test(iso, a_sqlite_client_that_stops_reading_is_cut_off_after_stall_timeout)
{
	struct t_dbmd	 d;
	char		*stall = set_ms("development.stall_timeout", 500);
	char		*acq = set_ms("development.acquire_timeout", 5000);
	const char	*sets[] = { "development.pool_size=1", stall, acq, NULL };

	t_dbmd_start(&d, sets);
	free(stall);
	free(acq);
	stalled_reader_is_cut_off(&d, "development", BIG_SQLITE_SQL);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * H. A client that leaves while its reply is stalled: dbmd survives, the connection
 * comes back (a use-after-free before; make asan shows it).
 */

Test(iso_pg, a_client_that_leaves_while_its_reply_is_stalled_breaks_nothing)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	dbm_conn		*c;
	dbm_handle		*h;
	uint32_t		 hid;
	char			*v;
	int			 fd;

	pg_db_new();
	pg_start_one(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	fd = raw_start(&d, &dec, PROTO_DEFAULT_MAX_FRAME);
	hid = t_raw_open(fd, &dec, "production", "primary");
	raw_exec(fd, 3, hid, BIG_PG_SQL);
	cr_assert_neq(pq_wait_active(pg.check, pg.db, "SELECT repeat%", 5000), 0,
	    "the big statement never ran");
	/* Stalled: our receive queue is full and stays so. */
	t_raw_wait_full(fd);
	close(fd);
	proto_decoder_free(&dec);

	if (!t_dbmd_answers(&d)) {
		v = t_dbmd_log(&d);
		cr_assert_fail("dbmd does not answer after the client left; its log:\n%s", v);
	}
	v = t_value(h, "SELECT 'after'", 0, NULL);
	cr_assert_str_eq(v, "after");
	free(v);
	cr_assert_eq(pool_num_wait(c, h, "active", 0), 0);
	cr_assert(t_dbmd_answers(&d));
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * I. A reply whose frames would exceed the client's limit still ends, with an ERROR
 * that fits (16 KiB, the smallest limit a client may announce).
 */

/* Runs a statement on a raw client of the smallest frame limit: it ends in an ERROR. */
static void
small_frames_end_in_error(struct t_dbmd *d, const char *env, const char *name,
    const char *sql, const char *quoted)
{
	struct proto_decoder	 dec;
	struct reply_end	 e;
	uint32_t		 hid;
	int			 fd;

	fd = raw_start(d, &dec, PROTO_HANDSHAKE_MAX_FRAME);
	hid = t_raw_open(fd, &dec, env, "primary");
	raw_exec(fd, 10, hid, sql);
	raw_reply(fd, &dec, 10, 5000, &e);
	cr_assert_eq(e.type, PROTO_MSG_ERROR, "%s: the reply ended with COMPLETE after %ld "
	    "rows", name, e.rows);
	cr_assert_leq(e.payload, PROTO_HANDSHAKE_MAX_FRAME);
	cr_assert_lt(strlen(e.msg), PROTO_HANDSHAKE_MAX_FRAME);
	cr_assert_gt(strlen(e.msg), 0, "%s: an empty message", name);
	if (quoted != NULL)
		cr_assert_not_null(strstr(e.msg, quoted), "%s: %.200s", name, e.msg);
	free(e.msg);
	/* The connection still serves. */
	raw_exec(fd, 11, hid, "SELECT 'fits'");
	raw_reply(fd, &dec, 11, 5000, &e);
	cr_assert_eq(e.type, PROTO_MSG_COMPLETE, "%s: then %s", name, e.msg);
	cr_assert_eq(e.rows, 1);
	close(fd);
	proto_decoder_free(&dec);
	cr_assert(t_dbmd_answers(d));
}

/* SELECT of 400 columns with names of 61 characters: ROW_DESC needs 26 KiB. */
static char *
wide_select(void)
{
	size_t	 cap = 400 * 80, len = 0;
	char	*s = malloc(cap);
	int	 i;

	cr_assert_not_null(s);
	len += (size_t)snprintf(s, cap, "SELECT ");
	for (i = 0; i < 400; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%d AS c%03d_%s", i ? ", " : "", i,
		    i, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd");
	return s;
}

struct big_case {
	char	 name[40];
	char	 sql[96];	/* "": the wide SELECT; %s: 20,000 q's */
	char	 quoted[24];	/* part of the message, or "" */
};

ParameterizedTestParameters(iso_pg, a_reply_larger_than_the_clients_frame_limit_ends_in_an_error)
{
	static struct big_case cases[] = {
		{ "a message quoting 40000 bytes", "SELECT repeat('x', 40000)::int",
		    "xxxxxxxxxxxxxxxx" },
		{ "RAISE of 40000 bytes",
		    "DO $$ BEGIN RAISE EXCEPTION '%%', repeat('y', 40000); END $$",
		    "yyyyyyyyyyyyyyyy" },
		{ "ROW_DESC of 26 KiB", "", "" },
	};

	return cr_make_param_array(struct big_case, cases, ARRAY_LEN(cases));
}

/* The statement of a case: the wide SELECT, or its SQL with 20,000 q's for %s. */
static char *
big_case_sql(const struct big_case *bc)
{
	char	*q, *sql;

	if (bc->sql[0] == '\0')
		return wide_select();
	q = malloc(20001);
	cr_assert_not_null(q);
	memset(q, 'q', 20000);
	q[20000] = '\0';
	sql = t_strf(bc->sql, q);
	free(q);
	return sql;
}

ParameterizedTest(struct big_case *bc, iso_pg,
    a_reply_larger_than_the_clients_frame_limit_ends_in_an_error)
{
	struct t_dbmd	 d;
	char		*sql = big_case_sql(bc);

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	small_frames_end_in_error(&d, "production", bc->name, sql,
	    bc->quoted[0] != '\0' ? bc->quoted : NULL);
	free(sql);
	pg_dbmd_stop(&d);
}

ParameterizedTestParameters(iso, a_sqlite_reply_larger_than_the_clients_frame_limit_ends_in_an_error)
{
	static struct big_case cases[] = {
		{ "a message quoting 20000 bytes", "SELECT * FROM \"%s\"", "qqqqqqqqqqqqqqqq" },
		{ "ROW_DESC of 26 KiB", "", "" },
	};

	return cr_make_param_array(struct big_case, cases, ARRAY_LEN(cases));
}

ParameterizedTest(struct big_case *bc, iso,
    a_sqlite_reply_larger_than_the_clients_frame_limit_ends_in_an_error)
{
	struct t_dbmd	 d;
	char		*sql = big_case_sql(bc);

	t_dbmd_start(&d, NULL);
	small_frames_end_in_error(&d, "development", bc->name, sql,
	    bc->quoted[0] != '\0' ? bc->quoted : NULL);
	free(sql);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * J. A reload that takes a user's access revokes its open handles and ends their
 * transactions.
 */

struct revoke_pipes {
	int	 ready[2];	/* child to parent: it holds a transaction */
	int	 go[2];		/* parent to child: access was revoked */
};

/*
 * As nobody: 1 opened, 2 ran a statement, 4 began and inserted, 8 the old handle's next
 * statement was refused for permission, 16 so was its COMMIT, 32 and a new open.
 */
static int
nobody_loses_access(const struct t_dbmd *d, void *arg)
{
	struct revoke_pipes	*p = arg;
	dbm_conn		*c = dbm_connect(d->sock);
	dbm_handle		*h;
	dbm_result		*r;
	int			 seen = 0;
	char			 byte = 'r';

	close(p->ready[0]);
	close(p->go[1]);
	if (dbm_errcode(c) != DBM_OK ||
	    (h = dbm_open(c, "production", "primary", NULL)) == NULL)
		goto out;
	seen |= 1;
	r = dbm_exec(h, "SELECT 1", 0, NULL);
	if (r != NULL && dbm_result_status(r) == DBM_OK)
		seen |= 2;
	dbm_result_free(r);
	if (dbm_begin(h) == DBM_OK) {
		r = dbm_exec(h, "INSERT INTO t VALUES (1)", 0, NULL);
		if (r != NULL && dbm_result_status(r) == DBM_OK)
			seen |= 4;
		dbm_result_free(r);
	}
	if (write(p->ready[1], &byte, 1) != 1 || read(p->go[0], &byte, 1) != 1)
		goto out;
	r = dbm_exec(h, "SELECT 1", 0, NULL);
	if (r != NULL && dbm_result_status(r) == DBM_E_PERMISSION)
		seen |= 8;
	dbm_result_free(r);
	if (dbm_commit(h) == DBM_E_PERMISSION)
		seen |= 16;
	if (dbm_open(c, "production", "primary", NULL) == NULL &&
	    dbm_errcode(c) == DBM_E_PERMISSION)
		seen |= 32;
out:
	dbm_disconnect(c);
	return seen;
}

static void
write_conf_users(const char *users)
{
	FILE	*fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp);
	fprintf(fp, "environments:\n  production:\n    allow:\n      users: [%s]\n", users);
	fclose(fp);
}

Test(iso_pg, a_reload_that_takes_access_revokes_open_handles_and_their_transactions)
{
	struct revoke_pipes	 p;
	struct t_dbmd		 d;
	dbm_conn		*admin;
	dbm_result		*r;
	int64_t			 end;
	long long		 open_txns = -1;
	pid_t			 pid;
	char			 byte;
	int			 seen;

	pg_db_new();
	skip_unless_root();
	pq_exec0(pg.check, "CREATE TABLE t (i int)", 0, NULL);
	write_conf_users("root, nobody");
	pg_dbmd_start(&d, NULL, "daemon.socket_mode=0666", NULL);
	cr_assert_eq(pipe(p.ready), 0);
	cr_assert_eq(pipe(p.go), 0);
	pid = fork_nobody(nobody_loses_access, &d, &p);
	close(p.ready[1]);
	close(p.go[0]);
	cr_assert_eq(read(p.ready[0], &byte, 1), 1, "the child acting as nobody failed early: "
	    "%d", wait_nobody(pid));

	write_conf_users("root");
	admin = t_connect(&d);
	r = dbm_reload(admin);
	cr_assert_not_null(r, "RELOAD: %s", dbm_errmsg(admin));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "RELOAD: %s %s", dbm_result_errmsg(r),
	    dbm_result_detail(r));
	dbm_result_free(r);
	/* nobody is still connected: its transaction must have ended all the same. */
	end = t_now_ms() + 5000LL * t_slow();
	while ((open_txns = pq_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = current_database() AND state LIKE 'idle in transaction%'", 0, NULL)) != 0 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(write(p.go[1], "g", 1), 1);
	seen = wait_nobody(pid);
	cr_assert_eq(open_txns, 0, "nobody's transaction stayed open after the reload");
	cr_assert_eq(seen, 1 | 2 | 4 | 8 | 16 | 32, "nobody saw %#x (1 open, 2 statement, "
	    "4 insert, 8 statement refused, 16 commit refused, 32 open refused)", seen);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0);
	close(p.ready[0]);
	close(p.go[1]);
	dbm_disconnect(admin);
	pg_dbmd_stop(&d);
}

/* As nobody: one INSERT, which waits for the pool's one connection. */
static int
nobody_inserts(const struct t_dbmd *d, void *arg)
{
	dbm_conn	*c = dbm_connect(d->sock);
	dbm_handle	*h;
	dbm_result	*r;
	int		 code;

	(void)arg;
	if (dbm_errcode(c) != DBM_OK)
		return 10;
	if ((h = dbm_open(c, "production", "primary", NULL)) == NULL)
		return 11;
	r = dbm_exec(h, "INSERT INTO t VALUES (1)", 0, NULL);
	code = r == NULL ? 12 : dbm_result_status(r) == DBM_E_PERMISSION ? 0 :
	    dbm_result_status(r) == DBM_OK ? 1 : 13;
	dbm_result_free(r);
	dbm_disconnect(c);
	return code;
}

/* A request waiting for a connection when its user's access goes never runs. */
Test(iso_pg, a_request_queued_when_access_is_revoked_never_runs)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		*acq = set_ms("production.acquire_timeout", 20000);
	pid_t		 pid;

	pg_db_new();
	skip_unless_root();
	pq_exec0(pg.check, "CREATE TABLE t (i int)", 0, NULL);
	write_conf_users("root, nobody");
	pg_dbmd_start(&d, NULL, "daemon.socket_mode=0666", "production.pool_size=1", acq,
	    NULL);
	free(acq);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	t_exec0(h, "SELECT 1", 0, NULL);
	pid = fork_nobody(nobody_inserts, &d, NULL);
	cr_assert_eq(pool_num_wait(c, h, "waiting", 1), 1, "nobody's INSERT never queued");
	write_conf_users("root");
	r = dbm_reload(c);
	cr_assert_not_null(r, "RELOAD: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "RELOAD: %s", dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_eq(dbm_commit(h), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	cr_assert_eq(wait_nobody(pid), 0, "nobody's queued INSERT was not refused "
	    "(1: it ran)");
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * A value larger than the client's frame limit fails its statement, and the memory
 * libpq took to receive it does not stay with the connection.
 */
Test(iso_pg, a_value_too_large_for_the_client_leaves_no_memory_behind)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	long		 base, grew;

	pg_db_new();
	pg_start_one(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	base = rss_kb(d.pid);
	r = dbm_exec(h, "SELECT repeat('x', 100000000)", 0, NULL);
	cr_assert_not_null(r, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_E_LIMIT, "%s", dbm_result_errmsg(r));
	cr_assert_str_eq(dbm_result_sqlstate(r), "54000");
	dbm_result_free(r);
	/* The next statement runs on a new connection; the old one's buffer is gone. */
	t_exec0(h, "SELECT 1", 0, NULL);
	grew = rss_kb(d.pid) - base;
	if (t_rss_shows_frees())
		cr_assert_lt(grew, 32 * 1024, "dbmd kept %ld kB after a 100 MB value", grew);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}
