/* test_factory.c: the factory and instance cache, with a fake backend and a fake cache. */

#include <criterion/criterion.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "dbmd.h"
#include "proto.h"

/* What the fakes were asked to do. */
static struct {
	int	pool_inits, pool_finis, fail_init;
	int	cache_creates, cache_destroys, fail_cache;
	int	live_pools, live_caches;	/* built and not yet freed */
} calls;

static int
fake_pool_init(struct pool *p, char *err, size_t len)
{
	(void)p;
	calls.pool_inits++;
	if (calls.fail_init) {
		snprintf(err, len, "the fake backend refuses");
		return -1;
	}
	calls.live_pools++;
	return 0;
}

static void
fake_pool_fini(struct pool *p)
{
	(void)p;
	calls.pool_finis++;
	calls.live_pools--;
}

/* The factory never opens connections itself: these must not be reached. */
static void
fake_conn(struct conn *c)
{
	(void)c;
	cr_assert_fail("the factory opened, ran or closed a connection");
}

static int
fake_open(struct conn *c)
{
	fake_conn(c);
	return -1;
}

static void
fake_exec(struct conn *c, struct request *r)
{
	(void)c, (void)r;
	cr_assert_fail("the factory ran a request");
}

static const struct backend_ops fake_backend = {
	.name = "fake",
	.pool_init = fake_pool_init,
	.pool_fini = fake_pool_fini,
	.conn_open = fake_open,
	.conn_exec = fake_exec,
	.conn_resume = fake_conn,
	.conn_cancel = fake_conn,
	.conn_close = fake_conn,
	.conn_abort = fake_conn,
};

static int fake_cache_token;

static void *
fake_cache_create(const struct role_config *rc)
{
	(void)rc;
	calls.cache_creates++;
	if (calls.fail_cache)
		return NULL;
	calls.live_caches++;
	return &fake_cache_token;
}

static void
fake_cache_destroy(void *c)
{
	cr_assert_eq(c, &fake_cache_token);
	calls.cache_destroys++;
	calls.live_caches--;
}

static void
fake_cache_flush(void *c)
{
	(void)c;
}

static int
fake_cache_lookup(void *c, const void *k, size_t kl, int64_t age, const uint8_t **f, size_t *l)
{
	(void)c, (void)k, (void)kl, (void)age, (void)f, (void)l;
	return 0;
}

static int
fake_cache_store(void *c, const void *k, size_t kl, const uint8_t *f, size_t l,
    const char *const *t, size_t nt, bool all)
{
	(void)c, (void)k, (void)kl, (void)f, (void)l, (void)t, (void)nt, (void)all;
	return 0;
}

static void
fake_cache_invalidate(void *c, const char *const *t, size_t nt)
{
	(void)c, (void)t, (void)nt;
}

static void
fake_cache_count(void *c, int state)
{
	(void)c, (void)state;
}

static uint64_t
fake_cache_generation(void *c)
{
	(void)c;
	return 0;
}

static void
fake_cache_stats(void *c, struct cache_stats *st)
{
	(void)c;
	memset(st, 0, sizeof(*st));
}

static const struct cache_ops fake_cache = {
	.name = "fake",
	.create = fake_cache_create,
	.lookup = fake_cache_lookup,
	.store = fake_cache_store,
	.invalidate = fake_cache_invalidate,
	.flush = fake_cache_flush,
	.generation = fake_cache_generation,
	.count = fake_cache_count,
	.stats = fake_cache_stats,
	.destroy = fake_cache_destroy,
};

static struct config *cfg;
static struct factory *f;

static void
setup_with(const char *const *sets)
{
	char *env[] = { NULL };
	struct config_inputs in = { .config_file = "/nonexistent/dbmd.yaml", .environ = env,
	    .sets = sets, .uid = 1000 };

	memset(&calls, 0, sizeof(calls));
	log_init(LOG_WARNING);
	cfg = config_load(&in);
	/* The only error allowed is the missing file, which makes the test hermetic. */
	cr_assert_eq(config_nerrors(cfg), 1);
	config_errors_clear(&cfg->errors);
	f = factory_new(NULL, &fake_backend, &fake_backend, &fake_cache);
}

