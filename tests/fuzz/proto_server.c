/* proto_server.c (fuzz): what dbmd reads from a client: frame headers and request payloads. */

/*
 * The input is a client's byte stream after one leading byte that picks the frame
 * limit.  It is cut into frames as session.c does it: the header alone is judged first,
 * then the whole frame, and each frame goes to the decoder for its type.  Every request
 * decoder is also tried on every frame, where it must refuse a type not its own.  A
 * frame that decodes is encoded again from what was decoded, and must come out as the
 * same bytes: a decoder that accepts what the encoder would never write, or reads a
 * field from the wrong place, shows up here rather than as a crash.
 */

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz.h"

static const uint32_t limits[] = {
	PROTO_HANDSHAKE_MAX_FRAME, PROTO_DEFAULT_MAX_FRAME, PROTO_MAX_FRAME_LIMIT, UINT32_MAX,
};

/* The frame encoded into b must be f, byte for byte; its header lies before its payload. */
static void
same_frame(struct proto_buf *b, enum proto_err e, const struct proto_frame *f)
{
	FUZZ_ASSERT(e == PROTO_E_OK);
	FUZZ_ASSERT(b->len == PROTO_HDR_SIZE + (size_t)f->hdr.length);
	FUZZ_ASSERT(memcmp(b->data, f->payload - PROTO_HDR_SIZE, b->len) == 0);
	proto_buf_reset(b);
}

static void
walk_hello(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_hello m, again;
	struct proto_frame g;
	enum proto_err e;

	if (proto_decode_hello(f, &m) != PROTO_DERR_OK)
		return;
	FUZZ_ASSERT(m.max_frame <= PROTO_MAX_FRAME_LIMIT);
	FUZZ_ASSERT(proto_version_choose(m.min_version, m.max_version) <= PROTO_VERSION_MAX);
	e = proto_encode_hello(b, f->hdr.request_id, &m);
	FUZZ_ASSERT(e == PROTO_E_OK);
	FUZZ_ASSERT(proto_frame_check(b->data, b->len, PROTO_MAX_FRAME_LIMIT, &g) > 0);
	FUZZ_ASSERT(proto_decode_hello(&g, &again) == PROTO_DERR_OK);
	FUZZ_ASSERT(again.min_version == m.min_version && again.max_version == m.max_version);
	FUZZ_ASSERT(strcmp(again.client_name, m.client_name) == 0);
	FUZZ_ASSERT(again.pid == m.pid && again.max_frame == m.max_frame);
	/* The limit is clamped when decoded; anything else must come back as it was. */
	if (memcmp(f->payload + f->hdr.length - 4, g.payload + g.hdr.length - 4, 4) == 0)
		same_frame(b, e, f);
	proto_buf_reset(b);
}

static void
walk_open(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_open m;
	struct proto_value v;
	const char **kv;
	size_t n = 0;

	if (proto_decode_open(f, &m) != PROTO_DERR_OK)
		return;
	if ((kv = calloc(2 * (size_t)m.n_overrides + 1, sizeof(*kv))) == NULL)
		abort();
	while (proto_iter_next(&m.overrides, &v)) {
		FUZZ_ASSERT(v.ptr != NULL && strlen(v.ptr) == v.len);
		FUZZ_ASSERT(n < 2 * (size_t)m.n_overrides);
		/* Keys first, then values, as the encoder takes them. */
		kv[n % 2 == 0 ? n / 2 : m.n_overrides + n / 2] = v.ptr;
		n++;
	}
	FUZZ_ASSERT(n == 2 * (size_t)m.n_overrides);
	m.keys = kv;
	m.values = kv + m.n_overrides;
	same_frame(b, proto_encode_open(b, f->hdr.request_id, &m), f);
	free(kv);
}

/*
 * EXEC in the layout of one version: the formats version 2 adds are read through the
 * accessor, which must agree with the decoder's check, and written back as they came.
 */
