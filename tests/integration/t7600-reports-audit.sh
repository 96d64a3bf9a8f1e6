#!/bin/bash
# t7600-reports-audit: plan's reports are delivered (from a scratch
# repository, not STATE's queue) to a local reports repository and over
# git://; audit: true never changes a resource but reports its drift
# ('*'), plan and run agreeing; site.yaml mode: audit on a class makes run
# plan-only; fleet tells drifted, repaired and rolled out apart and shows
# what changed (old and new values, hashes for content, (secret) for
# secrets) in text, JSON and HTML.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
# plan's scratch repository goes here: the test sees it is removed.
mkdir -p tmp && export TMPDIR="$TRASH/tmp"

PLAIN=Tr0ub4dor-aud1t-42

mkdir -p pol/roles
cat >pol/site.yaml <<\EOF
classes:
  - match: "audit-*"
    roles: [base]
    mode: audit
  - match: "*"
    roles: [base]
EOF
cat >pol/roles/base.yaml <<\EOF
resources:
  - file: /etc/motd
    content: "managed\n"
    mode: "0644"
  - file: /etc/issue
    content: "audited\n"
    audit: true
EOF
git init -q --bare central.git
# The hosts sign with a key of their own: plan never makes one (a run
# makes STATE/report.key on its first push), so without it a first plan
# could not report; the last test shows that case.
ssh-keygen -q -t ed25519 -N "" -C host -f host.key
printf 'reports:\n  url: %s\n  timeout: 20\n  heartbeat: 3600\n  signing_key: %s\n' \
	"$TRASH/central.git" "$TRASH/host.key" >local.yaml

host() { # CMD NAME [options]
	_c=$1 _h=$2
	shift 2
	[ -d "root-$_h" ] || test_make_root "root-$_h"
	cg "$_c" -c "${CONF:-local.yaml}" --policy pol --root "root-$_h" \
		--state-dir "state-$_h" --hostname "$_h" "$@"
}

subjects() { # HOST: the subjects of its report commits, newest first
	git --git-dir="${REPO:-central.git}" log --format=%s "refs/heads/hosts/$1"
}

fleet_json() { # the fleet as JSON into fleet.json, valid by its schema
	{ cg fleet --reports "${REPO:-central.git}" --format json >fleet.json || :; } &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/fleet.schema.json" fleet.json
}

test_must_fail() { ! "$@"; }

sha() { printf "sha256:%s" "$(sha256sum <"$1" | cut -d" " -f1)"; }

test_expect_success 'plan on a drifted host pushes its report, marked plan, and writes nothing' '
	test_make_root root-p1 &&
	echo "hand edit" >root-p1/etc/motd && chmod 600 root-p1/etc/motd &&
	echo "by hand" >root-p1/etc/issue &&
	test_expect_code 2 host plan p1 --no-report >/dev/null &&
	test_must_fail git --git-dir=central.git rev-parse -q --verify refs/heads/hosts/p1 &&
	test_expect_code 2 host plan p1 >plan.txt 2>plan.err &&
	test_grep_not "cannot push" plan.err &&
	test ! -e state-p1 &&
	! ls tmp | grep congruent-plan &&
	subjects p1 >subj && test "$(wc -l <subj)" = 1 &&
	test_grep "plan p1: drifted (0 ok, 0 repaired, 0 failed, 0 skipped, 2 drifted)" subj &&
	echo "hand edit" >want && test_cmp want root-p1/etc/motd &&
	test_expect_code 2 cg fleet --reports central.git >fleet.txt &&
	grep -E "^p1 +drifted " fleet.txt &&
	test_grep "last report: plan (nothing was changed)" fleet.txt &&
	test_grep "1 host: 0 congruent, 0 rolled out, 1 drifted, 0 repaired" fleet.txt &&
	fleet_json &&
	jq -e ".hosts[0] | .state == \"drifted\" and .last_command == \"plan\" and .mode == \"enforce\"" fleet.json
