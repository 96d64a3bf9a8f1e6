#!/bin/bash
# t7200-fleet-states: fleet over reports in every state (congruent,
# drifted, repaired, failed, refused, stale source, stale): the reasons in
# text, JSON and HTML, the commit subjects, the exit status, Prometheus,
# and fleet forget.
. "$(dirname "$0")/../lib/lib.sh"

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n  - directory: /srv/www\n' \
	>pol/roles/base.yaml
git init -q --bare central.git
printf 'reports:\n  url: %s\n  heartbeat: 3600\n' "$TRASH/central.git" >local.yaml

# host NAME [run options]: a run of the local policy as host NAME.
host() {
	_h=$1
	shift
	[ -d "root-$_h" ] || test_make_root "root-$_h"
	cg run -c local.yaml --policy pol --root "root-$_h" --state-dir "state-$_h" \
		--hostname "$_h" "$@"
}

# The signed policy source for the host "sig-1".
ssh-keygen -q -t ed25519 -N "" -C ops -f ops.key
ssh-keygen -q -t ed25519 -N "" -C evil -f evil.key
echo "ops@example.com namespaces=\"git\" $(cat ops.key.pub)" >allowed_signers
git init -q -b main work
mkdir -p work/roles
cp pol/site.yaml work/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "v1\\n"\n' >work/roles/base.yaml
git -C work add -A
git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" commit -q -S -m v1
git clone -q --bare work origin.git

# commit MOTD KEY|-: a policy commit signed by KEY (- : unsigned), pushed.
commit() {
	printf 'resources:\n  - file: /etc/motd\n    content: "%s\\n"\n' "$1" \
		>work/roles/base.yaml &&
	if [ "$2" = - ]; then
		git -C work commit -q -a -m "$1" --no-gpg-sign
	else
		git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/$2" \
			commit -q -a -S -m "$1"
	fi &&
	git -C work push -q -f ../origin.git main
}

sconfig() { # FILE SOURCE-URL: the signed source, reports to central.git
	printf 'source:\n  url: %s\n  branch: main\n  timeout: 10\n  require_signed: true\n  allowed_signers: %s\nreports:\n  url: %s\n  heartbeat: 3600\n' \
		"$2" "$TRASH/allowed_signers" "$TRASH/central.git" >"$1"
}
sconfig signed.yaml "$TRASH/origin.git"

srun() { # CONFIG HOST
	[ -d "root-$2" ] || test_make_root "root-$2"
	cg run -c "$1" --root "root-$2" --state-dir "state-$2" --hostname "$2"
}

subject() { # HOST
	git --git-dir=central.git log -1 --format=%s "refs/heads/hosts/$1"
}

test_expect_success 'congruent, repaired and failed hosts; subjects match exit status' '
	test_expect_code 2 host ok-1 &&
	test_expect_code 0 host ok-1 &&
	test_expect_code 2 host rep-1 &&
	echo tampered >root-rep-1/etc/motd &&
	test_expect_code 2 host rep-1 &&
	test_make_root root-fail-1 && mkdir -p root-fail-1/srv && echo file >root-fail-1/srv/www &&
	test_expect_code 6 host fail-1 &&
	subject ok-1 | grep "^ok-1: congruent (2 ok, 0 repaired, 0 failed, 0 skipped)$" &&
	subject rep-1 | grep "^rep-1: repaired" &&
	subject fail-1 | grep "^fail-1: failed (0 ok, 1 repaired, 1 failed"
'

test_expect_success 'refused: unsigned, then an unknown signer, each reported' '
	test_expect_code 2 srun signed.yaml sig-1 &&
	subject sig-1 | grep "^sig-1: rolled out" &&
	commit v2 - &&
	test_expect_code 4 srun signed.yaml sig-1 &&
	subject sig-1 | grep "^sig-1: refused (1 ok, 0 repaired, 0 failed" &&
	unsigned=$(git -C work rev-parse HEAD) &&
	commit v3 evil.key &&
	test_expect_code 4 srun signed.yaml sig-1 &&
	unknown=$(git -C work rev-parse HEAD) &&
	test "$(git --git-dir=central.git rev-list --count hosts/sig-1)" = 3 &&
	git --git-dir=central.git show hosts/sig-1:report.json >r.json &&
	jq -e ".source.refused_commit == \"$unknown\" and .source.refusal == \"unknown signer\"" r.json &&
	git --git-dir=central.git show hosts/sig-1~1:report.json >r.json &&
	jq -e ".source.refused_commit == \"$unsigned\" and .source.refusal == \"unsigned\"" r.json &&
	# The same refusal again is no news: no commit.
	test_expect_code 4 srun signed.yaml sig-1 &&
	test "$(git --git-dir=central.git rev-list --count hosts/sig-1)" = 3 &&
	echo "$unsigned" >unsigned && echo "$unknown" >unknown
