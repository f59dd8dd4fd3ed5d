/* admin.c: the operator's requests (status, clients, resolve), answered as result sets. */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmd.h"
#include "proto.h"

#define COLS_MAX	40

/* A result set being written: the columns, then rows of text values. */
struct rset {
	struct proto_buf	*b;
	uint32_t		 reqid;
	uint16_t		 ncols;
	uint64_t		 nrows;
	char			 vals[COLS_MAX][64];
	const char		*ptrs[COLS_MAX];
	int			 nvals;
};

/*
 * Opens a result set.  Its values are dbmd's own text, counts included: a version 2
 * ROW_DESC says so, every column text (25) with no modifier, so that a client reads
 * them as it reads them in version 1.
 */
static void
rset_begin(struct rset *rs, struct proto_buf *b, uint32_t reqid, uint16_t version,
    const char *const *cols, uint16_t ncols)
{
	struct proto_row_desc d = { .version = version, .ncols = ncols, .names = cols };

	if (ncols > COLS_MAX)
		fatalx("%s: %u columns, at most %d", __func__, ncols, COLS_MAX);
	rs->b = b;
	rs->reqid = reqid;
	rs->ncols = ncols;
	rs->nrows = 0;
	rs->nvals = 0;
	proto_encode_row_desc(b, reqid, &d);
}

/* Adds one value to the current row; long text is passed by pointer. */
static void
rset_str(struct rset *rs, const char *v)
{
	if (rs->nvals >= rs->ncols)
		fatalx("%s: more values than %d columns", __func__, rs->ncols);
	rs->ptrs[rs->nvals++] = v;
}

static void
rset_num(struct rset *rs, long long v)
{
	if (rs->nvals >= rs->ncols)
		fatalx("%s: more values than %d columns", __func__, rs->ncols);
	snprintf(rs->vals[rs->nvals], sizeof(rs->vals[0]), "%lld", v);
	rs->ptrs[rs->nvals] = rs->vals[rs->nvals];
	rs->nvals++;
}

static void
rset_row(struct rset *rs)
{
	struct proto_data_row r = { .ncols = rs->ncols, .values = rs->ptrs };

	if (rs->nvals != rs->ncols)
		fatalx("%s: %d values for %d columns", __func__, rs->nvals, rs->ncols);
	proto_encode_data_row(rs->b, rs->reqid, &r);
	rs->nrows++;
	rs->nvals = 0;
}

static void
rset_end(struct rset *rs, const char *what, bool more)
{
	char tag[64];
	struct proto_complete c = { .rows_affected = 0, .command_tag = tag,
	    .cache_state = PROTO_CACHE_BYPASS, .more = more };

	snprintf(tag, sizeof(tag), "%s %llu", what, (unsigned long long)rs->nrows);
	proto_encode_complete(rs->b, rs->reqid, &c);
}

/* True when the pool is known by name ("env/role"). */
static bool
pool_named(const struct pool *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nnames; i++)
		if (strcmp(p->names[i], name) == 0)
			return true;
	return false;
}

/*
 * Who asks, and so what the reply may show.  An administrator (access_admin_allowed)
 * sees everything.  Any other client sees only the pools it may open and the
 * connections of its own uid: status must not tell one user which databases others
 * use, where they are, or who is connected (the design's "status shows a non-admin
 * client only what it may use").
 */
struct viewer {
	struct peer	*peer;
	bool		 admin;
	uint16_t	 version;	/* its session's protocol: how replies are laid out */
};

/*
 * The names the pool serves that the viewer may open, as the configuration in use
 * resolves them, comma-separated; all of them for an administrator.  A pool none of
 * whose names resolves any more (a reload removed them; it drains) is judged by the
 * settings it was built from.  NULL: the viewer may not see the pool at all.  A pool
 * that serves names of several environments shows each viewer only its own, so that
 * status does not name the environments it may not open.
 */
static char *
pool_names_for(const struct viewer *v, const struct pool *p)
{
	struct cfg_errors errs;
	const struct role_config *rc;
	char env[DBMD_NAME_MAX + 1], *out = NULL;
	const char *slash;
	size_t len = 0, cap = 0, i;
	bool resolved = false;

	if (p->gone)
		return NULL;	/* freed at the next turn of the loop */
	if (v->admin)
		return xstrdup(p->label ? p->label : "");
	TAILQ_INIT(&errs);
	for (i = 0; i < p->nnames; i++) {
		slash = strchr(p->names[i], '/');
		snprintf(env, sizeof(env), "%.*s", (int)(slash - p->names[i]), p->names[i]);
		rc = factory_resolve(dbmd->factory, dbmd->cfg, env, slash + 1, &errs);
		config_errors_clear(&errs);
		if (rc == NULL)
			continue;
		resolved = true;
		if (access_open_allowed(v->peer, rc, &dbmd->cfg->daemon))
			strbuf_printf(&out, &len, &cap, "%s%s", len ? ", " : "", p->names[i]);
	}
	if (!resolved && access_open_allowed(v->peer, p->rc, &dbmd->cfg->daemon))
		out = xasprintf("%s/%s", p->rc->env, p->rc->role);
	return out;
}

