/* test_sqlite_isolation.c: a SQLite handle reaches its own database and nothing else. */

/*
 * A client may touch only the database of the environment and role it opened
 * (STYLE.md, 17).  Each test starts a real dbmd (tests/harness.h) whose
 * environment open is a SQLite file in the test's directory, with a primary
 * and a read-only role, beside an environment secret on another file, and
 * tries from open what the authorizer, the connection's limits and its
 * configuration must stop: reaching another file (ATTACH, VACUUM INTO),
 * turning safety off (pragmas), unbounded memory and time, another client's
 * temporary tables, and a result cache that outlives a schema change.
 */

#include <sys/types.h>

#include <criterion/criterion.h>
#include <grp.h>
#include <pwd.h>

#include "harness.h"

static void iso_teardown(void);

TestSuite(sqlite_isolation, .init = t_setup, .fini = iso_teardown, .timeout = 60);

#define P(...)		((const char *const []){ __VA_ARGS__ })		/* parameters */
#define SETS(...)	((const char *const []){ __VA_ARGS__, NULL })	/* --set strings */
#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Connections a test opened, closed at teardown when an assertion ended the test
 * early, so that LeakSanitizer (make asan) has nothing to report.
 */
static dbm_conn *iso_conns[4];

static dbm_conn *
iso_connect(const struct t_dbmd *d)
{
	size_t	 i;

	for (i = 0; i < ARRAY_LEN(iso_conns); i++)
		if (iso_conns[i] == NULL)
			return iso_conns[i] = t_connect(d);
	cr_assert_fail("a test here may open at most %zu connections", ARRAY_LEN(iso_conns));
	return NULL;
}

static void
iso_disconnect(dbm_conn *c)
{
	size_t	 i;

	for (i = 0; i < ARRAY_LEN(iso_conns); i++)
		if (iso_conns[i] == c)
			iso_conns[i] = NULL;
	dbm_disconnect(c);
}

static void
iso_teardown(void)
{
	size_t	 i;

	for (i = 0; i < ARRAY_LEN(iso_conns); i++)
		iso_disconnect(iso_conns[i]);
	t_teardown();
}

/* What every test here starts: dbmd, a client, and a handle on each role of open. */
struct iso {
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*rw;		/* open/primary */
	dbm_handle	*ro;		/* open/read_only */
	char		 secret[PATH_MAX];	/* secret's database file */
};

/*
 * Starts dbmd with the environments open and secret, plus the NULL-terminated
 * --set strings in extra; makes the table t in open and the table creds,
 * holding one password, in secret.
 */
static void
iso_start(struct iso *s, const char *const *extra)
{
	const char	*sets[24];
	char		*own[4];
	dbm_handle	*h;
	size_t		 n = 0, i;

	memset(s, 0, sizeof(*s));
	snprintf(s->secret, sizeof(s->secret), "%s/secret.db", t_h.dir);
	own[0] = t_strf("open.uri=sqlite:%s/open.db", t_h.dir);
	own[1] = t_strf("secret.uri=sqlite:%s", s->secret);
	own[2] = t_strf("%s", "open.read_only.read_only=true");
	own[3] = t_strf("%s", "daemon.socket_mode=0666");
	for (i = 0; i < ARRAY_LEN(own); i++)
		sets[n++] = own[i];
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		cr_assert(n < ARRAY_LEN(sets) - 1, "too many settings");
		sets[n++] = extra[i];
	}
	sets[n] = NULL;
	t_dbmd_start(&s->d, sets);
	for (i = 0; i < ARRAY_LEN(own); i++)
		free(own[i]);
	s->c = iso_connect(&s->d);
	h = t_open(s->c, "secret", "primary");
	t_exec0(h, "CREATE TABLE creds (user TEXT, password TEXT)", 0, NULL);
	t_exec0(h, "INSERT INTO creds VALUES ('admin', 'hunter2')", 0, NULL);
	cr_assert_eq(dbm_dispose(h), DBM_OK);
	s->rw = t_open(s->c, "open", "primary");
	t_exec0(s->rw, "CREATE TABLE t (x INTEGER)", 0, NULL);
	t_exec0(s->rw, "INSERT INTO t VALUES (1)", 0, NULL);
	s->ro = t_open(s->c, "open", "read_only");
}

