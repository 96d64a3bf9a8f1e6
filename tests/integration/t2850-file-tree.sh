#!/bin/bash
# t2850-file-tree: a directory whose contents are a tree of the policy
# (source:), with purge: (what the policy does not declare is removed,
# kept in the backups first) and recurse: (owner, group, mode below).
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

mkpol() {
	rm -rf pol && mkdir -p pol/roles pol/files/sites/sub &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	echo a >pol/files/sites/a.conf && echo b >pol/files/sites/sub/b.conf &&
	chmod 644 pol/files/sites/a.conf pol/files/sites/sub/b.conf &&
	chmod 755 pol/files/sites/sub &&
	printf '#!/bin/sh\n' >pol/files/sites/run.sh && chmod 755 pol/files/sites/run.sh &&
	ln -s a.conf pol/files/sites/link
}

fresh_root() {
	rm -rf root st && test_make_root root && mkdir -p root/etc/sites/old &&
	echo stale >root/etc/sites/stale.conf && echo x >root/etc/sites/old/x &&
	echo old >root/etc/sites/a.conf && echo mine >root/etc/sites/keep.conf
}

test_expect_success 'plan lists every entry it would add, change and purge' '
	mkpol && fresh_root &&
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    source: files/sites
	    purge: true
	  - file: /etc/sites/keep.conf
	    content: "mine\n"
	EOF2
	test_list_root root >before &&
	test_expect_code 2 cg plan --policy pol --root root --state-dir st >out &&
	test_list_root root >after && test_cmp before after &&
	test_grep "    entry a.conf file 0644 sha256:" out &&
	test_grep "+++ /etc/sites/a.conf (policy)" out &&
	test_grep "      -old" out && test_grep "      +a" out &&
	test_grep "+ link (symlink -> a.conf)" out &&
	test_grep "+ run.sh (file 0755)" out &&
	test_grep "+ sub/ (directory 0755)" out &&
	test_grep "+ sub/b.conf (file 0644)" out &&
	test_grep "- old/ (directory, purged)" out &&
	test_grep "- old/x (file, purged; kept in the backups)" out &&
	test_grep "- stale.conf (file, purged; kept in the backups)" out &&
	test_grep_not "keep.conf (" out &&
	test_expect_code 2 cg plan --format json --policy pol --root root --state-dir st >plan.json &&
	"$TOP/tests/lib/json-validate" "$TOP/doc/schema/run.schema.json" plan.json &&
	jq -e "[.resources[0].changes[] | select(.field == \"entry\")] | length == 8" plan.json
'

test_expect_success 'run makes the tree, keeps what another resource declares' '
	test_expect_code 2 cg run --policy pol --root root --state-dir st >out &&
	test_list_root root/etc/sites >got &&
	cat >want <<-\EOF2 &&
	d 755 root:root .
	f 644 root:root ./a.conf 87428fc52280a5f5
	f 644 root:root ./keep.conf 3c2e0a1c9a25d5b1
	l ./link a.conf
	f 755 root:root ./run.sh 4b8bc8de7fd4e2fd
	d 755 root:root ./sub
	f 644 root:root ./sub/b.conf 0263829989b6fd95
	EOF2
	sed "s/ [0-9a-f]\{16\}\$//" got >got.s && sed "s/ [0-9a-f]\{16\}\$//" want >want.s &&
	test_cmp want.s got.s &&
	test "$(cat root/etc/sites/a.conf)" = a &&
	test "$(cat root/etc/sites/keep.conf)" = mine &&
	test "$(find root/etc -name ".*.cg-*" | wc -l)" = 0 &&
	test_expect_code 0 cg plan --policy pol --root root --state-dir st
'

test_expect_success 'what was purged or overwritten is in the backups' '
	cg restore --list --root root --state-dir st >list &&
	grep "^/etc/sites/stale.conf " list &&
	grep "^/etc/sites/old/x " list &&
	grep "^/etc/sites/a.conf " list &&
	mkdir -p root/etc/sites/old &&
	cg restore --root root --state-dir st /etc/sites/old/x &&
	test "$(cat root/etc/sites/old/x)" = x
'

test_expect_success 'without purge, entries the source lacks stay' '
	sed -i "/purge: true/d" pol/roles/base.yaml &&
	echo extra >root/etc/sites/extra.conf &&
	test_expect_code 0 cg run --policy pol --root root --state-dir st &&
	test -f root/etc/sites/extra.conf && test -f root/etc/sites/old/x
'

test_expect_success 'mode and file_mode override the modes of the policy tree' '
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    source: files/sites
	    mode: "0750"
	    file_mode: "0600"
	EOF2
	test_expect_code 2 cg run --policy pol --root root --state-dir st >out &&
	test "$(stat -c %a root/etc/sites root/etc/sites/sub root/etc/sites/a.conf root/etc/sites/run.sh root/etc/sites/sub/b.conf | tr "\n" " ")" = "750 750 600 600 600 " &&
	test "$(stat -c %a root/etc/sites/extra.conf)" = 644 &&
	test_expect_code 0 cg plan --policy pol --root root --state-dir st
'

test_expect_success 'recurse applies owner, group and modes to what is below' '
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    owner: daemon
	    group: adm
	    mode: "0750"
	    file_mode: "0640"
	    recurse: true
	EOF2
	test_expect_code 2 cg run --policy pol --root root --state-dir st >out &&
	test_grep "~ extra.conf mode 0644 -> 0640 owner -> daemon group -> adm" out &&
	test "$(stat -c "%a %u:%g" root/etc/sites/extra.conf root/etc/sites/old root/etc/sites/old/x | tr "\n" " ")" = "640 1:4 750 1:4 640 1:4 " &&
	test "$(stat -c "%u" root/etc/sites/link)" = 0 &&
	test_expect_code 0 cg plan --policy pol --root root --state-dir st
