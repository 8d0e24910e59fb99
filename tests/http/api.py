#!/usr/bin/python3
"""api.py — every ferd-http endpoint with curl, against the real ferd on the
demo clip: status codes, types and bodies; the SSE stream decoded with the
project's own decoder (tests/http/sse_decode.c over fer_message_parse);
/metrics through `promtool check metrics`; bad requests; access rules
(Host, authentication, refused pictures); limits; ferd going away and
coming back; and a stop on SIGTERM with streams open.

Each check names what it expected and what it got. Standard library, curl,
promtool (Debian's prometheus) and OpenCV's Python binding (to decode JPEGs).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import httptest
from httptest import Failure, check, curl, log, metric, now, start_http

SSE_DECODE = os.environ.get("SSE_DECODE", "")


def jpeg_size(data):
    import cv2
    import numpy as np
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    check(img is not None, "the body (%d bytes) is not a JPEG OpenCV can decode", len(data))
    return img.shape[1], img.shape[0]


def decode_sse(url, seconds, count=None):
    """curl the stream for at most `seconds`, decoded by sse_decode: a list of
    its JSON lines and whether every message decoded."""
    c = subprocess.Popen(["curl", "-sS", "-N", "--max-time", "%g" % seconds, url],
                         stdout=subprocess.PIPE)
    args = [SSE_DECODE] + (["--count", str(count)] if count else [])
    d = subprocess.run(args, stdin=c.stdout, capture_output=True, timeout=seconds + 20)
    c.stdout.close()
    c.kill()
    c.wait()
    events = [json.loads(line) for line in d.stdout.decode().splitlines() if line.strip()]
    return events, d.returncode


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    check(r.returncode == 0, "promtool check metrics failed (%d): %s%s", r.returncode,
          r.stdout.decode(), r.stderr.decode())


def wait_status(h, pred, what, timeout=30.0):
    deadline, last = now() + timeout, None
    while now() < deadline:
        r = curl(h.url("/api/status"))
        if r.code == 200:
            last = json.loads(r.body)
            if pred(last):
                return last
        time.sleep(0.2)
    raise Failure("%s: not within %.0f s; last STATUS %s" % (what, timeout, json.dumps(last)[:400]))


def test_page_and_assets(h):
    r = curl(h.url("/"))
    check(r.code == 200, "/ answered %d", r.code)
    check(r.header("content-type") == "text/html; charset=utf-8", "/ type %s", r.header("content-type"))
    check(b'<canvas id="picture"' in r.body and b"/app.js" in r.body, "/ is not the page")
    csp = r.header("content-security-policy") or ""
    check("default-src 'none'" in csp and "script-src 'self'" in csp, "/ CSP %r", csp)
    check(r.header("x-content-type-options") == "nosniff", "no nosniff on /")
    etag = r.header("etag")
    check(etag and etag.startswith('"'), "/ has no ETag")
    r2 = curl(h.url("/"), "-H", "If-None-Match: " + etag)
    check(r2.code == 304 and not r2.body, "If-None-Match gave %d with %d bytes", r2.code, len(r2.body))
    for path, ctype, needle in (("/app.js", "text/javascript", b"EventSource"),
                                ("/style.css", "text/css", b"#stage"),
                                ("/favicon.svg", "image/svg+xml", b"<svg")):
        r = curl(h.url(path))
        check(r.code == 200 and (r.header("content-type") or "").startswith(ctype) and needle in r.body,
              "%s: %d %s", path, r.code, r.header("content-type"))
    # The page asks for nothing outside ferd-http: no http(s):// URL in its files.
    for path in ("/", "/app.js", "/style.css"):
        body = curl(h.url(path)).text()
        ext = re.findall(r"(?:src|href)=\"(?:https?:)?//", body) + re.findall(r"url\((?:https?:)?//", body)
        check(not ext, "%s loads something from another host: %s", path, ext)
    full = len(curl(h.url("/")).body)
    r = curl(h.url("/"), "-I")
    check(r.code == 200 and r.header("content-length") == str(full) and b"<canvas" not in r.body,
          "HEAD / gave %d, length %s (page %d bytes)", r.code, r.header("content-length"), full)
    log("page: /, /app.js, /style.css, /favicon.svg served with types, CSP, ETag/304, HEAD")


def test_info_status(h, d):
    r = curl(h.url("/api/info"))
    check(r.code == 200 and r.header("content-type") == "application/json", "/api/info %d", r.code)
    info = json.loads(r.body)
    check(info["loopback"] is True and info["auth"] is False, "/api/info access %s", info)
    check(h.base.endswith(info["listen"]), "/api/info listen %s vs %s", info["listen"], h.base)
    st = wait_status(h, lambda s: s["source"]["state"] == "streaming", "ferd streaming")
    check(st["class"] == "STATUS" and st["pid"] == d.pid, "STATUS pid %s, ferd is %d", st.get("pid"), d.pid)
    r = curl(h.url("/api/status"))
    check(r.header("content-type") == "application/json" and r.header("cache-control") == "no-store",
          "/api/status headers %s", r.headers)
    log("info and status: STATUS of ferd pid %d, source %s", d.pid, st["source"]["state"])


def test_snapshot(h):
    for q in ("", "?annotated=0", "?annotated=1"):
        r = curl(h.url("/api/snapshot.jpg" + q))
        check(r.code == 200 and r.header("content-type") == "image/jpeg",
              "snapshot%s: %d %s %s", q, r.code, r.header("content-type"), r.text()[:200])
        w, hh = jpeg_size(r.body)
        check((w, hh) == (640, 480), "snapshot%s is %dx%d", q, w, hh)
    r = curl(h.url("/api/snapshot.jpg?annotated=maybe"))
    check(r.code == 400 and "annotated" in r.text(), "annotated=maybe: %d %s", r.code, r.text())
    log("snapshot: plain and annotated 640x480 JPEGs; a bad parameter is 400")


def test_events(h):
    # Counts, not time windows: under a sanitizer on a loaded machine ferd is slow.
    ev, rc = decode_sse(h.url("/api/events?max_fps=5"), 60, count=6)
    check(rc == 0, "sse_decode failed: %s", [e for e in ev if "error" in e][:3])
    msgs = [e for e in ev if e["event"] == "message"]
    check(msgs and msgs[0]["class"] == "WATCH" and msgs[0]["max_fps"] == 5,
          "the stream does not start with the WATCH acknowledgement: %s", msgs[:1])
    results = [e for e in msgs if e["class"] == "RESULT"]
    check(len(results) >= 5, "%d RESULTs within 60 s at max_fps 5", len(results))
    check(all(e["has_scores"] for e in results if e["faces"]), "RESULTs without scores by default")
    gws = [e for e in ev if e["event"] == "gateway"]
    check(gws and json.loads(gws[0]["data"]) == {"ferd": "connected"}, "gateway events %s", gws)
    seqs = [e["seq"] for e in results]
    check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "RESULT seqs not increasing: %s", seqs)

    ev, rc = decode_sse(h.url("/api/events?scores=0&image=jpeg&max_fps=3"), 60, count=8)
    check(rc == 0, "sse_decode failed on pictures")
    pics = [e for e in ev if e.get("image") == "jpeg"]
    check(len(pics) >= 3 and all(e["jpeg_ok"] for e in pics), "%d pictures, %s", len(pics),
          [e.get("jpeg_ok") for e in pics])
    check(not any(e.get("has_scores") for e in ev if e.get("class") == "RESULT"), "scores=0 ignored")

    # Face events: the clip makes faces appear and leave; wait for one.
    ev, rc = decode_sse(h.url("/api/events?events=1"), 25, count=3)
    check(rc == 0, "sse_decode failed on events")
    msgs = [e for e in ev if e["event"] == "message"]
    check(msgs and msgs[0]["class"] == "WATCH" and msgs[0]["events"], "events=1 ack %s", msgs[:1])
    faces = [e for e in msgs if e["class"] == "FACE"]
    check(faces, "no FACE event within 25 s: %s", msgs)
    check(not any(e["class"] == "RESULT" for e in msgs), "RESULTs in an events=1 stream")
    log("events: WATCH first, RESULTs (scores, pictures decoded as JPEG), FACE events (%s), "
        "all decoded by fer_message_parse", ", ".join(e["event_kind"] for e in faces))


def read_mjpeg(url, parts, timeout):
    """Reads an MJPEG stream until `parts` complete parts arrived (or timeout):
    the status, the Content-Type and the parts' (headers, body) pairs."""
    import socket
    host, rest = url.split("//", 1)[1].split("/", 1)
    h, port = host.rsplit(":", 1)
    s = socket.create_connection((h, int(port)), 10)
    s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (rest, host)).encode())
    buf, deadline = b"", now() + timeout
    s.settimeout(1.0)
    while now() < deadline and buf.count(b"--ferdframe\r\n") <= parts:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    code = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    ctype = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("content-type:")), "")
    out = []
    for p in body.split(b"--ferdframe\r\n")[1:-1]:  # the last may be incomplete
        ph, _, pb = p.partition(b"\r\n\r\n")
        out.append((ph, pb))
    return code, ctype, out


