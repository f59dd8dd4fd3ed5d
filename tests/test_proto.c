/* test_proto.c: the wire protocol: round trips, truncation, malformed input, stream decoding. */

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define B16(v)	(uint8_t)((v) >> 8), (uint8_t)(v)
#define B32(v)	(uint8_t)((uint32_t)(v) >> 24), (uint8_t)((uint32_t)(v) >> 16), \
		(uint8_t)((uint32_t)(v) >> 8), (uint8_t)(v)
#define B64(v)	B32((uint64_t)(v) >> 32), B32(v)
#define S0	B32(0), 0			/* str "" */
#define SA	B32(1), 'a', 0			/* str "a" */
#define SNULL	B32(0xFFFFFFFFu)		/* nstr NULL */

TestSuite(roundtrip, .timeout = 10);
TestSuite(truncation, .timeout = 10);
TestSuite(frame, .timeout = 10);
TestSuite(malformed, .timeout = 10);
TestSuite(stream, .timeout = 10);
TestSuite(buf, .timeout = 10);
TestSuite(names, .timeout = 10);

/* Asserts that b holds exactly one frame, well formed from its header, and returns it. */
static struct proto_frame
only_frame(const struct proto_buf *b)
{
	struct proto_frame	 f;
	int			 r;

	cr_assert_eq(b->oom, 0);
	r = proto_frame_check(b->data, b->len, PROTO_MAX_FRAME_LIMIT, &f);
	cr_assert_gt(r, 0, "frame check said %d", r);
	cr_assert_eq((size_t)r, b->len, "buffer holds more than one frame");
	cr_assert_eq(f.payload, b->data + PROTO_HDR_SIZE);
	return f;
}

static void
assert_points_into(const struct proto_frame *f, const char *s)
{
	cr_assert_not_null(s);
	cr_assert((const uint8_t *)s >= f->payload &&
	    (const uint8_t *)s < f->payload + f->hdr.length,
	    "decoded string is not inside the frame");
}

/* Walks an iterator into out[] and returns how many elements it gave. */
static size_t
collect(struct proto_iter it, struct proto_value *out, size_t max)
{
	struct proto_value	 v;
	size_t			 n = 0;

	while (proto_iter_next(&it, &v)) {
		cr_assert_lt(n, max, "iterator gave more elements than expected");
		out[n++] = v;
	}
	return n;
}

static void
assert_value(struct proto_value v, const char *want, size_t wantlen)
{
	if (want == NULL) {
		cr_assert_null(v.ptr, "expected SQL NULL");
		return;
	}
	cr_assert_not_null(v.ptr, "expected a value, got SQL NULL");
	cr_assert_eq(v.len, wantlen);
	cr_assert_eq(memcmp(v.ptr, want, wantlen), 0);
	cr_assert_eq(v.ptr[wantlen], '\0', "value not NUL-terminated in place");
}

Test(roundtrip, hello_keeps_every_field_and_the_request_id)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_hello	 in = { 1, 1, "myapp", 4242, PROTO_DEFAULT_MAX_FRAME }, out;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_hello(&b, 0xDEADBEEF, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.type, PROTO_MSG_HELLO);
	cr_assert_eq(f.hdr.flags, 0);
	cr_assert_eq(f.hdr.request_id, 0xDEADBEEF);
	/* The magic really is "DBM1" on the wire, right after the header. */
	cr_assert_eq(memcmp(f.payload, "DBM1", 4), 0);
	cr_assert_eq(proto_decode_hello(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.min_version, 1);
	cr_assert_eq(out.max_version, 1);
	cr_assert_str_eq(out.client_name, "myapp");
	assert_points_into(&f, out.client_name);
	cr_assert_eq(out.pid, 4242);
	cr_assert_eq(out.max_frame, PROTO_DEFAULT_MAX_FRAME);
	proto_buf_free(&b);
}

Test(roundtrip, header_is_big_endian_length_type_flags_request_id)
{
	struct proto_buf	 b;
	struct proto_complete	 c = { 7, "SELECT 7", PROTO_CACHE_HIT, true };
	const uint8_t		 want[] = { B32(8 + 13 + 1), B16(PROTO_MSG_COMPLETE),
	    B16(PROTO_F_MORE), B32(0x01020304) };

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_complete(&b, 0x01020304, &c), PROTO_E_OK);
	cr_assert_eq(b.len, PROTO_HDR_SIZE + 22);
	cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);
	proto_buf_free(&b);
}

Test(roundtrip, hello_max_frame_above_the_hard_cap_is_clamped)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_hello	 in = { 1, 3, "", 1, 0xFFFFFFFFu }, out;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_hello(&b, 1, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_hello(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.max_frame, PROTO_MAX_FRAME_LIMIT);
	cr_assert_eq(out.max_version, 3);
	cr_assert_str_eq(out.client_name, "");
	proto_buf_free(&b);
}

Test(roundtrip, hello_ok_keeps_version_and_limits)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_hello_ok	 in = { 1, "dbmd 0.1.0", 1u << 20, 64, 128 }, out;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_hello_ok(&b, 9, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_hello_ok(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.version, 1);
	cr_assert_str_eq(out.server_version, "dbmd 0.1.0");
	cr_assert_eq(out.max_frame, 1u << 20);
	cr_assert_eq(out.max_handles, 64);
	cr_assert_eq(out.max_queued, 128);
	proto_buf_free(&b);
}

Test(roundtrip, open_keeps_overrides_in_order)
{
	const char *const	 keys[] = { "pool_size", "statement_timeout_ms", "application" };
	const char *const	 vals[] = { "40", "", "caf\xc3\xa9 \xe2\x98\x95" };
	struct proto_open	 in = { "production", "read_only", PROTO_OPEN_PINNED, 3, keys,
	    vals, { 0 } }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 kv[6];
	size_t			 i;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_open(&b, 2, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_open(&f, &out), PROTO_DERR_OK);
	cr_assert_str_eq(out.environment, "production");
	cr_assert_str_eq(out.role, "read_only");
	cr_assert_eq(out.flags, PROTO_OPEN_PINNED);
	cr_assert_eq(out.n_overrides, 3);
	cr_assert_null(out.keys);
	cr_assert_null(out.values);
	cr_assert_eq(collect(out.overrides, kv, 6), 6);
	for (i = 0; i < 3; i++) {
		assert_value(kv[2 * i], keys[i], strlen(keys[i]));
		assert_value(kv[2 * i + 1], vals[i], strlen(vals[i]));
	}
	proto_buf_free(&b);
}

