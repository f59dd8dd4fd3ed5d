/* msg.c: the payload of every message type, encoded from and decoded into plain structs. */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_impl.h"

/*
 * Range checks shared by both directions: a decoder reports a violation as
 * PROTO_DERR_BAD_VALUE, an encoder refuses to produce it (PROTO_E_INTERNAL),
 * so a bug in one peer shows up at its own end rather than as a dropped
 * connection at the other.
 */
static bool
hello_valid(const struct proto_hello *m)
{
	return m->min_version >= 1 && m->min_version <= m->max_version &&
	    m->max_frame >= PROTO_HANDSHAKE_MAX_FRAME;
}

static bool
hello_ok_valid(const struct proto_hello_ok *m)
{
	return m->version >= 1 && m->max_frame >= PROTO_HANDSHAKE_MAX_FRAME &&
	    m->max_queued >= 1;
}

static bool
open_valid(const struct proto_open *m)
{
	return (m->flags & ~PROTO_OPEN_PINNED) == 0;
}

static bool
exec_valid(const struct proto_exec *m)
{
	return (m->flags & ~PROTO_EXEC_FLAGS_MASK) == 0;
}

static bool
complete_valid(const struct proto_complete *m)
{
	return m->cache_state < PROTO_CACHE_MAX_;
}

/* Error codes are not bounded above: a newer server may send codes we lack. */
static bool
code_valid(uint16_t code)
{
	return code != PROTO_E_OK;
}

static uint32_t
clamp_frame(uint32_t max_frame)
{
	return max_frame > PROTO_MAX_FRAME_LIMIT ? PROTO_MAX_FRAME_LIMIT : max_frame;
}

static bool
has_layout(uint16_t type, enum proto_layout layout)
{
	const struct proto_msg_info	*mi = proto_msg_info(type);

	return mi != NULL && mi->layout == layout;
}

/* Encoders: each writes one whole frame or, on failure, nothing. */

enum proto_err
proto_encode_hello(struct proto_buf *b, uint32_t reqid, const struct proto_hello *m)
{
	if (!hello_valid(m))
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_HELLO, 0, reqid);
	proto_put_u32(b, PROTO_MAGIC);
	proto_put_u16(b, m->min_version);
	proto_put_u16(b, m->max_version);
	proto_put_str(b, m->client_name);
	proto_put_u32(b, m->pid);
	proto_put_u32(b, m->max_frame);
	return proto_end(b);
}

enum proto_err
proto_encode_hello_ok(struct proto_buf *b, uint32_t reqid, const struct proto_hello_ok *m)
{
	if (!hello_ok_valid(m))
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_HELLO_OK, 0, reqid);
	proto_put_u16(b, m->version);
	proto_put_str(b, m->server_version);
	proto_put_u32(b, m->max_frame);
	proto_put_u32(b, m->max_handles);
	proto_put_u32(b, m->max_queued);
	return proto_end(b);
}

enum proto_err
proto_encode_open(struct proto_buf *b, uint32_t reqid, const struct proto_open *m)
{
	uint16_t	 i;

	if (!open_valid(m) ||
	    (m->n_overrides > 0 && (m->keys == NULL || m->values == NULL)))
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_OPEN, 0, reqid);
	proto_put_str(b, m->environment);
	proto_put_str(b, m->role);
	proto_put_u32(b, m->flags);
	proto_put_u16(b, m->n_overrides);
	for (i = 0; i < m->n_overrides; i++) {
		proto_put_str(b, m->keys[i]);
		proto_put_str(b, m->values[i]);
	}
	return proto_end(b);
}

enum proto_err
proto_encode_open_ok(struct proto_buf *b, uint32_t reqid, const struct proto_open_ok *m)
{
	proto_begin(b, PROTO_MSG_OPEN_OK, 0, reqid);
	proto_put_u32(b, m->handle_id);
	proto_put_u64(b, m->pool_hash);
	proto_put_str(b, m->backend);
	return proto_end(b);
}

