/* test_cache.c: the result cache's store: LRU, TTL, byte caps, full keys, invalidation. */

#include <criterion/criterion.h>
#include <string.h>

#include "dbmd.h"

static const struct cache_ops *ops = &cache_lru;

static struct role_config *
limits(long long size, long long ttl_ms, long long max_bytes, long long max_result)
{
	struct role_config *rc = xcalloc(1, sizeof(*rc));

	rc->cache_size = size;
	rc->cache_ttl = ttl_ms;
	rc->cache_max_bytes = max_bytes;
	rc->cache_max_result_bytes = max_result;
	return rc;
}

static int
put(void *c, const char *key, const char *reply, const char *const *tables, size_t n,
    bool all)
{
	return ops->store(c, key, strlen(key) + 1, (const uint8_t *)reply, strlen(reply) + 1,
	    tables, n, all);
}

/* The reply stored under key and fresh within max_age, or NULL. */
static const char *
get(void *c, const char *key, int64_t max_age)
{
	const uint8_t *frames;
	size_t len;

	if (!ops->lookup(c, key, strlen(key) + 1, max_age, &frames, &len))
		return NULL;
	return (const char *)frames;
}

static struct cache_stats
stats(void *c)
{
	struct cache_stats st;

	ops->stats(c, &st);
	return st;
}

/* The time a test sets: TTL tests move it instead of sleeping. */
static int64_t fake_now_ms = 1000000;

static int64_t
fake_clock(void)
{
	return fake_now_ms;
}

/* A cache on the fake clock. */
static void *
create_clocked(const struct role_config *rc)
{
	return cache_create_with(rc, hash64, fake_clock);
}

#define HOUR	3600000

Test(cache, stored_reply_is_found_by_its_full_key)
{
	struct role_config *rc = limits(10, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);

	cr_assert_null(get(c, "SELECT 1", HOUR));
	cr_assert(put(c, "SELECT 1", "one", NULL, 0, true));
	cr_assert_str_eq(get(c, "SELECT 1", HOUR), "one");
	cr_assert_null(get(c, "SELECT 2", HOUR));
	cr_assert_eq(stats(c).hits, 1);
	cr_assert_eq(stats(c).misses, 0, "misses are counted when a statement has run");
	cr_assert_eq(stats(c).entries, 1);
	ops->destroy(c);
	free(rc);
}

Test(cache, least_recently_used_entry_is_evicted_first)
{
	struct role_config *rc = limits(2, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);

	put(c, "a", "A", NULL, 0, true);
	put(c, "b", "B", NULL, 0, true);
	cr_assert_str_eq(get(c, "a", HOUR), "A");	/* a is now the most recent */
	put(c, "c", "C", NULL, 0, true);		/* evicts b */
	cr_assert_str_eq(get(c, "a", HOUR), "A");
	cr_assert_null(get(c, "b", HOUR));
	cr_assert_str_eq(get(c, "c", HOUR), "C");
	cr_assert_eq(stats(c).evictions, 1);
	cr_assert_eq(stats(c).entries, 2);
	ops->destroy(c);
	free(rc);
}

Test(cache, storing_a_key_again_replaces_its_entry)
{
	struct role_config *rc = limits(2, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);

	put(c, "a", "old", NULL, 0, true);
	put(c, "a", "new", NULL, 0, true);
	cr_assert_str_eq(get(c, "a", HOUR), "new");
	cr_assert_eq(stats(c).entries, 1);
	cr_assert_eq(stats(c).evictions, 0);
	ops->destroy(c);
	free(rc);
}

Test(cache, entries_expire_after_the_ttl)
{
	struct role_config *rc = limits(10, 30, 1 << 20, 1 << 20);
	void *c = create_clocked(rc);

	put(c, "a", "A", NULL, 0, true);
	cr_assert_str_eq(get(c, "a", HOUR), "A", "a client's larger max age is capped by ttl");
	fake_now_ms += 30;
	cr_assert_str_eq(get(c, "a", HOUR), "A", "fresh for the whole ttl");
	cr_assert_eq(stats(c).expirations, 0);
	fake_now_ms += 1;
	cr_assert_null(get(c, "a", HOUR), "expired once older than the ttl");
	cr_assert_eq(stats(c).expirations, 1);
	cr_assert_eq(stats(c).entries, 0);
	ops->destroy(c);
	free(rc);
}

Test(cache, a_clients_smaller_max_age_is_honoured)
{
	struct role_config *rc = limits(10, HOUR, 1 << 20, 1 << 20);
	void *c = create_clocked(rc);

	put(c, "a", "A", NULL, 0, true);
	fake_now_ms += 10;
	cr_assert_str_eq(get(c, "a", 10), "A", "as old as this client accepts");
	fake_now_ms += 1;
	cr_assert_null(get(c, "a", 10), "older than this client accepts");
	cr_assert_str_eq(get(c, "a", HOUR), "A", "still fresh for the ttl");
	cr_assert_eq(stats(c).expirations, 0);
	ops->destroy(c);
	free(rc);
}

