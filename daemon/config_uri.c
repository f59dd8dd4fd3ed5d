/* config_uri.c: database URIs: checking, canonical targets, password redaction. */

#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* How libpq reads the value of one of its options. */
enum pg_value {
	PGV_WORD,		/* one word of a list, exactly as written */
	PGV_TLS,		/* a TLS version from a list, any case; empty is the default */
	PGV_INT,		/* an int, blanks around it allowed */
	PGV_PORTS,		/* comma-separated ports, each empty (the default) or 1..65535 */
	PGV_REPLICATION,	/* "database" or a server boolean; empty is off */
};

/*
 * The options whose values libpq (or, for replication, the server) checks only when it
 * connects: PQconninfoParse takes "sslmode=bogus" without a word, and the typo surfaces at
 * the first connect in production.  The lists are what libpq 15 accepts (fe-connect.c,
 * connectOptions2 and parse_int_param); an option this libpq does not know is refused by
 * PQconninfoParse before it gets here, so the entries for later libpqs (sslcertmode,
 * load_balance_hosts: 16; sslnegotiation: 17) only count where that libpq is linked.
 * Options libpq reads without checking (sslsni, sslcompression) are left alone: any
 * value works there today.
 */
static const char *const ssl_modes[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL
};
static const char *const disable_prefer_require[] = { "disable", "prefer", "require", NULL };
static const char *const session_attrs[] = {
	"any", "read-write", "read-only", "primary", "standby", "prefer-standby", NULL
};
static const char *const ssl_cert_modes[] = { "disable", "allow", "require", NULL };
static const char *const balance_modes[] = { "disable", "random", NULL };
static const char *const ssl_negotiations[] = { "postgres", "direct", NULL };
static const char *const tls_versions[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL };

static const struct pg_option {
	const char		*keyword;
	enum pg_value		 kind;
	const char *const	*words;	/* PGV_WORD, PGV_TLS: the values allowed, in order */
} pg_options[] = {
	{ "sslmode", PGV_WORD, ssl_modes },
	{ "gssencmode", PGV_WORD, disable_prefer_require },
	{ "channel_binding", PGV_WORD, disable_prefer_require },
	{ "target_session_attrs", PGV_WORD, session_attrs },
	{ "sslcertmode", PGV_WORD, ssl_cert_modes },
	{ "load_balance_hosts", PGV_WORD, balance_modes },
	{ "sslnegotiation", PGV_WORD, ssl_negotiations },
	{ "ssl_min_protocol_version", PGV_TLS, tls_versions },
	{ "ssl_max_protocol_version", PGV_TLS, tls_versions },
	{ "connect_timeout", PGV_INT, NULL },
	{ "keepalives", PGV_INT, NULL },
	{ "keepalives_idle", PGV_INT, NULL },
	{ "keepalives_interval", PGV_INT, NULL },
	{ "keepalives_count", PGV_INT, NULL },
	{ "tcp_user_timeout", PGV_INT, NULL },
	{ "port", PGV_PORTS, NULL },
	{ "replication", PGV_REPLICATION, NULL },
};

/* Does text read as an int the way libpq's parse_int_param reads it? */
static bool
pg_int_parse(const char *text, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(text, &end, 10);
	if (end == text || errno != 0 || *out < INT_MIN || *out > INT_MAX)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	return *end == '\0';
}

/*
 * Is text a boolean as the server's parse_bool reads it (any case; a prefix of true,
 * false, yes or no; on, of, off; 1 or 0)?  The server, not libpq, refuses a bad
 * replication value, and only once a connection is made.
 */
