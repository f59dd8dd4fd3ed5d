/* libdbmclient.c: the connection to dbmd, its requests and replies, and handles. */

/*
 * Every request sent is a struct pending on the conn's list, oldest first,
 * until its reply has been taken.  Frames are read in large chunks straight
 * into the proto/ stream decoder and handed, one at a time, to the request
 * whose id they carry (conn_dispatch), which builds its results as they come:
 * a whole reply as one chain of result sets, or pieces of row_chunk rows.
 * The blocking calls send a request and read until it is done; the
 * non-blocking ones (dbm_send_*, dbm_consume_input, dbm_get_result) are the
 * same machinery with the waiting left to the caller's event loop.
 *
 * Failures come in two kinds.  A request dbmd refuses (bad SQL, unknown
 * environment, no such handle) leaves the connection usable and is reported
 * in a result or in the conn's error fields.  Anything that breaks the byte
 * stream (a closed socket, a malformed frame, GOODBYE, a timeout, running out
 * of memory half way through a reply) ends the connection: the socket is
 * closed at once, every request in flight gets an error result, and every
 * later call fails with DBM_E_CONNECTION.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/queue.h>

#include "client_impl.h"

/*
 * The largest reply frame we accept, announced in HELLO: the hard cap, so
 * that a wide row of a result is never refused for being big.  The decoder
 * only grows to the largest frame that actually arrives.
 */
#define CLIENT_MAX_FRAME	PROTO_MAX_FRAME_LIMIT

/* Bytes asked of each read(2): a whole reply of small rows in one call. */
#define READ_CHUNK		(64u << 10)

/* How long dbm_disconnect waits for dbmd to answer its DISPOSE requests. */
#define DISCONNECT_TIMEOUT_MS	1000

/* Connecting and saying hello give up after this unless told otherwise. */
#define CONNECT_TIMEOUT_MS	10000

/* Bytes one dbm_consume_input takes at most, so that a fast dbmd cannot grow us. */
#define CONSUME_MAX		(1u << 20)

/* No deadline: wait as long as the request takes, as libpq does. */
#define NO_DEADLINE		(-1)

#define DEFAULT_ENVIRONMENT	"development"
#define DEFAULT_ROLE		"primary"

/*
 * The public codes are the protocol's, number for number: dbm_strerror and
 * results pass the wire's values through untouched.  The casts only
 * silence -Wenum-compare, the enums being distinct types.
 */
#define SAME_VALUE(pub, wire)	_Static_assert((int)(pub) == (int)(wire), #pub " != " #wire)

SAME_VALUE(DBM_OK, PROTO_E_OK);
SAME_VALUE(DBM_E_PROTOCOL, PROTO_E_PROTOCOL);
SAME_VALUE(DBM_E_VERSION, PROTO_E_VERSION);
SAME_VALUE(DBM_E_UNKNOWN_ENV, PROTO_E_UNKNOWN_ENV);
SAME_VALUE(DBM_E_UNKNOWN_ROLE, PROTO_E_UNKNOWN_ROLE);
SAME_VALUE(DBM_E_CONFIG, PROTO_E_CONFIG);
SAME_VALUE(DBM_E_NOT_OVERRIDABLE, PROTO_E_NOT_OVERRIDABLE);
SAME_VALUE(DBM_E_PERMISSION, PROTO_E_PERMISSION);
SAME_VALUE(DBM_E_LIMIT, PROTO_E_LIMIT);
SAME_VALUE(DBM_E_BACKEND, PROTO_E_BACKEND);
SAME_VALUE(DBM_E_SQL, PROTO_E_SQL);
SAME_VALUE(DBM_E_TIMEOUT, PROTO_E_TIMEOUT);
SAME_VALUE(DBM_E_NO_HANDLE, PROTO_E_NO_HANDLE);
SAME_VALUE(DBM_E_TXN_STATE, PROTO_E_TXN_STATE);
SAME_VALUE(DBM_E_SHUTDOWN, PROTO_E_SHUTDOWN);
SAME_VALUE(DBM_E_DRAINING, PROTO_E_DRAINING);
SAME_VALUE(DBM_E_CANCELED, PROTO_E_CANCELED);
SAME_VALUE(DBM_E_CONNECTION, PROTO_E_CONNECTION);
SAME_VALUE(DBM_E_INTERNAL, PROTO_E_INTERNAL);
SAME_VALUE(DBM_E_NOMEM, PROTO_E_NOMEM);
SAME_VALUE(DBM_CACHE_BYPASS, PROTO_CACHE_BYPASS);
SAME_VALUE(DBM_CACHE_MISS, PROTO_CACHE_MISS);
SAME_VALUE(DBM_CACHE_HIT, PROTO_CACHE_HIT);
_Static_assert(PROTO_E_MAX_ == DBM_E_NOMEM + 1, "a protocol error code lacks its DBM_E_ twin");

struct dbm_handle {
	dbm_conn		*conn;
	uint32_t		 id;		/* the server's handle_id */
	uint64_t		 pool_hash;
	char			*backend;
	int			 npending;	/* its requests sent without waiting, not yet taken */
	struct dbm_handle	*prev;		/* the conn's list of open handles */
	struct dbm_handle	*next;
};

/* How a request's reply ends. */
enum pend_kind {
	PEND_RESULTS,		/* result sets, or ERROR (EXEC, STATUS, RELOAD, ...) */
	PEND_SINGLE,		/* one frame of type want, or ERROR (HELLO, OPEN, PING, BEGIN) */
	PEND_ACK		/* OK or ERROR to a DISPOSE nobody waits for */
};

/* Who takes a request's results. */
enum pend_taker {
	TAKER_NONE,		/* nobody: dropped when done (DISPOSE, a disposed handle's) */
	TAKER_CALL,		/* the blocking call that sent it, by pointer */
	TAKER_HANDLE		/* dbm_get_result on its handle */
};

/* One request in flight, or answered but not yet taken. */
struct pending {
	TAILQ_ENTRY(pending)	 entry;		/* the conn's list, oldest first */
	uint32_t		 reqid;
	enum pend_kind		 kind;
	enum pend_taker		 taker;
	dbm_handle		*handle;	/* TAKER_HANDLE: whose */
	uint16_t		 want;		/* PEND_SINGLE: the reply's type */
	bool			 ok_alone;	/* PEND_RESULTS: a bare OK also ends it (RELOAD) */
	bool			 done;		/* its terminal frame came, or the conn failed */
	bool			 lost;		/* the conn failed first */
	unsigned long		 row_chunk;	/* 0: one whole result; else pieces of this many rows */
	unsigned long		 timeout_ms;	/* dbm_get_result's wait; 0: the conn's */
	struct proto_frame	 frame;		/* PEND_SINGLE: the wanted frame, payload copied */
	struct proto_frame	 desc;		/* row_chunk: the ROW_DESC, copied, for each piece */
	dbm_result		*sets;		/* whole: the result sets so far */
	dbm_result		**sets_tail;
	dbm_result		*cur;		/* the result set or piece being filled */
	dbm_result		*ready;		/* results to take, oldest first */
	dbm_result		**ready_tail;
};
TAILQ_HEAD(pending_list, pending);

struct dbm_conn {
	int			 fd;		/* -1 once closed */
	bool			 failed;	/* the connection is finished; fd is closed */
	pid_t			 pid;		/* who connected; a forked child must not speak for it */
	uint32_t		 reqid;		/* the last request id used */
	uint32_t		 max_queued;	/* requests dbmd lets us have in flight */
	uint32_t		 inflight;	/* requests sent whose reply is not whole */
	uint32_t		 nacks;		/* DISPOSEs whose answer has not come */
	unsigned long		 timeout_ms;	/* a blocking call's wait; 0: none */
	char			*server_version;
	struct proto_buf	 out;		/* requests encoded, not yet all sent */
	struct proto_decoder	 in;		/* bytes read, cut into frames */
	struct pending_list	 pending;	/* requests sent, oldest first */
	struct dbm_handle	*handles;	/* open handles, disposed at disconnect */

	/* The first DISPOSE dbmd refused since dbm_disposed last asked. */
	int			 ack_err;
	char			 ack_errmsg[256];

	/* The last call's outcome, written only by conn_vset_error; strings truncate. */
	int			 err;
	char			 errmsg[512];
	char			 errsqlstate[6];
	char			 errdetail[1024];
	char			 errhint[256];
};

static void	conn_vset_error(dbm_conn *, int, const char *, const char *, const char *,
		    const char *, va_list) __attribute__((format(printf, 6, 0)));
static void	conn_set_error_full(dbm_conn *, int, const char *, const char *,
		    const char *, const char *, ...) __attribute__((format(printf, 6, 7)));
