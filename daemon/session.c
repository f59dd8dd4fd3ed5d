/* session.c: one client: framing, the handshake, its handles and its requests. */

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "dbmd.h"
#include "proto.h"

/*
 * Output above OUT_HIGH pauses a streaming reply and stops the session taking requests
 * (a client that sends and never reads holds OUT_HIGH and one reply, whatever it
 * sends); below OUT_LOW both go on.
 */
#define OUT_HIGH		(1024 * 1024)
#define OUT_LOW			(256 * 1024)
#define READ_CHUNK		(64 * 1024)
#define HELLO_TIMEOUT_S		10		/* a client must introduce itself in time */

/*
 * The socket is driven directly rather than through a bufferevent: a reply is
 * written at once, in the call that completes it, and EV_WRITE is watched only when
 * the socket's buffer is full.  A request thus costs one read and one write on the
 * client's socket, no epoll changes.
 */

static void session_read_cb(evutil_socket_t, short, void *);
static void session_write_cb(evutil_socket_t, short, void *);
static void session_hello_timeout(evutil_socket_t, short, void *);
static void session_stall_timeout(evutil_socket_t, short, void *);
static int session_req_output(void *, struct request *, const void *, size_t);
static void session_req_done(void *, struct request *);

static void session_req_pg_fields(void *, struct request *, bool, const struct pg_field *,
    size_t);

/* How a session hears from its requests. */
static const struct request_ops session_request_ops = {
	.output = session_req_output,
	.done = session_req_done,
};

/* A PostgreSQL-protocol client's requests also pass on PostgreSQL's error fields. */
static const struct request_ops session_pg_request_ops = {
	.output = session_req_output,
	.done = session_req_done,
	.pg_fields = session_req_pg_fields,
};

static const struct daemon_config *
dc(void)
{
	return &dbmd->cfg->daemon;
}

/* The most input a session buffers: one whole frame of the largest size it accepts. */
static size_t
input_limit(const struct session *s)
{
	if (s->kind == SESSION_PG)
		return pgwire_input_limit(s);
	return PROTO_HDR_SIZE + (s->state == SESSION_HELLO ? PROTO_HANDSHAKE_MAX_FRAME :
	    (size_t)dc()->max_frame_size);
}

static void
reading(struct session *s, bool on)
{
	if (on == s->reading)
		return;
	s->reading = on;
	if (on)
		event_add(s->rev, NULL);
	else
		event_del(s->rev);
}

void
session_new(int fd, uid_t uid, gid_t gid, pid_t pid, enum session_kind kind)
{
	struct session *s = calloc(1, sizeof(*s));
	struct timeval tv = { HELLO_TIMEOUT_S, 0 };

	if (s == NULL ||
	    (s->rev = event_new(dbmd->base, fd, EV_READ | EV_PERSIST, session_read_cb, s)) ==
	    NULL || (s->hello_timer = evtimer_new(dbmd->base, session_hello_timeout, s)) ==
	    NULL) {
		log_warnx("client (pid %ld uid %lu) refused: out of memory", (long)pid,
		    (unsigned long)uid);
		if (s != NULL && s->rev != NULL)
			event_free(s->rev);
		free(s);
		close(fd);
		return;
	}
	s->fd = fd;
	s->kind = kind;
	if (kind == SESSION_PG && pgwire_start(s) == -1) {
		log_warnx("client (pid %ld uid %lu) refused: out of memory", (long)pid,
		    (unsigned long)uid);
		event_free(s->rev);
		event_free(s->hello_timer);
		free(s);
		close(fd);
		return;
	}
	s->id = ++dbmd->next_session_id;
	access_peer_init(&s->peer, uid, gid);
	s->pid = pid;
	s->connected_at = now_ms();
	s->max_frame = PROTO_HANDSHAKE_MAX_FRAME;
	s->version = PROTO_VERSION_MIN;
	if (kind == SESSION_PG) {
		/* Replies are translated in dbmd: a row is as large as PostgreSQL allows. */
		s->max_frame = PROTO_MAX_FRAME_LIMIT;
		s->version = PROTO_VERSION_MAX;
	}
	s->state = SESSION_HELLO;
	TAILQ_INIT(&s->handles);
	evtimer_add(s->hello_timer, &tv);
	reading(s, true);
	TAILQ_INSERT_TAIL(&dbmd->sessions, s, entry);
	dbmd->nsessions++;
	log_debug("client %llu connected: pid %ld uid %lu", (unsigned long long)s->id, (long)pid,
	    (unsigned long)uid);
}

static size_t
buffered(const struct evbuffer *b)
{
	return b != NULL ? evbuffer_get_length(b) : 0;
}

/* The client does not read what it asked for: no more requests until it does. */
static bool
out_full(const struct session *s)
{
	return buffered(s->out) > OUT_HIGH;
}

/*
 * Why the socket failed, for the log: a peer that closed or reset its end has simply
 * left (with a reply unread, perhaps); anything else is an error.
 */
static const char *
gone_reason(const struct session *s, int err, const char *what)
{
	static char buf[128];

	if (err == EPIPE || err == ECONNRESET)
		return s->busy != NULL ? "client closed the connection with a request in "
		    "flight" : "client closed the connection";
	snprintf(buf, sizeof(buf), "%s: %s", what, strerror(err));
	return buf;
}

/* Output the socket did not take waits in s->out for EV_WRITE. */
static void
want_write(struct session *s)
{
	if (s->wev == NULL &&
	    (s->wev = event_new(dbmd->base, s->fd, EV_WRITE, session_write_cb, s)) == NULL) {
		session_close(s, PROTO_E_NOMEM, "out of memory for output");
		return;
	}
	event_add(s->wev, NULL);
}

/*
 * Writes what the socket takes now; the rest waits for EV_WRITE.  Once all is out, the
 * buffer and the write event go: an idle session holds its read event and no more.
 */
