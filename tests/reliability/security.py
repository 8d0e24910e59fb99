#!/usr/bin/python3
"""security.py — security checks and client limits of ferd (issue 7, item 5),
beyond what tests/test_daemon.c already covers (docs/RELIABILITY.md maps every
limit to its test).

  socket_mode_and_group  socket_mode 0640 and socket_group give the socket that
                         mode and group; a user outside the group cannot connect
                         (root only: the client runs as nobody).
  group_privileges       with allow_images and image_group/reload_group set to a
                         group, a client of another uid whose group it is (as
                         its gid, or only as a supplementary group of the
                         process) gets pictures and may reload; one outside it
                         is refused both and still served STATUS (root only).
  no_filesystem          ferd under strace -f -e trace=%file while a client sends
                         every request kind, each with file paths in its values
                         (and in keys the protocol does not know): the loop
                         thread makes no file system call at all outside RELOAD,
                         RELOAD opens only the configuration file and the
                         configured model, and no call anywhere names a path a
                         client sent.
  max_line_configured    max_line 300: a 301-byte line is answered too_long and
                         closed, a 300-byte one served; max_line is live, so
                         after a reload to 600 a 500-byte line is served.
  request_flood          200 requests at once (valid, invalid and WATCH on/off
                         toggles) against requests_per_second 10, request_burst
                         10: at most the burst (+ the refill) is carried out, the
                         rest are answered rate_limit, the connection stays
                         usable, and the subscription ends in the state of the
                         last request carried out.
  poll_limits            poll_timeout_ms 300 with a source that never opens: a
                         POLL is answered unavailable after 0.3..2 s; a second
                         POLL while one waits is answered busy at once.
Exit status: 0 passed, 1 a check failed, 77 all skipped.
"""

import grp
import os
import re
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ferdtest import (Client, Daemon, Scratch, check, log, make_clip,  # noqa: E402
                      make_model, need_env, now, run_checks, wait_for)

NOBODY = 65534


def as_user(uid, gid, groups, fn):
    """Runs fn() in a forked child with the given credentials; returns its exit
    status (fn's return value, 0..255; 100 + n for an exception)."""
    pid = os.fork()
    if pid == 0:
        code = 100
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            code = int(fn() or 0)
        except BaseException as e:  # noqa: BLE001 - reported through the status
            sys.stderr.write("child: %s: %s\n" % (type(e).__name__, e))
            code = 101
        finally:
            os._exit(code)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)


def open_dir(path):
    """Lets other users reach files under path (mkdtemp makes it 0700)."""
    os.chmod(path, 0o755)


def base_daemon(s, extra=None, clip=True):
    model = s.path("model.fermodel")
    make_model(model)
    settings = {"model": model, "loop": "yes"}
    if clip:
        settings["source"] = s.path("clip.avi")
        make_clip(settings["source"], 30)
    settings.update(extra or {})
    return Daemon(s, settings)


def socket_mode_and_group():
    if os.geteuid() != 0:
        return "skip"
    s = Scratch("ferd-sec-sock-")
    try:
        open_dir(s.dir)
        g = grp.getgrnam("users")
        d = base_daemon(s, {"socket_mode": "0640", "socket_group": "users"})
        d.start()
        st = os.stat(d.sock)
        check(st.st_mode & 0o777 == 0o640, "socket mode %o, configured 0640", st.st_mode & 0o777)
        check(st.st_gid == g.gr_gid, "socket group %d, configured users (%d)", st.st_gid,
              g.gr_gid)

        def connect():
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(d.sock)
            except PermissionError:
                return 3
            return 0
        # Mode 0640: the group may read, not write, and connecting needs write.
        out = as_user(NOBODY, NOBODY, [], connect)
        check(out == 3, "a user outside the group connected (child status %d)", out)
        out = as_user(NOBODY, g.gr_gid, [], connect)
        check(out == 3, "a 0640 socket let its group connect (child status %d)", out)
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        # 0660: the group may connect, others not.
        d.write_conf(dict(d.settings, socket_mode="0660"))
        d.start()
        out = as_user(NOBODY, g.gr_gid, [], connect)
        check(out == 0, "a member of socket_group could not connect (child status %d)", out)
        out = as_user(NOBODY, NOBODY, [], connect)
        check(out == 3, "a user outside socket_group connected (child status %d)", out)
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return "0640 and 0660 with group users: as configured; outsiders get EACCES"
    finally:
        s.cleanup()