static void	conn_set_error(dbm_conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	conn_fail(dbm_conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static dbm_result *conn_local_error(dbm_conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	pending_fail(dbm_conn *, struct pending *);
static int	opts_copy(void *, size_t, const void *, size_t);

/* Errors. */

/*
 * The one setter of a conn's error fields: code, message, SQLSTATE, detail
 * and hint, each copied and truncated to fit, so that they outlive the
 * frame they came from.  DBM_OK with empty strings clears them.
 */
static void
conn_vset_error(dbm_conn *c, int code, const char *sqlstate, const char *detail,
    const char *hint, const char *fmt, va_list ap)
{
	c->err = code;
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	snprintf(c->errsqlstate, sizeof(c->errsqlstate), "%s", sqlstate);
	snprintf(c->errdetail, sizeof(c->errdetail), "%s", detail);
	snprintf(c->errhint, sizeof(c->errhint), "%s", hint);
}

static void
conn_set_error_full(dbm_conn *c, int code, const char *sqlstate, const char *detail,
    const char *hint, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conn_vset_error(c, code, sqlstate, detail, hint, fmt, ap);
	va_end(ap);
}

static void
conn_set_error(dbm_conn *c, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conn_vset_error(c, code, "", "", "", fmt, ap);
	va_end(ap);
}

/*
 * Ends the connection.  Closing rather than shutdown(2) matters after fork:
 * the other process's copy of the socket stays intact.
 */
static void
conn_close(dbm_conn *c)
{
	struct pending	*p, *tmp;

	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->failed = true;
	proto_buf_free(&c->out);
	proto_decoder_free(&c->in);
	for (p = TAILQ_FIRST(&c->pending); p != NULL; p = tmp) {
		tmp = TAILQ_NEXT(p, entry);
		if (!p->done)
			pending_fail(c, p);
	}
}

/* Records why the connection broke, and closes it. */
static void
conn_fail(dbm_conn *c, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conn_vset_error(c, code, "", "", "", fmt, ap);
	va_end(ap);
	conn_close(c);
}

static void
conn_bad_frame(dbm_conn *c, const struct proto_frame *f, enum proto_derr derr)
{
	conn_fail(c, DBM_E_PROTOCOL, "malformed %s from dbmd: %s",
	    proto_msg_name(f->hdr.type), proto_derr_str(derr));
}

/*
 * Called at the start of every request.  A usable connection starts the call
 * with a clean error.  A broken one fails it: the first such call turns the
 * original code (PROTOCOL, SHUTDOWN, ...) into CONNECTION, keeping the
 * original message, as PROTOCOL.md §7 has the library do.
 */
static bool
conn_usable(dbm_conn *c)
{
	char	 msg[sizeof(c->errmsg)];

	if (c->failed) {
		if (c->err != DBM_E_CONNECTION) {
			snprintf(msg, sizeof(msg), "%s", c->errmsg);
			conn_set_error(c, DBM_E_CONNECTION, "connection to dbmd is closed: %s", msg);
		}
		return false;
	}
	if (c->err != DBM_OK)
		conn_set_error(c, DBM_OK, "%s", "");
	return true;
}

/* Request ids count up from 1 and wrap, skipping 0, which is GOODBYE's. */
static uint32_t
conn_reqid(dbm_conn *c)
{
	if (++c->reqid == 0)
		c->reqid = 1;
	return c->reqid;
}

/* Requests in flight. */

static void
pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	free((void *)p->frame.payload);
	free((void *)p->desc.payload);
	dbm_result_free(p->sets);
	dbm_result_free(p->cur);
	dbm_result_free(p->ready);
	free(p);
}

/* A new request, not yet on the list: conn_send puts it there once encoded. */
static struct pending *
pending_new(dbm_conn *c, enum pend_kind kind, enum pend_taker taker, dbm_handle *h)
{
	struct pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		conn_set_error(c, DBM_E_NOMEM, "out of memory");
		return NULL;
	}
	p->reqid = conn_reqid(c);
	p->kind = kind;
	p->taker = taker;
	p->handle = h;
	p->sets_tail = &p->sets;
	p->ready_tail = &p->ready;
	return p;
}

/* Takes a request off the list; a handle's count and the conn's follow. */
static void
pending_remove(dbm_conn *c, struct pending *p)
{
	TAILQ_REMOVE(&c->pending, p, entry);
	if (!p->done)
		c->inflight--;
	if (p->kind == PEND_ACK && !p->done)
		c->nacks--;
	if (p->taker == TAKER_HANDLE && p->handle != NULL)
		p->handle->npending--;
	pending_free(p);
}

/* Queues a result for its taker. */
static void
pending_push(struct pending *p, dbm_result *res)
{
	*p->ready_tail = res;
	p->ready_tail = dbmc_result_nextp(res);
}

/*
 * The request's reply is whole (or will never be).  A request nobody takes
 * goes at once.  Returns true when p was freed.
 */
static bool
pending_done(dbm_conn *c, struct pending *p)
{
	p->done = true;
	c->inflight--;
	if (p->kind == PEND_ACK)
		c->nacks--;
	if (p->taker != TAKER_NONE)
		return false;
	pending_remove(c, p);
	return true;
}

/*
 * The connection failed before p's reply was whole: what came of it is no
 * result, and its taker gets the connection's error instead.
 */
static void
pending_fail(dbm_conn *c, struct pending *p)
{
	dbm_result	*res;

	dbm_result_free(p->sets);
	dbm_result_free(p->cur);
	p->sets = p->cur = NULL;
	p->sets_tail = &p->sets;
	p->lost = true;
	if (p->taker != TAKER_NONE &&
	    (res = dbmc_result_local_error(c->err != DBM_OK ? c->err : DBM_E_CONNECTION,
	    "%s", c->errmsg)) != NULL)
		pending_push(p, res);
	pending_done(c, p);
}

/* The oldest request of h that dbm_get_result has not finished with, or NULL. */
static struct pending *
pending_of(const dbm_handle *h)
{
	struct pending	*p;

	if (h->npending == 0)
		return NULL;
	TAILQ_FOREACH(p, &h->conn->pending, entry)
		if (p->taker == TAKER_HANDLE && p->handle == h)
			return p;
	return NULL;
}

/* I/O.  deadline is a CLOCK_MONOTONIC time in ms, or NO_DEADLINE. */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline of a blocking call: its own timeout, else the conn's. */
static int64_t
conn_deadline(const dbm_conn *c, unsigned long ms)
{
	if (ms == 0)
		ms = c->timeout_ms;
	return ms == 0 ? NO_DEADLINE : now_ms() + (int64_t)(ms > INT32_MAX ? INT32_MAX : ms);
}

/* Waits until fd is ready for events.  Returns 1, 0 on timeout, -1 with errno set. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = events };
	int64_t		 left;
	int		 r;

	for (;;) {
		left = deadline == NO_DEADLINE ? -1 : deadline - now_ms();
		if (left < 0 && deadline != NO_DEADLINE)
			left = 0;
		if ((r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left)) >= 0)
			return r > 0 ? 1 : 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * How much to read next: enough to fill the decoder's buffer to READ_CHUNK,
 * so that it settles at that size and is reused rather than freed and grown
 * again; 0, once a frame larger than that is partly in, makes the decoder
 * ask for the rest of the frame.
 */
static size_t
read_want(const dbm_conn *c)
{
	size_t	 held = c->in.len - c->in.pos;

	return held < READ_CHUNK ? READ_CHUNK - held : 0;
}

/*
 * After a send fails, dbmd has usually closed the socket on purpose and left
 * a GOODBYE saying why (shutdown, a limit) in our receive queue.  Reads what
 * is there without waiting and reports that reason if there is one.
 */
static void
conn_fail_send(dbm_conn *c, int errnum)
{
	struct proto_frame	 f;
	struct proto_goodbye	 g;
	size_t			 avail;
	uint8_t			*p;
	ssize_t			 n;

	while ((p = proto_decoder_space(&c->in, read_want(c), &avail)) != NULL &&
	    (n = recv(c->fd, p, avail, MSG_DONTWAIT)) > 0)
		proto_decoder_commit(&c->in, (size_t)n);
	while (proto_decoder_next(&c->in, &f) == 1) {
		if (f.hdr.type == PROTO_MSG_GOODBYE &&
		    proto_decode_goodbye(&f, &g) == PROTO_DERR_OK) {
			conn_fail(c, g.code, "dbmd closed the connection: %s", g.reason);
			return;
		}
	}
	if (errnum == EPIPE || errnum == ECONNRESET)
		conn_fail(c, DBM_E_CONNECTION, "dbmd closed the connection");
	else
		conn_fail(c, DBM_E_CONNECTION, "cannot send to dbmd: %s", strerror(errnum));
}

/*
 * Sends what c->out holds: all of it, waiting for the socket up to deadline,
 * or (wait false) what the socket takes now.  MSG_NOSIGNAL because a library
 * must not raise SIGPIPE in its caller.  Returns 0 when all is sent, 1 when
 * some is left, -1 when the connection failed.
 */
static int
conn_flush(dbm_conn *c, bool wait, int64_t deadline)
{
	ssize_t	 n;

	while (c->out.len > 0) {
		n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			proto_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			conn_fail_send(c, errno);
			return -1;
		}
		if (!wait)
			return 1;
		if (wait_fd(c->fd, POLLOUT, deadline) != 1) {
			conn_fail(c, DBM_E_TIMEOUT, "dbmd does not read its socket");
			return -1;
		}
	}
	return 0;
}

