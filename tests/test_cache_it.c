/* test_cache_it.c: dbmd's result cache end to end, on a SQLite file and on PostgreSQL. */

/*
 * Every behaviour here is proved twice by one body that takes the backend
 * as its argument (BOTH): in the suite cache_sqlite on a SQLite file in the
 * test's directory (the environment staging), and in the suite cache_pg on a
 * database of the test's own on the server tests/pg_harness.sh starts (the
 * environment production).  Without that server the PostgreSQL half skips,
 * unless CI=true, when it fails (tests/pg.h).
 *
 * The environment has four roles on the one database, each a pool of its
 * own: primary; reports, read-only; etl, writable but with another
 * pool_size, so that writes through another pool can be told from writes
 * through the same one; alias, read-only, whose URI names the same database
 * in other words (a path with "/./" in it; PostgreSQL's default port left
 * out).
 *
 * What the cache did is read from two places: the state each result carries
 * (dbm_cache_state) and the counters of the pool's row in STATUS.  Counters
 * are compared before and after, never as absolute values, since creating
 * the test's table already counts.
 */

#include <sys/types.h>

#include <criterion/criterion.h>

#include "pg.h"

/* One timeout for every suite: Criterion 2.4 leaks when suites with different ones share a run. */
#define SUITE(name) \
	TestSuite(name, .init = it_setup, .fini = it_teardown, .timeout = 60)

static void it_setup(void);
static void it_teardown(void);

SUITE(cache_sqlite);
SUITE(cache_pg);

#define AGE		60000UL		/* cache_max_age_ms of an ordinary cacheable read */
#define Q		"SELECT k, v FROM items ORDER BY k"
#define P(...)		((const char *const []){ __VA_ARGS__ })
#define NRACERS		6

/* A backend, and the SQL that differs between them. */
struct be {
	const char	*env;		/* the environment the test's database is in */
	int		 pg;		/* 1: PostgreSQL, 0: SQLite */
};

static const struct be SQ = { "staging", 0 };
static const struct be PG = { "production", 1 };

/*
 * The rows of the slow read: a few hundred milliseconds' work.  SQLite runs inside
 * dbmd, so under valgrind it runs t_slow() times slower and counts fewer.
 */
static int
slow_rows(const struct be *be)
{
	return be->pg ? 3000000 : 3000000 / t_slow();
}

/* A cacheable read of a few hundred ms giving slow_rows(), in buf. */
static const char *
slow_sql(const struct be *be, char *buf, size_t size)
{
	if (be->pg)
		snprintf(buf, size, "SELECT count(*) FROM generate_series(1, %d)",
		    slow_rows(be));
	else
		snprintf(buf, size, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
		    "FROM c WHERE x < %d) SELECT count(*) FROM c", slow_rows(be));
	return buf;
}

/* A behaviour, proved on both backends: the body follows the macro. */
#define BOTH(name) \
	static void name(const struct be *); \
	Test(cache_sqlite, name) { name(&SQ); } \
	Test(cache_pg, name) { name(&PG); } \
	static void name(const struct be *be)

/*
 * What a test has open, for the teardown to close when an assertion ended
 * the test early: nothing is then left for LeakSanitizer (make asan), and a
 * dbmd still running gets SIGTERM, so that a sanitizer's report in its log
 * is not lost to the SIGKILL of t_teardown.
 */
static struct {
	pid_t		 pid;		/* the test's dbmd, 0 before it_start or after it_stop */
	char		 log[PATH_MAX];	/* its log */
	dbm_conn	*conns[8];	/* open connections */
} it_res;

static void
it_setup(void)
{
	memset(&it_res, 0, sizeof(it_res));
	pg_setup();
}

/* Connections, then dbmd and the test's directory, then the test's database. */
static void
it_teardown(void)
{
	char		*log;
	size_t		 i;
	int		 st;

	for (i = 0; i < sizeof(it_res.conns) / sizeof(it_res.conns[0]); i++) {
		dbm_disconnect(it_res.conns[i]);
		it_res.conns[i] = NULL;
	}
	if (it_res.pid != 0 && t_h.owner == getpid()) {
		kill(it_res.pid, SIGTERM);
		if (!t_wait_pid(it_res.pid, T_STOP_MS * t_slow(), &st))
			t_kill_pid(it_res.pid);
		log = t_slurp(it_res.log);
		if (strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL)
			cr_log_error("dbmd's log has a sanitizer's report:\n%s", log);
		free(log);
	}
	it_res.pid = 0;
	pg_teardown();
}

/*
 * The test's dbmd.
 */

/* A running dbmd on the test's database, with one connection and a primary handle on it. */
struct it {
	const struct be	*be;
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;		/* c's handle on ENV/primary */
};

/* A connection to the test's dbmd, closed at teardown unless it_close closes it first. */
static dbm_conn *
it_connect(struct it *t)
{
	size_t	 i;

	for (i = 0; i < sizeof(it_res.conns) / sizeof(it_res.conns[0]); i++)
		if (it_res.conns[i] == NULL)
			return it_res.conns[i] = t_connect(&t->d);
	cr_assert_fail("a test here may open at most %zu connections", i);
	return NULL;
}

static void
it_close(dbm_conn *c)
{
	size_t	 i;

	for (i = 0; i < sizeof(it_res.conns) / sizeof(it_res.conns[0]); i++)
		if (it_res.conns[i] == c)
			it_res.conns[i] = NULL;
	dbm_disconnect(c);
}

/*
 * Starts dbmd with the environment on the test's database and its four
 * roles, plus the NULL-terminated environment keys after be (without the
 * environment's name, e.g. "cache.ttl=300ms"); opens t->h and makes the
 * table items with the one row (a, 1).
 */
