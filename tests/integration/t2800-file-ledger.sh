#!/bin/bash
# t2800-file-ledger: the ledger of what congruent owns (STATE/records
# ledger.*), orphans listed by plan and run, orphans: forget, congruent
# forget, adoption of a STATE without a ledger, and a killed run.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

rec() { cat root/var/lib/congruent/records; }

outcomes() {
	jq -r '(.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end)] | @tsv),
	       (.orphans[] | ["orphan", .id, .since, .before, .handling] | @tsv)' "$1"
}

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [base]\n' "$1" >pol/site.yaml
}

rm -rf pol && mkdir -p pol/roles && site "" &&
cat >pol/roles/base.yaml <<'Y' &&
resources:
  - file: /etc/app.conf
    content: "new\n"
    mode: "0600"
  - file: /etc/made.conf
    content: "made\n"
  - directory: /srv/data
  - symlink: /etc/link
    target: /etc/made.conf
Y
test_make_root root && mkdir -p root/etc root/srv && echo old >root/etc/app.conf &&
chmod 0640 root/etc/app.conf && test_list_root root >snap.before
oldhash=$(sha256sum root/etc/app.conf | cut -d" " -f1)

test_expect_success 'a run records, per resource, since when and what was before' '
	test_expect_code 2 cg run --policy pol --root root >out &&
	rec >records &&
	grep -x "file:/etc/app.conf	ledger.before	file mode=0640 uid=0 gid=0 sha256=$oldhash" records &&
	grep -x "file:/etc/app.conf	ledger.since	local" records &&
	grep -x "file:/etc/made.conf	ledger.before	absent" records &&
	grep -x "directory:/srv/data	ledger.before	absent" records &&
	grep -x "symlink:/etc/link	ledger.before	absent" records &&
	test -f root/var/lib/congruent/backups/objects/${oldhash:0:2}/${oldhash:2} &&
	test_expect_code 0 cg run --policy pol --root root >out &&
	rec >records2 && test_cmp records records2
'

test_expect_success 'what leaves the policy is an orphan: plan lists it and predicts run' '
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - file: /etc/app.conf
	    content: "new\n"
	    mode: "0600"
	Y
	test_list_root root >snap.managed &&
	test_expect_code 0 cg plan --policy pol --root root >plan.txt &&
	test_grep "- file:/etc/made.conf  (no longer in the policy; managed since local)" plan.txt &&
	test_grep "- directory:/srv/data  (no longer in the policy; managed since local)" plan.txt &&
	test_grep "- symlink:/etc/link  (no longer in the policy; managed since local)" plan.txt &&
	test_grep "3 orphans" plan.txt &&
	test_expect_code 0 cg plan --format json --policy pol --root root >plan.json &&
	test "$(jq .summary.orphans plan.json)" = 3 &&
	test_expect_code 0 cg run --format json --policy pol --root root >run.json &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "orphan	file:/etc/made.conf	local	absent	report" run.out
'

test_expect_success 'orphans: report (the default) changes nothing on the host' '
	test_expect_code 0 cg run --policy pol --root root >out &&
	test_grep "- file:/etc/made.conf  (no longer" out &&
	test_list_root root >snap.after && test_cmp snap.managed snap.after &&
	test "$(jq .summary.orphans root/var/lib/congruent/reports/last-run.json)" = 3 &&
	rec | grep -x "file:/etc/made.conf	ledger.orphan	local" &&
	cg state --root root >st &&
	grep -x "file:/etc/made.conf" st && test_grep "ledger.orphan" st
'

test_expect_success 'with --only nothing is an orphan (part of the policy)' '
	test_expect_code 0 cg plan --only file --format json --policy pol --root root >only.json &&
	test "$(jq ".orphans // [] | length" only.json)" = 0
'

test_expect_success 'back in the policy: no longer an orphan, and still since the first time' '
	cat >>pol/roles/base.yaml <<-\Y &&
	  - file: /etc/made.conf
	    content: "made\n"
	Y
	test_expect_code 0 cg run --policy pol --root root >out &&
	test_grep_not "made.conf  (no longer" out &&
	! rec | grep "^file:/etc/made.conf	ledger.orphan" &&
	rec | grep -x "file:/etc/made.conf	ledger.before	absent"
