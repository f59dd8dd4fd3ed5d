/* backend_sqlite.c: SQLite connections, each on a worker thread that reports to the loop. */

#include <sys/eventfd.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "dbmd.h"
#include "proto.h"

/*
 * A connection is a thread of its own holding one sqlite3 handle: SQLite blocks, the
 * event loop must not, and a thread per connection means a slow statement delays no
 * one else.  The thread sleeps on its condition variable until the loop gives it a
 * request; it answers through a queue the loop drains when an eventfd fires.  Reply
 * frames are encoded on the thread straight from SQLite's column buffers and handed
 * over in chunks; at most CHUNKS_AHEAD unacknowledged chunks are out at a time, so a
 * client that does not read stops the statement instead of filling memory.
 */

#define CHUNK_BYTES	(64 * 1024)
#define CHUNKS_AHEAD	2
#define STMT_CACHE	16		/* prepared statements kept per connection */
#define SQ_STACK	(8 * 1024 * 1024)	/* a worker thread's stack */
#define PROGRESS_OPS	1000		/* VM steps between timeout and cancel checks */
#define MEMDB_PREFIX	":memory:"	/* the target of an in-memory database */

struct sq_pool {
	char		*path;		/* file, or a memdb URI named for the environment */
	int		 flags;		/* sqlite3_open_v2 flags */
	bool		 memory;
	bool		 read_only;
	int		 busy_ms;
	long long	 statement_timeout;
	int		 max_value_size;	/* SQLITE_LIMIT_LENGTH */
};

/* What the authorizer saw while a statement was prepared: for the result cache. */
struct sq_info {
	char		**reads;	/* tables read */
	size_t		 nreads;
	char		**writes;	/* tables written */
	size_t		 nwrites;
	bool		 volatile_fn;	/* calls something whose result changes by itself */
	bool		 ddl;		/* changes the schema: every cached result goes */
	bool		 incomplete;	/* out of memory while collecting: trust nothing */
	bool		 temp;		/* creates a temporary object: session state */
};

struct sq_stmt {
	char		*sql;
	sqlite3_stmt	*st;
	uint64_t	 used;
	struct sq_info	 info;
};

struct sq_conn {
	struct conn		*conn;		/* the loop's side; threads never touch it */
	struct sq_pool		*sp;
	pthread_t		 thread;
	bool			 has_thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	sqlite3			*db;
	/* Under mu. */
	struct request		*job;
	bool			 quit;
	int			 ahead;		/* chunks posted, not acknowledged */
	/* Loop only. */
	int			 held;		/* chunks the loop holds back from acknowledging */
	/* Thread only, but cancel, which the loop sets. */
	atomic_int		 cancel;
	bool			 timed_out;
	int64_t			 deadline;
	struct sq_stmt		 stmts[STMT_CACHE];
	uint64_t		 tick;
	struct sq_info		*collect;	/* where the authorizer writes, during prepare */
	uid_t			 last_uid;	/* the peer the previous statement ran for */
	bool			 made_temp;	/* session state since the last report */
	int64_t			 busy_until;	/* ms: the end of this lock wait */
	char			 denied[192];	/* why the authorizer refused, "" if it did not */
	/*
	 * The message a worker sends when it has no memory for one: the end of a job, of
	 * the opening, of the thread.  One at a time is ever outstanding.
	 */
	struct sq_msg		*reserve;
};

enum sq_kind {
	SQ_OPENED,		/* the database opened, or ok is false */
	SQ_OUTPUT,		/* a chunk of reply frames */
	SQ_DONE,		/* the last frames of the request */
	SQ_CLOSED,		/* the thread is about to exit */
};

struct sq_msg {
	TAILQ_ENTRY(sq_msg)	 entry;
	enum sq_kind		 kind;
	struct sq_conn		*sc;
	struct proto_buf	 buf;
	bool			 ok;
	bool			 in_txn;
	bool			 session_dirty;	/* a temporary object may exist now */
	bool			 read_only_file; /* a read-write pool's file opened read-only */
	char			 err[256];
};
TAILQ_HEAD(sq_msgs, sq_msg);

