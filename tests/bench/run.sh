#!/bin/sh
# run.sh: what `make bench` runs.  Starts a private PostgreSQL, PgBouncer and dbmd, each
# in a temporary directory of its own and on a Unix socket only, runs the benchmark
# matrix with build/bench and, for the Python rows, tests/bench/python_bench.py under
# Debian's /usr/bin/python3 (dbmclient from BUILD_DIR/python, psycopg2 from
# python3-psycopg2), then pgbench through dbmd's front door, PgBouncer and direct, stops
# everything, and writes build/bench-results/results.md
# (the table), results.png (the chart), raw.tsv (every measurement) and the servers' logs.
# A Python row whose module is missing is reported as skipped, not measured.
#
#   sh tests/bench/run.sh BUILD_DIR
#
# Knobs, from the environment: BENCH_DURATION (seconds per measurement, 3), BENCH_WARMUP
# (1), BENCH_REPS (rounds, 5), BENCH_POOL (pool size of PgBouncer and dbmd, 8), BENCH_ROWS (rows
# of the stream, 1000000), BENCH_IDLE (idle clients of the memory probe, 10000),
# BENCH_OUT (where the results go, BUILD_DIR/bench-results), BENCH_BASELINE (another build's
# dbmd, run beside this one with the same settings and measured by that build's own
# bench if it has one: each dbmd row is measured on both in the same rounds, and the
# report compares them; its Python rows run that build's own python/ directory, and are
# skipped when it has none; its pgbench cells use its front door, and are skipped when
# it has none).  BENCH_PGBENCH_DURATION (whole seconds per pgbench run: BENCH_DURATION
# rounded up, at least 1), BENCH_PGBENCH_REPS (its rounds: BENCH_REPS, at most 3; 0: no
# pgbench rows).  BENCH_REPLICAS (1; 0: no replica rows; else two streaming standbys of
# the PostgreSQL are made for them, with a dbmd of their own, and removed after them).
# BENCH_SHELL=command runs the
# command with the servers up instead of the matrix, for profiling: it sees BENCH_DIRECT,
# BENCH_PGBOUNCER (conninfos), BENCH_DBMD_SOCKET, BENCH_DBMD_PID, BENCH_PGBOUNCER_PID,
# BENCH_SQLITE_DB, BENCH_PYTHON (the interpreter and its options, with PYTHONPATH set to
# BUILD_DIR/python), BENCH_PGBENCH_DIRECT, BENCH_PGBENCH_PGBOUNCER, BENCH_PGBENCH_DBMD
# (pgbench's connection arguments), with a baseline BENCH_BASE_SOCKET and, with the
# replicas, BENCH_REPLICA_SOCKET (their dbmd: environments rep and ryw, see below).
# tests/bench/README says how to read the results.
set -u

B=${1:?usage: run.sh BUILD_DIR}
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
DURATION=${BENCH_DURATION:-3}
WARMUP=${BENCH_WARMUP:-1}
REPS=${BENCH_REPS:-5}
POOL=${BENCH_POOL:-8}
ROWS=${BENCH_ROWS:-1000000}
IDLE=${BENCH_IDLE:-10000}
ACCOUNTS=100000			# pgbench -i -s 1
# The pgbench rows: whole seconds (pgbench -T), at least 1; at most 3 rounds by default.
PGB_DURATION=${BENCH_PGBENCH_DURATION:-$(awk -v d="$DURATION" 'BEGIN { t = int(d); if (t < d) t++; print t < 1 ? 1 : t }')}
PGB_REPS=${BENCH_PGBENCH_REPS:-$([ "$REPS" -lt 3 ] && echo "$REPS" || echo 3)}
FDPORT=5432			# dbmd's front door: .s.PGSQL.5432 beside its socket (pg_port)
FETCH_ROWS=100000		# the Python fetchall's table, bench_fetch
PGPORT=5432
PGBPORT=6432
REPLICAS=${BENCH_REPLICAS:-1}
STANDBY_PORTS="5433 5434"	# the replica rows' standbys, in the PostgreSQL's socket directory
RCLIENTS=16			# the read-scaling row's clients

# Not $B/bench/: that is the program (the Makefile's $(B)/bench), so the results sit beside it.
out=${BENCH_OUT:-$B/bench-results}
bench=$B/bench
[ -x "$bench" ] && [ -x "$B/dbmd" ] || { echo "run.sh: build $B/bench and $B/dbmd first (make bench)" >&2; exit 1; }
started=$(date +%s)
# The tree that was built, taken now: someone may edit it while the matrix runs.
commit=$(cd "$(dirname "$0")/../.." && git rev-parse --short HEAD 2>/dev/null)$(cd "$(dirname "$0")/../.." &&
    git diff --quiet HEAD 2>/dev/null || echo +changes)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

pgbin=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
	[ -x "$d/initdb" ] && pgbin=$d
done
[ -n "$pgbin" ] || die "no PostgreSQL server installed (make deps installs it)"
pgbouncer=$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)
[ -x "$pgbouncer" ] || die "no pgbouncer installed (make deps installs it)"

# PostgreSQL refuses to run as root and so does PgBouncer: as root both run as postgres.
runas=
asuser=$(id -un)
if [ "$(id -u)" = 0 ]; then
	asuser=postgres
	id "$asuser" >/dev/null 2>&1 || asuser=nobody
	runas="runuser -u $asuser --"
fi

# Enough descriptors for 64 clients and the idle-clients probe, in every server we start.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((IDLE + 1000)) ]; then
	ulimit -Hn $((IDLE + 1000)) 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/dbmd-bench.XXXXXX)
chmod 755 "$tmp"
mkdir "$tmp/pgdata" "$tmp/pg" "$tmp/pgbouncer" "$tmp/dbmd"
[ -n "$runas" ] && chown "$asuser" "$tmp/pgdata" "$tmp/pg" "$tmp/pgbouncer"

dbmd_pid=
base_pid=
rep_pid=
pgb_pid=
cleanup() {
	replicas_stop
	for p in $dbmd_pid $base_pid; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$pgb_pid" ]; then
		kill -TERM "$pgb_pid" 2>/dev/null
		i=0
		while kill -0 "$pgb_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	fi
	[ -d "$tmp/pgdata" ] && $runas "$pgbin/pg_ctl" -D "$tmp/pgdata" -m fast stop >/dev/null 2>&1
	dbmd_pid=
	base_pid=
	pgb_pid=
	if [ -d "$out/logs" ]; then
		# The ends only: both brokers log every connection, 10,000 of them in the probe.
		tail -n 5000 "$tmp/pgdata/pg.log" >"$out/logs/postgresql.log" 2>/dev/null
		tail -n 5000 "$tmp/pgbouncer/pgbouncer.log" >"$out/logs/pgbouncer.log" 2>/dev/null
		tail -n 5000 "$tmp/dbmd/dbmd.log" >"$out/logs/dbmd.log" 2>/dev/null
	fi
	rm -rf "$tmp"
}
# The replica rows' servers: their dbmd, then the standbys; their logs beside the others.
replicas_stop() {
	if [ -n "$rep_pid" ]; then
		kill -TERM "$rep_pid" 2>/dev/null
		wait "$rep_pid" 2>/dev/null
		rep_pid=
	fi
	for port in $STANDBY_PORTS; do
		[ -f "$tmp/standby$port/postmaster.pid" ] &&
		    $runas "$pgbin/pg_ctl" -D "$tmp/standby$port" -m fast stop >/dev/null 2>&1
	done
	if [ -d "$out/logs" ]; then
		for port in $STANDBY_PORTS; do
			[ -f "$tmp/standby$port/pg.log" ] &&
			    tail -n 5000 "$tmp/standby$port/pg.log" >"$out/logs/standby$port.log"
		done
		[ -f "$tmp/rep/dbmd.log" ] && tail -n 5000 "$tmp/rep/dbmd.log" >"$out/logs/dbmd-replicas.log"
	fi
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL, as the harness starts it: Unix socket only, no fsync. ---
say "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') in $tmp"
$runas "$pgbin/initdb" -D "$tmp/pgdata" -U postgres -A trust --no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; die "initdb failed"; }
$runas "$pgbin/pg_ctl" -D "$tmp/pgdata" -l "$tmp/pgdata/pg.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $tmp/pg -p $PGPORT -c fsync=off -c max_connections=300" \
    >"$tmp/pg_ctl.log" 2>&1 || { cat "$tmp/pg_ctl.log" "$tmp/pgdata/pg.log" >&2; die "PostgreSQL did not start"; }
$runas "$pgbin/createdb" -h "$tmp/pg" -p $PGPORT -U postgres bench || die "createdb failed"
$runas "$pgbin/pgbench" -i -s 1 -q -h "$tmp/pg" -p $PGPORT -U postgres bench >"$tmp/pgbench.log" 2>&1 ||
	{ cat "$tmp/pgbench.log" >&2; die "pgbench -i failed"; }
# The Python fetchall reads this table whole: an int, a 32-byte text, a float and a
# timestamp with microseconds per row, the same values in every run (setseed).
$runas "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp/pg" -p $PGPORT -U postgres -d bench \
    >"$tmp/fetch.log" 2>&1 <<EOF || { cat "$tmp/fetch.log" >&2; die "cannot make bench_fetch"; }
