/* dbmd.h: the daemon's shared types and every exported prototype, one section per file. */

#ifndef DBMD_H
#define DBMD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#ifndef DBMD_VERSION
#define DBMD_VERSION "0.0.0"
#endif

#define DBMD_CONFIG_DEFAULT	"/etc/dbmd/dbmd.yaml"
#define DBMD_NAME_MAX		32	/* environment and role names */

#define ATTR_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#define ATTR_NORETURN		__attribute__((noreturn))

/*
 * Configuration.
 *
 * A configuration is a set of settings, each (scope, key, value, source).  The scope is
 * daemon-wide, one environment (inherited by all its roles), or one role of one
 * environment.  Resolution takes, for every key, the value of the highest source; within
 * one source a role's own value beats its environment's.  See dbmd.yaml(5).
 */

/* Where a value came from, lowest precedence first. */
enum cfg_source {
	CFG_SRC_DEFAULT,	/* built into dbmd */
	CFG_SRC_FILE,		/* a YAML file; later files beat earlier ones */
	CFG_SRC_ENV,		/* an environment variable of the daemon */
	CFG_SRC_EXPLICIT,	/* dbmd --set */
	CFG_SRC_REQUEST,	/* a client's permitted override */
	CFG_SRC_MAX_
};

/* How a value is written and what it holds once parsed. */
enum cfg_type {
	CFG_T_URI,		/* postgresql://, postgres:// or sqlite: */
	CFG_T_PATH,		/* an absolute path */
	CFG_T_STR,		/* free text, e.g. a group name */
	CFG_T_INT,		/* decimal integer, range-checked */
	CFG_T_DURATION,		/* 250ms, 5s, 2m, 1h, 1m30s; held in milliseconds */
	CFG_T_SIZE,		/* bytes, with an optional K/M/G (binary) suffix */
	CFG_T_BOOL,		/* true/false (also yes/no, on/off unquoted) */
	CFG_T_MODE,		/* octal file mode such as 0660 */
	CFG_T_LOGLEVEL,		/* debug, info, notice, warning, error */
	CFG_T_NAMES,		/* list of user or group names (or numeric ids) */
	CFG_T_KEYS,		/* list of role key names */
	CFG_T_CHOICE,		/* one of the key's words (choices); held as its index */
	CFG_T_MAX_
};

/* Which struct a key's value lands in. */
enum cfg_scope {
	CFG_SCOPE_DAEMON,	/* struct daemon_config */
	CFG_SCOPE_ROLE,		/* struct role_config */
};

#define CFG_K_POOL	0x01	/* defines the pool: part of the canonical form and hash */

struct cfg_key {
	const char	*name;		/* as written in YAML, dotted for nesting */
	const char	*envname;	/* upper-case suffix of the DBMD_ variable */
	enum cfg_type	 type;
	enum cfg_scope	 scope;
	size_t		 off;		/* offset of the value in its config struct */
	const char	*def;		/* default as text, NULL: none; parsed like any source */
	long long	 min, max;	/* inclusive range for numeric types */
	int		 flags;
	const char	*doc;		/* one line for --help-config and errors */
	const char *const *choices;	/* CHOICE: the words, NULL-terminated */
};

/* A parsed value; which member is used depends on the key's type. */
struct cfg_value {
	long long	  num;		/* INT, DURATION (ms), SIZE, BOOL, MODE, LOGLEVEL */
	char		 *str;		/* URI, PATH, STR */
	char		**list;		/* NAMES, KEYS: NULL-terminated */
	size_t		  nlist;
};

struct cfg_setting {
	TAILQ_ENTRY(cfg_setting) entry;
	char			*env;	/* NULL: daemon-wide */
	char			*role;	/* NULL: the whole environment */
	const struct cfg_key	*key;
	struct cfg_value	 val;
	enum cfg_source		 src;
	char			*where;	/* "path:line:col", "DBMD_…", "--set …" */
};
TAILQ_HEAD(cfg_settings, cfg_setting);

/* Error classes; each problem found carries one. */
enum cfg_errcode {
	CFG_E_FILE,		/* a file cannot be read */
	CFG_E_SYNTAX,		/* YAML syntax error */
	CFG_E_STRUCTURE,	/* YAML a configuration has no use for: aliases, tags, … */
	CFG_E_DUPLICATE,	/* the same key twice in one mapping */
	CFG_E_UNKNOWN_KEY,	/* a key dbmd does not know */
	CFG_E_TYPE,		/* a value of the wrong type */
	CFG_E_RANGE,		/* a number outside its range */
	CFG_E_DURATION,		/* a malformed duration */
	CFG_E_SIZE,		/* a malformed byte size */
	CFG_E_URI,		/* a malformed or unsupported database URI */
	CFG_E_NAME,		/* an invalid environment or role name */
	CFG_E_VARIABLE,		/* a DBMD_ variable that names nothing */
	CFG_E_PERMISSION,	/* a file holding a password is readable by others */
	CFG_E_MISSING,		/* a required key has no value */
	CFG_E_CONFLICT,		/* values that contradict each other */
	CFG_E_UNKNOWN_ENV,	/* no such environment */
	CFG_E_UNKNOWN_ROLE,	/* no such role in the environment */
	CFG_E_NOT_OVERRIDABLE,	/* a client override the environment does not permit */
	CFG_E_MAX_
};

struct cfg_error {
	TAILQ_ENTRY(cfg_error)	 entry;
	enum cfg_errcode	 code;
	char			*where;	/* location, as in struct cfg_setting */
	char			*msg;	/* never holds a password */
};
TAILQ_HEAD(cfg_errors, cfg_error);