static void
iso_stop(struct iso *s)
{
	iso_disconnect(s->c);
	cr_assert_eq(t_dbmd_stop(&s->d), 0, "dbmd did not exit cleanly");
}

/* Runs sql, which must fail as SQL (whatever the SQLSTATE). */
static void
fails(dbm_handle *h, const char *sql)
{
	dbm_result_free(t_exec_fails(h, sql, 0, NULL, DBM_E_SQL));
}

/* Runs sql with n parameters, which must fail with SQLSTATE sqlstate. */
static void
refused_n(dbm_handle *h, const char *sql, int n, const char *const *params,
    const char *sqlstate)
{
	dbm_result	*r = t_exec_fails(h, sql, n, params, DBM_E_SQL);

	cr_assert_str_eq(dbm_result_sqlstate(r), sqlstate, "%s: SQLSTATE %s (%s), not %s", sql,
	    dbm_result_sqlstate(r), dbm_result_errmsg(r), sqlstate);
	dbm_result_free(r);
}

/*
 * Runs sql, which must fail with SQLSTATE sqlstate and, unless want is NULL, a
 * message holding want.
 */
static void
refused(dbm_handle *h, const char *sql, const char *sqlstate, const char *want)
{
	dbm_result	*r = t_exec_fails(h, sql, 0, NULL, DBM_E_SQL);

	cr_assert_str_eq(dbm_result_sqlstate(r), sqlstate, "%s: SQLSTATE %s (%s), not %s", sql,
	    dbm_result_sqlstate(r), dbm_result_errmsg(r), sqlstate);
	if (want != NULL)
		cr_assert_not_null(strstr(dbm_result_errmsg(r), want), "%s: the message \"%s\" "
		    "does not say \"%s\"", sql, dbm_result_errmsg(r), want);
	dbm_result_free(r);
}

/*
 * Runs sql, whose one value must be want; the result is freed before the
 * assertion, so that a failure leaks nothing.
 */
static void
value_is(dbm_handle *h, const char *sql, const char *want, const char *why)
{
	dbm_result	*r = t_exec(h, sql, 0, NULL);
	char		 got[256];
	int		 nrows = dbm_nrows(r);

	snprintf(got, sizeof(got), "%s", nrows == 1 ? dbm_value(r, 0, 0) : "");
	dbm_result_free(r);
	cr_assert_eq(nrows, 1, "%s: %d rows", sql, nrows);
	cr_assert_str_eq(got, want, "%s: %s, not %s: %s", sql, got, want, why);
}

static int
exists(const char *path)
{
	struct stat	 st;

	return lstat(path, &st) == 0;
}

/* A line of /proc/pid/status, such as VmHWM, in kB; -1 when it cannot be read. */
static long
proc_status_kb(pid_t pid, const char *field)
{
	char	*path = t_strf("/proc/%ld/status", (long)pid), *text = t_slurp(path), *p;
	long	 kb = -1;

	if ((p = strstr(text, field)) != NULL && p[strlen(field)] == ':')
		kb = strtol(p + strlen(field) + 1, NULL, 10);
	free(text);
	free(path);
	return kb;
}

/*
 * ATTACH and DETACH: another environment's file, by path or by URI.
 */

Test(sqlite_isolation, attach_of_another_environments_file_is_refused_on_every_role)
{
	struct iso	 s;
	dbm_handle	*hs[2];
	char		*sql;
	size_t		 i;

	iso_start(&s, NULL);
	hs[0] = s.rw;
	hs[1] = s.ro;
	for (i = 0; i < ARRAY_LEN(hs); i++) {
		sql = t_strf("ATTACH '%s' AS s", s.secret);
		refused(hs[i], sql, "42501", "ATTACH is not allowed");
		free(sql);
		sql = t_strf("ATTACH 'file:%s?mode=ro' AS s", s.secret);
		refused(hs[i], sql, "42501", "ATTACH");
		free(sql);
		refused_n(hs[i], "ATTACH DATABASE $1 AS s", 1, P(s.secret), "42501");
		fails(hs[i], "SELECT password FROM s.creds");
		refused(hs[i], "DETACH DATABASE main", "42501", "DETACH");
	}
	iso_stop(&s);
}

