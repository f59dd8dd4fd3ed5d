/* faults.h: what the fault tests share: a PostgreSQL server of their own, faults, checks. */

/*
 * Header-only for the reason harness.h is (the Makefile builds each
 * tests/test_*.c on its own), so everything is static and marked unused.
 *
 * A fault test breaks things on purpose: it stops or kills the PostgreSQL
 * server under dbmd, kills clients, kills dbmd.  The shared server of
 * tests/pg_harness.sh must not be disturbed, so a test that stops a server
 * starts one of its own (fpg_start), with the shared server's binaries and
 * as the same user, on a socket directory of its own, and removes it at
 * teardown.  Everything dbmd holds on that server is dbmd's, so the
 * server's view (pg_stat_activity) and dbmd's (STATUS) can be compared
 * whole: after every fault the two must agree, and no session may be left
 * idle in a transaction.
 *
 * Every wait has a deadline (scaled by t_slow); clients run on threads or in
 * children so that the test can bound how long each waits for its answer.
 * Criterion's assertions run only on the test's main thread: the threads
 * write their outcome down.
 */

#ifndef DBMD_TEST_FAULTS_H
#define DBMD_TEST_FAULTS_H

#include <sys/resource.h>
#include <sys/types.h>

#include <dirent.h>
#include <pwd.h>
#include <stdbool.h>

#include "pg.h"

#define F_SH_PATH	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define F_PORT		"5433"		/* the private server's socket name; no TCP */
#define F_ANSWER_MS	10000		/* bound on a client's answer after a fault */
#define F_RECOVER_MS	15000		/* bound on service resuming after a fault */

/* Running programs. */

/*
 * Runs a shell command line to completion with a plain PATH; through sh on
 * purpose, as test_pg.c does: make valgrind does not trace sh.
 */
T_FN struct t_run
f_sh(const char *cmd, int timeout_ms)
{
	char	*argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	char	*envp[] = { F_SH_PATH, NULL };

	return t_run(argv, envp, timeout_ms);
}

/* Runs a command that must succeed. */
T_FN void
f_sh_ok(const char *cmd, int timeout_ms)
{
	struct t_run	 r = f_sh(cmd, timeout_ms);

	cr_assert_eq(r.status, 0, "%s: exit status %d: %s%s", cmd, r.status, r.out, r.err);
	t_run_free(&r);
}

/* "runuser -u USER -- " when the servers run as another user (we are root), else "". */
T_FN char *
f_runas(void)
{
	const char	*runas = getenv("TEST_PGRUNAS");

	if (runas == NULL || *runas == '\0')
		return t_strf("%s", "");
	return t_strf("runuser -u %s -- ", runas);
}

/* The last lines of dbmd's log, for a failure message; the caller frees it. */
T_FN char *
f_log_tail(const struct t_dbmd *d, size_t max)
{
	char	*log = t_dbmd_log(d), *tail;
	size_t	 n = strlen(log);

	tail = t_strf("%s%s", n > max ? "[...]" : "", n > max ? log + n - max : log);
	free(log);
	return tail;
}

/* Whether a started dbmd is still running, without reaping it if it is not. */
T_FN int
f_running(pid_t pid)
{
	siginfo_t	 si;

	if (pid <= 0)
		return 0;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return 0;
	return si.si_pid == 0;
}

/*
 * Sends SIGTERM and waits ms (scaled) for dbmd to exit; returns its exit
 * code (t_exit_code), or fails the test with its log when it hangs.
 */
T_FN int
f_dbmd_term(struct t_dbmd *d, int ms)
{
	char	*log;
	int	 st;

	if (d->pid <= 0)	/* reaped already: never kill(0), the whole process group */
		return t_exit_code(d->status);
	kill(d->pid, SIGTERM);
	if (!t_wait_pid(d->pid, ms * t_slow(), &st)) {
		t_kill_pid(d->pid);
		d->pid = 0;
		log = f_log_tail(d, 4000);
		cr_assert_fail("dbmd did not exit within %dms of SIGTERM; its log:\n%s",
		    ms * t_slow(), log);
	}
	d->pid = 0;
	d->status = st;
	return t_exit_code(st);
}

/* Stops dbmd, which must exit 0 within 10s, with its log when it does not. */
T_FN void
f_dbmd_stop_clean(struct t_dbmd *d, const char *what)
{
	int	 code = f_dbmd_term(d, 10000);
	char	*log;

	if (code == 0)
		return;
	log = f_log_tail(d, 6000);
	cr_assert_fail("%s: dbmd exited with status %d%s after SIGTERM, not 0; its log:\n%s",
	    what, code, code == 128 + SIGSEGV ? " (SIGSEGV)" : code == 128 + SIGABRT ?
	    " (SIGABRT)" : "", log);
}

/* The server of the test's own. */

static struct {
	char	 dir[64];		/* "" when none */
	char	 sock[PATH_MAX];	/* its socket directory */
	char	 data[PATH_MAX];
	pid_t	 kids[256];		/* a killed postmaster's children, until gone */
	int	 nkids;
} fpg;