'

test_expect_success 'fleet shows what changed: each field, its old and new value, hashes for content' '
	from=$(sha root-p1/etc/motd) && printf "managed\n" >m && to=$(sha m) &&
	test_grep "    file:/etc/motd  drifted since" fleet.txt &&
	grep -F "      content sha256:$(echo ${from#sha256:} | cut -c1-12) -> sha256:$(echo ${to#sha256:} | cut -c1-12)" fleet.txt &&
	grep -F "      mode 0600 -> 0644" fleet.txt &&
	jq -e --arg f "$from" --arg t "$to" ".hosts[0].resources[] | select(.id == \"file:/etc/motd\") | .changes | any(.field == \"content\" and .from == \$f and .to == \$t) and any(.field == \"mode\" and .from == \"0600\" and .to == \"0644\")" fleet.json &&
	cg fleet --reports central.git --format html >fleet.html || : &&
	grep -F "mode <code>0600</code> &rarr; <code>0644</code>" fleet.html &&
	grep -F "<code>$from</code>" fleet.html &&
	test_grep "last report: plan (nothing was changed)" fleet.html
'

test_expect_success 'audit: true: plan and run both report the drift (*), run repairs only the rest' '
	test_expect_code 2 host plan p1 --format json >plan.json &&
	test_expect_code 2 host run p1 --format json >run.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/run.schema.json" run.json &&
	jq -r ".resources[] | [.id, .status, (.audit // false)] | @tsv" plan.json >plan.out &&
	jq -r ".resources[] | [.id, .status, (.audit // false)] | @tsv" run.json >run.out &&
	printf "file:/etc/motd\tdrifted\tfalse\nfile:/etc/issue\tdrifted\ttrue\n" >want &&
	test_cmp want plan.out &&
	printf "file:/etc/motd\trepaired\tfalse\nfile:/etc/issue\tdrifted\ttrue\n" >want &&
	test_cmp want run.out &&
	echo "by hand" >want && test_cmp want root-p1/etc/issue &&
	echo managed >want && test_cmp want root-p1/etc/motd &&
	test_expect_code 2 host run p1 >run.txt &&
	test_grep "* file:/etc/issue" run.txt &&
	test_grep "1 drifted (audit: not changed)" run.txt &&
	test_expect_code 2 host plan p1 >plan.txt &&
	grep -E "^ +[0-9]+ \* file:/etc/issue" plan.txt &&
	test_grep "plan: 0 to change, 1 drifted (audit: not changed)" plan.txt
'

test_expect_success 'fleet: the audited resource is drifted, not repaired; the state is drifted' '
	subjects p1 >subj &&
	test_grep "p1: rolled out (0 ok, 1 repaired, 0 failed, 0 skipped, 1 drifted)" subj &&
	test_expect_code 2 cg fleet --reports central.git >fleet.txt &&
	grep -E "^p1 +drifted " fleet.txt &&
	test_grep "    file:/etc/issue  drifted (audit: not changed) since" fleet.txt &&
	test_grep_not "file:/etc/motd  " fleet.txt &&
	fleet_json &&
	jq -e ".hosts[0].resources[] | select(.id == \"file:/etc/issue\") | .audit == true and .status == \"drifted\"" fleet.json
'

