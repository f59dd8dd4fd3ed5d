/* factory.c: the factory and its instance cache: one pool per distinct configuration. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dbmd.h"
#include "proto.h"

#define MAX_OVERRIDE_POOLS	16	/* pools that only clients' overrides created */

static void collect_cb(evutil_socket_t, short, void *);

/*
 * The factory is given its parts: a backend per kind (NULL where the build has none)
 * and the constructor of result caches.  Tests hand it fakes that count calls, and no
 * event base: they collect gone pools themselves (factory_collect).
 */
struct factory *
factory_new(struct event_base *base, const struct backend_ops *sqlite,
    const struct backend_ops *pg, const struct cache_ops *cache)
{
	struct factory *f = xcalloc(1, sizeof(*f));

	TAILQ_INIT(&f->pools);
	f->backends[BACKEND_SQLITE] = sqlite;
	f->backends[BACKEND_POSTGRES] = pg;
	f->cache_ops = cache;
	f->max_override_pools = MAX_OVERRIDE_POOLS;
	if (base != NULL && (f->collect = event_new(base, -1, 0, collect_cb, f)) == NULL)
		fatalx("cannot create the factory's events");
	return f;
}

/* A message for the client, or NULL when there is no memory for one. */
static char *
msgf(const char *fmt, ...) ATTR_PRINTF(1, 2);

static char *
msgf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n == -1 ? NULL : s;
}

/* Maps a configuration error to the code the client sees. */
static int
config_errcode_to_proto(enum cfg_errcode code)
{
	switch (code) {
	case CFG_E_UNKNOWN_ENV:
		return PROTO_E_UNKNOWN_ENV;
	case CFG_E_UNKNOWN_ROLE:
		return PROTO_E_UNKNOWN_ROLE;
	case CFG_E_NOT_OVERRIDABLE:
		return PROTO_E_NOT_OVERRIDABLE;
	default:
		return PROTO_E_CONFIG;
	}
}

static void
resolved_clear(struct factory *f)
{
	struct resolved *rs;

	while ((rs = f->resolved) != NULL) {
		f->resolved = rs->next;
		free(rs->env);
		free(rs->role);
		role_config_free(rs->rc);
		free(rs);
	}
}

/*
 * What env/role resolves to without overrides under cfg, resolved once per name and
 * configuration: opening by name is then a lookup.  NULL, with the reasons in errs,
 * when the name does not resolve.  The result belongs to the factory and is valid
 * until the configuration changes.
 */
const struct role_config *
factory_resolve(struct factory *f, const struct config *cfg, const char *env,
    const char *role, struct cfg_errors *errs)
{
	struct resolved *rs;
	struct role_config *rc;

	if (f->resolved_serial != cfg->serial) {
		resolved_clear(f);
		f->resolved_serial = cfg->serial;
	}
	for (rs = f->resolved; rs != NULL; rs = rs->next)
		if (strcmp(rs->env, env) == 0 && strcmp(rs->role, role) == 0)
			return rs->rc;
	if ((rc = config_resolve(cfg, env, role, NULL, 0, errs)) == NULL)
		return NULL;
	if ((rs = calloc(1, sizeof(*rs))) == NULL || (rs->env = strdup(env)) == NULL ||
	    (rs->role = strdup(role)) == NULL) {
		if (rs != NULL)
			free(rs->env);
		free(rs);
		role_config_free(rc);
		config_error(errs, CFG_E_MISSING, "", "out of memory");
		return NULL;
	}
	rs->rc = rc;
	rs->next = f->resolved;
	f->resolved = rs;
	return rc;
}

/* A pool serving exactly rc, if one is taking handles. */
static struct pool *
pool_find(struct factory *f, const struct role_config *rc)
{
	struct pool *p;

	TAILQ_FOREACH(p, &f->pools, entry)
		if (!p->disposing && !p->draining && role_config_equal(p->rc, rc))
			return p;
	return NULL;
}

/* A new handle on p, opened by env/role with or without overrides. */
static struct pool *
pool_attach(struct factory *f, struct pool *p, const char *env, const char *role,
    size_t nov, int *code, char **msg)
{
	if (pool_add_name(p, env, role) == -1) {
		*code = PROTO_E_NOMEM;
		*msg = NULL;
		return NULL;
	}
	if (nov == 0 && p->from_override) {
		p->from_override = false;	/* configured names use it now */
		f->override_pools--;
	}
	p->nhandles++;
	return p;
}

