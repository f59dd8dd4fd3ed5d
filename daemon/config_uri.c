/* config_uri.c: database URIs: checking, canonical targets, password redaction. */

#include <sys/random.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "dbmd.h"

#define REDACTED	"********"

static int
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
uri_is_postgres(const char *uri)
{
	return has_prefix(uri, "postgresql://") || has_prefix(uri, "postgres://");
}

struct span {
	size_t	off, len;
};

/*
 * The connection options libpq itself marks as secret (dispchar "*"): password,
 * sslpassword, and whatever a later libpq adds.  Taken from libpq once, so that dbmd
 * keeps every one of them out of what it shows, logs and hashes without a list of its
 * own to fall behind.
 */
static char **secret_keywords;
static pthread_once_t secret_keywords_once = PTHREAD_ONCE_INIT;

static void
secret_keywords_load(void)
{
	PQconninfoOption *opts, *o;
	size_t n = 0;

	if ((opts = PQconninfoParse("", NULL)) == NULL)
		fatalx("libpq: out of memory for its connection options");
	for (o = opts; o->keyword != NULL; o++)
		n++;
	secret_keywords = xcalloc(n + 1, sizeof(char *));
	for (n = 0, o = opts; o->keyword != NULL; o++)
		if (o->dispchar != NULL && o->dispchar[0] == '*')
			secret_keywords[n++] = xstrdup(o->keyword);
	PQconninfoFree(opts);
}

/* Is the libpq connection option keyword one that holds a secret? */
static bool
keyword_is_secret(const char *keyword)
{
	size_t i;

	if (pthread_once(&secret_keywords_once, secret_keywords_load) != 0)
		fatalx("pthread_once failed");
	for (i = 0; secret_keywords[i] != NULL; i++)
		if (strcmp(secret_keywords[i], keyword) == 0)
			return true;
	return false;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Text of a URI as libpq reads it: percent-decoded.  libpq decodes parameter names too,
 * so "ssl%70assword" is sslpassword.  A malformed escape is kept as written.
 */
static char *
percent_decode(const char *p, size_t len)
{
	char *out = xcalloc(1, len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '%' && i + 2 < len && hexval((unsigned char)p[i + 1]) >= 0 &&
		    hexval((unsigned char)p[i + 2]) >= 0) {
			out[n++] = (char)(hexval((unsigned char)p[i + 1]) << 4 |
			    hexval((unsigned char)p[i + 2]));
			i += 2;
		} else
			out[n++] = p[i];
	}
	return out;
}

/*
 * Finds the parts of a PostgreSQL URI that hold a secret: the password in the user-info
 * part of the authority and the value of every query parameter that names a secret
 * option (password=, sslpassword=, ...).  Returns their number; *spans, which the caller
 * frees, holds them in order.
 */
