/* test_pgwire.c: the PostgreSQL front door, spoken to in raw protocol 3.0 and through libpq. */

/*
 * Each test starts a dbmd of its own (tests/harness.h); its front door is
 * .s.PGSQL.5432 in the directory of dbmd's socket.  The raw client below builds
 * PostgreSQL's messages byte by byte and reads the server's back with a deadline,
 * so that the tests can say exactly which messages come, in which order, with
 * which SQLSTATE and which ReadyForQuery status.  Where PostgreSQL's own behaviour
 * is the reference, the same messages go to the harness's server directly too
 * (tests/pg.h), and both must answer alike.
 *
 * SQLite runs on the built-in environments (test: one in-memory database shared by
 * its roles); PostgreSQL on production, pointed at the test's own database.
 */

#include <grp.h>
#include <pwd.h>
#include <sqlite3.h>

#include "pg.h"

#define SUITE(name) \
	TestSuite(name, .init = pg_setup, .fini = pg_teardown, .timeout = 60)

SUITE(pgw_startup);
SUITE(pgw_simple);
SUITE(pgw_extended);
SUITE(pgw_types);
SUITE(pgw_pooling);
SUITE(pgw_cancel);
SUITE(pgw_hostile);

#define PW_WAIT		5000		/* ms (scaled) any reply must come within */
#define MSG_MAX		(64 << 20)	/* no message from a server is this large */

#define PG_PROTO_3	196608
#define PG_SSL		80877103
#define PG_GSSENC	80877104
#define PG_CANCEL	80877102

/* A message read: its type and body, the length word left out. */
struct pw_msg {
	char	 type;
	size_t	 len;
	uint8_t	*body;
};

/* The messages read up to one that ended the wait, in order; types is NUL-terminated. */
struct pw_seq {
	size_t		 n;
	struct pw_msg	*m;
	char		*types;
};

/* One raw protocol connection. */
struct pw {
	int		 fd;
	uint8_t		*in;		/* received, from inpos on not yet read */
	size_t		 inlen, inpos, incap;
	uint8_t		*out;		/* messages built, not yet sent */
	size_t		 outlen, outcap;
	struct pw_msg	 m;		/* the last message read; its body is in in */
	char		*params[32][2];	/* ParameterStatus at startup: name, value */
	size_t		 nparams;
	uint32_t	 pid, key;	/* BackendKeyData */
	char		 status;	/* the last ReadyForQuery's */
};

/* Building messages. */

static void
out_add(struct pw *c, const void *p, size_t n)
{
	uint8_t	*d;

	if (c->outlen + n > c->outcap) {
		c->outcap = (c->outlen + n) * 2 + 256;
		d = realloc(c->out, c->outcap);
		cr_assert_not_null(d, "out of memory");
		c->out = d;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

static void
out_u8(struct pw *c, uint8_t v)
{
	out_add(c, &v, 1);
}

static void
out_u16(struct pw *c, uint16_t v)
{
	uint8_t	 b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	out_add(c, b, 2);
}

static void
out_u32(struct pw *c, uint32_t v)
{
	uint8_t	 b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
	    (uint8_t)v };

	out_add(c, b, 4);
}

static void
out_str(struct pw *c, const char *s)
{
	out_add(c, s, strlen(s) + 1);
}

/* Begins a message (type 0: the startup packet's kind, which has none); see msg_end. */
static size_t
msg_begin(struct pw *c, char type)
{
	size_t	 at;

	if (type != 0)
		out_u8(c, (uint8_t)type);
	at = c->outlen;
	out_u32(c, 0);
	return at;
}

/* Writes the length of the message begun at at, the length word included. */
static void
msg_end(struct pw *c, size_t at)
{
	uint32_t n = (uint32_t)(c->outlen - at);

	c->out[at] = (uint8_t)(n >> 24);
	c->out[at + 1] = (uint8_t)(n >> 16);
	c->out[at + 2] = (uint8_t)(n >> 8);
	c->out[at + 3] = (uint8_t)n;
}

/* Sends what was built; -1 when the server has gone. */
static int
pw_send(struct pw *c)
{
	int	 rc = t_raw_send(c->fd, c->out, c->outlen);

	c->outlen = 0;
	return rc;
}

static void
m_query(struct pw *c, const char *sql)
{
	size_t	 at = msg_begin(c, 'Q');

	out_str(c, sql);
	msg_end(c, at);
}

static void
m_parse(struct pw *c, const char *name, const char *sql, int n, const uint32_t *types)
{
	size_t	 at = msg_begin(c, 'P');
	int	 i;

	out_str(c, name);
	out_str(c, sql);
	out_u16(c, (uint16_t)n);
	for (i = 0; i < n; i++)
		out_u32(c, types[i]);
	msg_end(c, at);
}

/*
 * Bind: nfmt parameter format codes, n values (NULL: SQL NULL; lens NULL: strlen each),
 * nres result format codes.
 */
static void
m_bind(struct pw *c, const char *portal, const char *stmt, int nfmt, const int16_t *fmts,
    int n, const char *const *vals, const int *lens, int nres, const int16_t *resfmts)
{
	size_t	 at = msg_begin(c, 'B');
	int	 i;

	out_str(c, portal);
	out_str(c, stmt);
	out_u16(c, (uint16_t)nfmt);
	for (i = 0; i < nfmt; i++)
		out_u16(c, (uint16_t)fmts[i]);
	out_u16(c, (uint16_t)n);
	for (i = 0; i < n; i++) {
		if (vals[i] == NULL) {
			out_u32(c, 0xffffffff);
			continue;
		}
		out_u32(c, (uint32_t)(lens != NULL ? lens[i] : (int)strlen(vals[i])));
		out_add(c, vals[i], lens != NULL ? (size_t)lens[i] : strlen(vals[i]));
	}
	out_u16(c, (uint16_t)nres);
	for (i = 0; i < nres; i++)
		out_u16(c, (uint16_t)resfmts[i]);
	msg_end(c, at);
}

/* Bind of text values, results in text. */
static void
m_bind_text(struct pw *c, const char *portal, const char *stmt, int n,
    const char *const *vals)
{
	m_bind(c, portal, stmt, 0, NULL, n, vals, NULL, 0, NULL);
}

static void
m_describe(struct pw *c, char what, const char *name)
{
	size_t	 at = msg_begin(c, 'D');

	out_u8(c, (uint8_t)what);
	out_str(c, name);
	msg_end(c, at);
}

static void
m_execute(struct pw *c, const char *portal, uint32_t max)
{
	size_t	 at = msg_begin(c, 'E');

	out_str(c, portal);
	out_u32(c, max);
	msg_end(c, at);
}

static void
m_close(struct pw *c, char what, const char *name)
{
	size_t	 at = msg_begin(c, 'C');

	out_u8(c, (uint8_t)what);
	out_str(c, name);
	msg_end(c, at);
}

/* A message of no body: Sync 'S', Flush 'H', Terminate 'X'. */
static void
m_bare(struct pw *c, char type)
{
	msg_end(c, msg_begin(c, type));
}

/* Reading messages. */

/*
 * Waits for more bytes; 1 when some came, 0 at EOF (or a reset), -1 at the deadline.
 */
static int
pw_fill(struct pw *c, int64_t end)
{
	struct pollfd	 pfd = { .fd = c->fd, .events = POLLIN };
	int64_t		 left;
	uint8_t		*d;
	ssize_t		 n;

	if (c->inpos > 0) {
		memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
		c->inlen -= c->inpos;
		c->inpos = 0;
	}
	if (c->incap - c->inlen < 65536) {
		c->incap = c->incap * 2 + 65536;
		d = realloc(c->in, c->incap);
		cr_assert_not_null(d, "out of memory");
		c->in = d;
	}
	for (;;) {
		left = end - t_now_ms();
		if (poll(&pfd, 1, (int)(left > 0 ? left : 0)) == 0)
			return -1;
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		cr_assert(n > 0, "recv: %s", strerror(errno));
		c->inlen += (size_t)n;
		return 1;
	}
}

/*
 * The next message into c->m (valid until the next read): 1, 0 at EOF, -1 when none
 * came within ms (scaled).
 */
static int
pw_next(struct pw *c, int ms)
{
	int64_t		 end = t_now_ms() + (int64_t)ms * t_slow();
	const uint8_t	*p;
	uint32_t	 len;
	int		 r;

	for (;;) {
		if (c->inlen - c->inpos >= 5) {
			p = c->in + c->inpos;
			len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
			    p[4];
			cr_assert(len >= 4 && len < MSG_MAX, "a message '%c' of length %u from "
			    "the server", p[0], len);
			if (c->inlen - c->inpos >= (size_t)len + 1) {
				c->m.type = (char)p[0];
				c->m.len = len - 4;
				c->m.body = (uint8_t *)p + 5;
				c->inpos += (size_t)len + 1;
				return 1;
			}
		}
		if ((r = pw_fill(c, end)) != 1)
			return r;
	}
}

/* One byte that is not a message (the answer to SSLRequest); -1 on EOF or timeout. */
static int
pw_byte(struct pw *c, int ms)
{
	int64_t	 end = t_now_ms() + (int64_t)ms * t_slow();

	while (c->inlen - c->inpos < 1)
		if (pw_fill(c, end) != 1)
			return -1;
	return c->in[c->inpos++];
}

/* The value of an error or notice field, or NULL. */
static const char *
field(const struct pw_msg *m, char code)
{
	const uint8_t	*p = m->body, *end = m->body + m->len;

	while (p < end && *p != 0) {
		if ((char)*p == code)
			return (const char *)p + 1;
		p += strlen((const char *)p + 1) + 2;
	}
	return NULL;
}

static void
seq_free(struct pw_seq *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		free(s->m[i].body);
	free(s->m);
	free(s->types);
	memset(s, 0, sizeof(*s));
}

/* What a sequence holds, for failure messages: types, with each error's SQLSTATE and text. */
static char *
seq_show(const struct pw_seq *s)
{
	char	*all = t_strf("\"%s\"", s->types ? s->types : ""), *next;
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		if (s->m[i].type != 'E' && s->m[i].type != 'N')
			continue;
		next = t_strf("%s; %c %s %s: %s", all, s->m[i].type,
		    field(&s->m[i], 'S') ?: "?", field(&s->m[i], 'C') ?: "?",
		    field(&s->m[i], 'M') ?: "?");
		free(all);
		all = next;
	}
	return all;
}

static void
seq_add(struct pw_seq *s, const struct pw_msg *m)
{
	struct pw_msg	*a = reallocarray(s->m, s->n + 1, sizeof(*a));
	char		*t = realloc(s->types, s->n + 2);

	cr_assert(a != NULL && t != NULL, "out of memory");
	s->m = a;
	s->types = t;
	a[s->n].type = m->type;
	a[s->n].len = m->len;
	a[s->n].body = malloc(m->len + 1);
	cr_assert_not_null(a[s->n].body);
	memcpy(a[s->n].body, m->body, m->len);
	a[s->n].body[m->len] = 0;
	t[s->n] = m->type;
	t[++s->n] = '\0';
}

/*
 * Reads messages up to and including one whose type is in stops; the test fails if
 * the connection ends or nothing more comes within ms (scaled) first.
 */
static struct pw_seq
pw_until_ms(struct pw *c, const char *stops, int ms)
{
	struct pw_seq	 s = { 0 };
	char		*show;
	int		 r;

	for (;;) {
		r = pw_next(c, ms);
		if (r != 1) {
			show = seq_show(&s);
			cr_assert_fail("waiting for one of \"%s\": %s after %s", stops,
			    r == 0 ? "the connection closed" : "nothing more came", show);
		}
		seq_add(&s, &c->m);
		if (c->m.type == 'Z')
			c->status = c->m.len > 0 ? (char)c->m.body[0] : '?';
		if (strchr(stops, c->m.type) != NULL)
			return s;
	}
}

static struct pw_seq
pw_until(struct pw *c, const char *stops)
{
	return pw_until_ms(c, stops, PW_WAIT);
}

/* Everything up to the next ReadyForQuery. */
static struct pw_seq
pw_ready(struct pw *c)
{
	return pw_until(c, "Z");
}

/* The messages until the server closes the connection; fails if it does not, in time. */
static struct pw_seq
pw_until_close(struct pw *c)
{
	struct pw_seq	 s = { 0 };
	char		*show;
	int		 r;

	while ((r = pw_next(c, PW_WAIT)) == 1)
		seq_add(&s, &c->m);
	if (r == -1) {
		show = seq_show(&s);
		cr_assert_fail("the server did not close the connection; it sent %s", show);
	}
	return s;
}

/* Fails unless the sequence's types are want (and, when status, the last 'Z' says it). */
static void
seq_expect_at(int line, const struct pw_seq *s, const char *want, char status)
{
	char	*show;

	if (strcmp(s->types ? s->types : "", want) != 0) {
		show = seq_show(s);
		cr_assert_fail("line %d: messages %s, not \"%s\"", line, show, want);
	}
	if (status != 0) {
		cr_assert(s->n > 0 && s->m[s->n - 1].type == 'Z' && s->m[s->n - 1].len == 1,
		    "line %d: no ReadyForQuery last", line);
		cr_assert_eq((char)s->m[s->n - 1].body[0], status, "line %d: ReadyForQuery "
		    "'%c', not '%c'", line, (char)s->m[s->n - 1].body[0], status);
	}
}

#define seq_expect(s, want, status) seq_expect_at(__LINE__, (s), (want), (status))

/* The i-th message of type t in s (i from 0); fails if there is none. */
static const struct pw_msg *
seq_get(const struct pw_seq *s, char t, int i)
{
	size_t	 k;

	for (k = 0; k < s->n; k++)
		if (s->m[k].type == t && i-- == 0)
			return &s->m[k];
	cr_assert_fail("no message '%c' number %d in \"%s\"", t, i, s->types);
	return NULL;
}

/* Fails unless m is an error (or notice) of the severity and SQLSTATE. */
static void
err_expect_at(int line, const struct pw_msg *m, const char *severity, const char *sqlstate)
{
	cr_assert(m->type == 'E' || m->type == 'N', "line %d: '%c' is no error", line,
	    m->type);
	cr_assert_str_eq(field(m, 'S') ?: "", severity, "line %d: severity %s, not %s (%s)",
	    line, field(m, 'S') ?: "none", severity, field(m, 'M') ?: "");
	cr_assert_str_eq(field(m, 'V') ?: "", severity, "line %d: V %s, not %s", line,
	    field(m, 'V') ?: "none", severity);
	cr_assert_str_eq(field(m, 'C') ?: "", sqlstate, "line %d: SQLSTATE %s, not %s (%s)",
	    line, field(m, 'C') ?: "none", sqlstate, field(m, 'M') ?: "");
	cr_assert_not_null(field(m, 'M'), "line %d: an error without a message", line);
}

#define err_expect(m, sev, state) err_expect_at(__LINE__, (m), (sev), (state))

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A column of a RowDescription. */
struct pw_col {
	const char	*name;
	uint32_t	 oid;
	int16_t		 typlen;
	int32_t		 typmod;
	int16_t		 format;
};

/* Column i of a RowDescription; fails if it has no such column. */
static struct pw_col
rowdesc_col(const struct pw_msg *m, int i)
{
	const uint8_t	*p = m->body + 2, *end = m->body + m->len;
	struct pw_col	 c;
	int		 k;

	cr_assert_eq(m->type, 'T', "'%c' is no RowDescription", m->type);
	cr_assert_lt(i, get_u16(m->body), "column %d of %u", i, get_u16(m->body));
	for (k = 0;; k++) {
		cr_assert_lt(p, end, "a short RowDescription");
		c.name = (const char *)p;
		p += strlen(c.name) + 1;
		cr_assert_leq(p + 18, end, "a short RowDescription");
		c.oid = get_u32(p + 6);
		c.typlen = (int16_t)get_u16(p + 10);
		c.typmod = (int32_t)get_u32(p + 12);
		c.format = (int16_t)get_u16(p + 16);
		p += 18;
		if (k == i)
			return c;
	}
}

static int
ncols(const struct pw_msg *m)
{
	return get_u16(m->body);
}

/* Value i of a DataRow: its bytes, the length in *len (-1: NULL). */
static const uint8_t *
row_val(const struct pw_msg *m, int i, int32_t *len)
{
	const uint8_t	*p = m->body + 2, *end = m->body + m->len;
	int		 k;

	cr_assert_eq(m->type, 'D', "'%c' is no DataRow", m->type);
	cr_assert_lt(i, get_u16(m->body), "value %d of %u", i, get_u16(m->body));
	for (k = 0;; k++) {
		cr_assert_leq(p + 4, end, "a short DataRow");
		*len = (int32_t)get_u32(p);
		p += 4;
		if (k == i)
			return *len < 0 ? NULL : p;
		if (*len > 0)
			p += *len;
	}
}

