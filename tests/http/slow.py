#!/usr/bin/python3
"""slow.py — a slow browser never slows ferd or the other browsers.

Against the real ferd on the demo clip (pictures at the clip's 15 fps), three
viewers read the picture stream (/api/events?image=jpeg, one frame in every
RESULT that carries a picture) as fast as it comes, while two others misbehave
on the same shared subscription:
  - a stalled one sends its request and never reads (a small receive buffer);
  - a slow one reads 16 kB every 0.2 s (about 80 kB/s, a fraction of a frame
    rate of 15 pictures of ~45 kB each).
Over a measured window, checked conditions (no timing thresholds):
  1. each fast viewer receives at least 90% of the RESULTs ferd produced in the
     window (counted by ferd-http's own metrics subscription, which reads
     every RESULT), and its frames arrive in order;
  2. ferd dropped nothing for any of ferd-http's connections (STATUS
     client_list), and disconnected no client for its output limits: ferd-http
     reads ferd's socket whatever its viewers do;
  3. the slow viewer stays connected and skips frames (ferd_http_stream_
     skipped_total grows) instead of queueing them;
  4. the stalled viewer is closed once connection_timeout (4 s here) passes
     without progress (ferd_http_streams drops by one);
  5. ferd-http's memory stays bounded (RSS below 64 MB).
"""

import json
import socket
import sys
import threading
import time

import httptest
from httptest import check, curl, log, metric, now, start_http

PATH = "/api/events?image=jpeg"


class SlowReader(threading.Thread):
    """Reads `chunk` bytes every `pause` seconds."""

    def __init__(self, base, path, chunk=16384, pause=0.2):
        super().__init__(daemon=True)
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), 10)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.sendall(("GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" % (path, host, port)).encode())
        self.chunk, self.pause = chunk, pause
        self.bytes = 0
        self.closed = False
        self.running = True
        self.start()

    def run(self):
        while self.running:
            try:
                data = self.sock.recv(self.chunk)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            self.bytes += len(data)
            time.sleep(self.pause)

    def close(self):
        self.running = False
        self.sock.close()


def scrape(h):
    return curl(h.url("/metrics")).text()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    return httptest.run_main("ferd-http-slow-", checks)


def checks(run):
    scratch = run.scratch
    readers = run.extra
    run.d = d = httptest.demo_ferd(scratch)
    run.h = h = start_http(scratch, d, "--set", "connection_timeout=4")
    fast = [httptest.SseReader(h.base, PATH) for _ in range(3)]
    readers += fast
    deadline = now() + 30
    while now() < deadline and not all(r.count("RESULT") >= 5 for r in fast):
        time.sleep(0.1)
    check(all(r.count("RESULT") >= 5 for r in fast), "the fast viewers get no RESULTs: %s",
          [r.classes for r in fast])
    stalled = httptest.SseReader(h.base, PATH, read=False, rcvbuf=4096)
    slow = SlowReader(h.base, PATH)
    readers += [stalled, slow]
    deadline = now() + 20
    while now() < deadline and metric(scrape(h), "ferd_http_streams", 'kind="events"') != 5:
        time.sleep(0.1)
    m0 = scrape(h)
    check(metric(m0, "ferd_http_streams", 'kind="events"') == 5, "5 streams expected: %s",
          metric(m0, "ferd_http_streams", 'kind="events"'))
    counts0 = [r.count("RESULT") for r in fast]
    ref0 = metric(m0, "ferd_results_observed_total")
    t0 = now()
    peak_rss = 0
    # The window is 60 RESULTs of ferd's (about 4 s at the clip's rate; longer
    # when a sanitizer or a loaded machine slows ferd), at least 10 s.
    m1 = m0
    while now() - t0 < 120:
        peak_rss = max(peak_rss, rss_kb(h.pid))
        time.sleep(0.25)
        m1 = scrape(h)
        if now() - t0 >= 10 and metric(m1, "ferd_results_observed_total") - ref0 >= 60:
            break
    time.sleep(0.5)  # the fast viewers read what ferd-http already has
    counts1 = [r.count("RESULT") for r in fast]
    ref = metric(m1, "ferd_results_observed_total") - ref0
    got = [b - a for a, b in zip(counts0, counts1)]
    log("window %.1f s: ferd produced %d RESULTs; the fast viewers got %s; slow viewer read "
        "%d kB", now() - t0, ref, got, slow.bytes // 1024)
    check(ref >= 60, "ferd produced only %d RESULTs in 120 s", ref)
    for g in got:
        check(g >= 0.9 * ref, "a fast viewer got %d of %d RESULTs while others were slow", g, ref)
    for r in fast:
        check(r.seqs == sorted(r.seqs), "a fast viewer's frames arrived out of order")

    st = json.loads(curl(h.url("/api/status")).body)
    mine = [c for c in st["client_list"] if c.get("pid") == h.pid]
    check(len(mine) >= 2, "ferd lists %d connections of ferd-http", len(mine))
    check(all(c["dropped"] == 0 for c in mine), "ferd dropped messages for ferd-http: %s", mine)
    cl = st["clients"]
    check(cl["soft_disconnects"] == 0 and cl["hard_disconnects"] == 0,
          "ferd disconnected clients for output limits: %s", cl)

    skipped = metric(m1, "ferd_http_stream_skipped_total")
    check(skipped > 0, "no frames skipped for the slow viewers")
    check(not slow.closed, "the slow (but reading) viewer was closed")

    deadline = now() + 30
    streams = None
    while now() < deadline:
        streams = metric(scrape(h), "ferd_http_streams", 'kind="events"')
        if streams == 4:
            break
        time.sleep(0.25)
    check(streams == 4, "the stalled viewer was not closed (%s streams)", streams)
    peak_rss = max(peak_rss, rss_kb(h.pid))
    check(peak_rss < 64 * 1024, "ferd-http's RSS reached %d kB", peak_rss)
    log("slow: ferd dropped nothing for ferd-http (%d connections), %d frames skipped for "
        "slow viewers, the stalled one closed after connection_timeout, peak RSS %d kB",
        len(mine), skipped, peak_rss)
    check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    log("slow: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