/* A known environment or role, and where it was first named. */
struct cfg_name {
	TAILQ_ENTRY(cfg_name)	 entry;
	char			*env;
	char			*role;	/* NULL: the environment itself */
	enum cfg_source		 src;
};
TAILQ_HEAD(cfg_names, cfg_name);

/*
 * How many keys of each scope cfg_keys (config.c) holds: the daemon's lead the table,
 * the roles' follow.  They size the origin arrays below; config.c does not compile when
 * the table and these counts disagree.
 */
#define DAEMON_KEYS	19
#define ROLE_KEYS	26

struct daemon_config {
	char		*socket;
	long long	 socket_mode;
	char		*socket_group;
	char		*state_dir;
	long long	 log_level;
	long long	 max_clients;
	long long	 max_handles_per_client;
	long long	 max_queued_per_client;
	long long	 max_frame_size;
	long long	 shutdown_timeout;	/* ms */
	long long	 drain_timeout;		/* ms */
	long long	 max_clients_per_uid;
	long long	 max_override_pools;
	long long	 max_pinned_per_client;
	long long	 sqlite_heap_limit;	/* bytes; 0: none */
	char		*pg_socket_dir;		/* the front door's; "": the socket's */
	long long	 pg_port;		/* its .s.PGSQL.<port>; 0: no front door */
	struct cfg_value admin_users;
	struct cfg_value admin_groups;
	const struct cfg_setting *origin[DAEMON_KEYS];	/* per key, in key-table order */
};

/* How the PostgreSQL front door gives a client's statements connections. */
enum pool_mode {
	POOL_MODE_TRANSACTION,	/* any free connection per statement or transaction */
	POOL_MODE_SESSION,	/* one connection for the client's life */
};

/* What a read role does when no standby qualifies (backend_pg.c, pghosts.c). */
enum lag_fallback {
	LAG_FALLBACK_WAIT,	/* wait for one, up to acquire_timeout */
	LAG_FALLBACK_PRIMARY,	/* read from the primary */
	LAG_FALLBACK_FAIL,	/* fail the request at once */
};

enum backend_kind {
	BACKEND_SQLITE,		/* sqlite:/path or sqlite::memory: */
	BACKEND_POSTGRES,	/* postgresql:// or postgres:// */
};

/* The resolved settings of one environment/role: what the factory builds a pool from. */
struct role_config {
	char		*env;
	char		*role;
	enum backend_kind backend;
	char		*uri;		/* as configured; may hold a password */
	char		*target;	/* identity of the database: canonical conninfo (password
					   as a keyed digest), SQLite file path or :memory: */
	long long	 pool_size;
	long long	 min_idle;
	long long	 connect_timeout;	/* ms, as all durations below */
	long long	 acquire_timeout;
	long long	 idle_timeout;		/* 0: never */
	long long	 max_lifetime;		/* 0: never */
	long long	 statement_timeout;	/* 0: none */
	long long	 idle_in_transaction_timeout;	/* 0: never */
	long long	 stall_timeout;		/* 0: never */
	long long	 session_reset;		/* between handles of one user too */
	long long	 max_value_size;	/* bytes: SQLite's SQLITE_LIMIT_LENGTH */
	long long	 read_only;
	long long	 pool_mode;		/* enum pool_mode */
	long long	 max_replica_lag;	/* ms; 0: not checked */
	long long	 lag_fallback;		/* enum lag_fallback */
	long long	 read_your_writes;
	long long	 read_your_writes_timeout;	/* ms */
	long long	 replica_check_interval;	/* ms */
	long long	 cache_size;		/* entries; 0 disables the cache */
	long long	 cache_ttl;
	long long	 cache_max_bytes;
	long long	 cache_max_result_bytes;
	struct cfg_value allow_users;
	struct cfg_value allow_groups;
	struct cfg_value overridable;
	char		*canonical;	/* pool-defining settings in canonical text */
	uint64_t	 hash;		/* of canonical */
	/* Per key in key-table order: the setting that won, NULL for a plain default. */
	const struct cfg_setting *origin[ROLE_KEYS];
};

/* A client's override of one key for one open. */
struct cfg_override {
	const char	*key;
	const char	*value;
};

struct config {
	struct cfg_settings	 settings;	/* every setting, in the order read */
	struct cfg_names	 names;		/* known environments and roles */
	struct cfg_errors	 errors;	/* problems found while loading */
	char			*config_file;	/* the main file, read or not */
	char		       **files;		/* the files actually read, in order */
	size_t			 nfiles;
	struct daemon_config	 daemon;	/* resolved daemon-wide settings */
	uint64_t		 serial;	/* unique to this load of the configuration */
};

/* Where the daemon's inputs come from; tests fill this in instead of the real process. */
struct config_inputs {
	const char		*config_file;	/* --config; NULL: $DBMD_CONFIG or default */
	char *const		*environ;	/* variables to read; NULL: none */
	const char *const	*sets;		/* --set arguments, NULL-terminated */
	uid_t			 uid;		/* for per-user default paths */
};


/*
 * The broker.  One event loop owns everything below; only the SQLite worker threads
 * run elsewhere, and they touch nothing but their own connection and the completion
 * queue (backend_sqlite.c).
 */

struct event_base;
struct event;
struct evbuffer;
struct pool;
struct conn;
struct request;
struct session;
struct handle;
struct factory;
struct fill;
struct hold;
struct proto_frame;
struct proto_buf;
struct proto_col;
struct hist;

