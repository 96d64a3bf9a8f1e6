#!/bin/bash
# t6100-source: the policy from git: fetch, signatures, no rollback, the
# last good commit, and what happens when the source misbehaves.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

# work/ is where commits are made; origin.git is the "server".
setup_repo() {
	rm -rf work origin.git state root &&
	git init -q -b main work &&
	mkdir -p work/roles root/etc &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >work/site.yaml &&
	set_motd v1 &&
	git -C work add -A &&
	git -C work commit -q -m v1 "$@" &&
	git clone -q --bare work origin.git
}

set_motd() {
	printf 'resources:\n  - file: /etc/motd\n    content: "%s\\n"\n' "$1" \
		>work/roles/base.yaml
}

# commit [git commit options]: a new policy version, pushed to origin.
commit() {
	set_motd "$1" && shift &&
	git -C work commit -q -a -m change "$@" &&
	git -C work push -q -f ../origin.git main
}

config() { # URL [more lines]
	printf 'source:\n  url: %s\n  branch: main\n  timeout: %s\n' "$1" \
		"${TIMEOUT:-20}" >agent.yaml
	shift
	for l in "$@"; do printf '%s\n' "$l" >>agent.yaml; done
}

run() {
	cg run -c agent.yaml --root root --state-dir state "$@"
}

test_expect_success 'a local path: run enforces the tip and reports its commit' '
	setup_repo && config "$TRASH/origin.git" &&
	tip=$(git -C work rev-parse HEAD) &&
	test_expect_code 2 run --format json >out.json &&
	jq -e ".commit == \"$tip\"" out.json &&
	test "$(cat root/etc/motd)" = v1 &&
	test "$(cut -d" " -f1 state/git/last-good)" = "$tip" &&
	test_expect_code 0 cg plan -c agent.yaml --root root --state-dir state >out &&
	test_grep "at ${tip:0:12}" out
'

test_expect_success 'a run with nothing new downloads no objects' '
	test_expect_code 0 run --format json >out.json &&
	jq -e ".source.fetched_objects == 0" out.json
'

test_expect_success 'a new commit is fetched and enforced' '
	commit v2 &&
	test_expect_code 2 run --format json >out.json &&
	jq -e ".source.fetched_objects > 0" out.json &&
	test "$(cat root/etc/motd)" = v2
'

test_expect_success '--no-pull enforces the cached commit without the server' '
	mv origin.git origin.away &&
	echo drift >root/etc/motd &&
	test_expect_code 2 run --no-pull >out 2>err &&
	test "$(cat root/etc/motd)" = v2 &&
	test_grep_not "stale" err &&
	mv origin.away origin.git
'

test_expect_success 'an unreachable server: the last good commit, stale since when' '
	config "$TRASH/nowhere.git" &&
	echo drift >root/etc/motd &&
	test_expect_code 2 run >out 2>err &&
	test "$(cat root/etc/motd)" = v2 &&
	test_grep "source not updated" err &&
	test_grep "the policy is stale: last fetched 20" err &&
	config "$TRASH/origin.git"
'

test_expect_success 'a server that never answers is cut off by the timeout' '
	port=$(perl -MIO::Socket::INET -e "print IO::Socket::INET->new(Listen=>1, LocalAddr=>q(127.0.0.1:0))->sockport")
	timeout 30 perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(Listen=>5, LocalAddr=>q(127.0.0.1:$port), ReuseAddr=>1) or die; my \$c = \$s->accept; sleep 60" &
	pid=$!
	sleep 0.5
	TIMEOUT=2 config "git://127.0.0.1:$port/policy.git"
	start=$(date +%s)
	run >out 2>err && rc=0 || rc=$?
	end=$(date +%s)
	kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
	test $rc = 0 &&
	test $((end - start)) -lt 15 &&
	test_grep "timeout" err &&
	test_grep "stale" err &&
	config "$TRASH/origin.git"
'

test_expect_success 'a corrupt cache: last good now, a fresh cache next run' '
	for f in $(find state/git/repo.git/objects -type f -name "[0-9a-f]*" | grep -v pack); do
		chmod u+w "$f" && printf garbage >"$f"
	done &&
	find state/git/repo.git/objects/pack -name "*.pack" -exec sh -c "chmod u+w {} && printf garbage >{}" \; &&
	commit v3 &&
	test_expect_code 0 run >out 2>err || { cat err; exit 1; }
	test "$(cat root/etc/motd)" = v2 &&
	ls -d state/git/repo.git.corrupt-* &&
	test_expect_code 2 run >out 2>err &&
	test "$(cat root/etc/motd)" = v3
