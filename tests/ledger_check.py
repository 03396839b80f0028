#!/usr/bin/python3
"""The outbox ledger against what a loopback SMTP server (tests/
smtp_server.py) received: never twice, never behind the ledger's back.

usage: ledger_check.py STORE SINK_DIR [channel=NAME] [STATE=N ...]

Each message the server accepted is matched to its ledger row through its
Message-ID (the first 32 hex digits of the SHA-256 of the ledger key, see
plugins/common/mime.c). Checks: a row marked sent was received exactly
once, a row marked unknown (a run died while sending it) at most once, any
other row never; nothing was received that the ledger does not hold. With
STATE=N arguments (state names as in ecrm: planned sending sent retry
failed suppressed unknown), the number of rows in each named state must be
N. channel=NAME checks only that channel's rows (the others did not go to
this server). Prints one line per violation (and exits 1), else a summary
line.
"""
import collections
import email
import email.policy
import hashlib
import json
import os
import sqlite3
import sys

STATES = ["planned", "sending", "sent", "retry", "failed", "suppressed",
          "unknown"]


def mid_of(key):
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def received(sink):
    """Message-ID local part -> number of copies SINK accepted. Each file is
    parsed once: the Message-IDs seen by earlier calls are kept in
    SINK/mids.json."""
    cache_path = os.path.join(sink, "mids.json")
    try:
        with open(cache_path, encoding="utf-8") as f:
            cache = json.load(f)
    except FileNotFoundError:
        cache = {}
    for name in os.listdir(sink):
        if name.endswith(".eml") and name not in cache:
            with open(os.path.join(sink, name), "rb") as f:
                m = email.message_from_binary_file(f,
                                                   policy=email.policy.default)
            cache[name] = str(m["Message-ID"]).strip("<>").split("@")[0]
    with open(cache_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(cache, f)
    os.rename(cache_path + ".tmp", cache_path)
    return collections.Counter(cache.values())


def problems(store, sink, channel=None):
    """The violations, and (state counts, copies) for a summary."""
    bad = []
    db = sqlite3.connect(store)
    rows = db.execute("SELECT key, state FROM outbox"
                      " WHERE ?1 IS NULL OR channel = ?1",
                      (channel,)).fetchall()
    db.close()
    copies = received(sink)
    keys = {}
    for key, state in rows:
        keys[mid_of(key)] = key
        c = copies.get(mid_of(key), 0)
        if (state == 2 and c != 1) or (state == 6 and c > 1) or \
                (state not in (2, 6) and c):
            bad.append("message %s (%s) received %d times" %
                       (key, STATES[state], c))
    stray = [m for m in copies if m not in keys]
    if stray:
        bad.append("%d messages received that the ledger does not hold" %
                   len(stray))
    return bad, collections.Counter(STATES[s] for _, s in rows), copies


def main():
    args = dict(a.split("=") for a in sys.argv[3:])
    bad, states, copies = problems(sys.argv[1], sys.argv[2],
                                   args.pop("channel", None))
    for name, n in args.items():
        if states.get(name, 0) != int(n):
            bad.append("%d messages %s, expected %s" %
                       (states.get(name, 0), name, n))
    for b in bad[:20]:
        print(b)
    if bad:
        sys.exit(1)
    print("ledger: %s; %d received" % (
        ", ".join("%d %s" % (n, s) for s, n in sorted(states.items())),
        sum(copies.values())))


if __name__ == "__main__":
    main()
