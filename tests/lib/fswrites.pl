#!/usr/bin/perl
# fswrites.pl: list every attempt to change a filesystem in an strace log.
#
#   strace -f -qq -y -o TRACE -e trace=$(fswrites.pl --syscalls) CMD...
#   fswrites.pl [--allow PREFIX]... [--expect-sandbox] TRACE
#
# Prints one line per attempt (whether or not the kernel allowed it) and
# exits 1 if there was any. What counts:
#   - open/openat/openat2/creat asking to write, create, truncate or append;
#   - any call that makes, removes, renames or links a name, or changes
#     mode, owner, times, size or extended attributes;
#   - write/pwrite/writev/sendfile/splice/copy_file_range/fallocate into an
#     fd that is a file (strace -y shows its path), and shared writable
#     mmaps of one;
#   - mount changes, unless made after the same process entered a mount
#     namespace of its own (the plan sandbox making its mounts read-only);
#   - io_uring, which could do any of this unseen.
# Not writes: pipes, sockets, the terminal or /dev/null, and outside a
# sandbox a mkdir or open that failed with EEXIST (mkdir -p). --allow PREFIX
# accepts paths under PREFIX, but only outside a sandbox. --expect-sandbox
# fails unless some process entered a mount namespace (unshare CLONE_NEWNS).
use strict;
use warnings;

my @syscalls = qw(
  open openat openat2 creat mkdir mkdirat mknod mknodat unlink unlinkat rmdir
  rename renameat renameat2 link linkat symlink symlinkat chmod fchmod
  fchmodat chown fchown lchown fchownat truncate ftruncate utime utimes
  utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr
  fremovexattr write pwrite64 writev pwritev pwritev2 fallocate
  copy_file_range sendfile splice mmap mount umount2 mount_setattr
  move_mount fsmount open_tree pivot_root chroot unshare io_uring_setup);

my (@allow, $expect_sandbox);
while (@ARGV && $ARGV[0] =~ /^--/) {
	my $o = shift @ARGV;
	if ($o eq '--syscalls') { print join(',', @syscalls), "\n"; exit 0 }
	elsif ($o eq '--allow') { push @allow, shift @ARGV }
	elsif ($o eq '--expect-sandbox') { $expect_sandbox = 1 }
	else { die "fswrites.pl: unknown option $o\n" }
}

my (%sandboxed, %pending, @found, $sandboxes);

sub harmless_path {
	my ($p) = @_;
	return $p =~ m{^(/dev/null|/dev/tty|/dev/pts/\d+)$};
}

sub note {
	my ($pid, $what, $path, $ret) = @_;
	# mkdir -p of what exists changed nothing; in a sandbox, even the
	# attempt counts.
	return if !$sandboxed{$pid} && defined $ret && $ret =~ /EEXIST/;
	if (defined $path && !$sandboxed{$pid}) {
		for my $a (@allow) {
			return if index($path, $a) == 0;
		}
	}
	push @found, "$pid" . ($sandboxed{$pid} ? " (sandboxed)" : "") .
	  ": $what";
}

# The path strace -y printed for the fd in args at position n (0-based).
sub fd_path {
	my ($args, $n) = @_;
	my @fds = ($args =~ /(?:^|, )(-?\d+)(?:<([^>]*)>)?/g);
	my $path = $fds[2 * $n + 1];
	return defined $path ? $path : '';
}

while (my $line = <>) {
	chomp $line;
	# Join "<unfinished ...>" with its "<... NAME resumed>".
	if ($line =~ /^(\d+)\s+(.*) <unfinished \.\.\.>$/) {
		$pending{$1} = $2;
		next;
	}
	if ($line =~ /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/) {
		$line = "$1 " . ($pending{$1} // '') . $2;
		delete $pending{$1};
	}
	next unless $line =~ /^(\d+)\s+(\w+)\((.*)\)\s+=\s+(.*)$/;
	my ($pid, $call, $args, $ret) = ($1, $2, $3, $4);
	my ($path) = ($args =~ /"((?:[^"\\]|\\.)*)"/);

	if ($call eq 'unshare') {
		if ($args =~ /CLONE_NEWNS/ && $ret =~ /^0/) {
			$sandboxed{$pid} = 1;
			$sandboxes++;
		}
	} elsif ($call =~ /^(open|openat|openat2)$/) {
		next unless $args =~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/;
		next if defined $path && harmless_path($path);
		note($pid, "$call($args) = $ret", $path, $ret);
	} elsif ($call =~ /^(write|pwrite64|writev|pwritev2?|fallocate)$/) {
		my $p = fd_path($args, 0);
		next unless $p =~ m{^/} && !harmless_path($p);
		note($pid, "$call to $p = $ret", $p);
	} elsif ($call =~ /^(fchmod|fchown|ftruncate|fsetxattr|fremovexattr)$/) {
		my $p = fd_path($args, 0);
		note($pid, "$call($args) = $ret", $p);
	} elsif ($call eq 'sendfile') {
		my $p = fd_path($args, 0);
		next unless $p =~ m{^/} && !harmless_path($p);
		note($pid, "$call to $p = $ret", $p);
	} elsif ($call =~ /^(splice|copy_file_range)$/) {
		my $p = fd_path($args, 2);
		next unless $p =~ m{^/} && !harmless_path($p);
		note($pid, "$call to $p = $ret", $p);
	} elsif ($call eq 'mmap') {
		next unless $args =~ /PROT_WRITE/ && $args =~ /MAP_SHARED/;
		my ($p) = ($args =~ /, \d+<([^>]*)>, /);
		next unless defined $p && $p =~ m{^/} && !harmless_path($p);
		note($pid, "shared writable mmap of $p", $p);
	} elsif ($call =~ /^(mount|umount2|mount_setattr|move_mount|fsmount|open_tree|pivot_root|chroot)$/) {
		next if $sandboxed{$pid};
		next if $call eq 'open_tree';
		note($pid, "$call($args) = $ret", undef);
	} elsif ($call eq 'io_uring_setup') {
		note($pid, "io_uring_setup = $ret", undef);
	} else {
		# Every other traced call changes a name or its metadata.
		note($pid, "$call($args) = $ret", $path, $ret);
	}
}

print "$_\n" for @found;
if ($expect_sandbox && !$sandboxes) {
	print "no process entered a mount namespace of its own\n";
	exit 1;
}
exit(@found ? 1 : 0);
