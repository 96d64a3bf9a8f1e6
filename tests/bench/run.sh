#!/bin/bash
# run.sh: `make bench`: time and peak memory of congruent on generated policies.
#
# For 1,000 and 10,000 managed files in a throwaway root: the first run
# (creating everything), a no-op run, and a no-op plan; against the bare
# cost of stat + SHA-256 of the same files (tests/helpers/statsha). Each
# figure is the best of 3 (the machine's other load only ever adds).
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CG=$TOP/congruent
RUNSTAT=$TOP/build/tests/helpers/runstat
STATSHA=$TOP/build/tests/helpers/statsha
W=$(mktemp -d /tmp/cg-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

# best of three: prints "seconds peak_kib"
measure() {
	best_t= best_m=
	for _ in 1 2 3; do
		"$RUNSTAT" "$@" 2>"$W/rs" >/dev/null </dev/null || true
		read -r _ t m rc <<<"$(grep '^runstat ' "$W/rs")"
		if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
		if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
	done
	echo "$best_t $best_m"
}

gen_policy() { # N DIR
	mkdir -p "$2/roles"
	printf 'classes:\n  - match: "*"\n    roles: [bench]\n' >"$2/site.yaml"
	{
		echo "resources:"
		for d in $(seq 0 $((($1 - 1) / 100))); do
			printf '  - directory: /srv/bench/d%03d\n' "$d"
		done
		for i in $(seq 1 "$1"); do
			printf '  - file: /srv/bench/d%03d/f%05d.conf\n' $(((i - 1) / 100)) "$i"
			printf '    content: "# generated config %05d\\nkey = value-%05d\\nother = %s\\n"\n' \
				"$i" "$i" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			printf '    mode: "0644"\n    owner: root\n'
		done
	} >"$2/roles/bench.yaml"
}

printf '%-8s %-22s %10s %12s\n' files step seconds "peak RSS"
read -r t m <<<"$(measure "$CG" version)"
printf '%-8s %-22s %10.3f %9d KiB\n' 0 "congruent version" "$t" "$m"
for n in 1000 10000; do
	pol=$W/pol-$n root=$W/root-$n
	gen_policy "$n" "$pol"
	mkdir -p "$root/etc"
	echo 'root:x:0:0::/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	# The first run is measured once: it is only first once.
	"$RUNSTAT" "$CG" run --policy "$pol" --root "$root" 2>"$W/rs" >/dev/null
	read -r _ t m rc <<<"$(grep '^runstat ' "$W/rs")"
	[ "$rc" = 2 ] || { echo "first run exited $rc" >&2; exit 1; }
	printf '%-8s %-22s %10.3f %9d KiB\n' "$n" "first run" "$t" "$m"
	read -r t m <<<"$(measure "$CG" run --policy "$pol" --root "$root")"
	printf '%-8s %-22s %10.3f %9d KiB\n' "$n" "no-op run" "$t" "$m"
	noop=$t
	read -r t m <<<"$(measure "$CG" plan --policy "$pol" --root "$root" --format json)"
	printf '%-8s %-22s %10.3f %9d KiB\n' "$n" "no-op plan (json)" "$t" "$m"
	find "$root/srv/bench" -type f >"$W/list"
	read -r t m <<<"$(measure sh -c "exec '$STATSHA' <'$W/list'")"
	printf '%-8s %-22s %10.3f %9d KiB\n' "$n" "stat+sha256 (bare)" "$t" "$m"
	awk -v a="$noop" -v b="$t" 'BEGIN { printf "%-8s %-22s %10.1fx\n", "", "no-op run / bare", a / b }'
done

# The git source step: a no-op run from a local git repository with nothing
# new, against the same policy as a plain directory.
n=1000 pol=$W/pol-$n root=$W/root-$n
git -C "$pol" init -q -b main
git -C "$pol" add -A
git -C "$pol" -c user.name=b -c user.email=b@b commit -q -m bench
git clone -q --bare "$pol" "$W/origin.git"
printf 'source:\n  url: %s\n  branch: main\n' "$W/origin.git" >"$W/agent.yaml"
"$CG" run -c "$W/agent.yaml" --root "$root" >/dev/null 2>&1 || true
read -r tp _ <<<"$(measure "$CG" run --policy "$pol" --root "$root")"
read -r tg mg <<<"$(measure "$CG" run -c "$W/agent.yaml" --root "$root")"
read -r tn _ <<<"$(measure "$CG" run -c "$W/agent.yaml" --root "$root" --no-pull)"
printf '%-8s %-22s %10.3f %9d KiB\n' "$n" "no-op run, git source" "$tg" "$mg"
awk -v a="$tg" -v b="$tp" -v c="$tn" 'BEGIN {
	printf "%-8s %-22s %+10.4f s (a fetch finding nothing new)\n", "", "git source step", a - b
	printf "%-8s %-22s %+10.4f s (--no-pull)\n", "", "git source step", c - b }'

# The firewall: 2,000 managed and 1,000 foreign rules, in a namespace.
echo
"$TOP/tests/bench/iptables.sh"

# The package resource: a no-op run over 200 managed packages.
"$TOP/tests/bench/packages.sh"

# The fleet view: 10,000 host refs in a central repository.
echo
"$TOP/tests/bench/fleet.sh"
