/* pool.c: a managed pool of backend connections for one resolved configuration. */

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dbmd.h"
#include "proto.h"

static void pool_check_gone(struct pool *);
static void waiter_timeout(evutil_socket_t, short, void *);
static void idle_txn_timeout(evutil_socket_t, short, void *);
static void conn_reset(struct conn *);
static bool conn_fits(const struct conn *, const struct request *);
static bool conn_serves(const struct conn *, const struct request *);
static struct request *waiter_for(struct pool *, const struct conn *);
static void waiter_arm(struct request *, long long);
static void pool_run_on(struct conn *, struct request *);
static void pool_release_conn(struct conn *);
static void pool_conn_set_state(struct conn *, enum conn_state);

static uint64_t next_conn_id;	/* unique in the process: logs name connections by it */

/*
 * Builds a pool around a backend and a result cache made by the injected constructor.
 * Takes ownership of rc.  On failure nothing is left behind: the cache is destroyed if
 * the backend refuses, and NULL is returned with the reason in err.
 */
struct pool *
pool_new(const struct pool_owner *owner, struct role_config *rc,
    const struct backend_ops *be, const struct cache_ops *cops, char *err, size_t errlen)
{
	struct pool *p;
	int i;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->owner = *owner;
	p->be = be;
	p->cache_ops = cops;
	for (i = 0; i < CONN_STATE_MAX_; i++)
		TAILQ_INIT(&p->conns[i]);
	for (i = 0; i < REQ_STATE_MAX_; i++)
		request_queue_init(&p->reqs[i]);
	TAILQ_INIT(&p->fills);
	p->rc = rc;
	if ((p->cache = cops->create(rc)) == NULL) {
		snprintf(err, errlen, "cannot create the result cache");
		p->rc = NULL;
		free(p);
		return NULL;
	}
	if (be->pool_init(p, err, errlen) == -1) {
		cops->destroy(p->cache);
		p->rc = NULL;
		free(p);
		return NULL;
	}
	p->unused_since = now_ms();
	return p;
}

/* Frees a pool that has no connections and no requests left (pool_quiet). */
void
pool_free(struct pool *p)
{
	size_t i;

	if (p == NULL)
		return;
	if (!pool_quiet(p) || p->reqs[REQ_QUEUED].n > 0)
		fatalx("%s: pool %016llx still has connections or waiters", __func__,
		    (unsigned long long)p->rc->hash);
	p->be->pool_fini(p);
	p->cache_ops->destroy(p->cache);
	role_config_free(p->rc);
	for (i = 0; i < p->nnames; i++)
		free(p->names[i]);
	free(p->names);
	free(p->label);
	free(p->db_key);
	free(p);
}

/*
 * Adds "env/role" to the names the pool is known by, once; 0, or -1 when out of
 * memory (the pool keeps the names it had).
 */
int
pool_add_name(struct pool *p, const char *env, const char *role)
{
	char *name, **names, *label;
	size_t i;

	for (i = 0; i < p->nnames; i++) {
		const char *slash = strchr(p->names[i], '/');

		if ((size_t)(slash - p->names[i]) == strlen(env) &&
		    strncmp(p->names[i], env, strlen(env)) == 0 && strcmp(slash + 1, role) == 0)
			return 0;
	}
	if (asprintf(&name, "%s/%s", env, role) == -1)
		return -1;
	if ((names = reallocarray(p->names, p->nnames + 1, sizeof(*names))) == NULL) {
		free(name);
		return -1;
	}
	p->names = names;
	if (asprintf(&label, "%s%s%s", p->label ? p->label : "", p->label ? ", " : "",
	    name) == -1) {
		free(name);
		return -1;
	}
	p->names[p->nnames++] = name;
	free(p->label);
	p->label = label;
	return 0;
}

