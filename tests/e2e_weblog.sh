#!/bin/sh
# The weblog source through the real store, run after run: every line
# taken once (appends, rotation by rename and by copytruncate, gzip),
# read = accepted + quarantined + filtered, a visit continuing in the next
# run, a login attaching the visitor's earlier anonymous visits, bytes
# that are not UTF-8 stored escaped, and time zone offsets.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/w
mkdir -p "$D"
cat > "$D/p.yaml" <<'YAML'
store:
  path: w.db
sources:
  web:
    plugin: weblog
    path: 'access.log*'
    identity: [user]
    login_is_customer: true
YAML
UA='Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0'
# lines FILE IP USER T PATH [N STEP]: append N (1) combined lines of IP at
# unix time T, T + STEP, ... (UTC); IP and PATH may hold %d for the line's
# index
lines() {
    "$PYTHON" - "$@" <<'PY'
import sys, time
f, ip, user, t, path = sys.argv[1:6]
n = int(sys.argv[6]) if len(sys.argv) > 6 else 1
step = int(sys.argv[7]) if len(sys.argv) > 7 else 60
with open(f, "a") as out:
    for i in range(n):
        ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(int(t) + i * step))
        p = path % i if "%d" in path else path
        a = ip % (i + 1) if "%d" in ip else ip
        out.write(f'{a} - {user} [{ts}] "GET {p} HTTP/1.1" 200 1 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"\n')
PY
}
sql() { sqlite3 "$D/w.db" "$1"; }
# run: one ingest; its counts into $read $accepted $quarantined $filtered
run() {
    "$ECRM" run "$D/p.yaml" --stage ingest --json > "$T/run.json" 2> "$T/err"
    check "run exits 0: $(cat "$T/err")" test $? = 0
    eval "$(json_get "$T/run.json" '"read=%d accepted=%d quarantined=%d filtered=%d" % tuple(j["sources"]["web"][k] for k in ("read", "accepted", "quarantined", "filtered"))')"
    check "read $read = accepted $accepted + quarantined $quarantined + filtered $filtered" \
        test "$read" -eq $((accepted + quarantined + filtered))
}
T0=1700000000

# --- run 1: two visitors, one logs in; a bad line, a robot, odd bytes
L=$D/access.log
lines "$L" 10.0.0.1 - $T0 /product/A%d 3
lines "$L" 10.0.0.2 - $((T0 + 10)) /p/%d 2
lines "$L" 10.0.0.2 bob $((T0 + 30)) /account
printf '10.0.0.3 - - [14/Nov/2023:22:13:20 +0000] "GET /x HTTP/1.1" 200 1 "-" "unterminated\n' >> "$L"
printf '10.0.0.4 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 1 "-" "Googlebot/2.1"\n' >> "$L"
printf '10.0.0.5 - - [15/Nov/2023:00:13:21 +0200] "GET /caf\351 HTTP/1.1" 200 1 "-" "%s"\n' "$UA" >> "$L"
printf '10.0.0.6 - - [14/Nov/2023:22:13:20 +0000] "GET /\377 HTTP/1.1" 2x0 1 "-" "%s"\n' "$UA" >> "$L"
run
check "run 1 reads 10 lines" test "$read" = 10
check "run 1 quarantines 2" test "$quarantined" = 2
check "run 1 filters the robot" test "$filtered" = 1
check "one event per accepted line" test "$(sql 'select count(*) from events')" = "$accepted"
check "the bad lines are quarantined with line and reason" \
    test "$(sql "select group_concat(line || ':' || reason, ',') from quarantine")" = "7:unterminated quoted field,10:bad status"
check "a quarantined line that is not UTF-8 is kept as a blob" \
    test "$(sql "select typeof(raw) from quarantine where line = 10")" = blob
check "bytes that are not UTF-8 are stored as U+FFFD" \
    test "$(sql "select hex(url) from events where url like '/caf%'")" = 2F636166EFBFBD
check "the zone offset is honoured" \
    test "$(sql "select time from events where url like '/caf%'")" = $((T0 + 1))
check "visitor A: one visit of 3 pages" \
    test "$(sql "select count(*) || ':' || sum(pages) from sessions where landing = '/product/A0'")" = 1:3
check "bob's login takes his anonymous pages along" \
    test "$(sql "select count(*) from events e join customers c on c.id = e.customer_id where c.external_id = 'bob'")" = 3
check "... and his visit" \
    test "$(sql "select count(*) || ':' || sum(pages) from sessions s join customers c on c.id = s.customer_id where c.external_id = 'bob'")" = 1:3
check "events name their visit" \
    test "$(sql 'select count(*) from events e join sessions s on s.id = e.session_id')" = "$accepted"
events=$accepted
sessions=$(sql 'select count(*) from sessions')

# --- run 2: 100 more lines; A goes on within the timeout
lines "$L" 10.0.0.1 - $((T0 + 720)) /product/B
lines "$L" 10.1.0.%d - $((T0 + 701)) /new 99 1
run
check "100 lines appended: 100 read" test "$read" = 100
check "... exactly 100 new events" test "$(sql 'select count(*) from events')" = $((events + 100))
check "A's visit continues in the next run" \
    test "$(sql "select count(*) || ':' || sum(pages) || ':' || max(exit_page) from sessions where landing = '/product/A0'")" = 1:4:/product/B
check "99 new visits" test "$(sql 'select count(*) from sessions')" = $((sessions + 99))
events=$((events + 100))

# --- run 3: 5 more lines, then logrotate renames and a new file starts
lines "$L" 10.2.0.1 - $((T0 + 4000)) /r/%d 5
mv "$L" "$L.1"
lines "$L" 10.2.0.2 - $((T0 + 4100)) /s/%d 7
run
check "rename: the rest of the old file and the new one, once" \
    test "$(sql 'select count(*) from events')" = $((events + 12))
events=$((events + 12))

# --- run 4: copytruncate, with 4 lines written before the copy
lines "$L" 10.2.0.3 - $((T0 + 5000)) /t/%d 4
cp "$L" "$L.2"
: > "$L"
lines "$L" 10.2.0.4 - $((T0 + 5100)) /u/%d 3
run
check "copytruncate: the 4 lines from the copy and the 3 new ones, once" \
    test "$(sql 'select count(*) from events')" = $((events + 7))
check "... each line once" \
    test "$(sql "select count(*) from (select url from events where url like '/t/%' or url like '/u/%' group by url having count(*) = 1)")" = 7
events=$((events + 7))

# --- run 5: the rotated file compressed: nothing new
gzip "$L.1"
run
check "a rotated file compressed is not read again" test "$read" = 0
check "no event twice" test "$(sql 'select count(*) from events')" = "$events"
finish
