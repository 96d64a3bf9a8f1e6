#!/bin/bash
# t4100-service-sysv-root: services in a sysvinit image under --root: rc
# links numbered from the start order (after:/before:, around services the
# policy does not manage, an absent one ignored), enable/disable through
# the links, the boot order in plan, nothing started, a second run a no-op.
. "$(dirname "$0")/../lib/lib.sh"

# An init script with an LSB header ($2: Default-Start, $3: Default-Stop).
script() {
	mkdir -p root/etc/init.d
	printf '#!/bin/sh\n### BEGIN INIT INFO\n# Provides: %s\n# Default-Start: %s\n# Default-Stop: %s\n### END INIT INFO\necho "$0 $1" >>%s/ran\n' \
		"$1" "${2-2 3 4 5}" "${3-0 1 6}" "$TRASH" >"root/etc/init.d/$1"
	chmod 755 "root/etc/init.d/$1"
}

policy() {
	mkdir -p pol/roles
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
	cat >pol/roles/base.yaml
}

# The links of service $1, "rcN.d/NAME" sorted, on one line.
links() {
	(cd root/etc && ls -d rc?.d/[SK][0-9][0-9]"$1" 2>/dev/null | sort | tr '\n' ' ')
}

# The S number of $1 in rc2.d.
snum() {
	ls root/etc/rc2.d | sed -n "s/^S\([0-9][0-9]\)$1\$/\1/p"
}

test_expect_success 'setup: an image with init scripts and one rc link' '
	test_make_root root &&
	for s in db web worker early rsyslog cron; do script $s || exit 1; done &&
	script late "2 3 4 5" "0 1 6" &&
	mkdir -p root/etc/rc2.d root/etc/rc3.d root/etc/rc4.d root/etc/rc5.d &&
	ln -s ../init.d/rsyslog root/etc/rc2.d/S02rsyslog &&
	ln -s ../init.d/cron root/etc/rc2.d/S60cron &&
	ln -s ../init.d/web root/etc/rc2.d/S01web &&
	test "$(cg facts --root root | sed -n "s/^init  *//p")" = sysvinit &&
	policy <<-\EOF
	resources:
	  - service: web
	    enabled: true
	    running: true
	    after: [db, rsyslog, absent-svc]
	  - service: db
	    enabled: true
	  - service: early
	    enabled: true
	    before: [cron]
	  - service: worker
	    enabled: false
	    after: [web]
	EOF
'

test_expect_success 'plan shows the boot order and where it comes from, changes nothing' '
	test_list_root root >before &&
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_list_root root >after &&
	test_cmp before after &&
	test_grep "boot order of the managed services (sysvinit" out &&
	test_grep "(--root: nothing is started in an image)" out &&
	test_grep "  S02  rsyslog" out &&
	test_grep "  S10  db                       enabled   roles/base.yaml:6" out &&
	test_grep "  S20  web                      enabled   roles/base.yaml:2" out &&
	test_grep "         after db, rsyslog (S02, not managed)" out &&
	test_grep "         after absent-svc: not on this host, ignored" out &&
	test_grep "  S30  worker                   disabled  roles/base.yaml:11" out &&
	test_grep "rc links S01: 2 -> S20: 2 3 4 5; K80: 0 1 6" out &&
	test_grep "(--root: not started, stopped or restarted (nothing runs in an image); after absent-svc: not on this host, ignored)" out
'

test_expect_success 'the boot order is in plan --format json too' '
	test_expect_code 2 cg plan --policy pol --root root --format json >out.json &&
	jq -r ".summaries.service" out.json >summary &&
	test_grep "  S20  web" summary
'

test_expect_success 'run numbers the links from the order; nothing is run' '
	test_expect_code 2 cg run --policy pol --root root >out &&
	test ! -e "$TRASH/ran" &&
	test "$(links db)" = "rc0.d/K90db rc1.d/K90db rc2.d/S10db rc3.d/S10db rc4.d/S10db rc5.d/S10db rc6.d/K90db " &&
	test "$(links web)" = "rc0.d/K80web rc1.d/K80web rc2.d/S20web rc3.d/S20web rc4.d/S20web rc5.d/S20web rc6.d/K80web " &&
	test "$(readlink root/etc/rc2.d/S20web)" = ../init.d/web &&
	test ! -e root/etc/rc2.d/S01web
