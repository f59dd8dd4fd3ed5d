/* pgwire.c: the PostgreSQL front door: a session that speaks PostgreSQL's protocol 3.0. */

#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "dbmd.h"
#include "proto.h"

/*
 * A PostgreSQL client (psql, pgbench, any driver) connects to .s.PGSQL.<port> and is a
 * session like any other: the same handles, requests, pools, access checks and result
 * cache.  This file only translates.  Messages in are turned into dbmd's requests on
 * the session's one handle (the startup packet's database names the environment, and
 * ENV/ROLE a role); the frames a request's reply is made of (ROW_DESC, DATA_ROW,
 * COMPLETE, ERROR) are turned into RowDescription, DataRow, CommandComplete and
 * ErrorResponse as they arrive, so a large result streams with the same back-pressure.
 *
 * Prepared statements and portals belong to the client, not to a server connection:
 * Parse keeps the statement's text and parameter types, Bind the values, and Execute
 * sends the statement with its parameters as one request, which may run on any of the
 * pool's connections.  So a named statement keeps working whichever connection the
 * client's next transaction gets, and no server holds state the client left.  Describe
 * asks the backend for the types (REQ_DESCRIBE) unless an Execute of the same portal
 * follows, whose reply carries them anyway.  A row limit on Execute keeps the rest of
 * the portal's rows here, within the client's budget, until the next Execute or the
 * end of the transaction.
 *
 * Statements run as the pool's mode says: in transaction pooling (the default) each
 * statement or transaction takes any free connection, so statements that would leave
 * state on one connection for the next to find (LISTEN, session advisory locks, WITH
 * HOLD cursors, SQL PREPARE, SET without LOCAL, temporary tables outside a
 * transaction) are refused with a clear error rather than silently half-working; in
 * session pooling the client holds one connection for its life.
 */

#define STARTUP_MAX		10000		/* bytes of a startup packet */
#define MSG_MIN_LIMIT		(64 * 1024)	/* the least message size accepted */
#define OUT_HIGH		(1024 * 1024)	/* output waiting: stop serving messages */
#define STMTS_MAX		10000		/* prepared statements of one client */
#define PORTALS_MAX		1000		/* its portals */
#define STMT_BYTES_MAX		(16 * 1024 * 1024) /* their names and text together */
#define PORTAL_BYTES_MAX	(64 * 1024 * 1024) /* its portals' text, values and rows */
#define FIELDS_MAX		24

#define PG_PROTO_3		196608		/* 3.0 */
#define PG_CANCEL_REQUEST	80877102
#define PG_SSL_REQUEST		80877103
#define PG_GSSENC_REQUEST	80877104

/* A statement of the client's (Parse), by name; "" is the unnamed one. */
struct pg_stmt {
	TAILQ_ENTRY(pg_stmt)	 entry;
	char			*name;
	char			*sql;
	uint16_t		 ntypes;
	uint32_t		*types;		/* as Parse gave them; 0: unspecified */
};
TAILQ_HEAD(pg_stmts, pg_stmt);

/* A portal (Bind): a statement with its values, ready to run or partly read. */
struct pg_portal {
	TAILQ_ENTRY(pg_portal)	 entry;
	char			*name;
	char			*sql;		/* copied: Close of the statement leaves it */
	uint32_t		 nparams;
	char			**values;	/* NULL: SQL NULL; each NUL-terminated */
	uint32_t		*lens;
	uint8_t			*formats;	/* dbmd's PROTO_FORMAT_* per value; NULL: text */
	uint32_t		*types;		/* NULL: all inferred */
	uint16_t		 nresfmt;	/* 0: all text, 1: one for all, else per column */
	int16_t			*resfmt;
	bool			 describe_due;	/* a Describe waits for the Execute's columns */
	bool			 started;	/* has run: what it has left is held below */
	bool			 complete;	/* its statement has ended */
	uint8_t			*desc;		/* the RowDescription sent, or NULL: NoData */
	size_t			 desclen;
	struct pgbuf		 held;		/* DataRow messages not yet asked for */
	size_t			 held_pos;
	char			 tag[64];	/* its CommandComplete */
	size_t			 bytes;		/* what it holds, in pgwire.portal_bytes */
};
TAILQ_HEAD(pg_portals, pg_portal);

/* What the message being served waits for. */
enum pgw_job {
	JOB_NONE,		/* nothing: the next message may be served */
	JOB_OPEN,		/* the handle's connection (a new pool, session pooling) */
	JOB_SIMPLE,		/* a Query's statements, one request at a time */
	JOB_EXECUTE,		/* an Execute's request */
	JOB_DESCRIBE,		/* a Describe's REQ_DESCRIBE */
};

/* A result's columns as the client gets them. */
struct pgw_col {
	uint32_t	 oid;
	bool		 raw;		/* dbmd sends the bytes (bytea, BLOB), not text */
	bool		 binary;	/* the client asked for the binary form */
};

struct pgwire {
	bool		 started;	/* the startup packet was served */
	uint32_t	 key;		/* BackendKeyData's secret, for CancelRequest */
	char		*user;
	char		*database;
	char		 client_encoding[16];
	struct handle	*h;
	bool		 sqlite;	/* the handle's backend */
	bool		 session_mode;	/* pool_mode: session */
	uint32_t	 cache_max_age;	/* ms; SET dbmd.cache_max_age */
	bool		 skip_to_sync;	/* an extended-query error: ignore until Sync */
	size_t		 discard;	/* bytes of a message too large, still to drop */
	bool		 txn_failed;	/* PostgreSQL's transaction is aborted: 'E' */
	bool		 txn_gone;	/* dbmd ended it (a cancel, a lost connection): 'E'
					   until the client ends it too */
	uint32_t	 next_reqid;

	enum pgw_job	 job;
	struct request	*req;		/* the job's request in flight */
	/* JOB_SIMPLE: the query and where its next statement starts. */
	char		*query;
	size_t		 qpos;
	size_t		 stmt_off;	/* the running statement's offset, for positions */
	int		 wrap;		/* 0; 1: BEGIN sent; 2: statements; 3: COMMIT/ROLLBACK */
	bool		 quiet;		/* the request is dbmd's own: only its errors show */
	bool		 stepping;	/* inside step(): a request done at once returns there */
	bool		 failed;	/* a statement of the query failed */
	bool		 req_failed;	/* the request in flight ended with an error */
	/* JOB_EXECUTE and JOB_DESCRIBE */
	struct pg_portal *portal;
	uint32_t	 max_rows;
	uint32_t	 sent_rows;
	bool		 describe_stmt;	/* JOB_DESCRIBE of a statement (else a portal) */
	int		 desc_set;	/* JOB_DESCRIBE: which result set is arriving */
	bool		 desc_params_sent;

	/* The reply being translated. */
	struct pgw_col	*cols;
	uint16_t	 ncols, colcap;
	bool		 have_desc;	/* a ROW_DESC came for the current result set */
	bool		 cut;		/* the reply failed here: drop the rest */
	char		 cut_state[6];
	char		 cut_msg[160];
	struct pg_field	 efields[FIELDS_MAX];	/* the backend's fields of the error */
	char		*estore;	/* their text */
	size_t		 nefields;
	char		 open_error[256];	/* JOB_OPEN: why it failed */
	char		 open_state[6];

	struct pg_stmts	 stmts;
	size_t		 nstmts, stmt_bytes;
	struct pg_portals portals;
	size_t		 nportals, portal_bytes;	/* bounded by PORTALS_MAX, _BYTES_MAX */
	struct pgbuf	 out;		/* messages being built */
};

static void simple_next(struct session *);

/* Messages out. */

static void
msg_begin(struct pgbuf *b, char type)
{
	pgbuf_u8(b, (uint8_t)type);
	pgbuf_u32(b, 0);		/* the length, set by msg_end */
}

/* Sets the length of the message begun at start. */
static void
msg_end(struct pgbuf *b, size_t start)
{
	uint32_t n;

	if (b->failed)
		return;
	n = (uint32_t)(b->len - start - 1);
	b->data[start + 1] = (uint8_t)(n >> 24);
	b->data[start + 2] = (uint8_t)(n >> 16);
	b->data[start + 3] = (uint8_t)(n >> 8);
	b->data[start + 4] = (uint8_t)n;
}

/* Hands what was built to the session; 1 when the client's output is full. */
static int
flush(struct session *s)
{
	struct pgwire *pg = s->pg;
	int full = 0;

	if (pg->out.failed) {
		pgbuf_reset(&pg->out);
		session_close(s, PROTO_E_NOMEM, "out of memory for output");
		return 0;
	}
	if (pg->out.len > 0)
		full = session_output(s, pg->out.data, pg->out.len);
	pgbuf_reset(&pg->out);
	return full;
}

static void
put_simple(struct pgbuf *b, char type)
{
	size_t at = b->len;

	msg_begin(b, type);
	msg_end(b, at);
}

/* A PostgreSQL SQLSTATE for one of dbmd's error codes, when the error has none. */
static const char *
code_sqlstate(int code)
{
	switch (code) {
	case PROTO_E_PROTOCOL:
	case PROTO_E_VERSION:
	case PROTO_E_NO_HANDLE:
		return "08P01";		/* protocol_violation */
	case PROTO_E_UNKNOWN_ENV:
	case PROTO_E_UNKNOWN_ROLE:
		return "3D000";		/* invalid_catalog_name */
	case PROTO_E_CONFIG:
		return "F0000";		/* config_file_error */
	case PROTO_E_NOT_OVERRIDABLE:
		return "42501";		/* insufficient_privilege */
	case PROTO_E_PERMISSION:
		return "28000";		/* invalid_authorization_specification */
	case PROTO_E_LIMIT:
		return "53300";		/* too_many_connections */
	case PROTO_E_BACKEND:
	case PROTO_E_CONNECTION:
		return "08006";		/* connection_failure */
	case PROTO_E_TIMEOUT:
	case PROTO_E_CANCELED:
		return "57014";		/* query_canceled */
	case PROTO_E_TXN_STATE:
		return "25000";		/* invalid_transaction_state */
	case PROTO_E_SHUTDOWN:
	case PROTO_E_DRAINING:
		return "57P01";		/* admin_shutdown */
	case PROTO_E_NOMEM:
		return "53200";		/* out_of_memory */
	default:
		return "XX000";		/* internal_error */
	}
}

/* An ErrorResponse (or, with severity NOTICE, a NoticeResponse) of the basic fields. */
static void
put_error(struct pgbuf *b, const char *severity, const char *sqlstate, const char *msg,
    const char *detail, const char *hint)
{
	size_t at = b->len;

	msg_begin(b, strcmp(severity, "NOTICE") == 0 ? 'N' : 'E');
	pgbuf_u8(b, 'S');
	pgbuf_str(b, severity);
	pgbuf_u8(b, 'V');
	pgbuf_str(b, severity);
	pgbuf_u8(b, 'C');
	pgbuf_str(b, sqlstate);
	pgbuf_u8(b, 'M');
	pgbuf_str(b, msg);
	if (detail != NULL && *detail != '\0') {
		pgbuf_u8(b, 'D');
		pgbuf_str(b, detail);
	}
	if (hint != NULL && *hint != '\0') {
		pgbuf_u8(b, 'H');
		pgbuf_str(b, hint);
	}
	pgbuf_u8(b, 0);
	msg_end(b, at);
}

/*
 * A FATAL ErrorResponse for a client dbmd closes or refuses, into buf; its length, or
 * 0 when it does not fit.
 */
