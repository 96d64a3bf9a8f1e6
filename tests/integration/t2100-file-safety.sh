#!/bin/bash
# t2100-file-safety: symlink and hard-link tricks, things in the way,
# failures that stay local, backups and restore.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

mkpol() {
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	cat >pol/roles/base.yaml
}

fresh_root() {
	rm -rf root && test_make_root root
}

test_expect_success 'a symlink planted where a file belongs is replaced, not written through' '
	fresh_root && mkdir -p root/home/alice outside &&
	echo "precious" >outside/target &&
	ln -s "$TRASH/outside/target" root/home/alice/notes &&
	mkpol <<-Y &&
	resources:
	  - file: /home/alice/notes
	    content: "managed\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >out &&
	test_grep "type symlink -> file" out &&
	test ! -L root/home/alice/notes &&
	test "$(cat root/home/alice/notes)" = managed &&
	test "$(cat outside/target)" = precious
'

test_expect_success 'the planted symlink was kept as a backup and can be restored' '
	cg restore --root root --list /home/alice/notes >list &&
	test_grep "symlink" list &&
	cg restore --root root /home/alice/notes >out &&
	test -L root/home/alice/notes &&
	test "$(readlink root/home/alice/notes)" = "$TRASH/outside/target"
'

test_expect_success 'a hard link to another file is broken, the other file untouched' '
	fresh_root && mkdir -p root/home/alice &&
	printf "secret\n" >root/etc/shadow && chmod 0640 root/etc/shadow &&
	ln root/etc/shadow root/home/alice/linked &&
	mkpol <<-Y &&
	resources:
	  - file: /home/alice/linked
	    mode: "0666"
	Y
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "hard links" out &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	test "$(stat -c %a root/etc/shadow)" = 640 &&
	test "$(stat -c %h root/etc/shadow)" = 1 &&
	test "$(stat -c %a root/home/alice/linked)" = 666 &&
	test "$(cat root/home/alice/linked)" = secret &&
	test "$(cat root/etc/shadow)" = secret
'

test_expect_success 'content through a hard link: the other name keeps its content' '
	fresh_root &&
	echo original >root/etc/a && ln root/etc/a root/etc/b &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/b
	    content: "new\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test "$(cat root/etc/a)" = original &&
	test "$(cat root/etc/b)" = new
'

test_expect_success 'a symlinked directory owned by another user is not followed' '
	fresh_root && mkdir -p root/home/alice root/etc/ssh &&
	echo "root key" >root/etc/ssh/authorized_keys &&
	ln -s /etc/ssh root/home/alice/.ssh &&
	chown -h 1000:1000 root/home/alice/.ssh &&
	mkpol <<-Y &&
	resources:
	  - file: /home/alice/.ssh/authorized_keys
	    content: "alice key\n"
	  - file: /etc/independent
	    content: "still done\n"
	Y
	test_expect_code 6 cg run --policy pol --root root >out 2>err &&
	test_grep "refusing to follow symlink /home/alice/.ssh" out &&
	test "$(cat root/etc/ssh/authorized_keys)" = "root key" &&
	test "$(cat root/etc/independent)" = "still done"
'

test_expect_success 'a symlinked directory owned by root is followed, inside the root' '
	fresh_root && mkdir -p root/usr/lib root/real &&
	ln -s /real root/lib &&
	mkpol <<-Y &&
	resources:
	  - file: /lib/thing.conf
	    content: "x\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test "$(cat root/real/thing.conf)" = x &&
	test ! -e /real/thing.conf
'

test_expect_success 'links with .. never leave the root' '
	fresh_root && mkdir -p root/a &&
	ln -s ../../../../../../../etc root/a/up &&
	mkpol <<-Y &&
	resources:
	  - file: /a/up/congruent-escape-test
	    content: "x\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test -f root/etc/congruent-escape-test &&
	test ! -e /etc/congruent-escape-test
'

test_expect_success 'a FIFO where a file belongs fails that resource, without hanging' '
	fresh_root && mkfifo root/etc/pipe &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/pipe
	    content: "x\n"
	Y
	test_expect_code 4 timeout 10 "$CONGRUENT" run --policy pol --root root >out &&
	test_grep "a special file where the policy wants a file" out &&
	test -p root/etc/pipe
