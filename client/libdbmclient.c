/* libdbmclient.c: the connection to dbmd, its requests and replies, and handles. */

/*
 * The blocking API sends one request and reads its whole reply before it
 * returns, so at most one request is in flight and every reply frame must
 * carry that request's id.  Requests are encoded with the proto/ codec into
 * one buffer and written with one send loop; replies are read in large
 * chunks straight into the proto/ stream decoder.
 *
 * Failures come in two kinds.  A request dbmd refuses (bad SQL, unknown
 * environment, no such handle) leaves the connection usable and is reported
 * in a result or in the conn's error fields.  Anything that breaks the byte
 * stream (a closed socket, a malformed frame, GOODBYE, running out of memory
 * half way through a reply) ends the connection: the socket is closed at once
 * and every later call fails with DBM_E_CONNECTION.
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

/* No deadline: wait as long as the request takes, as libpq does. */
#define NO_DEADLINE		(-1)
#define ACKS_MAX		64	/* DISPOSE replies owed before dbm_dispose waits */

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
	struct dbm_handle	*prev;		/* the conn's list of open handles */
	struct dbm_handle	*next;
};

struct dbm_conn {
	int			 fd;		/* -1 once closed */
	bool			 failed;	/* the connection is finished; fd is closed */
	pid_t			 pid;		/* who connected; a forked child must not speak for it */
	uint32_t		 reqid;		/* the last request id used */
	uint32_t		 max_queued;	/* requests dbmd lets us have in flight */
	char			*server_version;
	struct proto_buf	 out;		/* the request being sent */
	struct proto_decoder	 in;		/* bytes read, cut into frames */
	struct dbm_handle	*handles;	/* open handles, disposed at disconnect */
	/*
	 * Requests sent without waiting for their reply (DISPOSE): their replies,
	 * to acks_pending requests from id acks_first on, come before any other.
	 */
	uint32_t		 acks_first;
	uint32_t		 acks_pending;

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

/* Takes over an ERROR frame. */
static void
conn_set_remote_error(dbm_conn *c, const struct proto_error *e)
{
	conn_set_error_full(c, e->code, e->sqlstate, e->detail, e->hint, "%s", e->message);
}

/*
 * Ends the connection.  Closing rather than shutdown(2) matters after fork:
 * the other process's copy of the socket stays intact.
 */
static void
conn_close(dbm_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->failed = true;
	proto_buf_free(&c->out);
	proto_decoder_free(&c->in);
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

/* I/O.  deadline is a CLOCK_MONOTONIC time in ms, or NO_DEADLINE. */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
 * Sends everything in c->out.  MSG_NOSIGNAL because a library must not
 * raise SIGPIPE in its caller; with a deadline the socket is never waited on
 * inside send(2), only in poll(2).
 */
static int
conn_flush(dbm_conn *c, int64_t deadline)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 flags = MSG_NOSIGNAL | (deadline != NO_DEADLINE ? MSG_DONTWAIT : 0);

	while (off < c->out.len) {
		if (deadline != NO_DEADLINE && wait_fd(c->fd, POLLOUT, deadline) != 1) {
			conn_fail(c, DBM_E_TIMEOUT, "dbmd does not read its socket");
			return -1;
		}
		n = send(c->fd, c->out.data + off, c->out.len - off, flags);
		if (n < 0) {
			if (errno == EINTR || (errno == EAGAIN && deadline != NO_DEADLINE))
				continue;
			conn_fail_send(c, errno);
			return -1;
		}
		off += (size_t)n;
	}
	proto_buf_reset(&c->out);
	return 0;
}

/* Reads what the socket has, up to a large chunk, straight into the decoder. */
static int
conn_fill(dbm_conn *c, int64_t deadline)
{
	size_t	 avail;
	uint8_t	*p;
	ssize_t	 n;

	if ((p = proto_decoder_space(&c->in, read_want(c), &avail)) == NULL) {
		conn_fail(c, DBM_E_NOMEM, "out of memory reading from dbmd");
		return -1;
	}
	for (;;) {
		if (wait_fd(c->fd, POLLIN, deadline) != 1) {
			conn_fail(c, DBM_E_TIMEOUT, "dbmd did not answer in time");
			return -1;
		}
		n = recv(c->fd, p, avail, MSG_DONTWAIT);
		if (n > 0)
			break;
		if (n == 0) {
			conn_fail(c, DBM_E_CONNECTION, "dbmd closed the connection");
			return -1;
		}
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno == ECONNRESET)
			conn_fail(c, DBM_E_CONNECTION, "dbmd closed the connection");
		else
			conn_fail(c, DBM_E_CONNECTION, "cannot read from dbmd: %s",
			    strerror(errno));
		return -1;
	}
	proto_decoder_commit(&c->in, (size_t)n);
	return 0;
}

