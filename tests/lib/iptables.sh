# iptables.sh: what the iptables tests share, after lib.sh.
#
# Every test works in network namespaces it makes (cgtest-PID-NAME) and
# deletes at exit; congruent always gets --netns. Nothing here touches
# this machine's own firewall.

test_require_root
# A network namespace to work in: CAP_SYS_ADMIN to make it,
# CAP_NET_ADMIN for its firewall.
test_require_cap CAP_NET_ADMIN CAP_SYS_ADMIN
for _t in ip iptables iptables-save ip6tables-save unshare; do
	if ! command -v "$_t" >/dev/null 2>&1; then
		echo "1..0 # SKIP $_t is not installed"
		trap - EXIT
		rm -rf "$TRASH"
		exit 0
	fi
done
if ! ip netns add "cgtest-$$-probe" 2>/dev/null; then
	echo "1..0 # SKIP cannot make network namespaces here"
	trap - EXIT
	rm -rf "$TRASH"
	exit 0
fi
ip netns delete "cgtest-$$-probe"
# At exit, every namespace of this test, also those made inside a test
# body (a subshell, whose test_cleanup_add the script never sees).
test_cleanup_add "ip netns list | awk '{ print \$1 }' | grep '^cgtest-$$-' |
	while read -r _n; do ip netns delete \"\$_n\"; done"

# Make namespace cgtest-PID-$1 and make it the current one ($NS).
ipt_netns() {
	NS="cgtest-$$-$1"
	ip netns add "$NS" || return 1
	test_cleanup_add "ip netns delete '$NS'"
}

# Run a command in the current namespace.
nsx() {
	ip netns exec "$NS" "$@"
}

# The ruleset of the namespace, with counters, without the timestamps.
ipt_dump() {
	nsx iptables-save -c "$@" | sed '/^#/d'
}
ip6t_dump() {
	nsx ip6tables-save -c "$@" | sed '/^#/d'
}

# Write policy/ with one role, fw, whose resources are on stdin.
ipt_policy() {
	mkdir -p policy/roles
	printf 'classes:\n  - match: "*"\n    roles: [fw]\n' >policy/site.yaml
	{
		echo "resources:"
		cat
	} >policy/roles/fw.yaml
}

# congruent plan/run/check on policy/ in the current namespace.
cgi() {
	_cmd=$1
	shift
	[ -n "$NS" ] || { echo "cgi: no namespace" >&2; return 1; }
	cg "$_cmd" --policy policy --netns "$NS" --state-dir state "$@"
}

# A fake iptables-restore, first in PATH, that runs $TRASH/bin/hook (a
# shell snippet, with the script on stdin and in $SCRIPT) instead of the
# real one, but only inside the current namespace: scratch namespaces
# (canonical forms) get the real tool. The hook runs $REAL itself.
ipt_hook_restore() {
	mkdir -p "$TRASH/bin"
	nsx readlink /proc/self/ns/net >"$TRASH/bin/target-ns"
	_real=$(command -v iptables-nft-restore)
	cat >"$TRASH/bin/iptables-nft-restore" <<EOF
#!/bin/sh
REAL=$_real
TRASH=$TRASH
if [ "\$(readlink /proc/self/ns/net)" != "\$(cat $TRASH/bin/target-ns)" ]; then
	exec "\$REAL" "\$@"
fi
SCRIPT=\$(cat)
echo x >>$TRASH/bin/calls
. $TRASH/bin/hook
EOF
	chmod +x "$TRASH/bin/iptables-nft-restore"
	cat >"$TRASH/bin/hook"
}

# plan, then run, both --format json, in the current namespace: each must
# exit $1, and plan's predicted outcome of each resource (drifted: run
# repairs it) and its message must be run's. Leaves plan.json, run.json.
ipt_plan_predicts_run() {
	_want=$1
	shift
	test_expect_code "$_want" cgi plan --format json "$@" >plan.json &&
	test_expect_code "$_want" cgi run --format json "$@" >run.json &&
	jq -r '.resources[] | "\(.id) \(.status) \(.error.message // "")"' \
		plan.json | sed 's/^\([^ ]*\) drifted /\1 repaired /' \
		>plan.outcome &&
	jq -r '.resources[] | "\(.id) \(.status) \(.error.message // "")"' \
		run.json >run.outcome &&
	test_cmp plan.outcome run.outcome
}
