#!/bin/bash
# t7000-reports: reports pushed to a central repository by several hosts at
# once, heartbeats, the local queue when the central one is down, and fleet.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/gitserve.sh"
test_cleanup_add gitserve_stop

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n  - directory: /srv/www\n' \
	>pol/roles/base.yaml

config() { # FILE URL [more lines]
	_f=$1 _u=$2
	shift 2
	printf 'reports:\n  url: %s\n  timeout: %s\n' "$_u" "${TIMEOUT:-20}" >"$_f"
	for l in "$@"; do printf '  %s\n' "$l" >>"$_f"; done
}

# host NAME CONFIG [run options]: a run as host NAME, with a root and state
# of its own.
host() {
	_h=$1 _c=$2
	shift 2
	[ -d "root-$_h" ] || test_make_root "root-$_h"
	cg run -c "$_c" --policy pol --root "root-$_h" --state-dir "state-$_h" \
		--hostname "$_h" "$@"
}

commits() { # REPO HOST
	git --git-dir="$1" rev-list --count "refs/heads/hosts/$2"
}

test_expect_success 'three hosts push at once to one bare repository (a path)' '
	git init -q --bare central.git &&
	config local.yaml "$TRASH/central.git" "heartbeat: 3600" &&
	for h in web-1 web-2 web-3; do
		host $h local.yaml >out-$h 2>err-$h &
	done &&
	for j in 1 2 3; do wait -n || test $? = 2; done &&
	for h in web-1 web-2 web-3; do
		test "$(commits central.git $h)" = 1 &&
		git --git-dir=central.git show hosts/$h:report.json >r.json &&
		jq -e ".host == \"$h\" and .command == \"run\" and .summary.repaired == 2" r.json &&
		test_grep_not "cannot push" err-$h || return 1
	done
'

test_expect_success 'the report: hashes for content, never the content' '
	git --git-dir=central.git show hosts/web-1:report.json >r.json &&
	jq -e ".resources[0].changes[] | select(.field == \"content\") | .to | startswith(\"sha256:\")" r.json &&
	test_grep_not "managed" r.json &&
	jq -e ".fingerprint | length == 64" r.json &&
	git --git-dir=central.git log -1 --format=%B hosts/web-1 >msg &&
	test_grep "web-1: rolled out" msg &&
	test_grep "Congruent-State: " msg
'

test_expect_success 'a run that changed something commits; an unchanged one does not' '
	test_expect_code 0 host web-1 local.yaml &&
	test "$(commits central.git web-1)" = 2 &&
	test_expect_code 0 host web-1 local.yaml &&
	test_expect_code 0 host web-1 local.yaml &&
	test "$(commits central.git web-1)" = 2 &&
	test_expect_code 0 host web-2 local.yaml &&
	test_expect_code 0 host web-3 local.yaml
'

test_expect_success 'drift on one host shows in fleet, and a failure on another' '
	echo tampered >root-web-2/etc/motd &&
	test_expect_code 2 host web-2 local.yaml &&
	rm -rf root-web-3/srv/www && echo file >root-web-3/srv/www &&
	test_expect_code 4 host web-3 local.yaml &&
	test_expect_code 4 cg fleet --reports central.git >fleet.txt &&
	cat fleet.txt &&
	grep -E "^web-1 +congruent" fleet.txt &&
	grep -E "^web-2 +repaired" fleet.txt &&
	grep -E "^web-3 +failed" fleet.txt &&
	test_grep "file:/etc/motd  repaired since" fleet.txt &&
	test_grep "directory:/srv/www  failed since" fleet.txt &&
	test_grep "3 hosts: 1 congruent, 0 rolled out, 0 drifted, 1 repaired, 1 failed, 0 refused, 0 stale source, 0 stale" fleet.txt
'

