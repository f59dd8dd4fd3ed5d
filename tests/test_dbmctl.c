/* test_dbmctl.c: dbmctl against a real dbmd: its commands, their output, JSON and exit statuses. */

/*
 * dbmctl(1) documents what each command prints.  The table output is
 * checked for what a person reads in it; the --json output is parsed by the
 * small JSON reader below (strict RFC 8259, UTF-8 checked), and its members
 * are checked by name, so that spacing and member order stay dbmctl's own.
 */

#include <criterion/criterion.h>

#include <poll.h>
#include <termios.h>

#include "harness.h"

TestSuite(dbmctl, .init = t_setup, .fini = t_teardown, .timeout = 120);

/*
 * A JSON reader: a tree of values, enough to check dbmctl's documents.
 */

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type	  type;
	int		  boolean;
	double		  number;
	char		 *str;		/* STRING: decoded UTF-8 */
	struct json	**items;	/* ARRAY, OBJECT: the values */
	char		**keys;		/* OBJECT: the member names */
	size_t		  n;
};

struct json_reader {
	const char	*start;
	const char	*p;
	const char	*end;
	int		 depth;
	char		 err[160];
};

#define JSON_DEPTH_MAX	64

static struct json *json_value(struct json_reader *);

static void
json_free(struct json *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		json_free(v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static void *
json_fail(struct json_reader *r, const char *what)
{
	if (r->err[0] == '\0')
		snprintf(r->err, sizeof(r->err), "%s at offset %td", what, r->p - r->start);
	return NULL;
}

static void
json_ws(struct json_reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' ||
	    *r->p == '\r'))
		r->p++;
}

static struct json *
json_new(enum json_type type)
{
	struct json	*v = calloc(1, sizeof(*v));

	cr_assert_not_null(v);
	v->type = type;
	return v;
}

/* Appends c as UTF-8. */
static void
json_put_utf8(char *buf, size_t *len, unsigned long c)
{
	if (c < 0x80)
		buf[(*len)++] = (char)c;
	else if (c < 0x800) {
		buf[(*len)++] = (char)(0xc0 | c >> 6);
		buf[(*len)++] = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		buf[(*len)++] = (char)(0xe0 | c >> 12);
		buf[(*len)++] = (char)(0x80 | (c >> 6 & 0x3f));
		buf[(*len)++] = (char)(0x80 | (c & 0x3f));
	} else {
		buf[(*len)++] = (char)(0xf0 | c >> 18);
		buf[(*len)++] = (char)(0x80 | (c >> 12 & 0x3f));
		buf[(*len)++] = (char)(0x80 | (c >> 6 & 0x3f));
		buf[(*len)++] = (char)(0x80 | (c & 0x3f));
	}
}

/* The length of the valid UTF-8 sequence at p (shortest form, no surrogates), or 0. */
static size_t
json_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t		 n, i;
	unsigned long	 c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

