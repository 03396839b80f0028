# Helpers for the shell tests; sourced. Runs the built binary with the build
# tree's plugins. Each test counts its checks and ends with a summary line.
set -u
ECRM="${top_builddir:?}/ecrm"
PYTHON=/usr/bin/python3
pass=0
fail=0
T=$(mktemp -d /tmp/ecrm-test-XXXXXX)
trap 'rm -rf "$T"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION COMMAND...: the command must succeed
check() { d=$1; shift; if "$@"; then ok; else bad "$d"; fi; }
# expect_code CODE DESCRIPTION COMMAND...: exit code must be CODE
expect_code() {
    want=$1; d=$2; shift 2
    "$@"; got=$?
    if [ "$got" = "$want" ]; then ok; else bad "$d: exit $got, expected $want"; fi
}
# json_get FILE EXPR [ARGS]: print a Python expression on the parsed JSON
# `j` (ARGS are sys.argv[2:])
json_get() { f=$1 e=$2; shift 2; "$PYTHON" -c "import json,sys; j=json.load(open(sys.argv[1])); print($e)" "$f" "$@"; }
# start_sms_gateway: tests/sms_gateway.py on loopback (see its header for
# the paths that answer 429, 500, hang...), recording every request in
# $GW/requests.jsonl; sets GW and GW_PORT; killed when the test exits.
start_sms_gateway() {
    GW=$T/gw
    mkdir -p "$GW"
    "$PYTHON" "$top_srcdir/tests/sms_gateway.py" "$GW" &
    GW_PID=$!
    trap 'kill $GW_PID 2>/dev/null; rm -rf "$T"' EXIT
    i=0
    while [ ! -s "$GW/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    GW_PORT=$(cat "$GW/port")
}
# how many requests the gateway received
requests() { if [ -f "$GW/requests.jsonl" ]; then wc -l < "$GW/requests.jsonl"; else echo 0; fi; }
# demo_pipeline FILE: etc/demo.yaml's store, sources, personalizers and
# channels, without its segments, contact policy and campaigns, and one
# campaign of its own: "welcome" mails every consenting customer the 3 best
# sellers, once, with templates/welcome.txt (for the tests that build on
# one mail per consenting customer; the demo's own campaigns are
# e2e_demo.sh's)
demo_pipeline() {
    sed -e '/^segments:/,$d' "$top_srcdir/etc/demo.yaml" > "$1"
    cat >> "$1" <<'Y'
campaigns:
  welcome:
    segment: all
    personalizer: bestsellers
    items: 3
    channel: mail
    subject: "{{ customer.first_name }}, our best sellers for you"
    template: templates/welcome.txt
    recurrence: once
Y
}
finish() {
    echo "$(basename "$0"): $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
