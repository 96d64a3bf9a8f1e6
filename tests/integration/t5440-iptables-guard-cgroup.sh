#!/bin/sh
# t5440: the lockout guard outlives the agent's systemd service: run as a
# service with KillMode=control-group (systemd's default, which kills
# every process of the unit), the agent is killed with all of its unit
# after applying a change and before confirming it; the guard, moved
# into a scope of its own, still rolls the change back. On a testbed
# host (systemd as PID 1; the firewall is the container's own).
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

echo "1..4"
h=cg-guard-cgroup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tap_out"; testbed_exit_trap' EXIT

expect "boot a host" testbed_boot "$h"

setup() {
	testbed_copy_in "$h" "$CONGRUENT" /usr/local/bin/ &&
		for lib in $(ldd "$CONGRUENT" | awk '/lib(asan|ubsan)/ { print $3 }'); do
			testbed_copy_in "$h" "$lib" /usr/lib/x86_64-linux-gnu/ || return 1
		done &&
		mkdir -p "$tmp/policy/roles" &&
		printf 'classes:\n  - match: "*"\n    roles: [fw]\n' >"$tmp/policy/site.yaml" &&
		cat >"$tmp/policy/roles/fw.yaml" <<-\EOF &&
		resources:
		  - iptables:
		      chain: INPUT
		      rules:
		        - -s 198.51.100.0/24 -j DROP
		EOF
		# The canary says the change is in, then never answers.
		cat >"$tmp/agent.yaml" <<-\EOF &&
		firewall:
		  guard_seconds: 6
		  canaries:
		    - command: [sh, -c, "touch /run/cg-applied; sleep 120"]
		EOF
		testbed_copy_in "$h" "$tmp/policy" /srv/policy &&
		testbed_copy_in "$h" "$tmp/agent.yaml" /srv/agent.yaml &&
		testbed_exec "$h" iptables -S INPUT >"$tmp/before" &&
		testbed_exec "$h" busctl --version >/dev/null
}
expect "congruent and a policy in the host" setup

kill_mid_change() {
	testbed_exec "$h" systemd-run --quiet --unit=cg-agent \
		-p KillMode=control-group \
		-E ASAN_OPTIONS=detect_leaks=0 \
		/usr/local/bin/congruent run -c /srv/agent.yaml \
		--policy /srv/policy --state-dir /var/lib/cg-test &&
		testbed_sh "$h" 'for i in $(seq 100); do [ -e /run/cg-applied ] && exit 0; sleep 0.1; done; exit 1' &&
		testbed_exec "$h" iptables -S INPUT | grep -q -- "-s 198.51.100.0/24 -j DROP" &&
		# The guard runs in its own scope, not in the agent's unit.
		testbed_sh "$h" 'systemctl list-units --no-legend "congruent-guard-*.scope" | grep -q running' &&
		testbed_sh "$h" 'test "$(systemd-cgls --no-pager -u cg-agent.service | grep -c "congruent run")" = 1' ||
		{
			testbed_exec "$h" journalctl --no-pager -n 30
			testbed_sh "$h" 'ls /run; iptables -S INPUT; systemctl list-units --no-legend "congruent-guard-*"; systemd-cgls --no-pager'
			return 1
		}
	testbed_exec "$h" systemctl kill --signal=SIGKILL cg-agent.service &&
		touch "$tmp/killed"
}
expect "the agent, killed with all of its unit after the change" kill_mid_change

rolled_back() {
	test -e "$tmp/killed" &&
		testbed_sh "$h" 'for i in $(seq 150); do iptables -S INPUT | grep -q -- "198.51.100.0/24" || exit 0; sleep 0.1; done; exit 1' &&
		testbed_exec "$h" iptables -S INPUT >"$tmp/after" &&
		diff -u "$tmp/before" "$tmp/after"
}
expect "the guard rolled the change back" rolled_back

exit $((tap_failed > 0))
