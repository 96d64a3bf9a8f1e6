#!/bin/bash
# t8000-privileges: run keeps only the capabilities its policy's modules
# declare, in every set and across execve; the fetch child holds none.
. "$(dirname "$0")/../lib/lib.sh"
# What run and plan keep is measured against a full set.
test_require_cap CAP_SYS_ADMIN
test_require_root

PROBE=$TOP/build/tests/helpers/capprobe

# Masks for the probe, and the ones the modules declare (modules/*.c).
FILE_CAPS=000000000000001b    # chown, dac_override, fowner, fsetid
FILE_MODULE_CAPS=000000000020001b # the file module: those and sys_admin (xattrs)
SYMLINK_CAPS=0000000000000003 # chown, dac_override

# A process's capability lines, as "CapEff 000...1b" and "NoNewPrivs 1".
caps_of() { # FILE (a copy of /proc/PID/status)
	sed -n 's/^\(Cap[A-Za-z]*\|NoNewPrivs\):[[:space:]]*/\1 /p' "$1"
}

# Every capability set of the status in FILE is MASK, and no_new_privs.
expect_caps() { # FILE MASK
	caps_of "$1" >caps.got
	for s in CapInh CapPrm CapEff CapBnd CapAmb; do
		echo "$s $2"
	done >caps.want
	echo "NoNewPrivs 1" >>caps.want
	test_cmp caps.want caps.got
}

policy() { # DIR TYPE COUNT: COUNT resources of TYPE under /srv
	mkdir -p "$1/roles" &&
	printf 'classes:\n  - match: "*"\n    roles: [r]\n' >"$1/site.yaml" &&
	{
		echo "resources:"
		echo "  - directory: /srv"
		i=0
		while [ $i -lt "$3" ]; do
			case $2 in
			file) printf '  - file: /srv/f%d\n    content: "file %d of a long run, to fill the pipe\\n"\n' $i $i ;;
			symlink) printf '  - symlink: /srv/l%d\n    target: /nowhere/%d\n' $i $i ;;
			esac
			i=$((i + 1))
		done
	} >"$1/roles/r.yaml"
}

# Start `congruent ARGS` with stdout on a FIFO that is read only once the
# agent's /proc/PID/status shows no_new_privs (set by the drop): the
# output of a run over many resources fills the pipe, so the agent is
# alive, past its drop, when its status is copied to FILE.
status_during() { # FILE ARGS...
	_file=$1
	shift
	rm -f out.fifo
	mkfifo out.fifo || return 1
	"$CONGRUENT" "$@" >out.fifo 2>agent.err &
	_pid=$!
	exec 3<out.fifo
	_i=0
	while [ $_i -lt 200 ]; do
		grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$_pid/status" 2>/dev/null && break
		sleep 0.05
		_i=$((_i + 1))
	done
	cp "/proc/$_pid/status" "$_file"
	cat <&3 >agent.out
	exec 3<&-
	wait $_pid && _rc=0 || _rc=$?
	cat agent.err >&2
	if grep -q -e "Sanitizer" -e "runtime error:" agent.err; then return 99; fi
	return $_rc
}

test_expect_success 'the pitfall is real: without the bounding set and NOROOT, execve as root gives everything back' '
	"$PROBE" --naive $FILE_CAPS -- cat /proc/self/status >st 2>self &&
	cat self &&
	grep "^CapEff:" st &&
	! grep -q "^CapEff:[[:space:]]*$FILE_CAPS" st
'

test_expect_success 'a helper run after the drop holds exactly what was kept, in every set' '
	"$PROBE" $FILE_CAPS 0 -- cat /proc/self/status >st 2>self &&
	cat self &&
	expect_caps st $FILE_CAPS &&
	test_grep "CapBnd 000000000000001b" self
'

test_expect_success 'capabilities kept for the agent only do not reach its helpers' '
	"$PROBE" 1 2 -- cat /proc/self/status >st 2>self &&
	test_grep "CapEff 0000000000000003" self &&
	test_grep "CapBnd 0000000000000003" self &&
	caps_of st >got &&
	test_grep "CapEff 0000000000000001" got &&
	test_grep "CapPrm 0000000000000001" got &&
	test_grep "CapAmb 0000000000000001" got
'

test_expect_success 'with nothing kept, a helper holds nothing' '
	"$PROBE" 0 0 -- cat /proc/self/status >st 2>self &&
	expect_caps st 0000000000000000
