#!/bin/sh
# The walking skeleton end to end: sample data -> customers and orders ->
# best sellers -> one personal e-mail per consenting customer in a Maildir;
# a second run sends nothing; a dry run writes nothing.
. "${top_srcdir:?}/tests/lib.sh"

setup_demo() { # DIR
    mkdir -p "$1"
    cp "$top_srcdir/etc/demo.yaml" "$1/"
    cp -r "$top_srcdir/etc/templates" "$1/"
    "$ECRM" sample --out "$1/sample" --customers 60 --items 40 --orders 300
}

D=$T/demo
check "sample data generated" setup_demo "$D"
# who may get mail: email_marketing=yes and an e-mail address
"$PYTHON" - "$D/sample/customers.csv" > "$T/consenting" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if r["email_marketing"].lower() == "yes" and r["email"]:
        print(r["email"].lower())
PY
"$PYTHON" - "$D/sample/customers.csv" > "$T/refusing" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if r["email_marketing"].lower() != "yes" and r["email"]:
        print(r["email"].lower())
PY
n=$(wc -l < "$T/consenting")
check "sample has consenting customers" test "$n" -gt 0
check "sample has customers without consent" test "$(wc -l < "$T/refusing")" -gt 0

# 1. dry run on a fresh store: prints, writes nothing
expect_code 0 "dry run" "$ECRM" run "$D/demo.yaml" --dry-run --json > "$T/dry.json"
check "dry run plans one message per consenting customer" \
    test "$(json_get "$T/dry.json" 'j["messages"]["planned"]')" = "$n"
check "dry run sends nothing" test "$(json_get "$T/dry.json" 'j["messages"]["sent"]')" = 0
check "dry run delivers no mail" test ! -d "$D/mail/new" -o -z "$(ls -A "$D/mail/new" 2>/dev/null)"
check "dry run leaves no rows" test "$(sqlite3 "$D/demo.db" 'select (select count(*) from outbox) + (select count(*) from customers) + (select count(*) from runs)')" = 0

# 2. first real run, off a TTY: silent, one message per consenting customer
"$ECRM" run "$D/demo.yaml" > "$T/out1" 2> "$T/err1"; rc=$?
check "first run exits 0" test "$rc" = 0
check "first run is silent off a TTY" test ! -s "$T/out1" -a ! -s "$T/err1"
check "one mail per consenting customer" test "$(ls "$D/mail/new" | wc -l)" = "$n"
# every consenting address got exactly one message, nobody else any
"$PYTHON" - "$D/mail/new" "$T/consenting" "$T/refusing" <<'PY' && ok || bad "recipients match consent"
import email, email.policy, os, sys
from collections import Counter
box, yes, no = sys.argv[1], set(open(sys.argv[2]).read().split()), set(open(sys.argv[3]).read().split())
got = Counter()
for f in os.listdir(box):
    m = email.message_from_binary_file(open(os.path.join(box, f), "rb"), policy=email.policy.default)
    addr = m["To"].addresses[0].addr_spec.lower()
    got[addr] += 1
    body = m.get_body(preferencelist=("plain",)).get_content()
    first = str(m["To"].addresses[0].display_name).split(" ")[0]
    assert first and body.startswith("Hello " + first + ","), (addr, body[:60])
    assert body.count(". ") >= 1 and "best seller" in body, body
    assert m["Subject"].startswith(first + ", our best sellers"), m["Subject"]
    assert m["Message-ID"] and m["Date"] and m["From"], f
assert set(got) == yes, (set(got) ^ yes)
assert max(got.values()) == 1
assert not (set(got) & no)
PY
check "mail files are 0600" test -z "$(find "$D/mail/new" -type f ! -perm 0600)"
check "database is 0600" test "$(stat -c %a "$D/demo.db")" = 600

# 3. second run: nothing new
expect_code 0 "second run" "$ECRM" run "$D/demo.yaml" --json > "$T/run2.json"
check "second run plans nothing" test "$(json_get "$T/run2.json" 'j["messages"]["planned"]')" = 0
check "second run sends nothing" test "$(json_get "$T/run2.json" 'j["messages"]["sent"]')" = 0
check "second run counts duplicates" test "$(json_get "$T/run2.json" 'j["messages"]["skipped_duplicate"]')" = "$n"
check "still one mail per consenting customer" test "$(ls "$D/mail/new" | wc -l)" = "$n"
check "second run ingests nothing new" test "$(json_get "$T/run2.json" 'j["sources"]["shop_orders"]["read"]')" = 0
check "ledger holds every message as sent" test "$(sqlite3 "$D/demo.db" "select count(*) from outbox where state = 2")" = "$n"

# 4. a dry run after real runs changes nothing either
before=$(sqlite3 "$D/demo.db" 'select count(*) from runs')
expect_code 0 "late dry run" "$ECRM" run "$D/demo.yaml" --dry-run --json > "$T/dry2.json"
check "late dry run keeps no run row" test "$(sqlite3 "$D/demo.db" 'select count(*) from runs')" = "$before"

# 5. JSON summary shape
check "json summary fields" json_get "$T/run2.json" \
    'all(k in j for k in ("run_id","status","sources","messages","stages")) or sys.exit(1)'
check "per-source counts add up" json_get "$T/run2.json" \
    'all(s["read"] == s["accepted"] + s["quarantined"] + s["filtered"] for s in j["sources"].values()) or sys.exit(1)'
finish
