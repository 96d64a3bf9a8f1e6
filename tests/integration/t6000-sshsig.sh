#!/bin/sh
# t6000-sshsig.sh: SSH-signed git commits verified by cg_sshsig, cross-checked
# with ssh-keygen -Y verify and git verify-commit.
#
# Real keys (ssh-keygen) and real signed commits (git commit -S with
# gpg.format=ssh) in a throwaway repository; the verdicts come from
# build/tests/helpers/sshsig-verify, which reads the repository with libgit2.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
helper=$top/build/tests/helpers/sshsig-verify
for tool in git ssh-keygen openssl awk base64; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool not installed"
		exit 0
	fi
done
if [ ! -x "$helper" ]; then
	echo "1..0 # SKIP $helper not built (make tests)"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t6000.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
# No user or system git configuration may change what is signed.
HOME=$T
GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=/dev/null
GIT_AUTHOR_NAME=Alice
GIT_AUTHOR_EMAIL=alice@example.com
GIT_COMMITTER_NAME=Alice
GIT_COMMITTER_EMAIL=alice@example.com
GIT_AUTHOR_DATE='1700000000 +0000'
GIT_COMMITTER_DATE='1700000000 +0000'
export HOME GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_AUTHOR_NAME \
	GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL \
	GIT_AUTHOR_DATE GIT_COMMITTER_DATE

n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# sshsig-verify REV [ALLOWED]: its one-line verdict in $T/out.
verdict() {
	"$helper" "${2:-$T/allowed}" "$T/repo" "$1" >"$T/out" 2>&1
	echo "rc=$?" >>"$T/out"
	cat "$T/out" >>"$T/all.out"
}

# expect REV PATTERN DESCRIPTION [ALLOWED]: the verdict matches PATTERN.
expect() {
	verdict "$1" "${4:-}"
	if grep -q -- "$2" "$T/out"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		sed 's/^/#   /' "$T/out"
	fi
}

# Split commit REV as git does: payload without the gpgsig header, and the
# signature unfolded. Writes $T/c.payload and $T/c.sig.
split_commit() {
	git -C "$T/repo" cat-file commit "$1" >"$T/c.raw"
	rm -f "$T/c.sig"
	: >"$T/c.sig"
	awk -v sig="$T/c.sig" -v pay="$T/c.payload" '
		!body && /^gpgsig / { insig = 1; print substr($0, 8) > sig; next }
		!body && insig && /^ / { print substr($0, 2) > sig; next }
		{ insig = 0 }
		$0 == "" { body = 1 }
		{ print > pay }' "$T/c.raw"
}

# The verdicts of ssh-keygen -Y verify (as git drives it: find-principals,
# then verify) and of git verify-commit: "good" or "refused" each.
others() {
	split_commit "$1"
	kg=refused
	if [ -s "$T/c.sig" ]; then
		p=$(ssh-keygen -Y find-principals -f "${2:-$T/allowed}" \
			-s "$T/c.sig" 2>/dev/null | head -n 1)
		if [ -n "$p" ] &&
			ssh-keygen -Y verify -f "${2:-$T/allowed}" -I "$p" \
				-n git -s "$T/c.sig" <"$T/c.payload" \
				>/dev/null 2>&1; then
			kg=good
		fi
	fi
	gv=refused
	if git -C "$T/repo" -c gpg.ssh.allowedSignersFile="${2:-$T/allowed}" \
		verify-commit "$1" >/dev/null 2>&1; then
		gv=good
	fi
	echo "ssh-keygen:$kg git:$gv"
}

