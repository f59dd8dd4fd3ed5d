/* test_faults_pg.c: PostgreSQL goes away or fills up, clients or dbmd die: what all see. */

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
 * nine situations, with one pool and with three (three roles of different
 * pool_size on the same server): a table of cases, one Criterion test each
 * (pg_stop/every_client_is_answered_nothing_leaks_and_service_resumes).
 * The whole table is 72 cases; make check runs a cover of it in which
 * every situation meets every way of stopping (in_cover), and
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

/* Every case takes seconds: a minute means something hangs. */
#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = teardown, .timeout = 60)

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
	S_IN_SHUTDOWN,		/* the fault while dbmd shuts down, waiting for statements */
	S_MAX_
};

static const char *const sit_names[S_MAX_] = { "idle", "statement", "stream",
    "transaction", "connecting", "reload", "dispose", "shutdown", "in-shutdown" };

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
	char		 id[16], *sql;
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

/* Runs dbmctl of the build on d's socket with one command and its argument. */
static struct t_run
dbmctl_run(const struct t_dbmd *d, const char *cmd, const char *arg)
{
	const char	*dir = getenv("TEST_BUILDDIR");
	char		*bin, *argv[6], *envp[] = { T_PATH, NULL };
	struct t_run	 r;

	cr_assert_not_null(dir, "TEST_BUILDDIR names the build (make check sets it)");
	bin = t_strf("%s/dbmctl", dir);
	argv[0] = bin;
	argv[1] = "-s";
	argv[2] = (char *)d->sock;
	argv[3] = (char *)cmd;
	argv[4] = (char *)arg;
	argv[5] = NULL;
	r = t_run(argv, envp, 10000);
	free(bin);
	return r;
}

static void
case_dispose(struct fstate *s)
{
	struct t_run	 ctl;
	dbm_result	*r;
	char		*target;
	int64_t		 end, t0;
	int		 i, n = s->fc->npools;

	sleep_on_each(s);
	/* The test's own handles are in a transaction, on connections of their own. */
	for (i = 0; i < n; i++) {
		cr_assert_eq(dbm_begin(s->h[i]), DBM_OK, "BEGIN: %s", dbm_errmsg(s->c));
		t_exec0(s->h[i], "SELECT 1", 0, NULL);
	}
	f_inject(s->fc->mode);
	/* The first pool as an operator disposes it, with dbmctl; the others by library. */
	for (i = 0; i < n; i++) {
		target = t_strf("%s/%s", ENV, roles[i]);
		if (i == 0) {
			ctl = dbmctl_run(&s->d, "dispose", target);
			cr_assert_eq(ctl.status, 0, "%s: dbmctl dispose %s: exit status %d: %s%s",
			    s->what, target, ctl.status, ctl.out, ctl.err);
			t_run_free(&ctl);
			free(target);
			continue;
		}
		r = dbm_dispose_pool(s->c, target);
		cr_assert_not_null(r, "%s: DISPOSE_POOL %s: %s", s->what, target,
		    dbm_errmsg(s->c));
		cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: DISPOSE_POOL %s: %s", s->what,
		    target, dbm_result_errmsg(r));
		dbm_result_free(r);
		free(target);
	}
	sleepers_answered(s, 1);
	/* Handles disposed during the fault, their transactions with them. */
	for (i = 0; i < n; i++) {
		t0 = t_now_ms();
		(void)dbm_dispose(s->h[i]);
		s->h[i] = NULL;
		cr_assert(dbm_connected(s->c), "%s: disposing a handle broke the connection: %s",
		    s->what, dbm_errmsg(s->c));
		cr_assert_lt(t_now_ms() - t0, F_ANSWER_MS * t_slow());
	}
	f_assert_serving(&s->d, s->what);
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

/*
 * The fault comes while dbmd shuts down: SIGTERM finds statements running,
 * dbmd waits for them (shutdown_timeout 5s), and the server goes away under
 * them.  Their clients are told, and dbmd exits 0, well before
 * shutdown_timeout would have ended the wait.
 */
static void
case_in_shutdown(struct fstate *s)
{
	int64_t	 t0;
	char	*log;
	int	 i, st;

	sleep_on_each(s);
	dbm_disconnect(s->c);
	s->c = NULL;
	for (i = 0; i < s->fc->npools; i++)
		s->h[i] = NULL;
	kill(s->d.pid, SIGTERM);
	cr_assert(t_dbmd_logged(&s->d, "shutting down", NULL), "%s: no shutdown", s->what);
	cr_assert(f_running(s->d.pid), "%s: dbmd did not wait for its statements", s->what);
	t0 = t_now_ms();
	f_inject(s->fc->mode);
	for (i = 0; i < s->fc->npools; i++) {
		cr_assert(job_wait(&s->jobs[i], F_ANSWER_MS), "%s: a client was not answered",
		    s->what);
		cr_assert(f_clear_failure(s->jobs[i].code, s->jobs[i].sqlstate, s->jobs[i].msg) ||
		    s->jobs[i].code == DBM_E_SHUTDOWN || s->jobs[i].code == DBM_E_CONNECTION,
		    "%s: the client in %s got %s: %s", s->what, s->jobs[i].sql,
		    dbm_strerror(s->jobs[i].code), s->jobs[i].msg);
	}
	if (!t_wait_pid(s->d.pid, 10000 * t_slow(), &st)) {
		log = f_log_tail(&s->d, 4000);
		cr_assert_fail("%s: dbmd did not exit within 10s of the fault; its log:\n%s",
		    s->what, log);
	}
	s->d.pid = 0;
	s->d.status = st;
	log = f_log_tail(&s->d, 6000);
	cr_assert_eq(t_exit_code(st), 0, "%s: dbmd exited with status %d%s; its log:\n%s",
	    s->what, t_exit_code(st), t_exit_code(st) == 128 + SIGSEGV ? " (SIGSEGV)" : "",
	    log);
	free(log);
	cr_log_info("%s: dbmd exited %lldms after the fault", s->what,
	    (long long)(t_now_ms() - t0));
	f_heal(s->fc->mode);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 0, 5000), 0, "%s: dbmd's sessions outlived it",
	    s->what);
	t_dbmd_start(&s->d, NULL);
	s->c = t_connect(&s->d);
	for (i = 0; i < s->fc->npools; i++)
		f_assert_recovers(&s->d, NULL, ENV, roles[i], s->what);
}

static void (*const sit_run[S_MAX_])(struct fstate *) = { case_idle, case_statement,
    case_stream, case_txn, case_connecting, case_reload, case_dispose, case_shutdown,
    case_in_shutdown };

