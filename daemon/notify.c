/* notify.c: telling systemd how dbmd is: ready, reloading, stopping, its status, alive. */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "dbmd.h"

/*
 * Without systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC) every call here does nothing.
 * The watchdog is fed from the event loop itself, so a loop that stops turning is
 * noticed and restarted by systemd.
 */

static struct event *watchdog;
static char last_status[256];

static void
watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static void
status_text(char *buf, size_t size)
{
	const struct session *s;
	int handles = 0;

	TAILQ_FOREACH(s, &dbmd->sessions, entry)
		handles += s->nhandles;
	snprintf(buf, size, "%d client%s, %d pool%s, %d handle%s", dbmd->nsessions,
	    dbmd->nsessions == 1 ? "" : "s", dbmd->factory->npools,
	    dbmd->factory->npools == 1 ? "" : "s", handles, handles == 1 ? "" : "s");
}

/* Starts feeding the watchdog at half the interval systemd asked for. */
int
notify_start(void)
{
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	watchdog = event_new(dbmd->base, -1, EV_PERSIST, watchdog_cb, NULL);
	if (watchdog == NULL || event_add(watchdog, &tv) == -1) {
		log_warnx("cannot start the watchdog timer");
		return -1;
	}
	sd_notify(0, "WATCHDOG=1");
	return 0;
}

void
notify_ready(void)
{
	status_text(last_status, sizeof(last_status));
	sd_notifyf(0, "READY=1\nSTATUS=%s", last_status);
}

/* systemd 253's notify-reload protocol; older systemd ignores what it does not know. */
void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

/* The one-line summary, sent when it changed; the janitor calls this every second. */
void
notify_status(void)
{
	char buf[sizeof(last_status)];

	if (dbmd->stopping)
		return;
	status_text(buf, sizeof(buf));
	if (strcmp(buf, last_status) == 0)
		return;
	memcpy(last_status, buf, sizeof(buf));
	sd_notifyf(0, "STATUS=%s", buf);
}

void
notify_stop(void)
{
	if (watchdog != NULL)
		event_free(watchdog);
	watchdog = NULL;
}