test_expect_success 'a run after a plan reports, even when it finds what the run before plan found' '
	# Repairs are always news; a run that only finds audited drift is
	# not, and after a plan it must still report, or the fleet would
	# keep the plan report as the last word of the host.
	test_make_root root-p2 &&
	{ host run p2 >/dev/null || :; } && echo x >root-p2/etc/issue &&
	test_expect_code 2 host run p2 >/dev/null &&
	test_expect_code 2 host run p2 >/dev/null &&
	subjects p2 >before && test "$(wc -l <before)" = 2 &&
	cp -a state-p2 state-before &&
	test_expect_code 2 host plan p2 >/dev/null &&
	test_grep "plan p2: drifted" <(subjects p2 | head -1) &&
	diff -r -x last state-before state-p2 &&
	test_expect_code 2 host run p2 >/dev/null &&
	subjects p2 >after && test "$(wc -l <after)" = 4 &&
	head -1 after >top && test_grep "p2: drifted" top && test_grep_not "plan" top &&
	test_expect_code 2 cg fleet --reports central.git >fleet.txt &&
	grep -E "^p2 +drifted " fleet.txt &&
	test_grep_not "last report: plan" <(sed -n "/^p2 /,/^[^ ]/p" fleet.txt)
'

test_expect_success 'plan of a congruent host: congruent in the fleet, from a plan' '
	test_make_root root-c1 && printf "audited\n" >root-c1/etc/issue &&
	test_expect_code 2 host run c1 >/dev/null &&
	host plan c1 >/dev/null &&
	subjects c1 | head -1 >top && test_grep "plan c1: congruent (2 ok" top &&
	fleet_json &&
	jq -e ".hosts[] | select(.host == \"c1\") | .state == \"congruent\" and .last_command == \"plan\" and (.history | map(.state)) == [\"congruent\", \"rolled_out\"]" fleet.json
'

test_expect_success 'plan pushes nothing while reports of runs wait in the queue' '
	printf "reports:\n  url: %s\n  timeout: 5\n  signing_key: %s\n" "$TRASH/nowhere.git" "$TRASH/host.key" >down.yaml &&
	echo y >root-p2/etc/motd &&
	CONF=down.yaml test_expect_code 2 host run p2 >/dev/null 2>err &&
	ls state-p2/reports/queue >q && test "$(wc -l <q)" = 1 &&
	subjects p2 >before &&
	echo z >root-p2/etc/motd &&
	test_expect_code 2 host plan p2 >/dev/null 2>err &&
	grep -E "plan.s report is not pushed: 1 report of runs wait in" err &&
	subjects p2 >after && test_cmp before after &&
	{ host run p2 >/dev/null 2>err || :; } &&
	ls state-p2/reports/queue >q && test ! -s q
'

test_expect_success 'mode: audit on a class: run changes nothing, says so, exits 2 on drift' '
	test_make_root root-audit-1 &&
	echo "hand edit" >root-audit-1/etc/motd &&
	test_expect_code 2 host run audit-1 >run.txt 2>log &&
	test_grep "run (audit): 0 repaired, 2 drifted (audit), 0 ok" log &&
	test_grep "Run for audit-1" run.txt &&
	test_grep "mode: audit: nothing is changed" run.txt &&
	test_grep "run (audit): 0 repaired, 2 drifted (audit: not changed)" run.txt &&
	echo "hand edit" >want && test_cmp want root-audit-1/etc/motd &&
	test ! -e root-audit-1/etc/issue &&
	test_expect_code 2 host run audit-1 --format json >run.json &&
	jq -e ".mode == \"audit\" and .command == \"run\" and .summary.repaired == 0 and .summary.drifted == 2" run.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/run.schema.json" run.json &&
	test_expect_code 2 host plan audit-1 --format json >plan.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json >plan.out &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	test_expect_code 2 host run audit-1 >/dev/null &&
	subjects audit-1 | head -1 >top && test_grep "audit-1: drifted" top &&
	fleet_json &&
	jq -e ".hosts[] | select(.host == \"audit-1\") | .state == \"drifted\" and .mode == \"audit\" and .last_command == \"run\"" fleet.json &&
	{ cg fleet --reports central.git >fleet.txt || :; } &&
	test_grep "last report: run in mode: audit (nothing was changed)" fleet.txt
'

test_expect_success 'mode: audit on a class only: another class is enforced' '
	test_make_root root-web-1 &&
	echo "hand edit" >root-web-1/etc/motd &&
	test_expect_code 2 host run web-1 >/dev/null &&
	echo managed >want && test_cmp want root-web-1/etc/motd