/* Starts (or starts again) the server in fpg.data; returns when it accepts connections. */
T_FN void
fpg_up(void)
{
	const char	*bin = getenv("TEST_PGBIN");
	char		*pre = f_runas();
	char		*cmd = t_strf("%s'%s/pg_ctl' -D '%s' -l '%s/pg.log' -w -t 60 start -o "
	    "\"-c listen_addresses='' -k %s -p %s -c fsync=off -c max_connections=100\" 2>&1",
	    pre, bin, fpg.data, fpg.data, fpg.sock, F_PORT);

	f_sh_ok(cmd, 90000);
	free(cmd);
	free(pre);
}

/*
 * Makes and starts a server of the test's own, as pg_harness.sh makes the
 * shared one: the test skips without PostgreSQL, or fails under CI=true
 * (pg_require).
 */
T_FN void
fpg_start(void)
{
	const char	*bin, *runas = getenv("TEST_PGRUNAS");
	struct passwd	*pw;
	char		*pre, *cmd;

	pg_require();
	bin = getenv("TEST_PGBIN");
	cr_assert(bin != NULL && *bin != '\0', "TEST_PGBIN is not set (pg_harness.sh sets it)");
	strcpy(fpg.dir, "/tmp/dbmd-fpg-XXXXXX");
	cr_assert_not_null(mkdtemp(fpg.dir), "mkdtemp: %s", strerror(errno));
	chmod(fpg.dir, 0755);
	snprintf(fpg.data, sizeof(fpg.data), "%s/data", fpg.dir);
	snprintf(fpg.sock, sizeof(fpg.sock), "%s/sock", fpg.dir);
	cr_assert_eq(mkdir(fpg.data, 0700), 0, "%s: %s", fpg.data, strerror(errno));
	cr_assert_eq(mkdir(fpg.sock, 0755), 0, "%s: %s", fpg.sock, strerror(errno));
	if (runas != NULL && *runas != '\0') {
		pw = getpwnam(runas);
		cr_assert_not_null(pw, "no user %s", runas);
		cr_assert_eq(chown(fpg.data, pw->pw_uid, (gid_t)-1), 0, "chown: %s",
		    strerror(errno));
		cr_assert_eq(chown(fpg.sock, pw->pw_uid, (gid_t)-1), 0, "chown: %s",
		    strerror(errno));
	}
	pre = f_runas();
	cmd = t_strf("%s'%s/initdb' -D '%s' -U postgres -A trust --no-sync 2>&1", pre, bin,
	    fpg.data);
	f_sh_ok(cmd, 120000);
	free(cmd);
	free(pre);
	fpg_up();
}

/* The postmaster's pid, from the first line of postmaster.pid; 0 when there is none. */
T_FN pid_t
fpg_postmaster(void)
{
	char	*path = t_strf("%s/postmaster.pid", fpg.data);
	char	*text = t_slurp(path);
	pid_t	 pid = (pid_t)atol(text);

	free(text);
	free(path);
	return pid;
}

/* The processes whose parent is pid now (/proc), into fpg.kids. */
T_FN void
fpg_collect_kids(pid_t pid)
{
	DIR		*d = opendir("/proc");
	struct dirent	*e;
	char		*path, *stat, *p;
	long		 ppid;

	cr_assert_not_null(d, "/proc: %s", strerror(errno));
	fpg.nkids = 0;
	while ((e = readdir(d)) != NULL && fpg.nkids < 256) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		path = t_strf("/proc/%s/stat", e->d_name);
		stat = t_slurp(path);
		/* pid (comm) state ppid: comm may hold anything but ends at the last ')'. */
		if ((p = strrchr(stat, ')')) != NULL && sscanf(p + 1, " %*c %ld", &ppid) == 1 &&
		    ppid == (long)pid)
			fpg.kids[fpg.nkids++] = (pid_t)atol(e->d_name);
		free(stat);
		free(path);
	}
	closedir(d);
}

/* Removes the server, whatever state it is in. */
T_FN void
fpg_destroy(void)
{
	const char	*bin = getenv("TEST_PGBIN");
	char		*pre, *cmd, *comm;
	struct t_run	 r;
	pid_t		 pm;

	if (fpg.dir[0] == '\0')
		return;
	if (bin != NULL) {
		pre = f_runas();
		cmd = t_strf("%s'%s/pg_ctl' -D '%s' -m immediate stop", pre, bin, fpg.data);
		r = f_sh(cmd, 30000);
		t_run_free(&r);
		free(cmd);
		free(pre);
	}
	/* A postmaster pg_ctl could not stop; a pid of a stale postmaster.pid is not one. */
	if ((pm = fpg_postmaster()) > 0) {
		cmd = t_strf("/proc/%ld/comm", (long)pm);
		comm = t_slurp(cmd);
		if (strncmp(comm, "postgres", 8) == 0)
			kill(pm, SIGKILL);
		free(comm);
		free(cmd);
	}
	cmd = t_strf("rm -rf '%s'", fpg.dir);
	r = f_sh(cmd, 30000);
	t_run_free(&r);
	free(cmd);
	fpg.dir[0] = '\0';
}

