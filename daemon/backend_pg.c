/* backend_pg.c: PostgreSQL connections driven by the event loop through libpq's async API. */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "dbmd.h"
#include "proto.h"

/*
 * Nothing here blocks: connections are made with PQconnectStartParams/PQconnectPoll,
 * statements sent with PQsendQuery or PQsendQueryParams and PQflush, results read with
 * PQconsumeInput/PQisBusy/PQgetResult in single-row mode, each step waiting on the
 * socket libpq names at that moment (it changes while libpq tries the hosts of a
 * multi-host URI).  Rows are encoded into reply frames as they arrive and handed to the
 * client in chunks; a client that stops reading stops dbmd reading from the server, so
 * a large result never piles up in dbmd.  Cancelling (PQcancel blocks in libpq 15) runs
 * on a short-lived thread of its own, and the connection it was sent for is discarded.
 */

#define CHUNK_BYTES	(64 * 1024)

/* A read_only role's BEGIN, sent in one message with a simple query (pg_simple). */
#define PG_BEGIN_READ_ONLY	"BEGIN READ ONLY;"

/*
 * Where the primary's WAL is after a commit, for read-your-writes: flushed there,
 * hence on its way to the standbys (the WAL inserted may hold records nothing
 * flushes for seconds); inserted when commits do not wait for the flush.
 */
#define PG_COMMIT_LSN	"SELECT CASE WHEN current_setting('synchronous_commit') = " \
	"'off' THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END"

/* A request's parameter types go to libpq as they are. */
_Static_assert(sizeof(Oid) == sizeof(uint32_t), "an Oid is not 32 bits");

/* Connection parameters of a pool: the URI's, as libpq parsed them, plus dbmd's own. */
struct pg_pool {
	char		**keywords;	/* NULL-terminated */
	char		**values;
	long long	 connect_timeout;
	struct pghosts	*hosts;		/* NULL: one server, not watched */
};

enum pg_phase {
	PG_WAITING,		/* for a server to qualify (pghosts), before connecting */
	PG_CONNECTING,		/* PQconnectPoll until OK or FAILED */
	PG_IDLE,		/* watching the socket for the server going away */
	PG_SENDING,		/* PQflush until the request is out */
	PG_RECEIVING,		/* reading results */
	PG_DONE,		/* closed or failed; waiting for the deferred report */
};

/*
 * A request may take up to three queries: dbmd's own before and after the client's
 * statement (a read_only role's transaction), each with its results kept from the
 * client unless they are errors.
 */
enum pg_stage {
	PG_STAGE_PRE,		/* BEGIN READ ONLY, before a parameterised statement */
	PG_STAGE_MAIN,		/* the request's own query (a describe's: preparing it) */
	PG_STAGE_DESCRIBE,	/* describing the statement the main query prepared */
	PG_STAGE_POST,		/* COMMIT, ROLLBACK, or making a transaction read-only */
	PG_STAGE_LSN,		/* where the primary is after a write was committed */
};

/* What follows the main query of a read_only role's statement. */
enum pg_post {
	PG_POST_NONE,
	PG_POST_END,		/* end the transaction dbmd began around the statement */
	PG_POST_READ_ONLY,	/* the client began a transaction: read-only, snapshot taken */
};

enum pg_deferred {
	PG_DEFER_NONE,
	PG_DEFER_OPEN_FAILED,	/* report a failed open */
	PG_DEFER_FINISH,	/* report a finished request */
	PG_DEFER_CLOSED,	/* report a closed connection */
};

/* The fields of an error or notice dbmd passes on: every one PostgreSQL may send. */
static const char pg_field_codes[] = {
	PG_DIAG_SEVERITY, PG_DIAG_SEVERITY_NONLOCALIZED, PG_DIAG_SQLSTATE,
	PG_DIAG_MESSAGE_PRIMARY, PG_DIAG_MESSAGE_DETAIL, PG_DIAG_MESSAGE_HINT,
	PG_DIAG_STATEMENT_POSITION, PG_DIAG_INTERNAL_POSITION, PG_DIAG_INTERNAL_QUERY,
	PG_DIAG_CONTEXT, PG_DIAG_SCHEMA_NAME, PG_DIAG_TABLE_NAME, PG_DIAG_COLUMN_NAME,
	PG_DIAG_DATATYPE_NAME, PG_DIAG_CONSTRAINT_NAME, PG_DIAG_SOURCE_FILE,
	PG_DIAG_SOURCE_LINE, PG_DIAG_SOURCE_FUNCTION,
};
#define PG_NFIELDS	sizeof(pg_field_codes)

/*
 * A notice the server sent during a client's statement, for an owner that takes them
 * (request_pg_fields), kept from libpq's parsing until dbmd hands it on.
 */
struct pg_notice {
	TAILQ_ENTRY(pg_notice)	 entry;
	size_t			 n;
	struct pg_field		 f[PG_NFIELDS];
	char			 text[];	/* the values f points to */
};
TAILQ_HEAD(pg_notices, pg_notice);

struct pg_conn {
	struct conn		*conn;
	PGconn			*pg;
	enum pg_phase		 phase;
	struct event		*ev;		/* the socket, for the current phase */
	int			 ev_fd;
	short			 ev_what;
	struct event		*timer;		/* connect_timeout */
	struct event		*defer;		/* reports made from the loop, not the caller */
	enum pg_deferred	 deferred;
	char			 errmsg[512];
	const char		*errstate;	/* its SQLSTATE; NULL: from libpq's message */
	int			 host;		/* its server (pghosts); -1: not known */
	int			 chosen;	/* the server it is opening on, -1: none */
	bool			 wrote;		/* a write not yet committed (track_lsn) */
	struct request		*req;
	struct proto_buf	 out;		/* frames not yet handed to the client */
	size_t			 held;		/* where in out the reply's last frame is,
						   kept until the request ends; SIZE_MAX:
						   not written yet */
	bool			 desc_sent;
	bool			 failed;	/* an ERROR frame was written */
	bool			 stalled;	/* the client's output is full */
	bool			 too_big;	/* a row did not fit the client's frame limit */
	bool			 nomem;		/* a value could not be decoded: out of memory */
	uint64_t		 rows;
	enum pg_stage		 stage;
	enum pg_post		 post;
	bool			 skip_first;	/* the main query's first result is dbmd's BEGIN */
	char			*own;		/* the main query when dbmd writes it */
	size_t			 pos_offset;	/* what dbmd put before the client's text in it */
	struct pg_notices	 notices;	/* parsed, not yet handed on */
	size_t			 nnotices;
};

static void pg_io(evutil_socket_t, short, void *);
static void pg_process(struct pg_conn *);
static void pg_send_step(struct pg_conn *);
static bool pg_send_main(struct pg_conn *);
static void pg_hosts_changed(struct pool *);

/* Whether the owner of r takes the fields of errors and notices (the front door). */
static bool
pg_wants_fields(const struct request *r)
{
	return r != NULL && !r->cut && r->ops != NULL && r->ops->pg_fields != NULL;
}

/*
 * The fields of an error or notice, in f; returns how many.  The values point into
 * res, but a statement position, which counts from the start of the text the server
 * got, is moved back by what dbmd put before the client's text (into pos).
 */
static size_t
pg_fields_of(const struct pg_conn *pc, const PGresult *res, struct pg_field *f, char *pos,
    size_t possize)
{
	const char *v;
	size_t i, n = 0;
	long at;

	for (i = 0; i < PG_NFIELDS; i++) {
		if ((v = PQresultErrorField(res, pg_field_codes[i])) == NULL)
			continue;
		if (pg_field_codes[i] == PG_DIAG_STATEMENT_POSITION && pc->pos_offset > 0) {
			if ((at = strtol(v, NULL, 10)) <= (long)pc->pos_offset)
				continue;	/* in dbmd's text, not the client's */
			snprintf(pos, possize, "%ld", at - (long)pc->pos_offset);
			v = pos;
		}
		f[n].code = pg_field_codes[i];
		f[n++].value = v;
	}
	return n;
}

