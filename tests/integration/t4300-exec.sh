#!/bin/bash
# t4300-exec: exec runs a command when its guards say so; guards run in
# plan's read-only sandbox (chrooted into --root), and plan predicts run.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

# The guards run as nobody: let them reach the root's programs.
chmod 755 "$TRASH"

# A root with a shell and a few programs (and the libraries they need),
# so that commands can run chrooted into it.
make_exec_root() {
	rm -rf "$1" && test_make_root "$1" &&
	for b in sh touch test cat grep id rm; do
		p=$(type -P $b) || return 1
		mkdir -p "$1/bin" && cp "$(readlink -f "$p")" "$1/bin/$b" &&
		ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
			$1 ~ /^\// { print $1 }' |
		while read -r lib; do
			mkdir -p "$1$(dirname "$lib")" &&
			cp -n "$(readlink -f "$lib")" "$1$lib" || exit 1
		done || return 1
	done
	chmod 755 "$1"
}

policy() {
	rm -rf pol && mkdir -p pol/roles
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
	cat >pol/roles/base.yaml
}

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end),
		(.error.message // "")] | @tsv' "$1"
}

# predict ROOT: plan on a copy (which must not change), run on ROOT; per
# resource, plan's outcome is run's, and the exit statuses are the same.
# Both run in a directory of their own on a root called "root", so that
# messages read the same.
predict() {
	rm -rf pp rr && mkdir pp rr && cp -a "$1" pp/root && mv "$1" rr/root &&
	(cd pp && find root -printf '%y %m %s %p\n' | sort >../before) &&
	{ (cd pp && cg plan --format json --policy ../pol --root root \
		--state-dir state >plan.json); echo $? >plan.rc; } &&
	(cd pp && find root -printf '%y %m %s %p\n' | sort >../after) &&
	{ (cd rr && cg run --format json --policy ../pol --root root \
		--state-dir state >run.json); echo $? >run.rc; } &&
	mv rr/root "$1" &&
	test_cmp before after && test ! -e pp/state &&
	outcomes pp/plan.json >plan.out && outcomes rr/run.json >run.out &&
	test -s plan.out && test_cmp plan.out run.out && test_cmp plan.rc run.rc
}

test_expect_success 'bad exec resources are errors naming file:line' '
	policy <<-\EOF &&
	resources:
	  - exec: a
	    shell: true
	    command: [echo, hi]
	EOF
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "roles/base.yaml:4" out &&
	test_grep "shell: true takes command as one string" out &&
	policy <<-\EOF &&
	resources:
	  - exec: b
	    creates: /x
	EOF
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "exec b has no command" out &&
	policy <<-\EOF &&
	resources:
	  - exec: c
	    command: [true]
	    refresh_on: [file:/etc/x]
	EOF
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "refresh_on only says when a refresh_only exec runs" out &&
	policy <<-\EOF &&
	resources:
	  - exec: d
	    command: "true"
	    environment: { 1X: y }
	    timeout: 0
	EOF
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "is not a variable name" out
'

test_expect_success 'creates: runs once, chrooted into the root' '
	make_exec_root root &&
	echo "in the root" >root/etc/marker &&
	policy <<-\EOF &&
	resources:
	  - exec: copy-marker
	    command: cat /etc/marker > /etc/copied
	    shell: true
	    creates: /etc/copied
	EOF
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "~ exec:copy-marker" out &&
	test_grep "would run: /etc/copied does not exist" out &&
	test ! -e root/etc/copied &&
	predict root &&
	echo "in the root" >want && test_cmp want root/etc/copied &&
	test_expect_code 0 cg plan --policy pol --root root >out &&
	test_grep "= exec:copy-marker" out &&
	test_expect_code 0 cg run --policy pol --root root >out
'

test_expect_success 'a guard that would write cannot in plan, and says so' '
	make_exec_root root &&
	policy <<-\EOF &&
	resources:
	  - exec: sneaky
	    command: [touch, /etc/ran]
	    unless: [touch, /etc/guard-wrote]
	EOF
	test_expect_code 4 cg plan --policy pol --root root >out &&
	test_grep "! exec:sneaky" out &&
	test_grep "unless [touch /etc/guard-wrote] gave no answer: exit 1" out &&
	test_grep "Read-only file system" out &&
	test_grep "guards run in a read-only sandbox" out &&
	test ! -e root/etc/guard-wrote && test ! -e root/etc/ran &&
	predict root &&
	test ! -e root/etc/guard-wrote && test ! -e root/etc/ran
