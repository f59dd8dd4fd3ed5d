/* test_faults_sqlite.c: SQLite under dbmd killed mid-write, on a full disk, read-only. */

/*
 * Faults on purpose (issue 12) for the SQLite backend: what clients see,
 * and that the database file comes out whole (PRAGMA integrity_check,
 * checked by the test itself with SQLite, not through dbmd).
 *
 * A full disk and a read-only file system are a small tmpfs the test
 * mounts, which needs root: the tests run as root in CI (make check there
 * fails, not skips, when they cannot).  Mode bits are no substitute: root
 * writes through them.
 */

#include <sys/mount.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "faults.h"

static char mnt[PATH_MAX];		/* the test's tmpfs, "" when none */
static char bound[PATH_MAX];		/* a file bound read-only onto itself, "" when none */

/* dbmd first (it holds files on the mounts), then the mounts, then the directory. */
static void
teardown(void)
{
	size_t	 i;

	if (t_h.owner == getpid())
		for (i = 0; i < T_MAX_PROCS; i++)
			t_kill_pid(t_h.pids[i]);
	if (bound[0] != '\0' && umount2(bound, MNT_DETACH) == -1)
		cr_log_warn("umount %s: %s", bound, strerror(errno));
	if (mnt[0] != '\0' && umount2(mnt, MNT_DETACH) == -1)
		cr_log_warn("umount %s: %s", mnt, strerror(errno));
	bound[0] = mnt[0] = '\0';
	t_teardown();
}

TestSuite(sqlite_faults, .init = t_setup, .fini = teardown, .timeout = 120);

/* Skips the test (fails it under CI=true) when not root. */
static void
require_root(void)
{
	const char	*ci = getenv("CI");

	if (geteuid() != 0) {
		if (ci != NULL && strcmp(ci, "true") == 0)
			cr_assert_fail("CI=true, and not root: the full-disk and read-only tests "
			    "must mount a tmpfs");
		t_teardown();
		cr_skip_test("not root: cannot mount the small tmpfs this test needs");
	}
}

/* Mounts a tmpfs of size bytes at mnt. */
static void
mount_small(const char *size)
{
	char	*opts;

	require_root();
	snprintf(mnt, sizeof(mnt), "%s/fs", t_h.dir);
	cr_assert_eq(mkdir(mnt, 0755), 0, "%s: %s", mnt, strerror(errno));
	opts = t_strf("size=%s,mode=0755", size);
	cr_assert_eq(mount("tmpfs", mnt, "tmpfs", 0, opts), 0, "mount tmpfs on %s: %s", mnt,
	    strerror(errno));
	free(opts);
}

/* Changes the tmpfs: bigger, or read-only. */
static void
remount(unsigned long flags, const char *opts)
{
	cr_assert_eq(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | flags, opts), 0,
	    "remount %s (%s): %s", mnt, opts, strerror(errno));
}

/* Environment lite on the SQLite file path, with its two roles. */
static void
write_conf(const char *path)
{
	FILE	*fp = fopen(t_h.conf, "w");

	cr_assert_not_null(fp, "%s: %s", t_h.conf, strerror(errno));
	fprintf(fp, "environments:\n  lite:\n    uri: sqlite:%s\n    pool_size: 4\n"
	    "    acquire_timeout: 10s\n    roles:\n      primary: {}\n"
	    "      read_only: { read_only: true }\n", path);
	fclose(fp);
}

/* The file as SQLite sees it: opened by the test, integrity_check must say ok. */
static sqlite3 *
db_open_checked(const char *path, const char *when)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st;
	char		*res;
	int		 rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	cr_assert_eq(rc, SQLITE_OK, "%s: open %s: %s", when, path, sqlite3_errstr(rc));
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: integrity_check: %s", when,
	    sqlite3_errmsg(db));
	res = t_strf("%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	cr_assert_str_eq(res, "ok", "%s: %s fails PRAGMA integrity_check: %s", when, path, res);
	free(res);
	return db;
}