# agree REV WANT DESCRIPTION [ALLOWED]: both others say WANT.
agree() {
	got=$(others "$1" "${4:-}")
	if [ "$got" = "ssh-keygen:$2 git:$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got $got, want $2 from both"
	fi
}

# SSH wire format for hand-made signatures: uint32 and string.
u32() {
	printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"
}
sstr() {
	u32 ${#1}
	printf %s "$1"
}
sstr_file() {
	u32 "$(wc -c <"$1")"
	cat "$1"
}

# splice PAYLOAD SIGFILE: a commit object with SIGFILE as its gpgsig header.
splice() {
	awk -v sigfile="$2" '
		!done && $0 == "" {
			first = 1
			while ((getline l < sigfile) > 0) {
				print (first ? "gpgsig " : " ") l
				first = 0
			}
			done = 1
		}
		{ print }' "$1"
}

commit() { # KEY MESSAGE: a commit signed with KEY (none: unsigned)
	echo "$2" >>"$T/repo/file"
	git -C "$T/repo" add file
	if [ "$1" = none ]; then
		git -C "$T/repo" commit -q -m "$2"
	else
		git -C "$T/repo" -c gpg.format=ssh \
			-c user.signingkey="$T/$1" commit -q -S -m "$2"
	fi
	git -C "$T/repo" rev-parse HEAD
}

# Set-up: keys, allowed signers, commits.
setup() {
	ssh-keygen -q -t ed25519 -N '' -C alice -f "$T/ed" &&
	ssh-keygen -q -t rsa -b 3072 -N '' -C bob -f "$T/rsa" &&
	ssh-keygen -q -t ecdsa -b 256 -N '' -C carol -f "$T/ec" &&
	ssh-keygen -q -t ed25519 -N '' -C mallory -f "$T/mallory" &&
	{
		echo "# who may sign policy commits"
		echo "alice@example.com namespaces=\"git\" $(cut -d' ' -f1,2 "$T/ed.pub")"
		echo "bob@example.com $(cut -d' ' -f1,2 "$T/rsa.pub")"
		echo "carol@example.com $(cut -d' ' -f1,2 "$T/ec.pub")"
	} >"$T/allowed" &&
	echo "alice@example.com valid-before=\"20200101Z\" $(cut -d' ' -f1,2 "$T/ed.pub")" \
		>"$T/allowed-expired" &&
	git init -q "$T/repo" &&
	c_ed=$(commit ed "ed25519 commit") &&
	c_rsa=$(commit rsa "rsa commit") &&
	c_ec=$(commit ec "ecdsa commit") &&
	c_none=$(commit none "unsigned commit") &&
	c_mallory=$(commit mallory "mallory's commit") &&
	# Same gpgsig, changed message: a new object the signature does not fit.
	git -C "$T/repo" cat-file commit "$c_ed" |
		sed 's/^ed25519 commit$/ed25519 commit, rm -rf everything/' \
		>"$T/tampered" &&
	c_tampered=$(git -C "$T/repo" hash-object -t commit -w "$T/tampered") &&
	# A genuine signature by alice over the commit, but for namespace file.
	git -C "$T/repo" cat-file commit "$c_none" >"$T/payload" &&
	ssh-keygen -q -Y sign -n file -f "$T/ed" "$T/payload" &&
	splice "$T/payload" "$T/payload.sig" >"$T/wrongns" &&
	c_wrongns=$(git -C "$T/repo" hash-object -t commit -w "$T/wrongns") &&
	# An RSA signature with SHA-1 ("ssh-rsa"), which ssh-keygen no longer
	# makes, built by hand; and the same construction with rsa-sha2-512 as
	# a control, which must verify.
	cp "$T/rsa" "$T/rsa.pem" &&
	ssh-keygen -q -p -m PEM -N '' -P '' -f "$T/rsa.pem" >/dev/null &&
	handmade_rsa sha1 ssh-rsa >"$T/sha1" &&
	c_sha1=$(git -C "$T/repo" hash-object -t commit -w "$T/sha1") &&
	handmade_rsa sha512 rsa-sha2-512 >"$T/sha2" &&
	c_sha2=$(git -C "$T/repo" hash-object -t commit -w "$T/sha2")
}

# handmade_rsa DIGEST SIGALG: $T/payload as a commit signed by bob's RSA key
# with a signature built from PROTOCOL.sshsig with openssl.
handmade_rsa() {
	cut -d' ' -f2 "$T/rsa.pub" | base64 -d >"$T/rsa.blob" &&
	openssl dgst -sha512 -binary "$T/payload" >"$T/h" &&
	{ printf SSHSIG; sstr git; sstr ""; sstr sha512; sstr_file "$T/h"; } \
		>"$T/tbs" &&
	openssl dgst -"$1" -sign "$T/rsa.pem" -out "$T/s.$1" "$T/tbs" &&
	{ sstr "$2"; sstr_file "$T/s.$1"; } >"$T/sig1" &&
	{
		printf SSHSIG; u32 1; sstr_file "$T/rsa.blob"; sstr git
		sstr ""; sstr sha512; sstr_file "$T/sig1"
	} >"$T/blob1" &&
	{
		echo "-----BEGIN SSH SIGNATURE-----"
		base64 -w 70 "$T/blob1"
		echo "-----END SSH SIGNATURE-----"
	} >"$T/$1.sig" &&
	splice "$T/payload" "$T/$1.sig"
}

setup >"$T/setup.log" 2>&1
rc=$?
ok $rc "set-up: keys, allowed signers, signed, unsigned and forged commits"
if [ $rc -ne 0 ]; then
	sed 's/^/#   /' "$T/setup.log"
	echo "1..$n"
	exit 1
fi

fp_ed=$(ssh-keygen -l -E sha256 -f "$T/ed.pub" | cut -d' ' -f2)
expect "$c_ed" "^good principals=alice@example.com key=ssh-ed25519 fingerprint=$fp_ed sig=ssh-ed25519 hash=sha512 line=$T/allowed:2" \
	"ed25519 commit: good, alice, fingerprint as ssh-keygen -l"
agree "$c_ed" good "  ssh-keygen and git verify-commit agree"

expect "$c_rsa" "^good principals=bob@example.com key=ssh-rsa .* sig=rsa-sha2-512 " \
	"RSA commit: good, bob, rsa-sha2-512"
agree "$c_rsa" good "  ssh-keygen and git verify-commit agree"

expect "$c_ec" "^good principals=carol@example.com key=ecdsa-sha2-nistp256 " \
	"ECDSA P-256 commit: good, carol"
agree "$c_ec" good "  ssh-keygen and git verify-commit agree"

expect "$c_none" "^refused unsigned: " \
	"unsigned commit: refused as unsigned"
agree "$c_none" refused "  ssh-keygen and git verify-commit agree"

fp_m=$(ssh-keygen -l -E sha256 -f "$T/mallory.pub" | cut -d' ' -f2)
expect "$c_mallory" "^refused unknown-key: signed by an unknown key $fp_m" \
	"commit by a key not in allowed signers: refused as unknown key"
agree "$c_mallory" refused "  ssh-keygen and git verify-commit agree"

expect "$c_tampered" "^refused bad-signature: bad signature by" \
	"changed message under the same gpgsig: refused as bad signature"
agree "$c_tampered" refused "  ssh-keygen and git verify-commit agree"

expect "$c_wrongns" '^refused wrong-namespace: signature was made for namespace "file", not "git"' \
	"signature from ssh-keygen -Y sign -n file: refused as wrong namespace"
agree "$c_wrongns" refused "  ssh-keygen and git verify-commit agree"
sed 's/namespaces="git"/namespaces="file"/' "$T/allowed" >"$T/allowed-file"
"$helper" --file "$T/allowed-file" "$T/payload.sig" "$T/payload" file \
	>"$T/out" 2>&1
grep -q '^good principals=alice@example.com' "$T/out"
ok $? "  the same signature is good for namespace file: only the namespace is wrong"

expect "$c_sha1" '^refused sha1-refused: RSA signature with SHA-1' \
	"RSA signature with SHA-1 (ssh-rsa): refused"
agree "$c_sha1" refused "  ssh-keygen and git verify-commit agree"
# The hand-made signature must be sound apart from SHA-1, or the refusal
# above proves nothing: openssl checks it, and the same construction with
# rsa-sha2-512 verifies everywhere.
openssl rsa -in "$T/rsa.pem" -pubout -out "$T/rsa.pub.pem" 2>/dev/null &&
	openssl dgst -sha1 -verify "$T/rsa.pub.pem" -signature "$T/s.sha1" \
		"$T/tbs" >/dev/null 2>&1
ok $? "  the SHA-1 signature itself is valid (openssl dgst -verify)"
expect "$c_sha2" "^good principals=bob@example.com key=ssh-rsa .* sig=rsa-sha2-512 " \
	"  control: the same hand-made construction with rsa-sha2-512 is good"
agree "$c_sha2" good "  ssh-keygen and git verify-commit agree"

expect "$c_ed" '^refused expired: key .* expired at 2020-01-01T00:00:00Z' \
	"key with valid-before in the past: refused as expired" \
	"$T/allowed-expired"
split_commit "$c_ed"
p=$(ssh-keygen -Y find-principals -f "$T/allowed-expired" -s "$T/c.sig" \
	2>/dev/null)
ssh-keygen -Y verify -f "$T/allowed-expired" -I alice@example.com -n git \
	-s "$T/c.sig" <"$T/c.payload" >/dev/null 2>&1
kg=$?
[ -z "$p" ] && [ $kg -ne 0 ]
ok $? "  ssh-keygen agrees (find-principals finds none, verify refuses)"

# libgit2's split and ours never disagreed (the helper exits 3 if they do).
! grep -q -e '^mismatch' -e '^rc=3' "$T/all.out"
ok $? "libgit2's git_commit_extract_signature and cg_sshsig_commit_split agree"

echo "1..$n"
[ $failed -eq 0 ]
