/* test_pg.c: dbmd against a real PostgreSQL server: the loop, pools, failures, SQL, sessions, URIs. */

/*
 * Every test makes a database of its own on the server tests/pg_harness.sh
 * starts and runs a dbmd of its own (tests/harness.h) with production
 * pointing at it (tests/pg.h says how the server is shared).  The one test
 * that restarts a server starts a second private server of its own, so that
 * it disturbs no one.
 *
 * Bounds on time are generous and only ever say "well within" or "not
 * before": these tests prove behaviour, not speed.
 */

#include <sys/types.h>

#include <criterion/criterion.h>
#include <pwd.h>

#include "pg.h"

/* See test_broker.c: one timeout for every suite, which only matters when something hangs. */
#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = teardown, .timeout = 120)

#define SH_PATH		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PRIV_PORT	"5433"		/* the private server's socket name; no TCP */

static void teardown(void);

SUITE(pg_loop);
SUITE(pg_pool);
SUITE(pg_failure);
SUITE(pg_sql);
SUITE(pg_session);
SUITE(pg_uri);

/* The private server a test started, for the teardown to remove. */
static struct {
	char	 dir[64];		/* its directory, "" when none */
	char	 sock[PATH_MAX];	/* its socket directory */
} priv;

/*
 * Runs a shell command line to completion with a plain PATH.  Through sh on
 * purpose: make valgrind does not trace sh, so PostgreSQL's programs run at
 * full speed.
 */
static struct t_run
sh_run(const char *cmd, int timeout_ms)
{
	char	*argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	char	*envp[] = { SH_PATH, NULL };

	return t_run(argv, envp, timeout_ms);
}

/* "runuser -u USER -- " when the server runs as another user (we are root), else "". */
static char *
pg_runas_prefix(void)
{
	const char	*runas = getenv("TEST_PGRUNAS");

	if (runas == NULL || *runas == '\0')
		return t_strf("%s", "");
	return t_strf("runuser -u %s -- ", runas);
}

/* Stops the private server, if the test started one, and removes it. */
static void
priv_destroy(void)
{
	const char	*bin = getenv("TEST_PGBIN");
	char		*pre, *cmd;
	struct t_run	 r;

	if (priv.dir[0] == '\0')
		return;
	if (bin != NULL) {
		pre = pg_runas_prefix();
		cmd = t_strf("%s'%s/pg_ctl' -D '%s/data' -m immediate stop", pre, bin, priv.dir);
		r = sh_run(cmd, 30000);
		t_run_free(&r);
		free(cmd);
		free(pre);
	}
	cmd = t_strf("rm -rf '%s'", priv.dir);
	r = sh_run(cmd, 30000);
	t_run_free(&r);
	free(cmd);
	priv.dir[0] = '\0';
}

/*
 * The private server first (stopping it runs pg_ctl, whose output goes to
 * the test's directory), then dbmd, the test's directory and its database.
 */
static void
teardown(void)
{
	priv_destroy();
	pg_teardown();
}

/* Sessions on db that are idle in a transaction now. */
static long long
pq_idle_in_txn(PGconn *c, const char *db)
{
	return pq_num(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
	    "state LIKE 'idle in transaction%'", 1, (const char *[]){ db });
}

/* The library. */

/* A statement that must fail with DBM_E_SQL and sqlstate; the caller frees the result. */
static dbm_result *
exec_sqlstate(dbm_handle *h, const char *sql, int n, const char *const *params,
    const char *sqlstate)
{
	dbm_result	*r = t_exec_fails(h, sql, n, params, DBM_E_SQL);

	cr_assert_str_eq(dbm_result_sqlstate(r), sqlstate, "%s: SQLSTATE %s (%s), not %s", sql,
	    dbm_result_sqlstate(r), dbm_result_errmsg(r), sqlstate);
	cr_assert_neq(dbm_result_errmsg(r)[0], '\0', "%s: no message", sql);
	return r;
}

/* The VmHWM (peak resident set) of a process, in KiB; -1 when unknown. */
static long
proc_hwm_kib(pid_t pid)
{
	char	 path[64], *status, *p;
	long	 kib = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	status = t_slurp(path);
	if ((p = strstr(status, "VmHWM:")) != NULL)
		kib = strtol(p + 6, NULL, 10);
	free(status);
	return kib;
}

/* Reads one byte; 1 when it came within ms (scaled). */
static int
pipe_wait(int fd, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 b;

	if (poll(&pfd, 1, ms * t_slow()) != 1)
		return 0;
	return read(fd, &b, 1) == 1;
}

/*
 * Forks a client of d on production/primary, for the test to kill in the
 * middle of something.  With change, it begins a transaction and runs
 * change, which must affect one row.  Then it says it is ready and runs
 * then, or sleeps when then is NULL.  Returns its pid once it is ready, or
 * 0 (having killed it) when it did not get so far within 10s (scaled).
 */
static pid_t
child_client(const struct t_dbmd *d, const char *change, const char *then)
{
	pid_t	 child;
	int	 p[2], ready;

	cr_assert_eq(pipe(p), 0);
	if ((child = t_fork()) == 0) {
		dbm_conn	*cc = dbm_connect(d->sock);
		dbm_handle	*ch = dbm_open(cc, "production", "primary", NULL);
		dbm_result	*r;

		if (ch == NULL)
			_exit(1);
		if (change != NULL) {
			if (dbm_begin(ch) != DBM_OK)
				_exit(1);
			r = dbm_exec(ch, change, 0, NULL);
			if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_affected(r) != 1)
				_exit(2);
		}
		(void)!write(p[1], "x", 1);
		if (then != NULL)
			dbm_result_free(dbm_exec(ch, then, 0, NULL));
		else
			sleep(60);
		_exit(0);
	}
	close(p[1]);
	ready = pipe_wait(p[0], 10000);
	close(p[0]);
	if (!ready) {
		t_kill_pid(child);
		return 0;
	}
	return child;
}

/*
 * The event loop.
 */

Test(pg_loop, a_slow_statement_does_not_delay_another_clients_statement)
{
	struct t_dbmd	 d;
	struct bg	 a;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*sql, *v;
	int64_t		 t0, took;
	int		 sleep_s = 2 * t_slow();

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	sql = t_strf("SELECT pg_sleep(%d)", sleep_s);
	bg_start(&a, &d, sql);
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(%", 5000), 0,
	    "A's pg_sleep never showed up running on the server (A: %s)", a.msg);

	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t0 = t_now_ms();
	v = t_value(h, "SELECT 1", 0, NULL);
	took = t_now_ms() - t0;
	cr_assert_str_eq(v, "1");
	cr_assert_lt(took, 1000 * t_slow(), "B's SELECT 1 took %lldms while A's %s ran",
	    (long long)took, sql);
	cr_assert(!atomic_load(&a.done), "A's statement had already finished when B's "
	    "returned: B was not served while A ran");

	cr_assert(bg_wait(&a, sleep_s * 1000 + 10000), "A's statement never returned");
	cr_assert_eq(a.code, DBM_OK, "A: %s", a.msg);
	free(v);
	free(sql);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * Many clients on a small pool.
 */

#define NCLIENTS	50
#define NROWS		3

struct client_job {
	const char		*sock;
	pthread_barrier_t	*start;
	atomic_int		*running;
	int			 id;
	char			 err[512];	/* "" when every check passed */
};

/* One client: inserts its rows, reads them back, computes with a parameter. */
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
	if ((h = dbm_open(c, "production", "primary", NULL)) == NULL) {
		snprintf(j->err, sizeof(j->err), "open: %s", dbm_errmsg(c));
		goto out;
	}
	for (i = 0; i < NROWS; i++) {
		snprintf(n, sizeof(n), "%d", i);
		snprintf(v, sizeof(v), "%s-row%d", owner, i);
		r = dbm_exec(h, "INSERT INTO items (owner, n, v) VALUES ($1, $2, $3) "
		    "RETURNING n", 3, (const char *[]){ owner, n, v });
		if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_nrows(r) != 1 ||
		    strcmp(dbm_value(r, 0, 0), n) != 0) {
			snprintf(j->err, sizeof(j->err), "insert %d: %s", i, r == NULL ?
			    dbm_errmsg(c) : dbm_result_errmsg(r));
			goto out;
		}
		dbm_result_free(r);
		r = NULL;
	}
	r = dbm_exec(h, "SELECT n, v FROM items WHERE owner = $1 ORDER BY n", 1,
	    (const char *[]){ owner });
	if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_nrows(r) != NROWS) {
		snprintf(j->err, sizeof(j->err), "select: %s (%d rows)", r == NULL ?
		    dbm_errmsg(c) : dbm_result_errmsg(r), r == NULL ? -1 : dbm_nrows(r));
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
	dbm_result_free(r);
	snprintf(n, sizeof(n), "%d", j->id);
	snprintf(want, sizeof(want), "%d", j->id * 2);
	r = dbm_exec(h, "SELECT $1::int * 2", 1, (const char *[]){ n });
	if (r == NULL || dbm_result_status(r) != DBM_OK || strcmp(dbm_value(r, 0, 0), want) != 0)
		snprintf(j->err, sizeof(j->err), "SELECT $1::int * 2 with %s: %s", n, r == NULL ?
		    dbm_errmsg(c) : dbm_result_status(r) != DBM_OK ? dbm_result_errmsg(r) :
		    dbm_value(r, 0, 0));
out:
	dbm_result_free(r);
	dbm_disconnect(c);
	atomic_fetch_sub(j->running, 1);
	return NULL;
}

