/* pgtypes.c: PostgreSQL's text and binary forms of common types, each made from the other. */

/*
 * dbmd's backends give every value in text form (PostgreSQL's output form, SQLite's
 * text) and bytea as raw bytes, while a client of the PostgreSQL front door may ask
 * for results in binary form and may send parameters in it.  The front door
 * converts one value at a time through these functions.
 *
 * Text is read as PostgreSQL 15's input functions read it, for the forms PostgreSQL
 * prints (DateStyle ISO, IntervalStyle postgres) and the forms SQLite stores, so that
 * a value gets the bytes the server itself would have sent; anything else is refused
 * rather than guessed at, and the caller reports 22P02.  A binary form is checked as
 * the server's receive function checks it, and printed as its output function prints.
 * tests/test_pgtypes.c holds both directions against a real server.
 *
 * Nothing here allocates except the output buffer as it grows: this runs once per
 * value of every row.  The daemon keeps the C locale, which strtod and snprintf
 * need here for the decimal point.
 */

#include <sys/types.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbmd.h"
#include "proto.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

#define USECS_PER_SEC	INT64_C(1000000)
#define USECS_PER_DAY	INT64_C(86400000000)
#define UNIX_TO_PG_DAYS	10957		/* 2000-01-01, PostgreSQL's epoch, in Unix days */
#define DATE_MIN	(-2451545)	/* 4714-11-24 BC (Julian day 0), the first date */
#define DATE_END	2145031949	/* 5874898-01-01, the first date past the last */
#define TS_MIN		INT64_C(-211813488000000000)	/* 4714-11-24 00:00:00 BC */
#define TS_END		INT64_C(9223371331200000000)	/* 294277-01-01 00:00:00 */
#define TS_DAYS_MAX	INT64_C(106751991)	/* days whose microseconds fit an int64 */
#define ZONE_HOUR_MAX	15		/* PostgreSQL's bound on a numeric zone offset */
#define INTERVAL_HOURS_MAX INT64_C(2562047788)	/* hours whose microseconds fit an int64 */

#define NAMEDATALEN	64		/* name's fixed size, its NUL included */

#define NUMERIC_POS	0x0000
#define NUMERIC_NEG	0x4000
#define NUMERIC_NAN	0xC000
#define NUMERIC_PINF	0xD000
#define NUMERIC_NINF	0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF	/* digits after the point a numeric can keep */
#define NUMERIC_NBASE	10000		/* a numeric digit holds four decimal ones */

/*
 * The dscale numeric_send gives an infinity: it reads the special value's header as
 * a short numeric's, whose dscale bits 0xD000 and 0xF000 both hold as 32.  Clients
 * ignore it; it is copied so that the bytes are the server's.
 */
#define NUMERIC_INF_DSCALE 32
#define NUMERIC_EXP_LIMIT 1073741823	/* an exponent numeric_in refuses, in magnitude */

#define FLOAT_TEXT_MAX	512		/* longer float text is refused; PostgreSQL prints <= 24 */
#define FRAC_TEXT_MAX	64		/* digits of fractional seconds read; more are refused */

/* The output buffer. */