static size_t
uri_secrets(const char *uri, struct span **spans)
{
	const char *auth, *at = NULL, *colon, *p;
	size_t n = 0, cap = 4, alen, plen, klen;
	struct span *sp = xcalloc(cap, sizeof(*sp));
	char *name;

	*spans = sp;
	if (!uri_is_postgres(uri))
		return 0;
	auth = strstr(uri, "://") + 3;
	/* As libpq reads it: user-info runs to the first '@' before any '/'. */
	for (p = auth; *p != '\0' && *p != '@' && *p != '/'; p++)
		;
	if (*p == '@')
		at = p;
	if (at != NULL && (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL)
		sp[n++] = (struct span){ (size_t)(colon + 1 - uri), (size_t)(at - colon - 1) };
	if (at != NULL)
		auth = at + 1;
	alen = strcspn(auth, "/?");
	if ((p = strchr(auth + alen, '?')) == NULL)
		return n;
	for (p++; *p != '\0'; p += plen, p += (*p == '&')) {
		plen = strcspn(p, "&");
		klen = strcspn(p, "=&");
		if (klen == plen)
			continue;	/* no value: libpq refuses it */
		name = percent_decode(p, klen);
		if (keyword_is_secret(name)) {
			if (n == cap) {
				cap *= 2;
				if ((sp = reallocarray(sp, cap, sizeof(*sp))) == NULL)
					fatal("reallocarray");
				*spans = sp;
			}
			sp[n++] = (struct span){ (size_t)(p + klen + 1 - uri), plen - klen - 1 };
		}
		free(name);
	}
	return n;
}

/*
 * Returns a copy of uri with every secret (password, sslpassword, ...) replaced by a
 * mask.  Anything shown to a person (logs, errors, dbmctl) goes through here first.
 */
char *
uri_redact(const char *uri)
{
	struct span *sp;
	size_t n = uri_secrets(uri, &sp), i, at = 0;
	char *buf = NULL;
	size_t blen = 0, bcap = 0;

	strbuf_printf(&buf, &blen, &bcap, "%s", "");
	for (i = 0; i < n; i++) {
		strbuf_printf(&buf, &blen, &bcap, "%.*s%s", (int)(sp[i].off - at), uri + at,
		    REDACTED);
		at = sp[i].off + sp[i].len;
	}
	strbuf_printf(&buf, &blen, &bcap, "%s", uri + at);
	free(sp);
	return buf;
}

/*
 * True when a URI carries a password or another secret option, in the authority or as
 * a parameter: a file that holds one must be readable by its owner only.
 */
bool
uri_has_password(const char *uri)
{
	struct span *sp;
	size_t n = uri_secrets(uri, &sp), i;
	bool found = false;

	for (i = 0; i < n && !found; i++)
		found = sp[i].len > 0;
	free(sp);
	return found;
}

/* Removes every occurrence of secret from msg in place, replacing it with the mask. */
static char *
scrub(char *msg, const char *secret)
{
	char *buf = NULL, *p, *hit;
	size_t blen = 0, bcap = 0, slen;

	if (secret == NULL || (slen = strlen(secret)) == 0)
		return msg;
	for (p = msg; (hit = strstr(p, secret)) != NULL; p = hit + slen)
		strbuf_printf(&buf, &blen, &bcap, "%.*s%s", (int)(hit - p), p, REDACTED);
	if (buf == NULL)
		return msg;
	strbuf_printf(&buf, &blen, &bcap, "%s", p);
	free(msg);
	return buf;
}

/*
 * libpq's parse errors may quote parts of the URI: mask every secret in msg, as
 * written and as libpq decodes it.
 */
static char *
scrub_secrets(char *msg, const char *uri)
{
	struct span *sp;
	size_t n = uri_secrets(uri, &sp), i;
	char *secret;

	for (i = 0; i < n; i++) {
		if (sp[i].len == 0)
			continue;
		secret = percent_decode(uri + sp[i].off, sp[i].len);
		msg = scrub(msg, secret);
		free(secret);
		secret = strndup(uri + sp[i].off, sp[i].len);
		if (secret == NULL)
			fatal("strndup");
		msg = scrub(msg, secret);
		free(secret);
	}
	free(sp);
	return msg;
}

/*
 * A secret's stand-in in canonical text: a hash keyed with a secret drawn once per
 * process.  Pool hashes are shown to clients; an unkeyed hash of a canonical form that
 * held the password would let anyone test guesses offline.  Equal passwords still make
 * equal text within one dbmd, which is all pool identity needs.
 */
static uint64_t
password_digest(const char *pw)
{
	static unsigned char key[16];
	static bool have_key;
	unsigned char buf[16 + 256];
	size_t n = strlen(pw);

	if (!have_key) {
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
			fatal("getrandom");
		have_key = true;
	}
	if (n > sizeof(buf) - sizeof(key))
		n = sizeof(buf) - sizeof(key);
	memcpy(buf, key, sizeof(key));
	memcpy(buf + sizeof(key), pw, n);
	return hash64(buf, sizeof(key) + n);
}

/*
 * The canonical target of a PostgreSQL URI: libpq's own parse, as keyword='value' pairs
 * in libpq's fixed keyword order, so that postgres:// and postgresql://, a reordered
 * query string or percent-encoding all yield the same text.  Every secret option (those
 * libpq marks with dispchar "*": password, sslpassword, ...) appears only as a keyed
 * digest, KEYWORD-digest=HEX.
 */
static char *
pg_canonical(PQconninfoOption *opts)
{
	PQconninfoOption *o;
	char *buf = NULL;
	size_t blen = 0, bcap = 0;
	const char *v;

	strbuf_printf(&buf, &blen, &bcap, "%s", "");
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (o->dispchar != NULL && o->dispchar[0] == '*') {
			strbuf_printf(&buf, &blen, &bcap, "%s%s-digest=%016llx", blen ? " " : "",
			    o->keyword, (unsigned long long)password_digest(o->val));
			continue;
		}
		strbuf_printf(&buf, &blen, &bcap, "%s%s='", blen ? " " : "", o->keyword);
		for (v = o->val; *v != '\0'; v++) {
			if (*v == '\'' || *v == '\\')
				strbuf_printf(&buf, &blen, &bcap, "\\");
			strbuf_printf(&buf, &blen, &bcap, "%c", *v);
		}
		strbuf_printf(&buf, &blen, &bcap, "'");
	}
	return buf;
}