/* The result cache a pool owns; the factory is given the ops at creation. */
struct cache_stats {
	uint64_t	entries, bytes, hits, misses, bypasses, evictions, expirations,
			invalidations;
};

struct cache_ops {
	const char	*name;
	/* NULL on failure; the pool is then not built. */
	void		*(*create)(const struct role_config *);
	/* 1 with the stored reply of key when one no older than max_age ms is there
	 * (a hit, counted); misses are counted when the statement has run (count). */
	int		 (*lookup)(void *, const void *, size_t, int64_t, const uint8_t **,
			    size_t *);
	/* Keeps a reply that read the tables (all_tables: it may depend on any). */
	int		 (*store)(void *, const void *, size_t, const uint8_t *, size_t,
			    const char *const *, size_t, bool);
	/* A write to the tables (none: to anything) happened. */
	void		 (*invalidate)(void *, const char *const *, size_t);
	void		 (*flush)(void *);
	uint64_t	 (*generation)(void *);
	/* Counts a statement that ran: a MISS (cacheable) or a BYPASS (not). */
	void		 (*count)(void *, int);
	void		 (*stats)(void *, struct cache_stats *);
	void		 (*destroy)(void *);
};

/*
 * A database backend.  Everything is asynchronous: a connection's life is reported
 * through pool_conn_opened(), pool_conn_lost() and pool_conn_closed(), a request's
 * reply through request_output() and its end through request_done().
 */
struct backend_ops {
	const char	*name;		/* "sqlite", "postgresql" */
	/* Backend state for a new pool; -1 with a message when it cannot serve it. */
	int		 (*pool_init)(struct pool *, char *, size_t);
	void		 (*pool_fini)(struct pool *);
	/* Starts opening a connection; completes with pool_conn_opened().  -1: it could
	 * not even start (out of memory), and nothing was kept. */
	int		 (*conn_open)(struct conn *);
	/* Runs a request on an open connection; ends with request_done(). */
	void		 (*conn_exec)(struct conn *, struct request *);
	/* The client stopped reading: output may continue (backpressure released). */
	void		 (*conn_resume)(struct conn *);
	/* Stops the statement running on the connection as soon as possible. */
	void		 (*conn_cancel)(struct conn *);
	/* Closes an idle connection; completes with pool_conn_closed(). */
	void		 (*conn_close)(struct conn *);
	/* The process is about to exit: stop the statement now, blocking if need be. */
	void		 (*conn_abort)(struct conn *);
	/* NULL, or whether an open connection may serve the request now: a standby
	 * serves a read-your-writes request once it has replayed the client's write. */
	bool		 (*conn_serves)(const struct conn *, const struct request *);
	/* NULL, or: requests wait that no open connection serves (find out soon
	 * whether one does, and call pool_kick), or the pool is being disposed
	 * (connections waiting to open give up). */
	void		 (*pool_wake)(struct pool *);
};

/* Where a connection is; each state is a list of its pool (PgBouncer's way). */
enum conn_state {
	CONN_OPENING,		/* the backend is connecting */
	CONN_IDLE,		/* open and free */
	CONN_ACTIVE,		/* running a request */
	CONN_PINNED,		/* held by a handle between requests */
	CONN_CLOSING,		/* being closed by the backend */
	CONN_STATE_MAX_
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;		/* in pool->conns[state] */
	struct pool		*pool;
	enum conn_state		 state;
	uint64_t		 id;
	struct hold		*held_by;	/* PINNED, and ACTIVE while held */
	struct request		*req;		/* ACTIVE */
	struct event		*idle_txn;	/* PINNED in a transaction: its time is up */
	int64_t			 created;	/* ms */
	int64_t			 last_used;	/* ms */
	bool			 in_txn;	/* the backend is inside a transaction */
	bool			 broken;	/* discard instead of reusing */
	bool			 retiring;	/* its server no longer qualifies: closed
						   when it is next free */
	bool			 pend_all;	/* its transaction wrote tables not known */
	/*
	 * Session state: set by the backend when a client's statement may have left any
	 * (settings, temporary objects, prepared statements, locks); cleared by a reset.
	 */
	bool			 session_dirty;
	uid_t			 owner_uid;	/* the peer whose handle used it last */
	uint64_t		 owner_sid;	/* and that handle: its session's id, */
	uint32_t		 owner_hid;	/* and its own */
	char			**pend_tables;	/* tables its transaction wrote */
	size_t			 npend;
	void			*be;		/* the backend's own */
};
TAILQ_HEAD(conn_list, conn);

enum req_kind {
	REQ_EXEC,		/* a statement */
	REQ_BEGIN,		/* start a transaction and pin */
	REQ_COMMIT,
	REQ_ROLLBACK,
	REQ_OPEN,		/* a pinned handle's connection, or a new pool's first */
	REQ_RESET,		/* internal: roll back what a handle left; with discard,
				   also clear its session state */
	REQ_DESCRIBE,		/* a statement's parameter and result types, without
				   running it (the PostgreSQL front door's Describe);
				   its reply: backend_describe (backend.c) */
};

/*
 * Where a request is (request.c).  Every state but NEW and DONE is membership of one
 * queue, and request_move() is the only way from one to another.  The moves:
 * NEW to QUEUED, PARKED, RUNNING or DONE; QUEUED to RUNNING or DONE; PARKED to NEW
 * (its fill ended) or DONE; RUNNING to STALLED or DONE; STALLED to RUNNING or DONE.
 */
