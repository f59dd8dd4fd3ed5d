/* janitor.c: housekeeping once a second: connections retired, pools kept warm or let go. */

#include "dbmd.h"

/* Each pool's housekeeping, and configured pools unused too long go. */
void
factory_janitor(struct factory *f)
{
	struct pool *p;
	int64_t now = now_ms();

	/* Disposing frees nothing (factory_collect does): the walk needs no care. */
	TAILQ_FOREACH(p, &f->pools, entry) {
		if (p->disposing)
			continue;
		if (p->draining && now >= p->drain_deadline)
			factory_dispose(f, p, "drain_timeout passed with handles still open");
		else if (p->nhandles == 0 && !p->persistent && p->rc->idle_timeout > 0 &&
		    now - p->unused_since >= p->rc->idle_timeout)
			factory_dispose(f, p, "unused for idle_timeout");
		else
			pool_janitor(p, now);
	}
	ryw_expire(now);
}

/* Retires old and idle connections and keeps min_idle warm. */
void
pool_janitor(struct pool *p, int64_t now)
{
	int want, opening;

	if (p->disposing)
		return;
	pool_close_idle(p, false);
	want = (int)p->rc->min_idle;
	if (p->persistent && want < 1)
		want = 1;
	if (!p->connected && p->nhandles == 0)
		return;		/* never warm a pool nobody has reached */
	if (now < p->retry_at)
		return;		/* the database was unreachable a moment ago */
	/* One at a time: a database that refuses is not asked pool_size times at once. */
	opening = p->nconns[CONN_OPENING];
	if (opening == 0 && p->nconns[CONN_IDLE] < want && pool_total(p) < p->rc->pool_size)
		pool_conn_new(p);
}
