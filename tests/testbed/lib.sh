# lib.sh: throwaway Debian hosts (systemd-nspawn containers) for tests.
# shellcheck shell=sh disable=SC3043 # local: in dash, bash, busybox sh
# shellcheck disable=SC2034,SC2317 # variables for the test; return-or-exit
#
# Source it from a test (POSIX sh: dash or bash), in the main shell:
#
#   . "$(dirname "$0")/../testbed/lib.sh"
#   testbed_available || { echo "1..0 # SKIP $testbed_skip_reason"; exit 0; }
#   testbed_boot web-1
#   testbed_exec web-1 systemctl is-active dbus
#
# Each booted host is a copy-on-write overlay of the cached root that
# rootfs.sh builds once, booted by systemd-nspawn with its own network
# namespace (a named one, /run/netns/cgtbPID-NAME, with only lo, up), its
# own cgroup and its own hostname NAME.
# Everything a test creates lives in $TESTBED_RUNDIR/PID (PID: the test
# shell's) and is removed by testbed_teardown, by the EXIT trap set here
# (a test with its own EXIT trap ends it with testbed_exit_trap), or, if the
# test is killed outright, by a watchdog (reap.sh) that waits for the test's
# process to end.  Names are per test process, so tests run in
# parallel (prove -j2).
#
# Functions print what failed, and how to look further, on stderr, and return
# non-zero; none waits without a bound.  Settings (environment):
#   CONGRUENT_TESTBED_CACHE   cached roots (default /var/cache/congruent-test)
#   CONGRUENT_TESTBED_RUNDIR  per-test state (default /var/tmp/congruent-testbed)
#   TESTBED_BOOT_TIMEOUT      seconds to reach "running" (default 60)
#   TESTBED_EXEC_TIMEOUT      default seconds for testbed_exec (default 300)
#   TESTBED_STOP_TIMEOUT      seconds for a clean poweroff (default 30)
#   TESTBED_KEEP=1            on teardown, keep nspawn.log (path is printed)
#   TESTBED_NO_TRAP=1         do not install the EXIT/INT/TERM/HUP traps
#
# The file descriptor 8 of the test shell holds a shared lock on the cache
# while containers run (so that a rebuild never deletes a root in use); tests
# should not use fd 8.

: "${TESTBED_BOOT_TIMEOUT:=60}"
: "${TESTBED_EXEC_TIMEOUT:=300}"
: "${TESTBED_STOP_TIMEOUT:=30}"
TESTBED_RUNDIR=${CONGRUENT_TESTBED_RUNDIR:-/var/tmp/congruent-testbed}
if [ -z "${TESTBED_DIR:-}" ]; then
	TESTBED_DIR=$(cd "$(dirname "$0")/../testbed" 2>/dev/null && pwd)
fi
if [ ! -f "$TESTBED_DIR/rootfs.sh" ]; then
	echo "testbed: cannot find tests/testbed/ from $0; set TESTBED_DIR" >&2
	return 1 2>/dev/null || exit 1
fi
TESTBED_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
testbed_owner=$$
testbed_work=$TESTBED_RUNDIR/$testbed_owner
testbed_skip_reason=
testbed_watchdog=

testbed__err() {
	echo "testbed: $*" >&2
}

# Last lines of a container's console log, indented, on stderr.
testbed__log_tail() {
	[ -f "$1/nspawn.log" ] || return 0
	echo "testbed: last lines of $1/nspawn.log:" >&2
	tail -n "${2:-25}" "$1/nspawn.log" | sed 's/^/    | /' >&2
}

testbed__now() {
	date +%s
}

# The kernel's start time of process $1, to tell it from a later one that
# reuses its number.
testbed__starttime() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# True when process $1 exists and is not a zombie (an orphan's zombie may
# linger: PID 1 of some machines, or a test shell, reaps late).
testbed__alive() {
	case "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" in
	"" | Z | X) return 1 ;;
	esac
	return 0
}

# True when the process recorded in file $1 ("PID" or "PID STARTTIME") runs.
testbed__pidfile_alive() {
	[ -s "$1" ] || return 1
	set -- "$(cut -d' ' -f1 "$1")" "$(cut -s -d' ' -f2 "$1")"
	testbed__alive "$1" || return 1
	[ -z "$2" ] || [ "$(testbed__starttime "$1")" = "$2" ]
}

