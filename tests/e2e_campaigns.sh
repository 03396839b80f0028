#!/bin/sh
# Campaigns end to end, with the real binary, a Maildir and the HTTP SMS
# gateway of tests/sms_gateway.py started here: preferred channel and
# fallback, a dry run showing SMS segments and cost, budgets by count and
# cost with the most valuable customers first, window and send hour,
# recurrence once vs daily, the goal, A/B variants and the control group
# over many customers, and every suppression reason recorded in the ledger
# (a suppression never blocking a later legitimate message).
. "${top_srcdir:?}/tests/lib.sh"

start_sms_gateway
port=$GW_PORT
G=$GW
q() { sqlite3 "$1" "$2"; }

# write_customers FILE: id,email,phone,first_name,tz,email_ok,sms_ok,channel
write_customers() {
    f=$1; shift
    echo "customer_id,email,phone,first_name,time_zone,email_marketing,sms_marketing,channel,registered_at" > "$f"
    for row in "$@"; do echo "$row,2025-01-01T00:00:00Z" >> "$f"; done
}
# the pipeline head shared by the scenarios: customers, orders, best
# sellers, a Maildir and the gateway (PATH on it)
head_yaml() { # DIR [GATEWAY_PATH] [MAX_SEGMENTS]
    cat > "$1/p.yaml" <<Y
store: {path: p.db}
sources:
  customers:
    path: customers.csv
    columns: {external_id: customer_id, tz: time_zone}
    attributes: {channel: channel}
    consents: {email/marketing: email_marketing, sms/marketing: sms_marketing}
    consent_time: registered_at
    default_country_code: "+44"
  orders:
    path: orders.csv
    columns: {customer: customer_id, time: ordered_at}
    time_format: iso8601
personalizers:
  best: {plugin: popular, window_days: 0}
channels:
  mail: {plugin: maildir, path: mail, from: "Shop <shop@example.com>"}
  sms: {plugin: sms_http, url: "http://127.0.0.1:$port${2:-/ok}", max_segments: ${3:-3}}
Y
    printf 'Hi {{ customer.first_name }}! Our picks for you this week: {{#each items}}{{ title }}; {{/each}}\n' > "$1/sms.txt"
    printf 'Dear {{ customer.first_name }},\n{{#each items}}* {{ title }}\n{{/each}}\n' > "$1/mail.txt"
}
# orders: every customer in "$@" bought AMOUNT (id:amount) in May 2025
write_orders() {
    f=$1; shift
    echo "order_id,line,customer_id,sku,title,category,quantity,unit_price,currency,ordered_at" > "$f"
    n=0
    for pair in "$@"; do
        n=$((n + 1))
        echo "O$n,1,${pair%%:*},S$n,Mug $n,kitchen,1,${pair#*:},EUR,2025-05-10T10:00:00Z" >> "$f"
    done
}

# ---------------------------------------------------------------------------
# 1. Preferred channel, fallback, invalid addresses; a dry run first
D=$T/ch
mkdir -p "$D"
head_yaml "$D"
write_customers "$D/customers.csv" \
    "c01,c01@example.com,+447700900001,Ann,UTC,yes,yes,email" \
    "c02,c02@example.com,+447700900002,Bob,UTC,yes,yes," \
    "c03,c03@example.com,,Cid,UTC,yes,no," \
    "c04,c04@example.com,+447700900004,Dan,UTC,yes,yes," \
    "c05,,+447700900005,Eve,UTC,no,yes," \
    "c06,c06@example.com,+447700900006,Fay,UTC,no,no," \
    "c07,c07@example.com,+447700900007,Анна,UTC,no,yes,sms"
write_orders "$D/orders.csv" c01:10 c02:20 c03:30
cat >> "$D/p.yaml" <<'Y'
campaigns:
  spring:
    personalizer: best
    items: 2
    channels: [sms, mail]
    preferred_channel: channel
    subject: "{{ customer.first_name }}, spring picks"
    template: mail.txt
    templates: {sms: sms.txt}
    unit_cost: {sms: 0.05, mail: 0.001}
Y
expect_code 0 "campaign with channels is valid" "$ECRM" check "$D/p.yaml"
expect_code 0 "ingest" "$ECRM" run "$D/p.yaml" --stage ingest --now 2025-06-02T11:00:00Z
# numbers no SMS gateway takes (the customers source would refuse them:
# they come from elsewhere)
q "$D/p.db" "update customers set phone = '12345' where external_id in ('c04', 'c05')"
"$ECRM" run "$D/p.yaml" --dry-run --stage plan,deliver --now 2025-06-02T12:00:00Z > "$T/dry.out"; rc=$?
check "dry run exits 0" test "$rc" = 0
check "dry run: GSM-7 SMS with segments and cost" \
    grep -q "would send spring via sms to +447700900002: 1 segment (GSM-7), cost 0.0500: Hi Bob" "$T/dry.out"
check "dry run: UCS-2 SMS takes 2 segments, costs twice" \
    grep -q "would send spring via sms to +447700900007: 2 segments (UCS-2), cost 0.1000: Hi Анна" "$T/dry.out"
check "dry run: e-mail with its cost" \
    grep -q "would send spring via mail to c01@example.com: cost 0.0010: Ann, spring picks" "$T/dry.out"
check "dry run: summary by reason" grep -q "suppressed: 1 no_consent, 1 invalid_address" "$T/dry.out"
check "dry run wrote nothing" test "$(q "$D/p.db" 'select (select count(*) from outbox) + (select count(*) from campaign_assignments) + (select count(*) from campaigns) + (select count(*) from runs where stats like "%dry_run%true%")')" = 0
check "dry run sent nothing" test "$(requests)" = 0
check "dry run delivered no mail" test -z "$(ls "$D/mail/new" 2>/dev/null)"

