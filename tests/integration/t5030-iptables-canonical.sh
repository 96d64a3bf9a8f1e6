#!/bin/sh
# t5030: rules are compared in the kernel's own form: equivalent spellings
# are no drift, with no normalisation table in congruent.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

ipt_netns canon

# Spelled one way on the host (as a person or another tool typed them)...
test_expect_success 'rules added by hand, in one spelling' '
	nsx iptables -A INPUT -s 10.0.0.1/32 -j ACCEPT &&
	nsx iptables -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT &&
	nsx iptables -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT &&
	nsx iptables -A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT &&
	nsx iptables -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT &&
	nsx iptables -A INPUT -d 192.168.1.0/24 -p udp -m udp --sport 53 -j ACCEPT &&
	nsx iptables -A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT &&
	nsx iptables -A INPUT -m conntrack --ctstate INVALID -j DROP &&
	ipt_dump >before
'

# ...and another way in the policy.
ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      rules:
        - -s 10.0.0.1 -j ACCEPT
        - -m state --state ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
        - -p icmp --icmp-type echo-request -j ACCEPT
        - --protocol tcp -m multiport --destination-ports 80,443 --jump ACCEPT
        - --destination 192.168.1.7/24 -p udp --sport domain -j ACCEPT
        - -p tcp --syn -j ACCEPT
        - -m conntrack --ctstate INVALID -j DROP
YAML

test_expect_success 'the same rules spelled differently are no drift' '
	test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 1 ok" out
'

test_expect_success 'run changes nothing either' '
	test_expect_code 0 cgi run &&
	ipt_dump >after &&
	test_cmp before after
'

test_expect_success 'the forms are cached for the next run' '
	test -s state/cache/iptables-ipv4-filter &&
	test_grep "-p icmp -m icmp --icmp-type 8 -j ACCEPT" \
		state/cache/iptables-ipv4-filter &&
	test_expect_code 0 cgi run
'

# A wrapper, first in PATH, that logs every iptables-restore started in
# another namespace than the test's: the scratch namespace's loads.
scratch_counter() {
	mkdir -p "$TRASH/count-bin" &&
	nsx readlink /proc/self/ns/net >"$TRASH/count-bin/target-ns" &&
	for t in iptables-nft-restore iptables-legacy-restore; do
		real=$(command -v $t) || continue
		cat >"$TRASH/count-bin/$t" <<-EOF
		#!/bin/sh
		if [ "\$(readlink /proc/self/ns/net)" != "\$(cat $TRASH/count-bin/target-ns)" ]; then
			echo load >>$TRASH/count-bin/loads
		fi
		exec $real "\$@"
		EOF
		chmod +x "$TRASH/count-bin/$t"
	done
}

test_expect_success 'plan reads what run cached, and writes nothing' '
	scratch_counter &&
	# The tools are part of the cache key: run with the same ones.
	PATH="$TRASH/count-bin:$PATH" test_expect_code 0 cgi run &&
	PATH="$TRASH/count-bin:$PATH" test_expect_code 0 cgi run &&
	rm -f count-bin/loads &&
	ls -l --time-style=full-iso state/cache >cache.before &&
	PATH="$TRASH/count-bin:$PATH" test_expect_code 0 cgi plan >out &&
	test_grep "plan: 0 to change, 1 ok" out &&
	test ! -e count-bin/loads &&
	ls -l --time-style=full-iso state/cache >cache.after &&
	test_cmp cache.before cache.after &&
	mv state/cache cache.away &&
	PATH="$TRASH/count-bin:$PATH" test_expect_code 0 cgi plan >out &&
	test -s count-bin/loads &&
	test ! -e state/cache &&
	mv cache.away state/cache
'

test_expect_success 'a changed policy is not answered from the cache' '
	sed -i "s/--dport 22 -j ACCEPT/--dport 2222 -j ACCEPT/" policy/roles/fw.yaml &&
	test_expect_code 2 cgi run >out &&
	test_grep "+ [3] -A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT" out &&
	test_grep "kept: 1 rule not in the policy (purge is off)" out
'

test_expect_success 'a corrupt cache is not trusted' '
	echo "garbage" >state/cache/iptables-ipv4-filter &&
	test_expect_code 0 cgi run &&
	test_grep "congruent iptables canonical" state/cache/iptables-ipv4-filter
'

test_expect_success 'one rule that iptables makes two (-s a,b) is compared as two' '
	cat >>policy/roles/fw.yaml <<-\EOF &&
	  - iptables:
	      chain: OUTPUT
	      rules:
	        - -d 192.0.2.1,192.0.2.2 -j ACCEPT
	        - -j LOG
	EOF
	test_expect_code 2 cgi run &&
	ipt_dump | grep -- "-A OUTPUT" | sed "s/^\[[0-9:]*\] //" >rules &&
	cat >expect <<-\EOF &&
	-A OUTPUT -d 192.0.2.1/32 -j ACCEPT
	-A OUTPUT -d 192.0.2.2/32 -j ACCEPT
	-A OUTPUT -j LOG
	EOF
	test_cmp expect rules &&
	test_expect_code 0 cgi plan
'

test_expect_success 'two spellings of one rule in the policy are an error' '
	cat >>policy/roles/fw.yaml <<-\EOF &&
	  - iptables:
	      chain: FORWARD
	      rules:
	        - -s 10.1.0.0/16 -j ACCEPT
	        - -s 10.1.2.3/16 -j ACCEPT
	EOF
	test_expect_code 4 cgi run 2>err >out &&
	test_grep "roles/fw.yaml:22: this rule is the same as the one at roles/fw.yaml:21" out
'

test_done
