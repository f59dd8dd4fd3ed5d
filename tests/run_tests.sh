#!/bin/sh
# Runs every test program given, each even when an earlier one failed.  Fails if any
# failed, or if a sanitizer or valgrind ($TEST_RUN) reported anything, even from a
# child process whose test had passed.
fail=0
for t in "$@"; do
	echo "== $t"
	$TEST_RUN "$t" $TEST_ARGS >"$t.log" 2>&1 || fail=1
	cat "$t.log"
	if grep -Eq 'ERROR: (Leak|Address)Sanitizer|runtime error:|^==[0-9]+== [^ ]' "$t.log"; then
		echo "$t: memory error reported above" >&2
		fail=1
	fi
done
exit $fail
