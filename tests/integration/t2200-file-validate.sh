#!/bin/bash
# t2200-file-validate: validate: checks new content before it replaces the
# old, in the read-only sandbox, with the same answer in plan and run.
. "$(dirname "$0")/../lib/lib.sh"

# The checks run as nobody when we are root: let them reach the scripts.
chmod 755 "$TRASH"

policy() {
	rm -rf pol && mkdir -p pol/roles
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
	cat >pol/roles/base.yaml
}

# A check that says what it sees, then fails so that it is all shown.
cat >look.sh <<EOF
#!/bin/sh
echo "uid=\$(id -u) cwd=\$(pwd) arg=\$1 args=\$#"
echo "path=\$CONGRUENT_PATH root=\$CONGRUENT_ROOT lc=\$LC_ALL"
echo "env=\$(env | grep -c .)"
echo "content=\$(cat "\$1") stdin=\$(cat)"
touch "$TRASH/written" 2>&1 && echo WROTE
echo "net=\$(awk -F: 'NR > 2 { gsub(/ /, "", \$1); printf "%s,", \$1 }' /proc/net/dev)"
awk '/^CapEff/ { print "capeff=" \$2 }' /proc/self/status
exit 3
EOF
chmod 755 look.sh

test_expect_success 'a failing check fails the file and leaves it as it was' '
	test_make_root root &&
	printf "ok old\n" >root/etc/app.conf &&
	ls -li --time-style=full-iso root/etc/app.conf >before &&
	policy <<-\EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "broken\n"
	    validate: "grep -q ^ok %s"
	EOF
	test_expect_code 4 cg run --policy pol --root root >out 2>err &&
	test_grep "! file:/etc/app.conf" out &&
	test_grep "validate \"grep -q ^ok %s\" failed (exit 1)" out &&
	test_grep "/etc/app.conf was left as it is" out &&
	ls -li --time-style=full-iso root/etc/app.conf >after &&
	test_cmp before after &&
	printf "ok old\n" >want && test_cmp want root/etc/app.conf &&
	test -z "$(ls -A root/etc | grep cg-)" &&
	test ! -d root/var/lib/congruent/backups ||
	test -z "$(find root/var/lib/congruent -type f -path "*objects*")"
'

test_expect_success 'a passing check (argv as a list) lets the content in' '
	policy <<-\EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "ok new\n"
	    validate: [grep, -q, "^ok new$"]
	EOF
	test_expect_code 2 cg plan --policy pol --root root >out &&
	test_grep "~ file:/etc/app.conf" out &&
	test_expect_code 2 cg run --policy pol --root root >out &&
	printf "ok new\n" >want && test_cmp want root/etc/app.conf &&
	test_expect_code 0 cg run --policy pol --root root >out
'

test_expect_success 'content that is already there is not checked again' '
	policy <<-\EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "ok new\n"
	    validate: "/nonexistent/check %s"
	EOF
	test_expect_code 0 cg plan --policy pol --root root &&
	test_expect_code 0 cg run --policy pol --root root
'

test_expect_success 'what the check sees, the same in plan and run' '
	rm -f written &&
	policy <<-EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "the new one\n"
	    validate: "$TRASH/look.sh %s"
	EOF
	test_expect_code 4 cg plan --policy pol --root root >plan.out &&
	test_expect_code 4 cg run --policy pol --root root >run.out &&
	grep "validate" plan.out >plan.msg &&
	grep "validate" run.out >run.msg &&
	test_cmp plan.msg run.msg &&
	uid=$(id -u) && if [ "$uid" = 0 ]; then uid=65534; fi &&
	test_grep "uid=$uid cwd=/ arg=/proc/self/fd/0 args=1" run.msg &&
	test_grep "path=/etc/app.conf root=$TRASH/root lc=C" run.msg &&
	test_grep "content=the new one stdin=the new one" run.msg &&
	test_grep "net=lo," run.msg &&
	test_grep "capeff=0000000000000000" run.msg &&
	test_grep_not WROTE run.msg &&
	test ! -e written &&
	printf "ok new\n" >want && test_cmp want root/etc/app.conf
'

test_expect_success 'a check that hangs is killed at helper_timeout' '
	printf "#!/bin/sh\nsleep 30\n" >hang.sh && chmod 755 hang.sh &&
	printf "helper_timeout: 1\n" >agent.yaml &&
	policy <<-EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "x\n"
	    validate: "$TRASH/hang.sh"
	EOF
	start=$(date +%s) &&
	test_expect_code 4 cg run -c agent.yaml --policy pol --root root \
		>out &&
	test $(($(date +%s) - start)) -lt 20 &&
	test_grep "helper_timeout" out &&
	printf "ok new\n" >want && test_cmp want root/etc/app.conf
'

test_expect_success 'quotes group words; no shell is involved' '
	policy <<-\EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "a b $HOME\n"
	    validate: "grep -qF '\''a b $HOME'\'' %s"
	EOF
	test_expect_code 2 cg run --policy pol --root root &&
	policy <<-\EOF &&
	resources:
	  - file: /etc/app.conf
	    content: "c d\n"
	    validate: "grep -q \"c d\" %s; true"
	EOF
	test_expect_code 4 cg run --policy pol --root root >out &&
	test_grep "failed (exit 2)" out
'

test_expect_success 'check refuses a bad validate:' '
	policy <<-\EOF &&
	resources:
	  - file: /etc/a
	    content: "x\n"
	    validate: "grep -q '\''unclosed %s"
	  - file: /etc/b
	    mode: "0644"
	    validate: "true"
	  - file: /etc/c
	    content: "x\n"
	    validate: ""
	EOF
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "roles/base.yaml:4" out &&
	test_grep "a quote is not closed" out &&
	test_grep "roles/base.yaml:7" out &&
	test_grep "needs content, source or template" out &&
	test_grep "roles/base.yaml:10" out &&
	test_grep "the command is empty" out
'

test_done
