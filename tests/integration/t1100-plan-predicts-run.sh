#!/bin/bash
# t1100-plan-predicts-run: what plan says of each resource is what run does.
#
# Cases are data: tests/fixtures/predict/NAME/ holds policy/ and root/, and
# optionally expect.exit (the one exit status plan and run must both
# have), mkdirs (empty directories of the root, one a line, root-owned
# 0755: git keeps no empty directory) and options (more options for
# both, like --skip TYPE) and first/ (a policy run on both copies
# before, so that the ledger has what the case's policy leaves: orphans;
# plan must then leave the state as it was). Each case's root is copied
# twice; plan runs on
# one copy, which
# must not change at all, run on the other; then per resource plan's
# drifted must be run's repaired, and ok, failed (with the same message
# and hint) and skipped the same word, and the exit statuses the same;
# a resource with audit: true drifted in both (never repaired).
# A new case is a new directory.
. "$(dirname "$0")/../lib/lib.sh"
# Every case runs plan, whose read-only sandbox needs CAP_SYS_ADMIN.
test_require_cap CAP_SYS_ADMIN

# Both copies are called "root" (in plan/ and run/), so that messages
# naming the root's files read the same.
outcomes() {
	jq -r '(.resources[] | [.id,
		(if .audit and .status == "drifted" then "audited"
		 elif .status == "repaired" or .status == "drifted"
		 then "changes" else .status end),
		(.error.message // ""), (.error.hint // "")] | @tsv),
		(.orphans // [] | .[] | ["orphan", .id, .handling,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else (.status // "") end),
		(.revert // ""), (.error.message // "")] | @tsv)' "$1"
}

# Everything plan could have written: every entry with its metadata,
# every file's bytes, the state directory included.
snapshot() {
	(cd "$1" && find . -printf '%y %m %U:%G %s %p -> %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# The validators run as nobody and must reach nothing of ours; the
# trash directory itself is 0700.
chmod 755 "$TRASH"

for dir in "$FIXTURES"/predict/*/; do
	name=$(basename "$dir")
	want= opts=
	[ -f "$dir/expect.exit" ] && want=$(cat "$dir/expect.exit")
	[ -f "$dir/options" ] && opts=$(cat "$dir/options")

	test_expect_success "$name: plan predicts run" "
		rm -rf '$name' && mkdir -p '$name/plan' '$name/run' &&
		cp -a '$dir/root' '$name/plan/root' &&
		cp -a '$dir/root' '$name/run/root' &&
		if [ -f '$dir/mkdirs' ]; then
			while read -r d; do
				mkdir -p '$name/plan/root'/\$d '$name/run/root'/\$d || exit 1
			done <'$dir/mkdirs'
		fi &&
		if [ -d '$dir/first' ]; then
			for c in plan run; do
				(cd '$name'/\$c && cg run --policy '$dir/first' \
					--root root --state-dir state \
					--hostname predict-1 $opts >first.out 2>&1
				 rc=\$?; test \$rc = 0 || test \$rc = 2) || exit 1
			done &&
			snapshot '$name/plan/state' >'$name/state.before'
		fi &&
		snapshot '$name/plan/root' >'$name/before' &&
		(cd '$name/plan' &&
			{ cg plan --format json --policy '$dir/policy' \
				--root root --state-dir state \
				--hostname predict-1 $opts >plan.json; echo \$? >rc; }) &&
		(cd '$name/run' &&
			{ cg run --format json --policy '$dir/policy' \
				--root root --state-dir state \
				--hostname predict-1 $opts >run.json; echo \$? >rc; }) &&
		snapshot '$name/plan/root' >'$name/after' &&
		test_cmp '$name/before' '$name/after' &&
		if [ -d '$dir/first' ]; then
			snapshot '$name/plan/state' >'$name/state.after' &&
			test_cmp '$name/state.before' '$name/state.after'
		else
			test ! -e '$name/plan/state'
		fi &&
		outcomes '$name/plan/plan.json' >'$name/plan.out' &&
		outcomes '$name/run/run.json' >'$name/run.out' &&
		test -s '$name/plan.out' &&
		test_cmp '$name/plan.out' '$name/run.out' &&
		test_cmp '$name/plan/rc' '$name/run/rc' &&
		jq -e '.exit_status == '\$(cat '$name/run/rc') '$name/run/run.json' &&
		if [ -n '$want' ]; then
			echo '$want' >'$name/want' &&
			test_cmp '$name/want' '$name/run/rc'
		fi
	"
done

test_expect_success 'the table holds the cases of issue 11 and more' '
	ls -d "$FIXTURES"/predict/*/ >cases &&
	test $(wc -l <cases) -ge 20
'

test_done
