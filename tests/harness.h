/* harness.h: a real dbmd for integration tests: start it, talk to it, stop it, clean up. */

/*
 * Header-only on purpose: the Makefile builds every tests/test_*.c into a
 * program of its own and has no rule for shared test sources, so everything
 * here is static and marked unused (a test file uses only some of it).
 *
 * Each test runs in a process of its own (Criterion forks a worker per test),
 * so the state below is per test.  A suite that starts daemons names
 * t_setup and t_teardown as its .init and .fini: setup makes a temporary
 * directory with an empty configuration file; teardown kills whatever the
 * test started and is still running, and removes the directory.  Criterion
 * runs .fini after a failed assertion too, and for a skipped test, which
 * has none, the worker's exit does it; if the worker is killed instead (a
 * .timeout), every process started here dies with it (PR_SET_PDEATHSIG).
 *
 * dbmd is started with an environment of our making, never the test
 * runner's: any DBMD_ variable that is not a configuration key stops dbmd
 * from starting, and the runner's XDG_* would move its defaults.
 */

#ifndef DBMD_TEST_HARNESS_H
#define DBMD_TEST_HARNESS_H

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbmclient.h"
#include "proto.h"

#define T_FN		static __attribute__((unused))
#define T_MAX_PROCS	16		/* processes one test may start */
#define T_READY_MS	10000		/* dbmd must answer a ping within this (scaled) */
#define T_STOP_MS	10000		/* and exit within this after SIGTERM (scaled) */
#define T_PATH		"PATH=/usr/local/bin:/usr/bin:/bin"

/* One dbmd the test started. */
struct t_dbmd {
	pid_t	 pid;			/* 0 once reaped */
	int	 status;		/* wait status, valid once reaped */
	char	 sock[PATH_MAX];	/* -s */
	char	 log[PATH_MAX];		/* its stderr and stdout, appended to */
	char	*env[4];		/* variables besides PATH, NULL-terminated */
};

/* The output of a program run to completion (t_run). */
struct t_run {
	int	 status;		/* exit status, or 128 + signal, or -1: timed out */
	char	*out;
	char	*err;
};

static struct {
	pid_t	 owner;			/* the test's process; its forked children are not */
	char	 dir[64];		/* this test's temporary directory, "" before setup */
	char	 conf[PATH_MAX];	/* an empty dbmd.yaml in it */
	char	 state[PATH_MAX];	/* daemon.state_dir */
	pid_t	 pids[T_MAX_PROCS];	/* started and not yet reaped */
} t_h;

/* Utilities. */

/* A formatted string the caller frees; aborts the test when out of memory. */
T_FN char *
t_strf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0, "out of memory");
	return s;
}

T_FN int64_t
t_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

T_FN void
t_sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * How much slower than a plain build things run: under valgrind (make
 * valgrind traces dbmd too) every wait is stretched, so that the bounds
 * stay generous without making a normal run slow to fail.  Valgrind
 * announces itself in LD_PRELOAD.
 */
T_FN int
t_slow(void)
{
	const char	*pre = getenv("LD_PRELOAD");

	if (pre != NULL && strstr(pre, "vgpreload") != NULL)
		return 20;
#if defined(__SANITIZE_ADDRESS__)
	return 3;
#else
	return 1;
#endif
}

/*
 * Whether dbmd's resident memory shows what dbmd keeps: not under ASan or valgrind,
 * whose allocators hold on to what is freed (ASan's quarantine, valgrind's own heap).
 * Tests of memory given back assert it only then; what they run is the same.
 */
T_FN int
t_rss_shows_frees(void)
{
	return t_slow() == 1;
}

/* A path in the test's directory; the caller frees it. */
T_FN char *
t_path(const char *name)
{
	return t_strf("%s/%s", t_h.dir, name);
}

/* The whole of a file, NUL-terminated; "" when it cannot be read. */
T_FN char *
t_slurp(const char *path)
{
	FILE	*fp = fopen(path, "r");
	char	*buf = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if (fp == NULL)
		return t_strf("%s", "");
	n = getdelim(&buf, &cap, '\0', fp);
	fclose(fp);
	if (n < 0) {
		free(buf);
		return t_strf("%s", "");
	}
	return buf;
}

/* Processes to kill at teardown. */

