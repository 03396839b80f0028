#!/bin/sh
# The outbox states end to end against the HTTP SMS gateway of
# tests/sms_gateway.py, started here: retry with capped exponential
# backoff and full jitter, the retry limit then failed with the gateway's
# answer, a permanent failure, "unknown" after a crash (never resent unless
# the campaign says on_unknown: resend, then with the same idempotency
# key), and opt-out replies (STOP, СТОП) read by the sms_replies source
# suppressing what waits in the outbox. (Twenty runs at once:
# e2e_overlap.sh.)
. "${top_srcdir:?}/tests/lib.sh"

start_sms_gateway
port=$GW_PORT
G=$GW

D=$T/p
mkdir -p "$D"
cat > "$D/customers.csv" <<'C'
customer_id,phone,first_name,sms_marketing,registered_at
s1,+447700900001,One,yes,2025-01-01T00:00:00Z
s2,+447700900002,Two,yes,2025-01-01T00:00:00Z
s3,+447700900003,Three,yes,2025-01-01T00:00:00Z
s4,07700 900004,Four,yes,2025-01-01T00:00:00Z
C
cat > "$D/orders.csv" <<'O'
order_id,line,customer_id,sku,title,category,quantity,unit_price,currency,ordered_at
O1,1,s1,S1,Mug,kitchen,1,10,EUR,2025-05-10T10:00:00Z
O2,1,s2,S2,Cup,kitchen,1,10,EUR,2025-05-10T10:00:00Z
O
printf 'customer,text\n' > "$D/replies.csv"
printf '{{ customer.first_name }}: {{#each items}}{{ title }} {{/each}}\n' > "$D/sms.txt"
# pipeline PATH_OF_GATEWAY ON_UNKNOWN
pipeline() {
    cat > "$D/p.yaml" <<Y
store: {path: p.db}
sources:
  customers:
    path: customers.csv
    columns: {external_id: customer_id}
    consents: {sms/marketing: sms_marketing}
    consent_time: registered_at
    default_country_code: "+44"
  orders:
    path: orders.csv
    columns: {customer: customer_id, time: ordered_at}
    time_format: iso8601
  replies:
    plugin: sms_replies
    path: replies.jsonl
    format: jsonl
    columns: {from: msisdn, text: body}
    default_country_code: "+44"
    extra_stop_words: [СТОП]
personalizers:
  best: {plugin: popular, window_days: 0}
channels:
  sms: {plugin: sms_http, url: "http://127.0.0.1:$port$1", timeout: 5}
campaigns:
  promo:
    personalizer: best
    channel: sms
    template: sms.txt
    on_unknown: $2
Y
}
q() { sqlite3 "$D/p.db" "$1"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
touch "$D/replies.jsonl"

# ---------------------------------------------------------------------------
# 1. Retries: the gateway answers 500; each attempt waits a random share
#    (full jitter) of min(6 h, 60 s * 2^(attempt-1)), at least 60 s; after
#    five attempts the message fails with the gateway's answer.
pipeline /500 keep
now=1748865600 # 2025-06-02T12:00:00Z
"$ECRM" run "$D/p.yaml" --now "$(iso $now)" --json > "$T/r1.json" 2>/dev/null
check "first attempt: retry" test "$(json_get "$T/r1.json" 'j["messages"]["retry"]')" = 4
check "the gateway saw every attempt" test "$(requests)" = 4
attempt=1
ok=1
while [ $attempt -lt 5 ]; do
    # every message waits at least 60 s and at most its ceiling
    ceiling=$((60 << (attempt - 1)))
    bad=$(q "select count(*) from outbox where state = 3 and attempts = $attempt and (next_attempt - $now < 60 or next_attempt - $now > $ceiling)")
    [ "$bad" = 0 ] || { ok=0; echo "attempt $attempt: $bad outside [60, $ceiling]" >&2; }
    # not due one second before the earliest next attempt
    early=$(q "select min(next_attempt) - 1 from outbox where state = 3")
    before=$(requests)
    "$ECRM" run "$D/p.yaml" --stage deliver --now "$(iso $early)" 2>/dev/null
    [ "$(requests)" = "$before" ] || { ok=0; echo "attempt $attempt: sent early" >&2; }
    now=$(q "select max(next_attempt) from outbox where state = 3")
    "$ECRM" run "$D/p.yaml" --stage deliver --now "$(iso $now)" 2>/dev/null
    attempt=$((attempt + 1))
done
check "backoff within [60 s, 60 s x 2^(n-1)] and never early" test "$ok" = 1
check "after 5 attempts: failed" test "$(q 'select count(*) from outbox where state = 4 and attempts = 5')" = 4
check "the gateway's answer is stored" test "$(q "select count(*) from outbox where state = 4 and error like 'gateway answered 500:%'")" = 4
check "5 attempts x 4 messages reached the gateway" test "$(requests)" = 20
"$ECRM" run "$D/p.yaml" --stage deliver --now "$(iso $((now + 86400)))" 2>/dev/null
check "a failed message is never sent again" test "$(requests)" = 20

# 2. A permanent refusal (400) fails at once.
rm -f "$D/p.db"*
pipeline /400 keep
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --json > "$T/r2.json" 2>/dev/null; rc=$?
check "permanent failure: exit 69" test "$rc" = 69
check "permanent failure: failed after one attempt" test "$(q 'select count(*) from outbox where state = 4 and attempts = 1')" = 4

# ---------------------------------------------------------------------------
# 3. Unknown: a run died while sending (rows left 'sending'). They become
#    unknown and are not resent; with on_unknown: resend they go again,
#    with the same idempotency key.
rm -f "$D/p.db"*
pipeline /ok keep
"$ECRM" run "$D/p.yaml" --stage ingest,personalize,plan --now 2025-06-02T12:00:00Z >/dev/null
q "update outbox set state = 1, attempts = 1 where customer_id in (select id from customers where external_id in ('s1', 's2'))"
before=$(requests)
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-02T12:05:00Z --json > "$T/u1.json"
check "interrupted messages became unknown" test "$(q 'select count(*) from outbox where state = 6')" = 2
check "only the others were sent" test "$(( $(requests) - before ))" = 2
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-03T12:00:00Z >/dev/null
check "unknown stays unknown (on_unknown: keep)" test "$(q 'select count(*) from outbox where state = 6')" = 2
check "and nothing was resent" test "$(( $(requests) - before ))" = 2
pipeline /ok resend
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-03T12:10:00Z --json > "$T/u2.json"
check "on_unknown: resend sends them again" test "$(( $(requests) - before ))" = 4
check "--json counts them" test "$(json_get "$T/u2.json" 'j["messages"]["unknown_resent"]')" = 2
check "now sent, second attempt" test "$(q 'select count(*) from outbox where state = 2 and attempts = 2')" = 2
q "select key from outbox where attempts = 2" > "$T/resent"
check "resent under their ledger key (Idempotency-Key)" "$PYTHON" - "$G/requests.jsonl" "$T/resent" "$before" <<'PY'
import json, sys
lines = open(sys.argv[1]).readlines()[int(sys.argv[3]):]
sent = [json.loads(l)["headers"].get("Idempotency-Key") for l in lines]
keys = [l.strip() for l in open(sys.argv[2]) if l.strip()]
sys.exit(0 if len(keys) == 2 and all(sent.count(k) == 1 for k in keys) else 1)
PY

# 3b. on_unknown set once for the whole pipeline in the contact policy:
#     campaigns inherit it, and one that says otherwise keeps its own.
rm -f "$D/p.db"*
pipeline /ok keep
sed -i -e '/^    on_unknown: keep$/d' -e 's/^campaigns:$/contact_policy: {on_unknown: resend}\ncampaigns:/' "$D/p.yaml"
cat >> "$D/p.yaml" <<'Y'
  own:
    personalizer: best
    channel: sms
    template: sms.txt
    on_unknown: keep
Y
expect_code 0 "on_unknown in the contact policy is valid" "$ECRM" check "$D/p.yaml"
"$ECRM" run "$D/p.yaml" --stage ingest,personalize,plan --now 2025-06-02T12:00:00Z >/dev/null
q "update outbox set state = 1, attempts = 1 where customer_id in (select id from customers where external_id in ('s1', 's2'))"
before=$(requests)
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-02T12:05:00Z --json > "$T/u3.json" 2>/dev/null
check "inherited on_unknown: resend: the campaign's unknown messages go again" test \
    "$(q "select group_concat(campaign || ':' || state || ':' || attempts, ' ') from (select * from outbox where customer_id in (select id from customers where external_id in ('s1', 's2')) order by campaign, customer_id)")" = \
    "own:6:1 own:6:1 promo:2:2 promo:2:2"
check "inherited: counted as resent" test "$(json_get "$T/u3.json" 'j["messages"]["unknown_resent"]')" = 2
check "inherited: 2 resent + 4 others reached the gateway" test "$(( $(requests) - before ))" = 6
sed -i 's/^contact_policy: {on_unknown: resend}$/contact_policy: {on_unknown: maybe}/' "$D/p.yaml"
"$ECRM" check "$D/p.yaml" 2> "$T/unk.err"; rc=$?
check "bad on_unknown in the policy: exit 65" test "$rc" = 65
check "bad on_unknown in the policy located" grep -q "p.yaml:[0-9]*:30: 'on_unknown' must be keep or resend, got 'maybe'" "$T/unk.err"

# ---------------------------------------------------------------------------
# 4. Replies: STOP and СТОП revoke SMS consent; what waits is suppressed
#    at delivery, the reply kept as evidence.
rm -f "$D/p.db"*
pipeline /ok keep
"$ECRM" run "$D/p.yaml" --stage ingest,personalize,plan --now 2025-06-02T12:00:00Z >/dev/null
cat > "$D/replies.jsonl" <<'R'
{"msisdn": "+447700900001", "body": " Stop "}
{"msisdn": "07700 900004", "body": "СТОП"}
{"msisdn": "+447700900003", "body": "thanks, see you"}
{"msisdn": "+447700900999", "body": "STOP"}
R
before=$(requests)
"$ECRM" run "$D/p.yaml" --stage ingest,deliver --now 2025-06-02T12:30:00Z --json > "$T/s1.json"
check "replies: read = accepted + filtered + quarantined" \
    json_get "$T/s1.json" '(j["sources"]["replies"] == {"read": 4, "accepted": 2, "quarantined": 1, "filtered": 1, "seconds": j["sources"]["replies"]["seconds"]}) or sys.exit(1)'
check "the unknown number is quarantined" test "$(q "select count(*) from quarantine where source = 'replies' and line = 4")" = 1
check "opt-outs recorded with the reply as evidence" test \
    "$(q "select group_concat(x, ';') from (select c.external_id || '=' || k.evidence x from consents k join customers c on c.id = k.customer_id where k.source = 'sms_reply' and k.state = 0 order by c.external_id)")" = "s1= Stop ;s4=СТОП"
check "their waiting messages were suppressed for no consent" test \
    "$(q "select count(*) from outbox o join customers c on c.id = o.customer_id where c.external_id in ('s1', 's4') and o.state = 5 and o.reason = 'no_consent'")" = 2
check "the others were delivered" test "$(( $(requests) - before ))" = 2
check "--json: no_consent at delivery" test "$(json_get "$T/s1.json" 'j["messages"]["suppressed_by_reason"]["no_consent"]')" = 2
"$ECRM" run "$D/p.yaml" --stage ingest --now 2025-06-02T13:00:00Z --json > "$T/s2.json"
check "replies are read once (checkpoint)" test "$(json_get "$T/s2.json" 'j["sources"]["replies"]["read"]')" = 0
finish
