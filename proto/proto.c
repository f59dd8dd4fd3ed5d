/* proto.c: wire-protocol framing: frame headers, output buffers, stream decoder, names. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_impl.h"

#define UNBOUNDED	UINT32_MAX

/*
 * Everything the header of a frame can be checked against.  The minimum
 * lengths are the fixed fields plus an empty string (u32 length + NUL) for
 * every str; see PROTOCOL.md for the layouts they are derived from.
 */
static const struct proto_msg_info msg_table[PROTO_MSG_REPLY_LAST + 1] = {
	[PROTO_MSG_HELLO] =	  { "HELLO",	    LAYOUT_HELLO,	 0, 21, UNBOUNDED },
	[PROTO_MSG_OPEN] =	  { "OPEN",	    LAYOUT_OPEN,	 0, 16, UNBOUNDED },
	[PROTO_MSG_EXEC] =	  { "EXEC",	    LAYOUT_EXEC,	 0, 19, UNBOUNDED },
	[PROTO_MSG_BEGIN] =	  { "BEGIN",	    LAYOUT_HANDLE,	 0, 4, 4 },
	[PROTO_MSG_COMMIT] =	  { "COMMIT",	    LAYOUT_HANDLE,	 0, 4, 4 },
	[PROTO_MSG_ROLLBACK] =	  { "ROLLBACK",	    LAYOUT_HANDLE,	 0, 4, 4 },
	[PROTO_MSG_DISPOSE] =	  { "DISPOSE",	    LAYOUT_HANDLE,	 0, 4, 4 },
	[PROTO_MSG_PING] =	  { "PING",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_STATUS] =	  { "STATUS",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_CLIENTS] =	  { "CLIENTS",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_RESOLVE] =	  { "RESOLVE",	    LAYOUT_RESOLVE,	 0, 10, UNBOUNDED },
	[PROTO_MSG_RELOAD] =	  { "RELOAD",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_DISPOSE_POOL] = { "DISPOSE_POOL", LAYOUT_DISPOSE_POOL, 0, 5, UNBOUNDED },
	[PROTO_MSG_CACHE_FLUSH] = { "CACHE_FLUSH",  LAYOUT_DISPOSE_POOL, 0, 5, UNBOUNDED },

	[PROTO_MSG_HELLO_OK] =	  { "HELLO_OK",	    LAYOUT_HELLO_OK,	 0, 19, UNBOUNDED },
	[PROTO_MSG_OPEN_OK] =	  { "OPEN_OK",	    LAYOUT_OPEN_OK,	 0, 17, UNBOUNDED },
	[PROTO_MSG_ROW_DESC] =	  { "ROW_DESC",	    LAYOUT_ROW_DESC,	 0, 2, UNBOUNDED },
	[PROTO_MSG_DATA_ROW] =	  { "DATA_ROW",	    LAYOUT_DATA_ROW,	 0, 2, UNBOUNDED },
	[PROTO_MSG_COMPLETE] =	  { "COMPLETE",	    LAYOUT_COMPLETE, PROTO_F_MORE, 14, UNBOUNDED },
	[PROTO_MSG_OK] =	  { "OK",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_ERROR] =	  { "ERROR",	    LAYOUT_ERROR,	 0, 22, UNBOUNDED },
	[PROTO_MSG_PONG] =	  { "PONG",	    LAYOUT_EMPTY,	 0, 0, 0 },
	[PROTO_MSG_GOODBYE] =	  { "GOODBYE",	    LAYOUT_GOODBYE,	 0, 7, UNBOUNDED },
};

static const char *const err_names[PROTO_E_MAX_] = {
	[PROTO_E_OK] = "success",
	[PROTO_E_PROTOCOL] = "protocol error",
	[PROTO_E_VERSION] = "no common protocol version",
	[PROTO_E_UNKNOWN_ENV] = "unknown environment",
	[PROTO_E_UNKNOWN_ROLE] = "unknown role",
	[PROTO_E_CONFIG] = "invalid configuration",
	[PROTO_E_NOT_OVERRIDABLE] = "setting may not be overridden",
	[PROTO_E_PERMISSION] = "permission denied",
	[PROTO_E_LIMIT] = "limit reached",
	[PROTO_E_BACKEND] = "database unavailable",
	[PROTO_E_SQL] = "SQL error",
	[PROTO_E_TIMEOUT] = "timed out",
	[PROTO_E_NO_HANDLE] = "no such handle",
	[PROTO_E_TXN_STATE] = "wrong transaction state",
	[PROTO_E_SHUTDOWN] = "server shutting down",
	[PROTO_E_DRAINING] = "pool draining",
	[PROTO_E_CANCELED] = "request canceled",
	[PROTO_E_CONNECTION] = "connection to dbmd lost",
	[PROTO_E_INTERNAL] = "internal error",
	[PROTO_E_NOMEM] = "out of memory",
};

