#!/bin/bash
# t6200-source-example: the road of README's quickstart to a managed host,
# with contrib/agent.yaml.example as shipped (only its absolute paths moved
# into the trash directory): an SSH key signs the policy repository
# (gpg.format ssh, user.signingkey, commit -S), allowed_signers trusts it,
# and plan and run enforce it; a missing allowed_signers file is the error,
# named as such, not source.url.
. "$(dirname "$0")/../lib/lib.sh"

export HOME=$TRASH/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com
mkdir -p "$HOME/.ssh" etc/congruent srv/congruent
test_make_root root

test_expect_success 'a signed policy repository, as the quickstart makes it' '
	ssh-keygen -q -t ed25519 -N "" -C policy-signing -f "$HOME/.ssh/congruent_policy" &&
	git init -q -b main policy &&
	mkdir policy/roles &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >policy/site.yaml &&
	printf "resources:\n  - file: /etc/motd\n    content: \"managed by congruent\\\\n\"\n" >policy/roles/base.yaml &&
	git -C policy config gpg.format ssh &&
	git -C policy config user.signingkey "$HOME/.ssh/congruent_policy.pub" &&
	git -C policy add . &&
	git -C policy commit -q -S -m "first policy" &&
	git init -q --bare srv/congruent/policy.git &&
	git -C policy push -q "$TRASH/srv/congruent/policy.git" main
'

# The example, its absolute paths under $TRASH.
sed -e "s|/srv/congruent/|$TRASH/srv/congruent/|" \
	-e "s|/etc/congruent/|$TRASH/etc/congruent/|" \
	-e "s|/var/lib/congruent|$TRASH/state|" \
	"$TOP/contrib/agent.yaml.example" >etc/congruent/agent.yaml

test_expect_success 'without allowed_signers: the error names that file, with a hint' '
	test_grep "url: $TRASH/srv/congruent/policy.git" etc/congruent/agent.yaml &&
	test_expect_code 1 cg plan -c etc/congruent/agent.yaml --root root 2>err &&
	test_grep "congruent: $TRASH/etc/congruent/allowed_signers: " err &&
	test_grep "cannot open allowed signers file" err &&
	test_grep "hint: create it with a line per key" err &&
	test_grep_not "check source.url" err
'

test_expect_success 'with the key trusted, the example as shipped enforces the policy' '
	echo "ops@example.com namespaces=\"git\" $(cat "$HOME/.ssh/congruent_policy.pub")" \
		>etc/congruent/allowed_signers &&
	test_expect_code 2 cg plan -c etc/congruent/agent.yaml --root root >out &&
	test_grep "+ file:/etc/motd" out &&
	test_expect_code 2 cg run -c etc/congruent/agent.yaml --root root >out &&
	test "$(cat root/etc/motd)" = "managed by congruent" &&
	test_expect_code 0 cg run -c etc/congruent/agent.yaml --root root
'

test_expect_success 'an unsigned commit is refused; the signed one stays enforced' '
	echo x >policy/x &&
	git -C policy add x &&
	git -C policy -c commit.gpgSign=false commit -q -m unsigned &&
	git -C policy push -q "$TRASH/srv/congruent/policy.git" main &&
	test_expect_code 4 cg run -c etc/congruent/agent.yaml --root root 2>err &&
	test_grep "refused" err
'

test_done
