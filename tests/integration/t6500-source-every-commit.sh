#!/bin/bash
# t6500-source-every-commit: verify: every_commit refuses a new tip when any
# commit between the last applied one and it (merges included) is unsigned
# or signed by an unknown key; the default (tip only) lets the tip's signer
# vouch for its tree; rollbacks stay refused; the walk is bounded; the first
# run checks the whole history up to verify_from.
. "$(dirname "$0")/../lib/lib.sh"

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

ssh-keygen -q -t ed25519 -N "" -C ops -f ops.key
ssh-keygen -q -t ed25519 -N "" -C evil -f evil.key
echo "ops@example.com namespaces=\"git\" $(cat ops.key.pub)" >allowed_signers
git init -q --bare central.git

set_motd() {
	printf 'resources:\n  - file: /etc/motd\n    content: "%s\\n"\n' "$1" \
		>work/roles/base.yaml
}

# commit MOTD KEY|-: a policy commit signed by KEY (- : unsigned).
commit() {
	set_motd "$1" &&
	if [ "$2" = - ]; then
		git -C work commit -q -a -m "$1" --no-gpg-sign
	else
		git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/$2" \
			commit -q -a -S -m "$1"
	fi
}
push() { git -C work push -q -f ../origin.git "${1:-main}"; }

setup_repo() {
	rm -rf work origin.git &&
	git init -q -b main work &&
	mkdir -p work/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >work/site.yaml &&
	set_motd v1 && git -C work add -A &&
	git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" \
		commit -q -S -m v1 &&
	git clone -q --bare work origin.git
}

config() { # FILE [more source lines]
	_f=$1
	shift
	{
		printf 'source:\n  url: %s\n  branch: main\n  timeout: 20\n' \
			"$TRASH/origin.git"
		printf '  require_signed: true\n  allowed_signers: %s\n' \
			"$TRASH/allowed_signers"
		for l in "$@"; do printf '  %s\n' "$l"; done
		printf 'reports:\n  url: %s\n  heartbeat: 3600\n' "$TRASH/central.git"
	} >"$_f"
}
config tip.yaml
config every.yaml "verify: every_commit"

run() { # CONFIG NAME [options]: plan or run as host NAME
	_c=$1 _n=$2
	shift 2
	[ -d "root-$_n" ] || test_make_root "root-$_n"
	cg "${CMD:-run}" -c "$_c" --root "root-$_n" --state-dir "state-$_n" \
		--hostname "$_n" "$@"
}

# plan predicts run: per resource, "changes" for drifted (plan) and
# repaired (run); and the same source decision.
outcomes() {
	jq -r '(.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end)] | @tsv),
		"source \(.source.refused_commit // "-") \(.source.refusal // "-")"' "$1"
}

test_expect_success 'config: verify takes tip or every_commit, and needs require_signed' '
	printf "source:\n  url: /x\n  verify: all\n" >bad.yaml &&
	test_expect_code 1 cg plan -c bad.yaml --root . >out 2>err &&
	test_grep "bad.yaml:3" err &&
	test_grep "every_commit" err &&
	printf "source:\n  url: /x\n  verify: every_commit\n" >bad.yaml &&
	test_expect_code 1 cg plan -c bad.yaml --root . >out 2>err &&
	test_grep "needs require_signed" err
'

test_expect_success 'both hosts apply the signed v1' '
	setup_repo &&
	test_expect_code 2 run tip.yaml tip &&
	test_expect_code 2 run every.yaml every &&
	test "$(cat root-tip/etc/motd)" = v1 && test "$(cat root-every/etc/motd)" = v1
'

test_expect_success 'a commit by an unknown signer is refused by both' '
	commit v2 evil.key && push &&
	evil=$(git -C work rev-parse HEAD) && echo "$evil" >evil &&
	test_expect_code 4 run tip.yaml tip 2>err &&
	test_expect_code 4 run every.yaml every 2>err &&
	test "$(cat root-tip/etc/motd)" = v1 && test "$(cat root-every/etc/motd)" = v1
'

test_expect_success 'a trusted commit on top: tip only takes it (documented); every_commit refuses, naming the evil commit' '
	commit v3 ops.key && push &&
	tip=$(git -C work rev-parse HEAD) &&
	CMD=plan test_expect_code 2 run tip.yaml tip --format json >plan.json &&
	test_expect_code 2 run tip.yaml tip --format json >run.json &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out && test_grep "file:/etc/motd	changes" run.out &&
	test "$(cat root-tip/etc/motd)" = v3 &&
	CMD=plan test_expect_code 4 run every.yaml every --format json >plan.json 2>plan.err &&
	test_expect_code 4 run every.yaml every --format json >out.json 2>err &&
	outcomes plan.json >plan.out && outcomes out.json >run.out &&
	test_cmp plan.out run.out &&
	test "$(cat root-every/etc/motd)" = v1 &&
	test_grep "commit $(cut -c1-12 evil), under the tip ${tip:0:12} (verify: every_commit)" err &&
	test_grep "signed by an unknown key" err &&
	jq -e ".source.refused_commit == \"$(cat evil)\" and .source.refusal == \"unknown signer\"" out.json &&
	test_grep "commit $(cut -c1-12 evil), under the tip" plan.err