'

test_expect_success 'mode and audit take only their words; check says where' '
	cp -a pol bad && printf "mode: watch\n" >>bad/site.yaml &&
	test_expect_code 1 cg check bad >out 2>&1 &&
	grep -E "site.yaml:[0-9]+.*.mode. must be enforce or audit" out &&
	cp -a pol bad2 &&
	printf "  - file: /etc/x\n    content: x\n    audit: maybe\n" >>bad2/roles/base.yaml &&
	test_expect_code 1 cg check bad2 >out 2>&1 &&
	grep -E "roles/base.yaml:[0-9]+: file:/etc/x: .audit. must be true or false" out &&
	test_grep "audit" out
'

test_expect_success 'fleet keeps secrets (secret) in what changed' '
	rm -rf spol && mkdir -p spol/roles spol/templates &&
	cg key init --state-dir state-s1 >pub &&
	printf "%s" "$PLAIN" | cg secret encrypt --to "$(cat pub)" >line &&
	printf "classes:\n  - match: \"*\"\n    roles: [app]\nvars:\n  password: \"%s\"\n" "$(cat line)" >spol/site.yaml &&
	printf "resources:\n  - file: /etc/app.conf\n    template: templates/app.conf\n    mode: \"0600\"\n" >spol/roles/app.yaml &&
	printf "password={{ password }}\n" >spol/templates/app.conf &&
	test_make_root root-s1 && echo "password=old" >root-s1/etc/app.conf &&
	test_expect_code 2 cg plan -c local.yaml --policy spol --root root-s1 \
		--state-dir state-s1 --hostname s1 >/dev/null &&
	{ cg fleet --reports central.git >fleet.txt || :; } &&
	fleet_json && cg fleet --reports central.git --format html >fleet.html || : &&
	grep -F "      content (secret) -> (secret)" fleet.txt &&
	jq -e ".hosts[] | select(.host == \"s1\") | .resources[0].changes[0] | .secret == true and .from == \"(secret)\" and .to == \"(secret)\"" fleet.json &&
	! grep -F "$PLAIN" fleet.txt fleet.json fleet.html &&
	git --git-dir=central.git log -p refs/heads/hosts/s1 >log && ! grep -F "$PLAIN" log
'

# A root with sh and touch (and their libraries): exec runs chrooted in it.
make_exec_root() {
	rm -rf "$1" && test_make_root "$1" &&
	for b in sh touch; do
		p=$(type -P $b) || return 1
		mkdir -p "$1/bin" && cp "$(readlink -f "$p")" "$1/bin/$b" &&
		ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
			$1 ~ /^\// { print $1 }' |
		while read -r lib; do
			mkdir -p "$1$(dirname "$lib")" &&
			cp -n "$(readlink -f "$lib")" "$1$lib" || exit 1
		done || return 1
	done
	chmod 755 "$1"
}

test_expect_success 'an audited resource is no change: what refreshes on it does not run, in plan as in run' '
	chmod 755 "$TRASH" &&
	rm -rf epol && mkdir -p epol/roles &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >epol/site.yaml &&
	cat >epol/roles/base.yaml <<-\EOF &&
	resources:
	  - file: /etc/audited.conf
	    content: "new\n"
	    audit: true
	  - file: /etc/enforced.conf
	    content: "new\n"
	  - exec: on-audited
	    command: [/bin/touch, /refreshed-audited]
	    refresh_only: true
	    refresh_on: [file:/etc/audited.conf]
	  - exec: on-enforced
	    command: [/bin/touch, /refreshed-enforced]
	    refresh_only: true
	    refresh_on: [file:/etc/enforced.conf]
	EOF
	make_exec_root root-e1 &&
	echo old >root-e1/etc/audited.conf && echo old >root-e1/etc/enforced.conf &&
	ee() { cg "$1" --policy epol --root root-e1 --state-dir state-e1 \
		--hostname e1 --format json; } &&
	test_expect_code 2 ee plan >plan.json &&
	test_expect_code 2 ee run >run.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json >plan.out &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json >run.out &&
	printf "file:/etc/audited.conf\tdrifted\nfile:/etc/enforced.conf\tdrifted\nexec:on-audited\tok\nexec:on-enforced\tdrifted\n" >want &&
	test_cmp want plan.out &&
	printf "file:/etc/audited.conf\tdrifted\nfile:/etc/enforced.conf\trepaired\nexec:on-audited\tok\nexec:on-enforced\trepaired\n" >want &&
	test_cmp want run.out &&
	test ! -e root-e1/refreshed-audited && test -e root-e1/refreshed-enforced &&
	echo old >want && test_cmp want root-e1/etc/audited.conf
