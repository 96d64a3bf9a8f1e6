#!/bin/bash
# t8300-logging: a line per change and per failure on stderr and in
# syslog, nothing on a no-op run unless -v, the journal's priorities, and
# colours only on a terminal without NO_COLOR.
. "$(dirname "$0")/../lib/lib.sh"
# The syslog sink is bound in a mount namespace of its own.
test_require_cap CAP_SYS_ADMIN
test_require_root

SINK=$TOP/build/tests/helpers/syslog-sink
ESC=$(printf '\033')

# A stand-in /dev/log: the congruent under test runs in a private mount
# namespace whose /dev is ours: the sink's socket as log, and the real
# null, zero, random and urandom.
mkdir -p dev
for n in null zero urandom random; do : >"dev/$n"; done
"$SINK" "$TRASH/dev/log" 120 >syslog.out 2>sink.err &
sink=$!
test_cleanup_add "kill $sink"
i=0
while ! grep -q ready sink.err && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

with_log() {
	: >err.raw
	# AS_JOURNAL=1: as under systemd, JOURNAL_STREAM names our stderr.
	if [ "${AS_JOURNAL:-}" = 1 ]; then
		JOURNAL_STREAM=$(stat -c %d:%i err.raw)
		export JOURNAL_STREAM
	fi
	unshare -m --propagation private sh -c '
		t=$1; shift
		for n in null zero urandom random; do
			mount --bind "/dev/$n" "$t/dev/$n" || exit 97
		done
		mount --bind "$t/dev" /dev || exit 97
		exec "$@"' sh "$TRASH" "$CONGRUENT" "$@" 2>>err.raw && rc=0 || rc=$?
	unset JOURNAL_STREAM
	cat err.raw >&2
	if grep -q -e "Sanitizer" -e "runtime error:" err.raw; then return 99; fi
	return $rc
}

# Wait until the sink printed a line with this text (datagrams are in
# its socket already; it prints them a moment later).
syslog_has() {
	_i=0
	while ! grep -F -q -e "$1" syslog.out; do
		[ $_i -lt 40 ] || { echo "not in syslog: $1" >&2; sed 's/^/| /' syslog.out >&2; return 1; }
		sleep 0.05
		_i=$((_i + 1))
	done
}

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [r]\n' >pol/site.yaml
cat >pol/roles/r.yaml <<'Y'
resources:
  - file: /etc/motd
    content: "hello\n"
    mode: "0644"
Y
test_make_root root

test_expect_success 'a run that changes: a line per change on stderr and in syslog' '
	test_expect_code 2 with_log run --policy pol --root root >out 2>err &&
	test_grep "congruent: repaired file:/etc/motd (roles/r.yaml:2): create: content, mode" err &&
	test_grep "congruent: run: 1 repaired, 0 ok, 0 failed, 0 skipped; policy pol" err &&
	syslog_has "repaired file:/etc/motd (roles/r.yaml:2): create: content, mode" &&
	grep -E "^<29>.*congruent\[[0-9]+\]: repaired file:/etc/motd" syslog.out &&
	syslog_has "run: 1 repaired" &&
	grep -E "^<30>.*congruent\[[0-9]+\]: run: 1 repaired" syslog.out
'

test_expect_success 'one connection to syslog per run, however many lines' '
	mkdir -p pol3/roles && cp pol/site.yaml pol3/ &&
	printf "resources:\n" >pol3/roles/r.yaml &&
	for i in 1 2 3 4 5; do
		printf "  - file: /etc/f%d\n    content: \"%d\\n\"\n" $i $i >>pol3/roles/r.yaml
	done &&
	test_make_root root3 &&
	printf "#!/bin/sh\nASAN_OPTIONS=\$ASAN_OPTIONS:detect_leaks=0 exec strace -f -o \"%s/conn.trace\" -e trace=connect \"%s\" \"\$@\"\n" \
		"$TRASH" "$CONGRUENT" >traced && chmod +x traced &&
	(CONGRUENT=$TRASH/traced &&
		test_expect_code 2 with_log run --policy pol3 --root root3 >out 2>err) &&
	test "$(grep -c "repaired file:/etc/f" err)" = 5 &&
	syslog_has "repaired file:/etc/f5" &&
	test "$(grep -c "/dev/log" conn.trace)" = 1
'

