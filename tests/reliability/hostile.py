#!/usr/bin/python3
"""hostile.py — ferd against hostile inputs and hostile peers (issue 13).

ferd runs as an unprivileged user (`daemon`, uid 1, or uid 1 without a name),
the hostile peers as `nobody` and as a second unprivileged uid, the privileged
client as root: the daemon judges each peer by the credentials of its connect,
so a child process of the right user connects and hands the socket back
(SCM_RIGHTS). It needs root to change users; as another user it exits 77
(skip). Every line any client of this script receives is checked to be valid
UTF-8 JSON, and every check ends with SIGTERM and a bounded wait.

  utf8_out             invalid UTF-8 and escaped NULs (\\u0000) in requests are
                       refused as bad_json, never taken for another request;
                       a source and an error message holding invalid UTF-8 go out
                       as valid UTF-8; the log has no raw control characters.
  tiny_and_huge_numbers  WATCH with max_fps 1e-300, 5e-324, 1e-12 and 0.0004:
                       at most one RESULT each in 3 s (the daemon's rate
                       arithmetic saturates), max_fps 1000 under watch_max_fps 5
                       and pictures under image_max_fps 2 stay capped, and
                       out-of-range numbers are bad_field.
  half_close           requests followed by shutdown(SHUT_WR): every answer
                       arrives (STATUS, POLL, WATCH, a last line without its
                       newline, a POLL that waits for its frame, a RELOAD), then
                       the daemon closes; a half-closed subscriber keeps
                       receiving.
  slot_exhaustion      max_clients 12, reserved_clients 2, max_clients_per_uid 4:
                       nobody trickling partial lines gets 4 slots and is refused
                       the rest; a second uid gets its share; root's STATUS is
                       served with every other slot taken; the partial lines
                       are cut at line_timeout_ms and idle connections at
                       idle_timeout_seconds, a silent subscriber is not; then
                       nobody is served again.
  rate_flood           requests_per_second 5, request_burst 5: nobody sends 60
                       STATUS lines in one write. Every line is answered once;
                       after a rate_limit refusal the daemon reads nothing more
                       from that connection until a token is due, so no two
                       refusals come in a row (before, a flood was answered one
                       ERROR per line, as fast as the daemon could write them:
                       55 in a row here), and what is carried out stays within
                       the rate.
  user_budget          requests_per_second_per_uid 0.05, request_burst_per_uid
                       6 (per connection 100/s): nobody's 3 connections
                       sending 4 STATUS each get 6 carried out in all, the rest
                       refused; a new connection of nobody right after finds
                       the budget still spent (reconnecting buys no burst);
                       another uid's 6 and root's 12 are all carried out.
  blocking_files       a FIFO as the model, the configuration and the cascade at
                       start (and for --check-config) is refused at once, naming
                       it; at run time the model and the configuration replaced
                       by FIFOs make RELOAD and SIGHUP fail at once while
                       inference goes on; a clip and an image of a list replaced
                       by FIFOs are refused, the rest served; `fer classify` on
                       a FIFO fails; a stream read that never returns (a server
                       that accepts and never answers, stream_timeout_ms ten
                       minutes) does not hold SIGTERM beyond stop_timeout_ms.
  credential_urls      rtsp:// and http:// sources with a password (in the
                       configuration, and on the command line) and a token in
                       the query, against a fake camera answering 401: the
                       password is in no STATUS (nobody's or root's), no log
                       line, no notify message (systemctl status), not in
                       /proc/PID/cmdline, not in --check-config's output, not in
                       anything any client received; nobody sees no other
                       client's uid or pid, root sees all.
  decompression_bomb   a 390 KB PNG stating 20000x20000 pixels (made here, in no
                       time: one flushed deflate block repeated): fer classify
                       refuses it undecoded; as ferd's source it is refused
                       (STATUS says why); the peak RSS (VmHWM) of each stays
                       within 300 MiB of the same program on good images
                       (decoding it is 381 MiB grey, 1144 MiB colour); in an
                       image directory the good images keep coming and the bomb
                       is reported once; max_image_pixels below a 640x480 image
                       refuses that too.
Exit status: 0 passed, 1 a check failed, 77 all skipped.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferdtest  # noqa: E402
from ferdtest import (Client, Daemon, Failure, Scratch, check, log, make_clip,  # noqa: E402
                      make_model, now, run_checks, wait_for)


def _user(name, fallback):
    try:
        p = pwd.getpwnam(name)
        return p.pw_uid, p.pw_gid
    except KeyError:
        return fallback, fallback


DAEMON_USER = _user("daemon", 1)      # ferd runs as this user
NOBODY = _user("nobody", 65534)       # the hostile peer
OTHER = (4242, 4242)                  # another unprivileged peer (no name needed)
ROOT = (0, 0)

# Everything the daemons of this run sent to any client, for the checks that
# look for what must never appear (a password, say).
RECEIVED = []


class Peer(Client):
    """A client that checks every line it receives: valid UTF-8, valid JSON, an
    object with a string "class"."""

    def line(self, timeout=10.0):
        ln = super().line(timeout)
        if ln is not None:
            RECEIVED.append(ln)
            try:
                text = ln.decode("utf-8", errors="strict")
            except UnicodeDecodeError as e:
                raise Failure("ferd sent invalid UTF-8 (%s): %r" % (e, ln[:200]))
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise Failure("ferd sent a line that is not JSON (%s): %r" % (e, ln[:200]))
            check(isinstance(obj, dict) and isinstance(obj.get("class"), str),
                  "ferd sent a line without a class: %r", ln[:200])
        return ln

    def collect(self, seconds):
        """Every message within seconds (stops early at EOF)."""
        out = []
        deadline = now() + seconds
        while now() < deadline and not self.eof:
            m = self.message(max(0.0, deadline - now()))
            if m is not None:
                out.append(m)
        return out

    def until_eof(self, timeout):
        """Messages until the daemon closes; fails if it does not within timeout."""
        out = []
        deadline = now() + timeout
        while not self.eof:
            check(now() < deadline, "ferd did not close the connection within %.0f s "
                  "(got %s)", timeout, [m.get("class") for m in out])
            m = self.message(max(0.0, deadline - now()))
            if m is not None:
                out.append(m)
        return out


def connect_as(user, path, n=1):
    """n sockets connected to path by a child process running as user (uid,
    gid), handed back over a socket pair: the daemon sees that user's
    credentials (SO_PEERCRED is taken at connect). A connect the daemon's
    backlog or permissions refuse is left out."""
    uid, gid = user
    if (uid, gid) == ROOT:
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socks.append(s)
        return socks
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            parent.close()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            socks = []
            for _ in range(n):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                socks.append(s)
            socket.send_fds(child, [b"%d" % n], [x.fileno() for x in socks])
        except BaseException as e:  # noqa: BLE001 - reported through the status
            sys.stderr.write("connect_as: %s: %s\n" % (type(e).__name__, e))
            code = 1
        finally:
            os._exit(code)
    child.close()
    msg, fds, _, _ = socket.recv_fds(parent, 64, 256)
    parent.close()
    _, st = os.waitpid(pid, 0)
    check(os.waitstatus_to_exitcode(st) == 0, "connect_as %s: the child failed", user)
    return [socket.socket(fileno=fd) for fd in fds]


def peer(d, user=NOBODY, greet=True, timeout=10.0):
    return Peer(d.sock, timeout, greet, sock=connect_as(user, d.sock)[0])


def setup(prefix):
    """A scratch directory the daemon's user owns and everyone may enter."""
    s = Scratch(prefix)
    os.chmod(s.dir, 0o755)
    os.chown(s.dir, DAEMON_USER[0], DAEMON_USER[1])
    return s


