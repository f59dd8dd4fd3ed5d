#!/bin/sh
# run.sh: what `make bench` runs.  Starts a private PostgreSQL, PgBouncer and dbmd, each
# in a temporary directory of its own and on a Unix socket only, runs the benchmark
# matrix with build/bench and, for the Python rows, tests/bench/python_bench.py under
# Debian's /usr/bin/python3 (dbmclient from BUILD_DIR/python, psycopg2 from
# python3-psycopg2), stops everything, and writes build/bench-results/results.md
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
# skipped when it has none).  BENCH_SHELL=command runs the
# command with the servers up instead of the matrix, for profiling: it sees BENCH_DIRECT,
# BENCH_PGBOUNCER (conninfos), BENCH_DBMD_SOCKET, BENCH_DBMD_PID, BENCH_PGBOUNCER_PID,
# BENCH_SQLITE_DB, BENCH_PYTHON (the interpreter and its options, with PYTHONPATH set to
# BUILD_DIR/python) and, with a baseline, BENCH_BASE_SOCKET.
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
FETCH_ROWS=100000		# the Python fetchall's table, bench_fetch
PGPORT=5432
PGBPORT=6432

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
pgb_pid=
cleanup() {
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
# start_dbmd BINARY DIR: a dbmd with the benchmark's settings, in DIR; sets $started_pid.
start_dbmd() {
	"$1" -s "$2/dbmd.sock" \
	    --set daemon.state_dir="$2/state" \
	    --set daemon.max_clients=$((IDLE + 200)) \
	    --set daemon.max_clients_per_uid=$((IDLE + 200)) \
	    --set "production.uri=postgresql://postgres@/bench?host=$tmp/pg&port=$PGPORT" \
	    --set production.pool_size=$POOL \
	    --set production.min_idle=$POOL \
	    --set production.noreset.session_reset=false \
	    --set production.noreset.pool_size=$POOL \
	    --set production.noreset.min_idle=$POOL \
	    --set "sqlitebench.uri=sqlite:$tmp/dbmd/bench.db" \
	    2>"$2/dbmd.log" &
	started_pid=$!
	i=0
	# The dbmctl of the same build: it speaks that dbmd's protocol.
	ctl=$(dirname "$1")/dbmctl
	[ -x "$ctl" ] || ctl=$B/dbmctl
	while ! "$ctl" -s "$2/dbmd.sock" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$started_pid" 2>/dev/null; then
			kill -TERM "$started_pid" 2>/dev/null && wait "$started_pid" 2>/dev/null
			cat "$2/dbmd.log" >&2
			die "$1 did not start"
		fi
		sleep 0.1
	done
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
	    BENCH_BASE_SOCKET="$tmp/base/dbmd.sock" BENCH_PYTHON="env PYTHONPATH=$B/python $py -s"
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
    -v setup="$REPS rounds of ${DURATION}s per cell after a ${WARMUP}s warm-up; medians; pool size $POOL; $ROWS rows streamed; $IDLE idle clients" \
    -v elapsed="$elapsed" -v chart="$out/chart.dat" -v chart2="$out/latency.dat" '
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
END {
	for (i = 1; i <= nres; i++) {
		k = order[i]
		TPUT[k] = med(RT, k, R[k]); P50[k] = med(R50, k, R[k])
		P99[k] = med(R99, k, R[k]); MEAN[k] = med(RM, k, R[k])
		if ((k, 1) in CPU) X[k, "client_cpu_us"] = med(CPU, k, R[k])
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

	printf "\nTargets not met: %d.%s\n\n", nunmet, nskip ? sprintf("  Not measured (skipped): %d.", nskip) : ""
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
	printf "\nReproduce: `make bench` (tests/bench/run.sh; tests/bench/README explains the rows).\n"
}' "$raw" >"$out/results.md"

# --- The chart. ---
if command -v gnuplot >/dev/null 2>&1 && [ -s "$out/chart.dat" ]; then
	gnuplot <<EOF 2>"$out/logs/gnuplot.log" || say "gnuplot failed: see $out/logs/gnuplot.log"
set terminal pngcairo size 1200,520 font ",10" noenhanced
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