'

test_expect_success 'the numbers respect after: and before:, also against unmanaged links' '
	test "$(snum rsyslog)" -lt "$(snum web)" &&
	test "$(snum db)" -lt "$(snum web)" &&
	test "$(snum early)" -lt "$(snum cron)" &&
	test "$(snum cron)" = 60 &&
	test "$(snum rsyslog)" = 02
'

test_expect_success 'disabled: K links only, numbered after what it follows' '
	test "$(links worker)" = "rc0.d/K70worker rc1.d/K70worker rc2.d/K70worker rc3.d/K70worker rc4.d/K70worker rc5.d/K70worker rc6.d/K70worker "
'

test_expect_success 'a second run is a no-op' '
	cg run --policy pol --root root >out &&
	test_expect_code 0 cg plan --policy pol --root root >out &&
	test_grep "plan: 0 to change, 4 ok" out
'

test_expect_success 'the replaced link was kept in the backup store' '
	cg restore --root root --list >out &&
	test_grep "/etc/rc2.d/S01web" out
'

test_expect_success 'a service put in between renumbers the ones after it' '
	policy <<-\EOF &&
	resources:
	  - service: web
	    enabled: true
	    after: [db, rsyslog, absent-svc]
	  - service: db
	    enabled: true
	  - service: late
	    enabled: true
	    after: [db]
	    before: [web]
	  - service: early
	    enabled: true
	    before: [cron]
	  - service: worker
	    enabled: false
	    after: [web]
	EOF
	test_expect_code 2 cg run --policy pol --root root >out &&
	test "$(snum db)" -lt "$(snum late)" &&
	test "$(snum late)" -lt "$(snum web)" &&
	test "$(links web | wc -w)" = 7 &&
	test "$(ls root/etc/rc2.d | grep -c "web$")" = 1 &&
	cg run --policy pol --root root >out
'

test_expect_success 'disable: the start links become stop links' '
	sed -i "0,/enabled: true/s//enabled: false/" pol/roles/base.yaml &&
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "enabled enabled -> disabled" out &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	test -z "$(ls root/etc/rc[2-5].d | grep "^S..web$")" &&
	test "$(ls root/etc/rc[2-5].d | grep -c "^K..web$")" = 4 &&
	test_expect_code 0 cg run --policy pol --root root
'

test_expect_success 'a link that is not a link to its script is replaced' '
	n=$(snum db) &&
	rm root/etc/rc3.d/S${n}db && ln -s /bin/true root/etc/rc3.d/S${n}db &&
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "rc3.d/S${n}db (not a link to its script)" out &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	test "$(readlink root/etc/rc3.d/S${n}db)" = ../init.d/db
'

test_expect_success 'enabling a service without an init script fails that service only' '
	policy <<-\EOF &&
	resources:
	  - service: ghost
	    enabled: true
	  - service: db
	    enabled: false
	EOF
	test_expect_code 6 cg run --policy pol --root root >out &&
	test_grep "! service:ghost" out &&
	test_grep "there is no /etc/init.d/ghost on this host" out &&
	test -z "$(ls root/etc/rc[2-5].d | grep "^S..db$")"
'

test_expect_success 'masked: true is an error on sysvinit, for that service' '
	policy <<-\EOF &&
	resources:
	  - service: db
	    masked: true
	  - service: web
	    enabled: true
	EOF
	test_expect_code 6 cg run --policy pol --root root >out &&
	test_grep "! service:db" out &&
	test_grep "sysvinit has no masking" out &&
	test_grep "hint: masked: works where systemd is the init system" out
'

test_expect_success 'no number fits between unmanaged links: that service fails, says why' '
	policy <<-\EOF &&
	resources:
	  - service: web
	    enabled: true
	    after: [cron]
	    before: [rsyslog]
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "no rc start number fits its place in the order: it must start after cron (S60), before rsyslog (S02)" out
'

test_done
