#!/bin/sh
# Crash safety: `ecrm run` killed with SIGKILL at 50 points spread over the
# ingest, segment, plan and deliver stages, each followed by a run to
# completion, against a loopback SMTP server (aiosmtpd). After every round
# tests/crash_model.py checks the store and the server against the input:
# every source record in the store exactly once, no campaign message lost,
# every message the ledger calls sent received exactly once, those it calls
# unknown at most once, nothing received that the ledger does not hold,
# PRAGMA integrity_check ok. Delivery records outcomes per batch, so a kill
# while a batch is in flight leaves all of it "sending" and the next run
# marks it "unknown": the test notes each killed run's "sending" messages
# and checks that the unknown ones are exactly those, only from kills in
# delivery, at most one batch each, received only up to the kill.
#
# Kill points come from ECRM_TEST_KILL_AT=STAGE:N (core/killpoint.h): the
# N-th commit boundary or delivery step of STAGE. Stages and N are drawn
# from the seed: ECRM_CRASH_SEED=S reproduces a run (the seed is printed);
# ECRM_CRASH_KILLS=K changes the number of kills (default 50);
# ECRM_CRASH_KEEP=DIR keeps a copy of the test's files when a round fails.
. "${top_srcdir:?}/tests/lib.sh"

# In the ASan build: no leak check at exit here. Half of these runs are
# killed (no exit), the others repeat the other tests' paths a hundred
# times, and LeakSanitizer's stop-the-world once failed to start on a
# machine at load 12 ("LeakSanitizer has encountered a fatal error").
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
SEED=${ECRM_CRASH_SEED:-$(date +%s)}
KILLS=${ECRM_CRASH_KILLS:-50}
MODEL="$PYTHON $top_srcdir/tests/crash_model.py"
echo "e2e_crash: seed $SEED (reproduce with ECRM_CRASH_SEED=$SEED)"
. "$top_srcdir/tests/servers.sh"

D=$T/p
SINK=$T/sink
mkdir -p "$D/templates"
start_server smtp_server.py "$SINK"

printf 'Hello {{ customer.first_name }},\n{{#each items}}- {{ title }}\n{{/each}}' \
    > "$D/templates/news.txt"
cat > "$D/p.yaml" <<EOF
store:
  path: crm.db
sources:
  shop_customers:
    plugin: customers
    path: customers.csv
    columns: {external_id: customer_id, email: email, first_name: first_name,
              last_name: last_name}
    consents: {email/marketing: email_marketing}
    consent_time: registered_at
    time_format: iso8601
    batch: 2
  shop_orders:
    plugin: orders
    path: orders.csv
    columns: {order_id: order_id, line: line, customer: customer_id, sku: sku,
              title: title, quantity: quantity, unit_price: unit_price,
              time: time}
    time_format: iso8601
    batch: 4
  tickets:
    plugin: events
    path: events.jsonl
    format: jsonl
    batch: 2
  web:
    plugin: weblog
    path: access.log
    login_is_customer: true
    urls: {'/product/{sku}': view}
    batch: 3
segments:
  buyers: orders_count > 0
personalizers:
  top: {plugin: popular, window_days: 0}
channels:
  mail:
    plugin: smtp
    url: smtp://127.0.0.1:$PORT
    from: "Shop <shop@example.com>"
    starttls: "no"
    timeout: 10
campaigns:
  news:
    personalizer: top
    channel: mail
    subject: "{{ customer.first_name }}, today"
    template: templates/news.txt
    recurrence: daily
  welcome:
    segment: buyers
    trigger: entered
    personalizer: top
    channel: mail
    subject: "Welcome, {{ customer.first_name }}"
    template: templates/news.txt
EOF

# the day of round $1 (crash_model.py's BASE + $1 days)
now() { date -u -d "2025-03-01 10:00 UTC + $1 days" +%Y-%m-%dT%H:%M:%SZ; }
# tally STAGE FILE: from the "ecrm: killpoints:" line in FILE, learn how
# many points each stage after STAGE has (the run that printed it did all
# of their work); STAGE "none": every stage
tally() {
    line=$(grep '^ecrm: killpoints:' "$2") || return 0
    after=0
    [ "$1" = none ] && after=1
    for kv in ${line#ecrm: killpoints:}; do
        s=${kv%%=*} v=${kv#*=}
        [ "$after" = 1 ] && [ "$v" -gt 0 ] && eval "known_$s=$v"
        [ "$s" = "$1" ] && after=1
    done
}
run() { # ROUND [ENV=VALUE]: run the pipeline on ROUND's day
    r=$1
    shift
    env "$@" "$ECRM" run "$D/p.yaml" --now "$(now "$r")" --json
}

# round 0: no kill; its tally sizes the first draws
$MODEL gen "$D" 0 "$SEED" 1 > /dev/null
run 0 ECRM_TEST_KILL_AT=tally > /dev/null 2> "$T/err" ||
    { cat "$T/err"; bad "round 0"; finish; exit; }
tally none "$T/err"
[ -n "${known_ingest:-}" ] && [ -n "${known_deliver:-}" ] || {
    cat "$T/err"; bad "no kill points counted"; finish; exit; }
check "round 0 consistent" $MODEL check "$D" "$SINK" 0

kills=0 missed=0 round=0
k_ingest=0 k_segment=0 k_plan=0 k_deliver=0
for stage in $($MODEL plan "$SEED" "$KILLS"); do
    killed=0
    # a draw past the round's last point kills nothing: draw again (its
    # tally tells the real number of points) in the next round
    for try in 1 2 3; do
        round=$((round + 1))
        eval "max=\${known_$stage:-1}"
        n=$($MODEL gen "$D" "$round" "$SEED" "$max")
        run "$round" "ECRM_TEST_KILL_AT=$stage:$n" > /dev/null 2> "$T/err"
        rc=$?
        case $rc in
        137) killed=1; $MODEL snap "$D" "$round" "$stage" ;;
        0) missed=$((missed + 1)); tally none "$T/err" ;;
        *) cat "$T/err" >&2
           bad "round $round ($stage:$n): exit $rc, expected 137 (killed)" ;;
        esac
        run "$round" ECRM_TEST_KILL_AT=tally > "$T/out" 2> "$T/err"
        rc=$?
        [ "$killed" = 1 ] && tally "$stage" "$T/err"
        if [ "$rc" != 0 ]; then
            cat "$T/err" >&2
            bad "round $round ($stage:$n): the run after the kill exits $rc"
        fi
        if ! $MODEL check "$D" "$SINK" "$round" > "$T/check"; then
            cat "$T/check" >&2
            bad "round $round: killed at $stage:$n (seed $SEED)"
            [ -n "${ECRM_CRASH_KEEP:-}" ] && cp -r "$T" "$ECRM_CRASH_KEEP"
            finish
            exit
        fi
        [ "$killed" = 1 ] && break
    done
    if [ "$killed" = 1 ]; then
        kills=$((kills + 1))
        eval "k_$stage=\$((k_$stage + 1))"
        ok
    else
        bad "no kill in $stage in three rounds"
    fi
done
echo "e2e_crash: $kills kills survived (ingest $k_ingest, segment $k_segment, plan $k_plan, deliver $k_deliver) in $round rounds ($missed draws past a round's last point); $($MODEL stats "$D" "$SINK")"
check "$KILLS kills" test "$kills" -eq "$KILLS"
finish
