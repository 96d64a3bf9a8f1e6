#!/bin/bash
# t1000-check: `congruent check` rejects bad policies with file:line, the
# resource, and a hint. Cases are data: tests/fixtures/check/NAME/ holds
# policy/ and either expect (lines that must appear in stderr; exit 1) or
# expect-ok (the policy passes; an expect file then lists warnings).
. "$(dirname "$0")/../lib/lib.sh"

for dir in "$FIXTURES"/check/*/; do
	name=$(basename "$dir")
	if [ -f "$dir/expect-ok" ]; then
		test_expect_success "check accepts $name" "
			cg check '$dir/policy' >out 2>err &&
			test_grep ': ok' out &&
			if [ -f '$dir/expect' ]; then
				while IFS= read -r line; do
					test_grep \"\$line\" err || exit 1
				done <'$dir/expect'
			fi
		"
	else
		test_expect_success "check rejects $name" "
			test_expect_code 1 cg check '$dir/policy' 2>err &&
			while IFS= read -r line; do
				test_grep \"\$line\" err || exit 1
			done <'$dir/expect'
		"
	fi
done

test_expect_success 'the example policy passes check' '
	cg check "$TOP/policies" >out &&
	test_grep "ok" out
'

test_expect_success 'check needs no root privileges' '
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
		cp -r "$TOP/policies" pub && chmod -R a+rX pub "$TRASH" &&
		setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$CONGRUENT" check pub >out
	else
		cg check "$TOP/policies" >out
	fi &&
	test_grep "ok" out
'

mkpol() {
	mkdir -p "$1/roles" &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >"$1/site.yaml"
}

test_expect_success 'an alias bomb is refused quickly, not expanded' '
	mkpol bomb &&
	{
		echo "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"
		for i in 1 2 3 4 5 6 7 8 9; do
			p=$((i - 1))
			echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
		done
		echo "resources: *a9"
	} >bomb/roles/base.yaml &&
	test_expect_code 1 timeout 10 "$CONGRUENT" check bomb 2>err &&
	test_grep "document too large" err
'

test_expect_success 'a huge document is refused, not loaded' '
	mkpol huge &&
	{
		echo "resources:"
		yes "  - file: /tmp/some-long-name-to-fill-the-file-up-quickly" | head -n 400000
	} >huge/roles/base.yaml &&
	test "$(stat -c %s huge/roles/base.yaml)" -gt 16777216 &&
	test_expect_code 1 timeout 20 "$CONGRUENT" check huge 2>err &&
	test_grep "larger than the limit" err
'

test_expect_success 'deep nesting is refused' '
	mkpol deep &&
	{
		printf "resources: "
		for i in $(seq 200); do printf "["; done
		for i in $(seq 200); do printf "]"; done
		echo
	} >deep/roles/base.yaml &&
	test_expect_code 1 timeout 10 "$CONGRUENT" check deep 2>err &&
	test_grep "nesting deeper than" err
'

test_expect_success 'a FIFO as a role file is refused, not read' '
	mkpol fifo &&
	mkfifo fifo/roles/base.yaml &&
	test_expect_code 1 timeout 10 "$CONGRUENT" check fifo 2>err &&
	test_grep "roles/base.yaml: not a regular file but a FIFO" err &&
	test_expect_code 1 timeout 10 "$CONGRUENT" plan --policy fifo \
		--root . --hostname h 2>err &&
	test_grep "not a regular file but a FIFO" err
'

test_expect_success 'a FIFO as site.yaml, or an unused role, is refused too' '
	mkpol fifo2 &&
	printf "resources: []\n" >fifo2/roles/base.yaml &&
	mkfifo fifo2/roles/spare.yaml &&
	test_expect_code 1 timeout 10 "$CONGRUENT" check fifo2 2>err &&
	test_grep "roles/spare.yaml: not a regular file but a FIFO" err &&
	rm fifo2/site.yaml && mkfifo fifo2/site.yaml &&
	test_expect_code 1 timeout 10 "$CONGRUENT" check fifo2 2>err &&
	test_grep "congruent: site.yaml: not a regular file but a FIFO" err
'

test_expect_success 'a yaml.org tag and a NUL in a path are refused with file:line' '
	mkpol tags &&
	printf "resources:\n  - file: /etc/motd\n    content: !!binary aGVsbG8=\n" \
		>tags/roles/base.yaml &&
	test_expect_code 1 cg check tags 2>err &&
	test_grep "roles/base.yaml:3:14: " err &&
	test_grep "!!binary" err && test_grep "does not apply" err &&
	printf "resources:\n  - file: \"/etc/motd\\\\0.d/x\"\n" \
		>tags/roles/base.yaml &&
	test_expect_code 1 cg check tags 2>err &&
	test_grep "roles/base.yaml:2:11: a NUL character" err
'

test_expect_success 'resources given by an alias are checked and planned' '
	mkpol alias &&
	printf "description: &r\n  - file: /etc/motd\n    mdoe: \"0644\"\nresources: *r\n" \
		>alias/roles/base.yaml &&
	test_expect_code 1 cg check alias 2>err &&
	test_grep "roles/base.yaml:3: file:/etc/motd: unknown key" err &&
	printf "description: &r\n  - file: /etc/motd\n    content: hi\nresources: *r\n" \
		>alias/roles/base.yaml &&
	cg check alias &&
	mkdir -p aroot/etc &&
	test_expect_code 2 cg plan --policy alias --root aroot --hostname h >out &&
	test_grep "+ file:/etc/motd" out
'

test_expect_success 'an unreadable policy tree is a clear error' '
	test_expect_code 1 cg check does-not-exist 2>err &&
	test_grep "cannot open policy tree does-not-exist" err
'

test_expect_success 'a template rendering past 64 MiB: check finds it with the real vars, plan fails that resource' '
	mkdir -p tbomb/roles tbomb/templates root/etc &&
	big=$(head -c 1048576 /dev/zero | tr "\\0" x) &&
	{
		echo "classes:"
		echo "  - match: \"big-*\""
		echo "    roles: [base]"
		echo "    vars: { big: $big }"
		echo "  - match: \"*\""
		echo "    roles: [base]"
		echo "    vars: { big: small }"
	} >tbomb/site.yaml &&
	printf "resources:\n  - file: /etc/bomb\n    template: templates/t\n" >tbomb/roles/base.yaml &&
	for i in $(seq 100); do echo "{{ big }}"; done >tbomb/templates/t &&
	test_expect_code 1 cg check tbomb 2>err &&
	test_grep "templates/t:64" err &&
	test_grep "renders to more than 64 MiB" err &&
	test_expect_code 4 cg plan --policy tbomb --root root --hostname big-1 --format json >out.json &&
	test "$(jq -r ".resources[0].status" out.json)" = failed &&
	jq -r ".resources[0].error.message" out.json | grep -q "more than 64 MiB" &&
	test_expect_code 2 cg plan --policy tbomb --root root --hostname web-1 >out
'

test_expect_success 'one mistake, one error: references to a refused resource are no second error' '
	mkpol casc &&
	cat >casc/roles/base.yaml <<-\Y &&
	resources:
	  - file: /etc/app.conf
	    mdoe: "0644"
	  - service: app
	    restart_on: [file:/etc/app.conf]
	  - file: /etc/b
	    requires: [file:/etc/app.conf, file:/etc/nope]
	  - file: /etc/c
	    requires: [file:/etc/app.conf]
	Y
	test_expect_code 1 cg check casc 2>err &&
	test_grep "unknown key '\''mdoe'\''" err &&
	test_grep "requires '\''file:/etc/nope'\'', which is not declared" err &&
	test "$(grep -c "not declared" err)" = 1 &&
	test_grep "casc: 2 errors" err
'

test_done