/* Connections that exist or are being made, closing ones excluded. */
int
pool_total(const struct pool *p)
{
	return p->nconns[CONN_OPENING] + p->nconns[CONN_IDLE] + p->nconns[CONN_ACTIVE] +
	    p->nconns[CONN_PINNED];
}

bool
pool_quiet(const struct pool *p)
{
	return pool_total(p) + p->nconns[CONN_CLOSING] == 0;
}

/*
 * The one place a connection changes state: it moves to the list of its new state.  A
 * connection pinned inside a transaction has idle_in_transaction_timeout to be used.
 */
static void
pool_conn_set_state(struct conn *c, enum conn_state st)
{
	struct pool *p = c->pool;
	long long ms = p->rc->idle_in_transaction_timeout;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if ((unsigned)st >= CONN_STATE_MAX_)
		fatalx("%s: bad state %d", __func__, st);
	if (c->state == CONN_PINNED && c->idle_txn != NULL)
		evtimer_del(c->idle_txn);
	TAILQ_REMOVE(&p->conns[c->state], c, entry);
	p->nconns[c->state]--;
	c->state = st;
	TAILQ_INSERT_TAIL(&p->conns[st], c, entry);
	p->nconns[st]++;
	if (st == CONN_PINNED && c->in_txn && ms > 0 && (c->idle_txn != NULL ||
	    (c->idle_txn = evtimer_new(dbmd->base, idle_txn_timeout, c)) != NULL))
		evtimer_add(c->idle_txn, &tv);
}

/* Frees what the pool keeps for a connection; the connection has left every list. */
static void
conn_free(struct conn *c)
{
	if (c->idle_txn != NULL)
		event_free(c->idle_txn);
	cacheflow_conn_free(c);
	free(c);
}

/*
 * The transaction of the handle holding the connection sat idle too long: it is
 * rolled back, the connection cleaned and released, and the handle's next request is
 * told why.
 */
static void
idle_txn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;
	struct pool *p = c->pool;
	struct hold *hd = c->held_by;
	char msg[160];

	(void)fd, (void)ev;
	p->stats.idle_txn_timeouts++;
	log_info("pool %016llx: connection %llu: transaction idle for %lldms: rolled back "
	    "(idle_in_transaction_timeout)", (unsigned long long)p->rc->hash,
	    (unsigned long long)c->id, p->rc->idle_in_transaction_timeout);
	c->held_by = NULL;
	if (hd != NULL) {
		hd->conn = NULL;
		hd->in_txn = false;
		snprintf(msg, sizeof(msg), "the transaction was rolled back: it was idle for "
		    "longer than %lldms (idle_in_transaction_timeout)",
		    p->rc->idle_in_transaction_timeout);
		/* 25P03: idle_in_transaction_session_timeout */
		hd->lost(hd, PROTO_E_TIMEOUT, "25P03", msg);
	}
	conn_reset(c);
}

/*
 * The most connections one client may hold on the pool between statements: never
 * all of them.  A transaction may take the last connection of a pool of one (it ends
 * by idle_in_transaction_timeout at the latest); a pinned handle, which holds its
 * connection for life, may not.
 */
int
pool_pin_limit(const struct pool *p, const struct daemon_config *dc, bool for_life)
{
	long long n = p->rc->pool_size - 1;

	if (n > dc->max_pinned_per_client)
		n = dc->max_pinned_per_client;
	return n < 1 && !for_life ? 1 : (int)n;
}

static struct conn *
conn_new(struct pool *p)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->pool = p;
	c->id = ++next_conn_id;
	c->created = c->last_used = now_ms();
	c->state = CONN_OPENING;
	TAILQ_INSERT_TAIL(&p->conns[CONN_OPENING], c, entry);
	p->nconns[CONN_OPENING]++;
	if (p->be->conn_open(c) == -1) {
		TAILQ_REMOVE(&p->conns[CONN_OPENING], c, entry);
		p->nconns[CONN_OPENING]--;
		free(c);
		return NULL;
	}
	return c;
}