'

test_expect_success 'a force push to an older commit is refused; --allow-rollback takes it once' '
	old=$(git -C work rev-parse HEAD~1) &&
	git -C work reset -q --hard "$old" &&
	git -C work push -q -f ../origin.git main &&
	test_expect_code 4 run >out 2>err &&
	test_grep "commit ${old:0:12} refused" err &&
	test_grep "does not descend from the last applied commit" err &&
	test_grep "allow-rollback" err &&
	test "$(cat root/etc/motd)" = v3 &&
	test_expect_code 2 run --allow-rollback >out 2>err &&
	test "$(cat root/etc/motd)" = v2 &&
	test_expect_code 0 run
'

test_expect_success 'a commit whose policy fails check is refused with the reason' '
	printf "resources:\n  - file: /etc/motd\n    mdoe: 1\n" >work/roles/base.yaml &&
	git -C work commit -q -a -m broken &&
	git -C work push -q ../origin.git main &&
	bad=$(git -C work rev-parse HEAD) &&
	test_expect_code 4 run >out 2>err &&
	test_grep "commit ${bad:0:12} refused" err &&
	test_grep "fails check" err &&
	test_grep "unknown key '\''mdoe'\''" err &&
	test "$(cat root/etc/motd)" = v2
'

test_expect_success 'a complex YAML key in a role no host uses: refused, the last good enforced' '
	set_motd v2 &&
	printf "? [a]\n: [b]\n" >work/roles/unused.yaml &&
	git -C work add roles &&
	git -C work commit -q -m "complex key" &&
	git -C work push -q ../origin.git main &&
	bad=$(git -C work rev-parse HEAD) &&
	echo drift >root/etc/motd &&
	test_expect_code 6 run >out 2>err &&
	test_grep "commit ${bad:0:12} refused" err &&
	test_grep "roles/unused.yaml:1:3" err &&
	test_grep "map keys must be plain strings" err &&
	test "$(cat root/etc/motd)" = v2 &&
	echo drift >root/etc/motd &&
	test_expect_code 6 run --no-pull >out 2>err &&
	test "$(cat root/etc/motd)" = v2 &&
	git -C work rm -q roles/unused.yaml &&
	git -C work commit -q -m "no complex key"
'

test_expect_success 'a commit without site.yaml is refused' '
	git -C work rm -q site.yaml && git -C work commit -q -m "no site" &&
	git -C work push -q ../origin.git main &&
	test_expect_code 4 run >out 2>err &&
	test_grep "site.yaml" err &&
	test "$(cat root/etc/motd)" = v2
'

test_expect_success 'a branch that does not exist: last good, and a clear error' '
	printf "source:\n  url: %s\n  branch: nosuch\n" "$TRASH/origin.git" >agent.yaml &&
	test_expect_code 4 run >out 2>err &&
	test_grep "branch '\''nosuch'\'' does not exist" err &&
	test_grep "enforcing the last good commit" err &&
	config "$TRASH/origin.git"
'

test_expect_success 'an empty repository and no good commit: exit 1' '
	rm -rf empty.git state2 && git init -q --bare empty.git &&
	config "$TRASH/empty.git" &&
	test_expect_code 1 cg run -c agent.yaml --root root --state-dir state2 2>err &&
	test_grep "no good policy commit to enforce" err &&
	test_grep "does not exist there (or the repository is empty)" err &&
	config "$TRASH/origin.git"
'

test_expect_success 'signed commits: a good signature is enforced' '
	ssh-keygen -q -t ed25519 -N "" -C ops -f ops.key &&
	ssh-keygen -q -t ed25519 -N "" -C evil -f evil.key &&
	echo "ops@example.com namespaces=\"git\" $(cat ops.key.pub)" >allowed_signers &&
	export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=gpg.format GIT_CONFIG_VALUE_0=ssh \
		GIT_CONFIG_KEY_1=user.signingkey GIT_CONFIG_VALUE_1="$TRASH/ops.key" &&
	setup_repo -S &&
	git -C work config gpg.format ssh &&
	git -C work config user.signingkey "$TRASH/ops.key" &&
	config "$TRASH/origin.git" "  require_signed: true" "  allowed_signers: $TRASH/allowed_signers" &&
	test_expect_code 2 run --format json >out.json &&
	jq -e ".source.signer | test(\"ops@example.com\")" out.json &&
	test "$(cat root/etc/motd)" = v1
