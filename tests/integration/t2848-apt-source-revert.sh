#!/bin/bash
# t2848-apt-source-revert: orphans: revert of an apt_source on a testbed
# host: the .sources file and key congruent wrote are removed (kept in
# the backups), then one apt-get update drops the repository from the
# lists; /etc/apt is as before, byte for byte; plan predicts run.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"
. "$TOP/tests/lib/aptrepo.sh"

h=pkg-aptrev
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

echo "hello from the extra repository" >hello

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [p]\n' "$1" |
		testbed_sh $h 'cat >/srv/policy/site.yaml'
}

etc_apt() {
	testbed_sh $h 'cd /etc/apt && find . -printf "%y %m %U:%G %s %p -> %l\n" | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum'
}

lists() {
	testbed_sh $h 'ls /var/lib/apt/lists | grep -c "srv_extra" || true'
}

test_expect_success 'a signed repository, added with apt_source' '
	good=$(newkey cg-good) && test -n "$good" &&
	gpg --batch --export --armor "$good" >good.asc &&
	mkrepo "$good" &&
	testbed_sh $h "mkdir -p /srv/policy/files" &&
	testbed_copy_in $h "$TRASH/good.asc" /srv/policy/files/extra.asc &&
	etc_apt >apt.before &&
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	testbed_exec $h test -f /etc/apt/sources.list.d/extra.sources &&
	test "$(lists)" -gt 0 &&
	testbed_exec $h grep -x "apt_source:extra	ledger.before	sources: absent; key /etc/apt/keyrings/extra.asc: absent" /var/lib/congruent/records
'

test_expect_success 'orphans: revert: plan says it and changes nothing; run removes both and updates' '
	testbed_sh $h "printf \"resources: []\n\" >/srv/policy/roles/p.yaml" &&
	site "orphans: revert\n" &&
	etc_apt >apt.managed &&
	test_expect_code 2 pkg_cg $h plan --format json --policy /srv/policy >plan.json &&
	etc_apt >apt.now && test_cmp apt.managed apt.now &&
	test_expect_code 2 pkg_cg $h run --format json --policy /srv/policy >run.json &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" plan.json >plan.out &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	grep "^apt_source:extra	/etc/apt/sources.list.d/extra.sources: remove (created by congruent at local; its content goes to the backups); /etc/apt/keyrings/extra.asc: remove" run.out &&
	grep "; then apt-get update\$" run.out &&
	test "$(jq -r ".orphans[0].status" run.json)" = repaired &&
	etc_apt >apt.now && test_cmp apt.before apt.now &&
	test "$(lists)" = 0 &&
	! testbed_exec $h grep "^apt_source:" /var/lib/congruent/records
'

test_done
