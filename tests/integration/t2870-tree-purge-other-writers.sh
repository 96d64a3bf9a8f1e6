#!/bin/bash
# t2870-tree-purge-other-writers: a directory with purge: true keeps what
# other resources write below it without being named by its path (the
# keyring and .sources file of an apt_source, ~USER/.ssh/authorized_keys,
# a user's home, the account files users and groups rewrite, a service's
# start-order drop-in): the second run is a no-op, and plan predicts run.
. "$(dirname "$0")/../lib/lib.sh"
# plan's read-only sandbox needs CAP_SYS_ADMIN.
test_require_cap CAP_SYS_ADMIN

if ! command -v gpg >/dev/null || ! command -v apt-get >/dev/null; then
	echo "1..0 # SKIP needs gpg and apt-get for a signed local repository"
	exit 0
fi

export GNUPGHOME=$TRASH/gnupg
mkdir -m 700 "$GNUPGHOME"
chmod 755 "$TRASH"

outcomes() {
	jq -r '.resources[] | [.id,
		(if .status == "repaired" or .status == "drifted"
		 then "changes" else .status end),
		(.error.message // "")] | @tsv' "$1"
}

# mkcase NAME: policy/ from stdin (roles/base.yaml), root/ with the
# fixture accounts; plan on a copy of the root, run on the root.
mkcase() {
	mkdir -p "$1/policy/roles" "$1/policy/files" "$1/root/etc" &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' \
		>"$1/policy/site.yaml" &&
	cat >"$1/policy/roles/base.yaml" &&
	cat >"$1/root/etc/passwd" <<-\EOF &&
	root:x:0:0:root:/root:/bin/sh
	alice:x:1500:1500::/home/alice:/bin/sh
	EOF
	printf 'root:x:0:\nalice:x:1500:\n' >"$1/root/etc/group"
}

# plan_run NAME: plan (on a copy) and run agree per resource, then a
# second run changes nothing.
plan_run() {
	(cd "$1" && rm -rf plan && mkdir plan && cp -a root plan/root &&
	 { cg plan --format json --policy policy --root plan/root \
		--state-dir plan/state --hostname h >plan.json; echo $? >plan.rc; } &&
	 { cg run --format json --policy policy --root root \
		--state-dir state --hostname h >run.json; echo $? >run.rc; } &&
	 test "$(cat plan.rc)" = 2 && test "$(cat run.rc)" = 2 &&
	 outcomes plan.json >plan.out && outcomes run.json >run.out &&
	 test_cmp plan.out run.out &&
	 test_expect_code 0 cg run --policy policy --root root \
		--state-dir state --hostname h)
}

test_expect_success 'a signed local repository' '
	gpg --batch -q --passphrase "" --quick-gen-key "cg <cg@example.invalid>" \
		ed25519 sign never 2>/dev/null &&
	mkdir repo &&
	(cd repo && : >Packages &&
		{
			echo "Origin: congruent-test"
			echo "Date: $(date -R -u)"
			echo "SHA256:"
			echo " $(sha256sum <Packages | cut -d" " -f1) 0 Packages"
		} >Release &&
		gpg --batch -q --yes -u cg@example.invalid --clearsign \
			-o InRelease Release)
'

test_expect_success 'apt_source under a purged sources.list.d and keyrings' '
	mkcase apt <<-EOF &&
	resources:
	  - directory: /etc/apt/sources.list.d
	    purge: true
	  - directory: /etc/apt/keyrings
	    purge: true
	  - apt_source: extra
	    uris: [file:$TRASH/repo]
	    suites: ["./"]
	    key: files/extra.asc
	EOF
	gpg --batch --export --armor cg@example.invalid \
		>apt/policy/files/extra.asc &&
	mkdir -p apt/root/etc/apt/sources.list.d apt/root/etc/apt/keyrings \
		apt/root/var/lib/apt/lists/partial \
		apt/root/var/cache/apt/archives/partial apt/root/var/lib/dpkg &&
	: >apt/root/var/lib/dpkg/status &&
	echo "Types: deb" >apt/root/etc/apt/sources.list.d/old.sources &&
	plan_run apt &&
	test -f apt/root/etc/apt/sources.list.d/extra.sources &&
	test -f apt/root/etc/apt/keyrings/extra.asc &&
	test ! -e apt/root/etc/apt/sources.list.d/old.sources &&
	test_grep "old.sources (file, purged" apt/plan.json
'

test_expect_success 'authorized_keys under a purged ~/.ssh' '
	mkcase keys <<-\EOF &&
	resources:
	  - directory: /home/alice/.ssh
	    mode: "0700"
	    purge: true
	  - authorized_keys: alice
	    keys:
	      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMUiPMM6YzQf3h1Zsnc1W6Jjj+5ov3kckjYUXdiASpcF alice@laptop"
	EOF
	mkdir -p keys/root/home/alice/.ssh &&
	echo stray >keys/root/home/alice/.ssh/stray &&
	plan_run keys &&
	test -f keys/root/home/alice/.ssh/authorized_keys &&
	test ! -e keys/root/home/alice/.ssh/stray
'

test_expect_success 'a service start-order drop-in under a purged directory' '
	mkcase svc <<-\EOF &&
	resources:
	  - directory: /etc/systemd/system/web.service.d
	    purge: true
	  - service: web
	    after: [db]
	EOF
	printf "vars:\n  init: systemd\n" >>svc/policy/site.yaml &&
	mkdir -p svc/root/etc/systemd/system/web.service.d \
		svc/root/lib/systemd/system &&
	printf "[Service]\nExecStart=/bin/true\n" \
		>svc/root/lib/systemd/system/web.service &&
	echo "[Unit]" >svc/root/etc/systemd/system/web.service.d/stray.conf &&
	plan_run svc &&
	test -f svc/root/etc/systemd/system/web.service.d/congruent-order.conf &&
	test ! -e svc/root/etc/systemd/system/web.service.d/stray.conf
'

test_expect_success 'a user home under a purged /home' '
	mkcase home <<-\EOF &&
	resources:
	  - directory: /home
	    purge: true
	  - user: bob
	    uid: 1600
	EOF
	cp "$FIXTURES/predict/authkeys-merge/root/etc/login.defs" \
		"$FIXTURES/predict/authkeys-merge/root/etc/shadow" \
		"$FIXTURES/predict/authkeys-merge/root/etc/gshadow" home/root/etc/ &&
	mkdir -p home/root/home/stray &&
	plan_run home &&
	test -d home/root/home/bob &&
	test ! -e home/root/home/stray
'

test_expect_success 'user and group account files under a purged /etc' '
	mkcase acct <<-\EOF &&
	resources:
	  - directory: /etc
	    purge: true
	  - file: /etc/login.defs
	    source: files/login.defs
	  - group: ops
	    gid: 1700
	  - user: carol
	    uid: 1701
	    create_home: false
	EOF
	for f in login.defs shadow gshadow; do
		cp "$FIXTURES/predict/authkeys-merge/root/etc/$f" acct/root/etc/ ||
		return 1
	done &&
	cp acct/root/etc/login.defs acct/policy/files/ &&
	echo stray >acct/root/etc/stray.conf &&
	plan_run acct &&
	grep -q "^carol:" acct/root/etc/passwd &&
	grep -q "^ops:" acct/root/etc/group &&
	test ! -e acct/root/etc/stray.conf
'

test_done
