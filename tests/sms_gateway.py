#!/usr/bin/python3
"""Loopback HTTP SMS gateway for tests/check_sms_http (http.server).

usage: sms_gateway.py DIR

Listens on 127.0.0.1, on an ephemeral port written to DIR/port once it
accepts connections. Every request is appended to DIR/requests.jsonl as a
JSON line, and summarised in DIR/NNNN.txt ("key<TAB>value" lines, values
escaped: backslash, \\n, \\r, \\t) with the body parsed by Python's json or
urllib.parse, so that the C test checks the escaping independently.

The request path chooses the answer:
  /ok       200 {"id": "gw-NNNN", "status": "queued"}
  /msgid    200 {"status": "queued", "message_id": "m-NNNN"}
  /noid     200 "accepted" (no JSON)
  /429 /500 /503 /400 /401   that status, a JSON error body
  /hang     answers only after 10 seconds
  /echo401  401 with a body quoting the request's Authorization header, as
            careless gateways do ("invalid key ...")
"""
import json
import os
import shutil
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
count = [0]


def esc(v):
    return (str(v).replace("\\", "\\\\").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count[0] += 1
            n = count[0]
        self.record(n, body)
        path = self.path
        if path == "/hang":
            time.sleep(10)
            path = "/ok"
        if path == "/ok":
            self.answer(200, {"id": "gw-%04d" % n, "status": "queued"})
        elif path == "/msgid":
            self.answer(200, {"status": "queued", "message_id": "m-%04d" % n})
        elif path == "/noid":
            self.answer(200, None, b"accepted")
        elif path == "/echo401":
            self.answer(401, {"error": "invalid credentials: %s" %
                              self.headers.get("Authorization", "")})
        else:
            code = int(path.strip("/")) if path.strip("/").isdigit() else 404
            self.answer(code, {"error": "status %d for \"test\"" % code})

    def answer(self, code, obj, raw=None):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, n, body):
        d = self.server.dir
        text = body.decode("utf-8", "replace")
        rec = {"path": self.path, "headers": dict(self.headers.items()),
               "body": text}
        out = [("path", self.path), ("body", text)]
        for k, v in self.headers.items():
            out.append(("h:" + k.lower(), v))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            try:
                obj = json.loads(body.decode("utf-8"))
                out.append(("json_valid", "1"))
                for k, v in obj.items():
                    out.append(("json." + k, v))
            except ValueError:
                out.append(("json_valid", "0"))
        elif ctype.startswith("application/x-www-form-urlencoded"):
            for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True,
                                               strict_parsing=True):
                out.append(("form." + k, v))
        with lock:
            with open(os.path.join(d, "requests.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")
            tmp = os.path.join(d, "%04d.txt.tmp" % n)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join("%s\t%s\n" % (k, esc(v)) for k, v in out))
            os.rename(tmp, os.path.join(d, "%04d.txt" % n))


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    server.daemon_threads = True
    server.dir = d
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
