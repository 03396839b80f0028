#!/bin/sh
# Personalization as an admin meets it on the sample shop: rules with
# mistakes caught by `ecrm check` at their position, a hybrid that never
# offers menswear to women or womenswear to men, one customer's list with
# reasons, similar items, bundles, and the export for the web shop
# (atomic, 0600 or 0640, JSON lines or CSV; from the CLI and as a stage).
. "${top_srcdir:?}/tests/lib.sh"

D=$T/shop
mkdir -p "$D/out"
demo_pipeline "$D/demo.yaml"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 300 --items 120 --orders 1500
NOW=2026-01-15T00:00:00Z
# the demo pipeline, with the personalizers of this test instead of its own
"$PYTHON" - "$D/demo.yaml" <<'EOF'
import sys
p = sys.argv[1]
s = open(p, encoding="utf-8").read()
a = s.index("personalizers:")
b = s.index("channels:")
s = s[:a] + """personalizers:
  bestsellers: {plugin: popular, window_days: 0}
  cf: {plugin: itemknn, fallback: bestsellers}
  house:
    plugin: rules
    rules:
      - name: no womenswear for men
        when: gender = "m"
        action: exclude
        categories: [womenswear]
      - name: no menswear for women
        when: gender = "f"
        action: exclude
        categories: [menswear]
      - name: boost travel for age < 30
        when: age < 30
        action: boost
        weight: 3
        categories: [travel]
  shop: {plugin: hybrid, mode: cascade, main: cf, filter: house, cold: bestsellers}
""" + s[b:].replace("personalizer: bestsellers", "personalizer: shop")
s += """exports:
  web:
    personalizer: shop
    similar: cf
    bundles: true
    path: out/recos.jsonl
"""
open(p, "w", encoding="utf-8").write(s)
EOF
P="$D/demo.yaml"

# --- mistakes in rules are found by `ecrm check`, at their position
sed -e 's/when: age < 30/when: age < < 30/' "$P" > "$D/bad.yaml"
"$ECRM" check "$D/bad.yaml" 2> "$T/check.err"; code=$?
check "check refuses a bad expression (65)" test "$code" = 65
line=$(grep -n 'when: age < < 30' "$D/bad.yaml" | cut -d: -f1)
check "expression error at its line and column" \
    grep -q "bad.yaml:$line:21: 'rules\[3\].when': expected a value, found '<'" "$T/check.err"
sed -e 's/action: boost/action: bost/' "$P" > "$D/bad.yaml"
expect_code 65 "check refuses a bad action" "$ECRM" check "$D/bad.yaml" 2> "$T/check.err"
line=$(grep -n 'action: bost' "$D/bad.yaml" | cut -d: -f1)
check "bad action at its position" \
    grep -q "bad.yaml:$line:17: 'rules\[3\].action': action \"bost\" is not one of" "$T/check.err"
expect_code 0 "check accepts the good pipeline" "$ECRM" check "$P"

# --- a run trains and exports
expect_code 0 "run with the export stage" \
    "$ECRM" run "$P" --stage ingest,segment,personalize,export --now "$NOW"
check "export written" test -s "$D/out/recos.jsonl"
check "export is 0600" test "$(stat -c %a "$D/out/recos.jsonl")" = 600
check "no temporary file left" test "$(ls "$D/out" | wc -l)" = 1
# every line is JSON; men get no womenswear, women no menswear
"$PYTHON" - "$D/out/recos.jsonl" "$D/sample" > "$T/audit" <<'EOF'
import csv, json, sys
out, sample = sys.argv[1], sys.argv[2]
gender = {r["customer_id"]: r["gender"] for r in csv.DictReader(open(sample + "/customers.csv", encoding="utf-8"))}
cat = {r["sku"]: r["category"] for r in csv.DictReader(open(sample + "/orders.csv", encoding="utf-8"))}
kinds, crossed, reasons, customers = {}, 0, 0, 0
for line in open(out, encoding="utf-8"):
    o = json.loads(line)
    kinds[o["type"]] = kinds.get(o["type"], 0) + 1
    if o["type"] != "customer":
        continue
    customers += 1
    g = gender[o["customer"]]
    for it in o["items"]:
        reasons += bool(it["reason"])
        c = cat.get(it["sku"])
        crossed += (g == "m" and c == "womenswear") or (g == "f" and c == "menswear")