# testbed_available: true if this machine can boot testbed hosts; otherwise
# sets $testbed_skip_reason (for "1..0 # SKIP $testbed_skip_reason").
testbed_available() {
	if [ "$(id -u)" -ne 0 ]; then
		testbed_skip_reason="testbed needs root (systemd-nspawn, mounts, netns)"
		return 1
	fi
	# In a container without them, root cannot mount or make network
	# namespaces: CAP_SYS_ADMIN (21) and CAP_NET_ADMIN (12).
	_tb_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
	for _tb_cap in 21:CAP_SYS_ADMIN 12:CAP_NET_ADMIN; do
		if [ $(( (0x${_tb_eff:-0} >> ${_tb_cap%%:*}) & 1 )) -ne 1 ]; then
			testbed_skip_reason="testbed needs ${_tb_cap#*:} (a VM or a privileged container)"
			return 1
		fi
	done
	for t in systemd-nspawn unshare nsenter ip flock timeout setsid pgrep \
		dpkg-deb; do
		if ! command -v "$t" >/dev/null 2>&1; then
			testbed_skip_reason="testbed needs $t (scripts/deps.sh test)"
			return 1
		fi
	done
	if ! grep -qw overlay /proc/filesystems 2>/dev/null; then
		testbed_skip_reason="testbed needs overlayfs in the kernel"
		return 1
	fi
	if [ -n "${CONGRUENT_SKIP_TESTBED:-}" ]; then
		testbed_skip_reason="CONGRUENT_SKIP_TESTBED is set"
		return 1
	fi
	return 0
}

# testbed_exit_trap: tear down every host of this test, keep the test's exit
# status (failure if something was left behind).  lib.sh installs it as the
# EXIT trap when sourced (INT, TERM and HUP exit, so it runs then too); a
# test that sets its own EXIT trap calls it last in that trap:
#   trap 'rm -rf "$tmp"; testbed_exit_trap' EXIT
testbed_exit_trap() {
	testbed__rc=$?
	trap - EXIT
	if ! testbed_teardown_all && [ "$testbed__rc" -eq 0 ]; then
		testbed__rc=1
	fi
	# Nothing left to watch: end the watchdog and reap it, rather than
	# leave it to outlive the test by a second as an orphan.
	if [ -n "${testbed_watchdog:-}" ]; then
		kill -USR1 "$testbed_watchdog" 2>/dev/null &&
			wait "$testbed_watchdog" 2>/dev/null
	fi
	exit "$testbed__rc"
}

if [ -z "${TESTBED_NO_TRAP:-}" ]; then
	trap testbed_exit_trap EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi

# Per test process, once: the work directory and the watchdog.
testbed__init() {
	[ -f "$testbed_work/owner" ] && return 0
	mkdir -p "$testbed_work/debs" || {
		testbed__err "cannot create $testbed_work"
		return 1
	}
	echo "$testbed_owner $(testbed__starttime "$testbed_owner")" \
		>"$testbed_work/owner"
	# If the test is SIGKILLed, no trap runs: the watchdog (its own
	# session, deaf to the terminal's ^C) then tears down what is left.
	setsid "$TESTBED_DIR/reap.sh" --watch "$testbed_owner" "$testbed_work" \
		</dev/null >/dev/null 2>&1 &
	testbed_watchdog=$!
}

# The cached root (built on first use), and a shared lock on the cache held
# by fd 8 for the life of the test.
testbed__rootfs() {
	[ -n "${testbed_lower:-}" ] && [ -d "$testbed_lower" ] && return 0
	for _ in 1 2 3; do
		testbed_lower=$("$TESTBED_DIR/rootfs.sh") || {
			testbed__err "building the cached root failed (see the messages above; log in ${CONGRUENT_TESTBED_CACHE:-/var/cache/congruent-test}/last-build.log)"
			return 1
		}
		exec 8>>"${testbed_lower%/*/root}/../lock"
		if ! flock -s -w 1800 8; then
			testbed__err "waited 1800s for a shared lock on the testbed cache"
			return 1
		fi
		# A build of another version may have pruned ours meanwhile.
		[ -x "$testbed_lower/lib/systemd/systemd" ] && return 0
	done
	testbed__err "the cached root keeps disappearing (tests of another version of rootfs.sh running?)"
	return 1
}