/* Writes count nullable values, taking lengths from lens or, if NULL, strlen. */
static void
put_values(struct proto_buf *b, uint16_t count, const char *const *vals, const uint32_t *lens)
{
	uint16_t	 i;

	for (i = 0; i < count; i++) {
		if (vals[i] == NULL)
			proto_put_nstr(b, NULL, 0);
		else
			proto_put_nstr(b, vals[i], lens != NULL ? lens[i] : strlen(vals[i]));
	}
}

enum proto_err
proto_encode_exec(struct proto_buf *b, uint32_t reqid, const struct proto_exec *m)
{
	uint16_t	 i;

	if (!exec_valid(m) || (m->nparams > 0 && m->params == NULL))
		return PROTO_E_INTERNAL;
	if (m->version >= 2 && m->formats != NULL)
		for (i = 0; i < m->nparams; i++)
			if (m->formats[i] > PROTO_FORMAT_BINARY)
				return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_EXEC, 0, reqid);
	proto_put_u32(b, m->handle_id);
	proto_put_u32(b, m->flags);
	proto_put_u32(b, m->cache_max_age_ms);
	proto_put_str(b, m->sql);
	proto_put_u16(b, m->nparams);
	put_values(b, m->nparams, m->params, m->param_lens);
	if (m->version >= 2)
		for (i = 0; i < m->nparams; i++)
			proto_put_u16(b, m->formats != NULL ? m->formats[i] : PROTO_FORMAT_TEXT);
	return proto_end(b);
}

/* BEGIN, COMMIT, ROLLBACK and DISPOSE: nothing but the handle. */
enum proto_err
proto_encode_handle(struct proto_buf *b, uint16_t type, uint32_t reqid, uint32_t handle_id)
{
	if (!has_layout(type, LAYOUT_HANDLE))
		return PROTO_E_INTERNAL;
	proto_begin(b, type, 0, reqid);
	proto_put_u32(b, handle_id);
	return proto_end(b);
}

/* PING, PONG, STATUS, CLIENTS, RELOAD and OK: a header and nothing else. */
enum proto_err
proto_encode_empty(struct proto_buf *b, uint16_t type, uint32_t reqid)
{
	if (!has_layout(type, LAYOUT_EMPTY))
		return PROTO_E_INTERNAL;
	proto_begin(b, type, 0, reqid);
	return proto_end(b);
}

/*
 * One column's type as a version 2 ROW_DESC carries it after the names; NULL
 * is a text column of unknown type modifier, what operator replies have.
 */
void
proto_put_col(struct proto_buf *b, const struct proto_col *c)
{
	proto_put_u32(b, c != NULL ? c->type_oid : PROTO_OID_TEXT);
	proto_put_u32(b, c != NULL ? (uint32_t)c->typmod : UINT32_MAX);
	proto_put_u16(b, c != NULL ? c->format : PROTO_FORMAT_TEXT);
}

enum proto_err
proto_encode_row_desc(struct proto_buf *b, uint32_t reqid, const struct proto_row_desc *m)
{
	uint16_t	 i;

	if (m->ncols > 0 && m->names == NULL)
		return PROTO_E_INTERNAL;
	if (m->version >= 2 && m->cols != NULL)
		for (i = 0; i < m->ncols; i++)
			if (m->cols[i].format > PROTO_FORMAT_BINARY)
				return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_ROW_DESC, 0, reqid);
	proto_put_u16(b, m->ncols);
	for (i = 0; i < m->ncols; i++)
		proto_put_str(b, m->names[i]);
	if (m->version >= 2)
		for (i = 0; i < m->ncols; i++)
			proto_put_col(b, m->cols != NULL ? &m->cols[i] : NULL);
	return proto_end(b);
}

/*
 * Convenient for tests and small producers; the daemon's row loop writes
 * DATA_ROW with proto_begin, proto_put_u16 and proto_put_nstr instead, so no
 * per-row array has to be built.
 */
