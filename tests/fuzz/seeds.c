/* seeds.c: writes the seed corpus of the protocol fuzz targets, from the encoders. */

/*
 * make fuzz-seeds runs it as `fuzz-seeds tests/fuzz/corpus`.  Each seed is a real byte
 * stream: requests as a client sends them (proto_server, after the byte that picks the
 * frame limit), and dbmd's side of the session proto_client.c plays, with the request
 * ids the library uses.  Not part of the fuzz targets; run it again when the protocol
 * changes.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"

static const char *dir;

static void
ok(enum proto_err e)
{
	if (e != PROTO_E_OK) {
		fprintf(stderr, "fuzz-seeds: an encoder failed: %s\n", proto_strerror(e));
		exit(1);
	}
}

/* Writes dir/target/name: the lead bytes (none when NULL), then the buffer's frames. */
static void
put(const char *target, const char *name, const char *lead, struct proto_buf *b)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, target);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	if ((fp = fopen(path, "w")) == NULL ||
	    (lead != NULL && fwrite(lead, 1, 1, fp) != 1) ||
	    (b->len > 0 && fwrite(b->data, 1, b->len, fp) != b->len) || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	proto_buf_reset(b);
}

static void
hello(struct proto_buf *b, uint32_t id)
{
	struct proto_hello m = { .min_version = 1, .max_version = 1, .client_name = "dbmctl",
	    .pid = 4242, .max_frame = PROTO_DEFAULT_MAX_FRAME };

	ok(proto_encode_hello(b, id, &m));
}

static void
server_seeds(struct proto_buf *b)
{
	static const char *const keys[] = { "statement_timeout", "pool_size" };
	static const char *const vals[] = { "5s", "3" };
	static const char *const params[] = { "42", NULL, "a\0b" };
	static const uint32_t lens[] = { 2, 0, 3 };
	struct proto_open o = { .environment = "production", .role = "primary",
	    .flags = PROTO_OPEN_PINNED, .n_overrides = 2, .keys = keys, .values = vals };
	struct proto_exec x = { .handle_id = 1, .cache_max_age_ms = 1000,
	    .sql = "SELECT $1, $2, $3", .nparams = 3, .params = params, .param_lens = lens };
	struct proto_resolve r = { .environment = "production", .role = "read_only" };
	struct proto_dispose_pool d = { .target = "production/primary" };
	uint16_t t;

	hello(b, 1);
	put("proto_server", "hello", "\1", b);
	ok(proto_encode_open(b, 2, &o));
	put("proto_server", "open", "\1", b);
	ok(proto_encode_exec(b, 3, &x));
	put("proto_server", "exec", "\2", b);
	for (t = PROTO_MSG_BEGIN; t <= PROTO_MSG_DISPOSE; t++)
		ok(proto_encode_handle(b, t, t, 1));
	put("proto_server", "handles", "\1", b);
	ok(proto_encode_empty(b, PROTO_MSG_PING, 1));
	ok(proto_encode_empty(b, PROTO_MSG_STATUS, 2));
	ok(proto_encode_empty(b, PROTO_MSG_CLIENTS, 3));
	ok(proto_encode_empty(b, PROTO_MSG_RELOAD, 4));
	ok(proto_encode_resolve(b, 5, &r));
	ok(proto_encode_dispose_pool(b, 6, &d));
	ok(proto_encode_cache_flush(b, 7, &d));
	put("proto_server", "admin", "\1", b);

	/* A whole client session, as dbmctl and the library send it. */
	hello(b, 1);
	o.n_overrides = 0;
	o.flags = 0;
	ok(proto_encode_open(b, 2, &o));
	x.sql = "SELECT 1";
	x.nparams = 0;
	ok(proto_encode_exec(b, 3, &x));
	ok(proto_encode_handle(b, PROTO_MSG_BEGIN, 4, 1));
	ok(proto_encode_handle(b, PROTO_MSG_COMMIT, 5, 1));
	ok(proto_encode_handle(b, PROTO_MSG_DISPOSE, 6, 1));
	put("proto_server", "session", "\0", b);
}

/* Version 2 requests: a binary parameter with a NUL, a text one, and SQL NULL. */
static void
server_seeds_v2(struct proto_buf *b)
{
	static const char *const params[] = { "42", NULL, "a\0b" };
	static const uint32_t lens[] = { 2, 0, 3 };
	static const uint16_t formats[] = { PROTO_FORMAT_TEXT, PROTO_FORMAT_BINARY,
	    PROTO_FORMAT_BINARY };
	struct proto_hello h = { .min_version = 1, .max_version = 2, .client_name = "dbmctl",
	    .pid = 4242, .max_frame = PROTO_DEFAULT_MAX_FRAME };
	struct proto_exec x = { .version = 2, .handle_id = 1,
	    .sql = "INSERT INTO t VALUES ($1, $2, $3)", .nparams = 3, .params = params,
	    .param_lens = lens, .formats = formats };

	ok(proto_encode_hello(b, 1, &h));
	ok(proto_encode_exec(b, 3, &x));
	x.nparams = 0;
	x.sql = "SELECT 1";
	ok(proto_encode_exec(b, 4, &x));
	put("proto_server", "exec-v2", "\1", b);
}

