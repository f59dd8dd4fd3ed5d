/* test_pgtypes.c: PostgreSQL's text and binary forms of values, held against a real server. */

/*
 * The tables below were written from what PostgreSQL 15's own send and output
 * functions give for each text (encode(float8send('0.1'), 'hex') and so on), so
 * that the suites without a server already check against the server's bytes.
 * The pgtypes_pg suite then asks the server of tests/pg_harness.sh, value by
 * value, for those tables and for runs of random values: the binary form of a
 * text (SELECT $1 with a text parameter, binary result) must be the bytes
 * pgtype_text_to_binary gives, the text of a binary parameter (SELECT $1 with a
 * binary parameter, text result) what pgtype_binary_to_text gives, and what the
 * server refuses is refused here too.
 */

#include <criterion/criterion.h>

#include <math.h>

#include "pg.h"
#include "dbmd.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))
#define BIN_MAX		256	/* the longest binary form in the tables */
#define RANDOM_RUNS	300	/* random values of each type shown to the server */
#define SELF_RUNS	2000	/* and converted there and back without it */

TestSuite(pgbuf, .timeout = 30);
TestSuite(pgtypes, .timeout = 120);
TestSuite(pgtypes_pg, .init = pg_setup, .fini = pg_teardown, .timeout = 300);

/* A text form, the binary form PostgreSQL gives it, and the text it prints for that. */
struct rt {
	uint32_t	 oid;
	const char	*text;
	const char	*hex;		/* the binary form */
	const char	*back;		/* its text form; NULL: text itself */
};