def test_mjpeg(h):
    code, ctype, parts = read_mjpeg(h.url("/api/stream.mjpg?max_fps=5"), 3, 60)
    check(code == 200, "mjpeg: %d", code)
    check(ctype.startswith("multipart/x-mixed-replace") and "boundary=ferdframe" in ctype,
          "mjpeg type %s", ctype)
    check(len(parts) >= 3, "%d MJPEG parts within 60 s", len(parts))
    for head, body in parts:
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        check(len(body) == n + 2 and body.endswith(b"\r\n"), "part of %d bytes, length says %d",
              len(body), n)
        check(jpeg_size(body[:n]) == (640, 480), "an MJPEG part is not a 640x480 JPEG")
    log("mjpeg: %d parts, each a 640x480 JPEG with its Content-Length", len(parts))


def test_metrics(h):
    r = curl(h.url("/metrics"))
    check(r.code == 200 and r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          "/metrics %d %s", r.code, r.header("content-type"))
    promtool(r.text())
    t1 = r.text()
    deadline = now() + 20
    while now() < deadline:
        time.sleep(1.0)
        t2 = curl(h.url("/metrics")).text()
        if metric(t2, "ferd_frames_processed_total") > metric(t1, "ferd_frames_processed_total") \
                and "ferd_faces_observed_total{" in t2:
            break
    promtool(t2)
    check(metric(t2, "ferd_up") == 1, "ferd_up is not 1")
    check(metric(t2, "ferd_frames_processed_total") > metric(t1, "ferd_frames_processed_total"),
          "frames processed did not grow between scrapes")
    check(metric(t2, "ferd_source_state", 'state="streaming"') == 1, "source state not streaming")
    check(metric(t2, "ferd_pipeline_seconds_count") > 0, "no pipeline histogram samples")
    check(metric(t2, "ferd_fanout_seconds_bucket", 'le="+Inf"') == metric(t2, "ferd_fanout_seconds_count"),
          "fan-out histogram +Inf bucket differs from its count")
    labels = re.findall(r'ferd_faces_observed_total\{label="(\w+)"\} (\d+)', t2)
    check(labels and sum(int(n) for _, n in labels) > 0, "no faces counted per label")
    check(re.search(r'ferd_model_info\{name="default"', t2), "no ferd_model_info")
    log("metrics: promtool passes; frames %d -> %d; faces by label %s",
        metric(t1, "ferd_frames_processed_total"), metric(t2, "ferd_frames_processed_total"),
        dict(labels))


