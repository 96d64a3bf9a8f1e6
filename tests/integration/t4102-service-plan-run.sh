#!/bin/bash
# t4102-service-plan-run: plan predicts run for services in images under
# --root (systemd and sysvinit): a unit or init script that nothing earlier
# in the order brings fails in plan with run's message (exit 4); one that a
# file resource earlier in the order writes is a note, and run enables it.
# Table-driven: each case is a policy, the exit codes of plan and run, and
# a line plan must print; plan's per-resource outcomes must be run's.
# shellcheck disable=SC2034,SC2154 # used in test bodies
. "$(dirname "$0")/../lib/lib.sh"

if ! command -v systemctl >/dev/null || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs systemctl (for systemctl --root) and jq"
	exit 0
fi

test_expect_success 'setup: a systemd image and a sysvinit image' '
	test_make_root sd &&
	mkdir -p sd/lib/systemd/system sd/etc/systemd/system &&
	: >sd/lib/systemd/systemd && chmod 755 sd/lib/systemd/systemd &&
	printf "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n" \
		>sd/lib/systemd/system/web.service &&
	test "$(cg facts --root sd | sed -n "s/^init  *//p")" = systemd &&
	test_make_root sv &&
	mkdir -p sv/etc/init.d sv/etc/rc2.d &&
	test "$(cg facts --root sv | sed -n "s/^init  *//p")" = sysvinit
'

# Per resource "ID STATUS MESSAGE", plan's drifted read as run's repaired.
outcomes() {
	jq -r '.resources[] | "\(.id) \(.status) \(.error.message // "")"' |
		sed 's/^\([^ ]*\) drifted /\1 repaired /'
}

# case NAME IMAGE PLAN_EXIT RUN_EXIT EXPECT < roles/base.yaml: plan and
# run the policy on a fresh copy of IMAGE; plan prints EXPECT.
case_() {
	rm -rf "pol-$1" "root-$1" && mkdir -p "pol-$1/roles" &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >"pol-$1/site.yaml" &&
	cat >"pol-$1/roles/base.yaml" &&
	cp -a "$2" "root-$1" &&
	test_expect_code "$3" cg plan --policy "pol-$1" --root "root-$1" >"$1.plan.txt" &&
	test_grep "$5" "$1.plan.txt" &&
	test_expect_code "$3" cg plan --policy "pol-$1" --root "root-$1" \
		--format json >"$1.plan.json" &&
	test_expect_code "$4" cg run --policy "pol-$1" --root "root-$1" \
		--format json >"$1.run.json" &&
	outcomes <"$1.plan.json" >"$1.plan.out" &&
	outcomes <"$1.run.json" >"$1.run.out" &&
	test_cmp "$1.plan.out" "$1.run.out"
}

test_expect_success 'systemd: no unit, nothing brings it: fails in plan as in run' '
	case_ sd-missing sd 4 4 "there is no unit ghost.service on this host" <<-\EOF
	resources:
	  - service: ghost
	    enabled: true
	EOF
'

test_expect_success 'systemd: the others go on' '
	case_ sd-missing-others sd 6 6 "! service:ghost" <<-\EOF &&
	resources:
	  - service: ghost
	    enabled: true
	  - service: web
	    enabled: true
	EOF
	grep -x "service:web repaired " sd-missing-others.run.out &&
	test -L root-sd-missing-others/etc/systemd/system/multi-user.target.wants/web.service
'

test_expect_success 'systemd: a file resource earlier writes the unit: a note, then enabled' '
	case_ sd-file sd 2 2 "ghost is not on this host yet: file:/etc/systemd/system/ghost.service, earlier in the order, may bring it" <<-\EOF &&
	resources:
	  - file: /etc/systemd/system/ghost.service
	    content: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	  - service: ghost
	    enabled: true
	EOF
	test -L root-sd-file/etc/systemd/system/multi-user.target.wants/ghost.service
'

test_expect_success 'systemd: a file resource for another unit brings nothing' '
	case_ sd-other-file sd 6 6 "there is no unit ghost.service on this host" <<-\EOF
	resources:
	  - file: /etc/systemd/system/ghostly.service
	    content: "[Service]\nExecStart=/bin/true\n"
	  - service: ghost
	    enabled: true
	EOF
'

test_expect_success 'systemd: disabling or ordering a missing unit is no failure' '
	case_ sd-absent-ok sd 2 2 "ghost is not on this host (yet)" <<-\EOF
	resources:
	  - service: ghost
	    enabled: false
	    after: [web]
	EOF
'

test_expect_success 'sysvinit: no init script: fails in plan as in run' '
	case_ sv-missing sv 4 4 "there is no /etc/init.d/ghost on this host" <<-\EOF
	resources:
	  - service: ghost
	    enabled: true
	EOF
'

test_expect_success 'sysvinit: a file resource earlier writes the script: a note, then linked' '
	case_ sv-file sv 2 2 "ghost is not on this host yet: file:/etc/init.d/ghost, earlier in the order, may bring it" <<-\EOF &&
	resources:
	  - file: /etc/init.d/ghost
	    mode: "0755"
	    content: "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: ghost\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\n"
	  - service: ghost
	    enabled: true
	EOF
	ls root-sv-file/etc/rc2.d | grep -q "^S[0-9][0-9]ghost$"
'

test_done
