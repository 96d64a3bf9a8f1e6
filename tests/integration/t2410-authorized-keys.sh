#!/bin/bash
# t2410-authorized-keys: a user's keys on throwaway roots: added to what is
# there or exactly these; .ssh and the file made with sshd's modes, owned
# by the user; a symlink or hard link the user planted is never followed;
# the old file kept as a backup; key lines validated by check.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

K1='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUiPMM6YzQf3h1Zsnc1W6Jjj+5ov3kckjYUXdiASpcF alice@laptop'
K2='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBK7Tzd0aBU8Bfe9lxMH3WGZ9O4Q55tU3tGO/2ko4GoX bob@desk'
B1=AAAAC3NzaC1lZDI1NTE5AAAAIMUiPMM6YzQf3h1Zsnc1W6Jjj+5ov3kckjYUXdiASpcF

mkpol() {
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	cat >pol/roles/base.yaml
}

fresh_root() {
	rm -rf root && test_make_root root &&
	echo "alice:x:1500:1500::/home/alice:/bin/sh" >>root/etc/passwd &&
	echo "alice:x:1500:" >>root/etc/group &&
	mkdir -p root/home/alice && chown 1500:1500 root/home/alice &&
	chmod 750 root/home/alice
}

outcomes() {
	jq -r '.resources[] | [.id, (if .status == "repaired" or .status ==
		"drifted" then "changes" else .status end),
		(.error.message // "")] | @tsv' "$1"
}

plan_predicts_run() {
	rm -rf p && mkdir p && cp -a root p/root &&
	(cd p && test_expect_code "$1" cg plan --format json --policy ../pol \
		--root root --state-dir pstate >../plan.json) &&
	test ! -e p/pstate &&
	test_expect_code "$2" cg run --format json --policy pol --root root \
		--state-dir state >run.json &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out
}

ak=root/home/alice/.ssh/authorized_keys

test_expect_success '.ssh 0700 and authorized_keys 0600 made, owned by the user' '
	fresh_root &&
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    keys:
	      - "$K1"
	      - '"'"'from="192.0.2.1",command="echo hi there" $K2'"'"'
	Y
	cg plan --policy pol --root root >plan.txt || :;
	test_grep "key ssh-ed25519 SHA256:ckyaYqzY26wQAs61D64OOs3Ap/zVh3L0NftiAv97WIM alice@laptop" plan.txt &&
	plan_predicts_run 2 2 &&
	test "$(stat -c "%a %u:%g" root/home/alice/.ssh)" = "700 1500:1500" &&
	test "$(stat -c "%a %u:%g" $ak)" = "600 1500:1500" &&
	printf "%s\n%s\n" "$K1" "from=\"192.0.2.1\",command=\"echo hi there\" $K2" >want &&
	test_cmp want $ak &&
	plan_predicts_run 0 0
'

test_expect_success 'exclusive: false adds what is missing and keeps the rest' '
	printf "# keys by hand\nssh-ed25519 $B1 old comment\n%s\n" "$K2" >$ak &&
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    keys: ["$K1"]
	Y
	plan_predicts_run 2 2 &&
	printf "# keys by hand\n%s\n%s\n" "$K1" "$K2" >want &&
	test_cmp want $ak &&
	plan_predicts_run 0 0
'

test_expect_success 'the file changed was kept as a backup' '
	cg restore --root root --state-dir state --list /home/alice/.ssh/authorized_keys >list &&
	test $(wc -l <list) -eq 1 &&
	cg restore --root root --state-dir state /home/alice/.ssh/authorized_keys &&
	test_grep "old comment" $ak
'

test_expect_success 'exclusive: true leaves exactly these keys' '
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    exclusive: true
	    keys: ["$K2"]
	Y
	cg plan --policy pol --root root >plan.txt || :;
	test_grep "old comment -> (absent)" plan.txt &&
	test_grep "# keys by hand -> (absent)" plan.txt &&
	plan_predicts_run 2 2 &&
	printf "%s\n" "$K2" >want && test_cmp want $ak
'

