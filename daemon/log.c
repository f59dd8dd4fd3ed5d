/* log.c: the daemon's logging, to stderr, in journald's or a terminal's form. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbmd.h"

static int log_maxlevel = LOG_INFO;
static int log_journal;		/* stderr is read by journald: prefix <prio> */

static const char *const log_levelnames[] = {
	[LOG_ERR] = "error",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/*
 * journald sets JOURNAL_STREAM to "dev:inode" of the stream it reads; when that is our
 * stderr, the "<N>" prefix carries the priority and journald adds its own timestamps.
 */
void
log_init(int level)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;

	log_maxlevel = level;
	log_journal = 0;
	if (js != NULL && sscanf(js, "%lu:%lu", &dev, &ino) == 2) {
		struct stat st;

		if (fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			log_journal = 1;
	}
}

void
log_setlevel(int level)
{
	log_maxlevel = level;
}

int
log_getlevel(void)
{
	return log_maxlevel;
}

/* Maps "debug", "info", … to a syslog priority; -1 when the name is unknown. */
int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(log_levelnames) / sizeof(log_levelnames[0]); i++)
		if (log_levelnames[i] != NULL && strcmp(log_levelnames[i], name) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || (size_t)level >= sizeof(log_levelnames) / sizeof(log_levelnames[0]) ||
	    log_levelnames[level] == NULL)
		return "?";
	return log_levelnames[level];
}

static void	log_vwrite(int, const char *, va_list, const char *) ATTR_PRINTF(2, 0);

static void
log_vwrite(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];
	int saved = errno;

	if (prio > log_maxlevel) {
		errno = saved;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Messages quote what clients send: one line each, no terminal control. */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (log_journal) {
		fprintf(stderr, "<%d>%s%s%s\n", prio, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	} else {
		char ts[32];
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld dbmd[%ld] %s: %s%s%s\n", ts, now.tv_nsec / 1000000L,
		    (long)getpid(), log_level_name(prio), msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	}
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, err);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_NOTICE, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
