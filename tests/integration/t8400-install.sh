#!/bin/bash
# t8400-install: make install puts the program, its manual, the systemd
# units, an example agent.yaml and a cron example in place; systemd
# accepts the units; --splay spreads runs without holding the lock.
. "$(dirname "$0")/../lib/lib.sh"

INST=$TRASH/inst
UNITS="congruent.service congruent.timer congruent-firewall.service"

# make install, from a copy of what it installs: in the tree, make would
# rebuild ./congruent if the flags differ (a sanitizer build) under the
# feet of the tests running beside this one. -o: use the binary as it is.
mkdir -p src
cp -r "$TOP/Makefile" "$TOP/README.md" "$TOP/doc" "$TOP/contrib" src/
cp "$CONGRUENT" src/congruent
mk() {
	make -s -C src -o congruent "$@" >install.log 2>&1 ||
		{ cat install.log >&2; return 1; }
}
install_to() { # DESTDIR PREFIX
	mk install DESTDIR="$1" PREFIX="$2"
}

# systemd-analyze verify wants each ExecStart program to exist: in a
# private mount namespace, /usr/sbin is the installed one.
verify_units() { # UNIT_FILE...
	unshare -m --propagation private sh -c '
		mount --bind "$0/usr/sbin" /usr/sbin || exit 97
		exec systemd-analyze verify --man=no "$@"' "$INST" "$@" \
		>verify.out 2>&1 && rc=0 || rc=$?
	cat verify.out >&2
	# Warnings (an unknown key, a bad value) do not change the status.
	[ $rc = 0 ] && [ ! -s verify.out ]
}

test_expect_success 'make install DESTDIR PREFIX=/usr installs everything' '
	install_to "$INST" /usr &&
	test -x "$INST/usr/sbin/congruent" &&
	"$INST/usr/sbin/congruent" version | grep -q "^congruent " &&
	test -f "$INST/usr/share/man/man8/congruent.8" &&
	for u in $UNITS; do
		test "$(stat -c %a "$INST/usr/lib/systemd/system/$u")" = 644 || exit 1
	done &&
	test -f "$INST/etc/congruent/agent.yaml.example" &&
	test ! -e "$INST/etc/congruent/agent.yaml" &&
	test -f "$INST/usr/share/doc/congruent/examples/cron.d/congruent" &&
	grep -q "^ExecStart=/usr/sbin/congruent run$" "$INST/usr/lib/systemd/system/congruent.service" &&
	grep -q "^ExecStart=/usr/sbin/congruent run --only iptables" "$INST/usr/lib/systemd/system/congruent-firewall.service" &&
	! grep -r "@SBINDIR@" "$INST"
'

if command -v systemd-analyze >/dev/null && command -v unshare >/dev/null &&
	[ "$(id -u)" = 0 ] && test_have_cap CAP_SYS_ADMIN; then
	test_expect_success 'systemd-analyze verify accepts the units' '
		verify_units $(for u in $UNITS; do echo "$INST/usr/lib/systemd/system/$u"; done)
	'

	test_expect_success 'and would say if one were wrong (the check checks)' '
		mkdir -p broken &&
		sed "s/^Type=oneshot/Type=oneshoot/" "$INST/usr/lib/systemd/system/congruent.service" \
			>broken/congruent.service &&
		! verify_units broken/congruent.service &&
		test_grep "oneshoot" verify.out
	'

	test_expect_success 'the timer: every 30 minutes, a fixed random delay, catching up' '
		t=$INST/usr/lib/systemd/system/congruent.timer &&
		grep -q "^OnCalendar=\*:00/30$" "$t" &&
		grep -q "^RandomizedDelaySec=30min$" "$t" &&
		grep -q "^FixedRandomDelay=true$" "$t" &&
		grep -q "^Persistent=true$" "$t" &&
		grep -q "^WantedBy=timers.target$" "$t" &&
		systemd-analyze calendar --iterations=2 "*:00/30" >cal &&
		test_grep "Next elapse" cal
	'
else
	test_skip 'systemd-analyze verify accepts the units' \
		'needs root, CAP_SYS_ADMIN (a mount namespace) and systemd-analyze'
fi