/*
 * Waits until the socket has bytes to read, sending meanwhile what sends
 * without waiting left unwritten: dbmd may need the rest of a request
 * before it answers.
 */
static int
conn_fill_wait(dbm_conn *c, int64_t deadline)
{
	if (c->out.len > 0 && conn_flush(c, false, NO_DEADLINE) == -1)
		return -1;
	if (wait_fd(c->fd, POLLIN | (c->out.len > 0 ? POLLOUT : 0), deadline) != 1) {
		conn_fail(c, DBM_E_TIMEOUT, "dbmd did not answer in time");
		return -1;
	}
	return 0;
}

/*
 * Reads what the socket has, up to a large chunk, straight into the decoder:
 * waiting for it up to deadline, or (wait false) not at all.  While it waits
 * it also sends what the non-blocking sends left unwritten: the reply being
 * waited for may be to a request dbmd has not wholly received, and nothing
 * obliges the caller to have called dbm_flush first.  Returns 1 when bytes
 * came, 0 when none were there, -1 when the connection failed.
 */
static int
conn_fill(dbm_conn *c, bool wait, int64_t deadline)
{
	size_t	 avail;
	uint8_t	*p;
	ssize_t	 n;

	if ((p = proto_decoder_space(&c->in, read_want(c), &avail)) == NULL) {
		conn_fail(c, DBM_E_NOMEM, "out of memory reading from dbmd");
		return -1;
	}
	/* Waiting, the reply is rarely there yet: poll first saves a recv that finds nothing. */
	if (wait && conn_fill_wait(c, deadline) == -1)
		return -1;
	for (;;) {
		n = recv(c->fd, p, avail, MSG_DONTWAIT);
		if (n > 0)
			break;
		if (n == 0) {
			conn_fail(c, DBM_E_CONNECTION, "dbmd closed the connection");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			if (errno == ECONNRESET)
				conn_fail(c, DBM_E_CONNECTION, "dbmd closed the connection");
			else
				conn_fail(c, DBM_E_CONNECTION, "cannot read from dbmd: %s",
				    strerror(errno));
			return -1;
		}
		if (!wait)
			return 0;
		if (conn_fill_wait(c, deadline) == -1)
			return -1;
	}
	proto_decoder_commit(&c->in, (size_t)n);
	return 1;
}

/* Replies. */

/* Keeps a frame past the decoder's next read. */
static int
frame_copy(struct proto_frame *dst, const struct proto_frame *f)
{
	uint8_t	*p = NULL;

	if (f->hdr.length > 0 && (p = malloc(f->hdr.length)) == NULL)
		return -1;
	if (f->hdr.length > 0)
		memcpy(p, f->payload, f->hdr.length);
	dst->hdr = f->hdr;
	dst->payload = p;
	return 0;
}

/* A fresh piece of a streamed result set, with the columns of its ROW_DESC. */
static dbm_result *
piece_new(const struct pending *p)
{
	struct proto_row_desc	 rd;
	dbm_result		*res;

	if ((res = dbmc_result_new()) == NULL)
		return NULL;
	if (proto_decode_row_desc(&p->desc, PROTO_VERSION_MAX, &rd) != PROTO_DERR_OK ||
	    dbmc_result_set_columns(res, &p->desc, &rd) == -1) {
		dbm_result_free(res);
		return NULL;
	}
	return res;
}

/*
 * One frame of a reply of result sets (PROTOCOL.md §6.3).  Whole, the sets
 * are chained and become one result at the end; streamed, each piece of
 * row_chunk rows is ready as soon as it is full.  An ERROR ends the request:
 * what came before it is no result.  Returns 1 when the request is done, 0
 * when more is to come, -1 when the connection failed.
 */
static int
dispatch_results(dbm_conn *c, struct pending *p, const struct proto_frame *f)
{
	struct proto_row_desc	 rd;
	struct proto_data_row	 dr;
	struct proto_complete	 cm;
	struct proto_error	 e;
	enum proto_derr		 derr;
	dbm_result		*res;

	switch (f->hdr.type) {
	case PROTO_MSG_ROW_DESC:
		if (p->cur != NULL) {
			conn_fail(c, DBM_E_PROTOCOL, "dbmd sent ROW_DESC inside a result set");
			return -1;
		}
		if ((derr = proto_decode_row_desc(f, PROTO_VERSION_MAX, &rd)) != PROTO_DERR_OK)
			goto bad;
		if ((p->cur = dbmc_result_new()) == NULL ||
		    dbmc_result_set_columns(p->cur, f, &rd) == -1)
			goto nomem;
		if (p->row_chunk > 0) {
			free((void *)p->desc.payload);
			p->desc.payload = NULL;		/* pending_free frees it again */
			if (frame_copy(&p->desc, f) == -1)
				goto nomem;
		}
		return 0;
	case PROTO_MSG_DATA_ROW:
		if (p->cur == NULL || dbm_ncols(p->cur) == 0) {
			conn_fail(c, DBM_E_PROTOCOL, "dbmd sent DATA_ROW without ROW_DESC");
			return -1;
		}
		if ((derr = proto_decode_data_row(f, &dr)) != PROTO_DERR_OK)
			goto bad;
		if (dr.ncols != (uint16_t)dbm_ncols(p->cur)) {
			conn_fail(c, DBM_E_PROTOCOL, "dbmd sent a DATA_ROW of %u columns "
			    "in a result of %d", (unsigned)dr.ncols, dbm_ncols(p->cur));
			return -1;
		}
		/* A disposed handle's rows go as they come, however many there are. */
		if (p->taker == TAKER_NONE)
			return 0;
		if (dbmc_result_add_row(p->cur, f, &dr) == -1)
			goto nomem;
		if (p->row_chunk > 0 && (unsigned long)dbm_nrows(p->cur) >= p->row_chunk) {
			dbmc_result_set_partial(p->cur);
			pending_push(p, p->cur);
			if ((p->cur = piece_new(p)) == NULL)
				goto nomem;
		}
		return 0;
	case PROTO_MSG_COMPLETE:
		if ((derr = proto_decode_complete(f, &cm)) != PROTO_DERR_OK)
			goto bad;
		if (p->cur == NULL && (p->cur = dbmc_result_new()) == NULL)
			goto nomem;
		if (dbmc_result_complete(p->cur, &cm) == -1)
			goto nomem;
		if (p->row_chunk > 0)
			pending_push(p, p->cur);
		else {
			*p->sets_tail = p->cur;
			p->sets_tail = dbmc_result_nextp(p->cur);
		}
		p->cur = NULL;
		if (cm.more)
			return 0;
		if (p->sets != NULL)
			pending_push(p, p->sets);
		p->sets = NULL;
		return 1;
	case PROTO_MSG_ERROR:
		if ((derr = proto_decode_error(f, &e)) != PROTO_DERR_OK)
			goto bad;
		dbm_result_free(p->sets);
		dbm_result_free(p->cur);
		p->sets = p->cur = NULL;
		if ((res = dbmc_result_error(&e)) == NULL)
			goto nomem;
		pending_push(p, res);
		return 1;
	case PROTO_MSG_OK:
		if (!p->ok_alone || p->sets != NULL || p->cur != NULL)
			break;
		if ((derr = proto_decode_empty(f)) != PROTO_DERR_OK)
			goto bad;
		if ((res = dbmc_result_new()) == NULL)
			goto nomem;
		pending_push(p, res);
		return 1;
	default:
		break;
	}
	conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s in a reply of result sets",
	    proto_msg_name(f->hdr.type));
	return -1;
 bad:
	conn_bad_frame(c, f, derr);
	return -1;
 nomem:
	/* The rest of the reply is still coming; dropping the connection is the way out. */
	conn_fail(c, DBM_E_NOMEM, "out of memory storing a result");
	return -1;
}

/*
 * The one frame of a request answered by a frame of type want (kept for the
 * caller, with an empty DBM_OK result for dbm_get_result) or by ERROR (an
 * error result).  Returns 1, or -1 when the connection failed.
 */
static int
dispatch_single(dbm_conn *c, struct pending *p, const struct proto_frame *f)
{
	struct proto_error	 e;
	enum proto_derr		 derr;
	dbm_result		*res;

	if (f->hdr.type == p->want) {
		if (frame_copy(&p->frame, f) == -1 || (res = dbmc_result_new()) == NULL)
			goto nomem;
		pending_push(p, res);
		return 1;
	}
	if (f->hdr.type != PROTO_MSG_ERROR) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s where %s or ERROR belongs",
		    proto_msg_name(f->hdr.type), proto_msg_name(p->want));
		return -1;
	}
	if ((derr = proto_decode_error(f, &e)) != PROTO_DERR_OK) {
		conn_bad_frame(c, f, derr);
		return -1;
	}
	if ((res = dbmc_result_error(&e)) == NULL)
		goto nomem;
	pending_push(p, res);
	return 1;
 nomem:
	conn_fail(c, DBM_E_NOMEM, "out of memory storing a reply");
	return -1;
}

