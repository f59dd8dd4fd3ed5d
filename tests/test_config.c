/* test_config.c: the configuration layer: sources, precedence, validation, hash. */

#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmd.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	strcpy(dir, "/tmp/dbmd-test-config-XXXXXX");
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

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);

/* Writes dir/rel (creating dbmd.d/ as needed) with the given mode; returns its path. */
static char *
put(const char *rel, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, rel);
	FILE *fp;

	if (strncmp(rel, "dbmd.d/", 7) == 0) {
		char *d = xasprintf("%s/dbmd.d", dir);

		mkdir(d, 0700);
		free(d);
	}
	fp = fopen(path, "w");
	cr_assert_not_null(fp, "cannot write %s", path);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	return path;
}

/* Loads with dir/dbmd.yaml as the named file, the given variables and --set arguments. */
static struct config *
load_with(char **env, const char **sets)
{
	char *file = xasprintf("%s/dbmd.yaml", dir);
	char *noenv[] = { NULL };
	struct config_inputs in = {
		.config_file = file,
		.environ = env ? env : noenv,
		.sets = sets,
		.uid = 1000,
	};
	struct config *cfg;

	if (access(file, F_OK) != 0)
		free(put("dbmd.yaml", "", 0600));
	cfg = config_load(&in);
	free(file);
	return cfg;
}

static struct config *
load_yaml(const char *yaml)
{
	free(put("dbmd.yaml", yaml, 0600));
	return load_with(NULL, NULL);
}

static struct role_config *
resolve(struct config *cfg, const char *env, const char *role)
{
	struct cfg_errors errs;
	struct role_config *rc;

	TAILQ_INIT(&errs);
	rc = config_resolve(cfg, env, role, NULL, 0, &errs);
	if (rc == NULL)
		config_errors_print(&errs, stderr);
	config_errors_clear(&errs);
	return rc;
}

static const struct cfg_setting *
origin(const struct role_config *rc, const char *key)
{
	return rc->origin[config_key_index(config_key_find(CFG_SCOPE_ROLE, key))];
}

static void
dump_errors(const struct config *cfg)
{
	config_errors_print(&cfg->errors, stderr);
}

/* The error with the code whose location ends in where_suffix, or NULL. */
static const struct cfg_error *
find_error(const struct cfg_errors *errs, enum cfg_errcode code, const char *where_suffix)
{
	const struct cfg_error *e;
	size_t n = strlen(where_suffix);

	TAILQ_FOREACH(e, errs, entry) {
		size_t w = strlen(e->where);

		if (e->code == code && w >= n && strcmp(e->where + w - n, where_suffix) == 0)
			return e;
	}
	return NULL;
}

/*
 * The key table holds DAEMON_KEYS daemon keys, then ROLE_KEYS role keys, then its end:
 * the compiler checks the counts (config.c), except a hole a removed daemon key leaves.
 */
Test(config, key_table_matches_the_counts_of_each_scope)
{
	int i;

	for (i = 0; i < DAEMON_KEYS + ROLE_KEYS; i++) {
		cr_assert_not_null(cfg_keys[i].name, "row %d of cfg_keys is empty", i);
		cr_assert_eq(cfg_keys[i].scope, i < DAEMON_KEYS ? CFG_SCOPE_DAEMON :
		    CFG_SCOPE_ROLE, "%s is in the wrong part of cfg_keys", cfg_keys[i].name);
		cr_assert_eq(config_key_index(&cfg_keys[i]), i < DAEMON_KEYS ? i :
		    i - DAEMON_KEYS);
	}
	cr_assert_null(cfg_keys[i].name, "cfg_keys goes on past its counts");
}

/* Precedence: explicit > environment variable > file > default, for one key. */

static const char *prec_yaml =
    "environments:\n"
    "  production:\n"
    "    roles:\n"
    "      primary:\n"
    "        uri: postgresql://db.example/app\n"
    "        pool_size: 11\n";

Test(config, default_is_used_when_nothing_sets_a_key)
{
	struct config *cfg = load_yaml(prec_yaml);
	struct role_config *rc = resolve(cfg, "production", "primary");

	cr_assert_not_null(rc);
	cr_assert_eq(rc->min_idle, 0);
	cr_assert_eq(rc->cache_size, 200);
	cr_assert_eq(rc->connect_timeout, 5000);
	cr_assert_null(origin(rc, "min_idle") ? (origin(rc, "min_idle")->src ==
	    CFG_SRC_DEFAULT ? NULL : origin(rc, "min_idle")) : NULL);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, file_beats_default)
{
	struct config *cfg = load_yaml(prec_yaml);
	struct role_config *rc = resolve(cfg, "production", "primary");
	char *want = xasprintf("%s/dbmd.yaml:6:9", dir);

	cr_assert_eq(rc->pool_size, 11);
	cr_assert_eq(origin(rc, "pool_size")->src, CFG_SRC_FILE);
	cr_assert_str_eq(origin(rc, "pool_size")->where, want);
	free(want);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, environment_variable_beats_file)
{
	char *env[] = { "DBMD_PRODUCTION_PRIMARY_POOL_SIZE=22", NULL };
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml", prec_yaml, 0600));
	cfg = load_with(env, NULL);
	rc = resolve(cfg, "production", "primary");
	cr_assert_eq(rc->pool_size, 22);
	cr_assert_eq(origin(rc, "pool_size")->src, CFG_SRC_ENV);
	cr_assert_str_eq(origin(rc, "pool_size")->where, "DBMD_PRODUCTION_PRIMARY_POOL_SIZE");
	role_config_free(rc);
	config_free(cfg);
}

Test(config, explicit_set_beats_environment_variable)
{
	char *env[] = { "DBMD_PRODUCTION_PRIMARY_POOL_SIZE=22", NULL };
	const char *sets[] = { "production.primary.pool_size=33", NULL };
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml", prec_yaml, 0600));
	cfg = load_with(env, sets);
	rc = resolve(cfg, "production", "primary");
	cr_assert_eq(rc->pool_size, 33);
	cr_assert_eq(origin(rc, "pool_size")->src, CFG_SRC_EXPLICIT);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, request_override_beats_everything_when_permitted)
{
	const char *sets[] = { "production.primary.pool_size=33",
	    "production.overridable=pool_size,statement_timeout", NULL };
	struct cfg_override ov[] = { { "pool_size", "44" }, { "statement_timeout", "2s" } };
	struct cfg_errors errs;
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml", prec_yaml, 0600));
	cfg = load_with(NULL, sets);
	TAILQ_INIT(&errs);
	rc = config_resolve(cfg, "production", "primary", ov, 2, &errs);
	cr_assert_not_null(rc);
	cr_assert_eq(rc->pool_size, 44);
	cr_assert_eq(rc->statement_timeout, 2000);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, within_one_source_role_beats_environment)
{
	struct config *cfg = load_yaml(
	    "environments:\n"
	    "  staging:\n"
	    "    uri: sqlite:/srv/staging.db\n"
	    "    pool_size: 5\n"
	    "    roles:\n"
	    "      primary:\n"
	    "        pool_size: 7\n"
	    "      reports: {}\n");
	struct role_config *p = resolve(cfg, "staging", "primary");
	struct role_config *r = resolve(cfg, "staging", "reports");

	cr_assert_eq(config_nerrors(cfg), 0);
	cr_assert_eq(p->pool_size, 7);
	cr_assert_eq(r->pool_size, 5);
	cr_assert_str_eq(r->uri, "sqlite:/srv/staging.db");
	role_config_free(p);
	role_config_free(r);
	config_free(cfg);
}

