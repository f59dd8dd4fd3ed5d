/* cache.c: the per-pool result cache behind the cache_ops the factory is given. */

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"

/*
 * One pool's result cache.  It holds the pool's limits and counters; statements reach
 * it only when a client marks them cacheable, which EXEC carries as cache_max_age_ms.
 */
struct cache {
	long long		 max_entries;	/* cache.size; 0: disabled */
	long long		 ttl;		/* ms */
	long long		 max_bytes;
	long long		 max_result_bytes;
	struct cache_stats	 stats;
};

static void *
cache_create(const struct role_config *rc)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->max_entries = rc->cache_size;
	c->ttl = rc->cache_ttl;
	c->max_bytes = rc->cache_max_bytes;
	c->max_result_bytes = rc->cache_max_result_bytes;
	return c;
}

static void
cache_flush(void *arg)
{
	struct cache *c = arg;

	c->stats.invalidations += c->stats.entries;
	c->stats.entries = 0;
	c->stats.bytes = 0;
}

static void
cache_stats(void *arg, struct cache_stats *out)
{
	const struct cache *c = arg;

	*out = c->stats;
}

static void
cache_destroy(void *arg)
{
	free(arg);
}

const struct cache_ops cache_lru = {
	.name = "lru",
	.create = cache_create,
	.flush = cache_flush,
	.stats = cache_stats,
	.destroy = cache_destroy,
};
