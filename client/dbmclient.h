/* dbmclient.h: the public interface of libdbmclient, the client library of dbmd. */

/*
 * This header is installed and stands alone: it includes only standard C
 * headers, never anything of dbmd's protocol code, libevent, libpq or SQLite.
 * Every object is opaque and every error travels in an object; the library
 * never prints and never exits.  libdbmclient(3) is the reference.
 */

#ifndef DBMCLIENT_H
#define DBMCLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DBM_VERSION_MAJOR	0
#define DBM_VERSION_MINOR	2
#define DBM_VERSION_PATCH	0
/* One number for comparisons: 0x000200 is 0.2.0. */
#define DBM_VERSION_NUMBER \
	((DBM_VERSION_MAJOR << 16) | (DBM_VERSION_MINOR << 8) | DBM_VERSION_PATCH)

/*
 * Error codes.  The numbers are those of the wire protocol and never change;
 * a newer dbmd may send codes this list lacks (dbm_strerror then says
 * "unknown error").
 */
enum dbm_error {
	DBM_OK = 0,			/* success */
	DBM_E_PROTOCOL = 1,		/* malformed frame or message out of order */
	DBM_E_VERSION = 2,		/* no protocol version both sides speak */
	DBM_E_UNKNOWN_ENV = 3,		/* no such environment is configured */
	DBM_E_UNKNOWN_ROLE = 4,		/* the environment has no such role */
	DBM_E_CONFIG = 5,		/* the configuration is invalid */
	DBM_E_NOT_OVERRIDABLE = 6,	/* an override names a key this client may not set */
	DBM_E_PERMISSION = 7,		/* the peer's credentials do not allow this */
	DBM_E_LIMIT = 8,		/* a limit was reached (handles, queue, frame size) */
	DBM_E_BACKEND = 9,		/* the database cannot be opened or reached */
	DBM_E_SQL = 10,			/* the statement failed; see the SQLSTATE */
	DBM_E_TIMEOUT = 11,		/* waited too long (pool acquire, statement, drain) */
	DBM_E_NO_HANDLE = 12,		/* unknown, disposed or NULL handle */
	DBM_E_TXN_STATE = 13,		/* BEGIN inside a transaction, COMMIT outside one */
	DBM_E_SHUTDOWN = 14,		/* dbmd is shutting down */
	DBM_E_DRAINING = 15,		/* the pool is draining or was disposed */
	DBM_E_CANCELED = 16,		/* the request was abandoned before it completed */
	DBM_E_CONNECTION = 17,		/* the connection to dbmd is lost or unusable */
	DBM_E_INTERNAL = 18,		/* a bug, or the API misused; see the message */
	DBM_E_NOMEM = 19		/* out of memory */
};

/* What dbmd's result cache did with a statement (dbm_cache_state). */
enum dbm_cache {
	DBM_CACHE_BYPASS = 0,		/* not cacheable, or no cache asked for */
	DBM_CACHE_MISS = 1,		/* cacheable: ran on the database (stored if it could be) */
	DBM_CACHE_HIT = 2		/* answered from the cache */
};

/*
 * Column types (dbm_coltype) are PostgreSQL's type OIDs, on both backends: a
 * PostgreSQL column reports what the server says, a SQLite column the OID its
 * declared type maps to (libdbmclient(3) has the table).  These are the
 * common ones; any other OID may come from PostgreSQL.
 */
#define DBM_OID_BOOL		16
#define DBM_OID_BYTEA		17
#define DBM_OID_CHAR		18	/* "char", one byte */
#define DBM_OID_NAME		19
#define DBM_OID_INT8		20
#define DBM_OID_INT2		21
#define DBM_OID_INT4		23
#define DBM_OID_TEXT		25
#define DBM_OID_OID		26
#define DBM_OID_JSON		114
#define DBM_OID_FLOAT4		700
#define DBM_OID_FLOAT8		701
#define DBM_OID_UNKNOWN		705
#define DBM_OID_BPCHAR		1042	/* char(n) */
#define DBM_OID_VARCHAR		1043
#define DBM_OID_DATE		1082
#define DBM_OID_TIME		1083
#define DBM_OID_TIMESTAMP	1114
#define DBM_OID_TIMESTAMPTZ	1184
#define DBM_OID_INTERVAL	1186
#define DBM_OID_TIMETZ		1266
#define DBM_OID_NUMERIC		1700
#define DBM_OID_UUID		2950
#define DBM_OID_JSONB		3802

/*
 * Formats of parameters (dbm_exec_params) and of result columns
 * (dbm_colformat).  A text value is the backend's text form; a binary value
 * is bytes as they are: a bytea or BLOB column comes as its exact bytes.
 */
#define DBM_FORMAT_TEXT		0
#define DBM_FORMAT_BINARY	1

typedef struct dbm_conn dbm_conn;	/* one connection to dbmd; one thread at a time */
typedef struct dbm_handle dbm_handle;	/* a lease on one pool, by environment/role */
typedef struct dbm_result dbm_result;	/* one reply's outcome, owned by the caller */

