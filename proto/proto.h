/* proto.h: the dbmd wire protocol, shared by the daemon and libdbmclient. */

/*
 * This header is self-contained on purpose: it is compiled into dbmd, into
 * libdbmclient and into the tests, so it may include nothing from any of them
 * and nothing from libevent.  proto/PROTOCOL.md is the specification; this
 * file is its C rendering.  Where the two disagree, that is a bug in one of
 * them.
 *
 * Ownership in one paragraph: encoders copy everything they are given into a
 * struct proto_buf, which owns its memory (proto_buf_free).  Decoders never
 * allocate: every string and every array a decoder returns points into the
 * frame's payload and is valid exactly as long as the bytes of that frame are.
 */

#ifndef DBMD_PROTO_H
#define DBMD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol versions this code speaks; HELLO negotiates one of them. */
#define PROTO_VERSION_MIN		1
#define PROTO_VERSION_MAX		2

/* First field of HELLO: "DBM1" in ASCII, so a stray peer is spotted at once. */
#define PROTO_MAGIC			0x44424D31u

/* Bytes in every frame header: u32 length, u16 type, u16 flags, u32 request_id. */
#define PROTO_HDR_SIZE			12

/* Payload limits.  Each side announces the largest payload it accepts. */
#define PROTO_DEFAULT_MAX_FRAME		(1u << 20)	/* 1 MiB, the usual announcement */
#define PROTO_MAX_FRAME_LIMIT		(64u << 20)	/* hard cap; larger ones are clamped */
#define PROTO_HANDSHAKE_MAX_FRAME	(16u << 10)	/* until HELLO_OK; smallest legal limit */

/* The length of an nstr that carries SQL NULL: no bytes follow it. */
#define PROTO_NULL_LEN			0xFFFFFFFFu

/*
 * Message types.  Client-to-server requests are 1..63, server-to-client
 * frames 64..127; 0 and 128..65535 are never valid.  The numbers are part of
 * the protocol and never change meaning.
 */
enum proto_msg {
	PROTO_MSG_HELLO = 1,		/* first frame: magic, versions, name, pid, limit */
	PROTO_MSG_OPEN = 2,		/* open a handle on environment/role with overrides */
	PROTO_MSG_EXEC = 3,		/* run one statement on a handle */
	PROTO_MSG_BEGIN = 4,		/* start a transaction on a handle */
	PROTO_MSG_COMMIT = 5,		/* commit the handle's transaction */
	PROTO_MSG_ROLLBACK = 6,		/* roll back the handle's transaction */
	PROTO_MSG_DISPOSE = 7,		/* release a handle */
	PROTO_MSG_PING = 8,		/* liveness check; answered by PONG */
	PROTO_MSG_STATUS = 9,		/* operator: pools and counters */
	PROTO_MSG_CLIENTS = 10,		/* operator: connected clients */
	PROTO_MSG_RESOLVE = 11,		/* operator: resolved configuration of env/role */
	PROTO_MSG_RELOAD = 12,		/* operator: reread the configuration */
	PROTO_MSG_DISPOSE_POOL = 13,	/* operator: drain pools by hash prefix or ENV/ROLE */
	PROTO_MSG_CACHE_FLUSH = 14,	/* operator: empty pools' result caches, same target */

	PROTO_MSG_HELLO_OK = 64,	/* handshake accepted: version and limits */
	PROTO_MSG_OPEN_OK = 65,		/* handle opened */
	PROTO_MSG_ROW_DESC = 66,	/* column names of the result set that follows */
	PROTO_MSG_DATA_ROW = 67,	/* one row of a result set */
	PROTO_MSG_COMPLETE = 68,	/* end of a result set (PROTO_F_MORE: another follows) */
	PROTO_MSG_OK = 69,		/* generic success, empty payload */
	PROTO_MSG_ERROR = 70,		/* the request failed; ends the reply */
	PROTO_MSG_PONG = 71,		/* answer to PING */
	PROTO_MSG_GOODBYE = 72,		/* the server is closing the connection, with a reason */
};

#define PROTO_MSG_REQUEST_FIRST		1
#define PROTO_MSG_REQUEST_LAST		63
#define PROTO_MSG_REPLY_FIRST		64
#define PROTO_MSG_REPLY_LAST		127