"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --json > "$T/r1.json"; rc=$?
check "run exits 0" test "$rc" = 0
ch() { q "$D/p.db" "select coalesce(o.channel || ':' || ifnull(o.reason, 'msg'), '-') from outbox o join customers c on c.id = o.customer_id where c.external_id = '$1'"; }
check "preferred e-mail wins over the list order" test "$(ch c01)" = "mail:msg"
check "no preference: the first channel" test "$(ch c02)" = "sms:msg"
check "no SMS consent: fallback to e-mail" test "$(ch c03)" = "mail:msg"
check "invalid phone: fallback to e-mail" test "$(ch c04)" = "mail:msg"
check "consent but no reachable address: invalid_address" test "$(ch c05)" = "sms:invalid_address"
check "no consent anywhere: no_consent" test "$(ch c06)" = "sms:no_consent"
check "preferred SMS" test "$(ch c07)" = "sms:msg"
check "two SMS went to the gateway" test "$(requests)" = 2
check "three e-mails in the Maildir" test "$(ls "$D/mail/new" | wc -l)" = 3
check "segments and cost stored at planning" test \
    "$(q "$D/p.db" "select segments || '/' || cost from outbox where address = '+447700900007'")" = "2/0.1"
check "e-mail: no segments, its cost" test \
    "$(q "$D/p.db" "select ifnull(segments, 'null') || '/' || cost from outbox where address = 'c01@example.com'")" = "null/0.001"
check "--json counts suppressions by reason" \
    json_get "$T/r1.json" '(j["messages"]["suppressed_by_reason"]["no_consent"] == 1 and j["messages"]["suppressed_by_reason"]["invalid_address"] == 1 and j["messages"]["suppressed"] == 2) or sys.exit(1)'
# a suppression does not block: consent arrives later in the period
"$ECRM" consent grant c06 --channel email --purpose marketing --now 2025-06-02T13:00:00Z -p "$D/p.yaml" >/dev/null
"$ECRM" run "$D/p.yaml" --now 2025-06-02T14:00:00Z --json > "$T/r2.json"
check "after consent the suppressed customer gets the message" test "$(ch c06)" = "mail:msg"
check "one row per customer and period" test "$(q "$D/p.db" "select count(*) from outbox o join customers c on c.id = o.customer_id where c.external_id = 'c06'")" = 1
check "the others were not planned again" test "$(json_get "$T/r2.json" 'j["messages"]["planned"]')" = 1
check "and nothing was sent twice" test "$(requests)" = 2
# a channel that takes one segment: the UCS-2 text is too long for it
sed -i "/^  sms: /a\\  sms1: {plugin: sms_http, url: \"http://127.0.0.1:$port/ok\", max_segments: 1}" "$D/p.yaml"
cat >> "$D/p.yaml" <<'Y'
  short:
    personalizer: best
    items: 2
    channel: sms1
    template: sms.txt
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T15:00:00Z --json > "$T/r3.json"
check "over the channel's segment limit: too_long" test \
    "$(q "$D/p.db" "select c.external_id from outbox o join customers c on c.id = o.customer_id where campaign = 'short' and reason = 'too_long'")" = c07
check "the GSM-7 ones fit in one segment" test \
    "$(q "$D/p.db" "select group_concat(c.external_id, ' ') from (select * from outbox where campaign = 'short' and state = 2 and segments = 1 order by customer_id) o join customers c on c.id = o.customer_id")" = "c01 c02"

# ---------------------------------------------------------------------------
# 2. Budgets: by count with the most valuable customers first, by cost in
#    id order; a cap across campaigns; the goal; the control group
D=$T/budget
mkdir -p "$D"
head_yaml "$D"
write_customers "$D/customers.csv" \
    "b1,b1@example.com,,A,UTC,yes,no," "b2,b2@example.com,,B,UTC,yes,no," \
    "b3,b3@example.com,,C,UTC,yes,no," "b4,b4@example.com,,D,UTC,yes,no," \
    "b5,b5@example.com,,E,UTC,yes,no," "b6,b6@example.com,,F,UTC,yes,no,"
write_orders "$D/orders.csv" b1:10 b2:500 b3:50 b4:300 b6:100
cat >> "$D/p.yaml" <<'Y'
campaigns:
  top:
    personalizer: best
    channel: mail
    subject: "For you"
    template: mail.txt
    budget_messages: 3
    goal_days: 14
  cheap:
    personalizer: best
    channel: mail
    subject: "Cheap"
    template: mail.txt
    unit_cost: {mail: 0.4}
    budget_cost: 1.0
    priority: none
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --json > "$T/b1.json"
top() { q "$D/p.db" "select group_concat(c.external_id, ' ') from (select * from outbox where campaign = '$1' and $2 order by customer_id) o join customers c on c.id = o.customer_id"; }
check "budget by count: the three most valuable" test "$(top top 'state = 2')" = "b2 b4 b6"
check "the rest suppressed for budget" test "$(top top "reason = 'budget'")" = "b1 b3 b5"
check "budget by cost, id order: 2 x 0.4 fit in 1.0" test "$(top cheap 'state = 2')" = "b1 b2"
check "budget by cost: the rest suppressed" test "$(top cheap "reason = 'budget'")" = "b3 b4 b5 b6"
check "goal and budgets stored with the campaign" test \
    "$(q "$D/p.db" "select name || ':' || ifnull(goal_days, '-') || ':' || ifnull(budget_messages, '-') || ':' || ifnull(budget_cost, '-') from campaigns order by name" | tr '\n' ' ')" = "cheap:-:-:1.0 top:14:3:- "
check "assignments recorded for the targeted customers" test \
    "$(q "$D/p.db" "select count(*) from campaign_assignments where campaign = 'top' and variant = 'default'")" = 6