void
pgbuf_init(struct pgbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
pgbuf_free(struct pgbuf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Empties the buffer for the next message, keeping its memory for it. */
void
pgbuf_reset(struct pgbuf *b)
{
	b->len = 0;
	b->failed = false;
}

/*
 * Appends n bytes, doubling the memory as needed so that a message built value by
 * value costs few reallocations.  Once an addition has failed, later ones do
 * nothing: what the buffer holds is then a prefix nobody should send.
 */
void
pgbuf_add(struct pgbuf *b, const void *p, size_t n)
{
	uint8_t	*data;
	size_t	 cap;

	if (b->failed || n == 0)
		return;
	if (n > SIZE_MAX - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n > b->cap) {
		cap = b->cap != 0 ? b->cap : 64;
		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		if ((data = realloc(b->data, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
pgbuf_u8(struct pgbuf *b, uint8_t v)
{
	pgbuf_add(b, &v, 1);
}

void
pgbuf_u16(struct pgbuf *b, uint16_t v)
{
	uint8_t	 x[2] = { v >> 8, v };

	pgbuf_add(b, x, sizeof(x));
}

void
pgbuf_u32(struct pgbuf *b, uint32_t v)
{
	uint8_t	 x[4] = { v >> 24, v >> 16, v >> 8, v };

	pgbuf_add(b, x, sizeof(x));
}

static void
pgbuf_u64(struct pgbuf *b, uint64_t v)
{
	pgbuf_u32(b, v >> 32);
	pgbuf_u32(b, (uint32_t)v);
}

/* A string with its NUL, as the protocol's strings are. */
void
pgbuf_str(struct pgbuf *b, const char *s)
{
	pgbuf_add(b, s, strlen(s) + 1);
}

/* Small readers and writers. */

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* The wire's two's complement fields, read without implementation-defined casts. */
static int64_t
as_int64(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static int32_t
as_int32(uint32_t u)
{
	return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

static int16_t
as_int16(uint16_t u)
{
	return u <= INT16_MAX ? (int16_t)u : (int16_t)(-(int)(uint16_t)~u - 1);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* isspace() of the C locale, which is what PostgreSQL's input functions skip. */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Drops the blanks around a value, which most input functions allow. */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* Whether the n bytes at s are word, ignoring case, and nothing else. */
static bool
is_word(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* Floor division, for days and numeric digit weights before the epoch or the point. */
static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * Whether the bytes are UTF-8 without NUL: what the server checks of text a client
 * sends (client_encoding is UTF8 at the front door), so that a bad parameter is
 * refused here with the others, and never cut short at a NUL on its way.
 */
static bool
utf8_valid(const uint8_t *s, size_t n)
{
	size_t	 i = 0, k, len;
	uint8_t	 c, lo, hi;

	while (i < n) {
		c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			if (c == 0xE0)
				lo = 0xA0;	/* overlong */
			else if (c == 0xED)
				hi = 0x9F;	/* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			if (c == 0xF0)
				lo = 0x90;	/* overlong */
			else if (c == 0xF4)
				hi = 0x8F;	/* past U+10FFFF */
		} else
			return false;
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += len;
	}
	return true;
}

/* Appends text made with snprintf from a format in this file. */
static void ATTR_PRINTF(2, 3)
add_printf(struct pgbuf *out, const char *fmt, ...)
{
	char	 buf[128];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		pgbuf_add(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A reading of text, one field at a time, for the date, time and interval forms. */
struct rd {
	const char	*p;		/* the next byte */
	const char	*end;
};

static bool
rd_eof(const struct rd *r)
{
	return r->p == r->end;
}

static bool
rd_peek(const struct rd *r, char c)
{
	return r->p < r->end && *r->p == c;
}

static bool
rd_peek_digit(const struct rd *r)
{
	return r->p < r->end && is_digit(*r->p);
}

static bool
rd_char(struct rd *r, char c)
{
	if (!rd_peek(r, c))
		return false;
	r->p++;
	return true;
}

static size_t
rd_spaces(struct rd *r)
{
	const char	*start = r->p;

	while (r->p < r->end && is_space(*r->p))
		r->p++;
	return (size_t)(r->p - start);
}

/* A decimal number of min to max digits (max <= 18, so that it cannot overflow). */
static int
rd_num(struct rd *r, int min, int max, int64_t *v)
{
	int	 n = 0;

	*v = 0;
	while (n < max && rd_peek_digit(r)) {
		*v = *v * 10 + (*r->p++ - '0');
		n++;
	}
	return n >= min && !rd_peek_digit(r) ? 0 : -1;
}

/* A word, ignoring case, that the next byte does not continue. */
static bool
rd_word(struct rd *r, const char *word)
{
	size_t	 n = strlen(word);

	if ((size_t)(r->end - r->p) < n || strncasecmp(r->p, word, n) != 0 ||
	    (r->p + n < r->end && is_alpha(r->p[n])))
		return false;
	r->p += n;
	return true;
}

/*
 * Fractional seconds after the point, in microseconds, rounded as PostgreSQL rounds
 * them (strtod of the fraction times a million, to the nearest, ties to even) so
 * that seven digits and more come out as the server has them.
 */
static int
rd_fraction(struct rd *r, int64_t *usec)
{
	char	 buf[FRAC_TEXT_MAX + 3] = "0.";
	size_t	 n = 2;
	double	 x, whole;

	while (rd_peek_digit(r)) {
		if (n == sizeof(buf) - 1)
			return -1;
		buf[n++] = *r->p++;
	}
	buf[n] = '\0';
	x = strtod(buf, NULL) * 1e6;
	whole = (double)(int64_t)x;
	if (x - whole > 0.5 || (x - whole == 0.5 && ((int64_t)whole & 1) != 0))
		whole += 1;
	*usec = (int64_t)whole;
	return 0;
}

/*
 * A clock reading H:MM[:SS[.fff]], its hours up to maxh digits (an interval's can be
 * many).  H:MM.fff, which PostgreSQL reads as minutes and seconds, is refused.
 */
static int
rd_clock(struct rd *r, int maxh, int64_t *h, int64_t *m, int64_t *s, int64_t *us)
{
	*s = *us = 0;
	if (rd_num(r, 1, maxh, h) < 0 || !rd_char(r, ':') || rd_num(r, 1, 2, m) < 0)
		return -1;
	if (rd_char(r, ':')) {
		if (rd_num(r, 1, 2, s) < 0)
			return -1;
		if (rd_char(r, '.') && rd_fraction(r, us) < 0)
			return -1;
	}
	return rd_peek(r, '.') ? -1 : 0;
}

/*
 * A zone's offset east of UTC, in seconds: Z, or a sign and hours, +HH[:MM[:SS]] as
 * PostgreSQL prints it or +HHMM as ISO 8601 allows.
 */
static int
rd_zone(struct rd *r, int64_t *off)
{
	const char	*start;
	int64_t		 h, m = 0, s = 0;
	bool		 neg;

	if (rd_word(r, "z")) {
		*off = 0;
		return 0;
	}
	if (!rd_peek(r, '+') && !rd_peek(r, '-'))
		return -1;
	neg = *r->p++ == '-';
	start = r->p;
	if (rd_num(r, 1, 4, &h) < 0)
		return -1;
	if (r->p - start > 2) {
		m = h % 100;
		h /= 100;
	} else if (rd_char(r, ':')) {
		if (rd_num(r, 2, 2, &m) < 0)
			return -1;
		if (rd_char(r, ':') && rd_num(r, 2, 2, &s) < 0)
			return -1;
	}
	if (h > ZONE_HOUR_MAX || m > 59 || s > 59)
		return -1;
	*off = (h * 3600 + m * 60 + s) * (neg ? -1 : 1);
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (year 0 is 1 BC). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The date of days since 1970-01-01, the inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	 era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
month_days(int64_t y, int64_t m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool		 leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* A date and time as text gives them, before any zone is applied. */
struct when {
	int	 infinite;	/* 1: infinity, -1: -infinity, 0: the fields below */
	int64_t	 days;		/* since 2000-01-01 */
	int64_t	 usec;		/* since midnight, up to a whole day (24:00:00) */
	int64_t	 zone;		/* seconds east of UTC; 0 when the text gives none */
};

/*
 * The text of a date, timestamp or timestamptz: 'infinity', '-infinity', or
 * YYYY-MM-DD, then a time after a blank or T, a zone, and BC or AD, each optional.
 * The year has four digits or more; the time is checked as PostgreSQL checks it
 * (24:00:00 and a leap second are allowed, nothing past midnight).
 */
static int
read_when(const char *s, size_t n, struct when *w)
{
	struct rd	 r;
	const char	*save;
	int64_t		 y, m, d, h = 0, mi = 0, sec = 0, us = 0;
	bool		 bc = false;

	memset(w, 0, sizeof(*w));
	trim(&s, &n);
	if (is_word(s, n, "infinity") || is_word(s, n, "-infinity")) {
		w->infinite = *s == '-' ? -1 : 1;
		return 0;
	}
	r.p = s;
	r.end = s + n;
	if (rd_num(&r, 4, 7, &y) < 0 || !rd_char(&r, '-') || rd_num(&r, 1, 2, &m) < 0 ||
	    !rd_char(&r, '-') || rd_num(&r, 1, 2, &d) < 0)
		return -1;
	save = r.p;
	if (rd_char(&r, 'T') || rd_char(&r, 't') || (rd_spaces(&r) > 0 && rd_peek_digit(&r))) {
		if (rd_clock(&r, 2, &h, &mi, &sec, &us) < 0)
			return -1;
	} else
		r.p = save;
	save = r.p;
	rd_spaces(&r);
	if (rd_peek(&r, '+') || rd_peek(&r, '-') || rd_peek(&r, 'z') || rd_peek(&r, 'Z')) {
		if (rd_zone(&r, &w->zone) < 0)
			return -1;
	} else
		r.p = save;
	rd_spaces(&r);
	if (rd_word(&r, "bc"))
		bc = true;
	else
		(void)rd_word(&r, "ad");
	if (!rd_eof(&r))
		return -1;
	if (y == 0 || m < 1 || m > 12)
		return -1;
	if (bc)
		y = 1 - y;
	if (d < 1 || d > month_days(y, m))
		return -1;
	/* PostgreSQL's bounds on the Julian day routines, before any zone moves the date. */
	if (y < -4713 || (y == -4713 && m < 11) || y > 5874897)
		return -1;
	if (h > 24 || mi > 59 || sec > 60 || us > USECS_PER_SEC)
		return -1;
	w->usec = ((h * 60 + mi) * 60 + sec) * USECS_PER_SEC + us;
	if (w->usec > USECS_PER_DAY)
		return -1;
	w->days = days_from_civil(y, m, d) - UNIX_TO_PG_DAYS;
	return 0;
}

/* Appends YYYY-MM-DD of days since 2000-01-01; *bc says whether BC must follow. */
static void
add_date(struct pgbuf *out, int64_t days, bool *bc)
{
	int64_t	 y;
	int	 m, d;

	civil_from_days(days + UNIX_TO_PG_DAYS, &y, &m, &d);
	*bc = y <= 0;
	add_printf(out, "%04lld-%02d-%02d", (long long)(y <= 0 ? 1 - y : y), m, d);
}

/* Appends SS and, when there are any, the microseconds without their trailing zeros. */
static void
add_seconds(struct pgbuf *out, int64_t sec, int64_t us)
{
	char	 frac[8];
	int	 n = 6;

	add_printf(out, "%02lld", (long long)sec);
	if (us == 0)
		return;
	snprintf(frac, sizeof(frac), "%06lld", (long long)us);
	while (n > 0 && frac[n - 1] == '0')
		n--;
	pgbuf_u8(out, '.');
	pgbuf_add(out, frac, (size_t)n);
}

/* Appends HH:MM:SS[.ffffff] of microseconds since midnight. */
static void
add_clock(struct pgbuf *out, int64_t usec)
{
	int64_t	 sec = usec / USECS_PER_SEC;

	add_printf(out, "%02lld:%02lld:", (long long)(sec / 3600), (long long)(sec / 60 % 60));
	add_seconds(out, sec % 60, usec % USECS_PER_SEC);
}

/* The conversions, one or two per type. */

/* A type's conversions; t says which of the types sharing a function is meant. */
struct pgtype {
	uint32_t	 oid;
	int16_t		 len;		/* typlen: a fixed size, -1 varlena, -2 C string */
	int		(*to_binary)(const struct pgtype *t, const char *, size_t,
			    struct pgbuf *);	/* NULL: no binary form here */
	int		(*to_text)(const struct pgtype *t, const uint8_t *, size_t,
			    struct pgbuf *);
};

/*
 * bool: PostgreSQL's boolin takes any prefix of true, false, yes and no, on and off
 * from their second letter, 1 and 0; the binary form is one byte, any non-zero true.
 */
static int
bool_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	static const struct {
		const char	*word;
		size_t		 min;		/* the prefix that decides */
		bool		 value;
	} words[] = {
		{ "true", 1, true }, { "false", 1, false }, { "yes", 1, true },
		{ "no", 1, false }, { "on", 2, true }, { "off", 2, false },
		{ "1", 1, true }, { "0", 1, false },
	};
	size_t		 i;

	(void)t;
	trim(&s, &n);
	for (i = 0; i < ARRAY_LEN(words); i++) {
		if (n >= words[i].min && n <= strlen(words[i].word) &&
		    strncasecmp(s, words[i].word, n) == 0) {
			pgbuf_u8(out, words[i].value);
			return 0;
		}
	}
	return -1;
}

static int
bool_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	(void)t;
	if (n != 1)
		return -1;
	pgbuf_u8(out, b[0] != 0 ? 't' : 'f');
	return 0;
}

/*
 * "char": one byte.  PostgreSQL 15 reads \ooo (three octal digits) as the byte
 * they make and otherwise takes the first byte, none for an empty string; it prints
 * a byte with the high bit set as \ooo and the zero byte as nothing.
 */
static int
char_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	(void)t;
	if (n == 4 && s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' &&
	    s[2] <= '7' && s[3] >= '0' && s[3] <= '7')
		pgbuf_u8(out, (uint8_t)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0')));
	else
		pgbuf_u8(out, n > 0 ? (uint8_t)s[0] : 0);
	return 0;
}

static int
char_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	(void)t;
	if (n != 1)
		return -1;
	if (b[0] & 0x80)
		add_printf(out, "\\%o%o%o", b[0] >> 6, (b[0] >> 3) & 7, b[0] & 7);
	else if (b[0] != 0)
		pgbuf_u8(out, b[0]);
	return 0;
}

/*
 * text, varchar, bpchar, json, unknown: the binary form is the text itself.  A
 * client's must be UTF-8 without NUL, as the server would check it; json is not
 * parsed here, the backend does that when it reads the parameter.
 */
static int
text_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	(void)t;
	pgbuf_add(out, s, n);
	return 0;
}

static int
text_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	(void)t;
	if (!utf8_valid(b, n))
		return -1;
	pgbuf_add(out, b, n);
	return 0;
}

/* name: text cut to 63 bytes, never inside a character, as namein cuts it. */
static int
name_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	(void)t;
	if (n >= NAMEDATALEN) {
		n = NAMEDATALEN - 1;
		while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
			n--;
	}
	pgbuf_add(out, s, n);
	return 0;
}

static int
name_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	if (n >= NAMEDATALEN)
		return -1;
	return text_to_text(t, b, n, out);
}

/* jsonb: a version byte, 1, then the text. */
static int
jsonb_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	(void)t;
	pgbuf_u8(out, 1);
	pgbuf_add(out, s, n);
	return 0;
}

static int
jsonb_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	if (n < 1 || b[0] != 1)
		return -1;
	return text_to_text(t, b + 1, n - 1, out);
}

/* bytea: dbmd has the raw bytes on both sides already. */
static int
bytea_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	(void)t;
	pgbuf_add(out, s, n);
	return 0;
}

static int
bytea_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	(void)t;
	pgbuf_add(out, b, n);
	return 0;
}

/*
 * int2, int4, int8 as PostgreSQL 15 reads them: blanks around, an optional sign,
 * decimal digits and nothing else, within the type's range.
 */
static int
int_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	uint64_t	 mag = 0, lim;
	size_t		 i = 0;
	bool		 neg = false;
	int		 bits = t->len * 8;

	trim(&s, &n);
	if (n > 0 && (s[0] == '+' || s[0] == '-'))
		neg = s[i++] == '-';
	if (i == n)
		return -1;
	/* The largest magnitude: 2^(bits-1) when negative, one less otherwise. */
	lim = (UINT64_C(1) << (bits - 1)) - (neg ? 0 : 1);
	for (; i < n; i++) {
		if (!is_digit(s[i]) || mag > (lim - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		mag = mag * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg)
		mag = ~mag + 1;	/* two's complement, which the wire carries */
	if (bits == 16)
		pgbuf_u16(out, (uint16_t)mag);
	else if (bits == 32)
		pgbuf_u32(out, (uint32_t)mag);
	else
		pgbuf_u64(out, mag);
	return 0;
}

static int
int_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	if (n != (size_t)t->len)
		return -1;
	if (n == 2)
		add_printf(out, "%d", as_int16(get_u16(b)));
	else if (n == 4)
		add_printf(out, "%ld", (long)as_int32(get_u32(b)));
	else
		add_printf(out, "%lld", (long long)as_int64(get_u64(b)));
	return 0;
}

/*
 * oid: unsigned, 32 bits.  PostgreSQL reads it with strtoul and, for old dumps'
 * sake, also takes a negative number that fits an int4 as its two's complement.
 */
static int
oid_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	uint64_t	 mag = 0;
	size_t		 i = 0;
	bool		 neg = false;

	(void)t;
	trim(&s, &n);
	if (n > 0 && (s[0] == '+' || s[0] == '-'))
		neg = s[i++] == '-';
	if (i == n)
		return -1;
	for (; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		mag = mag * 10 + (uint64_t)(s[i] - '0');
		if (mag > (neg ? UINT64_C(0x80000000) : UINT32_MAX))
			return -1;
	}
	pgbuf_u32(out, neg ? (uint32_t)(UINT64_C(0x100000000) - mag) : (uint32_t)mag);
	return 0;
}

static int
oid_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	(void)t;
	if (n != 4)
		return -1;
	add_printf(out, "%lu", (unsigned long)get_u32(b));
	return 0;
}

/*
 * float4, float8: what strtof and strtod read, as PostgreSQL reads them (Infinity,
 * NaN and SQLite's Inf included), refusing what overflows or underflows to zero
 * but keeping subnormal numbers.
 */
static int
float_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	char		 buf[FLOAT_TEXT_MAX + 1], *end;
	double		 d;
	float		 f;
	uint64_t	 u64;
	uint32_t	 u32;

	trim(&s, &n);
	if (n == 0 || n > FLOAT_TEXT_MAX)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	if (t->len == 4) {
		f = strtof(buf, &end);
		if (end != buf + n || (errno == ERANGE && (f == 0 || isinf(f))))
			return -1;
		memcpy(&u32, &f, sizeof(u32));
		pgbuf_u32(out, u32);
	} else {
		d = strtod(buf, &end);
		if (end != buf + n || (errno == ERANGE && (d == 0 || isinf(d))))
			return -1;
		memcpy(&u64, &d, sizeof(u64));
		pgbuf_u64(out, u64);
	}
	return 0;
}

