#!/bin/sh
# t9100-systemd-units.sh: the installed units on a real systemd (a testbed
# host): the service enforces a policy from git and its lines reach the
# journal with their priorities; a no-op run is silent; the timer is
# scheduled; a run from a shell logs through syslog into the journal;
# plan's sandbox works inside a container.
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

echo "1..10"
h=cg-units
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tap_out"; testbed_exit_trap' EXIT

expect "boot a host" testbed_boot "$h"

# make install from a copy (see t8400), then the installed files into the
# host; a sanitizer build brings its runtime libraries along.
install_in() {
	mkdir -p "$tmp/src" &&
		cp -r "$TOP/Makefile" "$TOP/README.md" "$TOP/doc" "$TOP/contrib" "$tmp/src/" &&
		cp "$CONGRUENT" "$tmp/src/congruent" &&
		make -s -C "$tmp/src" -o congruent install DESTDIR="$tmp/inst" PREFIX=/usr >/dev/null &&
		i=$tmp/inst &&
		testbed_copy_in "$h" "$i/usr/sbin/congruent" /usr/sbin/ &&
		for u in congruent.service congruent.timer congruent-firewall.service; do
			testbed_copy_in "$h" "$i/usr/lib/systemd/system/$u" /usr/lib/systemd/system/ || return 1
		done &&
		testbed_copy_in "$h" "$i/usr/share/man/man8/congruent.8" /usr/share/man/man8/ &&
		testbed_copy_in "$h" "$i/etc/congruent/agent.yaml.example" /etc/congruent/agent.yaml.example &&
		for lib in $(ldd "$CONGRUENT" | awk '/lib(asan|ubsan)/ { print $3 }'); do
			testbed_copy_in "$h" "$lib" /usr/lib/x86_64-linux-gnu/ || return 1
		done &&
		testbed_exec "$h" systemctl daemon-reload &&
		testbed_exec "$h" congruent version
}
expect "make install, into the host" install_in

# A policy in a git repository inside the host, made here.
policy_repo() {
	export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
	export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
	w=$tmp/work &&
		git init -q -b main "$w" &&
		mkdir -p "$w/roles" &&
		printf 'classes:\n  - match: "*"\n    roles: [base]\n' >"$w/site.yaml" &&
		printf 'resources:\n  - file: /etc/motd\n    content: "managed by congruent\\n"\n  - directory: /srv/www\n    mode: "0750"\n' >"$w/roles/base.yaml" &&
		git -C "$w" add -A && git -C "$w" commit -q -m v1 &&
		git clone -q --bare "$w" "$tmp/policy.git" &&
		testbed_copy_in "$h" "$tmp/policy.git" /srv/policy.git &&
		printf 'source:\n  url: /srv/policy.git\n  branch: main\nhelper_timeout: 300\n' >"$tmp/agent.yaml" &&
		testbed_copy_in "$h" "$tmp/agent.yaml" /etc/congruent/agent.yaml
}
expect "a policy in git, and /etc/congruent/agent.yaml" policy_repo

verify_units() {
	testbed_exec "$h" systemd-analyze verify --man=no /usr/lib/systemd/system/congruent.service \
		/usr/lib/systemd/system/congruent.timer \
		/usr/lib/systemd/system/congruent-firewall.service >"$tmp/verify" 2>&1
	rc=$?
	cat "$tmp/verify"
	[ $rc = 0 ] && [ ! -s "$tmp/verify" ]
}
expect "systemd-analyze verify accepts the units on a systemd host" verify_units

# Exit 2 (changes applied) is in SuccessExitStatus=: the unit succeeds.
service_run() {
	testbed_exec "$h" systemctl start congruent.service &&
		[ "$(testbed_exec "$h" systemctl show -P Result congruent.service)" = success ] &&
		[ "$(testbed_exec "$h" cat /etc/motd)" = "managed by congruent" ] &&
		[ "$(testbed_exec "$h" stat -c %a /srv/www)" = 750 ]
}
expect "the service enforces the policy (exit 2 counts as success)" service_run

journal_lines() {
	testbed_exec "$h" journalctl -u congruent.service -o verbose >"$tmp/j" &&
		grep -q "MESSAGE=congruent: repaired file:/etc/motd" "$tmp/j" &&
		testbed_exec "$h" journalctl -u congruent.service -p notice -o cat >"$tmp/jn" &&
		cat "$tmp/jn" &&
		grep -q "repaired file:/etc/motd (roles/base.yaml:2): update: content" "$tmp/jn" &&
		grep -q "repaired directory:/srv/www" "$tmp/jn" &&
		! grep -q "run: 2 repaired" "$tmp/jn" &&
		testbed_exec "$h" journalctl -u congruent.service -p info -o cat | grep -q "run: 2 repaired" &&
		testbed_exec "$h" journalctl -t congruent -o cat | grep -c "repaired file:/etc/motd" >"$tmp/n" &&
		[ "$(cat "$tmp/n")" = 1 ]
}
expect "its lines are in the journal once, with their priorities" journal_lines

noop_quiet() {
	before=$(testbed_exec "$h" journalctl -t congruent -o cat | grep -c congruent:) &&
		testbed_exec "$h" systemctl start congruent.service &&
		[ "$(testbed_exec "$h" systemctl show -P ExecMainStatus congruent.service)" = 0 ] &&
		after=$(testbed_exec "$h" journalctl -t congruent -o cat | grep -c congruent:) &&
		echo "$before -> $after" &&
		[ "$before" = "$after" ]
}
expect "a run with nothing to change logs nothing" noop_quiet

timer_enabled() {
	testbed_exec "$h" systemctl enable --now congruent.timer &&
		[ "$(testbed_exec "$h" systemctl is-active congruent.timer)" = active ] &&
		[ "$(testbed_exec "$h" systemctl show -P Persistent congruent.timer)" = yes ] &&
		[ "$(testbed_exec "$h" systemctl show -P RandomizedDelayUSec congruent.timer)" = 30min ] &&
		testbed_exec "$h" systemctl list-timers --all congruent.timer >"$tmp/t" &&
		cat "$tmp/t" &&
		grep -q congruent.service "$tmp/t"
}
expect "the timer is enabled and scheduled" timer_enabled

syslog_run() {
	testbed_exec "$h" sh -c 'echo drift >/etc/motd' &&
		{ testbed_exec "$h" congruent run >/dev/null 2>&1; [ $? = 2 ]; } &&
		testbed_exec "$h" journalctl -t congruent -p notice -o verbose >"$tmp/s" &&
		grep -q "MESSAGE=repaired file:/etc/motd (roles/base.yaml:2): update: content" "$tmp/s" &&
		grep -q "SYSLOG_FACILITY=3" "$tmp/s"
}
expect "a run from a shell logs through syslog into the journal" syslog_run

plan_inside() {
	testbed_exec "$h" sh -c 'echo drift >/etc/motd' &&
		{ testbed_exec "$h" congruent plan -v --no-pull >"$tmp/p" 2>&1; rc=$?; } ;
	cat "$tmp/p"
	[ "$rc" = 2 ] &&
		grep -q "plan diffed in a sandbox: uid 65534" "$tmp/p" &&
		grep -q "~ file:/etc/motd" "$tmp/p" &&
		[ "$(testbed_exec "$h" cat /etc/motd)" = drift ]
}
expect "plan builds its sandbox inside a container too" plan_inside

exit $((tap_failed > 0))
