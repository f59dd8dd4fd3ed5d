/* test_replica.c: roles on a primary and two streaming standbys: spread, lag, read-your-writes, failures. */

/*
 * tests/pg_harness.sh runs a primary (TEST_PGPORT) and two standbys
 * streaming from it (TEST_PGSTANDBY_PORTS) in one socket directory.  A role
 * whose uri lists all three hosts is a role on replicas: dbmd spreads a read
 * role's connections over the standbys that qualify, keeps requests away
 * from a standby whose replay lags beyond max_replica_lag, routes a client's
 * reads after its own write only to a server that has replayed it
 * (read_your_writes), and survives a standby or the primary going away.
 *
 * Each connection says where it is with current_setting('port') (the
 * server's port; inet_server_port() is NULL over a Unix socket) and
 * pg_is_in_recovery(); STATUS's HOSTS result set says what dbmd thinks of
 * each host.
 *
 * Lag is made real by pausing a standby's replay (pg_wal_replay_pause(),
 * as superuser, straight through libpq) and writing on the primary.  A
 * paused standby of the shared cluster would stall every other test here
 * (a new database appears on a standby only once it replays its creation),
 * so a test that pauses one holds a lock on the shared cluster exclusively,
 * and the others hold it shared.  Tests that stop a server make a cluster
 * of their own with TEST_PGCLUSTER (pg_cluster.sh) and remove it at
 * teardown.  A teardown always resumes what its test paused.
 *
 * Every wait has a deadline (scaled by t_slow); Criterion's assertions run
 * only on the test's main thread, reader threads write their outcome down.
 */

#include <sys/file.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pg.h"

#define REP_WAIT_MS	15000		/* bound on dbmd noticing a change of a host */
#define REP_REPLAY_MS	30000		/* bound on a standby replaying what the primary wrote */
#define REP_CLUSTER_MS	120000		/* bound on pg_cluster.sh making a cluster */
#define REP_SH_PATH	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define REP_READERS	3		/* reader threads of the failure tests */

TestSuite(replica, .init = pg_setup, .timeout = 90);

/* The cluster a test uses: the shared one, or one of its own. */
static struct {
	char		 sock[PATH_MAX];	/* its socket directory */
	const char	*db;			/* the test's database on it */
	char		 port[3][8];		/* the primary's port, then the standbys' */
	PGconn		*prim;			/* to db on the primary */
	PGconn		*sb[2];			/* to "postgres" on each standby, as superuser */
	int		 paused[2];		/* replay paused by the test, to resume */
	char		 own[64];		/* a private cluster's directory, "" when shared */
	int		 lockfd;		/* the shared cluster's lock, -1 when not held */
} rep;

static struct t_dbmd d;

/* pg_cluster.sh, for a cluster of the test's own; its output is the result's. */
static struct t_run
cluster_run(const char *cmd, const char *node)
{
	const char	*script = getenv("TEST_PGCLUSTER"), *bin = getenv("TEST_PGBIN");
	const char	*runas = getenv("TEST_PGRUNAS");
	char		*binv = t_strf("TEST_PGBIN=%s", bin != NULL ? bin : "");
	char		*runv = t_strf("TEST_PGRUNAS=%s", runas != NULL ? runas : "");
	char		*argv[] = { "/bin/sh", (char *)script, (char *)cmd, rep.own,
	    (char *)node, NULL };
	char		*envp[] = { REP_SH_PATH, binv, runv, NULL };
	struct t_run	 r = t_run(argv, envp, REP_CLUSTER_MS);

	free(binv);
	free(runv);
	return r;
}

static void
cluster_ok(const char *cmd, const char *node)
{
	struct t_run	 r = cluster_run(cmd, node);

	cr_assert_eq(r.status, 0, "pg_cluster.sh %s %s %s failed (%d):\n%s%s", cmd, rep.own,
	    node != NULL ? node : "", r.status, r.out, r.err);
	t_run_free(&r);
}

/* Resumes what the test paused, stops its own cluster, then what pg_teardown undoes. */
static void
rep_teardown(void)
{
	struct t_run	 r;
	char		*cmd;
	int		 i;

	for (i = 0; i < 2; i++) {
		if (rep.sb[i] != NULL && rep.paused[i])
			PQclear(PQexec(rep.sb[i], "SELECT pg_wal_replay_resume()"));
		if (rep.sb[i] != NULL)
			PQfinish(rep.sb[i]);
		rep.sb[i] = NULL;
	}
	if (rep.own[0] != '\0') {
		if (rep.prim != NULL)
			PQfinish(rep.prim);
		rep.prim = NULL;
		r = cluster_run("stop", NULL);
		t_run_free(&r);
		cmd = t_strf("rm -rf '%s'", rep.own);
		r = t_run((char *[]){ "/bin/sh", "-c", cmd, NULL }, (char *[]){ REP_SH_PATH,
		    NULL }, 60000);
		t_run_free(&r);
		free(cmd);
		rep.own[0] = '\0';
	}
	pg_teardown();
	if (rep.lockfd != -1)
		close(rep.lockfd);
	rep.lockfd = -1;
}

/*
 * The standbys must be there as the primary is: the test skips without
 * them, or fails under CI=true.
 */