/*
 * Whether m * 10^e is exactly n * 2^j, n odd: the two are compared by their factors
 * of two and of five and what is left of each, so that no big number is needed.
 */
static bool
decimal_is(uint64_t m, int e, uint64_t n, int j)
{
	int	 twos = 0, fives = 0, nfives = 0;

	while (m % 2 == 0) {
		m /= 2;
		twos++;
	}
	while (m % 5 == 0) {
		m /= 5;
		fives++;
	}
	while (n % 5 == 0) {
		n /= 5;
		nfives++;
	}
	return m == n && twos + e == j && fives + e == nfives;
}

/*
 * Whether m * 10^e stands for v (positive and finite) as PostgreSQL's Ryu code has
 * it: it reads back as v, and it is not exactly halfway to a neighbouring float.
 * strtod would read such a midpoint back as v when v's mantissa is even, but
 * PostgreSQL never prints one (its STRICTLY_SHORTEST is 0, for readers that get
 * round-half-even wrong), and the bytes must come out as the server's.
 */
static bool
float_reads_back(uint64_t m, int e, double v, bool single)
{
	char		 buf[48];
	uint64_t	 bits, frac, mant;
	uint32_t	 bits32;
	float		 f = (float)v;
	int		 exp, k, fracbits = single ? 23 : 52;

	snprintf(buf, sizeof(buf), "%llue%d", (unsigned long long)m, e);
	if (single ? strtof(buf, NULL) != f : strtod(buf, NULL) != v)
		return false;
	if (single) {
		memcpy(&bits32, &f, sizeof(f));
		bits = bits32;
		exp = (int)(bits >> 23);
		k = (exp == 0 ? 1 : exp) - 150;
	} else {
		memcpy(&bits, &v, sizeof(v));
		exp = (int)(bits >> 52);
		k = (exp == 0 ? 1 : exp) - 1075;
	}
	frac = bits & ((UINT64_C(1) << fracbits) - 1);
	mant = exp == 0 ? frac : frac | UINT64_C(1) << fracbits;
	/* v = mant * 2^k; the gap below a power of two is half the gap above. */
	if (decimal_is(m, e, 2 * mant + 1, k - 1))
		return false;
	if (frac == 0 && exp > 1)
		return !decimal_is(m, e, 4 * mant - 1, k - 2);
	return !decimal_is(m, e, 2 * mant - 1, k - 1);
}

