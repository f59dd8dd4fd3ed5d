/* pghosts.c: the servers of a multi-host PostgreSQL role, watched, and where a read goes. */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "dbmd.h"

/*
 * A role's URI may list several servers (libpq's host=a,b,c&port=…).  For such a role,
 * or one that sets max_replica_lag or read_your_writes, dbmd keeps one small
 * connection of its own to each server and asks it, every replica_check_interval,
 * whether it is in recovery and how far it has replayed.  From the answers:
 *
 * - A standby's lag is the time since the primary first reported a WAL position the
 *   standby has not replayed (the primary's positions are kept for PGH_SAMPLES
 *   checks); with no primary among the servers, the time since the last transaction
 *   it replayed when it has received more than it has replayed.
 * - A read role (read_only, or target_session_attrs naming standbys) spreads its new
 *   connections over the servers that qualify: standbys within max_replica_lag, and
 *   the primary too when target_session_attrs is any or read-only.  The server with
 *   the fewest connections goes first in the host list libpq is given, ties taken in
 *   turn, then the other qualifying ones, then those that are neither behind nor
 *   known down: libpq still checks each server's type and moves on from one that
 *   does not answer.  When none qualifies because standbys are behind, lag_fallback
 *   decides: wait, the primary (libpq then checks it is one), or fail.  With none
 *   behind (all down, or not yet asked), libpq is given the URI's hosts as written.
 * - Connections on a server that stops qualifying are retired (pool_conn_retire).
 * - A read-your-writes request is served by a standby once it has replayed the
 *   request's position, by the primary always; while such requests wait, standbys
 *   are asked again at once and then every PGH_HURRY_MS.
 */

#define PGH_SAMPLES	64
#define PGH_HURRY_US	250		/* the first asking again; doubling from there */
#define PGH_HURRY_MAX_US 8000		/* to this, or replica_check_interval if less */
#define PGH_QUERY	"SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() " \
	"THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_flush_lsn() END, " \
	"CASE WHEN pg_is_in_recovery() AND pg_last_wal_receive_lsn() > " \
	"pg_last_wal_replay_lsn() THEN (extract(epoch FROM clock_timestamp() - " \
	"pg_last_xact_replay_timestamp()) * 1000)::bigint ELSE 0 END"

enum pgh_server {
	PGH_UNKNOWN,		/* not asked yet, or down since */
	PGH_PRIMARY,
	PGH_STANDBY,
};

/* libpq's target_session_attrs. */
enum pgh_tsa {
	TSA_ANY,
	TSA_READ_WRITE,
	TSA_READ_ONLY,
	TSA_PRIMARY,
	TSA_STANDBY,
	TSA_PREFER_STANDBY,
};

enum pgh_phase {
	PROBE_OFF,		/* no connection: made at the next check */
	PROBE_CONNECTING,
	PROBE_READY,		/* connected, nothing asked */
	PROBE_ASKING,		/* the query is out */
};

struct pghost {
	struct pghosts	*hs;
	size_t		 idx;
	char		*host, *hostaddr, *port;	/* its entries of the lists, "" none */
	char		 name[160];		/* "host:port" for people */
	enum pgh_server	 server;
	bool		 down;
	time_t		 down_since;
	char		 last_error[256];
	int		 nconns;
	uint64_t	 statements;
	int64_t		 lag_ms;		/* -1: unknown */
	int64_t		 behind_since;		/* ms: behind every kept sample; 0: not */
	uint64_t	 lsn;			/* replayed (standby), flushed (primary) */
	/* The check. */
	PGconn		*pg;
	PGresult	*answer;		/* read, until the query's end */
	enum pgh_phase	 phase;
	struct event	*ev;
	int		 ev_fd;
	short		 ev_what;
	int64_t		 since;			/* ms: the phase's start, for its deadline */
	int64_t		 asked_us;		/* when the query last went out */
	bool		 again;			/* ask again as soon as the answer is in */
};

