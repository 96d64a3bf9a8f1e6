#!/bin/sh
# t3001-package-failures: unknown and unsatisfiable packages fail alone with
# apt's reason while the others are applied; a failing maintainer script;
# an interrupted dpkg reported with its repair; a held package; the dpkg
# lock held by another process, waited for (bounded), then a clear error.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"

h=pkg-fail
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

test_expect_success 'plan: unknown, unsatisfiable, no such version fail; the rest would change' '
	pkg_policy $h <<-EOF &&
	- package: cg-nope
	- package: cgapp
	- package: cgbroken
	- package: cga
	  state: "9.9"
	- package: cglib
	EOF
	test_expect_code 6 pkg_cg $h plan --policy /srv/policy >out &&
	cat out &&
	test_grep "! package:cg-nope" out &&
	test_grep "apt cannot install cg-nope: Unable to locate package cg-nope" out &&
	test_grep "apt cannot install cgbroken: cgbroken : Depends: cg-missing-dep but it is not installable" out &&
	test_grep "apt cannot install cga: Version '"'"'9.9'"'"' for '"'"'cga'"'"' was not found" out &&
	test_grep "hint: \`apt-cache policy cga\` lists the versions" out &&
	test_grep "+ cgapp 1.0" out &&
	test_grep "+ cglib 1.0" out &&
	test_grep "plan: 2 to change, 0 ok, 3 failed" out
'

test_expect_success 'run: the bad ones fail with apt'"'"'s reason, the others are applied' '
	test_expect_code 6 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test_grep "run: 2 repaired, 0 ok, 3 failed" out &&
	test_grep "Unable to locate package cg-nope" out &&
	test "$(pkg_version $h cgapp)" = 1.0 &&
	test "$(pkg_version $h cglib)" = 1.0 &&
	test "$(pkg_version $h cgbroken)" = absent &&
	test "$(pkg_version $h cga)" = absent &&
	testbed_exec $h cat /var/lib/congruent/reports/last-run.json >report.json &&
	jq -e "[.resources[] | select(.status == \"failed\") | .error.message] |
		length == 3" report.json
'

test_expect_success 'a failing maintainer script fails its package only' '
	pkg_policy $h <<-EOF &&
	- package: cgfail
	- package: cga
	  state: "2.0"
	EOF
	test_expect_code 6 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test_grep "! package:cgfail" out &&
	test_grep "post-installation script subprocess returned error exit status 1" out &&
	test "$(pkg_version $h cga)" = 2.0
'

test_expect_success 'the half-configured package is then reported with its repair' '
	test_expect_code 4 pkg_cg $h plan --policy /srv/policy >out &&
	cat out &&
	test_grep "left half-done by an interrupted or failed run (cgfail is half-configured)" out &&
	test_grep "hint: repair it with \`dpkg --configure -a\`" out &&
	testbed_exec $h dpkg --remove cgfail >/dev/null &&
	pkg_policy $h <<-EOF &&
	- package: cga
	  state: "2.0"
	EOF
	test_expect_code 0 pkg_cg $h run --policy /srv/policy
'

test_expect_success 'dpkg killed midway: its journal is read, the state reported, then repaired' '
	pkg_policy $h <<-EOF &&
	- package: cgkill
	- package: cga
	  state: "1.0"
	EOF
	pkg_cg $h run --policy /srv/policy >out || rc=$? &&
	cat out &&
	test "$rc" = 6 -o "$rc" = 4 &&
	test_grep "! package:cgkill" out &&
	test_grep "hint: dpkg left the package database half-done; repair it with \`dpkg --configure -a\`" out &&
	testbed_exec $h sh -c "ls /var/lib/dpkg/updates | grep -q ^0" &&
	test_expect_code 4 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test_grep "left half-done by an interrupted or failed run (" out &&
	test_grep "cgkill is half-configured" out &&
	test_grep "\`dpkg --configure -a\`" out &&
	testbed_exec $h dpkg --configure -a &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test "$(pkg_version $h cgkill)" = 1.0 &&
	test "$(pkg_version $h cga)" = 1.0
'

test_expect_success 'a package on hold is not changed behind the administrator'"'"'s back' '
	testbed_exec $h apt-mark hold cga >/dev/null &&
	pkg_policy $h <<-EOF &&
	- package: cga
	  state: "3.0"
	- package: cgapp
	  state: absent
	EOF
	test_expect_code 6 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test_grep "cga is on hold: the administrator froze it at 1.0" out &&
	test "$(pkg_version $h cga)" = 1.0 &&
	test "$(pkg_version $h cgapp)" = absent &&
	testbed_exec $h apt-mark unhold cga >/dev/null
'

# Hold dpkg's frontend lock the way apt does (fcntl, not flock(1): apt
# and dpkg take POSIX record locks, which flock(2) does not conflict with).
hold_lock() {
	cat >holdlock.pl <<-'EOF' &&
	use Fcntl;
	open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die "open: $!";
	my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
	fcntl($f, F_SETLK, $l) or die "lock: $!";
	$| = 1;
	print "locked\n";
	sleep 3600; # until release_lock: a slow plan must not outlast it
	EOF
	testbed_copy_in $h holdlock.pl /run/holdlock.pl &&
	testbed_sh $h 'perl /run/holdlock.pl >/run/holder.out 2>&1 </dev/null &
		echo $! >/run/holder.pid
		for i in 1 2 3 4 5 6 7 8 9 10; do
			grep -q locked /run/holder.out && exit 0
			sleep 0.2
		done
		cat /run/holder.out; exit 1'
}

release_lock() {
	testbed_sh $h 'kill "$(cat /run/holder.pid)"; sleep 0.2'
}

test_expect_success 'the dpkg lock held: plan still works (it takes no lock)' '
	pkg_policy $h <<-EOF &&
	- package: cga
	  state: "3.0"
	EOF
	hold_lock &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "~ cga 1.0 -> 3.0 (upgrade)" out
'

test_expect_success 'the dpkg lock held: run waits the bound, then says who holds it' '
	start=$(date +%s) &&
	CONGRUENT_DPKG_LOCK_TIMEOUT=3 &&
	export CONGRUENT_DPKG_LOCK_TIMEOUT &&
	test_expect_code 4 pkg_cg $h run --policy /srv/policy >out &&
	end=$(date +%s) &&
	cat out &&
	echo "took $((end - start)) s" &&
	test $((end - start)) -ge 3 && test $((end - start)) -lt 30 &&
	test_grep "the dpkg lock is held by another process: perl (pid" out &&
	test_grep "waited 3 s for it" out &&
	test "$(pkg_version $h cga)" = 1.0
'

test_expect_success 'the lock released: the next run applies' '
	release_lock &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy &&
	test "$(pkg_version $h cga)" = 3.0
'

test_expect_success 'a download that fails in the transaction: that package fails, a second transaction applies the rest' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "2.0"
	EOF
	testbed_exec $h rm /srv/repo/cgapp_1.0_all.deb &&
	test_expect_code 6 pkg_cg $h run --policy /srv/policy >out &&
	cat out &&
	test_grep "apt cannot install cgapp: Failed to fetch file:/srv/repo/./cgapp_1.0_all.deb" out &&
	test "$(pkg_version $h cgapp)" = absent &&
	test "$(pkg_version $h cga)" = 2.0
'

test_done
