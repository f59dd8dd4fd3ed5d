/* example.c: a complete libdbmclient program to copy from: connect, write, read, clean up. */

/*
 * Build against an installed library with
 *	cc example.c $(pkg-config --cflags --libs libdbmclient)
 * and run as `example [environment [role]]` (default: $DBM_ENVIRONMENT and
 * $DBM_ROLE, else development/primary) while dbmd is running.
 *
 * It shows the two kinds of failure the library reports: a NULL result or
 * handle means the request could not be made (the reason is in the
 * connection), a result with a status other than DBM_OK means dbmd or the
 * database refused it (the reason, with its SQLSTATE, is in the result).
 */

#include <stdio.h>
#include <stdlib.h>

#include <dbmclient.h>

/* Reports a failure whose reason is in the connection; always returns -1. */
static int
conn_error(const dbm_conn *conn, const char *what)
{
	fprintf(stderr, "example: %s: %s", what, dbm_errmsg(conn));
	if (dbm_errsqlstate(conn)[0] != '\0')
		fprintf(stderr, " (SQLSTATE %s)", dbm_errsqlstate(conn));
	fprintf(stderr, "\n");
	return -1;
}

/*
 * Runs one statement and checks it.  Returns the result, which the caller
 * frees, or NULL after reporting why; the result is freed here on error.
 */
static dbm_result *
run(dbm_conn *conn, dbm_handle *h, const char *sql, int nparams, const char *const *params)
{
	dbm_result	*res = dbm_exec(h, sql, nparams, params);

	if (res == NULL) {
		conn_error(conn, sql);
		return NULL;
	}
	if (dbm_result_status(res) != DBM_OK) {
		fprintf(stderr, "example: %s: %s", sql, dbm_result_errmsg(res));
		if (dbm_result_sqlstate(res)[0] != '\0')
			fprintf(stderr, " (SQLSTATE %s)", dbm_result_sqlstate(res));
		fprintf(stderr, "\n");
		dbm_result_free(res);
		return NULL;
	}
	return res;
}

/* Inserts a few rows in one transaction: all of them or, on any error, none. */
static int
insert_fruit(dbm_conn *conn, dbm_handle *h)
{
	static const char *const fruit[][2] = {
		{ "apple", "3" }, { "pear", "5" }, { "plum", "12" },
	};
	dbm_result	*res;
	size_t		 i;

	if (dbm_begin(h) != DBM_OK)
		return conn_error(conn, "BEGIN");
	for (i = 0; i < sizeof(fruit) / sizeof(fruit[0]); i++) {
		/* $1, $2: dbmd passes the parameters to the database apart from the SQL. */
		res = run(conn, h, "INSERT INTO dbm_example (name, qty) VALUES ($1, $2)",
		    2, fruit[i]);
		if (res == NULL) {
			/* Rolling back cannot make things worse; its own error is moot. */
			dbm_rollback(h);
			return -1;
		}
		dbm_result_free(res);
	}
	if (dbm_commit(h) != DBM_OK)
		return conn_error(conn, "COMMIT");
	return 0;
}

/* Whether a column holds integers: its type is PostgreSQL's OID on both backends. */
static int
is_integer(const dbm_result *res, int col)
{
	unsigned int	 t = dbm_coltype(res, col);

	return t == DBM_OID_INT2 || t == DBM_OID_INT4 || t == DBM_OID_INT8;
}

static int
show_fruit(dbm_conn *conn, dbm_handle *h)
{
	dbm_result	*res;
	long long	 total = 0;
	int		 i;

	res = run(conn, h, "SELECT name, qty FROM dbm_example ORDER BY name", 0, NULL);
	if (res == NULL)
		return -1;
	for (i = 0; i < dbm_nrows(res); i++) {
		printf("%-10s %s\n", dbm_value(res, i, 0),
		    dbm_isnull(res, i, 1) ? "(null)" : dbm_value(res, i, 1));
		/* Values are text; the column's type says how to read them. */
		if (is_integer(res, 1) && !dbm_isnull(res, i, 1))
			total += strtoll(dbm_value(res, i, 1), NULL, 10);
	}
	printf("%d rows, %lld fruit\n", dbm_nrows(res), total);
	dbm_result_free(res);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*env = argc > 1 ? argv[1] : NULL;
	const char	*role = argc > 2 ? argv[2] : NULL;
	dbm_conn	*conn;
	dbm_handle	*h;
	dbm_result	*res;
	int		 rv = EXIT_FAILURE;

	/* NULL: $DBMD_SOCKET, else the default socket of this user. */
	conn = dbm_connect(NULL);
	if (dbm_errcode(conn) != DBM_OK) {
		conn_error(conn, "connect");
		dbm_disconnect(conn);
		return EXIT_FAILURE;
	}
	if ((h = dbm_open(conn, env, role, NULL)) == NULL) {
		conn_error(conn, "open");
		dbm_disconnect(conn);
		return EXIT_FAILURE;
	}
	printf("handle on a %s pool, configuration %016llx\n", dbm_handle_backend(h),
	    dbm_handle_pool_hash(h));

	res = run(conn, h, "CREATE TABLE IF NOT EXISTS dbm_example "
	    "(name TEXT NOT NULL, qty INTEGER NOT NULL)", 0, NULL);
	if (res != NULL) {
		dbm_result_free(res);
		if (insert_fruit(conn, h) == 0 && show_fruit(conn, h) == 0)
			rv = EXIT_SUCCESS;
	}

	/* Disposing returns the lease; dbm_disconnect would do it for us too. */
	if (dbm_dispose(h) != DBM_OK && rv == EXIT_SUCCESS) {
		conn_error(conn, "dispose");
		rv = EXIT_FAILURE;
	}
	dbm_disconnect(conn);
	return rv;
}
