#!/bin/sh
# t5140: managed rules placed where they take effect in chains other
# software uses: position: first | last, before: "ANCHOR", for a whole
# resource or one rule; on Docker-shaped (DOCKER-USER ending in RETURN)
# and firewalld-shaped (INPUT ending in REJECT) chains. plan shows the
# place, and predicts run.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

ipt_netns docker

test_expect_success 'a Docker-shaped DOCKER-USER' '
	nsx iptables -N DOCKER-USER &&
	nsx iptables -A DOCKER-USER -j RETURN
'

test_expect_success 'without a place, managed rules land after the RETURN' '
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: DOCKER-USER
	      rules:
	        - -s 10.0.0.0/8 -j DROP
	YAML
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [2] -A DOCKER-USER -s 10.0.0.0/8 -j DROP" out
'

test_expect_success 'before: "-j RETURN" puts them before it, and plan says so' '
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: DOCKER-USER
	      before: "-j RETURN"
	      rules:
	        - -s 10.0.0.0/8 -j DROP
	        - -i eth0 -p tcp --dport 6379 -j DROP
	YAML
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [1] -A DOCKER-USER -s 10.0.0.0/8 -j DROP  (before [1] -A DOCKER-USER -j RETURN)" out &&
	test_grep "+ [2] -A DOCKER-USER -i eth0 -p tcp -m tcp --dport 6379 -j DROP  (before [1] -A DOCKER-USER -j RETURN)" out &&
	ipt_plan_predicts_run 2 &&
	ipt_dump -t filter | grep -- "-A DOCKER-USER" | sed "s/^\[[0-9:]*\] //" >got &&
	cat >want <<-\EOF &&
	-A DOCKER-USER -s 10.0.0.0/8 -j DROP
	-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 6379 -j DROP
	-A DOCKER-USER -j RETURN
	EOF
	test_cmp want got &&
	test_expect_code 0 cgi run
'

test_expect_success 'a managed rule found after the anchor is moved before it' '
	nsx iptables -D DOCKER-USER -s 10.0.0.0/8 -j DROP &&
	nsx iptables -A DOCKER-USER -s 10.0.0.0/8 -j DROP &&
	test_expect_code 2 cgi plan >out &&
	test_grep "- [3] -A DOCKER-USER -s 10.0.0.0/8 -j DROP" out &&
	test_grep "+ [1] -A DOCKER-USER -s 10.0.0.0/8 -j DROP  (before [2] -A DOCKER-USER -j RETURN)" out &&
	ipt_plan_predicts_run 2 &&
	ipt_dump -t filter | grep -- "-A DOCKER-USER" | sed "s/^\[[0-9:]*\] //" >got &&
	test_cmp want got
'

test_expect_success 'position: first, and last, of the resource' '
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: DOCKER-USER
	      position: last
	      rules:
	        - -s 10.0.0.0/8 -j DROP
	        - -i eth0 -p tcp --dport 6379 -j DROP
	YAML
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [3] -A DOCKER-USER -i eth0 -p tcp -m tcp --dport 6379 -j DROP  (last)" out &&
	ipt_plan_predicts_run 2 &&
	sed -i "s/position: last/position: first/" policy/roles/fw.yaml &&
	ipt_plan_predicts_run 2 &&
	ipt_dump -t filter | grep -- "-A DOCKER-USER" | sed "s/^\[[0-9:]*\] //" >got &&
	test_cmp want got &&
	test_expect_code 0 cgi run
'

ipt_netns firewalld

# firewalld's INPUT (its iptables backend), ending in a REJECT.
test_expect_success 'a firewalld-shaped INPUT' '
	nsx iptables -N INPUT_direct &&
	nsx iptables -N INPUT_ZONES &&
	cat >fwd <<-\EOF &&
	*filter
	-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	-A INPUT -i lo -j ACCEPT
	-A INPUT -j INPUT_direct
	-A INPUT -j INPUT_ZONES
	-A INPUT -m conntrack --ctstate INVALID -j DROP
	-A INPUT -j REJECT --reject-with icmp-host-prohibited
	COMMIT
	EOF
	nsx iptables-restore --noflush <fwd
'

test_expect_success 'per rule: one first, one before the REJECT, one as ordered' '
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - { rule: "-s 192.0.2.0/24 -j DROP", position: first }
	        - -s 198.51.100.0/24 -j DROP
	        - { rule: "-p tcp --dport 9100 -j ACCEPT", before: "-j REJECT" }
	YAML
	test_expect_code 2 cgi plan >out &&
	test_grep "+ [1] -A INPUT -s 192.0.2.0/24 -j DROP  (first)" out &&
	test_grep "+ [2] -A INPUT -s 198.51.100.0/24 -j DROP" out &&
	test_grep "+ [8] -A INPUT -p tcp -m tcp --dport 9100 -j ACCEPT  (before [6] -A INPUT -j REJECT --reject-with icmp-host-prohibited)" out &&
	ipt_plan_predicts_run 2 &&
	ipt_dump -t filter | grep -- "-A INPUT" | sed "s/^\[[0-9:]*\] //" >got &&
	cat >want <<-\EOF &&
	-A INPUT -s 192.0.2.0/24 -j DROP
	-A INPUT -s 198.51.100.0/24 -j DROP
	-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	-A INPUT -i lo -j ACCEPT
	-A INPUT -j INPUT_direct
	-A INPUT -j INPUT_ZONES
	-A INPUT -m conntrack --ctstate INVALID -j DROP
	-A INPUT -p tcp -m tcp --dport 9100 -j ACCEPT
	-A INPUT -j REJECT --reject-with icmp-host-prohibited
	EOF
	test_cmp want got &&
	test_expect_code 0 cgi run
'

test_expect_success 'a bad place is an error naming the line' '
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      position: middle
	YAML
	test_expect_code 1 cg check policy 2>err &&
	test_grep "roles/fw.yaml:4" err &&
	test_grep "position is first or last, not '"'"'middle'"'"'" err &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - { rule: "-j ACCEPT", position: first, before: "-j REJECT" }
	        - { position: first }
	YAML
	test_expect_code 1 cg check policy 2>err &&
	test_grep "position: and before: say the same thing twice" err &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - { position: first }
	YAML
	test_expect_code 1 cg check policy 2>err &&
	test_grep "roles/fw.yaml:5" err &&
	test_grep "a rule written as a map needs rule:" err
'

test_done