T_FN void
t_track(pid_t pid)
{
	size_t	 i;

	for (i = 0; i < T_MAX_PROCS; i++)
		if (t_h.pids[i] == 0) {
			t_h.pids[i] = pid;
			return;
		}
	cr_assert_fail("a test may start at most %d processes", T_MAX_PROCS);
}

T_FN void
t_untrack(pid_t pid)
{
	size_t	 i;

	for (i = 0; i < T_MAX_PROCS; i++)
		if (t_h.pids[i] == pid)
			t_h.pids[i] = 0;
}

/*
 * Waits up to ms for pid to exit.  Returns 1 with its wait status in
 * *status, or 0 if it is still running.
 */
T_FN int
t_wait_pid(pid_t pid, int ms, int *status)
{
	int64_t	 end = t_now_ms() + ms;
	pid_t	 r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			t_untrack(pid);
			return 1;
		}
		if (r == -1 && errno != EINTR)
			cr_assert_fail("waitpid %ld: %s", (long)pid, strerror(errno));
		if (t_now_ms() >= end)
			return 0;
		t_sleep_ms(10);
	}
}

/* Kills pid with SIGKILL and reaps it. */
T_FN void
t_kill_pid(pid_t pid)
{
	int	 st;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	t_untrack(pid);
}

/* An exit status as a number: the code, 128 + signal, or -1 for anything else. */
T_FN int
t_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/*
 * Forks a child that dies with this process (the thread that forks it, in
 * fact: only ever the test's main thread).  Returns the pid in the parent
 * and 0 in the child, like fork.
 */
T_FN pid_t
t_fork(void)
{
	pid_t	 parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	cr_assert(pid != -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		return 0;
	}
	t_track(pid);
	return pid;
}

/*
 * Starts argv[0] with exactly the variables in envp, its stdout and stderr
 * in the named files (appended to; NULL: /dev/null), stdin /dev/null.
 * Only async-signal-safe calls happen in the child.
 */
T_FN pid_t
t_spawn(char *const argv[], char *const envp[], const char *out, const char *err)
{
	pid_t	 pid = t_fork();
	int	 fd;

	if (pid != 0)
		return pid;
	if ((fd = open("/dev/null", O_RDONLY)) != -1)
		dup2(fd, 0);
	fd = open(out != NULL ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd != -1)
		dup2(fd, 1);
	fd = open(err != NULL ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd != -1)
		dup2(fd, 2);
	execve(argv[0], argv, envp);
	_exit(127);
}

/*
 * Runs a program to completion (at most timeout_ms, scaled) and collects its
 * output; the caller frees it with t_run_free.
 */
T_FN struct t_run
t_run(char *const argv[], char *const envp[], int timeout_ms)
{
	static unsigned	 seq;
	char		*out = t_strf("%s/run%u.out", t_h.dir, seq);
	char		*err = t_strf("%s/run%u.err", t_h.dir, seq++);
	struct t_run	 r;
	pid_t		 pid;
	int		 st;

	unlink(out);
	unlink(err);
	pid = t_spawn(argv, envp, out, err);
	if (t_wait_pid(pid, timeout_ms * t_slow(), &st))
		r.status = t_exit_code(st);
	else {
		t_kill_pid(pid);
		r.status = -1;
	}
	r.out = t_slurp(out);
	r.err = t_slurp(err);
	free(out);
	free(err);
	return r;
}

