/* request.c: a request's life, from its owner making it to the end of its reply. */

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dbmd.h"
#include "proto.h"

/*
 * A request is made by its owner (a client's session) with the callbacks that take its
 * reply, then placed by the pool: queued for a connection, parked on another request's
 * cache fill, or run.  Whatever the path, it ends in request_finish(): its state becomes
 * DONE, the owner is told, and it is freed.  The state says which queue holds it, and
 * request_move() is the only place it changes, so a request is never in two queues,
 * never forgotten in one, and an owner that leaves (request_abandon) is undone the
 * same way whatever the request was doing.
 */

#define BIT(s)	(1u << (s))

/* The moves that exist; any other is a bug. */
static const unsigned moves[REQ_STATE_MAX_] = {
	[REQ_NEW] = BIT(REQ_QUEUED) | BIT(REQ_PARKED) | BIT(REQ_RUNNING) | BIT(REQ_DONE),
	[REQ_QUEUED] = BIT(REQ_RUNNING) | BIT(REQ_DONE),
	[REQ_PARKED] = BIT(REQ_NEW) | BIT(REQ_DONE),
	[REQ_RUNNING] = BIT(REQ_STALLED) | BIT(REQ_DONE),
	[REQ_STALLED] = BIT(REQ_RUNNING) | BIT(REQ_DONE),
	[REQ_DONE] = 0,
};

static const char *const state_names[REQ_STATE_MAX_] = {
	"new", "queued", "parked", "running", "stalled", "done"
};

void
request_queue_init(struct request_queue *q)
{
	TAILQ_INIT(&q->list);
	q->n = 0;
}

/*
 * A request made for the owner that will set ops and owner; its limits and identity
 * are nobody's until the owner sets them (dbmd's own requests keep them so).  NULL
 * when out of memory.
 */
struct request *
request_new(enum req_kind kind, uint32_t reqid)
{
	struct request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->kind = kind;
	r->state = REQ_NEW;
	r->reqid = reqid;
	r->max_frame = PROTO_DEFAULT_MAX_FRAME;
	r->version = 1;
	r->uid = (uid_t)-1;
	r->queued_at = now_us();
	return r;
}

/*
 * The one place a request changes state: it leaves its queue and joins to (NULL for
 * NEW and DONE).  A move that does not exist is a bug that would corrupt the queues.
 */
void
request_move(struct request *r, enum req_state st, struct request_queue *to)
{
	if ((unsigned)st >= REQ_STATE_MAX_ || (moves[r->state] & BIT(st)) == 0 ||
	    (to == NULL) != (st == REQ_NEW || st == REQ_DONE))
		fatalx("%s: request %u: no move from %s to %s", __func__, r->reqid,
		    state_names[r->state], (unsigned)st < REQ_STATE_MAX_ ? state_names[st] : "?");
	if (r->queue != NULL) {
		TAILQ_REMOVE(&r->queue->list, r, entry);
		r->queue->n--;
	}
	r->state = st;
	r->queue = to;
	if (to != NULL) {
		TAILQ_INSERT_TAIL(&to->list, r, entry);
		to->n++;
	}
}

static void
request_free(struct request *r)
{
	uint32_t i;

	cacheflow_release(r);
	if (r->timer != NULL)
		event_free(r->timer);
	/* A describe may declare types for parameters it has no values of. */
	for (i = 0; r->params != NULL && i < r->nparams; i++)
		free(r->params[i]);
	free(r->cap);
	request_names_free(r->res_read, r->nres_read);
	request_names_free(r->res_written, r->nres_written);
	free(r->params);
	free(r->lens);
	free(r->formats);
	free(r->types);
	free(r->sql);
	free(r);
}

/*
 * Passes reply bytes (whole frames) to the owner.  Returns 1 when the client's output
 * is full: the request is STALLED and its producer pauses until pool_resume() (which
 * calls its backend's conn_resume).  Output nobody takes (an owner gone, a client cut
 * off for not reading) is dropped; a cache fill keeps its copy either way.
 */
