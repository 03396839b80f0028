#!/bin/sh
# Acceptance on real data: the UCI "Online Retail" export (541,909 order
# lines, ../shared/data/orders/online_retail.csv.gz, see SOURCES.md there)
# must import completely through the orders source, and a second import of
# the same file under another name must add nothing.
#
# Builds nothing: uses the ecrm built in $top_builddir (else ./) and its
# plugins/. The data is looked for in $ECRM_SHARED_DATA, else in
# $top_srcdir/../shared/data; without it the script skips (exit 77).
# Needs sqlite3 for the checks. Prints one line per check and ends with
# "online-retail: N passed, M failed"; exits 1 when a check failed.
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
data=${ECRM_SHARED_DATA:-$srcdir/../shared/data}
gz=$data/orders/online_retail.csv.gz
if [ ! -f "$gz" ]; then
    echo "online-retail: SKIP: no $gz (set ECRM_SHARED_DATA)"
    exit 77
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "online-retail: SKIP: sqlite3 is not installed"
    exit 77
fi
ecrm=$builddir/ecrm
if [ ! -x "$ecrm" ]; then
    echo "online-retail: no ecrm binary at $ecrm (build first)" >&2
    exit 99
fi
case $ecrm in /*) ;; *) ecrm=$(pwd)/$ecrm ;; esac
plugins=$(dirname "$ecrm")/plugins

tmp=$(mktemp -d "${TMPDIR:-/tmp}/online-retail.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# The orders source reads the .gz itself, streaming.
cp "$gz" "$tmp/online_retail.csv.gz"

# pipeline NAME FILE: a pipeline importing FILE with the source NAME.
pipeline() {
    cat <<EOF
store:
  path: store.db
sources:
  $1:
    plugin: orders
    path: $2
    currency: GBP
    return_prefix: C
    time_format: "%Y-%m-%d %H:%M:%S"
    columns:
      order_id: InvoiceNo
      sku: StockCode
      title: Description
      quantity: Quantity
      time: InvoiceDate
      unit_price: UnitPrice
      customer: CustomerID
EOF
}

passed=0
failed=0
# check WHAT GOT WANT
check() {
    if [ "$2" = "$3" ]; then
        echo "ok   $1: $2"
        passed=$((passed + 1))
    else
        echo "FAIL $1: got '$2', want '$3'"
        failed=$((failed + 1))
    fi
}
q() { sqlite3 "$tmp/store.db" "$1"; }
# json_count SOURCE KEY: a counter of the run summary in $tmp/run.json.
json_count() {
    sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" "$tmp/run.json"
}
store_counts() {
    echo "invoices $(q 'select count(*) from orders')"
    echo "customers $(q 'select count(*) from customers')"
    echo "lines_with_customer $(q 'select count(*) from order_lines l
        join orders o on o.id = l.order_id where o.customer_id is not null')"
    echo "cancellation_lines $(q "select count(*) from order_lines l
        join orders o on o.id = l.order_id
        where o.order_no like 'C%' and o.is_return = 1 and l.quantity < 0")"
    echo "order_lines $(q 'select count(*) from order_lines')"
}

# --- first import -------------------------------------------------------
pipeline retail online_retail.csv.gz > "$tmp/p1.yaml"
start=$(date +%s)
if ! "$ecrm" run "$tmp/p1.yaml" --stage ingest --json \
    --plugin-dir "$plugins" > "$tmp/run.json" 2> "$tmp/run.err"; then
    echo "FAIL the import failed:"
    cat "$tmp/run.json" "$tmp/run.err"
    failed=$((failed + 1))
fi
echo "import took $(($(date +%s) - start)) s: $(cat "$tmp/run.json")"
read_n=$(json_count retail read)
acc=$(json_count retail accepted)
quar=$(json_count retail quarantined)
filt=$(json_count retail filtered)
check "lines read" "$read_n" 541909
check "read = accepted + quarantined + filtered" \
    "$read_n" "$((${acc:-0} + ${quar:-0} + ${filt:-0}))"
check "quarantined" "$quar" 0
store_counts > "$tmp/counts1"
check "distinct invoices" "$(sed -n 's/^invoices //p' "$tmp/counts1")" 25900
check "customers" "$(sed -n 's/^customers //p' "$tmp/counts1")" 4372
check "lines with a customer" \
    "$(sed -n 's/^lines_with_customer //p' "$tmp/counts1")" 406829
check "cancellation lines (prefix C, stored as returns)" \
    "$(sed -n 's/^cancellation_lines //p' "$tmp/counts1")" 9288
check "order lines" "$(sed -n 's/^order_lines //p' "$tmp/counts1")" 541909
check "customer ids normalised (no \"17850.0\")" \
    "$(q "select count(*) from customers where external_id like '%.%'")" 0
check "customer 17850 known" \
    "$(q "select count(*) from customers where external_id = '17850'")" 1
check "bad-debt adjustments kept (negative price)" \
    "$(q "select count(*) from order_lines where unit_price < 0")" 2

# --- the same file again, under another name and source -----------------
cp "$tmp/online_retail.csv.gz" "$tmp/copy_of_retail.csv.gz"
pipeline retail_again copy_of_retail.csv.gz > "$tmp/p2.yaml"
if ! "$ecrm" run "$tmp/p2.yaml" --stage ingest --json \
    --plugin-dir "$plugins" > "$tmp/run.json" 2> "$tmp/run.err"; then
    echo "FAIL the second import failed:"
    cat "$tmp/run.json" "$tmp/run.err"
    failed=$((failed + 1))
fi
check "second import read everything" "$(json_count retail_again read)" 541909
store_counts > "$tmp/counts2"
check "second import added nothing" "$(tr '\n' ' ' < "$tmp/counts2")" \
    "$(tr '\n' ' ' < "$tmp/counts1")"

echo "online-retail: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