static void
it_start(struct it *t, const struct be *be, ...)
{
	char		*sets[24], *uri, *alias, *s;
	size_t		 n = 0, i;
	va_list		 ap;

	memset(t, 0, sizeof(*t));
	t->be = be;
	if (be->pg) {
		pg_db_new();
		uri = pg_uri();
		/* libpq's default port, left out; or else the socket directory with a '/' more. */
		if (strcmp(pg.port, "5432") == 0)
			alias = t_strf("postgresql://postgres@/%s?host=%s", pg.db, pg.host);
		else
			alias = t_strf("postgresql://postgres@/%s?host=%s/&port=%s", pg.db, pg.host,
			    pg.port);
	} else {
		uri = t_strf("sqlite:%s/c.db", t_h.dir);
		alias = t_strf("sqlite:%s/./c.db", t_h.dir);
	}
	sets[n++] = t_strf("%s.uri=%s", be->env, uri);
	sets[n++] = t_strf("%s.reports.uri=%s", be->env, uri);
	sets[n++] = t_strf("%s.reports.read_only=true", be->env);
	sets[n++] = t_strf("%s.etl.uri=%s", be->env, uri);
	sets[n++] = t_strf("%s.etl.pool_size=3", be->env);
	sets[n++] = t_strf("%s.alias.uri=%s", be->env, alias);
	sets[n++] = t_strf("%s.alias.read_only=true", be->env);
	va_start(ap, be);
	while ((s = va_arg(ap, char *)) != NULL) {
		cr_assert(n < 23, "too many settings");
		sets[n++] = t_strf("%s.%s", be->env, s);
	}
	va_end(ap);
	sets[n] = NULL;
	t_dbmd_start(&t->d, (const char *const *)sets);
	for (i = 0; i < n; i++)
		free(sets[i]);
	free(uri);
	free(alias);
	it_res.pid = t->d.pid;
	snprintf(it_res.log, sizeof(it_res.log), "%s", t->d.log);
	t->c = it_connect(t);
	t->h = t_open(t->c, be->env, "primary");
	t_exec0(t->h, "CREATE TABLE items (k text PRIMARY KEY, v text)", 0, NULL);
	t_exec0(t->h, "INSERT INTO items VALUES ($1, $2)", 2, P("a", "1"));
}

/*
 * Stops dbmd, which must exit 0 with nothing from a sanitizer in its log
 * (make asan: a report shows as another exit code, and the log says what).
 */
static void
it_stop(struct it *t)
{
	size_t	 i;
	int	 code, bad;
	char	 tail[8192];
	char	*log;

	for (i = 0; i < sizeof(it_res.conns) / sizeof(it_res.conns[0]); i++)
		if (it_res.conns[i] != NULL)
			it_close(it_res.conns[i]);
	t->c = NULL;
	it_res.pid = 0;		/* stopped here, whatever the verdict */
	code = t_dbmd_stop(&t->d);
	log = t_dbmd_log(&t->d);
	bad = code != 0 || strstr(log, "Sanitizer") != NULL ||
	    strstr(log, "runtime error") != NULL;
	/* The end of the log, which is where a sanitizer writes. */
	snprintf(tail, sizeof(tail), "%s", log + (strlen(log) > sizeof(tail) - 1 ?
	    strlen(log) - (sizeof(tail) - 1) : 0));
	free(log);
	cr_assert(!bad, "dbmd exited with status %d; its log ends:\n%s", code, tail);
}

/* Another connection to the test's dbmd, with a handle on role. */
static dbm_handle *
it_open(struct it *t, dbm_conn **c, const char *role)
{
	*c = it_connect(t);
	return t_open(*c, t->be->env, role);
}

/*
 * Statements and what the cache made of them.
 */

#define TEXT_MAX	1024

/*
 * What one statement gave, copied out of its result so that the result is
 * freed before anything is asserted about it.
 */
struct got {
	int	 status;		/* dbm_result_status */
	int	 state;			/* dbm_cache_state */
	int	 nrows;
	char	 err[512];		/* the error and its SQLSTATE, "" when none */
	char	 tag[64];		/* dbm_cmdtag */
	char	 last[128];		/* the last column of the last row */
	char	 text[TEXT_MAX];	/* see got_text */
};

static void
text_cat(char *buf, size_t *len, const char *a, const char *b)
{
	int	 n = snprintf(buf + *len, TEXT_MAX - *len, "%s%s", a, b);

	*len += n > 0 ? (size_t)n : 0;
	if (*len >= TEXT_MAX)
		*len = TEXT_MAX - 1;	/* truncated: only the big result is, and is not compared */
}

/*
 * The result as text: the column names, then each row, rows after ';' and
 * columns after '|', SQL NULL as \N.
 */
static void
got_text(struct got *g, const dbm_result *r)
{
	size_t	 len = 0;
	int	 row, col;

	g->text[0] = '\0';
	for (col = 0; col < dbm_ncols(r); col++)
		text_cat(g->text, &len, col ? "|" : "", dbm_colname(r, col));
	for (row = 0; row < dbm_nrows(r); row++)
		for (col = 0; col < dbm_ncols(r); col++)
			text_cat(g->text, &len, col ? "|" : ";",
			    dbm_isnull(r, row, col) ? "\\N" : dbm_value(r, row, col));
}

/*
 * Runs a statement, asking for the cache (age > 0) or not (0), which must
 * end with status (DBM_OK, DBM_E_SQL, ...); what it gave is in *g.
 */