static void
setup(void)
{
	static const char *const sets[] = {
		"staging.uri=sqlite:/tmp/dbmd-1000/development.db",
		"test.overridable=pool_size,statement_timeout",
		NULL
	};

	setup_with(sets);
}

static void
teardown(void)
{
	factory_free(f);
	config_free(cfg);
	cr_assert_eq(calls.live_pools, 0, "backend state leaked or freed twice");
	cr_assert_eq(calls.live_caches, 0, "a cache leaked or was destroyed twice");
}

TestSuite(factory, .init = setup, .fini = teardown, .timeout = 10);

static struct pool *
open_ok(const char *env, const char *role, const struct cfg_override *ov, size_t nov)
{
	struct pool *p;
	char *msg = NULL;
	int code = 0;

	p = factory_open(f, cfg, env, role, ov, nov, NULL, &code, &msg);
	cr_assert_not_null(p, "open %s/%s: %s", env, role, msg ? msg : "");
	return p;
}

static int
open_fails(const char *env, const char *role, const struct cfg_override *ov, size_t nov,
    char **msgp)
{
	char *msg = NULL;
	int code = 0;

	cr_assert_null(factory_open(f, cfg, env, role, ov, nov, NULL, &code, &msg));
	cr_assert_not_null(msg);
	if (msgp != NULL)
		*msgp = msg;
	else
		free(msg);
	return code;
}

/* Releases every handle and disposes every pool, checking each is freed once. */
static void
release_all(void)
{
	struct pool *p, *next;

	for (p = TAILQ_FIRST(&f->pools); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		while (p->nhandles > 1)
			factory_release(f, p);
		factory_release(f, p);
	}
	factory_dispose_all(f, "test over");
	cr_assert_eq(f->npools, 0);
	factory_collect(f);
	cr_assert(TAILQ_EMPTY(&f->pools), "a gone pool was not collected");
}

Test(factory, first_open_creates_a_pool)
{
	struct pool *p = open_ok("development", "primary", NULL, 0);

	cr_assert_eq(calls.pool_inits, 1);
	cr_assert_eq(calls.cache_creates, 1);
	cr_assert_eq(f->npools, 1);
	cr_assert_eq(p->nhandles, 1);
	cr_assert_str_eq(p->label, "development/primary");
	cr_assert_not(p->from_override);
	release_all();
}

Test(factory, same_settings_reuse_the_pool)
{
	struct pool *a = open_ok("development", "primary", NULL, 0);
	struct pool *b = open_ok("development", "primary", NULL, 0);

	cr_assert_eq(a, b);
	cr_assert_eq(calls.pool_inits, 1);
	cr_assert_eq(calls.cache_creates, 1);
	cr_assert_eq(a->nhandles, 2);
	release_all();
}

Test(factory, different_settings_create_another_pool)
{
	struct pool *a = open_ok("development", "primary", NULL, 0);
	struct pool *b = open_ok("development", "read_only", NULL, 0);
	struct pool *c = open_ok("test", "primary", NULL, 0);

	cr_assert_neq(a, b);
	cr_assert_neq(a, c);
	cr_assert_neq(b, c);
	cr_assert_eq(f->npools, 3);
	cr_assert_eq(calls.pool_inits, 3);
	release_all();
}

Test(factory, two_names_that_resolve_alike_share_one_pool)
{
	struct pool *a = open_ok("development", "primary", NULL, 0);
	struct pool *b = open_ok("staging", "primary", NULL, 0);

	cr_assert_eq(a, b, "staging has development's settings exactly");
	cr_assert_eq(calls.pool_inits, 1);
	cr_assert_str_eq(a->label, "development/primary, staging/primary");
	cr_assert_eq(a->nhandles, 2);
	release_all();
}

/*
 * A name opened again resolves under the configuration it is opened with: another
 * configuration (a reload) with other settings for it gives another pool, and going
 * back gives the first one again.
 */