/*
 * What the server says besides results (NOTICE, WARNING) during a client's statement
 * is kept for an owner that takes it, and handed on once libpq has returned to dbmd
 * (pg_notices_deliver); libpq calls this from inside its parsing, where nothing may
 * call back into it.  Everything else is dropped, never logged: printing it would let
 * any client write to dbmd's log.  dbmd's own queries (BEGIN READ ONLY, COMMIT, a
 * reset) tell no client anything.
 */
static void
pg_notice_receiver(void *arg, const PGresult *res)
{
	struct pg_conn *pc = arg;
	struct request *r = pc->req;
	struct pg_field f[PG_NFIELDS];
	struct pg_notice *nt;
	size_t n, i, len = 0;
	char pos[24], *p;

	if (!pg_wants_fields(r) || (r->kind != REQ_EXEC && r->kind != REQ_DESCRIBE) ||
	    (pc->stage != PG_STAGE_MAIN && pc->stage != PG_STAGE_DESCRIBE) ||
	    (n = pg_fields_of(pc, res, f, pos, sizeof(pos))) == 0)
		return;
	for (i = 0; i < n; i++)
		len += strlen(f[i].value) + 1;
	if ((nt = malloc(sizeof(*nt) + len)) == NULL)
		return;		/* the notice is lost; the statement goes on */
	p = nt->text;
	for (i = 0; i < n; i++) {
		len = strlen(f[i].value) + 1;
		memcpy(p, f[i].value, len);
		nt->f[i].code = f[i].code;
		nt->f[i].value = p;
		p += len;
	}
	nt->n = n;
	TAILQ_INSERT_TAIL(&pc->notices, nt, entry);
	pc->nnotices++;
}

static void
pg_notices_clear(struct pg_conn *pc)
{
	struct pg_notice *nt;

	while ((nt = TAILQ_FIRST(&pc->notices)) != NULL) {
		TAILQ_REMOVE(&pc->notices, nt, entry);
		free(nt);
	}
	pc->nnotices = 0;
}

/* Waits for what on the socket libpq uses now; persist keeps waiting after an event. */
static int
pg_watch(struct pg_conn *pc, short what)
{
	int fd = PQsocket(pc->pg);

	if (pc->ev != NULL && pc->ev_fd == fd && pc->ev_what == what) {
		if (!event_pending(pc->ev, EV_READ | EV_WRITE, NULL))
			event_add(pc->ev, NULL);
		return 0;
	}
	if (pc->ev != NULL) {
		event_free(pc->ev);
		pc->ev = NULL;
	}
	if (fd < 0)
		return -1;
	pc->ev_fd = fd;
	pc->ev_what = what;
	if ((pc->ev = event_new(dbmd->base, fd, what, pg_io, pc)) == NULL ||
	    event_add(pc->ev, NULL) == -1)
		return -1;
	return 0;
}

static void
pg_unwatch(struct pg_conn *pc)
{
	if (pc->ev != NULL)
		event_del(pc->ev);
}

/*
 * The SQLSTATE of a failed connection attempt.  libpq keeps the server's for itself,
 * so it is told by the server's message (PostgreSQL's own English wording, as the
 * server sends it unless lc_messages says otherwise): 53300 for a server or role at
 * its connection limit, 57P03 for one starting or stopping, 28P01/28000 refused
 * authentication, 3D000 no such database; else 08001, no connection could be made.
 */
static const char *
connect_sqlstate(const char *msg)
{
	static const struct {
		const char	*text, *sqlstate;
	} known[] = {
		{ "too many clients already", "53300" },
		{ "too many connections for", "53300" },
		{ "remaining connection slots are reserved", "53300" },
		{ "the database system is starting up", "57P03" },
		{ "the database system is shutting down", "57P03" },
		{ "the database system is in recovery mode", "57P03" },
		{ "the database system is not yet accepting connections", "57P03" },
		{ "password authentication failed", "28P01" },
		{ "no pg_hba.conf entry", "28000" },
		{ "is not permitted to log in", "28000" },
		{ "does not exist", "3D000" },
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(msg, known[i].text) != NULL)
			return known[i].sqlstate;
	return "08001";
}

/* Reports from a fresh loop iteration, never from inside the caller's call. */
static void
pg_defer(struct pg_conn *pc, enum pg_deferred what)
{
	struct timeval zero = { 0, 0 };

	pc->deferred = what;
	pg_unwatch(pc);
	evtimer_add(pc->defer, &zero);
}

static void
pg_conn_free(struct pg_conn *pc)
{
	struct pg_pool *pp = pc->conn->pool->be_state;

	pghosts_detach(pp->hosts, pc->host >= 0 ? pc->host : pc->chosen);
	if (pc->ev != NULL)
		event_free(pc->ev);
	if (pc->timer != NULL)
		event_free(pc->timer);
	if (pc->defer != NULL)
		event_free(pc->defer);
	if (pc->pg != NULL)
		PQfinish(pc->pg);
	proto_buf_free(&pc->out);
	pg_notices_clear(pc);
	free(pc->own);
	free(pc);
}

static void
pg_deferred_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct pg_conn *pc = arg;
	struct conn *c = pc->conn;

	(void)fd, (void)ev;
	switch (pc->deferred) {
	case PG_DEFER_OPEN_FAILED: {
		char msg[sizeof(pc->errmsg)];

		const char *state;

		memcpy(msg, pc->errmsg, sizeof(msg));
		state = pc->errstate ? pc->errstate : connect_sqlstate(msg);
		c->be = NULL;
		pg_conn_free(pc);
		pool_conn_opened(c, false, state, msg);
		break;
	}
	case PG_DEFER_FINISH:
		pc->deferred = PG_DEFER_NONE;
		pg_process(pc);
		break;
	case PG_DEFER_CLOSED:
		c->be = NULL;
		pg_conn_free(pc);
		pool_conn_closed(c);
		break;
	case PG_DEFER_NONE:
		break;
	}
}

/* A connection attempt failed: report it with libpq's reason (host, no password). */
static void
pg_open_failed(struct pg_conn *pc, const char *why)
{
	one_line(pc->errmsg, sizeof(pc->errmsg), why);
	pc->phase = PG_DONE;
	if (pc->timer != NULL)
		evtimer_del(pc->timer);
	pg_defer(pc, PG_DEFER_OPEN_FAILED);
}

static void
pg_connect_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct pg_conn *pc = arg;
	struct pool *p = pc->conn->pool;
	char why[256];
	const char *host = PQhost(pc->pg);

	(void)fd, (void)ev;
	snprintf(why, sizeof(why), "timeout connecting to %s after %lldms (connect_timeout)",
	    host && *host ? host : "the server", p->rc->connect_timeout);
	pg_open_failed(pc, why);
}

/*
 * What the server says of itself, kept by the pool for the PostgreSQL front door's
 * ParameterStatus messages: the latest connection's word, since a server may be
 * upgraded or a multi-host URI reach another.
 */
static void
pg_server_params(struct pg_conn *pc)
{
	struct pool *p = pc->conn->pool;
	static const char *const names[] = { "server_version", "TimeZone", "DateStyle",
	    "IntervalStyle" };
	char *const dst[] = { p->server_version, p->timezone, p->datestyle, p->intervalstyle };
	const size_t sizes[] = { sizeof(p->server_version), sizeof(p->timezone),
	    sizeof(p->datestyle), sizeof(p->intervalstyle) };
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((v = PQparameterStatus(pc->pg, names[i])) != NULL)
			snprintf(dst[i], sizes[i], "%s", v);
}

/* The role's target_session_attrs, as its URI says ("any" when it does not). */
static const char *
pg_tsa(const struct pg_pool *pp)
{
	size_t i;

	for (i = 0; pp->keywords[i] != NULL; i++)
		if (strcmp(pp->keywords[i], "target_session_attrs") == 0)
			return pp->values[i];
	return "any";
}

