#!/bin/sh
# The store on a file system that is full, or read-only (the file, then the
# whole directory): each run must stop with a plain message and exit 73,
# keep what it had committed, and lose nothing: once the file system is
# fixed, the next run takes every remaining record exactly once (events,
# which have no natural key, counted one by one) and delivers every message
# once.
#
# Needs a private mount namespace with a small tmpfs: as root, unshare -m;
# otherwise a user namespace (unshare -rm). Skipped (77) when neither works.
if [ -z "${ECRM_STORE_FAULTS_NS:-}" ]; then
    if [ "$(id -u)" = 0 ]; then ns="unshare -m --propagation private"
    else ns="unshare -r -m --propagation private"; fi
    if ! $ns sh -c 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" &&
            umount "$d" && rmdir "$d"' 2>/dev/null; then
        echo "SKIP: cannot mount a tmpfs in a private mount namespace"
        exit 77
    fi
    ECRM_STORE_FAULTS_NS=1 exec $ns sh "$0" "$@"
fi
. "${top_srcdir:?}/tests/lib.sh"
trap 'umount -R "$M" 2>/dev/null; rm -rf "$T"' EXIT

M=$T/fs # the store's directory: the tmpfs
IN=$T/in
mkdir -p "$M" "$IN/templates"
mount -t tmpfs -o size=1536k,mode=0755 tmpfs "$M" || exit 77

# ~1 MB of order lines and events: more than the tmpfs holds as a store
"$PYTHON" - "$IN" <<'PY'
import json, sys
d = sys.argv[1]
with open(d + "/customers.csv", "w") as f:
    f.write("customer_id,email,first_name,consent,registered_at\n")
    for i in range(1, 41):
        f.write("C%d,c%d@example.com,Ann%d,yes,2025-01-01T00:00:00Z\n"
                % (i, i, i))
