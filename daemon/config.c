/* config.c: the configuration model: keys, sources, values, resolution and the hash. */

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "dbmd.h"

#define MS_SECOND	1000LL
#define MS_MINUTE	(60 * MS_SECOND)
#define MS_HOUR		(60 * MS_MINUTE)
#define MS_DAY		(24 * MS_HOUR)
#define KIB		1024LL
#define MIB		(1024 * KIB)
#define GIB		(1024 * MIB)

#define D(f)	CFG_SCOPE_DAEMON, offsetof(struct daemon_config, f)
#define R(f)	CFG_SCOPE_ROLE, offsetof(struct role_config, f)

/*
 * Every key dbmd knows.  Daemon keys come first, then role keys; struct daemon_config and
 * struct role_config keep an origin per key in this order.  Defaults are text, parsed
 * like any other source, so a default can never be a value a user could not write.
 * The first role key is placed at [DAEMON_KEYS], so that the counts in dbmd.h are
 * checked: see below.
 */
/* The words of CHOICE keys, in the order of their enums in dbmd.h. */
static const char *const pool_modes[] = { "transaction", "session", NULL };
static const char *const lag_fallbacks[] = { "wait", "primary", "fail", NULL };

#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Woverride-init"
/* Only CHOICE keys have words: the others leave the last field out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct cfg_key cfg_keys[] = {
	{ "socket", "SOCKET", CFG_T_PATH, D(socket), NULL, 0, 0, 0,
	  "path of the Unix socket clients connect to" },
	{ "socket_mode", "SOCKET_MODE", CFG_T_MODE, D(socket_mode), "0660", 0, 0777, 0,
	  "permissions of the socket file" },
	{ "socket_group", "SOCKET_GROUP", CFG_T_STR, D(socket_group), "", 0, 0, 0,
	  "group owning the socket file; empty: the daemon's group" },
	{ "state_dir", "STATE_DIR", CFG_T_PATH, D(state_dir), NULL, 0, 0, 0,
	  "directory for the development database and other state" },
	{ "log_level", "LOG_LEVEL", CFG_T_LOGLEVEL, D(log_level), "info", 0, 0, 0,
	  "debug, info, notice, warning or error" },
	{ "max_clients", "MAX_CLIENTS", CFG_T_INT, D(max_clients), "1024", 1, 1000000, 0,
	  "connected clients in total" },
	{ "max_handles_per_client", "MAX_HANDLES_PER_CLIENT", CFG_T_INT,
	  D(max_handles_per_client), "64", 1, 100000, 0, "open handles per client" },
	{ "max_queued_per_client", "MAX_QUEUED_PER_CLIENT", CFG_T_INT,
	  D(max_queued_per_client), "64", 1, 100000, 0, "requests queued per client" },
	{ "max_frame_size", "MAX_FRAME_SIZE", CFG_T_SIZE, D(max_frame_size), "1M",
	  4 * KIB, 64 * MIB, 0, "largest protocol frame accepted from a client" },
	{ "shutdown_timeout", "SHUTDOWN_TIMEOUT", CFG_T_DURATION, D(shutdown_timeout), "30s",
	  0, MS_HOUR, 0, "how long in-flight work may finish at shutdown" },
	{ "drain_timeout", "DRAIN_TIMEOUT", CFG_T_DURATION, D(drain_timeout), "5m",
	  0, MS_DAY, 0, "how long a pool whose configuration changed serves its handles" },
	{ "max_clients_per_uid", "MAX_CLIENTS_PER_UID", CFG_T_INT, D(max_clients_per_uid),
	  "256", 1, 1000000, 0, "connected clients of one user" },
	{ "max_override_pools", "MAX_OVERRIDE_POOLS", CFG_T_INT, D(max_override_pools), "16",
	  0, 10000, 0, "pools that only clients' overrides created" },
	{ "max_pinned_per_client", "MAX_PINNED_PER_CLIENT", CFG_T_INT,
	  D(max_pinned_per_client), "4", 1, 1000, 0, "connections one client may hold "
	  "between statements on one pool (pinned handles, open transactions); never more "
	  "than pool_size - 1" },
	{ "sqlite_heap_limit", "SQLITE_HEAP_LIMIT", CFG_T_SIZE, D(sqlite_heap_limit), "1G",
	  0, 64 * GIB, 0, "memory all SQLite connections together may use; 0: no limit" },
	{ "pg_socket_dir", "PG_SOCKET_DIR", CFG_T_STR, D(pg_socket_dir), "", 0, 0, 0,
	  "directory of the PostgreSQL-protocol socket; empty: the socket's directory" },
	{ "pg_port", "PG_PORT", CFG_T_INT, D(pg_port), "5432", 0, 65535, 0,
	  "port in the PostgreSQL-protocol socket's name (.s.PGSQL.<port>); 0: none" },
	{ "admin.users", "ADMIN_USERS", CFG_T_NAMES, D(admin_users), "", 0, 0, 0,
	  "users allowed to reload and dispose; empty: root and dbmd's user" },
	{ "admin.groups", "ADMIN_GROUPS", CFG_T_NAMES, D(admin_groups), "", 0, 0, 0,
	  "groups allowed to reload and dispose" },

	[DAEMON_KEYS] = { "uri", "URI", CFG_T_URI, R(uri), NULL, 0, 0, CFG_K_POOL,
	  "database: postgresql://…, sqlite:/absolute/path or sqlite::memory:" },
	{ "pool_size", "POOL_SIZE", CFG_T_INT, R(pool_size), "10", 1, 1000, CFG_K_POOL,
	  "database connections at most" },
	{ "min_idle", "MIN_IDLE", CFG_T_INT, R(min_idle), "0", 0, 1000, CFG_K_POOL,
	  "idle connections kept open" },
	{ "connect_timeout", "CONNECT_TIMEOUT", CFG_T_DURATION, R(connect_timeout), "5s",
	  10, 10 * MS_MINUTE, CFG_K_POOL, "time allowed to open a database connection" },
	{ "acquire_timeout", "ACQUIRE_TIMEOUT", CFG_T_DURATION, R(acquire_timeout), "10s",
	  1, MS_HOUR, CFG_K_POOL, "time a request may wait for a free connection" },
	{ "idle_timeout", "IDLE_TIMEOUT", CFG_T_DURATION, R(idle_timeout), "10m",
	  0, 7 * MS_DAY, CFG_K_POOL, "idle connections are closed after this; 0: never" },
	{ "max_lifetime", "MAX_LIFETIME", CFG_T_DURATION, R(max_lifetime), "1h",
	  0, 7 * MS_DAY, CFG_K_POOL, "connections are retired after this; 0: never" },
	{ "statement_timeout", "STATEMENT_TIMEOUT", CFG_T_DURATION, R(statement_timeout), "5m",
	  0, MS_DAY, CFG_K_POOL, "statements are cancelled after this; 0: no limit" },
	{ "idle_in_transaction_timeout", "IDLE_IN_TRANSACTION_TIMEOUT", CFG_T_DURATION,
	  R(idle_in_transaction_timeout), "60s", 0, MS_DAY, CFG_K_POOL, "a transaction idle "
	  "this long is rolled back and its connection released; 0: never" },
	{ "stall_timeout", "STALL_TIMEOUT", CFG_T_DURATION, R(stall_timeout), "60s", 0, MS_DAY,
	  CFG_K_POOL, "a statement whose client reads none of its reply this long is "
	  "cancelled; 0: never" },
	{ "session_reset", "SESSION_RESET", CFG_T_BOOL, R(session_reset), "true", 0, 1,
	  CFG_K_POOL, "reset session state between handles (always between users)" },
	{ "max_value_size", "MAX_VALUE_SIZE", CFG_T_SIZE, R(max_value_size), "16M", 1024, GIB,
	  CFG_K_POOL, "largest string, blob or row a SQLite statement may make" },
	{ "read_only", "READ_ONLY", CFG_T_BOOL, R(read_only), "false", 0, 1, CFG_K_POOL,
	  "open the database read-only" },
	{ "pool_mode", "POOL_MODE", CFG_T_CHOICE, R(pool_mode), "transaction", 0, 1,
	  CFG_K_POOL, "PostgreSQL-protocol clients: transaction (a connection per "
	  "statement or transaction) or session (one connection for the client's life)",
	  pool_modes },
	{ "max_replica_lag", "MAX_REPLICA_LAG", CFG_T_DURATION, R(max_replica_lag), "0", 0,
	  MS_DAY, CFG_K_POOL, "a standby replaying further behind than this gets no new "
	  "requests; 0: not checked" },
	{ "lag_fallback", "LAG_FALLBACK", CFG_T_CHOICE, R(lag_fallback), "wait", 0, 2,
	  CFG_K_POOL, "when no standby qualifies: wait (up to acquire_timeout), primary "
	  "(read there) or fail", lag_fallbacks },
	{ "read_your_writes", "READ_YOUR_WRITES", CFG_T_BOOL, R(read_your_writes), "false",
	  0, 1, CFG_K_POOL, "a client's reads run where its last write through the "
	  "environment's primary has been replayed" },
	{ "read_your_writes_timeout", "READ_YOUR_WRITES_TIMEOUT", CFG_T_DURATION,
	  R(read_your_writes_timeout), "1s", 0, MS_HOUR, CFG_K_POOL, "how long a read waits "
	  "for a standby to replay its client's write before lag_fallback decides" },
	{ "replica_check_interval", "REPLICA_CHECK_INTERVAL", CFG_T_DURATION,
	  R(replica_check_interval), "1s", 10, MS_HOUR, CFG_K_POOL, "how often each host of "
	  "a multi-host PostgreSQL role is asked for its state and replication lag" },
	{ "cache.size", "CACHE_SIZE", CFG_T_INT, R(cache_size), "200", 0, 1000000, CFG_K_POOL,
	  "cached results at most; 0 disables the result cache" },
	{ "cache.ttl", "CACHE_TTL", CFG_T_DURATION, R(cache_ttl), "60s", 0, MS_DAY, CFG_K_POOL,
	  "the oldest a cached result may be" },
	{ "cache.max_bytes", "CACHE_MAX_BYTES", CFG_T_SIZE, R(cache_max_bytes), "64M",
	  0, 64 * GIB, CFG_K_POOL, "memory for cached results" },
	{ "cache.max_result_bytes", "CACHE_MAX_RESULT_BYTES", CFG_T_SIZE,
	  R(cache_max_result_bytes), "1M", 0, GIB, CFG_K_POOL, "largest result cached" },
	{ "allow.users", "ALLOW_USERS", CFG_T_NAMES, R(allow_users), "", 0, 0, 0,
	  "users allowed to open handles; empty: the default policy" },
	{ "allow.groups", "ALLOW_GROUPS", CFG_T_NAMES, R(allow_groups), "", 0, 0, 0,
	  "groups allowed to open handles; empty: the default policy" },
	{ "overridable", "OVERRIDABLE", CFG_T_KEYS, R(overridable), "", 0, 0, 0,
	  "keys a client may override when it opens a handle" },
	{ NULL, NULL, 0, 0, 0, NULL, 0, 0, 0, NULL }
};
#pragma GCC diagnostic pop

/*
 * The counts in dbmd.h follow the table, or dbmd does not compile.  A daemon key more
 * than DAEMON_KEYS runs into the role key placed at [DAEMON_KEYS]: initialising an
 * element twice is an error in this table (the pragma above), whatever the warning
 * flags.  Any other key added, or counted in the wrong scope, makes the table longer or
 * shorter than the counts say.  (A daemon key removed without lowering DAEMON_KEYS
 * leaves an empty row before the role keys; the config suite's key-table test finds it.)
 */
