#!/bin/sh
# t5020: a hand-added rule is kept with purge off and removed with purge
# on; ignore: patterns keep rules even then.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns purge

policy() {
	ipt_policy <<-YAML
	  - iptables:
	      chain: INPUT
	      purge: $1
	      ignore: ["--comment keep-me"]
	      rules:
	        - -p tcp --dport 22 -j ACCEPT
	        - -p tcp --dport 443 -j ACCEPT
	YAML
}

test_expect_success 'the policy is in place' '
	policy false &&
	test_expect_code 2 cgi run &&
	test_expect_code 0 cgi run
'

test_expect_success 'an operator adds rules by hand, between ours' '
	nsx iptables -I INPUT 2 -s 192.0.2.50 -j DROP &&
	nsx iptables -A INPUT -s 192.0.2.51 -m comment --comment keep-me -j DROP &&
	nsx iptables -A INPUT -s 192.0.2.52 -m comment --comment "by hand, \"quoted\"" -j DROP &&
	ipt_dump >before
'

test_expect_success 'purge off: they are kept, and that is no drift' '
	test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 1 ok" out &&
	test_expect_code 0 cgi run &&
	ipt_dump >after &&
	test_cmp before after
'

test_expect_success 'purge off: the report names them as unmanaged' '
	test_expect_code 0 cgi plan --format json >out.json &&
	test_grep "\"item\": \"-A INPUT -s 192.0.2.50/32 -j DROP\"" out.json &&
	test_grep "\"owner\": \"ignore\"" out.json
'

test_expect_success 'purge on: plan shows them going, with their positions' '
	policy true &&
	test_expect_code 2 cgi plan >out &&
	test_grep "- [2] -A INPUT -s 192.0.2.50/32 -j DROP" out &&
	test_grep "- [5] -A INPUT -s 192.0.2.52/32 -m comment --comment \"by hand, \\\"quoted\\\"\" -j DROP" out &&
	test_grep "kept: 1 rule matching ignore:" out &&
	test_grep "    extra [4] -A INPUT -s 192.0.2.51/32 -m comment --comment keep-me -j DROP  (owner: ignore:)" out
'

test_expect_success 'purge on: run removes them, by spec, and keeps the ignored' '
	test_expect_code 2 cgi run >out &&
	ipt_dump | grep -- "-A INPUT" | sed "s/^\[[0-9:]*\] //" >rules &&
	cat >expect <<-\EOF &&
	-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
	-A INPUT -s 192.0.2.51/32 -m comment --comment keep-me -j DROP
	EOF
	test_cmp expect rules &&
	test_expect_code 0 cgi run
'

test_expect_success 'purge on: a hand-added rule is drift' '
	nsx iptables -A INPUT -s 192.0.2.53 -j DROP &&
	test_expect_code 2 cgi plan >out &&
	test_grep "- [4] -A INPUT -s 192.0.2.53/32 -j DROP" out &&
	test_expect_code 2 cgi run &&
	ipt_dump >after &&
	test_grep_not "192.0.2.53" after
'

test_expect_success 'a copy of a managed rule is drift, and goes' '
	nsx iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
	policy false &&
	test_expect_code 2 cgi plan >out &&
	test_expect_code 2 cgi run &&
	ipt_dump | grep -- "-A INPUT" | sed "s/^\[[0-9:]*\] //" >rules &&
	cat >expect <<-\EOF &&
	-A INPUT -s 192.0.2.51/32 -m comment --comment keep-me -j DROP
	-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
	EOF
	test_cmp expect rules &&
	test_expect_code 0 cgi run
'

test_done
