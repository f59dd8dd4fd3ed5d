"""Who gets in, and what the operator sees: the startup's refusals with their SQLSTATE,
and dbmctl's view of PostgreSQL clients.

libpq shows a refusal's message but keeps its SQLSTATE to itself, so the refusals are
also read off the wire here: one startup packet and the ErrorResponse it gets."""

import os
import socket
import struct
import subprocess
import time

from conftest import WAIT_S, client_env, psql, wait_until


def startup_reply(dbmd, database, ssl_first=False, **params):
    """Sends a startup packet for database; returns (first byte of an SSLRequest's
    answer or None, message type, {field code: value}) of the reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(WAIT_S)
    try:
        s.connect(dbmd.pgsock)
        ssl = None
        if ssl_first:
            s.sendall(struct.pack("!II", 8, 80877103))
            ssl = s.recv(1)
        body = struct.pack("!I", 196608)
        for k, v in {"user": "someone", "database": database, **params}.items():
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        data = b""
        while len(data) < 5 or len(data) < 1 + struct.unpack("!I", data[1:5])[0]:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        kind = data[:1]
        fields = {}
        if kind in (b"E", b"N"):
            for part in data[5:1 + struct.unpack("!I", data[1:5])[0]].split(b"\0"):
                if part:
                    fields[part[:1].decode()] = part[1:].decode()
        return ssl, kind, fields
    finally:
        s.close()


def test_ssl_request_answered_n(dbmd):
    ssl, kind, _ = startup_reply(dbmd, "development", ssl_first=True)
    assert ssl == b"N"
    assert kind == b"R"     # AuthenticationOk follows on the same connection


def test_unknown_environment_3d000(dbmd):
    _, kind, f = startup_reply(dbmd, "no_such_env")
    assert kind == b"E"
    assert (f["S"], f["C"]) == ("FATAL", "3D000")
    assert 'unknown environment "no_such_env"' in f["M"]


def test_unknown_role_3d000(dbmd, pg):
    _, kind, f = startup_reply(dbmd, "production/no_such_role")
    assert (kind, f["C"]) == (b"E", "3D000")
    assert 'no role "no_such_role"' in f["M"]


def test_access_refused_28000(dbmd, pg):
    _, kind, f = startup_reply(dbmd, "production/locked")
    assert (kind, f["S"], f["C"]) == (b"E", "FATAL", "28000")
    # The same through libpq: psql exits 2 with the message.
    r = psql(dbmd, "production/locked", args=["-c", "SELECT 1"])
    assert r.returncode == 2
    assert f["M"] in r.stderr


def test_other_encoding_refused(dbmd):
    _, kind, f = startup_reply(dbmd, "development", client_encoding="LATIN1")
    assert kind == b"E" and f["S"] == "FATAL"


def test_psql_to_unknown_environment(dbmd):
    r = psql(dbmd, "no_such_env", args=["-c", "SELECT 1"])
    assert r.returncode == 2
    assert 'FATAL:  no_such_env/primary: unknown environment "no_such_env"' in r.stderr


def test_user_grants_nothing(dbmd, pg):
    """The user parameter is shown, not believed: access follows the peer's credentials."""
    r = psql(dbmd, "production/locked", args=["-c", "SELECT 1"], user="nobody")
    assert r.returncode == 2
    import psycopg2
    c = psycopg2.connect(dbmd.dsn("production", user="fd_some_user"))
    try:
        assert c.get_parameter_status("session_authorization") == "fd_some_user"
        # The statements run as the role's URI says.
        with c.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("postgres",)
    finally:
        c.close()


def test_dbmctl_clients_shows_psql(dbmd, pg):
    """A psql in the middle of a statement is a postgresql client with its name."""
    p = subprocess.Popen(["psql", "-X", "-d", dbmd.dsn("production",
                                                       application_name="fd-psql-shown"),
                          "-c", "SELECT pg_sleep(30)"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=client_env())
    try:
        def shown():
            return [c for c in dbmd.clients() if c["name"] == "fd-psql-shown"]
        c, = wait_until(shown, "psql in dbmctl clients")
        assert c["protocol"] == "postgresql"
        assert int(c["pid"]) == p.pid
        assert c["handles"] == "1"
        wait_until(lambda: shown() and shown()[0]["state"] == "active",
                   "psql's statement to show as active")
        # The text listing says the same.
        r = dbmd.ctl("clients")
        assert r.returncode == 0
        line, = [x for x in r.stdout.splitlines() if "fd-psql-shown" in x]
        assert "postgresql" in line
    finally:
        p.terminate()
        p.wait(WAIT_S)
    wait_until(lambda: not [c for c in dbmd.clients() if c["name"] == "fd-psql-shown"],
               "psql to leave dbmctl clients")


def test_many_short_connections(dbmd, pg):
    """Connections that come and go leave nothing behind in dbmd."""
    import psycopg2
    before = len(dbmd.clients())
    started = time.monotonic()
    for i in range(100):
        c = psycopg2.connect(dbmd.dsn("production"))
        with c.cursor() as cur:
            cur.execute("SELECT %s", (i,))
            assert cur.fetchone() == (i,)
        c.close()
    assert time.monotonic() - started < 30
    wait_until(lambda: len(dbmd.clients()) <= before, "the closed connections to go")
    assert os.path.exists(dbmd.pgsock)