# a frequency cap across campaigns, and the control group
sed -i 's/^campaigns:$/contact_policy: {max_per_day: 1}\ncampaigns:/' "$D/p.yaml"
cat >> "$D/p.yaml" <<'Y'
  held:
    personalizer: best
    channel: mail
    subject: "Held"
    template: mail.txt
    recurrence: daily
    control_percent: 50
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T15:00:00Z --json > "$T/b2.json"
# who had a message today before `held`: b1, b2, b4, b6
had="exists (select 1 from outbox o where o.customer_id = h.customer_id and o.campaign in ('top', 'cheap') and o.state = 2)"
check "capped exactly those with a message today" test \
    "$(q "$D/p.db" "select sum(reason = 'capped') || ':' || sum(reason = 'capped' and $had) || ':' || sum(state = 2 and $had) from outbox h where campaign = 'held'")" = \
    "$(q "$D/p.db" "select count(*) || ':' || count(*) || ':0' from campaign_assignments h where campaign = 'held' and variant != 'control' and $had")"
check "some were capped, some were not" test \
    "$(q "$D/p.db" "select count(distinct ifnull(reason, 'sent')) from outbox where campaign = 'held'")" -ge 2
check "--json: capped and control_group by reason" json_get "$T/b2.json" \
    '(j["messages"]["suppressed_by_reason"]["capped"] >= 1 and j["messages"]["suppressed_by_reason"]["control_group"] >= 1) or sys.exit(1)'
check "control members are in the assignments" test \
    "$(q "$D/p.db" "select count(*) from campaign_assignments a join outbox o on o.customer_id = a.customer_id and o.campaign = a.campaign where a.campaign = 'held' and a.variant = 'control' and o.reason = 'control_group'")" = \
    "$(q "$D/p.db" "select count(*) from campaign_assignments where campaign = 'held' and variant = 'control'")"
n_ctrl=$(q "$D/p.db" "select count(*) from campaign_assignments where campaign = 'held' and variant = 'control'")
# next day: no cap any more; control members still get nothing
"$ECRM" run "$D/p.yaml" --now 2025-06-03T16:00:00Z --json > "$T/b3.json"
check "next day the treated customers get the daily campaign" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'held' and period = '2025-06-03' and state = 2")" = $((6 - n_ctrl))
check "control members get nothing, recorded again for the period" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'held' and period = '2025-06-03' and reason = 'control_group'")" = "$n_ctrl"
# a forgotten customer
"$ECRM" customer forget b5 --yes -p "$D/p.yaml" >/dev/null
"$ECRM" run "$D/p.yaml" --now 2025-06-04T17:00:00Z --json > "$T/b4.json"
check "forgotten customer: reason forgotten" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'held' and period = '2025-06-04' and reason = 'forgotten'")" = 1

# ---------------------------------------------------------------------------
# 3. Window, send hour in the customer's zone, recurrence, quiet hours
D=$T/hours
mkdir -p "$D"
head_yaml "$D"
write_customers "$D/customers.csv" \
    "u1,u1@example.com,,Utc,UTC,yes,no," \
    "u2,u2@example.com,,Warsaw,Europe/Warsaw,yes,no," \
    "u3,u3@example.com,,York,America/New_York,yes,no,"
write_orders "$D/orders.csv" u2:10 u3:20
cat >> "$D/p.yaml" <<'Y'
campaigns:
  ten:
    personalizer: best
    channel: mail
    subject: "At ten"
    template: mail.txt
    start: 2025-06-01
    end: 2025-06-30
    send_hour: 10
  once1:
    personalizer: best
    channel: mail
    subject: "Once"
    template: mail.txt
    recurrence: once
    start: 2025-06-01
    end: 2025-06-30
  daily1:
    personalizer: best
    channel: mail
    subject: "Daily"
    template: mail.txt
    recurrence: daily
    start: 2025-06-01
    end: 2025-06-30
Y
"$ECRM" run "$D/p.yaml" --now 2025-05-31T12:00:00Z --json > "$T/h0.json"
check "before the window: nothing planned" test "$(json_get "$T/h0.json" 'j["messages"]["planned"]')" = 0
"$ECRM" run "$D/p.yaml" --now 2025-06-02T08:30:00Z --stage ingest,plan > /dev/null
at() { q "$D/p.db" "select datetime(planned_at, 'unixepoch') from outbox o join customers c on c.id = o.customer_id where campaign = 'ten' and c.external_id = '$1'"; }
check "send hour in UTC: 10:00 UTC" test "$(at u1)" = "2025-06-02 10:00:00"
check "send hour in Warsaw (10:30 local): at once" test "$(at u2)" = "2025-06-02 08:30:00"
check "send hour in New York: 10:00 EDT = 14:00 UTC" test "$(at u3)" = "2025-06-02 14:00:00"
"$ECRM" run "$D/p.yaml" --now 2025-06-02T09:59:00Z --stage deliver > /dev/null
check "before 10:00 UTC only Warsaw's went" test "$(q "$D/p.db" "select count(*) from outbox where campaign = 'ten' and state = 2")" = 1
"$ECRM" run "$D/p.yaml" --now 2025-06-02T14:00:00Z --stage deliver > /dev/null
check "by 14:00 UTC all three" test "$(q "$D/p.db" "select count(*) from outbox where campaign = 'ten' and state = 2")" = 3
"$ECRM" run "$D/p.yaml" --now 2025-06-02T18:00:00Z --json > "$T/h1.json"
check "same day again: nothing new" test "$(json_get "$T/h1.json" 'j["messages"]["planned"]')" = 0
"$ECRM" run "$D/p.yaml" --now 2025-06-03T12:00:00Z --json > "$T/h2.json"
check "next day: once campaigns stay done" test "$(q "$D/p.db" "select count(*) from outbox where campaign in ('ten', 'once1')")" = 6
check "next day: the daily campaign again, period by period" test \
    "$(q "$D/p.db" "select group_concat(n, ' ') from (select count(*) n from outbox where campaign = 'daily1' group by period order by period)")" = "3 3"