Test(roundtrip, open_without_overrides_has_an_empty_iterator)
{
	struct proto_open	 in = { "test", "primary", 0, 0, NULL, NULL, { 0 } }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_open(&b, 2, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_open(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.n_overrides, 0);
	cr_assert_eq(out.flags, 0);
	cr_assert_not(proto_iter_next(&out.overrides, &v));
	proto_buf_free(&b);
}

Test(roundtrip, open_ok_keeps_all_64_bits_of_the_pool_hash)
{
	struct proto_open_ok	 in = { 0xFFFFFFFEu, 0x8000000000000001ull, "postgresql" }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_open_ok(&b, 3, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_open_ok(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.handle_id, 0xFFFFFFFEu);
	cr_assert_eq(out.pool_hash, 0x8000000000000001ull);
	cr_assert_str_eq(out.backend, "postgresql");
	proto_buf_free(&b);
}

Test(roundtrip, exec_keeps_sql_null_distinct_from_the_empty_string)
{
	const char *const	 params[] = { NULL, "", "42", NULL };
	struct proto_exec	 in = { .handle_id = 7, .cache_max_age_ms = 5000,
	    .sql = "SELECT $1, $2, $3, $4", .nparams = 4, .params = params }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v[4];

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 4, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_eq(out.handle_id, 7);
	cr_assert_eq(out.cache_max_age_ms, 5000);
	cr_assert_str_eq(out.sql, "SELECT $1, $2, $3, $4");
	assert_points_into(&f, out.sql);
	cr_assert_eq(out.nparams, 4);
	cr_assert_eq(collect(out.param_iter, v, 4), 4);
	assert_value(v[0], NULL, 0);
	assert_value(v[1], "", 0);
	assert_value(v[2], "42", 2);
	assert_value(v[3], NULL, 0);
	proto_buf_free(&b);
}

Test(roundtrip, exec_with_zero_params)
{
	struct proto_exec	 in = { .handle_id = 1, .sql = "" }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 4, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.length, 19, "smallest EXEC is 19 bytes");
	cr_assert_eq(proto_decode_exec(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_str_eq(out.sql, "");
	cr_assert_eq(out.nparams, 0);
	cr_assert_not(proto_iter_next(&out.param_iter, &v));
	proto_buf_free(&b);
}

Test(roundtrip, exec_with_the_maximum_of_65535_params)
{
	const char		**params = calloc(65535, sizeof(*params));
	struct proto_exec	 in = { .handle_id = 1, .sql = "SELECT", .nparams = 65535 }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v;
	uint32_t		 i;

	cr_assert_not_null(params);
	for (i = 0; i < 65535; i++)
		params[i] = (i % 3 == 0) ? NULL : (i % 3 == 1) ? "" : "x";
	in.params = params;
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 5, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_eq(out.nparams, 65535);
	for (i = 0; proto_iter_next(&out.param_iter, &v); i++)
		assert_value(v, params[i], params[i] ? strlen(params[i]) : 0);
	cr_assert_eq(i, 65535);
	proto_buf_free(&b);
	free(params);
}

Test(roundtrip, exec_params_keep_non_ascii_and_embedded_nul_bytes)
{
	static const char	 bin[] = { 'a', '\0', 'b', (char)0xFF, (char)0x80 };
	const char *const	 params[] = { "\xe6\x97\xa5\xe6\x9c\xac", bin };
	const uint32_t		 lens[] = { 6, sizeof(bin) };
	struct proto_exec	 in = { .handle_id = 1, .sql = "SELECT '\xc3\xa9'", .nparams = 2,
	    .params = params, .param_lens = lens }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v[2];

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 6, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_str_eq(out.sql, "SELECT '\xc3\xa9'");
	cr_assert_eq(collect(out.param_iter, v, 2), 2);
	assert_value(v[0], params[0], 6);
	assert_value(v[1], bin, sizeof(bin));
	proto_buf_free(&b);
}

Test(roundtrip, handle_requests_carry_their_handle)
{
	const uint16_t		 types[] = { PROTO_MSG_BEGIN, PROTO_MSG_COMMIT,
	    PROTO_MSG_ROLLBACK, PROTO_MSG_DISPOSE };
	struct proto_buf	 b;
	struct proto_frame	 f;
	uint32_t		 h;
	size_t			 i;

	proto_buf_init(&b);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		proto_buf_reset(&b);
		cr_assert_eq(proto_encode_handle(&b, types[i], 10 + i, 100 + i), PROTO_E_OK);
		f = only_frame(&b);
		cr_assert_eq(f.hdr.type, types[i]);
		cr_assert_eq(f.hdr.request_id, 10 + i);
		cr_assert_eq(proto_decode_handle(&f, &h), PROTO_DERR_OK);
		cr_assert_eq(h, 100 + i);
	}
	proto_buf_free(&b);
}

Test(roundtrip, empty_messages_have_no_payload)
{
	const uint16_t		 types[] = { PROTO_MSG_PING, PROTO_MSG_PONG, PROTO_MSG_STATUS,
	    PROTO_MSG_CLIENTS, PROTO_MSG_RELOAD, PROTO_MSG_OK };
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 i;

	proto_buf_init(&b);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		proto_buf_reset(&b);
		cr_assert_eq(proto_encode_empty(&b, types[i], 77), PROTO_E_OK);
		f = only_frame(&b);
		cr_assert_eq(f.hdr.type, types[i]);
		cr_assert_eq(f.hdr.length, 0);
		cr_assert_eq(proto_decode_empty(&f), PROTO_DERR_OK);
	}
	proto_buf_free(&b);
}

Test(roundtrip, row_desc_keeps_column_names)
{
	const char *const	 names[] = { "id", "", "n\xc3\xa4me" };
	struct proto_row_desc	 in = { .ncols = 3, .names = names }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v[3];
	size_t			 i;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_row_desc(&b, 8, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_row_desc(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_eq(out.ncols, 3);
	cr_assert_eq(collect(out.name_iter, v, 3), 3);
	for (i = 0; i < 3; i++)
		assert_value(v[i], names[i], strlen(names[i]));
	proto_buf_free(&b);
}

Test(roundtrip, data_row_keeps_null_empty_and_binary_values)
{
	static const char	 bin[] = { 0, 1, 2, (char)0xFE };
	const char *const	 vals[] = { NULL, "", "hello", bin };
	const uint32_t		 lens[] = { 0, 0, 5, sizeof(bin) };
	struct proto_data_row	 in = { 4, vals, lens, { 0 } }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v[4];

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_data_row(&b, 8, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_data_row(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.ncols, 4);
	cr_assert_eq(collect(out.value_iter, v, 4), 4);
	assert_value(v[0], NULL, 0);
	assert_value(v[1], "", 0);
	assert_value(v[2], "hello", 5);
	assert_value(v[3], bin, sizeof(bin));
	proto_buf_free(&b);
}

Test(roundtrip, data_row_written_value_by_value_decodes_like_the_struct_encoder)
{
	const char *const	 vals[] = { "1", NULL, "three" };
	struct proto_data_row	 in = { 3, vals, NULL, { 0 } };
	struct proto_buf	 a, b;

	proto_buf_init(&a);
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_data_row(&a, 5, &in), PROTO_E_OK);
	proto_begin(&b, PROTO_MSG_DATA_ROW, 0, 5);
	proto_put_u16(&b, 3);
	proto_put_nstr(&b, "1", 1);
	proto_put_nstr(&b, NULL, 0);
	proto_put_nstr(&b, "three", 5);
	cr_assert_eq(proto_end(&b), PROTO_E_OK);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
	proto_buf_free(&a);
	proto_buf_free(&b);
}

Test(roundtrip, complete_carries_more_flag_and_cache_state)
{
	struct proto_complete	 in = { 0xFFFFFFFFFFFFFFFFull, "UPDATE 3", PROTO_CACHE_MISS,
	    true }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_complete(&b, 11, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.flags, PROTO_F_MORE);
	cr_assert_not(proto_frame_ends_reply(&f.hdr));
	cr_assert_eq(proto_decode_complete(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.rows_affected, 0xFFFFFFFFFFFFFFFFull);
	cr_assert_str_eq(out.command_tag, "UPDATE 3");
	cr_assert_eq(out.cache_state, PROTO_CACHE_MISS);
	cr_assert(out.more);

	proto_buf_reset(&b);
	in.more = false;
	in.cache_state = PROTO_CACHE_BYPASS;
	cr_assert_eq(proto_encode_complete(&b, 11, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.flags, 0);
	cr_assert(proto_frame_ends_reply(&f.hdr));
	cr_assert_eq(proto_decode_complete(&f, &out), PROTO_DERR_OK);
	cr_assert_not(out.more);
	cr_assert_eq(out.cache_state, PROTO_CACHE_BYPASS);
	proto_buf_free(&b);
}

Test(roundtrip, error_keeps_code_sqlstate_and_texts_with_null_as_empty)
{
	struct proto_error	 in = { PROTO_E_SQL, "42P01", "relation \"nope\" does not exist",
	    NULL, "Check the spelling." }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_error(&b, 12, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_error(&f, &out), PROTO_DERR_OK);
	cr_assert_eq(out.code, PROTO_E_SQL);
	cr_assert_str_eq(out.sqlstate, "42P01");
	cr_assert_str_eq(out.message, "relation \"nope\" does not exist");
	cr_assert_str_eq(out.detail, "");
	cr_assert_str_eq(out.hint, "Check the spelling.");
	proto_buf_free(&b);
}

Test(roundtrip, goodbye_resolve_and_dispose_pool)
{
	struct proto_goodbye	 g = { PROTO_E_SHUTDOWN, "dbmd is shutting down" }, g2;
	struct proto_resolve	 r = { "production", "primary" }, r2;
	struct proto_dispose_pool d = { "production/read_only" }, d2;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_goodbye(&b, 0, &g), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_goodbye(&f, &g2), PROTO_DERR_OK);
	cr_assert_eq(g2.code, PROTO_E_SHUTDOWN);
	cr_assert_str_eq(g2.reason, "dbmd is shutting down");

	proto_buf_reset(&b);
	cr_assert_eq(proto_encode_resolve(&b, 13, &r), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_resolve(&f, &r2), PROTO_DERR_OK);
	cr_assert_str_eq(r2.environment, "production");
	cr_assert_str_eq(r2.role, "primary");

	proto_buf_reset(&b);
	cr_assert_eq(proto_encode_dispose_pool(&b, 14, &d), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_dispose_pool(&f, &d2), PROTO_DERR_OK);
	cr_assert_str_eq(d2.target, "production/read_only");

	proto_buf_reset(&b);
	cr_assert_eq(proto_encode_cache_flush(&b, 15, &d), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.type, PROTO_MSG_CACHE_FLUSH);
	cr_assert_eq(proto_decode_dispose_pool(&f, &d2), PROTO_DERR_OK);
	cr_assert_str_eq(d2.target, "production/read_only");
	proto_buf_free(&b);
}

Test(roundtrip, decoders_refuse_frames_of_another_type)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_exec	 e;
	struct proto_hello	 h;
	uint32_t		 id;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_handle(&b, PROTO_MSG_BEGIN, 1, 1), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 1, &e), PROTO_DERR_WRONG_TYPE);
	cr_assert_eq(proto_decode_hello(&f, &h), PROTO_DERR_WRONG_TYPE);
	cr_assert_eq(proto_decode_empty(&f), PROTO_DERR_WRONG_TYPE);
	f.hdr.type = PROTO_MSG_PING;
	cr_assert_eq(proto_decode_handle(&f, &id), PROTO_DERR_WRONG_TYPE);
	proto_buf_free(&b);
}

/*
 * One frame of every type, several shapes where the layout has arrays.  The
 * truncation and stream tests run over all of them.
 */
static void
encode_samples(struct proto_buf *b)
{
	static const char	 bin[] = { 'x', 0, (char)0xC3, (char)0xA9 };
	const char *const	 keys[] = { "pool_size", "application_name" };
	const char *const	 vals[] = { "8", "b\xc3\xa9nch" };
	const char *const	 params[] = { NULL, "", "caf\xc3\xa9", bin };
	const uint32_t		 plens[] = { 0, 0, 5, sizeof(bin) };
	const char *const	 names[] = { "a", "", "long_column_name" };
	const char *const	 row[] = { "1", NULL, "" };
	struct proto_hello	 hello = { 1, 1, "test_proto", 99, PROTO_DEFAULT_MAX_FRAME };
	struct proto_hello_ok	 hok = { 1, "dbmd 0.1", PROTO_DEFAULT_MAX_FRAME, 16, 32 };
	struct proto_open	 op = { "development", "primary", PROTO_OPEN_PINNED, 2, keys,
	    vals, { 0 } };
	struct proto_open	 op0 = { "", "", 0, 0, NULL, NULL, { 0 } };
	struct proto_open_ok	 ook = { 1, 0x0123456789ABCDEFull, "sqlite" };
	struct proto_exec	 ex = { .handle_id = 1, .cache_max_age_ms = 250,
	    .sql = "SELECT ?, ?, ?, ?", .nparams = 4, .params = params, .param_lens = plens };
	struct proto_exec	 ex0 = { .handle_id = 1, .sql = "BEGIN" };
	struct proto_row_desc	 rd = { .ncols = 3, .names = names }, rd0 = { .ncols = 0 };
	struct proto_data_row	 dr = { 3, row, NULL, { 0 } }, dr0 = { 0, NULL, NULL, { 0 } };
	struct proto_complete	 cm = { 3, "SELECT 3", PROTO_CACHE_HIT, true };
	struct proto_complete	 cm0 = { 0, "", PROTO_CACHE_BYPASS, false };
	struct proto_error	 er = { PROTO_E_SQL, "23505", "duplicate key", "Key (id)=(1).",
	    "" };
	struct proto_goodbye	 gb = { PROTO_E_PROTOCOL, "malformed frame" };
	struct proto_resolve	 rs = { "production", "read_only" };
	struct proto_dispose_pool dp = { "a1b2c3" };
	uint32_t		 id = 1;

	cr_assert_eq(proto_encode_hello(b, id++, &hello), PROTO_E_OK);
	cr_assert_eq(proto_encode_hello_ok(b, id++, &hok), PROTO_E_OK);
	cr_assert_eq(proto_encode_open(b, id++, &op), PROTO_E_OK);
	cr_assert_eq(proto_encode_open(b, id++, &op0), PROTO_E_OK);
	cr_assert_eq(proto_encode_open_ok(b, id++, &ook), PROTO_E_OK);
	cr_assert_eq(proto_encode_exec(b, id++, &ex), PROTO_E_OK);
	cr_assert_eq(proto_encode_exec(b, id++, &ex0), PROTO_E_OK);
	cr_assert_eq(proto_encode_handle(b, PROTO_MSG_BEGIN, id++, 1), PROTO_E_OK);
	cr_assert_eq(proto_encode_handle(b, PROTO_MSG_COMMIT, id++, 1), PROTO_E_OK);
	cr_assert_eq(proto_encode_handle(b, PROTO_MSG_ROLLBACK, id++, 1), PROTO_E_OK);
	cr_assert_eq(proto_encode_handle(b, PROTO_MSG_DISPOSE, id++, 1), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_PING, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_STATUS, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_CLIENTS, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_resolve(b, id++, &rs), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_RELOAD, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_dispose_pool(b, id++, &dp), PROTO_E_OK);
	cr_assert_eq(proto_encode_row_desc(b, id++, &rd), PROTO_E_OK);
	cr_assert_eq(proto_encode_row_desc(b, id++, &rd0), PROTO_E_OK);
	cr_assert_eq(proto_encode_data_row(b, id++, &dr), PROTO_E_OK);
	cr_assert_eq(proto_encode_data_row(b, id++, &dr0), PROTO_E_OK);
	cr_assert_eq(proto_encode_complete(b, id++, &cm), PROTO_E_OK);
	cr_assert_eq(proto_encode_complete(b, id++, &cm0), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_OK, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_error(b, id++, &er), PROTO_E_OK);
	cr_assert_eq(proto_encode_empty(b, PROTO_MSG_PONG, id++), PROTO_E_OK);
	cr_assert_eq(proto_encode_goodbye(b, id++, &gb), PROTO_E_OK);
	cr_assert_eq(b->oom, 0);
}

/*
 * Decodes a frame with the decoder for its type and walks any array it has,
 * so every byte a consumer would touch is touched (under ASan).
 */
static enum proto_derr
decode_any(const struct proto_frame *f)
{
	union {
		struct proto_hello	 hello;
		struct proto_hello_ok	 hello_ok;
		struct proto_open	 open;
		struct proto_open_ok	 open_ok;
		struct proto_exec	 exec;
		struct proto_row_desc	 row_desc;
		struct proto_data_row	 data_row;
		struct proto_complete	 complete;
		struct proto_error	 error;
		struct proto_goodbye	 goodbye;
		struct proto_resolve	 resolve;
		struct proto_dispose_pool dispose_pool;
	} m;
	struct proto_iter	*it = NULL;
	struct proto_value	 v;
	enum proto_derr		 e;
	uint32_t		 id, n = 0, want = 0;

	switch (f->hdr.type) {
	case PROTO_MSG_HELLO:
		return proto_decode_hello(f, &m.hello);
	case PROTO_MSG_HELLO_OK:
		return proto_decode_hello_ok(f, &m.hello_ok);
	case PROTO_MSG_OPEN:
		if ((e = proto_decode_open(f, &m.open)) == PROTO_DERR_OK) {
			it = &m.open.overrides;
			want = 2u * m.open.n_overrides;
		}
		break;
	case PROTO_MSG_OPEN_OK:
		return proto_decode_open_ok(f, &m.open_ok);
	case PROTO_MSG_EXEC:
		if ((e = proto_decode_exec(f, 1, &m.exec)) == PROTO_DERR_OK) {
			it = &m.exec.param_iter;
			want = m.exec.nparams;
		}
		break;
	case PROTO_MSG_BEGIN:
	case PROTO_MSG_COMMIT:
	case PROTO_MSG_ROLLBACK:
	case PROTO_MSG_DISPOSE:
		return proto_decode_handle(f, &id);
	case PROTO_MSG_PING:
	case PROTO_MSG_PONG:
	case PROTO_MSG_STATUS:
	case PROTO_MSG_CLIENTS:
	case PROTO_MSG_RELOAD:
	case PROTO_MSG_OK:
		return proto_decode_empty(f);
	case PROTO_MSG_RESOLVE:
		return proto_decode_resolve(f, &m.resolve);
	case PROTO_MSG_DISPOSE_POOL:
	case PROTO_MSG_CACHE_FLUSH:
		return proto_decode_dispose_pool(f, &m.dispose_pool);
	case PROTO_MSG_ROW_DESC:
		if ((e = proto_decode_row_desc(f, 1, &m.row_desc)) == PROTO_DERR_OK) {
			it = &m.row_desc.name_iter;
			want = m.row_desc.ncols;
		}
		break;
	case PROTO_MSG_DATA_ROW:
		if ((e = proto_decode_data_row(f, &m.data_row)) == PROTO_DERR_OK) {
			it = &m.data_row.value_iter;
			want = m.data_row.ncols;
		}
		break;
	case PROTO_MSG_COMPLETE:
		return proto_decode_complete(f, &m.complete);
	case PROTO_MSG_ERROR:
		return proto_decode_error(f, &m.error);
	case PROTO_MSG_GOODBYE:
		return proto_decode_goodbye(f, &m.goodbye);
	default:
		cr_assert_fail("decode_any: type %u", (unsigned)f->hdr.type);
		return PROTO_DERR_UNKNOWN_TYPE;
	}
	if (e == PROTO_DERR_OK) {
		while (proto_iter_next(it, &v)) {
			if (v.ptr != NULL)
				cr_assert_eq(v.ptr[v.len], '\0');
			n++;
		}
		cr_assert_eq(n, want, "iterator length differs from the count");
	}
	return e;
}

/* Splits the sample buffer into frames: offsets[i], sizes[i]; returns the count. */
static size_t
split_frames(const struct proto_buf *b, size_t *offsets, size_t *sizes, size_t max)
{
	struct proto_frame	 f;
	size_t			 off = 0, n = 0;
	int			 r;

	while (off < b->len) {
		r = proto_frame_check(b->data + off, b->len - off, PROTO_MAX_FRAME_LIMIT, &f);
		cr_assert_gt(r, 0);
		cr_assert_lt(n, max);
		offsets[n] = off;
		sizes[n] = (size_t)r;
		n++;
		off += (size_t)r;
	}
	return n;
}

Test(truncation, every_sample_frame_decodes)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 off[64], sz[64], n, i;

	proto_buf_init(&b);
	encode_samples(&b);
	n = split_frames(&b, off, sz, 64);
	cr_assert_geq(n, 22, "every message type is sampled");
	for (i = 0; i < n; i++) {
		cr_assert_gt(proto_frame_check(b.data + off[i], sz[i], PROTO_DEFAULT_MAX_FRAME,
		    &f), 0);
		cr_assert_eq(decode_any(&f), PROTO_DERR_OK, "sample %zu (%s)", i,
		    proto_msg_name(f.hdr.type));
	}
	proto_buf_free(&b);
}

