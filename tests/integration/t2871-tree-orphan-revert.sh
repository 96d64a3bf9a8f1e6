#!/bin/bash
# t2871-tree-orphan-revert: a directory tree (source:, purge:) removed
# from the policy with orphans: revert is kept whole, saying why: neither
# forgotten nor reverted in part (its own mode put back, its files left),
# in plan and run alike; congruent forget then releases it.
. "$(dirname "$0")/../lib/lib.sh"

test_expect_success 'a tree and a plain directory, enforced' '
	mkdir -p first/roles first/files/app.d policy/roles root/etc/app.d &&
	printf "root:x:0:0:root:/root:/bin/sh\n" >root/etc/passwd &&
	printf "root:x:0:\n" >root/etc/group &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" \
		>first/site.yaml &&
	{ echo "orphans: revert"; cat first/site.yaml; } >policy/site.yaml &&
	echo "a=1" >first/files/app.d/a.conf &&
	echo stray >root/etc/app.d/stray.conf &&
	cat >first/roles/base.yaml <<-\EOF &&
	resources:
	  - directory: /etc/app.d
	    source: files/app.d
	    mode: "0750"
	    purge: true
	  - directory: /srv/plain
	EOF
	echo "resources: []" >policy/roles/base.yaml &&
	test_expect_code 2 cg run --policy first --root root --state-dir state \
		--hostname h &&
	test -f root/etc/app.d/a.conf && test ! -e root/etc/app.d/stray.conf
'

test_expect_success 'plan and run keep the tree, saying why; the plain one goes' '
	test_list_root root >before &&
	test_expect_code 2 cg plan --format json --policy policy --root root \
		--state-dir state --hostname h >plan.json &&
	test_list_root root >after.plan &&
	test_cmp before after.plan &&
	test_expect_code 2 cg run --format json --policy policy --root root \
		--state-dir state --hostname h >run.json &&
	for f in plan run; do
		jq -r ".orphans[] | [.id, .revert] | @tsv" $f.json | sort >$f.orph ||
		return 1
	done &&
	test_cmp plan.orph run.orph &&
	test_grep "directory:/etc/app.d	keep: a directory tree" run.orph &&
	test_grep "directory:/srv/plain	remove" run.orph &&
	test -f root/etc/app.d/a.conf &&
	test "$(stat -c %a root/etc/app.d)" = 750 &&
	test ! -e root/srv/plain
'

test_expect_success 'it stays in the ledger until forgotten' '
	test_expect_code 0 cg run --policy policy --root root --state-dir state \
		--hostname h >out &&
	test_grep "keep: a directory tree" out &&
	cg forget --root root --state-dir state directory:/etc/app.d &&
	test_expect_code 0 cg run --policy policy --root root --state-dir state \
		--hostname h >out2 &&
	test_grep_not "app.d" out2 &&
	test -f root/etc/app.d/a.conf
'

test_done