/* One explicit setting for dbm_open, e.g. { "statement_timeout", "5s" }. */
struct dbm_override {
	const char	*key;
	const char	*value;
};

/*
 * Options of dbm_open.  Set size to sizeof(struct dbm_open_opts), most simply
 * by starting from DBM_OPEN_OPTS_INIT: the library reads only what size
 * covers, so a program built against an older header keeps working, and
 * refuses options it does not know.  Members are only ever appended.
 */
struct dbm_open_opts {
	size_t				 size;		/* sizeof(struct dbm_open_opts) */
	int				 pinned;	/* nonzero: one backend connection for life */
	size_t				 n_overrides;	/* entries in overrides, at most 65535 */
	const struct dbm_override	*overrides;	/* explicit settings, highest precedence */
};
#define DBM_OPEN_OPTS_INIT	{ sizeof(struct dbm_open_opts), 0, 0, NULL }

/*
 * Options of the statement calls; the size rule of struct dbm_open_opts
 * applies.  row_chunk is for dbm_send_exec_params: a result then comes from
 * dbm_get_result in pieces of at most row_chunk rows, so that a program
 * never holds more of it than that (libpq's single-row mode, for n rows).
 * The blocking calls collect the whole result whatever it says.
 */
struct dbm_exec_opts {
	size_t		 size;			/* sizeof(struct dbm_exec_opts) */
	unsigned long	 cache_max_age_ms;	/* 0: no cache; else accept a cached result this old */
	unsigned long	 timeout_ms;		/* 0: the conn's request timeout */
	unsigned long	 row_chunk;		/* 0: whole results; else pieces of this many rows */
};
#define DBM_EXEC_OPTS_INIT	{ sizeof(struct dbm_exec_opts), 0, 0, 0 }

/*
 * Options of dbm_connect_opts.  A timeout of 0 takes $DBMD_TIMEOUT (a
 * number of seconds, or a duration such as "500ms", "2s", "1min"); without
 * it, connecting gives up after 10 s and requests wait as long as they take.
 * When a timeout passes the call fails with DBM_E_TIMEOUT and the conn is
 * unusable: the reply may still come, and nothing could tell it apart.
 */
struct dbm_connect_opts {
	size_t		 size;			/* sizeof(struct dbm_connect_opts) */
	const char	*socket_path;		/* NULL or "": $DBMD_SOCKET, else the default */
	unsigned long	 connect_timeout_ms;	/* connect and handshake */
	unsigned long	 timeout_ms;		/* each blocking call's wait for its reply */
};
#define DBM_CONNECT_OPTS_INIT	{ sizeof(struct dbm_connect_opts), NULL, 0, 0 }

/*
 * Connections.  A NULL or empty path means $DBMD_SOCKET, else the default
 * (see libdbmclient(3)).  dbm_connect returns NULL only when out of memory;
 * check dbm_errcode, which treats a NULL conn as out of memory.
 * dbm_disconnect disposes every handle still open, then frees the handles
 * and the connection.
 */
dbm_conn	*dbm_connect(const char *socket_path);
dbm_conn	*dbm_connect_opts(const struct dbm_connect_opts *opts); /* opts may be NULL */
void		 dbm_disconnect(dbm_conn *conn);
int		 dbm_connected(const dbm_conn *conn);	/* 1 while usable, else 0 */
int		 dbm_errcode(const dbm_conn *conn);	/* DBM_OK or a DBM_E_* code */
const char	*dbm_errmsg(const dbm_conn *conn);	/* "" after success */
const char	*dbm_errsqlstate(const dbm_conn *conn);	/* "" when none */
const char	*dbm_errdetail(const dbm_conn *conn);	/* "" when none */
const char	*dbm_errhint(const dbm_conn *conn);	/* "" when none */
const char	*dbm_strerror(int code);
const char	*dbm_server_version(const dbm_conn *conn); /* e.g. "dbmd 0.2.0" */

/*
 * Handles.  NULL environment/role: $DBM_ENVIRONMENT/$DBM_ROLE, else
 * "development"/"primary".  dbm_open returns NULL on failure with the reason
 * in the conn.  dbm_dispose frees the handle whatever it returns.
 */
dbm_handle	*dbm_open(dbm_conn *conn, const char *environment, const char *role,
		    const struct dbm_open_opts *opts);	/* opts may be NULL */
int		 dbm_dispose(dbm_handle *handle);	/* DBM_OK or a code */
int		 dbm_disposed(dbm_conn *conn);	/* dbmd's answers to the DISPOSEs sent */
unsigned long long dbm_handle_pool_hash(const dbm_handle *handle);
const char	*dbm_handle_backend(const dbm_handle *handle); /* "sqlite", "postgresql" */

/*
 * Statements.  Parameters are text; a NULL pointer is SQL NULL.  NULL is
 * returned only when the connection failed (see the conn, which is then
 * unusable); a statement that failed is a result whose status says so.
 * dbm_exec_params takes a format per parameter (NULL: all text) and the
 * lengths of the binary ones; a text value is a C string, as in libpq.
 */