enum req_state {
	REQ_NEW,		/* made by its owner, not placed yet */
	REQ_QUEUED,		/* waits for a connection: pool->reqs[REQ_QUEUED] */
	REQ_PARKED,		/* waits for the same statement's cache fill: its waiters */
	REQ_RUNNING,		/* on a connection (conn->req): pool->reqs[REQ_RUNNING] */
	REQ_STALLED,		/* on a connection, its output waits for the client to read:
				   pool->reqs[REQ_STALLED] */
	REQ_DONE,		/* answered; freed once its owner has been told */
	REQ_STATE_MAX_
};

TAILQ_HEAD(request_list, request);

struct request_queue {
	struct request_list	 list;
	int			 n;
};

/* One field of a PostgreSQL error or notice: its type ('S', 'C', 'M', 'P', ...) and text. */
struct pg_field {
	char		 code;
	const char	*value;
};

/*
 * What a request's owner (whoever made it) is told.  A request with no ops (dbmd's
 * own, or one whose owner has gone) sends nothing anywhere and is freed when done.
 */
struct request_ops {
	/* Reply bytes, whole frames; 1 when the client's output is full. */
	int	(*output)(void *, struct request *, const void *, size_t);
	/* The reply is complete (r->failed: it ended with ERROR); r is freed after. */
	void	(*done)(void *, struct request *);
	/*
	 * NULL, or the PostgreSQL front door's: a notice the database sent while the
	 * request ran (true), or every field of the error whose ERROR frame follows
	 * (false), as PostgreSQL gave them.  Not part of the reply: never cached.
	 */
	void	(*pg_fields)(void *, struct request *, bool, const struct pg_field *,
		    size_t);
};

/* One request of a client against a pool, from arrival to the end of its reply. */
struct request {
	TAILQ_ENTRY(request)	 entry;		/* in the queue of its state */
	enum req_state		 state;
	struct request_queue	*queue;		/* the one it is in, NULL for NEW and DONE */
	enum req_kind		 kind;
	const struct request_ops *ops;		/* NULL: nobody listens */
	void			*owner;		/* the ops' argument */
	struct handle		*handle;	/* the owner's: dbmd's lower layers never look */
	struct hold		*hold;		/* the connection its handle holds, if any */
	struct pool		*pool;
	struct conn		*conn;		/* RUNNING and STALLED */
	uint32_t		 reqid;
	uint32_t		 max_frame;	/* the client's limit for reply frames */
	uint16_t		 version;	/* its session's protocol: the reply's layout */
	char			*sql;
	uint32_t		 nparams;
	char			**params;	/* NULL entries are SQL NULL */
	uint32_t		*lens;
	uint8_t			*formats;	/* PROTO_FORMAT_* per param; NULL: all text */
	uint32_t		*types;		/* PostgreSQL type OID per param, 0: let the
						   server infer it; NULL: all inferred */
	int64_t			 queued_at;	/* us */
	int64_t			 started_at;	/* us, on its connection */
	struct event		*timer;		/* acquire timeout while QUEUED */
	bool			 failed;	/* an ERROR was sent */
	bool			 was_in_txn;	/* its connection was in a transaction */
	bool			 discard;	/* REQ_RESET: clear session state too */
	bool			 cut;		/* its client stopped reading: output dropped */
	bool			 cancelled;	/* pool_cancel stopped it on its connection */
	/* Read-your-writes (a PostgreSQL read role's; pghosts.c, ryw.c). */
	uint64_t		 min_lsn;	/* its server must have replayed this; 0: any */
	uint64_t		 commit_lsn;	/* a write it committed: the primary's LSN then */
	bool			 ryw_deadline;	/* its timer is read_your_writes_timeout's */
	bool			 ryw_fallback;	/* that passed: the primary may serve it */
	uid_t			 uid;		/* the peer it runs for */
	uint64_t		 sid;		/* its session's id, and */
	uint32_t		 hid;		/* its handle's: whose session state it may see */
	/* The result cache (cacheflow.c). */
	uint32_t		 cache_max_age;	/* ms the client accepts; 0: no caching */
	uint8_t			 cache_state;	/* what COMPLETE says: BYPASS or MISS */
	struct fill		*fill;		/* the fill it makes, or waits for */
	bool			 capturing;	/* its reply is copied for the cache */
	uint8_t			*cap;
	size_t			 caplen, capsize;
	/* What the backend learned about the statement. */
	bool			 res_cacheable;	/* read-only and deterministic */
	bool			 res_wrote;	/* changed data (or may have) */
	char			**res_read;	/* tables read; NULL: unknown */
	size_t			 nres_read;
	char			**res_written;	/* tables written; NULL: unknown, all */
	size_t			 nres_written;
};

/* A latency histogram: bucket upper bounds in hist_bounds_us, the last unbounded. */
#define HIST_BUCKETS	10
extern const int64_t hist_bounds_us[HIST_BUCKETS];

struct hist {
	uint64_t	count[HIST_BUCKETS + 1];	/* per bucket, not cumulative */
	uint64_t	n;
	uint64_t	sum_us;
};

struct pool_stats {
	uint64_t	statements, errors, connects, connect_failures, discarded, waits,
			timeouts;
	uint64_t	resets;		/* connections cleaned between handles */
	uint64_t	idle_txn_timeouts;	/* transactions rolled back for idling */
	uint64_t	stall_timeouts;	/* statements cancelled: the client did not read */
	uint64_t	pin_refusals;	/* BEGIN or pinned OPEN over max_pinned_per_client */
	struct hist	wait;		/* from arrival to a connection */
	struct hist	exec;		/* statements, on the connection */
};