static void
rep_require(void)
{
	const char	*ports = getenv("TEST_PGSTANDBY_PORTS");
	const char	*script = getenv("TEST_PGCLUSTER");
	const char	*ci = getenv("CI");

	memset(&rep, 0, sizeof(rep));
	rep.lockfd = -1;
	pg_require();
	if (ports != NULL && sscanf(ports, "%7s %7s", rep.port[1], rep.port[2]) == 2 &&
	    script != NULL && *script != '\0')
		return;
	if (ci != NULL && strcmp(ci, "true") == 0)
		cr_assert_fail("TEST_PGSTANDBY_PORTS or TEST_PGCLUSTER is not set, and CI=true: "
		    "the replica tests must run with the cluster tests/pg_harness.sh starts");
	pg_teardown();
	cr_skip_test("no standbys: TEST_PGSTANDBY_PORTS is not set (make check starts them)");
}

/* Waits until every standby not paused has replayed all the primary has written. */
static void
rep_caught_up(void)
{
	char		*lsn = pq_str(rep.prim, "SELECT pg_current_wal_lsn()::text", 0, NULL);
	int64_t		 end = t_now_ms() + (int64_t)REP_REPLAY_MS * t_slow();
	int		 i;

	for (i = 0; i < 2; i++) {
		if (rep.paused[i])
			continue;
		while (pq_num(rep.sb[i], "SELECT (coalesce(pg_last_wal_replay_lsn() >= "
		    "$1::pg_lsn, false))::int", 1, (const char *[]){ lsn }) != 1) {
			cr_assert(t_now_ms() < end, "standby %s has not replayed up to %s",
			    rep.port[i + 1], lsn);
			t_sleep_ms(10);
		}
	}
	free(lsn);
}

/*
 * The shared cluster, with a database of the test's own replicated on both
 * standbys; exclusive for a test that pauses a standby's replay.
 */
static void
rep_shared(int exclusive)
{
	char	*dir, *lock;
	int	 i;

	rep_require();
	snprintf(rep.sock, sizeof(rep.sock), "%s", pg.host);
	snprintf(rep.port[0], sizeof(rep.port[0]), "%s", pg.port);
	dir = t_strf("%s", pg.host);
	*strrchr(dir, '/') = '\0';
	lock = t_strf("%s/replica-tests.lock", dir);
	rep.lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(rep.lockfd != -1, "%s: %s", lock, strerror(errno));
	cr_assert_eq(flock(rep.lockfd, exclusive ? LOCK_EX : LOCK_SH), 0, "flock %s: %s", lock,
	    strerror(errno));
	free(lock);
	free(dir);
	pg_db_new();
	rep.db = pg.db;
	rep.prim = pg.check;
	for (i = 0; i < 2; i++)
		rep.sb[i] = pq_connect(rep.sock, rep.port[i + 1], "postgres");
	rep_caught_up();
}

/* A cluster of the test's own, for a test that stops its servers. */
static void
rep_private(void)
{
	int	 i;

	rep_require();
	strcpy(rep.own, "/tmp/dbmd-pgrep-XXXXXX");
	cr_assert_not_null(mkdtemp(rep.own), "mkdtemp: %s", strerror(errno));
	cluster_ok("start", NULL);
	snprintf(rep.sock, sizeof(rep.sock), "%s/sock", rep.own);
	strcpy(rep.port[0], "5432");
	strcpy(rep.port[1], "5433");
	strcpy(rep.port[2], "5434");
	rep.db = "postgres";
	rep.prim = pq_connect(rep.sock, rep.port[0], rep.db);
	for (i = 0; i < 2; i++)
		rep.sb[i] = pq_connect(rep.sock, rep.port[i + 1], "postgres");
}

/* Pauses or resumes standby n's (0 or 1) replay; pausing waits until it is paused. */
static void
rep_pause(int n)
{
	int64_t	 end = t_now_ms() + 10000LL * t_slow();

	pq_exec0(rep.sb[n], "SELECT pg_wal_replay_pause()", 0, NULL);
	rep.paused[n] = 1;
	while (pq_num(rep.sb[n], "SELECT (pg_get_wal_replay_pause_state() = 'paused')::int", 0,
	    NULL) != 1) {
		cr_assert(t_now_ms() < end, "standby %s did not pause", rep.port[n + 1]);
		t_sleep_ms(10);
	}
}

static void
rep_resume(int n)
{
	pq_exec0(rep.sb[n], "SELECT pg_wal_replay_resume()", 0, NULL);
	rep.paused[n] = 0;
}

/* A write on the primary, committed: something for a paused standby not to replay. */
static void
rep_tick(void)
{
	pq_exec0(rep.prim, "INSERT INTO tick VALUES (1)", 0, NULL);
}

/* The role's URI over the three hosts of the cluster; the caller frees it. */
static char *
rep_uri(const char *target_session_attrs)
{
	return t_strf("postgresql://postgres@/%s?host=%s,%s,%s&port=%s,%s,%s&"
	    "target_session_attrs=%s", rep.db, rep.sock, rep.sock, rep.sock, rep.port[0],
	    rep.port[1], rep.port[2], target_session_attrs);
}

/*
 * Writes the configuration: production on the primary alone unless a role
 * says otherwise, without the result cache (a cached result would say
 * nothing of where a read ran), with the roles given as YAML lines indented
 * by six.  Then starts dbmd on it.
 */
