/* test_access.c: who may open what, what status shows to whom, and secrets kept out of sight. */

/*
 * The second user is nobody: a child of the test that drops root and talks to
 * the test's dbmd through a socket of mode 0666.  It reports what it saw as
 * text through a pipe (Criterion's assertions belong to the test's own
 * process) and stays connected until the test lets it go, so that the test
 * can look at the daemon, as root, while nobody is still a client.
 */

#include <grp.h>
#include <pwd.h>

#include "pg.h"

TestSuite(access, .init = pg_setup, .fini = pg_teardown, .timeout = 60);

/* A child running as nobody. */
struct nobody {
	pid_t	 pid;
	FILE	*report;	/* what it saw, a line each, up to "done" */
	int	 hold;		/* closing it lets the child disconnect and exit */
};

/* What the nobody child checks; it writes a line per problem to out. */
typedef void (*nobody_fn)(const struct t_dbmd *, FILE *);

/* Set by the test before the child starts: what the child compares against. */
static struct {
	char	 mine[17];	/* hash of the pool nobody may use */
	char	 theirs[17];	/* hash of the pool it may not */
} want;

static void
nobody_start(struct nobody *nb, const struct t_dbmd *d, nobody_fn fn)
{
	struct passwd *pw = getpwnam("nobody");
	int report[2], hold[2];
	FILE *out;
	char c;

	if (geteuid() != 0) {
		pg_teardown();
		cr_skip_test("needs root to act as a second user");
	}
	cr_assert_not_null(pw, "no user nobody");
	cr_assert(pipe(report) == 0 && pipe(hold) == 0);
	if ((nb->pid = t_fork()) == 0) {
		close(report[0]);
		close(hold[1]);
		out = fdopen(report[1], "w");
		if (out == NULL || setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(100);
		fn(d, out);
		fputs("done\n", out);
		fflush(out);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(report[1]);
	close(hold[0]);
	nb->report = fdopen(report[0], "r");
	cr_assert_not_null(nb->report);
	nb->hold = hold[1];
}

/* Reads the child's report up to "done": the test fails on anything else in it. */
static void
nobody_report(struct nobody *nb)
{
	char line[512], *all = t_strf("%s", ""), *next;
	int done = 0;

	while (fgets(line, sizeof(line), nb->report) != NULL) {
		if (strcmp(line, "done\n") == 0) {
			done = 1;
			break;
		}
		next = t_strf("%s%s", all, line);
		free(all);
		all = next;
	}
	cr_assert(done, "the nobody child ended early; it reported:\n%s", all);
	cr_assert_str_empty(all, "as nobody:\n%s", all);
	free(all);
}

static void
nobody_end(struct nobody *nb)
{
	int st;

	close(nb->hold);
	fclose(nb->report);
	cr_assert(t_wait_pid(nb->pid, 10000, &st), "the nobody child did not exit");
	cr_assert_eq(t_exit_code(st), 0, "the nobody child exited %d", t_exit_code(st));
}

/* Opens env/primary with one override; returns the handle or NULL with the code in *code. */
static dbm_handle *
open_with(dbm_conn *c, const char *env, const char *key, const char *value, int *code)
{
	struct dbm_override ov = { .key = key, .value = value };
	struct dbm_open_opts o = DBM_OPEN_OPTS_INIT;
	dbm_handle *h;

	o.n_overrides = key != NULL;
	o.overrides = key != NULL ? &ov : NULL;
	h = dbm_open(c, env, "primary", &o);
	*code = h != NULL ? DBM_OK : dbm_errcode(c);
	return h;
}

/* The column col of every row of a result set, as one comma-separated line. */
static char *
column(const dbm_result *r, const char *col)
{
	char *all = t_strf("%s", ""), *next;
	int i, n = r != NULL ? dbm_colnum(r, col) : -1;

	for (i = 0; n >= 0 && i < dbm_nrows(r); i++) {
		next = t_strf("%s%s%s", all, i ? "," : "", dbm_value(r, i, n));
		free(all);
		all = next;
	}
	return all;
}

#define EXPECT(out, cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(out, "line %d: ", __LINE__);			\
		fprintf(out, __VA_ARGS__);				\
		fputc('\n', out);					\
	}								\
} while (0)