/* Value i of a DataRow as text (static, so one at a time), "NULL" for NULL. */
static const char *
row_text(const struct pw_msg *m, int i)
{
	static char	 buf[8192];
	const uint8_t	*v;
	int32_t		 len;

	v = row_val(m, i, &len);
	if (v == NULL)
		return "NULL";
	cr_assert_lt(len, (int32_t)sizeof(buf));
	memcpy(buf, v, (size_t)len);
	buf[len] = '\0';
	return buf;
}

/* The command tag of a CommandComplete. */
static const char *
tag(const struct pw_msg *m)
{
	cr_assert_eq(m->type, 'C', "'%c' is no CommandComplete", m->type);
	return (const char *)m->body;
}

/* Connections. */

/* The front door of the test's dbmd. */
static char *
front_path(void)
{
	return t_strf("%s/.s.PGSQL.5432", t_h.dir);
}

/* The harness's PostgreSQL server, directly. */
static char *
direct_path(void)
{
	return t_strf("%s/.s.PGSQL.%s", pg.host, pg.port);
}

static struct pw *
pw_connect(const char *path)
{
	struct pw	*c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->fd = t_raw_connect_try(path);
	cr_assert(c->fd != -1, "connect %s: %s", path, strerror(errno));
	return c;
}

static void
pw_free(struct pw *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	for (i = 0; i < c->nparams; i++) {
		free(c->params[i][0]);
		free(c->params[i][1]);
	}
	free(c->in);
	free(c->out);
	free(c);
}

/* Terminate, then the end. */
static void
pw_close(struct pw *c)
{
	if (c == NULL)
		return;
	m_bare(c, 'X');
	(void)pw_send(c);
	pw_free(c);
}

/* A startup packet of the version with the NULL-terminated name, value pairs. */
static void
m_startup(struct pw *c, uint32_t version, const char *const *kv)
{
	size_t	 at = msg_begin(c, 0);

	out_u32(c, version);
	for (; kv != NULL && *kv != NULL; kv++)
		out_str(c, *kv);
	out_u8(c, 0);
	msg_end(c, at);
}

/* A request of 8 bytes: SSLRequest, GSSENCRequest. */
static void
m_request(struct pw *c, uint32_t code)
{
	size_t	 at = msg_begin(c, 0);

	out_u32(c, code);
	msg_end(c, at);
}

static void
m_cancel(struct pw *c, uint32_t pid, uint32_t key)
{
	size_t	 at = msg_begin(c, 0);

	out_u32(c, PG_CANCEL);
	out_u32(c, pid);
	out_u32(c, key);
	msg_end(c, at);
}

/*
 * Reads a startup's answer: AuthenticationOk, ParameterStatus..., BackendKeyData,
 * ReadyForQuery 'I', in that order; keeps the parameters and the key.
 */
static void
pw_started(struct pw *c)
{
	struct pw_seq	 s = pw_ready(c);
	const char	*t = s.types;
	size_t		 i, n = strlen(t);
	char		*show;

	if (n < 3 || t[0] != 'R' || t[n - 2] != 'K' || t[n - 1] != 'Z' ||
	    strspn(t + 1, "S") != n - 3) {
		show = seq_show(&s);
		cr_assert_fail("startup answered %s, not R S... K Z", show);
	}
	cr_assert_eq(s.m[0].len, 4, "AuthenticationOk of %zu bytes", s.m[0].len);
	cr_assert_eq(get_u32(s.m[0].body), 0, "authentication %u asked for, not Ok",
	    get_u32(s.m[0].body));
	for (i = 1; i < n - 2; i++) {
		cr_assert_lt(c->nparams, 32);
		c->params[c->nparams][0] = t_strf("%s", (char *)s.m[i].body);
		c->params[c->nparams][1] = t_strf("%s", (char *)s.m[i].body +
		    strlen((char *)s.m[i].body) + 1);
		c->nparams++;
	}
	cr_assert_eq(s.m[n - 2].len, 8, "BackendKeyData of %zu bytes", s.m[n - 2].len);
	c->pid = get_u32(s.m[n - 2].body);
	c->key = get_u32(s.m[n - 2].body + 4);
	cr_assert_eq(s.m[n - 1].len, 1);
	cr_assert_eq(s.m[n - 1].body[0], 'I', "ReadyForQuery '%c' after startup",
	    s.m[n - 1].body[0]);
	seq_free(&s);
}

/* A ParameterStatus's value from the startup, or NULL. */
static const char *
param(const struct pw *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nparams; i++)
		if (strcmp(c->params[i][0], name) == 0)
			return c->params[i][1];
	return NULL;
}

/* Connects to path and starts with the pairs given; fails unless it is served. */
static struct pw *
pw_open(const char *path, const char *const *kv)
{
	struct pw	*c = pw_connect(path);

	m_startup(c, PG_PROTO_3, kv);
	cr_assert_eq(pw_send(c), 0, "the server closed before the startup packet");
	pw_started(c);
	return c;
}

/* The front door, on database db, as application pgwire-test. */
static struct pw *
pw_dbmd(const char *db)
{
	char		*path = front_path();
	struct pw	*c = pw_open(path, (const char *[]){ "user", "root", "database", db,
	    "application_name", "pgwire-test", NULL });

	free(path);
	return c;
}

/* The harness's server, on the test's database. */
static struct pw *
pw_direct(void)
{
	char		*path = direct_path();
	struct pw	*c = pw_open(path, (const char *[]){ "user", "postgres", "database",
	    pg.db, NULL });

	free(path);
	return c;
}

/* A Query, and its messages up to ReadyForQuery. */
static struct pw_seq
pw_query(struct pw *c, const char *sql)
{
	m_query(c, sql);
	cr_assert_eq(pw_send(c), 0, "the server closed the connection");
	return pw_ready(c);
}

/* A Query that must answer exactly want, then ReadyForQuery with status. */
static void
pw_query_expect_at(int line, struct pw *c, const char *sql, const char *want, char status)
{
	struct pw_seq	 s = pw_query(c, sql);

	seq_expect_at(line, &s, want, status);
	seq_free(&s);
}

#define pw_query_expect(c, sql, want, st) pw_query_expect_at(__LINE__, (c), (sql), (want), (st))

/* The first value of a one-row query (copied; the caller frees it). */
static char *
pw_value(struct pw *c, const char *sql)
{
	struct pw_seq	 s = pw_query(c, sql);
	char		*v;

	seq_expect(&s, "TDCZ", 0);
	v = t_strf("%s", row_text(seq_get(&s, 'D', 0), 0));
	seq_free(&s);
	return v;
}

/* dbmd. */

/* A dbmd with the built-in SQLite environments and the --set arguments given. */
static void
sq_start(struct t_dbmd *d, const char *const *sets)
{
	t_dbmd_start(d, sets);
}

/* The test's PostgreSQL database and a dbmd serving it as production; NULL-terminated sets. */
#define pgd_start(d, ...) do {				\
	pg_db_new();					\
	pg_dbmd_start((d), NULL, __VA_ARGS__);		\
} while (0)

/*
 * Stops the test's dbmd, which must exit 0 with nothing from a sanitizer in its log:
 * under make valgrind and make asan its leaks and errors show here.
 */
static void
dbmd_end(struct t_dbmd *d)
{
	int	 code = t_dbmd_stop(d);
	char	*log = t_dbmd_log(d);

	cr_assert(code == 0 && strstr(log, "Sanitizer") == NULL &&
	    strstr(log, "runtime error") == NULL, "dbmd exited %d; its log:\n%s", code, log);
	free(log);
}

/* libpq through the front door; fails unless it connects. */
static PGconn *
pq_front(const char *db, const char *app)
{
	char	*ci = t_strf("host=%s port=5432 dbname=%s application_name=%s "
	    "connect_timeout=10", t_h.dir, db, app);
	PGconn	*c = PQconnectdb(ci);

	cr_assert(c != NULL && PQstatus(c) == CONNECTION_OK, "libpq through dbmd (%s): %s",
	    ci, c != NULL ? PQerrorMessage(c) : "out of memory");
	free(ci);
	return c;
}

/* A libpq statement's SQLSTATE, "" for none. */
static const char *
pq_state(const PGresult *r)
{
	const char	*s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return s != NULL ? s : "";
}

/* Waits up to 5 s (scaled) for a number from the server to be want; the last one read. */
static long long
pq_wait_num(PGconn *c, const char *sql, long long want)
{
	int64_t		 end = t_now_ms() + 5000LL * t_slow();
	long long	 n;

	while ((n = pq_num(c, sql, 0, NULL)) != want && t_now_ms() < end)
		t_sleep_ms(20);
	return n;
}

/* dbmd's resident memory, in KiB, from /proc. */
static long
rss_kb(pid_t pid)
{
	char	*path = t_strf("/proc/%ld/status", (long)pid), *st = t_slurp(path), *p;
	long	 kb = -1;

	if ((p = strstr(st, "VmRSS:")) != NULL)
		kb = atol(p + 6);
	free(st);
	free(path);
	cr_assert_gt(kb, 0, "no VmRSS for pid %ld", (long)pid);
	return kb;
}

/* A refused startup: one FATAL ErrorResponse of the SQLSTATE, then the close. */
static void
refused_at(int line, struct pw *c, const char *sqlstate)
{
	struct pw_seq	 s = pw_until_close(c);

	seq_expect_at(line, &s, "E", 0);
	err_expect_at(line, &s.m[0], "FATAL", sqlstate);
	seq_free(&s);
}

#define refused(c, state) refused_at(__LINE__, (c), (state))

/* Starts with the pairs given, which must be refused with sqlstate. */
static void
startup_refused_at(int line, const char *const *kv, const char *sqlstate)
{
	char		*path = front_path();
	struct pw	*c = pw_connect(path);

	m_startup(c, PG_PROTO_3, kv);
	cr_assert_eq(pw_send(c), 0);
	refused_at(line, c, sqlstate);
	pw_free(c);
	free(path);
}

#define startup_refused(state, ...) \
	startup_refused_at(__LINE__, (const char *[]){ __VA_ARGS__, NULL }, (state))

/* The startup. */

Test(pgw_startup, ssl_and_gss_requests_are_declined_then_the_startup_is_served)
{
	struct t_dbmd	 d;
	char		*path, *want;
	struct pw	*c;
	const char	*v;

	sq_start(&d, NULL);
	path = front_path();
	c = pw_connect(path);
	m_request(c, PG_SSL);
	cr_assert_eq(pw_send(c), 0);
	cr_assert_eq(pw_byte(c, PW_WAIT), 'N', "SSLRequest not answered 'N'");
	m_request(c, PG_GSSENC);
	cr_assert_eq(pw_send(c), 0);
	cr_assert_eq(pw_byte(c, PW_WAIT), 'N', "GSSENCRequest not answered 'N'");
	m_startup(c, PG_PROTO_3, (const char *[]){ "user", "someone", "database", "test",
	    "application_name", "my-app", NULL });
	cr_assert_eq(pw_send(c), 0);
	pw_started(c);

	v = param(c, "server_version");
	cr_assert_not_null(v, "no server_version");
	want = t_strf("SQLite %s", sqlite3_libversion());
	cr_assert(strncmp(v, "15.0 (dbmd ", 11) == 0 && strstr(v, want) != NULL,
	    "server_version \"%s\" on SQLite", v);
	free(want);
	cr_assert_str_eq(param(c, "server_encoding") ?: "", "UTF8");
	cr_assert_str_eq(param(c, "client_encoding") ?: "", "UTF8");
	cr_assert_str_eq(param(c, "DateStyle") ?: "", "ISO, MDY");
	cr_assert_not_null(param(c, "TimeZone"));
	cr_assert_str_eq(param(c, "integer_datetimes") ?: "", "on");
	cr_assert_str_eq(param(c, "standard_conforming_strings") ?: "", "on");
	cr_assert_str_eq(param(c, "application_name") ?: "", "my-app");
	cr_assert_str_eq(param(c, "is_superuser") ?: "", "off");
	cr_assert_neq(c->key, 0, "BackendKeyData's secret is 0");
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, on_postgresql_the_parameters_are_the_servers)
{
	struct t_dbmd	 d;
	struct pw	*c, *direct;
	static const char *const same[] = { "server_version", "server_encoding",
	    "DateStyle", "TimeZone", "IntervalStyle", "integer_datetimes",
	    "standard_conforming_strings" };
	size_t		 i;

	pgd_start(&d, NULL);
	c = pw_dbmd("production");
	direct = pw_direct();
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		cr_assert_not_null(param(direct, same[i]), "the server sent no %s", same[i]);
		cr_assert_not_null(param(c, same[i]), "dbmd sent no %s", same[i]);
		cr_assert_str_eq(param(c, same[i]), param(direct, same[i]), "%s: dbmd says "
		    "\"%s\", the server \"%s\"", same[i], param(c, same[i]),
		    param(direct, same[i]));
	}
	cr_assert_str_eq(param(c, "client_encoding") ?: "", "UTF8");
	cr_assert_str_eq(param(c, "application_name") ?: "", "pgwire-test");
	cr_assert_str_eq(param(c, "is_superuser") ?: "", "off");
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
	pw_close(direct);
	dbmd_end(&d);
}

Test(pgw_startup, a_newer_minor_version_is_negotiated_down_to_3_0)
{
	struct t_dbmd	 d;
	char		*path;
	struct pw	*c;
	int		 i, r;

	pgd_start(&d, NULL);
	for (i = 0; i < 2; i++) {
		path = i == 0 ? direct_path() : front_path();
		c = pw_connect(path);
		m_startup(c, 3 << 16 | 5, (const char *[]){ "user", i == 0 ? "postgres" : "root",
		    "database", i == 0 ? pg.db : "production", NULL });
		cr_assert_eq(pw_send(c), 0);
		r = pw_next(c, PW_WAIT);
		cr_assert_eq(r, 1);
		cr_assert_eq(c->m.type, 'v', "%s: 3.5 answered '%c', not "
		    "NegotiateProtocolVersion", i ? "dbmd" : "PostgreSQL", c->m.type);
		cr_assert_eq(c->m.len, 8);
		/* PostgreSQL gives the newest version it speaks, 3.0, in full. */
		cr_assert_eq(get_u32(c->m.body), PG_PROTO_3, "%s: the newest version is %u.%u, "
		    "not 3.0", i ? "dbmd" : "PostgreSQL", get_u32(c->m.body) >> 16,
		    get_u32(c->m.body) & 0xffff);
		cr_assert_eq(get_u32(c->m.body + 4), 0);
		pw_started(c);
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
		pw_close(c);
		free(path);
	}
	dbmd_end(&d);
}

Test(pgw_startup, an_unknown_environment_or_role_is_fatal_3d000)
{
	struct t_dbmd	 d;

	sq_start(&d, NULL);
	startup_refused("3D000", "user", "root", "database", "nosuch");
	startup_refused("3D000", "user", "root", "database", "test/nosuch");
	startup_refused("3D000", "user", "root", "database", "test/read_only/x");
	startup_refused("3D000", "user", "root", "database", "/primary");
	/* Without a database, the user name is the database, as for PostgreSQL. */
	startup_refused("3D000", "user", "root", NULL);
	/* Still serving. */
	pw_close(pw_dbmd("test"));
	dbmd_end(&d);
}

Test(pgw_startup, env_slash_role_selects_the_role_and_read_only_refuses_writes)
{
	struct t_dbmd	 d;
	struct pw	*rw, *ro;
	struct pw_seq	 s;
	char		*v;

	sq_start(&d, NULL);
	rw = pw_dbmd("test");
	pw_query_expect(rw, "CREATE TABLE t (a int)", "CZ", 'I');
	pw_query_expect(rw, "INSERT INTO t VALUES (1)", "CZ", 'I');
	ro = pw_dbmd("test/read_only");
	v = pw_value(ro, "SELECT count(*) FROM t");
	cr_assert_str_eq(v, "1", "the read_only role sees %s rows", v);
	free(v);
	s = pw_query(ro, "INSERT INTO t VALUES (2)");
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "25006");
	seq_free(&s);
	v = pw_value(rw, "SELECT count(*) FROM t");
	cr_assert_str_eq(v, "1");
	free(v);
	pw_close(ro);
	pw_close(rw);
	dbmd_end(&d);
}

Test(pgw_startup, a_read_only_role_on_postgresql_refuses_writes_with_25006)
{
	struct t_dbmd	 d;
	struct pw	*ro;
	struct pw_seq	 s;

	pgd_start(&d, NULL);
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	ro = pw_dbmd("production/read_only");
	pw_query_expect(ro, "SELECT count(*) FROM t", "TDCZ", 'I');
	s = pw_query(ro, "INSERT INTO t VALUES (2)");
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "25006");
	seq_free(&s);
	pw_close(ro);
	dbmd_end(&d);
}

