#!/bin/sh
# Runs a command with a private PostgreSQL server: initdb in a temporary directory, a
# Unix socket there and no TCP, run as an unprivileged user when we are root.  The
# command sees TEST_PGHOST (socket directory), TEST_PGPORT, TEST_PGDATA, TEST_PGBIN and
# TEST_PGRUNAS (the user the server runs as, empty when it is us).  The server is
# stopped and removed afterwards, whatever happened.  Without PostgreSQL the command
# runs without it (its tests skip) unless CI=true, when that is a failure.
set -u

bindir=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
	[ -x "$d/initdb" ] && bindir=$d
done
if [ -z "$bindir" ]; then
	if [ "${CI:-}" = true ]; then
		echo "pg_harness: no PostgreSQL server installed (make deps installs it)" >&2
		exit 1
	fi
	echo "pg_harness: no PostgreSQL server installed: PostgreSQL tests will skip" >&2
	exec "$@"
fi

runas=
asuser=
if [ "$(id -u)" = 0 ]; then
	asuser=postgres
	id "$asuser" >/dev/null 2>&1 || asuser=nobody
	runas="runuser -u $asuser --"
fi

tmp=$(mktemp -d /tmp/dbmd-pg.XXXXXX)
chmod 755 "$tmp"
mkdir "$tmp/data" "$tmp/sock"
[ -n "$asuser" ] && chown "$asuser" "$tmp/data" "$tmp/sock"
chmod 755 "$tmp/sock"

stop() {
	$runas "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$tmp"
}
trap stop EXIT
trap 'exit 130' INT TERM

fail() {
	echo "pg_harness: $1" >&2
	shift
	[ -f "$tmp/data/pg.log" ] && sed 's/^/pg_harness: /' "$tmp/data/pg.log" >&2
	if [ "${CI:-}" = true ]; then
		exit 1
	fi
	echo "pg_harness: PostgreSQL tests will skip" >&2
	trap - EXIT
	stop
	exec "$@"
}

if ! $runas "$bindir/initdb" -D "$tmp/data" -U postgres -A trust --no-sync \
    >"$tmp/initdb.log" 2>&1; then
	cat "$tmp/initdb.log" >&2
	fail "initdb failed" "$@"
fi
# Only the Unix socket: the server is private to this run.
if ! $runas "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/data/pg.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $tmp/sock -p 5432 -c fsync=off -c max_connections=200" \
    >"$tmp/pg_ctl.log" 2>&1; then
	cat "$tmp/pg_ctl.log" >&2
	fail "the server did not start" "$@"
fi

export TEST_PGHOST="$tmp/sock" TEST_PGPORT=5432 TEST_PGDATA="$tmp/data" \
	TEST_PGBIN="$bindir" TEST_PGRUNAS="$asuser"
echo "pg_harness: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $tmp/sock"
"$@"
