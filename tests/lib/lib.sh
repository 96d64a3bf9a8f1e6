# lib.sh: the integration tests' library, in the spirit of git's test-lib.sh.
#
# A test script sources it, then calls test_expect_success 'what' 'commands'
# for each case and test_done at the end. Output is TAP, for prove. Each
# script gets its own trash directory ($TRASH, the working directory),
# removed at exit unless CG_TEST_KEEP=1.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
CONGRUENT=${CONGRUENT:-$TOP/congruent}
TEST_NAME=$(basename "$0" .sh)
FIXTURES=$TOP/tests/fixtures
export NO_COLOR=1 LC_ALL=C TZ=UTC
# Sanitizer builds: make a sanitizer report fail the command it came from.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

test_count=0
test_failures=0
test_cleanups=

TRASH=$(mktemp -d "${TMPDIR:-/tmp}/cg-$TEST_NAME.XXXXXX") || exit 1
cd "$TRASH" || exit 1
# Caches (fleet URL's) in the trash, never in the machine's own HOME.
export XDG_CACHE_HOME="$TRASH/.cache"

test_cleanup_add() {
	test_cleanups="$1
$test_cleanups"
}

test_exit_handler() {
	rc=$?
	cd /
	if [ -n "$test_cleanups" ]; then
		eval "$test_cleanups" >/dev/null 2>&1
	fi
	if [ "${CG_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $TRASH" >&2
	else
		rm -rf "$TRASH"
	fi
	exit $rc
}
trap test_exit_handler EXIT
trap 'exit 130' INT TERM

say() {
	printf '# %s\n' "$*"
}

# Run congruent; a sanitizer report anywhere in its stderr fails the call
# with 99, whatever the test expected.
cg() {
	_cg_err="$TRASH/.cg-stderr.$$"
	# "&& ||" so that a test body's set -e does not end it here.
	"$CONGRUENT" "$@" 2>"$_cg_err" && _cg_rc=0 || _cg_rc=$?
	cat "$_cg_err" >&2
	if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
		-e 'runtime error:' "$_cg_err"; then
		rm -f "$_cg_err"
		return 99
	fi
	rm -f "$_cg_err"
	return $_cg_rc
}

test_expect_success() {
	test_count=$((test_count + 1))
	_desc=$1
	_out="$TRASH/.test-output"
	( set -e; eval "$2" ) >"$_out" 2>&1 </dev/null
	_rc=$?
	if [ $_rc -eq 0 ]; then
		echo "ok $test_count - $_desc"
		[ "${CG_TEST_VERBOSE:-0}" = 1 ] && sed 's/^/# /' "$_out"
	elif ! test_have_cap CAP_SYS_ADMIN &&
		grep -q "plan as root needs CAP_SYS_ADMIN" "$_out"; then
		# A root without it (a container) cannot build plan's
		# read-only sandbox, as congruent itself said: not this
		# test's failure, and it could not run here.
		echo "ok $test_count # skip $_desc (needs CAP_SYS_ADMIN: plan's read-only sandbox)"
		test__cap_skipped=1
	elif [ -n "${test__cap_skipped:-}" ]; then
		# Cases build on the ones before them.
		echo "ok $test_count # skip $_desc (needs CAP_SYS_ADMIN: an earlier case could not run)"
	else
		test_failures=$((test_failures + 1))
		echo "not ok $test_count - $_desc"
		printf '%s\n' "$2" | sed 's/^/#	/'
		sed 's/^/# > /' "$_out" | tail -n 40
	fi
	return 0
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # skip $1 ($2)"
}

# Run a command that must exit with the given code.
test_expect_code() {
	_want=$1
	shift
	"$@" && _got=0 || _got=$?
	if [ "$_got" -ne "$_want" ]; then
		echo "error: want exit $_want, got $_got: $*" >&2
		return 1
	fi
	return 0
}

# grep for a fixed string, showing the file on failure.
test_grep() {
	if ! grep -F -e "$1" "$2" >/dev/null; then
		echo "error: '$1' not found in $2:" >&2
		sed 's/^/| /' "$2" >&2
		return 1
	fi
}

test_grep_not() {
	if grep -F -e "$1" "$2" >/dev/null; then
		echo "error: '$1' unexpectedly found in $2:" >&2
		sed 's/^/| /' "$2" >&2
		return 1
	fi
}

test_cmp() {
	if ! cmp -s "$1" "$2"; then
		diff -u "$1" "$2" >&2
		return 1
	fi
}

# A throwaway root with the few files that name users and groups.
test_make_root() {
	mkdir -p "$1/etc"
	printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n' >"$1/etc/passwd"
	printf 'root:x:0:\ndaemon:x:1:\nadm:x:4:\nnogroup:x:65534:\n' >"$1/etc/group"
}

# List a root as "type mode owner:group path [target|sha256]" lines,
# leaving out congruent's own state directory.
test_list_root() {
	(cd "$1" && find . -path ./var/lib/congruent -prune -o -print0 |
		sort -z | while IFS= read -r -d '' p; do
			if [ -L "$p" ]; then
				printf 'l %s %s\n' "$p" "$(readlink "$p")"
			elif [ -d "$p" ]; then
				printf 'd %s %s\n' "$(stat -c '%a %U:%G' "$p")" "$p"
			else
				printf 'f %s %s %s\n' "$(stat -c '%a %U:%G' "$p")" "$p" \
					"$(sha256sum <"$p" | cut -c1-16)"
			fi
		done)
}

# Is this root, with the tools a test needs? (skip_all otherwise)
test_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "1..0 # SKIP needs root"
		trap - EXIT
		rm -rf "$TRASH"
		exit 0
	fi
}