/* Header flags.  A bit not listed for a type must be zero (PROTO_DERR_BAD_FLAGS). */
#define PROTO_F_MORE			0x0001	/* COMPLETE only: another result set follows */

/* Payload flags of OPEN.  Undefined bits must be zero. */
#define PROTO_OPEN_PINNED		0x00000001u	/* one backend connection for life */

/* Formats of EXEC parameters and ROW_DESC columns (version 2). */
#define PROTO_FORMAT_TEXT		0	/* the backend's text form */
#define PROTO_FORMAT_BINARY		1	/* bytes as they are (bytea, BLOB) */

/* A column's type in a version 2 ROW_DESC; PostgreSQL's numbers on both backends. */
#define PROTO_OID_BOOL			16
#define PROTO_OID_BYTEA			17
#define PROTO_OID_CHAR			18	/* "char", one byte */
#define PROTO_OID_NAME			19
#define PROTO_OID_INT8			20
#define PROTO_OID_INT2			21
#define PROTO_OID_INT4			23
#define PROTO_OID_TEXT			25
#define PROTO_OID_OID			26
#define PROTO_OID_JSON			114
#define PROTO_OID_FLOAT4		700
#define PROTO_OID_FLOAT8		701
#define PROTO_OID_UNKNOWN		705
#define PROTO_OID_BPCHAR		1042	/* char(n) */
#define PROTO_OID_VARCHAR		1043
#define PROTO_OID_DATE			1082
#define PROTO_OID_TIME			1083
#define PROTO_OID_TIMESTAMP		1114
#define PROTO_OID_TIMESTAMPTZ		1184
#define PROTO_OID_INTERVAL		1186
#define PROTO_OID_TIMETZ		1266
#define PROTO_OID_NUMERIC		1700
#define PROTO_OID_UUID			2950
#define PROTO_OID_JSONB			3802

/* Payload flags of EXEC.  None are defined in version 1; the field must be zero. */
#define PROTO_EXEC_FLAGS_MASK		0x00000000u

/* What the result cache did with a statement; COMPLETE carries it. */
enum proto_cache_state {
	PROTO_CACHE_BYPASS = 0,		/* not cacheable, or caching not asked for */
	PROTO_CACHE_MISS = 1,		/* cacheable: ran on the backend (stored if it could be) */
	PROTO_CACHE_HIT = 2,		/* answered from the cache */
	PROTO_CACHE_MAX_
};

/*
 * Error codes, on the wire in ERROR and GOODBYE and returned by encoders.
 * The public library mirrors them as DBM_E_* with the same values, so the
 * numbers are stable: never renumber, only append before PROTO_E_MAX_.
 */
enum proto_err {
	PROTO_E_OK = 0,			/* success; never sent in ERROR or GOODBYE */
	PROTO_E_PROTOCOL = 1,		/* malformed frame or a message out of order */
	PROTO_E_VERSION = 2,		/* no protocol version both sides speak */
	PROTO_E_UNKNOWN_ENV = 3,	/* no such environment is configured */
	PROTO_E_UNKNOWN_ROLE = 4,	/* the environment has no such role */
	PROTO_E_CONFIG = 5,		/* the configuration is invalid */
	PROTO_E_NOT_OVERRIDABLE = 6,	/* an override names a key this client may not set */
	PROTO_E_PERMISSION = 7,		/* the peer's credentials do not allow this */
	PROTO_E_LIMIT = 8,		/* a limit was reached (handles, queue, frame size) */
	PROTO_E_BACKEND = 9,		/* the database cannot be opened or reached */
	PROTO_E_SQL = 10,		/* the statement failed; ERROR carries the SQLSTATE */
	PROTO_E_TIMEOUT = 11,		/* waited too long (pool acquire, statement, drain) */
	PROTO_E_NO_HANDLE = 12,		/* unknown or already disposed handle */
	PROTO_E_TXN_STATE = 13,		/* BEGIN inside a transaction, COMMIT outside one */
	PROTO_E_SHUTDOWN = 14,		/* the server is shutting down */
	PROTO_E_DRAINING = 15,		/* the pool is draining or was disposed */
	PROTO_E_CANCELED = 16,		/* the request was abandoned before it completed */
	PROTO_E_CONNECTION = 17,	/* client side only: the connection to dbmd is lost */
	PROTO_E_INTERNAL = 18,		/* a bug, or an API misused; see the message */
	PROTO_E_NOMEM = 19,		/* out of memory */
	PROTO_E_MAX_
};

