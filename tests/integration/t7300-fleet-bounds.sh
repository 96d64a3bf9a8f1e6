#!/bin/bash
# t7300-fleet-bounds: fleet reads a hostile reports repository within
# bounded memory: object sizes from their headers before any object is
# loaded, and trailers that are not numbers are ignored with a warning.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

RUNSTAT=$TOP/build/tests/helpers/runstat
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
G="git --git-dir=central.git"

# peak_kib CMD...: run CMD under runstat; its stdout to out, stderr to err;
# prints the peak RSS in KiB.
peak_kib() {
	"$RUNSTAT" "$@" >out 2>err
	# As cg does: a sanitizer report fails the call.
	! grep -q -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" err || return 1
	sed -n "s/^runstat [^ ]* \([0-9]*\) [0-9]*$/\1/p" err
}

# big_commit TREE CHAR [PARENT]: a commit whose message is 400 MiB of CHAR
# (a few hundred KB on disk).
big_commit() {
	{
		printf "tree %s\n" "$1"
		[ -n "${3:-}" ] && printf "parent %s\n" "$3"
		printf "author a <a@b> 1700000000 +0000\n"
		printf "committer a <a@b> 1700000000 +0000\n\nweb: congruent\n"
		head -c 400M /dev/zero | tr "\0" "$2"
	} | $G hash-object -t commit -w --stdin
}

test_expect_success 'setup: one real report, then hosts with 400 MiB commits' '
	test -x "$RUNSTAT" || { echo "make tests builds $RUNSTAT" >&2; exit 1; } &&
	mkdir -p pol/roles &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >pol/site.yaml &&
	printf "resources:\n  - file: /etc/motd\n    content: \"hi\\\\n\"\n" \
		>pol/roles/base.yaml &&
	git init -q --bare central.git &&
	printf "reports:\n  url: %s\n" "$TRASH/central.git" >agent.yaml &&
	test_make_root root &&
	test_expect_code 2 cg run -c agent.yaml --policy pol --root root \
		--state-dir state --hostname web-1 &&
	good=$($G rev-parse hosts/web-1) &&
	tree=$($G rev-parse "hosts/web-1^{tree}") &&
	for c in a b c; do
		$G update-ref refs/heads/hosts/big-$c "$(big_commit "$tree" $c)" ||
			return 1
	done &&
	# A small tip whose parent is huge: the host shows, its history stops.
	$G update-ref refs/heads/hosts/deep \
		"$($G commit-tree -p "$($G rev-parse hosts/big-a)" -m "deep: congruent" "$tree")" &&
	du -sk central.git/objects | cut -f1 >disk &&
	test "$(cat disk)" -lt 20000
'

test_expect_success 'fleet on the directory: hosts over the bound skipped by name, RSS small' '
	kib=$(peak_kib "$CONGRUENT" fleet --reports central.git) &&
	say "fleet peak RSS: $kib KiB" &&
	cat err &&
	test "$kib" -lt 150000 &&
	for c in a b c; do
		grep -E "refs/heads/hosts/big-$c: skipped: its commit object is 4194[0-9]{5} bytes, more than the limit of 65536" err ||
			return 1
	done &&
	grep -E "refs/heads/hosts/deep: warning: history read up to commit [0-9a-f]{12}: its parent: its commit object is 4194[0-9]{5} bytes" err &&
	grep -E "^web-1 +(repaired|rolled out)" out &&
	grep -E "^deep +(repaired|rolled out)" out &&
	test_grep "3 refs skipped" out
'

test_expect_success 'fleet over git:// on loopback: the same, RSS small' '
	url=$(gitserve_daemon "$TRASH/central.git") &&
	kib=$(peak_kib "$CONGRUENT" fleet --reports "$url" --format json) &&
	say "fleet (git://) peak RSS: $kib KiB" &&
	test "$kib" -lt 150000 &&
	jq -e ".summary.hosts == 2 and (.skipped | length) == 3" out &&
	jq -e "[.warnings[].ref] == [\"refs/heads/hosts/deep\"]" out
'

test_expect_success 'a branch pointing at a tree is skipped as such' '
	mkdir -p central.git/refs/heads/hosts &&
	$G rev-parse "hosts/web-1^{tree}" >central.git/refs/heads/hosts/t-tree &&
	{ cg fleet --reports central.git >out 2>err || test $? = 2; } &&
	test_grep "refs/heads/hosts/t-tree: skipped: it points to a tree, not a commit" err &&
	$G update-ref -d refs/heads/hosts/t-tree
'

# dropped_commit PARENT TRAILER: a report commit on PARENT, same report.
dropped_commit() {
	digest=$($G log -1 --format=%B hosts/web-1 | sed -n "s/^Congruent-State: //p")
	printf "web-2: congruent\n\nCongruent-State: %s\nCongruent-Dropped: %s\n" \
		"$digest" "$2" | $G commit-tree -p "$1" "$tree"
}

test_expect_success 'a garbage Congruent-Dropped trailer: ignored, warned about, never a count' '
	tree=$($G rev-parse "hosts/web-1^{tree}") &&
	c1=$(dropped_commit "$($G rev-parse hosts/web-1)" 3) &&
	c2=$(dropped_commit "$c1" 12abc) &&
	c3=$(dropped_commit "$c2" -5) &&
	c4=$(dropped_commit "$c3" 99999999999999999999) &&
	$G update-ref refs/heads/hosts/web-2 "$c4" &&
	{ cg fleet --reports central.git >out 2>err || test $? = 2; } &&
	cat err &&
	test_grep "refs/heads/hosts/web-2: warning: commit ${c2:0:12}: ignored a Congruent-Dropped trailer that is not a count: \"12abc\"" err &&
	test_grep "refs/heads/hosts/web-2: warning: commit ${c3:0:12}: ignored a Congruent-Dropped trailer that is not a count: \"-5\"" err &&
	test_grep "refs/heads/hosts/web-2: warning: commit ${c4:0:12}: ignored a Congruent-Dropped trailer that is not a count" err &&
	test_grep "(3 reports dropped by the host" out &&
	{ cg fleet --reports central.git --format json >out.json 2>/dev/null || test $? = 2; } &&
	jq -e ".hosts[] | select(.host == \"web-2\") | .dropped_reports == 3" out.json &&
	{ cg fleet --reports central.git --format html >out.html 2>/dev/null || test $? = 2; } &&
	test_grep "<ul id=\"warnings\">" out.html
'

test_expect_success 'a central repository whose ref for us is a 400 MiB commit: the push refuses to build on it' '
	$G update-ref refs/heads/hosts/web-1 "$($G rev-parse hosts/big-a)" &&
	url=$(gitserve_daemon "$TRASH/central.git" --push) &&
	printf "reports:\n  url: %s\n" "$url" >daemon.yaml &&
	echo drift >root/etc/motd &&
	kib=$(peak_kib "$CONGRUENT" run -c daemon.yaml --policy pol --root root \
		--state-dir state --hostname web-1) &&
	say "run peak RSS: $kib KiB" &&
	cat err &&
	test "$kib" -lt 150000 &&
	grep -E "refs/heads/hosts/web-1 on the central repository points at a commit of 4194[0-9]{5} bytes, not a report commit" err &&
	test "$($G rev-parse hosts/web-1)" = "$($G rev-parse hosts/big-a)" &&
	test "$(ls state/reports/queue | wc -l)" = 1
'

test_done
