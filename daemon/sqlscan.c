/* sqlscan.c: the SQL scanner both backends share: tokens, leading keywords, loose words. */

#include <string.h>

#include "dbmd.h"

/*
 * dbmd reads a statement's text for three things only: its leading keywords (a command
 * tag, whether it begins a transaction, whether it is shaped like a read), the words in
 * it (for the result cache), and whether it can be more than one statement.  The
 * database parses every statement itself and is the judge of what it means: nothing
 * here refuses a statement, and nothing that guards anything rests on this reading
 * alone (STYLE.md, rule 17).
 *
 * The two dialects differ where a misreading would matter.  PostgreSQL nests block
 * comments, ends a line comment at CR as well as LF, has escape strings (E'a\'b') and
 * dollar quotes ($$...$$, $tag$...$tag$), and numbers its parameters $1, $2.  SQLite's
 * block comments do not nest; it quotes names with `backticks` and [brackets] as well
 * as "double quotes" and writes parameters ?, ?1, :name, @name and $name.  Both take
 * a byte of 0x80 or more for a letter of a name, and both let $ continue a name.
 *
 * Characters are classified here rather than with <ctype.h>, so that the reading does
 * not depend on the locale.  The text is a C string: the scanner never reads past its
 * NUL, whatever it holds.
 */

static bool
is_blank(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* The first character of a name. */
static bool
is_name_start(unsigned char c)
{
	return is_alpha(c) || c == '_' || c >= 0x80;
}

/* The later characters of a name. */
static bool
is_name(unsigned char c)
{
	return is_name_start(c) || is_digit(c) || c == '$';
}

/* Past a block comment, from just after its opening; the text may end inside it. */
static const char *
skip_block_comment(const char *p, enum sqlscan_dialect d)
{
	size_t depth = 1;

	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '/') {
			p += 2;
			if (--depth == 0)
				break;
		} else if (p[0] == '/' && p[1] == '*' && d == SQLSCAN_PG) {
			p += 2;
			depth++;
		} else
			p++;
	}
	return p;
}

/* Past blanks and comments. */
static const char *
skip_blank(const char *p, enum sqlscan_dialect d)
{
	for (;;) {
		if (is_blank((unsigned char)*p))
			p++;
		else if (p[0] == '-' && p[1] == '-') {
			for (p += 2; *p != '\0' && *p != '\n'; p++)
				if (*p == '\r' && d == SQLSCAN_PG)
					break;
		} else if (p[0] == '/' && p[1] == '*')
			p = skip_block_comment(p + 2, d);
		else
			return p;
	}
}

/*
 * Past a string or quoted name whose opening quote p points at.  The quote written
 * twice stands for itself; with backslash, a backslash escapes the character after it.
 */
static const char *
skip_quoted(const char *p, bool backslash)
{
	char q = *p;

	for (p++; *p != '\0'; p++) {
		if (backslash && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == q) {
			if (p[1] != q)
				return p + 1;
			p++;
		}
	}
	return p;
}

/* The length of the dollar-quote delimiter ($$ or $tag$) at p, or 0 when none is there. */
static size_t
dollar_delim(const char *p)
{
	size_t n = 1;

	if (is_name_start((unsigned char)p[1]))
		for (n = 2; is_name_start((unsigned char)p[n]) || is_digit((unsigned char)p[n]);
		    n++)
			;
	return p[n] == '$' ? n + 1 : 0;
}

/* Past a dollar-quoted string whose delimiter, n bytes long, p points at. */
static const char *
skip_dollar(const char *p, size_t n)
{
	const char *q = p + n;

	while ((q = strchr(q, '$')) != NULL) {
		if (strncmp(q, p, n) == 0)
			return q + n;
		q++;
	}
	return p + n + strlen(p + n);
}

