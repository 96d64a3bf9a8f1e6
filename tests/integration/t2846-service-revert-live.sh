#!/bin/bash
# t2846-service-revert-live: orphans: revert of services on a real
# systemd host (a testbed container): one congruent enabled and started
# is stopped and disabled again, its drop-in removed; one it stopped is
# started again; plan predicts run and changes nothing.
# shellcheck disable=SC2034,SC2154 # used in test bodies; set by the testbed lib
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/testbed-host.sh"

h=t2846
U=/lib/systemd/system

tcg() {
	tb_cg "$h" "$@"
}

policy() {
	testbed_sh "$h" 'mkdir -p /srv/pol/roles && cat >/srv/pol/roles/base.yaml'
}

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [base]\n' "$1" |
		testbed_sh "$h" 'mkdir -p /srv/pol && cat >/srv/pol/site.yaml'
}

state() { # UNIT: "enabled active" as systemctl says
	echo "$(testbed_exec "$h" systemctl is-enabled "$1" 2>/dev/null)" \
		"$(testbed_exec "$h" systemctl is-active "$1" 2>/dev/null)"
}

test_expect_success 'setup: a host with congruent and two packaged units' '
	testbed_boot "$h" &&
	testbed_copy_in "$h" "$CONGRUENT" /usr/local/bin/congruent &&
	for lib in $(ldd "$CONGRUENT" | awk "/=> \\// { print \$3 }"); do
		testbed_exec "$h" test -e "$lib" ||
			testbed_copy_in "$h" "$lib" "$lib" || exit 1
	done &&
	unit() {
		printf "[Unit]\nDescription=congruent test %s\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n" \
			"$1" >"$1.service"
	} &&
	unit cg-rweb && unit cg-rold &&
	testbed_make_deb cg-runits 1.0 "" \
		$U/cg-rweb.service=cg-rweb.service $U/cg-rold.service=cg-rold.service >/dev/null &&
	testbed_apt_repo "$h" &&
	testbed_exec "$h" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q cg-runits >/dev/null &&
	testbed_exec "$h" systemctl enable --now cg-rold >/dev/null 2>&1 &&
	test "$(state cg-rweb)" = "disabled inactive" &&
	test "$(state cg-rold)" = "enabled active"
'

test_expect_success 'congruent starts one, stops the other' '
	site "" && policy <<-\EOF &&
	resources:
	  - service: cg-rweb
	    enabled: true
	    running: true
	    after: [cg-rold]
	  - service: cg-rold
	    enabled: false
	    running: false
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(state cg-rweb)" = "enabled active" &&
	test "$(state cg-rold)" = "disabled inactive" &&
	testbed_exec "$h" test -f /etc/systemd/system/cg-rweb.service.d/congruent-order.conf
'

test_expect_success 'orphans: revert: plan says it and changes nothing; run puts both back' '
	policy <<-\EOF &&
	resources: []
	EOF
	site "orphans: revert\n" &&
	test_expect_code 2 tcg plan --format json --policy /srv/pol >plan.json &&
	test "$(state cg-rweb)" = "enabled active" &&
	test "$(state cg-rold)" = "disabled inactive" &&
	test_expect_code 2 tcg run --format json --policy /srv/pol >run.json &&
	jq -r ".orphans[] | [.id, .revert, .status] | @tsv" plan.json | sed "s/	drifted\$/	repaired/" >plan.out &&
	jq -r ".orphans[] | [.id, .revert, .status] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "service:cg-rweb	disable, stop, remove the start-order drop-in it wrote, as before congruent	repaired" run.out &&
	grep -x "service:cg-rold	enable, start, as before congruent	repaired" run.out &&
	test "$(state cg-rweb)" = "disabled inactive" &&
	test "$(state cg-rold)" = "enabled active" &&
	! testbed_exec "$h" test -e /etc/systemd/system/cg-rweb.service.d &&
	test_expect_code 0 tcg run --policy /srv/pol >out
'

test_done
