"""Attacks a hostile client made on the front door, each once a way to harm dbmd or
another client: they must fail for the attacker alone, and dbmd go on."""

import socket
import struct

import pytest

from conftest import import_or_skip, wait_until

psycopg2 = import_or_skip("psycopg2")
import psycopg2.errors  # noqa: E402


def test_a_client_that_leaves_during_startup_harms_nothing(dbmd):
    """A startup packet, then gone before the reply: dbmd's reply fails as it is
    written, and nothing of the client may be touched after (make asan checks)."""
    body = struct.pack("!I", 196608) + b"user\0x\0database\0development\0\0"
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(dbmd.pgsock)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        s.close()
    assert dbmd.alive()
    with dbmd.psycopg2("development") as c, c.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_a_query_of_many_cached_statements_is_answered(dbmd):
    """Cached statements are answered at once: 20000 of them in one Query must not
    make dbmd recurse once per statement."""
    c = dbmd.psycopg2("development")
    try:
        cur = c.cursor()
        cur.execute("SET dbmd.cache_max_age = '1h'")
        cur.execute("SELECT 1")
        cur.execute("SELECT 1;" * 20000)
        assert cur.fetchone() == (1,)
    finally:
        c.close()
    assert dbmd.alive()


def test_a_read_only_role_stays_read_only_through_commit_and_chain(dbmd, pg, table):
    with dbmd.psycopg2("production") as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (a int)")
    c = dbmd.psycopg2("production/read_only", autocommit=True)
    try:
        cur = c.cursor()
        cur.execute("BEGIN")
        cur.execute("COMMIT AND CHAIN")
        with pytest.raises(psycopg2.Error):
            cur.execute("SET TRANSACTION READ WRITE")
            cur.execute(f"INSERT INTO {table} VALUES (1)")
        cur.execute("ROLLBACK")
    finally:
        c.close()
    assert pg.query(f"SELECT count(*) FROM {table}") == [(0,)]


def test_a_session_lock_left_in_a_do_block_goes_with_its_client(dbmd, pg):
    """The textual refusal does not see a lock taken inside a DO block; the reset when
    its client leaves must release it, or it blocks everyone else."""
    a = dbmd.psycopg2("production")
    a.cursor().execute("DO $$ BEGIN PERFORM pg_advisory_lock(987654); END $$")
    a.close()
    wait_until(lambda: pg.query("SELECT count(*) FROM pg_locks WHERE "
                                "locktype = 'advisory' AND objid = 987654") == [(0,)],
               "the departed client's advisory lock to be released")