"$ECRM" run "$D/p.yaml" --now 2025-07-01T12:00:00Z --json > "$T/h3.json"
check "after the window: nothing planned" test "$(json_get "$T/h3.json" 'j["messages"]["planned"]')" = 0
# quiet hours: deferred by default, suppressed when the campaign says so
sed -i 's/^campaigns:$/contact_policy: {quiet_hours: "21:00-08:00"}\ncampaigns:/' "$D/p.yaml"
cat >> "$D/p.yaml" <<'Y'
  night_defer:
    personalizer: best
    channel: mail
    subject: "Later"
    template: mail.txt
  night_drop:
    personalizer: best
    channel: mail
    subject: "Now or never"
    template: mail.txt
    on_quiet_hours: suppress
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-04T22:30:00Z --json > "$T/h4.json"
check "22:30 UTC: the UTC customer's message is deferred, not suppressed" test \
    "$(q "$D/p.db" "select state || ':' || datetime(planned_at, 'unixepoch') from outbox o join customers c on c.id = o.customer_id where campaign = 'night_defer' and c.external_id = 'u1'")" = "0:2025-06-05 08:00:00"
check "on_quiet_hours: suppress records quiet_hours" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'night_drop' and reason = 'quiet_hours'")" -ge 1
check "--json says how many were deferred" test "$(json_get "$T/h4.json" 'j["messages"]["delayed_quiet_hours"]')" -ge 1
# on_quiet_hours for every campaign in the contact policy; a campaign may
# still say otherwise
sed -i 's/^contact_policy: {quiet_hours: "21:00-08:00"}$/contact_policy: {quiet_hours: "21:00-08:00", on_quiet_hours: suppress}/' "$D/p.yaml"
cat >> "$D/p.yaml" <<'Y'
  night_inherit:
    personalizer: best
    channel: mail
    subject: "Policy says"
    template: mail.txt
  night_own:
    personalizer: best
    channel: mail
    subject: "Campaign says"
    template: mail.txt
    on_quiet_hours: defer
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-05T22:30:00Z --stage plan > /dev/null
nq() { q "$D/p.db" "select o.state || ':' || ifnull(o.reason, datetime(o.planned_at, 'unixepoch')) from outbox o join customers c on c.id = o.customer_id where campaign = '$1' and c.external_id = 'u1'"; }
check "the policy's on_quiet_hours: suppress is inherited" test "$(nq night_inherit)" = "5:quiet_hours"
check "a campaign's own on_quiet_hours: defer wins" test "$(nq night_own)" = "0:2025-06-06 08:00:00"
# the send hour on the weekends the clocks change in Warsaw (New York's
# change is later): 10:00 local stays 10:00 local
cat >> "$D/p.yaml" <<'Y'
  dst_spring:
    personalizer: best
    channel: mail
    subject: "Spring"
    template: mail.txt
    start: 2025-03-29
    end: 2025-03-31
    send_hour: 10
  dst_autumn:
    personalizer: best
    channel: mail
    subject: "Autumn"
    template: mail.txt
    start: 2025-10-25
    end: 2025-10-27
    send_hour: 10
Y
# something on sale before March (the orders so far are from May)
echo "O99,1,u9,S99,Old mug,kitchen,1,5,EUR,2025-01-10T10:00:00Z" >> "$D/orders.csv"
"$ECRM" run "$D/p.yaml" --now 2025-03-29T12:00:00Z --stage ingest,plan > /dev/null
"$ECRM" run "$D/p.yaml" --now 2025-10-25T12:00:00Z --stage plan > /dev/null
dst() { q "$D/p.db" "select group_concat(x, ' ') from (select c.external_id || '=' || datetime(o.planned_at, 'unixepoch') x from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and o.state = 0 order by c.external_id)"; }
check "send hour when Warsaw springs forward: 10:00 CEST = 08:00 UTC" test "$(dst dst_spring)" = \
    "u1=2025-03-30 10:00:00 u2=2025-03-30 08:00:00 u3=2025-03-29 14:00:00"
check "send hour when Warsaw falls back: 10:00 CET = 09:00 UTC" test "$(dst dst_autumn)" = \
    "u1=2025-10-26 10:00:00 u2=2025-10-26 09:00:00 u3=2025-10-25 14:00:00"

# ---------------------------------------------------------------------------
# 4. A/B variants and the control group over many customers
D=$T/ab
mkdir -p "$D"
"$ECRM" sample --out "$D/sample" --customers 1200 --items 30 --orders 1500 --email-consent 1
demo_pipeline "$T/welcome.yaml"
sed -e '/^campaigns:/,$d' "$T/welcome.yaml" > "$D/p.yaml"
cp -r "$top_srcdir/etc/templates" "$D/"
cat >> "$D/p.yaml" <<'Y'
campaigns:
  ab:
    personalizer: bestsellers
    channel: mail
    subject: "{{ customer.first_name }}: {{ campaign.variant }}"
    template: templates/welcome.txt
    items: 4
    recurrence: daily
    control_percent: 20
    goal_days: 7
    variants:
      a: {weight: 1, subject: "A for {{ customer.first_name }}"}
      b: {weight: 3}
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --json > "$T/ab.json"; rc=$?
check "A/B run exits 0" test "$rc" = 0
q "$D/demo.db" "select customer_id, variant from campaign_assignments where campaign = 'ab' order by customer_id" > "$T/assign1"
check "the split follows the weights (20% control, then 1:3)" "$PYTHON" - "$T/assign1" <<'PY'
import collections, sys
rows = [l.strip().split("|") for l in open(sys.argv[1])]
n = len(rows)
c = collections.Counter(v for _, v in rows)
share = {k: c[k] / n for k in ("control", "a", "b")}
ok = n >= 1000 and abs(share["control"] - 0.20) < 0.04 and abs(share["a"] - 0.20) < 0.04 and abs(share["b"] - 0.60) < 0.05
print(n, share, file=sys.stderr)
sys.exit(0 if ok else 1)
PY
check "each arm is the hash of campaign and customer" "$PYTHON" - "$T/assign1" <<'PY'
import hashlib, sys
for line in open(sys.argv[1]):
    cid, arm = line.strip().split("|")
    x = int.from_bytes(hashlib.sha256(("ab\n" + cid).encode()).digest()[:8], "big")
    u = (x >> 11) / 2.0**53
    want = "control" if u < 0.2 else ("a" if (u - 0.2) / 0.8 < 0.25 else "b")
    if arm != want:
        sys.exit("customer %s: %s, hash says %s" % (cid, arm, want))
