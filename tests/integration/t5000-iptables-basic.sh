#!/bin/sh
# t5000: plan shows the change, run makes it, a second run is a no-op.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns basic

ipt_policy <<'YAML'
  - iptables:
      family: ipv4
      table: filter
      chain: INPUT
      policy: DROP
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -i lo -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
YAML

test_expect_success 'a hand-added rule with counters, before congruent' '
	printf "*filter\n[7:420] -A INPUT -s 192.0.2.7/32 -j DROP\nCOMMIT\n" |
		nsx iptables-restore -c --noflush &&
	ipt_dump >before
'

test_expect_success 'plan shows each new rule with its position, and the policy' '
	test_expect_code 2 cgi plan >out &&
	test_grep "~ iptables:ipv4/filter/INPUT  (roles/fw.yaml:2)" out &&
	test_grep "policy ACCEPT -> DROP" out &&
	test_grep "+ [2] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" out &&
	test_grep "+ [3] -A INPUT -i lo -j ACCEPT" out &&
	test_grep "+ [4] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" out &&
	test_grep "kept: 1 rule not in the policy (purge is off)" out &&
	test_grep "plan: 1 to change" out
'

test_expect_success 'plan changed nothing, and wrote nothing' '
	ipt_dump >after-plan &&
	test_cmp before after-plan &&
	test ! -e state
'

test_expect_success 'run makes the change' '
	test_expect_code 2 cgi run >out &&
	test_grep "run: 1 repaired" out &&
	ipt_dump >after &&
	cat >expect <<-\EOF &&
	*filter
	:INPUT DROP [0:0]
	:FORWARD ACCEPT [0:0]
	:OUTPUT ACCEPT [0:0]
	[7:420] -A INPUT -s 192.0.2.7/32 -j DROP
	[0:0] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	[0:0] -A INPUT -i lo -j ACCEPT
	[0:0] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	COMMIT
	EOF
	test_cmp expect after
'

test_expect_success 'the counters of the rule it did not touch survived' '
	test_grep "[7:420] -A INPUT -s 192.0.2.7/32 -j DROP" after
'

test_expect_success 'a second run is a no-op, and so is plan' '
	test_expect_code 0 cgi run >out &&
	test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 1 ok" out &&
	ipt_dump >again &&
	test_cmp after again
'

test_expect_success 'the report lists the rule it keeps but does not manage' '
	test_expect_code 0 cgi run --format json >out.json &&
	test_grep "\"unmanaged\": [" out.json &&
	test_grep "\"item\": \"-A INPUT -s 192.0.2.7/32 -j DROP\"" out.json &&
	test_grep "\"item\": \"-A INPUT -s 192.0.2.7/32 -j DROP\"" \
		state/reports/last-run.json
'

test_expect_success 'other chains and tables were not touched' '
	nsx iptables-save -t nat >nat &&
	test_grep_not "-A" nat &&
	ip6t_dump >v6 &&
	test_grep_not "-A" v6
'

test_expect_success 'a new rule in the middle goes in at its place' '
	sed -i "s/- -i lo -j ACCEPT/- -i lo -j ACCEPT\n        - -p udp --dport 53 -j ACCEPT/" policy/roles/fw.yaml &&
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [4] -A INPUT -p udp -m udp --dport 53 -j ACCEPT" out &&
	test_expect_code 2 cgi run >out &&
	ipt_dump | grep -- "-A INPUT" | sed "s/^\[[0-9:]*\] //" >rules &&
	cat >expect <<-\EOF &&
	-A INPUT -s 192.0.2.7/32 -j DROP
	-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	-A INPUT -i lo -j ACCEPT
	-A INPUT -p udp -m udp --dport 53 -j ACCEPT
	-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	EOF
	test_cmp expect rules &&
	test_expect_code 0 cgi run
'

test_expect_success 'the policy of the chain drifts back, and is put back' '
	nsx iptables -P INPUT ACCEPT &&
	test_expect_code 2 cgi plan >out &&
	test_grep "policy ACCEPT -> DROP" out &&
	test_expect_code 2 cgi run &&
	ipt_dump | grep -q "^:INPUT DROP"
'

test_done
