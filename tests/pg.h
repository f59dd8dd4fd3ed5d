/* pg.h: a database of the test's own on the shared PostgreSQL server, seen from both sides. */

/*
 * Header-only for the reason harness.h is: the Makefile builds each
 * tests/test_*.c on its own and has no rule for shared test sources, so
 * everything here is static and marked unused (T_FN).
 *
 * tests/pg_harness.sh starts one private PostgreSQL server for the whole run
 * and names it in TEST_PGHOST, TEST_PGPORT, TEST_PGDATA, TEST_PGBIN and
 * TEST_PGRUNAS.  Several test programs, and Criterion's parallel workers,
 * share that server, so every test makes a database of its own
 * (dbmdtest_<pid>_<n>, dropped at teardown) and looks at the server's side
 * (pg_stat_activity, pg_locks) only for that database: tests never see each
 * other's connections, tables or locks.  Without a server the tests skip,
 * unless CI=true, when they fail: CI must never pass by skipping them.
 *
 * A suite names pg_setup and pg_teardown as its .init and .fini, or calls
 * them from its own.  The dbmd of a test serves the environment production
 * on the test's database (pg_dbmd_start), whose primary role bg uses.
 */

#ifndef DBMD_TEST_PG_H
#define DBMD_TEST_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

/* This test's view of PostgreSQL. */
static struct {
	const char	*host;		/* TEST_PGHOST: the shared server's socket directory */
	const char	*port;		/* TEST_PGPORT */
	char		 db[64];	/* the test's database on it, "" until made */
	PGconn		*admin;		/* to "postgres" on the shared server, as superuser */
	PGconn		*check;		/* to the test's database, for its tables and locks */
} pg;

/* Setup and teardown. */

T_FN void
pg_setup(void)
{
	memset(&pg, 0, sizeof(pg));
	t_setup();
}

/* dbmd and the test's directory first (t_teardown), then the test's database. */
T_FN void
pg_teardown(void)
{
	char	*sql;

	t_teardown();
	if (pg.check != NULL)
		PQfinish(pg.check);
	pg.check = NULL;
	if (pg.admin != NULL && pg.db[0] != '\0') {
		sql = t_strf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pg.db);
		PQclear(PQexec(pg.admin, sql));
		free(sql);
	}
	if (pg.admin != NULL)
		PQfinish(pg.admin);
	pg.admin = NULL;
	pg.db[0] = '\0';
}

/*
 * The server of tests/pg_harness.sh must be there: the test skips without
 * it, or fails under CI=true.  A test asks before it makes anything, so
 * pg_teardown here cleans up all there is; a suite's own teardown has
 * nothing more to do yet.
 */
T_FN void
pg_require(void)
{
	const char	*ci = getenv("CI");

	pg.host = getenv("TEST_PGHOST");
	pg.port = getenv("TEST_PGPORT");
	if (pg.port == NULL || *pg.port == '\0')
		pg.port = "5432";
	if (pg.host != NULL && *pg.host != '\0')
		return;
	if (ci != NULL && strcmp(ci, "true") == 0)
		cr_assert_fail("TEST_PGHOST is not set, and CI=true: the PostgreSQL tests must "
		    "run with the server tests/pg_harness.sh starts (make check)");
	/* Criterion 2.4 does not run .fini after a skip: clean up first. */
	pg_teardown();
	cr_skip_test("no PostgreSQL server: TEST_PGHOST is not set (make check starts one)");
}

/* libpq, for the server's side of things. */

T_FN PGconn *
pq_connect(const char *host, const char *port, const char *db)
{
	const char *const kw[] = { "host", "port", "user", "dbname", "application_name",
	    "connect_timeout", NULL };
	const char *const val[] = { host, port, "postgres", db, "dbmd-test", "10", NULL };
	PGconn		*c = PQconnectdbParams(kw, val, 0);

	cr_assert(c != NULL && PQstatus(c) == CONNECTION_OK, "libpq: connect to %s on %s: %s",
	    db, host, c != NULL ? PQerrorMessage(c) : "out of memory");
	return c;
}

/* Runs a statement that must succeed; the caller clears the result. */
T_FN PGresult *
pq_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult	*r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	int		 st = PQresultStatus(r);

	cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "libpq: %s: %s", sql,
	    PQresultErrorMessage(r));
	return r;
}

T_FN void
pq_exec0(PGconn *c, const char *sql, int n, const char *const *params)
{
	PQclear(pq_exec(c, sql, n, params));
}