/*
 * The cases make check runs: every situation with every way of stopping,
 * half of them with three pools (alternating, so that each situation and
 * each way meets three pools), and the shutdown cases both ways.  Under
 * valgrind (make valgrind), where each case takes many times as long,
 * every situation once, the ways and the pools taking turns.
 */
static int
in_cover(const struct fcase *fc)
{
	if (t_slow() >= 20)
		return (int)fc->mode == (int)fc->sit % F_MODE_MAX_ &&
		    fc->npools == ((int)fc->sit % 2 == 0 ? 1 : 3);
	if (fc->sit == S_SHUTDOWN || fc->sit == S_IN_SHUTDOWN)
		return 1;
	return ((int)fc->mode + (int)fc->sit) % 2 == (fc->npools == 3);
}

#define MATRIX	every_client_is_answered_nothing_leaks_and_service_resumes

ParameterizedTestParameters(pg_stop, MATRIX)
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

ParameterizedTest(struct fcase *fc, pg_stop, MATRIX)
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

/*
 * A pool that keeps connections warm (min_idle) while the server is down
 * tries again with backoff, not in a loop, and warms up again on its own
 * once the server is back.
 */
Test(pg_stop, a_warm_pool_backs_off_while_the_server_is_down_and_warms_again)
{
	struct t_dbmd	 d;
	struct f_pools	 p0, p1;
	struct job	 j;
	dbm_conn	*c;
	char		*uri;
	int64_t		 end;

	fpg_start();
	uri = fpg_uri("");
	write_conf(uri, 1, 1, "    min_idle: 2\n");
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	t_exec0(t_open(c, ENV, "primary"), "SELECT 1", 0, NULL);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 2, 5000), 2, "the premise: min_idle 2 warms two");

	f_inject(F_IMMEDIATE);
	p0 = p1 = f_pools(&d);
	/* Three seconds of a server that is not there: a few attempts, not hundreds. */
	end = t_now_ms() + 3000;
	while (t_now_ms() < end) {
		p1 = f_pools(&d);
		cr_assert_leq(p1.connect_failures - p0.connect_failures, 10, "the pool tried %lld "
		    "times in %lldms to reach a server that is down", p1.connect_failures -
		    p0.connect_failures, (long long)(3000 - (end - t_now_ms())));
		t_sleep_ms(100);
	}
	cr_assert_geq(p1.connect_failures - p0.connect_failures, 1, "the pool did not try to "
	    "warm up again while the server was down");
	job_start(&j, &d, ENV, "primary", NULL, "SELECT 1");
	job_assert_failed_clearly(&j, F_ANSWER_MS, "a request while the server is down");

	f_heal(F_IMMEDIATE);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 2, F_RECOVER_MS), 2, "the pool did not warm up "
	    "again within %dms of the server's return", F_RECOVER_MS);
	f_assert_recovers(&d, NULL, ENV, "primary", "after the server came back");
	f_assert_no_leak(&d, 0, "a warm pool after the server came back");
	dbm_disconnect(c);
	f_dbmd_stop_clean(&d, "a warm pool after the server came back");
	free(uri);
}

/*
 * The server at its connection limit: a login role with CONNECTION LIMIT,
 * all of whose connections others hold, makes every connect of dbmd's fail
 * with SQLSTATE 53300 ("too many connections for role"), reliably and
 * without touching max_connections, which the server shares with the test.
 */

/* A connection as the role lim, or NULL with the server's reason in why. */
static PGconn *
lim_conn(char *why, size_t size)
{
	char	*ci = t_strf("host=%s port=%s user=lim dbname=postgres application_name=hog",
	    fpg.sock, F_PORT);
	PGconn	*c = PQconnectdb(ci);

	free(ci);
	if (PQstatus(c) == CONNECTION_OK)
		return c;
	snprintf(why, size, "%s", PQerrorMessage(c));
	PQfinish(c);
	return NULL;
}

Test(pg_full, connects_refused_at_the_limit_fail_clearly_and_the_pool_recovers)
{
	struct t_dbmd	 d;
	struct job	 a, b, fresh, two[2];
	PGconn		*hog[2], *check;
	FILE		*fp;
	char		*uri, why[512];
	int64_t		 t0;
	int		 i;

	fpg_start();
	fpg_exec("CREATE ROLE lim LOGIN CONNECTION LIMIT 3");
	uri = t_strf("postgresql://lim@/postgres?host=%s&port=%s", fpg.sock, F_PORT);
	fp = fopen(t_h.conf, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "environments:\n  " ENV ":\n    uri: \"%s\"\n    pool_size: 4\n"
	    "    acquire_timeout: 1s\n    connect_timeout: 2s\n    roles:\n"
	    "      primary: {}\n      reporting: { pool_size: 3 }\n", uri);
	fclose(fp);
	t_dbmd_start(&d, NULL);

	/* dbmd has one connection, busy; the others the role may have are taken. */
	job_start(&a, &d, ENV, "primary", NULL, "SELECT pg_sleep(3)");
	check = fpg_conn();
	cr_assert_neq(pq_wait_active(check, "postgres", "SELECT pg_sleep(3)%", 5000), 0,
	    "the long statement never ran (%s)", a.msg);
	PQfinish(check);
	for (i = 0; i < 2; i++) {
		hog[i] = lim_conn(why, sizeof(why));
		cr_assert_not_null(hog[i], "the role's connection %d: %s", i + 2, why);
	}
	/* The premise: one more connection as lim is refused, 53300. */
	cr_assert_null(lim_conn(why, sizeof(why)), "the role's CONNECTION LIMIT 3 let a fourth "
	    "connection in");
	cr_assert_not_null(strstr(why, "too many connections for role"), "%s", why);

	/* A request that needs a second connection waits for one, then fails, saying why. */
	t0 = t_now_ms();
	job_start(&b, &d, ENV, "primary", NULL, "SELECT 1");
	cr_assert(job_wait(&b, F_ANSWER_MS), "the request at the limit was not answered");
	cr_assert_eq(b.code, DBM_E_TIMEOUT, "the request at the limit ended with %s: %s",
	    b.code >= 0 ? dbm_strerror(b.code) : "nothing", b.msg);
	cr_assert_geq(t_now_ms() - t0, 800, "it did not wait for acquire_timeout (1s)");
	cr_assert_not_null(strstr(b.msg, "too many connections"), "the timeout does not say "
	    "why no connection could be made: %s", b.msg);
	cr_assert_str_eq(b.sqlstate, "53300", "the timeout's SQLSTATE: %s", b.msg);
	/* A pool with no connection at all fails its request at once. */
	job_start(&fresh, &d, ENV, "reporting", NULL, "SELECT 1");
	cr_assert(job_wait(&fresh, F_ANSWER_MS), "the request on a new pool was not answered");
	cr_assert_eq(fresh.code, DBM_E_BACKEND, "the request on a new pool ended with %s: %s",
	    fresh.code >= 0 ? dbm_strerror(fresh.code) : "nothing", fresh.msg);
	cr_assert_not_null(strstr(fresh.msg, "too many connections"), "%s", fresh.msg);
	cr_assert_str_eq(fresh.sqlstate, "53300", "the refused connect's SQLSTATE: %s",
	    fresh.msg);
	/* The statement that had its connection was not disturbed. */
	cr_assert(job_wait(&a, 5000), "the long statement never ended");
	cr_assert_eq(a.code, DBM_OK, "the long statement failed: %s", a.msg);
	cr_assert(t_dbmd_logged(&d, "too many connections for role", NULL),
	    "the refused connects are not in dbmd's log");
	cr_assert_geq(f_pools(&d).connect_failures, 2);

	/* The slots free up: both pools serve, and grow. */
	for (i = 0; i < 2; i++)
		PQfinish(hog[i]);
	f_assert_recovers(&d, NULL, ENV, "primary", "after the role's slots freed up");
	f_assert_recovers(&d, NULL, ENV, "reporting", "after the role's slots freed up");
	for (i = 0; i < 2; i++)
		job_start(&two[i], &d, ENV, "primary", NULL, "SELECT pg_sleep(0.3)");
	for (i = 0; i < 2; i++) {
		cr_assert(job_wait(&two[i], F_ANSWER_MS), "no answer");
		cr_assert_eq(two[i].code, DBM_OK, "after the slots freed up: %s", two[i].msg);
	}
	f_assert_serving(&d, "at the connection limit");
	f_assert_no_leak(&d, 1, "at the connection limit");
	f_dbmd_stop_clean(&d, "at the connection limit");
	free(uri);
}