static bool
pool_visible(const struct viewer *v, const struct pool *p)
{
	char *names = pool_names_for(v, p);

	free(names);
	return names != NULL;
}

/* May the viewer see the client?  Its own uid's sessions, or all for an admin. */
static bool
session_visible(const struct viewer *v, const struct session *s)
{
	return !s->dead && (v->admin || s->peer.uid == v->peer->uid);
}

/*
 * One histogram as a row: its count, its sum, and its buckets as cumulative counts
 * "le_us:count,...,+Inf:count", the shape Prometheus wants.
 */
static void
hist_row(struct rset *rs, const char *hash, const char *metric, const struct hist *h)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t cum = 0;
	int i;

	for (i = 0; i <= HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (i < HIST_BUCKETS)
			strbuf_printf(&buf, &len, &cap, "%lld:%llu,", (long long)hist_bounds_us[i],
			    (unsigned long long)cum);
		else
			strbuf_printf(&buf, &len, &cap, "+Inf:%llu", (unsigned long long)cum);
	}
	rset_str(rs, hash);
	rset_str(rs, metric);
	rset_num(rs, (long long)h->n);
	rset_num(rs, (long long)h->sum_us);
	rset_str(rs, buf);
	rset_row(rs);
	free(buf);
}

/* One server of a multi-host pool as a row. */
static void
host_row(struct rset *rs, const char *hash, const struct pghosts *hs, size_t i)
{
	struct pghost_info hi;
	char lsn[32] = "";

	pghosts_info(hs, i, &hi);
	if (hi.lsn != 0)
		snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned)(hi.lsn >> 32),
		    (unsigned)(hi.lsn & 0xffffffff));
	rset_str(rs, hash);
	rset_str(rs, hi.name);
	rset_str(rs, hi.server);
	rset_str(rs, hi.state);
	rset_num(rs, (long long)hi.down_since);
	rset_str(rs, hi.last_error);
	rset_num(rs, hi.connections);
	rset_num(rs, (long long)hi.statements);
	rset_num(rs, (long long)hi.lag_ms);
	rset_str(rs, lsn);
	rset_row(rs);
}

/*
 * STATUS: the daemon, then its pools, their histograms, and the servers of pools
 * that have several.  The daemon's counts are
 * of what the viewer may see: for a client that is not an admin, its own clients and
 * their handles, and the pools it may open.
 */