static bool
pg_bool_valid(const char *text)
{
	size_t n = strlen(text);

	switch (text[0]) {
	case 't': case 'T':
		return strncasecmp(text, "true", n) == 0;
	case 'f': case 'F':
		return strncasecmp(text, "false", n) == 0;
	case 'y': case 'Y':
		return strncasecmp(text, "yes", n) == 0;
	case 'n': case 'N':
		return strncasecmp(text, "no", n) == 0;
	case 'o': case 'O':
		return n >= 2 && (strncasecmp(text, "on", n) == 0 ||
		    strncasecmp(text, "off", n) == 0);
	case '1': case '0':
		return n == 1;
	default:
		return false;
	}
}

/* The position of text in a NULL-terminated word list (any case when nocase), or -1. */
static int
pg_word_index(const char *const *words, const char *text, bool nocase)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if ((nocase ? strcasecmp : strcmp)(words[i], text) == 0)
			return i;
	return -1;
}

/* Adds the error for a value that is not one of po's words. */
static void
pg_word_error(const struct pg_option *po, const char *text, struct cfg_errors *errs,
    const char *where, const char *keyname)
{
	char *list = NULL;
	size_t len = 0, cap = 0, i;

	for (i = 0; po->words[i] != NULL; i++)
		strbuf_printf(&list, &len, &cap, "%s%s", i ? ", " : "", po->words[i]);
	config_error(errs, CFG_E_URI, where, "%s: %s: \"%s\" is not one of %s", keyname,
	    po->keyword, text, list);
	free(list);
}

/* The number of elements in a comma-separated list, as libpq counts them. */
static int
pg_count_elems(const char *text)
{
	int n = 1;

	for (; *text != '\0'; text++)
		n += *text == ',';
	return n;
}

/* Checks each port of a comma-separated list; returns the number of errors added. */
static int
pg_ports_check(const char *text, struct cfg_errors *errs, const char *where,
    const char *keyname)
{
	const char *p;
	char *port;
	size_t len;
	long v;
	int bad = 0;

	for (p = text;; p += len + 1) {
		len = strcspn(p, ",");
		if ((port = strndup(p, len)) == NULL)
			fatal("strndup");
		if (port[0] != '\0' && !pg_int_parse(port, &v)) {
			config_error(errs, CFG_E_URI, where, "%s: port: expected an integer, got "
			    "\"%s\"", keyname, port);
			bad++;
		} else if (port[0] != '\0' && (v < 1 || v > 65535)) {
			config_error(errs, CFG_E_URI, where,
			    "%s: port: %ld is out of range 1..65535", keyname, v);
			bad++;
		}
		free(port);
		if (p[len] == '\0')
			return bad;
	}
}

