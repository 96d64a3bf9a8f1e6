#!/bin/sh
# t5430: the rules of known software are kept and labelled, even with
# purge: true, in chains the policy manages: Calico, flannel, libvirt,
# Docker's ipset layout and custom-named bridges, Cilium, Podman's
# netavark, Tailscale and wg-quick, each a ruleset of its real shape
# (tests/fixtures/owners/NAME/rules). On both backends: plan labels each
# foreign rule with its owner (NAME/expect), plan predicts run, and the
# foreign rules and every counter are byte-identical afterwards.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
for t in iptables-nft iptables-legacy iptables-legacy-save \
	iptables-legacy-restore iptables-nft-save iptables-nft-restore; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t is not installed"
		exit 0
	fi
done
mkdir legacy-bin nft-bin
ln -s "$(command -v iptables-legacy)" legacy-bin/iptables
ln -s "$(command -v iptables-nft)" nft-bin/iptables
FIX=$TOP/tests/fixtures/owners

# Everything but the rules the policies add, with counters.
theirs() {
	nsx iptables-$1-save -c | sed '/^#/d' |
		grep -v -e "-s 192.0.2.66/32 -j DROP" \
			-e "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
}

for dir in "$FIX"/*/; do
	name=$(basename "$dir")
	for be in nft legacy; do
		ipt_netns "$name-$be"
		NS=
		if [ -f "$dir/sets" ] && ! command -v ipset >/dev/null; then
			test_skip "$name on $be" "ipset is not installed"
			continue
		fi

		test_expect_success "$name on $be: its ruleset" '
			NS=cgtest-$$-'$name-$be' &&
			mkdir '$name-$be' && cd '$name-$be' &&
			{ [ ! -f "'$dir'/sets" ] || nsx ipset restore <"'$dir'/sets"; } &&
			nsx iptables-'$be'-restore -c <"'$dir'/rules" &&
			theirs '$be' >before
		'

		test_expect_success "$name on $be: plan labels every rule of it" '
			NS=cgtest-$$-'$name-$be' && cd '$name-$be' &&
			ipt_policy <"'$dir'/policy.yaml" &&
			PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 2 cgi plan >out &&
			grep "^    extra " out >extras &&
			test_cmp "'$dir'/expect" extras &&
			test_grep_not "(owner: unknown)" out &&
			{ grep -- "^    - \[" out >minus || :; } &&
			! test -s minus
		'

		test_expect_success "$name on $be: plan predicts run; it is all still there, byte for byte" '
			NS=cgtest-$$-'$name-$be' && cd '$name-$be' &&
			PATH="$TRASH/'$be'-bin:$PATH" ipt_plan_predicts_run 2 &&
			theirs '$be' >after &&
			test_cmp before after &&
			PATH="$TRASH/'$be'-bin:$PATH" test_expect_code 0 cgi run
		'
	done
done

test_done
