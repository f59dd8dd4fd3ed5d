/* test_backend.c: what both backends share: the ERROR frame a failed request ends with. */

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dbmd.h"
#include "proto.h"

TestSuite(backend, .timeout = 10);

/* Decodes the one ERROR frame b holds. */
static struct proto_error
only_error(const struct proto_buf *b, uint32_t reqid)
{
	struct proto_frame	 f;
	struct proto_error	 e;
	int			 r;

	r = proto_frame_check(b->data, b->len, PROTO_MAX_FRAME_LIMIT, &f);
	cr_assert_gt(r, 0, "frame check said %d", r);
	cr_assert_eq((size_t)r, b->len, "more than one frame");
	cr_assert_eq(f.hdr.type, PROTO_MSG_ERROR);
	cr_assert_eq(f.hdr.request_id, reqid);
	cr_assert_eq(proto_decode_error(&f, &e), PROTO_DERR_OK);
	return e;
}

Test(backend, error_carries_code_sqlstate_and_texts)
{
	struct proto_buf	 b;
	struct proto_error	 e;

	proto_buf_init(&b);
	cr_assert_eq(backend_error(&b, 7, PROTO_E_SQL, "23505", "duplicate key value",
	    "Key (id)=(1) already exists.", "Pick another id."), 0);
	e = only_error(&b, 7);
	cr_assert_eq(e.code, PROTO_E_SQL);
	cr_assert_str_eq(e.sqlstate, "23505");
	cr_assert_str_eq(e.message, "duplicate key value");
	cr_assert_str_eq(e.detail, "Key (id)=(1) already exists.");
	cr_assert_str_eq(e.hint, "Pick another id.");
	proto_buf_free(&b);
}

/* SQLite has no detail or hint, libpq often none, and a dropped connection no SQLSTATE. */
Test(backend, missing_parts_are_empty)
{
	struct proto_buf	 b;
	struct proto_error	 e;

	proto_buf_init(&b);
	cr_assert_eq(backend_error(&b, 9, PROTO_E_BACKEND, NULL, "server closed the "
	    "connection", NULL, NULL), 0);
	e = only_error(&b, 9);
	cr_assert_eq(e.code, PROTO_E_BACKEND);
	cr_assert_str_eq(e.sqlstate, "");
	cr_assert_str_eq(e.message, "server closed the connection");
	cr_assert_str_eq(e.detail, "");
	cr_assert_str_eq(e.hint, "");
	proto_buf_free(&b);
}

/* A detail larger than the client's frame limit is cut: the reply still ends. */
Test(backend, error_fits_the_clients_frame_limit)
{
	struct proto_buf	 b;
	struct proto_error	 e;
	char			*detail = malloc(100000);

	cr_assert_not_null(detail);
	memset(detail, 'd', 99999);
	detail[99999] = '\0';
	proto_buf_init(&b);
	b.max_payload = PROTO_HANDSHAKE_MAX_FRAME;
	cr_assert_eq(backend_error(&b, 3, PROTO_E_SQL, "22001", "value too long", detail,
	    "shorten it"), 0);
	cr_assert_leq(b.len, PROTO_HDR_SIZE + PROTO_HANDSHAKE_MAX_FRAME);
	e = only_error(&b, 3);
	cr_assert_str_eq(e.message, "value too long");
	cr_assert_lt(strlen(e.detail), 99999);
	proto_buf_free(&b);
	free(detail);
}
