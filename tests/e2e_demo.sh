#!/bin/sh
# The demo end to end, as `make demo` runs it: the sample's customers,
# orders with returns and web events -> segments -> rules, item-to-item CF
# and a hybrid of both -> a win-back experiment (A/B and a control group)
# and a welcome campaign under a daily cap, into a Maildir. Every decision
# is accounted for per campaign and arm, nobody without consent or in the
# control group gets the campaign's mail, a second run sends nothing, a
# later day sends what the cap held back, a dry run writes nothing.
. "${top_srcdir:?}/tests/lib.sh"

NOW=2026-01-02T10:00:00Z # as `make demo`: the day after the sample's year
setup_demo() { # DIR
    mkdir -p "$1"
    cp "$top_srcdir/etc/demo.yaml" "$1/"
    cp -r "$top_srcdir/etc/templates" "$1/"
    "$ECRM" sample --out "$1/sample" --events 5000
}

D=$T/demo
P=$D/demo.yaml
check "sample data generated" setup_demo "$D"
q() { sqlite3 "$D/demo.db" "$1"; }
# who may get mail: email_marketing=yes and an e-mail address
"$PYTHON" - "$D/sample/customers.csv" "$T/consenting" "$T/refusing" <<'PY'
import csv, sys
yes, no = open(sys.argv[2], "w"), open(sys.argv[3], "w")
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if r["email"]:
        print(r["email"].lower(), file=yes if r["email_marketing"].lower() == "yes" else no)
PY
n=$(wc -l < "$T/consenting")
check "sample has consenting customers" test "$n" -gt 0
check "sample has customers without consent" test "$(wc -l < "$T/refusing")" -gt 0
check "sample has returns" grep -q '^R' "$D/sample/orders.csv"
check "sample has product views" grep -q ',page_view,/product/' "$D/sample/events.csv"
expect_code 0 "the demo pipeline is valid" "$ECRM" check "$P"

# 1. dry run on a fresh store: prints, writes nothing
expect_code 0 "dry run" "$ECRM" run "$P" --now "$NOW" --dry-run --json > "$T/dry.json"
dry_planned=$(json_get "$T/dry.json" 'j["messages"]["planned"]')
check "dry run plans messages" test "$dry_planned" -gt 0
check "dry run sends nothing" test "$(json_get "$T/dry.json" 'j["messages"]["sent"]')" = 0
check "dry run delivers no mail" test ! -d "$D/mail/new" -o -z "$(ls -A "$D/mail/new" 2>/dev/null)"
check "dry run leaves no rows" test "$(q 'select (select count(*) from outbox) + (select count(*) from customers) + (select count(*) from runs) + (select count(*) from campaign_assignments)')" = 0

# 2. first real run, off a TTY: silent
"$ECRM" run "$P" --now "$NOW" --json > "$T/run1.json" 2> "$T/err1"; rc=$?
check "first run exits 0" test "$rc" = 0
check "first run warns of nothing" test ! -s "$T/err1"
# --now is the run's clock: it starts then and ends then plus what it took
check "the run is recorded at --now, start and end" test "$(q "select count(*) from runs where started = strftime('%s', '$NOW') and finished between started and started + 60")" = 1
check "first run plans what the dry run planned" \
    test "$(json_get "$T/run1.json" 'j["messages"]["planned"]')" = "$dry_planned"
check "every source read everything, bad or good" json_get "$T/run1.json" \
    'all(s["read"] > 0 and s["read"] == s["accepted"] + s["quarantined"] + s["filtered"] for s in j["sources"].values()) and len(j["sources"]) == 3 or sys.exit(1)'
check "return lines ingested" test "$(q 'select count(*) from order_lines where quantity < 0')" -gt 0
check "events ingested as views, carts..." test "$(q "select count(*) from events where type = 'view'")" -gt 0

# segments: all four non-empty, as the store and `ecrm segment` see them
for s in young_family_men champions lapsed window_shoppers; do
    m=$(json_get "$T/run1.json" "j['segments']['$s']['members']")
    check "segment $s is not empty" test "$m" -gt 0
    check "ecrm segment count $s agrees" test "$("$ECRM" segment count "$P" "$s")" = "$m"
done
# the seeds' example, checked against the sample's own columns
q "select c.external_id from segment_members m join customers c on c.id = m.customer_id where m.segment = 'young_family_men'" > "$T/yfm"
"$PYTHON" - "$D/sample/customers.csv" "$T/yfm" <<'PY' && ok || bad "young_family_men members fit the profile part of the expression"
import csv, sys
rows = {r["customer_id"]: r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))}
for cid in open(sys.argv[2]).read().split():
    r = rows[cid]
    y, m, d = map(int, r["birth_date"].split("-"))
    age = 2026 - y - ((m, d) > (1, 2))
    assert r["gender"] == "m" and int(r["children"]) > 0 and float(r["income"]) > 30000 and 25 <= age <= 40, r