/* Why a frame or payload was rejected.  Any of these is a protocol error. */
enum proto_derr {
	PROTO_DERR_OK = 0,		/* well formed */
	PROTO_DERR_TRUNCATED,		/* the payload ends inside a field */
	PROTO_DERR_TRAILING,		/* bytes are left after the last field */
	PROTO_DERR_OVERSIZED,		/* header length exceeds the receiver's limit */
	PROTO_DERR_UNKNOWN_TYPE,	/* no message has this type number */
	PROTO_DERR_BAD_FLAGS,		/* header flags not defined for this type */
	PROTO_DERR_BAD_LENGTH,		/* header length impossible for this type */
	PROTO_DERR_BAD_STRING,		/* string without its NUL, or str with a NUL inside */
	PROTO_DERR_UNEXPECTED_NULL,	/* SQL NULL where a non-nullable str belongs */
	PROTO_DERR_BAD_COUNT,		/* element count larger than the payload could hold */
	PROTO_DERR_BAD_MAGIC,		/* HELLO does not start with PROTO_MAGIC */
	PROTO_DERR_BAD_VALUE,		/* a field holds a value outside its range */
	PROTO_DERR_WRONG_TYPE,		/* decoder called on a frame of another type (a bug) */
	PROTO_DERR_NOMEM,		/* the stream decoder could not grow its buffer */
	PROTO_DERR_MAX_
};

/* The fixed header of a frame, in host byte order. */
struct proto_frame_hdr {
	uint32_t	 length;	/* payload bytes after the header */
	uint16_t	 type;		/* enum proto_msg */
	uint16_t	 flags;		/* PROTO_F_* */
	uint32_t	 request_id;	/* chosen by the client, echoed in its reply */
};

/* A complete frame; payload points at hdr.length bytes owned by someone else. */
struct proto_frame {
	struct proto_frame_hdr	 hdr;
	const uint8_t		*payload;
};

/*
 * A string or SQL value as it lies in a frame.  ptr is NULL for SQL NULL;
 * otherwise it points at len bytes followed by a NUL, so it can be used as a
 * C string (values may hold NULs of their own; len is then the truth).
 */
struct proto_value {
	const char	*ptr;
	uint32_t	 len;
};

/*
 * Walks an array a decoder has already validated (parameters, column names,
 * row values, override pairs) without copying anything.  Copy the struct to
 * walk the array twice.
 */
struct proto_iter {
	const uint8_t	*p;		/* next element */
	const uint8_t	*end;		/* end of the array's bytes */
	uint32_t	 left;		/* elements not yet returned */
};

/*
 * Growable output buffer holding zero or more whole frames plus at most one
 * open frame (between proto_begin and proto_end).  Errors are sticky so a
 * producer can write a whole frame and check once, at proto_end.
 */
struct proto_buf {
	uint8_t		*data;
	size_t		 len;		/* bytes written, whole frames first */
	size_t		 cap;		/* bytes allocated */
	size_t		 frame;		/* offset of the open frame, or PROTO_BUF_NO_FRAME */
	uint32_t	 max_payload;	/* the peer's limit: larger frames are refused */
	int		 oom;		/* an allocation failed; cleared by proto_buf_reset */
	int		 toobig;	/* open frame passed max_payload; proto_end clears */
};

#define PROTO_BUF_NO_FRAME		((size_t)-1)
/* Growing a buffer beyond this counts as running out of memory. */
#define PROTO_BUF_MAX			((size_t)1 << 30)

/*
 * Incremental frame reader for a byte stream: feed it bytes split anywhere,
 * take whole frames out.  Frames returned by proto_decoder_next point into
 * buf and stay valid until the next proto_decoder_feed, _space or _free.
 */
struct proto_decoder {
	uint8_t		*buf;
	size_t		 len;		/* bytes held */
	size_t		 cap;		/* bytes allocated */
	size_t		 pos;		/* first byte not yet returned in a frame */
	uint32_t	 max_payload;	/* our limit; may be changed between calls */
	enum proto_derr	 err;		/* sticky once set */
	char		 errstr[128];	/* what went wrong, for logs and dbm_errmsg */
};

