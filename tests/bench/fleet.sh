#!/bin/bash
# fleet.sh: `make bench`: congruent fleet over a central repository of
# 10,000 host refs (two reports each, made with git fast-import), as text,
# JSON and HTML; best of three, with peak memory.
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CG=$TOP/congruent
RUNSTAT=$TOP/build/tests/helpers/runstat
N=${CG_BENCH_HOSTS:-10000}
W=$(mktemp -d /tmp/cg-bench-fleet.XXXXXX)
trap 'rm -rf "$W"' EXIT

git init -q --bare "$W/central.git"
# Every host: a first run that repaired, then its latest report: most
# congruent, every 10th repaired, every 50th failed, a few fingerprints.
t0=$(date +%s)
perl -e '
	my ($n, $now) = @ARGV;
	my $mark = 0;
	sub report {
		my ($host, $time, $st, $fp) = @_;
		my %c = (ok => 0, repaired => 0, failed => 0);
		my @res;
		for my $i (1 .. 5) {
			my $s = $i == 1 ? $st : "ok";
			$c{$s}++;
			push @res, sprintf(q({"order":%d,"id":"file:/etc/app/%d.conf","type":"file","where":"roles/base.yaml:%d","status":"%s","duration_us":12}),
				$i, $i, $i * 3, $s);
		}
		my $exit = $st eq "failed" ? 4 : $st eq "repaired" ? 2 : 0;
		return sprintf(q({"command":"run","agent_version":"0.1.0","host":"%s","time":"%s","duration_ms":40,"exit_status":%d,"policy":"git","commit":"%s","fingerprint":"%064x","roles":["base"],"summary":{"ok":%d,"drifted":0,"repaired":%d,"failed":%d,"skipped":0},"resources":[%s]}) . "\n",
			$host, $time, $exit, "a" x 40, $fp, $c{ok}, $c{repaired}, $c{failed}, join(",", @res));
	}
	for my $h (1 .. $n) {
		my $host = sprintf("host-%05d", $h);
		for my $k (0, 1) {
			my $t = $now - 3600 * (2 - $k) - $h % 600;
			my $st = $k == 0 ? "repaired" : $h % 50 == 0 ? "failed" : $h % 10 == 0 ? "repaired" : "ok";
			my $r = report($host, "2026-01-01T00:00:00Z", $st, $h % 7);
			my $msg = "$host: $st\n\nCongruent-State: " . sprintf("%064x", $h * 2 + $k) . "\n";
			$mark++;
			print "blob\nmark :$mark\ndata " . length($r) . "\n$r\n";
			print "commit refs/heads/hosts/$host\ncommitter $host <congruent\@report> $t +0000\n";
			print "data " . length($msg) . "\n$msg";
			print "M 100644 :$mark report.json\n\n";
		}
	}' "$N" "$(date +%s)" | git --git-dir="$W/central.git" fast-import --quiet
git --git-dir="$W/central.git" pack-refs --all
gen=$(($(date +%s) - t0))

printf '%-8s %-30s %10s %12s\n' hosts step seconds "peak RSS"
for fmt in text json html; do
	best_t= best_m=
	for _ in 1 2 3; do
		"$RUNSTAT" "$CG" fleet --reports "$W/central.git" --format $fmt \
			2>"$W/rs" >"$W/out.$fmt" </dev/null || true
		read -r _ t m rc <<<"$(grep '^runstat ' "$W/rs")"
		# 0, 2 and 4 say the fleet's state (some hosts failed); 1 an error.
		case $rc in 0 | 2 | 4) ;; *) echo "fleet --format $fmt exited $rc" >&2; cat "$W/rs" >&2; exit 1 ;; esac
		if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
		if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
	done
	printf '%-8s %-30s %10.3f %9d KiB\n' "$N" "fleet --format $fmt" "$best_t" "$best_m"
done
grep -q "^$N hosts: " <(tail -n 20 "$W/out.text") ||
	{ echo "fleet did not count $N hosts" >&2; exit 1; }
tail -n 12 "$W/out.text" | grep -E "^[0-9]+ hosts:" | sed "s/^/$(printf '%-8s ' '') /"
echo "         (the repository: $N refs, $((N * 2)) commits, generated in ${gen} s)"
