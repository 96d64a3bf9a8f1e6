#!/bin/bash
# packages.sh: `make bench` for the package resource: a no-op run over 200
# managed packages.
#
# On a throwaway root (--root) whose dpkg database is generated: 2,000
# installed packages (a busy server has 1,000-3,000), 200 of them in the
# policy, half with an exact version. A no-op run reads that database and
# starts no program, so the root exercises the same path as a real host.
# Printed: time and peak RSS (best of 3), how many times the status file
# was opened and how many programs were started (strace), and for scale
# the cost of asking dpkg-query about the same 200 packages one by one,
# and all at once.
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CG=$TOP/congruent
RUNSTAT=$TOP/build/tests/helpers/runstat
W=$(mktemp -d /tmp/cg-bench-pkg.XXXXXX)
trap 'rm -rf "$W"' EXIT

total=2000 managed=200
root=$W/root pol=$W/pol
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$pol/roles"
: >"$root/var/lib/dpkg/available"
awk -v n="$total" 'BEGIN {
	printf "Package: dpkg\nEssential: yes\nStatus: install ok installed\n"
	printf "Priority: required\nSection: admin\nInstalled-Size: 6000\n"
	printf "Architecture: amd64\nVersion: 1.21.22\n"
	printf "Description: Debian package management system\n .\n\n"
	for (i = 1; i <= n; i++) {
		printf "Package: bench-%04d\nStatus: install ok installed\n", i
		printf "Priority: optional\nSection: misc\nInstalled-Size: %d\n", i
		printf "Maintainer: Bench <bench@example.invalid>\n"
		printf "Architecture: all\nVersion: %d.%d-%d\n", i % 7, i, i % 3 + 1
		printf "Depends: libc6 (>= 2.36), bench-%04d\n", (i % n) + 1
		printf "Conffiles:\n /etc/bench-%04d.conf 0123456789abcdef0123456789abcdef\n", i
		printf "Description: generated package %d\n", i
		printf " A longer description, as real packages have,\n"
		printf " over a few lines of text.\n\n"
	}
}' >"$root/var/lib/dpkg/status"
printf 'classes:\n  - match: "*"\n    roles: [bench]\n' >"$pol/site.yaml"
awk -v n="$managed" -v total="$total" 'BEGIN {
	print "resources:"
	for (k = 1; k <= n; k++) {
		i = int(k * total / n)
		printf "  - package: bench-%04d\n", i
		if (k % 2)
			printf "    state: \"%d.%d-%d\"\n", i % 7, i, i % 3 + 1
	}
}' >"$pol/roles/bench.yaml"

best() { # prints "seconds peak_kib" of the best of three
	local bt= bm= t m rc
	for _ in 1 2 3; do
		"$RUNSTAT" "$@" 2>"$W/rs" >/dev/null </dev/null || true
		read -r _ t m rc <<<"$(grep '^runstat ' "$W/rs")"
		[ "$rc" = 0 ] || { echo "exit $rc: $*" >&2; exit 1; }
		if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
		if [ -z "$bm" ] || [ "$m" -lt "$bm" ]; then bm=$m; fi
	done
	echo "$bt $bm"
}

size=$(stat -c %s "$root/var/lib/dpkg/status")
printf '\npackages: %d managed of %d installed (status file %d KiB), a no-op run\n' \
	"$managed" "$total" $((size / 1024))
printf '%-36s %10s %12s\n' step seconds "peak RSS"
read -r t m <<<"$(best "$CG" run --policy "$pol" --root "$root" --no-report)"
printf '%-36s %10.3f %9d KiB\n' "no-op run" "$t" "$m"
read -r t m <<<"$(best "$CG" plan --policy "$pol" --root "$root")"
printf '%-36s %10.3f %9d KiB\n' "no-op plan" "$t" "$m"

if command -v strace >/dev/null; then
	ASAN_OPTIONS=detect_leaks=0 \
		strace -f -qq -y -e trace=openat,read,execve -o "$W/trace" \
		"$CG" run --policy "$pol" --root "$root" --no-report >/dev/null
	opens=$(grep -c 'openat(.*= [0-9]*</.*/var/lib/dpkg/status>$' "$W/trace" || true)
	reads=$(grep -c 'read([0-9]*</.*/var/lib/dpkg/status>' "$W/trace" || true)
	execs=$(($(grep -c ' execve(' "$W/trace" || true) - 1))
	printf '%-36s %10s\n' "opens of the status file" "$opens" \
		"read(2) calls on it" "$reads" "programs started" "$execs"
fi

if command -v dpkg-query >/dev/null; then
	admin=$root/var/lib/dpkg
	names=$(sed -n 's/^  - package: //p' "$pol/roles/bench.yaml")
	# shellcheck disable=SC2086 # one name per word
	read -r t m <<<"$(best sh -c 'for p in "$@"; do
		dpkg-query --admindir="$0" -W "$p" >/dev/null || exit 1; done' \
		"$admin" $names)"
	printf '%-36s %10.3f %9d KiB\n' "dpkg-query per package (200 runs)" "$t" "$m"
	# shellcheck disable=SC2086
	read -r t m <<<"$(best dpkg-query --admindir="$admin" -W $names)"
	printf '%-36s %10.3f %9d KiB\n' "one dpkg-query for all 200 (bare)" "$t" "$m"
fi