Test(truncation, every_prefix_of_every_frame_needs_more)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 off[64], sz[64], n, i, k;
	uint8_t			*copy;

	proto_buf_init(&b);
	encode_samples(&b);
	n = split_frames(&b, off, sz, 64);
	for (i = 0; i < n; i++) {
		for (k = 0; k < sz[i]; k++) {
			/* An exact-size copy, so ASan sees any read past the prefix. */
			copy = k > 0 ? malloc(k) : NULL;
			if (k > 0)
				memcpy(copy, b.data + off[i], k);
			cr_assert_eq(proto_frame_check(copy, k, PROTO_DEFAULT_MAX_FRAME, &f), 0,
			    "frame %zu prefix %zu", i, k);
			cr_assert_null(f.payload);
			free(copy);
		}
	}
	proto_buf_free(&b);
}

/*
 * The payload is cut at every point and the header patched to match, so the
 * frame is complete but its fields are not: every such frame must be
 * refused, by the header check or by the payload decoder, without reading a
 * byte beyond the cut.
 */
Test(truncation, every_shortened_payload_is_rejected)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 off[64], sz[64], n, i, cut, plen;
	uint8_t			*copy;
	int			 r;

	proto_buf_init(&b);
	encode_samples(&b);
	n = split_frames(&b, off, sz, 64);
	for (i = 0; i < n; i++) {
		plen = sz[i] - PROTO_HDR_SIZE;
		for (cut = 0; cut < plen; cut++) {
			copy = malloc(PROTO_HDR_SIZE + cut);
			memcpy(copy, b.data + off[i], PROTO_HDR_SIZE + cut);
			copy[0] = (uint8_t)(cut >> 24);
			copy[1] = (uint8_t)(cut >> 16);
			copy[2] = (uint8_t)(cut >> 8);
			copy[3] = (uint8_t)cut;
			r = proto_frame_check(copy, PROTO_HDR_SIZE + cut,
			    PROTO_DEFAULT_MAX_FRAME, &f);
			if (r < 0)
				cr_assert_eq(-r, PROTO_DERR_BAD_LENGTH);
			else {
				cr_assert_eq((size_t)r, PROTO_HDR_SIZE + cut);
				cr_assert_neq(decode_any(&f), PROTO_DERR_OK,
				    "%s cut to %zu of %zu bytes was accepted",
				    proto_msg_name(f.hdr.type), cut, plen);
			}
			free(copy);
		}
	}
	proto_buf_free(&b);
}