static void
status_reply(struct proto_buf *b, uint32_t reqid, const struct viewer *v)
{
	static const char *const dcols[] = { "version", "pid", "uptime_s", "clients", "pools",
	    "handles", "socket" };
	static const char *const pcols[] = { "hash", "names", "backend", "target", "state",
	    "pool_size", "connecting", "idle", "active", "pinned", "closing", "waiting",
	    "longest_wait_ms", "handles", "statements", "errors", "connects",
	    "connect_failures", "discarded", "acquire_timeouts", "resets",
	    "idle_txn_timeouts", "stall_timeouts", "pin_refusals", "cache_entries",
	    "cache_bytes", "cache_hits", "cache_misses", "cache_bypasses", "cache_evictions",
	    "cache_expirations", "cache_invalidations", "last_error" };
	static const char *const hcols[] = { "hash", "metric", "count", "sum_us", "buckets" };
	static const char *const scols[] = { "hash", "host", "server", "state", "down_since",
	    "last_error", "connections", "statements", "lag_ms", "replay_lsn" };
	struct rset rs;
	struct session *s;
	struct pool *p;
	struct request *w;
	struct cache_stats cs;
	char hash[17], *target, *names;
	long long handles = 0, clients = 0, pools = 0, wait;
	size_t i;

	TAILQ_FOREACH(s, &dbmd->sessions, entry)
		if (session_visible(v, s)) {
			clients++;
			handles += s->nhandles;
		}
	TAILQ_FOREACH(p, &dbmd->factory->pools, entry)
		pools += pool_visible(v, p);
	rset_begin(&rs, b, reqid, v->version, dcols, 7);
	rset_str(&rs, DBMD_VERSION);
	rset_num(&rs, (long long)getpid());
	rset_num(&rs, (now_ms() - dbmd->started) / 1000);
	rset_num(&rs, clients);
	rset_num(&rs, pools);
	rset_num(&rs, handles);
	rset_str(&rs, dbmd->socket_path ? dbmd->socket_path : "");
	rset_row(&rs);
	rset_end(&rs, "STATUS", true);

	rset_begin(&rs, b, reqid, v->version, pcols,
	    (uint16_t)(sizeof(pcols) / sizeof(pcols[0])));
	TAILQ_FOREACH(p, &dbmd->factory->pools, entry) {
		if ((names = pool_names_for(v, p)) == NULL)
			continue;
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)p->rc->hash);
		target = uri_redact(p->rc->uri);
		w = TAILQ_FIRST(&p->reqs[REQ_QUEUED].list);
		wait = w != NULL ? (now_us() - w->queued_at) / 1000 : 0;
		p->cache_ops->stats(p->cache, &cs);
		rset_str(&rs, hash);
		rset_str(&rs, names);
		rset_str(&rs, p->be->name);
		rset_str(&rs, target);
		rset_str(&rs, p->disposing ? "disposing" : p->draining ? "draining" : "serving");
		rset_num(&rs, p->rc->pool_size);
		rset_num(&rs, p->nconns[CONN_OPENING]);
		rset_num(&rs, p->nconns[CONN_IDLE]);
		rset_num(&rs, p->nconns[CONN_ACTIVE]);
		rset_num(&rs, p->nconns[CONN_PINNED]);
		rset_num(&rs, p->nconns[CONN_CLOSING]);
		rset_num(&rs, p->reqs[REQ_QUEUED].n);
		rset_num(&rs, wait);
		rset_num(&rs, p->nhandles);
		rset_num(&rs, (long long)p->stats.statements);
		rset_num(&rs, (long long)p->stats.errors);
		rset_num(&rs, (long long)p->stats.connects);
		rset_num(&rs, (long long)p->stats.connect_failures);
		rset_num(&rs, (long long)p->stats.discarded);
		rset_num(&rs, (long long)p->stats.timeouts);
		rset_num(&rs, (long long)p->stats.resets);
		rset_num(&rs, (long long)p->stats.idle_txn_timeouts);
		rset_num(&rs, (long long)p->stats.stall_timeouts);
		rset_num(&rs, (long long)p->stats.pin_refusals);
		rset_num(&rs, (long long)cs.entries);
		rset_num(&rs, (long long)cs.bytes);
		rset_num(&rs, (long long)cs.hits);
		rset_num(&rs, (long long)cs.misses);
		rset_num(&rs, (long long)cs.bypasses);
		rset_num(&rs, (long long)cs.evictions);
		rset_num(&rs, (long long)cs.expirations);
		rset_num(&rs, (long long)cs.invalidations);
		rset_str(&rs, p->last_error);
		rset_row(&rs);
		free(target);
		free(names);
	}
	rset_end(&rs, "POOLS", true);

	rset_begin(&rs, b, reqid, v->version, hcols, 5);
	TAILQ_FOREACH(p, &dbmd->factory->pools, entry) {
		if (!pool_visible(v, p))
			continue;
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)p->rc->hash);
		hist_row(&rs, hash, "acquire_wait", &p->stats.wait);
		hist_row(&rs, hash, "statement", &p->stats.exec);
	}
	rset_end(&rs, "HISTOGRAMS", true);

	rset_begin(&rs, b, reqid, v->version, scols,
	    (uint16_t)(sizeof(scols) / sizeof(scols[0])));
	TAILQ_FOREACH(p, &dbmd->factory->pools, entry) {
		if (!pool_visible(v, p))
			continue;
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)p->rc->hash);
		for (i = 0; i < pghosts_n(p->hosts); i++)
			host_row(&rs, hash, p->hosts, i);
	}
	rset_end(&rs, "HOSTS", false);
}

