/* test_cli.c: the dbmd command line as an operator uses it: -n and --resolve. */

#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmd.h"

static char dir[PATH_MAX];

struct run {
	int	 status;	/* exit status, or -1 when it did not exit */
	char	*out;
	char	*err;
};

static void
setup(void)
{
	strcpy(dir, "/tmp/dbmd-test-cli-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 20);

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, len;

	cr_assert_not_null(fp);
	len = getdelim(&buf, &cap, '\0', fp);
	fclose(fp);
	if (buf == NULL || (ssize_t)len < 0) {
		free(buf);
		return xstrdup("");
	}
	return buf;
}

static char *
write_config(const char *text, mode_t mode)
{
	char *path = xasprintf("%s/dbmd.yaml", dir);
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	return path;
}

/* Runs the dbmd under test with argv and exactly the variables in envp. */
static struct run
run_dbmd(const char *const *args, char *const *envp)
{
	const char *bin = getenv("TEST_DBMD_BIN");
	char *out = xasprintf("%s/stdout", dir), *err = xasprintf("%s/stderr", dir);
	char *argv[32];
	posix_spawn_file_actions_t fa;
	struct run r;
	pid_t pid;
	int st, i;

	cr_assert_not_null(bin, "TEST_DBMD_BIN names the dbmd binary (make check sets it)");
	argv[0] = (char *)bin;
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r.out = slurp(out);
	r.err = slurp(err);
	free(out);
	free(err);
	return r;
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* The line of text that starts with prefix, or fails the test. */
static char *
line_of(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0)
			return strndup(p, strcspn(p, "\n"));
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	cr_assert_fail("no line starting with \"%s\" in:\n%s", prefix, text);
	return NULL;
}

static void
assert_contains(const char *hay, const char *needle)
{
	cr_assert_not_null(strstr(hay, needle), "\"%s\" not in:\n%s", needle, hay);
}

Test(cli, check_says_configuration_ok)
{
	char *file = write_config("environments:\n  production:\n    uri: sqlite:/srv/app.db\n",
	    0600);
	char *envp[] = { NULL };
	struct run r = run_dbmd((const char *[]){ "-n", "-c", file, NULL }, envp);

	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "configuration OK\n");
	run_free(&r);
	free(file);
}

Test(cli, check_lists_every_mistake_with_its_location)
{
	char *file = write_config(
	    "daemon:\n"
	    "  log_level: loud\n"
	    "environments:\n"
	    "  production:\n"
	    "    roles:\n"
	    "      primary:\n"
	    "        uri: postgresql://db/app\n"
	    "        pool_size: 5000\n"
	    "        idle_timeout: 5 minutes\n"
	    "        pool_sise: 3\n", 0600);
	char *envp[] = { "DBMD_PRODUCTION_PRIMARY_READ_ONLY=maybe", NULL };
	struct run r = run_dbmd((const char *[]){ "-n", "-c", file, NULL }, envp);
	char *loc;

	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.out, "");
	loc = xasprintf("%s:2:14: log_level", file);
	assert_contains(r.err, loc);
	free(loc);
	loc = xasprintf("%s:8:20: pool_size: 5000 is out of range", file);
	assert_contains(r.err, loc);
	free(loc);
	loc = xasprintf("%s:9:23: idle_timeout", file);
	assert_contains(r.err, loc);
	free(loc);
	loc = xasprintf("%s:10:9: unknown key \"pool_sise\" (did you mean pool_size?)", file);
	assert_contains(r.err, loc);
	free(loc);
	assert_contains(r.err, "DBMD_PRODUCTION_PRIMARY_READ_ONLY: read_only: expected true or "
	    "false");
	assert_contains(r.err, "5 errors\n");
	run_free(&r);
	free(file);
}

/* libpq parses these URIs without a word; dbmd -n must not call them OK. */
Test(cli, check_refuses_libpq_option_values_libpq_would_refuse_at_connect)
{
	char *file = write_config(
	    "environments:\n"
	    "  production:\n"
	    "    roles:\n"
	    "      primary:\n"
	    "        uri: postgresql://u@h/db?sslmode=bogus\n"
	    "      reporting:\n"
	    "        uri: postgresql://u@h/db?target_session_attrs=whatever\n"
	    "      batch:\n"
	    "        uri: postgresql://u:hunter22@h/db?connect_timeout=abc\n", 0600);
	char *envp[] = { NULL };
	struct run r = run_dbmd((const char *[]){ "-n", "-c", file, NULL }, envp);
	char *loc;

	cr_assert_eq(r.status, 1, "stdout: %s", r.out);
	cr_assert_str_eq(r.out, "");
	loc = xasprintf("%s:5:14: uri: sslmode: \"bogus\" is not one of disable, allow, "
	    "prefer, require, verify-ca, verify-full\n", file);
	assert_contains(r.err, loc);
	free(loc);
	loc = xasprintf("%s:7:14: uri: target_session_attrs: \"whatever\" is not one of any, "
	    "read-write, read-only, primary, standby, prefer-standby\n", file);
	assert_contains(r.err, loc);
	free(loc);
	loc = xasprintf("%s:9:14: uri: connect_timeout: expected an integer, got \"abc\"\n",
	    file);
	assert_contains(r.err, loc);
	free(loc);
	cr_assert_null(strstr(r.err, "hunter22"), "password shown in:\n%s", r.err);
	run_free(&r);
	free(file);
}