PY
check "control members got no mail but a control_group row" test \
    "$(q "$D/demo.db" "select count(*) from outbox where campaign = 'ab' and reason = 'control_group' and variant = 'control'")" = \
    "$(grep -c '|control$' "$T/assign1")"
check "every mail went to a treated customer, with its variant" test \
    "$(q "$D/demo.db" "select count(*) from outbox o join campaign_assignments a on a.campaign = o.campaign and a.customer_id = o.customer_id where o.campaign = 'ab' and o.state = 2 and o.variant = a.variant and a.variant in ('a', 'b')")" = \
    "$(ls "$D/mail/new" | wc -l)"
check "variant a's subject" test "$("$PYTHON" - "$D/mail/new" <<'PY'
import email, email.header, os, sys
n = 0
for f in os.listdir(sys.argv[1]):
    m = email.message_from_binary_file(open(os.path.join(sys.argv[1], f), "rb"))
    s = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    n += s.startswith("A for ")
print(n)
PY
)" = "$(grep -c '|a$' "$T/assign1")"
check "every mail offers the campaign's 4 items, each once" "$PYTHON" - "$D/mail/new" <<'PY'
import email, os, re, sys
d = sys.argv[1]
for f in os.listdir(d):
    m = email.message_from_binary_file(open(os.path.join(d, f), "rb"))
    text = (m.get_payload(decode=True) if not m.is_multipart() else
            m.get_payload(0).get_payload(decode=True)).decode("utf-8")
    skus = re.findall(r"^  \d+\. .* \[(\S+)\]$", text, re.M)  # templates/welcome.txt
    if len(skus) != 4 or len(set(skus)) != 4:
        sys.exit("%s: %r" % (f, skus))
PY
# new weights later: stored assignments never change
sed -i 's/a: {weight: 1,/a: {weight: 9,/' "$D/p.yaml"
"$ECRM" run "$D/p.yaml" --now 2025-06-03T12:00:00Z --json > "$T/ab2.json"
q "$D/demo.db" "select customer_id, variant from campaign_assignments where campaign = 'ab' order by customer_id" > "$T/assign2"
check "assignments unchanged after a weight change" cmp -s "$T/assign1" "$T/assign2"
check "day 2 messages keep each customer's stored variant" test \
    "$(q "$D/demo.db" "select count(*) from outbox o join campaign_assignments a on a.campaign = o.campaign and a.customer_id = o.customer_id where o.campaign = 'ab' and o.period = '2025-06-03' and ifnull(o.variant, '') != a.variant")" = 0
# ---------------------------------------------------------------------------
# 5. A campaign's own frequency cap, across its channels: at most 2
#    messages of `twice` a week per customer whether by SMS or e-mail,
#    over a rolling 7 days; other campaigns neither count nor are capped
D=$T/capc
mkdir -p "$D"
head_yaml "$D"
write_customers "$D/customers.csv" \
    "k1,k1@example.com,+447700900011,Kay,UTC,yes,yes," \
    "k2,k2@example.com,,Lou,UTC,yes,no,"
write_orders "$D/orders.csv" k1:10 k2:20
cat >> "$D/p.yaml" <<'Y'
campaigns:
  twice:
    personalizer: best
    channels: [sms, mail]
    subject: "Twice"
    template: mail.txt
    templates: {sms: sms.txt}
    recurrence: daily
    max_per_week: 2
  every:
    personalizer: best
    channel: mail
    subject: "Every day"
    template: mail.txt
    recurrence: daily
Y
expect_code 0 "a campaign cap is valid" "$ECRM" check "$D/p.yaml"
capc() { q "$D/p.db" "select group_concat(x, ' ') from (select o.period || '=' || o.channel || ':' || ifnull(o.reason, 'msg') x from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and c.external_id = '$2' order by o.period)"; }
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z > /dev/null
# SMS consent goes: the campaign falls back to e-mail, and still counts
"$ECRM" consent revoke k1 --channel sms --purpose marketing --now 2025-06-02T18:00:00Z -p "$D/p.yaml" > /dev/null
"$ECRM" run "$D/p.yaml" --now 2025-06-03T12:00:00Z > /dev/null
"$ECRM" run "$D/p.yaml" --now 2025-06-04T12:00:00Z --json > "$T/cap3.json"
check "campaign cap: third message in 7 days capped, across SMS and e-mail" test \
    "$(capc twice k1)" = "2025-06-02=sms:msg 2025-06-03=mail:msg 2025-06-04=mail:capped"
check "campaign cap: per customer" test \
    "$(capc twice k2)" = "2025-06-02=mail:msg 2025-06-03=mail:msg 2025-06-04=mail:capped"