Test(truncation, trailing_bytes_after_the_last_field_are_rejected)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 off[64], sz[64], n, i, extra, plen;
	uint8_t			*copy;
	enum proto_derr		 e;
	int			 r;

	proto_buf_init(&b);
	encode_samples(&b);
	n = split_frames(&b, off, sz, 64);
	for (i = 0; i < n; i++) {
		for (extra = 1; extra <= 6; extra++) {
			plen = sz[i] - PROTO_HDR_SIZE + extra;
			copy = malloc(PROTO_HDR_SIZE + plen);
			memcpy(copy, b.data + off[i], sz[i]);
			/* Zero garbage would even pass for a NUL-terminated string. */
			memset(copy + sz[i], 0, extra);
			copy[0] = (uint8_t)(plen >> 24);
			copy[1] = (uint8_t)(plen >> 16);
			copy[2] = (uint8_t)(plen >> 8);
			copy[3] = (uint8_t)plen;
			r = proto_frame_check(copy, PROTO_HDR_SIZE + plen,
			    PROTO_DEFAULT_MAX_FRAME, &f);
			if (r < 0)
				cr_assert_eq(-r, PROTO_DERR_BAD_LENGTH);
			else {
				e = decode_any(&f);
				cr_assert_eq(e, PROTO_DERR_TRAILING, "%s + %zu bytes gave %s",
				    proto_msg_name(f.hdr.type), extra, proto_derr_str(e));
			}
			free(copy);
		}
	}
	proto_buf_free(&b);
}

/* Writes a bare header into p. */
static void
put_header(uint8_t *p, uint32_t length, uint16_t type, uint16_t flags, uint32_t reqid)
{
	const uint8_t	 h[PROTO_HDR_SIZE] = { B32(length), B16(type), B16(flags), B32(reqid) };

	memcpy(p, h, sizeof(h));
}

Test(frame, oversized_frame_is_rejected_from_the_header_alone)
{
	uint8_t			 h[PROTO_HDR_SIZE];
	struct proto_frame	 f;

	put_header(h, PROTO_DEFAULT_MAX_FRAME + 1, PROTO_MSG_EXEC, 0, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
	    -(int)PROTO_DERR_OVERSIZED);
	cr_assert_eq(f.hdr.length, PROTO_DEFAULT_MAX_FRAME + 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_EXEC);

	/* Exactly at the limit is fine: we just wait for the payload. */
	put_header(h, PROTO_DEFAULT_MAX_FRAME, PROTO_MSG_EXEC, 0, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f), 0);
	cr_assert_eq(f.hdr.length, PROTO_DEFAULT_MAX_FRAME, "header filled while waiting");
}

Test(frame, limits_above_the_hard_cap_are_clamped)
{
	uint8_t			 h[PROTO_HDR_SIZE];
	struct proto_frame	 f;

	put_header(h, PROTO_MAX_FRAME_LIMIT + 1, PROTO_MSG_DATA_ROW, 0, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), UINT32_MAX, &f),
	    -(int)PROTO_DERR_OVERSIZED);
	put_header(h, 0xFFFFFFFFu, PROTO_MSG_DATA_ROW, 0, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), UINT32_MAX, &f),
	    -(int)PROTO_DERR_OVERSIZED);
}

Test(frame, unknown_types_are_rejected)
{
	const uint16_t		 bad[] = { 0, 15, 63, 64 + 9, 127, 128, 200, 0xFFFF };
	uint8_t			 h[PROTO_HDR_SIZE];
	struct proto_frame	 f;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_header(h, 0, bad[i], 0, 1);
		cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
		    -(int)PROTO_DERR_UNKNOWN_TYPE, "type %u", (unsigned)bad[i]);
		cr_assert_str_eq(proto_msg_name(bad[i]), "UNKNOWN");
	}
}

Test(frame, undefined_header_flags_are_rejected)
{
	uint8_t			 h[PROTO_HDR_SIZE];
	struct proto_frame	 f;

	put_header(h, 0, PROTO_MSG_OK, PROTO_F_MORE, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
	    -(int)PROTO_DERR_BAD_FLAGS);
	put_header(h, 14, PROTO_MSG_COMPLETE, PROTO_F_MORE | 0x0002, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
	    -(int)PROTO_DERR_BAD_FLAGS);
	put_header(h, 19, PROTO_MSG_EXEC, 0x8000, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
	    -(int)PROTO_DERR_BAD_FLAGS);
	put_header(h, 14, PROTO_MSG_COMPLETE, PROTO_F_MORE, 1);
	cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f), 0);
}

Test(frame, impossible_lengths_for_a_type_are_rejected_from_the_header)
{
	const struct { uint16_t type; uint32_t len; } cases[] = {
		{ PROTO_MSG_PING, 1 }, { PROTO_MSG_OK, 4 }, { PROTO_MSG_RELOAD, 1000 },
		{ PROTO_MSG_BEGIN, 3 }, { PROTO_MSG_DISPOSE, 5 }, { PROTO_MSG_COMPLETE, 13 },
		{ PROTO_MSG_HELLO, 20 }, { PROTO_MSG_ERROR, 0 }, { PROTO_MSG_EXEC, 18 },
	};
	uint8_t			 h[PROTO_HDR_SIZE];
	struct proto_frame	 f;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_header(h, cases[i].len, cases[i].type, 0, 1);
		cr_assert_eq(proto_frame_check(h, sizeof(h), PROTO_DEFAULT_MAX_FRAME, &f),
		    -(int)PROTO_DERR_BAD_LENGTH, "%s with %u bytes",
		    proto_msg_name(cases[i].type), (unsigned)cases[i].len);
	}
}

Test(frame, check_reports_total_size_and_ignores_bytes_after_the_frame)
{
	uint8_t			 p[PROTO_HDR_SIZE + 4 + 3];
	struct proto_frame	 f;

	put_header(p, 4, PROTO_MSG_BEGIN, 0, 5);
	memcpy(p + PROTO_HDR_SIZE, (const uint8_t[]){ B32(77) }, 4);
	memset(p + PROTO_HDR_SIZE + 4, 0xAA, 3);
	cr_assert_eq(proto_frame_check(p, sizeof(p), PROTO_DEFAULT_MAX_FRAME, &f),
	    PROTO_HDR_SIZE + 4);
	cr_assert_eq(f.payload, p + PROTO_HDR_SIZE);
	cr_assert_eq(f.hdr.request_id, 5);
}

/* Table-driven malformed payloads; each builds one frame around the bytes. */
struct bad_case {
	const char	*name;
	uint16_t	 type;
	uint16_t	 flags;
	const uint8_t	*payload;
	size_t		 len;
	enum proto_derr	 want;
};

#define PAYLOAD(...)	(const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
#define HELLO_TAIL	B32(1), B32(PROTO_DEFAULT_MAX_FRAME)