'

test_expect_success 'a guard that reads decides: unless yes is ok, onlyif no is ok' '
	make_exec_root root &&
	echo "enabled=1" >root/etc/app.conf &&
	policy <<-\EOF &&
	resources:
	  - exec: already
	    command: [touch, /etc/ran-already]
	    unless: [grep, -q, enabled=1, /etc/app.conf]
	  - exec: not-needed
	    command: [touch, /etc/ran-not-needed]
	    onlyif: [grep, -q, enabled=0, /etc/app.conf]
	  - exec: needed
	    command: [touch, /etc/ran-needed]
	    onlyif: [test, -e, /etc/app.conf]
	    unless: [grep, -q, done, /etc/app.conf]
	EOF
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "= exec:already" out &&
	test_grep "= exec:not-needed" out &&
	test_grep "~ exec:needed" out &&
	test_grep "would run: onlyif succeeded, unless failed" out &&
	predict root &&
	test ! -e root/etc/ran-already && test ! -e root/etc/ran-not-needed &&
	test -e root/etc/ran-needed
'

test_expect_success 'refresh_only runs when a refresh_on resource changed, only then' '
	make_exec_root root &&
	policy <<-\EOF &&
	resources:
	  - exec: reload
	    command: echo x >>/etc/reloads
	    shell: true
	    refresh_only: true
	    refresh_on: [file:/etc/app.conf]
	  - file: /etc/app.conf
	    content: "v1\n"
	EOF
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "would run: file:/etc/app.conf changed" out &&
	predict root &&
	echo x >want && test_cmp want root/etc/reloads &&
	test_expect_code 0 cg run --policy pol --root root >out &&
	test_grep_not "exec:reload" out &&
	test_cmp want root/etc/reloads
'

test_expect_success 'a failing command fails with its exit status and last lines' '
	make_exec_root root &&
	policy <<-\EOF &&
	resources:
	  - exec: broken
	    command: [sh, -c, "echo first; echo second >&2; echo third >&2; exit 3"]
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "! exec:broken" out &&
	test_grep "failed (exit 3): second | third" out
'

test_expect_success 'a program missing from the root fails in plan as in run' '
	make_exec_root root &&
	policy <<-\EOF &&
	resources:
	  - exec: missing
	    command: [no-such-program, x]
	  - exec: missing-guard
	    command: [touch, /etc/x]
	    unless: [no-such-guard]
	EOF
	test_expect_code 4 cg plan --policy pol --root root >out &&
	test_grep "command: no-such-program is not in root, where the command runs chrooted" out &&
	test_grep "unless: no-such-guard is not in root" out &&
	predict root
'

test_expect_success 'a user the root does not have fails in plan as in run, and nothing runs as root' '
	make_exec_root root &&
	policy <<-\EOF &&
	resources:
	  - exec: as-ghost
	    command: [touch, /etc/ran]
	    user: ghost
	EOF
	test_expect_code 4 cg plan --policy pol --root root >out &&
	test_grep "user ghost does not exist in root" out &&
	predict root &&
	test ! -e root/etc/ran
'

test_expect_success 'user, cwd, environment and timeout' '
	make_exec_root root &&
	mkdir -m 1777 root/work &&
	policy <<-\EOF &&
	resources:
	  - exec: as-nobody
	    command: id -u >out; pwd >>out; echo $GREETING >>out; echo $PATH >>out
	    shell: true
	    user: nobody
	    cwd: /work
	    environment: { GREETING: hello, PATH: /bin }
	    creates: /work/out
	  - exec: slow
	    command: [sh, -c, "while :; do :; done"]
	    timeout: 1
	EOF
	test_expect_code 6 cg run --policy pol --root root >out &&
	printf "65534\n/work\nhello\n/bin\n" >want && test_cmp want root/work/out &&
	test_grep "! exec:slow" out &&
	test_grep "ran longer than its timeout" out
'

test_done
