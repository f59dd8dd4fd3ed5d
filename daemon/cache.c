/* cache.c: a pool's result cache: exact LRU, TTL, a byte cap, invalidation by table. */

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"
#include "proto.h"

/*
 * An entry holds a complete reply (the frames a client received, its COMPLETE saying
 * HIT) under its full key: the statement text and its parameters.  Lookups compare
 * the whole key, never the hash alone.  The tables an entry read are kept so that a
 * write invalidates only what it can affect; an entry with no table list is
 * invalidated by any write to its database.
 */
struct entry {
	TAILQ_ENTRY(entry)	 lru;		/* most recently used first */
	struct entry		*next;		/* hash chain */
	uint64_t		 hash;
	uint8_t			*key;
	size_t			 keylen;
	uint8_t			*frames;
	size_t			 len;
	int64_t			 stored_at;	/* ms */
	char			**tables;	/* NULL: depends on every table */
	size_t			 ntables;
	size_t			 bytes;		/* everything this entry costs */
};
TAILQ_HEAD(entry_list, entry);

struct cache {
	long long		 max_entries;	/* cache.size; 0: disabled */
	long long		 ttl;		/* ms */
	long long		 max_bytes;
	long long		 max_result_bytes;
	uint64_t		 (*hash)(const void *, size_t);
	int64_t			 (*clock)(void);	/* ms; tests set the time */
	struct entry		**buckets;
	size_t			 nbuckets;	/* a power of two */
	struct entry_list	 lru;
	uint64_t		 generation;	/* bumped by every invalidation */
	struct cache_stats	 stats;
};

/*
 * A cache with the given hash and clock (milliseconds, monotonic): dbmd uses hash64 and
 * now_ms; tests inject colliding hashes and a clock they move themselves, so that TTLs
 * are tested without sleeping or depending on the machine's speed.
 */
