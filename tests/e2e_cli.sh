#!/bin/sh
# The command line as admins and cron meet it: check, plugins, help,
# exit codes, the lock.
. "${top_srcdir:?}/tests/lib.sh"

# --- version and help
"$ECRM" --version > "$T/v"; check "--version exits 0" test $? = 0
check "--version names ecrm and the ABI" grep -q '^ecrm [0-9.]* (plugin ABI 1\.[0-9]*)$' "$T/v"
"$ECRM" help run > "$T/h"; check "help run" grep -q -- '--dry-run' "$T/h"
expect_code 64 "unknown command" "$ECRM" frobnicate 2>/dev/null
expect_code 64 "run without file" "$ECRM" run 2>/dev/null
expect_code 64 "bad --now" "$ECRM" run x.yaml --now yesterday 2>/dev/null
expect_code 64 "bad --stage" "$ECRM" run x.yaml --stage ingest,fly 2>/dev/null

# --- plugins
"$ECRM" plugins > "$T/pl"; check "plugins exits 0" test $? = 0
for p in "source *orders" "source *customers" "personalizer *popular" "channel *maildir"; do
    check "plugins lists $p" grep -q "^$p " "$T/pl"
done
"$ECRM" plugins --json > "$T/pl.json"
check "plugins --json is valid" json_get "$T/pl.json" 'len(j) >= 4 or sys.exit(1)'
"$ECRM" plugins --describe orders > "$T/d"
for o in path columns time_format return_prefix; do
    check "describe orders shows $o" grep -q "^ *$o " "$T/d"
done
"$ECRM" plugins --describe channel:maildir --json > "$T/d.json"
check "describe --json has options" json_get "$T/d.json" \
    '[o["name"] for o in j["options"]].index("from") >= 0 or sys.exit(1)'
expect_code 64 "describe unknown plugin" "$ECRM" plugins --describe nosuch 2>/dev/null