enum proto_err
proto_encode_data_row(struct proto_buf *b, uint32_t reqid, const struct proto_data_row *m)
{
	if (m->ncols > 0 && m->values == NULL)
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_DATA_ROW, 0, reqid);
	proto_put_u16(b, m->ncols);
	put_values(b, m->ncols, m->values, m->lengths);
	return proto_end(b);
}

/*
 * Rewrites the cache state of an encoded COMPLETE frame (its last byte) in place: a
 * stored reply is served as a HIT.  False when frame[0..n) is not one COMPLETE.
 */
bool
proto_complete_set_cache_state(uint8_t *frame, size_t n, uint8_t state)
{
	struct proto_frame f;

	if (proto_frame_check(frame, n, PROTO_MAX_FRAME_LIMIT, &f) != (int)n ||
	    f.hdr.type != PROTO_MSG_COMPLETE || n <= PROTO_HDR_SIZE)
		return false;
	frame[n - 1] = state;
	return true;
}

enum proto_err
proto_encode_complete(struct proto_buf *b, uint32_t reqid, const struct proto_complete *m)
{
	if (!complete_valid(m))
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_COMPLETE, m->more ? PROTO_F_MORE : 0, reqid);
	proto_put_u64(b, m->rows_affected);
	proto_put_str(b, m->command_tag);
	proto_put_u8(b, m->cache_state);
	return proto_end(b);
}

/*
 * How many bytes of s to send when at most room are left for it: all of it, or a
 * prefix cut at a character boundary with room for the ellipsis that marks the cut.
 */
static size_t
fit_text(const char *s, size_t *room, bool *cut)
{
	size_t n = s != NULL ? strlen(s) : 0;

	*cut = false;
	if (n <= *room) {
		*room -= n;
		return n;
	}
	*cut = true;
	n = *room >= 3 ? *room - 3 : 0;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	*room = 0;
	return n;
}

static void
put_fitted(struct proto_buf *b, const char *s, size_t n, bool cut)
{
	char *t;

	if (!cut || (t = malloc(n + 4)) == NULL) {
		proto_put_strn(b, s, n);
		return;
	}
	memcpy(t, s, n);
	memcpy(t + n, "\xe2\x80\xa6", 4);	/* U+2026 and the NUL */
	proto_put_strn(b, t, n + 3);
	free(t);
}

/*
 * An ERROR always fits the receiver's frame limit (at least PROTO_HANDSHAKE_MAX_FRAME):
 * a message too long for it is cut, the hint first, then the detail, then the message,
 * so that a reply never ends without its ERROR.
 */
enum proto_err
proto_encode_error(struct proto_buf *b, uint32_t reqid, const struct proto_error *m)
{
	size_t limit = b->max_payload > PROTO_MAX_FRAME_LIMIT ? PROTO_MAX_FRAME_LIMIT :
	    b->max_payload;
	size_t fixed, room, nm, nd, nh;
	bool cm, cd, ch;

	if (!code_valid(m->code) || strlen(m->sqlstate) > 16)
		return PROTO_E_INTERNAL;
	fixed = 2 + 4 * (4 + 1) + strlen(m->sqlstate) + 3 * 3;
	room = limit > fixed ? limit - fixed : 0;
	nm = fit_text(m->message, &room, &cm);
	nd = fit_text(m->detail, &room, &cd);
	nh = fit_text(m->hint, &room, &ch);
	proto_begin(b, PROTO_MSG_ERROR, 0, reqid);
	proto_put_u16(b, m->code);
	proto_put_str(b, m->sqlstate);
	put_fitted(b, m->message, nm, cm);
	put_fitted(b, m->detail, nd, cd);
	put_fitted(b, m->hint, nh, ch);
	return proto_end(b);
}

enum proto_err
proto_encode_goodbye(struct proto_buf *b, uint32_t reqid, const struct proto_goodbye *m)
{
	if (!code_valid(m->code))
		return PROTO_E_INTERNAL;
	proto_begin(b, PROTO_MSG_GOODBYE, 0, reqid);
	proto_put_u16(b, m->code);
	proto_put_str(b, m->reason);
	return proto_end(b);
}

