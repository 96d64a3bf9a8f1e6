#!/bin/bash
# t7750-fleet-html-scale: the HTML page at 10,000 hosts and 300 resources,
# rendered by headless Chromium (only with CG_TEST_BROWSER=1): its size,
# the time to load it, that nothing is wider than the window, and a
# screenshot (fleet-scale.png in the trash directory, kept with
# CG_TEST_KEEP).
. "$(dirname "$0")/../lib/lib.sh"

if [ "${CG_TEST_BROWSER:-0}" != 1 ]; then
	test_skip 'html at 10,000 hosts in headless Chromium' 'CG_TEST_BROWSER=1 runs it'
	test_done
	exit
fi

NOW=$(date +%s)
git init -q --bare central.git
perl "$TOP/tests/bench/gen-reports.pl" 10000 2 "$NOW" 40 300 |
	git --git-dir=central.git fast-import --quiet
git --git-dir=central.git pack-refs --all

chrome() { HOME=$TRASH timeout 300 chromium --headless --no-sandbox --disable-gpu \
	--allow-file-access-from-files "$@" 2>>chromium.log; }

test_expect_success 'html at 10,000 hosts: small enough to load' '
	test_expect_code 4 cg fleet --reports central.git --format html >fleet.html &&
	size=$(wc -c <fleet.html) &&
	say "fleet.html: $size bytes" &&
	test "$size" -lt 10000000 &&
	hosts=$(git --git-dir=central.git for-each-ref refs/heads/hosts/ | wc -l) &&
	test "$hosts" -gt 9000 &&
	test "$(grep -c "<tr data-host=" fleet.html)" = "$hosts" &&
	test_grep "<dl class=\"legend\" id=\"legend\">" fleet.html &&
	test_grep "<table id=\"resources\">" fleet.html
'

test_expect_success 'rendered: nothing wider than a 1200-pixel window' '
	cat >frame.html <<-HTML &&
	<!DOCTYPE html><html><body>
	<iframe id="f" src="fleet.html" style="width:1200px;height:800px;border:0"></iframe>
	<script>
	var t0 = Date.now();
	document.getElementById("f").onload = function () {
		var d = this.contentDocument.documentElement;
		document.body.setAttribute("data-result",
			d.scrollWidth + " " + d.clientWidth + " " + (Date.now() - t0));
	};
	</script></body></html>
	HTML
	chrome --virtual-time-budget=60000 --dump-dom "file://$TRASH/frame.html" >dom.html &&
	read -r sw cw ms <<<"$(sed -n "s/.*data-result=\"\([0-9 ]*\)\".*/\1/p" dom.html)" &&
	say "scrollWidth $sw, clientWidth $cw, loaded in $ms ms" &&
	test -n "$sw" && test "$sw" -le "$cw"
'

test_expect_success 'a screenshot of the top of the page' '
	chrome --screenshot="$TRASH/fleet-scale.png" --window-size=1200,1600 \
		"file://$TRASH/fleet.html" &&
	test -s fleet-scale.png
'

test_done
