#!/bin/sh
# t5100: what iptables-save shows is read faithfully, or not trusted: a
# comment with a newline is one rule, and a chain holding one fails
# closed; rules written with nft that iptables-save prints wrongly or not
# at all fail their chain closed, on every run, and are never purged or
# counted as managed. plan predicts run in each case.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

for t in iptables-legacy iptables-legacy-save jq; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t is not installed"
		exit 0
	fi
done

mkdir legacy-bin
ln -s "$(command -v iptables-legacy)" legacy-bin/iptables
for n in nl nl2 other set drop incompat plain; do
	ipt_netns $n
done
NS=

# The comment makes a chain whose only rule drops all TCP look like the
# policy's ACCEPT rule followed by a comment line.
evil='x
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
#'

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -p tcp --dport 22 -j ACCEPT
YAML

test_expect_success 'nf_tables: a comment with a newline fails INPUT closed' '
	NS=cgtest-$$-nl &&
	nsx iptables -A INPUT -p tcp -m comment --comment "$evil" -j DROP &&
	ipt_dump >before &&
	ipt_plan_predicts_run 4 &&
	test_grep "rule [1] of chain INPUT is printed by iptables-save over several lines" plan.json &&
	test_expect_code 4 cgi run >out &&
	test_grep "! iptables:ipv4/filter/INPUT" out &&
	test_grep "not touching chain INPUT" out &&
	ipt_dump >after &&
	test_cmp before after
'

test_expect_success 'legacy: the same' '
	NS=cgtest-$$-nl2 &&
	nsx iptables-legacy -A INPUT -p tcp -m comment --comment "$evil" -j DROP &&
	nsx iptables-legacy-save | grep -v "^#" >before &&
	PATH="$TRASH/legacy-bin:$PATH" ipt_plan_predicts_run 4 &&
	test_grep "over several lines" run.json &&
	nsx iptables-legacy-save | grep -v "^#" >after &&
	test_cmp before after
'

test_expect_success 'such a rule in a chain the policy does not manage is left be' '
	NS=cgtest-$$-other &&
	nsx iptables -N OTHERS &&
	nsx iptables -A OTHERS -m comment --comment "a \"quoted\"
two-line comment" -j DROP &&
	ipt_plan_predicts_run 2 &&
	test_expect_code 0 cgi run &&
	nsx iptables -S OTHERS >others &&
	test_grep "two-line comment" others &&
	nsx iptables -S INPUT >input &&
	test_grep "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" input
'

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      purge: true
      rules:
        - -p tcp --dport 22 -j ACCEPT
        - -j ACCEPT
YAML

test_expect_success 'a set match iptables-save leaves out: failed, never purged or copied' '
	NS=cgtest-$$-set &&
	nsx iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
	nsx nft add rule ip filter INPUT ip saddr "{ 10.0.0.1, 10.0.0.2 }" accept &&
	nsx iptables-save | grep -- "-A INPUT -j ACCEPT" &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >before &&
	ipt_plan_predicts_run 4 &&
	test_grep "rule [2] of chain INPUT was written with nft" run.json &&
	test_grep "ip saddr { 10.0.0.1, 10.0.0.2 } accept" run.json &&
	test_expect_code 4 cgi run >out &&
	test_grep_not "undone" out &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >after &&
	test_cmp before after
'

test_expect_success 'a rule iptables-save cannot print: failed, nothing changed' '
	NS=cgtest-$$-drop &&
	nsx iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
	nsx nft add rule ip filter INPUT meta mark set 1 &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >before &&
	ipt_plan_predicts_run 4 &&
	test_grep "iptables-nft-save failed" run.json &&
	test_grep "a rule written with nft that iptables cannot read" run.json &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >after &&
	test_cmp before after
'

test_expect_success 'a table iptables-save calls incompatible: failed, nothing added' '
	NS=cgtest-$$-incompat &&
	nsx iptables -A INPUT -p tcp --dport 22 -j ACCEPT &&
	nsx nft add rule ip filter INPUT ct state established accept &&
	nsx iptables-save | grep "incompatible" &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >before &&
	ipt_plan_predicts_run 4 &&
	test_grep "changed with nft in a way iptables cannot show" run.json &&
	test_expect_code 4 cgi run &&
	nsx nft list chain ip filter INPUT | sed "/handle/d" >after &&
	test_cmp before after
'

test_expect_success 'rules iptables wrote itself, with comments and quotes, are trusted' '
	NS=cgtest-$$-plain &&
	nsx iptables -A INPUT -m conntrack --ctstate ESTABLISHED -m comment --comment "say \"hi\" \\ there" -j ACCEPT &&
	nsx iptables -A INPUT -m limit --limit 1/s -j LOG --log-prefix "in: " &&
	nsx iptables -A INPUT -p udp -m multiport --dports 53,123 -j ACCEPT &&
	ipt_plan_predicts_run 2 &&
	test_expect_code 0 cgi run &&
	nsx iptables -S INPUT >input &&
	test_grep_not "say" input
'

test_expect_success 'a table found consistent is remembered, a change to it is seen' '
	NS=cgtest-$$-plain &&
	test_expect_code 0 cgi run &&
	test -f state/cache/nft-check-ipv4-filter &&
	nsx nft add rule ip filter INPUT ip saddr "{ 10.0.0.1, 10.0.0.2 }" accept &&
	ipt_plan_predicts_run 4 &&
	test_grep "was written with nft and is not what iptables-save shows" run.json &&
	nsx nft -a list chain ip filter INPUT >nft &&
	handle=$(sed -n "s/.*saddr.* # handle //p" nft) &&
	nsx nft delete rule ip filter INPUT handle "$handle" &&
	test_expect_code 0 cgi run
'

test_done