Test(config, higher_source_for_environment_beats_lower_source_for_role)
{
	char *env[] = { "DBMD_STAGING_POOL_SIZE=9", NULL };
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml",
	    "environments:\n"
	    "  staging:\n"
	    "    uri: sqlite:/srv/staging.db\n"
	    "    roles:\n"
	    "      primary: {pool_size: 7}\n", 0600));
	cfg = load_with(env, NULL);
	rc = resolve(cfg, "staging", "primary");
	cr_assert_eq(rc->pool_size, 9);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, all_four_sources_in_one_resolution)
{
	char *env[] = { "DBMD_PRODUCTION_PRIMARY_MIN_IDLE=2", NULL };
	const char *sets[] = { "production.primary.cache.size=50", NULL };
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml", prec_yaml, 0600));
	cfg = load_with(env, sets);
	rc = resolve(cfg, "production", "primary");
	cr_assert_eq(origin(rc, "cache.size")->src, CFG_SRC_EXPLICIT);
	cr_assert_eq(origin(rc, "min_idle")->src, CFG_SRC_ENV);
	cr_assert_eq(origin(rc, "pool_size")->src, CFG_SRC_FILE);
	cr_assert_eq(origin(rc, "idle_timeout")->src, CFG_SRC_DEFAULT);
	role_config_free(rc);
	config_free(cfg);
}

/* Files: the main file, then dbmd.d/ in name order, later beating earlier key by key. */

Test(config, dropin_files_override_key_by_key_in_name_order)
{
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.yaml", prec_yaml, 0600));
	free(put("dbmd.d/20-late.yaml",
	    "environments: {production: {roles: {primary: {min_idle: 3}}}}\n", 0600));
	free(put("dbmd.d/10-early.yaml",
	    "environments: {production: {roles: {primary: {min_idle: 1, pool_size: 12}}}}\n",
	    0600));
	free(put("dbmd.d/30-ignored.yml", "not: [valid\n", 0600));
	cfg = load_with(NULL, NULL);
	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, "production", "primary");
	cr_assert_eq(rc->pool_size, 12);	/* 10-early beats the main file */
	cr_assert_eq(rc->min_idle, 3);		/* 20-late beats 10-early */
	cr_assert_str_eq(rc->uri, "postgresql://db.example/app");	/* main file kept */
	cr_assert_eq(cfg->nfiles, 3);
	role_config_free(rc);
	config_free(cfg);
}

Test(config, per_environment_dropin_file)
{
	struct config *cfg;
	struct role_config *rc;

	free(put("dbmd.d/production.yaml",
	    "environments:\n"
	    "  production:\n"
	    "    uri: postgresql://db.example/app\n"
	    "    roles:\n"
	    "      read_only:\n"
	    "        uri: postgresql://replica.example/app\n", 0600));
	cfg = load_with(NULL, NULL);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, "production", "read_only");
	cr_assert_str_eq(rc->uri, "postgresql://replica.example/app");
	cr_assert_eq(rc->read_only, 1, "the built-in read_only role is read-only");
	role_config_free(rc);
	config_free(cfg);
}

Test(config, missing_default_file_is_not_an_error)
{
	char *env[] = { NULL };
	struct config_inputs in = { .environ = env, .uid = 1000 };
	struct config *cfg;
	struct role_config *rc;

	/* /etc/dbmd/dbmd.yaml does not exist on the test machine: the defaults serve. */
	if (access(DBMD_CONFIG_DEFAULT, F_OK) == 0)
		cr_skip_test("%s exists on this machine", DBMD_CONFIG_DEFAULT);
	cfg = config_load(&in);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, "development", "primary");
	cr_assert_str_eq(rc->uri, "sqlite:/tmp/dbmd-1000/development.db");
	role_config_free(rc);
	config_free(cfg);
}

Test(config, missing_named_file_is_an_error)
{
	char *env[] = { NULL };
	char *file = xasprintf("%s/nope.yaml", dir);
	struct config_inputs in = { .config_file = file, .environ = env, .uid = 1000 };
	struct config *cfg = config_load(&in);

	cr_assert_not_null(find_error(&cfg->errors, CFG_E_FILE, "nope.yaml"));
	config_free(cfg);
	free(file);
}

Test(config, dbmd_config_variable_names_the_file)
{
	char *file = put("other.yaml", prec_yaml, 0600);
	char *var = xasprintf("DBMD_CONFIG=%s", file);
	char *env[] = { var, NULL };
	struct config_inputs in = { .environ = env, .uid = 1000 };
	struct config *cfg = config_load(&in);
	struct role_config *rc = resolve(cfg, "production", "primary");

	cr_assert_not_null(rc);
	cr_assert_eq(rc->pool_size, 11);
	role_config_free(rc);
	config_free(cfg);
	free(var);
	free(file);
}

/* Built-in defaults. */

Test(config, builtin_environments_work_with_no_configuration)
{
	char *env[] = { "STATE_DIRECTORY=/var/lib/dbmd:/var/lib/other", NULL };
	struct config *cfg = load_with(env, NULL);
	struct role_config *dev = resolve(cfg, "development", "primary");
	struct role_config *test = resolve(cfg, "test", "primary");
	struct role_config *ro = resolve(cfg, "development", "read_only");

	cr_assert_eq(config_nerrors(cfg), 0);
	cr_assert_str_eq(dev->uri, "sqlite:/var/lib/dbmd/development.db");
	cr_assert_eq(dev->backend, BACKEND_SQLITE);
	cr_assert_str_eq(test->uri, "sqlite::memory:");
	cr_assert_eq(ro->read_only, 1);
	cr_assert_eq(dev->read_only, 0);
	role_config_free(dev);
	role_config_free(test);
	role_config_free(ro);
	config_free(cfg);
}

Test(config, state_dir_falls_back_to_xdg_state_home)
{
	char *env[] = { "XDG_STATE_HOME=/home/u/.local/state", "XDG_RUNTIME_DIR=/run/user/1000",
	    NULL };
	struct config *cfg = load_with(env, NULL);

	cr_assert_str_eq(cfg->daemon.state_dir, "/home/u/.local/state/dbmd");
	cr_assert_str_eq(cfg->daemon.socket, "/run/user/1000/dbmd.sock");
	config_free(cfg);
}

Test(config, production_without_uri_names_the_key_and_the_variable)
{
	struct config *cfg = load_with(NULL, NULL);
	struct cfg_errors errs;
	const struct cfg_error *e;

	cr_assert_eq(config_nerrors(cfg), 0, "an unconfigured production is not an error");
	TAILQ_INIT(&errs);
	cr_assert_null(config_resolve(cfg, "production", "primary", NULL, 0, &errs));
	e = find_error(&errs, CFG_E_MISSING, "production/primary");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "environments.production.roles.primary.uri"));
	cr_assert_not_null(strstr(e->msg, "DBMD_PRODUCTION_PRIMARY_URI"));
	config_errors_clear(&errs);
	config_free(cfg);
}

/* Variables and --set. */

