"""Fixtures of the Python package's tests (suite `python`, run by run.py).

The real parts: the ferd binary of this build on a temporary socket playing
samples/demo.avi in real time with the shipped model; ferctl and fer of the
same build as the oracles; libferclassify of the same build. Paths come from
the environment meson sets (tests/python/meson.build via run.py). Every ferd
started here dies with the test process (PR_SET_PDEATHSIG) and is stopped at
the end of the session however the tests went.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import ferd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
import ferdtest  # noqa: E402  (the project's ferd harness)


def env(name):
    v = os.environ.get(name)
    if not v:
        pytest.exit(f"{name} is not set (tests/python/run.py sets it)", returncode=2)
    return v


SOURCE = os.environ.get("FER_SOURCE_ROOT",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
MODEL = os.path.join(SOURCE, "models", "default.fermodel")
FACE = os.path.join(SOURCE, "tests", "fixtures", "face.png")
DEMO = os.path.join(SOURCE, "samples", "demo.avi")


def child_env(extra=None):
    """The environment for the C programs a test starts: in a sanitizer build,
    without the interpreter's preloaded runtime and with leak checks back on."""
    e = dict(os.environ)
    if "FER_CHILD_ASAN_OPTIONS" in e:
        e["ASAN_OPTIONS"] = e.pop("FER_CHILD_ASAN_OPTIONS")
        e["LD_PRELOAD"] = e.pop("FER_CHILD_LD_PRELOAD", "")
        if not e["LD_PRELOAD"]:
            del e["LD_PRELOAD"]
    e.update(extra or {})
    return e


def run_c(argv, **kw):
    """subprocess.run of one of the build's C programs, output captured as text."""
    return subprocess.run(argv, capture_output=True, text=True, env=child_env(), **kw)


def wait_until(cond, timeout, what):
    """Polls cond() until it returns a true value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (ferd.FerdError, OSError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s (last error: {last})")


class _Dir:
    """An existing directory as ferdtest's Daemon wants its scratch."""

    def __init__(self, path):
        self.dir = path

    def path(self, name):
        return os.path.join(self.dir, name)


class Ferd:
    """One ferd on a temporary socket, playing `source` in real time with the shipped model and
    pictures allowed: a thin wrapper over the project's ferd harness (Daemon of
    tests/reliability/ferdtest.py, the rules of tests/ferd_harness.h): it dies with the test
    process, READY=1 is waited for with a deadline, and however the session ends it is killed
    and its socket removed. extra: more command-line arguments."""

    def __init__(self, tmp, source=DEMO, extra=()):
        self.dir = tmp
        self._d = ferdtest.Daemon(_Dir(tmp), {"source": source, "model": MODEL,
                                              "allow_images": "yes", "loop": "yes",
                                              "realtime": "yes"},
                                  argv_extra=extra, binary=env("FERD_BIN"))
        self.sock = self._d.sock
        self.log = self._d.logpath

    @property
    def proc(self):
        return self._d.proc

    def start(self):
        self._d.start(timeout=90, env=child_env())

        def streaming():
            if self.proc.poll() is not None:
                raise AssertionError(f"ferd exited with {self.proc.returncode}: {self.text()}")
            with ferd.Client(self.sock, timeout=5) as c:
                return c.status().source.state == "streaming"
        wait_until(streaming, 90, "ferd streaming the demo clip")
        return self

    def text(self):
        return self._d.log_text()[-3000:]

    def stop(self):
        if self.proc is None:
            return None
        return self._d.stop(timeout=30)


@pytest.fixture(scope="session")
def scratch():
    d = tempfile.mkdtemp(prefix="ferd-py-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon(scratch):
    d = Ferd(scratch)
    d.start()
    yield d
    d.stop()


@pytest.fixture()
def tmpdir_short():
    """A short temporary directory (Unix socket paths are limited to 107 bytes)."""
    d = tempfile.mkdtemp(prefix="fpy-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class FakeServer:
    """A Unix socket server that plays a script, to test what real ferd never sends:
    other protocol versions, unknown classes, broken lines. script(conn) runs in a
    thread per connection."""

    def __init__(self, path, script):
        self.path = path
        self.script = script
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.received = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            try:
                self.script(self, conn)
            except OSError:
                pass
            finally:
                conn.close()

    def read_request(self, conn, timeout=5):
        conn.settimeout(timeout)
        buf = b""
        while b"\n" not in buf:
            data = conn.recv(4096)
            if not data:
                return None
            buf += data
        o = json.loads(buf.split(b"\n", 1)[0])
        self.received.append(o)
        return o

    def close(self):
        self.srv.close()


VERSION_LINE = (b'{"class":"VERSION","release":"9.9.9","proto_major":1,"proto_minor":7,'
                b'"max_request":4096,"max_response":65536}\n')


@pytest.fixture()
def fake(tmpdir_short):
    servers = []

    def make(script):
        s = FakeServer(os.path.join(tmpdir_short, f"fake{len(servers)}.sock"), script)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()
