#!/bin/bash
# t2900-file-secret: a var encrypted to host keys (congruent key, congruent
# secret encrypt) renders in a file on a recipient host only; check verifies
# its form without decrypting; plan predicts run; the plaintext appears in
# no output, log, report, fleet view or backup index.
. "$(dirname "$0")/../lib/lib.sh"

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

# Never written to a file of the trash: only the managed file holds it.
PLAIN=Tr0ub4dor-s3cret-17

policy() { # SECRET
	rm -rf pol && mkdir -p pol/roles pol/templates pol/data
	cat >pol/site.yaml <<-\EOF
	hierarchy: [common.yaml]
	classes:
	  - match: "*"
	    roles: [app]
	EOF
	printf 'db:\n  user: app\n  password: "%s"\n' "$1" >pol/data/common.yaml
	cat >pol/roles/app.yaml <<-\EOF
	resources:
	  - file: /etc/app.conf
	    template: templates/app.conf
	    mode: "0600"
	EOF
	printf 'user={{ db.user }}\npassword={{ db.password }}\n' \
		>pol/templates/app.conf
}

printf 'reports:\n  url: %s\n  timeout: 20\n' "$TRASH/central.git" >agent.yaml

host() { # CMD NAME [options]
	_c=$1 _h=$2
	shift 2
	cg "$_c" -c agent.yaml --policy pol --root "root-$_h" \
		--state-dir "state-$_h" --hostname "$_h" "$@"
}

test_expect_success 'key init makes a 0600 key once; key show prints its public half' '
	cg key init --state-dir state-a >pub-a &&
	test_grep "cg-x25519:" pub-a &&
	test "$(stat -c %a state-a/host.key)" = 600 &&
	cg key init --state-dir state-a >again 2>err &&
	test_cmp pub-a again && test_grep "exists: kept it" err &&
	cg key show --state-dir state-a >shown && test_cmp pub-a shown &&
	cg key init --state-dir state-b >pub-b &&
	! cmp -s pub-a pub-b
'

test_expect_success 'secret encrypt prints one line; check accepts it, refuses a damaged one' '
	printf "%s" "$PLAIN" | cg secret encrypt --to "$(cat pub-a)" >line &&
	test "$(wc -l <line)" = 1 && test_grep "cg-secret:v1:" line &&
	test_grep_not "$PLAIN" line &&
	policy "$(sed "s/.\{3\}$//" line)" &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "data/common.yaml:3: malformed secret" err &&
	policy "$(cat line)" &&
	cg check pol &&
	test_expect_code 1 cg secret encrypt --to cg-x25519:nonsense </dev/null 2>err &&
	test_grep "is not a host key" err
'

test_expect_success 'the recipient: plan predicts run, the file holds the plaintext' '
	git init -q --bare central.git &&
	test_make_root root-a &&
	test_expect_code 2 host plan a --format json >plan.json 2>plan.err &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json >plan.out &&
	printf "file:/etc/app.conf\tdrifted\n" >want && test_cmp want plan.out &&
	jq -e ".resources[0].changes[] | select(.field == \"content\") | .secret == true and .to == \"(secret)\"" plan.json &&
	host plan a >plan.txt 2>&1 || test $? = 2 &&
	test_grep "(secret)" plan.txt &&
	test_expect_code 2 host run a --format json >run.json 2>run.err &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json >run.out &&
	printf "file:/etc/app.conf\trepaired\n" >want && test_cmp want run.out &&
	printf "user=app\npassword=%s\n" "$PLAIN" >want &&
	test_cmp want root-a/etc/app.conf &&
	host plan a >again.txt && test_grep "= file:/etc/app.conf" again.txt
'

test_expect_success 'a changed file is repaired with (secret), not a diff' '
	printf "user=app\npassword=old\n" >root-a/etc/app.conf &&
	test_expect_code 2 host run a -v >run2.txt 2>run2.err &&
	test_grep "(secret)" run2.txt &&
	test_grep_not "password=old" run2.txt &&
	cg restore --root root-a --state-dir state-a --list >backups.txt 2>&1 &&
	{ cg fleet --reports central.git --format json >fleet.json 2>&1 || :; } &&
	jq -e ".hosts[] | select(.host == \"a\")" fleet.json >/dev/null &&
	git --git-dir=central.git log --all -p >central.log &&
	test_grep "(secret)" central.log
'

test_expect_success 'a host that is not a recipient fails the resource, saying why' '
	test_make_root root-b &&
	test_expect_code 4 host plan b --format json >planb.json 2>planb.err &&
	jq -r ".resources[] | [.id, .status] | @tsv" planb.json >planb.out &&
	printf "file:/etc/app.conf\tfailed\n" >want && test_cmp want planb.out &&
	test_expect_code 4 host run b >runb.txt 2>runb.err &&
	test_grep "cannot decrypt the secret at data/common.yaml:3: this host'\''s key is not one of the secret'\''s 1 recipient" runb.txt &&
	test_grep "congruent key show" runb.txt &&
	test ! -e root-b/etc/app.conf &&
	test_make_root root-c &&
	test_expect_code 4 host run c >runc.txt 2>&1 &&
	test_grep "cannot open the host key" runc.txt &&
	test_grep "congruent key init" runc.txt
'

test_expect_success 'the plaintext is nowhere but in the managed file' '
	grep -rlF -e "$PLAIN" . >found || : &&
	printf "./root-a/etc/app.conf\n" >want && test_cmp want found
'

test_done