static void
conn_close(struct conn *c, const char *reason)
{
	log_debug("pool %016llx: closing connection %llu: %s",
	    (unsigned long long)c->pool->rc->hash, (unsigned long long)c->id, reason);
	pool_conn_set_state(c, CONN_CLOSING);
	c->pool->be->conn_close(c);
}

/* The backend finished closing a connection. */
void
pool_conn_closed(struct conn *c)
{
	struct pool *p = c->pool;

	TAILQ_REMOVE(&p->conns[c->state], c, entry);
	p->nconns[c->state]--;
	conn_free(c);
	pool_check_gone(p);
}

/* The waiter no longer waits: its acquire timer goes. */
static void
waiter_stop(struct request *r)
{
	if (r->timer != NULL) {
		event_free(r->timer);
		r->timer = NULL;
	}
}

/* Fails every waiting request with code and msg. */
static void
fail_waiters(struct pool *p, int code, const char *sqlstate, const char *msg)
{
	struct request *r;

	while ((r = TAILQ_FIRST(&p->reqs[REQ_QUEUED].list)) != NULL) {
		waiter_stop(r);
		request_fail(r, code, sqlstate, msg);
		request_finish(r);
	}
}

/*
 * Stops a request running on a connection as soon as possible: the backend cancels the
 * statement and ends the request with its error as usual.  A stalled reply goes on, to
 * reach that end; output nobody takes is dropped.
 */
void
pool_cancel(struct request *r)
{
	struct conn *c = r->conn;

	if (r->state != REQ_RUNNING && r->state != REQ_STALLED)
		return;
	r->cancelled = true;
	if (r->state == REQ_STALLED)
		request_move(r, REQ_RUNNING, &r->pool->reqs[REQ_RUNNING]);
	c->pool->be->conn_cancel(c);	/* may end the request at once */
}

/* The client reads again: a stalled reply goes on. */
void
pool_resume(struct request *r)
{
	if (r->state != REQ_STALLED)
		return;
	request_move(r, REQ_RUNNING, &r->pool->reqs[REQ_RUNNING]);
	r->conn->pool->be->conn_resume(r->conn);
}

/* Runs a request on a connection that is idle or held for the request's handle. */
static void
pool_run_on(struct conn *c, struct request *r)
{
	waiter_stop(r);
	request_move(r, REQ_RUNNING, &c->pool->reqs[REQ_RUNNING]);
	c->req = r;
	r->conn = c;
	r->pool = c->pool;
	c->last_used = now_ms();
	r->started_at = now_us();
	r->was_in_txn = c->in_txn;
	if (r->kind != REQ_RESET) {
		c->owner_uid = r->uid;
		c->owner_sid = r->sid;
		c->owner_hid = r->hid;
		hist_add(&c->pool->stats.wait, r->started_at - r->queued_at);
	}
	pool_conn_set_state(c, CONN_ACTIVE);
	if (r->kind == REQ_OPEN) {
		request_done(r, true);	/* acquiring was all it needed */
		return;
	}
	c->pool->be->conn_exec(c, r);
}

/*
 * An idle connection: it serves the first waiter, or rests.  A broken or too old one
 * is closed instead, and a replacement opened if someone is waiting.
 */
static void
pool_release_conn(struct conn *c)
{
	struct pool *p = c->pool;
	struct request *r;
	int64_t now = now_ms();

	c->held_by = NULL;
	c->last_used = now;
	if (c->broken || c->retiring || p->disposing ||
	    (p->rc->max_lifetime > 0 && now - c->created >= p->rc->max_lifetime)) {
		if (c->broken)
			p->stats.discarded++;
		conn_close(c, c->broken ? "broken" : p->disposing ? "pool disposed" :
		    c->retiring ? "its server no longer qualifies" : "max_lifetime reached");
		if (!p->disposing && p->reqs[REQ_QUEUED].n > 0 && pool_total(p) < p->rc->pool_size)
			pool_conn_new(p);
		pool_check_gone(p);
		return;
	}
	if ((r = waiter_for(p, c)) != NULL) {
		if (!conn_fits(c, r)) {
			conn_reset(c);	/* behind the reply it just sent; then the waiter */
			return;
		}
		pool_run_on(c, r);
		return;
	}
	pool_conn_set_state(c, CONN_IDLE);
}

