#!/usr/bin/python3
"""test_mqtt.py — ferd-mqtt against the real things (issue 15; docs/MQTT.md).

Each check starts its own mosquitto (Debian's broker) on a free loopback port
with a generated configuration — anonymous, with a password file, or with TLS
from a CA that openssl makes here — and runs the real ferd on samples/demo.avi,
the real ferd-mqtt, and subscribers: mosquitto_sub (Debian's client) and, as
the reference, `ferctl watch --json` on ferd's own socket.

    test_mqtt.py [CHECK...]      (all checks by default)

Checks:
  exact_interface    `ferd-mqtt --socket S --broker mqtt://127.0.0.1:P` alone:
                     availability, discovery configs valid with what Home
                     Assistant requires, events equal to ferctl's FACE events
                     over the same frames, states equal to ferctl's RESULTs of
                     the same frames, the state rate bound, status without
                     client_list, a clean stop says "offline"
  password           a broker with a password file: the right password
                     connects; a wrong one exits 3 with one line, no retries
                     and no password in the log
  tls                a TLS listener with a CA made by openssl: ca_file
                     connects; an untrusted CA and a certificate for another
                     host exit 4 with one line each; a broker that requires a
                     client certificate accepts cert_file/key_file, and
                     without them the bridge exits 4 with one line
  broker_restart     the bridge started before the broker; then the broker
                     killed while events flow into a tiny queue, restarted:
                     the bridge reconnects, availability and configs return,
                     drops are counted and logged once
  ferd_restart       ferd stopped: availability offline; ferd started again:
                     online and events again
  two_instances      two ferds, two bridges, one broker: both prefixes and both
                     Home Assistant devices
  remove_discovery   --remove-discovery clears every retained message of the
                     instance and nothing of another
  source_stall       a clip that ends: once no frame came for
                     state_stall_seconds, the state says no faces, stalled

Python standard library only; paths come from meson (tests/mqtt/meson.build).
Exits 77 (skip) when mosquitto, mosquitto_sub or openssl is not installed.
"""

import ctypes
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from ferdtest import (Daemon, Failure, Scratch, SOURCE_ROOT, check, log, make_clip,  # noqa: E402
                      make_model, need_env, now, wait_for)

# Deadlines are generous and every wait polls for its condition: the machine
# is shared and slow at times.
WAIT = 30.0

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn: the child is killed when this script dies, however it dies
    (the rule of tests/ferd_harness.h), in a process group of its own."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    try:
        os.setpgrp()
    except OSError:
        pass  # already a session leader (ferdtest's Daemon starts one)


_procs = []


def spawn(argv, log_path, env=None):
    f = open(log_path, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=f, stdin=subprocess.DEVNULL, env=env,
                         preexec_fn=_die_with_parent)
    p._log = f
    _procs.append(p)
    return p


