#!/bin/bash
# t2420-accounts: user and group resources on throwaway roots, through the
# shadow tools with --prefix: created, changed, removed; ordered after the
# groups they name; a password hash never shown; what check refuses; a
# file owned by a user the same run makes; plan predicts run throughout.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root
for t in useradd usermod userdel groupadd groupmod groupdel chpasswd; do
	if ! command -v $t >/dev/null 2>&1 && ! [ -x /usr/sbin/$t ]; then
		echo "1..0 # SKIP needs the shadow tools ($t)"
		trap - EXIT
		rm -rf "$TRASH"
		exit 0
	fi
done

HASH='$6$rounds=5000$cgsalt$WHbyoG7b6j9nL1m8h8qaRtLrD2a5z8f3b0uJ7rGk1pXoq2cUeW9sTnVvYiAaEeBbCcDdFfGgHhIiJjKkLlMmNn'

# A root with a real Debian /etc when the testbed's root is cached (its
# login.defs, skel and account files), else a minimal one.
account_root() {
	rm -rf "$1" && test_make_root "$1" &&
	src=$("$TOP/tests/testbed/rootfs.sh" --path 2>/dev/null) || src=
	if [ -n "$src" ] && [ -f "$src/etc/login.defs" ]; then
		cp -a "$src/etc/login.defs" "$src/etc/passwd" "$src/etc/group" \
			"$src/etc/shadow" "$src/etc/gshadow" "$1/etc/" &&
		mkdir -p "$1/etc/default" &&
		cp -a "$src/etc/skel" "$1/etc/" &&
		cp -a "$src/etc/default/useradd" "$1/etc/default/" &&
		mkdir -p "$1/home"
	else
		printf 'UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\nUSERGROUPS_ENAB yes\nHOME_MODE 0700\n' >"$1/etc/login.defs" &&
		: >"$1/etc/shadow" && : >"$1/etc/gshadow" &&
		chmod 640 "$1/etc/shadow" "$1/etc/gshadow" &&
		mkdir -p "$1/home"
	fi
}

mkpol() {
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	cat >pol/roles/base.yaml
}

outcomes() {
	jq -r '.resources[] | [.id, (if .status == "repaired" or .status ==
		"drifted" then "changes" else .status end),
		(.error.message // "")] | @tsv' "$1"
}

# plan_predicts_run PLAN_EXIT RUN_EXIT: plan on a copy of root, which must
# not change, then run on root; their outcomes must be the same.
plan_predicts_run() {
	rm -rf p && mkdir p && cp -a root p/root &&
	(cd p/root && find . -printf "%y %m %U:%G %s %p\n" | sort) >before &&
	(cd p && test_expect_code "$1" cg plan --format json --policy ../pol \
		--root root --state-dir pstate >../plan.json) &&
	(cd p/root && find . -printf "%y %m %U:%G %s %p\n" | sort) >after &&
	test_cmp before after && test ! -e p/pstate &&
	test_expect_code "$2" cg run --format json --policy pol --root root \
		--state-dir state >run.json 2>run.err &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out
}

ent() { # FILE NAME: the line of NAME in root's etc/FILE
	grep "^$2:" "root/etc/$1"
}

test_expect_success 'a group and a user made, the group ordered first' '
	account_root root &&
	mkpol <<-Y &&
	resources:
	  - user: alice
	    uid: 1500
	    group: web
	    groups: [deploy, adm]
	    shell: /bin/bash
	    comment: "Alice Example"
	    password: "$HASH"
	  - group: web
	    gid: 2000
	  - group: deploy
	    system: true
	Y
	cg plan --policy pol --root root --state-dir pstate >plan.txt || :;
	test_grep "1 + group:web" plan.txt &&
	test_grep "3 + user:alice" plan.txt &&
	plan_predicts_run 2 2 &&
	ent passwd alice >line &&
	test "$(cat line)" = "alice:x:1500:2000:Alice Example:/home/alice:/bin/bash" &&
	test "$(ent group web)" = "web:x:2000:" &&
	ent group deploy | grep -q ":alice\$" &&
	ent group adm | grep -q "alice" &&
	gid=$(ent group deploy | cut -d: -f3) && test "$gid" -lt 1000 &&
	test "$(ent shadow alice | cut -d: -f2)" = "$HASH" &&
	test -d root/home/alice &&
	test "$(stat -c %u:%g root/home/alice)" = 1500:2000
'

test_expect_success 'the password hash is never shown: plan, run, JSON, report, log' '
	test_grep "password (secret)" plan.txt &&
	test_grep_not "cgsalt" plan.txt &&
	test_grep_not "cgsalt" plan.json && test_grep_not "cgsalt" run.json &&
	test_grep_not "cgsalt" run.err &&
	! grep -r -F cgsalt state p 2>/dev/null | grep -v "^p/root/etc/shadow"
'

test_expect_success 'a second run changes nothing' '
	plan_predicts_run 0 0
'

test_expect_success 'changes: uid, shell, comment, password, gid; groups kept or exact' '
	mkpol <<-Y &&
	resources:
	  - group: web
	    gid: 2100
	  - group: extra
	  - user: alice
	    uid: 1501
	    group: web
	    groups: [extra]
	    shell: /bin/sh
	    comment: "A. Example"
	    password: "!$HASH"
	Y
	cg plan --policy pol --root root --state-dir pstate >plan.txt || :;
	test_grep "password (secret) -> (secret)" plan.txt &&
	test_grep "groups adm,deploy -> adm,deploy,extra" plan.txt &&
	test_grep_not cgsalt plan.txt &&
	plan_predicts_run 2 2 &&
	test "$(ent passwd alice)" = "alice:x:1501:2100:A. Example:/home/alice:/bin/sh" &&
	test "$(ent shadow alice | cut -d: -f2)" = "!$HASH" &&
	ent group deploy | grep -q alice && ent group extra | grep -q alice &&
	# usermod -u moves the home to the new uid; groupmod -g moves nothing.
	test "$(stat -c %u:%g root/home/alice)" = 1501:2000 &&
	mkpol <<-Y &&
	resources:
	  - user: alice
	    groups: [extra]
	    groups_exclusive: true
	Y
	plan_predicts_run 2 2 &&
	! ent group deploy | grep -q alice && ! ent group adm | grep -q alice &&
	ent group extra | grep -q alice &&
	plan_predicts_run 0 0
