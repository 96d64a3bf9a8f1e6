#!/bin/sh
# t5150: a managed rule that can never match (after an unconditional
# RETURN, ACCEPT, DROP or REJECT, or a rule that takes all its packets)
# is a warning in plan, in run and in the report, with both rules; not
# drift, and the exit status does not change. Docker-, firewalld- and
# fail2ban-shaped chains.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

ipt_netns shadow

test_expect_success 'Docker-shaped: a rule after DOCKER-USER'"'"'s RETURN' '
	nsx iptables -N DOCKER-USER &&
	nsx iptables -A DOCKER-USER -j RETURN &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: DOCKER-USER
	      rules:
	        - -s 10.0.0.0/8 -j DROP
	YAML
	W="[2] -A DOCKER-USER -s 10.0.0.0/8 -j DROP (roles/fw.yaml:5) never matches: shadowed by [1] -A DOCKER-USER -j RETURN" &&
	test_expect_code 2 cgi plan >out &&
	test_grep "    warning: $W" out &&
	test_grep "plan: 1 to change, 0 ok, 0 failed, 0 skipped, 1 extra, 1 warning (" out &&
	ipt_plan_predicts_run 2 &&
	jq -r ".resources[0].warnings[0]" plan.json >plan.w &&
	jq -r ".resources[0].warnings[0]" run.json >run.w &&
	echo "$W" >want.w &&
	test_cmp want.w plan.w &&
	test_cmp want.w run.w &&
	jq -e ".summary.warnings == 1" state/reports/last-run.json &&
	jq -r ".resources[0].warnings[0]" state/reports/last-run.json >report.w &&
	test_cmp want.w report.w
'

test_expect_success 'run says it on every run, though nothing changes' '
	test_expect_code 0 cgi run >out 2>err &&
	test_grep "= iptables:ipv4/filter/DOCKER-USER" out &&
	test_grep "    warning: $W" out &&
	test_grep "run: 0 repaired, 1 ok, 0 failed, 0 skipped, 1 extra, 1 warning (" out &&
	test_grep "warning iptables:ipv4/filter/DOCKER-USER (roles/fw.yaml:2): $W" err
'

test_expect_success 'placed before the RETURN, it is no longer shadowed' '
	sed -i "s/chain: DOCKER-USER/chain: DOCKER-USER\n      before: \"-j RETURN\"/" policy/roles/fw.yaml &&
	ipt_plan_predicts_run 2 &&
	jq -e "[.resources[0].warnings] == [null]" run.json &&
	test_expect_code 0 cgi plan >out &&
	test_grep_not "warning" out
'

ipt_netns firewalld

test_expect_success 'firewalld-shaped: a rule after INPUT'"'"'s REJECT' '
	printf "*filter\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n" >fwd &&
	nsx iptables-restore --noflush <fwd &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - -p tcp --dport 9100 -j ACCEPT
	YAML
	ipt_plan_predicts_run 2 &&
	jq -r ".resources[0].warnings[0]" run.json >got &&
	echo "[5] -A INPUT -p tcp -m tcp --dport 9100 -j ACCEPT (roles/fw.yaml:5) never matches: shadowed by [4] -A INPUT -j REJECT --reject-with icmp-host-prohibited" >want &&
	test_cmp want got
'

ipt_netns fail2ban

test_expect_success 'fail2ban-shaped, and rules of the policy that hide each other' '
	nsx iptables -N f2b-sshd &&
	nsx iptables -A f2b-sshd -s 203.0.113.9 -j REJECT &&
	nsx iptables -A f2b-sshd -j RETURN &&
	nsx iptables -A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd &&
	ipt_policy <<-\YAML &&
	  - iptables:
	      chain: INPUT
	      rules:
	        - -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	        - -p tcp --dport 22 -j ACCEPT
	        - -s 10.0.0.0/8 -p tcp --dport 22 -j DROP
	        - -m conntrack --ctstate ESTABLISHED -j DROP
	        - -s 10.0.0.0/8 -j DROP
	        - -s 10.1.0.0/16 -p udp -j ACCEPT
	        - -m limit --limit 5/s -j ACCEPT
	        - -m limit --limit 5/s -j LOG
	YAML
	ipt_plan_predicts_run 2 &&
	jq -r ".resources[0].warnings[]" run.json >got &&
	cat >want <<-\EOF &&
	[4] -A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j DROP (roles/fw.yaml:7) never matches: shadowed by [3] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	[5] -A INPUT -m conntrack --ctstate ESTABLISHED -j DROP (roles/fw.yaml:8) never matches: shadowed by [2] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	[7] -A INPUT -s 10.1.0.0/16 -p udp -j ACCEPT (roles/fw.yaml:10) never matches: shadowed by [6] -A INPUT -s 10.0.0.0/8 -j DROP
	EOF
	test_cmp want got &&
	jq -e ".exit_status == 2" run.json
'

test_done
