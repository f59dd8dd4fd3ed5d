/* test_sqlscan.c: the SQL scanner: tokens in both dialects, keywords, words, statements. */

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"

TestSuite(sqlscan, .timeout = 10);

/* The tokens of sql as "kind:text" separated by spaces; the kinds are one letter each. */
static char *
tokens(const char *sql, enum sqlscan_dialect d)
{
	static const char kinds[] = {
		[SQLSCAN_WORD] = 'W', [SQLSCAN_QUOTED] = 'Q', [SQLSCAN_STRING] = 'S',
		[SQLSCAN_NUMBER] = 'N', [SQLSCAN_PARAM] = 'P', [SQLSCAN_SEMICOLON] = ';',
		[SQLSCAN_OTHER] = 'O',
	};
	struct sqlscan s;
	char *out = xstrdup(""), *next;
	const char *prev = sql;
	int n = 0;

	sqlscan_init(&s, sql, d);
	while (sqlscan_next(&s) != SQLSCAN_END) {
		cr_assert(s.text >= prev && s.text + s.len <= sql + strlen(sql),
		    "token %d of \"%s\" lies outside the text or goes back", n, sql);
		cr_assert_gt(s.len, 0, "token %d of \"%s\" is empty", n, sql);
		next = xasprintf("%s%s%c:%.*s", out, n++ ? " " : "", kinds[s.token],
		    (int)s.len, s.text);
		free(out);
		out = next;
		prev = s.text + s.len;
	}
	cr_assert_eq(s.text, sql + strlen(sql), "END of \"%s\" is not at its NUL", sql);
	cr_assert_eq(sqlscan_next(&s), SQLSCAN_END, "END of \"%s\" does not stay", sql);
	return out;
}

struct token_case {
	const char	*sql;
	const char	*want;
};

static void
check_tokens(const struct token_case *c, size_t n, enum sqlscan_dialect d)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *got = tokens(c[i].sql, d);

		cr_expect_str_eq(got, c[i].want, "%s: \"%s\"", d == SQLSCAN_PG ? "pg" : "sqlite",
		    c[i].sql);
		free(got);
	}
}

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))

Test(sqlscan, postgresql_tokens)
{
	static const struct token_case c[] = {
		{ "", "" },
		{ "  \t\n\v\f\r ", "" },
		{ "SELECT 1;", "W:SELECT N:1 ;:;" },
		{ "select a.b, $1 from t", "W:select W:a O:. W:b O:, P:$1 W:from W:t" },
		{ "a$b $2x", "W:a$b P:$2 W:x" },
		{ "'it''s' 'a' 'b'", "S:'it''s' S:'a' S:'b'" },
		{ "'a\\' x", "S:'a\\' W:x" },
		{ "E'a\\'b' e'\\\\' x", "S:E'a\\'b' S:e'\\\\' W:x" },
		{ "B'01' X'ff' N'n' U&'\\0041' U&\"d\\0061t\"", "S:B'01' S:X'ff' S:N'n' "
		    "S:U&'\\0041' Q:U&\"d\\0061t\"" },
		{ "\"a \"\"b\"\"\" c", "Q:\"a \"\"b\"\"\" W:c" },
		{ "`a` [b]", "O:` W:a O:` O:[ W:b O:]" },
		{ "$$a;b$$ $t$ $$ $t$ $x", "S:$$a;b$$ S:$t$ $$ $t$ O:$ W:x" },
		{ "$a$ $b$ $a$", "S:$a$ $b$ $a$" },
		{ "$1$a$", "P:$1 S:$a$" },
		{ "$_9$body$_9$", "S:$_9$body$_9$" },
		{ "1 1.5 .5 1e10 1E+3 2e-1 0x1F 1_000", "N:1 N:1.5 N:.5 N:1e10 N:1E+3 N:2e-1 "
		    "N:0x1F N:1_000" },
		{ "a -- b ; c\nd", "W:a W:d" },
		{ "a -- b\rd", "W:a W:d" },
		{ "a /* b /* c */ d */ e", "W:a W:e" },
		{ "a /*/ b */ c", "W:a W:c" },
		{ "a /**/ b", "W:a W:b" },
		{ "x::int + -1 <> ?", "W:x O:: O:: W:int O:+ O:- N:1 O:< O:> O:?" },
		{ "caf\xc3\xa9 \xc3\xa9t\xc3\xa9", "W:caf\xc3\xa9 W:\xc3\xa9t\xc3\xa9" },
		{ "a;;b", "W:a ;:; ;:; W:b" },
	};

	check_tokens(c, NCASES(c), SQLSCAN_PG);
}

Test(sqlscan, sqlite_tokens)
{
	static const struct token_case c[] = {
		{ "SELECT 1;", "W:SELECT N:1 ;:;" },
		{ "`a``b` [c d] \"e\"", "Q:`a``b` Q:[c d] Q:\"e\"" },
		{ "? ?1 :a @b $c $ : @", "P:? P:?1 P::a P:@b P:$c O:$ O:: O:@" },
		{ "X'00ff' x'' E'a'", "S:X'00ff' S:x'' W:E S:'a'" },
		{ "'a\\' x", "S:'a\\' W:x" },
		{ "a /* b /* c */ d */ e", "W:a W:d O:* O:/ W:e" },
		{ "a -- b\rc\nd", "W:a W:d" },
		{ "$$a$$", "P:$$a$$" },
	};

	check_tokens(c, NCASES(c), SQLSCAN_SQLITE);
}