static void
walk_exec_version(struct proto_buf *b, const struct proto_frame *f, uint16_t version)
{
	struct proto_exec m;
	struct proto_value v;
	const char **params;
	uint32_t *lens;
	uint16_t *formats, i;
	size_t n = 0;

	if (proto_decode_exec(f, version, &m) != PROTO_DERR_OK)
		return;
	FUZZ_ASSERT(m.sql != NULL);
	FUZZ_ASSERT(m.version == version);
	FUZZ_ASSERT(version >= 2 || m.format_bytes == NULL);
	FUZZ_ASSERT(version < 2 || m.nparams == 0 || m.format_bytes != NULL);
	if ((params = calloc((size_t)m.nparams + 1, sizeof(*params))) == NULL ||
	    (lens = calloc((size_t)m.nparams + 1, sizeof(*lens))) == NULL ||
	    (formats = calloc((size_t)m.nparams + 1, sizeof(*formats))) == NULL)
		abort();
	while (proto_iter_next(&m.param_iter, &v)) {
		FUZZ_ASSERT(n < m.nparams);
		FUZZ_ASSERT(v.ptr == NULL || v.ptr[v.len] == '\0');
		params[n] = v.ptr;
		lens[n++] = v.len;
	}
	FUZZ_ASSERT(n == m.nparams);
	for (i = 0; i < m.nparams; i++) {
		formats[i] = proto_exec_format(&m, i);
		FUZZ_ASSERT(formats[i] <= PROTO_FORMAT_BINARY);
		FUZZ_ASSERT(version >= 2 || formats[i] == PROTO_FORMAT_TEXT);
	}
	m.params = params;
	m.param_lens = lens;
	m.formats = formats;
	same_frame(b, proto_encode_exec(b, f->hdr.request_id, &m), f);
	free(params);
	free(lens);
	free(formats);
}

/* A frame may be an EXEC of either version (never both, unless it has no parameters). */
static void
walk_exec(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_exec m1, m2;

	if (proto_decode_exec(f, 1, &m1) == PROTO_DERR_OK &&
	    proto_decode_exec(f, 2, &m2) == PROTO_DERR_OK)
		FUZZ_ASSERT(m1.nparams == 0 && m2.nparams == 0);
	walk_exec_version(b, f, 1);
	walk_exec_version(b, f, 2);
}

static void
walk_handle(struct proto_buf *b, const struct proto_frame *f)
{
	uint32_t id;

	if (proto_decode_handle(f, &id) == PROTO_DERR_OK)
		same_frame(b, proto_encode_handle(b, f->hdr.type, f->hdr.request_id, id), f);
}

static void
walk_empty(struct proto_buf *b, const struct proto_frame *f)
{
	if (proto_decode_empty(f) == PROTO_DERR_OK)
		same_frame(b, proto_encode_empty(b, f->hdr.type, f->hdr.request_id), f);
}

static void
walk_resolve(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_resolve m;

	if (proto_decode_resolve(f, &m) == PROTO_DERR_OK)
		same_frame(b, proto_encode_resolve(b, f->hdr.request_id, &m), f);
}

static void
walk_dispose_pool(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_dispose_pool m;

	if (proto_decode_dispose_pool(f, &m) != PROTO_DERR_OK)
		return;
	if (f->hdr.type == PROTO_MSG_DISPOSE_POOL)
		same_frame(b, proto_encode_dispose_pool(b, f->hdr.request_id, &m), f);
	else
		same_frame(b, proto_encode_cache_flush(b, f->hdr.request_id, &m), f);
}

