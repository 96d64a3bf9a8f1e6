#!/bin/bash
# t7500-reports-signed: who may report. Report commits are signed by the
# host's key; contrib/reports/pre-receive on a real sshd on loopback lets a
# key update only its own host's ref, forward only, with commits signed by
# that host; fleet --host-keys marks unsigned and forged reports.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n' \
	>pol/roles/base.yaml

run_as() { # HOST CONFIG [options]: a run of the local policy as HOST
	_h=$1 _c=$2
	shift 2
	[ -d "root-$_h" ] || test_make_root "root-$_h"
	cg run -c "$_c" --policy pol --root "root-$_h" --state-dir "state-$_h" \
		--hostname "$_h" "$@"
}

# ssh_push KEY REFSPEC: git push over ssh with KEY as the client key.
# The server's URL and known_hosts are in the files url and kh.
ssh_push() {
	GIT_SSH_COMMAND="ssh -i $1 -o IdentitiesOnly=yes -o UserKnownHostsFile=$(cat kh) -o StrictHostKeyChecking=yes -o BatchMode=yes" \
		git --git-dir=local.git push "$(cat url)" "$2"
}

test_expect_success 'a run signs its report commit with a key made in STATE' '
	git init -q --bare plain.git &&
	printf "reports:\n  url: %s\n" "$TRASH/plain.git" >plain.yaml &&
	test_expect_code 2 run_as web-1 plain.yaml >/dev/null &&
	test -f state-web-1/report.key && test -f state-web-1/report.key.pub &&
	test "$(stat -c %a state-web-1/report.key)" = 600 &&
	cg key report --state-dir state-web-1 --hostname web-1 >web-1.line &&
	grep -q "^web-1 namespaces=\"git\" ssh-ed25519 " web-1.line &&
	test "$(cut -d" " -f3-4 web-1.line)" = "$(ssh-keygen -y -f state-web-1/report.key | cut -d" " -f1-2)" &&
	cp web-1.line hostkeys &&
	git --git-dir=plain.git -c gpg.ssh.allowedSignersFile="$TRASH/hostkeys" \
		verify-commit hosts/web-1 2>verify &&
	test_grep "Good \"git\" signature for web-1" verify
'

test_expect_success 'reports.signing_key: an OpenSSH ed25519 key (as the sshd host key) signs' '
	ssh-keygen -q -t ed25519 -N "" -C web-2 -f web-2.hostkey &&
	printf "reports:\n  url: %s\n  signing_key: %s\n" "$TRASH/plain.git" \
		"$TRASH/web-2.hostkey" >web-2.yaml &&
	test_expect_code 2 run_as web-2 web-2.yaml >/dev/null &&
	test ! -e state-web-2/report.key &&
	cg key report -c web-2.yaml --state-dir state-web-2 --hostname web-2 >web-2.line &&
	test "$(cut -d" " -f3-4 web-2.line)" = "$(cut -d" " -f1-2 web-2.hostkey.pub)" &&
	cat web-2.line >>hostkeys &&
	test_expect_code 2 cg fleet --reports plain.git --host-keys hostkeys --format json >fleet.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/fleet.schema.json" fleet.json &&
	jq -e "[.hosts[].signature] == [\"verified\", \"verified\"] and .summary.unverified == 0" fleet.json
'

test_expect_success 'reports.signing_key: an encrypted or missing key is a clear error, the report kept' '
	ssh-keygen -q -t ed25519 -N secret -f enc.key &&
	printf "reports:\n  url: %s\n  signing_key: %s\n" "$TRASH/plain.git" \
		"$TRASH/enc.key" >enc.yaml &&
	test_expect_code 2 run_as enc-1 enc.yaml >/dev/null 2>err &&
	test_grep "enc.key is encrypted with a passphrase" err &&
	test_grep "remove the passphrase" err &&
	ls state-enc-1/reports/queue >queue && test -s queue &&
	printf "reports:\n  url: %s\n  signing_key: %s\n" "$TRASH/plain.git" \
		"$TRASH/nokey" >nokey.yaml &&
	test_expect_code 0 run_as enc-1 nokey.yaml >/dev/null 2>err &&
	test_grep "cannot open the report signing key $TRASH/nokey" err &&
	ls state-enc-1/reports/queue >queue && test "$(wc -l <queue)" = 2
'