_Static_assert(sizeof(cfg_keys) / sizeof(cfg_keys[0]) == DAEMON_KEYS + ROLE_KEYS + 1,
    "cfg_keys disagrees with DAEMON_KEYS and ROLE_KEYS in dbmd.h");

static const char *const builtin_envs[] = { "development", "test", "production", NULL };
static const char *const builtin_roles[] = { "primary", "read_only", NULL };

/* Names that would make an environment variable or a --set path ambiguous. */
static const char *const reserved_envs[] = {
	"daemon", "config", "socket", "state", "log", "max", "shutdown", "drain", "admin", NULL
};

static const char *const errnames[CFG_E_MAX_] = {
	[CFG_E_FILE] = "file",
	[CFG_E_SYNTAX] = "syntax",
	[CFG_E_STRUCTURE] = "structure",
	[CFG_E_DUPLICATE] = "duplicate",
	[CFG_E_UNKNOWN_KEY] = "unknown-key",
	[CFG_E_TYPE] = "type",
	[CFG_E_RANGE] = "range",
	[CFG_E_DURATION] = "duration",
	[CFG_E_SIZE] = "size",
	[CFG_E_URI] = "uri",
	[CFG_E_NAME] = "name",
	[CFG_E_VARIABLE] = "variable",
	[CFG_E_PERMISSION] = "permission",
	[CFG_E_MISSING] = "missing",
	[CFG_E_CONFLICT] = "conflict",
	[CFG_E_UNKNOWN_ENV] = "unknown-environment",
	[CFG_E_UNKNOWN_ROLE] = "unknown-role",
	[CFG_E_NOT_OVERRIDABLE] = "not-overridable",
};

const char *
config_errname(enum cfg_errcode code)
{
	return (unsigned)code < CFG_E_MAX_ ? errnames[code] : "?";
}

const char *
config_source_name(enum cfg_source src)
{
	static const char *const names[CFG_SRC_MAX_] = {
		"default", "file", "env", "explicit", "request"
	};

	return (unsigned)src < CFG_SRC_MAX_ ? names[src] : "?";
}

