#!/bin/sh
# deps.sh: install what building (build), testing (test) or fuzzing (fuzz)
# congruent needs.
#
# Checks with dpkg-query first, so that when everything is present it costs
# a few milliseconds and needs no network; only missing packages are fetched.
set -eu

build_pkgs="gcc make pkg-config libgit2-dev libyaml-dev libssl-dev libcap-dev"
# perl: prove; git, openssh-client, openssl: test repositories, signing
# keys, a test CA; iptables, iproute2: network namespaces; strace: the
# read-only plan test; util-linux: unshare, flock, setpriv; jq: checking
# JSON output; debootstrap, systemd-container: the testbed's Debian hosts;
# libcap2-bin: setcap and capsh for the capability tests; groff-base: the
# manual page's check; systemd: systemd-analyze for the units' check;
# python3-jsonschema: validating every JSON output against doc/schema/ (t0200).
# chromium: rendering fleet's HTML page headless (t7000), only with
# CG_TEST_BROWSER=1 (it is large; the HTML test is skipped without it).
# nftables: nft, to write rules iptables-nft cannot show (t5100).
# attr: setfattr and getfattr, for the extended attributes test (t2400).
# ipset, nfacct: sets and accounting objects that rules name (t5420).
# (nginx and fcgiwrap for the HTTPS git server are installed by
# tests/lib/gitserve.sh itself, so that no system nginx is ever started.)
test_pkgs="$build_pkgs perl git openssh-client openssl jq iptables iproute2
	strace util-linux procps debootstrap systemd-container libcap2-bin
	groff-base systemd nftables attr python3-jsonschema ipset nfacct"
[ "${CG_TEST_BROWSER:-0}" = 1 ] && test_pkgs="$test_pkgs chromium"

# clang and its runtime (libFuzzer, the sanitizers): make fuzz.
fuzz_pkgs="$build_pkgs clang libclang-rt-dev"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
fuzz) want=$fuzz_pkgs ;;
*) echo "usage: $0 build|test|fuzz" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# An apt cache older than a day may name versions the mirror no longer has.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
	apt-get update -qq
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
