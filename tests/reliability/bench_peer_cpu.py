#!/usr/bin/python3
"""bench_peer_cpu.py — the CPU that hostile socket peers can cost ferd, and what
a well-behaved watcher of another user still gets (issue 13, class 4;
docs/RELIABILITY.md).

ferd runs as an unprivileged user (as in hostile.py) on models/default.fermodel
and samples/demo.avi in a loop at its real rate (15 fps), with the shipped
limits (max_clients 64, reserved_clients 4, max_clients_per_uid 32,
requests_per_second 20, request_burst 40). A watcher of a third uid subscribes
to every frame (no pictures) in a process of its own and notes, for every
RESULT, when it arrived and the frame's capture time (mono_ns: the same
CLOCK_MONOTONIC). Then `nobody` takes every slot it is allowed and a second
uid every slot left to unprivileged users, and the phases run one after the
other, --seconds each; between two, every hostile connection is closed and
opened again (so lines one phase left waiting do not run into the next), and
the users' request budgets are given 3 s to refill:

  alone   the watcher alone: the reference.
  subscribed  every hostile connection subscribes to every frame (no
          pictures) and reads: the most RESULTs the slots can be made to take.
  status  every hostile connection sends STATUS at requests_per_second, paced:
          what its connection's bucket allows (the user's budget,
          requests_per_second_per_uid, refuses what is over the user's share;
          each answer lists every client).
  poll    the same with POLL (no picture).
  watch   the same with WATCH on and off in turn (each a subscription change).
  blank   every hostile connection sends blank lines (ignored by the
          protocol: nothing is answered) at --flood-rate lines per second.
  flood   every hostile connection sends STATUS lines at --flood-rate per
          second and reads everything: all but the bucket's share are answered
          ERROR rate_limit. A connection ferd closes (its output queue full) is
          replaced by a new one of the same user.

Printed per phase: ferd's CPU (utime+stime from /proc/PID/stat) in % of one
core, of which its loop thread (the one that serves the socket); the requests
sent and the answers received; frames the daemon processed per second; the
watcher's RESULTs per second and its latency (capture to arrival, p50/p99);
then each phase's ratios against `alone` and the load average before and
after. A busy machine makes every figure provisional (the generator here is
Python and takes CPU of its own, also printed).

Needs root (to run ferd and the peers as other users); exits 77 otherwise.

    FERD_BIN=build/daemon/ferd /work/lead/bench-window.sh \\
        /usr/bin/python3 tests/reliability/bench_peer_cpu.py [--seconds 15] [--phases alone,status]
"""

