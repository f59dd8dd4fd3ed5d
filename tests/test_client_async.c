/* test_client_async.c: libdbmclient without waiting: many requests from one thread, streaming, timeouts, failures. */

/*
 * Every test starts its own dbmd (tests/harness.h): the SQLite suites use
 * development, a real SQLite file in the test's state directory; the
 * PostgreSQL suites make a database of their own on the shared server
 * (tests/pg.h) and use production on it.  The non-blocking calls are driven
 * the way a program with an event loop of its own drives them: poll(2) on
 * dbm_socket, then dbm_flush, dbm_consume_input, dbm_is_busy and
 * dbm_get_result.  Bounds on time are generous and only ever say "well
 * within" or "not before": these tests prove behaviour, not speed.
 */

#include <sys/resource.h>

#include <criterion/criterion.h>

#include "pg.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* One timeout for every test, as test_broker.c explains; it only matters when something hangs. */
#define TIMEOUT		120
#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = TIMEOUT)

SUITE(async_sqlite);
SUITE(async_pg);
SUITE(stream_sqlite);
SUITE(stream_pg);
SUITE(timeout);
SUITE(broken_sqlite);
SUITE(broken_pg);

#define MAX_HANDLES	8

/* A dbmd and clients of it with handles on the backend under test. */
struct be {
	struct t_dbmd	 d;
	const char	*env;		/* development or production */
	int		 pg;		/* 1: PostgreSQL, 0: SQLite */
};

static void
be_sqlite(struct be *b, const char *const *sets)
{
	memset(b, 0, sizeof(*b));
	b->env = "development";
	t_dbmd_start(&b->d, sets);
}

static void
be_pg(struct be *b)
{
	memset(b, 0, sizeof(*b));
	b->env = "production";
	b->pg = 1;
	pg_db_new();
	pg_dbmd_start(&b->d, NULL, NULL);
}

static void
be_stop(struct be *b)
{
	if (b->pg)
		pg_dbmd_stop(&b->d);
	else
		cr_assert_eq(t_dbmd_stop(&b->d), 0);
}

static dbm_handle *
be_open(struct be *b, dbm_conn *c)
{
	return t_open(c, b->env, "primary");
}

/* dbm_send_exec_params that must be accepted. */
static void
send_exec(dbm_handle *h, const char *sql, int n, const char *const *values,
    const struct dbm_exec_opts *eo)
{
	int	 code = dbm_send_exec_params(h, sql, n, values, NULL, NULL, eo);

	cr_assert_eq(code, DBM_OK, "send %s: %s", sql, dbm_strerror(code));
}

/* The result of a request that must have succeeded: one result, then NULL. */
static dbm_result *
take_one(dbm_handle *h, const char *what)
{
	dbm_result	*r = dbm_get_result(h), *more;

	cr_assert_not_null(r, "%s: no result", what);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: %s: %s", what,
	    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
	cr_assert_eq(dbm_result_partial(r), 0, "%s: a partial result without row_chunk", what);
	more = dbm_get_result(h);
	cr_assert_null(more, "%s: a second result (%s, %d rows)", what,
	    dbm_strerror(dbm_result_status(more)), dbm_nrows(more));
	return r;
}

/*
 * Flushes every conn, polls their sockets for up to ms, and consumes what
 * arrived.  Every call must succeed: these conns are healthy.
 */
static void
poll_conns(dbm_conn *const *cs, size_t n, int ms)
{
	struct pollfd	 pfd[MAX_HANDLES];
	size_t		 i;
	int		 f;

	cr_assert(n <= MAX_HANDLES);
	for (i = 0; i < n; i++) {
		f = dbm_flush(cs[i]);
		cr_assert(f == 0 || f == 1, "dbm_flush: %d: %s", f, dbm_errmsg(cs[i]));
		pfd[i].fd = dbm_socket(cs[i]);
		cr_assert_geq(pfd[i].fd, 0, "dbm_socket of a healthy conn is %d", pfd[i].fd);
		pfd[i].events = POLLIN | (f == 1 ? POLLOUT : 0);
		pfd[i].revents = 0;
	}
	cr_assert_neq(poll(pfd, n, ms), -1, "poll: %s", strerror(errno));
	for (i = 0; i < n; i++)
		if (pfd[i].revents != 0)
			cr_assert_eq(dbm_consume_input(cs[i]), DBM_OK, "dbm_consume_input: %s",
			    dbm_errmsg(cs[i]));
}

/*
 * Several handles driven from one thread.
 *
 * Each handle gets one statement whose second column is the handle's own
 * number; all are sent before any result is taken, and then a poll loop
 * takes each result as soon as it is there without blocking.
 */

/* A statement that takes a while on each backend and returns $1 beside its work. */
static const char *
slow_echo_sql(const struct be *b)
{
	if (b->pg)
		return "SELECT pg_sleep(0.2), $1::int";
	return "SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
	    "WHERE x < 100000) SELECT count(*) FROM c), CAST($1 AS INTEGER)";
}

