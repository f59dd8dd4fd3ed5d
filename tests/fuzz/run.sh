#!/bin/sh
# Runs libFuzzer targets: run.sh BUILD-DIR TARGET...  Each target first replays its
# regression inputs (tests/fuzz/regress/TARGET), then fuzzes for $FUZZ_TIME seconds
# (default 60) from its seed corpus (tests/fuzz/corpus/TARGET) and what earlier runs found
# (BUILD-DIR/corpus/TARGET).  A crash, a leak, a sanitizer report or an input slower than
# 10 s fails the run; libFuzzer then leaves the input in BUILD-DIR/artifacts/TARGET/.
set -u
build=$1
shift
src=$(dirname "$0")
time=${FUZZ_TIME:-60}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fail=0
for t in "$@"; do
	bin=$build/$t
	log=$build/$t.log
	mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
	dict=
	[ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
	start=$(date +%s)
	: >"$log"
	if [ -d "$src/regress/$t" ] && [ -n "$(ls -A "$src/regress/$t")" ]; then
		if ! "$bin" -runs=1 "$src/regress/$t"/* >>"$log" 2>&1; then
			echo "fuzz: $t: a regression input fails again; see $log" >&2
			tail -n 40 "$log" >&2
			fail=1
			continue
		fi
	fi
	# shellcheck disable=SC2086
	if ! "$bin" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
	    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" $dict \
	    "$build/corpus/$t" "$src/corpus/$t" >>"$log" 2>&1; then
		echo "fuzz: $t: found a failing input; see $log" >&2
		tail -n 60 "$log" >&2
		fail=1
		continue
	fi
	printf 'fuzz: %-13s ok in %3ss: %s runs, %s inputs in its corpus\n' "$t" \
	    "$(($(date +%s) - start))" \
	    "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
	    "$(ls "$build/corpus/$t" "$src/corpus/$t" | grep -vc -e '^$' -e ':$')"
done
exit $fail