struct pghosts {
	struct pool		*pool;
	void			(*changed)(struct pool *);
	const char *const	*keywords;	/* the pool's, NULL-terminated */
	const char *const	*values;
	enum pgh_tsa		 tsa;
	bool			 balance;	/* a read role: dbmd spreads connections */
	size_t			 n;
	struct pghost		*h;
	unsigned		 turn;
	struct event		*tick;		/* replica_check_interval */
	struct event		*hurry;		/* read-your-writes waiters: ask again */
	int64_t			 hurry_us;	/* how soon, doubling to PGH_HURRY_MAX_US */
	struct event		*changed_ev;	/* tells the backend, from the loop */
	struct {
		int64_t		 at;		/* ms */
		uint64_t	 lsn;
	} samples[PGH_SAMPLES];			/* the primary's positions, a ring */
	size_t			 nsamples, next_sample;
};

static void probe_start(struct pghost *);
static void probe_io(evutil_socket_t, short, void *);
static void hurry_cb(evutil_socket_t, short, void *);
static void changed_cb(evutil_socket_t, short, void *);

static const char *
kw_value(const char *const *kw, const char *const *val, const char *name)
{
	size_t i;

	for (i = 0; kw[i] != NULL; i++)
		if (strcmp(kw[i], name) == 0)
			return val[i] != NULL ? val[i] : "";
	return "";
}

/* The n-th comma-separated item of list, "" when there is none. */
static char *
list_item(const char *list, size_t n)
{
	const char *p = list, *end;

	while (n > 0 && (p = strchr(p, ',')) != NULL) {
		p++;
		n--;
	}
	if (p == NULL)
		return xstrdup("");
	end = strchr(p, ',');
	return end != NULL ? xasprintf("%.*s", (int)(end - p), p) : xstrdup(p);
}

static size_t
list_len(const char *list)
{
	size_t n = 1;

	if (*list == '\0')
		return 0;
	for (; *list != '\0'; list++)
		n += *list == ',';
	return n;
}

static enum pgh_tsa
tsa_parse(const char *v)
{
	static const struct {
		const char	*name;
		enum pgh_tsa	 tsa;
	} names[] = {
		{ "read-write", TSA_READ_WRITE }, { "read-only", TSA_READ_ONLY },
		{ "primary", TSA_PRIMARY }, { "standby", TSA_STANDBY },
		{ "prefer-standby", TSA_PREFER_STANDBY },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i].name) == 0)
			return names[i].tsa;
	return TSA_ANY;
}

/*
 * The servers of a pool whose parameters are kw/val (kept by the caller for the
 * pool's life), watched when the role needs it; NULL when it does not.  changed is
 * called (never from inside the caller's own call) whenever what qualifies may have
 * changed.
 */
struct pghosts *
pghosts_new(struct pool *p, const char *const *kw, const char *const *val,
    void (*changed)(struct pool *))
{
	const struct role_config *rc = p->rc;
	const char *hosts = kw_value(kw, val, "host"), *addrs = kw_value(kw, val, "hostaddr");
	const char *ports = kw_value(kw, val, "port");
	struct pghosts *hs;
	struct pghost *h;
	struct timeval tv;
	size_t n = list_len(hosts), i;

	if (list_len(addrs) > n)
		n = list_len(addrs);
	if (n < 2 && rc->max_replica_lag == 0 && !rc->read_your_writes)
		return NULL;
	if (n == 0)
		n = 1;
	hs = xcalloc(1, sizeof(*hs));
	hs->pool = p;
	hs->changed = changed;
	hs->keywords = kw;
	hs->values = val;
	hs->tsa = tsa_parse(kw_value(kw, val, "target_session_attrs"));
	hs->balance = n > 1 && hs->tsa != TSA_READ_WRITE && hs->tsa != TSA_PRIMARY &&
	    (rc->read_only || hs->tsa != TSA_ANY);
	hs->n = n;
	hs->h = xcalloc(n, sizeof(*hs->h));
	for (i = 0; i < n; i++) {
		h = &hs->h[i];
		h->hs = hs;
		h->idx = i;
		h->host = list_item(hosts, i);
		h->hostaddr = list_item(addrs, i);
		h->port = list_item(ports, list_len(ports) == 1 ? 0 : i);
		snprintf(h->name, sizeof(h->name), "%s:%s", h->host[0] ? h->host :
		    h->hostaddr[0] ? h->hostaddr : "localhost", h->port[0] ? h->port : "5432");
		h->lag_ms = -1;
		h->ev_fd = -1;
	}
	hs->tick = event_new(dbmd->base, -1, EV_PERSIST, probe_io, hs);
	hs->hurry = evtimer_new(dbmd->base, hurry_cb, hs);
	hs->changed_ev = evtimer_new(dbmd->base, changed_cb, hs);
	if (hs->tick == NULL || hs->hurry == NULL || hs->changed_ev == NULL)
		fatalx("%s: out of memory", __func__);
	tv.tv_sec = rc->replica_check_interval / 1000;
	tv.tv_usec = (rc->replica_check_interval % 1000) * 1000;
	evtimer_add(hs->tick, &tv);
	event_active(hs->tick, EV_TIMEOUT, 0);	/* the first check at once */
	return hs;
}

