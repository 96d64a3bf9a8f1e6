#!/bin/sh
# t5040: matches and targets people use: multiport, comments with spaces
# and quotes, ! negation, LOG with a prefix, limit, conntrack, icmp types,
# IPv6. Each is added, found again (no drift), and removed by spec.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns matches

cat >v4.rules <<'EOF'
-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-m conntrack --ctstate INVALID -j DROP
-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT
-p tcp --dport 22 -m comment --comment "ssh from the \"office\", and 'home'" -j ACCEPT
! -s 10.0.0.0/8 -p tcp --dport 3306 -j REJECT --reject-with tcp-reset
-p tcp ! --syn -m state --state NEW -j DROP
-p icmp --icmp-type echo-request -m limit --limit 5/second --limit-burst 10 -j ACCEPT
-p icmp --icmp-type destination-unreachable -j ACCEPT
-m limit --limit 3/min -j LOG --log-prefix "fw drop: " --log-level 4
EOF

cat >v6.rules <<'EOF'
-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT
-p ipv6-icmp --icmpv6-type echo-request -m limit --limit 10/s -j ACCEPT
-s fe80::/10 -p udp --dport 546 -j ACCEPT
! -s 2001:db8::/32 -p tcp --dport 22 -j DROP
-j LOG --log-prefix "fw6 drop: "
EOF

# The v6 rules let nobody open ssh: for the guard, a lockout. They are
# here for their spellings, so the management port is not checked.
printf 'firewall:\n  management_port: 0\n' >agent.yaml

# The rules files as a YAML list, each rule single-quoted for YAML.
yaml_rules() {
	sed "s/'/''/g; s/^/        - '/; s/\$/'/" "$1"
}

write_policy() {
	{
		printf '  - iptables:\n      chain: INPUT\n      policy: DROP\n'
		printf '      purge: true\n      rules:\n'
		yaml_rules "$1"
		printf '  - iptables:\n      family: ipv6\n      chain: INPUT\n'
		printf '      policy: DROP\n      purge: true\n      rules:\n'
		yaml_rules "$2"
	} | ipt_policy
}

# Does the kernel have this rule? Asked with iptables's own -C.
has_rule() {
	printf '*filter\n-C INPUT %s\nCOMMIT\n' "$2" |
		nsx "$1" --noflush 2>/dev/null
}

test_expect_success 'all of them are applied' '
	write_policy v4.rules v6.rules &&
	test_expect_code 2 cgi run -c agent.yaml >out &&
	test_grep "run: 2 repaired" out
'

test_expect_success 'iptables itself finds each rule as written' '
	while read -r rule; do
		has_rule iptables-restore "$rule" ||
			{ echo "missing: $rule" >&2; return 1; }
	done <v4.rules &&
	while read -r rule; do
		has_rule ip6tables-restore "$rule" ||
			{ echo "missing: $rule" >&2; return 1; }
	done <v6.rules
'

test_expect_success 'in the order written' '
	ipt_dump | grep -- "-A INPUT" >got &&
	test $(wc -l <got) -eq 9 &&
	sed -n 4p got | grep -q "ssh from the" &&
	sed -n 9p got | grep -q "fw drop: " &&
	ip6t_dump | grep -- "-A INPUT" >got6 &&
	test $(wc -l <got6) -eq 6 &&
	sed -n 2p got6 | grep -q "icmpv6-type 135"
'

test_expect_success 'a second run is a no-op, for both families' '
	test_expect_code 0 cgi run -c agent.yaml >out &&
	test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 2 ok" out
'

test_expect_success 'rules with quotes and negations go again by spec' '
	grep -v -e comment -e "^!" v4.rules >v4.less &&
	grep -v -e "^!" -e LOG v6.rules >v6.less &&
	write_policy v4.less v6.less &&
	test_expect_code 2 cgi run -c agent.yaml >out &&
	grep -F -- "- [4] removed from the policy: -A INPUT -p tcp -m tcp --dport 22 -m comment" out >line &&
	test_grep "ssh from the \\\"office\\\"" line &&
	ipt_dump >after &&
	test_grep_not "ssh from the" after &&
	test_grep_not "3306" after &&
	test $(ipt_dump | grep -c -- "-A INPUT") -eq 7 &&
	test $(ip6t_dump | grep -c -- "-A INPUT") -eq 4 &&
	test_expect_code 0 cgi run -c agent.yaml
'

test_done
