#!/bin/sh
# t5400: rules have owners. With purge off, a rule congruent added that
# the policy no longer lists leaves the chain, and one edited in the
# policy is replaced where it was; rules it did not add (fail2ban's jump,
# a hand-made DROP, a rule that was there before the policy named it)
# stay, with their counters: on both backends, in an INPUT shared with
# fail2ban and a FORWARD shared with Docker.
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

v1() {
	ipt_policy <<-\YAML
	  - iptables:
	      chain: INPUT
	      rules:
	        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	        - -p tcp --dport 22 -j ACCEPT
	        - -p tcp --dport 8080 -j ACCEPT
	        - -p tcp --dport 9000 -j ACCEPT
	  - iptables:
	      chain: FORWARD
	      rules:
	        - -s 10.9.0.0/16 -j DROP
	YAML
}

# 9000 and FORWARD's DROP leave the policy, 8080 becomes 8081, and 22
# (there before congruent) is no longer named either.
v2() {
	ipt_policy <<-\YAML
	  - iptables:
	      chain: INPUT
	      rules:
	        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	        - -p tcp --dport 8081 -j ACCEPT
	  - iptables:
	      chain: FORWARD
	      rules: []
	YAML
}

# The lines of the ruleset congruent never added, with their counters.
foreign() {
	grep -v -e "dport 80[0-9][0-9] " -e "dport 9000 " -e "-A INPUT -m conntrack" \
		-e "10.9.0.0/16" -e "^:" "$1"
}

for be in nft legacy; do
	ipt_netns $be
	NS=

	test_expect_success "$be: a chain shared with fail2ban and Docker" '
		NS=cgtest-$$-'$be' &&
		nsx iptables-'$be'-restore -c <"$TOP/tests/fixtures/owned/shared.rules" &&
		v1 &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi run &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run &&
		cg state --state-dir state >st &&
		test_grep "    owned " st &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >'$be'.1 &&
		grep -n -- "-A INPUT" '$be'.1 | grep -- "--dport 8080 " | cut -d: -f1 >'$be'.pos
	'

	test_expect_success "$be: plan shows the removed and the replaced rule" '
		NS=cgtest-$$-'$be' &&
		v2 &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi plan >out && cp out plan.'$be' &&
		test_grep "removed from the policy: -A INPUT -p tcp -m tcp --dport 9000 -j ACCEPT" out &&
		test_grep "] replaced: -A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT -> -A INPUT -p tcp -m tcp --dport 8081 -j ACCEPT" out &&
		test_grep "removed from the policy: -A FORWARD -s 10.9.0.0/16 -j DROP" out &&
		{ grep -- "- \[" out >minus || :; } &&
		test_grep_not "dport 22 " minus &&
		test_grep_not "192.0.2.50" minus &&
		test_grep_not "f2b-sshd" minus
	'

	test_expect_success "$be: plan predicts run" '
		NS=cgtest-$$-'$be' &&
		PATH="$TRASH/'$be'-bin:$PATH" ipt_plan_predicts_run 2
	'

	test_expect_success "$be: ours went, the edit is in place, the rest is byte-identical" '
		NS=cgtest-$$-'$be' &&
		nsx iptables-'$be'-save -c | sed "/^#/d" >'$be'.2 &&
		test_grep_not "dport 9000 " '$be'.2 &&
		test_grep_not "dport 8080 " '$be'.2 &&
		test_grep_not "10.9.0.0/16" '$be'.2 &&
		grep -n -- "-A INPUT" '$be'.2 | grep -- "--dport 8081 " | cut -d: -f1 >pos2 &&
		test_cmp '$be'.pos pos2 &&
		test_grep "[7:420] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" '$be'.2 &&
		foreign '$be'.1 >f1 &&
		foreign '$be'.2 >f2 &&
		test_cmp f1 f2 &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run
	'

	test_expect_success "$be: a rule it did not add is never removed without purge" '
		NS=cgtest-$$-'$be' &&
		nsx iptables-'$be' -A INPUT -p tcp --dport 8082 -j ACCEPT &&
		ipt_policy <<-\YAML &&
		  - iptables:
		      chain: INPUT
		      rules:
		        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
		        - -p tcp --dport 8081 -j ACCEPT
		        - -p tcp --dport 8082 -j ACCEPT
		YAML
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run &&
		v2 &&
		PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run &&
		nsx iptables-'$be'-save | grep -q -- "--dport 8082 "
	'
done

test_done