static const struct bad_case bad_cases[] = {
	{ "str without its NUL", PROTO_MSG_RESOLVE, 0,
	    PAYLOAD(B32(1), 'a', 'x', S0), PROTO_DERR_BAD_STRING },
	{ "str with a NUL inside", PROTO_MSG_RESOLVE, 0,
	    PAYLOAD(B32(3), 'a', 0, 'b', 0, S0), PROTO_DERR_BAD_STRING },
	{ "SQL NULL in a str", PROTO_MSG_RESOLVE, 0,
	    PAYLOAD(SNULL, SA), PROTO_DERR_UNEXPECTED_NULL },
	{ "str longer than the payload", PROTO_MSG_DISPOSE_POOL, 0,
	    PAYLOAD(B32(100), 'a', 0), PROTO_DERR_TRUNCATED },
	{ "str length near 2^32 does not wrap", PROTO_MSG_DISPOSE_POOL, 0,
	    PAYLOAD(B32(0xFFFFFFFEu), 'a', 0), PROTO_DERR_TRUNCATED },
	{ "str whose NUL is cut off", PROTO_MSG_DISPOSE_POOL, 0,
	    PAYLOAD(B32(2), 'a', 'b'), PROTO_DERR_TRUNCATED },
	{ "byte after the last field", PROTO_MSG_DISPOSE_POOL, 0,
	    PAYLOAD(SA, 0), PROTO_DERR_TRAILING },
	{ "EXEC with 65535 params and none sent", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(65535)), PROTO_DERR_BAD_COUNT },
	{ "EXEC with more params than bytes could hold", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(3), SNULL, SNULL), PROTO_DERR_BAD_COUNT },
	{ "EXEC with a param cut short", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(2), SNULL, B32(9), 'a', 'b', 0),
	    PROTO_DERR_TRUNCATED },
	{ "EXEC with undefined flags", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(1), B32(0), S0, B16(0)), PROTO_DERR_BAD_VALUE },
	{ "EXEC param without its NUL", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(1), B32(1), 'a', 'b'),
	    PROTO_DERR_BAD_STRING },
	{ "DATA_ROW with 65535 columns in two bytes", PROTO_MSG_DATA_ROW, 0,
	    PAYLOAD(B16(65535)), PROTO_DERR_BAD_COUNT },
	{ "DATA_ROW with one value fewer than counted", PROTO_MSG_DATA_ROW, 0,
	    PAYLOAD(B16(2), B32(3), 'a', 'b', 'c', 0), PROTO_DERR_TRUNCATED },
	{ "DATA_ROW value without its NUL", PROTO_MSG_DATA_ROW, 0,
	    PAYLOAD(B16(1), B32(1), 'a', 'b'), PROTO_DERR_BAD_STRING },
	{ "DATA_ROW value may hold a NUL", PROTO_MSG_DATA_ROW, 0,
	    PAYLOAD(B16(1), B32(3), 'a', 0, 'b', 0), PROTO_DERR_OK },
	{ "ROW_DESC column name is never NULL", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(2), SA, SNULL, 0), PROTO_DERR_UNEXPECTED_NULL },
	{ "ROW_DESC with 65535 columns", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(65535), SA, SA), PROTO_DERR_BAD_COUNT },
	{ "OPEN with absurd override count", PROTO_MSG_OPEN, 0,
	    PAYLOAD(SA, SA, B32(0), B16(40000), SA, SA), PROTO_DERR_BAD_COUNT },
	{ "OPEN override value NULL", PROTO_MSG_OPEN, 0,
	    PAYLOAD(SA, SA, B32(0), B16(1), SA, SNULL, 0), PROTO_DERR_UNEXPECTED_NULL },
	{ "OPEN with an undefined flag", PROTO_MSG_OPEN, 0,
	    PAYLOAD(SA, SA, B32(2), B16(0)), PROTO_DERR_BAD_VALUE },
	{ "HELLO with bad magic", PROTO_MSG_HELLO, 0,
	    PAYLOAD('G', 'E', 'T', ' ', B16(1), B16(1), S0, HELLO_TAIL), PROTO_DERR_BAD_MAGIC },
	{ "HELLO with byte-swapped magic", PROTO_MSG_HELLO, 0,
	    PAYLOAD('1', 'M', 'B', 'D', B16(1), B16(1), S0, HELLO_TAIL), PROTO_DERR_BAD_MAGIC },
	{ "HELLO with min_version 0", PROTO_MSG_HELLO, 0,
	    PAYLOAD(B32(PROTO_MAGIC), B16(0), B16(1), S0, HELLO_TAIL), PROTO_DERR_BAD_VALUE },
	{ "HELLO with min above max", PROTO_MSG_HELLO, 0,
	    PAYLOAD(B32(PROTO_MAGIC), B16(3), B16(2), S0, HELLO_TAIL), PROTO_DERR_BAD_VALUE },
	{ "HELLO with a tiny max_frame", PROTO_MSG_HELLO, 0,
	    PAYLOAD(B32(PROTO_MAGIC), B16(1), B16(1), S0, B32(1), B32(100)),
	    PROTO_DERR_BAD_VALUE },
	{ "HELLO from a future version is well formed", PROTO_MSG_HELLO, 0,
	    PAYLOAD(B32(PROTO_MAGIC), B16(2), B16(9), SA, HELLO_TAIL), PROTO_DERR_OK },
	{ "HELLO with a field appended", PROTO_MSG_HELLO, 0,
	    PAYLOAD(B32(PROTO_MAGIC), B16(1), B16(1), S0, HELLO_TAIL, B32(0)),
	    PROTO_DERR_TRAILING },
	{ "HELLO_OK with version 0", PROTO_MSG_HELLO_OK, 0,
	    PAYLOAD(B16(0), S0, B32(PROTO_DEFAULT_MAX_FRAME), B32(1), B32(1)),
	    PROTO_DERR_BAD_VALUE },
	{ "HELLO_OK allowing no request in flight", PROTO_MSG_HELLO_OK, 0,
	    PAYLOAD(B16(1), S0, B32(PROTO_DEFAULT_MAX_FRAME), B32(1), B32(0)),
	    PROTO_DERR_BAD_VALUE },
	{ "COMPLETE with an unknown cache state", PROTO_MSG_COMPLETE, 0,
	    PAYLOAD(B64(1), S0, 3), PROTO_DERR_BAD_VALUE },
	{ "COMPLETE tag without its NUL", PROTO_MSG_COMPLETE, 0,
	    PAYLOAD(B64(1), B32(1), 'x', 'y'), PROTO_DERR_BAD_STRING },
	{ "ERROR with code OK", PROTO_MSG_ERROR, 0,
	    PAYLOAD(B16(0), S0, S0, S0, S0), PROTO_DERR_BAD_VALUE },
	{ "ERROR with a code from a newer server", PROTO_MSG_ERROR, 0,
	    PAYLOAD(B16(999), S0, SA, S0, S0), PROTO_DERR_OK },
	{ "ERROR missing its hint", PROTO_MSG_ERROR, 0,
	    PAYLOAD(B16(10), S0, S0, S0, B32(7), 'a', 'b'), PROTO_DERR_TRUNCATED },
	{ "GOODBYE with code OK", PROTO_MSG_GOODBYE, 0,
	    PAYLOAD(B16(0), SA), PROTO_DERR_BAD_VALUE },
	{ "PING with a payload", PROTO_MSG_PING, 0, PAYLOAD(0), PROTO_DERR_BAD_LENGTH },
	{ "BEGIN with a short handle", PROTO_MSG_BEGIN, 0, PAYLOAD(0, 0, 1),
	    PROTO_DERR_BAD_LENGTH },
	{ "OK with the MORE flag", PROTO_MSG_OK, PROTO_F_MORE, NULL, 0, PROTO_DERR_BAD_FLAGS },
	{ "type 0", 0, 0, NULL, 0, PROTO_DERR_UNKNOWN_TYPE },
	{ "reply type one past the last", PROTO_MSG_GOODBYE + 1, 0, PAYLOAD(SA),
	    PROTO_DERR_UNKNOWN_TYPE },
};

Test(malformed, table_of_bad_payloads_gets_the_specific_error)
{
	struct proto_frame	 f;
	const struct bad_case	*c;
	uint8_t			*p;
	enum proto_derr		 got;
	size_t			 i, total;
	int			 r;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		c = &bad_cases[i];
		total = PROTO_HDR_SIZE + c->len;
		p = malloc(total);
		put_header(p, (uint32_t)c->len, c->type, c->flags, 1);
		if (c->len > 0)
			memcpy(p + PROTO_HDR_SIZE, c->payload, c->len);
		r = proto_frame_check(p, total, PROTO_DEFAULT_MAX_FRAME, &f);
		if (r < 0)
			got = (enum proto_derr)-r;
		else {
			cr_assert_eq((size_t)r, total, "%s: frame size", c->name);
			got = decode_any(&f);
		}
		cr_expect_eq(got, c->want, "%s: got \"%s\", want \"%s\"", c->name,
		    proto_derr_str(got), proto_derr_str(c->want));
		free(p);
	}
}

Test(malformed, decoder_never_reads_past_a_frame_cut_inside_a_string)
{
	/* A str claims 3 bytes; the payload ends after 2 with nothing behind it. */
	struct proto_frame	 f;
	struct proto_dispose_pool m;
	uint8_t			*p = malloc(6);

	memcpy(p, (const uint8_t[]){ B32(3), 'a', 'b' }, 6);
	f.hdr = (struct proto_frame_hdr){ 6, PROTO_MSG_DISPOSE_POOL, 0, 1 };
	f.payload = p;
	cr_assert_eq(proto_decode_dispose_pool(&f, &m), PROTO_DERR_TRUNCATED);
	free(p);
}

/* xorshift32: a fixed-seed generator so random splits are reproducible. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Builds a stream of many frames of mixed types and sizes. */
static void
build_stream(struct proto_buf *b, int rounds)
{
	struct proto_buf	 one;
	char			 big[3000];
	const char		*vals[2] = { big, NULL };
	struct proto_data_row	 dr = { 2, vals, NULL, { 0 } };
	int			 i;

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	proto_buf_init(&one);
	encode_samples(&one);
	for (i = 0; i < rounds; i++) {
		proto_buf_reserve(b, one.len);
		memcpy(b->data + b->len, one.data, one.len);
		b->len += one.len;
		/* A frame larger than the decoder's chunk, to exercise growth. */
		cr_assert_eq(proto_encode_data_row(b, (uint32_t)i, &dr), PROTO_E_OK);
	}
	cr_assert_eq(b->oom, 0);
	proto_buf_free(&one);
}

/*
 * Feeds stream to a decoder in chunks of `fixed` bytes, or of random sizes
 * from seed when fixed is 0, either by proto_decoder_feed or by writing into
 * proto_decoder_space as read(2) would; checks that the frames come out
 * exactly as the stream holds them, in order.
 */
static void
decode_in_chunks(const struct proto_buf *stream, uint32_t seed, size_t fixed, bool use_space)
{
	struct proto_decoder	 d;
	struct proto_frame	 f, want;
	size_t			 fed = 0, expect_off = 0, chunk, avail, frames = 0;
	uint8_t			*dst;
	int			 r;

	proto_decoder_init(&d, PROTO_DEFAULT_MAX_FRAME);
	while (fed < stream->len) {
		chunk = fixed != 0 ? fixed : 1 + rnd(&seed) % 700;
		if (chunk > stream->len - fed)
			chunk = stream->len - fed;
		if (use_space) {
			dst = proto_decoder_space(&d, 0, &avail);
			cr_assert_not_null(dst);
			cr_assert_gt(avail, 0);
			if (chunk > avail)
				chunk = avail;
			memcpy(dst, stream->data + fed, chunk);
			proto_decoder_commit(&d, chunk);
		} else
			cr_assert_eq(proto_decoder_feed(&d, stream->data + fed, chunk), 0);
		fed += chunk;
		while ((r = proto_decoder_next(&d, &f)) == 1) {
			cr_assert_gt(proto_frame_check(stream->data + expect_off,
			    stream->len - expect_off, PROTO_DEFAULT_MAX_FRAME, &want), 0);
			cr_assert_eq(f.hdr.length, want.hdr.length);
			cr_assert_eq(f.hdr.type, want.hdr.type);
			cr_assert_eq(f.hdr.flags, want.hdr.flags);
			cr_assert_eq(f.hdr.request_id, want.hdr.request_id);
			cr_assert_eq(memcmp(f.payload, want.payload, f.hdr.length), 0);
			cr_assert_eq(decode_any(&f), PROTO_DERR_OK);
			expect_off += PROTO_HDR_SIZE + f.hdr.length;
			frames++;
		}
		cr_assert_eq(r, 0, "decoder error: %s", d.errstr);
	}
	cr_assert_eq(expect_off, stream->len, "not every frame came out");
	cr_assert_gt(frames, 0);
	proto_decoder_free(&d);
}

Test(stream, one_shot_decoding_yields_every_frame_in_order)
{
	struct proto_buf	 s;

	proto_buf_init(&s);
	build_stream(&s, 20);
	decode_in_chunks(&s, 0, s.len, false);
	proto_buf_free(&s);
}

Test(stream, byte_at_a_time_decoding_yields_the_same_frames)
{
	struct proto_buf	 s;

	proto_buf_init(&s);
	build_stream(&s, 20);
	decode_in_chunks(&s, 0, 1, false);
	decode_in_chunks(&s, 0, 1, true);
	proto_buf_free(&s);
}