def readable(path):
    os.chmod(path, 0o644)
    return path


def start(s, settings, name="ferd", **kw):
    """ferd as DAEMON_USER on a model and (unless settings name one) a clip,
    with a socket every user may connect to."""
    base = {"socket_mode": "0666"}
    if "model" not in settings:
        base["model"] = readable(model_file(s))
    if "source" not in settings:
        base["source"] = clip_file(s)
    base.update(settings)
    d = Daemon(s, base, name=name)
    readable(d.conf)
    return d.start(run_as=DAEMON_USER, **kw)


def model_file(s):
    path = s.path("model.fermodel")
    if not os.path.exists(path):
        make_model(path)
        readable(path)
    return path


def clip_file(s):
    path = s.path("clip.avi")
    if not os.path.exists(path):
        make_clip(path)
        readable(path)
    return path


def stop(d, timeout=20.0):
    """SIGTERM; the daemon must exit 0 within timeout (ferdtest says why not)."""
    rc = d.stop(timeout)
    check(rc == 0, "ferd exited %s after SIGTERM; log tail:\n%s", rc, d.log_text()[-1500:])


def count(msgs, cls):
    return sum(1 for m in msgs if m.get("class") == cls)


def root_status(d):
    c = Peer(d.sock)
    try:
        return c.status()
    finally:
        c.close()


# ---- class 7: what goes out is valid UTF-8 JSON ----

def utf8_out():
    s = setup("ferd-hostile-utf8-")
    try:
        # A source whose name is not UTF-8: the daemon reports it in STATUS and
        # in errors; both must go out as valid UTF-8.
        bad_dir = os.path.join(s.dir.encode(), b"caf\xe9-\xff\x1b[31m")
        os.mkdir(bad_dir)
        os.chown(bad_dir, *DAEMON_USER)
        d = Daemon(s, {"socket_mode": "0666", "model": readable(model_file(s)),
                       "source": "x"}, name="ferd")
        # The configuration file is bytes: write it so.
        with open(d.conf, "wb") as f:
            f.write(b"socket %s\nsocket_mode 0666\nmodel %s\nsource %s/missing.avi\n"
                    b"retry_initial_ms 100\nretry_max_ms 400\nlog_level info\n"
                    % (d.sock.encode(), model_file(s).encode(), bad_dir))
        readable(d.conf)
        d.start(run_as=DAEMON_USER)
        c = peer(d)
        lines = [
            (b'{"class":"STATUS\\u0000x"}\n', "bad_json"),
            (b'{"class":"WATCH","max_fps\\u0000":1}\n', "bad_json"),
            (b'{"class":"\xff\xfe"}\n', "bad_json"),
            (b'{"class":"STATUS","x":"\xc0\xaf"}\n', "bad_json"),
            (b'{"class":"STATUS","x":"\xed\xa0\x80"}\n', "bad_json"),
            (b'{"class":"' + "\u00e9".encode() * 40 + b'"}\n', "unknown_request"),
            (b'{"class":"\\u001b[2J\\n\\r"}\n', "unknown_request"),
        ]
        for line, code in lines:
            c.send(line)
            m = c.message(10)
            check(m is not None, "no answer to %r", line)
            check(m.get("class") == "ERROR" and m.get("code") == code,
                  "%r answered %s, expected ERROR %s", line, json.dumps(m)[:200], code)
        st = c.status()
        name = st["source"]["name"]
        check("\ufffd" in name, "the non-UTF-8 source name went out as %r", name)
        wait_for(lambda: root_status(d)["source"].get("error"), 10)
        err = root_status(d)["source"].get("error", "")
        check(err and "\ufffd" in err, "source.error %r: no replacement character", err)
        stop(d)
        raw = open(d.logpath, "rb").read()
        bad = [b for b in raw if (b < 0x20 and b not in (9, 10)) or b == 0x7f]
        check(not bad, "the log holds raw control characters %r", sorted(set(bad)))
        return "%d refusals, STATUS source %r" % (len(lines), name[-24:])
    finally:
        s.cleanup()


