#!/bin/sh
# The smtp channel end to end: `ecrm run` sends through libcurl to
# tests/smtp_server.py (aiosmtpd) started here, which parses every message
# with Python's email package. Names in Polish, Russian, Ukrainian and
# Persian arrive as RFC 2047 encoded-words (no 8-bit header byte) and decode
# back; the Message-ID is the ledger key's; the List-Unsubscribe token
# works with `ecrm unsubscribe`; no name can add a header. The server's
# answers: 4xx -> retry and 5xx -> failed, each with the reply stored; a
# connection cut mid-DATA and a server that is down -> retry; the messages
# that fail once then go: nothing lost, nothing sent twice.
. "${top_srcdir:?}/tests/lib.sh"
. "$top_srcdir/tests/servers.sh"

SECRET=e2e-smtp-unsubscribe-secret-0123456789
export ECRM_TEST_UNSUB=$SECRET SMTP_TEST_SECRET=$SECRET
# smtp SERVER_RUN: start the SMTP server, keeping what it receives in
# $T/smtpN; sets SMTP, SMTP_PORT and SMTP_PID
smtp() { SMTP=$T/smtp$1; start_server smtp_server.py "$SMTP"; SMTP_PID=$! SMTP_PORT=$PORT; }
smtp 1

D=$T/p
mkdir -p "$D"
cat > "$D/customers.csv" <<'C'
customer_id,email,name,email_marketing,registered_at
pl,lukasz@example.pl,Łukasz Żółkiewski,yes,2025-01-01T00:00:00Z
ru,dmitry@example.ru,Дмитрий Иванов,yes,2025-01-01T00:00:00Z
ua,olena@example.ua,Олена Коваленко,yes,2025-01-01T00:00:00Z
ir,maryam@example.ir,مریم محمدی,yes,2025-01-01T00:00:00Z
evil,eve@example.com,"Eve
Bcc: victim@example.com",yes,2025-01-01T00:00:00Z
busy,rcpt450@example.com,Busy,yes,2025-01-01T00:00:00Z
gone,rcpt550@example.com,Gone,yes,2025-01-01T00:00:00Z
late,data451@example.com,Late,yes,2025-01-01T00:00:00Z
cut,drop@example.com,Cut,yes,2025-01-01T00:00:00Z
once,once450@example.com,Once,yes,2025-01-01T00:00:00Z
cut1,oncedrop@example.com,Cut Once,yes,2025-01-01T00:00:00Z
tom,tom@example.com,"Tom & <b>Jerry</b>",yes,2025-01-01T00:00:00Z
buyer,,Buyer,no,2025-01-01T00:00:00Z
C
cat > "$D/orders.csv" <<'O'
order_id,line,customer_id,sku,title,category,quantity,unit_price,currency,ordered_at
O1,1,buyer,S1,Kubek,kitchen,1,10,PLN,2025-05-10T10:00:00Z
O
printf '{{ customer.first_name }}, {{#each items}}{{ title }}{{/each}}\n' > "$D/mail.txt"
printf '<p>{{ customer.name }}: {{#each items}}<b>{{ title }}</b>{{/each}}</p>\n' > "$D/mail.html"
# pipeline PORT: the pipeline, its smtp channel on 127.0.0.1:PORT
pipeline() {
    cat > "$D/p.yaml" <<Y
store: {path: p.db}
sources:
  customers:
    path: customers.csv
    columns: {external_id: customer_id}
    consents: {email/marketing: email_marketing}
    consent_time: registered_at
  orders:
    path: orders.csv
    columns: {customer: customer_id, time: ordered_at}
    time_format: iso8601
personalizers:
  best: {plugin: popular, window_days: 0}
channels:
  mail:
    plugin: smtp
    url: "smtp://127.0.0.1:$1"
    starttls: "no"
    from: "Sklep Kraków <shop@example.com>"
    domain: mail.example.com
    timeout: 5
    unsubscribe_url: "https://shop.example.com/unsub"
    unsubscribe_secret_env: ECRM_TEST_UNSUB
campaigns:
  promo:
    personalizer: best
    channel: mail
    subject: "{{ customer.first_name }}: nowości"
    template: mail.txt
    html_template: mail.html
Y
}
pipeline "$SMTP_PORT"
q() { sqlite3 "$D/p.db" "$1"; }
st() { q "select o.state || ':' || o.attempts from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and c.external_id = '$2'"; }
err() { q "select error from outbox o join customers c on c.id = o.customer_id where o.campaign = '$1' and c.external_id = '$2'"; }
# the summary of the message the server accepted for ADDRESS (one line per
# fact), or nothing
summary_of() { grep -l "^rcpt	$1\$" "$SMTP"/*.txt 2>/dev/null; }
fact() { sed -n "s/^$2	//p" "$1"; }
# how many messages each address received, over every server run
received() { cat "$T"/smtp*/*.txt 2>/dev/null | sed -n 's/^rcpt	//p' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '; }

expect_code 0 "smtp pipeline is valid" "$ECRM" check "$D/p.yaml"
"$ECRM" run "$D/p.yaml" --now 2025-06-02T12:00:00Z --json > "$T/r1.json" 2>"$T/r1.err"; rc=$?
check "a permanent refusal makes the run exit 69" test "$rc" = 69

# --- what arrived, parsed by Python's email package
for who in "pl lukasz@example.pl Łukasz Żółkiewski" "ru dmitry@example.ru Дмитрий Иванов" \
           "ua olena@example.ua Олена Коваленко" "ir maryam@example.ir مریم محمدی"; do
    set -- $who
    id=$1 addr=$2; shift 2
    name="$*"
    s=$(summary_of "$addr")
    check "$id: one message" test -n "$s"
    [ -n "$s" ] || continue
    check "$id: the name decodes back" test "$(fact "$s" to_name)" = "$name"
    check "$id: the subject decodes back" test "$(fact "$s" h:subject)" = "${name%% *}: nowości"
    check "$id: no 8-bit byte in the headers" test "$(fact "$s" header_8bit)" = 0
    check "$id: name and subject as RFC 2047 encoded-words" \
        grep -q "^raw:to	=?UTF-8?.*?= <$addr>\$" "$s"
    check "$id: encoded subject" grep -q "^raw:subject	=?UTF-8?" "$s"
    check "$id: folded at 78 characters" test "$(fact "$s" text_header_max_line)" -le 78
    check "$id: multipart/alternative, no defect" test \
        "$(fact "$s" content_type):$(fact "$s" defects):$(fact "$s" plain_charset):$(fact "$s" html_charset)" = \
        "multipart/alternative:0:utf-8:utf-8"
    check "$id: the provider id is the server's queue id" test \
        "$(q "select provider_id from outbox o join customers c on c.id = o.customer_id where c.external_id = '$id'")" = \
        "Q$(basename "$s" .txt)"
done
s=$(summary_of lukasz@example.pl)
key=$(q "select key from outbox o join customers c on c.id = o.customer_id where c.external_id = 'pl'")
check "Message-ID from the ledger key" test "$(fact "$s" h:message-id)" = \
    "<$(printf '%s' "$key" | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:32])')@mail.example.com>"
check "HTML part escaped" test "$(fact "$s" html)" = '<p>Łukasz Żółkiewski: <b>Kubek</b></p>\n'
check "one-click unsubscribe (RFC 8058)" test "$(fact "$s" h:list-unsubscribe-post)" = "List-Unsubscribe=One-Click"
check "the token's HMAC checks out in Python" test "$(fact "$s" token_valid)" = 1
check "HTML part: the name escaped, the text part as is" test \
    "$(fact "$(summary_of tom@example.com)" html)|$(fact "$(summary_of tom@example.com)" plain)" = \
    '<p>Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;: <b>Kubek</b></p>\n|Tom, Kubek\n'
e=$(summary_of eve@example.com)
check "a name with a line break adds no header: one recipient" test "$(fact "$e" rcpt_count)" = 1
check "the stored name has its line break" test "$(q "select instr(name, char(10)) > 0 from customers where external_id = 'evil'")" = 1
check "it arrives as one display name" test "$(fact "$e" to_name)" = "Eve Bcc: victim@example.com"
check "no Bcc header" test -z "$(fact "$e" h:bcc)"
check "the name stays a name" test "$(fact "$e" to_addr)" = "eve@example.com"

# --- the server's refusals, stored in the ledger
check "450 at RCPT: retry" test "$(st promo busy)" = "3:1"
check "450: the reply stored" test -n "$(err promo busy | grep '450 4.2.1 Mailbox busy')"
check "550 at RCPT: failed at once" test "$(st promo gone)" = "4:1"
check "550: the reply stored" test -n "$(err promo gone | grep '550 5.1.1 <rcpt550@example.com>: Recipient address rejected')"
check "451 after DATA: retry with the reply" test "$(st promo late):$(err promo late | grep -c '451 4.3.0')" = "3:1:1"
check "connection cut mid-DATA: retry" test "$(st promo cut)" = "3:1"
check "450 once: retry" test "$(st promo once)" = "3:1"
check "cut once: retry" test "$(st promo cut1)" = "3:1"
check "the refused and cut messages were not received" test -z "$(summary_of once450@example.com)$(summary_of oncedrop@example.com)$(summary_of drop@example.com)"

# --- the next attempts: those that failed once go through, once
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-02T13:00:00Z 2>/dev/null
check "second attempt: the once-refused is sent" test "$(st promo once)" = "2:2"
check "second attempt: the once-cut is sent" test "$(st promo cut1)" = "2:2"
check "the always-busy waits again" test "$(st promo busy)" = "3:2"
check "a failed message is not tried again" test "$(st promo gone)" = "4:1"

# --- the server is down: messages wait, none is lost
kill "$SMTP_PID"; wait "$SMTP_PID" 2>/dev/null
cat >> "$D/customers.csv" <<'C'
new,new@example.com,Nowy,yes,2025-06-02T14:00:00Z
C
"$ECRM" run "$D/p.yaml" --now 2025-06-02T14:00:00Z --json > "$T/r3.json" 2>"$T/r3.err"; rc=$?
check "server down: the new message waits for a retry" test "$(st promo new)" = "3:1"
check "server down: the error names the connection" test -n "$(err promo new | grep -i 'connect')"
check "server down: not an internal error" test "$rc" != 70
check "server down: a warning says it will retry" grep -q "Couldn't connect to server.*(attempt 1, will retry)" "$T/r3.err"
smtp 2
pipeline "$SMTP_PORT"
"$ECRM" run "$D/p.yaml" --stage deliver --now 2025-06-03T14:00:00Z 2>/dev/null
check "server back: the waiting message is sent" test "$(st promo new)" = "2:2"
"$ECRM" run "$D/p.yaml" --now 2025-06-04T14:00:00Z 2>/dev/null
check "every address received exactly one message, whatever failed on the way" test \
    "$(received)" = "dmitry@example.ru=1 eve@example.com=1 lukasz@example.pl=1 maryam@example.ir=1 new@example.com=1 olena@example.ua=1 once450@example.com=1 oncedrop@example.com=1 tom@example.com=1 "

# --- the List-Unsubscribe link revokes the consent it came for
url=$(fact "$s" h:list-unsubscribe | sed 's/^<\([^>]*\)>.*/\1/')
"$ECRM" unsubscribe "$url" -p "$D/p.yaml" --json > "$T/u.json"; rc=$?
check "unsubscribe with the received link: exit 0" test "$rc" = 0
check "unsubscribe: e-mail marketing revoked for that customer" test \
    "$(q "select k.state || ':' || k.source from consents k join customers c on c.id = k.customer_id where c.external_id = 'pl' and k.channel = 'email' and k.purpose = 'marketing' order by k.time desc, k.id desc limit 1")" = "0:unsubscribe"
cat >> "$D/p.yaml" <<'Y'
  second:
    personalizer: best
    channel: mail
    subject: "Again"
    template: mail.txt
Y
"$ECRM" run "$D/p.yaml" --now 2025-06-05T14:00:00Z 2>/dev/null
check "after unsubscribing: no_consent, no message" test \
    "$(q "select o.reason from outbox o join customers c on c.id = o.customer_id where o.campaign = 'second' and c.external_id = 'pl'")" = no_consent
finish