SELECT setseed(0.5);
CREATE TABLE bench_fetch AS
    SELECT i AS id, md5(i::text) AS txt, random() AS val,
        timestamp '2024-01-01' - random() * interval '365 days' AS ts
    FROM generate_series(1, $FETCH_ROWS) AS i;
VACUUM ANALYZE bench_fetch;
CREATE TABLE bench_ryw (id bigserial PRIMARY KEY, v text NOT NULL);
EOF

# --- PgBouncer: transaction pooling, the same pool size, Unix socket only. ---
cat >"$tmp/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=$tmp/pg port=$PGPORT dbname=bench user=postgres

[pgbouncer]
listen_addr =
listen_port = $PGBPORT
unix_socket_dir = $tmp/pgbouncer
auth_type = trust
auth_file = $tmp/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = $POOL
min_pool_size = $POOL
max_client_conn = $((IDLE + 200))
logfile = $tmp/pgbouncer/pgbouncer.log
pidfile = $tmp/pgbouncer/pgbouncer.pid
EOF
echo '"postgres" ""' >"$tmp/pgbouncer/userlist.txt"
[ -n "$runas" ] && chown "$asuser" "$tmp/pgbouncer/pgbouncer.ini" "$tmp/pgbouncer/userlist.txt"
# runuser's PAM session resets the descriptor limit: raise it again inside.
$runas sh -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"' \
    "$pgbouncer" -d "$tmp/pgbouncer/pgbouncer.ini" >"$tmp/pgbouncer/start.log" 2>&1 ||
	{ cat "$tmp/pgbouncer/start.log" "$tmp/pgbouncer/pgbouncer.log" >&2; die "pgbouncer did not start"; }
i=0
while [ ! -S "$tmp/pgbouncer/.s.PGSQL.$PGBPORT" ] || [ ! -s "$tmp/pgbouncer/pgbouncer.pid" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$tmp/pgbouncer/pgbouncer.log" >&2; die "pgbouncer did not start"; }
	sleep 0.1
done
pgb_pid=$(cat "$tmp/pgbouncer/pgbouncer.pid")

# --- dbmd: production on the same PostgreSQL, sqlitebench on a SQLite file. ---
"$bench" sqlite-init "$tmp/dbmd/bench.db" $ACCOUNTS || die "cannot make the SQLite database"
# start_dbmd BINARY DIR [--set ...]: a dbmd with the benchmark's settings (and those
# given), in DIR; sets $started_pid.
start_dbmd() {
	sd_bin=$1 sd_dir=$2
	shift 2
	"$sd_bin" -s "$sd_dir/dbmd.sock" \
	    --set daemon.state_dir="$sd_dir/state" \
	    --set daemon.max_clients=$((IDLE + 200)) \
	    --set daemon.max_clients_per_uid=$((IDLE + 200)) \
	    --set "production.uri=postgresql://postgres@/bench?host=$tmp/pg&port=$PGPORT" \
	    --set production.pool_size=$POOL \
	    --set production.min_idle=$POOL \
	    --set production.noreset.session_reset=false \
	    --set production.noreset.pool_size=$POOL \
	    --set production.noreset.min_idle=$POOL \
	    --set "sqlitebench.uri=sqlite:$tmp/dbmd/bench.db" \
	    "$@" 2>"$sd_dir/dbmd.log" &
	started_pid=$!
	i=0
	# The dbmctl of the same build: it speaks that dbmd's protocol.
	ctl=$(dirname "$sd_bin")/dbmctl
	[ -x "$ctl" ] || ctl=$B/dbmctl
	while ! "$ctl" -s "$sd_dir/dbmd.sock" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$started_pid" 2>/dev/null; then
			kill -TERM "$started_pid" 2>/dev/null && wait "$started_pid" 2>/dev/null
			cat "$sd_dir/dbmd.log" >&2
			die "$sd_bin did not start"
		fi
		sleep 0.1
	done
}

# --- The replica rows' servers: two streaming standbys of the PostgreSQL, made with
# pg_basebackup -R as tests/pg_cluster.sh makes them, on ports 5433 and 5434 in its
# socket directory, with the primary's options; and a dbmd of their own (this build's),
# so that the other rows run without them.  Its environments, on the same database:
#   rep:  primary (the PostgreSQL); one_server, read_only on the PostgreSQL alone;
#         standbys, read_only on all three with target_session_attrs=prefer-standby.
#   ryw:  primary, and standbys as rep's with read_your_writes.  An environment of its
#         own: a read_your_writes role makes its environment's writing pools learn the
#         primary's WAL position after every write, which rep's primary must not pay.
# Every role has the benchmark's pool size, warm (min_idle); application_name keeps
# the two primaries' pools apart (dbmd shares a pool between equal settings). ---
replicas_start() {
	say "replicas: two standbys (ports $STANDBY_PORTS) and their dbmd"
	for port in $STANDBY_PORTS; do
		mkdir "$tmp/standby$port" && chmod 700 "$tmp/standby$port"
		[ -n "$runas" ] && chown "$asuser" "$tmp/standby$port"
		$runas "$pgbin/pg_basebackup" -D "$tmp/standby$port" -h "$tmp/pg" -p $PGPORT \
		    -U postgres -R -X stream -c fast --no-sync >"$tmp/basebackup$port.log" 2>&1 ||
			{ cat "$tmp/basebackup$port.log" >&2; die "pg_basebackup for port $port failed"; }
		$runas "$pgbin/pg_ctl" -D "$tmp/standby$port" -l "$tmp/standby$port/pg.log" -w -t 60 start \
		    -o "-c listen_addresses='' -k $tmp/pg -p $port -c fsync=off -c max_connections=300" \
		    >"$tmp/pg_ctl$port.log" 2>&1 ||
			{ cat "$tmp/pg_ctl$port.log" "$tmp/standby$port/pg.log" >&2; die "standby $port did not start"; }
	done
	i=0
	while [ "$($runas "$pgbin/psql" -X -A -t -h "$tmp/pg" -p $PGPORT -U postgres -d bench -c \
	    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>&1)" != 2 ]; do
		i=$((i + 1))
		[ $i -gt 600 ] && die "the standbys are not streaming after 60 s"
		sleep 0.1
	done
	one="postgresql://postgres@/bench?host=$tmp/pg&port=$PGPORT"
	three="postgresql://postgres@/bench?host=$tmp/pg,$tmp/pg,$tmp/pg&port=$PGPORT,$(echo $STANDBY_PORTS | tr ' ' ,)&target_session_attrs=prefer-standby"
	mkdir "$tmp/rep"
	start_dbmd "$B/dbmd" "$tmp/rep" \
	    --set "rep.uri=$one&application_name=bench_rep" \
	    --set rep.pool_size=$POOL --set rep.min_idle=$POOL \
	    --set "rep.one_server.uri=$one&application_name=bench_rep" \
	    --set rep.one_server.read_only=true \
	    --set "rep.standbys.uri=$three&application_name=bench_rep" \
	    --set rep.standbys.read_only=true \
	    --set "ryw.uri=$one&application_name=bench_ryw" \
	    --set ryw.pool_size=$POOL --set ryw.min_idle=$POOL \
	    --set "ryw.standbys.uri=$three&application_name=bench_ryw" \
	    --set ryw.standbys.read_only=true --set ryw.standbys.read_your_writes=true
	rep_pid=$started_pid
	# Each pool opened once, then a second for the first check of its servers to answer,
	# as in a dbmd that has been running: connections a pool opens before that answer
	# land where libpq finds a standby, the first of the list twice as often as the
	# second, and are not spread again while they are busy.
	for er in rep/primary rep/one_server rep/standbys ryw/primary ryw/standbys; do
		"$B/dbmctl" -s "$tmp/rep/dbmd.sock" sql -e "${er%/*}" -r "${er#*/}" 'SELECT 1' \
		    >/dev/null || die "cannot reach $er through the replicas' dbmd"
	done
	sleep 1
}
start_dbmd "$B/dbmd" "$tmp/dbmd"
dbmd_pid=$started_pid
# The baseline: another build's dbmd, measured in the same rounds as this one.
base=
if [ -n "${BENCH_BASELINE:-}" ]; then
	mkdir "$tmp/base"
	start_dbmd "$BENCH_BASELINE" "$tmp/base"
	base_pid=$started_pid
	base=$(cd "$(dirname "$BENCH_BASELINE")/.." && git rev-parse --short HEAD 2>/dev/null)
	base_bench=$(dirname "$BENCH_BASELINE")/bench
	[ -x "$base_bench" ] || base_bench=$bench
	say "baseline: $BENCH_BASELINE (${base:-unknown commit})"
fi
# The pgbench rows reach dbmd by its PostgreSQL-protocol front door; a baseline built
# before it has none, and its pgbench cells are shown as skipped.
base_fd_skip=
if [ -n "${BENCH_BASELINE:-}" ] && [ ! -S "$tmp/base/.s.PGSQL.$FDPORT" ]; then
	base_fd_skip="the baseline dbmd (${base:-unknown commit}) has no PostgreSQL-protocol front door (no .s.PGSQL.$FDPORT beside its socket)"
	say "pgbench rows of the baseline skipped: $base_fd_skip"
fi

direct="host=$tmp/pg port=$PGPORT dbname=bench user=postgres connect_timeout=10"
viapgb="host=$tmp/pgbouncer port=$PGBPORT dbname=bench user=postgres connect_timeout=10"

# --- Python: Debian's interpreter (never one first on PATH), without the user's site
# directory; dbmclient from the build's python/ (the baseline's from its own), psycopg2
# from python3-psycopg2.  A path whose module is not there is skipped: pyskip holds the
# SKIP lines the report shows in its place. ---
py=/usr/bin/python3
pybench=$(cd "$(dirname "$0")" && pwd)/python_bench.py
have_psycopg2= have_dbmclient= have_base_dbmclient= pyskip=
# skip_py REASON WORKLOAD:PATH...: those Python cells are not measured, for REASON.
skip_py() {
	why=$1; shift
	for wp in "$@"; do
		pyskip="$pyskip$(printf 'SKIP\t%s\t%s\t1\t%s' "${wp%%:*}" "${wp#*:}" "$why")
"
	done
	say "Python rows skipped ($*): $why"
}
if [ ! -x "$py" ]; then
	skip_py "no $py" py-point:psycopg2 py-point:psycopg2-pgbouncer py-point:dbmclient \
	    py-point:dbmclient-manager py-fetchall:psycopg2 py-fetchall:psycopg2-pgbouncer \
	    py-fetchall:dbmclient
else
	if "$py" -s -c 'import psycopg2' 2>/dev/null; then
		have_psycopg2=1
	else
		skip_py "no psycopg2 for $py (apt-get install python3-psycopg2)" py-point:psycopg2 \
		    py-point:psycopg2-pgbouncer py-fetchall:psycopg2 py-fetchall:psycopg2-pgbouncer
	fi
	# The package directory, not just an import that works: an installed dbmclient must
	# not stand in for the build's.  One that is there and does not import fails its cells.
	if [ -d "$B/python/dbmclient" ]; then
		have_dbmclient=1
	else
		skip_py "no dbmclient in $B/python (make python)" py-point:dbmclient \
		    py-point:dbmclient-manager py-fetchall:dbmclient
	fi
	if [ -n "${BENCH_BASELINE:-}" ]; then
		base_python=$(dirname "$BENCH_BASELINE")/python
		if [ -d "$base_python/dbmclient" ]; then
			have_base_dbmclient=1
		else
			skip_py "the baseline has no $base_python/dbmclient" py-point:dbmclient@base \
			    py-point:dbmclient-manager@base py-fetchall:dbmclient@base
		fi
	fi
fi

say "descriptor limits: dbmd $(awk '/open files/ { print $4 }' /proc/$dbmd_pid/limits)," \
    "pgbouncer $(awk '/open files/ { print $4 }' /proc/$pgb_pid/limits)"

# BENCH_SHELL: run that command with the servers up instead of the matrix (profiling).
if [ -n "${BENCH_SHELL:-}" ]; then
	export BENCH_DIRECT="$direct" BENCH_PGBOUNCER="$viapgb" BENCH_DBMD_SOCKET="$tmp/dbmd/dbmd.sock" \
	    BENCH_DBMD_PID=$dbmd_pid BENCH_PGBOUNCER_PID=$pgb_pid BENCH_SQLITE_DB="$tmp/dbmd/bench.db" \
	    BENCH_BASE_SOCKET="$tmp/base/dbmd.sock" BENCH_PYTHON="env PYTHONPATH=$B/python $py -s" \
	    BENCH_PGBENCH_DIRECT="-h $tmp/pg -p $PGPORT -U postgres bench" \
	    BENCH_PGBENCH_PGBOUNCER="-h $tmp/pgbouncer -p $PGBPORT -U postgres bench" \
	    BENCH_PGBENCH_DBMD="-h $tmp/dbmd -p $FDPORT production"
	if [ "$REPLICAS" != 0 ]; then
		replicas_start
		export BENCH_REPLICA_SOCKET="$tmp/rep/dbmd.sock"
	fi
	sh -c "$BENCH_SHELL"
	exit
fi

mkdir -p "$out"
(cd "$out" && rm -rf results.md results.png raw.tsv chart.dat latency.dat logs)
mkdir "$out/logs"
common="-d $DURATION -w $WARMUP -p $POOL -n $ROWS --accounts $ACCOUNTS"
common="$common --direct '$direct' --pgbouncer '$viapgb' --dbmd $tmp/dbmd/dbmd.sock"
common="$common --sqlite-db $tmp/dbmd/bench.db"
raw=$out/raw.tsv
printf '%s' "$pyskip" >"$raw"
pycommon="-d $DURATION -w $WARMUP --accounts $ACCOUNTS --rows $FETCH_ROWS --table bench_fetch"
pycommon="$pycommon --direct '$direct' --pgbouncer '$viapgb' --dbmd $tmp/dbmd/dbmd.sock"
failures=0

# One cell of the matrix: bench [extra options] WORKLOAD PATH; its RESULT line goes to raw.tsv.
# A cell of the baseline (on_base) runs the baseline build's own bench, which speaks its
# dbmd's protocol.  The Python workloads (py-*) run python_bench.py, the baseline's with
# the baseline's own dbmclient.
cell() {
	b=$bench args=$* pypath=$B/python
	case " $* " in
	*" @base "*)
		b=$base_bench
		pypath=${base_python:-}
		args=$(printf '%s\n' "$*" | sed 's/@base //')
		;;
	esac
	case " $args " in
	*" py-"*) run="PYTHONPATH='$pypath' '$py' -s '$pybench' $pycommon $args" ;;
	*) run="\"$b\" $common $args" ;;
	esac
	if ! eval "$run" >>"$raw"; then
		say "FAILED: $*"
		failures=$((failures + 1))
	fi
}