static void
handles_run_concurrently(struct be *b, dbm_conn *const *cs, size_t nc,
    dbm_handle *const *hs, size_t nh)
{
	int64_t		 end;
	dbm_result	*r;
	char		 arg[MAX_HANDLES][16], *v;
	int		 done[MAX_HANDLES] = { 0 }, got[MAX_HANDLES] = { 0 };
	size_t		 i, ndone = 0;

	for (i = 0; i < nh; i++) {
		const char	*params[1] = { arg[i] };

		snprintf(arg[i], sizeof(arg[i]), "%zu", 100 + i);
		send_exec(hs[i], slow_echo_sql(b), 1, params, NULL);
	}
	/*
	 * All in flight at once: nothing has been taken yet.  On PostgreSQL no
	 * reply can be there within the 200 ms the statements sleep, so every
	 * handle must say that dbm_get_result would wait.
	 */
	for (i = 0; i < nh; i++) {
		cr_assert_gt(dbm_pending(hs[i]), 0, "handle %zu: nothing pending after its send",
		    i);
		if (b->pg)
			cr_assert_eq(dbm_is_busy(hs[i]), 1, "handle %zu: not busy right after its "
			    "send", i);
	}

	end = t_now_ms() + 20000LL * t_slow();
	while (ndone < nh) {
		cr_assert(t_now_ms() < end, "%zu of %zu handles done after 20 s", ndone, nh);
		for (i = 0; i < nh; i++) {
			while (!done[i] && !dbm_is_busy(hs[i])) {
				if ((r = dbm_get_result(hs[i])) == NULL) {
					done[i] = 1;
					ndone++;
					break;
				}
				cr_assert_eq(dbm_result_status(r), DBM_OK, "handle %zu: %s: %s", i,
				    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
				cr_assert_eq(dbm_nrows(r), 1);
				cr_assert_str_eq(dbm_value(r, 0, 1), arg[i], "handle %zu got %s, "
				    "not its own %s", i, dbm_value(r, 0, 1), arg[i]);
				got[i]++;
				dbm_result_free(r);
			}
		}
		if (ndone < nh)
			poll_conns(cs, nc, 100);
	}
	for (i = 0; i < nh; i++) {
		cr_assert_eq(got[i], 1, "handle %zu: %d results", i, got[i]);
		cr_assert_eq(dbm_pending(hs[i]), 0, "handle %zu: still pending", i);
		cr_assert_null(dbm_get_result(hs[i]), "handle %zu: a result with nothing sent", i);
	}
	/* Each conn still serves the blocking calls. */
	for (i = 0; i < nh; i++) {
		v = t_value(hs[i], "SELECT 'after'", 0, NULL);
		cr_assert_str_eq(v, "after");
		free(v);
	}
}

static void
four_handles_on_one_conn(struct be *b)
{
	dbm_conn	*c = t_connect(&b->d);
	dbm_handle	*hs[4];
	size_t		 i;

	for (i = 0; i < ARRAY_LEN(hs); i++)
		hs[i] = be_open(b, c);
	handles_run_concurrently(b, &c, 1, hs, ARRAY_LEN(hs));
	dbm_disconnect(c);
}

static void
three_conns_from_one_thread(struct be *b)
{
	dbm_conn	*cs[3];
	dbm_handle	*hs[6];
	size_t		 i;

	for (i = 0; i < ARRAY_LEN(cs); i++)
		cs[i] = t_connect(&b->d);
	for (i = 0; i < ARRAY_LEN(hs); i++)
		hs[i] = be_open(b, cs[i % ARRAY_LEN(cs)]);
	handles_run_concurrently(b, cs, ARRAY_LEN(cs), hs, ARRAY_LEN(hs));
	for (i = 0; i < ARRAY_LEN(cs); i++)
		dbm_disconnect(cs[i]);
}

Test(async_sqlite, four_handles_on_one_conn_run_at_once_from_one_thread, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	four_handles_on_one_conn(&b);
	be_stop(&b);
}

Test(async_pg, four_handles_on_one_conn_run_at_once_from_one_thread, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	four_handles_on_one_conn(&b);
	be_stop(&b);
}

Test(async_sqlite, three_conns_run_at_once_from_one_thread, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	three_conns_from_one_thread(&b);
	be_stop(&b);
}

Test(async_pg, three_conns_run_at_once_from_one_thread, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	three_conns_from_one_thread(&b);
	be_stop(&b);
}

/*
 * Pipelining: requests sent on one handle come back in the order sent, each
 * request's results and then NULL.
 */
static void
pipelined_requests_come_back_in_order(struct be *b)
{
	static const char *const words[] = { "first", "second", "third" };
	dbm_conn	*c = t_connect(&b->d);
	dbm_handle	*h = be_open(b, c);
	dbm_result	*r;
	char		*sql;
	size_t		 i;

	for (i = 0; i < ARRAY_LEN(words); i++) {
		/* The first is the slowest: it must still come first. */
		if (i == 0)
			sql = b->pg ? t_strf("SELECT '%s'::text FROM pg_sleep(0.3)", words[i]) :
			    t_strf("SELECT '%s' FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
			    "SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c)",
			    words[i]);
		else
			sql = t_strf("SELECT '%s'", words[i]);
		send_exec(h, sql, 0, NULL, NULL);
		free(sql);
	}
	cr_assert_eq(dbm_pending(h), 3, "%d requests pending, not 3", dbm_pending(h));
	for (i = 0; i < ARRAY_LEN(words); i++) {
		r = take_one(h, words[i]);
		cr_assert_str_eq(dbm_value(r, 0, 0), words[i], "\"%s\" came where \"%s\" was due",
		    dbm_value(r, 0, 0), words[i]);
		dbm_result_free(r);
	}
	cr_assert_eq(dbm_pending(h), 0);
	cr_assert_null(dbm_get_result(h));
	dbm_disconnect(c);
}

Test(async_sqlite, pipelined_requests_on_one_handle_come_back_in_order, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	pipelined_requests_come_back_in_order(&b);
	be_stop(&b);
}

Test(async_pg, pipelined_requests_on_one_handle_come_back_in_order, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	pipelined_requests_come_back_in_order(&b);
	be_stop(&b);
}

/* A whole transaction sent at once: BEGIN, INSERT, SELECT, COMMIT answered in order. */
static void
pipelined_transaction_commits(struct be *b, const char *create, const char *insert)
{
	dbm_conn	*c = t_connect(&b->d), *other;
	dbm_handle	*h = be_open(b, c), *oh;
	dbm_result	*r;
	char		*v;

	t_exec0(h, create, 0, NULL);
	cr_assert_eq(dbm_send_begin(h), DBM_OK);
	send_exec(h, insert, 1, (const char *[]){ "piped" }, NULL);
	send_exec(h, "SELECT count(*) FROM p", 0, NULL, NULL);
	cr_assert_eq(dbm_send_commit(h), DBM_OK);
	cr_assert_eq(dbm_pending(h), 4);

	r = take_one(h, "BEGIN");
	cr_assert_eq(dbm_nrows(r), 0);
	dbm_result_free(r);
	r = take_one(h, "INSERT");
	cr_assert_eq(dbm_affected(r), 1);
	dbm_result_free(r);
	r = take_one(h, "SELECT");
	cr_assert_str_eq(dbm_value(r, 0, 0), "1");
	dbm_result_free(r);
	r = take_one(h, "COMMIT");
	dbm_result_free(r);
	cr_assert_eq(dbm_pending(h), 0);

	other = t_connect(&b->d);
	oh = be_open(b, other);
	v = t_value(oh, "SELECT v FROM p", 0, NULL);
	cr_assert_str_eq(v, "piped", "the pipelined transaction was not committed");
	free(v);
	/* And ROLLBACK the same way. */
	cr_assert_eq(dbm_send_begin(h), DBM_OK);
	send_exec(h, insert, 1, (const char *[]){ "undone" }, NULL);
	cr_assert_eq(dbm_send_rollback(h), DBM_OK);
	dbm_result_free(take_one(h, "BEGIN"));
	dbm_result_free(take_one(h, "INSERT"));
	dbm_result_free(take_one(h, "ROLLBACK"));
	v = t_value(oh, "SELECT count(*) FROM p", 0, NULL);
	cr_assert_str_eq(v, "1", "the rolled back row is there");
	free(v);
	dbm_disconnect(other);
	dbm_disconnect(c);
}

Test(async_sqlite, a_pipelined_transaction_is_answered_in_order, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	pipelined_transaction_commits(&b, "CREATE TABLE p (v TEXT)", "INSERT INTO p VALUES ($1)");
	be_stop(&b);
}

Test(async_pg, a_pipelined_transaction_is_answered_in_order, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	pipelined_transaction_commits(&b, "CREATE TABLE p (v text)", "INSERT INTO p VALUES ($1)");
	be_stop(&b);
}

/*
 * More requests than dbmd lets a client have in flight: the library either
 * refuses the excess with DBM_E_LIMIT or holds it back until there is room;
 * it never lets dbmd close the connection over it.
 */
Test(async_sqlite, sends_beyond_dbmds_queue_limit_never_break_the_conn, .timeout = TIMEOUT)
{
	struct be	 b;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		 want[16];
	int		 i, code, accepted = 0;

	be_sqlite(&b, (const char *[]){ "daemon.max_queued_per_client=3", NULL });
	c = t_connect(&b.d);
	h = be_open(&b, c);
	for (i = 0; i < 8; i++) {
		snprintf(want, sizeof(want), "%d", i);
		code = dbm_send_exec_params(h, "SELECT $1", 1, (const char *[]){ want }, NULL,
		    NULL, NULL);
		cr_assert(code == DBM_OK || code == DBM_E_LIMIT, "send %d: %s", i,
		    dbm_strerror(code));
		if (code == DBM_OK)
			cr_assert_eq(accepted++, i, "send %d accepted after one was refused", i);
	}
	cr_assert_geq(accepted, 3, "only %d sends accepted while dbmd allows 3", accepted);
	for (i = 0; i < accepted; i++) {
		snprintf(want, sizeof(want), "%d", i);
		r = take_one(h, want);
		cr_assert_str_eq(dbm_value(r, 0, 0), want);
		dbm_result_free(r);
	}
	cr_assert_eq(dbm_connected(c), 1, "the conn was lost: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_ping(c), DBM_OK);
	dbm_disconnect(c);
	be_stop(&b);
}

/* Invalid arguments to a send are refused, at once or as an error result; the conn carries on. */
Test(async_sqlite, a_send_with_invalid_formats_is_refused_and_the_conn_carries_on,
    .timeout = TIMEOUT)
{
	struct be	 b;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	int		 code;

	be_sqlite(&b, NULL);
	c = t_connect(&b.d);
	h = be_open(&b, c);
	code = dbm_send_exec_params(h, "SELECT $1", 1, (const char *[]){ "x" }, (int[]){ 1 },
	    (int[]){ 7 }, NULL);
	if (code == DBM_OK) {
		r = dbm_get_result(h);
		cr_assert_not_null(r, "a refused send has no result");
		cr_assert_eq(dbm_result_status(r), DBM_E_INTERNAL, "%s",
		    dbm_strerror(dbm_result_status(r)));
		dbm_result_free(r);
		cr_assert_null(dbm_get_result(h));
	} else
		cr_assert_eq(code, DBM_E_INTERNAL, "%s", dbm_strerror(code));
	cr_assert_eq(dbm_pending(h), 0);
	cr_assert_eq(dbm_connected(c), 1);
	send_exec(h, "SELECT 'fine'", 0, NULL, NULL);
	r = take_one(h, "after the refusal");
	cr_assert_str_eq(dbm_value(r, 0, 0), "fine");
	dbm_result_free(r);
	dbm_disconnect(c);
	be_stop(&b);
}

/*
 * dbm_disposed: the answers to the DISPOSEs sent so far, without losing the
 * replies of requests in flight on other handles.
 */
Test(async_sqlite, disposed_waits_for_the_disposes_and_keeps_other_replies,
    .timeout = TIMEOUT)
{
	struct be		 b;
	dbm_conn		*c;
	dbm_handle		*keep, *h1, *h2;
	dbm_result		*r;
	unsigned long long	 hash;
	char			*n;

	be_sqlite(&b, NULL);
	c = t_connect(&b.d);
	keep = be_open(&b, c);
	h1 = be_open(&b, c);
	h2 = be_open(&b, c);
	hash = dbm_handle_pool_hash(keep);
	n = t_pool_field(c, hash, "handles");
	cr_assert_str_eq(n, "3");
	free(n);

	send_exec(keep, "SELECT 'kept'", 0, NULL, NULL);
	cr_assert_eq(dbm_dispose(h1), DBM_OK, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_dispose(h2), DBM_OK, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_disposed(c), DBM_OK, "dbm_disposed: %s", dbm_errmsg(c));
	/* Nothing owed: at once. */
	cr_assert_eq(dbm_disposed(c), DBM_OK, "dbm_disposed with nothing owed: %s",
	    dbm_errmsg(c));

	r = take_one(keep, "the request sent before the disposes");
	cr_assert_str_eq(dbm_value(r, 0, 0), "kept");
	dbm_result_free(r);
	n = t_pool_field(c, hash, "handles");
	cr_assert_str_eq(n, "1", "%s handles after dbm_disposed", n);
	free(n);
	cr_assert_eq(dbm_connected(c), 1);
	dbm_disconnect(c);
	be_stop(&b);
}

/*
 * Streaming: a million rows in pieces of row_chunk, each piece freed before
 * the next is taken, so that the client never holds more than a piece.
 */

#define STREAM_ROWS	1000000L
#define STREAM_CHUNK	1000UL
/*
 * The bound on the client's peak resident growth while it streams.  The
 * whole result of the same statement held as one dbm_result (dbm_exec) grew
 * a fresh process's peak by 58,404 KiB (57 MiB) on both backends when this
 * test was written: 6.9 MB of digits, 10.9 MB of "row N" text, and the
 * library's per-value and per-row bookkeeping.  Read in pieces of 1000 rows
 * it grew by some 250 KiB.  32 MiB leaves room for the socket reads and the
 * allocator while still failing a library that gathers the whole result (or
 * half of it) before handing out its pieces.
 */
#define STREAM_MAX_GROWTH_KIB	(32 * 1024L)

/* A line of /proc/self/status in kB, -1 when missing. */
static long
self_status_kb(const char *key)
{
	char	*status = t_slurp("/proc/self/status"), *p;
	long	 kb = -1;

	if ((p = strstr(status, key)) != NULL && p[strlen(key)] == ':')
		kb = strtol(p + strlen(key) + 1, NULL, 10);
	free(status);
	return kb;
}

/* Resets this process's VmHWM to its VmRSS; 0 when the kernel let us. */
static int
self_reset_hwm(void)
{
	int	 fd = open("/proc/self/clear_refs", O_WRONLY), ok;

	if (fd == -1)
		return -1;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* Rows the stream tests read: fewer under valgrind and ASan, which run dbmd many times slower. */
static long
stream_rows(void)
{
	return STREAM_ROWS / t_slow();
}

/*
 * Sends sql (which yields rows x = 1..n, "row x") with row_chunk and reads
 * every piece: each holds at most row_chunk rows and all but the last say
 * they are partial; the last carries the command tag.  Returns the growth
 * of the peak resident set in KiB.
 */
static long
stream_and_count(dbm_handle *h, const char *sql, long n)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_result		*r;
	char			 want[32], tag[32];
	long long		 sum = 0, x;
	long			 count = 0, pieces = 0, bad = 0, before, hwm_before, hwm;
	int			 last = 0, i, reset;
	char			 bad_msg[256] = "";

	eo.row_chunk = STREAM_CHUNK;
	reset = self_reset_hwm();
	before = self_status_kb("VmRSS");
	hwm_before = self_status_kb("VmHWM");
	cr_assert(before > 0 && hwm_before > 0, "cannot read /proc/self/status");

	send_exec(h, sql, 0, NULL, &eo);
	while ((r = dbm_get_result(h)) != NULL) {
		cr_assert_eq(last, 0, "a piece after the last one (partial 0)");
		cr_assert_eq(dbm_result_status(r), DBM_OK, "piece %ld, after %ld rows: %s: %s",
		    pieces, count, dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
		cr_assert_leq((unsigned long)dbm_nrows(r), STREAM_CHUNK, "piece %ld has %d rows",
		    pieces, dbm_nrows(r));
		cr_assert_eq(dbm_ncols(r), 2);
		if (dbm_result_partial(r))
			cr_assert_gt(dbm_nrows(r), 0, "piece %ld: partial and empty", pieces);
		else
			last = 1;
		for (i = 0; i < dbm_nrows(r); i++) {
			x = strtoll(dbm_value(r, i, 0), NULL, 10);
			snprintf(want, sizeof(want), "row %lld", x);
			if (x != count + 1 || strcmp(dbm_value(r, i, 1), want) != 0) {
				if (bad++ == 0)
					snprintf(bad_msg, sizeof(bad_msg), "row %ld is (%s, %s)",
					    count + 1, dbm_value(r, i, 0), dbm_value(r, i, 1));
			}
			sum += x;
			count++;
		}
		if (last) {
			snprintf(tag, sizeof(tag), "SELECT %ld", n);
			cr_assert_str_eq(dbm_cmdtag(r), tag, "the last piece's tag is \"%s\"",
			    dbm_cmdtag(r));
		} else
			cr_assert_str_eq(dbm_cmdtag(r), "", "a partial piece has the tag \"%s\"",
			    dbm_cmdtag(r));
		pieces++;
		dbm_result_free(r);
	}
	hwm = self_status_kb("VmHWM");
	cr_assert(last, "no last piece after %ld rows in %ld pieces", count, pieces);
	cr_assert_eq(bad, 0, "%ld rows out of order or wrong; the first: %s", bad, bad_msg);
	cr_assert_eq(count, n, "%ld rows, not %ld", count, n);
	cr_assert_eq(sum, (long long)n * (n + 1) / 2, "the rows sum to %lld", sum);
	cr_assert_geq(pieces, n / (long)STREAM_CHUNK, "%ld pieces of at most %lu rows for %ld "
	    "rows", pieces, STREAM_CHUNK, n);
	cr_assert_eq(dbm_pending(h), 0);
	/* Without the reset, VmHWM before is the baseline (a weaker check, never a false one). */
	return hwm - (reset == 0 ? before : hwm_before);
}

static void
a_million_rows_stream_in_bounded_memory(struct be *b, const char *sql_fmt)
{
	dbm_conn	*c = t_connect(&b->d);
	dbm_handle	*h = be_open(b, c);
	long		 n = stream_rows(), growth;
	char		*sql = t_strf(sql_fmt, n), *v;

	growth = stream_and_count(h, sql, n);
	if (t_rss_shows_frees())
		cr_assert_lt(growth, STREAM_MAX_GROWTH_KIB, "the client grew by %ld KiB while "
		    "streaming %ld rows in pieces of %lu", growth, n, STREAM_CHUNK);
	/* The handle carries on. */
	v = t_value(h, "SELECT 'after'", 0, NULL);
	cr_assert_str_eq(v, "after");
	free(v);
	free(sql);
	dbm_disconnect(c);
}

Test(stream_sqlite, a_million_rows_stream_in_pieces_in_bounded_memory, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	a_million_rows_stream_in_bounded_memory(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	    "SELECT x + 1 FROM c WHERE x < %ld) SELECT x, 'row ' || x FROM c");
	be_stop(&b);
}

Test(stream_pg, a_million_rows_stream_in_pieces_in_bounded_memory, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	a_million_rows_stream_in_bounded_memory(&b,
	    "SELECT g, 'row ' || g FROM generate_series(1, %ld) g");
	be_stop(&b);
}

/*
 * A statement that fails part way through its rows: the pieces before the
 * failure, then one error result, then NULL; never a last piece that says
 * it succeeded.
 */
static void
a_failure_mid_stream_ends_with_an_error(struct be *b, const char *sql, int code,
    const char *sqlstate)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_conn		*c = t_connect(&b->d);
	dbm_handle		*h = be_open(b, c);
	dbm_result		*r;
	long			 rows = 0, errors = 0;
	char			*v;

	eo.row_chunk = 100;
	send_exec(h, sql, 0, NULL, &eo);
	while ((r = dbm_get_result(h)) != NULL) {
		cr_assert_eq(errors, 0, "a result after the error");
		if (dbm_result_status(r) == DBM_OK) {
			cr_assert_eq(dbm_result_partial(r), 1, "a piece that completes the failing "
			    "statement after %ld rows", rows);
			rows += dbm_nrows(r);
		} else {
			cr_assert_eq(dbm_result_status(r), code, "%s: %s",
			    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
			if (sqlstate != NULL)
				cr_assert_str_eq(dbm_result_sqlstate(r), sqlstate);
			errors++;
		}
		dbm_result_free(r);
	}
	cr_assert_eq(errors, 1, "the failing statement ended without an error after %ld rows",
	    rows);
	cr_assert_lt(rows, 5000, "%ld rows before the failure at row 5000", rows);
	cr_assert_eq(dbm_pending(h), 0);
	v = t_value(h, "SELECT 'after'", 0, NULL);
	cr_assert_str_eq(v, "after");
	free(v);
	dbm_disconnect(c);
}

Test(stream_sqlite, a_statement_failing_mid_stream_ends_with_an_error_result,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	/*
	 * abs() of the smallest integer overflows: an error at row 5000.  The
	 * argument depends on x so that SQLite cannot evaluate it once up front.
	 */
	a_failure_mid_stream_ends_with_an_error(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	    "SELECT x + 1 FROM c WHERE x < 10000) SELECT CASE WHEN x = 5000 THEN "
	    "abs(x - 5000 - 9223372036854775807 - 1) ELSE x END, 'row ' || x FROM c", DBM_E_SQL,
	    NULL);
	be_stop(&b);
}

Test(stream_pg, a_statement_failing_mid_stream_ends_with_an_error_result, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	a_failure_mid_stream_ends_with_an_error(&b, "SELECT 1 / (g - 5000), 'row ' || g FROM "
	    "generate_series(1, 10000) g", DBM_E_SQL, "22012");
	be_stop(&b);
}

/* row_chunk is for the non-blocking calls: a blocking one collects the whole result. */
static void
blocking_calls_ignore_row_chunk(struct be *b, const char *sql)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_conn		*c = t_connect(&b->d);
	dbm_handle		*h = be_open(b, c);
	dbm_result		*r;

	eo.row_chunk = 10;
	r = dbm_exec_opts(h, sql, 0, NULL, &eo);
	cr_assert_not_null(r, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	cr_assert_eq(dbm_nrows(r), 100, "dbm_exec_opts with row_chunk 10: %d rows",
	    dbm_nrows(r));
	cr_assert_eq(dbm_result_partial(r), 0);
	cr_assert_str_eq(dbm_value(r, 99, 0), "100");
	cr_assert_str_eq(dbm_cmdtag(r), "SELECT 100");
	dbm_result_free(r);
	r = dbm_exec_params(h, sql, 0, NULL, NULL, NULL, &eo);
	cr_assert_not_null(r, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_nrows(r), 100, "dbm_exec_params with row_chunk 10: %d rows",
	    dbm_nrows(r));
	cr_assert_eq(dbm_result_partial(r), 0);
	dbm_result_free(r);
	/* A statement without rows streams as one result with its tag. */
	send_exec(h, "CREATE TABLE no_rows (a INTEGER)", 0, NULL, &eo);
	r = take_one(h, "CREATE TABLE with row_chunk");
	cr_assert_eq(dbm_nrows(r), 0);
	dbm_result_free(r);
	dbm_disconnect(c);
}

Test(stream_sqlite, blocking_calls_collect_the_whole_result_whatever_row_chunk_says,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	blocking_calls_ignore_row_chunk(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	    "SELECT x + 1 FROM c WHERE x < 100) SELECT x FROM c");
	be_stop(&b);
}

Test(stream_pg, blocking_calls_collect_the_whole_result_whatever_row_chunk_says,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	blocking_calls_ignore_row_chunk(&b, "SELECT g FROM generate_series(1, 100) g");
	be_stop(&b);
}

/*
 * Timeouts.  dbmd is stopped with SIGSTOP: its socket still accepts
 * connections and bytes, and nothing answers.  A watchdog child sends
 * SIGCONT after 15 s (scaled), so that a library that never times out fails
 * the test with a message instead of hanging it; the test sends SIGCONT
 * itself as soon as it is done, and the teardown's SIGKILL ends a stopped
 * dbmd too.
 */

#define WATCHDOG_MS	15000

struct frozen {
	pid_t	 dbmd;
	pid_t	 watchdog;
};

static void
freeze(struct frozen *z, const struct t_dbmd *d)
{
	z->dbmd = d->pid;
	if ((z->watchdog = t_fork()) == 0) {
		t_sleep_ms(WATCHDOG_MS * t_slow());
		kill(z->dbmd, SIGCONT);
		_exit(0);
	}
	cr_assert_eq(kill(z->dbmd, SIGSTOP), 0, "SIGSTOP: %s", strerror(errno));
}

/* SIGCONT, then dbmd must serve again: a timeout spoils the conn, never dbmd. */
static void
thaw(struct frozen *z, struct t_dbmd *d)
{
	kill(z->dbmd, SIGCONT);
	t_kill_pid(z->watchdog);
	t_dbmd_wait_ready(d);
}

/* A call that timed out: it took at least ms and well under the watchdog. */
static void
assert_timed_out(int64_t t0, int ms, const char *what)
{
	int64_t	 took = t_now_ms() - t0;

	cr_assert_geq(took, ms - 50, "%s gave up after %lld ms, before its %d ms", what,
	    (long long)took, ms);
	cr_assert_lt(took, (int64_t)WATCHDOG_MS * t_slow() - 1000, "%s did not time out: it "
	    "returned after %lld ms, when the watchdog woke dbmd", what, (long long)took);
}

/*
 * The outcome of a blocking statement to a stopped dbmd: NULL with the
 * conn's code DBM_E_TIMEOUT, or a result with that status; and the conn is
 * unusable after it.
 */
static void
assert_exec_timed_out(dbm_conn *c, dbm_result *r, const char *what)
{
	int	 code = r == NULL ? dbm_errcode(c) : dbm_result_status(r);
	int64_t	 t0;

	cr_assert_eq(code, DBM_E_TIMEOUT, "%s: %s (%s), not a timeout", what,
	    dbm_strerror(code), r == NULL ? dbm_errmsg(c) : dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_eq(dbm_errcode(c), DBM_E_TIMEOUT, "%s: the conn says %s", what,
	    dbm_strerror(dbm_errcode(c)));
	cr_assert_eq(dbm_connected(c), 0, "%s: the conn is still usable after a timeout", what);
	/* And stays so: later calls fail at once, never taking a late reply for theirs. */
	t0 = t_now_ms();
	cr_assert_null(dbm_open(c, "development", "primary", NULL), "%s: dbm_open succeeded "
	    "on a timed-out conn", what);
	cr_assert_neq(dbm_ping(c), DBM_OK, "%s: dbm_ping succeeded on a timed-out conn", what);
	cr_assert_lt(t_now_ms() - t0, 1000LL * t_slow(), "%s: calls on a timed-out conn wait",
	    what);
}

Test(timeout, a_statement_to_a_stopped_dbmd_times_out_after_timeout_ms, .timeout = TIMEOUT)
{
	struct dbm_connect_opts	 co = DBM_CONNECT_OPTS_INIT;
	struct be		 b;
	struct frozen		 z;
	dbm_conn		*c;
	dbm_handle		*h;
	dbm_result		*r;
	int64_t			 t0;

	be_sqlite(&b, NULL);
	co.socket_path = b.d.sock;
	co.timeout_ms = 500;
	c = dbm_connect_opts(&co);
	cr_assert_eq(dbm_errcode(c), DBM_OK, "%s", dbm_errmsg(c));
	h = be_open(&b, c);
	t_exec0(h, "SELECT 1", 0, NULL);

	freeze(&z, &b.d);
	t0 = t_now_ms();
	r = dbm_exec(h, "SELECT 2", 0, NULL);
	assert_timed_out(t0, 500, "dbm_exec");
	assert_exec_timed_out(c, r, "dbm_exec");
	dbm_disconnect(c);
	thaw(&z, &b.d);
	be_stop(&b);
}

Test(timeout, dbmd_timeout_in_the_environment_sets_the_timeouts, .timeout = TIMEOUT)
{
	char		 tmo[32];
	int		 ms;
	struct be	 b;
	struct frozen	 z;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	int64_t		 t0;

	be_sqlite(&b, NULL);
	/*
	 * A program that passes no options: dbm_connect.  In milliseconds, long enough
	 * for the connect and open before the freeze under valgrind too.
	 */
	ms = 500 * t_slow();
	snprintf(tmo, sizeof(tmo), "%dms", ms);
	cr_assert_eq(setenv("DBMD_TIMEOUT", tmo, 1), 0);
	c = t_connect(&b.d);
	h = be_open(&b, c);
	freeze(&z, &b.d);
	t0 = t_now_ms();
	r = dbm_exec(h, "SELECT 2", 0, NULL);
	assert_timed_out(t0, ms, "dbm_exec with DBMD_TIMEOUT in ms");
	assert_exec_timed_out(c, r, "dbm_exec with DBMD_TIMEOUT in ms");
	dbm_disconnect(c);

	/* A number alone is seconds; it bounds connecting too (opts NULL: $DBMD_SOCKET). */
	cr_assert_eq(setenv("DBMD_TIMEOUT", "1", 1), 0);
	cr_assert_eq(setenv("DBMD_SOCKET", b.d.sock, 1), 0);
	t0 = t_now_ms();
	c = dbm_connect_opts(NULL);
	assert_timed_out(t0, 1000, "dbm_connect_opts(NULL) with DBMD_TIMEOUT=1");
	cr_assert_eq(dbm_errcode(c), DBM_E_TIMEOUT, "connect: %s (%s)",
	    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
	cr_assert_eq(dbm_connected(c), 0);
	dbm_disconnect(c);
	unsetenv("DBMD_TIMEOUT");
	unsetenv("DBMD_SOCKET");
	thaw(&z, &b.d);
	be_stop(&b);
}

Test(timeout, connecting_to_a_stopped_dbmd_times_out_after_connect_timeout_ms,
    .timeout = TIMEOUT)
{
	struct dbm_connect_opts	 co = DBM_CONNECT_OPTS_INIT;
	struct be		 b;
	struct frozen		 z;
	dbm_conn		*c;
	int64_t			 t0;

	be_sqlite(&b, NULL);
	co.socket_path = b.d.sock;
	co.connect_timeout_ms = 300;
	freeze(&z, &b.d);
	t0 = t_now_ms();
	c = dbm_connect_opts(&co);
	assert_timed_out(t0, 300, "dbm_connect_opts");
	cr_assert_not_null(c);
	cr_assert_eq(dbm_errcode(c), DBM_E_TIMEOUT, "connect: %s (%s)",
	    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
	cr_assert_eq(dbm_connected(c), 0);
	cr_assert_eq(dbm_socket(c), -1, "a conn that failed to connect has socket %d",
	    dbm_socket(c));
	dbm_disconnect(c);
	thaw(&z, &b.d);
	/* The same options to a dbmd that answers connect at once. */
	c = dbm_connect_opts(&co);
	cr_assert_eq(dbm_errcode(c), DBM_OK, "%s", dbm_errmsg(c));
	cr_assert_eq(dbm_ping(c), DBM_OK);
	dbm_disconnect(c);
	be_stop(&b);
}

Test(timeout, a_statements_own_timeout_ms_overrides_the_conns, .timeout = TIMEOUT)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct be		 b;
	struct frozen		 z;
	dbm_conn		*c;
	dbm_handle		*h;
	dbm_result		*r;
	int64_t			 t0;

	be_sqlite(&b, NULL);
	c = t_connect(&b.d);		/* no timeout of its own: requests would wait forever */
	h = be_open(&b, c);
	eo.timeout_ms = 300;
	freeze(&z, &b.d);
	t0 = t_now_ms();
	r = dbm_exec_opts(h, "SELECT 2", 0, NULL, &eo);
	assert_timed_out(t0, 300, "dbm_exec_opts with timeout_ms 300");
	assert_exec_timed_out(c, r, "dbm_exec_opts with timeout_ms 300");
	dbm_disconnect(c);
	thaw(&z, &b.d);
	be_stop(&b);
}

/* The non-blocking calls time out as results: dbm_get_result gives DBM_E_TIMEOUT, then NULL. */
Test(timeout, a_result_waited_for_too_long_is_a_timeout_result, .timeout = TIMEOUT)
{
	struct dbm_connect_opts	 co = DBM_CONNECT_OPTS_INIT;
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	struct be		 b;
	struct frozen		 z;
	dbm_conn		*c;
	dbm_handle		*h, *h2;
	dbm_result		*r;
	int64_t			 t0;

	be_sqlite(&b, NULL);
	co.socket_path = b.d.sock;
	co.timeout_ms = 500;
	c = dbm_connect_opts(&co);
	cr_assert_eq(dbm_errcode(c), DBM_OK, "%s", dbm_errmsg(c));
	h = be_open(&b, c);
	h2 = be_open(&b, c);
	freeze(&z, &b.d);
	send_exec(h, "SELECT 1", 0, NULL, NULL);
	/* A request of its own timeout on another handle, never answered either. */
	eo.timeout_ms = 5000;
	send_exec(h2, "SELECT 2", 0, NULL, &eo);
	t0 = t_now_ms();
	r = dbm_get_result(h);
	assert_timed_out(t0, 500, "dbm_get_result");
	cr_assert_not_null(r, "dbm_get_result timed out with NULL, not a result saying so");
	cr_assert_eq(dbm_result_status(r), DBM_E_TIMEOUT, "%s (%s)",
	    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_null(dbm_get_result(h));
	cr_assert_eq(dbm_connected(c), 0, "the conn is usable after a timeout");
	/* The conn is finished: the other handle's request fails at once, without waiting. */
	t0 = t_now_ms();
	r = dbm_get_result(h2);
	cr_assert_not_null(r, "the other request vanished");
	cr_assert_neq(dbm_result_status(r), DBM_OK);
	dbm_result_free(r);
	cr_assert_null(dbm_get_result(h2));
	cr_assert_lt(t_now_ms() - t0, 1000LL * t_slow(), "the other request waited on a "
	    "finished conn");
	cr_assert_eq(dbm_pending(h), 0);
	cr_assert_eq(dbm_pending(h2), 0);
	dbm_disconnect(c);
	thaw(&z, &b.d);
	be_stop(&b);
}

/*
 * A send never blocks: to a stopped dbmd, a statement larger than the
 * socket's buffer is queued, dbm_flush says to wait for POLLOUT, and once
 * dbmd reads again dbm_flush finishes it and the result comes.
 */
Test(async_sqlite, a_send_never_blocks_and_flush_finishes_it_when_the_socket_drains,
    .timeout = TIMEOUT)
{
	struct be	 b;
	struct frozen	 z;
	struct pollfd	 pfd;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		*big, want[32];
	size_t		 len = 900 * 1024;
	int64_t		 t0, end;
	int		 f;

	be_sqlite(&b, NULL);
	c = t_connect(&b.d);
	h = be_open(&b, c);
	big = malloc(len + 1);
	cr_assert_not_null(big);
	memset(big, 'x', len);
	big[len] = '\0';

	freeze(&z, &b.d);
	t0 = t_now_ms();
	send_exec(h, "SELECT length($1)", 1, (const char *[]){ big }, NULL);
	f = dbm_flush(c);
	cr_assert_lt(t_now_ms() - t0, 2000LL * t_slow(), "dbm_send_exec_params and dbm_flush "
	    "blocked on a stopped dbmd for %lld ms", (long long)(t_now_ms() - t0));
	cr_assert_eq(f, 1, "dbm_flush returned %d with %zu bytes for a stopped dbmd", f, len);
	cr_assert_eq(dbm_is_busy(h), 1);
	kill(z.dbmd, SIGCONT);

	end = t_now_ms() + 10000LL * t_slow();
	while ((f = dbm_flush(c)) == 1) {
		cr_assert(t_now_ms() < end, "the request never went out");
		pfd.fd = dbm_socket(c);
		pfd.events = POLLOUT;
		cr_assert_neq(poll(&pfd, 1, 100), -1);
	}
	cr_assert_eq(f, 0, "dbm_flush: %d: %s", f, dbm_errmsg(c));
	r = take_one(h, "the large statement");
	snprintf(want, sizeof(want), "%zu", len);
	cr_assert_str_eq(dbm_value(r, 0, 0), want);
	dbm_result_free(r);
	free(big);
	dbm_disconnect(c);
	thaw(&z, &b.d);
	be_stop(&b);
}

/* Waits until the pool shows a statement running, as dbmd's STATUS says. */
static void
wait_active(struct be *b, unsigned long long hash)
{
	int64_t		 end = t_now_ms() + 10000LL * t_slow();
	dbm_conn	*mon = t_connect(&b->d);
	char		*v;
	int		 n;

	for (;;) {
		v = t_pool_field(mon, hash, "active");
		cr_assert_not_null(v, "no such pool in STATUS");
		n = atoi(v);
		free(v);
		if (n >= 1)
			break;
		cr_assert(t_now_ms() < end, "the statements never showed as active");
		t_sleep_ms(10);
	}
	dbm_disconnect(mon);
}

/*
 * A broken connection: dbmd killed while requests are pending.  Every
 * pending request gets one error result (DBM_E_CONNECTION) and then NULL,
 * on every handle, promptly; later calls fail at once.
 */
static void
a_killed_dbmd_fails_every_pending_request(struct be *b, const char *slow_sql)
{
	dbm_conn	*c = t_connect(&b->d);
	dbm_handle	*hs[2];
	dbm_result	*r;
	int64_t		 t0;
	int		 i, k, nreq[2] = { 2, 1 }, code;

	hs[0] = be_open(b, c);
	hs[1] = be_open(b, c);
	for (i = 0; i < 2; i++)
		for (k = 0; k < nreq[i]; k++)
			send_exec(hs[i], slow_sql, 0, NULL, NULL);
	while (dbm_flush(c) == 1)
		poll_conns(&c, 1, 100);
	if (b->pg)
		cr_assert_neq(pq_wait_active(pg.check, pg.db, "SELECT pg_sleep%", 10000), 0,
		    "the statements never started");
	else
		wait_active(b, dbm_handle_pool_hash(hs[0]));

	t_dbmd_kill(&b->d);
	t0 = t_now_ms();
	for (i = 0; i < 2; i++) {
		for (k = 0; k < nreq[i]; k++) {
			r = dbm_get_result(hs[i]);
			cr_assert_not_null(r, "handle %d, request %d: no result after the loss", i, k);
			cr_assert_eq(dbm_result_status(r), DBM_E_CONNECTION, "handle %d, request %d: "
			    "%s (%s)", i, k, dbm_strerror(dbm_result_status(r)),
			    dbm_result_errmsg(r));
			cr_assert_neq(dbm_result_errmsg(r)[0], '\0');
			dbm_result_free(r);
			cr_assert_null(dbm_get_result(hs[i]), "handle %d, request %d: a second result",
			    i, k);
		}
		cr_assert_eq(dbm_pending(hs[i]), 0);
		cr_assert_eq(dbm_is_busy(hs[i]), 0, "handle %d busy with nothing pending", i);
		cr_assert_null(dbm_get_result(hs[i]));
	}
	cr_assert_lt(t_now_ms() - t0, 5000LL * t_slow(), "the loss took %lld ms to show",
	    (long long)(t_now_ms() - t0));
	cr_assert_eq(dbm_connected(c), 0);
	cr_assert_eq(dbm_socket(c), -1);
	/* A later send is refused at once, or answered at once with an error. */
	code = dbm_send_exec_params(hs[0], "SELECT 1", 0, NULL, NULL, NULL, NULL);
	if (code == DBM_OK) {
		r = dbm_get_result(hs[0]);
		cr_assert_not_null(r);
		cr_assert_eq(dbm_result_status(r), DBM_E_CONNECTION, "%s",
		    dbm_strerror(dbm_result_status(r)));
		dbm_result_free(r);
		cr_assert_null(dbm_get_result(hs[0]));
	} else
		cr_assert_eq(code, DBM_E_CONNECTION, "%s", dbm_strerror(code));
	dbm_disconnect(c);
}

Test(broken_sqlite, a_killed_dbmd_fails_every_pending_request_then_null,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	a_killed_dbmd_fails_every_pending_request(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
	    "ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c");
}

Test(broken_pg, a_killed_dbmd_fails_every_pending_request_then_null, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	a_killed_dbmd_fails_every_pending_request(&b, "SELECT pg_sleep(60)");
}

/*
 * The same loss seen through an event loop: poll says the socket is
 * readable, dbm_consume_input reports the loss, and from then on no handle
 * is busy -- a program that waits for the socket would wait forever -- and
 * each pending request gives its error result and NULL without waiting.
 */
static void
a_lost_conn_is_never_busy(struct be *b, const char *slow_sql)
{
	dbm_conn	*c = t_connect(&b->d);
	dbm_handle	*hs[2];
	dbm_result	*r;
	struct pollfd	 pfd;
	int64_t		 end;
	int		 i, code = DBM_OK;

	hs[0] = be_open(b, c);
	hs[1] = be_open(b, c);
	for (i = 0; i < 2; i++)
		send_exec(hs[i], slow_sql, 0, NULL, NULL);
	while (dbm_flush(c) == 1)
		poll_conns(&c, 1, 100);
	cr_assert_eq(dbm_is_busy(hs[0]), 1);
	t_dbmd_kill(&b->d);

	end = t_now_ms() + 5000LL * t_slow();
	while (code == DBM_OK) {
		cr_assert(t_now_ms() < end, "the loss of dbmd never showed");
		pfd.fd = dbm_socket(c);
		pfd.events = POLLIN;
		cr_assert_geq(pfd.fd, 0, "the socket closed before dbm_consume_input said why");
		cr_assert_neq(poll(&pfd, 1, 100), -1);
		if (pfd.revents != 0)
			code = dbm_consume_input(c);
	}
	cr_assert_eq(code, DBM_E_CONNECTION, "dbm_consume_input: %s", dbm_strerror(code));
	cr_assert_eq(dbm_connected(c), 0);
	cr_assert_eq(dbm_socket(c), -1);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(dbm_is_busy(hs[i]), 0, "handle %d is busy on a lost conn", i);
		r = dbm_get_result(hs[i]);
		cr_assert_not_null(r, "handle %d: no result after the loss", i);
		cr_assert_eq(dbm_result_status(r), DBM_E_CONNECTION, "handle %d: %s", i,
		    dbm_strerror(dbm_result_status(r)));
		dbm_result_free(r);
		cr_assert_null(dbm_get_result(hs[i]));
		cr_assert_eq(dbm_pending(hs[i]), 0);
	}
	cr_assert_neq(dbm_consume_input(c), DBM_OK);
	cr_assert_eq(dbm_flush(c), -1, "dbm_flush on a lost conn");
	dbm_disconnect(c);
}

Test(broken_sqlite, a_lost_conn_is_seen_by_consume_input_and_no_handle_stays_busy,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	a_lost_conn_is_never_busy(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
	    "ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c");
}

Test(broken_pg, a_lost_conn_is_seen_by_consume_input_and_no_handle_stays_busy,
    .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	a_lost_conn_is_never_busy(&b, "SELECT pg_sleep(60)");
}

/* Killed mid-stream: the pieces already read, then one error result, then NULL. */
static void
a_killed_dbmd_ends_a_stream_with_an_error(struct be *b, const char *sql)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_conn		*c = t_connect(&b->d);
	dbm_handle		*h = be_open(b, c);
	dbm_result		*r;
	long			 rows = 0, errors = 0;

	eo.row_chunk = STREAM_CHUNK;
	send_exec(h, sql, 0, NULL, &eo);
	r = dbm_get_result(h);
	cr_assert_not_null(r);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	cr_assert_eq(dbm_result_partial(r), 1, "the first piece of a long stream is its last");
	dbm_result_free(r);
	t_dbmd_kill(&b->d);
	while ((r = dbm_get_result(h)) != NULL) {
		cr_assert_eq(errors, 0, "a result after the error");
		if (dbm_result_status(r) == DBM_OK) {
			cr_assert_eq(dbm_result_partial(r), 1, "the stream completed after %ld rows "
			    "though dbmd was killed", rows);
			rows += dbm_nrows(r);
		} else {
			cr_assert_eq(dbm_result_status(r), DBM_E_CONNECTION, "%s",
			    dbm_strerror(dbm_result_status(r)));
			errors++;
		}
		dbm_result_free(r);
	}
	cr_assert_eq(errors, 1, "the broken stream ended without an error after %ld rows", rows);
	cr_assert_eq(dbm_pending(h), 0);
	dbm_disconnect(c);
}

Test(broken_sqlite, a_killed_dbmd_ends_a_stream_with_an_error_result, .timeout = TIMEOUT)
{
	struct be	 b;

	be_sqlite(&b, NULL);
	a_killed_dbmd_ends_a_stream_with_an_error(&b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
	    "ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT x, 'row ' || x FROM c");
}

Test(broken_pg, a_killed_dbmd_ends_a_stream_with_an_error_result, .timeout = TIMEOUT)
{
	struct be	 b;

	be_pg(&b);
	/* In the select list, generate_series streams; in FROM it would be stored first. */
	a_killed_dbmd_ends_a_stream_with_an_error(&b, "SELECT g, 'row ' || g FROM "
	    "(SELECT generate_series(1, 100000000) AS g) s");
}

/*
 * A dbmd of protocol version 1 only, played by a child that answers the
 * HELLO as such a dbmd does: ERROR VERSION naming its range, then close.
 */
Test(timeout, a_client_against_a_version_1_dbmd_fails_with_its_version_error,
    .timeout = TIMEOUT)
{
	char			 dir[] = "/tmp/dbmd-v1.XXXXXX", path[64];
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct proto_decoder	 dec;
	struct proto_frame	 f;
	struct proto_hello	 hello;
	struct proto_buf	 b;
	struct proto_error	 e = { .code = PROTO_E_VERSION, .sqlstate = "",
	    .message = "no common protocol version: dbmd speaks 1..1, the client 2..2",
	    .detail = "", .hint = "" };
	dbm_conn		*c;
	pid_t			 pid;
	int			 lfd, fd, status;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dbmd.sock", dir);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	cr_assert_neq(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(lfd, 1), 0);
	if ((pid = fork()) == 0) {
		uint8_t	 buf[4096];
		ssize_t	 n;
		int	 ok = 1;

		fd = accept(lfd, NULL, NULL);
		proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
		while (proto_decoder_next(&dec, &f) == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			proto_decoder_feed(&dec, buf, (size_t)n);
		/* What the library offers: 2..2, so that an old dbmd refuses it plainly. */
		if (f.hdr.type != PROTO_MSG_HELLO || proto_decode_hello(&f, &hello) != 0 ||
		    hello.min_version != 2 || hello.max_version != 2)
			ok = 0;
		proto_buf_init(&b);
		proto_encode_error(&b, f.hdr.request_id, &e);
		(void)!write(fd, b.data, b.len);
		close(fd);
		_exit(ok ? 0 : 1);
	}
	cr_assert_gt(pid, 0);
	close(lfd);
	c = dbm_connect(path);
	cr_expect_eq(dbm_errcode(c), DBM_E_VERSION, "%d: %s", dbm_errcode(c), dbm_errmsg(c));
	cr_expect_not_null(strstr(dbm_errmsg(c), "dbmd speaks 1..1"), "%s", dbm_errmsg(c));
	cr_expect_eq(dbm_connected(c), 0);
	dbm_disconnect(c);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the library did not offer exactly version 2");
	unlink(path);
	rmdir(dir);
}