/* The URI of the server's database postgres, with more query parameters (may be ""). */
T_FN char *
fpg_uri(const char *more)
{
	return t_strf("postgresql://postgres@/postgres?host=%s&port=%s%s", fpg.sock, F_PORT,
	    more);
}

/* A new libpq connection to the server, as superuser; the caller finishes it. */
T_FN PGconn *
fpg_conn(void)
{
	return pq_connect(fpg.sock, F_PORT, "postgres");
}

/* One number from the server, on a connection of its own. */
T_FN long long
fpg_num(const char *sql)
{
	PGconn		*c = fpg_conn();
	long long	 v = pq_num(c, sql, 0, NULL);

	PQfinish(c);
	return v;
}

T_FN void
fpg_exec(const char *sql)
{
	PGconn	*c = fpg_conn();

	pq_exec0(c, sql, 0, NULL);
	PQfinish(c);
}

/*
 * dbmd's sessions on the server (its default application_name), and those
 * of them in a transaction: on the test's own server all of them, on the
 * shared one those on the test's database.
 */
#define FPG_DBMD	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbmd'"
#define FPG_IN_TXN	FPG_DBMD " AND state LIKE 'idle in transaction%'"

T_FN void
f_server_counts(long long *sessions, long long *in_txn)
{
	if (fpg.dir[0] != '\0') {
		*sessions = fpg_num(FPG_DBMD);
		*in_txn = fpg_num(FPG_IN_TXN);
		return;
	}
	cr_assert_not_null(pg.admin, "neither a server of the test's own nor a database");
	*sessions = pq_num(pg.admin, FPG_DBMD " AND datname = $1", 1,
	    (const char *[]){ pg.db });
	*in_txn = pq_num(pg.admin, FPG_IN_TXN " AND datname = $1", 1,
	    (const char *[]){ pg.db });
}

/* Faults. */

enum f_mode {
	F_IMMEDIATE,		/* pg_ctl stop -m immediate */
	F_FAST,			/* pg_ctl stop -m fast */
	F_KILL,			/* SIGKILL to the postmaster; its children die of it */
	F_TERMINATE,		/* pg_terminate_backend of dbmd's sessions; the server stays */
	F_MODE_MAX_
};

static const char *const f_mode_names[F_MODE_MAX_] = { "immediate", "fast", "sigkill",
    "terminate" };

/* Whether the fault leaves the server down until f_heal. */
T_FN int
f_down(enum f_mode m)
{
	return m != F_TERMINATE;
}

/* Terminates every session dbmd has on the server; returns how many. */
T_FN long long
f_terminate_all(void)
{
	return fpg_num("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
	    "application_name = 'dbmd'");
}

/* Breaks the server the way m says. */
T_FN void
f_inject(enum f_mode m)
{
	const char	*bin = getenv("TEST_PGBIN");
	char		*pre, *cmd;
	pid_t		 pm;
	int64_t		 end;
	int		 i, alive;

	switch (m) {
	case F_IMMEDIATE:
	case F_FAST:
		pre = f_runas();
		cmd = t_strf("%s'%s/pg_ctl' -D '%s' -m %s -w -t 60 stop 2>&1", pre, bin, fpg.data,
		    m == F_IMMEDIATE ? "immediate" : "fast");
		f_sh_ok(cmd, 90000);
		free(cmd);
		free(pre);
		break;
	case F_KILL:
		pm = fpg_postmaster();
		cr_assert_gt(pm, 0, "no postmaster.pid in %s", fpg.data);
		fpg_collect_kids(pm);
		cr_assert_eq(kill(pm, SIGKILL), 0, "kill %ld: %s", (long)pm, strerror(errno));
		/* Its children notice and exit; the server cannot start before they are gone. */
		end = t_now_ms() + 20000LL * t_slow();
		do {
			for (i = 0, alive = 0; i < fpg.nkids; i++)
				alive += kill(fpg.kids[i], 0) == 0;
			alive += kill(pm, 0) == 0;
			if (alive == 0)
				break;
			t_sleep_ms(20);
		} while (t_now_ms() < end);
		cr_assert_eq(alive, 0, "%d processes of the killed postmaster still run", alive);
		break;
	case F_TERMINATE:
		f_terminate_all();
		break;
	case F_MODE_MAX_:
		cr_assert_fail("bad mode");
	}
}

/* Ends the fault: the server runs again. */
T_FN void
f_heal(enum f_mode m)
{
	if (f_down(m))
		fpg_up();
}

/*
 * A failure that says the database went away: DBM_E_BACKEND (the
 * connection broke, or none could be made), or an SQL error of class 57
 * (operator intervention: 57P01 admin shutdown, 57P02 crash shutdown) or 08
 * (connection exception), with a message.
 */
T_FN int
f_clear_failure(int code, const char *sqlstate, const char *msg)
{
	if (msg == NULL || *msg == '\0')
		return 0;
	if (code == DBM_E_BACKEND)
		return 1;
	return code == DBM_E_SQL && sqlstate != NULL && (strncmp(sqlstate, "57", 2) == 0 ||
	    strncmp(sqlstate, "08", 2) == 0);
}

/* A client on a thread. */