/*
 * A child of the test, as nobody: starts on test as the PostgreSQL user root and
 * exits 0 when served (AuthenticationOk first, ReadyForQuery at the end), 1 when
 * refused, 2 on anything else.  No assertions: it is not the test's process.
 */
static int
nobody_startup(const char *path)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	static const char	 kv[] = "user\0root\0database\0test\0";
	uint8_t			 buf[4096], pkt[64];
	size_t			 have = 0, n = 0;
	struct pollfd		 pfd;
	ssize_t			 r;
	int			 fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return 2;
	n = 8 + sizeof(kv);
	pkt[0] = 0, pkt[1] = 0, pkt[2] = (uint8_t)(n >> 8), pkt[3] = (uint8_t)n;
	pkt[4] = 0, pkt[5] = 3, pkt[6] = 0, pkt[7] = 0;
	memcpy(pkt + 8, kv, sizeof(kv));
	if (write(fd, pkt, n) != (ssize_t)n)
		return 2;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (have < sizeof(buf) && poll(&pfd, 1, 5000 * t_slow()) == 1 &&
	    (r = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)r;
		if (buf[0] == 'E')
			return 1;
		if (have >= 6 && buf[have - 6] == 'Z')
			return buf[0] == 'R' && get_u32(buf + 5) == 0 ? 0 : 2;
	}
	return 2;
}

Test(pgw_startup, the_peer_decides_access_and_the_user_parameter_grants_nothing)
{
	struct passwd	*pw = getpwnam("nobody");
	struct t_dbmd	 d;
	char		*path;
	pid_t		 pid;
	int		 st;
	struct pw	*c;
	struct pw_seq	 s;

	if (geteuid() != 0) {
		pg_teardown();
		cr_skip_test("needs root to act as a second user");
	}
	cr_assert_not_null(pw, "no user nobody");
	chmod(t_h.dir, 0755);
	sq_start(&d, (const char *[]){ "daemon.socket_mode=0666", "test.allow.users=nobody",
	    NULL });
	/* root, who is not in the list, whatever user it names. */
	startup_refused("28000", "user", "root", "database", "test");
	startup_refused("28000", "user", "nobody", "database", "test");
	path = front_path();
	c = pw_connect(path);
	m_startup(c, PG_PROTO_3, (const char *[]){ "user", "nobody", "database", "test", NULL });
	cr_assert_eq(pw_send(c), 0);
	s = pw_until_close(c);
	seq_expect(&s, "E", 0);
	cr_assert_not_null(strstr(field(&s.m[0], 'M'), "permission denied"), "%s",
	    field(&s.m[0], 'M'));
	seq_free(&s);
	pw_free(c);

	/* nobody, who is, naming root. */
	if ((pid = t_fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(3);
		_exit(nobody_startup(path));
	}
	cr_assert(t_wait_pid(pid, 10000 * t_slow(), &st), "the nobody child did not exit");
	cr_assert_eq(t_exit_code(st), 0, "nobody was not served (exit %d: 1 refused, 2 other, "
	    "3 setuid)", t_exit_code(st));
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, other_protocol_versions_are_refused)
{
	struct t_dbmd	 d;
	char		*path;
	struct pw	*c;
	struct pw_seq	 s;
	int		 i;

	pgd_start(&d, NULL);
	for (i = 0; i < 2; i++) {
		path = i == 0 ? direct_path() : front_path();
		/* 4.0: a FATAL 0A000, as PostgreSQL says it. */
		c = pw_connect(path);
		m_startup(c, 4U << 16, (const char *[]){ "user", "postgres",
		    "database", i == 0 ? pg.db : "production", NULL });
		cr_assert_eq(pw_send(c), 0);
		refused(c, "0A000");
		pw_free(c);
		/*
		 * 1234.5678 is CancelRequest's code: a startup packet of that version is
		 * a cancel of nothing, and the connection closes without a word.
		 */
		c = pw_connect(path);
		m_startup(c, 1234U << 16 | 5678, (const char *[]){ "user", "postgres",
		    "database", i == 0 ? pg.db : "production", NULL });
		cr_assert_eq(pw_send(c), 0);
		s = pw_until_close(c);
		seq_expect(&s, "", 0);
		seq_free(&s);
		pw_free(c);
		free(path);
	}
	/* 2.0: refused (PostgreSQL answers in 2.0's own error format), nothing served. */
	path = front_path();
	c = pw_connect(path);
	m_startup(c, 2U << 16, (const char *[]){ "user", "root", "database", "production",
	    NULL });
	cr_assert_eq(pw_send(c), 0);
	s = pw_until_close(c);
	cr_assert(s.n >= 1 && s.m[0].type == 'E' && strchr(s.types, 'R') == NULL,
	    "protocol 2.0 answered \"%s\"", s.types);
	seq_free(&s);
	pw_free(c);
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, a_startup_packet_over_10000_bytes_is_refused)
{
	struct t_dbmd	 d;
	char		*path = NULL, *pad;
	struct pw	*c;
	size_t		 at;

	sq_start(&d, NULL);
	path = front_path();
	/* 10000 bytes exactly is allowed, as by PostgreSQL. */
	c = pw_connect(path);
	at = msg_begin(c, 0);
	out_u32(c, PG_PROTO_3);
	out_str(c, "user");
	out_str(c, "root");
	out_str(c, "database");
	out_str(c, "test");
	out_str(c, "application_name");
	pad = malloc(10000);
	cr_assert_not_null(pad);
	memset(pad, 'a', 10000);
	pad[10000 - c->outlen - 2] = '\0';
	out_str(c, pad);
	out_u8(c, 0);
	msg_end(c, at);
	cr_assert_eq(c->outlen, 10000);
	cr_assert_eq(pw_send(c), 0);
	pw_started(c);
	pw_close(c);

	c = pw_connect(path);
	at = msg_begin(c, 0);
	out_u32(c, PG_PROTO_3);
	out_str(c, "user");
	out_str(c, "root");
	out_str(c, "database");
	out_str(c, "test");
	out_str(c, "application_name");
	memset(pad, 'a', 10000);
	pad[10001 - c->outlen - 2] = '\0';
	out_str(c, pad);
	out_u8(c, 0);
	msg_end(c, at);
	cr_assert_eq(c->outlen, 10001);
	cr_assert_eq(pw_send(c), 0);
	refused(c, "08P01");
	pw_free(c);

	/* Announced, not even sent. */
	c = pw_connect(path);
	out_u32(c, 1000000);
	out_u32(c, PG_PROTO_3);
	cr_assert_eq(pw_send(c), 0);
	refused(c, "08P01");
	pw_free(c);
	free(pad);
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, replication_connections_are_refused)
{
	struct t_dbmd	 d;
	char		*path;

	sq_start(&d, NULL);
	startup_refused("0A000", "user", "root", "database", "test", "replication", "database");
	startup_refused("0A000", "user", "root", "database", "test", "replication", "true");
	/* replication=false is an ordinary connection. */
	path = front_path();
	pw_close(pw_open(path, (const char *[]){ "user", "root", "database", "test",
	    "replication", "false", NULL }));
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, client_encoding_must_be_utf8_or_sql_ascii)
{
	struct t_dbmd	 d;
	char		*path;
	struct pw	*c;

	sq_start(&d, NULL);
	startup_refused("22023", "user", "root", "database", "test", "client_encoding",
	    "LATIN1");
	path = front_path();
	c = pw_open(path, (const char *[]){ "user", "root", "database", "test",
	    "client_encoding", "utf8", NULL });
	cr_assert_str_eq(param(c, "client_encoding") ?: "", "UTF8");
	pw_close(c);
	c = pw_open(path, (const char *[]){ "user", "root", "database", "test",
	    "client_encoding", "SQL_ASCII", NULL });
	cr_assert_str_eq(param(c, "client_encoding") ?: "", "SQL_ASCII");
	pw_close(c);
	free(path);
	dbmd_end(&d);
}

/* The cache hits of the pool env/primary, by its hash, through the native STATUS. */
static long long
cache_hits(const struct t_dbmd *d, const char *env)
{
	dbm_conn	*c = t_connect(d);
	dbm_handle	*h = t_open(c, env, "primary");
	long long	 n = pool_num(c, h, "cache_hits");

	dbm_dispose(h);
	dbm_disconnect(c);
	return n;
}

Test(pgw_startup, options_carry_only_dbmds_own_settings)
{
	struct t_dbmd	 d;
	struct pw	*c;
	char		*path;
	long long	 hits;

	sq_start(&d, NULL);
	startup_refused("0A000", "user", "root", "database", "test", "options",
	    "-c search_path=x");
	startup_refused("0A000", "user", "root", "database", "test", "options",
	    "-c dbmd.cache_max_age=5s -c statement_timeout=1s");
	startup_refused("0A000", "user", "root", "database", "test", "options",
	    "-c dbmd.cache_max_age=soon");
	path = front_path();
	c = pw_open(path, (const char *[]){ "user", "root", "database", "test", "options",
	    "-c dbmd.cache_max_age=5s", NULL });
	pw_query_expect(c, "CREATE TABLE t (a int)", "CZ", 'I');
	pw_query_expect(c, "INSERT INTO t VALUES (7)", "CZ", 'I');
	hits = cache_hits(&d, "test");
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	cr_assert_eq(cache_hits(&d, "test"), hits + 1, "the second read was no cache hit");
	pw_close(c);
	free(path);
	dbmd_end(&d);
}

Test(pgw_startup, dbmctl_clients_shows_the_client_as_postgresql_with_its_application_name)
{
	struct t_dbmd	 d;
	struct pw	*c;
	dbm_conn	*n;
	dbm_result	*r;
	char		*path;
	int		 i, found = 0, pc, nc, hc;

	sq_start(&d, NULL);
	path = front_path();
	c = pw_open(path, (const char *[]){ "user", "root", "database", "test",
	    "application_name", "orders-worker", NULL });
	free(path);
	n = t_connect(&d);
	r = dbm_clients(n);
	cr_assert(r != NULL && dbm_result_status(r) == DBM_OK, "CLIENTS failed");
	pc = dbm_colnum(r, "protocol");
	nc = dbm_colnum(r, "name");
	hc = dbm_colnum(r, "pid");
	cr_assert(pc >= 0 && nc >= 0 && hc >= 0);
	for (i = 0; i < dbm_nrows(r); i++) {
		if (strcmp(dbm_value(r, i, pc), "postgresql") != 0)
			continue;
		found++;
		cr_assert_str_eq(dbm_value(r, i, nc), "orders-worker");
		cr_assert_eq(atol(dbm_value(r, i, hc)), (long)getpid(), "pid %s",
		    dbm_value(r, i, hc));
	}
	cr_assert_eq(found, 1, "%d PostgreSQL clients listed", found);
	dbm_result_free(r);
	dbm_disconnect(n);
	pw_close(c);
	dbmd_end(&d);
}

/* The simple query protocol. */

/* Where a check runs: PostgreSQL directly (the reference), dbmd on it, dbmd on SQLite. */
enum target { DIRECT, FRONT_PG, FRONT_SQLITE };

static const char *const target_name[] = { "PostgreSQL", "dbmd on PostgreSQL",
    "dbmd on SQLite" };

static struct pw *
pw_target(enum target t)
{
	switch (t) {
	case DIRECT:
		return pw_direct();
	case FRONT_PG:
		return pw_dbmd("production");
	default:
		return pw_dbmd("test");
	}
}

/* A dbmd serving both the test's PostgreSQL database (production) and SQLite (test). */
static void
both_start(struct t_dbmd *d)
{
	pgd_start(d, NULL);
}

Test(pgw_simple, several_statements_in_one_query_answer_in_order)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		s = pw_query(c, "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2); "
		    "SELECT a FROM t ORDER BY a; DROP TABLE t");
		seq_expect(&s, "CCTDDCCZ", 'I');
		cr_assert_str_eq(tag(seq_get(&s, 'C', 0)), "CREATE TABLE", "%s",
		    target_name[t]);
		cr_assert_str_eq(tag(seq_get(&s, 'C', 1)), "INSERT 0 2", "%s", target_name[t]);
		cr_assert_str_eq(tag(seq_get(&s, 'C', 2)), "SELECT 2", "%s", target_name[t]);
		cr_assert_str_eq(tag(seq_get(&s, 'C', 3)), "DROP TABLE", "%s", target_name[t]);
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "1");
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 1), 0), "2");
		cr_assert_str_eq(rowdesc_col(seq_get(&s, 'T', 0), 0).name, "a");
		seq_free(&s);
		/* A trailing semicolon, and empty statements between, are nothing. */
		pw_query_expect(c, "SELECT 1;; ;SELECT 2;", "TDCTDCZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_simple, an_empty_query_is_an_empty_query_response)
{
	struct t_dbmd	 d;
	struct pw	*c;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		pw_query_expect(c, "", "IZ", 'I');
		pw_query_expect(c, ";", "IZ", 'I');
		pw_query_expect(c, " ; ;\n", "IZ", 'I');
		pw_query_expect(c, "-- nothing but a comment\n", "IZ", 'I');
		pw_query_expect(c, "/* nor here */", "IZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/*
 * An error in the third of four statements: on PostgreSQL the query is one implicit
 * transaction, so the two before it are rolled back; on SQLite they stay.
 */
Test(pgw_simple, an_error_mid_query_rolls_back_on_postgresql_and_not_on_sqlite)
{
	static const char q[] = "CREATE TABLE t (a int); INSERT INTO t VALUES (1); "
	    "SELECT * FROM nosuch; INSERT INTO t VALUES (2)";
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		*v;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		s = pw_query(c, q);
		seq_expect(&s, "CCEZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "42P01");
		seq_free(&s);
		if (t == FRONT_SQLITE) {
			v = pw_value(c, "SELECT count(*) FROM t");
			cr_assert_str_eq(v, "1", "SQLite kept %s rows", v);
		} else {
			v = pw_value(c, "SELECT to_regclass('t') IS NULL");
			cr_assert_str_eq(v, "t", "%s: the table stayed", target_name[t]);
		}
		free(v);
		pw_close(c);
	}
	dbmd_end(&d);
}

/* ReadyForQuery follows the transaction: T inside, E once it failed, I after its end. */
Test(pgw_simple, ready_for_query_tells_the_transaction_status)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		pw_query_expect(c, "SELECT 1", "TDCZ", 'T');
		s = pw_query(c, "SELECT 1/0");
		seq_expect(&s, "EZ", 'E');
		err_expect(&s.m[0], "ERROR", "22012");
		seq_free(&s);
		s = pw_query(c, "SELECT 1");
		seq_expect(&s, "EZ", 'E');
		err_expect(&s.m[0], "ERROR", "25P02");
		seq_free(&s);
		pw_query_expect(c, "ROLLBACK", "CZ", 'I');
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');

		/* COMMIT of a failed transaction rolls it back. */
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		pw_query_expect(c, "SELECT 1/0", "EZ", 'E');
		s = pw_query(c, "COMMIT");
		seq_expect(&s, "CZ", 'I');
		cr_assert_str_eq(tag(&s.m[0]), "ROLLBACK");
		seq_free(&s);

		/* BEGIN and an error in one query. */
		pw_query_expect(c, "BEGIN; SELECT 1", "CTDCZ", 'T');
		pw_query_expect(c, "SELECT 1; SELECT 1/0", "TDCEZ", 'E');
		pw_query_expect(c, "ROLLBACK; SELECT 2", "CTDCZ", 'I');
		pw_query_expect(c, "BEGIN; SELECT 1; COMMIT", "CTDCCZ", 'I');
		pw_close(c);
	}

	/* SQLite's transaction goes on after an error. */
	c = pw_target(FRONT_SQLITE);
	pw_query_expect(c, "BEGIN", "CZ", 'T');
	pw_query_expect(c, "SELECT * FROM nosuch", "EZ", 'T');
	pw_query_expect(c, "SELECT 1", "TDCZ", 'T');
	pw_query_expect(c, "ROLLBACK", "CZ", 'I');
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_simple, rollback_to_a_savepoint_recovers_a_failed_transaction)
{
	struct t_dbmd	 d;
	struct pw	*c;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		pw_query_expect(c, "SAVEPOINT a", "CZ", 'T');
		pw_query_expect(c, "SELECT 1/0", "EZ", 'E');
		pw_query_expect(c, "ROLLBACK TO SAVEPOINT a", "CZ", 'T');
		pw_query_expect(c, "SELECT 1", "TDCZ", 'T');
		pw_query_expect(c, "COMMIT", "CZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_simple, notices_are_passed_on)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	const struct pw_msg *n;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		s = pw_query(c, "DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$");
		seq_expect(&s, "NCZ", 'I');
		n = &s.m[0];
		err_expect(n, "NOTICE", "00000");
		cr_assert_str_eq(field(n, 'M'), "hello 42", "%s", target_name[t]);
		cr_assert_str_eq(tag(&s.m[1]), "DO");
		seq_free(&s);
		/* Between the statements of a query, in their place. */
		s = pw_query(c, "SELECT 1; DO $$BEGIN RAISE NOTICE 'n'; END$$; SELECT 2");
		seq_expect(&s, "TDCNCTDCZ", 'I');
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/* Every field of an error, as the server gave it. */
Test(pgw_simple, errors_carry_every_field_the_server_gave)
{
	static const char q[] = "DO $$BEGIN RAISE EXCEPTION 'boom' USING DETAIL = "
	    "'the detail', HINT = 'the hint', ERRCODE = '22012'; END$$";
	static const char codes[] = "SVCMDHPpqWstcdnFLR";
	struct t_dbmd	 d;
	struct pw	*c[2];
	struct pw_seq	 s[2];
	const char	*a, *b, *k;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c[t] = pw_target(t);
		s[t] = pw_query(c[t], q);
		seq_expect(&s[t], "EZ", 'I');
		err_expect(&s[t].m[0], "ERROR", "22012");
		cr_assert_str_eq(field(&s[t].m[0], 'M'), "boom");
		cr_assert_str_eq(field(&s[t].m[0], 'D') ?: "", "the detail");
		cr_assert_str_eq(field(&s[t].m[0], 'H') ?: "", "the hint");
	}
	for (k = codes; *k != '\0'; k++) {
		a = field(&s[DIRECT].m[0], *k);
		b = field(&s[FRONT_PG].m[0], *k);
		cr_assert((a == NULL) == (b == NULL), "field %c: the server %s, dbmd %s", *k,
		    a ?: "none", b ?: "none");
		if (a != NULL)
			cr_assert_str_eq(b, a, "field %c", *k);
	}
	for (t = DIRECT; t <= FRONT_PG; t++) {
		seq_free(&s[t]);
		pw_close(c[t]);
	}
	dbmd_end(&d);
}

/* Characters (not bytes) from the start of q to the start of what, plus one. */
static long
char_pos(const char *q, const char *what)
{
	const char	*at = strstr(q, what), *p;
	long		 n = 1;

	cr_assert_not_null(at);
	for (p = q; p < at; p++)
		n += ((uint8_t)*p & 0xc0) != 0x80;
	return n;
}

Test(pgw_simple, an_error_position_in_a_later_statement_counts_from_the_query_start)
{
	static const char q[] = "SELECT 'é'; SELECT * FROM nosuch";
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		*want;
	int		 t;

	both_start(&d);
	want = t_strf("%ld", char_pos(q, "nosuch"));
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		s = pw_query(c, q);
		seq_expect(&s, "TDCEZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "42P01");
		cr_assert_str_eq(field(seq_get(&s, 'E', 0), 'P') ?: "none", want, "%s: P %s, "
		    "not %s", target_name[t], field(seq_get(&s, 'E', 0), 'P') ?: "none", want);
		seq_free(&s);
		pw_close(c);
	}
	free(want);
	dbmd_end(&d);
}

/*
 * A syntax error in a later statement of a query.  PostgreSQL parses the whole query
 * first, so nothing runs; dbmd runs the statements one after another (dbmd(8)), so
 * the earlier ones answer before the error — and, in the implicit transaction, are
 * rolled back all the same.  The position is in the whole query either way.
 */
Test(pgw_simple, a_syntax_error_in_a_later_statement_undoes_the_earlier_ones)
{
	static const char q[] = "CREATE TABLE t (a int); SELECT 'é'; SELEC 2";
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	const struct pw_msg *e;
	char		*want, *v;
	int		 t;

	both_start(&d);
	want = t_strf("%ld", char_pos(q, "SELEC 2"));
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		s = pw_query(c, q);
		seq_expect(&s, t == DIRECT ? "EZ" : "CTDCEZ", 'I');
		e = seq_get(&s, 'E', 0);
		err_expect(e, "ERROR", "42601");
		cr_assert_str_eq(field(e, 'P') ?: "none", want, "%s: P %s, not %s",
		    target_name[t], field(e, 'P') ?: "none", want);
		seq_free(&s);
		v = pw_value(c, "SELECT to_regclass('t') IS NULL");
		cr_assert_str_eq(v, "t");
		free(v);
		pw_close(c);
	}
	free(want);
	dbmd_end(&d);
}

/* The extended query protocol. */

/* Sends what was built and reads up to ReadyForQuery. */
static struct pw_seq
pw_sync(struct pw *c)
{
	m_bare(c, 'S');
	cr_assert_eq(pw_send(c), 0, "the server closed the connection");
	return pw_ready(c);
}

static void
pw_sync_expect_at(int line, struct pw *c, const char *want, char status)
{
	struct pw_seq	 s = pw_sync(c);

	seq_expect_at(line, &s, want, status);
	seq_free(&s);
}

#define pw_sync_expect(c, want, st) pw_sync_expect_at(__LINE__, (c), (want), (st))

Test(pgw_extended, the_unnamed_statement_parse_bind_describe_execute_sync)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	struct pw_col	 col;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "", t == FRONT_SQLITE ? "SELECT $1 + 1 AS n" :
		    "SELECT $1::int4 + 1 AS n", 0, NULL);
		m_bind_text(c, "", "", 1, (const char *[]){ "41" });
		m_describe(c, 'P', "");
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "12TDCZ", 'I');
		col = rowdesc_col(seq_get(&s, 'T', 0), 0);
		cr_assert_str_eq(col.name, "n");
		cr_assert_eq(col.oid, t == FRONT_SQLITE ? 20 : 23, "%s: type %u",
		    target_name[t], col.oid);
		cr_assert_eq(col.format, 0);
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "42");
		cr_assert_str_eq(tag(seq_get(&s, 'C', 0)), "SELECT 1");
		seq_free(&s);
		/* Bound again, it runs again; without Describe there is no RowDescription. */
		m_bind_text(c, "", "", 1, (const char *[]){ "1" });
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "2DCZ", 'I');
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "2");
		seq_free(&s);
		/* Flush sends what is ready without ending the cycle. */
		m_parse(c, "", "SELECT 5", 0, NULL);
		m_bare(c, 'H');
		cr_assert_eq(pw_send(c), 0);
		s = pw_until(c, "1");
		seq_expect(&s, "1", 0);
		seq_free(&s);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		m_bare(c, 'H');
		cr_assert_eq(pw_send(c), 0);
		s = pw_until(c, "C");
		seq_expect(&s, "2DC", 0);
		seq_free(&s);
		pw_sync_expect(c, "Z", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_extended, named_statements_outlive_their_cycle_and_their_portals)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "s1", "SELECT $1 || 'x'", 1, (const uint32_t[]){ 25 });
		pw_sync_expect(c, "1Z", 'I');
		m_bind_text(c, "", "s1", 1, (const char *[]){ "a" });
		m_execute(c, "", 0);
		m_bind_text(c, "p2", "s1", 1, (const char *[]){ "b" });
		m_execute(c, "p2", 0);
		s = pw_sync(c);
		seq_expect(&s, "2DC2DCZ", 'I');
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "ax");
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 1), 0), "bx");
		seq_free(&s);
		/* Portals end with the implicit transaction at Sync. */
		m_execute(c, "p2", 0);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "34000");
		seq_free(&s);
		/* A name in use is refused. */
		m_parse(c, "s1", "SELECT 2", 0, NULL);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "42P05");
		seq_free(&s);
		m_bind_text(c, "", "s1", 1, (const char *[]){ "c" });
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "2DCZ", 'I');
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "cx");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/* The OIDs of a ParameterDescription. */
static void
params_expect_at(int line, const struct pw_msg *m, int n, const uint32_t *oids)
{
	int	 i;

	cr_assert_eq(m->type, 't', "line %d: '%c' is no ParameterDescription", line, m->type);
	cr_assert_eq(get_u16(m->body), n, "line %d: %u parameters, not %d", line,
	    get_u16(m->body), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(get_u32(m->body + 2 + 4 * i), oids[i], "line %d: parameter $%d "
		    "of type %u, not %u", line, i + 1, get_u32(m->body + 2 + 4 * i), oids[i]);
}

#define params_expect(m, n, ...) \
	params_expect_at(__LINE__, (m), (n), (const uint32_t[]){ __VA_ARGS__ })

static void
cols_expect_at(int line, const struct pw_msg *m, int n, const uint32_t *oids)
{
	struct pw_col	 col;
	int		 i;

	cr_assert_eq(m->type, 'T', "line %d: '%c' is no RowDescription", line, m->type);
	cr_assert_eq(ncols(m), n, "line %d: %d columns, not %d", line, ncols(m), n);
	for (i = 0; i < n; i++) {
		col = rowdesc_col(m, i);
		cr_assert_eq(col.oid, oids[i], "line %d: column %s of type %u, not %u", line,
		    col.name, col.oid, oids[i]);
		cr_assert_eq(col.format, 0, "line %d: a statement's columns are described as "
		    "text", line);
	}
}

#define cols_expect(m, n, ...) \
	cols_expect_at(__LINE__, (m), (n), (const uint32_t[]){ __VA_ARGS__ })

Test(pgw_extended, describe_statement_gives_parameter_and_column_types_on_postgresql)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	pq_exec0(pg.check, "CREATE TABLE t (i int4, s text, b bytea, f float8, ts timestamptz, "
	    "n numeric(10,2), u uuid)", 0, NULL);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		m_parse(c, "s", "SELECT $1::int4 AS a, $2::text AS b, $3::bytea AS c", 0, NULL);
		m_describe(c, 'S', "s");
		s = pw_sync(c);
		seq_expect(&s, "1tTZ", 'I');
		params_expect(&s.m[1], 3, 23, 25, 17);
		cols_expect(&s.m[2], 3, 23, 25, 17);
		cr_assert_str_eq(rowdesc_col(&s.m[2], 1).name, "b");
		seq_free(&s);
		/* Types from Parse; an untyped parameter is text; a table's columns. */
		m_parse(c, "s2", "SELECT i, s, b, f, ts, n, u FROM t WHERE i = $1 AND s = $2", 1,
		    (const uint32_t[]){ 20 });
		m_describe(c, 'S', "s2");
		s = pw_sync(c);
		seq_expect(&s, "1tTZ", 'I');
		params_expect(&s.m[1], 2, 20, 25);
		cols_expect(&s.m[2], 7, 23, 25, 17, 701, 1184, 1700, 2950);
		cr_assert_eq(rowdesc_col(&s.m[2], 5).typmod, (10 << 16 | 2) + 4,
		    "%s: numeric(10,2)'s typmod %d", target_name[t],
		    rowdesc_col(&s.m[2], 5).typmod);
		seq_free(&s);
		m_parse(c, "s3", "SELECT $1 AS x", 0, NULL);
		m_describe(c, 'S', "s3");
		s = pw_sync(c);
		seq_expect(&s, "1tTZ", 'I');
		params_expect(&s.m[1], 1, 25);
		cols_expect(&s.m[2], 1, 25);
		seq_free(&s);
		/* What returns no rows: NoData. */
		m_parse(c, "s4", "INSERT INTO t (i) VALUES ($1)", 0, NULL);
		m_describe(c, 'S', "s4");
		m_parse(c, "s5", "CREATE TABLE IF NOT EXISTS u (a int)", 0, NULL);
		m_describe(c, 'S', "s5");
		s = pw_sync(c);
		seq_expect(&s, "1tn1tnZ", 'I');
		params_expect(&s.m[1], 1, 23);
		params_expect(&s.m[4], 0, 0);
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_extended, describe_statement_gives_the_declared_types_on_sqlite)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	pw_query_expect(c, "CREATE TABLE t (i INTEGER, s TEXT, r REAL, b BLOB, f BOOLEAN, "
	    "d DATE, ts TIMESTAMPTZ, n NUMERIC, u UUID, j JSON)", "CZ", 'I');
	m_parse(c, "s", "SELECT i, s, r, b, f, d, ts, n, u, j FROM t WHERE i = $1", 0, NULL);
	m_describe(c, 'S', "s");
	s = pw_sync(c);
	seq_expect(&s, "1tTZ", 'I');
	params_expect(&s.m[1], 1, 25);
	cols_expect(&s.m[2], 10, 20, 25, 701, 17, 16, 1082, 1184, 1700, 2950, 114);
	seq_free(&s);
	m_parse(c, "s2", "SELECT i FROM t WHERE i = $1 AND s = $2", 2,
	    (const uint32_t[]){ 20, 0 });
	m_describe(c, 'S', "s2");
	m_parse(c, "s3", "INSERT INTO t (i, s) VALUES ($1, $2)", 0, NULL);
	m_describe(c, 'S', "s3");
	s = pw_sync(c);
	seq_expect(&s, "1tT1tnZ", 'I');
	params_expect(&s.m[1], 2, 20, 25);
	cols_expect(&s.m[2], 1, 20);
	params_expect(&s.m[4], 2, 25, 25);
	seq_free(&s);
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_extended, describe_portal_before_execute)
{
	static const int16_t bin[] = { 1 };
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	struct pw_col	 col;
	const uint8_t	*v;
	int32_t		 len;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		m_parse(c, "", "SELECT $1::int4 AS a, 'x'::text AS b", 0, NULL);
		m_bind(c, "", "", 0, NULL, 1, (const char *[]){ "7" }, NULL, 1, bin);
		m_describe(c, 'P', "");
		m_bare(c, 'H');
		cr_assert_eq(pw_send(c), 0);
		s = pw_until(c, "T");
		seq_expect(&s, "12T", 0);
		col = rowdesc_col(&s.m[2], 0);
		cr_assert_eq(col.oid, 23);
		cr_assert_eq(col.format, 1, "%s: a portal's Describe gives Bind's formats",
		    target_name[t]);
		cr_assert_eq(rowdesc_col(&s.m[2], 1).format, 1);
		seq_free(&s);
		/* Described again, then executed: the same description, once each. */
		m_describe(c, 'P', "");
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "TDCZ", 'I');
		v = row_val(seq_get(&s, 'D', 0), 0, &len);
		cr_assert(len == 4 && get_u32(v) == 7, "%s: binary int4 of %d bytes",
		    target_name[t], len);
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/*
 * On SQLite, an expression's type is its first value's: the description a portal
 * gives before it runs and the values its Execute sends must still agree.
 */