def test_bad_requests(h):
    cases = [
        (["-X", "POST", "-d", "x=1"], "/", 405, "not allowed"),
        (["-X", "DELETE"], "/api/status", 405, "not allowed"),
        ([], "/nope", 404, "no such page"),
        ([], "/api/status?x=1", 400, 'unknown query parameter "x"'),
        ([], "/metrics?debug", 400, 'unknown query parameter "debug"'),
        ([], "/api/events?max_fps=abc", 400, "max_fps"),
        ([], "/api/events?max_fps=1e9", 400, "max_fps"),
        ([], "/api/events?min_prob=2", 400, "min_prob"),
        ([], "/api/events?image=png", 400, "image"),
        ([], "/api/events?events=1&image=jpeg", 400, "no picture"),
        ([], "/api/events?scores=1&scores=0", 400, "twice"),
        ([], "/api/stream.mjpg?max_fps=0", 400, "max_fps"),
        ([], "/?view=mjpeg&x=1", 400, '"x"'),
        (["--path-as-is"], "/../../etc/passwd", 404, "no such page"),
        (["--path-as-is"], "/%2e%2e/%2e%2e/etc/passwd", 404, "no such page"),
        ([], "/app.js/../../../etc/passwd", 404, "no such page"),
        (["-H", "Host: evil.example"], "/api/status", 403, "not a name of this machine"),
        (["-H", "Content-Length: 5", "--data-binary", "hello", "-X", "GET"], "/", 400, "no body"),
    ]
    for args, path, code, needle in cases:
        r = curl(h.url(path), *args)
        check(r.code == code and needle in r.text(), "%s %s: want %d with %r, got %d %r",
              " ".join(args), path, code, needle, r.code, r.text()[:200])
        check("root:" not in r.text(), "%s leaked a file", path)
        if code == 405:
            check(r.header("allow") == "GET, HEAD", "405 without Allow")
    # A header block larger than the connection's memory: refused by libmicrohttpd.
    r = curl(h.url("/"), "-H", "X-Big: " + "a" * 100000)
    check(400 <= r.code < 500, "a 100 kB header gave %d", r.code)
    # Names that are this machine are fine, whatever the port (ssh -L).
    for host in ("localhost:9000", "127.0.0.1", "[::1]:1"):
        r = curl(h.url("/api/info"), "-H", "Host: " + host)
        check(r.code == 200, "Host %s refused (%d)", host, r.code)
    log("bad requests: %d cases answered 4xx with a message; no file served", len(cases) + 1)


