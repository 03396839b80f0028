#!/bin/sh
# Overlap safety: 20 `ecrm run` of one pipeline started at the same moment
# against a slow loopback SMTP server (each message answered 0.15 s late, so
# the run that gets the lock holds it for seconds). Exactly one runs, the
# 19 others exit 75 at once naming its pid, and every message is received
# exactly once.
. "${top_srcdir:?}/tests/lib.sh"
. "$top_srcdir/tests/servers.sh"

N=20
D=$T/p
SINK=$T/sink
mkdir -p "$D/templates"
start_server smtp_server.py "$SINK"
echo 0.15 > "$SINK/delay"
"$ECRM" sample --out "$D/sample" --customers 40 --items 20 --orders 150 \
    > /dev/null || exit 99
printf 'Hello {{ customer.first_name }}\n{{#each items}}{{ title }}\n{{/each}}' \
    > "$D/templates/t.txt"
cat > "$D/p.yaml" <<EOF
store: {path: crm.db}
sources:
  shop_customers:
    plugin: customers
    path: sample/customers.csv
    columns: {external_id: customer_id, email: email, first_name: first_name}
    consents: {email/marketing: email_marketing}
    consent_time: registered_at
    time_format: iso8601
    default_country_code: "+44"
  shop_orders:
    plugin: orders
    path: sample/orders.csv
    columns: {order_id: order_id, line: line, customer: customer_id, sku: sku,
              title: title, quantity: quantity, unit_price: unit_price,
              time: ordered_at}
    time_format: iso8601
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail: {plugin: smtp, url: "smtp://127.0.0.1:$PORT",
         from: "Shop <shop@example.com>", starttls: "no"}
campaigns:
  news:
    personalizer: top
    channel: mail
    subject: "{{ customer.first_name }}, news"
    template: templates/t.txt
EOF
want=$("$PYTHON" -c 'import csv,sys; print(sum(1 for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"] == "yes" and r["email"]))' "$D/sample/customers.csv")

# All N wait for one file, then exec ecrm: they start within 50 ms.
pids=
for i in $(seq $N); do
    sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done; shift; exec "$@"' \
        sh "$T/go" "$ECRM" run "$D/p.yaml" --now 2025-06-01T10:00:00Z \
        > "$T/out.$i" 2> "$T/err.$i" &
    pids="$pids $!"
    echo "$!" > "$T/pid.$i"
done
sleep 0.5
t0=$(date +%s)
touch "$T/go"
i=0
for p in $pids; do
    i=$((i + 1))
    wait "$p"
    echo $? > "$T/rc.$i"
done
secs=$(($(date +%s) - t0))

ran=0 locked=0 other=0 winner=
for i in $(seq $N); do
    case $(cat "$T/rc.$i") in
    0) ran=$((ran + 1)); winner=$(cat "$T/pid.$i") ;;
    75) locked=$((locked + 1)) ;;
    *) other=$((other + 1)); cat "$T/err.$i" >&2 ;;
    esac
done
echo "e2e_overlap: $N simultaneous runs in ${secs}s: $ran ran, $locked exited 75, $other otherwise"
check "exactly one run" test "$ran" = 1
check "the $((N - 1)) others exit 75" test "$locked" = $((N - 1))
for i in $(seq $N); do
    [ "$(cat "$T/rc.$i")" = 75 ] || continue
    grep -q "another ecrm run (pid $winner) holds the lock" "$T/err.$i" ||
        bad "run $i does not name the holder $winner: $(cat "$T/err.$i")"
done
wi=$(grep -l "^$winner\$" "$T"/pid.* | sed 's/.*pid\.//')
check "the winner was silent" test ! -s "$T/err.$wi"
check "one message per consenting customer, each received once" \
    "$PYTHON" "$top_srcdir/tests/ledger_check.py" "$D/crm.db" "$SINK" \
    "sent=$want"
check "$want received" test "$(ls "$SINK"/*.eml | wc -l)" = "$want"
finish