Test(pgw_extended, a_portal_described_before_execute_agrees_with_its_rows_on_sqlite)
{
	static const int16_t bin[] = { 1 };
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	struct pw_col	 col;
	const uint8_t	*v;
	int32_t		 len;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	m_parse(c, "", "SELECT 41 + 1 AS n", 0, NULL);
	m_bind(c, "", "", 0, NULL, 0, NULL, NULL, 1, bin);
	m_describe(c, 'P', "");
	m_bare(c, 'H');
	cr_assert_eq(pw_send(c), 0);
	s = pw_until(c, "T");
	seq_expect(&s, "12T", 0);
	col = rowdesc_col(&s.m[2], 0);
	seq_free(&s);
	m_execute(c, "", 0);
	s = pw_sync(c);
	seq_expect(&s, "DCZ", 'I');
	v = row_val(seq_get(&s, 'D', 0), 0, &len);
	if (col.oid == 20)
		cr_assert(len == 8 && get_u32(v) == 0 && get_u32(v + 4) == 42,
		    "described int8, sent %d bytes", len);
	else if (col.oid == 25)
		cr_assert(len == 2 && memcmp(v, "42", 2) == 0, "described text, sent %d bytes "
		    "that are not \"42\"", len);
	else
		cr_assert_fail("described as type %u", col.oid);
	seq_free(&s);
	pw_close(c);
	dbmd_end(&d);
}

/* A statement of five rows, 1 to 5, for the target. */
static const char *
five_rows(enum target t)
{
	return t == FRONT_SQLITE ? "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
	    "FROM g WHERE x < 5) SELECT x FROM g" : "SELECT g FROM generate_series(1, 5) g";
}

