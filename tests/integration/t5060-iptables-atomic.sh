#!/bin/sh
# t5060: a transaction that fails leaves the ruleset byte for byte as it
# was; one that fails because the table changed meanwhile is retried on
# fresh state.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

if ! iptables -V | grep -q nf_tables; then
	echo "1..0 # SKIP the hooks here wrap iptables-nft-restore"
	exit 0
fi

ipt_netns atomic

cat >start.rules <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:MINE - [0:0]
[11:660] -A INPUT -s 192.0.2.1/32 -j DROP
[12:720] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
[13:780] -A INPUT -s 192.0.2.2/32 -j DROP
[14:840] -A MINE -j RETURN
[15:900] -A OUTPUT -d 192.0.2.9/32 -j DROP
COMMIT
EOF

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      purge: true
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
        - -j MINE
  - iptables:
      chain: MINE
      rules: ["-j LOG", "-j RETURN"]
  - iptables:
      chain: OUTPUT
      purge: true
      rules: ["-d 192.0.2.10 -j DROP"]
YAML

test_expect_success 'a ruleset with counters' '
	nsx iptables-restore -c <start.rules &&
	ipt_dump >before &&
	test_expect_code 2 cgi plan >plan
'

test_expect_success 'a transaction the kernel refuses changes nothing at all' '
	ipt_hook_restore <<-\EOF &&
	# Our lines, then one the kernel refuses at COMMIT.
	printf "%s\n" "$SCRIPT" | sed "s/^COMMIT$/-A INPUT -j NO-SUCH-CHAIN\nCOMMIT/" |
		"$REAL" "$@"
	EOF
	PATH="$TRASH/bin:$PATH" test_expect_code 4 cgi run >out &&
	test_grep "run: 0 repaired, 0 ok, 3 failed" out &&
	test_grep "iptables-restore refused" out &&
	ipt_dump >after &&
	test_cmp before after
'

test_expect_success 'and it gave up after a bounded number of tries' '
	test $(wc -l <bin/calls) -le 8
'

test_expect_success 'a rule deleted meanwhile: retried on fresh state' '
	rm -f bin/calls &&
	ipt_hook_restore <<-\EOF &&
	# The first time, another program deletes a rule we delete too.
	if [ ! -e $TRASH/bin/once ]; then
		touch $TRASH/bin/once
		iptables -D INPUT -s 192.0.2.2/32 -j DROP
	fi
	printf "%s\n" "$SCRIPT" | "$REAL" "$@"
	EOF
	PATH="$TRASH/bin:$PATH" test_expect_code 2 cgi run >out &&
	test_grep "run: 3 repaired" out &&
	test $(wc -l <bin/calls) -eq 2 &&
	ipt_dump >after &&
	cat >expect <<-\EOF &&
	*filter
	:INPUT DROP [0:0]
	:FORWARD ACCEPT [0:0]
	:OUTPUT ACCEPT [0:0]
	:MINE - [0:0]
	[0:0] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	[12:720] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	[0:0] -A INPUT -j MINE
	[0:0] -A OUTPUT -d 192.0.2.10/32 -j DROP
	[0:0] -A MINE -j LOG
	[14:840] -A MINE -j RETURN
	COMMIT
	EOF
	test_cmp expect after
'

test_expect_success 'and a run without interference needs one restore' '
	rm -f bin/calls &&
	nsx iptables -A OUTPUT -d 192.0.2.11 -j DROP &&
	PATH="$TRASH/bin:$PATH" test_expect_code 2 cgi run &&
	test $(wc -l <bin/calls) -eq 1
'

test_done
