#!/bin/sh
# Segments as an admin uses them: the sample's orders and web events
# ingested, segments of every kind materialised by `ecrm run`, read back
# with `ecrm segment list|count|show`, and a `trigger: entered` campaign
# that addresses only the customers who entered its segment since it last
# planned.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/shop
mkdir -p "$D"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 60 --items 40 --orders 300 \
    --events 900 --email-consent 1
# the demo's sources: customers, orders and sample/events.csv
sed -n '/^store:/,/^personalizers:/p' "$top_srcdir/etc/demo.yaml" |
    sed '$d' > "$D/shop.yaml"
check "the demo reads the sample's events" grep -q "path: sample/events.csv" "$D/shop.yaml"
cat >> "$D/shop.yaml" <<'EOF'
personalizers:
  bestsellers: {plugin: popular, window_days: 0}

channels:
  mail: {plugin: maildir, path: mail, from: "Shop <shop@example.com>"}

segments:
  buyers: orders_count > 0
  browsers: visited("/product/*", last 30 days)
  fans:
    where: events("newsletter_click") >= 1 and not buyers
    description: newsletter readers who never bought
  seeds_example: gender = "m" and age between 25 and 30 and children > 0 and income > 40000 and spent(last 6 months) > 100

campaigns:
  browse_followup:
    segment: browsers
    trigger: entered
    personalizer: bestsellers
    items: 2
    channel: mail
    subject: "{{ customer.first_name }}, still looking?"
    template: templates/welcome.txt
    recurrence: daily
EOF
P=$D/shop.yaml
DB=$D/demo.db
q() { sqlite3 "$DB" "$1"; }

expect_code 0 "check" "$ECRM" check "$P"
expect_code 0 "run at T1" "$ECRM" run "$P" --now 2026-01-01T00:00:00Z \
    --stage ingest,segment,personalize,plan
check "events ingested" test "$(q 'select count(*) from events')" = 900

# --- segment list
"$ECRM" segment list "$P" > "$T/list.txt"
check "list exits 0" test $? = 0
check "list header" grep -q '^SEGMENT  *MEMBERS  *ENTERED  *LEFT  *EXPRESSION$' "$T/list.txt"
for s in buyers browsers fans seeds_example; do
    n=$(q "select count(*) from segment_members where segment = '$s' and left_at is null")
    check "list: $s has $n members" grep -Eq "^$s +$n +$n +0 " "$T/list.txt"
done
check "some customers browse" test "$(q "select count(*) from segment_members where segment = 'browsers'")" -gt 0
check "buyers are most customers" test "$(q "select count(*) from segment_members where segment = 'buyers'")" -gt 30
"$ECRM" segment list "$P" --json > "$T/list.json"
check "list --json" json_get "$T/list.json" \
    '([s["name"] for s in j] == ["buyers", "browsers", "fans", "seeds_example"] and j[0]["full"] and j[0]["evaluated_at"] == "2026-01-01T00:00:00Z" and j[2]["expression"].startswith("events(")) or sys.exit(1)'

# --- segment count and show
buyers=$(q "select count(*) from segment_members where segment = 'buyers' and left_at is null")
check "count" test "$("$ECRM" segment count "$P" buyers)" = "$buyers"
check "count --json" json_get /dev/stdin '(j == {"segment": "buyers", "members": int(sys.argv[2])}) or sys.exit(1)' "$buyers" <<EOF
$("$ECRM" segment count "$P" buyers --json)
EOF
"$ECRM" segment show "$P" buyers --limit 3 > "$T/show.txt"
check "show --limit 3" test "$(wc -l < "$T/show.txt")" = 3
check "show: id, name, e-mail, entry time" grep -Eq '^C[0-9]{6}	[^	]+	[^	]+@[^	]+	2026-01-01T00:00:00Z$' "$T/show.txt"
"$ECRM" segment show "$P" buyers --json > "$T/show.json"
check "show --json" json_get "$T/show.json" '(len(j) == int(sys.argv[2]) and all(m["entered"] == "2026-01-01T00:00:00Z" for m in j)) or sys.exit(1)' "$buyers"
expect_code 65 "unknown segment" "$ECRM" segment count "$P" nope 2> "$T/err"
check "unknown segment named" grep -q "no segment 'nope'" "$T/err"
expect_code 64 "no pipeline" "$ECRM" segment list 2> /dev/null
expect_code 64 "bad --limit" "$ECRM" segment show "$P" buyers --limit x 2> /dev/null
expect_code 64 "unknown sub-command" "$ECRM" segment drop "$P" buyers 2> /dev/null

# --- trigger: entered. At T1 every browser is new to the campaign.
first=$(q "select count(*) from outbox where campaign = 'browse_followup'")
browsers=$(q "select count(*) from segment_members where segment = 'browsers' and left_at is null")
check "T1: a message per browser" test "$first" = "$browsers"
# A customer who was no browser looks at a product on 2 January.
who=$(q "select external_id from customers where id not in (select customer_id from segment_members where segment = 'browsers') order by id limit 1")
echo "$who,page_view,/product/S000001,S000001,2026-01-02T10:00:00Z" >> "$D/sample/events.csv"
expect_code 0 "run at T2" "$ECRM" run "$P" --now 2026-01-03T00:00:00Z \
    --stage ingest,segment,personalize,plan
check "T2: $who entered browsers" test "$(q "select count(*) from segment_members m join customers c on c.id = m.customer_id where c.external_id = '$who' and m.segment = 'browsers' and m.left_at is null and m.entered_at = strftime('%s', '2026-01-03T00:00:00')")" = 1
check "T2: only the newcomer is addressed" test "$(q "select count(*) from outbox where campaign = 'browse_followup'")" = $((first + 1))
check "T2: the newcomer's message" test "$(q "select count(*) from outbox o join customers c on c.id = o.customer_id where o.campaign = 'browse_followup' and c.external_id = '$who'")" = 1
# December's visitors whose views left the 30-day window left the segment,
# with the run's time
check "T2: left with the run's clock" test "$(q "select count(*) from segment_members where segment = 'browsers' and left_at is not null and left_at != strftime('%s', '2026-01-03T00:00:00')")" = 0
# the same clock again: nothing new, nobody addressed
expect_code 0 "run at T2 again" "$ECRM" run "$P" --now 2026-01-03T00:00:00Z \
    --stage ingest,segment,personalize,plan
check "T2 again: no new message" test "$(q "select count(*) from outbox where campaign = 'browse_followup'")" = $((first + 1))
finish