T_FN void
t_run_free(struct t_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Suite setup and teardown. */

T_FN void t_teardown(void);

T_FN void
t_setup(void)
{
	static int	 registered;
	int		 fd;

	/* cr_skip_test ends a test without its .fini; the worker still exits. */
	if (!registered++)
		atexit(t_teardown);
	signal(SIGPIPE, SIG_IGN);
	memset(&t_h, 0, sizeof(t_h));
	t_h.owner = getpid();
	strcpy(t_h.dir, "/tmp/dbmd-it-XXXXXX");
	cr_assert_not_null(mkdtemp(t_h.dir), "mkdtemp: %s", strerror(errno));
	snprintf(t_h.conf, sizeof(t_h.conf), "%s/dbmd.yaml", t_h.dir);
	snprintf(t_h.state, sizeof(t_h.state), "%s/state", t_h.dir);
	/* dbmd refuses a -c file that does not exist: give it an empty one. */
	fd = open(t_h.conf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd != -1, "%s: %s", t_h.conf, strerror(errno));
	close(fd);
}

T_FN int
t_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/*
 * Kills what the test started and removes its directory; running it twice is
 * harmless.  Only the test's own process does it: a child it forked that
 * calls exit() must not take the test's dbmd and directory with it.
 */
T_FN void
t_teardown(void)
{
	size_t	 i;

	if (t_h.owner != getpid())
		return;
	for (i = 0; i < T_MAX_PROCS; i++)
		t_kill_pid(t_h.pids[i]);
	if (t_h.dir[0] != '\0')
		nftw(t_h.dir, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	t_h.dir[0] = '\0';
}

/* dbmd. */

/* Fills in the usual socket and log paths of a dbmd not yet started. */
T_FN void
t_dbmd_init(struct t_dbmd *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->sock, sizeof(d->sock), "%s/dbmd.sock", t_h.dir);
	snprintf(d->log, sizeof(d->log), "%s/dbmd.log", t_h.dir);
}

/*
 * Starts dbmd in the foreground on d->sock, logging to d->log (set them with
 * t_dbmd_init, then change them if need be), with the test's empty
 * configuration file and state directory, plus the NULL-terminated --set
 * arguments in sets (may be NULL).  Does not wait for it.
 */
T_FN void
t_dbmd_spawn(struct t_dbmd *d, const char *const *sets)
{
	const char	*bin = getenv("TEST_DBMD_BIN");
	char		*argv[48], *state = t_strf("daemon.state_dir=%s", t_h.state);
	char		*envp[6] = { T_PATH };
	int		 n = 0, i;

	for (i = 0; i < 4 && d->env[i] != NULL; i++)
		envp[i + 1] = d->env[i];

	cr_assert_not_null(bin, "TEST_DBMD_BIN names the dbmd to test (make check sets it)");
	cr_assert(d->sock[0] == '/' && d->log[0] == '/', "t_dbmd_init was not called");
	argv[n++] = (char *)bin;
	argv[n++] = "-f";
	argv[n++] = "-c";
	argv[n++] = t_h.conf;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "--set";
	argv[n++] = state;
	for (i = 0; sets != NULL && sets[i] != NULL; i++) {
		cr_assert(n < 44, "too many --set arguments");
		argv[n++] = "--set";
		argv[n++] = (char *)sets[i];
	}
	argv[n] = NULL;
	d->pid = t_spawn(argv, envp, d->log, d->log);
	d->status = 0;
	free(state);
}

/* Whether the dbmd answers a ping on its socket right now. */
T_FN int
t_dbmd_answers(const struct t_dbmd *d)
{
	dbm_conn	*c = dbm_connect(d->sock);
	int		 ok = dbm_errcode(c) == DBM_OK && dbm_ping(c) == DBM_OK;

	dbm_disconnect(c);
	return ok;
}

/*
 * Waits until the dbmd answers a ping, failing the test with its log if it
 * exits first or does not answer in time.
 */
T_FN void
t_dbmd_wait_ready(struct t_dbmd *d)
{
	int64_t	 end = t_now_ms() + (int64_t)T_READY_MS * t_slow();
	char	*log;
	int	 st;

	for (;;) {
		if (t_wait_pid(d->pid, 0, &st)) {
			d->pid = 0;
			d->status = st;
			log = t_slurp(d->log);
			cr_assert_fail("dbmd exited with status %d before it was ready; its "
			    "log:\n%s", t_exit_code(st), log);
		}
		if (t_dbmd_answers(d))
			return;
		if (t_now_ms() >= end) {
			log = t_slurp(d->log);
			cr_assert_fail("dbmd did not answer on %s in time; its log:\n%s",
			    d->sock, log);
		}
		t_sleep_ms(20);
	}
}

/*
 * Starts a dbmd with the usual socket and log (t_dbmd_init) and waits until
 * it serves.  Starting again with the same d after a stop is a restart on the
 * same socket, state directory and log.
 */
T_FN void
t_dbmd_start(struct t_dbmd *d, const char *const *sets)
{
	t_dbmd_init(d);
	t_dbmd_spawn(d, sets);
	t_dbmd_wait_ready(d);
}

/*
 * Sends SIGTERM and waits for the dbmd to exit; returns its exit code (see
 * t_exit_code).  One that does not exit in time is killed and the test fails.
 */
T_FN int
t_dbmd_stop(struct t_dbmd *d)
{
	int	 st;

	if (d->pid == 0)
		return t_exit_code(d->status);
	kill(d->pid, SIGTERM);
	if (!t_wait_pid(d->pid, T_STOP_MS * t_slow(), &st)) {
		t_kill_pid(d->pid);
		d->pid = 0;
		cr_assert_fail("dbmd did not exit within %ds of SIGTERM",
		    T_STOP_MS * t_slow() / 1000);
	}
	d->pid = 0;
	d->status = st;
	return t_exit_code(st);
}

/* SIGKILL: the dbmd gets no chance to clean up (its socket file stays). */
T_FN void
t_dbmd_kill(struct t_dbmd *d)
{
	t_kill_pid(d->pid);
	d->pid = 0;
}

/* The dbmd's log so far; the caller frees it. */
T_FN char *
t_dbmd_log(const struct t_dbmd *d)
{
	return t_slurp(d->log);
}

/*
 * Waits up to ms (scaled) for a line of the log that holds every one of the
 * strings in want; returns the line, which the caller frees, or NULL when
 * none came.
 */
T_FN char *
t_dbmd_log_vline(const struct t_dbmd *d, int ms, const char *const *want, size_t n)
{
	int64_t		 end = t_now_ms() + (int64_t)ms * t_slow();
	char		*log, *line, *nl;
	size_t		 i;

	for (;;) {
		log = t_dbmd_log(d);
		for (line = log; line != NULL && *line != '\0'; line = nl) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl++ = '\0';
			for (i = 0; i < n && strstr(line, want[i]) != NULL; i++)
				;
			if (i == n) {
				line = t_strf("%s", line);
				free(log);
				return line;
			}
		}
		free(log);
		if (t_now_ms() >= end)
			return NULL;
		t_sleep_ms(20);
	}
}

