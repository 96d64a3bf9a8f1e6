#!/bin/sh
# reap.sh: tear down testbed hosts whose test has gone.
#
#   reap.sh                 every host whose test process is no longer running
#   reap.sh --all           every host, even of tests still running
#   reap.sh --watch PID DIR wait until process PID ends, then tear down the
#                           hosts in DIR (lib.sh starts this as a watchdog)
#
# Hosts live in $CONGRUENT_TESTBED_RUNDIR (default /var/tmp/congruent-testbed),
# one directory per test process; see lib.sh.
set -u
TESTBED_DIR=$(cd "$(dirname "$0")" && pwd)
TESTBED_NO_TRAP=1
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TESTBED_DIR/lib.sh"

case "${1:-}" in
--watch)
	# Deaf to the terminal and to kill(1) by default; SIGUSR1 is the
	# test's EXIT trap saying it has torn down everything itself.
	trap '' INT HUP TERM
	nap=
	trap '[ -n "$nap" ] && kill "$nap" 2>/dev/null && wait "$nap"; exit 0' USR1
	pid=$2
	start=$(testbed__starttime "$pid")
	while testbed__alive "$pid" && [ "$(testbed__starttime "$pid")" = "$start" ]; do
		# A waited-for background sleep, so that USR1 is handled at once.
		sleep 1 &
		nap=$!
		wait "$nap"
		nap=
	done
	testbed__reap_work "$3"
	;;
"" | --all)
	rc=0
	for w in "$TESTBED_RUNDIR"/*/; do
		w=${w%/}
		[ -f "$w/owner" ] || continue
		if [ "${1:-}" != --all ] && testbed__pidfile_alive "$w/owner"; then
			echo "reap.sh: $w: test $(cut -d' ' -f1 "$w/owner") still running; skipped (--all to force)" >&2
			continue
		fi
		echo "reap.sh: tearing down $w" >&2
		testbed__reap_work "$w" || rc=1
	done
	exit "$rc"
	;;
*)
	echo "usage: $0 [--all | --watch PID DIR]" >&2
	exit 2
	;;
esac
