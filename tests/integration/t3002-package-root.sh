#!/bin/sh
# t3002-package-root: packages under --root (an image being built): apt
# reads the root's configuration and lists, dpkg runs chrooted into it,
# and the host running congruent keeps its own packages untouched.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/package.sh"

h=pkg-root
if ! pkg_boot $h; then
	echo "Bail out! cannot boot a testbed host"
	exit 1
fi

# The image: a copy-on-write copy of the testbed host's own root (with
# apt, dpkg, and the lists of file:/srv/repo), on a tmpfs.
R=/srv/img/root
test_expect_success 'an image root to build' '
	testbed_sh $h "mkdir -p /srv/img && mount -t tmpfs tmpfs /srv/img &&
		mkdir /srv/img/upper /srv/img/work $R &&
		mount -t overlay overlay \
			-o lowerdir=/,upperdir=/srv/img/upper,workdir=/srv/img/work $R" &&
	testbed_exec $h test -f $R/var/lib/dpkg/status
'

test_expect_success 'plan --root: what apt would do in the root; nothing changes' '
	pkg_policy $h <<-EOF &&
	- package: cgapp
	- package: cga
	  state: "2.0"
	EOF
	testbed_exec $h cat /var/lib/dpkg/status >host.before &&
	testbed_exec $h cat $R/var/lib/dpkg/status >root.before &&
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy --root $R >out &&
	cat out &&
	test_grep "+ cglib 1.0 (pulled in by apt: not in the policy)" out &&
	test_grep "+ cga 2.0" out &&
	testbed_exec $h cat /var/lib/dpkg/status >host.after &&
	testbed_exec $h cat $R/var/lib/dpkg/status >root.after &&
	cmp host.before host.after && cmp root.before root.after &&
	testbed_exec $h test ! -e $R/var/lib/congruent
'

test_expect_success 'run --root installs into the root only' '
	test_expect_code 2 pkg_cg $h run --policy /srv/policy --root $R >out &&
	cat out &&
	test "$(testbed_exec $h chroot $R dpkg-query -W -f "\${Version}" cga)" = 2.0 &&
	test "$(testbed_exec $h chroot $R dpkg-query -W -f "\${Version}" cgapp)" = 1.0 &&
	testbed_exec $h test -f $R/usr/share/cga/version &&
	testbed_exec $h test ! -e /usr/share/cga/version &&
	test "$(pkg_version $h cga)" = absent &&
	testbed_exec $h cat /var/lib/dpkg/status >host.after &&
	cmp host.before host.after &&
	testbed_exec $h test -f $R/var/lib/congruent/reports/last-run.json
'

test_expect_success 'a second run --root is a no-op' '
	test_expect_code 0 pkg_cg $h run --policy /srv/policy --root $R
'

test_expect_success 'the same policy without --root acts on the host' '
	test_expect_code 2 pkg_cg $h plan --policy /srv/policy >out &&
	test_grep "+ cga 2.0" out
'

test_done
