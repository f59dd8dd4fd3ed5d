/* daemon.c: the daemon's life: start-up, the event loop, signals and shutdown. */

#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "dbmd.h"
#include "proto.h"

struct dbmd *dbmd;

/* mkdir -p for the state directory; the development database lives there. */
static void
make_state_dir(const char *path)
{
	char *copy = xstrdup(path), *p;

	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) == -1 && errno != EEXIST)
			break;
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		log_warn("state directory %s", path);
	free(copy);
}

static void
janitor_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	factory_janitor(dbmd->factory);
	notify_status();
}

/* Something went that the daemon may have been waiting for to exit. */
static void
schedule_exit_check(void *arg)
{
	(void)arg;
	if (dbmd->stopping)
		event_active(dbmd->exit_check, EV_TIMEOUT, 0);
}

static void
reaper_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	session_reap();
	schedule_exit_check(NULL);
}

/*
 * Stopping and the last client gone: the pools are disposed (again is harmless), and
 * once the last is freed the loop ends.  An event of its own, so that it never runs
 * inside the frees and walks that lead to it.
 */
static void
exit_check_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	if (!dbmd->stopping || dbmd->nsessions > 0)
		return;
	factory_dispose_all(dbmd->factory, "dbmd is shutting down");
	if (dbmd->factory->npools == 0)
		event_base_loopexit(dbmd->base, NULL);
	/* else the factory's collection of the last pool schedules this again */
}

static void
stop_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	log_warnx("shutdown_timeout passed: closing the clients still busy");
	session_goodbye_all(1, "dbmd is shutting down");
	schedule_exit_check(NULL);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev, (void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		daemon_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		daemon_reload("SIGHUP", NULL);
		break;
	default:
		break;
	}
}

/* Daemon keys that only a restart applies. */
static void
warn_restart_keys(const struct daemon_config *old, const struct daemon_config *new)
{
	if (strcmp(old->socket, new->socket) != 0 || old->socket_mode != new->socket_mode ||
	    strcmp(old->socket_group, new->socket_group) != 0 ||
	    strcmp(old->pg_socket_dir, new->pg_socket_dir) != 0 || old->pg_port != new->pg_port)
		log_warnx("reload: the socket settings changed; they apply at the next restart");
	if (strcmp(old->state_dir, new->state_dir) != 0)
		log_warnx("reload: state_dir changed; it applies at the next restart");
}

/*
 * Reads every configuration source again.  An invalid configuration changes nothing:
 * each problem is logged (and returned in *errors, one per line, when asked) and -1
 * returned.  A valid one replaces the old: pools it still describes keep serving,
 * the others drain, and new opens resolve against it.
 */
int
daemon_reload(const char *why, char **errors)
{
	struct config *cfg, *old;
	struct cfg_error *e;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int n;

	notify_reloading();
	log_info("%s: reloading the configuration", why);
	cfg = config_load(&dbmd->inputs);
	if (config_nerrors(cfg) > 0) {
		TAILQ_FOREACH(e, &cfg->errors, entry) {
			log_warnx("reload: %s%s%s", e->where, e->where[0] ? ": " : "", e->msg);
			strbuf_printf(&buf, &len, &cap, "%s%s%s\n", e->where, e->where[0] ? ": " : "",
			    e->msg);
		}
		log_warnx("reload: %d error%s; the configuration in use is unchanged",
		    config_nerrors(cfg), config_nerrors(cfg) == 1 ? "" : "s");
		config_free(cfg);
		if (errors != NULL)
			*errors = buf;
		else
			free(buf);
		notify_ready();
		return -1;
	}
	warn_restart_keys(&dbmd->cfg->daemon, &cfg->daemon);
	old = dbmd->cfg;
	dbmd->cfg = cfg;
	log_setlevel((int)cfg->daemon.log_level);
	n = factory_reconfigure(dbmd->factory, cfg);
	session_revoke(cfg);
	config_free(old);
	log_info("configuration reloaded: %d pool%s changed and drain%s", n, n == 1 ? "" : "s",
	    n == 1 ? "s" : "");
	notify_ready();
	return 0;
}

/*
 * Graceful stop: no new clients; clients with nothing in flight are told and closed
 * now, the others as soon as their request completes or shutdown_timeout passes.
 * Closing a client rolls back its transactions; then every pool is disposed.  A second
 * signal exits at once.
 */