void
config_error(struct cfg_errors *errs, enum cfg_errcode code, const char *where,
    const char *fmt, ...)
{
	struct cfg_error *e;
	va_list ap;

	if (errs == NULL)
		return;
	e = xcalloc(1, sizeof(*e));
	e->code = code;
	e->where = xstrdup(where ? where : "");
	va_start(ap, fmt);
	if (vasprintf(&e->msg, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	TAILQ_INSERT_TAIL(errs, e, entry);
}

void
config_errors_clear(struct cfg_errors *errs)
{
	struct cfg_error *e;

	while ((e = TAILQ_FIRST(errs)) != NULL) {
		TAILQ_REMOVE(errs, e, entry);
		free(e->where);
		free(e->msg);
		free(e);
	}
}

/* One line per problem: "where: message", as compilers and OpenBSD daemons print them. */
void
config_errors_print(const struct cfg_errors *errs, FILE *fp)
{
	const struct cfg_error *e;

	TAILQ_FOREACH(e, errs, entry)
		fprintf(fp, "%s%s%s\n", e->where, e->where[0] ? ": " : "", e->msg);
}

int
config_nerrors(const struct config *cfg)
{
	const struct cfg_error *e;
	int n = 0;

	TAILQ_FOREACH(e, &cfg->errors, entry)
		n++;
	return n;
}

int
config_key_index(const struct cfg_key *k)
{
	return (int)(k - cfg_keys) - (k->scope == CFG_SCOPE_ROLE ? DAEMON_KEYS : 0);
}

const struct cfg_key *
config_key_find(enum cfg_scope scope, const char *name)
{
	const struct cfg_key *k;

	for (k = cfg_keys; k->name != NULL; k++)
		if (k->scope == scope && strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/*
 * The known key of the scope closest to name (by edit distance, or by the part after
 * prefix when the name is dotted), or NULL when nothing is close.  Used for "did you
 * mean" in errors about unknown keys and variables.
 */
const char *
config_suggest(enum cfg_scope scope, const char *name, const char *prefix)
{
	const struct cfg_key *k, *best = NULL;
	unsigned d, bestd;
	char full[128];

	snprintf(full, sizeof(full), "%s%s", prefix ? prefix : "", name);
	bestd = strlen(full) > 8 ? 4 : 3;	/* suggest within 3 edits, 2 for short names */
	for (k = cfg_keys; k->name != NULL; k++) {
		if (k->scope != scope)
			continue;
		if ((d = edit_distance(full, k->name)) < bestd) {
			bestd = d;
			best = k;
		}
	}
	return best ? best->name : NULL;
}

void
config_value_free(struct cfg_value *v)
{
	size_t i;

	free(v->str);
	for (i = 0; i < v->nlist; i++)
		free(v->list[i]);
	free(v->list);
	memset(v, 0, sizeof(*v));
}

static void
value_copy(struct cfg_value *dst, const struct cfg_value *src)
{
	size_t i;

	dst->num = src->num;
	dst->str = src->str ? xstrdup(src->str) : NULL;
	dst->nlist = src->nlist;
	dst->list = NULL;
	if (src->list != NULL) {
		dst->list = xcalloc(src->nlist + 1, sizeof(char *));
		for (i = 0; i < src->nlist; i++)
			dst->list[i] = xstrdup(src->list[i]);
	}
}

/* Parses "1m30s", "250ms", "5s", "2h", "1d" or a bare "0" into milliseconds. */
static int
parse_duration(const char *s, long long *ms)
{
	static const struct { const char *unit; long long ms; } units[] = {
		{ "ms", 1 }, { "s", MS_SECOND }, { "m", MS_MINUTE }, { "h", MS_HOUR },
		{ "d", MS_DAY }, { NULL, 0 }
	};
	long long total = 0, n;
	size_t i, ulen;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!isdigit((unsigned char)*s))
			return -1;
		for (n = 0; isdigit((unsigned char)*s); s++) {
			if (n > (LLONG_MAX / 10) - 10)
				return -1;
			n = n * 10 + (*s - '0');
		}
		for (i = 0; units[i].unit != NULL; i++) {
			ulen = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, ulen) == 0 &&
			    !isalpha((unsigned char)s[ulen]))
				break;
		}
		if (units[i].unit == NULL)
			return -1;
		/* The sum, not only each part, stays below LLONG_MAX / 2: "1h1h1h…" too. */
		if (n > (LLONG_MAX / 2 - total) / units[i].ms)
			return -1;
		total += n * units[i].ms;
		s += ulen;
	}
	*ms = total;
	return 0;
}

/* Parses a byte count with an optional binary suffix: 4096, 64K, 16M, 1G, 16MiB. */
static int
parse_size(const char *s, long long *bytes)
{
	char *end;
	long long n, mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'K' || *end == 'k')
		mult = KIB;
	else if (*end == 'M')
		mult = MIB;
	else if (*end == 'G')
		mult = GIB;
	if (mult != 1) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
			end += strlen(end);
	} else if (strcmp(end, "B") == 0) {
		end++;
	}
	if (*end != '\0' || n > LLONG_MAX / mult)
		return -1;
	*bytes = n * mult;
	return 0;
}

static int
parse_bool(const char *s, long long *b)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		if (strcmp(s, yes[i]) == 0)
			return *b = 1, 0;
	for (i = 0; no[i] != NULL; i++)
		if (strcmp(s, no[i]) == 0)
			return *b = 0, 0;
	return -1;
}

/* User and group names as useradd(8) allows them, or numeric ids. */
static int
valid_account_name(const char *s)
{
	size_t i;

	if (*s == '\0' || *s == '-' || strlen(s) > 32)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-$", s[i]) == NULL)
			return 0;
	return 1;
}

static void
list_append(struct cfg_value *v, const char *item, size_t len)
{
	char **nl = realloc(v->list, (v->nlist + 2) * sizeof(char *));

	if (nl == NULL)
		fatal("realloc");
	v->list = nl;
	v->list[v->nlist] = strndup(item, len);
	if (v->list[v->nlist] == NULL)
		fatal("strndup");
	v->list[++v->nlist] = NULL;
}

/*
 * Keys no client may ever override, whatever overridable says: overridable itself,
 * which decides what may be, and the allow lists, which decide who may open.  A client
 * that could override allow.users could grant itself access to any environment.
 */
static const char *
never_overridable(const struct cfg_key *k)
{
	if (strcmp(k->name, "overridable") == 0)
		return "overridable itself can never be overridden";
	if (strncmp(k->name, "allow.", 6) == 0)
		return "the allow lists decide who may open a handle: a client can never "
		    "override them";
	return NULL;
}