Test(sqlite_isolation, attach_creates_no_file_anywhere)
{
	struct iso	 s;
	char		*dir = t_path("elsewhere"), *file = t_strf("%s/new.db", dir), *sql;

	cr_assert_eq(mkdir(dir, 0755), 0);
	iso_start(&s, NULL);
	sql = t_strf("ATTACH '%s' AS k", file);
	refused(s.rw, sql, "42501", NULL);
	fails(s.rw, "CREATE TABLE k.t (x)");
	refused(s.ro, sql, "42501", NULL);
	cr_assert(!exists(file), "ATTACH created %s", file);
	free(sql);
	iso_stop(&s);
	free(file);
	free(dir);
}

Test(sqlite_isolation, vacuum_into_writes_no_copy_of_the_database)
{
	struct iso	 s;
	char		*copy = t_path("copy.db"), *sql = t_strf("VACUUM INTO '%s'", copy);

	iso_start(&s, NULL);
	fails(s.rw, sql);
	fails(s.ro, sql);
	cr_assert(!exists(copy), "VACUUM INTO wrote %s", copy);
	free(sql);
	free(copy);
	iso_stop(&s);
}

/*
 * Pragmas: only a list of harmless read-only ones passes.
 */

Test(sqlite_isolation, pragmas_that_change_safety_or_reach_files_are_refused)
{
	static const char *const denied[] = {
		"PRAGMA writable_schema=ON",
		"PRAGMA trusted_schema=ON",
		"PRAGMA journal_mode=DELETE",
		"PRAGMA locking_mode=EXCLUSIVE",
		"PRAGMA temp_store_directory='/tmp'",
		"PRAGMA data_store_directory='/tmp'",
		"PRAGMA temp_store=FILE",
		"PRAGMA mmap_size=1000000",
		"PRAGMA cache_size=-1000000",
		"PRAGMA foreign_keys=OFF",
		"PRAGMA case_sensitive_like=ON",
		"PRAGMA recursive_triggers=OFF",
		"PRAGMA ignore_check_constraints=ON",
		"PRAGMA defer_foreign_keys=ON",
		"PRAGMA synchronous=OFF",
		"PRAGMA user_version=7",
		"PRAGMA main.query_only=ON",
		"PRAGMA shrink_memory",
		"PRAGMA wal_checkpoint(TRUNCATE)",
	};
	static const char *const allowed[] = {
		"PRAGMA table_info(t)",
		"PRAGMA main.table_info('t')",
		"PRAGMA index_list(t)",
		"PRAGMA quick_check",
		"PRAGMA user_version",
		"PRAGMA journal_mode",
		"PRAGMA foreign_keys",
		"SELECT name FROM pragma_table_info('t')",
	};
	struct iso	 s;
	dbm_handle	*hs[2];
	size_t		 i, k;

	iso_start(&s, NULL);
	hs[0] = s.rw;
	hs[1] = s.ro;
	for (k = 0; k < ARRAY_LEN(hs); k++) {
		for (i = 0; i < ARRAY_LEN(denied); i++)
			refused(hs[k], denied[i], "42501", "not allowed through dbmd");
		for (i = 0; i < ARRAY_LEN(allowed); i++)
			t_exec0(hs[k], allowed[i], 0, NULL);
		/* The refusals changed nothing. */
		value_is(hs[k], "PRAGMA foreign_keys", "1", "");
		value_is(hs[k], "PRAGMA journal_mode", "wal", "");
	}
	value_is(s.rw, "SELECT name FROM pragma_table_info('t')", "x", "");
	iso_stop(&s);
}

Test(sqlite_isolation, read_only_role_cannot_turn_query_only_off)
{
	struct iso	 s;

	iso_start(&s, NULL);
	refused(s.ro, "PRAGMA query_only=OFF", "42501", "PRAGMA query_only");
	refused(s.ro, "PRAGMA query_only=0", "42501", NULL);
	value_is(s.ro, "PRAGMA query_only", "1", "");
	fails(s.ro, "INSERT INTO t VALUES (2)");
	value_is(s.rw, "SELECT count(*) FROM t", "1", "the read-only role wrote");
	iso_stop(&s);
}