static const struct rt round_trips[] = {
	{ PROTO_OID_BOOL, "t", "01", NULL },
	{ PROTO_OID_BOOL, "true", "01", "t" },
	{ PROTO_OID_BOOL, " TRUE ", "01", "t" },
	{ PROTO_OID_BOOL, "f", "00", NULL },
	{ PROTO_OID_BOOL, "false", "00", "f" },
	{ PROTO_OID_BOOL, "1", "01", "t" },
	{ PROTO_OID_BOOL, "0", "00", "f" },
	{ PROTO_OID_BOOL, "yes", "01", "t" },
	{ PROTO_OID_BOOL, "no", "00", "f" },
	{ PROTO_OID_BOOL, "on", "01", "t" },
	{ PROTO_OID_BOOL, "off", "00", "f" },
	{ PROTO_OID_CHAR, "a", "61", NULL },
	{ PROTO_OID_CHAR, "\\101", "41", "A" },
	{ PROTO_OID_CHAR, "\\377", "ff", NULL },
	{ PROTO_OID_CHAR, "", "00", NULL },
	{ PROTO_OID_INT2, "0", "0000", NULL },
	{ PROTO_OID_INT2, "-32768", "8000", NULL },
	{ PROTO_OID_INT2, "32767", "7fff", NULL },
	{ PROTO_OID_INT2, " 42 ", "002a", "42" },
	{ PROTO_OID_INT2, "+5", "0005", "5" },
	{ PROTO_OID_INT2, "-0", "0000", "0" },
	{ PROTO_OID_INT4, "-2147483648", "80000000", NULL },
	{ PROTO_OID_INT4, "2147483647", "7fffffff", NULL },
	{ PROTO_OID_INT4, "-1", "ffffffff", NULL },
	{ PROTO_OID_INT4, "0", "00000000", NULL },
	{ PROTO_OID_INT8, "-9223372036854775808", "8000000000000000", NULL },
	{ PROTO_OID_INT8, "9223372036854775807", "7fffffffffffffff", NULL },
	{ PROTO_OID_INT8, "1", "0000000000000001", NULL },
	{ PROTO_OID_OID, "0", "00000000", NULL },
	{ PROTO_OID_OID, "4294967295", "ffffffff", NULL },
	{ PROTO_OID_OID, "-1", "ffffffff", "4294967295" },
	{ PROTO_OID_OID, "-2147483648", "80000000", "2147483648" },
	{ PROTO_OID_FLOAT4, "0", "00000000", NULL },
	{ PROTO_OID_FLOAT4, "-0", "80000000", NULL },
	{ PROTO_OID_FLOAT4, "1.5", "3fc00000", NULL },
	{ PROTO_OID_FLOAT4, "0.1", "3dcccccd", NULL },
	{ PROTO_OID_FLOAT4, "Infinity", "7f800000", NULL },
	{ PROTO_OID_FLOAT4, "-Infinity", "ff800000", NULL },
	{ PROTO_OID_FLOAT4, "NaN", "7fc00000", NULL },
	{ PROTO_OID_FLOAT4, "3.4028235e+38", "7f7fffff", NULL },
	{ PROTO_OID_FLOAT4, "1e-45", "00000001", NULL },
	{ PROTO_OID_FLOAT4, "1.1754944e-38", "00800000", NULL },
	{ PROTO_OID_FLOAT4, "100000", "47c35000", NULL },
	{ PROTO_OID_FLOAT4, "1e+06", "49742400", NULL },
	{ PROTO_OID_FLOAT4, "1234567", "4996b438", "1.234567e+06" },
	{ PROTO_OID_FLOAT4, "0.0001", "38d1b717", NULL },
	{ PROTO_OID_FLOAT4, "1e-05", "3727c5ac", NULL },
	{ PROTO_OID_FLOAT4, "-2.5e-07", "b48637bd", NULL },
	{ PROTO_OID_FLOAT4, "16777216", "4b800000", "1.6777216e+07" },
	{ PROTO_OID_FLOAT4, "16777217", "4b800000", "1.6777216e+07" },
	{ PROTO_OID_FLOAT8, "0", "0000000000000000", NULL },
	{ PROTO_OID_FLOAT8, "-0", "8000000000000000", NULL },
	{ PROTO_OID_FLOAT8, "0.1", "3fb999999999999a", NULL },
	{ PROTO_OID_FLOAT8, "1e-310", "000012688b70e62b", NULL },
	{ PROTO_OID_FLOAT8, "5e-324", "0000000000000001", NULL },
	{ PROTO_OID_FLOAT8, "2.2250738585072014e-308", "0010000000000000", NULL },
	{ PROTO_OID_FLOAT8, "1.7976931348623157e+308", "7fefffffffffffff", NULL },
	{ PROTO_OID_FLOAT8, "Infinity", "7ff0000000000000", NULL },
	{ PROTO_OID_FLOAT8, "-Infinity", "fff0000000000000", NULL },
	{ PROTO_OID_FLOAT8, "NaN", "7ff8000000000000", NULL },
	{ PROTO_OID_FLOAT8, "Inf", "7ff0000000000000", "Infinity" },
	{ PROTO_OID_FLOAT8, "-inf", "fff0000000000000", "-Infinity" },
	{ PROTO_OID_FLOAT8, "1.0e+20", "4415af1d78b58c40", "1e+20" },
	{ PROTO_OID_FLOAT8, "1e+15", "430c6bf526340000", NULL },
	{ PROTO_OID_FLOAT8, "123456789012345", "42dc12218377de40", NULL },
	{ PROTO_OID_FLOAT8, "999999999999999.9", "430c6bf52633ffff", NULL },
	{ PROTO_OID_FLOAT8, "0.0001", "3f1a36e2eb1c432d", NULL },
	{ PROTO_OID_FLOAT8, "1e-05", "3ee4f8b588e368f1", NULL },
	{ PROTO_OID_FLOAT8, "-1.5e-05", "beef75104d551d69", NULL },
	{ PROTO_OID_FLOAT8, "1e+100", "54b249ad2594c37d", NULL },
	{ PROTO_OID_FLOAT8, "1e22", "4480f0cf064dd592", "1e+22" },
	{ PROTO_OID_FLOAT8, "1e23", "44b52d02c7e14af6", "9.999999999999999e+22" },
	{ PROTO_OID_FLOAT8, "9007199254740993", "4340000000000000",
	    "9.007199254740992e+15" },
	{ PROTO_OID_FLOAT8, "0.30000000000000004", "3fd3333333333334", NULL },
	{ PROTO_OID_FLOAT8, "3.141592653589793", "400921fb54442d18", NULL },
	{ PROTO_OID_FLOAT8, "-123.456", "c05edd2f1a9fbe77", NULL },
	{ PROTO_OID_FLOAT8, "  2.5  ", "4004000000000000", "2.5" },
	{ PROTO_OID_FLOAT8, "0x10", "4030000000000000", "16" },
	{ PROTO_OID_DATE, "2000-01-01", "00000000", NULL },
	{ PROTO_OID_DATE, "1999-12-31", "ffffffff", NULL },
	{ PROTO_OID_DATE, "infinity", "7fffffff", NULL },
	{ PROTO_OID_DATE, "-infinity", "80000000", NULL },
	{ PROTO_OID_DATE, "2024-02-29", "00002279", NULL },
	{ PROTO_OID_DATE, "2000-02-29", "0000003b", NULL },
	{ PROTO_OID_DATE, "1900-02-28", "ffff718e", NULL },
	{ PROTO_OID_DATE, "1900-03-01", "ffff718f", NULL },
	{ PROTO_OID_DATE, "1970-01-01", "ffffd533", NULL },
	{ PROTO_OID_DATE, "0001-01-01", "fff4dbf9", NULL },
	{ PROTO_OID_DATE, "0001-12-31 BC", "fff4dbf8", NULL },
	{ PROTO_OID_DATE, "0005-02-29 BC", "fff4d511", NULL },
	{ PROTO_OID_DATE, "4714-11-24 BC", "ffda97a7", NULL },
	{ PROTO_OID_DATE, "5874897-12-31", "7fda970c", NULL },
	{ PROTO_OID_DATE, "10000-01-01", "002c95d4", NULL },
	{ PROTO_OID_DATE, "2024-1-5", "00002242", "2024-01-05" },
	{ PROTO_OID_DATE, "2024-01-02 03:04:05", "0000223f", "2024-01-02" },
	{ PROTO_OID_DATE, "2024-01-02T23:00:00+05", "0000223f", "2024-01-02" },
	{ PROTO_OID_TIME, "00:00:00", "0000000000000000", NULL },
	{ PROTO_OID_TIME, "24:00:00", "000000141dd76000", NULL },
	{ PROTO_OID_TIME, "23:59:59.999999", "000000141dd75fff", NULL },
	{ PROTO_OID_TIME, "12:34:56.789", "0000000a8be62608", NULL },
	{ PROTO_OID_TIME, "01:02:03.5", "00000000ddf019e0", NULL },
	{ PROTO_OID_TIME, "12:00", "0000000a0eebb000", "12:00:00" },
	{ PROTO_OID_TIME, "1:2:3", "00000000dde878c0", "01:02:03" },
	{ PROTO_OID_TIME, "23:59:60", "000000141dd76000", "24:00:00" },
	{ PROTO_OID_TIME, "12:00:00.1234565", "0000000a0eed9240", "12:00:00.123456" },
	{ PROTO_OID_TIME, "12:00:00.0000005", "0000000a0eebb000", "12:00:00" },
	{ PROTO_OID_TIME, "12:00:00.0000015", "0000000a0eebb002", "12:00:00.000002" },
	{ PROTO_OID_TIME, "23:59:59.9999999", "000000141dd76000", "24:00:00" },
	{ PROTO_OID_TIMESTAMP, "2000-01-01 00:00:00", "0000000000000000", NULL },
	{ PROTO_OID_TIMESTAMP, "1999-12-31 23:59:59.999999", "ffffffffffffffff", NULL },
	{ PROTO_OID_TIMESTAMP, "2024-02-29 12:00:00.5", "0002b582c47fb120", NULL },
	{ PROTO_OID_TIMESTAMP, "infinity", "7fffffffffffffff", NULL },
	{ PROTO_OID_TIMESTAMP, "-infinity", "8000000000000000", NULL },
	{ PROTO_OID_TIMESTAMP, "2024-01-02T03:04:05", "0002b0ec8515f340",
	    "2024-01-02 03:04:05" },
	{ PROTO_OID_TIMESTAMP, "2024-01-02 03:04", "0002b0ec84c9a800",
	    "2024-01-02 03:04:00" },
	{ PROTO_OID_TIMESTAMP, "2024-01-02", "0002b0e9f2c0a000", "2024-01-02 00:00:00" },
	{ PROTO_OID_TIMESTAMP, "0001-01-01 00:00:00 BC", "ff1fc63d1bb12000", NULL },
	{ PROTO_OID_TIMESTAMP, "4714-11-24 00:00:00 BC", "fd0f7cc1411fa000", NULL },
	{ PROTO_OID_TIMESTAMP, "294276-12-31 23:59:59.999999", "7fffff5bb3b29fff", NULL },
	{ PROTO_OID_TIMESTAMP, "1970-01-01 00:00:00", "fffca2fec4c82000", NULL },
	{ PROTO_OID_TIMESTAMP, "1900-01-01 12:34:56.000001", "fff4c9f907e59c01", NULL },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 24:00:00", "0002b0e9f2c0a000",
	    "2024-01-02 00:00:00" },
	{ PROTO_OID_TIMESTAMP, "2024-12-31 23:59:60", "0002cd987ed48000",
	    "2025-01-01 00:00:00" },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 10:00:00+05", "0002b0de36ada800",
	    "2024-01-01 10:00:00" },
	{ PROTO_OID_TIMESTAMPTZ, "2000-01-01 00:00:00+00", "0000000000000000", NULL },
	{ PROTO_OID_TIMESTAMPTZ, "2000-01-01 05:30:00+05:30", "0000000000000000",
	    "2000-01-01 00:00:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "1999-12-31 21:00:00-03", "0000000000000000",
	    "2000-01-01 00:00:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00.123456Z", "0002bcd19bb7d240",
	    "2024-06-01 12:00:00.123456+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01T12:00:00z", "0002bcd19bb5f000",
	    "2024-06-01 12:00:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00 +05:30", "0002bcccff89ea00",
	    "2024-06-01 06:30:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00+0530", "0002bcccff89ea00",
	    "2024-06-01 06:30:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00+530", "0002bcccff89ea00",
	    "2024-06-01 06:30:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00+5", "0002bccd6ad3bc00",
	    "2024-06-01 07:00:00+00" },
	{ PROTO_OID_TIMESTAMPTZ, "1850-06-01 12:00:00+05:53:28", "ffef3ac872ee2a00",
	    "1850-06-01 06:06:32+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00+15:59:59", "0002bcc4328af240",
	    "2024-05-31 20:00:01+00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-06-01 12:00:00-15:59:59", "0002bcdf04e0edc0",
	    "2024-06-02 03:59:59+00" },
	{ PROTO_OID_TIMESTAMPTZ, "0001-01-01 00:00:00+00 BC", "ff1fc63d1bb12000", NULL },
	{ PROTO_OID_TIMESTAMPTZ, "4714-11-23 23:00:00-02 BC", "fd0f7cc217b34400",
	    "4714-11-24 01:00:00+00 BC" },
	{ PROTO_OID_TIMESTAMPTZ, "infinity", "7fffffffffffffff", NULL },
	{ PROTO_OID_TIMESTAMPTZ, "-infinity", "8000000000000000", NULL },
	{ PROTO_OID_TIMESTAMPTZ, "2024-02-29 23:59:59.999999-12", "0002b596e24f6fff",
	    "2024-03-01 11:59:59.999999+00" },
	{ PROTO_OID_INTERVAL, "00:00:00", "00000000000000000000000000000000", NULL },
	{ PROTO_OID_INTERVAL, "1 year 2 mons 3 days 04:05:06.5",
	    "000000036c9361a0000000030000000e", NULL },
	{ PROTO_OID_INTERVAL, "-1 days +02:00:00", "00000001ad274800ffffffff00000000",
	    NULL },
	{ PROTO_OID_INTERVAL, "-1 years -2 mons", "000000000000000000000000fffffff2",
	    NULL },
	{ PROTO_OID_INTERVAL, "1 mon", "00000000000000000000000000000001", NULL },
	{ PROTO_OID_INTERVAL, "1 day", "00000000000000000000000100000000", NULL },
	{ PROTO_OID_INTERVAL, "2 years", "00000000000000000000000000000018", NULL },
	{ PROTO_OID_INTERVAL, "-00:00:00.000001", "ffffffffffffffff0000000000000000",
	    NULL },
	{ PROTO_OID_INTERVAL, "00:00:01", "00000000000f42400000000000000000", NULL },
	{ PROTO_OID_INTERVAL, "2562047788:00:54.775807", "7fffffffffffffff0000000000000000",
	    NULL },
	{ PROTO_OID_INTERVAL, "-2562047788:00:54.775807",
	    "80000000000000010000000000000000", NULL },
	{ PROTO_OID_INTERVAL, "-178956970 years -8 mons -2147483648 days",
	    "00000000000000008000000080000000", NULL },
	{ PROTO_OID_INTERVAL, "178956970 years 7 mons 2147483647 days",
	    "00000000000000007fffffff7fffffff", NULL },
	{ PROTO_OID_INTERVAL, "1 day -00:00:00.5", "fffffffffff85ee00000000100000000",
	    NULL },
	{ PROTO_OID_INTERVAL, "-1 years +2 mons -3 days +04:00:00",
	    "000000035a4e9000fffffffdfffffff6", "-10 mons -3 days +04:00:00" },
	{ PROTO_OID_INTERVAL, "1 mons 1 years", "0000000000000000000000000000000d",
	    "1 year 1 mon" },
	{ PROTO_OID_INTERVAL, "+3 days", "00000000000000000000000300000000", "3 days" },
	{ PROTO_OID_INTERVAL, "100:00:00", "00000053d1ac10000000000000000000", NULL },
	{ PROTO_OID_INTERVAL, "01:02", "00000000ddbab2000000000000000000", "01:02:00" },
	{ PROTO_OID_NUMERIC, "0", "0000000000000000", NULL },
	{ PROTO_OID_NUMERIC, "0.0001", "0001ffff000000040001", NULL },
	{ PROTO_OID_NUMERIC, "12345678.9", "000300010000000104d2162e2328", NULL },
	{ PROTO_OID_NUMERIC, "-1.5", "000200004000000100011388", NULL },
	{ PROTO_OID_NUMERIC, "NaN", "00000000c0000000", NULL },
	{ PROTO_OID_NUMERIC, "10000", "00010001000000000001", NULL },
	{ PROTO_OID_NUMERIC, "9999.9999", "0002000000000004270f270f", NULL },
	{ PROTO_OID_NUMERIC, "-123.4500", "0002000040000004007b1194", NULL },
	{ PROTO_OID_NUMERIC, "-0.00", "0000000000000002", "0.00" },
	{ PROTO_OID_NUMERIC, "1e10", "00010002000000000064", "10000000000" },
	{ PROTO_OID_NUMERIC, "1.5e-3", "0001ffff00000004000f", "0.0015" },
	{ PROTO_OID_NUMERIC, "1.0e+20", "00010005000000000001", "100000000000000000000" },
	{ PROTO_OID_NUMERIC, "1E-5", "0001fffe0000000503e8", "0.00001" },
	{ PROTO_OID_NUMERIC, "Infinity", "00000000d0000020", NULL },
	{ PROTO_OID_NUMERIC, "-Infinity", "00000000f0000020", NULL },
	{ PROTO_OID_NUMERIC, "inf", "00000000d0000020", "Infinity" },
	{ PROTO_OID_NUMERIC, " nan ", "00000000c0000000", "NaN" },
	{ PROTO_OID_NUMERIC, "1234567890123456789012345678901234567890",
	    "000a00090000000004d2162e23340d801ed204d2162e23340d801ed2", NULL },
	{ PROTO_OID_NUMERIC, "-0.0000000000000000000000000000000000000001",
	    "0001fff6400000280001", NULL },
	{ PROTO_OID_NUMERIC, "12345678901234567890.12345678901234567890",
	    "000a00040000001404d2162e23340d801ed204d2162e23340d801ed2", NULL },
	{ PROTO_OID_NUMERIC, "007.50", "000200000000000200071388", "7.50" },
	{ PROTO_OID_NUMERIC, ".5", "0001ffff000000011388", "0.5" },
	{ PROTO_OID_NUMERIC, "5.", "00010000000000000005", "5" },
	{ PROTO_OID_NUMERIC, "+1", "00010000000000000001", "1" },
	{ PROTO_OID_NUMERIC, "100000000", "00010002000000000001", NULL },
	{ PROTO_OID_NUMERIC, "0.00010000", "0001ffff000000080001", NULL },
	{ PROTO_OID_NUMERIC, "150e-1", "0001000000000001000f", "15.0" },
	{ PROTO_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	    "a0eebc999c0b4ef8bb6d6bb9bd380a11", NULL },
	{ PROTO_OID_UUID, "A0EEBC999C0B4EF8BB6D6BB9BD380A11",
	    "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
	{ PROTO_OID_UUID, "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
	    "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
	{ PROTO_OID_UUID, "00000000-0000-0000-0000-000000000000",
	    "00000000000000000000000000000000", NULL },
	{ PROTO_OID_UUID, "ffffffff-ffff-ffff-ffff-ffffffffffff",
	    "ffffffffffffffffffffffffffffffff", NULL },
	/* Fractions past the microsecond round as the server rounds them, carrying over. */
	{ PROTO_OID_INTERVAL, "00:00:00.1234565", "000000000001e2400000000000000000",
	    "00:00:00.123456" },
	{ PROTO_OID_INTERVAL, "-00:00:00.0000015", "fffffffffffffffe0000000000000000",
	    "-00:00:00.000002" },
	{ PROTO_OID_INTERVAL, "1 day 23:59:59.9999999", "000000141dd760000000000100000000",
	    "1 day 24:00:00" },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 12:00:00.1234565", "0002b0dfe3d6d240",
	    "2024-01-01 12:00:00.123456" },
	{ PROTO_OID_TIMESTAMP, "2024-12-31 23:59:59.9999999", "0002cd987ed48000",
	    "2025-01-01 00:00:00" },
	{ PROTO_OID_TIMESTAMPTZ, "2024-12-31 23:59:59.9999999-01", "0002cd9955682400",
	    "2025-01-01 01:00:00+00" },
	{ PROTO_OID_TIME, "12:00:00.", "0000000a0eebb000", "12:00:00" },
	{ PROTO_OID_TEXT, "hello", "68656c6c6f", NULL },
	{ PROTO_OID_TEXT, "", "", NULL },
	{ PROTO_OID_TEXT, "h\xc3\xa9llo \xf0\x9f\x90\x98", "68c3a96c6c6f20f09f9098", NULL },
	{ PROTO_OID_VARCHAR, "abc", "616263", NULL },
	{ PROTO_OID_BPCHAR, "ab  ", "61622020", NULL },
	{ PROTO_OID_UNKNOWN, "x", "78", NULL },
	{ PROTO_OID_JSON, "{\"a\": [1, 2]}", "7b2261223a205b312c20325d7d", NULL },
	{ PROTO_OID_JSONB, "{\"a\": [1, 2]}", "017b2261223a205b312c20325d7d", NULL },
	{ PROTO_OID_NAME, "pg_class", "70675f636c617373", NULL },
	/* namein cuts a name to 63 bytes, and never inside a character. */
	{ PROTO_OID_NAME, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "616161616161616161616161616161616161616161616161616161616161616161616161"
	    "616161616161616161616161616161616161616161616161616161",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	{ PROTO_OID_NAME, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
	    "616161616161616161616161616161616161616161616161616161616161616161616161"
	    "6161616161616161616161616161616161616161616161616161",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
};

/* Binary forms PostgreSQL reads but never sends, and the text it prints for them. */
struct one_way {
	uint32_t	 oid;
	const char	*hex;
	const char	*text;
};

static const struct one_way binary_only[] = {
	/* Any byte but zero is true. */
	{ PROTO_OID_BOOL, "02", "t" },
	{ PROTO_OID_BOOL, "ff", "t" },
	{ PROTO_OID_CHAR, "80", "\\200" },
	{ PROTO_OID_CHAR, "7f", "\x7f" },
	/* Every NaN prints alike, whatever its sign and payload. */
	{ PROTO_OID_FLOAT4, "7fc00001", "NaN" },
	{ PROTO_OID_FLOAT4, "ffc00000", "NaN" },
	{ PROTO_OID_FLOAT8, "fff8000000000000", "NaN" },
	{ PROTO_OID_FLOAT8, "7ff0000000000001", "NaN" },
	/* Zero digits at either end are allowed, and weigh nothing. */
	{ PROTO_OID_NUMERIC, "000200010000000000000005", "5" },
	{ PROTO_OID_NUMERIC, "000200000000000000050000", "5" },
	/* Digits past dscale are dropped, not rounded, and a minus with them. */
	{ PROTO_OID_NUMERIC, "0001ffff400000010001", "0.0" },
	{ PROTO_OID_NUMERIC, "00020000000000010001270f", "1.9" },
	{ PROTO_OID_NUMERIC, "00020000400000010001270f", "-1.9" },
	{ PROTO_OID_NUMERIC, "0001fffe000000020001", "0.00" },
	{ PROTO_OID_NUMERIC, "0000000040000003", "0.000" },
	/* A digit far above the point, and a special value's digits ignored. */
	{ PROTO_OID_NUMERIC, "00010003000000000001", "1000000000000" },
	{ PROTO_OID_NUMERIC, "00010000c00000000005", "NaN" },
	{ PROTO_OID_NUMERIC, "00000000d0000000", "Infinity" },
	/* The time part's sign is its own; INT64_MIN microseconds prints too. */
	{ PROTO_OID_INTERVAL, "80000000000000000000000000000000", "-2562047788:00:54.775808" },
	{ PROTO_OID_INTERVAL, "000000000000000000000000ffffffff", "-1 mons" },
	{ PROTO_OID_INTERVAL, "00000000000f4240ffffffff00000001", "1 mon -1 days +00:00:01" },
	{ PROTO_OID_INTERVAL, "fffffffffff0bdc0000000000000000d", "1 year 1 mon -00:00:01" },
	{ PROTO_OID_INTERVAL, "000000000000000100000000ffffffe8", "-2 years +00:00:00.000001" },
	{ PROTO_OID_TIMESTAMPTZ, "ffffffffffffffff", "1999-12-31 23:59:59.999999+00" },
	{ PROTO_OID_TEXT, "", "" },
};

/* Text that does not read as its type. */
struct bad_text {
	uint32_t	 oid;
	const char	*text;
	bool		 server_reads;	/* PostgreSQL reads it, from forms it never prints */
};

static const struct bad_text bad_texts[] = {
	{ PROTO_OID_BOOL, "", false },
	{ PROTO_OID_BOOL, "o", false },
	{ PROTO_OID_BOOL, "maybe", false },
	{ PROTO_OID_BOOL, "tru e", false },
	{ PROTO_OID_BOOL, "2", false },
	{ PROTO_OID_BOOL, "truex", false },
	{ PROTO_OID_INT2, "32768", false },
	{ PROTO_OID_INT2, "-32769", false },
	{ PROTO_OID_INT2, "", false },
	{ PROTO_OID_INT2, "+", false },
	{ PROTO_OID_INT2, "1.5", false },
	{ PROTO_OID_INT2, "1e3", false },
	{ PROTO_OID_INT2, "12a", false },
	{ PROTO_OID_INT2, "0x10", false },
	{ PROTO_OID_INT4, "2147483648", false },
	{ PROTO_OID_INT4, "-2147483649", false },
	{ PROTO_OID_INT4, " - 1", false },
	{ PROTO_OID_INT4, "1 2", false },
	{ PROTO_OID_INT8, "9223372036854775808", false },
	{ PROTO_OID_INT8, "-9223372036854775809", false },
	{ PROTO_OID_INT8, "99999999999999999999999", false },
	{ PROTO_OID_OID, "4294967296", false },
	{ PROTO_OID_OID, "-2147483649", false },
	{ PROTO_OID_OID, "", false },
	{ PROTO_OID_OID, "abc", false },
	{ PROTO_OID_OID, "--1", false },
	{ PROTO_OID_FLOAT4, "1e39", false },
	{ PROTO_OID_FLOAT4, "1e-46", false },
	{ PROTO_OID_FLOAT4, "abc", false },
	{ PROTO_OID_FLOAT4, "", false },
	{ PROTO_OID_FLOAT4, "1.5x", false },
	{ PROTO_OID_FLOAT8, "1e309", false },
	{ PROTO_OID_FLOAT8, "1e-400", false },
	{ PROTO_OID_FLOAT8, "--1", false },
	{ PROTO_OID_FLOAT8, "1.5.2", false },
	{ PROTO_OID_FLOAT8, "Infinityx", false },
	{ PROTO_OID_FLOAT8, "1,5", false },
	{ PROTO_OID_DATE, "2023-02-29", false },
	{ PROTO_OID_DATE, "2024-13-01", false },
	{ PROTO_OID_DATE, "2024-00-10", false },
	{ PROTO_OID_DATE, "2024-01-32", false },
	{ PROTO_OID_DATE, "0000-01-01", false },
	{ PROTO_OID_DATE, "4714-11-23 BC", false },
	{ PROTO_OID_DATE, "5874898-01-01", false },
	{ PROTO_OID_DATE, "+infinity", false },
	{ PROTO_OID_DATE, "", false },
	{ PROTO_OID_DATE, "2024-01-01 xyz", false },
	{ PROTO_OID_DATE, "2024/01/01", true },
	{ PROTO_OID_DATE, "yesterday", true },
	{ PROTO_OID_TIME, "24:00:01", false },
	{ PROTO_OID_TIME, "25:00:00", false },
	{ PROTO_OID_TIME, "12:60:00", false },
	{ PROTO_OID_TIME, "12:00:61", false },
	{ PROTO_OID_TIME, "noon", false },
	{ PROTO_OID_TIME, "12:00:00.5.5", false },
	{ PROTO_OID_TIME, "", false },
	{ PROTO_OID_TIME, "23:59:60.5", false },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 25:00:00", false },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 24:00:01", false },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 12:00:00+16", false },
	{ PROTO_OID_TIMESTAMP, "294277-01-01 00:00:00", false },
	{ PROTO_OID_TIMESTAMP, "4714-11-23 00:00:00 BC", false },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 12", false },
	{ PROTO_OID_TIMESTAMP, "2024-02-30 00:00:00", false },
	{ PROTO_OID_TIMESTAMP, "2024-01-01 12:00:00 junk", false },
	{ PROTO_OID_TIMESTAMP, "now", true },
	{ PROTO_OID_TIMESTAMPTZ, "2024-01-01 12:00:00+05:60", false },
	{ PROTO_OID_TIMESTAMPTZ, "2024-01-01 12:00:00+16", false },
	{ PROTO_OID_TIMESTAMPTZ, "294276-12-31 23:59:59-01", false },
	{ PROTO_OID_TIMESTAMPTZ, "4714-11-24 00:00:00+01 BC", false },
	{ PROTO_OID_TIMESTAMPTZ, "2024-01-01 12:00:00 UTC", true },
	{ PROTO_OID_TIMESTAMPTZ, "2024-01-01 12:00:00 Europe/Paris", true },
	{ PROTO_OID_INTERVAL, "1 fortnight", false },
	{ PROTO_OID_INTERVAL, "1 day 2 days", false },
	{ PROTO_OID_INTERVAL, "00:60:00", false },
	{ PROTO_OID_INTERVAL, "1 day 01:02:03 extra", false },
	{ PROTO_OID_INTERVAL, "", false },
	{ PROTO_OID_INTERVAL, "2147483648 days", false },
	{ PROTO_OID_INTERVAL, "178956971 years", false },
	{ PROTO_OID_INTERVAL, "2562047789:00:00", false },
	{ PROTO_OID_INTERVAL, "@ 1 day", true },
	{ PROTO_OID_INTERVAL, "P1D", true },
	{ PROTO_OID_INTERVAL, "1.5 days", true },
	{ PROTO_OID_INTERVAL, "1 hour", true },
	{ PROTO_OID_INTERVAL, "01:02:03.5 1 day", true },
	{ PROTO_OID_INTERVAL, "1day", true },
	{ PROTO_OID_NUMERIC, "", false },
	{ PROTO_OID_NUMERIC, "abc", false },
	{ PROTO_OID_NUMERIC, "1e", false },
	{ PROTO_OID_NUMERIC, "1.2.3", false },
	{ PROTO_OID_NUMERIC, "--1", false },
	{ PROTO_OID_NUMERIC, "+-1", false },
	{ PROTO_OID_NUMERIC, "1e131072", false },
	{ PROTO_OID_NUMERIC, "1e-16384", false },
	{ PROTO_OID_NUMERIC, "0e-20000", false },
	{ PROTO_OID_NUMERIC, ".", false },
	{ PROTO_OID_NUMERIC, "1 e5", false },
	{ PROTO_OID_NUMERIC, "1e2000000000", false },
	{ PROTO_OID_NUMERIC, "0e2000000000", false },
	{ PROTO_OID_NUMERIC, "NaNx", false },
	{ PROTO_OID_NUMERIC, "1e 5", true },
	{ PROTO_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", false },
	{ PROTO_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x", false },
	{ PROTO_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", false },
	{ PROTO_OID_UUID, "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", false },
	{ PROTO_OID_UUID, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", false },
	{ PROTO_OID_UUID, "a0eebc999c0b4ef8bb6d6bb9bd380a1g", false },
	{ PROTO_OID_UUID, "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11", false },
	{ PROTO_OID_UUID, "a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11", false },
	{ PROTO_OID_UUID, " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", false },
	{ PROTO_OID_UUID, "", false },
};

/* Bytes that are not their type's binary form; the server refuses every one. */
struct bad_binary {
	uint32_t	 oid;
	const char	*hex;
	const char	*why;
};

static const struct bad_binary bad_binaries[] = {
	{ PROTO_OID_BOOL, "", "empty" },
	{ PROTO_OID_BOOL, "0101", "a byte too many" },
	{ PROTO_OID_CHAR, "", "empty" },
	{ PROTO_OID_CHAR, "4142", "a byte too many" },
	{ PROTO_OID_INT2, "00", "short" },
	{ PROTO_OID_INT2, "000000", "long" },
	{ PROTO_OID_INT4, "000000", "short" },
	{ PROTO_OID_INT8, "00000000000000", "short" },
	{ PROTO_OID_OID, "0000000000", "long" },
	{ PROTO_OID_FLOAT4, "000000", "short" },
	{ PROTO_OID_FLOAT8, "0000000000000000ff", "long" },
	{ PROTO_OID_DATE, "000000", "short" },
	{ PROTO_OID_DATE, "80000001", "before 4714 BC" },
	{ PROTO_OID_DATE, "7ffffffe", "after 5874897" },
	{ PROTO_OID_TIME, "ffffffffffffffff", "before midnight" },
	{ PROTO_OID_TIME, "000000141dd76001", "after 24:00:00" },
	{ PROTO_OID_TIMESTAMP, "7fffff5bb3b2a000", "294277-01-01" },
	{ PROTO_OID_TIMESTAMP, "fd0f7cc1411f9fff", "before 4714-11-24 BC" },
	{ PROTO_OID_TIMESTAMPTZ, "0000000000000000ff", "long" },
	{ PROTO_OID_INTERVAL, "000000000000000000000000000000", "short" },
	{ PROTO_OID_NUMERIC, "00010000123400000001", "an unknown sign" },
	{ PROTO_OID_NUMERIC, "00010000000000002710", "a digit of 10000" },
	{ PROTO_OID_NUMERIC, "0001000000000000ffff", "a negative digit" },
	{ PROTO_OID_NUMERIC, "0000000000004000", "a dscale past 16383" },
	{ PROTO_OID_NUMERIC, "0000000000000000ff", "a byte after the digits" },
	{ PROTO_OID_NUMERIC, "00020000000000000001", "a digit missing" },
	{ PROTO_OID_NUMERIC, "000000", "no header" },
	{ PROTO_OID_UUID, "a0eebc999c0b4ef8bb6d6bb9bd380a", "short" },
	{ PROTO_OID_TEXT, "ff", "not UTF-8" },
	{ PROTO_OID_TEXT, "610062", "a NUL" },
	{ PROTO_OID_TEXT, "c0af", "an overlong" },
	{ PROTO_OID_TEXT, "eda080", "a surrogate" },
	{ PROTO_OID_TEXT, "f4908080", "past U+10FFFF" },
	{ PROTO_OID_TEXT, "e282", "a character cut short" },
	{ PROTO_OID_VARCHAR, "ff", "not UTF-8" },
	{ PROTO_OID_BPCHAR, "6100", "a NUL" },
	{ PROTO_OID_NAME, "61616161616161616161616161616161616161616161616161616161616161616161"
	    "616161616161616161616161616161616161616161616161616161616161", "64 bytes" },
	{ PROTO_OID_JSONB, "027b7d", "version 2" },
	{ PROTO_OID_JSONB, "", "no version" },
};

/* Helpers. */

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t		 n = strlen(hex) / 2, i;
	unsigned	 x;

	cr_assert(n <= BIN_MAX && strlen(hex) % 2 == 0, "bad hex in a table: %s", hex);
	for (i = 0; i < n; i++) {
		cr_assert(sscanf(hex + 2 * i, "%2x", &x) == 1, "bad hex in a table: %s", hex);
		out[i] = (uint8_t)x;
	}
	return n;
}

/* The bytes as hex, in a buffer of the caller's (valid until its next use). */
static const char *
hexof(const uint8_t *b, size_t n, char *buf, size_t size)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n && 2 * i + 3 <= size; i++)
		snprintf(buf + 2 * i, 3, "%02x", b[i]);
	return buf;
}

/* The buffer's bytes as a string, for messages and compares: the conversions add no NUL. */
static const char *
bufstr(struct pgbuf *b)
{
	pgbuf_u8(b, 0);
	b->len--;
	return (const char *)b->data;
}

static const char *
type_name(uint32_t oid)
{
	switch (oid) {
	case PROTO_OID_BOOL:		return "bool";
	case PROTO_OID_BYTEA:		return "bytea";
	case PROTO_OID_CHAR:		return "\"char\"";
	case PROTO_OID_NAME:		return "name";
	case PROTO_OID_INT8:		return "int8";
	case PROTO_OID_INT2:		return "int2";
	case PROTO_OID_INT4:		return "int4";
	case PROTO_OID_TEXT:		return "text";
	case PROTO_OID_OID:		return "oid";
	case PROTO_OID_JSON:		return "json";
	case PROTO_OID_FLOAT4:		return "float4";
	case PROTO_OID_FLOAT8:		return "float8";
	case PROTO_OID_UNKNOWN:		return "unknown";
	case PROTO_OID_BPCHAR:		return "bpchar";
	case PROTO_OID_VARCHAR:		return "varchar";
	case PROTO_OID_DATE:		return "date";
	case PROTO_OID_TIME:		return "time";
	case PROTO_OID_TIMESTAMP:	return "timestamp";
	case PROTO_OID_TIMESTAMPTZ:	return "timestamptz";
	case PROTO_OID_INTERVAL:	return "interval";
	case PROTO_OID_NUMERIC:		return "numeric";
	case PROTO_OID_UUID:		return "uuid";
	case PROTO_OID_JSONB:		return "jsonb";
	default:			return "?";
	}
}

/* A fixed sequence of pseudo-random numbers (xorshift64*), so that a failure repeats. */
static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}

/* A number from lo to hi - 1; the range may be wider than an int64 holds. */
static int64_t
rnd_range(int64_t lo, int64_t hi)
{
	uint64_t	 off = rnd() % ((uint64_t)hi - (uint64_t)lo);

	return off <= (uint64_t)INT64_MAX ? lo + (int64_t)off :
	    lo + INT64_MAX + (int64_t)(off - (uint64_t)INT64_MAX);
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	int	 i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * A random binary value of the type that PostgreSQL takes, into b; its length.
 * Floats are any bit pattern; dates, times and timestamps anywhere in their range,
 * with the infinities now and then; numerics with zero digits at the ends and
 * digits past dscale, as a client may send them.
 */
static size_t
rnd_binary(uint32_t oid, uint8_t *b)
{
	int64_t	 i, nd;

	switch (oid) {
	case PROTO_OID_INT2:
		put_be(b, rnd(), 2);
		return 2;
	case PROTO_OID_INT4:
	case PROTO_OID_OID:
	case PROTO_OID_FLOAT4:
		put_be(b, rnd(), 4);
		return 4;
	case PROTO_OID_INT8:
	case PROTO_OID_FLOAT8:
		put_be(b, rnd(), 8);
		return 8;
	case PROTO_OID_DATE:
		put_be(b, rnd() % 50 == 0 ? (rnd() & 1 ? 0x7fffffffu : 0x80000000u) :
		    (uint64_t)(rnd() & 1 ? rnd_range(-2451545, 2145031949) :
		    rnd_range(-800000, 800000)), 4);
		return 4;
	case PROTO_OID_TIME:
		put_be(b, (uint64_t)rnd_range(0, INT64_C(86400000000) + 1), 8);
		return 8;
	case PROTO_OID_TIMESTAMP:
	case PROTO_OID_TIMESTAMPTZ:
		put_be(b, rnd() % 50 == 0 ? (rnd() & 1 ? INT64_MAX : (uint64_t)INT64_MAX + 1) :
		    (uint64_t)(rnd() & 1 ? rnd_range(INT64_C(-211813488000000000),
		    INT64_C(9223371331200000000)) : rnd_range(-(INT64_C(1) << 55),
		    INT64_C(1) << 55)), 8);
		return 8;
	case PROTO_OID_INTERVAL:
		/* Small fields mostly, so that the signs mix; now and then anything. */
		put_be(b, rnd() & 1 ? rnd() : (uint64_t)rnd_range(-(INT64_C(1) << 40),
		    INT64_C(1) << 40), 8);
		put_be(b + 8, rnd() & 1 ? rnd() : (uint64_t)rnd_range(-400, 400), 4);
		put_be(b + 12, rnd() & 1 ? rnd() : (uint64_t)rnd_range(-40, 40), 4);
		return 16;
	case PROTO_OID_NUMERIC:
		nd = rnd_range(0, 8);
		put_be(b, (uint64_t)nd, 2);
		put_be(b + 2, (uint64_t)rnd_range(-6, 6), 2);
		put_be(b + 4, rnd() % 20 == 0 ? 0xC000 : rnd() & 1 ? 0x4000 : 0, 2);
		put_be(b + 6, (uint64_t)rnd_range(0, 30), 2);
		for (i = 0; i < nd; i++)
			put_be(b + 8 + 2 * i, rnd() % 5 == 0 ? 0 : (uint64_t)rnd_range(0, 10000), 2);
		return (size_t)(8 + 2 * nd);
	case PROTO_OID_UUID:
		put_be(b, rnd(), 8);
		put_be(b + 8, rnd(), 8);
		return 16;
	default:
		cr_assert_fail("no random values of type %u", oid);
		return 0;
	}
}

static const uint32_t random_types[] = {
	PROTO_OID_INT2, PROTO_OID_INT4, PROTO_OID_INT8, PROTO_OID_OID, PROTO_OID_FLOAT4,
	PROTO_OID_FLOAT8, PROTO_OID_DATE, PROTO_OID_TIME, PROTO_OID_TIMESTAMP,
	PROTO_OID_TIMESTAMPTZ, PROTO_OID_INTERVAL, PROTO_OID_NUMERIC, PROTO_OID_UUID,
};

/* The buffer. */

Test(pgbuf, additions_accumulate_across_growth)
{
	struct pgbuf	 b;
	uint8_t		 chunk[100];
	size_t		 i;

	pgbuf_init(&b);
	cr_assert_eq(b.len, 0);
	for (i = 0; i < 1000; i++) {
		memset(chunk, (int)(i & 0xff), sizeof(chunk));
		pgbuf_add(&b, chunk, sizeof(chunk));
	}
	cr_assert_eq(b.len, 100000);
	cr_assert_geq(b.cap, b.len);
	cr_assert(!b.failed);
	for (i = 0; i < b.len; i++)
		cr_assert_eq(b.data[i], (i / 100) & 0xff, "byte %zu", i);
	pgbuf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	pgbuf_free(NULL);
}

Test(pgbuf, integers_go_in_network_byte_order_and_strings_with_their_nul)
{
	static const uint8_t want[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 'h', 'i', 0 };
	struct pgbuf	 b;

	pgbuf_init(&b);
	pgbuf_u8(&b, 0xab);
	pgbuf_u16(&b, 0x1234);
	pgbuf_u32(&b, 0xdeadbeef);
	pgbuf_str(&b, "hi");
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	pgbuf_free(&b);
}

Test(pgbuf, a_reset_empties_the_buffer_and_keeps_its_memory)
{
	struct pgbuf	 b;
	uint8_t		*data;
	size_t		 cap;

	pgbuf_init(&b);
	pgbuf_str(&b, "some text to hold on to");
	data = b.data;
	cap = b.cap;
	pgbuf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	pgbuf_str(&b, "again");
	cr_assert_str_eq((char *)b.data, "again");
	pgbuf_free(&b);
}

/*
 * An addition that cannot fit marks the buffer failed, and later ones change
 * nothing, conversions included, until a reset; the caller checks once.
 */
Test(pgbuf, a_failed_addition_stops_all_others_until_a_reset)
{
	struct pgbuf	 b;

	pgbuf_init(&b);
	pgbuf_str(&b, "ab");
	pgbuf_add(&b, "x", SIZE_MAX);
	cr_assert(b.failed);
	cr_assert_eq(b.len, 3);
	pgbuf_u32(&b, 7);
	cr_assert_eq(pgtype_text_to_binary(PROTO_OID_INT4, "7", 1, &b), 0);
	cr_assert_eq(b.len, 3);
	pgbuf_reset(&b);
	cr_assert(!b.failed);
	cr_assert_eq(pgtype_text_to_binary(PROTO_OID_INT4, "7", 1, &b), 0);
	cr_assert_eq(b.len, 4);
	pgbuf_free(&b);
}

/* The conversions, against the server's bytes in the tables. */

Test(pgtypes, text_reads_as_the_bytes_the_server_sends)
{
	struct pgbuf	 b;
	uint8_t		 want[BIN_MAX];
	char		 h[2 * BIN_MAX + 1];
	size_t		 i, n;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(round_trips); i++) {
		const struct rt	*t = &round_trips[i];

		n = unhex(t->hex, want);
		pgbuf_reset(&b);
		cr_expect_eq(pgtype_text_to_binary(t->oid, t->text, strlen(t->text), &b), 0,
		    "%s '%s' is refused", type_name(t->oid), t->text);
		cr_expect(b.len == n && (n == 0 || memcmp(b.data, want, n) == 0),
		    "%s '%s' reads as %s, the server sends %s", type_name(t->oid), t->text,
		    hexof(b.data, b.len, h, sizeof(h)), t->hex);
	}
	pgbuf_free(&b);
}

Test(pgtypes, binary_prints_as_the_server_prints_it)
{
	struct pgbuf	 b;
	uint8_t		 bin[BIN_MAX];
	const char	*want;
	size_t		 i, n;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(round_trips); i++) {
		const struct rt	*t = &round_trips[i];

		want = t->back != NULL ? t->back : t->text;
		n = unhex(t->hex, bin);
		pgbuf_reset(&b);
		cr_expect_eq(pgtype_binary_to_text(t->oid, bin, n, &b), 0, "%s %s is refused",
		    type_name(t->oid), t->hex);
		cr_expect_str_eq(bufstr(&b), want, "%s %s prints as '%s', the server '%s'",
		    type_name(t->oid), t->hex, bufstr(&b), want);
	}
	for (i = 0; i < ARRAY_LEN(binary_only); i++) {
		const struct one_way *t = &binary_only[i];

		n = unhex(t->hex, bin);
		pgbuf_reset(&b);
		cr_expect_eq(pgtype_binary_to_text(t->oid, bin, n, &b), 0, "%s %s is refused",
		    type_name(t->oid), t->hex);
		cr_expect_str_eq(bufstr(&b), t->text, "%s %s prints as '%s', the server '%s'",
		    type_name(t->oid), t->hex, bufstr(&b), t->text);
	}
	pgbuf_free(&b);
}

