#!/bin/sh
# ecrm report end to end: the sample shop with a web log and segments, run
# once; then every report in every format (text, JSON, CSV, HTML), the
# formats agreeing with each other, and the CLI's errors and exit codes.
# The shop is made by tests/report_shop.sh.
. "${top_srcdir:?}/tests/lib.sh"

. "$top_srcdir/tests/report_shop.sh"
D=$T/shop
check "the shop is made and runs" make_shop "$D"
P=$D/shop.yaml
R="$ECRM report $P --now 2025-06-15T00:00:00Z"
json_ok() { json_get "$@" > /dev/null; }

# --- every report, every format
for kind in run "campaign welcome" audit customers web; do
    name=${kind%% *}
    # shellcheck disable=SC2086
    $R $kind > "$T/$name.txt" 2> "$T/$name.err"; rc=$?
    check "$name: text exits 0" test "$rc" = 0
    check "$name: text is not empty" test -s "$T/$name.txt"
    check "$name: nothing on stderr" test ! -s "$T/$name.err"
    $R $kind --json > "$T/$name.json"
    check "$name: JSON parses" json_ok "$T/$name.json" 'j["report"]'
    $R $kind --csv > "$T/$name.csv"
    check "$name: CSV has a block per JSON table" "$PYTHON" - "$T/$name.csv" "$T/$name.json" <<'PY'
import csv, json, sys
blocks, cur = {}, None
for line in open(sys.argv[1], newline="", encoding="utf-8").read().split("\r\n"):
    if line.startswith("# table: "):
        cur = line[9:]; blocks[cur] = []
    elif line and cur:
        blocks[cur].append(line)
j = json.load(open(sys.argv[2]))
assert set(blocks) == set(j["tables"]), (set(blocks) ^ set(j["tables"]))
for name, rows in j["tables"].items():
    parsed = list(csv.reader(blocks[name]))
    assert parsed[0] == list(rows[0].keys()) if rows else True, name
    assert len(parsed) == len(rows) + 1, (name, len(parsed), len(rows))
PY
    $R $kind --html "$T/$name.html" > "$T/$name.html.out" 2>&1; rc=$?
    check "$name: --html exits 0" test "$rc" = 0
    check "$name: --html prints nothing" test ! -s "$T/$name.html.out"
    check "$name: the HTML file is 0600" test "$(stat -c %a "$T/$name.html")" = 600
    check "$name: HTML has charts" grep -q '<svg class="chart"' "$T/$name.html"
    check "$name: every chart is well-formed XML with a size" "$PYTHON" - "$T/$name.html" <<'PY'
import re, sys, xml.etree.ElementTree as ET
page = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r'<svg class="chart".*?</svg>', page, flags=re.S)
assert svgs
for s in svgs:
    e = ET.fromstring(s)
    assert float(e.get("width")) > 0 and float(e.get("height")) > 0
    assert e.find("{http://www.w3.org/2000/svg}title") is not None
PY
done

# --- what the reports say
check "run: sources as the run counted them" json_ok "$T/run.json" \
    '[s["read"] for s in j["tables"]["sources"] if s["source"] == "web"] == [101] or sys.exit(1)'
check "run: counts add up per source" json_ok "$T/run.json" \
    'all(s["read"] == s["accepted"] + s["quarantined"] + s["filtered"] for s in j["tables"]["sources"]) or sys.exit(1)'
sent=$(sqlite3 "$D/demo.db" "select count(*) from outbox where state = 2")
check "run: sent messages by channel" json_ok "$T/run.json" \
    "[c['sent'] for c in j['tables']['channels']] == [$sent] or sys.exit(1)"
check "run: what it delivered by channel" json_ok "$T/run.json" \
    "[(c['channel'], c['sent']) for c in j['tables']['delivered']] == [('mail', $sent)] or sys.exit(1)"
check "run: recommendation coverage" json_ok "$T/run.json" \
    "j['tables']['recommendations'][0]['customers'] == $sent or sys.exit(1)"
check "run: the stages' seconds" json_ok "$T/run.json" \
    '[s["stage"] for s in j["tables"]["stages"]] == ["ingest","segment","personalize","export","plan","deliver"] or sys.exit(1)'
check "run: segments evaluated" json_ok "$T/run.json" \
    'sorted(s["segment"] for s in j["tables"]["segments"]) == ["big_spenders","buyers"] or sys.exit(1)'
check "campaign: control and B" json_ok "$T/campaign.json" \
    '[g["variant"] for g in j["tables"]["groups"]] == ["control","B"] or sys.exit(1)'
check "campaign: a verdict in words" json_ok "$T/campaign.json" \
    'j["notes"][0].startswith("variant B: ") and " pp, CI [" in j["notes"][0] or sys.exit(1)'