/*
 * Checks a database URI.  On success stores the backend and the canonical target (a
 * libpq conninfo string, or the SQLite file path or ":memory:") and returns 0.  On error
 * adds one located error that shows the URI with its password redacted and returns -1.
 */
int
uri_check(const char *uri, enum backend_kind *kind, char **target, struct cfg_errors *errs,
    const char *where, const char *keyname)
{
	char *shown, *msg;
	const char *path;

	if (uri_is_postgres(uri)) {
		PQconninfoOption *opts;
		char *pqerr = NULL;

		if ((opts = PQconninfoParse(uri, &pqerr)) == NULL) {
			shown = uri_redact(uri);
			msg = xstrdup(pqerr ? pqerr : "out of memory");
			msg[strcspn(msg, "\n")] = '\0';
			msg = scrub_secrets(msg, uri);
			config_error(errs, CFG_E_URI, where, "%s: invalid PostgreSQL URI \"%s\": %s",
			    keyname, shown, msg);
			PQfreemem(pqerr);
			free(shown);
			free(msg);
			return -1;
		}
		*kind = BACKEND_POSTGRES;
		*target = pg_canonical(opts);
		PQconninfoFree(opts);
		return 0;
	}
	if (has_prefix(uri, "sqlite:")) {
		path = uri + strlen("sqlite:");
		if (has_prefix(path, "//"))
			path += 2;	/* sqlite:///abs/path, the URL spelling */
		if (strcmp(path, ":memory:") == 0 || path[0] == '/') {
			if (path[0] == '/' && path[1] == '\0') {
				config_error(errs, CFG_E_URI, where,
				    "%s: \"%s\" names a directory, not a database file", keyname, uri);
				return -1;
			}
			*kind = BACKEND_SQLITE;
			*target = xstrdup(path);
			return 0;
		}
		config_error(errs, CFG_E_URI, where,
		    "%s: SQLite URI \"%s\" must name an absolute path (sqlite:/var/lib/app.db) "
		    "or sqlite::memory:", keyname, uri);
		return -1;
	}
	/* Only the part before the first colon is shown: it cannot hold a password. */
	if (strstr(uri, "://") != NULL)
		config_error(errs, CFG_E_URI, where, "%s: unsupported scheme \"%.*s\"; use "
		    "postgresql://, postgres:// or sqlite:", keyname, (int)strcspn(uri, ":"), uri);
	else
		config_error(errs, CFG_E_URI, where, "%s: \"%.*s…\" is not a database URI; use "
		    "postgresql://…, sqlite:/path/to/file.db or sqlite::memory:", keyname,
		    (int)strcspn(uri, ":@"), uri);
	return -1;
}

/* FNV-1a, 64 bits: stable across runs and machines; equality is checked separately. */
uint64_t
hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}