static void
flush_output(struct session *s)
{
	if (s->wev != NULL && event_pending(s->wev, EV_WRITE, NULL))
		return;
	while (buffered(s->out) > 0) {
		if (evbuffer_write(s->out, s->fd) >= 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			want_write(s);
		else
			session_close(s, 0, gone_reason(s, errno, "write error"));
		return;
	}
	if (s->out != NULL) {
		evbuffer_free(s->out);
		s->out = NULL;
	}
	if (s->wev != NULL) {
		event_free(s->wev);
		s->wev = NULL;
	}
}

/*
 * Sends reply bytes: straight from the caller's buffer when nothing waits before them,
 * else after what waits.  Returns 1 when the client's output is full and the producer
 * should wait.
 */
int
session_output(struct session *s, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	if (s->dead)
		return 0;
	while (s->out == NULL && len > 0) {
		if ((n = send(s->fd, p, len, MSG_NOSIGNAL)) >= 0) {
			p += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		else if (errno != EINTR) {
			session_close(s, 0, gone_reason(s, errno, "write error"));
			return 0;
		}
	}
	if (len == 0)
		return 0;
	if ((s->out == NULL && (s->out = evbuffer_new()) == NULL) ||
	    evbuffer_add(s->out, p, len) == -1) {
		session_close(s, PROTO_E_NOMEM, "out of memory for output");
		return 0;
	}
	if (s->wev == NULL || !event_pending(s->wev, EV_WRITE, NULL))
		want_write(s);
	return !s->dead && buffered(s->out) > OUT_HIGH;
}

/* Sends one encoded buffer, or closes the session when encoding ran out of memory. */
static void
send_buf(struct session *s, struct proto_buf *b, enum proto_err rc)
{
	if (rc == PROTO_E_OK)
		session_output(s, b->data, b->len);
	else
		session_close(s, rc, "cannot encode a reply");
	proto_buf_free(b);
}

static void
reply_error(struct session *s, uint32_t reqid, int code, const char *msg)
{
	struct proto_buf b;
	struct proto_error e = { .code = (uint16_t)code, .sqlstate = "", .message = msg,
	    .detail = "", .hint = "" };

	proto_buf_init(&b);
	b.max_payload = s->max_frame;
	send_buf(s, &b, proto_encode_error(&b, reqid, &e));
}

static void
reply_sql_error(struct session *s, uint32_t reqid, int code, const char *sqlstate,
    const char *msg)
{
	struct proto_buf b;
	struct proto_error e = { .code = (uint16_t)code, .sqlstate = sqlstate, .message = msg,
	    .detail = "", .hint = "" };

	proto_buf_init(&b);
	b.max_payload = s->max_frame;
	send_buf(s, &b, proto_encode_error(&b, reqid, &e));
}

static void
reply_empty(struct session *s, uint16_t type, uint32_t reqid)
{
	struct proto_buf b;

	proto_buf_init(&b);
	send_buf(s, &b, proto_encode_empty(&b, type, reqid));
}

static void
reply_open_ok(struct session *s, uint32_t reqid, const struct handle *h)
{
	struct proto_buf b;
	struct proto_open_ok m = { .handle_id = h->id, .pool_hash = h->pool->rc->hash,
	    .backend = h->pool->be->name };

	proto_buf_init(&b);
	send_buf(s, &b, proto_encode_open_ok(&b, reqid, &m));
}

static struct handle *
handle_find(struct session *s, uint32_t id)
{
	struct handle *h;

	TAILQ_FOREACH(h, &s->handles, entry)
		if (h->id == id)
			return h;
	return NULL;
}

/* Releases a handle: its connection is cleaned and returned, its pool told. */
void
session_handle_free(struct session *s, struct handle *h)
{
	struct pool *p = h->pool;

	TAILQ_REMOVE(&s->handles, h, entry);
	s->nhandles--;
	pool_hold_release(&h->hold);
	pool_handle_gone(p, s->id, h->id);
	free(h->env);
	free(h->role);
	free(h->lost);
	free(h);
	factory_release(dbmd->factory, p);
}

/*
 * The pool took the handle's connection back on its own (idle_in_transaction_timeout):
 * the handle's next request is told why.
 */
static void handle_tell(struct handle *, int, const char *, const char *);

static void
handle_lost(struct hold *hd, int code, const char *sqlstate, const char *msg)
{
	handle_tell((struct handle *)((char *)hd - offsetof(struct handle, hold)), code,
	    sqlstate, msg);
}

/*
 * A handle whose transaction dbmd ended (idle_in_transaction_timeout) or whose access a
 * reload revoked answers its next request with the reason; true when it did.
 */
bool
session_handle_refusal(struct handle *h, int *code, const char **sqlstate, char *msg,
    size_t len)
{
	if (h->lost == NULL && !h->revoked)
		return false;
	*code = h->lost_code;
	*sqlstate = h->lost_sqlstate;
	snprintf(msg, len, "%s", h->lost ? h->lost :
	    "access was revoked by a reload of the configuration");
	if (!h->revoked) {
		free(h->lost);
		h->lost = NULL;
	}
	return true;
}

static bool
handle_refuses(struct session *s, struct handle *h, uint32_t reqid)
{
	const char *sqlstate;
	char msg[256];
	int code;

	if (!session_handle_refusal(h, &code, &sqlstate, msg, sizeof(msg)))
		return false;
	reply_sql_error(s, reqid, code, sqlstate, msg);
	return true;
}

/* Connections the client holds on the pool between statements, self aside. */
static int
pins_held(const struct session *s, const struct handle *self, const struct pool *p)
{
	const struct handle *h;
	int held = 0;

	TAILQ_FOREACH(h, &s->handles, entry)
		if (h != self && h->pool == p && (h->hold.pinned || h->hold.conn != NULL ||
		    h->hold.in_txn))
			held++;
	return held;
}

/* Pinned handles the user holds on the pool in all its clients, self aside. */
static int
user_pins_held(uid_t uid, const struct handle *self, const struct pool *p)
{
	const struct session *s;
	const struct handle *h;
	int held = 0;

	TAILQ_FOREACH(s, &dbmd->sessions, entry)
		if (s->peer.uid == uid && !s->dead)
			TAILQ_FOREACH(h, &s->handles, entry)
				held += h != self && h->pool == p && h->hold.pinned;
	return held;
}

#define PIN_MSG_MAX	192

static bool
pin_refusal(struct session *s, struct pool *p, char *msg, size_t len, const char *fmt, ...)
    ATTR_PRINTF(5, 6);

static bool
pin_refusal(struct session *s, struct pool *p, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	p->stats.pin_refusals++;
	log_info("client %llu (pid %ld uid %lu): %s", (unsigned long long)s->id, (long)s->pid,
	    (unsigned long)s->peer.uid, msg);
	return true;
}

/*
 * Whether the handle may not take a connection to hold (BEGIN, a pinned open), with
 * the reason in msg.  A client holds at most max_pinned_per_client connections of a
 * pool, never all; a user's pinned handles in all its clients never take all of them
 * either.
 */
static bool
pin_refused(struct session *s, struct handle *self, struct pool *p, bool for_life,
    char *msg, size_t len)
{
	int held = pins_held(s, self, p), limit = pool_pin_limit(p, dc(), for_life);

	if (limit == 0)
		return pin_refusal(s, p, msg, len, "a pool of one connection takes no pinned "
		    "handle: it would hold the pool's only connection for life; use a "
		    "transaction");
	if (held >= limit)
		return pin_refusal(s, p, msg, len, "this client holds %d connection%s of the "
		    "pool already (daemon.max_pinned_per_client, at most pool_size - 1): "
		    "commit, roll back or dispose a handle first", held, held == 1 ? "" : "s");
	if (for_life && (held = user_pins_held(s->peer.uid, self, p)) >= p->rc->pool_size - 1)
		return pin_refusal(s, p, msg, len, "this user's clients hold %d pinned handle%s "
		    "of the pool already: pinned handles never take all pool_size connections",
		    held, held == 1 ? "" : "s");
	return false;
}

/* Whether the handle may not take a connection to hold now; the reason in msg. */
bool
session_pin_refused(struct session *s, struct handle *h, char *msg, size_t len)
{
	return pin_refused(s, h, h->pool, h->hold.pinned, msg, len);
}

static bool
pin_allowed(struct session *s, struct handle *self, struct pool *p, uint32_t reqid)
{
	char msg[PIN_MSG_MAX];

	if (!pin_refused(s, self, p, self->hold.pinned, msg, sizeof(msg)))
		return true;
	reply_error(s, reqid, PROTO_E_LIMIT, msg);
	return false;
}

/* The handle's next request is told why dbmd ended its transaction. */
static void
handle_tell(struct handle *h, int code, const char *sqlstate, const char *msg)
{
	free(h->lost);
	if ((h->lost = strdup(msg)) == NULL)
		log_warnx("client %llu: handle %u: %s (out of memory to tell the client)",
		    (unsigned long long)h->session->id, h->id, msg);
	h->lost_code = code;
	h->lost_sqlstate = sqlstate;
}

/*
 * A statement left its handle in a transaction (SQL-level BEGIN) although the client
 * holds all the connections it may: the transaction is rolled back at once and the
 * handle's next request says why.
 */
static void
pin_check_after(struct session *s, struct handle *h)
{
	char msg[PIN_MSG_MAX];

	if (!h->hold.in_txn || h->hold.pinned || h->hold.conn == NULL ||
	    !pin_refused(s, h, h->pool, false, msg, sizeof(msg)))
		return;
	handle_tell(h, PROTO_E_LIMIT, "53400", msg);	/* configuration_limit_exceeded */
	pool_hold_release(&h->hold);
}

/* A request of the session's, on a handle; NULL when out of memory. */
struct request *
session_request(struct session *s, struct handle *h, enum req_kind kind, uint32_t reqid)
{
	struct request *r;

	if ((r = request_new(kind, reqid)) == NULL)
		return NULL;
	r->ops = s->kind == SESSION_PG ? &session_pg_request_ops : &session_request_ops;
	r->owner = s;
	r->handle = h;
	r->hold = &h->hold;
	r->max_frame = s->max_frame;
	r->version = s->version;
	r->uid = s->peer.uid;
	r->sid = s->id;
	r->hid = h->id;
	return r;
}

/*
 * Where a request runs: the cache may answer it, else the pool places it.  On a
 * read_your_writes role it must see its client's last write: it runs where that has
 * been replayed, and never from the cache (a result cached from a standby may be
 * older than the write).
 */
void
session_run(struct session *s, struct handle *h, struct request *r)
{
	s->busy = r;
	if (h->pool->rc->read_your_writes &&
	    (r->min_lsn = ryw_lsn(s->peer.uid, s->pid, h->env)) != 0)
		r->cache_max_age = 0;
	if (h->pool->disposing) {
		request_fail(r, PROTO_E_DRAINING, "", "the handle's pool was disposed (its "
		    "configuration changed, or an operator disposed it): dispose the handle and "
		    "open a new one");
		request_finish(r);
		return;
	}
	if (cacheflow_begin(h->pool, r) != CACHEFLOW_RUN)
		return;		/* answered from the cache, or waiting for its fill */
	pool_submit(h->pool, r);
}

/*
 * A new handle on the pool environment/role (with overrides) resolves to, if the
 * peer may open it; NULL with the reason (code, and msg to free; NULL msg: out of
 * memory) when not.  Taking a connection (a pinned handle, a new pool) is the
 * caller's: a REQ_OPEN request.
 */
struct handle *
session_handle_new(struct session *s, const char *env, const char *role,
    const struct cfg_override *ov, size_t n, int *code, char **msg)
{
	struct handle *h;
	struct pool *p;

	*msg = NULL;
	p = factory_open(dbmd->factory, dbmd->cfg, env, role, ov, n, &s->peer, code, msg);
	if (p == NULL) {
		if (*msg == NULL)
			*code = PROTO_E_NOMEM;
		log_warnx("client %llu (pid %ld uid %lu): open refused: %s",
		    (unsigned long long)s->id, (long)s->pid, (unsigned long)s->peer.uid,
		    *msg ? *msg : "out of memory");
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		factory_release(dbmd->factory, p);
		*code = PROTO_E_NOMEM;
		return NULL;
	}
	h->id = ++s->next_handle;
	h->session = s;
	h->pool = p;
	h->hold.lost = handle_lost;
	TAILQ_INSERT_TAIL(&s->handles, h, entry);
	s->nhandles++;
	if ((h->env = strdup(env)) == NULL || (h->role = strdup(role)) == NULL) {
		session_handle_free(s, h);
		*code = PROTO_E_NOMEM;
		return NULL;
	}
	return h;
}

static void
do_open(struct session *s, const struct proto_frame *f)
{
	struct proto_open m;
	struct cfg_override ov[64];
	struct proto_value k, v;
	struct request *r;
	struct handle *h;
	enum proto_derr derr;
	char *msg = NULL;
	size_t n = 0;
	int code;

	if ((derr = proto_decode_open(f, &m)) != PROTO_DERR_OK) {
		session_close(s, PROTO_E_PROTOCOL, proto_derr_str(derr));
		return;
	}
	if (dbmd->stopping) {
		reply_error(s, f->hdr.request_id, PROTO_E_SHUTDOWN, "dbmd is shutting down");
		return;
	}
	if (s->nhandles >= dc()->max_handles_per_client) {
		reply_error(s, f->hdr.request_id, PROTO_E_LIMIT, "too many open handles "
		    "(daemon.max_handles_per_client)");
		return;
	}
	if (m.n_overrides > sizeof(ov) / sizeof(ov[0])) {
		reply_error(s, f->hdr.request_id, PROTO_E_LIMIT, "too many overrides");
		return;
	}
	while (proto_iter_next(&m.overrides, &k) && proto_iter_next(&m.overrides, &v)) {
		ov[n].key = k.ptr;
		ov[n].value = v.ptr;
		n++;
	}
	if ((h = session_handle_new(s, m.environment, m.role, ov, n, &code, &msg)) == NULL) {
		reply_error(s, f->hdr.request_id, code, msg ? msg : "out of memory");
		free(msg);
		return;
	}
	h->hold.pinned = (m.flags & PROTO_OPEN_PINNED) != 0;
	if (h->hold.pinned && !pin_allowed(s, h, h->pool, f->hdr.request_id)) {
		session_handle_free(s, h);
		return;
	}
	if (!h->hold.pinned && h->pool->connected) {
		reply_open_ok(s, f->hdr.request_id, h);
		return;
	}
	/* A pinned handle takes its connection now; a new pool proves it can connect. */
	if ((r = session_request(s, h, REQ_OPEN, f->hdr.request_id)) == NULL) {
		session_handle_free(s, h);
		reply_error(s, f->hdr.request_id, PROTO_E_NOMEM, "out of memory");
		return;
	}
	session_run(s, h, r);
}

/*
 * Copies a version 2 EXEC's parameter formats into its request; a request whose
 * parameters are all text keeps none, so that the backends bind them as they bind
 * version 1 parameters and the cache keys them alike.
 */
static int
exec_formats(struct request *r, const struct proto_exec *m)
{
	uint16_t i;

	for (i = 0; i < m->nparams; i++)
		if (proto_exec_format(m, i) != PROTO_FORMAT_TEXT)
			break;
	if (i == m->nparams)
		return 0;
	if ((r->formats = calloc(m->nparams, 1)) == NULL)
		return -1;
	for (i = 0; i < m->nparams; i++)
		r->formats[i] = (uint8_t)proto_exec_format(m, i);
	return 0;
}

static void
do_exec(struct session *s, const struct proto_frame *f)
{
	struct proto_exec m;
	struct proto_value v;
	struct request *r;
	struct handle *h;
	enum proto_derr derr;
	uint32_t i;

	if ((derr = proto_decode_exec(f, s->version, &m)) != PROTO_DERR_OK) {
		session_close(s, PROTO_E_PROTOCOL, proto_derr_str(derr));
		return;
	}
	if ((h = handle_find(s, m.handle_id)) == NULL) {
		reply_error(s, f->hdr.request_id, PROTO_E_NO_HANDLE, "no such handle");
		return;
	}
	if (handle_refuses(s, h, f->hdr.request_id))
		return;
	if ((r = session_request(s, h, REQ_EXEC, f->hdr.request_id)) == NULL)
		goto nomem;
	r->nparams = m.nparams;
	r->cache_max_age = m.cache_max_age_ms;
	if ((r->sql = strdup(m.sql)) == NULL ||
	    (m.nparams > 0 && ((r->params = calloc(m.nparams, sizeof(char *))) == NULL ||
	    (r->lens = calloc(m.nparams, sizeof(uint32_t))) == NULL)))
		goto nomem;
	for (i = 0; i < m.nparams && proto_iter_next(&m.param_iter, &v); i++) {
		if (v.ptr == NULL)
			continue;
		if ((r->params[i] = malloc((size_t)v.len + 1)) == NULL)
			goto nomem;
		memcpy(r->params[i], v.ptr, (size_t)v.len + 1);
		r->lens[i] = v.len;
	}
	if (exec_formats(r, &m) == -1)
		goto nomem;
	session_run(s, h, r);
	return;
nomem:
	if (r != NULL) {
		r->ops = NULL;		/* told here, not by its end */
		request_finish(r);
	}
	reply_error(s, f->hdr.request_id, PROTO_E_NOMEM, "out of memory");
}

static void
do_txn(struct session *s, const struct proto_frame *f)
{
	static const enum req_kind kinds[] = { REQ_BEGIN, REQ_COMMIT, REQ_ROLLBACK };
	enum req_kind kind = kinds[f->hdr.type - PROTO_MSG_BEGIN];
	struct request *r;
	struct handle *h;
	uint32_t id;
	enum proto_derr derr;

	if ((derr = proto_decode_handle(f, &id)) != PROTO_DERR_OK) {
		session_close(s, PROTO_E_PROTOCOL, proto_derr_str(derr));
		return;
	}
	if ((h = handle_find(s, id)) == NULL) {
		reply_error(s, f->hdr.request_id, PROTO_E_NO_HANDLE, "no such handle");
		return;
	}
	if (handle_refuses(s, h, f->hdr.request_id))
		return;
	if (kind == REQ_BEGIN && h->hold.in_txn) {
		reply_error(s, f->hdr.request_id, PROTO_E_TXN_STATE,
		    "a transaction is already open on this handle");
		return;
	}
	if (kind != REQ_BEGIN && !h->hold.in_txn) {
		reply_error(s, f->hdr.request_id, PROTO_E_TXN_STATE,
		    "no transaction is open on this handle");
		return;
	}
	if (kind == REQ_BEGIN && !h->hold.pinned && h->hold.conn == NULL &&
	    !pin_allowed(s, h, h->pool, f->hdr.request_id))
		return;
	if ((r = session_request(s, h, kind, f->hdr.request_id)) == NULL) {
		reply_error(s, f->hdr.request_id, PROTO_E_NOMEM, "out of memory");
		return;
	}
	session_run(s, h, r);
}

static void
do_dispose(struct session *s, const struct proto_frame *f)
{
	struct handle *h;
	uint32_t id;
	enum proto_derr derr;

	if ((derr = proto_decode_handle(f, &id)) != PROTO_DERR_OK) {
		session_close(s, PROTO_E_PROTOCOL, proto_derr_str(derr));
		return;
	}
	if ((h = handle_find(s, id)) == NULL) {
		reply_error(s, f->hdr.request_id, PROTO_E_NO_HANDLE, "no such handle");
		return;
	}
	session_handle_free(s, h);
	reply_empty(s, PROTO_MSG_OK, f->hdr.request_id);
}

static void
do_hello(struct session *s, const struct proto_frame *f)
{
	struct proto_hello m;
	struct proto_hello_ok ok;
	struct proto_buf b;
	enum proto_derr derr;
	uint16_t version;

	if (f->hdr.type != PROTO_MSG_HELLO) {
		session_close(s, PROTO_E_PROTOCOL, "the first message must be HELLO");
		return;
	}
	if ((derr = proto_decode_hello(f, &m)) != PROTO_DERR_OK) {
		session_close(s, PROTO_E_PROTOCOL, proto_derr_str(derr));
		return;
	}
	snprintf(s->name, sizeof(s->name), "%s", m.client_name);
	if ((version = proto_version_choose(m.min_version, m.max_version)) == 0) {
		char why[96];

		snprintf(why, sizeof(why), "no common protocol version: dbmd speaks %d..%d, the "
		    "client %u..%u", PROTO_VERSION_MIN, PROTO_VERSION_MAX,
		    (unsigned)m.min_version, (unsigned)m.max_version);
		reply_error(s, f->hdr.request_id, PROTO_E_VERSION, why);
		session_close(s, PROTO_E_VERSION, why);
		return;
	}
	if (dbmd->stopping) {
		reply_error(s, f->hdr.request_id, PROTO_E_SHUTDOWN, "dbmd is shutting down");
		session_close(s, PROTO_E_SHUTDOWN, "dbmd is shutting down");
		return;
	}
	ok.version = version;
	ok.server_version = DBMD_VERSION;
	ok.max_frame = (uint32_t)dc()->max_frame_size;
	ok.max_handles = (uint32_t)dc()->max_handles_per_client;
	ok.max_queued = (uint32_t)dc()->max_queued_per_client;
	s->max_frame = m.max_frame;
	s->version = version;
	s->state = SESSION_READY;
	event_free(s->hello_timer);
	s->hello_timer = NULL;
	proto_buf_init(&b);
	send_buf(s, &b, proto_encode_hello_ok(&b, f->hdr.request_id, &ok));
	log_debug("client %llu is %s (pid %ld uid %lu)", (unsigned long long)s->id, s->name,
	    (long)s->pid, (unsigned long)s->peer.uid);
}

/* One whole frame from the client. */
static void
session_dispatch(struct session *s, const struct proto_frame *f)
{
	uint32_t reqid = f->hdr.request_id;

	if (s->state == SESSION_HELLO) {
		do_hello(s, f);
		return;
	}
	if (!proto_msg_is_request(f->hdr.type) || f->hdr.type == PROTO_MSG_HELLO) {
		session_close(s, PROTO_E_PROTOCOL, f->hdr.type == PROTO_MSG_HELLO ?
		    "HELLO after the handshake" : "a server message type from a client");
		return;
	}
	switch (f->hdr.type) {
	case PROTO_MSG_OPEN:
		do_open(s, f);
		break;
	case PROTO_MSG_EXEC:
		do_exec(s, f);
		break;
	case PROTO_MSG_BEGIN:
	case PROTO_MSG_COMMIT:
	case PROTO_MSG_ROLLBACK:
		do_txn(s, f);
		break;
	case PROTO_MSG_DISPOSE:
		do_dispose(s, f);
		break;
	case PROTO_MSG_PING:
		if (proto_decode_empty(f) != PROTO_DERR_OK)
			session_close(s, PROTO_E_PROTOCOL, "malformed PING");
		else
			reply_empty(s, PROTO_MSG_PONG, reqid);
		break;
	case PROTO_MSG_STATUS:
	case PROTO_MSG_CLIENTS:
	case PROTO_MSG_RESOLVE:
	case PROTO_MSG_RELOAD:
	case PROTO_MSG_DISPOSE_POOL:
	case PROTO_MSG_CACHE_FLUSH:
		admin_request(s, f);
		break;
	default:
		session_close(s, PROTO_E_PROTOCOL, "unknown request");
		break;
	}
}

/* Frames buffered beyond the one being served. */
static size_t
queued_frames(struct evbuffer *in)
{
	struct evbuffer_ptr pos;
	uint8_t hdr[PROTO_HDR_SIZE];
	size_t len = buffered(in), at = 0, n = 0;

	while (at + PROTO_HDR_SIZE <= len) {
		if (evbuffer_ptr_set(in, &pos, at, EVBUFFER_PTR_SET) == -1 ||
		    evbuffer_copyout_from(in, &pos, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
			break;
		at += proto_frame_size(hdr);
		n++;
	}
	return n;
}

/* The session takes its next frame now: not busy, closing or closed. */
static bool
serving(const struct session *s)
{
	return !s->dead && s->busy == NULL && !out_full(s);
}

/*
 * The whole length of the frame whose header p holds, or 0 after closing the session
 * for a bad header: a frame whose header alone is wrong goes before its payload is read.
 */
static size_t
frame_total(struct session *s, const unsigned char *p)
{
	struct proto_frame f;
	int rc;

	if ((rc = proto_frame_check(p, PROTO_HDR_SIZE, input_limit(s) - PROTO_HDR_SIZE,
	    &f)) < 0) {
		session_close(s, rc == -PROTO_DERR_OVERSIZED ? PROTO_E_LIMIT : PROTO_E_PROTOCOL,
		    proto_derr_str((enum proto_derr)-rc));
		return 0;
	}
	return PROTO_HDR_SIZE + (size_t)f.hdr.length;
}

/* Serves one whole frame; false when it was malformed and the session closed. */
static bool
serve_frame(struct session *s, const unsigned char *p, size_t total)
{
	struct proto_frame f;

	if (proto_frame_check(p, total, input_limit(s) - PROTO_HDR_SIZE, &f) <= 0) {
		session_close(s, PROTO_E_PROTOCOL, "malformed frame");
		return false;
	}
	session_dispatch(s, &f);
	return true;
}

/* After serving what could be served: the queue limit, shutdown, and reading on. */
static void
session_settle(struct session *s)
{
	/*
	 * max_queued counts the request being served too.  A PostgreSQL client's
	 * pipelined messages are held back by not reading instead: its protocol has
	 * no way to refuse them.
	 */
	if (!s->dead && s->busy != NULL && s->kind == SESSION_NATIVE &&
	    queued_frames(s->in) >= (size_t)dc()->max_queued_per_client)
		session_close(s, PROTO_E_LIMIT, "too many requests queued "
		    "(daemon.max_queued_per_client)");
	if (!s->dead && s->busy == NULL && dbmd->stopping)
		session_close(s, PROTO_E_SHUTDOWN, "dbmd is shutting down");
	if (s->dead)
		return;
	if (s->in != NULL && evbuffer_get_length(s->in) == 0) {
		evbuffer_free(s->in);
		s->in = NULL;
	}
	/* Read on while there is room for a whole frame more and the client reads. */
	reading(s, buffered(s->in) < input_limit(s) && !out_full(s));
}

/*
 * Serves whole frames from the input buffer, one request at a time: a frame that
 * arrives while a request is in flight waits in the buffer, so replies leave in
 * request order.
 */
static void
native_process(struct session *s)
{
	struct proto_frame f;
	const unsigned char *p;
	unsigned char hdr[PROTO_HDR_SIZE];
	size_t len, total;

	while (serving(s) && (len = buffered(s->in)) >= PROTO_HDR_SIZE) {
		if ((p = evbuffer_pullup(s->in, PROTO_HDR_SIZE)) == NULL) {
			session_close(s, PROTO_E_NOMEM, "out of memory for input");
			break;
		}
		memcpy(hdr, p, sizeof(hdr));
		if ((total = frame_total(s, hdr)) == 0 || len < total)
			break;
		if ((p = evbuffer_pullup(s->in, (ev_ssize_t)total)) == NULL) {
			/* No memory to hold the frame in one piece: its request fails. */
			(void)proto_frame_check(hdr, sizeof(hdr), PROTO_MAX_FRAME_LIMIT, &f);
			reply_error(s, f.hdr.request_id, PROTO_E_NOMEM, "out of memory for the "
			    "request");
			evbuffer_drain(s->in, total);
			continue;
		}
		if (!serve_frame(s, p, total))
			break;
		if (!s->dead)
			evbuffer_drain(s->in, total);
	}
}

/* Serves what the input buffer holds, in the client's protocol, then reads on. */
void
session_process(struct session *s)
{
	if (s->in_read || s->dead)
		return;
	s->in_read = true;
	if (s->kind == SESSION_PG)
		pgwire_process(s);
	else
		native_process(s);
	s->in_read = false;
	session_settle(s);
}

/*
 * Serves whole frames straight from what one read brought, without copying them;
 * only what cannot be served now is kept, in the session's input buffer.
 */
static void
session_process_read(struct session *s, const unsigned char *p, size_t n)
{
	size_t off = 0, total;

	s->in_read = true;
	while (serving(s) && n - off >= PROTO_HDR_SIZE) {
		if ((total = frame_total(s, p + off)) == 0 || n - off < total)
			break;
		if (!serve_frame(s, p + off, total))
			break;
		off += total;
	}
	s->in_read = false;
	if (!s->dead && off < n && ((s->in == NULL && (s->in = evbuffer_new()) == NULL) ||
	    evbuffer_add(s->in, p + off, n - off) == -1))
		session_close(s, PROTO_E_NOMEM, "out of memory for input");
	session_settle(s);
}

/* A request's reply is complete: finish what the session owes, then read on. */
static void
session_req_done(void *arg, struct request *r)
{
	struct session *s = arg;
	struct handle *h = r->handle;

	if (r->kind == REQ_OPEN && h != NULL && s->kind == SESSION_NATIVE) {
		if (r->failed) {
			log_warnx("client %llu (pid %ld uid %lu): cannot open a handle on pool "
			    "%016llx: %s", (unsigned long long)s->id, (long)s->pid,
			    (unsigned long)s->peer.uid, (unsigned long long)h->pool->rc->hash,
			    h->pool->last_error[0] ? h->pool->last_error : "failed");
			session_handle_free(s, h);
		} else
			reply_open_ok(s, r->reqid, h);
	} else if (r->kind == REQ_EXEC && h != NULL)
		pin_check_after(s, h);
	if (r->commit_lsn != 0 && h != NULL)
		ryw_note(s->peer.uid, s->pid, h->env, r->commit_lsn);
	if (s->busy == r)
		s->busy = NULL;
	if (s->stalled == r) {
		s->stalled = NULL;
		if (s->stall_timer != NULL)
			evtimer_del(s->stall_timer);
	}
	if (s->kind == SESSION_PG)
		pgwire_done(s, r);	/* may start the client's next request */
	session_process(s);
}

static void
session_req_pg_fields(void *arg, struct request *r, bool notice, const struct pg_field *f,
    size_t n)
{
	struct session *s = arg;

	if (!s->dead)
		pgwire_fields(s, r, notice, f, n);
}

/*
 * Reply bytes of a request.  When the client's output is full, a reply being produced
 * on a connection waits (the request is STALLED), for at most stall_timeout.
 */
static int
session_req_output(void *arg, struct request *r, const void *data, size_t len)
{
	struct session *s = arg;
	long long ms = r->pool != NULL ? r->pool->rc->stall_timeout : 0;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	int full = s->kind == SESSION_PG ? pgwire_output(s, r, data, len) :
	    session_output(s, data, len);

	if (full == 0 || s->dead || (r->state != REQ_RUNNING && r->state != REQ_STALLED))
		return 0;
	if (s->stalled == r)
		return 1;	/* more output the backend had ready: the wait goes on */
	s->stalled = r;
	if (ms > 0 && (s->stall_timer != NULL ||
	    (s->stall_timer = evtimer_new(dbmd->base, session_stall_timeout, s)) != NULL))
		evtimer_add(s->stall_timer, &tv);
	/* else only the client's reading or leaving ends the wait */
	return 1;
}

/*
 * The client read none of its reply for stall_timeout: the reply ends with an ERROR
 * that says so, the statement is cancelled, and what the backend still sends for it is
 * dropped, so the connection goes back to its pool.
 */
static void
session_stall_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct session *s = arg;
	struct request *r = s->stalled;
	struct pool *p = r->pool;
	char msg[160];

	(void)fd, (void)ev;
	s->stalled = NULL;
	p->stats.stall_timeouts++;
	snprintf(msg, sizeof(msg), "canceling statement: the client read none of its reply "
	    "for %lldms (stall_timeout)", p->rc->stall_timeout);
	log_info("client %llu (pid %ld uid %lu): %s", (unsigned long long)s->id, (long)s->pid,
	    (unsigned long)s->peer.uid, msg);
	if (s->kind == SESSION_PG)
		pgwire_stall_error(s, r, msg);
	else
		reply_sql_error(s, r->reqid, PROTO_E_TIMEOUT, "57014", msg);
	r->cut = true;
	r->failed = true;
	pool_cancel(r);		/* resumes it; may end it at once */
}

/*
 * One recv, with no FIONREAD and no second read to find EAGAIN: into the daemon's read
 * buffer when the session holds no partial input (the usual case: whole requests, one
 * at a time), else onto that input.
 */
static void
session_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	static unsigned char rbuf[READ_CHUNK];
	struct session *s = arg;
	struct evbuffer_iovec v;
	char reason[128];
	ssize_t n;

	(void)ev;
	if (s->in == NULL && s->kind == SESSION_PG && (s->in = evbuffer_new()) == NULL) {
		session_close(s, PROTO_E_NOMEM, "out of memory for input");
		return;
	}
	if (s->in == NULL) {
		if ((n = recv(fd, rbuf, sizeof(rbuf), 0)) > 0) {
			session_process_read(s, rbuf, (size_t)n);
			return;
		}
	} else {
		if (evbuffer_reserve_space(s->in, READ_CHUNK, &v, 1) < 1) {
			session_close(s, PROTO_E_NOMEM, "out of memory for input");
			return;
		}
		n = recv(fd, v.iov_base, v.iov_len, 0);
		v.iov_len = n > 0 ? (size_t)n : 0;
		evbuffer_commit_space(s->in, &v, 1);
		if (n > 0) {
			session_process(s);
			return;
		}
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == 0)
		snprintf(reason, sizeof(reason), "%s", s->busy != NULL ? "client closed the "
		    "connection with a request in flight" : "client closed the connection");
	else
		snprintf(reason, sizeof(reason), "%s", gone_reason(s, errno, "read error"));
	session_close(s, 0, reason);
}

/* The socket takes output again; a paused reply may go on once below the low mark. */
static void
session_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session *s = arg;
	struct request *r = s->stalled;

	(void)fd, (void)ev;
	flush_output(s);
	if (s->dead || buffered(s->out) > OUT_LOW)
		return;
	if (r != NULL) {
		s->stalled = NULL;
		if (s->stall_timer != NULL)
			evtimer_del(s->stall_timer);
		pool_resume(r);
	}
	/* Requests that waited for the client to read are served now. */
	if (!s->dead)
		session_process(s);
}

static void
session_hello_timeout(evutil_socket_t fd, short ev, void *arg)
{
	char reason[64];

	(void)fd, (void)ev;
	snprintf(reason, sizeof(reason), "no HELLO within %ds", HELLO_TIMEOUT_S);
	session_close(arg, 0, reason);
}

/*
 * Frees closed sessions; runs from its own event, outside every session's callbacks
 * and every walk of the list, which a closed session stays on until then.
 */
void
session_reap(void)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&dbmd->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->dead) {
			TAILQ_REMOVE(&dbmd->sessions, s, entry);
			pgwire_free(s);		/* the front door's state, NULL-safe */
			free(s);
		}
	}
}