static void
probe_close(struct pghost *h)
{
	if (h->ev != NULL) {
		event_free(h->ev);
		h->ev = NULL;
	}
	h->ev_fd = -1;
	h->ev_what = 0;
	if (h->answer != NULL)
		PQclear(h->answer);
	h->answer = NULL;
	if (h->pg != NULL)
		PQfinish(h->pg);
	h->pg = NULL;
	h->phase = PROBE_OFF;
	h->again = false;
}

void
pghosts_free(struct pghosts *hs)
{
	size_t i;

	if (hs == NULL)
		return;
	for (i = 0; i < hs->n; i++) {
		probe_close(&hs->h[i]);
		free(hs->h[i].host);
		free(hs->h[i].hostaddr);
		free(hs->h[i].port);
	}
	event_free(hs->tick);
	event_free(hs->hurry);
	event_free(hs->changed_ev);
	free(hs->h);
	free(hs);
}

/* Is the server behind by more than the role allows? */
static bool
lagging(const struct pghosts *hs, const struct pghost *h)
{
	long long max = hs->pool->rc->max_replica_lag;

	return !h->down && h->server == PGH_STANDBY && max > 0 && h->lag_ms > max;
}

/* May a read role's new connections go to the server? */
static bool
qualifies(const struct pghosts *hs, const struct pghost *h)
{
	if (h->down || lagging(hs, h))
		return false;
	if (h->server == PGH_PRIMARY)
		return hs->tsa == TSA_ANY || hs->tsa == TSA_READ_ONLY;
	return true;
}

/* The primary, up; NULL when none is known. */
static struct pghost *
primary_of(struct pghosts *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		if (!hs->h[i].down && hs->h[i].server == PGH_PRIMARY)
			return &hs->h[i];
	return NULL;
}

/*
 * What stands in when no server qualifies: NULL when nothing does; *behind says
 * whether that is because standbys are behind (lag_fallback decides) rather than
 * down (libpq decides, from the URI).
 */
static bool
any_behind(const struct pghosts *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		if (lagging(hs, &hs->h[i]))
			return true;
	return false;
}

static bool
any_qualifies(const struct pghosts *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		if (qualifies(hs, &hs->h[i]))
			return true;
	return false;
}

/*
 * May connections on server i (-1: not known) stay?  On a balanced role: one that
 * qualifies; when none does, the primary if lag_fallback says so, or any server
 * when no standby is behind (the URI decides).
 */
bool
pghosts_usable(struct pghosts *hs, int i)
{
	if (hs == NULL || !hs->balance || i < 0)
		return true;
	if (qualifies(hs, &hs->h[i]))
		return true;
	if (any_qualifies(hs))
		return false;
	if (!any_behind(hs))
		return !hs->h[i].down;
	return hs->pool->rc->lag_fallback == LAG_FALLBACK_PRIMARY &&
	    hs->h[i].server == PGH_PRIMARY;
}

/* Does a read-your-writes request wait that the primary may now serve? */
static bool
fallback_waiting(const struct pool *p)
{
	const struct request *r;

	TAILQ_FOREACH(r, &p->reqs[REQ_QUEUED].list, entry)
		if (r->ryw_fallback)
			return true;
	return false;
}

/* Replaces or adds a parameter in kw/val (n entries, room for one more). */
static void
param_set(char **kw, char **val, size_t *n, const char *name, char *value)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(kw[i], name) == 0) {
			free(val[i]);
			val[i] = value;
			return;
		}
	kw[*n] = xstrdup(name);
	val[(*n)++] = value;
}

