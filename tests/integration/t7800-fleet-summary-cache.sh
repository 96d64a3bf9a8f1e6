#!/bin/bash
# t7800-fleet-summary-cache: fleet keeps what it read of each host in a
# summary cache keyed by the host's tip. Its output, stderr and exit
# status are the same with a warm cache as with none (text, JSON, HTML,
# prometheus), after new reports, fleet forget, fleet compact and another
# --history; a host whose tip did not move is not read from git at all;
# a damaged or hostile cache file is ignored and rebuilt.
. "$(dirname "$0")/../lib/lib.sh"

NOW=$(date +%s)
git init -q --bare central.git
perl "$TOP/tests/bench/gen-reports.pl" 30 3 "$NOW" 6 40 |
	git --git-dir=central.git fast-import --quiet
n=0

# fleet ARGS with no cache (a new empty one) and with the warm one:
# the same stdout (but the time it was made), stderr and status.
same() {
	for fmt in text json html prometheus; do
		n=$((n + 1))
		rc1=0 && "$CONGRUENT" fleet --reports central.git --cache "cold$n" \
			--format $fmt "$@" >cold.out 2>cold.err || rc1=$?
		rc2=0 && "$CONGRUENT" fleet --reports central.git --cache warm \
			--format $fmt "$@" >warm.out 2>warm.err || rc2=$?
		sed -i '/generated/d' cold.out warm.out
		! grep -e Sanitizer -e "runtime error" cold.err warm.err || return 1
		test "$rc1" = "$rc2" || { echo "status $rc1, warm $rc2" >&2; return 1; }
		test_cmp cold.out warm.out || return 1
		test_cmp cold.err warm.err || return 1
		rm -rf "cold$n"
	done
}