dbm_result	*dbm_exec(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *params);
dbm_result	*dbm_exec_opts(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *params, const struct dbm_exec_opts *opts);
dbm_result	*dbm_exec_params(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *values, const int *lengths, const int *formats,
		    const struct dbm_exec_opts *opts);	/* lengths, formats, opts may be NULL */
int		 dbm_begin(dbm_handle *handle);		/* DBM_OK or a code; text in the conn */
int		 dbm_commit(dbm_handle *handle);
int		 dbm_rollback(dbm_handle *handle);

/*
 * Without waiting, for programs with an event loop of their own (libpq's
 * PQsendQuery family is the model).  A dbm_send_* call queues its request
 * and writes what the socket takes at once; dbm_flush writes the rest when
 * the socket is writable.  dbm_consume_input reads what has arrived;
 * dbm_is_busy says whether dbm_get_result would have to wait for more.
 * dbm_get_result returns the results of the handle's oldest request in
 * order (one chain of result sets, or pieces of row_chunk rows), then NULL
 * once that request has no more; then the next request's.  Failures come
 * as results: a request that can no longer be answered gets one whose
 * status says why, so NULL always means "no more".  Several requests may be
 * in flight on a handle and on a conn (at most what dbmd allows).
 */
int		 dbm_socket(const dbm_conn *conn);	/* the descriptor to poll; -1 if closed */
int		 dbm_send_exec_params(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *values, const int *lengths, const int *formats,
		    const struct dbm_exec_opts *opts);	/* DBM_OK or a code */
int		 dbm_send_begin(dbm_handle *handle);	/* the same; the result has no rows */
int		 dbm_send_commit(dbm_handle *handle);
int		 dbm_send_rollback(dbm_handle *handle);
int		 dbm_flush(dbm_conn *conn);		/* 0 all sent, 1 wait for POLLOUT, -1 failed */
int		 dbm_consume_input(dbm_conn *conn);	/* DBM_OK or a code; never waits */
int		 dbm_is_busy(const dbm_handle *handle);	/* 1: dbm_get_result would wait */
dbm_result	*dbm_get_result(dbm_handle *handle);	/* waits if busy; NULL: no more */
int		 dbm_pending(const dbm_handle *handle);	/* requests sent, not yet all taken */

/* Operator requests, as dbmctl(1) makes them.  Same NULL rule as dbm_exec. */
int		 dbm_ping(dbm_conn *conn);		/* DBM_OK or a code */
dbm_result	*dbm_status(dbm_conn *conn);		/* "daemon", then dbm_result_next: "pools" */
dbm_result	*dbm_clients(dbm_conn *conn);
dbm_result	*dbm_resolve(dbm_conn *conn, const char *environment, const char *role);
dbm_result	*dbm_reload(dbm_conn *conn);
dbm_result	*dbm_dispose_pool(dbm_conn *conn, const char *target); /* hash prefix or ENV/ROLE */
dbm_result	*dbm_cache_flush(dbm_conn *conn, const char *target);  /* the same targets */

/*
 * Results.  Rows and columns count from 0; out of range, dbm_colname and
 * dbm_value give NULL, dbm_length 0 and dbm_isnull 1.  dbm_value of SQL NULL
 * is "".  Strings stay valid until dbm_result_free.
 */
int		 dbm_result_status(const dbm_result *res);	/* DBM_OK or DBM_E_SQL, ... */
const char	*dbm_result_errmsg(const dbm_result *res);	/* "" when none */
const char	*dbm_result_sqlstate(const dbm_result *res);	/* "" when none */
const char	*dbm_result_detail(const dbm_result *res);	/* "" when none */
const char	*dbm_result_hint(const dbm_result *res);	/* "" when none */
int		 dbm_nrows(const dbm_result *res);
int		 dbm_ncols(const dbm_result *res);
const char	*dbm_colname(const dbm_result *res, int col);
int		 dbm_colnum(const dbm_result *res, const char *name); /* -1 if none */
unsigned int	 dbm_coltype(const dbm_result *res, int col);	/* DBM_OID_*; 0 if unknown */
int		 dbm_coltypmod(const dbm_result *res, int col);	/* -1 when none */
int		 dbm_colformat(const dbm_result *res, int col);	/* DBM_FORMAT_* */
const char	*dbm_value(const dbm_result *res, int row, int col);
int		 dbm_isnull(const dbm_result *res, int row, int col);
size_t		 dbm_length(const dbm_result *res, int row, int col);
long long	 dbm_affected(const dbm_result *res);
const char	*dbm_cmdtag(const dbm_result *res);		/* "SELECT 3"; "" when none */
int		 dbm_cache_state(const dbm_result *res);	/* DBM_CACHE_* */
int		 dbm_result_partial(const dbm_result *res);	/* 1: a piece; more rows follow */
const dbm_result *dbm_result_next(const dbm_result *res); /* next result set, or NULL */
void		 dbm_result_free(dbm_result *res);		/* NULL-safe; frees the chain */

#ifdef __cplusplus
}
#endif

#endif /* DBMCLIENT_H */
