#!/bin/sh
# Hostile data end to end: customer names, item titles and the subject and
# HTML templates that show them carry CR/LF, NUL, 10,000-character and
# right-to-left text, HTML and SQL. The messages a loopback SMTP server
# (aiosmtpd) receives are parsed with Python's email package: no header
# can be injected (one To, one Subject, no Bcc, no extra header, one
# recipient in the envelope), header lines stay within RFC 5322's 998
# bytes, names survive RFC 2047 encoding unchanged (less their control
# characters), and the HTML part shows names and titles escaped.
# SQL-looking values are stored and matched as data. A world-writable
# plugin directory is refused. The store, its side files and lock, and the
# Maildir's messages are 0600 even under umask 000.
. "${top_srcdir:?}/tests/lib.sh"
. "$top_srcdir/tests/servers.sh"

D=$T/p
SINK=$T/sink
mkdir -p "$D/templates"
start_server smtp_server.py "$SINK"

# Customers and orders written by Python: CSV quoting carries the CR/LF.
"$PYTHON" - "$D" <<'PY'
import csv, sys
d = sys.argv[1]
names = {
    "crlf": "Eve\r\nBcc: evil1@evil.example",
    "lf": "Mallory\nSubject: hacked\nX-Evil: 1",
    "cr": "Trudy\rTo: evil2@evil.example",
    "nul": "Nul\x00Bcc: evil3@evil.example",
    "long": "L" + "o" * 10000 + "ng",
    "rtl": "\u202egnp.exe\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "html": "<script>alert('x')</script> & <b>Bob</b>",
    "sql": "Robert'); DROP TABLE customers;--",
}
with open(d + "/customers.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(["id", "email", "name", "consent"])
    for i, (k, v) in enumerate(names.items()):
        w.writerow(["%s-%d" % (k, i), "%s@example.com" % k, v, "yes"])
    w.writerow(["1' OR '1'='1", "sqlid@example.com", "Sql Id", "yes"])
    # an address with a line break is refused, never used
    w.writerow(["bad-addr", "x@example.com\r\nBcc: evil4@evil.example",
                "Bad Addr", "yes"])
with open(d + "/orders.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["order", "customer", "sku", "title", "qty", "price", "time"])
    w.writerow(["O1", "sql-7", "S1",
                "Mug\r\nX-Evil: 2 <img src=x onerror=alert(1)>", 1, 3, ""])
    w.writerow(["O2", "sql-7", "S2", "Cup', 1); DELETE FROM items;--", 1, 3, ""])
    w.writerow(["O3", "sql-7", "S3", "Plate \u202eevil", 1, 3, ""])
PY
sed -i 's/,$/,2025-01-01T10:00:00Z/' "$D/orders.csv"
printf 'Hello {{ customer.name }}\n{{#each items}}- {{ title }}\n{{/each}}' \
    > "$D/templates/t.txt"
printf '<p>Hello {{ customer.name }}</p><ul>{{#each items}}<li>{{ title }}</li>{{/each}}</ul>' \
    > "$D/templates/t.html"
cat > "$D/p.yaml" <<EOF
store: {path: crm.db}
sources:
  regs:
    plugin: customers
    path: customers.csv
    columns: {external_id: id, email: email, name: name}
    consents: {email/marketing: consent}
  shop:
    plugin: orders
    path: orders.csv
    columns: {order_id: order, customer: customer, sku: sku, title: title,
              quantity: qty, unit_price: price, time: time}
    time_format: iso8601
segments:
  injected: "name == \\"x' OR '1'='1\\" or external_id == \\"1' OR 1=1 --\\""
  sql_id: "external_id == \\"1' OR '1'='1\\""
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail: {plugin: smtp, url: "smtp://127.0.0.1:$PORT",
         from: "Shop <shop@example.com>", starttls: "no"}
  box: {plugin: maildir, path: mail, from: "Shop <shop@example.com>"}
campaigns:
  news:
    personalizer: top
    channel: mail
    items: 3
    subject: "{{ customer.name }}: {{#each items}}{{ title }} {{/each}}"
    template: templates/t.txt
    html_template: templates/t.html
  copy:
    personalizer: top
    channel: box
    subject: "{{ customer.name }}"
    template: templates/t.txt
EOF

(umask 000 && "$ECRM" run -v "$D/p.yaml" --now 2025-02-01T10:00:00Z \
    > "$T/out" 2> "$T/err")
rc=$?
check "run exits 0: $rc" test "$rc" = 0
# one log line per message: data with line breaks cannot forge lines
check "no forged log line" test -z "$(grep -v '^ecrm: ' "$T/err")"

# every received message, parsed
"$PYTHON" - "$SINK" "$D/customers.csv" <<'PY' && ok || bad "received messages"
import csv, email, email.header, email.policy, os, sys
sink, custs = sys.argv[1], sys.argv[2]
names = {r["email"]: r["name"] for r in csv.DictReader(
    open(custs, encoding="utf-8", newline=""))}
n = 0
for f in sorted(os.listdir(sink)):
    if not f.endswith(".eml"):
        continue
    n += 1
    raw = open(os.path.join(sink, f), "rb").read()
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, (f, len(line))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b""), f  # bare LF or CR
    assert b"\r" not in head.replace(b"\r\n", b""), f
    m = email.message_from_bytes(raw, policy=email.policy.default)
    keys = [k.lower() for k in m.keys()]
    for h in ("to", "from", "subject", "message-id", "date"):
        assert keys.count(h) == 1, (f, h, keys)
    assert not {"bcc", "cc", "x-evil"} & set(keys), (f, keys)
    assert not m.defects and all(not p.defects for p in m.walk()), (f, m.defects)
    to = m["To"].addresses
    assert len(to) == 1, (f, to)
    addr = to[0].addr_spec
    assert addr in names and "evil" not in addr, (f, addr)
    # The name, decoded by email.header (Python's address parser puts a
    # blank between adjacent encoded-words, which RFC 2047 says to drop):
    # the original with its control characters made blanks.
    raw_to = email.message_from_bytes(raw, policy=email.policy.compat32)["To"]
    got = str(email.header.make_header(email.header.decode_header(raw_to)))
    got = got.rsplit(" <", 1)[0].strip('"')
    want = "".join(" " if ord(c) < 32 or c == "\x7f" else c
                   for c in names[addr]).strip()
    assert " ".join(got.split()) == " ".join(want.split()), (f, got[:80], want[:80])
    subj = str(m["Subject"])
    assert "\r" not in subj and "\n" not in subj, (f, subj)
    html = m.get_body(("html",)).get_content()
    assert "<script" not in html and "<img" not in html and "<b>" not in html, (f, html[:200])
    if "script" in names[addr]:
        assert "&lt;script&gt;" in html, html[:200]
    assert "&lt;img src=x" in html or "img" not in html, html[:300]
    summary = open(os.path.join(sink, f[:-4] + ".txt"), encoding="utf-8").read()
    assert "rcpt_count\t1\n" in summary, (f, summary[:200])
assert n >= 7, n
print("injection: %d messages received, parsed, nothing injected" % n)
PY
check "no message to an injected or refused address" \
    test -z "$(grep -l 'evil' "$SINK"/*.txt 2>/dev/null | xargs -r grep -l '^rcpt	.*evil')"
check "the address with a line break is quarantined" \
    test "$(sqlite3 "$D/crm.db" "SELECT count(*) FROM quarantine WHERE source = 'regs' AND reason LIKE 'invalid email%'")" = 1
check "the name with a NUL byte is quarantined, not cut short" \
    test "$(sqlite3 "$D/crm.db" "SELECT line || ':' || col || ': ' || reason FROM quarantine WHERE source = 'regs' AND reason LIKE 'NUL%'")" = "9:3: NUL byte"

# SQL-looking values are data: stored verbatim, matched as text
check "SQL-looking id stored verbatim" \
    test "$(sqlite3 "$D/crm.db" "SELECT count(*) FROM customers WHERE external_id = '1'' OR ''1''=''1'")" = 1
check "SQL-looking name stored verbatim" \
    test "$(sqlite3 "$D/crm.db" "SELECT name FROM customers WHERE external_id = 'sql-7'")" = "Robert'); DROP TABLE customers;--"
check "SQL-looking title stored verbatim" \
    test "$(sqlite3 "$D/crm.db" "SELECT count(*) FROM items WHERE title = 'Cup'', 1); DELETE FROM items;--'")" = 1
check "the tables are all there" test \
    "$(sqlite3 "$D/crm.db" "SELECT count(*) FROM customers WHERE email IS NOT NULL")|$(sqlite3 "$D/crm.db" "SELECT count(*) FROM items")" = "8|3"
"$ECRM" segment list "$D/p.yaml" > "$T/seg" 2>&1
check "an injection-looking expression matches nobody" grep -Eq '^injected +0 ' "$T/seg"
check "an SQL-looking id matches exactly one customer" grep -Eq '^sql_id +1 ' "$T/seg"

# 0600 everywhere, whatever the umask
for f in "$D/crm.db" "$D/crm.db-wal" "$D/crm.db-shm" "$D/crm.db.lock"; do
    [ -e "$f" ] || continue
    check "$(basename "$f") is 0600" test "$(stat -c %a "$f")" = 600
done
check "Maildir messages are 0600" test -n "$(ls "$D/mail/new")" -a \
    -z "$(find "$D/mail" -type f ! -perm 0600)"
check "Maildir directories are not open to others" \
    test -z "$(find "$D/mail" -type d -perm /0007)"

# A world-writable plugin directory is refused (tests/check_loader.c checks
# every other refusal of the loader).
cp -r "$top_builddir/plugins" "$T/ww"
chmod 0777 "$T/ww"
ECRM_PLUGIN_PATH= "$ECRM" run "$D/p.yaml" --plugin-dir "$T/ww" > /dev/null 2> "$T/ww.err"
rc=$?
check "world-writable plugin directory: refused (exit $rc)" test "$rc" != 0
check "world-writable plugin directory: says why" grep -q "world-writable" "$T/ww.err"
finish
