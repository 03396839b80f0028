#!/usr/bin/python3
"""Loopback SMTP server for tests/check_smtp (aiosmtpd).

usage: smtp_server.py DIR

Listens on 127.0.0.1, on an ephemeral port written to DIR/port once it
accepts connections. Each accepted message is stored as DIR/NNNN.eml (raw
bytes as received) and DIR/NNNN.txt, a summary parsed with Python's
`email` package: one "key<TAB>value" line per fact, values escaped
(backslash, \\n, \\r, \\t), header values RFC 2047-decoded. The number of
SMTP connections accepted so far is kept in DIR/connections.

The recipient's local part chooses a failure, so that one server run can
exercise them all:
  rcpt450...  RCPT is answered 450 (transient)
  rcpt550...  RCPT is answered 550 (permanent)
  data451...  the end of DATA is answered 451
  drop...     the connection is cut in the middle of DATA
  noqueue...  the end of DATA is answered "250 OK" (no queue id)
  once450...  RCPT is answered 450 the first time, accepted after that
  oncedrop... the connection is cut in DATA the first time, then accepted
otherwise the message is accepted with "250 2.0.0 Ok: queued as QNNNN".

Besides the parsed headers, a summary says whether the raw header block
has any 8-bit byte (header_8bit: RFC 2047 should leave none), the longest
line of To, From, Reply-To and Subject (text_header_max_line) and the raw,
undecoded To and Subject (raw:to, raw:subject).

With $SMTP_TEST_TLS_CERT and $SMTP_TEST_TLS_KEY (PEM files) set, the
server offers STARTTLS with that certificate and requires it before MAIL;
each summary says whether its session was encrypted (tls: 1 or 0). With
$SMTP_TEST_AUTH ("user:password") too, AUTH (PLAIN, LOGIN) is offered over
TLS and required; the summary names the user (auth_user).

A test can also switch a failure on for every recipient, while the server
runs, by writing its name (rcpt450, rcpt550, data451, drop) or "stall" (the
end of DATA is never answered, the message not kept) into DIR/fault, and
slow every message down by writing seconds into DIR/delay (the end of DATA
is answered that much later). Both files are read for each message.

With $SMTP_TEST_SECRET set, List-Unsubscribe tokens are verified with it
(HMAC-SHA256, format in plugins/common/mime.h) independently of the C code.
"""
import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import logging
import os
import shutil
import re
import ssl
import sys
import threading
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def esc(v):
    return (str(v).replace("\\", "\\\\").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_token(url, out):
    m = re.search(r"[?&]t=([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", url)
    secret = os.environ.get("SMTP_TEST_SECRET")
    if not m or not secret:
        return
    payload_b64, sig_b64 = m.group(1).split(".")
    payload = b64url(payload_b64)
    want = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    ok = hmac.compare_digest(want, b64url(sig_b64))
    out.append(("token_valid", "1" if ok else "0"))
    version, cid, exp, campaign = payload.decode().split(":", 3)
    out += [("token_version", version), ("token_customer", cid),
            ("token_expires", exp), ("token_campaign", campaign)]


def raw_facts(raw):
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    out = [("header_8bit", int(any(b >= 0x80 for b in head)))]
    # physical lines of the headers that carry names and text (a
    # List-Unsubscribe URL may not be folded, so it is left out)
    longest, name = 0, b""
    for line in re.split(rb"\r?\n", head):
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].lower()
        if name in (b"to", b"from", b"subject", b"reply-to"):
            longest = max(longest, len(line))
    out.append(("text_header_max_line", longest))
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for h in ("to", "subject"):
        v = msg.get(h)
        if v is not None:
            out.append(("raw:" + h, re.sub(r"\r?\n[ \t]", " ", str(v))))
    return out


def summarize(env_from, rcpts, raw, tls, user):
    out = [("mail_from", env_from), ("rcpt_count", len(rcpts)),
           ("tls", int(tls)), ("auth_user", user)]
    out += raw_facts(raw)
    out += [("rcpt", r) for r in rcpts]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for name in msg.keys():
        out.append(("name", name.lower()))
    for name in set(k.lower() for k in msg.keys()):
        for v in msg.get_all(name):
            out.append(("h:" + name, v))
    for hname in ("to", "from", "reply-to"):
        if msg[hname] is not None:
            a = msg[hname].addresses[0]
            out += [(hname + "_name", a.display_name),
                    (hname + "_addr", a.addr_spec)]
    out.append(("content_type", msg.get_content_type()))
    out.append(("defects", len(msg.defects) +
                sum(len(p.defects) for p in msg.walk())))
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        if part is not None:
            out.append((kind, part.get_content().replace("\r\n", "\n")))
            out.append((kind + "_charset", part.get_content_charset()))
    lu = msg.get("List-Unsubscribe")
    if lu:
        check_token(str(lu), out)
    return "".join("%s\t%s\n" % (k, esc(v)) for k, v in out)