/* A refusal leaves the buffer as it was: what a message already holds stays whole. */
Test(pgtypes, malformed_text_is_refused_and_appends_nothing)
{
	struct pgbuf	 b;
	size_t		 i;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(bad_texts); i++) {
		const struct bad_text *t = &bad_texts[i];

		pgbuf_reset(&b);
		pgbuf_add(&b, "head", 4);
		cr_expect_eq(pgtype_text_to_binary(t->oid, t->text, strlen(t->text), &b), -1,
		    "%s '%s' is read", type_name(t->oid), t->text);
		cr_expect(b.len == 4 && memcmp(b.data, "head", 4) == 0,
		    "%s '%s' left %zu bytes", type_name(t->oid), t->text, b.len);
	}
	pgbuf_free(&b);
}

Test(pgtypes, malformed_binary_is_refused_and_appends_nothing)
{
	struct pgbuf	 b;
	uint8_t		 bin[BIN_MAX];
	size_t		 i, n;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(bad_binaries); i++) {
		const struct bad_binary *t = &bad_binaries[i];

		n = unhex(t->hex, bin);
		pgbuf_reset(&b);
		pgbuf_add(&b, "head", 4);
		cr_expect_eq(pgtype_binary_to_text(t->oid, bin, n, &b), -1,
		    "%s %s (%s) is read", type_name(t->oid), t->hex, t->why);
		cr_expect(b.len == 4 && memcmp(b.data, "head", 4) == 0,
		    "%s %s (%s) left %zu bytes", type_name(t->oid), t->hex, t->why, b.len);
	}
	pgbuf_free(&b);
}

