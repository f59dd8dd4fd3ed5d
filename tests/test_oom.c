/*
 * test_oom.c: running out of memory fails the request that needed the memory, never
 * the daemon or another client.
 *
 * dbmd runs with every allocation over LIMIT_MB failing, as on a machine whose memory
 * is exhausted: under AddressSanitizer through its own allocator's options, otherwise
 * through tests/fault_alloc.c preloaded.  valgrind replaces the allocator with one that
 * cannot be made to fail, so there these tests skip.
 */

#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"
#include "pg.h"

#define LIMIT_MB	1

TestSuite(oom, .init = pg_setup, .fini = pg_teardown, .timeout = 60);

static void
oom_dbmd_start(struct t_dbmd *d, const char *const *sets)
{
	const char *cflags = getenv("TEST_CFLAGS"), *run = getenv("TEST_RUN");
	const char *bdir = getenv("TEST_BUILDDIR");

	if (run != NULL && strstr(run, "valgrind") != NULL)
		cr_skip_test("valgrind's allocator cannot be made to fail");
	t_dbmd_init(d);
	if (cflags != NULL && strstr(cflags, "sanitize=address") != NULL)
		d->env[0] = t_strf("ASAN_OPTIONS=allocator_may_return_null=1:"
		    "max_allocation_size_mb=%d", LIMIT_MB);
	else {
		cr_assert_not_null(bdir, "TEST_BUILDDIR names the build (make check sets it)");
		d->env[0] = t_strf("LD_PRELOAD=%s/tests/libfault_alloc.so", bdir);
		d->env[1] = t_strf("FAULT_ALLOC_OVER=%d", LIMIT_MB << 20);
	}
	t_dbmd_spawn(d, sets);
	free(d->env[0]);
	free(d->env[1]);
	d->env[0] = d->env[1] = NULL;
	t_dbmd_wait_ready(d);
}

/* A statement of n bytes, all but its start a comment. */
static char *
big_statement(size_t n)
{
	char *sql = malloc(n + 1);

	cr_assert_not_null(sql);
	memset(sql, 'x', n);
	memcpy(sql, "SELECT 42 --", 12);
	sql[n] = '\0';
	return sql;
}

static void
stops_cleanly(struct t_dbmd *d)
{
	int code = t_dbmd_stop(d);

	cr_assert_eq(code, 0, "dbmd exited with status %d; its log:\n%s", code, t_dbmd_log(d));
}

/* dbmd cannot hold the frame in one piece: that request fails, the client goes on. */
Test(oom, a_request_too_big_for_the_memory_left_fails_alone)
{
	static const char *const sets[] = { "daemon.max_frame_size=8M", NULL };
	struct t_dbmd	 d;
	dbm_conn	*c, *other;
	dbm_handle	*h, *oh;
	dbm_result	*r;
	char		*sql = big_statement(3u << 20);
	char		*v;

	oom_dbmd_start(&d, sets);
	c = t_connect(&d);
	other = t_connect(&d);
	h = t_open(c, "development", "primary");
	oh = t_open(other, "development", "primary");

	r = t_exec_fails(h, sql, 0, NULL, DBM_E_NOMEM);
	dbm_result_free(r);
	v = t_value(h, "SELECT 42", 0, NULL);
	cr_assert_str_eq(v, "42", "the client's next request on the same handle");
	free(v);
	v = t_value(oh, "SELECT 43", 0, NULL);
	cr_assert_str_eq(v, "43", "another client");
	free(v);
	dbm_disconnect(other);
	dbm_disconnect(c);
	free(sql);
	stops_cleanly(&d);
}

/* SQLite runs out while computing a result: an SQL error, and the connection serves on. */
Test(oom, sqlite_out_of_memory_in_a_statement_is_its_error)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		*v;

	oom_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "development", "primary");
	r = t_exec_fails(h, "SELECT length(hex(zeroblob(1500000)))", 0, NULL, DBM_E_SQL);
	cr_assert_str_eq(dbm_result_sqlstate(r), "53200", "%s", dbm_result_errmsg(r));
	dbm_result_free(r);
	v = t_value(h, "SELECT 42", 0, NULL);
	cr_assert_str_eq(v, "42");
	free(v);
	dbm_disconnect(c);
	stops_cleanly(&d);
}

/*
 * A PostgreSQL row too big for the memory left: the statement fails, the connection it
 * broke is replaced, and the next statement runs.
 */
Test(oom, postgresql_row_too_big_for_the_memory_left_fails_that_statement)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	char		*u, *uset, *v;
	const char	*sets[3] = { NULL, "daemon.max_frame_size=8M", NULL };

	pg_db_new();
	u = pg_uri();
	uset = t_strf("production.uri=%s", u);
	sets[0] = uset;
	oom_dbmd_start(&d, sets);
	c = t_connect(&d);
	h = t_open(c, "production", "primary");
	r = dbm_exec(h, "SELECT repeat('x', 3000000)", 0, NULL);
	cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
	cr_assert_neq(dbm_result_status(r), DBM_OK, "a 3 MB row with 1 MB of memory");
	cr_assert_str_neq(dbm_result_errmsg(r), "", "the error says nothing");
	dbm_result_free(r);
	v = t_value(h, "SELECT 42", 0, NULL);
	cr_assert_str_eq(v, "42");
	free(v);
	dbm_disconnect(c);
	stops_cleanly(&d);
	free(uset);
	free(u);
}