Test(config, variable_names_split_into_environment_role_and_key)
{
	char *env[] = {
		"DBMD_PRODUCTION_READ_ONLY_POOL_SIZE=40",
		"DBMD_PRODUCTION_URI=postgresql://db/app",
		"DBMD_PRODUCTION_READ_ONLY_CACHE_MAX_BYTES=2M",
		"DBMD_STAGING_URI=sqlite:/srv/staging.db",
		"DBMD_SOCKET=/run/x/dbmd.sock",
		"DBMD_MAX_CLIENTS=99",
		"OTHER=ignored",
		NULL
	};
	struct config *cfg = load_with(env, NULL);
	struct role_config *ro, *st;

	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	ro = resolve(cfg, "production", "read_only");
	cr_assert_eq(ro->pool_size, 40);
	cr_assert_eq(ro->cache_max_bytes, 2 * 1024 * 1024);
	cr_assert_str_eq(ro->uri, "postgresql://db/app");
	st = resolve(cfg, "staging", "primary");
	cr_assert_not_null(st, "an environment made by variables has the role primary");
	cr_assert_str_eq(cfg->daemon.socket, "/run/x/dbmd.sock");
	cr_assert_eq(cfg->daemon.max_clients, 99);
	role_config_free(ro);
	role_config_free(st);
	config_free(cfg);
}

Test(config, no_key_variable_name_is_a_role_plus_another_key)
{
	const struct cfg_key *a, *b;

	for (a = cfg_keys; a->name != NULL; a++) {
		for (b = cfg_keys; b->name != NULL; b++) {
			size_t la = strlen(a->envname), lb = strlen(b->envname);

			if (a == b || a->scope != CFG_SCOPE_ROLE || b->scope != CFG_SCOPE_ROLE)
				continue;
			cr_assert(!(la > lb && a->envname[la - lb - 1] == '_' &&
			    strcmp(a->envname + la - lb, b->envname) == 0),
			    "%s ends in _%s: variable names would be ambiguous", a->envname,
			    b->envname);
		}
	}
}

Test(config, bad_variables_are_reported_by_name)
{
	char *env[] = {
		"DBMD_PRODUCTION_PRIMARY_POOLSIZE=4",
		"DBMD_PRODUCTION_PRIMARY_POOL_SIZE=many",
		"DBMD_NOPE=1",
		NULL
	};
	struct config *cfg = load_with(env, NULL);
	const struct cfg_error *e;

	e = find_error(&cfg->errors, CFG_E_VARIABLE, "DBMD_PRODUCTION_PRIMARY_POOLSIZE");
	cr_assert_not_null(e);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_TYPE,
	    "DBMD_PRODUCTION_PRIMARY_POOL_SIZE"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_VARIABLE, "DBMD_NOPE"));
	config_free(cfg);
}

Test(config, set_paths_for_daemon_environment_and_role)
{
	const char *sets[] = {
		"daemon.log_level=debug",
		"staging.uri=sqlite:/srv/s.db",
		"staging.cache.ttl=5s",
		"staging.read_only.pool_size=3",
		"staging.read_only=true",
		NULL
	};
	struct config *cfg = load_with(NULL, sets);
	struct role_config *p, *ro;

	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	cr_assert_eq(cfg->daemon.log_level, 7);
	p = resolve(cfg, "staging", "primary");
	ro = resolve(cfg, "staging", "read_only");
	cr_assert_eq(p->cache_ttl, 5000);
	cr_assert_eq(p->read_only, 1, "staging.read_only=true is the key for the environment");
	cr_assert_eq(ro->pool_size, 3);
	role_config_free(p);
	role_config_free(ro);
	config_free(cfg);
}

Test(config, bad_set_arguments_are_reported)
{
	const char *sets[] = { "production.primary.pool_size", "daemon.sockett=/x",
	    "production.primary.pool_sise=3", "Prod.uri=sqlite:/x", NULL };
	struct config *cfg = load_with(NULL, sets);
	const struct cfg_error *e;

	cr_assert_not_null(find_error(&cfg->errors, CFG_E_SYNTAX,
	    "--set production.primary.pool_size"));
	e = find_error(&cfg->errors, CFG_E_UNKNOWN_KEY, "--set daemon.sockett");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "did you mean socket"));
	e = find_error(&cfg->errors, CFG_E_UNKNOWN_KEY, "--set production.primary.pool_sise");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "did you mean pool_size"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_NAME, "--set Prod.uri"));
	config_free(cfg);
}

/* Validation: every class, each at its exact place. */

/*
 * Criterion hands parameters to a fresh process where pointers into the test binary do
 * not hold, so the cases carry their text inline.
 */
struct bad_case {
	char			name[32];
	char			yaml[256];
	enum cfg_errcode	code;
	char			where[32];	/* suffix of the location */
	char			needle[48];	/* in the message, or "" */
};

#define ENV_PRIMARY	"environments:\n  production:\n    roles:\n      primary:\n"