/* One step of PQconnectPoll, then wait for what it asks for. */
static void
pg_connect_step(struct pg_conn *pc)
{
	struct pg_pool *pp = pc->conn->pool->be_state;

	switch (PQconnectPoll(pc->pg)) {
	case PGRES_POLLING_READING:
		if (pg_watch(pc, EV_READ) == -1)
			pg_open_failed(pc, "cannot watch the server's socket");
		return;
	case PGRES_POLLING_WRITING:
		if (pg_watch(pc, EV_WRITE) == -1)
			pg_open_failed(pc, "cannot watch the server's socket");
		return;
	case PGRES_POLLING_OK:
		evtimer_del(pc->timer);
		pg_server_params(pc);
		if (pp->hosts != NULL) {
			pc->host = pghosts_attach(pp->hosts, pc->chosen, PQhost(pc->pg),
			    PQport(pc->pg));
			pc->chosen = -1;
		}
		pc->phase = PG_IDLE;
		if (pg_watch(pc, EV_READ | EV_PERSIST) == -1) {
			pg_open_failed(pc, "cannot watch the server's socket");
			return;
		}
		pool_conn_opened(pc->conn, true, NULL, NULL);
		return;
	default:
		if (pp->hosts != NULL && pghosts_n(pp->hosts) > 1) {
			char why[sizeof(pc->errmsg)];

			/* libpq names the last server it tried: say that it tried them all. */
			snprintf(why, sizeof(why), "no server of the %zu listed accepted the "
			    "connection (target_session_attrs=%s): %s",
			    pghosts_n(pp->hosts), pg_tsa(pp), PQerrorMessage(pc->pg));
			pg_open_failed(pc, why);
			return;
		}
		pg_open_failed(pc, PQerrorMessage(pc->pg));
		return;
	}
}

/* The request fails: its reply ends with this ERROR, and only this one. */
static void
put_error(struct pg_conn *pc, int code, const char *sqlstate, const char *msg,
    const char *detail, const char *hint)
{
	if (pc->held != SIZE_MAX) {
		/* The statement's end was not final: the error replaces it. */
		proto_buf_truncate(&pc->out, pc->held);
		pc->held = SIZE_MAX;
	}
	pc->failed = true;
	backend_error(&pc->out, pc->req->reqid, code, sqlstate, msg, detail, hint);
}

/* The connection to the server broke: the request fails and the connection goes. */
static void
put_conn_error(struct pg_conn *pc)
{
	char msg[512];

	pc->conn->broken = true;
	if (pc->failed)
		return;		/* the request has its ERROR already: one per reply */
	one_line(msg, sizeof(msg), PQerrorMessage(pc->pg));
	put_error(pc, PROTO_E_BACKEND, "08006", msg, "", "");
	pc->conn->broken = true;
}

/*
 * Notifications (a client's LISTEN) have no way to a client through dbmd: libpq keeps
 * each one it parses until asked for it, so they are dropped as they come, during a
 * request as while idle, or a connection would hoard them.
 */
static void
pg_drop_notifies(struct pg_conn *pc)
{
	struct hold *hd;
	PGnotify *n;

	while ((n = PQnotifies(pc->pg)) != NULL) {
		/*
		 * A handle holding the connection for life may listen (the front door's).
		 * Looked up each time: a client that leaves in the callback lets go.
		 */
		hd = pc->conn->held_by;
		if (hd != NULL && hd->pinned && hd->notify != NULL && hd->conn == pc->conn)
			hd->notify(hd, n->be_pid, n->relname, n->extra);
		PQfreemem(n);
	}
}

/* Hands the frames written so far to the client; a full client stalls the reading. */
static void
pg_flush_out(struct pg_conn *pc)
{
	size_t n = pc->held != SIZE_MAX ? pc->held : pc->out.len;

	if (n == 0)
		return;
	if (request_output(pc->req, pc->out.data, n) == 1)
		pc->stalled = true;
	if (n == pc->out.len)
		proto_buf_reset(&pc->out);
	else
		proto_buf_consume(&pc->out, n);
	if (pc->held != SIZE_MAX)
		pc->held = 0;
	if (pc->req != NULL)		/* the owner may have ended it in the call */
		pc->out.max_payload = pc->req->max_frame;
}

/*
 * The reply's last frame (COMPLETE, OK) is kept until the request ends: the server
 * has not said it is idle yet (an extended-protocol statement commits at Sync), and a
 * write's position for read-your-writes is not known yet.  A client told the
 * statement completed could act on it before either.
 */
static void
hold_end(struct pg_conn *pc)
{
	if (pc->held == SIZE_MAX)
		pc->held = pc->out.len;
}

/*
 * Hands on the first n notices kept (pg_notice_receiver), the reply frames encoded
 * before them first, so that each keeps its place among the rows.  The owner takes
 * them even when its output is full; the reading stops after, as for any output.
 */
static void
pg_notices_deliver(struct pg_conn *pc, size_t n)
{
	struct request *r = pc->req;
	struct pg_notice *nt;

	if (n == 0 || TAILQ_EMPTY(&pc->notices))
		return;
	if (r != NULL)
		pg_flush_out(pc);
	while (n-- > 0 && (nt = TAILQ_FIRST(&pc->notices)) != NULL) {
		TAILQ_REMOVE(&pc->notices, nt, entry);
		pc->nnotices--;
		/* The owner may end the request in the call (it cancels): then it hears no more. */
		if (r != NULL && pc->req == r)
			request_pg_fields(r, true, nt->f, nt->n);
		free(nt);
	}
}

/* The request is over: the last frames go out and the pool gets the connection back. */
static void
pg_finish(struct pg_conn *pc)
{
	struct conn *c = pc->conn;
	struct request *r = pc->req;
	PGTransactionStatusType ts = PQtransactionStatus(pc->pg);
	bool ok = !pc->failed;

	pc->held = SIZE_MAX;
	if (pc->out.len > 0)
		request_output(pc->req, pc->out.data, pc->out.len);
	proto_buf_reset(&pc->out);
	pg_notices_clear(pc);
	pc->req = NULL;
	pg_drop_notifies(pc);	/* what libpq parses now reaches no one */
	pc->stalled = false;
	c->in_txn = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
	if (PQstatus(pc->pg) != CONNECTION_OK || ts == PQTRANS_UNKNOWN ||
	    ts == PQTRANS_ACTIVE)
		c->broken = true;
	pc->phase = PG_IDLE;
	if (!c->broken && pg_watch(pc, EV_READ | EV_PERSIST) == -1)
		c->broken = true;
	if (r->kind == REQ_EXEC)
		pghosts_count(((struct pg_pool *)c->pool->be_state)->hosts, pc->host);
	request_done(r, ok);
}

/*
 * Whether a column's values go to a version 2 client as their bytes: bytea's.  Every
 * other type keeps PostgreSQL's text form, which is what its type oid promises.
 */
static bool
pg_col_binary(const struct pg_conn *pc, const PGresult *res, int i)
{
	return pc->req->version >= 2 && PQftype(res, i) == PROTO_OID_BYTEA;
}

/*
 * The column names, and in version 2 each column's type as the server describes it
 * (type oid and modifier: numeric(10,2) and varchar(n) keep theirs).
 */
static void
put_row_desc(struct pg_conn *pc, const PGresult *res)
{
	struct proto_col col;
	int n = PQnfields(res), i;

	pc->desc_sent = true;
	if (n == 0)
		return;
	proto_begin(&pc->out, PROTO_MSG_ROW_DESC, 0, pc->req->reqid);
	proto_put_u16(&pc->out, (uint16_t)n);
	for (i = 0; i < n; i++)
		proto_put_str(&pc->out, PQfname(res, i));
	for (i = 0; pc->req->version >= 2 && i < n; i++) {
		col.type_oid = PQftype(res, i);
		col.typmod = PQfmod(res, i);
		col.format = pg_col_binary(pc, res, i) ? PROTO_FORMAT_BINARY : PROTO_FORMAT_TEXT;
		proto_put_col(&pc->out, &col);
	}
	if (proto_end(&pc->out) != PROTO_E_OK)
		pc->too_big = true;	/* reported when the statement ends */
}

/*
 * One row, straight from libpq's buffer into a DATA_ROW frame.  A version 2 client
 * gets a bytea value as its bytes: libpq holds the text form, hex or escape as the
 * server's bytea_output says, and PQunescapeBytea reads either.
 */
