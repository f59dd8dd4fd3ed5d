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

/*
 * Builds a pool around a backend and a result cache made by the injected constructor.
 * Takes ownership of rc.  On failure nothing is left behind: the cache is destroyed if
 * the backend refuses, and NULL is returned with the reason in err.
 */
struct pool *
pool_new(struct factory *f, struct role_config *rc, const struct backend_ops *be,
    const struct cache_ops *cops, char *err, size_t errlen)
{
	struct pool *p;
	int i;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->factory = f;
	p->be = be;
	p->cache_ops = cops;
	for (i = 0; i < CONN_STATE_MAX_; i++)
		TAILQ_INIT(&p->conns[i]);
	TAILQ_INIT(&p->waiters);
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

/* Frees a pool that has no connections left (pool_quiet). */
void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	if (!pool_quiet(p) || p->nwaiting > 0)
		fatalx("%s: pool %016llx still has connections or waiters", __func__,
		    (unsigned long long)p->rc->hash);
	p->be->pool_fini(p);
	p->cache_ops->destroy(p->cache);
	role_config_free(p->rc);
	free(p->names);
	free(p->db_key);
	free(p);
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
void
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
	struct handle *h = c->pinned_by;

	(void)fd, (void)ev;
	p->stats.idle_txn_timeouts++;
	log_info("pool %016llx: connection %llu: transaction idle for %lldms: rolled back "
	    "(idle_in_transaction_timeout)", (unsigned long long)p->rc->hash,
	    (unsigned long long)c->id, p->rc->idle_in_transaction_timeout);
	if (h != NULL) {
		h->conn = NULL;
		h->in_txn = false;
		free(h->lost);
		h->lost = xasprintf("the transaction was rolled back: it was idle for longer "
		    "than %lldms (idle_in_transaction_timeout)", p->rc->idle_in_transaction_timeout);
		h->lost_code = PROTO_E_TIMEOUT;
		h->lost_sqlstate = "25P03";	/* idle_in_transaction_session_timeout */
	}
	c->pinned_by = NULL;
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
	c->id = ++p->factory->next_conn_id;
	c->created = c->last_used = now_ms();
	c->state = CONN_OPENING;
	TAILQ_INSERT_TAIL(&p->conns[CONN_OPENING], c, entry);
	p->nconns[CONN_OPENING]++;
	p->be->conn_open(c);
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

/* Completes a request whose reply has been sent in full. */
static void
request_finish(struct request *r)
{
	if (r->session != NULL)
		session_request_done(r->session, r);
	else
		request_free(r);
}

static void
waiter_remove(struct pool *p, struct request *r)
{
	TAILQ_REMOVE(&p->waiters, r, entry);
	p->nwaiting--;
	r->waiting = false;
	if (r->timer != NULL) {
		event_free(r->timer);
		r->timer = NULL;
	}
}

/* Fails every waiting request with code and msg. */
static void
fail_waiters(struct pool *p, int code, const char *msg)
{
	struct request *r;

	while ((r = TAILQ_FIRST(&p->waiters)) != NULL) {
		waiter_remove(p, r);
		request_fail(r, code, "", msg);
		request_finish(r);
	}
}

/* A waiting request whose client went away leaves the queue. */
void
pool_cancel_waiter(struct request *r)
{
	waiter_remove(r->pool, r);
	request_free(r);
}

/* A waiting request that may no longer run leaves the queue with an ERROR. */
void
pool_fail_waiter(struct request *r, int code, const char *sqlstate, const char *msg)
{
	waiter_remove(r->pool, r);
	request_fail(r, code, sqlstate, msg);
	request_finish(r);
}

/* Runs a request on a connection that is idle or pinned to the request's handle. */
void
pool_run_on(struct conn *c, struct request *r)
{
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
		pool_conn_done(c, true);	/* acquiring was all it needed */
		return;
	}
	c->pool->be->conn_exec(c, r);
}