with open(d + "/orders.csv", "w") as f:
    f.write("order_id,line,customer_id,sku,quantity,unit_price,time\n")
    for i in range(12000):
        f.write("O%d,%d,C%d,S%d,1,9.50,2025-01-02T10:00:00Z\n"
                % (i // 3, i % 3 + 1, i % 40 + 1, i % 25))
with open(d + "/events.jsonl", "w") as f:
    for i in range(12000):
        f.write(json.dumps({"customer": "C%d" % (i % 40 + 1),
                            "time": "2025-01-03T10:00:00Z", "type": "click",
                            "url": "/click/%d" % i}) + "\n")
PY
printf 'Hi {{ customer.first_name }}\n{{#each items}}{{ title }}\n{{/each}}' \
    > "$IN/templates/t.txt"
cat > "$M/p.yaml" <<EOF
store: {path: crm.db}
sources:
  shop_customers:
    plugin: customers
    path: $IN/customers.csv
    columns: {external_id: customer_id, email: email, first_name: first_name}
    consents: {email/marketing: consent}
    consent_time: registered_at
    time_format: iso8601
  shop_orders:
    plugin: orders
    path: $IN/orders.csv
    columns: {order_id: order_id, line: line, customer: customer_id, sku: sku,
              quantity: quantity, unit_price: unit_price, time: time}
    time_format: iso8601
    batch: 1000
  clicks:
    plugin: events
    path: $IN/events.jsonl
    format: jsonl
    batch: 1000
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail: {plugin: maildir, path: $T/mail, from: "Shop <shop@example.com>"}
campaigns:
  news:
    personalizer: top
    channel: mail
    subject: "{{ customer.first_name }}"
    template: $IN/templates/t.txt
    recurrence: daily
EOF
q() { sqlite3 "$M/crm.db" "$1"; }
run() { # DAY: run the pipeline; stderr in $T/err, exit code in $rc
    "$ECRM" run "$M/p.yaml" --now "$1T10:00:00Z" > /dev/null 2> "$T/err"
    rc=$?
}
report=$T/report
note() { echo "$*" >> "$report"; }
# counts: every source record exactly once
counts_ok() {
    [ "$(q 'SELECT count(*) FROM customers')" = 40 ] &&
        [ "$(q 'SELECT count(*) FROM order_lines')" = 12000 ] &&
        [ "$(q "SELECT count(*), count(DISTINCT url) FROM events WHERE type = 'click'")" = "12000|12000" ]
}
refused() { # NAME: the run stopped with exit 73 and said why
    [ "$rc" = 73 ] || bad "$1: exit $rc, expected 73: $(cat "$T/err")"
    grep -q "file system refused\|Read-only file system\|No space left" "$T/err" ||
        bad "$1: no clear message: $(cat "$T/err")"
    note "$1: exit $rc; $(head -n 2 "$T/err" | tr '\n' ' ')"
}

# 1. full while ingesting
run 2025-02-01
refused "full during ingest"
lines=$(q 'SELECT count(*) FROM order_lines')
events=$(q "SELECT count(*) FROM events WHERE type = 'click'")
check "full: committed batches kept ($lines lines, $events events)" \
    test "$((lines % 1000))$((events % 1000))" = 00
check "full: the store is intact" test "$(q 'PRAGMA integrity_check')" = ok
mount -o remount,size=64m "$M"
run 2025-02-01
check "after growing the file system: exit 0" test "$rc" = 0
check "every record exactly once" counts_ok
check "one message per customer" test "$(ls "$T/mail/new" | wc -l)" = 40

# 2. full while planning, then while delivering. The day's ingest and
# segments run with room to spare; then the file system is filled but for
# a few KiB for the plan stage, and again for the deliver stage. Each
# refused run exits 73 and loses nothing: the plan is made again, and the
# batch being delivered when the store could not record it (all of it
# handed to the channel, core/deliver.c) is "unknown": delivered once,
# never again.
fill() { # leave $1 KiB free on the store's file system
    rm -f "$M/filler"
    dd if=/dev/zero of="$M/filler" bs=4k 2>/dev/null
    truncate -s "-$1k" "$M/filler"
}
stages() { # DAY STAGES: run some stages of DAY
    "$ECRM" run "$M/p.yaml" --now "$1T10:00:00Z" --stage "$2" \
        > /dev/null 2> "$T/err"
    rc=$?
}
day_rows() { q "SELECT count(*) FROM outbox WHERE period = '2025-02-02'"; }
runs() { q 'SELECT count(*) FROM runs'; }
stages 2025-02-02 ingest,segment,personalize
check "day 2: ingest with room: exit 0" test "$rc" = 0
# The least room in which the run is recorded (opening the store, the lock,
# the shared-memory index and the first pages of the log fit) but the plan
# is not: a run that could not even start is tried with one store page
# (16 KiB) more.
spare=16 runs0=$(runs)
while [ "$spare" -le 1024 ]; do
    fill "$spare"
    stages 2025-02-02 plan
    rm -f "$M/filler"
    [ "$rc" = 0 ] || [ "$(runs)" -gt "$runs0" ] && break
    spare=$((spare + 16))
done
refused "full while planning"
note "  with $spare KiB free: $(day_rows) of the day's 40 messages planned"
check "full while planning: nothing of the day planned" test "$(day_rows)" = 0
stages 2025-02-02 plan
check "room again: the day planned" test "$(day_rows)" = 40
# The least room in which delivery records its first batch but not all:
# a run that fails before sending anything is tried again with one store
# page (16 KiB) more.
files0=$(ls "$T/mail/new" | wc -l)
spare=16 sending=0
while [ "$spare" -le 1024 ]; do
    fill "$spare"
    stages 2025-02-02 deliver
    [ "$rc" = 0 ] && break
    [ "$(ls "$T/mail/new" | wc -l)" -gt "$files0" ] && break
    spare=$((spare + 16))
done
rm -f "$M/filler"
if [ "$rc" = 0 ]; then
    bad "full while delivering: the day was delivered in $spare KiB"
else
    refused "full while delivering"
    sending=$(q 'SELECT count(*) FROM outbox WHERE state = 1')
    note "  with $spare KiB free: $(($(ls "$T/mail/new" | wc -l) - files0)) delivered, $(q 'SELECT count(*) FROM outbox WHERE state = 2 AND period = '"'2025-02-02'") recorded as sent, $sending left sending"
fi
run 2025-02-02
check "after freeing space: exit 0" test "$rc" = 0
# delivered: the ledger's sent and unknown messages, and the Maildir's files
delivered() {
    echo "$(q 'SELECT count(*) FROM outbox WHERE state IN (2, 6)')|$(ls "$T/mail/new" | wc -l)"
}
check "full: every message of both days once" test "$(delivered)" = "80|80"
unknown=$(q 'SELECT count(*) FROM outbox WHERE state = 6')
check "full: unknown = the batch in flight ($sending)" test "$unknown" = "$sending"
note "  after freeing space: $(q 'SELECT count(*) FROM outbox WHERE state = 2') sent, $unknown unknown"

# 3. the store file read-only
mount --bind "$M/crm.db" "$M/crm.db" &&
    mount -o remount,ro,bind "$M/crm.db" "$M/crm.db" || {
    bad "cannot make the store file read-only"; finish; exit; }
run 2025-02-03
refused "read-only store file"
umount "$M/crm.db"

# 4. the whole directory read-only
mount -o remount,ro "$M"
run 2025-02-03
refused "read-only directory"
mount -o remount,rw "$M"
run 2025-02-03
check "writable again: exit 0" test "$rc" = 0
check "still every record exactly once" counts_ok
check "every message of three days once" test "$(delivered)" = "120|120"
check "no run left running" test "$(q "SELECT count(*) FROM runs WHERE status = 'running'")" = 0
cat "$report"
finish
