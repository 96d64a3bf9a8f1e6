#!/bin/sh
# iptables.sh: congruent against 2,000 managed and 1,000 foreign rules.
#
# In a throwaway network namespace: a no-op run and a run that changes one
# rule, each timed (median of several) against iptables-save's own time,
# and traced to count the iptables-save and iptables-restore it runs.
# BENCH_RUNS=N for more or fewer repetitions.
#
# With CFEngine (cf-agent installed; `make bench BENCH_PEERS=1` installs
# it): the same 2,000 rules in a namespace of its own with the same
# foreign rules, as one commands: promise per rule guarded by
# `iptables -C` (`iptables -C RULE || iptables -A RULE`), run by
# `cf-agent -K -f` in that namespace: its first run and its no-op, once
# each (2,000 iptables commands a run).
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CONGRUENT=${CONGRUENT:-$TOP/congruent}
RUNS=${BENCH_RUNS:-7}

if [ "$(id -u)" -ne 0 ]; then
	echo "iptables bench: skipped (needs root for network namespaces)"
	exit 0
fi
for t in ip iptables-save strace; do
	command -v $t >/dev/null || {
		echo "iptables bench: skipped ($t is not installed)"
		exit 0
	}
done

NS=cgbench-$$
CFNS=cgbench-cf-$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cg-bench-iptables.XXXXXX")
cleanup() {
	ip netns delete "$NS" 2>/dev/null || true
	ip netns delete "$CFNS" 2>/dev/null || true
	rm -rf "$TMP"
}
[ -n "${BENCH_KEEP:-}" ] || trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
cd "$TMP"

# 1,000 foreign rules: fail2ban bans and Docker's port mappings, with
# their jumps from INPUT and FORWARD.
{
	echo "*filter"
	echo ":f2b-sshd - [0:0]"
	echo ":DOCKER - [0:0]"
	echo "-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd"
	echo "-A FORWARD -o docker0 -j DOCKER"
	i=0
	while [ $i -lt 499 ]; do
		echo "-A f2b-sshd -s 198.18.$((i / 250)).$((i % 250 + 1))/32 -j REJECT --reject-with icmp-port-unreachable"
		echo "-A DOCKER -d 172.17.$((i / 250)).$((i % 250 + 1))/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
		i=$((i + 1))
	done
	echo "COMMIT"
} >foreign.rules
ip netns exec "$NS" iptables-restore <foreign.rules

# 2,000 managed rules: 1,000 in INPUT, 500 in OUTPUT, 500 in a chain of
# our own that INPUT jumps to.
mkdir -p policy/roles
printf 'classes:\n  - match: "*"\n    roles: [fw]\n' >policy/site.yaml
{
	echo "resources:"
	printf '  - iptables:\n      chain: INPUT\n      policy: DROP\n      purge: true\n      rules:\n'
	echo "        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
	echo "        - -j SERVICES"
	i=0
	while [ $i -lt 998 ]; do
		echo "        - -s 10.$((i / 250)).$((i % 250)).0/24 -p tcp --dport $((1000 + i)) -j ACCEPT"
		i=$((i + 1))
	done
	printf '  - iptables:\n      chain: OUTPUT\n      rules:\n'
	i=0
	while [ $i -lt 500 ]; do
		echo "        - -d 192.0.$((i / 250)).$((i % 250)) -p udp --dport $((2000 + i)) -m comment --comment \"service $i\" -j ACCEPT"
		i=$((i + 1))
	done
	printf '  - iptables:\n      chain: SERVICES\n      rules:\n'
	i=0
	while [ $i -lt 500 ]; do
		echo "        - -p tcp -m multiport --dports $((3000 + i)),$((4000 + i)) -m limit --limit 10/s -j ACCEPT"
		i=$((i + 1))
	done
} >policy/roles/fw.yaml

cg() {
	"$CONGRUENT" "$@" --policy policy --netns "$NS" --state-dir state
}
CG_RUN="$CONGRUENT run --policy policy --netns $NS --state-dir state"

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# Median wall time in ms of a command run $RUNS times.
median_ms() {
	: >times
	n=0
	while [ $n -lt "$RUNS" ]; do
		t0=$(now_ms)
		"$@" >/dev/null 2>&1 || [ $? -eq 2 ]
		echo $(($(now_ms) - t0)) >>times
		n=$((n + 1))
	done
	sort -n times | sed -n "$(((RUNS + 1) / 2))p"
}

# iptables-save and iptables-restore runs of one command, from a trace.
count_tools() {
	strace -f -qq -e trace=execve -e signal=none -o trace "$@" \
		>/dev/null 2>&1 || true
	saves=$(grep -c 'execve("[^"]*-save"' trace || true)
	restores=$(grep -c 'execve("[^"]*-restore"' trace || true)
	echo "$saves save, $restores restore"
}

flip=0
# Change one rule of INPUT, alternating between two ports.
change_one() {
	if [ $flip -eq 0 ]; then
		sed -i 's/--dport 1500 -j ACCEPT/--dport 1500 -j DROP/' policy/roles/fw.yaml
		flip=1
	else
		sed -i 's/--dport 1500 -j DROP/--dport 1500 -j ACCEPT/' policy/roles/fw.yaml
		flip=0
	fi
	cg run
}

