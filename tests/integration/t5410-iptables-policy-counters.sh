#!/bin/sh
# t5410: the counters of built-in chains survive a change: setting a
# chain's policy keeps its counters, and on the legacy backend (which
# rewrites the whole table) a change of any chain keeps the policy
# counters of every built-in chain. Both backends.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
for t in iptables-nft iptables-legacy iptables-legacy-save \
	iptables-legacy-restore iptables-nft-save iptables-nft-restore; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t is not installed"
		exit 0
	fi
done
mkdir legacy-bin nft-bin
ln -s "$(command -v iptables-legacy)" legacy-bin/iptables
ln -s "$(command -v iptables-nft)" nft-bin/iptables

cat >counted.rules <<'EOF'
*filter
:INPUT ACCEPT [1000:64000]
:FORWARD ACCEPT [50:2500]
:OUTPUT ACCEPT [700:35000]
[12:720] -A INPUT -s 192.0.2.50/32 -j DROP
COMMIT
*mangle
:PREROUTING ACCEPT [1100:70000]
:INPUT ACCEPT [1000:64000]
:FORWARD ACCEPT [50:2500]
:OUTPUT ACCEPT [700:35000]
:POSTROUTING ACCEPT [750:37500]
COMMIT
EOF

policy() {
	ipt_policy <<-YAML
	  - iptables:
	      chain: INPUT
	      policy: $1
	      rules:
	        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	        - -p tcp --dport 22 -j ACCEPT
	  - iptables:
	      chain: OUTPUT
	      rules: [$2]
	YAML
}

# The policy lines of filter, then mangle's (prefixed), with counters.
heads() {
	nsx iptables-$1-save -c -t filter | grep "^:" &&
	nsx iptables-$1-save -c -t mangle | grep "^:" | sed "s/^/mangle/"
}

for be in nft legacy; do
	ipt_netns $be
	NS=

	test_expect_success "$be: built-in chains with counters" '
		NS=cgtest-$$-'$be' &&
		nsx iptables-'$be'-restore -c <counted.rules &&
		heads '$be' >'$be'.before
	'

	test_expect_success "$be: policy DROP keeps the counters of INPUT and the others" '
		NS=cgtest-$$-'$be' &&
		policy DROP "" &&
		PATH="$TRASH/'$be'-bin:$PATH" ipt_plan_predicts_run 2 &&
		heads '$be' >after &&
		sed "s/^:INPUT ACCEPT /:INPUT DROP /" '$be'.before >expect &&
		test_cmp expect after &&
		nsx iptables-'$be'-save -c >all &&
		test_grep "[12:720] -A INPUT -s 192.0.2.50/32 -j DROP" all
	'

	test_expect_success "$be: a rule in another chain keeps every policy counter" '
		NS=cgtest-$$-'$be' &&
		policy DROP "-d 198.51.100.1 -j REJECT" &&
		PATH="$TRASH/'$be'-bin:$PATH" ipt_plan_predicts_run 2 &&
		heads '$be' >after &&
		test_cmp expect after
	'

	test_expect_success "$be: and back to ACCEPT" '
		NS=cgtest-$$-'$be' &&
		policy ACCEPT "" &&
		PATH="$TRASH/'$be'-bin:$PATH" ipt_plan_predicts_run 2 &&
		heads '$be' >after &&
		test_cmp '$be'.before after &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run
	'

	test_expect_success "$be: a change rolled back (a canary fails) keeps them too" '
		NS=cgtest-$$-'$be' &&
		printf "firewall:\n  guard_seconds: 30\n  canaries:\n    - command: [\"false\"]\n" >fail.yaml &&
		policy DROP "" &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 4 cgi run -c fail.yaml >out &&
		test_grep "rolled back" out &&
		heads '$be' >after &&
		test_cmp '$be'.before after
	'

	test_expect_success "$be: and so does the guard undoing it when the agent is killed" '
		NS=cgtest-$$-'$be'
		rm -f "$TRASH/applied-'$be'"
		printf "firewall:\n  guard_seconds: 60\n  canaries:\n    - command: [sh, -c, \"touch $TRASH/applied-'$be'; sleep 30\"]\n" >kill.yaml
		(PATH="$TRASH/'$be'-bin:$PATH" exec "$CONGRUENT" run -c kill.yaml --policy policy --netns "$NS" --state-dir state >/dev/null 2>&1) &
		agent=$!
		for i in $(seq 100); do [ -e "$TRASH/applied-'$be'" ] && break; sleep 0.1; done
		applied=0
		test -e "$TRASH/applied-'$be'" &&
			nsx iptables-'$be'-save | grep -q "^:INPUT DROP" && applied=1
		kill -9 $agent
		test $applied = 1 &&
		for i in $(seq 50); do
			nsx iptables-'$be'-save | grep -q "^:INPUT DROP" || break
			sleep 0.1
		done &&
		heads '$be' >after &&
		test_cmp '$be'.before after
	'
done

test_done