/* Two environments: mine lets nobody (and root) in, theirs has the default policy. */
static void
conf_mine_and_theirs(void)
{
	FILE *fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp);
	fprintf(fp,
	    "environments:\n"
	    "  mine:\n"
	    "    uri: sqlite:%s/mine.db\n"
	    "    allow: {users: [nobody, root]}\n"
	    "    overridable: [pool_size]\n"
	    "  theirs:\n"
	    "    uri: sqlite:%s/theirs.db\n"
	    "    overridable: [pool_size]\n", t_h.dir, t_h.dir);
	fclose(fp);
	chmod(t_h.dir, 0755);
}

static const char *const sets_0666[] = { "daemon.socket_mode=0666", NULL };

/* 1. Access is decided on the configuration as configured, before any override. */

static void
nobody_opens_with_overrides(const struct t_dbmd *d, FILE *out)
{
	dbm_conn *c = dbm_connect(d->sock);
	dbm_handle *h;
	int code;

	if (dbm_errcode(c) != DBM_OK) {
		fprintf(out, "connect: %s\n", dbm_errmsg(c));
		return;
	}
	h = open_with(c, "mine", "pool_size", "3", &code);
	EXPECT(out, code == DBM_OK, "mine with pool_size=3: %s", dbm_strerror(code));
	dbm_dispose(h);
	open_with(c, "mine", "allow.users", "nobody", &code);
	EXPECT(out, code == DBM_E_NOT_OVERRIDABLE, "mine with allow.users: %s",
	    dbm_strerror(code));
	open_with(c, "theirs", NULL, NULL, &code);
	EXPECT(out, code == DBM_E_PERMISSION, "theirs: %s", dbm_strerror(code));
	open_with(c, "theirs", "pool_size", "3", &code);
	EXPECT(out, code == DBM_E_PERMISSION, "theirs with pool_size=3: %s",
	    dbm_strerror(code));
	/* Refused for who it is, before its overrides are even looked at. */
	open_with(c, "theirs", "allow.users", "nobody", &code);
	EXPECT(out, code == DBM_E_PERMISSION, "theirs with allow.users=nobody: %s",
	    dbm_strerror(code));
	open_with(c, "theirs", "statement_timeout", "1s", &code);
	EXPECT(out, code == DBM_E_PERMISSION, "theirs with statement_timeout=1s: %s",
	    dbm_strerror(code));
	dbm_disconnect(c);
}

Test(access, access_is_decided_on_the_configured_lists_before_any_override)
{
	struct t_dbmd d;
	struct nobody nb;

	conf_mine_and_theirs();
	t_dbmd_start(&d, sets_0666);
	nobody_start(&nb, &d, nobody_opens_with_overrides);
	nobody_report(&nb);
	nobody_end(&nb);
	cr_assert(t_dbmd_logged(&d, "permission denied", NULL));
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(access, a_configuration_making_allow_overridable_is_refused_with_its_place)
{
	char *bin = getenv("TEST_DBMD_BIN"), *where;
	struct t_run r;
	FILE *fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp);
	fprintf(fp,
	    "environments:\n"
	    "  theirs:\n"
	    "    uri: sqlite:%s/theirs.db\n"
	    "    overridable: [pool_size, allow.users]\n", t_h.dir);
	fclose(fp);
	r = t_run((char *[]){ bin, "-n", "-c", t_h.conf, NULL }, (char *[]){ T_PATH, NULL },
	    10000);
	cr_assert_neq(r.status, 0, "dbmd -n accepted it:\n%s%s", r.out, r.err);
	where = t_strf("%s:4:30", t_h.conf);
	cr_assert_not_null(strstr(r.err, where), "%s not in:\n%s", where, r.err);
	cr_assert_not_null(strstr(r.err, "allow.users"), "%s", r.err);
	free(where);
	t_run_free(&r);

	/* Nor can the operator's command line do it. */
	fp = fopen(t_h.conf, "w");
	fclose(fp);
	r = t_run((char *[]){ bin, "-n", "-c", t_h.conf, "--set",
	    "test.overridable=allow.groups", NULL }, (char *[]){ T_PATH, NULL }, 10000);
	cr_assert_neq(r.status, 0, "dbmd -n accepted it:\n%s%s", r.out, r.err);
	cr_assert_not_null(strstr(r.err, "--set test.overridable"), "%s", r.err);
	t_run_free(&r);
}

