#!/bin/sh
# launch.sh: run one testbed container until it powers off (started by lib.sh).
#
#   launch.sh CDIR LOWER ID HOSTNAME
#
# CDIR is the container's state directory (see lib.sh), LOWER the cached root.
# Runs in its own session, output to CDIR/nspawn.log.  It joins the cgroups
# listed in CDIR/cgroups, then re-executes itself in a private mount namespace
# where it mounts the overlay (LOWER + CDIR/upper) on CDIR/root: the mount is
# invisible on the host and disappears with the last process of the namespace,
# so even a SIGKILL leaves no mount behind.  systemd-nspawn exits with 133 when
# the container reboots; this loop then starts it again on the same overlay.
set -u

cdir=$1
lower=$2
id=$3
host=$4

if [ -z "${TESTBED_LAUNCH_NS:-}" ]; then
	echo "$$ $(sed 's/^.*) //' /proc/$$/stat | cut -d' ' -f20)" \
		>"$cdir/launcher.pid"
	rm -f "$cdir/launch-pending"
	# Torn down before we even started.
	[ -e "$cdir/stop" ] && exit 0
	# Our own cgroup (hosts without systemd as PID 1): nspawn creates its
	# payload/ and supervisor/ cgroups below the one it starts in.
	if [ -s "$cdir/cgroups" ]; then
		while read -r cg; do
			echo $$ >"$cg/cgroup.procs" || {
				echo "launch.sh: cannot join cgroup $cg" >&2
				exit 1
			}
		done <"$cdir/cgroups"
	fi
	TESTBED_LAUNCH_NS=1 exec unshare --mount --propagation private -- \
		"$0" "$@"
	echo "launch.sh: unshare --mount failed" >&2
	exit 1
fi

mount -t overlay overlay \
	-o "lowerdir=$lower,upperdir=$cdir/upper,workdir=$cdir/work" \
	"$cdir/root" || {
	echo "launch.sh: cannot mount the overlay on $cdir/root" >&2
	exit 1
}

# No machined and, on hosts without systemd, no bus to ask for a scope.
keep_unit=--keep-unit
[ -d /run/systemd/system ] && keep_unit=

boot=0
rc=0
while [ ! -e "$cdir/stop" ]; do
	boot=$((boot + 1))
	echo "launch.sh: boot $boot of $id: $(date -u '+%F %T')"
	# Container and journal stay out of the host: no machine registration,
	# no journal link into the host's /var/log/journal, no copy of the
	# host's resolv.conf or time zone (tests manage /etc/localtime).
	# CAP_NET_ADMIN: services inside may change the container's own
	# firewall (its network namespace is its own), as on a real host.
	# shellcheck disable=SC2086 # $keep_unit is empty or one word
	TERM=dumb systemd-nspawn --quiet --boot \
		--directory="$cdir/root" --machine="$id" --hostname="$host" \
		--register=no $keep_unit \
		--network-namespace-path="/run/netns/$id" \
		--capability=CAP_NET_ADMIN \
		--link-journal=no --resolv-conf=off --timezone=off \
		--console=read-only </dev/null &
	pid=$!
	echo "$pid" >"$cdir/nspawn.pid.new"
	mv -f "$cdir/nspawn.pid.new" "$cdir/nspawn.pid"
	echo "$boot $pid" >>"$cdir/boots"
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" -ne 133 ] || [ -e "$cdir/stop" ]; then
		break
	fi
	echo "launch.sh: container $id rebooted (nspawn exit 133); starting it again"
done
echo "launch.sh: systemd-nspawn of $id exited with $rc: $(date -u '+%F %T')"
exit "$rc"