Test(factory, a_name_resolves_under_the_configuration_it_is_opened_with)
{
	static const char *const sets2[] = { "development.pool_size=3", NULL };
	char *env[] = { NULL };
	struct config_inputs in = { .config_file = "/nonexistent/dbmd.yaml", .environ = env,
	    .sets = sets2, .uid = 1000 };
	struct config *first = cfg, *second = config_load(&in);
	struct pool *a, *b;

	a = open_ok("development", "primary", NULL, 0);
	cr_assert_eq(open_ok("development", "primary", NULL, 0), a);
	cfg = second;
	b = open_ok("development", "primary", NULL, 0);
	cr_assert_neq(a, b, "opened under a configuration with pool_size 3, the old pool");
	cr_assert_eq(b->rc->pool_size, 3);
	cr_assert_eq(open_ok("development", "primary", NULL, 0), b);
	cfg = first;
	cr_assert_eq(open_ok("development", "primary", NULL, 0), a);
	cr_assert_eq(a->nhandles, 3);
	cr_assert_eq(b->nhandles, 2);
	release_all();
	config_free(second);
}

Test(factory, overrides_outside_the_permitted_list_are_refused)
{
	struct cfg_override uri[] = { { "uri", "sqlite:/tmp/elsewhere.db" } };
	struct cfg_override size[] = { { "pool_size", "3" } };
	char *msg;

	cr_assert_eq(open_fails("test", "primary", uri, 1, &msg), PROTO_E_NOT_OVERRIDABLE);
	cr_assert_not_null(strstr(msg, "uri"), "%s", msg);
	free(msg);
	cr_assert_eq(open_fails("development", "primary", size, 1, NULL),
	    PROTO_E_NOT_OVERRIDABLE, "development permits no overrides");
	cr_assert_eq(calls.pool_inits, 0, "nothing is built for a refused open");
	cr_assert_eq(calls.cache_creates, 0);
	cr_assert_eq(f->npools, 0);
}

Test(factory, permitted_override_makes_a_pool_that_goes_with_its_last_handle)
{
	struct cfg_override ov[] = { { "pool_size", "3" } };
	struct pool *base = open_ok("test", "primary", NULL, 0);
	struct pool *p = open_ok("test", "primary", ov, 1);
	struct pool *q = open_ok("test", "primary", ov, 1);

	cr_assert_neq(p, base);
	cr_assert_eq(p, q, "the same overrides share the override pool");
	cr_assert(p->from_override);
	cr_assert_eq(p->rc->pool_size, 3);
	factory_release(f, q);
	cr_assert_eq(calls.pool_finis, 0);
	factory_release(f, p);
	cr_assert_eq(calls.pool_finis, 0, "freed inside the release that made it go");
	factory_collect(f);
	cr_assert_eq(calls.pool_finis, 1, "disposed with its last handle");
	cr_assert_eq(calls.cache_destroys, 1);
	cr_assert_eq(f->npools, 1);
	release_all();
}

Test(factory, override_equal_to_a_configured_pool_shares_it)
{
	struct cfg_override ov[] = { { "pool_size", "10" } };	/* the default */
	struct pool *a = open_ok("test", "primary", NULL, 0);
	struct pool *b = open_ok("test", "primary", ov, 1);

	cr_assert_eq(a, b);
	cr_assert_not(a->from_override);
	release_all();
}

Test(factory, configured_pool_stays_warm_after_its_last_handle)
{
	struct pool *p = open_ok("development", "primary", NULL, 0);

	factory_release(f, p);
	cr_assert_eq(f->npools, 1);
	cr_assert_eq(calls.pool_finis, 0);
	cr_assert_eq(open_ok("development", "primary", NULL, 0), p);
	cr_assert_eq(calls.pool_inits, 1);
	release_all();
}

Test(factory, backend_failure_leaves_nothing_half_built)
{
	char *msg;

	calls.fail_init = 1;
	cr_assert_eq(open_fails("development", "primary", NULL, 0, &msg), PROTO_E_BACKEND);
	cr_assert_not_null(strstr(msg, "the fake backend refuses"), "%s", msg);
	cr_assert_not_null(strstr(msg, "development/primary"), "%s", msg);
	free(msg);
	cr_assert_eq(calls.cache_creates, 1);
	cr_assert_eq(calls.cache_destroys, 1, "the cache built first is destroyed");
	cr_assert_eq(calls.pool_finis, 0, "a backend that refused is not finalised");
	cr_assert_eq(f->npools, 0);
}

