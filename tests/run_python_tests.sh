#!/bin/sh
# Runs the pytest suite in directory $1 (relative to the top of the tree; default the
# Python package's tests, client/python/tests) under $TEST_PYTHON, which imports the
# package built in $TEST_BUILDDIR/python (PYTHONPATH); tests/frontdoor, PostgreSQL's
# clients against the front door, runs the same way.  Fails if a test failed, pytest
# could not run, the run took longer than $TEST_PY_TIMEOUT seconds, or a sanitizer's
# report is in its output.  The summary lists failed tests, and skipped tests and
# expected failures with their reasons (-rfEsx); under CI=true the tests' helpers fail
# a PostgreSQL test instead of skipping it.  With TEST_PRELOAD (an ASan build) the
# interpreter, which is not instrumented, preloads the sanitizer's runtime so that the
# extension loads.  The interpreter never runs under $TEST_RUN (valgrind).
set -u
py=${TEST_PYTHON:-/usr/bin/python3}
dir=${1:-client/python/tests}
case $dir in
client/python/tests) log=$TEST_BUILDDIR/tests/pytest.log ;;
*) log=$TEST_BUILDDIR/tests/pytest-$(echo "$dir" | tr / -).log ;;
esac

capture=
if [ -n "${TEST_PRELOAD:-}" ]; then
	# The interpreter keeps objects until exit by design: no leak check.  Its small
	# objects come from malloc, so that ASan sees the extension misuse them; freed
	# memory is held back 16 MB deep, not ASan's 256, so that the tests which bound a
	# process's memory measure the package and not the quarantine.  pytest captures
	# only what Python writes, so that a report which ends the interpreter is not lost
	# with the test's captured descriptors.
	LD_PRELOAD="$TEST_PRELOAD${LD_PRELOAD:+ $LD_PRELOAD}"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:quarantine_size_mb=16"
	PYTHONMALLOC=malloc
	export LD_PRELOAD ASAN_OPTIONS PYTHONMALLOC
	capture=--capture=sys
fi
PYTHONPATH=$TEST_BUILDDIR/python
# Nothing written into the source tree: no bytecode, no .pytest_cache.
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE

# From the top of the tree, which holds no dbmclient: the interpreter puts its working
# directory first on sys.path, and client/python's package has no extension module.
cd "$TEST_SRCDIR" || exit 1
echo "== pytest $TEST_SRCDIR/$dir"
mkdir -p "$(dirname "$log")"
# Shown as it runs; the exit status travels past tee in a file.
{
	timeout -k 10 "${TEST_PY_TIMEOUT:-1200}" "$py" -m pytest -p no:cacheprovider -rfEsx \
		$capture "$TEST_SRCDIR/$dir" 2>&1
	echo $? >"$log.rc"
} | tee "$log"
rc=$(cat "$log.rc")
rm -f "$log.rc"
fail=0
case $rc in
0) ;;
124) echo "pytest: no result after ${TEST_PY_TIMEOUT:-1200} s" >&2; fail=1 ;;
*) echo "pytest: exit status $rc" >&2; fail=1 ;;
esac
if grep -Eq 'ERROR: (Leak|Address)Sanitizer|runtime error:|^==[0-9]+== [^ ]' "$log"; then
	echo "pytest: memory error reported above" >&2
	fail=1
fi
exit $fail
