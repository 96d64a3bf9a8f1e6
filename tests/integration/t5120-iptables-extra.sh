#!/bin/sh
# t5120: nothing hides in a managed chain: every rule there that the
# policy does not name is shown in plan and run, with its position and
# owner; the unknown ones are counted ("1 extra"), put in the report, and
# fleet shows the hosts that carry them.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

ipt_netns clean
CLEAN=$NS
ipt_netns extra

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      ignore: ["keep me"]
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
YAML

test_expect_success 'a chain with rules of others and one by hand' '
	test_expect_code 2 cgi run &&
	nsx iptables -N DOCKER-USER &&
	nsx iptables -N f2b-sshd &&
	nsx iptables -I INPUT 1 -p tcp --dport 22 -j f2b-sshd &&
	nsx iptables -A INPUT -j DOCKER-USER &&
	nsx iptables -A INPUT -m comment --comment "keep me" -j LOG &&
	nsx iptables -A INPUT -s 192.0.2.7 -j ACCEPT
'

test_expect_success 'plan shows each, with position and owner, and counts the unknown' '
	test_expect_code 0 cgi plan >out &&
	test_grep "= iptables:ipv4/filter/INPUT  (roles/fw.yaml:2)" out &&
	test_grep "    extra [1] -A INPUT -p tcp -m tcp --dport 22 -j f2b-sshd  (owner: fail2ban)" out &&
	test_grep "    extra [4] -A INPUT -j DOCKER-USER  (owner: docker)" out &&
	test_grep "    extra [5] -A INPUT -m comment --comment \"keep me\" -j LOG  (owner: ignore:)" out &&
	test_grep "    extra [6] -A INPUT -s 192.0.2.7/32 -j ACCEPT  (owner: unknown)" out &&
	test_grep "plan: 0 to change, 1 ok, 0 failed, 0 skipped, 1 extra (" out
'

test_expect_success 'run shows them too, without -v, though nothing changed' '
	test_expect_code 0 cgi run >out &&
	test_grep "    extra [6] -A INPUT -s 192.0.2.7/32 -j ACCEPT  (owner: unknown)" out &&
	test_grep "run: 0 repaired, 1 ok, 0 failed, 0 skipped, 1 extra (" out
'

test_expect_success 'plan predicts run, extras and positions included' '
	nsx iptables -D INPUT -p tcp --dport 22 -j ACCEPT &&
	ipt_plan_predicts_run 2 &&
	jq -c ".resources[0].unmanaged" plan.json >plan.extra &&
	jq -c ".resources[0].unmanaged" run.json >run.extra &&
	test_cmp plan.extra run.extra &&
	jq -e ".summary.extra == 1" run.json &&
	jq -e "[.resources[0].unmanaged[] | select(.owner == null)] == [{\"kind\": \"rule\", \"item\": \"-A INPUT -s 192.0.2.7/32 -j ACCEPT\", \"owner\": null, \"position\": 5}]" run.json
'

test_expect_success 'the report marks them' '
	jq -e ".summary.extra == 1" state/reports/last-run.json &&
	jq -e "[.resources[0].unmanaged[] | select(.owner == null) | .position] == [5]" state/reports/last-run.json
'

test_expect_success 'with purge the hand rule goes, the others stay' '
	sed "s/policy: DROP/policy: DROP\n      purge: true/" policy/roles/fw.yaml >fw.yaml &&
	mv fw.yaml policy/roles/fw.yaml &&
	test_expect_code 2 cgi run >out &&
	test_grep "- [6] -A INPUT -s 192.0.2.7/32 -j ACCEPT" out &&
	test_grep_not "owner: unknown" out &&
	test_grep "    extra [4] -A INPUT -j DOCKER-USER  (owner: docker)" out &&
	test_grep_not "extra (" out &&
	nsx iptables -A INPUT -s 192.0.2.7 -j ACCEPT
'

test_expect_success 'fleet shows the hosts that carry unknown rules' '
	git init -q --bare central.git &&
	printf "reports:\n  url: %s\n" "$TRASH/central.git" >agent.yaml &&
	sed -i "/purge: true/d" policy/roles/fw.yaml &&
	test_expect_code 0 cgi run -c agent.yaml --hostname fw-1 >out &&
	cat out &&
	NS=$CLEAN &&
	test_expect_code 2 cgi run -c agent.yaml --hostname fw-2 --state-dir state2 &&
	git --git-dir=central.git log -1 --format=%s hosts/fw-1 >subject &&
	test_grep "fw-1: congruent (1 ok, 0 repaired, 0 failed, 0 skipped, 1 extra)" subject &&
	git --git-dir=central.git log -1 --format=%s hosts/fw-2 >subject &&
	test_grep "fw-2: rolled out (0 ok, 1 repaired, 0 failed, 0 skipped)" subject &&
	test_expect_code 2 cg fleet --reports central.git >fleet.txt &&
	cat fleet.txt &&
	test_grep "    1 extra (in managed resources, not in the policy, owner unknown)" fleet.txt &&
	test_grep "; 1 with extra" fleet.txt &&
	test_expect_code 2 cg fleet --reports central.git --format json >fleet.json &&
	jq -e "[.hosts[] | select(.extra > 0) | .host] == [\"fw-1\"]" fleet.json
'

test_done
