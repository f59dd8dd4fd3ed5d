/* test_faults_pg.c: PostgreSQL goes away, fills up, loses clients, loses dbmd: what everyone sees. */

/*
 * Faults on purpose (issue 12), against a real dbmd and a real PostgreSQL
 * server.  Each scenario asserts what its clients see (an answer, a result
 * or a clear error, within a bound) and what holds afterwards: dbmd runs
 * and serves, its pool counters and the server's pg_stat_activity agree
 * (no connection leaked), no session is left idle in a transaction, and
 * requests succeed again once the fault is over (tests/faults.h).
 *
 * The server is stopped four ways (pg_ctl -m immediate, -m fast, SIGKILL
 * of the postmaster, pg_terminate_backend of dbmd's sessions) in each of
 * eight situations, with one pool and with three (three roles of different
 * pool_size on the same server): a table of cases, one Criterion test each
 * (pg_stop/matrix).  The whole table is 64 cases; make check runs a cover
 * of it in which every situation meets every way of stopping, and
 * TEST_FAULTS_FULL=1 (make faults) runs all of it.  TEST_FAULTS_CASE=text
 * runs only the cases whose name holds text (the others skip).
 *
 * Tests that stop a server start one of their own (fpg_start); the others
 * use a database of their own on the shared server, as test_pg.c does.
 */

#include <sys/resource.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>

#include "faults.h"

static void
teardown(void)
{
	fpg_destroy();
	pg_teardown();
}

#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = teardown, .timeout = 120)

SUITE(pg_stop);
SUITE(pg_full);
SUITE(pg_client_kill);
SUITE(pg_dbmd_kill);
SUITE(pg_fd_limit);

/* The pools of the stop tests: roles of environment "fault", of different sizes. */
#define ENV		"fault"
#define NPOOLS_MAX	3
static const char *const roles[NPOOLS_MAX] = { "primary", "reporting", "batch" };
static const int sizes[NPOOLS_MAX] = { 2, 3, 4 };

/*
 * Writes the configuration: environment fault on uri, with the first
 * npools roles, each pool_size plus bump (a reload that changes them).
 */
static void
write_conf(const char *uri, int npools, int bump, const char *extra)
{
	FILE	*fp = fopen(t_h.conf, "w");
	int	 i;

	cr_assert_not_null(fp, "%s: %s", t_h.conf, strerror(errno));
	fprintf(fp,
	    "daemon:\n"
	    "  shutdown_timeout: 5s\n"
	    "environments:\n"
	    "  " ENV ":\n"
	    "    uri: \"%s\"\n"
	    "    connect_timeout: 2s\n"
	    "    acquire_timeout: 3s\n"
	    "%s"
	    "    roles:\n", uri, extra != NULL ? extra : "");
	for (i = 0; i < npools; i++)
		fprintf(fp, "      %s:\n        pool_size: %d\n", roles[i], sizes[i] + bump);
	fclose(fp);
}

/* Waits up to ms (scaled) for a count from the test's server to reach want; returns the last. */
static long long
fpg_wait_num(const char *sql, long long want, int ms)
{
	int64_t		 end = t_now_ms() + (int64_t)ms * t_slow();
	long long	 n;

	while ((n = fpg_num(sql)) != want && t_now_ms() < end)
		t_sleep_ms(20);
	return n;
}

/*
 * The table of stop cases.
 */

enum f_sit {
	S_IDLE,			/* the pool holds idle connections */
	S_STATEMENT,		/* a statement runs (pg_sleep) */
	S_STREAM,		/* a large result streams to a client that reads slowly */
	S_TXN,			/* a transaction holds a row */
	S_CONNECTING,		/* a new pool connects to a server that is not there */
	S_RELOAD,		/* SIGHUP with a changed configuration, during the fault */
	S_DISPOSE,		/* DISPOSE_POOL during the fault */
	S_SHUTDOWN,		/* SIGTERM to dbmd after the fault */
	S_MAX_
};