/* Execute with a row limit: PortalSuspended, and the rest at the next Execute. */
Test(pgw_extended, execute_with_a_row_limit_suspends_the_portal)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t, i;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "five", five_rows(t), 0, NULL);
		m_bind_text(c, "", "five", 0, NULL);
		m_describe(c, 'P', "");
		m_execute(c, "", 2);
		m_execute(c, "", 2);
		m_execute(c, "", 2);
		s = pw_sync(c);
		seq_expect(&s, "12TDDsDDsDCZ", 'I');
		for (i = 0; i < 5; i++)
			cr_assert_eq(atoi(row_text(seq_get(&s, 'D', i), 0)), i + 1);
		seq_free(&s);

		/* Inside a transaction the portal outlives Sync; 0 means all the rest. */
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		m_bind_text(c, "p", "five", 0, NULL);
		m_execute(c, "p", 3);
		pw_sync_expect(c, "2DDDsZ", 'T');
		m_execute(c, "p", 0);
		s = pw_sync(c);
		seq_expect(&s, "DDCZ", 'T');
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 1), 0), "5");
		seq_free(&s);
		/* A limit the rows end at: suspended all the same, then nothing more. */
		m_bind_text(c, "q", "five", 0, NULL);
		m_execute(c, "q", 5);
		pw_sync_expect(c, "2DDDDDsZ", 'T');
		m_execute(c, "q", 5);
		pw_sync_expect(c, "CZ", 'T');
		/* A portal run to its end runs no more. */
		m_execute(c, "q", 5);
		pw_sync_expect(c, "CZ", 'T');
		pw_query_expect(c, "COMMIT", "CZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/* Each Execute's CommandComplete counts the rows that Execute sent, as PostgreSQL's. */
Test(pgw_extended, a_suspended_portals_command_tag_counts_the_last_executes_rows)
{
	static const char *const want[] = { "SELECT 1", "SELECT 2", "SELECT 0" };
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s[3];
	int		 t, i;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		m_parse(c, "five", five_rows(t), 0, NULL);
		m_bind_text(c, "a", "five", 0, NULL);
		m_execute(c, "a", 4);
		m_execute(c, "a", 4);
		s[0] = pw_sync(c);
		seq_expect(&s[0], "12DDDDsDCZ", 'T');
		m_bind_text(c, "b", "five", 0, NULL);
		m_execute(c, "b", 3);
		m_execute(c, "b", 0);
		s[1] = pw_sync(c);
		seq_expect(&s[1], "2DDDsDDCZ", 'T');
		m_bind_text(c, "c", "five", 0, NULL);
		m_execute(c, "c", 5);
		m_execute(c, "c", 1);
		s[2] = pw_sync(c);
		seq_expect(&s[2], "2DDDDDsCZ", 'T');
		for (i = 0; i < 3; i++) {
			cr_assert_str_eq(tag(seq_get(&s[i], 'C', 0)), want[i], "%s: \"%s\", not "
			    "\"%s\"", target_name[t], tag(seq_get(&s[i], 'C', 0)), want[i]);
			seq_free(&s[i]);
		}
		pw_query_expect(c, "COMMIT", "CZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_extended, an_error_skips_everything_up_to_sync)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		/* An error of the execution (PostgreSQL folds 1 / $1 at Bind). */
		m_parse(c, "", t == FRONT_SQLITE ? "SELECT * FROM nosuch WHERE 1 = $1" :
		    "SELECT 1 / (g - $1::int4) FROM generate_series(1, 1) g", 0, NULL);
		m_bind_text(c, "", "", 1, (const char *[]){ "1" });
		m_execute(c, "", 0);
		m_parse(c, "", "SELECT 2", 0, NULL);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		m_query(c, "SELECT 3");
		s = pw_sync(c);
		seq_expect(&s, "12EZ", 'I');
		err_expect(&s.m[2], "ERROR", t == FRONT_SQLITE ? "42P01" : "22012");
		seq_free(&s);
		/* Then everything works again. */
		m_parse(c, "", "SELECT 2", 0, NULL);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		pw_sync_expect(c, "12DCZ", 'I');
		pw_close(c);
	}
	/* In a transaction, the error fails it. */
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		m_parse(c, "", "SELECT 1 / (g - $1::int4) FROM generate_series(1, 1) g", 0, NULL);
		m_bind_text(c, "", "", 1, (const char *[]){ "1" });
		m_execute(c, "", 0);
		pw_sync_expect(c, "12EZ", 'E');
		pw_query_expect(c, "ROLLBACK", "CZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/*
 * A statement that does not parse.  PostgreSQL checks it at Parse; dbmd keeps the
 * client's statements without a server (dbmd(8)), so the error comes with the
 * Execute that runs it, before the same ReadyForQuery, and the statement stays
 * until it is closed.
 */
Test(pgw_extended, a_statement_that_does_not_parse_fails_when_it_runs)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		m_parse(c, "bad", "SELEC 1", 0, NULL);
		m_bind_text(c, "", "bad", 0, NULL);
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, t == DIRECT ? "EZ" : "12EZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "42601");
		seq_free(&s);
		m_parse(c, "", "SELECT * FROM nosuch", 0, NULL);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, t == DIRECT ? "EZ" : "12EZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "42P01");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_extended, close_of_statements_and_portals)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "s", "SELECT 1", 0, NULL);
		pw_sync_expect(c, "1Z", 'I');
		m_close(c, 'S', "s");
		pw_sync_expect(c, "3Z", 'I');
		m_bind_text(c, "", "s", 0, NULL);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		/* Closing what does not exist is no error. */
		m_close(c, 'S', "nosuch");
		m_close(c, 'P', "nosuch");
		pw_sync_expect(c, "33Z", 'I');
		/* A portal closed mid-way. */
		m_parse(c, "", "SELECT 1 UNION ALL SELECT 2", 0, NULL);
		m_bind_text(c, "p", "", 0, NULL);
		m_execute(c, "p", 1);
		m_close(c, 'P', "p");
		m_execute(c, "p", 1);
		s = pw_sync(c);
		seq_expect(&s, "12Ds3EZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "34000");
		seq_free(&s);
		/* The statement a portal came from may be closed; the portal runs on. */
		m_parse(c, "s", "SELECT 3", 0, NULL);
		m_bind_text(c, "", "s", 0, NULL);
		m_close(c, 'S', "s");
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "123DCZ", 'I');
		cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "3");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_extended, bind_and_execute_of_what_does_not_exist)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_bind_text(c, "", "nosuch", 0, NULL);
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		m_execute(c, "nosuch", 0);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "34000");
		seq_free(&s);
		m_describe(c, 'S', "nosuch");
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		m_describe(c, 'P', "nosuch");
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "34000");
		seq_free(&s);
		/* An empty statement is an empty query. */
		m_parse(c, "", "", 0, NULL);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		pw_sync_expect(c, "12IZ", 'I');
		/* Several statements are refused in one Parse. */
		m_parse(c, "", "SELECT 1; SELECT 2", 0, NULL);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "42601");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/* A named statement belongs to the client: it works on whichever connection runs it. */

/* Runs the statement "who" (SELECT pg_backend_pid()) through c; the backend's pid. */
static long
run_who(struct pw *c)
{
	struct pw_seq	 s;
	long		 pid;

	m_bind_text(c, "", "who", 1, (const char *[]){ "5" });
	m_execute(c, "", 0);
	s = pw_sync(c);
	seq_expect(&s, "2DCZ", 0);
	pid = atol(row_text(seq_get(&s, 'D', 0), 0));
	cr_assert_eq(atoi(row_text(seq_get(&s, 'D', 0), 1)), 6);
	seq_free(&s);
	return pid;
}

/* Begins a transaction through the front door; the pid of the connection it holds. */
static long
hold_connection(PGconn *c)
{
	PGresult	*r = PQexec(c, "BEGIN");
	long		 pid;

	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "BEGIN: %s", PQerrorMessage(c));
	PQclear(r);
	r = PQexec(c, "SELECT pg_backend_pid()");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	pid = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return pid;
}

static void
release_connection(PGconn *c)
{
	PGresult	*r = PQexec(c, "COMMIT");

	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "COMMIT: %s", PQerrorMessage(c));
	PQclear(r);
}

Test(pgw_extended, a_named_statement_works_on_another_server_connection)
{
	struct t_dbmd	 d;
	struct pw	*a;
	struct pw_seq	 s;
	PGconn		*b, *x = NULL;
	long		 pid1, pid2, pb, px;
	long long	 left;
	int64_t		 end;

	pgd_start(&d, "production.pool_size=2", NULL);
	a = pw_dbmd("production");
	m_parse(a, "who", "SELECT pg_backend_pid(), $1::int4 + 1", 0, NULL);
	m_describe(a, 'S', "who");
	s = pw_sync(a);
	seq_expect(&s, "1tTZ", 'I');
	seq_free(&s);
	pid1 = run_who(a);

	/* Other clients hold pid1's connection: a's next statement takes the other one. */
	b = pq_front("production", "holder-b");
	pb = hold_connection(b);
	if (pb != pid1) {
		x = pq_front("production", "holder-x");
		px = hold_connection(x);
		cr_assert_eq(px, pid1, "a pool of 2 gave a third connection %ld", px);
		release_connection(b);
	}
	pid2 = run_who(a);
	cr_assert_neq(pid2, pid1, "the statement ran on the same connection again");
	/* In a transaction of its own, and described, there too. */
	pw_query_expect(a, "BEGIN", "CZ", 'T');
	cr_assert_eq(run_who(a), pid2);
	m_describe(a, 'S', "who");
	s = pw_sync(a);
	seq_expect(&s, "tTZ", 'T');
	params_expect(&s.m[0], 1, 23);
	seq_free(&s);
	pw_query_expect(a, "COMMIT", "CZ", 'I');

	/* Then back on the first connection, once it is the only free one. */
	if (x != NULL) {
		release_connection(x);
		PQfinish(x);
		pb = hold_connection(b);
	}
	if (pb == pid2)
		cr_assert_eq(run_who(a), pid1);
	PQfinish(b);
	/*
	 * Nothing is left in a transaction on the server's connections once dbmd has
	 * rolled back the one b held when it left (which it does after b has gone).
	 */
	end = t_now_ms() + 5000LL * t_slow();
	while ((left = pq_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = $1 AND state = 'idle in transaction'", 1,
	    (const char *[]){ pg.db })) != 0 && t_now_ms() < end)
		t_sleep_ms(20);
	cr_assert_eq(left, 0, "%lld sessions left idle in transaction", left);
	pw_close(a);
	dbmd_end(&d);
}

Test(pgw_extended, a_client_keeps_at_most_10000_prepared_statements)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		 name[32], sql[64], want[1002];
	int		 batch, i;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	memset(want, '1', 1000);
	want[1000] = 'Z';
	want[1001] = '\0';
	for (batch = 0; batch < 10; batch++) {
		for (i = 0; i < 1000; i++) {
			snprintf(name, sizeof(name), "s%d", batch * 1000 + i);
			snprintf(sql, sizeof(sql), "SELECT %d", batch * 1000 + i);
			m_parse(c, name, sql, 0, NULL);
		}
		s = pw_sync(c);
		seq_expect(&s, want, 'I');
		seq_free(&s);
	}
	m_parse(c, "one_more", "SELECT 1", 0, NULL);
	s = pw_sync(c);
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "53400");
	seq_free(&s);
	/* The unnamed statement replaces itself: no more of them. */
	m_parse(c, "", "SELECT 1", 0, NULL);
	s = pw_sync(c);
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "53400");
	seq_free(&s);
	m_bind_text(c, "", "s9999", 0, NULL);
	m_execute(c, "", 0);
	s = pw_sync(c);
	seq_expect(&s, "2DCZ", 'I');
	cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "9999");
	seq_free(&s);
	m_close(c, 'S', "s0");
	m_parse(c, "one_more", "SELECT 1", 0, NULL);
	pw_sync_expect(c, "31Z", 'I');
	pw_close(c);
	dbmd_end(&d);
}

/* Types in binary. */

static void
be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

static void
be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

/* Parameters in binary: int4, int8, text, bytea, bool, float8, uuid, timestamptz. */
#define NBIN	8
static const Oid bin_types[NBIN] = { 23, 20, 25, 17, 16, 701, 2950, 1184 };
static const uint8_t bin_uuid[16] = { 0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb,
    0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11 };

struct binparams {
	uint8_t		 i4[4], i8[8], by[3], bo[1], f8[8], ts[8];
	const char	*values[NBIN];
	int		 lens[NBIN];
	int		 formats[NBIN];
};

static void
binparams_init(struct binparams *b)
{
	double		 f = 1.5;
	uint64_t	 u;
	int		 i;

	be32(b->i4, 42);
	be64(b->i8, (uint64_t)INT64_C(-9000000000));
	memcpy(b->by, "\x00\xff\x10", 3);
	b->bo[0] = 1;
	memcpy(&u, &f, 8);
	be64(b->f8, u);
	/* 2024-02-29 12:34:56.789 UTC, in microseconds from 2000-01-01. */
	be64(b->ts, (uint64_t)INT64_C(762525296789000));
	b->values[0] = (const char *)b->i4;
	b->values[1] = (const char *)b->i8;
	b->values[2] = "h\xc3\xa9llo";
	b->values[3] = (const char *)b->by;
	b->values[4] = (const char *)b->bo;
	b->values[5] = (const char *)b->f8;
	b->values[6] = (const char *)bin_uuid;
	b->values[7] = (const char *)b->ts;
	b->lens[0] = 4, b->lens[1] = 8, b->lens[2] = 6, b->lens[3] = 3, b->lens[4] = 1;
	b->lens[5] = 8, b->lens[6] = 16, b->lens[7] = 8;
	for (i = 0; i < NBIN; i++)
		b->formats[i] = 1;
}

/* A statement through libpq that must succeed; the caller clears the result. */
static PGresult *
pq_params(PGconn *c, const char *sql, int n, const Oid *types, const char *const *values,
    const int *lens, const int *formats, int resfmt)
{
	PGresult	*r = PQexecParams(c, sql, n, types, values, lens, formats, resfmt);

	cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
	    "%s: %s", sql, PQresultErrorMessage(r));
	return r;
}

/* Binary values bound through the raw protocol, typed at Parse, a NULL among them. */
static void
binparams_raw(enum target t, const struct binparams *b)
{
	static const int16_t fmts[] = { 1, 1, 1 };
	struct pw	*c = pw_target(t);
	struct pw_seq	 s;

	m_parse(c, "", t == FRONT_SQLITE ? "SELECT $1 + 1, $2 IS NULL, hex($3)" :
	    "SELECT $1 + 1, $2 IS NULL, $3", 3, (const uint32_t[]){ 23, 25, 17 });
	m_bind(c, "", "", 3, fmts, 3, (const char *[]){ b->values[0], NULL, b->values[3] },
	    (const int[]){ b->lens[0], 0, b->lens[3] }, 0, NULL);
	m_execute(c, "", 0);
	s = pw_sync(c);
	seq_expect(&s, "12DCZ", 'I');
	cr_assert_str_eq(row_text(&s.m[2], 0), "43");
	cr_assert_str_eq(row_text(&s.m[2], 1), t == FRONT_SQLITE ? "1" : "t");
	cr_assert_str_eq(row_text(&s.m[2], 2), t == FRONT_SQLITE ? "00FF10" : "\\x00ff10");
	seq_free(&s);
	pw_close(c);
}