/*
 * Reads the next frame into *f, valid until the next call.  GOODBYE, a frame
 * a server may not send or a bad header end the connection.
 */
static int
conn_read_frame(dbm_conn *c, struct proto_frame *f, int64_t deadline)
{
	struct proto_goodbye	 g;
	enum proto_derr		 derr;
	int			 r;

	while ((r = proto_decoder_next(&c->in, f)) == 0)
		if (conn_fill(c, deadline) == -1)
			return -1;
	if (r == -1) {
		conn_fail(c, c->in.err == PROTO_DERR_NOMEM ? DBM_E_NOMEM : DBM_E_PROTOCOL,
		    "bad frame from dbmd: %s", c->in.errstr);
		return -1;
	}
	if (!proto_msg_is_reply(f->hdr.type)) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s, a client's message",
		    proto_msg_name(f->hdr.type));
		return -1;
	}
	if (f->hdr.type == PROTO_MSG_GOODBYE) {
		if ((derr = proto_decode_goodbye(f, &g)) != PROTO_DERR_OK)
			conn_bad_frame(c, f, derr);
		else
			conn_fail(c, g.code, "dbmd closed the connection: %s", g.reason);
		return -1;
	}
	return 0;
}

/*
 * Takes f if it is the reply to the oldest request sent without waiting: 1
 * when taken, 0 when f is another request's, -1 when the connection failed.
 * Such a reply is one OK, or one ERROR nobody is left to hear.
 */
static int
conn_take_ack(dbm_conn *c, const struct proto_frame *f)
{
	if (c->acks_pending == 0 || f->hdr.request_id != c->acks_first)
		return 0;
	if (f->hdr.type != PROTO_MSG_OK && f->hdr.type != PROTO_MSG_ERROR) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s to DISPOSE",
		    proto_msg_name(f->hdr.type));
		return -1;
	}
	if (++c->acks_first == 0)
		c->acks_first = 1;
	c->acks_pending--;
	return 1;
}

/* Reads the replies still owed to requests sent without waiting. */
static int
conn_drain_acks(dbm_conn *c, int64_t deadline)
{
	struct proto_frame	 f;

	while (c->acks_pending > 0) {
		if (conn_read_frame(c, &f, deadline) == -1)
			return -1;
		if (conn_take_ack(c, &f) != 1) {
			if (!c->failed)
				conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s for request %lu "
				    "before answering request %lu", proto_msg_name(f.hdr.type),
				    (unsigned long)f.hdr.request_id,
				    (unsigned long)c->acks_first);
			return -1;
		}
	}
	return 0;
}

/*
 * Returns the next frame of the reply to request reqid (0: any request) in
 * *f, valid until the next call, past the replies owed to requests sent
 * without waiting.  A frame for another request ends the connection.
 */
static int
conn_next_frame(dbm_conn *c, uint32_t reqid, struct proto_frame *f, int64_t deadline)
{
	int	 r;

	do {
		if (conn_read_frame(c, f, deadline) == -1)
			return -1;
	} while ((r = conn_take_ack(c, f)) == 1);
	if (r == -1)
		return -1;
	if (reqid != 0 && f->hdr.request_id != reqid) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s for request %lu while request %lu "
		    "was in flight", proto_msg_name(f->hdr.type),
		    (unsigned long)f->hdr.request_id, (unsigned long)reqid);
		return -1;
	}
	return 0;
}