/*
 * Whether the log has a line holding every one of the NULL-terminated
 * strings after d, within 5 s (scaled).
 */
T_FN int
t_dbmd_logged(const struct t_dbmd *d, ...)
{
	const char	*want[8], *s;
	char		*line;
	size_t		 n = 0;
	va_list		 ap;

	va_start(ap, d);
	while ((s = va_arg(ap, const char *)) != NULL && n < 8)
		want[n++] = s;
	va_end(ap);
	line = t_dbmd_log_vline(d, 5000, want, n);
	free(line);
	return line != NULL;
}

/* The library, with the test failing on anything unexpected. */

/* A connection that completed its handshake. */
T_FN dbm_conn *
t_connect(const struct t_dbmd *d)
{
	dbm_conn	*c = dbm_connect(d->sock);

	cr_assert_not_null(c);
	cr_assert_eq(dbm_errcode(c), DBM_OK, "connect %s: %s", d->sock, dbm_errmsg(c));
	return c;
}

T_FN dbm_handle *
t_open(dbm_conn *c, const char *env, const char *role)
{
	dbm_handle	*h = dbm_open(c, env, role, NULL);

	cr_assert_not_null(h, "open %s/%s: %s (%s)", env, role, dbm_errmsg(c),
	    dbm_strerror(dbm_errcode(c)));
	return h;
}

/* Runs a statement that must succeed; the caller frees the result. */
T_FN dbm_result *
t_exec(dbm_handle *h, const char *sql, int n, const char *const *params)
{
	dbm_result	*r = dbm_exec(h, sql, n, params);

	cr_assert_not_null(r, "%s: the connection failed", sql);
	cr_assert_eq(dbm_result_status(r), DBM_OK, "%s: %s: %s (SQLSTATE %s)", sql,
	    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r), dbm_result_sqlstate(r));
	return r;
}

/* Runs a statement that must succeed and frees its result. */
T_FN void
t_exec0(dbm_handle *h, const char *sql, int n, const char *const *params)
{
	dbm_result_free(t_exec(h, sql, n, params));
}

/* The one value a statement must return; the caller frees it. */
T_FN char *
t_value(dbm_handle *h, const char *sql, int n, const char *const *params)
{
	dbm_result	*r = t_exec(h, sql, n, params);
	char		*v;

	cr_assert_eq(dbm_nrows(r), 1, "%s: %d rows", sql, dbm_nrows(r));
	cr_assert_eq(dbm_ncols(r), 1, "%s: %d columns", sql, dbm_ncols(r));
	v = t_strf("%s", dbm_value(r, 0, 0));
	dbm_result_free(r);
	return v;
}