def group_privileges():
    if os.geteuid() != 0:
        return "skip"
    s = Scratch("ferd-sec-grp-")
    try:
        open_dir(s.dir)
        g = grp.getgrnam("users")
        d = base_daemon(s, {"socket_mode": "0666", "allow_images": "yes",
                            "image_group": "users", "reload_group": "users"})
        d.start()

        def member():
            c = Client(d.sock, 30)
            c.request({"class": "POLL", "image": "jpeg"})
            m = c.expect("POLL", 30)
            if "image" not in m["result"]:
                return 2
            c.request({"class": "RELOAD"})
            c.expect("RELOAD", 30)
            return 0

        def outsider():
            c = Client(d.sock, 30)
            for req in ({"class": "POLL", "image": "jpeg"}, {"class": "RELOAD"},
                        {"class": "WATCH", "image": "annotated"}):
                c.request(req)
                m = c.expect("ERROR", 30)
                if m["code"] != "forbidden":
                    return 3
            c.status()
            return 0
        out = as_user(NOBODY, g.gr_gid, [], member)
        check(out == 0, "a client whose group is image_group/reload_group was refused "
              "(child status %d)", out)
        # The group only as a supplementary group of the process, granted at run
        # time (nobody is no member in /etc/group): SO_PEERGROUPS sees it (F5).
        out = as_user(NOBODY, NOBODY, [g.gr_gid], member)
        check(out == 0, "a client with image_group/reload_group as a supplementary group was "
              "refused (child status %d)", out)
        out = as_user(NOBODY, NOBODY, [], outsider)
        check(out == 0, "a client outside the groups was not refused (child status %d)", out)
        check(d.alive(), "ferd died")
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return ("uid nobody: pictures and RELOAD with gid users or users as a supplementary "
                "group, forbidden without")
    finally:
        s.cleanup()


# Paths a malicious client might try to make the daemon open, read, create or
# remove; none may ever appear in a file system call.
MARK = "ferd-evil-%d" % os.getpid()
EVIL = ["/tmp/%s/x" % MARK, "../../../../tmp/%s/y" % MARK, "/tmp/%s.fermodel" % MARK,
        "/tmp/%s.sock" % MARK, "/proc/self/%s" % MARK, "file:///tmp/%s" % MARK]


def evil_requests():
    """Every request kind, with paths in known and unknown keys."""
    reqs = []
    for p in EVIL:
        reqs += [
            '{"class":"WATCH","enable":true,"image":"%s","path":"%s"}' % (p, p),
            '{"class":"WATCH","enable":true,"model":"%s","source":"%s","socket":"%s"}' % (p, p, p),
            '{"class":"WATCH","enable":false,"events":true,"%s":1}' % p,
            '{"class":"POLL","image":"%s"}' % p,
            '{"class":"POLL","file":"%s","output":"%s"}' % (p, p),
            '{"class":"STATUS","config":"%s"}' % p,
            '{"class":"%s"}' % p,
            '{"class":"LOAD","model":"%s"}' % p,
            p,
            '{"class":"WATCH","enable":true,"image":"jpeg","path":"%s"}' % p,
        ]
    return reqs


GLIBC_MALLOC = "/proc/sys/vm/overcommit_memory"
STRACE_LINE = re.compile(r"^(\d+)\s+([\d.]+)\s+(\w+)\((.*)$")


def send_round(d, c, answers):
    """Every evil request on c, then a POLL with a picture, reading every answer
    up to the POLL's; then over-long lines of paths on three fresh connections.
    Returns the number of requests sent; counts the answers in answers."""
    sent = 0
    for line in evil_requests():
        c.send(line + "\n")
        sent += 1
    c.request({"class": "POLL", "image": "annotated"})
    sent += 1
    while True:  # everything answered, in order, up to the POLL
        m = c.message(30)
        check(m is not None, "no answer to the POLL after the requests")
        key = m["class"] if m["class"] != "ERROR" else "ERROR " + m["code"]
        answers[key] = answers.get(key, 0) + 1
        if m["class"] == "POLL":
            break
    check(d.alive(), "ferd died")
    for _ in range(3):
        x = d.client(30)
        x.send(("/tmp/%s/" % MARK) * 600 + "\n")
        x.wait_eof(10)
        x.close()
        sent += 1
    return sent