static bool
is_pow10(uint64_t m)
{
	while (m >= 10 && m % 10 == 0)
		m /= 10;
	return m == 1;
}

/*
 * The shortest decimal m * 10^e that reads back as v (positive and finite), and of
 * those the nearest to v: what PostgreSQL 12 and later print by default
 * (extra_float_digits 1, its Ryu code).  At each length the correctly rounded
 * decimal is the nearest; when it falls just outside the interval that reads back
 * (an asymmetric one, at a power of two) the next decimal on the other side may
 * still be in, and then that is the answer at this length.
 */
static void
float_shortest(double v, bool single, uint64_t *mp, int *ep)
{
	char		 buf[48], *x;
	uint64_t	 m, lower;
	int		 p, e, lower_e;

	for (p = 1; p <= (single ? 9 : 17); p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
		for (m = 0, x = buf; *x != 'e'; x++)
			if (is_digit(*x))
				m = m * 10 + (uint64_t)(*x - '0');
		e = atoi(x + 1) - (p - 1);
		/* The decimal below m: 99..9 one place down when m is a power of ten. */
		lower = m - 1;
		lower_e = e;
		if (is_pow10(m)) {
			lower = m * 10 - 1;
			lower_e = e - 1;
		}
		if (float_reads_back(m, e, v, single))
			break;
		if (float_reads_back(m + 1, e, v, single)) {
			m++;
			break;
		}
		if (float_reads_back(lower, lower_e, v, single)) {
			m = lower;
			e = lower_e;
			break;
		}
	}
	while (m % 10 == 0) {
		m /= 10;
		e++;
	}
	*mp = m;
	*ep = e;
}