/* The answer to a DISPOSE: the first refusal is kept for dbm_disposed. */
static int
dispatch_ack(dbm_conn *c, const struct proto_frame *f)
{
	struct proto_error	 e;
	enum proto_derr		 derr;

	if (f->hdr.type == PROTO_MSG_OK)
		return 1;
	if (f->hdr.type != PROTO_MSG_ERROR) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s to DISPOSE",
		    proto_msg_name(f->hdr.type));
		return -1;
	}
	if ((derr = proto_decode_error(f, &e)) != PROTO_DERR_OK) {
		conn_bad_frame(c, f, derr);
		return -1;
	}
	if (c->ack_err == DBM_OK) {
		c->ack_err = e.code;
		snprintf(c->ack_errmsg, sizeof(c->ack_errmsg), "DISPOSE: %s", e.message);
	}
	return 1;
}

/*
 * Gives one frame to the request whose id it carries.  GOODBYE, a frame a
 * server may not send, or one for no request in flight ends the connection.
 */
static void
conn_dispatch(dbm_conn *c, const struct proto_frame *f)
{
	struct proto_goodbye	 g;
	struct pending		*p;
	enum proto_derr		 derr;
	int			 r;

	if (!proto_msg_is_reply(f->hdr.type)) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s, a client's message",
		    proto_msg_name(f->hdr.type));
		return;
	}
	if (f->hdr.type == PROTO_MSG_GOODBYE) {
		if ((derr = proto_decode_goodbye(f, &g)) != PROTO_DERR_OK)
			conn_bad_frame(c, f, derr);
		else
			conn_fail(c, g.code, "dbmd closed the connection: %s", g.reason);
		return;
	}
	TAILQ_FOREACH(p, &c->pending, entry)
		if (p->reqid == f->hdr.request_id && !p->done)
			break;
	if (p == NULL) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s for request %lu, which is not in "
		    "flight", proto_msg_name(f->hdr.type), (unsigned long)f->hdr.request_id);
		return;
	}
	switch (p->kind) {
	case PEND_RESULTS:
		r = dispatch_results(c, p, f);
		break;
	case PEND_SINGLE:
		r = dispatch_single(c, p, f);
		break;
	default:
		r = dispatch_ack(c, f);
		break;
	}
	if (r == 1)
		pending_done(c, p);
}

/*
 * Hands the next whole frame the decoder holds to its request.  Returns 1
 * when there was one, 0 when more bytes are needed, -1 when the connection
 * failed.
 */
static int
conn_dispatch_next(dbm_conn *c)
{
	struct proto_frame	 f;
	int			 r;

	if (c->failed)
		return -1;
	if ((r = proto_decoder_next(&c->in, &f)) == 0)
		return 0;
	if (r == -1) {
		conn_fail(c, c->in.err == PROTO_DERR_NOMEM ? DBM_E_NOMEM : DBM_E_PROTOCOL,
		    "bad frame from dbmd: %s", c->in.errstr);
		return -1;
	}
	conn_dispatch(c, &f);
	return c->failed ? -1 : 1;
}

/*
 * Hands the next frame to its request, reading (up to deadline) when none is
 * whole yet.  Returns 0, or -1 when the connection failed.
 */
static int
conn_pump(dbm_conn *c, int64_t deadline)
{
	int	 r;

	if ((r = conn_dispatch_next(c)) == 0)
		r = conn_fill(c, true, deadline);
	return r == -1 ? -1 : 0;
}

/* Whether p has something for its taker, or nothing more will come. */
static bool
pending_takeable(const struct pending *p)
{
	return p->done || p->ready != NULL;
}

/*
 * Reads and dispatches until p is done (piece false) or has a result to
 * take (piece true).  A failure ends p too, with the connection's error as
 * its result; the caller tells by c->failed.
 */
static void
conn_wait(dbm_conn *c, struct pending *p, bool piece, int64_t deadline)
{
	while (!(piece ? pending_takeable(p) : p->done))
		if (conn_pump(c, deadline) == -1)
			break;		/* the failure ended p, as every request */
}

/* Reads and dispatches until fewer than max_queued requests are in flight. */
static int
conn_wait_room(dbm_conn *c, int64_t deadline)
{
	while (!c->failed && c->inflight >= c->max_queued)
		if (conn_pump(c, deadline) == -1)
			return -1;
	return c->failed ? -1 : 0;
}

/*
 * An error result for a request refused before it was sent; the connection
 * is fine, so this is not a NULL return.  Only running out of memory for the
 * result itself ends the connection, to keep NULL meaning just that.
 */
static dbm_result *
conn_local_error(dbm_conn *c, int code, const char *fmt, ...)
{
	dbm_result	*res;
	char		 msg[256];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_set_error(c, code, "%s", msg);
	if ((res = dbmc_result_local_error(code, "%s", msg)) == NULL)
		conn_fail(c, DBM_E_NOMEM, "out of memory");
	return res;
}

/*
 * Puts an encoded request on the list and sends it: all of it, waiting up to
 * deadline, or (wait false) what the socket takes now, the rest left for
 * dbm_flush.  An encoder's refusal is the caller's fault or a size limit,
 * not the connection's: the request is dropped and the conn's error says
 * why.  Returns DBM_OK, or the code with the conn's error set.
 */
static int
conn_send(dbm_conn *c, struct pending *p, enum proto_err enc, const char *what, bool wait,
    int64_t deadline)
{
	switch (enc) {
	case PROTO_E_OK:
		break;
	case PROTO_E_NOMEM:
		pending_free(p);
		conn_fail(c, DBM_E_NOMEM, "out of memory encoding %s", what);
		return c->err;
	case PROTO_E_LIMIT:
		pending_free(p);
		conn_set_error(c, DBM_E_LIMIT, "%s is larger than dbmd's frame limit of %lu "
		    "bytes", what, (unsigned long)c->out.max_payload);
		return c->err;
	default:
		pending_free(p);
		conn_set_error(c, DBM_E_INTERNAL, "%s: invalid arguments", what);
		return c->err;
	}
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	c->inflight++;
	if (p->kind == PEND_ACK)
		c->nacks++;
	if (p->taker == TAKER_HANDLE)
		p->handle->npending++;
	if (conn_flush(c, wait, deadline) == -1)
		return c->err;
	return DBM_OK;
}

/*
 * Takes the outcome of a blocking call's request: the result (or chain), or
 * NULL when the connection failed, whose reason is then the conn's error.
 */
static dbm_result *
conn_take(dbm_conn *c, struct pending *p)
{
	dbm_result	*res = NULL;

	if (!p->lost) {
		res = p->ready;
		p->ready = NULL;
	}
	pending_remove(c, p);
	return res;
}

/*
 * Sends a request whose reply is result sets and waits for all of it.  NULL
 * when the connection failed; a refusal before sending is an error result.
 */
static dbm_result *
conn_results_request(dbm_conn *c, struct pending *p, enum proto_err enc, const char *what,
    int64_t deadline)
{
	int	 r;

	if (p == NULL)
		return conn_local_error(c, DBM_E_NOMEM, "out of memory");
	if ((r = conn_send(c, p, enc, what, true, deadline)) != DBM_OK) {
		if (c->failed)
			return NULL;
		return conn_local_error(c, r, "%s", c->errmsg);
	}
	conn_wait(c, p, false, deadline);
	return conn_take(c, p);
}

/*
 * The same for a request answered by one frame of type want, for the calls
 * that return a code.  Returns DBM_OK with the frame in *f (valid until
 * pending_free(*kept)), else the code, whose message is in the conn.
 */
static int
conn_single_request(dbm_conn *c, struct pending *p, enum proto_err enc, const char *what,
    int64_t deadline, struct pending **kept)
{
	dbm_result	*res;
	int		 r;

	*kept = NULL;
	if (p == NULL)
		return c->err;
	if ((r = conn_send(c, p, enc, what, true, deadline)) != DBM_OK)
		return r;
	conn_wait(c, p, false, deadline);
	if (p->lost) {
		pending_remove(c, p);
		return c->err;
	}
	res = p->ready;
	if ((r = dbm_result_status(res)) != DBM_OK) {
		conn_set_error_full(c, r, dbm_result_sqlstate(res), dbm_result_detail(res),
		    dbm_result_hint(res), "%s", dbm_result_errmsg(res));
		pending_remove(c, p);
		return r;
	}
	/* Off the list, so the caller owns it; it is no longer in flight. */
	TAILQ_REMOVE(&c->pending, p, entry);
	*kept = p;
	return DBM_OK;
}

/*
 * Makes a blocking call's request once there is room for it among the
 * requests in flight; NULL (the conn's error says why) when there is none.
 */