/*
 * An idle connection: it serves the first waiter, or rests.  A broken or too old one
 * is closed instead, and a replacement opened if someone is waiting.
 */
void
pool_release_conn(struct conn *c)
{
	struct pool *p = c->pool;
	struct request *r;
	int64_t now = now_ms();

	c->pinned_by = NULL;
	c->last_used = now;
	if (c->broken || p->disposing ||
	    (p->rc->max_lifetime > 0 && now - c->created >= p->rc->max_lifetime)) {
		if (c->broken)
			p->stats.discarded++;
		conn_close(c, c->broken ? "broken" : p->disposing ? "pool disposed" :
		    "max_lifetime reached");
		if (!p->disposing && p->nwaiting > 0 && pool_total(p) < p->rc->pool_size)
			conn_new(p);
		pool_check_gone(p);
		return;
	}
	if ((r = TAILQ_FIRST(&p->waiters)) != NULL) {
		if (!conn_fits(c, r)) {
			conn_reset(c);	/* behind the reply it just sent; then the waiter */
			return;
		}
		waiter_remove(p, r);
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
		if (c->session_dirty && !r->capturing && conn_owned(c, r))
			return c;
		if (fit == NULL && conn_fits(c, r))
			fit = c;
	}
	return fit;
}

/*
 * Queues a request for a connection: an idle one at once, else a new one while the
 * pool is below pool_size, else the request waits its turn (FIFO) for at most
 * acquire_timeout.
 */
