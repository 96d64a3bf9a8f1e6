#!/bin/sh
# t5110: the fingerprint is a function of the state: a run that repairs
# chains (one managed chain jumping to another) reports the fingerprint of
# the no-op run after it, and of a plan.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

ipt_netns fp
ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
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
YAML

fp() {
	jq -r .fingerprint "$1"
}

# run (exit $1) then a no-op run and a plan: the same fingerprint.
same_after() {
	test_expect_code "$1" cgi run --format json >repair.json &&
	test_expect_code 0 cgi run --format json >noop.json &&
	test_expect_code 0 cgi plan --format json >plan.json &&
	test "$(fp repair.json)" = "$(fp noop.json)" &&
	test "$(fp noop.json)" = "$(fp plan.json)"
}

test_expect_success 'the first run, which makes the chains' '
	same_after 2 &&
	cp noop.json first.json
'

test_expect_success 'a run that repairs INPUT only, which jumps to SSH' '
	nsx iptables -D INPUT -p tcp --dport 22 -j SSH &&
	test_expect_code 2 cgi plan --format json >drift.json &&
	test "$(fp drift.json)" != "$(fp first.json)" &&
	same_after 2 &&
	test "$(fp noop.json)" = "$(fp first.json)"
'

test_expect_success 'a run that repairs SSH only, which INPUT jumps to' '
	nsx iptables -D SSH -j RETURN &&
	same_after 2 &&
	test "$(fp noop.json)" = "$(fp first.json)"
'

test_expect_success 'a run that repairs all three' '
	nsx iptables -P INPUT ACCEPT &&
	nsx iptables -D LOGDROP -j DROP &&
	nsx iptables -D SSH -s 10.0.0.0/8 -j ACCEPT &&
	same_after 2 &&
	test "$(fp noop.json)" = "$(fp first.json)"
'

test_done