static struct pending *
conn_request(dbm_conn *c, enum pend_kind kind, uint16_t want, int64_t deadline)
{
	struct pending	*p;

	if (conn_wait_room(c, deadline) == -1)
		return NULL;
	if ((p = pending_new(c, kind, TAKER_CALL, NULL)) != NULL)
		p->want = want;
	return p;
}

/* Connecting. */

/*
 * The socket path when none is given; the daemon applies the same rules to
 * decide where it listens (daemon/config.c, add_path_defaults).  A user with
 * no dbmd of its own uses the system's, /run/dbmd/dbmd.sock, which is where
 * the systemd units put it.
 */
static void
socket_default(char *buf, size_t size)
{
	const char	*s, *rt;
	uid_t		 uid = getuid();
	struct stat	 st;

	if ((s = getenv("DBMD_SOCKET")) != NULL && s[0] != '\0') {
		snprintf(buf, size, "%s", s);
		return;
	}
	if (uid == 0) {
		snprintf(buf, size, "/run/dbmd/dbmd.sock");
		return;
	}
	if ((rt = getenv("XDG_RUNTIME_DIR")) != NULL && rt[0] == '/')
		snprintf(buf, size, "%s/dbmd.sock", rt);
	else
		snprintf(buf, size, "/tmp/dbmd-%lu/dbmd.sock", (unsigned long)uid);
	if (stat(buf, &st) == -1 && stat("/run/dbmd/dbmd.sock", &st) == 0)
		snprintf(buf, size, "/run/dbmd/dbmd.sock");
}

/*
 * Reads $DBMD_TIMEOUT: seconds ("2", "0.5"), or a number with a unit ("500ms",
 * "2s", "1min").  Returns 0 with *ms set (0 when unset), -1 when it is not a
 * duration.
 */
static int
env_timeout(unsigned long *ms)
{
	const char	*s = getenv("DBMD_TIMEOUT");
	char		*end;
	double		 v;

	*ms = 0;
	if (s == NULL || s[0] == '\0')
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !(v >= 0))
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "min") == 0)
		v *= 60000;
	else if (strcmp(end, "ms") != 0)
		return -1;
	if (v > (double)INT32_MAX)
		v = INT32_MAX;
	*ms = v > 0 && v < 1 ? 1 : (unsigned long)v;
	return 0;
}

/*
 * Connects the socket, giving up at deadline.  A Unix socket's connect(2)
 * waits only while the listener's backlog is full, and then for as long as
 * SO_SNDTIMEO says; connect(2) interrupted by a signal goes on in the
 * background, so it is finished with poll and SO_ERROR instead of retried.
 */
