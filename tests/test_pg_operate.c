/* test_pg_operate.c: reload and shutdown on a real PostgreSQL server, seen from its side. */

/*
 * What test_operate.c proves on SQLite, proved here where it matters most:
 * on server connections that someone else (the server, its administrator)
 * can count.  A reload must leave an unchanged pool's server sessions alone
 * and retire a changed pool's sessions once its handles are gone; a stop,
 * graceful or hurried, must leave no transaction, statement or session
 * behind on the server.
 *
 * As in test_pg.c, each test makes a database of its own on the server
 * tests/pg_harness.sh starts, and looks at pg_stat_activity only for it
 * (tests/pg.h).
 *
 * dbmd names its server sessions application_name=dbmd unless the URI
 * names one; the reload tests give each environment a name of its own so
 * that the server tells their pools' sessions apart.
 */

#include <sys/types.h>

#include <criterion/criterion.h>

#include "pg.h"

#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = 60)

SUITE(pg_reload);
SUITE(pg_shutdown);

/* The server's side. */

/*
 * The pids of the server sessions on the test's database with an
 * application_name, as a PostgreSQL array literal in ascending order
 * ("{}" when none); the caller frees it.
 */
static char *
pq_app_pids(const char *app)
{
	return pq_str(pg.admin, "SELECT '{' || coalesce(string_agg(pid::text, ',' ORDER BY "
	    "pid), '') || '}' FROM pg_stat_activity WHERE datname = $1 AND "
	    "application_name = $2", 2, (const char *[]){ pg.db, app });
}

/* How many of the pids in the array literal are still server sessions. */
static long long
pq_pids_alive(const char *pids)
{
	return pq_num(pg.admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
	    1, (const char *[]){ pids });
}

/* Whether the pid is in the array literal. */
static int
pid_in(const char *pids, const char *pid)
{
	return pq_num(pg.admin, "SELECT ($1::int = ANY($2::int[]))::int", 2,
	    (const char *[]){ pid, pids }) == 1;
}

/* The number of pids in the array literal. */
static long long
pid_count(const char *pids)
{
	return pq_num(pg.admin, "SELECT coalesce(cardinality($1::int[]), 0)", 1,
	    (const char *[]){ pids });
}

/*
 * Waits up to ms (scaled) until the server runs no statement matching
 * pattern on the test's database and dbmd holds no session to it under its
 * default name; returns the two counts last seen (0 and 0 on success).
 */
static void
wait_server_clear(const char *pattern, int ms, long long *active, long long *sessions)
{
	int64_t	 end = t_now_ms() + (int64_t)ms * t_slow();

	for (;;) {
		*active = pattern != NULL ? pq_count_active(pg.admin, pg.db, pattern) : 0;
		*sessions = pq_dbmd_backends(pg.admin, pg.db);
		if ((*active == 0 && *sessions == 0) || t_now_ms() >= end)
			return;
		t_sleep_ms(20);
	}
}

/*
 * A sanitizer (make asan) reports into dbmd's log; a report fails the test
 * with the log, whatever the exit status said.
 */
static void
assert_log_clean(const struct t_dbmd *d)
{
	static const char *const bad[] = { "AddressSanitizer", "LeakSanitizer",
	    "UndefinedBehaviorSanitizer", "runtime error:" };
	char	*log = t_dbmd_log(d);
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(strstr(log, bad[i]), "a sanitizer reported in dbmd's log:\n%s",
		    log);
	free(log);
}

/*
 * Waits up to ms (scaled) for a dbmd already signalled to exit; returns
 * how long it took, or fails the test with its log (and kills it).
 */
static int64_t
dbmd_wait_exit(struct t_dbmd *d, int64_t since, int ms, const char *what)
{
	char	*log;
	int	 st;

	if (!t_wait_pid(d->pid, ms * t_slow(), &st)) {
		t_kill_pid(d->pid);
		d->pid = 0;
		log = t_dbmd_log(d);
		cr_assert_fail("dbmd did not exit within %dms of %s; its log:\n%s",
		    ms * t_slow(), what, log);
	}
	d->pid = 0;
	d->status = st;
	return t_now_ms() - since;
}