enum proto_err
proto_encode_resolve(struct proto_buf *b, uint32_t reqid, const struct proto_resolve *m)
{
	proto_begin(b, PROTO_MSG_RESOLVE, 0, reqid);
	proto_put_str(b, m->environment);
	proto_put_str(b, m->role);
	return proto_end(b);
}

enum proto_err
proto_encode_dispose_pool(struct proto_buf *b, uint32_t reqid,
    const struct proto_dispose_pool *m)
{
	proto_begin(b, PROTO_MSG_DISPOSE_POOL, 0, reqid);
	proto_put_str(b, m->target);
	return proto_end(b);
}

enum proto_err
proto_encode_cache_flush(struct proto_buf *b, uint32_t reqid,
    const struct proto_dispose_pool *m)
{
	proto_begin(b, PROTO_MSG_CACHE_FLUSH, 0, reqid);
	proto_put_str(b, m->target);
	return proto_end(b);
}

/*
 * Decoding.  A struct rd walks a payload; every read first checks that the
 * bytes are there, and the first failure sticks, so a decoder reads all its
 * fields straight through and asks once at the end whether they were sound.
 */
struct rd {
	const uint8_t	*p;
	size_t		 left;
	enum proto_derr	 err;
};

static bool
rd_need(struct rd *r, size_t n)
{
	if (r->err != PROTO_DERR_OK)
		return false;
	if (r->left < n) {
		r->err = PROTO_DERR_TRUNCATED;
		return false;
	}
	return true;
}

static void
rd_skip(struct rd *r, size_t n)
{
	r->p += n;
	r->left -= n;
}

static uint8_t
rd_u8(struct rd *r)
{
	uint8_t	 v;

	if (!rd_need(r, 1))
		return 0;
	v = r->p[0];
	rd_skip(r, 1);
	return v;
}

static uint16_t
rd_u16(struct rd *r)
{
	uint16_t	 v;

	if (!rd_need(r, 2))
		return 0;
	v = be16_get(r->p);
	rd_skip(r, 2);
	return v;
}

static uint32_t
rd_u32(struct rd *r)
{
	uint32_t	 v;

	if (!rd_need(r, 4))
		return 0;
	v = be32_get(r->p);
	rd_skip(r, 4);
	return v;
}

static uint64_t
rd_u64(struct rd *r)
{
	uint64_t	 v;

	if (!rd_need(r, 8))
		return 0;
	v = be64_get(r->p);
	rd_skip(r, 8);
	return v;
}

/*
 * Reads a counted string.  A value (nstr) may be SQL NULL and may hold NULs;
 * a str may be neither, because it is handed out as a bare C string and an
 * embedded NUL would make "prod\0uction" read as "prod".  Both must end in
 * the NUL that lets the caller use them in place.
 */
static bool
rd_counted(struct rd *r, bool value, struct proto_value *v)
{
	uint32_t	 len;
	const uint8_t	*s;

	if (!rd_need(r, 4))
		return false;
	len = be32_get(r->p);
	if (len == PROTO_NULL_LEN) {
		if (!value) {
			r->err = PROTO_DERR_UNEXPECTED_NULL;
			return false;
		}
		v->ptr = NULL;
		v->len = 0;
		rd_skip(r, 4);
		return true;
	}
	if (r->left - 4 < (size_t)len + 1) {
		r->err = PROTO_DERR_TRUNCATED;
		return false;
	}
	s = r->p + 4;
	if (s[len] != '\0' || (!value && memchr(s, '\0', len) != NULL)) {
		r->err = PROTO_DERR_BAD_STRING;
		return false;
	}
	v->ptr = (const char *)s;
	v->len = len;
	rd_skip(r, 4 + (size_t)len + 1);
	return true;
}

