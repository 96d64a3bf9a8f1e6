#!/bin/sh
# t5420: rules naming ipset sets and nfacct objects that exist on the host
# are made canonical (the scratch namespace gets the same definitions,
# never the members); one naming an object that does not exist fails
# with a message that says so, in plan as in run. The host's sets and
# their members are untouched.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v ipset >/dev/null || { echo "1..0 # SKIP ipset is not installed (scripts/deps.sh test)"; exit 0; }

ipt_netns sets
have_nfacct=
if command -v nfacct >/dev/null && nsx nfacct add cg-probe 2>/dev/null; then
	nsx nfacct del cg-probe
	have_nfacct=1
fi

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -m set --match-set cg-block src -j DROP
        - -p tcp -m set --match-set cg-svc dst,dst -j ACCEPT
YAML

# The sets with their members, less the seconds left of timed entries.
sets() {
	nsx ipset save | sed "/^add /s/ timeout [0-9]*//" | sort
}

test_expect_success 'a set that does not exist: the rule fails, saying so' '
	test_expect_code 4 cgi plan >out 2>&1 &&
	test_grep "the rule names the ipset set cg-block, which does not exist on this host" out &&
	test_grep "hint: create the set first (ipset create NAME TYPE" out &&
	ipt_plan_predicts_run 4
'

test_expect_success 'sets on the host, with members' '
	nsx ipset create cg-block hash:net family inet hashsize 1024 maxelem 65536 comment &&
	nsx ipset add cg-block 203.0.113.0/24 comment "from the feed" &&
	nsx ipset add cg-block 198.51.100.7 &&
	nsx ipset create cg-svc hash:ip,port family inet timeout 600 &&
	nsx ipset add cg-svc 192.0.2.10,tcp:443 &&
	sets >sets.before
'

test_expect_success 'they are made canonical; plan predicts run' '
	ipt_plan_predicts_run 2 &&
	ipt_dump >after &&
	test_grep "-A INPUT -m set --match-set cg-block src -j DROP" after &&
	test_grep "-A INPUT -p tcp -m set --match-set cg-svc dst,dst -j ACCEPT" after &&
	test_expect_code 0 cgi run &&
	test_expect_code 0 cgi plan
'

# iptables-nft: the check that nft holds what iptables-save shows loads
# the chain in a scratch namespace too; with the sets made there, every
# rule is compared, and a table found consistent is remembered.
if command -v nft >/dev/null &&
	readlink -f "$(command -v iptables)" | grep -q nft; then
	test_expect_success 'nft: rules with sets are compared with what nft holds' '
		rm -rf state/cache/nft-check-ipv4-filter &&
		nsx iptables -A INPUT -m set --match-set cg-block dst -j LOG &&
		test_expect_code 0 cgi run &&
		test -f state/cache/nft-check-ipv4-filter &&
		nsx iptables -D INPUT -m set --match-set cg-block dst -j LOG
	'
fi

test_expect_success 'the host sets and their members are as they were' '
	sets >sets.after &&
	test_cmp sets.before sets.after
'

if [ -n "$have_nfacct" ]; then
	test_expect_success 'an nfacct object that does not exist fails, saying so' '
		ipt_policy <<-\YAML &&
		  - iptables:
		      chain: INPUT
		      rules:
		        - -m set --match-set cg-block src -j DROP
		        - -p tcp -m set --match-set cg-svc dst,dst -j ACCEPT
		        - -p tcp --dport 80 -m nfacct --nfacct-name cg-http
		YAML
		test_expect_code 4 cgi plan >out 2>&1 &&
		test_grep "the rule names the nfacct object cg-http, which does not exist on this host" out &&
		test_grep "hint: create it first (nfacct add NAME)" out
	'

	test_expect_success 'one that exists is made canonical' '
		nsx nfacct add cg-http &&
		ipt_plan_predicts_run 2 &&
		test_expect_code 0 cgi run &&
		ipt_dump >after &&
		test_grep "--nfacct-name  cg-http" after
	'
else
	test_skip 'nfacct objects' 'nfacct is not installed or the kernel has no nfnetlink_acct'
fi

test_done
