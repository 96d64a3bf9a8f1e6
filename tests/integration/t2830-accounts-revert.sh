#!/bin/bash
# t2830-accounts-revert: orphans: revert for users and groups on a
# throwaway root (the shadow tools with --prefix): what congruent created
# is removed, what it changed is put back, and the account files are as
# before, byte for byte; plan predicts run.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root
for t in useradd usermod userdel groupadd groupmod groupdel; do
	if ! command -v $t >/dev/null 2>&1 && ! [ -x /usr/sbin/$t ]; then
		echo "1..0 # SKIP needs the shadow tools ($t)"
		trap - EXIT
		rm -rf "$TRASH"
		exit 0
	fi
done

STATE="$TRASH/state"
rec() { cat "$STATE/records" 2>/dev/null; }

# The root as it is, byte for byte: every entry and every file's sha256;
# the shadow tools' own backups (passwd-, group-, ...) are left out.
snapshot() {
	(cd "$1" && find . ! -name "*-" -printf '%y %m %U:%G %s %p -> %l\n' | sort &&
		find . -type f ! -name "*-" -print0 | sort -z | xargs -0 -r sha256sum)
}

outcomes() {
	jq -r '(.resources[] | [.id, (if .status == "repaired" or .status ==
		"drifted" then "changes" else .status end)] | @tsv),
		(.orphans[] | [.id, .status, .revert] | @tsv)' "$1"
}

# orphans: in the class this time (the class's wins over site.yaml's).
site() {
	printf 'orphans: report\nclasses:\n  - match: "*"\n    roles: [base]\n%b' \
		"${1:+    $1}" >pol/site.yaml
}

rm -rf pol && mkdir -p pol/roles && site "" &&
test_make_root root &&
printf 'UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\nUSERGROUPS_ENAB yes\nHOME_MODE 0700\n' >root/etc/login.defs &&
printf 'bob:x:1200:1200:Bob:/home/bob:/bin/sh\ncarl:x:1250:1200::/home/carl:/bin/sh\n' >>root/etc/passwd &&
printf 'bob:x:1200:\nstaff:x:1300:\nops:x:1400:\n' >>root/etc/group &&
printf 'root:*:19000:0:99999:7:::\nbob:*:19000:0:99999:7:::\n' >root/etc/shadow &&
printf 'root:*::\nbob:!::\nstaff:!::\nops:!::\n' >root/etc/gshadow &&
chmod 640 root/etc/shadow root/etc/gshadow && mkdir -p root/home &&
mkdir -m 755 root/home/bob root/home/carl && chown 1200:1200 root/home/bob &&
mkdir -m 700 root/home/carl/.ssh && chown 1250:1200 root/home/carl root/home/carl/.ssh &&
for k in k1 k2 k3; do ssh-keygen -q -t ed25519 -N "" -C "$k@test" -f $k || exit 1; done &&
{ echo "# carl's own"; cat k1.pub; } >root/home/carl/.ssh/authorized_keys &&
chown 1250:1200 root/home/carl/.ssh/authorized_keys &&
chmod 640 root/home/carl/.ssh/authorized_keys &&
snapshot root >snap.before

run() { cg "$@" --policy pol --root root --state-dir "$STATE"; }

test_expect_success 'users and groups made and changed; the ledger knows what was before' '
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - group: web
	    gid: 2000
	  - user: alice
	    uid: 1500
	    group: web
	    groups: [ops]
	    shell: /bin/bash
	    comment: "Alice Example"
	    create_home: false
	  - user: bob
	    uid: 1201
	    shell: /bin/bash
	    groups: [staff]
	    comment: "Bob Changed"
	  - group: ops
	    gid: 1401
	Y
	test_expect_code 2 run run >out &&
	rec | grep -x "user:alice	ledger.before	absent" &&
	rec | grep -x "group:web	ledger.before	absent" &&
	rec | grep -x "user:bob	ledger.before	user uid=1200 gid=1200 groups=- shell=/bin/sh home=/home/bob comment=Bob" &&
	rec | grep -x "group:ops	ledger.before	group gid=1400" &&
	grep "^alice:x:1500:2000:" root/etc/passwd &&
	grep "^bob:x:1201:1200:Bob Changed:/home/bob:/bin/bash" root/etc/passwd
'

