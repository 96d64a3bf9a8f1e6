#!/bin/sh
# t2849-iptables-revert: orphans: revert of firewall chains in a network
# namespace: a built-in chain's policy put back, an empty chain congruent
# created deleted; of a chain's rules only those congruent added (its
# owned records) are deleted. plan predicts run and changes nothing.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns revert

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [fw]\n' "$1" >policy/site.yaml
}

rules() { nsx iptables-save | sed '/^#/d'; }

test_expect_success 'a policy and an empty chain of congruent'"'"'s' '
	nsx iptables -P FORWARD ACCEPT &&
	rules >fw.before && test_grep ":FORWARD ACCEPT" fw.before &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: FORWARD
	      policy: DROP
	      rules: []
	  - iptables:
	      chain: MINE
	      rules: []
	YAML
	test_expect_code 2 cgi run >out &&
	rules >fw.managed && ! cmp -s fw.before fw.managed &&
	grep -x "iptables:ipv4/filter/MINE	ledger.before	absent" state/records &&
	grep -x "iptables:ipv4/filter/FORWARD	ledger.before	chain rules=0 policy=ACCEPT" state/records
'

test_expect_success 'orphans: revert: plan says it, changes nothing; run puts the firewall back' '
	printf "resources: []\n" >policy/roles/fw.yaml && site "orphans: revert\n" &&
	test_expect_code 2 cgi plan --format json >plan.json &&
	rules >fw.now && test_cmp fw.managed fw.now &&
	test_expect_code 2 cgi run --format json >run.json &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" plan.json >plan.out &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	grep -x "iptables:ipv4/filter/FORWARD	set its policy back to ACCEPT, as before congruent" run.out &&
	grep -x "iptables:ipv4/filter/MINE	delete the empty chain congruent created" run.out &&
	rules >fw.now && test_cmp fw.before fw.now &&
	! grep "^iptables:" state/records
'

test_expect_success 'a chain with rules: only the one congruent added goes' '
	site "" && nsx iptables -A INPUT -p tcp --dport 23 -j ACCEPT &&
	rules >fw.before && ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - -p tcp --dport 23 -j ACCEPT
	        - -p tcp --dport 22 -j ACCEPT
	YAML
	test_expect_code 2 cgi run >out &&
	printf "resources: []\n" >policy/roles/fw.yaml && site "orphans: revert\n" &&
	test_expect_code 2 cgi run >out &&
	test_grep "revert: delete the rules congruent added: -D INPUT -p tcp -m tcp --dport 22 -j ACCEPT (done)" out &&
	rules >fw.now && test_cmp fw.before fw.now &&
	! grep "^iptables:ipv4/filter/INPUT	" state/records
'

test_done
