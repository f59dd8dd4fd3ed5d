/* example_async.c: libdbmclient inside a libevent loop: several statements at once, one thread. */

/*
 * Build against an installed library with
 *	cc example_async.c $(pkg-config --cflags --libs libdbmclient libevent)
 * and run as `example_async [environment [role]]` while dbmd is running.
 *
 * It opens HANDLES handles on one connection, sends a statement on each
 * without waiting, and lets the event loop say when to read: dbm_socket is
 * the descriptor to watch, dbm_consume_input takes in what arrived,
 * dbm_is_busy says whether a handle's result is whole, dbm_get_result hands
 * it over.  The last statement streams a long result in pieces of CHUNK
 * rows, so the program never holds more than one piece of it.  Opening the
 * handles blocks (it happens once, before the loop runs); everything after
 * that waits only in the loop.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <dbmclient.h>

#define HANDLES		4
#define CHUNK		1000	/* rows per piece of the streamed result */
#define STREAM_ROWS	"100000"

struct app {
	dbm_conn	*conn;
	dbm_handle	*h[HANDLES];
	int		 left;		/* handles still waiting for their result */
	long long	 streamed;	/* rows of the long result seen so far */
	struct event	*rev;		/* the socket is readable */
	struct event	*wev;		/* the socket takes more of what we send */
	struct event_base *base;
	int		 failed;
};

/* Takes every result that is whole; says so when the last one is in. */
static void
take_results(struct app *a)
{
	dbm_result	*res;
	int		 i;

	for (i = 0; i < HANDLES; i++) {
		while (a->h[i] != NULL && !dbm_is_busy(a->h[i])) {
			if ((res = dbm_get_result(a->h[i])) == NULL) {
				/* That statement has no more: this handle is finished. */
				dbm_dispose(a->h[i]);
				a->h[i] = NULL;
				a->left--;
				break;
			}
			if (dbm_result_status(res) != DBM_OK) {
				fprintf(stderr, "handle %d: %s\n", i, dbm_result_errmsg(res));
				a->failed = 1;
			} else if (i == HANDLES - 1) {
				a->streamed += dbm_nrows(res);
				if (!dbm_result_partial(res))
					printf("handle %d: %lld rows streamed, %s\n", i,
					    a->streamed, dbm_cmdtag(res));
			} else
				printf("handle %d: %s (type %u)\n", i, dbm_value(res, 0, 0),
				    dbm_coltype(res, 0));
			dbm_result_free(res);
		}
	}
	if (a->left == 0)
		event_base_loopexit(a->base, NULL);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct app	*a = arg;

	(void)fd;
	(void)what;
	if (dbm_consume_input(a->conn) != DBM_OK)
		fprintf(stderr, "example_async: %s\n", dbm_errmsg(a->conn));
	/* A failed connection still ends each request with an error result. */
	take_results(a);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct app	*a = arg;

	(void)fd;
	(void)what;
	if (dbm_flush(a->conn) == 1)
		event_add(a->wev, NULL);	/* still more to send */
}

int
main(int argc, char **argv)
{
	struct dbm_exec_opts	 stream = DBM_EXEC_OPTS_INIT;
	const char		*env = argc > 1 ? argv[1] : NULL;
	const char		*role = argc > 2 ? argv[2] : NULL;
	const char		*n = STREAM_ROWS;
	char			 num[HANDLES][16];
	const char		*param[1];
	struct app		 a;
	int			 i, r;

	memset(&a, 0, sizeof(a));
	a.conn = dbm_connect(NULL);
	if (dbm_errcode(a.conn) != DBM_OK) {
		fprintf(stderr, "example_async: connect: %s\n", dbm_errmsg(a.conn));
		dbm_disconnect(a.conn);
		return EXIT_FAILURE;
	}
	for (i = 0; i < HANDLES; i++) {
		if ((a.h[i] = dbm_open(a.conn, env, role, NULL)) == NULL) {
			fprintf(stderr, "example_async: open: %s\n", dbm_errmsg(a.conn));
			dbm_disconnect(a.conn);
			return EXIT_FAILURE;
		}
	}

	/* Send everything first: the statements run at once on the pool's connections. */
	for (i = 0; i < HANDLES - 1; i++) {
		snprintf(num[i], sizeof(num[i]), "%d", i * 10);
		param[0] = num[i];
		r = dbm_send_exec_params(a.h[i], "SELECT $1 + 1", 1, param, NULL, NULL, NULL);
		if (r != DBM_OK)
			fprintf(stderr, "example_async: send: %s\n", dbm_errmsg(a.conn));
	}
	stream.row_chunk = CHUNK;
	param[0] = n;
	/* CAST: SQLite compares an integer with a text parameter as less, always. */
	r = dbm_send_exec_params(a.h[HANDLES - 1], "WITH RECURSIVE c(x) AS (SELECT 1 "
	    "UNION ALL SELECT x + 1 FROM c WHERE x < CAST($1 AS INTEGER)) SELECT x FROM c",
	    1, param, NULL, NULL, &stream);
	if (r != DBM_OK)
		fprintf(stderr, "example_async: send: %s\n", dbm_errmsg(a.conn));
	a.left = HANDLES;

	a.base = event_base_new();
	a.rev = event_new(a.base, dbm_socket(a.conn), EV_READ | EV_PERSIST, on_readable, &a);
	a.wev = event_new(a.base, dbm_socket(a.conn), EV_WRITE, on_writable, &a);
	event_add(a.rev, NULL);
	if (dbm_flush(a.conn) == 1)
		event_add(a.wev, NULL);
	/* Results may be whole already (a refusal, bytes read while opening). */
	take_results(&a);
	if (a.left > 0)
		event_base_dispatch(a.base);

	event_free(a.rev);
	event_free(a.wev);
	event_base_free(a.base);
	dbm_disconnect(a.conn);
	return a.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