static const char *const sit_names[S_MAX_] = { "idle", "statement", "stream",
    "transaction", "connecting", "reload", "dispose", "shutdown" };

struct fcase {
	enum f_mode	 mode;
	enum f_sit	 sit;
	int		 npools;
};

#define STREAM_ROWS	300000
#define STREAM_SQL	"SELECT g, repeat('x', 40) FROM generate_series(1, 300000) g"
#define SLEEP_SQL	"SELECT pg_sleep(30)"
#define SLEEPING	"SELECT count(*) FROM pg_stat_activity WHERE application_name = " \
	"'dbmd' AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'"
#define WRITING		"SELECT count(*) FROM pg_stat_activity WHERE application_name = " \
	"'dbmd' AND wait_event = 'ClientWrite' AND query LIKE 'SELECT g, repeat%'"

/* One case's state. */
struct fstate {
	const struct fcase	*fc;
	char			 what[80];	/* "immediate/idle/3 pools", for messages */
	char			*uri;
	struct t_dbmd		 d;
	dbm_conn		*c;		/* the test's client */
	dbm_handle		*h[NPOOLS_MAX];	/* one handle on each pool */
	struct job		 jobs[NPOOLS_MAX];
};

/* Starts a statement that sleeps on each pool, and waits until the server runs them all. */
static void
sleep_on_each(struct fstate *s)
{
	int	 i;

	for (i = 0; i < s->fc->npools; i++)
		job_start(&s->jobs[i], &s->d, ENV, roles[i], NULL, SLEEP_SQL);
	cr_assert_eq(fpg_wait_num(SLEEPING, s->fc->npools, 10000), s->fc->npools,
	    "%s: the statements never all ran on the server", s->what);
}

/* Every sleeping statement was answered, each with a clear failure (or also DRAINING). */
static void
sleepers_answered(struct fstate *s, int draining_ok)
{
	int	 i;

	for (i = 0; i < s->fc->npools; i++) {
		if (draining_ok && job_wait(&s->jobs[i], F_ANSWER_MS) &&
		    s->jobs[i].code == DBM_E_DRAINING)
			continue;
		job_assert_failed_clearly(&s->jobs[i], F_ANSWER_MS, s->what);
	}
}

/* Waits until dbmd has noticed its connections are gone: none idle, active or opening. */
static void
wait_noticed(struct fstate *s)
{
	int64_t		 end = t_now_ms() + 10000LL * t_slow();
	struct f_pools	 p;

	for (;;) {
		p = f_pools(&s->d);
		if (p.idle + p.active + p.connecting + p.closing == 0)
			return;
		cr_assert_lt(t_now_ms(), end, "%s: dbmd still counts %lld idle, %lld active, "
		    "%lld connecting, %lld closing 10s after the server went", s->what, p.idle,
		    p.active, p.connecting, p.closing);
		t_sleep_ms(20);
	}
}

static void
case_idle(struct fstate *s)
{
	enum f_mode	 m = s->fc->mode;
	struct job	 j;
	int		 i;

	cr_assert_eq(fpg_wait_num(FPG_DBMD, s->fc->npools, 5000), s->fc->npools,
	    "%s: the premise: one idle connection per pool", s->what);
	f_inject(m);
	/* While the server is down, requests fail at once, and say why. */
	for (i = 0; i < s->fc->npools; i++) {
		job_start(&j, &s->d, ENV, roles[i], NULL, "SELECT 1");
		if (f_down(m))
			job_assert_failed_clearly(&j, F_ANSWER_MS, s->what);
		else {
			cr_assert(job_wait(&j, F_ANSWER_MS), "%s: no answer", s->what);
			cr_assert(j.code == DBM_OK || f_clear_failure(j.code, j.sqlstate,
			    j.msg), "%s: %s (%s)", s->what, dbm_strerror(j.code), j.msg);
		}
	}
	f_heal(m);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, s->h[i], ENV, roles[i], s->what);
}

