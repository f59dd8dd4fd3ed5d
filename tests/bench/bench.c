/* bench.c: one benchmark measurement of dbmd, direct libpq, PgBouncer and their baselines. */

/*
 * Every path runs the same workload code: a workload is a function of one
 * client that calls its path's driver (libpq for direct, PgBouncer and
 * connect-per-query, libdbmclient for dbmd, and the two baselines of the
 * SQLite row: a bare Unix-socket echo and SQLite in process).  One run of
 * this program is one cell of the matrix: N client threads, each with its
 * own connection, run the workload back to back through a warm-up and then
 * several timed repetitions; each operation's latency is recorded, and the
 * median over the repetitions of the throughput and of the p50/p99 latency
 * is printed as one tab-separated RESULT line.  tests/bench/run.sh runs the
 * matrix against servers it starts and turns those lines into the report.
 *
 * The memory probe (memprobe) opens N idle connections to a server and
 * reads the server's resident set before and after.
 *
 * The stream workloads also read this program's own peak resident set
 * (VmHWM, reset before the cell) beside the server's: stream holds the
 * whole result, stream-chunk never more than --chunk rows of it.
 *
 * write-read is one operation of two statements on two handles of the same
 * client: an INSERT through the --write-role handle, then the SELECT of the
 * row it made through the --role handle (a read role on standbys, with or
 * without read_your_writes).  A read that does not find the row is stale;
 * the cell counts those and how long the writes took, besides the pair.
 */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "dbmclient.h"

#define POINT_SQL	"SELECT abalance FROM pgbench_accounts WHERE aid = $1"
#define SELECT1_SQL	"SELECT 1"
/* Constant text, so that the server's work per row is the same on every path. */
#define STREAM_SQL	"SELECT i, 'abcdefghijklmnopqrstuvwxyz012345' AS filler " \
			"FROM generate_series(1, $1::int) AS i"
#define STREAM_FILLER	32		/* bytes of the filler column */
#define STREAM_CHUNK	1000		/* stream-chunk: rows per piece, unless --chunk */
/* write-read: the table run.sh makes, id bigserial primary key and v text. */
#define PAIR_WRITE_SQL	"INSERT INTO bench_ryw (v) VALUES ($1) RETURNING id"
#define PAIR_READ_SQL	"SELECT v FROM bench_ryw WHERE id = $1"

#define MAX_CLIENTS	1024
#define MAX_REPS	32
#define CACHE_AGE_MS	60000UL		/* what the cached-select asks for; cache.ttl is 60s */
#define WATCHDOG_S	120		/* beyond the planned time, a measurement is stuck */

/* The phases a measurement goes through; clients label each operation with the one it began in. */
enum phase {
	PHASE_SETUP = 0,		/* clients connect */
	PHASE_WARMUP = 1,		/* operations run but are not recorded */
	PHASE_STOP = 2,			/* clients finish their operation and leave */
	PHASE_REP0 = 3			/* PHASE_REP0 + r: repetition r is being recorded */
};

enum workload {
	WL_SELECT1,			/* SELECT 1 */
	WL_POINT,			/* SELECT of one pgbench_accounts row by a random aid */
	WL_CACHED,			/* the point select over a few keys, cache accepted */
	WL_CACHED_MISS,			/* the same over every key: almost all misses */
	WL_PING,			/* dbm_ping: a round trip to dbmd and no database */
	WL_OPEN_DISPOSE,		/* dbm_open + dbm_dispose, or connect + close */
	WL_STREAM,			/* one SELECT of opts.rows rows, read whole */
	WL_STREAM_CHUNK,		/* the same, read opts.chunk rows at a time */
	WL_WRITE_READ,			/* an INSERT on one handle, its row read on another */
	WL_MAX_
};

static const char *const workload_names[WL_MAX_] = {
	"select1", "point", "cached", "cached-miss", "ping", "open-dispose", "stream",
	"stream-chunk", "write-read"
};

struct opts {
	enum workload	 wl;
	const char	*path;
	const char	*label;		/* the path's name in the output, if not path */
	int		 clients;
	double		 duration;	/* seconds of each repetition */
	double		 warmup;	/* seconds before the first */
	int		 reps;
	int		 pool_size;	/* recorded only: the servers were started with it */
	long		 rows;		/* stream: rows; memprobe: connections */
	long		 chunk;		/* stream-chunk: rows per piece */
	long		 accounts;	/* rows of pgbench_accounts */
	int		 cache_keys;	/* distinct aids of the cached select */
	const char	*direct;	/* libpq conninfo of PostgreSQL */
	const char	*pgbouncer;	/* libpq conninfo of PgBouncer */
	const char	*dbmd;		/* dbmd's socket */
	const char	*env;		/* dbmd environment on PostgreSQL */
	const char	*sqlite_env;	/* dbmd environment on the SQLite file */
	const char	*role;
	const char	*write_role;	/* write-read: the role of the writing handle */
	const char	*sqlite_db;	/* the SQLite file, for the in-process baseline */
	pid_t		 pid;		/* a server whose memory is read, or 0 */
};

struct client;

/*
 * What a path does.  exec runs one statement and returns its row count in
 * *rows (and whether dbmd's cache answered in *hit); stream does the same
 * reading the rows a piece of at most chunk at a time, each piece let go
 * before the next; every call returns 0 or -1 with the reason in the
 * client's err.  A NULL entry: not on this path.
 */
struct driver {
	const char	*name;
	int		(*open)(struct client *);
	int		(*exec)(struct client *, const char *, int, const char *const *,
			    unsigned long, long *, bool *);
	int		(*stream)(struct client *, const char *, int, const char *const *,
			    unsigned long, long *);
	int		(*cycle)(struct client *);	/* open + dispose, connect + close */
	int		(*ping)(struct client *);
	int		(*pair)(struct client *, const char *, bool *, uint64_t *);
	void		(*close)(struct client *);
};

