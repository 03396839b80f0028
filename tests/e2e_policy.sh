#!/bin/sh
# The contact policy as cron meets it: a frequency cap across campaigns, and
# quiet hours in each customer's own time zone delaying delivery.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/p
mkdir -p "$D"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 50 --items 30 --orders 300
n=$("$PYTHON" -c 'import csv,sys
print(sum(1 for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"]=="yes" and r["email"]))' "$D/sample/customers.csv")
# the demo pipeline's welcome with a second campaign and a contact policy
demo_pipeline "$T/welcome.yaml"
sed -e 's/^campaigns:$/contact_policy:\n  max_per_day: 1\n  quiet_hours: "21:00-08:00"\n  default_timezone: UTC\ncampaigns:/' \
    "$T/welcome.yaml" > "$D/demo.yaml"
cat >> "$D/demo.yaml" <<'Y'
  second:
    personalizer: bestsellers
    items: 2
    channel: mail
    subject: "{{ customer.first_name }}, two more"
    template: templates/welcome.txt
Y
expect_code 0 "valid pipeline with a contact policy" "$ECRM" check "$D/demo.yaml"

# noon UTC: nobody's night in the sample's zones? Use each customer's zone:
# plan and deliver at 12:00 UTC
"$ECRM" run "$D/demo.yaml" --now 2025-06-02T12:00:00Z --json > "$T/r1.json"; rc=$?
check "run exits 0" test "$rc" = 0
check "one message per consenting customer across two campaigns" \
    test "$(json_get "$T/r1.json" 'j["messages"]["planned"]')" = "$n"
check "the second campaign was capped for each of them" \
    test "$(json_get "$T/r1.json" 'j["messages"]["capped"]')" = "$n"
night=$(json_get "$T/r1.json" 'j["messages"]["delayed_quiet_hours"]')
sent=$(json_get "$T/r1.json" 'j["messages"]["sent"]')
check "those outside their night were sent at once" test "$sent" = $((n - night))
check "each customer got at most one message" test "$(sqlite3 "$D/demo.db" \
    "select max(c) from (select count(*) c from outbox where state in (0,2) group by customer_id)")" = 1
# the cap holds on a later run the same day
"$ECRM" run "$D/demo.yaml" --now 2025-06-02T18:00:00Z --json > "$T/r2.json"
check "same day: nothing more planned" test "$(json_get "$T/r2.json" 'j["messages"]["planned"]')" = 0
# next morning everyone's night is over: the delayed ones go, once
"$ECRM" run "$D/demo.yaml" --now 2025-06-03T12:00:00Z --stage deliver --json > "$T/r3.json"
check "delayed messages delivered after the night" test "$(json_get "$T/r3.json" 'j["messages"]["sent"]')" = "$night"
check "every planned message sent exactly once" test "$(ls "$D/mail/new" | wc -l)" = "$n"

# quiet hours: at 23:00 UTC a UTC customer waits until 08:00
D2=$T/q
mkdir -p "$D2"
cp -r "$D/templates" "$D/sample" "$D2/"
sed -e 's/max_per_day: 1/max_per_day: 0/' "$D/demo.yaml" | sed '/^  second:$/,$d' > "$D2/demo.yaml"
"$PYTHON" - "$D2/sample/customers.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
for r in rows: r["time_zone"] = "UTC"
w = csv.DictWriter(open(sys.argv[1], "w", encoding="utf-8", newline=""), fieldnames=rows[0].keys())
w.writeheader(); w.writerows(rows)
PY
"$ECRM" run "$D2/demo.yaml" --now 2025-06-02T23:00:00Z --json > "$T/q1.json"
check "at 23:00 every message waits" test "$(json_get "$T/q1.json" 'j["messages"]["delayed_quiet_hours"]')" = "$n"
check "at 23:00 nothing is sent" test "$(json_get "$T/q1.json" 'j["messages"]["sent"]')" = 0
"$ECRM" run "$D2/demo.yaml" --now 2025-06-03T07:59:00Z --stage deliver --json > "$T/q2.json"
check "at 07:59 still nothing" test "$(json_get "$T/q2.json" 'j["messages"]["sent"]')" = 0
"$ECRM" run "$D2/demo.yaml" --now 2025-06-03T08:00:00Z --stage deliver --json > "$T/q3.json"
check "at 08:00 all are sent" test "$(json_get "$T/q3.json" 'j["messages"]["sent"]')" = "$n"

printf 'contact_policy:\n  quiet_hours: "late"\n' > "$T/bad.yaml"
"$ECRM" check "$T/bad.yaml" 2> "$T/err"; rc=$?
check "bad quiet hours: exit 65" test "$rc" = 65
check "bad quiet hours located" grep -q "bad.yaml:2:16: 'quiet_hours' must be HH:MM-HH:MM" "$T/err"
finish