static void
case_statement(struct fstate *s)
{
	int	 i;

	sleep_on_each(s);
	f_inject(s->fc->mode);
	sleepers_answered(s, 0);
	f_heal(s->fc->mode);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, s->h[i], ENV, roles[i], s->what);
}

static void
case_stream(struct fstate *s)
{
	struct f_raw	 w[NPOOLS_MAX];
	int		 i, r;

	for (i = 0; i < s->fc->npools; i++) {
		f_raw_exec(&w[i], &s->d, ENV, roles[i], STREAM_SQL);
		cr_assert_eq(f_raw_read(&w[i], 1000, 10000), 3, "%s: the first rows never came",
		    s->what);
	}
	/* The premise: the server waits for dbmd, which waits for the client. */
	cr_assert_eq(fpg_wait_num(WRITING, s->fc->npools, 10000), s->fc->npools,
	    "%s: the server never blocked writing the results", s->what);
	f_inject(s->fc->mode);
	for (i = 0; i < s->fc->npools; i++) {
		r = f_raw_read(&w[i], 0, F_ANSWER_MS);
		cr_assert_neq(r, -1, "%s: the slow reader got nothing for %dms after %ld rows",
		    s->what, F_ANSWER_MS * t_slow(), w[i].rows);
		cr_assert_neq(r, 0, "%s: dbmd closed the slow reader's connection after %ld "
		    "rows, without an error", s->what, w[i].rows);
		cr_assert_neq(r, 1, "%s: a result of %d rows completed with %ld rows", s->what,
		    STREAM_ROWS, w[i].rows);
		cr_assert(f_clear_failure(w[i].code, w[i].sqlstate, w[i].msg), "%s: the stream "
		    "ended with %s, SQLSTATE '%s': %s", s->what, dbm_strerror(w[i].code),
		    w[i].sqlstate, w[i].msg);
		cr_assert_lt(w[i].rows, STREAM_ROWS);
		f_raw_close(&w[i]);
	}
	f_heal(s->fc->mode);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, s->h[i], ENV, roles[i], s->what);
}

static void
case_txn(struct fstate *s)
{
	dbm_result	*r;
	char		 id[8], *sql;
	int		 i, n = s->fc->npools;

	fpg_exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
	fpg_exec("INSERT INTO t SELECT g, 'start' FROM generate_series(0, 2) g");
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", i);
		cr_assert_eq(dbm_begin(s->h[i]), DBM_OK, "BEGIN: %s", dbm_errmsg(s->c));
		r = t_exec(s->h[i], "UPDATE t SET v = 'txn' WHERE id = $1", 1,
		    (const char *[]){ id });
		cr_assert_eq(dbm_affected(r), 1);
		dbm_result_free(r);
	}
	cr_assert_eq(fpg_wait_num(FPG_IN_TXN, n, 5000), n, "%s: the premise: %d sessions "
	    "idle in a transaction", s->what, n);
	f_inject(s->fc->mode);
	f_heal(s->fc->mode);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", i);
		/* The transaction is gone: its next statement must not pretend otherwise. */
		r = dbm_exec(s->h[i], "UPDATE t SET v = 'after' WHERE id = $1", 1,
		    (const char *[]){ id });
		cr_assert_not_null(r, "%s: the connection to dbmd failed: %s", s->what,
		    dbm_errmsg(s->c));
		cr_assert_neq(dbm_result_status(r), DBM_OK, "%s: a statement of a transaction "
		    "the server lost succeeded (on another connection, outside any "
		    "transaction)", s->what);
		cr_assert(f_clear_failure(dbm_result_status(r), dbm_result_sqlstate(r),
		    dbm_result_errmsg(r)), "%s: the statement in the lost transaction ended with "
		    "%s, SQLSTATE '%s': %s", s->what, dbm_strerror(dbm_result_status(r)),
		    dbm_result_sqlstate(r), dbm_result_errmsg(r));
		dbm_result_free(r);
		cr_assert_neq(dbm_commit(s->h[i]), DBM_OK, "%s: COMMIT of a transaction the "
		    "server lost succeeded", s->what);
		(void)dbm_rollback(s->h[i]);
	}
	cr_assert_eq(fpg_num("SELECT count(*) FROM t WHERE v = 'start'"), 3, "%s: a lost "
	    "transaction's update is in the table", s->what);
	/* New transactions work, on every pool. */
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", i);
		cr_assert_eq(dbm_begin(s->h[i]), DBM_OK, "%s: BEGIN after the fault: %s",
		    s->what, dbm_errmsg(s->c));
		t_exec0(s->h[i], "UPDATE t SET v = 'new' WHERE id = $1", 1,
		    (const char *[]){ id });
		cr_assert_eq(dbm_commit(s->h[i]), DBM_OK, "%s: COMMIT after the fault: %s",
		    s->what, dbm_errmsg(s->c));
	}
	sql = t_strf("SELECT count(*) FROM t WHERE v = 'new'");
	cr_assert_eq(fpg_num(sql), n);
	free(sql);
}