/* Text is given with its length: nothing past it is read, and it needs no NUL. */
Test(pgtypes, text_is_read_to_its_length_only)
{
	static const struct {
		uint32_t	 oid;
		const char	*text;		/* the whole, of which only len is the value */
		size_t		 len;
		const char	*hex;
	} cases[] = {
		{ PROTO_OID_INT4, "12345", 2, "0000000c" },
		{ PROTO_OID_NUMERIC, "1.5e3", 3, "000200000000000100011388" },
		{ PROTO_OID_FLOAT8, "2.5e10", 3, "4004000000000000" },
		{ PROTO_OID_DATE, "2000-01-01 BC", 10, "00000000" },
		{ PROTO_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", 36,
		    "a0eebc999c0b4ef8bb6d6bb9bd380a11" },
		{ PROTO_OID_TEXT, "abc", 1, "61" },
	};
	struct pgbuf	 b;
	uint8_t		 want[BIN_MAX];
	char		 h[2 * BIN_MAX + 1];
	size_t		 i, n;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		n = unhex(cases[i].hex, want);
		pgbuf_reset(&b);
		cr_expect_eq(pgtype_text_to_binary(cases[i].oid, cases[i].text, cases[i].len,
		    &b), 0, "%.*s is refused", (int)cases[i].len, cases[i].text);
		cr_expect(b.len == n && memcmp(b.data, want, n) == 0, "%.*s reads as %s",
		    (int)cases[i].len, cases[i].text, hexof(b.data, b.len, h, sizeof(h)));
	}
	pgbuf_free(&b);
}