check "campaign cap: another campaign is not capped by it" test \
    "$(capc every k1)" = "2025-06-02=mail:msg 2025-06-03=mail:msg 2025-06-04=mail:msg"
check "campaign cap: --json counts capped" test \
    "$(json_get "$T/cap3.json" 'j["messages"]["suppressed_by_reason"]["capped"]')" = 2
"$ECRM" run "$D/p.yaml" --now 2025-06-09T11:59:00Z > /dev/null
check "campaign cap: both still within the last 7 days" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'twice' and period = '2025-06-09' and reason = 'capped'")" = 2
"$ECRM" run "$D/p.yaml" --now 2025-06-09T12:30:00Z > /dev/null
check "campaign cap: a rolling week, the first message left it" test \
    "$(q "$D/p.db" "select count(*) from outbox where campaign = 'twice' and period = '2025-06-09' and state = 2")" = 2
check "campaign cap: never more than 2 in any 7 days" test \
    "$(q "$D/p.db" "select max(n) from (select (select count(*) from outbox b where b.customer_id = a.customer_id and b.campaign = 'twice' and b.state = 2 and b.planned_at > a.planned_at - 7 * 86400 and b.planned_at <= a.planned_at) n from outbox a where a.campaign = 'twice' and a.state = 2)")" = 2
# the contact policy's weekly and monthly caps, over a daily campaign
D2=$T/capg
mkdir -p "$D2"
head_yaml "$D2"
write_customers "$D2/customers.csv" "g1,g1@example.com,,Gus,UTC,yes,no,"
write_orders "$D2/orders.csv" x1:10
cat >> "$D2/p.yaml" <<'Y'
contact_policy: {max_per_week: 2, max_per_month: 3}
campaigns:
  daily:
    personalizer: best
    channel: mail
    subject: "Today"
    template: mail.txt
    recurrence: daily
Y
for day in 2025-06-02 2025-06-03 2025-06-04 2025-06-10 2025-06-11 2025-07-03; do
    "$ECRM" run "$D2/p.yaml" --now "${day}T12:00:00Z" > /dev/null
done
check "policy caps: 2 a week, 3 in 30 days (rolling)" test \
    "$(q "$D2/p.db" "select group_concat(period || '=' || ifnull(reason, 'msg'), ' ') from (select o.* from outbox o join customers c on c.id = o.customer_id where o.campaign = 'daily' and c.external_id = 'g1' order by o.period)")" = \
    "2025-06-02=msg 2025-06-03=msg 2025-06-04=capped 2025-06-10=msg 2025-06-11=capped 2025-07-03=msg"
sed -i 's/max_per_week: 2/max_per_week: -1/' "$D/p.yaml"
"$ECRM" check "$D/p.yaml" 2> "$T/caperr"; rc=$?
check "negative campaign cap: exit 65" test "$rc" = 65
check "negative campaign cap located" grep -q "p.yaml:[0-9]*:19: 'max_per_week' must be 0 (no cap) or more, got -1" "$T/caperr"
# ---------------------------------------------------------------------------
# 6. The window's end: a message deferred (send hour, quiet hours, retry
#    backoff) past it is never sent after it; the ledger says why
D=$T/win
mkdir -p "$D"
head_yaml "$D" /500
write_customers "$D/customers.csv" \
    "w1,w1@example.com,+447700900021,Utc,UTC,yes,yes,email" \
    "w2,w2@example.com,,York,America/New_York,yes,no," \
    "w3,w3@example.com,,Warsaw,Europe/Warsaw,yes,no,"
write_orders "$D/orders.csv" w1:10 w2:20 w3:30
cat >> "$D/p.yaml" <<'Y'
contact_policy: {quiet_hours: "21:00-08:00"}
campaigns:
  noon:                             # ends at 12:00 UTC, sends at 10:00 local
    personalizer: best
    channel: mail
    subject: "By noon"
    template: mail.txt
    start: 2025-06-01
    end: 2025-06-04T12:00:00Z
    send_hour: 10
  night:                            # ends at midnight, planned at 22:30
    personalizer: best
    channel: mail
    subject: "Tonight"
    template: mail.txt
    start: 2025-06-04T22:00:00Z
    end: 2025-06-05T00:00:00Z
  sms_late:                         # a transient refusal near the end
    personalizer: best
    channel: sms
    template: sms.txt
    end: 2025-06-04T09:00:30Z
  sms_soon:                         # retried in the window, never after it
    personalizer: best
    channel: sms
    template: sms.txt
    end: 2025-06-04T10:00:00Z
Y
expect_code 0 "window end: valid" "$ECRM" check "$D/p.yaml"
wstate() { q "$D/p.db" "select o.state || ':' || ifnull(o.reason, '-') from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and c.external_id = '$2'"; }
"$ECRM" run "$D/p.yaml" --now 2025-06-04T09:00:00Z --json > "$T/w1.json" 2>/dev/null
check "send hour before the end: waits for 10:00 UTC" test "$(wstate noon w1)" = "0:-"
check "send hour after the end (New York 10:00 = 14:00 UTC): window_ended at planning" \
    test "$(wstate noon w2)" = "5:window_ended"
check "send hour passed today, tomorrow is too late (Warsaw): window_ended" \
    test "$(wstate noon w3)" = "5:window_ended"
check "a retry that would fall after the end: failed with the gateway's answer and why" test \
    "$(q "$D/p.db" "select state || ':' || (error like 'gateway answered 500:%; not retried: the campaign''s window ends at 2025-06-04T09:00:30Z') from outbox where campaign = 'sms_late'")" = "4:1"
check "a retry inside the window waits" test "$(wstate sms_soon w1)" = "3:-"
check "--json counts window_ended" test \
    "$(json_get "$T/w1.json" 'j["messages"]["suppressed_by_reason"]["window_ended"]')" = 2