/* Runs a statement that must fail with code; the caller frees the result. */
T_FN dbm_result *
t_exec_fails(dbm_handle *h, const char *sql, int n, const char *const *params, int code)
{
	dbm_result	*r = dbm_exec(h, sql, n, params);

	cr_assert_not_null(r, "%s: the connection failed", sql);
	cr_assert_eq(dbm_result_status(r), code, "%s: got %s (%s), not %s", sql,
	    dbm_strerror(dbm_result_status(r)), dbm_result_errmsg(r), dbm_strerror(code));
	return r;
}

/*
 * The value in column col of the status's "pools" result set for the pool
 * whose hash is hash, copied; NULL when no such pool is listed.
 */
T_FN char *
t_pool_field(dbm_conn *c, unsigned long long hash, const char *col)
{
	dbm_result		*r = dbm_status(c);
	const dbm_result	*pools;
	char			 want[17], *v = NULL;
	int			 hc, vc, i;

	cr_assert_not_null(r, "STATUS: %s", dbm_errmsg(c));
	cr_assert_eq(dbm_result_status(r), DBM_OK, "STATUS: %s", dbm_result_errmsg(r));
	pools = dbm_result_next(r);
	cr_assert_not_null(pools, "STATUS has no pools result set");
	hc = dbm_colnum(pools, "hash");
	vc = dbm_colnum(pools, col);
	cr_assert(hc >= 0 && vc >= 0, "STATUS pools lack the column hash or %s", col);
	snprintf(want, sizeof(want), "%016llx", hash);
	for (i = 0; i < dbm_nrows(pools); i++)
		if (strcmp(dbm_value(pools, i, hc), want) == 0) {
			v = t_strf("%s", dbm_value(pools, i, vc));
			break;
		}
	dbm_result_free(r);
	return v;
}

/* Raw protocol, for what the library would never send. */

/* A connected socket, with nothing sent; -1 when connect fails. */
T_FN int
t_raw_connect_try(const char *path)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fd;

	cr_assert(strlen(path) < sizeof(sun.sun_path), "socket path too long");
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd != -1, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

T_FN int
t_raw_connect(const struct t_dbmd *d)
{
	int	 fd = t_raw_connect_try(d->sock);

	cr_assert(fd != -1, "connect %s: %s", d->sock, strerror(errno));
	return fd;
}

