#!/bin/sh
# t2840-package-revert: orphans: revert of packages on a testbed host:
# kept without revert_packages: true; with it, what congruent installed
# is removed in one simulated-then-real apt transaction (configuration
# files stay); never when that would remove a package congruent did not
# install; a version congruent changed is kept, saying why. plan
# predicts run and changes nothing.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"

h=pkg-revert
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [p]\n' "$1" |
		testbed_sh $h 'cat >/srv/policy/site.yaml'
}

none() {
	testbed_sh $h 'printf "resources: []\n" >/srv/policy/roles/p.yaml'
}

db_state() {
	testbed_sh $h 'find /var/lib/dpkg /var/lib/apt /var/cache/apt /var/log/apt \
		-xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum'
}

orphans() {
	jq -r '.orphans[] | [.id, (if .status == "repaired" or .status ==
		"drifted" then "changes" else .status end), .revert] | @tsv' "$1"
}

starts() {
	testbed_exec $h grep -c "^Start-Date" /var/log/apt/history.log
}

test_expect_success 'congruent installs two packages (and apt a dependency)' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "1.0"
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test "$(pkg_version $h cgapp)" = 1.0 &&
	test "$(pkg_version $h cglib)" = 1.0 &&
	test "$(pkg_version $h cga)" = 1.0
'

test_expect_success 'orphans: revert without revert_packages: kept, saying so' '
	none && site "orphans: revert\n" &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "revert: keep: congruent installed it; revert_packages: true in site.yaml lets revert remove it" out &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test "$(pkg_version $h cgapp)" = 1.0 && test "$(pkg_version $h cga)" = 1.0
'

test_expect_success 'revert_packages: true: plan says it, changes nothing; run removes both in one transaction' '
	site "orphans: revert\nrevert_packages: true\n" &&
	db_state >state.before &&
	test_expect_code 2 pkg_cg $h plan --format json --policy /srv/policy >plan.json &&
	db_state >state.after && test_cmp state.before state.after &&
	n=$(starts) &&
	test_expect_code 2 pkg_cg $h run --format json --policy /srv/policy >run.json &&
	orphans plan.json >plan.out && orphans run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "package:cga	changes	remove (installed by congruent at local; its configuration files stay), in one apt transaction for 2 packages" run.out &&
	test "$(starts)" = $((n + 1)) &&
	test "$(pkg_version $h cgapp)" != 1.0 &&
	test "$(pkg_version $h cga)" = config-files &&
	test "$(pkg_version $h cglib)" = 1.0 &&
	! testbed_exec $h grep "^package:" /var/lib/congruent/records &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test_grep_not "orphan" out
'

test_expect_success 'never what congruent did not install: a package that needs it keeps it' '
	site "" &&
	{ testbed_sh $h "DEBIAN_FRONTEND=noninteractive apt-get -q -y purge cglib cgapp" >/dev/null 2>&1 || true; } &&
	test "$(pkg_version $h cglib)" = absent &&
	pkg_policy $h <<-EOF &&
	- package: cglib
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	testbed_sh $h "DEBIAN_FRONTEND=noninteractive apt-get -q -y install cgapp" >/dev/null &&
	none && site "orphans: revert\nrevert_packages: true\n" &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "revert: keep: removing it would also remove cgapp" out &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test "$(pkg_version $h cglib)" = 1.0 && test "$(pkg_version $h cgapp)" = 1.0 &&
	testbed_exec $h grep "^package:cglib	ledger.since" /var/lib/congruent/records &&
	pkg_cg $h forget package:cglib >/dev/null
'

test_expect_success 'a version congruent changed is kept, saying what it was' '
	site "" && pkg_policy $h <<-EOF &&
	- package: cga
	  state: "2.0"
	EOF
	{ testbed_sh $h "DEBIAN_FRONTEND=noninteractive apt-get -q -y install cga=1.0" >/dev/null 2>&1 || true; } &&
	test "$(pkg_version $h cga)" = 1.0 &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	none && site "orphans: revert\nrevert_packages: true\n" &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test_grep "revert: keep: congruent changed its version (it was 1.0)" out &&
	test "$(pkg_version $h cga)" = 2.0
'

test_done
