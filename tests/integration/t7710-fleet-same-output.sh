#!/bin/bash
# t7710-fleet-same-output: fleet over a generated repository with hosts in
# every state prints what it printed before the scale work (fixture from
# that build), text and JSON, over the directory and over git:// through
# the cache.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

F=$TOP/tests/fixtures/fleet-states
NOW=$(date +%s)
git init -q --bare central.git
perl "$TOP/tests/bench/gen-reports.pl" 100 3 "$NOW" 6 40 |
	git --git-dir=central.git fast-import --quiet
JQ='del(.generated, .reports) | .hosts[] |= (del(.report_commit) | .history[] |= del(.commit))'

check() { # REPORTS
	test_expect_code 4 cg fleet --reports "$1" --history 5 >out.raw &&
	perl "$F/normalize.pl" "$NOW" <out.raw >out.text &&
	test_cmp "$F/expect.text" out.text &&
	test_expect_code 4 cg fleet --reports "$1" --history 5 --format json >out.json.raw &&
	jq -S "$JQ" out.json.raw | perl "$F/normalize.pl" "$NOW" >out.json &&
	test_cmp "$F/expect.json" out.json
}

test_expect_success 'every state there: the repository has them' '
	test_expect_code 4 cg fleet --reports central.git --format json >all.json &&
	jq -e ".summary | .congruent > 0 and .drifted > 0 and .repaired > 0 and .failed > 0 and .refused > 0 and .stale_source > 0 and .stale > 0" all.json
'

test_expect_success 'over the directory: the same text and JSON as before' '
	check central.git
'

url=$(gitserve_daemon "$TRASH/central.git")
test_expect_success 'over git://, through the cache: the same, twice' '
	test -n "$url" &&
	check "$url" &&
	check "$url"
'

test_done