'

test_expect_success 'an unsigned commit is refused; the last good is enforced' '
	commit v2 --no-gpg-sign &&
	test_expect_code 4 run >out 2>err &&
	test_grep "refused" err &&
	test_grep "signature" err &&
	test "$(cat root/etc/motd)" = v1
'

test_expect_success 'a commit signed by an unknown key is refused' '
	commit v3 -S -c user.signingkey="$TRASH/evil.key" 2>/dev/null ||
	{ set_motd v3 && git -C work -c user.signingkey="$TRASH/evil.key" commit -q -a -S -m evil &&
	  git -C work push -q -f ../origin.git main; } &&
	test_expect_code 4 run >out 2>err &&
	test_grep "refused" err &&
	test "$(cat root/etc/motd)" = v1
'

test_expect_success 'a tampered commit (same signature, other content) is refused' '
	git -C work reset -q --hard HEAD~2 &&
	commit v4 -S &&
	test_expect_code 2 run >/dev/null &&
	test "$(cat root/etc/motd)" = v4 &&
	raw=$(git -C work cat-file commit HEAD | sed "s/^change$/tampered/") &&
	fake=$(printf "%s\n" "$raw" | git -C work hash-object -t commit -w --stdin) &&
	git -C work update-ref refs/heads/main "$fake" &&
	git -C work push -q -f ../origin.git main &&
	test_expect_code 4 run >out 2>err &&
	test_grep "refused" err &&
	test "$(cat root/etc/motd)" = v4
'

test_expect_success 'git:// through git daemon on loopback' '
	url=$(gitserve_daemon "$TRASH/origin.git") &&
	config "$url" &&
	rm -rf state && echo old >root/etc/motd &&
	git -C work reset -q --hard HEAD~1 && commit v5 --no-gpg-sign &&
	test_expect_code 2 run >out 2>err &&
	test "$(cat root/etc/motd)" = v5
'

test_expect_success 'https:// with the test CA; a wrong CA and a wrong name are refused' '
	gitserve_deps https >/dev/null 2>&1 || true
	set -- $(gitserve_https "$TRASH/origin.git") &&
	url=$1 ca=$2 &&
	config "$url" "  ca_file: $ca" &&
	rm -rf state && echo old >root/etc/motd &&
	test_expect_code 2 run >out 2>err &&
	test "$(cat root/etc/motd)" = v5 &&
	wrong=$(gitserve_wrong_ca) &&
	config "$url" "  ca_file: $wrong" &&
	rm -rf state &&
	test_expect_code 1 run >out 2>err &&
	test_grep "not correctly signed by the trusted CA" err &&
	config "$(gitserve_wrongname_url "$url")" "  ca_file: $ca" &&
	test_expect_code 1 run >out 2>err &&
	test_grep "does not match" err
'

test_expect_success 'ssh:// with a key, the host key checked against known_hosts' '
	set -- $(gitserve_ssh "$TRASH/origin.git") &&
	url=$1 key=$2 kh=$3 &&
	config "$url" "  ssh_key: $key" "  known_hosts: $kh" &&
	rm -rf state && echo old >root/etc/motd &&
	test_expect_code 2 run >out 2>err &&
	test "$(cat root/etc/motd)" = v5
'

test_expect_success 'ssh:// refuses an unknown host key, and no known_hosts at all' '
	set -- $(gitserve_ssh "$TRASH/origin.git") &&
	url=$1 key=$2 &&
	ssh-keygen -q -t ed25519 -N "" -f other-host &&
	echo "[127.0.0.1]:${url##*:} $(cut -d" " -f1-2 other-host.pub)" | sed "s|:[0-9]*/.* ssh| ssh|" >bad_known_hosts &&
	port=$(echo "$url" | sed "s|.*:\([0-9]*\)/.*|\1|") &&
	echo "[127.0.0.1]:$port $(cut -d" " -f1-2 other-host.pub)" >bad_known_hosts &&
	config "$url" "  ssh_key: $key" "  known_hosts: $TRASH/bad_known_hosts" &&
	rm -rf state &&
	test_expect_code 1 run >out 2>err &&
	test_grep "is not in $TRASH/bad_known_hosts" err &&
	config "$url" "  ssh_key: $key" &&
	test_expect_code 1 run >out 2>err &&
	test_grep "set source.known_hosts" err
'

test_done
