#!/bin/bash
# t1500-facts-custom: custom facts from the root's /etc/congruent/facts.d
# (static YAML maps, as custom_NAME) in `facts`, classes and templates; a
# bad file is an error naming it and its line that stops nothing else; an
# empty fact used in a template is a warning naming the template's line.
. "$(dirname "$0")/../lib/lib.sh"

S=$TOP/doc/schema

test_expect_success 'setup' '
	mkdir -p pol/roles pol/templates &&
	cat >pol/site.yaml <<-\EOF2 &&
	classes:
	  - facts: { custom_role: web }
	    roles: [web]
	  - match: "*"
	    roles: [base]
	EOF2
	printf "resources:\n  - file: /etc/base\n    content: base\n" >pol/roles/base.yaml &&
	printf "resources:\n  - file: /etc/web\n    template: templates/web.j2\n" >pol/roles/web.yaml &&
	printf "rack {{ custom_rack }}\ndc {{ custom_dc }}\n" >pol/templates/web.j2 &&
	test_make_root root && mkdir -p root/etc/congruent/facts.d &&
	printf "role: web\nrack: r12\ndc: ams\n" >root/etc/congruent/facts.d/10-site.yaml &&
	printf "dc: fra\n" >root/etc/congruent/facts.d/20-dc.yaml &&
	echo "ignored: yes" >root/etc/congruent/facts.d/notes.txt
'

test_expect_success 'facts shows them, later files overriding, in text and JSON' '
	cg facts --root root >out &&
	test_grep "custom_role  web" out && test_grep "custom_rack  r12" out &&
	test_grep "custom_dc    fra" out && test_grep_not ignored out &&
	cg facts --root root --format json >facts.json &&
	"$TOP/tests/lib/json-validate" "$S/facts.schema.json" facts.json &&
	jq -e ".custom_role == \"web\" and .custom_dc == \"fra\" and (has(\"errors\") | not)" facts.json
'

test_expect_success 'without --root the host has none here; check accepts custom_ names' '
	cg check pol &&
	cg facts --root "$TRASH/pol" >out && test_grep_not custom_ out
'

test_expect_success 'classes and templates use them; plan and run agree' '
	test_expect_code 2 cg plan --policy pol --root root --state-dir st >plan.out 2>plan.err &&
	test_grep "+ file:/etc/web" plan.out && test_grep_not warning plan.out &&
	test_expect_code 2 cg run --policy pol --root root --state-dir st >run.out 2>run.err &&
	printf "rack r12\ndc fra\n" >want && test_cmp want root/etc/web &&
	test ! -e root/etc/base
'

test_expect_success 'a bad file: an error naming it and its line; the rest is enforced, exit has 4' '
	printf "rack: [r13\n" >root/etc/congruent/facts.d/30-bad.yaml &&
	test_expect_code 4 cg facts --root root >out 2>err &&
	test_grep "/etc/congruent/facts.d/30-bad.yaml:2" err &&
	test_grep "hint: fix the YAML" err && test_grep "custom_rack  r12" out &&
	test_expect_code 4 cg facts --root root --format json >facts.json 2>err &&
	"$TOP/tests/lib/json-validate" "$S/facts.schema.json" facts.json &&
	jq -e ".errors[0].where | startswith(\"/etc/congruent/facts.d/30-bad.yaml:2\")" facts.json &&
	echo changed >root/etc/web &&
	test_expect_code 6 cg plan --policy pol --root root --state-dir st >out 2>err &&
	test_grep "30-bad.yaml:2" err &&
	test_expect_code 6 cg run --policy pol --root root --state-dir st >out 2>err &&
	test_grep "30-bad.yaml:2" err && test_cmp want root/etc/web &&
	jq -e ".exit_status == 6" st/reports/last-run.json &&
	jq -e ".facts_errors[0].where | startswith(\"/etc/congruent/facts.d/30-bad.yaml:2\")" \
		st/reports/last-run.json &&
	test_expect_code 4 cg plan --format json --policy pol --root root --state-dir st >plan.json 2>err &&
	"$TOP/tests/lib/json-validate" "$S/run.schema.json" plan.json st/reports/last-run.json &&
	jq -e ".facts_errors | length == 1" plan.json
'

test_expect_success 'a file that is no map of strings is refused whole' '
	printf -- "- a\n- b\n" >root/etc/congruent/facts.d/30-bad.yaml &&
	test_expect_code 4 cg facts --root root >out 2>err &&
	test_grep "30-bad.yaml:1: custom facts must be a map" err &&
	printf "ok: 1\nBad-Name: x\n" >root/etc/congruent/facts.d/30-bad.yaml &&
	test_expect_code 4 cg facts --root root >out 2>err &&
	test_grep "30-bad.yaml:2: invalid fact name" err && test_grep_not custom_ok out &&
	printf "list: [a, b]\n" >root/etc/congruent/facts.d/30-bad.yaml &&
	test_expect_code 4 cg facts --root root >out 2>err &&
	test_grep "fact '"'"'list'"'"' is not a string" err &&
	rm root/etc/congruent/facts.d/30-bad.yaml
'

test_expect_success 'a symlinked facts file is not followed' '
	echo "secret: leaked" >"$TRASH/outside.yaml" &&
	ln -s "$TRASH/outside.yaml" root/etc/congruent/facts.d/40-link.yaml &&
	test_expect_code 4 cg facts --root root >out 2>err &&
	test_grep_not leaked out && test_grep "40-link.yaml" err &&
	rm root/etc/congruent/facts.d/40-link.yaml
'

test_expect_success 'an empty or undefined fact in a template warns in plan and run' '
	printf "role: web\nrack: \"\"\n" >root/etc/congruent/facts.d/10-site.yaml &&
	rm root/etc/congruent/facts.d/20-dc.yaml &&
	test_expect_code 2 cg plan --policy pol --root root --state-dir st >out &&
	test_grep "warning: fact '"'"'custom_rack'"'"' is empty at templates/web.j2:1" out &&
	test_grep "warning: fact '"'"'custom_dc'"'"' is empty at templates/web.j2:2" out &&
	test_expect_code 2 cg plan --format json --policy pol --root root --state-dir st >plan.json &&
	test_expect_code 2 cg run --format json --policy pol --root root --state-dir st >run.json &&
	"$TOP/tests/lib/json-validate" "$S/run.schema.json" plan.json run.json &&
	jq -r ".resources[] | select(.id == \"file:/etc/web\") | .warnings[]" plan.json >pw &&
	jq -r ".resources[] | select(.id == \"file:/etc/web\") | .warnings[]" run.json >rw &&
	test_cmp pw rw && test $(wc -l <pw) = 2 &&
	test_expect_code 0 cg run --policy pol --root root --state-dir st >out 2>err &&
	test_grep "custom_dc" out
'

test_done