static void
rep_dbmd_start(const char *roles)
{
	FILE	*fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp, "%s: %s", t_h.conf, strerror(errno));
	fprintf(fp, "environments:\n  production:\n"
	    "    uri: \"postgresql://postgres@/%s?host=%s&port=%s\"\n"
	    "    cache.size: 0\n    roles:\n%s", rep.db, rep.sock, rep.port[0], roles);
	fclose(fp);
	t_dbmd_start(&d, NULL);
}

/* dbmd exits cleanly: no sanitizer report, no leak, under make asan and valgrind. */
static void
rep_dbmd_stop(void)
{
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not exit cleanly: %s", t_dbmd_log(&d));
}

/* Where a handle's statement runs: "PORT true" on a standby, "PORT false" on the primary. */
static char *
where(dbm_handle *h)
{
	return t_value(h, "SELECT current_setting('port') || ' ' || pg_is_in_recovery()::text",
	    0, NULL);
}

/* Which of the cluster's servers a where() answer names: 0 primary, 1 or 2 a standby. */
static int
where_index(const char *w)
{
	int	 i;
	size_t	 n;

	for (i = 0; i < 3; i++) {
		n = strlen(rep.port[i]);
		if (strncmp(w, rep.port[i], n) == 0 && w[n] == ' ')
			return i;
	}
	cr_assert_fail("a statement ran on a server of port \"%s\", not one of the cluster's", w);
	return -1;
}

/* STATUS's HOSTS. */

/* What STATUS says of one host of a pool. */
struct host {
	char		 server[16];	/* primary, standby, unknown */
	char		 state[16];	/* up, down, lagging */
	char		 last_error[256];
	long long	 connections;
	long long	 statements;
	long long	 lag_ms;
};

/*
 * The HOSTS row of the pool hash for the cluster's server i (0 the
 * primary); 0 when the pool has no row for it.  STATUS without a HOSTS
 * result set fails the test.
 */
static int
host_get(dbm_conn *c, unsigned long long hash, int i, struct host *out)
{
	dbm_result		*r = dbm_status(c);
	const dbm_result	*s;
	char			 want[17], *suffix = t_strf(":%s", rep.port[i]);
	const char		*h;
	int			 col[8], row, found = 0;
	size_t			 n, sn = strlen(suffix);

	cr_assert_not_null(r, "STATUS: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "STATUS: %s", dbm_result_errmsg(r));
	for (s = r; s != NULL; s = dbm_result_next(s))
		if (dbm_colnum(s, "host") >= 0 && dbm_colnum(s, "lag_ms") >= 0)
			break;
	cr_assert_not_null(s, "STATUS has no HOSTS result set (host, server, state, ..., "
	    "lag_ms)");
	col[0] = dbm_colnum(s, "hash");
	col[1] = dbm_colnum(s, "host");
	col[2] = dbm_colnum(s, "server");
	col[3] = dbm_colnum(s, "state");
	col[4] = dbm_colnum(s, "last_error");
	col[5] = dbm_colnum(s, "connections");
	col[6] = dbm_colnum(s, "statements");
	col[7] = dbm_colnum(s, "lag_ms");
	for (n = 0; n < 8; n++)
		cr_assert(col[n] >= 0, "STATUS's HOSTS lacks a column (%zu)", n);
	snprintf(want, sizeof(want), "%016llx", hash);
	for (row = 0; row < dbm_nrows(s) && !found; row++) {
		h = dbm_value(s, row, col[1]);
		n = strlen(h);
		if (strcmp(dbm_value(s, row, col[0]), want) != 0 || n < sn ||
		    strcmp(h + n - sn, suffix) != 0)
			continue;
		found = 1;
		snprintf(out->server, sizeof(out->server), "%s", dbm_value(s, row, col[2]));
		snprintf(out->state, sizeof(out->state), "%s", dbm_value(s, row, col[3]));
		snprintf(out->last_error, sizeof(out->last_error), "%s",
		    dbm_value(s, row, col[4]));
		out->connections = atoll(dbm_value(s, row, col[5]));
		out->statements = atoll(dbm_value(s, row, col[6]));
		out->lag_ms = atoll(dbm_value(s, row, col[7]));
	}
	dbm_result_free(r);
	free(suffix);
	return found;
}

/* The row, which must be there. */
static struct host
host_of(dbm_conn *c, const dbm_handle *h, int i)
{
	struct host	 hs;

	memset(&hs, 0, sizeof(hs));
	cr_assert(host_get(c, dbm_handle_pool_hash(h), i, &hs), "STATUS's HOSTS has no row for "
	    "the pool %016llx and port %s", dbm_handle_pool_hash(h), rep.port[i]);
	return hs;
}

/*
 * Waits until the host's state and server read as given (NULL: any) and it
 * has at least min_conns connections; fails the test, saying what it saw,
 * when that does not happen within REP_WAIT_MS.
 */
static struct host
host_wait(dbm_conn *c, const dbm_handle *h, int i, const char *state, const char *server,
    long long min_conns)
{
	int64_t		 end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();
	struct host	 hs;

	for (;;) {
		hs = host_of(c, h, i);
		if ((state == NULL || strcmp(hs.state, state) == 0) &&
		    (server == NULL || strcmp(hs.server, server) == 0) &&
		    hs.connections >= min_conns)
			return hs;
		cr_assert(t_now_ms() < end, "port %s: want state %s, server %s, %lld connections "
		    "or more; it stays state %s, server %s, %lld connections, lag %lld ms, "
		    "last error \"%s\"", rep.port[i], state != NULL ? state : "any",
		    server != NULL ? server : "any", min_conns, hs.state, hs.server,
		    hs.connections, hs.lag_ms, hs.last_error);
		t_sleep_ms(20);
	}
}

/*
 * Holds a transaction on each of the n handles at once (so that each has a
 * connection of its own), asks each where it runs, and ends them; counts
 * the answers per server in seen[3].
 */
static void
hold_where(dbm_handle **h, int n, int seen[3])
{
	char	*w;
	int	 i, st;

	for (i = 0; i < n; i++) {
		st = dbm_begin(h[i]);
		cr_assert_eq(st, DBM_OK, "BEGIN: %s", dbm_strerror(st));
	}
	for (i = 0; i < n; i++) {
		w = where(h[i]);
		seen[where_index(w)]++;
		free(w);
	}
	for (i = 0; i < n; i++) {
		st = dbm_commit(h[i]);
		cr_assert_eq(st, DBM_OK, "COMMIT: %s", dbm_strerror(st));
	}
}

/*
 * n clients, each with a handle on production/read_only: a client holds
 * fewer transactions at once than the pool has connections
 * (max_pinned_per_client), so transactions held together need clients of
 * their own.
 */
static void
open_reads(dbm_conn **c, dbm_handle **h, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		c[i] = t_connect(&d);
		h[i] = t_open(c[i], "production", "read_only");
	}
}