/* The pool's parameters with the hosts of order (n of them) and tsa, if not NULL. */
static void
params_for(struct pghosts *hs, struct pghost *const *order, size_t n, const char *tsa,
    char ***kwp, char ***valp)
{
	char **kw, **val, *hosts = NULL, *addrs = NULL, *ports = NULL;
	size_t i, nkw = 0, lh = 0, ch = 0, la = 0, ca = 0, lp = 0, cp = 0;
	bool have_addr = false;

	while (hs->keywords[nkw] != NULL)
		nkw++;
	kw = xcalloc(nkw + 4, sizeof(char *));
	val = xcalloc(nkw + 4, sizeof(char *));
	for (i = 0; i < nkw; i++) {
		kw[i] = xstrdup(hs->keywords[i]);
		val[i] = xstrdup(hs->values[i] ? hs->values[i] : "");
	}
	for (i = 0; i < n; i++) {
		strbuf_printf(&hosts, &lh, &ch, "%s%s", i ? "," : "", order[i]->host);
		strbuf_printf(&addrs, &la, &ca, "%s%s", i ? "," : "", order[i]->hostaddr);
		strbuf_printf(&ports, &lp, &cp, "%s%s", i ? "," : "", order[i]->port);
		have_addr = have_addr || order[i]->hostaddr[0] != '\0';
	}
	if (hosts == NULL || addrs == NULL || ports == NULL)
		fatalx("%s: out of memory", __func__);
	param_set(kw, val, &nkw, "host", hosts);
	if (have_addr)
		param_set(kw, val, &nkw, "hostaddr", addrs);
	else
		free(addrs);
	param_set(kw, val, &nkw, "port", ports);
	if (tsa != NULL)
		param_set(kw, val, &nkw, "target_session_attrs", xstrdup(tsa));
	*kwp = kw;
	*valp = val;
}

/*
 * Where a new connection of the pool goes.  PGH_CONNECT with *kw and *val to connect with
 * (NULL: the pool's own; else the caller frees them) and *host the server put first
 * (-1: libpq chooses); PGH_WAIT: nothing qualifies, wait for pghosts' call; PGH_FAIL:
 * nothing qualifies and the role says fail, with msg.
 */
enum pghosts_choice
pghosts_choose(struct pghosts *hs, char ***kw, char ***val, int *host, char *msg,
    size_t size)
{
	struct pool *p = hs->pool;
	struct pghost **order, *h, *best = NULL;
	size_t i, n = 0, start;

	*kw = *val = NULL;
	*host = -1;
	if (!hs->balance)
		return PGH_CONNECT;
	if (fallback_waiting(p) && (h = primary_of(hs)) != NULL) {
		/* A read-your-writes request waited long enough: the primary serves it. */
		params_for(hs, &h, 1, "primary", kw, val);
		*host = (int)h->idx;
		h->nconns++;
		return PGH_CONNECT;
	}
	for (i = 0; i < hs->n; i++)
		if (!hs->h[i].down && hs->h[i].server == PGH_UNKNOWN) {
			/* Not asked yet (a new pool): where to go is known in a moment. */
			snprintf(msg, size, "waiting for the first check of server %s",
			    hs->h[i].name);
			return PGH_WAIT;
		}
	if (!any_qualifies(hs)) {
		if (!any_behind(hs))
			return PGH_CONNECT;	/* down or not asked yet: libpq tries them */
		switch (p->rc->lag_fallback) {
		case LAG_FALLBACK_PRIMARY:
			if ((h = primary_of(hs)) != NULL) {
				params_for(hs, &h, 1, "primary", kw, val);
				*host = (int)h->idx;
				h->nconns++;
				return PGH_CONNECT;
			}
			snprintf(msg, size, "every standby is behind by more than %lldms "
			    "(max_replica_lag) and no primary is reachable (lag_fallback: "
			    "primary)", p->rc->max_replica_lag);
			return PGH_WAIT;
		case LAG_FALLBACK_FAIL:
			snprintf(msg, size, "every standby is behind by more than %lldms "
			    "(max_replica_lag; lag_fallback: fail)", p->rc->max_replica_lag);
			return PGH_FAIL;
		default:
			snprintf(msg, size, "every standby is behind by more than %lldms "
			    "(max_replica_lag; lag_fallback: wait)", p->rc->max_replica_lag);
			return PGH_WAIT;
		}
	}
	/* Fewest connections first, ties in turn. */
	start = hs->turn++ % hs->n;
	for (i = 0; i < hs->n; i++) {
		h = &hs->h[(start + i) % hs->n];
		if (qualifies(hs, h) && (best == NULL || h->nconns < best->nconns))
			best = h;
	}
	order = xcalloc(hs->n, sizeof(*order));
	order[n++] = best;
	for (i = 0; i < hs->n; i++)
		if (&hs->h[i] != best && qualifies(hs, &hs->h[i]))
			order[n++] = &hs->h[i];
	for (i = 0; i < hs->n; i++)
		if (!qualifies(hs, &hs->h[i]) && !hs->h[i].down && !lagging(hs, &hs->h[i]))
			order[n++] = &hs->h[i];
	params_for(hs, order, n, NULL, kw, val);
	free(order);
	*host = (int)best->idx;
	best->nconns++;
	return PGH_CONNECT;
}

