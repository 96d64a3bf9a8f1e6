#!/bin/sh
# t5090: the backend is the host's (nf_tables or legacy); rules in both
# are refused with a clear message rather than guessed at.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

for t in iptables-nft iptables-legacy iptables-legacy-save; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t is not installed"
		exit 0
	fi
done

ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -p tcp --dport 22 -j ACCEPT
YAML

# A host whose iptables command is the legacy one, as update-alternatives
# makes it: a PATH where iptables resolves to xtables-legacy-multi.
mkdir legacy-bin
ln -s "$(command -v iptables-legacy)" legacy-bin/iptables
nft_bin() {
	mkdir -p nft-bin
	ln -sf "$(command -v iptables-nft)" nft-bin/iptables
}
nft_bin

# Namespaces are made here, not in the tests' subshells.
for n in legacy nft other other2 v6; do
	ipt_netns $n
done
NS=
test_expect_success 'an iptables-legacy host: rules go to the legacy tables' '
	NS=cgtest-$$-legacy &&
	PATH="$TRASH/legacy-bin:$PATH" test_expect_code 2 cgi run &&
	nsx iptables-legacy-save >legacy &&
	test_grep "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" legacy &&
	nsx iptables-nft-save >nft &&
	test_grep_not "-A INPUT" nft &&
	PATH="$TRASH/legacy-bin:$PATH" test_expect_code 0 cgi run
'

test_expect_success 'an iptables-nft host: rules go to nf_tables' '
	NS=cgtest-$$-nft &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi run &&
	nsx iptables-nft-save >nft &&
	test_grep "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" nft &&
	nsx iptables-legacy-save >legacy &&
	test_grep_not "-A INPUT" legacy
'

test_expect_success 'empty legacy tables next to nf_tables are fine' '
	NS=cgtest-$$-nft &&
	nsx iptables-legacy -L -n >/dev/null &&
	nsx iptables-nft-save 2>&1 | grep -q "legacy tables present" &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 0 cgi run
'

test_expect_success 'rules in both backends: refused, and why' '
	NS=cgtest-$$-nft &&
	nsx iptables-legacy -A INPUT -s 192.0.2.1 -j DROP &&
	nsx iptables-legacy-save >legacy-before &&
	ipt_dump >nft-before &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 4 cgi plan >out &&
	test_grep "ipv4 rules live in both iptables backends here: 1 under nf_tables and 1 under legacy; congruent will not guess which of them matters" out &&
	test_grep "hint: keep one backend" out &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 4 cgi run >out &&
	nsx iptables-legacy-save >legacy-after &&
	ipt_dump >nft-after &&
	test_cmp nft-before nft-after &&
	grep -v "^#" legacy-before >a && grep -v "^#" legacy-after >b &&
	test_cmp a b
'

test_expect_success 'the other backend alone in use: refused too' '
	NS=cgtest-$$-other &&
	nsx iptables-legacy -A INPUT -s 192.0.2.1 -j DROP &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 4 cgi plan >out &&
	test_grep "the ipv4 rules here are under iptables-legacy (1 rules), but the iptables command uses nf_tables" out
'

test_expect_success 'the same from a legacy host with rules in nf_tables' '
	NS=cgtest-$$-other2 &&
	nsx iptables-nft -A INPUT -s 192.0.2.1 -j DROP &&
	PATH="$TRASH/legacy-bin:$PATH" test_expect_code 4 cgi plan >out &&
	test_grep "the ipv4 rules here are under iptables-nft (1 rules), but the iptables command uses legacy" out
'

test_expect_success 'ipv6 is checked on its own' '
	NS=cgtest-$$-v6 &&
	nsx ip6tables-legacy -A INPUT -j DROP &&
	PATH="$TRASH/nft-bin:$PATH" test_expect_code 2 cgi plan
'

test_done