# ---- class 3: numbers from clients ----

def tiny_and_huge_numbers():
    s = setup("ferd-hostile-numbers-")
    try:
        d = start(s, {"allow_images": "yes", "image_max_fps": "2", "watch_max_fps": "0"})
        tiny = [1e-300, 5e-324, 1e-12, 0.0004]
        watchers = []
        for r in tiny:
            c = peer(d)
            c.send('{"class":"WATCH","max_fps":%r}\n' % r)
            ack = c.expect("WATCH")
            check(ack["max_fps"] > 0, "WATCH max_fps %r acknowledged as %r (0 = every frame)",
                  r, ack["max_fps"])
            watchers.append((r, c))
        # Root may have pictures: max_fps tiny with pictures, and the fastest
        # rate with pictures (capped by image_max_fps).
        img_tiny = Peer(d.sock)
        img_tiny.request({"class": "WATCH", "max_fps": 1e-300, "image": "jpeg"})
        img_tiny.expect("WATCH")
        img_fast = Peer(d.sock)
        img_fast.request({"class": "WATCH", "max_fps": 1000, "image": "jpeg"})
        img_fast.expect("WATCH")
        # Every watcher subscribed; the daemon queues what is due to each while
        # the test waits, and the socket buffers hold it until it is drained.
        t0 = now()
        time.sleep(3.0)
        got = {r: c.collect(0.3) for r, c in watchers}
        fast = img_fast.collect(0.3)
        slow = img_tiny.collect(0.3)
        window = now() - t0
        for r, msgs in got.items():
            check(count(msgs, "RESULT") <= 1, "max_fps %r: %d RESULTs in 3 s", r,
                  count(msgs, "RESULT"))
        check(count(slow, "RESULT") <= 1, "max_fps 1e-300 with pictures: %d RESULTs",
              count(slow, "RESULT"))
        n_fast = count(fast, "RESULT")
        pics = sum(1 for m in fast if m.get("class") == "RESULT" and "image" in m)
        check(n_fast >= 10, "max_fps 1000: only %d RESULTs in %.1f s (a 15 fps clip)", n_fast,
              window)
        check(pics <= 2 * window + 3, "image_max_fps 2: %d pictures in %.1f s", pics, window)
        # watch_max_fps caps every rate asked, huge ones included (live key).
        d.write_conf(dict(d.settings, watch_max_fps="5"))
        readable(d.conf)
        d.signal(signal.SIGHUP)
        c = peer(d)
        wait_for(lambda: any("reloaded" in ln for ln in d.log_text().splitlines()), 20)
        c.request({"class": "WATCH", "max_fps": 1000})
        check(c.expect("WATCH")["max_fps"] == 5, "watch_max_fps 5 did not cap 1000")
        t1 = now()
        n = count(c.collect(3.0), "RESULT")
        check(n <= 5 * (now() - t1) + 3, "watch_max_fps 5: %d RESULTs in 3 s", n)
        c.request({"class": "WATCH", "enable": False})
        c.expect("WATCH")
        # Out of range: refused, whatever the size.
        for v in ("1e400", "-1e-300", "1000.0001", "1e308", "-0.0"):
            c.send('{"class":"WATCH","max_fps":%s}\n' % v)
            m = c.message(10)
            want = "WATCH" if v == "-0.0" else "ERROR"
            check(m and m["class"] == want and (want == "WATCH" or m["code"] == "bad_field"),
                  "max_fps %s answered %s", v, m)
        stop(d)
        return "tiny rates: %s RESULTs in 3 s; max_fps 1000: %d (%d pictures at 2/s)" % (
            [count(m, "RESULT") for m in got.values()], n_fast, pics)
    finally:
        s.cleanup()


# ---- class 5: half-closed connections ----

