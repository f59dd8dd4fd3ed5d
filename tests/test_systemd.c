/* test_systemd.c: the units, readiness and watchdog notification, socket activation. */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbmclient.h"
#include "dbmd.h"

static char dir[64];	/* short: socket paths live in it */

static void
setup(void)
{
	strcpy(dir, "/tmp/dbmd-test-systemd-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(systemd, .init = setup, .fini = teardown, .timeout = 60);

static const char *
dbmd_bin(void)
{
	const char *bin = getenv("TEST_DBMD_BIN");

	cr_assert_not_null(bin, "TEST_DBMD_BIN names the dbmd binary (make check sets it)");
	return bin;
}

/* An empty configuration file, so that nothing outside the test is read. */
static char *
empty_config(void)
{
	char *path = xasprintf("%s/dbmd.yaml", dir);
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp);
	fclose(fp);
	return path;
}

/*
 * Starts dbmd with exactly the variables in env (plus LISTEN_PID set to its own pid
 * when listen_fd >= 0, which it then finds as descriptor 3).
 */
static pid_t
start_dbmd(const char *sock, char **env, int listen_fd)
{
	char *cfg = empty_config(), *state = xasprintf("daemon.state_dir=%s/state", dir);
	char *log = xasprintf("%s/dbmd.log", dir);
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char *argv[] = { (char *)dbmd_bin(), "-c", cfg, "-s", (char *)sock, "--set",
		    state, NULL };
		char *envp[16], lp[32];
		int i = 0, fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		for (; env != NULL && env[i] != NULL && i < 14; i++)
			envp[i] = env[i];
		if (listen_fd >= 0) {
			if (listen_fd != 3) {
				dup2(listen_fd, 3);
				close(listen_fd);
			}
			snprintf(lp, sizeof(lp), "LISTEN_PID=%ld", (long)getpid());
			envp[i++] = lp;
		}
		envp[i] = NULL;
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(cfg);
	free(state);
	free(log);
	return pid;
}

static int
stop_dbmd(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static dbm_conn *
connect_ready(const char *sock)
{
	dbm_conn *c;
	int i;

	for (i = 0; i < 100; i++) {
		if ((c = dbm_connect(sock)) != NULL && dbm_errcode(c) == DBM_OK &&
		    dbm_ping(c) == DBM_OK)
			return c;
		dbm_disconnect(c);
		usleep(50 * 1000);
	}
	cr_assert_fail("dbmd did not answer on %s", sock);
	return NULL;
}

/* Runs a shell command in dir and returns its exit status, its output in *out. */
static int
run(const char *cmd, char **out)
{
	char *full = xasprintf("cd %s && %s 2>&1", dir, cmd), *buf = NULL;
	size_t len = 0;
	FILE *fp = popen(full, "r");
	int st;

	cr_assert_not_null(fp);
	if (getdelim(&buf, &len, '\0', fp) < 0) {
		free(buf);
		buf = xstrdup("");
	}
	st = pclose(fp);
	free(full);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool
have_systemd_analyze(void)
{
	if (access("/usr/bin/systemd-analyze", X_OK) == 0 ||
	    access("/bin/systemd-analyze", X_OK) == 0)
		return true;
	if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0)
		cr_assert_fail("systemd-analyze is missing (make deps installs systemd)");
	return false;
}

Test(systemd, units_verify_and_expose_little)
{
	const char *src = getenv("TEST_SRCDIR");
	char *bin = xstrdup(dbmd_bin()), *cmd, *out;
	double exposure = 99;
	const char *at;

	cr_assert_not_null(src, "TEST_SRCDIR names the source tree (make check sets it)");
	if (!have_systemd_analyze())
		cr_skip_test("systemd-analyze is not installed");
	cmd = xasprintf("sed 's|@SBINDIR@|%s|g' %s/systemd/dbmd.service > dbmd.service && "
	    "cp %s/systemd/dbmd.socket .", dirname(bin), src, src);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	free(out);
	free(cmd);
	cr_assert_eq(run("systemd-analyze verify --man=no ./dbmd.socket ./dbmd.service", &out), 0,
	    "systemd-analyze verify:\n%s", out);
	cr_assert_str_eq(out, "", "systemd-analyze verify warned:\n%s", out);
	free(out);
	run("systemd-analyze security --offline=yes ./dbmd.service", &out);
	at = strstr(out, "Overall exposure level for dbmd.service:");
	cr_assert_not_null(at, "%s", out);
	sscanf(at + strlen("Overall exposure level for dbmd.service:"), "%lf", &exposure);
	cr_assert_leq(exposure, 1.5, "exposure %.1f:\n%s", exposure, out);
	free(out);
	free(bin);
}

/* Notification datagrams, as systemd would receive them. */
struct notify {
	int	 fd;
	char	 seen[8192];	/* every datagram, each followed by "|" */
};

static void
notify_open(struct notify *n, char **envvar)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify.sock", dir);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(n->fd, -1);
	cr_assert_eq(bind(n->fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "%s", strerror(errno));
	n->seen[0] = '\0';
	*envvar = xasprintf("NOTIFY_SOCKET=%s", sun.sun_path);
}

/* Reads datagrams until one contains want, for at most ms; false when none did. */
static bool
notify_wait(struct notify *n, const char *want, int ms)
{
	struct pollfd pfd = { .fd = n->fd, .events = POLLIN };
	char buf[1024];
	ssize_t len;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return false;
		if ((len = recv(n->fd, buf, sizeof(buf) - 1, 0)) <= 0)
			return false;
		buf[len] = '\0';
		if (strlen(n->seen) + (size_t)len + 2 < sizeof(n->seen)) {
			strcat(n->seen, buf);
			strcat(n->seen, "|");
		}
		if (strstr(buf, want) != NULL)
			return true;
	}
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay += strlen(needle))
		n++;
	return n;
}

