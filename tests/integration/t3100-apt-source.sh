#!/bin/bash
# t3100-apt-source: a signed local repository added with apt_source and a
# package from it installed in the same run (one apt-get update before the
# package transaction), on a testbed host; plan predicts it and changes
# nothing; a key that does not sign the repository fails until fixed.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"
. "$TOP/tests/lib/aptrepo.sh"

h=pkg-aptsrc
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

echo "hello from the extra repository" >hello

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end),
		(.error.message // "")] | @tsv'
}

test_expect_success 'keys and a signed repository' '
	good=$(newkey cg-good) && test -n "$good" &&
	bad=$(newkey cg-bad) && test -n "$bad" &&
	echo "$good" >good.fpr && echo "$bad" >bad.fpr &&
	gpg --batch --export --armor "$good" >good.asc &&
	gpg --batch --export "$good" >good.gpg &&
	gpg --batch --export --armor "$bad" >bad.asc &&
	mkrepo "$good" &&
	testbed_sh $h "mkdir -p /srv/policy/files" &&
	testbed_copy_in $h "$TRASH/good.asc" /srv/policy/files/extra.asc &&
	testbed_copy_in $h "$TRASH/good.gpg" /srv/policy/files/extra.gpg &&
	testbed_copy_in $h "$TRASH/bad.asc" /srv/policy/files/bad.asc
'