size_t
pgwire_fatal(int code, const char *reason, uint8_t *buf, size_t size)
{
	struct pgbuf b;
	size_t n = 0;

	pgbuf_init(&b);
	put_error(&b, "FATAL", code_sqlstate(code), reason != NULL ? reason : "closing",
	    NULL, NULL);
	if (!b.failed && b.len <= size) {
		memcpy(buf, b.data, b.len);
		n = b.len;
	}
	pgbuf_free(&b);
	return n;
}

/* A FATAL error with a SQLSTATE of its own, then the client is closed. */
static void
fatal_close(struct session *s, const char *sqlstate, const char *msg, const char *logmsg)
{
	put_error(&s->pg->out, "FATAL", sqlstate, msg, NULL, NULL);
	flush(s);
	session_close(s, 0, logmsg != NULL ? logmsg : msg);
}

static void
put_param_status(struct pgbuf *b, const char *name, const char *value)
{
	size_t at = b->len;

	msg_begin(b, 'S');
	pgbuf_str(b, name);
	pgbuf_str(b, value);
	msg_end(b, at);
}

/* 'I' idle, 'T' in a transaction, 'E' in a failed one. */
static char
txn_status(const struct pgwire *pg)
{
	if (pg->txn_gone)
		return 'E';
	if (pg->h == NULL || !pg->h->hold.in_txn)
		return 'I';
	return pg->txn_failed ? 'E' : 'T';
}

static void
put_ready(struct session *s)
{
	struct pgwire *pg = s->pg;
	size_t at = pg->out.len;

	msg_begin(&pg->out, 'Z');
	pgbuf_u8(&pg->out, (uint8_t)txn_status(pg));
	msg_end(&pg->out, at);
}

/* Statements and portals. */

static struct pg_stmt *
stmt_find(struct pgwire *pg, const char *name)
{
	struct pg_stmt *st;

	TAILQ_FOREACH(st, &pg->stmts, entry)
		if (strcmp(st->name, name) == 0)
			return st;
	return NULL;
}

static void
stmt_free(struct pgwire *pg, struct pg_stmt *st)
{
	TAILQ_REMOVE(&pg->stmts, st, entry);
	pg->nstmts--;
	pg->stmt_bytes -= strlen(st->sql) + strlen(st->name);
	free(st->name);
	free(st->sql);
	free(st->types);
	free(st);
}

static struct pg_portal *
portal_find(struct pgwire *pg, const char *name)
{
	struct pg_portal *po;

	TAILQ_FOREACH(po, &pg->portals, entry)
		if (strcmp(po->name, name) == 0)
			return po;
	return NULL;
}

static void
portal_free(struct pgwire *pg, struct pg_portal *po)
{
	uint32_t i;

	if (pg->portal == po)
		pg->portal = NULL;
	TAILQ_REMOVE(&pg->portals, po, entry);
	pg->nportals--;
	pg->portal_bytes -= po->bytes;
	for (i = 0; po->values != NULL && i < po->nparams; i++)
		free(po->values[i]);
	free(po->values);
	free(po->lens);
	free(po->formats);
	free(po->types);
	free(po->resfmt);
	free(po->desc);
	pgbuf_free(&po->held);
	free(po->name);
	free(po->sql);
	free(po);
}

/* The end of a transaction (or of an implicit one, at Sync) ends its portals. */
static void
portals_end(struct pgwire *pg)
{
	struct pg_portal *po;

	while ((po = TAILQ_FIRST(&pg->portals)) != NULL)
		portal_free(pg, po);
}

/* Session life. */

int
pgwire_start(struct session *s)
{
	struct pgwire *pg;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return -1;
	TAILQ_INIT(&pg->stmts);
	TAILQ_INIT(&pg->portals);
	pgbuf_init(&pg->out);
	if (getrandom(&pg->key, sizeof(pg->key), GRND_NONBLOCK) != sizeof(pg->key))
		pg->key = (uint32_t)random() ^ (uint32_t)now_us();
	s->pg = pg;
	return 0;
}

static void
efields_clear(struct pgwire *pg)
{
	free(pg->estore);
	pg->estore = NULL;
	pg->nefields = 0;
}

void
pgwire_free(struct session *s)
{
	struct pgwire *pg = s->pg;
	struct pg_stmt *st;

	if (pg == NULL)
		return;
	portals_end(pg);
	while ((st = TAILQ_FIRST(&pg->stmts)) != NULL)
		stmt_free(pg, st);
	efields_clear(pg);
	free(pg->cols);
	free(pg->query);
	free(pg->user);
	free(pg->database);
	pgbuf_free(&pg->out);
	free(pg);
	s->pg = NULL;
}

/* The most input buffered: one whole message of the largest size accepted. */
size_t
pgwire_input_limit(const struct session *s)
{
	size_t max = (size_t)dbmd->cfg->daemon.max_frame_size;

	(void)s;
	return (max < MSG_MIN_LIMIT ? MSG_MIN_LIMIT : max) + 5;
}

static size_t
msg_limit(void)
{
	return pgwire_input_limit(NULL) - 5;
}

/* Reading a message's body. */

struct rd {
	const uint8_t	*p, *end;
	bool		 bad;
};