/* The value libpq parsed for keyword, or NULL. */
static const PQconninfoOption *
pg_option_find(const PQconninfoOption *opts, const char *keyword)
{
	for (; opts->keyword != NULL; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts;
	return NULL;
}

/* A set value, or NULL for one the URI leaves out. */
static const char *
pg_option_val(const PQconninfoOption *opts, const char *keyword)
{
	const PQconninfoOption *o = pg_option_find(opts, keyword);

	return o != NULL ? o->val : NULL;
}

/*
 * Checks the values of libpq's enumerated and numeric options as libpq itself will when
 * it connects: the words it knows, its integers, each host's port, as many ports and
 * addresses as hosts, and a TLS version range that is not empty.  Adds one located error
 * per bad value (naming the option, the value and what is allowed; none of these options
 * holds a secret) and returns -1 if there was any.
 */
static int
pg_options_check(const PQconninfoOption *opts, struct cfg_errors *errs, const char *where,
    const char *keyname)
{
	const struct pg_option *po;
	const PQconninfoOption *o;
	PQconninfoOption *defs;
	const char *host, *addr, *port, *tls_min, *tls_max;
	int bad = 0, nhosts, imin, imax;
	long v;

	for (po = pg_options; po < pg_options + sizeof(pg_options) / sizeof(pg_options[0]);
	    po++) {
		if ((o = pg_option_find(opts, po->keyword)) == NULL || o->val == NULL)
			continue;
		switch (po->kind) {
		case PGV_WORD:
			if (pg_word_index(po->words, o->val, false) >= 0)
				continue;
			pg_word_error(po, o->val, errs, where, keyname);
			break;
		case PGV_TLS:
			if (o->val[0] == '\0' || pg_word_index(po->words, o->val, true) >= 0)
				continue;
			pg_word_error(po, o->val, errs, where, keyname);
			break;
		case PGV_INT:
			if (pg_int_parse(o->val, &v))
				continue;
			config_error(errs, CFG_E_URI, where, "%s: %s: expected an integer, got "
			    "\"%s\"", keyname, po->keyword, o->val);
			break;
		case PGV_PORTS:
			if (pg_ports_check(o->val, errs, where, keyname) == 0)
				continue;
			break;
		case PGV_REPLICATION:
			if (o->val[0] == '\0' || strcmp(o->val, "database") == 0 ||
			    pg_bool_valid(o->val))
				continue;
			config_error(errs, CFG_E_URI, where, "%s: replication: \"%s\" is not one "
			    "of database, true, false, on, off, yes, no, 1, 0", keyname, o->val);
			break;
		}
		bad = 1;
	}

	/* As libpq counts hosts: by hostaddr when it is given, else by host. */
	host = pg_option_val(opts, "host");
	addr = pg_option_val(opts, "hostaddr");
	port = pg_option_val(opts, "port");
	if (addr != NULL && addr[0] != '\0')
		nhosts = pg_count_elems(addr);
	else if (host != NULL && host[0] != '\0')
		nhosts = pg_count_elems(host);
	else
		nhosts = 1;
	if (addr != NULL && addr[0] != '\0' && host != NULL && host[0] != '\0' &&
	    pg_count_elems(host) != nhosts) {
		config_error(errs, CFG_E_URI, where, "%s: hostaddr: %d address%s for %d host "
		    "name%s; give one address per host name", keyname, nhosts,
		    nhosts == 1 ? "" : "es", pg_count_elems(host),
		    pg_count_elems(host) == 1 ? "" : "s");
		bad = 1;
	}
	if (port != NULL && port[0] != '\0' && pg_count_elems(port) > 1 &&
	    pg_count_elems(port) != nhosts) {
		config_error(errs, CFG_E_URI, where, "%s: port: %d ports for %d host%s; give one "
		    "port for all hosts or one per host", keyname, pg_count_elems(port), nhosts,
		    nhosts == 1 ? "" : "s");
		bad = 1;
	}

	/*
	 * An empty TLS range.  When the URI names only a maximum libpq takes the minimum from
	 * PGSSLMINPROTOCOLVERSION or its compiled-in TLSv1.2, so ssl_max_protocol_version=
	 * TLSv1.1 alone is refused too; PQconndefaults says which, as libpq will see it.
	 */
	tls_min = pg_option_val(opts, "ssl_min_protocol_version");
	tls_max = pg_option_val(opts, "ssl_max_protocol_version");
	defs = NULL;
	if (tls_min == NULL && tls_max != NULL && (defs = PQconndefaults()) != NULL)
		tls_min = pg_option_val(defs, "ssl_min_protocol_version");
	if (tls_min != NULL && tls_max != NULL &&
	    (imin = pg_word_index(tls_versions, tls_min, true)) >= 0 &&
	    (imax = pg_word_index(tls_versions, tls_max, true)) >= 0 && imin > imax) {
		config_error(errs, CFG_E_URI, where, "%s: ssl_min_protocol_version %s%s is above "
		    "ssl_max_protocol_version %s", keyname, tls_min,
		    defs != NULL ? " (libpq's default)" : "", tls_max);
		bad = 1;
	}
	if (defs != NULL)
		PQconninfoFree(defs);
	return bad ? -1 : 0;
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
		if (pg_options_check(opts, errs, where, keyname) == -1) {
			PQconninfoFree(opts);
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