test_expect_success 'fleet --format json: states, history, since, fingerprint groups' '
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json &&
	jq -e ".summary.hosts == 3 and .summary.congruent == 1" fleet.json &&
	jq -e ".hosts[] | select(.host == \"web-2\") | .resources[0] |
		.id == \"file:/etc/motd\" and .status == \"repaired\" and
		.history == [\"repaired\", \"ok\", \"repaired\"]" fleet.json &&
	jq -e ".hosts[] | select(.host == \"web-3\") | .state == \"failed\" and .exit_status == 4" fleet.json &&
	# web-1 and web-2 hold the same managed state; web-3 has a file
	# where its directory belongs.
	jq -e "[.fingerprints[] | .count] | sort == [1, 2]" fleet.json &&
	jq -e ".fingerprints[] | select(.count == 2) | .hosts == [\"web-1\", \"web-2\"]" fleet.json
'

test_expect_success 'a failure that goes on says since when' '
	test_expect_code 4 host web-3 local.yaml &&
	test "$(commits central.git web-3)" = 3 &&
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json &&
	first=$(git --git-dir=central.git log -1 --format=%cI hosts/web-3) &&
	jq -e ".hosts[] | select(.host == \"web-3\") | .resources[0].since == \"${first%+00:00}Z\"" fleet.json
'

test_expect_success 'the same repair twice in a row is two reports' '
	n=$(commits central.git web-2) &&
	echo tampered >root-web-2/etc/motd &&
	test_expect_code 2 host web-2 local.yaml &&
	echo tampered >root-web-2/etc/motd &&
	test_expect_code 2 host web-2 local.yaml &&
	test "$(commits central.git web-2)" = $((n + 2)) &&
	test_expect_code 0 host web-2 local.yaml &&
	test "$(commits central.git web-2)" = $((n + 3)) &&
	test_expect_code 0 host web-2 local.yaml &&
	test "$(commits central.git web-2)" = $((n + 3))
'

test_expect_success 'heartbeat: an unchanged host commits again after the interval' '
	config hb.yaml "$TRASH/central.git" "heartbeat: 3" &&
	n=$(commits central.git web-1) &&
	sleep 4 &&
	test_expect_code 0 host web-1 hb.yaml &&
	test "$(commits central.git web-1)" = $((n + 1)) &&
	git --git-dir=central.git log -1 --format=%s hosts/web-1 >subj &&
	test_grep "heartbeat web-1: congruent" subj &&
	test_expect_code 0 host web-1 hb.yaml &&
	test "$(commits central.git web-1)" = $((n + 1)) &&
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json &&
	jq -e ".hosts[] | select(.host == \"web-1\") | .history[0].heartbeat == true and .state == \"congruent\"" fleet.json
'

test_expect_success 'stale: no report for longer than --stale hours' '
	test_expect_code 4 cg fleet --reports central.git --stale 1 --format json >fleet.json &&
	jq -e ".summary.stale == 0" fleet.json &&
	faketime=$(($(date +%s) - 7200)) &&
	test_make_root root-old &&
	GIT_COMMITTER_DATE="@$faketime +0000" git --git-dir=central.git commit-tree \
		"$(git --git-dir=central.git rev-parse hosts/web-1^{tree})" -m "old: congruent" >oid &&
	git --git-dir=central.git update-ref refs/heads/hosts/old-1 "$(cat oid)" &&
	test_expect_code 4 cg fleet --reports central.git --stale 1 --format json >fleet.json &&
	jq -e ".hosts[] | select(.host == \"old-1\") | .state == \"stale\" and .last_state == \"congruent\"" fleet.json &&
	git --git-dir=central.git update-ref -d refs/heads/hosts/old-1
'

test_expect_success 'plan reports are pushed at once, never queued; --no-report pushes nothing' '
	echo tampered >root-web-1/etc/motd &&
	n=$(commits central.git web-1) &&
	test_expect_code 2 cg plan -c local.yaml --policy pol --root root-web-1 \
		--state-dir state-web-1 --hostname web-1 --format json >plan.json &&
	jq -e ".command == \"plan\" and .summary.drifted == 1 and (.fingerprint | length == 64)" plan.json &&
	test "$(commits central.git web-1)" = $((n + 1)) &&
	git --git-dir=central.git log -1 --format=%s refs/heads/hosts/web-1 >subj &&
	test_grep "plan web-1: drifted" subj &&
	test_must_be_empty() { test ! -s "$1"; } &&
	ls state-web-1/reports/queue >q && test_must_be_empty q &&
	test_expect_code 2 host web-1 local.yaml --no-report &&
	test "$(commits central.git web-1)" = $((n + 1)) &&
	ls state-web-1/reports/queue >q && test_must_be_empty q &&
	host web-1 local.yaml >/dev/null &&
	test "$(commits central.git web-1)" = $((n + 2)) &&
	git --git-dir=central.git log -1 --format=%s refs/heads/hosts/web-1 >subj &&
	test_grep "web-1: congruent" subj
'

test_expect_success 'central down: reports queue; up again: every one arrives' '
	config down.yaml "$TRASH/later.git" "heartbeat: 3600" &&
	test_make_root root-db-1 &&
	test_expect_code 2 host db-1 down.yaml 2>err &&
	test_grep "cannot push to $TRASH/later.git: no repository there" err &&
	test_grep "1 report" err &&
	echo one >root-db-1/etc/motd &&
	test_expect_code 2 host db-1 down.yaml 2>err &&
	test_grep "2 reports" err &&
	test_expect_code 0 host db-1 down.yaml 2>err &&
	test "$(ls state-db-1/reports/queue | wc -l)" = 3 &&
	git init -q --bare later.git &&
	test_expect_code 0 host db-1 down.yaml 2>err &&
	test_grep_not "cannot push" err &&
	test "$(commits later.git db-1)" = 3 &&
	test "$(ls state-db-1/reports/queue | wc -l)" = 0 &&
	git --git-dir=later.git log --format=%s hosts/db-1 >subjects &&
	test_grep "db-1: repaired" subjects &&
	test_grep "db-1: congruent" subjects
'

test_expect_success 'a full queue drops the oldest, says so, and the next commit tells' '
	config full.yaml "$TRASH/later2.git" "queue_max: 2" &&
	test_make_root root-db-2 &&
	for i in 1 2 3 4; do
		echo "drift $i" >root-db-2/etc/motd &&
		host db-2 full.yaml 2>err-$i; test $? = 2 || return 1
	done &&
	test "$(ls state-db-2/reports/queue | wc -l)" = 2 &&
	test_grep "report queue full" err-3 &&
	test_grep "dropped the 1 oldest" err-4 &&
	git init -q --bare later2.git &&
	test_expect_code 0 host db-2 full.yaml &&
	# This run queued one more, so a third was dropped before the push.
	test "$(commits later2.git db-2)" = 2 &&
	git --git-dir=later2.git log --format=%B hosts/db-2 >log &&
	test_grep "Congruent-Dropped: 3" log &&
	test_expect_code 0 cg fleet --reports later2.git >fleet.txt &&
	test_grep "3 reports dropped" fleet.txt
'

test_expect_success 'a central repository that never answers: the push has a deadline' '
	perl -MIO::Socket::INET -e '"'"'
		my $s = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:0") or die;
		open my $p, ">", "port" or die; print $p $s->sockport; close $p;
		my @c; while (my $c = $s->accept) { push @c, $c }'"'"' &
	echo $! >silent.pid &&
	test_cleanup_add "kill $(cat silent.pid)" &&
	for i in $(seq 50); do test -s port && break; sleep 0.1; done &&
	TIMEOUT=2 config silent.yaml "git://127.0.0.1:$(cat port)/r.git" &&
	test_make_root root-db-3 &&
	start=$(date +%s) &&
	test_expect_code 2 host db-3 silent.yaml 2>err &&
	test $(($(date +%s) - start)) -lt 15 &&
	test_grep "no answer within 2 s" err &&
	test "$(ls state-db-3/reports/queue | wc -l)" = 1 &&
	kill $(cat silent.pid)
'

test_expect_success 'three hosts push at once over git:// on loopback' '
	git init -q --bare central2.git &&
	url=$(gitserve_daemon "$TRASH/central2.git" --push) &&
	config daemon.yaml "$url" &&
	for h in app-1 app-2 app-3; do
		host $h daemon.yaml >out-$h 2>err-$h &
	done &&
	for j in 1 2 3; do wait -n || test $? = 2; done &&
	for h in app-1 app-2 app-3; do
		test_grep_not "cannot push" err-$h &&
		test "$(commits central2.git $h)" = 1 || return 1
	done &&
	test_expect_code 2 cg fleet --reports "$url" --format json >fleet.json &&
	jq -e ".summary.hosts == 3 and .summary.rolled_out == 3" fleet.json
'

# Refs a broken or hostile host could leave in the repository.
hostile_refs() { # REPO
	G="git --git-dir=$1" &&
	good=$($G rev-parse hosts/web-2) &&
	blob() { printf "%s" "$1" | $G hash-object -w --stdin; } &&
	commit_with() { # REF BLOB
		tree=$(printf "100644 blob %s\treport.json\n" "$2" | $G mktree) &&
		$G update-ref "refs/heads/hosts/$1" "$($G commit-tree "$tree" -m x)"
	} &&
	# git refuses to point a branch at a blob; a hostile server would not.
	mkdir -p "$1/refs/heads/hosts" &&
	blob hello >"$1/refs/heads/hosts/a-blob" &&
	commit_with b-garbage "$(blob "{not json")" &&
	head -c 3000000 /dev/zero | tr "\0" x >big &&
	commit_with c-huge "$($G hash-object -w big)" &&
	perl -e "print q([) x 100000, q(]) x 100000" >deep &&
	commit_with d-deep "$($G hash-object -w deep)" &&
	commit_with e-types "$(blob "{\"time\": 1, \"resources\": {}}")" &&
	tree=$(printf "100644 blob %s\tother.json\n" "$(blob "{}")" | $G mktree) &&
	$G update-ref refs/heads/hosts/f-noreport "$($G commit-tree "$tree" -m x)" &&
	$G show "$good:report.json" >ok.json &&
	jq ".resources[0].id = \"<script>document.body.setAttribute(\\\"data-pwned\\\",1)</script>\" |
		.resources[0].status = \"failed\" | .summary.failed = 1" ok.json >evil.json &&
	commit_with "g-evil\"<b>" "$($G hash-object -w evil.json)"
}

test_expect_success 'garbage, huge and hostile refs are skipped and named' '
	hostile_refs central.git &&
	test_expect_code 4 cg fleet --reports central.git >fleet.txt 2>err &&
	cat err &&
	test_grep "refs/heads/hosts/a-blob: skipped: it points to a blob, not a commit" err &&
	test_grep "refs/heads/hosts/b-garbage: skipped: report.json:" err &&
	test_grep "refs/heads/hosts/c-huge: skipped: report.json is 3000000 bytes" err &&
	test_grep "refs/heads/hosts/d-deep: skipped: report.json:" err &&
	test_grep "refs/heads/hosts/e-types: skipped: report.json:" err &&
	test_grep "refs/heads/hosts/f-noreport: skipped: no file report.json" err &&
	grep -E "^web-1 +congruent" fleet.txt &&
	grep -E "^g-evil\"<b> +failed" fleet.txt &&
	test_grep "6 refs skipped" fleet.txt &&
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json 2>/dev/null &&
	jq -e ".skipped | length == 6" fleet.json
'

test_expect_success 'html: one self-contained page, nothing in it runs' '
	test_expect_code 4 cg fleet --reports central.git --format html >fleet.html 2>/dev/null &&
	test_grep_not "<script" fleet.html &&
	test_grep "&lt;script&gt;" fleet.html &&
	! grep -E "(src|href)=" fleet.html
'

# Chromium is large: make check installs and runs it only when asked.
if [ "${CG_TEST_BROWSER:-0}" != 1 ]; then
	test_skip 'html: rendered by headless Chromium' 'CG_TEST_BROWSER=1 runs it'
else
test_expect_success 'html: rendered by headless Chromium' '
	if ! command -v chromium >/dev/null; then
		echo "chromium missing: CG_TEST_BROWSER=1 make check installs it" >&2
		exit 1
	fi &&
	HOME=$TRASH timeout 120 chromium --headless --no-sandbox --disable-gpu \
		--dump-dom "file://$TRASH/fleet.html" >dom.html 2>chromium.log &&
	test_grep "<table id=\"hosts\">" dom.html &&
	grep -c "<tr data-host=" dom.html >rows &&
	test "$(cat rows)" = 4 &&
	test_grep "data-host=\"web-3\"><td>web-3</td><td class=\"state failed\">failed" dom.html &&
	test_grep "id=\"count-congruent\">1 congruent" dom.html &&
	test_grep "<li><code>refs/heads/hosts/c-huge</code>" dom.html &&
	# Had the script run, body would carry the attribute.
	! grep -E "<body[^>]*data-pwned" dom.html &&
	test_grep "&lt;script&gt;document.body" dom.html &&
	HOME=$TRASH timeout 120 chromium --headless --no-sandbox --disable-gpu \
		--screenshot="$TRASH/fleet.png" --window-size=1200,800 \
		"file://$TRASH/fleet.html" >>chromium.log 2>&1 &&
	test -s fleet.png
'
fi

test_expect_success 'fleet: a repository that is not there, bad options' '
	test_expect_code 1 cg fleet --reports "$TRASH/none.git" 2>err &&
	test_grep "cannot fetch $TRASH/none.git" err &&
	test_expect_code 1 cg fleet --reports central.git --format xml 2>err &&
	test_grep "--format is text, json, html or prometheus" err &&
	test_expect_code 1 cg fleet --reports central.git --stale 0 2>err &&
	test_grep "--stale takes a number" err
'

test_expect_success 'a branch prefix that makes no valid ref is refused clearly' '
	config badprefix.yaml "$TRASH/central.git" "branch_prefix: \"bad..prefix/\"" &&
	test_make_root root-x && rm -rf state-x &&
	test_expect_code 2 host x badprefix.yaml 2>err &&
	test_grep "is not a valid branch name" err
'

test_done
