#!/bin/sh
# t5095: the boot unit is valid, and run --only iptables enforces the
# firewall part of a policy and nothing else.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

UNIT=$TOP/contrib/systemd/congruent-firewall.service.in
ipt_netns boot
q="'"

test_expect_success 'the unit orders itself before the network' '
	test_grep "Before=network-pre.target" "$UNIT" &&
	test_grep "Wants=network-pre.target" "$UNIT" &&
	test_grep "DefaultDependencies=no" "$UNIT" &&
	test_grep "run --only iptables --no-pull --no-report" "$UNIT"
'

if command -v systemd-analyze >/dev/null; then
	test_expect_success 'systemd-analyze verify finds nothing wrong' '
		sed "s|@SBINDIR@/congruent|$CONGRUENT|" "$UNIT" \
			>congruent-firewall.service &&
		systemd-analyze verify --man=no ./congruent-firewall.service >out 2>&1 &&
		test_grep_not "congruent-firewall" out
	'
else
	test_skip 'systemd-analyze verify finds nothing wrong' 'no systemd-analyze'
fi

ipt_policy <<'YAML'
  - file: /etc/motd
    content: "hello\n"
  - iptables:
      chain: INPUT
      policy: DROP
      rules: ["-i lo -j ACCEPT", "-m conntrack --ctstate ESTABLISHED -j ACCEPT",
              "-p tcp --dport 22 -j ACCEPT"]
    requires: [file:/etc/motd]
YAML

test_expect_success 'run --only iptables: the firewall, not the files' '
	test_make_root root &&
	test_expect_code 2 cg run --only iptables --no-pull --no-report \
		--policy policy --root root --netns "$NS" --state-dir state >out &&
	test_grep "run: 1 repaired" out &&
	test ! -e root/etc/motd &&
	ipt_dump >rules &&
	test_grep ":INPUT DROP" rules &&
	test_grep "-A INPUT -i lo -j ACCEPT" rules
'

test_expect_success 'and a second boot finds it congruent' '
	test_expect_code 0 cg run --only iptables --no-pull --no-report \
		--policy policy --root root --netns "$NS" --state-dir state
'

test_expect_success 'plan --only shows only that type' '
	test_expect_code 0 cg plan --only iptables --policy policy \
		--root root --netns "$NS" >out &&
	test_grep "order (1 resource)" out &&
	test_expect_code 2 cg plan --policy policy --root root --netns "$NS" >out &&
	test_grep "order (2 resources)" out
'

test_expect_success '--only with a type that does not exist' '
	test_expect_code 1 cg run --only iptable --policy policy 2>err &&
	test_grep "--only takes a resource type (like iptables), not ${q}iptable${q}" err
'

test_done