static const struct bad_case bad_cases[] = {
	{ "syntax", "environments:\n  production: [\n", CFG_E_SYNTAX, ":3:1", "" },
	{ "syntax_tab", "daemon:\n\tsocket: /x\n", CFG_E_SYNTAX, ":2:1", "" },
	{ "alias", "daemon: &d {socket: /x}\nenvironments: *d\n", CFG_E_STRUCTURE, ":1:9",
	  "anchors" },
	{ "tag", "daemon:\n  log_level: !!str info\n", CFG_E_STRUCTURE, ":2:14", "tags" },
	{ "two_documents", "daemon: {}\n---\ndaemon: {}\n", CFG_E_STRUCTURE, ":2:1",
	  "second YAML document" },
	{ "nesting", "environments: {a: {roles: {b: {cache: {x: [[[[[1]]]]]}}}}}\n",
	  CFG_E_STRUCTURE, ":1:45", "nested" },
	{ "duplicate", ENV_PRIMARY "        pool_size: 3\n        pool_size: 4\n",
	  CFG_E_DUPLICATE, ":6:9", "first at line 5" },
	{ "unknown_key", ENV_PRIMARY "        pool_sise: 3\n", CFG_E_UNKNOWN_KEY, ":5:9",
	  "did you mean pool_size" },
	{ "unknown_nested_key", ENV_PRIMARY "        cache:\n          siz: 3\n",
	  CFG_E_UNKNOWN_KEY, ":6:11", "did you mean cache.size" },
	{ "unknown_top_key", "production:\n  uri: sqlite:/x\n", CFG_E_UNKNOWN_KEY, ":1:1",
	  "environments:" },
	{ "quoted_int", ENV_PRIMARY "        pool_size: \"30\"\n", CFG_E_TYPE, ":5:20",
	  "quoted" },
	{ "quoted_bool", ENV_PRIMARY "        read_only: \"on\"\n", CFG_E_TYPE, ":5:20",
	  "quoted" },
	{ "word_for_int", ENV_PRIMARY "        pool_size: lots\n", CFG_E_TYPE, ":5:20", "" },
	{ "list_for_value", ENV_PRIMARY "        pool_size: [1]\n", CFG_E_TYPE, ":5:20",
	  "single value" },
	{ "value_for_list", ENV_PRIMARY "        overridable: pool_size\n", CFG_E_TYPE,
	  ":5:22", "list" },
	{ "null_value", ENV_PRIMARY "        pool_size:\n", CFG_E_MISSING, ":5:19", "no value" },
	{ "range_high", ENV_PRIMARY "        pool_size: 1001\n", CFG_E_RANGE, ":5:20",
	  "1..1000" },
	{ "range_low", ENV_PRIMARY "        pool_size: 0\n", CFG_E_RANGE, ":5:20", "" },
	{ "range_duration", ENV_PRIMARY "        connect_timeout: 1h\n", CFG_E_RANGE, ":5:26",
	  "10ms..10m" },
	{ "duration_unit", ENV_PRIMARY "        idle_timeout: 30\n", CFG_E_DURATION, ":5:23", "" },
	{ "duration_word", ENV_PRIMARY "        idle_timeout: 5 minutes\n", CFG_E_DURATION,
	  ":5:23", "" },
	{ "duration_sum_overflows", ENV_PRIMARY "        idle_timeout: 4000000000000000000ms"
	  "4000000000000000000ms4000000000000000000ms\n", CFG_E_DURATION, ":5:23", "" },
	{ "size", ENV_PRIMARY "        cache:\n          max_bytes: 12X\n", CFG_E_SIZE,
	  ":6:22", "" },
	{ "uri_scheme", ENV_PRIMARY "        uri: mysql://db/app\n", CFG_E_URI, ":5:14",
	  "unsupported scheme" },
	{ "uri_relative_sqlite", ENV_PRIMARY "        uri: sqlite:app.db\n", CFG_E_URI,
	  ":5:14", "absolute" },
	{ "uri_bad_postgres", ENV_PRIMARY "        uri: postgresql://db/app?colour=blue\n",
	  CFG_E_URI, ":5:14", "invalid PostgreSQL URI" },
	{ "env_name", "environments:\n  Prod_1:\n    uri: sqlite:/x\n", CFG_E_NAME, ":2:3", "" },
	{ "reserved_env_name", "environments:\n  daemon: {}\n", CFG_E_NAME, ":2:3",
	  "reserved" },
	{ "role_name", "environments:\n  p:\n    roles:\n      Primary: {}\n", CFG_E_NAME,
	  ":4:7", "" },
	{ "overridable_unknown", "environments:\n  p:\n    overridable: [pool_size, urri]\n",
	  CFG_E_UNKNOWN_KEY, ":3:30", "did you mean uri" },
	{ "overridable_itself", "environments:\n  p:\n    overridable: [overridable]\n",
	  CFG_E_CONFLICT, ":3:19", "" },
	{ "overridable_allow_users",
	  "environments:\n  p:\n    overridable: [pool_size, allow.users]\n",
	  CFG_E_CONFLICT, ":3:30", "allow.users" },
	{ "overridable_allow_groups", "environments:\n  p:\n    roles:\n      r:\n"
	  "        overridable:\n          - allow.groups\n", CFG_E_CONFLICT, ":6:13",
	  "allow.groups" },
	{ "bad_user", "environments:\n  p:\n    allow:\n      users: [\"a b\"]\n", CFG_E_TYPE,
	  ":4:15", "" },
	{ "conflict", "environments:\n  p:\n    uri: sqlite:/x\n    min_idle: 20\n"
	  "    pool_size: 5\n", CFG_E_CONFLICT, "p/primary", "min_idle" },
	{ "lag_fallback_word", ENV_PRIMARY "        lag_fallback: later\n", CFG_E_TYPE, ":5:23",
	  "is not one of wait, primary, fail" },
	{ "lag_fallback_primary_writable", "environments:\n  p:\n    uri: postgresql:///a\n"
	  "    lag_fallback: primary\n", CFG_E_CONFLICT, "p/primary", "read_only: true" },
	{ "replica_check_interval_range", ENV_PRIMARY "        replica_check_interval: 5ms\n",
	  CFG_E_RANGE, ":5:33", "" },
	{ "missing_uri", "environments:\n  p:\n    pool_size: 5\n", CFG_E_MISSING,
	  "p/primary", "DBMD_P_PRIMARY_URI" },
	{ "not_a_mapping", "environments:\n  p: [1, 2]\n", CFG_E_TYPE, ":2:6", "mapping" },
	{ "bad_mode", "daemon:\n  socket_mode: 0999\n", CFG_E_TYPE, ":2:16", "octal" },
	{ "bad_log_level", "daemon:\n  log_level: loud\n", CFG_E_TYPE, ":2:14", "" },
	{ "relative_socket", "daemon:\n  socket: dbmd.sock\n", CFG_E_TYPE, ":2:11",
	  "absolute" },
};

ParameterizedTestParameters(config, each_error_class_is_located)
{
	return cr_make_param_array(struct bad_case, bad_cases,
	    sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(const struct bad_case *c, config, each_error_class_is_located)
{
	struct config *cfg = load_yaml(c->yaml);
	const struct cfg_error *e = find_error(&cfg->errors, c->code, c->where);

	if (e == NULL)
		dump_errors(cfg);
	cr_assert_not_null(e, "%s: no %s error at %s", c->name, config_errname(c->code),
	    c->where);
	if (c->needle[0] != '\0')
		cr_assert_not_null(strstr(e->msg, c->needle), "%s: \"%s\" lacks \"%s\"", c->name,
		    e->msg, c->needle);
	config_free(cfg);
}

Test(config, all_problems_are_collected_not_just_the_first)
{
	struct config *cfg = load_yaml(
	    "daemon:\n"
	    "  log_level: loud\n"
	    "environments:\n"
	    "  production:\n"
	    "    roles:\n"
	    "      primary:\n"
	    "        uri: postgresql://db/app\n"
	    "        pool_size: 0\n"
	    "        idle_timeout: soon\n"
	    "        colour: blue\n");

	cr_assert_not_null(find_error(&cfg->errors, CFG_E_TYPE, ":2:14"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_RANGE, ":8:20"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_DURATION, ":9:23"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_UNKNOWN_KEY, ":10:9"));
	cr_assert_eq(config_nerrors(cfg), 4);
	config_free(cfg);
}

Test(config, values_are_typed_by_key_not_by_yaml)
{
	struct config *cfg = load_yaml(
	    ENV_PRIMARY
	    "        uri: \"sqlite:/srv/app.db\"\n"
	    "        read_only: yes\n"
	    "        statement_timeout: 1m30s\n"
	    "        cache: {max_bytes: 16MiB, ttl: 250ms}\n"
	    "daemon:\n"
	    "  socket_mode: 0660\n"
	    "  socket_group: \"123\"\n");
	struct role_config *rc;

	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, "production", "primary");
	cr_assert_eq(rc->read_only, 1);
	cr_assert_eq(rc->statement_timeout, 90000);
	cr_assert_eq(rc->cache_max_bytes, 16 * 1024 * 1024);
	cr_assert_eq(rc->cache_ttl, 250);
	cr_assert_eq(cfg->daemon.socket_mode, 0660);
	cr_assert_str_eq(cfg->daemon.socket_group, "123");
	role_config_free(rc);
	config_free(cfg);
}

/* Passwords. */

Test(config, group_readable_file_with_password_is_refused)
{
	struct config *cfg;

	free(put("dbmd.yaml", ENV_PRIMARY "        uri: postgresql://app:hunter22@db/app\n",
	    0640));
	cfg = load_with(NULL, NULL);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_PERMISSION, ":5:14"));
	config_free(cfg);
	free(put("dbmd.yaml", ENV_PRIMARY "        uri: postgresql://app:hunter22@db/app\n",
	    0600));
	cfg = load_with(NULL, NULL);
	cr_assert_eq(config_nerrors(cfg), 0, "mode 0600 is fine");
	config_free(cfg);
	free(put("dbmd.yaml", ENV_PRIMARY "        uri: postgresql://app@db/app\n", 0644));
	cfg = load_with(NULL, NULL);
	cr_assert_eq(config_nerrors(cfg), 0, "no password, any mode");
	config_free(cfg);
}