test_expect_success 'check: bad apt_source resources name file:line' '
	pkg_policy $h <<-\EOF &&
	- apt_source: "bad name"
	  uris: [file:/srv/extra]
	  suites: ["./"]
	- apt_source: nocomp
	  uris: [http://deb.example/debian]
	  suites: [bookworm]
	- apt_source: notakey
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: site.yaml
	- apt_source: types
	  types: [rpm]
	  uris: [file:/srv/extra]
	  suites: ["./"]
	EOF
	test_expect_code 1 pkg_cg $h check /srv/policy >out 2>&1 &&
	test_grep "roles/p.yaml:2: " out && test_grep "bad name" out &&
	test_grep "is not an apt source name" out &&
	test_grep "an apt_source with suite names needs components" out &&
	test_grep "key site.yaml is neither an armored nor a binary OpenPGP public keyring" out &&
	test_grep "types: \"rpm\" is not deb or deb-src" out
'

test_expect_success 'plan: the source, the key, and the package it will bring; nothing changes' '
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	- package: cgextra
	EOF
	testbed_sh $h "ls -lR /etc/apt /var/lib/apt/lists; cat /var/lib/dpkg/status" >before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "+ apt_source:extra" out &&
	test_grep "+Signed-By: /etc/apt/keyrings/extra.asc" out &&
	test_grep "+URIs: file:/srv/extra" out &&
	test_grep "+ package:cgextra" out &&
	test_grep "not known to apt yet: apt_source:extra, earlier, changes the sources" out &&
	testbed_sh $h "ls -lR /etc/apt /var/lib/apt/lists; cat /var/lib/dpkg/status" >after &&
	test_cmp before after &&
	pkg_cg $h plan --format json --policy /srv/policy | outcomes >plan.out
'

test_expect_success 'run: source and key written, apt-get update, the package installed, all in one run' '
	{ pkg_cg $h run --format json --policy /srv/policy; echo $? >rc; } |
		outcomes >run.out &&
	echo 2 >want && test_cmp want rc &&
	test_cmp plan.out run.out &&
	test "$(pkg_version $h cgextra)" = 1.0 &&
	testbed_exec $h cat /usr/share/cgextra/hello >got &&
	test_cmp hello got &&
	testbed_exec $h cat /etc/apt/sources.list.d/extra.sources >sources &&
	test_grep "Signed-By: /etc/apt/keyrings/extra.asc" sources &&
	test_grep "Suites: ./" sources &&
	testbed_exec $h stat -c "%a %u %g" /etc/apt/keyrings/extra.asc >mode &&
	echo "644 0 0" >want && test_cmp want mode &&
	testbed_exec $h cat /etc/apt/keyrings/extra.asc >key &&
	test_cmp good.asc key &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test_expect_code 0 pkg_cg $h plan --policy /srv/policy >out
'

test_expect_success 'a binary keyring becomes NAME.gpg; the old file is backed up' '
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.gpg
	- package: cgextra
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test_grep "~ apt_source:extra" out &&
	testbed_exec $h cat /etc/apt/sources.list.d/extra.sources >sources &&
	test_grep "Signed-By: /etc/apt/keyrings/extra.gpg" sources &&
	testbed_exec $h cat /etc/apt/keyrings/extra.gpg >key &&
	test_cmp good.gpg key &&
	pkg_cg $h restore --list /etc/apt/sources.list.d/extra.sources >list &&
	test_grep " 124 bytes" list
'

test_expect_success 'a key that does not sign the repository fails, and keeps failing until fixed' '
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/bad.asc
	EOF
	test_expect_code 4 pkg_cg $h run --policy /srv/policy >out &&
	test_grep "! apt_source:extra" out &&
	test_grep "apt-get update failed:" out &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "~ apt_source:extra" out &&
	test_grep "apt-get update is pending: the last one failed" out &&
	test_expect_code 4 pkg_cg $h run --policy /srv/policy >out &&
	test_grep "apt-get update failed:" out &&
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out
'

test_expect_success 'two sources changed: one apt-get update for both' '
	testbed_sh $h "rm -rf /srv/extra2 && cp -a /srv/extra /srv/extra2 &&
		echo \"APT::Update::Pre-Invoke { \\\"echo update >>/var/tmp/updates\\\"; };\" \
			>/etc/apt/apt.conf.d/99count && rm -f /var/tmp/updates" &&
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  components: []
	  key: files/extra.asc
	  architectures: [amd64, all]
	- apt_source: extra2
	  uris: [file:/srv/extra2]
	  suites: ["./"]
	  key: files/extra.asc
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	test_grep "apt_source:extra " out && test_grep "apt_source:extra2 " out &&
	testbed_exec $h cat /var/tmp/updates >updates &&
	echo update >want && test_cmp want updates &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy >out &&
	test_cmp want updates &&
	testbed_exec $h rm /etc/apt/apt.conf.d/99count
'

R=/srv/img/root
test_expect_success '--root: the image gets the source and the package, the host neither' '
	testbed_sh $h "mkdir -p /srv/img && mount -t tmpfs tmpfs /srv/img &&
		mkdir /srv/img/upper /srv/img/work $R &&
		mount -t overlay overlay \
			-o lowerdir=/,upperdir=/srv/img/upper,workdir=/srv/img/work $R &&
		rm -f $R/etc/apt/sources.list.d/extra*.sources $R/etc/apt/keyrings/extra* &&
		dpkg --root=$R --force-all -P cgextra >/dev/null 2>&1; true" &&
	pkg_policy $h <<-\EOF &&
	- apt_source: image
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	- package: cgextra
	EOF
	testbed_sh $h "ls /etc/apt/sources.list.d" >host.before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy --root $R >out &&
	test_grep "+ apt_source:image" out &&
	test_grep "not known to apt yet: apt_source:image" out &&
	test_expect_code 2 pkg_cg $h run --policy /srv/policy --root $R >out &&
	testbed_exec $h test -f $R/etc/apt/sources.list.d/image.sources &&
	testbed_exec $h test -f $R/etc/apt/keyrings/image.asc &&
	testbed_exec $h test -f $R/usr/share/cgextra/hello &&
	testbed_sh $h "ls /etc/apt/sources.list.d" >host.after &&
	test_cmp host.before host.after &&
	testbed_exec $h test ! -e /etc/apt/sources.list.d/image.sources &&
	test_expect_code 0 pkg_cg $h run --policy /srv/policy --root $R >out
'

test_done
