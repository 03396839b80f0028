#!/bin/sh
# ecrm as cron and systemd run it: off a terminal a good run prints
# nothing and a run with a warning prints only the warning, on stderr;
# --syslog sends it to syslog instead (captured here by a preloaded
# stand-in for syslog(3)); --verbose explains each stage; on a terminal
# each long stage shows a progress line with its rate (and an ETA where
# the total is known). The shipped cron.d file and systemd units name the
# installed paths and pass systemd-analyze verify.
. "${top_srcdir:?}/tests/lib.sh"

D=$T/c
mkdir -p "$D"
cp "$top_srcdir/etc/demo.yaml" "$D/"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 40 --items 20 --orders 200
P=$D/demo.yaml

# --- a good run off a terminal: nothing at all
"$ECRM" run "$P" --now 2025-06-01T10:00:00Z > "$T/out" 2> "$T/err"; rc=$?
check "good run: exit 0" test "$rc" = 0
check "good run: silent" test ! -s "$T/out" -a ! -s "$T/err"

# --- a bad record: the warning alone, on stderr, for cron to mail
printf 'X1,1,C000001,SKU1,Thing,misc,many,1.00,GBP,2025-06-02T10:00:00Z\n' >> "$D/sample/orders.csv"
"$ECRM" run "$P" --now 2025-06-02T10:00:00Z > "$T/out" 2> "$T/err"; rc=$?
check "run with a quarantined record: exit 0" test "$rc" = 0
check "nothing on stdout" test ! -s "$T/out"
check "the warning on stderr" grep -q "^ecrm: warning: \[source:shop_orders\] 1 of 1 records quarantined" "$T/err"
check "one line: nothing but the warning" test "$(wc -l < "$T/err")" = 1

# --- --syslog: the same warning to syslog, nothing on stderr
SHIM=$top_builddir/tests/fixtures/.libs/syslog_shim.so
printf 'X2,1,C000001,SKU1,Thing,misc,lots,1.00,GBP,2025-06-03T10:00:00Z\n' >> "$D/sample/orders.csv"
ECRM_SYSLOG_FILE=$T/syslog LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0 \
    "$ECRM" run "$P" --syslog --now 2025-06-03T10:00:00Z > "$T/out" 2> "$T/err"; rc=$?
check "--syslog run: exit 0" test "$rc" = 0
check "--syslog: nothing on stdout or stderr" test ! -s "$T/out" -a ! -s "$T/err"
# LOG_DAEMON (24) | LOG_WARNING (4) = 28
check "--syslog: the warning in syslog, as ecrm, daemon.warning" \
    grep -q "^ecrm 28 \[source:shop_orders\] 1 of 1 records quarantined" "$T/syslog"

# --- --verbose explains each stage
"$ECRM" run "$P" -v --now 2025-06-04T10:00:00Z > "$T/out" 2> "$T/err"
for stage in ingest segment personalize plan deliver; do
    check "--verbose explains $stage" grep -q "^ecrm: info: stage $stage: [a-z]" "$T/err"
    check "--verbose times $stage" grep -q "^ecrm: info: stage $stage: done in [0-9.]* s" "$T/err"
done
check "--verbose gives each source's counts" \
    grep -q "^ecrm: info: \[source:shop_orders\] read 0: accepted 0, quarantined 0, filtered 0" "$T/err"
check "--verbose keeps stdout clean" test ! -s "$T/out"

# --- on a terminal: a progress line per long stage, with its rate
rm -f "$D/demo.db"* && rm -rf "$D/mail"
script -qec "\"$ECRM\" run \"$P\" --now 2025-06-05T10:00:00Z" /dev/null > "$T/tty" 2>&1
esc=$(printf '\033')
tr '\r' '\n' < "$T/tty" | sed "s/${esc}\\[K//g" > "$T/tty.lines"
check "progress: records read per second" grep -q "^.*ingest: shop_orders: [0-9,]* records, [0-9,]*/s" "$T/tty.lines"
check "progress: segment stage" grep -q "segment: [a-z ]*: [0-9,]* customers, [0-9,]*/s" "$T/tty.lines"
# (the ETA of lines drawn midway is tested in check_log: how many are
# drawn here depends on the machine's speed)
check "progress: delivery against its total" \
    grep -q "deliver: mail: \([0-9,]*\) of \1 messages (100%), [0-9,]*/s$" "$T/tty.lines"
check "progress: the stage's final count, one line per source" \
    grep -q "^ingest: shop_customers: 40 records, [0-9,]*/s$" "$T/tty.lines"

# --- the shipped scheduling examples
cron=$top_builddir/etc/cron.d/ecrm
check "cron.d example built" test -s "$cron"
check "cron.d example names the installed ecrm" grep -q "^15 .* ecrm  *[^ ]*/bin/ecrm run [^ ]*/ecrm/pipeline.yaml$" "$cron"
check "cron.d example has no unsubstituted path" test -z "$(grep '@[a-z]*@' "$cron")"
check "cron.d entries have 5 time fields, a user and a command" "$PYTHON" - "$cron" <<'PY'
import re, sys
jobs = [l for l in open(sys.argv[1]) if l.strip() and not l.startswith("#") and "=" not in l.split()[0]]
assert len(jobs) == 2, jobs
for j in jobs:
    f = j.split()
    assert all(re.fullmatch(r"[0-9*/,-]+", x) for x in f[:5]), j
    assert f[5] == "ecrm" and f[6].endswith("/ecrm"), j
PY
unit=$top_builddir/etc/systemd
check "service runs the pipeline with --syslog" grep -q "^ExecStart=.*/bin/ecrm run .*/ecrm/pipeline.yaml --syslog$" "$unit/ecrm.service"
check "a run that finds the lock taken (75) is not a failure" grep -q "^SuccessExitStatus=75$" "$unit/ecrm.service"
check "timer: hourly, persistent" grep -q "^OnCalendar=hourly$" "$unit/ecrm.timer"
if command -v systemd-analyze > /dev/null 2>&1; then
    mkdir -p "$T/units"
    sed "s|^ExecStart=[^ ]*/ecrm |ExecStart=$ECRM |" "$unit/ecrm.service" > "$T/units/ecrm.service"
    cp "$unit/ecrm.timer" "$T/units/"
    (cd "$T/units" && systemd-analyze verify --man=no ecrm.service ecrm.timer) > "$T/verify" 2>&1; rc=$?
    check "systemd-analyze verify passes" test "$rc" = 0
    check "systemd-analyze has nothing to say" test ! -s "$T/verify"
    [ -s "$T/verify" ] && cat "$T/verify" >&2
else
    echo "systemd-analyze not installed: unit verification skipped"
fi
finish