/* Past a number: digits, a point, an exponent with its sign, hex digits, underscores. */
static const char *
skip_number(const char *p)
{
	bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');

	for (; is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '_' ||
	    *p == '.'; p++)
		if (!hex && (*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-'))
			p++;
	return p;
}

/* Past the characters of a name from p, which may be none. */
static const char *
skip_name(const char *p)
{
	while (is_name((unsigned char)*p))
		p++;
	return p;
}

/*
 * A word that is really the prefix of a string (E'…', X'…', U&'…') or of a quoted name
 * (U&"…"): the end of that token, with *t set, or NULL.  p is the word, q its end.
 */
static const char *
prefixed(const char *p, const char *q, enum sqlscan_dialect d, enum sqlscan_token *t)
{
	char c = (char)(*p | 0x20);

	if (q != p + 1)
		return NULL;
	if (*q == '\'' && (c == 'x' || (d == SQLSCAN_PG && strchr("ebn", c) != NULL))) {
		*t = SQLSCAN_STRING;
		return skip_quoted(q, d == SQLSCAN_PG && c == 'e');
	}
	if (d == SQLSCAN_PG && c == 'u' && q[0] == '&' && (q[1] == '\'' || q[1] == '"')) {
		*t = q[1] == '\'' ? SQLSCAN_STRING : SQLSCAN_QUOTED;
		return skip_quoted(q + 1, false);
	}
	return NULL;
}

/* Starts reading the C string sql in dialect d. */
void
sqlscan_init(struct sqlscan *s, const char *sql, enum sqlscan_dialect d)
{
	memset(s, 0, sizeof(*s));
	s->p = sql;
	s->text = sql;
	s->dialect = d;
	s->token = SQLSCAN_END;
}

/*
 * Reads the next token, past blanks and comments, into s->token, s->text and s->len,
 * and returns its kind.  A string, quoted name or comment the text ends inside runs to
 * the end.  At the end of the text it returns SQLSCAN_END, as often as it is called.
 */
enum sqlscan_token
sqlscan_next(struct sqlscan *s)
{
	enum sqlscan_dialect d = s->dialect;
	enum sqlscan_token t = SQLSCAN_OTHER;
	const char *p = skip_blank(s->p, d), *q = p + 1, *r;
	size_t n;

	switch (*p) {
	case '\0':
		t = SQLSCAN_END;
		q = p;
		break;
	case ';':
		t = SQLSCAN_SEMICOLON;
		break;
	case '\'':
		t = SQLSCAN_STRING;
		q = skip_quoted(p, false);
		break;
	case '"':
		t = SQLSCAN_QUOTED;
		q = skip_quoted(p, false);
		break;
	case '`':
		if (d == SQLSCAN_SQLITE) {
			t = SQLSCAN_QUOTED;
			q = skip_quoted(p, false);
		}
		break;
	case '[':
		if (d == SQLSCAN_SQLITE) {
			t = SQLSCAN_QUOTED;
			q = (r = strchr(p, ']')) != NULL ? r + 1 : p + strlen(p);
		}
		break;
	case '$':
		if (d == SQLSCAN_PG && is_digit((unsigned char)p[1])) {
			t = SQLSCAN_PARAM;
			for (q = p + 1; is_digit((unsigned char)*q); q++)
				;
		} else if (d == SQLSCAN_PG && (n = dollar_delim(p)) > 0) {
			t = SQLSCAN_STRING;
			q = skip_dollar(p, n);
		} else if (d == SQLSCAN_SQLITE && is_name((unsigned char)p[1])) {
			t = SQLSCAN_PARAM;
			q = skip_name(p + 1);
		}
		break;
	case '?':
		if (d == SQLSCAN_SQLITE) {
			t = SQLSCAN_PARAM;
			for (q = p + 1; is_digit((unsigned char)*q); q++)
				;
		}
		break;
	case ':':
	case '@':
		if (d == SQLSCAN_SQLITE && is_name((unsigned char)p[1])) {
			t = SQLSCAN_PARAM;
			q = skip_name(p + 1);
		}
		break;
	case '.':
		if (is_digit((unsigned char)p[1])) {
			t = SQLSCAN_NUMBER;
			q = skip_number(p);
		}
		break;
	default:
		if (is_digit((unsigned char)*p)) {
			t = SQLSCAN_NUMBER;
			q = skip_number(p);
		} else if (is_name_start((unsigned char)*p)) {
			t = SQLSCAN_WORD;
			q = skip_name(p + 1);
			if ((r = prefixed(p, q, d, &t)) != NULL)
				q = r;
		}
		break;
	}
	s->token = t;
	s->text = p;
	s->len = (size_t)(q - p);
	s->p = q;
	return t;
}

/*
 * Reads the next keyword: past opening parentheses (a query may be written in them),
 * the next token if it is a word.  Its leading letters, upper-cased, go into buf (cut
 * at size - 1 bytes, always NUL-terminated); "" when the token is no word.  Returns
 * the length of what it wrote.  Called again, it reads the keyword after.
 */
size_t
sqlscan_keyword(struct sqlscan *s, char *buf, size_t size)
{
	size_t n = 0;

	while (sqlscan_next(s) == SQLSCAN_OTHER && s->text[0] == '(')
		;
	if (size == 0)
		return 0;
	if (s->token == SQLSCAN_WORD)
		for (; n < s->len && n + 1 < size && is_alpha((unsigned char)s->text[n]); n++)
			buf[n] = (char)(s->text[n] & ~0x20);
	buf[n] = '\0';
	return n;
}

/*
 * The next word at or after *pos, wherever it stands: in the statement, in a string, in
 * a quoted name or in a comment.  A word here is a run of ASCII letters, digits and
 * underscores, so "now" is not found in "known" but is in 'now'::timestamp, which is
 * what the result cache needs: it must err on the side of seeing a word.  The word,
 * lower-cased, goes into buf (cut at size - 1 bytes, always NUL-terminated).  Returns
 * its whole length, 0 at the end of the text, with *pos moved past it.
 */
size_t
sqlscan_word(const char **pos, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)*pos;
	size_t n = 0;

	while (*p != '\0' && !is_alpha(*p) && !is_digit(*p) && *p != '_')
		p++;
	for (; is_alpha(*p) || is_digit(*p) || *p == '_'; p++, n++)
		if (n + 1 < size)
			buf[n] = (char)(is_alpha(*p) ? *p | 0x20 : *p);
	if (size > 0)
		buf[n < size ? n : size - 1] = '\0';
	*pos = (const char *)p;
	return n;
}

/*
 * Whether the text cannot be more than one statement: it has no semicolon but at its
 * end.  This does not tokenize, on purpose.  PostgreSQL's reading of a string depends on
 * standard_conforming_strings, which a client may turn off in its session, and a
 * backend that runs such text as one simple query (wrapped in BEGIN READ ONLY, say)
 * must never run a second statement the scanner took for part of a string.  A
 * semicolon inside a string or a comment only costs the cheaper way of sending it.
 */
bool
sqlscan_one_statement(const char *sql)
{
	const char *semi = strchr(sql, ';');

	if (semi == NULL)
		return true;
	for (; *semi != '\0'; semi++)
		if (*semi != ';' && !is_blank((unsigned char)*semi))
			return false;
	return true;
}