'

test_expect_success 'orphans: forget drops them from the ledger; plan says it would' '
	site "orphans: forget\n" &&
	test_expect_code 0 cg plan --format json --policy pol --root root >plan.json &&
	test_expect_code 0 cg plan --policy pol --root root >plan.txt &&
	test_grep "- symlink:/etc/link  (no longer in the policy; managed since local; would be forgotten)" plan.txt &&
	rec | grep "^symlink:/etc/link	ledger.since" &&
	test_expect_code 0 cg run --format json --policy pol --root root >run.json &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "orphan	symlink:/etc/link	local	absent	forget" run.out &&
	! rec | grep "^symlink:/etc/link" &&
	! rec | grep "^directory:/srv/data" &&
	test -L root/etc/link && test -d root/srv/data &&
	test_expect_code 0 cg plan --policy pol --root root >plan.txt &&
	test_grep_not "no longer in the policy" plan.txt
'

test_expect_success 'a bad orphans: value is an error naming site.yaml:LINE' '
	site "orphans: sometimes\n" &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "must be report, forget or revert" err && test_grep "site.yaml:1:" err &&
	site ""
'

test_expect_success 'congruent forget releases a resource; an unknown id is an error' '
	test_expect_code 1 cg forget --root root file:/etc/nothing 2>err &&
	test_grep "file:/etc/nothing: not in the ledger" err &&
	test_expect_code 0 cg forget --root root file:/etc/made.conf >out &&
	grep -x "forgotten: file:/etc/made.conf" out &&
	! rec | grep "^file:/etc/made.conf	ledger" &&
	test "$(cat root/etc/made.conf)" = made
'

test_expect_success 'STATE without a ledger adopts what the policy manages, before: unknown' '
	rm root/var/lib/congruent/records &&
	test_expect_code 0 cg run --policy pol --root root >out &&
	rec | grep -x "file:/etc/app.conf	ledger.before	unknown" &&
	rec | grep -x "file:/etc/made.conf	ledger.before	unknown" &&
	rec | grep -x "file:/etc/made.conf	ledger.since	local"
'

if ! strace -o /dev/null -e inject=fsync:delay_enter=1 true 2>/dev/null; then
	test_skip 'a killed run' 'strace cannot inject delays here'
	test_done
	exit
fi

# Every fsync takes 2 s: the run is killed while it waits to fsync the
# new content of /srv/big, after the ledger was written (its own fsync).
test_expect_success 'SIGKILL between the ledger and the change: they agree, and the next run finishes' '
	head -c 8M /dev/urandom >pol/big && mkdir -p pol/files && mv pol/big pol/files/big &&
	echo older >root/srv/big &&
	bighash=$(sha256sum root/srv/big | cut -d" " -f1) &&
	cat >>pol/roles/base.yaml <<-\Y &&
	  - file: /srv/big
	    source: files/big
	Y
	{ strace -f -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=2000000 \
		"$CONGRUENT" run --policy pol --root root >/dev/null 2>&1 & } &&
	tracer=$! && i=0 &&
	while [ -z "$(find root/srv -name ".big.cg-*" -size +7M)" ]; do
		i=$((i + 1)); test $i -lt 600 || exit 1; sleep 0.05
	done &&
	kill -9 $(pgrep -P $tracer) && { wait $tracer || true; } &&
	test "$(cat root/srv/big)" = older &&
	rec | grep -x "file:/srv/big	ledger.before	file mode=0644 uid=0 gid=0 sha256=$bighash" &&
	test_expect_code 2 cg run --policy pol --root root >out 2>err &&
	cmp pol/files/big root/srv/big &&
	test -f root/var/lib/congruent/backups/objects/${bighash:0:2}/${bighash:2} &&
	rec | grep -x "file:/srv/big	ledger.before	file mode=0644 uid=0 gid=0 sha256=$bighash"
'

test_done