static void
put_row(struct pg_conn *pc, const PGresult *res)
{
	unsigned char *bytes;
	size_t start, len;
	int n = PQnfields(res), i;

	if (pc->too_big || pc->nomem)
		return;
	start = proto_begin(&pc->out, PROTO_MSG_DATA_ROW, 0, pc->req->reqid);
	proto_put_u16(&pc->out, (uint16_t)n);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, 0, i))
			proto_put_nstr(&pc->out, NULL, 0);
		else if (!pg_col_binary(pc, res, i))
			proto_put_nstr(&pc->out, PQgetvalue(res, 0, i), (size_t)PQgetlength(res, 0, i));
		else if ((bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, i),
		    &len)) == NULL) {
			pc->nomem = true;
			break;
		} else {
			proto_put_nstr(&pc->out, (const char *)bytes, len);
			PQfreemem(bytes);
		}
	}
	if (proto_end(&pc->out) != PROTO_E_OK)
		pc->too_big = true;	/* reported when the statement ends */
	else if (pc->nomem)
		proto_buf_truncate(&pc->out, start);	/* a row cut short: the error ends the reply */
	pc->rows++;
}

static void
put_complete(struct pg_conn *pc, const PGresult *res)
{
	struct proto_complete m = { .cache_state = PROTO_CACHE_BYPASS };
	const char *tuples = PQcmdTuples((PGresult *)res);

	if (pc->nomem) {
		put_error(pc, PROTO_E_NOMEM, "53200", "out of memory", "", "");
		return;
	}
	if (pc->too_big) {
		put_error(pc, PROTO_E_LIMIT, "54000", "a row or the column descriptions are "
		    "larger than the client's frame limit", "", "");
		/* libpq keeps the buffer it grew for the row: the connection goes with it. */
		pc->conn->broken = true;
		return;
	}
	m.command_tag = PQcmdStatus((PGresult *)res);
	m.cache_state = pc->req->res_cacheable ? pc->req->cache_state : PROTO_CACHE_BYPASS;
	m.rows_affected = tuples[0] != '\0' ? strtoull(tuples, NULL, 10) : pc->rows;
	proto_encode_complete(&pc->out, pc->req->reqid, &m);
}

/*
 * A statement's error ends the reply.  An owner that takes the fields of errors gets
 * every one the server sent first, the frames encoded before it handed on before them.
 */
