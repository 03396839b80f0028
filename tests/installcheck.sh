#!/bin/sh
# After `make install`: build the example plugin outside the tree with
# pkg-config against the installed headers, load it into the installed ecrm
# with --plugin-dir and run a pipeline through it.
# Usage: tests/installcheck.sh BINDIR PKGCONFIGDIR DOCDIR
set -u
bindir=$1 pcdir=$2 docdir=$3
ECRM="$bindir/ecrm"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
T=$(mktemp -d /tmp/ecrm-installcheck-XXXXXX)
trap 'rm -rf "$T"' EXIT
unset ECRM_PLUGIN_PATH

cp -r "$docdir/examples/plugin-skeleton" "$T/plugin"
if PKG_CONFIG_PATH="$pcdir" make -s -C "$T/plugin" CFLAGS="-O2 -Wall -Wextra -Werror -std=c11" >"$T/build.log" 2>&1; then
    ok
else
    bad "example plugin does not build against the installed headers"
    cat "$T/build.log" >&2
fi
"$ECRM" plugins --plugin-dir "$T/plugin" > "$T/plugins" 2>&1
grep -q '^channel *logfile ' "$T/plugins" && ok || bad "installed ecrm does not list the example plugin"
grep -q '^source *orders ' "$T/plugins" && ok || bad "installed ecrm does not find its bundled plugins"

mkdir -p "$T/p/templates"
"$ECRM" sample --out "$T/p/sample" --customers 30 --items 20 --orders 100
cp "$docdir/examples/templates/"*.txt "$T/p/templates/"
sed -e 's/plugin: maildir/plugin: logfile/' -e 's|path: mail$|path: out.jsonl|' \
    -e '/from: "Demo Shop/d' "$docdir/examples/demo.yaml" > "$T/p/pipeline.yaml"
if "$ECRM" run --plugin-dir "$T/plugin" "$T/p/pipeline.yaml" --now 2026-01-02T10:00:00Z --json > "$T/run.json" 2>"$T/run.err"; then
    ok
else
    bad "pipeline with the out-of-tree plugin failed"
    cat "$T/run.err" >&2
fi
# (the demo's daily cap: one message per consenting customer, from one of
# its campaigns; at 10:00 UTC none waits for the end of quiet hours)
n=$(wc -l < "$T/p/out.jsonl" 2>/dev/null || echo 0)
want=$(/usr/bin/python3 -c 'import csv,sys; print(sum(1 for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["email_marketing"] == "yes" and r["email"]))' "$T/p/sample/customers.csv")
[ "$n" -gt 0 ] && [ "$n" -eq "$want" ] && ok || bad "logfile has $n messages, expected $want"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/p/out.jsonl" && ok || bad "logfile lines are not JSON"
echo "installcheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
