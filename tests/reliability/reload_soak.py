#!/usr/bin/python3
"""reload_soak.py — ferd's memory over many model reloads (issue 13, class 9).

ferd plays samples/demo.avi in a loop (real time) on the shipped model
(models/default.fermodel, the size a real deployment loads), one client watches
every frame, and another sends RELOAD_COUNT (default 1000) RELOAD requests one
after another, each waiting for its answer, so every reload loads the model
again between frames while inference runs.

Every RELOAD_SAMPLE (default 50) reloads the daemon's memory is read from
/proc/PID/smaps_rollup (Rss, Anonymous) and /proc/PID/smaps, split into where
it lives: the main heap ([heap], brk), malloc's per-thread arenas (anonymous
64 MiB reservations: a read-write part followed by an inaccessible rest),
other anonymous mappings (large malloc blocks, thread stacks, OpenBLAS
buffers) and file mappings (code, read-only data). With --malloc-stats, gdb
calls malloc_stats() in ferd at the start and the end (the per-arena figures go
to ferd's log, printed here).

Checks (exit 1 when one fails):
  - every RELOAD is answered RELOAD (not ERROR) within 30 s, and the watcher
    keeps receiving results throughout;
  - memory is bounded: RSS after the last reload is within RELOAD_RSS_MARGIN_MIB
    (default 16) of RSS before the first (inference running all along), and
    the growth over the second half of the run is below 8 MiB (the issue's
    finding was +88 MiB over 170 reloads, then flat; before the fix in
    daemon/memory.c this run measured +83 MiB within 40 reloads);
  - ferd exits 0 on SIGTERM.
Figures go to stdout and, with --report FILE, to FILE as JSON
(docs/RELIABILITY.md quotes them). Run by name: meson test -C build
reload-soak (suite reload-soak), not part of CI's default run.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ferdtest import (Daemon, Failure, Scratch, check, log, now,  # noqa: E402
                      proc_threads, SOURCE_ROOT)

ARENA_SIZE_KB = 64 * 1024   # glibc's HEAP_MAX_SIZE on 64-bit: one arena heap's reservation


def smaps_rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def smaps_split(pid):
    """Resident KiB by kind of mapping: heap, arenas (and how many), other
    anonymous, files."""
    maps = []
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "inode": int(m.group(4)),
                       "name": m.group(5).strip(), "rss": 0}
                maps.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur["rss"] = int(line.split()[1])
    split = {"heap": 0, "arenas": 0, "arena_count": 0, "anon_other": 0, "files": 0}
    arena_parts = set()
    for i, a in enumerate(maps):
        # An arena heap: rw-p anonymous, then ---p anonymous right after it,
        # both together exactly one 64 MiB reservation (a thread stack has its
        # guard page below it, not above).
        if (a["perms"].startswith("rw") and not a["name"] and a["inode"] == 0
                and i + 1 < len(maps)):
            b = maps[i + 1]
            if (b["perms"].startswith("---") and not b["name"] and b["start"] == a["end"]
                    and (b["end"] - a["start"]) // 1024 == ARENA_SIZE_KB):
                arena_parts.add(i)
    for i, a in enumerate(maps):
        if a["name"] == "[heap]":
            split["heap"] += a["rss"]
        elif i in arena_parts:
            split["arenas"] += a["rss"]
            split["arena_count"] += 1
        elif a["inode"] == 0 and (not a["name"] or a["name"].startswith("[anon")):
            split["anon_other"] += a["rss"]
        else:
            split["files"] += a["rss"]
    return split


def sample(pid, reloads, t0):
    r = smaps_rollup(pid)
    s = smaps_split(pid)
    s.update({"reloads": reloads, "seconds": round(now() - t0, 1), "rss": r.get("Rss", -1),
              "anonymous": r.get("Anonymous", -1), "threads": proc_threads(pid)})
    return s


def malloc_stats(d):
    """Has gdb call malloc_stats() in ferd (it prints to ferd's stderr, the
    log); returns what it printed."""
    before = len(d.log_text())
    try:
        subprocess.run(["gdb", "-p", str(d.pid), "-batch", "-nx",
                        "-ex", "call (void) malloc_stats()"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "gdb: %s" % e
    time.sleep(0.5)
    return d.log_text()[before:]


def watcher(d, out, stop):
    c = d.client(10)
    c.request({"class": "WATCH", "enable": True})
    c.expect("WATCH")
    while not stop.is_set():
        m = c.message(1.0)
        if m is None:
            if c.eof:
                out["eof"] = True
                return
            continue
        if m.get("class") == "RESULT":
            out["results"] += 1
            out["last"] = now()
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reloads", type=int, default=int(os.environ.get("RELOAD_COUNT", "1000")))
    ap.add_argument("--sample", type=int, default=int(os.environ.get("RELOAD_SAMPLE", "50")))
    ap.add_argument("--margin", type=float,
                    default=float(os.environ.get("RELOAD_RSS_MARGIN_MIB", "16")))
    ap.add_argument("--model", default=os.path.join(SOURCE_ROOT, "models", "default.fermodel"))
    ap.add_argument("--malloc-stats", action="store_true")
    ap.add_argument("--report")
    ap.add_argument("--env", action="append", default=[],
                    help="KEY=VALUE for ferd's environment (e.g. MALLOC_ARENA_MAX=1)")
    args = ap.parse_args()
    s = Scratch("ferd-reload-soak-")
    d = None
    stop = threading.Event()
    try:
        d = Daemon(s, {"model": args.model,
                       "source": os.path.join(SOURCE_ROOT, "samples", "demo.avi"),
                       "loop": "yes", "requests_per_second": "1000", "request_burst": "1000"},
                   name="reload")
        env = dict(e.split("=", 1) for e in args.env)
        d.start(env_extra=env)
        with open("/proc/%d/maps" % d.pid) as f:
            if "libasan" in f.read():
                log("SKIP reload_soak: a sanitizer build (its own allocator, not glibc's, "
                    "and a quarantine that holds freed memory on purpose)")
                return 77
        seen = {"results": 0, "last": now(), "eof": False}
        w = threading.Thread(target=watcher, args=(d, seen, stop), daemon=True)
        w.start()
        check(wait_for_results(seen, 5, 30), "the watcher got no result within 30 s")
        t0 = now()
        samples = [sample(d.pid, 0, t0)]
        stats_start = malloc_stats(d) if args.malloc_stats else ""
        c = d.client(30)
        cpu0 = cpu_seconds(d.pid)
        slowest = 0.0
        for i in range(1, args.reloads + 1):
            t = now()
            c.request({"class": "RELOAD"})
            m = c.expect("RELOAD", 30)
            check(m.get("class") == "RELOAD", "reload %d answered %s", i, m)
            slowest = max(slowest, now() - t)
            if i % args.sample == 0 or i == args.reloads:
                samples.append(sample(d.pid, i, t0))
                check(not seen["eof"], "the watcher was disconnected")
                check(now() - seen["last"] < 10, "no result for the watcher in 10 s (reload %d)", i)
                x = samples[-1]
                log("reload %4d  %6.1f s  RSS %6.1f MiB (heap %5.1f, arenas %5.1f in %d, "
                    "other anon %5.1f, files %5.1f)  threads %d", i, x["seconds"], x["rss"] / 1024,
                    x["heap"] / 1024, x["arenas"] / 1024, x["arena_count"],
                    x["anon_other"] / 1024, x["files"] / 1024, x["threads"])
        cpu = cpu_seconds(d.pid) - cpu0
        c.close()
        stats_end = malloc_stats(d) if args.malloc_stats else ""
        stop.set()
        w.join(5)
        rc = d.stop(30)
        check(rc == 0, "ferd exited %s after SIGTERM", rc)
        first = samples[0]
        last = samples[-1]
        half = samples[len(samples) // 2]
        growth = (last["rss"] - first["rss"]) / 1024
        peak = max(x["rss"] for x in samples) / 1024
        growth_half = (last["rss"] - half["rss"]) / 1024
        report = {"reloads": args.reloads, "seconds": last["seconds"],
                  "slowest_reload_s": round(slowest, 3), "results": seen["results"],
                  "env": env, "model": args.model, "samples": samples,
                  "growth_mib": round(growth, 1), "peak_sampled_mib": round(peak, 1),
                  "cpu_seconds": cpu,
                  "growth_second_half_mib": round(growth_half, 1),
                  "loadavg": os.getloadavg()}
        if args.malloc_stats:
            report["malloc_stats_start"] = stats_start
            report["malloc_stats_end"] = stats_end
            log("malloc_stats at the start:\n%s\nmalloc_stats at the end:\n%s",
                stats_start, stats_end)
        log("%d reloads in %.0f s (slowest %.2f s, ferd used %.1f s of CPU), watcher %d "
            "results; RSS %.1f MiB before, %.1f at the end (%+.1f; %+.1f over the second half; "
            "highest sample %.1f); load average %.2f %.2f %.2f", args.reloads, last["seconds"],
            slowest, cpu, seen["results"], first["rss"] / 1024, last["rss"] / 1024, growth,
            growth_half, peak, *os.getloadavg())
        if args.report:
            with open(args.report, "w") as f:
                json.dump(report, f, indent=1)
        check(growth <= args.margin, "RSS grew %.1f MiB over %d reloads (bound %.0f)",
              growth, args.reloads, args.margin)
        check(growth_half < 8, "RSS grew %.1f MiB over the second half of the run", growth_half)
        return 0
    except Failure as e:
        log("FAIL reload_soak: %s", e)
        if d is not None:
            log("log tail:\n%s", d.log_text()[-2000:])
        return 1
    finally:
        stop.set()
        if d is not None:
            d.kill()
        s.cleanup()


def cpu_seconds(pid):
    """User + system CPU seconds ferd has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_results(seen, n, timeout):
    deadline = now() + timeout
    while now() < deadline:
        if seen["results"] >= n:
            return True
        time.sleep(0.1)
    return False


if __name__ == "__main__":
    sys.exit(main())