/* The connection's session state is the request's handle's own. */
static bool
conn_owned(const struct conn *c, const struct request *r)
{
	return c->owner_sid == r->sid && c->owner_hid == r->hid && r->hid != 0;
}

/*
 * May the request run on the connection as it is?  When it has no session state, when
 * the state is its own handle's, or its own user's with session_reset off: no state
 * ever reaches another handle (another user, always) without a reset between.  A
 * statement that fills the pool's cache runs clean: its result is for every handle.
 */
static bool
conn_fits(const struct conn *c, const struct request *r)
{
	if (!c->session_dirty)
		return true;
	if (r->capturing)
		return false;
	return conn_owned(c, r) || (!c->pool->rc->session_reset && c->owner_uid == r->uid);
}

/*
 * The idle connection a request takes without a reset: the one its own handle used
 * last, which holds the handle's state and is warm, else the clean (or the user's)
 * one idle the shortest time: its server process is the likeliest to be awake and in
 * cache, and under light load the others stay idle long enough for idle_timeout to
 * close them.
 */
static struct conn *
idle_for(struct pool *p, const struct request *r)
{
	struct conn *c, *fit = NULL;

	TAILQ_FOREACH_REVERSE(c, &p->conns[CONN_IDLE], conn_list, entry) {
		if (!conn_serves(c, r))
			continue;
		if (c->session_dirty && !r->capturing && conn_owned(c, r))
			return c;
		if (fit == NULL && conn_fits(c, r))
			fit = c;
	}
	return fit;
}

/* May the connection's server serve the request now (the backend's word)? */
static bool
conn_serves(const struct conn *c, const struct request *r)
{
	return c->pool->be->conn_serves == NULL || c->pool->be->conn_serves(c, r);
}

/* The first waiter the connection's server serves, in arrival order. */
static struct request *
waiter_for(struct pool *p, const struct conn *c)
{
	struct request *r;

	TAILQ_FOREACH(r, &p->reqs[REQ_QUEUED].list, entry)
		if (conn_serves(c, r))
			return r;
	return NULL;
}

/*
 * Places a request: on the connection its handle holds, else an idle one at once,
 * else a new one while the pool is below pool_size, else the request waits its turn
 * (FIFO) for at most acquire_timeout.
 */
void
pool_submit(struct pool *p, struct request *r)
{
	struct conn *c;

	r->pool = p;
	if (p->disposing) {
		request_fail(r, PROTO_E_DRAINING, "", "the pool is being disposed");
		request_finish(r);
		return;
	}
	if (r->hold != NULL && (c = r->hold->conn) != NULL) {
		pool_run_on(c, r);
		return;
	}
	if ((c = idle_for(p, r)) != NULL) {
		pool_run_on(c, r);
		return;
	}
	/* The timer first: a request is never queued without its deadline. */
	if ((r->timer = evtimer_new(dbmd->base, waiter_timeout, r)) == NULL) {
		request_fail(r, PROTO_E_NOMEM, "53200", "out of memory");
		request_finish(r);
		return;
	}
	request_move(r, REQ_QUEUED, &p->reqs[REQ_QUEUED]);
	p->stats.waits++;
	/*
	 * A read-your-writes request waits for a standby to replay its client's write
	 * at most read_your_writes_timeout; then lag_fallback decides.
	 */
	r->ryw_deadline = r->min_lsn != 0 &&
	    p->rc->read_your_writes_timeout < p->rc->acquire_timeout;
	waiter_arm(r, r->ryw_deadline ? p->rc->read_your_writes_timeout :
	    p->rc->acquire_timeout);
	if (r->min_lsn != 0 && p->be->pool_wake != NULL)
		p->be->pool_wake(p);
	pool_kick(p);	/* may end r */
}

