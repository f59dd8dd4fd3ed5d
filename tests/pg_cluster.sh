#!/bin/sh
# A private PostgreSQL cluster: a primary and two streaming standbys, on Unix sockets only.
#
#   pg_cluster.sh start DIR             make the cluster in DIR and start it
#   pg_cluster.sh stop DIR              stop all three servers (-m immediate)
#   pg_cluster.sh stop-node DIR NODE    stop one server (-m immediate)
#   pg_cluster.sh start-node DIR NODE   start one server again, with its options
#
# NODE is primary, standby1 or standby2.  The primary's data directory is DIR/primary,
# the standbys', made with pg_basebackup -R, DIR/standby1 and DIR/standby2; all three
# listen in DIR/sock, on ports 5432, 5433 and 5434, and log to DIR/log/NODE.log.  start
# returns once the primary shows both standbys streaming, and fails (printing the logs)
# when that does not happen in time.  Removing DIR is the caller's: stop first.
#
# The servers run as the user named by TEST_PGRUNAS, or as postgres (nobody when there is
# no such user) when we are root, as us otherwise; DIR's parent directories must let that
# user through.  The binaries are TEST_PGBIN's, or the newest installed.
set -u

usage() {
	echo "usage: pg_cluster.sh start|stop DIR | start-node|stop-node DIR NODE" >&2
	exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
node=${3:-}

bindir=${TEST_PGBIN:-}
if [ -z "$bindir" ]; then
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[ -x "$d/initdb" ] && bindir=$d
	done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "pg_cluster: no PostgreSQL server installed" >&2
	exit 1
fi

asuser=
if [ "$(id -u)" = 0 ]; then
	asuser=${TEST_PGRUNAS:-}
	if [ -z "$asuser" ]; then
		asuser=postgres
		id "$asuser" >/dev/null 2>&1 || asuser=nobody
	fi
fi

# Runs a command as the servers' user.
as() {
	if [ -n "$asuser" ]; then
		runuser -u "$asuser" -- "$@"
	else
		"$@"
	fi
}

port_of() {
	case $1 in
	primary)	echo 5432 ;;
	standby1)	echo 5433 ;;
	standby2)	echo 5434 ;;
	*)		echo "pg_cluster: no node $1 (primary, standby1, standby2)" >&2; exit 2 ;;
	esac
}

# Every server gets the same options: a standby needs max_connections (and the other
# limits recorded in the WAL) at least the primary's.  hot_standby_feedback: a query
# held open on a standby keeps the primary from removing rows it may see, so that
# replay never waits for it (max_standby_streaming_delay) when others vacuum.
node_start() {
	_port=$(port_of "$1") || exit 2
	as "$bindir/pg_ctl" -D "$dir/$1" -l "$dir/log/$1.log" -w -t 60 start \
	    -o "-c listen_addresses='' -k $dir/sock -p $_port -c fsync=off -c max_connections=200 -c hot_standby_feedback=on" \
	    >"$dir/log/pg_ctl-$1.out" 2>&1
}

node_stop() {
	[ -f "$dir/$1/postmaster.pid" ] || return 0
	as "$bindir/pg_ctl" -D "$dir/$1" -m immediate stop >/dev/null 2>&1
}

# Prints what the servers and tools said, then fails.
fail() {
	echo "pg_cluster: $1" >&2
	for f in "$dir"/log/*; do
		[ -s "$f" ] && sed "s|^|pg_cluster: ${f##*/}: |" "$f" >&2
	done
	exit 1
}

psql_primary() {
	"$bindir/psql" -X -q -A -t -h "$dir/sock" -p 5432 -U postgres -d postgres -c "$1" 2>&1
}

cluster_start() {
	mkdir -p "$dir" || exit 1
	chmod 755 "$dir"
	for d in primary standby1 standby2 sock log; do
		mkdir "$dir/$d" || exit 1
	done
	chmod 700 "$dir/primary" "$dir/standby1" "$dir/standby2"
	chmod 755 "$dir/sock"
	if [ -n "$asuser" ]; then
		chown "$asuser" "$dir/primary" "$dir/standby1" "$dir/standby2" "$dir/sock" \
		    "$dir/log" || exit 1
	fi

	as "$bindir/initdb" -D "$dir/primary" -U postgres -A trust --no-sync \
	    >"$dir/log/initdb.out" 2>&1 || fail "initdb failed"
	node_start primary || fail "the primary did not start"
	# -c fast: no wait for the next checkpoint; -X stream: the WAL of the copy, with it;
	# -C -S: a replication slot, so that the primary keeps the WAL a standby has not
	# received (a standby that was disconnected or slow never finds it removed).
	for s in standby1 standby2; do
		as "$bindir/pg_basebackup" -D "$dir/$s" -h "$dir/sock" -p 5432 -U postgres \
		    -R -C -S "$s" -X stream -c fast --no-sync >"$dir/log/basebackup-$s.out" 2>&1 ||
		    fail "pg_basebackup for $s failed"
	done
	for s in standby1 standby2; do
		node_start $s || fail "$s did not start"
	done

	# 600 tries 0.1 s apart: a minute at most.
	n=0
	while :; do
		got=$(psql_primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
		[ "$got" = 2 ] && return 0
		n=$((n + 1))
		[ $n -ge 600 ] && fail "the standbys are not streaming after 60 s (saw: $got)"
		sleep 0.1
	done
}

case $cmd in
start)
	[ -z "$node" ] || usage
	cluster_start
	;;
stop)
	[ -z "$node" ] || usage
	rc=0
	for n in standby2 standby1 primary; do
		node_stop $n || rc=1
	done
	exit $rc
	;;
start-node)
	[ -n "$node" ] || usage
	port_of "$node" >/dev/null || exit 2
	node_start "$node" || fail "$node did not start"
	;;
stop-node)
	[ -n "$node" ] || usage
	port_of "$node" >/dev/null || exit 2
	node_stop "$node" || fail "pg_ctl could not stop $node"
	;;
*)
	usage
	;;
esac