static const char *
rd_str(struct rd *r)
{
	struct proto_value	 v;

	return rd_counted(r, false, &v) ? v.ptr : NULL;
}

/*
 * Validates an array of count strings (str, or nstr when value is set) and
 * points an iterator at it.  The count is first weighed against the bytes
 * left, at the smallest size an element can have, so an absurd count is
 * refused before anything is walked or allocated by the caller.
 */
static void
rd_list(struct rd *r, uint32_t count, bool value, struct proto_iter *it)
{
	struct proto_value	 v;
	size_t			 minsize = value ? 4 : 5;
	uint32_t		 i;

	if (r->err != PROTO_DERR_OK)
		return;
	if (count > r->left / minsize) {
		r->err = PROTO_DERR_BAD_COUNT;
		return;
	}
	it->p = r->p;
	it->left = count;
	for (i = 0; i < count; i++)
		if (!rd_counted(r, value, &v))
			return;
	it->end = r->p;
}

/*
 * Points at an array of count fixed-size elements (formats, column types)
 * after checking that the bytes are there; NULL, with the error set, if not.
 */
static const uint8_t *
rd_fixed(struct rd *r, uint32_t count, size_t size)
{
	const uint8_t	*p = r->p;

	if (r->err != PROTO_DERR_OK)
		return NULL;
	if (count > r->left / size) {
		r->err = PROTO_DERR_TRUNCATED;
		return NULL;
	}
	rd_skip(r, (size_t)count * size);
	return p;
}

static enum proto_derr
rd_begin(struct rd *r, const struct proto_frame *f, enum proto_layout layout)
{
	r->p = f->payload;
	r->left = f->hdr.length;
	r->err = PROTO_DERR_OK;
	if (!has_layout(f->hdr.type, layout))
		return PROTO_DERR_WRONG_TYPE;
	if (f->payload == NULL && f->hdr.length != 0)
		return PROTO_DERR_TRUNCATED;
	return PROTO_DERR_OK;
}

static enum proto_derr
rd_end(struct rd *r)
{
	if (r->err != PROTO_DERR_OK)
		return r->err;
	return r->left == 0 ? PROTO_DERR_OK : PROTO_DERR_TRAILING;
}

/*
 * Decoders.  Each fills *m (zeroed first; on failure its contents are
 * unspecified) with strings pointing into f->payload and returns
 * PROTO_DERR_OK, or says what was wrong.  They may be given any frame that
 * proto_frame_check or proto_decoder_next accepted.
 */

enum proto_derr
proto_decode_hello(const struct proto_frame *f, struct proto_hello *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_HELLO)) != PROTO_DERR_OK)
		return e;
	if (rd_u32(&r) != PROTO_MAGIC && r.err == PROTO_DERR_OK)
		return PROTO_DERR_BAD_MAGIC;
	m->min_version = rd_u16(&r);
	m->max_version = rd_u16(&r);
	m->client_name = rd_str(&r);
	m->pid = rd_u32(&r);
	m->max_frame = rd_u32(&r);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	if (!hello_valid(m))
		return PROTO_DERR_BAD_VALUE;
	m->max_frame = clamp_frame(m->max_frame);
	return PROTO_DERR_OK;
}

enum proto_derr
proto_decode_hello_ok(const struct proto_frame *f, struct proto_hello_ok *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_HELLO_OK)) != PROTO_DERR_OK)
		return e;
	m->version = rd_u16(&r);
	m->server_version = rd_str(&r);
	m->max_frame = rd_u32(&r);
	m->max_handles = rd_u32(&r);
	m->max_queued = rd_u32(&r);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	if (!hello_ok_valid(m))
		return PROTO_DERR_BAD_VALUE;
	m->max_frame = clamp_frame(m->max_frame);
	return PROTO_DERR_OK;
}

