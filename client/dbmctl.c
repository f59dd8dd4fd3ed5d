/* dbmctl.c: the operator's command line for dbmd, built on libdbmclient alone. */

/*
 * Every command is one request through the public library, so dbmctl is also
 * the library's first user: if something is awkward here, it is awkward for
 * applications too.  Output is a psql-like table for people, or with --json
 * one JSON document whose shape is documented in dbmctl(1) and stays stable.
 * Exit status: 0 success, 1 a failure reported by or about dbmd, 2 usage.
 */

#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "dbmclient.h"

#define EXIT_DBM	1
#define EXIT_USAGE	2

static bool	 json;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: dbmctl [-s socket] [--json] command [argument ...]\n"
	    "commands:\n"
	    "  ping                          check that dbmd answers\n"
	    "  status [-v]                   dbmd and its pools; -v: every counter\n"
	    "  metrics                       status in the Prometheus text format\n"
	    "  clients                       connected clients\n"
	    "  top [-d seconds] [-n count]   live view of the pools\n"
	    "  sql [-e env] [-r role] [-c ms] [-N null] SQL [param ...]\n"
	    "                                run one statement\n"
	    "  resolve env role              resolved configuration, with sources\n"
	    "  reload                        reread the configuration\n"
	    "  dispose hash|env/role         drain pools\n"
	    "  cache flush hash|env/role     empty pools' result caches\n");
}

static void usage_error(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fputs("dbmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(EXIT_USAGE);
}

/*
 * Reports a failure: the message, then the detail indented under it (it may
 * be many lines: RELOAD lists every configuration error, one per line), then
 * the hint.
 */
static void
print_error(const char *sqlstate, const char *msg, const char *detail, const char *hint)
{
	size_t	 len;

	if (sqlstate[0] != '\0')
		fprintf(stderr, "dbmctl: %s (SQLSTATE %s)\n", msg, sqlstate);
	else
		fprintf(stderr, "dbmctl: %s\n", msg);
	while (*detail != '\0') {
		len = strcspn(detail, "\n");
		fprintf(stderr, "  %.*s\n", (int)len, detail);
		detail += len;
		if (*detail == '\n')
			detail++;
	}
	if (hint[0] != '\0')
		fprintf(stderr, "  hint: %s\n", hint);
}

static int
fail_conn(const dbm_conn *conn)
{
	const char	*msg = dbm_errmsg(conn);

	print_error(dbm_errsqlstate(conn), msg[0] != '\0' ? msg :
	    dbm_strerror(dbm_errcode(conn)), dbm_errdetail(conn), dbm_errhint(conn));
	return EXIT_DBM;
}

static int
fail_result(const dbm_result *res)
{
	const char	*msg = dbm_result_errmsg(res);

	print_error(dbm_result_sqlstate(res), msg[0] != '\0' ? msg :
	    dbm_strerror(dbm_result_status(res)), dbm_result_detail(res),
	    dbm_result_hint(res));
	return EXIT_DBM;
}

/* JSON. */

/*
 * Length of the valid UTF-8 sequence at s (n bytes left), or 0 if there is
 * none: overlong forms, surrogates and code points past U+10FFFF are invalid.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	unsigned long	 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Writes a JSON string.  Every control character is escaped, DEL too, and
 * bytes that are not UTF-8 (a BLOB, a Latin-1 value) become U+FFFD, so the
 * document is valid whatever the database holds.
 */
static void
json_str(const char *str, size_t n)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, len;

	putchar('"');
	while (i < n) {
		switch (s[i]) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\b':
			fputs("\\b", stdout);
			break;
		case '\f':
			fputs("\\f", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if (s[i] < 0x20 || s[i] == 0x7F) {
				printf("\\u%04x", s[i]);
				break;
			}
			if ((len = utf8_len(s + i, n - i)) == 0) {
				fputs("\\ufffd", stdout);
				break;
			}
			fwrite(s + i, 1, len, stdout);
			i += len;
			continue;
		}
		i++;
	}
	putchar('"');
}

static void
json_cstr(const char *s)
{
	json_str(s, strlen(s));
}

/*
 * A value: null for SQL NULL, else a string, even for numbers.  Bytes (a
 * binary column) are the text \x and their hex, as PostgreSQL writes a bytea
 * and as dbmctl wrote it before dbmd sent bytes: they are seldom UTF-8.
 */
static void
json_value(const dbm_result *res, int row, int col)
{
	const unsigned char	*b;
	size_t			 i, n;

	if (dbm_isnull(res, row, col))
		fputs("null", stdout);
	else if (dbm_colformat(res, col) == DBM_FORMAT_BINARY) {
		b = (const unsigned char *)dbm_value(res, row, col);
		n = dbm_length(res, row, col);
		fputs("\"\\\\x", stdout);
		for (i = 0; i < n; i++)
			printf("%02x", b[i]);
		putchar('"');
	} else
		json_str(dbm_value(res, row, col), dbm_length(res, row, col));
}

static void
json_object_row(const dbm_result *res, int row)
{
	int	 j;

	putchar('{');
	for (j = 0; j < dbm_ncols(res); j++) {
		if (j > 0)
			putchar(',');
		json_cstr(dbm_colname(res, j));
		putchar(':');
		json_value(res, row, j);
	}
	putchar('}');
}

/* Every row of a result set as an object keyed by column name. */
static void
json_objects(const dbm_result *res)
{
	int	 i;

	putchar('[');
	for (i = 0; i < dbm_nrows(res); i++) {
		if (i > 0)
			putchar(',');
		json_object_row(res, i);
	}
	putchar(']');
}

static const char *
cache_name(int state)
{
	switch (state) {
	case DBM_CACHE_MISS:
		return "miss";
	case DBM_CACHE_HIT:
		return "hit";
	default:
		return "bypass";
	}
}

static void
json_result_set(const dbm_result *res)
{
	int	 i, j;

	fputs("{\"columns\":[", stdout);
	for (j = 0; j < dbm_ncols(res); j++) {
		if (j > 0)
			putchar(',');
		json_cstr(dbm_colname(res, j));
	}
	fputs("],\"rows\":[", stdout);
	for (i = 0; i < dbm_nrows(res); i++) {
		if (i > 0)
			putchar(',');
		putchar('[');
		for (j = 0; j < dbm_ncols(res); j++) {
			if (j > 0)
				putchar(',');
			json_value(res, i, j);
		}
		putchar(']');
	}
	fputs("],\"command_tag\":", stdout);
	json_cstr(dbm_cmdtag(res));
	printf(",\"rows_affected\":%lld,\"cache\":\"%s\"", dbm_affected(res),
	    cache_name(dbm_cache_state(res)));
}

/*
 * A reply of result sets: the first one is the document; any further ones
 * (a multi-statement string) follow in "more_results", which is absent
 * when there are none.
 */