static const char *const derr_names[PROTO_DERR_MAX_] = {
	[PROTO_DERR_OK] = "well formed",
	[PROTO_DERR_TRUNCATED] = "truncated payload",
	[PROTO_DERR_TRAILING] = "trailing bytes after the last field",
	[PROTO_DERR_OVERSIZED] = "frame larger than the limit",
	[PROTO_DERR_UNKNOWN_TYPE] = "unknown message type",
	[PROTO_DERR_BAD_FLAGS] = "undefined header flags",
	[PROTO_DERR_BAD_LENGTH] = "impossible payload length for the type",
	[PROTO_DERR_BAD_STRING] = "string not NUL-terminated or with an embedded NUL",
	[PROTO_DERR_UNEXPECTED_NULL] = "NULL in a non-nullable string",
	[PROTO_DERR_BAD_COUNT] = "element count exceeds the payload",
	[PROTO_DERR_BAD_MAGIC] = "bad magic in HELLO",
	[PROTO_DERR_BAD_VALUE] = "field value out of range",
	[PROTO_DERR_WRONG_TYPE] = "decoder used on a frame of another type",
	[PROTO_DERR_NOMEM] = "out of memory",
};

/* Returns the table entry of a known type, or NULL. */
const struct proto_msg_info *
proto_msg_info(uint16_t type)
{
	if (type > PROTO_MSG_REPLY_LAST || msg_table[type].name == NULL)
		return NULL;
	return &msg_table[type];
}

/* Names a message type for logs; never NULL, even for garbage. */
const char *
proto_msg_name(uint16_t type)
{
	const struct proto_msg_info	*mi = proto_msg_info(type);

	return mi != NULL ? mi->name : "UNKNOWN";
}

/*
 * Describes an error code.  Takes an int because codes arrive from the wire
 * and from the public library; codes from a newer peer get a generic text.
 */
const char *
proto_strerror(int code)
{
	if (code < 0 || code >= PROTO_E_MAX_)
		return "unknown error";
	return err_names[code];
}

/* Describes a decode error. */
const char *
proto_derr_str(enum proto_derr err)
{
	if ((unsigned)err >= PROTO_DERR_MAX_)
		return "unknown decode error";
	return derr_names[err];
}

/* True for the known client-to-server types: what the daemon may receive. */
bool
proto_msg_is_request(uint16_t type)
{
	return type <= PROTO_MSG_REQUEST_LAST && proto_msg_info(type) != NULL;
}

/* True for the known server-to-client types: what the library may receive. */
bool
proto_msg_is_reply(uint16_t type)
{
	return type >= PROTO_MSG_REPLY_FIRST && proto_msg_info(type) != NULL;
}

/*
 * Whether this frame is the last one of a reply, after which the request is
 * answered and leaves the peer's in-flight count.  GOODBYE ends the
 * connection rather than a reply and is not counted here.
 */
bool
proto_frame_ends_reply(const struct proto_frame_hdr *hdr)
{
	switch (hdr->type) {
	case PROTO_MSG_HELLO_OK:
	case PROTO_MSG_OPEN_OK:
	case PROTO_MSG_OK:
	case PROTO_MSG_ERROR:
	case PROTO_MSG_PONG:
		return true;
	case PROTO_MSG_COMPLETE:
		return (hdr->flags & PROTO_F_MORE) == 0;
	default:
		return false;
	}
}

/*
 * The version a server answers a HELLO with: the highest both sides speak,
 * or 0 when the ranges do not meet (reply ERROR with PROTO_E_VERSION).
 */