# The names of this test's hosts, each after a space.
testbed__names() {
	local _d
	for _d in "$testbed_work"/*/id; do
		[ -f "$_d" ] || continue
		_d=${_d%/id}
		printf ' %s' "${_d##*/}"
	done
}

testbed__cdir() {
	echo "$testbed_work/$1"
}

# testbed__check NAME: true if NAME was booted by this test (and not torn
# down); sets $testbed_c to its state directory.
testbed__check() {
	testbed_c=$testbed_work/${1:-}
	if [ -z "${1:-}" ] || [ ! -f "$testbed_c/id" ]; then
		testbed__err "no testbed host named '${1:-}' in this test (booted:$(testbed__names))"
		return 1
	fi
}

# The host PID of the container's PID 1 (systemd), if it runs: the child of
# the current systemd-nspawn process that is PID 1 of its PID namespace.
testbed__leader() {
	local _c _n
	_n=$(cat "$1/nspawn.pid" 2>/dev/null) || return 1
	for _c in $(pgrep -P "$_n" 2>/dev/null); do
		if [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$_c/status" 2>/dev/null)" = 1 ] &&
			[ "$(cat "/proc/$_c/comm" 2>/dev/null)" = systemd ]; then
			echo "$_c"
			return 0
		fi
	done
	return 1
}

# testbed_pid NAME: print the host PID of the container's PID 1.
testbed_pid() {
	testbed__check "$1" || return 1
	testbed__leader "$testbed_c" || {
		testbed__err "$1: not running (no systemd under systemd-nspawn)"
		testbed__log_tail "$testbed_c"
		return 1
	}
}

# testbed_wait NAME [SECONDS]: wait until systemd in NAME has finished
# booting ("running" or "degraded"); print the state on stdout.
testbed_wait() {
	local _deadline _left _name _pid _state
	testbed__check "$1" || return 1
	_name=$1
	_deadline=$(($(testbed__now) + ${2:-$TESTBED_BOOT_TIMEOUT}))
	_state=
	while [ "$(testbed__now)" -lt "$_deadline" ]; do
		# No pid file yet: launch.sh has not started (a busy machine).
		if [ -s "$testbed_c/launcher.pid" ] &&
			! testbed__pidfile_alive "$testbed_c/launcher.pid"; then
			testbed__err "$_name: systemd-nspawn exited while booting"
			testbed__log_tail "$testbed_c" 40
			return 1
		fi
		if _pid=$(testbed__leader "$testbed_c"); then
			_left=$((_deadline - $(testbed__now)))
			[ "$_left" -gt 0 ] || break
			# --wait blocks until start-up is over; it fails at
			# once while the manager is not yet listening.
			_state=$(testbed__nsenter "$_pid" "$_left" \
				systemctl is-system-running --wait 2>/dev/null)
			case "$_state" in
			running)
				echo "$_state"
				return 0
				;;
			degraded)
				testbed__err "$_name: booted degraded; failed units:"
				testbed_exec -t 10 "$_name" systemctl --failed --no-legend >&2
				echo "$_state"
				return 0
				;;
			esac
		fi
		sleep 0.2
	done
	testbed__err "$_name: systemd did not reach running within ${2:-$TESTBED_BOOT_TIMEOUT}s (last state: '${_state:-no PID 1 yet}')"
	testbed__log_tail "$testbed_c" 40
	return 1
}