/*
 * One client on a connection of its own: opens env/role, optionally begins
 * a transaction and runs pre in it, says it is ready, then runs sql.  The
 * outcome is written down for the test's thread.
 */
struct job {
	char		 sock[PATH_MAX];
	char		 env[32];
	char		 role[32];
	char		 pre[256];	/* "" or a statement in a transaction begun first */
	char		 sql[256];
	unsigned long	 cache_ms;	/* 0, or accept a cached result this old */
	pthread_t	 th;
	atomic_int	 ready;		/* opened (and pre done); sql about to be sent */
	atomic_int	 done;
	int		 joined;
	int		 code;		/* the result's status or the conn's error; -1 */
	char		 sqlstate[8];
	char		 msg[512];
	char		 value[64];	/* the first value of a successful result */
};

T_FN void *
job_main(void *arg)
{
	struct job	*j = arg;
	dbm_conn	*c = dbm_connect(j->sock);
	dbm_handle	*h = NULL;
	dbm_result	*r;

	if (dbm_errcode(c) != DBM_OK ||
	    (h = dbm_open(c, j->env, j->role, NULL)) == NULL) {
		j->code = dbm_errcode(c);
		snprintf(j->sqlstate, sizeof(j->sqlstate), "%s", dbm_errsqlstate(c));
		snprintf(j->msg, sizeof(j->msg), "connect or open: %s", dbm_errmsg(c));
		goto out;
	}
	if (j->pre[0] != '\0') {
		if (dbm_begin(h) != DBM_OK) {
			j->code = dbm_errcode(c);
			snprintf(j->msg, sizeof(j->msg), "BEGIN: %s", dbm_errmsg(c));
			goto out;
		}
		r = dbm_exec(h, j->pre, 0, NULL);
		if (r == NULL || dbm_result_status(r) != DBM_OK) {
			j->code = r == NULL ? dbm_errcode(c) : dbm_result_status(r);
			snprintf(j->msg, sizeof(j->msg), "%s: %s", j->pre, r == NULL ?
			    dbm_errmsg(c) : dbm_result_errmsg(r));
			dbm_result_free(r);
			goto out;
		}
		dbm_result_free(r);
	}
	atomic_store(&j->ready, 1);
	if (j->cache_ms > 0) {
		struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;

		o.cache_max_age_ms = j->cache_ms;
		r = dbm_exec_opts(h, j->sql, 0, NULL, &o);
	} else
		r = dbm_exec(h, j->sql, 0, NULL);
	if (r == NULL) {
		j->code = dbm_errcode(c);
		snprintf(j->msg, sizeof(j->msg), "%s", dbm_errmsg(c));
	} else {
		j->code = dbm_result_status(r);
		snprintf(j->sqlstate, sizeof(j->sqlstate), "%s", dbm_result_sqlstate(r));
		snprintf(j->msg, sizeof(j->msg), "%s", dbm_result_errmsg(r));
		if (j->code == DBM_OK && dbm_nrows(r) > 0 && dbm_ncols(r) > 0)
			snprintf(j->value, sizeof(j->value), "%s", dbm_value(r, 0, 0));
	}
	dbm_result_free(r);
out:
	dbm_disconnect(c);
	atomic_store(&j->ready, 1);
	atomic_store(&j->done, 1);
	return NULL;
}

/* Starts a job whose statement accepts a cached result cache_ms old (0: no cache). */
T_FN void
job_start_cached(struct job *j, const struct t_dbmd *d, const char *env, const char *role,
    const char *pre, const char *sql, unsigned long cache_ms)
{
	memset(j, 0, sizeof(*j));
	j->cache_ms = cache_ms;
	snprintf(j->sock, sizeof(j->sock), "%s", d->sock);
	snprintf(j->env, sizeof(j->env), "%s", env);
	snprintf(j->role, sizeof(j->role), "%s", role);
	snprintf(j->pre, sizeof(j->pre), "%s", pre != NULL ? pre : "");
	snprintf(j->sql, sizeof(j->sql), "%s", sql);
	j->code = -1;
	cr_assert_eq(pthread_create(&j->th, NULL, job_main, j), 0);
}

T_FN void
job_start(struct job *j, const struct t_dbmd *d, const char *env, const char *role,
    const char *pre, const char *sql)
{
	job_start_cached(j, d, env, role, pre, sql, 0);
}

/* Waits up to ms (scaled) for the job's answer; 1 when it came. */
T_FN int
job_wait(struct job *j, int ms)
{
	int64_t	 end = t_now_ms() + (int64_t)ms * t_slow();

	while (!atomic_load(&j->done)) {
		if (t_now_ms() >= end)
			return 0;
		t_sleep_ms(5);
	}
	if (!j->joined++)
		pthread_join(j->th, NULL);
	return 1;
}

/* The job was answered within ms of now, and clearly (f_clear_failure). */
T_FN void
job_assert_failed_clearly(struct job *j, int ms, const char *what)
{
	cr_assert(job_wait(j, ms), "%s: the client in %s was not answered within %dms", what,
	    j->sql, ms * t_slow());
	cr_assert(f_clear_failure(j->code, j->sqlstate, j->msg), "%s: the client in %s got "
	    "%s, SQLSTATE '%s': %s", what, j->sql, j->code >= 0 ? dbm_strerror(j->code) :
	    "nothing", j->sqlstate, j->msg);
}