/* What a pool tells whoever made it (the factory), never from inside its own walks. */
struct pool_owner {
	/* The pool is disposed and quiet: free it later, from the loop. */
	void	(*gone)(void *, struct pool *);
	/* A write reached the pool's database: the caches of every pool on it forget. */
	void	(*invalidate)(void *, const char *, const char *const *, size_t);
	void	*arg;
};

/*
 * A connection held between requests (a transaction, a pinned handle): what the pool
 * knows of a handle.  The pool sets conn and in_txn; lost is called when the pool
 * takes the connection back on its own.
 */
struct hold {
	struct conn	*conn;
	bool		 in_txn;
	bool		 pinned;	/* opened pinned: one connection for life */
	void		(*lost)(struct hold *, int, const char *, const char *);
	/* NULL, or told each notification (LISTEN) on the held connection: the
	   sending backend's pid, the channel, the payload. */
	void		(*notify)(struct hold *, int, const char *, const char *);
};

struct pool {
	TAILQ_ENTRY(pool)	 entry;		/* in factory->pools */
	struct pool_owner	 owner;
	struct role_config	*rc;		/* the settings the pool was built from */
	char			**names;	/* each "env/role" that resolved here */
	size_t			 nnames;
	char			*label;		/* the names for a person: "a/b, c/d" */
	const struct backend_ops *be;
	void			*be_state;
	const struct cache_ops	*cache_ops;
	void			*cache;
	struct conn_list	 conns[CONN_STATE_MAX_];
	int			 nconns[CONN_STATE_MAX_];
	struct request_queue	 reqs[REQ_STATE_MAX_];	/* QUEUED, RUNNING, STALLED */
	int			 nhandles;
	bool			 from_override;	/* only a client's overrides made it */
	bool			 connected;	/* a connection has opened at least once */
	bool			 disposing;
	bool			 gone;		/* disposed and quiet: the factory frees it */
	bool			 draining;	/* configuration changed: no new handles */
	int64_t			 drain_deadline;	/* ms: disposed then, handles or not */
	bool			 persistent;	/* keeps a connection: an in-memory database */
	bool			 track_lsn;	/* a read role of its environment reads the
						   writes made here (read_your_writes) */
	int64_t			 unused_since;	/* ms, when nhandles fell to 0 */
	int64_t			 backoff;	/* ms between background connects after failures */
	int64_t			 retry_at;	/* ms: no background connect before this */
	struct pool_stats	 stats;
	char			 last_error[256];
	char			 last_sqlstate[6];	/* of last_error */
	char			*db_key;	/* the database: pools on one share invalidations */
	struct pghosts		*hosts;		/* NULL, or its servers (backend_pg) */
	/* What the database says of itself (PostgreSQL's ParameterStatus); "" unknown. */
	char			 server_version[64];
	char			 timezone[64];
	char			 datestyle[32];
	char			 intervalstyle[32];
	TAILQ_HEAD(, fill)	 fills;		/* cache fills in flight */
};
TAILQ_HEAD(pool_list, pool);

/* What a name resolves to without overrides under one configuration (factory.c). */
struct resolved {
	struct resolved		*next;
	char			*env, *role;
	struct role_config	*rc;
};

struct factory {
	struct pool_list	 pools;		/* gone ones too, until collected */
	int			 npools;	/* not gone */
	struct event		*collect;	/* frees the gone pools from the loop */
	void			(*collected)(void *);	/* then tells its owner */
	void			*collected_arg;
	struct resolved		*resolved;	/* names resolved under resolved_serial */
	uint64_t		 resolved_serial;
	const struct backend_ops *backends[2];	/* by enum backend_kind */
	const struct cache_ops	*cache_ops;
	int			 override_pools;	/* pools only overrides made */
	int			 max_override_pools;
};

struct handle {
	TAILQ_ENTRY(handle)	 entry;		/* in session->handles */
	uint32_t		 id;
	struct session		*session;
	struct pool		*pool;
	struct hold		 hold;		/* the connection it holds, if any */
	char			*env, *role;	/* as opened: access is checked again on reload */
	char			*lost;		/* why dbmd ended its transaction: told once */
	int			 lost_code;	/* and how: a PROTO_E_* code */
	const char		*lost_sqlstate;
	bool			 revoked;	/* a reload took the peer's access: refuses all */
};
TAILQ_HEAD(handle_list, handle);

#define PEER_GROUPS_MAX	64

/*
 * Who a client is, from SO_PEERCRED; its groups come from the group database the
 * first time a decision needs them.
 */
struct peer {
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;
	int		 ngroups;	/* -1 until looked up */
};

enum session_state {
	SESSION_HELLO,		/* waiting for HELLO (a startup packet) */
	SESSION_READY,		/* serving requests */
};

/* The protocol a client speaks. */
enum session_kind {
	SESSION_NATIVE,		/* dbmd's own (proto/PROTOCOL.md) */
	SESSION_PG,		/* PostgreSQL's, through the front door (pgwire.c) */
};

struct pgwire;

struct session {
	TAILQ_ENTRY(session)	 entry;
	uint64_t		 id;
	enum session_kind	 kind;
	enum session_state	 state;
	struct pgwire		*pg;		/* SESSION_PG: the front door's state */
	int			 fd;
	struct event		*rev;		/* readable: persistent while reading */
	struct event		*wev;		/* writable: added while output waits */
	struct event		*hello_timer;
	struct evbuffer		*in;
	struct evbuffer		*out;
	bool			 reading;	/* rev is added */
	pid_t			 pid;		/* from SO_PEERCRED */
	struct peer		 peer;
	char			 name[64];	/* what the client calls itself */
	int64_t			 connected_at;
	uint32_t		 max_frame;	/* the client's limit */
	uint16_t		 version;	/* the protocol HELLO chose: layouts both ways */
	struct handle_list	 handles;
	int			 nhandles;
	uint32_t		 next_handle;
	struct request		*busy;		/* the request being served */
	struct request		*stalled;	/* its backend waits for the output to drain */
	struct event		*stall_timer;	/* stall_timeout of the stalled request */
	bool			 in_read;	/* inside the read callback */
	bool			 dead;		/* free at the next safe point */
};
TAILQ_HEAD(session_list, session);