static void
close_all(dbm_conn **c, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		dbm_disconnect(c[i]);
}

/* Spread. */

Test(replica, reads_spread_over_both_standbys, .fini = rep_teardown)
{
	dbm_conn	*c[4];
	dbm_handle	*h[4];
	char		*uri, *roles, *w;
	int		 seen[3] = { 0, 0, 0 }, i, st;
	struct host	 hs;

	rep_shared(0);
	uri = rep_uri("prefer-standby");
	roles = t_strf("      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 4\n", uri);
	rep_dbmd_start(roles);
	open_reads(c, h, 4);
	/* Four transactions at once: four connections, each opened on a host of its own choosing. */
	for (i = 0; i < 4; i++) {
		st = dbm_begin(h[i]);
		cr_assert_eq(st, DBM_OK, "BEGIN: %s", dbm_strerror(st));
		w = where(h[i]);
		cr_assert(strstr(w, " true") != NULL, "connection %d runs on %s: not a standby", i,
		    w);
		seen[where_index(w)]++;
		free(w);
	}
	cr_assert_eq(seen[0], 0, "the primary served %d of the reads", seen[0]);
	cr_assert(seen[1] > 0 && seen[2] > 0, "the reads are not spread: %d on %s, %d on %s",
	    seen[1], rep.port[1], seen[2], rep.port[2]);

	/* dbmd's view: both standbys up with connections, the primary known and unused. */
	for (i = 1; i <= 2; i++) {
		hs = host_wait(c[0], h[0], i, "up", "standby", 1);
		cr_assert_eq(hs.connections, seen[i], "port %s: STATUS says %lld connections, "
		    "the server %d", rep.port[i], hs.connections, seen[i]);
	}
	hs = host_wait(c[0], h[0], 0, "up", "primary", 0);
	cr_assert_eq(hs.connections, 0, "the primary has %lld of the read role's connections",
	    hs.connections);
	for (i = 0; i < 4; i++)
		cr_assert_eq(dbm_commit(h[i]), DBM_OK);
	close_all(c, 4);
	free(roles);
	free(uri);
	rep_dbmd_stop();
}

/* Lag. */