static void
json_results(const dbm_result *res)
{
	const dbm_result	*r;

	json_result_set(res);
	if ((r = dbm_result_next(res)) != NULL) {
		fputs(",\"more_results\":[", stdout);
		for (; r != NULL; r = dbm_result_next(r)) {
			json_result_set(r);
			putchar('}');
			if (dbm_result_next(r) != NULL)
				putchar(',');
		}
		putchar(']');
	}
	fputs("}\n", stdout);
}

/* Tables. */

/*
 * A value as a table shows it, and its width in terminal columns.  Control
 * characters and bytes that are not text in the locale are shown escaped
 * (\n, \t, \x01) so that one value cannot break the table's lines.  With
 * CELL_BACKSLASH a backslash is doubled too, which keeps the escapes, the
 * NULL marker \N and the \x of bytes from being mistaken for text.
 */
struct cell {
	char	*text;
	size_t	 width;
};

#define CELL_BACKSLASH	0x01	/* double backslashes: the value is data */

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n > 0 ? n : 1)) == NULL) {
		fprintf(stderr, "dbmctl: out of memory\n");
		exit(EXIT_DBM);
	}
	return p;
}

static void
cell_render(struct cell *cell, const char *s, size_t n, int flags)
{
	mbstate_t	 mbs;
	size_t		 i = 0, k, cap = n * 4 + 1, len = 0, width = 0;
	wchar_t		 wc;
	char		*out;
	int		 w;

	out = xmalloc(cap);
	memset(&mbs, 0, sizeof(mbs));
	while (i < n) {
		unsigned char	 ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7F || (ch == '\\' && (flags & CELL_BACKSLASH))) {
			if (ch == '\n')
				len += (size_t)sprintf(out + len, "\\n");
			else if (ch == '\t')
				len += (size_t)sprintf(out + len, "\\t");
			else if (ch == '\r')
				len += (size_t)sprintf(out + len, "\\r");
			else if (ch == '\\')
				len += (size_t)sprintf(out + len, "\\\\");
			else
				len += (size_t)sprintf(out + len, "\\x%02x", ch);
			width += ch == '\n' || ch == '\t' || ch == '\r' || ch == '\\' ? 2 : 4;
			i++;
			continue;
		}
		if (ch < 0x80 || MB_CUR_MAX == 1) {
			out[len++] = (char)ch;
			width++;
			i++;
			continue;
		}
		k = mbrtowc(&wc, s + i, n - i, &mbs);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0 || (w = wcwidth(wc)) < 0) {
			memset(&mbs, 0, sizeof(mbs));
			len += (size_t)sprintf(out + len, "\\x%02x", ch);
			width += 4;
			i++;
			continue;
		}
		memcpy(out + len, s + i, k);
		len += k;
		width += (size_t)w;
		i += k;
	}
	out[len] = '\0';
	cell->text = out;
	cell->width = width;
}

/* Raw bytes as psql shows a bytea: \x and two lower-case hex digits a byte. */
static void
cell_bytes(struct cell *cell, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;
	char			*out = xmalloc(2 * n + 3);

	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < n; i++) {
		out[2 + 2 * i] = hex[(unsigned char)s[i] >> 4];
		out[3 + 2 * i] = hex[(unsigned char)s[i] & 0x0F];
	}
	out[2 + 2 * n] = '\0';
	cell->text = out;
	cell->width = 2 + 2 * n;
}

/* How SQL NULL is shown in tables (sql -N); \N cannot be text, whose \ is doubled. */
static const char	*null_marker = "\\N";

/*
 * One value of a result set as a table shows it: the NULL marker, bytes in
 * hex, a bytea PostgreSQL sent as text in its own hex form as it is, and any
 * other text escaped with its backslashes doubled.
 */
static void
cell_value(struct cell *cell, const dbm_result *res, int row, int col)
{
	if (dbm_isnull(res, row, col))
		cell_render(cell, null_marker, strlen(null_marker), 0);
	else if (dbm_colformat(res, col) == DBM_FORMAT_BINARY)
		cell_bytes(cell, dbm_value(res, row, col), dbm_length(res, row, col));
	else
		cell_render(cell, dbm_value(res, row, col), dbm_length(res, row, col),
		    dbm_coltype(res, col) == DBM_OID_BYTEA ? 0 : CELL_BACKSLASH);
}

static void
pad(size_t n)
{
	while (n-- > 0)
		putchar(' ');
}

/* "…" where the terminal's character set has it, else three dots. */
static const char *
ellipsis(size_t *width)
{
	static int	 utf8 = -1;

	if (utf8 == -1)
		utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	*width = utf8 ? 1 : 3;
	return utf8 ? "\xe2\x80\xa6" : "...";
}

/*
 * Prints a string escaped as a table cell, in at most max columns: a longer
 * one is cut and ends in an ellipsis, as wrapping would break the layout.
 * With fill, pads to exactly max columns.  Returns the columns printed.
 */
static size_t
print_fit(const char *s, size_t max, bool fill)
{
	struct cell	 c;
	mbstate_t	 mbs;
	wchar_t		 wc;
	const char	*ell;
	size_t		 i = 0, k, w = 0, ellw, len;
	int		 cw;

	cell_render(&c, s, strlen(s), 0);
	if (c.width <= max) {
		fputs(c.text, stdout);
		w = c.width;
	} else {
		ell = ellipsis(&ellw);
		if (ellw > max)
			ell = "", ellw = 0;
		/* The rendered text is valid in the locale: escapes are ASCII. */
		memset(&mbs, 0, sizeof(mbs));
		len = strlen(c.text);
		while (i < len) {
			k = 1;
			cw = 1;
			if ((unsigned char)c.text[i] >= 0x80 && MB_CUR_MAX > 1) {
				k = mbrtowc(&wc, c.text + i, len - i, &mbs);
				if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
					break;
				cw = wcwidth(wc);
			}
			if (w + (size_t)cw + ellw > max)
				break;
			fwrite(c.text + i, 1, k, stdout);
			w += (size_t)cw;
			i += k;
		}
		fputs(ell, stdout);
		w += ellw;
	}
	free(c.text);
	if (fill && w < max) {
		pad(max - w);
		w = max;
	}
	return w;
}

/* print_fit of a formatted string. */
static size_t print_fitf(size_t, bool, const char *, ...) __attribute__((format(printf, 3, 4)));

static size_t
print_fitf(size_t max, bool fill, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return print_fit(buf, max, fill);
}

/*
 * Prints a result set as psql does: centred header, a rule, left-aligned
 * values, "(N rows)".  SQL NULL shows as the NULL marker.
 */