/* Whether dbmd is still running (without reaping it if it is not). */
static int
dbmd_running(const struct t_dbmd *d)
{
	siginfo_t	 si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)d->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return 0;
	return si.si_pid == 0;
}

/* The library. */

/* Asserts the pool's state in the status ("serving", "draining"). */
static void
assert_pool_state(dbm_conn *c, unsigned long long hash, const char *want, const char *why)
{
	char	*state = t_pool_field(c, hash, "state");

	cr_assert_not_null(state, "the pool %016llx is not in the status (%s)", hash, why);
	cr_assert_str_eq(state, want, "the pool %016llx is %s, not %s: %s", hash, state, want,
	    why);
	free(state);
}

/* The server pid behind the statement the handle runs next; the caller frees it. */
static char *
backend_pid(dbm_handle *h)
{
	return t_value(h, "SELECT pg_backend_pid()", 0, NULL);
}

/* Whether a call that needs dbmd failed the way a stopped dbmd makes it fail. */
static int
is_gone_code(int code)
{
	return code == DBM_E_SHUTDOWN || code == DBM_E_CONNECTION;
}

/* Runs a statement on a handle whose dbmd is gone; it must fail as such. */
static void
assert_exec_gone(dbm_conn *c, dbm_handle *h, const char *who)
{
	dbm_result	*r = dbm_exec(h, "SELECT 1", 0, NULL);
	int		 code = r != NULL ? dbm_result_status(r) : dbm_errcode(c);

	cr_assert(is_gone_code(code), "%s: a statement after dbmd stopped gave %s (%s), not a "
	    "shutdown or connection error", who, dbm_strerror(code), r != NULL ?
	    dbm_result_errmsg(r) : dbm_errmsg(c));
	dbm_result_free(r);
}

/*
 * Reload.
 */

/*
 * Replaces the test's configuration file with two environments on the
 * test's database, told apart on the server by their application_name;
 * change's pool_size is the text given, on line 7 (column 16), so that a
 * test can put a mistake there.
 */
static void
write_conf_keep_change(const char *change_pool_size)
{
	char	*uri = pg_uri();
	FILE	*fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp, "%s: %s", t_h.conf, strerror(errno));
	fprintf(fp,
	    "environments:\n"
	    "  keep:\n"
	    "    uri: %s&application_name=keep\n"
	    "    pool_size: 2\n"
	    "  change:\n"
	    "    uri: %s&application_name=change\n"
	    "    pool_size: %s\n", uri, uri, change_pool_size);
	fclose(fp);
	free(uri);
}

/* Runs RELOAD; returns its status, with the result's message and detail in *detail when asked. */
static int
reload(dbm_conn *c, char **detail)
{
	dbm_result	*r = dbm_reload(c);
	int		 st;

	cr_assert_not_null(r, "RELOAD: %s", dbm_errmsg(c));
	st = dbm_result_status(r);
	if (detail != NULL)
		*detail = t_strf("%s\n%s", dbm_result_errmsg(r), dbm_result_detail(r));
	dbm_result_free(r);
	return st;
}

/*
 * Makes the pool behind a and b hold two server connections: a's
 * transaction pins one, so b's statement needs another.  Returns the two
 * pids (distinct) in pa and pb, which the caller frees.
 */
