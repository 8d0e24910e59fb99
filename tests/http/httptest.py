"""httptest.py — what the ferd-http tests share: the real ferd on the demo
clip (through tests/reliability/ferdtest.py, the project's ferd harness), the
real ferd-http on a port the kernel picks, and curl.

Paths come from the environment meson sets (tests/http/meson.build):
FERD_BIN, FERD_HTTP_BIN, SSE_DECODE, FER_SOURCE_ROOT. Standard library only.
"""

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))

import ferdtest  # noqa: E402  (the shared ferd harness)
from ferdtest import Failure, Scratch, check, log, need_env, now  # noqa: E402,F401

SOURCE_ROOT = ferdtest.SOURCE_ROOT
DEMO = os.path.join(SOURCE_ROOT, "samples", "demo.avi")
MODEL = os.path.join(SOURCE_ROOT, "models", "default.fermodel")


def demo_ferd(scratch, name="ferd", **settings):
    """ferd on samples/demo.avi (looping, at its 15 fps) with the shipped
    model, pictures allowed at the clip's rate; settings override."""
    conf = {"source": DEMO, "model": MODEL, "loop": "yes", "realtime": "yes",
            "allow_images": "yes", "image_max_fps": "15"}
    conf.update({k: str(v) for k, v in settings.items()})
    return ferdtest.Daemon(scratch, conf, name=name).start()


_STARTED = []


@atexit.register
def _kill_leftovers():
    for p in _STARTED:
        p.kill()


