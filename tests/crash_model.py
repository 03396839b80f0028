#!/usr/bin/python3
"""The model behind tests/e2e_crash.sh: the input of each round, the kill
plan, and the checks of the store and the SMTP sink against the input.

usage:
  crash_model.py gen DIR ROUND SEED N   append ROUND's records to DIR's
                                        inputs; print a number in 1..N
  crash_model.py plan SEED KILLS        print KILLS shuffled stage names
  crash_model.py snap DIR ROUND STAGE   after a run killed in STAGE: note
                                        the messages it left "sending"
  crash_model.py check DIR SINK ROUND   check DIR/crm.db and the sink's
                                        messages after rounds 0..ROUND
  crash_model.py stats DIR SINK         one line of figures

Every round appends the same number of customers, order lines, events
(JSON lines) and web-log lines, all derived from SEED and the round, so a
failing run is reproduced by its seed. The run of round R happens on day
R (BASE + R days), so the daily campaign plans one message per consenting
customer per round; the `welcome` campaign (segment `buyers`, trigger
`entered`, recurrence once) one per consenting buyer, ever.

Delivery claims a batch of messages (committed as "sending"), hands them
to the server one after another, then records their outcomes in the
transaction that claims the next batch (core/deliver.c). A kill in between
leaves the whole batch "sending", and the next run marks it "unknown":
those handed to the server before the kill were received, the rest not.
snap notes each killed run's "sending" messages in DIR/inflight.json, in
the order delivery hands them out (planned_at, id), and check holds the
ledger to exactly that: the unknown messages are the ones killed runs left
in flight, nothing else; only a kill in the deliver stage leaves any, at
most one batch (BATCH_MAX); and the ones received are the first of their
batch, since delivery goes in order.

check prints nothing and exits 0 when every invariant holds, else prints
each violation and exits 1.
"""
import collections
import datetime
import json
import os
import random
import sqlite3
import sys

from ledger_check import mid_of, problems, received