/*
 * Appends a float as PostgreSQL prints it: Infinity, -Infinity, NaN, 0 and -0, and
 * otherwise the shortest digits, fixed-point when the exponent is from -4 to below
 * fixed_max (15 for float8, 6 for float4, printf's defaults) and d.ddde+XX past that.
 */
static void
float_format(double v, bool single, struct pgbuf *out)
{
	char		 dig[24], buf[64];
	uint64_t	 m;
	size_t		 k = 0;
	int		 e, n, x, i, fixed_max = single ? 6 : 15;

	if (isnan(v)) {
		pgbuf_add(out, "NaN", 3);
		return;
	}
	if (isinf(v)) {
		add_printf(out, "%s", v < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (signbit(v)) {
		buf[k++] = '-';
		v = -v;
	}
	if (v == 0) {
		buf[k++] = '0';
		pgbuf_add(out, buf, k);
		return;
	}
	float_shortest(v, single, &m, &e);
	n = snprintf(dig, sizeof(dig), "%llu", (unsigned long long)m);
	x = e + n - 1;		/* the exponent of the first digit */
	if (x >= -4 && x < fixed_max) {
		if (x < 0) {
			buf[k++] = '0';
			buf[k++] = '.';
			for (i = x + 1; i < 0; i++)
				buf[k++] = '0';
			for (i = 0; i < n; i++)
				buf[k++] = dig[i];
		} else {
			for (i = 0; i < n || i <= x; i++) {
				if (i == x + 1)
					buf[k++] = '.';
				buf[k++] = i < n ? dig[i] : '0';
			}
		}
		pgbuf_add(out, buf, k);
		return;
	}
	buf[k++] = dig[0];
	if (n > 1) {
		buf[k++] = '.';
		for (i = 1; i < n; i++)
			buf[k++] = dig[i];
	}
	pgbuf_add(out, buf, k);
	add_printf(out, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
}

static int
float_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	uint64_t	 u64;
	uint32_t	 u32;
	double		 d;
	float		 f;

	if (n != (size_t)t->len)
		return -1;
	if (n == 4) {
		u32 = get_u32(b);
		memcpy(&f, &u32, sizeof(f));
		float_format(f, true, out);
	} else {
		u64 = get_u64(b);
		memcpy(&d, &u64, sizeof(d));
		float_format(d, false, out);
	}
	return 0;
}

/* date: int32 days since 2000-01-01; infinity and -infinity are INT32_MAX and INT32_MIN. */
static int
date_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	struct when	 w;

	(void)t;
	if (read_when(s, n, &w) < 0)
		return -1;
	if (w.infinite != 0) {
		pgbuf_u32(out, w.infinite > 0 ? INT32_MAX : (uint32_t)INT32_MAX + 1);
		return 0;
	}
	/* A time and a zone are allowed, and ignored, as date_in ignores them. */
	if (w.days < DATE_MIN || w.days >= DATE_END)
		return -1;
	pgbuf_u32(out, (uint32_t)w.days);
	return 0;
}

static int
date_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	int32_t	 days;
	bool	 bc;

	(void)t;
	if (n != 4)
		return -1;
	days = as_int32(get_u32(b));
	if (days == INT32_MAX || days == INT32_MIN) {
		add_printf(out, "%s", days == INT32_MAX ? "infinity" : "-infinity");
		return 0;
	}
	if (days < DATE_MIN || days >= DATE_END)
		return -1;
	add_date(out, days, &bc);
	if (bc)
		pgbuf_add(out, " BC", 3);
	return 0;
}

/* time: int64 microseconds since midnight, 00:00:00 to 24:00:00. */
static int
time_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	struct rd	 r;
	int64_t		 h, m, sec, us, v;

	(void)t;
	trim(&s, &n);
	r.p = s;
	r.end = s + n;
	if (rd_clock(&r, 2, &h, &m, &sec, &us) < 0 || !rd_eof(&r))
		return -1;
	if (h > 24 || m > 59 || sec > 60 || us > USECS_PER_SEC)
		return -1;
	v = ((h * 60 + m) * 60 + sec) * USECS_PER_SEC + us;
	if (v > USECS_PER_DAY)
		return -1;
	pgbuf_u64(out, (uint64_t)v);
	return 0;
}

static int
time_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	int64_t	 v;

	(void)t;
	if (n != 8)
		return -1;
	v = as_int64(get_u64(b));
	if (v < 0 || v > USECS_PER_DAY)
		return -1;
	add_clock(out, v);
	return 0;
}

/*
 * timestamp, timestamptz: int64 microseconds since 2000-01-01 00:00:00, for
 * timestamptz in UTC; infinity and -infinity are INT64_MAX and INT64_MIN.  The
 * offset a timestamptz's text gives is applied, and none means UTC (SQLite keeps
 * UTC without one); a timestamp ignores an offset, as PostgreSQL does.
 */
static int
timestamp_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	struct when	 w;
	int64_t		 v;

	if (read_when(s, n, &w) < 0)
		return -1;
	if (w.infinite != 0) {
		pgbuf_u64(out, w.infinite > 0 ? INT64_MAX : (uint64_t)INT64_MAX + 1);
		return 0;
	}
	if (w.days < -TS_DAYS_MAX || w.days > TS_DAYS_MAX)
		return -1;
	v = w.days * USECS_PER_DAY + w.usec;
	if (t->oid == PROTO_OID_TIMESTAMPTZ)
		v -= w.zone * USECS_PER_SEC;
	if (v < TS_MIN || v >= TS_END)
		return -1;
	pgbuf_u64(out, (uint64_t)v);
	return 0;
}

