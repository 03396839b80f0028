# Sourced by the report tests: make_shop DIR builds a small shop in DIR
# (the sample customers and orders, a web log of 40 visits and one with
# markup in its search words, two segments)
# as DIR/shop.yaml, with its campaign "welcome" an experiment: variant B
# against a control group of a third, a 30-day goal and a budget; and
# runs it once at 2025-06-01T10:00:00Z.
make_shop() {
    D=$1
    mkdir -p "$D"
    cp -r "$top_srcdir/etc/templates" "$D/"
    "$ECRM" sample --out "$D/sample" --customers 120 --items 40 --orders 900
    "$PYTHON" - "$D/access.log" <<'PY'
import sys, time
pages = ["/", "/product/SKU1", "/product/SKU2", "/category/shoes",
         "/search?q=red+shoes", "/cart/add?sku=SKU1", "/checkout/complete"]
refs = ["https://www.google.com/search?q=buy+shoes",
        "https://www.bing.com/search?q=red+shoes",
        "https://news.example.org/a", "-"]
t0 = 1748736000  # 2025-06-01
with open(sys.argv[1], "w") as f:
    for v in range(40):
        t = t0 + v * 3600
        for k in range(1 + v % 4):
            ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t + k * 60))
            user = "C%06d" % (v % 10 + 1) if v % 3 == 0 else "-"
            ref = refs[v % 4] if k == 0 else "https://shop.example.com/"
            f.write('10.0.0.%d - %s [%s] "GET %s HTTP/1.1" 200 512 "%s" "Mozilla/5.0"\n'
                    % (v + 1, user, ts, pages[(v + k) % len(pages)], ref))
    # a hostile visitor: markup in the searched words and in the page
    ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t0 + 41 * 3600))
    f.write('10.0.0.99 - - [%s] "GET /search?q=%%3Cscript%%3Ex%%3C%%2Fscript%%3E HTTP/1.1" 200 512 '
            '"https://www.google.com/search?q=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E" "Mozilla/5.0"\n' % ts)
PY
    demo_pipeline "$D/welcome.yaml"
    sed -e 's/^personalizers:$/  web:\n    plugin: weblog\n    path: access.log\n    login_is_customer: true\n\npersonalizers:/' \
        "$D/welcome.yaml" > "$D/shop.yaml"
    cat >> "$D/shop.yaml" <<'Y'
    goal_days: 30
    budget_messages: 1000
    control_percent: 33
    variants:
      B: {weight: 1, subject: "{{ customer.first_name }}, picked for you"}
Y
    printf 'segments:\n  buyers: orders_count > 0\n  big_spenders: total_spent > 1500\n' >> "$D/shop.yaml"
    "$ECRM" run "$D/shop.yaml" --now 2025-06-01T10:00:00Z || return 1
}