static void
table_print(const dbm_result *res)
{
	struct cell	*cells;
	size_t		*widths, ncells, idx;
	int		 nrows = dbm_nrows(res), ncols = dbm_ncols(res), i, j;

	ncells = ((size_t)nrows + 1) * (size_t)ncols;
	cells = calloc(ncells > 0 ? ncells : 1, sizeof(*cells));
	widths = calloc(ncols > 0 ? (size_t)ncols : 1, sizeof(*widths));
	if (cells == NULL || widths == NULL) {
		fprintf(stderr, "dbmctl: out of memory\n");
		exit(EXIT_DBM);
	}
	for (j = 0; j < ncols; j++)
		cell_render(&cells[j], dbm_colname(res, j), strlen(dbm_colname(res, j)), 0);
	for (i = 0; i < nrows; i++)
		for (j = 0; j < ncols; j++)
			cell_value(&cells[((size_t)i + 1) * (size_t)ncols + (size_t)j], res, i, j);
	for (idx = 0; idx < ncells; idx++)
		if (cells[idx].width > widths[idx % (size_t)ncols])
			widths[idx % (size_t)ncols] = cells[idx].width;

	for (j = 0; j < ncols; j++) {
		size_t	 left = (widths[j] - cells[j].width) / 2;

		printf("%s %*s%s", j > 0 ? "|" : "", (int)left, "", cells[j].text);
		if (j < ncols - 1)
			pad(widths[j] - cells[j].width - left + 1);
	}
	if (ncols > 0)
		putchar('\n');
	for (j = 0; j < ncols; j++) {
		if (j > 0)
			putchar('+');
		for (idx = 0; idx < widths[j] + 2; idx++)
			putchar('-');
	}
	if (ncols > 0)
		putchar('\n');
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++) {
			struct cell	*c = &cells[((size_t)i + 1) * (size_t)ncols + (size_t)j];

			printf("%s %s", j > 0 ? "|" : "", c->text);
			if (j < ncols - 1)
				pad(widths[j] - c->width + 1);
		}
		putchar('\n');
	}
	printf("(%d %s)\n", nrows, nrows == 1 ? "row" : "rows");

	for (idx = 0; idx < ncells; idx++)
		free(cells[idx].text);
	free(cells);
	free(widths);
}

/* One result set: a table if it has columns, else its command tag. */
static void
text_result_set(const dbm_result *res)
{
	if (dbm_ncols(res) > 0)
		table_print(res);
	else if (dbm_cmdtag(res)[0] != '\0')
		printf("%s\n", dbm_cmdtag(res));
}

static void
text_results(const dbm_result *res)
{
	const dbm_result	*r;

	for (r = res; r != NULL; r = dbm_result_next(r)) {
		if (r != res)
			putchar('\n');
		text_result_set(r);
	}
}

/* Commands.  Each returns the exit status; the result is freed by the caller. */

static int
cmd_ping(dbm_conn *conn)
{
	if (dbm_ping(conn) != DBM_OK)
		return fail_conn(conn);
	if (json)
		fputs("{\"ok\":true}\n", stdout);
	else if (strncmp(dbm_server_version(conn), "dbmd", 4) == 0)
		printf("PONG from %s\n", dbm_server_version(conn));
	else
		printf("PONG from dbmd %s\n", dbm_server_version(conn));
	return 0;
}

/* Runs a request that returns results and hands them to show on success. */
static int
show(dbm_conn *conn, dbm_result *res, void (*fn)(const dbm_result *))
{
	int	 rv = 0;

	if (res == NULL)
		return fail_conn(conn);
	if (dbm_result_status(res) != DBM_OK)
		rv = fail_result(res);
	else
		fn(res);
	dbm_result_free(res);
	return rv;
}

/* A column of the first row of a status result set: "" if dbmd did not send it. */
static const char *
col_str(const dbm_result *res, int row, const char *name)
{
	int	 c = dbm_colnum(res, name);

	return c >= 0 && row < dbm_nrows(res) ? dbm_value(res, row, c) : "";
}

static long long
col_num(const dbm_result *res, int row, const char *name)
{
	return strtoll(col_str(res, row, name), NULL, 10);
}

/* Seconds as "3d 04:05:06", "1:02:03" or "42s": top and systemctl's manner. */
static void
fmt_uptime(char *buf, size_t len, long long s)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd %02lld:%02lld:%02lld", s / 86400, s / 3600 % 24,
		    s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
}