def half_close():
    s = setup("ferd-hostile-halfclose-")
    try:
        d = start(s, {})
        c = peer(d)
        c.send('{"class":"STATUS"}\n{"class":"POLL"}\n{"class":"WATCH","enable":false}\n'
               '{"class":"STATUS"}')  # the last line ends with the stream, not "\n"
        c.sock.shutdown(socket.SHUT_WR)
        got = [m["class"] for m in c.until_eof(15)]
        # A POLL's answer may come after later answers (it waits for a frame).
        check(sorted(got) == ["POLL", "STATUS", "STATUS", "WATCH"],
              "after a half-close got %s, expected STATUS, POLL, WATCH, STATUS, then EOF", got)
        # A subscriber that half-closes still reads: it keeps receiving.
        w = peer(d)
        w.request({"class": "WATCH", "max_fps": 5})
        w.expect("WATCH")
        w.sock.shutdown(socket.SHUT_WR)
        n = count(w.collect(2.0), "RESULT")
        check(n >= 3 and not w.eof, "a half-closed subscriber got %d RESULTs in 2 s (eof %s)",
              n, w.eof)
        w.close()
        # A subscriber that closes altogether, with nothing due to it for
        # ages, is freed at once: the daemon tells a close from a half-close.
        before = root_status(d)["clients"]["connected"]
        g = peer(d)
        g.request({"class": "WATCH", "max_fps": 1e-300})
        g.expect("WATCH")
        g.collect(0.5)
        g.close()
        freed = wait_for(lambda: root_status(d)["clients"]["connected"] <= before, 5)
        check(freed, "a closed subscriber still holds its slot after 5 s")
        # RELOAD (root) answered after the half-close.
        r = Peer(d.sock)
        r.request({"class": "RELOAD"})
        r.sock.shutdown(socket.SHUT_WR)
        got = [m["class"] for m in r.until_eof(30)]
        check(got == ["RELOAD"], "RELOAD then half-close: got %s", got)
        stop(d)
        # A POLL that has to wait for its frame: no source ever opens, so the
        # answer is ERROR unavailable after poll_timeout_ms, and it still comes.
        d = start(s, {"source": s.path("never.avi"), "poll_timeout_ms": "700"}, name="nosrc")
        p = peer(d)
        p.request({"class": "POLL"})
        p.sock.shutdown(socket.SHUT_WR)
        got = p.until_eof(15)
        check([m["class"] for m in got] == ["ERROR"] and got[0]["code"] == "unavailable",
              "a waiting POLL then half-close: got %s", got)
        stop(d)
        return "every answer sent, then closed; a half-closed subscriber got %d RESULTs" % n
    finally:
        s.cleanup()


# ---- class 4: one peer must not starve the others ----

def slot_exhaustion():
    s = setup("ferd-hostile-slots-")
    try:
        d = start(s, {"max_clients": "12", "reserved_clients": "2", "max_clients_per_uid": "4",
                      "line_timeout_ms": "2000", "idle_timeout_seconds": "4"})
        # nobody: 8 connections, each trickling the start of a request.
        hostile = [Peer(d.sock, 5, False, sock=x) for x in connect_as(NOBODY, d.sock, 8)]
        admitted = []
        refused = 0
        for c in hostile:
            m = c.message(5)
            check(m is not None, "no greeting or refusal for a connection of nobody")
            if m["class"] == "VERSION":
                c.send('{"class":')
                admitted.append(c)
            else:
                check(m["class"] == "ERROR" and m["code"] == "too_many_clients",
                      "expected VERSION or too_many_clients, got %s", m)
                check(c.wait_eof(5), "a refused connection stayed open")
                refused += 1
        check(len(admitted) == 4, "nobody holds %d slots, max_clients_per_uid is 4",
              len(admitted))
        # A subscriber of another uid that stays silent: never idle.
        sub = Peer(d.sock, sock=connect_as(OTHER, d.sock)[0])
        sub.request({"class": "WATCH", "max_fps": 2})
        sub.expect("WATCH")
        # OTHER takes its share, and then the unprivileged slots run out:
        # 12 - 2 reserved = 10 = nobody 4 + OTHER 1 + 3 + the third uid 2.
        others = [Peer(d.sock, 5, False, sock=x) for x in connect_as(OTHER, d.sock, 3)]
        third = [Peer(d.sock, 5, False, sock=x) for x in connect_as((4343, 4343), d.sock, 3)]
        firsts = [c.message(5) for c in others + third]
        ok = [m for m in firsts if m and m["class"] == "VERSION"]
        check(len(ok) == 5, "the other uids got %d more slots, expected 5 (3 + 2)", len(ok))
        bad = [m for m in firsts if m and m["class"] == "ERROR"]
        check(bad and "reserved" in bad[0]["message"], "refusal should name the reserve: %s", bad)
        # Every unprivileged slot taken: root is still served, from the reserve.
        t0 = now()
        st = root_status(d)
        check(st["clients"]["connected"] >= 10, "STATUS counts %d clients",
              st["clients"]["connected"])
        root_ms = (now() - t0) * 1000
        # The partial lines are cut at line_timeout_ms (2 s) with ERROR timeout.
        for c in admitted:
            m = c.message(6)
            check(m and m["class"] == "ERROR" and m["code"] == "timeout",
                  "a trickled line was not cut: %s", m)
            check(c.wait_eof(5), "connection not closed after its line timed out")
        # The idle connections (greeted, never sent a byte) go at 4 s; the
        # silent subscriber does not.
        idle = [c for c, m in zip(others + third, firsts) if m and m["class"] == "VERSION"]
        for c in idle:
            m = c.message(8)
            check(m and m["class"] == "ERROR" and m["code"] == "timeout",
                  "an idle connection was not closed: %s", m)
        results = count(sub.collect(1.5), "RESULT")
        check(results >= 1 and not sub.eof, "the silent subscriber was cut off (eof %s, %d "
              "RESULTs)", sub.eof, results)
        # The slots are free again: nobody is served.
        c = peer(d)
        c.status()
        st = root_status(d)
        check(st["clients"]["timeouts"] >= 4 + len(idle), "STATUS timeouts %s",
              st["clients"]["timeouts"])
        stop(d)
        return ("nobody: 4 admitted, %d refused; root STATUS in %.0f ms with every other slot "
                "taken; %d trickled lines and %d idle connections cut, the subscriber kept"
                % (refused, root_ms, len(admitted), len(idle)))
    finally:
        s.cleanup()