/* The daemon's global state. */
struct dbmd {
	struct event_base	*base;
	struct config		*cfg;
	struct config_inputs	 inputs;	/* read again on reload */
	struct factory		*factory;
	struct session_list	 sessions;	/* closed ones too, until reaped */
	int			 nsessions;	/* not closed */
	struct event		*reaper;	/* frees the closed, then checks for exit */
	struct event		*exit_check;	/* stopping: leaves the loop once all is gone */
	uint64_t		 next_session_id;
	int64_t			 started;	/* ms */
	time_t			 started_wall;
	bool			 stopping;
	bool			 listen_inherited;	/* the socket came from systemd */
	char			*socket_path;
	char			*pg_socket_path;	/* the front door's; NULL: none */
	struct event		*stop_timer;
	struct event		*janitor;
	struct event		*sigs[4];
};

extern struct dbmd *dbmd;

/* clock.c: monotonic time; all timing inside the daemon uses this clock */
int64_t		 now_ms(void);
int64_t		 now_us(void);

/* stats.c */
void		 hist_add(struct hist *, int64_t);

/* daemon.c */
int		 daemon_run(struct config *, const struct config_inputs *);
int		 daemon_reload(const char *, char **);
void		 daemon_stop(const char *);

/* control.c */
int		 control_listen(const struct daemon_config *);
void		 control_close(void);

/* session.c */
void		 session_new(int, uid_t, gid_t, pid_t, enum session_kind);
void		 session_close(struct session *, int, const char *);
int		 session_output(struct session *, const void *, size_t);
void		 session_process(struct session *);
struct handle	*session_handle_new(struct session *, const char *, const char *,
		    const struct cfg_override *, size_t, int *, char **);
void		 session_handle_free(struct session *, struct handle *);
bool		 session_pin_refused(struct session *, struct handle *, char *, size_t);
bool		 session_handle_refusal(struct handle *, int *, const char **, char *, size_t);
struct request	*session_request(struct session *, struct handle *, enum req_kind,
		    uint32_t);
void		 session_run(struct session *, struct handle *, struct request *);
void		 session_revoke(const struct config *);
void		 session_goodbye_all(int, const char *);
void		 session_reap(void);

/* pgwire.c: the PostgreSQL front door's side of a session */
int		 pgwire_start(struct session *);
void		 pgwire_free(struct session *);
void		 pgwire_process(struct session *);
int		 pgwire_output(struct session *, struct request *, const void *, size_t);
void		 pgwire_done(struct session *, struct request *);
void		 pgwire_fields(struct session *, struct request *, bool, const struct pg_field *,
		    size_t);
void		 pgwire_stall_error(struct session *, struct request *, const char *);
size_t		 pgwire_fatal(int, const char *, uint8_t *, size_t);
size_t		 pgwire_input_limit(const struct session *);

/* access.c */
void		 access_peer_init(struct peer *, uid_t, gid_t);
void		 access_peer_free(struct peer *);
bool		 access_open_allowed(struct peer *, const struct role_config *,
		    const struct daemon_config *);
bool		 access_admin_allowed(struct peer *, const struct daemon_config *);

/* admin.c */
void		 admin_request(struct session *, const struct proto_frame *);

/* factory.c */
struct factory	*factory_new(struct event_base *, const struct backend_ops *,
		    const struct backend_ops *, const struct cache_ops *);
struct pool	*factory_open(struct factory *, const struct config *, const char *,
		    const char *, const struct cfg_override *, size_t, struct peer *,
		    int *, char **);
const struct role_config *factory_resolve(struct factory *, const struct config *,
		    const char *, const char *, struct cfg_errors *);
void		 factory_release(struct factory *, struct pool *);
char		*factory_resolve_error(struct cfg_errors *, bool, const char *, const char *,
		    int *);
void		 factory_dispose(struct factory *, struct pool *, const char *);
void		 factory_dispose_all(struct factory *, const char *);
void		 factory_collect(struct factory *);
void		 factory_drain(struct factory *, struct pool *, int64_t, const char *);
void		 factory_abort(struct factory *);
int		 factory_reconfigure(struct factory *, const struct config *);
void		 factory_free(struct factory *);

/* janitor.c: housekeeping once a second */
void		 factory_janitor(struct factory *);
void		 pool_janitor(struct pool *, int64_t);

/* notify.c */
int		 notify_start(void);
void		 notify_ready(void);
void		 notify_reloading(void);
void		 notify_status(void);
void		 notify_stop(void);

/* pool.c */
struct pool	*pool_new(const struct pool_owner *, struct role_config *,
		    const struct backend_ops *, const struct cache_ops *, char *, size_t);