/* The overrides iterator yields 2 × n_overrides strings: key, value, key, value... */
enum proto_derr
proto_decode_open(const struct proto_frame *f, struct proto_open *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_OPEN)) != PROTO_DERR_OK)
		return e;
	m->environment = rd_str(&r);
	m->role = rd_str(&r);
	m->flags = rd_u32(&r);
	m->n_overrides = rd_u16(&r);
	rd_list(&r, 2 * (uint32_t)m->n_overrides, false, &m->overrides);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	return open_valid(m) ? PROTO_DERR_OK : PROTO_DERR_BAD_VALUE;
}

enum proto_derr
proto_decode_open_ok(const struct proto_frame *f, struct proto_open_ok *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_OPEN_OK)) != PROTO_DERR_OK)
		return e;
	m->handle_id = rd_u32(&r);
	m->pool_hash = rd_u64(&r);
	m->backend = rd_str(&r);
	return rd_end(&r);
}

/*
 * The parameters are NUL-terminated in the frame, so the daemon can hand
 * them to PQexecParams or sqlite3_bind_text without copying.
 */
enum proto_derr
proto_decode_exec(const struct proto_frame *f, uint16_t version, struct proto_exec *m)
{
	struct rd	 r;
	enum proto_derr	 e;
	uint16_t	 i;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_EXEC)) != PROTO_DERR_OK)
		return e;
	m->version = version;
	m->handle_id = rd_u32(&r);
	m->flags = rd_u32(&r);
	m->cache_max_age_ms = rd_u32(&r);
	m->sql = rd_str(&r);
	m->nparams = rd_u16(&r);
	rd_list(&r, m->nparams, true, &m->param_iter);
	if (version >= 2)
		m->format_bytes = rd_fixed(&r, m->nparams, 2);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	for (i = 0; m->format_bytes != NULL && i < m->nparams; i++)
		if (proto_exec_format(m, i) > PROTO_FORMAT_BINARY)
			return PROTO_DERR_BAD_VALUE;
	return exec_valid(m) ? PROTO_DERR_OK : PROTO_DERR_BAD_VALUE;
}

/* The format of parameter i of a decoded EXEC: text in version 1, and out of range. */
uint16_t
proto_exec_format(const struct proto_exec *m, uint16_t i)
{
	if (m->format_bytes == NULL || i >= m->nparams)
		return PROTO_FORMAT_TEXT;
	return be16_get(m->format_bytes + 2 * (size_t)i);
}

enum proto_derr
proto_decode_handle(const struct proto_frame *f, uint32_t *handle_id)
{
	struct rd	 r;
	enum proto_derr	 e;

	*handle_id = 0;
	if ((e = rd_begin(&r, f, LAYOUT_HANDLE)) != PROTO_DERR_OK)
		return e;
	*handle_id = rd_u32(&r);
	return rd_end(&r);
}

enum proto_derr
proto_decode_empty(const struct proto_frame *f)
{
	struct rd	 r;
	enum proto_derr	 e;

	if ((e = rd_begin(&r, f, LAYOUT_EMPTY)) != PROTO_DERR_OK)
		return e;
	return rd_end(&r);
}

enum proto_derr
proto_decode_row_desc(const struct proto_frame *f, uint16_t version,
    struct proto_row_desc *m)
{
	struct proto_col c;
	struct rd	 r;
	enum proto_derr	 e;
	uint16_t	 i;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_ROW_DESC)) != PROTO_DERR_OK)
		return e;
	m->version = version;
	m->ncols = rd_u16(&r);
	rd_list(&r, m->ncols, false, &m->name_iter);
	if (version >= 2)
		m->col_bytes = rd_fixed(&r, m->ncols, PROTO_COL_SIZE);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	for (i = 0; m->col_bytes != NULL && i < m->ncols; i++) {
		proto_row_desc_col(m, i, &c);
		if (c.format > PROTO_FORMAT_BINARY)
			return PROTO_DERR_BAD_VALUE;
	}
	return PROTO_DERR_OK;
}

/*
 * Column i's type of a decoded ROW_DESC.  Version 1 carries none: the column
 * is then of unknown type (0) and text, as version 1 values are.
 */