/* How many columns the views may fill: the terminal's, or 80 when it is not one. */
static size_t
term_width(void)
{
	struct winsize	 ws;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* One "label: value" line of a pool, the labels right-aligned as systemctl has them. */
static void pool_line(size_t, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

#define POOL_LABEL	13	/* width of the longest label, "connections" and its indent */

static void
pool_line(size_t width, const char *label, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("%*s: ", POOL_LABEL, label);
	print_fit(buf, width > POOL_LABEL + 2 ? width - POOL_LABEL - 2 : 1, false);
	putchar('\n');
}

/*
 * The default status: a few lines about dbmd, then a paragraph per pool with
 * what an operator looks at first.  No line is wider than the terminal (80
 * columns off a terminal); everything else is in -v, --json and metrics.
 */
/*
 * The servers of a pool with several (the status's HOSTS), a line each: what it is,
 * whether it is up, its connections and statements, its lag; why it is down.
 */
static void
host_lines(size_t width, const dbm_result *hosts, const char *hash)
{
	char		 lag[48];
	long long	 ms;
	time_t		 since;
	struct tm	 tm;
	int		 i;

	for (i = 0; hosts != NULL && i < dbm_nrows(hosts); i++) {
		if (strcmp(col_str(hosts, i, "hash"), hash) != 0)
			continue;
		ms = col_num(hosts, i, "lag_ms");
		since = (time_t)col_num(hosts, i, "down_since");
		if (since > 0 && localtime_r(&since, &tm) != NULL)
			strftime(lag, sizeof(lag), " since %Y-%m-%d %H:%M:%S", &tm);
		else if (strcmp(col_str(hosts, i, "server"), "standby") == 0 && ms >= 0)
			snprintf(lag, sizeof(lag), ", lag %lld ms", ms);
		else
			lag[0] = '\0';
		pool_line(width, "server", "%s %s, %s%s, %lld connections, %s statements%s%s%s",
		    col_str(hosts, i, "host"), col_str(hosts, i, "server"),
		    col_str(hosts, i, "state"), since > 0 ? lag : "",
		    col_num(hosts, i, "connections"), col_str(hosts, i, "statements"),
		    since > 0 ? "" : lag,
		    col_str(hosts, i, "last_error")[0] ? ": " : "",
		    col_str(hosts, i, "last_error"));
	}
}

static void
status_short(const dbm_result *d, const dbm_result *pools)
{
	const dbm_result *hist = pools ? dbm_result_next(pools) : NULL;
	const dbm_result *hosts = hist ? dbm_result_next(hist) : NULL;
	size_t		 width = term_width();
	char		 up[32], extra[64];
	long long	 hits, misses, n;
	int		 i;

	fmt_uptime(up, sizeof(up), col_num(d, 0, "uptime_s"));
	print_fitf(width, false, "dbmd %s, pid %s, up %s", col_str(d, 0, "version"),
	    col_str(d, 0, "pid"), up);
	putchar('\n');
	pool_line(width, "socket", "%s", col_str(d, 0, "socket"));
	pool_line(width, "clients", "%s with %s handles", col_str(d, 0, "clients"),
	    col_str(d, 0, "handles"));
	pool_line(width, "pools", "%s", col_str(d, 0, "pools"));

	for (i = 0; pools != NULL && i < dbm_nrows(pools); i++) {
		putchar('\n');
		/* The names first, cut if they must be, then the hash that dispose takes. */
		print_fit(col_str(pools, i, "names"), width > 19 ? width - 19 : 1, false);
		printf("  %s\n", col_str(pools, i, "hash"));
		pool_line(width, "backend", "%s, %s", col_str(pools, i, "backend"),
		    col_str(pools, i, "state"));
		pool_line(width, "target", "%s", col_str(pools, i, "target"));
		/* Pinned and opening connections only when there are any: rarely. */
		extra[0] = '\0';
		if ((n = col_num(pools, i, "pinned")) > 0)
			snprintf(extra, sizeof(extra), ", %lld pinned", n);
		if ((n = col_num(pools, i, "connecting")) > 0)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			    ", %lld opening", n);
		pool_line(width, "connections", "%lld active, %lld idle, %lld max%s",
		    col_num(pools, i, "active"), col_num(pools, i, "idle"),
		    col_num(pools, i, "pool_size"), extra);
		if ((n = col_num(pools, i, "waiting")) > 0)
			pool_line(width, "waiting", "%lld, the longest for %lld ms", n,
			    col_num(pools, i, "longest_wait_ms"));
		else
			pool_line(width, "waiting", "0");
		pool_line(width, "statements", "%s, %s errors", col_str(pools, i, "statements"),
		    col_str(pools, i, "errors"));
		hits = col_num(pools, i, "cache_hits");
		misses = col_num(pools, i, "cache_misses");
		if (hits + misses > 0)
			pool_line(width, "cache", "%.1f%% hits (%lld of %lld), %s entries",
			    100.0 * (double)hits / (double)(hits + misses), hits, hits + misses,
			    col_str(pools, i, "cache_entries"));
		else
			pool_line(width, "cache", "no lookups");
		if (col_str(pools, i, "last_error")[0] != '\0')
			pool_line(width, "last error", "%s", col_str(pools, i, "last_error"));
		host_lines(width, hosts, col_str(pools, i, "hash"));
	}
}

/*
 * status -v: the daemon's counters, then every column of every pool as
 * "name: value" lines (29 columns make a table no terminal holds), then the
 * latency histograms as a table.
 */
/* Every column of a row as "name: value" lines, the values aligned. */
static void
record_lines(const dbm_result *res, int row)
{
	struct cell	 c;
	size_t		 w = 0, len;
	int		 j;

	for (j = 0; j < dbm_ncols(res); j++)
		if ((len = strlen(dbm_colname(res, j))) > w)
			w = len;
	for (j = 0; j < dbm_ncols(res); j++) {
		cell_render(&c, dbm_value(res, row, j), dbm_length(res, row, j), 0);
		printf("%s:%*s %s\n", dbm_colname(res, j),
		    (int)(w - strlen(dbm_colname(res, j))), "", c.text);
		free(c.text);
	}
}

/*
 * status -v: every column of the daemon and of each pool as "name: value"
 * lines (29 columns make a table no terminal holds), then the latency
 * histograms as a table.
 */
static void
status_long(const dbm_result *d, const dbm_result *pools)
{
	const dbm_result	*r;
	int			 i;

	if (dbm_nrows(d) > 0)
		record_lines(d, 0);
	if (pools == NULL)
		return;
	for (i = 0; i < dbm_nrows(pools); i++) {
		putchar('\n');
		record_lines(pools, i);
	}
	for (r = dbm_result_next(pools); r != NULL; r = dbm_result_next(r)) {
		putchar('\n');
		text_result_set(r);
	}
}

static bool	 verbose;	/* status -v */

static void
status_parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+v", longopts, NULL)) != -1) {
		if (ch != 'v')
			usage_error("status: unknown option %s", argv[optind - 1]);
		verbose = true;
	}
	if (optind < argc)
		usage_error("status: unexpected argument %s", argv[optind]);
}

static void
show_status(const dbm_result *res)
{
	const dbm_result	*pools = dbm_result_next(res);

	if (json) {
		fputs("{\"daemon\":", stdout);
		if (dbm_nrows(res) > 0)
			json_object_row(res, 0);
		else
			fputs("{}", stdout);
		const dbm_result *hist = pools ? dbm_result_next(pools) : NULL;
		const dbm_result *hosts = hist ? dbm_result_next(hist) : NULL;

		fputs(",\"pools\":", stdout);
		if (pools != NULL)
			json_objects(pools);
		else
			fputs("[]", stdout);
		fputs(",\"hosts\":", stdout);
		if (hosts != NULL)
			json_objects(hosts);
		else
			fputs("[]", stdout);
		fputs("}\n", stdout);
	} else if (verbose)
		status_long(res, pools);
	else
		status_short(res, pools);
}

static void
show_clients(const dbm_result *res)
{
	if (json) {
		fputs("{\"clients\":", stdout);
		json_objects(res);
		fputs("}\n", stdout);
	} else
		text_result_set(res);
}

static void
show_results(const dbm_result *res)
{
	if (json)
		json_results(res);
	else
		text_results(res);
}

/*
 * RESOLVE's first rows name what was resolved (environment, role, backend,
 * hash) and the rest are the configuration keys; in JSON the former become
 * members of their own.
 */
static void
show_resolve(const dbm_result *res)
{
	static const char *const head[] = { "environment", "role", "backend", "hash" };
	int		 rowof[4] = { -1, -1, -1, -1 };
	int		 kc = dbm_colnum(res, "key"), vc = dbm_colnum(res, "value");
	int		 sc = dbm_colnum(res, "source"), i, k, first = 0;
	bool		 comma = false;

	if (!json) {
		text_result_set(res);
		return;
	}
	for (i = 0; kc >= 0 && i < dbm_nrows(res); i++) {
		for (k = 0; k < 4; k++)
			if (rowof[k] == -1 && strcmp(dbm_value(res, i, kc), head[k]) == 0)
				break;
		if (k == 4)
			break;
		rowof[k] = i;
		first = i + 1;
	}
	putchar('{');
	for (k = 0; k < 4; k++) {
		printf("%s\"%s\":", k > 0 ? "," : "", head[k]);
		if (rowof[k] == -1)
			fputs("null", stdout);
		else
			json_value(res, rowof[k], vc);
	}
	fputs(",\"keys\":[", stdout);
	for (i = first; i < dbm_nrows(res); i++) {
		printf("%s{\"key\":", comma ? "," : "");
		json_value(res, i, kc);
		fputs(",\"value\":", stdout);
		json_value(res, i, vc);
		fputs(",\"source\":", stdout);
		json_value(res, i, sc);
		putchar('}');
		comma = true;
	}
	fputs("]}\n", stdout);
}

