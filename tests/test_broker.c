/* test_broker.c: a real dbmd and its clients: concurrency, transactions, SQL, pools, protocol, life. */

/*
 * Every test starts its own dbmd (tests/harness.h) in a temporary directory,
 * talks to it through libdbmclient or, for what the library would never
 * send, a raw socket, and stops it.  Bounds on time are generous and only
 * ever say "well within": these tests prove behaviour, not speed.
 */

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * One timeout for every suite: when tests with different .timeout values run
 * in parallel and a long one outlives shorter ones, Criterion 2.4's runner
 * leaks 48 bytes, which LeakSanitizer reports and make asan counts as a
 * failure.  The timeout only matters when something hangs.
 */
#define SUITE(name) \
	TestSuite(name, .init = t_setup, .fini = t_teardown, .timeout = 120)
SUITE(clients);
SUITE(txn);
SUITE(sql);
SUITE(factory);
SUITE(protocol);
SUITE(lifecycle);

/* A dbmd, and one client with a handle on env/primary. */
struct one {
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
};

static void
one_start(struct one *o, const char *env, const char *const *sets)
{
	t_dbmd_start(&o->d, sets);
	o->c = t_connect(&o->d);
	o->h = t_open(o->c, env, "primary");
}

static void
one_stop(struct one *o)
{
	dbm_disconnect(o->c);
	cr_assert_eq(t_dbmd_stop(&o->d), 0);
}

/* The number of rows of table whose column v is value, as seen through h. */
static int
count_value(dbm_handle *h, const char *table, const char *value)
{
	char		*sql = t_strf("SELECT count(*) FROM %s WHERE v = $1", table);
	char		*v = t_value(h, sql, 1, (const char *[]){ value });
	int		 n = atoi(v);

	free(v);
	free(sql);
	return n;
}

/* --set of development's acquire_timeout, which is also SQLite's busy timeout. */
static char *
acquire_timeout_set(int seconds)
{
	return t_strf("development.acquire_timeout=%ds", seconds * t_slow());
}

/*
 * Many clients at once.
 */

#define NCLIENTS	20
#define NROWS		5

struct client_job {
	const char		*sock;
	pthread_barrier_t	*start;
	int			 id;
	char			 err[512];	/* "" when every check passed */
};

/* Criterion's assertions must not run on other threads: failures are written down. */
static void *
client_thread(void *arg)
{
	struct client_job	*j = arg;
	dbm_conn		*c;
	dbm_handle		*h = NULL;
	dbm_result		*r = NULL;
	char			 owner[16], n[16], v[32], want[32];
	int			 i;

	snprintf(owner, sizeof(owner), "c%02d", j->id);
	pthread_barrier_wait(j->start);
	c = dbm_connect(j->sock);
	if (dbm_errcode(c) != DBM_OK) {
		snprintf(j->err, sizeof(j->err), "connect: %s", dbm_errmsg(c));
		goto out;
	}
	if ((h = dbm_open(c, "development", "primary", NULL)) == NULL) {
		snprintf(j->err, sizeof(j->err), "open: %s", dbm_errmsg(c));
		goto out;
	}
	for (i = 0; i < NROWS; i++) {
		snprintf(n, sizeof(n), "%d", i);
		snprintf(v, sizeof(v), "%s-row%d", owner, i);
		r = dbm_exec(h, "INSERT INTO items (owner, n, v) VALUES ($1, $2, $3)", 3,
		    (const char *[]){ owner, n, v });
		if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_affected(r) != 1) {
			snprintf(j->err, sizeof(j->err), "insert %d: %s", i, r == NULL ?
			    dbm_errmsg(c) : dbm_result_errmsg(r));
			goto out;
		}
		dbm_result_free(r);
		r = NULL;
	}
	r = dbm_exec(h, "SELECT n, v FROM items WHERE owner = ? ORDER BY n", 1,
	    (const char *[]){ owner });
	if (r == NULL || dbm_result_status(r) != DBM_OK) {
		snprintf(j->err, sizeof(j->err), "select: %s", r == NULL ? dbm_errmsg(c) :
		    dbm_result_errmsg(r));
		goto out;
	}
	if (dbm_nrows(r) != NROWS) {
		snprintf(j->err, sizeof(j->err), "read back %d rows, not %d", dbm_nrows(r),
		    NROWS);
		goto out;
	}
	for (i = 0; i < NROWS; i++) {
		snprintf(n, sizeof(n), "%d", i);
		snprintf(want, sizeof(want), "%s-row%d", owner, i);
		if (strcmp(dbm_value(r, i, 0), n) != 0 || strcmp(dbm_value(r, i, 1), want) != 0) {
			snprintf(j->err, sizeof(j->err), "row %d is (%s, %s), not (%s, %s)", i,
			    dbm_value(r, i, 0), dbm_value(r, i, 1), n, want);
			goto out;
		}
	}
out:
	dbm_result_free(r);
	if (h != NULL && dbm_dispose(h) != DBM_OK && j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "dispose: %s", dbm_errmsg(c));
	dbm_disconnect(c);
	return NULL;
}

Test(clients, twenty_concurrent_clients_over_a_pool_of_four_each_read_their_own_rows)
{
	struct t_dbmd		 d;
	struct client_job	 jobs[NCLIENTS];
	pthread_t		 th[NCLIENTS];
	pthread_barrier_t	 start;
	dbm_conn		*c;
	dbm_handle		*h;
	char			*v;
	int			 i;

	t_dbmd_start(&d, (const char *[]){ "development.primary.pool_size=4", NULL });
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	t_exec0(h, "CREATE TABLE items (owner TEXT NOT NULL, n INTEGER NOT NULL, "
	    "v TEXT NOT NULL, UNIQUE (owner, n))", 0, NULL);

	pthread_barrier_init(&start, NULL, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct client_job){ .sock = d.sock, .start = &start, .id = i };
		cr_assert_eq(pthread_create(&th[i], NULL, client_thread, &jobs[i]), 0);
	}
	for (i = 0; i < NCLIENTS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NCLIENTS; i++)
		cr_expect_str_empty(jobs[i].err, "client %d: %s", i, jobs[i].err);

	v = t_value(h, "SELECT count(*) FROM items", 0, NULL);
	cr_assert_eq(atoi(v), NCLIENTS * NROWS);
	free(v);
	v = t_pool_field(c, dbm_handle_pool_hash(h), "pool_size");
	cr_assert_not_null(v);
	cr_assert_str_eq(v, "4");
	free(v);
	/* Connections are never closed here, so every one ever opened is counted. */
	v = t_pool_field(c, dbm_handle_pool_hash(h), "connects");
	cr_assert_leq(atoi(v), 4, "%s connections opened for a pool of 4", v);
	free(v);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * A long statement holds one connection of the pool; another client's
 * statement runs on another connection meanwhile.
 */

struct long_job {
	dbm_conn	*conn;
	dbm_handle	*h;
	const char	*count;		/* rows the recursive CTE makes */
	atomic_int	 done;
	char		 err[512];
	char		 value[32];
};

#define LONG_SQL	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " \
			"WHERE x < CAST($1 AS INTEGER)) SELECT count(*) FROM c"

static void *
long_thread(void *arg)
{
	struct long_job	*j = arg;
	dbm_result	*r = dbm_exec(j->h, LONG_SQL, 1, (const char *[]){ j->count });

	if (r == NULL)
		snprintf(j->err, sizeof(j->err), "%s", dbm_errmsg(j->conn));
	else if (dbm_result_status(r) != DBM_OK)
		snprintf(j->err, sizeof(j->err), "%s", dbm_result_errmsg(r));
	else
		snprintf(j->value, sizeof(j->value), "%s", dbm_value(r, 0, 0));
	dbm_result_free(r);
	atomic_store(&j->done, 1);
	return NULL;
}

/*
 * The LONG_SQL count that takes about ms on h, on this machine (and under
 * valgrind, which makes it smaller).
 */
static void
long_calibrate(dbm_handle *h, int ms, char *count, size_t size)
{
	long long	 n = 100000;
	int64_t		 t0, took;
	char		*v;

	for (;;) {
		snprintf(count, size, "%lld", n);
		t0 = t_now_ms();
		v = t_value(h, LONG_SQL, 1, (const char *[]){ count });
		took = t_now_ms() - t0;
		cr_assert_str_eq(v, count);
		free(v);
		if (took >= 200 || n >= 1000000000LL)
			break;
		n *= 4;
	}
	snprintf(count, size, "%lld", n * ms / (took > 0 ? took : 1));
}

/* Starts LONG_SQL on a thread and waits until mon's STATUS shows it running. */
static void
long_start(struct long_job *job, pthread_t *th, dbm_conn *c, dbm_handle *h,
    const char *count, dbm_conn *mon)
{
	int64_t		 end = t_now_ms() + 5000LL * t_slow();
	char		*v;

	job->conn = c;
	job->h = h;
	job->count = count;
	cr_assert_eq(pthread_create(th, NULL, long_thread, job), 0);
	for (;;) {
		v = t_pool_field(mon, dbm_handle_pool_hash(h), "active");
		cr_assert_not_null(v);
		if (atoi(v) >= 1) {
			free(v);
			return;
		}
		free(v);
		cr_assert(!atomic_load(&job->done), "the long statement ended before it was "
		    "seen running: %s", job->err);
		cr_assert(t_now_ms() < end, "the long statement never showed as active");
		t_sleep_ms(10);
	}
}