static void
run(dbm_handle *h, unsigned long age, const char *sql, int n, const char *const *params,
    int status, struct got *g)
{
	struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;
	dbm_result		*r;

	memset(g, 0, sizeof(*g));
	o.cache_max_age_ms = age;
	r = dbm_exec_opts(h, sql, n, params, &o);
	cr_assert_not_null(r, "%s: the connection failed", sql);
	g->status = dbm_result_status(r);
	g->state = dbm_cache_state(r);
	g->nrows = dbm_nrows(r);
	if (g->status != DBM_OK)
		snprintf(g->err, sizeof(g->err), "%s: %s (SQLSTATE %s)",
		    dbm_strerror(g->status), dbm_result_errmsg(r), dbm_result_sqlstate(r));
	snprintf(g->tag, sizeof(g->tag), "%s", dbm_cmdtag(r));
	if (g->nrows > 0 && dbm_ncols(r) > 0)
		snprintf(g->last, sizeof(g->last), "%s",
		    dbm_value(r, g->nrows - 1, dbm_ncols(r) - 1));
	got_text(g, r);
	dbm_result_free(r);
	cr_assert_eq(g->status, status, "%s: %s, not %s", sql,
	    g->status == DBM_OK ? "it succeeded" : g->err, dbm_strerror(status));
}

static const char *
state_name(int s)
{
	switch (s) {
	case DBM_CACHE_BYPASS:
		return "BYPASS";
	case DBM_CACHE_MISS:
		return "MISS";
	case DBM_CACHE_HIT:
		return "HIT";
	}
	return "an unknown cache state";
}

/*
 * Runs sql, which must succeed with the cache state want; unless want_rows
 * is NULL its rows (got_text without the column names) must be those.
 */
static void
expect(dbm_handle *h, unsigned long age, const char *sql, int n, const char *const *params,
    int want, const char *want_rows)
{
	struct got	 g;
	const char	*rows;

	run(h, age, sql, n, params, DBM_OK, &g);
	rows = strchr(g.text, ';');
	rows = rows != NULL ? rows + 1 : "";
	cr_assert_eq(g.state, want, "%s: %s, not %s (rows: %s)", sql, state_name(g.state),
	    state_name(want), rows);
	if (want_rows != NULL)
		cr_assert_str_eq(rows, want_rows, "%s (%s): rows %s, not %s", sql,
		    state_name(g.state), rows, want_rows);
}

/* A pool's cache counters in STATUS. */
struct cst {
	long long	 entries, hits, misses, bypasses, expirations, invalidations, statements;
	long long	 bytes, evictions;
	long long	 active;	/* connections running a statement now */
};

/* The counters of h's pool, read through c. */
static struct cst
cst_get(dbm_conn *c, const dbm_handle *h)
{
	static const char *const cols[] = { "cache_entries", "cache_hits", "cache_misses",
	    "cache_bypasses", "cache_expirations", "cache_invalidations", "statements",
	    "cache_bytes", "cache_evictions", "active" };
	dbm_result		*r = dbm_status(c);
	const dbm_result	*pools;
	struct cst		 s;
	long long		*v[] = { &s.entries, &s.hits, &s.misses, &s.bypasses,
				    &s.expirations, &s.invalidations, &s.statements, &s.bytes,
				    &s.evictions, &s.active };
	char			 want[17], bad[128] = "";
	size_t			 k;
	int			 i = 0, hc, col;

	cr_assert_not_null(r, "STATUS: %s", dbm_errmsg(c));
	snprintf(want, sizeof(want), "%016llx", dbm_handle_pool_hash(h));
	pools = dbm_result_next(r);
	if (dbm_result_status(r) != DBM_OK || pools == NULL ||
	    (hc = dbm_colnum(pools, "hash")) < 0)
		snprintf(bad, sizeof(bad), "STATUS failed or has no pools with hashes: %s",
		    dbm_result_errmsg(r));
	else {
		for (i = 0; i < dbm_nrows(pools); i++)
			if (strcmp(dbm_value(pools, i, hc), want) == 0)
				break;
		if (i == dbm_nrows(pools))
			snprintf(bad, sizeof(bad), "the pool %s is not in STATUS", want);
	}
	for (k = 0; bad[0] == '\0' && k < sizeof(cols) / sizeof(cols[0]); k++) {
		if ((col = dbm_colnum(pools, cols[k])) < 0)
			snprintf(bad, sizeof(bad), "STATUS pools lack the column %s", cols[k]);
		else
			*v[k] = atoll(dbm_value(pools, i, col));
	}
	dbm_result_free(r);
	cr_assert_str_empty(bad, "%s", bad);
	return s;
}