static void
waiter_arm(struct request *r, long long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(r->timer, &tv);
}

/*
 * Finds connections for the waiters: an idle connection serves the first waiter its
 * server may serve (cleaned first when another handle's state is on it); for the
 * rest a connection opens while the pool has room.  A waiter the primary may now
 * serve (read-your-writes fell back) gets room made for it: an idle connection to a
 * standby that has not replayed its write closes.
 */
void
pool_kick(struct pool *p)
{
	struct conn *c;
	struct request *r = NULL;
	bool again = true, fallback = false;
	int cleaning = 0;

	while (again && !p->disposing) {
		again = false;
		TAILQ_FOREACH(c, &p->conns[CONN_IDLE], entry)
			if ((r = waiter_for(p, c)) != NULL)
				break;
		if (c == NULL)
			break;
		/* Either takes c off the idle list: the walk starts again. */
		if (!conn_fits(c, r)) {
			conn_reset(c);	/* another user's: cleaned, then it serves the queue */
			cleaning++;
		} else
			pool_run_on(c, r);
		again = true;
	}
	if (p->disposing || p->reqs[REQ_QUEUED].n <= p->nconns[CONN_OPENING] + cleaning)
		return;
	TAILQ_FOREACH(r, &p->reqs[REQ_QUEUED].list, entry)
		fallback = fallback || r->ryw_fallback;
	if (pool_total(p) >= p->rc->pool_size) {
		if (!fallback || !pghosts_primary_known(p->hosts) || p->nconns[CONN_OPENING] > 0 ||
		    (c = TAILQ_FIRST(&p->conns[CONN_IDLE])) == NULL)
			return;
		conn_close(c, "room for a request the primary serves");
	}
	if (conn_new(p) == NULL)
		fail_waiters(p, PROTO_E_NOMEM, "53200", "out of memory");
}

/*
 * The connection's server no longer qualifies (a standby fell behind, a primary
 * stood in for standbys that are back): closed now when idle, else when it is next
 * free; the handle holding it keeps it until then.
 */
void
pool_conn_retire(struct conn *c)
{
	struct pool *p = c->pool;

	if (c->state == CONN_CLOSING || c->retiring)
		return;
	c->retiring = true;
	if (c->state != CONN_IDLE)
		return;
	conn_close(c, "its server no longer qualifies");
	if (!p->disposing && p->reqs[REQ_QUEUED].n > 0 && pool_total(p) < p->rc->pool_size)
		pool_conn_new(p);
}

/* Is one of the pool's open connections on a server that may serve the request? */
static bool
served_somewhere(struct pool *p, const struct request *r)
{
	static const enum conn_state open[] = { CONN_IDLE, CONN_ACTIVE, CONN_PINNED };
	struct conn *c;
	size_t i;

	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		TAILQ_FOREACH(c, &p->conns[open[i]], entry)
			if (!c->retiring && conn_serves(c, r))
				return true;
	return false;
}