static void
put_result_error(struct pg_conn *pc, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	struct request *r = pc->req;
	struct pg_field f[PG_NFIELDS];
	char msg[512], pos[24];
	size_t n;

	if (state == NULL && PQstatus(pc->pg) != CONNECTION_OK) {
		put_conn_error(pc);
		return;
	}
	if (pg_wants_fields(r) && (n = pg_fields_of(pc, res, f, pos, sizeof(pos))) > 0) {
		pg_flush_out(pc);
		if (pc->req == r)
			request_pg_fields(r, false, f, n);
		if (pc->req != r)
			return;		/* the owner ended the request in the call */
	}
	one_line(msg, sizeof(msg), primary ? primary : PQresultErrorMessage(res));
	put_error(pc, PROTO_E_SQL, state, msg, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
	    PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
}

/*
 * The described statement's parameters and columns (backend_describe): the columns
 * as the server would send them in text, whatever the client later asks for at Bind.
 */
static void
put_describe(struct pg_conn *pc, const PGresult *res)
{
	int np = PQnparams(res), nf = PQnfields(res), i, perr = PROTO_E_NOMEM;
	struct proto_col *cols = NULL;
	const char **names = NULL;
	uint32_t *ptypes = NULL;

	if ((np > 0 && (ptypes = calloc((size_t)np, sizeof(*ptypes))) == NULL) ||
	    (nf > 0 && ((names = calloc((size_t)nf, sizeof(*names))) == NULL ||
	    (cols = calloc((size_t)nf, sizeof(*cols))) == NULL)))
		goto out;
	for (i = 0; i < np; i++)
		ptypes[i] = PQparamtype(res, i);
	for (i = 0; i < nf; i++) {
		names[i] = PQfname(res, i);
		cols[i].type_oid = PQftype(res, i);
		cols[i].typmod = PQfmod(res, i);
		cols[i].format = PROTO_FORMAT_TEXT;
	}
	perr = backend_describe(&pc->out, pc->req, ptypes, (size_t)np, names, cols, (size_t)nf);
out:
	if (perr == PROTO_E_LIMIT)
		put_error(pc, PROTO_E_LIMIT, "54000", "the description is larger than the "
		    "client's frame limit", "", "");
	else if (perr != PROTO_E_OK)
		put_error(pc, PROTO_E_NOMEM, "53200", "out of memory", "", "");
	free(ptypes);
	free(names);
	free(cols);
}

/* One result of the request in flight. */
static void
pg_result(struct pg_conn *pc, PGresult *res)
{
	enum req_kind kind = pc->req->kind;

	if (pc->failed && PQresultStatus(res) != PGRES_COPY_IN &&
	    PQresultStatus(res) != PGRES_COPY_OUT)
		return;		/* after an error only the end of the results counts */
	switch (PQresultStatus(res)) {
	case PGRES_SINGLE_TUPLE:
		if (kind != REQ_EXEC)
			break;		/* dbmd's own query */
		if (!pc->desc_sent)
			put_row_desc(pc, res);
		put_row(pc, res);
		break;
	case PGRES_TUPLES_OK:
		if (kind != REQ_EXEC)
			break;
		if (!pc->desc_sent)
			put_row_desc(pc, res);
		hold_end(pc);
		put_complete(pc, res);
		break;
	case PGRES_COMMAND_OK:
		if (kind == REQ_DESCRIBE) {
			/* Preparing says nothing; describing what it prepared, everything. */
			if (pc->stage == PG_STAGE_DESCRIBE)
				put_describe(pc, res);
		} else if (kind == REQ_EXEC) {
			hold_end(pc);
			put_complete(pc, res);
		} else if (kind == REQ_COMMIT && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
			put_error(pc, PROTO_E_SQL, "25P02", "the transaction was rolled back, not "
			    "committed: a statement in it had failed", "", "");
		else if (kind != REQ_RESET) {
			hold_end(pc);
			proto_encode_empty(&pc->out, PROTO_MSG_OK, pc->req->reqid);
		}
		break;
	case PGRES_EMPTY_QUERY:
		hold_end(pc);
		put_complete(pc, res);
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* COPY needs a protocol of its own; get out of it and drop the connection. */
		put_error(pc, PROTO_E_SQL, "0A000", "COPY is not supported through dbmd", "", "");
		if (PQresultStatus(res) == PGRES_COPY_IN)
			PQputCopyEnd(pc->pg, "COPY is not supported through dbmd");
		pc->conn->broken = true;
		break;
	default:
		put_result_error(pc, res);
		break;
	}
}

/* Sends one of dbmd's own queries of the request; false when it could not. */
static bool
pg_send_own(struct pg_conn *pc, enum pg_stage stage, const char *sql)
{
	pc->stage = stage;
	if (!PQsendQuery(pc->pg, sql)) {
		put_conn_error(pc);
		return false;
	}
	pc->phase = PG_SENDING;
	pg_send_step(pc);
	return true;
}

/* Asks for the description of the statement the main query prepared (unnamed). */
static bool
pg_send_describe(struct pg_conn *pc)
{
	pc->stage = PG_STAGE_DESCRIBE;
	if (!PQsendDescribePrepared(pc->pg, "")) {
		put_conn_error(pc);
		return false;
	}
	pc->phase = PG_SENDING;
	pg_send_step(pc);
	return true;
}

/*
 * The query of a stage has returned all its results: the next stage starts, or the
 * request is over (false).  What a describe prepared is then described.  After a
 * read_only role's statement the transaction dbmd began is committed, or rolled back
 * when the statement failed; a transaction the client began there is made read-only,
 * and a snapshot taken so that it cannot be switched back (PostgreSQL refuses
 * read-write once a query has run).
 */
/*
 * After the last stage: where a pool whose writes a read role reads
 * (read_your_writes) learns the primary's position once a write is committed; false
 * when the request is over.
 */
static bool
pg_after(struct pg_conn *pc, PGTransactionStatusType ts)
{
	enum req_kind kind = pc->req->kind;

	if (ts != PQTRANS_IDLE || pc->stage == PG_STAGE_LSN)
		return false;
	if (!pc->wrote || pc->failed || (kind != REQ_EXEC && kind != REQ_COMMIT)) {
		pc->wrote = false;	/* rolled back, or failed: nothing to read */
		return false;
	}
	pc->wrote = false;
	return pg_send_own(pc, PG_STAGE_LSN, PG_COMMIT_LSN);
}

static bool
pg_next_stage(struct pg_conn *pc)
{
	PGTransactionStatusType ts = PQtransactionStatus(pc->pg);
	enum pg_post post = pc->post;

	if (pc->conn->broken)
		return false;
	if (pc->stage == PG_STAGE_PRE) {
		if (pc->failed)
			return false;
		return pg_send_main(pc);
	}
	if (pc->stage == PG_STAGE_MAIN && pc->req->kind == REQ_DESCRIBE)
		return !pc->failed && pg_send_describe(pc);
	if (pc->stage != PG_STAGE_MAIN || post == PG_POST_NONE)
		return pg_after(pc, ts);
	pc->post = PG_POST_NONE;
	if (post == PG_POST_END && ts == PQTRANS_INTRANS)
		return pg_send_own(pc, PG_STAGE_POST, "COMMIT");
	if (post == PG_POST_END && ts == PQTRANS_INERROR)
		return pg_send_own(pc, PG_STAGE_POST, "ROLLBACK");
	if (post == PG_POST_READ_ONLY && ts == PQTRANS_INTRANS)
		return pg_send_own(pc, PG_STAGE_POST, "SET TRANSACTION READ ONLY; SELECT 1");
	return pg_after(pc, ts);
}

/*
 * Reads every result libpq has complete, without blocking; stops when the client's
 * output is full (conn_resume continues) or when the request is over.  The owner may
 * end the request from inside what it is handed (it cancels, its client has gone):
 * nothing more is done for that request then.
 */
static void
pg_process(struct pg_conn *pc)
{
	struct request *r;
	PGresult *res;
	size_t before, parsed;
	bool row;

	while ((r = pc->req) != NULL && !pc->stalled) {
		if (PQisBusy(pc->pg)) {
			/* No result is complete: the notices parsed all come before the next. */
			pg_notices_deliver(pc, SIZE_MAX);
			if (pc->req != r)
				return;
			pg_flush_out(pc);
			if (pc->req == r && !pc->stalled &&
			    pg_watch(pc, EV_READ | EV_PERSIST) == -1) {
				put_conn_error(pc);
				pg_finish(pc);
			}
			return;
		}
		before = pc->nnotices;
		res = PQgetResult(pc->pg);
		parsed = pc->nnotices;
		if (res == NULL) {
			pg_notices_deliver(pc, SIZE_MAX);
			if (pc->req != r)
				return;
			if (!pg_next_stage(pc))
				pg_finish(pc);
			return;
		}
		/*
		 * The notices PQgetResult parsed came after res.  Those parsed before it, by
		 * the call that found res complete, came before or after it: libpq parses on
		 * through the notices that follow a complete result, and does not say where
		 * it was.  A statement's end is taken to follow them (a statement's notices
		 * come before its end), a row to precede them (those of the next row).
		 */
		row = PQresultStatus(res) == PGRES_SINGLE_TUPLE;
		if (!row)
			pg_notices_deliver(pc, before);
		if (pc->req != r) {
			PQclear(res);
			return;
		}
		if (pc->stage == PG_STAGE_LSN) {
			/* The write is committed and answered: a failure here is not its. */
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				r->commit_lsn = pghosts_lsn_parse(PQgetvalue(res, 0, 0));
		} else if ((pc->stage != PG_STAGE_MAIN && pc->stage != PG_STAGE_DESCRIBE) ||
		    pc->skip_first) {
			/* dbmd's own query: only its failure reaches the client. */
			pc->skip_first = false;
			if (PQresultStatus(res) == PGRES_FATAL_ERROR && !pc->failed)
				put_result_error(pc, res);
		} else
			pg_result(pc, res);
		PQclear(res);
		if (pc->req == r)
			pg_notices_deliver(pc, row ? parsed : parsed - before);
		if (pc->req != r)
			return;
		pg_drop_notifies(pc);
		if (pc->conn->broken) {
			pg_finish(pc);		/* the connection is discarded: no more reading */
			return;
		}
		if (pc->out.len >= CHUNK_BYTES)
			pg_flush_out(pc);
	}
	if (pc->stalled)
		pg_unwatch(pc);		/* the server waits in its socket buffer */
}

/* Sends what libpq has queued; then reads. */
static void
pg_send_step(struct pg_conn *pc)
{
	int rc = PQflush(pc->pg);

	if (rc == 0) {
		pc->phase = PG_RECEIVING;
		pg_process(pc);
	} else if (rc == 1) {
		if (pg_watch(pc, EV_READ | EV_WRITE) == -1) {
			put_conn_error(pc);
			pg_finish(pc);
		}
	} else {
		put_conn_error(pc);
		pg_finish(pc);
	}
}

static void
pg_idle_event(struct pg_conn *pc)
{
	char why[512];

	/* An idle connection's socket speaks only when the server is going away. */
	if (!PQconsumeInput(pc->pg) || PQstatus(pc->pg) != CONNECTION_OK) {
		one_line(why, sizeof(why), PQerrorMessage(pc->pg));
		pg_unwatch(pc);
		pool_conn_lost(pc->conn, why);
		return;
	}
	pg_drop_notifies(pc);
}

static void
pg_io(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *pc = arg;

	(void)fd;
	switch (pc->phase) {
	case PG_WAITING:
		break;
	case PG_CONNECTING:
		pg_connect_step(pc);
		break;
	case PG_IDLE:
		pg_idle_event(pc);
		break;
	case PG_SENDING:
		if ((what & EV_READ) && !PQconsumeInput(pc->pg)) {
			put_conn_error(pc);
			pg_finish(pc);
			break;
		}
		pg_send_step(pc);
		break;
	case PG_RECEIVING:
		if (!PQconsumeInput(pc->pg)) {
			put_conn_error(pc);
			pg_finish(pc);
			break;
		}
		pg_process(pc);
		break;
	case PG_DONE:
		break;
	}
}

/*
 * Starts connecting: to the pool's URI as it is, or, for a role whose servers are
 * watched, with the host list pghosts orders; or waits (PG_WAITING, up to
 * acquire_timeout) until a server qualifies, or fails at once as the role says.
 */
static void
pg_conn_start(struct pg_conn *pc)
{
	struct pool *p = pc->conn->pool;
	struct pg_pool *pp = p->be_state;
	char **kw = NULL, **val = NULL, msg[sizeof(p->last_error)] = "";
	struct timeval tv;

	if (pp->hosts != NULL) {
		switch (pghosts_choose(pp->hosts, &kw, &val, &pc->chosen, msg, sizeof(msg))) {
		case PGH_CONNECT:
			break;
		case PGH_FAIL:
			pc->errstate = "57P03";
			pg_open_failed(pc, msg);
			return;
		case PGH_WAIT:
			/*
			 * The requests waiting have their deadlines, and fail with this
			 * reason; the connection waits on, for those that come later.
			 */
			pc->phase = PG_WAITING;
			snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
			snprintf(p->last_sqlstate, sizeof(p->last_sqlstate), "57P03");
			return;
		}
	}
	pc->phase = PG_CONNECTING;
	pc->pg = PQconnectStartParams(
	    (const char *const *)(kw != NULL ? kw : pp->keywords),
	    (const char *const *)(val != NULL ? val : pp->values), 0);
	strv_free(kw);
	strv_free(val);
	if (pc->pg == NULL) {
		pg_open_failed(pc, "out of memory");
		return;
	}
	if (PQstatus(pc->pg) == CONNECTION_BAD) {
		pg_open_failed(pc, PQerrorMessage(pc->pg));
		return;
	}
	PQsetnonblocking(pc->pg, 1);
	PQsetNoticeReceiver(pc->pg, pg_notice_receiver, pc);
	evtimer_del(pc->timer);
	tv.tv_sec = pp->connect_timeout / 1000;
	tv.tv_usec = (pp->connect_timeout % 1000) * 1000;
	evtimer_add(pc->timer, &tv);
	/* As the libpq manual says: start as if PQconnectPoll had asked to write. */
	if (pg_watch(pc, EV_WRITE) == -1)
		pg_open_failed(pc, PQerrorMessage(pc->pg));
}

static int
pg_conn_open(struct conn *c)
{
	struct pg_conn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return -1;
	pc->conn = c;
	pc->ev_fd = -1;
	pc->host = pc->chosen = -1;
	pc->phase = PG_CONNECTING;
	proto_buf_init(&pc->out);
	TAILQ_INIT(&pc->notices);
	pc->timer = evtimer_new(dbmd->base, pg_connect_timeout, pc);
	pc->defer = evtimer_new(dbmd->base, pg_deferred_cb, pc);
	if (pc->timer == NULL || pc->defer == NULL) {
		pg_conn_free(pc);
		return -1;
	}
	c->be = pc;
	pg_conn_start(pc);
	return 0;
}

/* What a word of a statement says about it, for the result cache. */
#define W_WRITES	0x01	/* it changes data, or may */
#define W_VOLATILE	0x02	/* its result changes by itself */
#define W_ANALYZE	0x04	/* EXPLAIN ANALYZE runs the statement */

struct sql_word {
	const char	*word;
	int		 what;
	size_t		 len;
};

#define SQLW(w, what)	{ w, what, sizeof(w) - 1 }
static struct sql_word sql_words[] = {
	SQLW("age", W_VOLATILE), SQLW("analyze", W_ANALYZE), SQLW("call", W_WRITES),
	SQLW("clock_timestamp", W_VOLATILE), SQLW("copy", W_WRITES),
	SQLW("current_date", W_VOLATILE), SQLW("current_setting", W_VOLATILE),
	SQLW("current_time", W_VOLATILE), SQLW("current_timestamp", W_VOLATILE),
	SQLW("currval", W_VOLATILE), SQLW("dblink", W_VOLATILE), SQLW("delete", W_WRITES),
	SQLW("do", W_WRITES), SQLW("gen_random_uuid", W_VOLATILE), SQLW("insert", W_WRITES),
	SQLW("into", W_WRITES), SQLW("lastval", W_VOLATILE), SQLW("localtime", W_VOLATILE),
	SQLW("localtimestamp", W_VOLATILE), SQLW("merge", W_WRITES), SQLW("nextval", W_VOLATILE),
	SQLW("now", W_VOLATILE), SQLW("random", W_VOLATILE), SQLW("set_config", W_VOLATILE),
	SQLW("setseed", W_VOLATILE), SQLW("setval", W_VOLATILE), SQLW("share", W_VOLATILE),
	SQLW("statement_timestamp", W_VOLATILE), SQLW("timeofday", W_VOLATILE),
	SQLW("transaction_timestamp", W_VOLATILE), SQLW("txid_current", W_VOLATILE),
	SQLW("update", W_WRITES), SQLW("uuid_generate_v1", W_VOLATILE),
	SQLW("uuid_generate_v1mc", W_VOLATILE), SQLW("uuid_generate_v4", W_VOLATILE),
};

static int
sql_word_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sql_word *)a)->word, ((const struct sql_word *)b)->word);
}