Test(cache, storing_again_restarts_the_ttl)
{
	struct role_config *rc = limits(10, 30, 1 << 20, 1 << 20);
	void *c = create_clocked(rc);

	put(c, "a", "old", NULL, 0, true);
	fake_now_ms += 25;
	put(c, "a", "new", NULL, 0, true);
	fake_now_ms += 25;
	cr_assert_str_eq(get(c, "a", HOUR), "new", "50ms after the first store, 25 after this");
	fake_now_ms += 6;
	cr_assert_null(get(c, "a", HOUR));
	cr_assert_eq(stats(c).expirations, 1);
	ops->destroy(c);
	free(rc);
}

Test(cache, memory_is_capped_by_evicting)
{
	char key[16], reply[200];
	struct role_config *rc = limits(1000, HOUR, 4096, 1 << 20);
	void *c = ops->create(rc);
	int i;

	memset(reply, 'x', sizeof(reply) - 1);
	reply[sizeof(reply) - 1] = '\0';
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cr_assert(put(c, key, reply, NULL, 0, true));
		cr_assert_leq(stats(c).bytes, 4096);
	}
	cr_assert_gt(stats(c).evictions, 0);
	cr_assert_str_eq(get(c, "k99", HOUR), reply, "the newest entry stays");
	cr_assert_null(get(c, "k0", HOUR), "the oldest went");
	ops->destroy(c);
	free(rc);
}

Test(cache, a_result_over_the_per_result_cap_is_not_kept)
{
	struct role_config *rc = limits(10, HOUR, 1 << 20, 16);
	void *c = ops->create(rc);

	cr_assert_not(put(c, "big", "a reply longer than sixteen bytes", NULL, 0, true));
	cr_assert(put(c, "small", "short", NULL, 0, true));
	cr_assert_null(get(c, "big", HOUR));
	cr_assert_eq(stats(c).entries, 1);
	ops->destroy(c);
	free(rc);
}

Test(cache, size_zero_disables_the_cache)
{
	struct role_config *rc = limits(0, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);

	cr_assert_not(put(c, "a", "A", NULL, 0, true));
	cr_assert_null(get(c, "a", HOUR));
	ops->destroy(c);
	free(rc);
}

static uint64_t
same_hash(const void *p, size_t n)
{
	(void)p, (void)n;
	return 42;
}

Test(cache, colliding_hashes_never_mix_up_keys)
{
	struct role_config *rc = limits(10, HOUR, 1 << 20, 1 << 20);
	void *c = cache_create_with(rc, same_hash, now_ms);

	put(c, "SELECT * FROM a", "rows of a", NULL, 0, true);
	put(c, "SELECT * FROM b", "rows of b", NULL, 0, true);
	cr_assert_str_eq(get(c, "SELECT * FROM a", HOUR), "rows of a");
	cr_assert_str_eq(get(c, "SELECT * FROM b", HOUR), "rows of b");
	cr_assert_null(get(c, "SELECT * FROM c", HOUR));
	/* A key that is a prefix of another is a different key. */
	const uint8_t *frames;
	size_t len;

	cr_assert_eq(ops->lookup(c, "SELECT * FROM a", 10, HOUR, &frames, &len), 0);
	ops->destroy(c);
	free(rc);
}

Test(cache, a_write_invalidates_what_read_its_tables)
{
	static const char *const users[] = { "users" };
	static const char *const orders[] = { "orders" };
	static const char *const both[] = { "users", "orders" };
	struct role_config *rc = limits(10, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);
	uint64_t gen = ops->generation(c);

	put(c, "u", "U", users, 1, false);
	put(c, "o", "O", orders, 1, false);
	put(c, "uo", "UO", both, 2, false);
	put(c, "any", "ANY", NULL, 0, true);		/* depends on every table */
	put(c, "none", "NONE", NULL, 0, false);		/* read no table: SELECT 1 */
	ops->invalidate(c, (const char *const[]){ "USERS" }, 1);	/* case-insensitive */
	cr_assert_null(get(c, "u", HOUR));
	cr_assert_null(get(c, "uo", HOUR));
	cr_assert_null(get(c, "any", HOUR));
	cr_assert_str_eq(get(c, "o", HOUR), "O");
	cr_assert_str_eq(get(c, "none", HOUR), "NONE");
	cr_assert_eq(stats(c).invalidations, 3);
	cr_assert_neq(ops->generation(c), gen, "a fill begun before must not be stored");
	ops->destroy(c);
	free(rc);
}

Test(cache, flush_empties_everything)
{
	struct role_config *rc = limits(10, HOUR, 1 << 20, 1 << 20);
	void *c = ops->create(rc);
	uint64_t gen;

	put(c, "a", "A", NULL, 0, false);
	put(c, "b", "B", (const char *const[]){ "t" }, 1, false);
	gen = ops->generation(c);
	ops->flush(c);
	cr_assert_null(get(c, "a", HOUR));
	cr_assert_null(get(c, "b", HOUR));
	cr_assert_eq(stats(c).entries, 0);
	cr_assert_eq(stats(c).bytes, 0);
	cr_assert_neq(ops->generation(c), gen);
	ops->destroy(c);
	free(rc);
}
