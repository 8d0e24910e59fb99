#!/usr/bin/python3
"""valgrind.py — ferd under valgrind's memcheck (issue 7, item 2).

  valgrind.py workload
      One ferd under memcheck driven through everything a client can make it do,
      with timeouts made for valgrind's slowness: every request kind with every
      option, bad requests of each kind, an over-long line, max_clients
      exceeded, a client that never reads (dropped, then soft-disconnected), a
      client flooding requests without reading (hard limit), the request rate
      limit, abrupt disconnects mid-stream, RELOAD of a good and a corrupt
      model, a live configuration change, SIGHUP, then SIGTERM. Then the other
      ways ferd ends: --check-config, --help, a corrupt model at start (exit 1).

  valgrind.py daemon-tests TEST_DAEMON
      The daemon's own integration tests (tests/test_daemon.c) with every ferd
      they start under memcheck (their FERD_BIN is ferd-valgrind.sh). Their
      timing assertions were written for a daemon at full speed, so under
      memcheck (20-50x slower) some fail on timing; their results are printed,
      and the verdict is memcheck's alone.

Verdict, in both modes: every ferd process's log says 0 errors; every one that
ended normally reports 0 bytes definitely lost; no process died of a signal of
its own. Exit 0 clean, 1 not, 77 when valgrind is not installed.

Each process's log is kept in the build directory (tests/reliability/vg-*)
for reading after a failure.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ferdtest import (Client, Daemon, Failure, Scratch, check, log, make_clip,  # noqa: E402
                      make_model, need_env, now, wait_for, write_text)

HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER = os.path.join(HERE, "ferd-valgrind.sh")


def patched_libs(ferd, dest):
    """valgrind 3.19 refuses RDTSCP unless the CPU advertises it; Debian's libhwy
    (OpenCV -> FFmpeg -> libjxl -> libhwy) executes one in a constructor. On such
    CPUs a copy of libhwy with each RDTSCP (0f 01 f9) turned into RDTSC; NOP
    (0f 31 90) goes into dest, for LD_LIBRARY_PATH. Returns dest, or "" when
    nothing needs patching."""
    with open("/proc/cpuinfo") as f:
        if re.search(r"\brdtscp\b", f.read()):
            return ""
    out = subprocess.run(["ldd", ferd], capture_output=True, text=True).stdout
    m = re.search(r"(libhwy\.so\.\d+) => (\S+)", out)
    if not m:
        return ""
    with open(m.group(2), "rb") as f:
        data = bytearray(f.read())
    # The disassembly of Debian's libhwy 1.0.3 shows exactly these seven sites,
    # each a whole RDTSCP instruction; the byte pattern occurs nowhere else.
    n = 0
    i = data.find(b"\x0f\x01\xf9")
    while i >= 0:
        data[i:i + 3] = b"\x0f\x31\x90"
        n += 1
        i = data.find(b"\x0f\x01\xf9", i + 3)
    if n == 0:
        return ""
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, m.group(1)), "wb") as f:
        f.write(data)
    log("valgrind: %s: %d RDTSCP patched for valgrind in %s", m.group(2), n, dest)
    return dest


def setup_env(logdir):
    ferd = need_env("FERD_BIN")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    env = {"FERD_REAL": ferd, "FERD_VG_LOGS": logdir,
           "FERD_VG_LIBS": patched_libs(ferd, os.path.join(logdir, "lib"))}
    os.environ.update(env)
    return env


def judge(logdir):
    """Reads every ferd.<pid>.log; returns (processes, complete, failures)."""
    failures = []
    logs = sorted(glob.glob(os.path.join(logdir, "ferd.*.log")))
    complete = 0
    errors_total = 0
    for path in logs:
        with open(path, errors="replace") as f:
            text = f.read()
        name = os.path.basename(path)
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if re.search(r"Process terminating with default action of signal (\d+)", text):
            sig = re.search(r"default action of signal (\d+)", text).group(1)
            if sig not in ("9",):  # SIGKILL: a test's teardown, not a crash
                failures.append("%s: died of signal %s" % (name, sig))
        if m is None:
            # Killed before the end (SIGKILL leaves no summary): look for errors
            # reported so far all the same.
            if re.search(r"^==\d+== (Invalid|Conditional|Use of uninit|Syscall param|"
                         r"Mismatched|Source and destination)", text, re.M):
                failures.append("%s: memory errors (log incomplete)" % name)
            continue
        complete += 1
        errors_total += int(m.group(1))
        if int(m.group(1)):
            failures.append("%s: %s errors" % (name, m.group(1)))
        d = re.search(r"definitely lost: ([\d,]+) bytes", text)
        if d and d.group(1) != "0":
            failures.append("%s: %s bytes definitely lost" % (name, d.group(1)))
    return len(logs), complete, failures


def workload(logdir):
    s = Scratch("ferd-vg-")
    try:
        model = s.path("model.fermodel")
        make_model(model, "alpha", 7)
        clip = s.path("clip.avi")
        make_clip(clip, 30)
        d = Daemon(s, {"source": clip, "model": model, "loop": "yes", "allow_images": "yes",
                       "max_clients": 6, "output_soft_limit": "64kb",
                       "output_hard_limit": "512kb", "output_soft_seconds": 2,
                       "requests_per_second": 20, "request_burst": 40,
                       "image_max_fps": 30, "poll_timeout_ms": 20000},
                   binary=WRAPPER)
        t0 = now()
        d.start(timeout=300)
        log("valgrind: ferd ready under memcheck after %.0f s", now() - t0)
        T = 120  # seconds for anything that needs a frame processed
        c = d.client(T)
        c.status()
        for w in ({"class": "WATCH"},
                  {"class": "WATCH", "scores": False, "min_prob": 0.2, "max_fps": 5},
                  {"class": "WATCH", "events": True},
                  {"class": "WATCH", "image": "jpeg"},
                  {"class": "WATCH", "image": "annotated", "max_fps": 2}):
            c.request(w)
            c.expect("WATCH", T)
            if not w.get("events"):
                c.expect("RESULT", T)
        c.request({"class": "WATCH", "enable": False})
        c.expect("WATCH", T)
        for p in ({"class": "POLL"}, {"class": "POLL", "image": "jpeg"},
                  {"class": "POLL", "image": "annotated", "scores": False}):
            c.request(p)
            c.expect("POLL", T)
        bad = [b"not json\n", b"[1,2]\n", b"{}\n", b'{"class":5}\n', b'{"class":"NOPE"}\n',
               b'{"class":"WATCH","max_fps":-1}\n', b'{"class":\x00"STATUS"}\n',
               b"[" * 200 + b"\n", b'{"class":"POLL","image":"png"}\n', b"\xff\xfe\n"]
        for b in bad:
            c.send(b)
            check(c.expect("ERROR", T) is not None, "no ERROR")
        x = d.client(T)
        x.send(b"y" * 5000 + b"\n")
        x.expect("ERROR", T)
        check(x.wait_eof(T), "over-long line: not closed")
        x.close()
        # max_clients 6: c + 5 more fill it; a seventh is refused.
        more = [d.client(T) for _ in range(5)]
        extra = Client(d.sock, T, greet=False)
        m = extra.message(T)
        check(m is not None and m.get("code") == "too_many_clients", "7th client: %s", m)
        extra.close()
        # Abrupt exits mid-stream.
        for k in more:
            k.request({"class": "WATCH", "image": "jpeg"})
            k.expect("WATCH", T)
            k.abort()
        time.sleep(2)
        # A client that never reads (pictures at 30 fps fill 64 KiB fast).
        slow = d.client(T)
        slow.request({"class": "WATCH", "image": "jpeg"})
        ok = wait_for(lambda: d.status()["clients"]["soft_disconnects"] >= 1, 3 * T, 2)
        check(ok, "the never-reading client was not soft-disconnected")
        slow.close()
        # The request rate.
        r = d.client(T)
        r.send(b'{"class":"STATUS"}\n' * 60)
        codes = []
        for _ in range(60):
            m = r.message(T)
            check(m is not None, "rate flood: answers stopped")
            codes.append(m.get("code", m.get("class")))
        check("rate_limit" in codes, "no rate_limit in %d answers", len(codes))
        r.close()
        # Reloads: a good model, a corrupt one, a live key, and SIGHUP.
        make_model(model + ".new", "beta", 8)
        os.rename(model + ".new", model)
        c.request({"class": "RELOAD"})
        check(c.expect("RELOAD", T)["model"]["name"] == "beta", "reload did not load beta")
        write_text(model + ".new", "FERMODEL broken")
        os.rename(model + ".new", model)
        c.request({"class": "RELOAD"})
        check(c.expect("ERROR", T)["code"] == "reload_failed", "corrupt model: no reload_failed")
        d.write_conf(dict(d.settings, watch_max_fps=3, log_level="debug",
                          requests_per_second=100000, request_burst=100000,
                          output_hard_limit="256kb"))
        d.notes.clear()
        d.signal(signal.SIGHUP)
        d.wait_note("RELOADING=1", T)
        time.sleep(5)
        c.request({"class": "WATCH"})
        check(c.expect("WATCH", T)["max_fps"] == 3, "live key not applied")
        c.expect("RESULT", T)
        # Flooding without reading: the hard limit.
        h = d.client(T)
        burst = b'{"class":"STATUS"}\n' * 40
        for _ in range(20):
            try:
                h.sock.sendall(burst)
            except OSError:
                break
            time.sleep(0.2)
        ok = wait_for(lambda: d.status()["clients"]["hard_disconnects"] >= 1, T, 1)
        check(ok, "the flooding client was not disconnected at the hard limit")
        h.close()
        st = c.status()
        c.close()
        rc = d.stop(timeout=300)
        check(rc == 0, "ferd under memcheck: exit status %s (99: memcheck found errors)", rc)
        log("valgrind: workload done after %.0f s: %s", now() - t0,
            {k: st["clients"][k] for k in ("accepted", "rejected", "soft_disconnects",
                                           "hard_disconnects", "line_disconnects",
                                           "rate_limited")})
        # The other ways out.
        for args, want in ((["--check-config", "--config", d.conf], None),
                           (["--help"], 0), (["--version"], 0),
                           (["--config", d.conf], 1)):  # the corrupt model at start
            p = subprocess.run([WRAPPER] + args, capture_output=True, text=True, timeout=600)
            if want is not None:
                check(p.returncode == want, "ferd %s: status %d, expected %d", args,
                      p.returncode, want)
        return st
    finally:
        s.cleanup()


def daemon_tests(test_bin):
    env = dict(os.environ)
    env["FERD_BIN"] = WRAPPER
    env.setdefault("CK_TIMEOUT_MULTIPLIER", "10")
    # Deadlines in the tests stretch with ferd under memcheck (finding F6).
    env.setdefault("FERD_TEST_TIME_SCALE", "10")
    t0 = now()
    p = subprocess.run([test_bin], env=env, capture_output=True, text=True)
    out = p.stdout + p.stderr
    summary = re.findall(r"^\d+%: Checks: \d+, Failures: \d+, Errors: \d+$", out, re.M)
    log("valgrind: the daemon tests under memcheck took %.0f s; Check says: %s", now() - t0,
        summary[-1] if summary else "(no summary)")
    bad = [line for line in out.splitlines() if re.search(r":[FE]:daemon:", line)]
    for line in bad:
        log("valgrind:   %s", line)
    if p.returncode != 0 or bad or not summary:
        raise Failure("%d of the daemon tests failed under memcheck (exit status %d)"
                      % (len(bad), p.returncode))


def main():
    if not shutil.which("valgrind"):
        log("valgrind not installed: skipped")
        return 77
    ldd = subprocess.run(["ldd", need_env("FERD_BIN")], capture_output=True, text=True).stdout
    if "libasan" in ldd or "libclang_rt.asan" in ldd:
        log("ferd is built with AddressSanitizer, which valgrind cannot run: skipped")
        return 77
    mode = sys.argv[1] if len(sys.argv) > 1 else "workload"
    build = os.environ.get("MESON_BUILD_ROOT") or os.environ.get("TMPDIR") or "/tmp"
    logdir = os.path.join(os.environ.get("FERD_VG_DIR", build), "vg-" + mode)
    setup_env(logdir)
    t0 = now()
    try:
        if mode == "workload":
            workload(logdir)
        elif mode == "daemon-tests":
            daemon_tests(sys.argv[2])
        else:
            raise SystemExit("usage: valgrind.py workload | daemon-tests TEST_DAEMON")
    except Failure as e:
        log("valgrind: FAIL %s", e)
        n, complete, failures = judge(logdir)
        log("valgrind: %d processes, %d complete logs, %s", n, complete, failures or "clean")
        return 1
    n, complete, failures = judge(logdir)
    if mode == "workload" and complete != n:
        failures.append("%d of %d processes left no summary" % (n - complete, n))
    log("valgrind: %s: %d ferd processes under memcheck (%d ran to the end) in %.0f s; "
        "%s; logs in %s", mode, n, complete, now() - t0,
        "0 errors and 0 bytes definitely lost in every one" if not failures else failures,
        logdir)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