test_expect_success 'the default PREFIX is /usr/local, for the units too' '
	install_to "$TRASH/local" /usr/local &&
	test -x "$TRASH/local/usr/local/sbin/congruent" &&
	grep -q "^ExecStart=/usr/local/sbin/congruent run$" \
		"$TRASH/local/usr/local/lib/systemd/system/congruent.service" &&
	test -f "$TRASH/local/usr/local/share/man/man8/congruent.8" &&
	test -f "$TRASH/local/etc/congruent/agent.yaml.example"
'

test_expect_success 'the manual page renders without a warning' '
	command -v groff >/dev/null || exit 0
	LC_ALL=C groff -man -Tutf8 -ww -z "$INST/usr/share/man/man8/congruent.8" 2>warn &&
	test ! -s warn &&
	LC_ALL=C groff -man -Tutf8 -P-cbou "$INST/usr/share/man/man8/congruent.8" >page 2>/dev/null &&
	for s in NAME SYNOPSIS COMMANDS OPTIONS "EXIT STATUS" POLICY "AGENT CONFIGURATION" PRIVILEGES LOGGING FILES; do
		grep -q "^$s" page || { echo "no section $s" >&2; exit 1; }
	done &&
	for o in --policy --root --netns --splay --hostname --state-dir --no-pull --no-report --format --only --skip schema_version helper_timeout; do
		grep -q -- "$o" page || { echo "no $o" >&2; exit 1; }
	done
'

test_expect_success 'the cron example: valid cron.d lines, with --splay below the period' '
	c=$INST/usr/share/doc/congruent/examples/cron.d/congruent &&
	grep -v "^#" "$c" | grep -v "^[A-Z]*=" | grep . >lines &&
	test $(wc -l <lines) = 1 &&
	awk -F "\t" "{ print \$1 }" lines >when &&
	test "$(cat when)" = "*/30 * * * *" &&
	test "$(cut -f2 lines)" = root &&
	cmd=$(cut -f3- lines) &&
	sh -n -c "$cmd" &&
	echo "$cmd" | grep -q "/usr/sbin/congruent run --splay 900" &&
	test 900 -lt 1800
'

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [r]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "hi\\n"\n' >pol/roles/r.yaml
test_make_root root

test_expect_success 'the example agent.yaml is one the agent accepts' '
	test_expect_code 2 cg plan -c "$INST/etc/congruent/agent.yaml.example" \
		--policy pol --root root >/dev/null
'

test_expect_success 'install never overwrites agent.yaml; uninstall removes what install put' '
	echo "state_dir: /srv/mine" >"$INST/etc/congruent/agent.yaml" &&
	install_to "$INST" /usr &&
	test "$(cat "$INST/etc/congruent/agent.yaml")" = "state_dir: /srv/mine" &&
	mk uninstall DESTDIR="$INST" PREFIX=/usr &&
	test ! -e "$INST/usr/sbin/congruent" &&
	test ! -e "$INST/usr/lib/systemd/system/congruent.timer" &&
	test ! -e "$INST/usr/share/man/man8/congruent.8" &&
	test -f "$INST/etc/congruent/agent.yaml"
'

test_expect_success '--splay: a random sleep first, bounded' '
	start=$(date +%s%N) &&
	test_expect_code 2 cg run --splay 1 --policy pol --root root >/dev/null &&
	end=$(date +%s%N) &&
	test $(( (end - start) / 1000000 )) -lt 2500
'

test_expect_success '--splay takes 0 to 86400 seconds' '
	test_expect_code 1 cg run --splay 86401 --policy pol --root root 2>err &&
	test_grep "splay takes seconds (0 to 86400)" err &&
	test_expect_code 1 cg run --splay soon --policy pol --root root 2>err &&
	test_grep "not '\''soon'\''" err &&
	test_expect_code 0 cg run --splay 0 --policy pol --root root
'

test_expect_success 'a run sleeping its splay does not hold the lock' '
	echo drift >root/etc/motd &&
	{ "$CONGRUENT" run --splay 86400 --policy pol --root root >/dev/null 2>&1 & } &&
	sleeper=$! &&
	sleep 0.3 &&
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	kill $sleeper && { wait $sleeper || true; }
'

test_done