Test(config, redaction_masks_every_password)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "postgresql://app:hunter22@db/app", "postgresql://app:********@db/app" },
		{ "postgres://app@db/app?password=hunter22&sslmode=require",
		  "postgres://app@db/app?password=********&sslmode=require" },
		{ "postgresql://a:b%40c@h1:5432,h2:5433/app?target_session_attrs=read-write",
		  "postgresql://a:********@h1:5432,h2:5433/app?target_session_attrs=read-write" },
		{ "postgresql://db/app", "postgresql://db/app" },
		{ "sqlite:/srv/app.db", "sqlite:/srv/app.db" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = uri_redact(cases[i].in);

		cr_assert_str_eq(r, cases[i].out);
		free(r);
	}
	cr_assert(uri_has_password("postgresql://a:x@h/d"));
	cr_assert(uri_has_password("postgresql://h/d?password=x"));
	cr_assert(!uri_has_password("postgresql://a@h/d"));
}

Test(config, errors_and_resolution_never_show_a_password)
{
	char *env[] = {
		"DBMD_PRODUCTION_PRIMARY_URI=postgresql://app:hunter22@db:notaport/app",
		"DBMD_PRODUCTION_READ_ONLY_URI=postgresql://app@db/app?password=hunter22&x",
		"DBMD_STAGING_URI=postgres://app:hunter22@db/app",
		/* libpq quotes the whole URI in this error. */
		"DBMD_PRODUCTION_SECONDARY_URI=postgresql://app:hunter22@[db/app",
		NULL
	};
	struct config *cfg = load_with(env, NULL);
	struct role_config *rc;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	config_errors_print(&cfg->errors, fp);
	rc = resolve(cfg, "staging", "primary");
	cr_assert_not_null(rc);
	config_print_resolved(rc, fp);
	fclose(fp);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_URI, "DBMD_PRODUCTION_SECONDARY_URI"));
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_URI, "DBMD_PRODUCTION_READ_ONLY_URI"));
	cr_assert_not_null(strstr(buf, "postgres://app:********@db/app"));
	cr_assert_null(strstr(buf, "hunter22"), "password shown in:\n%s", buf);
	free(buf);
	role_config_free(rc);
	config_free(cfg);
}

/*
 * Every option libpq marks as secret (dispchar "*": password, sslpassword, ...) is
 * treated as the password is: masked wherever it is shown, a keyed digest in the
 * canonical form, and kept only in files no one else may read.
 */
Test(config, every_secret_libpq_option_is_masked)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "postgresql://app@db/app?sslpassword=keyphrase1&sslmode=require",
		  "postgresql://app@db/app?sslpassword=********&sslmode=require" },
		{ "postgresql://app:pw1@db/app?sslpassword=keyphrase1&password=pw2",
		  "postgresql://app:********@db/app?sslpassword=********&password=********" },
		/* libpq decodes parameter names: this is sslpassword too. */
		{ "postgresql://db/app?ssl%70assword=keyphrase1",
		  "postgresql://db/app?ssl%70assword=********" },
		{ "postgresql://db/app?password=a&password=b&password=c&password=d&password=e"
		  "&password=f&password=g&password=h&password=i&password=j",
		  "postgresql://db/app?password=********&password=********&password=********"
		  "&password=********&password=********&password=********&password=********"
		  "&password=********&password=********&password=********" },
		/* libpq's user-info runs to the '@': a '?' or '&' in the password is in it. */
		{ "postgresql://app:pa?ss&w@db/app?sslmode=require",
		  "postgresql://app:********@db/app?sslmode=require" },
		{ "postgresql://app:pa?ss@/app?host=/run/pg",
		  "postgresql://app:********@/app?host=/run/pg" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = uri_redact(cases[i].in);

		cr_assert_str_eq(r, cases[i].out);
		free(r);
	}
	cr_assert(uri_has_password("postgresql://h/d?sslpassword=x"));
	cr_assert(uri_has_password("postgresql://h/d?ssl%70assword=x"));
	cr_assert(!uri_has_password("postgresql://h/d?sslmode=require"));
	cr_assert(uri_has_password("postgresql://u:p?w@h/d"));
}

Test(config, secrets_are_digests_in_the_canonical_form)
{
	struct config *cfg = load_yaml(ENV_PRIMARY
	    "        uri: postgresql://app:pwsecret77@db/app?sslpassword=sslsecret99\n"
	    "      read_only:\n"
	    "        uri: postgresql://app:pwsecret77@db/app?sslpassword=sslsecret98\n");
	struct role_config *rc, *other;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, "production", "primary");
	other = resolve(cfg, "production", "read_only");
	cr_assert_not_null(rc);
	cr_assert_not_null(other);
	cr_assert_null(strstr(rc->canonical, "sslsecret99"), "%s", rc->canonical);
	cr_assert_null(strstr(rc->canonical, "pwsecret77"), "%s", rc->canonical);
	cr_assert_not_null(strstr(rc->canonical, "sslpassword-digest="), "%s", rc->canonical);
	cr_assert_not_null(strstr(rc->canonical, "password-digest="), "%s", rc->canonical);
	cr_assert_null(strstr(rc->target, "sslsecret99"), "%s", rc->target);
	cr_assert_neq(rc->hash, other->hash, "different key phrases, different pools");
	config_print_resolved(rc, fp);
	fclose(fp);
	cr_assert_null(strstr(buf, "sslsecret99"), "shown in:\n%s", buf);
	cr_assert_null(strstr(buf, "pwsecret77"), "shown in:\n%s", buf);
	free(buf);
	role_config_free(rc);
	role_config_free(other);
	config_free(cfg);
}

Test(config, group_readable_file_with_any_secret_is_refused)
{
	struct config *cfg;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	free(put("dbmd.yaml", ENV_PRIMARY
	    "        uri: postgresql://app@db/app?sslpassword=sslsecret99\n", 0640));
	cfg = load_with(NULL, NULL);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_PERMISSION, ":5:14"));
	config_free(cfg);
	/* libpq quotes a malformed value in its error: the secret is masked there too. */
	free(put("dbmd.yaml", ENV_PRIMARY
	    "        uri: postgresql://app@db/app?sslpassword=ssl%zzsecret99\n", 0600));
	cfg = load_with(NULL, NULL);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_URI, ":5:14"));
	fp = open_memstream(&buf, &len);
	config_errors_print(&cfg->errors, fp);
	fclose(fp);
	cr_assert_null(strstr(buf, "secret99"), "shown in:\n%s", buf);
	free(buf);
	config_free(cfg);
}

/*
 * Option values inside a PostgreSQL URI.  libpq's parser takes any value; libpq checks
 * them only when it connects, so dbmd checks them when it reads the configuration.
 */

struct uri_value_case {
	const char	*uri;
	const char	*msg;	/* the whole message uri_check gives */
};

