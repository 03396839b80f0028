#!/bin/sh
# Channel faults at the level of `ecrm run`: an SMTP server (aiosmtpd) that
# refuses connections, answers 4xx or 5xx, drops the connection in the
# middle of DATA or stalls; an SMS gateway (http.server) that answers 429
# or 500 or hangs. Each fault must give a clear message on stderr, a
# meaningful exit code (75: deferred, the next run retries; 69: a message
# failed for good) and lose nothing: once the fault is gone, a later run
# delivers every deferred message, and the servers received each message
# at most once (tests/ledger_check.py; SMS by Idempotency-Key).
#
# Each fault gets its own day (a daily campaign per channel plans one
# message per customer and day); the recovery run is two hours later, past
# the first retry's backoff.
. "${top_srcdir:?}/tests/lib.sh"
. "$top_srcdir/tests/servers.sh"

D=$T/p
SINK=$T/sink
GW=$T/gw
mkdir -p "$D/templates"
start_server smtp_server.py "$SINK"
SMTP_PORT=$PORT
start_server sms_gateway.py "$GW"
GW_PORT=$PORT
DEAD_PORT=$(free_port)
N=6

{
    echo "customer_id,email,phone,first_name,consent,registered_at"
    for i in $(seq $N); do
        echo "C$i,c$i@example.com,+4479000000$i,Ann$i,yes,2025-01-01T00:00:00Z"
    done
} > "$D/customers.csv"
{
    echo "order_id,customer_id,sku,quantity,unit_price,time"
    for i in $(seq 12); do
        echo "O$i,C$((i % N + 1)),S$((i % 5)),1,9.50,2025-01-02T10:00:00Z"
    done
} > "$D/orders.csv"
printf 'Hi {{ customer.first_name }}: {{#each items}}{{ title }} {{/each}}\n' \
    > "$D/templates/t.txt"

# pipeline MAIL_URL SMS_URL [MAIL_TIMEOUT]
pipeline() {
    cat > "$D/p.yaml" <<EOF
store: {path: crm.db}
sources:
  shop_customers:
    plugin: customers
    path: customers.csv
    columns: {external_id: customer_id, email: email, phone: phone,
              first_name: first_name}
    consents: {email/marketing: consent, sms/marketing: consent}
    consent_time: registered_at
    time_format: iso8601
  shop_orders:
    plugin: orders
    path: orders.csv
    columns: {order_id: order_id, customer: customer_id, sku: sku,
              quantity: quantity, unit_price: unit_price, time: time}
    time_format: iso8601
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail: {plugin: smtp, url: "$1", from: "Shop <shop@example.com>",
         starttls: "no", timeout: ${3:-10}}
  text: {plugin: sms_http, url: "$2", timeout: 1}
campaigns:
  news:
    personalizer: top
    channel: mail
    subject: "{{ customer.first_name }}, news"
    template: templates/t.txt
    recurrence: daily
  texts:
    personalizer: top
    channel: text
    template: templates/t.txt
    recurrence: daily
EOF
}
MAIL_OK=smtp://127.0.0.1:$SMTP_PORT
SMS_OK=http://127.0.0.1:$GW_PORT/ok

# states CHANNEL DAY: the ledger states of DAY's messages of CHANNEL
states() {
    sqlite3 "$D/crm.db" "SELECT group_concat(n || ' ' || s, ', ') FROM
        (SELECT count(*) n, CASE state WHEN 2 THEN 'sent' WHEN 3 THEN 'retry'
         WHEN 4 THEN 'failed' ELSE 'state ' || state END s FROM outbox
         WHERE channel = '$1' AND period = '$2' GROUP BY state)"
}
report=$T/report
# fault NAME DAY CHANNEL EXPECT_RC EXPECT_STATES STDERR_PATTERN: run once
# with the fault on (the pipeline and fault files set by the caller), check
# exit code, states and message; then run two hours later without it.
fault() {
    name=$1 day=$2 ch=$3 rc_want=$4 st_want=$5 pattern=$6
    t0=$(date +%s)
    "$ECRM" run "$D/p.yaml" --now "${day}T10:00:00Z" \
        > /dev/null 2> "$T/err"
    rc=$? secs=$(($(date +%s) - t0))
    st=$(states "$ch" "$day")
    [ "$rc" = "$rc_want" ] || bad "$name: exit $rc, expected $rc_want"
    [ "$st" = "$st_want" ] || bad "$name: ledger '$st', expected '$st_want'"
    grep -Eq "$pattern" "$T/err" || bad "$name: no '$pattern' in: $(cat "$T/err")"
    echo "$name: exit $rc in ${secs}s, $st; $(grep -c . "$T/err") lines, first: $(head -n 1 "$T/err")" >> "$report"
    : > "$SINK/fault"
    pipeline "$MAIL_OK" "$SMS_OK"
    "$ECRM" run "$D/p.yaml" --now "${day}T12:00:00Z" > /dev/null 2> "$T/err2"
    rc=$?
    [ "$rc" = 0 ] || bad "$name: the run after the fault exits $rc: $(cat "$T/err2")"
    ok
}

