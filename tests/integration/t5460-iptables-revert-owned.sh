#!/bin/sh
# t5460: orphans: revert of chains shared with fail2ban-like and
# Docker-like rules, on both backends: exactly the rules congruent added
# (its owned tags) are deleted, in one restore per table, a chain it
# created goes once empty, a built-in chain's policy is put back; every
# other rule stays, counters byte-identical. plan lists each rule and
# predicts run. congruent forget drops the owned records.
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

managed() {
	ipt_policy <<-\YAML
	  - iptables:
	      chain: INPUT
	      policy: DROP
	      rules:
	        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	        - -p tcp --dport 8080 -j ACCEPT
	        - -p tcp --dport 9000 -j ACCEPT
	  - iptables:
	      chain: FORWARD
	      rules:
	        - -s 10.9.0.0/16 -j DROP
	  - iptables:
	      chain: CGMINE
	      rules:
	        - -s 10.7.0.0/16 -j RETURN
	YAML
}

# Every line of the ruleset congruent did not add, with counters.
foreign() {
	grep -v -e "dport 8080 " -e "dport 9000 " -e "-A INPUT -m conntrack" \
		-e "10.9.0.0/16" -e "CGMINE" -e "^:INPUT" "$1"
}

for be in nft legacy; do
	test_expect_success "$be: managed in chains shared with fail2ban and Docker" '
		rm -rf state && ipt_netns '$be' &&
		nsx iptables-'$be'-restore -c <"$TOP/tests/fixtures/owned/shared.rules" &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >'$be'.0 &&
		managed &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi run &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >'$be'.1 &&
		test_grep ":INPUT DROP" '$be'.1 &&
		test_grep "CGMINE" '$be'.1 &&
		grep -c "^iptables:.*	owned	" state/records >n && test "$(cat n)" = 3
	'

	test_expect_success "$be: plan lists each rule revert deletes, changes nothing" '
		NS=cgtest-$$-'$be' &&
		printf "resources: []\n" >policy/roles/fw.yaml &&
		printf "orphans: revert\nclasses:\n  - match: \"*\"\n    roles: [fw]\n" >policy/site.yaml &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi plan --format json >plan.json &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >now && test_cmp '$be'.1 now &&
		jq -r ".orphans[] | [.id, .revert] | @tsv" plan.json >plan.out &&
		grep -x "iptables:ipv4/filter/INPUT	delete the rules congruent added: -D INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT; -D INPUT -p tcp -m tcp --dport 8080 -j ACCEPT; -D INPUT -p tcp -m tcp --dport 9000 -j ACCEPT; set its policy back to ACCEPT, as before congruent" plan.out &&
		grep -x "iptables:ipv4/filter/FORWARD	delete the rules congruent added: -D FORWARD -s 10.9.0.0/16 -j DROP" plan.out &&
		grep -x "iptables:ipv4/filter/CGMINE	delete the rules congruent added: -D CGMINE -s 10.7.0.0/16 -j RETURN; then delete the chain congruent created" plan.out
	'

	test_expect_success "$be: run does what plan said: only the rules congruent added go, counters kept" '
		NS=cgtest-$$-'$be' &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi run --format json >run.json &&
		jq -r ".orphans[] | [.id, .revert] | @tsv" run.json >run.out &&
		test_cmp plan.out run.out &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >'$be'.2 &&
		test_grep_not CGMINE '$be'.2 &&
		test_grep_not "dport 8080 " '$be'.2 &&
		test_grep_not "10.9.0.0/16" '$be'.2 &&
		foreign '$be'.0 >f0 && foreign '$be'.2 >f2 && test_cmp f0 f2 &&
		grep "^:INPUT ACCEPT" '$be'.2 &&
		! grep "^iptables:" state/records &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run
	'
done

cat >agent.yaml <<'EOF'
firewall:
  guard_seconds: 6
  management_port: 22
EOF