Test(stream, random_split_points_yield_the_same_frames)
{
	struct proto_buf	 s;
	uint32_t		 seed;

	proto_buf_init(&s);
	build_stream(&s, 20);
	for (seed = 1; seed <= 20; seed++)
		decode_in_chunks(&s, seed * 2654435761u, 0, seed % 2 == 0);
	proto_buf_free(&s);
}

Test(stream, frames_taken_together_stay_valid_until_the_next_feed)
{
	struct proto_buf	 s;
	struct proto_decoder	 d;
	struct proto_frame	 f[64];
	size_t			 n = 0, i;

	proto_buf_init(&s);
	encode_samples(&s);
	proto_decoder_init(&d, 0);
	cr_assert_eq(d.max_payload, PROTO_DEFAULT_MAX_FRAME, "0 means the default");
	cr_assert_eq(proto_decoder_feed(&d, s.data, s.len), 0);
	while (n < 64 && proto_decoder_next(&d, &f[n]) == 1)
		n++;
	cr_assert_geq(n, 22);
	for (i = 0; i < n; i++)
		cr_assert_eq(decode_any(&f[i]), PROTO_DERR_OK);
	proto_decoder_free(&d);
	proto_buf_free(&s);
}

Test(stream, oversized_header_fails_at_once_and_the_error_sticks)
{
	struct proto_decoder	 d;
	struct proto_frame	 f;
	uint8_t			 h[PROTO_HDR_SIZE];

	proto_decoder_init(&d, 4096);
	put_header(h, 60u << 20, PROTO_MSG_EXEC, 0, 1);
	cr_assert_eq(proto_decoder_feed(&d, h, sizeof(h)), 0);
	cr_assert_eq(proto_decoder_next(&d, &f), -1);
	cr_assert_eq(d.err, PROTO_DERR_OVERSIZED);
	cr_assert_not_null(strstr(d.errstr, "exceeds the limit of 4096"), "errstr: %s",
	    d.errstr);
	cr_assert_lt(d.cap, 64u << 10, "payload was not buffered");
	cr_assert_eq(proto_decoder_next(&d, &f), -1);
	cr_assert_eq(proto_decoder_feed(&d, h, sizeof(h)), -1);
	proto_decoder_free(&d);
	proto_decoder_free(NULL);
}

Test(stream, bad_header_in_the_middle_of_a_stream_stops_the_decoder)
{
	struct proto_buf	 s;
	struct proto_decoder	 d;
	struct proto_frame	 f;
	uint8_t			 h[PROTO_HDR_SIZE];
	int			 good = 0, r;

	proto_buf_init(&s);
	proto_encode_empty(&s, PROTO_MSG_PING, 1);
	proto_encode_empty(&s, PROTO_MSG_PING, 2);
	put_header(h, 0, 999, 0, 3);
	proto_decoder_init(&d, 0);
	proto_decoder_feed(&d, s.data, s.len);
	proto_decoder_feed(&d, h, sizeof(h));
	proto_decoder_feed(&d, s.data, s.len);
	while ((r = proto_decoder_next(&d, &f)) == 1)
		good++;
	cr_assert_eq(good, 2);
	cr_assert_eq(r, -1);
	cr_assert_eq(d.err, PROTO_DERR_UNKNOWN_TYPE);
	cr_assert_str_eq(d.errstr, "unknown message type 999");
	proto_decoder_free(&d);
	proto_buf_free(&s);
}

Test(stream, large_buffer_is_released_once_drained)
{
	struct proto_decoder	 d;
	struct proto_buf	 b;
	struct proto_frame	 f;
	char			*big = malloc(200000);
	const char		*vals[1] = { big };
	struct proto_data_row	 dr = { 1, vals, NULL, { 0 } };

	memset(big, 'q', 199999);
	big[199999] = '\0';
	proto_buf_init(&b);
	cr_assert_eq(proto_encode_data_row(&b, 1, &dr), PROTO_E_OK);
	proto_decoder_init(&d, 0);
	cr_assert_eq(proto_decoder_feed(&d, b.data, b.len), 0);
	cr_assert_eq(proto_decoder_next(&d, &f), 1);
	cr_assert_eq(decode_any(&f), PROTO_DERR_OK);
	cr_assert_geq(d.cap, b.len);
	proto_buf_reset(&b);
	proto_encode_empty(&b, PROTO_MSG_PONG, 2);
	cr_assert_eq(proto_decoder_feed(&d, b.data, b.len), 0);
	cr_assert_lt(d.cap, 64u << 10, "an idle connection keeps no big buffer");
	cr_assert_eq(proto_decoder_next(&d, &f), 1);
	cr_assert_eq(f.hdr.type, PROTO_MSG_PONG);
	proto_decoder_free(&d);
	proto_buf_free(&b);
	free(big);
}

Test(buf, frames_written_back_to_back_are_all_whole)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 off = 0, start;
	uint32_t		 i;
	int			 r;

	proto_buf_init(&b);
	for (i = 0; i < 1000; i++) {
		start = proto_begin(&b, PROTO_MSG_DATA_ROW, 0, i);
		cr_assert_eq(start, b.len - PROTO_HDR_SIZE);
		proto_put_u16(&b, 1);
		proto_put_nstr(&b, "row", 3);
		cr_assert_eq(proto_end(&b), PROTO_E_OK);
	}
	for (i = 0; off < b.len; i++) {
		r = proto_frame_check(b.data + off, b.len - off, PROTO_DEFAULT_MAX_FRAME, &f);
		cr_assert_gt(r, 0);
		cr_assert_eq(f.hdr.request_id, i);
		cr_assert_eq(decode_any(&f), PROTO_DERR_OK);
		off += (size_t)r;
	}
	cr_assert_eq(i, 1000);
	proto_buf_free(&b);
	proto_buf_free(NULL);
}

Test(buf, frame_over_the_peer_limit_is_refused_and_removed)
{
	const char		*vals[1];
	struct proto_data_row	 dr = { 1, vals, NULL, { 0 } };
	struct proto_buf	 b;
	size_t			 before;
	char			*big = malloc(5000);

	memset(big, 'z', 4999);
	big[4999] = '\0';
	vals[0] = big;
	proto_buf_init(&b);
	b.max_payload = 1000;
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PONG, 1), PROTO_E_OK);
	before = b.len;
	cr_assert_eq(proto_encode_data_row(&b, 2, &dr), PROTO_E_LIMIT);
	cr_assert_eq(b.len, before, "the refused frame left no bytes behind");
	cr_assert_lt(b.cap, 4096, "the refused value was never buffered");
	/* The producer can say so instead; the buffer still works. */
	cr_assert_eq(proto_encode_error(&b, 2, &(struct proto_error){ PROTO_E_LIMIT, "",
	    "row too large", "", "" }), PROTO_E_OK);
	vals[0] = "small";
	cr_assert_eq(proto_encode_data_row(&b, 3, &dr), PROTO_E_OK);
	/* A payload of exactly the limit is allowed. */
	proto_begin(&b, PROTO_MSG_DATA_ROW, 0, 4);
	proto_put_u16(&b, 1);
	proto_put_nstr(&b, big, 1000 - 2 - 5);
	cr_assert_eq(proto_end(&b), PROTO_E_OK);
	proto_buf_free(&b);
	free(big);
}

Test(buf, out_of_memory_is_sticky_and_reported_by_end)
{
	struct proto_buf	 b;
	size_t			 before;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, 1), PROTO_E_OK);
	before = b.len;
	cr_assert_eq(proto_buf_reserve(&b, PROTO_BUF_MAX), -1);
	cr_assert_eq(b.oom, 1);
	cr_assert_eq(proto_encode_handle(&b, PROTO_MSG_BEGIN, 2, 1), PROTO_E_NOMEM);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, 3), PROTO_E_NOMEM);
	cr_assert_eq(b.len, before, "whole frames before the failure are kept");
	proto_buf_reset(&b);
	cr_assert_eq(b.oom, 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_PING, 4), PROTO_E_OK);
	proto_buf_free(&b);
}

Test(buf, misuse_is_reported_not_crashed_on)
{
	struct proto_buf	 b;
	struct proto_exec	 ex = { .handle_id = 1, .sql = "x", .nparams = 2 };
	struct proto_complete	 cm = { 0, "", PROTO_CACHE_MAX_, false };
	struct proto_error	 er = { PROTO_E_OK, "", "", "", "" };
	struct proto_hello	 he = { 2, 1, "", 0, PROTO_DEFAULT_MAX_FRAME };

	proto_buf_init(&b);
	cr_assert_eq(proto_end(&b), PROTO_E_INTERNAL, "end without begin");
	cr_assert_eq(proto_encode_handle(&b, PROTO_MSG_PING, 1, 1), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_empty(&b, PROTO_MSG_BEGIN, 1), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_empty(&b, 500, 1), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_exec(&b, 1, &ex), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_complete(&b, 1, &cm), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_error(&b, 1, &er), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_hello(&b, 1, &he), PROTO_E_INTERNAL);
	cr_assert_eq(b.len, 0, "refused encodes wrote nothing");

	/* A second begin discards the unfinished frame rather than nesting. */
	proto_begin(&b, PROTO_MSG_DATA_ROW, 0, 1);
	proto_put_u16(&b, 5);
	proto_begin(&b, PROTO_MSG_PING, 0, 2);
	cr_assert_eq(proto_end(&b), PROTO_E_OK);
	cr_assert_eq(b.len, PROTO_HDR_SIZE);
	proto_buf_free(&b);
}

Test(buf, consume_drops_written_bytes_and_keeps_the_open_frame)
{
	struct proto_buf	 b;
	struct proto_frame	 f;
	size_t			 first;

	proto_buf_init(&b);
	proto_encode_handle(&b, PROTO_MSG_BEGIN, 1, 1);
	first = b.len;
	proto_begin(&b, PROTO_MSG_DISPOSE, 0, 2);
	proto_buf_consume(&b, first + 100);	/* clamped to the open frame */
	cr_assert_eq(b.frame, 0);
	proto_put_u32(&b, 9);
	cr_assert_eq(proto_end(&b), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.type, PROTO_MSG_DISPOSE);
	cr_assert_eq(f.hdr.request_id, 2);
	proto_buf_consume(&b, 5);
	cr_assert_eq(b.len, PROTO_HDR_SIZE + 4 - 5);
	proto_buf_free(&b);
}