void		 pool_free(struct pool *);
int		 pool_add_name(struct pool *, const char *, const char *);
void		 pool_submit(struct pool *, struct request *);
void		 pool_cancel(struct request *);
void		 pool_resume(struct request *);
void		 pool_conn_opened(struct conn *, bool, const char *, const char *);
void		 pool_request_done(struct conn *, struct request *, bool);
void		 pool_conn_closed(struct conn *);
void		 pool_conn_new(struct pool *);
void		 pool_conn_retire(struct conn *);
void		 pool_kick(struct pool *);
void		 pool_hold_release(struct hold *);
void		 pool_handle_gone(struct pool *, uint64_t, uint32_t);
int		 pool_pin_limit(const struct pool *, const struct daemon_config *, bool);
void		 pool_conn_lost(struct conn *, const char *);
void		 pool_dispose(struct pool *, const char *);
void		 pool_abort(struct pool *);
void		 pool_invalidate(struct pool *, const char *const *, size_t);
void		 pool_close_idle(struct pool *, bool);
int		 pool_total(const struct pool *);
bool		 pool_quiet(const struct pool *);

/* request.c */
struct request	*request_new(enum req_kind, uint32_t);
void		 request_move(struct request *, enum req_state, struct request_queue *);
int		 request_output(struct request *, const void *, size_t);
void		 request_pg_fields(struct request *, bool, const struct pg_field *, size_t);
void		 request_fail(struct request *, int, const char *, const char *);
void		 request_done(struct request *, bool);
void		 request_finish(struct request *);
void		 request_refuse(struct request *, int, const char *, const char *);
void		 request_abandon(struct request *);
void		 request_queue_init(struct request_queue *);

/* backend.c */
int		 backend_error(struct proto_buf *, uint32_t, int, const char *, const char *,
		    const char *, const char *);
int		 backend_describe(struct proto_buf *, const struct request *, const uint32_t *,
		    size_t, const char *const *, const struct proto_col *, size_t);

/* backend_pg.c */
extern const struct backend_ops backend_pg;

/* backend_sqlite.c */
extern const struct backend_ops backend_sqlite;
int		 sqlite_backend_init(struct event_base *);
void		 sqlite_backend_shutdown(void);

/* cache.c */
extern const struct cache_ops cache_lru;
void		*cache_create_with(const struct role_config *,
		    uint64_t (*)(const void *, size_t), int64_t (*)(void));

/* cacheflow.c */
enum cacheflow {
	CACHEFLOW_RUN,		/* run the request as usual */
	CACHEFLOW_ANSWERED,	/* answered from the cache */
	CACHEFLOW_PARKED,	/* waits for the same statement's fill */
};
enum cacheflow	 cacheflow_begin(struct pool *, struct request *);
void		 cacheflow_end(struct pool *, struct conn *, struct request *, bool);
void		 cacheflow_release(struct request *);
void		 cacheflow_capture(struct request *, const void *, size_t);
void		 cacheflow_conn_free(struct conn *);
void		 request_names_free(char **, size_t);
bool		 names_add(char ***, size_t *, const char *);

/* pghosts.c: the servers of a multi-host PostgreSQL role */
struct pghosts;

enum pghosts_choice {
	PGH_CONNECT,		/* connect with the parameters given */
	PGH_WAIT,		/* no server qualifies: wait until one does */
	PGH_FAIL,		/* no server qualifies and the role says fail */
};

struct pghost_info {
	const char	*name;		/* "host:port" */
	const char	*server;	/* primary, standby, unknown */
	const char	*state;		/* up, down, lagging, unknown */
	time_t		 down_since;	/* 0 when up */
	const char	*last_error;
	int		 connections;
	uint64_t	 statements;
	int64_t		 lag_ms;	/* -1: unknown */
	uint64_t	 lsn;		/* replayed (standby) or written (primary); 0: unknown */
};

struct pghosts	*pghosts_new(struct pool *, const char *const *, const char *const *,
		    void (*)(struct pool *));
void		 pghosts_free(struct pghosts *);
enum pghosts_choice pghosts_choose(struct pghosts *, char ***, char ***, int *, char *,
		    size_t);
int		 pghosts_attach(struct pghosts *, int, const char *, const char *);
void		 pghosts_detach(struct pghosts *, int);
void		 pghosts_count(struct pghosts *, int);
bool		 pghosts_usable(struct pghosts *, int);
int		 pghosts_overloaded(const struct pghosts *);
bool		 pghosts_serves(const struct pghosts *, int, const struct request *);
void		 pghosts_hurry(struct pghosts *, bool);
bool		 pghosts_primary_known(struct pghosts *);
size_t		 pghosts_n(const struct pghosts *);
void		 pghosts_info(const struct pghosts *, size_t, struct pghost_info *);
uint64_t	 pghosts_lsn_parse(const char *);

/* ryw.c */
void		 ryw_note(uid_t, pid_t, const char *, uint64_t);
uint64_t	 ryw_lsn(uid_t, pid_t, const char *);
void		 ryw_expire(int64_t);
void		 ryw_clear(void);

/* sqlscan.c */
enum sqlscan_dialect {
	SQLSCAN_PG,		/* PostgreSQL: nested comments, E'' strings, $$ quotes, $1 */
	SQLSCAN_SQLITE,		/* SQLite: `names` and [names]; ?1, :a, @a, $a parameters */
};

enum sqlscan_token {
	SQLSCAN_END,		/* the end of the text */
	SQLSCAN_WORD,		/* a keyword or a name as written */
	SQLSCAN_QUOTED,		/* a quoted name: "a", `a`, [a], U&"a" */
	SQLSCAN_STRING,		/* a string: 'a', E'a', X'00', $$a$$, $t$a$t$ */
	SQLSCAN_NUMBER,		/* a numeric literal */
	SQLSCAN_PARAM,		/* a parameter: $1, ?, ?1, :a, @a, $a */
	SQLSCAN_SEMICOLON,	/* the end of a statement */
	SQLSCAN_OTHER,		/* one character of an operator or punctuation */
};

