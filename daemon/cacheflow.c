/* cacheflow.c: a cacheable statement's way: lookup, one fill at a time, store, invalidate. */

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"
#include "proto.h"

/*
 * A statement the client marks cacheable (EXEC's cache_max_age_ms), outside any
 * transaction, on a pool whose cache is on, is looked up by its full key: the text, the
 * protocol version and every parameter with its format, NULL distinct from "".  A hit
 * is answered from dbmd's memory.  On a miss the statement runs and its reply is
 * copied; the backend says whether it was read-only and deterministic, and only then
 * is it stored, and only if nothing was invalidated while it ran (the cache's
 * generation), since a result computed across a write may predate it.  Requests for the
 * same key that arrive meanwhile wait for that one fill instead of all going to the
 * database.
 *
 * Writes invalidate: at once outside a transaction, at COMMIT inside one (ROLLBACK
 * drops what it would have invalidated), in every pool on the same database.
 */

/* One statement being run to fill the cache, and the requests waiting for it. */
struct fill {
	TAILQ_ENTRY(fill)	 entry;		/* in pool->fills */
	uint8_t			*key;
	size_t			 keylen;
	uint64_t		 generation;	/* the cache's, when the fill began */
	struct request		*filler;
	struct request_queue	 waiters;	/* PARKED requests */
};

void
request_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Adds name to a list unless it is there (case-insensitively); false when out of memory. */
bool
names_add(char ***names, size_t *n, const char *name)
{
	char **nl;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcasecmp((*names)[i], name) == 0)
			return true;
	if ((nl = realloc(*names, (*n + 2) * sizeof(char *))) == NULL)
		return false;
	*names = nl;
	if ((nl[*n] = strdup(name)) == NULL)
		return false;
	nl[++*n] = NULL;
	return true;
}

/*
 * The full key: the statement, the protocol version (its reply's layout: a version 1
 * client must never be served a version 2 reply, nor the reverse), then each
 * parameter with its length or NULL, its format (the same bytes bound as text or as a
 * blob are different values to SQLite) and its declared type, 0 when none (the same
 * bytes read as int8 or as text are different values to PostgreSQL).
 */
static uint8_t *
cache_key(const struct request *r, size_t *len)
{
	size_t n = strlen(r->sql) + 1 + 2 + 4, i;
	uint8_t *k, *p;

	for (i = 0; i < r->nparams; i++)
		n += 4 + 1 + 4 + (r->params[i] ? r->lens[i] : 0);
	if ((k = malloc(n)) == NULL)
		return NULL;
	p = k;
	memcpy(p, r->sql, strlen(r->sql) + 1);
	p += strlen(r->sql) + 1;
	memcpy(p, &r->version, 2);
	p += 2;
	memcpy(p, &r->nparams, 4);
	p += 4;
	for (i = 0; i < r->nparams; i++) {
		uint32_t l = r->params[i] ? r->lens[i] : PROTO_NULL_LEN, type;

		memcpy(p, &l, 4);
		p += 4;
		*p++ = r->formats != NULL ? r->formats[i] : PROTO_FORMAT_TEXT;
		type = r->types != NULL ? r->types[i] : 0;
		memcpy(p, &type, 4);
		p += 4;
		if (r->params[i] != NULL) {
			memcpy(p, r->params[i], r->lens[i]);
			p += r->lens[i];
		}
	}
	*len = n;
	return k;
}

/* Answers a request with a stored reply, each frame given its request id; then done. */
static void
serve(struct request *r, const uint8_t *frames, size_t len)
{
	uint8_t *copy;

	if ((copy = malloc(len)) == NULL)
		request_fail(r, PROTO_E_NOMEM, "53200", "out of memory");
	else {
		memcpy(copy, frames, len);
		proto_frames_set_reqid(copy, len, r->reqid);
		request_output(r, copy, len);
		free(copy);
	}
	request_finish(r);
}