/*
 * Clients killed with SIGKILL: dbmd sees their sockets close, and nothing
 * of theirs stays behind: no handle, no statement on the server, no lock,
 * no transaction, no connection it does not count.  On the shared server,
 * in a database of the test's own.
 */

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

/* A statement that reads only and takes a second or two: its result is cacheable. */
#define FILL_SQL	"SELECT count(*) FROM generate_series(1, 5000000) g"
#define FILL_LIKE	"SELECT count(*) FROM generate_series(1, 5000000)%"
/* One that outlasts the janitor's round (a second) by far. */
#define LONG_FILL_SQL	"SELECT count(*) FROM generate_series(1, 20000000) g"
#define LONG_FILL_LIKE	"SELECT count(*) FROM generate_series(1, 20000000)%"

enum kill_at {
	K_OPEN,			/* after OPEN */
	K_STATEMENT,		/* while its statement runs */
	K_STREAM,		/* while its result streams and its socket buffer is full */
	K_LOCKS,		/* inside a transaction holding a row lock */
	K_WAITING,		/* while its statement waits for a connection */
	K_FILLING,		/* while its statement fills the cache for others */
	K_PARKED,		/* while its statement waits for another's cache fill */
};

/*
 * Forks a client of d on production/primary that gets as far as at says,
 * tells the test, and waits to be killed.  Returns its pid once it is there.
 */
