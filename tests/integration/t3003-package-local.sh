#!/bin/bash
# t3003-package-local: the package resource without a testbed, on
# throwaway roots with a dpkg database written by the test: check's
# errors, one read of the database and no apt for a no-op run, dpkg's
# journal, essential packages, a database being changed, damage.
. "$(dirname "$0")/../lib/lib.sh"

mkpol() {
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [p]\n' >pol/site.yaml &&
	{ echo "resources:"; sed 's/^/  /'; } >pol/roles/p.yaml
}

# A root with dpkg's database: dpkg itself, cga 1.0, libc6 for two
# architectures, and N generated packages pkg0001..pkgN.
mkroot() {
	rm -rf root && mkdir -p root/var/lib/dpkg/updates &&
	{
		printf 'Package: dpkg\nEssential: yes\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n'
		printf 'Package: cga\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\nConffiles:\n /etc/cga.conf 0123\n\n'
		printf 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9\n\n'
		printf 'Package: libc6\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 2.36-8\n\n'
		i=1
		while [ "$i" -le "${1:-0}" ]; do
			printf 'Package: pkg%04d\nStatus: install ok installed\nArchitecture: all\nVersion: 1.%d-1\nDescription: generated\n line two\n\n' "$i" "$i"
			i=$((i + 1))
		done
	} >root/var/lib/dpkg/status
}

test_expect_success 'check: bad names and states, one package declared twice' '
	mkpol <<-EOF &&
	- package: Bad_Name
	- package: cga
	  state: latest
	- package: cgb
	  state: [1]
	- package: libc6
	- package: libc6:amd64
	- package: libc6:i386
	EOF
	test_expect_code 1 cg check pol 2>err &&
	cat err &&
	test_grep "roles/p.yaml:2: invalid package name" err &&
	test_grep "invalid package name \"Bad_Name\"" err &&
	test_grep "roles/p.yaml:4: package:cga: invalid package state \"latest\": installed, absent, or an exact version" err &&
	test_grep "roles/p.yaml:6" err &&
	test_grep "package:libc6:amd64: the package libc6 is also managed as package:libc6 (roles/p.yaml:7)" err &&
	test_grep "package:libc6:i386: the package libc6 is also managed as package:libc6" err &&
	test_grep_not "libc6:i386: the package libc6 is also managed as package:libc6:amd64" err
'

test_expect_success 'a no-op run over 50 packages reads the database once and runs no apt' '
	command -v strace >/dev/null || { echo "no strace"; exit 1; }
	mkroot 60 &&
	{
		i=1
		while [ $i -le 48 ]; do
			printf -- "- package: pkg%04d\n" $i
			[ $((i % 2)) = 0 ] && printf "  state: \"1.%d-1\"\n" $i
			i=$((i + 1))
		done
		printf -- "- package: libc6:i386\n  state: \"2.36-8\"\n"
		printf -- "- package: not-there\n  state: absent\n"
	} | mkpol &&
	# LeakSanitizer cannot work under ptrace; leaks are checked elsewhere.
	ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 \
		strace -f -qq -y -e trace=openat,execve -o trace \
		"$CONGRUENT" run --policy pol --root root --no-report -v >out 2>err &&
	cat out err &&
	test_grep_not "Sanitizer" err && test_grep_not "runtime error:" err &&
	test_grep "run: 0 repaired, 50 ok, 0 failed" out &&
	grep "^[0-9]* *openat(.*= [0-9]*</.*/var/lib/dpkg/status>\$" trace >reads &&
	cat reads &&
	test $(wc -l <reads) = 1 &&
	grep execve trace >execs &&
	test $(wc -l <execs) = 1
'

test_expect_success 'exact versions compare as dpkg does (0:1.0 is 1.0)' '
	mkroot &&
	mkpol <<-EOF &&
	- package: cga
	  state: "0:1.0"
	- package: libc6
	  state: "2.36-9"
	EOF
	test_expect_code 0 cg plan --policy pol --root root
'

test_expect_success 'dpkg journal entries count: an interrupted run is reported with its repair' '
	mkroot &&
	printf "Package: cga\nStatus: install ok half-configured\nArchitecture: all\nVersion: 2.0\n" \
		>root/var/lib/dpkg/updates/0000 &&
	: >root/var/lib/dpkg/updates/tmp.i &&
	mkpol <<-EOF &&
	- package: cga
	  state: "1.0"
	- package: libc6
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	cat out &&
	test_grep "! package:cga" out &&
	test_grep "left half-done by an interrupted or failed run (cga is half-configured)" out &&
	test_grep "hint: repair it with \`chroot root dpkg --configure -a\`, then run congruent again" out &&
	test_grep "run: 0 repaired, 1 ok, 1 failed" out
'

test_expect_success 'a database being changed (lock held) is waited for, bounded' '
	command -v perl >/dev/null || { echo "no perl"; exit 1; }
	mkroot &&
	printf "Package: cga\nStatus: install ok unpacked\nArchitecture: all\nVersion: 2.0\n" \
		>root/var/lib/dpkg/updates/0001 &&
	: >root/var/lib/dpkg/lock || exit 1
	perl -MFcntl -e "open(my \$f, q{>>}, \$ARGV[0]) or die; my \$l = pack(q{s s x4 q q i x4}, F_WRLCK, 0, 0, 0, 0); fcntl(\$f, F_SETLK, \$l) or die; \$| = 1; print qq{locked\n}; sleep 30" \
		root/var/lib/dpkg/lock >holder.out 2>&1 &
	holder=$! &&
	sleep 0.5 && grep -q locked holder.out &&
	mkpol <<-EOF &&
	- package: cga
	  state: "1.0"
	EOF
	start=$(date +%s) &&
	CONGRUENT_DPKG_LOCK_TIMEOUT=2 cg plan --policy pol --root root >out || rc=$?
	end=$(date +%s) &&
	kill $holder &&
	cat out &&
	test "$rc" = 4 &&
	test $((end - start)) -ge 2 &&
	test_grep "the package database is being changed by perl (pid $holder); waited 2 s" out
'

test_expect_success 'an essential package is not removed' '
	mkroot &&
	mkpol <<-EOF &&
	- package: dpkg
	  state: absent
	EOF
	test_expect_code 4 cg plan --policy pol --root root >out &&
	test_grep "dpkg is essential to the system" out
'

test_expect_success 'a root without a package database: a clear error' '
	rm -rf bare && mkdir bare &&
	mkpol <<-EOF &&
	- package: cga
	EOF
	test_expect_code 4 cg plan --policy pol --root bare >out &&
	test_grep "no package manager congruent knows in bare" out &&
	test_grep "it looked for /var/lib/dpkg/status" out
'

test_expect_success 'a damaged status file: the file and line' '
	mkroot &&
	printf "Package: broken\nStatus: install ok exploded\n" >>root/var/lib/dpkg/status &&
	mkpol <<-EOF &&
	- package: cga
	EOF
	test_expect_code 4 cg plan --policy pol --root root >out &&
	cat out &&
	test_grep "/var/lib/dpkg/status:27: package broken: cannot read its Status" out
'

test_expect_success 'plan in a root whose apt knows nothing: apt'"'"'s reason, nothing written' '
	command -v apt-get >/dev/null || { echo "no apt-get"; exit 1; }
	mkroot &&
	mkpol <<-EOF &&
	- package: cg-nowhere
	EOF
	test_list_root root >before &&
	test_expect_code 4 cg plan --policy pol --root root >out &&
	cat out &&
	test_grep "apt cannot install cg-nowhere: Unable to locate package cg-nowhere" out &&
	test_list_root root >after &&
	test_cmp before after
'

test_done