/* One number from the file. */
static long long
db_num(sqlite3 *db, const char *sql, int a, int b)
{
	sqlite3_stmt	*st;
	long long	 v;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
	    sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, a);
	if (sqlite3_bind_parameter_count(st) > 1)
		sqlite3_bind_int(st, 2, b);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every row a writer had acknowledged is in the file, and no transaction is half there. */
static void
check_acked(const char *path, struct writer *w, int n, const char *when)
{
	sqlite3	*db = db_open_checked(path, when);
	int	 i, k, acked;

	for (i = 0; i < n; i++) {
		acked = atomic_load(&w[i].nacked);
		for (k = 0; k < acked; k++)
			cr_assert_eq(db_num(db, "SELECT count(*) FROM w WHERE writer = ?1 AND "
			    "n = ?2", w[i].id, w[i].acked[k]), 1, "%s: writer %d: its row %d was "
			    "acknowledged and is not in the file", when, w[i].id, w[i].acked[k]);
		if (w[i].txn)
			cr_assert_eq(db_num(db, W_HALF_TXNS, w[i].id, 0), 0, "%s: writer %d: a "
			    "transaction is half in the file", when, w[i].id);
	}
	sqlite3_close(db);
}

#define NWRITERS	3

/*
 * dbmd killed with SIGKILL while clients write: every write it acknowledged
 * is in the file, which is whole, both right after the kill and after dbmd
 * came back and the clients reconnected and wrote on.
 */
Test(sqlite_faults, dbmd_killed_mid_write_loses_no_acknowledged_write)
{
	struct t_dbmd	 d;
	struct writer	 w[NWRITERS];
	dbm_conn	*c;
	char		*path = t_path("w.db");
	int		 i;

	write_conf(path);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	t_exec0(t_open(c, "lite", "primary"), "CREATE TABLE w (writer int, n int, "
	    "PRIMARY KEY (writer, n))", 0, NULL);
	dbm_disconnect(c);
	for (i = 0; i < NWRITERS; i++)
		writer_start(&w[i], &d, "lite", "primary", i, i == NWRITERS - 1);
	writers_kill_dbmd(&d, w, NWRITERS);
	/* As the killed dbmd left it: the journal is recovered by whoever opens it next. */
	check_acked(path, w, NWRITERS, "after dbmd was killed");
	writers_resume(&d, NULL, w, NWRITERS);
	writers_stop(w, NWRITERS);
	f_assert_serving(&d, "after dbmd was killed and started again");
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");
	check_acked(path, w, NWRITERS, "after dbmd was started again");
	writers_free(w, NWRITERS);
	free(path);
}

/*
 * The disk fills up: the write that does not fit fails with 53100
 * (disk_full) and a message, reads go on, dbmd serves on, and once there
 * is room again writes succeed; the file is whole throughout.
 */
Test(sqlite_faults, a_full_disk_fails_writes_with_53100_and_corrupts_nothing)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	sqlite3		*db;
	char		*path, *v, want[16];
	int		 i, acked = 0, code = DBM_OK;

	mount_small("1m");
	path = t_strf("%s/full.db", mnt);
	write_conf(path);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "lite", "primary");
	t_exec0(h, "CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)", 0, NULL);
	for (i = 0; i < 1000; i++) {
		r = dbm_exec(h, "INSERT INTO big (b) VALUES (zeroblob(16000))", 0, NULL);
		cr_assert_not_null(r, "insert %d: the connection failed: %s", i, dbm_errmsg(c));
		if ((code = dbm_result_status(r)) != DBM_OK)
			break;
		acked++;
		dbm_result_free(r);
	}
	cr_assert_neq(code, DBM_OK, "the premise: 1000 rows of 16kB filled a 1MB file system");
	cr_log_info("full after %d rows: %s, SQLSTATE %s: %s", acked, dbm_strerror(code),
	    dbm_result_sqlstate(r), dbm_result_errmsg(r));
	cr_assert_eq(code, DBM_E_SQL, "a write on a full disk: %s (%s)", dbm_strerror(code),
	    dbm_result_errmsg(r));
	cr_assert_str_eq(dbm_result_sqlstate(r), "53100", "a write on a full disk has SQLSTATE "
	    "%s: %s", dbm_result_sqlstate(r), dbm_result_errmsg(r));
	cr_assert_neq(dbm_result_errmsg(r)[0], '\0');
	dbm_result_free(r);
	/* Again: the same clear error; and what was written can be read. */
	r = t_exec_fails(h, "INSERT INTO big (b) VALUES (zeroblob(16000))", 0, NULL, DBM_E_SQL);
	cr_assert_str_eq(dbm_result_sqlstate(r), "53100", "%s", dbm_result_errmsg(r));
	dbm_result_free(r);
	snprintf(want, sizeof(want), "%d", acked);
	v = t_value(h, "SELECT count(*) FROM big", 0, NULL);
	cr_assert_str_eq(v, want, "%s rows, %d acknowledged", v, acked);
	free(v);
	f_assert_serving(&d, "on a full disk");

	/* Room again: writes succeed. */
	remount(0, "size=16m");
	t_exec0(h, "INSERT INTO big (b) VALUES (zeroblob(16000))", 0, NULL);
	v = t_value(h, "SELECT count(*) FROM big", 0, NULL);
	cr_assert_eq(atoi(v), acked + 1);
	free(v);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");
	db = db_open_checked(path, "after the disk was full");
	cr_assert_eq(db_num(db, "SELECT count(*) FROM big WHERE ?1 = ?1", 0, 0), acked + 1);
	sqlite3_close(db);
	free(path);
}