sent_sms=$(requests)
"$ECRM" run "$D/p.yaml" --now 2025-06-04T12:30:00Z --stage deliver --json > "$T/w2.json" 2>/dev/null
check "delivered after the end: nothing goes out" test -z "$(ls "$D/mail/new" 2>/dev/null)"
check "the waiting message is suppressed window_ended" test "$(wstate noon w1)" = "5:window_ended"
check "the pending retry too, its last answer kept" test \
    "$(q "$D/p.db" "select state || ':' || reason || ':' || (error like 'gateway answered 500:%; not sent before the campaign''s window ended at 2025-06-04T10:00:00Z') from outbox where campaign = 'sms_soon'")" = "5:window_ended:1"
check "the gateway saw no attempt after the end" test "$(requests)" = "$sent_sms"
check "--json: suppressed at delivery by window_ended" test \
    "$(json_get "$T/w2.json" 'j["messages"]["suppressed_by_reason"]["window_ended"]')" = 2
"$ECRM" run "$D/p.yaml" --now 2025-06-04T22:30:00Z --stage plan > /dev/null
check "quiet hours past a midnight end (UTC, Warsaw): window_ended, not deferred" test \
    "$(wstate night w1) $(wstate night w3)" = "5:window_ended 5:window_ended"
check "outside their quiet hours (New York, 18:30): planned" test "$(wstate night w2)" = "0:-"
"$ECRM" run "$D/p.yaml" --now 2025-06-05T08:00:00Z > /dev/null 2>&1
check "not delivered before midnight: window_ended at the next run" test "$(wstate night w2)" = "5:window_ended"
check "nothing was ever sent by mail" test -z "$(ls "$D/mail/new" 2>/dev/null)"
# ---------------------------------------------------------------------------
# 7. A budget in cost across channels of different prices: the most
#    valuable customers first, strictly. The first customer the budget
#    cannot pay for stops it: no less valuable customer is messaged in
#    their place, even one whose cheaper message would still fit.
D=$T/bval
mkdir -p "$D"
head_yaml "$D"
# ids in another order than value; p1 and p4 write in Cyrillic (UCS-2)
write_customers "$D/customers.csv" \
    "p6,p6@example.com,,Zed,UTC,yes,no," \
    "p4,,+447700900034,Дарья,UTC,no,yes," \
    "p2,p2@example.com,,Bea,UTC,yes,no," \
    "p1,,+447700900031,Анна,UTC,no,yes," \
    "p5,p5@example.com,,Eli,UTC,yes,no," \
    "p3,,+447700900033,Cat,UTC,no,yes,"
write_orders "$D/orders.csv" p1:900 p2:800 p3:700 p4:600 p5:500
# over 70 characters: two segments in UCS-2, one in GSM-7
printf 'Hi {{ customer.first_name }}! Picked for you from what shoppers like you loved this spring: {{#each items}}{{ title }}{{/each}}\n' > "$D/sms.txt"
cat >> "$D/p.yaml" <<'Y'
campaigns:
  rich:
    personalizer: best
    items: 1
    channels: [sms, mail]
    subject: "For you"
    template: mail.txt
    templates: {sms: sms.txt}
    unit_cost: {sms: 0.05, mail: 0.01}
    budget_cost: 0.2
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --dry-run > "$T/bv0.out"
check "dry run: the most valuable first, whatever their ids" test \
    "$(sed -n 's/^would send rich via [a-z]* to \([^:]*\):.*/\1/p' "$T/bv0.out" | tr '\n' ' ')" = \
    "+447700900031 p2@example.com +447700900033 "
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z > /dev/null
bv() { q "$D/p.db" "select group_concat(x, ' ') from (select c.external_id || '=' || ifnull(o.cost, '-') x from outbox o join customers c on c.id = o.customer_id where o.campaign = 'rich' and $1 order by c.external_id)"; }
check "priced per channel: UCS-2 SMS 2 x 0.05, GSM-7 SMS 0.05, mail 0.01" \
    test "$(bv 'state = 2')" = "p1=0.1 p2=0.01 p3=0.05"
check "p4's SMS (0.1) does not fit in what is left (0.04): budget" \
    test "$(bv "reason = 'budget'")" = "p4=- p5=- p6=-"
check "so p5's and p6's mail (0.01) does not jump the queue" \
    test "$(ls "$D/mail/new" | wc -l)" = 1
vals="(select coalesce(sum(l.amount), 0) from orders r join order_lines l on l.order_id = r.id where r.customer_id = o.customer_id)"
check "every customer messaged is worth at least every one the budget left out" test \
    "$(q "$D/p.db" "select (select min($vals) from outbox o where campaign = 'rich' and state = 2) >= (select max($vals) from outbox o where campaign = 'rich' and reason = 'budget')")" = 1
check "spent within the budget" test \
    "$(q "$D/p.db" "select sum(cost) <= 0.2 from outbox where campaign = 'rich' and state in (0, 1, 2, 3, 6)")" = 1
# more budget later in the period: the next most valuable go, in order
sed -i 's/budget_cost: 0.2$/budget_cost: 0.275/' "$D/p.yaml"
"$ECRM" run "$D/p.yaml" --now 2025-06-02T13:00:00Z > /dev/null
check "a raised budget goes to p4 then p5; p6 still waits" test \
    "$(bv 'state = 2') / $(bv "reason = 'budget'")" = "p1=0.1 p2=0.01 p3=0.05 p4=0.1 p5=0.01 / p6=-"
