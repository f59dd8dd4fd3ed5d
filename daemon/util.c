/* util.c: allocation that cannot fail quietly, string building, small helpers. */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbmd.h"

/*
 * Running out of memory for a few dozen bytes of bookkeeping leaves the daemon with no
 * sane way on, so these end it with a message (as OpenSMTPD's xmalloc does).  Paths that
 * allocate per row or per client use plain malloc and fail the one request instead.
 */
void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		fatal("calloc");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		fatal("vasprintf");
	return s;
}

/* Appends formatted text to a growing buffer (*buf, *len used, *cap allocated). */
int
strbuf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t avail = *cap - *len;

		va_start(ap, fmt);
		n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? avail : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if (*buf != NULL && (size_t)n < avail) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = *cap ? *cap : 256;
		while (ncap - *len <= (size_t)n)
			ncap *= 2;
		char *nb = realloc(*buf, ncap);
		if (nb == NULL)
			fatal("realloc");
		*buf = nb;
		*cap = ncap;
	}
}

/* Levenshtein distance, for "did you mean" suggestions; short strings only. */
unsigned
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned row[64], prev, tmp;

	if (lb >= sizeof(row) / sizeof(row[0]) || la >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			unsigned best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/*
 * Starts a thread with every signal blocked: signals are the event loop's, and a
 * thread that took one would act on it (or die of it) behind the loop's back.
 */
int
thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * A message as one line, for logs and clients: libpq's end in newlines and may span
 * lines.  NULL or empty: "unknown error".
 */
void
one_line(char *dst, size_t size, const char *msg)
{
	size_t n;
	char *p;

	snprintf(dst, size, "%s", msg != NULL && *msg != '\0' ? msg : "unknown error");
	for (p = dst; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(dst);
	while (n > 0 && dst[n - 1] == ' ')
		dst[--n] = '\0';
}

/* Frees a NULL-terminated array of strings and the array; NULL-safe. */
void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