/* bytea: dbmd has raw bytes on both sides, so both ways copy them; hex is its text. */
Test(pgtypes, bytea_is_its_raw_bytes_both_ways_and_prints_as_hex)
{
	static const uint8_t raw[] = { 0x00, 0xff, 0x00, 0x41, 0x0a, 0x5c };
	struct pgbuf	 b;

	pgbuf_init(&b);
	cr_assert_eq(pgtype_text_to_binary(PROTO_OID_BYTEA, (const char *)raw, sizeof(raw),
	    &b), 0);
	cr_assert(b.len == sizeof(raw) && memcmp(b.data, raw, sizeof(raw)) == 0);
	pgbuf_reset(&b);
	cr_assert_eq(pgtype_binary_to_text(PROTO_OID_BYTEA, raw, sizeof(raw), &b), 0);
	cr_assert(b.len == sizeof(raw) && memcmp(b.data, raw, sizeof(raw)) == 0);
	pgbuf_reset(&b);
	pgtype_bytea_hex(raw, sizeof(raw), &b);
	cr_assert_str_eq(bufstr(&b), "\\x00ff00410a5c");
	pgbuf_reset(&b);
	pgtype_bytea_hex(raw, 0, &b);
	cr_assert_str_eq(bufstr(&b), "\\x");
	pgbuf_free(&b);
}

