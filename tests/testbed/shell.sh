#!/bin/sh
# shell.sh: boot a throwaway testbed host and open a shell in it (debugging).
#
#   tests/testbed/shell.sh [NAME]     the host is torn down when the shell exits
TESTBED_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TESTBED_DIR/lib.sh"
testbed_available || {
	echo "shell.sh: $testbed_skip_reason" >&2
	exit 1
}
name=${1:-debug}
testbed_boot "$name" || exit 1
pid=$(testbed_pid "$name") || exit 1
echo "shell.sh: $name is up: PID 1 is $pid on the host; console log:" \
	"$testbed_work/$name/nspawn.log; exit the shell to tear it down" >&2
# No timeout(1) here: it would take the shell off the terminal.
nsenter -t "$pid" -a -- /usr/bin/env -i PATH="$TESTBED_PATH" HOME=/root \
	LANG=C.UTF-8 TERM="${TERM:-dumb}" /bin/bash -l 8>&-
