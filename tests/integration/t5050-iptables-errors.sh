#!/bin/sh
# t5050: bad rules and bad resources are errors that name the file, the
# line and iptables's own message, in check, plan and run; a bad chain
# does not stop the good ones.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns errors
q="'"

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -p tcp --dport 22 -j ACCEPT
        - -p tcp --dprot 80 -j ACCEPT
        - -p tcp --dport 443 -j ACCPET
  - iptables:
      chain: OUTPUT
      rules:
        - -p udp --dport 53 -j ACCEPT
  - iptables:
      table: nat
      chain: INPUT
      rules:
        - -j MASQUERADE
YAML

test_expect_success 'check finds every bad rule, with file:line and why' '
	test_expect_code 1 cg check policy 2>err &&
	test_grep "roles/fw.yaml:6: iptables:ipv4/filter/INPUT: iptables refuses the rule: unknown option \"--dprot\"" err &&
	test_grep "roles/fw.yaml:7: iptables:ipv4/filter/INPUT: no target or chain ${q}ACCPET${q}" err &&
	test_grep "hint: did you mean ${q}ACCEPT${q}?" err &&
	test_grep "roles/fw.yaml:16: iptables:ipv4/nat/INPUT: iptables refuses the rule:" err &&
	test_grep "3 errors" err
'

test_expect_success 'check without root says the rules were not checked' '
	chmod -R a+rX "$TRASH" &&
	test_expect_code 0 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$CONGRUENT" check "$TRASH/policy" 2>err &&
	test_grep "not checked by the kernel: that needs root" err
'

test_expect_success 'plan fails the bad chains, naming the rules' '
	test_expect_code 6 cgi plan >out &&
	test_grep "! iptables:ipv4/filter/INPUT  (roles/fw.yaml:2)" out &&
	test_grep "roles/fw.yaml:6: iptables refuses the rule: unknown option \"--dprot\"; also refused: roles/fw.yaml:7" out &&
	test_grep "~ iptables:ipv4/filter/OUTPUT" out &&
	test_grep "! iptables:ipv4/nat/INPUT  (roles/fw.yaml:12)" out
'

test_expect_success 'run changes the good chain, and leaves the bad ones' '
	test_expect_code 6 cgi run >out &&
	test_grep "run: 1 repaired, 0 ok, 2 failed" out &&
	ipt_dump >after &&
	test_grep "-A OUTPUT -p udp -m udp --dport 53 -j ACCEPT" after &&
	test_grep_not "-A INPUT" after
'

test_expect_success 'mistakes in the resource itself are policy errors' '
	mkdir -p bad/roles &&
	cp policy/site.yaml bad/ &&
	cat >bad/roles/fw.yaml <<-\EOF &&
	resources:
	  - iptables: {chain: MINE, policy: DROP}
	  - iptables: {chain: INPUT, family: ipv5}
	  - iptables: {chain: INPUT, table: filtre}
	  - iptables: {chain: INPUT, rules: ["-A INPUT -j DROP"]}
	  - iptables: {chain: INPUT, polcy: DROP}
	  - iptables: {chain: FORWARD, state: absent}
	  - iptables: {chain: OUTPUT, rules: ["-j ACCEPT", "-j ACCEPT"]}
	  - iptables: {chain: "-bad"}
	EOF
	test_expect_code 1 cg check bad 2>err &&
	test_grep "roles/fw.yaml:2: iptables:ipv4/filter/MINE: only built-in chains have a policy" err &&
	test_grep "roles/fw.yaml:3: unknown family ${q}ipv5${q}" err &&
	test_grep "roles/fw.yaml:4: unknown table ${q}filtre${q}" err &&
	test_grep "roles/fw.yaml:5: iptables:ipv4/filter/INPUT: rule has the command option ${q}-A${q}" err &&
	test_grep "roles/fw.yaml:6: unknown key ${q}polcy${q}" err &&
	test_grep "did you mean ${q}policy${q}" err &&
	test_grep "roles/fw.yaml:7: iptables:ipv4/filter/FORWARD: FORWARD is a built-in chain of filter: it cannot be absent" err &&
	test_grep "roles/fw.yaml:8: iptables:ipv4/filter/OUTPUT: rule listed twice" err &&
	test_grep "roles/fw.yaml:9: invalid chain name ${q}-bad${q}" err
'

test_expect_success 'an unquoted ! is not silently dropped by YAML' '
	mkdir -p bang/roles &&
	cp policy/site.yaml bang/ &&
	cat >bang/roles/fw.yaml <<-\EOF &&
	resources:
	  - iptables:
	      chain: INPUT
	      rules:
	        - ! -s 10.0.0.0/8 -j DROP
	EOF
	test_expect_code 1 cg check bang 2>err &&
	test_grep "roles/fw.yaml:5:11: ${q}!${q} here is a YAML tag, which would be dropped from the value: quote a value that starts with ${q}!${q}" err &&
	sed -i "s/- ! -s 10.0.0.0\/8 -j DROP/- \"! -s 10.0.0.0\/8 -j DROP\"/" bang/roles/fw.yaml &&
	test_expect_code 0 cg check bang
'

test_expect_success 'a namespace that does not exist is an error, not the host' '
	test_expect_code 4 cg plan --policy policy --netns cgtest-$$-nosuch \
		--state-dir state >out &&
	test_grep "cannot open network namespace ${q}cgtest-$$-nosuch${q}" out &&
	test_grep "ip netns add" out
'

test_expect_success '--root without --netns leaves the firewall alone' '
	test_make_root root &&
	test_expect_code 4 cg plan --policy policy --root root >out &&
	test_grep "not touching this machine${q}s firewall for --root" out
'

test_done