Test(pgw_types, binary_parameters_on_postgresql_read_as_the_server_reads_them)
{
	static const char q[] = "SELECT $1, $2, $3, $4, $5, $6, $7, $8, pg_typeof($8)::text";
	static const char *const want[] = { "42", "-9000000000", "h\xc3\xa9llo", "\\x00ff10",
	    "t", "1.5", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" };
	struct binparams b;
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r[2];
	int		 i;

	binparams_init(&b);
	both_start(&d);
	c = pq_front("production", "binparams");
	r[0] = pq_params(pg.check, q, NBIN, bin_types, b.values, b.lens, b.formats, 0);
	r[1] = pq_params(c, q, NBIN, bin_types, b.values, b.lens, b.formats, 0);
	for (i = 0; i < NBIN + 1; i++) {
		cr_assert_str_eq(PQgetvalue(r[1], 0, i), PQgetvalue(r[0], 0, i), "$%d: dbmd "
		    "\"%s\", the server \"%s\"", i + 1, PQgetvalue(r[1], 0, i),
		    PQgetvalue(r[0], 0, i));
		cr_assert_eq(PQftype(r[1], i), PQftype(r[0], i));
		if (i < 7)
			cr_assert_str_eq(PQgetvalue(r[1], 0, i), want[i]);
	}
	PQclear(r[0]);
	PQclear(r[1]);
	PQfinish(c);
	binparams_raw(FRONT_PG, &b);
	dbmd_end(&d);
}

Test(pgw_types, binary_parameters_on_sqlite_are_stored_as_their_values)
{
	static const char *const want[] = { "42", "-9000000000", "h\xc3\xa9llo", "00FF10",
	    "t", "1.5", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" };
	struct binparams b;
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r;
	uint8_t		 i4as8[8];
	int		 i;

	binparams_init(&b);
	sq_start(&d, NULL);
	c = pq_front("test", "binparams");
	PQclear(pq_params(c, "CREATE TABLE t (i4 INTEGER, i8 INTEGER, tx TEXT, by BLOB, "
	    "bo BOOLEAN, f8 REAL, u UUID, ts TIMESTAMPTZ)", 0, NULL, NULL, NULL, NULL, 0));
	PQclear(pq_params(c, "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", NBIN,
	    bin_types, b.values, b.lens, b.formats, 0));
	r = pq_params(c, "SELECT i4, i8, tx, hex(by), bo, f8, u, typeof(i4), typeof(i8), "
	    "typeof(by), typeof(f8) FROM t", 0, NULL, NULL, NULL, NULL, 0);
	for (i = 0; i < 7; i++)
		cr_assert_str_eq(PQgetvalue(r, 0, i), want[i], "column %d: \"%s\", not \"%s\"",
		    i + 1, PQgetvalue(r, 0, i), want[i]);
	cr_assert_str_eq(PQgetvalue(r, 0, 7), "integer");
	cr_assert_str_eq(PQgetvalue(r, 0, 8), "integer");
	cr_assert_str_eq(PQgetvalue(r, 0, 9), "blob");
	cr_assert_str_eq(PQgetvalue(r, 0, 10), "real");
	PQclear(r);
	/* In binary they come back as they went, int4 as SQLite's int8. */
	r = pq_params(c, "SELECT i4, i8, tx, by, bo, f8, u, ts FROM t", 0, NULL, NULL, NULL,
	    NULL, 1);
	be64(i4as8, 42);
	cr_assert_eq(PQftype(r, 0), 20);
	cr_assert(PQgetlength(r, 0, 0) == 8 && memcmp(PQgetvalue(r, 0, 0), i4as8, 8) == 0);
	for (i = 1; i < NBIN; i++) {
		cr_assert_eq(PQftype(r, i), bin_types[i], "column %d of type %u", i + 1,
		    PQftype(r, i));
		cr_assert_eq(PQgetlength(r, 0, i), b.lens[i], "column %d: %d bytes, not %d",
		    i + 1, PQgetlength(r, 0, i), b.lens[i]);
		cr_assert(memcmp(PQgetvalue(r, 0, i), b.values[i], (size_t)b.lens[i]) == 0,
		    "column %d came back changed", i + 1);
	}
	PQclear(r);
	/* An undeclared binary parameter is a blob. */
	r = pq_params(c, "SELECT typeof($1), hex($1)", 1, NULL, (const char *[]){ "ab" },
	    (const int[]){ 2 }, (const int[]){ 1 }, 0);
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "blob");
	cr_assert_str_eq(PQgetvalue(r, 0, 1), "6162");
	PQclear(r);
	/* A malformed one is refused. */
	r = PQexecParams(c, "SELECT $1", 1, (const Oid[]){ 23 }, (const char *[]){ "ab" },
	    (const int[]){ 2 }, (const int[]){ 1 }, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	PQfinish(c);
	binparams_raw(FRONT_SQLITE, &b);
	dbmd_end(&d);
}

/* Values of every type dbmd converts, for the server and dbmd to send in binary. */
static const char binary_results_q[] =
    "SELECT 42::int4, (-32768)::int2, (-9223372036854775808)::int8, 4294967295::oid, "
    "true, false, 1.5::float4, 'NaN'::float4, (-0.0)::float8, 0.1::float8, "
    "1e308::float8, '-Infinity'::float8, 'h\xc3\xa9llo'::text, 'ab'::varchar(5), "
    "'ab'::char(5), 'nm'::name, 'x'::\"char\", '\\x00ff10'::bytea, ''::bytea, "
    "'{\"a\": 1, \"b\": [true, null]}'::json, '{\"b\": [1, 2], \"a\": \"x\"}'::jsonb, "
    "'2024-02-29'::date, '0044-03-15 BC'::date, '-infinity'::date, "
    "'23:59:59.999999'::time, '1999-12-31 23:59:59.5'::timestamp, "
    "'infinity'::timestamp, '2024-02-29 12:34:56.789+05:30'::timestamptz, "
    "'1900-01-01 00:00:00+00'::timestamptz, "
    "'1 year 2 mons 3 days 04:05:06.789'::interval, '-1 days +02:00'::interval, "
    "0::numeric, (-0.000123)::numeric, "
    "123456789012345678901234567890.123456789::numeric, 'NaN'::numeric, "
    "'Infinity'::numeric, 1.50::numeric, 1e-20::numeric, 10000::numeric, "
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL::int4, NULL::text";

Test(pgw_types, binary_results_are_the_bytes_postgresql_sends)
{
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r[2];
	int		 i, n;

	both_start(&d);
	c = pq_front("production", "binresults");
	r[0] = pq_params(pg.check, binary_results_q, 0, NULL, NULL, NULL, NULL, 1);
	r[1] = pq_params(c, binary_results_q, 0, NULL, NULL, NULL, NULL, 1);
	n = PQnfields(r[0]);
	cr_assert_eq(PQnfields(r[1]), n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(PQftype(r[1], i), PQftype(r[0], i), "column %d: type %u, not %u",
		    i + 1, PQftype(r[1], i), PQftype(r[0], i));
		cr_assert_eq(PQfformat(r[1], i), 1, "column %d not in binary", i + 1);
		cr_assert_eq(PQfmod(r[1], i), PQfmod(r[0], i), "column %d: typmod", i + 1);
		cr_assert_eq(PQgetisnull(r[1], 0, i), PQgetisnull(r[0], 0, i));
		cr_assert_eq(PQgetlength(r[1], 0, i), PQgetlength(r[0], 0, i), "column %d (type "
		    "%u): %d bytes, not %d", i + 1, PQftype(r[0], i), PQgetlength(r[1], 0, i),
		    PQgetlength(r[0], 0, i));
		cr_assert(memcmp(PQgetvalue(r[1], 0, i), PQgetvalue(r[0], 0, i),
		    (size_t)PQgetlength(r[0], 0, i)) == 0, "column %d (type %u): other bytes",
		    i + 1, PQftype(r[0], i));
	}
	PQclear(r[0]);
	PQclear(r[1]);
	PQfinish(c);
	dbmd_end(&d);
}

Test(pgw_types, binary_results_of_other_types_are_refused_and_the_client_goes_on)
{
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r;

	both_start(&d);
	c = pq_front("production", "binarray");
	r = PQexecParams(c, "SELECT ARRAY[1, 2]::int4[]", 0, NULL, NULL, NULL, NULL, 1);
	cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s", PQresStatus(PQresultStatus(r)));
	cr_assert_str_eq(pq_state(r), "0A000");
	PQclear(r);
	r = PQexecParams(c, "SELECT ARRAY[1, 2]::int4[]", 0, NULL, NULL, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "{1,2}");
	PQclear(r);
	PQfinish(c);
	dbmd_end(&d);
}

/* libpq's own ways: prepared statements, their description, one row at a time. */
Test(pgw_types, libpq_prepare_describe_execute_and_single_row_mode)
{
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r;
	const char	*db;
	int		 t, n;

	both_start(&d);
	for (t = FRONT_PG; t <= FRONT_SQLITE; t++) {
		db = t == FRONT_PG ? "production" : "test";
		c = pq_front(db, "libpq");
		r = PQprepare(c, "add", t == FRONT_PG ? "SELECT $1::int4 + $2 AS sum" :
		    "SELECT $1 + $2 AS sum", 2, (const Oid[]){ 23, 23 });
		cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", db, PQerrorMessage(c));
		PQclear(r);
		r = PQdescribePrepared(c, "add");
		cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", db, PQerrorMessage(c));
		cr_assert_eq(PQnparams(r), 2);
		cr_assert_eq(PQparamtype(r, 0), 23);
		cr_assert_eq(PQparamtype(r, 1), 23);
		cr_assert_eq(PQnfields(r), 1);
		cr_assert_str_eq(PQfname(r, 0), "sum");
		PQclear(r);
		r = PQexecPrepared(c, "add", 2, (const char *[]){ "40", "2" }, NULL, NULL, 0);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", db, PQerrorMessage(c));
		cr_assert_str_eq(PQgetvalue(r, 0, 0), "42");
		PQclear(r);
		r = PQexecPrepared(c, "nosuch", 0, NULL, NULL, NULL, 0);
		cr_assert_str_eq(pq_state(r), "26000");
		PQclear(r);

		cr_assert_eq(PQsendQueryParams(c, t == FRONT_PG ?
		    "SELECT g FROM generate_series(1, $1::int4) g" :
		    "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE "
		    "x < CAST($1 AS INTEGER)) SELECT x FROM g", 1, NULL,
		    (const char *[]){ "1000" }, NULL, NULL, 0), 1, "%s", PQerrorMessage(c));
		cr_assert_eq(PQsetSingleRowMode(c), 1);
		for (n = 0; (r = PQgetResult(c)) != NULL && PQresultStatus(r) ==
		    PGRES_SINGLE_TUPLE; n++) {
			cr_assert_eq(atoi(PQgetvalue(r, 0, 0)), n + 1);
			PQclear(r);
		}
		cr_assert_eq(n, 1000, "%s: %d single rows", db, n);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", db, PQerrorMessage(c));
		PQclear(r);
		cr_assert_null(PQgetResult(c));
		PQfinish(c);
	}
	dbmd_end(&d);
}

/* Pooling. */

/* What leaves session state behind, refused in transaction pooling. */
static const char *const session_state[] = {
	"LISTEN ch",
	"SET search_path = x",
	"SET SESSION statement_timeout = '5s'",
	"PREPARE p AS SELECT 1",
	"DECLARE c CURSOR WITH HOLD FOR SELECT 1",
	"SELECT pg_advisory_lock(1)",
	"SELECT pg_try_advisory_lock_shared(1)",
	"CREATE TEMP TABLE tt (a int)",
	"CREATE TEMPORARY TABLE tt (a int)",
	"SELECT 1 AS a INTO TEMP tt",
	"SELECT set_config('search_path', 'x', false)",
};

/* The locks of the test's own database: other tests run beside it on the server. */
#define PW_THIS_DB	" AND database = (SELECT oid FROM pg_database WHERE datname = " \
	"current_database())"

Test(pgw_pooling, session_state_is_refused_in_transaction_pooling)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		*v;
	size_t		 i;

	pgd_start(&d, NULL);
	c = pw_dbmd("production");
	for (i = 0; i < sizeof(session_state) / sizeof(session_state[0]); i++) {
		s = pw_query(c, session_state[i]);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "0A000");
		cr_assert_not_null(field(&s.m[0], 'H'), "%s: no hint", session_state[i]);
		seq_free(&s);
		/* Through the extended protocol too. */
		m_parse(c, "", session_state[i], 0, NULL);
		m_bind_text(c, "", "", 0, NULL);
		m_execute(c, "", 0);
		s = pw_sync(c);
		cr_assert(s.n >= 2 && strcmp(s.types + s.n - 2, "EZ") == 0 &&
		    strchr(s.types, 'C') == NULL, "%s: \"%s\"", session_state[i], s.types);
		err_expect(seq_get(&s, 'E', 0), "ERROR", "0A000");
		seq_free(&s);
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	}
	/* Nothing of it reached the server. */
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory'" PW_THIS_DB, 0, NULL), 0);
	/* What lasts only as long as a transaction works in one. */
	pw_query_expect(c, "BEGIN", "CZ", 'T');
	pw_query_expect(c, "SET LOCAL search_path = x", "CZ", 'T');
	v = pw_value(c, "SHOW search_path");
	cr_assert_str_eq(v, "x");
	free(v);
	pw_query_expect(c, "SELECT pg_advisory_xact_lock(1)", "TDCZ", 'T');
	pw_query_expect(c, "CREATE TEMP TABLE tt (a int) ON COMMIT DROP", "CZ", 'T');
	pw_query_expect(c, "INSERT INTO tt VALUES (1)", "CZ", 'T');
	pw_query_expect(c, "DECLARE c CURSOR FOR SELECT 1", "CZ", 'T');
	pw_query_expect(c, "FETCH c", "TDCZ", 'T');
	pw_query_expect(c, "ROLLBACK", "CZ", 'I');
	pw_query_expect(c, "BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; COMMIT",
	    "CCCZ", 'I');
	/* SQLite has no such state: nothing is refused there. */
	pw_close(c);
	c = pw_dbmd("test");
	pw_query_expect(c, "CREATE TEMP TABLE tt (a int)", "CZ", 'I');
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_pooling, session_pooling_keeps_one_connection_for_the_clients_life)
{
	struct t_dbmd	 d;
	struct pw	*c;
	char		*v, *pid;

	pgd_start(&d, "production.pool_mode=session", NULL);
	c = pw_dbmd("production");
	pid = pw_value(c, "SELECT pg_backend_pid()");
	pw_query_expect(c, "LISTEN ch", "CZ", 'I');
	pw_query_expect(c, "SET search_path = x, public", "CZ", 'I');
	v = pw_value(c, "SHOW search_path");
	cr_assert_str_eq(v, "x, public");
	free(v);
	pw_query_expect(c, "PREPARE p AS SELECT 2", "CZ", 'I');
	v = pw_value(c, "EXECUTE p");
	cr_assert_str_eq(v, "2");
	free(v);
	pw_query_expect(c, "DECLARE c CURSOR WITH HOLD FOR SELECT 3", "CZ", 'I');
	v = pw_value(c, "FETCH c");
	cr_assert_str_eq(v, "3");
	free(v);
	pw_query_expect(c, "SELECT pg_advisory_lock(7)", "TDCZ", 'I');
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory' AND objid = 7" PW_THIS_DB, 0, NULL), 1);
	pw_query_expect(c, "CREATE TEMP TABLE tt (a int)", "CZ", 'I');
	pw_query_expect(c, "INSERT INTO tt VALUES (1)", "CZ", 'I');
	v = pw_value(c, "SELECT count(*) FROM tt");
	cr_assert_str_eq(v, "1");
	free(v);
	v = pw_value(c, "SELECT pg_backend_pid()");
	cr_assert_str_eq(v, pid, "the client moved from connection %s to %s", pid, v);
	free(v);
	/* Its end ends the session state with it. */
	pw_close(c);
	cr_assert_eq(pq_wait_num(pg.check, "SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory'" PW_THIS_DB, 0), 0, "the client's advisory lock outlived it");
	free(pid);
	dbmd_end(&d);
}

/* LISTEN in session pooling is for hearing NOTIFY: the notification reaches the client. */
Test(pgw_pooling, a_listener_in_session_pooling_gets_notifications)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	const struct pw_msg *a;
	int		 t;

	pgd_start(&d, "production.pool_mode=session", NULL);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "LISTEN ch", "CZ", 'I');
		pq_exec0(pg.check, "NOTIFY ch, 'payload'", 0, NULL);
		/* PostgreSQL sends it to an idle client at once; here, by the next reply. */
		m_query(c, "SELECT 1");
		cr_assert_eq(pw_send(c), 0);
		s = pw_ready(c);
		cr_assert_not_null(strchr(s.types, 'A'), "%s: no NotificationResponse in \"%s\"",
		    target_name[t], s.types);
		a = seq_get(&s, 'A', 0);
		cr_assert_str_eq((const char *)a->body + 4, "ch");
		cr_assert_str_eq((const char *)a->body + 4 + 3, "payload");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/*
 * A setting the server reports (GUC_REPORT) changed by the client in session pooling.
 * PostgreSQL sends a ParameterStatus; dbmd does not pass on the server's (its libpq
 * takes them: dbmd(8)), and the setting itself takes effect.
 */
Test(pgw_pooling, a_reported_setting_changed_in_session_pooling_takes_effect)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	const struct pw_msg *m;
	char		*v;
	int		 t;

	pgd_start(&d, "production.pool_mode=session", NULL);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		s = pw_query(c, "SET application_name = 'renamed'");
		seq_expect(&s, t == DIRECT ? "CSZ" : "CZ", 'I');
		if (t == DIRECT) {
			m = seq_get(&s, 'S', 0);
			cr_assert_str_eq((const char *)m->body, "application_name");
		}
		seq_free(&s);
		v = pw_value(c, "SHOW application_name");
		cr_assert_str_eq(v, "renamed");
		free(v);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_pooling, set_dbmd_cache_max_age_makes_reads_cache_hits)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	long long	 hits;

	pgd_start(&d, NULL);
	c = pw_dbmd("production");
	pw_query_expect(c, "CREATE TABLE t (a int); INSERT INTO t VALUES (7)", "CCZ", 'I');
	hits = cache_hits(&d, "production");
	/* Off by default. */
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	cr_assert_eq(cache_hits(&d, "production"), hits);
	s = pw_query(c, "SET dbmd.cache_max_age = '10s'");
	seq_expect(&s, "CZ", 'I');
	cr_assert_str_eq(tag(&s.m[0]), "SET");
	seq_free(&s);
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	s = pw_query(c, "SELECT a FROM t");
	seq_expect(&s, "TDCZ", 'I');
	cr_assert_str_eq(row_text(seq_get(&s, 'D', 0), 0), "7");
	seq_free(&s);
	cr_assert_eq(cache_hits(&d, "production"), hits + 1, "the second read was no hit");
	/* Through the extended protocol, with a parameter, too. */
	m_parse(c, "r", "SELECT a FROM t WHERE a = $1", 0, NULL);
	m_bind_text(c, "", "r", 1, (const char *[]){ "7" });
	m_execute(c, "", 0);
	m_bind_text(c, "", "r", 1, (const char *[]){ "7" });
	m_execute(c, "", 0);
	pw_sync_expect(c, "12DC2DCZ", 'I');
	cr_assert_eq(cache_hits(&d, "production"), hits + 2);
	/* Not in a transaction, and not once it is 0 again. */
	pw_query_expect(c, "BEGIN; SELECT a FROM t; COMMIT", "CTDCCZ", 'I');
	pw_query_expect(c, "SET dbmd.cache_max_age TO 0", "CZ", 'I');
	pw_query_expect(c, "SELECT a FROM t", "TDCZ", 'I');
	cr_assert_eq(cache_hits(&d, "production"), hits + 2);
	s = pw_query(c, "SET dbmd.cache_max_age = 'a while'");
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "22023");
	seq_free(&s);
	pw_close(c);
	dbmd_end(&d);
}