/* Asserts how far each counter moved from before to after. */
#define CST_MOVED(before, after, field, by) \
	cr_assert_eq((after).field - (before).field, (by), "cache counter %s moved by %lld, " \
	    "not %lld", #field, (after).field - (before).field, (long long)(by))

/*
 * 1. The basic round: MISS, then HIT with the same rows; BYPASS unasked.
 */

BOTH(a_cacheable_read_misses_then_hits_with_identical_rows)
{
	struct it	 t;
	struct cst	 s0, s1, s2, s3;
	struct got	 miss, hit;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	expect(t.h, 0, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	run(t.h, AGE, Q, 0, NULL, DBM_OK, &miss);
	cr_assert_eq(miss.state, DBM_CACHE_MISS, "the first cacheable read: %s",
	    state_name(miss.state));
	cr_assert_str_eq(miss.text, "k|v;a|1");
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, misses, 1);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, entries, 1);
	CST_MOVED(s0, s1, statements, 2);
	cr_assert_gt(s1.bytes, s0.bytes, "cache_bytes did not grow with the entry");

	run(t.h, AGE, Q, 0, NULL, DBM_OK, &hit);
	cr_assert_eq(hit.state, DBM_CACHE_HIT, "the second cacheable read: %s",
	    state_name(hit.state));
	cr_assert_str_eq(hit.text, miss.text, "the hit's rows differ from the miss's");
	cr_assert_str_eq(hit.tag, miss.tag, "the hit's command tag differs from the miss's");
	cr_assert_eq(hit.nrows, 1);
	s2 = cst_get(t.c, t.h);
	CST_MOVED(s1, s2, hits, 1);
	CST_MOVED(s1, s2, misses, 0);
	CST_MOVED(s1, s2, entries, 0);
	CST_MOVED(s1, s2, statements, 0);	/* a hit never reaches the database */

	/* Cached or not, a read that does not ask for the cache runs. */
	expect(t.h, 0, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	s3 = cst_get(t.c, t.h);
	CST_MOVED(s2, s3, hits, 0);
	CST_MOVED(s2, s3, statements, 1);
	it_stop(&t);
}

/*
 * 2. Writes invalidate: through another connection, and through another pool.
 */

BOTH(writes_through_another_handle_or_role_invalidate)
{
	struct it	 t;
	struct cst	 s0, s1;
	dbm_conn	*c2, *c3;
	dbm_handle	*w, *rep, *etl;

	it_start(&t, be, NULL);
	w = it_open(&t, &c2, "primary");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");

	s0 = cst_get(t.c, t.h);
	t_exec0(w, "INSERT INTO items VALUES ($1, $2)", 2, P("b", "2"));
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, invalidations, 1);
	CST_MOVED(s0, s1, entries, -1);
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1;b|2");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1;b|2");

	t_exec0(w, "UPDATE items SET v = $1 WHERE k = $2", 2, P("9", "a"));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;b|2");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9;b|2");

	t_exec0(w, "DELETE FROM items WHERE k = $1", 1, P("b"));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9");

	/* An entry of the read-only pool goes when the primary pool writes. */
	rep = it_open(&t, &c3, "reports");
	etl = t_open(c3, be->env, "etl");
	cr_assert_neq(dbm_handle_pool_hash(rep), dbm_handle_pool_hash(t.h),
	    "reports shares primary's pool: the test proves nothing");
	cr_assert_neq(dbm_handle_pool_hash(etl), dbm_handle_pool_hash(t.h),
	    "etl shares primary's pool: the test proves nothing");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9");
	t_exec0(w, "INSERT INTO items VALUES ($1, $2)", 2, P("c", "3"));
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|3");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9;c|3");
	/* The primary pool's entry went with the same write. */
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|3");

	/* And one of the primary pool when another writable pool writes: each kind. */
	t_exec0(etl, "INSERT INTO items VALUES ($1, $2)", 2, P("d", "4"));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|3;d|4");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|3;d|4");
	t_exec0(etl, "UPDATE items SET v = $1 WHERE k = $2", 2, P("8", "c"));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|8;d|4");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|8;d|4");
	t_exec0(etl, "DELETE FROM items WHERE k = $1", 1, P("d"));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|8");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|9;c|8");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9;c|8");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|9;c|8");
	it_close(c2);
	it_close(c3);
	it_stop(&t);
}

/*
 * 3. Inside a transaction, and on a pinned handle, the cache is not used.
 */

BOTH(a_read_in_a_transaction_or_on_a_pinned_handle_bypasses)
{
	struct dbm_open_opts	 o = DBM_OPEN_OPTS_INIT;
	struct it		 t;
	struct cst		 s0, s1;
	dbm_conn		*c2;
	dbm_handle		*h2, *pinned;

	it_start(&t, be, NULL);
	h2 = it_open(&t, &c2, "primary");
	/* The entry is there: a bypass below is not for want of one. */
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");

	s0 = cst_get(t.c, t.h);
	cr_assert_eq(dbm_begin(t.h), DBM_OK, "BEGIN: %s", dbm_errmsg(t.c));
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	cr_assert_eq(dbm_commit(t.h), DBM_OK, "COMMIT: %s", dbm_errmsg(t.c));
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, misses, 0);
	CST_MOVED(s0, s1, bypasses, 2);
	CST_MOVED(s0, s1, entries, 0);
	/* Out of the transaction, a read-only one, the entry serves again. */
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");

	o.pinned = 1;
	pinned = dbm_open(t.c, be->env, "primary", &o);
	cr_assert_not_null(pinned, "open pinned: %s", dbm_errmsg(t.c));
	s0 = cst_get(t.c, t.h);
	expect(pinned, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	expect(pinned, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, misses, 0);
	CST_MOVED(s0, s1, entries, 0);
	it_close(c2);
	it_stop(&t);
}

/*
 * 4. Volatile functions are never cached.
 */

/* Runs sql (one value) n times asking for the cache: BYPASS each time, and no two values alike. */
static void
assert_never_cached(dbm_handle *h, const char *sql, int n)
{
	struct got	 v[3];
	int		 i, j;

	cr_assert_leq(n, 3);
	for (i = 0; i < n; i++) {
		run(h, AGE, sql, 0, NULL, DBM_OK, &v[i]);
		cr_assert_eq(v[i].state, DBM_CACHE_BYPASS, "%s, read %d: %s, not BYPASS", sql,
		    i + 1, state_name(v[i].state));
		t_sleep_ms(2);	/* now() is in microseconds: let it move */
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			cr_assert_str_neq(v[i].text, v[j].text, "%s gave %s twice", sql, v[i].text);
}

BOTH(volatile_functions_are_never_cached)
{
	struct it	 t;
	struct cst	 s0, s1;
	int		 reads = 0;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	assert_never_cached(t.h, "SELECT random()", 3);
	reads += 3;
	if (be->pg) {
		assert_never_cached(t.h, "SELECT now()", 3);
		assert_never_cached(t.h, "SELECT k, random() FROM items", 3);
		reads += 6;
	} else {
		assert_never_cached(t.h, "SELECT k, random() FROM items", 3);
		reads += 3;
	}
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, entries, 0);
	CST_MOVED(s0, s1, statements, reads);
	it_stop(&t);
}

/*
 * PostgreSQL's statements are judged by their words (dbmd(8)): plain reads are cached,
 * whatever their case and layout; a read naming a volatile function, a pg_* function or
 * a locking clause is not, and neither is a word that only contains one of those.
 */