'

test_expect_success 'refused: a policy that fails check, and a rollback' '
	git -C work reset -q --hard HEAD~2 &&
	git -C work push -q -f ../origin.git main &&
	test_expect_code 2 srun signed.yaml rb-1 &&
	commit v4 ops.key &&
	test_expect_code 2 srun signed.yaml rb-1 &&
	printf "resources:\n  - file: relative/path\n" >work/roles/base.yaml &&
	git -C work -c gpg.format=ssh -c user.signingkey="$TRASH/ops.key" commit -q -a -S -m broken &&
	git -C work push -q -f ../origin.git main &&
	test_expect_code 4 srun signed.yaml rb-1 &&
	git --git-dir=central.git show hosts/rb-1:report.json >r.json &&
	jq -e ".source.refusal == \"check failed\" and (.source.reason | test(\"fails check\"))" r.json &&
	git -C work reset -q --hard HEAD~2 &&
	git -C work push -q -f ../origin.git main &&
	test_expect_code 4 srun signed.yaml rb-1 &&
	git --git-dir=central.git show hosts/rb-1:report.json >r.json &&
	jq -e ".source.refusal == \"rollback\" and .source.hint == \"if that is intended, run once with --allow-rollback\"" r.json &&
	subject rb-1 | grep "^rb-1: refused"
'

test_expect_success 'stale source: the policy cannot be fetched' '
	sconfig gone.yaml "$TRASH/moved.git" &&
	cp -r state-sig-1 state-src-1 && cp -r root-sig-1 root-src-1 &&
	rm -rf state-src-1/reports &&
	test_expect_code 0 srun gone.yaml src-1 &&
	subject src-1 | grep "^src-1: stale source (1 ok"
'

test_expect_success 'drifted (a plan report) and stale (no report for long)' '
	git --git-dir=central.git show hosts/rep-1:report.json >r.json &&
	jq ".command = \"plan\" | .exit_status = 2 | .summary.repaired = 0 | .summary.drifted = 1 |
		.resources[0].status = \"drifted\"" r.json >d.json &&
	G="git --git-dir=central.git" &&
	tree=$(printf "100644 blob %s\treport.json\n" "$($G hash-object -w d.json)" | $G mktree) &&
	$G update-ref refs/heads/hosts/drift-1 "$($G commit-tree "$tree" -m "drift-1: drifted")" &&
	old=$(($(date +%s) - 7200)) &&
	GIT_COMMITTER_DATE="@$old +0000" $G commit-tree "$($G rev-parse hosts/ok-1^{tree})" \
		-m "old-1: congruent" >oid &&
	$G update-ref refs/heads/hosts/old-1 "$(cat oid)"
'

test_expect_success 'fleet text: every state, with the reasons' '
	test_expect_code 4 cg fleet --reports central.git --stale 1 >fleet.txt &&
	cat fleet.txt &&
	grep -E "^ok-1 +congruent " fleet.txt &&
	grep -E "^drift-1 +drifted " fleet.txt &&
	grep -E "^rep-1 +repaired " fleet.txt &&
	grep -E "^fail-1 +failed " fleet.txt &&
	grep -E "^sig-1 +refused " fleet.txt &&
	grep -E "^rb-1 +refused " fleet.txt &&
	grep -E "^src-1 +stale source " fleet.txt &&
	grep -E "^old-1 +stale " fleet.txt &&
	test_grep "      error: /srv/www is not a directory where the policy wants one" fleet.txt &&
	test_grep "      hint: move it away by hand" fleet.txt &&
	test_grep "    refused commit $(cut -c1-12 unknown) (unknown signer): signature: signed by an unknown key" fleet.txt &&
	test_grep "    earlier, refused commit $(cut -c1-12 unsigned) (unsigned) at " fleet.txt &&
	test_grep "(rollback): it does not descend from the last applied commit" fleet.txt &&
	grep -E "^    stale source: last fetched 20[0-9-]+T[0-9:]+Z: no repository there$" fleet.txt &&
	test_grep "8 hosts: 1 congruent, 0 rolled out, 1 drifted, 1 repaired, 1 failed, 2 refused, 1 stale source, 1 stale" fleet.txt