'

test_expect_success 'a symlink planted on the host is replaced, never followed' '
	mkpol && rm -rf root st outside && test_make_root root && mkdir -p root/etc/sites outside &&
	echo secret >outside/a.conf && chmod 600 outside/a.conf &&
	ln -s "$TRASH/outside" root/etc/sites/sub &&
	ln -s "$TRASH/outside/a.conf" root/etc/sites/a.conf &&
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    source: files/sites
	    purge: true
	EOF2
	test_expect_code 2 cg plan --policy pol --root root --state-dir st >out &&
	test_grep "+ sub/ (directory 0755, replacing a symlink, kept in the backups)" out &&
	test_grep "+ a.conf (file 0644, replacing a symlink" out &&
	test_expect_code 2 cg run --policy pol --root root --state-dir st >out &&
	test ! -L root/etc/sites/sub && test -d root/etc/sites/sub &&
	test ! -L root/etc/sites/a.conf && test "$(cat root/etc/sites/a.conf)" = a &&
	test "$(ls outside)" = a.conf && test "$(cat outside/a.conf)" = secret &&
	test "$(stat -c %a outside/a.conf)" = 600 &&
	test_expect_code 0 cg plan --policy pol --root root --state-dir st
'

test_expect_success 'the directory itself as a planted symlink is not walked' '
	rm -rf root st outside && test_make_root root && mkdir -p root/etc outside &&
	echo keep >outside/stale && ln -s "$TRASH/outside" root/etc/sites &&
	test_expect_code 2 cg run --policy pol --root root --state-dir st >out &&
	test -d root/etc/sites && test ! -L root/etc/sites &&
	test "$(ls outside)" = stale && test -f root/etc/sites/sub/b.conf
'

test_expect_success 'a directory where the tree has a file is a failure in plan and run' '
	rm -rf root st && test_make_root root && mkdir -p root/etc/sites/a.conf &&
	test_expect_code 4 cg plan --policy pol --root root --state-dir st >out 2>err &&
	test_grep "is a directory where the policy tree has a file" out &&
	test_expect_code 4 cg run --policy pol --root root --state-dir st >out 2>err &&
	test_grep "is a directory where the policy tree has a file" out &&
	test -d root/etc/sites/a.conf
'

test_expect_success 'a missing source is an error naming the line, with a hint' '
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    source: files/nothere
	EOF2
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "roles/base.yaml:3" out &&
	test_grep "hint: add the directory to the policy repository" out
'

test_expect_success 'the tree is bounded: too deep or too many entries is an error' '
	mkpol && d=pol/files/sites && for i in $(seq 1 33); do d=$d/d; done &&
	mkdir -p $d &&
	cat >pol/roles/base.yaml <<-\EOF2 &&
	resources:
	  - directory: /etc/sites
	    source: files/sites
	EOF2
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "roles/base.yaml:3" out && test_grep "levels deep" out &&
	test_grep "split it into several directory resources" out &&
	cp pol/roles/base.yaml base.yaml && mkpol && cp base.yaml pol/roles/ &&
	mkdir -p pol/files/sites/many &&
	(cd pol/files/sites/many && seq 1 10000 | xargs touch) &&
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "has more than 10000 entries" out
'

test_expect_success 'a host tree over the bound fails the resource, not the run' '
	mkpol && rm -rf root st && test_make_root root && mkdir -p root/etc/sites/many &&
	(cd root/etc/sites/many && seq 1 10001 | xargs touch) &&
	printf "resources:\n  - directory: /etc/sites\n    purge: true\n  - file: /etc/motd\n    content: hi\n" >pol/roles/base.yaml &&
	test_expect_code 6 cg run --policy pol --root root --state-dir st >out 2>&1 &&
	test_grep "more than 10000 entries" out &&
	test "$(ls root/etc/sites/many | wc -l)" = 10001 && test -f root/etc/motd
'

test_expect_success 'state: absent takes no tree keys' '
	printf "resources:\n  - directory: /etc/sites\n    state: absent\n    purge: true\n" >pol/roles/base.yaml &&
	test_expect_code 1 cg check pol >out 2>&1 &&
	test_grep "takes no source, recurse, purge or file_mode" out
'

test_expect_success 'the files of a tree share their syncs (one syncfs, not one fsync each)' '
	if ! strace -o /dev/null true 2>/dev/null; then
		echo "strace cannot trace here: not counted" && return 0
	fi &&
	rm -rf pol/files/big && mkdir -p pol/files/big/a pol/files/big/b &&
	for i in $(seq 1 150); do echo $i >pol/files/big/a/f$i; echo $i >pol/files/big/b/f$i; done &&
	printf "resources:\n  - directory: /srv/big\n    source: files/big\n" >pol/roles/base.yaml &&
	rm -rf root st && test_make_root root &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -c -o trace \
		-e trace=fsync,fdatasync,syncfs "$CONGRUENT" run --policy pol --root root --state-dir st >out 2>err &&
	test "$(find root/srv/big -type f | wc -l)" = 300 &&
	test "$(find root/srv -name ".*.cg-*" | wc -l)" = 0 &&
	syncfs=$(awk "\$NF == \"syncfs\" { print \$4 }" trace) &&
	fsync=$(awk "\$NF == \"fsync\" { print \$4 }" trace) &&
	echo "syncfs ${syncfs:-0} fsync ${fsync:-0}" &&
	test "${syncfs:-0}" -ge 1 && test "${syncfs:-0}" -le 3 &&
	test "${fsync:-0}" -le 30
'

test_done
