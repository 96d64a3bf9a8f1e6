# testbed-host.sh: what lib.sh-style tests that run congruent inside
# testbed hosts share. Source it after lib.sh:
#
#   . "$(dirname "$0")/../lib/lib.sh"
#   . "$TOP/tests/lib/testbed-host.sh"   # skips the test without a testbed
#   testbed_boot web-1 && testbed_copy_agent web-1
#   tb_cg web-1 run --policy /srv/pol
#
# Hosts are torn down (and the testbed's watchdog stopped) when the test
# exits, however it exits, before lib.sh's own exit handler runs.
# shellcheck shell=bash

TESTBED_NO_TRAP=1
TESTBED_DIR=$TOP/tests/testbed
# shellcheck source=../testbed/lib.sh
. "$TOP/tests/testbed/lib.sh"
if ! testbed_available; then
	echo "1..0 # SKIP $testbed_skip_reason"
	trap - EXIT
	rm -rf "$TRASH"
	exit 0
fi

# "(exit $rc)" hands the test's status on to lib.sh's handler as $?.
tb__exit() {
	tb__rc=$?
	testbed_teardown_all >/dev/null 2>&1 || tb__rc=1
	if [ -n "${testbed_watchdog:-}" ]; then
		kill -USR1 "$testbed_watchdog" 2>/dev/null &&
			wait "$testbed_watchdog" 2>/dev/null
	fi
	(exit "$tb__rc")
	test_exit_handler
}
trap tb__exit EXIT
trap 'exit 129' HUP

# tb_cg HOST ARGS...: congruent ARGS inside HOST, without colours, with
# the sanitizer settings of this test run; its stderr is passed on, and
# a sanitizer report in it fails the call (99). Variables named in
# TB_CG_ENV (as NAME=VALUE words) are passed too.
tb_cg() {
	_h=$1
	shift
	_e="$TRASH/.tb-cg-stderr.$$"
	# shellcheck disable=SC2086 # TB_CG_ENV is a list of words
	testbed_exec "$_h" env ASAN_OPTIONS="$ASAN_OPTIONS" \
		UBSAN_OPTIONS="$UBSAN_OPTIONS" NO_COLOR=1 ${TB_CG_ENV:-} \
		congruent "$@" 2>"$_e" && _rc=0 || _rc=$?
	cat "$_e" >&2
	if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
		-e 'runtime error:' "$_e"; then
		rm -f "$_e"
		return 99
	fi
	rm -f "$_e"
	return $_rc
}
