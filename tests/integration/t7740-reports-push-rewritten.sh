#!/bin/bash
# t7740-reports-push-rewritten: a push builds on what the server took
# last time, without fetching first; when the host's ref was rewritten on
# the server meanwhile (fleet compact), the push is refused, the ref is
# fetched again and the reports go on top of it: nothing lost, no fork.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n' >pol/roles/base.yaml
git init -q --bare srv/central.git
url=$(gitserve_daemon "$TRASH/srv/central.git" --push)
if [ -z "$url" ]; then
	test_skip 'no git daemon' 'pushes over git://'
	test_done
	exit
fi
printf 'reports:\n  url: %s\n  heartbeat: 0\n' "$url" >agent.yaml
test_make_root root
run() { cg run -c agent.yaml --policy pol --root root --state-dir state --hostname web-1; }
ref=refs/heads/hosts/web-1
# connections git daemon served: one line per service run
served() { grep -c '\[[0-9]*\] Request \(upload\|receive\)-pack' "$GITSERVE_LOG"; }

test_expect_success 'the second push builds on the first without a fetch' '
	GITSERVE_LOG=$(ls "$(gitserve__dir)"/daemon.*/log) &&
	test_expect_code 2 run &&
	test "$(git --git-dir=srv/central.git rev-list --count $ref)" = 1 &&
	before=$(served) &&
	echo changed >root/etc/motd &&
	test_expect_code 2 run &&
	test "$(git --git-dir=srv/central.git rev-list --count $ref)" = 2 &&
	test "$(served)" = "$((before + 1))"
'

test_expect_success 'a ref rewritten on the server: fetched again, built on' '
	tip=$(git --git-dir=srv/central.git rev-parse $ref) &&
	new=$(git --git-dir=srv/central.git cat-file commit $tip | sed -n "/^$/,\$p" | sed 1d |
		GIT_COMMITTER_NAME=web-1 GIT_COMMITTER_EMAIL=c@r GIT_AUTHOR_NAME=web-1 \
		GIT_AUTHOR_EMAIL=c@r git --git-dir=srv/central.git commit-tree "$tip^{tree}") &&
	git --git-dir=srv/central.git update-ref $ref "$new" &&
	echo again >root/etc/motd &&
	test_expect_code 2 run 2>err &&
	test_grep_not "cannot push" err &&
	test "$(git --git-dir=srv/central.git rev-parse $ref^)" = "$new" &&
	test "$(git --git-dir=srv/central.git rev-list --count $ref)" = 2
'

test_done
