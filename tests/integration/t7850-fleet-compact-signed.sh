#!/bin/bash
# t7850-fleet-compact-signed: fleet compact keeps signed reports
# verifiable. A rewritten commit records its original parents and
# signature (congruent-original-parent, congruent-original-gpgsig);
# fleet --host-keys rebuilds the signed original from them and checks it
# against the host's key. Any edit of tree, message, a parent record or
# the signature fails, and so does an unsigned commit posing as compacted.
. "$(dirname "$0")/../lib/lib.sh"

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n' \
	>pol/roles/base.yaml

run_as() { # HOST: a run of the local policy as HOST, reporting to central.git
	[ -d "root-$1" ] || test_make_root "root-$1"
	cg run -c agent.yaml --policy pol --root "root-$1" --state-dir "state-$1" \
		--hostname "$1" >/dev/null
}

# rewrite HOST SED: the tip of HOST with its raw object edited by SED,
# put in HOST's place in forged.git
rewrite() {
	_t=$(git --git-dir=central.git cat-file commit "hosts/$1" | sed "$2" |
		git --git-dir=forged.git hash-object -t commit -w --stdin) &&
	git --git-dir=forged.git update-ref "refs/heads/hosts/$1" "$_t"
}

# tip_check JSON HOST: HOSTs tip is unverified, and says why
tip_unverified() {
	jq -e --arg h "$2" '.hosts[] | select(.host == $h) | .signature == "unverified" and .history[0].verified == false' "$1" >/dev/null
}