/*
 * A connection of the pool opened on the server libpq names (PQhost, PQport); it was
 * counted on chosen (-1: none) while it opened.  Returns the server's index, -1 when
 * none of the list matches.
 */
int
pghosts_attach(struct pghosts *hs, int chosen, const char *host, const char *port)
{
	struct pghost *h;
	size_t i;

	if (chosen >= 0)
		hs->h[chosen].nconns--;
	for (i = 0; i < hs->n; i++) {
		h = &hs->h[i];
		if (strcmp(port ? port : "", h->port[0] ? h->port : "5432") != 0)
			continue;
		if (host != NULL && (strcmp(host, h->host) == 0 ||
		    strcmp(host, h->hostaddr) == 0 || (h->host[0] == '\0' &&
		    h->hostaddr[0] == '\0'))) {
			h->nconns++;
			return (int)i;
		}
	}
	return -1;
}

/*
 * A server the role's connections are unevenly spread over (one that came back, or
 * qualifies again): one holding two more than the least loaded qualifying server,
 * which should give one up.  -1: none.
 */
int
pghosts_overloaded(const struct pghosts *hs)
{
	int min = -1, i, most = -1;

	if (hs == NULL || !hs->balance)
		return -1;
	for (i = 0; i < (int)hs->n; i++) {
		if (!qualifies(hs, &hs->h[i]))
			continue;
		if (min < 0 || hs->h[i].nconns < min)
			min = hs->h[i].nconns;
		if (most < 0 || hs->h[i].nconns > hs->h[most].nconns)
			most = i;
	}
	return most >= 0 && hs->h[most].nconns >= min + 2 ? most : -1;
}

/* A connection counted on server i (-1: none) went. */
void
pghosts_detach(struct pghosts *hs, int i)
{
	if (hs != NULL && i >= 0)
		hs->h[i].nconns--;
}

/* A statement ran on server i. */
void
pghosts_count(struct pghosts *hs, int i)
{
	if (hs != NULL && i >= 0)
		hs->h[i].statements++;
}

/* May a connection on server i serve the request (its client's writes replayed)? */
bool
pghosts_serves(const struct pghosts *hs, int i, const struct request *r)
{
	if (r->min_lsn == 0 || hs == NULL)
		return true;
	if (i < 0)
		return false;
	return hs->h[i].server == PGH_PRIMARY ||
	    (hs->h[i].server == PGH_STANDBY && hs->h[i].lsn >= r->min_lsn);
}

/*
 * Read-your-writes requests wait: each standby is asked again once its last answer
 * is in, PGH_HURRY_US after its last question for a new waiter (fresh), then twice as
 * long each time, to PGH_HURRY_MAX_US, while requests still wait.
 */