/* 3. Status shows a client that is not an admin only what it may use. */

static dbm_conn *volatile nobody_conn;	/* the child's connection, open until it exits */

static void
nobody_looks(const struct t_dbmd *d, FILE *out)
{
	dbm_conn *c = dbm_connect(d->sock);
	dbm_handle *h;
	dbm_result *r;
	const dbm_result *pools, *hist;
	char *v, me[16], parent[16], uid[16];
	int i, code;

	if (dbm_errcode(c) != DBM_OK) {
		fprintf(out, "connect: %s\n", dbm_errmsg(c));
		return;
	}
	h = open_with(c, "mine", NULL, NULL, &code);
	EXPECT(out, h != NULL, "open mine: %s", dbm_errmsg(c));

	r = dbm_status(c);
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_OK, "STATUS failed");
	if (r != NULL && dbm_result_status(r) == DBM_OK) {
		pools = dbm_result_next(r);
		hist = pools != NULL ? dbm_result_next(pools) : NULL;
		v = column(pools, "hash");
		EXPECT(out, strcmp(v, want.mine) == 0, "pools listed: %s (want only %s)", v,
		    want.mine);
		free(v);
		v = column(pools, "names");
		EXPECT(out, strstr(v, "theirs") == NULL, "pool names listed: %s", v);
		free(v);
		v = column(hist, "hash");
		EXPECT(out, strstr(v, want.theirs) == NULL, "histograms listed: %s", v);
		free(v);
		v = column(r, "clients");
		EXPECT(out, strcmp(v, "1") == 0, "daemon.clients %s, not its own 1", v);
		free(v);
		v = column(r, "pools");
		EXPECT(out, strcmp(v, "1") == 0, "daemon.pools %s, not the 1 it may see", v);
		free(v);
	}
	dbm_result_free(r);

	snprintf(me, sizeof(me), "%ld", (long)getpid());
	snprintf(parent, sizeof(parent), "%ld", (long)getppid());
	snprintf(uid, sizeof(uid), "%ld", (long)getuid());
	r = dbm_clients(c);
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_OK, "CLIENTS failed");
	if (r != NULL && dbm_result_status(r) == DBM_OK) {
		v = column(r, "pid");
		EXPECT(out, strcmp(v, me) == 0, "clients' pids: %s (want only %s, not root's %s)",
		    v, me, parent);
		free(v);
		for (i = 0; i < dbm_nrows(r); i++)
			EXPECT(out, strcmp(dbm_value(r, i, dbm_colnum(r, "uid")), uid) == 0,
			    "a client of uid %s is listed", dbm_value(r, i, dbm_colnum(r, "uid")));
	}
	dbm_result_free(r);

	r = dbm_resolve(c, "theirs", "primary");
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_E_PERMISSION,
	    "RESOLVE theirs: %s", r != NULL ? dbm_strerror(dbm_result_status(r)) : "NULL");
	EXPECT(out, r == NULL || strstr(dbm_result_errmsg(r), "theirs.db") == NULL,
	    "RESOLVE theirs shows its database: %s", dbm_result_errmsg(r));
	dbm_result_free(r);
	r = dbm_resolve(c, "mine", "primary");
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_OK, "RESOLVE mine: %s",
	    r != NULL ? dbm_result_errmsg(r) : "NULL");
	dbm_result_free(r);
	/* Stays connected, with its handle, until the test lets it go: kept where a leak
	 * checker sees it. */
	nobody_conn = c;
}

/*
 * Names are not told either: an unknown name's error does not list the others, and a
 * pool that two environments share shows nobody only the name it may open.
 */