/* A growing array of latencies in ns, one per repetition and client. */
struct samples {
	uint64_t	*v;
	size_t		 n;
	size_t		 cap;
};

struct client {
	const struct driver	*drv;
	const struct opts	*o;
	const char		*conninfo;	/* libpq paths */
	const char		*env;		/* dbmd paths */
	PGconn			*pg;
	dbm_conn		*dc;
	dbm_handle		*dh;
	dbm_handle		*dw;		/* write-read: the writing handle */
	sqlite3			*db;
	sqlite3_stmt		*st;		/* the prepared statement of st_sql */
	const char		*st_sql;
	int			 fd;		/* echo: our end of the socket pair */
	int			 peer_fd;	/* echo: the echo thread's end */
	pthread_t		 echo_thread;
	bool			 echo_running;
	uint64_t		 rng;
	pthread_t		 thread;
	struct samples		 lat[MAX_REPS];
	uint64_t		 hits[MAX_REPS];	/* cached: operations the cache answered */
	uint64_t		 stale[MAX_REPS];	/* write-read: reads that missed the row */
	uint64_t		 write_ns[MAX_REPS];	/* write-read: time in the writes */
	bool			 op_stale;	/* the last operation's read was stale */
	uint64_t		 op_write_ns;	/* and its write took */
	bool			 failed;
	char			 err[512];
};

static _Atomic int	 phase = PHASE_SETUP;
static _Atomic int	 nfailed;
static pthread_barrier_t start_barrier;