Test(cache_pg, the_textual_rule_caches_plain_reads_only)
{
	static const char *const cached[] = {
		"SELECT k FROM items ORDER BY k",
		"select count(*) from items",
		"  (SELECT 2 AS two)",
		"WITH x AS (SELECT 1 AS a) SELECT a FROM x",
		"VALUES (1, 'one')",
		"SELECT 1 AS known, 2 AS points, 3 AS updated_at, 4 AS nowhere",
	};
	static const char *const never[] = {
		"SELECT now()",
		"SELECT NOW()",
		"SELECT Clock_Timestamp()",
		"SELECT current_setting('work_mem')",
		"SELECT pg_backend_pid()",
		"SELECT k FROM items FOR UPDATE",
		"SELECT k FROM items FOR NO KEY UPDATE",
		"SELECT k FROM items FOR KEY SHARE",
		"SELECT k FROM items FOR\nSHARE",
		"SELECT txid_current()",
		"SHOW work_mem",
		"EXPLAIN SELECT 1",
	};
	struct it	 t;
	struct got	 g;
	size_t		 i;

	it_start(&t, &PG, NULL);
	for (i = 0; i < sizeof(cached) / sizeof(cached[0]); i++) {
		run(t.h, AGE, cached[i], 0, NULL, DBM_OK, &g);
		cr_assert_eq(g.state, DBM_CACHE_MISS, "%s: %s, not MISS", cached[i],
		    state_name(g.state));
		run(t.h, AGE, cached[i], 0, NULL, DBM_OK, &g);
		cr_assert_eq(g.state, DBM_CACHE_HIT, "%s again: %s, not HIT", cached[i],
		    state_name(g.state));
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		run(t.h, AGE, never[i], 0, NULL, DBM_OK, &g);
		cr_assert_eq(g.state, DBM_CACHE_BYPASS, "%s: %s, not BYPASS", never[i],
		    state_name(g.state));
	}
	it_stop(&t);
}

/*
 * The client is told BYPASS for a read that asked for the cache and was not
 * cacheable: the pool's counters say the same, once per read.
 */
BOTH(an_uncacheable_read_counts_once_as_a_bypass)
{
	struct it	 t;
	struct cst	 s0, s1;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	assert_never_cached(t.h, "SELECT random()", 3);
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, bypasses, 3);
	CST_MOVED(s0, s1, misses, 0);
	it_stop(&t);
}

/*
 * 5. Inside a transaction a write invalidates at COMMIT, and a ROLLBACK'd one never.
 */

BOTH(a_write_in_a_transaction_invalidates_at_commit_only)
{
	struct it	 t;
	struct cst	 s0, s1;
	dbm_conn	*c2;
	dbm_handle	*h2, *rep;

	it_start(&t, be, NULL);
	h2 = it_open(&t, &c2, "primary");
	rep = t_open(c2, be->env, "reports");
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");

	cr_assert_eq(dbm_begin(t.h), DBM_OK, "BEGIN: %s", dbm_errmsg(t.c));
	t_exec0(t.h, "UPDATE items SET v = $1 WHERE k = $2", 2, P("2", "a"));
	/* Uncommitted: the cached value is still the right one for everyone else. */
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");
	/* The transaction itself sees its write. */
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|2");
	cr_assert_eq(dbm_commit(t.h), DBM_OK, "COMMIT: %s", dbm_errmsg(t.c));
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|2");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|2");
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|2");

	s0 = cst_get(t.c, h2);
	cr_assert_eq(dbm_begin(t.h), DBM_OK, "BEGIN: %s", dbm_errmsg(t.c));
	t_exec0(t.h, "UPDATE items SET v = $1 WHERE k = $2", 2, P("3", "a"));
	t_exec0(t.h, "INSERT INTO items VALUES ($1, $2)", 2, P("z", "26"));
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|2");
	cr_assert_eq(dbm_rollback(t.h), DBM_OK, "ROLLBACK: %s", dbm_errmsg(t.c));
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|2");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|2");
	s1 = cst_get(t.c, h2);
	CST_MOVED(s0, s1, invalidations, 0);
	/* The rolled-back write left nothing pending for a later transaction to apply. */
	cr_assert_eq(dbm_begin(t.h), DBM_OK, "BEGIN: %s", dbm_errmsg(t.c));
	t_exec0(t.h, "SELECT 1", 0, NULL);
	cr_assert_eq(dbm_commit(t.h), DBM_OK, "COMMIT: %s", dbm_errmsg(t.c));
	expect(h2, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|2");
	it_close(c2);
	it_stop(&t);
}

/*
 * 6. Concurrent misses on one key: one execution, everyone served.
 */

/*
 * One client on a thread of its own, with a connection of its own.
 * Criterion's assertions must not run on other threads: the outcome is
 * written down for the test to check.
 */
struct racer {
	const char		*sock;
	const char		*env;
	const char		*sql;
	pthread_barrier_t	*go;
	pthread_t		 th;
	atomic_int		 done;
	int64_t			 sent_ms;	/* just before its request went */
	int64_t			 done_ms;	/* when its reply came */
	int			 code;		/* the result's status, or the conn's error */
	int			 state;		/* dbm_cache_state */
	char			 value[32];	/* the first column of the one row */
	char			 msg[256];
};

/* Connects, waits at the barrier for the others, then sends its cacheable read. */
static void *
racer_main(void *arg)
{
	struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;
	struct racer		*r = arg;
	dbm_conn		*c = dbm_connect(r->sock);
	dbm_handle		*h = NULL;
	dbm_result		*res;

	if (dbm_errcode(c) != DBM_OK || (h = dbm_open(c, r->env, "primary", NULL)) == NULL) {
		r->code = dbm_errcode(c);
		snprintf(r->msg, sizeof(r->msg), "connect or open: %s", dbm_errmsg(c));
	}
	/* Waits even after a failure, or the others would wait for ever. */
	pthread_barrier_wait(r->go);
	if (h == NULL)
		goto out;
	o.cache_max_age_ms = AGE;
	r->sent_ms = t_now_ms();
	res = dbm_exec_opts(h, r->sql, 0, NULL, &o);
	r->done_ms = t_now_ms();
	if (res == NULL) {
		r->code = dbm_errcode(c);
		snprintf(r->msg, sizeof(r->msg), "%s", dbm_errmsg(c));
	} else {
		r->code = dbm_result_status(res);
		r->state = dbm_cache_state(res);
		snprintf(r->msg, sizeof(r->msg), "%s", dbm_result_errmsg(res));
		if (r->code == DBM_OK && dbm_nrows(res) == 1)
			snprintf(r->value, sizeof(r->value), "%s", dbm_value(res, 0, 0));
	}
	dbm_result_free(res);
out:
	dbm_disconnect(c);
	atomic_store(&r->done, 1);
	return NULL;
}