Test(clients, a_long_statement_does_not_delay_another_clients_statement)
{
	struct t_dbmd	 d;
	struct long_job	 job = { 0 };
	dbm_conn	*a, *b, *mon;
	dbm_handle	*ha, *hb;
	pthread_t	 th;
	char		 count[32], *v;
	int64_t		 t0, b_ms;
	int		 done;

	t_dbmd_start(&d, NULL);
	a = t_connect(&d);
	b = t_connect(&d);
	mon = t_connect(&d);
	ha = t_open(a, "development", "primary");
	hb = t_open(b, "development", "primary");
	cr_assert_eq(dbm_handle_pool_hash(ha), dbm_handle_pool_hash(hb));

	long_calibrate(ha, 3000, count, sizeof(count));
	long_start(&job, &th, a, ha, count, mon);

	t0 = t_now_ms();
	v = t_value(hb, "SELECT 1", 0, NULL);
	b_ms = t_now_ms() - t0;
	done = atomic_load(&job.done);
	cr_expect_str_eq(v, "1");
	free(v);
	/*
	 * Valgrind runs one thread at a time and may leave dbmd's event loop
	 * waiting while the busy worker thread runs on: under it, only the
	 * memory checks of this test mean anything.
	 */
	if (t_slow() < 10) {
		cr_expect(!done, "the long statement (%s rows) ended before the short one "
		    "did; make it longer", count);
		cr_expect_lt(b_ms, 1000, "SELECT 1 took %lld ms while another client's "
		    "statement ran", (long long)b_ms);
	}

	pthread_join(th, NULL);
	cr_assert_str_empty(job.err, "the long statement failed: %s", job.err);
	cr_assert_str_eq(job.value, count);
	dbm_disconnect(a);
	dbm_disconnect(b);
	dbm_disconnect(mon);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Results larger than dbmd's output buffer stream through, for a reader
 * that keeps up and for one that stops reading for a while.
 */

#define BIG_ROWS	"40000"
#define BIG_SQL		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " \
			"WHERE x < " BIG_ROWS ") SELECT x, printf('%0100d', x) AS pad FROM c"

Test(clients, a_result_of_megabytes_arrives_whole)
{
	struct one	 o;
	dbm_result	*r;
	char		 want[128];

	one_start(&o, "test", NULL);
	r = t_exec(o.h, BIG_SQL, 0, NULL);
	cr_assert_eq(dbm_nrows(r), atoi(BIG_ROWS));
	cr_assert_str_eq(dbm_value(r, 0, 0), "1");
	cr_assert_str_eq(dbm_value(r, atoi(BIG_ROWS) - 1, 0), BIG_ROWS);
	snprintf(want, sizeof(want), "%0100d", atoi(BIG_ROWS));
	cr_assert_str_eq(dbm_value(r, atoi(BIG_ROWS) - 1, 1), want);
	cr_assert_str_eq(dbm_cmdtag(r), "SELECT " BIG_ROWS);
	dbm_result_free(r);
	one_stop(&o);
}

Test(clients, a_client_that_stops_reading_gets_its_whole_result_later)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_data_row	 row;
	struct proto_value	 v;
	struct proto_exec	 m = { .sql = BIG_SQL };
	dbm_conn		*c;
	dbm_handle		*h;
	char			*val;
	long			 rows = 0, last = 0;
	int			 fd, r;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "test", "primary");
	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, &dec);
	m.handle_id = t_raw_open(fd, &dec, "test", "primary");
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 3, &m), PROTO_E_OK);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0);
	proto_buf_free(&b);

	/* Megabytes wait for this client; dbmd serves the others meanwhile. */
	t_raw_wait_full(fd);
	val = t_value(h, "SELECT 'not blocked'", 0, NULL);
	cr_assert_str_eq(val, "not blocked");
	free(val);

	while ((r = t_raw_next(fd, &dec, &f, 10000)) == 1) {
		cr_assert_eq(f.hdr.request_id, 3);
		if (f.hdr.type == PROTO_MSG_DATA_ROW) {
			cr_assert_eq(proto_decode_data_row(&f, &row), PROTO_DERR_OK);
			cr_assert(proto_iter_next(&row.value_iter, &v));
			last = atol(v.ptr);
			cr_assert_eq(last, rows + 1, "row %ld after row %ld", last, rows);
			rows++;
			continue;
		}
		if (f.hdr.type == PROTO_MSG_ROW_DESC)
			continue;
		cr_assert_eq(f.hdr.type, PROTO_MSG_COMPLETE, "%s after %ld rows",
		    proto_msg_name(f.hdr.type), rows);
		break;
	}
	cr_assert_eq(r, 1, "the reply stopped after %ld rows (%s)", rows,
	    r == 0 ? "connection closed" : "nothing more came");
	cr_assert_eq(rows, atol(BIG_ROWS));
	proto_decoder_free(&dec);
	close(fd);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(clients, a_client_killed_mid_statement_frees_its_connection)
{
	struct one	 o;
	char		*v;
	int64_t		 end;
	pid_t		 pid;

	one_start(&o, "test", NULL);
	if ((pid = t_fork()) == 0) {
		/* Minutes of work, unless dbmd cancels it. */
		dbm_conn *c = dbm_connect(o.d.sock);
		dbm_handle *h = dbm_open(c, "test", "primary", NULL);

		dbm_exec(h, LONG_SQL, 1, (const char *[]){ "2000000000" });
		_exit(1);
	}
	end = t_now_ms() + 5000LL * t_slow();
	for (;;) {
		v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "active");
		cr_assert_not_null(v);
		if (atoi(v) >= 1) {
			free(v);
			break;
		}
		free(v);
		cr_assert(t_now_ms() < end, "the child's statement never showed as active");
		t_sleep_ms(10);
	}
	t_kill_pid(pid);
	end = t_now_ms() + 5000LL * t_slow();
	for (;;) {
		v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "active");
		cr_assert_not_null(v);
		if (atoi(v) == 0) {
			free(v);
			break;
		}
		free(v);
		cr_assert(t_now_ms() < end, "the dead client's statement is still running");
		t_sleep_ms(20);
	}
	v = t_value(o.h, "SELECT 'served'", 0, NULL);
	cr_assert_str_eq(v, "served");
	free(v);
	one_stop(&o);
}

/*
 * Transactions.
 */

/* A dbmd with table t (v TEXT) on development/primary, and two clients. */
struct two {
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*a, *b;
};

static void
two_start(struct two *w, const char *const *sets)
{
	t_dbmd_start(&w->d, sets);
	w->ca = t_connect(&w->d);
	w->cb = t_connect(&w->d);
	w->a = t_open(w->ca, "development", "primary");
	w->b = t_open(w->cb, "development", "primary");
	t_exec0(w->a, "CREATE TABLE t (v TEXT)", 0, NULL);
}

static void
two_stop(struct two *w)
{
	dbm_disconnect(w->ca);
	dbm_disconnect(w->cb);
	cr_assert_eq(t_dbmd_stop(&w->d), 0);
}

