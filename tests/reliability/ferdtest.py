"""ferdtest.py — what the reliability scripts of tests/reliability/ share.

A scratch directory, a random-weight model, a short clip, and the real ferd
started on a temporary socket with its own configuration file, waited for on
a NOTIFY_SOCKET (READY=1) as systemd would, and measured from /proc (RSS, open
descriptors).

Daemon is the Python wrapper of the tests' one harness, tests/ferd_harness.h,
and keeps its rules: the daemon dies with the process that started it
(PR_SET_PDEATHSIG, in its own process group); start-up and every wait poll a
condition with a deadline; every notification is kept, in order; and however a
script ends (a failed check, an exception, SIGTERM from meson's timeout), the
daemon is killed and its sockets are removed. Clients speak protocol v1 (proto/PROTOCOL.md) as plain JSON
lines over the Unix socket, as any program may.

Python standard library only (/usr/bin/python3), so the scripts run wherever
the C tests run. Paths to the programs come from the environment that meson
sets (tests/reliability/meson.build): FERD_BIN, FER_BIN, MAKE_MODEL,
FER_SOURCE_ROOT.
"""

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SOURCE_ROOT = os.environ.get("FER_SOURCE_ROOT",
                             os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

# A small network for 48x48 faces: cheap to run, so the daemon's own machinery
# (not the network) is what a reliability test exercises.
SMALL_ARCH = """[net]
name = %s
input = 1x48x48
classes = angry, disgust, fear, happy, sad, surprise, neutral
[conv]
filters = 8
size = 3
stride = 2
pad = 1
[relu]
[maxpool]
size = 2
[conv]
filters = 16
size = 3
pad = 1
[relu]
[gap]
[fc]
outputs = 7
"""


class Failure(Exception):
    """A check that did not hold; the message says which and with what values."""


def check(cond, msg, *args):
    if not cond:
        raise Failure(msg % args if args else msg)


def log(msg, *args):
    sys.stdout.write((msg % args if args else msg) + "\n")
    sys.stdout.flush()


def need_env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit("%s not set (meson sets it; see tests/reliability/meson.build)" % name)
    return v


def now():
    return time.monotonic()


class Scratch:
    """A temporary directory removed at the end (kept with FERD_KEEP=1)."""

    def __init__(self, prefix):
        base = os.environ.get("TMPDIR") or "/tmp"
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=base)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        if os.environ.get("FERD_KEEP"):
            log("kept %s", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def make_model(path, name="small48", seed=7):
    """A random-weight .fermodel of SMALL_ARCH (named name) at path."""
    arch = path + ".arch"
    write_text(arch, SMALL_ARCH % name)
    subprocess.run([need_env("MAKE_MODEL"), arch, path, str(seed)], check=True)
    os.unlink(arch)


def make_clip(path, frames=30):
    """The first frames of samples/demo.avi (a face, 640x480, 15 fps) as a short
    clip at path, through OpenCV's Python binding; without it, the whole demo
    clip (20 s) is copied. Returns the clip's length in seconds."""
    demo = os.path.join(SOURCE_ROOT, "samples", "demo.avi")
    try:
        import cv2  # python3-opencv, in tools/install-deps.sh
    except ImportError:
        shutil.copyfile(demo, path)
        return 20.0
    cap = cv2.VideoCapture(demo)
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    out = None
    n = 0
    while n < frames:
        ok, img = cap.read()
        if not ok:
            break
        if out is None:
            h, w = img.shape[:2]
            out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        out.write(img)
        n += 1
    cap.release()
    out.release()
    return n / fps


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_fd_targets(pid):
    """{fd: what it points to} of a process, for naming a leaked descriptor."""
    out = {}
    base = "/proc/%d/fd" % pid
    for name in os.listdir(base):
        try:
            out[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return out


def proc_threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


_STARTED = []


def _kill_leftovers():
    """No daemon outlives its script, whatever failed on the way."""
    for d in _STARTED:
        d.kill()


atexit.register(_kill_leftovers)


def _exit_on_sigterm(signum, frame):
    # meson ends a test that ran out of time with SIGTERM; exiting through
    # SystemExit runs the atexit handler above, which the default action skips.
    raise SystemExit(128 + signum)


if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _dies_with(parent):
    """A preexec_fn: the child gets SIGKILL when the thread that started it
    ends (ferd_harness.c's rule 1), and gives up if that already happened."""
    def setup():
        if _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(126)
    return setup


def stacks(pid):
    """Every thread's stack of a running process, through gdb (when installed)."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(gdb not installed: no stacks)"
    r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                        "-ex", "thread apply all bt"], capture_output=True, text=True,
                       timeout=120)
    return "\n".join(ln for ln in r.stdout.splitlines()
                     if ln.startswith(("Thread", "#")))


class Daemon:
    """One ferd on a configuration file written from settings (a dict, or
    "key value" lines), in its own scratch directory."""

    def __init__(self, scratch, settings, name="ferd", argv_extra=(), binary=None):
        self.scratch = scratch
        self.name = name
        self.sock = scratch.path(name + ".sock")
        self.conf = scratch.path(name + ".conf")
        self.logpath = scratch.path(name + ".log")
        self.notify_path = scratch.path(name + ".notify")
        self.binary = binary or need_env("FERD_BIN")
        self.argv_extra = list(argv_extra)
        self.proc = None
        self.notify = None
        self.notes = []
        self.settings = {}
        self.write_conf(settings)

    def write_conf(self, settings):
        base = {"socket": self.sock, "log_level": "info", "retry_initial_ms": "100",
                "retry_max_ms": "400"}
        base.update(settings)
        self.settings = base
        lines = []
        for k, v in base.items():
            v = str(v)
            lines.append("%s %s" % (k, '""' if v == "" else v))
        write_text(self.conf, "\n".join(lines) + "\n")

    def start(self, wait_ready=True, timeout=60.0, env_extra=None, preexec=None,
              read_notes=True, env=None, run_as=None):
        """Starts ferd with NOTIFY_SOCKET pointing at a datagram socket that a
        thread reads all the time, as systemd does; with read_notes=False nobody
        reads it (a stuck manager: finding F7), and READY is judged by the socket
        answering STATUS instead. env: the environment to start from (default:
        this process's). run_as=(uid, gid) runs it as that user, with no
        supplementary groups (the caller must be root)."""
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        if run_as is not None:
            os.chmod(self.notify_path, 0o666)
            uid, gid = run_as

            def drop(inner=preexec):
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                if inner:
                    inner()
            preexec = drop
        self.notify.settimeout(0.2)
        self.notes = []
        self._reading = read_notes
        self._reader = threading.Thread(target=self._read_notes, daemon=True)
        if read_notes:
            self._reader.start()
        env = dict(os.environ if env is None else env)
        env["NOTIFY_SOCKET"] = self.notify_path
        for k in ("LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
            env.pop(k, None)
        env.update(env_extra or {})
        self.logf = open(self.logpath, "ab")
        dies_with = _dies_with(os.getpid())

        def setup():
            # preexec first: a change of user clears the parent-death signal.
            if preexec:
                preexec()
            dies_with()
        self.proc = subprocess.Popen([self.binary, "--config", self.conf] + self.argv_extra,
                                     stdout=self.logf, stderr=self.logf, env=env,
                                     stdin=subprocess.DEVNULL, preexec_fn=setup,
                                     start_new_session=True)
        _STARTED.append(self)
        if wait_ready and read_notes:
            self.wait_note("READY=1", timeout)
        elif wait_ready:
            self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout):
        deadline = now() + timeout
        while now() < deadline:
            if self.proc.poll() is not None:
                raise Failure("ferd exited during start-up (status %s); log:\n%s"
                              % (self.proc.returncode, self.log_text()))
            try:
                self.status()
                return
            except (OSError, Failure):
                time.sleep(min(0.1, max(0.0, deadline - now())))
        raise Failure("ferd did not answer STATUS within %.0f s; log:\n%s"
                      % (timeout, self.log_text()))

    @property
    def pid(self):
        return self.proc.pid

    def _read_notes(self):
        while self._reading:
            try:
                data = self.notify.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.notes.extend(data.decode(errors="replace").split("\n"))

    def wait_note(self, note, timeout, start=0):
        """Waits until note is among the notifications from index start on (they
        are all kept, in order); returns its index."""
        deadline = now() + timeout
        while now() < deadline:
            for i in range(start, len(self.notes)):
                if self.notes[i] == note:
                    return i
            if self.proc.poll() is not None:
                raise Failure("ferd exited during start-up (status %s); log:\n%s"
                              % (self.proc.returncode, self.log_text()))
            time.sleep(min(0.05, max(0.0, deadline - now())))
        raise Failure("no %s from ferd within %.0f s; log:\n%s" % (note, timeout, self.log_text()))

    def log_text(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0):
        """SIGTERM; returns the exit status (a negative number for a signal)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                st = stacks(self.proc.pid)
                self.proc.kill()
                self.proc.wait()
                raise Failure("ferd did not stop within %.0f s of SIGTERM; its threads:\n%s\n"
                              "log tail:\n%s" % (timeout, st, self.log_text()[-2000:]))
        rc = self.proc.returncode
        self.logf.close()
        self._close_notify()
        return rc

    def _close_notify(self):
        if self._reading:
            self._reading = False
            self._reader.join(2)
        self.notify.close()

    def kill(self):
        """However a script ends: SIGKILL, reaped, and both sockets removed
        (a killed ferd cannot remove its own)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for path in (self.sock, self.notify_path):
            try:
                if os.path.exists(path):
                    os.unlink(path)
            except OSError:
                pass

    def client(self, timeout=10.0, greet=True):
        return Client(self.sock, timeout, greet)

    def status(self):
        c = self.client()
        try:
            return c.status()
        finally:
            c.close()


class Client:
    """A protocol v1 client on one connection: lines in, JSON objects out."""

    def __init__(self, path, timeout=10.0, greet=True, sock=None):
        """Connects to path, or takes sock, a socket already connected (by a
        process of another user, say: the daemon judges the peer by the
        credentials of the connect)."""
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False
        self.version = self.expect("VERSION", timeout) if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def request(self, obj):
        self.send(json.dumps(obj, separators=(",", ":")) + "\n")

    def line(self, timeout=10.0):
        """The next line as bytes (without the newline), or None at EOF or timeout."""
        deadline = now() + timeout
        while b"\n" not in self.buf:
            left = deadline - now()
            if left <= 0 or self.eof:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def message(self, timeout=10.0):
        line = self.line(timeout)
        return None if line is None else json.loads(line)

    def expect(self, cls, timeout=10.0):
        """The next message of class cls, skipping stream messages (RESULT, FACE)
        met on the way; fails on anything else or after timeout."""
        deadline = now() + timeout
        while True:
            m = self.message(max(0.0, deadline - now()))
            check(m is not None, "no %s within %.1f s (eof=%s)", cls, timeout, self.eof)
            if m.get("class") == cls:
                return m
            check(m.get("class") in ("RESULT", "FACE"),
                  "expected %s, got %s", cls, json.dumps(m)[:300])

    def status(self):
        self.request({"class": "STATUS"})
        return self.expect("STATUS")

    def wait_eof(self, timeout=10.0):
        deadline = now() + timeout
        while not self.eof and now() < deadline:
            self.line(max(0.0, deadline - now()))
        return self.eof

    def abort(self):
        """Gone without a word: an RST, unread data and all."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self):
        self.sock.close()


def wait_for(fn, timeout, interval=0.1):
    """Calls fn until it returns a true value (returned) or timeout passes (None)."""
    t0 = now()
    while True:
        v = fn()
        if v:
            return v
        if now() - t0 > timeout:
            return None
        time.sleep(interval)


def run_checks(checks, argv):
    """Runs the named check functions (all, or those named in argv); prints one
    line each; returns the exit status: 0 all passed, 1 any failed, 77 (meson's
    skip) when every one skipped."""
    names = argv[1:] or [c.__name__ for c in checks]
    failed = skipped = 0
    for c in checks:
        if c.__name__ not in names:
            continue
        t0 = now()
        try:
            r = c()
        except Failure as e:
            failed += 1
            log("FAIL %s (%.1f s): %s", c.__name__, now() - t0, e)
            continue
        if r == "skip":
            skipped += 1
            log("SKIP %s", c.__name__)
        else:
            log("ok   %s (%.1f s)%s", c.__name__, now() - t0, "" if not r else ": " + str(r))
    ran = len(names)
    if failed:
        return 1
    return 77 if skipped == ran else 0


__all__ = ["Failure", "check", "log", "need_env", "now", "Scratch", "write_text", "make_model",
           "make_clip", "proc_rss_kb", "proc_fds", "proc_fd_targets", "proc_threads", "Daemon", "Client",
           "wait_for", "run_checks", "stacks", "SOURCE_ROOT"]
