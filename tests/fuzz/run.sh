#!/bin/sh
# run.sh: run each libFuzzer target for SECONDS on a copy of its corpus.
#
#   tests/fuzz/run.sh SECONDS build/fuzz/fuzz-NAME...
#
# The corpus of fuzz-NAME is tests/fuzz/corpus/NAME/; it is copied to
# build/fuzz/run/NAME/ first, so what the fuzzer adds never lands in the
# tree. One target at a time, one process each (the machine is shared).
# A crash, a leak, a timeout or running out of memory stops at once with
# the failing input in build/fuzz/artifacts/NAME/ and exit status 1.
set -eu
cd "$(dirname "$0")/../.."

[ $# -ge 2 ] || { echo "usage: $0 SECONDS FUZZER..." >&2; exit 2; }
secs=$1
shift
case "$secs" in
'' | *[!0-9]*) secs=0 ;;
esac
# 0 would be libFuzzer's "no limit".
if [ "$secs" -eq 0 ]; then
	echo "run.sh: SECONDS must be a number above 0" >&2
	exit 2
fi

failed=
for bin in "$@"; do
	name=${bin##*/fuzz-}
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/run/$name
	art=build/fuzz/artifacts/$name
	[ -d "$seeds" ] || { echo "run.sh: no corpus $seeds" >&2; exit 2; }
	rm -rf "$work"
	mkdir -p "$work" "$art"
	cp "$seeds"/* "$work"/
	# A dictionary of the format's words, where there is one.
	dict=
	case $name in
	policy | yaml) dict=-dict=tests/fuzz/policy.dict ;;
	iptables) dict=-dict=tests/fuzz/iptables.dict ;;
	esac
	echo "== fuzz $name: ${secs}s, $(ls "$seeds" | wc -l) seeds"
	# libFuzzer runs every seed first (crash-* seeds are regressions),
	# then mutates; one process (no -jobs, which forks workers).
	if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$art/" $dict \
		"$work" >"$art/fuzz.log" 2>&1; then
		echo "run.sh: fuzz-$name FAILED; see $art/ (last lines below)" >&2
		tail -n 40 "$art/fuzz.log" >&2
		failed="$failed $name"
		continue
	fi
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$art/fuzz.log" |
		sed 's/^/   /' || true
done
if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed" >&2
	exit 1
fi