test_expect_success 'fleet --host-keys marks an unsigned, a forged and a tampered report unverified' '
	git clone -q --bare plain.git forged.git &&
	tree=$(git --git-dir=forged.git rev-parse hosts/web-1^{tree}) &&
	# unsigned, on top of web-1s ref
	c=$(echo "web-1: congruent" | git --git-dir=forged.git commit-tree "$tree" -p hosts/web-1) &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-1 "$c" &&
	# web-2 signing a report for web-2s ref is fine; its commit moved to web-3: forged
	git --git-dir=forged.git update-ref refs/heads/hosts/web-3 hosts/web-2 &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys >out &&
	test_grep "UNVERIFIED report: unsigned" out &&
	test_grep "UNVERIFIED report: unknown-key: no key for host web-3" out &&
	test_grep "2 unverified" out &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys --format json >fleet.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/fleet.schema.json" fleet.json &&
	jq -e ".summary.unverified == 2" fleet.json &&
	jq -e ".hosts[] | select(.host == \"web-1\") | .signature == \"unverified\" and (.signature_error | test(\"^unsigned\")) and .history[0].verified == false and .history[1].verified == true" fleet.json &&
	jq -e ".hosts[] | select(.host == \"web-2\") | .signature == \"verified\"" fleet.json &&
	# web-2s key listed for web-3 too would verify; for another host only, not
	sed "s/^web-2 /web-3 /" web-2.line >other &&
	cat web-1.line other >hostkeys2 &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys2 --format json >fleet2.json &&
	jq -e ".hosts[] | select(.host == \"web-2\") | .signature == \"unverified\"" fleet2.json &&
	jq -e ".hosts[] | select(.host == \"web-3\") | .signature == \"verified\"" fleet2.json &&
	# tampered: the signed commit with another subject
	raw=$(git --git-dir=plain.git cat-file commit hosts/web-2 | sed "s/^web-2: rolled out/web-2: congruent/") &&
	t=$(printf "%s\n" "$raw" | git --git-dir=forged.git hash-object -t commit -w --stdin) &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-2 "$t" &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys >out &&
	test_grep "UNVERIFIED report: bad-signature" out &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys --format html >fleet.html &&
	test_grep "class=\"unverified\"" fleet.html &&
	test_expect_code 4 cg fleet --reports forged.git --host-keys hostkeys --format prometheus >prom &&
	grep -qx "congruent_fleet_unverified_hosts 3" prom &&
	grep -qx "congruent_host_report_verified{host=\"web-1\"} 0" prom &&
	# without --host-keys nothing is claimed either way
	test_expect_code 2 cg fleet --reports forged.git --format json >plain.json &&
	jq -e "[.hosts[] | has(\"signature\")] | any | not" plain.json
'

test_expect_success 'ssh:// with the pre-receive hook: the host pushes its own signed ref' '
	git init -q --bare reports.git &&
	cp "$TOP/contrib/reports/pre-receive" reports.git/hooks/pre-receive &&
	git --git-dir=reports.git config congruent.hostKeys "$TRASH/hostkeys" &&
	set -- $(gitserve_ssh "$TRASH/reports.git") &&
	url=$1 kh=$3 && ak=$(dirname "$2")/authorized_keys &&
	echo "$url" >url && echo "$kh" >kh &&
	ssh-keygen -q -t ed25519 -N "" -f web-1.ssh &&
	ssh-keygen -q -t ed25519 -N "" -f web-2.ssh &&
	for h in web-1 web-2; do
		printf "command=\"CONGRUENT_PUSHER=%s exec git-shell -c \\\\\"\$SSH_ORIGINAL_COMMAND\\\\\"\",no-pty,no-port-forwarding %s\n" \
			"$h" "$(cat $h.ssh.pub)"
	done >"$ak" &&
	for h in web-1 web-2; do
		printf "source:\n  ssh_key: %s\n  known_hosts: %s\nreports:\n  url: %s\n  timeout: 20\n  heartbeat: 0\n" \
			"$TRASH/$h.ssh" "$kh" "$url" >"ssh-$h.yaml"
	done &&
	printf "  signing_key: %s\n" "$TRASH/web-2.hostkey" >>ssh-web-2.yaml &&
	echo tampered >root-web-1/etc/motd &&
	test_expect_code 2 run_as web-1 ssh-web-1.yaml >/dev/null 2>err &&
	test_grep_not "cannot push" err &&
	test "$(git --git-dir=reports.git rev-list --count hosts/web-1)" = 1 &&
	echo tampered >root-web-2/etc/motd &&
	test_expect_code 2 run_as web-2 ssh-web-2.yaml >/dev/null 2>err &&
	test_grep_not "cannot push" err &&
	test_expect_code 2 cg fleet --reports reports.git --host-keys hostkeys >out &&
	test_grep "0 unverified" out