/*
 * Whether every frame of a stored reply fits a client's frame limit.  The reply was
 * made for the client that filled the cache, whose limit may have been larger: a
 * client that announced less is never sent more, but has the statement run for it
 * and gets the error the database's reply would give it (54000).
 */
static bool
reply_fits(const uint8_t *frames, size_t len, uint32_t max_frame)
{
	size_t at = 0, size;

	while (len - at >= PROTO_HDR_SIZE) {
		size = proto_frame_size(frames + at);
		if (size > len - at || size - PROTO_HDR_SIZE > max_frame)
			return false;
		at += size;
	}
	return true;
}

static struct fill *
fill_find(struct pool *p, const uint8_t *key, size_t keylen)
{
	struct fill *f;

	TAILQ_FOREACH(f, &p->fills, entry)
		if (f->keylen == keylen && memcmp(f->key, key, keylen) == 0)
			return f;
	return NULL;
}

enum cacheflow
cacheflow_begin(struct pool *p, struct request *r)
{
	const uint8_t *frames;
	struct fill *f;
	uint8_t *key;
	size_t keylen, len;

	r->cache_state = PROTO_CACHE_BYPASS;
	if (r->kind != REQ_EXEC || r->cache_max_age == 0)
		return CACHEFLOW_RUN;
	if (p->rc->cache_size == 0 || (r->hold != NULL && r->hold->conn != NULL) ||
	    p->disposing) {
		/* Inside a transaction, or no cache. */
		p->cache_ops->count(p->cache, PROTO_CACHE_BYPASS);
		return CACHEFLOW_RUN;
	}
	if ((key = cache_key(r, &keylen)) == NULL)
		return CACHEFLOW_RUN;
	if (p->cache_ops->lookup(p->cache, key, keylen, r->cache_max_age, &frames, &len)) {
		free(key);
		if (!reply_fits(frames, len, r->max_frame)) {
			p->cache_ops->count(p->cache, PROTO_CACHE_BYPASS);
			return CACHEFLOW_RUN;
		}
		serve(r, frames, len);
		return CACHEFLOW_ANSWERED;
	}
	if ((f = fill_find(p, key, keylen)) != NULL) {
		free(key);
		r->fill = f;
		r->pool = p;
		request_move(r, REQ_PARKED, &f->waiters);
		return CACHEFLOW_PARKED;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		free(key);
		return CACHEFLOW_RUN;
	}
	f->key = key;
	f->keylen = keylen;
	f->generation = p->cache_ops->generation(p->cache);
	f->filler = r;
	request_queue_init(&f->waiters);
	TAILQ_INSERT_TAIL(&p->fills, f, entry);
	r->fill = f;
	r->pool = p;
	r->cache_state = PROTO_CACHE_MISS;
	r->capturing = true;
	return CACHEFLOW_RUN;
}

/* Copies reply bytes of a filling request, giving up past cache.max_result_bytes. */
void
cacheflow_capture(struct request *r, const void *data, size_t len)
{
	size_t need = r->caplen + len, size;
	uint8_t *n;

	if ((long long)need > r->pool->rc->cache_max_result_bytes) {
		r->capturing = false;
		free(r->cap);
		r->cap = NULL;
		r->caplen = r->capsize = 0;
		return;
	}
	if (need > r->capsize) {
		size = r->capsize ? r->capsize * 2 : 4096;
		while (size < need)
			size *= 2;
		if ((n = realloc(r->cap, size)) == NULL) {
			r->capturing = false;
			return;
		}
		r->cap = n;
		r->capsize = size;
	}
	memcpy(r->cap + r->caplen, data, len);
	r->caplen += len;
}

/*
 * The captured reply, if it is whole and successful: its last frame is COMPLETE,
 * whose last byte (the cache state) becomes HIT for whoever is served from it.
 */
static bool
reply_storable(struct request *r)
{
	size_t last;

	if (!r->capturing || r->cap == NULL || !proto_frames_whole(r->cap, r->caplen))
		return false;
	last = proto_frames_last(r->cap, r->caplen);
	return proto_complete_set_cache_state(r->cap + last, r->caplen - last,
	    PROTO_CACHE_HIT);
}

