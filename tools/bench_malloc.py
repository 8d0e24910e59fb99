#!/usr/bin/python3
"""bench_malloc.py — what ferd's fixed mmap threshold (daemon/memory.c) costs
per frame.

ferd pins glibc's mmap threshold at 128 KiB so that memory stays bounded over
model reloads (issue 13, class 9; docs/RELIABILITY.md). The price: a block of
128 KiB or more (a frame, a detection pyramid level, a JPEG buffer) gets a
mapping of its own each time it is allocated, with its page faults. The
reference is the threshold where glibc's dynamic threshold rises to after
reloads (32 MiB, set through GLIBC_TUNABLES, which ferd then leaves alone):
such blocks come from the heap and are reused.

Each setting runs ferd on samples/demo.avi with `realtime no` (frames as fast
as inference takes them) and models/default.fermodel, one client watching, for
--seconds after a warm-up; the settings alternate for --rounds rounds. Printed
per run: frames processed per second, ferd's CPU milliseconds per frame, minor
page faults per frame (machine-independent), and RSS; then the medians and the
ratios fixed/reference, and the load average.

    FERD_BIN=build/daemon/ferd /work/lead/bench-window.sh /usr/bin/python3 tools/bench_malloc.py
"""

import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reliability"))
os.environ.setdefault("FER_SOURCE_ROOT", os.path.join(HERE, ".."))
from ferdtest import Daemon, Scratch, now, proc_rss_kb, SOURCE_ROOT  # noqa: E402

SETTINGS = [("fixed 128 KiB (ferd)", {}),
            ("32 MiB (reference)", {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432"})]


def proc_stat(pid):
    """(CPU seconds, minor page faults) of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])


def processed(d):
    return d.status()["frames"]["processed"]


def watch(d, stop):
    c = d.client(10)
    c.request({"class": "WATCH", "enable": True})
    while not stop.is_set():
        if c.line(1.0) is None and c.eof:
            return
    c.close()


def run(setting, env, seconds, warmup):
    s = Scratch("ferd-bench-malloc-")
    stop = threading.Event()
    d = Daemon(s, {"model": os.path.join(SOURCE_ROOT, "models", "default.fermodel"),
                   "source": os.path.join(SOURCE_ROOT, "samples", "demo.avi"),
                   "loop": "yes", "realtime": "no", "log_level": "warning"}, name="bench")
    try:
        d.start(env_extra=env)
        w = threading.Thread(target=watch, args=(d, stop), daemon=True)
        w.start()
        time.sleep(warmup)
        f0, (c0, m0), t0 = processed(d), proc_stat(d.pid), now()
        time.sleep(seconds)
        f1, (c1, m1), t1 = processed(d), proc_stat(d.pid), now()
        rss = proc_rss_kb(d.pid) / 1024.0
        stop.set()
        d.stop(30)
        n = max(1, f1 - f0)
        return {"setting": setting, "fps": n / (t1 - t0), "cpu_ms": 1000.0 * (c1 - c0) / n,
                "faults": (m1 - m0) / n, "rss": rss}
    finally:
        stop.set()
        d.kill()
        s.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    runs = []
    for r in range(args.rounds):
        for name, env in SETTINGS:
            x = run(name, env, args.seconds, args.warmup)
            runs.append(x)
            print("round %d  %-22s %7.1f frames/s  %6.2f CPU ms/frame  %7.1f minor faults/frame  "
                  "RSS %6.1f MiB" % (r + 1, name, x["fps"], x["cpu_ms"], x["faults"], x["rss"]))
            sys.stdout.flush()
    med = {}
    for name, _ in SETTINGS:
        xs = [x for x in runs if x["setting"] == name]
        med[name] = {k: statistics.median(x[k] for x in xs) for k in ("fps", "cpu_ms", "faults",
                                                                      "rss")}
        m = med[name]
        print("median %-22s %7.1f frames/s  %6.2f CPU ms/frame  %7.1f minor faults/frame  "
              "RSS %6.1f MiB" % (name, m["fps"], m["cpu_ms"], m["faults"], m["rss"]))
    a, b = med[SETTINGS[0][0]], med[SETTINGS[1][0]]
    print("fixed/reference: frames/s %.3f, CPU per frame %.3f, faults per frame %.2f, RSS %.3f"
          % (a["fps"] / b["fps"], a["cpu_ms"] / b["cpu_ms"],
             a["faults"] / b["faults"] if b["faults"] else float("inf"), a["rss"] / b["rss"]))
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
