#!/bin/sh
# Secrets given by environment or file never leave: the SMTP password
# (password_env, password_file), the SMS gateway's key (auth_header_env)
# and the unsubscribe HMAC key (unsubscribe_secret_env), and a value put in
# the pipeline with ${VAR}. None may appear on stderr at -v, in --json
# output, in `ecrm check` (valid and invalid pipelines), in `ecrm plugins`,
# in a dry run, after failures (an SMTP 550, a gateway that quotes the key
# it refused in its answer), in the store, or in the messages sent.
# ECRM_SECRETS_KEEP=DIR keeps a copy of the outputs searched.
. "${top_srcdir:?}/tests/lib.sh"
. "$top_srcdir/tests/servers.sh"

D=$T/p
SINK=$T/sink
GW=$T/gw
OUT=$T/out # everything ecrm printed
mkdir -p "$D/templates" "$OUT"
start_server smtp_server.py "$SINK"
SMTP_PORT=$PORT
start_server sms_gateway.py "$GW"
GW_PORT=$PORT

SMTP_PW=pw-Sm7pSecret-42
FILE_PW=pw-FileSecret-77
SMS_KEY=sk_live_SmsSecret_99
UNSUB_KEY=hmac-UnsubSecret-0123456789
VAR_SECRET=var-SubstSecret-5150
export SMTP_PW SMS_AUTH="Bearer $SMS_KEY" UNSUB_KEY VAR_SECRET
printf '%s\n' "$FILE_PW" > "$D/smtp.pw"
chmod 600 "$D/smtp.pw"

cat > "$D/customers.csv" <<'EOF'
id,email,phone,name,consent
C1,ann@example.com,+447900000001,Ann One,yes
C2,rcpt550-bob@example.com,+447900000002,Bob Two,yes
EOF
cat > "$D/orders.csv" <<'EOF'
order,customer,sku,qty,price,time
O1,C1,S1,1,2.50,2025-01-01T10:00:00Z
O2,C2,S2,1,2.50,2025-01-01T10:00:00Z
O3,C1,S3,1,2.50,2025-01-01T10:00:00Z
EOF
printf 'Hi {{ customer.name }}\n{{#each items}}{{ title }}\n{{/each}}' \
    > "$D/templates/t.txt"
# pipeline SMS_PATH: the pipeline, its gateway answering SMS_PATH
pipeline() {
    cat > "$D/p.yaml" <<EOF
store: {path: crm.db}
sources:
  regs:
    plugin: customers
    path: customers.csv
    columns: {external_id: id, email: email, phone: phone, name: name}
    consents: {email/marketing: consent, sms/marketing: consent}
  shop:
    plugin: orders
    path: orders.csv
    columns: {order_id: order, customer: customer, sku: sku, quantity: qty,
              unit_price: price, time: time}
    time_format: iso8601
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail:
    plugin: smtp
    url: smtp://127.0.0.1:$SMTP_PORT
    from: "Shop <shop@example.com>"
    starttls: "no"
    username: shop
    password_env: SMTP_PW
    unsubscribe_url: https://shop.example/u
    unsubscribe_secret_env: UNSUB_KEY
  mail2:
    plugin: smtp
    url: smtp://127.0.0.1:$SMTP_PORT
    from: "Shop <shop@example.com>"
    starttls: "no"
    username: shop
    password_file: smtp.pw
  text:
    plugin: sms_http
    url: http://127.0.0.1:$GW_PORT$1
    auth_header_env: SMS_AUTH
    sender: \${VAR_SECRET}
    max_segments: 10
campaigns:
  news: {personalizer: top, channel: mail, subject: "News",
         template: templates/t.txt, recurrence: daily}
  news2: {personalizer: top, channel: mail2, subject: "More",
          template: templates/t.txt, recurrence: daily}
  texts: {personalizer: top, channel: text, template: templates/t.txt,
          recurrence: daily}
EOF
}
pipeline /ok
E=$ECRM
"$E" check "$D/p.yaml" > "$OUT/check.out" 2>&1
check "ecrm check accepts the pipeline" test $? = 0
"$E" run -v --json "$D/p.yaml" --now 2025-02-01T10:00:00Z > "$OUT/run.json" 2> "$OUT/run.err"
check "a run with a 550 exits 69" test $? = 69
"$E" run -v --dry-run "$D/p.yaml" --now 2025-02-02T10:00:00Z > "$OUT/dry.out" 2>&1
"$E" run -v --dry-run --json "$D/p.yaml" --now 2025-02-02T10:00:00Z > "$OUT/dry.json" 2>&1
pipeline /echo401
"$E" run -v --json "$D/p.yaml" --now 2025-02-03T10:00:00Z > "$OUT/echo.json" 2> "$OUT/echo.err"
check "the gateway's refusal is reported" grep -q "gateway answered 401: .*invalid credentials: Bearer \*\*\*" "$OUT/echo.err"
for p in smtp sms_http; do
    "$E" plugins --describe "$p" > "$OUT/describe-$p" 2>&1
    "$E" plugins --describe "$p" --json > "$OUT/describe-$p.json" 2>&1
done
"$E" plugins --json > "$OUT/plugins.json" 2>&1
# invalid pipelines: the substituted secret lands in options that refuse it
sed -e 's/^    starttls: "no"$/    starttls: ${VAR_SECRET}/' \
    -e 's/^    max_segments: 10$/    max_segments: ${VAR_SECRET}/' \
    "$D/p.yaml" > "$D/bad.yaml"
"$E" check "$D/bad.yaml" > "$OUT/check-bad.out" 2>&1
check "ecrm check refuses the bad pipeline" test $? = 65
"$E" run "$D/bad.yaml" > "$OUT/run-bad.out" 2>&1
sed 's/^    from: "Shop <shop@example.com>"$/    from: ${VAR_SECRET}/' \
    "$D/p.yaml" > "$D/bad2.yaml"
"$E" run -v "$D/bad2.yaml" > "$OUT/run-bad2.out" 2>&1
check "a secret as a bad sender is refused" grep -q "from" "$OUT/run-bad2.out"
cp "$D"/crm.db* "$OUT/" 2>/dev/null
cp "$SINK"/*.eml "$GW"/*.txt "$OUT/"
check "the messages were sent" test "$(ls "$OUT"/*.eml | wc -l)" -ge 4

for s in "$SMTP_PW" "$FILE_PW" "$SMS_KEY" "$UNSUB_KEY" "$VAR_SECRET"; do
    leaks=$(grep -rlaF -- "$s" "$OUT")
    case $s in # the gateway must receive its key and the sender id
    "$SMS_KEY" | "$VAR_SECRET") leaks=$(echo "$leaks" | grep -v '/[0-9]*\.txt$') ;;
    esac
    check "${s%%-*}... appears nowhere" test -z "$leaks"
    [ -z "$leaks" ] || echo "leaked in: $leaks" >&2
done
check "the outputs are not empty" test -s "$OUT/run.err" -a -s "$OUT/run.json" -a -s "$OUT/check-bad.out"
[ -n "${ECRM_SECRETS_KEEP:-}" ] && cp -r "$OUT" "$ECRM_SECRETS_KEEP"
echo "e2e_secrets: 5 secrets, $(ls "$OUT" | wc -l) outputs searched"
finish