uint16_t
proto_version_choose(uint16_t peer_min, uint16_t peer_max)
{
	uint16_t	 lo, hi;

	lo = peer_min > PROTO_VERSION_MIN ? peer_min : PROTO_VERSION_MIN;
	hi = peer_max < PROTO_VERSION_MAX ? peer_max : PROTO_VERSION_MAX;
	return lo <= hi ? hi : 0;
}

static uint32_t
clamp_limit(uint32_t max_payload)
{
	return max_payload > PROTO_MAX_FRAME_LIMIT ? PROTO_MAX_FRAME_LIMIT : max_payload;
}

/*
 * Looks at the start of a byte stream for one frame.  Returns the frame's
 * total size (header + payload, > 0) when all of it is in p[0..n), 0 when
 * more bytes are needed, or -(enum proto_derr) when the header is bad.
 * Everything is judged from the 12 header bytes alone, so an oversized or
 * nonsensical frame is refused before its payload is buffered.  Whenever
 * n >= PROTO_HDR_SIZE, f->hdr is filled (also on "need more", so the caller
 * knows how much to wait for, and on error, for its log line); f->payload is
 * set only for a complete frame.  max_payload is the receiver's limit and is
 * clamped to PROTO_MAX_FRAME_LIMIT, so the result always fits an int.
 */
int
proto_frame_check(const uint8_t *p, size_t n, uint32_t max_payload, struct proto_frame *f)
{
	const struct proto_msg_info	*mi;
	struct proto_frame_hdr		*h = &f->hdr;

	f->payload = NULL;
	if (n < PROTO_HDR_SIZE)
		return 0;
	h->length = be32_get(p);
	h->type = be16_get(p + 4);
	h->flags = be16_get(p + 6);
	h->request_id = be32_get(p + 8);

	if ((mi = proto_msg_info(h->type)) == NULL)
		return -(int)PROTO_DERR_UNKNOWN_TYPE;
	if (h->length > clamp_limit(max_payload))
		return -(int)PROTO_DERR_OVERSIZED;
	if ((h->flags & ~mi->flags) != 0)
		return -(int)PROTO_DERR_BAD_FLAGS;
	if (h->length < mi->minlen || h->length > mi->maxlen)
		return -(int)PROTO_DERR_BAD_LENGTH;
	if (n - PROTO_HDR_SIZE < h->length)
		return 0;
	f->payload = p + PROTO_HDR_SIZE;
	return (int)(PROTO_HDR_SIZE + h->length);
}

/*
 * Whole frames laid end to end, as a reply is kept (the result cache): these walk them
 * by their headers alone, which must have passed proto_frame_check when written.
 */

/* The whole size of the frame whose header hdr points at. */
size_t
proto_frame_size(const uint8_t *hdr)
{
	return PROTO_HDR_SIZE + (size_t)be32_get(hdr);
}

/* True when p[0..n) is one or more whole frames and nothing else. */
bool
proto_frames_whole(const uint8_t *p, size_t n)
{
	size_t at = 0;

	while (n - at >= PROTO_HDR_SIZE && proto_frame_size(p + at) <= n - at)
		at += proto_frame_size(p + at);
	return at == n && n > 0;
}

/* The offset of the last frame of whole frames p[0..n) (proto_frames_whole). */
size_t
proto_frames_last(const uint8_t *p, size_t n)
{
	size_t at = 0, last = 0;

	while (n - at >= PROTO_HDR_SIZE && proto_frame_size(p + at) <= n - at) {
		last = at;
		at += proto_frame_size(p + at);
	}
	return last;
}

/* Gives every frame of p[0..n) the request id reqid: a stored reply sent again. */
void
proto_frames_set_reqid(uint8_t *p, size_t n, uint32_t reqid)
{
	size_t at;

	for (at = 0; n - at >= PROTO_HDR_SIZE && proto_frame_size(p + at) <= n - at;
	    at += proto_frame_size(p + at))
		be32_put(p + at + 8, reqid);
}

/* Output buffer. */

void
proto_buf_init(struct proto_buf *b)
{
	memset(b, 0, sizeof(*b));
	b->frame = PROTO_BUF_NO_FRAME;
	b->max_payload = PROTO_MAX_FRAME_LIMIT;
}