/*
 * Functions and virtual tables that reach past the database.
 */

Test(sqlite_isolation, extensions_and_raw_pointers_are_out_of_reach)
{
	struct iso	 s;

	iso_start(&s, NULL);
	refused(s.rw, "SELECT load_extension('x')", "42501", "load_extension");
	refused(s.ro, "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')", "42501", NULL);
	/* fts3_tokenizer() hands out and takes in raw pointers into dbmd's memory. */
	refused(s.rw, "SELECT fts3_tokenizer('simple')", "42501", "fts3_tokenizer");
	refused_n(s.rw, "SELECT fts3_tokenizer('simple', $1)", 1, P("AAAAAAAA"), "42501");
	iso_stop(&s);
}

Test(sqlite_isolation, statements_other_clients_prepared_are_not_listed)
{
	struct iso	 s;
	dbm_conn	*other;
	dbm_handle	*h;

	iso_start(&s, SETS("open.primary.pool_size=1"));
	other = iso_connect(&s.d);
	h = t_open(other, "open", "primary");
	t_exec0(h, "SELECT x FROM t WHERE x <> 4242", 0, NULL);
	/* The pool's one connection caches that statement; its text is another client's. */
	refused(s.rw, "SELECT sql FROM sqlite_stmt", "42501", "sqlite_stmt");
	iso_disconnect(other);
	iso_stop(&s);
}

/*
 * As another user: allowed on open only, nothing of secret is reachable.
 */

/* What nobody manages: 1 open of secret refused, 2 and 4 ATTACH refused on open's roles. */
static int
nobody_tries_secret(const struct t_dbmd *d, const char *secret)
{
	dbm_conn	*c = dbm_connect(d->sock);
	dbm_handle	*h;
	dbm_result	*r;
	char		 sql[PATH_MAX + 64];
	const char	*roles[] = { "primary", "read_only" };
	int		 seen = 0, i;

	if (dbm_errcode(c) != DBM_OK)
		return 99;
	if (dbm_open(c, "secret", "primary", NULL) == NULL &&
	    dbm_errcode(c) == DBM_E_PERMISSION)
		seen |= 1;
	for (i = 0; i < 2; i++) {
		if ((h = dbm_open(c, "open", roles[i], NULL)) == NULL)
			continue;
		snprintf(sql, sizeof(sql), "ATTACH '%s' AS s", secret);
		r = dbm_exec(h, sql, 0, NULL);
		if (r != NULL && dbm_result_status(r) == DBM_E_SQL &&
		    strcmp(dbm_result_sqlstate(r), "42501") == 0)
			seen |= 2 << i;
		dbm_result_free(r);
		r = dbm_exec(h, "SELECT password FROM s.creds", 0, NULL);
		if (r != NULL && dbm_result_status(r) == DBM_OK)
			seen |= 64;	/* read the secret */
		dbm_result_free(r);
		dbm_dispose(h);
	}
	dbm_disconnect(c);
	return seen;
}

Test(sqlite_isolation, a_user_allowed_on_one_environment_reaches_no_other)
{
	struct passwd	*pw = getpwnam("nobody");
	struct iso	 s;
	pid_t		 pid;
	int		 st;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as a second user");
	cr_assert_not_null(pw, "no user nobody");
	chmod(t_h.dir, 0755);
	iso_start(&s, SETS("open.allow.users=nobody,root", "secret.allow.users=root"));
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(100);
		_exit(nobody_tries_secret(&s.d, s.secret));
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 1 | 2 | 4, "nobody got %d, not 7 (64: read the secret)",
	    WEXITSTATUS(st));
	iso_stop(&s);
}

/*
 * Memory and time.
 */

Test(sqlite_isolation, a_huge_value_fails_without_growing_dbmd)
{
	struct iso	 s;
	long		 hwm;

	iso_start(&s, NULL);
	refused(s.ro, "SELECT length(hex(zeroblob(200000000)))", "54000", "too big");
	refused(s.rw, "SELECT length(hex(zeroblob(200000000)))", "54000", "too big");
	hwm = proc_status_kb(s.d.pid, "VmHWM");
	cr_assert(hwm > 0, "cannot read dbmd's VmHWM");
	cr_assert_lt(hwm, 150 * 1024, "dbmd's peak RSS reached %ld kB", hwm);
	/* Within max_value_size (16M by default) is fine, and the connection still serves. */
	value_is(s.ro, "SELECT length(hex(zeroblob(1000000)))", "2000000", "");
	iso_stop(&s);
}