'

test_expect_success 'fleet shows the every_commit host refused, with the evil commit' '
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json &&
	jq -e ".hosts[] | select(.host == \"every\") | .state == \"refused\" and .history[0].refused_commit == \"$(cat evil)\"" fleet.json &&
	jq -e ".hosts[] | select(.host == \"every\") | .refused.commit == \"$(cat evil)\" and .refused.refusal == \"unknown signer\"" fleet.json &&
	jq -e ".hosts[] | select(.host == \"tip\") | .state != \"refused\"" fleet.json &&
	test_expect_code 4 cg fleet --reports central.git >fleet.txt &&
	test_grep "refused commit $(cut -c1-12 evil) (unknown signer): commit $(cut -c1-12 evil), under the tip" fleet.txt
'

test_expect_success 'an unsigned commit merged in by a signed merge is refused' '
	setup_repo &&
	rm -rf state-every root-every && test_expect_code 2 run every.yaml every &&
	git -C work checkout -q -b side &&
	printf "x\n" >work/side.txt && git -C work add side.txt &&
	git -C work commit -q -m side --no-gpg-sign &&
	side=$(git -C work rev-parse HEAD) &&
	git -C work checkout -q main && commit v4 ops.key &&
	git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" \
		merge -q -S --no-edit side &&
	push &&
	test_expect_code 4 run every.yaml every --format json >out.json 2>err &&
	jq -e ".source.refused_commit == \"$side\" and .source.refusal == \"unsigned\"" out.json &&
	test "$(cat root-every/etc/motd)" = v1
'

test_expect_success 'a signed range is accepted, merges included' '
	git -C work reset -q --hard HEAD~1 && git -C work branch -q -D side &&
	git -C work checkout -q -b side2 &&
	printf "y\n" >work/side.txt && git -C work add side.txt &&
	git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" \
		commit -q -S -m side2 &&
	git -C work checkout -q main &&
	git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" \
		merge -q -S --no-edit side2 &&
	push &&
	CMD=plan test_expect_code 2 run every.yaml every >plan.out &&
	test_expect_code 2 run every.yaml every &&
	test "$(cat root-every/etc/motd)" = v4
'

test_expect_success 'a rollback to an older signed commit is still refused' '
	git -C work reset -q --hard HEAD~2 && push &&
	test_expect_code 4 run every.yaml every --format json >out.json 2>err &&
	jq -e ".source.refusal == \"rollback\"" out.json &&
	test "$(cat root-every/etc/motd)" = v4
'

test_expect_success 'first run: the whole history is verified, up to verify_from' '
	rm -rf work origin.git &&
	git init -q -b main work && mkdir -p work/roles &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >work/site.yaml &&
	set_motd v0 && git -C work add -A && git -C work commit -q -m v0 &&
	commit v1 ops.key && root=$(git -C work rev-parse HEAD) &&
	commit v2 ops.key &&
	git clone -q --bare work origin.git &&
	test_expect_code 1 run every.yaml first --format json >out.json 2>err &&
	test_grep "not signed" err && test_grep "verify_from" err &&
	test_grep "commit $(git -C work rev-parse --short=12 HEAD~2)" err &&
	test_expect_code 2 run tip.yaml first-tip &&
	config from.yaml "verify: every_commit" "verify_from: $root" &&
	test_expect_code 2 run from.yaml first &&
	test "$(cat root-first/etc/motd)" = v2
'

test_expect_success 'a verify_from that is not in the history is a clear refusal' '
	config nofrom.yaml "verify: every_commit" "verify_from: 0123456789012345678901234567890123456789" &&
	test_expect_code 1 run nofrom.yaml nofrom 2>err &&
	test_grep "verify_from 0123456789012345678901234567890123456789 is not a commit" err
'

test_expect_success 'a huge range gives a clear error at once, not an hour' '
	last=$(git -C work rev-parse HEAD) &&
	{
		i=0
		while [ $i -lt 10001 ]; do
			i=$((i + 1))
			printf "commit refs/heads/main\ncommitter ops <ops@example.com> %d +0000\ndata 2\nc\n" $((1700000000 + i))
			[ $i = 1 ] && printf "from %s\n" "$last"
			printf "\n"
		done
	} | git -C work fast-import --quiet &&
	git -C work reset -q --hard main &&
	commit v9 ops.key && push &&
	start=$(date +%s) &&
	test_expect_code 4 run from.yaml first 2>err &&
	test $(($(date +%s) - start)) -lt 60 &&
	test_grep "more than 10000 new commits to verify" err &&
	test "$(cat root-first/etc/motd)" = v2
'

test_done