test_expect_success 'no syslog socket: not one connect per line' '
	mkdir -p nolog/dev &&
	for n in null zero urandom random; do : >"nolog/dev/$n"; done &&
	test_make_root root4 &&
	unshare -m --propagation private sh -c "
		for n in null zero urandom random; do
			mount --bind /dev/\$n nolog/dev/\$n || exit 97
		done
		mount --bind nolog/dev /dev || exit 97
		exec ./traced run --policy pol3 --root root4" >out 2>err ||
		test $? = 2 &&
	test "$(grep -c "repaired file:/etc/f" err)" = 5 &&
	test "$(grep -c "connect(" conn.trace)" = 0
'

test_expect_success 'a no-op run says nothing, anywhere' '
	n=$(wc -l <syslog.out) &&
	test_expect_code 0 with_log run --policy pol --root root >out 2>err &&
	test ! -s out && test ! -s err &&
	sleep 0.3 &&
	test "$(wc -l <syslog.out)" = "$n"
'

test_expect_success 'a no-op run with -v logs its summary' '
	test_expect_code 0 with_log run -v --policy pol --root root >out 2>err &&
	test_grep "congruent: run: 0 repaired, 1 ok, 0 failed, 0 skipped" err &&
	syslog_has "run: 0 repaired, 1 ok"
'

test_expect_success 'failures and skips: a line each, as errors and warnings' '
	mkdir -p root/etc/blocker &&
	cat >pol/roles/r.yaml <<-Y &&
	resources:
	  - file: /etc/motd
	    content: "changed\n"
	  - file: /etc/blocker
	    content: "x\n"
	  - file: /etc/after
	    content: "y\n"
	    requires: [file:/etc/blocker]
	Y
	test_expect_code 6 with_log run --policy pol --root root >out 2>err &&
	test_grep "congruent: failed file:/etc/blocker (roles/r.yaml:4): /etc/blocker is a directory where the policy wants a file; hint:" err &&
	test_grep "congruent: skipped file:/etc/after (roles/r.yaml:6): it requires file:/etc/blocker, which failed" err &&
	syslog_has "failed file:/etc/blocker" &&
	grep -E "^<27>.*failed file:/etc/blocker .*hint: " syslog.out &&
	syslog_has "skipped file:/etc/after" &&
	grep -E "^<28>.*skipped file:/etc/after" syslog.out &&
	grep -E "^<28>.*run: 1 repaired, 0 ok, 1 failed, 1 skipped" syslog.out
'

test_expect_success 'an error that stops the run goes to syslog too' '
	echo "resources: [" >pol/roles/bad.yaml &&
	printf "classes:\n  - match: \"*\"\n    roles: [bad]\n" >pol/site.yaml &&
	test_expect_code 1 with_log run --policy pol --root root 2>err &&
	test_grep "roles/bad.yaml:" err &&
	syslog_has "roles/bad.yaml:" &&
	grep -E "^<27>.*roles/bad.yaml:" syslog.out &&
	printf "classes:\n  - match: \"*\"\n    roles: [r]\n" >pol/site.yaml
'

test_expect_success 'plan logs nothing to syslog' '
	n=$(wc -l <syslog.out) &&
	echo drift >root/etc/motd &&
	test_expect_code 6 with_log plan --policy pol --root root >out 2>err &&
	test_grep "~ file:/etc/motd" out &&
	sleep 0.3 &&
	test "$(wc -l <syslog.out)" = "$n"
'

test_expect_success 'under systemd: stderr is the journal, lines carry their priority, none goes to syslog' '
	n=$(wc -l <syslog.out) &&
	rc=0 &&
	AS_JOURNAL=1 with_log run --policy pol --root root >out 2>jerr || rc=$? &&
	test $rc = 6 &&
	cat jerr &&
	grep "^<5>congruent: repaired file:/etc/motd" jerr &&
	grep "^<3>congruent: failed file:/etc/blocker" jerr &&
	grep "^<4>congruent: skipped file:/etc/after" jerr &&
	grep "^<4>congruent: run: 1 repaired" jerr &&
	sleep 0.3 &&
	test "$(wc -l <syslog.out)" = "$n" &&
	rm -rf root/etc/blocker &&
	echo "resources: [" >pol/roles/bad.yaml &&
	printf "classes:\n  - match: \"*\"\n    roles: [bad]\n" >pol/site.yaml &&
	rc=0 &&
	AS_JOURNAL=1 with_log run --policy pol --root root >out 2>jerr || rc=$? &&
	test $rc = 1 &&
	grep "^<3>congruent: roles/bad.yaml:" jerr &&
	printf "classes:\n  - match: \"*\"\n    roles: [r]\n" >pol/site.yaml
'

# Both streams into one journal stream, as the shipped unit has them.
as_unit() {
	: >j.raw &&
	JOURNAL_STREAM=$(stat -c %d:%i j.raw) "$CONGRUENT" "$@" >>j.raw 2>>j.raw
}

test_expect_success 'under systemd, stdout in the journal too: the log lines only, no report, no diffs' '
	echo drift >root/etc/motd &&
	{ as_unit run --policy pol --root root; true; } &&
	test_grep "<5>congruent: repaired file:/etc/motd" j.raw &&
	test_grep_not "Run for" j.raw &&
	test_grep_not "+++ /etc/motd" j.raw &&
	echo drift >root/etc/motd &&
	{ as_unit run -v --policy pol --root root; true; } &&
	test_grep "+++ /etc/motd" j.raw
'

# script(1) gives the command a terminal.
test_expect_success 'colours on a terminal (an empty NO_COLOR does not count)' '
	command -v script >/dev/null || exit 0
	echo drift >root/etc/motd &&
	env -u NO_COLOR TERM=xterm script -qec "$CONGRUENT plan --policy pol --root root" /dev/null </dev/null >tty.out || true
	grep -q "$ESC\[" tty.out &&
	env -u NO_COLOR TERM=xterm script -qec "$CONGRUENT plan --policy nowhere" /dev/null </dev/null >tty.err || true
	grep -q "$ESC\[31mcongruent:" tty.err &&
	NO_COLOR= TERM=xterm script -qec "$CONGRUENT plan --policy pol --root root" /dev/null </dev/null >tty.out || true
	grep -q "$ESC\[" tty.out
'

test_expect_success 'no colours with NO_COLOR, with TERM=dumb, or into a pipe' '
	command -v script >/dev/null || exit 0
	NO_COLOR=1 TERM=xterm script -qec "$CONGRUENT plan --policy pol --root root" /dev/null </dev/null >tty.out || true
	test_grep "~ file:/etc/motd" tty.out &&
	! grep -q "$ESC" tty.out &&
	env -u NO_COLOR TERM=dumb script -qec "$CONGRUENT plan --policy pol --root root" /dev/null </dev/null >tty.out || true
	! grep -q "$ESC" tty.out &&
	{ env -u NO_COLOR TERM=xterm "$CONGRUENT" plan --policy pol --root root 2>&1 || true; } | cat >pipe.out &&
	test_grep "~ file:/etc/motd" pipe.out &&
	! grep -q "$ESC" pipe.out
'

test_expect_success 'live: each outcome as it happens, and a slow step says what is running' '
	mkdir -p live/roles && test_make_root lroot &&
	printf "classes:\n  - match: \"*\"\n    roles: [r]\n" >live/site.yaml &&
	{
		echo "resources:"
		echo "  - directory: /srv"
		for i in $(seq 300); do
			printf "  - file: /srv/f%d\n    content: \"%d\\\\n\"\n" $i $i
		done
		printf "  - file: /srv/slow\n    content: \"x\\\\n\"\n    validate: [sleep, \"5\"]\n"
	} >live/roles/r.yaml &&
	cg check live >/dev/null &&
	{ "$CONGRUENT" run --policy live --root lroot 2>live.err; echo "rc=$?"; } |
		while IFS= read -r line; do
			printf "%s %s\n" "$(date +%s.%N)" "$line"
		done >stamped &&
	test_grep "rc=2" stamped &&
	first=$(grep " + file:/srv/f1  " stamped | cut -d" " -f1) &&
	end=$(grep " run: " stamped | cut -d" " -f1) &&
	test -n "$first" && test -n "$end" &&
	awk -v a="$first" -v b="$end" "BEGIN { exit !(b - a > 3.5) }" &&
	test "$(grep -n " Run for " stamped | cut -d: -f1)" = 1 &&
	test_grep "congruent: still observing file:/srv/f257 and 44 more of its type" live.err &&
	test_grep "congruent: repaired file:/srv/f1 " live.err
'

test_done