'

test_expect_success 'git://: plan and run reports over a real daemon; fleet reads them back' '
	git init -q --bare served/reports.git &&
	url=$(gitserve_daemon "$TRASH/served/reports.git" --push) &&
	printf "reports:\n  url: %s\n  timeout: 20\n  signing_key: %s\n" "$url" "$TRASH/host.key" >git.yaml &&
	test_make_root root-g1 && echo "hand edit" >root-g1/etc/motd &&
	CONF=git.yaml test_expect_code 2 host plan g1 >/dev/null 2>err &&
	test_grep_not "cannot push" err && test ! -e state-g1 &&
	! ls tmp | grep congruent-plan &&
	REPO=served/reports.git subjects g1 >subj &&
	test_grep "plan g1: drifted" subj &&
	test_expect_code 2 cg fleet --reports "$url" >fleet.txt &&
	grep -E "^g1 +drifted " fleet.txt &&
	test_grep "last report: plan" fleet.txt &&
	CONF=git.yaml test_expect_code 2 host run g1 >/dev/null 2>err &&
	test_grep_not "cannot push" err &&
	{ CONF=git.yaml host run g1 >/dev/null 2>err || :; } &&
	test_grep_not "cannot push" err &&
	CONF=git.yaml test_expect_code 2 host plan g1 >/dev/null 2>err &&
	test_grep_not "cannot push" err &&
	REPO=served/reports.git subjects g1 >subj &&
	test "$(wc -l <subj)" = 4 &&
	test_grep "plan g1: drifted" <(head -1 subj) &&
	{ cg fleet --reports "$url" --format json >fleet.json || :; } &&
	jq -e ".hosts[0] | .state == \"drifted\" and .last_command == \"plan\"" fleet.json &&
	jq -e ".hosts[0].history | map(.state) == [\"drifted\", \"drifted\", \"rolled_out\", \"drifted\"]" fleet.json
'

test_expect_success 'plan before any run made the report key: not pushed, says so, writes nothing' '
	printf "reports:\n  url: %s\n  timeout: 20\n" "$TRASH/central.git" >nokey.yaml &&
	test_make_root root-k1 && echo "hand edit" >root-k1/etc/motd &&
	CONF=nokey.yaml test_expect_code 2 host plan k1 >/dev/null 2>err &&
	test_grep "report is not pushed" err &&
	test_grep "a run makes the report key" err &&
	test ! -e state-k1 &&
	! ls tmp | grep congruent-plan &&
	test_must_fail git --git-dir=central.git rev-parse -q --verify refs/heads/hosts/k1 &&
	CONF=nokey.yaml test_expect_code 2 host run k1 >/dev/null 2>err &&
	test -s state-k1/report.key &&
	echo "again" >root-k1/etc/motd &&
	CONF=nokey.yaml test_expect_code 2 host plan k1 >/dev/null 2>err &&
	test_grep_not "not pushed" err &&
	subjects k1 >subj && test "$(wc -l <subj)" = 2 &&
	test_grep "plan k1: drifted" subj
'

test_done