'

test_expect_success 'a directory in the way fails; what requires it is skipped; the rest goes on' '
	fresh_root && mkdir -p root/etc/app.conf &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/app.conf
	    content: "x\n"
	  - symlink: /etc/app-current
	    target: /etc/app.conf
	    requires: [file:/etc/app.conf]
	  - file: /etc/other
	    content: "y\n"
	Y
	test_expect_code 6 cg run --policy pol --root root >out &&
	test_grep "! file:/etc/app.conf" out &&
	test_grep "a directory where the policy wants a file" out &&
	test_grep "? symlink:/etc/app-current" out &&
	test_grep "skipped: it requires file:/etc/app.conf, which failed" out &&
	test ! -e root/etc/app-current &&
	test "$(cat root/etc/other)" = y &&
	jq -e "[.resources[] | .status] == [\"failed\", \"skipped\", \"repaired\"]" \
		root/var/lib/congruent/reports/last-run.json
'

test_expect_success 'every overwrite and delete is kept; restore picks by number or hash' '
	fresh_root &&
	echo v1 >root/etc/motd &&
	for v in v2 v3; do
		mkpol <<-Y || exit 1
		resources:
		  - file: /etc/motd
		    content: "$v\n"
		Y
		test_expect_code 2 cg run --policy pol --root root >/dev/null || exit 1
	done &&
	test "$(cat root/etc/motd)" = v3 &&
	cg restore --root root --list /etc/motd >list &&
	test "$(wc -l <list)" = 2 &&
	cg restore --root root /etc/motd 2 >/dev/null &&
	test "$(cat root/etc/motd)" = v1 &&
	hash=$(printf "v2\n" | sha256sum | cut -c1-10) &&
	cg restore --root root /etc/motd "$hash" >/dev/null &&
	test "$(cat root/etc/motd)" = v2 &&
	test -f root/var/lib/congruent/backups/objects/$(printf "v1\n" | sha256sum | cut -c1-2)/$(printf "v1\n" | sha256sum | cut -c3-64)
'

test_expect_success 'restore keeps owner and mode of the backup' '
	fresh_root &&
	echo old >root/etc/x && chmod 0600 root/etc/x && chown 1:4 root/etc/x &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/x
	    content: "new\n"
	    mode: "0644"
	    owner: root
	    group: root
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test "$(stat -c "%a %u:%g" root/etc/x)" = "644 0:0" &&
	cg restore --root root /etc/x >/dev/null &&
	test "$(stat -c "%a %u:%g" root/etc/x)" = "600 1:4" &&
	test "$(cat root/etc/x)" = old
'

test_expect_success 'restore of an unknown path or backup is a clear error' '
	test_expect_code 1 cg restore --root root /etc/nothing 2>err &&
	test_grep "no backups are kept" err &&
	test_expect_code 1 cg restore --root root /etc/x 99 2>err &&
	test_grep "no backup number 99" err
'

test_expect_success 'deleting a file keeps it first' '
	fresh_root && echo gone >root/etc/old &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/old
	    state: absent
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test ! -e root/etc/old &&
	cg restore --root root /etc/old >/dev/null &&
	test "$(cat root/etc/old)" = gone
'

test_expect_success 'a bind-mounted file is written in place' '
	fresh_root && echo host >hostfile && echo inner >root/etc/resolv.conf &&
	mount --bind hostfile root/etc/resolv.conf &&
	test_cleanup_add "umount \"$TRASH/root/etc/resolv.conf\"" &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/resolv.conf
	    content: "nameserver 192.0.2.1\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >out;
	rc=$?; umount root/etc/resolv.conf; test $rc = 0 &&
	test_grep "written in place" out &&
	test "$(cat hostfile)" = "nameserver 192.0.2.1"
'

test_expect_success 'no temporary files are left behind' '
	test -z "$(find root -name ".*.cg-*")"
'