Test(factory, cache_constructor_failure_leaves_nothing_half_built)
{
	calls.fail_cache = 1;
	cr_assert_eq(open_fails("development", "primary", NULL, 0, NULL), PROTO_E_BACKEND);
	cr_assert_eq(calls.pool_inits, 0, "no backend state is made without a cache");
	cr_assert_eq(calls.cache_destroys, 0);
	cr_assert_eq(f->npools, 0);
	calls.fail_cache = 0;
	open_ok("development", "primary", NULL, 0);
	release_all();
}

Test(factory, disposal_frees_what_was_built_exactly_once)
{
	open_ok("development", "primary", NULL, 0);
	open_ok("development", "read_only", NULL, 0);
	open_ok("test", "primary", NULL, 0);
	release_all();
	cr_assert_eq(calls.pool_finis, 3);
	cr_assert_eq(calls.cache_destroys, 3);
	factory_dispose_all(f, "again");
	factory_collect(f);
	cr_assert_eq(calls.pool_finis, 3, "disposing twice frees nothing twice");
}

Test(factory, factory_free_disposes_pools_left_warm)
{
	struct pool *p = open_ok("development", "primary", NULL, 0);

	factory_release(f, p);
	factory_free(f);
	f = NULL;
	cr_assert_eq(calls.pool_finis, 1);
	cr_assert_eq(calls.cache_destroys, 1);
}

Test(factory, unknown_names_and_bad_configuration_are_specific)
{
	struct cfg_override bad[] = { { "pool_size", "5000" } };
	char *msg;

	cr_assert_eq(open_fails("staging2", "primary", NULL, 0, NULL), PROTO_E_UNKNOWN_ENV);
	cr_assert_eq(open_fails("development", "reports", NULL, 0, NULL), PROTO_E_UNKNOWN_ROLE);
	cr_assert_eq(open_fails("test", "primary", bad, 1, &msg), PROTO_E_CONFIG);
	cr_assert_not_null(strstr(msg, "out of range"), "%s", msg);
	free(msg);
	cr_assert_eq(open_fails("production", "primary", NULL, 0, &msg), PROTO_E_CONFIG);
	cr_assert_not_null(strstr(msg, "DBMD_PRODUCTION_PRIMARY_URI"), "%s", msg);
	free(msg);
	cr_assert_eq(calls.pool_inits, 0);
}

Test(factory, pools_made_by_overrides_are_capped)
{
	struct cfg_override a[] = { { "pool_size", "3" } };
	struct cfg_override b[] = { { "pool_size", "4" } };

	f->max_override_pools = 1;
	open_ok("test", "primary", a, 1);
	cr_assert_eq(open_fails("test", "primary", b, 1, NULL), PROTO_E_LIMIT);
	open_ok("test", "primary", a, 1);	/* an existing one is still shared */
	release_all();
}

Test(factory, janitor_disposes_a_configured_pool_unused_for_idle_timeout)
{
	static const char *const sets[] = { "development.idle_timeout=20ms", NULL };
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	struct pool *p;
	int64_t released, end;

	factory_free(f);
	config_free(cfg);
	setup_with(sets);
	p = open_ok("development", "primary", NULL, 0);
	factory_janitor(f);
	cr_assert_eq(f->npools, 1, "a pool with a handle stays");
	released = now_ms();
	factory_release(f, p);
	factory_janitor(f);
	/* The factory's clock, now_ms: on either side of idle_timeout, whatever the machine. */
	if (now_ms() - released < 20)
		cr_assert_eq(f->npools, 1, "disposed before it was unused for idle_timeout");
	end = released + 5000;
	while (f->npools != 0 && now_ms() < end) {
		nanosleep(&ts, NULL);
		factory_janitor(f);
	}
	cr_assert_eq(f->npools, 0, "still there 5s after its last handle went");
	cr_assert_geq(now_ms() - released, 20, "disposed before it was unused for idle_timeout");
	factory_collect(f);
	cr_assert_eq(calls.pool_finis, 1);
}