# testbed_boot NAME: boot a fresh host named NAME (its hostname too) and wait
# until systemd inside is running.  NAME: [a-z0-9-], at most 40 characters.
testbed_boot() {
	local _c _id _log _name _t0
	_name=${1:-}
	case "$_name" in
	"" | -* | *[!a-z0-9-]*)
		testbed__err "testbed_boot: bad name '$_name' (use [a-z0-9-])"
		return 1
		;;
	esac
	if [ "${#_name}" -gt 40 ]; then
		testbed__err "testbed_boot: name '$_name' longer than 40 characters"
		return 1
	fi
	testbed__init || return 1
	testbed__rootfs || return 1
	_c=$(testbed__cdir "$_name")
	if [ -e "$_c" ]; then
		testbed__err "testbed_boot: $_name is already booted in this test ($_c)"
		return 1
	fi
	_id=cgtb$testbed_owner-$_name
	_t0=$(date +%s%N)

	mkdir -p "$_c/upper/etc" "$_c/work" "$_c/root" || return 1
	chmod 0755 "$_c/upper" "$_c/upper/etc"
	# A host's identity, written under the overlay before it is mounted.
	echo "$_name" >"$_c/upper/etc/hostname"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$_c/upper/etc/machine-id"
	echo >>"$_c/upper/etc/machine-id"
	{ cat "$testbed_lower/etc/hosts"; printf '127.0.1.1\t%s\n' "$_name"; } \
		>"$_c/upper/etc/hosts"
	chmod 0444 "$_c/upper/etc/machine-id"
	chmod 0644 "$_c/upper/etc/hostname" "$_c/upper/etc/hosts"
	: >"$_c/cgroups"
	echo "$_id" >"$_c/id"

	# Its own network namespace, named so that it survives reboots and the
	# test can look at it from the host (ip -n ID ..., ip netns exec).
	if ! ip netns add "$_id"; then
		testbed__err "$_name: ip netns add $_id failed"
		return 1
	fi
	ip -n "$_id" link set lo up
	echo "$_id" >"$_c/netns"

	# Hosts without systemd as PID 1 have nobody to give nspawn a cgroup
	# (scope): make one per container in the hierarchies nspawn uses,
	# or two containers would share payload/ and fight over it.
	if [ ! -d /run/systemd/system ]; then
		testbed__mkcgroups "$_c" "$_id" || return 1
	fi

	: >"$_c/launch-pending"
	setsid "$TESTBED_DIR/launch.sh" "$_c" "$testbed_lower" "$_id" "$_name" \
		</dev/null >"$_c/nspawn.log" 2>&1 8>&- &
	if ! testbed_wait "$_name" >/dev/null; then
		_log=${TMPDIR:-/tmp}/testbed-$_id.log
		cp "$_c/nspawn.log" "$_log" 2>/dev/null || _log=
		testbed__err "$_name: boot failed; tearing it down.${_log:+ Console log kept in $_log.} To debug: tests/testbed/shell.sh boots a host and opens a shell in it; see doc/testbed.md"
		testbed_teardown "$_name" >/dev/null 2>&1
		return 1
	fi
	echo "$((($(date +%s%N) - _t0) / 1000000))" >"$_c/boot-ms"
}

# Create $2's cgroup in each writable hierarchy nspawn uses (the unified one
# and the named systemd one), below our own cgroup there; list them in $1.
testbed__mkcgroups() {
	local _base _cg _ctl _hid _m _path
	while IFS=: read -r _hid _ctl _path; do
		_base=
		if [ "$_hid" = 0 ] && [ -z "$_ctl" ]; then
			for _m in /sys/fs/cgroup/unified /sys/fs/cgroup; do
				if [ "$(stat -fc %T "$_m" 2>/dev/null)" = cgroup2fs ]; then
					_base=$_m
					break
				fi
			done
		elif [ "$_ctl" = name=systemd ]; then
			_base=/sys/fs/cgroup/systemd
		fi
		[ -n "$_base" ] || continue
		_cg=${_base}${_path%/}/congruent-testbed-$2
		if ! mkdir "$_cg"; then
			testbed__err "cannot create cgroup $_cg"
			return 1
		fi
		echo "$_cg" >>"$1/cgroups"
	done </proc/self/cgroup
}

# Run CMD in all namespaces of container PID 1 $1 within $2 seconds.  The
# time-out runs inside: were nsenter killed instead, CMD would be orphaned to
# the host's init and, unreaped there, stall the container's shutdown (its
# final kill waits for every process of the namespace).  The outer timeout
# only guards against nsenter itself hanging.
testbed__nsenter() {
	local _pid _t
	_pid=$1
	_t=$2
	shift 2
	timeout -k 5 "$((_t + 15))" nsenter -t "$_pid" -a -- \
		/usr/bin/env -i PATH="$TESTBED_PATH" HOME=/root LANG=C.UTF-8 \
		TERM=dumb timeout -k 5 "$_t" "$@" 8>&-
}

