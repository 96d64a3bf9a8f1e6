#!/bin/bash
# t2845-service-revert: orphans: revert of services in a systemd image
# under --root: enabled and masked state as before congruent, the
# start-order drop-in it wrote removed, the image as before byte for
# byte; plan predicts run and changes nothing.
. "$(dirname "$0")/../lib/lib.sh"

if ! command -v systemctl >/dev/null; then
	echo "1..0 # SKIP needs systemctl (for systemctl --root)"
	exit 0
fi

STATE="$TRASH/state"
rec() { cat "$STATE/records" 2>/dev/null; }

snapshot() {
	(cd "$1" && find . -printf '%y %m %U:%G %s %p -> %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

unit() {
	printf '[Unit]\nDescription=%s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
		"$1" >"root/lib/systemd/system/$1.service"
}

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [base]\n' "$1" >pol/site.yaml
}

run() { cg "$@" --policy pol --root root --state-dir "$STATE"; }

rm -rf pol && mkdir -p pol/roles && site "" &&
test_make_root root &&
mkdir -p root/lib/systemd/system root/etc/systemd/system/multi-user.target.wants &&
: >root/lib/systemd/systemd && chmod 755 root/lib/systemd/systemd &&
unit web && unit db && unit old && unit kept &&
systemctl --root root enable kept >/dev/null 2>&1 &&
test -L root/etc/systemd/system/multi-user.target.wants/kept.service &&
snapshot root >snap.before

test_expect_success 'services enabled, masked, disabled and ordered; the ledger has what was before' '
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - service: web
	    enabled: true
	    after: [db]
	  - service: db
	    enabled: true
	  - service: old
	    masked: true
	  - service: kept
	    enabled: false
	Y
	test_expect_code 2 run run >out &&
	test -f root/etc/systemd/system/web.service.d/congruent-order.conf &&
	test -L root/etc/systemd/system/multi-user.target.wants/web.service &&
	rec | grep -x "service:web	ledger.before	service present=yes enabled=disabled masked=no running=unknown order=none" &&
	rec | grep -x "service:kept	ledger.before	service present=yes enabled=enabled masked=no running=unknown order=none"
'

test_expect_success 'orphans: revert: plan says what, run does it, the image is as before' '
	printf "resources: []\n" >pol/roles/base.yaml && site "orphans: revert\n" &&
	rm -rf p && cp -a root p && cp -a "$STATE" p.state &&
	snapshot p >p.before &&
	test_expect_code 2 cg plan --format json --policy pol --root p --state-dir p.state >plan.json &&
	snapshot p >p.after && test_cmp p.before p.after &&
	test_expect_code 2 run run --format json >run.json &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" plan.json >plan.out &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "service:web	disable, remove the start-order drop-in it wrote, as before congruent" run.out &&
	grep -x "service:old	unmask, as before congruent" run.out &&
	grep -x "service:kept	enable, as before congruent" run.out &&
	test "$(jq -r "[.orphans[].status] | unique | join(\",\")" run.json)" = repaired &&
	snapshot root >snap.now && test_cmp snap.before snap.now &&
	! rec | grep "^service:"
'

test_done