/* Cancel. */

/* Waits until the client listed with this application name is running a statement. */
static void
wait_client_active(const struct t_dbmd *d, const char *app)
{
	int64_t		 end = t_now_ms() + 5000LL * t_slow();
	dbm_conn	*c = t_connect(d);
	dbm_result	*r;
	int		 i, active = 0;

	while (!active) {
		cr_assert_lt(t_now_ms(), end, "the client %s never ran its statement", app);
		r = dbm_clients(c);
		cr_assert(r != NULL && dbm_result_status(r) == DBM_OK);
		for (i = 0; i < dbm_nrows(r); i++)
			if (strcmp(dbm_value(r, i, dbm_colnum(r, "name")), app) == 0 &&
			    strcmp(dbm_value(r, i, dbm_colnum(r, "state")), "active") == 0)
				active = 1;
		dbm_result_free(r);
		if (!active)
			t_sleep_ms(10);
	}
	dbm_disconnect(c);
}

Test(pgw_cancel, pqcancel_cancels_the_running_statement)
{
	struct t_dbmd	 d;
	PGconn		*c;
	PGcancel	*k;
	PGresult	*r;
	char		 err[256];
	int64_t		 t0;

	pgd_start(&d, NULL);
	c = pq_front("production", "canceled");
	cr_assert_eq(PQsendQuery(c, "SELECT pg_sleep(30)"), 1);
	cr_assert_neq(pq_wait_active(pg.check, pg.db, "SELECT pg_sleep%", 5000), 0);
	t0 = t_now_ms();
	k = PQgetCancel(c);
	cr_assert_not_null(k);
	cr_assert_eq(PQcancel(k, err, sizeof(err)), 1, "PQcancel: %s", err);
	PQfreeCancel(k);
	r = PQgetResult(c);
	cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s", PQresStatus(PQresultStatus(r)));
	cr_assert_str_eq(pq_state(r), "57014", "%s", PQresultErrorMessage(r));
	PQclear(r);
	cr_assert_null(PQgetResult(c));
	cr_assert_lt(t_now_ms() - t0, 5000LL * t_slow(), "the cancel took too long");
	/* The server stops it too. */
	cr_assert_eq(pq_wait_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = current_database() AND state = 'active' AND query LIKE "
	    "'SELECT pg_sleep%'", 0), 0, "the statement runs on on the server");
	r = PQexec(c, "SELECT 1");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	dbmd_end(&d);
}

/* A CancelRequest on a connection of its own; dbmd closes it without a word. */
static void
send_cancel(uint32_t pid, uint32_t key)
{
	char		*path = front_path();
	struct pw	*k = pw_connect(path);
	struct pw_seq	 s;

	m_cancel(k, pid, key);
	cr_assert_eq(pw_send(k), 0);
	s = pw_until_close(k);
	seq_expect(&s, "", 0);
	seq_free(&s);
	pw_free(k);
	free(path);
}

/* Whether the client listed with this application name is running a statement now. */
static int
client_active(const struct t_dbmd *d, const char *app)
{
	dbm_conn	*c = t_connect(d);
	dbm_result	*r = dbm_clients(c);
	int		 i, active = 0;

	cr_assert(r != NULL && dbm_result_status(r) == DBM_OK);
	for (i = 0; i < dbm_nrows(r); i++)
		if (strcmp(dbm_value(r, i, dbm_colnum(r, "name")), app) == 0 &&
		    strcmp(dbm_value(r, i, dbm_colnum(r, "state")), "active") == 0)
			active = 1;
	dbm_result_free(r);
	dbm_disconnect(c);
	return active;
}

Test(pgw_cancel, only_the_right_key_cancels)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = FRONT_PG; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_query(c, t == FRONT_PG ? "SELECT pg_sleep(30)" :
		    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
		    "SELECT count(*) FROM c");
		cr_assert_eq(pw_send(c), 0);
		wait_client_active(&d, "pgwire-test");
		/* Each is served when dbmd closes its connection: the statement runs on. */
		send_cancel(c->pid, c->key ^ 1);
		send_cancel(c->pid, ~c->key);
		send_cancel(c->pid + 1000, c->key);
		cr_assert(client_active(&d, "pgwire-test"), "%s: a wrong key ended the "
		    "statement", target_name[t]);
		cr_assert_eq(pw_next(c, 100), -1, "%s: '%c' came after a wrong key",
		    target_name[t], c->m.type);

		send_cancel(c->pid, c->key);
		s = pw_ready(c);
		cr_assert(strcmp(s.types, "EZ") == 0 || strcmp(s.types, "TEZ") == 0,
		    "%s: \"%s\"", target_name[t], s.types);
		err_expect(seq_get(&s, 'E', 0), "ERROR", "57014");
		cr_assert_eq(c->status, 'I');
		seq_free(&s);
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/* Hostile and broken clients. */

/* Sends raw bytes as they are. */
static void
pw_send_raw(struct pw *c, const void *p, size_t n)
{
	out_add(c, p, n);
	cr_assert_eq(pw_send(c), 0, "the server closed the connection");
}

/* The connection must close, after at most one FATAL ErrorResponse of the SQLSTATE. */
static void
closed_at(int line, struct pw *c, const char *sqlstate)
{
	struct pw_seq	 s = pw_until_close(c);

	cr_assert(s.n <= 1, "line %d: \"%s\" before the close", line, s.types);
	if (s.n == 1)
		err_expect_at(line, &s.m[0], "FATAL", sqlstate);
	seq_free(&s);
}

#define closed(c, state) closed_at(__LINE__, (c), (state))

/* dbmd still serves: a new client's query is answered. */
static void
still_serving(const char *db)
{
	struct pw	*c = pw_dbmd(db);

	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
}

Test(pgw_hostile, a_message_length_under_4_is_fatal)
{
	struct t_dbmd	 d;
	struct pw	*c;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	pw_send_raw(c, "Q\0\0\0\3", 5);
	closed(c, "08P01");
	pw_free(c);
	c = pw_dbmd("test");
	pw_send_raw(c, "S\0\0\0\0", 5);
	closed(c, "08P01");
	pw_free(c);
	still_serving("test");
	dbmd_end(&d);
}

/* Sends a message of type with a body of n bytes of 'x', header and all, while dbmd reads. */
static void
send_huge(struct pw *c, char type, size_t n)
{
	size_t	 at = msg_begin(c, type);
	char	*body = malloc(n);

	cr_assert_not_null(body);
	memset(body, 'x', n);
	out_add(c, body, n);
	msg_end(c, at);
	free(body);
	cr_assert_eq(pw_send(c), 0, "dbmd closed the connection");
}

/*
 * A message over daemon.max_frame_size: dropped as it arrives, answered with 54000,
 * and the connection goes on.
 */
Test(pgw_hostile, a_message_over_max_frame_size_is_dropped_with_54000)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		*q;
	size_t		 n = 900 * 1024;

	sq_start(&d, (const char *[]){ "daemon.max_frame_size=1M", NULL });
	c = pw_dbmd("test");
	/* A Query: its error, then ReadyForQuery. */
	send_huge(c, 'Q', 2u << 20);
	s = pw_ready(c);
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "54000");
	seq_free(&s);
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	/* Extended: the error, and the rest skipped up to Sync. */
	send_huge(c, 'P', 3u << 20);
	m_bind_text(c, "", "", 0, NULL);
	m_execute(c, "", 0);
	s = pw_sync(c);
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "54000");
	seq_free(&s);
	/* One that fits is served. */
	q = malloc(n + 64);
	cr_assert_not_null(q);
	strcpy(q, "SELECT length('");
	memset(q + strlen(q), 'x', n);
	strcpy(q + 15 + n, "')");
	s = pw_query(c, q);
	seq_expect(&s, "TDCZ", 'I');
	cr_assert_eq(atol(row_text(seq_get(&s, 'D', 0), 0)), (long)n);
	seq_free(&s);
	free(q);
	pw_close(c);
	still_serving("test");
	dbmd_end(&d);
}

Test(pgw_hostile, an_unknown_message_type_is_fatal_08p01)
{
	struct t_dbmd	 d;
	struct pw	*c;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_bare(c, 'z');
		cr_assert_eq(pw_send(c), 0);
		refused(c, "08P01");
		pw_free(c);
	}
	still_serving("test");
	dbmd_end(&d);
}

/*
 * A message whose length is right but whose content ends early: PostgreSQL answers
 * ERROR 08P01, skips to Sync, and the connection goes on.
 */
Test(pgw_hostile, a_message_whose_content_ends_early_is_an_error)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	size_t		 at;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		m_parse(c, "s", "SELECT $1::int4, $2::int4", 0, NULL);
		pw_sync_expect(c, "1Z", 'I');
		/* A Bind of two values that holds one. */
		at = msg_begin(c, 'B');
		out_str(c, "");
		out_str(c, "s");
		out_u16(c, 0);
		out_u16(c, 2);
		out_u32(c, 1);
		out_u8(c, '1');
		msg_end(c, at);
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "08P01");
		seq_free(&s);
		/* An Execute without its row limit. */
		at = msg_begin(c, 'E');
		out_str(c, "");
		msg_end(c, at);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "08P01");
		seq_free(&s);
		/* A Parse whose text is not terminated. */
		at = msg_begin(c, 'P');
		out_str(c, "");
		out_add(c, "SELECT 1", 8);
		msg_end(c, at);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "08P01");
		seq_free(&s);
		/* A Describe of neither a statement nor a portal. */
		m_describe(c, 'X', "");
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "08P01");
		seq_free(&s);
		/* A Query whose text is not terminated. */
		at = msg_begin(c, 'Q');
		out_add(c, "SELECT 1", 8);
		msg_end(c, at);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "08P01");
		seq_free(&s);
		s = pw_ready(c);
		seq_expect(&s, "Z", 'I');
		seq_free(&s);
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/* Half a message, then gone: nothing is left waiting for the rest. */
Test(pgw_hostile, a_client_that_leaves_mid_message)
{
	struct t_dbmd	 d;
	struct pw	*c;
	char		*path;
	int		 i;

	sq_start(&d, NULL);
	for (i = 0; i < 3; i++) {
		c = pw_dbmd("test");
		m_query(c, "SELECT 1");
		/* Header only; header and part of the body; all but the NUL. */
		c->outlen = i == 0 ? 3 : i == 1 ? 8 : c->outlen - 1;
		cr_assert_eq(pw_send(c), 0);
		pw_free(c);
	}
	/* And mid-startup. */
	path = front_path();
	c = pw_connect(path);
	pw_send_raw(c, "\0\0\0\x40\0\3\0\0user\0", 13);
	pw_free(c);
	free(path);
	still_serving("test");
	cr_assert(t_dbmd_logged(&d, "client 4", "closed", NULL), "the clients' ends not logged");
	dbmd_end(&d);
}

/*
 * A client that pipelines 100 MB of queries and never reads: dbmd stops reading it
 * once its replies back up, stays within its memory, and serves everyone else.
 */
Test(pgw_hostile, a_client_that_pipelines_100_mb_and_never_reads)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pollfd	 pfd;
	size_t		 total = 0, off, chunk, limit = 100u << 20;
	long		 base, rss;
	ssize_t		 n;
	int64_t		 end;
	int		 i;

	sq_start(&d, NULL);
	still_serving("test");
	base = rss_kb(d.pid);
	c = pw_dbmd("test");
	/* 64 KiB of queries of 2 KB of reply each, sent again and again. */
	while (c->outlen < 65536)
		m_query(c, "SELECT zeroblob(1000)");
	chunk = c->outlen;
	pfd.fd = c->fd;
	pfd.events = POLLOUT;
	end = t_now_ms() + 20000LL * t_slow();
	for (off = 0; total < limit && t_now_ms() < end;) {
		n = send(c->fd, c->out + off, chunk - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			total += (size_t)n;
			off = (off + (size_t)n) % chunk;
			continue;
		}
		cr_assert(n == -1 && (errno == EAGAIN || errno == EINTR), "send: %s",
		    strerror(errno));
		/* Nothing taken for a second: dbmd has stopped reading. */
		if (poll(&pfd, 1, 1000) == 0)
			break;
	}
	c->outlen = 0;
	cr_assert_lt(total, limit, "dbmd took all of the 100 MB from a client that reads "
	    "nothing");
	/* Everyone else is served meanwhile, again and again. */
	for (i = 0; i < 5; i++)
		still_serving("test");
	rss = rss_kb(d.pid);
	if (t_rss_shows_frees())
		cr_assert_lt(rss - base, 64 * 1024, "dbmd grew by %ld KiB for %zu bytes sent",
		    rss - base, total);
	pw_free(c);
	still_serving("test");
	dbmd_end(&d);
}

/* A forked client that runs sql on production and waits, reading, to be killed. */
static pid_t
client_reading(const char *sql, int ready_fd)
{
	pid_t	 pid = t_fork();
	char	*path;
	uint8_t	 buf[65536];
	size_t	 got = 0;
	ssize_t	 n;
	int	 fd;

	if (pid != 0)
		return pid;
	path = front_path();
	if ((fd = t_raw_connect_try(path)) == -1)
		_exit(2);
	{
		static const char kv[] = "user\0root\0database\0production\0";
		uint8_t	 pkt[64];
		size_t	 len = 8 + sizeof(kv), ql = strlen(sql) + 1;

		be32(pkt, (uint32_t)len);
		be32(pkt + 4, PG_PROTO_3);
		memcpy(pkt + 8, kv, sizeof(kv));
		if (write(fd, pkt, len) != (ssize_t)len)
			_exit(2);
		buf[0] = 'Q';
		be32(buf + 1, (uint32_t)(ql + 4));
		memcpy(buf + 5, sql, ql);
		if (write(fd, buf, ql + 5) != (ssize_t)(ql + 5))
			_exit(2);
	}
	/* Rows are coming: say so, then take no more. */
	while (got < 256 * 1024 && (n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	if (write(ready_fd, "r", 1) != 1)
		_exit(2);
	pause();
	_exit(0);
}

Test(pgw_hostile, a_client_killed_mid_result)
{
	struct t_dbmd	 d;
	int		 p[2];
	pid_t		 pid;
	char		 ch;
	struct pw	*c;

	pgd_start(&d, "production.pool_size=1", "production.acquire_timeout=10s", NULL);
	cr_assert_eq(pipe(p), 0);
	pid = client_reading("SELECT g, repeat('x', 100) FROM generate_series(1, 3000000) g",
	    p[1]);
	cr_assert_eq(read(p[0], &ch, 1), 1, "the client got no rows");
	t_kill_pid(pid);
	close(p[0]);
	close(p[1]);
	/* The statement ends on the server, and the pool's one connection serves again. */
	cr_assert_eq(pq_wait_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "state = 'active' AND query LIKE 'SELECT g, repeat%'", 0), 0,
	    "the statement runs on after its client died");
	c = pw_dbmd("production");
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_hostile, a_client_gone_in_a_transaction_leaves_none_open)
{
	struct t_dbmd	 d;
	struct pw	*c;
	char		*v;

	pgd_start(&d, "production.pool_size=1", "production.acquire_timeout=10s", NULL);
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	c = pw_dbmd("production");
	pw_query_expect(c, "BEGIN", "CZ", 'T');
	pw_query_expect(c, "INSERT INTO t VALUES (1)", "CZ", 'T');
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
	    "current_database() AND state = 'idle in transaction'", 0, NULL), 1);
	pw_free(c);
	cr_assert_eq(pq_wait_num(pg.check, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = current_database() AND state LIKE 'idle in transaction%'", 0), 0,
	    "a transaction stays open after its client left");
	cr_assert_eq(pq_num(pg.check, "SELECT count(*) FROM t", 0, NULL), 0);
	/* The one connection is free for the next client. */
	c = pw_dbmd("production");
	v = pw_value(c, "SELECT count(*) FROM t");
	cr_assert_str_eq(v, "0");
	free(v);
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_hostile, copy_is_refused_and_the_connection_goes_on)
{
	static const char *const copies[] = { "COPY t FROM STDIN", "COPY t TO STDOUT",
	    "COPY (SELECT 1) TO STDOUT" };
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	PGconn		*q;
	PGresult	*r;
	char		*v;
	size_t		 i;

	pgd_start(&d, NULL);
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	c = pw_dbmd("production");
	for (i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
		s = pw_query(c, copies[i]);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "0A000");
		seq_free(&s);
		pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	}
	/* In a transaction: the transaction is still the client's, and rolls back. */
	pw_query_expect(c, "BEGIN", "CZ", 'T');
	pw_query_expect(c, "INSERT INTO t VALUES (1)", "CZ", 'T');
	s = pw_query(c, "COPY t FROM STDIN");
	cr_assert(strcmp(s.types, "EZ") == 0 && (c->status == 'T' || c->status == 'E'),
	    "\"%s\" '%c'", s.types, c->status);
	err_expect(&s.m[0], "ERROR", "0A000");
	seq_free(&s);
	pw_query_expect(c, "ROLLBACK", "CZ", 'I');
	v = pw_value(c, "SELECT count(*) FROM t");
	cr_assert_str_eq(v, "0", "the transaction's insert stayed");
	free(v);
	/* Data a client sends after a refused COPY is ignored. */
	pw_send_raw(c, "d\0\0\0\x06" "1\n" "c\0\0\0\4", 12);
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);

	q = pq_front("production", "copier");
	r = PQexec(q, "COPY t FROM STDIN");
	cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s", PQresStatus(PQresultStatus(r)));
	cr_assert_str_eq(pq_state(r), "0A000");
	PQclear(r);
	r = PQexec(q, "SELECT 2");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(q));
	PQclear(r);
	PQfinish(q);
	dbmd_end(&d);
}