static int
timestamp_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	int64_t	 v, days;
	bool	 bc;

	if (n != 8)
		return -1;
	v = as_int64(get_u64(b));
	if (v == INT64_MAX || v == INT64_MIN) {
		add_printf(out, "%s", v == INT64_MAX ? "infinity" : "-infinity");
		return 0;
	}
	if (v < TS_MIN || v >= TS_END)
		return -1;
	days = floor_div(v, USECS_PER_DAY);
	add_date(out, days, &bc);
	pgbuf_u8(out, ' ');
	add_clock(out, v - days * USECS_PER_DAY);
	if (t->oid == PROTO_OID_TIMESTAMPTZ)
		pgbuf_add(out, "+00", 3);
	if (bc)
		pgbuf_add(out, " BC", 3);
	return 0;
}

/*
 * interval: int64 microseconds, int32 days, int32 months.  The text is IntervalStyle
 * postgres, what the server prints by default: "1 year 2 mons -3 days +04:05:06.5",
 * each of years, months and days at most once with a sign of its own, then a signed
 * time.  Other styles and units are refused.
 */
static int
interval_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	static const char *const units[][2] = {
		{ "years", "year" }, { "mons", "mon" }, { "days", "day" },
	};
	struct rd	 r;
	const char	*start;
	uint64_t	 mag;
	int64_t		 v, h, m, sec, us, fields[3] = { 0, 0, 0 }, months, usec = 0;
	bool		 neg, seen[3] = { false, false, false }, any = false;
	size_t		 u;

	(void)t;
	trim(&s, &n);
	r.p = s;
	r.end = s + n;
	while (!rd_eof(&r)) {
		if (any && rd_spaces(&r) == 0)
			return -1;
		any = true;
		start = r.p;
		neg = rd_char(&r, '-');
		if (!neg)
			(void)rd_char(&r, '+');
		if (rd_num(&r, 1, 10, &v) < 0)
			return -1;
		if (rd_peek(&r, ':')) {
			/* The time, which comes last. */
			r.p = start + (*start == '-' || *start == '+');
			if (rd_clock(&r, 10, &h, &m, &sec, &us) < 0 || !rd_eof(&r))
				return -1;
			if (h > INTERVAL_HOURS_MAX || m > 59 || sec > 60 || us > USECS_PER_SEC)
				return -1;
			mag = (uint64_t)h * 3600 * USECS_PER_SEC +
			    (uint64_t)((m * 60 + sec) * USECS_PER_SEC + us);
			if (mag > (uint64_t)INT64_MAX + neg)
				return -1;
			usec = neg && mag > 0 ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
			break;
		}
		if (rd_spaces(&r) == 0)
			return -1;
		for (u = 0; u < ARRAY_LEN(units); u++)
			if (rd_word(&r, units[u][0]) || rd_word(&r, units[u][1]))
				break;
		if (u == ARRAY_LEN(units) || seen[u])
			return -1;
		seen[u] = true;
		fields[u] = neg ? -v : v;
	}
	if (!any)
		return -1;
	/* The fields are at most ten digits, so none of this overflows an int64. */
	months = fields[0] * 12 + fields[1];
	if (months < INT32_MIN || months > INT32_MAX || fields[2] < INT32_MIN ||
	    fields[2] > INT32_MAX)
		return -1;
	pgbuf_u64(out, (uint64_t)usec);
	pgbuf_u32(out, (uint32_t)fields[2]);
	pgbuf_u32(out, (uint32_t)months);
	return 0;
}

/* Appends one of years, months and days as PostgreSQL's AddPostgresIntPart does. */
static void
interval_add_part(struct pgbuf *out, int64_t v, const char *unit, bool *first, bool *before)
{
	if (v == 0)
		return;
	add_printf(out, "%s%s%lld %s%s", *first ? "" : " ", *before && v > 0 ? "+" : "",
	    (long long)v, unit, v != 1 ? "s" : "");
	/* A negative part makes the next one show its sign, even a plus. */
	*before = v < 0;
	*first = false;
}

static int
interval_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	int64_t	 usec, hour, min, sec, us;
	int32_t	 days, months;
	bool	 first = true, before = false, minus;

	(void)t;
	if (n != 16)
		return -1;
	usec = as_int64(get_u64(b));
	days = as_int32(get_u32(b + 8));
	months = as_int32(get_u32(b + 12));
	interval_add_part(out, months / 12, "year", &first, &before);
	interval_add_part(out, months % 12, "mon", &first, &before);
	interval_add_part(out, days, "day", &first, &before);
	/* Division truncates toward zero: every part has the sign of the whole. */
	hour = usec / (3600 * USECS_PER_SEC);
	usec -= hour * 3600 * USECS_PER_SEC;
	min = usec / (60 * USECS_PER_SEC);
	usec -= min * 60 * USECS_PER_SEC;
	sec = usec / USECS_PER_SEC;
	us = usec - sec * USECS_PER_SEC;
	/* The time is left out when it is zero, unless it is all there is. */
	if (!first && hour == 0 && min == 0 && sec == 0 && us == 0)
		return 0;
	minus = hour < 0 || min < 0 || sec < 0 || us < 0;
	add_printf(out, "%s%s%02lld:%02lld:", first ? "" : " ",
	    minus ? "-" : before ? "+" : "", (long long)llabs(hour), (long long)llabs(min));
	add_seconds(out, llabs(sec), llabs(us));
	return 0;
}

/*
 * numeric: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then the digits
 * in base 10000, the first worth 10000^weight; leading and trailing zero digits are
 * never sent, and zero has none.  dscale is the number of decimal digits after the
 * point the text shows.
 */

/* The decimal digits of a numeric's text, wherever the point falls among them. */
struct decdigits {
	const char	*ip;		/* before the point */
	size_t		 in;
	const char	*fp;		/* after it */
	size_t		 fn;
};

/* Digit k of the text, counting from its first; zero outside them. */
static int
dec_digit(const struct decdigits *dd, int64_t k)
{
	if (k < 0)
		return 0;
	if ((uint64_t)k < dd->in)
		return dd->ip[k] - '0';
	if ((uint64_t)k - dd->in < dd->fn)
		return dd->fp[k - (int64_t)dd->in] - '0';
	return 0;
}

/*
 * The text as numeric_in reads it: blanks around; NaN, Infinity or inf with an
 * optional sign; or an optional sign, digits with an optional point, and an optional
 * exponent, which PostgreSQL never prints but SQLite may store.
 */
