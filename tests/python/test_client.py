"""ferd.Client and ferd.AsyncClient against the real ferd on the demo clip, with
ferctl of the same build as the oracle, and against scripted fake servers for
what a real ferd never sends (other versions, unknown classes, broken lines)."""

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest

import ferd
from conftest import VERSION_LINE, Ferd, child_env, env, run_c


def ferctl(*args, timeout=60):
    return run_c([env("FERCTL"), *args], timeout=timeout)


# ---- status, snapshot, reload ----

def test_status_is_typed_and_matches_ferctl(daemon):
    with ferd.Client(daemon.sock) as c:
        assert c.version.proto_major == ferd.PROTO_MAJOR
        s = c.status()
    out = ferctl("--socket", daemon.sock, "status", "--json")
    assert out.returncode == 0, out.stderr
    want = json.loads(out.stdout)
    assert s.release == want["release"]
    assert s.pid == want["pid"] == daemon.proc.pid
    assert s.source.name == want["source"]["name"]
    assert s.source.kind == want["source"]["kind"] == "video"
    assert s.source.state == "streaming"
    assert (s.source.width, s.source.height) == (want["source"]["width"],
                                                 want["source"]["height"])
    assert s.model.name == want["model"]["name"]
    assert s.model.classes == want["model"]["classes"]
    assert len(s.model.classes) >= 2
    assert s.model.params == want["model"]["params"]
    text = str(s)
    assert text.startswith(f"ferd {s.release}, pid {s.pid}, up ")
    assert f"source   {s.source.name} (video): streaming" in text
    assert f"{len(s.model.classes)} classes" in text


def test_snapshot_and_its_picture(daemon):
    import numpy as np
    import cv2
    with ferd.Client(daemon.sock) as c:
        r = c.snapshot()
        assert isinstance(r, ferd.Result)
        assert (r.width, r.height) == (640, 480)
        assert r.image is None
        r = c.snapshot(image="jpeg", scores=False)
        assert r.image is not None and r.image.kind == "jpeg"
        assert r.image.data[:2] == b"\xff\xd8"
        pic = cv2.imdecode(np.frombuffer(r.image.data, np.uint8), cv2.IMREAD_COLOR)
        assert pic.shape == (480, 640, 3)
        assert all(f.scores is None for f in r.faces)
        r = c.snapshot(image="annotated")
        assert r.image.kind == "annotated"


def test_reload(daemon):
    with ferd.Client(daemon.sock) as c:
        r = c.reload()
    assert isinstance(r, ferd.Reload)
    assert r.model.name == "default"
    assert r.model.path.endswith("default.fermodel")


# ---- watch ----

def _face_matches(f, j):
    """A typed Face against the JSON object ferctl printed for it."""
    assert f.id == j["id"]
    assert f.box == ferd.Box(j["box"]["x"], j["box"]["y"], j["box"]["w"], j["box"]["h"])
    assert f.label == j["label"] and f.prob == j["prob"]
    assert f.smoothed.label == j["smoothed"]["label"]
    assert f.smoothed.prob == j["smoothed"]["prob"]
    assert f.scores == j["scores"] and list(f.scores) == list(j["scores"])
    assert f.new == j.get("new", False)
    assert f.changed_from == j.get("changed_from")


