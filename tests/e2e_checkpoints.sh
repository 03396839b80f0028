#!/bin/sh
# A damaged checkpoint, for each file source (customers, orders, survey,
# events from CSV and from JSON lines, weblog): garbage, a value cut short,
# a value with one digit changed. The source must stop with exit 65 and a
# message naming the source and the checkpoint, ingest nothing (no record
# twice: reading from the start would take events and answers again), and
# leave the other sources alone. With the value restored, the next run
# takes exactly the new records; deleting the checkpoint (the documented
# way to read a file from its start on purpose) re-reads it, which the
# sources with natural keys (orders) absorb without a duplicate.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/p
mkdir -p "$D"
cat > "$D/p.yaml" <<'EOF'
store: {path: crm.db}
sources:
  regs:
    plugin: customers
    path: customers.csv
    columns: {external_id: id, email: email}
  shop:
    plugin: orders
    path: orders.csv
    columns: {order_id: id, customer: customer, sku: sku, quantity: qty,
              unit_price: price, time: time}
    time_format: iso8601
  poll:
    plugin: survey
    path: survey.csv
    columns: {customer: id}
    questions: {colour: attribute:colour, note: raw}
  tickets:
    plugin: events
    path: tickets.csv
    type: ticket
  clicks:
    plugin: events
    path: clicks.jsonl
    format: jsonl
  web:
    plugin: weblog
    path: access.log
    login_is_customer: true
EOF
# add N: append round N's records to every input
add() {
    n=$1
    [ -f "$D/customers.csv" ] || {
        echo id,email > "$D/customers.csv"
        echo id,customer,sku,qty,price,time > "$D/orders.csv"
        echo id,colour,note > "$D/survey.csv"
        echo customer,time,url > "$D/tickets.csv"
    }
    m=$(printf %02d "$n") # the round's minute
    for i in 1 2 3; do
        k=$n-$i
        echo "C$k,c$k@example.com" >> "$D/customers.csv"
        echo "O$k,C$k,S$i,1,2.50,2025-01-01T10:$m:0${i}Z" >> "$D/orders.csv"
        echo "C$k,blue,note $k" >> "$D/survey.csv"
        echo "C$k,2025-01-01T10:$m:0${i}Z,/t/$k" >> "$D/tickets.csv"
        echo "{\"customer\":\"C$k\",\"time\":\"2025-01-01T10:$m:0${i}Z\",\"type\":\"click\",\"url\":\"/c/$k\"}" >> "$D/clicks.jsonl"
        echo "10.0.0.$i - C$k [01/Jan/2025:10:$m:0$i +0000] \"GET /page/$k HTTP/1.1\" 200 10 \"-\" \"Mozilla/5.0\"" >> "$D/access.log"
    done
}
q() { sqlite3 "$D/crm.db" "$1"; }
# counts: records per source, as "customers orders answers tickets clicks web"
counts() {
    q "SELECT (SELECT count(*) FROM customers WHERE email IS NOT NULL),
        (SELECT count(*) FROM order_lines),
        (SELECT count(*) FROM survey_answers),
        (SELECT count(*) FROM events WHERE type = 'ticket'),
        (SELECT count(*) FROM events WHERE type = 'click'),
        (SELECT count(*) FROM events WHERE url LIKE '/page/%')" | tr '|' ' '
}
ingest() {
    "$ECRM" run "$D/p.yaml" --stage ingest > /dev/null 2> "$T/err"
    rc=$?
}

add 1
ingest
check "first read" test "$rc" = 0
check "first read counts" test "$(counts)" = "3 3 6 3 3 3"
SOURCES="regs shop poll tickets clicks web"
# key SRC / value SRC: the file checkpoint of SRC and its value
key() {
    q "SELECT key FROM checkpoints WHERE instance = '$1'
       AND (key LIKE 'file:%' OR key LIKE 'fp:%')"
}
value() { q "SELECT value FROM checkpoints WHERE instance = '$1' AND key = '$(key "$1")'"; }
# damage HOW SRC...: write HOW's damaged value over each SRC's checkpoint
damage() {
    how=$1
    shift
    for src in "$@"; do
        good=$(value "$src")
        case $how in
        garbage) v='x%$0' ;;
        half) v=$(printf '%s' "$good" | cut -c1-$((${#good} / 2))) ;;
        "last char cut") v=$(printf '%s' "$good" | sed 's/.$//') ;;
        "offset changed") v=$(printf '%s' "$good" | sed 's/off=\([0-9]\)/off=9\1/') ;;
        esac
        echo "$src $good" >> "$T/saved"
        q "UPDATE checkpoints SET value = '$(printf '%s' "$v" | sed "s/'/''/g")'
           WHERE instance = '$src' AND key = '$(key "$src")'"
    done
}
restore() {
    while read -r src good; do
        q "UPDATE checkpoints SET value = '$good' WHERE instance = '$src'
           AND key = '$(key "$src")'"
    done < "$T/saved"
    : > "$T/saved"
}
# grown BEFORE AFTER "SRC...": the named sources took nothing, the others
# their three new records (survey: two answers each)
grown() {
    i=0
    for b in $1; do
        i=$((i + 1))
        src=$(echo $SOURCES | cut -d' ' -f$i)
        want=$((b + 3 * (i == 3 ? 2 : 1)))
        case " $3 " in *" $src "*) want=$b ;; esac
        [ "$(echo "$2" | cut -d' ' -f$i)" = "$want" ] || return 1
    done
}

round=1
# Each kind of damage to all six at once, then to one (the rest go on).
for case in "garbage:$SOURCES" "half:$SOURCES" "last char cut:$SOURCES" \
    "offset changed:$SOURCES" "garbage:poll" "half:web"; do
    how=${case%%:*} srcs=${case#*:}
    round=$((round + 1))
    add "$round"
    before=$(counts)
    # shellcheck disable=SC2086
    damage "$how" $srcs
    ingest
    [ "$rc" = 65 ] || bad "$how ($srcs): exit $rc, expected 65"
    for src in $srcs; do
        grep -q "\[source:$src\] checkpoint '$(key "$src")' is damaged" "$T/err" ||
            bad "$how, $src: unclear message: $(cat "$T/err")"
    done
    grown "$before" "$(counts)" "$srcs" ||
        bad "$how ($srcs): counts $before -> $(counts)"
    [ "$srcs" = "$SOURCES" ] && [ "$how" = half ] && cp "$T/err" "$T/messages"
    # the values restored: exactly the new records
    restore
    ingest
    [ "$rc" = 0 ] || bad "$how: exit $rc after the restore: $(cat "$T/err")"
    ok
done
cat "$T/messages"
check "every record exactly once" test "$(counts)" = "$((3 * round)) $((3 * round)) $((6 * round)) $((3 * round)) $((3 * round)) $((3 * round))"

# The documented recovery: delete the checkpoint, the file is read again
# from its start; orders are deduplicated by (order, line).
q "DELETE FROM checkpoints WHERE instance = 'shop' AND key = 'file:orders.csv'"
ingest
check "recovery by deleting the checkpoint" test "$rc" = 0
check "orders read again, none twice" test "$(q 'SELECT count(*) FROM order_lines')" = $((3 * round))
finish