def test_rate_and_stream_limits(scratch, d):
    h = start_http(scratch, d, "--set", "requests_per_second=1", "--set", "request_burst=3",
                   "--set", "max_streams=2", name="limits")
    try:
        codes = [curl(h.url("/api/info")).code for _ in range(6)]
        check(codes[:3] == [200, 200, 200] and 429 in codes[3:], "rate limit codes %s", codes)
        r = curl(h.url("/api/info"))
        check(r.code == 429 and r.header("retry-after"), "429 without Retry-After: %s", r.headers)
        time.sleep(3.2)  # the bucket refills at 1 per second
        readers = [httptest.SseReader(h.base, "/api/events?max_fps=2") for _ in range(2)]
        deadline = now() + 15
        while now() < deadline and not all(x.count("WATCH") for x in readers):
            time.sleep(0.1)
        check(all(x.status == 200 for x in readers), "two streams: %s", [x.status for x in readers])
        r = curl(h.url("/api/events?max_fps=2"))
        check(r.code == 503 and "max_streams 2" in r.text(), "a third stream: %d %s", r.code, r.text())
        for x in readers:
            x.close()
        log("limits: request burst 3 then 429 with Retry-After; a third stream over max_streams 2 is 503")
    finally:
        check(h.stop() == 0, "ferd-http (limits) did not exit 0")


