#!/bin/sh
# Acceptance on real data: the elastic/examples Apache access log (10,000
# lines, combined format, one line with an unterminated user-agent quote;
# ../shared/data/weblogs, see SOURCES.md there). The bad line must be
# quarantined with its line number and reason, every other line read.
# Skips (77) without ../shared/data.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
data=${ECRM_SHARED_DATA:-$srcdir/../shared/data}
log=$data/weblogs/elastic_apache_logs.log
[ -r "$log" ] || { echo "elastic-weblog: $log not found, skipped"; exit 77; }
ECRM="$builddir/ecrm"
T=$(mktemp -d /tmp/ecrm-elastic-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
cat > "$T/p.yaml" <<Y
store:
  path: weblog.db
sources:
  apache:
    plugin: weblog
    path: $log
    format: combined
Y
"$ECRM" run "$T/p.yaml" --stage ingest --json > "$T/run.json" 2> "$T/err" || bad "ecrm run failed: $(cat "$T/err")"
eval "$(/usr/bin/python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))["sources"]["apache"]
print("read=%d accepted=%d quarantined=%d filtered=%d" % (s["read"], s["accepted"], s["quarantined"], s["filtered"]))' "$T/run.json")"
[ "$read" = 10000 ] && ok "read every line: $read" || bad "read $read lines, expected 10000"
[ "$quarantined" = 1 ] && ok "one line quarantined" || bad "quarantined $quarantined, expected 1"
[ $((accepted + filtered)) = 9999 ] && ok "the other 9,999 lines taken ($accepted accepted, $filtered filtered)" || bad "accepted $accepted + filtered $filtered != 9999"
q=$(sqlite3 "$T/weblog.db" "select line || ' ' || reason from quarantine")
case "$q" in
*unterminated*) ok "quarantine names the line and reason: $q" ;;
*) bad "quarantine row: '$q'" ;;
esac
n=$(sqlite3 "$T/weblog.db" "select count(*) from events")
[ "$n" = "$accepted" ] && ok "one event per accepted line: $n" || bad "$n events for $accepted accepted lines"
"$ECRM" run "$T/p.yaml" --stage ingest --json > "$T/run2.json"
again=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sources"]["apache"]["read"])' "$T/run2.json")
[ "$again" = 0 ] && ok "a second run reads nothing new" || bad "second run read $again lines"
echo "elastic-weblog: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
