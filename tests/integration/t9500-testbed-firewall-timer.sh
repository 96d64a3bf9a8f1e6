#!/bin/sh
# t9500-testbed-firewall-timer.sh: the testbed hosts have CAP_NET_ADMIN, so
# the agent that systemd starts inside one (congruent.timer firing
# congruent.service) manages iptables: the rules of a firewall role are
# then in the host's own network namespace, and never in the machine's.
# shellcheck disable=SC2317 # the test functions are called through expect
# shellcheck source-path=SCRIPTDIR source=../testbed/lib.sh
. "$(dirname "$0")/../testbed/lib.sh"

if ! testbed_available; then
	echo "1..0 # SKIP $testbed_skip_reason"
	exit 0
fi

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CONGRUENT=${CONGRUENT:-$TOP/congruent}

# shellcheck source=../testbed/tap.sh
. "$(dirname "$0")/../testbed/tap.sh"

echo "1..7"
h=cg-fwtimer
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tap_out"; testbed_exit_trap' EXIT

# A rule nobody else would write, to look for in the machine's tables.
MARK="cg-t9500-$$"
iptables-save >"$tmp/machine.before" 2>/dev/null || : >"$tmp/machine.before"

expect "boot a host" testbed_boot "$h"

caps_inside() {
	testbed_exec "$h" grep CapBnd /proc/1/status >"$tmp/capbnd" &&
		cat "$tmp/capbnd" &&
		bnd=$(awk '{ print $2 }' "$tmp/capbnd") &&
		[ $(( (0x$bnd >> 12) & 1 )) = 1 ]
}
expect "PID 1 of the host has CAP_NET_ADMIN (12) in its bounding set" caps_inside

# make install from a copy (as t9100), then into the host.
install_in() {
	mkdir -p "$tmp/src" &&
		cp -r "$TOP/Makefile" "$TOP/README.md" "$TOP/doc" "$TOP/contrib" "$tmp/src/" &&
		cp "$CONGRUENT" "$tmp/src/congruent" &&
		make -s -C "$tmp/src" -o congruent install DESTDIR="$tmp/inst" PREFIX=/usr >/dev/null &&
		i=$tmp/inst &&
		testbed_copy_in "$h" "$i/usr/sbin/congruent" /usr/sbin/ &&
		for u in congruent.service congruent.timer; do
			testbed_copy_in "$h" "$i/usr/lib/systemd/system/$u" /usr/lib/systemd/system/ || return 1
		done &&
		for lib in $(ldd "$CONGRUENT" | awk '/lib(asan|ubsan)/ { print $3 }'); do
			testbed_copy_in "$h" "$lib" /usr/lib/x86_64-linux-gnu/ || return 1
		done &&
		testbed_exec "$h" systemctl daemon-reload
}
expect "make install, into the host" install_in

# A firewall role in a git repository inside the host.
policy_repo() {
	export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
	export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
	w=$tmp/work &&
		git init -q -b main "$w" &&
		mkdir -p "$w/roles" &&
		printf 'classes:\n  - match: "*"\n    roles: [firewall]\n' >"$w/site.yaml" &&
		cat >"$w/roles/firewall.yaml" <<-EOF &&
		resources:
		  - iptables:
		      family: ipv4
		      table: filter
		      chain: INPUT
		      rules:
		        - -p tcp --dport 2222 -m comment --comment $MARK -j ACCEPT
		EOF
		git -C "$w" add -A && git -C "$w" commit -q -m v1 &&
		git clone -q --bare "$w" "$tmp/policy.git" &&
		testbed_copy_in "$h" "$tmp/policy.git" /srv/policy.git &&
		printf 'source:\n  url: /srv/policy.git\n  branch: main\nhelper_timeout: 300\n' >"$tmp/agent.yaml" &&
		testbed_copy_in "$h" "$tmp/agent.yaml" /etc/congruent/agent.yaml
}
expect "a firewall role in git, and /etc/congruent/agent.yaml" policy_repo

# The timer, made to fire now (the shipped one waits up to 30 min).
timer_fires() {
	testbed_sh "$h" 'mkdir -p /etc/systemd/system/congruent.timer.d &&
		printf "[Timer]\nOnActiveSec=1s\nRandomizedDelaySec=0\n" \
			>/etc/systemd/system/congruent.timer.d/now.conf &&
		systemctl daemon-reload && systemctl start congruent.timer' &&
		n=0 &&
		until [ "$(testbed_exec "$h" systemctl show -P ExecMainExitTimestampMonotonic congruent.service)" != 0 ]; do
			n=$((n + 1))
			[ $n -lt 120 ] || { echo "the service did not run"; return 1; }
			sleep 0.5
		done &&
		testbed_exec "$h" systemctl show -P ExecMainStatus congruent.service >"$tmp/st" &&
		testbed_exec "$h" journalctl -u congruent.service -o cat >"$tmp/j"
	cat "$tmp/j"
	[ "$(cat "$tmp/st")" = 2 ] &&
		grep -q "repaired iptables:ipv4/filter/INPUT" "$tmp/j"
}
expect "the timer starts the service, which applies the firewall role (exit 2)" timer_fires

rules_seen() {
	testbed_exec "$h" iptables-save -t filter >"$tmp/inside" || return 1
	cat "$tmp/inside"
	grep -q -- "--dport 2222 .*$MARK" "$tmp/inside" &&
		ip netns exec "$(cat "$testbed_work/$h/netns")" iptables-save -t filter >"$tmp/ns" &&
		grep -q -- "$MARK" "$tmp/ns" || return 1
	iptables-save >"$tmp/machine.after" 2>/dev/null || : >"$tmp/machine.after"
	! grep -q -- "$MARK" "$tmp/machine.after"
}
expect "the rule is in the host's own netns, not in the machine's" rules_seen

second_run() {
	testbed_exec "$h" systemctl start congruent.service &&
		[ "$(testbed_exec "$h" systemctl show -P ExecMainStatus congruent.service)" = 0 ]
}
expect "a second run from the service finds the firewall congruent (exit 0)" second_run

exit $((tap_failed > 0))