/* The fill is over: its waiters are served from the cache, or run for themselves. */
static void
fill_done(struct pool *p, struct fill *f)
{
	struct request *w;
	const uint8_t *frames;
	size_t len;

	TAILQ_REMOVE(&p->fills, f, entry);
	while ((w = TAILQ_FIRST(&f->waiters.list)) != NULL) {
		request_move(w, REQ_NEW, NULL);
		w->fill = NULL;
		if (p->cache_ops->lookup(p->cache, f->key, f->keylen, w->cache_max_age, &frames,
		    &len) && reply_fits(frames, len, w->max_frame))
			serve(w, frames, len);
		else {
			p->cache_ops->count(p->cache, PROTO_CACHE_BYPASS);
			pool_submit(p, w);
		}
	}
	free(f->key);
	free(f);
}

/* Remembers, for COMMIT, what a transaction wrote. */
static void
pend(struct conn *c, const struct request *r)
{
	size_t i;

	if (r->res_written == NULL) {
		c->pend_all = true;
		return;
	}
	for (i = 0; i < r->nres_written; i++)
		if (!names_add(&c->pend_tables, &c->npend, r->res_written[i]))
			c->pend_all = true;
}

static void
pend_clear(struct conn *c)
{
	request_names_free(c->pend_tables, c->npend);
	c->pend_tables = NULL;
	c->npend = 0;
	c->pend_all = false;
}

/*
 * Called by the pool when a request ends, before its client is told: applies what its
 * writes invalidate and completes its fill.
 */
void
cacheflow_end(struct pool *p, struct conn *c, struct request *r, bool ok)
{
	struct fill *f = r->fill;

	/*
	 * A write that failed invalidates too: the failure may be dbmd's own, after the
	 * database committed (a row or, in version 2, a ROW_DESC over the client's frame
	 * limit is found only once PostgreSQL has run the statement).
	 */
	if (r->kind == REQ_EXEC && r->res_wrote) {
		if (c->in_txn)
			pend(c, r);
		else if (r->res_written == NULL)
			pool_invalidate(p, NULL, 0);
		else if (r->nres_written > 0)
			pool_invalidate(p, (const char *const *)r->res_written,
			    r->nres_written);
	}
	/* A transaction ended: by COMMIT, or by a statement that left it (counted as one). */
	if (r->was_in_txn && !c->in_txn) {
		if (r->kind == REQ_COMMIT || r->kind == REQ_EXEC) {
			if (c->pend_all)
				pool_invalidate(p, NULL, 0);
			else if (c->npend > 0)
				pool_invalidate(p, (const char *const *)c->pend_tables,
				    c->npend);
		}
		pend_clear(c);
	}
	if (f == NULL || f->filler != r)
		return;
	/* A fill ran on a clean connection (pool.c, conn_fits): its result is anyone's. */
	if (ok && r->res_cacheable && p->cache_ops->generation(p->cache) == f->generation &&
	    reply_storable(r))
		p->cache_ops->store(p->cache, f->key, f->keylen, r->cap, r->caplen,
		    (const char *const *)r->res_read, r->nres_read, r->res_read == NULL);
	/* What the client was told: MISS for a cacheable result, stored or not. */
	p->cache_ops->count(p->cache, ok && r->res_cacheable ? PROTO_CACHE_MISS :
	    PROTO_CACHE_BYPASS);
	r->fill = NULL;
	r->capturing = false;
	fill_done(p, f);
}

/*
 * A request is freed while it still has a part in a fill (a waiter has left the queue
 * already, being DONE): a filler that never completed (its client left, it timed out
 * waiting for a connection) ends its fill without storing, and the waiters run for
 * themselves.
 */
void
cacheflow_release(struct request *r)
{
	struct fill *f = r->fill;

	if (f == NULL)
		return;
	r->fill = NULL;
	if (f->filler == r)
		fill_done(r->pool, f);
}

void
cacheflow_conn_free(struct conn *c)
{
	pend_clear(c);
}
