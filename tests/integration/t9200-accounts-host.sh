#!/bin/bash
# t9200-accounts-host: users, groups and authorized keys on a booted host
# (a testbed container), with the shadow tools of the host itself (no
# --prefix): made, changed and removed, and seen so by getent; a file
# owned by a user the same run makes; plan predicts run each time.
# shellcheck disable=SC2034,SC2154 # used in test bodies; set by the testbed lib
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/testbed-host.sh"

h=t9200
K1='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUiPMM6YzQf3h1Zsnc1W6Jjj+5ov3kckjYUXdiASpcF alice@laptop'
HASH='$6$cgsalt$WHbyoG7b6j9nL1m8h8qaRtLrD2a5z8f3b0uJ7rGk1pXoq2cUeW9sTnVvYiAaEeBbCcDdFfGgHhIiJjKkLlMmNn'

tcg() {
	tb_cg "$h" "$@"
}

policy() {
	testbed_sh "$h" 'mkdir -p /srv/pol/roles &&
		printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >/srv/pol/site.yaml &&
		cat >/srv/pol/roles/base.yaml'
}

outcomes() {
	jq -r '.resources[] | "\(.id) \(.status) \(.error.message // "")"' |
		sed 's/^\([^ ]*\) drifted /\1 repaired /'
}

plan_predicts_run() {
	test_expect_code "$1" tcg plan --policy /srv/pol --format json >plan.json &&
	test_expect_code "$2" tcg run --policy /srv/pol --format json >run.json &&
	outcomes <plan.json >plan.out && outcomes <run.json >run.out &&
	test_cmp plan.out run.out
}

getent_in() {
	testbed_exec "$h" getent "$@"
}

test_expect_success 'setup: a host with congruent' '
	testbed_boot "$h" &&
	testbed_copy_in "$h" "$CONGRUENT" /usr/local/bin/congruent &&
	for lib in $(ldd "$CONGRUENT" | awk "/=> \\// { print \$3 }"); do
		testbed_exec "$h" test -e "$lib" ||
			testbed_copy_in "$h" "$lib" "$lib" || exit 1
	done &&
	! getent_in passwd alice
'

test_expect_success 'a group, a user in it, its keys and a file it owns' '
	policy <<-EOF &&
	resources:
	  - user: alice
	    group: web
	    groups: [adm]
	    shell: /bin/bash
	    comment: Alice Example
	    password: "$HASH"
	  - group: web
	    gid: 2000
	  - authorized_keys: alice
	    keys: ["$K1"]
	  - file: /home/alice/notes
	    content: "hello\n"
	    owner: alice
	    group: web
	    mode: "0640"
	EOF
	plan_predicts_run 2 2 &&
	getent_in passwd alice >pw &&
	cut -d: -f4- pw >pw.tail &&
	echo "2000:Alice Example:/home/alice:/bin/bash" >want && test_cmp want pw.tail &&
	getent_in group web >gr && test "$(cut -d: -f3 gr)" = 2000 &&
	getent_in group adm | grep -q alice &&
	test "$(getent_in shadow alice | cut -d: -f2)" = "$HASH" &&
	testbed_exec "$h" stat -c "%a %U:%G" /home/alice/.ssh \
		/home/alice/.ssh/authorized_keys /home/alice/notes >st &&
	printf "700 alice:web\n600 alice:web\n640 alice:web\n" >want &&
	test_cmp want st &&
	test_grep_not cgsalt plan.json && test_grep_not cgsalt run.json
'

test_expect_success 'a second run is congruent' '
	plan_predicts_run 0 0
'

test_expect_success 'changed: shell, comment, groups exactly, gid' '
	policy <<-EOF &&
	resources:
	  - group: web
	    gid: 2001
	  - group: ops
	  - user: alice
	    group: web
	    groups: [ops]
	    groups_exclusive: true
	    shell: /bin/sh
	    comment: A. Example
	EOF
	plan_predicts_run 2 2 &&
	getent_in passwd alice >pw &&
	test "$(cut -d: -f4,5,7 pw)" = "2001:A. Example:/bin/sh" &&
	! getent_in group adm | grep -q alice &&
	getent_in group ops | grep -q alice &&
	plan_predicts_run 0 0
'

test_expect_success 'a user with a running process is not removed, in plan as in run' '
	testbed_sh "$h" "setsid sh -c \"echo \\\$\\\$ >/run/cg-alice.pid; \
		exec setpriv --reuid alice --regid web --clear-groups sleep 600\" \
		</dev/null >/dev/null 2>&1 &" &&
	sleep 1 &&
	policy <<-EOF &&
	resources:
	  - user: alice
	    state: absent
	EOF
	plan_predicts_run 4 4 &&
	test_grep "user alice is used by process" run.out &&
	getent_in passwd alice &&
	testbed_sh "$h" "kill \$(cat /run/cg-alice.pid)" &&
	sleep 1
'

test_expect_success 'removed: the user (home kept), then its group' '
	policy <<-EOF &&
	resources:
	  - user: alice
	    state: absent
	  - group: web
	    state: absent
	  - group: ops
	    state: absent
	EOF
	plan_predicts_run 2 2 &&
	! getent_in passwd alice && ! getent_in group web &&
	! getent_in group ops && ! getent_in shadow alice &&
	testbed_exec "$h" test -d /home/alice &&
	plan_predicts_run 0 0
'

test_done