/* Each request decoder refuses the frames of the types it does not decode. */
static void
wrong_types(const struct proto_frame *f)
{
	struct proto_hello h;
	struct proto_open o;
	struct proto_exec x;
	struct proto_resolve r;
	struct proto_dispose_pool d;
	uint32_t id;
	uint16_t t = f->hdr.type;

	if (t != PROTO_MSG_HELLO)
		FUZZ_ASSERT(proto_decode_hello(f, &h) == PROTO_DERR_WRONG_TYPE);
	if (t != PROTO_MSG_OPEN)
		FUZZ_ASSERT(proto_decode_open(f, &o) == PROTO_DERR_WRONG_TYPE);
	if (t != PROTO_MSG_EXEC) {
		FUZZ_ASSERT(proto_decode_exec(f, 1, &x) == PROTO_DERR_WRONG_TYPE);
		FUZZ_ASSERT(proto_decode_exec(f, 2, &x) == PROTO_DERR_WRONG_TYPE);
	}
	if (t != PROTO_MSG_BEGIN && t != PROTO_MSG_COMMIT && t != PROTO_MSG_ROLLBACK &&
	    t != PROTO_MSG_DISPOSE)
		FUZZ_ASSERT(proto_decode_handle(f, &id) == PROTO_DERR_WRONG_TYPE);
	if (t != PROTO_MSG_PING && t != PROTO_MSG_STATUS && t != PROTO_MSG_CLIENTS &&
	    t != PROTO_MSG_RELOAD && t != PROTO_MSG_OK && t != PROTO_MSG_PONG)
		FUZZ_ASSERT(proto_decode_empty(f) == PROTO_DERR_WRONG_TYPE);
	if (t != PROTO_MSG_RESOLVE)
		FUZZ_ASSERT(proto_decode_resolve(f, &r) == PROTO_DERR_WRONG_TYPE);
	if (t != PROTO_MSG_DISPOSE_POOL && t != PROTO_MSG_CACHE_FLUSH)
		FUZZ_ASSERT(proto_decode_dispose_pool(f, &d) == PROTO_DERR_WRONG_TYPE);
}

/* One frame, as session_dispatch would take it. */
static void
serve(struct proto_buf *b, const struct proto_frame *f)
{
	FUZZ_ASSERT(proto_msg_name(f->hdr.type) != NULL);
	wrong_types(f);
	switch (f->hdr.type) {
	case PROTO_MSG_HELLO:
		walk_hello(b, f);
		break;
	case PROTO_MSG_OPEN:
		walk_open(b, f);
		break;
	case PROTO_MSG_EXEC:
		walk_exec(b, f);
		break;
	case PROTO_MSG_BEGIN:
	case PROTO_MSG_COMMIT:
	case PROTO_MSG_ROLLBACK:
	case PROTO_MSG_DISPOSE:
		walk_handle(b, f);
		break;
	case PROTO_MSG_PING:
	case PROTO_MSG_STATUS:
	case PROTO_MSG_CLIENTS:
	case PROTO_MSG_RELOAD:
		walk_empty(b, f);
		break;
	case PROTO_MSG_RESOLVE:
		walk_resolve(b, f);
		break;
	case PROTO_MSG_DISPOSE_POOL:
	case PROTO_MSG_CACHE_FLUSH:
		walk_dispose_pool(b, f);
		break;
	default:
		/* A reply type from a client: the daemon refuses it; the decoders may not crash. */
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_frame f, whole;
	struct proto_buf b;
	uint32_t limit;
	size_t total;
	int rc;

	if (size < 1)
		return 0;
	limit = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
	data++, size--;
	proto_buf_init(&b);
	while (size >= PROTO_HDR_SIZE) {
		rc = proto_frame_check(data, PROTO_HDR_SIZE, limit, &f);
		FUZZ_ASSERT(rc <= (int)PROTO_HDR_SIZE);
		if (rc < 0) {
			FUZZ_ASSERT(-rc > PROTO_DERR_OK && -rc < PROTO_DERR_MAX_);
			FUZZ_ASSERT(proto_derr_str((enum proto_derr)-rc) != NULL);
			break;
		}
		FUZZ_ASSERT(proto_msg_is_request(f.hdr.type) || proto_msg_is_reply(f.hdr.type));
		total = PROTO_HDR_SIZE + (size_t)f.hdr.length;
		if (size < total)
			break;
		rc = proto_frame_check(data, total, limit, &whole);
		FUZZ_ASSERT(rc > 0 && (size_t)rc == total);
		FUZZ_ASSERT(whole.payload == data + PROTO_HDR_SIZE);
		serve(&b, &whole);
		data += total;
		size -= total;
	}
	proto_buf_free(&b);
	return 0;
}