/* Empties the buffer and clears its errors, keeping the memory and the limit. */
void
proto_buf_reset(struct proto_buf *b)
{
	b->len = 0;
	b->frame = PROTO_BUF_NO_FRAME;
	b->oom = 0;
	b->toobig = 0;
}

/* Releases the memory; the buffer is then as after proto_buf_init.  NULL-safe. */
void
proto_buf_free(struct proto_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	proto_buf_init(b);
}

/*
 * Makes room for n more bytes.  Failure is sticky in b->oom rather than
 * returned to every put, so producers check once per frame.  Growth past
 * PROTO_BUF_MAX is treated as allocation failure: no legitimate batch of
 * frames is that large, and it keeps size arithmetic far from overflow.
 */
int
proto_buf_reserve(struct proto_buf *b, size_t n)
{
	size_t	 ncap;
	uint8_t	*p;

	if (b->oom)
		return -1;
	if (n <= b->cap - b->len)
		return 0;
	if (n > PROTO_BUF_MAX - b->len) {
		b->oom = 1;
		return -1;
	}
	ncap = b->cap != 0 ? b->cap : 256;
	while (ncap - b->len < n)
		ncap *= 2;
	if (ncap > PROTO_BUF_MAX)
		ncap = PROTO_BUF_MAX;
	if ((p = realloc(b->data, ncap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

/*
 * Drops the first n bytes, typically after a partial write(2).  Only whole
 * bytes before the open frame, if any, may be dropped; n is clamped to that.
 */
void
proto_buf_consume(struct proto_buf *b, size_t n)
{
	size_t	 limit = b->frame != PROTO_BUF_NO_FRAME ? b->frame : b->len;

	if (n > limit)
		n = limit;
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	if (b->frame != PROTO_BUF_NO_FRAME)
		b->frame -= n;
}

/*
 * Drops the whole frames written since the buffer held mark bytes, as if they
 * had never been written: a producer takes back what it wrote on trial.
 */
void
proto_buf_truncate(struct proto_buf *b, size_t mark)
{
	if (b->frame == PROTO_BUF_NO_FRAME && mark <= b->len)
		b->len = mark;
}

/*
 * Decides whether n more payload bytes may be written.  Inside a frame the
 * peer's limit is enforced as we go, so a huge value is refused at once
 * instead of being buffered only to be thrown away at proto_end.
 */
static bool
buf_room(struct proto_buf *b, size_t n)
{
	size_t	 used, limit;

	if (b->oom || b->toobig)
		return false;
	if (b->frame != PROTO_BUF_NO_FRAME) {
		used = b->len - b->frame - PROTO_HDR_SIZE;
		limit = clamp_limit(b->max_payload);
		if (used > limit || n > limit - used) {
			b->toobig = 1;
			return false;
		}
	}
	return proto_buf_reserve(b, n) == 0;
}

/*
 * Opens a frame: writes its header with a placeholder length and returns the
 * frame's offset in b->data.  Several frames can follow each other in one
 * buffer so that a whole reply goes out in one write.  Opening a frame while
 * another is open discards the open one (a caller bug, but never a crash).
 */
size_t
proto_begin(struct proto_buf *b, uint16_t type, uint16_t flags, uint32_t request_id)
{
	if (b->frame != PROTO_BUF_NO_FRAME)
		b->len = b->frame;
	b->toobig = 0;
	b->frame = b->len;
	if (proto_buf_reserve(b, PROTO_HDR_SIZE) == 0) {
		be32_put(b->data + b->len, 0);
		be16_put(b->data + b->len + 4, type);
		be16_put(b->data + b->len + 6, flags);
		be32_put(b->data + b->len + 8, request_id);
		b->len += PROTO_HDR_SIZE;
	}
	return b->frame;
}

/*
 * Closes the open frame by patching its length.  On failure the frame is
 * removed again, so the buffer always holds whole frames only:
 * PROTO_E_LIMIT means the payload exceeded b->max_payload (the producer may
 * send an ERROR instead); PROTO_E_NOMEM means memory ran out, and stays so
 * until proto_buf_reset; PROTO_E_INTERNAL means no frame was open.
 */
enum proto_err
proto_end(struct proto_buf *b)
{
	size_t	 start = b->frame;

	if (start == PROTO_BUF_NO_FRAME)
		return PROTO_E_INTERNAL;
	b->frame = PROTO_BUF_NO_FRAME;
	if (b->oom || b->toobig) {
		if (b->len > start)
			b->len = start;
		if (b->oom)
			return PROTO_E_NOMEM;
		b->toobig = 0;
		return PROTO_E_LIMIT;
	}
	be32_put(b->data + start, (uint32_t)(b->len - start - PROTO_HDR_SIZE));
	return PROTO_E_OK;
}

void
proto_put_u8(struct proto_buf *b, uint8_t v)
{
	if (buf_room(b, 1))
		b->data[b->len++] = v;
}

void
proto_put_u16(struct proto_buf *b, uint16_t v)
{
	if (buf_room(b, 2)) {
		be16_put(b->data + b->len, v);
		b->len += 2;
	}
}

void
proto_put_u32(struct proto_buf *b, uint32_t v)
{
	if (buf_room(b, 4)) {
		be32_put(b->data + b->len, v);
		b->len += 4;
	}
}

void
proto_put_u64(struct proto_buf *b, uint64_t v)
{
	if (buf_room(b, 8)) {
		be64_put(b->data + b->len, v);
		b->len += 8;
	}
}

/*
 * Writes a length-prefixed, NUL-terminated string in one reservation.  A
 * length no frame could hold is "too big" inside a frame and "out of
 * memory" outside one, without the length ever being truncated to 32 bits.
 */
static void
put_counted(struct proto_buf *b, const char *s, size_t len)
{
	if (len > PROTO_MAX_FRAME_LIMIT) {
		if (b->frame != PROTO_BUF_NO_FRAME)
			b->toobig = 1;
		else
			b->oom = 1;
		return;
	}
	if (!buf_room(b, 4 + len + 1))
		return;
	be32_put(b->data + b->len, (uint32_t)len);
	if (len > 0)
		memcpy(b->data + b->len + 4, s, len);
	b->data[b->len + 4 + len] = '\0';
	b->len += 4 + len + 1;
}

/* Writes a str from a C string; NULL is written as "". */
void
proto_put_str(struct proto_buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	put_counted(b, s, strlen(s));
}

/* Writes a str of len bytes, which must not contain a NUL (the peer checks). */
void
proto_put_strn(struct proto_buf *b, const char *s, size_t len)
{
	if (s == NULL)
		len = 0;
	put_counted(b, s, len);
}

/*
 * Writes an nstr: SQL NULL when s is NULL, else len bytes (NULs allowed).
 * This is the call the daemon's row loop makes per value, copying straight
 * from the backend's result into the outgoing buffer.
 */
void
proto_put_nstr(struct proto_buf *b, const char *s, size_t len)
{
	if (s == NULL) {
		proto_put_u32(b, PROTO_NULL_LEN);
		return;
	}
	put_counted(b, s, len);
}

/* Stream decoder. */

/* Buffers above this are released once drained, so an idle peer stays small. */
#define DECODER_KEEP	(64u << 10)
#define DECODER_CHUNK	4096

/* max_payload 0 means PROTO_DEFAULT_MAX_FRAME. */
void
proto_decoder_init(struct proto_decoder *d, uint32_t max_payload)
{
	memset(d, 0, sizeof(*d));
	d->max_payload = max_payload != 0 ? max_payload : PROTO_DEFAULT_MAX_FRAME;
}

/* Releases the buffer; the decoder is then as after init.  NULL-safe. */
void
proto_decoder_free(struct proto_decoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	d->buf = NULL;
	d->len = d->cap = d->pos = 0;
}

static void
decoder_fail(struct proto_decoder *d, enum proto_derr err, const struct proto_frame_hdr *h)
{
	d->err = err;
	switch (err) {
	case PROTO_DERR_UNKNOWN_TYPE:
		snprintf(d->errstr, sizeof(d->errstr), "unknown message type %u",
		    (unsigned)h->type);
		break;
	case PROTO_DERR_OVERSIZED:
		snprintf(d->errstr, sizeof(d->errstr),
		    "%s frame of %lu payload bytes exceeds the limit of %lu",
		    proto_msg_name(h->type), (unsigned long)h->length,
		    (unsigned long)clamp_limit(d->max_payload));
		break;
	case PROTO_DERR_BAD_FLAGS:
		snprintf(d->errstr, sizeof(d->errstr), "%s frame with undefined flags 0x%04x",
		    proto_msg_name(h->type), (unsigned)h->flags);
		break;
	case PROTO_DERR_BAD_LENGTH:
		snprintf(d->errstr, sizeof(d->errstr),
		    "%s frame with impossible payload length %lu",
		    proto_msg_name(h->type), (unsigned long)h->length);
		break;
	default:
		snprintf(d->errstr, sizeof(d->errstr), "%s", proto_derr_str(err));
		break;
	}
}

/*
 * Returns space for at least want more bytes (want 0: a sensible amount,
 * enough for the rest of a frame whose header is already in), so a client
 * can read(2) straight into the decoder; report what arrived with
 * proto_decoder_commit.  Consumed bytes are compacted away first, which is
 * why frames returned earlier become invalid.  NULL when out of memory.
 */
uint8_t *
proto_decoder_space(struct proto_decoder *d, size_t want, size_t *avail)
{
	size_t	 held, ncap;
	uint8_t	*p;

	*avail = 0;
	if (d->err != PROTO_DERR_OK)
		return NULL;
	if (d->pos == d->len) {
		d->pos = d->len = 0;
		if (d->cap > DECODER_KEEP) {
			free(d->buf);
			d->buf = NULL;
			d->cap = 0;
		}
	} else if (d->pos > 0) {
		memmove(d->buf, d->buf + d->pos, d->len - d->pos);
		d->len -= d->pos;
		d->pos = 0;
	}
	held = d->len;
	if (want == 0) {
		want = DECODER_CHUNK;
		if (held >= PROTO_HDR_SIZE) {
			size_t	 frame = PROTO_HDR_SIZE + (size_t)be32_get(d->buf);

			/* Oversized headers are refused by _next; do not chase them. */
			if (frame > held && frame - held > want &&
			    frame - PROTO_HDR_SIZE <= clamp_limit(d->max_payload))
				want = frame - held;
		}
	}
	if (want > d->cap - held) {
		if (want > PROTO_BUF_MAX - held)
			goto nomem;
		ncap = d->cap != 0 ? d->cap : DECODER_CHUNK;
		while (ncap - held < want)
			ncap *= 2;
		if ((p = realloc(d->buf, ncap)) == NULL)
			goto nomem;
		d->buf = p;
		d->cap = ncap;
	}
	*avail = d->cap - held;
	return d->buf + held;

 nomem:
	d->err = PROTO_DERR_NOMEM;
	snprintf(d->errstr, sizeof(d->errstr), "%s", proto_derr_str(d->err));
	return NULL;
}

/* Accounts for n bytes written into the space proto_decoder_space returned. */
void
proto_decoder_commit(struct proto_decoder *d, size_t n)
{
	if (n > d->cap - d->len)
		n = d->cap - d->len;
	d->len += n;
}

/* Copies n bytes into the decoder.  Returns 0, or -1 when out of memory or failed. */
int
proto_decoder_feed(struct proto_decoder *d, const void *p, size_t n)
{
	uint8_t	*dst;
	size_t	 avail;

	if (d->err != PROTO_DERR_OK)
		return -1;
	if (n == 0)
		return 0;
	if ((dst = proto_decoder_space(d, n, &avail)) == NULL)
		return -1;
	memcpy(dst, p, n);
	proto_decoder_commit(d, n);
	return 0;
}

/*
 * Takes the next whole frame.  Returns 1 with *f set, 0 when more bytes are
 * needed, -1 on a bad header (then d->err and d->errstr say why, and every
 * later call fails too: after a framing error the stream cannot be trusted).
 * Only the header is judged here; the payload is judged by the decoder for
 * its type.  Never moves buffered data, so frames taken one after another
 * stay valid together until the next feed.
 */
int
proto_decoder_next(struct proto_decoder *d, struct proto_frame *f)
{
	int	 r;

	if (d->err != PROTO_DERR_OK)
		return -1;
	if (d->pos == d->len)
		return 0;
	r = proto_frame_check(d->buf + d->pos, d->len - d->pos, d->max_payload, f);
	if (r < 0) {
		decoder_fail(d, (enum proto_derr)-r, &f->hdr);
		return -1;
	}
	if (r == 0)
		return 0;
	d->pos += (size_t)r;
	return 1;
}