Test(systemd, notifies_ready_reloading_ready_stopping_and_feeds_the_watchdog)
{
	struct notify n;
	char *sock = xasprintf("%s/dbmd.sock", dir), *ns, *status;
	char *env[] = { NULL, "WATCHDOG_USEC=200000", NULL };
	dbm_conn *c;
	pid_t pid;
	int watchdogs;

	notify_open(&n, &ns);
	env[0] = ns;
	pid = start_dbmd(sock, env, -1);
	cr_assert(notify_wait(&n, "READY=1", 5000), "no READY=1; got: %s", n.seen);
	status = strstr(n.seen, "READY=1");
	cr_assert_not_null(strstr(status, "STATUS="), "READY=1 without STATUS=: %s", n.seen);
	/* Ready means serving: a client connects at once. */
	c = connect_ready(sock);
	dbm_disconnect(c);

	kill(pid, SIGHUP);
	cr_assert(notify_wait(&n, "RELOADING=1", 5000), "no RELOADING=1; got: %s", n.seen);
	cr_assert_not_null(strstr(strstr(n.seen, "RELOADING=1"), "MONOTONIC_USEC="),
	    "%s", n.seen);
	cr_assert(notify_wait(&n, "READY=1", 5000), "no READY=1 after reload; got: %s", n.seen);

	/* The watchdog interval is 200ms: dbmd pings at half of it. */
	notify_wait(&n, "no such message", 700);
	watchdogs = count(n.seen, "WATCHDOG=1");
	cr_assert_geq(watchdogs, 3, "%d watchdog pings: %s", watchdogs, n.seen);

	kill(pid, SIGTERM);
	cr_assert(notify_wait(&n, "STOPPING=1", 5000), "no STOPPING=1; got: %s", n.seen);
	cr_assert_eq(stop_dbmd(pid), 0);
	/* The order systemd relies on. */
	cr_assert_lt(strstr(n.seen, "READY=1") - n.seen, strstr(n.seen, "RELOADING=1") - n.seen);
	cr_assert_lt(strstr(n.seen, "RELOADING=1") - n.seen, strstr(n.seen, "STOPPING=1") - n.seen);
	close(n.fd);
	free(ns);
	free(sock);
}

Test(systemd, without_systemd_nothing_is_sent_and_nothing_fails)
{
	char *sock = xasprintf("%s/dbmd.sock", dir);
	pid_t pid = start_dbmd(sock, NULL, -1);
	dbm_conn *c = connect_ready(sock);

	dbm_disconnect(c);
	kill(pid, SIGHUP);
	c = connect_ready(sock);
	dbm_disconnect(c);
	cr_assert_eq(stop_dbmd(pid), 0);
	free(sock);
}

Test(systemd, takes_the_socket_systemd_passes_and_leaves_it_in_place)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *other = xasprintf("%s/unused.sock", dir), *log, *text = NULL;
	char *env[] = { "LISTEN_FDS=1", "LISTEN_FDNAMES=dbmd", NULL };
	struct stat st;
	dbm_conn *c;
	dbm_result *res;
	size_t len = 0;
	FILE *fp;
	pid_t pid;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/activated.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	pid = start_dbmd(other, env, fd);
	close(fd);

	c = connect_ready(sun.sun_path);
	res = dbm_status(c);
	cr_assert_not_null(res);
	cr_assert_str_eq(dbm_value(res, 0, dbm_colnum(res, "socket")), sun.sun_path);
	dbm_result_free(res);
	dbm_disconnect(c);
	cr_assert_neq(stat(other, &st), 0, "dbmd made its own socket as well");
	cr_assert_eq(stop_dbmd(pid), 0);
	cr_assert_eq(stat(sun.sun_path, &st), 0, "the inherited socket must stay in place");

	log = xasprintf("%s/dbmd.log", dir);
	fp = fopen(log, "r");
	cr_assert_not_null(fp);
	if (getdelim(&text, &len, '\0', fp) < 0)
		text[0] = '\0';
	fclose(fp);
	cr_assert_not_null(strstr(text, "socket from systemd"), "%s", text);
	free(text);
	free(log);
	free(other);
}