int
request_output(struct request *r, const void *data, size_t len)
{
	if (r->cut || len == 0)
		return 0;
	if (r->capturing)
		cacheflow_capture(r, data, len);
	if (r->ops == NULL || r->ops->output(r->owner, r, data, len) == 0)
		return 0;
	/* The owner may have gone in the call (a write error): nothing waits then. */
	if (r->ops == NULL || (r->state != REQ_RUNNING && r->state != REQ_STALLED))
		return 0;
	if (r->state == REQ_RUNNING)
		request_move(r, REQ_STALLED, &r->pool->reqs[REQ_STALLED]);
	return 1;
}

/*
 * A notice, or the fields of the error that ends the reply, for an owner that takes
 * them whole (the PostgreSQL front door); the reply's frames carry what others need.
 */
void
request_pg_fields(struct request *r, bool notice, const struct pg_field *f, size_t n)
{
	if (r->cut || r->ops == NULL || r->ops->pg_fields == NULL)
		return;
	r->ops->pg_fields(r->owner, r, notice, f, n);
}

/* Ends a request's reply with ERROR; the request is then finished or done. */
void
request_fail(struct request *r, int code, const char *sqlstate, const char *msg)
{
	struct proto_buf b;
	struct proto_error e = {
		.code = (uint16_t)code,
		.sqlstate = sqlstate ? sqlstate : "",
		.message = msg ? msg : proto_strerror(code),
		.detail = "",
		.hint = "",
	};

	r->failed = true;
	if (r->ops == NULL || r->cut)
		return;
	proto_buf_init(&b);
	b.max_payload = r->max_frame;
	if (proto_encode_error(&b, r->reqid, &e) == PROTO_E_OK)
		r->ops->output(r->owner, r, b.data, b.len);
	proto_buf_free(&b);
}

/*
 * The end of every request: DONE, its owner told, freed.  For a request that never
 * reached a connection (answered from the cache, refused, timed out) or one whose
 * connection has been dealt with (request_done).
 */
void
request_finish(struct request *r)
{
	if (r->state == REQ_RUNNING || r->state == REQ_STALLED)
		fatalx("%s: request %u is still on a connection", __func__, r->reqid);
	if (r->state != REQ_DONE)
		request_move(r, REQ_DONE, NULL);
	if (r->ops != NULL)
		r->ops->done(r->owner, r);
	request_free(r);
}

/*
 * The backend finished a request: its reply has been passed to request_output() in
 * full (ok: without an error of the statement's).  The pool decides where the
 * connection goes, then the owner is told.
 */
void
request_done(struct request *r, bool ok)
{
	struct conn *c = r->conn;

	if (r->state != REQ_RUNNING && r->state != REQ_STALLED)
		fatalx("%s: request %u is %s", __func__, r->reqid, state_names[r->state]);
	request_move(r, REQ_DONE, NULL);
	r->conn = NULL;
	pool_request_done(c, r, ok);
	request_finish(r);
}

/*
 * Ends a request wherever it is: one not on a connection now, one running by a
 * cancel, after which it ends with the backend's error.
 */
static void
request_stop(struct request *r)
{
	if (r->state == REQ_RUNNING || r->state == REQ_STALLED)
		pool_cancel(r);
	else if (r->state != REQ_DONE)
		request_finish(r);
}

/*
 * The request may not go on (its access was revoked): one not yet on a connection
 * ends now with the error, one running is cancelled and ends with the backend's.
 */
void
request_refuse(struct request *r, int code, const char *sqlstate, const char *msg)
{
	if (r->state != REQ_RUNNING && r->state != REQ_STALLED)
		request_fail(r, code, sqlstate, msg);
	request_stop(r);
}

/*
 * The owner has gone (its client left): nobody is told anything from now on.  A
 * request not on a connection is freed now; a running one is cancelled, and its
 * connection cleaned when the backend reports the end.
 */
void
request_abandon(struct request *r)
{
	r->ops = NULL;
	r->owner = NULL;
	r->handle = NULL;
	r->hold = NULL;
	request_stop(r);
}