Test(replica, a_lagging_standby_gets_no_requests_until_it_catches_up, .fini = rep_teardown)
{
	dbm_conn	*cs[4], *c;
	dbm_handle	*h[4];
	char		*uri, *roles;
	int		 seen[3] = { 0, 0, 0 }, round;
	int64_t		 end;
	struct host	 hs;
	long long	 stmts;

	rep_shared(1);
	pq_exec0(rep.prim, "CREATE TABLE tick (n int)", 0, NULL);
	rep_caught_up();
	uri = rep_uri("standby");
	/* A connection lives a second: new ones keep being opened, each on a host that qualifies. */
	roles = t_strf("      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 4\n        max_lifetime: 1s\n        max_replica_lag: 300ms\n"
	    "        replica_check_interval: 50ms\n", uri);
	rep_dbmd_start(roles);
	open_reads(cs, h, 4);
	c = cs[0];
	hold_where(h, 4, seen);
	cr_assert(seen[1] > 0 && seen[2] > 0, "before any lag the reads are not spread: %d on %s, "
	    "%d on %s", seen[1], rep.port[1], seen[2], rep.port[2]);

	/* Standby 1 stops replaying while the primary goes on writing. */
	rep_pause(0);
	end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();
	for (;;) {
		rep_tick();
		if (host_get(c, dbm_handle_pool_hash(h[0]), 1, &hs) &&
		    strcmp(hs.state, "lagging") == 0 && hs.connections == 0)
			break;
		cr_assert(t_now_ms() < end, "standby %s, paused, is not seen lagging: state %s, "
		    "%lld connections, lag %lld ms", rep.port[1], hs.state, hs.connections,
		    hs.lag_ms);
		t_sleep_ms(50);
	}
	/* Three at once need new connections: none may be opened on the lagging standby. */
	stmts = host_of(c, h[0], 1).statements;
	for (round = 0; round < 20; round++) {
		memset(seen, 0, sizeof(seen));
		rep_tick();
		hold_where(h, 3, seen);
		cr_assert_eq(seen[2], 3, "round %d: %d reads on the lagging standby %s, %d on the "
		    "primary", round, seen[1], rep.port[1], seen[0]);
		t_sleep_ms(20);
	}
	hs = host_of(c, h[0], 1);
	cr_assert_eq(hs.statements, stmts, "the lagging standby ran %lld statements",
	    hs.statements - stmts);
	cr_assert_str_eq(hs.state, "lagging");
	cr_assert(hs.lag_ms > 300 || hs.lag_ms == -1, "lag_ms %lld of a lagging standby",
	    hs.lag_ms);

	/* Caught up again, it gets connections and requests again. */
	rep_resume(0);
	rep_caught_up();
	end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();
	for (;;) {
		memset(seen, 0, sizeof(seen));
		rep_tick();
		hold_where(h, 4, seen);
		if (seen[1] > 0)
			break;
		cr_assert(t_now_ms() < end, "standby %s, resumed, gets no reads (state %s)",
		    rep.port[1], host_of(c, h[0], 1).state);
		t_sleep_ms(50);
	}
	hs = host_wait(c, h[0], 1, "up", "standby", 0);
	cr_assert_gt(hs.statements, stmts, "STATUS counts no statement on the resumed standby");
	close_all(cs, 4);
	free(roles);
	free(uri);
	rep_dbmd_stop();
}

/* Read-your-writes. */

/*
 * The configuration of both read-your-writes tests: the primary role on
 * the server that is writable, the read role with one connection on each
 * standby (min_idle 2 of 2), read_your_writes as given; standby 1 paused
 * once both connections are open.  The reads go through a connection to
 * dbmd of their own (*cr), as a program's separate handles do: its write's
 * reply must not reach the program before dbmd knows where the write is.
 */
static dbm_conn *
ryw_start(int on, dbm_handle **hw, dbm_conn **cr, dbm_handle **hr)
{
	char		*urw, *uro, *roles;
	dbm_conn	*c;

	pq_exec0(rep.prim, "CREATE TABLE rw (id int PRIMARY KEY)", 0, NULL);
	rep_caught_up();
	urw = rep_uri("read-write");
	uro = rep_uri("prefer-standby");
	roles = t_strf("      primary:\n        uri: \"%s\"\n        pool_size: 2\n"
	    "      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 2\n        min_idle: 2\n        read_your_writes: %s\n"
	    "        replica_check_interval: 20ms\n", urw, uro, on ? "true" : "false");
	rep_dbmd_start(roles);
	c = t_connect(&d);
	*hw = t_open(c, "production", "primary");
	*cr = t_connect(&d);
	*hr = t_open(*cr, "production", "read_only");
	host_wait(c, *hr, 1, "up", "standby", 1);
	host_wait(c, *hr, 2, "up", "standby", 1);
	rep_pause(0);
	free(roles);
	free(uro);
	free(urw);
	return c;
}

Test(replica, read_your_writes_sees_every_write_with_a_standby_paused, .fini = rep_teardown,
    .timeout = 180)
{
	dbm_conn	*c, *cr;
	dbm_handle	*hw, *hr;
	char		 id[16], *v;
	int		 i, seen = 0;
	long long	 stmts;

	rep_shared(1);
	c = ryw_start(1, &hw, &cr, &hr);
	stmts = host_of(c, hr, 1).statements;
	for (i = 1; i <= 1000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		t_exec0(hw, "INSERT INTO rw VALUES ($1::int)", 1, (const char *[]){ id });
		v = t_value(hr, "SELECT count(*) FROM rw WHERE id = $1::int", 1,
		    (const char *[]){ id });
		seen += strcmp(v, "1") == 0;
		free(v);
	}
	cr_assert_eq(seen, 1000, "only %d of 1000 reads saw the write just made", seen);
	/* Every read followed a write that the paused standby never replayed. */
	cr_assert_eq(host_of(c, hr, 1).statements, stmts, "the paused standby ran %lld of the "
	    "reads", host_of(c, hr, 1).statements - stmts);
	/* The primary role's connections are on the primary. */
	v = where(hw);
	cr_assert_eq(where_index(v), 0, "the primary role runs on %s", v);
	free(v);
	dbm_disconnect(cr);
	dbm_disconnect(c);
	rep_dbmd_stop();
}

