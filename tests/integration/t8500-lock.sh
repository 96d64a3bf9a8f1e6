#!/bin/bash
# t8500-lock: one run at a time, with real runs: a second run exits 1
# naming the first, plan and check need no lock, and the lock of a run
# killed with SIGKILL is taken over.
. "$(dirname "$0")/../lib/lib.sh"

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [r]\n' >pol/site.yaml
{
	echo "resources:"
	echo "  - directory: /srv"
	i=0
	while [ $i -lt 3000 ]; do
		printf '  - file: /srv/f%d\n    content: "file %d\\n"\n' $i $i
		i=$((i + 1))
	done
} >pol/roles/r.yaml
test_make_root root
LOCK=root/var/lib/congruent/lock

# A run that holds the lock for as long as we like: -v prints the order
# of 3000 resources into a FIFO nobody reads yet, after the engine ran.
start_holder() {
	rm -f out.fifo
	mkfifo out.fifo || return 1
	"$CONGRUENT" run -v --policy pol --root root >out.fifo 2>holder.err &
	holder=$!
	exec 3<out.fifo
	_i=0
	until grep -q "^pid $holder " "$LOCK" 2>/dev/null; do
		[ $_i -lt 200 ] || return 1
		sleep 0.05
		_i=$((_i + 1))
	done
}

test_expect_success 'first runs: files, then a backup of one' '
	test_expect_code 2 cg run --policy pol --root root >/dev/null &&
	echo drift >root/srv/f1 &&
	test_expect_code 2 cg run --policy pol --root root >/dev/null
'

# Until process $1 has ended (a zombie its parent has not reaped counts:
# its files, and so its lock, are closed).
wait_gone() {
	_i=0
	while [ $_i -lt 200 ]; do
		case "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" in
		"" | Z | X) return 0 ;;
		esac
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# In this shell, not a test's subshell: the FIFO's reader (fd 3) must stay
# open from one test to the next, or the holder dies of SIGPIPE.
start_holder || echo "# the holder did not take the lock"

test_expect_success 'a second run while a run holds the lock exits 1, naming it' '
	kill -0 $holder &&
	test_expect_code 1 cg run --policy pol --root root 2>err &&
	test_grep "another congruent run holds" err &&
	test_grep "(pid $holder since " err &&
	test_grep "hint: wait for it to finish" err
'

test_expect_success 'restore waits its turn too' '
	cg restore --root root --list /srv/f1 >list &&
	test_grep "6 bytes" list &&
	test_expect_code 1 cg restore --root root /srv/f1 2>err &&
	test_grep "another congruent run holds" err &&
	test "$(cat root/srv/f1)" = "file 1"
'

test_expect_success 'plan and check need no lock' '
	echo drift >root/srv/f2 &&
	test_expect_code 2 cg plan --policy pol --root root >plan.out &&
	test_grep "~ file:/srv/f2" plan.out &&
	cg check pol >/dev/null
'

# Killed here, in the shell that started it, so that bash reports its
# death to the wait below and not on the TAP stream.
killed=no
if kill -0 $holder 2>/dev/null; then
	kill -9 $holder && killed=yes
fi
{ wait $holder; } 2>/dev/null

test_expect_success 'the lock of a run killed with SIGKILL is taken over' '
	test $killed = yes &&
	test_expect_code 2 cg run --policy pol --root root >/dev/null 2>err &&
	test "$(cat root/srv/f2)" = "file 2" &&
	grep -q "^pid [0-9]* since " $LOCK &&
	! grep -q "^pid $holder " $LOCK
'
exec 3<&-

start_holder || echo "# the holder did not take the lock"
test_expect_success 'when the holder ends normally, the next run goes' '
	cat <&3 >/dev/null &&
	wait_gone $holder &&
	test_expect_code 0 cg run --policy pol --root root
'
exec 3<&-
wait $holder && echo "# the holder exited 0" || echo "# the holder exited $?"

# A fetch child (forked, no exec) waiting on a server that never answers
# when its run is killed: it must not keep the lock, nor outlive the run.
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
git init -q -b main src && cp -r pol/site.yaml pol/roles src/ &&
	git -C src add -A && git -C src commit -q -m v1 &&
	git clone -q --bare src src.git