void
pghosts_hurry(struct pghosts *hs, bool fresh)
{
	int64_t max = hs->pool->rc->replica_check_interval * 1000, now = now_us(), wait;
	struct timeval tv;
	size_t i;

	if (max > PGH_HURRY_MAX_US)
		max = PGH_HURRY_MAX_US;
	if (fresh || hs->hurry_us == 0)
		hs->hurry_us = PGH_HURRY_US;
	else if ((hs->hurry_us *= 2) > max)
		hs->hurry_us = max;
	for (i = 0; i < hs->n; i++) {
		struct pghost *h = &hs->h[i];

		if (h->server == PGH_PRIMARY)
			continue;
		if (h->phase == PROBE_ASKING)
			h->again = true;
		else if (h->phase == PROBE_READY && now - h->asked_us >= hs->hurry_us)
			probe_start(h);
		else if (h->phase == PROBE_READY && !evtimer_pending(hs->hurry, NULL)) {
			wait = hs->hurry_us - (now - h->asked_us);
			tv.tv_sec = wait / 1000000;
			tv.tv_usec = wait % 1000000;
			evtimer_add(hs->hurry, &tv);
		}
	}
}

/* Is a primary among the servers, up? */
bool
pghosts_primary_known(struct pghosts *hs)
{
	return hs != NULL && primary_of(hs) != NULL;
}

static void
hurry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pghosts *hs = arg;
	size_t i;

	(void)fd, (void)what;
	for (i = 0; i < hs->n; i++)
		if (hs->h[i].server != PGH_PRIMARY && hs->h[i].phase == PROBE_READY)
			probe_start(&hs->h[i]);
}

/* The status of server i, for people. */
void
pghosts_info(const struct pghosts *hs, size_t i, struct pghost_info *info)
{
	const struct pghost *h = &hs->h[i];

	memset(info, 0, sizeof(*info));
	info->name = h->name;
	info->server = h->server == PGH_PRIMARY ? "primary" : h->server == PGH_STANDBY ?
	    "standby" : "unknown";
	info->state = h->down ? "down" : lagging(hs, h) ? "lagging" :
	    h->server == PGH_UNKNOWN ? "unknown" : "up";
	info->down_since = h->down ? h->down_since : 0;
	info->last_error = h->last_error;
	info->connections = h->nconns;
	info->statements = h->statements;
	info->lag_ms = h->lag_ms;
	info->lsn = h->lsn;
}

size_t
pghosts_n(const struct pghosts *hs)
{
	return hs == NULL ? 0 : hs->n;
}

/* "16/B374D848" as a number; 0 when it is not one. */
uint64_t
pghosts_lsn_parse(const char *s)
{
	unsigned long hi, lo;
	char *end;

	if (s == NULL || *s == '\0')
		return 0;
	hi = strtoul(s, &end, 16);
	if (*end != '/')
		return 0;
	lo = strtoul(end + 1, &end, 16);
	if (*end != '\0' || hi > UINT32_MAX || lo > UINT32_MAX)
		return 0;
	return ((uint64_t)hi << 32) | lo;
}

/* Tells the backend, which retires and kicks: from the loop, never from a caller's call. */
static void
hosts_changed(struct pghosts *hs)
{
	event_active(hs->changed_ev, EV_TIMEOUT, 0);
}

static void
changed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pghosts *hs = arg;

	(void)fd, (void)what;
	hs->changed(hs->pool);
}

/* The server went down (or its check failed): why, once. */
static void
host_down(struct pghost *h, const char *why)
{
	bool was = h->down;

	probe_close(h);
	if (!was) {
		h->down = true;
		h->down_since = time(NULL);
		log_warnx("pool %016llx: server %s is down: %s",
		    (unsigned long long)h->hs->pool->rc->hash, h->name, why);
	}
	snprintf(h->last_error, sizeof(h->last_error), "%s", why);
	h->server = PGH_UNKNOWN;
	h->lag_ms = -1;
	if (!was)
		hosts_changed(h->hs);
}

static void
probe_failed(struct pghost *h, const char *why)
{
	char msg[256];

	one_line(msg, sizeof(msg), why);
	host_down(h, msg);
}

/* Waits on the check's socket for what libpq asks. */
static int
probe_watch(struct pghost *h, short what)
{
	int fd = PQsocket(h->pg);

	if (fd < 0)
		return -1;
	if (h->ev != NULL && h->ev_fd == fd && h->ev_what == what)
		return 0;
	if (h->ev != NULL)
		event_free(h->ev);
	h->ev = event_new(dbmd->base, fd, what | EV_PERSIST, probe_io, h);
	if (h->ev == NULL || event_add(h->ev, NULL) == -1)
		return -1;
	h->ev_fd = fd;
	h->ev_what = what;
	return 0;
}

