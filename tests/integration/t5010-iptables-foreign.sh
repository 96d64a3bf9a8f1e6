#!/bin/sh
# t5010: Docker's and fail2ban's chains and jumps are left intact, even
# with purge, and never count as drift.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns foreign

# What Docker 20+ and fail2ban set up, as iptables-save shows it.
cat >foreign.rules <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:f2b-sshd - [0:0]
[40:2400] -A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
[9:540] -A FORWARD -j DOCKER-USER
[9:540] -A FORWARD -j DOCKER-ISOLATION-STAGE-1
[5:300] -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[1:60] -A FORWARD -o docker0 -j DOCKER
[3:180] -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
[0:0] -A FORWARD -i docker0 -o docker0 -j ACCEPT
[0:0] -A FORWARD -s 198.51.100.1/32 -j DROP
[1:60] -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
[3:180] -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
[9:540] -A DOCKER-ISOLATION-STAGE-1 -j RETURN
[0:0] -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
[3:180] -A DOCKER-ISOLATION-STAGE-2 -j RETURN
[9:540] -A DOCKER-USER -j RETURN
[2:120] -A f2b-sshd -s 203.0.113.5/32 -j REJECT --reject-with icmp-port-unreachable
[38:2280] -A f2b-sshd -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
[4:240] -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
[0:0] -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
[6:360] -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
[0:0] -A DOCKER -i docker0 -j RETURN
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
  - iptables:
      chain: FORWARD
      purge: true
      rules:
        - -s 10.9.0.0/16 -j ACCEPT
  - iptables:
      table: nat
      chain: POSTROUTING
      purge: true
      rules:
        - -s 10.9.0.0/16 -o eth0 -j MASQUERADE
YAML

# The lines of chains that belong to Docker and fail2ban.
foreign_lines() {
	grep -E '^(:|\[[0-9:]*\] -A )(DOCKER|f2b-)' "$1"
}

test_expect_success 'Docker and fail2ban have set up their rules' '
	nsx iptables-restore -c <foreign.rules &&
	ipt_dump >before &&
	foreign_lines before >foreign-before &&
	test $(wc -l <foreign-before) -eq 15
'

test_expect_success 'plan keeps their rules and removes the hand-added one' '
	test_expect_code 2 cgi plan >out &&
	test_grep "kept: 1 rule of fail2ban" out &&
	test_grep "kept: 6 rules of docker" out &&
	test_grep "kept: 1 rule of docker" out &&
	test_grep "- [7] -A FORWARD -s 198.51.100.1/32 -j DROP" out &&
	test_grep_not "- [1] -A FORWARD" out &&
	test_grep_not "-A DOCKER" out
'

test_expect_success 'run changes our rules only' '
	test_expect_code 2 cgi run >out &&
	test_grep "run: 3 repaired" out &&
	ipt_dump >after
'

test_expect_success 'their chains are exactly as they were, counters too' '
	foreign_lines after >foreign-after &&
	test_cmp foreign-before foreign-after
'

test_expect_success 'their jumps and rules in our chains are still there' '
	for r in "[40:2400] -A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd" \
		"[9:540] -A FORWARD -j DOCKER-USER" \
		"[9:540] -A FORWARD -j DOCKER-ISOLATION-STAGE-1" \
		"[5:300] -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
		"[1:60] -A FORWARD -o docker0 -j DOCKER" \
		"[3:180] -A FORWARD -i docker0 ! -o docker0 -j ACCEPT" \
		"[4:240] -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER" \
		"[6:360] -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
	do
		test_grep "$r" after || return 1
	done &&
	test_grep_not "198.51.100.1" after
'

test_expect_success 'fail2ban still comes first in INPUT' '
	grep -- "-A INPUT" after | head -n 1 >first &&
	test_grep "-j f2b-sshd" first
'

test_expect_success 'a second run is a no-op' '
	test_expect_code 0 cgi run &&
	ipt_dump >again &&
	test_cmp after again
'

test_expect_success 'fail2ban banning and Docker restarting are not drift' '
	nsx iptables -I f2b-sshd 1 -s 203.0.113.66 -j REJECT &&
	nsx iptables -D FORWARD -j DOCKER-USER &&
	nsx iptables -I FORWARD 1 -j DOCKER-USER &&
	nsx iptables -N DOCKER-ISOLATION-STAGE-3 &&
	nsx iptables -I FORWARD 2 -j DOCKER-ISOLATION-STAGE-3 &&
	test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 3 ok" out
'

test_done