/* The one value of a statement, as a number. */
T_FN long long
pq_num(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult	*r = pq_exec(c, sql, n, params);
	long long	 v;

	cr_assert(PQntuples(r) == 1 && PQnfields(r) == 1, "libpq: %s: %d rows", sql,
	    PQntuples(r));
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* The one value of a statement, copied; the caller frees it. */
T_FN char *
pq_str(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult	*r = pq_exec(c, sql, n, params);
	char		*v;

	cr_assert(PQntuples(r) == 1 && PQnfields(r) == 1, "libpq: %s: %d rows", sql,
	    PQntuples(r));
	v = t_strf("%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/*
 * Connections dbmd holds to a database right now under its default
 * application_name, dbmd (a URI may name another).
 */
T_FN long long
pq_dbmd_backends(PGconn *c, const char *db)
{
	return pq_num(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
	    "application_name = 'dbmd'", 1, (const char *[]){ db });
}

/*
 * Waits up to ms (scaled) for a statement matching the LIKE pattern to be
 * running on a database; returns its backend's pid, or 0 when none came.
 */
T_FN long long
pq_wait_active(PGconn *c, const char *db, const char *pattern, int ms)
{
	int64_t		 end = t_now_ms() + (int64_t)ms * t_slow();
	long long	 pid;

	for (;;) {
		pid = pq_num(c, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE "
		    "datname = $1 AND state = 'active' AND query LIKE $2 AND "
		    "pid <> pg_backend_pid()", 2, (const char *[]){ db, pattern });
		if (pid != 0 || t_now_ms() >= end)
			return pid;
		t_sleep_ms(20);
	}
}

/* Statements matching pattern running on db now. */
T_FN long long
pq_count_active(PGconn *c, const char *db, const char *pattern)
{
	return pq_num(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
	    "state = 'active' AND query LIKE $2 AND pid <> pg_backend_pid()", 2,
	    (const char *[]){ db, pattern });
}

/* The test's database. */

/*
 * Makes the test's database on the shared server, UTF-8 whatever the
 * server's locale, and connects pg.admin and pg.check.
 */
T_FN void
pg_db_new(void)
{
	static unsigned	 seq;
	char		*sql;

	pg_require();
	snprintf(pg.db, sizeof(pg.db), "dbmdtest_%ld_%u", (long)getpid(), seq++);
	pg.admin = pq_connect(pg.host, pg.port, "postgres");
	sql = t_strf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' "
	    "LC_COLLATE 'C' LC_CTYPE 'C'", pg.db);
	pq_exec0(pg.admin, sql, 0, NULL);
	free(sql);
	pg.check = pq_connect(pg.host, pg.port, pg.db);
}

/* A URI for the test's database on the shared server; the caller frees it. */
T_FN char *
pg_uri(void)
{
	return t_strf("postgresql://postgres@/%s?host=%s&port=%s", pg.db, pg.host, pg.port);
}

/* dbmd on it. */

/*
 * Starts dbmd with production on uri (NULL: the test's database) and the
 * NULL-terminated --set arguments after it, and waits until it serves.
 */
T_FN void
pg_dbmd_start(struct t_dbmd *d, const char *uri, ...)
{
	const char	*sets[20], *s;
	char		*u = uri != NULL ? t_strf("%s", uri) : pg_uri();
	char		*uset = t_strf("production.uri=%s", u);
	size_t		 n = 0;
	va_list		 ap;

	sets[n++] = uset;
	va_start(ap, uri);
	while ((s = va_arg(ap, const char *)) != NULL) {
		cr_assert(n < 19, "too many --set arguments");
		sets[n++] = s;
	}
	va_end(ap);
	sets[n] = NULL;
	t_dbmd_start(d, sets);
	free(uset);
	free(u);
}

/*
 * Stops dbmd, which must exit 0; a sanitizer's report (make asan) shows as
 * another exit code, and its log is then part of the failure.
 */
T_FN void
pg_dbmd_stop(struct t_dbmd *d)
{
	int	 code = t_dbmd_stop(d);
	char	*log;

	if (code == 0)
		return;
	log = t_dbmd_log(d);
	cr_assert_fail("dbmd exited with status %d; its log:\n%s", code, log);
}

/* A number from the status's pools result set for h's pool, which must be listed. */
T_FN long long
pool_num(dbm_conn *c, const dbm_handle *h, const char *col)
{
	char		*v = t_pool_field(c, dbm_handle_pool_hash(h), col);
	long long	 n;

	cr_assert_not_null(v, "the pool %016llx is not in the status",
	    dbm_handle_pool_hash(h));
	n = atoll(v);
	free(v);
	return n;
}

/*
 * Waits until the pool's status column col reads want (connections being reset after
 * their handle finish in the background); returns the last value read.
 */
T_FN long long
pool_num_wait(dbm_conn *c, const dbm_handle *h, const char *col, long long want)
{
	int64_t		 end = t_now_ms() + 5000LL * t_slow();
	long long	 n;

	while ((n = pool_num(c, h, col)) != want && t_now_ms() < end)
		t_sleep_ms(10);
	return n;
}

/*
 * One statement on production/primary, on a thread and a connection of its
 * own, for statements that must run while the test does something else
 * (kills a backend, restarts the server, signals dbmd).  Criterion's
 * assertions must not run on other threads: the outcome is written down.
 */
struct bg {
	const char	*sock;
	char		 sql[128];
	const char	*then;		/* NULL, or a statement to run next on the same handle */
	pthread_t	 th;
	atomic_int	 done;
	int64_t		 ended_ms;	/* when its reply (or the loss of dbmd) came */
	int		 code;		/* the result's status, or the conn's error */
	char		 sqlstate[8];
	char		 msg[512];
	int		 then_code;	/* the same for the follow-up statement */
	char		 then_msg[512];
	char		 then_value[64];
};

T_FN void *
bg_main(void *arg)
{
	struct bg	*b = arg;
	dbm_conn	*c = dbm_connect(b->sock);
	dbm_handle	*h = NULL;
	dbm_result	*r;

	if (dbm_errcode(c) != DBM_OK ||
	    (h = dbm_open(c, "production", "primary", NULL)) == NULL) {
		b->code = dbm_errcode(c);
		snprintf(b->msg, sizeof(b->msg), "connect or open: %s", dbm_errmsg(c));
		goto out;
	}
	r = dbm_exec(h, b->sql, 0, NULL);
	b->ended_ms = t_now_ms();
	if (r == NULL) {
		b->code = dbm_errcode(c);
		snprintf(b->msg, sizeof(b->msg), "%s", dbm_errmsg(c));
	} else {
		b->code = dbm_result_status(r);
		snprintf(b->sqlstate, sizeof(b->sqlstate), "%s", dbm_result_sqlstate(r));
		snprintf(b->msg, sizeof(b->msg), "%s", dbm_result_errmsg(r));
	}
	dbm_result_free(r);
	if (b->then == NULL)
		goto out;
	if ((r = dbm_exec(h, b->then, 0, NULL)) == NULL) {
		b->then_code = dbm_errcode(c);
		snprintf(b->then_msg, sizeof(b->then_msg), "%s", dbm_errmsg(c));
	} else {
		b->then_code = dbm_result_status(r);
		snprintf(b->then_msg, sizeof(b->then_msg), "%s", dbm_result_errmsg(r));
		if (b->then_code == DBM_OK && dbm_nrows(r) > 0)
			snprintf(b->then_value, sizeof(b->then_value), "%s", dbm_value(r, 0, 0));
	}
	dbm_result_free(r);
out:
	dbm_disconnect(c);
	atomic_store(&b->done, 1);
	return NULL;
}

/* Starts sql on d, then (unless then is NULL) then on the same handle. */
T_FN void
bg_start_then(struct bg *b, const struct t_dbmd *d, const char *sql, const char *then)
{
	memset(b, 0, sizeof(*b));
	b->sock = d->sock;
	b->code = b->then_code = -1;
	b->then = then;
	snprintf(b->sql, sizeof(b->sql), "%s", sql);
	cr_assert_eq(pthread_create(&b->th, NULL, bg_main, b), 0);
}

T_FN void
bg_start(struct bg *b, const struct t_dbmd *d, const char *sql)
{
	bg_start_then(b, d, sql, NULL);
}

/* Waits up to ms (scaled) for the statement's reply; 1 when it came. */
T_FN int
bg_wait(struct bg *b, int ms)
{
	int64_t	 end = t_now_ms() + (int64_t)ms * t_slow();

	while (!atomic_load(&b->done)) {
		if (t_now_ms() >= end)
			return 0;
		t_sleep_ms(10);
	}
	pthread_join(b->th, NULL);
	return 1;
}

#endif /* DBMD_TEST_PG_H */