/* The table's index, made on first use: see sql_words_init. */
static struct {
	bool	ready;
	size_t	first[27];	/* words starting with 'a' + i: [first[i], first[i + 1]) */
} sqw;

/* The table is sorted and indexed by its words' first letters. */
static void
sql_words_init(void)
{
	size_t i, nwords = sizeof(sql_words) / sizeof(sql_words[0]);
	int c;

	qsort(sql_words, nwords, sizeof(sql_words[0]), sql_word_cmp);
	for (c = 0, i = 0; c <= 26; c++) {
		while (i < nwords && sql_words[i].word[0] - 'a' < c)
			i++;
		sqw.first[c] = i;
	}
	sqw.ready = true;
}

/* What the word w[0..n), lower-cased, is in the list (0: not listed). */
static int
sql_word_what(const char *w, size_t n)
{
	size_t i;

	if (w[0] < 'a' || w[0] > 'z')
		return 0;
	for (i = sqw.first[w[0] - 'a']; i < sqw.first[w[0] - 'a' + 1]; i++)
		if (sql_words[i].len == n && memcmp(sql_words[i].word, w, n) == 0)
			return sql_words[i].what;
	return 0;
}

/*
 * What the words of a statement say, OR-ed: every word, in strings and comments too
 * (sqlscan_word), so "into" is not found in "points" nor "now" in "known", but is in
 * 'now'::timestamp.  One containing pg_ is volatile (the pg_* functions); only a word's
 * first 63 bytes are looked at, as the server cuts a longer name there.
 */
static int
sql_words_of(const char *sql)
{
	const char *p = sql;
	char word[64];
	size_t n;
	int what = 0;

	if (!sqw.ready)
		sql_words_init();
	while ((n = sqlscan_word(&p, word, sizeof(word))) > 0) {
		if (strstr(word, "pg_") != NULL)
			what |= W_VOLATILE;
		if (n < sizeof(word))
			what |= sql_word_what(word, n);
	}
	return what;
}

/*
 * What a statement may do, judged from its text, for the result cache.  The rule is
 * conservative: a result may be cached only for a single SELECT, VALUES, TABLE or WITH
 * statement with no data-modifying words (INSERT, UPDATE, DELETE, MERGE, INTO), no
 * locking clause (FOR UPDATE/SHARE), and none of the functions whose result changes by
 * itself (the time, random numbers, sequences, pg_* functions and others above).
 * Functions an application defines as VOLATILE are not known here: statements calling
 * them must not be marked cacheable.  Any other statement counts as a write to the
 * database, and every cached result on it is invalidated when it succeeds.
 */
static void
pg_classify(struct request *r, char *first, size_t size)
{
	int what = sql_words_of(r->sql);
	struct sqlscan s;
	bool read_shaped;

	sqlscan_init(&s, r->sql, SQLSCAN_PG);
	sqlscan_keyword(&s, first, size);
	read_shaped = (strcmp(first, "SELECT") == 0 || strcmp(first, "VALUES") == 0 ||
	    strcmp(first, "TABLE") == 0 || strcmp(first, "WITH") == 0 ||
	    strcmp(first, "SHOW") == 0 || (strcmp(first, "EXPLAIN") == 0 &&
	    !(what & W_ANALYZE))) && !(what & W_WRITES);
	r->res_cacheable = read_shaped && strcmp(first, "SHOW") != 0 &&
	    strcmp(first, "EXPLAIN") != 0 && !(what & W_VOLATILE);
	r->res_wrote = !read_shaped;
}

/*
 * libpq's paramFormats, for a request with a binary parameter: 1 for each binary one,
 * which the server then reads as its type's binary form (for bytea, the bytes
 * themselves).  libpq copies what it sends, so the array is the caller's to free.
 */
static int *
pg_formats(const struct request *r)
{
	int *formats;
	uint32_t i;

	if ((formats = calloc(r->nparams, sizeof(int))) == NULL)
		return NULL;
	for (i = 0; i < r->nparams; i++)
		formats[i] = r->formats[i];
	return formats;
}

/*
 * Whether a statement goes as a simple query: one without parameters or declared
 * types that cannot be more than one.  That costs the server one message instead of
 * the extended protocol's five and is what libpq's PQexec sends; anything else goes
 * through the extended protocol, where the server itself refuses several statements
 * in one call.
 */
static bool
pg_simple(const struct request *r)
{
	return r->nparams == 0 && r->types == NULL && sqlscan_one_statement(r->sql);
}

/*
 * The request's own query; single-row mode for a statement's rows.  A statement's
 * parameters go with the types the request declares (0, or none: the server infers
 * them).  A describe prepares the unnamed statement, with the types declared for its
 * first parameters; pg_send_describe then asks what it is.
 */