static void
two_backends(dbm_conn *c, dbm_handle *a, dbm_handle *b, char **pa, char **pb)
{
	cr_assert_eq(dbm_begin(a), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	*pa = backend_pid(a);
	*pb = backend_pid(b);
	cr_assert_eq(dbm_commit(a), DBM_OK, "COMMIT: %s", dbm_errmsg(c));
	cr_assert_str_neq(*pa, *pb, "a statement ran on the connection another handle's "
	    "transaction had pinned");
}

/*
 * Makes the pool behind a and b, of the environment app, hold two server
 * sessions (two_backends), which must be all the server lists under app;
 * returns their pids as pq_app_pids does, for the caller to free.
 */
static char *
two_sessions(dbm_conn *c, dbm_handle *a, dbm_handle *b, const char *app)
{
	char	*pa, *pb, *pids;

	two_backends(c, a, b, &pa, &pb);
	pids = pq_app_pids(app);
	cr_assert_eq(pid_count(pids), 2, "%s's sessions on the server: %s", app, pids);
	cr_assert(pid_in(pids, pa) && pid_in(pids, pb), "%s ran on %s and %s, but its "
	    "sessions are %s", app, pa, pb, pids);
	free(pa);
	free(pb);
	return pids;
}

/* Makes the pool behind a and b use two server sessions at once: both in pids. */
static void
assert_both_run_on(dbm_conn *c, dbm_handle *a, dbm_handle *b, const char *pids,
    const char *what)
{
	char	*pa, *pb;

	two_backends(c, a, b, &pa, &pb);
	cr_assert(pid_in(pids, pa) && pid_in(pids, pb), "%s: two statements at once ran on %s "
	    "and %s, not on the sessions %s", what, pa, pb, pids);
	free(pa);
	free(pb);
}

/* Runs a few statements on a handle, each on a backend in pids. */
static void
assert_runs_on(dbm_handle *h, const char *pids, const char *what)
{
	char	*pid;
	int	 i;

	for (i = 0; i < 4; i++) {
		pid = backend_pid(h);
		cr_assert(pid_in(pids, pid), "%s: a statement ran on backend %s, not one of %s",
		    what, pid, pids);
		free(pid);
	}
}

Test(pg_reload, an_unchanged_pool_keeps_its_server_connections_and_a_changed_one_drains)
{
	struct t_dbmd		 d;
	dbm_conn		*c, *admin;
	dbm_handle		*k1, *k2, *ch1, *ch2, *ch3;
	unsigned long long	 keep_hash, change_hash, new_hash;
	long long		 keep_connects, alive = -1;
	char			*keep_pids, *change_pids, *pa, *v, *now, *log;
	int64_t			 t0, end;

	pg_db_new();
	write_conf_keep_change("2");
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	admin = t_connect(&d);
	k1 = t_open(c, "keep", "primary");
	k2 = t_open(c, "keep", "primary");
	ch1 = t_open(c, "change", "primary");
	ch2 = t_open(c, "change", "primary");
	keep_hash = dbm_handle_pool_hash(k1);
	change_hash = dbm_handle_pool_hash(ch1);
	cr_assert_neq(keep_hash, change_hash);

	/* Two server sessions in each pool, named for their environment. */
	keep_pids = two_sessions(c, k1, k2, "keep");
	change_pids = two_sessions(c, ch1, ch2, "change");
	keep_connects = pool_num(admin, k1, "connects");
	cr_assert_eq(keep_connects, 2);
	/* One handle is left on the pool that will drain. */
	cr_assert_eq(dbm_dispose(ch2), DBM_OK, "dispose: %s", dbm_errmsg(c));

	write_conf_keep_change("3");
	cr_assert_eq(reload(admin, NULL), DBM_OK);

	/* keep: untouched, on the very same server sessions. */
	assert_pool_state(admin, keep_hash, "serving", "keep's settings did not change");
	assert_runs_on(k1, keep_pids, "keep after the reload");
	assert_runs_on(k2, keep_pids, "keep after the reload");
	assert_both_run_on(c, k1, k2, keep_pids, "keep after the reload");
	now = pq_app_pids("keep");
	cr_assert_str_eq(now, keep_pids, "keep's server sessions were %s before the reload and "
	    "are %s after it", keep_pids, now);
	free(now);
	cr_assert_eq(pool_num(admin, k1, "connects"), keep_connects,
	    "keep's pool opened connections again");

	/* change: the old pool drains, and still serves its handle on its old sessions. */
	assert_pool_state(admin, change_hash, "draining", "change's pool_size changed");
	assert_runs_on(ch1, change_pids, "change's old handle while draining");
	v = t_value(ch1, "SELECT current_setting('application_name')", 0, NULL);
	cr_assert_str_eq(v, "change");
	free(v);

	/* A new open gets a new pool, with the new size, on a new session. */
	ch3 = t_open(c, "change", "primary");
	new_hash = dbm_handle_pool_hash(ch3);
	cr_assert_neq(new_hash, change_hash, "a new open of change/primary got the draining "
	    "pool");
	assert_pool_state(admin, new_hash, "serving", "the new pool of change/primary");
	cr_assert_eq(pool_num(admin, ch3, "pool_size"), 3);
	pa = backend_pid(ch3);
	cr_assert(!pid_in(change_pids, pa), "the new pool's statement ran on backend %s, one "
	    "of the draining pool's %s", pa, change_pids);
	v = pq_str(pg.admin, "SELECT application_name FROM pg_stat_activity WHERE pid = $1",
	    1, (const char *[]){ pa });
	cr_assert_str_eq(v, "change");
	free(v);
	free(pa);
	assert_pool_state(admin, change_hash, "draining", "a new open must not revive it");

	/* The old pool goes with its last handle, and its server sessions with it. */
	cr_assert_eq(dbm_dispose(ch1), DBM_OK, "dispose: %s", dbm_errmsg(c));
	t0 = t_now_ms();
	end = t0 + 2000LL * t_slow();
	while ((v = t_pool_field(admin, change_hash, "state")) != NULL && t_now_ms() < end) {
		free(v);
		t_sleep_ms(20);
	}
	cr_assert_null(v, "the drained pool is still %s %lldms after its last handle was "
	    "disposed", v, (long long)(t_now_ms() - t0));
	while ((alive = pq_pids_alive(change_pids)) != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(alive, 0, "%lld of the drained pool's server sessions %s are still there "
	    "%lldms after its last handle was disposed", alive, change_pids,
	    (long long)(t_now_ms() - t0));
	log = t_dbmd_log(&d);
	cr_assert_not_null(strstr(log, "draining"), "no draining in the log:\n%s", log);
	free(log);

	/* Nothing of that touched keep, and the new pool serves on. */
	now = pq_app_pids("keep");
	cr_assert_str_eq(now, keep_pids);
	free(now);
	assert_runs_on(k1, keep_pids, "keep after the drained pool went");
	t_exec0(ch3, "SELECT 1", 0, NULL);
	free(keep_pids);
	free(change_pids);
	dbm_disconnect(c);
	dbm_disconnect(admin);
	pg_dbmd_stop(&d);
	assert_log_clean(&d);
}

Test(pg_reload, an_invalid_reload_changes_nothing_and_says_where)
{
	struct t_dbmd		 d;
	dbm_conn		*c, *admin;
	dbm_handle		*k1, *k2, *ch1, *ch2, *h;
	unsigned long long	 keep_hash, change_hash;
	char			*keep_pids, *change_pids, *detail, *where, *now;

	pg_db_new();
	write_conf_keep_change("2");
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	admin = t_connect(&d);
	k1 = t_open(c, "keep", "primary");
	k2 = t_open(c, "keep", "primary");
	ch1 = t_open(c, "change", "primary");
	ch2 = t_open(c, "change", "primary");
	keep_hash = dbm_handle_pool_hash(k1);
	change_hash = dbm_handle_pool_hash(ch1);
	keep_pids = two_sessions(c, k1, k2, "keep");
	change_pids = two_sessions(c, ch1, ch2, "change");

	/* change's pool_size is not a number: line 7, column 16. */
	write_conf_keep_change("plenty");
	cr_assert_eq(reload(admin, &detail), DBM_E_CONFIG, "RELOAD of an invalid file: %s",
	    detail);
	where = t_strf("%s:7:16", t_h.conf);
	cr_assert_not_null(strstr(detail, where), "the RELOAD result does not name %s:\n%s",
	    where, detail);
	free(where);
	free(detail);

	/* Both pools serve on, on the same server sessions, at their old size. */
	assert_pool_state(admin, keep_hash, "serving", "the reload was invalid");
	assert_pool_state(admin, change_hash, "serving", "the reload was invalid");
	cr_assert_eq(pool_num(admin, ch1, "pool_size"), 2);
	assert_runs_on(k1, keep_pids, "keep after an invalid reload");
	assert_runs_on(ch1, change_pids, "change after an invalid reload");
	assert_both_run_on(c, ch1, ch2, change_pids, "change after an invalid reload");
	/* New opens still resolve against the configuration in use. */
	h = t_open(c, "change", "primary");
	cr_assert_eq(dbm_handle_pool_hash(h), change_hash, "a new open after an invalid "
	    "reload got another pool");
	assert_runs_on(h, change_pids, "a handle opened after an invalid reload");
	now = pq_app_pids("keep");
	cr_assert_str_eq(now, keep_pids);
	free(now);
	now = pq_app_pids("change");
	cr_assert_str_eq(now, change_pids);
	free(now);
	cr_assert(t_dbmd_logged(&d, "configuration in use is unchanged", NULL));
	free(keep_pids);
	free(change_pids);
	dbm_disconnect(c);
	dbm_disconnect(admin);
	pg_dbmd_stop(&d);
	assert_log_clean(&d);
}

/*
 * Shutdown.
 */

/*
 * The end of a stop with a's statement in flight: the client's call
 * returns, failing as a stopped dbmd makes it fail, and within ms (scaled)
 * the server runs the statement no more and holds no session of dbmd's.
 */
static void
assert_in_flight_gone(struct bg *a, int ms)
{
	long long	 active, sessions;
	int64_t		 t0;
	char		*pattern = t_strf("%s%%", a->sql);

	cr_assert(bg_wait(a, 5000), "the client's call did not return once dbmd had exited");
	cr_assert(is_gone_code(a->code), "the client in %s got %s (%s), not a shutdown or "
	    "connection error", a->sql, dbm_strerror(a->code), a->msg);

	t0 = t_now_ms();
	wait_server_clear(pattern, ms, &active, &sessions);
	cr_assert_eq(active, 0, "the server still runs the client's %s %lldms after dbmd "
	    "exited", a->sql, (long long)(t_now_ms() - t0));
	cr_assert_eq(sessions, 0, "%lld sessions from dbmd on the server %lldms after it "
	    "exited", sessions, (long long)(t_now_ms() - t0));
	free(pattern);
}

Test(pg_shutdown, sigterm_rolls_back_open_transactions_and_leaves_no_session)
{
	struct t_dbmd	 d;
	dbm_conn	*ca, *cb, *cc;
	dbm_handle	*ha, *hb, *hc;
	dbm_result	*r;
	long long	 active, sessions;
	int64_t		 t0, took;
	char		*v, *log;
	int		 code;

	pg_db_new();
	pq_exec0(pg.check, "CREATE TABLE acct (id int PRIMARY KEY, v text)", 0, NULL);
	pq_exec0(pg.check, "INSERT INTO acct VALUES (1, 'start')", 0, NULL);
	pg_dbmd_start(&d, NULL, "production.pool_size=4", NULL);
	ca = t_connect(&d);
	cb = t_connect(&d);
	cc = t_connect(&d);
	ha = t_open(ca, "production", "primary");
	hb = t_open(cb, "production", "primary");
	hc = t_open(cc, "production", "primary");
	cr_assert_eq(dbm_begin(ha), DBM_OK, "BEGIN: %s", dbm_errmsg(ca));
	r = t_exec(ha, "UPDATE acct SET v = 'a' WHERE id = 1", 0, NULL);
	cr_assert_eq(dbm_affected(r), 1);
	dbm_result_free(r);
	cr_assert_eq(dbm_begin(hb), DBM_OK, "BEGIN: %s", dbm_errmsg(cb));
	t_exec0(hb, "INSERT INTO acct VALUES (2, 'b')", 0, NULL);
	v = t_value(hc, "SELECT 1", 0, NULL);
	free(v);
	/* The premise: two transactions open on the server, from dbmd. */
	cr_assert_eq(pq_num(pg.admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
	    "AND application_name = 'dbmd' AND state LIKE 'idle in transaction%'", 1,
	    (const char *[]){ pg.db }), 2);

	t0 = t_now_ms();
	kill(d.pid, SIGTERM);
	took = dbmd_wait_exit(&d, t0, 5000, "SIGTERM");
	code = t_exit_code(d.status);
	log = t_dbmd_log(&d);
	cr_assert_eq(code, 0, "dbmd exited with status %d; its log:\n%s", code, log);
	free(log);
	assert_log_clean(&d);
	cr_log_info("dbmd exited %lldms after SIGTERM", (long long)took);

	/* Every client's next call fails: dbmd is gone. */
	assert_exec_gone(ca, ha, "the client mid-UPDATE");
	code = dbm_commit(hb);
	cr_assert(is_gone_code(code), "COMMIT after dbmd stopped gave %s (%s)",
	    dbm_strerror(code), dbm_errmsg(cb));
	assert_exec_gone(cc, hc, "the idle client");

	/* Nothing uncommitted reached the server, and dbmd left no session there. */
	wait_server_clear(NULL, 5000, &active, &sessions);
	cr_assert_eq(sessions, 0, "%lld sessions from dbmd on the server 5s after it exited",
	    sessions);
	v = pq_str(pg.check, "SELECT v FROM acct WHERE id = 1", 0, NULL);
	cr_assert_str_eq(v, "start", "the uncommitted UPDATE survived the shutdown");
	free(v);
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM acct WHERE id = 2", 0, NULL), 0,
	    "the uncommitted INSERT survived the shutdown");
	/* And no lock was left behind: the row can be updated at once. */
	pq_exec0(pg.check, "SET lock_timeout = '2s'", 0, NULL);
	pq_exec0(pg.check, "UPDATE acct SET v = 'after' WHERE id = 1", 0, NULL);
	dbm_disconnect(ca);
	dbm_disconnect(cb);
	dbm_disconnect(cc);
}

Test(pg_shutdown, a_second_sigterm_exits_at_once_and_leaves_nothing_running)
{
	struct t_dbmd	 d;
	struct bg	 a;
	int64_t		 t0, took, end;
	char		*log;
	int		 code;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "daemon.shutdown_timeout=20s", NULL);
	bg_start(&a, &d, "SELECT pg_sleep(30)");
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the client's pg_sleep never ran on the server (%s)", a.msg);

	kill(d.pid, SIGTERM);
	/*
	 * dbmd has taken the first SIGTERM once it stops taking clients; only then is the
	 * second a second one.
	 */
	end = t_now_ms() + 5000LL * t_slow();
	while (t_dbmd_answers(&d) && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert(!t_dbmd_answers(&d), "dbmd still takes clients 5s after SIGTERM");
	/* The premise: the first SIGTERM waits for the statement in flight, watched a while. */
	end = t_now_ms() + 300;
	while (dbmd_running(&d) && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert(dbmd_running(&d), "dbmd exited on the first SIGTERM with a statement in "
	    "flight and shutdown_timeout=20s");
	cr_assert(!atomic_load(&a.done), "the client's statement ended at the first SIGTERM: "
	    "%s", a.msg);
	t0 = t_now_ms();
	kill(d.pid, SIGTERM);
	took = dbmd_wait_exit(&d, t0, 2000, "the second SIGTERM");
	code = t_exit_code(d.status);
	log = t_dbmd_log(&d);
	cr_assert(code == 0, "dbmd exited with status %d after a second SIGTERM; its log:\n%s",
	    code, log);
	free(log);
	assert_log_clean(&d);
	cr_log_info("dbmd exited %lldms after the second SIGTERM", (long long)took);

	assert_in_flight_gone(&a, 5000);
}

Test(pg_shutdown, shutdown_timeout_bounds_the_work_in_flight)
{
	struct t_dbmd	 d;
	struct bg	 a;
	int64_t		 t0, took;
	char		*log;
	int		 code;

	pg_db_new();
	pg_dbmd_start(&d, NULL, "daemon.shutdown_timeout=1s", NULL);
	bg_start(&a, &d, "SELECT pg_sleep(30)");
	cr_assert_neq(pq_wait_active(pg.admin, pg.db, "SELECT pg_sleep(30)%", 5000), 0,
	    "the client's pg_sleep never ran on the server (%s)", a.msg);

	t0 = t_now_ms();
	kill(d.pid, SIGTERM);
	took = dbmd_wait_exit(&d, t0, 5000, "SIGTERM with shutdown_timeout=1s");
	code = t_exit_code(d.status);
	log = t_dbmd_log(&d);
	cr_assert_eq(code, 0, "dbmd exited with status %d; its log:\n%s", code, log);
	cr_assert_geq(took, 900, "dbmd exited %lldms after SIGTERM: it did not give the "
	    "statement in flight its shutdown_timeout (1s); its log:\n%s", (long long)took, log);
	free(log);
	assert_log_clean(&d);
	cr_assert(t_dbmd_logged(&d, "shutdown_timeout passed", NULL));
	cr_log_info("dbmd exited %lldms after SIGTERM", (long long)took);

	assert_in_flight_gone(&a, 3000);
}
