#!/usr/bin/python3
"""soak.py — ferd under client churn for a bounded time (issue 7, item 3).

ferd plays samples/demo.avi in a loop (real time, 15 fps, a face in view) with
a random-weight model. Against it, for SOAK_SECONDS (default 120):
  - an auditor: connected first and never leaving, it watches every frame and
    records each RESULT's seq;
  - churners (SOAK_CLIENTS, default 10): each connects, does a random mix of
    WATCH (random rate, scores, events), reading for a while, POLL, snapshot
    (POLL with a JPEG), STATUS and unsubscribe, then leaves, half of the time
    abruptly (RST with unread data) or in the middle of a request line, and
    comes back after a pause;
  - a client that never reads: it watches with pictures and never calls recv;
    the daemon must drop its frames and, after output_soft_seconds at the soft
    limit, disconnect it; it then connects again, never reading still;
  - a garbage client: binary junk, broken JSON, NUL bytes, lines over the
    limit (the daemon closes those connections), reading the ERRORs.
The daemon's RSS, open descriptors and threads are sampled every second.

Checks (exit 1 when one fails):
  - ferd runs throughout and exits 0 on SIGTERM at the end;
  - RSS after warm-up is flat: the mean of the last quarter is within 3 MiB
    plus 5% of the mean of the second quarter;
  - descriptors return to their count before the first client once every
    client has gone, and never exceed it by more than the clients connected;
  - the auditor's sequence gaps are explained by counted drops: the frames the
    daemon reports dropped (captured but not processed) plus those dropped for
    the auditor itself, measured over the same interval, within a tolerance of
    a few frames for the instants at which STATUS samples them;
  - the never-reading client had frames dropped and was disconnected at least
    once (when the run is long enough for that: > 40 s);
  - every churner received results.
Figures go to stdout and, with --report FILE, to FILE as JSON
(docs/RELIABILITY.md quotes them).
"""

import argparse
import json
import os
import random
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ferdtest import (Client, Daemon, Failure, Scratch, check, log, make_model,  # noqa: E402
                      now, proc_fd_targets, proc_fds, proc_rss_kb, proc_threads,
                      stacks, SOURCE_ROOT)

STOP = threading.Event()        # every client but the auditor leaves
AUDIT_STOP = threading.Event()  # then the auditor, so its last STATUS sees no other watcher


class Counters:
    """Per-thread figures; each thread writes only its own."""

    def __init__(self, name):
        self.name = name
        self.connects = 0
        self.abrupt = 0
        self.results = 0
        self.polls = 0
        self.snapshots = 0
        self.statuses = 0
        self.errors = 0
        self.eofs = 0
        self.failures = []

    def as_dict(self):
        d = dict(self.__dict__)
        d["failures"] = self.failures[:5]
        return d


def auditor(path, c, out):
    """Watches every frame from start to end and records the sequence."""
    cl = Client(path, 10)
    c.connects += 1
    cl.request({"class": "STATUS"})
    out["status_first"] = cl.expect("STATUS")
    cl.request({"class": "WATCH", "enable": True})
    cl.expect("WATCH")
    seqs = out["seqs"]
    while not AUDIT_STOP.is_set():
        m = cl.message(1.0)
        if m is None:
            check(not cl.eof, "the auditor was disconnected")
            continue
        if m.get("class") == "RESULT":
            seqs.append(m["seq"])
            c.results += 1
            if len(seqs) == 1:
                cl.request({"class": "STATUS"})
        elif m.get("class") == "STATUS" and "status_start" not in out:
            out["status_start"] = m
            out["seqs_before_status"] = len(seqs)
    # Stop the stream, then take the closing STATUS on the same connection,
    # so that every RESULT sent before it has been read.
    cl.request({"class": "WATCH", "enable": False})
    cl.expect("WATCH")
    time.sleep(0.3)
    while True:
        m = cl.message(0.2)
        if m is None:
            break
        if m.get("class") == "RESULT":
            seqs.append(m["seq"])
            c.results += 1
    cl.request({"class": "STATUS"})
    out["status_end"] = cl.expect("STATUS")
    out["auditor"] = cl


def churner(path, c, rnd):
    while not STOP.is_set():
        try:
            cl = Client(path, 5)
        except (OSError, Failure) as e:
            c.failures.append("connect: %s" % e)
            time.sleep(0.5)
            continue
        c.connects += 1
        try:
            session(cl, c, rnd)
        except (OSError, Failure, ValueError) as e:
            c.failures.append(str(e)[:200])
        if rnd.random() < 0.5:
            cl.abort()
            c.abrupt += 1
        else:
            cl.close()
        time.sleep(rnd.uniform(0.0, 0.5))