Test(pg_pool, fifty_clients_over_a_pool_of_four_never_hold_more_than_four_connections)
{
	struct t_dbmd		 d;
	struct client_job	 jobs[NCLIENTS];
	pthread_t		 th[NCLIENTS];
	pthread_barrier_t	 start;
	atomic_int		 running = NCLIENTS;
	long long		 n, peak = 0, samples = 0;
	int64_t			 end;
	int			 i;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE items (owner text, n int, v text)", 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=4", "production.acquire_timeout=60s",
	    NULL);
	pthread_barrier_init(&start, NULL, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct client_job){ .sock = d.sock, .start = &start,
		    .running = &running, .id = i };
		cr_assert_eq(pthread_create(&th[i], NULL, client_thread, &jobs[i]), 0);
	}
	/* Watch the server's side while the clients run. */
	end = t_now_ms() + 60000LL * t_slow();
	while (atomic_load(&running) > 0 && t_now_ms() < end) {
		n = pq_dbmd_backends(pg.check, pg.db);
		samples++;
		if (n > peak)
			peak = n;
		cr_assert_leq(n, 4, "the server had %lld connections from dbmd to the test's "
		    "database; pool_size is 4", n);
		t_sleep_ms(2);
	}
	cr_assert_eq(atomic_load(&running), 0, "clients still running after 60s");
	for (i = 0; i < NCLIENTS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NCLIENTS; i++)
		cr_expect_str_empty(jobs[i].err, "client %d: %s", i, jobs[i].err);
	n = pq_dbmd_backends(pg.check, pg.db);
	cr_assert_leq(n, 4, "%lld connections after the run", n);
	if (n > peak)
		peak = n;
	cr_assert_geq(peak, 2, "50 clients never made the pool open a second connection "
	    "(%lld samples)", samples);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM items", 0, NULL),
	    NCLIENTS * NROWS);
	pg_dbmd_stop(&d);
}

/*
 * Requests one after another run on the connection used last, not in turn on every
 * idle one: its server process is warm, and the others stay idle long enough for
 * idle_timeout to close them when the load falls.  The handle gets back the
 * connection it used last, session state and all, without a reset.
 */
Test(pg_pool, the_connection_used_last_serves_the_next_request)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*first, *v;
	int64_t		 end;
	int		 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=3", "production.min_idle=3", NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	end = t_now_ms() + 10000LL * t_slow();
	while (pq_dbmd_backends(pg.check, pg.db) < 3 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(pq_dbmd_backends(pg.check, pg.db), 3, "min_idle=3 did not open 3");
	first = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	for (i = 0; i < 10; i++) {
		v = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
		cr_assert_str_eq(v, first, "request %d ran on backend %s, not %s", i, v, first);
		free(v);
	}
	free(first);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_pool, a_request_times_out_when_the_only_connection_is_held)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb;
	dbm_handle	*ha, *hb;
	dbm_result	*r;
	int64_t		 t0, took;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=1", "production.acquire_timeout=300ms",
	    NULL);
	ca = t_connect(&d);
	cb = t_connect(&d);
	ha = t_open(ca, "production", "primary");
	hb = t_open(cb, "production", "primary");
	cr_assert_eq(dbm_begin(ha), DBM_OK, "BEGIN: %s", dbm_errmsg(ca));
	t_exec0(ha, "SELECT 1", 0, NULL);

	t0 = t_now_ms();
	r = t_exec_fails(hb, "SELECT 2", 0, NULL, DBM_E_TIMEOUT);
	took = t_now_ms() - t0;
	cr_assert_geq(took, 200, "timed out after %lldms, before acquire_timeout (300ms)",
	    (long long)took);
	cr_assert_lt(took, 5000 * t_slow(), "timed out only after %lldms", (long long)took);
	cr_assert_not_null(strstr(dbm_result_errmsg(r), "pool"),
	    "the timeout does not mention the pool: %s", dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_geq(pool_num(cb, hb, "acquire_timeouts"), 1);

	/* Once the transaction ends, the connection serves the other client. */
	cr_assert_eq(dbm_commit(ha), DBM_OK, "COMMIT: %s", dbm_errmsg(ca));
	v = t_value(hb, "SELECT 2", 0, NULL);
	cr_assert_str_eq(v, "2");
	free(v);
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	pg_dbmd_stop(&d);
}

/*
 * Failures: the server restarts, terminates connections, clients die.
 */

/* Initialises and starts a private server in priv.dir, as pg_harness.sh does the shared one. */
static void
priv_start(void)
{
	const char	*bin = getenv("TEST_PGBIN"), *runas = getenv("TEST_PGRUNAS");
	char		*pre, *cmd, *data, *log;
	struct passwd	*pw;
	struct t_run	 r;

	cr_assert(bin != NULL && *bin != '\0', "TEST_PGBIN is not set (pg_harness.sh sets it)");
	strcpy(priv.dir, "/tmp/dbmd-pgpriv-XXXXXX");
	cr_assert_not_null(mkdtemp(priv.dir), "mkdtemp: %s", strerror(errno));
	chmod(priv.dir, 0755);
	data = t_strf("%s/data", priv.dir);
	snprintf(priv.sock, sizeof(priv.sock), "%s/sock", priv.dir);
	cr_assert_eq(mkdir(data, 0700), 0, "%s: %s", data, strerror(errno));
	cr_assert_eq(mkdir(priv.sock, 0755), 0, "%s: %s", priv.sock, strerror(errno));
	if (runas != NULL && *runas != '\0') {
		pw = getpwnam(runas);
		cr_assert_not_null(pw, "no user %s", runas);
		cr_assert_eq(chown(data, pw->pw_uid, (gid_t)-1), 0, "chown: %s", strerror(errno));
		cr_assert_eq(chown(priv.sock, pw->pw_uid, (gid_t)-1), 0, "chown: %s",
		    strerror(errno));
	}
	pre = pg_runas_prefix();
	cmd = t_strf("%s'%s/initdb' -D '%s' -U postgres -A trust --no-sync 2>&1", pre, bin, data);
	r = sh_run(cmd, 120000);
	cr_assert_eq(r.status, 0, "initdb failed: %s", r.out);
	t_run_free(&r);
	free(cmd);
	log = t_strf("%s/pg.log", data);
	cmd = t_strf("%s'%s/pg_ctl' -D '%s' -l '%s' -w -t 60 start -o \"-c listen_addresses='' "
	    "-k %s -p %s -c fsync=off\" 2>&1", pre, bin, data, log, priv.sock, PRIV_PORT);
	r = sh_run(cmd, 90000);
	cr_assert_eq(r.status, 0, "the private server did not start: %s", r.out);
	t_run_free(&r);
	free(cmd);
	free(log);
	free(data);
	free(pre);
}

