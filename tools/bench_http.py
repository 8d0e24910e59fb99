#!/usr/bin/python3
"""bench_http.py — what ferd-http costs with 1 and 10 viewers of the live
page, for both ways of showing the picture, and what a viewer costs ferd.

    /work/lead/bench-window.sh /usr/bin/python3 tools/bench_http.py [--build build] [--seconds 20]

One ferd plays samples/demo.avi at its 15 fps with the shipped model (pictures
allowed at 15 per second), one ferd-http serves it. Each phase runs for a
warm-up and then a measured window, in which we read from /proc the CPU time
(user + system) of ferd-http, of ferd, and of the browser's whole process
group, and from ferd-http's /metrics the bytes it wrote to viewers:

  ferd alone      ferd with no client at all, before ferd-http starts
  idle            ferd-http running, nobody viewing (its metrics subscription only)
  sockets 1, 10   plain readers of the page's picture stream at full rate
                  (no browser: ferd-http's and ferd's cost when every viewer keeps up)
  canvas 1, 10    headless chromium tabs on /            (raw JPEG frames in SSE,
                                                          boxes drawn by the page)
  mjpeg 1, 10     headless chromium tabs on /?view=mjpeg (frames annotated by ferd
                                                          in an <img>, labels by SSE)

For the canvas view the pages report how many pictures they drew per second
(window.ferdPage.framesDrawn). Each viewer is its own chromium (ten people
would have ten browsers; one browser opens at most 6 connections to a host,
fewer than ten pages' streams). Figures are printed as a Markdown table, with
the CPU share as percent of one core.
"""

import argparse
import json
import os
import signal
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_s(pgid):
    """CPU seconds of every live process in a process group (a browser's
    renderers included). Processes that exited during the window are missed,
    which only undercounts."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per phase")
    ap.add_argument("--warmup", type=float, default=6.0)
    args = ap.parse_args()
    os.environ.setdefault("FERD_BIN", os.path.join(args.build, "daemon", "ferd"))
    os.environ.setdefault("FERD_HTTP_BIN", os.path.join(args.build, "http", "ferd-http"))
    os.environ.setdefault("FER_SOURCE_ROOT", ROOT)
    import httptest
    from cdp import Browser

    scratch = httptest.Scratch("ferd-http-bench-")
    d = httptest.demo_ferd(scratch)
    rows = []
    # ferd with no client at all, for reference (it captures but runs the
    # pipeline only for someone who wants results).
    time.sleep(args.warmup)
    c0, t0 = cpu_s(d.pid), time.monotonic()
    time.sleep(args.seconds)
    alone = 100 * (cpu_s(d.pid) - c0) / (time.monotonic() - t0)
    print(json.dumps({"phase": "ferd alone", "ferd_cpu": alone}), flush=True)
    h = httptest.start_http(scratch, d, "--set", "max_streams=64",
                            "--set", "max_connections_per_ip=64")

    def scrape():
        return httptest.curl(h.url("/metrics")).text()

    def browsers_cpu(browsers):
        return sum(group_cpu_s(b.proc.pid) for b in browsers)

    def measure(name, viewers, pages=(), browsers=()):
        time.sleep(args.warmup)
        m0 = scrape()
        c0 = (cpu_s(h.pid), cpu_s(d.pid), browsers_cpu(browsers))
        drawn0 = [p.eval("window.ferdPage ? window.ferdPage.framesDrawn : 0") for p in pages]
        t0 = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - t0
        c1 = (cpu_s(h.pid), cpu_s(d.pid), browsers_cpu(browsers))
        drawn1 = [p.eval("window.ferdPage ? window.ferdPage.framesDrawn : 0") for p in pages]
        m1 = scrape()
        bytes_s = (httptest.metric(m1, "ferd_http_stream_bytes_total") -
                   httptest.metric(m0, "ferd_http_stream_bytes_total")) / wall
        frames = (httptest.metric(m1, "ferd_frames_processed_total") -
                  httptest.metric(m0, "ferd_frames_processed_total")) / wall
        skipped = (httptest.metric(m1, "ferd_http_stream_skipped_total") -
                   httptest.metric(m0, "ferd_http_stream_skipped_total"))
        row = {
            "phase": name, "viewers": viewers,
            "ferd_http_cpu": 100 * (c1[0] - c0[0]) / wall,
            "ferd_cpu": 100 * (c1[1] - c0[1]) / wall,
            "browser_cpu": 100 * (c1[2] - c0[2]) / wall if browsers else None,
            "kB_s_per_viewer": bytes_s / 1024 / viewers if viewers else 0.0,
            "ferd_fps": frames,
            # CPU per processed frame: comparable across phases whatever the
            # machine's load did to the frame rate.
            "ferd_ms_per_frame": 1000 * (c1[1] - c0[1]) / wall / frames if frames else None,
            "page_pictures_s": (sum(b - a for a, b in zip(drawn0, drawn1)) / len(pages) / wall
                                if pages and any(drawn1) else None),
            "skipped": skipped,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    def sockets(n):
        readers = [httptest.SseReader(h.base, "/api/events?max_fps=15&image=jpeg")
                   for _ in range(n)]
        measure("sockets", n)
        got = [r.count("RESULT") for r in readers]
        for r in readers:
            r.close()
        print("# %d socket readers received %s RESULTs each" % (n, got), flush=True)
        time.sleep(4)

    try:
        measure("idle", 0)
        sockets(1)
        sockets(10)
        for view, path in (("canvas", "/"), ("mjpeg", "/?view=mjpeg")):
            for n in (1, 10):
                # One browser per viewer, as ten people would have: a browser
                # opens at most 6 connections to one host, and each page holds
                # one or two streams open.
                browsers = []
                try:
                    for i in range(n):
                        os.makedirs(scratch.path("b%d" % i), exist_ok=True)
                        browsers.append(Browser(scratch.path("b%d" % i), width=1280, height=900))
                    pages = [b.open(h.url(path)) for b in browsers]
                    measure(view, n, pages if view == "canvas" else (), browsers)
                finally:
                    for b in browsers:
                        b.kill()
                time.sleep(4)  # subscriptions linger 3 s after their last viewer
    finally:
        h.stop()
        d.stop()
        scratch.cleanup()

    print()
    print("ferd alone (no client): %.1f%% of a core" % alone)
    print("| phase | viewers | ferd-http CPU | ferd CPU | ferd CPU per frame | browser CPU | "
          "kB/s per viewer | pictures/s drawn per page | ferd frames/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.1f%% | %.1f%% | %s | %s | %.0f | %s | %.1f |" % (
            r["phase"], r["viewers"], r["ferd_http_cpu"], r["ferd_cpu"],
            "%.1f ms" % r["ferd_ms_per_frame"] if r["ferd_ms_per_frame"] else "—",
            "%.0f%%" % r["browser_cpu"] if r["browser_cpu"] is not None else "—",
            r["kB_s_per_viewer"],
            "%.1f" % r["page_pictures_s"] if r["page_pictures_s"] is not None else "—",
            r["ferd_fps"]))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