print(customers, crossed, reasons, kinds.get("similar", 0), kinds.get("bundle", 0))
EOF
read -r customers crossed reasons similar bundles < "$T/audit"
check "every customer has a list ($customers)" test "$customers" = 300
check "no gender-restricted category crossed ($crossed)" test "$crossed" = 0
check "every item has a reason" test "$reasons" -ge "$((customers * 10))"
check "similar items exported ($similar)" test "$similar" -gt 0
check "bundles exported ($bundles)" test "$bundles" -gt 0

# --- one customer, with reasons
cust=$("$PYTHON" -c 'import csv,sys
print([r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["gender"]=="m"][0]["customer_id"])' "$D/sample/customers.csv")
"$ECRM" recommend "$P" --customer "$cust" --k 5 --now "$NOW" > "$T/one.txt"
check "recommend --customer exits 0" test $? = 0
check "text lists 5 items from shop" grep -q "^customer $cust: 5 items from shop\$" "$T/one.txt"
"$ECRM" recommend "$P" --customer "$cust" --k 5 --now "$NOW" --json > "$T/one.json"
check "json list of 5 with reasons" json_get "$T/one.json" \
    '(len(j["items"]) == 5 and all(i["reason"] for i in j["items"]) and j["personalizer"] == "shop") or sys.exit(1)'
check "the same list as the export" "$PYTHON" -c '
import json, sys
one = json.load(open(sys.argv[1]))
for l in open(sys.argv[2]):
    o = json.loads(l)
    if o["type"] == "customer" and o["customer"] == one["customer"]:
        sys.exit(0 if [i["sku"] for i in o["items"][:5]] == [i["sku"] for i in one["items"]] else 1)
sys.exit(1)' "$T/one.json" "$D/out/recos.jsonl"
expect_code 65 "unknown customer" "$ECRM" recommend "$P" --customer nobody
expect_code 64 "two questions at once" "$ECRM" recommend "$P" --customer "$cust" --item X
expect_code 64 "unknown personalizer" "$ECRM" recommend "$P" --customer "$cust" --personalizer nope

# --- similar items and bundles of the best seller
sku=$("$PYTHON" -c 'import csv,sys,collections
c=collections.Counter(r["sku"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")))
print(c.most_common(1)[0][0])' "$D/sample/orders.csv")
"$ECRM" recommend "$P" --item "$sku" --json > "$T/sim.json"
check "similar items of $sku" json_get "$T/sim.json" \
    '(j["type"] == "similar" and j["personalizer"] == "cf" and len(j["items"]) > 0 and "bought together with" in j["items"][0]["reason"]) or sys.exit(1)'
"$ECRM" recommend "$P" --bundle "$sku" --min-orders 2 --json > "$T/b.json"
check "bundles with statistics" json_get "$T/b.json" \
    '(len(j["bundles"]) > 0 and all(b["items"][0] == sys.argv[2] and 0 < b["confidence"] <= 1 and b["lift"] > 0 and b["orders"] >= 2 for b in j["bundles"])) or sys.exit(1)' "$sku"
expect_code 65 "unknown SKU" "$ECRM" recommend "$P" --bundle NOSUCH

# --- the export from the command line: CSV, 0640, atomic
expect_code 0 "export csv" "$ECRM" recommend "$P" --export "$D/out/recos.csv" \
    --format csv --mode 0640 --bundles --now "$NOW"
check "csv is 0640" test "$(stat -c %a "$D/out/recos.csv")" = 640
check "csv header" test "$(head -n 1 "$D/out/recos.csv")" = "type,key,rank,sku,title,score,reason"
check "csv parses, types known" "$PYTHON" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
sys.exit(0 if rows and {r["type"] for r in rows} <= {"customer", "similar", "bundle"} and all(r["reason"] for r in rows) else 1)' "$D/out/recos.csv"
expect_code 64 "world-readable mode refused" "$ECRM" recommend "$P" --export "$D/out/x.csv" --mode 0644
before=$(cksum < "$D/out/recos.csv")
expect_code 0 "dry run" "$ECRM" recommend "$P" --export "$D/out/recos.csv" --format csv --dry-run --now "$NOW"
check "a dry run writes nothing" test "$(cksum < "$D/out/recos.csv")" = "$before"
expect_code 73 "unwritable target" "$ECRM" recommend "$P" --export "$D/nodir/recos.csv"
finish