/* Terminates every session dbmd opens, as fast as it can, until told to stop. */
struct terminator {
	pthread_t	 th;
	char		 conninfo[PATH_MAX + 128];
	atomic_int	 stop;
	atomic_llong	 killed;
};

static void *
terminator_main(void *arg)
{
	struct terminator	*t = arg;
	PGconn			*c = PQconnectdb(t->conninfo);
	PGresult		*r;

	while (PQstatus(c) == CONNECTION_OK && !atomic_load(&t->stop)) {
		r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
		    "WHERE application_name = 'dbmd'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			atomic_fetch_add(&t->killed, atoll(PQgetvalue(r, 0, 0)));
		PQclear(r);
		usleep(500);
	}
	PQfinish(c);
	return NULL;
}

static void
case_connecting(struct fstate *s)
{
	enum f_mode		 m = s->fc->mode;
	struct terminator	 t;
	struct job		 j[NPOOLS_MAX];
	int			 i;

	if (f_down(m)) {
		/* No pool exists yet: each is made and connects to a server that is gone. */
		f_inject(m);
		for (i = 0; i < s->fc->npools; i++)
			job_start(&j[i], &s->d, ENV, roles[i], NULL, "SELECT 1");
		for (i = 0; i < s->fc->npools; i++)
			job_assert_failed_clearly(&j[i], F_ANSWER_MS, s->what);
	} else {
		/* Every session dbmd opens is terminated as soon as the server shows it. */
		memset(&t, 0, sizeof(t));
		snprintf(t.conninfo, sizeof(t.conninfo), "host=%s port=%s user=postgres "
		    "dbname=postgres application_name=terminator", fpg.sock, F_PORT);
		cr_assert_eq(pthread_create(&t.th, NULL, terminator_main, &t), 0);
		for (i = 0; i < s->fc->npools; i++)
			job_start(&j[i], &s->d, ENV, roles[i], NULL, "SELECT 1");
		for (i = 0; i < s->fc->npools; i++) {
			cr_assert(job_wait(&j[i], F_ANSWER_MS), "%s: no answer", s->what);
			cr_assert(j[i].code == DBM_OK || f_clear_failure(j[i].code,
			    j[i].sqlstate, j[i].msg), "%s: %s (%s)", s->what,
			    dbm_strerror(j[i].code), j[i].msg);
		}
		atomic_store(&t.stop, 1);
		pthread_join(t.th, NULL);
		cr_log_info("%s: %lld sessions terminated", s->what, (long long)t.killed);
	}
	f_heal(m);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, NULL, ENV, roles[i], s->what);
}