/* CLIENTS: every connected client for an admin; for anyone else, its own uid's. */
static void
clients_reply(struct proto_buf *b, uint32_t reqid, const struct viewer *v)
{
	static const char *const cols[] = { "id", "pid", "uid", "gid", "name", "handles",
	    "transactions", "age_s", "state", "protocol" };
	struct rset rs;
	struct session *s;
	struct handle *h;
	int txns;

	rset_begin(&rs, b, reqid, v->version, cols, 10);
	TAILQ_FOREACH(s, &dbmd->sessions, entry) {
		if (!session_visible(v, s))
			continue;
		txns = 0;
		TAILQ_FOREACH(h, &s->handles, entry)
			txns += h->hold.in_txn;
		rset_num(&rs, (long long)s->id);
		rset_num(&rs, (long long)s->pid);
		rset_num(&rs, (long long)s->peer.uid);
		rset_num(&rs, (long long)s->peer.gid);
		rset_str(&rs, s->name);
		rset_num(&rs, s->nhandles);
		rset_num(&rs, txns);
		rset_num(&rs, (now_ms() - s->connected_at) / 1000);
		rset_str(&rs, s->busy != NULL ? "active" : "idle");
		rset_str(&rs, s->kind == SESSION_PG ? "postgresql" : "dbmd");
		rset_row(&rs);
	}
	rset_end(&rs, "CLIENTS", false);
}

/*
 * The resolved configuration: the names and the hash, then one row per key.  Only for
 * names the viewer may open, as OPEN decides it; any other is refused as OPEN refuses
 * it, so RESOLVE tells no more than OPEN would.
 */
static int
resolve_reply(struct proto_buf *b, uint32_t reqid, const char *env, const char *role,
    const struct viewer *v, char **err, int *code)
{
	static const char *const cols[] = { "key", "value", "source" };
	struct cfg_errors errs;
	const struct role_config *rc;
	struct rset rs;
	char *text, *src, hash[17];
	const struct cfg_key *k;
	const struct cfg_setting *s;

	TAILQ_INIT(&errs);
	if ((rc = factory_resolve(dbmd->factory, dbmd->cfg, env, role, &errs)) == NULL) {
		*err = factory_resolve_error(&errs, v->admin, env, role, code);
		return -1;
	}
	if (!v->admin && !access_open_allowed(v->peer, rc, &dbmd->cfg->daemon)) {
		*code = PROTO_E_PERMISSION;
		*err = xasprintf("permission denied for environment \"%s\"", env);
		return -1;
	}
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)rc->hash);
	rset_begin(&rs, b, reqid, v->version, cols, 3);
	rset_str(&rs, "environment"), rset_str(&rs, env), rset_str(&rs, ""), rset_row(&rs);
	rset_str(&rs, "role"), rset_str(&rs, role), rset_str(&rs, ""), rset_row(&rs);
	rset_str(&rs, "backend"), rset_str(&rs, rc->backend == BACKEND_SQLITE ? "sqlite" :
	    "postgresql"), rset_str(&rs, ""), rset_row(&rs);
	rset_str(&rs, "hash"), rset_str(&rs, hash), rset_str(&rs, ""), rset_row(&rs);
	for (k = cfg_keys; k->name != NULL; k++) {
		if (k->scope != CFG_SCOPE_ROLE)
			continue;
		text = config_role_value_text(rc, k);
		s = rc->origin[config_key_index(k)];
		src = config_origin_text(s);
		rset_str(&rs, k->name);
		rset_str(&rs, text);
		rset_str(&rs, src);
		rset_row(&rs);
		free(text);
		free(src);
	}
	rset_end(&rs, "RESOLVE", false);
	return 0;
}

/*
 * Drains (or, with flush, empties the result cache of) the pools a target names: a
 * hash prefix in hex, or ENV/ROLE (any pool serving that name).  One row per pool.
 */
static int
target_reply(struct proto_buf *b, uint32_t reqid, const struct viewer *v,
    const char *target, bool flush, char **err)
{
	static const char *const cols[] = { "hash", "names", "handles", "state" };
	struct pool *p, *next;
	struct rset rs;
	char hash[17], *name;
	size_t tlen = strlen(target);

	if (tlen == 0 || (strchr(target, '/') == NULL &&
	    strspn(target, "0123456789abcdef") != tlen)) {
		*err = xasprintf("\"%s\" is neither a pool hash (hex) nor ENVIRONMENT/ROLE", target);
		return -1;
	}
	rset_begin(&rs, b, reqid, v->version, cols, 4);
	for (p = TAILQ_FIRST(&dbmd->factory->pools); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)p->rc->hash);
		name = p->label;
		if (strchr(target, '/') != NULL ? !pool_named(p, target) :
		    strncmp(hash, target, tlen) != 0)
			continue;
		if (p->disposing)
			continue;
		rset_str(&rs, hash);
		rset_str(&rs, name ? name : "");
		rset_num(&rs, p->nhandles);
		if (flush) {
			rset_str(&rs, "flushed");
			rset_row(&rs);
			p->cache_ops->flush(p->cache);
			log_info("pool %s (%s): result cache flushed by dbmctl", hash,
			    name ? name : "");
			continue;
		}
		rset_str(&rs, p->nhandles > 0 ? "draining" : "disposed");
		rset_row(&rs);
		factory_drain(dbmd->factory, p, dbmd->cfg->daemon.drain_timeout,
		    "dbmctl dispose");
	}
	rset_end(&rs, flush ? "CACHE FLUSH" : "DISPOSE", false);
	return 0;
}

