#!/bin/bash
# t0200-json-schema: every JSON document congruent writes (plan, run, the
# local and the pushed report, check, facts, state, fleet, and the errors of
# a bad policy) carries schema_version and validates against its schema in
# doc/schema/.
. "$(dirname "$0")/../lib/lib.sh"

S=$TOP/doc/schema
validate() { # SCHEMA FILE...
	_s=$1
	shift
	"$TOP/tests/lib/json-validate" "$S/$_s.schema.json" "$@"
}

export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "managed\\n"\n  - directory: /srv/www\n  - file: /srv/www/index.html\n    content: "hi\\n"\n    requires: [directory:/srv/www]\n' \
	>pol/roles/base.yaml
test_make_root root
git init -q --bare central.git
printf 'reports:\n  url: %s\n' "$TRASH/central.git" >agent.yaml

run() { # plan|run [options]
	_c=$1
	shift
	cg "$_c" -c agent.yaml --policy pol --root root --state-dir state \
		--hostname web-1 --format json "$@"
}

test_expect_success 'the schemas are valid JSON Schemas' '
	for s in run problems facts state fleet; do
		! validate $s /dev/null 2>err && test_grep "not JSON" err || return 1
	done
'

test_expect_success 'plan, run, the local report and the pushed one' '
	test_expect_code 2 run plan >plan.json &&
	test_expect_code 2 run run >run.json &&
	test_expect_code 0 run run >run2.json &&
	git --git-dir=central.git show hosts/web-1:report.json >pushed.json &&
	validate run plan.json run.json run2.json state/reports/last-run.json \
		pushed.json &&
	for f in plan.json run.json pushed.json state/reports/last-run.json; do
		jq -e ".schema_version == 1" $f || return 1
	done &&
	jq -e ".summary.repaired == 3" run.json
'

test_expect_success 'failed resources still fit the schema' '
	rm -rf root/srv/www && echo file >root/srv/www &&
	test_expect_code 4 run run >fail.json &&
	jq -e "[.resources[] | .status] == [\"ok\", \"failed\", \"failed\"]" fail.json &&
	validate run fail.json state/reports/last-run.json &&
	rm root/srv/www
'

test_expect_success 'a document that breaks the schema is caught' '
	jq "del(.schema_version)" run.json >bad1.json &&
	jq ".resources[0].status = \"fine\"" run.json >bad2.json &&
	jq "del(.resources[1].error)" fail.json >bad3.json &&
	for f in bad1 bad2 bad3; do
		test_expect_code 1 validate run $f.json 2>err-$f || return 1
	done &&
	test_grep "schema_version" err-bad1 &&
	test_grep "fine" err-bad2 &&
	test_grep "error" err-bad3
'

test_expect_success 'check --format json: errors as objects, ok as a document' '
	test_expect_code 0 cg check --format json pol >ok.json &&
	validate problems ok.json &&
	jq -e ".ok == true and .errors == []" ok.json &&
	cp -r pol bad &&
	printf "resources:\n  - file: /etc/motd\n    contnt: x\n" >bad/roles/base.yaml &&
	test_expect_code 1 cg check --format json bad >bad.json &&
	validate problems bad.json &&
	jq -e ".errors[0] | .file == \"roles/base.yaml\" and .line == 3 and .resource == \"file:/etc/motd\" and (.message | contains(\"contnt\")) and (.hint | contains(\"content\"))" bad.json
'

test_expect_success 'plan and run with a bad policy still answer in JSON (exit 1)' '
	for c in plan run; do
		test_expect_code 1 cg $c --policy bad --root root --state-dir state \
			--format json >$c-bad.json 2>/dev/null &&
		validate problems $c-bad.json &&
		jq -e ".command == \"$c\" and .exit_status == 1 and (.errors[0].message | contains(\"contnt\"))" $c-bad.json || return 1
	done &&
	test_expect_code 1 cg plan --policy pol --root nowhere --format json >noroot.json 2>/dev/null &&
	validate problems noroot.json &&
	jq -e ".errors[0].message | contains(\"nowhere\")" noroot.json
'

test_expect_success 'facts, state and fleet' '
	cg facts --format json --hostname web-1 >facts.json &&
	validate facts facts.json &&
	jq -e ".hostname == \"web-1\"" facts.json &&
	cg state --state-dir state --format json >state.json &&
	validate state state.json &&
	test_expect_code 4 cg fleet --reports central.git --format json >fleet.json &&
	validate fleet fleet.json &&
	jq -e ".schema_version == 1 and .hosts[0].host == \"web-1\"" fleet.json
'

test_done