# The cells one ratio compares, in rounds: each round measures every cell once (-r 1)
# after its own warm-up, so that a machine whose speed drifts (a VM's neighbours, CPU
# frequency) shifts every path of the ratio alike.  The report takes the median round.
group() {
	round=1
	while [ $round -le "$REPS" ]; do
		for c in "$@"; do [ -n "$c" ] && cell -r 1 $c; done
		round=$((round + 1))
	done
}

# on_base ARGS: the same cell on the baseline dbmd, when there is one; its path is the
# cell's own with "@base" after it (dbmd@base, dbmd-sqlite@base).
on_base() {
	[ -n "${BENCH_BASELINE:-}" ] || return 0
	echo "@base --dbmd $tmp/base/dbmd.sock --label ${*##* }@base $*"
}

say "matrix: $REPS rounds of ${DURATION}s after a ${WARMUP}s warm-up per cell, pool $POOL"
# dbmd/noreset: the same pool settings with session_reset off, the cost of the reset.
group "-c 1 select1 direct" "-c 1 select1 pgbouncer" "-c 1 select1 dbmd" \
    "-c 1 --role noreset select1 dbmd" "-c 1 select1 connect-per-query" \
    "$(on_base "-c 1 select1 dbmd")"
for c in 8 64; do
	group "-c $c select1 direct" "-c $c select1 pgbouncer" "-c $c select1 dbmd" \
	    "-c $c --role noreset select1 dbmd" "$(on_base "-c $c select1 dbmd")"
done
group "-c 1 point direct" "-c 1 point pgbouncer" "-c 1 point dbmd" \
    "-c 1 --role noreset point dbmd" "$(on_base "-c 1 point dbmd")"
group "-c 8 point direct" "-c 8 point pgbouncer" "-c 8 point dbmd" \
    "-c 8 --role noreset point dbmd" "$(on_base "-c 8 point dbmd")"
group "-c 1 open-dispose direct" "-c 1 open-dispose pgbouncer" "-c 1 open-dispose dbmd" \
    "$(on_base "-c 1 open-dispose dbmd")"
group "-c 1 point dbmd-sqlite" "-c 1 point echo" "-c 1 point sqlite" \
    "$(on_base "-c 1 point dbmd-sqlite")"
group "-c 1 ping dbmd" "-c 1 cached dbmd" "-c 1 cached-miss dbmd" \
    "$(on_base "-c 1 cached dbmd")"
# The stream whole, then in pieces (libpq's single-row mode against row_chunk); both
# report the client's peak memory beside dbmd's.
group "-c 1 stream direct" "-c 1 --pid $dbmd_pid stream dbmd" \
    "-c 1 stream-chunk direct" "-c 1 --pid $dbmd_pid stream-chunk dbmd"
# Python, one client: dbmclient (DB-API cursor and the manager) beside psycopg2 direct and
# through PgBouncer; then fetchall of bench_fetch.
group "${have_psycopg2:+py-point psycopg2}" "${have_psycopg2:+py-point psycopg2-pgbouncer}" \
    "${have_dbmclient:+py-point dbmclient}" "${have_dbmclient:+py-point dbmclient-manager}" \
    "${have_base_dbmclient:+$(on_base "py-point dbmclient")}" \
    "${have_base_dbmclient:+$(on_base "py-point dbmclient-manager")}"
group "${have_psycopg2:+py-fetchall psycopg2}" "${have_psycopg2:+py-fetchall psycopg2-pgbouncer}" \
    "${have_dbmclient:+py-fetchall dbmclient}" \
    "${have_base_dbmclient:+$(on_base "py-fetchall dbmclient")}"