/* Appends n copies of part to the text at t, which has room for them. */
static char *
repeat_into(char *t, const char *part, int n)
{
	size_t len = strlen(part);
	int i;

	for (i = 0; i < n; i++, t += len)
		memcpy(t, part, len);
	*t = '\0';
	return t;
}

/*
 * Statements as deep as SQLite's own limits allow run on a worker's stack: the most
 * compound terms, the longest LIKE pattern, a deep expression.
 */
Test(sqlite_isolation, statements_at_sqlites_limits_do_not_crash_dbmd)
{
	struct iso	 s;
	char		*sql = calloc(1, 64 * 1024), *p;

	cr_assert_not_null(sql);
	iso_start(&s, NULL);
	p = repeat_into(sql, "SELECT 1 UNION ", 499);
	strcpy(p, "SELECT 1");
	value_is(s.ro, sql, "1", "500 compound terms");
	p = stpcpy(sql, "SELECT '");
	p = repeat_into(p, "a", 10000);
	p = stpcpy(p, "' LIKE '");
	p = repeat_into(p, "%a", 10000);
	strcpy(p, "'");
	value_is(s.ro, sql, "1", "a LIKE pattern of 20000 bytes");
	p = stpcpy(sql, "SELECT 1");
	repeat_into(p, "+1", 999);
	value_is(s.ro, sql, "1000", "an expression 999 deep");
	cr_assert(t_dbmd_answers(&s.d), "dbmd died");
	free(sql);
	iso_stop(&s);
}

Test(sqlite_isolation, max_value_size_bounds_a_value)
{
	struct iso	 s;
	char		*big;

	iso_start(&s, SETS("open.max_value_size=64K"));
	refused(s.rw, "SELECT length(zeroblob(100000))", "54000", NULL);
	refused(s.ro, "SELECT length(hex(zeroblob(40000)))", "54000", NULL);
	value_is(s.rw, "SELECT length(zeroblob(60000))", "60000", "");
	/* A parameter over the limit fails the statement: it is not bound as NULL. */
	big = calloc(1, 100001);
	cr_assert_not_null(big);
	memset(big, 'x', 100000);
	refused_n(s.rw, "INSERT INTO t VALUES ($1)", 1, P(big), "54000");
	free(big);
	value_is(s.rw, "SELECT count(*) FROM t", "1", "the INSERT of a parameter too big wrote a row");
	iso_stop(&s);
}

Test(sqlite_isolation, sqlite_heap_limit_bounds_what_all_connections_allocate)
{
	struct iso	 s;

	/* Within max_value_size (16M), but not within the heap limit. */
	iso_start(&s, SETS("daemon.sqlite_heap_limit=8M"));
	refused(s.ro, "SELECT length(hex(zeroblob(5000000)))", "53200", NULL);
	value_is(s.ro, "SELECT length(hex(zeroblob(100000)))", "200000", "");
	value_is(s.rw, "SELECT count(*) FROM t", "1", "");
	iso_stop(&s);
}

Test(sqlite_isolation, statement_timeout_cancels_a_long_statement)
{
	static const char *const forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	    "SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c";
	struct iso	 s;
	int64_t		 start, took;

	iso_start(&s, SETS("open.statement_timeout=300ms"));
	start = t_now_ms();
	refused(s.ro, forever, "57014", "statement timeout");
	took = t_now_ms() - start;
	cr_assert_lt(took, 5000 * t_slow(), "the statement ran %lld ms", (long long)took);
	refused(s.rw, forever, "57014", "statement timeout");
	/* The connections serve the next statement. */
	value_is(s.ro, "SELECT count(*) FROM t", "1", "");
	t_exec0(s.rw, "INSERT INTO t VALUES (2)", 0, NULL);
	iso_stop(&s);
}