static int
socket_connect(int fd, const struct sockaddr_un *sun, int64_t deadline)
{
	struct timeval	 tv = { 0, 0 };
	int64_t		 left = deadline - now_ms();
	socklen_t	 len;
	int		 err, r;

	if (left <= 0)
		left = 1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (r == -1 && (errno == EINTR || errno == EINPROGRESS)) {
		if ((r = wait_fd(fd, POLLOUT, deadline)) != 1) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			return -1;
		if (err != 0) {
			errno = err;
			return -1;
		}
		r = 0;
	}
	if (r == -1 && errno == EAGAIN)
		errno = ETIMEDOUT;	/* the backlog stayed full */
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	if (r == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return r;
}

/*
 * Says hello and takes in the server's limits.  This library speaks version
 * 2 only, so a dbmd that does not refuses with a clear VERSION error.  On
 * failure the conn is closed.
 */
static void
conn_handshake(dbm_conn *c, int64_t deadline)
{
	struct proto_hello	 h;
	struct proto_hello_ok	 ok;
	struct pending		*p;
	enum proto_derr		 derr;
	const char		*name = program_invocation_short_name;

	memset(&h, 0, sizeof(h));
	h.min_version = PROTO_VERSION_MAX;
	h.max_version = PROTO_VERSION_MAX;
	h.client_name = name != NULL && name[0] != '\0' ? name : "libdbmclient";
	h.pid = (uint32_t)c->pid;
	h.max_frame = CLIENT_MAX_FRAME;
	if ((p = conn_request(c, PEND_SINGLE, PROTO_MSG_HELLO_OK, deadline)) == NULL ||
	    conn_single_request(c, p, proto_encode_hello(&c->out, p->reqid, &h), "HELLO",
	    deadline, &p) != DBM_OK) {
		/* dbmd closes after refusing a HELLO; keep its reason, drop the socket. */
		if (!c->failed)
			conn_close(c);
		return;
	}
	derr = proto_decode_hello_ok(&p->frame, &ok);
	if (derr != PROTO_DERR_OK)
		conn_bad_frame(c, &p->frame, derr);
	else if (ok.version != PROTO_VERSION_MAX)
		conn_fail(c, DBM_E_PROTOCOL, "dbmd chose protocol version %u, not offered",
		    (unsigned)ok.version);
	else if ((c->server_version = strdup(ok.server_version)) == NULL)
		conn_fail(c, DBM_E_NOMEM, "out of memory");
	else {
		c->max_queued = ok.max_queued;
		c->out.max_payload = ok.max_frame;
		c->in.max_payload = CLIENT_MAX_FRAME;
	}
	pending_free(p);
}

dbm_conn *
dbm_connect(const char *socket_path)
{
	struct dbm_connect_opts	 o = DBM_CONNECT_OPTS_INIT;

	o.socket_path = socket_path;
	return dbm_connect_opts(&o);
}

/*
 * Connects to dbmd and says hello, within the connect timeout.  The conn
 * comes back even when that fails, carrying the reason, so the caller has
 * one place to look.
 */
dbm_conn *
dbm_connect_opts(const struct dbm_connect_opts *opts)
{
	struct dbm_connect_opts	 o;
	struct sockaddr_un	 sun;
	dbm_conn		*c;
	char			 path[PATH_MAX];
	unsigned long		 envms;
	int64_t			 deadline;
	bool			 perm;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->pid = getpid();
	c->max_queued = 1;		/* the HELLO, until dbmd says more */
	TAILQ_INIT(&c->pending);
	proto_buf_init(&c->out);
	c->out.max_payload = PROTO_HANDSHAKE_MAX_FRAME;
	proto_decoder_init(&c->in, PROTO_HANDSHAKE_MAX_FRAME);

	memset(&o, 0, sizeof(o));
	if (opts != NULL && opts_copy(&o, sizeof(o), opts, sizeof(o)) == -1) {
		conn_fail(c, DBM_E_INTERNAL, "dbm_connect_opts: opts->size is %zu, not "
		    "sizeof(struct dbm_connect_opts) (%zu)", opts->size, sizeof(o));
		return c;
	}
	if (env_timeout(&envms) == -1) {
		conn_fail(c, DBM_E_CONFIG, "DBMD_TIMEOUT is not a duration (seconds, or a "
		    "number with ms, s or min)");
		return c;
	}
	c->timeout_ms = o.timeout_ms != 0 ? o.timeout_ms : envms;
	if (o.connect_timeout_ms == 0)
		o.connect_timeout_ms = envms != 0 ? envms : CONNECT_TIMEOUT_MS;
	deadline = now_ms() + (int64_t)(o.connect_timeout_ms > INT32_MAX ?
	    INT32_MAX : o.connect_timeout_ms);

	if (o.socket_path != NULL && o.socket_path[0] != '\0')
		snprintf(path, sizeof(path), "%s", o.socket_path);
	else
		socket_default(path, sizeof(path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		conn_fail(c, DBM_E_CONNECTION, "socket path %.64s... is too long (the limit "
		    "is %zu bytes)", path, sizeof(sun.sun_path) - 1);
		return c;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		conn_fail(c, DBM_E_CONNECTION, "socket: %s", strerror(errno));
		return c;
	}
	if (socket_connect(c->fd, &sun, deadline) == -1) {
		perm = errno == EACCES || errno == EPERM;
		if (errno == ETIMEDOUT)
			conn_set_error(c, DBM_E_TIMEOUT, "cannot connect to dbmd at %s: no "
			    "answer within %lu ms", path, o.connect_timeout_ms);
		else
			conn_set_error_full(c, perm ? DBM_E_PERMISSION : DBM_E_CONNECTION, "",
			    "", perm ? "the socket's group must include this user; see dbmd(8)" :
			    "is dbmd running? Give the socket path or set DBMD_SOCKET",
			    "cannot connect to dbmd at %s: %s", path, strerror(errno));
		conn_close(c);
		return c;
	}
	conn_handshake(c, deadline);
	if (c->failed && c->err == DBM_E_TIMEOUT)
		conn_set_error(c, DBM_E_TIMEOUT, "dbmd at %s did not answer HELLO within %lu ms",
		    path, o.connect_timeout_ms);
	return c;
}

/*
 * Frees a handle that is no longer on the server or no longer reachable.
 * Its requests still in flight are nobody's now: their replies are read and
 * dropped.
 */
static void
handle_free(dbm_handle *h)
{
	dbm_conn	*c = h->conn;
	struct pending	*p, *tmp;

	for (p = TAILQ_FIRST(&c->pending); p != NULL && h->npending > 0; p = tmp) {
		tmp = TAILQ_NEXT(p, entry);
		if (p->taker != TAKER_HANDLE || p->handle != h)
			continue;
		if (p->done)
			pending_remove(c, p);
		else {
			h->npending--;
			p->taker = TAKER_NONE;
			p->handle = NULL;
		}
	}
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		c->handles = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	free(h->backend);
	free(h);
}

/*
 * Disposes every open handle before disconnecting, best effort: the
 * DISPOSE requests are pipelined, max_queued at a time, and the whole
 * exchange gives up after DISCONNECT_TIMEOUT_MS, so that a hung dbmd cannot
 * hang the application's exit.  dbmd disposes the handles of a closed
 * connection anyway; asking first lets their transactions end in order.
 */
static void
conn_dispose_all(dbm_conn *c)
{
	int64_t		 deadline = now_ms() + DISCONNECT_TIMEOUT_MS;
	dbm_handle	*h;
	struct pending	*p;

	while ((h = c->handles) != NULL && !c->failed) {
		if (conn_wait_room(c, deadline) == -1 ||
		    (p = pending_new(c, PEND_ACK, TAKER_NONE, NULL)) == NULL ||
		    conn_send(c, p, proto_encode_handle(&c->out, PROTO_MSG_DISPOSE, p->reqid,
		    h->id), "DISPOSE", false, deadline) != DBM_OK)
			return;
		handle_free(h);
	}
	if (!c->failed && conn_flush(c, true, deadline) == 0)
		while (c->inflight > 0 && conn_pump(c, deadline) == 0)
			;
}

/*
 * Disposes the open handles, closes the socket and frees everything.  In a
 * forked child the connection belongs to the parent: the child only closes
 * its copy of the descriptor and sends nothing.
 */
void
dbm_disconnect(dbm_conn *c)
{
	struct pending	*p;

	if (c == NULL)
		return;
	if (!c->failed && c->handles != NULL && c->pid == getpid())
		conn_dispose_all(c);
	while (c->handles != NULL)
		handle_free(c->handles);
	conn_close(c);
	while ((p = TAILQ_FIRST(&c->pending)) != NULL)
		pending_remove(c, p);
	free(c->server_version);
	free(c);
}

/* A NULL conn is what dbm_connect returns when memory runs out. */
int
dbm_connected(const dbm_conn *c)
{
	return c != NULL && !c->failed;
}

int
dbm_errcode(const dbm_conn *c)
{
	return c != NULL ? c->err : DBM_E_NOMEM;
}

const char *
dbm_errmsg(const dbm_conn *c)
{
	return c != NULL ? c->errmsg : "out of memory";
}

const char *
dbm_errsqlstate(const dbm_conn *c)
{
	return c != NULL ? c->errsqlstate : "";
}

const char *
dbm_errdetail(const dbm_conn *c)
{
	return c != NULL ? c->errdetail : "";
}

const char *
dbm_errhint(const dbm_conn *c)
{
	return c != NULL ? c->errhint : "";
}

const char *
dbm_strerror(int code)
{
	return proto_strerror(code);
}

const char *
dbm_server_version(const dbm_conn *c)
{
	return c != NULL && c->server_version != NULL ? c->server_version : "";
}

/* Handles. */

/*
 * Copies options of a struct versioned by its leading size member.  A size
 * smaller than the first version is a caller's bug; a larger one comes from
 * a newer header than this library knows, and is refused rather than read
 * past what we understand.  Returns 0 or -1.
 */
static int
opts_copy(void *dst, size_t dstsize, const void *src, size_t minsize)
{
	size_t	 size;

	memset(dst, 0, dstsize);
	memcpy(&size, src, sizeof(size));
	if (size < minsize || size > dstsize)
		return -1;
	memcpy(dst, src, size);
	return 0;
}

static const char *
env_or(const char *value, const char *var, const char *dflt)
{
	const char	*s;

	if (value != NULL)
		return value;
	if ((s = getenv(var)) != NULL && s[0] != '\0')
		return s;
	return dflt;
}

/*
 * Opens a handle.  The override arrays the encoder wants are built from the
 * caller's pairs; OPEN is not on the hot path, so one allocation is fine.
 */
dbm_handle *
dbm_open(dbm_conn *c, const char *environment, const char *role,
    const struct dbm_open_opts *opts)
{
	struct dbm_open_opts	 o;
	struct proto_open	 m;
	struct proto_open_ok	 ok;
	struct pending		*p;
	enum proto_derr		 derr;
	enum proto_err		 enc;
	const char		**kv = NULL;
	dbm_handle		*h;
	int64_t			 deadline;
	size_t			 i;

	if (c == NULL || !conn_usable(c))
		return NULL;
	if (opts != NULL && opts_copy(&o, sizeof(o), opts, sizeof(o)) == -1) {
		conn_set_error(c, DBM_E_INTERNAL, "dbm_open: opts->size is %zu, not "
		    "sizeof(struct dbm_open_opts) (%zu)", opts->size, sizeof(o));
		return NULL;
	}
	if (opts == NULL)
		memset(&o, 0, sizeof(o));
	if (o.n_overrides > UINT16_MAX) {
		conn_set_error(c, DBM_E_LIMIT, "dbm_open: %zu overrides; at most %u are allowed",
		    o.n_overrides, (unsigned)UINT16_MAX);
		return NULL;
	}
	if (o.n_overrides > 0 && o.overrides == NULL) {
		conn_set_error(c, DBM_E_INTERNAL, "dbm_open: n_overrides is %zu but "
		    "overrides is NULL", o.n_overrides);
		return NULL;
	}
	for (i = 0; i < o.n_overrides; i++) {
		if (o.overrides[i].key == NULL || o.overrides[i].key[0] == '\0' ||
		    o.overrides[i].value == NULL) {
			conn_set_error(c, DBM_E_INTERNAL, "dbm_open: override %zu lacks its "
			    "key or value", i);
			return NULL;
		}
	}

	memset(&m, 0, sizeof(m));
	m.environment = env_or(environment, "DBM_ENVIRONMENT", DEFAULT_ENVIRONMENT);
	m.role = env_or(role, "DBM_ROLE", DEFAULT_ROLE);
	m.flags = o.pinned ? PROTO_OPEN_PINNED : 0;
	m.n_overrides = (uint16_t)o.n_overrides;
	if (o.n_overrides > 0) {
		if ((kv = calloc(2 * o.n_overrides, sizeof(*kv))) == NULL) {
			conn_set_error(c, DBM_E_NOMEM, "out of memory");
			return NULL;
		}
		for (i = 0; i < o.n_overrides; i++) {
			kv[i] = o.overrides[i].key;
			kv[o.n_overrides + i] = o.overrides[i].value;
		}
		m.keys = kv;
		m.values = kv + o.n_overrides;
	}
	deadline = conn_deadline(c, 0);
	if ((p = conn_request(c, PEND_SINGLE, PROTO_MSG_OPEN_OK, deadline)) == NULL) {
		free(kv);
		return NULL;
	}
	enc = proto_encode_open(&c->out, p->reqid, &m);
	free(kv);
	if (conn_single_request(c, p, enc, "OPEN", deadline, &p) != DBM_OK)
		return NULL;
	derr = proto_decode_open_ok(&p->frame, &ok);
	if (derr != PROTO_DERR_OK) {
		conn_bad_frame(c, &p->frame, derr);
		pending_free(p);
		return NULL;
	}
	/* dbmd holds the handle now; without memory to track it, only closing frees it. */
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->backend = strdup(ok.backend)) == NULL) {
		free(h);
		pending_free(p);
		conn_fail(c, DBM_E_NOMEM, "out of memory");
		return NULL;
	}
	pending_free(p);
	h->conn = c;
	h->id = ok.handle_id;
	h->pool_hash = ok.pool_hash;
	h->next = c->handles;
	if (c->handles != NULL)
		c->handles->prev = h;
	c->handles = h;
	return h;
}

/* Sends BEGIN, COMMIT or ROLLBACK and waits for OK. */
static int
handle_request(dbm_handle *h, uint16_t type)
{
	dbm_conn	*c = h->conn;
	struct pending	*p;
	int64_t		 deadline;
	int		 r;

	if (!conn_usable(c))
		return c->err;
	deadline = conn_deadline(c, 0);
	if ((p = conn_request(c, PEND_SINGLE, PROTO_MSG_OK, deadline)) == NULL)
		return c->err;
	r = conn_single_request(c, p, proto_encode_handle(&c->out, type, p->reqid, h->id),
	    proto_msg_name(type), deadline, &p);
	pending_free(p);
	return r;
}

/*
 * Disposes a handle and frees it.  The DISPOSE is sent at once but its answer
 * is not waited for: dbmd serves a connection's messages in order, so what
 * the caller sends next comes after the release, and the answer is read with
 * the next reply.  dbm_disposed waits for the answers and says whether dbmd
 * accepted them all.  If the connection is gone, so is the handle on the
 * server's side.
 */
