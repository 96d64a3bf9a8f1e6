#!/bin/sh
# t9001-testbed-tools.sh: what later tests rely on in a testbed host: a
# packaged systemd service across a reboot, iptables in the host's own
# namespace, copying files in and out, exit statuses and time-outs.
# shellcheck disable=SC2317 # the test functions are called through expect
# shellcheck source-path=SCRIPTDIR source=../testbed/lib.sh
. "$(dirname "$0")/../testbed/lib.sh"

if ! testbed_available; then
	echo "1..0 # SKIP $testbed_skip_reason"
	exit 0
fi

# shellcheck source=../testbed/tap.sh
. "$(dirname "$0")/../testbed/tap.sh"

echo "1..7"
h=tb-tools
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tap_out"; testbed_exit_trap' EXIT

expect "boot a host" testbed_boot "$h"

# shellcheck disable=SC2016 # $1 of the postinst, not ours
service_across_reboot() {
	cat >"$tmp/unit" <<-'EOF'
	[Unit]
	Description=congruent testbed sleeper
	[Service]
	ExecStart=/bin/sleep infinity
	[Install]
	WantedBy=multi-user.target
	EOF
	printf '#!/bin/sh\nset -e\n[ "$1" = configure ] || exit 0\n%s\n' \
		'systemctl enable --now cg-sleeper.service' >"$tmp/postinst"
	testbed_make_deb cg-sleeper 1.0 "" \
		/lib/systemd/system/cg-sleeper.service="$tmp/unit" \
		DEBIAN/postinst="$tmp/postinst" >/dev/null &&
		testbed_apt_repo "$h" &&
		testbed_exec "$h" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q cg-sleeper &&
		before=$(testbed_exec "$h" systemctl show -P InvocationID cg-sleeper) &&
		[ "$(testbed_exec "$h" systemctl is-active cg-sleeper)" = active ] &&
		testbed_reboot "$h" &&
		after=$(testbed_exec "$h" systemctl show -P InvocationID cg-sleeper) &&
		echo "invocation $before -> $after" &&
		[ "$(testbed_exec "$h" systemctl is-active cg-sleeper)" = active ] &&
		[ -n "$before" ] && [ "$before" != "$after" ]
}
expect "an enabled packaged service starts again after a reboot" \
	service_across_reboot

iptables_inside() {
	testbed_exec "$h" iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
		testbed_exec "$h" iptables-save | grep -- '--dport 22 -j ACCEPT' &&
		# The same rule, seen from the host through the named netns.
		ip netns exec "cgtb$$-$h" iptables-save | grep -- '--dport 22' &&
		# And not in the host's own firewall.
		! iptables-save 2>/dev/null | grep -q "cgtb$$"
}
expect "iptables works inside, in the host's own network namespace" \
	iptables_inside

copy_in_out() {
	printf '#!/bin/sh\necho copied\n' >"$tmp/tool"
	chmod 750 "$tmp/tool"
	mkdir -p "$tmp/tree/sub" && echo leaf >"$tmp/tree/sub/file" &&
		testbed_copy_in "$h" "$tmp/tool" /usr/local/bin/ &&
		[ "$(testbed_exec "$h" stat -c %a /usr/local/bin/tool)" = 750 ] &&
		[ "$(testbed_exec "$h" tool)" = copied ] &&
		testbed_copy_in "$h" "$tmp/tree" /srv/tree &&
		testbed_copy_out "$h" /srv/tree/sub/file "$tmp/back" &&
		[ "$(cat "$tmp/back")" = leaf ]
}
expect "copy a file and a tree in, a file out" copy_in_out

exit_status() {
	rc=0
	testbed_exec "$h" sh -c 'exit 7' || rc=$?
	[ "$rc" -eq 7 ] || return 1
	rc=0
	testbed_exec -t 1 "$h" sleep 10 || rc=$?
	echo "time-out status: $rc"
	[ "$rc" -eq 124 ]
}
expect "exit status passes through; time-outs are bounded (124)" exit_status

unknown_host() {
	rc=0
	testbed_exec no-such-host true 2>"$tmp/err" || rc=$?
	cat "$tmp/err"
	[ "$rc" -eq 125 ] && grep -q "no testbed host named 'no-such-host'" "$tmp/err"
}
expect "an unknown host is an error (125) that names it" unknown_host

expect "teardown succeeds" testbed_teardown "$h"

exit $((tap_failed > 0))
