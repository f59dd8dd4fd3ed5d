/* sqlscan.c (fuzz): the SQL scanner on any text, in both dialects, against its own invariants. */

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"
#include "fuzz.h"

/*
 * Tokens come in order, inside the text, never empty; END sits on the NUL and stays;
 * a token read again from where it starts is the same token (the scanner has no state
 * between tokens); keywords are upper-case letters that fit their buffer.
 */
static void
check_dialect(const char *sql, size_t len, enum sqlscan_dialect d)
{
	struct sqlscan s, again;
	const char *prev = sql;
	char kw[16];
	size_t n, i;

	sqlscan_init(&s, sql, d);
	while (sqlscan_next(&s) != SQLSCAN_END) {
		FUZZ_ASSERT(s.text >= prev);
		FUZZ_ASSERT(s.len > 0);
		FUZZ_ASSERT(s.text + s.len <= sql + len);
		sqlscan_init(&again, s.text, d);
		FUZZ_ASSERT(sqlscan_next(&again) == s.token);
		FUZZ_ASSERT(again.text == s.text && again.len == s.len);
		prev = s.text + s.len;
	}
	FUZZ_ASSERT(s.text == sql + len && s.len == 0);
	FUZZ_ASSERT(sqlscan_next(&s) == SQLSCAN_END);

	sqlscan_init(&s, sql, d);
	do {
		n = sqlscan_keyword(&s, kw, sizeof(kw));
		FUZZ_ASSERT(n < sizeof(kw) && strlen(kw) == n);
		for (i = 0; i < n; i++)
			FUZZ_ASSERT(kw[i] >= 'A' && kw[i] <= 'Z');
	} while (s.token != SQLSCAN_END);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql = fuzz_strndup(data, size), word[8];
	const char *p;
	size_t len = strlen(sql), n, total = 0;

	check_dialect(sql, len, SQLSCAN_PG);
	check_dialect(sql, len, SQLSCAN_SQLITE);

	for (p = sql; (n = sqlscan_word(&p, word, sizeof(word))) > 0; total += n) {
		FUZZ_ASSERT(p <= sql + len);
		FUZZ_ASSERT(strlen(word) == (n < sizeof(word) ? n : sizeof(word) - 1));
	}
	FUZZ_ASSERT(p == sql + len && total <= len);

	/* Blind to quoting: one statement exactly when no semicolon has text after it. */
	p = strchr(sql, ';');
	FUZZ_ASSERT(sqlscan_one_statement(sql) ==
	    (p == NULL || strspn(p, "; \t\n\v\f\r") == strlen(p)));
	free(sql);
	return 0;
}