/* dbmd's view. */

/* What STATUS says of all pools together. */
struct f_pools {
	long long	 pools;
	long long	 connecting, idle, active, pinned, closing, waiting, handles;
	long long	 connects, connect_failures, discarded;
};

T_FN long long
f_col(const dbm_result *r, int row, const char *name)
{
	int	 col = dbm_colnum(r, name);

	cr_assert_geq(col, 0, "STATUS pools have no column %s", name);
	return atoll(dbm_value(r, row, col));
}

/* Reads STATUS on a connection of its own: its PostgreSQL pools, which the server sees. */
T_FN struct f_pools
f_pools(const struct t_dbmd *d)
{
	struct f_pools		 s;
	dbm_conn		*c = t_connect(d);
	dbm_result		*r = dbm_status(c);
	const dbm_result	*p;
	int			 i, be;

	memset(&s, 0, sizeof(s));
	cr_assert_not_null(r, "STATUS: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "STATUS: %s", dbm_result_errmsg(r));
	p = dbm_result_next(r);
	cr_assert_not_null(p, "STATUS has no pools result set");
	be = dbm_colnum(p, "backend");
	cr_assert_geq(be, 0, "STATUS pools have no column backend");
	for (i = 0; i < dbm_nrows(p); i++) {
		if (strcmp(dbm_value(p, i, be), "postgresql") != 0)
			continue;
		s.pools++;
		s.connecting += f_col(p, i, "connecting");
		s.idle += f_col(p, i, "idle");
		s.active += f_col(p, i, "active");
		s.pinned += f_col(p, i, "pinned");
		s.closing += f_col(p, i, "closing");
		s.waiting += f_col(p, i, "waiting");
		s.handles += f_col(p, i, "handles");
		s.connects += f_col(p, i, "connects");
		s.connect_failures += f_col(p, i, "connect_failures");
		s.discarded += f_col(p, i, "discarded");
	}
	dbm_result_free(r);
	dbm_disconnect(c);
	return s;
}

/* Connections dbmd says it has open to the server. */
T_FN long long
f_open_conns(const struct f_pools *s)
{
	return s->connecting + s->idle + s->active + s->pinned;
}

/* dbmd runs and answers a ping. */
T_FN void
f_assert_serving(const struct t_dbmd *d, const char *what)
{
	char	*log;

	if (f_running(d->pid) && t_dbmd_answers(d))
		return;
	log = f_log_tail(d, 4000);
	cr_assert_fail("%s: dbmd is %s; its log:\n%s", what, f_running(d->pid) ?
	    "running but does not answer" : "gone", log);
}

/*
 * Nothing leaked, within F_RECOVER_MS: nothing is connecting, closing or
 * waiting, the connections dbmd counts are exactly dbmd's sessions on the
 * server, and none of those is idle in a transaction.  With handles_too,
 * no pool has a handle left either (every client has gone).
 */
T_FN void
f_assert_no_leak(const struct t_dbmd *d, int handles_too, const char *what)
{
	int64_t		 end = t_now_ms() + (int64_t)F_RECOVER_MS * t_slow();
	struct f_pools	 s;
	long long	 server = -1, in_txn = -1;
	char		*log;

	for (;;) {
		s = f_pools(d);
		f_server_counts(&server, &in_txn);
		if (s.connecting == 0 && s.closing == 0 && s.waiting == 0 && s.active == 0 &&
		    f_open_conns(&s) == server && in_txn == 0 && (!handles_too || s.handles == 0))
			return;
		if (t_now_ms() >= end)
			break;
		t_sleep_ms(25);
	}
	log = f_log_tail(d, 3000);
	cr_assert_fail("%s: dbmd and the server disagree %dms on: dbmd counts %lld open "
	    "(%lld connecting, %lld idle, %lld active, %lld pinned), %lld closing, %lld "
	    "waiting, %lld handles in %lld pools; the server has %lld sessions of dbmd, %lld "
	    "idle in a transaction; dbmd's log:\n%s", what, F_RECOVER_MS * t_slow(),
	    f_open_conns(&s), s.connecting, s.idle, s.active, s.pinned, s.closing, s.waiting,
	    s.handles, s.pools, server, in_txn, log);
}

/*
 * Requests succeed again: within F_RECOVER_MS a statement on env/role (a
 * handle of its own, or h when given) returns its value; until then only
 * clear failures are allowed.
 */
T_FN void
f_assert_recovers(const struct t_dbmd *d, dbm_handle *h, const char *env, const char *role,
    const char *what)
{
	int64_t		 end = t_now_ms() + (int64_t)F_RECOVER_MS * t_slow();
	dbm_conn	*c = NULL;
	dbm_handle	*own = NULL;
	dbm_result	*r;
	char		 last[600] = "";
	int		 code;

	for (;;) {
		if (h == NULL && own == NULL) {
			c = t_connect(d);
			if ((own = dbm_open(c, env, role, NULL)) == NULL) {
				cr_assert(f_clear_failure(dbm_errcode(c), dbm_errsqlstate(c),
				    dbm_errmsg(c)), "%s: open %s/%s: %s (%s)", what, env, role,
				    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
				snprintf(last, sizeof(last), "open: %s", dbm_errmsg(c));
				dbm_disconnect(c);
				c = NULL;
				goto again;
			}
		}
		r = dbm_exec(h != NULL ? h : own, "SELECT 'back'", 0, NULL);
		cr_assert_not_null(r, "%s: the connection to dbmd failed", what);
		code = dbm_result_status(r);
		if (code == DBM_OK) {
			cr_assert_str_eq(dbm_value(r, 0, 0), "back");
			dbm_result_free(r);
			break;
		}
		cr_assert(f_clear_failure(code, dbm_result_sqlstate(r), dbm_result_errmsg(r)),
		    "%s: %s/%s: %s, SQLSTATE '%s': %s", what, env, role, dbm_strerror(code),
		    dbm_result_sqlstate(r), dbm_result_errmsg(r));
		snprintf(last, sizeof(last), "%s", dbm_result_errmsg(r));
		dbm_result_free(r);
again:
		cr_assert_lt(t_now_ms(), end, "%s: %s/%s was not served again within %dms of "
		    "the end of the fault; last: %s", what, env, role, F_RECOVER_MS * t_slow(),
		    last);
		t_sleep_ms(50);
	}
	if (c != NULL)
		dbm_disconnect(c);
}

/* Clients dbmd has connected, not counting the one that asks. */
T_FN long long
f_clients(const struct t_dbmd *d)
{
	dbm_conn	*c = t_connect(d);
	dbm_result	*r = dbm_status(c);
	long long	 n;
	int		 col;

	cr_assert_not_null(r, "STATUS: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "STATUS: %s", dbm_result_errmsg(r));
	col = dbm_colnum(r, "clients");
	cr_assert_geq(col, 0, "STATUS has no column clients");
	n = atoll(dbm_value(r, 0, col)) - 1;
	dbm_result_free(r);
	dbm_disconnect(c);
	return n;
}

/* Clients with a request in dbmd now (CLIENTS, state active). */
T_FN long long
f_busy_clients(const struct t_dbmd *d)
{
	dbm_conn	*c = t_connect(d);
	dbm_result	*r = dbm_clients(c);
	long long	 n = 0;
	int		 col, i;

	cr_assert_not_null(r, "CLIENTS: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "CLIENTS: %s", dbm_result_errmsg(r));
	col = dbm_colnum(r, "state");
	cr_assert_geq(col, 0, "CLIENTS has no column state");
	for (i = 0; i < dbm_nrows(r); i++)
		n += strcmp(dbm_value(r, i, col), "active") == 0;
	dbm_result_free(r);
	dbm_disconnect(c);
	return n;
}

/* Waits up to ms (scaled) until want clients have a request in dbmd. */
T_FN void
f_wait_busy(const struct t_dbmd *d, long long want, int ms)
{
	int64_t		 end = t_now_ms() + (int64_t)ms * t_slow();
	long long	 n;

	while ((n = f_busy_clients(d)) != want && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert_eq(n, want, "%lld clients have a request in dbmd, not %lld", n, want);
}

/* The descriptors a process has open (/proc/PID/fd); -1 when it cannot be read. */
T_FN int
f_nfds(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Writers that keep score of what dbmd acknowledged. */

#define W_MAX_ACKS	100000

/*
 * A client that writes rows (writer, n) into table w, n = 1, 2, ..., each
 * in a statement of its own, or two to a transaction (txn), and writes down
 * every n whose statement (or COMMIT) dbmd acknowledged.  When it loses
 * dbmd, it connects again until it is told to stop.
 */
struct writer {
	char		 sock[PATH_MAX];
	char		 env[32];
	char		 role[32];
	int		 id;
	int		 txn;
	pthread_t	 th;
	atomic_int	 stop;
	atomic_int	 done;
	int		*acked;			/* the n acknowledged, in order */
	atomic_int	 nacked;
	atomic_int	 lost;			/* times the connection to dbmd broke */
	atomic_int	 reconnects;		/* connections made after one broke */
	long		 failed;		/* statements that failed clearly */
	char		 bad[512];		/* the first unclear failure, "" when none */
};

/* A failure a writer may see while dbmd is killed or restarts. */
T_FN int
w_clear(int code, const char *sqlstate, const char *msg)
{
	return code == DBM_E_CONNECTION || code == DBM_E_SHUTDOWN || code == DBM_E_TIMEOUT ||
	    f_clear_failure(code, sqlstate, msg);
}

/* One insert; 1 acknowledged, 0 failed clearly, -1 the connection broke. */
T_FN int
w_insert(struct writer *w, dbm_handle *h, dbm_conn *c, int n)
{
	char		 id[16], num[16];
	dbm_result	*r;
	int		 code;

	snprintf(id, sizeof(id), "%d", w->id);
	snprintf(num, sizeof(num), "%d", n);
	r = dbm_exec(h, "INSERT INTO w (writer, n) VALUES ($1, $2)", 2,
	    (const char *[]){ id, num });
	if (r == NULL) {
		if (!w_clear(dbm_errcode(c), "", dbm_errmsg(c)) && w->bad[0] == '\0')
			snprintf(w->bad, sizeof(w->bad), "insert %d: %s", n, dbm_errmsg(c));
		return -1;
	}
	code = dbm_result_status(r);
	if (code != DBM_OK) {
		w->failed++;
		if (!w_clear(code, dbm_result_sqlstate(r), dbm_result_errmsg(r)) &&
		    w->bad[0] == '\0')
			snprintf(w->bad, sizeof(w->bad), "insert %d: %s, SQLSTATE '%s': %s", n,
			    dbm_strerror(code), dbm_result_sqlstate(r), dbm_result_errmsg(r));
	}
	dbm_result_free(r);
	return code == DBM_OK;
}

T_FN void
w_ack(struct writer *w, int n)
{
	int	 i = atomic_load(&w->nacked);

	if (i < W_MAX_ACKS) {
		w->acked[i] = n;
		atomic_store(&w->nacked, i + 1);
	}
}

T_FN void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	dbm_conn	*c = NULL;
	dbm_handle	*h = NULL;
	int		 n = 0, r, code, ever = 0;

	while (!atomic_load(&w->stop)) {
		if (h == NULL) {
			dbm_disconnect(c);
			c = dbm_connect(w->sock);
			if (dbm_errcode(c) != DBM_OK ||
			    (h = dbm_open(c, w->env, w->role, NULL)) == NULL) {
				t_sleep_ms(20);
				continue;
			}
			if (ever++)
				atomic_fetch_add(&w->reconnects, 1);
		}
		if (!w->txn) {
			if ((r = w_insert(w, h, c, ++n)) == 1)
				w_ack(w, n);
			if (r == -1) {
				atomic_fetch_add(&w->lost, 1);
				h = NULL;
			}
			continue;
		}
		n += 2;
		if ((code = dbm_begin(h)) != DBM_OK) {
			if (!dbm_connected(c)) {
				atomic_fetch_add(&w->lost, 1);
				h = NULL;
			}
			continue;
		}
		if ((r = w_insert(w, h, c, n - 1)) == 1)
			r = w_insert(w, h, c, n);
		if (r == -1) {
			atomic_fetch_add(&w->lost, 1);
			h = NULL;
			continue;
		}
		if (r == 1 && (code = dbm_commit(h)) == DBM_OK) {
			w_ack(w, n - 1);
			w_ack(w, n);
			continue;
		}
		if (r == 0)
			(void)dbm_rollback(h);
		if (!dbm_connected(c)) {
			atomic_fetch_add(&w->lost, 1);
			h = NULL;
		}
	}
	dbm_disconnect(c);
	atomic_store(&w->done, 1);
	return NULL;
}

T_FN void
writer_start(struct writer *w, const struct t_dbmd *d, const char *env, const char *role,
    int id, int txn)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->sock, sizeof(w->sock), "%s", d->sock);
	snprintf(w->env, sizeof(w->env), "%s", env);
	snprintf(w->role, sizeof(w->role), "%s", role);
	w->id = id;
	w->txn = txn;
	w->acked = calloc(W_MAX_ACKS, sizeof(int));
	cr_assert_not_null(w->acked);
	cr_assert_eq(pthread_create(&w->th, NULL, writer_main, w), 0);
}

/* Stops the writers, which must stop within 10s; fails on any unclear failure. */
T_FN void
writers_stop(struct writer *w, int n)
{
	int64_t	 end;
	int	 i;

	for (i = 0; i < n; i++)
		atomic_store(&w[i].stop, 1);
	end = t_now_ms() + 10000LL * t_slow();
	for (i = 0; i < n; i++) {
		while (!atomic_load(&w[i].done) && t_now_ms() < end)
			t_sleep_ms(10);
		cr_assert(atomic_load(&w[i].done), "writer %d hangs in a request", w[i].id);
		pthread_join(w[i].th, NULL);
		cr_log_info("writer %d%s: %d acknowledged, %ld failed, lost dbmd %d times, "
		    "reconnected %d times", w[i].id, w[i].txn ? " (transactions)" : "",
		    atomic_load(&w[i].nacked), w[i].failed, atomic_load(&w[i].lost),
		    atomic_load(&w[i].reconnects));
		cr_assert_str_empty(w[i].bad, "writer %d: %s", w[i].id, w[i].bad);
	}
}

T_FN void
writers_free(struct writer *w, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		free(w[i].acked);
		w[i].acked = NULL;
	}
}

/* Acknowledged rows of all the writers together. */
T_FN int
writers_acked(struct writer *w, int n)
{
	int	 i, sum = 0;

	for (i = 0; i < n; i++)
		sum += atomic_load(&w[i].nacked);
	return sum;
}

/* Waits until the writers have written a while, then kills dbmd with SIGKILL. */
T_FN void
writers_kill_dbmd(struct t_dbmd *d, struct writer *w, int n)
{
	int64_t		 end = t_now_ms() + 20000LL * t_slow();

	while (writers_acked(w, n) < 60 * n && t_now_ms() < end)
		t_sleep_ms(10);
	cr_assert_geq(writers_acked(w, n), 60 * n, "the writers wrote too little before the "
	    "kill: %d rows", writers_acked(w, n));
	t_dbmd_kill(d);
}

/*
 * Starts the killed dbmd again with sets, and waits until every writer has
 * reconnected and had more rows acknowledged.
 */
T_FN void
writers_resume(struct t_dbmd *d, const char *const *sets, struct writer *w, int n)
{
	int		 before[16], i, all;
	int64_t		 end;

	t_dbmd_start(d, sets);
	for (i = 0; i < n; i++)
		before[i] = atomic_load(&w[i].nacked);
	end = t_now_ms() + 20000LL * t_slow();
	do {
		for (i = 0, all = 1; i < n; i++)
			if (atomic_load(&w[i].nacked) < before[i] + 20 ||
			    atomic_load(&w[i].reconnects) < 1)
				all = 0;
		if (all)
			break;
		t_sleep_ms(20);
	} while (t_now_ms() < end);
	for (i = 0; i < n; i++) {
		cr_assert_geq(atomic_load(&w[i].reconnects), 1, "writer %d never reconnected "
		    "(lost %d, bad: %s)", w[i].id, atomic_load(&w[i].lost), w[i].bad);
		cr_assert_geq(atomic_load(&w[i].nacked), before[i] + 20, "writer %d wrote %d "
		    "rows in 20s after dbmd came back (bad: %s)", w[i].id,
		    atomic_load(&w[i].nacked) - before[i], w[i].bad);
	}
}

/* The first n acknowledged of a writer as a PostgreSQL array literal; the caller frees it. */
T_FN char *
writer_acked_array(const struct writer *w, int n)
{
	int	 i;
	size_t	 len = 3 + (size_t)n * 12;	/* "{", the numbers, "}" and the NUL */
	char	*s = calloc(1, len), *p = s;

	cr_assert_not_null(s);
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += snprintf(p, len - (size_t)(p - s), "%s%d", i ? "," : "", w->acked[i]);
	*p++ = '}';
	*p = '\0';
	return s;
}

/*
 * The rows of a transaction of two whose partner is missing: the checker's
 * query, for PostgreSQL and SQLite alike.
 */
#define W_HALF_TXNS	"SELECT count(*) FROM w a WHERE a.writer = $1 AND NOT EXISTS " \
	"(SELECT 1 FROM w b WHERE b.writer = a.writer AND b.n = CASE WHEN a.n % 2 = 1 " \
	"THEN a.n + 1 ELSE a.n - 1 END)"

/* A client on a raw socket, to read a result as slowly as it likes. */

struct f_raw {
	int			 fd;
	struct proto_decoder	 dec;
	long			 rows;
	int			 code;		/* of the ERROR that ended the reply */
	char			 sqlstate[8];
	char			 msg[512];
};

/* Connects, opens env/role and sends sql as request 3; reads nothing of its reply. */
T_FN void
f_raw_exec(struct f_raw *w, const struct t_dbmd *d, const char *env, const char *role,
    const char *sql)
{
	struct proto_exec	 m = { .sql = sql };
	struct proto_buf	 b;

	memset(w, 0, sizeof(*w));
	w->fd = t_raw_connect(d);
	proto_decoder_init(&w->dec, PROTO_HANDSHAKE_MAX_FRAME);
	t_raw_hello(w->fd, &w->dec);
	m.handle_id = t_raw_open(w->fd, &w->dec, env, role);
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 3, &m), PROTO_E_OK);
	cr_assert_eq(t_raw_send(w->fd, b.data, b.len), 0);
	proto_buf_free(&b);
}