static const struct uri_value_case bad_uri_values[] = {
	{ "postgresql://u@h/db?sslmode=bogus", "uri: sslmode: \"bogus\" is not one of "
	  "disable, allow, prefer, require, verify-ca, verify-full" },
	{ "postgresql://u@h/db?sslmode=REQUIRE", "uri: sslmode: \"REQUIRE\" is not one of "
	  "disable, allow, prefer, require, verify-ca, verify-full" },
	{ "postgresql://u@h/db?sslmode=", "uri: sslmode: \"\" is not one of "
	  "disable, allow, prefer, require, verify-ca, verify-full" },
	{ "postgresql://u@h/db?target_session_attrs=whatever", "uri: target_session_attrs: "
	  "\"whatever\" is not one of any, read-write, read-only, primary, standby, "
	  "prefer-standby" },
	{ "postgresql://u@h/db?gssencmode=maybe",
	  "uri: gssencmode: \"maybe\" is not one of disable, prefer, require" },
	{ "postgresql://u@h/db?channel_binding=on",
	  "uri: channel_binding: \"on\" is not one of disable, prefer, require" },
	{ "postgresql://u@h/db?ssl_min_protocol_version=TLSv1.4",
	  "uri: ssl_min_protocol_version: \"TLSv1.4\" is not one of TLSv1, TLSv1.1, TLSv1.2, "
	  "TLSv1.3" },
	{ "postgresql://u@h/db?ssl_max_protocol_version=tls1.3",
	  "uri: ssl_max_protocol_version: \"tls1.3\" is not one of TLSv1, TLSv1.1, TLSv1.2, "
	  "TLSv1.3" },
	{ "postgresql://u@h/db?ssl_min_protocol_version=TLSv1.3&ssl_max_protocol_version=TLSv1.2",
	  "uri: ssl_min_protocol_version TLSv1.3 is above ssl_max_protocol_version TLSv1.2" },
	{ "postgresql://u@h/db?connect_timeout=abc",
	  "uri: connect_timeout: expected an integer, got \"abc\"" },
	{ "postgresql://u@h/db?connect_timeout=",
	  "uri: connect_timeout: expected an integer, got \"\"" },
	{ "postgresql://u@h/db?connect_timeout=10s",
	  "uri: connect_timeout: expected an integer, got \"10s\"" },
	{ "postgresql://u@h/db?keepalives=yes",
	  "uri: keepalives: expected an integer, got \"yes\"" },
	{ "postgresql://u@h/db?keepalives_idle=1m",
	  "uri: keepalives_idle: expected an integer, got \"1m\"" },
	{ "postgresql://u@h/db?keepalives_interval=9999999999",
	  "uri: keepalives_interval: expected an integer, got \"9999999999\"" },
	{ "postgresql://u@h/db?keepalives_count=3x",
	  "uri: keepalives_count: expected an integer, got \"3x\"" },
	{ "postgresql://u@h/db?tcp_user_timeout=1.5",
	  "uri: tcp_user_timeout: expected an integer, got \"1.5\"" },
	{ "postgresql://u@h:0/db", "uri: port: 0 is out of range 1..65535" },
	{ "postgresql://u@h/db?port=65536", "uri: port: 65536 is out of range 1..65535" },
	{ "postgresql://u@h:pg/db", "uri: port: expected an integer, got \"pg\"" },
	{ "postgresql://u@h1:5432,h2:x/db", "uri: port: expected an integer, got \"x\"" },
	{ "postgresql://u@h1,h2/db?port=1,2,3",
	  "uri: port: 3 ports for 2 hosts; give one port for all hosts or one per host" },
	{ "postgresql://u@h/db?hostaddr=10.0.0.1,10.0.0.2",
	  "uri: hostaddr: 2 addresses for 1 host name; give one address per host name" },
	{ "postgresql://u@/db?host=a,b,c&hostaddr=10.0.0.1,10.0.0.2",
	  "uri: hostaddr: 2 addresses for 3 host names; give one address per host name" },
	{ "postgresql://u@/db?hostaddr=10.0.0.1&port=1,2",
	  "uri: port: 2 ports for 1 host; give one port for all hosts or one per host" },
	{ "postgresql://u@h/db?replication=maybe", "uri: replication: \"maybe\" is not one of "
	  "database, true, false, on, off, yes, no, 1, 0" },
	{ "postgresql://u@h/db?replication=o", "uri: replication: \"o\" is not one of "
	  "database, true, false, on, off, yes, no, 1, 0" },
};

Test(config, libpq_option_values_are_checked_with_what_is_allowed)
{
	struct cfg_errors errs;
	const struct cfg_error *e;
	enum backend_kind kind;
	char *target;
	size_t i;

	for (i = 0; i < sizeof(bad_uri_values) / sizeof(bad_uri_values[0]); i++) {
		TAILQ_INIT(&errs);
		target = NULL;
		cr_assert_eq(uri_check(bad_uri_values[i].uri, &kind, &target, &errs, "here",
		    "uri"), -1, "%s is taken", bad_uri_values[i].uri);
		cr_assert_null(target);
		e = TAILQ_FIRST(&errs);
		cr_assert_not_null(e);
		cr_assert_eq(e->code, CFG_E_URI);
		cr_assert_str_eq(e->where, "here");
		cr_assert_str_eq(e->msg, bad_uri_values[i].msg, "for %s", bad_uri_values[i].uri);
		cr_assert_null(TAILQ_NEXT(e, entry), "one error for %s", bad_uri_values[i].uri);
		config_errors_clear(&errs);
	}
}

/* Every value libpq 15 accepts still passes: the check is no stricter than libpq. */
Test(config, libpq_option_values_libpq_accepts_pass)
{
	static const char *const good[] = {
		"postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=allow",
		"postgresql://u@h/db?sslmode=prefer", "postgresql://u@h/db?sslmode=require",
		"postgresql://u@h/db?sslmode=verify-ca", "postgresql://u@h/db?sslmode=verify-full",
		"postgresql://u@h/db?gssencmode=disable&channel_binding=require",
		"postgresql://u@h/db?gssencmode=prefer&channel_binding=prefer",
		"postgresql://u@h/db?gssencmode=require&channel_binding=disable",
		"postgresql://u@h/db?target_session_attrs=any",
		"postgresql://u@h/db?target_session_attrs=read-write",
		"postgresql://u@h/db?target_session_attrs=read-only",
		"postgresql://u@h/db?target_session_attrs=primary",
		"postgresql://u@h/db?target_session_attrs=standby",
		"postgresql://u@h/db?target_session_attrs=prefer-standby",
		/* TLS versions in any case; empty means libpq's default. */
		"postgresql://u@h/db?ssl_min_protocol_version=tlsv1.2&ssl_max_protocol_version=TLSV1.3",
		"postgresql://u@h/db?ssl_min_protocol_version=TLSv1&ssl_max_protocol_version=TLSv1",
		"postgresql://u@h/db?ssl_min_protocol_version=&ssl_max_protocol_version=TLSv1.1",
		"postgresql://u@h/db?ssl_max_protocol_version=TLSv1.3",
		"postgresql://u@h/db?ssl_max_protocol_version=",
		/* libpq's integers: blanks around them, any sign. */
		"postgresql://u@h/db?connect_timeout=%2010%20&keepalives=0&keepalives_idle=30"
		"&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=0",
		"postgresql://u@h/db?connect_timeout=-1",
		"postgresql://u@h:65535/db", "postgresql://u@h:/db", "postgresql://u@h/db?port=",
		"postgresql://u@h1:5432,h2/db", "postgresql://u@h1,h2,h3/db?port=5432",
		"postgresql://u@h1,h2/db?port=5432,5433", "postgresql:///db?host=/run/pg&port=5433",
		"postgresql://u@a,b/db?hostaddr=10.0.0.1,10.0.0.2&port=1,2",
		"postgresql://u@/db?hostaddr=10.0.0.1,10.0.0.2&port=1,2",
		"postgresql://u@h/db?replication=database", "postgresql://u@h/db?replication=true",
		"postgresql://u@h/db?replication=OFF", "postgresql://u@h/db?replication=y",
		"postgresql://u@h/db?replication=0", "postgresql://u@h/db?replication=",
		/* Options libpq reads without checking keep taking anything. */
		"postgresql://u@h/db?sslsni=maybe&sslcompression=x&application_name=a%20b",
	};
	struct cfg_errors errs;
	enum backend_kind kind;
	char *target;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		TAILQ_INIT(&errs);
		target = NULL;
		if (uri_check(good[i], &kind, &target, &errs, "here", "uri") == -1)
			config_errors_print(&errs, stderr);
		cr_assert_not_null(target, "%s is refused", good[i]);
		cr_assert_eq(kind, BACKEND_POSTGRES);
		free(target);
		config_errors_clear(&errs);
	}
}