'

# No set of the status in FILE has a capability outside MASK.
expect_within() { # FILE MASK
	caps_of "$1" | while read -r set val; do
		case $set in Cap*) ;; *) continue ;; esac
		if [ $((16#$val & ~16#$2)) -ne 0 ]; then
			echo "$set $val is not within $2" >&2
			exit 1
		fi
	done
}

if command -v setcap >/dev/null; then
	test_expect_success 'a program with file capabilities gains nothing either' '
		cp "$(command -v cat)" fcat &&
		setcap cap_dac_override,cap_sys_admin+p fcat &&
		"$PROBE" $SYMLINK_CAPS 0 -- ./fcat /proc/self/status >st 2>self &&
		expect_within st $SYMLINK_CAPS &&
		"$PROBE" 0 0 -- ./fcat /proc/self/status >st 2>self &&
		expect_caps st 0000000000000000 &&
		setcap cap_dac_override,cap_sys_admin+ep fcat &&
		test_expect_code 1 "$PROBE" $SYMLINK_CAPS 0 -- ./fcat /proc/self/status 2>self &&
		test_grep "cannot run ./fcat: Operation not permitted" self
	'
else
	test_skip 'a program with file capabilities gains nothing either' 'no setcap'
fi

test_expect_success 'the agent limits itself too, and switches users when asked' '
	"$PROBE" 0 0 65534 -- id -u >uid 2>self &&
	test "$(cat uid)" = 65534 &&
	test_grep "CapEff 0000000000000000" self
'

test_make_root root
test_make_root root3
mkdir -p root3/srv
policy pol-file file 3000
policy pol-link symlink 3000
sed -i "/directory: \/srv/d" pol-link/roles/r.yaml

test_expect_success 'run with files keeps chown, dac_override, fowner, fsetid, sys_admin: /proc/PID/status' '
	test_expect_code 2 status_during st run -v --policy pol-file --root root &&
	expect_caps st $FILE_MODULE_CAPS &&
	test -f root/srv/f2999 &&
	test_grep "capabilities kept for the modules: cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_sys_admin" agent.err
'

test_expect_success 'run with only symlinks keeps chown and dac_override' '
	test_expect_code 2 status_during st run -v --policy pol-link --root root3 &&
	expect_caps st $SYMLINK_CAPS &&
	test -L root3/srv/l2999
'

test_expect_success 'a no-op run is as limited (the drop does not depend on changes)' '
	test_expect_code 0 status_during st run -v --policy pol-link --root root3 &&
	expect_caps st $SYMLINK_CAPS
'

test_expect_success 'a drop that cannot hold fails closed: exit 1, nothing changed' '
	command -v setpriv >/dev/null || exit 0
	echo keep >root/srv/f1 &&
	test_expect_code 1 setpriv --securebits=+noroot_locked \
		"$CONGRUENT" run --policy pol-file --root root 2>err &&
	test_grep "cannot limit privileges" err &&
	test "$(cat root/srv/f1)" = keep
'

# A git server that accepts and never answers: the fetch child hangs
# until the deadline, long enough to look at it.
test_expect_success 'the fetch child, which talks to the network, holds no capability' '
	port=$(perl -MIO::Socket::INET -e "print IO::Socket::INET->new(Listen=>1, LocalAddr=>q(127.0.0.1:0))->sockport") &&
	{ timeout 30 perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(Listen=>5, LocalAddr=>q(127.0.0.1:$port), ReuseAddr=>1) or die; my \$c = \$s->accept; sleep 60" & } &&
	server=$! &&
	sleep 0.3 &&
	printf "source:\n  url: git://127.0.0.1:%s/p.git\n  timeout: 4\n" $port >agent.yaml &&
	{ "$CONGRUENT" run -c agent.yaml --root root --state-dir state 2>fetch.err & } &&
	agent=$! &&
	child= && i=0 &&
	while [ -z "$child" ] && [ $i -lt 100 ]; do
		child=$(pgrep -P $agent | head -n 1) || true
		sleep 0.05; i=$((i + 1))
	done &&
	test -n "$child" &&
	i=0 &&
	while ! grep -q "^NoNewPrivs:[[:space:]]*1" /proc/$child/status && [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1))
	done &&
	cp /proc/$child/status st &&
	kill $server; wait $agent || true; wait $server || true
	expect_caps st 0000000000000000
'

test_done