void
proto_row_desc_col(const struct proto_row_desc *m, uint16_t i, struct proto_col *c)
{
	const uint8_t	*p;

	if (m->col_bytes == NULL || i >= m->ncols) {
		c->type_oid = 0;
		c->typmod = -1;
		c->format = PROTO_FORMAT_TEXT;
		return;
	}
	p = m->col_bytes + PROTO_COL_SIZE * (size_t)i;
	c->type_oid = be32_get(p);
	c->typmod = (int32_t)be32_get(p + 4);
	c->format = be16_get(p + 8);
}

enum proto_derr
proto_decode_data_row(const struct proto_frame *f, struct proto_data_row *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_DATA_ROW)) != PROTO_DERR_OK)
		return e;
	m->ncols = rd_u16(&r);
	rd_list(&r, m->ncols, true, &m->value_iter);
	return rd_end(&r);
}

enum proto_derr
proto_decode_complete(const struct proto_frame *f, struct proto_complete *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_COMPLETE)) != PROTO_DERR_OK)
		return e;
	m->rows_affected = rd_u64(&r);
	m->command_tag = rd_str(&r);
	m->cache_state = rd_u8(&r);
	m->more = (f->hdr.flags & PROTO_F_MORE) != 0;
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	return complete_valid(m) ? PROTO_DERR_OK : PROTO_DERR_BAD_VALUE;
}

enum proto_derr
proto_decode_error(const struct proto_frame *f, struct proto_error *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_ERROR)) != PROTO_DERR_OK)
		return e;
	m->code = rd_u16(&r);
	m->sqlstate = rd_str(&r);
	m->message = rd_str(&r);
	m->detail = rd_str(&r);
	m->hint = rd_str(&r);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	return code_valid(m->code) ? PROTO_DERR_OK : PROTO_DERR_BAD_VALUE;
}

enum proto_derr
proto_decode_goodbye(const struct proto_frame *f, struct proto_goodbye *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_GOODBYE)) != PROTO_DERR_OK)
		return e;
	m->code = rd_u16(&r);
	m->reason = rd_str(&r);
	if ((e = rd_end(&r)) != PROTO_DERR_OK)
		return e;
	return code_valid(m->code) ? PROTO_DERR_OK : PROTO_DERR_BAD_VALUE;
}

enum proto_derr
proto_decode_resolve(const struct proto_frame *f, struct proto_resolve *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_RESOLVE)) != PROTO_DERR_OK)
		return e;
	m->environment = rd_str(&r);
	m->role = rd_str(&r);
	return rd_end(&r);
}

enum proto_derr
proto_decode_dispose_pool(const struct proto_frame *f, struct proto_dispose_pool *m)
{
	struct rd	 r;
	enum proto_derr	 e;

	memset(m, 0, sizeof(*m));
	if ((e = rd_begin(&r, f, LAYOUT_DISPOSE_POOL)) != PROTO_DERR_OK)
		return e;
	m->target = rd_str(&r);
	return rd_end(&r);
}

/*
 * Returns the next element of a decoded array: true with *v set (v->ptr NULL
 * for SQL NULL), false at the end.  The array was validated when decoded;
 * the bounds are checked again anyway, so a hand-made iterator cannot read
 * past its end either.
 */
bool
proto_iter_next(struct proto_iter *it, struct proto_value *v)
{
	uint32_t	 len;
	size_t		 room;

	if (it->left == 0 || it->p == NULL || it->end < it->p)
		return false;
	room = (size_t)(it->end - it->p);
	if (room < 4)
		return false;
	len = be32_get(it->p);
	if (len == PROTO_NULL_LEN) {
		v->ptr = NULL;
		v->len = 0;
		it->p += 4;
	} else {
		if (room - 4 < (size_t)len + 1)
			return false;
		v->ptr = (const char *)it->p + 4;
		v->len = len;
		it->p += 4 + (size_t)len + 1;
	}
	it->left--;
	return true;
}