int
dbm_dispose(dbm_handle *h)
{
	dbm_conn	*c;
	struct pending	*p;
	int		 r = DBM_OK;

	if (h == NULL)
		return DBM_OK;
	c = h->conn;
	if (!conn_usable(c))
		r = c->err;
	else if ((p = conn_request(c, PEND_ACK, PROTO_MSG_OK, conn_deadline(c, 0))) == NULL)
		r = c->err;
	else {
		p->taker = TAKER_NONE;
		r = conn_send(c, p, proto_encode_handle(&c->out, PROTO_MSG_DISPOSE, p->reqid,
		    h->id), "DISPOSE", true, conn_deadline(c, 0));
	}
	handle_free(h);
	return r;
}

/*
 * Waits for dbmd's answers to every DISPOSE sent so far.  DBM_OK when it
 * accepted them all; else the first refusal's code, its message in the conn.
 */
int
dbm_disposed(dbm_conn *c)
{
	int64_t	 deadline;
	int	 r;

	if (c == NULL)
		return DBM_E_NOMEM;
	if (!conn_usable(c))
		return c->err;
	deadline = conn_deadline(c, 0);
	while (c->nacks > 0 && conn_pump(c, deadline) == 0)
		;
	if (c->failed)
		return c->err;
	if ((r = c->ack_err) != DBM_OK)
		conn_set_error(c, r, "%s", c->ack_errmsg);
	c->ack_err = DBM_OK;
	return r;
}

unsigned long long
dbm_handle_pool_hash(const dbm_handle *h)
{
	return h != NULL ? h->pool_hash : 0;
}

const char *
dbm_handle_backend(const dbm_handle *h)
{
	return h != NULL ? h->backend : "";
}

/* Statements. */

/* The first version of struct dbm_exec_opts ended after cache_max_age_ms. */
#define EXEC_OPTS_V1_SIZE	(sizeof(size_t) + sizeof(unsigned long))

/* A statement's arguments, checked and put into an EXEC. */
struct exec_args {
	struct dbm_exec_opts	 o;
	struct proto_exec	 m;
	uint32_t		*lens;		/* allocated when lengths are given */
	uint16_t		*formats;	/* allocated when formats are given */
};

static void
exec_args_free(struct exec_args *a)
{
	free(a->lens);
	free(a->formats);
}

/*
 * Checks a statement's arguments.  Arguments the server would refuse are
 * refused here, with the reason in the conn, because the connection itself
 * is fine.  Returns DBM_OK or the code.
 */
static int
exec_args(dbm_conn *c, struct exec_args *a, dbm_handle *h, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats,
    const struct dbm_exec_opts *opts)
{
	int	 i;

	memset(a, 0, sizeof(*a));
	if (opts != NULL && opts_copy(&a->o, sizeof(a->o), opts, EXEC_OPTS_V1_SIZE) == -1) {
		conn_set_error(c, DBM_E_INTERNAL, "opts->size is %zu, not sizeof(struct "
		    "dbm_exec_opts) (%zu)", opts->size, sizeof(a->o));
		return c->err;
	}
	if (sql == NULL) {
		conn_set_error(c, DBM_E_INTERNAL, "the SQL is NULL");
		return c->err;
	}
	if (nparams < 0 || (nparams > 0 && values == NULL)) {
		conn_set_error(c, DBM_E_INTERNAL, "nparams is %d and the values %s", nparams,
		    values == NULL ? "NULL" : "not NULL");
		return c->err;
	}
	if (nparams > UINT16_MAX) {
		conn_set_error(c, DBM_E_LIMIT, "%d parameters; at most %u are allowed",
		    nparams, (unsigned)UINT16_MAX);
		return c->err;
	}
	if (nparams > 0 && ((lengths != NULL &&
	    (a->lens = calloc((size_t)nparams, sizeof(*a->lens))) == NULL) ||
	    (formats != NULL &&
	    (a->formats = calloc((size_t)nparams, sizeof(*a->formats))) == NULL))) {
		exec_args_free(a);
		conn_set_error(c, DBM_E_NOMEM, "out of memory");
		return c->err;
	}
	for (i = 0; i < nparams; i++) {
		int	 fmt = formats != NULL ? formats[i] : DBM_FORMAT_TEXT;

		if (fmt != DBM_FORMAT_TEXT && fmt != DBM_FORMAT_BINARY) {
			exec_args_free(a);
			conn_set_error(c, DBM_E_INTERNAL, "parameter %d: format %d is neither "
			    "DBM_FORMAT_TEXT nor DBM_FORMAT_BINARY", i + 1, fmt);
			return c->err;
		}
		if (fmt == DBM_FORMAT_BINARY && values[i] != NULL && lengths == NULL) {
			exec_args_free(a);
			conn_set_error(c, DBM_E_INTERNAL, "parameter %d is binary: its length "
			    "must be given", i + 1);
			return c->err;
		}
		if (lengths != NULL && values[i] != NULL && lengths[i] < 0) {
			exec_args_free(a);
			conn_set_error(c, DBM_E_INTERNAL, "parameter %d: length %d", i + 1,
			    lengths[i]);
			return c->err;
		}
		if (a->formats != NULL)
			a->formats[i] = (uint16_t)fmt;
		/* A text value is a C string, as libpq has it: its length is strlen's. */
		if (a->lens != NULL)
			a->lens[i] = values[i] == NULL ? 0 : fmt == DBM_FORMAT_BINARY ?
			    (uint32_t)lengths[i] : (uint32_t)strlen(values[i]);
	}
	a->m.version = PROTO_VERSION_MAX;
	a->m.handle_id = h->id;
	a->m.cache_max_age_ms = a->o.cache_max_age_ms > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)a->o.cache_max_age_ms;
	a->m.sql = sql;
	a->m.nparams = (uint16_t)nparams;
	a->m.params = values;
	a->m.param_lens = a->lens;
	a->m.formats = a->formats;
	return DBM_OK;
}

dbm_result *
dbm_exec(dbm_handle *h, const char *sql, int nparams, const char *const *params)
{
	return dbm_exec_params(h, sql, nparams, params, NULL, NULL, NULL);
}

dbm_result *
dbm_exec_opts(dbm_handle *h, const char *sql, int nparams, const char *const *params,
    const struct dbm_exec_opts *opts)
{
	return dbm_exec_params(h, sql, nparams, params, NULL, NULL, opts);
}

/* Runs one statement and waits for its whole reply. */
dbm_result *
dbm_exec_params(dbm_handle *h, const char *sql, int nparams, const char *const *values,
    const int *lengths, const int *formats, const struct dbm_exec_opts *opts)
{
	struct exec_args	 a;
	struct pending		*p;
	dbm_conn		*c;
	dbm_result		*res;
	int64_t			 deadline;
	int			 r;

	if (h == NULL)
		return dbmc_result_local_error(DBM_E_NO_HANDLE, "the handle is NULL");
	c = h->conn;
	if (!conn_usable(c))
		return NULL;
	if ((r = exec_args(c, &a, h, sql, nparams, values, lengths, formats, opts)) != DBM_OK)
		return conn_local_error(c, r, "dbm_exec: %s", c->errmsg);
	deadline = conn_deadline(c, a.o.timeout_ms);
	if ((p = conn_request(c, PEND_RESULTS, 0, deadline)) == NULL) {
		exec_args_free(&a);
		return c->failed ? NULL : conn_local_error(c, c->err, "%s", c->errmsg);
	}
	res = conn_results_request(c, p, proto_encode_exec(&c->out, p->reqid, &a.m),
	    "the statement", deadline);
	exec_args_free(&a);
	return res;
}

int
dbm_begin(dbm_handle *h)
{
	return h != NULL ? handle_request(h, PROTO_MSG_BEGIN) : DBM_E_NO_HANDLE;
}

int
dbm_commit(dbm_handle *h)
{
	return h != NULL ? handle_request(h, PROTO_MSG_COMMIT) : DBM_E_NO_HANDLE;
}

int
dbm_rollback(dbm_handle *h)
{
	return h != NULL ? handle_request(h, PROTO_MSG_ROLLBACK) : DBM_E_NO_HANDLE;
}

/* Without waiting. */

int
dbm_socket(const dbm_conn *c)
{
	return c != NULL && !c->failed ? c->fd : -1;
}

/*
 * Queues a request whose results dbm_get_result(h) takes.  Never waits: a
 * conn with max_queued requests in flight refuses with DBM_E_LIMIT.
 */
static struct pending *
send_request(dbm_handle *h, enum pend_kind kind, uint16_t want)
{
	dbm_conn	*c = h->conn;
	struct pending	*p;

	if (c->inflight >= c->max_queued) {
		conn_set_error(c, DBM_E_LIMIT, "%lu requests are in flight, as many as dbmd "
		    "allows: take some results first", (unsigned long)c->inflight);
		return NULL;
	}
	if ((p = pending_new(c, kind, TAKER_HANDLE, h)) != NULL)
		p->want = want;
	return p;
}