static void
waiter_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct request *r = arg;
	struct pool *p = r->pool;
	char msg[512];
	bool busy;

	(void)fd, (void)ev;
	if (r->ryw_deadline) {
		r->ryw_deadline = false;
		/* A server that has replayed the write is busy: the pool is, not the replica. */
		busy = served_somewhere(p, r);
		if (busy || p->rc->lag_fallback != LAG_FALLBACK_FAIL) {
			r->ryw_fallback = !busy && p->rc->lag_fallback == LAG_FALLBACK_PRIMARY;
			waiter_arm(r, p->rc->acquire_timeout - p->rc->read_your_writes_timeout);
			pool_kick(p);
			return;
		}
		waiter_stop(r);
		snprintf(msg, sizeof(msg), "no standby replayed this client's last write within "
		    "%lldms (read_your_writes_timeout; lag_fallback: fail)",
		    p->rc->read_your_writes_timeout);
		request_fail(r, PROTO_E_BACKEND, "57P03", msg);
		request_finish(r);
		return;
	}
	waiter_stop(r);
	p->stats.timeouts++;
	if (r->min_lsn != 0 && !r->ryw_fallback) {
		snprintf(msg, sizeof(msg), "no server that has replayed this client's last "
		    "write served it within %lldms (acquire_timeout; read_your_writes)",
		    p->rc->acquire_timeout);
		request_fail(r, PROTO_E_TIMEOUT, "57P03", msg);
		request_finish(r);
		return;
	}
	snprintf(msg, sizeof(msg), "no database connection was free within %lldms "
	    "(pool_size %lld, %d in use, %d waiting)%s%s", p->rc->acquire_timeout,
	    p->rc->pool_size, p->nconns[CONN_ACTIVE] + p->nconns[CONN_PINNED],
	    p->reqs[REQ_QUEUED].n - 1, p->last_error[0] ? "; last connection error: " : "",
	    p->last_error);
	/* A connection error is why no connection came: its SQLSTATE says which. */
	request_fail(r, PROTO_E_TIMEOUT, p->last_error[0] ? p->last_sqlstate : "", msg);
	request_finish(r);
}

/*
 * The backend opened a connection, or failed to, with the SQLSTATE and message it
 * has for the failure.  A failure with nothing else open fails the waiters: no request
 * waits for a database that cannot be reached.
 */
void
pool_conn_opened(struct conn *c, bool ok, const char *sqlstate, const char *msg)
{
	struct pool *p = c->pool;

	if (!ok) {
		p->stats.connect_failures++;
		/* Background reconnection backs off; requests still try at once. */
		p->backoff = p->backoff == 0 ? 250 : p->backoff * 2 > 10000 ? 10000 : p->backoff * 2;
		p->retry_at = now_ms() + p->backoff;
		snprintf(p->last_error, sizeof(p->last_error), "%s", msg ? msg : "unknown error");
		snprintf(p->last_sqlstate, sizeof(p->last_sqlstate), "%s", sqlstate ? sqlstate :
		    "08001");
		log_warnx("pool %016llx (%s): cannot connect: %s", (unsigned long long)p->rc->hash,
		    p->label ? p->label : "", p->last_error);
		TAILQ_REMOVE(&p->conns[c->state], c, entry);
		p->nconns[c->state]--;
		conn_free(c);
		if (pool_total(p) == 0)
			fail_waiters(p, PROTO_E_BACKEND, p->last_sqlstate, p->last_error);
		pool_check_gone(p);
		return;
	}
	p->stats.connects++;
	p->connected = true;
	p->backoff = 0;
	p->retry_at = 0;
	p->last_error[0] = '\0';
	pool_release_conn(c);
}

/*
 * The backend found a connection dead while no request was on it: the server restarted
 * or terminated it.  An idle one is discarded now, a pinned one when its handle lets go
 * (its next statement fails with the reason).
 */
void
pool_conn_lost(struct conn *c, const char *why)
{
	struct pool *p = c->pool;

	log_info("pool %016llx: connection %llu lost: %s", (unsigned long long)p->rc->hash,
	    (unsigned long long)c->id, why);
	c->broken = true;
	if (c->state != CONN_IDLE)
		return;
	p->stats.discarded++;
	conn_close(c, "lost");
}

/*
 * Cleans a connection between handles: rolls back what a handle left open and, when
 * it may have session state, clears that too (the backend knows how).  The connection
 * rejoins the pool when that is done; a reset that fails discards it.
 */