def stop_proc(p, sig=signal.SIGTERM, timeout=15.0):
    """Signals p and waits; returns its exit status (negative: a signal)."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise Failure("%s did not stop within %.0f s of signal %d"
                          % (p.args[0], timeout, sig))
    p._log.close()
    return p.returncode


def kill_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the broker ----

class Broker:
    """One mosquitto on 127.0.0.1:port, configured by extra lines."""

    def __init__(self, scratch, name, extra=(), port=None):
        self.scratch = scratch
        self.name = name
        self.port = port or free_port()
        self.conf = scratch.path(name + ".conf")
        self.logpath = scratch.path(name + ".log")
        lines = ["listener %d 127.0.0.1" % self.port, "persistence false",
                 # Started as root, mosquitto would switch to its own user and
                 # lose access to the scratch files; as anyone else it stays.
                 "user %s" % getpass.getuser(),
                 "log_dest stderr", "log_type error", "log_type warning", "log_type notice"]
        lines += list(extra)
        if not any(l.startswith("allow_anonymous") for l in lines):
            lines.append("allow_anonymous true")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = spawn(["mosquitto", "-c", self.conf], self.logpath)

        def listening():
            if self.proc.poll() is not None:
                raise Failure("mosquitto exited at start (status %s):\n%s"
                              % (self.proc.returncode, read(self.logpath)[-2000:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return True
            except OSError:
                return False
        check(wait_for(listening, WAIT, 0.05), "mosquitto did not listen on %d", self.port)
        return self

    def kill(self):
        """Gone at once, as a crash or a pulled cable."""
        stop_proc(self.proc, signal.SIGKILL)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_proc(self.proc)

    def url(self, scheme="mqtt", host="127.0.0.1"):
        return "%s://%s:%d" % (scheme, host, self.port)


class Sub:
    """mosquitto_sub on topics; every message kept with its receipt time:
    (t, retained, topic, payload)."""

    def __init__(self, scratch, broker, topics, extra=(), name="sub"):
        self.msgs = []
        self.lock = threading.Lock()
        self.broker = broker
        self.extra = list(extra)
        self.nsync = 0
        self.probe = "fmqtest/probe/%d/%s" % (os.getpid(), name)
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                "-F", "%r %t %p"] + self.extra
        for t in list(topics) + [self.probe]:
            argv += ["-t", t]
        self.errpath = scratch.path(name + ".err")
        self.errf = open(self.errpath, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.errf,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _procs.append(self.proc)
        self.proc._log = self.errf
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            parts = line.split(" ", 2)
            if len(parts) < 2:
                continue
            retained = parts[0] == "1"
            topic = parts[1]
            payload = parts[2] if len(parts) > 2 else ""
            with self.lock:
                self.msgs.append((now(), retained, topic, payload))

    def all(self, topic=None, pred=None):
        with self.lock:
            out = list(self.msgs)
        if topic is not None:
            out = [m for m in out if m[2] == topic]
        if pred is not None:
            out = [m for m in out if pred(m)]
        return out

    def wait(self, topic, pred=lambda m: True, count=1, timeout=WAIT, what=None):
        got = wait_for(lambda: len(self.all(topic, pred)) >= count and self.all(topic, pred),
                       timeout, 0.05)
        if not got:
            raise Failure("no %s on %s within %.0f s (got %d: %s); subscriber stderr: %s"
                          % (what or "message", topic, timeout, len(self.all(topic, pred)),
                             [m[3][:80] for m in self.all(topic)][-5:], read(self.errpath)))
        return got

    def sync(self, timeout=WAIT):
        """Returns once everything the broker had for this subscriber before
        now has arrived: a probe published now comes back after it."""
        self.nsync += 1
        tag = "sync-%d" % self.nsync
        deadline = now() + timeout
        while not self.all(self.probe, lambda m: m[3] == tag):
            check(now() < deadline, "probe %s never came back", tag)
            # The subscription may not be in place yet: publish again until it is.
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                            "-q", "1", "-t", self.probe, "-m", tag] + self.extra,
                           check=True, timeout=timeout)
            wait_for(lambda: self.all(self.probe, lambda m: m[3] == tag), 1.0, 0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.errf.close()


def json_of(msg):
    try:
        return json.loads(msg[3])
    except ValueError:
        raise Failure("not JSON on %s: %r" % (msg[2], msg[3][:200]))


# ---- ferd, ferctl and the bridge ----

def model_path(scratch):
    shipped = os.path.join(SOURCE_ROOT, "models", "default.fermodel")
    if os.path.exists(shipped):
        return shipped
    path = scratch.path("model.fermodel")
    if not os.path.exists(path):
        make_model(path)
    return path


def start_ferd(scratch, name="ferd", source=None, loop="yes"):
    d = Daemon(scratch, {"source": source or os.path.join(SOURCE_ROOT, "samples", "demo.avi"),
                         "model": model_path(scratch), "loop": loop, "realtime": "yes"},
               name=name)
    d.start(preexec=_die_with_parent)
    return d


class Bridge:
    def __init__(self, scratch, args, name="bridge"):
        self.logpath = scratch.path(name + ".log")
        self.args = [need_env("FERD_MQTT")] + list(args)
        self.proc = spawn(self.args, self.logpath)

    def log_text(self):
        return read(self.logpath)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        rc = stop_proc(self.proc)
        check(rc == 0, "ferd-mqtt exited %s on SIGTERM; log:\n%s", rc, self.log_text()[-2000:])

    def wait_exit(self, timeout=WAIT):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("ferd-mqtt still running after %.0f s; log:\n%s"
                          % (timeout, self.log_text()[-2000:]))
        self.proc._log.close()
        return self.proc.returncode


class Watch:
    """`ferctl watch --json` (optionally --events) on ferd's socket: the
    reference the bridge's messages are compared with."""

    def __init__(self, scratch, sock, events, name):
        self.objs = []
        self.lock = threading.Lock()
        argv = [need_env("FERCTL"), "--socket", sock, "watch", "--json"]
        if events:
            argv.append("--events")
        self.errf = open(scratch.path(name + ".err"), "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.errf,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _procs.append(self.proc)
        self.proc._log = self.errf
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        for raw in self.proc.stdout:
            try:
                o = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                self.objs.append(o)

    def of(self, cls):
        with self.lock:
            return [o for o in self.objs if o.get("class") == cls]

    def stop(self):
        stop_proc(self.proc)


def hostname_instance():
    name = socket.gethostname().split(".")[0]
    out = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
    return out or "ferd"


# ---- checks of messages ----

HA_COMPONENTS = ("sensor", "binary_sensor")


def check_discovery(sub, instance, classes, prefix="homeassistant"):
    """Every config of the instance: valid JSON with what Home Assistant needs."""
    node = "ferd_" + instance
    want = ["sensor/%s/faces" % node, "sensor/%s/expression" % node,
            "binary_sensor/%s/present" % node]
    want += ["sensor/%s/prob_%s" % (node, c) for c in classes]
    topics = ["%s/%s/config" % (prefix, w) for w in want]
    for t in topics:
        sub.wait(t, what="discovery config")
    uids = set()
    for t in topics:
        m = sub.all(t)[-1]
        check(m[1] or True, "")
        cfg = json_of(m)
        component = t.split("/")[1]
        check(component in HA_COMPONENTS, "unknown component in %s", t)
        for key in ("name", "unique_id", "state_topic", "availability_topic",
                    "value_template", "device"):
            check(key in cfg, "%s lacks %s: %s", t, key, cfg)
        check(cfg["state_topic"] == "ferd/%s/state" % instance, "%s state_topic %s", t,
              cfg["state_topic"])
        check(cfg["availability_topic"] == "ferd/%s/availability" % instance,
              "%s availability_topic %s", t, cfg["availability_topic"])
        check(cfg["device"].get("identifiers") == [node], "%s device %s", t, cfg["device"])
        check(cfg["unique_id"] not in uids, "unique_id %s twice", cfg["unique_id"])
        uids.add(cfg["unique_id"])
        check("value_json" in cfg["value_template"], "%s template %s", t, cfg["value_template"])
        if component == "binary_sensor":
            check(cfg.get("payload_on") == "ON" and cfg.get("payload_off") == "OFF",
                  "%s payloads %s", t, cfg)
    return len(topics)


def mine_key(o):
    """(event, id, frame, label) of a bridge event; ends have no label in ferd's."""
    label = None if o["event"] == "ended" else o["after"].get("label")
    return (o["event"], o["id"], o["seq"], label)


def ref_key(o):
    return (o["event"], o["id"], o["seq"], None if o["event"] == "ended" else o.get("label"))


def compare_events(sub, watch, instance):
    """The bridge's events against ferctl's FACE events over the frames both saw."""
    ev_topic = "ferd/%s/events" % instance
    mine = [json_of(m) for m in sub.all(ev_topic)]
    ref = watch.of("FACE")
    check(mine and ref, "no events to compare (bridge %d, ferctl %d)", len(mine), len(ref))
    lo = max(min(o["seq"] for o in mine), min(o["seq"] for o in ref))
    hi = min(max(o["seq"] for o in mine), max(o["seq"] for o in ref))
    # Frames at the edges may be partly seen by one side only.
    a = sorted(mine_key(o) for o in mine if lo < o["seq"] < hi)
    b = sorted(ref_key(o) for o in ref if lo < o["seq"] < hi)
    check(len(b) >= 3, "too few events in the common window %d..%d: %s", lo, hi, b)
    check(a == b, "events differ over frames %d..%d:\nbridge %s\nferctl %s", lo, hi, a, b)
    for o in mine:
        check(o["type"] in ("new", "update", "end"), "type %s", o["type"])
        check("before" in o and "after" in o, "before/after missing: %s", o)
        if o["type"] == "update":
            ref_o = [r for r in ref if r["seq"] == o["seq"] and r["id"] == o["id"]]
            if ref_o:
                check(o["before"]["label"] == ref_o[0]["from"], "before %s vs from %s",
                      o["before"], ref_o[0])
    return len(a)


def compare_states(sub, watch, instance):
    """Each state whose frame ferctl also received equals that RESULT."""
    by_seq = {o["seq"]: o for o in watch.of("RESULT")}
    states = [json_of(m) for m in sub.all("ferd/%s/state" % instance)]
    check(states, "no state message")
    matched = 0
    for st in states:
        check(st["dominant"] == "none" if st["faces"] == 0 else
              st["dominant"] in [t["label"] for t in st["tracks"]],
              "dominant %s not among %s", st["dominant"], st["tracks"])
        check(st["faces"] == len(st["tracks"]), "faces %d vs %d tracks", st["faces"],
              len(st["tracks"]))
        r = by_seq.get(st["seq"])
        if r is None:
            continue
        matched += 1
        got = [(t["id"], t["label"], t["prob"]) for t in st["tracks"]]
        want = [(f["id"], f["smoothed"]["label"], f["smoothed"]["prob"]) for f in r["faces"]]
        check(sorted(got) == sorted(want), "state of frame %d: %s, ferctl's RESULT: %s",
              st["seq"], got, want)
        if r["faces"]:
            # Class scores: the mean of the faces' scores of that frame.
            for c in r["faces"][0]["scores"]:
                mean = sum(f["scores"][c] for f in r["faces"]) / len(r["faces"])
                check(abs(st["scores"][c] - mean) < 2e-4, "score %s %g vs %g", c,
                      st["scores"][c], mean)
    check(matched >= 2, "only %d of %d states had a frame ferctl received too", matched,
          len(states))
    return matched, len(states)


# ---- the checks ----

def check_exact_interface():
    sc = Scratch("fmq-exact-")
    try:
        ferd = start_ferd(sc)
        broker = Broker(sc, "broker").start()
        sub = Sub(sc, broker, ["ferd/#", "homeassistant/#"])
        wev = Watch(sc, ferd.sock, True, "watch-events")
        wres = Watch(sc, ferd.sock, False, "watch-results")
        instance = hostname_instance()
        t0 = now()
        bridge = Bridge(sc, ["--socket", ferd.sock, "--broker", broker.url()])
        avail = "ferd/%s/availability" % instance
        sub.wait(avail, lambda m: m[3] == "online", what="online")
        # The first availability said is "online": no offline-online flap at start.
        check(sub.all(avail)[0][3] == "online", "availability began with %s", sub.all(avail)[0])
        status = json_of(sub.wait("ferd/%s/status" % instance, what="status")[0])
        classes = status["model"]["classes"]
        check("client_list" not in status, "status has client_list")
        check(status["instance"] == instance and "bridge" in status, "status: %s", status)
        nconf = check_discovery(sub, instance, classes)
        # Let events and states flow, then compare with ferctl.
        sub.wait("ferd/%s/events" % instance, count=10, timeout=60, what="10 events")
        span = now() - t0
        nev = compare_events(sub, wev, instance)
        matched, nstates = compare_states(sub, wres, instance)
        # At most state_max_rate (2) a second, plus the first one.
        check(nstates <= 2 * span + 2, "%d states in %.1f s", nstates, span)
        check(not sub.all("ferd/%s/results" % instance), "results published though off")
        bridge.stop()
        sub.wait(avail, lambda m: m[3] == "offline", what="offline after SIGTERM")
        wev.stop()
        wres.stop()
        sub.stop()
        broker.stop()
        ferd.stop()
        lines = [l for l in bridge.log_text().splitlines() if l.strip()]
        check(len(lines) <= 6, "a quiet run logged %d lines:\n%s", len(lines), "\n".join(lines))
        return ("%d configs, %d events equal to ferctl's, %d of %d states equal to ferctl's "
                "RESULTs" % (nconf, nev, matched, nstates))
    finally:
        kill_all()
        sc.cleanup()


def mosquitto_passwd(path, user, password):
    subprocess.run(["mosquitto_passwd", "-b", "-c", path, user, password], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def check_password():
    sc = Scratch("fmq-pw-")
    try:
        pwfile = sc.path("passwd")
        mosquitto_passwd(pwfile, "alice", "correct horse")
        os.chmod(pwfile, 0o600)
        broker = Broker(sc, "broker", ["allow_anonymous false", "password_file " + pwfile])
        broker.start()
        secret = sc.path("secret")
        with open(secret, "w") as f:
            f.write("correct horse\n")
        os.chmod(secret, 0o600)
        conf = sc.path("bridge.conf")
        with open(conf, "w") as f:
            f.write("username alice\npassword_file %s\ninstance pw\n" % secret)
        sub = Sub(sc, broker, ["ferd/pw/#"], ["-u", "alice", "-P", "correct horse"])
        # No ferd at all: the bridge still connects and says offline.
        args = ["--config", conf, "--socket", sc.path("absent.sock"), "--broker", broker.url()]
        b = Bridge(sc, args, "good")
        sub.wait("ferd/pw/availability", lambda m: m[3] == "offline", what="offline")
        check("connected to the broker" in b.log_text(), "log:\n%s", b.log_text())
        b.stop()

        with open(secret, "w") as f:
            f.write("wrong horse\n")
        bad = Bridge(sc, args, "bad")
        rc = bad.wait_exit()
        text = bad.log_text()
        check(rc == 3, "wrong password: exit %s, log:\n%s", rc, text)
        errs = [l for l in text.splitlines() if ": err: " in l]
        check(len(errs) == 1 and "refused" in errs[0] and "password_file" in errs[0],
              "wrong password: want one error line, got:\n%s", text)
        check("wrong horse" not in text and "correct horse" not in text, "password in the log")
        # A password on the command line is refused before anything is tried.
        r = subprocess.run([need_env("FERD_MQTT"), "--set", "password=hunter2", "--check-config"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and "password_file" in r.stderr and "hunter2" not in r.stderr,
              "--set password: exit %s, %s", r.returncode, r.stderr)
        sub.stop()
        broker.stop()
        return "right password connects; wrong one: exit 3, one line"
    finally:
        kill_all()
        sc.cleanup()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_cert(sc, name, ca, san):
    key, csr, crt, ext = (sc.path(name + s) for s in (".key", ".csr", ".crt", ".ext"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=" + name)
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", csr, "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def make_ca(sc, name):
    base = sc.path(name)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", base + ".key",
            "-out", base + ".crt", "-days", "2", "-subj", "/CN=" + name)
    return base


def check_tls():
    sc = Scratch("fmq-tls-")
    try:
        ca = make_ca(sc, "test-ca")
        other_ca = make_ca(sc, "other-ca")
        crt, key = make_cert(sc, "broker", ca, "IP:127.0.0.1")
        wrong_crt, wrong_key = make_cert(sc, "elsewhere", ca, "DNS:elsewhere.example")
        tls = ["cafile %s.crt" % ca, "certfile " + crt, "keyfile " + key]
        broker = Broker(sc, "broker", tls).start()
        ferd = start_ferd(sc, "tlsferd")
        sub = Sub(sc, broker, ["ferd/tls/#"], ["--cafile", ca + ".crt"])
        b = Bridge(sc, ["--socket", ferd.sock, "--broker", broker.url("mqtts"), "--instance",
                        "tls", "--set", "ca_file=%s.crt" % ca], "good")
        sub.wait("ferd/tls/availability", lambda m: m[3] == "online", what="online over TLS")
        sub.wait("ferd/tls/state", what="state over TLS")
        b.stop()

        cases = [
            ("untrusted", broker, ["--set", "ca_file=%s.crt" % other_ca], "not trusted"),
        ]
        wrong = Broker(sc, "wrong", ["cafile %s.crt" % ca, "certfile " + wrong_crt,
                                     "keyfile " + wrong_key]).start()
        cases.append(("wrong host", wrong, ["--set", "ca_file=%s.crt" % ca],
                      "not for the host \"127.0.0.1\""))
        for what, br, extra, want in cases:
            bad = Bridge(sc, ["--socket", ferd.sock, "--broker", br.url("mqtts")] + extra,
                         what.replace(" ", "-"))
            rc = bad.wait_exit()
            text = bad.log_text()
            errs = [l for l in text.splitlines() if ": err: " in l]
            check(rc == 4, "%s: exit %s, log:\n%s", what, rc, text)
            check(len(errs) == 1 and want in errs[0] and "TLS" in errs[0],
                  "%s: want one error line with %r, got:\n%s", what, want, text)
        # A broker that asks for a client certificate: cert_file and key_file.
        ccrt, ckey = make_cert(sc, "client", ca, "DNS:client.example")
        mutual = Broker(sc, "mutual", tls + ["require_certificate true"]).start()
        msub = Sub(sc, mutual, ["ferd/mtls/#"],
                   ["--cafile", ca + ".crt", "--cert", ccrt, "--key", ckey], name="msub")
        b = Bridge(sc, ["--socket", ferd.sock, "--broker", mutual.url("mqtts"), "--instance",
                        "mtls", "--set", "ca_file=%s.crt" % ca, "--set", "cert_file=" + ccrt,
                        "--set", "key_file=" + ckey], "mutual")
        msub.wait("ferd/mtls/availability", lambda m: m[3] == "online",
                  what="online with a client certificate")
        b.stop()
        # Without one, the broker ends the handshake: one line, exit 4.
        bad = Bridge(sc, ["--socket", ferd.sock, "--broker", mutual.url("mqtts"),
                          "--set", "ca_file=%s.crt" % ca], "no-cert")
        rc = bad.wait_exit()
        text = bad.log_text()
        errs = [l for l in text.splitlines() if ": err: " in l]
        check(rc == 4 and len(errs) == 1 and "TLS" in errs[0],
              "no client certificate: exit %s, log:\n%s", rc, text)
        msub.stop()
        mutual.stop()
        sub.stop()
        wrong.stop()
        broker.stop()
        ferd.stop()
        return ("ca_file connects, and with a client certificate; untrusted CA, wrong host and "
                "a missing client certificate: exit 4, one line each")
    finally:
        kill_all()
        sc.cleanup()


def check_broker_restart():
    sc = Scratch("fmq-restart-")
    try:
        ferd = start_ferd(sc)
        port = free_port()
        broker = Broker(sc, "broker", port=port)
        # The broker is not there yet: the bridge waits for it.
        b = Bridge(sc, ["--socket", ferd.sock, "--broker", "mqtt://127.0.0.1:%d" % port,
                        "--instance", "rs", "--set", "retry_max_ms=1000",
                        "--set", "queue_max_messages=2", "--set", "status_interval=1"])
        check(wait_for(lambda: "not reachable" in b.log_text(), WAIT),
              "no outage line; log:\n%s", b.log_text())
        broker.start()
        sub = Sub(sc, broker, ["ferd/rs/#", "homeassistant/+/ferd_rs/+/config"], name="sub1")
        sub.wait("ferd/rs/availability", lambda m: m[3] == "online", what="online")
        sub.wait("homeassistant/sensor/ferd_rs/faces/config", what="config")
        sub.wait("ferd/rs/events", what="an event")
        sub.stop()

        # Gone while events flow: they pile up in a queue of 2.
        broker.kill()
        check(wait_for(lambda: "lost the broker" in b.log_text(), WAIT),
              "loss not logged; log:\n%s", b.log_text())
        check(wait_for(lambda: "queue is full" in b.log_text(), 60),
              "no drop while the broker was away; log:\n%s", b.log_text())
        broker = Broker(sc, "broker", port=port).start()
        sub = Sub(sc, broker, ["ferd/rs/#", "homeassistant/+/ferd_rs/+/config"], name="sub2")
        # A broker without persistence forgot everything: the bridge says it again.
        sub.wait("ferd/rs/availability", lambda m: m[3] == "online", what="online again")
        sub.wait("homeassistant/sensor/ferd_rs/faces/config", what="config again")
        sub.wait("ferd/rs/state", what="state again")
        st = sub.wait("ferd/rs/status",
                      lambda m: json_of(m)["bridge"]["dropped"] > 0, what="dropped counted")
        dropped = json_of(st[-1])["bridge"]["dropped"]
        check(wait_for(lambda: "drained" in b.log_text(), WAIT), "no drained line; log:\n%s",
              b.log_text())
        text = b.log_text()
        check(text.count("queue is full") == 1 and text.count("drained") == 1,
              "drops logged more than once:\n%s", text)
        check(text.count("not reachable") == 1, "outage logged per attempt:\n%s", text)
        check(b.alive(), "bridge died")
        b.stop()
        sub.stop()
        broker.stop()
        ferd.stop()
        return "reconnected twice; %d message(s) dropped while away, logged once" % dropped
    finally:
        kill_all()
        sc.cleanup()


def check_ferd_restart():
    sc = Scratch("fmq-ferd-")
    try:
        ferd = start_ferd(sc)
        broker = Broker(sc, "broker").start()
        sub = Sub(sc, broker, ["ferd/fr/#"])
        b = Bridge(sc, ["--socket", ferd.sock, "--broker", broker.url(), "--instance", "fr",
                        "--set", "retry_max_ms=1000"])
        sub.wait("ferd/fr/availability", lambda m: m[3] == "online", what="online")
        sub.wait("ferd/fr/events", what="an event")
        t_stop = now()
        ferd.stop()
        sub.wait("ferd/fr/availability", lambda m: m[3] == "offline" and m[0] > t_stop,
                 what="offline while ferd is down")
        t_start = now()
        ferd.start(preexec=_die_with_parent)
        sub.wait("ferd/fr/availability", lambda m: m[3] == "online" and m[0] > t_start,
                 what="online after ferd restarted")
        ev = sub.wait("ferd/fr/events", lambda m: m[0] > t_start, what="events after restart")
        check(json_of(ev[0])["seq"] < 2000, "events of the new ferd start from its frame 1")
        check(b.alive(), "bridge died")
        text = b.log_text()
        check(text.count("lost ferd") == 1 and text.count("is back") == 1,
              "the outage logged once each way:\n%s", text)
        b.stop()
        sub.stop()
        broker.stop()
        ferd.stop()
        return "offline while ferd was down, online and events after"
    finally:
        kill_all()
        sc.cleanup()


def check_two_instances():
    sc = Scratch("fmq-two-")
    try:
        fa = start_ferd(sc, "alpha")
        fb = start_ferd(sc, "beta")
        broker = Broker(sc, "broker").start()
        sub = Sub(sc, broker, ["ferd/#", "homeassistant/#"])
        ba = Bridge(sc, ["--socket", fa.sock, "--broker", broker.url()], "bridge-a")
        bb = Bridge(sc, ["--socket", fb.sock, "--broker", broker.url()], "bridge-b")
        # Instances from the socket names (alpha.sock, beta.sock), as for ferd@NAME.
        for inst in ("alpha", "beta"):
            sub.wait("ferd/%s/availability" % inst, lambda m: m[3] == "online",
                     what="online of " + inst)
            sub.wait("ferd/%s/state" % inst, what="state of " + inst)
            sub.wait("homeassistant/binary_sensor/ferd_%s/present/config" % inst,
                     what="device of " + inst)
        ba.stop()
        bb.stop()
        sub.stop()
        broker.stop()
        fa.stop()
        fb.stop()
        return "ferd/alpha and ferd/beta on one broker, two devices"
    finally:
        kill_all()
        sc.cleanup()


def check_remove_discovery():
    sc = Scratch("fmq-remove-")
    try:
        ferd = start_ferd(sc)
        broker = Broker(sc, "broker").start()
        sub = Sub(sc, broker, ["ferd/#", "homeassistant/#"])
        bridges = []
        for inst in ("gone", "kept"):
            bridges.append(Bridge(sc, ["--socket", ferd.sock, "--broker", broker.url(),
                                       "--instance", inst, "--set", "status_interval=1"],
                                  "bridge-" + inst))
        for inst in ("gone", "kept"):
            sub.wait("homeassistant/sensor/ferd_%s/prob_happy/config" % inst, what="configs")
            sub.wait("ferd/%s/state" % inst, what="state")
            sub.wait("ferd/%s/status" % inst, what="status")
        for b in bridges:
            b.stop()
        sub.stop()
        r = subprocess.run([need_env("FERD_MQTT"), "--remove-discovery", "--instance", "gone",
                            "--broker", broker.url()], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "--remove-discovery: exit %s\n%s%s", r.returncode, r.stdout,
              r.stderr)
        cleared = [l.split(" ", 1)[1] for l in r.stdout.splitlines() if l.startswith("cleared ")]
        check("homeassistant/sensor/ferd_gone/prob_happy/config" in cleared and
              "ferd/gone/availability" in cleared and "ferd/gone/state" in cleared,
              "cleared: %s", cleared)
        # What a newcomer to the broker finds retained now.
        after = Sub(sc, broker, ["ferd/#", "homeassistant/#"], name="after")
        after.sync()
        left = sorted({m[2] for m in after.all() if m[1]})
        check(not [t for t in left if "gone" in t], "retained after removal: %s", left)
        check("homeassistant/sensor/ferd_kept/faces/config" in left, "the other instance lost "
              "its configs: %s", left)
        after.stop()
        broker.stop()
        ferd.stop()
        return "%d topics cleared, the other instance untouched" % len(cleared)
    finally:
        kill_all()
        sc.cleanup()


def check_source_stall():
    sc = Scratch("fmq-stall-")
    try:
        clip = sc.path("short.avi")
        secs = make_clip(clip, frames=45)
        # The clip plays once and ends: frames stop while ferd is there.
        ferd = start_ferd(sc, source=clip, loop="no")
        broker = Broker(sc, "broker").start()
        sub = Sub(sc, broker, ["ferd/st/#"])
        b = Bridge(sc, ["--socket", ferd.sock, "--broker", broker.url(), "--instance", "st",
                        "--set", "state_stall_seconds=2"])
        sub.wait("ferd/st/state", lambda m: json_of(m)["faces"] > 0, timeout=WAIT + secs,
                 what="a state with a face")
        st = sub.wait("ferd/st/state", lambda m: json_of(m).get("stalled") is True,
                      timeout=WAIT + secs, what="the stalled state after the clip ended")
        last = json_of(st[-1])
        check(last["faces"] == 0 and last["dominant"] == "none" and last["tracks"] == [],
              "stalled state: %s", last)
        check(sub.all("ferd/st/availability")[-1][3] == "online", "ferd is still there")
        check("no frame from ferd" in b.log_text(), "log:\n%s", b.log_text())
        b.stop()
        sub.stop()
        broker.stop()
        ferd.stop()
        return "no faces, stalled, after the clip ended"
    finally:
        kill_all()
        sc.cleanup()


CHECKS = [check_exact_interface, check_password, check_tls, check_broker_restart,
          check_ferd_restart, check_two_instances, check_remove_discovery, check_source_stall]


def main():
    for tool in ("mosquitto", "mosquitto_sub", "mosquitto_pub", "mosquitto_passwd", "openssl"):
        if not shutil.which(tool):
            log("SKIP: %s is not installed (tools/install-deps.sh installs it)", tool)
            return 77
    names = {c.__name__: c for c in CHECKS}
    argv = [sys.argv[0]] + ["check_" + a if not a.startswith("check_") else a
                            for a in sys.argv[1:]]
    for a in argv[1:]:
        if a not in names:
            log("unknown check %s; known: %s", a, " ".join(n[6:] for n in names))
            return 2
    failed = 0
    for c in CHECKS:
        if len(argv) > 1 and c.__name__ not in argv[1:]:
            continue
        t0 = now()
        try:
            r = c()
            log("ok   %s (%.1f s): %s", c.__name__[6:], now() - t0, r)
        except Exception as e:  # a Failure, or a bug of this script: both fail the check
            failed += 1
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
            log("FAIL %s (%.1f s): %s", c.__name__[6:], now() - t0, detail)
        finally:
            kill_all()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