BASE = datetime.datetime(2025, 3, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
CUSTOMERS, ORDER_LINES, EVENTS, HITS = 3, 9, 5, 7
SKUS = 30
STAGES = {"ingest": 15, "segment": 5, "plan": 15, "deliver": 15}
BATCH_MAX = 256  # core/deliver.c: the most messages claimed at once
FIRST = ["Anna", "Jan", "Zoë", "Mehmet", "זהבה", "Ólafur", "李", "Fatima"]


def day(r):
    return BASE + datetime.timedelta(days=r)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def customer_id(n):
    return "C%05d" % n


def consents(rnd, n):
    """Whether customer N agreed to e-mail: decided by the seed."""
    return random.Random("%s/consent/%d" % (rnd, n)).random() < 0.7


def gen(d, r, seed):
    rng = random.Random("%s/%d" % (seed, r))
    t0 = day(r) - datetime.timedelta(hours=8)
    first = r * CUSTOMERS + 1
    new = list(range(first, first + CUSTOMERS))
    path = os.path.join(d, "customers.csv")
    with open(path, "a", encoding="utf-8", newline="") as f:
        if r == 0:
            f.write("customer_id,email,first_name,last_name,email_marketing,"
                    "registered_at\n")
        for n in new:
            f.write("%s,c%d@example.com,%s,Test%d,%s,%s\n" % (
                customer_id(n), n, rng.choice(FIRST), n,
                "yes" if consents(seed, n) else "no", iso(t0)))
    known = list(range(1, first + CUSTOMERS))
    with open(os.path.join(d, "orders.csv"), "a", encoding="utf-8") as f:
        if r == 0:
            f.write("order_id,line,customer_id,sku,title,quantity,"
                    "unit_price,time\n")
        for i in range(ORDER_LINES):
            if i % 3 == 0:  # an order belongs to one customer
                buyer = customer_id(rng.choice(known))
            sku = rng.randrange(SKUS)
            f.write("%d,%d,%s,S%03d,Item %d,%d,%.2f,%s\n" % (
                r * 100 + i // 3, i % 3 + 1, buyer, sku, sku,
                rng.randint(1, 3), rng.uniform(1, 90),
                iso(t0 + datetime.timedelta(minutes=i))))
    with open(os.path.join(d, "events.jsonl"), "a", encoding="utf-8") as f:
        for i in range(EVENTS):
            f.write(json.dumps({
                "customer": customer_id(rng.choice(known)),
                "time": iso(t0 + datetime.timedelta(minutes=30 + i)),
                "type": "ticket", "url": "/ticket/%d/%d" % (r, i)}) + "\n")
    with open(os.path.join(d, "access.log"), "a", encoding="utf-8") as f:
        for i in range(HITS):
            t = t0 + datetime.timedelta(minutes=60 + i)
            f.write('10.0.%d.%d - %s [%s] "GET /product/S%03d?hit=%d-%d '
                    'HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n' % (
                        r % 250, i, customer_id(rng.choice(known)),
                        t.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                        rng.randrange(SKUS), r, i))


def plan(seed, kills):
    stages = [s for s, k in STAGES.items() for _ in range(k)]
    while len(stages) < kills:
        stages += list(STAGES)
    # shuffled before it is cut: fewer kills still reach every stage
    random.Random("%s/plan" % seed).shuffle(stages)
    print(" ".join(stages[:kills]))


def inputs(d):
    with open(os.path.join(d, "customers.csv"), encoding="utf-8") as f:
        custs = [line.split(",") for line in f.read().splitlines()[1:]]
    with open(os.path.join(d, "orders.csv"), encoding="utf-8") as f:
        lines = [line.split(",") for line in f.read().splitlines()[1:]]
    with open(os.path.join(d, "events.jsonl"), encoding="utf-8") as f:
        events = [json.loads(line) for line in f]
    with open(os.path.join(d, "access.log"), encoding="utf-8") as f:
        hits = f.read().splitlines()
    return custs, lines, events, hits


def inflight_path(d):
    return os.path.join(d, "inflight.json")


def load_inflight(d):
    try:
        with open(inflight_path(d), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def snap(d, r, stage):
    """Note the messages the run of round R, killed in STAGE, left
    "sending", in the order delivery hands them to the server."""
    db = sqlite3.connect(os.path.join(d, "crm.db"))
    keys = [k for (k,) in db.execute(
        "SELECT key FROM outbox WHERE state = 1 ORDER BY planned_at, id")]
    db.close()
    kills = load_inflight(d)
    kills.append({"round": r, "stage": stage, "keys": keys})
    with open(inflight_path(d) + ".tmp", "w", encoding="utf-8") as f:
        json.dump(kills, f)
    os.rename(inflight_path(d) + ".tmp", inflight_path(d))


def check_inflight(q, copies, d):
    """The unknown messages against what the killed runs left in flight."""
    bad = []
    unknown = {k for (k,) in q("SELECT key FROM outbox WHERE state = 6")}
    noted = set()
    for kill in load_inflight(d):
        keys, where = kill["keys"], "round %d (%s)" % (kill["round"],
                                                       kill["stage"])
        noted.update(keys)
        if keys and kill["stage"] != "deliver":
            bad.append("%s: %d messages left sending by a kill outside "
                       "delivery" % (where, len(keys)))
        if len(keys) > BATCH_MAX:
            bad.append("%s: %d messages in flight, more than a batch (%d)" %
                       (where, len(keys), BATCH_MAX))
        got = [copies.get(mid_of(k), 0) > 0 for k in keys]
        if got != sorted(got, reverse=True):
            bad.append("%s: the messages received are not the first of the "
                       "batch in flight: %s" % (where, got))
        lost = [k for k in keys if k not in unknown]
        if lost:
            bad.append("%s: in flight but not unknown now: %s" %
                       (where, lost[:3]))
    stray = sorted(unknown - noted)
    if stray:
        bad.append("%d unknown messages no killed run left in flight: %s" %
                   (len(stray), stray[:3]))
    return bad


def suppression_wrong(cust, lines, reason, at):
    """Why planning should not have suppressed a message for customer CUST
    (an input row) with REASON at time AT, or None. Planning records what
    it suppresses: here a customer who never consented (no_consent), or one
    who already owns every item sold so far, so that the best sellers
    (personalizer popular, all history, bought items left out) leave
    nothing to offer (no_items)."""
    if reason == "no_consent":
        return None if cust[4] == "no" else "the customer consented"
    if reason == "no_items":
        r = (at - int(BASE.timestamp())) // 86400  # the round that planned
        sold = {ln[3] for ln in lines if int(ln[0]) // 100 <= r}
        owned = {ln[3] for ln in lines
                 if int(ln[0]) // 100 <= r and ln[2] == cust[0]}
        missing = sorted(sold - owned)
        return None if not missing else "%s not owned" % missing[:3]
    return "no such reason here"


def check(d, sink, last):
    bad = []
    db = sqlite3.connect(os.path.join(d, "crm.db"))
    q = lambda sql, *a: db.execute(sql, a).fetchall()
    ic = q("PRAGMA integrity_check")
    if ic != [("ok",)]:
        bad.append("integrity_check: %s" % ic)
    custs, lines, events, hits = inputs(d)

    # every source record exactly once
    ids = {r[0]: r for r in custs}
    got = {r[0] for r in q("SELECT external_id FROM customers")}
    if got != set(ids):
        bad.append("customers: %d in the store, %d in the input, differing "
                   "%s" % (len(got), len(ids), sorted(got ^ set(ids))[:5]))
    dup = q("SELECT customer_id, count(*) FROM consents"
            " GROUP BY customer_id, channel, purpose HAVING count(*) != 1")
    if dup or q("SELECT count(*) FROM consents")[0][0] != len(ids):
        bad.append("consents: not one per customer: %s" % dup[:5])
    n = q("SELECT count(*) FROM order_lines")[0][0]
    if n != len(lines):
        bad.append("order lines: %d in the store, %d in the input" %
                   (n, len(lines)))
    for src, want in (("ticket", [e["url"] for e in events]),
                      ("view", [h.split()[6] for h in hits])):
        urls = collections.Counter(
            u for (u,) in q("SELECT url FROM events WHERE type = ?", src))
        if urls != collections.Counter(want):
            extra = [u for u, c in urls.items() if c > 1]
            bad.append("%s events: %d in the store, %d in the input; twice: "
                       "%s; missing: %s" % (
                           src, sum(urls.values()), len(want), extra[:3],
                           sorted(set(want) - set(urls))[:3]))
    if q("SELECT count(*) FROM quarantine")[0][0]:
        bad.append("quarantined records: %s" %
                   q("SELECT source, line, reason FROM quarantine")[:3])
    if q("SELECT count(*) FROM runs WHERE status = 'running'")[0][0]:
        bad.append("runs left 'running'")

    # the ledger against the input: none lost
    cid = dict(q("SELECT external_id, id FROM customers"))
    rows = q("SELECT key, state, campaign, customer_id, period, reason,"
             " planned_at FROM outbox")
    keys = {(c, p, k) for _, _, c, k, p, _, _ in rows}
    for r in range(last + 1):
        period = day(r).strftime("%Y-%m-%d")
        n_known = (r + 1) * CUSTOMERS
        for ext, row in ids.items():
            if int(ext[1:]) <= n_known and row[4] == "yes" and \
                    ("news", period, cid.get(ext)) not in keys:
                bad.append("lost: news for %s on %s" % (ext, period))
    for ext in {ln[2] for ln in lines}:
        if ids[ext][4] == "yes" and ("welcome", "once", cid.get(ext)) \
                not in keys:
            bad.append("lost: welcome for %s" % ext)
    ext_of = {v: k for k, v in cid.items()}
    for key, state, c, k, p, reason, at in rows:
        if state == 5:
            why = suppression_wrong(ids[ext_of[k]], lines, reason, at)
            if why:
                bad.append("message %s suppressed (%s): %s" % (key, reason,
                                                               why))
        elif state not in (2, 6):
            bad.append("message %s left in state %d" % (key, state))

    # the sink against the ledger: exactly once, or at most once if unknown
    bad += problems(os.path.join(d, "crm.db"), sink)[0]
    bad += check_inflight(q, received(sink), d)
    for b in bad[:20]:
        print(b)
    return 1 if bad else 0


def stats(d, sink):
    """One line of figures for the summary."""
    db = sqlite3.connect(os.path.join(d, "crm.db"))
    st = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY 1"))
    copies = received(sink)
    unknown = [k for (k,) in db.execute("SELECT key FROM outbox"
                                        " WHERE state = 6")]
    got = sum(1 for k in unknown if copies.get(mid_of(k)))
    batches = [len(k["keys"]) for k in load_inflight(d) if k["keys"]]
    why = db.execute("SELECT reason, count(*) FROM outbox WHERE state = 5"
                     " GROUP BY 1 ORDER BY 1").fetchall()
    print("%d messages planned, %d sent once, %d unknown (%d of them "
          "received once, %d never) from %d kills with a batch in flight "
          "(at most %d messages), %d suppressed (%s); %d received "
          "in all" % (
              sum(st.values()) - st.get(5, 0), st.get(2, 0), st.get(6, 0), got,
              len(unknown) - got, len(batches), max(batches, default=0),
              st.get(5, 0), ", ".join("%s %d" % r for r in why),
              sum(copies.values())))


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        rng = random.Random("%s/pick/%s" % (sys.argv[4], sys.argv[3]))
        print(rng.randint(1, max(1, int(sys.argv[5]))))
    elif cmd == "plan":
        plan(sys.argv[2], int(sys.argv[3]))
    elif cmd == "snap":
        snap(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    elif cmd == "stats":
        stats(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
