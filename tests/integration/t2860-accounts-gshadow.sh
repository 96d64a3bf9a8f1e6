#!/bin/bash
# t2860-accounts-gshadow: as user and group resources create, change and
# remove accounts under --root (the shadow tools with --prefix), the
# root's /etc/gshadow stays consistent with /etc/group: the same groups,
# the same members, and a removed user leaves no group's members or
# admins (grpck agrees at every step); plan predicts run throughout.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root
for t in useradd usermod userdel groupadd groupmod groupdel grpck; do
	if ! command -v $t >/dev/null 2>&1 && ! [ -x /usr/sbin/$t ]; then
		echo "1..0 # SKIP needs the shadow tools ($t)"
		trap - EXIT
		rm -rf "$TRASH"
		exit 0
	fi
done

test_expect_success 'setup' '
	test_make_root root &&
	printf "UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\nUSERGROUPS_ENAB yes\nHOME_MODE 0700\n" >root/etc/login.defs &&
	printf "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n" >root/etc/shadow &&
	printf "root:*::\ndaemon:*::\nadm:*::\nnogroup:*::\n" >root/etc/gshadow &&
	chmod 640 root/etc/shadow root/etc/gshadow && mkdir -p root/home &&
	mkdir -p pol/roles &&
	printf "classes:\n  - match: \"*\"\n    roles: [base]\n" >pol/site.yaml
'

# consistent: every group of group is in gshadow with the same members,
# and no more; grpck (read-only) finds nothing.
consistent() {
	cut -d: -f1,4 root/etc/group | sort >g &&
	cut -d: -f1,4 root/etc/gshadow | sort >gs &&
	test_cmp g gs &&
	grpck -r -R "$TRASH/root" >grpck.out 2>&1
}

# plan on a copy (which must not change), then run; same outcomes.
plan_run() { # EXIT
	rm -rf p && cp -a root p &&
	(cd p && find . -printf "%y %m %s %p\n" | sort) >before &&
	test_expect_code "$1" cg plan --format json --policy pol --root p --state-dir pst >plan.json &&
	(cd p && find . -printf "%y %m %s %p\n" | sort) >after &&
	test_cmp before after &&
	test_expect_code "$1" cg run --format json --policy pol --root root --state-dir st >run.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json | sed "s/drifted/changes/" >po &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json | sed "s/repaired/changes/" >ro &&
	test_cmp po ro
}

test_expect_success 'groups and users with supplementary groups: both files agree' '
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - group: web
	  - group: ops
	    gid: 2500
	  - user: alice
	    groups: [web, ops]
	  - user: bob
	    groups: [web]
	Y
	plan_run 2 && consistent &&
	grep -x "web:!::alice,bob" root/etc/gshadow &&
	grep -x "ops:!::alice" root/etc/gshadow
'

test_expect_success 'members and a gid change, a user removed: still consistent' '
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - group: web
	  - group: ops
	    gid: 2600
	  - user: alice
	    groups: [ops]
	    groups_exclusive: true
	  - user: bob
	    state: absent
	Y
	plan_run 2 && consistent &&
	grep -x "web:!::" root/etc/gshadow && grep -x "ops:!::alice" root/etc/gshadow &&
	! grep -q "^bob:" root/etc/gshadow
'

test_expect_success 'a removed user leaves no group as member nor admin' '
	sed -i "s/^ops:!::alice\$/ops:!:alice:alice/" root/etc/gshadow &&
	cat >pol/roles/base.yaml <<-\Y &&
	resources:
	  - user: alice
	    state: absent
	  - group: web
	    state: absent
	Y
	plan_run 2 && consistent &&
	grep -x "ops:!::" root/etc/gshadow &&
	! grep -q "^web:" root/etc/gshadow && ! grep -q "^alice:" root/etc/gshadow &&
	plan_run 0
'

test_done