Test(sqlite_isolation, statement_timeout_bounds_a_wait_for_a_lock)
{
	struct iso	 s;
	dbm_conn	*c2;
	dbm_handle	*h2;
	dbm_result	*r;
	int64_t		 start, took;

	iso_start(&s, SETS("open.statement_timeout=300ms", "open.acquire_timeout=20s",
	    "open.pool_size=4"));
	c2 = iso_connect(&s.d);
	h2 = t_open(c2, "open", "primary");
	/* The first handle holds the write lock until it commits. */
	cr_assert_eq(dbm_begin(s.rw), DBM_OK, "BEGIN: %s", dbm_errmsg(s.c));
	t_exec0(s.rw, "INSERT INTO t VALUES (2)", 0, NULL);
	start = t_now_ms();
	r = t_exec_fails(h2, "INSERT INTO t VALUES (3)", 0, NULL, DBM_E_SQL);
	took = t_now_ms() - start;
	cr_assert_str_eq(dbm_result_sqlstate(r), "57014", "%s (SQLSTATE %s)",
	    dbm_result_errmsg(r), dbm_result_sqlstate(r));
	dbm_result_free(r);
	cr_assert_lt(took, 5000 * t_slow(), "the INSERT waited %lld ms for the lock",
	    (long long)took);
	cr_assert_eq(dbm_commit(s.rw), DBM_OK, "COMMIT: %s", dbm_errmsg(s.c));
	t_exec0(h2, "INSERT INTO t VALUES (3)", 0, NULL);
	iso_disconnect(c2);
	iso_stop(&s);
}

/*
 * In-memory databases: one per environment, shared by its roles.
 */

Test(sqlite_isolation, each_in_memory_environment_is_its_own)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*a, *a2, *b;

	t_dbmd_start(&d, SETS("a.uri=sqlite::memory:", "b.uri=sqlite::memory:",
	    "a.reports.read_only=true"));
	c = iso_connect(&d);
	a = t_open(c, "a", "primary");
	a2 = t_open(c, "a", "reports");
	b = t_open(c, "b", "primary");
	t_exec0(a, "CREATE TABLE only_a (v TEXT)", 0, NULL);
	t_exec0(a, "INSERT INTO only_a VALUES ('from a')", 0, NULL);
	t_exec0(b, "CREATE TABLE only_b (v TEXT)", 0, NULL);
	/* The roles of a share its database. */
	value_is(a2, "SELECT v FROM only_a", "from a", "");
	refused(a2, "SELECT * FROM only_b", "42P01", NULL);
	/* b sees none of a's, by name or by opening a's in-memory database. */
	refused(b, "SELECT * FROM only_a", "42P01", NULL);
	value_is(b, "SELECT count(*) FROM sqlite_schema WHERE name = 'only_a'", "0", "");
	refused(b, "ATTACH 'file:/dbmd-memory-a?vfs=memdb' AS a", "42501", NULL);
	fails(b, "SELECT v FROM a.only_a");
	iso_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Session state: a temporary table of one client is not another's.
 */