static void
show_reload(const dbm_result *res)
{
	if (json)
		fputs("{\"ok\":true}\n", stdout);
	else if (dbm_ncols(res) > 0)
		text_results(res);
	else
		printf("configuration reloaded\n");
}

static int
cmd_resolve(dbm_conn *conn, const char *env, const char *role)
{
	dbm_result	*res = dbm_resolve(conn, env, role);

	if (res != NULL && dbm_result_status(res) == DBM_OK &&
	    (dbm_colnum(res, "key") < 0 || dbm_colnum(res, "value") < 0 ||
	    dbm_colnum(res, "source") < 0)) {
		fprintf(stderr, "dbmctl: dbmd's answer lacks a key, value or source column\n");
		dbm_result_free(res);
		return EXIT_DBM;
	}
	return show(conn, res, show_resolve);
}

/* The arguments of sql, parsed before connecting so that usage errors cost nothing. */
struct sql_args {
	const char		*env;		/* NULL: the library's default */
	const char		*role;
	struct dbm_exec_opts	 opts;
	const char		*sql;
	int			 nparams;
	const char *const	*params;
};

static void
sql_parse(struct sql_args *a, int argc, char **argv)
{
	struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;
	char			*end;
	int			 ch;

	memset(a, 0, sizeof(*a));
	a->opts = o;
	optind = 1;
	while ((ch = getopt(argc, argv, "+:c:e:N:r:")) != -1) {
		switch (ch) {
		case 'N':
			null_marker = optarg;
			break;
		case 'c':
			errno = 0;
			a->opts.cache_max_age_ms = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-')
				usage_error("sql -c: not a number of milliseconds: %s", optarg);
			break;
		case 'e':
			a->env = optarg;
			break;
		case 'r':
			a->role = optarg;
			break;
		case ':':
			usage_error("sql -%c: an argument is required", optopt);
		default:
			usage_error("sql: unknown option -%c", optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("sql: the statement is missing");
	a->sql = argv[0];
	a->nparams = argc - 1;
	a->params = (const char *const *)(argv + 1);
}

static int
cmd_sql(dbm_conn *conn, const struct sql_args *a)
{
	dbm_handle	*h;
	dbm_result	*res;
	int		 rv;

	if ((h = dbm_open(conn, a->env, a->role, NULL)) == NULL)
		return fail_conn(conn);
	res = dbm_exec_opts(h, a->sql, a->nparams, a->params, &a->opts);
	rv = show(conn, res, show_results);
	dbm_dispose(h);
	return rv;
}

/* Prometheus text exposition. */

/* A label value with \, " and newlines escaped as the exposition format wants. */
static void
prom_label(const char *name, const char *v, bool comma)
{
	printf("%s%s=\"", comma ? "," : "", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", stdout);
		else
			putchar(*v);
	}
	putchar('"');
}

/* The labels of a pool: its hash, backend, and the first environment/role using it. */
static void
prom_pool_labels(const dbm_result *pools, int row)
{
	const char *names = dbm_value(pools, row, dbm_colnum(pools, "names"));
	char env[64] = "", role[64] = "";
	size_t n = strcspn(names, "/,");

	if (names[n] == '/') {
		snprintf(env, sizeof(env), "%.*s", (int)n, names);
		snprintf(role, sizeof(role), "%.*s", (int)strcspn(names + n + 1, ","),
		    names + n + 1);
	}
	prom_label("hash", dbm_value(pools, row, dbm_colnum(pools, "hash")), false);
	prom_label("environment", env, true);
	prom_label("role", role, true);
	prom_label("backend", dbm_value(pools, row, dbm_colnum(pools, "backend")), true);
}

/* Every pool's value of one column as one metric family. */
static void
prom_pool_family(const dbm_result *pools, const char *col, const char *name,
    const char *type, const char *help, double scale)
{
	int i, c = dbm_colnum(pools, col);

	if (c < 0)
		return;
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (i = 0; i < dbm_nrows(pools); i++) {
		printf("%s{", name);
		prom_pool_labels(pools, i);
		printf("} %.17g\n", strtod(dbm_value(pools, i, c), NULL) * scale);
	}
}

/* One histogram family from the status's histograms result set. */
static void
prom_histogram(const dbm_result *pools, const dbm_result *h, const char *metric,
    const char *name, const char *help)
{
	int i, j, hc = dbm_colnum(h, "hash"), mc = dbm_colnum(h, "metric");
	const char *b;

	printf("# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < dbm_nrows(h); i++) {
		if (strcmp(dbm_value(h, i, mc), metric) != 0)
			continue;
		for (j = 0; j < dbm_nrows(pools); j++)
			if (strcmp(dbm_value(pools, j, dbm_colnum(pools, "hash")),
			    dbm_value(h, i, hc)) == 0)
				break;
		if (j == dbm_nrows(pools))
			continue;
		for (b = dbm_value(h, i, dbm_colnum(h, "buckets")); *b != '\0';) {
			char le[32];
			size_t n = strcspn(b, ":");

			if (strncmp(b, "+Inf", n) == 0)
				snprintf(le, sizeof(le), "+Inf");
			else
				snprintf(le, sizeof(le), "%g", strtod(b, NULL) / 1e6);
			b += n + (b[n] == ':');
			printf("%s_bucket{", name);
			prom_pool_labels(pools, j);
			prom_label("le", le, true);
			printf("} %llu\n", strtoull(b, NULL, 10));
			b += strcspn(b, ",");
			b += *b == ',';
		}
		printf("%s_sum{", name);
		prom_pool_labels(pools, j);
		printf("} %.6f\n", strtod(dbm_value(h, i, dbm_colnum(h, "sum_us")), NULL) / 1e6);
		printf("%s_count{", name);
		prom_pool_labels(pools, j);
		printf("} %s\n", dbm_value(h, i, dbm_colnum(h, "count")));
	}
}

/* Every counter and gauge of status, in the Prometheus text exposition format. */
static void
show_metrics(const dbm_result *res)
{
	static const struct {
		const char *col, *name, *type, *help;
		double scale;
	} fams[] = {
		{ "pool_size", "dbmd_pool_size", "gauge", "Connections a pool may hold.", 1 },
		{ "connecting", "dbmd_pool_connections_connecting", "gauge",
		  "Server connections being opened.", 1 },
		{ "idle", "dbmd_pool_connections_idle", "gauge", "Idle server connections.", 1 },
		{ "active", "dbmd_pool_connections_active", "gauge",
		  "Server connections running a request.", 1 },
		{ "pinned", "dbmd_pool_connections_pinned", "gauge",
		  "Server connections held by a handle (transaction or pinned handle).", 1 },
		{ "waiting", "dbmd_pool_waiting_requests", "gauge",
		  "Requests waiting for a connection.", 1 },
		{ "longest_wait_ms", "dbmd_pool_longest_wait_seconds", "gauge",
		  "How long the oldest waiting request has waited.", 0.001 },
		{ "handles", "dbmd_pool_handles", "gauge", "Open handles on the pool.", 1 },
		{ "statements", "dbmd_pool_statements_total", "counter", "Statements run.", 1 },
		{ "errors", "dbmd_pool_errors_total", "counter", "Statements that failed.", 1 },
		{ "connects", "dbmd_pool_connects_total", "counter",
		  "Server connections opened.", 1 },
		{ "connect_failures", "dbmd_pool_connect_failures_total", "counter",
		  "Server connections that could not be opened.", 1 },
		{ "discarded", "dbmd_pool_discarded_total", "counter",
		  "Server connections discarded as broken.", 1 },
		{ "acquire_timeouts", "dbmd_pool_acquire_timeouts_total", "counter",
		  "Requests that found no connection within acquire_timeout.", 1 },
		{ "resets", "dbmd_pool_resets_total", "counter",
		  "Server connections reset between handles.", 1 },
		{ "idle_txn_timeouts", "dbmd_pool_idle_transaction_timeouts_total", "counter",
		  "Transactions rolled back after idle_in_transaction_timeout.", 1 },
		{ "stall_timeouts", "dbmd_pool_stall_timeouts_total", "counter",
		  "Statements cancelled because their client read nothing for stall_timeout.", 1 },
		{ "pin_refusals", "dbmd_pool_pin_refusals_total", "counter",
		  "Transactions and pinned handles refused over max_pinned_per_client.", 1 },
		{ "cache_entries", "dbmd_pool_cache_entries", "gauge", "Cached results.", 1 },
		{ "cache_bytes", "dbmd_pool_cache_bytes", "gauge", "Memory of cached results.", 1 },
		{ "cache_hits", "dbmd_pool_cache_hits_total", "counter", "Cache hits.", 1 },
		{ "cache_misses", "dbmd_pool_cache_misses_total", "counter", "Cache misses.", 1 },
	};
	const dbm_result *pools = dbm_result_next(res);
	const dbm_result *hist = pools ? dbm_result_next(pools) : NULL;
	size_t i;

	printf("# HELP dbmd_up Whether dbmd answered.\n# TYPE dbmd_up gauge\ndbmd_up 1\n");
	printf("# HELP dbmd_uptime_seconds Seconds since dbmd started.\n"
	    "# TYPE dbmd_uptime_seconds counter\ndbmd_uptime_seconds %s\n",
	    dbm_value(res, 0, dbm_colnum(res, "uptime_s")));
	printf("# HELP dbmd_clients Connected clients.\n# TYPE dbmd_clients gauge\n"
	    "dbmd_clients %s\n", dbm_value(res, 0, dbm_colnum(res, "clients")));
	printf("# HELP dbmd_pools Pools.\n# TYPE dbmd_pools gauge\ndbmd_pools %s\n",
	    dbm_value(res, 0, dbm_colnum(res, "pools")));
	printf("# HELP dbmd_handles Open handles.\n# TYPE dbmd_handles gauge\n"
	    "dbmd_handles %s\n", dbm_value(res, 0, dbm_colnum(res, "handles")));
	if (pools == NULL)
		return;
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
		prom_pool_family(pools, fams[i].col, fams[i].name, fams[i].type, fams[i].help,
		    fams[i].scale);
	if (hist == NULL)
		return;
	prom_histogram(pools, hist, "acquire_wait", "dbmd_pool_acquire_wait_seconds",
	    "Time from a request's arrival to its connection.");
	prom_histogram(pools, hist, "statement", "dbmd_pool_statement_seconds",
	    "Time statements ran on their connection.");
}

/* top. */

/* The arguments of top, parsed before connecting. */
struct top_args {
	int	 delay_ms;	/* between snapshots */
	long	 iterations;	/* 0: until q or a signal */
};

/* One pool in a snapshot, with its changes since the last one. */
struct top_row {
	const char	*names;
	const char	*backend;
	const char	*hash;
	long long	 statements, errors, waiting;
	long long	 active, idle, max;
	bool		 rated;		/* there was an earlier snapshot of this pool */
	double		 stmt_rate, err_rate, wait_rate;	/* per second */
};

/*
 * The terminal while top draws on it, restored by top_restore on every way
 * out: the end of the loop, an error, exit() and the signals that end top.
 */
static struct {
	bool		 raw;		/* saved holds the settings to restore */
	bool		 screen;	/* the alternate screen is in use */
	struct termios	 saved;
	int		 sigpipe[2];	/* the handler's wake-up for poll */
} top_tty = { .sigpipe = { -1, -1 } };

static volatile sig_atomic_t	 top_signal;	/* the signal that ends top, or 0 */
static volatile sig_atomic_t	 top_resized;
static volatile sig_atomic_t	 top_stopped;	/* Ctrl-Z: give the terminal back, stop */

static void
top_restore(void)
{
	if (top_tty.screen) {
		/* Show the cursor, leave the alternate screen. */
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		top_tty.screen = false;
	}
	if (top_tty.raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &top_tty.saved);
		top_tty.raw = false;
	}
}

static void
top_on_signal(int sig)
{
	int	 save = errno;

	if (sig == SIGWINCH)
		top_resized = 1;
	else if (sig == SIGTSTP)
		top_stopped = 1;
	else
		top_signal = sig;
	if (top_tty.sigpipe[1] != -1)
		(void)write(top_tty.sigpipe[1], "", 1);
	errno = save;
}

/*
 * Readies the terminal for an interactive top: keys arrive one at a time and
 * unechoed, and output goes to the alternate screen, as top(1) does it, so the
 * shell's screen is back as it was afterwards.
 */
static void
top_enter(void)
{
	struct termios	 t;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top_tty.saved) == 0) {
		t = top_tty.saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			top_tty.raw = true;
	}
	/* The alternate screen, cleared, the cursor hidden. */
	fputs("\033[?1049h\033[?25l\033[2J", stdout);
	top_tty.screen = true;
}