/* Replies. */

/*
 * Reads the reply to a request answered by a single frame of type want.
 * Returns 1 with that frame in *f; 0 when dbmd answered ERROR, which is then
 * the conn's error; -1 when the connection failed.
 */
static int
conn_read_single(dbm_conn *c, uint32_t reqid, uint16_t want, struct proto_frame *f)
{
	struct proto_error	 e;
	enum proto_derr		 derr;

	if (conn_next_frame(c, reqid, f, NO_DEADLINE) == -1)
		return -1;
	if (f->hdr.type == want)
		return 1;
	if (f->hdr.type != PROTO_MSG_ERROR) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s where %s or ERROR belongs",
		    proto_msg_name(f->hdr.type), proto_msg_name(want));
		return -1;
	}
	if ((derr = proto_decode_error(f, &e)) != PROTO_DERR_OK) {
		conn_bad_frame(c, f, derr);
		return -1;
	}
	conn_set_remote_error(c, &e);
	return 0;
}

/*
 * Reads a reply made of result sets (PROTOCOL.md §6.3) into a chain of
 * results, or into one error result if the reply ends in ERROR, whatever
 * came before it.  ok_alone: a bare OK is also a complete reply (RELOAD).
 * NULL when the connection failed.
 */
static dbm_result *
conn_read_results(dbm_conn *c, uint32_t reqid, bool ok_alone)
{
	dbm_result		*head = NULL, *tail = NULL, *cur = NULL;
	struct proto_frame	 f;
	struct proto_row_desc	 rd;
	struct proto_data_row	 dr;
	struct proto_complete	 cm;
	struct proto_error	 e;
	enum proto_derr		 derr;
	bool			 in_rows = false;

	for (;;) {
		if (conn_next_frame(c, reqid, &f, NO_DEADLINE) == -1)
			goto fail;
		switch (f.hdr.type) {
		case PROTO_MSG_ROW_DESC:
			if (cur != NULL) {
				conn_fail(c, DBM_E_PROTOCOL, "dbmd sent ROW_DESC inside a result set");
				goto fail;
			}
			if ((derr = proto_decode_row_desc(&f, 1, &rd)) != PROTO_DERR_OK)
				goto bad;
			if ((cur = dbmc_result_new()) == NULL ||
			    dbmc_result_set_columns(cur, &f, &rd) == -1)
				goto nomem;
			in_rows = true;
			break;
		case PROTO_MSG_DATA_ROW:
			if (!in_rows) {
				conn_fail(c, DBM_E_PROTOCOL, "dbmd sent DATA_ROW without ROW_DESC");
				goto fail;
			}
			if ((derr = proto_decode_data_row(&f, &dr)) != PROTO_DERR_OK)
				goto bad;
			if (dr.ncols != (uint16_t)dbm_ncols(cur)) {
				conn_fail(c, DBM_E_PROTOCOL, "dbmd sent a DATA_ROW of %u columns "
				    "in a result of %d", (unsigned)dr.ncols, dbm_ncols(cur));
				goto fail;
			}
			if (dbmc_result_add_row(cur, &f, &dr) == -1)
				goto nomem;
			break;
		case PROTO_MSG_COMPLETE:
			if ((derr = proto_decode_complete(&f, &cm)) != PROTO_DERR_OK)
				goto bad;
			if (cur == NULL && (cur = dbmc_result_new()) == NULL)
				goto nomem;
			if (dbmc_result_complete(cur, &cm) == -1)
				goto nomem;
			if (tail != NULL)
				dbmc_result_link(tail, cur);
			else
				head = cur;
			tail = cur;
			cur = NULL;
			in_rows = false;
			if (!cm.more)
				return head;
			break;
		case PROTO_MSG_ERROR:
			/* The request failed: what came before it is no result (§6.3). */
			if ((derr = proto_decode_error(&f, &e)) != PROTO_DERR_OK)
				goto bad;
			dbm_result_free(head);
			dbm_result_free(cur);
			head = cur = NULL;
			if ((cur = dbmc_result_error(&e)) == NULL)
				goto nomem;
			return cur;
		case PROTO_MSG_OK:
			if (!ok_alone || head != NULL || cur != NULL)
				goto unexpected;
			if ((derr = proto_decode_empty(&f)) != PROTO_DERR_OK)
				goto bad;
			if ((cur = dbmc_result_new()) == NULL)
				goto nomem;
			return cur;
		default:
			goto unexpected;
		}
	}

 unexpected:
	conn_fail(c, DBM_E_PROTOCOL, "dbmd sent %s in a reply of result sets",
	    proto_msg_name(f.hdr.type));
	goto fail;
 bad:
	conn_bad_frame(c, &f, derr);
	goto fail;
 nomem:
	/* The rest of the reply is still coming; dropping the connection is the way out. */
	conn_fail(c, DBM_E_NOMEM, "out of memory storing a result");
 fail:
	dbm_result_free(head);
	dbm_result_free(cur);
	return NULL;
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
	proto_buf_reset(&c->out);
	if ((res = dbmc_result_local_error(code, "%s", msg)) == NULL)
		conn_fail(c, DBM_E_NOMEM, "out of memory");
	return res;
}