static void
racer_start(struct racer *r, const struct it *t, const char *sql, pthread_barrier_t *go)
{
	memset(r, 0, sizeof(*r));
	r->sock = t->d.sock;
	r->env = t->be->env;
	r->sql = sql;
	r->go = go;
	r->code = -1;
	cr_assert_eq(pthread_create(&r->th, NULL, racer_main, r), 0);
}

/* Checks that a racer, joined, read successfully. */
static void
racer_check(const struct racer *r, int i)
{
	cr_assert_eq(r->code, DBM_OK, "client %d: %s: %s", i, dbm_strerror(r->code), r->msg);
}

/*
 * NRACERS clients send the slow read at the same moment; counts in *misses
 * and *hits the clients told MISS and HIT, having checked their values and that every request went
 * before any reply came (otherwise hits would prove only that a cache caches).
 */
static void
race(const struct it *t, int *misses, int *hits)
{
	struct racer		 rs[NRACERS];
	pthread_barrier_t	 go;
	int64_t			 last_sent = 0, first_done = INT64_MAX;
	char			 sql[256], want[16];
	int			 i;

	*misses = *hits = 0;
	slow_sql(t->be, sql, sizeof(sql));
	snprintf(want, sizeof(want), "%d", slow_rows(t->be));
	cr_assert_eq(pthread_barrier_init(&go, NULL, NRACERS), 0);
	for (i = 0; i < NRACERS; i++)
		racer_start(&rs[i], t, sql, &go);
	/* All joined before anything is asserted: their outcomes live in this frame. */
	for (i = 0; i < NRACERS; i++)
		pthread_join(rs[i].th, NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NRACERS; i++) {
		racer_check(&rs[i], i);
		cr_assert_str_eq(rs[i].value, want, "client %d got %s", i, rs[i].value);
		*misses += rs[i].state == DBM_CACHE_MISS;
		*hits += rs[i].state == DBM_CACHE_HIT;
		if (rs[i].sent_ms > last_sent)
			last_sent = rs[i].sent_ms;
		if (rs[i].done_ms < first_done)
			first_done = rs[i].done_ms;
	}
	cr_assert_lt(last_sent, first_done, "a reply came %lldms before the last request "
	    "went: the statement is too fast for the requests to overlap",
	    (long long)(last_sent - first_done));
}

BOTH(concurrent_misses_on_one_key_run_the_statement_once)
{
	struct it	 t;
	struct cst	 s0, s1;
	int		 misses, hits;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	race(&t, &misses, &hits);
	s1 = cst_get(t.c, t.h);
	cr_assert_eq(misses, 1, "%d clients got MISS, %d HIT", misses, hits);
	cr_assert_eq(hits, NRACERS - 1, "%d clients got MISS, %d HIT", misses, hits);
	CST_MOVED(s0, s1, statements, 1);
	CST_MOVED(s0, s1, entries, 1);
	it_stop(&t);
}

/*
 * The pool's counters say what its clients were told: a client that waited
 * for another's fill was served a HIT, and counts as one hit, not a miss too.
 */
BOTH(a_request_that_waited_for_a_fill_counts_as_one_hit)
{
	struct it	 t;
	struct cst	 s0, s1;
	int		 misses, hits;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	race(&t, &misses, &hits);
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, hits, hits);
	CST_MOVED(s0, s1, misses, misses);
	it_stop(&t);
}

/*
 * A result computed while a write committed may predate it: it is served to
 * its client, who asked before the write, but not stored.
 */
BOTH(a_result_computed_across_a_write_is_not_stored)
{
	pthread_barrier_t	 go;
	struct racer		 r;
	struct it		 t;
	dbm_conn		*c2;
	dbm_handle		*w;
	int64_t			 end;
	int			 done;
	char			 sql[512], slow[256], want[32];

	snprintf(sql, sizeof(sql), "SELECT (SELECT count(*) FROM items) AS n, (%s) AS slow",
	    slow_sql(be, slow, sizeof(slow)));
	snprintf(want, sizeof(want), "2|%d", slow_rows(be));
	it_start(&t, be, NULL);
	w = it_open(&t, &c2, "primary");
	cr_assert_eq(pthread_barrier_init(&go, NULL, 2), 0);
	racer_start(&r, &t, sql, &go);
	pthread_barrier_wait(&go);
	/* The fill has begun once its statement has a connection. */
	end = t_now_ms() + 5000 * t_slow();
	while (cst_get(t.c, t.h).active == 0 && !atomic_load(&r.done) && t_now_ms() < end)
		t_sleep_ms(5);
	t_exec0(w, "INSERT INTO items VALUES ($1, $2)", 2, P("b", "2"));
	done = atomic_load(&r.done);
	pthread_join(r.th, NULL);
	pthread_barrier_destroy(&go);
	cr_assert(!done, "the slow read ended before the write: the test proves nothing");
	racer_check(&r, 0);
	cr_assert_neq(r.state, DBM_CACHE_HIT);
	/* Read before the write, by the statement's snapshot; or after it: both are right. */
	cr_assert(strcmp(r.value, "1") == 0 || strcmp(r.value, "2") == 0, "n = %s", r.value);
	/* Whatever it saw, it must not be served from now on. */
	expect(t.h, AGE, sql, 0, NULL, DBM_CACHE_MISS, want);
	expect(t.h, AGE, sql, 0, NULL, DBM_CACHE_HIT, want);
	it_close(c2);
	it_stop(&t);
}