def session(cl, c, rnd):
    steps = rnd.randint(1, 6)
    for _ in range(steps):
        if STOP.is_set():
            return
        r = rnd.random()
        if r < 0.4:
            w = {"class": "WATCH", "enable": True}
            w["max_fps"] = rnd.choice([0, 0, 2, 5, 30])
            if rnd.random() < 0.3:
                w["scores"] = False
            if rnd.random() < 0.15:
                w["events"] = True
            cl.request(w)
            end = now() + rnd.uniform(0.2, 4.0)
            while now() < end:
                m = cl.message(0.5)
                if m is None:
                    check(not cl.eof, "churner disconnected while watching")
                    continue
                cls = m.get("class")
                c.results += cls in ("RESULT", "FACE")
                c.errors += cls == "ERROR"
        elif r < 0.6:
            cl.request({"class": "POLL"})
            m = cl.expect("POLL", 10)
            c.polls += 1
        elif r < 0.7:
            cl.request({"class": "POLL", "image": rnd.choice(["jpeg", "annotated"])})
            m = cl.expect("POLL", 10)
            check("image" in m["result"], "a snapshot without its picture")
            c.snapshots += 1
        elif r < 0.85:
            cl.status()
            c.statuses += 1
        elif r < 0.95:
            cl.request({"class": "WATCH", "enable": False})
            cl.expect("WATCH", 10)
        else:
            # Half a request line, then gone.
            cl.send('{"class":"STA')
            return


def never_reader(path, c, pace):
    """Watches with pictures and never reads; reconnects once disconnected."""
    while not STOP.is_set():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError as e:
            c.failures.append("connect: %s" % e)
            time.sleep(0.5)
            continue
        c.connects += 1
        s.sendall(b'{"class":"WATCH","enable":true,"image":"jpeg"}\n')
        p = select.poll()
        p.register(s, select.POLLRDHUP)
        while not STOP.is_set():
            ev = p.poll(500)
            if ev and ev[0][1] & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                c.eofs += 1
                break
        s.close()
        time.sleep(pace)


JUNK = [
    b"\x00\x01\x02\xff\xfe\n",
    b"{\n",
    b'{"class":"WATCH","max_fps":"fast"}\n',
    b'{"class":\x00"STATUS"}\n',
    b"[" * 3000 + b"\n",
    b'{"class":"RELOAD","model":"/etc/shadow"}\n',
    b'{"class":"POLL","image":"../../etc/passwd"}\n',
    b"\xc3\x28\xa0\xa1 not utf-8\n",
    b'{"class":"\xf0\x9f\x98\x80"}\n',
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
]


def garbage(path, c, rnd):
    while not STOP.is_set():
        try:
            cl = Client(path, 5)
        except (OSError, Failure) as e:
            c.failures.append("connect: %s" % e)
            time.sleep(0.5)
            continue
        c.connects += 1
        try:
            for _ in range(rnd.randint(1, 30)):
                if STOP.is_set():
                    break
                r = rnd.random()
                if r < 0.1:
                    # Over the line limit: an ERROR, then the daemon closes.
                    cl.send(b"x" * rnd.randint(4097, 20000) + b"\n")
                elif r < 0.5:
                    cl.send(rnd.choice(JUNK))
                else:
                    cl.send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))) + b"\n")
                m = cl.message(2.0)
                if m is not None:
                    c.errors += m.get("class") == "ERROR"
                if cl.eof:
                    c.eofs += 1
                    break
                time.sleep(0.06)
        except (OSError, ValueError) as e:
            c.failures.append(str(e)[:200])
        cl.close()