/* A long bytea is printed whole, past any chunk the printing works in. */
Test(pgtypes, a_long_bytea_prints_every_byte)
{
	uint8_t		 raw[1000];
	struct pgbuf	 b;
	size_t		 i;
	char		 two[3];

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7);
	pgbuf_init(&b);
	pgtype_bytea_hex(raw, sizeof(raw), &b);
	cr_assert_eq(b.len, 2 + 2 * sizeof(raw));
	for (i = 0; i < sizeof(raw); i++) {
		snprintf(two, sizeof(two), "%02x", raw[i]);
		cr_assert(memcmp(b.data + 2 + 2 * i, two, 2) == 0, "byte %zu", i);
	}
	pgbuf_free(&b);
}

Test(pgtypes, every_type_has_its_servers_size_and_others_have_none)
{
	static const struct {
		uint32_t	 oid;
		int16_t		 len;
		bool		 binary;
	} types[] = {
		{ PROTO_OID_BOOL, 1, true }, { PROTO_OID_BYTEA, -1, true },
		{ PROTO_OID_CHAR, 1, true }, { PROTO_OID_NAME, 64, true },
		{ PROTO_OID_INT8, 8, true }, { PROTO_OID_INT2, 2, true },
		{ PROTO_OID_INT4, 4, true }, { PROTO_OID_TEXT, -1, true },
		{ PROTO_OID_OID, 4, true }, { PROTO_OID_JSON, -1, true },
		{ PROTO_OID_FLOAT4, 4, true }, { PROTO_OID_FLOAT8, 8, true },
		{ PROTO_OID_UNKNOWN, -2, true }, { PROTO_OID_BPCHAR, -1, true },
		{ PROTO_OID_VARCHAR, -1, true }, { PROTO_OID_DATE, 4, true },
		{ PROTO_OID_TIME, 8, true }, { PROTO_OID_TIMESTAMP, 8, true },
		{ PROTO_OID_TIMESTAMPTZ, 8, true }, { PROTO_OID_INTERVAL, 16, true },
		{ PROTO_OID_TIMETZ, 12, false }, { PROTO_OID_NUMERIC, -1, true },
		{ PROTO_OID_UUID, 16, true }, { PROTO_OID_JSONB, -1, true },
		{ 0, -1, false }, { 600, -1, false }, { 1009, -1, false },
		{ 0xffffffffu, -1, false },
	};
	struct pgbuf	 b;
	uint8_t		 zero[16] = { 0 };
	size_t		 i;

	pgbuf_init(&b);
	for (i = 0; i < ARRAY_LEN(types); i++) {
		cr_expect_eq(pgtype_len(types[i].oid), types[i].len, "typlen of %u: %d",
		    types[i].oid, pgtype_len(types[i].oid));
		cr_expect_eq(pgtype_binary_ok(types[i].oid), types[i].binary, "%u", types[i].oid);
		if (types[i].binary)
			continue;
		cr_expect_eq(pgtype_text_to_binary(types[i].oid, "1", 1, &b), -1, "%u",
		    types[i].oid);
		cr_expect_eq(pgtype_binary_to_text(types[i].oid, zero, types[i].len > 0 ?
		    (size_t)types[i].len : 4, &b), -1, "%u", types[i].oid);
		cr_expect_eq(b.len, 0);
	}
	pgbuf_free(&b);
}

/*
 * Every float prints as digits that read back as the same bits, and no more of
 * them than needed; powers of two, where the interval that reads back is lopsided,
 * and their neighbours, besides random bit patterns.
 */
static void
float_reads_back(uint32_t oid, uint64_t bits)
{
	struct pgbuf	 t, b;
	uint8_t		 bin[8];
	size_t		 n = oid == PROTO_OID_FLOAT4 ? 4 : 8;
	char		 h1[20], h2[20];

	put_be(bin, bits, (int)n);
	pgbuf_init(&t);
	pgbuf_init(&b);
	cr_assert_eq(pgtype_binary_to_text(oid, bin, n, &t), 0);
	cr_assert_eq(pgtype_text_to_binary(oid, (const char *)t.data, t.len, &b), 0,
	    "%s prints as '%s', which does not read", hexof(bin, n, h1, sizeof(h1)),
	    bufstr(&t));
	if (strcmp(bufstr(&t), "NaN") != 0)
		cr_assert(b.len == n && memcmp(b.data, bin, n) == 0,
		    "%s prints as '%s', which reads as %s", hexof(bin, n, h1, sizeof(h1)),
		    bufstr(&t), hexof(b.data, b.len, h2, sizeof(h2)));
	pgbuf_free(&t);
	pgbuf_free(&b);
}

Test(pgtypes, every_float_prints_digits_that_read_back_as_itself)
{
	uint64_t	 e, i;

	for (e = 0; e < 2047; e++) {
		float_reads_back(PROTO_OID_FLOAT8, e << 52);
		float_reads_back(PROTO_OID_FLOAT8, (e << 52) + 1);
		if (e > 0)
			float_reads_back(PROTO_OID_FLOAT8, (e << 52) - 1);
	}
	for (e = 0; e < 255; e++) {
		float_reads_back(PROTO_OID_FLOAT4, e << 23);
		float_reads_back(PROTO_OID_FLOAT4, (e << 23) + 1);
		if (e > 0)
			float_reads_back(PROTO_OID_FLOAT4, (e << 23) - 1);
	}
	for (i = 0; i < SELF_RUNS; i++) {
		float_reads_back(PROTO_OID_FLOAT8, rnd());
		float_reads_back(PROTO_OID_FLOAT4, rnd() & 0xffffffffu);
	}
}

/*
 * Whatever is printed reads back: to the same bytes, but for NaN's payloads and a
 * numeric's needless zero digits or digits past its dscale, which print alike.
 */
