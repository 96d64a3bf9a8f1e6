#!/bin/bash
# t2700-file-xattrs: what a content change keeps of the old file's
# extended attributes, per namespace; plan says what run does.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

if ! command -v setfattr >/dev/null || ! command -v getfattr >/dev/null ||
	! command -v setcap >/dev/null; then
	test_skip 'extended attributes' 'setfattr/getfattr (attr) or setcap (libcap2-bin) missing'
	test_done
	exit
fi
mkdir probe && touch probe/f
if ! setfattr -n trusted.cg -v 1 probe/f 2>/dev/null ||
	! setfattr -n user.cg -v 1 probe/f 2>/dev/null; then
	test_skip 'extended attributes' "the file system of $TRASH has no trusted.* or user.* attributes"
	test_done
	exit
fi

mkpol() {
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	cat >pol/roles/base.yaml
}

# id, status (drifted and repaired both "changes") and note, per resource.
outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end), (.note // "")] | @tsv' "$1"
}

# A POSIX ACL in the kernel's xattr format (version 2, little-endian):
# user::rw- user:1000:r-- group::r-- mask::r-- other::---.
acl=0x02000000
for e in "0100 0600 ffffffff" "0200 0400 e8030000" "0400 0400 ffffffff" \
	"1000 0400 ffffffff" "2000 0000 ffffffff"; do
	set -- $e
	acl=$acl$1$2$3
done

fresh() {
	rm -rf root state && test_make_root root && mkdir -p root/bin &&
	echo old >root/bin/ping && setcap cap_net_raw+ep root/bin/ping &&
	echo old >root/etc/labelled &&
	setfattr -n security.cglabel -v system_u:object_r:etc_t root/etc/labelled &&
	echo old >root/etc/many &&
	setfattr -n trusted.cg -v kept root/etc/many &&
	setfattr -n user.cg -v kept root/etc/many &&
	setfattr -n system.posix_acl_access -v $acl root/etc/many
}

mkpol <<-Y
resources:
  - file: /bin/ping
    content: "new\n"
  - file: /etc/labelled
    content: "new\n"
  - file: /etc/many
    content: "new\n"
Y

test_expect_success 'plan says file capabilities go with the old content; run agrees' '
	fresh &&
	test_expect_code 2 cg plan --format json --policy pol --root root \
		--state-dir state >plan.json &&
	test_expect_code 2 cg run --format json --policy pol --root root \
		--state-dir state >run.json 2>err &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out &&
	test_grep "file:/bin/ping	changes	its file capabilities (security.capability) go with the old content" run.out &&
	test_grep "repaired file:/bin/ping (roles/base.yaml:2): update: content (its file capabilities" err &&
	test "$(cat root/bin/ping)" = new &&
	test -z "$(getcap root/bin/ping)"
'

test_expect_success 'security.* labels, trusted.*, user.* and ACLs are kept' '
	test "$(cat root/etc/labelled root/etc/many)" = "new
new" &&
	test "$(getfattr --only-values -n security.cglabel root/etc/labelled)" = system_u:object_r:etc_t &&
	test "$(getfattr --only-values -n trusted.cg root/etc/many)" = kept &&
	test "$(getfattr --only-values -n user.cg root/etc/many)" = kept &&
	getfattr -e hex -n system.posix_acl_access root/etc/many >acl.out &&
	test_grep "system.posix_acl_access=$acl" acl.out
'

test_expect_success 'the next run finds everything congruent' '
	test_expect_code 0 cg run --policy pol --root root --state-dir state >out
'

# Without CAP_SYS_ADMIN (a unit's bounding set) run may not set security.*
# labels other than an LSM's own: it must not fail on every run for that.
test_expect_success 'a label the kernel refuses to set is named in a note, and the change made' '
	fresh &&
	test_expect_code 2 cg plan --format json --policy pol --root root \
		--state-dir state >plan.json &&
	test_expect_code 2 capsh --drop=cap_sys_admin -- -c \
		"\"$CONGRUENT\" run --format json --policy pol --root root --state-dir state" >run.json 2>err &&
	outcomes plan.json | cut -f1,2 >plan.out &&
	outcomes run.json | cut -f1,2 >run.out &&
	test_cmp plan.out run.out &&
	outcomes run.json >notes &&
	test_grep "file:/etc/labelled	changes	extended attributes not kept: security.cglabel (Operation not permitted)" notes &&
	test "$(cat root/etc/labelled)" = new &&
	test_expect_code 0 capsh --drop=cap_sys_admin -- -c \
		"\"$CONGRUENT\" run --policy pol --root root --state-dir state" >out
'

test_done
