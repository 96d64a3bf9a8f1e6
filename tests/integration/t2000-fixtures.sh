#!/bin/bash
# t2000-fixtures: plan and run on throwaway roots, cases as data.
#
# tests/fixtures/files/NAME/ holds policy/, root/ (copied to a fresh root),
# expect.exit ("plan N" and "run N"), expect.plan (plan's output) and
# expect-root (the root after run, as test_list_root prints it). Run with
# CG_FIXTURE_UPDATE=1 to write missing expect files (then read them!).
. "$(dirname "$0")/../lib/lib.sh"

normalize() {
	sed -E 's/\([0-9]+\.[0-9]+ s\)/(TIME)/'
}

for dir in "$FIXTURES"/files/*/; do
	name=$(basename "$dir")
	plan_exit=$(awk '$1 == "plan" { print $2 }' "$dir/expect.exit")
	run_exit=$(awk '$1 == "run" { print $2 }' "$dir/expect.exit")

	test_expect_success "$name: plan shows the change and changes nothing" "
		rm -rf root && cp -a '$dir/root' root &&
		ln -sfn '$dir/policy' pol &&
		test_list_root root >before &&
		test_expect_code $plan_exit cg plan --policy pol \
			--root root --hostname fixture-1 >out &&
		normalize <out >plan &&
		if [ ! -f '$dir/expect.plan' ] && [ \"\${CG_FIXTURE_UPDATE:-0}\" = 1 ]; then
			cp plan '$dir/expect.plan'
		fi &&
		test_cmp '$dir/expect.plan' plan &&
		test_list_root root >after &&
		test_cmp before after
	"

	test_expect_success "$name: run makes the root as expected" "
		test_expect_code $run_exit cg run --policy pol \
			--root root --hostname fixture-1 >out &&
		test_list_root root >actual &&
		if [ ! -f '$dir/expect-root' ] && [ \"\${CG_FIXTURE_UPDATE:-0}\" = 1 ]; then
			cp actual '$dir/expect-root'
		fi &&
		test_cmp '$dir/expect-root' actual
	"

	test_expect_success "$name: a second run and a plan change nothing" "
		test_expect_code 0 cg run --policy pol --root root \
			--hostname fixture-1 >out &&
		test ! -s out &&
		test_expect_code 0 cg plan --policy pol --root root \
			--hostname fixture-1 >out
	"
done

test_done
