#!/bin/bash
# t2810-file-batch: files next to each other in the order are applied as
# one batch sharing its syncs (one syncfs, one fsync per directory), every
# change on disk before it is reported, and a failing sync fails them all.
. "$(dirname "$0")/../lib/lib.sh"

test_require_root

if ! strace -o /dev/null -e inject=syncfs:error=EIO true 2>/dev/null; then
	test_skip 'batched syncs' 'strace cannot inject faults here'
	test_done
	exit
fi

# N files in D directories, declared after their directories.
mkpol() { # N D [TAG]
	rm -rf pol && mkdir -p pol/roles &&
	printf 'classes:\n  - match: "*"\n    roles: [base]\n' >pol/site.yaml &&
	{
		echo "resources:"
		for d in $(seq 1 "$2"); do echo "  - directory: /srv/d$d"; done
		for i in $(seq 1 "$1"); do
			printf '  - file: /srv/d%d/f%d\n    content: "file %d%s\\n"\n' \
				$((i % $2 + 1)) "$i" "$i" "${3:-}"
		done
	} >pol/roles/base.yaml
}

test_expect_success '300 new files cost a few syncs, not one per file' '
	mkpol 300 3 && test_make_root root &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -c -o trace -e trace=fsync,fdatasync,syncfs,sync \
		"$CONGRUENT" run --policy pol --root root >out 2>err &&
	test "$(find root/srv -type f | wc -l)" = 300 &&
	test "$(find root/srv -name ".*.cg-*" | wc -l)" = 0 &&
	syncfs=$(awk "\$NF == \"syncfs\" { print \$4 }" trace) &&
	fsync=$(awk "\$NF == \"fsync\" { print \$4 }" trace) &&
	echo "syncfs ${syncfs:-0} fsync ${fsync:-0}" &&
	test "${syncfs:-0}" -ge 1 && test "${syncfs:-0}" -le 4 &&
	test "${fsync:-0}" -le 40
'

test_expect_success '300 files overwritten: their backups share the batch syncs' '
	mkpol 300 3 v2 &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -c -o trace -e trace=fsync,fdatasync,syncfs,sync \
		"$CONGRUENT" run --policy pol --root root >out 2>err &&
	test "$(cat root/srv/d2/f1)" = "file 1v2" &&
	syncfs=$(awk "\$NF == \"syncfs\" { print \$4 }" trace) &&
	fsync=$(awk "\$NF == \"fsync\" { print \$4 }" trace) &&
	echo "syncfs ${syncfs:-0} fsync ${fsync:-0}" &&
	test "${syncfs:-0}" -le 8 && test "${fsync:-0}" -le 40 &&
	test "$(grep -c " /srv/d" root/var/lib/congruent/backups/index)" = 300 &&
	test "$(find root/var/lib/congruent/backups/objects -name "tmp-*" | wc -l)" = 0 &&
	cg restore --root root /srv/d2/f1 >out 2>err &&
	test "$(cat root/srv/d2/f1)" = "file 1"
'

test_expect_success 'a backup is in the index and its object in place before the file changes' '
	mkpol 300 3 v3 &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -y -o order.trace -e trace=fsync,syncfs,renameat,unlinkat \
		"$CONGRUENT" run --policy pol --root root >out 2>err &&
	index_at=$(grep -n "fsync(.*backups/index" order.trace | head -1 | cut -d: -f1) &&
	file_at=$(grep -n "renameat(.*\"f[0-9]*\")" order.trace | head -1 | cut -d: -f1) &&
	test -n "$index_at" && test -n "$file_at" &&
	test "$index_at" -lt "$file_at"
'

test_expect_success 'a failing sync changes no file and indexes no backup' '
	cp root/var/lib/congruent/backups/index index.before &&
	mkpol 300 3 v4 &&
	test_expect_code 4 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o /dev/null -e trace=syncfs -e inject=syncfs:error=EIO \
		"$CONGRUENT" run --policy pol --root root >out 2>err &&
	test "$(cat root/srv/d2/f1)" = "file 1v3" &&
	test_cmp index.before root/var/lib/congruent/backups/index &&
	test "$(find root/var/lib/congruent/backups/objects -name "tmp-*" | wc -l)" = 0
'

test_expect_success '100 new directories share their syncs too' '
	mkpol 0 100 && test_make_root rootd &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -c -o traced -e trace=fsync,fdatasync,syncfs,sync \
		"$CONGRUENT" run --policy pol --root rootd >out 2>err &&
	test "$(find rootd/srv -mindepth 1 -type d | wc -l)" = 100 &&
	syncfs=$(awk "\$NF == \"syncfs\" { print \$4 }" traced) &&
	fsync=$(awk "\$NF == \"fsync\" { print \$4 }" traced) &&
	echo "syncfs ${syncfs:-0} fsync ${fsync:-0}" &&
	test "${syncfs:-0}" -le 4 && test "${fsync:-0}" -le 12 &&
	test_expect_code 0 cg run --policy pol --root rootd >out 2>err