/* The primary's position now, kept to measure standbys against. */
static void
sample_add(struct pghosts *hs, uint64_t lsn)
{
	size_t last = (hs->next_sample + PGH_SAMPLES - 1) % PGH_SAMPLES;

	if (hs->nsamples > 0 && hs->samples[last].lsn == lsn)
		return;		/* nothing new: the first time it was seen stands */
	hs->samples[hs->next_sample].at = now_ms();
	hs->samples[hs->next_sample].lsn = lsn;
	hs->next_sample = (hs->next_sample + 1) % PGH_SAMPLES;
	if (hs->nsamples < PGH_SAMPLES)
		hs->nsamples++;
}

/*
 * How long ago the primary first reported a position the standby has not replayed:
 * 0 when it has replayed the latest.  A standby behind even the oldest position kept
 * has been behind since it was first seen so (behind_since), however long the
 * primary has written since.  -1: no primary reported.
 */
static int64_t
sample_lag(const struct pghosts *hs, struct pghost *h, uint64_t replayed)
{
	size_t i, k;
	int64_t at = -1;
	bool all = true;

	if (hs->nsamples == 0 || primary_of((struct pghosts *)hs) == NULL)
		return -1;
	for (i = 0; i < hs->nsamples; i++) {
		k = (hs->next_sample + PGH_SAMPLES - 1 - i) % PGH_SAMPLES;
		if (hs->samples[k].lsn <= replayed) {
			all = false;
			break;
		}
		at = hs->samples[k].at;
	}
	if (at < 0) {
		h->behind_since = 0;
		return 0;
	}
	if (!all || h->behind_since == 0 || at < h->behind_since)
		h->behind_since = at;
	return now_ms() - h->behind_since;
}

/* The check's answer. */
static void
probe_answer(struct pghost *h, PGresult *res)
{
	struct pghosts *hs = h->hs;
	bool before = pghosts_usable(hs, (int)h->idx), was_down = h->down;
	bool first = h->server == PGH_UNKNOWN;
	enum pgh_server server;
	long long max = hs->pool->rc->max_replica_lag;
	uint64_t lsn;
	int64_t lag;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 3) {
		probe_failed(h, PQresultErrorMessage(res));
		return;
	}
	server = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? PGH_STANDBY : PGH_PRIMARY;
	lsn = pghosts_lsn_parse(PQgetvalue(res, 0, 1));
	if (server == PGH_PRIMARY) {
		sample_add(hs, lsn);
		lag = 0;
	} else if ((lag = sample_lag(hs, h, lsn)) < 0)
		lag = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	if (h->down)
		log_notice("pool %016llx: server %s is up", (unsigned long long)hs->pool->rc->hash,
		    h->name);
	h->down = false;
	h->down_since = 0;
	h->last_error[0] = '\0';
	if (h->server != server && h->server != PGH_UNKNOWN)
		log_notice("pool %016llx: server %s is now a %s",
		    (unsigned long long)hs->pool->rc->hash, h->name,
		    server == PGH_PRIMARY ? "primary" : "standby");
	if (max > 0 && server == PGH_STANDBY && (lag > max) != (h->lag_ms > max)) {
		if (lag > max)
			log_info("pool %016llx: server %s is %lldms behind (max_replica_lag "
			    "%lldms): no new requests until it catches up",
			    (unsigned long long)hs->pool->rc->hash, h->name, (long long)lag, max);
		else if (h->lag_ms >= 0)
			log_info("pool %016llx: server %s caught up",
			    (unsigned long long)hs->pool->rc->hash, h->name);
	}
	h->server = server;
	h->lag_ms = lag;
	/* A server back from down may be another (a rebuilt standby): believed anew. */
	if (lsn > h->lsn || server == PGH_PRIMARY || was_down)
		h->lsn = lsn;
	if (was_down || first || before != pghosts_usable(hs, (int)h->idx) ||
	    hs->pool->reqs[REQ_QUEUED].n > 0)
		hosts_changed(hs);
}