static bool
pg_send_main(struct pg_conn *pc)
{
	struct request *r = pc->req;
	const Oid *types = (const Oid *)r->types;
	int *formats, sent;

	pc->stage = PG_STAGE_MAIN;
	if (pc->own != NULL)
		sent = PQsendQuery(pc->pg, pc->own);
	else if (r->kind == REQ_DESCRIBE)
		sent = PQsendPrepare(pc->pg, "", r->sql, types != NULL ? (int)r->nparams : 0,
		    types);
	else if (pg_simple(r))
		sent = PQsendQuery(pc->pg, r->sql);
	else if (r->formats == NULL)
		sent = PQsendQueryParams(pc->pg, r->sql, (int)r->nparams, types,
		    (const char *const *)r->params, (const int *)r->lens, NULL, 0);
	else if ((formats = pg_formats(r)) == NULL) {
		/* dbmd's BEGIN may have run: the connection goes rather than keep it open. */
		put_error(pc, PROTO_E_NOMEM, "53200", "out of memory", "", "");
		pc->conn->broken = true;
		return false;
	} else {
		sent = PQsendQueryParams(pc->pg, r->sql, (int)r->nparams, types,
		    (const char *const *)r->params, (const int *)r->lens, formats, 0);
		free(formats);
	}
	if (!sent) {
		put_conn_error(pc);
		return false;
	}
	if (r->kind == REQ_EXEC)
		PQsetSingleRowMode(pc->pg);
	pc->phase = PG_SENDING;
	pg_send_step(pc);
	return true;
}

/* What DISCARD ALL does, for a connection that must first leave a transaction. */
#define PG_DISCARD_IN_TXN	"ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; " \
	"RESET ALL; DEALLOCATE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); " \
	"DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"

/*
 * Runs a request.  A read_only role's statement outside a transaction runs inside one
 * dbmd begins READ ONLY: PostgreSQL then refuses every write, whatever the statement
 * says or calls, and refuses to make the transaction read-write once it has run a
 * query.  BEGIN goes in the same message as a simple query (pg_simple), else first.
 * A statement that begins a transaction itself (BEGIN, START) runs as it is and the
 * transaction is made read-only after it.  Every client statement may leave session
 * state: the pool resets the connection before another handle gets it (REQ_RESET
 * with discard).
 */
static void
pg_conn_exec(struct conn *c, struct request *r)
{
	struct pg_conn *pc = c->be;
	bool read_only = c->pool->rc->read_only != 0;
	const char *own = NULL;
	char first[16];

	pc->req = r;
	pc->held = SIZE_MAX;
	pc->desc_sent = false;
	pc->failed = false;
	pc->stalled = false;
	pc->too_big = false;
	pc->nomem = false;
	pc->rows = 0;
	pc->post = PG_POST_NONE;
	pc->skip_first = false;
	pc->pos_offset = 0;
	free(pc->own);
	pc->own = NULL;
	pg_notices_clear(pc);
	proto_buf_reset(&pc->out);
	pc->out.max_payload = r->max_frame;
	switch (r->kind) {
	case REQ_EXEC:
		pg_classify(r, first, sizeof(first));
		c->session_dirty = true;
		pc->wrote = pc->wrote || (c->pool->track_lsn && r->res_wrote);
		if (read_only && c->in_txn && (strcmp(first, "COMMIT") == 0 ||
		    strcmp(first, "END") == 0 || strcmp(first, "ROLLBACK") == 0 ||
		    strcmp(first, "ABORT") == 0)) {
			/*
			 * COMMIT AND CHAIN (or ROLLBACK AND CHAIN) starts a new transaction
			 * with no snapshot yet, which SET TRANSACTION READ WRITE could still
			 * make writable: the one it leaves open is made read-only at once.
			 */
			pc->post = PG_POST_READ_ONLY;
			break;
		}
		if (!read_only || c->in_txn)
			break;
		if (strcmp(first, "BEGIN") == 0 || strcmp(first, "START") == 0) {
			pc->post = PG_POST_READ_ONLY;
			break;
		}
		pc->post = PG_POST_END;
		if (pg_simple(r)) {
			if (asprintf(&pc->own, "%s%s", PG_BEGIN_READ_ONLY, r->sql) == -1) {
				pc->own = NULL;
				goto nomem;
			}
			pc->skip_first = true;
			pc->pos_offset = strlen(PG_BEGIN_READ_ONLY);
		} else if (pg_send_own(pc, PG_STAGE_PRE, "BEGIN READ ONLY"))
			return;
		else
			goto failed;
		break;
	case REQ_BEGIN:
		own = read_only ? "BEGIN READ ONLY; SELECT 1" : "BEGIN";
		break;
	case REQ_COMMIT:
		own = "COMMIT";
		break;
	case REQ_ROLLBACK:
		own = "ROLLBACK";
		break;
	case REQ_RESET:
		own = !r->discard ? "ROLLBACK" : c->in_txn ? PG_DISCARD_IN_TXN : "DISCARD ALL";
		break;
	case REQ_OPEN:
		fatalx("%s: REQ_OPEN reached the backend", __func__);
	case REQ_DESCRIBE:
		/*
		 * Nothing runs, so a read_only role needs no transaction around it.  The
		 * unnamed statement it leaves is session state, which a reset clears.
		 */
		r->res_cacheable = false;
		r->res_wrote = false;
		c->session_dirty = true;
		break;
	}
	if (own != NULL && (pc->own = strdup(own)) == NULL)
		goto nomem;
	if (pg_send_main(pc))
		return;
	goto failed;
nomem:
	put_error(pc, PROTO_E_NOMEM, "53200", "out of memory", "", "");
failed:
	pc->phase = PG_RECEIVING;
	pc->stage = PG_STAGE_MAIN;
	pc->post = PG_POST_NONE;
	pg_defer(pc, PG_DEFER_FINISH);	/* PQgetResult then reports the end */
}

static void
pg_conn_resume(struct conn *c)
{
	struct pg_conn *pc = c->be;

	if (!pc->stalled)
		return;
	pc->stalled = false;
	pg_process(pc);
}

static void *
pg_cancel_thread(void *arg)
{
	PGcancel *cancel = arg;
	char err[256];

	if (!PQcancel(cancel, err, sizeof(err)))
		log_debug("cancel request failed: %s", err);
	PQfreeCancel(cancel);
	return NULL;
}

/* Asks the server to cancel the statement; its error then ends the request as usual. */
static void
pg_conn_cancel(struct conn *c)
{
	struct pg_conn *pc = c->be;
	PGcancel *cancel;
	pthread_attr_t attr;
	pthread_t t;

	if (pc->phase != PG_SENDING && pc->phase != PG_RECEIVING)
		return;
	if ((cancel = PQgetCancel(pc->pg)) == NULL)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	if (thread_start(&t, &attr, pg_cancel_thread, cancel) != 0) {
		log_warnx("cannot start a thread to cancel a statement: discarding connection");
		PQfreeCancel(cancel);
	}
	pthread_attr_destroy(&attr);
	/*
	 * The cancel lands whenever it lands, perhaps after the statement ended on its
	 * own: a connection given to the next request could lose that one's statement.
	 * So this connection is not reused; a cancel for a backend that has gone is
	 * ignored by the server.
	 */
	c->broken = true;
	/* A stalled reply must go on to reach the server's error. */
	if (pc->stalled)
		pg_conn_resume(c);
}

/* At exit: a blocking cancel, since no thread would outlive the process to send it. */
static void
pg_conn_abort(struct conn *c)
{
	struct pg_conn *pc = c->be;
	PGcancel *cancel;
	char err[256];

	if (pc == NULL || (pc->phase != PG_SENDING && pc->phase != PG_RECEIVING) ||
	    (cancel = PQgetCancel(pc->pg)) == NULL)
		return;
	if (!PQcancel(cancel, err, sizeof(err)))
		log_warnx("cancel at exit failed: %s", err);
	PQfreeCancel(cancel);
}