def test_auth(scratch, d):
    # No secret on a network address: refuses to start.
    r = subprocess.run([os.environ["FERD_HTTP_BIN"], "--socket", d.sock, "--listen", "0.0.0.0:0"],
                       capture_output=True, timeout=30)
    check(r.returncode == 1 and b"auth_file" in r.stderr, "0.0.0.0 without a secret: %d %s",
          r.returncode, r.stderr)
    secret = "s3cret-" + os.urandom(12).hex()
    path = scratch.path("secret")
    with open(path, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o644)
    r = subprocess.run([os.environ["FERD_HTTP_BIN"], "--socket", d.sock, "--listen", "0.0.0.0:0",
                        "--auth-file", path], capture_output=True, timeout=30)
    check(r.returncode == 1 and b"chmod" in r.stderr, "a world-readable secret: %d %s",
          r.returncode, r.stderr)
    os.chmod(path, 0o600)
    h = start_http(scratch, d, "--auth-file", path, name="auth", listen="0.0.0.0:0")
    try:
        base = h.base.replace("0.0.0.0", "127.0.0.1")
        r = curl(base + "/")
        check(r.code == 401 and "Basic" in (r.header("www-authenticate") or "") and "secret" in r.text(),
              "no credentials: %d %s", r.code, r.headers)
        check(secret not in r.text(), "the 401 page shows the secret")
        for args, code in ((["-H", "Authorization: Bearer " + secret], 200),
                           (["-u", "anyone:" + secret], 200),
                           (["-H", "Authorization: Bearer " + secret[:-1]], 401),
                           (["-H", "Authorization: Bearer " + secret + "x"], 401),
                           (["-u", "anyone:wrong"], 401)):
            r = curl(base + "/api/info", *args)
            check(r.code == code, "%s: want %d, got %d", args[:1], code, r.code)
        info = json.loads(curl(base + "/api/info", "-u", "x:" + secret).body)
        check(info["auth"] is True and info["loopback"] is False, "info %s", info)
        check(secret not in h.log_text(), "the secret appears in the log")
        # Any Host is fine beyond loopback: the secret guards it.
        r = curl(base + "/api/info", "-u", "x:" + secret, "-H", "Host: camera.example")
        check(r.code == 200, "Host on a network address: %d", r.code)
        log("auth: 0.0.0.0 needs a secret; a readable secret file is refused; 401 without it; "
            "bearer and basic accepted; wrong ones refused; never logged")
    finally:
        check(h.stop() == 0, "ferd-http (auth) did not exit 0")


def test_pictures_refused(scratch):
    d2 = httptest.demo_ferd(scratch, name="noimg", allow_images="no")
    h = start_http(scratch, d2, name="noimg-http")
    try:
        r = curl(h.url("/api/snapshot.jpg"))
        check(r.code == 403 and "forbidden" in r.text(), "snapshot when ferd refuses: %d %s",
              r.code, r.text())
        r = curl(h.url("/api/events?image=jpeg"))
        check(r.code == 403 and "forbidden" in r.text(), "image stream when refused: %d %s",
              r.code, r.text())
        r = curl(h.url("/api/stream.mjpg"))
        check(r.code == 403, "mjpeg when refused: %d", r.code)
        ev, rc = decode_sse(h.url("/api/events?max_fps=5"), 60, count=2)
        check(rc == 0 and any(e.get("class") == "RESULT" for e in ev), "events without pictures: %s", ev[:3])
        log("refused pictures: 403 with ferd's reason for snapshots and picture streams; "
            "results still stream")
    finally:
        check(h.stop() == 0, "ferd-http (noimg) did not exit 0")
        d2.stop()


def test_ferd_away_and_back(scratch):
    d3 = httptest.demo_ferd(scratch, name="restart")
    h = start_http(scratch, d3, name="restart-http")
    try:
        reader = httptest.SseReader(h.base, "/api/events?max_fps=5")
        deadline = now() + 20
        while now() < deadline and reader.count("RESULT") < 3:
            time.sleep(0.1)
        check(reader.count("RESULT") >= 3, "no RESULTs before the restart")
        d3.stop()
        r = curl(h.url("/api/status"))
        check(r.code == 503 and "ferd" in r.text(), "/api/status with ferd gone: %d %s", r.code, r.text())
        m = curl(h.url("/metrics"))
        check(m.code == 200 and metric(m.text(), "ferd_up") == 0, "/metrics with ferd gone: %d", m.code)
        promtool(m.text())
        deadline = now() + 10
        while now() < deadline and not any('"disconnected"' in t for _, t in reader.named):
            time.sleep(0.1)
        check(any('"disconnected"' in t for _, t in reader.named), "no disconnected notice: %s", reader.named)
        before = reader.count("RESULT")
        d3.start()
        deadline = now() + 30
        while now() < deadline and reader.count("RESULT") < before + 3:
            time.sleep(0.1)
        check(reader.count("RESULT") >= before + 3, "RESULTs did not resume after ferd came back")
        check(not reader.closed, "the stream was closed across the restart")
        check(reader.named[-1][1] == '{"ferd":"connected"}' or
              any('"connected"' in t for _, t in reader.named[-3:]), "no connected notice")
        log("restart: the stream stayed open, said disconnected, then connected, and RESULTs "
            "resumed; /api/status 503 and ferd_up 0 meanwhile")
        reader.close()
    finally:
        check(h.stop() == 0, "ferd-http (restart) did not exit 0")
        d3.stop()