# ---------------------------------------------------------------------------
# 8. --dry-run over every stage writes nothing: new records waiting in the
#    sources are read and planned (and printed), yet the store is the same
#    row for row afterwards, no mail is written and no SMS posted
D=$T/dry
mkdir -p "$D"
head_yaml "$D"
write_customers "$D/customers.csv" "d1,d1@example.com,+447700900041,Dee,UTC,yes,yes,"
write_orders "$D/orders.csv" d1:10
cat >> "$D/p.yaml" <<'Y'
segments:
  buyers: orders_count > 0
campaigns:
  dry:
    segment: buyers
    personalizer: best
    channels: [sms, mail]
    subject: "Dry"
    template: mail.txt
    templates: {sms: sms.txt}
    unit_cost: {sms: 0.05, mail: 0.01}
    budget_cost: 1
    control_percent: 5
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z > /dev/null
echo "d2,d2@example.com,,Dot,UTC,yes,no,,2025-01-01T00:00:00Z" >> "$D/customers.csv"
echo "O9,1,d2,S9,Mug 9,kitchen,1,5,EUR,2025-06-01T10:00:00Z" >> "$D/orders.csv"
sqlite3 "$D/p.db" .dump > "$T/dump0"
sent0=$(requests)
"$ECRM" run "$D/p.yaml" --now 2025-06-03T12:00:00Z --dry-run > "$T/dry8.out"; rc=$?
check "dry run of every stage: exit 0" test "$rc" = 0
check "dry run: the new customer's message is planned and printed" grep -q "would send dry via mail to d2@example.com: cost 0.0100: Dry" "$T/dry8.out"
sqlite3 "$D/p.db" .dump > "$T/dump1"
check "dry run: the store is unchanged, row for row" cmp -s "$T/dump0" "$T/dump1"
check "dry run: no SMS posted" test "$(requests)" = "$sent0"
check "dry run: no mail written" test -z "$(ls "$D/mail/new" 2>/dev/null)"
"$ECRM" run "$D/p.yaml" --now 2025-06-03T12:00:00Z > /dev/null
check "the real run then does it" test "$(ls "$D/mail/new" | wc -l)" = 1
# ---------------------------------------------------------------------------
# 9. Consent for the channel and the campaign's purpose, and a weekly
#    recurrence: one message per customer and ISO week
D=$T/purpose
mkdir -p "$D"
head_yaml "$D"
sed -i 's|consents: {email/marketing: email_marketing, sms/marketing: sms_marketing}|consents: {email/marketing: email_marketing, email/service: email_service}|' "$D/p.yaml"
cat > "$D/customers.csv" <<'C'
customer_id,email,first_name,time_zone,email_marketing,email_service,channel,registered_at
m1,m1@example.com,Mark,UTC,yes,no,,2025-01-01T00:00:00Z
s1,s1@example.com,Sue,UTC,no,yes,,2025-01-01T00:00:00Z
C
write_orders "$D/orders.csv" x1:10
cat >> "$D/p.yaml" <<'Y'
campaigns:
  promo:
    personalizer: best
    channel: mail
    subject: "Weekly offer"
    template: mail.txt
    recurrence: weekly
  notice:
    personalizer: best
    channel: mail
    subject: "Your account"
    template: mail.txt
    purpose: service
    recurrence: weekly
Y
pw() { q "$D/p.db" "select group_concat(x, ' ') from (select o.period || ':' || c.external_id || '=' || ifnull(o.reason, 'msg') x from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and c.external_id in ('m1', 's1') order by o.period, c.external_id)"; }
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z > /dev/null   # Monday
"$ECRM" run "$D/p.yaml" --now 2025-06-08T20:00:00Z > /dev/null   # Sunday
"$ECRM" run "$D/p.yaml" --now 2025-06-09T12:00:00Z > /dev/null   # Monday
check "marketing needs marketing consent; weekly: once per ISO week" test "$(pw promo)" = \
    "2025-W23:m1=msg 2025-W23:s1=no_consent 2025-W24:m1=msg 2025-W24:s1=no_consent"
check "purpose: service needs service consent" test "$(pw notice)" = \
    "2025-W23:m1=no_consent 2025-W23:s1=msg 2025-W24:m1=no_consent 2025-W24:s1=msg"
check "four mails in two weeks" test "$(ls "$D/mail/new" | wc -l)" = 4
# ---------------------------------------------------------------------------
# 10. Template errors found by `ecrm check`, each at its template's
#     file:line:column (or the subject's place in the pipeline)
D=$T/tpl
mkdir -p "$D/templates"
head_yaml "$D"
write_customers "$D/customers.csv" "t1,t1@example.com,,Tom,UTC,yes,no,"
write_orders "$D/orders.csv" t1:10
printf 'Hello {{ customer.first_name }},\n\nour picks:\n{{#each items}}* {{ titel }}\n{{/each}}\n' > "$D/templates/var.txt"
printf 'Hi\n{{#if customer.name}}\nyes\n{{#each items}}x\n{{/if}}\n' > "$D/templates/syntax.txt"
cat >> "$D/p.yaml" <<'Y'
campaigns:
  c:
    personalizer: best
    channel: mail
    subject: "Hi"
    template: templates/var.txt
  d:
    personalizer: best
    channel: mail
    subject: "Hi {{ customer.name"
    template: templates/syntax.txt
    html_template: templates/var.txt
Y
"$ECRM" check "$D/p.yaml" 2> "$T/tpl.err"; rc=$?
check "template errors: exit 65" test "$rc" = 65
check "a missing variable at its template's line and column" \
    grep -q "templates/var.txt:4:18: unknown variable 'titel'" "$T/tpl.err"
check "a syntax error at its template's line" \
    grep -q "templates/syntax.txt:5:1: '{{/if}}' closes '{{#each}}' opened at 4:1" "$T/tpl.err"
check "an inline subject's error at its place in the pipeline" \
    grep -q "p.yaml:28:14: subject:1:4: unclosed tag: missing '}}'" "$T/tpl.err"
finish