say "idle clients: $IDLE to each server"
for p in dbmd pgbouncer; do
	pid=$dbmd_pid
	[ $p = pgbouncer ] && pid=$pgb_pid
	if ! "$bench" -n "$IDLE" --pid "$pid" --dbmd "$tmp/dbmd/dbmd.sock" --pgbouncer "$viapgb" \
	    memprobe $p >>"$raw"; then
		say "FAILED: memprobe $p"
		failures=$((failures + 1))
	fi
done

# --- Replicas: the read-scaling row and what read-your-writes costs, on two standbys
# made for them and a dbmd of their own (replicas_start), all stopped after them: the
# pgbench rows after them run on the PostgreSQL alone, as before. ---
if [ "$REPLICAS" != 0 ]; then
	replicas_start
	rsock=$tmp/rep/dbmd.sock
	say "replicas: point select at $RCLIENTS clients through a read_only role, one server then" \
	    "three with prefer-standby; write-read at 1 client, read_your_writes off then on"
	group "-c $RCLIENTS --dbmd $rsock --env rep --role one_server --label ro-primary point dbmd" \
	    "-c $RCLIENTS --dbmd $rsock --env rep --role standbys --label ro-standbys point dbmd"
	# Where the standbys role's statements ran (its servers in the status), warm-ups
	# included: HOSTS label host server connections statements.
	json=$("$B/dbmctl" -s "$rsock" --json status)
	hash=$(printf '%s\n' "$json" | sed -n 's/.*"hash":"\([0-9a-f]*\)","names":"rep\/standbys".*/\1/p')
	printf '%s\n' "$json" | tr '{' '\n' | grep "^\"hash\":\"$hash\",\"host\":" | sed \
	    's/.*"host":"[^"]*:\([0-9]*\)","server":"\([^"]*\)".*"connections":"\([0-9]*\)","statements":"\([0-9]*\)".*/HOSTS	ro-standbys	\1	\2	\3	\4/' \
	    >>"$raw"
	group "-c 1 --dbmd $rsock --env rep --role standbys --label ryw-off write-read dbmd" \
	    "-c 1 --dbmd $rsock --env ryw --role standbys --label ryw-on write-read dbmd"
	replicas_stop
else
	for c in "point	ro-primary	$RCLIENTS" "point	ro-standbys	$RCLIENTS" \
	    "write-read	ryw-off	1" "write-read	ryw-on	1"; do
		printf 'SKIP\t%s\tBENCH_REPLICAS=0\n' "$c" >>"$raw"
	done
fi