def rate_flood():
    s = setup("ferd-hostile-rateflood-")
    try:
        d = start(s, {"requests_per_second": "5", "request_burst": "5"})
        c = peer(d)
        n = 60
        t0 = now()
        c.send(b'{"class":"STATUS"}\n' * n)
        seq = []
        while len(seq) < n:
            m = c.message(15)
            check(m is not None, "%d of %d requests answered (eof %s): %s", len(seq), n, c.eof,
                  "".join(seq))
            cls = m.get("class")
            if cls == "STATUS":
                seq.append("S")
            else:
                check(cls == "ERROR" and m.get("code") == "rate_limit",
                      "a flood of STATUS answered %s", json.dumps(m)[:200])
                # Named, so a client with several requests in flight knows
                # which one was refused (ferd-http matches answers so).
                check(m.get("request") == "STATUS", "a refused STATUS answered %s",
                      json.dumps(m)[:200])
                seq.append("r")
        took = now() - t0
        answers = "".join(seq)
        carried = answers.count("S")
        check("rr" not in answers, "two rate_limit answers in a row (a flood is answered one "
              "ERROR per line): %s", answers)
        check(answers.count("r") >= 1, "60 lines at 5/s, burst 5, none refused: %s", answers)
        check(carried <= 5 + 5 * took + 1, "%d carried out in %.1f s at 5/s, burst 5",
              carried, took)
        # Still usable, and counted.
        time.sleep(1.2)  # the bucket refills (5/s, burst 5)
        st = c.status()
        check(st["clients"]["rate_limited"] == answers.count("r"),
              "STATUS counts %s rate-limited, the client saw %d",
              st["clients"]["rate_limited"], answers.count("r"))
        stop(d)
        return "%d lines in one write: %d carried out, %d refused, never two in a row, %.1f s" % (
            n, carried, answers.count("r"), took)
    finally:
        s.cleanup()


def user_budget():
    s = setup("ferd-hostile-userbudget-")
    try:
        d = start(s, {"requests_per_second": "100", "request_burst": "100",
                      "requests_per_second_per_uid": "0.05", "request_burst_per_uid": "6"})
        conns = [Peer(d.sock, sock=x) for x in connect_as(NOBODY, d.sock, 3)]
        t0 = now()
        for c in conns:
            c.send(b'{"class":"STATUS"}\n' * 4)
        # Each connection is answered until its first refusal, which pauses
        # it (the budget refills one token in 20 s): at most 4 answers each.
        got = []
        for c in conns:
            while True:
                m = c.message(3)
                if m is None:
                    break
                got.append(m)
                if m.get("class") == "ERROR":
                    break
        took = now() - t0
        carried = count(got, "STATUS")
        refused = sum(1 for m in got if m.get("code") == "rate_limit")
        check(carried <= 6 + 0.05 * took + 1, "nobody's 3 connections had %d STATUS carried out "
              "in %.1f s with a budget of 6 + 0.05/s for the uid", carried, took)
        check(carried >= 6 and refused >= 1, "nobody: %d carried out, %d refused (budget 6)",
              carried, refused)
        msg = [m["message"] for m in got if m.get("code") == "rate_limit"][0]
        check("uid" in msg, "the refusal does not say the uid's budget is spent: %r", msg)
        for c in conns:
            c.close()
        # Back at once on a new connection: the budget is as it was left.
        c = peer(d)
        c.send(b'{"class":"STATUS"}\n')
        m = c.message(10)
        since = now() - t0
        check(since > 15 or (m and m.get("code") == "rate_limit"),
              "nobody reconnected %.1f s after spending its budget and was answered %s",
              since, m and json.dumps(m)[:200])
        c.close()
        # Another uid has a budget of its own; root has none.
        o = Peer(d.sock, sock=connect_as(OTHER, d.sock)[0])
        o.send(b'{"class":"STATUS"}\n' * 6)
        other = [o.message(10) for _ in range(6)]
        check(count([m for m in other if m], "STATUS") == 6, "the other uid's 6 STATUS: %s",
              [m and (m.get("code") or m.get("class")) for m in other])
        r = Peer(d.sock)
        r.send(b'{"class":"STATUS"}\n' * 12)
        mine = [r.message(10) for _ in range(12)]
        check(count([m for m in mine if m], "STATUS") == 12, "root's 12 STATUS: %s",
              [m and (m.get("code") or m.get("class")) for m in mine])
        stop(d)
        return ("nobody: %d of 12 carried out over 3 connections (budget 6), %d refused, still "
                "refused after reconnecting; the other uid 6 of 6, root 12 of 12"
                % (carried, refused))
    finally:
        s.cleanup()


# ---- class 1: no open may block, no wait may outlive shutdown ----

def run_ferd(argv, timeout=20.0):
    """ferd (as DAEMON_USER) with argv to its end; (status, stdout, stderr, seconds)."""
    uid, gid = DAEMON_USER

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    t0 = now()
    try:
        r = subprocess.run([os.environ["FERD_BIN"]] + argv, capture_output=True, text=True,
                           errors="replace", timeout=timeout, preexec_fn=drop)
    except subprocess.TimeoutExpired:
        raise Failure("ferd %s did not end within %.0f s" % (" ".join(argv), timeout))
    return r.returncode, r.stdout, r.stderr, now() - t0