void *
cache_create_with(const struct role_config *rc, uint64_t (*hash)(const void *, size_t),
    int64_t (*clock)(void))
{
	struct cache *c = calloc(1, sizeof(*c));
	size_t n = 16;

	if (c == NULL)
		return NULL;
	c->max_entries = rc->cache_size;
	c->ttl = rc->cache_ttl;
	c->max_bytes = rc->cache_max_bytes;
	c->max_result_bytes = rc->cache_max_result_bytes;
	c->hash = hash;
	c->clock = clock;
	while ((long long)n < 2 * c->max_entries && n < (1u << 20))
		n *= 2;
	if ((c->buckets = calloc(n, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	c->nbuckets = n;
	TAILQ_INIT(&c->lru);
	return c;
}

static void *
cache_create(const struct role_config *rc)
{
	return cache_create_with(rc, hash64, now_ms);
}

static void
entry_free(struct entry *e)
{
	size_t i;

	for (i = 0; i < e->ntables; i++)
		free(e->tables[i]);
	free(e->tables);
	free(e->key);
	free(e->frames);
	free(e);
}

/* Unlinks and frees an entry; the caller counts why. */
static void
entry_remove(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->stats.entries--;
	c->stats.bytes -= e->bytes;
	entry_free(e);
}

static struct entry *
entry_find(struct cache *c, const void *key, size_t keylen, uint64_t h)
{
	struct entry *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	return NULL;
}

/*
 * A fresh entry's frames for key, no older than max_age_ms (and never older than the
 * role's cache.ttl).  1 and the frames on a hit; 0 on a miss, an expired entry being
 * dropped on the way.
 */
static int
cache_lookup(void *arg, const void *key, size_t keylen, int64_t max_age_ms,
    const uint8_t **frames, size_t *len)
{
	struct cache *c = arg;
	struct entry *e;
	int64_t limit = max_age_ms < c->ttl ? max_age_ms : c->ttl, age;

	if (c->max_entries == 0 || (e = entry_find(c, key, keylen, c->hash(key, keylen))) == NULL)
		return 0;
	if ((age = c->clock() - e->stored_at) > limit) {
		/* Too old for this request; dropped only when older than the ttl itself. */
		if (age > c->ttl) {
			c->stats.expirations++;
			entry_remove(c, e);
		}
		return 0;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->stats.hits++;
	*frames = e->frames;
	*len = e->len;
	return 1;
}

/*
 * Stores a reply.  Larger than cache.max_result_bytes, or than the whole cache, it is
 * not kept; otherwise least recently used entries make room, by count and by bytes.
 * Returns 1 when stored.
 */
static int
cache_store(void *arg, const void *key, size_t keylen, const uint8_t *frames, size_t len,
    const char *const *tables, size_t ntables, bool all_tables)
{
	struct cache *c = arg;
	struct entry *e, *old;
	uint64_t h = c->hash(key, keylen);
	size_t i, bytes = sizeof(*e) + keylen + len;

	if (c->max_entries == 0 || (long long)len > c->max_result_bytes)
		return 0;
	for (i = 0; i < ntables; i++)
		bytes += strlen(tables[i]) + 1 + sizeof(char *);
	if ((long long)bytes > c->max_bytes)
		return 0;
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = malloc(keylen)) == NULL ||
	    (e->frames = malloc(len)) == NULL ||
	    (!all_tables && (e->tables = calloc(ntables + 1, sizeof(char *))) == NULL))
		goto fail;
	for (i = 0; !all_tables && i < ntables; i++)
		if ((e->tables[e->ntables++] = strdup(tables[i])) == NULL)
			goto fail;
	memcpy(e->key, key, keylen);
	memcpy(e->frames, frames, len);
	e->keylen = keylen;
	e->len = len;
	e->hash = h;
	e->bytes = bytes;
	e->stored_at = c->clock();
	if ((old = entry_find(c, key, keylen, h)) != NULL)
		entry_remove(c, old);
	while ((long long)c->stats.entries >= c->max_entries ||
	    (long long)(c->stats.bytes + bytes) > c->max_bytes) {
		entry_remove(c, TAILQ_LAST(&c->lru, entry_list));
		c->stats.evictions++;
	}
	e->next = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->stats.entries++;
	c->stats.bytes += bytes;
	return 1;
fail:
	if (e != NULL)
		entry_free(e);
	return 0;
}

static bool
entry_reads(const struct entry *e, const char *const *tables, size_t ntables)
{
	size_t i, j;

	if (e->tables == NULL || ntables == 0)
		return true;
	for (i = 0; i < e->ntables; i++)
		for (j = 0; j < ntables; j++)
			if (strcasecmp(e->tables[i], tables[j]) == 0)
				return true;
	return false;
}

/* A write: entries that read any of the tables go (no tables: everything goes). */
static void
cache_invalidate(void *arg, const char *const *tables, size_t ntables)
{
	struct cache *c = arg;
	struct entry *e, *next;

	c->generation++;
	for (e = TAILQ_FIRST(&c->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (entry_reads(e, tables, ntables)) {
			c->stats.invalidations++;
			entry_remove(c, e);
		}
	}
}

static void
cache_flush(void *arg)
{
	cache_invalidate(arg, NULL, 0);
}

/*
 * Changes whenever something was invalidated: a result computed across a change must
 * not be stored, since it may predate the write that caused it.
 */
static uint64_t
cache_generation(void *arg)
{
	return ((struct cache *)arg)->generation;
}

static void
cache_count(void *arg, int state)
{
	struct cache *c = arg;

	if (state == PROTO_CACHE_MISS)
		c->stats.misses++;
	else
		c->stats.bypasses++;
}

static void
cache_stats(void *arg, struct cache_stats *out)
{
	*out = ((struct cache *)arg)->stats;
}

static void
cache_destroy(void *arg)
{
	struct cache *c = arg;
	struct entry *e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->lru)) != NULL)
		entry_remove(c, e);
	free(c->buckets);
	free(c);
}

const struct cache_ops cache_lru = {
	.name = "lru",
	.create = cache_create,
	.lookup = cache_lookup,
	.store = cache_store,
	.invalidate = cache_invalidate,
	.flush = cache_flush,
	.generation = cache_generation,
	.count = cache_count,
	.stats = cache_stats,
	.destroy = cache_destroy,
};
