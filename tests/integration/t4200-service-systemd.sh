#!/bin/bash
# t4200-service-systemd: services on a real systemd host (a testbed
# container): enable+start, a drop-in with After= for a present and an
# absent service, one daemon-reload per run, the order holding at boot,
# restart_on restarting exactly once (and not at all when nothing changed),
# reload, a failing unit, stop+disable, masking, a second run a no-op.
# shellcheck disable=SC2034,SC2154 # used in test bodies; set by the testbed lib
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/testbed-host.sh"

h=t4200
U=/lib/systemd/system

# Run congruent inside the host; a sanitizer report fails the call (99).
tcg() {
	tb_cg "$h" "$@"
}

# The policy inside the host: roles/base.yaml from stdin.
policy() {
	testbed_sh "$h" 'mkdir -p /srv/pol/roles &&
		printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >/srv/pol/site.yaml &&
		cat >/srv/pol/roles/base.yaml'
}

# A journal cursor now; what PID 1 or a unit logged since cursor $1.
cursor() {
	testbed_exec "$h" journalctl --show-cursor -n 0 -q |
		sed -n 's/^-- cursor: //p'
}
since() {
	testbed_exec "$h" journalctl --sync
	testbed_exec "$h" journalctl --after-cursor="$1" -o short
}
# No journalctl matches (_PID=1, -u, UNIT=): combined with --after-cursor,
# journalctl 252 here misses entries through them. PID 1's lines say
# "systemd[1]: " and name the unit.
reloads_since() {
	since "$1" | grep -c ' systemd\[1\]: Reloading\.$' || :
}
starts_since() {
	since "$1" | grep -c " systemd\[1\]: Started $2 " || :
}
prop() {
	testbed_exec "$h" systemctl show -P "$2" "$1"
}

test_expect_success 'setup: a host with congruent and packaged units' '
	testbed_boot "$h" &&
	testbed_copy_in "$h" "$CONGRUENT" /usr/local/bin/congruent &&
	# A sanitizer build needs its runtime libraries inside too.
	for lib in $(ldd "$CONGRUENT" | awk "/=> \\// { print \$3 }"); do
		testbed_exec "$h" test -e "$lib" ||
			testbed_copy_in "$h" "$lib" "$lib" || exit 1
	done &&
	unit() {
		printf "[Unit]\nDescription=congruent test %s\n[Service]\n%s\n[Install]\nWantedBy=multi-user.target\n" \
			"$1" "$2" >"$1.service"
	} &&
	# cg-db takes half a second to be up: what starts after it waits.
	unit cg-db "Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 0.5" &&
	unit cg-web "ExecStart=/bin/sleep infinity
ExecReload=/bin/sh -c \"echo reload >>/run/cg-web-reloads\"" &&
	unit cg-ctl "ExecStart=/bin/sleep infinity" &&
	unit cg-old "ExecStart=/bin/sleep infinity" &&
	unit cg-fail "ExecStart=/bin/sh -c \"echo oops-cg-fail >&2; exit 3\"" &&
	testbed_make_deb cg-units 1.0 "" \
		$U/cg-db.service=cg-db.service $U/cg-web.service=cg-web.service \
		$U/cg-ctl.service=cg-ctl.service $U/cg-old.service=cg-old.service \
		$U/cg-fail.service=cg-fail.service >/dev/null &&
	testbed_apt_repo "$h" &&
	testbed_exec "$h" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q cg-units >/dev/null &&
	test "$(testbed_exec "$h" systemctl is-enabled cg-web)" = disabled &&
	test "$(tcg facts | sed -n "s/^init  *//p")" = systemd
'

policy_main() {
	policy <<-EOF
	resources:
	  - file: /etc/cg-web.conf
	    content: "${1:-v1}\n"
	  - file: /etc/cg-web2.conf
	    content: "${2:-v1}\n"
	  - service: cg-web
	    enabled: true
	    running: true
	    after: [cg-db, cg-absent]
	    restart_on: [file:/etc/cg-web.conf, file:/etc/cg-web2.conf]
	  - service: cg-db
	    enabled: true
	    running: true
	    before: [cg-ctl]
	  - service: cg-ctl
	    enabled: true
	    running: true
	EOF
}

test_expect_success 'plan: what would change, the boot order, the absent service' '
	policy_main &&
	test_expect_code 2 tcg plan --policy /srv/pol >out &&
	test_grep "enabled disabled -> enabled" out &&
	test_grep "running stopped -> running" out &&
	test_grep "order After=cg-db.service cg-absent.service" out &&
	test_grep "boot order of the managed services (systemd" out &&
	test_grep "  1    cg-db" out &&
	test_grep "  2    cg-web" out &&
	test_grep "         after cg-db" out &&
	test_grep "         after cg-absent: not on this host, ignored" out &&
	test "$(testbed_exec "$h" systemctl is-active cg-web)" = inactive &&
	testbed_exec "$h" test ! -e /etc/systemd/system/cg-web.service.d
