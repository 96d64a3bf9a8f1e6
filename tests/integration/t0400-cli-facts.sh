#!/bin/bash
# t0400-cli-facts: the network, container and disk facts, read in a
# throwaway network namespace with a veth pair, an address of each family
# and a default route; usable in classes and templates.
. "$(dirname "$0")/../lib/lib.sh"
test_require_root
test_require_cap CAP_NET_ADMIN CAP_SYS_ADMIN

# In a network namespace of its own: only lo, then what we add.
in_netns() {
	unshare -n sh -c '
		ip link add cgv0 type veth peer name cgv1 &&
		ip addr add 192.0.2.5/24 dev cgv0 &&
		ip -6 addr add 2001:db8::5/64 dev cgv0 nodad &&
		ip link set cgv0 up && ip link set cgv1 up &&
		ip route add default via 192.0.2.1 &&
		"$@"' sh "$@"
}

test_expect_success 'interfaces, addresses and the default route' '
	in_netns "$CONGRUENT" facts --format json >facts.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/facts.schema.json" facts.json &&
	jq -e ".ipv4 == \"192.0.2.5\" and .ipv6 == \"2001:db8::5\"" facts.json &&
	jq -e ".default_interface == \"cgv0\" and .default_gateway == \"192.0.2.1\"" facts.json &&
	jq -e ".interfaces | split(\",\") | sort == [\"cgv0\", \"cgv1\"]" facts.json &&
	jq -e "(.disk_total_mb | tonumber) > 0 and (.virtualization | length) > 0" facts.json
'

test_expect_success 'only loopback: the network facts are empty' '
	unshare -n "$CONGRUENT" facts --format json >lo.json &&
	jq -e ".interfaces == \"\" and .ipv4 == \"\" and .default_interface == \"\" and .default_gateway == \"\"" lo.json
'

test_expect_success 'a class and a template use them' '
	mkdir -p pol/roles pol/templates &&
	printf "classes:\n  - facts: { default_interface: cgv0 }\n    roles: [net]\n  - match: \"*\"\n    roles: [none]\n" >pol/site.yaml &&
	printf "resources:\n  - file: /etc/net\n    template: templates/net\n" >pol/roles/net.yaml &&
	printf "resources: []\n" >pol/roles/none.yaml &&
	printf "{{ ipv4 }} via {{ default_gateway }}\n" >pol/templates/net &&
	cg check pol &&
	test_make_root root &&
	test_expect_code 2 in_netns "$CONGRUENT" run --policy "$TRASH/pol" --root "$TRASH/root" >out &&
	test "$(cat root/etc/net)" = "192.0.2.5 via 192.0.2.1"
'

test_done