/*
 * Message bodies.  Each struct is filled by the caller for encoding and by the
 * decoder on decoding.  Decoded strings point into the frame (zero copy) and
 * are NUL-terminated.  Encoders write a NULL `const char *` as "".
 * Array members: encoders read the pointer arrays; decoders leave those NULL
 * and set the matching struct proto_iter instead.
 */
struct proto_hello {
	uint16_t	 min_version;
	uint16_t	 max_version;
	const char	*client_name;	/* program name, for logs and CLIENTS */
	uint32_t	 pid;		/* informational; the server trusts SO_PEERCRED */
	uint32_t	 max_frame;	/* largest payload the client accepts (clamped on decode) */
};

struct proto_hello_ok {
	uint16_t	 version;	/* chosen by the server */
	const char	*server_version;
	uint32_t	 max_frame;	/* largest payload the server accepts (clamped on decode) */
	uint32_t	 max_handles;	/* open handles allowed per connection */
	uint32_t	 max_queued;	/* requests in flight allowed per connection */
};

struct proto_open {
	const char		*environment;
	const char		*role;
	uint32_t		 flags;		/* PROTO_OPEN_* */
	uint16_t		 n_overrides;
	const char *const	*keys;		/* encode: n_overrides keys */
	const char *const	*values;	/* encode: n_overrides values */
	struct proto_iter	 overrides;	/* decode: key, value, key, value, ... */
};

struct proto_open_ok {
	uint32_t	 handle_id;
	uint64_t	 pool_hash;	/* equal hashes: the handles share one pool */
	const char	*backend;	/* "sqlite" or "postgresql" */
};

struct proto_exec {
	uint16_t		 version;	/* encode: the layout, 1 or 2 (0 is 1) */
	uint32_t		 handle_id;
	uint32_t		 flags;		/* must be 0 in version 1 */
	uint32_t		 cache_max_age_ms; /* 0: do not use the cache */
	const char		*sql;
	uint16_t		 nparams;
	const char *const	*params;	/* encode: nparams values, NULL = SQL NULL */
	const uint32_t		*param_lens;	/* encode: lengths, or NULL to use strlen */
	struct proto_iter	 param_iter;	/* decode: the nparams values */
	const uint16_t		*formats;	/* encode, version 2: PROTO_FORMAT_*, NULL all text */
	const uint8_t		*format_bytes;	/* decode, version 2: see proto_exec_format */
};

/* One column's type and format in a version 2 ROW_DESC: u32, i32, u16 on the wire. */
#define PROTO_COL_SIZE			10
struct proto_col {
	uint32_t	 type_oid;	/* 0: unknown */
	int32_t		 typmod;	/* -1: none */
	uint16_t	 format;	/* PROTO_FORMAT_* of the column's values */
};

struct proto_row_desc {
	uint16_t		 version;	/* encode: the layout, 1 or 2 (0 is 1) */
	uint16_t		 ncols;
	const char *const	*names;		/* encode: ncols column names */
	const struct proto_col	*cols;		/* encode, version 2: ncols types, NULL all text */
	struct proto_iter	 name_iter;	/* decode: the ncols names (never NULL) */
	const uint8_t		*col_bytes;	/* decode, version 2: see proto_row_desc_col */
};

struct proto_data_row {
	uint16_t		 ncols;
	const char *const	*values;	/* encode: ncols values, NULL = SQL NULL */
	const uint32_t		*lengths;	/* encode: lengths, or NULL to use strlen */
	struct proto_iter	 value_iter;	/* decode: the ncols values */
};

struct proto_complete {
	uint64_t	 rows_affected;
	const char	*command_tag;	/* "SELECT 3", "INSERT 0 1", "" */
	uint8_t		 cache_state;	/* enum proto_cache_state */
	bool		 more;		/* header flag PROTO_F_MORE */
};

struct proto_error {
	uint16_t	 code;		/* enum proto_err, never PROTO_E_OK */
	const char	*sqlstate;	/* five characters, or "" */
	const char	*message;
	const char	*detail;	/* "" when none */
	const char	*hint;		/* "" when none */
};

struct proto_goodbye {
	uint16_t	 code;		/* enum proto_err, never PROTO_E_OK */
	const char	*reason;
};

struct proto_resolve {
	const char	*environment;
	const char	*role;
};