# Rules without counters (the guard puts ours back with fresh ones).
bare() { nsx iptables-$1-save -t filter | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'; }

for be in nft legacy; do
	test_expect_success "$be: a revert that locks out the management port is rolled back by the guard" '
		rm -rf state && ipt_netns guard-'$be' &&
		nsx iptables-'$be' -P INPUT DROP &&
		ipt_policy <<-\YAML &&
		  - iptables:
		      chain: INPUT
		      rules:
		        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
		        - -p tcp --dport 22 -j ACCEPT
		YAML
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi run -c agent.yaml &&
		bare '$be' >g.'$be'.1 &&
		printf "resources: []\n" >policy/roles/fw.yaml &&
		printf "orphans: revert\nclasses:\n  - match: \"*\"\n    roles: [fw]\n" >policy/site.yaml &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi plan -c agent.yaml >plan &&
		test_grep "revert: delete the rules congruent added: -D INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT; -D INPUT -p tcp -m tcp --dport 22 -j ACCEPT" plan &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 4 cgi run -c agent.yaml >out 2>err &&
		test_grep "(failed)" out &&
		test_grep "rolled back: " out &&
		bare '$be' >g.'$be'.2 && test_cmp g.'$be'.1 g.'$be'.2 &&
		grep "^iptables:ipv4/filter/INPUT	owned	" state/records &&
		grep "^iptables:ipv4/filter/INPUT	ledger.since	" state/records
	'
done

test_expect_success 'congruent forget drops the owned records, only of that id' '
	NS=cgtest-$$-legacy && rm -rf state && managed &&
	PATH="$TRASH/legacy-bin:$PATH" test_expect_code 2 cgi run &&
	grep "^iptables:ipv4/filter/FORWARD	owned	" state/records &&
	cg forget --state-dir state iptables:ipv4/filter/FORWARD &&
	! grep "^iptables:ipv4/filter/FORWARD	" state/records &&
	grep "^iptables:ipv4/filter/INPUT	owned	" state/records &&
	grep "^iptables:ipv4/filter/CGMINE	owned	" state/records
'

test_expect_success 'a forgotten chain back in the policy: its rules are no longer taken for congruent'"'"'s' '
	NS=cgtest-$$-legacy &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: FORWARD
	      rules: []
	YAML
	PATH="$TRASH/legacy-bin:$PATH" test_expect_code 0 cgi run &&
	nsx iptables-legacy-save | grep -- "-A FORWARD -s 10.9.0.0/16 -j DROP"
'

test_expect_success 'a jump congruent added to a chain it created goes with the chain, in one restore' '
	rm -rf state && ipt_netns jump &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: CGJ
	      rules:
	        - -s 10.8.0.0/16 -j DROP
	  - iptables:
	      chain: INPUT
	      rules:
	        - -p tcp --dport 25 -j CGJ
	YAML
	nsx iptables-nft -A INPUT -s 192.0.2.9/32 -j DROP &&
	nsx iptables-nft-save -c | sed "/^#/d" >j.0 &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi run &&
	printf "resources: []\n" >policy/roles/fw.yaml &&
	printf "orphans: revert\nclasses:\n  - match: \"*\"\n    roles: [fw]\n" >policy/site.yaml &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi plan >plan &&
	test_grep "revert: delete the rules congruent added: -D CGJ -s 10.8.0.0/16 -j DROP; then delete the chain congruent created" plan &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi run >out &&
	nsx iptables-nft-save -c | sed "/^#/d" >j.1 && test_cmp j.0 j.1 &&
	! grep "^iptables:" state/records
'

test_expect_success 'ipv6: only the rule congruent added goes' '
	rm -rf state && ipt_netns six &&
	nsx ip6tables-nft -A INPUT -s 2001:db8::9 -j DROP &&
	nsx ip6tables-nft-save -c | sed "/^#/d" >s.0 &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      family: ipv6
	      chain: INPUT
	      rules:
	        - -p tcp --dport 443 -j ACCEPT
	YAML
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi run &&
	printf "resources: []\n" >policy/roles/fw.yaml &&
	printf "orphans: revert\nclasses:\n  - match: \"*\"\n    roles: [fw]\n" >policy/site.yaml &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi plan >plan &&
	test_grep "revert: delete the rules congruent added: -D INPUT -p tcp -m tcp --dport 443 -j ACCEPT" plan &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi run &&
	nsx ip6tables-nft-save -c | sed "/^#/d" >s.1 && test_cmp s.0 s.1
'

test_done