test_expect_success 'out of the policy, orphans: revert: plan predicts run, and the files are as before' '
	printf "resources: []\n" >pol/roles/base.yaml && site "orphans: revert\n" &&
	rm -rf p && mkdir p && cp -a root p/root && cp -a "$STATE" p/state &&
	snapshot p/root >p.before &&
	test_expect_code 2 cg plan --format json --policy pol --root p/root \
		--state-dir p/state >plan.json &&
	snapshot p/root >p.after && test_cmp p.before p.after &&
	test_expect_code 2 run run --format json >run.json &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	sed "s/	drifted	/	repaired	/" plan.out >plan.want && test_cmp plan.want run.out &&
	grep -x "user:alice	repaired	remove the user (created by congruent at local); its home /home/alice stays if it is there" run.out &&
	grep -x "group:web	repaired	remove the group (created by congruent at local)" run.out &&
	grep "^user:bob	repaired	put back uid 1200, group 1200, groups (none), shell /bin/sh, home /home/bob" run.out &&
	grep -x "group:ops	repaired	put back gid 1400, as before congruent" run.out &&
	snapshot root >snap.now && test_cmp snap.before snap.now &&
	! rec | grep "ledger\\."
'

test_expect_success 'authorized_keys: the keys congruent added go; the file and .ssh it made go; the rest stays' '
	site "" && cat >pol/roles/base.yaml <<-Y &&
	resources:
	  - authorized_keys: bob
	    keys: ["$(cat k2.pub)"]
	  - authorized_keys: carl
	    keys: ["$(cat k1.pub)", "$(cat k2.pub)", "$(cat k3.pub)"]
	Y
	test_expect_code 2 run run >out &&
	test "$(grep -c ssh-ed25519 root/home/carl/.ssh/authorized_keys)" = 3 &&
	test -f root/home/bob/.ssh/authorized_keys &&
	rec | grep -x "authorized_keys:bob	ledger.before	ssh=absent" &&
	rec | grep -x "authorized_keys:carl	ledger.before	ssh=0700:1250:1200 file=0640:1250:1200" &&
	test "$(rec | grep "^authorized_keys:carl	ledger.keys	" | cut -f3 | wc -w)" = 2 &&
	printf "resources: []\n" >pol/roles/base.yaml && site "orphans: revert\n" &&
	test_expect_code 2 run plan >plan.txt &&
	test_grep "revert: remove the 1 key congruent added, and the file it created, and the .ssh it created" plan.txt &&
	test_grep "revert: remove the 2 keys congruent added; put back the file" plan.txt &&
	test_expect_code 2 run run >out &&
	snapshot root >snap.now && test_cmp snap.before snap.now &&
	! rec | grep "^authorized_keys:"
'

test_expect_success 'a key the user added by hand meanwhile stays, and so does the file' '
	site "" && cat >pol/roles/base.yaml <<-Y &&
	resources:
	  - authorized_keys: bob
	    keys: ["$(cat k2.pub)"]
	Y
	test_expect_code 2 run run >out &&
	cat k3.pub >>root/home/bob/.ssh/authorized_keys &&
	printf "resources: []\n" >pol/roles/base.yaml && site "orphans: revert\n" &&
	test_expect_code 2 run run >out &&
	test_grep "revert: remove the 1 key congruent added (done)" out &&
	test "$(cat root/home/bob/.ssh/authorized_keys)" = "$(cat k3.pub)" &&
	rm -r root/home/bob/.ssh
'

test_expect_success 'a group that is still a user'"'"'s primary group is kept, saying so' '
	site "" && cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - group: web
	    gid: 2000
	Y
	test_expect_code 2 run run >/dev/null &&
	sed -i "s/^bob:x:1200:1200:/bob:x:1200:2000:/" root/etc/passwd &&
	printf "resources: []\n" >pol/roles/base.yaml && site "orphans: revert\n" &&
	test_expect_code 0 run run >out &&
	test_grep "revert: keep: it is the primary group of user bob" out &&
	rec | grep "^group:web	ledger.since" &&
	sed -i "s/^bob:x:1200:2000:/bob:x:1200:1200:/" root/etc/passwd &&
	test_expect_code 2 run run >out &&
	! rec | grep "^group:web" &&
	snapshot root >snap.now && test_cmp snap.before snap.now
'

test_done
