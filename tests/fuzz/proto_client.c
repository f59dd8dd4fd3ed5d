/* proto_client.c (fuzz): what libdbmclient reads from dbmd: reply frames, results, a whole session. */

/*
 * The input is what dbmd sends on one connection.  First it is cut into frames by the
 * stream decoder the library uses, fed in pieces, and each frame goes to every reply
 * decoder; one that decodes is encoded again and must come out as the same bytes.
 * Then a thread plays dbmd: it accepts a connection on a socket of the target's own,
 * writes the input and closes its side, while the library runs a fixed session
 * against it (HELLO, OPEN, EXEC, BEGIN, COMMIT, PING, STATUS, RELOAD, DISPOSE,
 * RESOLVE, disconnect) and every result it returns is read through the public
 * accessors.  Request ids count from 1 in that order (DISPOSE is 9, RESOLVE 10), which
 * the seed corpus follows.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_impl.h"
#include "fuzz.h"

/* Bigger inputs could fill the socket while the library is not reading yet. */
#define FUZZ_MAX_INPUT	(64u << 10)

static int listen_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

struct dbmd_side {
	const uint8_t	*data;
	size_t		 size;
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

/* The strings of a decoded array, into a new array of count; NULL entries are SQL NULL. */
static void
collect(struct proto_iter it, size_t count, const char ***vals, uint32_t **lens)
{
	struct proto_value v;
	size_t n = 0;

	if ((*vals = calloc(count + 1, sizeof(**vals))) == NULL ||
	    (*lens = calloc(count + 1, sizeof(**lens))) == NULL)
		abort();
	while (proto_iter_next(&it, &v)) {
		FUZZ_ASSERT(n < count);
		FUZZ_ASSERT(v.ptr == NULL || v.ptr[v.len] == '\0');
		(*vals)[n] = v.ptr;
		(*lens)[n++] = v.len;
	}
	FUZZ_ASSERT(n == count);
}

/*
 * ROW_DESC in the layout of one version; version 2's column types, read through the
 * accessor, are written back as they came.
 */
static void
walk_row_desc(struct proto_buf *b, const struct proto_frame *f, uint16_t version)
{
	struct proto_row_desc rd;
	struct proto_col *cols;
	const char **vals;
	uint32_t *lens;
	uint16_t i;

	if (proto_decode_row_desc(f, version, &rd) != PROTO_DERR_OK)
		return;
	FUZZ_ASSERT(rd.version == version);
	collect(rd.name_iter, rd.ncols, &vals, &lens);
	if ((cols = calloc((size_t)rd.ncols + 1, sizeof(*cols))) == NULL)
		abort();
	for (i = 0; i < rd.ncols; i++) {
		proto_row_desc_col(&rd, i, &cols[i]);
		FUZZ_ASSERT(cols[i].format <= PROTO_FORMAT_BINARY);
		FUZZ_ASSERT(version >= 2 || cols[i].type_oid == 0);
	}
	rd.names = vals;
	rd.cols = cols;
	same_frame(b, proto_encode_row_desc(b, f->hdr.request_id, &rd), f);
	free(vals);
	free(lens);
	free(cols);
}

/* One reply frame through the decoder for its type, and back through the encoder. */
static void
decode_reply(struct proto_buf *b, const struct proto_frame *f)
{
	struct proto_hello_ok hok;
	struct proto_open_ok ook;
	struct proto_data_row dr;
	struct proto_complete cm;
	struct proto_error er;
	struct proto_goodbye gb;
	const char **vals;
	uint32_t *lens;

	switch (f->hdr.type) {
	case PROTO_MSG_HELLO_OK:
		if (proto_decode_hello_ok(f, &hok) != PROTO_DERR_OK)
			break;
		FUZZ_ASSERT(hok.max_frame <= PROTO_MAX_FRAME_LIMIT);
		FUZZ_ASSERT(proto_encode_hello_ok(b, f->hdr.request_id, &hok) == PROTO_E_OK);
		proto_buf_reset(b);
		break;
	case PROTO_MSG_OPEN_OK:
		if (proto_decode_open_ok(f, &ook) == PROTO_DERR_OK)
			same_frame(b, proto_encode_open_ok(b, f->hdr.request_id, &ook), f);
		break;
	case PROTO_MSG_ROW_DESC:
		walk_row_desc(b, f, 1);
		walk_row_desc(b, f, 2);
		break;
	case PROTO_MSG_DATA_ROW:
		if (proto_decode_data_row(f, &dr) != PROTO_DERR_OK)
			break;
		collect(dr.value_iter, dr.ncols, &vals, &lens);
		dr.values = vals;
		dr.lengths = lens;
		same_frame(b, proto_encode_data_row(b, f->hdr.request_id, &dr), f);
		free(vals);
		free(lens);
		break;
	case PROTO_MSG_COMPLETE:
		if (proto_decode_complete(f, &cm) == PROTO_DERR_OK)
			same_frame(b, proto_encode_complete(b, f->hdr.request_id, &cm), f);
		break;
	case PROTO_MSG_ERROR:
		if (proto_decode_error(f, &er) != PROTO_DERR_OK)
			break;
		/* The encoder refuses a SQLSTATE longer than 16: no server sends one. */
		if (strlen(er.sqlstate) <= 16)
			same_frame(b, proto_encode_error(b, f->hdr.request_id, &er), f);
		break;
	case PROTO_MSG_GOODBYE:
		if (proto_decode_goodbye(f, &gb) == PROTO_DERR_OK)
			same_frame(b, proto_encode_goodbye(b, f->hdr.request_id, &gb), f);
		break;
	case PROTO_MSG_OK:
	case PROTO_MSG_PONG:
		if (proto_decode_empty(f) == PROTO_DERR_OK)
			same_frame(b, proto_encode_empty(b, f->hdr.type, f->hdr.request_id), f);
		break;
	default:
		break;
	}
	FUZZ_ASSERT(b->len == 0);
}

/* The input through the stream decoder in pieces of every size from 1 up, in turn. */
static void
decode_stream(const uint8_t *data, size_t size)
{
	struct proto_decoder d;
	struct proto_frame f;
	struct proto_buf b;
	size_t off = 0, piece = 1, avail;
	uint8_t *p;
	int r;

	proto_decoder_init(&d, PROTO_MAX_FRAME_LIMIT);
	proto_buf_init(&b);
	while (off < size) {
		if (piece > size - off)
			piece = size - off;
		/* Both ways in: the library reads into the decoder's space, tests feed it. */
		if (piece % 2 == 0) {
			FUZZ_ASSERT(proto_decoder_feed(&d, data + off, piece) == 0);
		} else {
			p = proto_decoder_space(&d, piece, &avail);
			FUZZ_ASSERT(p != NULL && avail > 0);
			if (avail > piece)
				avail = piece;
			memcpy(p, data + off, avail);
			proto_decoder_commit(&d, avail);
			piece = avail;
		}
		off += piece++;
		while ((r = proto_decoder_next(&d, &f)) == 1) {
			FUZZ_ASSERT(f.payload != NULL || f.hdr.length == 0);
			if (proto_msg_is_reply(f.hdr.type))
				decode_reply(&b, &f);
		}
		if (r == -1) {
			FUZZ_ASSERT(d.err != PROTO_DERR_OK && d.errstr[0] != '\0');
			FUZZ_ASSERT(proto_decoder_next(&d, &f) == -1);
			break;
		}
	}
	proto_buf_free(&b);
	proto_decoder_free(&d);
}

/* dbmd's side of the session: the input, then the end of the stream. */
static void *
dbmd_thread(void *arg)
{
	const struct dbmd_side *side = arg;
	char buf[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = accept(listen_fd, NULL, NULL)) == -1)
		abort();
	while (off < side->size &&
	    (n = send(fd, side->data + off, side->size - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return NULL;
}

static void
listen_once(void)
{
	struct sockaddr_un sun;

	if (listen_fd != -1)
		return;
	snprintf(sock_path, sizeof(sock_path), "%s/dbmd.sock", fuzz_tmpdir());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if ((listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(listen_fd, 16) == -1) {
		perror("fuzz: listening socket");
		abort();
	}
}

/* Reads every part of every result set of a chain, as an application would. */
static void
walk_results(dbm_result *res)
{
	const dbm_result *r;
	const char *s;
	size_t sum = 0;
	int row, col;

	for (r = res; r != NULL; r = dbm_result_next(r)) {
		sum += strlen(dbm_result_errmsg(r)) + strlen(dbm_result_sqlstate(r)) +
		    strlen(dbm_result_detail(r)) + strlen(dbm_result_hint(r)) +
		    strlen(dbm_cmdtag(r)) + (size_t)dbm_result_status(r) +
		    (size_t)dbm_affected(r) + (size_t)dbm_cache_state(r);
		for (col = -1; col <= dbm_ncols(r); col++) {
			if ((s = dbm_colname(r, col)) != NULL) {
				FUZZ_ASSERT(col >= 0 && col < dbm_ncols(r));
				FUZZ_ASSERT(dbm_colnum(r, s) >= 0 && dbm_colnum(r, s) <= col);
				sum += strlen(s);
			}
			for (row = -1; row <= dbm_nrows(r); row++) {
				if ((s = dbm_value(r, row, col)) == NULL) {
					FUZZ_ASSERT(dbm_isnull(r, row, col));
					continue;
				}
				/* A value may hold NULs; its length is the truth, and a NUL ends it. */
				FUZZ_ASSERT(s[dbm_length(r, row, col)] == '\0');
				sum += dbm_length(r, row, col) + (size_t)dbm_isnull(r, row, col);
			}
		}
	}
	(void)sum;
	dbm_result_free(res);
}

/* The library's session against the input. */
static void
run_session(const uint8_t *data, size_t size)
{
	struct dbmd_side side = { data, size };
	const char *params[] = { "a", NULL };
	pthread_t t;
	dbm_handle *h;
	dbm_conn *c;

	listen_once();
	if (pthread_create(&t, NULL, dbmd_thread, &side) != 0)
		abort();
	c = dbm_connect(sock_path);
	FUZZ_ASSERT(c != NULL);
	h = dbm_open(c, "development", "primary", NULL);
	if (h != NULL) {
		(void)dbm_handle_pool_hash(h);
		FUZZ_ASSERT(dbm_handle_backend(h) != NULL);
		walk_results(dbm_exec(h, "SELECT $1, NULL", 2, params));
		(void)dbm_begin(h);
		(void)dbm_commit(h);
	}
	(void)dbm_ping(c);
	walk_results(dbm_status(c));
	walk_results(dbm_reload(c));
	if (h != NULL)
		(void)dbm_dispose(h);
	walk_results(dbm_resolve(c, "development", "primary"));
	(void)dbm_connected(c);
	FUZZ_ASSERT(dbm_errmsg(c) != NULL && dbm_errsqlstate(c) != NULL &&
	    dbm_errdetail(c) != NULL && dbm_errhint(c) != NULL);
	FUZZ_ASSERT(strlen(dbm_errsqlstate(c)) <= 5);
	(void)dbm_strerror(dbm_errcode(c));
	(void)dbm_server_version(c);
	dbm_disconnect(c);
	pthread_join(t, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	decode_stream(data, size);
	run_session(data, size);
	return 0;
}