/* Checks one item of a list-valued key. */
static int
check_list_item(const struct cfg_key *k, const char *item, struct cfg_errors *errs,
    const char *where)
{
	const struct cfg_key *rk;
	const char *hint, *why;

	if (k->type == CFG_T_NAMES) {
		if (valid_account_name(item))
			return 0;
		config_error(errs, CFG_E_TYPE, where, "%s: \"%s\" is not a valid %s name",
		    k->name, item, strcmp(k->name, "allow.groups") == 0 ? "group" : "user");
		return -1;
	}
	rk = config_key_find(CFG_SCOPE_ROLE, item);
	if (rk != NULL && (why = never_overridable(rk)) != NULL) {
		config_error(errs, CFG_E_CONFLICT, where, "%s: %s: %s", k->name, rk->name, why);
		return -1;
	}
	if (rk != NULL)
		return 0;
	hint = config_suggest(CFG_SCOPE_ROLE, item, NULL);
	config_error(errs, CFG_E_UNKNOWN_KEY, where, "%s: \"%s\" is not a role key%s%s%s",
	    k->name, item, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
	return -1;
}

/*
 * Parses the text of one value for key k into v.  quoted says the text was a quoted YAML
 * scalar: then it is a string and cannot stand for a number or a boolean (YAML's "on"
 * is text, on is true).  Adds a located error and returns -1 when the text is not a
 * valid value; a URI is never echoed with its password.
 */
int
config_parse_value(const struct cfg_key *k, const char *text, int quoted, struct cfg_value *v,
    struct cfg_errors *errs, const char *where)
{
	const char *p;
	enum backend_kind kind;
	char *target = NULL, *buf = NULL;
	size_t i, len = 0, cap = 0;
	int bad = 0;

	memset(v, 0, sizeof(*v));
	switch (k->type) {
	case CFG_T_URI:
		if (*text == '\0') {
			config_error(errs, CFG_E_MISSING, where, "%s: empty", k->name);
			return -1;
		}
		if (uri_check(text, &kind, &target, errs, where, k->name) == -1)
			return -1;
		free(target);
		v->str = xstrdup(text);
		return 0;
	case CFG_T_PATH:
		if (text[0] != '/') {
			config_error(errs, CFG_E_TYPE, where, "%s: \"%s\" is not an absolute path",
			    k->name, text);
			return -1;
		}
		v->str = xstrdup(text);
		return 0;
	case CFG_T_STR:
		v->str = xstrdup(text);
		return 0;
	case CFG_T_INT:
		if (quoted) {
			config_error(errs, CFG_E_TYPE, where,
			    "%s: expected an integer, got the quoted string \"%s\"", k->name, text);
			return -1;
		}
		p = text;
		if (*p == '-')
			p++;
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 15) {
			config_error(errs, CFG_E_TYPE, where, "%s: expected an integer, got \"%s\"",
			    k->name, text);
			return -1;
		}
		v->num = strtoll(text, NULL, 10);
		break;
	case CFG_T_DURATION:
		if (parse_duration(text, &v->num) == -1) {
			config_error(errs, CFG_E_DURATION, where,
			    "%s: \"%s\" is not a duration (write it as 250ms, 5s, 2m, 1h or 1m30s)",
			    k->name, text);
			return -1;
		}
		break;
	case CFG_T_SIZE:
		if (parse_size(text, &v->num) == -1) {
			config_error(errs, CFG_E_SIZE, where,
			    "%s: \"%s\" is not a size (write it as 65536, 64K, 16M or 1G)",
			    k->name, text);
			return -1;
		}
		break;
	case CFG_T_BOOL:
		if (quoted || parse_bool(text, &v->num) == -1) {
			config_error(errs, CFG_E_TYPE, where, "%s: expected true or false, got %s%s%s",
			    k->name, quoted ? "the quoted string \"" : "\"", text, "\"");
			return -1;
		}
		return 0;
	case CFG_T_MODE:
		if (*text == '\0' || strspn(text, "01234567") != strlen(text) ||
		    strlen(text) > 4) {
			config_error(errs, CFG_E_TYPE, where,
			    "%s: \"%s\" is not an octal file mode such as 0660", k->name, text);
			return -1;
		}
		v->num = strtoll(text, NULL, 8);
		break;
	case CFG_T_LOGLEVEL:
		if ((v->num = log_level_parse(text)) < 0) {
			config_error(errs, CFG_E_TYPE, where,
			    "%s: \"%s\" is not one of debug, info, notice, warning, error",
			    k->name, text);
			return -1;
		}
		return 0;
	case CFG_T_CHOICE:
		for (i = 0; k->choices[i] != NULL; i++)
			if (strcmp(text, k->choices[i]) == 0) {
				v->num = (long long)i;
				return 0;
			}
		for (i = 0; k->choices[i] != NULL; i++)
			strbuf_printf(&buf, &len, &cap, "%s%s", i ? ", " : "", k->choices[i]);
		config_error(errs, CFG_E_TYPE, where, "%s: \"%s\" is not one of %s", k->name,
		    text, buf ? buf : "");
		free(buf);
		return -1;
	case CFG_T_NAMES:
	case CFG_T_KEYS:
		/* Text sources (variables, --set) write lists comma-separated. */
		v->list = xcalloc(1, sizeof(char *));
		for (p = text; *p != '\0';) {
			size_t n;

			p += strspn(p, " \t,");
			n = strcspn(p, ",");
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			if (n > 0) {
				list_append(v, p, n);
				if (check_list_item(k, v->list[v->nlist - 1], errs, where) == -1)
					bad = 1;
			}
			p += strcspn(p, ",");
		}
		if (bad) {
			config_value_free(v);
			return -1;
		}
		return 0;
	case CFG_T_MAX_:
		fatalx("%s: key %s has no type", __func__, k->name);
	}
	if (v->num < k->min || v->num > k->max) {
		char *lo, *hi;
		struct cfg_value b = { 0 };

		b.num = k->min;
		lo = config_value_text(k, &b);
		b.num = k->max;
		hi = config_value_text(k, &b);
		config_error(errs, CFG_E_RANGE, where, "%s: %s is out of range (%s..%s)", k->name,
		    text, lo, hi);
		free(lo);
		free(hi);
		return -1;
	}
	return 0;
}

/* A list value from YAML sequence items, each checked as in a text list. */
int
config_parse_list(const struct cfg_key *k, const char *const *items, size_t n,
    struct cfg_value *v, struct cfg_errors *errs, const char *const *wheres)
{
	size_t i;
	int bad = 0;

	memset(v, 0, sizeof(*v));
	v->list = xcalloc(1, sizeof(char *));
	for (i = 0; i < n; i++) {
		if (check_list_item(k, items[i], errs, wheres[i]) == -1) {
			bad = 1;
			continue;
		}
		list_append(v, items[i], strlen(items[i]));
	}
	if (bad)
		config_value_free(v);
	return bad ? -1 : 0;
}

static char *
duration_text(long long ms)
{
	static const struct { const char *unit; long long ms; } units[] = {
		{ "d", MS_DAY }, { "h", MS_HOUR }, { "m", MS_MINUTE }, { "s", MS_SECOND },
		{ "ms", 1 }, { NULL, 0 }
	};
	char *buf = NULL;
	size_t len = 0, cap = 0, i;

	if (ms == 0)
		return xstrdup("0");
	for (i = 0; units[i].unit != NULL; i++) {
		if (ms >= units[i].ms) {
			strbuf_printf(&buf, &len, &cap, "%lld%s", ms / units[i].ms, units[i].unit);
			ms %= units[i].ms;
		}
	}
	return buf;
}

/* A value as text, in the form a user would write it; URIs have their password masked. */
char *
config_value_text(const struct cfg_key *k, const struct cfg_value *v)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, i;

	switch (k->type) {
	case CFG_T_URI:
		return v->str ? uri_redact(v->str) : xstrdup("(not set)");
	case CFG_T_PATH:
	case CFG_T_STR:
		return xstrdup(v->str ? v->str : "");
	case CFG_T_INT:
		return xasprintf("%lld", v->num);
	case CFG_T_DURATION:
		return duration_text(v->num);
	case CFG_T_SIZE:
		if (v->num != 0 && v->num % GIB == 0)
			return xasprintf("%lldG", v->num / GIB);
		if (v->num != 0 && v->num % MIB == 0)
			return xasprintf("%lldM", v->num / MIB);
		if (v->num != 0 && v->num % KIB == 0)
			return xasprintf("%lldK", v->num / KIB);
		return xasprintf("%lld", v->num);
	case CFG_T_BOOL:
		return xstrdup(v->num ? "true" : "false");
	case CFG_T_MODE:
		return xasprintf("%04llo", v->num);
	case CFG_T_LOGLEVEL:
		return xstrdup(log_level_name((int)v->num));
	case CFG_T_CHOICE:
		return xstrdup(k->choices[v->num]);
	case CFG_T_NAMES:
	case CFG_T_KEYS:
		strbuf_printf(&buf, &len, &cap, "[");
		for (i = 0; i < v->nlist; i++)
			strbuf_printf(&buf, &len, &cap, "%s%s", i ? ", " : "", v->list[i]);
		strbuf_printf(&buf, &len, &cap, "]");
		return buf;
	case CFG_T_MAX_:
		break;
	}
	fatalx("%s: key %s has no type", __func__, k->name);
}