Test(replica, without_read_your_writes_a_paused_standby_serves_stale_reads,
    .fini = rep_teardown, .timeout = 180)
{
	dbm_conn	*c, *cr, *c2;
	dbm_handle	*hw, *hr[2];
	char		 id[16], *v;
	int		 i, k, stale = 0, st;

	rep_shared(1);
	c = ryw_start(0, &hw, &cr, &hr[0]);
	open_reads(&c2, &hr[1], 1);
	/* Both read connections at once: one of them is on the paused standby. */
	for (i = 1; i <= 1000 && stale == 0; i++) {
		snprintf(id, sizeof(id), "%d", i);
		t_exec0(hw, "INSERT INTO rw VALUES ($1::int)", 1, (const char *[]){ id });
		for (k = 0; k < 2; k++) {
			st = dbm_begin(hr[k]);
			cr_assert_eq(st, DBM_OK, "BEGIN: %s", dbm_strerror(st));
			v = t_value(hr[k], "SELECT count(*) FROM rw WHERE id = $1::int", 1,
			    (const char *[]){ id });
			stale += strcmp(v, "0") == 0;
			free(v);
		}
		for (k = 0; k < 2; k++)
			cr_assert_eq(dbm_commit(hr[k]), DBM_OK);
	}
	cr_assert_gt(stale, 0, "no read was stale in 1000 tries with a standby paused");
	dbm_disconnect(c2);
	dbm_disconnect(cr);
	dbm_disconnect(c);
	rep_dbmd_stop();
}

/* Failures. */

/* A thread reading on production/read_only until told to stop, keeping score. */
struct reader {
	const char	*sock;
	pthread_t	 th;
	atomic_int	 stop;
	atomic_llong	 ok, failed;
	atomic_llong	 on[3];		/* successful reads per server of the cluster */
	char		 bad[512];	/* the first failure that is not a connection error */
	char		 failure[512];	/* the first failure */
};

/*
 * A failure of a read on a server that went away is clear when it says
 * so: DBM_E_BACKEND, or SQLSTATE class 08 (connection exception) or 57P0x
 * (the server shutting down, crashed or going away), with a message.
 */
static int
conn_failure(int code, const char *sqlstate, const char *msg)
{
	if (msg == NULL || *msg == '\0')
		return 0;
	if (code == DBM_E_BACKEND)
		return 1;
	return code == DBM_E_SQL && (strncmp(sqlstate, "08", 2) == 0 ||
	    strncmp(sqlstate, "57P0", 4) == 0);
}

static void *
reader_main(void *arg)
{
	struct reader	*rd = arg;
	dbm_conn	*c = dbm_connect(rd->sock);
	dbm_handle	*h = NULL;
	dbm_result	*r;
	const char	*v;
	int		 code, i;

	if (dbm_errcode(c) != DBM_OK || (h = dbm_open(c, "production", "read_only", NULL)) ==
	    NULL) {
		snprintf(rd->bad, sizeof(rd->bad), "connect or open: %s", dbm_errmsg(c));
		atomic_fetch_add(&rd->failed, 1);
		goto out;
	}
	while (!atomic_load(&rd->stop)) {
		r = dbm_exec(h, "SELECT current_setting('port'), pg_sleep(0.002)", 0, NULL);
		if (r == NULL) {
			snprintf(rd->bad, sizeof(rd->bad), "the connection to dbmd failed: %s",
			    dbm_errmsg(c));
			atomic_fetch_add(&rd->failed, 1);
			break;
		}
		code = dbm_result_status(r);
		if (code == DBM_OK) {
			v = dbm_value(r, 0, 0);
			for (i = 0; i < 3; i++)
				if (strcmp(v, rep.port[i]) == 0)
					atomic_fetch_add(&rd->on[i], 1);
			atomic_fetch_add(&rd->ok, 1);
		} else {
			if (rd->failure[0] == '\0')
				snprintf(rd->failure, sizeof(rd->failure), "%s: SQLSTATE %s: %s",
				    dbm_strerror(code), dbm_result_sqlstate(r),
				    dbm_result_errmsg(r));
			if (!conn_failure(code, dbm_result_sqlstate(r), dbm_result_errmsg(r)) &&
			    rd->bad[0] == '\0')
				snprintf(rd->bad, sizeof(rd->bad), "%s: SQLSTATE %s: %s",
				    dbm_strerror(code), dbm_result_sqlstate(r),
				    dbm_result_errmsg(r));
			atomic_fetch_add(&rd->failed, 1);
		}
		dbm_result_free(r);
	}
out:
	dbm_disconnect(c);
	return NULL;
}

static struct reader readers[REP_READERS];

static void
readers_start(void)
{
	int	 i;

	for (i = 0; i < REP_READERS; i++) {
		memset(&readers[i], 0, sizeof(readers[i]));
		readers[i].sock = d.sock;
		cr_assert_eq(pthread_create(&readers[i].th, NULL, reader_main, &readers[i]), 0);
	}
}

static void
readers_stop(void)
{
	int	 i;

	for (i = 0; i < REP_READERS; i++)
		atomic_store(&readers[i].stop, 1);
	for (i = 0; i < REP_READERS; i++)
		pthread_join(readers[i].th, NULL);
}

/* The readers' totals: ok, failed, or on server i (which 3..5 name as 0..2). */
static long long
readers_sum(int what)
{
	long long	 n = 0;
	int		 i;

	for (i = 0; i < REP_READERS; i++)
		n += what == 0 ? atomic_load(&readers[i].ok) : what == 1 ?
		    atomic_load(&readers[i].failed) : atomic_load(&readers[i].on[what - 3]);
	return n;
}