Test(pgw_hostile, the_function_call_message_is_refused)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	size_t		 at;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	at = msg_begin(c, 'F');
	out_u32(c, 1299);		/* now() */
	out_u16(c, 0);
	out_u16(c, 0);
	out_u16(c, 0);
	msg_end(c, at);
	cr_assert_eq(pw_send(c), 0);
	s = pw_ready(c);
	seq_expect(&s, "EZ", 'I');
	err_expect(&s.m[0], "ERROR", "0A000");
	seq_free(&s);
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
	dbmd_end(&d);
}

Test(pgw_hostile, terminate_ends_the_connection)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	m_bare(c, 'X');
	cr_assert_eq(pw_send(c), 0);
	s = pw_until_close(c);
	seq_expect(&s, "", 0);
	seq_free(&s);
	pw_free(c);
	cr_assert(t_dbmd_logged(&d, "client closed the connection", NULL));
	dbmd_end(&d);
}

/* More of what drivers do. */

/* Several queries sent at once, without waiting: each answered in turn. */
Test(pgw_simple, pipelined_queries_are_answered_in_order)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		 sql[32];
	int		 t, i;

	both_start(&d);
	for (t = FRONT_PG; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		for (i = 0; i < 50; i++) {
			snprintf(sql, sizeof(sql), "SELECT %d", i);
			m_query(c, sql);
			m_parse(c, "", sql, 0, NULL);
			m_bind_text(c, "", "", 0, NULL);
			m_execute(c, "", 0);
			m_bare(c, 'S');
		}
		cr_assert_eq(pw_send(c), 0);
		for (i = 0; i < 50; i++) {
			s = pw_ready(c);
			seq_expect(&s, "TDCZ", 'I');
			cr_assert_eq(atoi(row_text(seq_get(&s, 'D', 0), 0)), i);
			seq_free(&s);
			s = pw_ready(c);
			seq_expect(&s, "12DCZ", 'I');
			cr_assert_eq(atoi(row_text(seq_get(&s, 'D', 0), 0)), i);
			seq_free(&s);
		}
		pw_close(c);
	}
	dbmd_end(&d);
}

/* libpq's pipeline mode: many statements, one Sync, results in order. */
Test(pgw_extended, libpq_pipeline_mode)
{
	struct t_dbmd	 d;
	PGconn		*c;
	PGresult	*r;
	char		 v[16];
	int		 t, i;

	both_start(&d);
	for (t = FRONT_PG; t <= FRONT_SQLITE; t++) {
		c = pq_front(t == FRONT_PG ? "production" : "test", "pipeline");
		cr_assert_eq(PQenterPipelineMode(c), 1);
		for (i = 0; i < 20; i++) {
			snprintf(v, sizeof(v), "%d", i);
			cr_assert_eq(PQsendQueryParams(c, i == 10 ? "SELECT * FROM nosuch" :
			    "SELECT $1", 1, NULL, (const char *[]){ v }, NULL, NULL, 0), 1,
			    "%s", PQerrorMessage(c));
		}
		cr_assert_eq(PQpipelineSync(c), 1);
		for (i = 0; i < 20; i++) {
			r = PQgetResult(c);
			if (i < 10) {
				cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%d: %s", i,
				    PQresultErrorMessage(r));
				cr_assert_eq(atoi(PQgetvalue(r, 0, 0)), i);
			} else if (i == 10) {
				cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
				cr_assert_str_eq(pq_state(r), "42P01");
			} else
				cr_assert_eq(PQresultStatus(r), PGRES_PIPELINE_ABORTED, "%d: %s", i,
				    PQresStatus(PQresultStatus(r)));
			PQclear(r);
			cr_assert_null(PQgetResult(c));
		}
		r = PQgetResult(c);
		cr_assert_eq(PQresultStatus(r), PGRES_PIPELINE_SYNC);
		PQclear(r);
		cr_assert_eq(PQexitPipelineMode(c), 1, "%s", PQerrorMessage(c));
		PQfinish(c);
	}
	dbmd_end(&d);
}

/* Rows, then an error mid-result: the rows sent stand, the error ends the result. */
Test(pgw_simple, an_error_after_some_rows)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		s = pw_query(c, "SELECT 1 / (3 - g) FROM generate_series(1, 5) g");
		seq_expect(&s, "TDDEZ", 'I');
		err_expect(seq_get(&s, 'E', 0), "ERROR", "22012");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_simple, null_and_the_empty_string_are_distinct)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	const uint8_t	*v;
	int32_t		 len;
	int		 t;

	both_start(&d);
	for (t = FRONT_PG; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "", "SELECT $1 IS NULL, $2 IS NULL, $1, $2", 2,
		    (const uint32_t[]){ 25, 25 });
		m_bind_text(c, "", "", 2, (const char *[]){ NULL, "" });
		m_execute(c, "", 0);
		s = pw_sync(c);
		seq_expect(&s, "12DCZ", 'I');
		cr_assert_str_eq(row_text(&s.m[2], 0), t == FRONT_PG ? "t" : "1");
		cr_assert_str_eq(row_text(&s.m[2], 1), t == FRONT_PG ? "f" : "0");
		v = row_val(&s.m[2], 2, &len);
		cr_assert(v == NULL && len == -1, "%s: NULL came as %d bytes", target_name[t], len);
		v = row_val(&s.m[2], 3, &len);
		cr_assert(v != NULL && len == 0, "%s: '' came as %d", target_name[t], len);
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

Test(pgw_simple, a_statement_over_statement_timeout_is_canceled_57014)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;

	pgd_start(&d, "production.statement_timeout=200ms", NULL);
	c = pw_dbmd("production");
	s = pw_query(c, "SELECT pg_sleep(5)");
	cr_assert(strcmp(s.types, "EZ") == 0 || strcmp(s.types, "TEZ") == 0, "\"%s\"",
	    s.types);
	err_expect(seq_get(&s, 'E', 0), "ERROR", "57014");
	seq_free(&s);
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	pw_close(c);
	dbmd_end(&d);
}

/*
 * A startup on test: the connection served, or NULL when refused with sqlstate, which
 * may come before the startup packet is even sent.
 */
static struct pw *
pw_try_dbmd(const char *sqlstate)
{
	char		*path = front_path();
	struct pw	*c = pw_connect(path);
	struct pw_seq	 s;

	free(path);
	m_startup(c, PG_PROTO_3, (const char *[]){ "user", "root", "database", "test",
	    NULL });
	(void)pw_send(c);
	cr_assert_eq(pw_next(c, PW_WAIT), 1, "no answer to the startup");
	if (c->m.type == 'R') {
		c->inpos -= c->m.len + 5;	/* unread: pw_started reads it */
		pw_started(c);
		return c;
	}
	s = (struct pw_seq){ 0 };
	seq_add(&s, &c->m);
	err_expect(&s.m[0], "FATAL", sqlstate);
	seq_free(&s);
	s = pw_until_close(c);
	seq_expect(&s, "", 0);
	seq_free(&s);
	pw_free(c);
	return NULL;
}

Test(pgw_startup, too_many_clients_is_fatal_53300)
{
	struct t_dbmd	 d;
	struct pw	*a, *b;
	int64_t		 end;

	sq_start(&d, (const char *[]){ "daemon.max_clients=2", NULL });
	/* The harness's ping may still count a moment: the second is served in time. */
	a = pw_dbmd("test");
	end = t_now_ms() + 5000LL * t_slow();
	while ((b = pw_try_dbmd("53300")) == NULL) {
		cr_assert_lt(t_now_ms(), end, "a second client is never served");
		t_sleep_ms(20);
	}
	cr_assert_null(pw_try_dbmd("53300"), "a third client was served");
	pw_close(b);
	pw_close(a);
	dbmd_end(&d);
}

/* dbmd shutting down tells an idle client as PostgreSQL does: FATAL 57P01. */
Test(pgw_startup, shutdown_is_fatal_57p01_to_an_idle_client)
{
	struct t_dbmd	 d;
	struct pw	*c;

	sq_start(&d, NULL);
	c = pw_dbmd("test");
	pw_query_expect(c, "SELECT 1", "TDCZ", 'I');
	cr_assert_eq(t_dbmd_stop(&d), 0);
	refused(c, "57P01");
	pw_free(c);
}

/* A large result streams: dbmd holds back what the client has not read, not all of it. */
Test(pgw_hostile, a_large_result_streams_to_a_slow_reader)
{
	struct t_dbmd	 d;
	struct pw	*c;
	long		 base, rss;
	long		 rows = 0;
	int		 r;

	pgd_start(&d, NULL);
	still_serving("production");
	base = rss_kb(d.pid);
	c = pw_dbmd("production");
	m_query(c, "SELECT g, repeat('x', 1000) FROM generate_series(1, 50000) g");
	cr_assert_eq(pw_send(c), 0);
	/* Nothing read until dbmd stops writing; 50 MB are on their way. */
	t_raw_wait_full(c->fd);
	rss = rss_kb(d.pid);
	if (t_rss_shows_frees())
		cr_assert_lt(rss - base, 32 * 1024, "dbmd grew by %ld KiB for a client that "
		    "does not read", rss - base);
	still_serving("production");
	cr_assert_eq(pw_next(c, PW_WAIT), 1);
	cr_assert_eq(c->m.type, 'T');
	while ((r = pw_next(c, PW_WAIT)) == 1 && c->m.type == 'D')
		rows++;
	cr_assert_eq(r, 1);
	cr_assert_eq(c->m.type, 'C', "'%c' after %ld rows", c->m.type, rows);
	cr_assert_str_eq((const char *)c->m.body, "SELECT 50000");
	cr_assert_eq(rows, 50000);
	cr_assert_eq(pw_next(c, PW_WAIT), 1);
	cr_assert_eq(c->m.type, 'Z');
	pw_close(c);
	dbmd_end(&d);
}

/* DEALLOCATE names the protocol's statements, as on PostgreSQL, where they are one. */
Test(pgw_extended, deallocate_closes_the_clients_statements)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_SQLITE; t++) {
		c = pw_target(t);
		m_parse(c, "s1", "SELECT 1", 0, NULL);
		m_parse(c, "s2", "SELECT 2", 0, NULL);
		m_parse(c, "s3", "SELECT 3", 0, NULL);
		pw_sync_expect(c, "111Z", 'I');
		s = pw_query(c, "DEALLOCATE s1");
		seq_expect(&s, "CZ", 'I');
		cr_assert_str_eq(tag(&s.m[0]), "DEALLOCATE");
		seq_free(&s);
		m_bind_text(c, "", "s1", 0, NULL);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		s = pw_query(c, "DEALLOCATE nosuch");
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		m_bind_text(c, "", "s2", 0, NULL);
		m_execute(c, "", 0);
		pw_sync_expect(c, "2DCZ", 'I');
		s = pw_query(c, "DEALLOCATE ALL");
		seq_expect(&s, "CZ", 'I');
		cr_assert_str_eq(tag(&s.m[0]), "DEALLOCATE ALL");
		seq_free(&s);
		m_bind_text(c, "", "s3", 0, NULL);
		s = pw_sync(c);
		seq_expect(&s, "EZ", 'I');
		err_expect(&s.m[0], "ERROR", "26000");
		seq_free(&s);
		pw_close(c);
	}
	dbmd_end(&d);
}

/* A cursor DECLAREd in SQL is a portal: Describe gives its columns. */
Test(pgw_extended, a_declared_cursor_is_described_like_a_portal)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	int		 t;

	both_start(&d);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		pw_query_expect(c, "DECLARE cur CURSOR FOR SELECT g AS n, 'x'::text AS s FROM "
		    "generate_series(1, 3) g", "CZ", 'T');
		m_describe(c, 'P', "cur");
		s = pw_sync(c);
		seq_expect(&s, "TZ", 'T');
		cr_assert_eq(ncols(&s.m[0]), 2);
		cr_assert_str_eq(rowdesc_col(&s.m[0], 0).name, "n");
		cr_assert_eq(rowdesc_col(&s.m[0], 0).oid, 23);
		cr_assert_eq(rowdesc_col(&s.m[0], 1).oid, 25);
		seq_free(&s);
		s = pw_query(c, "FETCH 2 FROM cur");
		seq_expect(&s, "TDDCZ", 'T');
		cr_assert_str_eq(tag(seq_get(&s, 'C', 0)), "FETCH 2");
		seq_free(&s);
		pw_query_expect(c, "COMMIT", "CZ", 'I');
		pw_close(c);
	}
	dbmd_end(&d);
}

/* A statement cancelled in a transaction fails it, as on PostgreSQL. */
Test(pgw_cancel, a_cancel_in_a_transaction_fails_the_transaction)
{
	struct t_dbmd	 d;
	struct pw	*c;
	struct pw_seq	 s;
	char		*v;
	int		 t;

	both_start(&d);
	pq_exec0(pg.check, "CREATE TABLE t (a int)", 0, NULL);
	for (t = DIRECT; t <= FRONT_PG; t++) {
		c = pw_target(t);
		pw_query_expect(c, "BEGIN", "CZ", 'T');
		pw_query_expect(c, "INSERT INTO t VALUES (1)", "CZ", 'T');
		m_query(c, "SELECT pg_sleep(30)");
		cr_assert_eq(pw_send(c), 0);
		cr_assert_neq(pq_wait_active(pg.check, pg.db, "SELECT pg_sleep%", 5000), 0);
		if (t == DIRECT) {
			char	*path = direct_path();
			struct pw *k = pw_connect(path);

			m_cancel(k, c->pid, c->key);
			cr_assert_eq(pw_send(k), 0);
			s = pw_until_close(k);
			seq_free(&s);
			pw_free(k);
			free(path);
		} else
			send_cancel(c->pid, c->key);
		s = pw_ready(c);
		cr_assert(strcmp(s.types, "EZ") == 0 || strcmp(s.types, "TEZ") == 0,
		    "%s: \"%s\"", target_name[t], s.types);
		err_expect(seq_get(&s, 'E', 0), "ERROR", "57014");
		cr_assert_eq(c->status, 'E', "%s: '%c' after the cancel", target_name[t],
		    c->status);
		seq_free(&s);
		s = pw_query(c, "SELECT 1");
		seq_expect(&s, "EZ", 'E');
		err_expect(&s.m[0], "ERROR", "25P02");
		seq_free(&s);
		pw_query_expect(c, "ROLLBACK", "CZ", 'I');
		v = pw_value(c, "SELECT count(*) FROM t");
		cr_assert_str_eq(v, "0");
		free(v);
		pw_close(c);
	}
	dbmd_end(&d);
}
