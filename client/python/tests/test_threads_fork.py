"""Threads sharing a manager, transactions per thread, fork, and the GIL while waiting."""

import os
import threading
import time

import dbmclient
from conftest import WAIT_S, run_python, wait_pid, wait_until


def run_threads(n, fn):
    """Runs fn(i) on n threads started together; returns their results, raising theirs."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def main(i):
        try:
            barrier.wait(WAIT_S)
            results[i] = fn(i)
        except BaseException as e:      # pytest does not see other threads' exceptions
            errors.append((i, e))

    threads = [threading.Thread(target=main, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads did not finish in 60s"
    if errors:
        raise AssertionError(f"{len(errors)} threads failed, first: thread {errors[0][0]}: "
                             f"{errors[0][1]!r}") from errors[0][1]
    return results


def test_eight_threads_share_a_manager(target):
    m = target.manager()

    def work(t):
        got = []
        for i in range(200):
            r = m.execute("SELECT %s + 0, %s * 2, %s", (t, i, f"t{t}-{i}"))
            got.append(r[0])
        return got

    results = run_threads(8, work)
    for t, got in enumerate(results):
        assert got == [(t, i * 2, f"t{t}-{i}") for i in range(200)]


def test_eight_threads_share_a_manager_with_transactions(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (t integer, i integer)")

    def work(t):
        for i in range(20):
            with m.transaction() as tx:
                tx.execute(f"INSERT INTO {table} VALUES (%s, %s)", (t, i))
                n = tx.execute(f"SELECT count(*) FROM {table} WHERE t = %s", (t,))[0][0]
                assert n == i + 1
        return True

    if target.is_pg:
        run_threads(8, work)
    else:
        # SQLite has one writer at a time: concurrent write transactions may wait on
        # each other, never see each other's rows.
        run_threads(4, work)
    n = 8 if target.is_pg else 4
    assert target.outside(f"SELECT t, count(*) FROM {table} GROUP BY t ORDER BY t") == \
        [(t, 20) for t in range(n)]


def test_transactions_in_threads_do_not_see_each_other(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (who text)")
    a_inserted, b_checked, a_done = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with m.transaction() as tx:
            tx.execute(f"INSERT INTO {table} VALUES ('a')")
            a_inserted.set()
            assert b_checked.wait(WAIT_S), "thread b did not look in time"
            seen["a_in_txn"] = tx.execute(f"SELECT count(*) FROM {table}")[0][0]
        a_done.set()

    t = threading.Thread(target=thread_a, daemon=True)
    t.start()
    try:
        assert a_inserted.wait(WAIT_S)
        # This thread is not in a's transaction: its statements run on another session.
        seen["b_during"] = m.execute(f"SELECT count(*) FROM {table}")[0][0]
        if target.is_pg:
            with m.transaction() as tx:
                tx.execute(f"INSERT INTO {table} VALUES ('b')")
                seen["b_in_txn"] = tx.execute(f"SELECT who FROM {table}")
                seen["outside_during"] = target.count(table)
        b_checked.set()
        assert a_done.wait(WAIT_S)
    finally:
        b_checked.set()
        t.join(WAIT_S)
    assert seen["b_during"] == 0
    if target.is_pg:
        assert seen["b_in_txn"] == [("b",)]
        assert seen["outside_during"] == 0             # neither is committed yet
        assert seen["a_in_txn"] == 2                    # a sees b's, committed before it looks
        assert sorted(target.outside(f"SELECT who FROM {table}")) == [("a",), ("b",)]
    else:
        assert seen["a_in_txn"] == 1
        assert target.outside(f"SELECT who FROM {table}") == [("a",)]


def my_client_rows(dbmd, pid=None):
    pid = os.getpid() if pid is None else pid
    return {c["id"]: c for c in dbmd.clients() if int(c["pid"]) == pid}


def test_forked_child_uses_a_new_session_and_leaves_the_parent_alone(target, table):
    m = target.manager()
    m.execute(f"CREATE TABLE {table} (v integer)")
    assert m.execute("SELECT 1") == [(1,)]
    # The parent holds a transaction across the fork, with a row not yet committed.
    conn = target.connect()
    conn.execute(f"INSERT INTO {table} VALUES (1)")
    before = my_client_rows(target.dbmd)
    assert sum(int(c["transactions"]) for c in before.values()) == 1

    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            a = m.execute("SELECT %s * 3", (14,))[0][0]
            b = m.execute(f"SELECT count(*) FROM {table}")[0][0]
            os.write(to_parent_w, f"{a} {b}\n".encode())
            os.read(to_child_r, 1)          # the parent has looked at dbmd's clients
            dbmclient.dispose_all()         # the child's own, never the parent's
            code = 0
        except BaseException as e:
            try:
                os.write(to_parent_w, f"error {e!r}\n".encode())
            except BaseException:
                pass
        finally:
            os._exit(code)

    os.close(to_child_r)
    os.close(to_parent_w)
    try:
        line = b""
        end = time.monotonic() + WAIT_S
        while not line.endswith(b"\n") and time.monotonic() < end:
            chunk = os.read(to_parent_r, 256)
            if not chunk:
                break
            line += chunk
        assert line.decode().split() == ["42", "0"], line
        # The child talks to dbmd on a connection of its own, with a handle of its own.
        assert sum(int(c["handles"]) for c in my_client_rows(target.dbmd, pid).values()) >= 1
    finally:
        os.write(to_child_w, b"x")
        os.close(to_child_w)
        os.close(to_parent_r)
        code = wait_pid(pid)
    assert code == 0
    # The parent's connections are the same ones, its transaction still open and intact.
    after = my_client_rows(target.dbmd)
    assert set(after) == set(before)
    assert sum(int(c["transactions"]) for c in after.values()) == 1
    conn.execute(f"INSERT INTO {table} VALUES (2)")
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (2,)
    conn.commit()
    assert sorted(target.outside(f"SELECT v FROM {table}")) == [(1,), (2,)]
    assert m.execute("SELECT %s * 2", (21,)) == [(42,)]
    conn.close()


def fork_and_wait(child):
    """Runs child() in a forked process: its exit code is 0 when it returns True, 1 when
    it returns anything else, 2 when it raises.  Returns the code and what it wrote."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            os.close(r)
            code = 0 if child(lambda msg: os.write(w, f"{msg}\n".encode())) is True else 1
        except BaseException as e:
            try:
                os.write(w, f"raised {e!r}\n".encode())
            except BaseException:
                pass
        finally:
            os._exit(code)
    os.close(w)
    try:
        code = wait_pid(pid)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
    finally:
        os.close(r)
    return code, out.decode()