class FerdHttp:
    """One ferd-http, its log in the scratch directory."""

    def __init__(self, scratch, socket_path, args=(), name="ferd-http", listen="127.0.0.1:0"):
        self.logpath = scratch.path(name + ".log")
        self.logf = open(self.logpath, "ab")
        self.args = [need_env("FERD_HTTP_BIN"), "--socket", socket_path, "--listen", listen]
        self.args += list(args)
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=ferdtest_pdeathsig)
        _STARTED.append(self)
        self.base = None

    def wait_listening(self, timeout=30.0):
        deadline = now() + timeout
        while now() < deadline:
            m = re.search(r"listening on (http://\S+?)/ ", self.log_text())
            if m:
                self.base = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise Failure("ferd-http exited (%s) at start; log:\n%s"
                              % (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise Failure("ferd-http did not listen within %.0f s; log:\n%s"
                      % (timeout, self.log_text()))

    def url(self, path):
        return self.base + path

    @property
    def pid(self):
        return self.proc.pid

    def log_text(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20.0):
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("ferd-http did not stop within %.0f s of SIGTERM; log tail:\n%s"
                              % (timeout, self.log_text()[-2000:]))
        self.logf.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Run:
    """One test script's scratch directory and processes: ferd (d), ferd-http
    (h) and whatever else must be closed at the end (extra: objects with
    close()). run_main stops them all, whatever happened."""

    def __init__(self, prefix):
        self.scratch = Scratch(prefix)
        self.d = self.h = None
        self.extra = []


def run_main(prefix, body, errors=(Failure,)):
    """The end every ferd-http test script shares: body(run) passes (0) or
    raises one of errors (1, reported with ferd-http's log tail); either way
    the readers are closed, ferd-http and ferd killed if still running and the
    scratch directory removed."""
    run = Run(prefix)
    try:
        body(run)
        return 0
    except errors as e:
        log("FAIL: %s", e)
        if run.h:
            log("ferd-http log tail:\n%s", run.h.log_text()[-3000:])
        return 1
    finally:
        for r in run.extra:
            r.close()
        for p in (run.h, run.d):
            if p:
                p.kill()
        run.scratch.cleanup()


def ferdtest_pdeathsig():
    """In a child: SIGKILL when the test script dies, whatever killed it."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def start_http(scratch, daemon_or_sock, *args, **kw):
    sock = daemon_or_sock if isinstance(daemon_or_sock, str) else daemon_or_sock.sock
    return FerdHttp(scratch, sock, args, **kw).wait_listening()


class Response:
    def __init__(self, code, headers, body):
        self.code = code
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def text(self):
        return self.body.decode(errors="replace")


def curl(url, *args, timeout=20.0):
    """One request with curl; the status, the headers (lower-case names, the
    last response's) and the body."""
    cmd = ["curl", "-sS", "--max-time", "%g" % timeout, "-D", "-", "-o", "-"] + list(args) + [url]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
    out = r.stdout
    if r.returncode not in (0, 28):  # 28: --max-time reached (streams)
        raise Failure("curl %s failed (%d): %s" % (url, r.returncode, r.stderr.decode()[:300]))
    # The header block(s), then the body.
    code, headers = 0, {}
    while out.startswith(b"HTTP/"):
        head, _, out = out.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        code = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.decode(errors="replace").partition(":")
            headers[k.strip().lower()] = v.strip()
        if code != 100:
            break
    return Response(code, headers, out)


def metric(text, name, labels=None):
    """The value of one sample in a Prometheus exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or (labels is not None and key == "%s{%s}" % (name, labels)):
            return float(value)
    return None


def proc_cpu_s(pid):
    """User plus system CPU seconds a process used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


class SseReader:
    """A raw HTTP/1.1 client of an SSE (or any streaming) address on its own
    thread, counting what arrives: messages by class, RESULT seqs, named
    events. read=False makes it a reader that never reads (a stalled browser),
    with a small receive buffer."""

    def __init__(self, base, path, read=True, rcvbuf=None):
        import socket
        import threading
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        # HTTP/1.0: the stream comes unchunked and ends with the connection.
        self.sock.sendall(("GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: text/event-stream\r\n\r\n"
                           % (path, host, port)).encode())
        self.status = None
        self.classes = {}
        self.seqs = []
        self.named = []
        self.bytes = 0
        self.closed = False
        self.lock = threading.Lock()
        self.running = read
        if read:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        import json as _json
        buf = b""
        body = False
        try:
            while self.running:
                try:
                    data = self.sock.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    break
                self.bytes += len(data)
                buf += data
                if not body:
                    if b"\r\n\r\n" not in buf:
                        continue
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self.status = int(head.split(b"\r\n")[0].split()[1])
                    body = True
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    name, datas = "", []
                    for line in ev.split(b"\n"):
                        line = line.rstrip(b"\r")
                        if line.startswith(b"data: "):
                            datas.append(line[6:])
                        elif line.startswith(b"event: "):
                            name = line[7:].decode()
                    if not datas:
                        continue
                    text = b"\n".join(datas)
                    with self.lock:
                        if name:
                            self.named.append((name, text.decode(errors="replace")))
                            continue
                        try:
                            m = _json.loads(text)
                        except ValueError:
                            self.classes["<bad>"] = self.classes.get("<bad>", 0) + 1
                            continue
                        c = m.get("class", "?")
                        self.classes[c] = self.classes.get(c, 0) + 1
                        if c == "RESULT":
                            self.seqs.append(m["seq"])
        finally:
            self.closed = True

    def count(self, cls):
        with self.lock:
            return self.classes.get(cls, 0)

    def close(self):
        self.running = False
        try:
            self.sock.close()
        except OSError:
            pass


def status_line():
    """The STATUS example of proto/PROTOCOL.md, as one line of bytes."""
    with open(os.path.join(SOURCE_ROOT, "proto", "PROTOCOL.md")) as f:
        for line in f:
            if line.startswith('{"class":"STATUS"'):
                return line.strip().encode()
    raise Failure("no STATUS example in proto/PROTOCOL.md")


class StandInFerd:
    """A ferd stand-in on a Unix socket, for what the real ferd will not do on
    demand (cut a connection, send a scripted scene or a line a newer ferd
    could send). Each connection is greeted with VERSION and served on a
    thread of its own: every request line goes to on_line(conn, line), and
    the connection ends when that returns False or the peer closes."""

    def __init__(self, path, proto_minor=7):
        self.greeting = (b'{"class":"VERSION","release":"9.9.9","proto_major":1,"proto_minor":%d,'
                         b'"max_request":4096,"max_response":4194304}\n' % proto_minor)
        self.conns = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def on_line(self, conn, line):
        raise NotImplementedError

    def _serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c):
        buf = b""
        try:
            c.sendall(self.greeting)
            while True:
                while b"\n" not in buf:
                    data = c.recv(4096)
                    if not data:
                        return
                    buf += data
                line, _, buf = buf.partition(b"\n")
                if self.on_line(c, line) is False:
                    c.close()
                    return
        except OSError:
            return

    def close(self):
        self.srv.close()
        for c in self.conns:
            c.close()