test_expect_success 'mode and owner are set on existing files without rewriting them' '
	fresh_root && echo same >root/etc/keep && chmod 0600 root/etc/keep &&
	ino=$(stat -c %i root/etc/keep) &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/keep
	    content: "same\n"
	    mode: "0644"
	    group: adm
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	test "$(stat -c "%i %a %G" root/etc/keep)" = "$ino 644 adm"
'

test_expect_success 'an unknown owner fails that resource with a hint' '
	fresh_root &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/f
	    owner: nosuchuser
	Y
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "no user named '\''nosuchuser'\''" out
'

test_expect_success 'a symlink in the image on the state directory path is refused, nothing written' '
	fresh_root && mkdir -p root/var away &&
	ln -s "$TRASH/away" root/var/lib &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/motd
	    content: "hi\n"
	Y
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "a symlink or not a directory" err &&
	test_grep "pass --state-dir" err &&
	test_expect_code 1 cg restore --root root --list 2>err &&
	test_grep "a symlink or not a directory" err &&
	test -z "$(ls -A away)" &&
	! test -e root/etc/motd &&
	rm root/var/lib && mkdir -p root/var/lib/congruent && chmod 0777 root/var/lib/congruent &&
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "writable by others" err &&
	! test -e root/etc/motd
'

test_expect_success 'a policy that does not load leaves no state directory behind' '
	fresh_root &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/motd
	    mdoe: 1
	Y
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "nothing was changed" err &&
	! test -e root/var/lib/congruent
'

test_expect_success 'a 16 GiB sparse file over backup_max_mb: hash only kept, the repair made' '
	fresh_root &&
	mkpol <<-Y &&
	resources:
	  - file: /etc/big
	    content: "small\n"
	Y
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	truncate -s 16G root/etc/big &&
	mkdir -p root/var/lib/congruent/backups/objects &&
	echo half >root/var/lib/congruent/backups/objects/tmp-1-2 &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	test_grep "only its hash was kept" out &&
	test "$(cat root/etc/big)" = small &&
	test "$(du -sk root/var/lib/congruent | cut -f1)" -lt 1024 &&
	! test -e root/var/lib/congruent/backups/objects/tmp-1-2 &&
	cg restore --root root --list /etc/big >list &&
	test_grep "17179869184 bytes (hash only: over backup_max_mb)" list &&
	test_expect_code 1 cg restore --root root /etc/big 1 2>err &&
	test_grep "only the hash of this version was kept" err &&
	test "$(cat root/etc/big)" = small
'

test_expect_success 'a sparse file under the bound is kept sparse, and restores whole' '
	printf "backup_max_mb: 1024\n" >big.yaml &&
	truncate -s 512M root/etc/big && echo tail >>root/etc/big &&
	sum=$(sha256sum <root/etc/big) &&
	test_expect_code 2 cg run -c big.yaml --policy pol --root root >out &&
	test_grep_not "only its hash" out &&
	test "$(du -sk root/var/lib/congruent | cut -f1)" -lt 1024 &&
	cg restore -c big.yaml --root root /etc/big 1 &&
	test "$(sha256sum <root/etc/big)" = "$sum"
'

# The walk is paused (strace delays each readlinkat by a second) while the
# directory holding a root-owned link with ".." is renamed out of the
# root: the second walk, apply's, must still go up inside the root.
if strace -o /dev/null -e inject=readlinkat:delay_exit=1 true 2>/dev/null; then
	test_expect_success 'a directory renamed out of the root mid-walk: ".." stays inside' '
		fresh_root && mkdir -p root/d/sub root/evil evil away2 &&
		ln -s ../../evil root/d/sub/l &&
		mkpol <<-Y &&
		resources:
		  - file: /d/sub/l/f
		    content: "x\n"
		Y
		{ (sleep 1.4; mv root/d/sub away2/sub) & } &&
		mover=$! &&
		{ strace -f -o /dev/null -e trace=readlinkat \
			-e inject=readlinkat:delay_exit=1000000 \
			"$CONGRUENT" run --policy pol --root root >out 2>&1; true; } &&
		wait $mover &&
		! test -e evil/f &&
		test -d away2/sub
	'
else
	test_skip 'a directory renamed out of the root mid-walk' 'strace cannot inject delays here'
fi

test_done