static void
case_reload(struct fstate *s)
{
	int64_t		 end;
	int		 i, n = s->fc->npools;

	sleep_on_each(s);
	f_inject(s->fc->mode);
	write_conf(s->uri, n, 1, NULL);
	kill(s->d.pid, SIGHUP);
	cr_assert(t_dbmd_logged(&s->d, "configuration reloaded", NULL), "%s: the reload "
	    "was not done", s->what);
	sleepers_answered(s, 0);
	f_heal(s->fc->mode);
	/* The old pools drain: they still serve their handles; new opens get new pools. */
	for (i = 0; i < n; i++) {
		f_assert_recovers(&s->d, s->h[i], ENV, roles[i], s->what);
		f_assert_recovers(&s->d, NULL, ENV, roles[i], s->what);
	}
	for (i = 0; i < n; i++) {
		(void)dbm_dispose(s->h[i]);
		s->h[i] = NULL;
	}
	/* With their last handles the drained pools go. */
	end = t_now_ms() + 10000LL * t_slow();
	while (f_pools(&s->d).pools != n && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(f_pools(&s->d).pools, n, "%s: the drained pools are still there",
	    s->what);
}

static void
case_dispose(struct fstate *s)
{
	dbm_result	*r;
	char		*target;
	int64_t		 end;
	int		 i, n = s->fc->npools;

	sleep_on_each(s);
	f_inject(s->fc->mode);
	for (i = 0; i < n; i++) {
		target = t_strf("%s/%s", ENV, roles[i]);
		r = dbm_dispose_pool(s->c, target);
		cr_assert_not_null(r, "%s: DISPOSE_POOL %s: %s", s->what, target,
		    dbm_errmsg(s->c));
		cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: DISPOSE_POOL %s: %s", s->what,
		    target, dbm_result_errmsg(r));
		dbm_result_free(r);
		free(target);
	}
	sleepers_answered(s, 1);
	for (i = 0; i < n; i++) {
		(void)dbm_dispose(s->h[i]);
		s->h[i] = NULL;
	}
	f_heal(s->fc->mode);
	/* The disposed pools go; new opens make new ones, which serve. */
	end = t_now_ms() + 10000LL * t_slow();
	while (f_pools(&s->d).pools != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(f_pools(&s->d).pools, 0, "%s: disposed pools are still there", s->what);
	for (i = 0; i < n; i++)
		f_assert_recovers(&s->d, NULL, ENV, roles[i], s->what);
}

static void
case_shutdown(struct fstate *s)
{
	int	 i;

	sleep_on_each(s);
	f_inject(s->fc->mode);
	sleepers_answered(s, 0);
	wait_noticed(s);
	dbm_disconnect(s->c);
	s->c = NULL;
	f_dbmd_stop_clean(&s->d, s->what);
	/* dbmd left nothing behind on the server. */
	if (!f_down(s->fc->mode))
		cr_assert_eq(fpg_wait_num(FPG_DBMD, 0, 5000), 0, "%s: dbmd's sessions outlived "
		    "it", s->what);
	f_heal(s->fc->mode);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 0, 5000), 0);
	/* Started again, it serves. */
	t_dbmd_start(&s->d, NULL);
	s->c = t_connect(&s->d);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, NULL, ENV, roles[i], s->what);
}

static void (*const sit_run[S_MAX_])(struct fstate *) = { case_idle, case_statement,
    case_stream, case_txn, case_connecting, case_reload, case_dispose, case_shutdown };

/*
 * The cases make check runs: every situation with every way of stopping,
 * half of them with three pools (alternating, so that each situation and
 * each way meets three pools), and the shutdown cases both ways.
 */
static int
in_cover(const struct fcase *fc)
{
	if (fc->sit == S_SHUTDOWN)
		return 1;
	return ((int)fc->mode + (int)fc->sit) % 2 == (fc->npools == 3);
}