Test(names, every_message_type_has_a_name_and_a_direction)
{
	unsigned	 t, requests = 0, replies = 0;

	for (t = 0; t <= 0xFFFF; t++) {
		if (strcmp(proto_msg_name((uint16_t)t), "UNKNOWN") == 0) {
			cr_assert_not(proto_msg_is_request((uint16_t)t));
			cr_assert_not(proto_msg_is_reply((uint16_t)t));
			continue;
		}
		cr_assert(proto_msg_is_request((uint16_t)t) != proto_msg_is_reply((uint16_t)t));
		if (proto_msg_is_request((uint16_t)t)) {
			cr_assert(t >= PROTO_MSG_REQUEST_FIRST && t <= PROTO_MSG_REQUEST_LAST);
			requests++;
		} else {
			cr_assert(t >= PROTO_MSG_REPLY_FIRST && t <= PROTO_MSG_REPLY_LAST);
			replies++;
		}
	}
	cr_assert_eq(requests, 14);
	cr_assert_eq(replies, 9);
	cr_assert_str_eq(proto_msg_name(PROTO_MSG_DISPOSE_POOL), "DISPOSE_POOL");
}

Test(names, error_codes_keep_their_published_numbers)
{
	/* The library publishes these as DBM_E_*; renumbering breaks applications. */
	cr_assert_eq(PROTO_E_OK, 0);
	cr_assert_eq(PROTO_E_PROTOCOL, 1);
	cr_assert_eq(PROTO_E_VERSION, 2);
	cr_assert_eq(PROTO_E_UNKNOWN_ENV, 3);
	cr_assert_eq(PROTO_E_UNKNOWN_ROLE, 4);
	cr_assert_eq(PROTO_E_CONFIG, 5);
	cr_assert_eq(PROTO_E_NOT_OVERRIDABLE, 6);
	cr_assert_eq(PROTO_E_PERMISSION, 7);
	cr_assert_eq(PROTO_E_LIMIT, 8);
	cr_assert_eq(PROTO_E_BACKEND, 9);
	cr_assert_eq(PROTO_E_SQL, 10);
	cr_assert_eq(PROTO_E_TIMEOUT, 11);
	cr_assert_eq(PROTO_E_NO_HANDLE, 12);
	cr_assert_eq(PROTO_E_TXN_STATE, 13);
	cr_assert_eq(PROTO_E_SHUTDOWN, 14);
	cr_assert_eq(PROTO_E_DRAINING, 15);
	cr_assert_eq(PROTO_E_CANCELED, 16);
	cr_assert_eq(PROTO_E_CONNECTION, 17);
	cr_assert_eq(PROTO_E_INTERNAL, 18);
	cr_assert_eq(PROTO_E_NOMEM, 19);
	cr_assert_eq(PROTO_E_MAX_, 20);
	cr_assert_eq(PROTO_MSG_HELLO, 1);
	cr_assert_eq(PROTO_MSG_HELLO_OK, 64);
	cr_assert_eq(PROTO_MAGIC, 0x44424D31u);
}

Test(names, every_error_code_has_its_own_description)
{
	int	 i, j;

	for (i = 0; i < PROTO_E_MAX_; i++) {
		cr_assert_not_null(proto_strerror(i));
		cr_assert_neq(strcmp(proto_strerror(i), "unknown error"), 0);
		for (j = 0; j < i; j++)
			cr_assert_str_neq(proto_strerror(i), proto_strerror(j));
	}
	cr_assert_str_eq(proto_strerror(-1), "unknown error");
	cr_assert_str_eq(proto_strerror(PROTO_E_MAX_), "unknown error");
	for (i = 0; i < PROTO_DERR_MAX_; i++)
		cr_assert_not_null(proto_derr_str((enum proto_derr)i));
	cr_assert_str_eq(proto_derr_str(PROTO_DERR_MAX_), "unknown decode error");
}

Test(names, reply_ends_and_version_choice)
{
	struct proto_frame_hdr	 h = { 0, PROTO_MSG_DATA_ROW, 0, 1 };

	cr_assert_not(proto_frame_ends_reply(&h));
	h.type = PROTO_MSG_ROW_DESC;
	cr_assert_not(proto_frame_ends_reply(&h));
	h.type = PROTO_MSG_GOODBYE;
	cr_assert_not(proto_frame_ends_reply(&h));
	h.type = PROTO_MSG_ERROR;
	cr_assert(proto_frame_ends_reply(&h));
	h.type = PROTO_MSG_OPEN_OK;
	cr_assert(proto_frame_ends_reply(&h));

	cr_assert_eq(proto_version_choose(1, 1), 1);
	cr_assert_eq(proto_version_choose(1, 7), PROTO_VERSION_MAX);
	cr_assert_eq(proto_version_choose(2, 7), 2);
	cr_assert_eq(proto_version_choose(1, 2), 2);
	cr_assert_eq(proto_version_choose(3, 7), 0, "no common version");
	cr_assert_eq(proto_version_choose(0, 0), 0);
}

/*
 * Version 2: EXEC carries a format per parameter, ROW_DESC a type per column, both
 * after what version 1 has; a version 1 frame is what it always was.
 */
TestSuite(v2, .timeout = 10);

static const struct bad_case bad_v2_cases[] = {
	{ "EXEC v2 with format 2", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(1), SA, B16(2)), PROTO_DERR_BAD_VALUE },
	{ "EXEC v2 with format 0x0100", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(2), SA, SNULL, B16(0), B16(0x100)),
	    PROTO_DERR_BAD_VALUE },
	{ "EXEC v2 with one format of two", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(2), SA, SNULL, B16(1)),
	    PROTO_DERR_TRUNCATED },
	{ "EXEC v2 with a format cut in half", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(1), SA, 0), PROTO_DERR_TRUNCATED },
	{ "EXEC v2 with no formats at all", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(1), SA), PROTO_DERR_TRUNCATED },
	{ "EXEC v2 with a byte after the formats", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(1), SA, B16(1), 0), PROTO_DERR_TRAILING },
	{ "EXEC v2 without params has no formats", PROTO_MSG_EXEC, 0,
	    PAYLOAD(B32(1), B32(0), B32(0), S0, B16(0)), PROTO_DERR_OK },
	{ "ROW_DESC v2 with format 2", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(1), SA, B32(25), B32(-1), B16(2)), PROTO_DERR_BAD_VALUE },
	{ "ROW_DESC v2 with one type of two", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(2), SA, SA, B32(25), B32(-1), B16(0)), PROTO_DERR_TRUNCATED },
	{ "ROW_DESC v2 with a type cut short", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(1), SA, B32(25), B32(-1), 0), PROTO_DERR_TRUNCATED },
	{ "ROW_DESC v2 with no types at all", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(1), SA), PROTO_DERR_TRUNCATED },
	{ "ROW_DESC v2 with a byte after the types", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(1), SA, B32(17), B32(-1), B16(1), 0), PROTO_DERR_TRAILING },
	{ "ROW_DESC v2 of bytea", PROTO_MSG_ROW_DESC, 0,
	    PAYLOAD(B16(1), SA, B32(17), B32(-1), B16(1)), PROTO_DERR_OK },
};

/* Decodes EXEC and ROW_DESC as version 2, and checks what the accessors give. */
static enum proto_derr
decode_v2(const struct proto_frame *f)
{
	struct proto_exec	 x;
	struct proto_row_desc	 rd;
	struct proto_col	 c;
	enum proto_derr		 e;
	uint16_t		 i;

	if (f->hdr.type == PROTO_MSG_EXEC) {
		if ((e = proto_decode_exec(f, 2, &x)) == PROTO_DERR_OK)
			for (i = 0; i < x.nparams; i++)
				cr_assert_leq(proto_exec_format(&x, i), PROTO_FORMAT_BINARY);
		return e;
	}
	cr_assert_eq(f->hdr.type, PROTO_MSG_ROW_DESC);
	if ((e = proto_decode_row_desc(f, 2, &rd)) == PROTO_DERR_OK)
		for (i = 0; i < rd.ncols; i++) {
			proto_row_desc_col(&rd, i, &c);
			cr_assert_leq(c.format, PROTO_FORMAT_BINARY);
		}
	return e;
}

Test(v2, table_of_bad_payloads_gets_the_specific_error)
{
	struct proto_frame	 f;
	const struct bad_case	*c;
	uint8_t			*p;
	enum proto_derr		 got;
	size_t			 i, total;
	int			 r;

	for (i = 0; i < sizeof(bad_v2_cases) / sizeof(bad_v2_cases[0]); i++) {
		c = &bad_v2_cases[i];
		total = PROTO_HDR_SIZE + c->len;
		p = malloc(total);
		put_header(p, (uint32_t)c->len, c->type, c->flags, 1);
		memcpy(p + PROTO_HDR_SIZE, c->payload, c->len);
		r = proto_frame_check(p, total, PROTO_DEFAULT_MAX_FRAME, &f);
		cr_assert_gt(r, 0, "%s: the header alone is refused (%d)", c->name, r);
		got = decode_v2(&f);
		cr_expect_eq(got, c->want, "%s: got \"%s\", want \"%s\"", c->name,
		    proto_derr_str(got), proto_derr_str(c->want));
		free(p);
	}
}