/*
 * Restarts the private server with pg_ctl, which starts it again with the
 * options it recorded in postmaster.opts; returns when it accepts connections.
 */
static void
priv_restart(void)
{
	const char	*bin = getenv("TEST_PGBIN");
	char		*pre = pg_runas_prefix();
	char		*cmd = t_strf("%s'%s/pg_ctl' -D '%s/data' -l '%s/data/pg.log' -w -t 60 "
	    "restart -m fast 2>&1", pre, bin, priv.dir, priv.dir);
	struct t_run	 r = sh_run(cmd, 90000);

	cr_assert_eq(r.status, 0, "pg_ctl restart failed: %s", r.out);
	t_run_free(&r);
	free(cmd);
	free(pre);
}

/* A client that runs short statements in a loop until told to stop, keeping score. */
struct traffic {
	const char	*sock;
	pthread_t	 th;
	atomic_int	 stop;
	atomic_int	 done;
	atomic_llong	 calls, ok, failed;
	atomic_llong	 last_ok_sent;	/* when the latest successful statement was sent */
	atomic_llong	 longest_ms;	/* the slowest call */
	char		 bad[512];	/* the first unclear failure, "" when none */
	char		 failure[512];	/* an example of a clear failure */
};

/*
 * A failure during a restart is clear when it says the server went away:
 * DBM_E_BACKEND (the connection broke, or no new one could be made), or an
 * SQL error of class 57 (operator intervention, e.g. 57P01 admin shutdown)
 * or 08 (connection exception), with a message.
 */
static int
clear_failure(int code, const char *sqlstate, const char *msg)
{
	if (msg == NULL || *msg == '\0')
		return 0;
	if (code == DBM_E_BACKEND)
		return 1;
	return code == DBM_E_SQL && (strncmp(sqlstate, "57", 2) == 0 ||
	    strncmp(sqlstate, "08", 2) == 0);
}

static void *
traffic_main(void *arg)
{
	struct traffic	*t = arg;
	dbm_conn	*c = dbm_connect(t->sock);
	dbm_handle	*h = NULL;
	dbm_result	*r;
	char		 n[24], want[24];
	long long	 i = 0, took;
	int64_t		 t0;
	int		 code;

	if (dbm_errcode(c) != DBM_OK ||
	    (h = dbm_open(c, "production", "primary", NULL)) == NULL) {
		snprintf(t->bad, sizeof(t->bad), "connect or open: %s", dbm_errmsg(c));
		goto out;
	}
	while (!atomic_load(&t->stop)) {
		snprintf(n, sizeof(n), "%lld", ++i);
		snprintf(want, sizeof(want), "%lld", i + 1);
		t0 = t_now_ms();
		r = dbm_exec(h, "SELECT $1::bigint + 1", 1, (const char *[]){ n });
		took = t_now_ms() - t0;
		atomic_fetch_add(&t->calls, 1);
		if (took > atomic_load(&t->longest_ms))
			atomic_store(&t->longest_ms, took);
		if (r == NULL) {
			snprintf(t->bad, sizeof(t->bad), "the connection to dbmd failed: %s",
			    dbm_errmsg(c));
			break;
		}
		code = dbm_result_status(r);
		if (code == DBM_OK && dbm_nrows(r) == 1 && strcmp(dbm_value(r, 0, 0), want) == 0) {
			atomic_fetch_add(&t->ok, 1);
			atomic_store(&t->last_ok_sent, t0);
		} else if (code == DBM_OK) {
			snprintf(t->bad, sizeof(t->bad), "SELECT %s + 1 gave %s", n,
			    dbm_value(r, 0, 0));
		} else {
			atomic_fetch_add(&t->failed, 1);
			if (!clear_failure(code, dbm_result_sqlstate(r), dbm_result_errmsg(r)) &&
			    t->bad[0] == '\0')
				snprintf(t->bad, sizeof(t->bad), "%s, SQLSTATE '%s': %s",
				    dbm_strerror(code), dbm_result_sqlstate(r),
				    dbm_result_errmsg(r));
			snprintf(t->failure, sizeof(t->failure), "%s, SQLSTATE '%s': %s",
			    dbm_strerror(code), dbm_result_sqlstate(r), dbm_result_errmsg(r));
			t_sleep_ms(20);		/* the server is down: do not spin */
		}
		dbm_result_free(r);
	}
out:
	dbm_disconnect(c);
	atomic_store(&t->done, 1);
	return NULL;
}

#define NTRAFFIC	3