void
pool_submit(struct pool *p, struct request *r)
{
	struct conn *c;
	struct timeval tv;

	r->pool = p;
	if (p->disposing) {
		request_fail(r, PROTO_E_DRAINING, "", "the pool is being disposed");
		request_finish(r);
		return;
	}
	if ((c = idle_for(p, r)) != NULL) {
		pool_run_on(c, r);
		return;
	}
	r->waiting = true;
	TAILQ_INSERT_TAIL(&p->waiters, r, entry);
	p->nwaiting++;
	p->stats.waits++;
	if ((c = TAILQ_LAST(&p->conns[CONN_IDLE], conn_list)) != NULL) {
		conn_reset(c);	/* another user's: cleaned, then it serves the queue */
		if (!r->waiting)
			return;
	} else if (pool_total(p) < p->rc->pool_size && p->nconns[CONN_OPENING] < p->nwaiting) {
		if (conn_new(p) == NULL) {
			fail_waiters(p, PROTO_E_NOMEM, "out of memory");
			return;
		}
		if (!r->waiting)
			return;		/* the backend opened and served it at once */
	}
	r->timer = evtimer_new(dbmd->base, waiter_timeout, r);
	if (r->timer == NULL) {
		waiter_remove(p, r);
		request_fail(r, PROTO_E_NOMEM, "", "out of memory");
		request_finish(r);
		return;
	}
	tv.tv_sec = p->rc->acquire_timeout / 1000;
	tv.tv_usec = (p->rc->acquire_timeout % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

static void
waiter_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct request *r = arg;
	struct pool *p = r->pool;
	char msg[512];

	(void)fd, (void)ev;
	waiter_remove(p, r);
	p->stats.timeouts++;
	snprintf(msg, sizeof(msg), "no database connection was free within %lldms "
	    "(pool_size %lld, %d in use, %d waiting)%s%s", p->rc->acquire_timeout,
	    p->rc->pool_size, p->nconns[CONN_ACTIVE] + p->nconns[CONN_PINNED], p->nwaiting,
	    p->last_error[0] ? "; last connection error: " : "", p->last_error);
	request_fail(r, PROTO_E_TIMEOUT, "", msg);
	request_finish(r);
}

/*
 * The backend opened a connection, or failed to.  A failure with nothing else open
 * fails the waiters: no request waits for a database that cannot be reached.
 */
void
pool_conn_opened(struct conn *c, bool ok, const char *msg)
{
	struct pool *p = c->pool;

	if (!ok) {
		p->stats.connect_failures++;
		/* Background reconnection backs off; requests still try at once. */
		p->backoff = p->backoff == 0 ? 250 : p->backoff * 2 > 10000 ? 10000 : p->backoff * 2;
		p->retry_at = now_ms() + p->backoff;
		snprintf(p->last_error, sizeof(p->last_error), "%s", msg ? msg : "unknown error");
		log_warnx("pool %016llx (%s): cannot connect: %s", (unsigned long long)p->rc->hash,
		    p->names ? p->names : "", p->last_error);
		TAILQ_REMOVE(&p->conns[c->state], c, entry);
		p->nconns[c->state]--;
		conn_free(c);
		if (pool_total(p) == 0)
			fail_waiters(p, PROTO_E_BACKEND, p->last_error);
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
	struct request *r = request_new(REQ_RESET, NULL, NULL, 0);

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
 * The backend finished a request: its reply has been passed to request_output() in
 * full.  Decides where the connection goes: it stays pinned to a handle inside a
 * transaction or opened pinned, is rolled back when its handle is gone, or returns.
 */
void
pool_conn_done(struct conn *c, bool ok)
{
	struct pool *p = c->pool;
	struct request *r = c->req;
	struct handle *h = r->handle;

	c->req = NULL;
	r->conn = NULL;
	cacheflow_end(p, c, r, ok);
	if (r->kind == REQ_EXEC) {
		hist_add(&p->stats.exec, now_us() - r->started_at);
		p->stats.statements++;
		if (!ok)
			p->stats.errors++;
	}
	if (h != NULL && (c->in_txn || h->pinned) && !c->broken) {
		h->conn = c;
		h->in_txn = c->in_txn;
		c->pinned_by = h;
		pool_conn_set_state(c, CONN_PINNED);
	} else {
		if (h != NULL && h->conn == c) {
			h->conn = NULL;
			h->in_txn = false;
		}
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
	request_finish(r);
}

/*
 * A handle lets go of its connection (dispose, disconnect).  A connection inside a
 * transaction is rolled back first; one running a statement is cancelled and cleaned
 * up when the backend reports the statement done.
 */
void
pool_handle_detach(struct handle *h)
{
	struct conn *c = h->conn;

	h->conn = NULL;
	h->in_txn = false;
	if (c == NULL)
		return;
	c->pinned_by = NULL;
	if (c->state == CONN_ACTIVE) {
		if (c->req != NULL)
			c->req->handle = NULL;
		c->pool->be->conn_cancel(c);
		return;
	}
	if (c->in_txn || (c->session_dirty && c->pool->rc->session_reset))
		conn_reset(c);
	else
		pool_release_conn(c);
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

/* Housekeeping once a second: retire old and idle connections, keep min_idle warm. */
void
pool_janitor(struct pool *p, int64_t now)
{
	int want;

	if (p->disposing)
		return;
	pool_close_idle(p, false);
	want = (int)p->rc->min_idle;
	if (p->persistent && want < 1)
		want = 1;
	if (!p->connected && p->nhandles == 0)
		return;		/* never warm a pool nobody has reached */
	if (now < p->retry_at)
		return;		/* the database was unreachable a moment ago */
	while (p->nconns[CONN_IDLE] + p->nconns[CONN_OPENING] < want &&
	    pool_total(p) < p->rc->pool_size && p->nconns[CONN_OPENING] == 0) {
		if (conn_new(p) == NULL)
			break;
	}
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
		    p->names ? p->names : "", reason);
		fail_waiters(p, PROTO_E_DRAINING, "the pool was disposed");
		pool_close_idle(p, true);
	}
	pool_check_gone(p);
}

/* Frees a disposed pool once its last connection has closed. */
static void
pool_check_gone(struct pool *p)
{
	if (p->disposing && pool_quiet(p) && p->nhandles == 0)
		factory_pool_gone(p->factory, p);
}
