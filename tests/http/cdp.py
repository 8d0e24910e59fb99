"""cdp.py — Debian's chromium, headless, driven over the DevTools protocol
with the Python standard library only (a WebSocket client of ~100 lines).

    with Browser(scratch_dir) as b:
        page = b.open("http://127.0.0.1:8090/")
        page.eval("document.title")
        png = page.screenshot()

The browser runs with the flags that work on this project's machines
(--headless --no-sandbox --disable-gpu ...) and a fresh profile directory; it
picks its own debugging port and writes it to DevToolsActivePort, which we
read. One WebSocket to the browser carries every page's session ("flatten"
mode), so commands name their session. The process is killed however the
caller ends (context manager, atexit, and PR_SET_PDEATHSIG on Linux).
"""

import atexit
import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows"]


class CdpError(Exception):
    pass


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _die_with_parent():
    """In the child: SIGKILL when the test process dies (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass
    os.setsid()


class WebSocket:
    """A client WebSocket (RFC 6455): text frames out (masked), frames in."""

    def __init__(self, host, port, path, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CdpError("DevTools closed the connection during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise CdpError("DevTools refused the WebSocket: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CdpError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        head = bytes([0x81])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self, timeout):
        """The next text message (None on timeout)."""
        self.sock.settimeout(timeout)
        parts = []
        try:
            while True:
                b0, b1 = self._read(2)
                op, fin = b0 & 0x0F, b0 & 0x80
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else None
                payload = self._read(n)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if op == 0x9:  # ping
                    self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                    continue
                if op == 0x8:
                    raise CdpError("DevTools closed the WebSocket")
                if op in (0x1, 0x0, 0x2):
                    parts.append(payload)
                    if fin:
                        return b"".join(parts).decode()
        except socket.timeout:
            return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    def __init__(self, browser, target, session):
        self.b = browser
        self.target = target
        self.session = session

    def call(self, method, params=None, timeout=30.0):
        return self.b.call(method, params, timeout, self.session)

    def eval(self, expr, timeout=30.0):
        """The value of a JavaScript expression (awaited if a promise)."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise CdpError("page threw: %s" % json.dumps(r["exceptionDetails"])[:500])
        return r.get("result", {}).get("value")

    def screenshot(self):
        r = self.call("Page.captureScreenshot", {"format": "png"}, 60.0)
        return base64.b64decode(r["data"])

    def close(self):
        try:
            self.b.call("Target.closeTarget", {"targetId": self.target}, 10.0)
        except CdpError:
            pass


class Browser:
    """One headless chromium with a fresh profile under workdir."""

    def __init__(self, workdir, width=1280, height=900, extra_flags=()):
        exe = chromium_path()
        if not exe:
            raise CdpError("chromium is not installed (apt-get install chromium)")
        self.profile = os.path.join(workdir, "chromium-profile-%d" % os.getpid())
        shutil.rmtree(self.profile, ignore_errors=True)
        os.makedirs(self.profile)
        self.log = open(os.path.join(workdir, "chromium.log"), "ab")
        args = [exe] + FLAGS + list(extra_flags) + [
            "--user-data-dir=" + self.profile, "--remote-debugging-port=0",
            "--window-size=%d,%d" % (width, height), "about:blank"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     preexec_fn=_die_with_parent)
        atexit.register(self.kill)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while True:
            if os.path.exists(port_file):
                lines = open(port_file).read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    break
            if self.proc.poll() is not None:
                raise CdpError("chromium exited (%s) before it listened; see chromium.log"
                               % self.proc.returncode)
            if time.monotonic() > deadline:
                self.kill()
                raise CdpError("chromium did not open its debugging port within 60 s")
            time.sleep(0.1)
        self.port = int(lines[0])
        self.ws = WebSocket("127.0.0.1", self.port, lines[1].strip())
        self.next_id = 0
        self.events = []

    def call(self, method, params=None, timeout=30.0, session=None):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("no answer to %s within %.0f s" % (method, timeout))
            text = self.ws.recv(left)
            if text is None:
                continue
            m = json.loads(text)
            if m.get("id") == mid:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m and len(self.events) < 1000:
                self.events.append(m)

    def open(self, url):
        t = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": t, "flatten": True})["sessionId"]
        page = Page(self, t, s)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("Page.navigate", {"url": url})
        return page

    def kill(self):
        if getattr(self, "ws", None):
            self.ws.close()
            self.ws = None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