Test(pg_failure, a_server_restart_fails_requests_in_flight_and_later_ones_succeed)
{
	struct t_dbmd	 d;
	struct traffic	 tr[NTRAFFIC];
	struct bg	 inflight;
	PGconn		*pc;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*uri, *v;
	int64_t		 back, end;
	int		 i, all;

	pg_require();
	priv_start();
	uri = t_strf("postgresql://postgres@/postgres?host=%s&port=%s", priv.sock, PRIV_PORT);
	pg_dbmd_start(&d, uri, "production.pool_size=4", "production.acquire_timeout=5s",
	    "production.connect_timeout=2s", NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	pc = pq_connect(priv.sock, PRIV_PORT, "postgres");

	bg_start(&inflight, &d, "SELECT pg_sleep(60)");
	cr_assert_neq(pq_wait_active(pc, "postgres", "SELECT pg_sleep(60)%", 5000), 0,
	    "the long statement never ran (%s)", inflight.msg);
	PQfinish(pc);
	memset(tr, 0, sizeof(tr));
	for (i = 0; i < NTRAFFIC; i++) {
		tr[i].sock = d.sock;
		cr_assert_eq(pthread_create(&tr[i].th, NULL, traffic_main, &tr[i]), 0);
	}
	/* The traffic flows before the restart: each client has had a statement succeed. */
	end = t_now_ms() + 10000LL * t_slow();
	do {
		for (i = 0, all = 1; i < NTRAFFIC; i++)
			if (atomic_load(&tr[i].ok) == 0 && !atomic_load(&tr[i].done))
				all = 0;
		if (all)
			break;
		t_sleep_ms(10);
	} while (t_now_ms() < end);
	for (i = 0; i < NTRAFFIC; i++)
		cr_assert_gt(atomic_load(&tr[i].ok), 0, "client %d had no statement succeed "
		    "before the restart: %s", i, tr[i].bad);

	priv_restart();
	back = t_now_ms();

	/* The statement that was running when the server went down failed, and said why. */
	cr_assert(bg_wait(&inflight, 5000), "the statement running during the restart "
	    "did not return within 5s of the server coming back");
	cr_assert(clear_failure(inflight.code, inflight.sqlstate, inflight.msg),
	    "the statement running during the restart ended with %s, SQLSTATE '%s': %s",
	    inflight.code >= 0 ? dbm_strerror(inflight.code) : "nothing", inflight.sqlstate,
	    inflight.msg);

	/* Every client gets through again soon after the server is back (or gave up). */
	end = back + 10000LL * t_slow();
	do {
		for (i = 0, all = 1; i < NTRAFFIC; i++)
			if (atomic_load(&tr[i].last_ok_sent) < back && !atomic_load(&tr[i].done))
				all = 0;
		if (all)
			break;
		t_sleep_ms(50);
	} while (t_now_ms() < end);
	for (i = 0; i < NTRAFFIC; i++)
		atomic_store(&tr[i].stop, 1);
	end = t_now_ms() + 5000LL * t_slow();
	for (i = 0; i < NTRAFFIC; i++) {
		while (!atomic_load(&tr[i].done) && t_now_ms() < end)
			t_sleep_ms(10);
		cr_assert(atomic_load(&tr[i].done), "client %d hangs in a request", i);
		pthread_join(tr[i].th, NULL);
	}
	for (i = 0; i < NTRAFFIC; i++) {
		cr_log_info("client %d: %lld calls, %lld ok, %lld failed (e.g. %s), longest "
		    "%lldms", i, (long long)tr[i].calls, (long long)tr[i].ok,
		    (long long)tr[i].failed, tr[i].failure, (long long)tr[i].longest_ms);
		cr_expect_str_empty(tr[i].bad, "client %d: %s", i, tr[i].bad);
		cr_expect_geq(atomic_load(&tr[i].last_ok_sent), back, "client %d had no "
		    "statement succeed after the server was back (last failure: %s)", i,
		    tr[i].failure);
		cr_expect_lt(atomic_load(&tr[i].longest_ms), 5000 * t_slow(), "client %d "
		    "waited %lldms for one statement", i, (long long)tr[i].longest_ms);
	}

	/* The handle opened before the restart works too. */
	end = t_now_ms() + 10000LL * t_slow();
	for (;;) {
		dbm_result *r = dbm_exec(h, "SELECT 42", 0, NULL);

		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		if (dbm_result_status(r) == DBM_OK) {
			cr_assert_str_eq(dbm_value(r, 0, 0), "42");
			dbm_result_free(r);
			break;
		}
		cr_assert(clear_failure(dbm_result_status(r), dbm_result_sqlstate(r),
		    dbm_result_errmsg(r)), "%s: %s", dbm_strerror(dbm_result_status(r)),
		    dbm_result_errmsg(r));
		dbm_result_free(r);
		cr_assert_lt(t_now_ms(), end, "the old handle never worked again");
		t_sleep_ms(50);
	}
	/* pg_ctl restart started the server with the options recorded in postmaster.opts. */
	v = t_value(h, "SHOW fsync", 0, NULL);
	cr_assert_str_eq(v, "off", "the restarted server lost its -c fsync=off");
	free(v);
	v = t_value(h, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbmd'",
	    0, NULL);
	cr_assert_leq(atoi(v), 4, "%s connections from dbmd after the restart", v);
	free(v);
	cr_assert_gt(pool_num(c, h, "connects"), 1, "no connection was made after the restart");
	dbm_disconnect(c);
	free(uri);
	pg_dbmd_stop(&d);
}

Test(pg_failure, terminated_idle_connections_are_discarded_and_replaced)
{
	struct t_dbmd	 d;
	dbm_conn	*c[2];
	dbm_handle	*h[2];
	char		*pid[2], *v;
	long long	 killed;
	int64_t		 end;
	int		 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	/* Two transactions at once: two connections, idle once they commit. */
	for (i = 0; i < 2; i++) {
		c[i] = t_connect(&d);
		h[i] = t_open(c[i], "production", "primary");
		cr_assert_eq(dbm_begin(h[i]), DBM_OK, "BEGIN: %s", dbm_errmsg(c[i]));
		pid[i] = t_value(h[i], "SELECT pg_backend_pid()", 0, NULL);
	}
	cr_assert_str_neq(pid[0], pid[1]);
	for (i = 0; i < 2; i++)
		cr_assert_eq(dbm_commit(h[i]), DBM_OK, "COMMIT: %s", dbm_errmsg(c[i]));
	cr_assert_eq(pool_num_wait(c[0], h[0], "idle", 2), 2);
	cr_assert_eq(pool_num(c[0], h[0], "connects"), 2);
	cr_assert_eq(pool_num(c[0], h[0], "discarded"), 0);

	killed = pq_num(pg.admin, "SELECT count(pg_terminate_backend(pid)) FROM "
	    "pg_stat_activity WHERE datname = $1 AND application_name = 'dbmd'", 1,
	    (const char *[]){ pg.db });
	cr_assert_eq(killed, 2);

	/* The pool notices on its own, before anyone asks for a connection. */
	end = t_now_ms() + 5000LL * t_slow();
	while ((pool_num(c[0], h[0], "discarded") < 2 || pool_num(c[0], h[0], "idle") != 0) &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(pool_num(c[0], h[0], "discarded"), 2,
	    "the terminated connections were not discarded");
	cr_assert_eq(pool_num(c[0], h[0], "idle"), 0);
	cr_assert(t_dbmd_logged(&d, "lost", NULL), "no log line says a connection was lost");

	for (i = 0; i < 4; i++) {
		v = t_value(h[i % 2], "SELECT pg_backend_pid()", 0, NULL);
		cr_assert(strcmp(v, pid[0]) != 0 && strcmp(v, pid[1]) != 0,
		    "statement %d ran on terminated backend %s", i, v);
		free(v);
	}
	cr_assert_geq(pool_num(c[0], h[0], "connects"), 3);
	for (i = 0; i < 2; i++) {
		free(pid[i]);
		dbm_disconnect(c[i]);
	}
	pg_dbmd_stop(&d);
}

Test(pg_failure, a_connection_terminated_mid_statement_fails_that_statement_only)
{
	struct t_dbmd	 d;
	struct bg	 a;
	dbm_conn	*c;
	dbm_handle	*h;
	long long	 pid;
	char		*v, *spid;
	int64_t		 t0;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=2", NULL);
	/* The same client goes on after the failure, on the same dbmd connection. */
	bg_start_then(&a, &d, "SELECT pg_sleep(30)", "SELECT 'next'");
	pid = pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000);
	cr_assert_neq(pid, 0, "the statement never ran (%s)", a.msg);
	t0 = t_now_ms();
	spid = t_strf("%lld", pid);
	cr_assert_eq(pq_num(pg.admin, "SELECT count(pg_terminate_backend($1::int))", 1,
	    (const char *[]){ spid }), 1);
	free(spid);
	cr_assert(bg_wait(&a, 5000), "the statement did not return within 5s of its "
	    "connection being terminated");
	cr_assert(clear_failure(a.code, a.sqlstate, a.msg), "the terminated statement ended "
	    "with %s, SQLSTATE '%s': %s", a.code >= 0 ? dbm_strerror(a.code) : "nothing",
	    a.sqlstate, a.msg);
	cr_assert_lt(a.ended_ms - t0, 5000 * t_slow());
	cr_assert_eq(a.then_code, DBM_OK, "the client's next statement failed: %s (%s)",
	    a.then_code >= 0 ? dbm_strerror(a.then_code) : "nothing", a.then_msg);
	cr_assert_str_eq(a.then_value, "next");

	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	v = t_value(h, "SELECT 'still serving'", 0, NULL);
	cr_assert_str_eq(v, "still serving");
	free(v);
	cr_assert_geq(pool_num(c, h, "discarded"), 1, "the broken connection was not "
	    "discarded");
	cr_assert_leq(pq_dbmd_backends(pg.admin, pg.db), 2);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * A client killed inside a transaction: dbmd sees the socket close and
 * rolls back, which releases the transaction's locks.
 */
Test(pg_failure, a_client_killed_mid_transaction_leaves_no_lock_behind)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	pid_t		 child;
	int64_t		 t0, end;
	char		*v;
	long long	 locks = -1, idle_txn = -1;
	const char	*lock_sql = "SELECT count(*) FROM pg_locks l JOIN pg_class k ON "
	    "k.oid = l.relation WHERE k.relname = 'acct' AND l.pid <> pg_backend_pid()";

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE acct (id int PRIMARY KEY, v text)", 0, NULL);
	pq_exec0(pg.check, "INSERT INTO acct VALUES (1, 'start')", 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	child = child_client(&d, "UPDATE acct SET v = 'child' WHERE id = 1", NULL);
	cr_assert_neq(child, 0, "the child did not update the row");
	/* The premise: its transaction is open and holds the row's lock. */
	cr_assert_eq(pq_idle_in_txn(pg.check, pg.db), 1);
	cr_assert_geq(pq_num(pg.check, lock_sql, 0, NULL), 1);

	t_kill_pid(child);
	end = t_now_ms() + 5000LL * t_slow();
	do {
		idle_txn = pq_idle_in_txn(pg.check, pg.db);
		locks = pq_num(pg.check, lock_sql, 0, NULL);
		if (idle_txn == 0 && locks == 0)
			break;
		t_sleep_ms(20);
	} while (t_now_ms() < end);
	cr_assert_eq(idle_txn, 0, "a session is still idle in transaction 5s after its "
	    "client was killed");
	cr_assert_eq(locks, 0, "locks on acct are still held 5s after the client was killed");

	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	t_exec0(h, "SET LOCAL lock_timeout = '2s'", 0, NULL);
	v = t_value(h, "SELECT v FROM acct WHERE id = 1", 0, NULL);
	cr_assert_str_eq(v, "start", "the killed client's update was not rolled back");
	free(v);
	t0 = t_now_ms();
	dbm_result_free(t_exec(h, "UPDATE acct SET v = 'parent' WHERE id = 1", 0, NULL));
	cr_assert_lt(t_now_ms() - t0, 2000 * t_slow());
	cr_assert_eq(dbm_commit(h), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM acct WHERE v = 'parent'", 0, NULL),
	    1);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * A client that goes away while its statement runs: the server stops
 * running it, and the pool keeps working.
 */
Test(pg_failure, a_client_that_disconnects_mid_statement_has_it_cancelled)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	pid_t		 child;
	int64_t		 seen, end;
	long long	 running = -1;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=1", "production.acquire_timeout=3s",
	    NULL);
	child = child_client(&d, NULL, "SELECT pg_sleep(30)");
	cr_assert_neq(child, 0, "the child did not open a handle");
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the child's statement never ran");
	seen = t_now_ms();
	t_sleep_ms(500);
	t_kill_pid(child);

	end = t_now_ms() + 5000LL * t_slow();
	while ((running = pq_count_active(pg.admin, pg.db, "SELECT pg_sleep(30)%")) != 0 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(running, 0, "the server still runs the statement of a client that "
	    "disconnected %lldms ago", (long long)(t_now_ms() - seen - 500));

	/* pool_size 1: the next statement needs that connection back, or a new one. */
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	v = t_value(h, "SELECT 'after'", 0, NULL);
	cr_assert_str_eq(v, "after");
	free(v);
	cr_assert_eq(pool_num_wait(c, h, "active", 0), 0);
	cr_assert_eq(pool_num(c, h, "pinned"), 0);
	cr_assert(pool_num(c, h, "connects") == 1 || pool_num(c, h, "discarded") >= 1,
	    "the cancelled connection was neither reused nor discarded");
	cr_assert_leq(pq_dbmd_backends(pg.admin, pg.db), 1);
	cr_assert_eq(pq_idle_in_txn(pg.admin, pg.db), 0);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/* Another client on the same pool, running short statements until told to stop. */
struct bystander {
	const char	*sock;
	pthread_t	 th;
	atomic_int	 stop;
	atomic_int	 ready;
	long		 ok, cancelled, other;
	char		 msg[512];	/* the last failure */
};

static void *
bystander_main(void *arg)
{
	struct bystander	*b = arg;
	dbm_conn		*c = dbm_connect(b->sock);
	dbm_handle		*h = dbm_open(c, "production", "primary", NULL);
	dbm_result		*r;

	if (h == NULL) {
		b->other++;
		snprintf(b->msg, sizeof(b->msg), "open: %s", dbm_errmsg(c));
		goto out;
	}
	atomic_store(&b->ready, 1);
	while (!atomic_load(&b->stop)) {
		if ((r = dbm_exec(h, "SELECT pg_sleep(0.005)", 0, NULL)) == NULL) {
			b->other++;
			snprintf(b->msg, sizeof(b->msg), "%s", dbm_errmsg(c));
			break;
		}
		if (dbm_result_status(r) == DBM_OK)
			b->ok++;
		else {
			if (strcmp(dbm_result_sqlstate(r), "57014") == 0)
				b->cancelled++;
			else
				b->other++;
			snprintf(b->msg, sizeof(b->msg), "%s, SQLSTATE '%s': %s",
			    dbm_strerror(dbm_result_status(r)), dbm_result_sqlstate(r),
			    dbm_result_errmsg(r));
		}
		dbm_result_free(r);
	}
out:
	dbm_disconnect(c);
	atomic_store(&b->ready, 1);
	return NULL;
}

/*
 * dbmd cancels the statement of a client that disconnects; the cancel
 * travels on a connection of its own and lands whenever it lands.  If the
 * statement finished meanwhile and its connection already runs another
 * client's statement, that statement must not be the one cancelled.  Here
 * clients are killed at moments spread over their statement's run while a
 * bystander shares the pool's only connection; the bystander never asked
 * for a cancel, so none of its statements may end in 57014.
 */
#define NKILLS		100

Test(pg_failure, a_cancel_for_a_departed_client_never_hits_the_next_clients_statement)
{
	struct t_dbmd		 d;
	struct bystander	 b;
	struct timespec		 ts;
	pid_t			 child;
	int			 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=1", "production.acquire_timeout=30s",
	    NULL);
	memset(&b, 0, sizeof(b));
	b.sock = d.sock;
	cr_assert_eq(pthread_create(&b.th, NULL, bystander_main, &b), 0);
	while (!atomic_load(&b.ready))
		t_sleep_ms(5);
	for (i = 0; i < NKILLS; i++) {
		child = child_client(&d, NULL, "SELECT pg_sleep(0.02)");
		cr_assert_neq(child, 0, "client %d did not open a handle", i);
		ts = (struct timespec){ 0, (long)(i * 7919 % 30000) * 1000L };
		nanosleep(&ts, NULL);
		t_kill_pid(child);
	}
	atomic_store(&b.stop, 1);
	pthread_join(b.th, NULL);
	cr_log_info("bystander: %ld ok, %ld cancelled, %ld other", b.ok, b.cancelled, b.other);
	cr_assert_eq(b.cancelled, 0, "%ld of the bystander's %ld statements were cancelled "
	    "by cancels meant for departed clients (%s)", b.cancelled,
	    b.ok + b.cancelled + b.other, b.msg);
	cr_assert_eq(b.other, 0, "the bystander's statements failed: %s", b.msg);
	cr_assert_gt(b.ok, 0);
	pg_dbmd_stop(&d);
}

/*
 * The same inside a transaction: the statement is cancelled and the
 * transaction rolled back, so nothing it did remains and no session is left
 * idle in transaction.
 */
Test(pg_failure, a_client_that_disconnects_mid_statement_in_a_transaction_is_rolled_back)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	pid_t		 child;
	int64_t		 end;
	long long	 running = -1, idle_txn = -1;
	char		*v;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE log (v text)", 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=1", "production.acquire_timeout=3s",
	    NULL);
	child = child_client(&d, "INSERT INTO log VALUES ('child')", "SELECT pg_sleep(30)");
	cr_assert_neq(child, 0, "the child did not insert its row");
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the child's statement never ran");
	t_kill_pid(child);

	end = t_now_ms() + 5000LL * t_slow();
	do {
		running = pq_count_active(pg.admin, pg.db, "SELECT pg_sleep(30)%");
		idle_txn = pq_idle_in_txn(pg.admin, pg.db);
		if (running == 0 && idle_txn == 0)
			break;
		t_sleep_ms(20);
	} while (t_now_ms() < end);
	cr_assert_eq(running, 0, "the statement still runs 5s after its client was killed");
	cr_assert_eq(idle_txn, 0, "a session is still idle in transaction");

	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	v = t_value(h, "SELECT count(*) FROM log", 0, NULL);
	cr_assert_str_eq(v, "0", "the killed client's insert was not rolled back");
	free(v);
	cr_assert_eq(pool_num_wait(c, h, "active", 0) + pool_num(c, h, "pinned"), 0);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * A pinned handle's connection that the server closes while idle: dbmd
 * keeps it for the handle (it holds the session's state), the handle's next
 * statement fails saying why, and the one after runs on a new connection.
 */
Test(pg_failure, a_pinned_handle_whose_backend_is_terminated_fails_once_then_reconnects)
{
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;
	struct t_dbmd		 d;
	dbm_conn		*c;
	dbm_handle		*h;
	dbm_result		*r;
	char			*pid, *v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=2", NULL);
	c = t_connect(&d);
	o.pinned = 1;
	h = dbm_open(c, "production", "primary", &o);
	cr_assert_not_null(h, "open pinned: %s", dbm_errmsg(c));
	pid = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	cr_assert_eq(pq_num(pg.admin, "SELECT count(pg_terminate_backend($1::int))", 1,
	    (const char *[]){ pid }), 1);
	cr_assert(t_dbmd_logged(&d, "lost", NULL), "dbmd did not notice the connection go");

	r = dbm_exec(h, "SELECT 1", 0, NULL);
	cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
	cr_assert(clear_failure(dbm_result_status(r), dbm_result_sqlstate(r),
	    dbm_result_errmsg(r)), "the statement on the lost connection ended with %s, "
	    "SQLSTATE '%s': %s", dbm_strerror(dbm_result_status(r)), dbm_result_sqlstate(r),
	    dbm_result_errmsg(r));
	dbm_result_free(r);

	v = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	cr_assert_str_neq(v, pid, "the handle still uses the terminated backend");
	free(v);
	cr_assert_geq(pool_num(c, h, "discarded"), 1);
	free(pid);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * SQL: errors with their SQLSTATE, values, parameters.
 */

Test(pg_sql, a_unique_violation_is_23505_with_its_detail)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t_exec0(h, "CREATE TABLE u (id int PRIMARY KEY)", 0, NULL);
	t_exec0(h, "INSERT INTO u VALUES (1)", 0, NULL);
	r = exec_sqlstate(h, "INSERT INTO u VALUES ($1)", 1, (const char *[]){ "1" }, "23505");
	cr_assert_not_null(strstr(dbm_result_detail(r), "(id)=(1)"),
	    "the detail does not name the key: '%s'", dbm_result_detail(r));
	cr_assert_not_null(strstr(dbm_result_errmsg(r), "u_pkey"), "%s", dbm_result_errmsg(r));
	dbm_result_free(r);
	/* The connection goes on serving. */
	t_exec0(h, "INSERT INTO u VALUES (2)", 0, NULL);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_sql, errors_carry_the_servers_sqlstate)
{
	static const struct {
		const char	*sql;
		const char	*sqlstate;
	} cases[] = {
		{ "SELEC 1", "42601" },				/* syntax error */
		{ "SELECT 1; SELECT 2", "42601" },		/* two statements in one call */
		{ "SELECT 1 / 0", "22012" },			/* division by zero */
		{ "SELECT * FROM no_such_table", "42P01" },	/* undefined table */
		{ "SELECT no_such_column FROM t", "42703" },	/* undefined column */
		{ "INSERT INTO t (a) VALUES (NULL)", "23502" },	/* not null */
		{ "SELECT 'x'::int", "22P02" },			/* invalid text representation */
	};
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	size_t		 i;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (a int NOT NULL)", 0, NULL);
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		dbm_result_free(exec_sqlstate(h, cases[i].sql, 0, NULL, cases[i].sqlstate));
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * One call is one statement: a second one is refused before anything runs, wherever
 * the semicolons are, and a semicolon inside a literal, a comment or at the end is
 * not a second statement.
 */
Test(pg_sql, one_call_runs_one_statement)
{
	static const char *const several[] = {
		"INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
		"INSERT INTO t VALUES (1);INSERT INTO t VALUES (2);",
		"SELECT ';'; INSERT INTO t VALUES (1)",
		"SELECT 1 /* ; */; INSERT INTO t VALUES (1)",
		"SELECT $$;$$; INSERT INTO t VALUES (1)",
	};
	static const struct {
		const char	*sql;
		const char	*value;
	} single[] = {
		{ "SELECT 1;", "1" },
		{ "SELECT 2 ;\n\t ;", "2" },
		{ "SELECT ';' AS s", ";" },
		{ "SELECT 'a;b' -- ; comment\n", "a;b" },
		{ "SELECT $x$;$x$ /* ; */", ";" },
		{ "SELECT E'\\';'", "';" },
	};
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*v;
	size_t		 i;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	for (i = 0; i < sizeof(several) / sizeof(several[0]); i++)
		dbm_result_free(exec_sqlstate(h, several[i], 0, NULL, "42601"));
	v = t_value(h, "SELECT count(*) FROM t", 0, NULL);
	cr_assert_str_eq(v, "0", "a refused call ran part of its text: %s rows", v);
	free(v);
	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		v = t_value(h, single[i].sql, 0, NULL);
		cr_assert_str_eq(v, single[i].value, "%s: got '%s'", single[i].sql, v);
		free(v);
	}
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/* COPY needs a protocol dbmd does not speak: refused, and the pool recovers. */
Test(pg_sql, copy_is_refused_and_the_connection_recovers)
{
	static const char *const copies[] = { "COPY t TO STDOUT", "COPY t FROM STDIN" };
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*v;
	size_t		 i;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	pq_exec0(pg.check, "INSERT INTO t VALUES (1)", 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=1", NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	for (i = 0; i < 2; i++) {
		dbm_result_free(exec_sqlstate(h, copies[i], 0, NULL, "0A000"));
		v = t_value(h, "SELECT count(*) FROM t", 0, NULL);
		cr_assert_str_eq(v, "1", "after %s", copies[i]);
		free(v);
	}
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_sql, a_write_through_a_read_only_role_is_25006)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*ro, *rw;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	ro = t_open(c, "production", "read_only");
	rw = t_open(c, "production", "primary");
	dbm_result_free(exec_sqlstate(ro, "INSERT INTO t VALUES (1)", 0, NULL, "25006"));
	dbm_result_free(exec_sqlstate(ro, "CREATE TABLE t2 (a int)", 0, NULL, "25006"));
	t_exec0(rw, "INSERT INTO t VALUES (1)", 0, NULL);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 1);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_sql, nulls_and_empty_strings_stay_distinct)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	int		 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	r = t_exec(h, "SELECT NULL::text, ''::text, $1::text, $2::text", 2,
	    (const char *[]){ NULL, "" });
	cr_assert_eq(dbm_ncols(r), 4);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(dbm_isnull(r, 0, i), i % 2 == 0, "column %d: isnull %d", i,
		    dbm_isnull(r, 0, i));
		cr_assert_str_eq(dbm_value(r, 0, i), "");
		cr_assert_eq(dbm_length(r, 0, i), 0);
	}
	dbm_result_free(r);

	/* Through a table too. */
	t_exec0(h, "CREATE TABLE n (id int, v text)", 0, NULL);
	t_exec0(h, "INSERT INTO n VALUES (1, $1), (2, $2)", 2, (const char *[]){ NULL, "" });
	r = t_exec(h, "SELECT v IS NULL, v FROM n ORDER BY id", 0, NULL);
	cr_assert_eq(dbm_nrows(r), 2);
	cr_assert_str_eq(dbm_value(r, 0, 0), "t");
	cr_assert(dbm_isnull(r, 0, 1));
	cr_assert_str_eq(dbm_value(r, 1, 0), "f");
	cr_assert(!dbm_isnull(r, 1, 1));
	dbm_result_free(r);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM n WHERE v IS NULL", 0, NULL), 1);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM n WHERE v = ''", 0, NULL), 1);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_sql, utf8_text_round_trips)
{
	/* Two-, three- and four-byte characters: 12 characters, 22 bytes. */
	const char	*text = "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x90\x98";
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	r = t_exec(h, "SELECT $1::text, length($1), octet_length($1)", 1,
	    (const char *[]){ text });
	cr_assert_str_eq(dbm_value(r, 0, 0), text);
	cr_assert_eq(dbm_length(r, 0, 0), strlen(text));
	cr_assert_str_eq(dbm_value(r, 0, 1), "12", "the server counted %s characters",
	    dbm_value(r, 0, 1));
	cr_assert_eq(atoi(dbm_value(r, 0, 2)), (int)strlen(text));
	dbm_result_free(r);

	t_exec0(h, "CREATE TABLE w (v text)", 0, NULL);
	t_exec0(h, "INSERT INTO w VALUES ($1)", 1, (const char *[]){ text });
	r = t_exec(h, "SELECT v, v = $1 FROM w", 1, (const char *[]){ text });
	cr_assert_str_eq(dbm_value(r, 0, 0), text);
	cr_assert_str_eq(dbm_value(r, 0, 1), "t");
	dbm_result_free(r);
	/* As the server stored it, seen without dbmd. */
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM w WHERE v = $1", 1,
	    (const char *[]){ text }), 1);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_sql, numbered_parameters_bind_in_any_order_with_nulls)
{
	const char *const params[] = { "10", NULL, "x", "", "32", NULL, "y" };
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	r = t_exec(h, "SELECT $5::int + $1::int, $2::int IS NULL, $7 || $3, $4 = '', "
	    "coalesce($6, 'null'), $1", 7, params);
	cr_assert_str_eq(dbm_value(r, 0, 0), "42");
	cr_assert_str_eq(dbm_value(r, 0, 1), "t");
	cr_assert_str_eq(dbm_value(r, 0, 2), "yx");
	cr_assert_str_eq(dbm_value(r, 0, 3), "t");
	cr_assert_str_eq(dbm_value(r, 0, 4), "null");
	cr_assert_str_eq(dbm_value(r, 0, 5), "10");
	dbm_result_free(r);
	/* A NULL parameter in arithmetic gives NULL, not 0 or "". */
	r = t_exec(h, "SELECT $1::int + 1", 1, (const char *[]){ NULL });
	cr_assert(dbm_isnull(r, 0, 0));
	dbm_result_free(r);
	/* Too few parameters is the server's error, not a crash. */
	dbm_result_free(t_exec_fails(h, "SELECT $1::int + $2::int", 1,
	    (const char *[]){ "1" }, DBM_E_SQL));
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * A million rows go through dbmd a chunk at a time: its memory does not
 * grow with the result.  The library keeps the whole result, which is the
 * test's memory, not dbmd's.
 */
Test(pg_sql, a_million_rows_stream_through_in_bounded_memory)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		*sql, want[32];
	long		 before, after;
	/* Under valgrind, fewer rows: the point is the shape, not the count. */
	int		 rows = t_slow() >= 20 ? 100000 : 1000000;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	before = proc_hwm_kib(d.pid);
	sql = t_strf("SELECT g, repeat('x', 50) FROM generate_series(1, %d) g", rows);
	r = t_exec(h, sql, 0, NULL);
	after = proc_hwm_kib(d.pid);
	cr_assert_eq(dbm_nrows(r), rows);
	cr_assert_eq(dbm_ncols(r), 2);
	cr_assert_str_eq(dbm_value(r, 0, 0), "1");
	snprintf(want, sizeof(want), "%d", rows);
	cr_assert_str_eq(dbm_value(r, rows - 1, 0), want);
	cr_assert_eq(dbm_length(r, rows - 1, 1), 50);
	cr_assert_eq(dbm_affected(r), rows);
	snprintf(want, sizeof(want), "SELECT %d", rows);
	cr_assert_str_eq(dbm_cmdtag(r), want);
	dbm_result_free(r);
	cr_log_info("dbmd's peak RSS: %ld KiB before, %ld KiB after %d rows", before, after,
	    rows);
	/* Sanitizers and valgrind have memory of their own: the bound is for a plain build. */
	if (t_slow() == 1) {
		cr_assert_gt(after, 0, "cannot read VmHWM of dbmd");
		cr_assert_lt(after, 64 * 1024, "dbmd's peak RSS reached %ld KiB for a result "
		    "of about %d MiB", after, rows * 60 / (1024 * 1024));
	}
	t_exec0(h, "SELECT 1", 0, NULL);
	free(sql);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * Roles: statement_timeout and read_only reach the server.
 */

Test(pg_session, statement_timeout_cancels_with_57014_for_its_role_only)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h, *ro;
	dbm_result	*r;
	int64_t		 t0, took;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.primary.statement_timeout=500ms", NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	ro = t_open(c, "production", "read_only");
	t0 = t_now_ms();
	r = exec_sqlstate(h, "SELECT pg_sleep(5)", 0, NULL, "57014");
	took = t_now_ms() - t0;
	dbm_result_free(r);
	cr_assert_geq(took, 400, "cancelled after %lldms, before statement_timeout",
	    (long long)took);
	cr_assert_lt(took, 3000 * t_slow(), "cancelled only after %lldms", (long long)took);
	v = t_value(h, "SHOW statement_timeout", 0, NULL);
	cr_assert_str_eq(v, "500ms");
	free(v);
	/* The other role keeps the default. */
	v = t_value(ro, "SHOW statement_timeout", 0, NULL);
	cr_assert_str_eq(v, "5min");
	free(v);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

Test(pg_session, a_read_only_role_makes_transactions_read_only)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	char		*v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, NULL);
	c = t_connect(&d);
	v = t_value(t_open(c, "production", "read_only"), "SHOW default_transaction_read_only",
	    0, NULL);
	cr_assert_str_eq(v, "on");
	free(v);
	v = t_value(t_open(c, "production", "primary"), "SHOW default_transaction_read_only",
	    0, NULL);
	cr_assert_str_eq(v, "off");
	free(v);
	v = t_value(t_open(c, "production", "primary"), "SHOW application_name", 0, NULL);
	cr_assert_str_eq(v, "dbmd");
	free(v);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/*
 * Session state: a transaction keeps its connection; so does a pinned handle.
 */