/*
 * Reads the reply until it ends or, with max_rows > 0, until that many
 * rows have come.  Returns 1 for COMPLETE, 2 for ERROR (its code, SQLSTATE
 * and message in w), 3 when max_rows came, 0 when the connection closed,
 * -1 when nothing came for ms (scaled).
 */
T_FN int
f_raw_read(struct f_raw *w, long max_rows, int ms)
{
	struct proto_frame	 f;
	struct proto_error	 e;
	int			 r;

	while ((r = t_raw_next(w->fd, &w->dec, &f, ms)) == 1) {
		if (f.hdr.type == PROTO_MSG_DATA_ROW) {
			if (++w->rows == max_rows)
				return 3;
			continue;
		}
		if (f.hdr.type == PROTO_MSG_ROW_DESC)
			continue;
		if (f.hdr.type == PROTO_MSG_COMPLETE)
			return 1;
		if (f.hdr.type == PROTO_MSG_ERROR) {
			cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
			w->code = e.code;
			snprintf(w->sqlstate, sizeof(w->sqlstate), "%s", e.sqlstate);
			snprintf(w->msg, sizeof(w->msg), "%s", e.message);
			return 2;
		}
		cr_assert_fail("%s in the middle of a result", proto_msg_name(f.hdr.type));
	}
	return r;
}

T_FN void
f_raw_close(struct f_raw *w)
{
	if (w->fd > 0)
		close(w->fd);
	w->fd = -1;
	proto_decoder_free(&w->dec);
}

#endif /* DBMD_TEST_FAULTS_H */
