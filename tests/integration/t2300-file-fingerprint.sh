#!/bin/sh
# t2300: the fingerprint is a function of the state, for files too: the
# run that repairs them reports the fingerprint of the no-op run after it.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root
command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

test_make_root root
mkdir -p pol/roles pol/files
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
echo "from a source" >pol/files/b
cat >pol/roles/base.yaml <<'YAML'
resources:
  - directory: /etc/app
    mode: "0750"
  - file: /etc/app/a.conf
    content: "a = 1\n"
    mode: "0640"
  - file: /etc/app/b.conf
    source: files/b
  - symlink: /etc/app/current
    target: a.conf
YAML

fp() {
	jq -r .fingerprint "$1"
}

same_after() {
	test_expect_code "$1" cg run --policy pol --root root --format json >repair.json &&
	test_expect_code 0 cg run --policy pol --root root --format json >noop.json &&
	test "$(fp repair.json)" = "$(fp noop.json)"
}

test_expect_success 'the first run, which makes them' '
	same_after 2 &&
	cp noop.json first.json
'

test_expect_success 'a run that repairs content, mode and a missing link' '
	echo "a = 2" >root/etc/app/a.conf &&
	chmod 0600 root/etc/app/b.conf &&
	rm root/etc/app/current &&
	same_after 2 &&
	test "$(fp noop.json)" = "$(fp first.json)"
'

test_expect_success 'a drifted host has another fingerprint' '
	chmod 0755 root/etc/app &&
	test_expect_code 2 cg plan --policy pol --root root --format json >drift.json &&
	test "$(fp drift.json)" != "$(fp first.json)" &&
	same_after 2
'

test_done