/*
 * The code and message for env/role when it does not resolve, and the errors cleared.
 * Only an administrator is told which environments and roles exist: anyone else
 * learns that the name it gave is unknown, not the names of others' databases.
 */
char *
factory_resolve_error(struct cfg_errors *errs, bool admin, const char *env,
    const char *role, int *code)
{
	struct cfg_error *e;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	*code = config_errcode_to_proto(TAILQ_FIRST(errs)->code);
	if (!admin && *code == PROTO_E_UNKNOWN_ENV)
		buf = msgf("unknown environment \"%s\"", env);
	else if (!admin && *code == PROTO_E_UNKNOWN_ROLE)
		buf = msgf("environment \"%s\" has no role \"%s\"", env, role);
	else
		TAILQ_FOREACH(e, errs, entry)
			if (strbuf_printf(&buf, &len, &cap, "%s%s%s%s", len ? "; " : "",
			    e->where, e->where[0] ? ": " : "", e->msg) == -1)
				break;
	config_errors_clear(errs);
	return buf;
}

/* An OPEN whose configuration does not resolve. */
static struct pool *
resolve_failed(struct cfg_errors *errs, bool admin, const char *env, const char *role,
    int *code, char **msg)
{
	*msg = factory_resolve_error(errs, admin, env, role, code);
	return NULL;
}

static void
invalidate(void *arg, const char *db_key, const char *const *tables, size_t ntables)
{
	struct factory *f = arg;
	struct pool *p;

	if (db_key == NULL)
		return;
	TAILQ_FOREACH(p, &f->pools, entry)
		if (p->db_key != NULL && strcmp(p->db_key, db_key) == 0)
			p->cache_ops->invalidate(p->cache, tables, ntables);
}

/*
 * A disposed pool has no connections and no handles left.  It stays on the list, gone,
 * until collected from the loop: whoever is walking the list now, however deep the
 * call, finds every pool where it was.
 */
static void
pool_gone(void *arg, struct pool *p)
{
	struct factory *f = arg;

	f->npools--;
	if (p->from_override)
		f->override_pools--;
	if (f->collect != NULL)
		event_active(f->collect, EV_TIMEOUT, 0);
}

/*
 * A PostgreSQL pool that writes learns where the primary is after each write it
 * commits when a role of the environment reads its clients' writes (read_your_writes).
 */
static void
track_writes(struct factory *f, const struct config *cfg, struct pool *p, const char *env)
{
	const struct role_config *rc;
	struct cfg_errors errs;
	struct cfg_name *n;

	if (p->track_lsn || p->rc->backend != BACKEND_POSTGRES || p->rc->read_only)
		return;
	TAILQ_INIT(&errs);
	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (n->role == NULL || strcmp(n->env, env) != 0)
			continue;
		rc = factory_resolve(f, cfg, env, n->role, &errs);
		config_errors_clear(&errs);
		if (rc != NULL && rc->read_your_writes) {
			p->track_lsn = true;
			return;
		}
	}
}

/* A new configuration: whether a pool's writes are read again is decided anew. */
static void
retrack_writes(struct factory *f, const struct config *cfg, struct pool *p)
{
	char env[DBMD_NAME_MAX + 1];
	const char *slash;
	size_t i;

	p->track_lsn = false;
	for (i = 0; i < p->nnames; i++) {
		slash = strchr(p->names[i], '/');
		snprintf(env, sizeof(env), "%.*s", (int)(slash - p->names[i]), p->names[i]);
		track_writes(f, cfg, p, env);
	}
}

/*
 * OPEN(environment, role, overrides): resolves the configuration (only the overrides
 * the environment permits), validates it, and looks its canonical form up among the
 * pools.  An equal pool is shared; otherwise a new one is built: the backend from the
 * URI's scheme, the result cache through the injected constructor, the pool around
 * them.  The peer, when given, must be on the environment's allow lists as configured:
 * access is decided before any override is applied, so that no override can widen it.
 * The pool's handle count is raised for the caller.  On failure returns NULL with a
 * proto error code and a message for the client (the caller logs it).
 */