Test(pgtypes, every_printed_value_reads_back)
{
	struct pgbuf	 t, b, t2;
	uint8_t		 bin[BIN_MAX];
	char		 h[2 * BIN_MAX + 1], h2[2 * BIN_MAX + 1];
	size_t		 i, k, n;
	uint32_t	 oid;

	pgbuf_init(&t);
	pgbuf_init(&b);
	pgbuf_init(&t2);
	for (k = 0; k < ARRAY_LEN(random_types); k++) {
		oid = random_types[k];
		for (i = 0; i < SELF_RUNS / 4; i++) {
			n = rnd_binary(oid, bin);
			pgbuf_reset(&t);
			pgbuf_reset(&b);
			pgbuf_reset(&t2);
			cr_assert_eq(pgtype_binary_to_text(oid, bin, n, &t), 0, "%s %s is refused",
			    type_name(oid), hexof(bin, n, h, sizeof(h)));
			cr_assert_eq(pgtype_text_to_binary(oid, (const char *)t.data, t.len, &b), 0,
			    "%s %s prints as '%s', which does not read", type_name(oid),
			    hexof(bin, n, h, sizeof(h)), bufstr(&t));
			cr_assert_eq(pgtype_binary_to_text(oid, b.data, b.len, &t2), 0);
			cr_assert_str_eq(bufstr(&t2), bufstr(&t), "%s '%s' reads as %s, printed '%s'",
			    type_name(oid), bufstr(&t), hexof(b.data, b.len, h, sizeof(h)),
			    bufstr(&t2));
			if (oid == PROTO_OID_NUMERIC || strcmp(bufstr(&t), "NaN") == 0)
				continue;
			cr_assert(b.len == n && memcmp(b.data, bin, n) == 0,
			    "%s %s prints as '%s', which reads as %s", type_name(oid),
			    hexof(bin, n, h, sizeof(h)), bufstr(&t), hexof(b.data, b.len, h2,
			    sizeof(h2)));
		}
	}
	pgbuf_free(&t);
	pgbuf_free(&b);
	pgbuf_free(&t2);
}

/*
 * Arbitrary bytes, each string in a heap block of its exact size so that the
 * sanitizers catch a read past it: every conversion answers 0 or -1, appends
 * nothing when it refuses, and a binary form read from text always prints.
 */
Test(pgtypes, arbitrary_bytes_are_read_within_their_length_and_refused_cleanly)
{
	static const char alphabet[] = "0123456789-+:. eETZtzBCbcADinfINFaNyrsmodh{}f\x00\xff";
	static const uint32_t oids[] = {
		PROTO_OID_BOOL, PROTO_OID_CHAR, PROTO_OID_NAME, PROTO_OID_INT2, PROTO_OID_INT4,
		PROTO_OID_INT8, PROTO_OID_OID, PROTO_OID_FLOAT4, PROTO_OID_FLOAT8,
		PROTO_OID_DATE, PROTO_OID_TIME, PROTO_OID_TIMESTAMP, PROTO_OID_TIMESTAMPTZ,
		PROTO_OID_INTERVAL, PROTO_OID_NUMERIC, PROTO_OID_UUID, PROTO_OID_JSONB,
		PROTO_OID_TEXT,
	};
	struct pgbuf	 b, t;
	char		*s;
	size_t		 i, j, k, n;
	int		 rc;

	pgbuf_init(&b);
	pgbuf_init(&t);
	for (i = 0; i < SELF_RUNS * 4; i++) {
		n = (size_t)rnd_range(0, 40);
		s = malloc(n + (n == 0));
		cr_assert_not_null(s);
		for (j = 0; j < n; j++)
			s[j] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		for (k = 0; k < ARRAY_LEN(oids); k++) {
			pgbuf_reset(&b);
			pgbuf_add(&b, "h", 1);
			rc = pgtype_text_to_binary(oids[k], s, n, &b);
			cr_assert(rc == 0 || (rc == -1 && b.len == 1));
			if (rc == 0 && oids[k] != PROTO_OID_TEXT && oids[k] != PROTO_OID_NAME &&
			    oids[k] != PROTO_OID_JSONB) {
				pgbuf_reset(&t);
				cr_assert_eq(pgtype_binary_to_text(oids[k], b.data + 1, b.len - 1,
				    &t), 0, "%s '%.*s' reads as bytes that do not print",
				    type_name(oids[k]), (int)n, s);
			}
			pgbuf_reset(&b);
			rc = pgtype_binary_to_text(oids[k], (const uint8_t *)s, n, &b);
			cr_assert(rc == 0 || (rc == -1 && b.len == 0));
		}
		free(s);
	}
	pgbuf_free(&b);
	pgbuf_free(&t);
}

/* The server. */

/* The test's database, its session set as the front door's clients see theirs. */
static PGconn *
server(void)
{
	static const char *const settings[] = {
		"SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, MDY'",
		"SET IntervalStyle = 'postgres'", "SET extra_float_digits = 1",
		"SET bytea_output = 'hex'",
	};
	size_t	 i;

	pg_db_new();
	for (i = 0; i < ARRAY_LEN(settings); i++)
		pq_exec0(pg.check, settings[i], 0, NULL);
	return pg.check;
}

/* The binary form the server gives text read as the type; false when it refuses the text. */
static bool
server_reads(PGconn *c, uint32_t oid, const char *text, struct pgbuf *out)
{
	const Oid	 types[] = { oid };
	const char	*values[] = { text };
	PGresult	*r = PQexecParams(c, "SELECT $1", 1, types, values, NULL, NULL, 1);
	bool		 ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	pgbuf_reset(out);
	if (ok)
		pgbuf_add(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	PQclear(r);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "the server went away: %s", PQerrorMessage(c));
	return ok;
}

/* The text the server prints for a binary parameter ; false when it refuses it. */
static bool
server_prints(PGconn *c, uint32_t oid, const uint8_t *bin, size_t n, struct pgbuf *out)
{
	const Oid	 types[] = { oid };
	const char	*values[] = { (const char *)bin };
	const int	 lengths[] = { (int)n }, formats[] = { 1 };
	PGresult	*r = PQexecParams(c, "SELECT $1", 1, types, values, lengths, formats, 0);
	bool		 ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	pgbuf_reset(out);
	if (ok)
		pgbuf_add(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	PQclear(r);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "the server went away: %s", PQerrorMessage(c));
	return ok;
}