# addresses whose "once" failure has happened
failed_once = set()


def first_time(address):
    """True the first time ADDRESS is asked about."""
    if address in failed_once:
        return False
    failed_once.add(address)
    return True


def setting(d, name):
    """The content of DIR/NAME, stripped; "" when there is none."""
    try:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


class Handler:
    def __init__(self, d):
        self.dir = d
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = setting(self.dir, "fault") or address.split("@")[0]
        if local.startswith("once450") and first_time(address):
            return "450 4.2.1 Mailbox busy, try again later"
        if local.startswith("rcpt450"):
            return "450 4.2.1 Mailbox busy, try again later"
        if local.startswith("rcpt550"):
            return "550 5.1.1 <%s>: Recipient address rejected: " \
                   "User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        locals_ = [r.split("@")[0] for r in envelope.rcpt_tos]
        locals_.append(setting(self.dir, "fault"))
        delay = setting(self.dir, "delay")
        if delay:
            await asyncio.sleep(float(delay))
        if "stall" in locals_:
            await asyncio.sleep(3600)
        if any(x.startswith("data451") for x in locals_):
            return "451 4.3.0 Temporary local problem, try later"
        self.n += 1
        base = os.path.join(self.dir, "%04d" % self.n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".txt.tmp", "w", encoding="utf-8") as f:
            f.write(summarize(envelope.mail_from, envelope.rcpt_tos,
                              envelope.original_content,
                              session.ssl is not None,
                              session.auth_data.login.decode()
                              if session.authenticated else ""))
        # the .eml appears last: a test that sees it sees the summary too
        os.rename(base + ".txt.tmp", base + ".txt")
        os.rename(base + ".eml.tmp", base + ".eml")
        if any(x.startswith("noqueue") for x in locals_):
            return "250 OK"
        return "250 2.0.0 Ok: queued as Q%04d" % self.n


class Authenticator:
    """Accepts the one USER:PASSWORD it was given."""

    def __init__(self, spec):
        user, password = spec.split(":", 1)
        self.want = (user.encode(), password.encode())

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and
              (auth_data.login, auth_data.password) == self.want)
        # handled=False: aiosmtpd answers 235 or 535 itself
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)


class TestSMTP(SMTP):
    """SMTP that can cut the connection in the middle of DATA."""

    async def smtp_DATA(self, arg):
        rcpts = self.envelope.rcpt_tos if self.envelope else []
        locals_ = [r.split("@")[0] for r in rcpts]
        locals_.append(setting(self.event_handler.dir, "fault"))
        if any(x.startswith("drop") for x in locals_) or any(
                r.split("@")[0].startswith("oncedrop") and first_time(r)
                for r in rcpts):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()  # some of the message, then cut
            self.transport.abort()
            return
        return await super().smtp_DATA(arg)


def exit_with_parent(d):
    """Stop, and remove our directory, when the test that started us is
    gone, even if it failed before its teardown could do it."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)
    shutil.rmtree(d, ignore_errors=True)
    os._exit(0)


def main():
    d = sys.argv[1]
    threading.Thread(target=exit_with_parent, args=(d,), daemon=True).start()
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    handler = Handler(d)
    conns = [0]

    tls = {}
    cert = os.environ.get("SMTP_TEST_TLS_CERT")
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, os.environ["SMTP_TEST_TLS_KEY"])
        tls = {"tls_context": ctx, "require_starttls": True}
        if os.environ.get("SMTP_TEST_AUTH"):
            tls.update(authenticator=Authenticator(
                os.environ["SMTP_TEST_AUTH"]), auth_required=True)

    def factory():
        conns[0] += 1
        with open(os.path.join(d, "connections"), "w") as f:
            f.write("%d\n" % conns[0])
        return TestSMTP(handler, hostname="test.invalid", **tls)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write("%d\n" % port)
    os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    loop.run_forever()


if __name__ == "__main__":
    main()
