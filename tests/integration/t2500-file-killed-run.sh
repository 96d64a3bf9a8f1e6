#!/bin/bash
# t2500-file-killed-run: a run SIGKILLed while it writes a file leaves a
# temporary next to it; the next run removes it (and only what it made).
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

if ! strace -o /dev/null -e inject=fsync:delay_enter=1 true 2>/dev/null; then
	test_skip 'a killed run' 'strace cannot inject delays here'
	test_done
	exit
fi

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end)] | @tsv' "$1"
}

rm -rf pol && mkdir -p pol/roles pol/files &&
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
head -c 64M /dev/urandom >pol/files/big &&
cat >pol/roles/base.yaml <<'Y'
resources:
  - file: /srv/big
    source: files/big
  - file: /srv/small
    content: "small\n"
Y
test_make_root root && mkdir -p root/srv && echo old >root/srv/big

# Every fsync and syncfs takes 3 s: the run is killed while it waits for
# the batch's sync, once the whole new content of /srv/big and of
# /srv/small is written under temporary names (one batch: both files are
# written before either is synced or renamed).
test_expect_success 'SIGKILL mid-write leaves a temporary and the old file' '
	{ strace -f -o /dev/null -e trace=fsync,syncfs -e inject=fsync,syncfs:delay_enter=3000000 \
		"$CONGRUENT" run --policy pol --root root >/dev/null 2>&1 & } &&
	tracer=$! && i=0 &&
	while [ -z "$(find root/srv -name ".big.cg-*" -size +63M)" ] ||
		[ -z "$(find root/srv -name ".small.cg-*")" ]; do
		i=$((i + 1)); test $i -lt 600 || exit 1; sleep 0.05
	done &&
	kill -9 $(pgrep -P $tracer) && { wait $tracer || true; } &&
	test -n "$(find root/srv -name ".big.cg-*")" &&
	test "$(cat root/srv/big)" = old &&
	! test -e root/srv/small &&
	test -s root/var/lib/congruent/temporaries
'

test_expect_success 'plan predicts the repair and removes nothing' '
	echo "not ours" >root/srv/.big.cg-0badf00d &&
	find root/srv -name ".big.cg-*" | sort >before &&
	test_expect_code 2 cg plan --format json --policy pol --root root >plan.json &&
	find root/srv -name ".big.cg-*" | sort >after &&
	test_cmp before after &&
	test "$(wc -l <after)" = 2
'

test_expect_success 'the next run removes what the killed run made, nothing else, and repairs' '
	test_expect_code 2 cg run --format json --policy pol --root root >run.json 2>err &&
	test_grep "removed 2 temporary files left by a run that did not end" err &&
	test "$(find root/srv -name ".big.cg-*")" = root/srv/.big.cg-0badf00d &&
	test "$(find root/srv -name ".small.cg-*")" = "" &&
	test "$(cat root/srv/.big.cg-0badf00d)" = "not ours" &&
	cmp pol/files/big root/srv/big &&
	test "$(cat root/srv/small)" = small &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out &&
	! test -e root/var/lib/congruent/temporaries
'

test_expect_success 'a run that ends cleanly leaves no record and no temporary' '
	test_expect_code 0 cg run --policy pol --root root >out 2>err &&
	test_grep_not "temporary" err &&
	! test -e root/var/lib/congruent/temporaries &&
	test "$(find root -name ".*.cg-*" ! -name ".big.cg-0badf00d")" = ""
'

# A record naming an entry that is no longer the one we made (the same
# name, another inode) is not followed: the file stays.
test_expect_success 'a recorded name that is now another file is left alone' '
	echo new >pol/files/big &&
	{ strace -f -o /dev/null -e trace=fsync,syncfs -e inject=fsync,syncfs:delay_enter=3000000 \
		"$CONGRUENT" run --policy pol --root root >/dev/null 2>&1 & } &&
	tracer=$! && i=0 &&
	while [ -z "$(find root/srv -name ".big.cg-*" ! -name ".big.cg-0badf00d")" ] ||
		! test -s root/var/lib/congruent/temporaries; do
		i=$((i + 1)); test $i -lt 600 || exit 1; sleep 0.05
	done &&
	kill -9 $(pgrep -P $tracer) && { wait $tracer || true; } &&
	tmp=$(find root/srv -name ".big.cg-*" ! -name ".big.cg-0badf00d") &&
	rm "$tmp" && echo "someone else" >"$tmp" &&
	test_expect_code 2 cg run --policy pol --root root >out 2>err &&
	test_grep_not "removed" err &&
	test "$(cat "$tmp")" = "someone else" &&
	test "$(cat root/srv/big)" = new
'

test_done