# --- every bundled plugin exports exactly one symbol, its descriptor
n=0
for so in "$top_builddir"/plugins/.libs/*.so; do
    n=$((n + 1))
    syms=$(nm -D --defined-only "$so" | awk '{print $3}' | tr '\n' ' ')
    check "$(basename "$so") exports only its descriptor" test "$syms" = "ecrm_plugin_descriptor "
done
check "every bundled plugin was checked" test "$n" -ge 10

# --- check: a valid pipeline, then every kind of mistake
mkdir -p "$T/p"
cp "$top_srcdir/etc/demo.yaml" "$T/p/"
cp -r "$top_srcdir/etc/templates" "$T/p/"
"$ECRM" check "$T/p/demo.yaml" > "$T/c.out" 2>&1; rc=$?
check "valid pipeline: exit 0" test "$rc" = 0
check "valid pipeline: silent off a TTY" test ! -s "$T/c.out"
check "check does not create the store" test ! -e "$T/p/demo.db"

bad_yaml() { # NAME: write $T/p/NAME.yaml from stdin
    cat > "$T/p/$1.yaml"
}
bad_yaml unknown <<'Y'
sources:
  o:
    plugin: orders
    path: x.csv
    colums: {}
Y
"$ECRM" check "$T/p/unknown.yaml" 2> "$T/e"; rc=$?
check "unknown key: exit 65" test "$rc" = 65
check "unknown key: position and valid keys" grep -q "unknown.yaml:5:5: unknown key 'colums'; valid keys: .*columns" "$T/e"

bad_yaml types <<'Y'
sources:
  o:
    plugin: orders
    path: x.csv
    batch: lots
    header: maybe
    columns: [a, b]
Y
"$ECRM" check "$T/p/types.yaml" 2> "$T/e"; rc=$?
check "wrong types: exit 65" test "$rc" = 65
check "wrong type int" grep -q "types.yaml:5:12: .*'batch' must be an integer" "$T/e"
check "wrong type bool" grep -q "types.yaml:6:13: .*'header' must be a boolean" "$T/e"
check "wrong type map" grep -q "types.yaml:7:14: .*'columns' must be a map" "$T/e"

bad_yaml missing <<'Y'
channels:
  m:
    plugin: maildir
    path: box
Y
"$ECRM" check "$T/p/missing.yaml" 2> "$T/e"; rc=$?
check "missing required: exit 65" test "$rc" = 65
check "missing required names it" grep -q "missing.yaml:2:3: .*missing required option 'from'" "$T/e"

bad_yaml dup <<'Y'
channels:
  m:
    plugin: maildir
    path: box
    from: a@example.com
    path: other
Y
"$ECRM" check "$T/p/dup.yaml" 2> "$T/e"; rc=$?
check "duplicate key: exit 65" test "$rc" = 65
check "duplicate key located" grep -q "dup.yaml:6:5: duplicate key 'path'" "$T/e"

bad_yaml env <<'Y'
channels:
  m:
    plugin: maildir
    path: ${ECRM_TEST_UNSET_VAR}
    from: ${ECRM_TEST_FROM}
Y
unset ECRM_TEST_UNSET_VAR
ECRM_TEST_FROM=shop@example.com "$ECRM" check "$T/p/env.yaml" 2> "$T/e"; rc=$?
check "unset env: exit 65" test "$rc" = 65
check "unset env named" grep -q "env.yaml:4:11: .*ECRM_TEST_UNSET_VAR" "$T/e"
ECRM_TEST_UNSET_VAR=box ECRM_TEST_FROM=shop@example.com "$ECRM" check "$T/p/env.yaml"
check "env set: valid" test $? = 0

bad_yaml refs <<'Y'
personalizers:
  best: {plugin: popular}
channels:
  m: {plugin: maildir, path: box, from: a@example.com}
campaigns:
  c:
    personalizer: nobody
    channel: m
    subject: "Hi {{ customer.nam }}"
    template: templates/welcome.txt
  d:
    personalizer: best
    channel: m
    template: templates/missing.txt
Y
"$ECRM" check "$T/p/refs.yaml" 2> "$T/e"; rc=$?
check "campaign refs: exit 65" test "$rc" = 65
check "unknown personalizer" grep -q "refs.yaml:7:19: no enabled personalizer named 'nobody'" "$T/e"
check "unknown template variable" grep -q "customer.nam" "$T/e"
check "missing template file" grep -q "refs.yaml:14:15: .*missing.txt" "$T/e"
check "e-mail campaign needs a subject" grep -q "'subject' is required" "$T/e"
check "all errors listed at once" test "$(grep -c 'refs.yaml:' "$T/e")" -ge 4

bad_yaml plugin <<'Y'
sources:
  o:
    plugin: nosuchplugin
Y
"$ECRM" check "$T/p/plugin.yaml" 2> "$T/e"; rc=$?
check "unknown plugin: exit 65" test "$rc" = 65
check "unknown plugin located" grep -q "plugin.yaml:3:13: no source plugin 'nosuchplugin'" "$T/e"

printf 'sources: [unclosed\n' > "$T/p/syntax.yaml"
"$ECRM" check "$T/p/syntax.yaml" 2> "$T/e"; rc=$?
check "syntax error: exit 65" test "$rc" = 65
check "syntax error located" grep -q "syntax.yaml:[0-9]*:[0-9]*: " "$T/e"

# --- the lock: a second run of the same pipeline exits 75 at once
"$ECRM" sample --out "$T/p/sample" --customers 5 --items 5 --orders 5
(
    exec 9>>"$T/p/demo.db.lock"
    flock 9
    echo "$$" > "$T/p/demo.db.lock"
    sleep 3
) &
holder=$!
sleep 0.5
start=$(date +%s)
"$ECRM" run "$T/p/demo.yaml" 2> "$T/e"; rc=$?
check "locked: exit 75" test "$rc" = 75
check "locked: names the holder" grep -q "another ecrm run (pid [0-9]*) holds the lock" "$T/e"
check "locked: returns at once" test $(( $(date +%s) - start )) -le 2
wait $holder
expect_code 0 "unlocked: runs" "$ECRM" run "$T/p/demo.yaml"
finish