'

test_expect_success 'run: enable + start, drop-ins, one daemon-reload' '
	c=$(cursor) &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	for s in cg-web cg-db cg-ctl; do
		test "$(testbed_exec "$h" systemctl is-enabled $s)" = enabled &&
		test "$(testbed_exec "$h" systemctl is-active $s)" = active ||
			exit 1
	done &&
	n=$(reloads_since "$c") && echo "daemon-reloads: $n" && test "$n" = 1 &&
	# Started in this run: the file that changed brings no restart.
	n=$(starts_since "$c" cg-web.service) && echo "starts: $n" &&
	test "$n" = 1
'

test_expect_success 'the drop-in: After= for a present and an absent service, never Requires=' '
	testbed_exec "$h" cat /etc/systemd/system/cg-web.service.d/congruent-order.conf >dropin &&
	grep -x "After=cg-db.service cg-absent.service" dropin &&
	! grep -q "^Requires=\|^Wants=\|^BindsTo=" dropin &&
	prop cg-web After | tr " " "\n" >after &&
	grep -x cg-db.service after && grep -x cg-absent.service after &&
	! prop cg-web Requires | grep -q cg- &&
	prop cg-ctl After | tr " " "\n" | grep -x cg-db.service &&
	test "$(prop cg-absent.service LoadState)" = not-found
'

test_expect_success 'a second run is a no-op: nothing changes, no daemon-reload, no restart' '
	c=$(cursor) && inv=$(prop cg-web InvocationID) &&
	test_expect_code 0 tcg run --policy /srv/pol >out &&
	test_expect_code 0 tcg plan --policy /srv/pol >out &&
	test_grep "plan: 0 to change, 5 ok" out &&
	test "$(reloads_since "$c")" = 0 &&
	test "$(prop cg-web InvocationID)" = "$inv"
'

test_expect_success 'the order holds at boot: cg-web starts after cg-db is up' '
	testbed_reboot "$h" &&
	for s in cg-web cg-db cg-ctl; do
		test "$(testbed_exec "$h" systemctl is-active $s)" = active ||
			exit 1
	done &&
	db_up=$(prop cg-db ActiveEnterTimestampMonotonic) &&
	db_start=$(prop cg-db ExecMainStartTimestampMonotonic) &&
	web=$(prop cg-web ExecMainStartTimestampMonotonic) &&
	ctl=$(prop cg-ctl ExecMainStartTimestampMonotonic) &&
	echo "cg-db start $db_start up $db_up, cg-web $web, cg-ctl $ctl" &&
	test "$db_up" -gt 0 && test "$web" -gt 0 && test "$ctl" -gt 0 &&
	# cg-db takes 0.5 s, so this is no accident of timing.
	test $((db_up - db_start)) -ge 400000 &&
	test "$web" -ge "$db_up" && test "$ctl" -ge "$db_up"
'

test_expect_success 'restart_on: a changed file restarts the service exactly once' '
	c=$(cursor) && inv=$(prop cg-web InvocationID) &&
	policy_main v2 &&
	test_expect_code 2 tcg plan --policy /srv/pol >out &&
	test_grep "restart because file:/etc/cg-web.conf changed" out &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "restart because file:/etc/cg-web.conf changed" out &&
	test "$(prop cg-web InvocationID)" != "$inv" &&
	test "$(starts_since "$c" cg-web.service)" = 1 &&
	test "$(testbed_exec "$h" systemctl is-active cg-web)" = active
'

test_expect_success 'restart_on: two changed files, still one restart' '
	c=$(cursor) &&
	policy_main v3 v3 &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "restart because file:/etc/cg-web.conf, file:/etc/cg-web2.conf changed" out &&
	test "$(starts_since "$c" cg-web.service)" = 1
'

test_expect_success 'restart_on: nothing changed, no restart' '
	c=$(cursor) && inv=$(prop cg-web InvocationID) &&
	test_expect_code 0 tcg run --policy /srv/pol >out &&
	test "$(prop cg-web InvocationID)" = "$inv" &&
	test "$(starts_since "$c" cg-web.service)" = 0
'