static void
nobody_learns_no_names(const struct t_dbmd *d, FILE *out)
{
	dbm_conn *c = dbm_connect(d->sock);
	dbm_handle *h;
	dbm_result *r;
	const dbm_result *pools;
	char *v;
	int code;

	if (dbm_errcode(c) != DBM_OK) {
		fprintf(out, "connect: %s\n", dbm_errmsg(c));
		return;
	}
	h = open_with(c, "nosuch", NULL, NULL, &code);
	EXPECT(out, h == NULL && code == DBM_E_UNKNOWN_ENV, "open nosuch: %s",
	    dbm_errmsg(c));
	EXPECT(out, strstr(dbm_errmsg(c), "theirs") == NULL &&
	    strstr(dbm_errmsg(c), "development") == NULL, "open nosuch names others: %s",
	    dbm_errmsg(c));
	r = dbm_resolve(c, "mine", "nosuch");
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_E_UNKNOWN_ROLE &&
	    strstr(dbm_result_errmsg(r), "primary") == NULL, "RESOLVE mine/nosuch: %s",
	    r != NULL ? dbm_result_errmsg(r) : "NULL");
	dbm_result_free(r);
	h = open_with(c, "mine", NULL, NULL, &code);
	EXPECT(out, h != NULL, "open mine: %s", dbm_errmsg(c));
	r = dbm_status(c);
	EXPECT(out, r != NULL && dbm_result_status(r) == DBM_OK, "STATUS failed");
	if (r != NULL && dbm_result_status(r) == DBM_OK) {
		pools = dbm_result_next(r);
		v = column(pools, "names");
		EXPECT(out, strcmp(v, "mine/primary") == 0, "pool names shown: %s", v);
		free(v);
	}
	dbm_result_free(r);
	dbm_disconnect(c);
}

