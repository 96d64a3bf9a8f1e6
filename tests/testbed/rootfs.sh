#!/bin/sh
# rootfs.sh: build once, and cache, the Debian root that testbed containers boot.
#
#   tests/testbed/rootfs.sh            make sure the cache is built; print the
#                                      path of the root directory on stdout
#   tests/testbed/rootfs.sh --path     print that path, fail if not built
#   tests/testbed/rootfs.sh --rebuild  build again even if the cache is valid
#
# The cache lives in $CONGRUENT_TESTBED_CACHE (default /var/cache/congruent-test)
# as rootfs-SUITE-STAMP/{root/,stamp,build.log,packages.txt}, where STAMP is a
# hash of this file: any change here (package list, customisation) names a new
# directory, so it is built again.  A build happens in a temporary directory
# that is renamed into place only when complete; an interrupted build leaves
# at most a build.* directory, removed by the next build.
#
# Locking: builds take an exclusive flock(1) on $CACHE/lock; tests hold a
# shared lock on it while their containers run (lib.sh), so a build of a new
# version, which prunes the other versions, never deletes a root in use.
set -eu

SUITE=bookworm
# What the testbed needs: an init and a bus (systemd, systemd-sysv, dbus), the
# package tools (apt), the firewall and network tools (iptables, iproute2) and
# the runtime libraries ./congruent links.
PACKAGES="systemd systemd-sysv dbus apt iptables iproute2
	libgit2-1.5 libyaml-0-2 libssl3 libcap2"
# Units that are useless in a throwaway container, slow, or would try the
# network: masked (linked to /dev/null).
MASK_UNITS="console-getty.service container-getty@.service getty@.service
	serial-getty@.service getty-static.service
	systemd-networkd-wait-online.service systemd-firstboot.service
	apt-daily.timer apt-daily.service
	apt-daily-upgrade.timer apt-daily-upgrade.service
	dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service
	fstrim.timer systemd-pstore.service"