static bool
same(const struct pgbuf *a, const struct pgbuf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/*
 * Text read here and by the server: the same bytes, or both refuse it; returns
 * whether it was read.  Failures are counted rather than asserted, so that one run
 * shows every value that differs, up to a point.
 */
static int	 failures;

static bool
read_alike(PGconn *c, uint32_t oid, const char *text)
{
	struct pgbuf	 ours, theirs;
	char		 h1[2 * BIN_MAX + 1], h2[2 * BIN_MAX + 1];
	bool		 ok, sok;

	pgbuf_init(&ours);
	pgbuf_init(&theirs);
	ok = pgtype_text_to_binary(oid, text, strlen(text), &ours) == 0;
	sok = server_reads(c, oid, text, &theirs);
	if (ok != sok || (ok && !same(&ours, &theirs))) {
		failures++;
		cr_expect_fail("%s '%s': we read %s, the server %s", type_name(oid), text,
		    ok ? hexof(ours.data, ours.len, h1, sizeof(h1)) : "nothing",
		    sok ? hexof(theirs.data, theirs.len, h2, sizeof(h2)) : "nothing");
	}
	pgbuf_free(&ours);
	pgbuf_free(&theirs);
	return ok;
}

/* A binary value printed here and by the server: the same text, or both refuse it. */
static bool
print_alike(PGconn *c, uint32_t oid, const uint8_t *bin, size_t n, struct pgbuf *text)
{
	struct pgbuf	 theirs;
	char		 h[2 * BIN_MAX + 1];
	bool		 ok, sok;

	pgbuf_init(&theirs);
	pgbuf_reset(text);
	ok = pgtype_binary_to_text(oid, bin, n, text) == 0;
	sok = server_prints(c, oid, bin, n, &theirs);
	if (ok != sok || (ok && !same(text, &theirs))) {
		failures++;
		cr_expect_fail("%s %s: we print '%s', the server '%s'", type_name(oid),
		    hexof(bin, n, h, sizeof(h)), ok ? bufstr(text) : "nothing",
		    sok ? bufstr(&theirs) : "nothing");
	}
	pgbuf_free(&theirs);
	return ok;
}

#define MAX_FAILURES	20	/* a random run stops after this many differences */

Test(pgtypes_pg, the_server_reads_every_text_as_we_do)
{
	PGconn		*c = server();
	struct pgbuf	 theirs;
	uint8_t		 want[BIN_MAX];
	char		 h[2 * BIN_MAX + 1];
	size_t		 i, n;

	pgbuf_init(&theirs);
	for (i = 0; i < ARRAY_LEN(round_trips); i++) {
		const struct rt	*t = &round_trips[i];

		read_alike(c, t->oid, t->text);
		/* And the table holds the server's bytes. */
		n = unhex(t->hex, want);
		cr_expect(server_reads(c, t->oid, t->text, &theirs) && theirs.len == n &&
		    (n == 0 || memcmp(theirs.data, want, n) == 0),
		    "the table has %s '%s' as %s, the server sends %s", type_name(t->oid),
		    t->text, t->hex, hexof(theirs.data, theirs.len, h, sizeof(h)));
	}
	for (i = 0; i < ARRAY_LEN(bad_texts); i++) {
		const struct bad_text *t = &bad_texts[i];

		cr_expect_eq(server_reads(c, t->oid, t->text, &theirs), t->server_reads,
		    "the server %s %s '%s'", t->server_reads ? "refuses" : "reads",
		    type_name(t->oid), t->text);
	}
	pgbuf_free(&theirs);
}

Test(pgtypes_pg, the_server_prints_every_binary_value_as_we_do)
{
	static const uint8_t raw[] = { 0x00, 0xff, 0x00, 0x41, 0x0a, 0x5c };
	PGconn		*c = server();
	struct pgbuf	 text, theirs, hex;
	uint8_t		 bin[BIN_MAX];
	size_t		 i, n;

	pgbuf_init(&text);
	pgbuf_init(&theirs);
	pgbuf_init(&hex);
	for (i = 0; i < ARRAY_LEN(round_trips); i++) {
		n = unhex(round_trips[i].hex, bin);
		print_alike(c, round_trips[i].oid, bin, n, &text);
	}
	for (i = 0; i < ARRAY_LEN(binary_only); i++) {
		n = unhex(binary_only[i].hex, bin);
		print_alike(c, binary_only[i].oid, bin, n, &text);
	}
	for (i = 0; i < ARRAY_LEN(bad_binaries); i++) {
		const struct bad_binary *t = &bad_binaries[i];

		n = unhex(t->hex, bin);
		cr_expect(!server_prints(c, t->oid, bin, n, &theirs),
		    "the server reads %s %s (%s) as '%s'", type_name(t->oid), t->hex, t->why,
		    bufstr(&theirs));
	}
	/* bytea's text, which the front door prints itself from the raw bytes. */
	cr_assert(server_prints(c, PROTO_OID_BYTEA, raw, sizeof(raw), &theirs));
	pgtype_bytea_hex(raw, sizeof(raw), &hex);
	cr_expect(same(&hex, &theirs), "bytea: we print '%s', the server '%s'", bufstr(&hex),
	    bufstr(&theirs));
	pgbuf_free(&text);
	pgbuf_free(&theirs);
	pgbuf_free(&hex);
}

/*
 * Random values of every type with a range: printed alike, and what the server
 * prints read alike.  The one text the server prints and will not read again, an
 * interval of INT64_MIN microseconds, must read here as what it was.
 */
Test(pgtypes_pg, random_values_print_and_read_as_the_server_does)
{
	PGconn		*c = server();
	struct pgbuf	 text, ours;
	uint8_t		 bin[BIN_MAX];
	size_t		 i, k, n;
	uint32_t	 oid;

	pgbuf_init(&text);
	pgbuf_init(&ours);
	for (k = 0; k < ARRAY_LEN(random_types) && failures < MAX_FAILURES; k++) {
		oid = random_types[k];
		for (i = 0; i < RANDOM_RUNS && failures < MAX_FAILURES; i++) {
			n = rnd_binary(oid, bin);
			if (!print_alike(c, oid, bin, n, &text))
				continue;
			if (oid == PROTO_OID_INTERVAL &&
			    strncmp(bufstr(&text), "-2562047788:00:54.775808", 24) == 0) {
				pgbuf_reset(&ours);
				cr_expect(pgtype_text_to_binary(oid, (const char *)text.data,
				    text.len, &ours) == 0 && ours.len == n &&
				    memcmp(ours.data, bin, n) == 0, "'%s'", bufstr(&text));
				continue;
			}
			read_alike(c, oid, bufstr(&text));
		}
	}
	pgbuf_free(&text);
	pgbuf_free(&ours);
}

/* A double in form k of a few: SQLite's %.15g, C's shortest-safe, short, hex, fixed. */
#define FLOAT_FORMS	5

static void
float_form(char *buf, size_t size, size_t k, double d)
{
	switch (k) {
	case 0:
		snprintf(buf, size, "%.15g", d);
		break;
	case 1:
		snprintf(buf, size, "%.17g", d);
		break;
	case 2:
		snprintf(buf, size, "%.3e", d);
		break;
	case 3:
		snprintf(buf, size, "%a", d);
		break;
	default:
		snprintf(buf, size, "%.0f", d);
		break;
	}
}

/* Numbers written as PostgreSQL never prints them but SQLite and people do. */
Test(pgtypes_pg, numbers_in_any_notation_read_as_the_server_reads_them)
{
	PGconn		*c = server();
	char		 buf[512];
	size_t		 i, k, len;
	double		 d;
	uint64_t	 u;
	int		 j, nint, nfrac;

	for (i = 0; i < RANDOM_RUNS && failures < MAX_FAILURES; i++) {
		u = rnd();
		memcpy(&d, &u, sizeof(d));
		if (isnan(d) || isinf(d))
			continue;
		for (k = 0; k < FLOAT_FORMS; k++) {
			float_form(buf, sizeof(buf), k, d);
			read_alike(c, PROTO_OID_FLOAT8, buf);
			read_alike(c, PROTO_OID_FLOAT4, buf);
		}
	}
	for (i = 0; i < RANDOM_RUNS && failures < MAX_FAILURES; i++) {
		len = 0;
		if (rnd() % 3 == 0)
			buf[len++] = rnd() & 1 ? '-' : '+';
		nint = (int)rnd_range(0, 26);
		nfrac = (int)rnd_range(0, 26);
		if (nint == 0 && nfrac == 0)
			nint = 1;
		for (j = 0; j < nint; j++)
			buf[len++] = (char)('0' + (rnd() % 3 == 0 ? 0 : rnd() % 10));
		if (nfrac > 0 || rnd() % 4 == 0) {
			buf[len++] = '.';
			for (j = 0; j < nfrac; j++)
				buf[len++] = (char)('0' + (rnd() % 3 == 0 ? 0 : rnd() % 10));
		}
		if (rnd() % 3 == 0)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d",
			    rnd() & 1 ? "e" : "E", (int)rnd_range(-40, 40));
		buf[len] = '\0';
		read_alike(c, PROTO_OID_NUMERIC, buf);
	}
}

/*
 * Timestamps with a zone of every form, a T, and BC: the offset is applied as the
 * server applies it, even where it moves the date across a year, or out of range.
 */
Test(pgtypes_pg, timestamps_with_any_zone_read_as_the_server_reads_them)
{
	static const char *const zones[] = { "+05:30", "-03", "Z", "+0930", "-11:59:59",
	    " +01", "+15:59", "-8", "+14:00:01" };
	PGconn		*c = server();
	struct pgbuf	 text;
	uint8_t		 bin[BIN_MAX];
	char		 buf[128], *bc;
	size_t		 i, n;
	int		 bcyear;

	pgbuf_init(&text);
	for (i = 0; i < RANDOM_RUNS && failures < MAX_FAILURES; i++) {
		n = rnd_binary(PROTO_OID_TIMESTAMP, bin);
		pgbuf_reset(&text);
		cr_assert_eq(pgtype_binary_to_text(PROTO_OID_TIMESTAMP, bin, n, &text), 0);
		snprintf(buf, sizeof(buf), "%s", bufstr(&text));
		if (strchr(buf, ':') == NULL)
			continue;	/* infinity */
		bcyear = (bc = strstr(buf, " BC")) != NULL;
		if (bc != NULL)
			*bc = '\0';
		if (rnd() & 1)
			*strchr(buf, ' ') = 'T';
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		    zones[rnd() % ARRAY_LEN(zones)], bcyear ? " BC" : "");
		read_alike(c, PROTO_OID_TIMESTAMPTZ, buf);
		read_alike(c, PROTO_OID_TIMESTAMP, buf);
		read_alike(c, PROTO_OID_DATE, buf);
	}
	pgbuf_free(&text);
}

/*
 * Floats at and beside every power of two, where the interval of decimals that read
 * back is lopsided and the nearest one at a length may fall outside it; and the
 * floats nearest every one-digit decimal dEn, where a decimal can lie exactly
 * halfway between two floats (1e23), which PostgreSQL never prints.
 */
Test(pgtypes_pg, floats_at_powers_of_two_and_near_short_decimals_print_as_the_server_does)
{
	PGconn		*c = server();
	struct pgbuf	 text;
	uint8_t		 bin[8];
	uint64_t	 e, bits, d;
	uint32_t	 bits32;
	char		 dec[16];
	double		 v;
	float		 f;
	int		 x;

	pgbuf_init(&text);
	for (x = -325; x <= 309 && failures < MAX_FAILURES; x++)
		for (d = 1; d <= 9; d++) {
			snprintf(dec, sizeof(dec), "%de%d", (int)d, x);
			v = strtod(dec, NULL);
			memcpy(&bits, &v, sizeof(v));
			put_be(bin, bits, 8);
			if (v != 0 && !isinf(v))
				print_alike(c, PROTO_OID_FLOAT8, bin, 8, &text);
			f = strtof(dec, NULL);
			memcpy(&bits32, &f, sizeof(f));
			put_be(bin, bits32, 4);
			if (f != 0 && !isinf(f))
				print_alike(c, PROTO_OID_FLOAT4, bin, 4, &text);
		}
	for (e = 1; e < 2047 && failures < MAX_FAILURES; e++)
		for (d = 0; d < 3; d++) {
			bits = (e << 52) + d - 1;
			put_be(bin, bits, 8);
			print_alike(c, PROTO_OID_FLOAT8, bin, 8, &text);
		}
	for (e = 1; e < 255 && failures < MAX_FAILURES; e++)
		for (d = 0; d < 3; d++) {
			bits = (e << 23) + d - 1;
			put_be(bin, bits, 4);
			print_alike(c, PROTO_OID_FLOAT4, bin, 4, &text);
		}
	pgbuf_free(&text);
}

Test(pgtypes_pg, every_types_size_is_its_typlen_in_pg_type)
{
	static const uint32_t oids[] = {
		PROTO_OID_BOOL, PROTO_OID_BYTEA, PROTO_OID_CHAR, PROTO_OID_NAME, PROTO_OID_INT8,
		PROTO_OID_INT2, PROTO_OID_INT4, PROTO_OID_TEXT, PROTO_OID_OID, PROTO_OID_JSON,
		PROTO_OID_FLOAT4, PROTO_OID_FLOAT8, PROTO_OID_UNKNOWN, PROTO_OID_BPCHAR,
		PROTO_OID_VARCHAR, PROTO_OID_DATE, PROTO_OID_TIME, PROTO_OID_TIMESTAMP,
		PROTO_OID_TIMESTAMPTZ, PROTO_OID_INTERVAL, PROTO_OID_TIMETZ, PROTO_OID_NUMERIC,
		PROTO_OID_UUID, PROTO_OID_JSONB,
	};
	PGconn		*c = server();
	char		 oid[16];
	size_t		 i;

	for (i = 0; i < ARRAY_LEN(oids); i++) {
		snprintf(oid, sizeof(oid), "%u", oids[i]);
		cr_expect_eq(pq_num(c, "SELECT typlen FROM pg_type WHERE oid = $1::oid", 1,
		    (const char *[]){ oid }), pgtype_len(oids[i]), "typlen of %s",
		    type_name(oids[i]));
	}
}
