#!/bin/sh
# Runs a command with a private PostgreSQL cluster (tests/pg_cluster.sh): a primary and
# two streaming standbys in a temporary directory, Unix sockets there and no TCP, run as
# an unprivileged user when we are root.  The command sees TEST_PGHOST (the socket
# directory), TEST_PGPORT (the primary's, 5432), TEST_PGDATA (the primary's data
# directory), TEST_PGBIN, TEST_PGRUNAS (the user the servers run as, empty when it is
# us), TEST_PGSTANDBY_PORTS ("5433 5434"), TEST_PGSTANDBY1_DATA, TEST_PGSTANDBY2_DATA
# and TEST_PGCLUSTER (pg_cluster.sh's path, for tests that make clusters of their own).
# The servers are stopped and removed afterwards, whatever happened.  Without PostgreSQL
# the command runs without it (its tests skip) unless CI=true, when that is a failure.
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

asuser=
if [ "$(id -u)" = 0 ]; then
	asuser=postgres
	id "$asuser" >/dev/null 2>&1 || asuser=nobody
fi
cluster=$(cd "$(dirname "$0")" && pwd)/pg_cluster.sh

tmp=$(mktemp -d /tmp/dbmd-pg.XXXXXX)

stop() {
	TEST_PGBIN=$bindir TEST_PGRUNAS=$asuser sh "$cluster" stop "$tmp"
	rm -rf "$tmp"
}
trap stop EXIT
trap 'exit 130' INT TERM

# The primary and both standbys; pg_cluster.sh prints the servers' logs when it fails.
if ! TEST_PGBIN=$bindir TEST_PGRUNAS=$asuser sh "$cluster" start "$tmp"; then
	echo "pg_harness: the cluster did not start" >&2
	if [ "${CI:-}" = true ]; then
		exit 1
	fi
	echo "pg_harness: PostgreSQL tests will skip" >&2
	trap - EXIT
	stop
	exec "$@"
fi

export TEST_PGHOST="$tmp/sock" TEST_PGPORT=5432 TEST_PGDATA="$tmp/primary" \
	TEST_PGBIN="$bindir" TEST_PGRUNAS="$asuser" TEST_PGSTANDBY_PORTS="5433 5434" \
	TEST_PGSTANDBY1_DATA="$tmp/standby1" TEST_PGSTANDBY2_DATA="$tmp/standby2" \
	TEST_PGCLUSTER="$cluster"
echo "pg_harness: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $tmp/sock:" \
	"primary 5432, standbys $TEST_PGSTANDBY_PORTS"
"$@"