summary() { ls warm/*.summary; }

test_expect_success 'a cold cache is filled: the same output' '
	same &&
	test "$(summary | wc -l)" = 1 &&
	test -s "$(summary)"
'

test_expect_success 'a warm cache: the same output, the file left as it was' '
	sum1=$(sha256sum <"$(summary)") &&
	same &&
	test "$(sha256sum <"$(summary)")" = "$sum1"
'

test_expect_success 'a host whose tip did not move is not read from git' '
	mv central.git/objects central.git/objects.away &&
	mkdir -p central.git/objects/pack central.git/objects/info &&
	rc=0 && "$CONGRUENT" fleet --reports central.git --cache warm >nogit.out 2>nogit.err || rc=$? &&
	rm -rf central.git/objects && mv central.git/objects.away central.git/objects &&
	rc0=0 && "$CONGRUENT" fleet --reports central.git --cache cold-x >git.out 2>git.err || rc0=$? &&
	test "$rc" = "$rc0" &&
	test_cmp git.out nogit.out &&
	test_cmp git.err nogit.err
'

test_expect_success 'new reports: the hosts whose tip moved are read again' '
	for h in host-00003 host-00017; do
		ref=refs/heads/hosts/$h &&
		tip=$(git --git-dir=central.git rev-parse $ref) &&
		git --git-dir=central.git log -1 --format=%B $tip >msg &&
		new=$(GIT_COMMITTER_DATE=@$NOW GIT_AUTHOR_DATE=@$NOW \
			git --git-dir=central.git commit-tree "$tip^{tree}" -p $tip -F msg) &&
		git --git-dir=central.git update-ref $ref $new || return 1
	done &&
	sum1=$(sha256sum <"$(summary)") &&
	same &&
	test "$(sha256sum <"$(summary)")" != "$sum1"
'

test_expect_success 'another --history: the same output as without a cache' '
	same --history 3 &&
	same --history 40 &&
	same
'

test_expect_success '--host-keys: the results kept by the file'"'"'s content' '
	ssh-keygen -q -t ed25519 -N "" -f k1 && ssh-keygen -q -t ed25519 -N "" -f k2 &&
	echo "host-00001 namespaces=\"git\" $(cut -d" " -f1-2 k1.pub)" >keys &&
	same --host-keys keys &&
	same --host-keys keys &&
	echo "host-00002 namespaces=\"git\" $(cut -d" " -f1-2 k2.pub)" >>keys &&
	same --host-keys keys &&
	echo "host-00003 namespaces=\"git\",valid-before=\"29990101\" $(cut -d" " -f1-2 k2.pub)" >>keys &&
	same --host-keys keys &&
	test "$(ls warm/*.summary | wc -l)" = 1
'

test_expect_success 'fleet forget: the host is gone from the warm output too' '
	cg fleet forget host-00005 --reports central.git &&
	same &&
	! grep -q host-00005 warm.out
'

test_expect_success 'fleet compact rewrote every ref: the same output' '
	cg fleet compact --reports central.git --heartbeat-ttl 1 >compact.out &&
	test_grep "refs rewritten" compact.out &&
	same
'

# A cache file changed and its checksum made right again: every value
# read from it is checked, so the output is still the truth.
resum() { # FILE: recompute the trailing SHA-256
	perl -MDigest::SHA=sha256 -e '
		local $/; open(my $f, "<", $ARGV[0]) or die; my $d = <$f>; close $f;
		$d = substr($d, 0, length($d) - 32); $d .= sha256($d);
		open($f, ">", $ARGV[0]) or die; print $f $d; close $f' "$1"
}

test_expect_success 'a corrupt, truncated or foreign cache file is ignored' '
	f=$(summary) &&
	cp "$f" good &&
	printf "\377" | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null &&
	same &&
	head -c 1000 good >"$f" &&
	same &&
	sed "1s/summary 2/summary 9/" good >"$f" && resum "$f" &&
	same &&
	: >"$f" &&
	same &&
	cmp -s "$f" good
'

# The checksum finds damage, not forgery: a file changed with its
# checksum made right is believed only from the reader itself (0600, its
# own). Whatever it holds, fleet does not crash, lists the hosts the
# refs name, and exits as the states it shows say.
test_expect_success 'a cache file others could write is ignored' '
	f=$(summary) &&
	cp "$f" good &&
	"$CONGRUENT" fleet --reports central.git --cache warm --format json >j.json || : &&
	fp=$(jq -r ".hosts[0].fingerprint" j.json) &&
	other=$(jq -r ".hosts[1].fingerprint" j.json) &&
	test "$fp" != "$other" &&
	perl -pi -e "s/$fp/$other/g" "$f" && resum "$f" &&
	! "$CONGRUENT" fleet --reports central.git --cache warm --format json | grep -q "$fp" &&
	perl -pi -e "s/$fp/$other/g" "$f" && resum "$f" &&
	chmod 0666 "$f" &&
	same &&
	"$CONGRUENT" fleet --reports central.git --cache warm --format json | grep -q "$fp"
'

test_expect_success 'a hostile cache file (checksum right): no crash, the same hosts' '
	"$CONGRUENT" fleet --reports central.git --cache cold-h --format json >want.json || : &&
	jq -c "[.hosts[].host]" want.json >want.hosts &&
	f=$(summary) &&
	size=$(stat -c %s good) &&
	for i in $(seq 1 60); do
		off=$(( (i * 7919 * 131) % (size - 32) )) &&
		cp good "$f" && chmod 0600 "$f" &&
		printf "\\$(printf %o $(( (i * 37) % 256 )))" |
			dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null &&
		resum "$f" &&
		rc=0 && "$CONGRUENT" fleet --reports central.git --cache warm --format json >got.json 2>got.err || rc=$? &&
		case $rc in 0|2|4) ;; *) echo "offset $off: status $rc" >&2; return 1 ;; esac &&
		! grep -e Sanitizer -e "runtime error" got.err &&
		jq -c "[.hosts[].host]" got.json >got.hosts &&
		test_cmp want.hosts got.hosts || return 1
	done
'

test_done