/* CREATE and DROP invalidate everything: a dropped table's rows are not served. */
BOTH(a_schema_change_invalidates_every_entry)
{
	struct it	 t;
	dbm_conn	*c2;
	dbm_handle	*w, *rep;
	struct got	 g;

	it_start(&t, be, NULL);
	w = it_open(&t, &c2, "primary");
	rep = t_open(c2, be->env, "reports");
	expect(t.h, AGE, "SELECT 41 + 1", 0, NULL, DBM_CACHE_MISS, "42");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	t_exec0(w, "CREATE TABLE other (x integer)", 0, NULL);
	expect(t.h, AGE, "SELECT 41 + 1", 0, NULL, DBM_CACHE_MISS, "42");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	t_exec0(w, "DROP TABLE items", 0, NULL);
	run(rep, AGE, Q, 0, NULL, DBM_E_SQL, &g);
	cr_assert_neq(g.state, DBM_CACHE_HIT);
	run(t.h, AGE, Q, 0, NULL, DBM_E_SQL, &g);
	cr_assert_neq(g.state, DBM_CACHE_HIT);
	it_close(c2);
	it_stop(&t);
}

/*
 * Pools on one database share invalidations however their URIs spell it:
 * a write through primary reaches the cache of alias, whose URI names the
 * same file (or server, port and database) in other words.
 */
BOTH(a_write_invalidates_a_pool_whose_uri_spells_the_database_differently)
{
	struct it	 t;
	dbm_conn	*c2;
	dbm_handle	*al;

	it_start(&t, be, NULL);
	al = it_open(&t, &c2, "alias");
	cr_assert_neq(dbm_handle_pool_hash(al), dbm_handle_pool_hash(t.h));
	/* The same database: alias sees primary's row. */
	expect(al, 0, "SELECT v FROM items WHERE k = 'a'", 0, NULL, DBM_CACHE_BYPASS, "1");
	expect(al, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(al, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");
	t_exec0(t.h, "UPDATE items SET v = $1 WHERE k = $2", 2, P("2", "a"));
	expect(al, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|2");
	it_close(c2);
	it_stop(&t);
}

/*
 * 7. The parameters are part of the key: NULL is not "".
 */

BOTH(parameters_are_part_of_the_key)
{
	static const char *const vals[] = { "a", "b", NULL, "" };
	static const char *const want[] = { "a", "b", "<null>", "" };
	const char	*sql = "SELECT coalesce(CAST($1 AS text), '<null>') AS v";
	struct it	 t;
	struct cst	 s0, s1;
	int		 round, i;

	it_start(&t, be, NULL);
	s0 = cst_get(t.c, t.h);
	for (round = 0; round < 2; round++)
		for (i = 0; i < 4; i++)
			expect(t.h, AGE, sql, 1, &vals[i], round ? DBM_CACHE_HIT : DBM_CACHE_MISS,
			    want[i]);
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, entries, 4);
	CST_MOVED(s0, s1, misses, 4);
	CST_MOVED(s0, s1, hits, 4);
	it_stop(&t);
}

/*
 * 8. Entries expire after cache.ttl, and a client's smaller age is honoured.
 *
 * Nothing here sleeps for a ttl and hopes: an entry is stored after its statement was
 * sent, so until ttl has passed since the send it must be a HIT, and a MISS may only
 * come later; the tests poll for the MISS and assert each side only where the clock
 * proves it.
 */

/* The rows of Q's result text, after its column names. */
static const char *
rows_of(const struct got *g)
{
	const char	*rows = strchr(g->text, ';');

	return rows != NULL ? rows + 1 : "";
}

/*
 * Runs Q asking for results at most age ms old until the cache answers MISS, every
 * answer before it a HIT.  The entry was stored no earlier than stored_after, and is
 * fresh for fresh_ms: the MISS may not come sooner.  Returns when the statement that
 * missed was sent, the earliest the entry it stored can be from.
 */
static int64_t
await_miss(dbm_handle *h, unsigned long age, int64_t stored_after, int64_t fresh_ms)
{
	int64_t		 end = t_now_ms() + fresh_ms + 10000LL * t_slow(), sent;
	struct got	 g;

	for (;;) {
		sent = t_now_ms();
		run(h, age, Q, 0, NULL, DBM_OK, &g);
		cr_assert_str_eq(rows_of(&g), "a|1");
		if (g.state == DBM_CACHE_MISS)
			break;
		cr_assert_eq(g.state, DBM_CACHE_HIT, "%s: %s, not HIT or MISS", Q,
		    state_name(g.state));
		cr_assert_lt(t_now_ms(), end, "still a HIT %lldms after the store, for a client "
		    "that accepts %lums", (long long)(t_now_ms() - stored_after), age);
		t_sleep_ms(10);
	}
	cr_assert_gt(t_now_ms() - stored_after, fresh_ms, "a MISS %lldms after the store, "
	    "when the entry is fresh for %lldms", (long long)(t_now_ms() - stored_after),
	    (long long)fresh_ms);
	return sent;
}

BOTH(entries_expire_after_the_ttl_and_a_clients_max_age)
{
	/* Scaled, so that a slow run still has room inside the ttl. */
	const int64_t	 ttl = 300LL * t_slow(), young = 50LL * t_slow();
	char		*ttl_set = t_strf("cache.ttl=%lldms", (long long)ttl);
	struct it	 t;
	struct cst	 s0, s1, s2;
	struct got	 g;
	int64_t		 stored;
	int		 inside;

	it_start(&t, be, ttl_set, NULL);
	free(ttl_set);
	stored = t_now_ms();
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	run(t.h, AGE, Q, 0, NULL, DBM_OK, &g);
	if (t_now_ms() - stored <= ttl)
		cr_assert_eq(g.state, DBM_CACHE_HIT, "a client's larger max age is capped by "
		    "the ttl, not refused: %s", state_name(g.state));
	s0 = cst_get(t.c, t.h);
	stored = await_miss(t.h, AGE, stored, ttl);
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, expirations, 1);
	CST_MOVED(s0, s1, entries, 0);		/* one expired, one stored */
	CST_MOVED(s0, s1, statements, 1);

	/* Fresh for the ttl, too old for a client that accepts young ms. */
	stored = await_miss(t.h, young, stored, young);
	inside = t_now_ms() - stored <= ttl;
	s2 = cst_get(t.c, t.h);
	if (inside)
		CST_MOVED(s1, s2, expirations, 0);
	CST_MOVED(s1, s2, statements, 1);
	/* That miss stored a fresh result. */
	run(t.h, AGE, Q, 0, NULL, DBM_OK, &g);
	if (t_now_ms() - stored <= ttl)
		cr_assert_eq(g.state, DBM_CACHE_HIT, "the miss stored nothing: %s",
		    state_name(g.state));
	it_stop(&t);
}

/*
 * 9. cache.size=0 turns the cache off.
 */

BOTH(a_cache_size_of_zero_disables_the_cache)
{
	struct it	 t;
	struct cst	 s0, s1;
	int		 i;

	it_start(&t, be, "cache.size=0", NULL);
	s0 = cst_get(t.c, t.h);
	for (i = 0; i < 3; i++)
		expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_BYPASS, "a|1");
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, entries, 0);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, statements, 3);
	it_stop(&t);
}