/* Each bad value is its own error, located where the URI was set, password hidden. */
Test(config, libpq_option_errors_are_located_and_all_reported)
{
	const char *sets[] = {
	    "staging.primary.uri=postgresql://u@h/db?connect_timeout=abc", NULL };
	char *env[] = {
	    "DBMD_QA_URI=postgresql://u:hunter22@h/db?target_session_attrs=whatever", NULL };
	struct config *cfg;
	const struct cfg_error *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	free(put("dbmd.yaml", ENV_PRIMARY
	    "        uri: postgresql://u:hunter22@h/db?sslmode=bogus&port=0&keepalives=on\n",
	    0600));
	cfg = load_with(env, sets);
	e = find_error(&cfg->errors, CFG_E_URI, ":5:14");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "sslmode"), "%s", e->msg);
	e = TAILQ_NEXT(e, entry);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->msg, "uri: keepalives: expected an integer, got \"on\"");
	e = TAILQ_NEXT(e, entry);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->msg, "uri: port: 0 is out of range 1..65535");
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_URI, "DBMD_QA_URI"));
	e = find_error(&cfg->errors, CFG_E_URI, "--set staging.primary.uri");
	if (e == NULL)
		dump_errors(cfg);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->msg, "uri: connect_timeout: expected an integer, got \"abc\"");
	/* production/primary is then left without a URI: that is a sixth error. */
	cr_assert_eq(config_nerrors(cfg), 6);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_MISSING, "production/primary"));
	fp = open_memstream(&buf, &len);
	config_errors_print(&cfg->errors, fp);
	fclose(fp);
	cr_assert_null(strstr(buf, "hunter22"), "password shown in:\n%s", buf);
	free(buf);
	config_free(cfg);
}

/* Overrides. */

/* No source can let a client widen who may open: allow.* is never overridable. */
Test(config, allow_lists_can_never_be_listed_as_overridable)
{
	const char *sets[] = { "test.overridable=pool_size,allow.users", NULL };
	const char *env_sets[] = { "test.overridable=allow.groups", NULL };
	char *env[] = { "DBMD_QA_OVERRIDABLE=allow.users", NULL };
	struct config *cfg = load_with(NULL, sets);
	const struct cfg_error *e;

	e = find_error(&cfg->errors, CFG_E_CONFLICT, "--set test.overridable");
	if (e == NULL)
		dump_errors(cfg);
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "allow.users"), "%s", e->msg);
	config_free(cfg);
	cfg = load_with(NULL, env_sets);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_CONFLICT, "--set test.overridable"));
	config_free(cfg);
	cfg = load_with(env, NULL);
	cr_assert_not_null(find_error(&cfg->errors, CFG_E_CONFLICT, "DBMD_QA_OVERRIDABLE"));
	config_free(cfg);
}

Test(config, overrides_outside_the_permitted_list_are_refused)
{
	const char *sets[] = { "test.overridable=pool_size", NULL };
	struct cfg_override bad[] = { { "uri", "sqlite:/tmp/other.db" } };
	struct cfg_override unknown[] = { { "pool_sise", "3" } };
	struct cfg_override never[] = { { "overridable", "uri" } };
	struct cfg_override self_allow[] = { { "allow.users", "nobody" } };
	struct config *cfg = load_with(NULL, sets);
	struct cfg_errors errs;
	const struct cfg_error *e;

	TAILQ_INIT(&errs);
	cr_assert_null(config_resolve(cfg, "test", "primary", bad, 1, &errs));
	e = find_error(&errs, CFG_E_NOT_OVERRIDABLE, "override uri");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "test"));
	cr_assert_null(config_resolve(cfg, "test", "primary", unknown, 1, &errs));
	cr_assert_not_null(find_error(&errs, CFG_E_UNKNOWN_KEY, "override pool_sise"));
	cr_assert_null(config_resolve(cfg, "test", "primary", never, 1, &errs));
	cr_assert_not_null(find_error(&errs, CFG_E_NOT_OVERRIDABLE, "override overridable"));
	cr_assert_null(config_resolve(cfg, "test", "primary", self_allow, 1, &errs));
	cr_assert_not_null(find_error(&errs, CFG_E_NOT_OVERRIDABLE, "override allow.users"));
	cr_assert_null(config_resolve(cfg, "development", "primary",
	    (struct cfg_override[]){ { "pool_size", "2" } }, 1, &errs),
	    "development permits nothing by default");
	config_errors_clear(&errs);
	config_free(cfg);
}

Test(config, override_values_are_validated)
{
	const char *sets[] = { "test.overridable=pool_size", NULL };
	struct cfg_override ov[] = { { "pool_size", "5000" } };
	struct config *cfg = load_with(NULL, sets);
	struct cfg_errors errs;

	TAILQ_INIT(&errs);
	cr_assert_null(config_resolve(cfg, "test", "primary", ov, 1, &errs));
	cr_assert_not_null(find_error(&errs, CFG_E_RANGE, "override pool_size"));
	config_errors_clear(&errs);
	config_free(cfg);
}

Test(config, unknown_environment_and_role_are_specific_errors)
{
	struct config *cfg = load_with(NULL, NULL);
	struct cfg_errors errs;
	const struct cfg_error *e;

	TAILQ_INIT(&errs);
	cr_assert_null(config_resolve(cfg, "staging", "primary", NULL, 0, &errs));
	e = find_error(&errs, CFG_E_UNKNOWN_ENV, "staging/primary");
	cr_assert_not_null(e);
	cr_assert_not_null(strstr(e->msg, "development, test, production"));
	cr_assert_null(config_resolve(cfg, "development", "reports", NULL, 0, &errs));
	cr_assert_not_null(find_error(&errs, CFG_E_UNKNOWN_ROLE, "development/reports"));
	config_errors_clear(&errs);
	config_free(cfg);
}

/* The hash. */

static uint64_t
hash_of(const char *yaml, const char *env, const char *role, char **canonical)
{
	struct config *cfg = load_yaml(yaml);
	struct role_config *rc;
	uint64_t h;

	dump_errors(cfg);
	cr_assert_eq(config_nerrors(cfg), 0);
	rc = resolve(cfg, env, role);
	cr_assert_not_null(rc);
	h = rc->hash;
	if (canonical != NULL)
		*canonical = xstrdup(rc->canonical);
	role_config_free(rc);
	config_free(cfg);
	return h;
}

