#!/bin/bash
# t4201-service-sysv-live: the sysvinit backend on a live (throwaway) host:
# rc links and `service NAME start|stop|restart|reload`, stops in reverse
# start order, restart_on once, a failing script's own words in the error.
# The host boots systemd, so the policy picks the backend with the var
# init: sysvinit, and /usr/local/sbin/service runs the scripts directly, as
# service(8) does where sysvinit is PID 1.
# shellcheck disable=SC2034,SC2154 # used in test bodies; set by the testbed lib
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/testbed-host.sh"

h=t4201

tcg() {
	tb_cg "$h" "$@"
}

policy() {
	testbed_sh "$h" 'mkdir -p /srv/pol/roles &&
		printf "classes:\n  - match: \"*\"\n    roles: [base]\nvars:\n  init: sysvinit\n" >/srv/pol/site.yaml &&
		cat >/srv/pol/roles/base.yaml'
}

# What the scripts were asked to do, in order ("a:start b:start ...").
journal() {
	testbed_exec "$h" sh -c 'cat /run/cgs.log 2>/dev/null' | tr '\n' ' '
}

test_expect_success 'setup: a host with init scripts and a plain service(8)' '
	testbed_boot "$h" &&
	testbed_copy_in "$h" "$CONGRUENT" /usr/local/bin/congruent &&
	for lib in $(ldd "$CONGRUENT" | awk "/=> \\// { print \$3 }"); do
		testbed_exec "$h" test -e "$lib" ||
			testbed_copy_in "$h" "$lib" "$lib" || exit 1
	done &&
	cat >script <<-\EOF &&
	#!/bin/sh
	### BEGIN INIT INFO
	# Provides: NAME
	# Default-Start: 2 3 4 5
	# Default-Stop: 0 1 6
	### END INIT INFO
	name=NAME
	pidf=/run/$name.pid
	case "$1" in
	start)	echo "$name:start" >>/run/cgs.log
		if [ "$name" = cgs-bad ]; then
			echo "cgs-bad: cannot bind port 80" >&2
			exit 1
		fi
		setsid sleep 1000 </dev/null >/dev/null 2>&1 &
		echo $! >$pidf ;;
	stop)	echo "$name:stop" >>/run/cgs.log
		[ -f $pidf ] && kill "$(cat $pidf)"
		rm -f $pidf ;;
	restart) "$0" stop && "$0" start ;;
	reload)	echo "$name:reload" >>/run/cgs.log ;;
	status)	[ -f $pidf ] && kill -0 "$(cat $pidf)" 2>/dev/null ;;
	*)	exit 3 ;;
	esac
	EOF
	for s in cgs-db cgs-web cgs-bad; do
		sed "s/NAME/$s/" script >$s && chmod 755 $s &&
		testbed_copy_in "$h" $s /etc/init.d/$s || exit 1
	done &&
	printf "#!/bin/sh\nexec /etc/init.d/\"\$1\" \"\$2\"\n" >service &&
	chmod 755 service && testbed_copy_in "$h" service /usr/local/sbin/service
'

test_expect_success 'run: links numbered from the order, started in that order' '
	policy <<-\EOF &&
	resources:
	  - file: /etc/cgs-web.conf
	    content: "v1\n"
	  - service: cgs-web
	    enabled: true
	    running: true
	    after: [cgs-db, cgs-absent]
	    restart_on: [file:/etc/cgs-web.conf]
	  - service: cgs-db
	    enabled: true
	    running: true
	EOF
	test_expect_code 2 tcg plan --policy /srv/pol >out &&
	test_grep "boot order of the managed services (sysvinit" out &&
	test_grep "running stopped -> running" out &&
	test -z "$(journal)" &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(journal)" = "cgs-db:start cgs-web:start " &&
	testbed_exec "$h" test -L /etc/rc2.d/S10cgs-db &&
	testbed_exec "$h" test -L /etc/rc2.d/S20cgs-web &&
	testbed_exec "$h" test -L /etc/rc6.d/K80cgs-web
'

test_expect_success 'a second run is a no-op' '
	test_expect_code 0 tcg run --policy /srv/pol >out &&
	test "$(journal)" = "cgs-db:start cgs-web:start "
'

test_expect_success 'restart_on: one restart when the file changed, none when not' '
	testbed_exec "$h" rm -f /run/cgs.log &&
	testbed_exec "$h" sed -i s/v1/v2/ /srv/pol/roles/base.yaml &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test_grep "restart because file:/etc/cgs-web.conf changed" out &&
	test "$(journal)" = "cgs-web:stop cgs-web:start " &&
	test_expect_code 0 tcg run --policy /srv/pol >out &&
	test "$(journal)" = "cgs-web:stop cgs-web:start "
'

test_expect_success 'a failing script fails its service with its own words; the others go on' '
	testbed_exec "$h" rm -f /run/cgs.log &&
	policy <<-\EOF &&
	resources:
	  - service: cgs-bad
	    running: true
	  - service: cgs-web
	    running: false
	EOF
	test_expect_code 6 tcg run --policy /srv/pol >out &&
	test_grep "service cgs-bad start failed (exit 1):" out &&
	test_grep "cgs-bad: cannot bind port 80" out &&
	test "$(journal)" = "cgs-web:stop cgs-bad:start "
'

test_expect_success 'stop + disable: stopped in reverse start order, K links only' '
	testbed_exec "$h" rm -f /run/cgs.log &&
	policy <<-\EOF &&
	resources:
	  - service: cgs-web
	    enabled: false
	    running: true
	    after: [cgs-db]
	  - service: cgs-db
	    enabled: false
	    running: true
	EOF
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(journal)" = "cgs-web:start " &&
	testbed_exec "$h" rm -f /run/cgs.log &&
	testbed_exec "$h" sed -i "s/running: true/running: false/" /srv/pol/roles/base.yaml &&
	test_expect_code 2 tcg run --policy /srv/pol >out &&
	test "$(journal)" = "cgs-web:stop cgs-db:stop " &&
	testbed_exec "$h" sh -c "! ls /etc/rc[2-5].d | grep -q ^S..cgs-" &&
	testbed_exec "$h" test -L /etc/rc2.d/K80cgs-web &&
	test_expect_code 0 tcg run --policy /srv/pol
'

test_done