'

test_expect_success 'ssh://: another host'"'"'s ref is refused, for the agent and for git push' '
	echo tampered >root-web-1/etc/motd &&
	cp -r state-web-1 state-web-9 && cp -r root-web-1 root-web-9 &&
	test_expect_code 2 run_as web-9 ssh-web-1.yaml >/dev/null 2>err &&
	test_grep "cannot push" err &&
	test_grep "pre-receive hook declined (the server said: congruent pre-receive: refs/heads/hosts/web-9: refused: web-1 may update only refs/heads/hosts/web-1)" err &&
	! git --git-dir=reports.git rev-parse -q --verify refs/heads/hosts/web-9 &&
	git clone -q --bare reports.git local.git &&
	test_expect_code 1 ssh_push web-1.ssh refs/heads/hosts/web-2:refs/heads/hosts/web-2-copy 2>err &&
	test_grep "web-1 may update only refs/heads/hosts/web-1" err &&
	test_expect_code 1 ssh_push web-1.ssh refs/heads/hosts/web-1:refs/heads/main 2>err &&
	test_grep "only host refs" err
'

test_expect_success 'ssh://: an unsigned commit, another host'"'"'s signature, a rewind and a deletion are refused' '
	tree=$(git --git-dir=local.git rev-parse hosts/web-1^{tree}) &&
	c=$(echo "web-1: congruent" | git --git-dir=local.git commit-tree "$tree" -p hosts/web-1) &&
	test_expect_code 1 ssh_push web-1.ssh "$c:refs/heads/hosts/web-1" 2>err &&
	test_grep "is not signed (no gpgsig header" err &&
	# signed by web-2s key, on top of web-1s ref
	c=$(echo "web-1: congruent" | git --git-dir=local.git -c gpg.format=ssh \
		-c user.signingkey="$TRASH/web-2.hostkey" commit-tree -S "$tree" -p hosts/web-1) &&
	test_expect_code 1 ssh_push web-1.ssh "$c:refs/heads/hosts/web-1" 2>err &&
	test_grep "is not signed by the key of host web-1" err &&
	# a forced push of web-2s commit over web-1s ref
	test_expect_code 1 ssh_push web-1.ssh "+hosts/web-2:refs/heads/hosts/web-1" 2>err &&
	test_grep "not a fast-forward" err &&
	echo tampered >root-web-1/etc/motd &&
	test_expect_code 2 run_as web-1 ssh-web-1.yaml >/dev/null 2>err &&
	test_grep_not "cannot push" err &&
	git --git-dir=local.git fetch -q "$TRASH/reports.git" "+refs/heads/*:refs/heads/*" &&
	test_expect_code 1 ssh_push web-1.ssh "+hosts/web-1~1:refs/heads/hosts/web-1" 2>err &&
	test_grep "not a fast-forward" err &&
	test_expect_code 1 ssh_push web-1.ssh ":refs/heads/hosts/web-1" 2>err &&
	test_grep "deleting a host" err &&
	test "$(git --git-dir=reports.git rev-list --count hosts/web-1)" = 2 &&
	test_expect_code 2 cg fleet --reports reports.git --host-keys hostkeys >out &&
	test_grep "0 unverified" out
'

test_expect_success 'the hook without a host key list refuses everything, saying why' '
	git --git-dir=reports.git config --unset congruent.hostKeys &&
	echo tampered >root-web-1/etc/motd &&
	test_expect_code 2 run_as web-1 ssh-web-1.yaml >/dev/null 2>err &&
	test_grep "cannot push" err &&
	test_grep "the server said: congruent pre-receive: no host key list" err &&
	test "$(git --git-dir=reports.git rev-list --count hosts/web-1)" = 2 &&
	git --git-dir=local.git fetch -q "$TRASH/state-web-1/reports/repo.git" \
		"+refs/congruent/out:refs/heads/hosts/web-1" &&
	test_expect_code 1 ssh_push web-1.ssh "hosts/web-1:refs/heads/hosts/web-1" 2>err &&
	test_grep "no host key list: set congruent.hostKeys" err &&
	git --git-dir=reports.git config congruent.hostKeys "$TRASH/hostkeys"
'

test_done
