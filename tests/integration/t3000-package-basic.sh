#!/bin/sh
# t3000-package-basic: install (with a dependency), a pinned version,
# upgrade, downgrade, remove, on a testbed host; a second run is a no-op;
# plan shows what apt would do (what it pulls in as the transaction's) and
# leaves the package database as it was.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"

h=pkg-basic
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

# Everything apt and dpkg keep, with size, mode and a checksum.
db_state() {
	testbed_sh $h 'find /var/lib/dpkg /var/lib/apt /var/cache/apt /var/log/apt \
		-xdev -type f -print0 2>/dev/null | sort -z |
		xargs -0 sha256sum'
}

test_expect_success 'plan shows the transaction, with the dependency apt pulls in' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "1.0"
	EOF
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	cat out &&
	test_grep "+ package:cgapp" out &&
	test_grep "+ cgapp 1.0" out &&
	test_grep "+ cglib 1.0 (pulled in by apt: not in the policy)" out &&
	# The dependency is the transaction'"'"'s, not cgapp'"'"'s.
	sed -n "/^apt transaction, besides the packages of the policy:/,\$p" out >tx &&
	test_grep "  + cglib 1.0 (pulled in by apt: not in the policy)" tx &&
	sed -n "/^+ package:cgapp/,/^\$/p" out >cgapp &&
	test_grep "+ cgapp 1.0" cgapp &&
	test_grep_not "cglib" cgapp &&
	test_grep "+ package:cga " out &&
	test_grep "+ cga 1.0" out &&
	test_grep "plan: 2 to change, 0 ok" out
'

test_expect_success 'plan changes nothing: dpkg status byte-identical, no apt file touched' '
	testbed_exec $h cat /var/lib/dpkg/status >status.before &&
	db_state >state.before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >/dev/null &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy --format json >plan.json &&
	testbed_exec $h cat /var/lib/dpkg/status >status.after &&
	db_state >state.after &&
	cmp status.before status.after &&
	test_cmp state.before state.after &&
	jq -e ".resources[] | select(.id == \"package:cga\") |
		.changes[0].field == \"version\" and .changes[0].from == null and
		.changes[0].to == \"1.0\"" plan.json
'

test_expect_success 'run installs both in one transaction, the dependency too' '
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test "$(pkg_version $h cgapp)" = 1.0 &&
	test "$(pkg_version $h cglib)" = 1.0 &&
	test "$(pkg_version $h cga)" = 1.0 &&
	test_grep "run: 2 repaired" out &&
	test "$(testbed_exec $h grep -c "^Start-Date" /var/log/apt/history.log)" = 1
'

test_expect_success 'a second run is a no-op: no apt, no change' '
	testbed_exec $h cat /var/log/apt/history.log >hist.before &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy -v >out &&
	cat out &&
	test_grep "run: 0 repaired, 2 ok, 0 failed" out &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy >out &&
	testbed_exec $h cat /var/log/apt/history.log >hist.after &&
	test_cmp hist.before hist.after
'

test_expect_success 'upgrade to a pinned version keeps the conffile the operator edited' '
	testbed_sh $h "echo \"level = operator\" >>/etc/cga.conf" &&
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "3.0"
	EOF
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "~ cga 1.0 -> 3.0 (upgrade)" out &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test "$(pkg_version $h cga)" = 3.0 &&
	test "$(testbed_exec $h cat /usr/share/cga/version)" = 3.0 &&
	testbed_exec $h cat /etc/cga.conf >conf &&
	test_grep "level = operator" conf &&
	test_grep "shipped in 1.0" conf &&
	testbed_exec $h test -e /etc/cga.conf.dpkg-dist
'

test_expect_success 'downgrade to a pinned version' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "2.0"
	EOF
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "~ cga 3.0 -> 2.0 (downgrade)" out &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test "$(pkg_version $h cga)" = 2.0 &&
	test "$(testbed_exec $h cat /usr/share/cga/version)" = 2.0 &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy
'

test_expect_success 'installed leaves any installed version alone' '
	pkg_policy $h <<-EOF &&
	- package: cga
	EOF
	test_expect_code 0 pkg_cg $h run --policy /srv/policy &&
	test "$(pkg_version $h cga)" = 2.0
'

test_expect_success 'remove: absent, in one transaction; config files stay' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	  state: absent
	- package: cga
	  state: absent
	- package: cg-never-installed
	  state: absent
	EOF
	testbed_exec $h cat /var/lib/dpkg/status >status.before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	cat out &&
	test_grep "- cgapp 1.0" out &&
	test_grep "- cga 2.0" out &&
	test_grep "plan: 2 to change, 1 ok" out &&
	testbed_exec $h cat /var/lib/dpkg/status >status.after &&
	cmp status.before status.after &&
	testbed_exec $h grep -c "^Start-Date" /var/log/apt/history.log >n.before &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	testbed_exec $h grep -c "^Start-Date" /var/log/apt/history.log >n.after &&
	test $(($(cat n.after) - $(cat n.before))) = 1 &&
	test "$(pkg_version $h cgapp)" = absent &&
	test "$(pkg_version $h cga)" = config-files &&
	test "$(pkg_version $h cglib)" = 1.0 &&
	testbed_exec $h test -e /etc/cga.conf &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy
'

test_expect_success 'reinstalling over kept config files keeps them' '
	pkg_policy $h <<-EOF &&
	- package: cga
	  state: "1.0"
	EOF
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "configuration files were kept" out &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy &&
	test "$(pkg_version $h cga)" = 1.0 &&
	testbed_exec $h grep -q "level = operator" /etc/cga.conf
'

test_expect_success 'the report carries version from/to, and the fingerprint follows versions' '
	testbed_exec $h cat /var/lib/congruent/reports/last-run.json >report.json &&
	jq -e ".resources[0].status == \"repaired\" and
		.resources[0].changes[0].from == null and
		.resources[0].changes[0].to == \"1.0\"" report.json &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy --format json >a.json &&
	pkg_policy $h <<-EOF &&
	- package: cga
	  state: "2.0"
	EOF
	pkg_cg $h run --policy /srv/policy >/dev/null || test $? = 2 &&
	pkg_policy $h <<-EOF &&
	- package: cga
	EOF
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy --format json >b.json &&
	test "$(jq -r .fingerprint a.json)" != "$(jq -r .fingerprint b.json)"
'

test_done