Test(config, names_that_resolve_alike_share_a_hash)
{
	struct config *cfg = load_yaml(
	    "environments:\n"
	    "  staging:\n"
	    "    uri: postgresql://db/app\n"
	    "    roles:\n"
	    "      primary: {}\n"
	    "      reports: {}\n"
	    "  qa:\n"
	    "    roles:\n"
	    "      main: {uri: postgres://db/app}\n");
	struct role_config *a = resolve(cfg, "staging", "primary");
	struct role_config *b = resolve(cfg, "staging", "reports");
	struct role_config *c = resolve(cfg, "qa", "main");

	cr_assert(role_config_equal(a, b));
	cr_assert(role_config_equal(a, c), "postgres:// and postgresql:// are one scheme");
	cr_assert_eq(a->hash, c->hash);
	role_config_free(a);
	role_config_free(b);
	role_config_free(c);
	config_free(cfg);
}

Test(config, key_order_and_explicit_defaults_do_not_change_the_hash)
{
	char *c1, *c2, *c3;
	uint64_t h1 = hash_of(ENV_PRIMARY
	    "        uri: postgresql://db/app?sslmode=require&application_name=x\n"
	    "        pool_size: 10\n"
	    "        cache: {size: 200, ttl: 60s}\n", "production", "primary", &c1);
	uint64_t h2 = hash_of(ENV_PRIMARY
	    "        cache: {ttl: 1m, size: 200}\n"
	    "        uri: postgresql://db/app?application_name=x&sslmode=require\n",
	    "production", "primary", &c2);
	uint64_t h3 = hash_of(ENV_PRIMARY
	    "        uri: postgresql://db/app?application_name=x&sslmode=require\n"
	    "        idle_timeout: 600s\n"
	    "        max_lifetime: 60m\n"
	    "        statement_timeout: 5m\n", "production", "primary", &c3);

	cr_assert_str_eq(c1, c2);
	cr_assert_str_eq(c1, c3);
	cr_assert_eq(h1, h2);
	cr_assert_eq(h1, h3);
	free(c1);
	free(c2);
	free(c3);
}

Test(config, access_lists_are_not_part_of_the_hash)
{
	uint64_t h1 = hash_of(ENV_PRIMARY "        uri: sqlite:/srv/a.db\n", "production",
	    "primary", NULL);
	uint64_t h2 = hash_of(ENV_PRIMARY "        uri: sqlite:/srv/a.db\n"
	    "        allow: {users: [app]}\n        overridable: [pool_size]\n", "production",
	    "primary", NULL);

	cr_assert_eq(h1, h2);
}

Test(config, every_pool_defining_difference_changes_the_hash)
{
	static const char *const variants[] = {
		"uri: sqlite:/srv/b.db",
		"uri: postgresql://db/app",
		"pool_size: 11",
		"min_idle: 1",
		"connect_timeout: 6s",
		"acquire_timeout: 11s",
		"idle_timeout: 11m",
		"max_lifetime: 2h",
		"statement_timeout: 1s",
		"idle_in_transaction_timeout: 61s",
		"stall_timeout: 61s",
		"session_reset: false",
		"max_value_size: 17M",
		"read_only: true",
		"pool_mode: session",
		"max_replica_lag: 2s",
		"lag_fallback: fail",
		"read_your_writes: true",
		"read_your_writes_timeout: 2s",
		"replica_check_interval: 2s",
		"cache: {size: 201}",
		"cache: {ttl: 61s}",
		"cache: {max_bytes: 65M}",
		"cache: {max_result_bytes: 2M}",
	};
	const struct cfg_key *k;
	size_t i, j, npool = 0;
	uint64_t base, h[sizeof(variants) / sizeof(variants[0])];
	char *yaml;

	for (k = cfg_keys; k->name != NULL; k++)
		npool += (k->flags & CFG_K_POOL) != 0;
	cr_assert_eq(npool + 1, sizeof(variants) / sizeof(variants[0]),
	    "a variant for every pool-defining key (two for uri)");
	base = hash_of(ENV_PRIMARY "        uri: sqlite:/srv/a.db\n", "production", "primary",
	    NULL);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		if (strncmp(variants[i], "uri:", 4) == 0)
			yaml = xasprintf(ENV_PRIMARY "        %s\n", variants[i]);
		else
			yaml = xasprintf(ENV_PRIMARY "        uri: sqlite:/srv/a.db\n        %s\n",
			    variants[i]);
		h[i] = hash_of(yaml, "production", "primary", NULL);
		free(yaml);
		cr_assert_neq(h[i], base, "%s did not change the hash", variants[i]);
		for (j = 0; j < i; j++)
			cr_assert_neq(h[i], h[j], "%s and %s hash alike", variants[i], variants[j]);
	}
}

Test(config, equality_is_decided_by_the_canonical_form_not_the_hash)
{
	struct config *cfg = load_yaml(ENV_PRIMARY "        uri: sqlite:/srv/a.db\n");
	struct role_config *a = resolve(cfg, "production", "primary");
	struct role_config *b = resolve(cfg, "production", "primary");

	cr_assert(role_config_equal(a, b));
	free(b->canonical);
	b->canonical = xstrdup("backend=sqlite\ntarget=/srv/other.db\n");	/* same hash */
	cr_assert(!role_config_equal(a, b), "a hash collision must not make two pools one");
	role_config_free(a);
	role_config_free(b);
	config_free(cfg);
}

Test(config, hash_is_stable_across_runs)
{
	/* The hash is shown to operators and compared across reloads: it must not move. */
	cr_assert_eq(hash64("", 0), 0xcbf29ce484222325ULL);
	cr_assert_eq(hash64("a", 1), 0xaf63dc4c8601ec8cULL);
}

Test(config, canonical_form_holds_no_password_but_tells_passwords_apart)
{
	char *c1, *c2, *c3;
	uint64_t h1 = hash_of(ENV_PRIMARY "        uri: postgresql://app:hunter22@db/app\n",
	    "production", "primary", &c1);
	uint64_t h2 = hash_of(ENV_PRIMARY "        uri: postgres://db/app?user=app&password=hunter22\n",
	    "production", "primary", &c2);
	uint64_t h3 = hash_of(ENV_PRIMARY "        uri: postgresql://app:hunter23@db/app\n",
	    "production", "primary", &c3);

	cr_assert_null(strstr(c1, "hunter22"), "%s", c1);
	cr_assert_null(strstr(c3, "hunter23"), "%s", c3);
	cr_assert_eq(h1, h2, "the same password, written two ways");
	cr_assert_neq(h1, h3, "a changed password is a different pool");
	free(c1);
	free(c2);
	free(c3);
}

Test(config, each_environment_has_its_own_memory_database_and_its_roles_share_it)
{
	struct config *cfg = load_yaml(
	    "environments:\n"
	    "  open:\n"
	    "    uri: \"sqlite::memory:\"\n"
	    "    roles: {primary: {}, reader: {}}\n"
	    "  secret:\n"
	    "    uri: \"sqlite::memory:\"\n");
	struct role_config *a = resolve(cfg, "open", "primary");
	struct role_config *b = resolve(cfg, "open", "reader");
	struct role_config *c = resolve(cfg, "secret", "primary");

	cr_assert(role_config_equal(a, b), "the roles of one environment share its database");
	cr_assert_not(role_config_equal(a, c), "two environments never share one");
	cr_assert_str_neq(a->target, c->target);
	role_config_free(a);
	role_config_free(b);
	role_config_free(c);
	config_free(cfg);
}