/* A result set: names, rows of values (NULL: SQL NULL), then COMPLETE. */
static void
result(struct proto_buf *b, uint32_t id, bool more, const char *tag, uint16_t ncols,
    const char *const *names, int nrows, const char *const *values)
{
	struct proto_row_desc rd = { .ncols = ncols, .names = names };
	struct proto_data_row dr = { .ncols = ncols };
	struct proto_complete c = { .rows_affected = (uint64_t)nrows, .command_tag = tag,
	    .cache_state = PROTO_CACHE_MISS, .more = more };
	int i;

	if (ncols > 0) {
		ok(proto_encode_row_desc(b, id, &rd));
		for (i = 0; i < nrows; i++) {
			dr.values = values + (size_t)i * ncols;
			ok(proto_encode_data_row(b, id, &dr));
		}
	}
	ok(proto_encode_complete(b, id, &c));
}

/* dbmd's replies to requests first to last of the session of proto_client.c, in order. */
static void
session(struct proto_buf *b, uint32_t first, uint32_t last)
{
	static const char *const cols[] = { "?column?", "?column?" };
	static const char *const row[] = { "a", NULL };
	static const char *const dnames[] = { "version", "clients" };
	static const char *const dvals[] = { "dbmd 0.1.0", "1" };
	static const char *const pnames[] = { "pool", "size" };
	static const char *const pvals[] = { "abc123", "10", "def456", "2" };
	static const char *const kv[] = { "key", "value", "source" };
	static const char *const kvv[] = { "uri", "sqlite::memory:", "default",
	    "pool_size", "10", "default" };
	struct proto_hello_ok h = { .version = 1, .server_version = "dbmd 0.1.0",
	    .max_frame = PROTO_DEFAULT_MAX_FRAME, .max_handles = 64, .max_queued = 64 };
	struct proto_open_ok o = { .handle_id = 1, .pool_hash = 0x1234abcdULL,
	    .backend = "sqlite" };
	uint32_t id;

	for (id = first; id <= last; id++) {
		switch (id) {
		case 1:
			ok(proto_encode_hello_ok(b, id, &h));
			break;
		case 2:
			ok(proto_encode_open_ok(b, id, &o));
			break;
		case 3:
			result(b, id, false, "SELECT 1", 2, cols, 1, row);
			break;
		case 4:
		case 5:
		case 8:
		case 9:
			ok(proto_encode_empty(b, PROTO_MSG_OK, id));
			break;
		case 6:
			ok(proto_encode_empty(b, PROTO_MSG_PONG, id));
			break;
		case 7:
			result(b, id, true, "SELECT 1", 2, dnames, 1, dvals);
			result(b, id, false, "SELECT 2", 2, pnames, 2, pvals);
			break;
		case 10:
			result(b, id, false, "SELECT 2", 3, kv, 2, kvv);
			break;
		}
	}
}

static void
client_seeds(struct proto_buf *b)
{
	struct proto_error e = { .code = PROTO_E_SQL, .sqlstate = "42P01",
	    .message = "relation \"t\" does not exist", .detail = "", .hint = "check it" };
	struct proto_goodbye g = { .code = PROTO_E_SHUTDOWN, .reason = "dbmd is shutting down" };

	session(b, 1, 10);
	put("proto_client", "session", NULL, b);

	/* The statement fails after a row; the rest goes as usual. */
	session(b, 1, 2);
	result(b, 3, true, "SELECT 1", 1, (const char *const[]){ "x" }, 1,
	    (const char *const[]){ "1" });
	ok(proto_encode_error(b, 3, &e));
	session(b, 4, 10);
	put("proto_client", "error", NULL, b);

	/* dbmd goes away in the middle. */
	session(b, 1, 2);
	ok(proto_encode_goodbye(b, 0, &g));
	put("proto_client", "goodbye", NULL, b);

	/* OPEN refused. */
	session(b, 1, 1);
	e.code = PROTO_E_UNKNOWN_ENV;
	e.sqlstate = "";
	e.message = "unknown environment \"development\"";
	ok(proto_encode_error(b, 2, &e));
	put("proto_client", "open-refused", NULL, b);
}

/* Version 2 replies: typed columns, a bytea value with a NUL as its bytes. */
static void
client_seeds_v2(struct proto_buf *b)
{
	static const char *const names[] = { "id", "price", "data" };
	static const struct proto_col cols[] = {
		{ PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT },
		{ PROTO_OID_NUMERIC, (10 << 16 | 2) + 4, PROTO_FORMAT_TEXT },
		{ PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY },
	};
	static const char *const vals[] = { "1", "9.99", "a\0b" };
	static const uint32_t lens[] = { 1, 4, 3 };
	struct proto_hello_ok h = { .version = 2, .server_version = "dbmd 0.1.0",
	    .max_frame = PROTO_DEFAULT_MAX_FRAME, .max_handles = 64, .max_queued = 64 };
	struct proto_row_desc rd = { .version = 2, .ncols = 3, .names = names,
	    .cols = cols };
	struct proto_data_row dr = { .ncols = 3, .values = vals, .lengths = lens };
	struct proto_complete c = { .rows_affected = 1, .command_tag = "SELECT 1",
	    .cache_state = PROTO_CACHE_BYPASS };

	ok(proto_encode_hello_ok(b, 1, &h));
	session(b, 2, 2);
	ok(proto_encode_row_desc(b, 3, &rd));
	ok(proto_encode_data_row(b, 3, &dr));
	ok(proto_encode_complete(b, 3, &c));
	session(b, 4, 10);
	put("proto_client", "session-v2", NULL, b);
}

int
main(int argc, char *argv[])
{
	struct proto_buf b;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-seeds CORPUS-DIRECTORY\n");
		return 2;
	}
	dir = argv[1];
	proto_buf_init(&b);
	server_seeds(&b);
	server_seeds_v2(&b);
	client_seeds(&b);
	client_seeds_v2(&b);
	proto_buf_free(&b);
	return 0;
}