static pid_t
client_until(const struct t_dbmd *d, enum kill_at at)
{
	pid_t	 child;
	int	 p[2];

	cr_assert_eq(pipe(p), 0);
	if ((child = t_fork()) == 0) {
		dbm_conn	*c = dbm_connect(d->sock);
		dbm_handle	*h = dbm_open(c, "production", "primary", NULL);
		dbm_result	*r;
		struct f_raw	 w;

		if (h == NULL)
			_exit(1);
		switch (at) {
		case K_OPEN:
			(void)!write(p[1], "x", 1);
			break;
		case K_STATEMENT:
			(void)!write(p[1], "x", 1);
			dbm_result_free(dbm_exec(h, "SELECT pg_sleep(30)", 0, NULL));
			break;
		case K_STREAM:
			/* Asks for megabytes and reads none of them. */
			f_raw_exec(&w, d, "production", "primary", STREAM_SQL);
			(void)!write(p[1], "x", 1);
			break;
		case K_LOCKS:
			if (dbm_begin(h) != DBM_OK)
				_exit(2);
			r = dbm_exec(h, "UPDATE acct SET v = 'child' WHERE id = 1", 0, NULL);
			if (r == NULL || dbm_result_status(r) != DBM_OK || dbm_affected(r) != 1)
				_exit(3);
			(void)!write(p[1], "x", 1);
			break;
		case K_WAITING:
			(void)!write(p[1], "x", 1);
			dbm_result_free(dbm_exec(h, "SELECT 'waited'", 0, NULL));
			break;
		case K_FILLING:
		case K_PARKED:
			(void)!write(p[1], "x", 1);
			dbm_result_free(dbm_exec_opts(h, FILL_SQL, 0, NULL,
			    &(struct dbm_exec_opts){ .size = sizeof(struct dbm_exec_opts),
			    .cache_max_age_ms = 60000 }));
			break;
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	cr_assert(pipe_wait(p[0], 10000), "the client did not get so far");
	close(p[0]);
	return child;
}

/* Starts dbmd on the test's database with a pool of size. */
static void
kill_setup_size(struct t_dbmd *d, const char *size)
{
	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE acct (id int PRIMARY KEY, v text)", 0, NULL);
	pq_exec0(pg.check, "INSERT INTO acct VALUES (1, 'start')", 0, NULL);
	pg_dbmd_start(d, NULL, size, "production.acquire_timeout=10s", NULL);
}

static void
kill_setup(struct t_dbmd *d)
{
	kill_setup_size(d, "production.pool_size=4");
}

/* After a client's death: alive, no client, no handle, nothing leaked, serving. */
static void
kill_after(struct t_dbmd *d, const char *what)
{
	int64_t		 end = t_now_ms() + 10000LL * t_slow();
	long long	 n;

	while ((n = f_clients(d)) != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(n, 0, "%s: dbmd still counts %lld clients 10s after they died", what, n);
	f_assert_serving(d, what);
	f_assert_no_leak(d, 1, what);
	f_assert_recovers(d, NULL, "production", "primary", what);
	f_assert_no_leak(d, 1, what);
	pg_dbmd_stop(d);
}

Test(pg_client_kill, killed_after_open_leaves_no_handle)
{
	struct t_dbmd	 d;
	pid_t		 child;

	kill_setup(&d);
	child = client_until(&d, K_OPEN);
	cr_assert_eq(f_pools(&d).handles, 1, "the premise: the client's handle");
	t_kill_pid(child);
	kill_after(&d, "a client killed after OPEN");
}

Test(pg_client_kill, killed_mid_statement_has_it_stopped)
{
	struct t_dbmd	 d;
	pid_t		 child;
	int64_t		 end;
	long long	 running;

	kill_setup(&d);
	child = client_until(&d, K_STATEMENT);
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the client's statement never ran");
	t_kill_pid(child);
	end = t_now_ms() + 5000LL * t_slow();
	while ((running = pq_count_active(pg.admin, pg.db, "SELECT pg_sleep(30)%")) != 0 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(running, 0, "the server still runs a killed client's statement after 5s");
	kill_after(&d, "a client killed mid-statement");
}

Test(pg_client_kill, killed_mid_stream_with_its_socket_buffer_full_has_it_stopped)
{
	struct t_dbmd	 d;
	pid_t		 child;
	int64_t		 end;
	long long	 n = -1;
	const char	*stuck = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
	    "wait_event = 'ClientWrite' AND query LIKE 'SELECT g, repeat%'";
	const char	*running = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
	    "AND state = 'active' AND query LIKE 'SELECT g, repeat%'";

	kill_setup(&d);
	child = client_until(&d, K_STREAM);
	/* The premise: the client's buffer, dbmd's and the server's are full. */
	end = t_now_ms() + 10000LL * t_slow();
	while ((n = pq_num(pg.admin, stuck, 1, (const char *[]){ pg.db })) != 1 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(n, 1, "the server never blocked writing the client's result");
	t_kill_pid(child);
	end = t_now_ms() + 5000LL * t_slow();
	while ((n = pq_num(pg.admin, running, 1, (const char *[]){ pg.db })) != 0 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(n, 0, "the server still runs the statement of a client killed while its "
	    "result streamed, 5s later");
	kill_after(&d, "a client killed mid-stream");
}

Test(pg_client_kill, killed_holding_a_row_lock_lets_another_client_have_it)
{
	struct t_dbmd	 d;
	struct job	 other;
	pid_t		 child;
	int64_t		 t0;
	char		*v;

	kill_setup(&d);
	child = client_until(&d, K_LOCKS);
	/* Another client wants the row, and waits for the lock. */
	job_start(&other, &d, "production", "primary", NULL,
	    "UPDATE acct SET v = 'other' WHERE id = 1");
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "UPDATE acct SET v = 'other'%", 5000), 0,
	    "the other client's update never ran");
	cr_assert_eq(pq_num(pg.admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
	    "AND wait_event_type = 'Lock'", 1, (const char *[]){ pg.db }), 1,
	    "the premise: the other client waits for the killed client's lock");
	cr_assert(!atomic_load(&other.done), "the other client did not wait: %s", other.msg);
	t0 = t_now_ms();
	t_kill_pid(child);
	cr_assert(job_wait(&other, 5000), "the other client did not get the lock within 5s of "
	    "the holder's death");
	cr_assert_eq(other.code, DBM_OK, "the other client's update: %s", other.msg);
	cr_log_info("the lock passed %lldms after the kill", (long long)(t_now_ms() - t0));
	v = pq_str(pg.check, "SELECT v FROM acct WHERE id = 1", 0, NULL);
	cr_assert_str_eq(v, "other", "the killed client's update survived, or the other's is "
	    "lost");
	free(v);
	kill_after(&d, "a client killed holding a row lock");
}

/* The request of a client killed while it waits leaves the queue, and takes nothing. */
Test(pg_client_kill, killed_while_waiting_for_a_connection_leaves_the_queue)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	pid_t		 child;
	int64_t		 end;
	long long	 waiting = -1;
	char		*v;

	kill_setup_size(&d, "production.pool_size=1");
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	t_exec0(h, "SELECT 1", 0, NULL);
	child = client_until(&d, K_WAITING);
	end = t_now_ms() + 5000LL * t_slow();
	while ((waiting = f_pools(&d).waiting) != 1 && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert_eq(waiting, 1, "the premise: the client's statement waits for the "
	    "connection");
	t_kill_pid(child);
	end = t_now_ms() + 5000LL * t_slow();
	while ((waiting = f_pools(&d).waiting) != 0 && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert_eq(waiting, 0, "a killed client's request still waits for a connection");
	cr_assert_eq(dbm_commit(h), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	v = t_value(h, "SELECT 'mine'", 0, NULL);
	cr_assert_str_eq(v, "mine");
	free(v);
	dbm_disconnect(c);
	kill_after(&d, "a client killed while it waited for a connection");
}

/*
 * The client whose statement fills the cache is killed while others wait
 * for that fill: the statement is cancelled, and the others are not left
 * waiting for a fill that will never come: they run it themselves and get
 * their result.
 */
Test(pg_client_kill, killed_while_filling_the_cache_lets_the_waiters_run_it)
{
	struct t_dbmd	 d;
	struct job	 w[2];
	pid_t		 child;
	int64_t		 t0;
	int		 i;

	kill_setup(&d);
	child = client_until(&d, K_FILLING);
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, FILL_LIKE, 5000), 0,
	    "the filling statement never ran");
	for (i = 0; i < 2; i++)
		job_start_cached(&w[i], &d, "production", "primary", NULL, FILL_SQL, 60000);
	f_wait_busy(&d, 3, 5000);
	cr_assert_eq(pq_count_active(pg.admin, pg.db, FILL_LIKE), 1, "the premise: the others "
	    "wait for the fill instead of running the statement");
	t0 = t_now_ms();
	t_kill_pid(child);
	for (i = 0; i < 2; i++) {
		cr_assert(job_wait(&w[i], 20000), "a client waiting for the killed client's "
		    "cache fill was not answered within 20s");
		cr_assert_eq(w[i].code, DBM_OK, "a client waiting for the killed client's fill: "
		    "%s (%s)", dbm_strerror(w[i].code), w[i].msg);
		cr_assert_str_eq(w[i].value, "5000000");
	}
	cr_log_info("the fill's waiters were answered %lldms after the filler's death",
	    (long long)(t_now_ms() - t0));
	kill_after(&d, "a client killed while filling the cache");
}

/* A client whose statement waits for another's cache fill is killed: the fill goes on. */
Test(pg_client_kill, killed_while_waiting_for_a_cache_fill_leaves_the_fill_alone)
{
	struct t_dbmd	 d;
	struct job	 filler, after;
	pid_t		 child;

	kill_setup(&d);
	job_start_cached(&filler, &d, "production", "primary", NULL, FILL_SQL, 60000);
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, FILL_LIKE, 5000), 0,
	    "the filling statement never ran");
	child = client_until(&d, K_PARKED);
	f_wait_busy(&d, 2, 5000);
	cr_assert_eq(pq_count_active(pg.admin, pg.db, FILL_LIKE), 1, "the premise: the child "
	    "waits for the fill");
	t_kill_pid(child);
	cr_assert(job_wait(&filler, 20000), "the filler was not answered");
	cr_assert_eq(filler.code, DBM_OK, "the filler: %s", filler.msg);
	cr_assert_str_eq(filler.value, "5000000");
	/* The fill was stored: the same statement now comes from the cache, at once. */
	job_start_cached(&after, &d, "production", "primary", NULL, FILL_SQL, 60000);
	cr_assert(job_wait(&after, 500), "the same statement after the fill was not answered "
	    "from the cache");
	cr_assert_eq(after.code, DBM_OK, "%s", after.msg);
	kill_after(&d, "a client killed while waiting for a cache fill");
}

/*
 * A pool disposed while requests wait for it every way a request can wait
 * (running a cache fill, parked on that fill, queued for a connection),
 * then the server goes away: each is answered, the pool goes, and a new
 * pool serves once the server is back.  DISPOSE_POOL drains a pool that has
 * handles; with drain_timeout 0 the janitor disposes it at its next round.
 */
Test(pg_stop, a_pool_disposed_with_requests_waiting_every_way_answers_them_all)
{
	struct t_dbmd	 d;
	struct job	 filler, parked[2], queued;
	dbm_result	*r;
	dbm_conn	*c;
	char		*uri;
	int64_t		 end;
	int		 i;

	fpg_start();
	uri = fpg_uri("");
	/* primary, of pool_size 2 - 1 = 1 with the bump: the filler takes its connection. */
	write_conf(uri, 1, -1, NULL);
	t_dbmd_start(&d, (const char *[]){ "daemon.drain_timeout=0s", NULL });
	c = t_connect(&d);
	job_start_cached(&filler, &d, ENV, "primary", NULL, LONG_FILL_SQL, 60000);
	cr_assert_eq(fpg_wait_num("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
	    "'" LONG_FILL_LIKE "' AND state = 'active'", 1, 5000), 1, "the fill never ran");
	for (i = 0; i < 2; i++)
		job_start_cached(&parked[i], &d, ENV, "primary", NULL, LONG_FILL_SQL, 60000);
	job_start(&queued, &d, ENV, "primary", NULL, "SELECT 'queued'");
	f_wait_busy(&d, 4, 5000);
	cr_assert_eq(f_pools(&d).waiting, 1, "the premise: one request queued");

	r = dbm_dispose_pool(c, ENV "/primary");
	cr_assert_not_null(r, "DISPOSE_POOL: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "DISPOSE_POOL: %s", dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert(job_wait(&queued, F_ANSWER_MS), "the queued request was not answered");
	cr_assert_eq(queued.code, DBM_E_DRAINING, "the queued request of a disposed pool: %s "
	    "(%s); dbmd's log:\n%s", queued.code >= 0 ? dbm_strerror(queued.code) : "nothing",
	    queued.msg, f_log_tail(&d, 3000));
	cr_assert(!atomic_load(&filler.done), "the premise: the fill still runs");
	f_inject(F_IMMEDIATE);
	job_assert_failed_clearly(&filler, F_ANSWER_MS, "the filler of a disposed pool");
	for (i = 0; i < 2; i++) {
		cr_assert(job_wait(&parked[i], F_ANSWER_MS), "a request waiting for the fill of a "
		    "disposed pool was not answered");
		cr_assert(parked[i].code == DBM_E_DRAINING || f_clear_failure(parked[i].code,
		    parked[i].sqlstate, parked[i].msg), "a request waiting for the fill of a "
		    "disposed pool: %s (%s)", dbm_strerror(parked[i].code), parked[i].msg);
	}
	end = t_now_ms() + 10000LL * t_slow();
	while (f_pools(&d).pools != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(f_pools(&d).pools, 0, "the disposed pool is still there");
	f_heal(F_IMMEDIATE);
	f_assert_recovers(&d, NULL, ENV, "primary", "after the disposed pool");
	f_assert_serving(&d, "after the disposed pool");
	f_assert_no_leak(&d, 1, "after the disposed pool");
	dbm_disconnect(c);
	f_dbmd_stop_clean(&d, "after the disposed pool");
	free(uri);
}

/*
 * dbmd shuts down while requests wait every way, and the server goes away
 * under them: each is answered, and dbmd exits 0 without waiting out
 * shutdown_timeout.
 */
Test(pg_stop, a_shutdown_with_requests_waiting_every_way_answers_them_all)
{
	struct t_dbmd	 d;
	struct job	 filler, parked[2], queued;
	struct job	*all[4] = { &filler, &parked[0], &parked[1], &queued };
	char		*uri, *log;
	int64_t		 t0;
	int		 i, st;

	fpg_start();
	uri = fpg_uri("");
	write_conf(uri, 1, -1, NULL);
	t_dbmd_start(&d, NULL);
	job_start_cached(&filler, &d, ENV, "primary", NULL, FILL_SQL, 60000);
	cr_assert_eq(fpg_wait_num("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
	    "'" FILL_LIKE "' AND state = 'active'", 1, 5000), 1, "the fill never ran");
	for (i = 0; i < 2; i++)
		job_start_cached(&parked[i], &d, ENV, "primary", NULL, FILL_SQL, 60000);
	job_start(&queued, &d, ENV, "primary", NULL, "SELECT 'queued'");
	f_wait_busy(&d, 4, 5000);

	kill(d.pid, SIGTERM);
	cr_assert(t_dbmd_logged(&d, "shutting down", NULL), "no shutdown");
	t0 = t_now_ms();
	f_inject(F_IMMEDIATE);
	for (i = 0; i < 4; i++) {
		cr_assert(job_wait(all[i], F_ANSWER_MS), "request %d was not answered", i);
		cr_assert(f_clear_failure(all[i]->code, all[i]->sqlstate, all[i]->msg) ||
		    all[i]->code == DBM_E_SHUTDOWN || all[i]->code == DBM_E_CONNECTION ||
		    all[i]->code == DBM_E_DRAINING, "request %d (%s): %s (%s)", i, all[i]->sql,
		    dbm_strerror(all[i]->code), all[i]->msg);
	}
	if (!t_wait_pid(d.pid, 4000 * t_slow(), &st)) {
		log = f_log_tail(&d, 4000);
		cr_assert_fail("dbmd did not exit within 4s of the fault (shutdown_timeout is "
		    "5s); its log:\n%s", log);
	}
	d.pid = 0;
	log = f_log_tail(&d, 4000);
	cr_assert_eq(t_exit_code(st), 0, "dbmd exited with status %d; its log:\n%s",
	    t_exit_code(st), log);
	free(log);
	cr_log_info("dbmd exited %lldms after the fault", (long long)(t_now_ms() - t0));
	f_heal(F_IMMEDIATE);
	cr_assert_eq(fpg_wait_num(FPG_DBMD, 0, 5000), 0, "dbmd's sessions outlived it");
	free(uri);
}

/*
 * The server goes away under a cache fill that others wait for: the filler
 * and its waiters are all answered with a clear error, nothing is cached,
 * and once the server is back the statement runs and its result is cached.
 */
Test(pg_stop, a_cache_fill_whose_server_goes_away_answers_its_waiters)
{
	struct t_dbmd	 d;
	struct job	 filler, w[2];
	PGconn		*check;
	char		*uri;
	int		 i;

	fpg_start();
	uri = fpg_uri("");
	write_conf(uri, 1, 2, NULL);
	t_dbmd_start(&d, NULL);
	job_start_cached(&filler, &d, ENV, "primary", NULL, FILL_SQL, 60000);
	check = fpg_conn();
	cr_assert_neq(pq_wait_active(check, "postgres", FILL_LIKE, 5000), 0,
	    "the filling statement never ran (%s)", filler.msg);
	for (i = 0; i < 2; i++)
		job_start_cached(&w[i], &d, ENV, "primary", NULL, FILL_SQL, 60000);
	f_wait_busy(&d, 3, 5000);
	cr_assert_eq(pq_count_active(check, "postgres", FILL_LIKE), 1, "the premise: the "
	    "others wait for the fill");
	PQfinish(check);
	f_inject(F_IMMEDIATE);
	job_assert_failed_clearly(&filler, F_ANSWER_MS, "the filler");
	for (i = 0; i < 2; i++)
		job_assert_failed_clearly(&w[i], F_ANSWER_MS, "a waiter for the fill");
	f_heal(F_IMMEDIATE);
	f_assert_recovers(&d, NULL, ENV, "primary", "after a fill failed");
	f_assert_no_leak(&d, 1, "after a fill failed");
	f_dbmd_stop_clean(&d, "after a fill failed");
	free(uri);
}

#define NMANY	500

/*
 * Five hundred clients in one process, half with a statement queued for a
 * pool of four, die at once with it.
 */
Test(pg_client_kill, five_hundred_killed_at_once_leave_nothing_behind)
{
	struct t_dbmd	 d;
	pid_t		 child;
	int64_t		 end, t0;
	long long	 n = -1;
	struct job	 after;
	int		 p[2];

	pg_db_new();
	pg_dbmd_start(&d, NULL, "production.pool_size=4", "production.acquire_timeout=60s",
	    "daemon.max_clients=2000", "daemon.max_clients_per_uid=2000", NULL);
	cr_assert_eq(pipe(p), 0);
	if ((child = t_fork()) == 0) {
		struct proto_open	 o = { .environment = "production", .role = "primary" };
		struct proto_exec	 m = { .handle_id = 1, .sql = "SELECT pg_sleep(0.05)" };
		struct proto_decoder	 dec;
		struct proto_buf	 b;
		struct rlimit		 rl;
		int			 i, fd;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		for (i = 0; i < NMANY; i++) {
			if ((fd = t_raw_connect_try(d.sock)) == -1)
				_exit(1);
			proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
			t_raw_hello(fd, &dec);
			proto_decoder_free(&dec);
			/* OPEN, and for every other one a statement: sent, never read. */
			proto_buf_init(&b);
			proto_encode_open(&b, 2, &o);
			if (i % 2 == 1)
				proto_encode_exec(&b, 3, &m);
			if (t_raw_send(fd, b.data, b.len) == -1)
				_exit(2);
			proto_buf_free(&b);
		}
		(void)!write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	cr_assert(pipe_wait(p[0], 30000), "the %d clients did not all connect", NMANY);
	close(p[0]);
	end = t_now_ms() + 10000LL * t_slow();
	while ((n = f_clients(&d)) != NMANY && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(n, NMANY, "the premise: dbmd counts %d clients", NMANY);
	cr_assert_gt(f_pools(&d).handles, 0, "the premise: the clients hold handles");

	t0 = t_now_ms();
	t_kill_pid(child);
	/* Another client is served while dbmd cleans up, well within the bound. */
	job_start(&after, &d, "production", "primary", NULL, "SELECT 'served'");
	cr_assert(job_wait(&after, F_ANSWER_MS), "a new client was not served within %dms of "
	    "the %d clients' death", F_ANSWER_MS, NMANY);
	cr_assert_eq(after.code, DBM_OK, "%s", after.msg);
	end = t_now_ms() + 10000LL * t_slow();
	while ((n = f_clients(&d)) != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(n, 0, "dbmd still counts %lld of the %d dead clients after 10s", n, NMANY);
	cr_log_info("%d clients gone %lldms after their death", NMANY,
	    (long long)(t_now_ms() - t0));
	kill_after(&d, "500 clients killed at once");
}

/*
 * dbmd killed with SIGKILL while clients write, then started again: every
 * write it acknowledged is in the database, no transaction is half there,
 * the server holds nothing of the dead dbmd, and the clients reconnect.
 */
#define NWRITERS	3

/* Every row a writer had acknowledged is in the table, and no transaction is half there. */
static void
check_acked(struct writer *w, int n, const char *when)
{
	long long	 have;
	char		*arr, id[16];
	int		 i, acked;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%d", w[i].id);
		acked = atomic_load(&w[i].nacked);
		arr = writer_acked_array(&w[i], acked);
		have = pq_num(pg.check, "SELECT count(*) FROM w WHERE writer = $1 AND "
		    "n = ANY($2::int[])", 2, (const char *[]){ id, arr });
		cr_assert_eq(have, acked, "%s: writer %d: %lld of its %d acknowledged rows are "
		    "in the table", when, w[i].id, have, acked);
		if (w[i].txn)
			cr_assert_eq(pq_num(pg.check, W_HALF_TXNS, 1, (const char *[]){ id }), 0,
			    "%s: writer %d: a transaction is half in the table", when, w[i].id);
		free(arr);
	}
}

Test(pg_dbmd_kill, acknowledged_writes_survive_and_clients_reconnect)
{
	const char	*sets[] = { NULL, "production.pool_size=4", NULL };
	struct t_dbmd	 d;
	struct writer	 w[NWRITERS];
	char		*uset, *uri;
	long long	 sessions = -1, in_txn = -1;
	int64_t		 end;
	int		 i;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE w (writer int, n int, PRIMARY KEY (writer, n))", 0,
	    NULL);
	uri = pg_uri();
	uset = t_strf("production.uri=%s", uri);
	sets[0] = uset;
	t_dbmd_start(&d, sets);
	for (i = 0; i < NWRITERS; i++)
		writer_start(&w[i], &d, "production", "primary", i, i == NWRITERS - 1);
	writers_kill_dbmd(&d, w, NWRITERS);
	/* The server lets go of the dead dbmd's sessions, rolling back what was open. */
	end = t_now_ms() + 5000LL * t_slow();
	do {
		f_server_counts(&sessions, &in_txn);
		if (sessions == 0)
			break;
		t_sleep_ms(20);
	} while (t_now_ms() < end);
	cr_assert_eq(sessions, 0, "the killed dbmd's sessions are still on the server");
	check_acked(w, NWRITERS, "after dbmd was killed");
	writers_resume(&d, sets, w, NWRITERS);
	writers_stop(w, NWRITERS);
	check_acked(w, NWRITERS, "after dbmd was started again");
	f_assert_serving(&d, "after dbmd was killed and started again");
	f_assert_no_leak(&d, 1, "after dbmd was killed and started again");
	pg_dbmd_stop(&d);
	writers_free(w, NWRITERS);
	free(uset);
	free(uri);
}

/*
 * dbmd with 64 descriptors: clients beyond what it can hold are refused
 * with a reason or wait (dbmd pauses accepting); those it has keep
 * working; once the extra ones go, new clients are served and dbmd holds
 * as many descriptors as before.
 */

/* HELLO on a raw socket: 1 HELLO_OK, 2 GOODBYE (reason copied), 0 closed, -1 no answer. */
static int
raw_hello_try(int fd, int ms, char *reason, size_t size)
{
	struct proto_hello	 h = { .min_version = PROTO_VERSION_MIN,
	    .max_version = PROTO_VERSION_MAX, .client_name = "fd-test",
	    .max_frame = PROTO_DEFAULT_MAX_FRAME };
	struct proto_decoder	 dec;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_goodbye	 g;
	int			 r;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_hello(&b, 1, &h), PROTO_E_OK);
	r = t_raw_send(fd, b.data, b.len);
	proto_buf_free(&b);
	if (r == -1)
		return 0;
	proto_decoder_init(&dec, PROTO_HANDSHAKE_MAX_FRAME);
	r = t_raw_next(fd, &dec, &f, ms);
	if (r == 1 && f.hdr.type == PROTO_MSG_GOODBYE) {
		cr_assert_eq(proto_decode_goodbye(&f, &g), PROTO_DERR_OK);
		snprintf(reason, size, "%s", g.reason);
		r = 2;
	} else if (r == 1)
		cr_assert_eq(f.hdr.type, PROTO_MSG_HELLO_OK, "HELLO answered with %s",
		    proto_msg_name(f.hdr.type));
	proto_decoder_free(&dec);
	return r;
}

#define NFD_TRIES	120

/* Starts dbmd on the test's database with a limit of 64 descriptors, as if by ulimit -n 64. */
static void
start_nofile64(struct t_dbmd *d, char **uset)
{
	const char	*sets[4], *run = getenv("TEST_RUN");
	struct rlimit	 old, lim;
	char		*uri, *limits, *path;

	if (run != NULL && strstr(run, "valgrind") != NULL)
		cr_skip_test("valgrind keeps descriptors of its own below the limit it is given");
	uri = pg_uri();
	*uset = t_strf("production.uri=%s", uri);
	free(uri);
	sets[0] = *uset;
	sets[1] = "production.pool_size=2";
	sets[2] = "daemon.max_clients=1000";
	sets[3] = NULL;
	/* dbmd inherits the limit from the process that starts it. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	t_dbmd_init(d);
	t_dbmd_spawn(d, sets);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	t_dbmd_wait_ready(d);
	path = t_strf("/proc/%ld/limits", (long)d->pid);
	limits = t_slurp(path);
	cr_assert(strstr(limits, "Max open files            64 ") != NULL, "the premise: dbmd "
	    "has 64 descriptors:\n%s", limits);
	free(limits);
	free(path);
}

/*
 * Connects raw clients until dbmd takes no more; returns how many it took
 * (their sockets, and the one it did not take, in fds, *nfd of them), with
 * what happened to the last one in *outcome (raw_hello_try) and its reason.
 */
static int
saturate(const struct t_dbmd *d, int *fds, int *nfd, int *outcome, char *reason,
    size_t size)
{
	int	 i, accepted = 0;

	*nfd = 0;
	*outcome = 1;
	for (i = 0; i < NFD_TRIES && *outcome == 1; i++) {
		if ((fds[*nfd] = t_raw_connect_try(d->sock)) == -1) {
			*outcome = -2;
			break;
		}
		*outcome = raw_hello_try(fds[(*nfd)++], 1500, reason, size);
		accepted += *outcome == 1;
	}
	return accepted;
}

Test(pg_fd_limit, extra_clients_are_refused_with_a_reason_and_nothing_leaks)
{
	struct t_dbmd	 d;
	struct job	 late;
	dbm_conn	*c;
	dbm_handle	*h, *ro, *lite;
	dbm_result	*r;
	char		*uset, reason[256] = "", *v;
	int		 fds[NFD_TRIES], nfd = 0, accepted = 0, outcome = 1, base, now = -1, i;
	int64_t		 t0, end;

	pg_db_new();
	start_nofile64(&d, &uset);

	/* A client that works throughout. */
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	base = f_nfds(d.pid);

	/* More clients than dbmd has descriptors for. */
	accepted = saturate(&d, fds, &nfd, &outcome, reason, sizeof(reason));
	cr_log_info("dbmd took %d clients beyond the first; the next %s", accepted,
	    outcome == 2 ? "was refused" : outcome == -1 ? "waits" : outcome == 0 ?
	    "was closed without a word" : "could not connect");
	cr_assert_neq(outcome, 1, "the premise: dbmd with 64 descriptors took %d clients",
	    accepted);
	cr_assert_neq(outcome, 0, "a client beyond the limit was closed without a reason");
	cr_assert_neq(outcome, -2, "connecting failed: %s", strerror(errno));
	cr_assert_neq(outcome, -1, "a client beyond the limit waits unanswered");
	cr_assert_str_not_empty(reason, "refused without a reason");
	cr_assert_not_null(strstr(reason, "file descriptor"), "the reason: %s", reason);

	/* The client dbmd has keeps working, and dbmd does not spin. */
	t0 = t_now_ms();
	v = t_value(h, "SELECT 'still here'", 0, NULL);
	cr_assert_str_eq(v, "still here");
	free(v);
	cr_assert_lt(t_now_ms() - t0, 2000 * t_slow());
	cr_assert(t_dbmd_logged(&d, "accept", NULL), "dbmd did not log that it could not "
	    "accept");
	/* A pool that must connect now, with no descriptor to do it, fails clearly. */
	t0 = t_now_ms();
	ro = dbm_open(c, "production", "read_only", NULL);
	cr_assert_lt(t_now_ms() - t0, F_ANSWER_MS * t_slow());
	if (ro == NULL)
		cr_assert(f_clear_failure(dbm_errcode(c), dbm_errsqlstate(c), dbm_errmsg(c)),
		    "opening a new pool without descriptors: %s (%s)",
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
	else
		dbm_dispose(ro);
	cr_log_info("a new pool at the descriptor limit: %s", ro == NULL ? dbm_errmsg(c) :
	    "opened");
	/* So does a new SQLite pool, whose files need descriptors too. */
	if ((lite = dbm_open(c, "development", "primary", NULL)) == NULL) {
		cr_assert(dbm_errcode(c) == DBM_E_BACKEND && dbm_errmsg(c)[0] != '\0',
		    "opening a new SQLite pool without descriptors: %s (%s)",
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
		cr_log_info("a new SQLite pool at the descriptor limit: %s", dbm_errmsg(c));
	} else {
		r = dbm_exec(lite, "SELECT 1", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		cr_assert(dbm_result_status(r) == DBM_OK || (dbm_result_status(r) == DBM_E_SQL &&
		    dbm_result_errmsg(r)[0] != '\0'), "a statement on a new SQLite pool without "
		    "descriptors: %s (%s)", dbm_strerror(dbm_result_status(r)),
		    dbm_result_errmsg(r));
		cr_log_info("a statement on a new SQLite pool at the descriptor limit: %s",
		    dbm_result_status(r) == DBM_OK ? "ok" : dbm_result_errmsg(r));
		dbm_result_free(r);
		dbm_dispose(lite);
	}

	/* The extra clients leave; a new one is served; dbmd holds what it held before. */
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	job_start(&late, &d, "production", "primary", NULL, "SELECT 'late'");
	cr_assert(job_wait(&late, F_ANSWER_MS), "a client after the extra ones left was not "
	    "served");
	cr_assert_eq(late.code, DBM_OK, "%s", late.msg);
	end = t_now_ms() + 10000LL * t_slow();
	while ((now = f_nfds(d.pid)) != base && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(now, base, "dbmd holds %d descriptors, %d before the extra clients came",
	    now, base);
	t_exec0(h, "SELECT 1", 0, NULL);
	f_assert_recovers(&d, NULL, "production", "read_only", "after the descriptor limit");
	f_assert_recovers(&d, NULL, "development", "primary", "after the descriptor limit");
	f_assert_serving(&d, "at the descriptor limit");
	f_assert_no_leak(&d, 0, "at the descriptor limit");
	dbm_disconnect(c);
	pg_dbmd_stop(&d);
	free(uset);
}

/*
 * A client that leaves mid-statement while dbmd has no descriptor to
 * spare: its statement must still stop on the server (dbmd cancels it on a
 * connection of its own, which needs a descriptor), not run on for its
 * full length holding its connection and its locks.
 */
Test(pg_fd_limit, a_client_leaving_mid_statement_at_the_limit_has_it_cancelled)
{
	struct t_dbmd	 d;
	char		*uset, reason[256] = "";
	int		 fds[NFD_TRIES], nfd = 0, outcome = 1, p[2], go[2], i;
	long long	 running = -1;
	int64_t		 end, t0;
	pid_t		 child;

	pg_db_new();
	start_nofile64(&d, &uset);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(go), 0);
	if ((child = t_fork()) == 0) {
		dbm_conn	*cc = dbm_connect(d.sock);
		dbm_handle	*ch = dbm_open(cc, "production", "primary", NULL);
		char		 b;

		if (ch == NULL)
			_exit(1);
		dbm_result_free(dbm_exec(ch, "SELECT 1", 0, NULL));
		(void)!write(p[1], "x", 1);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		dbm_result_free(dbm_exec(ch, "SELECT pg_sleep(30)", 0, NULL));
		_exit(0);
	}
	close(p[1]);
	close(go[0]);
	cr_assert(pipe_wait(p[0], 10000), "the client did not open its handle");
	close(p[0]);
	(void)saturate(&d, fds, &nfd, &outcome, reason, sizeof(reason));
	cr_assert_neq(outcome, 1, "the premise: dbmd ran out of descriptors");
	cr_assert_eq(write(go[1], "x", 1), 1);
	close(go[1]);
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the client's statement never ran; log:\n%s", f_log_tail(&d, 3000));
	t0 = t_now_ms();
	t_kill_pid(child);
	end = t_now_ms() + 5000LL * t_slow();
	while ((running = pq_count_active(pg.admin, pg.db, "SELECT pg_sleep(30)%")) != 0 &&
	    t_now_ms() < end)
		t_sleep_ms(20);
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	cr_assert_eq(running, 0, "the server still runs the statement of a client that left "
	    "%lldms ago, while dbmd was out of descriptors; dbmd's log:\n%s",
	    (long long)(t_now_ms() - t0), f_log_tail(&d, 3000));
	f_assert_serving(&d, "after a client left at the descriptor limit");
	f_assert_no_leak(&d, 1, "after a client left at the descriptor limit");
	pg_dbmd_stop(&d);
	free(uset);
}