/* Waits until the readers' total what reaches want; fails the test after REP_WAIT_MS. */
static void
readers_wait(int what, long long want, const char *why)
{
	int64_t	 end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();

	while (readers_sum(what) < want) {
		cr_assert(t_now_ms() < end, "%s: %lld, not %lld, within %d ms (ok %lld, failed "
		    "%lld, first failure: %s)", why, readers_sum(what), want,
		    REP_WAIT_MS * t_slow(), readers_sum(0), readers_sum(1), readers[0].failure);
		t_sleep_ms(10);
	}
}

Test(replica, a_standby_stopped_under_load_loses_only_the_reads_in_flight_on_it,
    .fini = rep_teardown, .timeout = 120)
{
	dbm_conn	*c;
	dbm_handle	*h;
	char		*uri, *roles;
	long long	 ok, failed, on1;
	int		 i;

	rep_private();
	uri = rep_uri("standby");
	roles = t_strf("      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 4\n        max_lifetime: 1s\n        connect_timeout: 2s\n"
	    "        replica_check_interval: 50ms\n", uri);
	rep_dbmd_start(roles);
	c = t_connect(&d);
	h = t_open(c, "production", "read_only");
	readers_start();
	readers_wait(4, 1, "reads on standby 1 before the stop");
	readers_wait(5, 1, "reads on standby 2 before the stop");
	cr_assert_eq(readers_sum(1), 0, "reads failed before any fault: %s", readers[0].failure);

	cluster_ok("stop-node", "standby1");
	ok = readers_sum(0);
	readers_wait(0, ok + 300, "reads after the stop");
	failed = readers_sum(1);
	cr_assert_leq(failed, 4, "%lld reads failed when one standby stopped; at most one per "
	    "connection of the pool (4) was in flight on it", failed);
	/* Then every read succeeds. */
	ok = readers_sum(0);
	readers_wait(0, ok + 300, "reads once the stop was noticed");
	cr_assert_eq(readers_sum(1), failed, "reads still fail long after the stop");
	for (i = 0; i < REP_READERS; i++)
		cr_assert_eq(readers[i].bad[0], '\0', "a read failed unclearly: %s",
		    readers[i].bad);
	cr_log_info("a standby stopped under %d readers: %lld reads failed (first: %s)",
	    REP_READERS, failed, readers[0].failure[0] != '\0' ? readers[0].failure :
	    readers[1].failure[0] != '\0' ? readers[1].failure : readers[2].failure);
	host_wait(c, h, 1, "down", NULL, 0);
	cr_assert_eq(host_of(c, h, 1).connections, 0);

	/* Back, it gets connections and reads again. */
	on1 = readers_sum(4);
	cluster_ok("start-node", "standby1");
	readers_wait(4, on1 + 1, "reads on standby 1 after it came back");
	host_wait(c, h, 1, "up", "standby", 1);
	readers_stop();
	cr_assert_eq(readers_sum(1), failed, "reads failed after the standby came back: %s",
	    readers[0].failure);
	dbm_disconnect(c);
	free(roles);
	free(uri);
	rep_dbmd_stop();
}

