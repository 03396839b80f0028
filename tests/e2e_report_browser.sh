#!/bin/sh
# The HTML reports in a real browser: every report of the test shop is
# opened in headless Chromium (tests/browser_check.py, through the DevTools
# protocol), screenshotted, and must show every chart with a size and
# visible ink, and log no error. Two broken copies prove the check can
# fail: one with its charts emptied, one loading an external image (the
# page's Content Security Policy blocks it, and the browser logs that).
# Skipped (77) without /usr/bin/chromium (Debian's chromium package).
. "${top_srcdir:?}/tests/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: $CHROMIUM is not installed"
    exit 77
fi
. "$top_srcdir/tests/report_shop.sh"
check "the shop is made and runs" make_shop "$T/shop"
R="$ECRM report $T/shop/shop.yaml --now 2025-06-15T00:00:00Z"
for kind in run "campaign welcome" audit customers web; do
    # shellcheck disable=SC2086
    check "${kind%% *}: HTML written" $R $kind --html "$T/${kind%% *}.html"
done
"$PYTHON" - "$T/run.html" "$T/blank.html" "$T/external.html" <<'PY'
import re, sys
page = open(sys.argv[1], encoding="utf-8").read()
blank = re.sub(r'(<svg class="chart"[^>]*>).*?(</svg>)', r"\1\2", page, flags=re.S)
open(sys.argv[2], "w", encoding="utf-8").write(blank)
open(sys.argv[3], "w", encoding="utf-8").write(
    page.replace("<main>", '<main><img src="http://127.0.0.1:9/logo.png" alt="">', 1))
PY
mkdir -p "$T/shots"
CHROMIUM=$CHROMIUM "$PYTHON" "$top_srcdir/tests/browser_check.py" "$T/shots" \
    "$T/run.html" "$T/campaign.html" "$T/audit.html" "$T/customers.html" \
    "$T/web.html" "$T/blank.html" "$T/external.html" > "$T/browser.out" 2>&1
rc=$?
cat "$T/browser.out"
check "the check ran (exit 1: the broken copies failed)" test "$rc" = 1
for page in run campaign audit customers web; do
    check "$page: rendered in Chromium with every chart, no error" \
        grep -q "^$page.html: ok, [1-9][0-9]* charts" "$T/browser.out"
    check "$page: screenshot taken" test -s "$T/shots/$page.png"
done
check "run: the sources, segments, messages, stages and activity charts" \
    grep -q "^run.html: ok, 5 charts" "$T/browser.out"
check "customers: the RFM heat map among its charts" grep -q 'data-kind="heat"' "$T/customers.html"
check "emptied charts are caught" grep -q "is blank on screen" "$T/browser.out"
check "emptied charts: no shapes either" grep -q "draws no shape" "$T/browser.out"
check "an external asset is blocked and logged" \
    grep -A3 "^external.html: FAILED" "$T/browser.out" | grep -q "Content Security Policy"
finish