static int
numeric_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	struct decdigits dd;
	const char	*end;
	int64_t		 exp = 0, dweight, dscale, kf, kl, k, weight, wlow, w, p, d;
	bool		 neg = false, eneg;
	uint16_t	 special = 0;

	(void)t;
	trim(&s, &n);
	end = s + n;
	if (is_word(s, n, "nan"))
		special = NUMERIC_NAN;
	else if (is_word(s, n, "infinity") || is_word(s, n, "+infinity") ||
	    is_word(s, n, "inf") || is_word(s, n, "+inf"))
		special = NUMERIC_PINF;
	else if (is_word(s, n, "-infinity") || is_word(s, n, "-inf"))
		special = NUMERIC_NINF;
	if (special != 0) {
		pgbuf_u16(out, 0);
		pgbuf_u16(out, 0);
		pgbuf_u16(out, special);
		pgbuf_u16(out, special == NUMERIC_NAN ? 0 : NUMERIC_INF_DSCALE);
		return 0;
	}
	if (s < end && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	dd.ip = s;
	while (s < end && is_digit(*s))
		s++;
	dd.in = (size_t)(s - dd.ip);
	dd.fp = s;
	dd.fn = 0;
	if (s < end && *s == '.') {
		dd.fp = ++s;
		while (s < end && is_digit(*s))
			s++;
		dd.fn = (size_t)(s - dd.fp);
	}
	if (dd.in + dd.fn == 0)
		return -1;
	if (s < end && (*s == 'e' || *s == 'E')) {
		s++;
		eneg = s < end && *s == '-';
		if (s < end && (*s == '+' || *s == '-'))
			s++;
		if (s == end || !is_digit(*s))
			return -1;
		/* numeric_in's own bound, INT_MAX / 2, even where the value is zero. */
		for (; s < end && is_digit(*s); s++)
			if ((exp = exp * 10 + (*s - '0')) >= NUMERIC_EXP_LIMIT)
				return -1;
		if (eneg)
			exp = -exp;
	}
	if (s != end)
		return -1;
	dweight = (int64_t)dd.in - 1 + exp;	/* the power of ten of the first digit */
	dscale = (int64_t)dd.fn - exp;
	if (dscale < 0)
		dscale = 0;
	if (dscale > NUMERIC_DSCALE_MAX)
		return -1;
	for (kf = 0; kf < (int64_t)(dd.in + dd.fn) && dec_digit(&dd, kf) == 0; kf++)
		;
	if (kf == (int64_t)(dd.in + dd.fn)) {
		pgbuf_u16(out, 0);
		pgbuf_u16(out, 0);
		pgbuf_u16(out, NUMERIC_POS);	/* -0 is 0 */
		pgbuf_u16(out, (uint16_t)dscale);
		return 0;
	}
	for (kl = (int64_t)(dd.in + dd.fn) - 1; dec_digit(&dd, kl) == 0; kl--)
		;
	weight = floor_div(dweight - kf, 4);
	wlow = floor_div(dweight - kl, 4);
	if (weight > INT16_MAX || weight < INT16_MIN || weight - wlow + 1 > UINT16_MAX)
		return -1;
	pgbuf_u16(out, (uint16_t)(weight - wlow + 1));
	pgbuf_u16(out, (uint16_t)weight);
	pgbuf_u16(out, neg ? NUMERIC_NEG : NUMERIC_POS);
	pgbuf_u16(out, (uint16_t)dscale);
	for (w = weight; w >= wlow; w--) {
		for (d = 0, p = 4 * w + 3; p >= 4 * w; p--) {
			k = dweight - p;
			d = d * 10 + dec_digit(&dd, k);
		}
		pgbuf_u16(out, (uint16_t)d);
	}
	return 0;
}

/* The decimal digit worth 10^p of a numeric's base-10000 digits. */
static int
numeric_digit(const uint8_t *digits, int64_t nd, int64_t weight, int64_t p)
{
	static const int pow10[] = { 1, 10, 100, 1000 };
	int64_t		 w = floor_div(p, 4), i = weight - w;

	if (i < 0 || i >= nd)
		return 0;
	return get_u16(digits + 2 * i) / pow10[p - 4 * w] % 10;
}

/*
 * As numeric_recv checks it (a known sign, a dscale that fits, every digit below
 * 10000, nothing left over) and numeric_out prints it: the digits past dscale
 * dropped, not rounded, and a value that is then zero shown without its minus.
 */
static int
numeric_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	const uint8_t	*digits = b + 8;
	int64_t		 nd, weight, dscale, p, i;
	uint16_t	 sign;
	bool		 zero = true, lead = true;
	char		 c;

	(void)t;
	if (n < 8)
		return -1;
	nd = get_u16(b);
	weight = as_int16(get_u16(b + 2));
	sign = get_u16(b + 4);
	dscale = get_u16(b + 6);
	if (n != 8 + 2 * (size_t)nd || dscale > NUMERIC_DSCALE_MAX)
		return -1;
	if (sign != NUMERIC_POS && sign != NUMERIC_NEG && sign != NUMERIC_NAN &&
	    sign != NUMERIC_PINF && sign != NUMERIC_NINF)
		return -1;
	for (i = 0; i < nd; i++)
		if (get_u16(digits + 2 * i) >= NUMERIC_NBASE)
			return -1;
	if (sign == NUMERIC_NAN || sign == NUMERIC_PINF || sign == NUMERIC_NINF) {
		add_printf(out, "%s", sign == NUMERIC_NAN ? "NaN" :
		    sign == NUMERIC_PINF ? "Infinity" : "-Infinity");
		return 0;
	}
	/* Whether anything is left once the digits past dscale are dropped. */
	for (p = 4 * weight + 3; p >= -dscale && p >= 4 * (weight - nd + 1); p--)
		if (numeric_digit(digits, nd, weight, p) != 0) {
			zero = false;
			break;
		}
	if (sign == NUMERIC_NEG && !zero)
		pgbuf_u8(out, '-');
	for (p = 4 * weight + 3; p >= 0; p--) {
		c = (char)('0' + numeric_digit(digits, nd, weight, p));
		if (lead && c == '0')
			continue;
		lead = false;
		pgbuf_u8(out, (uint8_t)c);
	}
	if (lead)
		pgbuf_u8(out, '0');
	if (dscale > 0)
		pgbuf_u8(out, '.');
	for (p = -1; p >= -dscale; p--)
		pgbuf_u8(out, (uint8_t)('0' + numeric_digit(digits, nd, weight, p)));
	return 0;
}