static void	usage(void) __attribute__((noreturn));
static void	die(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
static void	client_error(struct client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
die(const char *fmt, ...)
{
	va_list	 ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
client_error(struct client *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: cheap and per thread, so picking an aid costs no lock. */
static uint64_t
client_rand(struct client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 2685821657736338717ULL;
}

/* libpq: direct and PgBouncer, the connection kept open. */

/*
 * Statements without parameters go through PQexec, with parameters through
 * PQexecParams: what an application writes with libpq.
 */
static int
pq_run(struct client *c, PGconn *pg, const char *sql, int np, const char *const *params,
    long *rows)
{
	PGresult	*res;
	int		 st;

	if (np == 0)
		res = PQexec(pg, sql);
	else
		res = PQexecParams(pg, sql, np, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		client_error(c, "%s", res != NULL ? PQresultErrorMessage(res) :
		    PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	*rows = PQntuples(res);
	PQclear(res);
	return 0;
}

static PGconn *
pq_connect(struct client *c)
{
	PGconn	*pg;

	pg = PQconnectdb(c->conninfo);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		client_error(c, "connecting to \"%s\": %s", c->conninfo,
		    pg != NULL ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

static int
pq_open(struct client *c)
{
	return (c->pg = pq_connect(c)) == NULL ? -1 : 0;
}

static int
pq_exec(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long cache_ms, long *rows, bool *hit)
{
	(void)cache_ms;
	*hit = false;
	return pq_run(c, c->pg, sql, np, params, rows);
}

/*
 * libpq's way of not holding a whole result: single-row mode (libpq 17's
 * chunked mode when it is there), each result freed as soon as it is counted.
 */
static int
pq_stream(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long chunk, long *rows)
{
	PGresult	*res;
	long		 n = 0;
	int		 st, failed = 0;

	if (!PQsendQueryParams(c->pg, sql, np, NULL, params, NULL, NULL, 0)) {
		client_error(c, "%s", PQerrorMessage(c->pg));
		return -1;
	}
#ifdef LIBPQ_HAS_CHUNK_MODE
	if (!PQsetChunkedRowsMode(c->pg, (int)chunk))
#else
	(void)chunk;
	if (!PQsetSingleRowMode(c->pg))
#endif
	{
		client_error(c, "cannot stream: %s", PQerrorMessage(c->pg));
		failed = 1;
	}
	while ((res = PQgetResult(c->pg)) != NULL) {
		st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK
#ifdef LIBPQ_HAS_CHUNK_MODE
		    || st == PGRES_TUPLES_CHUNK
#endif
		    )
			n += PQntuples(res);
		else if (!failed) {
			client_error(c, "%s", PQresultErrorMessage(res));
			failed = 1;
		}
		PQclear(res);
	}
	*rows = n;
	return failed ? -1 : 0;
}

/* What open-dispose is for libpq: a connection made and closed. */
static int
pq_cycle(struct client *c)
{
	PGconn	*pg;

	if ((pg = pq_connect(c)) == NULL)
		return -1;
	PQfinish(pg);
	return 0;
}

static void
pq_close(struct client *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
}

/* connect-per-query: a libpq connection for each statement. */

static int
cpq_open(struct client *c)
{
	(void)c;
	return 0;
}

static int
cpq_exec(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long cache_ms, long *rows, bool *hit)
{
	PGconn	*pg;
	int	 r;

	(void)cache_ms;
	*hit = false;
	if ((pg = pq_connect(c)) == NULL)
		return -1;
	r = pq_run(c, pg, sql, np, params, rows);
	PQfinish(pg);
	return r;
}

static void
cpq_close(struct client *c)
{
	(void)c;
}

/* libdbmclient: dbmd, one connection and one handle per client. */

static int
dbm_drv_open(struct client *c)
{
	c->dc = dbm_connect(c->o->dbmd);
	if (!dbm_connected(c->dc)) {
		client_error(c, "connecting to dbmd at %s: %s", c->o->dbmd, dbm_errmsg(c->dc));
		return -1;
	}
	if ((c->dh = dbm_open(c->dc, c->env, c->o->role, NULL)) == NULL) {
		client_error(c, "opening %s/%s: %s", c->env, c->o->role, dbm_errmsg(c->dc));
		return -1;
	}
	if (c->o->wl == WL_WRITE_READ &&
	    (c->dw = dbm_open(c->dc, c->env, c->o->write_role, NULL)) == NULL) {
		client_error(c, "opening %s/%s: %s", c->env, c->o->write_role,
		    dbm_errmsg(c->dc));
		return -1;
	}
	return 0;
}

/* One statement on handle h; the result, succeeded, or NULL with the reason in c->err. */
static dbm_result *
dbm_drv_run(struct client *c, dbm_handle *h, const char *sql, int np,
    const char *const *params, unsigned long cache_ms)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_result		*res;

	if (cache_ms != 0) {
		eo.cache_max_age_ms = cache_ms;
		res = dbm_exec_opts(h, sql, np, params, &eo);
	} else
		res = dbm_exec(h, sql, np, params);
	if (res == NULL) {
		client_error(c, "dbmd: %s", dbm_errmsg(c->dc));
		return NULL;
	}
	if (dbm_result_status(res) != DBM_OK) {
		client_error(c, "dbmd: %s (%s)", dbm_result_errmsg(res), dbm_result_sqlstate(res));
		dbm_result_free(res);
		return NULL;
	}
	return res;
}

static int
dbm_drv_exec(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long cache_ms, long *rows, bool *hit)
{
	dbm_result	*res;

	if ((res = dbm_drv_run(c, c->dh, sql, np, params, cache_ms)) == NULL)
		return -1;
	*rows = dbm_nrows(res);
	*hit = dbm_cache_state(res) == DBM_CACHE_HIT;
	dbm_result_free(res);
	return 0;
}

/*
 * write-read: value inserted through the writing handle, then its row read back by
 * id through the reading one.  No row is a stale read (*stale), not a failure: that
 * is what the cell measures; a row with another value is a failure.
 */
static int
dbm_drv_pair(struct client *c, const char *value, bool *stale, uint64_t *write_ns)
{
	const char	*params[1] = { value };
	char		 id[32];
	dbm_result	*res;
	uint64_t	 t0 = now_ns();
	int		 r = 0;

	if ((res = dbm_drv_run(c, c->dw, PAIR_WRITE_SQL, 1, params, 0)) == NULL)
		return -1;
	if (dbm_nrows(res) != 1 || dbm_value(res, 0, 0) == NULL) {
		client_error(c, "the INSERT returned %d rows", dbm_nrows(res));
		dbm_result_free(res);
		return -1;
	}
	snprintf(id, sizeof(id), "%s", dbm_value(res, 0, 0));
	dbm_result_free(res);
	*write_ns = now_ns() - t0;
	params[0] = id;
	if ((res = dbm_drv_run(c, c->dh, PAIR_READ_SQL, 1, params, 0)) == NULL)
		return -1;
	*stale = dbm_nrows(res) == 0;
	if (!*stale && (dbm_nrows(res) != 1 || dbm_value(res, 0, 0) == NULL ||
	    strcmp(dbm_value(res, 0, 0), value) != 0)) {
		client_error(c, "row %s read back as %d rows, not the value %s", id,
		    dbm_nrows(res), value);
		r = -1;
	}
	dbm_result_free(res);
	return r;
}

/* dbm_send_exec_params with row_chunk, then the pieces from dbm_get_result. */
static int
dbm_drv_stream(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long chunk, long *rows)
{
	struct dbm_exec_opts	 eo = DBM_EXEC_OPTS_INIT;
	dbm_result		*res;
	long			 n = 0;
	int			 code, failed = 0;

	eo.row_chunk = chunk;
	if ((code = dbm_send_exec_params(c->dh, sql, np, params, NULL, NULL, &eo)) != DBM_OK) {
		client_error(c, "dbmd: %s: %s", dbm_strerror(code), dbm_errmsg(c->dc));
		return -1;
	}
	while ((res = dbm_get_result(c->dh)) != NULL) {
		if (dbm_result_status(res) == DBM_OK)
			n += dbm_nrows(res);
		else if (!failed) {
			client_error(c, "dbmd: %s (%s)", dbm_result_errmsg(res),
			    dbm_result_sqlstate(res));
			failed = 1;
		}
		dbm_result_free(res);
	}
	if (!failed && !dbm_connected(c->dc)) {
		client_error(c, "dbmd: %s", dbm_errmsg(c->dc));
		failed = 1;
	}
	*rows = n;
	return failed ? -1 : 0;
}

static int
dbm_drv_cycle(struct client *c)
{
	dbm_handle	*h;
	int		 r;

	if ((h = dbm_open(c->dc, c->env, c->o->role, NULL)) == NULL) {
		client_error(c, "opening %s/%s: %s", c->env, c->o->role, dbm_errmsg(c->dc));
		return -1;
	}
	if ((r = dbm_dispose(h)) != DBM_OK) {
		client_error(c, "disposing: %s", dbm_errmsg(c->dc));
		return -1;
	}
	return 0;
}

static int
dbm_drv_ping(struct client *c)
{
	if (dbm_ping(c->dc) != DBM_OK) {
		client_error(c, "ping: %s", dbm_errmsg(c->dc));
		return -1;
	}
	return 0;
}

static void
dbm_drv_close(struct client *c)
{
	dbm_disconnect(c->dc);		/* disposes the handles */
	c->dc = NULL;
	c->dh = NULL;
	c->dw = NULL;
}

/*
 * echo: the bare Unix-socket round trip.  A thread of ours answers each
 * message with the same bytes, so a request is one write and one read on each
 * side, the least any broker's round trip can cost.
 */

static void *
echo_main(void *arg)
{
	struct client	*c = arg;
	char		 buf[4096];
	ssize_t		 n, off, w;

	while ((n = read(c->peer_fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += w)
			if ((w = write(c->peer_fd, buf + off, (size_t)(n - off))) <= 0)
				return NULL;
	}
	return NULL;
}

static int
echo_open(struct client *c)
{
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		client_error(c, "socketpair: %s", strerror(errno));
		return -1;
	}
	c->fd = sv[0];
	c->peer_fd = sv[1];
	if (pthread_create(&c->echo_thread, NULL, echo_main, c) != 0) {
		client_error(c, "cannot start the echo thread");
		return -1;
	}
	c->echo_running = true;
	return 0;
}

/* Sends the statement and its parameters, as a request would carry them, and reads them back. */
static int
echo_exec(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long cache_ms, long *rows, bool *hit)
{
	char	 msg[1024], back[1024];
	size_t	 len, got;
	ssize_t	 n;
	int	 i;

	(void)cache_ms;
	len = (size_t)snprintf(msg, sizeof(msg), "%s", sql);
	for (i = 0; i < np && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s", params[i]);
	if (len >= sizeof(msg))
		len = sizeof(msg) - 1;
	if (write(c->fd, msg, len) != (ssize_t)len) {
		client_error(c, "echo write: %s", strerror(errno));
		return -1;
	}
	for (got = 0; got < len; got += (size_t)n)
		if ((n = read(c->fd, back + got, len - got)) <= 0) {
			client_error(c, "echo read: %s", n == 0 ? "closed" : strerror(errno));
			return -1;
		}
	*rows = 1;
	*hit = false;
	return 0;
}

static void
echo_close(struct client *c)
{
	if (c->fd != -1)
		shutdown(c->fd, SHUT_WR);
	if (c->echo_running)
		pthread_join(c->echo_thread, NULL);
	if (c->fd != -1)
		close(c->fd);
	if (c->peer_fd != -1)
		close(c->peer_fd);
	c->fd = c->peer_fd = -1;
	c->echo_running = false;
}

/*
 * sqlite: the same statement on the same file in this process, prepared once
 * and bound as dbmd binds (text parameters), each value read as text.
 */

static int
sqlite_open(struct client *c)
{
	if (sqlite3_open_v2(c->o->sqlite_db, &c->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		client_error(c, "sqlite %s: %s", c->o->sqlite_db, c->db != NULL ?
		    sqlite3_errmsg(c->db) : "out of memory");
		return -1;
	}
	return 0;
}

static int
sqlite_exec(struct client *c, const char *sql, int np, const char *const *params,
    unsigned long cache_ms, long *rows, bool *hit)
{
	int	 i, rc, ncols;
	long	 n = 0;

	(void)cache_ms;
	*hit = false;
	if (c->st_sql != sql) {
		sqlite3_finalize(c->st);
		c->st = NULL;
		if (sqlite3_prepare_v2(c->db, sql, -1, &c->st, NULL) != SQLITE_OK) {
			client_error(c, "sqlite prepare: %s", sqlite3_errmsg(c->db));
			return -1;
		}
		c->st_sql = sql;
	}
	for (i = 0; i < np; i++)
		sqlite3_bind_text(c->st, i + 1, params[i], -1, SQLITE_STATIC);
	ncols = sqlite3_column_count(c->st);
	while ((rc = sqlite3_step(c->st)) == SQLITE_ROW) {
		for (i = 0; i < ncols; i++)
			(void)sqlite3_column_text(c->st, i);
		n++;
	}
	sqlite3_reset(c->st);
	sqlite3_clear_bindings(c->st);
	if (rc != SQLITE_DONE) {
		client_error(c, "sqlite: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	*rows = n;
	return 0;
}

static void
sqlite_close(struct client *c)
{
	sqlite3_finalize(c->st);
	sqlite3_close(c->db);
	c->st = NULL;
	c->db = NULL;
}

static const struct driver drv_libpq = {
	"libpq", pq_open, pq_exec, pq_stream, pq_cycle, NULL, NULL, pq_close
};
static const struct driver drv_cpq = {
	"connect-per-query", cpq_open, cpq_exec, NULL, NULL, NULL, NULL, cpq_close
};
static const struct driver drv_dbm = {
	"libdbmclient", dbm_drv_open, dbm_drv_exec, dbm_drv_stream, dbm_drv_cycle,
	dbm_drv_ping, dbm_drv_pair, dbm_drv_close
};
static const struct driver drv_echo = {
	"echo", echo_open, echo_exec, NULL, NULL, NULL, NULL, echo_close
};
static const struct driver drv_sqlite = {
	"sqlite", sqlite_open, sqlite_exec, NULL, NULL, NULL, NULL, sqlite_close
};

/* Points a client at its path's driver and server. */
static void
client_init(struct client *c, const struct opts *o, int i)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->fd = c->peer_fd = -1;
	c->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ (uint64_t)getpid();
	if (strcmp(o->path, "direct") == 0) {
		c->drv = &drv_libpq;
		c->conninfo = o->direct;
	} else if (strcmp(o->path, "pgbouncer") == 0) {
		c->drv = &drv_libpq;
		c->conninfo = o->pgbouncer;
	} else if (strcmp(o->path, "connect-per-query") == 0) {
		c->drv = &drv_cpq;
		c->conninfo = o->direct;
	} else if (strcmp(o->path, "dbmd") == 0) {
		c->drv = &drv_dbm;
		c->env = o->env;
	} else if (strcmp(o->path, "dbmd-sqlite") == 0) {
		c->drv = &drv_dbm;
		c->env = o->sqlite_env;
	} else if (strcmp(o->path, "echo") == 0)
		c->drv = &drv_echo;
	else if (strcmp(o->path, "sqlite") == 0)
		c->drv = &drv_sqlite;
	else
		die("unknown path %s", o->path);
	if ((c->conninfo != NULL && c->conninfo[0] == '\0') ||
	    (c->drv == &drv_dbm && (o->dbmd == NULL || c->env == NULL)) ||
	    (c->drv == &drv_sqlite && o->sqlite_db == NULL))
		die("path %s needs its server's address (see usage)", o->path);
}

/* The workloads: one operation each, the same code on every path. */

static int
workload_op(struct client *c, bool *hit)
{
	const struct opts	*o = c->o;
	char			 arg[32];
	const char		*params[1] = { arg };
	long			 rows = -1, want = 1;
	int			 r = -1;

	*hit = false;
	switch (o->wl) {
	case WL_SELECT1:
		r = c->drv->exec(c, SELECT1_SQL, 0, NULL, 0, &rows, hit);
		break;
	case WL_POINT:
		snprintf(arg, sizeof(arg), "%ld", (long)(client_rand(c) % (uint64_t)o->accounts) + 1);
		r = c->drv->exec(c, POINT_SQL, 1, params, 0, &rows, hit);
		break;
	case WL_CACHED:
		snprintf(arg, sizeof(arg), "%ld",
		    (long)(client_rand(c) % (uint64_t)o->cache_keys) + 1);
		r = c->drv->exec(c, POINT_SQL, 1, params, CACHE_AGE_MS, &rows, hit);
		break;
	case WL_CACHED_MISS:
		/* Keys drawn from every account overwhelm a 200-entry cache: misses. */
		snprintf(arg, sizeof(arg), "%ld", (long)(client_rand(c) % (uint64_t)o->accounts) + 1);
		r = c->drv->exec(c, POINT_SQL, 1, params, CACHE_AGE_MS, &rows, hit);
		break;
	case WL_PING:
		r = c->drv->ping(c);
		rows = want;
		break;
	case WL_OPEN_DISPOSE:
		r = c->drv->cycle(c);
		rows = want;
		break;
	case WL_STREAM:
		snprintf(arg, sizeof(arg), "%ld", o->rows);
		want = o->rows;
		r = c->drv->exec(c, STREAM_SQL, 1, params, 0, &rows, hit);
		break;
	case WL_STREAM_CHUNK:
		snprintf(arg, sizeof(arg), "%ld", o->rows);
		want = o->rows;
		r = c->drv->stream(c, STREAM_SQL, 1, params, (unsigned long)o->chunk, &rows);
		break;
	case WL_WRITE_READ:
		snprintf(arg, sizeof(arg), "%" PRIu64, client_rand(c));
		r = c->drv->pair(c, arg, &c->op_stale, &c->op_write_ns);
		rows = want;
		break;
	case WL_MAX_:
		break;
	}
	if (r == 0 && rows != want) {
		client_error(c, "%s returned %ld rows, not %ld", workload_names[o->wl], rows, want);
		r = -1;
	}
	return r;
}

static void
samples_add(struct client *c, struct samples *s, uint64_t v)
{
	uint64_t	*nv;
	size_t		 ncap;

	if (s->n == s->cap) {
		ncap = s->cap == 0 ? 4096 : s->cap * 2;
		if ((nv = realloc(s->v, ncap * sizeof(*nv))) == NULL) {
			client_error(c, "out of memory");
			c->failed = true;
			return;
		}
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = v;
}

/*
 * A client thread: connect, wait for everyone, then run operations until
 * told to stop, each labelled with the phase it began in.  A failure stops
 * the whole measurement: a cell with errors in it measures nothing useful.
 */
static void *
client_main(void *arg)
{
	struct client	*c = arg;
	uint64_t	 t0, t1;
	bool		 hit;
	int		 ph;

	if (c->drv->open(c) == -1) {
		c->failed = true;
		atomic_fetch_add(&nfailed, 1);
	}
	pthread_barrier_wait(&start_barrier);
	while (!c->failed && (ph = atomic_load(&phase)) != PHASE_STOP) {
		t0 = now_ns();
		if (workload_op(c, &hit) == -1) {
			c->failed = true;
			atomic_fetch_add(&nfailed, 1);
			break;
		}
		t1 = now_ns();
		if (ph >= PHASE_REP0) {
			samples_add(c, &c->lat[ph - PHASE_REP0], t1 - t0);
			if (hit)
				c->hits[ph - PHASE_REP0]++;
			if (c->o->wl == WL_WRITE_READ) {
				c->stale[ph - PHASE_REP0] += c->op_stale;
				c->write_ns[ph - PHASE_REP0] += c->op_write_ns;
			}
		}
	}
	c->drv->close(c);
	return NULL;
}

/* Sleeps for seconds, or less if a client fails. */
static void
wait_phase(double seconds)
{
	uint64_t	 end = now_ns() + (uint64_t)(seconds * 1e9);
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };

	while (now_ns() < end && atomic_load(&nfailed) == 0)
		nanosleep(&ts, NULL);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of sorted v. */
static double
percentile(const uint64_t *v, size_t n, double p)
{
	size_t	 rank = (size_t)(p * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1];
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* /proc/pid/status's line "key: N kB", in kB, or -1. */
static long
proc_status_kb(pid_t pid, const char *key)
{
	char	 path[64], line[256];
	size_t	 klen = strlen(key);
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* Resets pid's peak resident set (VmHWM) to its current size; needs root or the same user. */
static bool
proc_reset_hwm(pid_t pid)
{
	char	 path[64];
	FILE	*f;
	bool	 ok;

	snprintf(path, sizeof(path), "/proc/%ld/clear_refs", (long)pid);
	if ((f = fopen(path, "w")) == NULL)
		return false;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}

/*
 * One cell: start the clients, warm up, record the repetitions, and print
 * the medians.  Returns the exit status.
 */
static int
run_measurement(const struct opts *o)
{
	struct client	*cs;
	uint64_t	 rep_ns[MAX_REPS], t, *all;
	double		 tput[MAX_REPS], p50[MAX_REPS], p99[MAX_REPS], mean[MAX_REPS];
	double		 hitpct[MAX_REPS], write_us[MAX_REPS], sum;
	uint64_t	 total_stale = 0;
	size_t		 n, total_n = 0;
	long		 rss_before = -1, hwm_after = -1, self_before = -1, self_after = -1;
	struct rusage	 ru;
	bool		 hwm_reset = false, self_reset = false, streams;
	int		 i, r, nreps = 0;
	char		 extra[256];

	if ((cs = calloc((size_t)o->clients, sizeof(*cs))) == NULL)
		die("out of memory");
	for (i = 0; i < o->clients; i++)
		client_init(&cs[i], o, i);
	if ((o->wl == WL_PING || o->wl == WL_CACHED || o->wl == WL_CACHED_MISS) &&
	    cs[0].drv != &drv_dbm)
		die("%s runs only on dbmd's paths", workload_names[o->wl]);
	if (o->wl == WL_OPEN_DISPOSE && cs[0].drv->cycle == NULL)
		die("open-dispose does not run on path %s", o->path);
	if (o->wl == WL_STREAM_CHUNK && cs[0].drv->stream == NULL)
		die("stream-chunk does not run on path %s", o->path);
	if (o->wl == WL_WRITE_READ && cs[0].drv->pair == NULL)
		die("write-read runs only on dbmd's paths");
	streams = o->wl == WL_STREAM || o->wl == WL_STREAM_CHUNK;
	/* A server that stops answering must not hang `make bench`: SIGALRM ends us. */
	alarm((unsigned)(o->warmup + o->reps * o->duration) + WATCHDOG_S);
	if (o->pid != 0) {
		hwm_reset = proc_reset_hwm(o->pid);
		rss_before = proc_status_kb(o->pid, "VmRSS");
	}
	/* Our own memory too, for the streams: what the client holds of a result. */
	if (streams) {
		self_reset = proc_reset_hwm(getpid());
		self_before = proc_status_kb(getpid(), "VmRSS");
	}
	pthread_barrier_init(&start_barrier, NULL, (unsigned)o->clients + 1);
	for (i = 0; i < o->clients; i++)
		if (pthread_create(&cs[i].thread, NULL, client_main, &cs[i]) != 0)
			die("cannot start client thread %d", i);
	pthread_barrier_wait(&start_barrier);
	if (atomic_load(&nfailed) == 0) {
		atomic_store(&phase, PHASE_WARMUP);
		wait_phase(o->warmup);
		for (r = 0; r < o->reps && atomic_load(&nfailed) == 0; r++) {
			t = now_ns();
			atomic_store(&phase, PHASE_REP0 + r);
			wait_phase(o->duration);
			rep_ns[r] = now_ns() - t;
		}
	}
	atomic_store(&phase, PHASE_STOP);
	for (i = 0; i < o->clients; i++)
		pthread_join(cs[i].thread, NULL);
	if (o->pid != 0)
		hwm_after = proc_status_kb(o->pid, "VmHWM");
	if (streams)
		self_after = proc_status_kb(getpid(), "VmHWM");
	if (atomic_load(&nfailed) != 0) {
		for (i = 0; i < o->clients; i++)
			if (cs[i].failed) {
				fprintf(stderr, "bench: %s on %s, client %d: %s\n",
				    workload_names[o->wl], o->path, i, cs[i].err);
				break;
			}
		return 1;
	}

	for (r = 0; r < o->reps; r++) {
		uint64_t hits = 0, stale = 0, wns = 0;

		for (i = 0, n = 0; i < o->clients; i++)
			n += cs[i].lat[r].n;
		if (n == 0)
			continue;	/* an operation longer than the repetition */
		if ((all = malloc(n * sizeof(*all))) == NULL)
			die("out of memory");
		for (i = 0, n = 0; i < o->clients; i++) {
			memcpy(all + n, cs[i].lat[r].v, cs[i].lat[r].n * sizeof(*all));
			n += cs[i].lat[r].n;
			hits += cs[i].hits[r];
			stale += cs[i].stale[r];
			wns += cs[i].write_ns[r];
		}
		qsort(all, n, sizeof(*all), cmp_u64);
		for (sum = 0, i = 0; (size_t)i < n; i++)
			sum += (double)all[i];
		tput[nreps] = (double)n / ((double)rep_ns[r] / 1e9);
		p50[nreps] = percentile(all, n, 0.50) / 1e3;
		p99[nreps] = percentile(all, n, 0.99) / 1e3;
		mean[nreps] = sum / (double)n / 1e3;
		hitpct[nreps] = 100.0 * (double)hits / (double)n;
		total_stale += stale;
		write_us[nreps] = (double)wns / (double)n / 1e3;
		total_n += n;
		nreps++;
		free(all);
	}
	if (nreps == 0) {
		fprintf(stderr, "bench: %s on %s: no operation completed in a repetition\n",
		    workload_names[o->wl], o->path);
		return 1;
	}
	snprintf(extra, sizeof(extra), "pool=%d", o->pool_size);
	if (o->wl == WL_CACHED || o->wl == WL_CACHED_MISS)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " hit_pct=%.1f",
		    median(hitpct, nreps));
	else if (o->wl == WL_STREAM)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " rows=%ld",
		    o->rows);
	else if (o->wl == WL_STREAM_CHUNK)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " rows=%ld chunk=%ld", o->rows, o->chunk);
	else if (o->wl == WL_WRITE_READ)
		/* Every round's stale reads, counted: one with read_your_writes is a bug. */
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " stale=%" PRIu64 " write_mean_us=%.1f", total_stale, median(write_us, nreps));
	/* ru_maxrss as getrusage(2) tells it: the VmHWM reset lowers it too. */
	if (streams && getrusage(RUSAGE_SELF, &ru) == 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " client_rss_before_kb=%ld client_hwm_kb=%ld client_hwm_reset=%s "
		    "client_maxrss_kb=%ld", self_before, self_after, self_reset ? "yes" : "no",
		    ru.ru_maxrss);
	if (o->pid != 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " server_rss_before_kb=%ld server_hwm_kb=%ld hwm_reset=%s", rss_before,
		    hwm_after, hwm_reset ? "yes" : "no");
	/* The line run.sh reads: medians over the repetitions; a role other than primary
	 * is a path of its own (dbmd/ROLE). */
	printf("RESULT\t%s\t%s%s%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%zu\t%d\t%s\n",
	    workload_names[o->wl], o->label ? o->label : o->path,
	    o->label == NULL && strcmp(o->role, "primary") ? "/" : "",
	    o->label == NULL && strcmp(o->role, "primary") ? o->role : "", o->clients,
	    median(tput, nreps),
	    median(p50, nreps), median(p99, nreps), median(mean, nreps), total_n, nreps,
	    extra);
	fprintf(stderr, "  %-12s %-18s %3d clients: %10.1f ops/s  p50 %9.2f us  p99 %9.2f us"
	    "  %s\n", workload_names[o->wl], o->path, o->clients, median(tput, nreps),
	    median(p50, nreps), median(p99, nreps), extra);
	for (i = 0; i < o->clients; i++)
		for (r = 0; r < MAX_REPS; r++)
			free(cs[i].lat[r].v);
	free(cs);
	return 0;
}

/*
 * Raises the descriptor limit to fit want, the hard limit too when we may
 * (root).  Returns how many connections fit: want, or fewer.
 */
static long
raise_fd_limit(long want, char *note, size_t notesize)
{
	struct rlimit	 rl;
	rlim_t		 need = (rlim_t)want + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		struct rlimit	 hi = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &hi) == 0)
			rl = hi;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		snprintf(note, notesize, "fd hard limit %lu: %ld connections instead of %ld",
		    (unsigned long)rl.rlim_max, (long)rl.rlim_max - 64, want);
		need = rl.rlim_max;
		want = (long)rl.rlim_max - 64;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			die("setrlimit(%lu): %s", (unsigned long)need, strerror(errno));
	}
	return want;
}

/*
 * The idle-clients probe: the server's resident set before and after
 * opening n connections that complete their handshake and then sit idle.
 * For dbmd that is dbm_connect (HELLO answered); for PgBouncer a libpq
 * connection (startup answered with ReadyForQuery).  Stops early, and says
 * so, if the server refuses a connection.
 */
static int
run_memprobe(const struct opts *o)
{
	struct timespec	 settle = { 1, 0 };
	dbm_conn	**dcs = NULL;
	PGconn		**pcs = NULL;
	long		 n, k, before, after;
	char		 note[512] = "";
	bool		 is_dbmd;

	if (o->pid == 0)
		die("memprobe needs --pid of the server");
	is_dbmd = strcmp(o->path, "dbmd") == 0;
	if (!is_dbmd && strcmp(o->path, "pgbouncer") != 0 && strcmp(o->path, "direct") != 0)
		die("memprobe runs on dbmd, pgbouncer or direct");
	n = raise_fd_limit(o->rows, note, sizeof(note));
	alarm(WATCHDOG_S + (unsigned)(n / 100));
	if (is_dbmd)
		dcs = calloc((size_t)n, sizeof(*dcs));
	else
		pcs = calloc((size_t)n, sizeof(*pcs));
	if (dcs == NULL && pcs == NULL)
		die("out of memory");
	nanosleep(&settle, NULL);
	before = proc_status_kb(o->pid, "VmRSS");
	for (k = 0; k < n; k++) {
		if (is_dbmd) {
			dcs[k] = dbm_connect(o->dbmd);
			if (!dbm_connected(dcs[k])) {
				snprintf(note, sizeof(note), "connection %ld refused: %s", k + 1,
				    dbm_errmsg(dcs[k]));
				dbm_disconnect(dcs[k]);
				break;
			}
		} else {
			pcs[k] = PQconnectdb(strcmp(o->path, "direct") == 0 ? o->direct :
			    o->pgbouncer);
			if (PQstatus(pcs[k]) != CONNECTION_OK) {
				snprintf(note, sizeof(note), "connection %ld refused: %s", k + 1,
				    PQerrorMessage(pcs[k]));
				note[strcspn(note, "\n")] = '\0';
				PQfinish(pcs[k]);
				break;
			}
		}
	}
	nanosleep(&settle, NULL);
	after = proc_status_kb(o->pid, "VmRSS");
	printf("MEMPROBE\t%s\t%ld\t%ld\t%ld\t%.0f\t%s\n", o->path, k, before, after,
	    k > 0 ? (double)(after - before) * 1024.0 / (double)k : 0.0,
	    note[0] ? note : "-");
	fprintf(stderr, "  memprobe %-10s %ld idle clients: RSS %ld -> %ld kB, %.0f bytes each%s%s\n",
	    o->path, k, before, after,
	    k > 0 ? (double)(after - before) * 1024.0 / (double)k : 0.0,
	    note[0] ? "; " : "", note);
	while (k-- > 0) {
		if (is_dbmd)
			dbm_disconnect(dcs[k]);
		else
			PQfinish(pcs[k]);
	}
	free(dcs);
	free(pcs);
	return 0;
}

/* Makes the SQLite twin of pgbench_accounts: the same columns and n rows. */
static int
run_sqlite_init(const char *file, long n)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	long		 i;

	if (sqlite3_open(file, &db) != SQLITE_OK)
		die("sqlite %s: %s", file, sqlite3_errmsg(db));
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; DROP TABLE IF EXISTS pgbench_accounts; "
	    "CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, "
	    "abalance INTEGER, filler TEXT); BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO pgbench_accounts VALUES (?, ?, 0, ?)", -1,
	    &st, NULL) != SQLITE_OK)
		die("sqlite %s: %s", file, sqlite3_errmsg(db));
	for (i = 1; i <= n; i++) {
		sqlite3_bind_int64(st, 1, i);
		sqlite3_bind_int64(st, 2, (i - 1) / 100000 + 1);
		sqlite3_bind_text(st, 3, "                                                  "
		    "                                      ", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("sqlite insert: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die("sqlite commit: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench [options] WORKLOAD PATH\n"
	    "       bench [options] memprobe PATH     (dbmd, pgbouncer or direct; needs --pid)\n"
	    "       bench sqlite-init FILE ROWS\n"
	    "workloads: select1 point cached cached-miss ping open-dispose stream stream-chunk\n"
	    "           write-read (dbmd only: INSERT through --write-role, SELECT through --role)\n"
	    "paths: direct pgbouncer connect-per-query dbmd dbmd-sqlite echo sqlite\n"
	    "  -c N            clients, each a thread with its own connection (1)\n"
	    "  -d SECONDS      duration of each repetition (3)\n"
	    "  -w SECONDS      warm-up before the first (1)\n"
	    "  -r N            repetitions; medians are reported (3)\n"
	    "  -p N            the pool size the servers run with, recorded in the output (8)\n"
	    "  -n N            stream: rows (1000000); memprobe: connections (10000)\n"
	    "  --chunk N       stream-chunk: rows per piece (1000)\n"
	    "  --accounts N    rows of pgbench_accounts (100000)\n"
	    "  --cache-keys N  distinct keys of the cached select (100)\n"
	    "  --direct CONNINFO     PostgreSQL, for direct and connect-per-query\n"
	    "  --pgbouncer CONNINFO  PgBouncer\n"
	    "  --dbmd SOCKET   dbmd's socket\n"
	    "  --env ENV       dbmd's PostgreSQL environment (production)\n"
	    "  --sqlite-env ENV  dbmd's SQLite environment (sqlitebench)\n"
	    "  --role ROLE     (primary)\n"
	    "  --write-role ROLE  write-read: the role the INSERT goes through (primary)\n"
	    "  --sqlite-db FILE  the SQLite file, for the in-process baseline\n"
	    "  --pid PID       a server whose memory to read (stream, memprobe)\n"
	    "  --label NAME    the path's name in the RESULT line (another dbmd, say)\n");
	exit(2);
}

static long
num_arg(const char *s, long lo, long hi, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die("%s: %s is not a number from %ld to %ld", what, s, lo, hi);
	return v;
}

static double
secs_arg(const char *s, const char *what)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= 0 && v <= 3600))
		die("%s: %s is not a number of seconds", what, s);
	return v;
}

int
main(int argc, char *argv[])
{
	enum { O_ACCOUNTS = 256, O_CACHE_KEYS, O_DIRECT, O_PGBOUNCER, O_DBMD, O_ENV,
	    O_SQLITE_ENV, O_ROLE, O_SQLITE_DB, O_PID, O_LABEL, O_CHUNK, O_WRITE_ROLE };
	static const struct option longopts[] = {
		{ "accounts", required_argument, NULL, O_ACCOUNTS },
		{ "cache-keys", required_argument, NULL, O_CACHE_KEYS },
		{ "direct", required_argument, NULL, O_DIRECT },
		{ "pgbouncer", required_argument, NULL, O_PGBOUNCER },
		{ "dbmd", required_argument, NULL, O_DBMD },
		{ "env", required_argument, NULL, O_ENV },
		{ "sqlite-env", required_argument, NULL, O_SQLITE_ENV },
		{ "role", required_argument, NULL, O_ROLE },
		{ "sqlite-db", required_argument, NULL, O_SQLITE_DB },
		{ "pid", required_argument, NULL, O_PID },
		{ "label", required_argument, NULL, O_LABEL },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "write-role", required_argument, NULL, O_WRITE_ROLE },
		{ NULL, 0, NULL, 0 }
	};
	struct opts	 o = {
		.clients = 1, .duration = 3, .warmup = 1, .reps = 3, .pool_size = 8,
		.rows = -1, .chunk = STREAM_CHUNK, .accounts = 100000, .cache_keys = 100, .direct = "",
		.pgbouncer = "", .env = "production", .sqlite_env = "sqlitebench",
		.role = "primary", .write_role = "primary"
	};
	int		 ch, w;

	while ((ch = getopt_long(argc, argv, "c:d:w:r:p:n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.clients = (int)num_arg(optarg, 1, MAX_CLIENTS, "-c");
			break;
		case 'd':
			o.duration = secs_arg(optarg, "-d");
			break;
		case 'w':
			o.warmup = secs_arg(optarg, "-w");
			break;
		case 'r':
			o.reps = (int)num_arg(optarg, 1, MAX_REPS, "-r");
			break;
		case 'p':
			o.pool_size = (int)num_arg(optarg, 1, 1000, "-p");
			break;
		case 'n':
			o.rows = num_arg(optarg, 1, 1000000000, "-n");
			break;
		case O_ACCOUNTS:
			o.accounts = num_arg(optarg, 1, LONG_MAX, "--accounts");
			break;
		case O_CACHE_KEYS:
			o.cache_keys = (int)num_arg(optarg, 1, 1000000, "--cache-keys");
			break;
		case O_DIRECT:
			o.direct = optarg;
			break;
		case O_PGBOUNCER:
			o.pgbouncer = optarg;
			break;
		case O_DBMD:
			o.dbmd = optarg;
			break;
		case O_ENV:
			o.env = optarg;
			break;
		case O_SQLITE_ENV:
			o.sqlite_env = optarg;
			break;
		case O_ROLE:
			o.role = optarg;
			break;
		case O_SQLITE_DB:
			o.sqlite_db = optarg;
			break;
		case O_PID:
			o.pid = (pid_t)num_arg(optarg, 1, INT_MAX, "--pid");
			break;
		case O_LABEL:
			o.label = optarg;
			break;
		case O_CHUNK:
			o.chunk = num_arg(optarg, 1, 1000000000, "--chunk");
			break;
		case O_WRITE_ROLE:
			o.write_role = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 3 && strcmp(argv[0], "sqlite-init") == 0)
		return run_sqlite_init(argv[1], num_arg(argv[2], 1, LONG_MAX, "ROWS"));
	if (argc != 2)
		usage();
	if (strcmp(argv[0], "memprobe") == 0) {
		o.path = argv[1];
		if (o.rows == -1)
			o.rows = 10000;
		return run_memprobe(&o);
	}
	for (w = 0; w < WL_MAX_; w++)
		if (strcmp(argv[0], workload_names[w]) == 0)
			break;
	if (w == WL_MAX_)
		usage();
	o.wl = (enum workload)w;
	o.path = argv[1];
	if (o.rows == -1)
		o.rows = 1000000;
	return run_measurement(&o);
}