PY

# accounting: one outbox row per customer each campaign looked at; per
# campaign and arm, rows = sent + suppressed by reason; JSON agrees
check "welcome looked at every customer once" \
    test "$(q "select count(distinct customer_id) || ' ' || count(*) from outbox where campaign = 'welcome'")" = \
    "$(q 'select count(*) || " " || count(*) from customers')"
check "winback looked at every lapsed customer once" \
    test "$(q "select count(*) from outbox where campaign = 'winback'")" = "$(q "select count(*) from segment_members where segment = 'lapsed'")"
check "winback's rows are its segment's members" \
    test "$(q "select count(*) from outbox o where campaign = 'winback' and not exists (select 1 from segment_members m where m.segment = 'lapsed' and m.customer_id = o.customer_id)")" = 0
q "select campaign, ifnull(variant, '-'), state, ifnull(reason, '-'), count(*) from outbox group by 1, 2, 3, 4" > "$T/arms"
"$PYTHON" - "$T/run1.json" "$T/arms" <<'PY' && ok || bad "messages per campaign and arm add up"
import json, sys
from collections import Counter
j = json.load(open(sys.argv[1]))
m = j["messages"]
rows = [l.split("|") for l in open(sys.argv[2]).read().split("\n") if l]
sent, supp, reasons, arms = 0, 0, Counter(), Counter()
for camp, arm, state, reason, k in rows:
    k = int(k)
    assert state in ("2", "5"), rows           # all sent or suppressed
    if state == "2":
        sent += k
        assert reason == "-" and arm in (("a", "b") if camp == "winback" else ("-",)), rows
    else:
        supp += k
        reasons[reason] += k
    arms[camp, arm, state, reason] = k
# the experiment: both variants mailed, the control group only recorded
assert arms["winback", "a", "2", "-"] > 0 and arms["winback", "b", "2", "-"] > 0, rows
assert arms["winback", "control", "5", "control_group"] > 0, rows
assert all(a == "control" for (c, a, s, r) in arms if r == "control_group"), rows
assert all(a == "-" for (c, a, s, r) in arms if r == "no_consent"), rows  # no arm without a channel
# what the run says it did
assert m["planned"] == m["sent"] == sent, (m, sent)
assert m["suppressed"] == supp == sum(m["suppressed_by_reason"].values()), (m, supp)
assert all(m["suppressed_by_reason"][r] == k for r, k in reasons.items()), (m, reasons)
assert reasons["capped"] == m["capped"] == arms["winback", "a", "2", "-"] + arms["winback", "b", "2", "-"], (m, arms)
assert m["failed"] == m["retry"] == m["skipped_duplicate"] == 0, m
PY
"$ECRM" report "$P" campaign winback --now "$NOW" --json > "$T/camp.json"
check "campaign report: control got nothing, variants all delivered" json_get "$T/camp.json" \
    '[(g["variant"], g["recipients"] > 0, g["delivered"] == (0 if g["variant"] == "control" else g["recipients"])) for g in j["tables"]["groups"]] == [("control", True, True), ("a", True, True), ("b", True, True)] or sys.exit(1)'

# the mails: each one a sent outbox row (file name = provider id), to a
# consenting address, in its arm's words with its number of items, and
# nobody in the winback control group gets the winback
q "select o.provider_id, o.campaign, ifnull(o.variant, '-'), lower(o.address), ifnull(a.variant, '-') from outbox o left join campaign_assignments a on a.campaign = 'winback' and a.customer_id = o.customer_id where o.state = 2" > "$T/sent"
"$PYTHON" - "$D/mail/new" "$T/sent" "$T/consenting" "$T/refusing" <<'PY' && ok || bad "mails match the ledger, consent and arms"
import email, email.policy, os, sys
from collections import Counter
box = sys.argv[1]
ledger = {l.split("|")[0]: l.split("|")[1:] for l in open(sys.argv[2]).read().split("\n") if l}
yes, no = set(open(sys.argv[3]).read().split()), set(open(sys.argv[4]).read().split())
files = os.listdir(box)
assert sorted(files) == sorted(ledger), "mail files and sent rows differ"
got = Counter()
for f in files:
    camp, variant, addr, arm = ledger[f]
    m = email.message_from_binary_file(open(os.path.join(box, f), "rb"), policy=email.policy.default)
    to = m["To"].addresses[0].addr_spec.lower()
    assert to == addr and to in yes and to not in no, (f, to)
    got[to] += 1
    first = str(m["To"].addresses[0].display_name).split(" ")[0]
    body = m.get_body(preferencelist=("plain",)).get_content()
    subject = str(m["Subject"])
    if camp == "welcome":
        want = (first + ", picked for you", "Hello " + first + ",", 3)
    elif variant == "a":
        want = (first + ", we have missed you", "Hello " + first + ",", 4)
    else:
        want = (first + ", picked for you: 4 ideas", first + ", four ideas for you:", 4)
    assert camp != "winback" or (arm == variant and arm in ("a", "b")), (f, camp, arm)
    assert subject == want[0] and body.startswith(want[1]), (subject, body[:60])
    skus = [l.split("[")[1].split("]")[0] for l in body.split("\n") if "[S" in l]
    assert len(skus) == want[2] == len(set(skus)), (f, skus)
    assert m["Message-ID"] and m["Date"] and m["From"], f
