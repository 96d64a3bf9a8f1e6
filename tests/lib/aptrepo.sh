# aptrepo.sh: a signed flat apt repository, built here and copied into
# the testbed host $h, for the apt_source tests; after lib.sh and
# package.sh. Skips the test without gpg or dpkg-scanpackages.

if ! command -v gpg >/dev/null || ! command -v dpkg-scanpackages >/dev/null; then
	echo "1..0 # SKIP needs gpg and dpkg-scanpackages (dpkg-dev) to build a signed repository"
	exit 0
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

# mkrepo KEY: a flat repository (suite "./") with cgextra 1.0, signed by
# KEY, built here and copied into the host $h at /srv/extra.
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