int
dbm_send_exec_params(dbm_handle *h, const char *sql, int nparams, const char *const *values,
    const int *lengths, const int *formats, const struct dbm_exec_opts *opts)
{
	struct exec_args	 a;
	struct pending		*p;
	dbm_conn		*c;
	int			 r;

	if (h == NULL)
		return DBM_E_NO_HANDLE;
	c = h->conn;
	if (!conn_usable(c))
		return c->err;
	if ((r = exec_args(c, &a, h, sql, nparams, values, lengths, formats, opts)) != DBM_OK)
		return r;
	if ((p = send_request(h, PEND_RESULTS, 0)) == NULL) {
		exec_args_free(&a);
		return c->err;
	}
	p->row_chunk = a.o.row_chunk;
	p->timeout_ms = a.o.timeout_ms;
	r = conn_send(c, p, proto_encode_exec(&c->out, p->reqid, &a.m), "the statement",
	    false, NO_DEADLINE);
	exec_args_free(&a);
	return r;
}

static int
send_txn(dbm_handle *h, uint16_t type)
{
	struct pending	*p;
	dbm_conn	*c;

	if (h == NULL)
		return DBM_E_NO_HANDLE;
	c = h->conn;
	if (!conn_usable(c))
		return c->err;
	if ((p = send_request(h, PEND_SINGLE, PROTO_MSG_OK)) == NULL)
		return c->err;
	return conn_send(c, p, proto_encode_handle(&c->out, type, p->reqid, h->id),
	    proto_msg_name(type), false, NO_DEADLINE);
}

int
dbm_send_begin(dbm_handle *h)
{
	return send_txn(h, PROTO_MSG_BEGIN);
}

int
dbm_send_commit(dbm_handle *h)
{
	return send_txn(h, PROTO_MSG_COMMIT);
}

int
dbm_send_rollback(dbm_handle *h)
{
	return send_txn(h, PROTO_MSG_ROLLBACK);
}

int
dbm_flush(dbm_conn *c)
{
	if (c == NULL || c->failed)
		return -1;
	return conn_flush(c, false, NO_DEADLINE);
}

/*
 * Reads what has arrived, up to CONSUME_MAX bytes, and hands every whole
 * frame to its request.  Never waits.
 */
int
dbm_consume_input(dbm_conn *c)
{
	size_t	 got = 0;
	int	 r;

	if (c == NULL)
		return DBM_E_NOMEM;
	if (c->failed)
		return c->err;
	do {
		while ((r = conn_dispatch_next(c)) == 1)
			;
		if (r == -1)
			return c->err;
		if ((r = conn_fill(c, false, NO_DEADLINE)) == 1)
			got += READ_CHUNK;
	} while (r == 1 && got < CONSUME_MAX);
	while ((r = conn_dispatch_next(c)) == 1)
		;
	return c->failed ? c->err : DBM_OK;
}

/*
 * Whether dbm_get_result would wait.  Frames already read are handed out
 * first, so a program that polls the socket never waits on bytes it holds.
 */
int
dbm_is_busy(const dbm_handle *h)
{
	struct pending	*p;

	if (h == NULL)
		return 0;
	while (conn_dispatch_next(h->conn) == 1)
		if ((p = pending_of(h)) != NULL && pending_takeable(p))
			return 0;
	p = pending_of(h);
	return p != NULL && !pending_takeable(p);
}

int
dbm_pending(const dbm_handle *h)
{
	return h != NULL ? h->npending : 0;
}

/*
 * The next result of h's oldest request, waiting (up to the request's
 * timeout, else the conn's) if none is there; NULL once that request has no
 * more.
 */
dbm_result *
dbm_get_result(dbm_handle *h)
{
	struct pending	*p;
	dbm_conn	*c;
	dbm_result	*res;

	if (h == NULL || (p = pending_of(h)) == NULL)
		return NULL;
	c = h->conn;
	if (!pending_takeable(p))
		conn_wait(c, p, true, conn_deadline(c, p->timeout_ms));
	if ((res = p->ready) != NULL) {
		/* A whole reply is one chain of result sets; pieces are queued singly. */
		if (p->kind == PEND_RESULTS && p->row_chunk == 0 && !p->lost)
			p->ready = NULL;
		else {
			p->ready = *dbmc_result_nextp(res);
			*dbmc_result_nextp(res) = NULL;
		}
		if (p->ready == NULL)
			p->ready_tail = &p->ready;
		return res;
	}
	pending_remove(c, p);
	return NULL;
}

/* Operator requests. */

int
dbm_ping(dbm_conn *c)
{
	struct pending	*p;
	int64_t		 deadline;
	int		 r;

	if (c == NULL)
		return DBM_E_NOMEM;
	if (!conn_usable(c))
		return c->err;
	deadline = conn_deadline(c, 0);
	if ((p = conn_request(c, PEND_SINGLE, PROTO_MSG_PONG, deadline)) == NULL)
		return c->err;
	r = conn_single_request(c, p, proto_encode_empty(&c->out, PROTO_MSG_PING, p->reqid),
	    "PING", deadline, &p);
	pending_free(p);
	return r;
}

/* Makes a request of result sets once there is room; NULL: see conn_local_error. */
static struct pending *
results_request(dbm_conn *c, bool ok_alone, int64_t deadline)
{
	struct pending	*p;

	if ((p = conn_request(c, PEND_RESULTS, 0, deadline)) != NULL)
		p->ok_alone = ok_alone;
	return p;
}

/* STATUS, CLIENTS and RELOAD: no arguments, a reply of result sets. */
static dbm_result *
conn_empty_request(dbm_conn *c, uint16_t type, bool ok_alone)
{
	struct pending	*p;
	int64_t		 deadline;

	if (c == NULL || !conn_usable(c))
		return NULL;
	deadline = conn_deadline(c, 0);
	if ((p = results_request(c, ok_alone, deadline)) == NULL)
		return c->failed ? NULL : conn_local_error(c, c->err, "%s", c->errmsg);
	return conn_results_request(c, p, proto_encode_empty(&c->out, type, p->reqid),
	    proto_msg_name(type), deadline);
}

dbm_result *
dbm_status(dbm_conn *c)
{
	return conn_empty_request(c, PROTO_MSG_STATUS, false);
}

dbm_result *
dbm_clients(dbm_conn *c)
{
	return conn_empty_request(c, PROTO_MSG_CLIENTS, false);
}

/* RELOAD answers OK, or one ERROR whose detail lists every problem (PROTOCOL.md §6.6). */
dbm_result *
dbm_reload(dbm_conn *c)
{
	return conn_empty_request(c, PROTO_MSG_RELOAD, true);
}

dbm_result *
dbm_resolve(dbm_conn *c, const char *environment, const char *role)
{
	struct proto_resolve	 m;
	struct pending		*p;
	int64_t			 deadline;

	if (c == NULL || !conn_usable(c))
		return NULL;
	m.environment = env_or(environment, "DBM_ENVIRONMENT", DEFAULT_ENVIRONMENT);
	m.role = env_or(role, "DBM_ROLE", DEFAULT_ROLE);
	deadline = conn_deadline(c, 0);
	if ((p = results_request(c, false, deadline)) == NULL)
		return c->failed ? NULL : conn_local_error(c, c->err, "%s", c->errmsg);
	return conn_results_request(c, p, proto_encode_resolve(&c->out, p->reqid, &m),
	    "RESOLVE", deadline);
}

/* DISPOSE_POOL and CACHE_FLUSH: a target, a reply of result sets. */
static dbm_result *
conn_target_request(dbm_conn *c, uint16_t type, const char *target)
{
	struct proto_dispose_pool	 m;
	struct pending			*p;
	int64_t				 deadline;
	enum proto_err			 enc;

	if (c == NULL || !conn_usable(c))
		return NULL;
	if (target == NULL || target[0] == '\0')
		return conn_local_error(c, DBM_E_INTERNAL, "%s: no target", proto_msg_name(type));
	m.target = target;
	deadline = conn_deadline(c, 0);
	if ((p = results_request(c, false, deadline)) == NULL)
		return c->failed ? NULL : conn_local_error(c, c->err, "%s", c->errmsg);
	enc = type == PROTO_MSG_DISPOSE_POOL ?
	    proto_encode_dispose_pool(&c->out, p->reqid, &m) :
	    proto_encode_cache_flush(&c->out, p->reqid, &m);
	return conn_results_request(c, p, enc, proto_msg_name(type), deadline);
}

dbm_result *
dbm_dispose_pool(dbm_conn *c, const char *target)
{
	return conn_target_request(c, PROTO_MSG_DISPOSE_POOL, target);
}

dbm_result *
dbm_cache_flush(dbm_conn *c, const char *target)
{
	return conn_target_request(c, PROTO_MSG_CACHE_FLUSH, target);
}