static struct pool *
open_pool(struct factory *f, const struct config *cfg, const char *env, const char *role,
    const struct cfg_override *ov, size_t nov, struct peer *peer, int *code,
    char **msg)
{
	struct pool_owner owner = { pool_gone, invalidate, f };
	struct cfg_errors errs;
	struct role_config *rc;
	const struct backend_ops *be;
	const struct role_config *known;
	struct pool *p;
	char err[256];
	bool admin;

	admin = peer == NULL || access_admin_allowed(peer, &cfg->daemon);
	TAILQ_INIT(&errs);
	/*
	 * The name as configured: a lookup.  It decides access whether or not overrides
	 * follow, and a name that does not resolve without them is not opened with them.
	 */
	if ((known = factory_resolve(f, cfg, env, role, &errs)) == NULL)
		return resolve_failed(&errs, admin, env, role, code, msg);
	if (peer != NULL && !access_open_allowed(peer, known, &cfg->daemon)) {
		*code = PROTO_E_PERMISSION;
		*msg = msgf("permission denied for environment \"%s\"", env);
		return NULL;
	}
	/* By name alone onto a pool that exists: no resolution at all. */
	if (nov == 0 && (p = pool_find(f, known)) != NULL)
		return pool_attach(f, p, env, role, nov, code, msg);

	/* With overrides, or for a new pool (which owns its configuration): resolved now. */
	if ((rc = config_resolve(cfg, env, role, ov, nov, &errs)) == NULL)
		return resolve_failed(&errs, admin, env, role, code, msg);

	if ((p = pool_find(f, rc)) != NULL) {
		role_config_free(rc);
		return pool_attach(f, p, env, role, nov, code, msg);
	}

	if (nov > 0 && f->override_pools >= f->max_override_pools) {
		*code = PROTO_E_LIMIT;
		*msg = msgf("%s/%s: %d pools made by client overrides exist already; "
		    "open without overrides or dispose handles", env, role, f->override_pools);
		role_config_free(rc);
		return NULL;
	}
	if ((be = f->backends[rc->backend]) == NULL) {
		*code = PROTO_E_BACKEND;
		*msg = msgf("%s/%s: this dbmd has no %s backend", env, role,
		    rc->backend == BACKEND_SQLITE ? "SQLite" : "PostgreSQL");
		role_config_free(rc);
		return NULL;
	}
	if ((p = pool_new(&owner, rc, be, f->cache_ops, err, sizeof(err))) == NULL) {
		*code = PROTO_E_BACKEND;
		*msg = msgf("%s/%s: %s", env, role, err);
		role_config_free(rc);
		return NULL;
	}
	if (pool_add_name(p, env, role) == -1) {
		pool_free(p);
		*code = PROTO_E_NOMEM;
		*msg = NULL;
		return NULL;
	}
	p->from_override = nov > 0;
	f->override_pools += p->from_override;
	p->nhandles = 1;
	TAILQ_INSERT_TAIL(&f->pools, p, entry);
	f->npools++;
	log_info("pool %016llx created for %s/%s: %s", (unsigned long long)rc->hash, env, role,
	    p->from_override ? "from client overrides" : "configured");
	return p;
}

struct pool *
factory_open(struct factory *f, const struct config *cfg, const char *env, const char *role,
    const struct cfg_override *ov, size_t nov, struct peer *peer, int *code,
    char **msg)
{
	struct pool *p = open_pool(f, cfg, env, role, ov, nov, peer, code, msg);

	if (p != NULL)
		track_writes(f, cfg, p, env);
	return p;
}

/*
 * A handle on the pool went away.  A pool that only overrides made is disposed with
 * its last handle; a configured one stays warm until the janitor finds it unused for
 * idle_timeout.
 */
void
factory_release(struct factory *f, struct pool *p)
{
	if (p->nhandles <= 0)
		fatalx("%s: pool %016llx has no handles", __func__,
		    (unsigned long long)p->rc->hash);
	if (--p->nhandles > 0)
		return;
	p->unused_since = now_ms();
	if (p->disposing)
		factory_dispose(f, p, "its last handle was disposed");	/* frees it */
	else if (p->from_override)
		factory_dispose(f, p, "its last handle was disposed");
	else if (p->draining)
		factory_dispose(f, p, "drained: its last handle was disposed");
}