Test(v2, exec_keeps_each_parameters_format)
{
	static const char	 bin[] = { 'a', '\0', 'b', (char)0xFF };
	const char *const	 params[] = { "42", bin, NULL, "" };
	const uint32_t		 lens[] = { 2, sizeof(bin), 0, 0 };
	const uint16_t		 formats[] = { PROTO_FORMAT_TEXT, PROTO_FORMAT_BINARY,
	    PROTO_FORMAT_BINARY, PROTO_FORMAT_BINARY };
	struct proto_exec	 in = { .version = 2, .handle_id = 3, .sql = "INSERT",
	    .nparams = 4, .params = params, .param_lens = lens, .formats = formats }, out;
	struct proto_buf	 b, b1;
	struct proto_frame	 f;
	struct proto_value	 v[4];
	uint16_t		 i;

	proto_buf_init(&b);
	proto_buf_init(&b1);
	cr_assert_eq(proto_encode_exec(&b, 9, &in), PROTO_E_OK);
	in.version = 1;
	cr_assert_eq(proto_encode_exec(&b1, 9, &in), PROTO_E_OK);
	cr_assert_eq(b.len, b1.len + 2 * 4, "version 2 appends a u16 per parameter");
	cr_assert_eq(memcmp(b.data + PROTO_HDR_SIZE, b1.data + PROTO_HDR_SIZE,
	    b1.len - PROTO_HDR_SIZE), 0, "version 2 begins with the version 1 layout");
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 2, &out), PROTO_DERR_OK);
	cr_assert_eq(out.version, 2);
	cr_assert_eq(out.nparams, 4);
	cr_assert_eq(collect(out.param_iter, v, 4), 4);
	assert_value(v[0], "42", 2);
	assert_value(v[1], bin, sizeof(bin));
	assert_value(v[2], NULL, 0);
	assert_value(v[3], "", 0);
	for (i = 0; i < 4; i++)
		cr_assert_eq(proto_exec_format(&out, i), formats[i], "parameter %u", i);
	cr_assert_eq(proto_exec_format(&out, 4), PROTO_FORMAT_TEXT, "out of range");
	proto_buf_free(&b);
	proto_buf_free(&b1);
}

Test(v2, exec_without_formats_is_all_text)
{
	const char *const	 params[] = { "a", "b" };
	struct proto_exec	 in = { .version = 2, .handle_id = 1, .sql = "SELECT $1, $2",
	    .nparams = 2, .params = params }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 1, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_exec(&f, 2, &out), PROTO_DERR_OK);
	cr_assert_not_null(out.format_bytes);
	cr_assert_eq(proto_exec_format(&out, 0), PROTO_FORMAT_TEXT);
	cr_assert_eq(proto_exec_format(&out, 1), PROTO_FORMAT_TEXT);
	proto_buf_free(&b);
}

Test(v2, version_1_exec_is_unchanged_and_has_no_formats)
{
	const char *const	 params[] = { "x" };
	const uint16_t		 formats[] = { PROTO_FORMAT_BINARY };
	struct proto_exec	 in = { .handle_id = 1, .sql = "SELECT $1", .nparams = 1,
	    .params = params }, out;
	struct proto_buf	 b0, b1;
	struct proto_frame	 f;

	proto_buf_init(&b0);
	proto_buf_init(&b1);
	cr_assert_eq(proto_encode_exec(&b0, 5, &in), PROTO_E_OK);
	in.version = 1;
	in.formats = formats;	/* ignored: version 1 has no place for them */
	cr_assert_eq(proto_encode_exec(&b1, 5, &in), PROTO_E_OK);
	cr_assert_eq(b0.len, b1.len);
	cr_assert_eq(memcmp(b0.data, b1.data, b0.len), 0);
	f = only_frame(&b1);
	cr_assert_eq(proto_decode_exec(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_null(out.format_bytes);
	cr_assert_eq(proto_exec_format(&out, 0), PROTO_FORMAT_TEXT);
	cr_assert_eq(proto_decode_exec(&f, 2, &out), PROTO_DERR_TRUNCATED,
	    "a version 1 EXEC with parameters lacks version 2's formats");
	proto_buf_free(&b0);
	proto_buf_free(&b1);
}

Test(v2, encoders_refuse_a_format_that_does_not_exist)
{
	const char *const	 params[] = { "x" };
	const uint16_t		 formats[] = { 2 };
	const char *const	 names[] = { "a" };
	const struct proto_col	 cols[] = { { 25, -1, 7 } };
	struct proto_exec	 ex = { .version = 2, .handle_id = 1, .sql = "SELECT $1",
	    .nparams = 1, .params = params, .formats = formats };
	struct proto_row_desc	 rd = { .version = 2, .ncols = 1, .names = names,
	    .cols = cols };
	struct proto_buf	 b;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_exec(&b, 1, &ex), PROTO_E_INTERNAL);
	cr_assert_eq(proto_encode_row_desc(&b, 1, &rd), PROTO_E_INTERNAL);
	cr_assert_eq(b.len, 0, "nothing written");
	proto_buf_free(&b);
}

Test(v2, row_desc_keeps_each_columns_type)
{
	const char *const	 names[] = { "id", "price", "blob" };
	const struct proto_col	 cols[] = {
		{ PROTO_OID_INT8, -1, PROTO_FORMAT_TEXT },
		{ PROTO_OID_NUMERIC, (10 << 16 | 2) + 4, PROTO_FORMAT_TEXT },
		{ PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY },
	};
	struct proto_row_desc	 in = { .version = 2, .ncols = 3, .names = names,
	    .cols = cols }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_value	 v[3];
	struct proto_col	 c;
	uint16_t		 i;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_row_desc(&b, 8, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_row_desc(&f, 2, &out), PROTO_DERR_OK);
	cr_assert_eq(out.ncols, 3);
	cr_assert_eq(collect(out.name_iter, v, 3), 3);
	for (i = 0; i < 3; i++) {
		assert_value(v[i], names[i], strlen(names[i]));
		proto_row_desc_col(&out, i, &c);
		cr_assert_eq(c.type_oid, cols[i].type_oid, "column %u", i);
		cr_assert_eq(c.typmod, cols[i].typmod, "column %u", i);
		cr_assert_eq(c.format, cols[i].format, "column %u", i);
	}
	proto_row_desc_col(&out, 3, &c);
	cr_assert_eq(c.type_oid, 0, "out of range: unknown");
	cr_assert_eq(c.typmod, -1);
	cr_assert_eq(c.format, PROTO_FORMAT_TEXT);
	proto_buf_free(&b);
}

Test(v2, row_desc_without_types_is_text_and_put_col_writes_the_same)
{
	const char *const	 names[] = { "a", "b" };
	struct proto_row_desc	 in = { .version = 2, .ncols = 2, .names = names }, out;
	struct proto_buf	 b, b2;
	struct proto_frame	 f;
	struct proto_col	 c;

	proto_buf_init(&b);
	proto_buf_init(&b2);
	cr_assert_eq(proto_encode_row_desc(&b, 8, &in), PROTO_E_OK);
	/* Field by field, as a producer that streams its columns writes it. */
	proto_begin(&b2, PROTO_MSG_ROW_DESC, 0, 8);
	proto_put_u16(&b2, 2);
	proto_put_str(&b2, "a");
	proto_put_str(&b2, "b");
	proto_put_col(&b2, NULL);
	proto_put_col(&b2, &(struct proto_col){ PROTO_OID_TEXT, -1, PROTO_FORMAT_TEXT });
	cr_assert_eq(proto_end(&b2), PROTO_E_OK);
	cr_assert_eq(b.len, b2.len);
	cr_assert_eq(memcmp(b.data, b2.data, b.len), 0);
	f = only_frame(&b);
	cr_assert_eq(proto_decode_row_desc(&f, 2, &out), PROTO_DERR_OK);
	proto_row_desc_col(&out, 0, &c);
	cr_assert_eq(c.type_oid, PROTO_OID_TEXT);
	cr_assert_eq(c.typmod, -1);
	cr_assert_eq(c.format, PROTO_FORMAT_TEXT);
	cr_assert_eq(proto_decode_row_desc(&f, 1, &out), PROTO_DERR_TRAILING,
	    "a version 1 reader sees the types as bytes too many");
	proto_buf_free(&b);
	proto_buf_free(&b2);
}

Test(v2, version_1_row_desc_is_unchanged_and_has_no_types)
{
	const char *const	 names[] = { "a" };
	const struct proto_col	 cols[] = { { PROTO_OID_BYTEA, -1, PROTO_FORMAT_BINARY } };
	static const uint8_t	 want[] = { B16(1), SA };
	struct proto_row_desc	 in = { .version = 1, .ncols = 1, .names = names,
	    .cols = cols }, out;
	struct proto_buf	 b;
	struct proto_frame	 f;
	struct proto_col	 c;

	proto_buf_init(&b);
	cr_assert_eq(proto_encode_row_desc(&b, 8, &in), PROTO_E_OK);
	f = only_frame(&b);
	cr_assert_eq(f.hdr.length, sizeof(want));
	cr_assert_eq(memcmp(f.payload, want, sizeof(want)), 0);
	cr_assert_eq(proto_decode_row_desc(&f, 1, &out), PROTO_DERR_OK);
	cr_assert_null(out.col_bytes);
	proto_row_desc_col(&out, 0, &c);
	cr_assert_eq(c.type_oid, 0, "version 1 says nothing of types");
	cr_assert_eq(c.format, PROTO_FORMAT_TEXT);
	cr_assert_eq(proto_decode_row_desc(&f, 2, &out), PROTO_DERR_TRUNCATED);
	proto_buf_free(&b);
}

Test(v2, every_shortened_v2_payload_is_rejected)
{
	const char *const	 params[] = { "a", NULL };
	const uint16_t		 formats[] = { PROTO_FORMAT_BINARY, PROTO_FORMAT_TEXT };
	const char *const	 names[] = { "x", "y" };
	struct proto_exec	 ex = { .version = 2, .handle_id = 1, .sql = "S",
	    .nparams = 2, .params = params, .formats = formats };
	struct proto_row_desc	 rd = { .version = 2, .ncols = 2, .names = names };
	struct proto_buf	 b;
	struct proto_frame	 f;
	uint32_t		 len, cut;
	int			 k;

	for (k = 0; k < 2; k++) {
		proto_buf_init(&b);
		cr_assert_eq(k == 0 ? proto_encode_exec(&b, 1, &ex) :
		    proto_encode_row_desc(&b, 1, &rd), PROTO_E_OK);
		f = only_frame(&b);
		len = f.hdr.length;
		for (cut = 1; cut <= len; cut++) {
			f.hdr.length = len - cut;
			cr_expect_neq(decode_v2(&f), PROTO_DERR_OK, "%s cut by %u bytes",
			    k == 0 ? "EXEC" : "ROW_DESC", cut);
		}
		proto_buf_free(&b);
	}
}