def test_no_ferd(scratch):
    h = start_http(scratch, scratch.path("nobody.sock"), name="noferd")
    try:
        r = curl(h.url("/api/status"))
        check(r.code == 503 and "cannot reach ferd" in r.text(), "no ferd: %d %s", r.code, r.text())
        r = curl(h.url("/api/events"))
        check(r.code == 503 and "cannot reach ferd" in r.text(), "no ferd, events: %d %s", r.code, r.text())
        r = curl(h.url("/api/snapshot.jpg"))
        check(r.code == 503, "no ferd, snapshot: %d", r.code)
        m = curl(h.url("/metrics"))
        check(metric(m.text(), "ferd_up") == 0, "ferd_up with no ferd")
        promtool(m.text())
        check(curl(h.url("/")).code == 200, "the page needs no ferd")
        log("no ferd: 503 naming the cause; /metrics says ferd_up 0; the page still loads")
    finally:
        check(h.stop() == 0, "ferd-http (noferd) did not exit 0")


# What the stand-ins below send: a WATCH acknowledged with the defaults, and a
# RESULT with no face (% seq).
WATCH_ACK = (b'{"class":"WATCH","enable":true,"max_fps":0,"min_prob":0,"events":false,'
             b'"scores":true,"image":"none"}')
EMPTY_RESULT = (b'{"class":"RESULT","seq":%d,"time":"2026-01-01T00:00:00.000Z","mono_ns":1,'
                b'"width":640,"height":480,"timing":{"detect_ms":1,"classify_ms":1,"total_ms":2},'
                b'"faces":[],"ready_ns":2}')


class FakeFerd(httptest.StandInFerd):
    """A ferd stand-in that acknowledges a WATCH and then sends the lines it is
    given: what a newer (or broken) ferd could send."""

    def __init__(self, path, lines):
        self.lines = lines
        super().__init__(path)

    def on_line(self, c, line):
        if b'"WATCH"' not in line:
            return False  # other requests (STATUS for /metrics) are not answered
        c.sendall(WATCH_ACK + b"\n")
        for out in self.lines:
            c.sendall(out + b"\n")
            time.sleep(0.05)
        # The subscription stays open until the test ends (closing it would
        # make ferd-http subscribe again and be sent the lines twice).
        return True


def test_unknown_and_broken_lines(scratch):
    lines = [EMPTY_RESULT % 1,
             b'{"class":"FUTURE","news":{"deep":[1,2,3]}}',   # a class a newer ferd adds
             b'{"class":"RESULT","seq":"not a number"}',     # does not decode
             b'not json at all',
             EMPTY_RESULT % 2]
    sock = scratch.path("fake.sock")
    fake = FakeFerd(sock, lines)
    h = start_http(scratch, sock, "--set", "metrics_watch=no", name="fake-http")
    try:
        ev, rc = decode_sse(h.url("/api/events"), 30, count=4)
        classes = [e.get("class") for e in ev if e["event"] == "message"]
        check(classes == ["WATCH", "RESULT", "FUTURE", "RESULT"], "forwarded %s", classes)
        check(rc == 0, "the forwarded stream did not decode: %s", ev)
        m = curl(h.url("/metrics")).text()
        check(metric(m, "ferd_http_undecodable_lines_total") == 2,
              "undecodable lines counted %s", metric(m, "ferd_http_undecodable_lines_total"))
        log("unknown classes: forwarded to SSE as they came (the protocol's clients ignore them); "
            "2 undecodable lines skipped and counted; the stream went on")
    finally:
        check(h.stop() == 0, "ferd-http (fake) did not exit 0")
        fake.close()