'

test_expect_success 'a change is logged only after the sync that made it durable' '
	mkpol 20 2 && test_make_root root2 &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o trace2 -s 200 -e trace=syncfs,write \
		"$CONGRUENT" run --policy pol --root root2 >out 2>err &&
	first_sync=$(grep -n "syncfs(" trace2 | head -1 | cut -d: -f1) &&
	first_log=$(grep -n "repaired file:/srv/d" trace2 | head -1 | cut -d: -f1) &&
	test -n "$first_sync" && test -n "$first_log" &&
	test "$first_sync" -lt "$first_log"
'

test_expect_success 'a failing syncfs fails every file of the batch, changes none' '
	mkpol 20 2 && test_make_root root3 && mkdir -p root3/srv/d1 root3/srv/d2 &&
	echo old >root3/srv/d2/f1 &&
	test_expect_code 4 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o /dev/null -e trace=syncfs -e inject=syncfs:error=EIO \
		"$CONGRUENT" run --format json --policy pol --root root3 >run.json 2>err &&
	test "$(jq "[.resources[] | select(.id | startswith(\"file:\")) |
		select(.status == \"failed\")] | length" run.json)" = 20 &&
	test "$(jq "[.resources[] | select(.status == \"repaired\")] | length" run.json)" = 0 &&
	jq -r ".resources[] | select(.status == \"failed\") | .error.message" run.json |
		sort -u >msgs &&
	test_grep "could not be made durable" msgs &&
	test_grep_not "repaired file:" err &&
	test "$(cat root3/srv/d2/f1)" = old &&
	test "$(find root3/srv -type f | wc -l)" = 1
'

test_expect_success 'the next run, with syncs that work, repairs them all' '
	test_expect_code 2 cg run --policy pol --root root3 >out 2>err &&
	test "$(find root3/srv -type f | wc -l)" = 20 &&
	test "$(cat root3/srv/d2/f1)" = "file 1" &&
	test_expect_code 0 cg run --policy pol --root root3 >out 2>err
'

test_expect_success 'a no-op run syncs nothing; its report is written all the same' '
	rm -f root3/var/lib/congruent/reports/last-run.json &&
	test_expect_code 0 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o noop.trace -e trace=fsync,fdatasync,syncfs,sync \
		"$CONGRUENT" run --policy pol --root root3 >/dev/null 2>&1 &&
	! grep -q sync noop.trace &&
	test "$(jq -r .exit_status root3/var/lib/congruent/reports/last-run.json)" = 0
'

test_expect_success 'the report of a run that changed something is fsynced, after the changes' '
	echo tampered >root3/srv/d2/f1 &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -y -o change.trace -e trace=fsync,syncfs,renameat \
		"$CONGRUENT" run --policy pol --root root3 >/dev/null 2>&1 &&
	grep -n "fsync(.*last-run.json" change.trace &&
	file_at=$(grep -n "renameat(.*\"f1\")" change.trace | head -1 | cut -d: -f1) &&
	report_at=$(grep -n "fsync(.*last-run.json" change.trace | head -1 | cut -d: -f1) &&
	test "$file_at" -lt "$report_at"
'

test_expect_success 'a small batch fsyncs its files at the same time, not one after the other' '
	mkpol 3 1 x && test_make_root root5 && mkdir -p root5/srv/d1 &&
	test_expect_code 2 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o par.trace -e trace=fsync \
		"$CONGRUENT" run --policy pol --root root5 >out 2>err &&
	test "$(find root5/srv -type f | wc -l)" = 3 &&
	test "$(grep "fsync(" par.trace | cut -d" " -f1 | sort -u | wc -l)" -ge 3
'

test_expect_success 'a small batch fsyncs each file; a failing fsync fails them all' '
	mkpol 3 1 && test_make_root root4 && mkdir -p root4/srv/d1 &&
	test_expect_code 4 env ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -o /dev/null -e trace=fsync \
		-e inject=fsync:error=EIO:when=1 \
		"$CONGRUENT" run --format json --policy pol --root root4 >run.json 2>err &&
	test "$(jq "[.resources[] | select(.id | startswith(\"file:\")) |
		select(.status == \"failed\")] | length" run.json)" = 3 &&
	test "$(find root4/srv -type f | wc -l)" = 0 &&
	test "$(find root4/srv -name ".*.cg-*" | wc -l)" = 0
'

test_done