def fifo_at(path):
    """A FIFO at path (replacing what was there), that the daemon's user may open."""
    tmp = path + ".fifo-tmp"
    os.mkfifo(tmp, 0o666)
    os.chown(tmp, *DAEMON_USER)
    os.replace(tmp, path)
    return path


def blocking_files():
    s = setup("ferd-hostile-fifo-")
    try:
        model = model_file(s)
        clip = clip_file(s)
        fifo = fifo_at(s.path("fifo"))
        sock = s.path("start.sock")
        starts = {
            "model": ["--model", fifo, "--source", clip],
            "config": ["--config", fifo],
            "cascade": ["--model", model, "--source", clip, "--set", "cascade=" + fifo],
        }
        took = []
        for what, argv in starts.items():
            rc, _, err, secs = run_ferd(argv + ["--socket", sock])
            check(rc == 1 and fifo in err and "FIFO" in err,
                  "%s a FIFO at start: exit %s, stderr %r", what, rc, err[-400:])
            took.append(secs)
        for what, argv in (("model", ["--model", fifo]), ("cascade", ["--set",
                                                                     "cascade=" + fifo])):
            rc, _, err, secs = run_ferd(["--check-config", "--model", model] + argv)
            check(rc == 1 and "FIFO" in err, "--check-config with a FIFO %s: exit %s, %r",
                  what, rc, err[-300:])

        # Running: the model, then the configuration, replaced by FIFOs.
        live_model = s.path("live.fermodel")
        shutil.copyfile(model, live_model)
        readable(live_model)
        d = start(s, {"model": live_model})
        w = peer(d)
        w.request({"class": "WATCH"})
        w.expect("WATCH")
        fifo_at(live_model)
        r = Peer(d.sock)
        t0 = now()
        r.request({"class": "RELOAD"})
        m = r.expect("ERROR", 15)
        reload_s = now() - t0
        check(m["code"] == "reload_failed" and "FIFO" in m["message"] and
              live_model in m["message"], "RELOAD of a FIFO model: %s", m)
        d.signal(signal.SIGHUP)
        check(wait_for(lambda: d.log_text().count("FIFO") >= 2, 15),
              "SIGHUP with a FIFO model: no log line naming it; log:\n%s", d.log_text()[-800:])
        n = count(w.collect(3.0), "RESULT")
        check(n >= 10, "inference stopped after the FIFO reloads: %d RESULTs in 3 s", n)
        fifo_at(d.conf)
        r.request({"class": "RELOAD"})
        m = r.expect("ERROR", 15)
        check(m["code"] == "config_invalid" and "FIFO" in m["message"],
              "RELOAD with a FIFO configuration: %s", m)
        t0 = now()
        stop(d, 15)
        stop_s = now() - t0

        # The clip ferd plays becomes a FIFO: at its end the rewind refuses
        # it; the source is reported lost, naming the file.
        s_clip = s.path("play.avi")
        shutil.copyfile(clip, s_clip)
        readable(s_clip)
        d = start(s, {"source": s_clip}, name="clip")
        fifo_at(s_clip)
        st = wait_for(lambda: (lambda x: x if "FIFO" in x["source"].get("error", "")
                               else None)(root_status(d)), 20)
        check(st, "a clip replaced by a FIFO: STATUS never named it; last %s",
              root_status(d)["source"])
        stop(d, 15)

        # An image list whose image becomes a FIFO: the others keep coming.
        imgs = s.path("imgs")
        os.mkdir(imgs)
        os.chown(imgs, *DAEMON_USER)
        write_face_images(imgs, 3)
        d = start(s, {"source": imgs, "capture_fps": "10"}, name="imgs")
        fifo_at(os.path.join(imgs, "face1.png"))
        c = peer(d)
        c.request({"class": "WATCH"})
        c.expect("WATCH")
        n = count(c.collect(3.0), "RESULT")
        check(n >= 10, "an image list with a FIFO: %d RESULTs in 3 s", n)
        stop(d, 15)

        # fer classify on a FIFO.
        t0 = now()
        r = subprocess.run([os.environ["FER_BIN"], "classify", "--model", model, fifo],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "FIFO" in r.stderr, "fer classify FIFO: exit %s, %r",
              r.returncode, r.stderr[-300:])

        # A read that never returns: a stream whose server accepts and never
        # answers, with a read timeout of ten minutes. SIGTERM must still end
        # ferd within stop_timeout_ms, the stuck thread named in the log.
        lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(8)
        url = "rtsp://127.0.0.1:%d/stuck" % lsn.getsockname()[1]
        d = start(s, {"source": url, "stream_timeout_ms": "600000", "stop_timeout_ms": "1500"},
                  name="stuck")
        time.sleep(1.0)
        t0 = now()
        stop(d, 15)
        stuck_s = now() - t0
        lsn.close()
        check(stuck_s < 10, "SIGTERM with a stuck stream took %.1f s", stuck_s)
        check("capture thread" in d.log_text(), "the stuck thread is not named; log:\n%s",
              d.log_text()[-800:])
        return ("a FIFO at start refused in %.1f s at most; RELOAD of a FIFO model answered in "
                "%.1f s, %d RESULTs after; stop in %.1f s; stuck stream: stop in %.1f s"
                % (max(took), reload_s, n, stop_s, stuck_s))
    finally:
        s.cleanup()