/*
 * Finishes a request encoded into c->out: sends it and reads a reply of
 * result sets.  An encoder's refusal is the caller's fault or a size limit,
 * not the connection's, so it comes back as an error result.
 */
static dbm_result *
conn_results_request(dbm_conn *c, enum proto_err enc, uint32_t reqid, const char *what,
    bool ok_alone)
{
	switch (enc) {
	case PROTO_E_OK:
		break;
	case PROTO_E_NOMEM:
		conn_fail(c, DBM_E_NOMEM, "out of memory encoding %s", what);
		return NULL;
	case PROTO_E_LIMIT:
		return conn_local_error(c, DBM_E_LIMIT, "%s is larger than dbmd's frame "
		    "limit of %lu bytes", what, (unsigned long)c->out.max_payload);
	default:
		return conn_local_error(c, DBM_E_INTERNAL, "%s: invalid arguments", what);
	}
	if (conn_flush(c, NO_DEADLINE) == -1)
		return NULL;
	return conn_read_results(c, reqid, ok_alone);
}

/*
 * The same for a request answered by one frame of type want, for the calls
 * that return a code.  Returns DBM_OK with the frame in *f, else the code,
 * whose message is in the conn (ERROR and GOODBYE never carry code 0).
 */
static int
conn_single_request(dbm_conn *c, enum proto_err enc, uint32_t reqid, const char *what,
    uint16_t want, struct proto_frame *f)
{
	int	 r;

	switch (enc) {
	case PROTO_E_OK:
		break;
	case PROTO_E_NOMEM:
		conn_fail(c, DBM_E_NOMEM, "out of memory encoding %s", what);
		return c->err;
	case PROTO_E_LIMIT:
		proto_buf_reset(&c->out);
		conn_set_error(c, DBM_E_LIMIT, "%s is larger than dbmd's frame limit of %lu "
		    "bytes", what, (unsigned long)c->out.max_payload);
		return c->err;
	default:
		proto_buf_reset(&c->out);
		conn_set_error(c, DBM_E_INTERNAL, "%s: invalid arguments", what);
		return c->err;
	}
	if (conn_flush(c, NO_DEADLINE) == -1)
		return c->err;
	if ((r = conn_read_single(c, reqid, want, f)) == 1)
		return DBM_OK;
	return c->err;
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
 * Connects the socket.  connect(2) interrupted by a signal goes on in the
 * background, so it is finished with poll and SO_ERROR instead of retried.
 */
static int
socket_connect(int fd, const struct sockaddr_un *sun)
{
	socklen_t	 len;
	int		 err;

	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		return 0;
	if (errno != EINTR && errno != EINPROGRESS)
		return -1;
	if (wait_fd(fd, POLLOUT, INT64_MAX) == -1)
		return -1;
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Says hello and takes in the server's limits.  On failure the conn is closed. */
static void
conn_handshake(dbm_conn *c)
{
	struct proto_hello	 h;
	struct proto_hello_ok	 ok;
	struct proto_frame	 f;
	enum proto_derr		 derr;
	uint32_t		 reqid = conn_reqid(c);
	const char		*name = program_invocation_short_name;
	int			 r;

	memset(&h, 0, sizeof(h));
	h.min_version = PROTO_VERSION_MIN;
	h.max_version = 1;	/* version 2 needs the typed API of the rewrite */
	h.client_name = name != NULL && name[0] != '\0' ? name : "libdbmclient";
	h.pid = (uint32_t)c->pid;
	h.max_frame = CLIENT_MAX_FRAME;
	r = conn_single_request(c, proto_encode_hello(&c->out, reqid, &h), reqid, "HELLO",
	    PROTO_MSG_HELLO_OK, &f);
	if (r != DBM_OK) {
		/* dbmd closes after refusing a HELLO; keep its reason, drop the socket. */
		if (!c->failed)
			conn_close(c);
		return;
	}
	if ((derr = proto_decode_hello_ok(&f, &ok)) != PROTO_DERR_OK) {
		conn_bad_frame(c, &f, derr);
		return;
	}
	if (ok.version < PROTO_VERSION_MIN || ok.version > PROTO_VERSION_MAX) {
		conn_fail(c, DBM_E_PROTOCOL, "dbmd chose protocol version %u, not offered",
		    (unsigned)ok.version);
		return;
	}
	if ((c->server_version = strdup(ok.server_version)) == NULL) {
		conn_fail(c, DBM_E_NOMEM, "out of memory");
		return;
	}
	c->max_queued = ok.max_queued;
	c->out.max_payload = ok.max_frame;
	c->in.max_payload = CLIENT_MAX_FRAME;
}

/*
 * Connects to dbmd and says hello.  The conn comes back even when that
 * fails, carrying the reason, so the caller has one place to look.
 */
dbm_conn *
dbm_connect(const char *socket_path)
{
	struct sockaddr_un	 sun;
	dbm_conn		*c;
	char			 path[PATH_MAX];
	bool			 perm;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->pid = getpid();
	proto_buf_init(&c->out);
	c->out.max_payload = PROTO_HANDSHAKE_MAX_FRAME;
	proto_decoder_init(&c->in, PROTO_HANDSHAKE_MAX_FRAME);

	if (socket_path != NULL && socket_path[0] != '\0')
		snprintf(path, sizeof(path), "%s", socket_path);
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
	if (socket_connect(c->fd, &sun) == -1) {
		perm = errno == EACCES || errno == EPERM;
		conn_set_error_full(c, perm ? DBM_E_PERMISSION : DBM_E_CONNECTION, "", "",
		    perm ? "the socket's group must include this user; see dbmd(8)" :
		    "is dbmd running? Give the socket path or set DBMD_SOCKET",
		    "cannot connect to dbmd at %s: %s", path, strerror(errno));
		conn_close(c);
		return c;
	}
	conn_handshake(c);
	return c;
}

/* Frees a handle that is no longer on the server or no longer reachable. */
static void
handle_free(dbm_handle *h)
{
	dbm_conn	*c = h->conn;

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
	struct proto_frame	 f;
	dbm_handle		*h = c->handles;
	int64_t			 deadline = now_ms() + DISCONNECT_TIMEOUT_MS;
	uint32_t		 n, batch = c->max_queued > 0 ? c->max_queued : 1;

	while (h != NULL && !c->failed) {
		proto_buf_reset(&c->out);
		for (n = 0; h != NULL && n < batch; h = h->next, n++)
			if (proto_encode_handle(&c->out, PROTO_MSG_DISPOSE, conn_reqid(c),
			    h->id) != PROTO_E_OK)
				return;
		if (conn_flush(c, deadline) == -1)
			return;
		for (; n > 0; n--) {
			if (conn_next_frame(c, 0, &f, deadline) == -1)
				return;
			if (f.hdr.type != PROTO_MSG_OK && f.hdr.type != PROTO_MSG_ERROR)
				return;
		}
	}
}

/*
 * Disposes the open handles, closes the socket and frees everything.  In a
 * forked child the connection belongs to the parent: the child only closes
 * its copy of the descriptor and sends nothing.
 */
void
dbm_disconnect(dbm_conn *c)
{
	if (c == NULL)
		return;
	if (!c->failed && c->handles != NULL && c->pid == getpid())
		conn_dispose_all(c);
	while (c->handles != NULL)
		handle_free(c->handles);
	conn_close(c);
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
	struct proto_frame	 f;
	enum proto_derr		 derr;
	enum proto_err		 enc;
	const char		**kv = NULL;
	dbm_handle		*h;
	uint32_t		 reqid;
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
	reqid = conn_reqid(c);
	enc = proto_encode_open(&c->out, reqid, &m);
	free(kv);
	if (conn_single_request(c, enc, reqid, "OPEN", PROTO_MSG_OPEN_OK, &f) != DBM_OK)
		return NULL;
	if ((derr = proto_decode_open_ok(&f, &ok)) != PROTO_DERR_OK) {
		conn_bad_frame(c, &f, derr);
		return NULL;
	}
	/* dbmd holds the handle now; without memory to track it, only closing frees it. */
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->backend = strdup(ok.backend)) == NULL) {
		free(h);
		conn_fail(c, DBM_E_NOMEM, "out of memory");
		return NULL;
	}
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
	struct proto_frame	 f;
	dbm_conn		*c = h->conn;
	uint32_t		 reqid;

	if (!conn_usable(c))
		return c->err;
	reqid = conn_reqid(c);
	return conn_single_request(c, proto_encode_handle(&c->out, type, reqid, h->id),
	    reqid, proto_msg_name(type), PROTO_MSG_OK, &f);
}