/*
 * uuid: 16 bytes.  The text is 32 hex digits in either case, as string_to_uuid in
 * PostgreSQL reads it: optionally in braces, a dash allowed after any group of four.
 */
static int
uuid_to_binary(const struct pgtype *t, const char *s, size_t n, struct pgbuf *out)
{
	uint8_t		 u[16];
	const char	*end = s + n;
	bool		 braces = false;
	int		 i, hi, lo;

	(void)t;
	if (s < end && *s == '{') {
		braces = true;
		s++;
	}
	for (i = 0; i < 16; i++) {
		if (end - s < 2 || (hi = hex_value(s[0])) < 0 || (lo = hex_value(s[1])) < 0)
			return -1;
		u[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (s < end && *s == '-' && i % 2 == 1 && i < 15)
			s++;
	}
	if (braces && (s == end || *s++ != '}'))
		return -1;
	if (s != end)
		return -1;
	pgbuf_add(out, u, sizeof(u));
	return 0;
}

static int
uuid_to_text(const struct pgtype *t, const uint8_t *b, size_t n, struct pgbuf *out)
{
	static const char hex[] = "0123456789abcdef";
	char		 buf[36];
	size_t		 i, k = 0;

	(void)t;
	if (n != 16)
		return -1;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[k++] = '-';
		buf[k++] = hex[b[i] >> 4];
		buf[k++] = hex[b[i] & 15];
	}
	pgbuf_add(out, buf, k);
	return 0;
}

/* The types, by OID; typlen as pg_type has it. */
static const struct pgtype pgtypes[] = {
	{ PROTO_OID_BOOL, 1, bool_to_binary, bool_to_text },
	{ PROTO_OID_BYTEA, -1, bytea_to_binary, bytea_to_text },
	{ PROTO_OID_CHAR, 1, char_to_binary, char_to_text },
	{ PROTO_OID_NAME, NAMEDATALEN, name_to_binary, name_to_text },
	{ PROTO_OID_INT8, 8, int_to_binary, int_to_text },
	{ PROTO_OID_INT2, 2, int_to_binary, int_to_text },
	{ PROTO_OID_INT4, 4, int_to_binary, int_to_text },
	{ PROTO_OID_TEXT, -1, text_to_binary, text_to_text },
	{ PROTO_OID_OID, 4, oid_to_binary, oid_to_text },
	{ PROTO_OID_JSON, -1, text_to_binary, text_to_text },
	{ PROTO_OID_FLOAT4, 4, float_to_binary, float_to_text },
	{ PROTO_OID_FLOAT8, 8, float_to_binary, float_to_text },
	{ PROTO_OID_UNKNOWN, -2, text_to_binary, text_to_text },
	{ PROTO_OID_BPCHAR, -1, text_to_binary, text_to_text },
	{ PROTO_OID_VARCHAR, -1, text_to_binary, text_to_text },
	{ PROTO_OID_DATE, 4, date_to_binary, date_to_text },
	{ PROTO_OID_TIME, 8, time_to_binary, time_to_text },
	{ PROTO_OID_TIMESTAMP, 8, timestamp_to_binary, timestamp_to_text },
	{ PROTO_OID_TIMESTAMPTZ, 8, timestamp_to_binary, timestamp_to_text },
	{ PROTO_OID_INTERVAL, 16, interval_to_binary, interval_to_text },
	{ PROTO_OID_TIMETZ, 12, NULL, NULL },
	{ PROTO_OID_NUMERIC, -1, numeric_to_binary, numeric_to_text },
	{ PROTO_OID_UUID, 16, uuid_to_binary, uuid_to_text },
	{ PROTO_OID_JSONB, -1, jsonb_to_binary, jsonb_to_text },
};

static const struct pgtype *
pgtype_find(uint32_t oid)
{
	size_t	 i;

	for (i = 0; i < ARRAY_LEN(pgtypes); i++)
		if (pgtypes[i].oid == oid)
			return &pgtypes[i];
	return NULL;
}

/* The size PostgreSQL gives the type in RowDescription; -1 for a type not known here. */
int16_t
pgtype_len(uint32_t oid)
{
	const struct pgtype	*t = pgtype_find(oid);

	return t != NULL ? t->len : -1;
}

bool
pgtype_binary_ok(uint32_t oid)
{
	const struct pgtype	*t = pgtype_find(oid);

	return t != NULL && t->to_binary != NULL;
}

/*
 * Appends the binary form of a value the backend gave as text (bytea: as its raw
 * bytes).  0, or -1 when the text does not read as the type, and then out is as it
 * was.  Running out of memory is not an error here: out->failed says it.
 */
int
pgtype_text_to_binary(uint32_t oid, const char *text, size_t len, struct pgbuf *out)
{
	const struct pgtype	*t = pgtype_find(oid);
	size_t			 mark = out->len;

	if (t == NULL || t->to_binary == NULL)
		return -1;
	if (t->to_binary(t, text, len, out) < 0) {
		if (!out->failed)
			out->len = mark;
		return -1;
	}
	return 0;
}

/*
 * Appends the text form of a parameter a client sent in binary (bytea: its raw
 * bytes, which the caller binds as binary).  0, or -1 when the bytes are not the
 * type's binary form (a wrong length, a bad digit, text that is not UTF-8), and then
 * out is as it was.
 */
int
pgtype_binary_to_text(uint32_t oid, const uint8_t *bin, size_t len, struct pgbuf *out)
{
	const struct pgtype	*t = pgtype_find(oid);
	size_t			 mark = out->len;

	if (t == NULL || t->to_text == NULL)
		return -1;
	if (t->to_text(t, bin, len, out) < 0) {
		if (!out->failed)
			out->len = mark;
		return -1;
	}
	return 0;
}

/* bytea's text form, as bytea_output hex prints it: \x and two lower-case digits a byte. */
void
pgtype_bytea_hex(const uint8_t *bin, size_t len, struct pgbuf *out)
{
	static const char hex[] = "0123456789abcdef";
	char		 buf[128];
	size_t		 i, k = 0;

	pgbuf_add(out, "\\x", 2);
	for (i = 0; i < len; i++) {
		if (k + 2 > sizeof(buf)) {
			pgbuf_add(out, buf, k);
			k = 0;
		}
		buf[k++] = hex[bin[i] >> 4];
		buf[k++] = hex[bin[i] & 15];
	}
	pgbuf_add(out, buf, k);
}