# SMTP
pipeline "smtp://127.0.0.1:$DEAD_PORT" "$SMS_OK"
fault "smtp refused" 2025-03-01 mail 75 "$N retry" \
    "message news/.*(Couldn't connect|Failed to connect).*will retry"
check "smtp refused: the others not tried" \
    test "$(grep -c 'not tried' "$T/err")" = $((N - 1))
for f in 2:rcpt450:"450 4.2.1 Mailbox busy" 3:data451:"451 4.3.0" \
    4:drop:"smtp: connection lost: "; do
    day=${f%%:*} f=${f#*:}
    pipeline "$MAIL_OK" "$SMS_OK"
    echo "${f%%:*}" > "$SINK/fault"
    fault "smtp ${f%%:*}" "2025-03-0$day" mail 75 "$N retry" \
        "${f#*:}.*will retry"
done
pipeline "$MAIL_OK" "$SMS_OK" 2
echo stall > "$SINK/fault"
fault "smtp stall (timeout 2 s)" 2025-03-05 mail 75 "$N retry" \
    "smtp: server response timeout.*will retry"
check "smtp stall: the others not tried" \
    test "$(grep -c 'not tried' "$T/err")" = $((N - 1))
# one 2-second timeout and the run itself, not libcurl's 120 s per message
check "smtp stall: bounded by the timeout" \
    test "$(tail -n 1 "$report" | sed 's/.* in \([0-9]*\)s.*/\1/')" -lt 20
pipeline "$MAIL_OK" "$SMS_OK"
echo rcpt550 > "$SINK/fault"
fault "smtp rcpt550" 2025-03-06 mail 69 "$N failed" \
    "failed: server: 550 5.1.1"
check "smtp: a failed message stays failed, not sent" \
    test "$(states mail 2025-03-06)" = "$N failed"
check "smtp: every message sent once, the rest never" \
    "$PYTHON" "$top_srcdir/tests/ledger_check.py" "$D/crm.db" "$SINK" \
    channel=mail "sent=$((5 * N))" "failed=$N"

# SMS: 429 pauses the run's sending, 500 is tried message by message
for f in 7:429:$((N - 1)) 8:500:0; do
    day=${f%%:*} f=${f#*:}
    pipeline "$MAIL_OK" "http://127.0.0.1:$GW_PORT/${f%:*}"
    fault "sms ${f%:*}" "2025-03-0$day" text 75 "$N retry" \
        "gateway answered ${f%:*}: .*will retry"
    check "sms ${f%:*}: ${f#*:} not tried" \
        test "$(grep -c 'not tried' "$T/err")" = "${f#*:}"
done
pipeline "$MAIL_OK" "http://127.0.0.1:$GW_PORT/hang"
fault "sms hang (timeout 1 s)" 2025-03-09 text 75 "$N retry" \
    "Timeout was reached.*will retry"
check "sms hang: the others not tried" \
    test "$(grep -c 'not tried' "$T/err")" = $((N - 1))
# every SMS delivered exactly once through /ok
"$PYTHON" - "$GW/requests.jsonl" "$D/crm.db" <<'PY' && ok || bad "sms once each"
import collections, json, sqlite3, sys
got = collections.Counter(json.loads(l)["headers"].get("Idempotency-Key")
                          for l in open(sys.argv[1]) if '"/ok"' in l)
sent = {k for (k,) in sqlite3.connect(sys.argv[2]).execute(
    "SELECT key FROM outbox WHERE channel = 'text' AND state = 2")}
assert set(got) == sent, (set(got) ^ sent)
assert max(got.values()) == 1, got.most_common(2)
assert len(sent) == 9 * 6, len(sent)  # nine days, six customers
PY
cat "$report"
finish