Test(pg_session, a_transaction_keeps_one_backend_and_its_set_local)
{
	struct t_dbmd	 d;
	dbm_conn	*c, *oc;
	dbm_handle	*h, *other;
	char		*pid1, *pid2, *opid, *v;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	c = t_connect(&d);
	oc = t_connect(&d);
	h = t_open(c, "production", "primary");
	other = t_open(oc, "production", "primary");
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	t_exec0(h, "SET LOCAL statement_timeout = '1234ms'", 0, NULL);
	pid1 = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	/* Another handle's statement in between must not get the transaction's connection. */
	opid = t_value(other, "SELECT pg_backend_pid()", 0, NULL);
	pid2 = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	cr_assert_str_eq(pid1, pid2, "one transaction ran on backends %s and %s", pid1, pid2);
	cr_assert_str_neq(opid, pid1, "another handle ran on the transaction's backend");
	v = t_value(h, "SHOW statement_timeout", 0, NULL);
	cr_assert_str_eq(v, "1234ms");
	free(v);
	cr_assert_eq(dbm_commit(h), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	/* SET LOCAL ended with the transaction, wherever the next statement runs. */
	v = t_value(h, "SHOW statement_timeout", 0, NULL);
	cr_assert_str_eq(v, "5min");
	free(v);
	free(pid1);
	free(pid2);
	free(opid);
	dbm_disconnect(c);
	dbm_disconnect(oc);
	pg_dbmd_stop(&d);
}

Test(pg_session, a_pinned_handle_keeps_its_backend_and_temp_table)
{
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;
	struct t_dbmd		 d;
	dbm_conn		*c, *oc;
	dbm_handle		*h, *other;
	char			*pid, *v;
	int			 i;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	c = t_connect(&d);
	oc = t_connect(&d);
	o.pinned = 1;
	h = dbm_open(c, "production", "primary", &o);
	cr_assert_not_null(h, "open pinned: %s", dbm_errmsg(c));
	other = t_open(oc, "production", "primary");
	pid = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
	t_exec0(h, "CREATE TEMP TABLE scratch (v text)", 0, NULL);
	for (i = 0; i < 5; i++) {
		/* Others' statements in between never take the pinned connection. */
		v = t_value(other, "SELECT pg_backend_pid()", 0, NULL);
		cr_assert_str_neq(v, pid, "another handle ran on the pinned backend");
		free(v);
		t_exec0(h, "INSERT INTO scratch VALUES ($1)", 1, (const char *[]){ "row" });
		v = t_value(h, "SELECT pg_backend_pid()", 0, NULL);
		cr_assert_str_eq(v, pid, "statement %d ran on backend %s, not %s", i, v, pid);
		free(v);
	}
	v = t_value(h, "SELECT count(*) FROM scratch", 0, NULL);
	cr_assert_str_eq(v, "5");
	free(v);
	dbm_result_free(t_exec_fails(other, "SELECT count(*) FROM scratch", 0, NULL,
	    DBM_E_SQL));
	free(pid);
	dbm_disconnect(c);
	dbm_disconnect(oc);
	pg_dbmd_stop(&d);
}

/*
 * URIs: several hosts, unreachable hosts, secrets, connect_timeout.
 */

Test(pg_uri, a_multi_host_uri_connects_through_the_host_that_answers)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	char		*uri, *v, *log;

	pg_db_new();
	uri = t_strf("postgresql://postgres@/%s?host=/nonexistent-dbmd-dir,%s&port=%s,%s",
	    pg.db, pg.host, pg.port, pg.port);
	pg_dbmd_start(&d, uri, NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	v = t_value(h, "SELECT current_database()", 0, NULL);
	cr_assert_str_eq(v, pg.db);
	free(v);
	cr_assert_eq(pq_dbmd_backends(pg.admin, pg.db), 1);
	cr_assert_eq(pool_num(c, h, "connect_failures"), 0, "trying the first host counted "
	    "as a failed connection");
	log = t_dbmd_log(&d);
	cr_assert_null(strstr(log, "cannot connect"), "dbmd's log: %s", log);
	free(log);
	free(uri);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
}

/* Asserts that no text dbmd shows holds the password. */
static void
assert_no_secret(const char *where, const char *text)
{
	cr_assert_null(strstr(text, "secret123"), "the password is in %s: %s", where, text);
}

Test(pg_uri, an_unreachable_host_fails_open_naming_the_host_but_never_the_password)
{
	static const char *const envs[] = { "production", "staging" };
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_result	*st;
	const dbm_result *pools;
	char		*u1, *u2, *s2, *log;
	int64_t		 t0;
	size_t		 i;
	int		 row, col;

	pg_require();
	/* The password in the user-info part, and as a query parameter. */
	u1 = t_strf("postgresql://postgres:secret123@/db?host=/nonexistent-dbmd-host&port=%s",
	    pg.port);
	u2 = t_strf("postgresql://postgres@/db?host=/nonexistent-dbmd-host&port=%s&"
	    "password=secret123", pg.port);
	s2 = t_strf("staging.uri=%s", u2);
	pg_dbmd_start(&d, u1, s2, NULL);
	c = t_connect(&d);
	for (i = 0; i < 2; i++) {
		t0 = t_now_ms();
		cr_assert_null(dbm_open(c, envs[i], "primary", NULL), "%s: open succeeded",
		    envs[i]);
		cr_assert_lt(t_now_ms() - t0, 5000 * t_slow());
		cr_assert_eq(dbm_errcode(c), DBM_E_BACKEND, "%s: %s (%s)", envs[i],
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
		cr_assert_not_null(strstr(dbm_errmsg(c), "/nonexistent-dbmd-host"),
		    "%s: the error does not name the host: %s", envs[i], dbm_errmsg(c));
		assert_no_secret("the error", dbm_errmsg(c));
		assert_no_secret("the error's detail", dbm_errdetail(c));
		assert_no_secret("the error's hint", dbm_errhint(c));
	}
	/* Nor does the status, whose last_error and target are shown to operators. */
	st = dbm_status(c);
	cr_assert_not_null(st);
	pools = dbm_result_next(st);
	cr_assert_not_null(pools);
	for (row = 0; row < dbm_nrows(pools); row++)
		for (col = 0; col < dbm_ncols(pools); col++)
			assert_no_secret(dbm_colname(pools, col), dbm_value(pools, row, col));
	dbm_result_free(st);
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
	log = t_dbmd_log(&d);
	cr_assert_not_null(strstr(log, "/nonexistent-dbmd-host"), "the failure is not logged: "
	    "%s", log);
	assert_no_secret("dbmd's log", log);
	free(log);
	free(s2);
	free(u2);
	free(u1);
}

/*
 * A server that accepts the connection and never answers: a Unix socket
 * that listens and never accepts.  libpq's connect succeeds (the kernel
 * queues it) and libpq waits for the server's reply, which never comes.
 */
Test(pg_uri, connect_timeout_bounds_a_server_that_never_answers)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct t_dbmd		 d;
	dbm_conn		*c;
	char			*dir, *uri;
	int64_t			 t0, took;
	int			 fd;

	pg_require();
	dir = t_path("mute");
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%s", dir, PRIV_PORT);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(fd != -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "bind %s: %s",
	    sun.sun_path, strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	uri = t_strf("postgresql://postgres@/db?host=%s&port=%s", dir, PRIV_PORT);
	pg_dbmd_start(&d, uri, "production.connect_timeout=300ms", NULL);
	c = t_connect(&d);
	t0 = t_now_ms();
	cr_assert_null(dbm_open(c, "production", "primary", NULL), "open succeeded");
	took = t_now_ms() - t0;
	cr_assert_eq(dbm_errcode(c), DBM_E_BACKEND, "%s (%s)", dbm_strerror(dbm_errcode(c)),
	    dbm_errmsg(c));
	cr_assert_not_null(strstr(dbm_errmsg(c), "timeout"), "the error does not say it timed "
	    "out: %s", dbm_errmsg(c));
	cr_assert_geq(took, 250, "gave up after %lldms, before connect_timeout (300ms)",
	    (long long)took);
	cr_assert_lt(took, 2000 * t_slow(), "gave up only after %lldms", (long long)took);
	/* The loop was free meanwhile, and still is. */
	cr_assert_eq(dbm_ping(c), DBM_OK);
	dbm_disconnect(c);
	close(fd);
	free(uri);
	free(dir);
	pg_dbmd_stop(&d);
}