/* A reading of a statement's text, one token at a time; see sqlscan.c. */
struct sqlscan {
	const char		*p;		/* where the next token is looked for */
	enum sqlscan_dialect	 dialect;
	enum sqlscan_token	 token;		/* the token last read */
	const char		*text;		/* its first byte, in the text */
	size_t			 len;		/* its length in bytes */
};

void		 sqlscan_init(struct sqlscan *, const char *, enum sqlscan_dialect);
enum sqlscan_token sqlscan_next(struct sqlscan *);
size_t		 sqlscan_keyword(struct sqlscan *, char *, size_t);
size_t		 sqlscan_word(const char **, char *, size_t);
bool		 sqlscan_one_statement(const char *);

/* pgtypes.c */

/*
 * A growable byte buffer the conversions append to.  Out of memory it keeps what it
 * had, sets failed and ignores further additions until a reset, so that a caller
 * checks once per message.
 */
struct pgbuf {
	uint8_t		*data;
	size_t		 len, cap;
	bool		 failed;	/* an addition did not fit in memory */
};

void		 pgbuf_init(struct pgbuf *);
void		 pgbuf_free(struct pgbuf *);
void		 pgbuf_reset(struct pgbuf *);
void		 pgbuf_add(struct pgbuf *, const void *, size_t);
void		 pgbuf_u8(struct pgbuf *, uint8_t);
void		 pgbuf_u16(struct pgbuf *, uint16_t);
void		 pgbuf_u32(struct pgbuf *, uint32_t);
void		 pgbuf_str(struct pgbuf *, const char *);
int16_t		 pgtype_len(uint32_t);
bool		 pgtype_binary_ok(uint32_t);
int		 pgtype_text_to_binary(uint32_t, const char *, size_t, struct pgbuf *);
int		 pgtype_binary_to_text(uint32_t, const uint8_t *, size_t, struct pgbuf *);
void		 pgtype_bytea_hex(const uint8_t *, size_t, struct pgbuf *);

/* config.c */
extern const struct cfg_key cfg_keys[];
const struct cfg_key *config_key_find(enum cfg_scope, const char *);
const char	*config_suggest(enum cfg_scope, const char *, const char *);
int		 config_key_index(const struct cfg_key *);
struct config	*config_load(const struct config_inputs *);
void		 config_free(struct config *);
int		 config_nerrors(const struct config *);
void		 config_errors_print(const struct cfg_errors *, FILE *);
void		 config_errors_clear(struct cfg_errors *);
void		 config_error(struct cfg_errors *, enum cfg_errcode, const char *,
		    const char *, ...) ATTR_PRINTF(4, 5);
const char	*config_errname(enum cfg_errcode);
int		 config_parse_value(const struct cfg_key *, const char *, int,
		    struct cfg_value *, struct cfg_errors *, const char *);
int		 config_parse_list(const struct cfg_key *, const char *const *, size_t,
		    struct cfg_value *, struct cfg_errors *, const char *const *);
void		 config_value_free(struct cfg_value *);
int		 config_add(struct config *, enum cfg_source, const char *, const char *,
		    const struct cfg_key *, struct cfg_value *, const char *);
int		 config_name_add(struct config *, enum cfg_source, const char *,
		    const char *);
int		 config_name_valid(const char *, int, struct cfg_errors *, const char *);
int		 config_check(struct config *);
struct role_config *config_resolve(const struct config *, const char *, const char *,
		    const struct cfg_override *, size_t, struct cfg_errors *);
void		 role_config_free(struct role_config *);
bool		 role_config_equal(const struct role_config *, const struct role_config *);
char		*config_value_text(const struct cfg_key *, const struct cfg_value *);
void		 config_print_resolved(const struct role_config *, FILE *);
char		*config_origin_text(const struct cfg_setting *);
char		*config_role_value_text(const struct role_config *, const struct cfg_key *);
const char	*config_source_name(enum cfg_source);

/* config_file.c */
int		 config_file_load(struct config *, const char *, int);

/* config_uri.c */
int		 uri_check(const char *, enum backend_kind *, char **, struct cfg_errors *,
		    const char *, const char *);
char		*uri_redact(const char *);
bool		 uri_has_password(const char *);
uint64_t	 hash64(const void *, size_t);

/* log.c */
void		 log_init(int);
void		 log_setlevel(int);
int		 log_getlevel(void);
int		 log_level_parse(const char *);
const char	*log_level_name(int);
void		 log_warn(const char *, ...) ATTR_PRINTF(1, 2);
void		 log_warnx(const char *, ...) ATTR_PRINTF(1, 2);
void		 log_notice(const char *, ...) ATTR_PRINTF(1, 2);
void		 log_info(const char *, ...) ATTR_PRINTF(1, 2);
void		 log_debug(const char *, ...) ATTR_PRINTF(1, 2);
void		 fatal(const char *, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;
void		 fatalx(const char *, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

/* util.c */
void		*xcalloc(size_t, size_t);
char		*xstrdup(const char *);
char		*xasprintf(const char *, ...) ATTR_PRINTF(1, 2);
int		 strbuf_printf(char **, size_t *, size_t *, const char *, ...) ATTR_PRINTF(4, 5);
unsigned	 edit_distance(const char *, const char *);
int		 thread_start(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
void		 one_line(char *, size_t, const char *);
void		 strv_free(char **);

#endif /* DBMD_H */