Test(cli, resolve_shows_each_key_with_its_source)
{
	char *file = write_config(
	    "environments:\n"
	    "  production:\n"
	    "    roles:\n"
	    "      primary:\n"
	    "        uri: postgresql://app@db.example/app\n"
	    "        pool_size: 20\n", 0600);
	char *envp[] = { "DBMD_PRODUCTION_PRIMARY_MIN_IDLE=2",
	    "DBMD_PRODUCTION_STATEMENT_TIMEOUT=30s", NULL };
	struct run r = run_dbmd((const char *[]){ "-c", file, "--set",
	    "production.primary.cache.size=50", "--resolve", "production", "primary", NULL }, envp);
	char *line, *want;

	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	line = line_of(r.out, "cache.size ");
	assert_contains(line, " 50 ");
	assert_contains(line, "explicit (--set production.primary.cache.size)");
	free(line);
	line = line_of(r.out, "min_idle ");
	assert_contains(line, "env DBMD_PRODUCTION_PRIMARY_MIN_IDLE");
	free(line);
	line = line_of(r.out, "statement_timeout ");
	assert_contains(line, " 30s ");
	assert_contains(line, "env DBMD_PRODUCTION_STATEMENT_TIMEOUT");
	free(line);
	line = line_of(r.out, "pool_size ");
	want = xasprintf("file %s:6:9", file);
	assert_contains(line, want);
	free(want);
	free(line);
	line = line_of(r.out, "idle_timeout ");
	assert_contains(line, " 10m ");
	assert_contains(line, "default");
	free(line);
	line = line_of(r.out, "backend ");
	assert_contains(line, "postgresql");
	free(line);
	line = line_of(r.out, "hash ");
	cr_assert_eq(strlen(line), strlen("hash         ") + 16, "%s", line);
	free(line);
	run_free(&r);
	free(file);
}

Test(cli, resolve_never_prints_a_password)
{
	char *envp[] = { "DBMD_STAGING_URI=postgresql://app:hunter22@db/app", NULL };
	struct run r = run_dbmd((const char *[]){ "-c", "/nonexistent/dbmd.yaml", "--resolve",
	    "staging", "primary", NULL }, envp);

	/* The named file is missing: an error, but the resolution is still shown. */
	cr_assert_eq(r.status, 1);
	assert_contains(r.err, "/nonexistent/dbmd.yaml: cannot read");
	assert_contains(r.out, "postgresql://app:********@db/app");
	cr_assert_null(strstr(r.out, "hunter22"));
	cr_assert_null(strstr(r.err, "hunter22"));
	run_free(&r);
}

Test(cli, resolve_unconfigured_production_says_how_to_configure_it)
{
	char *file = write_config("", 0600);
	char *envp[] = { NULL };
	struct run r = run_dbmd((const char *[]){ "-c", file, "--resolve", "production",
	    "primary", NULL }, envp);

	cr_assert_eq(r.status, 1);
	assert_contains(r.err, "environments.production.roles.primary.uri");
	assert_contains(r.err, "DBMD_PRODUCTION_PRIMARY_URI");
	run_free(&r);
	free(file);
}

Test(cli, resolve_development_works_with_no_configuration_at_all)
{
	struct run r;
	char *line;

	if (access(DBMD_CONFIG_DEFAULT, F_OK) == 0)
		cr_skip_test("%s exists on this machine", DBMD_CONFIG_DEFAULT);
	/* DBMD_CONFIG set to an empty string means "the default file". */
	r = run_dbmd((const char *[]){ "--resolve", "development", "primary", NULL },
	    (char *[]){ "STATE_DIRECTORY=/var/lib/dbmd", "DBMD_CONFIG=", NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	line = line_of(r.out, "uri ");
	assert_contains(line, "sqlite:/var/lib/dbmd/development.db");
	free(line);
	line = line_of(r.out, "backend ");
	assert_contains(line, "sqlite");
	free(line);
	run_free(&r);
}

Test(cli, shipped_sample_configuration_is_valid)
{
	const char *src = getenv("TEST_SRCDIR");
	char *file, *line;
	struct run r;

	cr_assert_not_null(src, "TEST_SRCDIR names the source tree (make check sets it)");
	file = xasprintf("%s/etc/dbmd.yaml", src);
	r = run_dbmd((const char *[]){ "-n", "-c", file, NULL }, (char *[]){ NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "configuration OK\n");
	run_free(&r);
	/* The sample's dbmd.d/production.yaml is read too. */
	r = run_dbmd((const char *[]){ "-c", file, "--resolve", "production", "secondary", NULL },
	    (char *[]){ NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	line = line_of(r.out, "cache.ttl ");
	assert_contains(line, "5m");
	assert_contains(line, "etc/dbmd.d/production.yaml:");
	free(line);
	run_free(&r);
	free(file);
}

Test(cli, usage_errors_exit_2)
{
	char *envp[] = { NULL };
	struct run r = run_dbmd((const char *[]){ "--resolve", "production", NULL }, envp);

	cr_assert_eq(r.status, 2);
	assert_contains(r.err, "usage:");
	run_free(&r);
	r = run_dbmd((const char *[]){ "--bogus", NULL }, envp);
	cr_assert_eq(r.status, 2);
	run_free(&r);
}
