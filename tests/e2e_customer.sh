#!/bin/sh
# The 360-degree view, the consent registry and the right to be forgotten,
# as an admin uses them on the demo pipeline.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/demo
mkdir -p "$D"
demo_pipeline "$D/demo.yaml"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 40 --items 30 --orders 200
# a segment, so that show and forget meet memberships and derived figures
printf 'segments:\n  buyers: orders_count > 0\n' >> "$D/demo.yaml"
P="-p $D/demo.yaml"
# a customer who agreed to e-mail, and one who did not
read -r yes_id yes_email <<EOF2
$("$PYTHON" -c 'import csv,sys
r=[r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"]=="yes" and r["email"]][0]
print(r["customer_id"], r["email"])' "$D/sample/customers.csv")
EOF2
no_id=$("$PYTHON" -c 'import csv,sys
print([r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"]!="yes"][0]["customer_id"])' "$D/sample/customers.csv")

# plan only: messages wait in the outbox
expect_code 0 "plan" "$ECRM" run "$D/demo.yaml" --stage ingest,segment,personalize,plan

# --- customer show, by external id, e-mail (any case) and #id
"$ECRM" customer show "$yes_id" $P > "$T/show.txt"; check "show exits 0" test $? = 0
check "show has the profile" grep -q "^  external_id  $yes_id\$" "$T/show.txt"
check "show has consents with evidence" grep -q "channel=email  purpose=marketing  state=granted  source=registration  evidence=" "$T/show.txt"
check "show has orders or a message" grep -Eq "^(orders|messages):" "$T/show.txt"
upper=$(echo "$yes_email" | tr a-z A-Z)
"$ECRM" customer show "$upper" $P --json > "$T/show.json"; check "show by e-mail, any case" test $? = 0
check "json profile" json_get "$T/show.json" '(j["profile"]["email"] == sys.argv[2]) or sys.exit(1)' "$yes_email"
check "json shows current segments" json_get "$T/show.json" \
    '("buyers" in [m["segment"] for m in j.get("segments", [])] or j["derived"]["orders_count"] == 0) or sys.exit(1)'
check "json shows derived attributes" json_get "$T/show.json" '("orders_count" in j["derived"]) or sys.exit(1)'
check "json message planned" json_get "$T/show.json" '(j["messages"][0]["state"] == "planned") or sys.exit(1)'
cid=$(json_get "$T/show.json" 'j["profile"]["id"]')
"$ECRM" customer show "#$cid" $P --json > "$T/show2.json"
check "show by #id" cmp -s "$T/show.json" "$T/show2.json"
"$ECRM" customer show "x' OR '1'='1" $P 2> "$T/err"; rc=$?
check "injection-looking id is just an unknown customer" test "$rc" = 65
check "unknown customer named" grep -q "no customer 'x' OR '1'='1'" "$T/err"

# --- export: everything, as JSON, 0600
expect_code 0 "export" "$ECRM" customer export "$yes_id" $P --out "$T/export.json"
check "export is 0600" test "$(stat -c %a "$T/export.json")" = 600
check "export has every section with data" json_get "$T/export.json" \
    'all(k in j for k in ("profile","attributes","identities","consents","consent_history","messages")) or sys.exit(1)'

# --- consent: a revoke is one step and suppresses the waiting message
expect_code 0 "consent revoke" "$ECRM" consent revoke "$yes_id" $P --channel email --purpose marketing --evidence "phoned the shop"
"$ECRM" consent show "$yes_id" $P --json > "$T/consent.json"
check "revoke in force" json_get "$T/consent.json" \
    '([c for c in j["consents"] if c["channel"]=="email" and c["purpose"]=="marketing"][0]["state"] == "revoked") or sys.exit(1)'
check "history keeps the grant and the revoke" json_get "$T/consent.json" \
    '(len([c for c in j["consent_history"] if c["channel"]=="email"]) >= 2) or sys.exit(1)'
check "evidence kept" json_get "$T/consent.json" '(j["consent_history"][0]["evidence"] == "phoned the shop") or sys.exit(1)'
# --- a source revokes between plan and delivery: the revoke wins
read -r id2 email2 <<EOF3
$("$PYTHON" -c 'import csv,sys
r=[r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"]=="yes" and r["email"]][1]
print(r["customer_id"], r["email"])' "$D/sample/customers.csv")
EOF3
"$ECRM" customer show "$id2" $P --json > "$T/c3.json"
check "second customer's message waits in the outbox" json_get "$T/c3.json" '(j["messages"][0]["state"] == "planned") or sys.exit(1)'
# the shop's export now says "no" for them (a later registration row)
"$PYTHON" - "$D/sample/customers.csv" "$id2" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
r = [r for r in rows if r["customer_id"] == sys.argv[2]][0]
r["email_marketing"] = "no"; r["registered_at"] = "2026-06-01T00:00:00Z"
w = csv.DictWriter(open(sys.argv[1], "a", encoding="utf-8", newline=""), fieldnames=rows[0].keys())
w.writerow(r)
PY
expect_code 0 "ingest the revoke" "$ECRM" run "$D/demo.yaml" --stage ingest
expect_code 0 "deliver" "$ECRM" run "$D/demo.yaml" --stage deliver
check "customer revoked by the source got no mail" test -z "$(grep -rl "$email2" "$D/mail/new" 2>/dev/null)"
"$ECRM" customer show "$id2" $P --json > "$T/c4.json"
check "their message is suppressed for no consent" json_get "$T/c4.json" \
    '(j["messages"][0]["state"] == "suppressed" and j["messages"][0]["reason"] == "no_consent") or sys.exit(1)'
check "others were delivered" test "$(ls "$D/mail/new" | wc -l)" -gt 0

check "revoked customer got no mail" test -z "$(grep -rl "$yes_email" "$D/mail/new" 2>/dev/null)"
"$ECRM" customer show "$yes_id" $P --json > "$T/after.json"
check "message suppressed for no consent" json_get "$T/after.json" \
    '(j["messages"][0]["state"] == "suppressed" and j["messages"][0]["reason"] == "no_consent") or sys.exit(1)'
expect_code 64 "consent needs channel and purpose" "$ECRM" consent grant "$no_id" $P 2>/dev/null
expect_code 0 "admin grant" "$ECRM" consent grant "$no_id" $P --channel sms --purpose service
"$ECRM" consent show "$no_id" $P > "$T/c2.txt"
check "admin grant shown with source admin" grep -q "channel=sms  purpose=service  state=granted  source=admin" "$T/c2.txt"

# --- one-click unsubscribe with a signed token (made here in Python, the
# way the smtp channel makes it: b64url(payload) "." b64url(hmac))
id3=$("$PYTHON" -c 'import csv,sys
print([r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"]=="yes" and r["email"]][2]["customer_id"])' "$D/sample/customers.csv")
"$ECRM" customer show "$id3" $P --json > "$T/c5.json"
cid3=$(json_get "$T/c5.json" 'j["profile"]["id"]')
mktoken() { # CID EXPIRES SECRET
    "$PYTHON" -c 'import base64,hmac,hashlib,sys
b=lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
p=("1:%s:%s:welcome" % (sys.argv[1], sys.argv[2])).encode()
print(b(p) + "." + b(hmac.new(sys.argv[3].encode(), p, hashlib.sha256).digest()))' "$@"
}
export ECRM_UNSUBSCRIBE_SECRET="a secret of more than sixteen bytes"
good=$(mktoken "$cid3" 0 "$ECRM_UNSUBSCRIBE_SECRET")
forged=$(mktoken "$cid3" 0 "another secret of sixteen bytes")
expired=$(mktoken "$cid3" 1700000000 "$ECRM_UNSUBSCRIBE_SECRET")
expect_code 65 "forged token refused" "$ECRM" unsubscribe "$forged" $P 2>/dev/null
expect_code 65 "expired token refused" "$ECRM" unsubscribe "$expired" $P 2>/dev/null
expect_code 65 "garbage token refused" "$ECRM" unsubscribe "x'; DROP TABLE consents;--" $P 2>/dev/null
env -u ECRM_UNSUBSCRIBE_SECRET "$ECRM" unsubscribe "$good" $P 2>"$T/err"; rc=$?
check "no secret: exit 69" test "$rc" = 69
check "no secret: says which variable" grep -q "ECRM_UNSUBSCRIBE_SECRET" "$T/err"
"$ECRM" consent show "$id3" $P --json > "$T/c6.json"
check "consent still granted after refused tokens" json_get "$T/c6.json" \
    '([c for c in j["consents"] if c["channel"]=="email" and c["purpose"]=="marketing"][0]["state"] == "granted") or sys.exit(1)'
"$ECRM" unsubscribe "https://shop.example/u?t=$good&x=1" $P --json > "$T/u.json"
check "unsubscribe via the link: exit 0" test $? = 0
check "unsubscribe reports the campaign" json_get "$T/u.json" '(j["campaign"] == "welcome" and j["state"] == "revoked") or sys.exit(1)'
"$ECRM" consent show "$id3" $P --json > "$T/c7.json"
check "unsubscribe revoked e-mail marketing with source unsubscribe" json_get "$T/c7.json" \
    '([c for c in j["consents"] if c["channel"]=="email" and c["purpose"]=="marketing"][0]["source"] == "unsubscribe") or sys.exit(1)'
expect_code 0 "unsubscribing twice is harmless" "$ECRM" unsubscribe "$good" $P

# --- forget: personal data gone, aggregates kept, no silent re-enrolment
orders_before=$(sqlite3 "$D/demo.db" "select count(*) from order_lines")
expect_code 64 "forget needs --yes" "$ECRM" customer forget "$yes_id" $P 2>/dev/null
expect_code 0 "forget" "$ECRM" customer forget "$yes_id" $P --yes
check "no trace of the e-mail in the store" test "$(sqlite3 "$D/demo.db" .dump | grep -ci "$yes_email")" = 0
check "no trace of the external id in the store" test "$(sqlite3 "$D/demo.db" .dump | grep -c "'$yes_id'")" = 0
check "no merge reason names the forgotten customer" test "$(sqlite3 "$D/demo.db" "select count(*) from customer_merges where (kept = $cid or merged = $cid) and reason <> 'forgotten'")" = 0
check "segment memberships and derived figures forgotten" test "$(sqlite3 "$D/demo.db" "select (select count(*) from segment_members where customer_id = $cid) + (select count(*) from customer_derived where customer_id = $cid)")" = 0
check "order lines kept as anonymous aggregates" test "$(sqlite3 "$D/demo.db" "select count(*) from order_lines")" = "$orders_before"
expect_code 65 "forgotten customer is not found" "$ECRM" customer show "$yes_id" $P 2>/dev/null
# the same registration file comes again: the address must not be re-enrolled
sqlite3 "$D/demo.db" "delete from checkpoints"
expect_code 0 "re-import and run" "$ECRM" run "$D/demo.yaml"
check "re-imported address got no marketing mail" test -z "$(grep -rl "$yes_email" "$D/mail/new" 2>/dev/null)"
"$ECRM" consent show "$yes_id" $P --json > "$T/re.json"
check "re-imported grant recorded as revoked" json_get "$T/re.json" \
    '([c for c in j["consents"] if c["channel"]=="email" and c["purpose"]=="marketing"][0]["state"] == "revoked") or sys.exit(1)'

# --- the lock: no change while a run holds the pipeline
(
    exec 9>>"$D/demo.db.lock"
    flock 9
    sleep 2
) &
sleep 0.3
expect_code 75 "consent change waits for no run" "$ECRM" consent grant "$no_id" $P --channel email --purpose marketing 2>/dev/null
wait
finish
