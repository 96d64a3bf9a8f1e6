#!/bin/sh
# t5130: the lockout guard. A firewall change is undone, and only it,
# when a canary fails after it, when it takes away established sessions
# or the management port, or when the agent dies before confirming it;
# a good change is confirmed and stays; a run that changes nothing arms
# nothing. On nf_tables and on legacy.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/iptables.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

mkdir legacy-bin
if command -v iptables-legacy >/dev/null; then
	ln -s "$(command -v iptables-legacy)" legacy-bin/iptables
fi

# The canary servers are started inside tests (subshells): their cleanup
# is registered here, in the script's own shell.
test_cleanup_add 'for f in "$TRASH"/server-*.pid; do kill $(cat "$f"); done'

# A TCP server in the current namespace, on its loopback: the canary.
canary_server() {
	nsx ip link set lo up || return 1
	# Not through nsx (a function, so a subshell): $! is then python.
	ip netns exec "$NS" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8022))
s.listen(16)
open(sys.argv[1], "w").close()
while True:
    c, _ = s.accept()
    c.close()
' "$TRASH/listening-$1" &
	echo $! >"$TRASH/server-$1.pid"
	for _i in $(seq 50); do
		[ -e "$TRASH/listening-$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# The filter table without comments and counters (the canary's own
# packets count).
fw_dump() {
	nsx $SAVE -t filter | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
}

cat >agent.yaml <<'EOF'
firewall:
  guard_seconds: 6
  canaries:
    - "127.0.0.1:8022"
EOF

good_policy() {
	ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
        - -i lo -j ACCEPT
YAML
}

# The change that cuts the canary off: its port dropped on loopback.
bad_policy() {
	ipt_policy <<'YAML'
  - iptables:
      chain: INPUT
      policy: DROP
      rules:
        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        - -p tcp --dport 22 -j ACCEPT
        - -i lo -p tcp --dport 8022 -j DROP
        - -i lo -j ACCEPT
YAML
}

for be in nft legacy; do
	if [ $be = legacy ] && ! [ -e legacy-bin/iptables ]; then
		test_skip "$be: a good change is confirmed and stays" 'no iptables-legacy'
		continue
	fi
	ipt_netns $be
	P=$PATH
	[ $be = legacy ] && P="$TRASH/legacy-bin:$PATH"
	SAVE=iptables-$be-save
	RESTORE=iptables-$be-restore
	IPT=iptables-$be

	test_expect_success "$be: the canary listens" '
		canary_server $be
	'

	test_expect_success "$be: a good change is confirmed and stays" '
		good_policy &&
		PATH=$P test_expect_code 2 cgi run -c agent.yaml >out &&
		test_grep "run: 1 repaired" out &&
		fw_dump >good.rules &&
		test_grep "-A INPUT -i lo -j ACCEPT" good.rules &&
		sleep 7 &&
		fw_dump >later.rules &&
		test_cmp good.rules later.rules &&
		PATH=$P test_expect_code 0 cgi run -c agent.yaml
	'

	test_expect_success "$be: a change that cuts the canary off is rolled back, and only it" '
		printf "*filter\n-A INPUT -s 192.0.2.50/32 -j DROP\nCOMMIT\n" >hand &&
		nsx $RESTORE --noflush <hand &&
		fw_dump >before.rules &&
		bad_policy &&
		start=$(date +%s) &&
		PATH=$P test_expect_code 4 cgi run -c agent.yaml --format json >run.json &&
		end=$(date +%s) &&
		test $((end - start)) -le 6 &&
		jq -r ".resources[0].status" run.json >status &&
		echo failed >expect && test_cmp expect status &&
		jq -r ".resources[0].error.message" run.json >msg &&
		test_grep "rolled back: canary 127.0.0.1:8022 (canary at agent.yaml:4) failed: no answer within 3 s" msg &&
		jq -r ".resources[0].error.message" state/reports/last-run.json >msg &&
		test_grep "rolled back" msg &&
		fw_dump >after.rules &&
		test_cmp before.rules after.rules
	'

	test_expect_success "$be: SIGKILL of the agent after the change rolls it back too" '
		good_policy &&
		cat >kill.yaml <<-EOF &&
		firewall:
		  guard_seconds: 60
		  canaries:
		    - command: [sh, -c, "touch $TRASH/applied-$be; sleep 30"]
		EOF
		sed -i "s/-i lo -j ACCEPT/-i lo -j ACCEPT\n        - -s 198.51.100.0\/24 -j DROP/" policy/roles/fw.yaml &&
		fw_dump >before.rules &&
		(PATH=$P exec "$CONGRUENT" run -c kill.yaml --policy policy --netns "$NS" --state-dir state >/dev/null 2>&1) &
		agent=$! &&
		for i in $(seq 100); do [ -e "$TRASH/applied-$be" ] && break; sleep 0.1; done &&
		test -e "$TRASH/applied-$be" &&
		nsx $SAVE | grep -q -- "-A INPUT -s 198.51.100.0/24 -j DROP" &&
		kill -9 $agent &&
		for i in $(seq 50); do
			nsx $SAVE | grep -q -- "-s 198.51.100.0/24" || break
			sleep 0.1
		done &&
		fw_dump >after.rules &&
		test_cmp before.rules after.rules
	'

	test_expect_success "$be: the next plan and run say the guard undid it" '
		PATH=$P test_expect_code 2 cgi plan >out &&
		test_grep "warning: the change of the run of 20" out &&
		test_grep "was rolled back by its guard: the agent died before it could confirm it" out &&
		PATH=$P test_expect_code 2 cgi run -c agent.yaml >out &&
		test_grep "rolled back by its guard" out &&
		PATH=$P test_expect_code 0 cgi plan >out &&
		test_grep_not "guard" out
	'

	test_expect_success "$be: taking away established sessions is rolled back" '
		ipt_policy <<-\YAML &&
		  - iptables:
		      chain: INPUT
		      policy: DROP
		      purge: true
		      rules:
		        - -p tcp --dport 22 -j ACCEPT
		        - -i lo -j ACCEPT
		YAML
		fw_dump >before.rules &&
		PATH=$P test_expect_code 4 cgi run -c agent.yaml >out 2>err &&
		test_grep "rolled back: ipv4 established sessions: policy DROP and no accept of ESTABLISHED before it" out &&
		test_grep "hint: keep an accept of ESTABLISHED" out &&
		fw_dump >after.rules &&
		test_cmp before.rules after.rules
	'

	test_expect_success "$be: and so is taking away the management port" '
		good_policy &&
		# The DROP of 198.51.100.0/24 that the runs above added is
		# congruent'"'"'s: it leaves with the policy (t5400).
		PATH=$P test_expect_code 2 cgi run -c agent.yaml &&
		PATH=$P test_expect_code 0 cgi run -c agent.yaml &&
		ipt_policy <<-\YAML &&
		  - iptables:
		      chain: INPUT
		      rules:
		        - -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
		        - -p tcp -m multiport --dports 20:25 -j REJECT
		        - -p tcp --dport 22 -j ACCEPT
		        - -i lo -j ACCEPT
		  - iptables:
		      chain: FORWARD
		      rules: ["-j ACCEPT"]
		YAML
		fw_dump >before.rules &&
		PATH=$P test_expect_code 4 cgi run -c agent.yaml >out 2>err &&
		test_grep "rolled back: ipv4 management port 22: [2] -A INPUT -p tcp -m multiport --dports 20:25 -j REJECT" out &&
		test_grep "! iptables:ipv4/filter/FORWARD" out &&
		fw_dump >after.rules &&
		test_cmp before.rules after.rules
	'
done

test_expect_success 'by default the canaries are the servers the run talks to' '
	NS=cgtest-$$-nft &&
	good_policy &&
	test_expect_code 0 cgi run -c agent.yaml &&
	cat >servers.yaml <<-\EOF &&
	reports:
	  url: http://127.0.0.1:8022/ops/reports.git
	  timeout: 2
	EOF
	fw_dump >before.rules &&
	bad_policy &&
	cgi run -c servers.yaml --format json >run.json 2>err || :
	jq -r ".resources[0].error.message" run.json >msg &&
	test_grep "rolled back: canary 127.0.0.1:8022 (the reports server) failed: no answer within 3 s" msg &&
	fw_dump >after.rules &&
	test_cmp before.rules after.rules &&
	cgi run -c servers.yaml --no-report >out 2>&1 || :
	test_grep "+ [3] -A INPUT -i lo -p tcp -m tcp --dport 8022 -j DROP" out &&
	test_grep_not "rolled back" out &&
	nsx iptables -D INPUT -i lo -p tcp --dport 8022 -j DROP
'

test_expect_success 'canaries slower than guard_seconds: the guard undoes it, and the run says so' '
	NS=cgtest-$$-nft &&
	cat >slow.yaml <<-\EOF &&
	firewall:
	  guard_seconds: 1
	  canaries:
	    - command: [sleep, "2"]
	EOF
	fw_dump >before.rules &&
	good_policy &&
	sed -i "s/-i lo -j ACCEPT/-i lo -j ACCEPT\n        - -s 198.51.100.7 -j DROP/" policy/roles/fw.yaml &&
	test_expect_code 4 cgi run -c slow.yaml >out 2>err &&
	test_grep "rolled back: not confirmed within guard_seconds (1 s): the guard rolled the change back" out &&
	test_grep "hint: the canaries took too long" out &&
	fw_dump >after.rules &&
	test_cmp before.rules after.rules
'

test_expect_success 'a run that changes nothing arms nothing and runs no canary' '
	NS=cgtest-$$-nft &&
	good_policy &&
	nsx iptables -F INPUT &&
	nsx iptables -P INPUT ACCEPT &&
	cat >mark.yaml <<-EOF &&
	firewall:
	  canaries:
	    - command: [touch, "$TRASH/canary-ran"]
	EOF
	test_expect_code 2 cgi run -c mark.yaml &&
	test -e canary-ran &&
	rm canary-ran &&
	test_expect_code 0 cgi run -c mark.yaml &&
	test_expect_code 0 cgi plan -c mark.yaml &&
	test ! -e canary-ran &&
	nsx iptables -A INPUT -s 192.0.2.1 -j ACCEPT &&
	sed -i "s/purge: false/purge: true/; s/policy: DROP/policy: DROP\n      purge: true/" policy/roles/fw.yaml &&
	test_expect_code 2 cgi plan -c mark.yaml >out &&
	test_grep "    - [4] -A INPUT -s 192.0.2.1/32 -j ACCEPT" out &&
	test ! -e canary-ran
'

test_expect_success 'bad canaries are refused with the place and a hint' '
	printf "firewall:\n  canaries:\n    - \"nohost\"\n" >bad.yaml &&
	test_expect_code 1 cgi run -c bad.yaml 2>err &&
	test_grep "bad.yaml:3" err &&
	test_grep "a canary is host:port" err &&
	printf "firewall:\n  canaries:\n    - {command: []}\n" >bad.yaml &&
	test_expect_code 1 cgi run -c bad.yaml 2>err &&
	test_grep "cannot be empty" err
'

test_done