/* Sends the check's query on its open connection. */
static void
probe_start(struct pghost *h)
{
	h->again = false;
	if (!PQsendQuery(h->pg, PGH_QUERY)) {
		probe_failed(h, PQerrorMessage(h->pg));
		return;
	}
	h->phase = PROBE_ASKING;
	h->since = now_ms();
	h->asked_us = now_us();
	if (PQflush(h->pg) == -1 || probe_watch(h, EV_READ) == -1)
		probe_failed(h, PQerrorMessage(h->pg));
}

/* Opens the check's connection: the pool's parameters with this one server. */
static void
probe_connect(struct pghost *h)
{
	char **kw, **val;
	size_t i;

	params_for(h->hs, &h, 1, "any", &kw, &val);
	/* Told apart from the role's own connections in pg_stat_activity. */
	for (i = 0; kw[i] != NULL; i++)
		if (strcmp(kw[i], "application_name") == 0) {
			free(val[i]);
			val[i] = xstrdup("dbmd monitor");
		}
	h->pg = PQconnectStartParams((const char *const *)kw, (const char *const *)val, 0);
	strv_free(kw);
	strv_free(val);
	h->phase = PROBE_CONNECTING;
	h->since = now_ms();
	if (h->pg == NULL) {
		probe_failed(h, "out of memory");
		return;
	}
	if (PQstatus(h->pg) == CONNECTION_BAD) {
		probe_failed(h, PQerrorMessage(h->pg));
		return;
	}
	PQsetnonblocking(h->pg, 1);
	if (probe_watch(h, EV_WRITE) == -1)
		probe_failed(h, PQerrorMessage(h->pg));
}

static void
probe_connect_step(struct pghost *h)
{
	switch (PQconnectPoll(h->pg)) {
	case PGRES_POLLING_READING:
		if (probe_watch(h, EV_READ) == -1)
			probe_failed(h, "cannot watch the server's socket");
		return;
	case PGRES_POLLING_WRITING:
		if (probe_watch(h, EV_WRITE) == -1)
			probe_failed(h, "cannot watch the server's socket");
		return;
	case PGRES_POLLING_OK:
		h->phase = PROBE_READY;
		probe_start(h);
		return;
	default:
		probe_failed(h, PQerrorMessage(h->pg));
		return;
	}
}

static void
probe_read(struct pghost *h)
{
	PGresult *res;

	if (!PQconsumeInput(h->pg)) {
		probe_failed(h, PQerrorMessage(h->pg));
		return;
	}
	if (h->phase != PROBE_ASKING)
		return;		/* an idle check's socket: notices, or the server going */
	while (!PQisBusy(h->pg)) {
		if ((res = PQgetResult(h->pg)) != NULL) {
			if (h->answer != NULL)
				PQclear(h->answer);
			h->answer = res;	/* the last result is the query's */
			continue;
		}
		h->phase = PROBE_READY;
		if ((res = h->answer) == NULL) {
			probe_failed(h, "the server's answer was empty");
			return;
		}
		h->answer = NULL;
		probe_answer(h, res);
		PQclear(res);
		if (h->phase == PROBE_READY && h->again) {
			h->again = false;
			pghosts_hurry(h->hs, false);
		}
		return;
	}
}

/* Each server's check: its connection's events; the pool's tick and hurry timers. */
static void
probe_io(evutil_socket_t fd, short what, void *arg)
{
	struct pghosts *hs;
	struct pghost *h;
	int64_t now = now_ms();
	size_t i;

	(void)what;
	if (fd >= 0) {
		h = arg;
		if (h->phase == PROBE_CONNECTING)
			probe_connect_step(h);
		else
			probe_read(h);
		return;
	}
	hs = arg;
	for (i = 0; i < hs->n; i++) {
		h = &hs->h[i];
		switch (h->phase) {
		case PROBE_OFF:
			probe_connect(h);
			break;
		case PROBE_READY:
			probe_start(h);
			break;
		case PROBE_CONNECTING:
		case PROBE_ASKING:
			if (now - h->since > hs->pool->rc->connect_timeout)
				probe_failed(h, h->phase == PROBE_ASKING ? "no answer within "
				    "connect_timeout" : "timeout connecting (connect_timeout)");
			break;
		}
	}
	/* Connections busy when a server came back move to it once they are free. */
	if (pghosts_overloaded(hs) >= 0)
		hosts_changed(hs);
}