/*
 * A transaction fills the disk: its failing statement says 53100, and the
 * transaction then commits whole or not at all (SQLite may roll it back by
 * itself, and COMMIT must then fail, not claim what is not there).
 */
Test(sqlite_faults, a_transaction_that_fills_the_disk_commits_whole_or_not_at_all)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	sqlite3		*db;
	char		*path, *v;
	int		 i, inserted = 0, code = DBM_OK, commit;
	long long	 have;

	mount_small("1m");
	path = t_strf("%s/txn.db", mnt);
	write_conf(path);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "lite", "primary");
	t_exec0(h, "CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)", 0, NULL);
	t_exec0(h, "INSERT INTO big (b) VALUES ('before')", 0, NULL);
	cr_assert_eq(dbm_begin(h), DBM_OK, "BEGIN: %s", dbm_errmsg(c));
	for (i = 0; i < 1000; i++) {
		r = dbm_exec(h, "INSERT INTO big (b) VALUES (zeroblob(16000))", 0, NULL);
		cr_assert_not_null(r, "insert %d: the connection failed: %s", i, dbm_errmsg(c));
		if ((code = dbm_result_status(r)) != DBM_OK)
			break;
		inserted++;
		dbm_result_free(r);
	}
	cr_assert_neq(code, DBM_OK, "the premise: the transaction filled the disk");
	cr_assert_str_eq(dbm_result_sqlstate(r), "53100", "%s: %s", dbm_strerror(code),
	    dbm_result_errmsg(r));
	dbm_result_free(r);
	commit = dbm_commit(h);
	cr_log_info("%d rows in the transaction; COMMIT: %s (%s)", inserted,
	    dbm_strerror(commit), commit == DBM_OK ? "" : dbm_errmsg(c));
	if (commit != DBM_OK)
		cr_assert_neq(dbm_errmsg(c)[0], '\0', "COMMIT failed without a message");
	(void)dbm_rollback(h);
	/* dbmd serves on, and the handle can write once there is room. */
	remount(0, "size=16m");
	t_exec0(h, "INSERT INTO big (b) VALUES ('after')", 0, NULL);
	v = t_value(h, "SELECT count(*) FROM big", 0, NULL);
	have = atoll(v);
	free(v);
	cr_assert_eq(have, commit == DBM_OK ? inserted + 2 : 2, "%lld rows after a transaction "
	    "of %d whose COMMIT said %s", have, inserted, dbm_strerror(commit));
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");
	db = db_open_checked(path, "after a transaction filled the disk");
	cr_assert_eq(db_num(db, "SELECT count(*) FROM big WHERE ?1 = ?1", 0, 0), have);
	sqlite3_close(db);
	free(path);
}