static void
pg_conn_close(struct conn *c)
{
	struct pg_conn *pc = c->be;

	pc->phase = PG_DONE;
	pg_unwatch(pc);
	PQfinish(pc->pg);
	pc->pg = NULL;
	pghosts_detach(((struct pg_pool *)c->pool->be_state)->hosts, pc->host);
	pc->host = -1;
	pg_defer(pc, PG_DEFER_CLOSED);
}

static const char *
opt(PQconninfoOption *opts, const char *keyword)
{
	PQconninfoOption *o;

	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val ? o->val : "";
	return "";
}

/*
 * Which database a URI reaches, with libpq's defaults filled in (a URI with no port
 * and one with the default port are one database): pools on one database share cache
 * invalidations.
 */
static char *
pg_db_key(PQconninfoOption *opts)
{
	PQconninfoOption *defs = PQconndefaults();
	const char *v[4], *kw[4] = { "host", "hostaddr", "port", "user" };
	const char *db = opt(opts, "dbname");
	char *key;
	int i;

	for (i = 0; i < 4; i++) {
		v[i] = opt(opts, kw[i]);
		if (v[i][0] == '\0' && defs != NULL)
			v[i] = opt(defs, kw[i]);
	}
	if (asprintf(&key, "postgresql:host=%s hostaddr=%s port=%s dbname=%s", v[0], v[1],
	    v[2], db[0] ? db : v[3]) == -1)
		key = NULL;
	PQconninfoFree(defs);
	return key;
}

/*
 * The pool's connection parameters: libpq's parse of the URI, with the role's
 * read_only and statement_timeout added to the server options, and application_name
 * "dbmd" unless the URI names one.
 */
static int
pg_pool_init(struct pool *p, char *err, size_t errlen)
{
	struct pg_pool *pp = calloc(1, sizeof(*pp));
	PQconninfoOption *opts, *o;
	char *pqerr = NULL, *extra = NULL;
	size_t n = 0, i = 0, len = 0, cap = 0;
	bool have_options = false, have_appname = false, oom = false;

	if (pp == NULL || (opts = PQconninfoParse(p->rc->uri, &pqerr)) == NULL) {
		snprintf(err, errlen, "%s", pqerr ? "invalid PostgreSQL URI" : "out of memory");
		PQfreemem(pqerr);
		free(pp);
		return -1;
	}
	if (p->rc->read_only &&
	    strbuf_printf(&extra, &len, &cap, " -c default_transaction_read_only=on") == -1)
		oom = true;
	if (p->rc->statement_timeout > 0 && strbuf_printf(&extra, &len, &cap,
	    " -c statement_timeout=%lld", p->rc->statement_timeout) == -1)
		oom = true;
	for (o = opts; o->keyword != NULL; o++)
		n++;
	if ((pp->keywords = calloc(n + 3, sizeof(char *))) == NULL ||
	    (pp->values = calloc(n + 3, sizeof(char *))) == NULL)
		goto nomem;
	for (o = opts; o->keyword != NULL && !oom; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			have_options = true;
			if (asprintf(&pp->values[i], "%s%s", o->val, extra ? extra : "") == -1)
				pp->values[i] = NULL;
		} else {
			if (strcmp(o->keyword, "application_name") == 0)
				have_appname = true;
			pp->values[i] = strdup(o->val);
		}
		pp->keywords[i] = strdup(o->keyword);
		oom = pp->keywords[i] == NULL || pp->values[i] == NULL;
		i++;
	}
	if (!oom && !have_options && extra != NULL) {
		pp->keywords[i] = strdup("options");
		pp->values[i] = strdup(extra + 1);
		oom = pp->keywords[i] == NULL || pp->values[i++] == NULL;
	}
	if (!oom && !have_appname) {
		pp->keywords[i] = strdup("application_name");
		pp->values[i] = strdup("dbmd");
		oom = pp->keywords[i] == NULL || pp->values[i++] == NULL;
	}
	if (oom || (p->db_key = pg_db_key(opts)) == NULL)
		goto nomem;
	PQconninfoFree(opts);
	free(extra);
	pp->connect_timeout = p->rc->connect_timeout;
	p->be_state = pp;
	p->hosts = pp->hosts = pghosts_new(p, (const char *const *)pp->keywords,
	    (const char *const *)pp->values, pg_hosts_changed);
	return 0;
nomem:
	/* The arrays hold n + 3 slots, NULL where nothing was put. */
	for (i = 0; i < n + 3 && pp->keywords != NULL; i++) {
		free(pp->keywords[i]);
		if (pp->values != NULL)
			free(pp->values[i]);
	}
	free(pp->keywords);
	free(pp->values);
	free(pp);
	free(extra);
	PQconninfoFree(opts);
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* May the connection serve the request: on a server that has replayed its client's write? */
static bool
pg_conn_serves(const struct conn *c, const struct request *r)
{
	const struct pg_pool *pp = c->pool->be_state;
	const struct pg_conn *pc = c->be;

	return pp->hosts == NULL || pghosts_serves(pp->hosts, pc->host, r);
}

/*
 * Read-your-writes requests wait: the standbys are asked again now.  A pool being
 * disposed: connections waiting for a server to qualify give up.
 */
static void
pg_pool_wake(struct pool *p)
{
	struct pg_pool *pp = p->be_state;
	struct conn *c;
	struct pg_conn *pc;

	if (p->disposing) {
		TAILQ_FOREACH(c, &p->conns[CONN_OPENING], entry)
			if ((pc = c->be) != NULL && pc->phase == PG_WAITING)
				pg_open_failed(pc, "the pool was disposed");
		return;
	}
	if (pp->hosts != NULL)
		pghosts_hurry(pp->hosts, true);
}

/*
 * What qualifies may have changed (pghosts): connections on servers that no longer
 * qualify are retired, connections waiting for a server try again, and the waiters
 * look for connections; read-your-writes waiters still waiting have the standbys
 * asked again.
 */
static void
pg_hosts_changed(struct pool *p)
{
	struct pg_pool *pp = p->be_state;
	struct conn *c, *next;
	struct pg_conn *pc;
	struct request *r;
	int st, from, moved;

	for (st = CONN_OPENING; st < CONN_CLOSING; st++)
		for (c = TAILQ_FIRST(&p->conns[st]); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if ((pc = c->be) == NULL)
				continue;
			if (st == CONN_OPENING && pc->phase == PG_WAITING)
				pg_conn_start(pc);
			else if (st != CONN_OPENING && !pghosts_usable(pp->hosts, pc->host))
				pool_conn_retire(c);
		}
	/* A server back among those that qualify takes over idle connections. */
	for (moved = 0; moved < p->rc->pool_size && !p->disposing &&
	    (from = pghosts_overloaded(pp->hosts)) >= 0; moved++) {
		TAILQ_FOREACH(c, &p->conns[CONN_IDLE], entry)
			if (((struct pg_conn *)c->be)->host == from)
				break;
		if (c == NULL)
			break;
		pool_conn_retire(c);
		if (pool_total(p) < p->rc->pool_size)
			pool_conn_new(p);
	}
	pool_kick(p);
	TAILQ_FOREACH(r, &p->reqs[REQ_QUEUED].list, entry)
		if (r->min_lsn != 0) {
			pghosts_hurry(pp->hosts, false);
			break;
		}
}

static void
pg_pool_fini(struct pool *p)
{
	struct pg_pool *pp = p->be_state;

	if (pp != NULL) {
		pghosts_free(pp->hosts);
		p->hosts = NULL;
		strv_free(pp->keywords);
		strv_free(pp->values);
	}
	free(pp);
	p->be_state = NULL;
}

const struct backend_ops backend_pg = {
	.name = "postgresql",
	.pool_init = pg_pool_init,
	.pool_fini = pg_pool_fini,
	.conn_open = pg_conn_open,
	.conn_exec = pg_conn_exec,
	.conn_resume = pg_conn_resume,
	.conn_cancel = pg_conn_cancel,
	.conn_close = pg_conn_close,
	.conn_abort = pg_conn_abort,
	.conn_serves = pg_conn_serves,
	.pool_wake = pg_pool_wake,
};