static uint8_t
rd_u8(struct rd *r)
{
	if (r->bad || r->p + 1 > r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static uint16_t
rd_u16(struct rd *r)
{
	uint16_t v;

	if (r->bad || r->p + 2 > r->end) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t
rd_u32(struct rd *r)
{
	uint32_t v;

	if (r->bad || r->p + 4 > r->end) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
	    r->p[3];
	r->p += 4;
	return v;
}

/* A NUL-terminated string in the message, or "" and bad when there is none. */
static const char *
rd_str(struct rd *r)
{
	const uint8_t *nul;
	const char *s;

	if (r->bad || (nul = memchr(r->p, 0, (size_t)(r->end - r->p))) == NULL) {
		r->bad = true;
		return "";
	}
	s = (const char *)r->p;
	r->p = nul + 1;
	return s;
}

static const uint8_t *
rd_bytes(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

/* Startup. */

/*
 * The database name: ENV for its primary role, ENV/ROLE for another.  Returns false
 * when it is not of that shape.
 */
static bool
split_database(const char *db, char *env, size_t envsize, char *role, size_t rolesize)
{
	const char *slash = strchr(db, '/');
	size_t n = slash != NULL ? (size_t)(slash - db) : strlen(db);

	if (n == 0 || n >= envsize || (slash != NULL && (slash[1] == '\0' ||
	    strlen(slash + 1) >= rolesize || strchr(slash + 1, '/') != NULL)))
		return false;
	memcpy(env, db, n);
	env[n] = '\0';
	snprintf(role, rolesize, "%s", slash != NULL ? slash + 1 : "primary");
	return true;
}

/* Milliseconds from an integer (ms) or a duration with ms, s, min or h. */
static int
parse_ms(const char *v, uint32_t *ms)
{
	char *end;
	unsigned long long n;

	while (*v == ' ' || *v == '\'')
		v++;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (end == v || errno != 0)
		return -1;
	while (*end == ' ')
		end++;
	if (strncmp(end, "ms", 2) == 0)
		end += 2;
	else if (strncmp(end, "min", 3) == 0)
		n *= 60000, end += 3;
	else if (*end == 's')
		n *= 1000, end++;
	else if (*end == 'h')
		n *= 3600000, end++;
	while (*end == ' ' || *end == '\'')
		end++;
	if (*end != '\0' || n > 24ULL * 3600000)
		return -1;
	*ms = (uint32_t)n;
	return 0;
}

/*
 * The startup packet's options: only dbmd's own settings (-c dbmd.cache_max_age=5s).
 * Other settings are refused: dbmd cannot keep them on the connections a client's
 * statements take; a role's URI (its options) sets them for every connection.
 */
static int
startup_options(struct pgwire *pg, const char *opts, char *err, size_t errlen)
{
	char *copy = strdup(opts), *tok, *save = NULL, *kv, *eq;
	int rc = 0;

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, " \t", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (strcmp(tok, "-c") == 0) {
			if ((kv = strtok_r(NULL, " \t", &save)) == NULL)
				break;
		} else if (strncmp(tok, "-c", 2) == 0)
			kv = tok + 2;
		else if (strncmp(tok, "--", 2) == 0)
			kv = tok + 2;
		else {
			snprintf(err, errlen, "unsupported startup option \"%s\"", tok);
			rc = -1;
			break;
		}
		if ((eq = strchr(kv, '=')) == NULL) {
			snprintf(err, errlen, "startup option \"%s\" has no value", kv);
			rc = -1;
			break;
		}
		*eq = '\0';
		if (strcmp(kv, "dbmd.cache_max_age") == 0) {
			if (parse_ms(eq + 1, &pg->cache_max_age) == -1) {
				snprintf(err, errlen, "dbmd.cache_max_age: \"%s\" is not a "
				    "duration", eq + 1);
				rc = -1;
			}
		} else {
			snprintf(err, errlen, "dbmd does not apply the startup setting \"%s\": "
			    "set it in the role's URI (its options), or SET LOCAL it in a "
			    "transaction", kv);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

/* After the handle is open: what every driver waits for before its first query. */
static void
startup_done(struct session *s)
{
	struct pgwire *pg = s->pg;
	struct pool *p = pg->h->pool;
	char version[128];
	size_t at;

	if (p->server_version[0] != '\0')
		snprintf(version, sizeof(version), "%s", p->server_version);
	else
		snprintf(version, sizeof(version), "15.0 (dbmd %s, %s %s)", DBMD_VERSION,
		    pg->sqlite ? "SQLite" : p->be->name, pg->sqlite ? sqlite3_libversion() : "");
	at = pg->out.len;
	msg_begin(&pg->out, 'R');
	pgbuf_u32(&pg->out, 0);			/* AuthenticationOk */
	msg_end(&pg->out, at);
	put_param_status(&pg->out, "server_version", version);
	put_param_status(&pg->out, "server_encoding", "UTF8");
	put_param_status(&pg->out, "client_encoding", pg->client_encoding);
	put_param_status(&pg->out, "DateStyle", p->datestyle[0] ? p->datestyle : "ISO, MDY");
	put_param_status(&pg->out, "TimeZone", p->timezone[0] ? p->timezone : "UTC");
	put_param_status(&pg->out, "IntervalStyle", p->intervalstyle[0] ? p->intervalstyle :
	    "postgres");
	put_param_status(&pg->out, "integer_datetimes", "on");
	put_param_status(&pg->out, "standard_conforming_strings", "on");
	put_param_status(&pg->out, "application_name", s->name);
	put_param_status(&pg->out, "is_superuser", "off");
	put_param_status(&pg->out, "session_authorization", pg->user);
	at = pg->out.len;
	msg_begin(&pg->out, 'K');
	pgbuf_u32(&pg->out, (uint32_t)s->id);
	pgbuf_u32(&pg->out, pg->key);
	msg_end(&pg->out, at);
	put_ready(s);
	s->state = SESSION_READY;
	log_debug("client %llu is %s, PostgreSQL protocol, on %s/%s (pid %ld uid %lu)",
	    (unsigned long long)s->id, s->name, pg->h->env, pg->h->role, (long)s->pid,
	    (unsigned long)s->peer.uid);
	flush(s);		/* last: a client gone closes the session here */
}

/* A CancelRequest: the statement of the client with that key is cancelled. */
static void
cancel_request(uint32_t pid, uint32_t key)
{
	struct session *s;

	TAILQ_FOREACH(s, &dbmd->sessions, entry) {
		if (s->dead || s->kind != SESSION_PG || (uint32_t)s->id != pid ||
		    s->pg->key != key)
			continue;
		if (s->busy != NULL && s->pg->job != JOB_OPEN) {
			log_info("client %llu: statement cancelled at the client's request",
			    (unsigned long long)s->id);
			request_refuse(s->busy, PROTO_E_CANCELED, "57014",
			    "canceling statement due to user request");
		}
		return;
	}
}

/*
 * A notification on the connection a session-pooled client holds (it LISTENs):
 * NotificationResponse, which the protocol lets come at any time.
 */
static void
notify(struct hold *hd, int pid, const char *channel, const char *payload)
{
	struct handle *h = (struct handle *)((char *)hd - offsetof(struct handle, hold));
	struct session *s = h->session;
	struct pgbuf *b;
	size_t at;

	if (s->dead || s->kind != SESSION_PG || s->pg == NULL)
		return;
	b = &s->pg->out;
	at = b->len;
	msg_begin(b, 'A');
	pgbuf_u32(b, (uint32_t)pid);
	pgbuf_str(b, channel);
	pgbuf_str(b, payload != NULL ? payload : "");
	msg_end(b, at);
	flush(s);
}

/* The startup packet's parameters: who, which environment and role, then the open. */
static void
startup(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	const char *k, *v, *db = NULL, *user = NULL, *app = "", *enc = NULL, *opts = NULL;
	char env[DBMD_NAME_MAX + 1], role[DBMD_NAME_MAX + 1], err[256], *msg = NULL;
	struct request *req;
	int code;

	for (;;) {
		k = rd_str(r);
		if (r->bad || *k == '\0')
			break;
		v = rd_str(r);
		if (strcmp(k, "user") == 0)
			user = v;
		else if (strcmp(k, "database") == 0)
			db = v;
		else if (strcmp(k, "application_name") == 0)
			app = v;
		else if (strcmp(k, "client_encoding") == 0)
			enc = v;
		else if (strcmp(k, "options") == 0)
			opts = v;
		else if (strcmp(k, "replication") == 0 && strcmp(v, "false") != 0 &&
		    strcmp(v, "0") != 0 && strcmp(v, "off") != 0) {
			fatal_close(s, "0A000", "replication connections are not supported by "
			    "dbmd", NULL);
			return;
		}
		/* DateStyle, TimeZone, extra_float_digits and the like: the server's stand. */
	}
	if (r->bad || user == NULL || *user == '\0') {
		fatal_close(s, "08P01", "invalid startup packet: no user name", NULL);
		return;
	}
	if (db == NULL || *db == '\0')
		db = user;
	if (enc == NULL || strcasecmp(enc, "UTF8") == 0 || strcasecmp(enc, "UTF-8") == 0 ||
	    strcasecmp(enc, "UNICODE") == 0)
		snprintf(pg->client_encoding, sizeof(pg->client_encoding), "UTF8");
	else if (strcasecmp(enc, "SQL_ASCII") == 0)
		snprintf(pg->client_encoding, sizeof(pg->client_encoding), "SQL_ASCII");
	else {
		snprintf(err, sizeof(err), "client_encoding \"%s\" is not supported: dbmd "
		    "speaks UTF8", enc);
		fatal_close(s, "22023", err, NULL);
		return;
	}
	snprintf(s->name, sizeof(s->name), "%s", app);
	if (strlen(app) >= sizeof(s->name)) {
		/* Cut at a character, not inside one: it goes back in ParameterStatus. */
		size_t n = strlen(s->name);

		while (n > 0 && ((unsigned char)s->name[n] & 0xc0) == 0x80)
			n--;
		s->name[n] = '\0';
	}
	if ((pg->user = strdup(user)) == NULL || (pg->database = strdup(db)) == NULL) {
		fatal_close(s, "53200", "out of memory", NULL);
		return;
	}
	if (opts != NULL && startup_options(pg, opts, err, sizeof(err)) == -1) {
		fatal_close(s, "0A000", err, NULL);
		return;
	}
	if (!split_database(db, env, sizeof(env), role, sizeof(role))) {
		snprintf(err, sizeof(err), "database \"%s\" does not exist: name an environment "
		    "(ENV) or an environment and role (ENV/ROLE)", db);
		fatal_close(s, "3D000", err, NULL);
		return;
	}
	if ((pg->h = session_handle_new(s, env, role, NULL, 0, &code, &msg)) == NULL) {
		put_error(&pg->out, "FATAL", code_sqlstate(code), msg ? msg : "out of memory",
		    NULL, NULL);
		flush(s);
		session_close(s, 0, msg ? msg : "out of memory");
		free(msg);
		return;
	}
	pg->sqlite = strcmp(pg->h->pool->be->name, "sqlite") == 0;
	pg->session_mode = pg->h->pool->rc->pool_mode == POOL_MODE_SESSION;
	if (pg->session_mode) {
		pg->h->hold.pinned = true;
		pg->h->hold.notify = notify;
		if (session_pin_refused(s, pg->h, err, sizeof(err))) {
			fatal_close(s, "53300", err, NULL);
			return;
		}
	}
	pg->started = true;
	if (s->hello_timer != NULL) {
		/* The open waits as long as the pool says (acquire_timeout), not this. */
		event_free(s->hello_timer);
		s->hello_timer = NULL;
	}
	if (!pg->h->hold.pinned && pg->h->pool->connected) {
		startup_done(s);
		return;
	}
	/* A pinned handle takes its connection now; a new pool proves it can connect. */
	if ((req = session_request(s, pg->h, REQ_OPEN, ++pg->next_reqid)) == NULL) {
		fatal_close(s, "53200", "out of memory", NULL);
		return;
	}
	pg->job = JOB_OPEN;
	pg->req = req;
	session_run(s, pg->h, req);
}

/*
 * The first packet: SSL and GSS encryption are declined with 'N' (the socket is local),
 * a CancelRequest cancels and closes, and the startup packet opens the handle.
 */
static void
serve_startup(struct session *s, const uint8_t *p, size_t len)
{
	struct rd r = { p + 4, p + len, false };
	uint32_t code = rd_u32(&r), pid, key;
	uint8_t no = 'N';
	char msg[128];

	switch (code) {
	case PG_SSL_REQUEST:
	case PG_GSSENC_REQUEST:
		session_output(s, &no, 1);
		return;
	case PG_CANCEL_REQUEST:
		pid = rd_u32(&r);
		key = rd_u32(&r);
		if (!r.bad)
			cancel_request(pid, key);
		session_close(s, 0, "cancel request served");
		return;
	default:
		break;
	}
	if (code >> 16 != 3) {
		snprintf(msg, sizeof(msg), "unsupported frontend protocol %u.%u: dbmd speaks "
		    "3.0", code >> 16, code & 0xffff);
		fatal_close(s, "0A000", msg, NULL);
		return;
	}
	if ((code & 0xffff) != 0) {
		/* A newer minor version: say which one we speak (NegotiateProtocolVersion). */
		size_t at = s->pg->out.len;

		msg_begin(&s->pg->out, 'v');
		pgbuf_u32(&s->pg->out, PG_PROTO_3);
		pgbuf_u32(&s->pg->out, 0);
		msg_end(&s->pg->out, at);
	}
	startup(s, &r);
}

/* Errors of a request's reply. */

/* Ends a reply with an ErrorResponse from the backend's fields or from the ERROR frame. */
static void
put_reply_error(struct session *s, const struct proto_error *e)
{
	struct pgwire *pg = s->pg;
	struct pgbuf *b = &pg->out;
	const char *sqlstate = e->sqlstate[0] ? e->sqlstate : code_sqlstate(e->code);
	size_t at, i;
	char pos[24];
	long n;

	if (pg->sqlite && pg->req != NULL && pg->req->sql != NULL &&
	    strcasestr(pg->req->sql, "pg_catalog") != NULL) {
		/* psql's \d and the like: say why rather than quote SQLite's parser. */
		put_error(b, "ERROR", "0A000", "this environment is SQLite: PostgreSQL's "
		    "system catalogs (pg_catalog) are not there, so catalog queries such as "
		    "psql's \\d cannot work", e->message, "SQLite describes its tables in "
		    "sqlite_schema: SELECT name, sql FROM sqlite_schema");
		return;
	}
	if (pg->nefields == 0) {
		put_error(b, "ERROR", sqlstate, e->message, e->detail, e->hint);
		return;
	}
	at = b->len;
	msg_begin(b, 'E');
	for (i = 0; i < pg->nefields; i++) {
		pgbuf_u8(b, (uint8_t)pg->efields[i].code);
		if (pg->efields[i].code == 'P' && pg->stmt_off > 0) {
			/* A position in the statement, as one in the whole query. */
			n = strtol(pg->efields[i].value, NULL, 10);
			for (size_t k = 0; k < pg->stmt_off; k++)
				n += ((uint8_t)pg->query[k] & 0xc0) != 0x80;
			snprintf(pos, sizeof(pos), "%ld", n);
			pgbuf_str(b, pos);
		} else
			pgbuf_str(b, pg->efields[i].value);
	}
	pgbuf_u8(b, 0);
	msg_end(b, at);
	efields_clear(pg);
}

void
pgwire_fields(struct session *s, struct request *r, bool notice, const struct pg_field *f,
    size_t n)
{
	struct pgwire *pg = s->pg;
	struct pgbuf *b = &pg->out;
	size_t at, i, total = 0;
	char *p;

	if (r != pg->req)
		return;
	if (notice) {
		/*
		 * A client that reads nothing gets no more notices than fit the output
		 * bound: rows wait for it (the statement stalls), notices are dropped.
		 */
		if (pg->quiet || (s->out != NULL && evbuffer_get_length(s->out) > OUT_HIGH))
			return;
		at = b->len;
		msg_begin(b, 'N');
		for (i = 0; i < n; i++) {
			pgbuf_u8(b, (uint8_t)f[i].code);
			pgbuf_str(b, f[i].value);
		}
		pgbuf_u8(b, 0);
		msg_end(b, at);
		flush(s);
		return;
	}
	efields_clear(pg);
	if (n > FIELDS_MAX)
		n = FIELDS_MAX;
	for (i = 0; i < n; i++)
		total += strlen(f[i].value) + 1;
	if ((pg->estore = malloc(total ? total : 1)) == NULL)
		return;		/* the ERROR frame's fields will do */
	for (i = 0, p = pg->estore; i < n; i++) {
		pg->efields[i].code = f[i].code;
		pg->efields[i].value = p;
		memcpy(p, f[i].value, strlen(f[i].value) + 1);
		p += strlen(f[i].value) + 1;
	}
	pg->nefields = n;
}

/* Translating a reply. */

/* The client's format for column i of a portal's result (0 text, 1 binary). */
static int
result_format(const struct pg_portal *po, uint16_t i)
{
	if (po == NULL || po->nresfmt == 0)
		return 0;
	return po->nresfmt == 1 ? po->resfmt[0] : po->resfmt[i];
}

/* The reply fails here (the client is told at its end); the rest is dropped. */
static void
reply_cut(struct pgwire *pg, const char *sqlstate, const char *fmt, ...) ATTR_PRINTF(3, 4);

static void
reply_cut(struct pgwire *pg, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	if (pg->cut)
		return;
	pg->cut = true;
	snprintf(pg->cut_state, sizeof(pg->cut_state), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(pg->cut_msg, sizeof(pg->cut_msg), fmt, ap);
	va_end(ap);
}

/* RowDescription for a ROW_DESC, formats as the portal asks; into b. */
static void
put_row_desc(struct pgwire *pg, const struct proto_frame *f, struct pgbuf *b,
    const struct pg_portal *po)
{
	struct proto_row_desc m;
	struct proto_value name;
	struct proto_col col;
	struct pgw_col *cols;
	size_t at;
	uint16_t i;

	if (proto_decode_row_desc(f, PROTO_VERSION_MAX, &m) != PROTO_DERR_OK) {
		reply_cut(pg, "XX000", "dbmd could not read a column description");
		return;
	}
	if (po != NULL && po->nresfmt > 1 && po->nresfmt != m.ncols) {
		reply_cut(pg, "08P01", "bind message has %u result formats but query has %u "
		    "columns", po->nresfmt, m.ncols);
		return;
	}
	if (m.ncols > pg->colcap) {
		if ((cols = reallocarray(pg->cols, m.ncols, sizeof(*cols))) == NULL) {
			reply_cut(pg, "53200", "out of memory");
			return;
		}
		pg->cols = cols;
		pg->colcap = m.ncols;
	}
	pg->ncols = m.ncols;
	pg->have_desc = true;
	at = b->len;
	msg_begin(b, 'T');
	pgbuf_u16(b, m.ncols);
	for (i = 0; i < m.ncols && proto_iter_next(&m.name_iter, &name); i++) {
		proto_row_desc_col(&m, i, &col);
		pg->cols[i].oid = col.type_oid;
		pg->cols[i].raw = col.format == PROTO_FORMAT_BINARY;
		pg->cols[i].binary = result_format(po, i) == 1;
		if (pg->cols[i].binary && !pg->cols[i].raw && !pgtype_binary_ok(col.type_oid))
			reply_cut(pg, "0A000", "binary format of type %u is not supported "
			    "through dbmd: ask for text", col.type_oid);
		pgbuf_str(b, name.ptr);
		pgbuf_u32(b, 0);		/* table */
		pgbuf_u16(b, 0);		/* column */
		pgbuf_u32(b, col.type_oid);
		pgbuf_u16(b, (uint16_t)pgtype_len(col.type_oid));
		pgbuf_u32(b, (uint32_t)col.typmod);
		pgbuf_u16(b, pg->cols[i].binary ? 1 : 0);
	}
	pgbuf_u8(b, 0);		/* keeps msg_end's arithmetic simple; removed below */
	b->len--;
	msg_end(b, at);
}

/*
 * A SQLite boolean (its 1 and 0) as PostgreSQL writes one, t and f, which is what a
 * column of type bool promises a client; other text goes as it is.
 */
static void
sqlite_bool(const char *v, size_t len, struct pgbuf *b)
{
	if ((len == 1 && *v == '1') || (len == 4 && strncasecmp(v, "true", 4) == 0))
		pgbuf_add(b, "t", 1);
	else if ((len == 1 && *v == '0') || (len == 5 && strncasecmp(v, "false", 5) == 0))
		pgbuf_add(b, "f", 1);
	else
		pgbuf_add(b, v, len);
}

/* A DataRow for a DATA_ROW, values in the forms the client asked for; into b. */
static void
put_data_row(struct pgwire *pg, const struct proto_frame *f, struct pgbuf *b)
{
	struct proto_data_row m;
	struct proto_value v;
	size_t at, vat;
	uint16_t i;

	if (proto_decode_data_row(f, &m) != PROTO_DERR_OK || m.ncols != pg->ncols) {
		reply_cut(pg, "XX000", "dbmd could not read a row");
		return;
	}
	at = b->len;
	msg_begin(b, 'D');
	pgbuf_u16(b, m.ncols);
	for (i = 0; i < m.ncols && proto_iter_next(&m.value_iter, &v); i++) {
		if (v.ptr == NULL) {
			pgbuf_u32(b, 0xffffffff);
			continue;
		}
		vat = b->len;
		pgbuf_u32(b, 0);
		if (pg->cols[i].raw && !pg->cols[i].binary)
			pgtype_bytea_hex((const uint8_t *)v.ptr, v.len, b);
		else if (pg->sqlite && pg->cols[i].oid == PROTO_OID_BOOL && !pg->cols[i].binary)
			sqlite_bool(v.ptr, v.len, b);
		else if (pg->cols[i].raw || !pg->cols[i].binary)
			pgbuf_add(b, v.ptr, v.len);
		else if (pgtype_text_to_binary(pg->cols[i].oid, v.ptr, v.len, b) == -1) {
			reply_cut(pg, "22P02", "a value of column %u does not read as type %u, "
			    "so it has no binary form", i + 1, pg->cols[i].oid);
			b->len = at;
			return;
		}
		if (!b->failed) {
			uint32_t n = (uint32_t)(b->len - vat - 4);

			b->data[vat] = (uint8_t)(n >> 24);
			b->data[vat + 1] = (uint8_t)(n >> 16);
			b->data[vat + 2] = (uint8_t)(n >> 8);
			b->data[vat + 3] = (uint8_t)n;
		}
	}
	msg_end(b, at);
}

static void
put_complete_tag(struct pgbuf *b, const char *tag)
{
	size_t at = b->len;

	msg_begin(b, 'C');
	pgbuf_str(b, tag);
	msg_end(b, at);
}

/*
 * The column types a portal's Describe sent, for its rows: SQLite types an
 * expression from its first value, which a Describe, running nothing, cannot see.
 */
static void
described_types(struct pgwire *pg, const struct pg_portal *po)
{
	struct rd r = { po->desc + 5, po->desc + po->desclen, false };
	uint16_t n = rd_u16(&r), i;
	uint32_t oid;

	for (i = 0; i < n && i < pg->ncols && !r.bad; i++) {
		(void)rd_str(&r);
		(void)rd_u32(&r);
		(void)rd_u16(&r);
		oid = rd_u32(&r);
		(void)rd_u16(&r);
		(void)rd_u32(&r);
		(void)rd_u16(&r);
		if (!r.bad && !pg->cols[i].raw)
			pg->cols[i].oid = oid;
	}
}

/* One frame of an Execute's or a simple query's reply. */
static void
exec_frame(struct session *s, const struct proto_frame *f)
{
	struct pgwire *pg = s->pg;
	struct pg_portal *po = pg->job == JOB_EXECUTE ? pg->portal : NULL;
	struct proto_complete c;
	struct proto_error e;
	size_t at;

	if (f->hdr.type == PROTO_MSG_ERROR) {
		if (proto_decode_error(f, &e) != PROTO_DERR_OK)
			reply_cut(pg, "XX000", "dbmd could not read an error");
		else if (!pg->cut)
			put_reply_error(s, &e);
		pg->failed = true;
		pg->req_failed = true;
		return;
	}
	if (pg->cut || pg->quiet)
		return;
	switch (f->hdr.type) {
	case PROTO_MSG_ROW_DESC:
		if (po == NULL) {
			put_row_desc(pg, f, &pg->out, NULL);
			break;
		}
		at = pg->out.len;
		put_row_desc(pg, f, &pg->out, po);
		if (pg->cut)
			break;
		if (po->desc != NULL && !po->describe_due) {
			/* Described before it ran: its rows keep the types the client was given. */
			described_types(pg, po);
			pg->out.len = at;
			break;
		}
		free(po->desc);
		po->desclen = pg->out.len - at;
		if ((po->desc = malloc(po->desclen)) != NULL)
			memcpy(po->desc, pg->out.data + at, po->desclen);
		if (!po->describe_due)
			pg->out.len = at;	/* kept for a later Describe only */
		po->describe_due = false;
		break;
	case PROTO_MSG_DATA_ROW:
		if (!pg->have_desc) {
			reply_cut(pg, "XX000", "a row without a column description");
			break;
		}
		if (po != NULL && pg->max_rows > 0 && pg->sent_rows >= pg->max_rows) {
			size_t before = po->held.len;

			put_data_row(pg, f, &po->held);
			po->bytes += po->held.len - before;
			pg->portal_bytes += po->held.len - before;
			if (pg->portal_bytes > PORTAL_BYTES_MAX)
				reply_cut(pg, "54000", "more than %d MiB of rows wait for suspended "
				    "portals: fetch them with a larger row limit, or close some",
				    PORTAL_BYTES_MAX >> 20);
			break;
		}
		put_data_row(pg, f, &pg->out);
		pg->sent_rows++;
		break;
	case PROTO_MSG_COMPLETE:
		if (proto_decode_complete(f, &c) != PROTO_DERR_OK) {
			reply_cut(pg, "XX000", "dbmd could not read a command tag");
			break;
		}
		if (po != NULL) {
			if (po->describe_due && !pg->have_desc)
				put_simple(&pg->out, 'n');	/* NoData */
			po->describe_due = false;
			po->complete = true;
			snprintf(po->tag, sizeof(po->tag), "%s", c.command_tag);
			if (pg->max_rows > 0 && pg->sent_rows >= pg->max_rows && pg->have_desc)
				break;		/* PortalSuspended, at the end */
		}
		if (c.command_tag[0] == '\0')
			put_simple(&pg->out, 'I');	/* EmptyQueryResponse */
		else
			put_complete_tag(&pg->out, c.command_tag);
		pg->have_desc = false;
		break;
	default:
		break;
	}
}

/* One frame of a Describe's reply: parameters, then columns (see REQ_DESCRIBE). */
static void
describe_frame(struct session *s, const struct proto_frame *f)
{
	struct pgwire *pg = s->pg;
	struct proto_row_desc m;
	struct proto_col col;
	struct proto_complete c;
	struct proto_error e;
	struct pg_portal *po = pg->describe_stmt ? NULL : pg->portal;
	size_t at;
	uint16_t i;

	switch (f->hdr.type) {
	case PROTO_MSG_ERROR:
		if (proto_decode_error(f, &e) != PROTO_DERR_OK)
			reply_cut(pg, "XX000", "dbmd could not read an error");
		else if (!pg->cut)
			put_reply_error(s, &e);
		pg->failed = true;
		pg->req_failed = true;
		return;
	case PROTO_MSG_ROW_DESC:
		if (pg->cut)
			return;
		if (pg->desc_set == 0) {
			if (!pg->describe_stmt)
				return;		/* a portal's parameters are bound already */
			if (proto_decode_row_desc(f, PROTO_VERSION_MAX, &m) != PROTO_DERR_OK) {
				reply_cut(pg, "XX000", "dbmd could not read a description");
				return;
			}
			at = pg->out.len;
			msg_begin(&pg->out, 't');
			pgbuf_u16(&pg->out, m.ncols);
			for (i = 0; i < m.ncols; i++) {
				proto_row_desc_col(&m, i, &col);
				pgbuf_u32(&pg->out, col.type_oid);
			}
			msg_end(&pg->out, at);
			pg->desc_params_sent = true;
			return;
		}
		at = pg->out.len;
		put_row_desc(pg, f, &pg->out, po);
		/* A Describe of a statement says text: formats are Bind's to choose. */
		if (!pg->cut && po != NULL) {
			free(po->desc);
			po->desclen = pg->out.len - at;
			if ((po->desc = malloc(po->desclen)) != NULL)
				memcpy(po->desc, pg->out.data + at, po->desclen);
		}
		return;
	case PROTO_MSG_COMPLETE:
		if (pg->cut || proto_decode_complete(f, &c) != PROTO_DERR_OK)
			return;
		if (pg->desc_set == 0) {
			if (pg->describe_stmt && !pg->desc_params_sent) {
				at = pg->out.len;
				msg_begin(&pg->out, 't');
				pgbuf_u16(&pg->out, 0);
				msg_end(&pg->out, at);
			}
			pg->desc_set = 1;
			pg->have_desc = false;
			return;
		}
		if (!pg->have_desc)
			put_simple(&pg->out, 'n');	/* NoData */
		pg->have_desc = false;
		return;
	default:
		return;
	}
}

/* The frames of the job's request, as messages for the client. */
int
pgwire_output(struct session *s, struct request *r, const void *data, size_t len)
{
	struct pgwire *pg = s->pg;
	const uint8_t *p = data, *end = p + len;
	struct proto_frame f;
	struct proto_error e;
	int n;

	if (r != pg->req)
		return 0;
	while (p < end && !s->dead) {
		if ((n = proto_frame_check(p, (size_t)(end - p), PROTO_MAX_FRAME_LIMIT, &f)) <= 0)
			break;
		p += n;
		switch (pg->job) {
		case JOB_OPEN:
			if (f.hdr.type == PROTO_MSG_ERROR && proto_decode_error(&f, &e) ==
			    PROTO_DERR_OK) {
				snprintf(pg->open_error, sizeof(pg->open_error), "%s", e.message);
				snprintf(pg->open_state, sizeof(pg->open_state), "%s",
				    e.sqlstate[0] ? e.sqlstate : code_sqlstate(e.code));
			}
			break;
		case JOB_SIMPLE:
		case JOB_EXECUTE:
			exec_frame(s, &f);
			break;
		case JOB_DESCRIBE:
			describe_frame(s, &f);
			break;
		case JOB_NONE:
			break;
		}
	}
	return flush(s);
}

/* A statement the client's client did not read for stall_timeout: its error ends it. */
void
pgwire_stall_error(struct session *s, struct request *r, const char *msg)
{
	struct pgwire *pg = s->pg;

	if (r != pg->req)
		return;
	efields_clear(pg);
	put_error(&pg->out, "ERROR", "57014", msg, NULL, NULL);
	pg->cut = true;
	pg->cut_state[0] = '\0';
	pg->failed = true;
	pg->req_failed = true;
	flush(s);
}

/* Statements in transaction pooling. */

static bool
word_is(const struct sqlscan *sc, const char *w)
{
	return sc->token == SQLSCAN_WORD && sc->len == strlen(w) &&
	    strncasecmp(sc->text, w, sc->len) == 0;
}

/*
 * Whether the set_config( call the scanner is at has a third argument of literally
 * true (is_local: the setting ends with the transaction).  Moves past the call.
 */
static bool
set_config_local(struct sqlscan *sc)
{
	int depth = 0, arg = 1;
	bool local = false, last_true = false;

	if (sqlscan_next(sc) != SQLSCAN_OTHER || sc->text[0] != '(')
		return true;	/* not a call */
	while (sqlscan_next(sc) != SQLSCAN_END) {
		if (sc->token == SQLSCAN_OTHER && sc->text[0] == '(')
			depth++;
		else if (sc->token == SQLSCAN_OTHER && sc->text[0] == ')') {
			if (depth-- == 0)
				break;
		} else if (depth == 0 && sc->token == SQLSCAN_OTHER && sc->text[0] == ',') {
			arg++;
			last_true = false;
			continue;
		}
		if (depth == 0 && arg == 3) {
			last_true = !last_true && word_is(sc, "true");
			local = last_true;
		}
	}
	return local;
}

/*
 * Whether a statement would leave state on its connection that the client's later
 * statements, on other connections, would miss; the reason in msg.  Only in
 * transaction pooling, on PostgreSQL (SQLite has none of these).  This reading is for
 * the client's sake: the connection is reset before anyone else uses it either way.
 */
static bool
session_state_refused(struct pgwire *pg, const char *sql, char *msg, size_t len)
{
	struct sqlscan sc;
	const char *what = NULL;
	bool first = true, declare = false, create = false, with = false, into = false;

	if (pg->session_mode || pg->sqlite)
		return false;
	sqlscan_init(&sc, sql, SQLSCAN_PG);
	while (sqlscan_next(&sc) != SQLSCAN_END && what == NULL) {
		if (sc.token == SQLSCAN_OTHER && sc.text[0] == '(' && first)
			continue;
		if (first) {
			first = false;
			if (word_is(&sc, "LISTEN"))
				what = "LISTEN";
			else if (word_is(&sc, "PREPARE")) {
				if (sqlscan_next(&sc) != SQLSCAN_WORD || !word_is(&sc, "TRANSACTION"))
					what = "PREPARE (the protocol's prepared statements work)";
			} else if (word_is(&sc, "SET")) {
				sqlscan_next(&sc);
				if (!word_is(&sc, "LOCAL") && !word_is(&sc, "TRANSACTION") &&
				    !word_is(&sc, "CONSTRAINTS"))
					what = "SET without LOCAL";
			} else if (word_is(&sc, "DECLARE"))
				declare = true;
			else if (word_is(&sc, "CREATE"))
				create = true;
			continue;
		}
		if ((create || into) && (word_is(&sc, "TEMP") || word_is(&sc, "TEMPORARY")) &&
		    !pg->h->hold.in_txn)
			what = "a temporary table outside a transaction";
		create = false;
		into = word_is(&sc, "INTO");
		if (declare && word_is(&sc, "WITH"))
			with = true;
		else if (with && word_is(&sc, "HOLD"))
			what = "a WITH HOLD cursor";
		else
			with = false;
		if (word_is(&sc, "set_config") && !set_config_local(&sc))
			what = "set_config() with is_local false (set_config(..., true) works)";
		else if (sc.token == SQLSCAN_WORD && (word_is(&sc, "pg_advisory_lock") ||
		    word_is(&sc, "pg_advisory_lock_shared") ||
		    word_is(&sc, "pg_try_advisory_lock") ||
		    word_is(&sc, "pg_try_advisory_lock_shared")))
			what = "a session advisory lock (pg_advisory_xact_lock works)";
	}
	if (what == NULL)
		return false;
	snprintf(msg, len, "%s is not supported in transaction pooling: the client's next "
	    "statement may run on another connection", what);
	return true;
}

/*
 * SET dbmd.cache_max_age: dbmd's own setting, answered here.  True when sql was one,
 * with the CommandComplete (or the error) added to the output.
 */
static bool
own_setting(struct session *s, const char *sql)
{
	struct pgwire *pg = s->pg;
	struct sqlscan sc;
	char value[64];

	sqlscan_init(&sc, sql, SQLSCAN_PG);
	if (sqlscan_next(&sc) != SQLSCAN_WORD || !word_is(&sc, "SET"))
		return false;
	sqlscan_next(&sc);
	if (word_is(&sc, "SESSION"))
		sqlscan_next(&sc);
	if (!word_is(&sc, "dbmd") || sqlscan_next(&sc) != SQLSCAN_OTHER || sc.text[0] != '.' ||
	    sqlscan_next(&sc) != SQLSCAN_WORD || !word_is(&sc, "cache_max_age"))
		return false;
	sqlscan_next(&sc);
	if (!(sc.token == SQLSCAN_OTHER && sc.text[0] == '=') && !word_is(&sc, "TO")) {
		put_error(&pg->out, "ERROR", "42601", "syntax error in SET dbmd.cache_max_age: "
		    "write SET dbmd.cache_max_age = '5s'", NULL, NULL);
		pg->failed = true;
		return true;
	}
	sqlscan_next(&sc);
	snprintf(value, sizeof(value), "%.*s", (int)(sc.len < 63 ? sc.len : 63), sc.text);
	if ((sc.token != SQLSCAN_NUMBER && sc.token != SQLSCAN_STRING) ||
	    sqlscan_next(&sc) != SQLSCAN_END || parse_ms(value, &pg->cache_max_age) == -1) {
		put_error(&pg->out, "ERROR", "22023", "dbmd.cache_max_age takes a duration such "
		    "as 5000 (ms) or '5s'", NULL, NULL);
		pg->failed = true;
		return true;
	}
	put_complete_tag(&pg->out, "SET");
	return true;
}

/*
 * DEALLOCATE: the client's prepared statements are dbmd's (Parse keeps them here, no
 * server has them), so DEALLOCATE of one of them, or ALL, is answered here.  In
 * session pooling the server may hold statements of SQL PREPARE too: a name dbmd does
 * not know, and ALL, go on to it.  Returns true when answered (output added).
 */
static bool
own_deallocate(struct session *s, const char *sql)
{
	struct pgwire *pg = s->pg;
	struct sqlscan sc;
	struct pg_stmt *st, *next;
	char name[128], msg[192];

	sqlscan_init(&sc, sql, SQLSCAN_PG);
	if (sqlscan_next(&sc) != SQLSCAN_WORD || !word_is(&sc, "DEALLOCATE"))
		return false;
	sqlscan_next(&sc);
	if (word_is(&sc, "PREPARE"))
		sqlscan_next(&sc);
	if (sc.token != SQLSCAN_WORD && sc.token != SQLSCAN_QUOTED)
		return false;		/* the server says what is wrong with it */
	if (sc.token == SQLSCAN_WORD && word_is(&sc, "ALL")) {
		if (sqlscan_next(&sc) != SQLSCAN_END && sc.token != SQLSCAN_SEMICOLON)
			return false;
		for (st = TAILQ_FIRST(&pg->stmts); st != NULL; st = next) {
			next = TAILQ_NEXT(st, entry);
			stmt_free(pg, st);
		}
		if (pg->session_mode)
			return false;	/* and the server's own */
		put_complete_tag(&pg->out, "DEALLOCATE ALL");
		return true;
	}
	if (sc.token == SQLSCAN_QUOTED && sc.len >= 2)
		snprintf(name, sizeof(name), "%.*s", (int)(sc.len - 2 < sizeof(name) - 1 ?
		    sc.len - 2 : sizeof(name) - 1), sc.text + 1);
	else
		snprintf(name, sizeof(name), "%.*s", (int)(sc.len < sizeof(name) - 1 ? sc.len :
		    sizeof(name) - 1), sc.text);
	if (sc.token == SQLSCAN_WORD)
		for (char *c = name; *c != '\0'; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	if (sqlscan_next(&sc) != SQLSCAN_END && sc.token != SQLSCAN_SEMICOLON)
		return false;
	if ((st = stmt_find(pg, name)) != NULL) {
		stmt_free(pg, st);
		put_complete_tag(&pg->out, "DEALLOCATE");
		return true;
	}
	if (pg->session_mode)
		return false;
	snprintf(msg, sizeof(msg), "prepared statement \"%.64s\" does not exist", name);
	put_error(&pg->out, "ERROR", "26000", msg, NULL, NULL);
	pg->failed = true;
	return true;
}

/* Whether dbmd answers sql itself (SET dbmd.*, DEALLOCATE): no columns. */
static bool
is_own_statement(const char *sql)
{
	struct sqlscan sc;

	sqlscan_init(&sc, sql, SQLSCAN_PG);
	if (sqlscan_next(&sc) != SQLSCAN_WORD)
		return false;
	if (word_is(&sc, "DEALLOCATE"))
		return true;
	if (!word_is(&sc, "SET"))
		return false;
	sqlscan_next(&sc);
	if (word_is(&sc, "SESSION"))
		sqlscan_next(&sc);
	return word_is(&sc, "dbmd");
}

/* Running requests. */

/*
 * In a transaction dbmd ended: ROLLBACK, ABORT, COMMIT or END finish it for the
 * client (PostgreSQL answers a COMMIT of an aborted transaction with ROLLBACK).
 * True when sql was one of them, answered here.
 */
static bool
ends_gone_txn(struct session *s, const char *sql)
{
	struct pgwire *pg = s->pg;
	struct sqlscan sc;
	const char *sqlstate;
	char msg[256];
	int code;

	sqlscan_init(&sc, sql, SQLSCAN_PG);
	if (sqlscan_next(&sc) != SQLSCAN_WORD || !(word_is(&sc, "ROLLBACK") ||
	    word_is(&sc, "ABORT") || word_is(&sc, "COMMIT") || word_is(&sc, "END")))
		return false;
	sqlscan_next(&sc);
	if (word_is(&sc, "TO") || word_is(&sc, "PREPARED"))
		return false;
	(void)session_handle_refusal(pg->h, &code, &sqlstate, msg, sizeof(msg));
	pg->txn_gone = false;
	pg->txn_failed = false;
	put_complete_tag(&pg->out, "ROLLBACK");
	return true;
}

/*
 * Starts a request of the job on the session's handle, unless the handle refuses (dbmd
 * ended its transaction, or a reload revoked access): then the client is told and
 * false is returned.
 */
static bool
run(struct session *s, struct request *r)
{
	struct pgwire *pg = s->pg;
	const char *sqlstate;
	char msg[256];
	int code;

	if (pg->txn_gone && r->sql != NULL && ends_gone_txn(s, r->sql)) {
		r->ops = NULL;
		request_finish(r);
		return false;
	}
	if (pg->txn_gone && pg->h->lost == NULL) {
		r->ops = NULL;
		request_finish(r);
		put_error(&pg->out, "ERROR", "25P02", "current transaction is aborted, commands "
		    "ignored until end of transaction block", NULL, NULL);
		pg->failed = true;
		pg->req_failed = true;
		return false;
	}
	if (session_handle_refusal(pg->h, &code, &sqlstate, msg, sizeof(msg))) {
		r->ops = NULL;
		request_finish(r);
		put_error(&pg->out, "ERROR", sqlstate && *sqlstate ? sqlstate :
		    code_sqlstate(code), msg, NULL, NULL);
		pg->failed = true;
		return false;
	}
	pg->req = r;
	pg->cut = false;
	pg->req_failed = false;
	pg->have_desc = false;
	efields_clear(pg);
	r->cache_max_age = r->kind == REQ_EXEC ? pg->cache_max_age : 0;
	session_run(s, pg->h, r);
	return true;
}

/* A request for sql (copied), no parameters; NULL after telling the client. */
static struct request *
text_request(struct session *s, enum req_kind kind, const char *sql, size_t len)
{
	struct request *r;

	if ((r = session_request(s, s->pg->h, kind, ++s->pg->next_reqid)) == NULL ||
	    (r->sql = strndup(sql, len)) == NULL) {
		if (r != NULL) {
			r->ops = NULL;
			request_finish(r);
		}
		put_error(&s->pg->out, "ERROR", "53200", "out of memory", NULL, NULL);
		s->pg->failed = true;
		return NULL;
	}
	return r;
}

/*
 * Runs one statement of a query.  True when it is in flight (simple_next goes on
 * from pgwire_done); false when it is over already — refused, or answered from the
 * cache inside run() — and the loop takes the next: a query of many cached
 * statements never recurses.
 */
static bool
step(struct session *s, struct request *r)
{
	struct pgwire *pg = s->pg;
	bool running;

	pg->stepping = true;
	running = run(s, r) && pg->req != NULL;
	pg->stepping = false;
	return running;
}

/* The simple query protocol. */

/* Where the statement at *pos ends (its semicolon or the end); *pos moves past it. */
static size_t
statement_end(const char *q, size_t *pos, bool sqlite)
{
	struct sqlscan sc;
	size_t end;

	sqlscan_init(&sc, q + *pos, sqlite ? SQLSCAN_SQLITE : SQLSCAN_PG);
	while (sqlscan_next(&sc) != SQLSCAN_END && sc.token != SQLSCAN_SEMICOLON)
		;
	end = (size_t)(sc.text - q);
	*pos = sc.token == SQLSCAN_SEMICOLON ? end + 1 : end;
	return end;
}

/* Whether the text holds no statement: blanks and comments only. */
static bool
blank_statement(const char *sql, size_t len, bool sqlite)
{
	struct sqlscan sc;
	char *copy = strndup(sql, len);
	bool blank;

	if (copy == NULL)
		return false;
	sqlscan_init(&sc, copy, sqlite ? SQLSCAN_SQLITE : SQLSCAN_PG);
	blank = sqlscan_next(&sc) == SQLSCAN_END;
	free(copy);
	return blank;
}

/* Whether a statement begins or ends a transaction (so a query is not wrapped in one). */
static bool
txn_control(const char *sql, size_t len)
{
	static const char *const words[] = { "BEGIN", "START", "COMMIT", "END", "ROLLBACK",
	    "ABORT", "SAVEPOINT", "RELEASE", "PREPARE" };
	struct sqlscan sc;
	char kw[16], *copy = strndup(sql, len);
	size_t i;

	if (copy == NULL)
		return true;
	sqlscan_init(&sc, copy, SQLSCAN_PG);
	sqlscan_keyword(&sc, kw, sizeof(kw));
	free(copy);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(kw, words[i]) == 0)
			return true;
	return false;
}

/*
 * A Query message: its statements run one after another.  On PostgreSQL several
 * statements outside a transaction run inside one, as the server runs them: all or
 * nothing.  On SQLite they run one by one, stopping at the first error.
 */
static void
serve_query(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	const char *q = rd_str(r);
	size_t pos = 0, n = 0, end, start;
	bool control = false;

	if (r->bad) {
		put_error(&pg->out, "ERROR", "08P01", "invalid Query message", NULL, NULL);
		put_ready(s);
		return;
	}
	free(pg->query);
	if ((pg->query = strdup(q)) == NULL) {
		put_error(&pg->out, "ERROR", "53200", "out of memory", NULL, NULL);
		put_ready(s);
		return;
	}
	while (pg->query[pos] != '\0') {
		start = pos;
		end = statement_end(pg->query, &pos, pg->sqlite);
		if (blank_statement(pg->query + start, end - start, pg->sqlite))
			continue;
		n++;
		control = control || txn_control(pg->query + start, end - start);
	}
	pg->job = JOB_SIMPLE;
	pg->qpos = 0;
	pg->failed = false;
	pg->wrap = 0;
	if (n == 0) {
		put_simple(&pg->out, 'I');
		pg->qpos = strlen(pg->query);
	} else if (n > 1 && !pg->sqlite && !control && !pg->h->hold.in_txn)
		pg->wrap = 1;
	simple_next(s);
}

/* Runs the query's next statement, or ends the query. */
static void
simple_next(struct session *s)
{
	struct pgwire *pg = s->pg;
	struct request *r;
	const char *q = pg->query, *sql;
	size_t start, end;
	char msg[256];

	while (!s->dead) {
		pg->quiet = false;
		pg->stmt_off = 0;
		if (pg->wrap == 1 || (pg->wrap == 2 && (pg->failed || q[pg->qpos] == '\0'))) {
			/* The implicit transaction's BEGIN, then its COMMIT or ROLLBACK. */
			sql = pg->wrap == 1 ? "BEGIN" : pg->failed ? "ROLLBACK" : "COMMIT";
			pg->wrap++;
			if ((r = text_request(s, REQ_EXEC, sql, strlen(sql))) == NULL)
				continue;
			pg->quiet = true;
			if (step(s, r))
				return;
			continue;
		}
		if (pg->failed || q[pg->qpos] == '\0')
			break;
		start = pg->qpos;
		end = statement_end(q, &pg->qpos, pg->sqlite);
		if (blank_statement(q + start, end - start, pg->sqlite))
			continue;
		if ((r = text_request(s, REQ_EXEC, q + start, end - start)) == NULL)
			continue;
		if (own_setting(s, r->sql) || own_deallocate(s, r->sql)) {
			r->ops = NULL;
			request_finish(r);
			continue;
		}
		if (session_state_refused(pg, r->sql, msg, sizeof(msg))) {
			r->ops = NULL;
			request_finish(r);
			put_error(&pg->out, "ERROR", "0A000", msg, NULL, "use a role with "
			    "pool_mode: session for programs that need session state");
			pg->failed = true;
			continue;
		}
		pg->stmt_off = start;
		if (step(s, r))
			return;
	}
	pg->job = JOB_NONE;
	pg->req = NULL;
	put_ready(s);
	flush(s);
}

/* The extended query protocol. */

/* An error in an extended-query message: everything up to Sync is ignored. */
static void
ext_error(struct session *s, const char *sqlstate, const char *msg)
{
	put_error(&s->pg->out, "ERROR", sqlstate, msg, NULL, NULL);
	s->pg->skip_to_sync = true;
}

/* Whether sql is one statement (or none), read as the backend's dialect reads it. */
static bool
one_statement(const char *sql, bool sqlite)
{
	size_t pos = 0, end, start, n = 0;

	while (sql[pos] != '\0' && n < 2) {
		start = pos;
		end = statement_end(sql, &pos, sqlite);
		n += !blank_statement(sql + start, end - start, sqlite);
	}
	return n < 2;
}

static void
serve_parse(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	const char *name = rd_str(r), *sql = rd_str(r);
	uint16_t n = rd_u16(r), i;
	struct pg_stmt *st;
	char msg[160];

	if (r->bad) {
		ext_error(s, "08P01", "invalid Parse message");
		return;
	}
	if (*name != '\0' && stmt_find(pg, name) != NULL) {
		snprintf(msg, sizeof(msg), "prepared statement \"%.64s\" already exists", name);
		ext_error(s, "42P05", msg);
		return;
	}
	if (!one_statement(sql, pg->sqlite)) {
		ext_error(s, "42601", "cannot insert multiple commands into a prepared "
		    "statement");
		return;
	}
	if (pg->nstmts >= STMTS_MAX ||
	    pg->stmt_bytes + strlen(sql) + strlen(name) > STMT_BYTES_MAX) {
		ext_error(s, "53400", "too many prepared statements: close some (dbmd keeps "
		    "at most 10000, 16 MiB of text, per client)");
		return;
	}
	if (*name == '\0' && (st = stmt_find(pg, "")) != NULL)
		stmt_free(pg, st);
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->name = strdup(name)) == NULL ||
	    (st->sql = strdup(sql)) == NULL ||
	    (n > 0 && (st->types = calloc(n, sizeof(uint32_t))) == NULL)) {
		if (st != NULL) {
			free(st->name);
			free(st->sql);
			free(st);
		}
		ext_error(s, "53200", "out of memory");
		return;
	}
	st->ntypes = n;
	for (i = 0; i < n; i++)
		st->types[i] = rd_u32(r);
	TAILQ_INSERT_TAIL(&pg->stmts, st, entry);
	pg->nstmts++;
	pg->stmt_bytes += strlen(sql) + strlen(name);
	if (r->bad) {
		stmt_free(pg, st);
		ext_error(s, "08P01", "invalid Parse message");
		return;
	}
	put_simple(&pg->out, '1');	/* ParseComplete */
}

/*
 * A binary parameter for SQLite, which takes text (and blobs): its text form by the
 * type Parse declared.  PostgreSQL takes it as it is.
 */
static int
param_for_sqlite(struct pg_portal *po, uint32_t i, uint32_t type, const uint8_t *v,
    uint32_t len, size_t *made, char *msg, size_t msglen)
{
	struct pgbuf b;

	if (type == PROTO_OID_BYTEA || type == 0) {
		if (type == 0)
			po->formats[i] = PROTO_FORMAT_BINARY;	/* a blob */
		return 0;
	}
	pgbuf_init(&b);
	if (pgtype_binary_to_text(type, v, len, &b) == -1 || b.failed) {
		pgbuf_free(&b);
		snprintf(msg, msglen, "parameter $%u: binary value of type %u is not "
		    "supported or malformed", i + 1, type);
		return -1;
	}
	/* A few bytes can say a number of 131072 digits: the text made is bounded. */
	if ((*made += b.len) > msg_limit()) {
		pgbuf_free(&b);
		snprintf(msg, msglen, "parameter $%u: the parameters' text would be larger "
		    "than dbmd accepts (daemon.max_frame_size)", i + 1);
		return -1;
	}
	pgbuf_u8(&b, 0);
	free(po->values[i]);
	po->values[i] = (char *)b.data;		/* the buffer's memory, NUL-terminated */
	po->lens[i] = (uint32_t)b.len - 1;
	po->formats[i] = PROTO_FORMAT_TEXT;
	return b.failed ? -1 : 0;
}

static void
serve_bind(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	const char *pname = rd_str(r), *sname = rd_str(r);
	uint16_t nfmt = rd_u16(r), nres, i;
	const uint8_t *fmtp = rd_bytes(r, (size_t)nfmt * 2), *v;
	uint16_t nparams;
	uint32_t len, k;
	struct pg_stmt *st;
	struct pg_portal *po = NULL;
	char msg[192];
	size_t made = 0;
	int fmt;

	nparams = rd_u16(r);
	if (r->bad) {
		ext_error(s, "08P01", "invalid Bind message");
		return;
	}
	if ((st = stmt_find(pg, sname)) == NULL) {
		snprintf(msg, sizeof(msg), "prepared statement \"%.64s\" does not exist", sname);
		ext_error(s, "26000", msg);
		return;
	}
	if (nfmt > 1 && nfmt != nparams) {
		snprintf(msg, sizeof(msg), "bind message has %u parameter formats but %u "
		    "parameters", nfmt, nparams);
		ext_error(s, "08P01", msg);
		return;
	}
	if (*pname != '\0' && portal_find(pg, pname) != NULL) {
		snprintf(msg, sizeof(msg), "portal \"%.64s\" already exists", pname);
		ext_error(s, "42P03", msg);
		return;
	}
	if (*pname == '\0' && (po = portal_find(pg, "")) != NULL)
		portal_free(pg, po);
	if (pg->nportals >= PORTALS_MAX || pg->portal_bytes + strlen(st->sql) + (size_t)(r->end -
	    r->p) > PORTAL_BYTES_MAX) {
		ext_error(s, "53400", "too many portals, or too much in them: close some (dbmd "
		    "keeps at most 1000 portals, 64 MiB of statements, values and held rows, per "
		    "client)");
		return;
	}
	if ((po = calloc(1, sizeof(*po))) == NULL)
		goto nomem;
	pgbuf_init(&po->held);
	TAILQ_INSERT_TAIL(&pg->portals, po, entry);
	pg->nportals++;
	/* What it will hold: the statement's text and, at most, the rest of the message. */
	po->bytes = strlen(st->sql) + (size_t)(r->end - r->p);
	pg->portal_bytes += po->bytes;
	if ((po->name = strdup(pname)) == NULL || (po->sql = strdup(st->sql)) == NULL)
		goto nomem;
	po->nparams = nparams;
	if (nparams > 0 && ((po->values = calloc(nparams, sizeof(char *))) == NULL ||
	    (po->lens = calloc(nparams, sizeof(uint32_t))) == NULL ||
	    (po->formats = calloc(nparams, 1)) == NULL))
		goto nomem;
	if (nparams > 0 && st->ntypes > 0) {
		if ((po->types = calloc(nparams, sizeof(uint32_t))) == NULL)
			goto nomem;
		for (k = 0; k < nparams && k < st->ntypes; k++)
			po->types[k] = st->types[k];
	}
	for (k = 0; k < nparams; k++) {
		fmt = nfmt == 0 ? 0 : nfmt == 1 ? (fmtp[0] << 8 | fmtp[1]) :
		    (fmtp[2 * k] << 8 | fmtp[2 * k + 1]);
		len = rd_u32(r);
		if (len == 0xffffffff)
			continue;		/* NULL */
		if (len > msg_limit() || (v = rd_bytes(r, len)) == NULL) {
			portal_free(pg, po);
			ext_error(s, "08P01", "invalid Bind message");
			return;
		}
		if (fmt != 0 && fmt != 1) {
			snprintf(msg, sizeof(msg), "parameter $%u: unsupported format code %d",
			    k + 1, fmt);
			portal_free(pg, po);
			ext_error(s, "08P01", msg);
			return;
		}
		if (fmt == 0 && memchr(v, 0, len) != NULL) {
			portal_free(pg, po);
			ext_error(s, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
			return;
		}
		if ((po->values[k] = malloc((size_t)len + 1)) == NULL)
			goto nomem;
		memcpy(po->values[k], v, len);
		po->values[k][len] = '\0';
		po->lens[k] = len;
		po->formats[k] = fmt == 1 ? PROTO_FORMAT_BINARY : PROTO_FORMAT_TEXT;
		if (fmt == 1 && pg->sqlite && param_for_sqlite(po, k, po->types ? po->types[k] : 0,
		    v, len, &made, msg, sizeof(msg)) == -1) {
			portal_free(pg, po);
			ext_error(s, "0A000", msg);
			return;
		}
	}
	nres = rd_u16(r);
	if (r->bad || (nres > 0 && (po->resfmt = calloc(nres, sizeof(int16_t))) == NULL)) {
		if (r->bad) {
			portal_free(pg, po);
			ext_error(s, "08P01", "invalid Bind message");
			return;
		}
		goto nomem;
	}
	po->nresfmt = nres;
	for (i = 0; i < nres; i++) {
		po->resfmt[i] = (int16_t)rd_u16(r);
		if (po->resfmt[i] != 0 && po->resfmt[i] != 1) {
			snprintf(msg, sizeof(msg), "unsupported result format code %d",
			    po->resfmt[i]);
			portal_free(pg, po);
			ext_error(s, "08P01", msg);
			return;
		}
	}
	if (r->bad) {
		portal_free(pg, po);
		ext_error(s, "08P01", "invalid Bind message");
		return;
	}
	for (k = 0; k < nparams && po->formats != NULL; k++)
		if (po->formats[k] != PROTO_FORMAT_TEXT)
			break;
	if (k == nparams) {
		free(po->formats);	/* all text: as dbmd's own clients send them */
		po->formats = NULL;
	}
	put_simple(&pg->out, '2');	/* BindComplete */
	return;
nomem:
	if (po != NULL)
		portal_free(pg, po);
	ext_error(s, "53200", "out of memory");
}

/* Moves a portal's parameters into a request. */
static void
portal_to_request(struct pg_portal *po, struct request *r)
{
	uint32_t i;

	r->nparams = po->nparams;
	if (po->nparams == 0)
		return;
	r->params = po->values;
	r->lens = po->lens;
	r->formats = po->formats;
	r->types = po->types;
	po->values = NULL;
	po->lens = NULL;
	po->formats = NULL;
	po->types = NULL;
	po->nparams = 0;
	for (i = 0; i < r->nparams; i++)
		if (r->params[i] == NULL)
			r->lens[i] = 0;
}

/* Sends rows held for a suspended portal, up to max (0: all). */
static void
send_held(struct session *s, struct pg_portal *po, uint32_t max)
{
	struct pgwire *pg = s->pg;
	const uint8_t *p;
	uint32_t n = 0, len;

	while (po->held_pos + 5 <= po->held.len && (max == 0 || n < max)) {
		p = po->held.data + po->held_pos;
		len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
		pgbuf_add(&pg->out, p, (size_t)len + 1);
		po->held_pos += (size_t)len + 1;
		n++;
	}
	if (po->held_pos >= po->held.len) {
		po->bytes -= po->held.len;
		pg->portal_bytes -= po->held.len;
		pgbuf_reset(&po->held);
		po->held_pos = 0;
	}
	if (po->held.len > 0 || (max > 0 && n == max && !po->complete))
		put_simple(&pg->out, 's');		/* PortalSuspended */
	else if (po->complete) {
		char tag[64];

		/* As PostgreSQL counts it: the rows this Execute sent. */
		if (strncmp(po->tag, "SELECT ", 7) == 0)
			snprintf(tag, sizeof(tag), "SELECT %u", n);
		else
			snprintf(tag, sizeof(tag), "%s", po->tag);
		if (tag[0] == '\0')
			put_simple(&pg->out, 'I');
		else
			put_complete_tag(&pg->out, tag);
	}
}

/* Looks at the next message without taking it: its type and first string (a name). */
static int
peek_next(struct session *s, size_t skip, char *type, char *name, size_t namesize)
{
	unsigned char hdr[5], *body;
	struct evbuffer_ptr pos;
	size_t have = evbuffer_get_length(s->in);
	uint32_t len;

	if (have < skip + 5 || evbuffer_ptr_set(s->in, &pos, skip, EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(s->in, &pos, hdr, 5) != 5)
		return 0;
	len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
	*type = (char)hdr[0];
	name[0] = '\0';
	if (*type != 'E')
		return 1;	/* only an Execute's portal name matters */
	/* An Execute is small; a longer one is malformed and fails when served. */
	if (len < 4 || len - 4 > namesize + 4)
		return 1;
	if (have < skip + 1 + len ||
	    (body = evbuffer_pullup(s->in, (ev_ssize_t)(skip + 1 + len))) == NULL)
		return 0;
	body += skip + 5;
	if (len > 4 && memchr(body, 0, len - 4) != NULL)
		snprintf(name, namesize, "%s", (const char *)body);
	return 1;
}

static void
start_describe(struct session *s, const char *sql, uint32_t ntypes, const uint32_t *types,
    bool stmt, struct pg_portal *po)
{
	struct pgwire *pg = s->pg;
	struct request *r;

	if ((r = text_request(s, REQ_DESCRIBE, sql, strlen(sql))) == NULL) {
		pg->skip_to_sync = true;
		return;
	}
	if (ntypes > 0 && ((r->types = calloc(ntypes, sizeof(uint32_t))) == NULL ||
	    (r->params = calloc(ntypes, sizeof(char *))) == NULL ||
	    (r->lens = calloc(ntypes, sizeof(uint32_t))) == NULL)) {
		r->ops = NULL;
		request_finish(r);
		ext_error(s, "53200", "out of memory");
		return;
	}
	if (ntypes > 0) {
		memcpy(r->types, types, ntypes * sizeof(uint32_t));
		r->nparams = ntypes;
	}
	pg->job = JOB_DESCRIBE;
	pg->describe_stmt = stmt;
	pg->portal = po;
	pg->desc_set = 0;
	pg->desc_params_sent = false;
	pg->failed = false;
	if (!run(s, r)) {
		pg->job = JOB_NONE;
		pg->skip_to_sync = true;
	}
}

/*
 * The columns of a cursor DECLAREd in SQL, in the client's transaction: FETCH FORWARD
 * 0 moves nothing and says them (its row, if it gives one, is dropped).
 */
static void
describe_cursor(struct session *s, const char *name)
{
	struct pgwire *pg = s->pg;
	struct request *r;
	struct pgbuf q;
	const char *c;

	pgbuf_init(&q);
	pgbuf_add(&q, "FETCH FORWARD 0 FROM \"", 22);
	for (c = name; *c != '\0'; c++) {
		if (*c == '"')
			pgbuf_u8(&q, '"');
		pgbuf_u8(&q, (uint8_t)*c);
	}
	pgbuf_u8(&q, '"');
	if (q.failed || (r = text_request(s, REQ_EXEC, (const char *)q.data, q.len)) == NULL) {
		pgbuf_free(&q);
		ext_error(s, "53200", "out of memory");
		return;
	}
	pgbuf_free(&q);
	pg->job = JOB_DESCRIBE;
	pg->describe_stmt = false;
	pg->portal = NULL;
	pg->desc_set = 1;		/* no parameters: the columns come first */
	pg->failed = false;
	if (!run(s, r)) {
		pg->job = JOB_NONE;
		pg->skip_to_sync = true;
	}
}

/*
 * Describe.  A portal's columns come with its Execute when one follows at once (the
 * usual Bind, Describe, Execute): the message after is looked at, and waited for.
 * Returns false when the message must wait for more input.
 */
static bool
serve_describe(struct session *s, struct rd *r, size_t msglen)
{
	struct pgwire *pg = s->pg;
	char what = (char)rd_u8(r), next, nname[128], msg[160], name[128];
	struct pg_stmt *st;
	struct pg_portal *po;
	const char *n = rd_str(r);

	if (r->bad || (what != 'S' && what != 'P') || strlen(n) >= sizeof(name)) {
		ext_error(s, "08P01", "invalid Describe message");
		return true;
	}
	/* A copy: looking at the next message may move the input buffer. */
	snprintf(name, sizeof(name), "%s", n);
	if (what == 'S') {
		if ((st = stmt_find(pg, name)) == NULL) {
			snprintf(msg, sizeof(msg), "prepared statement \"%.64s\" does not exist",
			    name);
			ext_error(s, "26000", msg);
			return true;
		}
		start_describe(s, st->sql, st->ntypes, st->types, true, NULL);
		return true;
	}
	if ((po = portal_find(pg, name)) == NULL) {
		if (!pg->sqlite && pg->h->hold.in_txn) {
			/* A cursor of SQL's DECLARE is a portal too: its columns, no rows. */
			describe_cursor(s, name);
			return true;
		}
		snprintf(msg, sizeof(msg), "portal \"%.64s\" does not exist", name);
		ext_error(s, "34000", msg);
		return true;
	}
	if (po->started) {
		if (po->desc != NULL)
			pgbuf_add(&pg->out, po->desc, po->desclen);
		else
			put_simple(&pg->out, 'n');
		return true;
	}
	if (!peek_next(s, msglen, &next, nname, sizeof(nname)))
		return false;
	if (next == 'E' && strcmp(nname, name) == 0) {
		po->describe_due = true;
		return true;
	}
	start_describe(s, po->sql, 0, NULL, false, po);
	return true;
}

static void
serve_execute(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	const char *name = rd_str(r);
	uint32_t max = rd_u32(r);
	struct pg_portal *po;
	struct request *req;
	char msg[256];

	if (r->bad) {
		ext_error(s, "08P01", "invalid Execute message");
		return;
	}
	if ((po = portal_find(pg, name)) == NULL) {
		snprintf(msg, sizeof(msg), "portal \"%.64s\" does not exist", name);
		ext_error(s, "34000", msg);
		return;
	}
	if (po->started) {
		send_held(s, po, max);
		return;
	}
	po->started = true;
	pg->failed = false;
	if (blank_statement(po->sql, strlen(po->sql), pg->sqlite)) {
		if (po->describe_due)
			put_simple(&pg->out, 'n');	/* answered here: no columns */
		po->complete = true;
		put_simple(&pg->out, 'I');
		return;
	}
	if (po->describe_due && is_own_statement(po->sql)) {
		put_simple(&pg->out, 'n');
		po->describe_due = false;
	}
	if (own_setting(s, po->sql) || own_deallocate(s, po->sql)) {
		po->complete = true;
		pg->skip_to_sync = pg->failed;
		pg->failed = false;
		return;
	}
	if (session_state_refused(pg, po->sql, msg, sizeof(msg))) {
		put_error(&pg->out, "ERROR", "0A000", msg, NULL, "use a role with pool_mode: "
		    "session for programs that need session state");
		pg->skip_to_sync = true;
		return;
	}
	if ((req = text_request(s, REQ_EXEC, po->sql, strlen(po->sql))) == NULL) {
		pg->skip_to_sync = true;
		return;
	}
	portal_to_request(po, req);
	pg->job = JOB_EXECUTE;
	pg->portal = po;
	pg->max_rows = max;
	pg->sent_rows = 0;
	pg->failed = false;
	pg->stmt_off = 0;
	if (!run(s, req)) {
		pg->job = JOB_NONE;
		pg->skip_to_sync = pg->failed;	/* else answered here (ends_gone_txn) */
	}
}

static void
serve_close(struct session *s, struct rd *r)
{
	struct pgwire *pg = s->pg;
	char what = (char)rd_u8(r);
	const char *name = rd_str(r);
	struct pg_stmt *st;
	struct pg_portal *po;

	if (r->bad || (what != 'S' && what != 'P')) {
		ext_error(s, "08P01", "invalid Close message");
		return;
	}
	if (what == 'S' && (st = stmt_find(pg, name)) != NULL)
		stmt_free(pg, st);
	else if (what == 'P' && (po = portal_find(pg, name)) != NULL)
		portal_free(pg, po);
	put_simple(&pg->out, '3');	/* CloseComplete */
}

static void
serve_sync(struct session *s)
{
	struct pgwire *pg = s->pg;

	pg->skip_to_sync = false;
	if (txn_status(pg) == 'I')
		portals_end(pg);	/* the implicit transaction ends, and its portals */
	put_ready(s);
}

/*
 * One message after the startup.  Returns false when it must wait for more input
 * (a Describe looking at what follows it).
 */
static bool
serve_message(struct session *s, char type, const uint8_t *body, size_t len)
{
	struct pgwire *pg = s->pg;
	struct rd r = { body, body + len, false };
	char msg[64];

	if (pg->skip_to_sync && type != 'S' && type != 'X')
		return true;
	switch (type) {
	case 'Q':
		serve_query(s, &r);
		break;
	case 'P':
		serve_parse(s, &r);
		break;
	case 'B':
		serve_bind(s, &r);
		break;
	case 'D':
		return serve_describe(s, &r, len + 5);
	case 'E':
		serve_execute(s, &r);
		break;
	case 'C':
		serve_close(s, &r);
		break;
	case 'H':
		break;			/* Flush: everything is written as it is made */
	case 'S':
		serve_sync(s);
		break;
	case 'X':
		session_close(s, 0, "client closed the connection");
		break;
	case 'F':
		put_error(&pg->out, "ERROR", "0A000", "the function call protocol is not "
		    "supported by dbmd: use SELECT", NULL, NULL);
		put_ready(s);
		break;
	case 'd':
	case 'c':
	case 'f':
		break;			/* COPY data after a refused COPY */
	default:
		snprintf(msg, sizeof(msg), "invalid frontend message type %d", (unsigned char)type);
		fatal_close(s, "08P01", msg, NULL);
		break;
	}
	return true;
}

/*
 * Serves the messages the input buffer holds while nothing waits: each is taken whole,
 * one at a time; a message arriving while a request runs waits its turn.
 */
void
pgwire_process(struct session *s)
{
	struct pgwire *pg = s->pg;
	unsigned char hdr[5], *p;
	size_t have;
	uint32_t len;
	char msg[96];

	while (!s->dead && s->busy == NULL && pg->job == JOB_NONE &&
	    (s->out == NULL || evbuffer_get_length(s->out) <= OUT_HIGH) &&
	    (have = s->in != NULL ? evbuffer_get_length(s->in) : 0) > 0) {
		if (pg->discard > 0) {
			len = (uint32_t)(have < pg->discard ? have : pg->discard);
			evbuffer_drain(s->in, len);
			pg->discard -= len;
			continue;
		}
		if (!pg->started) {
			if (have < 4 || evbuffer_copyout(s->in, hdr, 4) != 4)
				break;
			len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			    (uint32_t)hdr[2] << 8 | hdr[3];
			if (len < 8 || len > STARTUP_MAX) {
				fatal_close(s, "08P01", "invalid length of startup packet", NULL);
				break;
			}
			if (have < len)
				break;
			if ((p = evbuffer_pullup(s->in, len)) == NULL) {
				session_close(s, PROTO_E_NOMEM, "out of memory for input");
				break;
			}
			serve_startup(s, p, len);
			if (!s->dead)
				evbuffer_drain(s->in, len);
			flush(s);
			continue;
		}
		if (have < 5 || evbuffer_copyout(s->in, hdr, 5) != 5)
			break;
		len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 |
		    hdr[4];
		if (len < 4) {
			fatal_close(s, "08P01", "invalid message length", NULL);
			break;
		}
		if (len - 4 > msg_limit()) {
			/*
			 * Too large to hold: its bytes are dropped as they come, and the client,
			 * which may still be writing them, reads an error it can act on.
			 */
			snprintf(msg, sizeof(msg), "message of %u bytes is larger than dbmd "
			    "accepts (%zu bytes: daemon.max_frame_size)", len, msg_limit());
			if (!pg->skip_to_sync)
				put_error(&pg->out, "ERROR", "54000", msg, NULL, NULL);
			if (hdr[0] == 'Q')
				put_ready(s);
			else
				pg->skip_to_sync = true;
			pg->discard = (size_t)len + 1;
			flush(s);
			continue;
		}
		if (have < (size_t)len + 1)
			break;
		if ((p = evbuffer_pullup(s->in, (ev_ssize_t)len + 1)) == NULL) {
			session_close(s, PROTO_E_NOMEM, "out of memory for input");
			break;
		}
		if (!serve_message(s, (char)hdr[0], p + 5, len - 4))
			break;			/* waits for what follows */
		if (!s->dead)
			evbuffer_drain(s->in, (size_t)len + 1);
		flush(s);
	}
}

/* The job's request is done: the job goes on, or ends and the next message is served. */
void
pgwire_done(struct session *s, struct request *r)
{
	struct pgwire *pg = s->pg;
	struct pg_portal *po;
	char reason[320];
	bool failed;

	if (r != pg->req || s->dead)
		return;
	pg->req = NULL;
	failed = r->failed || pg->req_failed;
	/* PostgreSQL aborts a transaction at its first error; SQLite goes on. */
	if (pg->h != NULL && !pg->h->hold.in_txn)
		pg->txn_failed = false;
	else if (!r->was_in_txn)
		pg->txn_failed = failed && !pg->sqlite;	/* it began the transaction */
	else if (!pg->sqlite)
		pg->txn_failed = failed;	/* a success there: ROLLBACK TO SAVEPOINT */
	/*
	 * The connection holding the client's transaction went (a cancel, a COPY, a lost
	 * server) and the handle says so: to the client the transaction is aborted, as
	 * PostgreSQL would have it, until it ends it (ended_gone_txn).
	 */
	if (pg->h != NULL && !pg->h->hold.in_txn && r->was_in_txn && pg->h->lost != NULL)
		pg->txn_gone = true;
	if (pg->cut && pg->cut_state[0] != '\0') {
		/* The reply could not be translated: the client hears why instead. */
		put_error(&pg->out, "ERROR", pg->cut_state, pg->cut_msg, NULL, NULL);
		pg->failed = true;
		pg->cut_state[0] = '\0';
	}
	efields_clear(pg);
	switch (pg->job) {
	case JOB_OPEN:
		pg->job = JOB_NONE;
		if (failed) {
			snprintf(reason, sizeof(reason), "cannot open %s/%s: %s", pg->h->env,
			    pg->h->role, pg->open_error[0] ? pg->open_error : "failed");
			fatal_close(s, pg->open_state[0] ? pg->open_state : "08006", reason, NULL);
			return;
		}
		startup_done(s);
		return;
	case JOB_SIMPLE:
		if (failed)
			pg->failed = true;
		if (!pg->stepping)
			simple_next(s);
		return;
	case JOB_EXECUTE:
		po = pg->portal;
		pg->job = JOB_NONE;
		if (pg->failed || failed) {
			pg->skip_to_sync = true;
			if (po != NULL)
				portal_free(pg, po);
		} else if (po != NULL && pg->max_rows > 0 && pg->sent_rows >= pg->max_rows &&
		    pg->have_desc)
			put_simple(&pg->out, 's');	/* PortalSuspended */
		pg->have_desc = false;
		pg->portal = NULL;
		break;
	case JOB_DESCRIBE:
		pg->job = JOB_NONE;
		if (pg->failed || failed)
			pg->skip_to_sync = true;
		pg->portal = NULL;
		break;
	case JOB_NONE:
		break;
	}
	flush(s);
}