# chain HOST: a ref for HOST in central.git signed by git itself with the
# host's report key (ssh-keygen), as the agent would have over 10 days:
# a state change, heartbeats 9.5 and 8.5 days ago, a change 7 days ago,
# heartbeats 6.5 and 5.5 days ago, and a heartbeat now (the tip). The trees and messages are the agent's own first and third reports.
chain() {
	_h=$1 _p= _n=0
	for _c in 0:240 1:228 1:204 0:168 1:156 1:132 1:0; do
		_src=${_c%:*} _hours=${_c#*:}
		git --git-dir=agent.git log -1 --format=%B "hosts/$_h~$((2 - 2 * _src))" >msg &&
		_t=$(git --git-dir=agent.git rev-parse "hosts/$_h~$((2 - 2 * _src))^{tree}") &&
		_d="@$((NOW - _hours * 3600 + _n)) +0000" &&
		_p=$(GIT_AUTHOR_NAME=$_h GIT_AUTHOR_EMAIL=congruent@report \
			GIT_COMMITTER_NAME=$_h GIT_COMMITTER_EMAIL=congruent@report \
			GIT_AUTHOR_DATE=$_d GIT_COMMITTER_DATE=$_d \
			git --git-dir=central.git -c gpg.format=ssh \
			-c user.signingkey="$TRASH/state-$_h/report.key" \
			commit-tree -S "$_t" ${_p:+-p $_p} -F msg) || return 1
		_n=$((_n + 1))
	done &&
	git --git-dir=central.git update-ref "refs/heads/hosts/$_h" "$_p"
}

test_expect_success 'signed reports with heartbeats between state changes' '
	git init -q --bare agent.git &&
	printf "reports:\n  url: %s\n  heartbeat: 0\n" "$TRASH/agent.git" >agent.yaml &&
	for h in web-1 web-2; do
		{ run_as $h || test $? = 2; } && run_as $h && run_as $h &&
		cg key report --state-dir state-$h --hostname $h >>hostkeys || return 1
	done &&
	git --git-dir=agent.git log -1 --format=%s hosts/web-1 >s &&
	grep -q "^heartbeat web-1: congruent" s &&
	NOW=$(date +%s) &&
	git init -q --bare central.git &&
	git --git-dir=central.git fetch -q "$TRASH/agent.git" "refs/heads/*:refs/agent/*" &&
	chain web-1 && chain web-2 &&
	git --git-dir=central.git for-each-ref --format="delete %(refname)" refs/agent/ |
		git --git-dir=central.git update-ref --stdin &&
	test "$(git --git-dir=central.git rev-list --count hosts/web-1)" = 7 &&
	cg fleet --reports central.git --host-keys hostkeys --format json >f0.json &&
	jq -e ".summary.unverified == 0 and ([.hosts[].history[].verified] | all)" f0.json
'

test_expect_success 'compact: kept commits keep their signature in headers git accepts' '
	git clone -q --mirror central.git before.git &&
	cg fleet compact --reports central.git --heartbeat-ttl 9 >out &&
	test_grep "2 hosts, 2 refs rewritten, 2 commits dropped, 12 kept" out &&
	git --git-dir=central.git fsck --strict --no-dangling &&
	git --git-dir=central.git cat-file commit hosts/web-1~1 >c1 &&
	test "$(grep -c "^congruent-original-parent [0-9a-f]\{40\}$" c1)" = 1 &&
	grep -q "^congruent-original-gpgsig -----BEGIN SSH SIGNATURE-----$" c1 &&
	! grep -q "^gpgsig" c1 &&
	# the oldest had nothing dropped below it: as it was
	git --git-dir=central.git cat-file commit hosts/web-1~5 >first &&
	grep -q "^gpgsig" first &&
	! grep -q "^congruent-original" first &&
	git --git-dir=central.git show -s hosts/web-1~1 >/dev/null
'

test_expect_success 'the original rebuilt from the records is the host'"'"'s commit, byte for byte' '
	for n in 0 1 2 3 4; do
		git --git-dir=central.git cat-file commit hosts/web-1~$n >c &&
		{
			sed -n "/^tree /p" c &&
			sed -n "s/^congruent-original-parent /parent /p" c &&
			sed -e "/^tree /d" -e "/^parent /d" -e "/^congruent-original-parent /d" \
				-e "s/^congruent-original-gpgsig /gpgsig /" c
		} >orig &&
		id=$(git --git-dir=before.git hash-object -t commit --stdin <orig) &&
		git --git-dir=before.git merge-base --is-ancestor "$id" hosts/web-1 ||
		return 1
	done
'

test_expect_success 'fleet --host-keys: the compacted history is verified, marked compacted' '
	cg fleet --reports central.git --host-keys hostkeys --format json >fleet.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/fleet.schema.json" fleet.json &&
	jq -e ".summary.unverified == 0" fleet.json &&
	jq -e "[.hosts[] | .signature == \"verified\" and .unverified_older == 0] | all" fleet.json &&
	jq -e "[.hosts[].history[] | .verified] | all" fleet.json &&
	jq -e "[.hosts[].history[] | .compacted] == [true, true, true, true, true, false, true, true, true, true, true, false]" fleet.json &&
	cg fleet --reports central.git --host-keys hostkeys >out &&
	test_grep "0 unverified" out &&
	# From the summary cache (warm) as from git (cold): the same.
	cg fleet --reports central.git --host-keys hostkeys --format json >warm.json &&
	cg fleet --reports central.git --host-keys hostkeys --format json --cache "$TRASH/cold" >cold.json &&
	jq -S "del(.generated)" fleet.json >a && jq -S "del(.generated)" warm.json >b &&
	jq -S "del(.generated)" cold.json >c && test_cmp a b && test_cmp a c
'

test_expect_success 'compacted again (records kept, not nested): still verified' '
	cg fleet compact --reports central.git --heartbeat-ttl 3 >out &&
	test_grep "2 hosts, 2 refs rewritten, 6 commits dropped, 6 kept" out &&
	git --git-dir=central.git fsck --strict --no-dangling &&
	git --git-dir=central.git log --format=%s hosts/web-1~1 >subjects &&
	! grep -q "^heartbeat " subjects &&
	git --git-dir=central.git cat-file commit hosts/web-1~1 >c2 &&
	test "$(grep -c "^congruent-original-gpgsig " c2)" = 1 &&
	test "$(grep -c "^congruent-original-parent " c2)" = 1 &&
	cg fleet --reports central.git --host-keys hostkeys --format json >fleet.json &&
	jq -e ".summary.unverified == 0 and ([.hosts[].history[].verified] | all)" fleet.json &&
	jq -e "[.hosts[].history[] | .compacted] == [true, true, false, true, true, false]" fleet.json
'

# flip_sig: change the fifth-last base64 digit of the signature (the
# last may be only padding bits)
flip_sig() {
	perl -0pe 's/(.)(.{4}=*\n -----END)/($1 eq "A" ? "B" : "A") . $2/e'
}

# forge SED [FILTER]: hosts/web-1 (compacted) edited by sed SED (or
# by the command FILTER when SED is -), as the tip of web-1 in forged.git;
# then fleet --host-keys must call the tip unverified
forge() {
	_t=$(git --git-dir=central.git cat-file commit hosts/web-1 |
		if [ "$1" = - ]; then eval "$2"; else sed "$1"; fi |
		git --git-dir=forged.git hash-object -t commit -w --literally --stdin) &&
	test "$_t" != "$(git --git-dir=central.git rev-parse hosts/web-1)" &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-1 "$_t" &&
	_rc=0 && cg fleet --reports forged.git --host-keys hostkeys --format json >f.json || _rc=$? &&
	_why=$(jq -r ".hosts[] | select(.host == \"web-1\") | .signature_error" f.json) &&
	echo "$* => $_rc $_why" >>forgeries &&
	test "$_rc" = 4 &&
	jq -e ".summary.unverified == 1 and (.hosts[] | select(.host == \"web-1\") | .signature == \"unverified\" and .history[0].verified == false)" f.json >/dev/null
}

test_expect_success 'a compacted commit edited anywhere is unverified' '
	git clone -q --mirror central.git forged.git &&
	# unedited: verified
	cg fleet --reports forged.git --host-keys hostkeys --format json >f.json &&
	jq -e ".summary.unverified == 0 and .hosts[0].history[0].compacted" f.json &&
	tree2=$(git --git-dir=central.git rev-parse "hosts/web-2^{tree}") &&
	other=$(git --git-dir=before.git rev-parse hosts/web-1~3) &&
	forge "s/^tree .*/tree $tree2/" &&
	forge "1,/^\$/!s/congruent/drifted/" &&
	forge "s/^\(congruent-original-parent \).*/\1$other/" &&
	forge "/^congruent-original-parent /d" &&
	forge "/^congruent-original-parent /p" &&
	# one base64 digit of the signature itself, and another of its own
	# valid signatures (of another commit)
	forge - flip_sig &&
	git --git-dir=central.git cat-file commit hosts/web-1~1 |
		sed -n "/^congruent-original-gpgsig /,/^ -----END/p" >sig-other &&
	test -s sig-other &&
	forge "/^congruent-original-gpgsig /,/^ -----END/{/^ -----END/r sig-other
d}" &&
	forge "s/^congruent-original-gpgsig /gpgsig /" &&
	forge "s/^\(author web-1 <congruent@report> [0-9]*\)/\11/" &&
	cat forgeries &&
	test_grep "bad-signature: compacted commit: " forgeries