void
daemon_stop(const char *why)
{
	struct timeval tv;
	int64_t t = dbmd->cfg->daemon.shutdown_timeout;

	if (dbmd->stopping) {
		log_warnx("%s again: exiting now, cancelling statements still running", why);
		control_close();
		factory_abort(dbmd->factory);
		_exit(0);	/* at once: no cleanup, no leak report at exit */
	}
	dbmd->stopping = true;
	control_close();	/* first: no client may connect from now on */
	sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
	log_info("%s: shutting down (%d clients)", why, dbmd->nsessions);
	session_goodbye_all(0, "dbmd is shutting down");
	tv.tv_sec = t / 1000;
	tv.tv_usec = (t % 1000) * 1000;
	dbmd->stop_timer = evtimer_new(dbmd->base, stop_timeout_cb, NULL);
	if (dbmd->stop_timer != NULL)
		evtimer_add(dbmd->stop_timer, &tv);
	schedule_exit_check(NULL);
}

static int
add_signal(int i, int sig)
{
	dbmd->sigs[i] = evsignal_new(dbmd->base, sig, signal_cb, NULL);
	return dbmd->sigs[i] == NULL ? -1 : event_add(dbmd->sigs[i], NULL);
}

/*
 * Runs the daemon on a valid configuration, which it then owns, until it is stopped.
 * The inputs are read again on reload.  Returns the exit status: 0 after a graceful
 * stop, 1 when it could not start.
 */
int
daemon_run(struct config *cfg, const struct config_inputs *in)
{
	struct timeval second = { 1, 0 };
	sigset_t stopsigs;
	int rc = 1;
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	dbmd = xcalloc(1, sizeof(*dbmd));
	dbmd->cfg = cfg;
	dbmd->inputs = *in;
	dbmd->started = now_ms();
	dbmd->started_wall = time(NULL);
	TAILQ_INIT(&dbmd->sessions);
	if ((dbmd->base = event_base_new()) == NULL ||
	    (dbmd->reaper = event_new(dbmd->base, -1, 0, reaper_cb, NULL)) == NULL ||
	    (dbmd->exit_check = event_new(dbmd->base, -1, 0, exit_check_cb, NULL)) == NULL) {
		log_warnx("cannot create the event loop");
		goto out;
	}
	make_state_dir(cfg->daemon.state_dir);
	if (sqlite_backend_init(dbmd->base) == -1)
		goto out;
	dbmd->factory = factory_new(dbmd->base, &backend_sqlite, &backend_pg, &cache_lru);
	dbmd->factory->max_override_pools = (int)cfg->daemon.max_override_pools;
	dbmd->factory->collected = schedule_exit_check;
	if (add_signal(0, SIGTERM) == -1 || add_signal(1, SIGINT) == -1 ||
	    add_signal(2, SIGHUP) == -1) {
		log_warnx("cannot install signal handlers");
		goto out;
	}
	if (control_listen(&cfg->daemon) == -1)
		goto out;
	dbmd->janitor = event_new(dbmd->base, -1, EV_PERSIST, janitor_cb, NULL);
	if (dbmd->janitor == NULL || event_add(dbmd->janitor, &second) == -1)
		goto out;
	if (notify_start() == -1)
		goto out;
	log_info("dbmd %s serving on %s%s%s (state in %s)%s", DBMD_VERSION, dbmd->socket_path,
	    dbmd->pg_socket_path ? " and, for PostgreSQL clients, " : "",
	    dbmd->pg_socket_path ? dbmd->pg_socket_path : "", cfg->daemon.state_dir,
	    dbmd->listen_inherited ? ", socket from systemd" : "");
	notify_ready();
	event_base_dispatch(dbmd->base);
	/*
	 * Stopped: a signal now has nothing left to do, and once the signal events are
	 * freed below its default action would kill the process mid-cleanup.  Held
	 * pending instead, it goes with the process.
	 */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
	log_info("dbmd stopped");
	rc = 0;
out:
	control_close();
	notify_stop();
	if (dbmd->janitor != NULL)
		event_free(dbmd->janitor);
	if (dbmd->stop_timer != NULL)
		event_free(dbmd->stop_timer);
	for (i = 0; i < sizeof(dbmd->sigs) / sizeof(dbmd->sigs[0]); i++)
		if (dbmd->sigs[i] != NULL)
			event_free(dbmd->sigs[i]);
	factory_free(dbmd->factory);
	ryw_clear();
	sqlite_backend_shutdown();
	session_reap();
	if (dbmd->reaper != NULL)
		event_free(dbmd->reaper);
	if (dbmd->exit_check != NULL)
		event_free(dbmd->exit_check);
	if (dbmd->base != NULL)
		event_base_free(dbmd->base);
	free(dbmd->socket_path);
	free(dbmd->pg_socket_path);
	config_free(dbmd->cfg);
	free(dbmd);
	dbmd = NULL;
	return rc;
}