/* Sends all of it; 0, or -1 when the peer has gone (EPIPE, ECONNRESET). */
T_FN int
t_raw_send(int fd, const void *p, size_t n)
{
	const uint8_t	*b = p;
	ssize_t		 w;

	while (n > 0) {
		w = send(fd, b, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EPIPE || errno == ECONNRESET))
			return -1;
		cr_assert(w > 0, "send: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Reads the next frame into *f (valid until the next call on d).  Returns 1,
 * 0 at EOF (or a reset connection), -1 when nothing came within timeout_ms
 * (scaled).  A malformed frame from dbmd fails the test.
 */
T_FN int
t_raw_next(int fd, struct proto_decoder *dec, struct proto_frame *f, int timeout_ms)
{
	int64_t		 end = t_now_ms() + (int64_t)timeout_ms * t_slow();
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	size_t		 avail;
	uint8_t		*p;
	ssize_t		 n;
	int		 r;

	for (;;) {
		r = proto_decoder_next(dec, f);
		cr_assert(r != -1, "malformed frame from dbmd: %s", dec->errstr);
		if (r == 1)
			return 1;
		if (poll(&pfd, 1, (int)(end - t_now_ms() > 0 ? end - t_now_ms() : 0)) == 0)
			return -1;
		p = proto_decoder_space(dec, 0, &avail);
		cr_assert_not_null(p);
		n = recv(fd, p, avail, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		cr_assert(n > 0, "recv: %s", strerror(errno));
		proto_decoder_commit(dec, (size_t)n);
	}
}

/*
 * Waits until dbmd has filled fd with a reply its reader does not read and stopped
 * writing: bytes are queued and their number holds still for three polls.  Fails the
 * test if that does not happen within 10 s (scaled); returns the bytes queued.
 */
T_FN int
t_raw_wait_full(int fd)
{
	int64_t	 end = t_now_ms() + 10000LL * t_slow();
	int	 queued = 0, last = -1, same = 0;

	while (same < 3) {
		cr_assert(t_now_ms() < end, "dbmd's output to the client that does not read "
		    "never filled up (%d bytes queued)", queued);
		t_sleep_ms(50);
		cr_assert_eq(ioctl(fd, FIONREAD, &queued), 0, "FIONREAD: %s", strerror(errno));
		same = queued > 0 && queued == last ? same + 1 : 0;
		last = queued;
	}
	return queued;
}

/*
 * Sends HELLO offering versions 1..max_version and checks the answer is
 * HELLO_OK choosing max_version.
 */
T_FN void
t_raw_hello_version(int fd, struct proto_decoder *dec, uint16_t max_version,
    uint32_t max_frame)
{
	struct proto_hello	 h = { .min_version = PROTO_VERSION_MIN,
	    .max_version = max_version, .client_name = "raw-test", .pid = 0,
	    .max_frame = max_frame };
	struct proto_hello_ok	 ok;
	struct proto_buf	 b;
	struct proto_frame	 f;

	h.pid = (uint32_t)getpid();
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_hello(&b, 1, &h), PROTO_E_OK);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0, "dbmd closed before HELLO");
	proto_buf_free(&b);
	cr_assert_eq(t_raw_next(fd, dec, &f, 5000), 1, "no answer to HELLO");
	cr_assert_eq(f.hdr.type, PROTO_MSG_HELLO_OK, "HELLO answered with %s",
	    proto_msg_name(f.hdr.type));
	cr_assert_eq(proto_decode_hello_ok(&f, &ok), PROTO_DERR_OK);
	cr_assert_eq(ok.version, max_version, "offered 1..%u, dbmd chose %u",
	    (unsigned)max_version, (unsigned)ok.version);
	/* Replies up to the limit we announced may come now. */
	dec->max_payload = max_frame;
}

/* The same for version 1, whose layouts the raw tests write. */
T_FN void
t_raw_hello_max(int fd, struct proto_decoder *dec, uint32_t max_frame)
{
	t_raw_hello_version(fd, dec, 1, max_frame);
}

T_FN void
t_raw_hello(int fd, struct proto_decoder *dec)
{
	t_raw_hello_max(fd, dec, PROTO_DEFAULT_MAX_FRAME);
}

/* Sends OPEN on a raw connection after HELLO; returns the handle id. */
T_FN uint32_t
t_raw_open(int fd, struct proto_decoder *dec, const char *env, const char *role)
{
	struct proto_open	 m = { .environment = env, .role = role };
	struct proto_open_ok	 ok;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_open(&b, 2, &m), PROTO_E_OK);
	cr_assert_eq(t_raw_send(fd, b.data, b.len), 0);
	proto_buf_free(&b);
	cr_assert_eq(t_raw_next(fd, dec, &f, 5000), 1, "no answer to OPEN");
	cr_assert_eq(f.hdr.type, PROTO_MSG_OPEN_OK, "OPEN answered with %s",
	    proto_msg_name(f.hdr.type));
	cr_assert_eq(proto_decode_open_ok(&f, &ok), PROTO_DERR_OK);
	return ok.handle_id;
}

/*
 * Reads until dbmd closes the connection.  Returns the code of the GOODBYE
 * that came before the close (its reason copied into reason), or 0 when the
 * connection closed without one.  Fails the test if dbmd keeps it open.
 */
T_FN int
t_raw_goodbye(int fd, struct proto_decoder *dec, char *reason, size_t size)
{
	struct proto_frame	 f;
	struct proto_goodbye	 g;
	int			 code = 0, r;

	if (reason != NULL && size > 0)
		reason[0] = '\0';
	while ((r = t_raw_next(fd, dec, &f, 5000)) == 1) {
		cr_assert_eq(code, 0, "%s after GOODBYE", proto_msg_name(f.hdr.type));
		if (f.hdr.type != PROTO_MSG_GOODBYE)
			continue;
		cr_assert_eq(proto_decode_goodbye(&f, &g), PROTO_DERR_OK, "malformed GOODBYE");
		code = g.code;
		if (reason != NULL)
			snprintf(reason, size, "%s", g.reason);
	}
	cr_assert_neq(r, -1, "dbmd did not close the connection");
	return code;
}

#endif /* DBMD_TEST_HARNESS_H */