/* The last bytes for a closing client: after its pending output, as much as fits now. */
static void
send_last(struct session *s, const void *data, size_t len)
{
	if (s->out == NULL)
		(void)send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	else if (evbuffer_add(s->out, data, len) == 0)
		evbuffer_write(s->out, s->fd);
}

/*
 * Closes a client: a GOODBYE with the code (0: none, the client left), its request
 * abandoned, its handles disposed (open transactions roll back), one log line.  The
 * struct stays on the list, dead, and is freed by the reaper event: never inside its
 * own callbacks or anyone's walk of the sessions.
 */
void
session_close(struct session *s, int code, const char *reason)
{
	struct request *r;
	struct handle *h;
	struct proto_buf b;
	struct proto_goodbye g = { .code = (uint16_t)code, .reason = reason };
	uint8_t pgbye[512];
	size_t len;

	if (s->dead)
		return;
	s->dead = true;
	log_info("client %llu (%s pid %ld uid %lu) closed: %s", (unsigned long long)s->id,
	    s->name[0] ? s->name : "?", (long)s->pid, (unsigned long)s->peer.uid, reason);

	/*
	 * The socket goes first: its descriptor is free again before the cleanup below
	 * needs one (a cancel for the statement in flight opens a connection).
	 */
	if (code != 0 && s->kind == SESSION_PG) {
		/* A PostgreSQL client is told with a FATAL ErrorResponse instead. */
		if ((len = pgwire_fatal(code, reason, pgbye, sizeof(pgbye))) > 0)
			send_last(s, pgbye, len);
	} else if (code != 0) {
		/* Best effort: the pending output and the GOODBYE, as much as fits now. */
		proto_buf_init(&b);
		if (proto_encode_goodbye(&b, 0, &g) == PROTO_E_OK)
			send_last(s, b.data, b.len);
		proto_buf_free(&b);
	}
	event_free(s->rev);
	if (s->wev != NULL)
		event_free(s->wev);
	if (s->hello_timer != NULL)
		event_free(s->hello_timer);
	if (s->in != NULL)
		evbuffer_free(s->in);
	if (s->out != NULL)
		evbuffer_free(s->out);
	close(s->fd);
	s->rev = s->wev = s->hello_timer = NULL;
	s->in = s->out = NULL;

	/*
	 * The request in flight is abandoned: it tells the session nothing from now on,
	 * and the pool cleans up after it whatever it was doing.
	 */
	s->stalled = NULL;
	if (s->stall_timer != NULL)
		event_free(s->stall_timer);
	s->stall_timer = NULL;
	if ((r = s->busy) != NULL) {
		s->busy = NULL;
		request_abandon(r);
	}
	while ((h = TAILQ_FIRST(&s->handles)) != NULL)
		session_handle_free(s, h);

	access_peer_free(&s->peer);
	dbmd->nsessions--;
	event_active(dbmd->reaper, EV_TIMEOUT, 0);
}