def sampler(d, samples, watch, t_start):
    """Every second the daemon's RSS, descriptors and threads from /proc; every
    other second a STATUS (on a new connection: more churn), noting the largest
    drop count and queue of a client watching with pictures (the never-reader)."""
    tick = 0
    while not AUDIT_STOP.is_set():
        try:
            samples.append((round(now() - t_start, 1), proc_rss_kb(d.pid), proc_fds(d.pid),
                            proc_threads(d.pid)))
        except OSError:
            samples.append((round(now() - t_start, 1), -1, -1, -1))
        tick += 1
        if tick % 2 == 0 and not STOP.is_set():
            try:
                st = d.status()
                for e in st.get("client_list", []):
                    if e.get("image") == "jpeg":
                        watch["never_reader_dropped_max"] = max(
                            watch.get("never_reader_dropped_max", 0), e["dropped"])
                        watch["never_reader_queued_max"] = max(
                            watch.get("never_reader_queued_max", 0), e["queued"])
                watch["status_samples"] = watch.get("status_samples", 0) + 1
                watch["status_fail_streak"] = 0
            except (OSError, Failure, ValueError) as e:
                watch.setdefault("status_failures", []).append(
                    "%.0f s: %s" % (now() - t_start, str(e)[:200]))
                watch["status_fail_streak"] = watch.get("status_fail_streak", 0) + 1
        AUDIT_STOP.wait(1.0)


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS", "120")))
    ap.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", "10")))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", default=os.environ.get("SOAK_REPORT"))
    args = ap.parse_args()

    scratch = Scratch("ferd-soak-")
    model = scratch.path("model.fermodel")
    make_model(model)
    d = Daemon(scratch, {
        "source": os.path.join(SOURCE_ROOT, "samples", "demo.avi"),
        "model": model,
        "loop": "yes",
        "realtime": "yes",
        "max_clients": 64,
        "allow_images": "yes",
        "image_max_fps": 15,
        "output_soft_limit": "256kb",
        "output_hard_limit": "8mb",
        "output_soft_seconds": 5,
        "requests_per_second": 50,
        "request_burst": 100,
    })
    d.start(timeout=60)
    t_start = now()
    # The capture thread reopens the clip at each loop, so one sample may miss its
    # descriptor: the baseline is the largest of a few.
    fds0 = 0
    for _ in range(10):
        if proc_fds(d.pid) > fds0:
            fds0 = proc_fds(d.pid)
            fd_targets0 = proc_fd_targets(d.pid)
        time.sleep(0.1)
    rss0 = proc_rss_kb(d.pid)
    log("soak: ferd %d up; %d fds, %d KiB before any client; %.0f s with %d churners",
        d.pid, fds0, rss0, args.seconds, args.clients)

    samples = []
    audit = {"seqs": []}
    threads = []
    counters = []

    def spawn(fn, name, *a):
        c = Counters(name)
        counters.append(c)

        def run():
            try:
                fn(d.sock, c, *a)
            except Exception as e:  # noqa: BLE001 - recorded, judged below
                c.failures.append("%s: %s" % (type(e).__name__, e))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        threads.append(t)

    watch = {}
    threading.Thread(target=sampler, args=(d, samples, watch, t_start), daemon=True).start()
    spawn(auditor, "auditor", audit)
    wait_first = now()
    while not audit["seqs"] and now() - wait_first < 30:
        time.sleep(0.1)
    rnd = random.Random(args.seed)
    for i in range(args.clients):
        spawn(churner, "churner%d" % i, random.Random(rnd.random()))
    spawn(never_reader, "never_reader", 1.0)
    spawn(garbage, "garbage", random.Random(rnd.random()))

    end = t_start + args.seconds
    alive = True
    hung = None
    while now() < end:
        time.sleep(0.5)
        if not d.alive():
            alive = False
            break
        if watch.get("status_fail_streak", 0) >= 2:
            # Two STATUS in a row unanswered (10 s each): take the threads' stacks
            # while the daemon is in that state, then stop the run.
            hung = "%.0f s into the run; threads:\n%s" % (now() - t_start, stacks(d.pid))
            break
    STOP.set()
    for t in threads[1:]:
        t.join(30)
    AUDIT_STOP.set()
    threads[0].join(30)
    stuck = [t.name for t in threads if t.is_alive()]

    result = {"seconds": round(now() - t_start, 1), "clients": args.clients + 3}
    failures = []
    try:
        check(alive and d.alive(), "ferd died during the soak (status %s); log:\n%s",
              d.proc.returncode, d.log_text()[-3000:])
        check(hung is None, "ferd stopped answering STATUS %s", hung)
        check(not stuck, "threads did not finish: %s", stuck)
        check("auditor" in audit, "the auditor failed: %s", counters[0].failures)
        # Every client has gone except the auditor; then it goes too.
        audit["auditor"].close()
        time.sleep(1.5)
        final = d.status()
        fds_end = min(proc_fds(d.pid) for _ in range(10) if time.sleep(0.1) is None)
        result["fds_before"] = fds0
        result["fds_after"] = fds_end
        result["rss_before_kb"] = rss0
        valid = [s for s in samples if s[1] > 0]
        n = len(valid)
        q2 = [s[1] for s in valid[n // 4: n // 2]]
        q4 = [s[1] for s in valid[3 * n // 4:]]
        result["rss_q2_mean_kb"] = round(mean(q2))
        result["rss_q4_mean_kb"] = round(mean(q4))
        result["rss_max_kb"] = max(s[1] for s in valid)
        result["fds_max"] = max(s[2] for s in valid)
        result["threads_max"] = max(s[3] for s in valid)
        result["samples"] = n
        cl = final["clients"]
        result["daemon"] = {"accepted": cl["accepted"], "rejected": cl["rejected"],
                            "soft_disconnects": cl["soft_disconnects"],
                            "hard_disconnects": cl["hard_disconnects"],
                            "line_disconnects": cl["line_disconnects"],
                            "rate_limited": cl["rate_limited"],
                            "frames": final["frames"], "latency_ms": final.get("latency_ms")}
        result["per_client"] = [c.as_dict() for c in counters]
        result["connections"] = sum(c.connects for c in counters)

        # Sequence accounting for the auditor.
        seqs = audit["seqs"]
        s0, s1 = audit["status_start"], audit["status_end"]
        me0 = min(s0["client_list"], key=lambda e: e["id"])
        me1 = min(s1["client_list"], key=lambda e: e["id"])
        check(me0["id"] == me1["id"], "the auditor's entry changed id")
        backwards = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
        # Only RESULTs read after the first STATUS reply: they were sent after it.
        seqs = seqs[audit["seqs_before_status"]:]
        gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
        dropped_global = s1["frames"]["dropped"] - s0["frames"]["dropped"]
        dropped_own = me1["dropped"] - me0["dropped"]
        result["auditor"] = {"results": len(seqs), "first_seq": seqs[0], "last_seq": seqs[-1],
                             "gaps": gaps, "dropped_global": dropped_global,
                             "dropped_own": dropped_own, "out_of_order": backwards}
        log("soak: %s", json.dumps(result["auditor"]))
        check(backwards == 0, "%d RESULTs out of order", backwards)
        tol = 3
        check(abs(gaps - (dropped_global + dropped_own)) <= tol,
              "sequence gaps %d not explained by drops: %d dropped by the daemon + %d for "
              "the auditor", gaps, dropped_global, dropped_own)

        if fds_end > fds0:
            t1 = proc_fd_targets(d.pid)
            extra = {fd: t for fd, t in t1.items() if fd_targets0.get(fd) != t}
            check(False, "descriptors: %d before the clients, %d after; new: %s", fds0, fds_end,
                  extra)
        check(result["fds_max"] <= fds0 + args.clients + 3 + 2,
              "descriptors peaked at %d (%d before, %d clients)", result["fds_max"], fds0,
              args.clients + 3)
        check(result["rss_q4_mean_kb"] <= result["rss_q2_mean_kb"] * 1.05 + 3072,
              "RSS grew: %d KiB (second quarter) -> %d KiB (last quarter)",
              result["rss_q2_mean_kb"], result["rss_q4_mean_kb"])
        nr = next(c for c in counters if c.name == "never_reader")
        result["status_sampler"] = watch
        check(not watch.get("status_failures"), "STATUS failed under churn: %s",
              watch.get("status_failures"))
        check(watch.get("never_reader_dropped_max", 0) > 0,
              "no frame was dropped for the client that never reads")
        check(watch.get("never_reader_queued_max", 0) <= 256 * 1024 + 128 * 1024,
              "the never-reader's queue reached %d bytes (soft limit 256 KiB)",
              watch.get("never_reader_queued_max", 0))
        if args.seconds > 40:
            check(cl["soft_disconnects"] >= 1 and nr.eofs >= 1,
                  "the never-reading client was not disconnected (%d soft disconnects)",
                  cl["soft_disconnects"])
        for c in counters:
            if c.name.startswith("churner"):
                check(c.results > 0, "%s received no results", c.name)
            real = [f for f in c.failures if "churner disconnected" not in f]
            check(not real or c.name == "garbage", "%s: %s", c.name, real[:3])
        gc = next(c for c in counters if c.name == "garbage")
        check(gc.errors > 0, "the garbage client got no ERROR")
    except Failure as e:
        failures.append(str(e))
    try:
        rc = d.stop() if d.alive() else d.proc.returncode
    except Failure as e:
        rc = None
        failures.append(str(e))
    result["exit_status"] = rc
    if rc not in (0, None):
        failures.append("ferd exit status %s on SIGTERM" % rc)
    result["failures"] = failures
    result["rss_fd_samples"] = samples
    if args.report:
        with open(args.report, "w") as f:
            json.dump(result, f, indent=1)
    brief = {k: v for k, v in result.items() if k not in ("per_client", "rss_fd_samples")}
    log("soak: %s", json.dumps(brief))
    for c in counters:
        log("soak: client %-12s connects %4d abrupt %4d results %6d polls %4d snapshots %3d "
            "status %4d errors %4d eofs %3d", c.name, c.connects, c.abrupt, c.results, c.polls,
            c.snapshots, c.statuses, c.errors, c.eofs)
    if failures:
        for f in failures:
            log("soak: FAIL %s", f)
        log("soak: daemon log tail:\n%s", d.log_text()[-2000:])
        return 1
    scratch.cleanup()
    log("soak: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