/* DISPOSE_POOL and CACHE_FLUSH: which pools. */
struct proto_dispose_pool {
	const char	*target;	/* pool hash prefix in hex, or ENV/ROLE */
};

/*
 * proto.c: names, framing, output buffer, stream decoder.
 *
 * proto_frame_check returns the frame's total size (> 0) when p[0..n) holds
 * a whole frame, 0 when more bytes are needed, and -(enum proto_derr) when
 * the header alone shows the frame is bad; see proto.c for the details.
 */
const char	*proto_msg_name(uint16_t type);		/* "EXEC"; "UNKNOWN" if no such type */
const char	*proto_strerror(int code);		/* text of an enum proto_err */
const char	*proto_derr_str(enum proto_derr err);	/* text of an enum proto_derr */
bool		 proto_msg_is_request(uint16_t type);	/* a known client-to-server type */
bool		 proto_msg_is_reply(uint16_t type);	/* a known server-to-client type */
bool		 proto_frame_ends_reply(const struct proto_frame_hdr *hdr); /* last of a reply */
uint16_t	 proto_version_choose(uint16_t peer_min, uint16_t peer_max); /* 0: none in common */

int		 proto_frame_check(const uint8_t *p, size_t n, uint32_t max_payload,
		    struct proto_frame *f);		/* >0 size, 0 need more, <0 -derr */
size_t		 proto_frame_size(const uint8_t *hdr);	/* header + payload, from a header */
size_t		 proto_frames_last(const uint8_t *p, size_t n); /* offset of the last frame */
bool		 proto_frames_whole(const uint8_t *p, size_t n); /* whole frames, nothing more */
void		 proto_frames_set_reqid(uint8_t *p, size_t n, uint32_t reqid); /* in each */

void		 proto_buf_init(struct proto_buf *b);	/* empty, max_payload = hard cap */
void		 proto_buf_reset(struct proto_buf *b);	/* empty and error-free, memory kept */
void		 proto_buf_free(struct proto_buf *b);	/* release memory; NULL-safe */
int		 proto_buf_reserve(struct proto_buf *b, size_t n); /* room for n; -1 sets oom */
void		 proto_buf_consume(struct proto_buf *b, size_t n); /* drop n sent bytes */
void		 proto_buf_truncate(struct proto_buf *b, size_t mark); /* back to mark bytes */
size_t		 proto_begin(struct proto_buf *b, uint16_t type, uint16_t flags,
		    uint32_t request_id);		/* open a frame; returns its offset */
enum proto_err	 proto_end(struct proto_buf *b);	/* close it: OK, LIMIT, NOMEM */
void		 proto_put_u8(struct proto_buf *b, uint8_t v);
void		 proto_put_u16(struct proto_buf *b, uint16_t v);
void		 proto_put_u32(struct proto_buf *b, uint32_t v);
void		 proto_put_u64(struct proto_buf *b, uint64_t v);
void		 proto_put_str(struct proto_buf *b, const char *s);	/* NULL as "" */
void		 proto_put_strn(struct proto_buf *b, const char *s, size_t len); /* no NULs */
void		 proto_put_nstr(struct proto_buf *b, const char *s, size_t len); /* NULL: NULL */
void		 proto_put_col(struct proto_buf *b, const struct proto_col *c); /* NULL: text */

void		 proto_decoder_init(struct proto_decoder *d, uint32_t max_payload); /* 0: default */
void		 proto_decoder_free(struct proto_decoder *d);	/* NULL-safe */
int		 proto_decoder_feed(struct proto_decoder *d, const void *p, size_t n); /* 0 / -1 */
uint8_t		*proto_decoder_space(struct proto_decoder *d, size_t want, size_t *avail);
void		 proto_decoder_commit(struct proto_decoder *d, size_t n); /* n bytes were read */
int		 proto_decoder_next(struct proto_decoder *d, struct proto_frame *f); /* 1/0/-1 */

/*
 * msg.c: one encoder and one decoder per payload layout.  Encoders append one
 * whole frame to b and return PROTO_E_OK, or append nothing and return
 * PROTO_E_LIMIT (bigger than b->max_payload), PROTO_E_NOMEM, or
 * PROTO_E_INTERNAL (invalid arguments: a value the peer would reject).
 * Decoders return PROTO_DERR_OK or the first thing wrong with the payload.
 */
