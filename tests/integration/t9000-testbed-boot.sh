#!/bin/sh
# t9000-testbed-boot.sh: the testbed boots a Debian host, installs a local
# package with apt, reboots it and tears it down leaving nothing behind.
# shellcheck disable=SC2317 # the test functions are called through expect
# shellcheck source-path=SCRIPTDIR source=../testbed/lib.sh
. "$(dirname "$0")/../testbed/lib.sh"

if ! testbed_available; then
	echo "1..0 # SKIP $testbed_skip_reason"
	exit 0
fi

# shellcheck source=../testbed/tap.sh
. "$(dirname "$0")/../testbed/tap.sh"

echo "1..10"
h=tb-boot
id=cgtb$$-$h
work=$testbed_work
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tap_out"; testbed_exit_trap' EXIT

expect "boot a host" testbed_boot "$h"
echo "# boot took $(cat "$work/$h/boot-ms" 2>/dev/null) ms"

is_pid1_systemd() {
	[ "$(testbed_exec "$h" cat /proc/1/comm)" = systemd ]
}
expect "systemd is PID 1 inside" is_pid1_systemd

is_running() {
	state=$(testbed_exec "$h" systemctl is-system-running) || true
	echo "state: $state"
	[ "$state" = running ] || [ "$state" = degraded ]
}
expect "systemd reports running" is_running

has_hostname() {
	[ "$(testbed_exec "$h" hostname)" = "$h" ]
}
expect "the host is named after its testbed name" has_hostname

own_netns() {
	pid=$(testbed_pid "$h") || return 1
	theirs=$(readlink "/proc/$pid/ns/net") && ours=$(readlink /proc/self/ns/net) &&
		echo "container: $theirs, host: $ours" &&
		[ "$theirs" != "$ours" ] &&
		[ "$theirs" = "$(ip netns exec "$id" readlink /proc/self/ns/net)" ] &&
		links=$(testbed_exec "$h" ip -o link show | cut -d: -f2 | tr -d ' \n') &&
		echo "links: $links" && [ "$links" = lo ]
}
expect "the host has its own network namespace with only lo" own_netns

# shellcheck disable=SC2016 # dpkg-query's ${...}, not the shell's
install_local_deb() {
	printf '#!/bin/sh\necho hello from cg-hello\n' >"$tmp/cg-hello"
	chmod 755 "$tmp/cg-hello"
	echo "greeting=hello" >"$tmp/cg-hello.conf"
	testbed_make_deb cg-hello 1.0-1 "dbus" /usr/bin/cg-hello="$tmp/cg-hello" \
		/etc/cg-hello.conf="$tmp/cg-hello.conf" &&
		testbed_apt_repo "$h" &&
		testbed_exec "$h" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y cg-hello &&
		[ "$(testbed_exec "$h" cg-hello)" = "hello from cg-hello" ] &&
		[ "$(testbed_exec "$h" dpkg-query -W -f '${Version} ${db:Status-Abbrev}' cg-hello)" = "1.0-1 ii " ] &&
		testbed_exec "$h" dpkg-query -W -f '${Conffiles}' cg-hello |
		grep -q '^ /etc/cg-hello.conf [0-9a-f]'
}
expect "apt-get installs a .deb from the local repository" install_local_deb

# shellcheck disable=SC2016 # expanded inside the container
remove_deb() {
	testbed_exec "$h" env DEBIAN_FRONTEND=noninteractive \
		apt-get purge -y cg-hello &&
		testbed_exec "$h" sh -c '! test -e /usr/bin/cg-hello &&
			! test -e /etc/cg-hello.conf &&
			! dpkg-query -W -f "\${db:Status-Abbrev}" cg-hello 2>/dev/null | grep -q "^ii"'
}
expect "apt-get removes it" remove_deb

survives_reboot() {
	old_boot=$(testbed_exec "$h" cat /proc/sys/kernel/random/boot_id) &&
		old_pid=$(testbed_pid "$h") &&
		testbed_exec "$h" touch /var/lib/testbed-mark &&
		testbed_reboot "$h" &&
		new_boot=$(testbed_exec "$h" cat /proc/sys/kernel/random/boot_id) &&
		new_pid=$(testbed_pid "$h") &&
		echo "boot id $old_boot -> $new_boot, PID 1 $old_pid -> $new_pid" &&
		[ "$old_boot" != "$new_boot" ] && [ "$old_pid" != "$new_pid" ] &&
		testbed_exec "$h" test -e /var/lib/testbed-mark &&
		is_running
}
expect "reboot: a new boot, files kept, running again" survives_reboot

expect "teardown succeeds" testbed_teardown "$h"

nothing_left() {
	left=
	pgrep -f -- "--machine=$id" >/dev/null && left="$left nspawn"
	grep -q -e "$work/" -e "$id" /proc/self/mountinfo && left="$left mount"
	ip netns list | grep -q "^$id\b" && left="$left netns"
	[ -e "/run/netns/$id" ] && left="$left /run/netns/$id"
	find /sys/fs/cgroup -maxdepth 3 -name "*$id*" 2>/dev/null | grep -q . &&
		left="$left cgroup"
	[ -e "$work/$h" ] && left="$left state-dir"
	echo "left behind:${left:- nothing}"
	[ -z "$left" ]
}
expect "nothing left: no nspawn, mount, netns, cgroup or state" nothing_left

exit $((tap_failed > 0))