static void
top_catch(int sig)
{
	struct sigaction	 sa;

	/* Restarted, so that a signal interrupts only poll, never a write to the terminal. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/*
 * The signals that end top are caught in every mode, so that the terminal is
 * restored and top exits 0; Ctrl-Z on a terminal restores it before stopping.
 */
static int
top_setup(bool interactive)
{
	int	 i;

	if (pipe(top_tty.sigpipe) == -1) {
		fprintf(stderr, "dbmctl: pipe: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < 2; i++)
		fcntl(top_tty.sigpipe[i], F_SETFL, O_NONBLOCK |
		    fcntl(top_tty.sigpipe[i], F_GETFL));
	top_catch(SIGINT);
	top_catch(SIGTERM);
	top_catch(SIGHUP);
	top_catch(SIGQUIT);
	top_catch(SIGWINCH);
	atexit(top_restore);
	if (interactive) {
		top_catch(SIGTSTP);
		top_enter();
	}
	return 0;
}

/* Ctrl-Z: the terminal as it was, stopped as the shell expects, then back to drawing. */
static void
top_suspend(void)
{
	struct sigaction	 dfl;

	top_stopped = 0;
	top_restore();
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, NULL);
	raise(SIGTSTP);
	/* Continued. */
	top_catch(SIGTSTP);
	top_enter();
}

static int
top_cmp(const void *a, const void *b)
{
	const struct top_row	*x = a, *y = b;

	if (x->stmt_rate != y->stmt_rate)
		return x->stmt_rate < y->stmt_rate ? 1 : -1;
	if (x->statements != y->statements)
		return x->statements < y->statements ? 1 : -1;
	return strcmp(x->names, y->names);
}

/*
 * The pools of a snapshot, sorted by statements per second, which are the
 * change of the cumulative counter since prev (NULL: none yet) over secs.
 */
static struct top_row *
top_rows(const dbm_result *pools, const dbm_result *prev, double secs)
{
	struct top_row	*rows, *r;
	int		 i, j, n = dbm_nrows(pools);

	rows = xmalloc(sizeof(*rows) * (size_t)(n > 0 ? n : 1));
	for (i = 0; i < n; i++) {
		r = &rows[i];
		memset(r, 0, sizeof(*r));
		r->names = col_str(pools, i, "names");
		r->backend = col_str(pools, i, "backend");
		r->hash = col_str(pools, i, "hash");
		r->statements = col_num(pools, i, "statements");
		r->errors = col_num(pools, i, "errors");
		r->waiting = col_num(pools, i, "waiting");
		r->active = col_num(pools, i, "active") + col_num(pools, i, "pinned");
		r->idle = col_num(pools, i, "idle");
		r->max = col_num(pools, i, "pool_size");
		for (j = 0; prev != NULL && secs > 0 && j < dbm_nrows(prev); j++) {
			if (strcmp(col_str(prev, j, "hash"), r->hash) != 0)
				continue;
			r->rated = true;
			r->stmt_rate = (double)(r->statements -
			    col_num(prev, j, "statements")) / secs;
			r->err_rate = (double)(r->errors - col_num(prev, j, "errors")) / secs;
			r->wait_rate = (double)(r->waiting - col_num(prev, j, "waiting")) / secs;
			break;
		}
	}
	qsort(rows, (size_t)n, sizeof(*rows), top_cmp);
	return rows;
}

/* A rate for a column: "-" before there is anything to compare with. */
static void
fmt_rate(char *buf, size_t len, bool rated, double v, bool sign)
{
	if (!rated)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, sign ? "%+.1f" : "%.1f", v);
}

#define TOP_FIXED	60	/* columns of everything but the pools' names */

/*
 * Draws one snapshot: a header about dbmd, then a line per pool, each cut to
 * width; at most height lines when height is not 0.
 */
static void
top_draw(const dbm_result *d, const dbm_result *pools, const dbm_result *prev,
    double secs, size_t width, size_t height, bool interactive)
{
	struct top_row	*rows;
	const char	*eol = interactive ? "\033[K\n" : "\n";
	char		 up[32], clock[16], conns[32], stmt[16], werr[16], wait[16];
	size_t		 namew = width > TOP_FIXED + 8 ? width - TOP_FIXED : 8, shown, left;
	time_t		 now = time(NULL);
	int		 i, n = pools != NULL ? dbm_nrows(pools) : 0;

	fmt_uptime(up, sizeof(up), col_num(d, 0, "uptime_s"));
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	if (interactive)
		fputs("\033[H", stdout);
	print_fitf(width, false, "dbmd %s  up %s  %s clients  %s handles  %s pools  %s",
	    col_str(d, 0, "version"), up, col_str(d, 0, "clients"),
	    col_str(d, 0, "handles"), col_str(d, 0, "pools"), clock);
	fputs(eol, stdout);
	fputs(eol, stdout);
	print_fitf(width, false, "%-*s %-10s %8s %11s %5s %6s %7s %6s", (int)namew, "POOL",
	    "BACKEND", "STMTS/S", "ACT/IDL/MAX", "WAIT", "WAIT/S", "ERRORS", "ERR/S");
	fputs(eol, stdout);
	rows = top_rows(pools, prev, secs);
	shown = (size_t)n;
	if (height > 0 && shown > (height > 4 ? height - 4 : 0))
		shown = height > 4 ? height - 4 : 0;
	for (i = 0; i < (int)shown; i++) {
		struct top_row	*r = &rows[i];

		snprintf(conns, sizeof(conns), "%lld/%lld/%lld", r->active, r->idle, r->max);
		fmt_rate(stmt, sizeof(stmt), r->rated, r->stmt_rate, false);
		fmt_rate(wait, sizeof(wait), r->rated, r->wait_rate, true);
		fmt_rate(werr, sizeof(werr), r->rated, r->err_rate, false);
		/* The name is cut to its column, the whole line to the terminal. */
		left = width;
		left -= print_fit(r->names, namew < width ? namew : width, true);
		print_fitf(left, false, " %-10s %8s %11s %5lld %6s %7lld %6s", r->backend,
		    stmt, conns, r->waiting, wait, r->errors, werr);
		fputs(eol, stdout);
	}
	if (shown < (size_t)n) {
		print_fitf(width, false, "(%zu more pools)", (size_t)n - shown);
		fputs(eol, stdout);
	}
	if (interactive)
		fputs("\033[J", stdout);
	free(rows);
	fflush(stdout);
}

static void
top_parse(struct top_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	double	 secs;
	int	 ch;

	a->delay_ms = 1000;
	a->iterations = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:d:n:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			errno = 0;
			secs = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(secs >= 0.1) ||
			    secs > 86400)
				usage_error("top -d: not a number of seconds from 0.1: %s", optarg);
			a->delay_ms = (int)(secs * 1000 + 0.5);
			break;
		case 'n':
			errno = 0;
			a->iterations = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || a->iterations < 1)
				usage_error("top -n: not a positive number: %s", optarg);
			break;
		case ':':
			usage_error("top %s: an argument is required", argv[optind - 1]);
		default:
			usage_error("top: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("top: unexpected argument %s", argv[optind]);
}