Test(txn, committed_insert_is_visible_to_another_client)
{
	struct two	 w;

	two_start(&w, NULL);
	cr_assert_eq(dbm_begin(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	t_exec0(w.a, "INSERT INTO t VALUES ($1)", 1, (const char *[]){ "committed" });
	cr_assert_eq(count_value(w.a, "t", "committed"), 1, "the transaction sees its row");
	cr_assert_eq(count_value(w.b, "t", "committed"), 0, "seen before COMMIT");
	cr_assert_eq(dbm_commit(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	cr_assert_eq(count_value(w.b, "t", "committed"), 1, "not seen after COMMIT");
	two_stop(&w);
}

Test(txn, rolled_back_insert_is_not_visible)
{
	struct two	 w;

	two_start(&w, NULL);
	cr_assert_eq(dbm_begin(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	t_exec0(w.a, "INSERT INTO t VALUES ($1)", 1, (const char *[]){ "gone" });
	cr_assert_eq(dbm_rollback(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	cr_assert_eq(count_value(w.a, "t", "gone"), 0);
	cr_assert_eq(count_value(w.b, "t", "gone"), 0);
	/* The lock went with the transaction. */
	t_exec0(w.b, "INSERT INTO t VALUES ($1)", 1, (const char *[]){ "after" });
	two_stop(&w);
}

Test(txn, commit_or_rollback_without_begin_is_a_state_error)
{
	struct two	 w;

	two_start(&w, NULL);
	cr_assert_eq(dbm_commit(w.a), DBM_E_TXN_STATE, "COMMIT: %s", dbm_errmsg(w.ca));
	cr_assert_eq(dbm_rollback(w.a), DBM_E_TXN_STATE, "ROLLBACK: %s", dbm_errmsg(w.ca));
	/* Refused, not fatal: the handle still works. */
	t_exec0(w.a, "INSERT INTO t VALUES ('x')", 0, NULL);
	two_stop(&w);
}

Test(txn, begin_twice_is_a_state_error_and_keeps_the_transaction)
{
	struct two	 w;

	two_start(&w, NULL);
	cr_assert_eq(dbm_begin(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	t_exec0(w.a, "INSERT INTO t VALUES ('first')", 0, NULL);
	cr_assert_eq(dbm_begin(w.a), DBM_E_TXN_STATE, "second BEGIN: %s", dbm_errmsg(w.ca));
	cr_assert_eq(count_value(w.b, "t", "first"), 0);
	cr_assert_eq(dbm_commit(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	cr_assert_eq(count_value(w.b, "t", "first"), 1);
	two_stop(&w);
}

Test(txn, sql_begin_and_commit_pin_the_connection)
{
	struct two	 w;
	dbm_conn	*mon;
	char		*v;

	two_start(&w, NULL);
	mon = t_connect(&w.d);
	t_exec0(w.a, "BEGIN", 0, NULL);
	v = t_pool_field(mon, dbm_handle_pool_hash(w.a), "pinned");
	cr_assert_not_null(v);
	cr_assert_str_eq(v, "1", "a backend transaction opened by SQL is not pinned");
	free(v);
	t_exec0(w.a, "INSERT INTO t VALUES ('sql')", 0, NULL);
	cr_assert_eq(count_value(w.a, "t", "sql"), 1);
	cr_assert_eq(count_value(w.b, "t", "sql"), 0, "seen before COMMIT");
	t_exec0(w.a, "COMMIT", 0, NULL);
	cr_assert_eq(count_value(w.b, "t", "sql"), 1, "not seen after COMMIT");
	v = t_pool_field(mon, dbm_handle_pool_hash(w.a), "pinned");
	cr_assert_not_null(v);
	cr_assert_str_eq(v, "0", "still pinned after COMMIT");
	free(v);

	/* The same with ROLLBACK in SQL. */
	t_exec0(w.a, "BEGIN", 0, NULL);
	t_exec0(w.a, "INSERT INTO t VALUES ('sql-undone')", 0, NULL);
	t_exec0(w.a, "ROLLBACK", 0, NULL);
	cr_assert_eq(count_value(w.b, "t", "sql-undone"), 0);
	dbm_disconnect(mon);
	two_stop(&w);
}

Test(txn, disconnect_mid_transaction_leaves_no_lock)
{
	struct two	 w;
	char		*set = acquire_timeout_set(3);
	dbm_result	*r;
	int64_t		 t0;

	/* With a 3 s busy timeout a leaked write lock fails the INSERT below (55P03). */
	two_start(&w, (const char *[]){ set, NULL });
	cr_assert_eq(dbm_begin(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	t_exec0(w.a, "INSERT INTO t VALUES ('abandoned')", 0, NULL);
	dbm_disconnect(w.ca);
	w.ca = NULL;

	t0 = t_now_ms();
	r = t_exec(w.b, "INSERT INTO t VALUES ('next')", 0, NULL);
	cr_assert_eq(dbm_affected(r), 1);
	dbm_result_free(r);
	cr_assert_lt(t_now_ms() - t0, 3000LL * t_slow());
	cr_assert_eq(count_value(w.b, "t", "abandoned"), 0, "the abandoned write was kept");
	two_stop(&w);
	free(set);
}

Test(txn, killed_client_mid_transaction_leaves_no_lock)
{
	struct two	 w;
	char		*set = acquire_timeout_set(3), *who, ch = 0;
	struct pollfd	 pfd;
	dbm_result	*r;
	int		 fds[2];
	pid_t		 pid;

	two_start(&w, (const char *[]){ set, NULL });
	cr_assert_eq(pipe(fds), 0);
	if ((pid = t_fork()) == 0) {
		/* The child: its own connection, a write transaction, then it waits to die. */
		dbm_conn *c = dbm_connect(w.d.sock);
		dbm_handle *h = dbm_open(c, "development", "primary", NULL);
		dbm_result *cr = NULL;
		char ok = 'f';

		if (h != NULL && dbm_begin(h) == DBM_OK &&
		    (cr = dbm_exec(h, "INSERT INTO t VALUES ('killed')", 0, NULL)) != NULL &&
		    dbm_result_status(cr) == DBM_OK)
			ok = 'r';
		(void)!write(fds[1], &ok, 1);
		for (;;)
			pause();
	}
	close(fds[1]);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 10000 * t_slow()), 1, "the child did not report");
	cr_assert_eq(read(fds[0], &ch, 1), 1);
	close(fds[0]);
	cr_assert_eq(ch, 'r', "the child could not open its transaction");
	cr_assert_eq(count_value(w.b, "t", "killed"), 0);

	who = t_strf(" pid %ld ", (long)pid);
	t_kill_pid(pid);
	r = t_exec(w.b, "INSERT INTO t VALUES ('next')", 0, NULL);
	cr_assert_eq(dbm_affected(r), 1);
	dbm_result_free(r);
	cr_assert_eq(count_value(w.b, "t", "killed"), 0, "the killed client's write was kept");
	cr_assert(t_dbmd_logged(&w.d, who, "closed: client closed the connection", NULL),
	    "the disconnect was not logged with its reason");
	two_stop(&w);
	free(who);
	free(set);
}

Test(txn, dispose_mid_transaction_rolls_back)
{
	struct two	 w;
	char		*set = acquire_timeout_set(3);
	dbm_handle	*again;

	two_start(&w, (const char *[]){ set, NULL });
	cr_assert_eq(dbm_begin(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	t_exec0(w.a, "INSERT INTO t VALUES ('disposed')", 0, NULL);
	cr_assert_eq(dbm_dispose(w.a), DBM_OK, "%s", dbm_errmsg(w.ca));
	w.a = NULL;

	again = t_open(w.ca, "development", "primary");
	cr_assert_eq(count_value(again, "t", "disposed"), 0, "seen by the same client");
	cr_assert_eq(count_value(w.b, "t", "disposed"), 0, "seen by another client");
	t_exec0(w.b, "INSERT INTO t VALUES ('writable')", 0, NULL);
	cr_assert_eq(count_value(again, "t", "writable"), 1);
	two_stop(&w);
	free(set);
}

/*
 * SQL through the broker: values, parameters and the errors' SQLSTATEs.
 */

/* Fails unless the statement fails with DBM_E_SQL and the SQLSTATE. */
static void
expect_sqlstate(dbm_handle *h, const char *sql, int n, const char *const *params,
    const char *sqlstate)
{
	dbm_result	*r = t_exec_fails(h, sql, n, params, DBM_E_SQL);

	cr_expect_str_eq(dbm_result_sqlstate(r), sqlstate, "%s: SQLSTATE %s (%s)", sql,
	    dbm_result_sqlstate(r), dbm_result_errmsg(r));
	cr_expect_str_neq(dbm_result_errmsg(r), "", "%s: no message", sql);
	dbm_result_free(r);
}

Test(sql, null_and_empty_string_stay_distinct)
{
	struct one	 o;
	dbm_result	*r;

	one_start(&o, "test", NULL);
	r = t_exec(o.h, "SELECT ?, ?", 2, (const char *[]){ NULL, "" });
	cr_assert_eq(dbm_nrows(r), 1);
	cr_assert_eq(dbm_isnull(r, 0, 0), 1, "NULL came back as a value");
	cr_assert_eq(dbm_isnull(r, 0, 1), 0, "the empty string came back as NULL");
	cr_assert_str_eq(dbm_value(r, 0, 1), "");
	cr_assert_eq(dbm_length(r, 0, 1), 0);
	dbm_result_free(r);

	t_exec0(o.h, "CREATE TABLE n (a TEXT, b TEXT)", 0, NULL);
	t_exec0(o.h, "INSERT INTO n VALUES ($1, $2)", 2, (const char *[]){ NULL, "" });
	r = t_exec(o.h, "SELECT a, b, a IS NULL, b IS NULL, length(b) FROM n", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 1);
	cr_assert_eq(dbm_isnull(r, 0, 0), 1);
	cr_assert_eq(dbm_isnull(r, 0, 1), 0);
	cr_assert_str_eq(dbm_value(r, 0, 2), "1", "a stored as a value");
	cr_assert_str_eq(dbm_value(r, 0, 3), "0", "b stored as NULL");
	cr_assert_str_eq(dbm_value(r, 0, 4), "0");
	dbm_result_free(r);
	one_stop(&o);
}

Test(sql, dollar_parameters_bind_by_number_in_any_order)
{
	struct one	 o;
	dbm_result	*r;

	one_start(&o, "test", NULL);
	r = t_exec(o.h, "SELECT $2, $1", 2, (const char *[]){ "first", "second" });
	cr_assert_str_eq(dbm_value(r, 0, 0), "second");
	cr_assert_str_eq(dbm_value(r, 0, 1), "first");
	dbm_result_free(r);
	r = t_exec(o.h, "SELECT $1 || $1 || $2", 2, (const char *[]){ "ab", "c" });
	cr_assert_str_eq(dbm_value(r, 0, 0), "ababc");
	dbm_result_free(r);
	one_stop(&o);
}

Test(sql, question_mark_parameters_bind_by_position)
{
	struct one	 o;
	dbm_result	*r;

	one_start(&o, "test", NULL);
	r = t_exec(o.h, "SELECT ?, ?, ?", 3, (const char *[]){ "a", "b", "c" });
	cr_assert_eq(dbm_ncols(r), 3);
	cr_assert_str_eq(dbm_value(r, 0, 0), "a");
	cr_assert_str_eq(dbm_value(r, 0, 1), "b");
	cr_assert_str_eq(dbm_value(r, 0, 2), "c");
	dbm_result_free(r);
	one_stop(&o);
}

Test(sql, wrong_parameter_count_is_an_sql_error)
{
	struct one	 o;
	dbm_result	*r;
	char		*v;

	one_start(&o, "test", NULL);
	r = t_exec_fails(o.h, "SELECT $1", 2, (const char *[]){ "a", "b" }, DBM_E_SQL);
	dbm_result_free(r);
	r = t_exec_fails(o.h, "SELECT ?, ?", 1, (const char *[]){ "a" }, DBM_E_SQL);
	dbm_result_free(r);
	r = t_exec_fails(o.h, "SELECT $2", 1, (const char *[]){ "a" }, DBM_E_SQL);
	dbm_result_free(r);
	r = t_exec_fails(o.h, "SELECT 1", 1, (const char *[]){ "a" }, DBM_E_SQL);
	dbm_result_free(r);
	/* Statement errors leave the handle usable. */
	v = t_value(o.h, "SELECT ?", 1, (const char *[]){ "ok" });
	cr_assert_str_eq(v, "ok");
	free(v);
	one_stop(&o);
}

Test(sql, several_statements_in_one_call_are_refused_and_none_runs)
{
	struct one	 o;

	one_start(&o, "test", NULL);
	expect_sqlstate(o.h, "SELECT 1; SELECT 2", 0, NULL, "42601");
	expect_sqlstate(o.h, "CREATE TABLE half (a); INSERT INTO half VALUES (1)", 0, NULL,
	    "42601");
	expect_sqlstate(o.h, "SELECT * FROM half", 0, NULL, "42P01");
	one_stop(&o);
}

Test(sql, errors_carry_their_sqlstate)
{
	struct one	 o;

	one_start(&o, "test", NULL);
	t_exec0(o.h, "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT UNIQUE)", 0, NULL);
	t_exec0(o.h, "INSERT INTO u VALUES (1, 'one')", 0, NULL);
	expect_sqlstate(o.h, "INSERT INTO u VALUES (1, 'uno')", 0, NULL, "23505");
	expect_sqlstate(o.h, "INSERT INTO u VALUES (2, 'one')", 0, NULL, "23505");
	expect_sqlstate(o.h, "SELEC 1", 0, NULL, "42601");
	expect_sqlstate(o.h, "SELECT * FROM no_such_table", 0, NULL, "42P01");
	one_stop(&o);
}

Test(sql, writing_through_the_read_only_role_fails)
{
	struct one	 o;
	dbm_handle	*ro;
	dbm_result	*r;
	char		*v;

	one_start(&o, "development", NULL);
	t_exec0(o.h, "CREATE TABLE ro (v TEXT)", 0, NULL);
	t_exec0(o.h, "INSERT INTO ro VALUES ('seen')", 0, NULL);
	ro = t_open(o.c, "development", "read_only");
	cr_assert_neq(dbm_handle_pool_hash(ro), dbm_handle_pool_hash(o.h));
	v = t_value(ro, "SELECT v FROM ro", 0, NULL);
	cr_assert_str_eq(v, "seen");
	free(v);
	r = t_exec_fails(ro, "INSERT INTO ro VALUES ('written')", 0, NULL, DBM_E_SQL);
	cr_expect_str_eq(dbm_result_sqlstate(r), "25006", "SQLSTATE %s: %s",
	    dbm_result_sqlstate(r), dbm_result_errmsg(r));
	dbm_result_free(r);
	r = t_exec_fails(ro, "CREATE TABLE ro2 (v TEXT)", 0, NULL, DBM_E_SQL);
	cr_expect_str_eq(dbm_result_sqlstate(r), "25006", "SQLSTATE %s: %s",
	    dbm_result_sqlstate(r), dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_eq(count_value(o.h, "ro", "written"), 0);
	one_stop(&o);
}

Test(sql, non_ascii_text_round_trips)
{
	static const char *const texts[] = {
		"Grüße aus Köln",
		"日本語のテキスト",
		"emoji 🎉🐘 and ñ",
		"mixed\tcontrol\nchars and \"quotes\" and 'apostrophes'",
	};
	struct one	 o;
	dbm_result	*r;
	size_t		 i;
	char		 id[8];

	one_start(&o, "test", NULL);
	t_exec0(o.h, "CREATE TABLE txt (id INTEGER, v TEXT)", 0, NULL);
	for (i = 0; i < ARRAY_LEN(texts); i++) {
		snprintf(id, sizeof(id), "%zu", i);
		t_exec0(o.h, "INSERT INTO txt VALUES ($1, $2)", 2,
		    (const char *[]){ id, texts[i] });
	}
	r = t_exec(o.h, "SELECT v FROM txt ORDER BY id", 0, NULL);
	cr_assert_eq(dbm_nrows(r), (int)ARRAY_LEN(texts));
	for (i = 0; i < ARRAY_LEN(texts); i++) {
		cr_expect_str_eq(dbm_value(r, (int)i, 0), texts[i]);
		cr_expect_eq(dbm_length(r, (int)i, 0), strlen(texts[i]));
	}
	dbm_result_free(r);
	r = t_exec(o.h, "SELECT 'Ünïcödé ✓' AS \"spalte_ä\"", 0, NULL);
	cr_assert_str_eq(dbm_value(r, 0, 0), "Ünïcödé ✓");
	cr_assert_str_eq(dbm_colname(r, 0), "spalte_ä");
	dbm_result_free(r);
	one_stop(&o);
}

Test(sql, a_value_larger_than_a_chunk_round_trips)
{
	struct one	 o;
	dbm_result	*r;
	size_t		 n = 300 * 1024;
	char		*big = malloc(n + 1), len[16];

	cr_assert_not_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	big[n / 2] = 'y';
	snprintf(len, sizeof(len), "%zu", n);
	one_start(&o, "test", NULL);
	r = t_exec(o.h, "SELECT length($1), $1", 1, (const char *[]){ big });
	cr_assert_str_eq(dbm_value(r, 0, 0), len);
	cr_assert_eq(dbm_length(r, 0, 1), n);
	cr_assert(memcmp(dbm_value(r, 0, 1), big, n) == 0, "the value came back changed");
	dbm_result_free(r);
	one_stop(&o);
	free(big);
}

Test(sql, statement_timeout_cancels_a_long_statement)
{
	struct one	 o;
	dbm_result	*r;
	char		*v;
	int64_t		 t0;

	one_start(&o, "test", (const char *[]){ "test.statement_timeout=300ms", NULL });
	t0 = t_now_ms();
	r = t_exec_fails(o.h, LONG_SQL, 1, (const char *[]){ "2000000000" }, DBM_E_SQL);
	cr_expect_str_eq(dbm_result_sqlstate(r), "57014", "%s", dbm_result_errmsg(r));
	cr_expect_not_null(strstr(dbm_result_errmsg(r), "timeout"), "%s",
	    dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_lt(t_now_ms() - t0, 10000LL * t_slow(), "the statement was not cancelled");
	v = t_value(o.h, "SELECT 'next'", 0, NULL);
	cr_assert_str_eq(v, "next");
	free(v);
	one_stop(&o);
}

/*
 * The factory: names, overrides, pools, limits.
 */

/* Opens env/role with overrides; NULL on failure, the reason in the conn. */
static dbm_handle *
open_with(dbm_conn *c, const char *env, const char *role, const struct dbm_override *ov,
    size_t n)
{
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;

	o.n_overrides = n;
	o.overrides = ov;
	return dbm_open(c, env, role, &o);
}

Test(factory, unknown_environment_is_refused)
{
	struct one	 o;

	one_start(&o, "development", NULL);
	cr_assert_null(dbm_open(o.c, "nosuchenv", "primary", NULL));
	cr_assert_eq(dbm_errcode(o.c), DBM_E_UNKNOWN_ENV, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	cr_assert_not_null(strstr(dbm_errmsg(o.c), "nosuchenv"), "%s", dbm_errmsg(o.c));
	cr_assert_eq(dbm_ping(o.c), DBM_OK, "the connection did not survive a refused open");
	one_stop(&o);
}

Test(factory, unknown_role_is_refused)
{
	struct one	 o;

	one_start(&o, "development", NULL);
	cr_assert_null(dbm_open(o.c, "development", "nosuchrole", NULL));
	cr_assert_eq(dbm_errcode(o.c), DBM_E_UNKNOWN_ROLE, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	cr_assert_not_null(strstr(dbm_errmsg(o.c), "nosuchrole"), "%s", dbm_errmsg(o.c));
	cr_assert_eq(dbm_ping(o.c), DBM_OK);
	one_stop(&o);
}

Test(factory, override_the_environment_does_not_permit_is_refused)
{
	struct one		 o;
	struct dbm_override	 ov[] = { { "pool_size", "3" } };
	struct dbm_override	 st[] = { { "statement_timeout", "5s" } };

	one_start(&o, "test", (const char *[]){ "test.overridable=statement_timeout", NULL });
	cr_assert_null(open_with(o.c, "development", "primary", ov, 1));
	cr_assert_eq(dbm_errcode(o.c), DBM_E_NOT_OVERRIDABLE, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	cr_assert_null(open_with(o.c, "test", "primary", ov, 1));
	cr_assert_eq(dbm_errcode(o.c), DBM_E_NOT_OVERRIDABLE, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	cr_assert_not_null(strstr(dbm_errmsg(o.c), "pool_size"), "%s", dbm_errmsg(o.c));
	/* What is listed is permitted. */
	dbm_dispose(t_open(o.c, "test", "primary"));
	cr_assert_not_null(open_with(o.c, "test", "primary", st, 1), "%s", dbm_errmsg(o.c));
	one_stop(&o);
}

Test(factory, permitted_override_opens_a_pool_of_its_own)
{
	struct one		 o;
	struct dbm_override	 small[] = { { "pool_size", "3" } };
	struct dbm_override	 slow[] = { { "statement_timeout", "5s" } };
	dbm_handle		*h2, *h3, *h4;
	char			*v;

	one_start(&o, "test", (const char *[]){
	    "test.overridable=pool_size,statement_timeout", NULL });
	h2 = open_with(o.c, "test", "primary", small, 1);
	cr_assert_not_null(h2, "%s", dbm_errmsg(o.c));
	h3 = open_with(o.c, "test", "primary", slow, 1);
	cr_assert_not_null(h3, "%s", dbm_errmsg(o.c));
	h4 = open_with(o.c, "test", "primary", small, 1);
	cr_assert_not_null(h4, "%s", dbm_errmsg(o.c));
	cr_assert_neq(dbm_handle_pool_hash(h2), dbm_handle_pool_hash(o.h));
	cr_assert_neq(dbm_handle_pool_hash(h3), dbm_handle_pool_hash(o.h));
	cr_assert_neq(dbm_handle_pool_hash(h3), dbm_handle_pool_hash(h2));
	cr_assert_eq(dbm_handle_pool_hash(h4), dbm_handle_pool_hash(h2),
	    "the same override made a second pool");

	v = t_pool_field(o.c, dbm_handle_pool_hash(h2), "pool_size");
	cr_assert_not_null(v, "the override's pool is not in STATUS");
	cr_assert_str_eq(v, "3");
	free(v);

	/* All pools of the test environment serve the one in-memory database. */
	t_exec0(o.h, "CREATE TABLE shared (v TEXT)", 0, NULL);
	t_exec0(h2, "INSERT INTO shared VALUES ('via override')", 0, NULL);
	cr_assert_eq(count_value(h3, "shared", "via override"), 1);
	one_stop(&o);
}

Test(factory, names_that_resolve_alike_share_a_pool)
{
	struct one	 o;
	dbm_handle	*staging;
	char		*set = t_strf("staging.uri=sqlite:%s/development.db", t_h.state), *v;

	one_start(&o, "development", (const char *[]){ set, NULL });
	staging = t_open(o.c, "staging", "primary");
	cr_assert_eq(dbm_handle_pool_hash(staging), dbm_handle_pool_hash(o.h),
	    "%016llx vs %016llx", dbm_handle_pool_hash(staging), dbm_handle_pool_hash(o.h));
	v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "names");
	cr_assert_not_null(v);
	cr_assert_not_null(strstr(v, "development/primary"), "names: %s", v);
	cr_assert_not_null(strstr(v, "staging/primary"), "names: %s", v);
	free(v);
	v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "handles");
	cr_assert_str_eq(v, "2");
	free(v);
	t_exec0(o.h, "CREATE TABLE s (v TEXT)", 0, NULL);
	t_exec0(staging, "INSERT INTO s VALUES ('via staging')", 0, NULL);
	cr_assert_eq(count_value(o.h, "s", "via staging"), 1);
	one_stop(&o);
	free(set);
}

Test(factory, pool_made_by_overrides_goes_with_its_last_handle)
{
	struct one		 o;
	struct dbm_override	 small[] = { { "pool_size", "2" } };
	dbm_handle		*h1, *h2;
	unsigned long long	 hash;
	char			*v;
	int64_t			 end;

	one_start(&o, "test", (const char *[]){ "test.overridable=pool_size", NULL });
	h1 = open_with(o.c, "test", "primary", small, 1);
	cr_assert_not_null(h1, "%s", dbm_errmsg(o.c));
	h2 = open_with(o.c, "test", "primary", small, 1);
	cr_assert_not_null(h2, "%s", dbm_errmsg(o.c));
	hash = dbm_handle_pool_hash(h1);
	t_exec0(h1, "SELECT 1", 0, NULL);

	cr_assert_eq(dbm_dispose(h1), DBM_OK, "%s", dbm_errmsg(o.c));
	v = t_pool_field(o.c, hash, "handles");
	cr_assert_not_null(v, "the pool went while a handle was open");
	cr_assert_str_eq(v, "1");
	free(v);

	cr_assert_eq(dbm_dispose(h2), DBM_OK, "%s", dbm_errmsg(o.c));
	end = t_now_ms() + 5000LL * t_slow();
	while ((v = t_pool_field(o.c, hash, "state")) != NULL) {
		free(v);
		cr_assert(t_now_ms() < end, "pool %016llx is still listed after its last "
		    "handle was disposed", hash);
		t_sleep_ms(20);
	}
	/* The configured pool stays. */
	v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "state");
	cr_assert_not_null(v);
	free(v);
	one_stop(&o);
}

Test(factory, handles_per_client_are_limited)
{
	struct one	 o;
	dbm_conn	*other;
	dbm_handle	*h2;

	one_start(&o, "test", (const char *[]){ "daemon.max_handles_per_client=2", NULL });
	h2 = t_open(o.c, "test", "primary");
	cr_assert_null(dbm_open(o.c, "test", "primary", NULL), "a third handle was opened");
	cr_assert_eq(dbm_errcode(o.c), DBM_E_LIMIT, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	/* The limit is per client. */
	other = t_connect(&o.d);
	dbm_dispose(t_open(other, "test", "primary"));
	dbm_disconnect(other);
	/* And a disposed handle makes room. */
	cr_assert_eq(dbm_dispose(h2), DBM_OK);
	dbm_dispose(t_open(o.c, "test", "primary"));
	one_stop(&o);
}

/* The pool's handle count, as STATUS shows it; -1 when the pool is not listed. */
static int
pool_handles(dbm_conn *c, unsigned long long hash)
{
	char	*v = t_pool_field(c, hash, "handles");
	int	 n = v != NULL ? atoi(v) : -1;

	free(v);
	return n;
}

/*
 * dbm_dispose does not wait for dbmd's reply, yet what the client sends next is served
 * after the release: replies owed are read ahead of the next reply, however many, and
 * a client may disconnect while they are owed.
 */
Test(factory, disposes_do_not_wait_and_come_before_what_follows)
{
	struct one		 o;
	dbm_handle		*hs[100];
	dbm_conn		*other;
	unsigned long long	 hash;
	int64_t			 end;
	int			 i;

	one_start(&o, "test", (const char *[]){ "daemon.max_handles_per_client=200", NULL });
	hash = dbm_handle_pool_hash(o.h);
	for (i = 0; i < 100; i++)
		hs[i] = t_open(o.c, "test", "primary");
	cr_assert_eq(pool_handles(o.c, hash), 101);
	/* More disposes in a row than replies are left owed. */
	for (i = 0; i < 100; i++)
		cr_assert_eq(dbm_dispose(hs[i]), DBM_OK, "dispose %d: %s", i, dbm_errmsg(o.c));
	cr_assert_eq(pool_handles(o.c, hash), 1, "the disposes were not served before STATUS");
	/* A reply owed, then a request on another handle of the same client. */
	for (i = 0; i < 20; i++) {
		cr_assert_eq(dbm_dispose(t_open(o.c, "test", "primary")), DBM_OK);
		t_exec0(o.h, "SELECT 1", 0, NULL);
		cr_assert_eq(dbm_ping(o.c), DBM_OK);
	}
	/* Replies still owed when the client leaves. */
	other = t_connect(&o.d);
	for (i = 0; i < 3; i++)
		hs[i] = t_open(other, "test", "primary");
	for (i = 0; i < 3; i++)
		cr_assert_eq(dbm_dispose(hs[i]), DBM_OK);
	dbm_disconnect(other);
	end = t_now_ms() + 5000LL * t_slow();
	while (pool_handles(o.c, hash) != 1 && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert_eq(pool_handles(o.c, hash), 1);
	one_stop(&o);
}

Test(factory, sqlite_file_in_a_missing_directory_fails_at_open_naming_the_file)
{
	struct one	 o;
	char		*file = t_strf("%s/missing/dir/app.db", t_h.dir);
	char		*set = t_strf("staging.uri=sqlite:%s", file);

	one_start(&o, "development", (const char *[]){ set, NULL });
	cr_assert_null(dbm_open(o.c, "staging", "primary", NULL));
	cr_assert_eq(dbm_errcode(o.c), DBM_E_BACKEND, "%s: %s",
	    dbm_strerror(dbm_errcode(o.c)), dbm_errmsg(o.c));
	cr_assert_not_null(strstr(dbm_errmsg(o.c), file), "the message does not name %s: %s",
	    file, dbm_errmsg(o.c));
	cr_assert_eq(dbm_ping(o.c), DBM_OK);
	t_exec0(o.h, "SELECT 1", 0, NULL);
	one_stop(&o);
	free(set);
	free(file);
}

Test(factory, a_pinned_handle_keeps_one_connection_for_its_life)
{
	struct one		 o;
	struct dbm_open_opts	 opts = DBM_OPEN_OPTS_INIT;
	dbm_handle		*pinned;
	char			*v;
	int			 i;

	one_start(&o, "development", NULL);
	opts.pinned = 1;
	pinned = dbm_open(o.c, "development", "primary", &opts);
	cr_assert_not_null(pinned, "%s", dbm_errmsg(o.c));
	cr_assert_eq(dbm_handle_pool_hash(pinned), dbm_handle_pool_hash(o.h));
	v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "pinned");
	cr_assert_str_eq(v, "1", "a pinned handle holds no connection");
	free(v);
	/* Session state lives on the connection: a temporary table stays visible. */
	t_exec0(pinned, "CREATE TEMP TABLE mine (v TEXT)", 0, NULL);
	for (i = 0; i < 5; i++) {
		/* Other handles keep using (and so rotating) the pool meanwhile. */
		t_exec0(o.h, "SELECT 1", 0, NULL);
		t_exec0(pinned, "INSERT INTO mine VALUES ('x')", 0, NULL);
	}
	v = t_value(pinned, "SELECT count(*) FROM mine", 0, NULL);
	cr_assert_str_eq(v, "5");
	free(v);
	cr_assert_eq(dbm_dispose(pinned), DBM_OK);
	v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "pinned");
	cr_assert_str_eq(v, "0", "the connection stayed pinned after dispose");
	free(v);
	one_stop(&o);
}

Test(factory, acquire_timeout_fails_a_request_that_waits_too_long)
{
	struct one	 o;
	dbm_conn	*other;
	dbm_handle	*h;
	dbm_result	*r;
	char		*v;

	one_start(&o, "test", (const char *[]){ "test.primary.pool_size=1",
	    "test.primary.acquire_timeout=300ms", NULL });
	other = t_connect(&o.d);
	h = t_open(other, "test", "primary");
	/* The one connection is pinned by the transaction. */
	cr_assert_eq(dbm_begin(o.h), DBM_OK, "%s", dbm_errmsg(o.c));
	r = t_exec_fails(h, "SELECT 1", 0, NULL, DBM_E_TIMEOUT);
	cr_expect_not_null(strstr(dbm_result_errmsg(r), "pool_size 1"), "%s",
	    dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_eq(dbm_commit(o.h), DBM_OK, "%s", dbm_errmsg(o.c));
	v = t_value(h, "SELECT 'free again'", 0, NULL);
	cr_assert_str_eq(v, "free again");
	free(v);
	v = t_pool_field(o.c, dbm_handle_pool_hash(h), "acquire_timeouts");
	cr_assert_str_eq(v, "1");
	free(v);
	dbm_disconnect(other);
	one_stop(&o);
}

/*
 * Malformed input on a raw socket: dbmd says GOODBYE with a reason, logs it,
 * closes that one connection and goes on serving everyone else.
 */

struct bad_input {
	char	 name[40];
	int	 hello;		/* send a valid HELLO first */
	uint8_t	 bytes[40];
	size_t	 len;
	int	 code;		/* of the GOODBYE expected */
	char	 reason[48];	/* part of its reason, and of the log line */
	int	 alt_code;	/* or, when not 0, this code */
	char	 alt_reason[48]; /* with this reason */
};

#define HDR(len, type, flags, id) \
	(uint8_t)((len) >> 24), (uint8_t)((len) >> 16), (uint8_t)((len) >> 8), (uint8_t)(len), \
	(uint8_t)((type) >> 8), (uint8_t)(type), (uint8_t)((flags) >> 8), (uint8_t)(flags), \
	0, 0, 0, (uint8_t)(id)

/* HELLO from "t": magic, versions 1..1, name, pid 0, max_frame 1 MiB. */
#define HELLO_PAYLOAD(m0) \
	m0, 'B', 'M', '1', 0, 1, 0, 1, 0, 0, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0x10, 0, 0

ParameterizedTestParameters(protocol, malformed_input_gets_goodbye_and_close)
{
	static struct bad_input cases[] = {
		{ "unknown type", 1, { HDR(4, 0xffee, 0, 2), 0xde, 0xad, 0xbe, 0xef }, 16,
		    PROTO_E_PROTOCOL, "unknown message type", 0, "" },
		{ "type zero", 1, { HDR(0, 0, 0, 2) }, 12,
		    PROTO_E_PROTOCOL, "unknown message type", 0, "" },
		{ "oversized frame", 1, { HDR(0x7fffffffu, 3, 0, 2) }, 12,
		    PROTO_E_LIMIT, "larger than the limit", 0, "" },
		{ "oversized before HELLO", 0, { HDR(16u * 1024 + 1, 1, 0, 1) }, 12,
		    PROTO_E_LIMIT, "larger than the limit", 0, "" },
		/* Both an unknown type and oversized: which check comes first is open. */
		{ "text instead of frames", 0, "GET / HTTP/1.0\r\n\r\n", 18,
		    PROTO_E_PROTOCOL, "unknown message type",
		    PROTO_E_LIMIT, "larger than the limit" },
		{ "request before HELLO", 0, { HDR(0, 8, 0, 1) }, 12,
		    PROTO_E_PROTOCOL, "the first message must be HELLO", 0, "" },
		{ "bad magic", 0, { HDR(22, 1, 0, 1), HELLO_PAYLOAD('X') }, 34,
		    PROTO_E_PROTOCOL, "bad magic", 0, "" },
		{ "second HELLO", 1, { HDR(22, 1, 0, 2), HELLO_PAYLOAD('D') }, 34,
		    PROTO_E_PROTOCOL, "HELLO after the handshake", 0, "" },
		{ "undefined flags", 1, { HDR(0, 8, 1, 2) }, 12,
		    PROTO_E_PROTOCOL, "undefined header flags", 0, "" },
		{ "impossible length", 1, { HDR(4, 8, 0, 2), 1, 2, 3, 4 }, 16,
		    PROTO_E_PROTOCOL, "impossible payload length", 0, "" },
		{ "server type from a client", 1, { HDR(0, 69, 0, 2) }, 12,
		    PROTO_E_PROTOCOL, "server message type", 0, "" },
		{ "truncated EXEC payload", 1, { HDR(19, 3, 0, 2), 0, 0, 0, 1, 0, 0, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 100, 'x', 0, 0 }, 31,
		    PROTO_E_PROTOCOL, "truncated payload", 0, "" },
	};

	return cr_make_param_array(struct bad_input, cases, ARRAY_LEN(cases));
}

ParameterizedTest(struct bad_input *bi, protocol, malformed_input_gets_goodbye_and_close)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	dbm_conn		*c;
	dbm_handle		*h;
	char			 reason[256], *line, *v;
	int			 fd, code, alt;

	t_dbmd_start(&d, NULL);
	/* A well-behaved client, connected all along. */
	c = t_connect(&d);
	h = t_open(c, "test", "primary");

	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	if (bi->hello)
		t_raw_hello(fd, &dec);
	t_raw_send(fd, bi->bytes, bi->len);
	code = t_raw_goodbye(fd, &dec, reason, sizeof(reason));
	proto_decoder_free(&dec);
	close(fd);
	alt = bi->alt_code != 0 && code == bi->alt_code;
	cr_expect(code == bi->code || alt, "%s: GOODBYE code %d (%s), not %d", bi->name,
	    code, reason, bi->code);
	cr_expect_not_null(strstr(reason, alt ? bi->alt_reason : bi->reason),
	    "%s: GOODBYE reason \"%s\"", bi->name, reason);

	line = t_dbmd_log_vline(&d, 5000, (const char *[]){ "closed:", bi->reason }, 2);
	if (line == NULL && bi->alt_code != 0)
		line = t_dbmd_log_vline(&d, 0, (const char *[]){ "closed:", bi->alt_reason }, 2);
	cr_expect_not_null(line, "%s: no log line with the reason \"%s\"", bi->name, bi->reason);
	free(line);

	v = t_value(h, "SELECT 'still served'", 0, NULL);
	cr_assert_str_eq(v, "still served", "%s", bi->name);
	free(v);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "%s", bi->name);
}

Test(protocol, frames_over_max_frame_size_are_refused)
{
	static const uint8_t over[] = { HDR(64u * 1024 + 1, 3, 0, 2) };
	struct one		 o;
	struct proto_decoder	 dec;
	dbm_result		*r;
	size_t			 n = 100 * 1024;
	char			*big = malloc(n + 1), reason[256];
	int			 fd, code;

	cr_assert_not_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	one_start(&o, "test", (const char *[]){ "daemon.max_frame_size=64K", NULL });

	/* The library knows dbmd's limit and refuses to send; the connection stays. */
	r = t_exec_fails(o.h, "SELECT length($1)", 1, (const char *[]){ big }, DBM_E_LIMIT);
	dbm_result_free(r);
	cr_assert_eq(dbm_ping(o.c), DBM_OK, "%s", dbm_errmsg(o.c));
	big[60 * 1024] = '\0';
	dbm_result_free(t_exec(o.h, "SELECT length($1)", 1, (const char *[]){ big }));

	/* A peer that sends one anyway is told why and closed. */
	fd = t_raw_connect(&o.d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, &dec);
	t_raw_send(fd, over, sizeof(over));
	code = t_raw_goodbye(fd, &dec, reason, sizeof(reason));
	cr_assert_eq(code, PROTO_E_LIMIT, "GOODBYE code %d (%s)", code, reason);
	proto_decoder_free(&dec);
	close(fd);
	one_stop(&o);
	free(big);
}

Test(protocol, unknown_handle_is_an_error_not_a_disconnect)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_exec	 m = { .handle_id = 77, .sql = "SELECT 1" };
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_error	 e;
	int			 fd;

	t_dbmd_start(&d, NULL);
	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, &dec);
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 5, &m), PROTO_E_OK);
	cr_assert_eq(proto_encode_handle(&b, PROTO_MSG_COMMIT, 6, 77), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, 7), PROTO_E_OK);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0);
	proto_buf_free(&b);
	cr_assert_eq(t_raw_next(fd, &dec, &f, 5000), 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_ERROR, "%s", proto_msg_name(f.hdr.type));
	cr_assert_eq(f.hdr.request_id, 5);
	cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
	cr_assert_eq(e.code, PROTO_E_NO_HANDLE, "%s", e.message);
	cr_assert_eq(t_raw_next(fd, &dec, &f, 5000), 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_ERROR);
	cr_assert_eq(f.hdr.request_id, 6);
	cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
	cr_assert_eq(e.code, PROTO_E_NO_HANDLE, "%s", e.message);
	cr_assert_eq(t_raw_next(fd, &dec, &f, 5000), 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_PONG, "%s", proto_msg_name(f.hdr.type));
	cr_assert_eq(f.hdr.request_id, 7);
	proto_decoder_free(&dec);
	close(fd);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(protocol, hello_without_a_common_version_is_refused)
{
	/* Versions 3..4 only: this dbmd speaks 1 and 2. */
	static const uint8_t hello[] = { HDR(22, 1, 0, 1), 'D', 'B', 'M', '1', 0, 3, 0, 4,
	    0, 0, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0x10, 0, 0 };
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_frame	 f;
	struct proto_error	 e;
	int			 fd;

	t_dbmd_start(&d, NULL);
	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	cr_assert_eq(t_raw_send(fd, hello, sizeof(hello)), 0);
	cr_assert_eq(t_raw_next(fd, &dec, &f, 5000), 1, "no answer to HELLO");
	cr_assert_eq(f.hdr.type, PROTO_MSG_ERROR, "%s", proto_msg_name(f.hdr.type));
	cr_assert_eq(f.hdr.request_id, 1);
	cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
	cr_assert_eq(e.code, PROTO_E_VERSION, "%d: %s", e.code, e.message);
	/* PROTOCOL.md 6.1: the message names the server's range. */
	cr_expect_not_null(strchr(e.message, '0' + PROTO_VERSION_MAX),
	    "the VERSION error does not name the versions dbmd speaks: \"%s\"", e.message);
	t_raw_goodbye(fd, &dec, NULL, 0);
	proto_decoder_free(&dec);
	close(fd);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* EXEC of a long statement on a fresh raw client, followed by n PINGs, in one write. */
static int
raw_exec_and_pings(const struct t_dbmd *d, struct proto_decoder *dec, const char *count,
    int n)
{
	const char		*params[] = { count };
	struct proto_exec	 m = { .sql = LONG_SQL, .nparams = 1, .params = params };
	struct proto_buf	 b;
	int			 fd = t_raw_connect(d), i;

	proto_decoder_init(dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, dec);
	m.handle_id = t_raw_open(fd, dec, "test", "primary");
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 10, &m), PROTO_E_OK);
	for (i = 0; i < n; i++)
		cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, (uint32_t)(11 + i)),
		    PROTO_E_OK);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0);
	proto_buf_free(&b);
	return fd;
}

Test(protocol, pipelined_requests_are_answered_in_order_up_to_the_queue_limit)
{
	struct one		 o;
	struct proto_decoder	 dec;
	struct proto_frame	 f;
	char			 reason[256], *v;
	int			 fd, code, next = 10;
	int64_t			 end;

	one_start(&o, "test", (const char *[]){ "daemon.max_queued_per_client=3", NULL });

	/* Within the limit: the statement's reply, then the PONGs, in order. */
	fd = raw_exec_and_pings(&o.d, &dec, "300000", 2);
	while (next <= 12) {
		cr_assert_eq(t_raw_next(fd, &dec, &f, 10000), 1, "waiting for request %d", next);
		cr_assert_neq(f.hdr.type, PROTO_MSG_GOODBYE, "closed within the limit");
		cr_assert_eq(f.hdr.request_id, (uint32_t)next, "%s of request %u while %d is "
		    "due", proto_msg_name(f.hdr.type), f.hdr.request_id, next);
		if (proto_frame_ends_reply(&f.hdr))
			next++;
	}
	proto_decoder_free(&dec);
	close(fd);

	/* Far over it: GOODBYE LIMIT, and the statement is stopped. */
	fd = raw_exec_and_pings(&o.d, &dec, "2000000000", 10);
	code = t_raw_goodbye(fd, &dec, reason, sizeof(reason));
	cr_assert_eq(code, PROTO_E_LIMIT, "GOODBYE code %d (%s)", code, reason);
	proto_decoder_free(&dec);
	close(fd);
	end = t_now_ms() + 5000LL * t_slow();
	for (;;) {
		v = t_pool_field(o.c, dbm_handle_pool_hash(o.h), "active");
		cr_assert_not_null(v);
		if (atoi(v) == 0) {
			free(v);
			break;
		}
		free(v);
		cr_assert(t_now_ms() < end, "the closed client's statement is still running");
		t_sleep_ms(20);
	}
	one_stop(&o);
}

/*
 * However the client's writes cut its frames -- a byte at a time, across headers,
 * several frames and a part in one write -- each request is served once, in order.
 */
Test(protocol, frames_cut_anywhere_are_served_in_order)
{
	static const size_t cuts[] = { 1, 2, 3, 5, 8, 13, 40, 1 };
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct proto_frame	 f;
	struct proto_exec	 m = { 0 };
	struct proto_buf	 b;
	char			 sql[64], want[16];
	bool			 seen_value;
	size_t			 off, n, k;
	uint32_t		 id, next;
	int			 fd, round;

	t_dbmd_start(&d, NULL);
	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, &dec);
	m.handle_id = t_raw_open(fd, &dec, "test", "primary");
	for (round = 0; round < 2; round++) {
		/* EXEC, PING, EXEC, PING: round 0 cut in pieces, round 1 in one write. */
		proto_buf_init(&b);
		for (id = 10; id < 14; id++) {
			if (id % 2 == 0) {
				snprintf(sql, sizeof(sql), "SELECT 'v%u-%d'", id, round);
				m.sql = sql;
				cr_assert_eq(proto_encode_exec(&b, id, &m), PROTO_E_OK);
			} else
				cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, id),
				    PROTO_E_OK);
		}
		for (off = 0, k = 0; off < b.len; off += n, k++) {
			n = round == 0 ? cuts[k % (sizeof(cuts) / sizeof(cuts[0]))] : b.len;
			if (n > b.len - off)
				n = b.len - off;
			cr_assert_eq(t_raw_send(fd, b.data + off, n), 0);
			if (round == 0)
				t_sleep_ms(1);
		}
		proto_buf_free(&b);
		for (next = 10; next < 14; next++) {
			snprintf(want, sizeof(want), "v%u-%d", next, round);
			seen_value = false;
			do {
				cr_assert_eq(t_raw_next(fd, &dec, &f, 10000), 1,
				    "round %d: no reply to request %u", round, next);
				cr_assert_eq(f.hdr.request_id, next, "round %d: %s of request %u "
				    "while %u is due", round, proto_msg_name(f.hdr.type),
				    f.hdr.request_id, next);
				cr_assert_neq(f.hdr.type, PROTO_MSG_ERROR, "round %d: request %u "
				    "failed", round, next);
				if (f.hdr.type == PROTO_MSG_DATA_ROW && memmem(f.payload,
				    f.hdr.length, want, strlen(want)) != NULL)
					seen_value = true;
			} while (!proto_frame_ends_reply(&f.hdr));
			if (next % 2 == 0)
				cr_assert(seen_value, "round %d: request %u's row is not '%s'",
				    round, next, want);
			else
				cr_assert_eq(f.hdr.type, PROTO_MSG_PONG);
		}
	}
	proto_decoder_free(&dec);
	close(fd);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(protocol, truncated_frame_then_close_breaks_nothing)
{
	static const uint8_t part[] = { HDR(100, 3, 0, 2), 0, 0, 0, 1, 0, 0 };
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	dbm_conn		*c, *later;
	dbm_handle		*h;
	char			*v;
	int			 fd, i;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "test", "primary");
	for (i = 0; i < 3; i++) {
		fd = t_raw_connect(&d);
		proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
		if (i > 0)
			t_raw_hello(fd, &dec);
		/* Half a header, then half a frame: dbmd waits for the rest, which never comes. */
		t_raw_send(fd, part, i == 0 ? 5 : sizeof(part));
		proto_decoder_free(&dec);
		close(fd);
	}
	cr_assert(t_dbmd_logged(&d, "(? pid", "closed: client closed the connection", NULL));
	cr_assert(t_dbmd_logged(&d, "(raw-test pid", "closed: client closed the connection",
	    NULL));

	v = t_value(h, "SELECT 'still served'", 0, NULL);
	cr_assert_str_eq(v, "still served");
	free(v);
	later = t_connect(&d);
	cr_assert_eq(dbm_ping(later), DBM_OK);
	dbm_disconnect(later);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * The example program, as a user would run it.
 */

Test(lifecycle, example_program_inserts_and_prints_its_rows)
{
	struct t_dbmd	 d;
	struct t_run	 r;
	const char	*bdir = getenv("TEST_BUILDDIR");
	char		*bin, *sockenv, *v;
	struct one	 o;

	cr_assert_not_null(bdir, "TEST_BUILDDIR names the build directory (make check sets it)");
	bin = t_strf("%s/example", bdir);
	cr_assert_eq(access(bin, X_OK), 0, "%s: %s", bin, strerror(errno));
	t_dbmd_start(&d, NULL);
	sockenv = t_strf("DBMD_SOCKET=%s", d.sock);
	r = t_run((char *[]){ bin, NULL }, (char *[]){ T_PATH, sockenv, NULL }, 30000);
	cr_assert_eq(r.status, 0, "example exited %d\nstdout:\n%s\nstderr:\n%s", r.status,
	    r.out, r.err);
	cr_assert_not_null(strstr(r.out, "apple"), "stdout:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "pear"), "stdout:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "plum"), "stdout:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "3 rows"), "stdout:\n%s", r.out);
	cr_assert_str_empty(r.err, "stderr:\n%s", r.err);
	t_run_free(&r);

	/* What it printed is what it stored. */
	o.d = d;
	o.c = t_connect(&o.d);
	o.h = t_open(o.c, "development", "primary");
	cr_assert_eq(count_value(o.h, "(SELECT name || ':' || qty AS v FROM dbm_example)",
	    "plum:12"), 1);
	v = t_value(o.h, "SELECT count(*) FROM dbm_example", 0, NULL);
	cr_assert_str_eq(v, "3");
	free(v);
	one_stop(&o);
	free(sockenv);
	free(bin);
}

/*
 * Stopping, and the socket.
 */

Test(lifecycle, sigterm_says_goodbye_to_clients_and_commits_nothing_unfinished)
{
	struct t_dbmd		 d;
	struct proto_decoder	 dec;
	struct stat		 st;
	dbm_conn		*idle, *busy, *setup;
	dbm_handle		*hi, *hb, *hs;
	char			 reason[256];
	int			 fd, rc, code;

	t_dbmd_start(&d, NULL);
	setup = t_connect(&d);
	hs = t_open(setup, "development", "primary");
	t_exec0(hs, "CREATE TABLE t (v TEXT)", 0, NULL);
	t_exec0(hs, "INSERT INTO t VALUES ('committed')", 0, NULL);
	dbm_disconnect(setup);

	idle = t_connect(&d);
	hi = t_open(idle, "development", "primary");
	busy = t_connect(&d);
	hb = t_open(busy, "development", "primary");
	cr_assert_eq(dbm_begin(hb), DBM_OK, "%s", dbm_errmsg(busy));
	t_exec0(hb, "INSERT INTO t VALUES ('uncommitted')", 0, NULL);
	fd = t_raw_connect(&d);
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(fd, &dec);

	kill(d.pid, SIGTERM);
	code = t_raw_goodbye(fd, &dec, reason, sizeof(reason));
	cr_expect_eq(code, PROTO_E_SHUTDOWN, "GOODBYE code %d (%s)", code, reason);
	proto_decoder_free(&dec);
	close(fd);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not exit 0 after SIGTERM");
	cr_assert_eq(lstat(d.sock, &st), -1, "the socket file %s is still there", d.sock);
	cr_assert_eq(errno, ENOENT);
	cr_assert(t_dbmd_logged(&d, "SIGTERM", NULL));

	/* The library's clients find the GOODBYE at their next call. */
	cr_expect_null(dbm_exec(hi, "SELECT 1", 0, NULL));
	cr_expect_eq(dbm_errcode(idle), DBM_E_SHUTDOWN, "idle client: %s: %s",
	    dbm_strerror(dbm_errcode(idle)), dbm_errmsg(idle));
	cr_expect_eq(dbm_connected(idle), 0);
	rc = dbm_commit(hb);
	cr_expect_eq(rc, DBM_E_SHUTDOWN, "client in a transaction: %s: %s", dbm_strerror(rc),
	    dbm_errmsg(busy));
	dbm_disconnect(idle);
	dbm_disconnect(busy);

	/* A new dbmd on the same state: the committed row is there, the other is not. */
	t_dbmd_start(&d, NULL);
	setup = t_connect(&d);
	hs = t_open(setup, "development", "primary");
	cr_assert_eq(count_value(hs, "t", "committed"), 1);
	cr_assert_eq(count_value(hs, "t", "uncommitted"), 0, "uncommitted work was kept");
	dbm_disconnect(setup);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(lifecycle, sigterm_lets_a_request_in_flight_finish_then_says_goodbye)
{
	struct t_dbmd	 d;
	struct long_job	 job = { 0 };
	struct stat	 st;
	dbm_conn	*a, *mon;
	dbm_handle	*ha;
	pthread_t	 th;
	char		 count[32];

	t_dbmd_start(&d, NULL);
	a = t_connect(&d);
	mon = t_connect(&d);
	ha = t_open(a, "test", "primary");
	long_calibrate(ha, 1500, count, sizeof(count));
	long_start(&job, &th, a, ha, count, mon);

	kill(d.pid, SIGTERM);
	/* No new clients while it drains: the socket goes at once. */
	cr_assert(t_dbmd_logged(&d, "SIGTERM", NULL));
	cr_assert_eq(lstat(d.sock, &st), -1, "the socket is still there while draining");
	pthread_join(th, NULL);
	cr_assert_str_empty(job.err, "the request in flight failed: %s", job.err);
	cr_assert_str_eq(job.value, count);
	cr_assert_null(dbm_exec(ha, "SELECT 1", 0, NULL));
	cr_assert_eq(dbm_errcode(a), DBM_E_SHUTDOWN, "%s: %s", dbm_strerror(dbm_errcode(a)),
	    dbm_errmsg(a));
	cr_assert_eq(t_dbmd_stop(&d), 0);
	dbm_disconnect(a);
	dbm_disconnect(mon);
}

/*
 * However many stop signals arrive and whenever, during shutdown or during the final
 * cleanup, dbmd exits with 0: never killed by a signal's default action.
 */
Test(lifecycle, stop_signals_in_a_burst_always_end_in_exit_status_0)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	int		 i, st = 0, round;
	bool		 gone;

	for (round = 0; round < 20; round++) {
		t_dbmd_start(&d, NULL);
		c = t_connect(&d);
		t_exec0(t_open(c, "test", "primary"), "SELECT 1", 0, NULL);
		dbm_disconnect(c);
		/* One signal, then a burst after a pause that grows with the round. */
		kill(d.pid, SIGTERM);
		usleep((useconds_t)(round * 150));
		gone = false;
		for (i = 0; i < 5000 && !gone; i++) {
			kill(d.pid, i % 3 == 2 ? SIGINT : SIGTERM);
			gone = t_wait_pid(d.pid, 0, &st);
			if (!gone)
				usleep(50 * (i % 7));
		}
		if (!gone)
			cr_assert(t_wait_pid(d.pid, 5000 * t_slow(), &st), "dbmd did not exit");
		d.pid = 0;
		cr_assert_eq(t_exit_code(st), 0, "round %d: exit status %d", round,
		    t_exit_code(st));
	}
}

Test(lifecycle, shutdown_timeout_ends_a_request_that_runs_on)
{
	struct t_dbmd	 d;
	struct long_job	 job = { 0 };
	dbm_conn	*a, *mon;
	dbm_handle	*ha;
	pthread_t	 th;
	int64_t		 t0;
	int		 st;

	t_dbmd_start(&d, (const char *[]){ "daemon.shutdown_timeout=1s", NULL });
	a = t_connect(&d);
	mon = t_connect(&d);
	ha = t_open(a, "test", "primary");
	long_start(&job, &th, a, ha, "2000000000", mon);

	t0 = t_now_ms();
	kill(d.pid, SIGTERM);
	cr_assert(t_wait_pid(d.pid, 10000 * t_slow(), &st), "dbmd still runs 10 s after "
	    "SIGTERM with shutdown_timeout 1s");
	d.pid = 0;
	cr_assert_eq(t_exit_code(st), 0);
	cr_assert_geq(t_now_ms() - t0, 900, "dbmd did not wait for shutdown_timeout");
	pthread_join(th, NULL);
	cr_assert_str_neq(job.err, "", "the statement completed?");
	cr_expect_eq(dbm_errcode(a), DBM_E_SHUTDOWN, "the client was told: %s: %s",
	    dbm_strerror(dbm_errcode(a)), job.err);
	cr_assert(t_dbmd_logged(&d, "shutdown_timeout", NULL));
	dbm_disconnect(a);
	dbm_disconnect(mon);
}

Test(lifecycle, second_dbmd_on_the_same_socket_refuses_to_start)
{
	struct t_dbmd	 d, second;
	char		*log;
	int		 st;

	t_dbmd_start(&d, NULL);
	t_dbmd_init(&second);
	strcpy(second.sock, d.sock);
	snprintf(second.log, sizeof(second.log), "%s/second.log", t_h.dir);
	t_dbmd_spawn(&second, NULL);
	cr_assert(t_wait_pid(second.pid, 10000 * t_slow(), &st),
	    "the second dbmd is still running");
	second.pid = 0;
	cr_assert_neq(t_exit_code(st), 0, "the second dbmd exited 0");
	log = t_dbmd_log(&second);
	cr_assert_not_null(strstr(log, "another dbmd is serving"), "its log:\n%s", log);
	free(log);

	/* The first one was not disturbed, and its socket is still there. */
	cr_assert(t_dbmd_answers(&d), "the first dbmd stopped answering");
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(lifecycle, stale_socket_of_a_killed_dbmd_is_replaced)
{
	struct t_dbmd	 d;
	struct stat	 st;

	t_dbmd_start(&d, NULL);
	t_dbmd_kill(&d);
	cr_assert_eq(lstat(d.sock, &st), 0, "SIGKILL removed the socket?");
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(t_raw_connect_try(d.sock), -1, "something answers on the dead socket");

	t_dbmd_start(&d, NULL);
	cr_assert(t_dbmd_logged(&d, "stale socket", NULL),
	    "the removal was not logged");
	cr_assert(t_dbmd_answers(&d));
	cr_assert_eq(t_dbmd_stop(&d), 0);
	cr_assert_eq(lstat(d.sock, &st), -1, "the socket outlived a clean stop");
}
