/* request.c: a client's request on its way through a pool, and the replies it sends. */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dbmd.h"
#include "proto.h"

struct request *
request_new(enum req_kind kind, struct session *s, struct handle *h, uint32_t reqid)
{
	struct request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->kind = kind;
	r->session = s;
	r->handle = h;
	r->reqid = reqid;
	r->max_frame = s ? s->max_frame : PROTO_DEFAULT_MAX_FRAME;
	r->uid = s ? s->peer.uid : geteuid();
	r->sid = s ? s->id : 0;
	r->hid = h ? h->id : 0;
	r->queued_at = now_us();
	return r;
}

void
request_free(struct request *r)
{
	uint32_t i;

	if (r == NULL)
		return;
	cacheflow_release(r);
	if (r->timer != NULL)
		event_free(r->timer);
	for (i = 0; i < r->nparams; i++)
		free(r->params[i]);
	free(r->cap);
	request_names_free(r->res_read, r->nres_read);
	request_names_free(r->res_written, r->nres_written);
	free(r->params);
	free(r->lens);
	free(r->sql);
	free(r);
}

/*
 * Passes reply bytes (whole frames) to the client.  Returns 1 when the client's output
 * is full: the producer should pause until its backend's conn_resume is called.  Output
 * for a client that is gone, or that was cut off for not reading, is dropped.
 */
int
request_output(struct request *r, const void *data, size_t len)
{
	if (r->cut)
		return 0;
	if (r->capturing)
		cacheflow_capture(r, data, len);
	if (r->session == NULL || len == 0)
		return 0;
	if (session_output(r->session, data, len) == 0)
		return 0;
	if (r->session == NULL)		/* session_output may have closed it */
		return 0;
	session_stall(r->session, r);
	return 1;
}

/* Ends a request's reply with ERROR; the caller then completes the request. */
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
	if (r->session == NULL || r->cut)
		return;
	proto_buf_init(&b);
	b.max_payload = r->max_frame;
	if (proto_encode_error(&b, r->reqid, &e) == PROTO_E_OK)
		session_output(r->session, b.data, b.len);
	proto_buf_free(&b);
}
