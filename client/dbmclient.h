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
#define DBM_VERSION_MINOR	1
#define DBM_VERSION_PATCH	0
/* One number for comparisons: 0x000100 is 0.1.0. */
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

/* Options of dbm_exec_opts; the size rule of struct dbm_open_opts applies. */
struct dbm_exec_opts {
	size_t		 size;			/* sizeof(struct dbm_exec_opts) */
	unsigned long	 cache_max_age_ms;	/* 0: no cache; else accept a cached result this old */
};
#define DBM_EXEC_OPTS_INIT	{ sizeof(struct dbm_exec_opts), 0 }

/*
 * Connections.  A NULL or empty path means $DBMD_SOCKET, else the default
 * (see libdbmclient(3)).  dbm_connect returns NULL only when out of memory;
 * check dbm_errcode, which treats a NULL conn as out of memory.
 * dbm_disconnect disposes every handle still open, then frees the handles
 * and the connection.
 */
dbm_conn	*dbm_connect(const char *socket_path);
void		 dbm_disconnect(dbm_conn *conn);
int		 dbm_connected(const dbm_conn *conn);	/* 1 while usable, else 0 */
int		 dbm_errcode(const dbm_conn *conn);	/* DBM_OK or a DBM_E_* code */
const char	*dbm_errmsg(const dbm_conn *conn);	/* "" after success */
const char	*dbm_errsqlstate(const dbm_conn *conn);	/* "" when none */
const char	*dbm_errdetail(const dbm_conn *conn);	/* "" when none */
const char	*dbm_errhint(const dbm_conn *conn);	/* "" when none */
const char	*dbm_strerror(int code);
const char	*dbm_server_version(const dbm_conn *conn); /* e.g. "dbmd 0.1.0" */

/*
 * Handles.  NULL environment/role: $DBM_ENVIRONMENT/$DBM_ROLE, else
 * "development"/"primary".  dbm_open returns NULL on failure with the reason
 * in the conn.  dbm_dispose frees the handle whatever it returns.
 */
dbm_handle	*dbm_open(dbm_conn *conn, const char *environment, const char *role,
		    const struct dbm_open_opts *opts);	/* opts may be NULL */
int		 dbm_dispose(dbm_handle *handle);	/* DBM_OK or a code */
unsigned long long dbm_handle_pool_hash(const dbm_handle *handle);
const char	*dbm_handle_backend(const dbm_handle *handle); /* "sqlite", "postgresql" */

/*
 * Statements.  Parameters are text; a NULL pointer is SQL NULL.  NULL is
 * returned only when the connection failed (see the conn, which is then
 * unusable); a statement that failed is a result whose status says so.
 */
dbm_result	*dbm_exec(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *params);
dbm_result	*dbm_exec_opts(dbm_handle *handle, const char *sql, int nparams,
		    const char *const *params, const struct dbm_exec_opts *opts);
int		 dbm_begin(dbm_handle *handle);		/* DBM_OK or a code; text in the conn */
int		 dbm_commit(dbm_handle *handle);
int		 dbm_rollback(dbm_handle *handle);

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
const char	*dbm_value(const dbm_result *res, int row, int col);
int		 dbm_isnull(const dbm_result *res, int row, int col);
size_t		 dbm_length(const dbm_result *res, int row, int col);
long long	 dbm_affected(const dbm_result *res);
const char	*dbm_cmdtag(const dbm_result *res);		/* "SELECT 3"; "" when none */
int		 dbm_cache_state(const dbm_result *res);	/* DBM_CACHE_* */
const dbm_result *dbm_result_next(const dbm_result *res); /* next result set, or NULL */
void		 dbm_result_free(dbm_result *res);		/* NULL-safe; frees the chain */

#ifdef __cplusplus
}
#endif

#endif /* DBMCLIENT_H */
