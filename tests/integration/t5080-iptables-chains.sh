#!/bin/sh
# t5080: chains of our own are created and removed, in one transaction
# with the jumps to them; rules that moved are put back in order; chains
# the policy does not name are never touched.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns chains
q="'"

test_expect_success 'a chain somebody else made, that the policy does not name' '
	nsx iptables -N OTHERS &&
	nsx iptables -A OTHERS -s 198.51.100.0/24 -j DROP &&
	nsx iptables -A INPUT -j OTHERS
'

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -p tcp --dport 22 -j SSH
        - -j LOGDROP
  - iptables:
      chain: SSH
      rules:
        - -s 10.0.0.0/8 -j ACCEPT
        - -j RETURN
  - iptables:
      chain: LOGDROP
      rules:
        - -m limit --limit 1/s -j LOG --log-prefix "drop "
        - -j DROP
  - iptables:
      table: mangle
      chain: PREROUTING
      rules:
        - -p tcp --dport 22 -j MARK --set-mark 7
YAML

test_expect_success 'plan creates the chains, jumps to them come after' '
	test_expect_code 2 cgi plan >out &&
	test_grep "+ iptables:ipv4/filter/SSH" out &&
	test_grep "    chain SSH" out &&
	test_grep "+ [2] -A INPUT -p tcp -m tcp --dport 22 -j SSH" out &&
	test_grep "+ [1] -A PREROUTING -p tcp -m tcp --dport 22 -j MARK --set-xmark 0x7/0xffffffff" out
'

test_expect_success 'run makes them, in one go' '
	test_expect_code 2 cgi run >out &&
	test_grep "run: 4 repaired" out &&
	ipt_dump >after &&
	test_grep ":SSH - [0:0]" after &&
	test_grep ":LOGDROP - [0:0]" after &&
	test_grep "-A OTHERS -s 198.51.100.0/24 -j DROP" after &&
	test_expect_code 0 cgi run
'

test_expect_success 'rules moved by hand are put back in order' '
	nsx iptables -D SSH -j RETURN &&
	nsx iptables -I SSH 1 -j RETURN &&
	test_expect_code 2 cgi plan >out &&
	test_grep "- [1] -A SSH -j RETURN" out &&
	test_grep "+ [2] -A SSH -j RETURN" out &&
	test_expect_code 2 cgi run &&
	ipt_dump | grep -- "-A SSH" | sed "s/^\[[0-9:]*\] //" >rules &&
	printf "%s\n" "-A SSH -s 10.0.0.0/8 -j ACCEPT" "-A SSH -j RETURN" >expect &&
	test_cmp expect rules
'

# The same without LOGDROP: the jump to it goes, and the chain too.
without_logdrop() {
	ipt_policy <<-YAML
	  - iptables:
	      chain: INPUT
	      purge: $1
	      rules:
	        - -p tcp --dport 22 -j SSH
	  - iptables:
	      chain: SSH
	      rules:
	        - -s 10.0.0.0/8 -j ACCEPT
	        - -j RETURN
	  - iptables: {chain: LOGDROP, state: absent}
	  - iptables:
	      table: mangle
	      chain: PREROUTING
	      rules:
	        - -p tcp --dport 22 -j MARK --set-mark 7
	YAML
}

test_expect_success 'a jump congruent added goes with the chain, even with purge off' '
	without_logdrop false &&
	test_expect_code 2 cgi plan >out &&
	test_grep "- [3] removed from the policy: -A INPUT -j LOGDROP" out &&
	test_grep "chain LOGDROP -> (absent)" out
'

test_expect_success 'a chain still used by a rule we keep cannot go' '
	nsx iptables -A INPUT -p udp -j LOGDROP &&
	# 6: INPUT still drops the jump congruent added.
	test_expect_code 6 cgi plan >out &&
	test_grep "chain LOGDROP cannot go: ${q}-A INPUT -p udp -j LOGDROP${q} still jumps to it, and the policy does not manage that rule" out &&
	test_grep "hint: delete that rule (iptables -D INPUT ...), or manage chain INPUT with purge: true" out &&
	nsx iptables -D INPUT -p udp -j LOGDROP
'

test_expect_success 'nor one used by a chain the policy does not name' '
	without_logdrop true &&
	nsx iptables -A OTHERS -j LOGDROP &&
	test_expect_code 6 cgi plan >out &&
	test_grep "chain LOGDROP cannot go: ${q}-A OTHERS -j LOGDROP${q} still jumps to it" out &&
	nsx iptables -D OTHERS -j LOGDROP
'

test_expect_success 'with its jumps purged, it goes in the same transaction' '
	test_expect_code 2 cgi plan >out &&
	test_grep "- iptables:ipv4/filter/LOGDROP" out &&
	test_grep "chain LOGDROP -> (absent)" out &&
	test_grep "- [3] removed from the policy: -A INPUT -j LOGDROP" out &&
	test_grep "- [1] -A INPUT -j OTHERS" out &&
	test_expect_code 2 cgi run &&
	ipt_dump >after &&
	test_grep_not "LOGDROP" after &&
	test_grep ":OTHERS - [0:0]" after &&
	test_grep "-A OTHERS -s 198.51.100.0/24 -j DROP" after &&
	test_expect_code 0 cgi run
'

test_done
