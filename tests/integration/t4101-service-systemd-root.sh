#!/bin/bash
# t4101-service-systemd-root: services in a systemd image under --root:
# enable, disable and mask through systemctl --root, the start order as
# drop-ins, nothing started or reloaded, a second run a no-op.
# shellcheck disable=SC2034,SC2154 # used in test bodies; set by the testbed lib
. "$(dirname "$0")/../lib/lib.sh"

if ! command -v systemctl >/dev/null; then
	echo "1..0 # SKIP needs systemctl (for systemctl --root)"
	exit 0
fi

unit() {
	mkdir -p root/lib/systemd/system
	printf '[Unit]\nDescription=%s\n[Service]\nExecStart=/bin/true\n%s' \
		"$1" "${2-[Install]
WantedBy=multi-user.target
}" >"root/lib/systemd/system/$1.service"
}

policy() {
	mkdir -p pol/roles
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
	cat >pol/roles/base.yaml
}

dropin=root/etc/systemd/system/web.service.d/congruent-order.conf

test_expect_success 'setup: an image that ships systemd, with units' '
	test_make_root root &&
	mkdir -p root/lib/systemd root/etc/systemd/system &&
	: >root/lib/systemd/systemd && chmod 755 root/lib/systemd/systemd &&
	unit web && unit db && unit old && unit helper "" &&
	test "$(cg facts --root root | sed -n "s/^init  *//p")" = systemd &&
	policy <<-\EOF
	resources:
	  - service: web
	    enabled: true
	    running: true
	    after: [db, absent-svc, network-online.target]
	  - service: db
	    enabled: true
	    before: [web]
	  - service: old
	    masked: true
	EOF
'

test_expect_success 'plan: the changes, the boot order, and that nothing runs' '
	test_list_root root >before &&
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_list_root root >after &&
	test_cmp before after &&
	test_grep "~ service:web" out &&
	test_grep "enabled disabled -> enabled" out &&
	test_grep "order After=db.service absent-svc.service network-online.target" out &&
	test_grep "masked false -> true" out &&
	test_grep "--root: not started, stopped or restarted (nothing runs in an image)" out &&
	test_grep "boot order of the managed services (systemd: After=/Before= drop-ins, soft: never Requires=) (--root: nothing is started in an image):" out &&
	test_grep "  1    db                       enabled   roles/base.yaml:6" out &&
	test_grep "  2    web                      enabled   roles/base.yaml:2" out &&
	test_grep "         after db (also its before: at roles/base.yaml:6)" out &&
	test_grep "         after absent-svc: not on this host, ignored" out &&
	test_grep_not "running stopped" out
'

test_expect_success 'run: links made by systemctl --root, drop-ins written' '
	test_expect_code 2 cg run --policy pol --root root >out &&
	test "$(readlink root/etc/systemd/system/multi-user.target.wants/web.service)" = /lib/systemd/system/web.service &&
	test -L root/etc/systemd/system/multi-user.target.wants/db.service &&
	test "$(readlink root/etc/systemd/system/old.service)" = /dev/null &&
	grep -x "After=db.service absent-svc.service network-online.target" $dropin &&
	grep -x "Before=web.service" root/etc/systemd/system/db.service.d/congruent-order.conf &&
	! grep -q "^Requires=\|^Wants=" $dropin &&
	test "$(stat -c %a $dropin)" = 644
'

test_expect_success 'a second run is a no-op' '
	test_expect_code 0 cg run --policy pol --root root >out &&
	test_expect_code 0 cg plan --policy pol --root root >out &&
	test_grep "plan: 0 to change, 3 ok" out
'

test_expect_success 'the fingerprint: the same while nothing changes, not after a hand change' '
	cg plan --policy pol --root root --format json >j1 &&
	cg plan --policy pol --root root --format json >j2 &&
	test "$(jq -r .fingerprint j1)" = "$(jq -r .fingerprint j2)" &&
	rm root/etc/systemd/system/multi-user.target.wants/db.service &&
	test_expect_code 2 cg plan --policy pol --root root --format json >j3 &&
	test "$(jq -r .fingerprint j1)" != "$(jq -r .fingerprint j3)" &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	cg plan --policy pol --root root --format json >j4 &&
	test "$(jq -r .fingerprint j1)" = "$(jq -r .fingerprint j4)"
'

test_expect_success 'a drop-in edited by hand is put back, the edit kept in the store' '
	echo "# local" >>$dropin &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	test_grep "-# local" out &&
	! grep -q local $dropin &&
	cg restore --root root --list >out &&
	test_grep "/etc/systemd/system/web.service.d/congruent-order.conf" out
'

test_expect_success 'no after/before any more: the drop-in and its directory go' '
	policy <<-\EOF &&
	resources:
	  - service: web
	    enabled: false
	  - service: db
	    enabled: true
	    before: [web]
	  - service: old
	    masked: false
	EOF
	test_expect_code 2 cg run --policy pol --root root >out &&
	test ! -e $dropin && test ! -e root/etc/systemd/system/web.service.d &&
	test ! -e root/etc/systemd/system/multi-user.target.wants/web.service &&
	test ! -e root/etc/systemd/system/old.service &&
	test_expect_code 0 cg run --policy pol --root root
'

test_expect_success 'enabling a unit without [Install] is an error that says why' '
	policy <<-\EOF &&
	resources:
	  - service: helper
	    enabled: true
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "helper is static: it has no [Install] section" out
'

test_expect_success 'enabling a unit that is not there fails that service only' '
	policy <<-\EOF &&
	resources:
	  - service: nosuch
	    enabled: true
	  - service: web
	    enabled: true
	EOF
	test_expect_code 6 cg run --policy pol --root root >out &&
	test_grep "there is no unit nosuch.service on this host" out &&
	test -L root/etc/systemd/system/multi-user.target.wants/web.service
'

test_expect_success 'a masked unit is not enabled behind the policy'"'"'s back' '
	policy <<-\EOF &&
	resources:
	  - service: old
	    masked: true
	  - service: web
	    enabled: true
	EOF
	test_expect_code 2 cg run --policy pol --root root >out &&
	policy <<-\EOF &&
	resources:
	  - service: old
	    enabled: true
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "old is masked, so it can be neither enabled nor started" out &&
	test_grep "hint: add masked: false to unmask it" out
'

test_done