# testbed_exec [-t SECONDS] NAME CMD [ARG...]: run CMD inside NAME (all its
# namespaces, root directory /, a clean environment: PATH, HOME=/root,
# LANG=C.UTF-8, TERM=dumb), stdin/stdout/stderr passed through; return its
# exit status (124 if it ran out of time; default TESTBED_EXEC_TIMEOUT).
testbed_exec() {
	local _name _pid _rc _t
	_t=$TESTBED_EXEC_TIMEOUT
	if [ "${1:-}" = -t ]; then
		_t=$2
		shift 2
	fi
	testbed__check "${1:-}" || return 125
	_name=$1
	shift
	_pid=$(testbed__leader "$testbed_c") || {
		testbed__err "$_name: not running, cannot run: $*"
		testbed__log_tail "$testbed_c" 10
		return 125
	}
	_rc=0
	testbed__nsenter "$_pid" "$_t" "$@" || _rc=$?
	if [ "$_rc" -eq 124 ]; then
		testbed__err "$_name: timed out after ${_t}s: $*"
	fi
	return "$_rc"
}

# testbed_sh [-t SECONDS] NAME SCRIPT [ARG...]: testbed_exec NAME sh -c SCRIPT.
testbed_sh() {
	local _n _s _ts
	if [ "${1:-}" = -t ]; then
		_ts=$2
		shift 2
	else
		_ts=$TESTBED_EXEC_TIMEOUT
	fi
	_n=$1
	_s=$2
	shift 2
	testbed_exec -t "$_ts" "$_n" /bin/sh -c "$_s" sh "$@"
}

# testbed_copy_in NAME SRC DST: copy the host's file or directory SRC to DST
# inside NAME (a file keeps its mode; into DST/ if DST is a directory).
# Paths are resolved inside the container, never through the host.
testbed_copy_in() {
	if [ ! -e "${2:-}" ]; then
		testbed__err "testbed_copy_in: no such file: ${2:-}"
		return 1
	fi
	# shellcheck disable=SC2016,SC2094 # expanded inside; $2 is only read
	if [ -d "$2" ]; then
		tar -C "$2" -cf - . | testbed_sh -t 120 "$1" \
			'mkdir -p "$1" && tar -C "$1" -xf -' "$3"
	else
		testbed_sh -t 120 "$1" '
			set -e
			dst=$1
			[ -d "$dst" ] && dst=$dst/$3
			mkdir -p "$(dirname "$dst")"
			tmp=$(mktemp "$dst.XXXXXX")
			cat >"$tmp"
			chmod "$2" "$tmp"
			mv -f "$tmp" "$dst"' "$3" "$(stat -c %a "$2")" \
			"$(basename "$2")" <"$2"
	fi || {
		testbed__err "$1: copying $2 to $3 failed"
		return 1
	}
}

# testbed_copy_out NAME SRC DST: copy the file SRC inside NAME to the host's DST.
testbed_copy_out() {
	testbed_exec -t 120 "$1" cat "$2" >"$3" || {
		testbed__err "$1: copying $2 out to $3 failed"
		return 1
	}
}

# testbed_reboot NAME: reboot NAME (systemctl reboot inside; systemd-nspawn
# is started again on the same overlay, so files persist) and wait until it
# runs again.
testbed_reboot() {
	local _boots _deadline _name
	testbed__check "$1" || return 1
	_name=$1
	_boots=$(wc -l <"$testbed_c/boots")
	testbed_exec -t 10 "$_name" systemctl reboot >/dev/null 2>&1
	_deadline=$(($(testbed__now) + TESTBED_BOOT_TIMEOUT))
	until [ "$(wc -l <"$testbed_c/boots")" -gt "$_boots" ]; do
		if [ "$(testbed__now)" -ge "$_deadline" ]; then
			testbed__err "$_name: did not restart within ${TESTBED_BOOT_TIMEOUT}s after systemctl reboot"
			testbed__log_tail "$testbed_c"
			return 1
		fi
		if ! testbed__pidfile_alive "$testbed_c/launcher.pid"; then
			testbed__err "$_name: launch.sh exited instead of rebooting"
			testbed__log_tail "$testbed_c"
			return 1
		fi
		sleep 0.2
	done
	testbed_wait "$_name" "$((_deadline - $(testbed__now) + 1))" >/dev/null
}

