#!/usr/bin/python3
"""idle.py — ferd closes an idle control connection (ERROR timeout after
idle_timeout_seconds); requests that cross that cut must still be answered.

The real ferd runs on the demo clip with idle_timeout_seconds 1, ferd-http
with its caches off (status_cache_ms 0, snapshot_cache_ms 0) so every
/api/status and /api/snapshot.jpg goes to ferd over the control connection.
Requests are spaced by delays swept across the idle deadline (ferd checks it
every 100 ms, so the cut falls 1.0-1.1 s after the last request), in steps
of 10 ms, so some are sent just as ferd cuts. The delays only place the
requests: the checks are that every answer is a 200 with a STATUS or a JPEG,
that ferd did cut idle connections meanwhile (its clients.timeouts, so the
test did cross the deadline), and that ferd-http logged no warning for it.
Before ferd-http reconnected and resent, some of these got 503 (13 of 52 in
one run).

Then a stand-in ferd makes the crossing certain: it answers the first
connection's STATUS with ERROR timeout and closes it (the request crossed the
cut), which must give a 200 from the second connection; and one that closes
every connection on its first request must give a 503 naming the second loss,
after exactly one resend.
"""

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

import httptest
from httptest import check, log, start_http, status_line


def get(url, timeout=20.0):
    """The status and body of one GET (urllib: no process start per request,
    so the delays place the requests to a few ms)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()




class CuttingFerd(httptest.StandInFerd):
    """A ferd stand-in: on each request, either cuts its connection (the first
    `cut` requests: ERROR timeout and close, or just close with error=False)
    or answers STATUS. Counts requests."""

    def __init__(self, path, cut, error=True):
        self.cut, self.error = cut, error
        self.requests = 0
        self.status = status_line()
        super().__init__(path, proto_minor=1)

    def on_line(self, c, line):
        self.requests += 1
        if self.cut > 0:
            self.cut -= 1
            if self.error:
                c.sendall(b'{"class":"ERROR","code":"timeout","message":"no request, '
                          b'subscription or answer due for 1 s; closing"}\n')
            c.shutdown(socket.SHUT_RDWR)
            return False
        if b'"STATUS"' in line:
            c.sendall(self.status + b"\n")
        return True


def test_stand_in(scratch):
    sock = scratch.path("cut.sock")
    fake = CuttingFerd(sock, cut=1)
    h = start_http(scratch, sock, "--set", "metrics_watch=no", "--set", "status_cache_ms=0",
                   "--log-level", "info", name="cut-http")
    try:
        code, body = get(h.url("/api/status"))
        check(code == 200 and body.startswith(b'{"class":"STATUS"'),
              "a STATUS that crossed ERROR timeout was not sent again: %d %s", code, body[:200])
        check(fake.requests == 2, "the stand-in saw %d requests, not 2", fake.requests)
        text = h.log_text()
        check("reconnecting to send the request again" in text,
              "ferd-http did not log the reconnect:\n%s", text[-1500:])
        check("warning" not in text.lower(), "ferd-http logged a warning:\n%s", text[-1500:])
        check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    finally:
        h.kill()
        fake.close()
        os.unlink(sock)
    fake = CuttingFerd(sock, cut=1000, error=False)
    h = start_http(scratch, sock, "--set", "metrics_watch=no", "--set", "status_cache_ms=0",
                   name="cut2-http")
    try:
        code, body = get(h.url("/api/status"))
        text = body.decode(errors="replace")
        check(code == 503 and "lost again after reconnecting" in text,
              "two losses in a row gave %d %s, not 503 naming the second loss", code, text)
        check(fake.requests == 2, "the stand-in saw %d requests, not 2 (one resend)",
              fake.requests)
        check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    finally:
        h.kill()
        fake.close()
    log("idle: stand-in ferd: a STATUS crossing ERROR timeout is sent once more and answered "
        "200 (reconnect logged at info, no warning); two losses in a row give 503 (%s)",
        text.strip())


def main():
    return httptest.run_main("ferd-http-idle-", checks)


def checks(run):
    scratch = run.scratch
    run.d = d = httptest.demo_ferd(scratch, idle_timeout_seconds=1)
    run.h = h = start_http(scratch, d, "--set", "status_cache_ms=0",
                           "--set", "snapshot_cache_ms=0", "--set", "metrics_watch=no",
                           "--log-level", "info")
    failures = []
    n = 0
    delays = [0.90 + 0.01 * i for i in range(26)]  # 0.90 .. 1.15 s
    for rnd in range(2):
        for delay in delays:
            path = "/api/status" if n % 2 == 0 else "/api/snapshot.jpg"
            time.sleep(delay)
            code, body = get(h.url(path))
            n += 1
            ok = code == 200 and (body.startswith(b"{") if path == "/api/status"
                                  else body[:2] == b"\xff\xd8")
            if not ok:
                failures.append("%s after %.2f s: %d %s"
                                % (path, delay, code, body[:200].decode(errors="replace")))
    code, body = get(h.url("/api/status"))
    check(code == 200, "a last /api/status got %d", code)
    timeouts = json.loads(body)["clients"].get("timeouts", 0)
    check(not failures, "%d of %d requests around ferd's 1-s idle cut failed:\n  %s",
          len(failures), n, "\n  ".join(failures))
    check(timeouts >= 5, "ferd cut only %d idle connections: the requests did not cross "
          "the idle deadline, so this run shows nothing", timeouts)
    warnings = [ln for ln in h.log_text().splitlines() if "warning" in ln.lower()]
    check(not warnings, "ferd-http logged warnings for ferd's idle cuts:\n  %s",
          "\n  ".join(warnings[:5]))
    log("idle: %d requests spaced 0.90-1.15 s around ferd's 1-s idle cut all answered 200; "
        "ferd cut %d idle connections; ferd-http logged no warning", n, timeouts)
    resent = h.log_text().count("reconnecting to send the request again")
    log("idle: ferd-http sent a request again on a new connection %d times", resent)
    check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    run.h = h = None
    test_stand_in(scratch)
    log("idle: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