# --- pgbench: PostgreSQL's own client through dbmd's front door, beside PgBouncer and
# direct.  Last: the TPC-B-like script writes to the tables the point selects read. ---
# One pgbench run: pgcell SCRIPT MODE CLIENTS PATH ROUND appends a PGBENCH line to raw.tsv
# (status ok, failed or unsupported; TPS, latency average in ms, transactions, failed
# transactions, aborted clients, the first error) and pgbench's output to logs/pgbench.log.
pgbench=$pgbin/pgbench
pgbunsupported=
pgcell() {
	script=$1 mode=$2 nc=$3 path=$4 round=$5
	case $path in
	direct) conn="-h $tmp/pg -p $PGPORT -U postgres bench" ;;
	pgbouncer) conn="-h $tmp/pgbouncer -p $PGBPORT -U postgres bench" ;;
	dbmd) conn="-h $tmp/dbmd -p $FDPORT production" ;;
	dbmd@base) conn="-h $tmp/base -p $FDPORT production" ;;
	esac
	sopt=
	[ "$script" = select-only ] && sopt=-S
	if [ "$script" = tpcb ]; then
		# What pgbench does before a run unless -n, here for every path alike and
		# directly: the updated tables vacuumed, the history emptied.
		"$pgbin/psql" -X -q -h "$tmp/pg" -p $PGPORT -U postgres -d bench \
		    -c "SET lock_timeout = '10s'" -c 'VACUUM pgbench_branches, pgbench_tellers' \
		    -c 'TRUNCATE pgbench_history' >>"$out/logs/pgbench.log" 2>&1
	fi
	# -n: no vacuum of its own (above); -j 2 (pgbench uses no more threads than clients).
	timeout $((PGB_DURATION + 120)) "$pgbench" -n $sopt -M "$mode" -c "$nc" -j 2 \
	    -T "$PGB_DURATION" $conn >"$tmp/pgbench.out" 2>&1 </dev/null
	rc=$?
	{
		printf '=== pgbench -n %s -M %s -c %s -j 2 -T %s (%s, round %s): exit %s\n' \
		    "${sopt:-(TPC-B)}" "$mode" "$nc" "$PGB_DURATION" "$path" "$round" "$rc"
		cat "$tmp/pgbench.out"
	} >>"$out/logs/pgbench.log"
	line=$(awk -v rc="$rc" -v s="$script" -v m="$mode" -v p="$path" -v c="$nc" '
	/^tps = / { tps = $3 }
	/^latency average = / { lat = $4 }
	/^number of transactions actually processed: / { split($6, x, "/"); done = x[1] }
	/^number of failed transactions: / { failed = $5 }
	/aborted in command/ { aborted++ }
	/Run was aborted/ { runaborted = 1 }
	/error: / && why == "" { why = $0; sub(/^pgbench: error: /, "", why); gsub(/[ \t]+/, " ", why) }
	END {
		ok = rc == 0 && tps != "" && !runaborted && aborted == 0
		if (!ok && why == "") why = rc == 124 ? "timed out" : "exit " rc
		printf "PGBENCH\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s, m, p, c,
		    ok ? "ok" : "failed", tps != "" ? tps : "-", lat != "" ? lat : "-",
		    done != "" ? done : 0, failed != "" ? failed : 0, aborted, ok ? "-" : why
	}' "$tmp/pgbench.out")
	# PgBouncer in transaction pooling has no protocol-level prepared statements (1.21
	# added them): -M prepared through it fails, and that is its figure, not the bench's.
	case $path/$mode/$line in
	pgbouncer/prepared/*"	failed	"*"prepared statement"*)
		line=$(printf '%s\n' "$line" | sed 's/\tfailed\t/\tunsupported\t/')
		pgbunsupported="$pgbunsupported $script/$mode/$nc"
		;;
	*/*/*"	failed	"*)
		say "FAILED: pgbench $script -M $mode -c $nc $path: ${line##*	}"
		failures=$((failures + 1))
		;;
	esac
	printf '%s\n' "$line" >>"$raw"
}
# The cells of one script, mode and number of clients, in rounds like the other rows.  A
# PgBouncer cell found unsupported is not run again; the baseline's cells without a front
# door are skipped.
pggroup() {
	round=1
	while [ "$round" -le "$PGB_REPS" ]; do
		for p in direct pgbouncer dbmd ${BENCH_BASELINE:+dbmd@base}; do
			case "$p $pgbunsupported " in
			"pgbouncer "*" $1/$2/$3 "*) continue ;;
			esac
			if [ "$p" = dbmd@base ] && [ -n "$base_fd_skip" ]; then
				[ "$round" = 1 ] && printf 'PGBENCH\t%s\t%s\t%s\t%s\tskipped\t-\t-\t0\t0\t0\t%s\n' \
				    "$1" "$2" "$p" "$3" "$base_fd_skip" >>"$raw"
				continue
			fi
			pgcell "$1" "$2" "$3" "$p" "$round"
		done
		round=$((round + 1))
	done
}
if [ "$PGB_REPS" -gt 0 ]; then
	say "pgbench: $PGB_REPS rounds of ${PGB_DURATION}s per cell, -S and TPC-B, -M simple and prepared, 1, 8, 64 clients"
	for script in select-only tpcb; do
		for mode in simple prepared; do
			for c in 1 8 64; do
				pggroup $script $mode $c
			done
		done
	done
fi

# --- The machine, for the report. ---
pgver=$("$pgbin/postgres" --version | awk '{print $3}')
pgbver=$("$pgbouncer" --version 2>/dev/null | head -1 | awk '{print $2}')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
machine="$(nproc) CPUs ($cpu), $mem, Linux $(uname -r), PostgreSQL $pgver, PgBouncer $pgbver, dbmd $commit"
[ -x "$py" ] && machine="$machine, $("$py" --version 2>&1)$([ -n "$have_psycopg2" ] &&
    "$py" -s -c 'import psycopg2; print(", psycopg2", psycopg2.__version__.split()[0])')"

# Stop the servers before writing the report: the measurements are done.
cleanup
trap - EXIT
elapsed=$(( $(date +%s) - started ))

# --- The report: results.md and the data of the chart. ---
awk -F '\t' -v machine="$machine" -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" -v basecommit="$base" \
    -v setup="$REPS rounds of ${DURATION}s per cell after a ${WARMUP}s warm-up; medians; pool size $POOL; $ROWS rows streamed; $IDLE idle clients; pgbench: $PGB_REPS rounds of ${PGB_DURATION}s per cell" \
    -v elapsed="$elapsed" -v chart="$out/chart.dat" -v chart2="$out/latency.dat" \
    -v pgbver="$pgbver" -v pgbdur="$PGB_DURATION" '
function have(k) { return (k in P50) }
function f(x) { return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x) }
function ms(us) { return sprintf(us >= 1000 ? "%.2f ms" : "%.1f µs", us >= 1000 ? us / 1000 : us) }
function kops(t) { return sprintf("%.0f/s", t) }
# A client peak RSS growth cell: over the RSS before the cell, and the peak itself.
function cmem(k) {
	return sprintf("%.1f MiB (peak %.1f MiB%s; ru_maxrss %.1f MiB)", X[k, "client_growth_kb"] / 1024,
	    X[k, "client_peak_kb"] / 1024, X[k, "client_hwm_reset"] == "yes" ? ", VmHWM reset before" : "",
	    X[k, "client_maxrss_kb"] / 1024)
}
function row(name, path, metric, value, ratio, target, met) {
	printf "| %s | %s | %s | %s | %s | %s | %s |\n", name, path, metric, value, ratio, target, met
}
function verdict(ok) { if (ok) { return "met" } else { nunmet++; return "**not met**" } }
# A Python cell that can be shown: measured; otherwise its row says skipped (and why) or
# failed, with "skipped" as the verdict of a target it carries.
# A Python figure: the p50, and the CPU time of the client per operation beside it.
function pyv(k) { return ms(P50[k]) (X[k, "client_cpu_us"] != "" ? " (client CPU " ms(X[k, "client_cpu_us"]) ")" : "") }
function pyhave(name, wl, path, label, metric, target,    k) {
	k = wl SUBSEP path SUBSEP 1
	if (have(k)) return 1
	if (k in SKIP) { nskip++; row(name, label, metric, "skipped: " SKIP[k], "", target, target != "" ? "skipped" : "") }
	else row(name, label, metric, "failed", "", target, target != "" ? verdict(0) : "")
	return 0
}
# A latency row: every path of one workload and client count, ratio to direct.
function latrows(name, wl, c, paths,    n, i, k, base, pp) {
	n = split(paths, pp, " ")
	base = wl SUBSEP "direct" SUBSEP c
	for (i = 1; i <= n; i++) {
		k = wl SUBSEP pp[i] SUBSEP c
		if (!have(k)) { row(name, pp[i], "p50 latency", "failed", "", "", ""); continue }
		row(name, pp[i], "p50 latency", ms(P50[k]),
		    have(base) ? f(P50[k] / P50[base]) "×" : "", "", "")
	}
}
function tputrows(name, wl, c, label,    k, base, pgb, i, tg, met, pp) {
	base = wl SUBSEP "direct" SUBSEP c
	pgb = wl SUBSEP "pgbouncer" SUBSEP c
	split("direct pgbouncer dbmd", pp, " ")
	for (i = 1; i <= 3; i++) {
		k = wl SUBSEP pp[i] SUBSEP c
		if (!have(k)) { row(name, pp[i], "throughput", "failed", "", "", ""); continue }
		tg = ""; met = ""
		if (pp[i] == "dbmd" && have(pgb)) {
			tg = "≥ PgBouncer"; met = verdict(TPUT[k] >= TPUT[pgb])
			printf "\"%s\"\t%.3f\t1\n", label, TPUT[pgb] / TPUT[k] > chart
		}
		row(name, pp[i], "throughput", kops(TPUT[k]),
		    have(base) ? f(TPUT[k] / TPUT[base]) "×" : "", tg, met)
	}
}
# pgbench cells: SCRIPT MODE PATH CLIENTS.  A cell counts as measured when every round of
# it ran clean (exit 0, no client aborted); its figures are the medians of its rounds.
function pgk(s, m, p, c) { return s SUBSEP m SUBSEP p SUBSEP c }
function pgok(k) { return (k in PGN) && PGOK[k] == PGN[k] }
function pgname(s, m, c) {
	return sprintf("pgbench %s -M %s, %d client%s", s == "select-only" ? "-S" : "TPC-B", m, c, c == 1 ? "" : "s")
}
function pgmetric(c) { return c == 1 ? "latency average; TPS; failed transactions" : "TPS; failed transactions" }
function pgval(k, c,    v) {
	if (k in PGSKIP) return "skipped: " PGSKIP[k]
	if (!(k in PGN)) return "not run"
	if (!pgok(k)) {
		v = (PGST[k] == "unsupported" ? "unsupported: " : "failed: ") PGWHY[k]
		v = v sprintf(" (failed in round %d of %d%s%s", PGRND[k], PGN[k], PGOK[k] > 0 ? sprintf(", %d clean", PGOK[k]) : "",
		    PGAB[k] > 0 ? sprintf("; %d of %d clients aborted", PGAB[k], c) : "")
		if (PGST[k] == "unsupported")
			v = v "; PgBouncer " pgbver " in transaction pooling keeps no protocol-level prepared statements, so a transaction meets a server connection that lacks them or has another client'"'"'s"
		return v ")"
	}
	v = sprintf("%.0f tps; %d failed", PGTPS[k], PGFAIL[k])
	return c == 1 ? sprintf("%.3f ms; ", PGLAT[k]) v : v
}
# The figure a ratio compares: the latency average at one client, else the TPS.
function pgfig(k, c) { return c == 1 ? PGLAT[k] : PGTPS[k] }
# Rounds of one cell: the median of each figure (the CPU time of the client too), the worst of
# the memory and hit rate.
function med(A, k, n,    i, j, t, v) {
	for (i = 1; i <= n; i++) v[i] = A[k, i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
$1 == "RESULT" {
	k = $2 SUBSEP $3 SUBSEP $4
	if (!(k in R)) { order[++nres] = k; LO[k] = $6; HI[k] = $6 }
	c = ++R[k]
	RT[k, c] = $5; R50[k, c] = $6; R99[k, c] = $7; RM[k, c] = $8; N[k] += $9
	if ($6 < LO[k]) LO[k] = $6
	if ($6 > HI[k]) HI[k] = $6
	split($11, kv, " ")
	for (j in kv) {
		split(kv[j], kvp, "=")
		if (kvp[1] == "hit_pct") { if (!((k, "hit_pct") in X) || kvp[2] < X[k, "hit_pct"]) X[k, "hit_pct"] = kvp[2] }
		else if (kvp[1] == "client_cpu_us") CPU[k, c] = kvp[2]
		else if (kvp[1] == "stale") STALE[k] += kvp[2]
		else if (kvp[1] == "write_mean_us") WR[k, c] = kvp[2]
		else X[k, kvp[1]] = kvp[2]
	}
	if ((k, "server_hwm_kb") in X) {
		g = X[k, "server_hwm_kb"] - X[k, "server_rss_before_kb"]
		if (!((k, "growth_kb") in X) || g > X[k, "growth_kb"]) { X[k, "growth_kb"] = g; X[k, "peak_kb"] = X[k, "server_hwm_kb"] }
	}
	# The peak of the client itself over its resident set before the cell, worst round.
	if ((k, "client_hwm_kb") in X) {
		g = X[k, "client_hwm_kb"] - X[k, "client_rss_before_kb"]
		if (!((k, "client_growth_kb") in X) || g > X[k, "client_growth_kb"]) { X[k, "client_growth_kb"] = g; X[k, "client_peak_kb"] = X[k, "client_hwm_kb"] }
	}
}
# A cell that was not measured, and why (a Python module missing).
$1 == "SKIP" { SKIP[$2 SUBSEP $3 SUBSEP $4] = $5 }
$1 == "MEMPROBE" { MEMN[$2] = $3; MEMB[$2] = $4; MEMA[$2] = $5; MEMPER[$2] = $6; MEMNOTE[$2] = $7 }
# The servers of the read-scaling row'"'"'s standbys role: label host server connections statements.
$1 == "HOSTS" { nh++; HP[nh] = $3; HS[nh] = $4; HC[nh] = $5; HN[nh] = $6; HTOT += $6 }
# pgbench, one line per run: PGBENCH script mode path clients status tps latency_ms
# transactions failed aborted why.
$1 == "PGBENCH" {
	k = pgk($2, $3, $4, $5)
	if (!((k in PGN) || (k in PGSKIP))) pgorder[++npg] = k
	if ($6 == "skipped") { PGSKIP[k] = $12; next }
	n = ++PGN[k]; PGXACT[k] += $9; PGFAIL[k] += $10
	if ($6 == "ok") {
		m = ++PGOK[k]; PGT[k, m] = $7; PGL[k, m] = $8
		if (m == 1 || $7 < PGLO[k]) PGLO[k] = $7
		if (m == 1 || $7 > PGHI[k]) PGHI[k] = $7
	} else if (!(k in PGST)) {
		# The first round that did not run clean says why.
		why = $12; gsub(/\|/, "\\|", why)
		PGST[k] = $6; PGWHY[k] = why; PGAB[k] = $11; PGRND[k] = n
	}
}
END {
	for (i = 1; i <= nres; i++) {
		k = order[i]
		TPUT[k] = med(RT, k, R[k]); P50[k] = med(R50, k, R[k])
		P99[k] = med(R99, k, R[k]); MEAN[k] = med(RM, k, R[k])
		if ((k, 1) in CPU) X[k, "client_cpu_us"] = med(CPU, k, R[k])
		if ((k, 1) in WR) X[k, "write_mean_us"] = med(WR, k, R[k])
	}
	for (i = 1; i <= npg; i++) {
		k = pgorder[i]
		if (PGOK[k] > 0) { PGTPS[k] = med(PGT, k, PGOK[k]); PGLAT[k] = med(PGL, k, PGOK[k]) }
	}
	printf "# dbmd benchmark\n\n"
	printf "Machine: %s.  \n", machine
	printf "Run: %s; %s; `make bench` took %d s.\n\n", date, setup, elapsed
	printf "Ratios are to direct libpq measured in the same run unless the target says otherwise; "
	printf "each figure is the median of its rounds (each round measures every path of a row once, in turn).\n\n"
	printf "| row | path | metric | value | ratio | target | met? |\n"
	printf "|---|---|---|---|---|---|---|\n"

	k = "select1" SUBSEP "dbmd" SUBSEP 1; base = "select1" SUBSEP "direct" SUBSEP 1
	latrows("SELECT 1, 1 client", "select1", 1, "direct pgbouncer connect-per-query")
	if (have(k) && have(base)) {
		r = P50[k] / P50[base]
		row("SELECT 1, 1 client", "dbmd", "p50 latency", ms(P50[k]), f(r) "×", "≤ 1.25×", verdict(r <= 1.25))
		printf "\"SELECT 1\"\t%.3f\t1\n", r / 1.25 > chart
	} else row("SELECT 1, 1 client", "dbmd", "p50 latency", "failed", "", "≤ 1.25×", verdict(0))
	tputrows("SELECT 1, 8 clients", "select1", 8, "SELECT 1 ×8")
	tputrows("SELECT 1, 64 clients", "select1", 64, "SELECT 1 ×64")
	latrows("point select, 1 client", "point", 1, "direct pgbouncer dbmd")
	tputrows("point select, 8 clients", "point", 8, "point ×8")
	# What the session reset costs: the same pool with session_reset off (dbmd/noreset).
	nrr = split("select1 1 p50;select1 8 tput;select1 64 tput;point 1 p50;point 8 tput", RR, ";")
	for (i = 1; i <= nrr; i++) {
		split(RR[i], q, " ")
		k = q[1] SUBSEP "dbmd" SUBSEP q[2]; nk = q[1] SUBSEP "dbmd/noreset" SUBSEP q[2]
		if (!have(k) || !have(nk)) continue
		name = "session reset: " (q[1] == "point" ? "point select" : "SELECT 1") ", " q[2] " client" (q[2] == 1 ? "" : "s")
		if (q[3] == "p50")
			row(name, "dbmd, session_reset off", "p50 latency", ms(P50[nk]), "reset: " f(P50[k] / P50[nk]) "×", "", "")
		else
			row(name, "dbmd, session_reset off", "throughput", kops(TPUT[nk]), "reset: " f(TPUT[k] / TPUT[nk]) "×", "", "")
	}

	k = "open-dispose" SUBSEP "dbmd" SUBSEP 1; base = "open-dispose" SUBSEP "direct" SUBSEP 1
	if (have(base)) row("open + dispose", "direct", "connect + close", ms(P50[base]), "1×", "", "")
	pk = "open-dispose" SUBSEP "pgbouncer" SUBSEP 1
	if (have(pk)) row("open + dispose", "pgbouncer", "connect + close", ms(P50[pk]), have(base) ? f(P50[pk] / P50[base]) "×" : "", "", "")
	if (have(k) && have(base)) {
		r = P50[k] / P50[base]
		row("open + dispose", "dbmd", "dbm_open + dbm_dispose", ms(P50[k]), sprintf("1/%.0f", 1 / r), "≤ 1/50", verdict(r <= 0.02))
		printf "\"open+dispose\"\t%.3f\t1\n", r / 0.02 > chart
	} else row("open + dispose", "dbmd", "dbm_open + dbm_dispose", "failed", "", "≤ 1/50", verdict(0))

	k = "point" SUBSEP "dbmd-sqlite" SUBSEP 1; e = "point" SUBSEP "echo" SUBSEP 1; s = "point" SUBSEP "sqlite" SUBSEP 1
	if (have(e)) row("SQLite point select", "socket round trip", "p50 latency", ms(P50[e]), "", "", "")
	if (have(s)) row("SQLite point select", "SQLite in process", "p50 latency", ms(P50[s]), "", "", "")
	if (have(k) && have(e) && have(s)) {
		r = P50[k] / (P50[e] + P50[s])
		row("SQLite point select", "dbmd", "p50 latency", ms(P50[k]), f(r) "× (round trip + SQLite)", "≤ 2×", verdict(r <= 2))
		printf "\"SQLite\"\t%.3f\t1\n", r / 2 > chart
	} else row("SQLite point select", "dbmd", "p50 latency", "failed", "", "≤ 2×", verdict(0))

	k = "cached" SUBSEP "dbmd" SUBSEP 1; pk = "ping" SUBSEP "dbmd" SUBSEP 1
	if (have(pk)) row("cache hit", "dbmd ping", "p50 latency", ms(P50[pk]), "", "", "")
	if (have(k) && have(pk)) {
		r = P50[k] / P50[pk]
		row("cache hit", "dbmd", "p50 latency (" X[k, "hit_pct"] "% hits)", ms(P50[k]), f(r) "× ping", "≤ 1.2×", verdict(r <= 1.2 && X[k, "hit_pct"] >= 99))
		printf "\"cache hit\"\t%.3f\t1\n", r / 1.2 > chart
	} else row("cache hit", "dbmd", "p50 latency", "failed", "", "≤ 1.2×", verdict(0))
	# The miss beside the same statement uncached (the 1-client point select on dbmd).
	mk = "cached-miss" SUBSEP "dbmd" SUBSEP 1; uk = "point" SUBSEP "dbmd" SUBSEP 1
	if (have(uk)) row("cache miss", "dbmd, not cacheable", "p50 latency", ms(P50[uk]), "1×", "", "")
	if (have(mk) && have(uk))
		row("cache miss", "dbmd", "p50 latency (" X[mk, "hit_pct"] "% hits)", ms(P50[mk]), f(P50[mk] / P50[uk]) "× uncached", "", "")

	k = "stream" SUBSEP "dbmd" SUBSEP 1; base = "stream" SUBSEP "direct" SUBSEP 1
	name = sprintf("stream %d rows", X[base, "rows"] != "" ? X[base, "rows"] : X[k, "rows"])
	if (have(base)) row(name, "direct", "time", ms(P50[base]), "1×", "", "")
	if (have(k) && have(base)) {
		r = P50[k] / P50[base]
		row(name, "dbmd", "time", ms(P50[k]), f(r) "×", "≤ 1.5×", verdict(r <= 1.5))
		printf "\"stream\"\t%.3f\t1\n", r / 1.5 > chart
		rows = X[k, "rows"]
		# The text the result carries: the digits of 1..rows and a 32-byte filler each.
		bytes = 0; for (d = 1; d <= 10; d++) { lo = 10 ^ (d - 1); hi = 10 ^ d - 1; if (lo > rows) break; if (hi > rows) hi = rows; bytes += (hi - lo + 1) * d }
		bytes += rows * 32
		grow = X[k, "growth_kb"] / 1024
		row(name, "dbmd", "peak RSS growth (VmHWM" (X[k, "hwm_reset"] == "yes" ? " reset before" : "") ", worst round)",
		    sprintf("%.1f MiB (peak %.1f MiB) for %.0f MB of values", grow, X[k, "peak_kb"] / 1024, bytes / 1e6),
		    "", "≤ 16 MiB", verdict(grow <= 16))
	} else row(name, "dbmd", "time", "failed", "", "≤ 1.5×", verdict(0))
	if (have(base)) row(name, "direct", "client peak RSS growth", cmem(base), "", "", "")
	if (have(k)) row(name, "dbmd", "client peak RSS growth", cmem(k), "", "", "")

	# The same rows read in pieces: libpq single-row mode, dbmd row_chunk.
	k = "stream-chunk" SUBSEP "dbmd" SUBSEP 1; base = "stream-chunk" SUBSEP "direct" SUBSEP 1
	chunk = X[k, "chunk"] != "" ? X[k, "chunk"] : X[base, "chunk"]
	name = sprintf("stream %d rows in pieces", X[base, "rows"] != "" ? X[base, "rows"] : X[k, "rows"])
	if (have(base)) {
		row(name, "direct, single-row mode", "time", ms(P50[base]), "1×", "", "")
		row(name, "direct, single-row mode", "client peak RSS growth", cmem(base), "", "", "")
	}
	if (have(k)) {
		row(name, "dbmd, row_chunk " chunk, "time", ms(P50[k]), have(base) ? f(P50[k] / P50[base]) "×" : "", "", "")
		row(name, "dbmd, row_chunk " chunk, "client peak RSS growth", cmem(k), "", "", "")
		row(name, "dbmd, row_chunk " chunk, "dbmd peak RSS growth (VmHWM" (X[k, "hwm_reset"] == "yes" ? " reset before" : "") ", worst round)",
		    sprintf("%.1f MiB (peak %.1f MiB)", X[k, "growth_kb"] / 1024, X[k, "peak_kb"] / 1024), "", "", "")
	} else row(name, "dbmd, row_chunk", "time", "failed", "", "", "")

	# Python, one client (python_bench.py): ratios to psycopg2 direct, the targets to
	# psycopg2 through PgBouncer (point select) and to psycopg2 direct (fetchall).
	name = "Python point select, 1 client"; m = "p50 latency per statement"
	b = "py-point" SUBSEP "psycopg2" SUBSEP 1; pb = "py-point" SUBSEP "psycopg2-pgbouncer" SUBSEP 1
	if (pyhave(name, "py-point", "psycopg2", "psycopg2 direct", m, ""))
		row(name, "psycopg2 direct", m, pyv(b), "1×", "", "")
	if (pyhave(name, "py-point", "psycopg2-pgbouncer", "psycopg2 via PgBouncer", m, ""))
		row(name, "psycopg2 via PgBouncer", m, pyv(pb), have(b) ? f(P50[pb] / P50[b]) "×" : "", "", "")
	k = "py-point" SUBSEP "dbmclient" SUBSEP 1
	if (pyhave(name, "py-point", "dbmclient", "dbmclient cursor", m, "≤ psycopg2 via PgBouncer")) {
		if (have(pb)) {
			r = P50[k] / P50[pb]
			row(name, "dbmclient cursor", m, pyv(k), (have(b) ? f(P50[k] / P50[b]) "×; " : "") f(r) "× PgBouncer",
			    "≤ psycopg2 via PgBouncer", verdict(r <= 1))
			printf "\"py point\"\t%.3f\t1\n", r > chart
		} else row(name, "dbmclient cursor", m, pyv(k), have(b) ? f(P50[k] / P50[b]) "×" : "",
		    "≤ psycopg2 via PgBouncer", verdict(0))
	}
	k = "py-point" SUBSEP "dbmclient-manager" SUBSEP 1
	if (pyhave(name, "py-point", "dbmclient-manager", "dbmclient manager.execute", m, ""))
		row(name, "dbmclient manager.execute", m, pyv(k),
		    (have(b) ? f(P50[k] / P50[b]) "×" : "") (have(pb) ? "; " f(P50[k] / P50[pb]) "× PgBouncer" : ""), "", "")
	b = "py-fetchall" SUBSEP "psycopg2" SUBSEP 1; k = "py-fetchall" SUBSEP "dbmclient" SUBSEP 1
	pk = "py-fetchall" SUBSEP "psycopg2-pgbouncer" SUBSEP 1
	nrows = X[b, "rows"] != "" ? X[b, "rows"] : X[k, "rows"] != "" ? X[k, "rows"] : X[pk, "rows"]
	name = sprintf("Python fetchall, %s rows × 4 columns", nrows != "" ? nrows : "100000"); m = "p50 time per fetchall"
	if (pyhave(name, "py-fetchall", "psycopg2", "psycopg2 direct", m, ""))
		row(name, "psycopg2 direct", m, pyv(b), "1×", "", "")
	if (pyhave(name, "py-fetchall", "psycopg2-pgbouncer", "psycopg2 via PgBouncer", m, ""))
		row(name, "psycopg2 via PgBouncer", m, pyv(pk), have(b) ? f(P50[pk] / P50[b]) "×" : "", "", "")
	if (pyhave(name, "py-fetchall", "dbmclient", "dbmclient cursor", m, "≤ 1.5× psycopg2 direct")) {
		if (have(b)) {
			r = P50[k] / P50[b]
			row(name, "dbmclient cursor", m, pyv(k), f(r) "×", "≤ 1.5× psycopg2 direct", verdict(r <= 1.5))
			printf "\"py fetchall\"\t%.3f\t1\n", r / 1.5 > chart
		} else row(name, "dbmclient cursor", m, pyv(k), "", "≤ 1.5× psycopg2 direct", verdict(0))
	}

	if (("dbmd" in MEMPER) && ("pgbouncer" in MEMPER)) {
		for (i = 1; i <= 2; i++) {
			p = i == 1 ? "pgbouncer" : "dbmd"
			note = MEMNOTE[p] != "-" ? "; " MEMNOTE[p] : ""
			v = sprintf("%.0f bytes (%d clients, RSS %.1f → %.1f MiB%s)", MEMPER[p], MEMN[p], MEMB[p] / 1024, MEMA[p] / 1024, note)
			if (p == "dbmd") {
				r = MEMPER["pgbouncer"] > 0 ? MEMPER["dbmd"] / MEMPER["pgbouncer"] : 0
				row("idle clients", p, "memory per client", v, f(r) "× PgBouncer", "≤ PgBouncer", verdict(MEMPER["dbmd"] <= MEMPER["pgbouncer"] && MEMN["dbmd"] > 0))
				printf "\"idle memory\"\t%.3f\t1\n", r > chart
			} else row("idle clients", p, "memory per client", v, "", "", "")
		}
	} else row("idle clients", "dbmd", "memory per client", "failed", "", "≤ PgBouncer", verdict(0))

	# Replicas (issue 16).  Read scaling: the point select at 16 clients through a
	# read_only role on the primary alone, then on primary and two standbys with
	# prefer-standby; where the second one'"'"'s statements ran.  No target: two cores.
	a = "point" SUBSEP "ro-primary" SUBSEP 16; b = "point" SUBSEP "ro-standbys" SUBSEP 16
	name = "read scaling: point select, 16 clients, read_only role, pool " (X[a, "pool"] != "" ? X[a, "pool"] : X[b, "pool"])
	m = "throughput; p50; p99; mean"
	if (have(a)) row(name, "primary alone", m, kops(TPUT[a]) "; " ms(P50[a]) "; " ms(P99[a]) "; " ms(MEAN[a]), "1×", "", "")
	else row(name, "primary alone", m, (a in SKIP) ? "skipped: " SKIP[a] : "failed", "", "", "")
	if (have(b)) row(name, "primary + 2 standbys, prefer-standby", m, kops(TPUT[b]) "; " ms(P50[b]) "; " ms(P99[b]) "; " ms(MEAN[b]),
	    have(a) ? f(TPUT[b] / TPUT[a]) "×" : "", "", "")
	else row(name, "primary + 2 standbys, prefer-standby", m, (b in SKIP) ? "skipped: " SKIP[b] : "failed", "", "", "")
	if (nh > 0) {
		v = ""
		for (i = 1; i <= nh; i++)
			v = v (i > 1 ? ", " : "") sprintf("%s :%s %d conn. %d (%.0f%%)", HS[i], HP[i], HC[i], HN[i], HTOT > 0 ? 100 * HN[i] / HTOT : 0)
		row(name, "primary + 2 standbys, prefer-standby", "statements per server, warm-ups included; its connections after", v, "", "", "")
	}
	# Read-your-writes: an INSERT through primary, then the SELECT of its row through
	# the standbys role, one client; off beside on.  A stale read with it on is a bug.
	a = "write-read" SUBSEP "ryw-off" SUBSEP 1; b = "write-read" SUBSEP "ryw-on" SUBSEP 1
	name = "read-your-writes: INSERT via primary, then SELECT of that row via a read_only role on 2 standbys, 1 client"
	m = "per pair: mean; p50; p99 (the INSERT alone: mean); stale reads"
	if (have(a)) row(name, "read_your_writes off", m, sprintf("%s; %s; %s (%s); %d of %d (%.1f%%)", ms(MEAN[a]), ms(P50[a]), ms(P99[a]),
	    ms(X[a, "write_mean_us"]), STALE[a], N[a], N[a] > 0 ? 100 * STALE[a] / N[a] : 0), "1×", "", "")
	else row(name, "read_your_writes off", m, (a in SKIP) ? "skipped: " SKIP[a] : "failed", "", "", "")
	if (have(b)) row(name, "read_your_writes on", m, sprintf("%s; %s; %s (%s); %d of %d", ms(MEAN[b]), ms(P50[b]), ms(P99[b]),
	    ms(X[b, "write_mean_us"]), STALE[b], N[b]),
	    have(a) ? sprintf("%s× mean (+%s), p99 +%s", f(MEAN[b] / MEAN[a]), ms(MEAN[b] - MEAN[a]), ms(P99[b] - P99[a])) : "",
	    "0 stale reads", verdict(STALE[b] == 0))
	else row(name, "read_your_writes on", m, (b in SKIP) ? "skipped: " SKIP[b] : "failed", "", "0 stale reads",
	    (b in SKIP) ? "skipped" (nskip++ ? "" : "") : verdict(0))

	# pgbench through dbmd'"'"'s front door beside PgBouncer and direct: at 1 client the
	# latency average <= PgBouncer'"'"'s, at 8 and 64 the TPS >= PgBouncer'"'"'s, and no failed
	# transaction.  Where PgBouncer cannot run the cell there is nothing to compare with.
	for (si = 1; si <= 2; si++) for (mi = 1; mi <= 2; mi++) for (ci = 1; ci <= 3; ci++) {
		sc = si == 1 ? "select-only" : "tpcb"; md = mi == 1 ? "simple" : "prepared"; c = ci == 1 ? 1 : ci == 2 ? 8 : 64
		d = pgk(sc, md, "direct", c); pb = pgk(sc, md, "pgbouncer", c); k = pgk(sc, md, "dbmd", c)
		if (!((d in PGN) || (pb in PGN) || (k in PGN))) continue
		name = pgname(sc, md, c); m = pgmetric(c)
		row(name, "direct", m, pgval(d, c), pgok(d) ? "1×" : "", "", "")
		row(name, "pgbouncer", m, pgval(pb, c), pgok(pb) && pgok(d) ? f(pgfig(pb, c) / pgfig(d, c)) "×" : "", "", "")
		tg = (c == 1 ? "latency ≤ PgBouncer" : "TPS ≥ PgBouncer") ", 0 failed"
		if (!pgok(k)) { row(name, "dbmd", m, pgval(k, c), "", tg, verdict(0)); continue }
		ratio = pgok(d) ? f(pgfig(k, c) / pgfig(d, c)) "×" : ""
		if (pgok(pb)) {
			r = pgfig(k, c) / pgfig(pb, c)
			ratio = ratio (ratio != "" ? "; " : "") f(r) "× PgBouncer"
			met = verdict((c == 1 ? r <= 1 : r >= 1) && PGFAIL[k] == 0)
			printf "\"pgbench %s %s %s\"\t%.3f\t1\n", (sc == "select-only" ? "-S" : "TPC-B"), md, (c == 1 ? "lat" : "×" c), (c == 1 ? r : 1 / r) > chart
		} else {
			# PgBouncer has no figure: the same script in simple mode through it, for reference.
			ps = pgk(sc, "simple", "pgbouncer", c)
			if (md != "simple" && pgok(ps))
				ratio = ratio (ratio != "" ? "; " : "") f(pgfig(k, c) / pgfig(ps, c)) "× PgBouncer -M simple"
			if (PGFAIL[k] == 0) { met = "no PgBouncer figure (0 failed)"; npgna++ }
			else met = verdict(0)
		}
		row(name, "dbmd", m, pgval(k, c), ratio, tg, met)
	}

	# The baseline (BENCH_BASELINE), measured in the same rounds: this build beside it.
	nb = split("select1 dbmd 1 p50;select1 dbmd 8 tput;select1 dbmd 64 tput;point dbmd 1 p50;point dbmd 8 tput;open-dispose dbmd 1 p50;point dbmd-sqlite 1 p50;cached dbmd 1 p50;py-point dbmclient 1 p50;py-point dbmclient-manager 1 p50;py-fetchall dbmclient 1 p50", BB, ";")
	for (i = 1; i <= nb; i++) {
		split(BB[i], q, " ")
		k = q[1] SUBSEP q[2] SUBSEP q[3]; bk = q[1] SUBSEP q[2] "@base" SUBSEP q[3]
		if (have(k) && (bk in SKIP)) {
			row("this build vs " (basecommit != "" ? basecommit : "the baseline") ": " q[1] ", " q[3] " client" (q[3] == 1 ? "" : "s"),
			    q[2], "", "skipped: " SKIP[bk], "", "", "")
			continue
		}
		if (!have(k) || !have(bk)) continue
		name = "this build vs " (basecommit != "" ? basecommit : "the baseline") ": " q[1] ", " q[3] " client" (q[3] == 1 ? "" : "s")
		if (q[4] == "p50")
			row(name, q[2], "p50 latency", ms(P50[k]) " (was " ms(P50[bk]) ")", f(P50[k] / P50[bk]) "×", "", "")
		else
			row(name, q[2], "throughput", kops(TPUT[k]) " (was " kops(TPUT[bk]) ")", f(TPUT[k] / TPUT[bk]) "×", "", "")
	}

	# pgbench on the baseline'"'"'s front door: this build beside it, or one row saying why not.
	bname = "this build vs " (basecommit != "" ? basecommit : "the baseline")
	for (si = 1; si <= 2; si++) for (mi = 1; mi <= 2; mi++) for (ci = 1; ci <= 3; ci++) {
		sc = si == 1 ? "select-only" : "tpcb"; md = mi == 1 ? "simple" : "prepared"; c = ci == 1 ? 1 : ci == 2 ? 8 : 64
		k = pgk(sc, md, "dbmd", c); bk = pgk(sc, md, "dbmd@base", c)
		if (bk in PGSKIP) {
			if (!pgbaseskip++) row(bname ": pgbench", "dbmd", "", "skipped: " PGSKIP[bk], "", "", "")
			continue
		}
		if (!(bk in PGN)) continue
		name = bname ": " pgname(sc, md, c)
		if (!pgok(k) || !pgok(bk)) { row(name, "dbmd", pgmetric(c), pgval(k, c) " (was " pgval(bk, c) ")", "", "", ""); continue }
		row(name, "dbmd", c == 1 ? "latency average" : "TPS",
		    (c == 1 ? sprintf("%.3f ms (was %.3f ms)", PGLAT[k], PGLAT[bk]) : sprintf("%.0f tps (was %.0f tps)", PGTPS[k], PGTPS[bk])),
		    f(pgfig(k, c) / pgfig(bk, c)) "×", "", "")
	}

	printf "\nTargets not met: %d.%s%s\n\n", nunmet, nskip ? sprintf("  Not measured (skipped): %d.", nskip) : "",
	    npgna ? sprintf("  pgbench targets with no PgBouncer figure to compare with: %d.", npgna) : ""
	printf "## Every measurement\n\n"
	printf "| workload | path | clients | ops/s | p50 | p50 range | p99 | mean | operations | rounds |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= nres; i++) {
		k = order[i]; split(k, kk, SUBSEP)
		printf "| %s | %s | %s | %.0f | %s | %s – %s | %s | %s | %d | %d |\n", kk[1], kk[2], kk[3], TPUT[k], ms(P50[k]), ms(LO[k]), ms(HI[k]), ms(P99[k]), ms(MEAN[k]), N[k], R[k]
		if (kk[1] == "select1" && kk[3] == 1 && have("select1" SUBSEP "direct" SUBSEP 1))
			printf "\"%s\"\t%.3f\n", kk[2], P50[k] / P50["select1" SUBSEP "direct" SUBSEP 1] > chart2
	}
	for (p in MEMPER)
		printf "| idle clients | %s | %d | | | | | | RSS %d → %d kB, %.0f bytes each%s | 1 |\n", p, MEMN[p], MEMB[p], MEMA[p], MEMPER[p], MEMNOTE[p] != "-" ? "; " MEMNOTE[p] : ""
	if (npg) {
		printf "\n## pgbench, every cell\n\n"
		printf "pgbench -n -j 2 -T %s, each cell its rounds in turn with the other paths; TPS without the initial connection time.\n\n", pgbdur
		printf "| script | mode | clients | path | TPS | TPS range | latency average | transactions | failed | rounds |\n"
		printf "|---|---|---|---|---|---|---|---|---|---|\n"
		for (i = 1; i <= npg; i++) {
			k = pgorder[i]; split(k, kk, SUBSEP)
			if (k in PGSKIP) continue	# said once in the table above
			sname = kk[1] == "select-only" ? "-S (select only)" : "TPC-B-like"
			if (!pgok(k)) {
				printf "| %s | %s | %s | %s | %s | | | %s | %s | %s |\n", sname, kk[2], kk[4], kk[3], pgval(k, kk[4]),
				    (k in PGN) ? PGXACT[k] : "", (k in PGN) ? PGFAIL[k] : "", (k in PGN) ? PGN[k] : 0
				continue
			}
			printf "| %s | %s | %s | %s | %.0f | %.0f – %.0f | %.3f ms | %d | %d | %d |\n", sname, kk[2], kk[4], kk[3],
			    PGTPS[k], PGLO[k], PGHI[k], PGLAT[k], PGXACT[k], PGFAIL[k], PGN[k]
		}
	}
	printf "\nReproduce: `make bench` (tests/bench/run.sh; tests/bench/README explains the rows).\n"
}' "$raw" >"$out/results.md"

# --- The chart. ---
if command -v gnuplot >/dev/null 2>&1 && [ -s "$out/chart.dat" ]; then
	gnuplot <<EOF 2>"$out/logs/gnuplot.log" || say "gnuplot failed: see $out/logs/gnuplot.log"
set terminal pngcairo size 1600,560 font ",10" noenhanced
set output "$out/results.png"
set multiplot layout 1,2 title "dbmd benchmark: $(echo "$machine" | sed 's/"/\\"/g')"
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set title "Each target: measured / allowed (bar ≤ 1: target met)"
set ylabel "measured / allowed"
set xtics rotate by -30
plot "$out/chart.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa" notitle, \
     1 with lines lw 2 lc rgb "#cc3311" title "target"
set title "SELECT 1, one client: p50 latency / direct libpq"
set ylabel "× direct libpq"
set logscale y
set yrange [0.5:*]
plot "$out/latency.dat" using 0:2:xtic(1) with boxes lc rgb "#228833" notitle, \
     1.25 with lines lw 2 lc rgb "#cc3311" title "dbmd target 1.25×"
unset multiplot
EOF
else
	say "no gnuplot or no data: no chart"
fi

cat "$out/results.md"
say "results in $out (results.md, results.png, raw.tsv, logs/); $elapsed s"
[ "$failures" = 0 ] || die "$failures measurement(s) failed"