import argparse
import json
import os
import selectors
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("FER_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
import hostile  # noqa: E402
from ferdtest import SOURCE_ROOT, Client, log, now  # noqa: E402

WATCHER = (4343, 4343)  # the well-behaved user: neither nobody nor hostile.OTHER
PHASES = ["alone", "subscribed", "status", "poll", "watch", "blank", "flood"]
# What each phase sends, one unit at a time (the watch phase's unit is two lines).
LINES = {"status": b'{"class":"STATUS"}\n', "poll": b'{"class":"POLL"}\n',
         "watch": b'{"class":"WATCH","max_fps":1}\n{"class":"WATCH","enable":false}\n',
         "subscribed": b"", "flood": b'{"class":"STATUS"}\n', "blank": b"\n"}


def cpu_ticks(pid, tid=None):
    """utime + stime of a process (or of one of its threads), in clock ticks."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def self_ticks():
    t = os.times()
    return (t.user + t.system) * os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def watcher(path, stop_r, out_w):
    """The watcher's process (forked): as WATCHER, subscribes to every frame and
    records (arrival ns, seq, capture ns) for each RESULT until stop_r becomes
    readable, then writes the records as JSON to out_w."""
    code = 0
    try:
        os.setgroups([])
        os.setgid(WATCHER[1])
        os.setuid(WATCHER[0])
        c = Client(path, 10.0)
        c.request({"class": "WATCH", "max_fps": 0})
        c.expect("WATCH")
        recs = []
        sel = selectors.DefaultSelector()
        sel.register(c.sock, selectors.EVENT_READ)
        sel.register(stop_r, selectors.EVENT_READ)
        c.sock.setblocking(False)
        buf = b""
        done = False
        while not done:
            for key, _ in sel.select(1.0):
                if key.fileobj is stop_r:
                    done = True
                    break
                data = c.sock.recv(1 << 16)
                t = time.monotonic_ns()
                if not data:
                    done = True
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    m = json.loads(ln)
                    if m.get("class") == "RESULT":
                        recs.append((t, m["seq"], m["mono_ns"]))
        with os.fdopen(out_w, "w") as f:
            json.dump(recs, f)
    except BaseException as e:  # noqa: BLE001 - reported through the status
        sys.stderr.write("watcher: %s: %s\n" % (type(e).__name__, e))
        code = 1
    finally:
        os._exit(code)


def fill(d, user):
    """Connects as user until ferd refuses: the sockets it admitted (greeting
    read), and the refusal's message."""
    got, why = [], ""
    for _ in range(8):
        batch = hostile.connect_as(user, d.sock, 16)
        for s in batch:
            c = Client(d.sock, 10.0, greet=False, sock=s)
            m = c.message(10)
            if m and m.get("class") == "VERSION":
                got.append(c)
            else:
                why = (m or {}).get("message", "closed")
                c.close()
        if why:
            return got, why
    return got, why


class Peers:
    """The hostile connections, driven by one selector loop. Every connection
    sends its lines in ticks of TICK seconds at its phase's rate; one the
    daemon closes is replaced by a new connection of the same user (a hostile
    peer comes back), at most every half second."""

    TICK = 0.05

    def __init__(self, d, by_user, rate, flood_rate):
        self.d = d
        self.rate = rate
        self.flood_rate = flood_rate
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.reconnects = 0
        for user, clients in by_user:
            for c in clients:
                self._add(user, c)

    def _add(self, user, c):
        c.sock.setblocking(False)
        c.user = user
        c.gone = False
        self.sel.register(c.sock, selectors.EVENT_READ, c)
        self.clients.append(c)

    def _replace_gone(self):
        gone = [c for c in self.clients if c.gone]
        if not gone:
            return
        self.clients = [c for c in self.clients if not c.gone]
        for user in {c.user for c in gone}:
            n = sum(1 for c in gone if c.user == user)
            for s in hostile.connect_as(user, self.d.sock, n):
                self._add(user, Client(self.d.sock, 10.0, greet=False, sock=s))
                self.reconnects += 1
        for c in gone:
            c.close()

    def renew(self, all_gone):
        """Every connection closed and opened again as the same user, so that
        lines a phase left waiting (in a connection paused for its rate) do not
        run into the next phase. The daemon keeps each user's budget."""
        users = [c.user for c in self.clients]
        for c in self.clients:
            if not c.gone:
                self.sel.unregister(c.sock)
            c.close()
        self.clients = []
        hostile.wait_for(all_gone, 20)
        for user in sorted(set(users)):
            n = users.count(user)
            for s in hostile.connect_as(user, self.d.sock, n):
                c = Client(self.d.sock, 10.0, sock=s)
                self._add(user, c)

    def _read(self, c, counts):
        try:
            data = c.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            c.gone = True
            self.sel.unregister(c.sock)
            counts["closed"] += 1
            return
        counts["bytes"] += len(data)
        counts["answers"] += data.count(b"\n")
        counts["rate_limit"] += data.count(b'"rate_limit"')

    def run(self, phase, seconds):
        """Drives every connection for seconds; returns the counts."""
        counts = {"sent": 0, "answers": 0, "rate_limit": 0, "bytes": 0, "closed": 0}
        line = LINES[phase]
        rate = self.rate if phase in ("status", "poll") else self.flood_rate
        if phase == "watch":
            rate = self.rate / 2  # two requests per unit
        if phase == "subscribed":
            rate = 0.0
            for c in self.clients:
                if not c.gone:
                    c.sock.send(b'{"class":"WATCH","max_fps":0}\n')
                    counts["sent"] += 1
        t0 = now()
        end = t0 + seconds
        next_tick = t0
        next_reconnect = t0 + 0.5
        owed = 0.0  # lines each connection is owed by now (the same for all)
        while True:
            t = now()
            if t >= end:
                break
            if t >= next_tick:
                owed += rate * self.TICK
                k = int(owed)
                owed -= k
                if k:
                    data = line * k
                    for c in self.clients:
                        if c.gone:
                            continue
                        try:
                            n = c.sock.send(data)
                        except OSError:
                            n = 0  # the daemon does not read: these lines are skipped
                        counts["sent"] += data[:n].count(b"\n")
                next_tick += self.TICK
            if t >= next_reconnect:
                self._replace_gone()
                next_reconnect = t + 0.5
            timeout = max(0.0, min(end, next_tick) - now())
            for key, _ in self.sel.select(timeout):
                if not key.data.gone:
                    self._read(key.data, counts)
        if phase == "subscribed":
            for c in self.clients:
                if not c.gone:
                    c.sock.send(b'{"class":"WATCH","enable":false}\n')
                    counts["sent"] += 1
        # Drain what is owed for the requests sent (a second at most), so the
        # next phase starts with empty queues.
        drain_end = now() + 1.0
        while now() < drain_end:
            ready = self.sel.select(0.2)
            if not ready:
                break
            for key, _ in ready:
                if not key.data.gone:
                    self._read(key.data, counts)
        self._replace_gone()
        return counts


def pct(vals, q):
    if not vals:
        return float("nan")
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(q * len(vals)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated, from: " + ", ".join(PHASES) + " (alone always runs)")
    ap.add_argument("--flood-rate", type=float, default=200.0,
                    help="lines per second each connection sends in blank and flood")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    phases = ["alone"] + [p for p in args.phases.split(",") if p and p != "alone"]
    for p in phases:
        if p not in PHASES:
            ap.error("unknown phase %r" % p)
    if os.geteuid() != 0:
        log("SKIP bench_peer_cpu.py: needs root to run ferd and its peers as other users")
        return 77
    load0 = loadavg()
    s = hostile.setup("ferd-bench-peer-")
    try:
        model = hostile.readable(shutil.copy(os.path.join(SOURCE_ROOT, "models",
                                                          "default.fermodel"), s.dir))
        clip = hostile.readable(shutil.copy(os.path.join(SOURCE_ROOT, "samples", "demo.avi"),
                                            s.dir))
        d = hostile.start(s, {"model": model, "source": clip, "loop": "yes",
                              "realtime": "yes", "log_level": "warning"})
        cfg = {"max_clients": 64, "reserved_clients": 4, "max_clients_per_uid": 32,
               "requests_per_second": 20.0}
        root = Client(d.sock, 10.0)
        stop_r, stop_w = os.pipe()
        out_r, out_w = os.pipe()
        wpid = os.fork()
        if wpid == 0:
            os.close(stop_w)
            os.close(out_r)
            watcher(d.sock, stop_r, out_w)
        os.close(stop_r)
        os.close(out_w)
        # The watcher subscribed (it holds a slot) before the hostile users come.
        hostile.wait_for(lambda: root.status()["clients"]["watching"] >= 1, 20)
        nob, why1 = fill(d, hostile.NOBODY)
        oth, why2 = fill(d, hostile.OTHER)
        st = root.status()
        log("ferd pid %d; the watcher (uid %d) subscribed; nobody holds %d slots (then: %s); "
            "uid %d holds %d (then: %s); %d connected of %d", d.pid, WATCHER[0], len(nob),
            why1, hostile.OTHER[0], len(oth), why2, st["clients"]["connected"],
            st["clients"]["max"])
        peers = Peers(d, [(hostile.NOBODY, nob), (hostile.OTHER, oth)],
                      cfg["requests_per_second"], args.flood_rate)
        loop_tid = d.pid  # the main thread runs the libuv loop
        hz = os.sysconf("SC_CLK_TCK")
        rows = []
        time.sleep(3.0)  # warm-up: the watcher's first frames, the model's first passes
        for p in phases:
            f0 = root.status()["frames"]["processed"]
            c0, l0, g0, t0 = cpu_ticks(d.pid), cpu_ticks(d.pid, loop_tid), self_ticks(), now()
            w0 = time.monotonic_ns()
            if p == "alone":
                time.sleep(args.seconds)
                counts = {"sent": 0, "answers": 0, "rate_limit": 0, "bytes": 0, "closed": 0}
            else:
                counts = peers.run(p, args.seconds)
            w1 = time.monotonic_ns()
            c1, l1, g1, t1 = cpu_ticks(d.pid), cpu_ticks(d.pid, loop_tid), self_ticks(), now()
            f1 = root.status()["frames"]["processed"]
            wall = t1 - t0
            rows.append(dict(phase=p, wall=wall, w0=w0, w1=w1,
                             cpu=100.0 * (c1 - c0) / hz / wall,
                             loop=100.0 * (l1 - l0) / hz / wall,
                             gen=100.0 * (g1 - g0) / hz / wall,
                             fps=(f1 - f0) / wall, **counts))
            if p != "alone":
                peers.renew(lambda: root.status()["clients"]["connected"] <= 2)
                time.sleep(3.0)
        os.write(stop_w, b"x")
        with os.fdopen(out_r) as f:
            recs = json.load(f)
        os.waitpid(wpid, 0)
        st = root.status()
        root.close()
        for c in peers.clients:
            c.close()
        hostile.stop(d)
    finally:
        s.cleanup()
    load1 = loadavg()

    for r in rows:
        mine = [x for x in recs if r["w0"] <= x[0] < r["w1"]]
        r["watch_fps"] = len(mine) / r["wall"]
        lat = [(t - cap) / 1e6 for t, _, cap in mine]
        r["lat50"], r["lat99"] = pct(lat, 0.5), pct(lat, 0.99)
        seqs = [x[1] for x in mine]
        r["gaps"] = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]) if b > a + 1)
    base = rows[0]
    print("%-10s %8s %8s %8s %9s %9s %9s %9s %7s %8s %8s %8s %5s" % (
        "phase", "ferd%", "loop%", "gen%", "sent/s", "answers/s", "rl_err/s", "MB/s out",
        "fps", "watch/s", "lat_p50", "lat_p99", "gaps"))
    for r in rows:
        print("%-10s %8.1f %8.1f %8.1f %9.0f %9.0f %9.0f %9.2f %7.2f %8.2f %8.1f %8.1f %5d" % (
            r["phase"], r["cpu"], r["loop"], r["gen"], r["sent"] / r["wall"],
            r["answers"] / r["wall"], r["rate_limit"] / r["wall"], r["bytes"] / r["wall"] / 1e6,
            r["fps"], r["watch_fps"], r["lat50"], r["lat99"], r["gaps"]))
    print("against alone (same run): ferd CPU ratio, extra CPU in % of a core, "
          "watcher RESULTs/s ratio, latency p99 ratio")
    for r in rows[1:]:
        print("  %-10s CPU x%.2f (+%.1f%% of a core), watcher x%.2f, p99 x%.2f" % (
            r["phase"], r["cpu"] / base["cpu"] if base["cpu"] else float("nan"),
            r["cpu"] - base["cpu"],
            r["watch_fps"] / base["watch_fps"] if base["watch_fps"] else float("nan"),
            r["lat99"] / base["lat99"] if base["lat99"] else float("nan")))
    print("hostile connections: %d of nobody, %d of uid %d, each sending %g lines/s in blank "
          "and flood; closed by ferd during the run: %d (replaced: %d); ferd counted %d "
          "rate-limited requests" % (
              len(nob), len(oth), hostile.OTHER[0], args.flood_rate,
              sum(r["closed"] for r in rows), peers.reconnects, st["clients"]["rate_limited"]))
    print("load average: %s before, %s after (busy machine: figures are provisional)" % (
        load0, load1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "load": [load0, load1]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