/*
 * 10. An operator empties one pool's cache.
 */

BOTH(cache_flush_empties_the_named_pools_cache_only)
{
	struct it	 t;
	struct cst	 s;
	dbm_result	*r;
	dbm_conn	*c2;
	dbm_handle	*rep;
	char		 target[64], hash[17], err[256] = "", rhash[32] = "", names[256] = "",
			 state[32] = "";
	int		 st, nrows, hc, nc, sc;

	snprintf(target, sizeof(target), "%s/primary", be->env);
	it_start(&t, be, NULL);
	rep = it_open(&t, &c2, "reports");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");

	r = dbm_cache_flush(t.c, target);
	cr_assert_not_null(r, "CACHE FLUSH: %s", dbm_errmsg(t.c));
	st = dbm_result_status(r);
	snprintf(err, sizeof(err), "%s", dbm_result_errmsg(r));
	nrows = dbm_nrows(r);
	hc = dbm_colnum(r, "hash");
	nc = dbm_colnum(r, "names");
	sc = dbm_colnum(r, "state");
	if (nrows > 0 && hc >= 0 && nc >= 0 && sc >= 0) {
		snprintf(rhash, sizeof(rhash), "%s", dbm_value(r, 0, hc));
		snprintf(names, sizeof(names), "%s", dbm_value(r, 0, nc));
		snprintf(state, sizeof(state), "%s", dbm_value(r, 0, sc));
	}
	dbm_result_free(r);
	cr_assert_eq(st, DBM_OK, "CACHE FLUSH %s: %s", target, err);
	cr_assert_eq(nrows, 1, "CACHE FLUSH %s named %d pools", target, nrows);
	cr_assert(hc >= 0 && nc >= 0 && sc >= 0, "CACHE FLUSH lacks hash, names or state");
	snprintf(hash, sizeof(hash), "%016llx", dbm_handle_pool_hash(t.h));
	cr_assert_str_eq(rhash, hash, "CACHE FLUSH %s named the pool %s", target, rhash);
	cr_assert_not_null(strstr(names, target), "names: %s", names);
	cr_assert_str_eq(state, "flushed");

	s = cst_get(t.c, t.h);
	cr_assert_eq(s.entries, 0, "%lld entries after the flush", s.entries);
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");
	/* Another pool on the same database keeps its entry. */
	expect(rep, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");
	it_close(c2);
	it_stop(&t);
}

/*
 * 11. A result larger than cache.max_result_bytes is not stored.
 */

BOTH(a_result_over_max_result_bytes_is_not_stored)
{
	const char	*big = "SELECT n, v FROM big ORDER BY n";
	struct it	 t;
	struct cst	 s0, s1;
	struct got	 g;
	char		 v[101], n[16];
	int		 i;

	it_start(&t, be, "cache.max_result_bytes=1K", NULL);
	t_exec0(t.h, "CREATE TABLE big (n integer PRIMARY KEY, v text)", 0, NULL);
	memset(v, 'x', 100);
	v[100] = '\0';
	for (i = 0; i < 100; i++) {
		snprintf(n, sizeof(n), "%d", i);
		t_exec0(t.h, "INSERT INTO big VALUES (CAST($1 AS integer), $2)", 2, P(n, v));
	}
	/* A small result is cached in this pool: what follows is for the size alone. */
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_MISS, "a|1");
	expect(t.h, AGE, Q, 0, NULL, DBM_CACHE_HIT, "a|1");

	s0 = cst_get(t.c, t.h);
	for (i = 0; i < 2; i++) {
		run(t.h, AGE, big, 0, NULL, DBM_OK, &g);
		cr_assert_eq(g.nrows, 100);
		cr_assert_str_eq(g.last, v);
		cr_assert_neq(g.state, DBM_CACHE_HIT, "read %d of ~10KB was a HIT with "
		    "cache.max_result_bytes=1K", i + 1);
	}
	s1 = cst_get(t.c, t.h);
	CST_MOVED(s0, s1, entries, 0);
	CST_MOVED(s0, s1, hits, 0);
	CST_MOVED(s0, s1, statements, 2);
	it_stop(&t);
}