ParameterizedTestParameters(pg_stop, matrix)
{
	static struct fcase cases[F_MODE_MAX_ * S_MAX_ * 2];
	const char	*full = getenv("TEST_FAULTS_FULL");
	struct fcase	 fc;
	size_t		 n = 0;
	int		 m, st, np;

	for (st = 0; st < S_MAX_; st++)
		for (m = 0; m < F_MODE_MAX_; m++)
			for (np = 1; np <= 3; np += 2) {
				fc = (struct fcase){ (enum f_mode)m, (enum f_sit)st, np };
				if ((full != NULL && strcmp(full, "1") == 0) || in_cover(&fc))
					cases[n++] = fc;
			}
	return cr_make_param_array(struct fcase, cases, n);
}

ParameterizedTest(struct fcase *fc, pg_stop, matrix)
{
	const char	*only = getenv("TEST_FAULTS_CASE");
	struct fstate	 s;
	int		 i;

	memset(&s, 0, sizeof(s));
	s.fc = fc;
	snprintf(s.what, sizeof(s.what), "%s/%s/%d pool%s", f_mode_names[fc->mode],
	    sit_names[fc->sit], fc->npools, fc->npools == 1 ? "" : "s");
	if (only != NULL && *only != '\0' && strstr(s.what, only) == NULL)
		cr_skip_test("TEST_FAULTS_CASE=%s", only);
	cr_log_info("case %s", s.what);
	fpg_start();
	s.uri = fpg_uri("");
	write_conf(s.uri, fc->npools, 0, NULL);
	t_dbmd_start(&s.d, NULL);
	s.c = t_connect(&s.d);
	if (fc->sit != S_CONNECTING)
		for (i = 0; i < fc->npools; i++) {
			s.h[i] = t_open(s.c, ENV, roles[i]);
			t_exec0(s.h[i], "SELECT 1", 0, NULL);
		}

	sit_run[fc->sit](&s);

	/* Afterwards: alive, serving, nothing leaked, and a clean stop. */
	f_assert_serving(&s.d, s.what);
	f_assert_no_leak(&s.d, 0, s.what);
	for (i = 0; i < NPOOLS_MAX; i++)
		if (s.jobs[i].sock[0] != '\0')
			cr_assert(job_wait(&s.jobs[i], F_ANSWER_MS), "%s: a client hangs", s.what);
	dbm_disconnect(s.c);
	f_assert_no_leak(&s.d, 1, s.what);
	f_dbmd_stop_clean(&s.d, s.what);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 0, 5000), 0, "%s: dbmd's sessions outlived it",
	    s.what);
	free(s.uri);
}

/*
 * The crash of issue 12, as reported: two pools on a server stopped with
 * -m immediate, then SIGTERM.  dbmd must exit 0, not die in
 * factory_pool_gone.
 */
Test(pg_stop, sigterm_after_an_immediate_stop_with_two_pools_exits_0)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*p, *r;
	FILE		*fp;
	char		*uri;
	int64_t		 end;
	struct f_pools	 s;

	fpg_start();
	uri = fpg_uri("");
	fp = fopen(t_h.conf, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "environments:\n  production:\n    uri: \"%s\"\n    roles:\n"
	    "      primary: { pool_size: 2 }\n      reporting: { pool_size: 3 }\n", uri);
	fclose(fp);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	p = t_open(c, "production", "primary");
	r = t_open(c, "production", "reporting");
	cr_assert_neq(dbm_handle_pool_hash(p), dbm_handle_pool_hash(r), "one pool, not two");
	t_exec0(p, "SELECT 1", 0, NULL);
	t_exec0(r, "SELECT 1", 0, NULL);
	dbm_disconnect(c);
	f_inject(F_IMMEDIATE);
	/* dbmd notices the connections go (they are idle: their sockets close). */
	end = t_now_ms() + 10000LL * t_slow();
	do {
		s = f_pools(&d);
		if (s.idle + s.closing == 0)
			break;
		t_sleep_ms(20);
	} while (t_now_ms() < end);
	cr_assert_eq(s.idle + s.closing, 0, "dbmd did not notice the server went");
	cr_assert_eq(s.pools, 2);
	f_dbmd_stop_clean(&d, "SIGTERM after pg_ctl -m immediate stop with two pools");
	free(uri);
}