test_expect_success 'reload: true reloads once instead of restarting' '
	inv=$(prop cg-web InvocationID) &&
	policy <<-\EOF &&
	resources:
	  - file: /etc/cg-web.conf
	    content: "v4\n"
	  - service: cg-web
	    running: true
	    restart_on: [file:/etc/cg-web.conf]
	    reload: true
	EOF
	testbed_exec "$h" rm -f /run/cg-web-reloads &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "reload because file:/etc/cg-web.conf changed" out &&
	test "$(testbed_exec "$h" cat /run/cg-web-reloads)" = reload &&
	test "$(prop cg-web InvocationID)" = "$inv" &&
	test_expect_code 0 tcg run --policy /srv/pol >out &&
	test "$(testbed_exec "$h" cat /run/cg-web-reloads | wc -l)" = 1
'

local_conf() {
	policy <<-EOF
	resources:
	  - directory: /etc/systemd/system/cg-ctl.service.d
	  - file: /etc/systemd/system/cg-ctl.service.d/10-local.conf
	    content: "[Service]\\nEnvironment=CG_LOCAL=$1\\n"
	  - service: cg-ctl
	    running: true
	    $2
	EOF
}

test_expect_success 'a unit file changed by a file resource: one reload, then the restart' '
	c=$(cursor) &&
	local_conf 1 "restart_on: [file:/etc/systemd/system/cg-ctl.service.d/10-local.conf]" &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(prop cg-ctl Environment)" = CG_LOCAL=1 &&
	test "$(prop cg-ctl NeedDaemonReload)" = no &&
	n=$(reloads_since "$c") && echo "daemon-reloads: $n" && test "$n" = 1 &&
	test "$(starts_since "$c" cg-ctl.service)" = 1
'

test_expect_success 'a unit file changed, no restart_on: reloaded, not restarted' '
	c=$(cursor) && inv=$(prop cg-ctl InvocationID) &&
	local_conf 2 &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "unit file changed on disk -> reloaded" out &&
	test "$(prop cg-ctl Environment)" = CG_LOCAL=2 &&
	test "$(prop cg-ctl InvocationID)" = "$inv" &&
	test "$(reloads_since "$c")" = 1 &&
	test_expect_code 0 tcg run --policy /srv/pol
'

test_expect_success 'a unit file written in the run, after systemd cached it as missing' '
	policy <<-\EOF &&
	resources:
	  - service: cg-ctl
	    running: true
	    after: [cg-new]
	  - file: /etc/systemd/system/cg-new.service
	    content: "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
	  - service: cg-new
	    enabled: true
	    running: true
	    requires: [file:/etc/systemd/system/cg-new.service]
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(testbed_exec "$h" systemctl is-enabled cg-new)" = enabled &&
	test "$(testbed_exec "$h" systemctl is-active cg-new)" = active &&
	test_expect_code 0 tcg run --policy /srv/pol
'

test_expect_success 'a failing unit fails its resource with its own status lines; the others go on' '
	policy <<-\EOF &&
	resources:
	  - service: cg-fail
	    running: true
	  - service: cg-old
	    running: true
	EOF
	test_expect_code 6 tcg run --policy /srv/pol >out &&
	test_grep "! service:cg-fail" out &&
	test_grep "cg-fail.service did not start:" out &&
	test_grep "oops-cg-fail" out &&
	! grep -e "Active:" -e "CGroup:" -e "Main PID" out &&
	test_grep "hint: journalctl -u cg-fail.service" out &&
	test "$(testbed_exec "$h" systemctl is-active cg-old)" = active &&
	tcg run --policy /srv/pol --format json >out.json || : &&
	jq -r ".resources[] | select(.id == \"service:cg-fail\") | .status" out.json >st &&
	test "$(cat st)" = failed
'

test_expect_success 'stop + disable; the drop-in goes with the order' '
	c=$(cursor) &&
	policy <<-\EOF &&
	resources:
	  - service: cg-web
	    enabled: false
	    running: false
	  - service: cg-ctl
	    enabled: false
	    running: false
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "running running -> stopped" out &&
	for s in cg-web cg-ctl; do
		test "$(testbed_exec "$h" systemctl is-enabled $s)" = disabled &&
		test "$(testbed_exec "$h" systemctl is-active $s)" = inactive ||
			exit 1
	done &&
	testbed_exec "$h" test ! -e /etc/systemd/system/cg-web.service.d &&
	test "$(reloads_since "$c")" = 1 &&
	test_expect_code 0 tcg run --policy /srv/pol
'

test_expect_success 'masked: true masks and stops; masked: false unmasks' '
	policy <<-\EOF &&
	resources:
	  - service: cg-old
	    masked: true
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(testbed_exec "$h" systemctl is-enabled cg-old)" = masked &&
	test "$(testbed_exec "$h" systemctl is-active cg-old)" = inactive &&
	test_expect_code 0 tcg run --policy /srv/pol &&
	policy <<-\EOF &&
	resources:
	  - service: cg-old
	    masked: false
	    enabled: true
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(testbed_exec "$h" systemctl is-enabled cg-old)" = enabled
'

test_done