# testbed_log NAME: print NAME's console log (systemd-nspawn's output).
testbed_log() {
	testbed__check "$1" || return 1
	cat "$testbed_c/nspawn.log"
}

# Send signal $2 to the container's systemd-nspawn, if that still is what
# its recorded PID names (between two boots of a reboot, it is not).
testbed__kill_nspawn() {
	local _n
	_n=$(cat "$1/nspawn.pid" 2>/dev/null) || return 0
	testbed__alive "$_n" || return 0
	[ "$(cat "/proc/$_n/comm" 2>/dev/null)" = systemd-nspawn ] || return 0
	kill -"$2" "$_n" 2>/dev/null
}

# Kill what a container dir's processes left, in order of politeness.
testbed__stop() {
	local _c _cg _deadline _l _n _p
	_c=$1
	touch "$_c/stop"
	# A launcher that has not written its pid yet sees "stop" and exits;
	# give it a moment to do so before the directory goes.
	_deadline=$(($(testbed__now) + 5))
	while [ ! -s "$_c/launcher.pid" ] && [ "$(testbed__now)" -lt "$_deadline" ] &&
		[ -e "$_c/launch-pending" ]; do
		sleep 0.1
	done
	if testbed__pidfile_alive "$_c/launcher.pid"; then
		# SIGTERM to nspawn asks systemd inside for a clean poweroff.
		testbed__kill_nspawn "$_c" TERM
		_deadline=$(($(testbed__now) + TESTBED_STOP_TIMEOUT))
		while testbed__pidfile_alive "$_c/launcher.pid" &&
			[ "$(testbed__now)" -lt "$_deadline" ]; do
			sleep 0.1
		done
	fi
	if testbed__pidfile_alive "$_c/launcher.pid"; then
		testbed__err "$(cat "$_c/id"): no clean poweroff within ${TESTBED_STOP_TIMEOUT}s; killing it"
		# Killing PID 1 of the container kills its whole PID namespace.
		_l=$(testbed__leader "$_c") && kill -KILL "$_l" 2>/dev/null
		testbed__kill_nspawn "$_c" KILL
		testbed__pidfile_alive "$_c/launcher.pid" &&
			kill -KILL "$(cut -d' ' -f1 "$_c/launcher.pid")" 2>/dev/null
		_deadline=$(($(testbed__now) + 10))
		while testbed__pidfile_alive "$_c/launcher.pid" &&
			[ "$(testbed__now)" -lt "$_deadline" ]; do
			sleep 0.1
		done
	fi
	# Anything still in its cgroups (nspawn's payload, or the launcher).
	if [ -s "$_c/cgroups" ]; then
		while read -r _cg; do
			[ -d "$_cg" ] || continue
			find "$_cg" -name cgroup.procs -exec cat {} + 2>/dev/null |
				while read -r _p; do
					kill -KILL "$_p" 2>/dev/null
				done
		done <"$_c/cgroups"
	fi
}