static int
json_hex4(struct json_reader *r, unsigned long *c)
{
	int	 i;

	*c = 0;
	if (r->end - r->p < 4)
		return -1;
	for (i = 0; i < 4; i++, r->p++) {
		*c <<= 4;
		if (*r->p >= '0' && *r->p <= '9')
			*c |= (unsigned long)(*r->p - '0');
		else if (*r->p >= 'a' && *r->p <= 'f')
			*c |= (unsigned long)(*r->p - 'a' + 10);
		else if (*r->p >= 'A' && *r->p <= 'F')
			*c |= (unsigned long)(*r->p - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* A string, r->p at its opening quote; the decoded text, which the caller frees. */
static char *
json_string(struct json_reader *r)
{
	char		*buf;
	size_t		 len = 0, n;
	unsigned long	 c, lo;

	r->p++;
	buf = malloc((size_t)(r->end - r->p) + 1);
	cr_assert_not_null(buf);
	for (;;) {
		if (r->p >= r->end)
			goto bad;
		if (*r->p == '"') {
			r->p++;
			buf[len] = '\0';
			return buf;
		}
		if ((unsigned char)*r->p < 0x20) {
			json_fail(r, "unescaped control character in a string");
			goto bad;
		}
		if (*r->p != '\\') {
			if ((n = json_utf8_len((const unsigned char *)r->p,
			    (const unsigned char *)r->end)) == 0) {
				json_fail(r, "invalid UTF-8 in a string");
				goto bad;
			}
			memcpy(buf + len, r->p, n);
			len += n;
			r->p += n;
			continue;
		}
		if (++r->p >= r->end)
			goto bad;
		switch (*r->p++) {
		case '"':	buf[len++] = '"'; break;
		case '\\':	buf[len++] = '\\'; break;
		case '/':	buf[len++] = '/'; break;
		case 'b':	buf[len++] = '\b'; break;
		case 'f':	buf[len++] = '\f'; break;
		case 'n':	buf[len++] = '\n'; break;
		case 'r':	buf[len++] = '\r'; break;
		case 't':	buf[len++] = '\t'; break;
		case 'u':
			if (json_hex4(r, &c) == -1) {
				json_fail(r, "bad \\u escape");
				goto bad;
			}
			if (c >= 0xd800 && c <= 0xdbff) {
				if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u') {
					json_fail(r, "lone high surrogate");
					goto bad;
				}
				r->p += 2;
				if (json_hex4(r, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff) {
					json_fail(r, "bad low surrogate");
					goto bad;
				}
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			} else if (c >= 0xdc00 && c <= 0xdfff) {
				json_fail(r, "lone low surrogate");
				goto bad;
			}
			/* \u escapes never take more bytes than they are written in. */
			json_put_utf8(buf, &len, c);
			break;
		default:
			json_fail(r, "unknown escape");
			goto bad;
		}
	}
bad:
	json_fail(r, "unterminated string");
	free(buf);
	return NULL;
}

static struct json *
json_number(struct json_reader *r)
{
	const char	*start = r->p;
	struct json	*v;
	char		*text;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (r->p < r->end && *r->p >= '1' && *r->p <= '9')
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	else
		return json_fail(r, "bad number");
	if (r->p < r->end && *r->p == '.') {
		if (++r->p >= r->end || *r->p < '0' || *r->p > '9')
			return json_fail(r, "bad fraction");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return json_fail(r, "bad exponent");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	v = json_new(JSON_NUMBER);
	text = strndup(start, (size_t)(r->p - start));
	cr_assert_not_null(text);
	v->number = strtod(text, NULL);
	free(text);
	return v;
}

static void
json_push(struct json *v, char *key, struct json *item)
{
	v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
	cr_assert_not_null(v->items);
	if (v->type == JSON_OBJECT) {
		v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
		cr_assert_not_null(v->keys);
		v->keys[v->n] = key;
	}
	v->items[v->n++] = item;
}

/* An array or object, r->p at its opening bracket. */
static struct json *
json_container(struct json_reader *r, enum json_type type)
{
	struct json	*v = json_new(type), *item;
	char		 close = type == JSON_ARRAY ? ']' : '}', *key = NULL;

	if (++r->depth > JSON_DEPTH_MAX) {
		json_free(v);
		return json_fail(r, "nested too deep");
	}
	r->p++;
	json_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		r->depth--;
		return v;
	}
	for (;;) {
		if (type == JSON_OBJECT) {
			json_ws(r);
			if (r->p >= r->end || *r->p != '"' || (key = json_string(r)) == NULL)
				goto bad;
			json_ws(r);
			if (r->p >= r->end || *r->p++ != ':')
				goto bad;
		}
		if ((item = json_value(r)) == NULL)
			goto bad;
		json_push(v, key, item);
		key = NULL;
		json_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			r->depth--;
			return v;
		}
		goto bad;
	}
bad:
	free(key);
	json_free(v);
	return json_fail(r, type == JSON_ARRAY ? "bad array" : "bad object");
}

static struct json *
json_literal(struct json_reader *r, const char *word, enum json_type type, int b)
{
	struct json	*v;
	size_t		 n = strlen(word);

	if ((size_t)(r->end - r->p) < n || strncmp(r->p, word, n) != 0)
		return json_fail(r, "unexpected character");
	r->p += n;
	v = json_new(type);
	v->boolean = b;
	return v;
}

static struct json *
json_value(struct json_reader *r)
{
	struct json	*v;
	char		*s;

	json_ws(r);
	if (r->p >= r->end)
		return json_fail(r, "unexpected end");
	switch (*r->p) {
	case '{':
		return json_container(r, JSON_OBJECT);
	case '[':
		return json_container(r, JSON_ARRAY);
	case '"':
		if ((s = json_string(r)) == NULL)
			return NULL;
		v = json_new(JSON_STRING);
		v->str = s;
		return v;
	case 't':
		return json_literal(r, "true", JSON_BOOL, 1);
	case 'f':
		return json_literal(r, "false", JSON_BOOL, 0);
	case 'n':
		return json_literal(r, "null", JSON_NULL, 0);
	default:
		return json_number(r);
	}
}

/* Parses one whole document; NULL with the reason in err. */
static struct json *
json_parse(const char *text, char *err, size_t errlen)
{
	struct json_reader	 r = { .start = text, .p = text, .end = text + strlen(text) };
	struct json		*v = json_value(&r);

	if (v != NULL) {
		json_ws(&r);
		if (r.p != r.end) {
			json_free(v);
			v = json_fail(&r, "text after the document");
		}
	}
	snprintf(err, errlen, "%s", r.err);
	return v;
}

/* Parses dbmctl's output, which must be one valid document. */
static struct json *
json_must(const char *text)
{
	char		 err[160];
	struct json	*v = json_parse(text, err, sizeof(err));

	cr_assert_not_null(v, "not valid JSON (%s):\n%s", err, text);
	return v;
}

/* The member key of an object, or NULL. */
static struct json *
json_get(const struct json *v, const char *key)
{
	size_t	 i;

	if (v == NULL || v->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->items[i];
	return NULL;
}

static struct json *
json_at(const struct json *v, size_t i)
{
	return v != NULL && v->type == JSON_ARRAY && i < v->n ? v->items[i] : NULL;
}

/* The string a value must be. */
static const char *
json_text(const struct json *v, const char *what)
{
	cr_assert_not_null(v, "%s is missing", what);
	cr_assert_eq(v->type, JSON_STRING, "%s is not a string", what);
	return v->str;
}

/* The reader's own tests: what it must accept and refuse. */

Test(dbmctl, json_reader_accepts_json_and_refuses_the_rest)
{
	static const char *const good[] = {
		"{}", "[]", "null", " true ", "-0.5e+3", "\"\\u00e9\\ud83d\\ude00\"",
		"{\"a\": [1, {\"b\": null}], \"c\": \"d\"}\n", "\"h\xc3\xa9\"",
	};
	static const char *const bad[] = {
		"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"a\nb\"",
		"\"\xff\"", "\"\\udc00\"", "nul", "[] []", "{a: 1}", "'a'",
	};
	struct json	*v;
	char		 err[160];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = json_parse(good[i], err, sizeof(err));
		cr_expect_not_null(v, "refused %s: %s", good[i], err);
		json_free(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_parse(bad[i], err, sizeof(err));
		cr_expect_null(v, "accepted %s", bad[i]);
		json_free(v);
	}
	v = json_parse("\"\\u00e9\\ud83d\\ude00\"", err, sizeof(err));
	cr_assert_str_eq(v->str, "\xc3\xa9\xf0\x9f\x98\x80");
	json_free(v);
}

/*
 * dbmctl.
 */

/* Runs dbmctl -s SOCKET args... with a plain environment (plus extra, may be NULL). */
static struct t_run
ctl_env(const struct t_dbmd *d, const char *extra, const char *const *args)
{
	const char	*bdir = getenv("TEST_BUILDDIR");
	char		*bin, *argv[24], *envp[3] = { T_PATH, (char *)extra, NULL };
	struct t_run	 r;
	int		 n = 0, i;

	cr_assert_not_null(bdir, "TEST_BUILDDIR names the build directory (make check sets it)");
	bin = t_strf("%s/dbmctl", bdir);
	cr_assert_eq(access(bin, X_OK), 0, "%s: %s", bin, strerror(errno));
	argv[n++] = bin;
	if (d != NULL) {
		argv[n++] = "-s";
		argv[n++] = (char *)d->sock;
	}
	for (i = 0; args[i] != NULL; i++) {
		cr_assert(n < 22, "too many arguments");
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	r = t_run(argv, envp, 30000);
	free(bin);
	return r;
}

static struct t_run
ctl(const struct t_dbmd *d, const char *const *args)
{
	return ctl_env(d, NULL, args);
}

/* Runs dbmctl, which must succeed, and returns its standard output. */
static char *
ctl_ok(const struct t_dbmd *d, const char *const *args)
{
	struct t_run	 r = ctl(d, args);
	char		*out;

	cr_assert_eq(r.status, 0, "dbmctl %s exited %d\nstdout:\n%s\nstderr:\n%s", args[0],
	    r.status, r.out, r.err);
	out = r.out;
	r.out = NULL;
	t_run_free(&r);
	return out;
}

static void
assert_has(const char *hay, const char *needle)
{
	cr_assert_not_null(strstr(hay, needle), "\"%s\" not in:\n%s", needle, hay);
}

/* The line of text that starts with prefix, copied, or the test fails. */
static char *
line_starting(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0)
			return strndup(p, strcspn(p, "\n"));
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	cr_assert_fail("no line starting with \"%s\" in:\n%s", prefix, text);
	return NULL;
}

Test(dbmctl, ping_answers_pong_and_exits_0)
{
	struct t_dbmd	 d;
	struct json	*j;
	char		*out;

	t_dbmd_start(&d, NULL);
	out = ctl_ok(&d, (const char *[]){ "ping", NULL });
	assert_has(out, "PONG from dbmd");
	free(out);
	out = ctl_ok(&d, (const char *[]){ "--json", "ping", NULL });
	j = json_must(out);
	cr_assert_not_null(json_get(j, "ok"));
	cr_assert_eq(json_get(j, "ok")->type, JSON_BOOL);
	cr_assert_eq(json_get(j, "ok")->boolean, 1);
	json_free(j);
	free(out);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, socket_comes_from_DBMD_SOCKET)
{
	struct t_dbmd	 d;
	struct t_run	 r;
	char		*env;

	t_dbmd_start(&d, NULL);
	env = t_strf("DBMD_SOCKET=%s", d.sock);
	r = ctl_env(NULL, env, (const char *[]){ "ping", NULL });
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	assert_has(r.out, "PONG");
	t_run_free(&r);
	free(env);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, unreachable_dbmd_exits_1_with_a_message)
{
	struct t_dbmd	 d;
	struct t_run	 r;

	/* Never started: nothing listens on the socket. */
	t_dbmd_init(&d);
	r = ctl(&d, (const char *[]){ "ping", NULL });
	cr_assert_eq(r.status, 1, "exit %d\nstderr:\n%s", r.status, r.err);
	cr_assert_eq(strncmp(r.err, "dbmctl: ", 8), 0, "stderr:\n%s", r.err);
	assert_has(r.err, d.sock);
	t_run_free(&r);
	r = ctl(&d, (const char *[]){ "--json", "status", NULL });
	cr_assert_eq(r.status, 1);
	cr_assert_str_empty(r.out, "--json printed on failure:\n%s", r.out);
	t_run_free(&r);
}

Test(dbmctl, command_line_mistakes_exit_2)
{
	static const char *const cases[][4] = {
		{ NULL },
		{ "nosuchcommand", NULL },
		{ "resolve", "development", NULL },
		{ "sql", NULL },
		{ "ping", "extra", NULL },
		{ "--nosuchoption", "ping", NULL },
	};
	struct t_dbmd	 d;
	struct t_run	 r;
	size_t		 i;

	t_dbmd_start(&d, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = ctl(&d, cases[i]);
		cr_expect_eq(r.status, 2, "dbmctl %s %s: exit %d\nstderr:\n%s",
		    cases[i][0] ? cases[i][0] : "", cases[i][0] && cases[i][1] ? cases[i][1] : "",
		    r.status, r.err);
		cr_expect_str_neq(r.err, "", "case %zu: nothing on stderr", i);
		t_run_free(&r);
	}
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, sql_prints_a_table_and_command_tags)
{
	struct t_dbmd	 d;
	char		*out, *line;

	t_dbmd_start(&d, NULL);
	out = ctl_ok(&d, (const char *[]){ "sql", "CREATE TABLE fruit (name TEXT, qty INTEGER)",
	    NULL });
	assert_has(out, "CREATE TABLE");
	free(out);
	out = ctl_ok(&d, (const char *[]){ "sql", "INSERT INTO fruit VALUES ($1, $2)", "apple",
	    "3", NULL });
	assert_has(out, "INSERT 0 1");
	free(out);
	out = ctl_ok(&d, (const char *[]){ "sql", "INSERT INTO fruit VALUES ($1, NULL)",
	    "pear", NULL });
	free(out);

	out = ctl_ok(&d, (const char *[]){ "sql", "SELECT name, qty FROM fruit ORDER BY name",
	    NULL });
	line = line_starting(out, " name");
	assert_has(line, "qty");
	free(line);
	line = line_starting(out, "---");
	assert_has(line, "+");
	free(line);
	line = line_starting(out, " apple");
	assert_has(line, "3");
	free(line);
	/* NULL is shown as the marker \N, not as a word that could be text. */
	line = line_starting(out, " pear");
	assert_has(line, "\\N");
	cr_assert_null(strstr(line, "NULL"), "NULL shown as text: %s", line);
	cr_assert_null(strstr(line, "null"), "NULL shown as text: %s", line);
	free(line);
	assert_has(out, "(2 rows)");
	free(out);

	/* -e and -r pick the handle. */
	out = ctl_ok(&d, (const char *[]){ "sql", "-e", "test", "-r", "primary",
	    "SELECT $1 || $2 AS joined", "con", "cat", NULL });
	assert_has(out, "joined");
	assert_has(out, "concat");
	assert_has(out, "(1 row)");
	free(out);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, sql_json_is_valid_and_exact)
{
	struct t_dbmd	 d;
	struct json	*j, *cols, *rows;
	char		*out;

	t_dbmd_start(&d, NULL);
	out = ctl_ok(&d, (const char *[]){ "--json", "sql",
	    "SELECT $1 AS a, NULL AS b, $2 AS c UNION ALL SELECT 'x', 'y', ''", "h\xc3\xa9llo \"q\"",
	    "tab\there\nnewline", NULL });
	j = json_must(out);
	cols = json_get(j, "columns");
	cr_assert_not_null(cols, "no columns in %s", out);
	cr_assert_eq(cols->type, JSON_ARRAY);
	cr_assert_eq(cols->n, 3);
	cr_assert_str_eq(json_text(json_at(cols, 0), "columns[0]"), "a");
	cr_assert_str_eq(json_text(json_at(cols, 2), "columns[2]"), "c");
	rows = json_get(j, "rows");
	cr_assert_not_null(rows, "no rows in %s", out);
	cr_assert_eq(rows->type, JSON_ARRAY);
	cr_assert_eq(rows->n, 2);
	cr_assert_str_eq(json_text(json_at(json_at(rows, 0), 0), "rows[0][0]"),
	    "h\xc3\xa9llo \"q\"");
	cr_assert_eq(json_at(json_at(rows, 0), 1)->type, JSON_NULL, "SQL NULL is not null");
	cr_assert_str_eq(json_text(json_at(json_at(rows, 0), 2), "rows[0][2]"),
	    "tab\there\nnewline");
	cr_assert_str_eq(json_text(json_at(json_at(rows, 1), 2), "rows[1][2]"), "");
	cr_assert_str_eq(json_text(json_get(j, "command_tag"), "command_tag"), "SELECT 2");
	cr_assert_not_null(json_get(j, "rows_affected"));
	cr_assert_eq(json_get(j, "rows_affected")->type, JSON_NUMBER);
	cr_assert_eq(json_get(j, "rows_affected")->number, 2);
	cr_assert_str_eq(json_text(json_get(j, "cache"), "cache"), "bypass");
	cr_assert_null(json_get(j, "more_results"));
	json_free(j);
	free(out);

	/* A statement without rows: empty columns and rows. */
	out = ctl_ok(&d, (const char *[]){ "--json", "sql", "CREATE TABLE t (v TEXT)", NULL });
	j = json_must(out);
	cr_assert_eq(json_get(j, "columns")->n, 0);
	cr_assert_eq(json_get(j, "rows")->n, 0);
	json_free(j);
	free(out);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, sql_error_exits_1_with_the_sqlstate)
{
	struct t_dbmd	 d;
	struct t_run	 r;

	t_dbmd_start(&d, NULL);
	r = ctl(&d, (const char *[]){ "sql", "SELEC 1", NULL });
	cr_assert_eq(r.status, 1, "exit %d\nstderr:\n%s", r.status, r.err);
	cr_assert_eq(strncmp(r.err, "dbmctl: ", 8), 0, "stderr:\n%s", r.err);
	assert_has(r.err, "42601");
	cr_assert_str_empty(r.out);
	t_run_free(&r);
	r = ctl(&d, (const char *[]){ "--json", "sql", "SELECT * FROM nosuchtable", NULL });
	cr_assert_eq(r.status, 1);
	assert_has(r.err, "42P01");
	cr_assert_str_empty(r.out, "--json printed on failure:\n%s", r.out);
	t_run_free(&r);
	r = ctl(&d, (const char *[]){ "sql", "-e", "nosuchenv", "SELECT 1", NULL });
	cr_assert_eq(r.status, 1);
	assert_has(r.err, "nosuchenv");
	t_run_free(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, status_shows_the_daemon_and_its_pools)
{
	struct t_dbmd	 d;
	struct json	*j, *pools, *daemon;
	dbm_conn	*c;
	dbm_handle	*h;
	char		 hash[17], *out, *line;
	size_t		 i;
	int		 found = 0;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	t_exec0(h, "SELECT 1", 0, NULL);
	snprintf(hash, sizeof(hash), "%016llx", dbm_handle_pool_hash(h));

	out = ctl_ok(&d, (const char *[]){ "status", NULL });
	line = line_starting(out, "dbmd ");
	assert_has(line, ", pid ");
	free(line);
	line = line_starting(out, "       socket: ");
	assert_has(line, d.sock);
	free(line);
	line = line_starting(out, "development/primary");
	assert_has(line, hash);
	free(line);
	free(out);

	/* -v: every column as name: value. */
	out = ctl_ok(&d, (const char *[]){ "status", "-v", NULL });
	line = line_starting(out, "socket:");
	assert_has(line, d.sock);
	free(line);
	line = line_starting(out, "version:");
	free(line);
	line = line_starting(out, "hash:");
	free(line);
	assert_has(out, hash);
	assert_has(out, "development/primary");
	free(out);

	out = ctl_ok(&d, (const char *[]){ "--json", "status", NULL });
	j = json_must(out);
	daemon = json_get(j, "daemon");
	cr_assert_not_null(daemon, "no daemon in %s", out);
	cr_assert_eq(daemon->type, JSON_OBJECT);
	cr_assert_str_eq(json_text(json_get(daemon, "socket"), "daemon.socket"), d.sock);
	cr_assert_str_neq(json_text(json_get(daemon, "version"), "daemon.version"), "");
	/* Two clients: the test and dbmctl itself. */
	cr_assert_str_eq(json_text(json_get(daemon, "clients"), "daemon.clients"), "2");
	pools = json_get(j, "pools");
	cr_assert_not_null(pools, "no pools in %s", out);
	cr_assert_eq(pools->type, JSON_ARRAY);
	for (i = 0; i < pools->n; i++) {
		if (strcmp(json_text(json_get(json_at(pools, i), "hash"), "hash"), hash) != 0)
			continue;
		found = 1;
		cr_assert_str_eq(json_text(json_get(json_at(pools, i), "names"), "names"),
		    "development/primary");
		cr_assert_str_eq(json_text(json_get(json_at(pools, i), "handles"), "handles"),
		    "1");
	}
	cr_assert(found, "pool %s not in %s", hash, out);
	json_free(j);
	free(out);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, clients_lists_who_is_connected)
{
	struct t_dbmd	 d;
	struct json	*j, *list, *me = NULL;
	dbm_conn	*c;
	char		 pid[16], *out;
	size_t		 i;

	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	dbm_dispose(t_open(c, "development", "primary"));
	t_open(c, "test", "primary");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());

	out = ctl_ok(&d, (const char *[]){ "clients", NULL });
	assert_has(out, pid);
	assert_has(out, "dbmctl");
	assert_has(out, "(2 rows)");
	free(out);

	out = ctl_ok(&d, (const char *[]){ "--json", "clients", NULL });
	j = json_must(out);
	list = json_get(j, "clients");
	cr_assert_not_null(list, "no clients in %s", out);
	cr_assert_eq(list->type, JSON_ARRAY);
	cr_assert_eq(list->n, 2, "%s", out);
	for (i = 0; i < list->n; i++)
		if (strcmp(json_text(json_get(json_at(list, i), "pid"), "pid"), pid) == 0)
			me = json_at(list, i);
	cr_assert_not_null(me, "this test (pid %s) is not listed: %s", pid, out);
	cr_assert_str_eq(json_text(json_get(me, "handles"), "handles"), "1");
	/* The library calls a client by its program's name. */
	cr_assert_str_eq(json_text(json_get(me, "name"), "name"), program_invocation_short_name);
	json_free(j);
	free(out);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, resolve_shows_every_key_with_its_source)
{
	struct t_dbmd	 d;
	struct json	*j, *keys, *k;
	dbm_conn	*c;
	dbm_handle	*h;
	char		 hash[17], *out, *line;
	size_t		 i;
	int		 seen = 0;

	t_dbmd_start(&d, (const char *[]){ "development.primary.pool_size=4", NULL });
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	snprintf(hash, sizeof(hash), "%016llx", dbm_handle_pool_hash(h));
	dbm_disconnect(c);

	out = ctl_ok(&d, (const char *[]){ "resolve", "development", "primary", NULL });
	line = line_starting(out, " pool_size");
	assert_has(line, "4");
	assert_has(line, "--set");
	free(line);
	line = line_starting(out, " hash");
	assert_has(line, hash);
	free(line);
	line = line_starting(out, " uri");
	assert_has(line, t_h.state);
	assert_has(line, "default");
	free(line);
	free(out);

	out = ctl_ok(&d, (const char *[]){ "--json", "resolve", "development", "primary",
	    NULL });
	j = json_must(out);
	cr_assert_str_eq(json_text(json_get(j, "environment"), "environment"), "development");
	cr_assert_str_eq(json_text(json_get(j, "role"), "role"), "primary");
	cr_assert_str_eq(json_text(json_get(j, "backend"), "backend"), "sqlite");
	cr_assert_str_eq(json_text(json_get(j, "hash"), "hash"), hash);
	keys = json_get(j, "keys");
	cr_assert_not_null(keys, "no keys in %s", out);
	cr_assert_eq(keys->type, JSON_ARRAY);
	for (i = 0; i < keys->n; i++) {
		k = json_at(keys, i);
		if (strcmp(json_text(json_get(k, "key"), "key"), "pool_size") != 0)
			continue;
		seen = 1;
		cr_assert_str_eq(json_text(json_get(k, "value"), "value"), "4");
		cr_assert_not_null(strstr(json_text(json_get(k, "source"), "source"), "--set"),
		    "source of pool_size: %s", json_get(k, "source")->str);
	}
	cr_assert(seen, "pool_size not in %s", out);
	json_free(j);
	free(out);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, resolve_of_unknown_names_exits_1)
{
	struct t_dbmd	 d;
	struct t_run	 r;

	t_dbmd_start(&d, NULL);
	r = ctl(&d, (const char *[]){ "resolve", "nosuchenv", "primary", NULL });
	cr_assert_eq(r.status, 1, "exit %d\nstderr:\n%s", r.status, r.err);
	assert_has(r.err, "nosuchenv");
	cr_assert_str_empty(r.out);
	t_run_free(&r);
	r = ctl(&d, (const char *[]){ "--json", "resolve", "development", "nosuchrole", NULL });
	cr_assert_eq(r.status, 1, "exit %d\nstderr:\n%s", r.status, r.err);
	assert_has(r.err, "nosuchrole");
	cr_assert_str_empty(r.out);
	t_run_free(&r);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * A dbmctl run that did its work leaves the log saying the client closed the
 * connection, never an error: errors in the log must mean errors.
 */
Test(dbmctl, a_plain_run_is_logged_as_a_close_not_an_error)
{
	struct t_dbmd	 d;
	char		*out, *log;
	int		 i;

	t_dbmd_start(&d, NULL);
	for (i = 0; i < 10; i++) {
		out = ctl_ok(&d, (const char *[]){ "sql", "SELECT 1", NULL });
		free(out);
		out = ctl_ok(&d, (const char *[]){ "status", NULL });
		free(out);
	}
	cr_assert(t_dbmd_logged(&d, "dbmctl", "closed: client closed the connection", NULL),
	    "no close was logged");
	cr_assert_eq(t_dbmd_stop(&d), 0);
	log = t_dbmd_log(&d);
	cr_assert_null(strstr(log, "error"), "an error in the log of plain runs:\n%s", log);
	cr_assert_null(strstr(log, "reset by peer"), "a reset in the log:\n%s", log);
	free(log);
}

/*
 * The readable views: status at 80 columns, status -v, sql's NULL and bytes,
 * top.
 */

/* Names long enough that status must cut them. */
#define LONG_ENV	"warehouseanalyticsreporting2026"
#define LONG_ROLE	"nightly_aggregation_batch_loader"
#define LONG_FILE	"a_database_file_whose_name_pushes_the_target_far_past_eighty_columns.db"

/*
 * Starts a dbmd with three pools, two SQLite environments and a second
 * role: development/primary, test/primary and LONG_ENV/LONG_ROLE, whose
 * names and target are longer than a line; runs statements on each, one of
 * them failing, so that every pool has counters and one a last error.
 */
static void
three_pools_start(struct t_dbmd *d, dbm_conn **c)
{
	static const char *const names[3][2] = {
		{ "development", "primary" }, { "test", "primary" }, { LONG_ENV, LONG_ROLE }
	};
	dbm_handle	*h;
	FILE		*fp;
	int		 i, j;

	cr_assert_not_null(fp = fopen(t_h.conf, "w"));
	fprintf(fp, "environments:\n  %s:\n    uri: sqlite:%s/%s\n    roles:\n      %s:\n"
	    "        pool_size: 3\n", LONG_ENV, t_h.dir, LONG_FILE, LONG_ROLE);
	cr_assert_eq(fclose(fp), 0);
	t_dbmd_start(d, NULL);
	*c = t_connect(d);
	for (i = 0; i < 3; i++) {
		h = t_open(*c, names[i][0], names[i][1]);
		for (j = 0; j <= i; j++)
			t_exec0(h, "SELECT 1", 0, NULL);
		if (i == 2)
			dbm_result_free(t_exec_fails(h, "SELEC 1", 0, NULL, DBM_E_SQL));
		dbm_dispose(h);
	}
}

/* The widest line of text in terminal columns, counting UTF-8 characters as one each. */
static size_t
widest_line(const char *text, const char **which)
{
	const unsigned char	*p = (const unsigned char *)text, *start = p;
	size_t			 w = 0, max = 0;

	for (;; p++) {
		if (*p == '\n' || *p == '\0') {
			if (w > max) {
				max = w;
				*which = (const char *)start;
			}
			if (*p == '\0')
				return max;
			w = 0;
			start = p + 1;
		} else if ((*p & 0xC0) != 0x80)
			w++;
	}
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t	 n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay += strlen(needle))
		n++;
	return n;
}

Test(dbmctl, status_fits_80_columns_with_three_pools)
{
	static const char *const locales[] = { NULL, "LC_ALL=C.UTF-8" };
	struct t_dbmd	 d;
	struct t_run	 r;
	dbm_conn	*c;
	const char	*wide = "";
	char		*line;
	size_t		 k;

	three_pools_start(&d, &c);
	for (k = 0; k < 2; k++) {
		r = ctl_env(&d, locales[k], (const char *[]){ "status", NULL });
		cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
		cr_assert_leq(widest_line(r.out, &wide), 80, "with %s a line is too wide:\n%.*s\n"
		    "in:\n%s", locales[k] ? locales[k] : "no locale", (int)strcspn(wide, "\n"),
		    wide, r.out);
		cr_assert_null(strchr(r.out, '\033'), "escapes in status:\n%s", r.out);
		/* Every pool: its names, backend, connections. */
		line = line_starting(r.out, "development/primary  ");
		free(line);
		line = line_starting(r.out, "test/primary  ");
		free(line);
		/* The long one cut, with an ellipsis: one character in UTF-8, else "...". */
		line = line_starting(r.out, LONG_ENV "/nightly");
		assert_has(line, k == 0 ? "..." : "\xe2\x80\xa6");
		free(line);
		cr_assert_eq(count_of(r.out, "      backend: sqlite, serving\n"), 3, "%s", r.out);
		cr_assert_eq(count_of(r.out, "  connections: "), 3, "%s", r.out);
		line = line_starting(r.out, "       target: sqlite:");
		free(line);
		assert_has(r.out, " active, ");
		assert_has(r.out, " idle, 3 max");
		assert_has(r.out, "   statements: 4, 1 errors\n");
		assert_has(r.out, "        pools: 3\n");
		/* What only -v shows is not here. */
		cr_assert_null(strstr(r.out, "connect_failures"), "%s", r.out);
		cr_assert_null(strstr(r.out, LONG_FILE), "the long target is whole:\n%s", r.out);
		t_run_free(&r);
	}

	/* -v: every column, the long values whole. */
	r = ctl(&d, (const char *[]){ "status", "-v", NULL });
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	assert_has(r.out, "\nconnect_failures:");
	assert_has(r.out, "\ncache_bytes:");
	assert_has(r.out, "\nidle_txn_timeouts:");
	assert_has(r.out, "\nnames:               " LONG_ENV "/" LONG_ROLE "\n");
	assert_has(r.out, LONG_FILE "\n");
	assert_has(r.out, "acquire_wait");
	t_run_free(&r);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/* The cells of the first row of a table, between the rule and "(N rows)". */
static char **
first_row_cells(const char *out, int ncols)
{
	char	**cells = calloc((size_t)ncols, sizeof(*cells));
	char	*line = line_starting(out, "---"), *row, *p;
	int	 i;

	free(line);
	row = strstr(out, "\n---");
	cr_assert_not_null(row);
	row = strchr(row + 1, '\n') + 1;
	row = strndup(row, strcspn(row, "\n"));
	for (i = 0, p = row; i < ncols; i++) {
		size_t	 n = strcspn(p, "|"), b = 0, e = n;

		while (b < e && p[b] == ' ')
			b++;
		while (e > b && p[e - 1] == ' ')
			e--;
		cells[i] = strndup(p + b, e - b);
		p += n + (p[n] == '|');
	}
	free(row);
	return cells;
}

Test(dbmctl, sql_shows_null_apart_from_empty_and_bytes_in_hex)
{
	struct t_dbmd	 d;
	struct json	*j;
	char		*out, **cells;
	int		 i;

	t_dbmd_start(&d, NULL);
	out = ctl_ok(&d, (const char *[]){ "sql",
	    "SELECT NULL AS n, '' AS e, x'00ff41' AS b, 'NULL' AS t, '\\N' AS s", NULL });
	cells = first_row_cells(out, 5);
	cr_assert_str_eq(cells[0], "\\N", "NULL:\n%s", out);
	cr_assert_str_eq(cells[1], "", "'':\n%s", out);
	cr_assert_str_eq(cells[2], "\\x00ff41", "the blob:\n%s", out);
	cr_assert_str_eq(cells[3], "NULL", "'NULL':\n%s", out);
	cr_assert_str_eq(cells[4], "\\\\N", "a backslash in text:\n%s", out);
	for (i = 0; i < 5; i++)
		free(cells[i]);
	free(cells);
	free(out);

	/* Control characters and NULs in text are escaped, never sent to the terminal. */
	out = ctl_ok(&d, (const char *[]){ "sql",
	    "SELECT 'a' || char(0) || 'b' || char(27) || '[31m' || char(10) AS v", NULL });
	cr_assert_null(strchr(out, '\033'), "an escape reached the output:\n%s", out);
	cells = first_row_cells(out, 1);
	cr_assert_str_eq(cells[0], "a\\x00b\\x1b[31m\\n", "%s", out);
	free(cells[0]);
	free(cells);
	free(out);

	/* In JSON, bytes are the text \x and hex too, NULL is null. */
	out = ctl_ok(&d, (const char *[]){ "--json", "sql", "SELECT x'00ff41' AS b, NULL AS n",
	    NULL });
	j = json_must(out);
	cr_assert_str_eq(json_text(json_at(json_at(json_get(j, "rows"), 0), 0), "rows[0][0]"),
	    "\\x00ff41", "%s", out);
	cr_assert_eq(json_at(json_at(json_get(j, "rows"), 0), 1)->type, JSON_NULL, "%s", out);
	json_free(j);
	free(out);

	/* -N sets the marker, as psql's \pset null does. */
	out = ctl_ok(&d, (const char *[]){ "sql", "-N", "(null)", "SELECT NULL AS n, '' AS e",
	    NULL });
	cells = first_row_cells(out, 2);
	cr_assert_str_eq(cells[0], "(null)", "%s", out);
	cr_assert_str_eq(cells[1], "", "%s", out);
	free(cells[0]);
	free(cells[1]);
	free(cells);
	free(out);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, top_n_prints_plain_snapshots_with_rates)
{
	struct t_dbmd	 d;
	struct t_run	 r;
	dbm_conn	*c;
	const char	*second, *wide = "";
	char		*line;

	three_pools_start(&d, &c);
	r = ctl(&d, (const char *[]){ "top", "-n", "2", "-d", "0.2", NULL });
	cr_assert_eq(r.status, 0, "exit %d\nstderr:\n%s", r.status, r.err);
	cr_assert_null(strchr(r.out, '\033'), "escapes off a terminal:\n%s", r.out);
	cr_assert_eq(count_of(r.out, "dbmd "), 2, "not two snapshots:\n%s", r.out);
	cr_assert_eq(count_of(r.out, "STMTS/S"), 2, "%s", r.out);
	cr_assert_leq(widest_line(r.out, &wide), 80, "too wide:\n%s", r.out);
	/* The first snapshot has nothing to compare with; the second has rates. */
	line = line_starting(r.out, "test/primary ");
	assert_has(line, " - ");
	free(line);
	second = strstr(strstr(r.out, "STMTS/S") + 1, "STMTS/S");
	line = line_starting(second, "test/primary ");
	assert_has(line, "0.0");
	assert_has(line, "sqlite");
	free(line);
	line = line_starting(second, "development/primary ");
	free(line);
	line = line_starting(second, "warehouseanalytic");
	free(line);
	t_run_free(&r);

	r = ctl(&d, (const char *[]){ "top", "-d", "0", NULL });
	cr_assert_eq(r.status, 2, "a delay of 0 was taken:\n%s", r.err);
	t_run_free(&r);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

/*
 * Runs dbmctl top on a pseudo-terminal until it has drawn, then ends it with
 * key (if not 0) or signal sig; returns its exit status with the terminal's
 * settings afterwards in *after, and what it wrote.
 */
static int
top_on_pty(const struct t_dbmd *d, char key, int sig, struct termios *during,
    struct termios *after, char **output)
{
	const char	*bdir = getenv("TEST_BUILDDIR");
	char		*bin = t_strf("%s/dbmctl", bdir), *out = calloc(1, 1), buf[4096];
	char		*envp[] = { T_PATH, "TERM=xterm", NULL };
	size_t		 len = 0;
	int64_t		 end;
	ssize_t		 n;
	pid_t		 pid;
	int		 m, s, st = 0, exited = 0, sent = 0;

	cr_assert((m = posix_openpt(O_RDWR | O_NOCTTY)) != -1, "posix_openpt: %s",
	    strerror(errno));
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	if ((pid = t_fork()) == 0) {
		setsid();
		if ((s = open(ptsname(m), O_RDWR)) == -1)
			_exit(126);
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		close(m);
		execve(bin, (char *[]){ bin, "-s", (char *)d->sock, "top", "-d", "0.2", NULL },
		    envp);
		_exit(127);
	}
	end = t_now_ms() + 20000 * t_slow();
	while (!exited && t_now_ms() < end) {
		struct pollfd	 pfd = { .fd = m, .events = POLLIN };

		if (poll(&pfd, 1, 50) > 0 && (n = read(m, buf, sizeof(buf))) > 0) {
			out = realloc(out, len + (size_t)n + 1);
			memcpy(out + len, buf, (size_t)n);
			len += (size_t)n;
			out[len] = '\0';
		}
		/* Once it has drawn twice, it is in its loop: end it. */
		if (!sent && count_of(out, "STMTS/S") >= 2) {
			cr_assert_eq(tcgetattr(m, during), 0);
			if (key != 0)
				cr_assert_eq(write(m, &key, 1), 1);
			else
				kill(pid, sig);
			sent = 1;
		}
		if (sent)
			exited = t_wait_pid(pid, 0, &st);
	}
	if (!exited) {
		t_kill_pid(pid);
		cr_assert_fail("top did not end; it wrote:\n%s", out);
	}
	cr_assert_eq(tcgetattr(m, after), 0);
	/* What it wrote last may still be in the terminal: read it to the end (EIO). */
	for (;;) {
		struct pollfd	 pfd = { .fd = m, .events = POLLIN };

		if (poll(&pfd, 1, 200) <= 0 || (n = read(m, buf, sizeof(buf))) <= 0)
			break;
		out = realloc(out, len + (size_t)n + 1);
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	close(m);
	free(bin);
	*output = out;
	return t_exit_code(st);
}

Test(dbmctl, top_on_a_terminal_ends_on_q_and_signals_and_restores_it)
{
	static const struct {
		char	 key;
		int	 sig;
	} ends[] = { { 'q', 0 }, { 0, SIGINT }, { 0, SIGTERM } };
	struct termios	 during, after;
	struct t_dbmd	 d;
	dbm_conn	*c;
	char		*out;
	size_t		 i;
	int		 rv;

	three_pools_start(&d, &c);
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		rv = top_on_pty(&d, ends[i].key, ends[i].sig, &during, &after, &out);
		cr_assert_eq(rv, 0, "top ended by %c/%d exited %d:\n%s", ends[i].key ? ends[i].key
		    : '-', ends[i].sig, rv, out);
		cr_assert_eq(during.c_lflag & (ICANON | ECHO), 0, "the terminal was not raw");
		cr_assert_eq(after.c_lflag & (ICANON | ECHO), (tcflag_t)(ICANON | ECHO),
		    "the terminal was not restored after %c/%d", ends[i].key ? ends[i].key : '-',
		    ends[i].sig);
		/* Drawn in place, the cursor shown again, the alternate screen left. */
		assert_has(out, "\033[H");
		assert_has(out, "\033[?25h\033[?1049l");
		free(out);
	}
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0);
}

Test(dbmctl, top_exits_1_when_dbmd_goes_away)
{
	struct t_dbmd	 d;
	struct t_run	 r;
	dbm_conn	*c;
	pid_t		 pid;
	char		*bin = t_strf("%s/dbmctl", getenv("TEST_BUILDDIR"));
	char		*out = t_strf("%s/top.out", t_h.dir), *err = t_strf("%s/top.err", t_h.dir);
	char		*snap;
	int64_t		 deadline;
	int		 st;

	three_pools_start(&d, &c);
	dbm_disconnect(c);
	pid = t_spawn((char *[]){ bin, "-s", d.sock, "top", "-d", "0.2", NULL },
	    (char *[]){ T_PATH, NULL }, out, err);
	/* Its first snapshot is out: top is running when dbmd goes. */
	deadline = t_now_ms() + 10000 * t_slow();
	while ((snap = t_slurp(out)) != NULL && strstr(snap, "STMTS/S") == NULL &&
	    t_now_ms() < deadline) {
		free(snap);
		t_sleep_ms(20);
	}
	cr_assert(snap != NULL && strstr(snap, "STMTS/S") != NULL, "top drew nothing");
	free(snap);
	cr_assert_eq(t_dbmd_stop(&d), 0);
	cr_assert(t_wait_pid(pid, 10000 * t_slow(), &st), "top did not notice");
	r.out = t_slurp(out);
	r.err = t_slurp(err);
	cr_assert_eq(t_exit_code(st), 1, "exit %d\nstderr:\n%s", t_exit_code(st), r.err);
	assert_has(r.err, "dbmctl: ");
	assert_has(r.out, "STMTS/S");
	t_run_free(&r);
	free(bin);
	free(out);
	free(err);
}
