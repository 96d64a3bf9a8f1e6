#!/bin/bash
# t8100-plan-readonly: plan reads what it needs, then diffs in a sandbox
# that cannot write: no write under strace, identical snapshots of a root,
# a firewall and a package database, and the sandbox seen from outside.
. "$(dirname "$0")/../lib/lib.sh"
test_require_cap CAP_SYS_ADMIN
test_require_root

FSWRITES="perl $TOP/tests/lib/fswrites.pl"
NS=cgops-$$-plan
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

# Everything about a tree that a write could change: type, mode, owner,
# size, mtime, ctime (which any chmod, chown, link or xattr change moves),
# inode, links, symlink target; then the SHA-256 of every file.
snapshot() { # DIR OUT
	(cd "$1" &&
		find . -printf '%y %m %U:%G %s %T@ %C@ %i %n %p -> %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$2"
}

firewall() { # OUT
	{
		ip netns exec "$NS" iptables-save | grep -v '^#'
		ip netns exec "$NS" ip6tables-save | grep -v '^#'
	} >"$1"
}

# The root: files to change, to create, to remove, one only root may read
# (its content shows in the plan: phase one read it), a package database.
test_make_root root
mkdir -p root/etc/ssh root/srv root/var/lib/dpkg root/etc/secret
printf 'old motd\n' >root/etc/motd
printf 'PermitRootLogin yes\n' >root/etc/ssh/sshd_config
printf 'token=old\n' >root/etc/secret/token
chown 1:1 root/etc/secret root/etc/secret/token
chmod 0700 root/etc/secret
chmod 0600 root/etc/secret/token
printf 'stale\n' >root/srv/stale
ln -s /old/target root/srv/link
mkdir root/srv/not-a-file
cp /var/lib/dpkg/status root/var/lib/dpkg/status
mkdir -p pol/roles pol/templates
printf 'classes:\n  - match: "*"\n    roles: [base]\nvars:\n  who: ops\n' >pol/site.yaml
printf 'managed by {{ who }} on {{ hostname }}\n' >pol/templates/motd
cat >pol/roles/base.yaml <<'Y'
resources:
  - file: /etc/motd
    template: templates/motd
    mode: "0644"
  - file: /etc/ssh/sshd_config
    content: "PermitRootLogin no\n"
    mode: "0600"
  - file: /etc/secret/token
    content: "token=new\n"
  - directory: /srv/www
    mode: "0750"
  - symlink: /srv/link
    target: /new/target
  - file: /srv/stale
    state: absent
  - file: /srv/not-a-file
    content: "x\n"
  - file: /etc/hostname-copy
    content: "same\n"
Y
printf 'same\n' >root/etc/hostname-copy

ip netns add "$NS" || exit 1
test_cleanup_add "ip netns delete $NS"
ip netns exec "$NS" iptables -A INPUT -p tcp --dport 22 -j ACCEPT
ip netns exec "$NS" iptables -P FORWARD DROP
ip netns exec "$NS" ip6tables -A INPUT -p tcp --dport 443 -j ACCEPT

plan() {
	cg plan --policy pol --root root --netns "$NS" --hostname web-1 "$@"
}

test_expect_success 'plan finds the drift, reading a file only root may read' '
	snapshot root before.root && firewall before.fw &&
	cp root/var/lib/dpkg/status before.dpkg &&
	test_expect_code 6 plan >out 2>err &&
	test_grep "~ file:/etc/motd" out &&
	test_grep "+managed by ops on web-1" out &&
	test_grep "~ file:/etc/secret/token" out &&
	test_grep "+token=new" out &&
	test_grep "-token=old" out &&
	test_grep "+ directory:/srv/www" out &&
	test_grep "~ symlink:/srv/link" out &&
	test_grep "- file:/srv/stale" out &&
	test_grep "! file:/srv/not-a-file" out &&
	test_grep "a directory where the policy wants a file" out &&
	test_grep "plan: 6 to change, 1 ok, 1 failed, 0 skipped" out
'

test_expect_success 'and changed nothing: the root, the firewall, the package database' '
	snapshot root after.root && firewall after.fw &&
	test_cmp before.root after.root &&
	test_cmp before.fw after.fw &&
	cmp before.dpkg root/var/lib/dpkg/status &&
	test ! -e root/var/lib/congruent &&
	grep -q -- "--dport 22 -j ACCEPT" after.fw &&
	findmnt -n -o OPTIONS / | grep -q "^rw"
'

test_expect_success 'plan --format json carries the same outcomes through the sandbox' '
	test_expect_code 6 plan --format json >out.json &&
	jq -e ".summary | {ok, drifted, repaired, failed, skipped, extra} == {ok: 1, drifted: 6, repaired: 0, failed: 1, skipped: 0, extra: 0}" out.json &&
	jq -e "[.resources[] | select(.id == \"file:/etc/secret/token\")][0].changes[0] | .field == \"content\" and (.diff | test(\"token=new\"))" out.json &&
	jq -e "[.resources[] | select(.id == \"file:/srv/not-a-file\")][0].error.message | test(\"directory\")" out.json &&
	jq -e "[.resources[] | select(.id == \"symlink:/srv/link\")][0] | .action == \"update\" and .changes[0].to == \"/new/target\"" out.json &&
	jq -e ".fingerprint | length == 64" out.json
'

test_expect_success 'plan -v says what the sandbox was' '
	test_expect_code 6 plan -v >out 2>err &&
	test_grep "capabilities kept for the modules: cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_sys_admin" err &&
	test_grep "plan diffed in a sandbox: uid 65534, no capabilities (bounding set empty), no_new_privs" err &&
	test_grep "mounts read-only and nodev, no network" err
'

test_expect_success 'under strace: not one write to the filesystem, by any process' '
	snapshot root before.root &&
	{ ASAN_OPTIONS=detect_leaks=0 strace -f -qq -y -s 256 -o trace \
		-e trace=$($FSWRITES --syscalls) \
		"$CONGRUENT" plan --policy pol --root root --netns "$NS" \
		--hostname web-1 2>&1; echo "exit $?"; } | cat >out &&
	test_grep "exit 6" out &&
	test_grep "+token=new" out &&
	grep -c . trace &&
	$FSWRITES --expect-sandbox trace &&
	snapshot root after.root &&
	test_cmp before.root after.root
'

test_expect_success 'output is the same as without strace' '
	sed "s/ ([0-9.]* s)\$//; /^exit /d" out >a &&
	{ plan 2>&1 || true; } | sed "s/ ([0-9.]* s)\$//" >b &&
	test_cmp a b
'

test_expect_success 'the checker does find writes (run, under the same strace)' '
	cp -a root root-run &&
	{ ASAN_OPTIONS=detect_leaks=0 strace -f -qq -y -s 256 -o trace.run \
		-e trace=$($FSWRITES --syscalls) \
		"$CONGRUENT" run --policy pol --root root-run --hostname web-1 2>&1; } | cat >out &&
	! $FSWRITES trace.run >writes &&
	test_grep "renameat(" writes &&
	test_grep "root-run/etc/.motd.cg-" writes &&
	test_grep "unlinkat(" writes
'

# strace holds each process for a while at its exit: long enough to look
# at the sandboxed child from outside.
test_expect_success 'the sandboxed child seen from outside: uid 65534, no capability, read-only mounts, own namespaces' '
	{ ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
		-e trace=exit_group -e inject=exit_group:delay_enter=3000000 \
		"$CONGRUENT" plan --policy pol --root root --netns "$NS" >/dev/null 2>&1 & } &&
	tracer=$! &&
	agent= && child= && i=0 &&
	while [ -z "$child" ] && [ $i -lt 200 ]; do
		agent=$(pgrep -P $tracer | head -n 1) || true
		[ -z "$agent" ] || child=$(pgrep -P $agent | head -n 1) || true
		sleep 0.02; i=$((i + 1))
	done &&
	test -n "$child" &&
	i=0 &&
	while ! grep -q "^Uid:[[:space:]]*65534" /proc/$child/status && [ $i -lt 200 ]; do
		sleep 0.02; i=$((i + 1))
	done &&
	cp /proc/$child/status status &&
	cp /proc/$child/mountinfo mountinfo &&
	readlink /proc/$child/ns/mnt /proc/$child/ns/net >ns.child &&
	readlink /proc/$agent/ns/mnt /proc/$agent/ns/net >ns.agent &&
	wait $tracer || true
	cat status &&
	grep -E "^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534" status &&
	grep -E "^Gid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534" status &&
	grep -E "^Groups:[[:space:]]*$" status &&
	for s in CapInh CapPrm CapEff CapBnd CapAmb; do
		grep -E "^$s:[[:space:]]+0000000000000000$" status || exit 1
	done &&
	grep -E "^NoNewPrivs:[[:space:]]+1" status &&
	test -s mountinfo &&
	! awk "{ print \$6 }" mountinfo | grep -v "^ro," | grep -v "^ro\$" &&
	! awk "{ print \$6 }" mountinfo | grep -v nodev &&
	paste ns.child ns.agent >ns &&
	! awk "\$1 == \$2" ns | grep .
'

test_expect_success 'plan with a git source: it may write its cache and lock first, nothing once sandboxed' '
	git init -q -b main work &&
	cp -r pol/. work/ &&
	git -C work add -A && git -C work commit -q -m v1 &&
	git clone -q --bare work origin.git &&
	printf "source:\n  url: %s\n  branch: main\n" "$TRASH/origin.git" >agent.yaml &&
	cp -a root root-git &&
	test_expect_code 6 cg run -c agent.yaml --root root-git --state-dir "$TRASH/state" --hostname web-1 >/dev/null &&
	echo drift >root-git/etc/motd &&
	snapshot root-git before.git &&
	{ ASAN_OPTIONS=detect_leaks=0 strace -f -qq -y -s 256 -o trace.git \
		-e trace=$($FSWRITES --syscalls) \
		"$CONGRUENT" plan -c agent.yaml --root root-git --state-dir "$TRASH/state" \
		--hostname web-1 --no-pull 2>&1; echo "exit $?"; } | cat >out &&
	test_grep "exit 6" out &&
	test_grep "~ file:/etc/motd" out &&
	$FSWRITES --expect-sandbox --allow "$TRASH/state/" trace.git &&
	snapshot root-git after.git &&
	test_cmp before.git after.git
'

test_expect_success 'plan as root without the capabilities for its sandbox fails closed' '
	command -v capsh >/dev/null || exit 0
	test_expect_code 1 capsh --drop=cap_sys_admin -- -c \
		"exec \"$CONGRUENT\" plan --policy pol --root root" >out 2>err &&
	test_grep "cannot enter the read-only sandbox" err &&
	test_grep "CapabilityBoundingSet" err &&
	test ! -s out
'

test_expect_success 'plan as a user diffs in a user namespace of its own' '
	command -v setpriv >/dev/null || exit 0
	if ! unshare -U true 2>/dev/null; then exit 0; fi
	mkdir -p user && cp -r pol user/pol && test_make_root user/root &&
	mkdir -p user/root/etc/ssh user/root/etc/secret &&
	printf "old\n" >user/root/etc/motd &&
	chmod -R a+rX user && chmod a+rx "$TRASH" &&
	rc=0 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$CONGRUENT" plan -v --policy user/pol --root user/root >out 2>err ||
		rc=$? &&
	cat err &&
	test $rc = 2 &&
	test_grep "plan diffed in a sandbox: uid 65534" err &&
	test_grep "~ file:/etc/motd" out
'

test_done
