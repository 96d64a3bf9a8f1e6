#!/bin/bash
# t6150-source-bounds: hostile tips from the policy source: sizes checked
# from object headers before anything is loaded, a refused tip remembered,
# a branch that points at no commit, and --no-pull after a failed fetch.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

RUNSTAT=$TOP/build/tests/helpers/runstat
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
G="git --git-dir=origin.git"

config() { # URL
	printf 'source:\n  url: %s\n  branch: main\n  timeout: %s\n' "$1" \
		"${TIMEOUT:-120}" >agent.yaml
}

# stat_run [run options]: congruent run under runstat; stdout to out,
# stderr to err; sets kib (peak RSS) and rc.
stat_run() {
	"$RUNSTAT" "$CONGRUENT" run -c agent.yaml --root root --state-dir state \
		"$@" >out 2>err
	set -- $(sed -n "s/^runstat [^ ]* \([0-9]*\) \([0-9]*\)$/\1 \2/p" err)
	kib=$1 rc=$2
	say "peak RSS $kib KiB, exit $rc"
	# As cg does: a sanitizer report fails the call.
	! grep -q -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" err
}

run() {
	cg run -c agent.yaml --root root --state-dir state "$@"
}

# on_main TREE: a commit of TREE on origin's main.
on_main() {
	$G commit-tree -p "$($G rev-parse main)" -m next "$1"
}


policy_tree() { # TEXT: prints the tree id of that policy, in origin
	mkdir -p p/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >p/site.yaml &&
	printf 'resources:\n  - file: /etc/motd\n    content: "%s\\n"\n' "$1" \
		>p/roles/base.yaml &&
	site=$($G hash-object -w p/site.yaml) &&
	base=$($G hash-object -w p/roles/base.yaml) &&
	roles=$(printf "100644 blob %s\tbase.yaml\n" "$base" | $G mktree) &&
	printf "100644 blob %s\tsite.yaml\n040000 tree %s\troles\n" "$site" "$roles" |
		$G mktree
}

test_expect_success 'setup: v1 served by git daemon on loopback, enforced' '
	test -x "$RUNSTAT" || { echo "make tests builds $RUNSTAT" >&2; exit 1; } &&
	git init -q --bare -b main origin.git &&
	$G update-ref refs/heads/main "$($G commit-tree -m v1 "$(policy_tree v1)")" &&
	v1=$($G rev-parse main) &&
	url=$(gitserve_daemon "$TRASH/origin.git") &&
	echo "$url" >url &&
	config "$url" && mkdir -p root/etc &&
	test_expect_code 2 run &&
	test "$(cat root/etc/motd)" = v1
'

test_expect_success 'a tree of 1.2 GiB (one 400 MiB blob, three times): refused from headers, RSS small' '
	blob=$(head -c 400M /dev/zero | $G hash-object -w --stdin) &&
	files=$(printf "100644 blob %s\tbig%s\n" "$blob" 1 "$blob" 2 "$blob" 3 | $G mktree) &&
	tree=$({ $G ls-tree main; printf "040000 tree %s\tfiles\n" "$files"; } | $G mktree) &&
	$G update-ref refs/heads/main "$(on_main "$tree")" &&
	big=$($G rev-parse main) &&
	echo drift >root/etc/motd &&
	stat_run &&
	cat err &&
	test "$rc" = 6 &&
	test "$kib" -lt 150000 &&
	test_grep "commit ${big:0:12} refused: the commit'\''s tree is larger than 1 GiB" err &&
	test_grep "no file was loaded" err &&
	test_grep "enforcing the last good commit ${v1:0:12}" err &&
	test "$(cat root/etc/motd)" = v1 &&
	test "$(head -c 40 state/git/refused)" = "$big" &&
	! ls state/git/trees/.tmp-* 2>/dev/null
'

test_expect_success 'the same tip next run: still refused, with the reason, not evaluated again' '
	big=$($G rev-parse main) &&
	echo drift >root/etc/motd &&
	stat_run &&
	cat err &&
	test "$rc" = 6 &&
	test "$kib" -lt 150000 &&
	test_grep "commit ${big:0:12} refused: still refused, as first at 20" err &&
	test_grep "the commit'\''s tree is larger than 1 GiB" err &&
	test_grep "keep large files out of the policy repository" err &&
	test "$(cat root/etc/motd)" = v1 &&
	test_expect_code 4 cg plan -c agent.yaml --root root --state-dir state 2>err &&
	test_grep "commit ${big:0:12} refused: still refused" err
'

test_expect_success 'a new tip after a refused one is evaluated normally' '
	$G update-ref refs/heads/main "$(on_main "$(policy_tree v2)")" &&
	test_expect_code 2 run 2>err &&
	test_grep_not "refused" err &&
	test "$(cat root/etc/motd)" = v2
'