static struct {
	int		 efd;
	struct event	*ev;
	pthread_mutex_t	 mu;
	struct sq_msgs	 queue;
} sq = { .efd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

/* From a worker (or the loop): queue a message and wake the loop. */
static void
sq_post(struct sq_msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&sq.mu);
	TAILQ_INSERT_TAIL(&sq.queue, m, entry);
	pthread_mutex_unlock(&sq.mu);
	while (write(sq.efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

static struct sq_msg *
sq_msg_new(enum sq_kind kind, struct sq_conn *sc)
{
	struct sq_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->kind = kind;
	m->sc = sc;
	m->ok = true;
	proto_buf_init(&m->buf);
	return m;
}

/*
 * A message that must reach the loop, memory or not: when none can be had, the
 * connection's reserve (for a job's end, the loop then fails the request with out of
 * memory).
 */
static struct sq_msg *
sq_msg_must(enum sq_kind kind, struct sq_conn *sc)
{
	struct sq_msg *m = sq_msg_new(kind, sc);

	if (m != NULL)
		return m;
	m = sc->reserve;
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->sc = sc;
	m->ok = true;
	proto_buf_init(&m->buf);
	return m;
}

/* The loop took n chunks: the worker may produce more. */
static void
sq_ack(struct sq_conn *sc, int n)
{
	pthread_mutex_lock(&sc->mu);
	sc->ahead = sc->ahead > n ? sc->ahead - n : 0;
	pthread_mutex_unlock(&sc->mu);
	pthread_cond_signal(&sc->cv);	/* after unlocking: the worker wakes to a free mutex */
}

static void
sq_conn_free(struct sq_conn *sc)
{
	if (sc->has_thread)
		pthread_join(sc->thread, NULL);
	pthread_mutex_destroy(&sc->mu);
	pthread_cond_destroy(&sc->cv);
	free(sc->reserve);
	free(sc);
}

/* The loop's side: everything the workers reported, in order. */
static void
sq_drain(evutil_socket_t fd, short ev, void *arg)
{
	struct sq_msgs todo;
	struct sq_msg *m, local;
	struct sq_conn *sc;
	struct conn *c;
	bool reserved;
	uint64_t n;

	(void)ev, (void)arg;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	TAILQ_INIT(&todo);
	pthread_mutex_lock(&sq.mu);
	TAILQ_CONCAT(&todo, &sq.queue, entry);
	pthread_mutex_unlock(&sq.mu);
	while ((m = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, m, entry);
		sc = m->sc;
		c = sc->conn;
		/* The reserve goes with its connection: work on a copy of it. */
		if ((reserved = m == sc->reserve)) {
			local = *m;
			m = &local;
		}
		switch (m->kind) {
		case SQ_OPENED:
			if (!m->ok) {
				sq_conn_free(sc);
				c->be = NULL;
			}
			pool_conn_opened(c, m->ok, "58030", m->err);
			break;
		case SQ_OUTPUT:
			/* A full client holds the chunk back until its output drains. */
			if (c->req != NULL && request_output(c->req, m->buf.data, m->buf.len) == 1)
				sc->held++;
			else
				sq_ack(sc, 1);
			break;
		case SQ_DONE:
			if (c->req != NULL)
				request_output(c->req, m->buf.data, m->buf.len);
			if (reserved) {
				request_fail(c->req, PROTO_E_NOMEM, "53200", "out of memory");
				m->ok = false;
			}
			c->in_txn = m->in_txn;
			/*
			 * SQLite opens a file it may not write read-only, without a word: such
			 * a connection could never write again, even once the file can be
			 * written.  It serves this request (reads work, writes fail with
			 * 25006) and is then discarded, so that the next one opens anew.
			 */
			if (m->read_only_file)
				c->broken = true;
			/* Only ever set here: the pool clears it when it resets the connection. */
			if (m->session_dirty)
				c->session_dirty = true;
			sc->held = 0;
			request_done(c->req, m->ok);
			break;
		case SQ_CLOSED:
			sq_conn_free(sc);
			c->be = NULL;
			pool_conn_closed(c);
			break;
		}
		proto_buf_free(&m->buf);
		if (!reserved)
			free(m);
	}
}

int
sqlite_backend_init(struct event_base *base)
{
	TAILQ_INIT(&sq.queue);
	if ((sq.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("eventfd");
		return -1;
	}
	sq.ev = event_new(base, sq.efd, EV_READ | EV_PERSIST, sq_drain, NULL);
	if (sq.ev == NULL || event_add(sq.ev, NULL) == -1) {
		log_warnx("cannot watch the SQLite completion queue");
		return -1;
	}
	return 0;
}

void
sqlite_backend_shutdown(void)
{
	struct sq_msg *m;

	if (sq.ev != NULL)
		event_free(sq.ev);
	sq.ev = NULL;
	while ((m = TAILQ_FIRST(&sq.queue)) != NULL) {
		TAILQ_REMOVE(&sq.queue, m, entry);
		proto_buf_free(&m->buf);
		if (m != m->sc->reserve)
			free(m);
	}
	if (sq.efd != -1)
		close(sq.efd);
	sq.efd = -1;
}

/* SQLite's error as a SQLSTATE, so that applications see PostgreSQL's codes. */
static const char *
sq_sqlstate(sqlite3 *db, int rc)
{
	const char *msg = db ? sqlite3_errmsg(db) : "";

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return "23505";
	case SQLITE_CONSTRAINT_NOTNULL:
		return "23502";
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return "23503";
	case SQLITE_CONSTRAINT_CHECK:
		return "23514";
	case SQLITE_INTERRUPT:
		return "57014";
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return "23000";
	case SQLITE_READONLY:
		return "25006";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "55P03";
	case SQLITE_TOOBIG:
		return "54000";
	case SQLITE_AUTH:
		return "42501";
	case SQLITE_NOMEM:
		return "53200";
	case SQLITE_FULL:
		return "53100";
	case SQLITE_MISMATCH:
		return "42804";
	case SQLITE_RANGE:
		return "08P01";
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		return "58030";
	case SQLITE_ERROR:
		if (strstr(msg, "syntax error") || strstr(msg, "incomplete input"))
			return "42601";
		if (strstr(msg, "no such table"))
			return "42P01";
		if (strstr(msg, "no such column"))
			return "42703";
		if (strstr(msg, "already exists"))
			return "42P07";
		if (strstr(msg, "no such function"))
			return "42883";
		if (strstr(msg, "within a transaction"))
			return "25001";
		if (strstr(msg, "no transaction is active"))
			return "25P01";
		return "42000";
	default:
		return "XX000";
	}
}

/* SQLite's errors have neither a detail nor a hint. */
static void
put_error(struct proto_buf *b, uint32_t reqid, int code, const char *sqlstate,
    const char *msg)
{
	backend_error(b, reqid, code, sqlstate, msg, NULL, NULL);
}

/*
 * SQLite's error for the client.  A statement that ran out of time says so whether
 * SQLite saw an interrupt (a running statement) or gave up waiting for a lock.  A
 * statement the authorizer refused says why, instead of SQLite's "not authorized"
 * (SQLITE_AUTH, or SQLITE_ERROR for a function).
 */
static void
put_sql_error(struct sq_conn *sc, struct proto_buf *b, uint32_t reqid, int rc)
{
	const char *msg = sqlite3_errmsg(sc->db), *state = sq_sqlstate(sc->db, rc);

	if (sc->timed_out) {
		msg = "canceling statement due to statement timeout";
		state = "57014";
	} else if ((rc & 0xff) == SQLITE_INTERRUPT)
		msg = "canceling statement: the client went away";
	else if (sc->denied[0] != '\0') {
		msg = sc->denied;
		state = "42501";
	}
	put_error(b, reqid, PROTO_E_SQL, state, msg);
}

/* Called by SQLite every PROGRESS_OPS steps: a non-zero return interrupts. */
static int
sq_progress(void *arg)
{
	struct sq_conn *sc = arg;

	if (atomic_load(&sc->cancel))
		return 1;
	if (sc->deadline > 0 && now_ms() >= sc->deadline) {
		sc->timed_out = true;
		return 1;
	}
	return 0;
}

/*
 * Called by SQLite while a lock it needs is held by another connection: it waits
 * up to the pool's busy timeout, but never past the statement's deadline, and not at
 * all once the request is cancelled, since SQLite's own waiting checks neither.
 * Returns non-zero to try again.
 */
static int
sq_busy(void *arg, int count)
{
	struct sq_conn *sc = arg;
	int64_t now = now_ms(), end;
	int wait;

	if (count == 0)
		sc->busy_until = now + sc->sp->busy_ms;
	if (atomic_load(&sc->cancel))
		return 0;
	if (sc->deadline > 0 && now >= sc->deadline) {
		sc->timed_out = true;
		return 0;
	}
	end = sc->busy_until;
	if (sc->deadline > 0 && sc->deadline < end)
		end = sc->deadline;
	if (now >= end)
		return 0;
	/* Short sleeps first: most locks are held for a moment. */
	wait = count < 4 ? 1 << count : 20;
	if (end - now < wait)
		wait = (int)(end - now);
	usleep((useconds_t)wait * 1000);
	return 1;
}

/* What a statement is taken to do when what it does is not known. */
static struct sq_info unknown_info = { .volatile_fn = true, .incomplete = true,
    .temp = true };

static void
info_free(struct sq_info *in)
{
	request_names_free(in->reads, in->nreads);
	request_names_free(in->writes, in->nwrites);
	memset(in, 0, sizeof(*in));
}

/* Functions whose result is not a function of their arguments and the data. */
static bool
volatile_function(const char *name)
{
	static const char *const names[] = {
		"random", "randomblob", "changes", "total_changes", "last_insert_rowid",
		"date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff",
		"current_date", "current_time", "current_timestamp", "load_extension",
		"sqlite_offset", NULL
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

/*
 * Pragmas a client may run.  Each connection is shared by every handle of its pool,
 * and the database file by every pool of its environment: a pragma that sets
 * something would change what the next handle gets (query_only, foreign_keys), turn
 * off a protection (writable_schema, trusted_schema), or reach the file system
 * (temp_store_directory, journal_mode, mmap_size).  So only pragmas that read pass,
 * named one by one: one added to SQLite later is refused until it is listed here.
 */
static const char *const pragmas_read_any[] = {
	/* Their argument names a table or an index, or narrows the check. */
	"table_info", "table_xinfo", "table_list", "index_info", "index_xinfo",
	"index_list", "foreign_key_list", "foreign_key_check", "integrity_check",
	"quick_check", "collation_list", "function_list", "module_list", "pragma_list",
	"database_list", "compile_options", NULL
};
static const char *const pragmas_read_bare[] = {
	/* With an argument these set what they report: only reading them passes. */
	"data_version", "schema_version", "user_version", "application_id",
	"freelist_count", "page_count", "page_size", "encoding", "foreign_keys",
	"query_only", "journal_mode", "auto_vacuum", "cache_size", "busy_timeout",
	"synchronous", NULL
};

static bool
name_listed(const char *name, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

static bool
pragma_allowed(const char *name, const char *arg)
{
	if (name == NULL)
		return false;
	return name_listed(name, pragmas_read_any) ||
	    (arg == NULL && name_listed(name, pragmas_read_bare));
}

/*
 * Functions no client may call: load_extension runs code from any file (extension
 * loading is off as well), fts3_tokenizer hands out and takes in raw pointers into
 * dbmd's memory.
 */
static bool
function_refused(const char *name)
{
	static const char *const names[] = { "load_extension", "fts3_tokenizer", NULL };

	return name_listed(name, names);
}

/* The authorizer refuses: the reason goes to the client in place of SQLite's. */
static int
sq_deny(struct sq_conn *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sq_deny(struct sq_conn *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sc->denied, sizeof(sc->denied), fmt, ap);
	va_end(ap);
	return SQLITE_DENY;
}

/* Whether an action makes an object that lives in the connection, not the file. */
static bool
creates_temp(int action, const char *db)
{
	switch (action) {
	case SQLITE_CREATE_TEMP_INDEX:
	case SQLITE_CREATE_TEMP_TABLE:
	case SQLITE_CREATE_TEMP_TRIGGER:
	case SQLITE_CREATE_TEMP_VIEW:
		return true;
	case SQLITE_CREATE_INDEX:
	case SQLITE_CREATE_TABLE:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_CREATE_VIEW:
	case SQLITE_CREATE_VTABLE:
		return db != NULL && strcasecmp(db, "temp") == 0;
	default:
		return false;
	}
}

/*
 * SQLite's authorizer, called whenever a statement is prepared, also when SQLite
 * prepares one again after a schema change.  It keeps a handle inside its own
 * database: no ATTACH or DETACH (whatever the path or URI, another environment's
 * file or a new one), no pragma but those that read, no function that reaches
 * outside the database, no view of other handles' statements.  This holds for
 * dbmd's own statements on the connection too, which need none of it.
 *
 * For the result cache and the pool it notes what a statement does: every table
 * read or written (views and triggers included), calls whose result changes by
 * itself, schema changes, and temporary objects, which outlive the statement on the
 * connection.
 */
static int
sq_auth(void *arg, int action, const char *a1, const char *a2, const char *db,
    const char *trigger)
{
	struct sq_conn *sc = arg;
	struct sq_info *in = sc->collect;

	(void)trigger;
	switch (action) {
	case SQLITE_ATTACH:
		return sq_deny(sc, "ATTACH is not allowed through dbmd: a handle reaches only "
		    "its own database");
	case SQLITE_DETACH:
		return sq_deny(sc, "DETACH is not allowed through dbmd: a handle reaches only "
		    "its own database");
	case SQLITE_PRAGMA:
		if (!pragma_allowed(a1, a2))
			return sq_deny(sc, "PRAGMA %.64s%s%.32s is not allowed through dbmd: only "
			    "pragmas that read, and change nothing, are", a1 ? a1 : "",
			    a2 ? "=" : "", a2 ? a2 : "");
		break;
	case SQLITE_FUNCTION:
		if (a2 != NULL && function_refused(a2))
			return sq_deny(sc, "%.64s() is not allowed through dbmd: it reaches "
			    "outside the database", a2);
		break;
	case SQLITE_READ:
		/* One row per statement prepared on the connection, other clients' too. */
		if (a1 != NULL && strcasecmp(a1, "sqlite_stmt") == 0)
			return sq_deny(sc, "sqlite_stmt is not readable through dbmd: it lists "
			    "the statements of other clients");
		break;
	default:
		break;
	}
	if (creates_temp(action, db)) {
		sc->made_temp = true;
		if (in != NULL)
			in->temp = true;
	}
	if (in == NULL)
		return SQLITE_OK;
	switch (action) {
	case SQLITE_READ:
		if (a1 != NULL && !names_add(&in->reads, &in->nreads, a1))
			in->incomplete = true;
		break;
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
		if (a1 != NULL && !names_add(&in->writes, &in->nwrites, a1))
			in->incomplete = true;
		break;
	case SQLITE_FUNCTION:
		if (a2 != NULL && volatile_function(a2))
			in->volatile_fn = true;
		break;
	case SQLITE_PRAGMA:
	case SQLITE_TRANSACTION:
	case SQLITE_SAVEPOINT:
		in->volatile_fn = true;
		break;
	case SQLITE_SELECT:
	case SQLITE_RECURSIVE:
		break;
	default:
		/* CREATE, DROP, ALTER, REINDEX, ANALYZE, virtual tables. */
		in->ddl = true;
		in->volatile_fn = true;
		break;
	}
	return SQLITE_OK;
}

/*
 * A prepared statement for sql, from the connection's cache or newly prepared.  One
 * statement per call: text after the first statement is refused (as PostgreSQL does
 * for parameterised queries), so a call never half-runs a script.  *empty is set for
 * text with no statement at all.
 */
static sqlite3_stmt *
stmt_get(struct sq_conn *sc, const char *sql, bool *empty, int *rc, struct sq_info **info)
{
	struct sq_stmt *slot = &sc->stmts[0];
	sqlite3_stmt *st = NULL, *next = NULL;
	struct sq_info in = { 0 };
	const char *tail;
	size_t i;

	*empty = false;
	for (i = 0; i < STMT_CACHE; i++) {
		if (sc->stmts[i].sql != NULL && strcmp(sc->stmts[i].sql, sql) == 0) {
			sc->stmts[i].used = ++sc->tick;
			*info = &sc->stmts[i].info;
			return sc->stmts[i].st;
		}
		if (sc->stmts[i].used < slot->used)
			slot = &sc->stmts[i];
	}
	sc->collect = &in;
	*rc = sqlite3_prepare_v3(sc->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
	sc->collect = NULL;
	if (*rc != SQLITE_OK || st == NULL) {
		info_free(&in);
		*empty = *rc == SQLITE_OK;
		return NULL;
	}
	if (sqlite3_prepare_v2(sc->db, tail, -1, &next, NULL) != SQLITE_OK || next != NULL) {
		sqlite3_finalize(next);
		sqlite3_finalize(st);
		info_free(&in);
		*rc = -1;	/* several statements */
		return NULL;
	}
	if (slot->sql != NULL) {
		sqlite3_finalize(slot->st);
		free(slot->sql);
		info_free(&slot->info);
	}
	if ((slot->sql = strdup(sql)) == NULL) {
		slot->st = NULL;
		slot->used = 0;
		info_free(&in);
		*info = &unknown_info;
		return st;	/* uncached: the caller finalizes it */
	}
	slot->st = st;
	slot->used = ++sc->tick;
	slot->info = in;
	*info = &slot->info;
	return st;
}

/* Tells the pool what the statement read and wrote, for the result cache. */
static void
report_effects(struct request *r, const struct sq_info *in, bool readonly)
{
	size_t i;

	r->res_cacheable = readonly && !in->volatile_fn && !in->incomplete;
	r->res_wrote = !readonly;
	if (!readonly && !in->ddl && !in->incomplete && in->nwrites > 0) {
		for (i = 0; i < in->nwrites; i++)
			if (!names_add(&r->res_written, &r->nres_written, in->writes[i]))
				break;
		if (i < in->nwrites) {
			request_names_free(r->res_written, r->nres_written);
			r->res_written = NULL;	/* unknown: every table */
			r->nres_written = 0;
		}
	}
	if (r->res_cacheable && r->cache_state == PROTO_CACHE_MISS) {
		r->res_read = calloc(1, sizeof(char *));
		for (i = 0; r->res_read != NULL && i < in->nreads; i++)
			if (!names_add(&r->res_read, &r->nres_read, in->reads[i]))
				r->res_cacheable = false;
		if (r->res_read == NULL)
			r->res_cacheable = false;
	}
}

/*
 * After a statement ran: when SQLite prepared it again meanwhile, what the authorizer
 * collected then (fresh) replaces what its first preparation said.  Returns whether
 * it did.
 */
static bool
info_renew(sqlite3_stmt *st, int *nprep, struct sq_info *info, struct sq_info *fresh)
{
	int n = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0);

	if (n == *nprep)
		return false;
	*nprep = n;
	if (info != &unknown_info) {
		info_free(info);
		*info = *fresh;
		memset(fresh, 0, sizeof(*fresh));
	}
	return true;
}

/* Finalizes and forgets every prepared statement of the connection. */
static void
stmts_clear(struct sq_conn *sc)
{
	size_t i;

	for (i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(sc->stmts[i].st);
		free(sc->stmts[i].sql);
		info_free(&sc->stmts[i].info);
		memset(&sc->stmts[i], 0, sizeof(sc->stmts[i]));
	}
}

static bool
stmt_cached(const struct sq_conn *sc, const sqlite3_stmt *st)
{
	size_t i;

	for (i = 0; i < STMT_CACHE; i++)
		if (sc->stmts[i].st == st)
			return true;
	return false;
}

/*
 * Binds one non-NULL parameter: a binary one (version 2) as a BLOB, a text one as
 * TEXT.  The session keeps every value in memory of its own, one byte more than its
 * length, so even an empty BLOB has a pointer that is not NULL and binds as X'', not
 * as NULL.
 */
static int
bind_value(sqlite3_stmt *st, int i, const struct request *r, uint32_t k)
{
	const char *v = r->params[k];
	char *end;
	long long n;
	double d;

	if (r->formats != NULL && r->formats[k] == PROTO_FORMAT_BINARY)
		return sqlite3_bind_blob(st, i, v, (int)r->lens[k], SQLITE_STATIC);
	/*
	 * A type the client declared (the PostgreSQL front door's Parse) binds a number
	 * as one, so that 9 > 10 compares numbers as PostgreSQL would; text that does not
	 * read as the type stays text, for SQLite to take as it takes any value.
	 */
	switch (r->types != NULL ? r->types[k] : 0) {
	case PROTO_OID_INT2: case PROTO_OID_INT4: case PROTO_OID_INT8: case PROTO_OID_OID:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (end != v && *end == '\0' && errno == 0)
			return sqlite3_bind_int64(st, i, n);
		break;
	case PROTO_OID_FLOAT4: case PROTO_OID_FLOAT8:
		errno = 0;
		d = strtod(v, &end);
		if (end != v && *end == '\0' && errno == 0)
			return sqlite3_bind_double(st, i, d);
		break;
	case PROTO_OID_BOOL:
		if (strcmp(v, "t") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			return sqlite3_bind_int(st, i, 1);
		if (strcmp(v, "f") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			return sqlite3_bind_int(st, i, 0);
		break;
	default:
		break;
	}
	return sqlite3_bind_text(st, i, v, (int)r->lens[k], SQLITE_STATIC);
}

/*
 * The parameter number SQLite's parameter i stands for: $1, $2, … and ?1, ?2, … their
 * number (SQLite sees them as named parameters), ? its position.  -1 for a named
 * parameter, with the error written into err.
 */
static int
param_number(sqlite3_stmt *st, int i, char *err, size_t errlen)
{
	const char *name = sqlite3_bind_parameter_name(st, i);

	if (name == NULL)
		return i;
	if ((name[0] == '$' || name[0] == '?') && name[1] != '\0' &&
	    strspn(name + 1, "0123456789") == strlen(name + 1) && strlen(name) < 6)
		return atoi(name + 1);
	snprintf(err, errlen, "named parameter %s is not supported: use $1, $2, … or ?",
	    name);
	return -1;
}

/*
 * Binds the parameters.  $1, $2, … bind by their number so that one statement runs on
 * both backends; ? binds by position.  As in PostgreSQL, the parameters given must
 * match those the statement uses.  Returns NULL, or the SQLSTATE of the error written
 * into err.
 */
static const char *
stmt_bind(sqlite3_stmt *st, const struct request *r, char *err, size_t errlen)
{
	int n = sqlite3_bind_parameter_count(st), i, num, maxnum = 0;
	uint32_t k;

	for (i = 1; i <= n; i++) {
		if ((num = param_number(st, i, err, errlen)) == -1)
			return "08P01";
		if (num < 1 || (uint32_t)num > r->nparams) {
			snprintf(err, errlen, "there is no parameter $%d (%u given)", num,
			    r->nparams);
			return "08P01";
		}
		if (num > maxnum)
			maxnum = num;
		k = (uint32_t)num - 1;
		if (r->params[k] == NULL)
			sqlite3_bind_null(st, i);
		else if (r->lens[k] > INT_MAX || bind_value(st, i, r, k) != SQLITE_OK) {
			/* Never run with the parameter left NULL. */
			snprintf(err, errlen, "parameter $%d is too big: %zu bytes, more than "
			    "max_value_size", num, (size_t)r->lens[k]);
			return "54000";
		}
	}
	if ((uint32_t)maxnum != r->nparams) {
		snprintf(err, errlen, "%u parameters given, but the statement uses %d",
		    r->nparams, maxnum);
		return "08P01";
	}
	return NULL;
}

/* A command tag in PostgreSQL's form: "SELECT 3", "INSERT 0 1", "CREATE TABLE". */
static void
command_tag(const char *sql, bool readonly, uint64_t rows, uint64_t changes, char *tag,
    size_t size)
{
	struct sqlscan s;
	char w1[16], w2[16];

	sqlscan_init(&s, sql, SQLSCAN_SQLITE);
	sqlscan_keyword(&s, w1, sizeof(w1));
	if (strcmp(w1, "INSERT") == 0 || strcmp(w1, "REPLACE") == 0)
		snprintf(tag, size, "INSERT 0 %llu", (unsigned long long)changes);
	else if (strcmp(w1, "UPDATE") == 0 || strcmp(w1, "DELETE") == 0)
		snprintf(tag, size, "%s %llu", w1, (unsigned long long)changes);
	else if (readonly && (strcmp(w1, "SELECT") == 0 || strcmp(w1, "WITH") == 0 ||
	    strcmp(w1, "VALUES") == 0))
		snprintf(tag, size, "SELECT %llu", (unsigned long long)rows);
	else if (strcmp(w1, "CREATE") == 0 || strcmp(w1, "DROP") == 0 ||
	    strcmp(w1, "ALTER") == 0) {
		sqlscan_keyword(&s, w2, sizeof(w2));
		snprintf(tag, size, "%s %s", w1, w2);
	} else
		snprintf(tag, size, "%s", w1);
}

/* Hands a full chunk to the loop and waits while too many are unacknowledged. */
static bool
flush_chunk(struct sq_conn *sc, struct proto_buf *b)
{
	struct sq_msg *m = sq_msg_new(SQ_OUTPUT, sc);
	bool go_on;

	if (m == NULL)
		return true;	/* no memory to hand it over: it stays, and goes with more */
	m->buf = *b;
	proto_buf_init(b);
	b->max_payload = m->buf.max_payload;
	pthread_mutex_lock(&sc->mu);
	sc->ahead++;
	pthread_mutex_unlock(&sc->mu);
	sq_post(m);
	pthread_mutex_lock(&sc->mu);
	while (sc->ahead >= CHUNKS_AHEAD && !atomic_load(&sc->cancel))
		pthread_cond_wait(&sc->cv, &sc->mu);
	go_on = !atomic_load(&sc->cancel);
	pthread_mutex_unlock(&sc->mu);
	return go_on;
}

/*
 * The type a version 2 ROW_DESC gives a column SQLite declares as decl.  The names
 * PostgreSQL would read as a type of its own come first, so that a schema written for
 * both says the same on both; everything else follows SQLite's own affinity rules
 * (§3.1 of its datatype documentation), a declared type that matches none of them
 * having NUMERIC affinity.  The order matters: "DATETIME" holds "TIME", "POINT" holds
 * "INT", and SQLite would read "BOOLEAN" as NUMERIC.
 */
static uint32_t
decl_type(const char *decl)
{
	if (strcasestr(decl, "BOOL") != NULL)
		return PROTO_OID_BOOL;
	if (strcasestr(decl, "TIMESTAMPTZ") != NULL ||
	    strcasestr(decl, "TIMESTAMP WITH TIME ZONE") != NULL)
		return PROTO_OID_TIMESTAMPTZ;
	if (strcasestr(decl, "TIMESTAMP") != NULL || strcasestr(decl, "DATETIME") != NULL)
		return PROTO_OID_TIMESTAMP;
	if (strcasecmp(decl, "DATE") == 0)
		return PROTO_OID_DATE;
	if (strcasecmp(decl, "TIME") == 0)
		return PROTO_OID_TIME;
	if (strcasestr(decl, "NUMERIC") != NULL || strcasestr(decl, "DECIMAL") != NULL)
		return PROTO_OID_NUMERIC;
	if (strcasestr(decl, "UUID") != NULL)
		return PROTO_OID_UUID;
	if (strcasestr(decl, "JSON") != NULL)
		return PROTO_OID_JSON;
	if (strcasestr(decl, "INT") != NULL)
		return PROTO_OID_INT8;
	if (strcasestr(decl, "CHAR") != NULL || strcasestr(decl, "CLOB") != NULL ||
	    strcasestr(decl, "TEXT") != NULL)
		return PROTO_OID_TEXT;
	if (strcasestr(decl, "BLOB") != NULL)
		return PROTO_OID_BYTEA;
	if (strcasestr(decl, "REAL") != NULL || strcasestr(decl, "FLOA") != NULL ||
	    strcasestr(decl, "DOUB") != NULL)
		return PROTO_OID_FLOAT8;
	return PROTO_OID_NUMERIC;
}

/*
 * The type of column i for a version 2 client.  A column of a table has its declared
 * type; an expression (or a column declared without a type) has only its values,
 * and SQLite types each value on its own: the first row's decides, text when there
 * is none.  row: the statement stands on its first row.
 */
static void
column_type(sqlite3_stmt *st, int i, bool row, struct proto_col *col)
{
	const char *decl = sqlite3_column_decltype(st, i);

	col->typmod = -1;
	if (decl != NULL && decl[strspn(decl, " \t")] != '\0')
		col->type_oid = decl_type(decl);
	else if (!row)
		col->type_oid = PROTO_OID_TEXT;
	else {
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			col->type_oid = PROTO_OID_INT8;
			break;
		case SQLITE_FLOAT:
			col->type_oid = PROTO_OID_FLOAT8;
			break;
		case SQLITE_BLOB:
			col->type_oid = PROTO_OID_BYTEA;
			break;
		default:
			col->type_oid = PROTO_OID_TEXT;
			break;
		}
	}
	col->format = col->type_oid == PROTO_OID_BYTEA ? PROTO_FORMAT_BINARY :
	    PROTO_FORMAT_TEXT;
}

/*
 * The statement's ROW_DESC: its column names, and for a version 2 client their
 * types.  Version 2 writes it once the first step has run (row: it gave a row),
 * since an expression's type is its first value's; the names are read then too, as
 * that step may have prepared the statement again.
 */
static enum proto_err
put_row_desc(sqlite3_stmt *st, const struct request *r, struct proto_buf *b, int ncols,
    bool row)
{
	struct proto_row_desc desc = { .version = r->version };
	struct proto_col *cols = NULL;
	const char **names;
	enum proto_err perr = PROTO_E_NOMEM;
	int i;

	if ((names = calloc((size_t)ncols, sizeof(*names))) == NULL ||
	    (r->version >= 2 && (cols = calloc((size_t)ncols, sizeof(*cols))) == NULL))
		goto out;
	for (i = 0; i < ncols; i++) {
		names[i] = sqlite3_column_name(st, i);
		if (cols != NULL)
			column_type(st, i, row, &cols[i]);
	}
	desc.ncols = (uint16_t)ncols;
	desc.names = names;
	desc.cols = cols;
	perr = proto_encode_row_desc(b, r->reqid, &desc);
out:
	free(names);
	free(cols);
	return perr;
}

/*
 * A REAL as text that reads back as the same double, as PostgreSQL prints float8:
 * SQLite's own text keeps 15 digits (0.1 + 0.2 would read 0.3, DBL_MAX infinity).
 */
static void
real_text(double d, char *buf, size_t size)
{
	int prec;

	if (isinf(d)) {
		snprintf(buf, size, "%s", d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (isnan(d)) {
		snprintf(buf, size, "NaN");
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Runs one statement and writes its whole reply into b (flushing full chunks). */
static bool
exec_stmt(struct sq_conn *sc, struct request *r, struct proto_buf *b)
{
	sqlite3_stmt *st;
	struct proto_complete done = { .cache_state = PROTO_CACHE_BYPASS };
	char err[256], tag[64], num[32];
	uint64_t rows = 0, changes;
	bool empty, ok = false, readonly = true, desc_due, ran = false;
	int rc = SQLITE_OK, ncols, i, nprep;
	enum proto_err perr;
	size_t mark;
	struct sq_info *info = NULL, fresh = { 0 };
	const char *state;

	if ((st = stmt_get(sc, r->sql, &empty, &rc, &info)) == NULL) {
		if (empty) {
			done.command_tag = "";
			proto_encode_complete(b, r->reqid, &done);
			return true;
		}
		if (rc == -1)
			put_error(b, r->reqid, PROTO_E_SQL, "42601", "cannot run several statements "
			    "in one call: send them one at a time");
		else
			put_sql_error(sc, b, r->reqid, rc);
		return false;
	}
	if (info->temp)
		sc->made_temp = true;
	/*
	 * A cached statement is prepared again by SQLite when the schema changed since
	 * (a view recreated over other tables): what its first preparation read is then
	 * stale, and the authorizer, running again, says what it reads now.
	 */
	nprep = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0);
	if ((state = stmt_bind(st, r, err, sizeof(err))) != NULL) {
		put_error(b, r->reqid, PROTO_E_SQL, state, err);
		goto out;
	}
	readonly = sqlite3_stmt_readonly(st) != 0;
	ncols = sqlite3_column_count(st);
	desc_due = ncols > 0;
	if (desc_due) {
		/*
		 * Version 2's ROW_DESC goes after the first step, and that step may write
		 * (INSERT ... RETURNING).  Its size does not depend on the types, so it is
		 * checked against the client's limit here and dropped: a description too
		 * big for the client is refused before anything runs, as in version 1,
		 * not after a write the error would hide from the cache.
		 */
		mark = b->len;
		if ((perr = put_row_desc(st, r, b, ncols, false)) != PROTO_E_OK)
			goto desc_failed;
		if (r->version >= 2)
			proto_buf_truncate(b, mark);
		else
			desc_due = false;
	}
	changes = (uint64_t)sqlite3_total_changes64(sc->db);
	sc->collect = &fresh;
	ran = true;
	/* A version 2 ROW_DESC still due goes after the first step, whatever it gave. */
	for (; (rc = sqlite3_step(st)) == SQLITE_ROW || desc_due; desc_due = false) {
		if (desc_due) {
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				break;		/* the error alone answers */
			if ((perr = put_row_desc(st, r, b, ncols, rc == SQLITE_ROW)) != PROTO_E_OK)
				goto desc_failed;
			if (rc != SQLITE_ROW)
				break;
		}
		proto_begin(b, PROTO_MSG_DATA_ROW, 0, r->reqid);
		proto_put_u16(b, (uint16_t)ncols);
		for (i = 0; i < ncols; i++) {
			if (sqlite3_column_type(st, i) == SQLITE_NULL) {
				proto_put_nstr(b, NULL, 0);
				continue;
			}
			if (sqlite3_column_type(st, i) == SQLITE_FLOAT) {
				real_text(sqlite3_column_double(st, i), num, sizeof(num));
				proto_put_nstr(b, num, strlen(num));
				continue;
			}
			const char *v = (const char *)sqlite3_column_text(st, i);

			proto_put_nstr(b, v ? v : "", (size_t)sqlite3_column_bytes(st, i));
		}
		if ((perr = proto_end(b)) != PROTO_E_OK) {
			put_error(b, r->reqid, perr, "54000", perr == PROTO_E_LIMIT ?
			    "a row is larger than the client's frame limit" : "out of memory");
			goto out;
		}
		rows++;
		if (b->len >= CHUNK_BYTES && !flush_chunk(sc, b)) {
			rc = SQLITE_INTERRUPT;
			break;
		}
	}
	sc->collect = NULL;
	if (info_renew(st, &nprep, info, &fresh))
		readonly = sqlite3_stmt_readonly(st) != 0;
	if (rc != SQLITE_DONE) {
		put_sql_error(sc, b, r->reqid, rc == SQLITE_INTERRUPT ? rc :
		    sqlite3_extended_errcode(sc->db));
		goto out;
	}
	changes = (uint64_t)sqlite3_total_changes64(sc->db) - changes;
	command_tag(r->sql, readonly, rows, changes, tag, sizeof(tag));
	report_effects(r, info, readonly);
	done.command_tag = tag;
	done.rows_affected = readonly ? rows : changes;
	done.cache_state = r->res_cacheable ? r->cache_state : PROTO_CACHE_BYPASS;
	proto_encode_complete(b, r->reqid, &done);
	ok = true;
	goto out;
desc_failed:
	if (perr == PROTO_E_LIMIT)
		put_error(b, r->reqid, perr, "54000", "the column descriptions are larger "
		    "than the client's frame limit");
	else
		put_error(b, r->reqid, PROTO_E_NOMEM, "53200", "out of memory");
out:
	/*
	 * A write that failed once it ran may have written all the same: a row over the
	 * client's frame limit is found after INSERT ... RETURNING made its changes, and
	 * the reset below commits them.  The cache then forgets the whole database
	 * rather than guess which tables (cacheflow_end).
	 */
	if (!ok && ran && !readonly)
		r->res_wrote = true;
	sc->collect = NULL;
	info_renew(st, &nprep, info, &fresh);
	info_free(&fresh);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (!stmt_cached(sc, st))
		sqlite3_finalize(st);
	return ok;
}

/*
 * Describes a statement without running it (backend_describe has the reply).  Its
 * parameters are numbered as stmt_bind numbers them and typed as the client declared
 * them, text where it did not: SQLite has no parameter types.  Its columns have the
 * types their declarations give, as a ROW_DESC of exec_stmt's says, and text for an
 * expression, whose type only a value would tell.  The statement is prepared as
 * exec_stmt prepares it, through the authorizer, and stays in the connection's cache
 * for the execution that usually follows.
 */
static bool
describe_stmt(struct sq_conn *sc, struct request *r, struct proto_buf *b)
{
	sqlite3_stmt *st;
	struct sq_info *info;
	struct proto_col *cols = NULL;
	const char **names = NULL;
	uint32_t *ptypes = NULL;
	bool empty, made_temp = sc->made_temp, ok = false;
	int rc = SQLITE_OK, n, i, num, nparams = 0, ncols = 0, perr = PROTO_E_OK;
	char err[256];

	st = stmt_get(sc, r->sql, &empty, &rc, &info);
	/* Preparing makes nothing: a CREATE TEMP TABLE described leaves no session state. */
	sc->made_temp = made_temp;
	if (st == NULL && !empty) {
		if (rc == -1)
			put_error(b, r->reqid, PROTO_E_SQL, "42601", "cannot run several statements "
			    "in one call: send them one at a time");
		else
			put_sql_error(sc, b, r->reqid, rc);
		return false;
	}
	n = st != NULL ? sqlite3_bind_parameter_count(st) : 0;
	for (i = 1; i <= n; i++) {
		if ((num = param_number(st, i, err, sizeof(err))) < 1) {
			if (num == 0)
				snprintf(err, sizeof(err), "there is no parameter $0");
			put_error(b, r->reqid, PROTO_E_SQL, "08P01", err);
			goto out;
		}
		if (num > nparams)
			nparams = num;
	}
	ncols = st != NULL ? sqlite3_column_count(st) : 0;
	if ((nparams > 0 && (ptypes = calloc((size_t)nparams, sizeof(*ptypes))) == NULL) ||
	    (ncols > 0 && ((names = calloc((size_t)ncols, sizeof(*names))) == NULL ||
	    (cols = calloc((size_t)ncols, sizeof(*cols))) == NULL))) {
		perr = PROTO_E_NOMEM;
		goto encoded;
	}
	for (i = 0; i < nparams; i++)
		ptypes[i] = r->types != NULL && (uint32_t)i < r->nparams && r->types[i] != 0 ?
		    r->types[i] : PROTO_OID_TEXT;
	for (i = 0; i < ncols; i++) {
		names[i] = sqlite3_column_name(st, i);
		column_type(st, i, false, &cols[i]);
		cols[i].format = PROTO_FORMAT_TEXT;
	}
	perr = backend_describe(b, r, ptypes, (size_t)nparams, names, cols, (size_t)ncols);
encoded:
	if (perr == PROTO_E_OK)
		ok = true;
	else if (perr == PROTO_E_LIMIT)
		put_error(b, r->reqid, PROTO_E_LIMIT, "54000", "the description is larger than "
		    "the client's frame limit");
	else
		put_error(b, r->reqid, PROTO_E_NOMEM, "53200", "out of memory");
out:
	free(ptypes);
	free(names);
	free(cols);
	if (st != NULL && !stmt_cached(sc, st))
		sqlite3_finalize(st);
	return ok;
}

/* BEGIN, COMMIT, ROLLBACK: answered with OK or ERROR. */
static bool
exec_simple(struct sq_conn *sc, struct request *r, const char *sql, struct proto_buf *b)
{
	int rc = sqlite3_exec(sc->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		put_sql_error(sc, b, r->reqid, sqlite3_extended_errcode(sc->db));
		return false;
	}
	proto_encode_empty(b, PROTO_MSG_OK, r->reqid);
	return true;
}

/*
 * Clears what a handle left on the connection that the next must not see: every
 * temporary trigger, view and table (a temporary table shadows the real one of its
 * name, for reading and for writing) and the prepared statements, which may name
 * them.  Denied pragmas leave no other session state to clear.  Returns false when
 * something is left: the pool then closes the connection instead.
 */
static bool
sq_discard_session(struct sq_conn *sc)
{
	static const char *const kinds[] = { "trigger", "view", "table" };
	sqlite3_stmt *st = NULL;
	size_t i = 0;
	char *sql;
	int rc;

	stmts_clear(sc);
	/* SQLite's own objects (sqlite_sequence, sqlite_stat1) cannot be dropped. */
	rc = sqlite3_prepare_v2(sc->db, "SELECT name FROM temp.sqlite_schema "
	    "WHERE type = ?1 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1", -1, &st,
	    NULL);
	while (rc == SQLITE_OK || rc == SQLITE_DONE) {
		if (i == sizeof(kinds) / sizeof(kinds[0]))
			break;
		sqlite3_bind_text(st, 1, kinds[i], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
			sqlite3_reset(st);
			i++;
			continue;
		}
		if (rc != SQLITE_ROW)
			break;
		sql = sqlite3_mprintf("DROP %s IF EXISTS temp.\"%w\"", kinds[i],
		    (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		rc = sql == NULL ? SQLITE_NOMEM : sqlite3_exec(sc->db, sql, NULL, NULL, NULL);
		sqlite3_free(sql);
	}
	sqlite3_finalize(st);
	if (i < sizeof(kinds) / sizeof(kinds[0])) {
		log_warnx("sqlite: cannot drop a handle's temporary objects: %s",
		    sqlite3_errmsg(sc->db));
		return false;
	}
	sc->made_temp = false;
	return true;
}

static void
run_job(struct sq_conn *sc, struct request *r)
{
	struct sq_msg *m;
	struct proto_buf b;
	bool ok = false;

	proto_buf_init(&b);
	b.max_payload = r->max_frame;
	sc->timed_out = false;
	sc->denied[0] = '\0';
	sc->deadline = sc->sp->statement_timeout > 0 ? now_ms() + sc->sp->statement_timeout : 0;
	/* last_insert_rowid() tells one user nothing of another's inserts. */
	if (r->kind != REQ_RESET && r->uid != sc->last_uid) {
		sqlite3_set_last_insert_rowid(sc->db, 0);
		sc->last_uid = r->uid;
	}
	switch (r->kind) {
	case REQ_EXEC:
		ok = exec_stmt(sc, r, &b);
		break;
	case REQ_BEGIN:
		/* IMMEDIATE takes the write lock now: no deadlock upgrading it later. */
		ok = exec_simple(sc, r, sc->sp->read_only ? "BEGIN" : "BEGIN IMMEDIATE", &b);
		break;
	case REQ_COMMIT:
		ok = exec_simple(sc, r, "COMMIT", &b);
		break;
	case REQ_ROLLBACK:
		ok = exec_simple(sc, r, "ROLLBACK", &b);
		break;
	case REQ_RESET:
		sc->deadline = 0;
		atomic_store(&sc->cancel, 0);
		ok = sqlite3_get_autocommit(sc->db) ||
		    sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK;
		if (ok && r->discard)
			ok = sq_discard_session(sc);
		break;
	case REQ_OPEN:
		ok = true;
		break;
	case REQ_DESCRIBE:
		ok = describe_stmt(sc, r, &b);
		break;
	}
	pthread_mutex_lock(&sc->mu);
	sc->job = NULL;
	pthread_mutex_unlock(&sc->mu);
	m = sq_msg_must(SQ_DONE, sc);
	m->buf = b;
	m->ok = ok;
	m->in_txn = !sqlite3_get_autocommit(sc->db);
	m->read_only_file = !sc->sp->read_only && !sc->sp->memory &&
	    sqlite3_db_readonly(sc->db, "main") == 1;
	m->session_dirty = sc->made_temp;
	sc->made_temp = false;
	sq_post(m);
}

/* Opens the database with the pool's settings; 0, or -1 with the reason in err. */
static int
sq_open(struct sq_conn *sc, char *err, size_t errlen)
{
	const struct sq_pool *sp = sc->sp;
	int rc;

	rc = sqlite3_open_v2(sp->path, &sc->db, sp->flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", sp->memory ? "the in-memory database" :
		    sp->path, sc->db ? sqlite3_errmsg(sc->db) : sqlite3_errstr(rc));
		sqlite3_close(sc->db);
		sc->db = NULL;
		return -1;
	}
	sqlite3_extended_result_codes(sc->db, 1);
	/*
	 * Nothing a client sends may reach past this database: no other file (no attached
	 * database at all, which also stops VACUUM INTO), no schema that runs functions
	 * with side effects or writes that corrupt, no extension, no raw pointers.
	 */
	if (sqlite3_db_config(sc->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(sc->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_db_config(sc->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL) !=
	    SQLITE_OK ||
	    sqlite3_db_config(sc->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot secure the connection to %s: %s",
		    sp->memory ? "the in-memory database" : sp->path, sqlite3_errmsg(sc->db));
		sqlite3_close(sc->db);
		sc->db = NULL;
		return -1;
	}
	sqlite3_limit(sc->db, SQLITE_LIMIT_ATTACHED, 0);
	/* The largest value a statement may make: a bound on one statement's memory. */
	sqlite3_limit(sc->db, SQLITE_LIMIT_LENGTH, sp->max_value_size);
	sqlite3_busy_handler(sc->db, sq_busy, sc);
	sqlite3_progress_handler(sc->db, PROGRESS_OPS, sq_progress, sc);
	if (!sp->read_only && !sp->memory &&
	    sqlite3_exec(sc->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot use WAL on %s: %s", sp->path, sqlite3_errmsg(sc->db));
		sqlite3_close(sc->db);
		sc->db = NULL;
		return -1;
	}
	sqlite3_exec(sc->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	if (sp->read_only)
		sqlite3_exec(sc->db, "PRAGMA query_only=ON", NULL, NULL, NULL);
	/* Last: the pragmas above are dbmd's, the authorizer refuses them to clients. */
	sqlite3_set_authorizer(sc->db, sq_auth, sc);
	return 0;
}

static void *
sq_thread(void *arg)
{
	struct sq_conn *sc = arg;
	struct sq_msg *m = sq_msg_must(SQ_OPENED, sc);
	struct request *r;

	if (sq_open(sc, m->err, sizeof(m->err)) == -1) {
		m->ok = false;
		sq_post(m);
		return NULL;
	}
	sq_post(m);
	for (;;) {
		pthread_mutex_lock(&sc->mu);
		while (sc->job == NULL && !sc->quit)
			pthread_cond_wait(&sc->cv, &sc->mu);
		r = sc->job;
		pthread_mutex_unlock(&sc->mu);
		if (r == NULL)
			break;
		run_job(sc, r);
	}
	stmts_clear(sc);
	sqlite3_close_v2(sc->db);
	sq_post(sq_msg_must(SQ_CLOSED, sc));
	return NULL;
}

/*
 * Which database file a target is, whatever the spelling (./, //, symbolic links in
 * the directory): pools on one file must share invalidations.
 */
static char *
sq_db_key(const char *target)
{
	char *copy, *real = NULL, *key;
	const char *base;
	int n;

	if (strncmp(target, MEMDB_PREFIX, strlen(MEMDB_PREFIX)) != 0 &&
	    (copy = strdup(target)) != NULL) {
		real = realpath(dirname(copy), NULL);
		free(copy);
	}
	base = strrchr(target, '/') != NULL ? strrchr(target, '/') + 1 : target;
	if (real == NULL)
		n = asprintf(&key, "sqlite:%s", target);
	else
		n = asprintf(&key, "sqlite:%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
	free(real);
	return n == -1 ? NULL : key;
}

static int
sq_pool_init(struct pool *p, char *err, size_t errlen)
{
	struct sq_pool *sp = calloc(1, sizeof(*sp));

	if (sp == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sp->memory = strncmp(p->rc->target, MEMDB_PREFIX, strlen(MEMDB_PREFIX)) == 0;
	sp->read_only = p->rc->read_only != 0;
	/* One memdb per environment: every connection of its roles, and no other, sees it. */
	if (!sp->memory)
		sp->path = strdup(p->rc->target);
	else if (asprintf(&sp->path, "file:/dbmd-memory-%s?vfs=memdb",
	    p->rc->target + strlen(MEMDB_PREFIX)) == -1)
		sp->path = NULL;
	if (sp->path == NULL) {
		free(sp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sp->flags = SQLITE_OPEN_NOMUTEX | (sp->memory ? SQLITE_OPEN_URI : 0) |
	    (sp->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	sp->busy_ms = (int)p->rc->acquire_timeout;
	sp->statement_timeout = p->rc->statement_timeout;
	sp->max_value_size = p->rc->max_value_size > INT_MAX ? INT_MAX :
	    (int)p->rc->max_value_size;
	/*
	 * One bound on what all SQLite connections together may allocate, the process's
	 * own; set with every new pool, so that a reload's value takes effect.
	 */
	if (dbmd != NULL && dbmd->cfg != NULL)
		sqlite3_hard_heap_limit64(dbmd->cfg->daemon.sqlite_heap_limit);
	/* The in-memory database lives only while a connection to it is open. */
	p->persistent = sp->memory;
	if ((p->db_key = sq_db_key(p->rc->target)) == NULL) {
		free(sp->path);
		free(sp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->be_state = sp;
	return 0;
}

static void
sq_pool_fini(struct pool *p)
{
	struct sq_pool *sp = p->be_state;

	if (sp != NULL)
		free(sp->path);
	free(sp);
	p->be_state = NULL;
}

static int
sq_conn_open(struct conn *c)
{
	struct sq_conn *sc = calloc(1, sizeof(*sc));
	struct sq_msg *m;
	pthread_attr_t attr;
	int rc;

	if (sc == NULL || (sc->reserve = calloc(1, sizeof(*sc->reserve))) == NULL) {
		free(sc);
		return -1;
	}
	sc->conn = c;
	sc->sp = c->pool->be_state;
	pthread_mutex_init(&sc->mu, NULL);
	pthread_cond_init(&sc->cv, NULL);
	c->be = sc;
	pthread_attr_init(&attr);
	/*
	 * SQLite recurses as deep as its own limits let a statement go (500 compound
	 * terms, expressions 1000 deep, LIKE patterns of 50000 bytes): the stack is the
	 * main thread's usual size.  It is address space; only what is touched is memory.
	 */
	pthread_attr_setstacksize(&attr, SQ_STACK);
	rc = thread_start(&sc->thread, &attr, sq_thread, sc);
	pthread_attr_destroy(&attr);
	if (rc == 0) {
		sc->has_thread = true;
		return 0;
	}
	/* Reported through the queue like any failure: never before this returns. */
	m = sq_msg_must(SQ_OPENED, sc);
	m->ok = false;
	snprintf(m->err, sizeof(m->err), "cannot start a worker thread: %s", strerror(rc));
	sq_post(m);
	return 0;
}

static void
sq_conn_exec(struct conn *c, struct request *r)
{
	struct sq_conn *sc = c->be;

	pthread_mutex_lock(&sc->mu);
	atomic_store(&sc->cancel, 0);
	sc->ahead = 0;
	sc->job = r;
	pthread_mutex_unlock(&sc->mu);
	pthread_cond_signal(&sc->cv);	/* after unlocking: the worker wakes to a free mutex */
}

static void
sq_conn_resume(struct conn *c)
{
	struct sq_conn *sc = c->be;
	int n = sc->held;

	sc->held = 0;
	sq_ack(sc, n);
}

static void
sq_conn_cancel(struct conn *c)
{
	struct sq_conn *sc = c->be;

	atomic_store(&sc->cancel, 1);
	sqlite3_interrupt(sc->db);
	pthread_mutex_lock(&sc->mu);
	pthread_cond_signal(&sc->cv);
	pthread_mutex_unlock(&sc->mu);
}

static void
sq_conn_close(struct conn *c)
{
	struct sq_conn *sc = c->be;

	pthread_mutex_lock(&sc->mu);
	sc->quit = true;
	pthread_cond_signal(&sc->cv);
	pthread_mutex_unlock(&sc->mu);
}

/* At exit the database is left by the process: SQLite rolls back what was open. */
static void
sq_conn_abort(struct conn *c)
{
	struct sq_conn *sc = c->be;

	if (sc != NULL && sc->db != NULL)
		sqlite3_interrupt(sc->db);
}

const struct backend_ops backend_sqlite = {
	.name = "sqlite",
	.pool_init = sq_pool_init,
	.pool_fini = sq_pool_fini,
	.conn_open = sq_conn_open,
	.conn_exec = sq_conn_exec,
	.conn_resume = sq_conn_resume,
	.conn_cancel = sq_conn_cancel,
	.conn_close = sq_conn_close,
	.conn_abort = sq_conn_abort,
};