# The number of a capability, by name (CAP_NET_ADMIN or net_admin).
test__cap_number() {
	case $(printf '%s' "${1#CAP_}" | tr '[:lower:]' '[:upper:]') in
	CHOWN) echo 0 ;; DAC_OVERRIDE) echo 1 ;; FOWNER) echo 3 ;;
	FSETID) echo 4 ;; KILL) echo 5 ;; SETGID) echo 6 ;; SETUID) echo 7 ;;
	SETPCAP) echo 8 ;; NET_ADMIN) echo 12 ;; NET_RAW) echo 13 ;;
	SYS_CHROOT) echo 18 ;; SYS_PTRACE) echo 19 ;; SYS_ADMIN) echo 21 ;;
	MKNOD) echo 27 ;; SETFCAP) echo 31 ;;
	*) echo "test_have_cap: unknown capability $1" >&2; return 1 ;;
	esac
}

# test_have_cap NAME...: true if this shell holds every capability named
# (in its effective set: what a root shell in a container without it
# lacks, and what congruent and the tools it starts would get).
test_have_cap() {
	_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
	[ -n "$_eff" ] || return 1
	for _c in "$@"; do
		_n=$(test__cap_number "$_c") || return 1
		[ $(( (0x$_eff >> _n) & 1 )) -eq 1 ] || return 1
	done
	return 0
}

# test_require_cap NAME...: skip the whole test, naming the capability,
# unless this shell holds each of them; for a test that is nothing
# without it (iptables in a network namespace: CAP_NET_ADMIN and
# CAP_SYS_ADMIN; plan's read-only sandbox: CAP_SYS_ADMIN). Call it
# before the first test. make check runs fully as root on a VM or in a
# privileged container.
test_require_cap() {
	for _c in "$@"; do
		if ! test_have_cap "$_c"; then
			echo "1..0 # SKIP needs $(printf '%s' "CAP_${_c#CAP_}" |
				tr '[:lower:]' '[:upper:]') (a VM or a privileged container)"
			trap - EXIT
			rm -rf "$TRASH"
			exit 0
		fi
	done
}

test_done() {
	echo "1..$test_count"
	[ $test_failures -eq 0 ]
}
