#!/bin/bash
# t2600-file-in-place: a bind-mounted file cannot be renamed over, so it is
# written in place: plan and run say it is not atomic, the old content is
# kept first, and only the copy of a finished temporary is exposed.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

if ! unshare -m --propagation private true 2>/dev/null; then
	test_skip 'in-place writes' 'no private mount namespace (unshare -m)'
	test_done
	exit
fi

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end), (.note // "")] | @tsv' "$1"
}

NOTE="a mount point: the content is written in place, not atomically; the old content is kept in the backups"

rm -rf pol && mkdir -p pol/roles &&
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
cat >pol/roles/base.yaml <<'Y'
resources:
  - file: /etc/resolv.conf
    content: "nameserver 192.0.2.1\n"
    mode: "0644"
Y
test_make_root root && echo "inner" >root/etc/resolv.conf &&
printf 'nameserver 198.51.100.7\n' >hostfile && chmod 0600 hostfile

# Everything that needs the mount runs in one private mount namespace, so
# that the bind mount goes with it whatever happens here.
cat >inns.sh <<EOF
set -e
mount --bind hostfile root/etc/resolv.conf
"$CONGRUENT" plan --format json --policy pol --root root >plan.json && rc=0 || rc=\$?
echo \$rc >plan.rc
"$CONGRUENT" run --format json --policy pol --root root >run.json 2>run.err && rc=0 || rc=\$?
echo \$rc >run.rc
cp root/var/lib/congruent/reports/last-run.json report.json
"$CONGRUENT" restore --root root --list /etc/resolv.conf >list
"$CONGRUENT" run --policy pol --root root >again.out 2>&1 && rc=0 || rc=\$?
echo \$rc >again.rc
EOF

test_expect_success 'plan and run say the write is not atomic; the mount stays, with the new content' '
	unshare -m --propagation private bash inns.sh &&
	test "$(cat plan.rc) $(cat run.rc) $(cat again.rc)" = "2 2 0" &&
	outcomes plan.json >plan.out && outcomes run.json >run.out &&
	test_cmp plan.out run.out &&
	printf "file:/etc/resolv.conf\tchanges\t%s\n" "$NOTE" >want &&
	test_cmp want run.out &&
	test_grep "repaired file:/etc/resolv.conf (roles/base.yaml:2): update: content, mode ($NOTE)" run.err &&
	jq -e ".resources[0].note == \"$NOTE\"" report.json &&
	test "$(cat hostfile)" = "nameserver 192.0.2.1" &&
	test "$(stat -c %a hostfile)" = 644 &&
	test "$(cat root/etc/resolv.conf)" = inner &&
	test -z "$(find root -name ".*.cg-*")"
'

test_expect_success 'the old content was kept before the in-place write' '
	test "$(wc -l <list)" = 1 &&
	test_grep "600" list &&
	test_grep "$(printf "nameserver 198.51.100.7\n" | sha256sum | cut -c1-10)" list
'

cat >restore.sh <<EOF
set -e
mount --bind hostfile root/etc/resolv.conf
"$CONGRUENT" restore --root root /etc/resolv.conf
EOF

test_expect_success 'restore puts the old content back through the mount' '
	unshare -m --propagation private bash restore.sh >out 2>&1 &&
	test "$(cat hostfile)" = "nameserver 198.51.100.7" &&
	test -z "$(find root -name ".*.cg-*")"
'

test_done