static void
conn_reset(struct conn *c)
{
	struct request *r = request_new(REQ_RESET, 0);

	if (r == NULL) {
		c->broken = true;
		pool_release_conn(c);
		return;
	}
	r->discard = c->session_dirty;
	if (r->discard)
		c->pool->stats.resets++;
	pool_run_on(c, r);
}

/*
 * Tells a handle that the connection it held went: a cancel's connection is never
 * reused (the cancel may land on a later statement), and a lost server's is gone.
 * A transaction on it is over, as its next request says (25P02, as PostgreSQL
 * says of an aborted one, after a cancel; 08006 after a failure); a pinned handle
 * loses its session state.
 */
static void
pool_hold_lost(struct hold *hd, bool txn, bool cancelled)
{
	if (txn)
		hd->lost(hd, cancelled ? PROTO_E_CANCELED : PROTO_E_BACKEND,
		    cancelled ? "25P02" : "08006", cancelled ? "the transaction was rolled "
		    "back: a statement in it was cancelled, and its connection discarded" :
		    "the connection holding this handle's transaction was lost; the "
		    "transaction was rolled back");
	else
		hd->lost(hd, cancelled ? PROTO_E_CANCELED : PROTO_E_BACKEND, "08006",
		    "the connection pinned to this handle was discarded (a cancel, or a lost "
		    "server); its session state (settings, temporary tables, prepared "
		    "statements) is gone");
}

/*
 * A request on the connection is done (request_done).  Decides where the connection
 * goes: it stays held for a handle inside a transaction or opened pinned, is rolled
 * back when its handle is gone, or returns.
 */
void
pool_request_done(struct conn *c, struct request *r, bool ok)
{
	struct pool *p = c->pool;
	struct hold *hd = r->hold;
	bool held = hd != NULL && (hd->in_txn || hd->pinned || c->in_txn);
	bool was_txn = hd != NULL && (hd->in_txn || c->in_txn);

	c->req = NULL;
	cacheflow_end(p, c, r, ok);
	if (r->kind == REQ_EXEC) {
		hist_add(&p->stats.exec, now_us() - r->started_at);
		p->stats.statements++;
		if (!ok)
			p->stats.errors++;
	}
	if (hd != NULL && (c->in_txn || hd->pinned) && !c->broken) {
		hd->conn = c;
		hd->in_txn = c->in_txn;
		c->held_by = hd;
		pool_conn_set_state(c, CONN_PINNED);
	} else {
		if (hd != NULL && hd->conn == c) {
			hd->conn = NULL;
			hd->in_txn = false;
		}
		/*
		 * A connection held for the handle went (a cancel, a lost server): the
		 * handle's next request says so, for a transaction always, for a pinned
		 * handle's session unless the failure of this request said it already.
		 */
		if (held && c->broken && hd->lost != NULL && (was_txn || ok || r->cancelled))
			pool_hold_lost(hd, was_txn, r->cancelled);
		if (r->kind == REQ_RESET) {
			if (!ok || c->in_txn)
				c->broken = true;	/* a reset that failed */
			else if (r->discard)
				c->session_dirty = false;
			pool_release_conn(c);
		} else if (!c->broken && (c->in_txn || (c->session_dirty &&
		    r->cache_state == PROTO_CACHE_MISS)))
			/*
			 * After the reply, so the client does not wait: what a transaction
			 * left, and what a cache fill left (fills run clean, and the next
			 * one should find the connection so).
			 */
			conn_reset(c);
		else
			pool_release_conn(c);	/* reset there if another handle waits */
	}
}

/*
 * A handle lets go of the connection it holds (dispose, disconnect, revoke).  A
 * connection inside a transaction is rolled back first; one running a statement is
 * cancelled and cleaned up when the backend reports the statement done.
 */
