#!/bin/bash
# run.sh: `make bench`: time and peak memory of congruent on generated policies.
#
# Files, for 100, 1,000 and 10,000 managed files in a throwaway root: the
# first run (creating everything) against the non-durable floor (create
# and write the same files, no sync: tests/helpers/mkfloor), a no-op run
# and plan against the floor of stat + read + SHA-256 of the same files
# (tests/helpers/statsha), one file changed among them against the no-op,
# and an empty policy against `congruent version`. Each figure is the
# median of $BENCH_REPS runs (5), with the min-max; each ratio is of two
# medians measured in this same run, next to its target (issue 18).
# BENCH_CG=PATH measures another build of congruent.
#
# With CFEngine (BENCH_PEERS=1 installs cfengine3 with apt-get; otherwise
# it is measured only when cf-agent is already there): `cf-agent -K -f
# POLICY` on the same tree in its own root, one files: promise per
# directory and per file (create, content, perms), its first run and its
# no-op, in this same run, with CFEngine/congruent ratios. Its work
# directory is a throwaway one (CFENGINE_TEST_OVERRIDE_WORKDIR), never
# the host's /var/lib/cfengine3.
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CG=${BENCH_CG:-$TOP/congruent}
RUNSTAT=$TOP/build/tests/helpers/runstat
STATSHA=$TOP/build/tests/helpers/statsha
MKFLOOR=$TOP/build/tests/helpers/mkfloor
REPS=${BENCH_REPS:-5}
W=$(mktemp -d /tmp/cg-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

# best of three: prints "seconds peak_kib" (the git source step)
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

# REPS runs of a command, each after the shell code $PREP (not timed):
# prints "median min max peak_kib" (peak: the largest).
PREP=:
median() {
	: >"$W/times"
	peak=0
	for _ in $(seq 1 "$REPS"); do
		eval "$PREP"
		"$RUNSTAT" "$@" 2>"$W/rs" >/dev/null </dev/null || true
		read -r _ t m rc <<<"$(grep '^runstat ' "$W/rs")"
		echo "$t" >>"$W/times"
		[ "$m" -gt "$peak" ] && peak=$m
	done
	sort -g "$W/times" | awk -v p="$peak" '{ v[NR] = $1 }
		END { printf "%s %s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR], p }'
}

row() { # files step median min max peak
	printf '%-8s %-26s %9.4f %9.4f-%-9.4f %7d KiB\n' "$@"
}

ratio() { # label a b target ("-": none at this size)
	awk -v l="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN {
		r = a / b
		if (t == "-")
			printf "%-8s %-26s %9.2fx\n", "", l, r
		else
			printf "%-8s %-26s %9.2fx  (target <= %sx: %s)\n", "", l, r, t,
				r <= t ? "met" : "NOT met" }'
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

# CFEngine's policy for the same tree as gen_policy N, under root DIR.
gen_cf_policy() { # N ROOT FILE
	{
		echo 'body common control { bundlesequence => { "bench" }; }'
		echo 'body perms bench_d { mode => "0755"; owners => { "root" }; rxdirs => "false"; }'
		echo 'body perms bench_f { mode => "0644"; owners => { "root" }; rxdirs => "false"; }'
		echo 'bundle agent bench {'
		echo 'files:'
		for d in $(seq 0 $((($1 - 1) / 100))); do
			printf '  "%s/srv/bench/d%03d/." create => "true", perms => bench_d;\n' "$2" "$d"
		done
		for i in $(seq 1 "$1"); do
			printf '  "%s/srv/bench/d%03d/f%05d.conf" create => "true", perms => bench_f,\n' \
				"$2" $(((i - 1) / 100)) "$i"
			printf '    content => "# generated config %05d$(const.n)key = value-%05d$(const.n)other = %s$(const.n)";\n' \
				"$i" "$i" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		done
		echo '}'
	} >"$3"
}

CF=
if [ -n "${BENCH_PEERS:-}" ] && ! command -v cf-agent >/dev/null; then
	echo "bench: installing cfengine3 (BENCH_PEERS=1)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends cfengine3 >"$W/apt.log" 2>&1 || {
		tail -n 5 "$W/apt.log" >&2
		echo "bench: apt-get install cfengine3 failed; CFEngine not measured" >&2
	}
fi
if command -v cf-agent >/dev/null && command -v cf-key >/dev/null; then
	mkdir -p "$W/cfwd"
	ln -s "$(dirname "$(command -v cf-promises)")" "$W/cfwd/bin"
	if CFENGINE_TEST_OVERRIDE_WORKDIR=$W/cfwd cf-key >/dev/null 2>&1; then
		CF="env CFENGINE_TEST_OVERRIDE_WORKDIR=$W/cfwd cf-agent -K -f"
	else
		echo "bench: cf-key failed; CFEngine not measured" >&2
	fi
fi

mkroot() {
	mkdir -p "$1/etc"
	echo 'root:x:0:0::/root:/bin/sh' >"$1/etc/passwd"
	echo 'root:x:0:' >"$1/etc/group"
}

printf '%-8s %-26s %9s %-19s %11s\n' files step median min-max "peak RSS"
read -r tv a b m <<<"$(median "$CG" version)"
row 0 "congruent version" "$tv" "$a" "$b" "$m"
mkdir -p "$W/pol-0"
printf 'classes:\n  - match: "*"\n    roles: [none]\n' >"$W/pol-0/site.yaml"
mkdir -p "$W/pol-0/roles" && echo 'resources: []' >"$W/pol-0/roles/none.yaml"
mkroot "$W/root-0"
"$CG" run --policy "$W/pol-0" --root "$W/root-0" >/dev/null 2>&1 || true
read -r te a b m <<<"$(median "$CG" run --policy "$W/pol-0" --root "$W/root-0")"
row 0 "empty policy, run" "$te" "$a" "$b" "$m"
ratio "empty run / version" "$te" "$tv" 2
for n in 100 1000 10000; do
	pol=$W/pol-$n root=$W/root-$n
	gen_policy "$n" "$pol"
	mkroot "$root"
	find_list() { find "$root/srv/bench" -type f | sort >"$W/list"; }

	# The first run, from nothing, REPS times; it and its floor each
	# start with nothing dirty (sync, not timed).
	PREP="rm -rf '$root/srv' '$root/var'; sync"
	read -r tf a b m <<<"$(median "$CG" run --policy "$pol" --root "$root")"
	PREP=:
	row "$n" "first run" "$tf" "$a" "$b" "$m"
	"$CG" run --policy "$pol" --root "$root" >/dev/null 2>&1 || true
	find_list
	sed "s|^$root/srv/bench|$W/floor|" "$W/list" >"$W/flist"
	PREP="rm -rf '$W/floor'; mkdir '$W/floor'; sync"
	read -r tc a b m <<<"$(median sh -c "exec '$MKFLOOR' <'$W/flist'")"
	PREP=:
	row "$n" "create+write (floor)" "$tc" "$a" "$b" "$m"
	ratio "first run / floor" "$tf" "$tc" 10

	read -r tn a b m <<<"$(median "$CG" run --policy "$pol" --root "$root")"
	row "$n" "no-op run" "$tn" "$a" "$b" "$m"
	read -r tp a b m <<<"$(median "$CG" plan --policy "$pol" --root "$root" --format json)"
	row "$n" "no-op plan (json)" "$tp" "$a" "$b" "$m"
	read -r ts a b m <<<"$(median sh -c "exec '$STATSHA' <'$W/list'")"
	row "$n" "stat+read+sha256 (floor)" "$ts" "$a" "$b" "$m"
	ratio "no-op run / floor" "$tn" "$ts" 3

	if [ -n "$CF" ]; then
		cfroot=$W/cfroot-$n
		gen_cf_policy "$n" "$cfroot" "$W/cf-$n.cf"
		PREP="rm -rf '$cfroot'; mkdir '$cfroot'; sync"
		read -r tcf a b m <<<"$(median $CF "$W/cf-$n.cf")"
		PREP=:
		row "$n" "CFEngine first run" "$tcf" "$a" "$b" "$m"
		cmp -s "$cfroot/srv/bench/d000/f00001.conf" \
			"$root/srv/bench/d000/f00001.conf" ||
			echo "bench: CFEngine wrote another content than congruent" >&2
		read -r tcn a b m <<<"$(median $CF "$W/cf-$n.cf")"
		row "$n" "CFEngine no-op run" "$tcn" "$a" "$b" "$m"
		# Targets (issue 18): congruent at least 5x faster converging.
		awk -v a="$tcf" -v b="$tf" -v c="$tcn" -v d="$tn" 'BEGIN {
			r = a / b
			printf "%-8s %-26s %9.2fx  (target >= 5x: %s)\n", "",
				"CFEngine/congruent, first", r, (r >= 5 ? "met" : "NOT met")
			printf "%-8s %-26s %9.2fx\n", "", "CFEngine/congruent, no-op", c / d }'
	fi

	# One file changed behind congruent's back, repaired by each run.
	one=$(sed -n "$(((n + 1) / 2))p" "$W/list")
	PREP="echo tampered >'$one'"
	read -r to a b m <<<"$(median "$CG" run --policy "$pol" --root "$root")"
	PREP=:
	row "$n" "one file changed, run" "$to" "$a" "$b" "$m"
	# The target (issue 18) is for 10,000 files: in a small tree the
	# few syncs of one change weigh more than the whole no-op.
	ratio "one change / no-op" "$to" "$tn" "$([ "$n" = 10000 ] && echo 1.5 || echo -)"
done
# BENCH_PART=files: only the above.
[ "${BENCH_PART:-all}" = files ] && exit 0

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

# The fleet at 10,000 hosts and 30 days (cached after the first time).
"$TOP/tests/bench/fleet-scale.sh"