def write_face_images(directory, n):
    """n PNG frames of the demo clip (a face) in directory, readable by all."""
    import cv2
    cap = cv2.VideoCapture(os.path.join(ferdtest.SOURCE_ROOT, "samples", "demo.avi"))
    for i in range(n):
        ok, img = cap.read()
        check(ok, "cannot read the demo clip")
        path = os.path.join(directory, "face%d.png" % i)
        cv2.imwrite(path, img)
        readable(path)
    cap.release()


# ---- class 2: secrets ----

SECRET = "s3cret-Pa55"


class FakeCamera:
    """A TCP server that answers every request as a camera refusing the
    credentials would (RTSP or HTTP 401), in a thread, until closed."""

    def __init__(self):
        self.lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsn.bind(("127.0.0.1", 0))
        self.lsn.listen(16)
        self.lsn.settimeout(0.2)
        self.port = self.lsn.getsockname()[1]
        self.requests = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.lsn.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                data = conn.recv(4096)
                self.requests += 1
                cseq = b"1"
                for ln in data.split(b"\r\n"):
                    if ln.lower().startswith(b"cseq:"):
                        cseq = ln.split(b":", 1)[1].strip()
                proto = b"RTSP/1.0" if data.startswith((b"OPTIONS", b"DESCRIBE")) else b"HTTP/1.1"
                conn.sendall(proto + b" 401 Unauthorized\r\nCSeq: " + cseq +
                             b"\r\nWWW-Authenticate: Basic realm=\"cam\"\r\nContent-Length: 0"
                             b"\r\n\r\n")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.running = False
        self.thread.join(2)
        self.lsn.close()


