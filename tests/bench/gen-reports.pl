#!/usr/bin/perl
# gen-reports.pl: a reports repository as a `git fast-import` stream: HOSTS
# hosts running every EVERY minutes for DAYS days up to NOW, each run
# committed as the agent would (a commit when the report's digest changed,
# else a heartbeat once HEARTBEAT minutes passed), every host state there.
#
#   gen-reports.pl HOSTS DAYS NOW [RESOURCES POOL EVERY HEARTBEAT SEED
#                  [FIRST LAST]]
#
# FIRST..LAST (default 1..HOSTS) generates only those hosts, so that
# streams for parts of the fleet can be imported side by side.
# Each report lists RESOURCES resources drawn from a pool of POOL ids, so
# that the fleet as a whole has POOL distinct resources. A report's blob
# is shared by the commits of the same state (a heartbeat repeats its
# state; the agent's own heartbeat differs only in "time"): the stream,
# and so the generation, stays small. Deterministic for a given SEED.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);

my ($hosts, $days, $now, $nres, $pool, $every, $hb, $seed, $first, $last) = @ARGV;
die "usage: gen-reports.pl HOSTS DAYS NOW [RESOURCES POOL EVERY HEARTBEAT SEED]\n"
	unless defined $now;
$nres //= 40;
$pool //= 300;
$every //= 30;
$hb //= 240;
$seed //= 1;
$first //= 1;
$last //= $hosts;
$pool = $nres if $pool < $nres;
my $start = $now - $days * 86400;
my $runs = int($days * 1440 / $every);

# A small deterministic generator (perl's rand differs between builds).
my $rng = ($seed * 2654435761 + $first) % 4294967296 || 1;
sub rnd {
	$rng = ($rng * 1103515245 + 12345) % 2147483648;
	return $rng / 2147483648;
}

# Three policy commits: the fleet rolls out a new one at 1/3 and 2/3.
my @pcommit = map { sprintf("%040x", 0xc0ffee * ($_ + 1)) } 0 .. 2;
sub policy_at {
	my ($k) = @_;
	return $pcommit[int(3 * $k / ($runs || 1))] // $pcommit[2];
}

my @types = ("file:/etc/app/%d.conf", "package:pkg%d", "service:svc%d",
	"directory:/srv/d%d");
my @ids = map { sprintf($types[$_ % 4], $_) } 0 .. $pool - 1;

my $out = '';
sub flush_out { print $out; $out = ''; }

my $mark = 0;
# kind: ok, repaired, drifted, failed, refused, stale_source
sub blob {
	my ($host, $h, $time, $kind, $res, $commit, $change) = @_;
	my @st;
	my %c = (ok => 0, drifted => 0, repaired => 0, failed => 0, skipped => 0);
	my $first = ($h * 37) % $pool;
	my @r;
	for my $i (0 .. $nres - 1) {
		my $id = $ids[($first + $i) % $pool];
		my $s = 'ok';
		$s = $kind if $i == $res && $kind =~ /^(repaired|drifted|failed)$/;
		$c{$s}++;
		my $e = '';
		$e = sprintf(q(,"error":{"message":"cannot apply %s: exit 100","hint":"see the agent log on the host"}), $id)
			if $s eq 'failed';
		push @r, sprintf(q({"order":%d,"id":"%s","type":"%s","where":"roles/base.yaml:%d","status":"%s","duration_us":12%s}),
			$i + 1, $id, (split /:/, $id)[0], 3 * $i + 1, $s, $e);
	}
	my $exit = $kind eq 'failed' ? 4 : $kind eq 'repaired' || $kind eq 'drifted' ? 2 :
		$kind eq 'refused' ? 4 : 0;
	$exit = 2 if $change eq 'rollout';
	my $src = '';
	if ($kind eq 'refused') {
		$src = sprintf(q(,"source":{"stale":false,"fetched":"%s","refused_commit":"%040x","refusal":"unsigned","reason":"commit %.12s is not signed","hint":"sign the commit with a key in trusted_keys"}),
			$time, 0xbad0 + $h, sprintf("%040x", 0xbad0 + $h));
	} elsif ($kind eq 'stale_source') {
		$src = sprintf(q(,"source":{"stale":true,"fetched":"%s","reason":"connection refused","hint":"check source.url"}), iso($start));
	}
	my $ch = $change ? qq(,"change":"$change") : '';
	my $command = $kind eq 'drifted' ? 'plan' : 'run';
	my $json = sprintf(q({"command":"%s","agent_version":"0.1.0","host":"%s","time":"%s","duration_ms":40,"exit_status":%d,"policy":"git","commit":"%s","fingerprint":"%s","roles":["base"],"summary":{"ok":%d,"drifted":%d,"repaired":%d,"failed":%d,"skipped":0},"resources":[%s]%s%s}) . "\n",
		$command, $host, $time, $exit, $commit,
		sha256_hex("fp" . (($h % 7) * 1000 + ($commit eq $pcommit[0] ? 0 : $commit eq $pcommit[1] ? 1 : 2))),
		$c{ok}, $c{drifted}, $c{repaired}, $c{failed}, join(',', @r), $ch, $src);
	$mark++;
	$out .= "blob\nmark :$mark\ndata " . length($json) . "\n$json\n";
	my $state = $kind eq "failed" ? "failed" : $kind eq "refused" ? "refused" : $kind eq 'stale_source' ? 'stale source' :
		$change eq 'rollout' ? 'rolled out' : $kind eq 'ok' ? 'congruent' : $kind;
	return ($mark, $state, \%c);
}