static int
streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Records that an environment (role NULL) or a role of one exists. */
int
config_name_add(struct config *cfg, enum cfg_source src, const char *env, const char *role)
{
	struct cfg_name *n;

	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (streq(n->env, env) && streq(n->role, role)) {
			if (src > n->src)
				n->src = src;
			return 0;
		}
	}
	n = xcalloc(1, sizeof(*n));
	n->env = xstrdup(env);
	n->role = role ? xstrdup(role) : NULL;
	n->src = src;
	TAILQ_INSERT_TAIL(&cfg->names, n, entry);
	return 0;
}

static const struct cfg_name *
name_find(const struct config *cfg, const char *env, const char *role)
{
	const struct cfg_name *n;

	TAILQ_FOREACH(n, &cfg->names, entry)
		if (streq(n->env, env) && streq(n->role, role))
			return n;
	return NULL;
}

/*
 * Environment names are lower-case letters and digits, role names may add '_': so a
 * variable such as DBMD_PRODUCTION_READ_ONLY_POOL_SIZE splits one way only.  is_role
 * selects the rule.  A role may share a key's name (read_only): paths and variables try
 * the key first, and no key name is another key's name with a role in front.  Adds an
 * error and returns -1 for an invalid name.
 */
int
config_name_valid(const char *name, int is_role, struct cfg_errors *errs, const char *where)
{
	const char *allowed = is_role ? "abcdefghijklmnopqrstuvwxyz0123456789_"
	    : "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t i;

	if (name[0] < 'a' || name[0] > 'z' || strspn(name, allowed) != strlen(name) ||
	    strlen(name) > DBMD_NAME_MAX) {
		config_error(errs, CFG_E_NAME, where, "%s name \"%s\" is invalid: use up to %d "
		    "lower-case letters%s and digits, starting with a letter",
		    is_role ? "role" : "environment", name, DBMD_NAME_MAX,
		    is_role ? ", underscores" : "");
		return -1;
	}
	if (!is_role) {
		for (i = 0; reserved_envs[i] != NULL; i++) {
			if (strcmp(name, reserved_envs[i]) == 0) {
				config_error(errs, CFG_E_NAME, where,
				    "environment name \"%s\" is reserved", name);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Adds one setting.  The value is moved into the setting (v is cleared).  env and role
 * are NULL for a daemon key; role is NULL for a key set for a whole environment.
 */
int
config_add(struct config *cfg, enum cfg_source src, const char *env, const char *role,
    const struct cfg_key *k, struct cfg_value *v, const char *where)
{
	struct cfg_setting *s = xcalloc(1, sizeof(*s));

	s->env = env ? xstrdup(env) : NULL;
	s->role = role ? xstrdup(role) : NULL;
	s->key = k;
	s->val = *v;
	memset(v, 0, sizeof(*v));
	s->src = src;
	s->where = xstrdup(where ? where : "");
	TAILQ_INSERT_TAIL(&cfg->settings, s, entry);
	if (env != NULL) {
		config_name_add(cfg, src, env, NULL);
		if (role != NULL)
			config_name_add(cfg, src, env, role);
	}
	return 0;
}

static void
add_default(struct config *cfg, const char *env, const char *role, const struct cfg_key *k,
    const char *text)
{
	struct cfg_value v;

	if (config_parse_value(k, text, 0, &v, &cfg->errors, "default") == 0)
		config_add(cfg, CFG_SRC_DEFAULT, env, role, k, &v, "default");
}

/* The value of a variable in the inputs' environment, or NULL. */
static const char *
input_getenv(const struct config_inputs *in, const char *name)
{
	size_t len = strlen(name);
	char *const *e;

	if (in->environ == NULL)
		return NULL;
	for (e = in->environ; *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static char *
upper_dup(const char *s)
{
	char *u = xstrdup(s), *p;

	for (p = u; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

/*
 * Reads the DBMD_ variables.  DBMD_<KEY> sets a daemon key; otherwise the name is
 * DBMD_<ENV>_<KEY> for a whole environment or DBMD_<ENV>_<ROLE>_<KEY> for one role,
 * where <KEY> is the key with dots as underscores (CACHE_SIZE).  Environment names have
 * no underscore and no key is the tail of another, so the split is unique.
 */
static void
load_environ(struct config *cfg, const struct config_inputs *in)
{
	const struct cfg_key *k, *match;
	char *const *e;
	char name[256], *rest, *envname, *role;
	const char *value;
	struct cfg_value v;
	size_t nlen, klen;

	if (in->environ == NULL)
		return;
	for (e = in->environ; *e != NULL; e++) {
		if (strncmp(*e, "DBMD_", 5) != 0 || strchr(*e, '=') == NULL)
			continue;
		value = strchr(*e, '=') + 1;
		nlen = (size_t)(value - 1 - *e);
		if (nlen >= sizeof(name))
			nlen = sizeof(name) - 1;	/* too long to name anything */
		memcpy(name, *e, nlen);
		name[nlen] = '\0';
		rest = name + 5;
		if (strcmp(rest, "CONFIG") == 0)
			continue;	/* names the file; read in config_load() */

		match = NULL;
		for (k = cfg_keys; k->name != NULL; k++)
			if (k->scope == CFG_SCOPE_DAEMON && strcmp(rest, k->envname) == 0)
				match = k;
		if (match != NULL) {
			if (config_parse_value(match, value, 0, &v, &cfg->errors, name) == 0)
				config_add(cfg, CFG_SRC_ENV, NULL, NULL, match, &v, name);
			continue;
		}

		/* <ENV>_<rest>: the environment is everything before the first '_'. */
		char *us = strchr(rest, '_');
		if (us == NULL || us == rest || us[1] == '\0') {
			config_error(&cfg->errors, CFG_E_VARIABLE, name,
			    "not a dbmd variable: use DBMD_<KEY>, DBMD_<ENVIRONMENT>_<KEY> or "
			    "DBMD_<ENVIRONMENT>_<ROLE>_<KEY>");
			continue;
		}
		envname = strndup(rest, (size_t)(us - rest));
		if (envname == NULL)
			fatal("strndup");
		lower(envname);
		rest = us + 1;
		role = NULL;
		match = NULL;
		for (k = cfg_keys; k->name != NULL; k++) {
			if (k->scope != CFG_SCOPE_ROLE)
				continue;
			klen = strlen(k->envname);
			if (strcmp(rest, k->envname) == 0) {
				match = k;
				break;
			}
			if (strlen(rest) > klen + 1 && rest[strlen(rest) - klen - 1] == '_' &&
			    strcmp(rest + strlen(rest) - klen, k->envname) == 0) {
				match = k;
				role = strndup(rest, strlen(rest) - klen - 1);
				if (role == NULL)
					fatal("strndup");
				lower(role);
				break;
			}
		}
		if (match == NULL) {
			const char *tail = strrchr(rest, '_') ? strrchr(rest, '_') + 1 : rest;
			char guess[64];

			snprintf(guess, sizeof(guess), "%s", tail);
			lower(guess);
			const char *hint = config_suggest(CFG_SCOPE_ROLE, guess, NULL);
			config_error(&cfg->errors, CFG_E_VARIABLE, name,
			    "does not end in a role key (such as _URI or _POOL_SIZE)%s%s%s",
			    hint ? "; did you mean the key " : "", hint ? hint : "", hint ? "?" : "");
		} else if (config_name_valid(envname, 0, &cfg->errors, name) == 0 &&
		    (role == NULL || config_name_valid(role, 1, &cfg->errors, name) == 0) &&
		    config_parse_value(match, value, 0, &v, &cfg->errors, name) == 0) {
			config_add(cfg, CFG_SRC_ENV, envname, role, match, &v, name);
		}
		free(envname);
		free(role);
	}
}

/*
 * Reads one --set argument: daemon.KEY=VALUE, ENV.KEY=VALUE or ENV.ROLE.KEY=VALUE.  The
 * middle part is a role unless the rest is a key, since role names never equal keys.
 */
static void
load_set(struct config *cfg, const char *arg)
{
	const struct cfg_key *k;
	char *path, *eq, *dot, *env, *role = NULL, *key, *where;
	const char *hint;
	struct cfg_value v;

	path = xstrdup(arg);
	if ((eq = strchr(path, '=')) == NULL) {
		where = xasprintf("--set %s", path);
		config_error(&cfg->errors, CFG_E_SYNTAX, where,
		    "expected KEY=VALUE, e.g. production.primary.pool_size=30");
		goto done;
	}
	*eq = '\0';
	where = xasprintf("--set %s", path);
	if ((dot = strchr(path, '.')) == NULL) {
		config_error(&cfg->errors, CFG_E_UNKNOWN_KEY, where,
		    "expected daemon.KEY, ENVIRONMENT.KEY or ENVIRONMENT.ROLE.KEY");
		goto done;
	}
	*dot = '\0';
	env = path;
	key = dot + 1;
	if (strcmp(env, "daemon") == 0) {
		if ((k = config_key_find(CFG_SCOPE_DAEMON, key)) == NULL) {
			hint = config_suggest(CFG_SCOPE_DAEMON, key, NULL);
			config_error(&cfg->errors, CFG_E_UNKNOWN_KEY, where,
			    "unknown daemon key \"%s\"%s%s%s", key, hint ? " (did you mean " : "",
			    hint ? hint : "", hint ? "?)" : "");
		} else if (config_parse_value(k, eq + 1, 0, &v, &cfg->errors, where) == 0)
			config_add(cfg, CFG_SRC_EXPLICIT, NULL, NULL, k, &v, where);
		goto done;
	}
	if (config_name_valid(env, 0, &cfg->errors, where) == -1)
		goto done;
	if ((k = config_key_find(CFG_SCOPE_ROLE, key)) == NULL && (dot = strchr(key, '.'))) {
		*dot = '\0';
		role = key;
		key = dot + 1;
		if (config_name_valid(role, 1, &cfg->errors, where) == -1)
			goto done;
		k = config_key_find(CFG_SCOPE_ROLE, key);
	}
	if (k == NULL) {
		hint = config_suggest(CFG_SCOPE_ROLE, key, NULL);
		config_error(&cfg->errors, CFG_E_UNKNOWN_KEY, where, "unknown key \"%s\"%s%s%s",
		    key, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
	} else if (config_parse_value(k, eq + 1, 0, &v, &cfg->errors, where) == 0)
		config_add(cfg, CFG_SRC_EXPLICIT, env, role, k, &v, where);
done:
	free(where);
	free(path);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Reads the main file, then every *.yaml in the dbmd.d directory beside it in byte
 * order of the names.  A missing main file is only an error when it was named.
 */
static void
load_files(struct config *cfg, int named)
{
	struct dirent *de;
	char *copy, *dir, *ddir, **names = NULL;
	size_t n = 0, i, len;
	DIR *dp;

	config_file_load(cfg, cfg->config_file, !named);
	copy = xstrdup(cfg->config_file);
	dir = dirname(copy);
	ddir = xasprintf("%s/dbmd.d", dir);
	free(copy);
	if ((dp = opendir(ddir)) == NULL) {
		if (errno != ENOENT)
			config_error(&cfg->errors, CFG_E_FILE, ddir, "%s", strerror(errno));
		free(ddir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (names == NULL)
			fatal("realloc");
		names[n++] = xasprintf("%s/%s", ddir, de->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		config_file_load(cfg, names[i], 0);
		free(names[i]);
	}
	free(names);
	free(ddir);
}

/* The setting that decides key k for the daemon, or for env/role, among settings. */
static const struct cfg_setting *
setting_find(const struct cfg_settings *list, const struct cfg_setting *extra,
    size_t nextra, const char *env, const char *role, const struct cfg_key *k)
{
	const struct cfg_setting *s, *best = NULL;
	int src, level, bestlevel;
	size_t i;

	for (i = nextra; i > 0; i--)
		if (extra[i - 1].key == k)
			return &extra[i - 1];
	for (src = CFG_SRC_MAX_ - 1; src >= 0; src--) {
		bestlevel = -1;
		TAILQ_FOREACH(s, list, entry) {
			if ((int)s->src != src || s->key != k)
				continue;
			if (k->scope == CFG_SCOPE_DAEMON)
				level = 0;
			else if (s->env == NULL)
				level = 0;
			else if (!streq(s->env, env))
				continue;
			else if (s->role == NULL)
				level = 1;
			else if (streq(s->role, role))
				level = 2;
			else
				continue;
			if (level >= bestlevel) {	/* later beats earlier at one level */
				bestlevel = level;
				best = s;
			}
		}
		if (best != NULL)
			return best;
	}
	return NULL;
}

static void *
field(void *base, const struct cfg_key *k)
{
	return (char *)base + k->off;
}

/* Stores a value into the struct field of its key. */
static void
field_set(void *base, const struct cfg_key *k, const struct cfg_value *v)
{
	switch (k->type) {
	case CFG_T_URI:
	case CFG_T_PATH:
	case CFG_T_STR:
		free(*(char **)field(base, k));
		*(char **)field(base, k) = xstrdup(v->str ? v->str : "");
		break;
	case CFG_T_NAMES:
	case CFG_T_KEYS:
		config_value_free(field(base, k));
		value_copy(field(base, k), v);
		break;
	default:
		*(long long *)field(base, k) = v->num;
		break;
	}
}

static void
resolve_daemon(struct config *cfg)
{
	const struct cfg_key *k;
	const struct cfg_setting *s;
	int i = 0;

	for (k = cfg_keys; k->scope == CFG_SCOPE_DAEMON; k++, i++) {
		s = setting_find(&cfg->settings, NULL, 0, NULL, NULL, k);
		if (s == NULL)
			fatalx("%s: no default for %s", __func__, k->name);
		field_set(&cfg->daemon, k, &s->val);
		cfg->daemon.origin[i] = s;
	}
}

static const char *
first_of_list(const char *s, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)strcspn(s, ":"), s);
	return buf;
}

/* Defaults that depend on who runs dbmd and where: the socket and state directory. */
static void
add_path_defaults(struct config *cfg, const struct config_inputs *in)
{
	const char *rt = input_getenv(in, "XDG_RUNTIME_DIR");
	const char *sd = input_getenv(in, "STATE_DIRECTORY");
	const char *xs = input_getenv(in, "XDG_STATE_HOME");
	char buf[4096], *p;

	if (in->uid == 0)
		p = xstrdup("/run/dbmd/dbmd.sock");
	else if (rt != NULL && rt[0] == '/')
		p = xasprintf("%s/dbmd.sock", rt);
	else
		p = xasprintf("/tmp/dbmd-%u/dbmd.sock", (unsigned)in->uid);
	add_default(cfg, NULL, NULL, config_key_find(CFG_SCOPE_DAEMON, "socket"), p);
	free(p);
	if (sd != NULL && sd[0] == '/')
		p = xstrdup(first_of_list(sd, buf, sizeof(buf)));
	else if (xs != NULL && xs[0] == '/')
		p = xasprintf("%s/dbmd", xs);
	else
		p = xasprintf("/tmp/dbmd-%u", (unsigned)in->uid);
	add_default(cfg, NULL, NULL, config_key_find(CFG_SCOPE_DAEMON, "state_dir"), p);
	free(p);
}

/*
 * The built-in environments: development on a SQLite file in the state directory, test
 * on an in-memory database, production with no database at all until one is configured.
 * Each has the roles primary and read_only; every environment has primary.
 */
static void
add_env_defaults(struct config *cfg)
{
	const struct cfg_key *uri = config_key_find(CFG_SCOPE_ROLE, "uri");
	const struct cfg_key *ro = config_key_find(CFG_SCOPE_ROLE, "read_only");
	const struct cfg_name *n;
	char *dev;
	size_t i, j;

	for (i = 0; builtin_envs[i] != NULL; i++) {
		config_name_add(cfg, CFG_SRC_DEFAULT, builtin_envs[i], NULL);
		for (j = 0; builtin_roles[j] != NULL; j++)
			config_name_add(cfg, CFG_SRC_DEFAULT, builtin_envs[i], builtin_roles[j]);
		add_default(cfg, builtin_envs[i], "read_only", ro, "true");
	}
	dev = xasprintf("sqlite:%s/development.db", cfg->daemon.state_dir);
	add_default(cfg, "development", NULL, uri, dev);
	free(dev);
	add_default(cfg, "test", NULL, uri, "sqlite::memory:");
	TAILQ_FOREACH(n, &cfg->names, entry)
		if (n->role == NULL)
			config_name_add(cfg, CFG_SRC_DEFAULT, n->env, "primary");
}

static struct config *
config_new(void)
{
	static uint64_t serial;
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->serial = ++serial;
	TAILQ_INIT(&cfg->settings);
	TAILQ_INIT(&cfg->names);
	TAILQ_INIT(&cfg->errors);
	return cfg;
}

/*
 * Reads every source and checks the result: built-in defaults, the files, the DBMD_
 * variables, the --set arguments.  Always returns a configuration; it is usable only
 * when config_nerrors() is 0.  Nothing here touches the running daemon, so a reload can
 * load, inspect and then swap or discard.
 */
struct config *
config_load(const struct config_inputs *in)
{
	struct config *cfg = config_new();
	const struct cfg_key *k;
	const char *file = in->config_file;
	size_t i;
	int named = 1;

	for (k = cfg_keys; k->name != NULL; k++)
		if (k->def != NULL)
			add_default(cfg, NULL, NULL, k, k->def);
	add_path_defaults(cfg, in);

	if (file == NULL)
		file = input_getenv(in, "DBMD_CONFIG");
	if (file == NULL || *file == '\0') {
		file = DBMD_CONFIG_DEFAULT;
		named = 0;
	}
	cfg->config_file = xstrdup(file);
	load_files(cfg, named);
	load_environ(cfg, in);
	for (i = 0; in->sets != NULL && in->sets[i] != NULL; i++)
		load_set(cfg, in->sets[i]);

	resolve_daemon(cfg);
	add_env_defaults(cfg);
	config_check(cfg);
	return cfg;
}

void
config_free(struct config *cfg)
{
	struct cfg_setting *s;
	struct cfg_name *n;
	const struct cfg_key *k;
	size_t i;

	if (cfg == NULL)
		return;
	while ((s = TAILQ_FIRST(&cfg->settings)) != NULL) {
		TAILQ_REMOVE(&cfg->settings, s, entry);
		free(s->env);
		free(s->role);
		free(s->where);
		config_value_free(&s->val);
		free(s);
	}
	while ((n = TAILQ_FIRST(&cfg->names)) != NULL) {
		TAILQ_REMOVE(&cfg->names, n, entry);
		free(n->env);
		free(n->role);
		free(n);
	}
	config_errors_clear(&cfg->errors);
	for (k = cfg_keys; k->scope == CFG_SCOPE_DAEMON; k++)
		if (k->type == CFG_T_PATH || k->type == CFG_T_STR)
			free(*(char **)field(&cfg->daemon, k));
		else if (k->type == CFG_T_NAMES)
			config_value_free(field(&cfg->daemon, k));
	for (i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->config_file);
	free(cfg);
}

/* The list of known names (environments, or the roles of one) for error messages. */
static char *
names_list(const struct config *cfg, const char *env)
{
	const struct cfg_name *n;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	strbuf_printf(&buf, &len, &cap, "%s", "");
	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (env == NULL ? n->role != NULL : (n->role == NULL || !streq(n->env, env)))
			continue;
		strbuf_printf(&buf, &len, &cap, "%s%s", len ? ", " : "",
		    env == NULL ? n->env : n->role);
	}
	return buf;
}

static bool
list_has(const struct cfg_value *v, const char *item)
{
	size_t i;

	for (i = 0; i < v->nlist; i++)
		if (strcmp(v->list[i], item) == 0)
			return true;
	return false;
}

/* Canonical text of the settings that define a pool; equal text, equal pool. */
static void
role_config_canonical(struct role_config *rc)
{
	const struct cfg_key *k;
	struct cfg_value v = { 0 };
	char *buf = NULL, *t;
	size_t len = 0, cap = 0;

	strbuf_printf(&buf, &len, &cap, "backend=%s\ntarget=%s\n",
	    rc->backend == BACKEND_SQLITE ? "sqlite" : "postgresql", rc->target);
	for (k = cfg_keys; k->name != NULL; k++) {
		if (k->scope != CFG_SCOPE_ROLE || !(k->flags & CFG_K_POOL) || k->type == CFG_T_URI)
			continue;
		v.num = *(long long *)field(rc, k);
		t = xasprintf("%lld", v.num);
		strbuf_printf(&buf, &len, &cap, "%s=%s\n", k->name, t);
		free(t);
	}
	rc->canonical = buf;
	rc->hash = hash64(buf, len);
}

/*
 * Resolves one environment/role with a client's overrides (none: NULL, 0).  Overrides
 * must be keys the environment lists as overridable.  Returns NULL and adds errors to
 * errs when the names are unknown, an override is refused or the result is invalid.
 */
struct role_config *
config_resolve(const struct config *cfg, const char *env, const char *role,
    const struct cfg_override *ov, size_t nov, struct cfg_errors *errs)
{
	struct role_config *rc;
	struct cfg_setting *extra = NULL;
	const struct cfg_setting *s;
	const struct cfg_key *k;
	char *where, *list, *uenv, *urole;
	const char *hint;
	size_t i, nextra = 0;
	int bad = 0;

	where = xasprintf("%s/%s", env, role);
	if (name_find(cfg, env, NULL) == NULL) {
		list = names_list(cfg, NULL);
		config_error(errs, CFG_E_UNKNOWN_ENV, where,
		    "unknown environment \"%s\" (known: %s)", env, list);
		free(list);
		free(where);
		return NULL;
	}
	if (name_find(cfg, env, role) == NULL) {
		list = names_list(cfg, env);
		config_error(errs, CFG_E_UNKNOWN_ROLE, where,
		    "environment \"%s\" has no role \"%s\" (it has: %s)", env, role, list);
		free(list);
		free(where);
		return NULL;
	}

	rc = xcalloc(1, sizeof(*rc));
	rc->env = xstrdup(env);
	rc->role = xstrdup(role);

	/* The overridable list comes first: it decides which overrides are taken. */
	k = config_key_find(CFG_SCOPE_ROLE, "overridable");
	s = setting_find(&cfg->settings, NULL, 0, env, role, k);
	field_set(rc, k, &s->val);
	if (nov > 0)
		extra = xcalloc(nov, sizeof(*extra));
	for (i = 0; i < nov; i++) {
		char *owhere = xasprintf("override %s", ov[i].key);

		if ((k = config_key_find(CFG_SCOPE_ROLE, ov[i].key)) == NULL) {
			hint = config_suggest(CFG_SCOPE_ROLE, ov[i].key, NULL);
			config_error(errs, CFG_E_UNKNOWN_KEY, owhere, "unknown key \"%s\"%s%s%s",
			    ov[i].key, hint ? " (did you mean " : "", hint ? hint : "",
			    hint ? "?)" : "");
			bad = 1;
		} else if (!list_has(&rc->overridable, k->name) ||
		    never_overridable(k) != NULL) {
			config_error(errs, CFG_E_NOT_OVERRIDABLE, owhere,
			    "environment \"%s\" does not permit clients to override %s", env,
			    k->name);
			bad = 1;
		} else if (config_parse_value(k, ov[i].value, 0, &extra[nextra].val, errs,
		    owhere) == 0) {
			extra[nextra].key = k;
			extra[nextra].src = CFG_SRC_REQUEST;
			extra[nextra].where = owhere;
			owhere = NULL;
			nextra++;
		} else
			bad = 1;
		free(owhere);
	}

	for (k = cfg_keys; k->name != NULL && !bad; k++) {
		if (k->scope != CFG_SCOPE_ROLE)
			continue;
		s = setting_find(&cfg->settings, extra, nextra, env, role, k);
		if (s == NULL) {
			if (k->type != CFG_T_URI)
				fatalx("%s: no default for %s", __func__, k->name);
			uenv = upper_dup(env);
			urole = upper_dup(role);
			config_error(errs, CFG_E_MISSING, where,
			    "no database is configured: set environments.%s.roles.%s.uri (or "
			    "environments.%s.uri) in %s or a file in dbmd.d/, or the variable "
			    "DBMD_%s_%s_URI (or DBMD_%s_URI)", env, role, env,
			    cfg->config_file, uenv, urole, uenv);
			free(uenv);
			free(urole);
			bad = 1;
			continue;
		}
		field_set(rc, k, &s->val);
		/* Request overrides are temporary: their origin would dangle. */
		rc->origin[config_key_index(k)] = s->src == CFG_SRC_REQUEST ? NULL : s;
	}
	if (!bad && rc->min_idle > rc->pool_size) {
		config_error(errs, CFG_E_CONFLICT, where,
		    "min_idle (%lld) is larger than pool_size (%lld)", rc->min_idle, rc->pool_size);
		bad = 1;
	}
	if (!bad && rc->lag_fallback == LAG_FALLBACK_PRIMARY && !rc->read_only) {
		config_error(errs, CFG_E_CONFLICT, where, "lag_fallback: primary needs "
		    "read_only: true (a read role's statements must not write on the primary)");
		bad = 1;
	}
	if (!bad && uri_check(rc->uri, &rc->backend, &rc->target, errs, where, "uri") == -1)
		bad = 1;
	/* Each environment's in-memory database is its own; its roles share it. */
	if (!bad && rc->backend == BACKEND_SQLITE && strcmp(rc->target, ":memory:") == 0) {
		free(rc->target);
		rc->target = xasprintf(":memory:%s", env);
	}
	for (i = 0; i < nextra; i++) {
		config_value_free(&extra[i].val);
		free(extra[i].where);
	}
	free(extra);
	free(where);
	if (bad) {
		role_config_free(rc);
		return NULL;
	}
	role_config_canonical(rc);
	return rc;
}

void
role_config_free(struct role_config *rc)
{
	if (rc == NULL)
		return;
	free(rc->env);
	free(rc->role);
	free(rc->uri);
	free(rc->target);
	free(rc->canonical);
	config_value_free(&rc->allow_users);
	config_value_free(&rc->allow_groups);
	config_value_free(&rc->overridable);
	free(rc);
}

bool
role_config_equal(const struct role_config *a, const struct role_config *b)
{
	return a->hash == b->hash && strcmp(a->canonical, b->canonical) == 0;
}

/* True when a source other than the defaults sets a key for the whole environment. */
static bool
env_configured(const struct config *cfg, const char *env)
{
	const struct cfg_setting *s;

	TAILQ_FOREACH(s, &cfg->settings, entry)
		if (s->src != CFG_SRC_DEFAULT && s->role == NULL && streq(s->env, env))
			return true;
	return false;
}

/*
 * Checks what the sources configured: every role that a file, a variable or --set names
 * must resolve, and so must the primary role of an environment they set keys for.  A
 * built-in role nobody configured is not checked, so a production with no database is
 * no error until someone asks for it.
 */
int
config_check(struct config *cfg)
{
	const struct cfg_name *n;
	struct role_config *rc;

	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (n->role == NULL)
			continue;
		if (n->src == CFG_SRC_DEFAULT &&
		    (strcmp(n->role, "primary") != 0 || !env_configured(cfg, n->env)))
			continue;
		rc = config_resolve(cfg, n->env, n->role, NULL, 0, &cfg->errors);
		role_config_free(rc);
	}
	return config_nerrors(cfg) == 0 ? 0 : -1;
}

/* Where a value came from, as --resolve and dbmctl show it. */
char *
config_origin_text(const struct cfg_setting *s)
{
	if (s == NULL || s->src == CFG_SRC_DEFAULT)
		return xstrdup("default");
	if (s->src == CFG_SRC_FILE)
		return xasprintf("file %s", s->where);
	if (s->src == CFG_SRC_ENV)
		return xasprintf("env %s", s->where);
	if (s->src == CFG_SRC_EXPLICIT)
		return xasprintf("explicit (%s)", s->where);
	return xstrdup(config_source_name(s->src));
}

/* A role key's resolved value as text; URIs with the password masked. */
char *
config_role_value_text(const struct role_config *rc, const struct cfg_key *k)
{
	struct cfg_value v = { 0 };

	if (k->type == CFG_T_NAMES || k->type == CFG_T_KEYS)
		return config_value_text(k, field((void *)rc, k));
	if (k->type == CFG_T_URI)
		return uri_redact(rc->uri);
	v.num = *(long long *)field((void *)rc, k);
	return config_value_text(k, &v);
}

/* The resolved configuration, one key a line with its value and its source. */
void
config_print_resolved(const struct role_config *rc, FILE *fp)
{
	const struct cfg_key *k;
	char *text, *src;

	fprintf(fp, "environment  %s\nrole         %s\nbackend      %s\nhash         %016llx\n",
	    rc->env, rc->role, rc->backend == BACKEND_SQLITE ? "sqlite" : "postgresql",
	    (unsigned long long)rc->hash);
	for (k = cfg_keys; k->name != NULL; k++) {
		if (k->scope != CFG_SCOPE_ROLE)
			continue;
		text = config_role_value_text(rc, k);
		src = config_origin_text(rc->origin[config_key_index(k)]);
		fprintf(fp, "%-24s %-40s %s\n", k->name, text, src);
		free(text);
		free(src);
	}
}
