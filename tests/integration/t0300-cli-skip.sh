#!/bin/bash
# t0300-cli-skip: run/plan --skip TYPE leave a type out (building an image
# without its firewall), may be given more than once, and make a partial
# run: no central report, and --only/--skip together narrow further.
. "$(dirname "$0")/../lib/lib.sh"

mkdir -p pol/roles
printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml
cat >pol/roles/base.yaml <<'EOT'
resources:
  - package: nginx
  - service: nginx
    enabled: true
    requires: [package:nginx]
  - file: /etc/nginx.conf
    content: "server {}\n"
    requires: [service:nginx]
  - directory: /srv/www
EOT
git init -q --bare central.git
printf 'reports:\n  url: %s\n' "$TRASH/central.git" >agent.yaml

# A root with no dpkg database: a package resource cannot be enforced in it.
test_make_root root

ids() { jq -r '[.resources[].id] | join(" ")' "$1"; }

test_expect_success 'without --skip the package fails in a root without dpkg' '
	cp -a root whole &&
	test_expect_code 6 cg run --policy pol --root whole --state-dir st-whole \
		--format json >whole.json &&
	jq -e ".resources[0].status == \"failed\"" whole.json
'

test_expect_success '--skip package --skip service: the rest is enforced, exit 2 then 0' '
	test_expect_code 2 cg plan --policy pol --root root --state-dir st \
		--skip package --skip service --format json >plan.json &&
	test "$(ids plan.json)" = "file:/etc/nginx.conf directory:/srv/www" &&
	test_expect_code 2 cg run -c agent.yaml --policy pol --root root \
		--state-dir st --skip package --skip service --format json >run.json &&
	test "$(ids run.json)" = "$(ids plan.json)" &&
	test "$(cat root/etc/nginx.conf)" = "server {}" &&
	test_expect_code 0 cg run -c agent.yaml --policy pol --root root \
		--state-dir st --skip service --skip package --skip package >out &&
	test_grep_not "nginx" out
'

test_expect_success 'a run with --skip is partial: no central report' '
	test_expect_code 1 git --git-dir=central.git rev-parse -q --verify refs/heads/hosts/$(hostname -s) &&
	test -s st/reports/last-run.json
'

test_expect_success '--only and --skip together, and text output' '
	test_expect_code 0 cg plan --policy pol --root root --state-dir st \
		--only file --skip directory >out &&
	test_grep "1 resource" out &&
	test_grep "file:/etc/nginx.conf" out
'

test_expect_success '--skip takes a known type, and is in the usage' '
	test_expect_code 1 cg plan --policy pol --root root --skip pakage 2>err &&
	test_grep "--skip takes a resource type (like iptables), not '\''pakage'\''" err &&
	cg run --help >out && test_grep "--skip TYPE" out &&
	cg plan --help >out && test_grep "--skip TYPE" out
'

test_done