/*
 * The file system under the database is read-only: writes fail clearly
 * with a read-only SQLSTATE (25006, or 42501), or the open fails naming
 * the file; nothing hangs, dbmd serves on, the file is whole, and once the
 * file system is writable again so is the database.
 */
Test(sqlite_faults, a_read_only_file_system_fails_writes_clearly_and_corrupts_nothing)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h, *ro;
	dbm_result	*r;
	sqlite3		*db;
	char		*path;
	int		 code;

	mount_small("4m");
	path = t_strf("%s/ro.db", mnt);
	write_conf(path);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "lite", "primary");
	t_exec0(h, "CREATE TABLE t (v text)", 0, NULL);
	t_exec0(h, "INSERT INTO t VALUES ('before')", 0, NULL);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");

	remount(MS_RDONLY, "");
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	/* A read-write role: a write never succeeds, and says why. */
	if ((h = dbm_open(c, "lite", "primary", NULL)) == NULL) {
		cr_log_info("open read-write on a read-only file system: %s", dbm_errmsg(c));
		cr_assert_eq(dbm_errcode(c), DBM_E_BACKEND, "%s (%s)",
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
		cr_assert_not_null(strstr(dbm_errmsg(c), path), "the error does not name the "
		    "file: %s", dbm_errmsg(c));
	} else {
		r = dbm_exec(h, "INSERT INTO t VALUES ('during')", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		code = dbm_result_status(r);
		cr_log_info("a write on a read-only file system: %s, SQLSTATE %s: %s",
		    dbm_strerror(code), dbm_result_sqlstate(r), dbm_result_errmsg(r));
		cr_assert_eq(code, DBM_E_SQL, "a write on a read-only file system: %s (%s)",
		    dbm_strerror(code), dbm_result_errmsg(r));
		cr_assert(strcmp(dbm_result_sqlstate(r), "25006") == 0 ||
		    strcmp(dbm_result_sqlstate(r), "42501") == 0, "a write on a read-only file "
		    "system has SQLSTATE %s, not a read-only one: %s", dbm_result_sqlstate(r),
		    dbm_result_errmsg(r));
		dbm_result_free(r);
		dbm_dispose(h);
	}
	/*
	 * A read-only role reads, or fails clearly: SQLite cannot open a WAL database
	 * on read-only media that has no -shm file beside it.
	 */
	if ((ro = dbm_open(c, "lite", "read_only", NULL)) == NULL) {
		cr_log_info("open read-only on a read-only file system: %s", dbm_errmsg(c));
		cr_assert_eq(dbm_errcode(c), DBM_E_BACKEND, "%s (%s)",
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
		cr_assert_not_null(strstr(dbm_errmsg(c), path), "the error does not name the "
		    "file: %s", dbm_errmsg(c));
	} else {
		r = dbm_exec(ro, "SELECT v FROM t", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		code = dbm_result_status(r);
		cr_log_info("a read on a read-only file system: %s, SQLSTATE %s: %s",
		    dbm_strerror(code), dbm_result_sqlstate(r), code == DBM_OK ?
		    dbm_value(r, 0, 0) : dbm_result_errmsg(r));
		if (code == DBM_OK)
			cr_assert_str_eq(dbm_value(r, 0, 0), "before");
		else
			cr_assert(code == DBM_E_SQL && dbm_result_sqlstate(r)[0] != '\0' &&
			    dbm_result_errmsg(r)[0] != '\0', "a read on a read-only file system: "
			    "%s, SQLSTATE '%s': %s", dbm_strerror(code), dbm_result_sqlstate(r),
			    dbm_result_errmsg(r));
		dbm_result_free(r);
		dbm_dispose(ro);
	}
	f_assert_serving(&d, "on a read-only file system");

	/* Writable again: so is the database. */
	remount(0, "");
	f_assert_recovers(&d, NULL, "lite", "primary", "after the file system became writable");
	h = t_open(c, "lite", "primary");
	t_exec0(h, "INSERT INTO t VALUES ('after')", 0, NULL);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");
	db = db_open_checked(path, "after the file system was read-only");
	cr_assert_eq(db_num(db, "SELECT count(*) FROM t WHERE ?1 = ?1", 0, 0), 2);
	sqlite3_close(db);
	free(path);
}

/*
 * The database file alone is read-only (bound read-only onto itself), its
 * directory writable: SQLite opens it read-only, without a word, even for a
 * read-write role.  Writes fail with 25006; reads work; and when the file
 * is writable again, writes must succeed again, which they can only if
 * dbmd does not keep the read-only connections it was given.
 */
Test(sqlite_faults, a_read_only_file_fails_writes_with_25006_and_recovers)
{
	struct t_dbmd	 d;
	dbm_conn	*c;
	dbm_handle	*h;
	dbm_result	*r;
	sqlite3		*db;
	char		*path, *v;
	int64_t		 end;

	require_root();
	path = t_path("rofile.db");
	write_conf(path);
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = t_open(c, "lite", "primary");
	t_exec0(h, "CREATE TABLE t (v text)", 0, NULL);
	t_exec0(h, "INSERT INTO t VALUES ('before')", 0, NULL);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");

	snprintf(bound, sizeof(bound), "%s", path);
	cr_assert_eq(mount(path, path, "none", MS_BIND, NULL), 0, "bind %s: %s", path,
	    strerror(errno));
	cr_assert_eq(mount(NULL, path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0,
	    "remount %s read-only: %s", path, strerror(errno));
	t_dbmd_start(&d, NULL);
	c = t_connect(&d);
	h = dbm_open(c, "lite", "primary", NULL);
	if (h == NULL) {
		/* Refusing the read-only file at open is clear too. */
		cr_log_info("open read-write of a read-only file: %s", dbm_errmsg(c));
		cr_assert_eq(dbm_errcode(c), DBM_E_BACKEND, "%s (%s)",
		    dbm_strerror(dbm_errcode(c)), dbm_errmsg(c));
		cr_assert_not_null(strstr(dbm_errmsg(c), path), "the error does not name the "
		    "file: %s", dbm_errmsg(c));
	} else {
		v = t_value(h, "SELECT v FROM t", 0, NULL);
		cr_assert_str_eq(v, "before");
		free(v);
		r = t_exec_fails(h, "INSERT INTO t VALUES ('during')", 0, NULL, DBM_E_SQL);
		cr_log_info("a write to a read-only file: SQLSTATE %s: %s",
		    dbm_result_sqlstate(r), dbm_result_errmsg(r));
		cr_assert_str_eq(dbm_result_sqlstate(r), "25006", "a write to a read-only file "
		    "has SQLSTATE %s: %s", dbm_result_sqlstate(r), dbm_result_errmsg(r));
		dbm_result_free(r);
	}
	f_assert_serving(&d, "on a read-only file");

	/* Writable again (dbmd holds the file open: the mount stays, read-write now). */
	cr_assert_eq(mount(NULL, path, "none", MS_REMOUNT | MS_BIND, NULL), 0,
	    "remount %s read-write: %s", path, strerror(errno));
	if (h == NULL)
		h = t_open(c, "lite", "primary");
	end = t_now_ms() + (int64_t)F_RECOVER_MS * t_slow();
	for (;;) {
		r = dbm_exec(h, "INSERT INTO t VALUES ('after')", 0, NULL);
		cr_assert_not_null(r, "the connection to dbmd failed: %s", dbm_errmsg(c));
		if (dbm_result_status(r) == DBM_OK)
			break;
		cr_assert_lt(t_now_ms(), end, "writes still fail %dms after the file became "
		    "writable again: %s, SQLSTATE %s: %s", F_RECOVER_MS * t_slow(),
		    dbm_strerror(dbm_result_status(r)), dbm_result_sqlstate(r),
		    dbm_result_errmsg(r));
		dbm_result_free(r);
		t_sleep_ms(50);
	}
	dbm_result_free(r);
	dbm_disconnect(c);
	cr_assert_eq(t_dbmd_stop(&d), 0, "dbmd did not stop cleanly");
	db = db_open_checked(path, "after the file was read-only");
	cr_assert_eq(db_num(db, "SELECT count(*) FROM t WHERE ?1 = ?1", 0, 0), 2);
	sqlite3_close(db);
	free(path);
}
