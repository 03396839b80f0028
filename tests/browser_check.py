#!/usr/bin/python3
"""Open HTML reports in headless Chromium and check that they rendered.

Usage: browser_check.py OUTDIR PAGE.html [PAGE.html ...]

For each page, through the DevTools protocol (a small WebSocket client on
the standard library): load it at 1200x2000, take a full-page screenshot
(OUTDIR/NAME.png), and check that
  * the page logged no error: no console error or warning, no exception,
    no log entry of level error (a blocked or failed load, a Content
    Security Policy violation);
  * it has as many <svg class="chart"> as the file, each laid out with a
    non-zero size and drawing shapes (rects, lines, dots) of non-zero size;
  * each chart's area of the screenshot is not blank: a share of its
    pixels is not white.
Prints one line per page and per problem; exits 0 when every page passed,
1 when one did not, 77 (skip) when Chromium is not installed.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,2000",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]
MIN_INK = 0.004  # share of a chart's pixels that must not be white


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames."""

    def __init__(self, url):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), 30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n"
                           % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise OSError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("websocket handshake refused: %r" % head[:80])

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise OSError("websocket closed")
            buf += chunk
        return bytes(buf)

    def send(self, text):
        data = text.encode()
        head = bytearray([0x81])
        n = len(data)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack(">H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", n)
        mask = os.urandom(4)
        head += mask
        self.sock.sendall(bytes(head) + bytes(b ^ mask[i % 4]
                                              for i, b in enumerate(data)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            if b0 & 0x0F == 0x8:
                raise OSError("websocket closed by the browser")
            if b0 & 0x0F in (0x9, 0xA):  # ping, pong: not used by DevTools
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="ecrm-chromium-")
        self.log = open(os.path.join(self.profile, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile,
                                  "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not os.path.exists(port_file) or not open(port_file).read():
            if time.time() > deadline or self.proc.poll() is not None:
                raise OSError("chromium did not start its DevTools server")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(
            "http://127.0.0.1:%d/json/list" % port, timeout=30))
        page = [t for t in targets if t.get("type") == "page"][0]
        self.ws = WebSocket(page["webSocketDebuggerUrl"])
        self.next_id = 0
        self.events = []
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(method)
        self.call("Emulation.setDeviceMetricsOverride", width=1200,
                  height=2000, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method,
                                 "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mine:
                if "error" in msg:
                    raise OSError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method, timeout=30):
        self.ws.sock.settimeout(timeout)
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv()))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def png_pixels(data):
    """(width, height, channels, rows of bytes) of an 8-bit PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(
                ">IIBBBBB", body)
            if depth != 8 or interlace or ctype not in (2, 6):
                raise ValueError("unexpected PNG format")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def ink(png):
    """Share of pixels that are not (nearly) white."""
    w, h, bpp, rows = png_pixels(png)
    dark = 0
    for line in rows:
        for i in range(0, w * bpp, bpp):
            if line[i] < 235 or line[i + 1] < 235 or line[i + 2] < 235:
                dark += 1
    return dark / float(w * h) if w and h else 0.0


# Every chart's box and the shapes it draws, as the browser laid them out.
PROBE = """JSON.stringify(Array.from(document.querySelectorAll('svg.chart'))
  .map(function (s) {
    var r = s.getBoundingClientRect();
    var shapes = Array.from(s.querySelectorAll('rect,polyline,circle,path'))
      .filter(function (e) { var b = e.getBBox();
                             return b.width > 0 || b.height > 0; });
    return {kind: s.getAttribute('data-kind'), x: r.left + scrollX,
            y: r.top + scrollY, w: r.width, h: r.height,
            shapes: shapes.length,
            sized: shapes.filter(function (e) { var b = e.getBBox();
                                   return b.width > 0 && b.height > 0; })
                         .length};
  }))"""


def problems_of(browser, path, outdir):
    """Load PATH and return the list of what is wrong with it."""
    problems = []
    browser.events = []
    html = open(path, encoding="utf-8").read()
    want = html.count('<svg class="chart"')
    browser.call("Page.navigate", url="file://" + os.path.abspath(path))
    browser.wait_for("Page.loadEventFired")
    time.sleep(0.3)  # let late log entries arrive
    browser.call("Runtime.evaluate", expression="1")  # drains the events
    for e in browser.events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and \
                p.get("type") in ("error", "warning", "assert"):
            problems.append("console %s: %s" % (p["type"], p.get("args")))
        elif e["method"] == "Runtime.exceptionThrown":
            problems.append("exception: %s" % p.get("exceptionDetails"))
        elif e["method"] == "Log.entryAdded" and \
                p["entry"].get("level") in ("error", "warning"):
            problems.append("log %s: %s" % (p["entry"]["level"],
                                            p["entry"].get("text")))
    charts = json.loads(browser.call(
        "Runtime.evaluate", expression=PROBE,
        returnByValue=True)["result"]["value"])
    if len(charts) != want or want == 0:
        problems.append("%d charts laid out, the file has %d"
                        % (len(charts), want))
    height = browser.call("Runtime.evaluate",
                          expression="document.documentElement.scrollHeight",
                          returnByValue=True)["result"]["value"]
    shot = browser.call("Page.captureScreenshot", format="png",
                        captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1200,
                              "height": max(height, 1), "scale": 1})
    name = os.path.splitext(os.path.basename(path))[0]
    with open(os.path.join(outdir, name + ".png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    for i, c in enumerate(charts):
        what = "chart %d (%s)" % (i + 1, c["kind"])
        if not (c["w"] > 0 and c["h"] > 0):
            problems.append("%s has no size" % what)
            continue
        if c["shapes"] == 0:
            problems.append("%s draws no shape" % what)
        if c["kind"] != "line" and c["sized"] == 0:
            problems.append("%s has no shape of non-zero size" % what)
        part = browser.call("Page.captureScreenshot", format="png",
                            captureBeyondViewport=True,
                            clip={"x": c["x"], "y": c["y"], "width": c["w"],
                                  "height": c["h"], "scale": 0.5})
        share = ink(base64.b64decode(part["data"]))
        if share < MIN_INK:
            problems.append("%s is blank on screen (%.2f%% ink)"
                            % (what, 100 * share))
    return problems, len(charts)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    if not os.access(CHROMIUM, os.X_OK):
        print("SKIP: no chromium at %s" % CHROMIUM)
        return 77
    outdir, pages = sys.argv[1], sys.argv[2:]
    browser = Browser()
    failed = 0
    try:
        for path in pages:
            problems, n = problems_of(browser, path, outdir)
            print("%s: %s, %d charts" % (os.path.basename(path),
                                         "FAILED" if problems else "ok", n))
            for p in problems:
                print("  " + p)
            failed += bool(problems)
    finally:
        browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