class RateLimitingFerd(httptest.StandInFerd):
    """A ferd stand-in whose per-user request budget is spent when ferd-http
    first subscribes (another program of the same user flooded it): the first
    WATCH is answered ERROR rate_limit, as ferd answers it, and later ones are
    acknowledged and sent a RESULT every 0.1 s."""

    def __init__(self, path):
        self.watches = 0
        super().__init__(path)

    def on_line(self, c, line):
        if b'"WATCH"' not in line:
            return False
        self.watches += 1
        if self.watches == 1:
            c.sendall(b'{"class":"ERROR","code":"rate_limit","message":"more than 40 requests '
                      b'per second from uid 1000 over all its connections (burst 80); request '
                      b'ignored","request":"WATCH"}\n')
            return True
        c.sendall(WATCH_ACK + b"\n")
        for seq in range(1, 600):
            c.sendall(EMPTY_RESULT % seq + b"\n")
            time.sleep(0.1)
        return True


def test_watch_rate_limited(scratch):
    """A WATCH refused for its rate is a passing state, not a refusal: the
    metrics subscription tries again (with back-off) rather than giving up."""
    sock = scratch.path("ratelimited.sock")
    fake = RateLimitingFerd(sock)
    h = start_http(scratch, sock, name="ratelimited-http")
    try:
        deadline = now() + 20
        seen = None
        while now() < deadline:
            seen = metric(curl(h.url("/metrics")).text(), "ferd_results_observed_total")
            if seen:
                break
            time.sleep(0.2)
        check(seen and fake.watches >= 2,
              "after a WATCH refused with rate_limit, %s results observed, %d WATCHes sent; "
              "log: %s", seen, fake.watches, h.log_text()[-400:])
        check("rate_limit" in h.log_text(), "the refusal is not logged: %s", h.log_text()[-400:])
        log("a WATCH refused for its rate (the user's budget spent): subscribed again after "
            "back-off (%d WATCHes); %.0f results counted", fake.watches, seen)
    finally:
        check(h.stop() == 0, "ferd-http (rate-limited) did not exit 0")
        fake.close()


def test_stop_with_streams(scratch, d):
    h = start_http(scratch, d, name="stop")
    readers = [httptest.SseReader(h.base, "/api/events?max_fps=5"),
               httptest.SseReader(h.base, "/api/stream.mjpg?max_fps=5")]
    deadline = now() + 20
    while now() < deadline and not (readers[0].count("RESULT") and readers[1].bytes > 10000):
        time.sleep(0.1)
    waiting = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                h.url("/api/snapshot.jpg?annotated=1")], stdout=subprocess.PIPE)
    h.proc.send_signal(signal.SIGHUP)
    deadline = now() + 10
    while now() < deadline and "SIGHUP ignored" not in h.log_text():
        time.sleep(0.05)
    check("SIGHUP ignored" in h.log_text() and h.proc.poll() is None, "SIGHUP: %s", h.log_text()[-300:])
    t0 = now()
    rc = h.stop()
    took = now() - t0
    check(rc == 0 and took < 10, "SIGTERM with streams open: exit %s after %.1f s", rc, took)
    waiting.wait(10)
    deadline = now() + 5
    while now() < deadline and not all(x.closed for x in readers):
        time.sleep(0.1)
    check(all(x.closed for x in readers), "streams not closed at stop")
    log("stop: SIGHUP is ignored (logged); SIGTERM with 2 streams open exits 0 in %.2f s and "
        "closes them", took)


def main():
    for tool in ("curl", "promtool"):
        if not shutil.which(tool):
            log("%s is not installed (tools/install-deps.sh installs it)", tool)
            return 1
    return httptest.run_main("ferd-http-api-", checks)


def checks(run):
    scratch = run.scratch
    run.d = d = httptest.demo_ferd(scratch)
    run.h = h = start_http(scratch, d)
    test_page_and_assets(h)
    test_info_status(h, d)
    test_snapshot(h)
    test_events(h)
    test_mjpeg(h)
    test_metrics(h)
    test_bad_requests(h)
    check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    run.h = None
    test_rate_and_stream_limits(scratch, d)
    test_auth(scratch, d)
    test_stop_with_streams(scratch, d)
    test_no_ferd(scratch)
    test_unknown_and_broken_lines(scratch)
    test_watch_rate_limited(scratch)
    test_pictures_refused(scratch)
    test_ferd_away_and_back(scratch)
    log("api: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
