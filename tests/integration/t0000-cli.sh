#!/bin/bash
# t0000-cli: the command line, exit codes, JSON output, the lock.
. "$(dirname "$0")/../lib/lib.sh"

# A minimal policy managing one file in a throwaway root.
mkdir -p pol/roles
cat >pol/site.yaml <<'Y'
classes:
  - match: "*"
    roles: [one]
Y
cat >pol/roles/one.yaml <<'Y'
resources:
  - file: /etc/motd
    content: "hello\n"
    mode: "0644"
Y
test_make_root root

test_expect_success 'version and help' '
	cg version >out &&
	grep -q "^congruent [0-9]" out &&
	grep -q libgit2 out &&
	cg help >out &&
	grep -q "restore" out
'

test_expect_success 'every command: --help and -h print its usage and exit 0' '
	for c in run plan check facts fleet restore state version help; do
		for h in --help -h; do
			cg $c $h >out 2>err || { echo "$c $h failed"; exit 1; }
			grep -q "^usage: congruent $c" out || { echo "$c $h:"; cat out; exit 1; }
			test ! -s err || { echo "$c $h wrote to stderr"; exit 1; }
		done
	done &&
	cg run --help >out && test_grep "--allow-rollback" out && test_grep "--only TYPE" out &&
	cg plan --help >out && test_grep "--allow-rollback" out && test_grep "--only TYPE" out &&
	cg help >out && test_grep "fleet" out && test_grep "help COMMAND" out
'

test_expect_success 'help COMMAND gives that usage; help of nothing known is an error' '
	cg help fleet >out &&
	test_grep "usage: congruent fleet [-c FILE]" out &&
	test_expect_code 1 cg help nope 2>err &&
	test_grep "no command '\''nope'\''" err
'

test_expect_success 'an unknown command with no near name points to help' '
	test_expect_code 1 cg frobnicate 2>err &&
	test_grep "'\''congruent help'\'' lists the commands" err
'

test_expect_success 'an unknown command suggests the right one' '
	test_expect_code 1 cg plna 2>err &&
	test_grep "unknown command" err &&
	test_grep "did you mean '\''plan'\''" err
'

test_expect_success 'an unknown option is an error' '
	test_expect_code 1 cg plan --polcy pol 2>err &&
	test_grep "unknown option" err
'

test_expect_success 'plan with no policy source exits 1 and says what to do' '
	test_expect_code 1 cg plan -c /dev/null --root root 2>err &&
	test_grep "no policy" err &&
	test_grep "hint:" err
'

test_expect_success 'plan finds drift: exit 2, nothing changed' '
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "+ file:/etc/motd" out &&
	test ! -e root/etc/motd &&
	test ! -e root/var/lib/congruent/reports
'

test_expect_success 'run applies: exit 2, then a no-op run exits 0 silently' '
	test_expect_code 2 cg run --policy pol --root root >out &&
	test "$(cat root/etc/motd)" = hello &&
	test_expect_code 0 cg run --policy pol --root root >out2 &&
	test ! -s out2 &&
	test_expect_code 0 cg plan --policy pol --root root
'

test_expect_success 'run writes a JSON report of every resource' '
	jq -e ".command == \"run\" and .resources[0].id == \"file:/etc/motd\" and .resources[0].status == \"ok\"" \
		root/var/lib/congruent/reports/last-run.json
'

test_expect_success 'a failing resource gives exit 4' '
	mkdir -p root/etc/blocker &&
	cat >pol/roles/one.yaml <<-Y &&
	resources:
	  - file: /etc/motd
	    content: "hello\n"
	  - file: /etc/blocker
	    content: "x\n"
	Y
	test_expect_code 4 cg run --policy pol --root root 2>err >out &&
	test_grep "! file:/etc/blocker" out
'

test_expect_success 'failures and changes together give exit 6' '
	echo changed >root/etc/motd &&
	test_expect_code 6 cg run --policy pol --root root >out &&
	test "$(cat root/etc/motd)" = hello &&
	test_expect_code 4 cg plan --policy pol --root root >/dev/null &&
	echo drift >root/etc/motd &&
	test_expect_code 6 cg plan --policy pol --root root >/dev/null
'

test_expect_success 'plan --format json is valid JSON with the order and changes' '
	rmdir root/etc/blocker &&
	echo changed >root/etc/motd &&
	test_expect_code 2 cg plan --policy pol --root root --format json >out.json &&
	jq -e ".command == \"plan\" and .exit_status == 2" out.json &&
	jq -e ".resources[0].order == 1 and .resources[0].status == \"drifted\"" out.json &&
	jq -e ".resources[0].changes[0].field == \"content\"" out.json &&
	jq -e ".resources[0].changes[0].diff | test(\"-changed\")" out.json
'

test_expect_success 'a bad policy exits 1 and enforces nothing' '
	echo "resources: [" >pol/roles/one.yaml &&
	echo changed >root/etc/motd &&
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "roles/one.yaml:" err &&
	test "$(cat root/etc/motd)" = changed
'

test_expect_success 'a second run while one holds the lock exits 1 naming it' '
	cat >pol/roles/one.yaml <<-Y &&
	resources:
	  - file: /etc/motd
	    content: "hello\n"
	Y
	mkdir -p root/var/lib/congruent &&
	echo "pid 4242 since then" >root/var/lib/congruent/lock
	flock root/var/lib/congruent/lock sleep 5 &
	sleep 0.5
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "another congruent run holds" err &&
	test_grep "pid 4242" err &&
	wait &&
	test_expect_code 2 cg run --policy pol --root root >/dev/null
'

test_expect_success 'a lock left by a dead process is taken over' '
	(flock root/var/lib/congruent/lock true) &&
	echo changed >root/etc/motd &&
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	grep -q "^pid [0-9]* since" root/var/lib/congruent/lock
'

test_expect_success '--state-dir puts state outside the root' '
	echo changed >root/etc/motd &&
	test_expect_code 2 cg run --policy pol --root root --state-dir state >/dev/null &&
	test -f state/reports/last-run.json &&
	test -f state/lock
'

test_expect_success '--hostname picks the class and the hostname fact' '
	cat >pol/site.yaml <<-Y &&
	classes:
	  - match: "web-*"
	    roles: [web]
	  - match: "*"
	    roles: [one]
	Y
	cat >pol/roles/web.yaml <<-Y &&
	resources:
	  - file: /etc/role
	    content: "web\n"
	Y
	test_expect_code 2 cg plan --policy pol --root root --hostname web-7 >out &&
	test_grep "Plan for web-7 (roles: web)" out &&
	test_expect_code 0 cg plan --policy pol --root root --hostname db-1 >out &&
	test_grep "(roles: one)" out
'

test_expect_success 'facts prints at least the documented facts' '
	cg facts --root root --hostname h1.example.com >out &&
	for f in hostname fqdn os_id os_version arch; do grep -q "^$f " out || exit 1; done &&
	test_grep "fqdn         h1.example.com" out &&
	cg facts --format json --hostname h2 >out.json &&
	jq -e ".hostname == \"h2\" and (.arch | length > 0)" out.json
'

test_done
