#!/bin/bash
# t8200-helper-timeout: the deadline for helper programs comes from the
# agent config. (What happens when a helper hangs is in tests/unit/
# test-exec.c, through the engine; the fetch's deadline in t6100.)
. "$(dirname "$0")/../lib/lib.sh"

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [r]\n' >pol/site.yaml
printf 'resources:\n  - file: /etc/motd\n    content: "hi\\n"\n' >pol/roles/r.yaml
test_make_root root

test_expect_success 'helper_timeout is accepted' '
	printf "helper_timeout: 120\n" >agent.yaml &&
	test_expect_code 2 cg plan -c agent.yaml --policy pol --root root >/dev/null
'

test_expect_success 'a zero helper_timeout is refused, naming the line' '
	printf "state_dir: /var/lib/congruent\nhelper_timeout: 0\n" >agent.yaml &&
	test_expect_code 1 cg plan -c agent.yaml --policy pol --root root 2>err &&
	test_grep "agent.yaml:2" err &&
	test_grep "helper_timeout must be at least 1 second" err
'

test_expect_success 'a helper_timeout that is not a number is refused' '
	printf "helper_timeout: soon\n" >agent.yaml &&
	test_expect_code 1 cg plan -c agent.yaml --policy pol --root root 2>err &&
	test_grep "helper_timeout" err
'

test_expect_success 'a misspelt key suggests helper_timeout' '
	printf "helper_timout: 60\n" >agent.yaml &&
	test_expect_code 1 cg plan -c agent.yaml --policy pol --root root 2>err &&
	test_grep "helper_timeout" err
'

test_done