static double
mono_secs(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Waits until the next snapshot is due.  Returns 1 to go on, 0 when a key or
 * a signal ends top.  Other keys are ignored, but space draws at once.
 */
static int
top_wait(double until, bool interactive)
{
	struct pollfd	 pfd[2];
	char		 buf[64];
	ssize_t		 n, k;
	double		 left;

	pfd[0].fd = top_tty.sigpipe[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	while (top_signal == 0 && !top_resized && !top_stopped &&
	    (left = until - mono_secs()) > 0) {
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, interactive && top_tty.raw ? 2 : 1, (int)(left * 1000) + 1) == -1 &&
		    errno != EINTR)
			return 0;
		if (pfd[0].revents & POLLIN)
			while (read(top_tty.sigpipe[0], buf, sizeof(buf)) > 0)
				;
		if (interactive && top_tty.raw && (pfd[1].revents & (POLLIN | POLLHUP))) {
			if ((n = read(STDIN_FILENO, buf, sizeof(buf))) <= 0)
				return 0;	/* the terminal went away */
			for (k = 0; k < n; k++)
				if (buf[k] == 'q' || buf[k] == 'Q')
					return 0;
				else if (buf[k] == ' ')
					return 1;
		}
	}
	return top_signal == 0;
}

/*
 * A live view of the pools, a snapshot of STATUS each delay.  On a terminal
 * it redraws in place until q, Ctrl-C or SIGTERM; otherwise, or with -n, it
 * prints plain snapshots one after another, so it can be logged or tested.
 */