/* Shutdown: every client without a request in flight is told and closed. */
void
session_goodbye_all(int force, const char *reason)
{
	struct session *s;

	/* Closing frees nothing and removes nothing from the list: the walk is safe. */
	TAILQ_FOREACH(s, &dbmd->sessions, entry)
		if (!s->dead && (force || s->busy == NULL))
			session_close(s, PROTO_E_SHUTDOWN, reason);
}

/*
 * The request in flight on a handle whose access was revoked does not reach the
 * database: one waiting for a connection or a cache fill fails now, one running on a
 * connection of its own is cancelled (one on the handle's connection goes with it).
 */
static void
revoke_request(struct session *s, struct handle *h)
{
	struct request *r = s->busy;

	if (r == NULL || r->handle != h || (r->conn != NULL && r->conn == h->hold.conn))
		return;		/* one on the handle's own connection goes with it */
	request_refuse(r, h->lost_code, h->lost_sqlstate, h->lost);
}

/*
 * After a reload: handles whose peer the new configuration no longer allows on their
 * environment/role are ended.  Their connection is released (a statement running for
 * them is cancelled, an open transaction rolled back) and every later request on them
 * is refused with the reason; disposing them still works.
 */
void
session_revoke(const struct config *cfg)
{
	struct cfg_errors errs;
	const struct role_config *rc;
	struct session *s, *snext;
	struct handle *h;
	char msg[160];
	bool allowed;

	TAILQ_INIT(&errs);
	for (s = TAILQ_FIRST(&dbmd->sessions); s != NULL; s = snext) {
		snext = TAILQ_NEXT(s, entry);
		if (s->dead || s->in_read)
			continue;
		/* Requests that complete meanwhile wait: the handle list is being walked. */
		s->in_read = true;
		TAILQ_FOREACH(h, &s->handles, entry) {
			if (h->revoked || s->dead)
				continue;
			rc = factory_resolve(dbmd->factory, cfg, h->env, h->role, &errs);
			config_errors_clear(&errs);
			allowed = rc == NULL || access_open_allowed(&s->peer, rc, &cfg->daemon);
			if (allowed)
				continue;
			log_info("client %llu (pid %ld uid %lu): handle %u on %s/%s ended: the "
			    "reloaded configuration no longer allows this user",
			    (unsigned long long)s->id, (long)s->pid, (unsigned long)s->peer.uid,
			    h->id, h->env, h->role);
			h->revoked = true;
			snprintf(msg, sizeof(msg), "permission denied for environment \"%s\": "
			    "access was revoked by a reload of the configuration", h->env);
			handle_tell(h, PROTO_E_PERMISSION, "42501", msg);
			revoke_request(s, h);
			pool_hold_release(&h->hold);
		}
		s->in_read = false;
		if (!s->dead)
			session_process(s);
	}
}