port=$(perl -MIO::Socket::INET -e "print IO::Socket::INET->new(Listen=>1, LocalAddr=>q(127.0.0.1:0))->sockport")
timeout 60 perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(Listen=>5, LocalAddr=>q(127.0.0.1:$port), ReuseAddr=>1) or die; while (my \$c = \$s->accept) { push @k, \$c }" &
mute=$!
test_cleanup_add "kill $mute"
printf 'source:\n  url: %s\n  branch: main\n  timeout: 40\n' "$TRASH/src.git" >local.yaml
printf 'source:\n  url: git://127.0.0.1:%s/p.git\n  branch: main\n  timeout: 40\n' "$port" >mute.yaml

test_expect_success 'a fetch child of a killed run neither keeps the lock nor lives on' '
	test_expect_code 0 cg run -c local.yaml --root root --state-dir gstate >/dev/null &&
	{ "$CONGRUENT" run -c mute.yaml --root root --state-dir gstate >/dev/null 2>&1 & } &&
	agent=$! && child= && _i=0 &&
	while [ -z "$child" ] && [ $_i -lt 100 ]; do
		child=$(pgrep -P $agent | head -n 1); sleep 0.05; _i=$((_i + 1))
	done &&
	test -n "$child" && sleep 0.3 &&
	kill -9 $agent && wait_gone $agent &&
	wait_gone $child &&
	test_expect_code 0 cg run -c local.yaml --root root --state-dir gstate 2>err &&
	! test_grep "another congruent run holds" err
'

test_expect_success 'SIGTERM mid-run: the resource at hand finished, the rest skipped, all logged and reported' '
	rm -rf troot && test_make_root troot &&
	{ "$CONGRUENT" run --policy pol --root troot --format json >term.json 2>term.err & } &&
	agent=$! && _i=0 &&
	until [ "$(ls troot/srv 2>/dev/null | wc -l)" -ge 50 ] || [ $_i -ge 2000 ]; do
		sleep 0.01; _i=$((_i + 1))
	done &&
	kill -TERM $agent && { wait $agent && rc=0 || rc=$?; } &&
	test $rc = 6 &&
	made=$(ls troot/srv | grep -c "^f") &&
	test "$made" -lt 3000 &&
	test "$(grep -c "repaired file:/srv/f" term.err)" = "$made" &&
	test_grep "stopped by Terminated" term.err &&
	test "$(jq -r .stopped term.json)" = TERM &&
	test "$(jq "[.resources[] | select(.status == \"repaired\")] | length" term.json)" = $((made + 1)) &&
	jq -r ".resources[] | select(.status == \"skipped\") | .error.message" term.json | sort -u >skipped &&
	test "$(cat skipped)" = "skipped: the run was stopped (Terminated) before its turn" &&
	test "$(jq -r .stopped troot/var/lib/congruent/reports/last-run.json)" = TERM &&
	for f in troot/srv/f*; do test "$(cat "$f")" = "file ${f#troot/srv/f}" || exit 1; done &&
	test_expect_code 2 cg run --policy pol --root troot >/dev/null &&
	test "$(ls troot/srv | wc -l)" = 3000
'

test_expect_success 'the lock file is written over in place, not truncated, each run' '
	rm -rf lroot && test_make_root lroot && mkdir -p lpol/roles &&
	cp pol/site.yaml lpol/ && echo "resources: []" >lpol/roles/$(sed -n "s/.*roles: \[\(.*\)\]/\1/p" pol/site.yaml).yaml &&
	test_expect_code 0 cg run --policy lpol --root lroot >/dev/null &&
	test "$(stat -c %s lroot/var/lib/congruent/lock)" = 64 &&
	test_expect_code 0 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o trunc.trace -e trace=ftruncate,truncate \
		"$CONGRUENT" run --policy lpol --root lroot >/dev/null 2>&1 &&
	! grep -q truncate trunc.trace &&
	grep -q "^pid [0-9]* since [0-9T:Z-]* *$" lroot/var/lib/congruent/lock
'

test_done