Test(sqlscan, unterminated_tokens_run_to_the_end)
{
	static const struct token_case pg[] = {
		{ "SELECT 'abc", "W:SELECT S:'abc" },
		{ "SELECT 'a''", "W:SELECT S:'a''" },
		{ "E'\\", "S:E'\\" },
		{ "\"abc", "Q:\"abc" },
		{ "$q$ abc $q", "S:$q$ abc $q" },
		{ "a /* b /* c */", "W:a" },
		{ "a --", "W:a" },
		{ "a /", "W:a O:/" },
	};
	static const struct token_case sqlite[] = {
		{ "[abc", "Q:[abc" },
		{ "`a", "Q:`a" },
		{ "a /* b", "W:a" },
	};

	check_tokens(pg, NCASES(pg), SQLSCAN_PG);
	check_tokens(sqlite, NCASES(sqlite), SQLSCAN_SQLITE);
}

Test(sqlscan, keyword_skips_blanks_comments_and_parentheses)
{
	static const struct { const char *sql, *first, *second; } c[] = {
		{ "select 1", "SELECT", "" },
		{ "  \n\tInsert into t", "INSERT", "INTO" },
		{ "-- a comment\nBEGIN", "BEGIN", "" },
		{ "/* a /* nested */ comment */ start transaction", "START", "TRANSACTION" },
		{ "((SELECT 1) UNION (SELECT 2))", "SELECT", "" },
		{ "create temp table t (a)", "CREATE", "TEMP" },
		{ "CREATE\n/* x */ TABLE t", "CREATE", "TABLE" },
		{ "select1 from t", "SELECT", "FROM" },
		{ "'select' 1", "", "" },
		{ "\"select\"", "", "" },
		{ "_x", "", "" },
		{ "1 select", "", "SELECT" },
		{ ";select", "", "SELECT" },
		{ "", "", "" },
		{ "supercalifragilisticexpialidocious x", "SUPERCALIFRAGI", "X" },
	};
	struct sqlscan s;
	char w[15];
	size_t i;

	for (i = 0; i < NCASES(c); i++) {
		sqlscan_init(&s, c[i].sql, SQLSCAN_PG);
		cr_expect_eq(sqlscan_keyword(&s, w, sizeof(w)), strlen(c[i].first));
		cr_expect_str_eq(w, c[i].first, "first keyword of \"%s\"", c[i].sql);
		sqlscan_keyword(&s, w, sizeof(w));
		cr_expect_str_eq(w, c[i].second, "second keyword of \"%s\"", c[i].sql);
	}
}

/* PostgreSQL nests comments and SQLite does not: the same text has another keyword. */
Test(sqlscan, comments_nest_in_postgresql_only)
{
	const char *sql = "/* /* */ BEGIN */ DELETE FROM t";
	struct sqlscan s;
	char w[16];

	sqlscan_init(&s, sql, SQLSCAN_PG);
	sqlscan_keyword(&s, w, sizeof(w));
	cr_expect_str_eq(w, "DELETE");
	sqlscan_init(&s, sql, SQLSCAN_SQLITE);
	sqlscan_keyword(&s, w, sizeof(w));
	cr_expect_str_eq(w, "BEGIN");
}

Test(sqlscan, keyword_into_a_tiny_buffer)
{
	struct sqlscan s;
	char w[2] = "xx";

	sqlscan_init(&s, "select", SQLSCAN_PG);
	cr_expect_eq(sqlscan_keyword(&s, w, 1), 0);
	cr_expect_eq(w[0], '\0');
	sqlscan_init(&s, "select", SQLSCAN_PG);
	cr_expect_eq(sqlscan_keyword(&s, w, 0), 0);
}

Test(sqlscan, words_are_found_in_strings_and_comments)
{
	const char *sql = "SELECT 'now'::timestamp, known /* INTO */ \"Pg_x\" -- x_1\n";
	const char *want[] = { "select", "now", "timestamp", "known", "into", "pg_x", "x_1" };
	const char *p = sql;
	char w[64];
	size_t i, n;

	for (i = 0; (n = sqlscan_word(&p, w, sizeof(w))) > 0; i++) {
		cr_assert_lt(i, NCASES(want), "more words than expected: %s", w);
		cr_expect_str_eq(w, want[i]);
		cr_expect_eq(n, strlen(want[i]));
	}
	cr_expect_eq(i, NCASES(want));
	cr_expect_eq(*p, '\0');
	cr_expect_eq(sqlscan_word(&p, w, sizeof(w)), 0);
	cr_expect_str_empty(w);
}

Test(sqlscan, a_long_word_is_cut_but_counted)
{
	const char *p = "abcdefghij klm";
	char w[5];

	cr_expect_eq(sqlscan_word(&p, w, sizeof(w)), 10);
	cr_expect_str_eq(w, "abcd");
	cr_expect_eq(sqlscan_word(&p, w, sizeof(w)), 3);
	cr_expect_str_eq(w, "klm");
}

/* Deliberately blind to quoting: see sqlscan_one_statement. */
Test(sqlscan, one_statement_allows_semicolons_only_at_the_end)
{
	static const struct { const char *sql; bool one; } c[] = {
		{ "", true },
		{ "SELECT 1", true },
		{ "SELECT 1;", true },
		{ "SELECT 1 ; ;\n\t", true },
		{ "SELECT 1; SELECT 2", false },
		{ "SELECT ';'", false },
		{ "SELECT 1 -- ;\n", true },
		{ "SELECT 1 -- ;\nDELETE FROM t", false },
		{ "SELECT 1; -- done", false },
		{ "SELECT 'a\\'; DELETE FROM t; --'", false },
	};
	size_t i;

	for (i = 0; i < NCASES(c); i++)
		cr_expect_eq(sqlscan_one_statement(c[i].sql), c[i].one, "\"%s\"", c[i].sql);
}