'

test_expect_success 'fleet JSON: every state, with the reasons' '
	test_expect_code 4 cg fleet --reports central.git --stale 1 --format json >fleet.json &&
	jq -e ".summary | .congruent == 1 and .drifted == 1 and .repaired == 1 and .failed == 1 and
		.refused == 2 and .stale_source == 1 and .stale == 1" fleet.json &&
	jq -e ".hosts[] | select(.host == \"fail-1\") | .resources[] | select(.id == \"directory:/srv/www\") |
		.status == \"failed\" and (.message | test(\"is not a directory\")) and (.hint | test(\"move it away\"))" fleet.json &&
	jq -e ".hosts[] | select(.host == \"sig-1\") | .state == \"refused\" and
		.refused.commit == \"$(cat unknown)\" and .refused.refusal == \"unknown signer\" and
		.refused.earlier == [{commit: \"$(cat unsigned)\", refusal: \"unsigned\", time: .history[1].time}]" fleet.json &&
	jq -e ".hosts[] | select(.host == \"sig-1\") | [.history[].refused_commit] ==
		[\"$(cat unknown)\", \"$(cat unsigned)\", null]" fleet.json &&
	jq -e ".hosts[] | select(.host == \"rb-1\") | .refused.refusal == \"rollback\" and .refused.earlier[0].refusal == \"check failed\"" fleet.json &&
	jq -e ".hosts[] | select(.host == \"src-1\") | .state == \"stale_source\" and
		(.stale_source.last_fetched | test(\"^20\")) and (.stale_source.reason | length > 0)" fleet.json &&
	jq -e ".hosts[] | select(.host == \"old-1\") | .state == \"stale\" and .last_state == \"congruent\"" fleet.json &&
	jq -e ".hosts[] | select(.host == \"drift-1\") | .state == \"drifted\"" fleet.json
'

test_expect_success 'fleet HTML: the states and the reasons, escaped' '
	test_expect_code 4 cg fleet --reports central.git --stale 1 --format html >fleet.html &&
	test_grep "<td class=\"state stale_source\">stale source</td>" fleet.html &&
	test_grep "<td class=\"state refused\">refused</td>" fleet.html &&
	test_grep "id=\"count-refused\">2 refused</span>" fleet.html &&
	test_grep "id=\"count-stale_source\">1 stale source</span>" fleet.html &&
	test_grep "<code>directory:/srv/www</code>: /srv/www is not a directory where the policy wants one <span class=\"hint\">hint: move it away" fleet.html &&
	test_grep "refused commit <code>$(cut -c1-12 unknown)</code> (unknown signer)" fleet.html &&
	test_grep "earlier, refused commit <code>$(cut -c1-12 unsigned)</code> (unsigned)" fleet.html &&
	test_grep "<p class=\"stale-source\">stale source: last fetched 20" fleet.html
'

test_expect_success 'fleet exit status: 0 all congruent, 2 drift or repairs, 4 worse' '
	test_expect_code 0 cg fleet --reports central.git --prefix hosts/ok- &&
	test_expect_code 2 cg fleet --reports central.git --prefix hosts/rep- &&
	test_expect_code 2 cg fleet --reports central.git --prefix hosts/drift- &&
	test_expect_code 4 cg fleet --reports central.git --prefix hosts/fail- &&
	test_expect_code 4 cg fleet --reports central.git --prefix hosts/sig- &&
	test_expect_code 4 cg fleet --reports central.git --prefix hosts/src- &&
	test_expect_code 4 cg fleet --reports central.git --prefix hosts/old- --stale 1 &&
	test_expect_code 0 cg fleet --reports central.git --prefix hosts/old- --stale 3
'

test_expect_success 'fleet --format prometheus: counts per state and per-host gauges' '
	test_expect_code 4 cg fleet --reports central.git --stale 1 --format prometheus >fleet.prom &&
	cat fleet.prom &&
	test_grep "congruent_fleet_hosts{state=\"congruent\"} 1" fleet.prom &&
	test_grep "congruent_fleet_hosts{state=\"refused\"} 2" fleet.prom &&
	test_grep "congruent_fleet_hosts{state=\"stale_source\"} 1" fleet.prom &&
	test_grep "congruent_fleet_hosts{state=\"stale\"} 1" fleet.prom &&
	test_grep "congruent_host_state{host=\"fail-1\",state=\"failed\"} 1" fleet.prom &&
	test_grep "congruent_host_resources{host=\"fail-1\",status=\"failed\"} 1" fleet.prom &&
	test_grep "congruent_host_exit_status{host=\"sig-1\"} 4" fleet.prom &&
	grep -E "^congruent_host_last_report_timestamp_seconds\{host=\"old-1\"\} [0-9]+$" fleet.prom &&
	# Every line a comment (HELP, TYPE) or NAME{LABELS} VALUE; each
	# metric has its TYPE before its samples.
	{ grep -vE "^# (HELP|TYPE) [a-z_]+ .+$" fleet.prom |
		grep -vE "^[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9]+$" >bad || true; } &&
	test ! -s bad &&
	awk "/^# TYPE/ { t[\$3] = 1 } /^[a-z]/ { n = \$1; sub(/\{.*/, \"\", n); if (!t[n]) exit 1 }" fleet.prom
'

test_expect_success 'fleet forget HOST: the ref is deleted; an unknown host is an error' '
	test_expect_code 0 cg fleet forget old-1 --reports central.git >out &&
	test_grep "forgot old-1 (deleted refs/heads/hosts/old-1 in central.git)" out &&
	test_must_fail() { ! "$@"; } &&
	test_must_fail git --git-dir=central.git rev-parse -q --verify refs/heads/hosts/old-1 &&
	test_expect_code 4 cg fleet --reports central.git --stale 1 >fleet.txt &&
	test_grep_not "old-1" fleet.txt &&
	test_expect_code 1 cg fleet --reports central.git forget old-1 2>err &&
	test_grep "no host '"'"'old-1'"'"' in central.git" err &&
	test_expect_code 1 cg fleet forget 2>err &&
	test_grep "forget needs a host name" err &&
	test_expect_code 1 cg fleet forget "../x" --reports central.git 2>err &&
	test_grep "is not a valid branch name" err
'

# plan reports are delivered too: the two plans are in the history.
test_expect_success 'rollout and drift repaired told apart; plan says which, as run does' '
	git init -q --bare roll.git &&
	printf "source:\n  url: %s\n  branch: main\nreports:\n  url: %s\n" \
		"$TRASH/origin.git" "$TRASH/roll.git" >roll.yaml &&
	test_make_root root-roll-1 &&
	rr() { cg "$1" -c roll.yaml --root root-roll-1 --state-dir state-roll-1 \
		--hostname roll-1 --format json; } &&
	test_expect_code 2 rr plan >plan.json 2>err &&
	jq -e ".change == \"rollout\"" plan.json &&
	# No run has made the report key yet: this plan cannot sign, so it
	# does not report.
	test_grep "report is not pushed" err &&
	test_expect_code 2 rr run >run.json &&
	jq -e ".change == \"rollout\"" run.json &&
	git --git-dir=roll.git log -1 --format=%s hosts/roll-1 | grep "^roll-1: rolled out (0 ok, 1 repaired" &&
	test_expect_code 0 rr run >run.json &&
	jq -e "has(\"change\") | not" run.json &&
	echo tampered >root-roll-1/etc/motd &&
	test_expect_code 2 rr plan >plan.json &&
	jq -e ".change == \"drift\"" plan.json &&
	test_expect_code 2 rr run >run.json &&
	jq -e ".change == \"drift\"" run.json &&
	git --git-dir=roll.git log -1 --format=%s hosts/roll-1 | grep "^roll-1: repaired (0 ok, 1 repaired" &&
	test_expect_code 2 cg fleet --reports roll.git --format json >fleet.json &&
	jq -e ".summary.repaired == 1 and .summary.rolled_out == 0 and .hosts[0].change == \"drift\"" fleet.json &&
	jq -e "[.hosts[0].history[].state] == [\"repaired\", \"drifted\", \"congruent\", \"rolled_out\"]" fleet.json &&
	commit v9 ops.key &&
	test_expect_code 2 rr plan >plan.json &&
	jq -e ".change == \"rollout\"" plan.json &&
	test_expect_code 2 rr run >run.json &&
	jq -e ".change == \"rollout\"" run.json &&
	test_expect_code 2 cg fleet --reports roll.git >fleet.txt &&
	grep -E "^roll-1 +rolled out " fleet.txt &&
	test_grep "1 host: 0 congruent, 1 rolled out, 0 drifted, 0 repaired" fleet.txt &&
	test_expect_code 2 cg fleet --reports roll.git --format prometheus >fleet.prom &&
	test_grep "congruent_fleet_hosts{state=\"rolled_out\"} 1" fleet.prom
'

test_done