assigned=$(sqlite3 "$D/demo.db" "select count(*) from campaign_assignments where campaign = 'welcome'")
check "campaign: the run assigned customers" test "$assigned" -gt 0
check "campaign: recipients are everyone assigned" json_ok "$T/campaign.json" \
    "sum(g['recipients'] for g in j['tables']['groups']) == $assigned or sys.exit(1)"
check "campaign: the control group got nothing" json_ok "$T/campaign.json" \
    '[g["delivered"] for g in j["tables"]["groups"] if g["variant"] == "control"] == [0] or sys.exit(1)'
check "campaign: the run report shows the control group's suppressions" json_ok "$T/run.json" \
    '[s["messages"] for s in j["tables"]["suppressed"] if s["reason"] == "control_group"][0] > 0 or sys.exit(1)'
check "run: the budget of the campaign" json_ok "$T/run.json" \
    "[(b['campaign'], b['budget_messages'], b['messages']) for b in j['tables']['budget']] == [('welcome', 1000, $sent)] or sys.exit(1)"
check "campaign: text shows the verdict" grep -q "^variant B: [+-][0-9.]* pp, CI \[" "$T/campaign.txt"
check "audit: reach is the customers sent to" json_ok "$T/audit.json" \
    "[c['reach'] for c in j['tables']['channels'] if c['channel'] == '(all)'] == [$sent] or sys.exit(1)"
check "audit: by gender adds up to all customers" json_ok "$T/audit.json" \
    'sum(r["customers"] for r in j["tables"]["reach_gender"]) == 120 or sys.exit(1)'
check "customers: the RFM grid" json_ok "$T/customers.json" \
    'len(j["tables"]["rfm"]) == 25 or sys.exit(1)'
check "customers: RFM heat map drawn" grep -q 'data-kind="heat"' "$T/customers.html"
check "web: sessions of the log" json_ok "$T/web.json" \
    'j["tables"]["summary"][0]["sessions"] == 41 or sys.exit(1)'
check "web: keywords from search engines" json_ok "$T/web.json" \
    'sorted(k["keywords"] for k in j["tables"]["keywords"]) == ["<script>alert(1)</script>","buy shoes","red shoes"] or sys.exit(1)'
check "web: markup from the log is escaped in HTML" grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" "$T/web.html"
check "web: no markup from the log in HTML" test "$(grep -c "<script" "$T/web.html")" = 0
check "campaign: line chart of sends and orders" grep -q 'data-kind="line"' "$T/campaign.html"

# --- options
$R customers --by country,income_band --table pivot --csv > "$T/pivot.csv"
check "--table prints one plain CSV table" "$PYTHON" - "$T/pivot.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
assert rows[0][:3] == ["country", "income_band", "customers"], rows[0]
assert sum(int(r[2]) for r in rows[1:]) == 120
PY
$R web --depth 2 --limit 3 --json > "$T/web2.json"
check "--limit and --depth" json_ok "$T/web2.json" \
    'len(j["tables"]["paths"]) == 3 and all(p["path"].count(" > ") <= 2 for p in j["tables"]["paths"]) or sys.exit(1)'
$R audit --campaign welcome --since 2025-06-01 --until 2025-06-02 --json > "$T/audit2.json"
check "audit of one campaign and day" json_ok "$T/audit2.json" \
    "j['meta']['campaign'] == 'welcome' and j['tables']['channels'][-1]['reach'] == $sent or sys.exit(1)"
$R run --run 1 --html - > "$T/stdout.html"
check "--html - writes to stdout" grep -q '^<!DOCTYPE html>' "$T/stdout.html"
"$ECRM" report --db "$D/demo.db" run --json > "$T/db.json"
check "--db instead of a pipeline" json_ok "$T/db.json" 'j["meta"]["run"] == "1" or sys.exit(1)'

# --- errors and exit codes
expect_code 64 "no such report" "$ECRM" report "$P" nonsense 2> "$T/e1"
check "it names the reports" grep -q "run, campaign, audit, customers, web" "$T/e1"
expect_code 64 "campaign needs a name" "$ECRM" report "$P" campaign 2>/dev/null
expect_code 65 "no such run" "$ECRM" report "$P" run --run 99 2> "$T/e2"
check "no such run: said" grep -q "no run 99 in this store" "$T/e2"
expect_code 65 "no such campaign" "$ECRM" report "$P" campaign nope 2>/dev/null
expect_code 65 "a dimension that is neither" "$ECRM" report "$P" customers --by "x;y" 2> "$T/e3"
check "bad dimension: said" grep -q "neither a dimension" "$T/e3"
expect_code 69 "no store" "$ECRM" report --db "$T/none.db" run 2>/dev/null
expect_code 73 "HTML file cannot be created" "$ECRM" report "$P" run --html "$T/no/such/dir/r.html" 2>/dev/null
expect_code 64 "a bad time" "$ECRM" report "$P" audit --since yesterday 2>/dev/null
expect_code 0 "help" "$ECRM" help report > /dev/null
finish
