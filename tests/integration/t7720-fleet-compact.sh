#!/bin/bash
# t7720-fleet-compact: retention. fleet compact drops the heartbeats older
# than --heartbeat-ttl and, with --report-ttl, everything older; every
# state change younger is kept with its time and message, and so is every
# host's state in fleet.
. "$(dirname "$0")/../lib/lib.sh"

NOW=$(date +%s)
git init -q --bare central.git
perl "$TOP/tests/bench/gen-reports.pl" 40 10 "$NOW" 8 40 |
	git --git-dir=central.git fast-import --quiet
git clone -q --mirror central.git before.git

# every commit of every host, one line each: time, author (host), subject
log() { # REPO [git log options]
	_r=$1
	shift
	for ref in $(git --git-dir="$_r" for-each-ref --format='%(refname)' refs/heads/hosts/); do
		git --git-dir="$_r" log --first-parent --format="%ct %an %s" "$@" "$ref"
	done
}

test_expect_success 'compact: heartbeats older than 3 days are dropped' '
	cg fleet compact --reports central.git --heartbeat-ttl 3 >out &&
	test_grep "40 hosts, 40 refs rewritten" out &&
	git --git-dir=central.git fsck --no-dangling &&
	cut=$((NOW - 3 * 86400)) &&
	log central.git --until=@$cut | grep " heartbeat " >old-beats || : &&
	test ! -s old-beats &&
	log before.git --since=@$cut >want-recent &&
	log central.git --since=@$cut >got-recent &&
	test_cmp want-recent got-recent &&
	test "$(log central.git | wc -l)" -lt "$(log before.git | wc -l)"
'

test_expect_success 'compact: every state change is kept, in order, with its time' '
	log before.git | grep -v " heartbeat " >want-changes &&
	log central.git | grep -v " heartbeat " >got-changes &&
	test -s want-changes &&
	test_cmp want-changes got-changes
'

test_expect_success 'compact: fleet shows every host in the same state' '
	rb=0 && cg fleet --reports before.git --format json >b.json || rb=$? &&
	ra=0 && cg fleet --reports central.git --format json >a.json || ra=$? &&
	test "$rb" = "$ra" &&
	jq -c ".hosts[] | [.host, .state, .last_report, .policy_commit, .fingerprint]" b.json >b.txt &&
	jq -c ".hosts[] | [.host, .state, .last_report, .policy_commit, .fingerprint]" a.json >a.txt &&
	test_cmp b.txt a.txt &&
	jq -e ".summary == $(jq -c .summary b.json)" a.json
'

test_expect_success 'compact again: nothing more to drop, nothing rewritten' '
	git --git-dir=central.git for-each-ref >refs-1 &&
	cg fleet compact --reports central.git --heartbeat-ttl 3 >out2 &&
	test_grep "0 refs rewritten, 0 commits dropped" out2 &&
	git --git-dir=central.git for-each-ref >refs-2 &&
	test_cmp refs-1 refs-2
'

test_expect_success 'compact --report-ttl: nothing older, but each tip stays' '
	cg fleet compact --reports central.git --heartbeat-ttl 1 --report-ttl 2 >out3 &&
	cut=$((NOW - 2 * 86400)) &&
	for ref in $(git --git-dir=central.git for-each-ref --format="%(refname)" refs/heads/hosts/); do
		git --git-dir=central.git log --format=%ct --skip=1 --until=@$cut "$ref"
	done >too-old &&
	test ! -s too-old &&
	test "$(git --git-dir=central.git for-each-ref refs/heads/hosts/ | wc -l)" = 40
'

test_expect_success 'compact refuses a URL and a report-ttl below heartbeat-ttl' '
	test_expect_code 1 cg fleet compact --reports git://127.0.0.1:9/x.git 2>err &&
	test_grep "reports repository itself" err &&
	test_expect_code 1 cg fleet compact --reports central.git --heartbeat-ttl 5 --report-ttl 2 2>err2 &&
	test_grep "shorter than --heartbeat-ttl" err2
'

test_done
