#!/bin/bash
# t7100-reports-transports: a run that fetches its policy and pushes its
# report over the same real transport: git://, https:// and ssh:// servers
# on loopback, each with a second connection for the push.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

git init -q -b main work &&
mkdir -p work/roles &&
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >work/site.yaml &&
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n' \
	>work/roles/base.yaml &&
git -C work add -A && git -C work commit -q -m v1 &&
git clone -q --bare work policy.git || exit 1

config() { # SOURCE-URL REPORTS-URL [source lines]
	_s=$1 _r=$2
	shift 2
	printf 'source:\n  url: %s\n  branch: main\n  timeout: 20\n' "$_s" \
		>agent.yaml
	for l in "$@"; do printf '  %s\n' "$l" >>agent.yaml; done
	printf 'reports:\n  url: %s\n  timeout: 20\n' "$_r" >>agent.yaml
}

# delivers NAME: two runs as host NAME (a change, then nothing new but a
# drift) each fetch the policy and push a report; both commits arrive.
delivers() {
	rm -rf "state-$1" reports.git && git init -q --bare reports.git &&
	test_make_root "root-$1" &&
	test_expect_code 2 cg run -c agent.yaml --root "root-$1" \
		--state-dir "state-$1" --hostname "$1" --format json \
		>out.json 2>err &&
	test_grep_not "cannot push" err &&
	jq -e ".source.stale == false and .source.fetched_objects > 0" out.json &&
	test "$(git --git-dir=reports.git rev-list --count "refs/heads/hosts/$1")" = 1 &&
	echo tampered >"root-$1/etc/motd" &&
	test_expect_code 2 cg run -c agent.yaml --root "root-$1" \
		--state-dir "state-$1" --hostname "$1" >out 2>err &&
	test_grep_not "cannot push" err &&
	test "$(git --git-dir=reports.git rev-list --count "refs/heads/hosts/$1")" = 2 &&
	ls "state-$1/reports/queue" >queue && test ! -s queue &&
	git --git-dir=reports.git log -1 --format=%s "refs/heads/hosts/$1" >subj &&
	test_grep "$1: repaired" subj
}

# forgets NAME: fleet forget pushes the deletion of the host's ref.
forgets() {
	test_expect_code 0 cg fleet -c agent.yaml forget "$1" >out &&
	test_grep "forgot $1 (deleted refs/heads/hosts/$1 in " out &&
	! git --git-dir=reports.git rev-parse -q --verify "refs/heads/hosts/$1" &&
	test_expect_code 1 cg fleet -c agent.yaml forget "$1" 2>err &&
	test_grep "no host '$1' in " err
}

test_expect_success 'git://: the policy fetched and the report pushed' '
	url=$(gitserve_daemon "$TRASH/policy.git" --push) &&
	config "$url" "${url%/policy.git}/reports.git" &&
	delivers git-1 &&
	forgets git-1
'

test_expect_success 'https://: the policy fetched and the report pushed' '
	set -- $(gitserve_https "$TRASH/policy.git" --push) &&
	url=$1 ca=$2 &&
	config "$url" "${url%/policy.git}/reports.git" "ca_file: $ca" &&
	delivers https-1 &&
	test_expect_code 2 cg fleet -c agent.yaml --format json >fleet.json &&
	jq -e ".summary.hosts == 1 and .hosts[0].host == \"https-1\"" fleet.json &&
	forgets https-1
'

test_expect_success 'ssh://: the fetch and the push each authenticate' '
	set -- $(gitserve_ssh "$TRASH/policy.git") &&
	url=$1 key=$2 kh=$3 &&
	config "$url" "${url%/policy.git}/reports.git" "ssh_key: $key" \
		"known_hosts: $kh" &&
	delivers ssh-1 &&
	test_expect_code 2 cg fleet -c agent.yaml --format json >fleet.json &&
	jq -e ".summary.hosts == 1 and .hosts[0].host == \"ssh-1\"" fleet.json &&
	forgets ssh-1
'

test_expect_success 'ssh://: a key the server refuses is still refused on the push' '
	set -- $(gitserve_ssh "$TRASH/policy.git") &&
	url=$1 kh=$3 &&
	ssh-keygen -q -t ed25519 -N "" -f stranger &&
	rm -rf state-x reports.git && git init -q --bare reports.git &&
	test_make_root root-x &&
	printf "source:\n  url: %s\n  branch: main\n  ssh_key: %s\n  known_hosts: %s\n" \
		"$TRASH/policy.git" "$TRASH/stranger" "$kh" >agent.yaml &&
	printf "reports:\n  url: %s\n  timeout: 20\n" "${url%/policy.git}/reports.git" >>agent.yaml &&
	test_expect_code 2 cg run -c agent.yaml --root root-x --state-dir state-x \
		--hostname x >out 2>err &&
	test_grep "cannot push to" err &&
	test_grep "the server refused the key in ssh_key" err
'

test_done