/* Dispatches an operator request; every reply is complete when this returns. */
void
admin_request(struct session *s, const struct proto_frame *f)
{
	struct proto_buf b;
	struct proto_resolve m;
	struct proto_dispose_pool dm;
	struct proto_error e = { .sqlstate = "", .detail = "", .hint = "" };
	struct viewer v = { .peer = &s->peer, .version = s->version };
	char *err = NULL;
	int code = PROTO_E_INTERNAL;

	v.admin = access_admin_allowed(&s->peer, &dbmd->cfg->daemon);
	proto_buf_init(&b);
	b.max_payload = s->max_frame;
	switch (f->hdr.type) {
	case PROTO_MSG_STATUS:
	case PROTO_MSG_CLIENTS:
		if (proto_decode_empty(f) != PROTO_DERR_OK)
			goto malformed;
		if (f->hdr.type == PROTO_MSG_STATUS)
			status_reply(&b, f->hdr.request_id, &v);
		else
			clients_reply(&b, f->hdr.request_id, &v);
		break;
	case PROTO_MSG_RESOLVE:
		if (proto_decode_resolve(f, &m) != PROTO_DERR_OK)
			goto malformed;
		if (resolve_reply(&b, f->hdr.request_id, m.environment, m.role, &v, &err,
		    &code) == -1) {
			if (code == PROTO_E_PERMISSION)
				log_warnx("client %llu (pid %ld uid %lu): RESOLVE refused: %s",
				    (unsigned long long)s->id, (long)s->pid,
				    (unsigned long)s->peer.uid, err);
			proto_buf_reset(&b);
			e.code = (uint16_t)code;
			e.message = err;
			proto_encode_error(&b, f->hdr.request_id, &e);
		}
		break;
	case PROTO_MSG_RELOAD:
	case PROTO_MSG_DISPOSE_POOL:
	case PROTO_MSG_CACHE_FLUSH:
		if (!v.admin) {
			log_warnx("client %llu (pid %ld uid %lu): %s refused: permission denied",
			    (unsigned long long)s->id, (long)s->pid, (unsigned long)s->peer.uid,
			    proto_msg_name(f->hdr.type));
			e.code = PROTO_E_PERMISSION;
			e.message = "permission denied: only root, dbmd's user and daemon.admin "
			    "may reload, dispose or flush caches";
			proto_encode_error(&b, f->hdr.request_id, &e);
			break;
		}
		if (f->hdr.type == PROTO_MSG_RELOAD) {
			if (proto_decode_empty(f) != PROTO_DERR_OK)
				goto malformed;
			if (daemon_reload("dbmctl reload", &err) == -1) {
				e.code = PROTO_E_CONFIG;
				e.message = "the new configuration is invalid; nothing was changed";
				e.detail = err;
				proto_encode_error(&b, f->hdr.request_id, &e);
			} else
				proto_encode_empty(&b, PROTO_MSG_OK, f->hdr.request_id);
			break;
		}
		if (proto_decode_dispose_pool(f, &dm) != PROTO_DERR_OK)
			goto malformed;
		if (target_reply(&b, f->hdr.request_id, &v, dm.target,
		    f->hdr.type == PROTO_MSG_CACHE_FLUSH, &err) == -1) {
			proto_buf_reset(&b);
			e.code = PROTO_E_INTERNAL;
			e.message = err;
			proto_encode_error(&b, f->hdr.request_id, &e);
		}
		break;
	default:
		goto malformed;
	}
	if (b.oom) {
		proto_buf_free(&b);
		free(err);
		session_close(s, PROTO_E_NOMEM, "out of memory for a reply");
		return;
	}
	session_output(s, b.data, b.len);
	proto_buf_free(&b);
	free(err);
	return;
malformed:
	proto_buf_free(&b);
	session_close(s, PROTO_E_PROTOCOL, "malformed operator request");
}