MIRROR=${CONGRUENT_TESTBED_MIRROR:-http://deb.debian.org/debian}
CACHE=${CONGRUENT_TESTBED_CACHE:-/var/cache/congruent-test}
BUILD_TIMEOUT=${CONGRUENT_TESTBED_BUILD_TIMEOUT:-1200}
LOCK_TIMEOUT=${CONGRUENT_TESTBED_LOCK_TIMEOUT:-1800}

me=rootfs.sh
self=$(readlink -f "$0")

die() {
	echo "$me: error: $*" >&2
	exit 1
}

info() {
	echo "$me: $*" >&2
}

stamp=$(sha256sum "$self" | cut -c1-12)
name=rootfs-$SUITE-$stamp
dest=$CACHE/$name

is_built() {
	[ -f "$dest/stamp" ] && [ "$(cat "$dest/stamp")" = "$stamp" ] &&
		[ -x "$dest/root/lib/systemd/systemd" ]
}

# Unmount whatever an interrupted debootstrap left mounted below $1 (it mounts
# /proc and /sys in the target, and can bind-mount /dev), deepest first, so
# that the rm -rf that follows can never reach the host's own files.
unmount_below() {
	awk -v d="$1/" 'index($5 "/", d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do
		umount -l "$m" || true
	done
	if awk -v d="$1/" 'index($5 "/", d) == 1 { f = 1 } END { exit !f }' \
		/proc/self/mountinfo; then
		die "cannot unmount everything below $1; see /proc/self/mountinfo"
	fi
}

stop_child() {
	[ -n "$child" ] || return 0
	kill -TERM "$child" 2>/dev/null || true
	wait "$child" 2>/dev/null || true
}

remove_tree() {
	[ -e "$1" ] || return 0
	unmount_below "$1"
	rm -rf --one-file-system "$1"
}

need_debootstrap() {
	command -v debootstrap >/dev/null 2>&1 && return 0
	[ "$(id -u)" -eq 0 ] || die "debootstrap is missing; run as root or: apt-get install debootstrap"
	info "installing debootstrap with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; then
		apt-get update -qq || die "apt-get update failed"
		apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
			die "apt-get install debootstrap failed"
	fi
}

# Make the fresh root quick to boot under systemd-nspawn, offline, and
# anonymous: each container gets its own hostname and machine id at boot.
customize() {
	r=$1

	# apt must never try the network inside a container: tests add file:
	# repositories in sources.list.d.  Drop the downloaded lists and .debs.
	cat >"$r/etc/apt/sources.list" <<-'EOF'
	# Empty on purpose (congruent testbed): containers have no network.
	# Tests publish local repositories in /etc/apt/sources.list.d/.
	EOF
	rm -rf "$r/var/lib/apt/lists" "$r/var/cache/apt"
	mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial"
	cat >"$r/etc/apt/apt.conf.d/90congruent-testbed" <<-'EOF'
	// congruent testbed: offline, local repositories only.
	Acquire::Languages "none";
	Acquire::Retries "0";
	APT::Periodic::Enable "0";
	EOF
	# No fsync per file: containers are throwaway, and it halves install time.
	echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/congruent-testbed"

	# Identity is per container (lib.sh writes these before each boot).
	rm -f "$r/etc/hostname"
	: >"$r/etc/machine-id"
	rm -f "$r/var/lib/dbus/machine-id"
	ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
	cat >"$r/etc/hosts" <<-'EOF'
	127.0.0.1	localhost
	::1		localhost ip6-localhost ip6-loopback
	ff02::1		ip6-allnodes
	ff02::2		ip6-allrouters
	EOF
	# No name servers: a lookup fails at once instead of timing out.
	rm -f "$r/etc/resolv.conf"
	: >"$r/etc/resolv.conf"

	for u in $MASK_UNITS; do
		ln -sfn /dev/null "$r/etc/systemd/system/$u"
	done
	rm -rf "$r/etc/systemd/system/getty.target.wants"
	ln -sfn /lib/systemd/system/multi-user.target \
		"$r/etc/systemd/system/default.target"
}

build() {
	need_debootstrap
	command -v flock >/dev/null 2>&1 || die "flock(1) is missing (util-linux)"
	mkdir -p "$CACHE"
	exec 9>>"$CACHE/lock"
	if ! flock -x -w "$LOCK_TIMEOUT" 9; then
		die "waited ${LOCK_TIMEOUT}s for $CACHE/lock (another build, or tests using an older root); see: fuser -v $CACHE/lock"
	fi
	if [ "${1:-}" != force ] && is_built; then
		exec 9>&-
		return 0
	fi

	# We hold the lock exclusively: nobody builds, nobody uses any root.
	for old in "$CACHE"/build.*; do
		[ -e "$old" ] && remove_tree "$old"
	done

	tmp=$(mktemp -d "$CACHE/build.XXXXXX")
	child=
	trap 'remove_tree "$tmp"' EXIT
	trap 'stop_child; exit 130' INT
	trap 'stop_child; exit 143' TERM
	trap 'stop_child; exit 129' HUP
	log=$CACHE/last-build.log
	info "building $dest (once; about a minute; log: $log)"
	start=$(date +%s)
	# shellcheck disable=SC2086 # split the list into words on purpose
	includes=$(echo $PACKAGES | tr ' ' ,)
	mkdir -p "$CACHE/debs"
	# In the background and waited for, so that a signal interrupts the
	# build at once (a shell runs traps only between foreground commands).
	timeout -k 10 "$BUILD_TIMEOUT" debootstrap --variant=minbase \
		--include="$includes" --cache-dir="$CACHE/debs" \
		"$SUITE" "$tmp/root" "$MIRROR" >"$log" 2>&1 &
	child=$!
	rc=0
	wait "$child" || rc=$?
	child=
	if [ "$rc" -ne 0 ]; then
		tail -n 20 "$log" | sed 's/^/    /' >&2
		die "debootstrap $SUITE from $MIRROR failed or took over ${BUILD_TIMEOUT}s; full log: $log"
	fi
	unmount_below "$tmp/root"
	customize "$tmp/root"
	dpkg-query --admindir="$tmp/root/var/lib/dpkg" -W >"$tmp/packages.txt"
	cp "$log" "$tmp/build.log"
	echo "$stamp" >"$tmp/stamp"
	sync -f "$tmp"

	if [ -e "$dest" ]; then
		mv "$dest" "$tmp.old"
	fi
	mv "$tmp" "$dest"
	trap - EXIT INT TERM HUP
	remove_tree "$tmp.old"
	for old in "$CACHE"/rootfs-"$SUITE"-*; do
		[ "$old" = "$dest" ] || remove_tree "$old"
	done
	info "built $dest in $(($(date +%s) - start))s, $(du -sh "$dest/root" | cut -f1)"
	exec 9>&-
}

case "${1:-}" in
"") is_built || build ;;
--rebuild) build force ;;
--path) is_built || die "not built: $dest (run $0)" ;;
*) echo "usage: $0 [--path|--rebuild]" >&2; exit 2 ;;
esac
echo "$dest/root"
