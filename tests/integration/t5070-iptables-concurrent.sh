#!/bin/sh
# t5070: another program changing the table while congruent applies is
# not clobbered: congruent notices, retries on fresh state, and when what
# it wrote does not come back, undoes its own change and only that.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

if ! iptables -V | grep -q nf_tables; then
	echo "1..0 # SKIP the hooks here wrap iptables-nft-restore"
	exit 0
fi

ipt_netns concurrent

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
        - -p tcp --dport 443 -j ACCEPT
YAML

test_expect_success 'a chain with our first and last rule, and one by hand' '
	printf "*filter\n[5:300] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n[6:360] -A INPUT -s 192.0.2.1/32 -j DROP\n[7:420] -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n" |
		nsx iptables-restore -c --noflush &&
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [2] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" out
'

test_expect_success 'fail2ban inserts a ban while congruent applies' '
	ipt_hook_restore <<-\EOF &&
	# Another writer, between our read and our write, shifting positions.
	if [ ! -e $TRASH/bin/once ]; then
		touch $TRASH/bin/once
		iptables -I INPUT 1 -s 203.0.113.9 -j REJECT
	fi
	printf "%s\n" "$SCRIPT" | "$REAL" "$@"
	EOF
	PATH="$TRASH/bin:$PATH" test_expect_code 2 cgi run >out &&
	test_grep "run: 1 repaired" out
'

test_expect_success 'the ban is still there, and our rules are in order' '
	ipt_dump | grep -- "-A INPUT" >after &&
	cat >expect <<-\EOF &&
	[0:0] -A INPUT -s 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable
	[5:300] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	[0:0] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	[6:360] -A INPUT -s 192.0.2.1/32 -j DROP
	[7:420] -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
	EOF
	test_cmp expect after
'

test_expect_success 'it took a second transaction, on fresh state' '
	test $(wc -l <bin/calls) -eq 2 &&
	rm -f bin/calls bin/once &&
	test_expect_code 0 cgi run
'

test_expect_success 'what it wrote comes back changed: its own change is undone' '
	sed -i "s/--dport 443 -j ACCEPT/--dport 443 -j ACCEPT\n        - -p tcp --dport 8443 -j ACCEPT\n        - -p udp --dport 53 -j ACCEPT/" policy/roles/fw.yaml &&
	nsx iptables -P INPUT ACCEPT &&
	ipt_dump >before &&
	ipt_hook_restore <<-\EOF &&
	# A kernel (or a wrapper) that stores one rule other than written.
	printf "%s\n" "$SCRIPT" | sed "s/--dport 8443 -j ACCEPT/--dport 8443 -j DROP/" |
		"$REAL" "$@"
	EOF
	PATH="$TRASH/bin:$PATH" test_expect_code 4 cgi run >out &&
	test_grep "the rules read back are not the rules written; what congruent changed was undone" out &&
	test $(wc -l <bin/calls) -eq 2
'

test_expect_success 'everything it did is undone, and nothing else' '
	ipt_dump >after &&
	grep -v -- "--dport 8443 -j DROP" after >after-but-stray &&
	test_cmp before after-but-stray &&
	test_grep ":INPUT ACCEPT" after
'

test_expect_success 'the stray rule it cannot prove its own is left, and shown' '
	test_grep "-A INPUT -p tcp -m tcp --dport 8443 -j DROP" after &&
	rm -f bin/calls &&
	test_expect_code 2 cgi plan >out &&
	test_grep "kept: 3 rules not in the policy" out
'

test_done