sub iso {
	my @t = gmtime($_[0]);
	return sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
}

for my $h ($first .. $last) {
	my $host = sprintf("host-%05d", $h);
	my $ref = "refs/heads/hosts/$host";
	my %blobs;
	my ($last_digest, $last_time, $parent) = ('', 0, 0);
	# Some hosts stopped reporting days ago; some have a lasting condition
	# at the end: a failure, a refused commit, a stale source, plan drift.
	my $stop = $h % 97 == 0 ? $runs - int(48 * 1440 / $every / 24) : $runs;
	my $tail = $h % 53 == 0 ? 'failed' : $h % 61 == 0 ? 'refused' :
		$h % 71 == 0 ? 'stale_source' : $h % 89 == 0 ? 'drifted' : $h % 43 == 0 ? 'repaired' : '';
	my $offset = ($h * 7919) % ($every * 60);
	my ($kind, $res, $left) = ('ok', 0, 0);
	my $prev_policy = '';
	for my $k (0 .. $stop - 1) {
		my $t = $start + $k * $every * 60 + $offset;
		my $commit = policy_at($k);
		my $change = '';
		if ($left > 0) {
			$left--;
		} elsif ($kind ne 'ok') {
			$kind = 'ok';
		} elsif (rnd() < 0.012) {
			# Drift, repaired in the same run.
			($kind, $res, $left) = ('repaired', int(rnd() * $nres), 0);
		} elsif (rnd() < 0.002) {
			# A failure that lasts a few runs.
			($kind, $res, $left) = ('failed', int(rnd() * $nres), 1 + int(rnd() * 6));
		}
		$kind = $tail if $tail && $k >= $stop - 4;
		$res = ($h * 13) % $nres if $tail && $k >= $stop - 4;
		if ($prev_policy && $commit ne $prev_policy && $kind ne 'refused') {
			$change = 'rollout';
			$kind = 'repaired' if $kind eq 'ok';
		} elsif ($kind eq 'repaired') {
			$change = 'drift';
		}
		$prev_policy = $commit;
		my $key = "$kind/$res/$commit/$change";
		my $digest = sha256_hex("$host\0$key");
		my $beat = $digest eq $last_digest;
		next if $beat && $t - $last_time < $hb * 60;
		my $b = $blobs{$key} //= [ blob($host, $h, iso($t), $kind, $res, $commit, $change) ];
		my ($bm, $state, $c) = @$b;
		my $msg = sprintf("%s%s: %s (%d ok, %d repaired, %d failed, 0 skipped%s)\n\nCongruent-State: %s\n",
			$beat ? 'heartbeat ' : '', $host, $state, $c->{ok}, $c->{repaired}, $c->{failed},
			$c->{drifted} ? ", $c->{drifted} drifted" : '', $digest);
		$mark++;
		$out .= "commit $ref\nmark :$mark\ncommitter $host <congruent\@report> $t +0000\n"
			. "data " . length($msg) . "\n$msg";
		$out .= $parent ? "from :$parent\n" : "";
		$out .= "M 100644 :$bm report.json\n\n";
		$parent = $mark;
		($last_digest, $last_time) = ($digest, $t);
		flush_out() if length($out) > 1 << 20;
	}
}
flush_out();
