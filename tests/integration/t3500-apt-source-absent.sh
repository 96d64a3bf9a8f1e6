#!/bin/bash
# t3500-apt-source-absent: an apt_source with state: absent removes its
# .sources file and its keyring (kept in the backups), then apt-get update
# runs once, so apt forgets the repository in the same run; plan predicts
# it and changes nothing.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"
. "$TOP/tests/lib/aptrepo.sh"

h=pkg-aptabs
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end),
		(.error.message // "")] | @tsv'
}

test_expect_success 'a signed flat repository, added with apt_source' '
	gpg --batch -q --passphrase "" --quick-gen-key "cg <cg@example.invalid>" \
		ed25519 sign never 2>/dev/null &&
	gpg --batch --export --armor cg@example.invalid >extra.asc &&
	echo hello >hello &&
	mkdir extra &&
	cp "$(TESTBED_DEBS=$TRASH/extra-debs testbed_make_deb cgextra 1.0 "" \
		/usr/share/cgextra/hello="$TRASH/hello")" extra/ &&
	(cd extra && dpkg-scanpackages . /dev/null 2>/dev/null >Packages &&
		{
			echo "Origin: congruent-test"
			echo "Date: $(date -R -u)"
			echo "SHA256:"
			echo " $(sha256sum <Packages | cut -d" " -f1) $(stat -c %s Packages) Packages"
		} >Release &&
		gpg --batch -q --yes -u cg@example.invalid --clearsign -o InRelease Release) &&
	testbed_copy_in $h "$TRASH/extra" /srv/extra &&
	testbed_sh $h "mkdir -p /srv/policy/files" &&
	testbed_copy_in $h "$TRASH/extra.asc" /srv/policy/files/extra.asc &&
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	testbed_exec $h apt-cache policy cgextra >pol &&
	test_grep "file:/srv/extra" pol
'

test_expect_success 'check: an absent apt_source takes no other keys' '
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  state: absent
	  uris: [file:/srv/extra]
	EOF
	test_expect_code 1 pkg_cg $h check /srv/policy >out 2>&1 &&
	test_grep "roles/p.yaml:4: " out &&
	test_grep "an absent apt_source takes no '"'"'uris'"'"'" out
'

test_expect_success 'plan lists the sources file and the key; nothing changes' '
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  state: absent
	EOF
	testbed_sh $h "ls -lR /etc/apt /var/lib/apt/lists" >before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "- apt_source:extra" out &&
	test_grep "key sha256:" out && test_grep "sources sha256:" out &&
	test_grep "then apt-get update, once" out &&
	testbed_sh $h "ls -lR /etc/apt /var/lib/apt/lists" >after &&
	test_cmp before after &&
	pkg_cg $h plan --format json --policy /srv/policy | outcomes >plan.out
'

test_expect_success 'run removes both, kept in the backups, and updates once' '
	testbed_sh $h "echo \"APT::Update::Pre-Invoke { \\\"echo update >>/var/tmp/updates\\\"; };\" \
			>/etc/apt/apt.conf.d/99count && rm -f /var/tmp/updates" &&
	{ pkg_cg $h run --format json --policy /srv/policy; echo $? >rc; } |
		outcomes >run.out &&
	echo 2 >want && test_cmp want rc && test_cmp plan.out run.out &&
	testbed_exec $h test ! -e /etc/apt/sources.list.d/extra.sources &&
	testbed_exec $h test ! -e /etc/apt/keyrings/extra.asc &&
	testbed_exec $h cat /var/tmp/updates >updates &&
	echo update >want && test_cmp want updates &&
	testbed_exec $h apt-cache policy cgextra >pol &&
	test_grep_not "file:/srv/extra" pol &&
	pkg_cg $h restore --list >list &&
	test_grep "/etc/apt/sources.list.d/extra.sources" list &&
	test_grep "/etc/apt/keyrings/extra.asc" list &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test_cmp want updates &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy >out &&
	testbed_exec $h rm /etc/apt/apt.conf.d/99count
'

test_done