static int
cmd_top(dbm_conn *conn, const struct top_args *a)
{
	struct winsize	 ws;
	dbm_result	*res, *prev = NULL;
	double		 t, prev_t = 0;
	size_t		 width, height;
	long		 done = 0;
	bool		 interactive = isatty(STDOUT_FILENO) && a->iterations == 0;
	int		 rv = 0;

	if (top_setup(interactive) == -1)
		return EXIT_DBM;
	for (;;) {
		if (top_stopped)
			top_suspend();
		res = dbm_status(conn);
		t = mono_secs();
		if (res == NULL || dbm_result_status(res) != DBM_OK) {
			top_restore();
			rv = res == NULL ? fail_conn(conn) : fail_result(res);
			dbm_result_free(res);
			break;
		}
		width = 80;
		height = 0;
		if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
		    ws.ws_col > 0) {
			width = ws.ws_col;
			height = interactive ? ws.ws_row : 0;
		}
		if (top_resized) {
			top_resized = 0;
			if (interactive)
				fputs("\033[2J", stdout);
		}
		if (!interactive && done > 0)
			putchar('\n');
		top_draw(res, dbm_result_next(res), prev != NULL ? dbm_result_next(prev) : NULL,
		    t - prev_t, width, height, interactive);
		dbm_result_free(prev);
		prev = res;
		prev_t = t;
		done++;
		if (ferror(stdout) || (a->iterations > 0 && done >= a->iterations))
			break;
		if (!top_wait(t + a->delay_ms / 1000.0, interactive))
			break;
	}
	dbm_result_free(prev);
	top_restore();
	return rv;
}

struct command {
	const char	*name;
	int		 minargs;
	int		 maxargs;	/* -1: any number (sql parses its own) */
};

static const struct command commands[] = {
	{ "ping", 0, 0 },
	{ "status", 0, -1 },
	{ "metrics", 0, 0 },
	{ "clients", 0, 0 },
	{ "sql", 1, -1 },
	{ "resolve", 2, 2 },
	{ "reload", 0, 0 },
	{ "dispose", 1, 1 },
	{ "cache", 2, 2 },
	{ "top", 0, -1 },
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	*cmd = NULL;
	struct sql_args		 sql;
	struct top_args		 top = { 1000, 0 };
	const char		*sock = NULL;
	dbm_conn		*conn;
	size_t			 i;
	int			 ch, rv, nargs;

	setlocale(LC_CTYPE, "");
	opterr = 0;	/* getopt would name argv[0]; the messages here say "dbmctl" */
	while ((ch = getopt_long(argc, argv, "+:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dbmctl %d.%d.%d\n", DBM_VERSION_MAJOR, DBM_VERSION_MINOR,
			    DBM_VERSION_PATCH);
			return 0;
		case ':':
			usage_error("%s: an argument is required", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("no command given");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		usage_error("unknown command: %s", argv[0]);
	nargs = argc - 1;
	if (nargs < cmd->minargs || (cmd->maxargs >= 0 && nargs > cmd->maxargs))
		usage_error("%s: wrong number of arguments", cmd->name);
	if (strcmp(cmd->name, "sql") == 0)
		sql_parse(&sql, argc, argv);
	if (strcmp(cmd->name, "status") == 0)
		status_parse(argc, argv);
	if (strcmp(cmd->name, "top") == 0)
		top_parse(&top, argc, argv);
	if (strcmp(cmd->name, "cache") == 0 && strcmp(argv[1], "flush") != 0)
		usage_error("cache: the only subcommand is flush");

	conn = dbm_connect(sock);
	if (!dbm_connected(conn)) {
		rv = fail_conn(conn);
		dbm_disconnect(conn);
		return rv;
	}
	if (strcmp(cmd->name, "ping") == 0)
		rv = cmd_ping(conn);
	else if (strcmp(cmd->name, "status") == 0)
		rv = show(conn, dbm_status(conn), show_status);
	else if (strcmp(cmd->name, "metrics") == 0)
		rv = show(conn, dbm_status(conn), show_metrics);
	else if (strcmp(cmd->name, "clients") == 0)
		rv = show(conn, dbm_clients(conn), show_clients);
	else if (strcmp(cmd->name, "sql") == 0)
		rv = cmd_sql(conn, &sql);
	else if (strcmp(cmd->name, "top") == 0)
		rv = cmd_top(conn, &top);
	else if (strcmp(cmd->name, "resolve") == 0)
		rv = cmd_resolve(conn, argv[1], argv[2]);
	else if (strcmp(cmd->name, "reload") == 0)
		rv = show(conn, dbm_reload(conn), show_reload);
	else if (strcmp(cmd->name, "dispose") == 0)
		rv = show(conn, dbm_dispose_pool(conn, argv[1]), show_results);
	else
		rv = show(conn, dbm_cache_flush(conn, argv[2]), show_results);
	dbm_disconnect(conn);

	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "dbmctl: standard output: %s\n", strerror(errno));
		return EXIT_DBM;
	}
	return rv;
}