# a daily cap of 1: every consenting customer got exactly one mail today
assert set(got) == yes and max(got.values()) == 1, set(got) ^ yes
PY
check "no winback row for the control group but its suppression" \
    test "$(q "select count(*) from outbox o join campaign_assignments a on a.campaign = o.campaign and a.customer_id = o.customer_id where o.campaign = 'winback' and a.variant = 'control' and (o.state != 5 or o.reason != 'control_group')")" = 0
check "mail files are 0600" test -z "$(find "$D/mail/new" -type f ! -perm 0600)"
check "database is 0600" test "$(stat -c %a "$D/demo.db")" = 600
sent1=$(ls "$D/mail/new" | wc -l)

# 3. second run at the same time: nothing new
expect_code 0 "second run" "$ECRM" run "$P" --now "$NOW" --json > "$T/run2.json"
check "second run plans nothing" test "$(json_get "$T/run2.json" 'j["messages"]["planned"]')" = 0
check "second run sends nothing" test "$(json_get "$T/run2.json" 'j["messages"]["sent"]')" = 0
# (the control group's rows are final too)
check "second run counts duplicates" test "$(json_get "$T/run2.json" 'j["messages"]["skipped_duplicate"]')" = \
    $((sent1 + $(json_get "$T/run1.json" 'j["messages"]["suppressed_by_reason"]["control_group"]')))
check "no new mail" test "$(ls "$D/mail/new" | wc -l)" = "$sent1"
check "second run ingests nothing new" \
    json_get "$T/run2.json" 'all(s["read"] == 0 for s in j["sources"].values()) or sys.exit(1)'
check "second run keeps every arm" test "$(q "select count(*) from campaign_assignments where campaign = 'winback'")" = \
    "$(q "select count(*) from outbox where campaign = 'winback' and variant is not null")"

# 4. a dry run after real runs changes nothing either
before=$(q 'select count(*) from runs')
expect_code 0 "late dry run" "$ECRM" run "$P" --now "$NOW" --dry-run --json > "$T/dry2.json"
check "late dry run keeps no run row" test "$(q 'select count(*) from runs')" = "$before"
check "late dry run writes no mail" test "$(ls "$D/mail/new" | wc -l)" = "$sent1"

# 5. the next day: the welcome mails the cap held back go out, once; the
# monthly winback sends nobody a second one
capped=$(json_get "$T/run1.json" 'j["messages"]["capped"]')
expect_code 0 "next day" "$ECRM" run "$P" --now 2026-01-03T12:00:00Z --json > "$T/run3.json"
check "next day: the capped welcomes are sent" test "$(q "select count(*) from outbox where campaign = 'welcome' and state = 2")" = "$n"
check "next day: nothing capped any more" test "$(json_get "$T/run3.json" 'j["messages"]["capped"]')" = 0
check "next day: each customer has one welcome and at most one winback" \
    test "$(q "select count(*) from (select customer_id from outbox where state = 2 group by campaign, customer_id having count(*) > 1)")" = 0
check "next day: as many new mails as sent" test "$(ls "$D/mail/new" | wc -l)" = \
    $((sent1 + $(json_get "$T/run3.json" 'j["messages"]["sent"]')))
check "next day: at least the capped ones" test "$(json_get "$T/run3.json" 'j["messages"]["sent"]')" -ge "$capped"

# 6. JSON summary shape
check "json summary fields" json_get "$T/run2.json" \
    'all(k in j for k in ("run_id","status","sources","messages","stages","segments")) or sys.exit(1)'
finish