Test(sqlite_isolation, temp_table_of_one_client_never_shadows_for_another)
{
	struct iso	 s;
	dbm_conn	*ca, *cb;
	dbm_handle	*a, *b;

	iso_start(&s, SETS("open.pool_size=1"));
	t_exec0(s.rw, "CREATE TABLE accounts (owner TEXT, balance INTEGER)", 0, NULL);
	t_exec0(s.rw, "INSERT INTO accounts VALUES ('real', 100)", 0, NULL);
	/* A temporary table of an unpinned handle is never another handle's. */
	t_exec0(s.rw, "CREATE TEMP TABLE accounts (owner TEXT, balance INTEGER)", 0, NULL);
	{
		dbm_handle *other = t_open(s.c, "open", "primary");

		value_is(other, "SELECT owner FROM accounts", "real", "another handle of the "
		    "same client read the temporary table");
		cr_assert_eq(dbm_dispose(other), DBM_OK);
	}
	/*
	 * Client A, in a transaction, shadows the table on the pool's one connection and
	 * leaves a temporary view (with a name that needs quoting) and a temporary
	 * trigger on the real table; then it lets the connection go.
	 */
	ca = iso_connect(&s.d);
	a = t_open(ca, "open", "primary");
	cr_assert_eq(dbm_begin(a), DBM_OK, "BEGIN: %s", dbm_errmsg(ca));
	t_exec0(a, "CREATE TEMP TABLE accounts (owner TEXT, balance INTEGER)", 0, NULL);
	t_exec0(a, "INSERT INTO accounts VALUES ('forged', 1000000)", 0, NULL);
	t_exec0(a, "CREATE TEMP VIEW \"a\"\"view\" AS SELECT * FROM accounts", 0, NULL);
	t_exec0(a, "CREATE TEMP TRIGGER spy AFTER INSERT ON main.accounts BEGIN "
	    "INSERT INTO accounts VALUES (new.owner, new.balance); END", 0, NULL);
	value_is(a, "SELECT owner FROM accounts", "forged", "");
	cr_assert_eq(dbm_commit(a), DBM_OK, "COMMIT: %s", dbm_errmsg(ca));
	cb = iso_connect(&s.d);
	b = t_open(cb, "open", "primary");
	/* The very statement A ran, which the connection has prepared over A's table. */
	value_is(b, "SELECT owner FROM accounts", "real", "B read A's temporary table");
	t_exec0(b, "INSERT INTO accounts VALUES ('b', 5)", 0, NULL);
	value_is(b, "SELECT count(*) FROM main.accounts WHERE owner = 'b'", "1", "B's INSERT did not land in the real table");
	value_is(b, "SELECT count(*) FROM temp.sqlite_schema", "0", "B sees A's temporary objects");
	iso_disconnect(cb);
	iso_disconnect(ca);
	iso_stop(&s);
}

/*
 * The result cache after a schema change.
 */

/* Runs sql with the cache asked for; its one value must be want, its cache state state. */
static void
cached(dbm_handle *h, const char *sql, const char *want, int state)
{
	struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;
	dbm_result		*r;

	o.cache_max_age_ms = 60000;
	r = dbm_exec_opts(h, sql, 0, NULL, &o);
	cr_assert_not_null(r);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: %s", sql, dbm_result_errmsg(r));
	cr_assert_eq(dbm_nrows(r), 1, "%s: %d rows", sql, dbm_nrows(r));
	cr_assert_str_eq(dbm_value(r, 0, 0), want, "%s: %s, not %s (cache state %d)", sql,
	    dbm_value(r, 0, 0), want, dbm_cache_state(r));
	cr_assert_eq(dbm_cache_state(r), state, "%s: cache state %d, not %d", sql,
	    dbm_cache_state(r), state);
	dbm_result_free(r);
}

Test(sqlite_isolation, a_recreated_view_never_serves_a_stale_cached_result)
{
	static const char *const q = "SELECT group_concat(x) FROM v";
	struct iso	 s;

	iso_start(&s, SETS("open.pool_size=1"));
	t_exec0(s.rw, "CREATE TABLE t1 (x TEXT)", 0, NULL);
	t_exec0(s.rw, "CREATE TABLE t2 (x TEXT)", 0, NULL);
	t_exec0(s.rw, "INSERT INTO t1 VALUES ('one')", 0, NULL);
	t_exec0(s.rw, "INSERT INTO t2 VALUES ('two')", 0, NULL);
	t_exec0(s.rw, "CREATE VIEW v AS SELECT x FROM t1", 0, NULL);
	cached(s.rw, q, "one", DBM_CACHE_MISS);
	cached(s.rw, q, "one", DBM_CACHE_HIT);
	t_exec0(s.rw, "DROP VIEW v", 0, NULL);
	t_exec0(s.rw, "CREATE VIEW v AS SELECT x FROM t2", 0, NULL);
	/* The statement prepared over t1 is prepared again over t2. */
	cached(s.rw, q, "two", DBM_CACHE_MISS);
	t_exec0(s.rw, "INSERT INTO t2 VALUES ('three')", 0, NULL);
	cached(s.rw, q, "two,three", DBM_CACHE_MISS);
	cached(s.rw, q, "two,three", DBM_CACHE_HIT);
	t_exec0(s.rw, "INSERT INTO t2 VALUES ('four')", 0, NULL);
	cached(s.rw, q, "two,three,four", DBM_CACHE_MISS);
	iso_stop(&s);
}