'

test_expect_success 'a commit posing as compacted: unsigned, malformed, or another key'"'"'s' '
	forge "/^congruent-original-gpgsig /,/^ -----END/d" &&
	test_grep "=> 4 unsigned" forgeries &&
	forge "s/^congruent-original-parent .*/congruent-original-parent not-an-id/" &&
	tail -1 forgeries | grep -q "=> 4 malformed" &&
	forge "/^congruent-original-gpgsig /i\\gpgsig x" &&
	tail -1 forgeries | grep -q "=> 4 malformed" &&
	# signed by a key that is not web-1s, then compacted as the server would
	ssh-keygen -q -t ed25519 -N "" -f mallory &&
	t=$(git --git-dir=central.git rev-parse "hosts/web-1^{tree}") &&
	m=$(GIT_AUTHOR_NAME=web-1 GIT_AUTHOR_EMAIL=congruent@report \
		GIT_COMMITTER_NAME=web-1 GIT_COMMITTER_EMAIL=congruent@report \
		git --git-dir=forged.git -c gpg.format=ssh -c user.signingkey="$TRASH/mallory" \
		commit-tree -S "$t" -p "$(git --git-dir=before.git rev-parse hosts/web-1~2)" -m "web-1: congruent") &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-1 "$m" &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-1-base "$(git --git-dir=before.git rev-parse hosts/web-1~2)" &&
	git --git-dir=forged.git cat-file commit "$m" | sed -e "/^parent /d" \
		-e "s/^gpgsig /congruent-original-gpgsig /" \
		-e "/^congruent-original-gpgsig /i\\congruent-original-parent $(git --git-dir=before.git rev-parse hosts/web-1~2)" >mal &&
	x=$(git --git-dir=forged.git hash-object -t commit -w --stdin <mal) &&
	git --git-dir=forged.git update-ref -d refs/heads/hosts/web-1-base &&
	git --git-dir=forged.git update-ref refs/heads/hosts/web-1 "$x" &&
	rc=0 && cg fleet --reports forged.git --host-keys hostkeys --format json >f.json || rc=$? &&
	test "$rc" = 4 &&
	jq -e ".hosts[] | select(.host == \"web-1\") | .signature == \"unverified\" and (.signature_error | test(\"^unknown-key\"))" f.json
'

test_done