test_expect_success 'a 400 MiB commit message: refused from its header, RSS small' '
	good=$($G rev-parse main) &&
	tree=$(policy_tree v3) &&
	huge=$({ printf "huge\n\n"; head -c 400M /dev/zero | tr "\0" m; } |
		$G commit-tree -p "$good" -F - "$tree") &&
	$G update-ref refs/heads/main "$huge" &&
	huge=$($G rev-parse main) &&
	stat_run &&
	cat err &&
	test "$rc" = 4 &&
	test "$kib" -lt 150000 &&
	grep -E "commit ${huge:0:12} refused: the commit object is 4194[0-9]{5} bytes, more than the limit of 1048576" err &&
	test "$(cat root/etc/motd)" = v2 &&
	# A small commit on top: the walk to the last good one reads headers.
	$G update-ref refs/heads/main "$(on_main "$(policy_tree v3)")" &&
	stat_run &&
	test "$rc" = 4 &&
	test "$kib" -lt 150000 &&
	grep -E "refused: commit ${huge:0:12} in its history is 4194[0-9]{5} bytes, more than the limit of 1048576" err &&
	test_grep "rewrite the branch without that commit" err &&
	# Again: the fetch does not offer that history as a "have" either.
	stat_run &&
	test "$rc" = 4 &&
	test "$kib" -lt 150000 &&
	# Put right by a commit beside it (on the last good one).
	$G update-ref refs/heads/main "$($G commit-tree -p "$good" -m v3 "$(policy_tree v3)")" &&
	stat_run &&
	test "$rc" = 2 &&
	test "$kib" -lt 150000 &&
	test "$(cat root/etc/motd)" = v3
'

# point_main OBJECT: main at any object (git refuses; a hostile server not).
point_main() {
	echo "$1" >origin.git/refs/heads/main
}

test_expect_success 'a branch pointing at a tree: refused as such, exit 4, the cache kept' '
	good=$($G rev-parse main) &&
	echo "$good" >good &&
	point_main "$($G rev-parse "main^{tree}")" &&
	test_expect_code 4 run >out 2>err &&
	cat err &&
	test_grep "source refused: branch '\''main'\'' points at a tree (" err &&
	test_grep "), not a commit" err &&
	test_grep_not "corrupt" err &&
	test_grep "enforcing the last good commit ${good:0:12}" err &&
	test "$(cat root/etc/motd)" = v3 &&
	! ls -d state/git/repo.git.corrupt-* 2>/dev/null &&
	test_expect_code 4 cg plan -c agent.yaml --root root --state-dir state 2>err &&
	test_grep "points at a tree (" err &&
	test_expect_code 4 run 2>err &&
	test_grep "source refused: still refused, as first at" err &&
	! ls -d state/git/repo.git.corrupt-* 2>/dev/null
'

test_expect_success 'a branch pointing at a tree with no good commit: exit 1, said so' '
	test_expect_code 1 cg run -c agent.yaml --root root --state-dir state2 2>err &&
	test_grep "no good policy commit to enforce: branch '\''main'\'' points at a tree (" err &&
	! ls -d state2/git/repo.git.corrupt-* 2>/dev/null
'

test_expect_success 'a branch pointing at a tag object or a blob: refused as such' '
	good=$(cat good) &&
	tag=$(printf "object %s\ntype commit\ntag v\ntagger a <a@b> 1700000000 +0000\n\nv\n" "$good" |
		$G hash-object -t tag -w --literally --stdin) &&
	point_main "$tag" &&
	test_expect_code 4 run 2>err &&
	test_grep "branch '\''main'\'' points at a tag (${tag:0:12}), not a commit" err &&
	point_main "$($G rev-parse "$good:site.yaml")" &&
	test_expect_code 4 run 2>err &&
	test_grep "points at a blob (" err &&
	point_main "$good" &&
	test_expect_code 0 run 2>err &&
	test_grep_not "refused" err
'

test_expect_success 'a fetch that timed out: --no-pull says when, and enforces the last good commit' '
	port=$(perl -MIO::Socket::INET -e "print IO::Socket::INET->new(Listen=>1, LocalAddr=>q(127.0.0.1:0))->sockport")
	timeout 30 perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(Listen=>5, LocalAddr=>q(127.0.0.1:$port), ReuseAddr=>1) or die; my \$c = \$s->accept; sleep 60" &
	pid=$!
	sleep 0.5
	good=$(cat good)
	TIMEOUT=2 config "git://127.0.0.1:$port/policy.git"
	run >out 2>err && rc=0 || rc=$?
	kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
	test $rc = 0 &&
	test_grep "timeout" err &&
	test "$($G rev-parse main)" = "$(git --git-dir=state/git/repo.git rev-parse refs/congruent/tip)" &&
	echo drift >root/etc/motd &&
	test_expect_code 2 run --no-pull >out 2>err &&
	cat err &&
	test_grep "source not updated: the last fetch, at 20" err &&
	test_grep "failed: no answer within 2 s (timeout)" err &&
	test_grep "the policy is stale: last fetched 20" err &&
	test_grep "enforcing the last good commit ${good:0:12}" err &&
	test_grep_not "never fetched" err &&
	test "$(cat root/etc/motd)" = v3
'

test_expect_success 'a good fetch again: --no-pull has nothing to say' '
	config "$(cat url)" &&
	test_expect_code 0 run 2>err &&
	test_grep_not "stale" err &&
	test_expect_code 0 run --no-pull 2>err &&
	test_grep_not "stale" err &&
	test_grep_not "fetch" err
'

test_done
