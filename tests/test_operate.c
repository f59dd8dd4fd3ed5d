/* test_operate.c: reload that drains, dispose, access control and per-user limits. */

#include <grp.h>
#include <pwd.h>

#include "harness.h"

TestSuite(operate, .init = t_setup, .fini = t_teardown, .timeout = 60);

/* Replaces the test's configuration file. */
static void
write_conf(const char *text)
{
	FILE *fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *
conf_two_envs(int staging_pool_size)
{
	return t_strf(
	    "environments:\n"
	    "  staging:\n"
	    "    uri: sqlite:%s/staging.db\n"
	    "    pool_size: %d\n"
	    "  qa:\n"
	    "    uri: sqlite:%s/qa.db\n", t_h.dir, staging_pool_size, t_h.dir);
}

/* Runs RELOAD; returns its status, with the result's detail in *detail when asked. */
static int
reload(dbm_conn *c, char **detail)
{
	dbm_result *r = dbm_reload(c);
	int st;

	cr_assert_not_null(r, "RELOAD: %s", dbm_errmsg(c));
	st = dbm_result_status(r);
	if (detail != NULL)
		*detail = t_strf("%s\n%s", dbm_result_errmsg(r), dbm_result_detail(r));
	dbm_result_free(r);
	return st;
}

Test(operate, reload_keeps_unchanged_pools_and_drains_changed_ones)
{
	struct t_dbmd d;
	dbm_conn *c, *admin;
	dbm_handle *st, *qa, *st2;
	unsigned long long st_hash, qa_hash;
	char *conf = conf_two_envs(2), *connects, *state;

	write_conf(conf);
	free(conf);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	admin = t_connect(&d);
	st = t_open(c, "staging", "primary");
	qa = t_open(c, "qa", "primary");
	t_exec0(st, "CREATE TABLE t (v TEXT)", 0, NULL);
	t_exec0(qa, "CREATE TABLE t (v TEXT)", 0, NULL);
	st_hash = dbm_handle_pool_hash(st);
	qa_hash = dbm_handle_pool_hash(qa);
	connects = t_pool_field(admin, qa_hash, "connects");

	conf = conf_two_envs(3);
	write_conf(conf);
	free(conf);
	cr_assert_eq(reload(admin, NULL), DBM_OK);

	state = t_pool_field(admin, st_hash, "state");
	cr_assert_str_eq(state, "draining");
	free(state);
	state = t_pool_field(admin, qa_hash, "state");
	cr_assert_str_eq(state, "serving", "qa's settings did not change");
	free(state);
	/* The draining pool still serves the handle it has. */
	t_exec0(st, "INSERT INTO t VALUES ('while draining')", 0, NULL);
	t_exec0(qa, "INSERT INTO t VALUES ('untouched')", 0, NULL);
	state = t_pool_field(admin, qa_hash, "connects");
	cr_assert_str_eq(state, connects, "the unchanged pool kept its connections");
	free(state);
	free(connects);

	/* New opens resolve against the new configuration. */
	st2 = t_open(c, "staging", "primary");
	cr_assert_neq(dbm_handle_pool_hash(st2), st_hash);
	state = t_pool_field(admin, dbm_handle_pool_hash(st2), "pool_size");
	cr_assert_str_eq(state, "3");
	free(state);

	/* The drained pool goes with its last handle. */
	cr_assert_eq(dbm_dispose(st), DBM_OK);
	for (int i = 0; i < 100 && (state = t_pool_field(admin, st_hash, "state")) != NULL; i++) {
		free(state);
		t_sleep_ms(20);
	}
	cr_assert_null(t_pool_field(admin, st_hash, "state"), "the drained pool is gone");
	cr_assert(t_dbmd_logged(&d, "draining", NULL));
	dbm_disconnect(c);
	dbm_disconnect(admin);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(operate, invalid_reload_changes_nothing_and_says_where)
{
	struct t_dbmd d;
	dbm_conn *c;
	dbm_handle *h;
	unsigned long long hash;
	char *conf = conf_two_envs(2), *detail, *state, *where;

	write_conf(conf);
	free(conf);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "staging", "primary");
	hash = dbm_handle_pool_hash(h);
	write_conf("environments:\n  staging:\n    pool_size: 5000\n    colour: blue\n");
	cr_assert_eq(reload(c, &detail), DBM_E_CONFIG);
	where = t_strf("%s:3:16", t_h.conf);
	cr_assert_not_null(strstr(detail, where), "%s", detail);
	free(where);
	where = t_strf("%s:4:5", t_h.conf);
	cr_assert_not_null(strstr(detail, where), "%s", detail);
	free(where);
	free(detail);
	state = t_pool_field(c, hash, "state");
	cr_assert_str_eq(state, "serving");
	free(state);
	t_exec0(h, "SELECT 1", 0, NULL);
	dbm_dispose(h);
	/* The old configuration still answers opens. */
	h = t_open(c, "qa", "primary");
	dbm_dispose(h);
	cr_assert(t_dbmd_logged(&d, "configuration in use is unchanged", NULL));
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(operate, sighup_reloads_too)
{
	struct t_dbmd d;
	dbm_conn *c;
	dbm_handle *h;
	char *conf = conf_two_envs(2);

	write_conf(conf);
	free(conf);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	cr_assert_null(dbm_open(c, "extra", "primary", NULL));
	cr_assert_eq(dbm_errcode(c), DBM_E_UNKNOWN_ENV);
	conf = t_strf("environments:\n  extra:\n    uri: sqlite:%s/extra.db\n", t_h.dir);
	write_conf(conf);
	free(conf);
	kill(d.pid, SIGHUP);
	cr_assert(t_dbmd_logged(&d, "configuration reloaded", NULL));
	h = t_open(c, "extra", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(operate, handles_left_after_drain_timeout_get_a_clear_error)
{
	static const char *const sets[] = { "daemon.drain_timeout=200ms", NULL };
	struct t_dbmd d;
	dbm_conn *c;
	dbm_handle *h;
	dbm_result *r;
	unsigned long long hash;
	int64_t end;
	char *conf = conf_two_envs(2), *state;

	write_conf(conf);
	free(conf);
	t_dbmd_start(&d, sets);
	c = t_connect(&d);
	h = t_open(c, "staging", "primary");
	hash = dbm_handle_pool_hash(h);
	conf = conf_two_envs(4);
	write_conf(conf);
	free(conf);
	cr_assert_eq(reload(c, NULL), DBM_OK);
	/* The janitor, once a second, disposes of the pool when drain_timeout has passed. */
	end = t_now_ms() + 10000LL * t_slow();
	while ((state = t_pool_field(c, hash, "state")) != NULL &&
	    strcmp(state, "draining") == 0 && t_now_ms() < end) {
		free(state);
		t_sleep_ms(20);
	}
	cr_assert(state == NULL || strcmp(state, "draining") != 0, "the pool is still "
	    "draining 10s after its drain_timeout of 200ms");
	free(state);
	r = t_exec_fails(h, "SELECT 1", 0, NULL, DBM_E_DRAINING);
	cr_assert_not_null(strstr(dbm_result_errmsg(r), "dispose the handle"), "%s",
	    dbm_result_errmsg(r));
	dbm_result_free(r);
	cr_assert_eq(dbm_dispose(h), DBM_OK);
	h = t_open(c, "staging", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* How many pools in the status have the hash and the state. */
static int
pools_with_hash(dbm_conn *c, unsigned long long hash, const char *state)
{
	dbm_result *r = dbm_status(c);
	const dbm_result *p = dbm_result_next(r);
	char want[17];
	int i, n = 0;

	snprintf(want, sizeof(want), "%016llx", hash);
	for (i = 0; i < dbm_nrows(p); i++)
		n += strcmp(dbm_value(p, i, dbm_colnum(p, "hash")), want) == 0 &&
		    strcmp(dbm_value(p, i, dbm_colnum(p, "state")), state) == 0;
	dbm_result_free(r);
	return n;
}

Test(operate, dispose_drains_a_pool_by_name_or_hash)
{
	struct t_dbmd d;
	dbm_conn *c;
	dbm_handle *a, *b;
	dbm_result *r;
	unsigned long long ha, hb;
	char prefix[17];

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	a = t_open(c, "development", "primary");
	b = t_open(c, "test", "primary");
	ha = dbm_handle_pool_hash(a);
	hb = dbm_handle_pool_hash(b);

	r = dbm_dispose_pool(c, "development/primary");
	cr_assert_not_null(r);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	cr_assert_eq(dbm_nrows(r), 1);
	dbm_result_free(r);
	t_exec0(a, "SELECT 1", 0, NULL);	/* draining: its handle still works */
	/* A new open gets a new pool: the same settings, so the same hash. */
	cr_assert_eq(dbm_handle_pool_hash(t_open(c, "development", "primary")), ha);
	cr_assert_eq(pools_with_hash(c, ha, "draining"), 1);
	cr_assert_eq(pools_with_hash(c, ha, "serving"), 1);

	snprintf(prefix, sizeof(prefix), "%016llx", hb);
	prefix[8] = '\0';
	r = dbm_dispose_pool(c, prefix);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	cr_assert_eq(dbm_nrows(r), 1);
	dbm_result_free(r);

	r = dbm_dispose_pool(c, "not a pool!");
	cr_assert_neq(dbm_result_status(r), DBM_OK);
	dbm_result_free(r);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Runs fn as the user nobody in a child process and returns its exit code: the
 * child reports what it saw through it.
 */
static int
as_nobody(const struct t_dbmd *d, int (*fn)(const struct t_dbmd *))
{
	struct passwd *pw = getpwnam("nobody");
	pid_t pid;
	int st;

	cr_assert_not_null(pw, "no user nobody");
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(100);
		_exit(fn(d));
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* What a second user may do: 1 denied open, 2 allowed open, 4 denied reload, 8 status. */
static int
nobody_tries(const struct t_dbmd *d)
{
	dbm_conn *c = dbm_connect(d->sock);
	dbm_handle *h;
	dbm_result *r;
	int seen = 0;

	if (dbm_errcode(c) != DBM_OK)
		return 99;
	if (dbm_open(c, "development", "primary", NULL) == NULL &&
	    dbm_errcode(c) == DBM_E_PERMISSION && strstr(dbm_errmsg(c), "development") != NULL)
		seen |= 1;
	if ((h = dbm_open(c, "test", "primary", NULL)) != NULL) {
		r = dbm_exec(h, "SELECT 1", 0, NULL);
		if (r != NULL && dbm_result_status(r) == DBM_OK)
			seen |= 2;
		dbm_result_free(r);
	}
	r = dbm_reload(c);
	if (r != NULL && dbm_result_status(r) == DBM_E_PERMISSION)
		seen |= 4;
	dbm_result_free(r);
	r = dbm_status(c);
	if (r != NULL && dbm_result_status(r) == DBM_OK)
		seen |= 8;
	dbm_result_free(r);
	dbm_disconnect(c);
	return seen;
}

Test(operate, allow_lists_decide_who_opens_what)
{
	static const char *const sets[] = { "daemon.socket_mode=0666", "test.allow.users=nobody",
	    NULL };
	struct t_dbmd d;
	dbm_conn *c;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as a second user");
	chmod(t_h.dir, 0755);
	t_dbmd_start(&d, sets);
	cr_assert_eq(as_nobody(&d, nobody_tries), 1 | 2 | 4 | 8);
	cr_assert(t_dbmd_logged(&d, "open refused", "permission denied", NULL));
	/* The default admits root, and test's list now admits only nobody. */
	c = t_connect(&d);
	dbm_dispose(t_open(c, "development", "primary"));
	cr_assert_null(dbm_open(c, "test", "primary", NULL));
	cr_assert_eq(dbm_errcode(c), DBM_E_PERMISSION);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

static int
nobody_reloads(const struct t_dbmd *d)
{
	dbm_conn *c = dbm_connect(d->sock);
	dbm_result *r = dbm_reload(c);
	int ok = r != NULL && dbm_result_status(r) == DBM_OK;

	dbm_result_free(r);
	dbm_disconnect(c);
	return ok ? 0 : 1;
}

Test(operate, admin_list_lets_another_user_reload)
{
	static const char *const sets[] = { "daemon.socket_mode=0666",
	    "daemon.admin.users=nobody", NULL };
	struct t_dbmd d;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as a second user");
	chmod(t_h.dir, 0755);
	t_dbmd_start(&d, sets);
	cr_assert_eq(as_nobody(&d, nobody_reloads), 0);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(operate, clients_per_user_are_limited)
{
	static const char *const sets[] = { "daemon.max_clients_per_uid=2", NULL };
	struct t_dbmd d;
	dbm_conn *a, *b, *c;
	int64_t end;

	t_dbmd_start(&d, sets);
	a = t_connect(&d);
	b = t_connect(&d);
	c = dbm_connect(d.sock);
	cr_assert_eq(dbm_errcode(c), DBM_E_LIMIT, "%s", dbm_errmsg(c));
	dbm_disconnect(c);
	cr_assert(t_dbmd_logged(&d, "max_clients_per_uid", NULL));
	dbm_disconnect(b);
	/* A place is free again once dbmd has seen b close. */
	end = t_now_ms() + 5000LL * t_slow();
	while (dbm_errcode(c = dbm_connect(d.sock)) == DBM_E_LIMIT && t_now_ms() < end) {
		dbm_disconnect(c);
		t_sleep_ms(10);
	}
	cr_assert_eq(dbm_errcode(c), DBM_OK, "no place 5s after a client left: %s",
	    dbm_errmsg(c));
	dbm_disconnect(c);
	dbm_disconnect(a);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(operate, metrics_are_prometheus_text_with_histograms)
{
	struct t_dbmd d;
	dbm_conn *c;
	dbm_handle *h;
	struct t_run r;
	char *bin, *line, *save = NULL, *out;
	int samples = 0, buckets = 0;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	for (int i = 0; i < 5; i++)
		t_exec0(h, "SELECT 1", 0, NULL);
	bin = t_strf("%s/dbmctl", getenv("TEST_BUILDDIR"));
	r = t_run((char *[]){ bin, "-s", d.sock, "metrics", NULL }, (char *[]){ T_PATH, NULL },
	    10000);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "# TYPE dbmd_pool_statement_seconds histogram"));
	cr_assert_not_null(strstr(r.out, "dbmd_pool_statements_total{hash=\""));
	cr_assert_not_null(strstr(r.out, "environment=\"development\",role=\"primary\""));
	out = t_strf("%s", r.out);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *v;
		char *end;

		if (line[0] == '#')
			continue;
		/* name{labels} value: the value parses as a number, nothing after it. */
		v = strrchr(line, ' ');
		cr_assert_not_null(v, "%s", line);
		strtod(v + 1, &end);
		cr_assert(*end == '\0' && end != v + 1, "bad sample: %s", line);
		cr_assert(line[0] >= 'a' && line[0] <= 'z', "bad sample: %s", line);
		samples++;
		if (strncmp(line, "dbmd_pool_statement_seconds_bucket{", 35) == 0 &&
		    strstr(line, "le=\"+Inf\"") != NULL) {
			cr_assert_str_eq(v + 1, "5", "%s", line);
			buckets++;
		}
	}
	cr_assert_gt(samples, 20);
	cr_assert_eq(buckets, 1);
	free(out);
	t_run_free(&r);
	free(bin);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}