def test_watch_equals_ferctl_watch_json(daemon):
    n = 40
    proc = subprocess.Popen([env("FERCTL"), "--socket", daemon.sock, "watch", "--json",
                             "--count", str(n), "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    mine = []
    with ferd.Client(daemon.sock) as c:
        w = c.watch(timeout=30)
        assert w.settings.enable and w.settings.max_fps == 0 and w.settings.scores
        for r in w:
            mine.append(r)
            if len(mine) == n:
                break
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["class"] == "VERSION" and lines[1]["class"] == "WATCH"
    theirs = {o["seq"]: o for o in lines[2:] if o["class"] == "RESULT"}
    common = [r for r in mine if r.seq in theirs]
    assert len(common) >= n // 2, (len(common), [r.seq for r in mine], sorted(theirs))
    with_faces = 0
    for r in common:
        j = theirs[r.seq]
        assert isinstance(r, ferd.Result)
        assert r.time == ferd.results.parse_time(j["time"])
        assert (r.width, r.height, r.mono_ns, r.ready_ns) == (j["width"], j["height"],
                                                               j["mono_ns"], j["ready_ns"])
        assert r.timing.total_ms == j["timing"]["total_ms"]
        assert r.ended == j.get("ended", [])
        assert len(r.faces) == len(j["faces"])
        for f, fj in zip(r.faces, j["faces"]):
            _face_matches(f, fj)
        with_faces += bool(r.faces)
    assert with_faces >= len(common) // 2  # the clip shows a face most of the time
    seqs = [r.seq for r in mine]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_watch_options(daemon):
    with ferd.Client(daemon.sock) as c:
        w = c.watch(min_prob=0.99, max_fps=2, scores=False, timeout=30)
        assert w.settings.max_fps == 2 and w.settings.min_prob == 0.99
        assert not w.settings.scores
        for _, r in zip(range(3), w):
            assert all(f.prob >= 0.99 and f.scores is None for f in r.faces)
        c.unwatch()
        # After unwatching, requests work and no stale stream message is left.
        assert c.status().source.state == "streaming"


def test_face_events(daemon):
    with ferd.Client(daemon.sock) as c:
        w = c.watch(events=True, timeout=40)
        assert w.settings.events
        e = next(iter(w))
    assert isinstance(e, ferd.FaceEvent)
    assert e.event and e.id >= 1 and e.seq >= 1  # a newer daemon may add event names
    if e.event in ("appeared", "changed"):
        assert e.label and e.box is not None and 0 <= e.prob <= 1


def test_requests_while_watching_keep_the_stream(daemon):
    with ferd.Client(daemon.sock) as c:
        w = c.watch(timeout=30)
        first = next(w)
        assert c.status().source.state == "streaming"  # results arrive meanwhile: kept
        later = [next(w) for _ in range(5)]
        seqs = [first.seq] + [r.seq for r in later]
        assert seqs == sorted(seqs) and len(set(seqs)) == 6
        assert c.dropped == 0


def test_watch_lines_are_the_daemons(daemon):
    with ferd.Client(daemon.sock) as c:
        w = c.watch(timeout=30)
        line = next(w.lines())
    o = json.loads(line)
    assert o["class"] == "RESULT" and "\n" not in line


# ---- errors ----

def test_not_running(tmpdir_short, monkeypatch):
    path = os.path.join(tmpdir_short, "none.sock")
    with pytest.raises(ferd.NotRunningError) as ei:
        ferd.Client(path)
    msg = str(ei.value)
    assert path in msg and "systemctl start ferd" in msg
    assert isinstance(ei.value, ConnectionError) and ei.value.path == path
    # $FERD_SOCKET is used when no path is given, and named in the error.
    monkeypatch.setenv("FERD_SOCKET", path)
    with pytest.raises(ferd.NotRunningError, match=path):
        ferd.Client()
    # A file that is not a socket: nobody listens there either.
    open(path, "w").close()
    with pytest.raises(ferd.NotRunningError):
        ferd.Client(path)


def test_refused_requests_keep_the_connection(daemon):
    with ferd.Client(daemon.sock) as c:
        with pytest.raises(ferd.RefusedError) as ei:
            c.request({"class": "WATCH", "max_fps": "fast"})
        assert ei.value.code == "bad_field" and ei.value.request == "WATCH"
        assert "max_fps" in str(ei.value)
        with pytest.raises(ferd.RefusedError) as ei:
            c.request({"class": "NO_SUCH_THING"})
        assert ei.value.code == "unknown_request"
        with pytest.raises(ValueError):
            c.watch(max_fps=-1)
        with pytest.raises(ValueError):
            c.watch(min_prob=2)
        with pytest.raises(ValueError):
            c.snapshot(image="png")
        assert c.status().source.state == "streaming"


def test_version_mismatch(fake):
    def script(srv, conn):
        conn.sendall(b'{"class":"VERSION","release":"2.0.0","proto_major":2,"proto_minor":1,'
                     b'"max_request":4096,"max_response":65536}\n')
    s = fake(script)
    with pytest.raises(ferd.VersionMismatchError) as ei:
        ferd.Client(s.path)
    assert ei.value.major == 2 and "protocol 2.1" in str(ei.value) and "1.0" in str(ei.value)


def test_not_ferd_and_refused_greeting(fake):
    s = fake(lambda srv, conn: conn.sendall(b"SSH-2.0-OpenSSH\n"))
    with pytest.raises(ferd.ProtocolError, match="not a ferd greeting"):
        ferd.Client(s.path)
    s = fake(lambda srv, conn: conn.sendall(
        b'{"class":"ERROR","code":"too_many_clients","message":"64 clients already"}\n'))
    with pytest.raises(ferd.RefusedError) as ei:
        ferd.Client(s.path)
    assert ei.value.code == "too_many_clients"
    s = fake(lambda srv, conn: None)  # accepts and hangs up
    with pytest.raises(ferd.ConnectionLostError):
        ferd.Client(s.path)


def test_silent_server_times_out(fake):
    gate = threading.Event()
    s = fake(lambda srv, conn: gate.wait(10))
    with pytest.raises(ferd.FerdTimeoutError):
        ferd.Client(s.path, timeout=0.5)
    gate.set()


EIGHT = {"neutral": 0.5, "happiness": 0.2, "surprise": 0.1, "sadness": 0.05, "anger": 0.05,
         "disgust": 0.04, "fear": 0.03, "contempt": 0.03}
RESULT8 = {"class": "RESULT", "seq": 7, "time": "2026-11-28T10:00:00.500Z", "mono_ns": 5,
           "width": 320, "height": 240, "faces": [
               {"id": 3, "box": {"x": 1, "y": 2, "w": 30, "h": 31}, "label": "neutral",
                "prob": 0.5, "scores": EIGHT, "smoothed": {"label": "neutral", "prob": 0.45},
                "future_key": [1, 2]}],
           "hysteresis": {"held": True}}


def _stream_script(messages):
    """Greets, acknowledges a WATCH, sends messages (bytes lines), says SHUTDOWN, closes."""
    def script(srv, conn):
        conn.sendall(VERSION_LINE)
        req = srv.read_request(conn)
        assert req["class"] == "WATCH"
        conn.sendall(b'{"class":"WATCH","enable":true,"max_fps":0,"min_prob":0,'
                     b'"events":false,"scores":true,"image":"none"}\n')
        for m in messages:
            conn.sendall(m)
        conn.sendall(b'{"class":"SHUTDOWN","message":"ferd is stopping"}\n')
    return script


def test_unknown_classes_and_keys_are_ignored(fake):
    s = fake(_stream_script([b'{"class":"END_OF_STREAM","source":"demo.avi"}\n',
                             json.dumps(RESULT8).encode() + b"\n"]))
    with ferd.Client(s.path) as c:
        assert c.version.proto_minor == 7  # a newer minor version is fine
        got = []
        with pytest.raises(ferd.ConnectionLostError) as ei:
            for r in c.watch(timeout=5):
                got.append(r)
    assert ei.value.shutdown_message == "ferd is stopping"
    assert len(got) == 1
    r = got[0]
    assert r.classes == list(EIGHT)  # eight classes, names from the message
    assert r.faces[0].scores == EIGHT and r.faces[0].smoothed == ferd.Smoothed("neutral", 0.45)
    assert r.raw["hysteresis"] == {"held": True}
    assert s.received[0] == {"class": "WATCH", "enable": True, "max_fps": 0.0,
                             "min_prob": 0.0, "events": False, "scores": True,
                             "image": "none"}
    # messages() shows the unknown class instead of skipping it.
    s2 = fake(_stream_script([b'{"class":"END_OF_STREAM"}\n']))
    with ferd.Client(s2.path) as c:
        m = next(c.watch(timeout=5).messages())
    assert isinstance(m, ferd.Message) and m.cls == "END_OF_STREAM"


def test_broken_lines(fake):
    bad = dict(RESULT8, faces="none")
    s = fake(_stream_script([json.dumps(bad).encode() + b"\n", b"{not json\n",
                             json.dumps(RESULT8).encode() + b"\n"]))
    with ferd.Client(s.path) as c:
        w = c.watch(timeout=5)
        with pytest.raises(ferd.ProtocolError, match='"faces"'):
            next(w)
        with pytest.raises(ferd.ProtocolError, match="not valid JSON"):
            next(w)
        assert next(w).seq == 7  # the connection survived both
    # A line over the announced limit (VERSION_LINE says 65536) ends the session.
    s = fake(_stream_script([b'{"class":"RESULT","pad":"' + b"x" * 70000 + b'"}\n']))
    with ferd.Client(s.path) as c:
        with pytest.raises(ferd.ProtocolError, match="limit"):
            next(c.watch(timeout=5))


def test_held_messages_are_bounded(fake, monkeypatch):
    """Results that arrive while a request waits are held within a byte budget: the
    oldest go, counted; the newest are read afterwards in order."""
    monkeypatch.setattr(ferd._wire, "PENDING_BYTES", 100_000)
    pad = "x" * 20_000

    def script(srv, conn):
        conn.sendall(VERSION_LINE)
        srv.read_request(conn)  # WATCH
        conn.sendall(b'{"class":"WATCH","enable":true}\n')
        srv.read_request(conn)  # STATUS: twenty big results first, then the answer
        for seq in range(1, 21):
            conn.sendall(json.dumps(dict(RESULT8, seq=seq, pad=pad)).encode() + b"\n")
        conn.sendall(b'{"class":"STATUS","release":"9.9.9"}\n')
        conn.sendall(b'{"class":"SHUTDOWN","message":"bye"}\n')
    s = fake(script)
    with ferd.Client(s.path) as c:
        w = c.watch(timeout=5)
        assert c.status().release == "9.9.9"
        assert 10 <= c.dropped < 20
        got = []
        with pytest.raises(ferd.ConnectionLostError):
            for r in w:
                got.append(r.seq)
    assert got == list(range(21 - len(got), 21)) and len(got) == 20 - c.dropped


def test_daemon_stopping_ends_the_watch(tmpdir_short):
    d = Ferd(tmpdir_short).start()
    try:
        with ferd.Client(d.sock) as c:
            w = c.watch(timeout=30)
            next(w)
            d.proc.terminate()
            with pytest.raises(ferd.ConnectionLostError) as ei:
                for _ in w:
                    pass
        assert ei.value.shutdown_message  # ferd said why
    finally:
        d.stop()


# ---- asyncio ----

def test_async_client(daemon, tmpdir_short):
    async def main():
        async with ferd.AsyncClient(daemon.sock) as c:
            s = await c.status()
            assert s.source.state == "streaming"
            got = []
            async for r in c.watch(timeout=30):
                got.append(r)
                if len(got) == 5:
                    break
            # A request while subscribed: answered, and the stream goes on; also from
            # another task while one iterates.
            assert (await c.snapshot()).width == 640

            async def five():
                out = []
                async for x in c.watch(timeout=30):
                    out.append(x.seq)
                    if len(out) == 5:
                        return out
            seqs, st = await asyncio.gather(five(), c.status())
            assert st.source.state == "streaming" and seqs == sorted(seqs)
            w = await c.watch(scores=False, timeout=30)
            assert not w.settings.scores
            r = await w.__anext__()
            await c.unwatch()
            with pytest.raises(ferd.RefusedError) as ei:
                await c.request({"class": "WATCH", "min_prob": 5})
            assert ei.value.code == "bad_field"
        with pytest.raises(ferd.NotRunningError, match="systemctl start ferd"):
            await ferd.AsyncClient.connect(os.path.join(tmpdir_short, "x.sock"))
        return got, r
    got, r = asyncio.run(main())
    assert [type(x) for x in got] == [ferd.Result] * 5
    seqs = [x.seq for x in got]
    assert seqs == sorted(seqs)
    assert all(f.scores is None for f in r.faces)


def test_async_unknown_classes_and_shutdown(fake):
    s = fake(_stream_script([b'{"class":"END_OF_STREAM"}\n',
                             json.dumps(RESULT8).encode() + b"\n"]))

    async def main():
        c = await ferd.AsyncClient.connect(s.path)
        got = []
        try:
            async for r in c.watch(timeout=5):
                got.append(r)
        except ferd.ConnectionLostError as e:
            assert e.shutdown_message == "ferd is stopping"
        else:
            raise AssertionError("no ConnectionLostError")
        finally:
            await c.close()
        return got
    got = asyncio.run(main())
    assert [r.seq for r in got] == [7]


def test_exact_interface_line(daemon):
    """The issue's check: python -c "import ferd; print(ferd.Client('PATH').status())"."""
    out = subprocess.run([sys.executable, "-c",
                          f"import ferd; print(ferd.Client({daemon.sock!r}).status())"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ferd ") and "streaming" in out.stdout

