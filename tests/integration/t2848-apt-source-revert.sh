#!/bin/bash
# t2848-apt-source-revert: orphans: revert of an apt_source on a testbed
# host: the .sources file and key congruent wrote are removed (kept in
# the backups), then one apt-get update drops the repository from the
# lists; /etc/apt is as before, byte for byte; plan predicts run.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"

if ! command -v gpg >/dev/null || ! command -v dpkg-scanpackages >/dev/null; then
	echo "1..0 # SKIP needs gpg and dpkg-scanpackages (dpkg-dev) to build a signed repository"
	exit 0
fi

h=pkg-aptrev
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

export GNUPGHOME=$TRASH/gnupg
mkdir -m 700 "$GNUPGHOME"

# newkey NAME: a signing key without passphrase; prints its fingerprint.
newkey() {
	gpg --batch -q --passphrase '' --quick-gen-key "$1 <$1@example.invalid>" \
		ed25519 sign never 2>/dev/null &&
	gpg --batch --with-colons --list-keys "$1@example.invalid" |
		awk -F: '$1 == "fpr" { print $10; exit }'
}

# A flat repository (suite "./") with cgextra 1.0, signed by key $1,
# built here and copied into the host at /srv/extra.
mkrepo() {
	rm -rf extra && mkdir extra &&
	cp "$(TESTBED_DEBS=$TRASH/extra-debs testbed_make_deb cgextra 1.0 "" \
		/usr/share/cgextra/hello="$TRASH/hello")" extra/ &&
	(cd extra && dpkg-scanpackages . /dev/null 2>/dev/null >Packages &&
		gzip -9nk Packages &&
		{
			echo "Origin: congruent-test"
			echo "Label: congruent-test"
			echo "Date: $(date -R -u)"
			echo "SHA256:"
			for f in Packages Packages.gz; do
				echo " $(sha256sum <$f | cut -d" " -f1) $(stat -c %s $f) $f"
			done
		} >Release &&
		gpg --batch -q --yes -u "$1" --clearsign -o InRelease Release) &&
	testbed_sh $h "rm -rf /srv/extra" &&
	testbed_copy_in $h "$TRASH/extra" /srv/extra
}

echo "hello from the extra repository" >hello

site() {
	printf '%bclasses:\n  - match: "*"\n    roles: [p]\n' "$1" |
		testbed_sh $h 'cat >/srv/policy/site.yaml'
}

etc_apt() {
	testbed_sh $h 'cd /etc/apt && find . -printf "%y %m %U:%G %s %p -> %l\n" | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum'
}

lists() {
	testbed_sh $h 'ls /var/lib/apt/lists | grep -c "srv_extra" || true'
}

test_expect_success 'a signed repository, added with apt_source' '
	good=$(newkey cg-good) && test -n "$good" &&
	gpg --batch --export --armor "$good" >good.asc &&
	mkrepo "$good" &&
	testbed_sh $h "mkdir -p /srv/policy/files" &&
	testbed_copy_in $h "$TRASH/good.asc" /srv/policy/files/extra.asc &&
	etc_apt >apt.before &&
	pkg_policy $h <<-\EOF &&
	- apt_source: extra
	  uris: [file:/srv/extra]
	  suites: ["./"]
	  key: files/extra.asc
	EOF
	test_expect_code 2 pkg_cg $h run --policy /srv/policy >out &&
	testbed_exec $h test -f /etc/apt/sources.list.d/extra.sources &&
	test "$(lists)" -gt 0 &&
	testbed_exec $h grep -x "apt_source:extra	ledger.before	sources: absent; key /etc/apt/keyrings/extra.asc: absent" /var/lib/congruent/records
'

test_expect_success 'orphans: revert: plan says it and changes nothing; run removes both and updates' '
	testbed_sh $h "printf \"resources: []\n\" >/srv/policy/roles/p.yaml" &&
	site "orphans: revert\n" &&
	etc_apt >apt.managed &&
	test_expect_code 2 pkg_cg $h plan --format json --policy /srv/policy >plan.json &&
	etc_apt >apt.now && test_cmp apt.managed apt.now &&
	test_expect_code 2 pkg_cg $h run --format json --policy /srv/policy >run.json &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" plan.json >plan.out &&
	jq -r ".orphans[] | [.id, .revert] | @tsv" run.json >run.out &&
	test_cmp plan.out run.out &&
	grep "^apt_source:extra	/etc/apt/sources.list.d/extra.sources: remove (created by congruent at local; its content goes to the backups); /etc/apt/keyrings/extra.asc: remove" run.out &&
	grep "; then apt-get update\$" run.out &&
	test "$(jq -r ".orphans[0].status" run.json)" = repaired &&
	etc_apt >apt.now && test_cmp apt.before apt.now &&
	test "$(lists)" = 0 &&
	! testbed_exec $h grep "^apt_source:" /var/lib/congruent/records
'

test_done