void
pool_hold_release(struct hold *hd)
{
	struct conn *c = hd->conn;

	hd->conn = NULL;
	hd->in_txn = false;
	if (c == NULL)
		return;
	c->held_by = NULL;
	if (c->state == CONN_ACTIVE) {
		if (c->req != NULL) {
			c->req->hold = NULL;
			pool_cancel(c->req);
		}
		return;
	}
	if (c->in_txn || (c->session_dirty && c->pool->rc->session_reset))
		conn_reset(c);
	else
		pool_release_conn(c);
}

/*
 * A handle went: idle connections it left session state on are reset now, not when
 * another handle takes them, so that what it left (a session advisory lock, a
 * LISTEN) does not outlive it while the connection rests.
 */
void
pool_handle_gone(struct pool *p, uint64_t sid, uint32_t hid)
{
	struct conn *c, *next;

	if (!p->rc->session_reset)
		return;
	for (c = TAILQ_FIRST(&p->conns[CONN_IDLE]); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->session_dirty && c->owner_sid == sid && c->owner_hid == hid)
			conn_reset(c);
	}
}

/* Closes idle connections: all of them, or those past idle_timeout above min_idle. */
void
pool_close_idle(struct pool *p, bool all)
{
	struct conn *c, *next;
	int64_t now = now_ms();
	int keep = p->rc->min_idle;

	for (c = TAILQ_FIRST(&p->conns[CONN_IDLE]); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (all) {
			conn_close(c, "pool disposed");
			continue;
		}
		if (p->rc->max_lifetime > 0 && now - c->created >= p->rc->max_lifetime) {
			log_info("pool %016llx: connection %llu retired: max_lifetime reached",
			    (unsigned long long)p->rc->hash, (unsigned long long)c->id);
			conn_close(c, "max_lifetime reached");
		} else if (p->rc->idle_timeout > 0 && now - c->last_used >= p->rc->idle_timeout &&
		    p->nconns[CONN_IDLE] > keep) {
			log_info("pool %016llx: connection %llu closed: idle for %llds",
			    (unsigned long long)p->rc->hash, (unsigned long long)c->id,
			    (long long)((now - c->last_used) / 1000));
			conn_close(c, "idle_timeout reached");
		}
	}
}

/* Opens one more connection, for the janitor: one that opens idle just rests. */
void
pool_conn_new(struct pool *p)
{
	if (!p->disposing)
		(void)conn_new(p);
}

/*
 * Stops taking work: waiters fail, idle connections close, busy ones when done.  The
 * pool is freed (possibly at once) when it has neither connections nor handles left,
 * so the caller must not use it afterwards.
 */
void
pool_dispose(struct pool *p, const char *reason)
{
	if (!p->disposing) {
		p->disposing = true;
		log_info("pool %016llx (%s) disposed: %s", (unsigned long long)p->rc->hash,
		    p->label ? p->label : "", reason);
		fail_waiters(p, PROTO_E_DRAINING, "", "the pool was disposed");
		pool_close_idle(p, true);
		if (p->be->pool_wake != NULL)
			p->be->pool_wake(p);
	}
	pool_check_gone(p);
}

/*
 * A disposed pool whose last connection has closed and last handle gone is given back
 * to its owner, once; the owner frees it later, from the loop.
 */
static void
pool_check_gone(struct pool *p)
{
	if (p->disposing && !p->gone && pool_quiet(p) && p->nhandles == 0) {
		p->gone = true;
		p->owner.gone(p->owner.arg, p);
	}
}

/* The process exits now: statements still running are stopped, blocking if need be. */
void
pool_abort(struct pool *p)
{
	struct conn *c;

	TAILQ_FOREACH(c, &p->conns[CONN_ACTIVE], entry)
		p->be->conn_abort(c);
}

/* The pool's statements wrote tables (NULL: perhaps any) of its database. */
void
pool_invalidate(struct pool *p, const char *const *tables, size_t ntables)
{
	p->owner.invalidate(p->owner.arg, p->db_key, tables, ntables);
}