def no_secret(what, data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    check(SECRET not in data, "the password is in %s: ...%s...", what,
          data[max(0, data.find(SECRET) - 80):data.find(SECRET) + 40])


def credential_urls():
    s = setup("ferd-hostile-secrets-")
    cam = FakeCamera()
    try:
        urls = ["rtsp://admin:%s@127.0.0.1:%d/stream1" % (SECRET, cam.port),
                "http://viewer:%s@127.0.0.1:%d/video.mjpg?ch=1&token=%s" % (SECRET, cam.port,
                                                                           SECRET)]
        seen = []
        for i, url in enumerate(urls):
            # The URL in the configuration file for one, on the command line
            # for the other: /proc/PID/cmdline is readable by every user.
            on_cmdline = i == 1
            d = Daemon(s, {"socket_mode": "0666", "model": readable(model_file(s)),
                           "source": "0" if on_cmdline else url, "retry_initial_ms": "200",
                           "retry_max_ms": "400", "stream_timeout_ms": "2000"},
                       name="cam%d" % i, argv_extra=["--source", url] if on_cmdline else [])
            readable(d.conf)
            d.start(run_as=DAEMON_USER)
            if on_cmdline:
                with open("/proc/%d/cmdline" % d.pid, "rb") as f:
                    no_secret("/proc/PID/cmdline", f.read())
            # Peers of every kind, while the daemon fails to log in.
            mine = peer(d)
            other = peer(d, OTHER)
            check(wait_for(lambda: cam.requests > 0 and
                           root_status(d)["source"].get("error"), 30),
                  "the daemon never tried the camera (%d requests)", cam.requests)
            for viewer in (mine, Peer(d.sock)):
                st = viewer.status()
                no_secret("STATUS", json.dumps(st))
                check("***" in st["source"]["name"], "source.name %r not masked",
                      st["source"]["name"])
                seen.append(st["source"].get("error", ""))
            # What one peer learns about the others: nobody sees its own
            # credentials only; root sees everyone's.
            st = mine.status()
            creds = [e for e in st["client_list"] if "uid" in e or "pid" in e]
            check(creds and all(e.get("uid") == NOBODY[0] for e in creds),
                  "nobody sees credentials %s", creds)
            st = Peer(d.sock).status()
            check(all("uid" in e and "pid" in e for e in st["client_list"]),
                  "root does not see every client's credentials: %s", st["client_list"])
            other.close()
            mine.close()
            stop(d)
            no_secret("the log", d.log_text())
            no_secret("the notify socket (systemctl status)", "\n".join(d.notes))
            check(any(n.startswith("STATUS=") and "***" in n for n in d.notes),
                  "no STATUS= line with the masked source: %s", d.notes[-5:])
        # --check-config shows the settings, credentials masked.
        conf = s.path("check.conf")
        with open(conf, "w") as f:
            f.write("source %s\nmodel %s\n" % (urls[0], model_file(s)))
        readable(conf)
        rc, out, err, _ = run_ferd(["--check-config", "--config", conf])
        no_secret("--check-config", out + err)
        check(rc == 0 and "admin:***@" in out, "--check-config: exit %s, %r", rc, out[:300])
        no_secret("anything a client received", b"\n".join(RECEIVED))
        return "source errors as shown: %s" % seen[-1][:120]
    finally:
        cam.close()
        s.cleanup()


# ---- class 6: inputs that cost more than they say ----

def bomb_png(path, w=20000, h=20000):
    """A grey PNG of w x h zero pixels, about 400 KB: the deflate stream of one
    block of rows, flushed so that it stands alone, repeated (no compressor
    runs over the 400 MB it decodes to)."""
    rows = 100
    block = b"\0" * ((w + 1) * rows)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush(zlib.Z_FINISH)
    n = (w + 1) * h
    data = b"\x78\xda" + one * (h // rows) + tail + struct.pack(">I", ((n % 65521) << 16) | 1)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    readable(path)
    return os.path.getsize(path)


def run_measured(argv, timeout=60.0):
    """Runs argv to its end; (status, stderr, seconds, peak RSS in MiB)."""
    t0 = now()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = t0 + timeout
    err = b""
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if now() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            raise Failure("%s did not end within %.0f s" % (" ".join(argv), timeout))
        time.sleep(0.05)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    return os.waitstatus_to_exitcode(st), err, now() - t0, ru.ru_maxrss / 1024.0


def proc_peak_mib(pid):
    """The process's peak resident set (VmHWM), in MiB: a decode that was
    made and freed again still shows here, where VmRSS would miss it."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise Failure("no VmHWM for pid %d" % pid)


# Decoding the bomb costs 20000 x 20000 bytes = 381 MiB as grey, 1144 MiB as
# colour (as ferd and fer read it), before any copy; a
# process that did not decode it stays well within this margin over the same
# process on ordinary inputs. Relative to a baseline measured in the same run,
# so a sanitizer build's overhead (shadow memory, quarantine) is not counted.
BOMB_MARGIN_MIB = 300


def decompression_bomb():
    s = setup("ferd-hostile-bomb-")
    try:
        bomb = s.path("bomb.png")
        size = bomb_png(bomb)
        imgs = s.path("imgs")
        os.mkdir(imgs)
        os.chown(imgs, *DAEMON_USER)
        write_face_images(imgs, 2)
        # Baselines: fer classify on a good image, ferd on the good images.
        rc, err, _, base_cli = run_measured([os.environ["FER_BIN"], "classify", "--model",
                                             model_file(s), os.path.join(imgs, "face0.png")])
        check(rc == 0, "fer classify on a good image: exit %s, %r", rc, err[-300:])
        d = start(s, {"source": imgs, "capture_fps": "20"}, name="base")
        c = peer(d)
        c.request({"class": "WATCH"})
        c.expect("WATCH")
        n = count(c.collect(4.0), "RESULT")
        base_d = proc_peak_mib(d.pid)
        stop(d)
        check(n >= 20, "the good images alone: %d RESULTs in 4 s", n)
        # fer classify: refused at once, small.
        rc, err, secs, rss = run_measured([os.environ["FER_BIN"], "classify", "--model",
                                           model_file(s), bomb])
        check(rc == 1 and "20000x20000" in err, "fer classify on the bomb: exit %s, %r", rc,
              err[-300:])
        check(rss < base_cli + BOMB_MARGIN_MIB, "fer classify on the bomb peaked at %.0f MiB "
              "(%.0f MiB on a good image)", rss, base_cli)
        # As ferd's source: refused, the daemon stays small and serves.
        d = start(s, {"source": bomb}, name="bomb")
        st = wait_for(lambda: (lambda x: x if "20000x20000" in x["source"].get("error", "")
                               else None)(root_status(d)), 20)
        check(st, "STATUS never said why the bomb was refused: %s", root_status(d)["source"])
        rss_source = proc_peak_mib(d.pid)
        check(rss_source < base_d + BOMB_MARGIN_MIB, "ferd with the bomb as source peaked at "
              "%.0f MiB (%.0f MiB on good images)", rss_source, base_d)
        stop(d)
        # In an image directory among good images: those keep coming, the
        # bomb is reported once, not on every pass.
        shutil.copyfile(bomb, os.path.join(imgs, "face1b.png"))
        readable(os.path.join(imgs, "face1b.png"))
        d = start(s, {"source": imgs, "capture_fps": "20"}, name="bombdir")
        c = peer(d)
        c.request({"class": "WATCH"})
        c.expect("WATCH")
        n = count(c.collect(4.0), "RESULT")
        rss_dir = proc_peak_mib(d.pid)
        stop(d)
        check(n >= 20, "an image list holding the bomb: %d RESULTs in 4 s", n)
        check(rss_dir < base_d + BOMB_MARGIN_MIB, "ferd with the bomb in its image list peaked "
              "at %.0f MiB (%.0f MiB without it)", rss_dir, base_d)
        told = d.log_text().count("20000x20000")
        check(told == 1, "the bomb was reported %d times in 4 s of passes (at 20 fps over 3 "
              "images); log:\n%s", told, d.log_text()[-1500:])
        # The bound is configurable: a limit below the good images refuses them.
        d = start(s, {"source": imgs, "max_image_pixels": "10000"}, name="small")
        st = wait_for(lambda: (lambda x: x if "megapixels" in x["source"].get("error", "")
                               else None)(root_status(d)), 20)
        check(st, "max_image_pixels 10000 let a 640x480 image through: %s",
              root_status(d)["source"])
        stop(d)
        return ("a %d-byte PNG of 20000x20000: fer classify refused it in %.1f s, peak %.0f MiB "
                "(%.0f on a good image); ferd peak %.0f MiB as source, %.0f MiB with it in a list "
                "(%.0f without; %d RESULTs in 4 s, reported once)"
                % (size, secs, rss, base_cli, rss_source, rss_dir, base_d, n))
    finally:
        s.cleanup()


CHECKS = [utf8_out, tiny_and_huge_numbers, half_close, slot_exhaustion, rate_flood,
          user_budget, blocking_files, credential_urls, decompression_bomb]


def main(argv):
    if os.geteuid() != 0:
        log("SKIP hostile.py: needs root to run ferd and its peers as other users")
        return 77
    return run_checks(CHECKS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