'

test_expect_success 'a user absent keeps its home; remove_home removes it' '
	mkpol <<-Y &&
	resources:
	  - user: bob
	  - user: carol
	Y
	plan_predicts_run 2 2 &&
	ent passwd bob && ent group bob && test -d root/home/carol &&
	mkpol <<-Y &&
	resources:
	  - user: bob
	    state: absent
	  - user: carol
	    state: absent
	    remove_home: true
	  - group: extra
	    state: absent
	Y
	plan_predicts_run 2 2 &&
	! ent passwd bob && ! ent passwd carol && ! ent group extra &&
	! ent group carol && test -d root/home/bob && test ! -e root/home/carol &&
	! grep -q "extra" root/etc/gshadow &&
	plan_predicts_run 0 0
'

test_expect_success 'a file owned by a user and group the same run makes' '
	account_root root &&
	mkpol <<-Y &&
	resources:
	  - user: dave
	  - file: /home/dave/.plan
	    content: "world domination\n"
	    owner: dave
	    group: dave
	    mode: "0600"
	  - directory: /srv/dave
	    owner: dave
	    group: staff2
	  - group: staff2
	Y
	cg plan --policy pol --root root --state-dir pstate >plan.txt || :;
	test_grep "owner dave does not exist yet: user:dave, earlier, creates it" plan.txt &&
	test_grep "its directory does not exist yet: user:dave, earlier, creates it" plan.txt &&
	test_grep "! directory:/srv/dave" plan.txt &&
	test_grep "no group named '"'"'staff2'"'"'" plan.txt &&
	plan_predicts_run 6 6 &&
	uid=$(ent passwd dave | cut -d: -f3) &&
	test "$(stat -c "%u %a" root/home/dave/.plan)" = "$uid 600"
'

test_expect_success 'what plan says fails in run: a uid taken, a group nobody makes' '
	mkpol <<-Y &&
	resources:
	  - user: erin
	    uid: 0
	  - user: frank
	    groups: [nosuch]
	  - group: taken
	    gid: 0
	Y
	plan_predicts_run 4 4 &&
	test_grep "uid 0 is already user root" plan.out &&
	test_grep "no group named '"'"'nosuch'"'"'" plan.out &&
	test_grep "gid 0 is already group root" plan.out &&
	! ent passwd erin && ! ent passwd frank && ! ent group taken
'

test_expect_success 'plan reads passwd, shadow and group once for all resources' '
	if ! command -v strace >/dev/null; then
		echo "no strace: skipped" && exit 0
	fi &&
	account_root root &&
	mkpol <<-Y &&
	resources:
	  - group: g1
	  - group: g2
	  - user: u1
	    groups: [g1]
	  - user: u2
	    groups: [g2]
	  - authorized_keys: root
	    keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUiPMM6YzQf3h1Zsnc1W6Jjj+5ov3kckjYUXdiASpcF a@b"]
	Y
	mkdir -p root/root &&
	{ strace -f -qq -o trace -e trace=openat,openat2 "$CONGRUENT" plan \
		--policy pol --root root --state-dir pstate >/dev/null 2>&1 || :; } &&
	for f in passwd shadow group; do
		n=$(grep -c "\"$f\", O_RDONLY.* = [0-9]" trace) &&
		echo "$f $n" && test "$n" -eq 1 || exit 1
	done
'

test_expect_success 'check refuses what cannot be right, never echoing a password' '
	mkpol <<-\Y &&
	resources:
	  - user: Bad:Name
	  - user: gina
	    password: hunter2hunter2
	  - user: hank
	    groups_exclusive: true
	  - user: ivan
	    home: relative/home
	  - user: jane
	    state: absent
	    shell: /bin/sh
	  - group: kgroup
	    gid: -1
	  - user: lena
	    remove_home: true
	  - user: mia
	    uid: 1234
	  - user: nils
	    uid: 1234
	  - group: og1
	    gid: 4321
	  - group: og2
	    gid: 4321
	Y
	test_expect_code 1 cg check pol 2>err &&
	test_grep "roles/base.yaml:2" err &&
	test_grep "invalid user name" err &&
	test_grep "roles/base.yaml:4" err &&
	test_grep "not a crypt hash" err && test_grep "mkpasswd" err &&
	test_grep_not hunter2 err &&
	test_grep "needs groups:" err &&
	test_grep "must be an absolute path" err &&
	test_grep "makes no sense with state: absent" err &&
	test_grep "whole number" err &&
	test_grep "goes with state: absent only" err &&
	test_grep "uid 1234 is asked for by user:mia too (roles/base.yaml:16)" err &&
	test_grep "gid 4321 is asked for by group:og1 too" err
'

test_expect_success 'a group: key of a file is an attribute, not a second type' '
	mkpol <<-Y &&
	resources:
	  - file: /etc/x
	    content: "x\n"
	    group: adm
	  - user: mona
	    group: adm
	Y
	cg check pol
'

test_done