def no_filesystem():
    if not shutil.which("strace"):
        log("     strace not installed: skipped")
        return "skip"
    s = Scratch("ferd-sec-fs-")
    try:
        d = base_daemon(s, {"allow_images": "yes", "log_level": "debug",
                            "requests_per_second": 1000, "request_burst": 1000})
        trace = s.path("strace.out")
        # strace runs the daemon: Daemon starts the wrapper, which execs strace,
        # whose child is ferd.
        wrapper = s.path("traced.sh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s -f -ttt -qq -e trace=%%file -o %s %s "$@"\n'
                    % (shutil.which("strace"), trace, need_env("FERD_BIN")))
        os.chmod(wrapper, 0o755)
        d.binary = wrapper
        # LeakSanitizer cannot work under ptrace: off for this run in a sanitizer build.
        asan = os.environ.get("ASAN_OPTIONS", "")
        d.start(timeout=120, env_extra={"ASAN_OPTIONS": (asan + ":" if asan else "")
                                        + "detect_leaks=0"})
        ferd_pid = int(wait_for(lambda: first_child(d.pid), 10))
        c = d.client(30)
        c.request({"class": "WATCH"})
        c.expect("WATCH", 30)
        c.expect("RESULT", 30)
        # A quiet baseline: what the threads touch on their own while a client
        # watches (a library may read /sys or /proc now and then).
        tb = time.time()
        time.sleep(3.0)
        # Two identical rounds: in neither may anything but the capture thread's
        # reopening of the clip touch the file system (the first round used to
        # pay for OpenCV's codec set-up, now done before READY).
        rounds = []
        answers = {}
        sent = 0
        for _ in range(2):
            ta = time.time()
            sent += send_round(d, c, answers)
            time.sleep(0.5)
            rounds.append((ta, time.time()))
        t0, t1 = rounds[0][0], rounds[1][1]
        c.send('{"class":"RELOAD","model":"%s","config":"%s"}\n' % (EVIL[0], EVIL[1]))
        c.expect("RELOAD", 60)
        time.sleep(0.5)
        t2 = time.time()
        c.close()
        os.kill(ferd_pid, signal.SIGTERM)  # strace exits with its tracee's status
        rc = d.proc.wait(60)
        check(rc == 0, "ferd (under strace) exit status %s", rc)

        # (A call with an empty path and AT_EMPTY_PATH is an fstat of an open
        # descriptor: it looks nothing up.)
        calls = [cl for cl in parse_strace(trace)
                 if GLIBC_MALLOC not in cl[3] and "AT_EMPTY_PATH" not in cl[3]]
        named = [cl for cl in calls if MARK in cl[3]]
        check(not named, "file system calls naming a client's path: %s", named[:5])
        loop_calls = [cl for cl in calls if cl[0] == ferd_pid and t0 <= cl[1] < t1]
        check(not loop_calls, "the loop thread touched the file system while handling "
              "requests: %s", loop_calls[:10])
        clip = d.settings["source"]
        first = [cl for cl in calls if cl[0] != ferd_pid and rounds[0][0] <= cl[1] < rounds[0][1]
                 and clip not in cl[3]]
        # ferd encodes one picture before READY, so OpenCV's codec set-up (GDAL
        # reads its configuration and plugin directory) is over by now: F3.
        check(not first, "file system calls in the first round of requests: %s", first[:10])
        def path_of(cl):
            return re.sub(r'^[^"]*"([^"]*)".*$', r"\1", cl[3])
        baseline = {path_of(cl) for cl in calls if tb <= cl[1] < t0}
        second = [cl for cl in calls if cl[0] != ferd_pid and rounds[1][0] <= cl[1] < t1
                  and clip not in cl[3] and path_of(cl) not in baseline]
        check(not second, "file system calls while handling the second round of requests, "
              "beyond the quiet baseline %s: %s", sorted(baseline), second[:10])
        # The configuration, the model it names, and the built-in default model's
        # candidate paths (fer_config_default looks for them before the file is read).
        allowed = (d.conf, d.settings["model"], "/models/default.fermodel")
        reload_calls = [cl for cl in calls if cl[0] == ferd_pid and t1 <= cl[1] < t2]
        strays = [cl for cl in reload_calls if not any(a in cl[3] for a in allowed)]
        check(not strays, "RELOAD touched files other than the configuration and the model: %s",
              strays[:10])
        log("     answers: %s", answers)
        log("     quiet baseline (no requests): %s", sorted(baseline))
        return ("%d requests, %d distinct client paths in them: no file system call by the "
                "loop thread outside RELOAD (%d there, all on the config and the model), none "
                "by any thread in the second round, none naming a client's path (%d calls "
                "traced)" % (sent, len(EVIL), len(reload_calls), len(calls)))
    finally:
        s.cleanup()


