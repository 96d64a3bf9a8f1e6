# tap.sh: plain TAP for the testbed's own tests, which do not use the
# integration tests' lib.sh. Source it after tests/testbed/lib.sh, and
# after skipping when there is no testbed.
#
#   expect "DESCRIPTION" CMD [ARG...]   one test: ok when CMD succeeds;
#                                       a failing command's output is shown
#                                       as TAP diagnostics
#   tap_failed                          how many failed so far
# shellcheck shell=sh

tap_n=0
tap_failed=0
tap_out=$testbed_work.out
expect() {
	tap_desc=$1
	shift
	tap_n=$((tap_n + 1))
	if "$@" >"$tap_out" 2>&1; then
		echo "ok $tap_n - $tap_desc"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_n - $tap_desc"
		sed 's/^/# /' "$tap_out"
	fi
	rm -f "$tap_out"
}