enum proto_err	 proto_encode_hello(struct proto_buf *b, uint32_t reqid,
		    const struct proto_hello *m);
enum proto_err	 proto_encode_hello_ok(struct proto_buf *b, uint32_t reqid,
		    const struct proto_hello_ok *m);
enum proto_err	 proto_encode_open(struct proto_buf *b, uint32_t reqid,
		    const struct proto_open *m);
enum proto_err	 proto_encode_open_ok(struct proto_buf *b, uint32_t reqid,
		    const struct proto_open_ok *m);
enum proto_err	 proto_encode_exec(struct proto_buf *b, uint32_t reqid,
		    const struct proto_exec *m);
enum proto_err	 proto_encode_handle(struct proto_buf *b, uint16_t type, uint32_t reqid,
		    uint32_t handle_id);		/* BEGIN, COMMIT, ROLLBACK, DISPOSE */
enum proto_err	 proto_encode_empty(struct proto_buf *b, uint16_t type,
		    uint32_t reqid);			/* PING PONG STATUS CLIENTS RELOAD OK */
enum proto_err	 proto_encode_row_desc(struct proto_buf *b, uint32_t reqid,
		    const struct proto_row_desc *m);
enum proto_err	 proto_encode_data_row(struct proto_buf *b, uint32_t reqid,
		    const struct proto_data_row *m);
bool		 proto_complete_set_cache_state(uint8_t *frame, size_t n, uint8_t state);
enum proto_err	 proto_encode_complete(struct proto_buf *b, uint32_t reqid,
		    const struct proto_complete *m);
enum proto_err	 proto_encode_error(struct proto_buf *b, uint32_t reqid,
		    const struct proto_error *m);
enum proto_err	 proto_encode_goodbye(struct proto_buf *b, uint32_t reqid,
		    const struct proto_goodbye *m);
enum proto_err	 proto_encode_resolve(struct proto_buf *b, uint32_t reqid,
		    const struct proto_resolve *m);
enum proto_err	 proto_encode_dispose_pool(struct proto_buf *b, uint32_t reqid,
		    const struct proto_dispose_pool *m);
enum proto_err	 proto_encode_cache_flush(struct proto_buf *b, uint32_t reqid,
		    const struct proto_dispose_pool *m);

enum proto_derr	 proto_decode_hello(const struct proto_frame *f, struct proto_hello *m);
enum proto_derr	 proto_decode_hello_ok(const struct proto_frame *f,
		    struct proto_hello_ok *m);
enum proto_derr	 proto_decode_open(const struct proto_frame *f, struct proto_open *m);
enum proto_derr	 proto_decode_open_ok(const struct proto_frame *f,
		    struct proto_open_ok *m);
enum proto_derr	 proto_decode_exec(const struct proto_frame *f, uint16_t version,
		    struct proto_exec *m);
uint16_t	 proto_exec_format(const struct proto_exec *m, uint16_t i); /* PROTO_FORMAT_* */
enum proto_derr	 proto_decode_handle(const struct proto_frame *f, uint32_t *handle_id);
enum proto_derr	 proto_decode_empty(const struct proto_frame *f);
enum proto_derr	 proto_decode_row_desc(const struct proto_frame *f, uint16_t version,
		    struct proto_row_desc *m);
void		 proto_row_desc_col(const struct proto_row_desc *m, uint16_t i,
		    struct proto_col *c);	/* version 1 or out of range: unknown, text */
enum proto_derr	 proto_decode_data_row(const struct proto_frame *f,
		    struct proto_data_row *m);
enum proto_derr	 proto_decode_complete(const struct proto_frame *f,
		    struct proto_complete *m);
enum proto_derr	 proto_decode_error(const struct proto_frame *f, struct proto_error *m);
enum proto_derr	 proto_decode_goodbye(const struct proto_frame *f,
		    struct proto_goodbye *m);
enum proto_derr	 proto_decode_resolve(const struct proto_frame *f,
		    struct proto_resolve *m);
enum proto_derr	 proto_decode_dispose_pool(const struct proto_frame *f,
		    struct proto_dispose_pool *m);	/* DISPOSE_POOL and CACHE_FLUSH */
bool		 proto_iter_next(struct proto_iter *it, struct proto_value *v); /* false at end */

#ifdef __cplusplus
}
#endif

#endif /* DBMD_PROTO_H */