/*
 * Drains a pool: it takes no new handles, serves those it has until they are disposed,
 * and is disposed then or after timeout ms, whichever comes first.
 */
void
factory_drain(struct factory *f, struct pool *p, int64_t timeout, const char *reason)
{
	if (p->draining || p->disposing)
		return;
	if (p->nhandles == 0) {
		factory_dispose(f, p, reason);
		return;
	}
	p->draining = true;
	p->drain_deadline = now_ms() + timeout;
	log_info("pool %016llx (%s) draining: %s; %d handles left, disposed in %llds at most",
	    (unsigned long long)p->rc->hash, p->label ? p->label : "", reason, p->nhandles,
	    (long long)(timeout / 1000));
}

/* Does any name the pool serves still resolve to exactly its settings? */
static bool
pool_still_configured(const struct pool *p, const struct config *cfg)
{
	struct cfg_errors errs;
	struct role_config *rc;
	char env[DBMD_NAME_MAX + 1];
	const char *slash;
	bool same = false;
	size_t i;

	TAILQ_INIT(&errs);
	for (i = 0; i < p->nnames && !same; i++) {
		slash = strchr(p->names[i], '/');
		snprintf(env, sizeof(env), "%.*s", (int)(slash - p->names[i]), p->names[i]);
		if ((rc = config_resolve(cfg, env, slash + 1, NULL, 0, &errs)) != NULL) {
			same = role_config_equal(rc, p->rc);
			role_config_free(rc);
		}
		config_errors_clear(&errs);
	}
	return same;
}

/*
 * A new configuration is in place: pools whose settings some name still resolves to
 * keep serving untouched; the others drain.  Pools made by overrides are left to go
 * with their handles.  Returns the number of pools set draining.
 */
int
factory_reconfigure(struct factory *f, const struct config *cfg)
{
	struct pool *p, *next;
	int n = 0;

	f->max_override_pools = (int)cfg->daemon.max_override_pools;
	resolved_clear(f);
	for (p = TAILQ_FIRST(&f->pools); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		/* Where the old values came from is gone with the old configuration. */
		memset(p->rc->origin, 0, sizeof(p->rc->origin));
		retrack_writes(f, cfg, p);
		if (p->from_override || p->disposing || p->gone || p->draining ||
		    pool_still_configured(p, cfg))
			continue;
		n++;
		factory_drain(f, p, cfg->daemon.drain_timeout, "its configuration changed");
	}
	return n;
}

/* Disposes one pool: it takes no new handles and is freed when its connections close. */
void
factory_dispose(struct factory *f, struct pool *p, const char *reason)
{
	(void)f;
	pool_dispose(p, reason);
}

/*
 * Disposes every pool.  Idempotent: a pool disposed already is left as it is, and
 * nothing is freed here (factory_collect does that), so the walk is safe whatever the
 * disposals set off.
 */
void
factory_dispose_all(struct factory *f, const char *reason)
{
	struct pool *p;

	TAILQ_FOREACH(p, &f->pools, entry)
		if (!p->disposing)
			pool_dispose(p, reason);
}

/* Frees the pools that are gone, then tells the owner; from the loop, or a test. */
void
factory_collect(struct factory *f)
{
	struct pool *p, *next;
	bool any = false;

	for (p = TAILQ_FIRST(&f->pools); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (!p->gone)
			continue;
		TAILQ_REMOVE(&f->pools, p, entry);
		pool_free(p);
		any = true;
	}
	if (any && f->collected != NULL)
		f->collected(f->collected_arg);
}

static void
collect_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev;
	factory_collect(arg);
}

/*
 * The daemon exits at once (a second SIGTERM): statements still running are stopped,
 * so that none goes on holding its locks on a server that does not notice the client
 * has gone.
 */
void
factory_abort(struct factory *f)
{
	struct pool *p;

	TAILQ_FOREACH(p, &f->pools, entry)
		pool_abort(p);
}

/* Frees the factory and every pool; the pools must have no handles or connections. */
void
factory_free(struct factory *f)
{
	struct pool *p;

	if (f == NULL)
		return;
	resolved_clear(f);
	while ((p = TAILQ_FIRST(&f->pools)) != NULL) {
		TAILQ_REMOVE(&f->pools, p, entry);
		pool_free(p);
	}
	if (f->collect != NULL)
		event_free(f->collect);
	free(f);
}