def first_child(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def parse_strace(path):
    """(tid, time, syscall, args) of each traced call; strace runs ferd itself, so
    after its exec the daemon keeps strace's child pid."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = STRACE_LINE.match(line)
            if m:
                out.append((int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)))
    return out


def max_line_configured():
    s = Scratch("ferd-sec-line-")
    try:
        d = base_daemon(s, {"max_line": 300})
        d.start()

        def line_of(n):
            head = '{"class":"STATUS","pad":"'
            return head + "p" * (n - len(head) - 3) + '"}\n'
        c = d.client()
        c.send(line_of(300))
        c.expect("STATUS")
        c.send(line_of(301))
        m = c.expect("ERROR")
        check(m["code"] == "too_long", "over max_line: %s", m)
        check(c.wait_eof(10), "not closed after an over-long line")
        c.close()
        # Live: a reload raises it.
        d.write_conf(dict(d.settings, max_line=600))
        c = d.client()
        c.request({"class": "RELOAD"})
        c.expect("RELOAD", 30)
        c.send(line_of(500))
        c.expect("STATUS")
        c.send(line_of(601))
        check(c.expect("ERROR")["code"] == "too_long", "over the reloaded max_line")
        check(c.wait_eof(10), "not closed after an over-long line")
        st = d.status()
        check(st["clients"]["line_disconnects"] == 2, "line_disconnects %d, expected 2",
              st["clients"]["line_disconnects"])
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return "300 served, 301 refused and closed; after reload 500 served, 601 refused"
    finally:
        s.cleanup()


def request_flood():
    s = Scratch("ferd-sec-flood-")
    try:
        d = base_daemon(s, {"requests_per_second": 10, "request_burst": 10})
        d.start()
        c = d.client()
        lines = []
        for i in range(200):
            k = i % 4
            if k == 0:
                lines.append('{"class":"WATCH","enable":true,"max_fps":1}')
            elif k == 1:
                lines.append('{"class":"WATCH","enable":false}')
            elif k == 2:
                lines.append('{"class":"STATUS"}')
            else:
                lines.append('not json %d' % i)
        t0 = now()
        c.send("\n".join(lines) + "\n")
        answers = {"WATCH": 0, "STATUS": 0, "rate_limit": 0, "bad_json": 0, "other": 0}
        got = 0
        while got < 200:
            m = c.message(15)
            check(m is not None, "only %d answers to 200 requests", got)
            cls = m.get("class")
            if cls == "RESULT":
                continue
            got += 1
            if cls == "ERROR":
                answers[m["code"] if m["code"] in answers else "other"] += 1
            else:
                answers[cls if cls in answers else "other"] += 1
        took = now() - t0
        carried = answers["WATCH"] + answers["STATUS"] + answers["bad_json"]
        check(carried <= 10 + 10 * took + 1, "%d requests carried out in %.1f s at 10/s, "
              "burst 10: %s", carried, took, answers)
        check(answers["rate_limit"] >= 200 - carried, "answers: %s", answers)
        check(answers["other"] == 0, "unexpected answers: %s", answers)
        # Still usable, and not subscribed: the last WATCH carried out decides.
        time.sleep(1.2)
        st = c.status()
        check(st["clients"]["rate_limited"] == answers["rate_limit"],
              "STATUS counts %d rate-limited, the client saw %d", st["clients"]["rate_limited"],
              answers["rate_limit"])
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return "200 requests in one write: %s in %.1f s" % (answers, took)
    finally:
        s.cleanup()


def poll_limits():
    s = Scratch("ferd-sec-poll-")
    try:
        d = base_daemon(s, {"poll_timeout_ms": 300, "source": s.path("never.avi")}, clip=False)
        d.start()
        c = d.client()
        c.request({"class": "POLL"})
        t0 = now()
        c.request({"class": "POLL"})
        first = c.expect("ERROR", 10)
        t_first = now() - t0
        second = c.expect("ERROR", 10)
        t_second = now() - t0
        codes = sorted([first["code"], second["code"]])
        check(codes == ["busy", "unavailable"], "two POLLs without frames: %s, %s",
              first, second)
        busy_t = t_first if first["code"] == "busy" else t_second
        unavail_t = t_second if first["code"] == "busy" else t_first
        check(busy_t < 0.3, "the second POLL waited %.2f s for busy", busy_t)
        check(0.25 <= unavail_t < 2.0, "POLL answered unavailable after %.2f s "
              "(poll_timeout_ms 300)", unavail_t)
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return "busy after %.3f s, unavailable after %.3f s" % (busy_t, unavail_t)
    finally:
        s.cleanup()


CHECKS = [socket_mode_and_group, group_privileges, no_filesystem, max_line_configured,
          request_flood, poll_limits]

if __name__ == "__main__":
    sys.exit(run_checks(CHECKS, sys.argv))