# Tear down the container whose state is in directory $1; report leftovers.
testbed__teardown_dir() {
	local _bad _c _cg _id _keep _ns
	_c=$1
	_id=$(cat "$_c/id" 2>/dev/null) || _id=${_c##*/}
	_bad=
	testbed__stop "$_c"
	if testbed__pidfile_alive "$_c/launcher.pid"; then
		_bad="$_bad launcher($(cat "$_c/launcher.pid"))"
	fi
	if [ -s "$_c/netns" ]; then
		_ns=$(cat "$_c/netns")
		if [ -e "/run/netns/$_ns" ] && ! ip netns delete "$_ns"; then
			_bad="$_bad netns($_ns)"
		fi
	fi
	if [ -s "$_c/cgroups" ]; then
		while read -r _cg; do
			[ -d "$_cg" ] || continue
			# Deepest first; a just-emptied cgroup can be busy a moment.
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				find "$_cg" -depth -type d -exec rmdir {} + 2>/dev/null
				[ -d "$_cg" ] || break
				sleep 0.2
			done
			[ -d "$_cg" ] && _bad="$_bad cgroup($_cg)"
		done <"$_c/cgroups"
	fi
	# The overlay lives in the launcher's private mount namespace; a mount
	# here on the host would be a bug, but never rm -rf through one.
	if awk -v d="$_c/" 'index($5 "/", d) == 1 { f = 1 } END { exit !f }' \
		/proc/self/mountinfo; then
		_bad="$_bad mount(below $_c)"
	elif [ -n "${TESTBED_KEEP:-}" ]; then
		_keep=${TMPDIR:-/tmp}/testbed-$_id.log
		cp "$_c/nspawn.log" "$_keep" 2>/dev/null &&
			testbed__err "$_id: console log kept in $_keep"
		rm -rf --one-file-system "$_c"
	else
		rm -rf --one-file-system "$_c"
	fi
	if [ -n "$_bad" ]; then
		testbed__err "teardown of $_id left behind:$_bad (state in $_c; clean up with tests/testbed/reap.sh --all)"
		return 1
	fi
	return 0
}

# testbed_teardown NAME: power NAME off (killing it after
# TESTBED_STOP_TIMEOUT), remove its netns, cgroups and overlay.
testbed_teardown() {
	testbed__check "$1" || return 1
	testbed__teardown_dir "$testbed_c"
}

# testbed__reap_work DIR: tear down every container in a test's work dir and
# remove the dir (the EXIT trap and reap.sh).
testbed__reap_work() {
	local _d _rc _w
	_w=$1
	_rc=0
	[ -d "$_w" ] || return 0
	for _d in "$_w"/*/; do
		_d=${_d%/}
		[ -f "$_d/id" ] || continue
		testbed__teardown_dir "$_d" || _rc=1
	done
	[ "$_rc" -eq 0 ] && rm -rf --one-file-system "$_w"
	return "$_rc"
}

# testbed_teardown_all: tear down every host of this test and remove its
# work directory (run by the EXIT trap; call it if you replace that trap).
testbed_teardown_all() {
	testbed__reap_work "$testbed_work"
}

# testbed_make_deb NAME VERSION [DEPENDS] [DEST=SRC...]: build an
# Architecture: all package NAME_VERSION_all.deb in $TESTBED_DEBS (default:
# the test's work dir) from host files; print its path.  DEST is an absolute
# path in the package (files under /etc/ become conffiles) or DEBIAN/FILE for
# a control file (postinst, prerm, ..., made executable).
testbed_make_deb() {
	local _b _deb _dep _dst _f _out _pkg _src _ver
	_pkg=${1:-}
	_ver=${2:-}
	case "$_pkg" in
	"" | *[!a-z0-9+.-]*)
		testbed__err "testbed_make_deb: bad package name '$_pkg'"
		return 1
		;;
	esac
	[ -n "$_ver" ] || {
		testbed__err "testbed_make_deb: $_pkg: no version"
		return 1
	}
	_dep=${3:-}
	if [ "$#" -ge 3 ]; then
		shift 3
	else
		shift "$#"
	fi
	testbed__init || return 1
	_out=${TESTBED_DEBS:-$testbed_work/debs}
	mkdir -p "$_out" || return 1
	_b=$(mktemp -d "$testbed_work/deb.XXXXXX") || return 1
	mkdir -p "$_b/DEBIAN"
	for _f in "$@"; do
		_dst=${_f%%=*}
		_src=${_f#*=}
		if [ "$_dst" = "$_f" ] || [ ! -f "$_src" ]; then
			testbed__err "testbed_make_deb: $_pkg: '$_f' is not DEST=SRC with SRC a file"
			rm -rf "$_b"
			return 1
		fi
		case "$_dst" in
		DEBIAN/*)
			cp "$_src" "$_b/$_dst"
			case "${_dst#DEBIAN/}" in
			preinst | postinst | prerm | postrm | config)
				chmod 0755 "$_b/$_dst"
				;;
			*) chmod 0644 "$_b/$_dst" ;;
			esac
			;;
		/*)
			mkdir -p "$_b$(dirname "$_dst")"
			cp "$_src" "$_b$_dst"
			case "$_dst" in
			/etc/*)
				[ -f "$_b/.conffiles" ] || : >"$_b/.conffiles"
				echo "$_dst" >>"$_b/.conffiles"
				;;
			esac
			;;
		*)
			testbed__err "testbed_make_deb: $_pkg: DEST must be absolute or DEBIAN/...: $_dst"
			rm -rf "$_b"
			return 1
			;;
		esac
	done
	if [ -f "$_b/.conffiles" ]; then
		[ -f "$_b/DEBIAN/conffiles" ] || mv "$_b/.conffiles" "$_b/DEBIAN/conffiles"
		rm -f "$_b/.conffiles"
	fi
	{
		echo "Package: $_pkg"
		echo "Version: $_ver"
		echo "Architecture: all"
		echo "Maintainer: congruent testbed <testbed@congruent.invalid>"
		[ -z "$_dep" ] || echo "Depends: $_dep"
		echo "Section: misc"
		echo "Priority: optional"
		echo "Description: congruent testbed package $_pkg"
		echo " Built by tests/testbed/lib.sh for an integration test."
	} >"$_b/DEBIAN/control"
	_deb=$_out/${_pkg}_${_ver#*:}_all.deb
	if ! dpkg-deb --root-owner-group -Zgzip --build "$_b" "$_deb" >/dev/null; then
		testbed__err "testbed_make_deb: dpkg-deb --build of $_pkg $_ver failed (tree: $_b)"
		return 1
	fi
	rm -rf "$_b"
	echo "$_deb"
}

# testbed_apt_repo NAME [DIR]: publish the .deb files of DIR (default: where
# testbed_make_deb puts them) as the apt repository file:/srv/repo inside NAME
# ("deb [trusted=yes] file:/srv/repo ./" in
# /etc/apt/sources.list.d/congruent-testbed.list, replacing an earlier one)
# and run apt-get update there.  No network involved.
testbed_apt_repo() {
	local _deb _dir _f _name _out _r
	testbed__check "${1:-}" || return 1
	_name=$1
	_dir=${2:-${TESTBED_DEBS:-$testbed_work/debs}}
	_r=$(mktemp -d "$testbed_work/repo.XXXXXX") || return 1
	# Packages and Release written here, as dpkg-scanpackages and
	# apt-ftparchive would (without needing dpkg-dev or apt-utils).
	for _deb in "$_dir"/*.deb; do
		[ -f "$_deb" ] || continue
		cp "$_deb" "$_r/"
		_f=${_deb##*/}
		dpkg-deb -f "$_r/$_f" >>"$_r/Packages" || {
			testbed__err "testbed_apt_repo: cannot read $_deb"
			rm -rf "$_r"
			return 1
		}
		printf 'Filename: ./%s\nSize: %s\nMD5sum: %s\nSHA256: %s\n\n' \
			"$_f" "$(stat -c %s "$_r/$_f")" \
			"$(md5sum <"$_r/$_f" | cut -d' ' -f1)" \
			"$(sha256sum <"$_r/$_f" | cut -d' ' -f1)" >>"$_r/Packages"
	done
	[ -f "$_r/Packages" ] || : >"$_r/Packages"
	{
		echo "Origin: congruent-testbed"
		echo "Label: congruent-testbed"
		echo "Date: $(LC_ALL=C date -Ru)"
		echo "SHA256:"
		printf ' %s %s Packages\n' "$(sha256sum <"$_r/Packages" | cut -d' ' -f1)" \
			"$(stat -c %s "$_r/Packages")"
	} >"$_r/Release"
	chmod 0755 "$_r"
	chmod 0644 "$_r"/*
	# shellcheck disable=SC2016 # expanded inside the container
	if ! tar -C "$_r" -cf - . | testbed_sh -t 60 "$_name" '
		set -e
		rm -rf /srv/repo
		mkdir -p /srv/repo
		tar -C /srv/repo -xf -
		echo "deb [trusted=yes] file:/srv/repo ./" \
			>/etc/apt/sources.list.d/congruent-testbed.list'; then
		testbed__err "$_name: publishing the repository in /srv/repo failed"
		rm -rf "$_r"
		return 1
	fi
	rm -rf "$_r"
	if ! _out=$(testbed_exec -t 60 "$_name" apt-get update 2>&1); then
		echo "$_out" | sed 's/^/    | /' >&2
		testbed__err "$_name: apt-get update of file:/srv/repo failed"
		return 1
	fi
}