test_expect_success 'mode and owner put right' '
	chmod 644 $ak && chown 0:0 $ak && chmod 755 root/home/alice/.ssh &&
	plan_predicts_run 2 2 &&
	test "$(stat -c "%a %u" root/home/alice/.ssh)" = "700 1500" &&
	test "$(stat -c "%a %u" $ak)" = "600 1500"
'

test_expect_success 'a .ssh symlink the user planted is not followed' '
	fresh_root && mkdir -p outside && echo precious >outside/authorized_keys &&
	ln -s "$TRASH/outside" root/home/alice/.ssh &&
	chown -h 1500:1500 root/home/alice/.ssh &&
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    keys: ["$K1"]
	Y
	plan_predicts_run 4 4 &&
	test_grep "not a directory (a symlink)" run.out &&
	test "$(cat outside/authorized_keys)" = precious &&
	test -L root/home/alice/.ssh
'

test_expect_success 'a symlink or hard link as authorized_keys is not followed' '
	fresh_root && mkdir -p root/home/alice/.ssh outside &&
	echo precious >outside/f &&
	ln -s "$TRASH/outside/f" $ak && chown -h 1500:1500 $ak &&
	plan_predicts_run 4 4 &&
	test_grep "not a regular file (a symlink)" run.out &&
	rm $ak && printf "root:secret:1::::::\n" >root/etc/shadow &&
	ln root/etc/shadow $ak &&
	plan_predicts_run 4 4 &&
	test_grep "hard links" run.out &&
	test "$(cat outside/f)" = precious &&
	test "$(cat root/etc/shadow)" = "root:secret:1::::::" &&
	test "$(stat -c %u root/etc/shadow)" = 0
'

test_expect_success 'a home symlink owned by the user is not followed' '
	fresh_root && rm -rf root/home/alice && mkdir -p outside2 &&
	ln -s "$TRASH/outside2" root/home/alice &&
	chown -h 1500:1500 root/home/alice &&
	plan_predicts_run 4 4 &&
	test ! -e outside2/.ssh
'

test_expect_success 'keys for a user made earlier in the same run' '
	rm -rf root && test_make_root root && mkdir -p root/home &&
	: >root/etc/shadow && : >root/etc/gshadow &&
	printf "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUSERGROUPS_ENAB yes\n" >root/etc/login.defs &&
	mkpol <<-Y &&
	resources:
	  - authorized_keys: nina
	    keys: ["$K1"]
	  - user: nina
	Y
	cg plan --policy pol --root root >plan.txt || :;
	test_grep "user nina does not exist yet: user:nina, earlier, creates it" plan.txt &&
	plan_predicts_run 2 2 &&
	uid=$(grep ^nina: root/etc/passwd | cut -d: -f3) &&
	test "$(stat -c "%a %u" root/home/nina/.ssh/authorized_keys)" = "600 $uid"
'

test_expect_success 'a key on a CR LF line is the same key, not a second one' '
	fresh_root && mkdir -p root/home/alice/.ssh &&
	printf "%s\r\n" "$K1" >$ak &&
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    keys: ["$K1"]
	Y
	plan_predicts_run 2 2 &&
	test "$(grep -c "$B1" $ak)" = 1 &&
	! grep -q "$(printf "\r")" $ak
'

test_expect_success 'check refuses key lines that are not OpenSSH public keys' '
	mkpol <<-Y &&
	resources:
	  - authorized_keys: alice
	    keys:
	      - "ssh-ed25519 not*base64 x"
	  - authorized_keys: bob
	    keys:
	      - "ssh-rsa $B1 type inside is ed25519"
	  - authorized_keys: carl
	    keys:
	      - "nosuch-type AAAA"
	  - authorized_keys: dina
	    keys: ["$K1", "$K1"]
	  - authorized_keys: eve
	    exclusive: true
	Y
	test_expect_code 1 cg check pol 2>err &&
	test_grep "roles/base.yaml:4" err &&
	test_grep "not valid base64 of a key of its type" err &&
	test_grep "roles/base.yaml:7" err &&
	test_grep "no known key type" err &&
	test_grep "listed twice" err &&
	test_grep "needs keys:" err
'

test_done