t0=$(now_ms)
cg run >/dev/null 2>&1 || [ $? -eq 2 ]
first=$(($(now_ms) - t0))
rules=$(ip netns exec "$NS" iptables-save | grep -c -- '^-A')

# nsenter enters the namespace as congruent does (setns, no mounts).
if command -v nsenter >/dev/null; then
	IN_NS="nsenter --net=/run/netns/$NS"
else
	IN_NS="ip netns exec $NS"
fi
raw_save=$(median_ms $IN_NS iptables-save -c)
noop=$(median_ms cg run)
noop_plan=$(median_ms cg plan)
one=$(median_ms change_one)
printf '*filter\n-I INPUT 5 -s 203.0.113.1/32 -j DROP\n-D INPUT -s 203.0.113.1/32 -j DROP\nCOMMIT\n' >one.rules
raw_restore=$(median_ms sh -c "$IN_NS iptables-restore --noflush <one.rules")

noop_count=$(count_tools $CG_RUN)
# The first no-op after a change checks the changed table against nft
# once more (in a scratch namespace); the next no-ops read the cache.
noop_count2=$(count_tools $CG_RUN)
sed -i 's/--dport 1700 -j ACCEPT/--dport 1700 -j DROP/' policy/roles/fw.yaml
one_count=$(count_tools $CG_RUN)
rm -rf state/cache
sed -i 's/--dport 1700 -j DROP/--dport 1700 -j ACCEPT/' policy/roles/fw.yaml
cold_count=$(count_tools $CG_RUN)
# The same, timed (once: every run after it finds the cache warm again).
rm -rf state/cache
sed -i 's/--dport 1700 -j ACCEPT/--dport 1700 -j DROP/' policy/roles/fw.yaml
t0=$(now_ms)
cg run >/dev/null 2>&1 || [ $? -eq 2 ]
cold=$(($(now_ms) - t0))

cat <<EOF
iptables: $rules rules in the namespace (2,000 managed in 3 chains, 1,000 foreign)
  iptables-save -c alone            $raw_save ms
  iptables-restore of one change    $raw_restore ms
  congruent run, no-op              $noop ms   ($noop_count2; the first after a change: $noop_count)
  congruent run, one rule changed   $one ms   ($one_count)
  congruent plan, no-op             $noop_plan ms   (reads the cache run wrote)
  first run, all 2,000 rules added  $first ms
  run, cache emptied, 1 rule changed $cold ms   ($cold_count; one of each in a scratch namespace)
(median of $RUNS runs, wall clock; the tools run as congruent runs them)
EOF

command -v cf-agent >/dev/null && command -v cf-key >/dev/null || exit 0
# The rules of policy/roles/fw.yaml, as iptables arguments per chain.
awk '/chain:/ { c = $2 } /^        - / { sub(/^        - /, ""); print c " " $0 }' \
	policy/roles/fw.yaml >cf.rules
{
	echo 'body common control { bundlesequence => { "fw" }; }'
	echo 'body contain sh { useshell => "useshell"; }'
	echo 'bundle agent fw {'
	echo 'commands:'
	echo '  "/usr/sbin/iptables -n -L SERVICES >/dev/null 2>&1 || /usr/sbin/iptables -N SERVICES" contain => sh;'
	echo '  "/usr/sbin/iptables -P INPUT DROP" contain => sh;'
	while read -r chain rule; do
		rule=$(printf '%s' "$rule" | sed 's/\\/\\\\/g; s/"/\\"/g')
		printf '  "/usr/sbin/iptables -C %s %s 2>/dev/null || /usr/sbin/iptables -A %s %s" contain => sh;\n' \
			"$chain" "$rule" "$chain" "$rule"
	done <cf.rules
	echo '}'
} >fw.cf
mkdir -p cfwd && ln -s "$(dirname "$(command -v cf-promises)")" cfwd/bin
CFENGINE_TEST_OVERRIDE_WORKDIR=$TMP/cfwd cf-key >/dev/null 2>&1 || exit 0
ip netns add "$CFNS"
ip netns exec "$CFNS" iptables-restore <foreign.rules
cf() {
	t0=$(now_ms)
	ip netns exec "$CFNS" env CFENGINE_TEST_OVERRIDE_WORKDIR="$TMP/cfwd" \
		cf-agent -K -f "$TMP/fw.cf" >cf.out 2>&1 || true
	echo $(($(now_ms) - t0))
}
cf_first=$(cf)
cf_rules=$(ip netns exec "$CFNS" iptables-save | grep -c -- '^-A')
cf_noop=$(cf)
awk -v a="$cf_first" -v b="$first" -v c="$cf_noop" -v d="$noop" -v r="$cf_rules" 'BEGIN {
	printf "CFEngine (commands: guarded by iptables -C, once each; %d rules after its first run):\n", r
	printf "  cf-agent first run               %d ms   (CFEngine/congruent %.1fx)\n", a, a / b
	printf "  cf-agent no-op                   %d ms   (CFEngine/congruent %.1fx)\n", c, c / d }'