/*
 * Disposes a handle and frees it.  The DISPOSE is sent at once but its reply
 * is not waited for: dbmd serves a connection's messages in order, so what
 * the caller sends next comes after the release, and the reply is read ahead
 * of the next one.  Replies owed pile up to ACKS_MAX, then are read.  If the
 * connection is gone, so is the handle on the server's side.
 */
int
dbm_dispose(dbm_handle *h)
{
	dbm_conn	*c;
	uint32_t	 reqid;
	int		 r = DBM_OK;

	if (h == NULL)
		return DBM_OK;
	c = h->conn;
	if (!conn_usable(c))
		r = c->err;
	else if (c->acks_pending >= ACKS_MAX && conn_drain_acks(c, NO_DEADLINE) == -1)
		r = c->err;
	else {
		reqid = conn_reqid(c);
		if (proto_encode_handle(&c->out, PROTO_MSG_DISPOSE, reqid, h->id) != PROTO_E_OK) {
			conn_fail(c, DBM_E_NOMEM, "out of memory encoding DISPOSE");
			r = c->err;
		} else if (conn_flush(c, NO_DEADLINE) == -1)
			r = c->err;
		else {
			if (c->acks_pending++ == 0)
				c->acks_first = reqid;
		}
	}
	handle_free(h);
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

dbm_result *
dbm_exec(dbm_handle *h, const char *sql, int nparams, const char *const *params)
{
	return dbm_exec_opts(h, sql, nparams, params, NULL);
}

/*
 * Runs one statement.  Arguments the server would refuse are refused here,
 * as error results, because the connection itself is fine.
 */
dbm_result *
dbm_exec_opts(dbm_handle *h, const char *sql, int nparams, const char *const *params,
    const struct dbm_exec_opts *opts)
{
	struct dbm_exec_opts	 o;
	struct proto_exec	 m;
	dbm_conn		*c;
	uint32_t		 reqid;

	if (h == NULL)
		return dbmc_result_local_error(DBM_E_NO_HANDLE, "the handle is NULL");
	c = h->conn;
	if (!conn_usable(c))
		return NULL;
	memset(&o, 0, sizeof(o));
	if (opts != NULL && opts_copy(&o, sizeof(o), opts, sizeof(o)) == -1)
		return conn_local_error(c, DBM_E_INTERNAL, "dbm_exec_opts: opts->size is %zu, "
		    "not sizeof(struct dbm_exec_opts) (%zu)", opts->size, sizeof(o));
	if (sql == NULL)
		return conn_local_error(c, DBM_E_INTERNAL, "dbm_exec: the SQL is NULL");
	if (nparams < 0 || (nparams > 0 && params == NULL))
		return conn_local_error(c, DBM_E_INTERNAL, "dbm_exec: nparams is %d and "
		    "params %s", nparams, params == NULL ? "NULL" : "not NULL");
	if (nparams > UINT16_MAX)
		return conn_local_error(c, DBM_E_LIMIT, "dbm_exec: %d parameters; at most "
		    "%u are allowed", nparams, (unsigned)UINT16_MAX);

	memset(&m, 0, sizeof(m));
	m.handle_id = h->id;
	m.cache_max_age_ms = o.cache_max_age_ms > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)o.cache_max_age_ms;
	m.sql = sql;
	m.nparams = (uint16_t)nparams;
	m.params = params;
	reqid = conn_reqid(c);
	return conn_results_request(c, proto_encode_exec(&c->out, reqid, &m), reqid,
	    "the statement", false);
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

/* Operator requests. */

int
dbm_ping(dbm_conn *c)
{
	struct proto_frame	 f;
	uint32_t		 reqid;

	if (c == NULL)
		return DBM_E_NOMEM;
	if (!conn_usable(c))
		return c->err;
	reqid = conn_reqid(c);
	return conn_single_request(c, proto_encode_empty(&c->out, PROTO_MSG_PING, reqid),
	    reqid, "PING", PROTO_MSG_PONG, &f);
}

/* STATUS, CLIENTS and RELOAD: no arguments, a reply of result sets. */
static dbm_result *
conn_empty_request(dbm_conn *c, uint16_t type, bool ok_alone)
{
	uint32_t	 reqid;

	if (c == NULL || !conn_usable(c))
		return NULL;
	reqid = conn_reqid(c);
	return conn_results_request(c, proto_encode_empty(&c->out, type, reqid), reqid,
	    proto_msg_name(type), ok_alone);
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
	uint32_t		 reqid;

	if (c == NULL || !conn_usable(c))
		return NULL;
	m.environment = env_or(environment, "DBM_ENVIRONMENT", DEFAULT_ENVIRONMENT);
	m.role = env_or(role, "DBM_ROLE", DEFAULT_ROLE);
	reqid = conn_reqid(c);
	return conn_results_request(c, proto_encode_resolve(&c->out, reqid, &m), reqid,
	    "RESOLVE", false);
}

dbm_result *
dbm_dispose_pool(dbm_conn *c, const char *target)
{
	struct proto_dispose_pool	 m;
	uint32_t			 reqid;

	if (c == NULL || !conn_usable(c))
		return NULL;
	if (target == NULL || target[0] == '\0')
		return conn_local_error(c, DBM_E_INTERNAL, "dbm_dispose_pool: no target");
	m.target = target;
	reqid = conn_reqid(c);
	return conn_results_request(c, proto_encode_dispose_pool(&c->out, reqid, &m), reqid,
	    "DISPOSE_POOL", false);
}

dbm_result *
dbm_cache_flush(dbm_conn *c, const char *target)
{
	struct proto_dispose_pool	 m;
	uint32_t			 reqid;

	if (c == NULL || !conn_usable(c))
		return NULL;
	if (target == NULL || target[0] == '\0')
		return conn_local_error(c, DBM_E_INTERNAL, "dbm_cache_flush: no target");
	m.target = target;
	reqid = conn_reqid(c);
	return conn_results_request(c, proto_encode_cache_flush(&c->out, reqid, &m), reqid,
	    "CACHE_FLUSH", false);
}