Test(access, a_client_learns_no_names_it_may_not_open)
{
	struct t_dbmd d;
	struct nobody nb;
	dbm_conn *c;
	dbm_handle *h;
	FILE *fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp);
	/* One database under two names: one pool serves both. */
	fprintf(fp,
	    "environments:\n"
	    "  mine:\n"
	    "    uri: sqlite:%s/shared.db\n"
	    "    allow: {users: [nobody, root]}\n"
	    "  theirs:\n"
	    "    uri: sqlite:%s/shared.db\n"
	    "    allow: {users: [root]}\n", t_h.dir, t_h.dir);
	fclose(fp);
	chmod(t_h.dir, 0755);
	t_dbmd_start(&d, sets_0666);
	c = t_connect(&d);
	h = t_open(c, "theirs", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	nobody_start(&nb, &d, nobody_learns_no_names);
	nobody_report(&nb);
	nobody_end(&nb);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(access, status_shows_others_only_what_they_may_use)
{
	struct t_dbmd d;
	struct nobody nb;
	dbm_conn *c;
	dbm_handle *mine, *theirs;
	dbm_result *r;
	char *v, uid[16], pid[16];

	conf_mine_and_theirs();
	t_dbmd_start(&d, sets_0666);
	c = t_connect(&d);
	mine = t_open(c, "mine", "primary");
	theirs = t_open(c, "theirs", "primary");
	snprintf(want.mine, sizeof(want.mine), "%016llx", dbm_handle_pool_hash(mine));
	snprintf(want.theirs, sizeof(want.theirs), "%016llx", dbm_handle_pool_hash(theirs));
	cr_assert_str_neq(want.mine, want.theirs);

	nobody_start(&nb, &d, nobody_looks);
	nobody_report(&nb);

	/* Root is an admin: it sees every pool and every client, nobody's included. */
	r = dbm_status(c);
	cr_assert_eq(dbm_result_status(r), DBM_OK);
	v = column(dbm_result_next(r), "hash");
	cr_assert(strstr(v, want.mine) != NULL && strstr(v, want.theirs) != NULL, "%s", v);
	free(v);
	v = column(r, "clients");
	cr_assert_str_eq(v, "2");
	free(v);
	dbm_result_free(r);
	r = dbm_clients(c);
	cr_assert_eq(dbm_result_status(r), DBM_OK);
	snprintf(uid, sizeof(uid), "%ld", (long)getpwnam("nobody")->pw_uid);
	snprintf(pid, sizeof(pid), "%ld", (long)nb.pid);
	v = column(r, "uid");
	cr_assert_not_null(strstr(v, uid), "nobody (uid %s) not in %s", uid, v);
	free(v);
	v = column(r, "pid");
	cr_assert_not_null(strstr(v, pid), "nobody's pid %s not in %s", pid, v);
	free(v);
	dbm_result_free(r);
	r = dbm_resolve(c, "theirs", "primary");
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s", dbm_result_errmsg(r));
	dbm_result_free(r);

	nobody_end(&nb);
	cr_assert(t_dbmd_logged(&d, "RESOLVE refused", "permission denied", NULL));
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* 2. Every secret libpq knows of stays out of what dbmd shows, hashes and logs. */

Test(access, no_secret_is_shown_hashed_or_logged)
{
	static const char *const secrets[] = { "sslsecret99", "pwsecret77" };
	struct t_dbmd d;
	struct t_run r;
	dbm_conn *c;
	dbm_handle *h;
	dbm_result *res;
	char *uri, *ctl, *outs[8], *log, *sock, *target, *set;
	const dbm_result *pools;
	size_t i, j, n = 0;

	pg_db_new();
	uri = t_strf("postgresql://postgres@/%s?host=%s&port=%s&sslpassword=%s&password=%s",
	    pg.db, pg.host, pg.port, secrets[0], secrets[1]);
	pg_dbmd_start(&d, uri, "daemon.log_level=debug", NULL);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);

	res = dbm_status(c);
	cr_assert_eq(dbm_result_status(res), DBM_OK);
	pools = dbm_result_next(res);
	target = column(pools, "target");
	cr_assert_not_null(strstr(target, "sslpassword=********"), "%s", target);
	cr_assert_not_null(strstr(target, "password=********"), "%s", target);
	outs[n++] = target;
	dbm_result_free(res);

	ctl = t_strf("%s/dbmctl", getenv("TEST_BUILDDIR"));
	sock = d.sock;
	r = t_run((char *[]){ ctl, "-s", sock, "--json", "status", NULL },
	    (char *[]){ T_PATH, NULL }, 10000);
	cr_assert_eq(r.status, 0, "%s", r.err);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);
	/* The human views as well: the short one cuts the target, -v shows it whole. */
	r = t_run((char *[]){ ctl, "-s", sock, "status", NULL }, (char *[]){ T_PATH, NULL },
	    10000);
	cr_assert_eq(r.status, 0, "%s", r.err);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);
	r = t_run((char *[]){ ctl, "-s", sock, "status", "-v", NULL },
	    (char *[]){ T_PATH, NULL }, 10000);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "sslpassword=********"), "%s", r.out);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);
	r = t_run((char *[]){ ctl, "-s", sock, "resolve", "production", "primary", NULL },
	    (char *[]){ T_PATH, NULL }, 10000);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "sslpassword=********"), "%s", r.out);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);
	r = t_run((char *[]){ ctl, "-s", sock, "metrics", NULL }, (char *[]){ T_PATH, NULL },
	    10000);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);
	set = t_strf("production.uri=%s", uri);
	r = t_run((char *[]){ getenv("TEST_DBMD_BIN"), "-c", t_h.conf, "--set", set,
	    "--resolve", "production", "primary", NULL }, (char *[]){ T_PATH, NULL }, 10000);
	free(set);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "sslpassword=********"), "%s", r.out);
	outs[n++] = t_strf("%s%s", r.out, r.err);
	t_run_free(&r);

	dbm_disconnect(c);
	pg_dbmd_stop(&d);
	log = t_dbmd_log(&d);
	outs[n++] = log;
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++)
			cr_assert_null(strstr(outs[i], secrets[j]), "%s shown in:\n%s", secrets[j],
			    outs[i]);
		free(outs[i]);
	}
	free(ctl);
	free(uri);
}
