# package.sh: what the package tests share: a testbed host with congruent
# in it, a local apt repository of small packages, a policy to enforce.
#
# Source it after lib.sh (it sources tests/testbed/lib.sh and skips the
# test when there is no testbed):
#
#   . "$(dirname "$0")/../lib/lib.sh"
#   . "$TOP/tests/lib/package.sh"
#   pkg_boot pkg-basic              # boot, copy ./congruent in, publish the repo
#   pkg_policy pkg-basic <<-EOF     # the role "p" of /srv/policy
#   - package: cga
#     state: "1.0"
#   EOF
#   pkg_cg pkg-basic run --policy /srv/policy
#
# The repository (file:/srv/repo, built once per test with testbed_make_deb):
#   cga 1.0, 2.0, 3.0   /etc/cga.conf (a conffile) and /usr/share/cga/version
#   cglib 1.0, cgapp 1.0 (depends on cglib)
#   cgbroken 1.0        depends on cg-missing-dep, which no repository has
#   cgfail 1.0          its postinst fails
#   cgkill 1.0          its postinst kills dpkg, once (an interrupted run)

. "$TOP/tests/lib/testbed-host.sh"

# Build the repository's packages once (into the test's testbed work dir).
pkg__debs() {
	[ -f "$TRASH/.debs-made" ] && return 0
	_s=$TRASH/src
	mkdir -p "$_s" || return 1
	for v in 1.0 2.0 3.0; do
		printf '# cga configuration, as shipped in %s\nlevel = %s\n' \
			"$v" "$v" >"$_s/cga-$v.conf"
		echo "$v" >"$_s/cga-$v.version"
		testbed_make_deb cga "$v" "" /etc/cga.conf="$_s/cga-$v.conf" \
			/usr/share/cga/version="$_s/cga-$v.version" || return 1
	done
	testbed_make_deb cglib 1.0 &&
		testbed_make_deb cgapp 1.0 "cglib (>= 1.0)" &&
		testbed_make_deb cgbroken 1.0 "cg-missing-dep" || return 1
	# shellcheck disable=SC2016 # $1 and $PPID of the maintainer script
	printf '#!/bin/sh\n[ "$1" = configure ] || exit 0\necho "cgfail: refusing to configure" >&2\nexit 1\n' >"$_s/fail.postinst"
	testbed_make_deb cgfail 1.0 "" DEBIAN/postinst="$_s/fail.postinst" ||
		return 1
	# The first configure kills dpkg (as a power cut would), the next
	# one (dpkg --configure -a) passes.
	# shellcheck disable=SC2016
	printf '#!/bin/sh\n[ "$1" = configure ] || exit 0\nif [ ! -e /var/tmp/cgkill-once ]; then\n\ttouch /var/tmp/cgkill-once\n\tkill -9 $PPID\nfi\nexit 0\n' >"$_s/kill.postinst"
	testbed_make_deb cgkill 1.0 "" DEBIAN/postinst="$_s/kill.postinst" ||
		return 1
	: >"$TRASH/.debs-made"
}

# The shared libraries ./congruent needs that the host lacks (a
# sanitizer build needs libasan and libubsan), copied in.
pkg__libs() {
	ldd "$CONGRUENT" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			testbed_exec "$1" test -e "$lib" && continue
			testbed_copy_in "$1" "$(readlink -f "$lib")" "$lib" || return 1
		done
}

# pkg_boot NAME: boot a host with congruent, the repository, a policy tree.
pkg_boot() {
	pkg__debs >/dev/null || {
		echo "building the test packages failed" >&2
		return 1
	}
	testbed_boot "$1" &&
		testbed_copy_in "$1" "$CONGRUENT" /usr/local/bin/congruent &&
		pkg__libs "$1" &&
		testbed_apt_repo "$1" &&
		testbed_sh "$1" 'mkdir -p /srv/policy/roles &&
			printf "classes:\n  - match: \"*\"\n    roles: [p]\n" >/srv/policy/site.yaml'
}

# pkg_policy NAME [DIR]: stdin is the list of resources of role p.
pkg_policy() {
	{ echo "resources:"; sed 's/^/  /'; } |
		testbed_sh "$1" 'cat >"$1/roles/p.yaml"' "${2:-/srv/policy}"
}

# pkg_cg NAME ARGS...: congruent inside NAME, like cg: a sanitizer report
# in its stderr fails the call with 99. CONGRUENT_DPKG_LOCK_TIMEOUT is
# passed in when set.
pkg_cg() {
	TB_CG_ENV=${CONGRUENT_DPKG_LOCK_TIMEOUT:+CONGRUENT_DPKG_LOCK_TIMEOUT=$CONGRUENT_DPKG_LOCK_TIMEOUT} \
		tb_cg "$@"
}

# pkg_version NAME PKG: the installed version of PKG, or "absent"
# ("config-files" when only its configuration files are left).
pkg_version() {
	testbed_exec "$1" dpkg-query -W -f '${db:Status-Status} ${Version}\n' "$2" 2>/dev/null |
		awk '$1 == "installed" { print $2; exit } $1 == "config-files" { print "config-files"; exit } { print "absent"; exit } END { if (NR == 0) print "absent" }'
}