Test(replica, without_the_primary_reads_go_on_and_writes_recover_on_a_promoted_standby,
    .fini = rep_teardown, .timeout = 120)
{
	dbm_conn	*c;
	dbm_handle	*hw, *hr;
	dbm_result	*r;
	char		*urw, *uro, *roles, *v;
	int		 i, failures = 0, code;
	int64_t		 t0, end, longest = 0;
	char		 last[512] = "", sqlstate[8] = "";

	rep_private();
	urw = rep_uri("read-write");
	uro = rep_uri("prefer-standby");
	roles = t_strf("      primary:\n        uri: \"%s\"\n        pool_size: 2\n"
	    "        connect_timeout: 2s\n        acquire_timeout: 3s\n"
	    "        replica_check_interval: 50ms\n"
	    "      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 2\n        connect_timeout: 2s\n"
	    "        replica_check_interval: 50ms\n", urw, uro);
	rep_dbmd_start(roles);
	c = t_connect(&d);
	hw = t_open(c, "production", "primary");
	hr = t_open(c, "production", "read_only");
	t_exec0(hw, "CREATE TABLE w (id int)", 0, NULL);
	t_exec0(hw, "INSERT INTO w VALUES (1)", 0, NULL);
	rep_caught_up();
	v = where(hr);
	cr_assert_neq(where_index(v), 0, "the read role runs on the primary (%s)", v);
	free(v);

	cluster_ok("stop-node", "primary");
	PQfinish(rep.prim);
	rep.prim = NULL;
	for (i = 0; i < 20; i++) {
		v = t_value(hr, "SELECT count(*) FROM w", 0, NULL);
		cr_assert_str_eq(v, "1");
		free(v);
	}
	/* Writes fail, each soon and clearly; once dbmd knows, with a connection error. */
	for (i = 0; i < 3; i++) {
		t0 = t_now_ms();
		r = dbm_exec(hw, "INSERT INTO w VALUES (2)", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		code = dbm_result_status(r);
		cr_assert_neq(code, DBM_OK, "a write succeeded with the primary stopped");
		cr_assert(conn_failure(code, dbm_result_sqlstate(r), dbm_result_errmsg(r)),
		    "a write failed unclearly: %s: SQLSTATE %s: %s", dbm_strerror(code),
		    dbm_result_sqlstate(r), dbm_result_errmsg(r));
		snprintf(last, sizeof(last), "%s", dbm_result_errmsg(r));
		snprintf(sqlstate, sizeof(sqlstate), "%s", dbm_result_sqlstate(r));
		if (t_now_ms() - t0 > longest)
			longest = t_now_ms() - t0;
		dbm_result_free(r);
		failures++;
	}
	cr_log_info("a write with the primary stopped: SQLSTATE %s: %s", sqlstate, last);
	cr_assert_eq(strncmp(sqlstate, "08", 2), 0, "a write with the primary gone fails with "
	    "SQLSTATE %s (%s), not a connection exception (class 08)", sqlstate, last);
	cr_assert_leq(longest, 10000LL * t_slow(), "a write took %lld ms to fail", longest);
	v = t_value(hr, "SELECT count(*) FROM w", 0, NULL);
	cr_assert_str_eq(v, "1", "reads fail after the failed writes");
	free(v);

	/* Standby 1 promoted: writes through the same role work again, with no reload. */
	cr_assert_eq(pq_num(rep.sb[0], "SELECT pg_promote()::int", 0, NULL), 1,
	    "pg_promote() failed");
	end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();
	for (;;) {
		r = dbm_exec(hw, "INSERT INTO w VALUES (3)", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		code = dbm_result_status(r);
		if (code == DBM_OK) {
			dbm_result_free(r);
			break;
		}
		snprintf(last, sizeof(last), "%s: SQLSTATE %s: %s", dbm_strerror(code),
		    dbm_result_sqlstate(r), dbm_result_errmsg(r));
		dbm_result_free(r);
		cr_assert(t_now_ms() < end, "writes do not recover after the promotion: %s", last);
		t_sleep_ms(50);
	}
	v = where(hw);
	cr_assert_str_eq(v, "5433 false", "the primary role now runs on %s", v);
	free(v);
	v = t_value(hr, "SELECT count(*) FROM w WHERE id = 1", 0, NULL);
	cr_assert_str_eq(v, "1");
	free(v);
	dbm_disconnect(c);
	free(roles);
	free(uro);
	free(urw);
	rep_dbmd_stop();
}

/* Writes on a read role. */

/* In one transaction: where it runs, then a write, which must fail with 25006. */
static int
write_fails_25006(dbm_handle *h)
{
	dbm_result	*r;
	char		*w;
	int		 i, st = dbm_begin(h);

	cr_assert_eq(st, DBM_OK, "BEGIN: %s", dbm_strerror(st));
	w = where(h);
	i = where_index(w);
	free(w);
	r = t_exec_fails(h, "INSERT INTO tick VALUES (2)", 0, NULL, DBM_E_SQL);
	cr_assert_str_eq(dbm_result_sqlstate(r), "25006", "a write on the read role on port %s: "
	    "SQLSTATE %s (%s)", rep.port[i], dbm_result_sqlstate(r), dbm_result_errmsg(r));
	dbm_result_free(r);
	st = dbm_rollback(h);
	cr_assert_eq(st, DBM_OK, "ROLLBACK: %s", dbm_strerror(st));
	return i;
}

Test(replica, a_write_on_the_read_role_fails_25006_on_a_standby_and_on_the_primary_fallback,
    .fini = rep_teardown)
{
	dbm_conn	*c;
	dbm_handle	*h;
	char		*uri, *roles, *w;
	int64_t		 end;
	struct host	 h1, h2;

	rep_shared(1);
	pq_exec0(rep.prim, "CREATE TABLE tick (n int)", 0, NULL);
	rep_caught_up();
	uri = rep_uri("prefer-standby");
	roles = t_strf("      read_only:\n        uri: \"%s\"\n        read_only: true\n"
	    "        pool_size: 2\n        max_replica_lag: 300ms\n"
	    "        replica_check_interval: 50ms\n        lag_fallback: primary\n", uri);
	rep_dbmd_start(roles);
	c = t_connect(&d);
	h = t_open(c, "production", "read_only");
	cr_assert_neq(write_fails_25006(h), 0, "the read role ran on the primary with both "
	    "standbys current");

	/* Every standby lagging: reads fall back to the primary, writes still fail. */
	rep_pause(0);
	rep_pause(1);
	end = t_now_ms() + (int64_t)REP_WAIT_MS * t_slow();
	for (;;) {
		rep_tick();
		h1 = host_of(c, h, 1);
		h2 = host_of(c, h, 2);
		if (strcmp(h1.state, "lagging") == 0 && strcmp(h2.state, "lagging") == 0) {
			w = where(h);
			if (where_index(w) == 0) {
				free(w);
				break;
			}
			free(w);
		}
		cr_assert(t_now_ms() < end, "with both standbys paused, reads are not on the "
		    "primary: standby states %s (lag %lld ms) and %s (lag %lld ms)", h1.state,
		    h1.lag_ms, h2.state, h2.lag_ms);
		t_sleep_ms(50);
	}
	w = where(h);
	cr_assert(where_index(w) == 0 && strstr(w, " false") != NULL, "a read with both "
	    "standbys lagging ran on %s", w);
	free(w);
	cr_assert_eq(write_fails_25006(h), 0, "the fallback read ran on a standby");
	dbm_disconnect(c);
	free(roles);
	free(uri);
	rep_dbmd_stop();
}