def test_connection_in_a_forked_child_is_an_interface_error(target, table):
    target.manager().execute(f"CREATE TABLE {table} (v integer)")
    conn = target.connect()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1)")

    def child(say):
        for name, call in (("conn.execute", lambda: conn.execute("SELECT 1")),
                           ("cursor.execute", lambda: cur.execute("SELECT 1")),
                           ("conn.commit", conn.commit)):
            try:
                call()
            except dbmclient.InterfaceError:
                continue
            except BaseException as e:
                say(f"{name}: {e!r}")
                return False
            say(f"{name}: no exception")
            return False
        return True

    code, out = fork_and_wait(child)
    assert code == 0, out
    # The parent's transaction went on undisturbed: nothing was committed or rolled back.
    cur.execute(f"INSERT INTO {table} VALUES (2)")
    conn.commit()
    assert sorted(target.outside(f"SELECT v FROM {table}")) == [(1,), (2,)]
    conn.close()


FORK_SCRIPT = r"""
import os, sys
import dbmclient
sock, env, table = sys.argv[1:4]
m = dbmclient.get_database_manager(env, socket=sock)
assert m.execute("SELECT 1") == [(1,)]
conn = dbmclient.connect(env, socket=sock)
conn.execute(f"INSERT INTO {table} VALUES (1)")
pid = os.fork()
if pid == 0:
    assert m.execute("SELECT %s + 1", (41,)) == [(42,)]
    assert m.execute(f"SELECT count(*) FROM {table}") == [(0,)]
    sys.exit(0)                         # a normal exit: the child's at-exit disposal runs
_, st = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(st) == 0, st
conn.execute(f"INSERT INTO {table} VALUES (2)")
conn.commit()
assert m.execute(f"SELECT count(*) FROM {table}") == [(2,)]
print("parent ok", flush=True)
"""


def test_child_exit_disposes_only_its_own(target, table):
    target.manager().execute(f"CREATE TABLE {table} (v integer)")
    r = run_python(FORK_SCRIPT, target.sock, target.environment, table)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "parent ok" in r.stdout
    assert target.count(table) == 2


def test_gil_is_released_while_waiting_on_dbmd(pg_target):
    m = pg_target.manager()
    marker = f"gil_probe_{os.getpid()}_{time.monotonic_ns()}"
    sql = f"SELECT pg_sleep(1), '{marker}'"
    done = threading.Event()
    counter = [0]
    errors = []

    def sleeper():
        try:
            m.execute(sql)
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def count():
        while not done.is_set():
            counter[0] += 1

    def running_on_server():
        return pg_target.pg.query(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
            "query LIKE %s AND pid <> pg_backend_pid()", (f"%{marker}%",))[0][0]

    s = threading.Thread(target=sleeper, daemon=True)
    c = threading.Thread(target=count, daemon=True)
    s.start()
    c.start()
    try:
        wait_until(running_on_server, "the sleep to start on the server", timeout=WAIT_S,
                   interval=0.005)
        c0 = counter[0]
        wait_until(lambda: counter[0] > c0 + 10000, "the counter thread to progress",
                   timeout=WAIT_S, interval=0.001)
        # Both this thread and the counter ran while the statement was still running:
        # the waiting thread does not hold the GIL.
        assert running_on_server() == 1
        assert not done.is_set()
    finally:
        assert done.wait(WAIT_S)
        s.join(WAIT_S)
        c.join(WAIT_S)
    assert errors == []
