#!/bin/bash
# t7700-fleet-cache: fleet URL fetches into a persistent cache, and only
# what is new: objects counted in the cache before and after; a ref
# rewritten on the server (compaction) or deleted (fleet forget) is taken
# as it is there; the output is the same as over the directory.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
NOW=$(date +%s)

git init -q --bare central.git
perl "$TOP/tests/bench/gen-reports.pl" 30 2 "$NOW" 8 40 |
	git --git-dir=central.git fast-import --quiet

# objects in the cache's packs (a fetch stores one pack, and a thin one
# gets the bases of its deltas appended: some objects may be twice there)
in_pack() {
	git --git-dir="$(ls -d cache/*.git)" count-objects -v |
		sed -n 's/^in-pack: //p'
}

# distinct objects in the cache, and reachable ones on the server
objects() {
	git --git-dir="$(ls -d cache/*.git)" cat-file --batch-all-objects \
		--batch-check | wc -l
}
central_objects() {
	git --git-dir=central.git rev-list --objects --all | wc -l
}

url=$(gitserve_daemon "$TRASH/central.git")
if [ -z "$url" ]; then
	test_skip 'no git daemon' 'fleet over git://'
	test_done
	exit
fi

test_expect_success 'the first fleet URL fetches everything into the cache' '
	test_expect_code 4 cg fleet --reports "$url" --cache cache >url.txt &&
	test_expect_code 4 cg fleet --reports central.git >dir.txt &&
	test_cmp dir.txt url.txt &&
	test "$(ls -d cache/*.git | wc -l)" = 1 &&
	test "$(objects)" = "$(central_objects)" &&
	test "$(in_pack)" = "$(central_objects)"
'

test_expect_success 'nothing new on the server: nothing fetched' '
	before=$(in_pack) &&
	test_expect_code 4 cg fleet --reports "$url" --cache cache >url2.txt &&
	test_cmp url.txt url2.txt &&
	test "$(in_pack)" = "$before"
'

# A new report on one host: a commit, its tree and its blob.
new_report() { # HOST STATE-WORD
	ref=refs/heads/hosts/$1
	old=$(git --git-dir=central.git rev-parse "$ref") &&
	git --git-dir=central.git cat-file blob "$old:report.json" |
		sed "s/\"duration_ms\":40/\"duration_ms\":41/" >r.json &&
	blob=$(git --git-dir=central.git hash-object -w r.json) &&
	tree=$(printf "100644 blob %s\treport.json\n" "$blob" |
		git --git-dir=central.git mktree) &&
	msg=$(printf "%s: %s (8 ok, 0 repaired, 0 failed, 0 skipped)\n\nCongruent-State: %064d\n" "$1" "$2" 7) &&
	c=$(GIT_COMMITTER_NAME=$1 GIT_COMMITTER_DATE="$NOW +0000" \
		git --git-dir=central.git commit-tree -p "$old" -m "$msg" "$tree") &&
	git --git-dir=central.git update-ref "$ref" "$c"
}

test_expect_success 'new reports: only their objects are fetched' '
	before=$(in_pack) &&
	new_report host-00003 congruent &&
	new_report host-00004 congruent &&
	test_expect_code 4 cg fleet --reports "$url" --cache cache >url3.txt &&
	test_expect_code 4 cg fleet --reports central.git >dir3.txt &&
	test_cmp dir3.txt url3.txt &&
	test "$(objects)" = "$(central_objects)" &&
	got=$(($(in_pack) - before)) &&
	echo "fetched $got objects for 6 new ones" &&
	test "$got" -ge 6 && test "$got" -le 12
'

test_expect_success 'a ref rewritten or deleted on the server is so in the cache' '
	old=$(git --git-dir=central.git rev-parse refs/heads/hosts/host-00005~3) &&
	git --git-dir=central.git update-ref refs/heads/hosts/host-00005 "$old" &&
	git --git-dir=central.git update-ref -d refs/heads/hosts/host-00006 &&
	test_expect_code 4 cg fleet --reports "$url" --cache cache >url4.txt &&
	test_expect_code 4 cg fleet --reports central.git >dir4.txt &&
	test_cmp dir4.txt url4.txt &&
	test_grep_not "host-00006 " url4.txt &&
	test_grep "29 hosts: " url4.txt
'

test_expect_success 'the default cache is under XDG_CACHE_HOME' '
	XDG_CACHE_HOME=$TRASH/xdg test_expect_code 4 cg fleet --reports "$url" >url5.txt &&
	test_cmp dir4.txt url5.txt &&
	ls -d xdg/congruent/fleet/*.git
'

test_done
