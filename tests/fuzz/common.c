/* common.c: helpers the libFuzzer targets share: assertions, input copies, a scratch directory. */

#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "dbmd.h"
#include "fuzz.h"

static char tmpdir[PATH_MAX];

/* An invariant the target checks does not hold: a crash for libFuzzer to keep. */
void
fuzz_fail(const char *cond, const char *file, int line)
{
	fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, cond);
	abort();
}

/* The input as a NUL-terminated string; a NUL inside it ends the string early. */
char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
tmpdir_remove(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A directory of the process's own under $TMPDIR (or /tmp), made once, removed at exit. */
const char *
fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/dbmd-fuzz-XXXXXX",
	    base != NULL && base[0] == '/' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(tmpdir_remove);
	return tmpdir;
}

/*
 * What dbmd shows of a URI hides every secret libpq would read from it: libpq's own
 * parse of uri_redact's text has, for each secret option (password, sslpassword, ...)
 * the original sets, another value.  libpq is the judge here, not dbmd's own reading.
 */
static void
check_redaction(const char *uri)
{
	PQconninfoOption *orig, *shown, *o, *s;
	char *text;

	if ((orig = PQconninfoParse(uri, NULL)) == NULL)
		return;
	text = uri_redact(uri);
	shown = PQconninfoParse(text, NULL);
	FUZZ_ASSERT(shown != NULL);
	for (o = orig, s = shown; o->keyword != NULL; o++, s++) {
		FUZZ_ASSERT(s->keyword != NULL && strcmp(o->keyword, s->keyword) == 0);
		if (o->dispchar == NULL || o->dispchar[0] != '*' || o->val == NULL ||
		    o->val[0] == '\0' || strcmp(o->val, "********") == 0)
			continue;
		FUZZ_ASSERT(s->val == NULL || strcmp(s->val, o->val) != 0);
	}
	PQconninfoFree(shown);
	PQconninfoFree(orig);
	free(text);
}

/*
 * Uses everything a loaded configuration offers the daemon: its errors as printed, each
 * setting's value and origin as text (a URI's secrets hidden), and every known
 * environment/role resolved, with and without a client's overrides, and printed as
 * --resolve prints it.
 */
void
fuzz_config_walk(const struct config *cfg)
{
	static const struct cfg_override ov[] = {
		{ "statement_timeout", "5s" }, { "pool_size", "3" }, { "uri", "sqlite::memory:" },
	};
	const struct cfg_setting *s;
	const struct cfg_name *n;
	const struct cfg_key *k;
	struct role_config *rc, *rc2;
	struct cfg_errors errs;
	FILE *null;
	char *text;

	if ((null = fopen("/dev/null", "w")) == NULL)
		abort();
	config_errors_print(&cfg->errors, null);
	TAILQ_FOREACH(s, &cfg->settings, entry) {
		if (s->key->type == CFG_T_URI)
			check_redaction(s->val.str);
		text = config_value_text(s->key, &s->val);
		fprintf(null, "%s %s\n", s->key->name, text);
		free(text);
		text = config_origin_text(s);
		fprintf(null, "%s\n", text);
		free(text);
	}
	TAILQ_INIT(&errs);
	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (n->role == NULL)
			continue;
		rc = config_resolve(cfg, n->env, n->role, NULL, 0, &errs);
		rc2 = config_resolve(cfg, n->env, n->role, ov, sizeof(ov) / sizeof(ov[0]),
		    &errs);
		if (rc != NULL) {
			config_print_resolved(rc, null);
			for (k = cfg_keys; k->name != NULL; k++)
				if (k->scope == CFG_SCOPE_ROLE) {
					text = config_role_value_text(rc, k);
					free(text);
				}
			FUZZ_ASSERT(role_config_equal(rc, rc));
		}
		if (rc != NULL && rc2 != NULL)
			(void)role_config_equal(rc, rc2);
		role_config_free(rc);
		role_config_free(rc2);
	}
	config_errors_print(&errs, null);
	config_errors_clear(&errs);
	fclose(null);
}
