#!/bin/bash
# t7730-reports-shards: reports.url with {shard} and reports.shards: each
# host pushes to one of N repositories (its shard), so that a push never
# pays for the whole fleet's refs; fleet, fleet forget and fleet compact
# read or change every shard, as directories and over git://.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

mkdir -p pol/roles srv
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n' >pol/roles/base.yaml
for k in 0 1 2 3; do git init -q --bare "srv/reports-$k.git"; done
printf 'reports:\n  url: %s\n  shards: 4\n  heartbeat: 3600\n' \
	"$TRASH/srv/reports-{shard}.git" >local.yaml

host() { # NAME CONFIG
	[ -d "root-$1" ] || test_make_root "root-$1"
	cg run -c "$2" --policy pol --root "root-$1" --state-dir "state-$1" \
		--hostname "$1"
}

hosts="web-1 web-2 web-3 web-4 web-5 web-6 web-7 web-8"

test_expect_success 'each host pushes to its shard, and only there' '
	for h in $hosts; do test_expect_code 2 host "$h" local.yaml || exit 1; done &&
	used=0 &&
	for k in 0 1 2 3; do
		n=$(git --git-dir="srv/reports-$k.git" for-each-ref refs/heads/hosts/ | wc -l) &&
		if [ "$n" -gt 0 ]; then used=$((used + 1)); fi || exit 1
	done &&
	test "$used" -ge 2 &&
	for k in 0 1 2 3; do
		git --git-dir="srv/reports-$k.git" for-each-ref --format="%(refname)" refs/heads/hosts/
	done | sort >all-refs &&
	for h in $hosts; do echo "refs/heads/hosts/$h"; done | sort >want-refs &&
	test_cmp want-refs all-refs
'

test_expect_success 'a host always goes to the same shard' '
	for k in 0 1 2 3; do git --git-dir="srv/reports-$k.git" for-each-ref; done >before &&
	echo changed >root-web-3/etc/motd &&
	test_expect_code 2 host web-3 local.yaml &&
	for k in 0 1 2 3; do git --git-dir="srv/reports-$k.git" for-each-ref; done >after &&
	test "$(diff before after | grep -c "^>")" = 1 &&
	diff before after | grep "^>.*refs/heads/hosts/web-3$"
'

test_expect_success 'fleet reads every shard: --shards, or reports.shards' '
	test_expect_code 2 cg fleet --reports "$TRASH/srv/reports-{shard}.git" --shards 4 >dir.txt &&
	test_grep "8 hosts: 0 congruent, 7 rolled out, 0 drifted, 1 repaired" dir.txt &&
	test_expect_code 2 cg fleet -c local.yaml >conf.txt &&
	test_cmp dir.txt conf.txt
'

test_expect_success 'fleet over git://, every shard into one cache' '
	url=$(gitserve_daemon "$TRASH/srv/reports-0.git" --push) &&
	url=${url%reports-0.git}reports-{shard}.git &&
	test_expect_code 2 cg fleet --reports "$url" --shards 4 >url.txt &&
	test_cmp dir.txt url.txt &&
	test "$(ls -d .cache/congruent/fleet/*.git | wc -l)" = 1 &&
	printf "reports:\n  url: %s\n  shards: 4\n  heartbeat: 3600\n" "$url" >git.yaml &&
	test_expect_code 2 host web-9 git.yaml &&
	test_expect_code 2 cg fleet --reports "$url" --shards 4 >url2.txt &&
	test_grep "9 hosts: 0 congruent, 8 rolled out" url2.txt
'

test_expect_success 'fleet forget finds the host in its shard' '
	cg fleet forget web-5 --reports "$TRASH/srv/reports-{shard}.git" --shards 4 &&
	test_expect_code 2 cg fleet --reports "$TRASH/srv/reports-{shard}.git" --shards 4 >after-forget.txt &&
	test_grep "8 hosts: " after-forget.txt &&
	test_grep_not "web-5 " after-forget.txt
'

test_expect_success 'fleet compact runs over every shard' '
	cg fleet compact --reports "$TRASH/srv/reports-{shard}.git" --shards 4 >compact.txt &&
	test "$(grep -c "^compacted " compact.txt)" = 4
'

test_expect_success 'shards without {shard} in the url is an error, with a hint' '
	printf "reports:\n  url: %s\n  shards: 4\n" "$TRASH/srv/reports-0.git" >bad.yaml &&
	test_expect_code 1 host web-1 bad.yaml 2>err &&
	test_grep "shards 4 needs a url with {shard} in it" err &&
	test_grep "hint: " err &&
	test_expect_code 1 cg fleet --reports "$TRASH/srv/reports-0.git" --shards 4 2>err2 &&
	test_grep "no {shard} in" err2
'

test_done
