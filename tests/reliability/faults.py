#!/usr/bin/python3
"""faults.py — fault injection (issue 7, item 4): ferd and `fer` when their
environment fails under them.

  source_lost_and_back  the clip ferd plays is renamed away mid-run, then back:
                        STATUS says reconnecting (naming the file) while it is
                        gone, then streaming again, and a watcher gets results
                        again with seq still increasing.
  corrupt_model_sighup  the model file is replaced (atomically, as an admin's
                        cp would not be) by a truncated copy, by garbage, by an
                        empty file, and removed, each followed by SIGHUP: every
                        time the log names the file and the reason, the old
                        model keeps serving and a watcher keeps receiving;
                        then a good new model + SIGHUP serves the new one.
  disk_full             `fer train` on a small tmpfs that fills up after its
                        first epoch: the next write fails with a clear error
                        naming the file, no temporary file is left, the
                        checkpoint is byte-identical to the one written before,
                        and once space is back --resume finishes the run with
                        the same history as a run that was never interrupted;
                        `fer eval --report` on the full disk fails clearly and
                        leaves the previous report intact.
  kill9_checkpoint      `fer train` is killed with SIGKILL the instant its
                        checkpoint's temporary file appears (inotify), several
                        times in a row: each time the last checkpoint loads
                        (--resume goes on from it), and the run that was
                        killed and resumed ends with the same history (losses,
                        accuracies) as one never interrupted.

Needs root for the tmpfs mount of disk_full (skipped otherwise). Exit status:
0 passed, 1 a check failed, 77 all skipped.
"""

import ctypes
import ctypes.util
import hashlib
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ferdtest import (Daemon, Scratch, check, log, make_clip, make_model,  # noqa: E402
                      need_env, now, run_checks, wait_for)


def status_state(d):
    return d.status()["source"]


# ---- ferd ----------------------------------------------------------------------

def source_lost_and_back():
    s = Scratch("ferd-fault-src-")
    try:
        model = s.path("model.fermodel")
        make_model(model)
        clip = s.path("clip.avi")
        secs = make_clip(clip, 30)
        d = Daemon(s, {"source": clip, "model": model, "loop": "yes"})
        d.start()
        w = d.client()
        w.request({"class": "WATCH"})
        w.expect("WATCH")
        first = w.expect("RESULT", 10)["seq"]
        check(status_state(d)["state"] == "streaming", "not streaming at the start")
        os.rename(clip, clip + ".gone")
        # The open file plays to its end; the reopen for the next loop fails.
        src = wait_for(lambda: (lambda x: x if x["state"] == "reconnecting" else None)(
            status_state(d)), secs + 10)
        check(src is not None, "no 'reconnecting' within %.0f s of the clip vanishing", secs + 10)
        check("clip.avi" in src.get("error", ""), "STATUS error does not name the file: %r",
              src.get("error"))
        captured = d.status()["frames"]["captured"]
        time.sleep(1.0)
        check(d.status()["frames"]["captured"] == captured, "frames captured while the file is gone")
        # Results stop; the connection stays.
        while w.message(0.2) is not None:
            pass
        check(not w.eof, "the watcher was disconnected while the source was gone")
        os.rename(clip + ".gone", clip)
        src = wait_for(lambda: (lambda x: x if x["state"] == "streaming" else None)(
            status_state(d)), 10)
        check(src is not None, "not streaming again within 10 s of the file coming back")
        check(src.get("reopens", 0) >= 1, "reopens not counted: %r", src)
        seq = w.expect("RESULT", 10)["seq"]
        check(seq > first, "seq went back after the reopen: %d then %d", first, seq)
        w.close()
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        return "reconnecting after %.1f s of clip, streaming again, reopens %d" % (
            secs, src["reopens"])
    finally:
        s.cleanup()


def corrupt_model_sighup():
    s = Scratch("ferd-fault-model-")
    try:
        model = s.path("model.fermodel")
        make_model(model, "alpha", 7)
        good = open(model, "rb").read()
        d = Daemon(s, {"source": os.path.join(os.environ.get("FER_SOURCE_ROOT", "."), "samples",
                                              "demo.avi"), "model": model, "loop": "yes"})
        d.start()
        w = d.client()
        w.request({"class": "WATCH"})
        w.expect("WATCH")
        w.expect("RESULT", 10)
        bad = {
            "truncated": good[: len(good) // 2],
            "garbage": bytes(random.Random(3).getrandbits(8) for _ in range(4096)),
            "empty": b"",
            "flipped": good[:200] + bytes([good[200] ^ 0xFF]) + good[201:],
        }
        tried = []
        for name, data in list(bad.items()) + [("missing", None)]:
            tmp = model + ".new"
            if data is None:
                os.unlink(model)
            else:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.rename(tmp, model)
            mark = len(d.log_text())
            d.signal(signal.SIGHUP)
            line = wait_for(lambda: next((ln for ln in d.log_text()[mark:].splitlines()
                                          if "reload:" in ln and "keeps serving" in ln), None), 15)
            check(line is not None, "%s model: no reload error in the log; log:\n%s", name,
                  d.log_text()[mark:])
            check("model.fermodel" in line, "%s model: the log line does not name the file: %s",
                  name, line)
            st = d.status()
            check(st["model"]["name"] == "alpha", "%s model: serving %s", name, st["model"]["name"])
            n = 0
            t0 = now()
            while n < 5 and now() - t0 < 10:
                m = w.message(1)
                n += m is not None and m.get("class") == "RESULT"
            check(n >= 5, "%s model: the watcher stopped receiving results", name)
            check(d.alive(), "ferd died on the %s model", name)
            tried.append("%s: %s" % (name, line.split("reload:", 1)[1].strip()[:90]))
        make_model(model + ".beta", "beta", 8)
        os.rename(model + ".beta", model)
        d.signal(signal.SIGHUP)
        ok = wait_for(lambda: d.status()["model"]["name"] == "beta", 15)
        check(ok, "the good model was not loaded after SIGHUP")
        w.expect("RESULT", 10)
        w.close()
        rc = d.stop()
        check(rc == 0, "ferd exit status %s", rc)
        for t in tried:
            log("     %s", t)
        return "%d corrupt models refused, old model served throughout, good one loaded" % len(
            tried)
    finally:
        s.cleanup()


def unread_notify_socket():
    """A service manager that never reads NOTIFY_SOCKET (F7): the queue fills,
    and ferd must drop notifications rather than block its loop thread."""
    s = Scratch("ferd-fault-notify-")
    try:
        model = s.path("model.fermodel")
        make_model(model, "alpha", 7)
        d = Daemon(s, {"source": os.path.join(os.environ.get("FER_SOURCE_ROOT", "."), "samples",
                                              "demo.avi"), "model": model, "loop": "yes",
                      "requests_per_second": "10000", "request_burst": "10000"})
        d.start(read_notes=False)
        c = d.client()
        n = 400  # 3 datagrams each; a unix datagram queue holds a few hundred
        t0 = now()
        for i in range(n):
            c.request({"class": "RELOAD"})
            m = c.expect("RELOAD", 30)
            check(m.get("ok", True) is not False, "RELOAD %d answered %s", i, m)
        took = now() - t0
        st = d.status()
        check(st["model"]["name"] == "alpha", "serving %s after the reloads", st["model"]["name"])
        log_ = d.log_text()
        check("not reading NOTIFY_SOCKET" in log_, "no log line about dropped notifications; "
              "log:\n%s", log_[-2000:])
        c.close()
        rc = d.stop(10)
        check(rc == 0, "ferd exit status %s", rc)
        dropped = re.search(r"(\d+) notifications to the service manager were dropped",
                            d.log_text())
        check(dropped is not None, "no count of dropped notifications at exit")
        return ("%d RELOADs answered in %.1f s with nobody reading NOTIFY_SOCKET; %s "
                "notifications dropped; SIGTERM stopped it, exit 0" % (n, took, dropped.group(1)))
    finally:
        s.cleanup()


# ---- fer train -----------------------------------------------------------------

def write_csv(path, rows_train=64, rows_val=16, side=48, seed=1):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("emotion,pixels,Usage\n")
        for i in range(rows_train + rows_val + 8):
            usage = "Training" if i < rows_train else (
                "PublicTest" if i < rows_train + rows_val else "PrivateTest")
            f.write("%d,%s,%s\n" % (i % 7, " ".join(str(rnd.randrange(256))
                                                    for _ in range(side * side)), usage))


TRAIN_ARGS = ["--arch", "default", "--epochs", "4", "--batch", "16", "--quiet", "--threads", "1"]


def train(data, out, extra=(), **kw):
    return subprocess.run([need_env("FER_BIN"), "train", "--data", data, "--out", out]
                          + TRAIN_ARGS + list(extra), capture_output=True, text=True, **kw)


def history_rows(out):
    """history.csv without the seconds column (the only one that may differ
    between a resumed run and an uninterrupted one)."""
    with open(os.path.join(out, "history.csv")) as f:
        lines = f.read().strip().splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if "second" not in h and "time" not in h]
    return [[ln.split(",")[i] for i in keep] for ln in lines[1:]]


def temporaries(out):
    return sorted(n for n in os.listdir(out) if ".tmp." in n)


def reference_history(s, data):
    ref = s.path("reference")
    r = train(data, ref)
    check(r.returncode == 0, "reference training failed: %s", r.stderr)
    return history_rows(ref)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fill(path):
    """Writes path until the file system is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError:
                break
        try:
            while True:
                n += f.write(b"\0" * 512)
        except OSError:
            pass
    return n


def disk_full():
    if os.geteuid() != 0:
        return "skip"
    s = Scratch("ferd-fault-disk-")
    mnt = s.path("mnt")
    os.mkdir(mnt)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log("     cannot mount a tmpfs (%s): skipped", r.stderr.strip())
            return "skip"
        data = s.path("data.csv")
        write_csv(data)
        ref = reference_history(s, data)
        out = os.path.join(mnt, "run")
        p = subprocess.Popen([need_env("FER_BIN"), "train", "--data", data, "--out", out]
                             + TRAIN_ARGS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        ck = os.path.join(out, "checkpoint.ferckpt")
        # After epoch 1 the checkpoint is the last file written; fill the disk
        # as soon as it is complete (no temporary beside it).
        got = wait_for(lambda: os.path.exists(ck) and not temporaries(out), 60, 0.005)
        check(got, "no first checkpoint")
        before = sha(ck)
        filled = fill(os.path.join(mnt, "filler"))
        _, err = p.communicate(timeout=120)
        check(p.returncode != 0, "fer train succeeded on a full disk")
        check("No space left on device" in err, "unclear error on a full disk: %r", err)
        check(out in err, "the error does not name the file: %r", err)
        check(not temporaries(out), "temporary files left: %s", temporaries(out))
        check(sha(ck) == before, "the checkpoint changed on the full disk")
        rows_at_failure = len(history_rows(out))
        # A report on the full disk: fails, and the old report stays.
        rep = os.path.join(mnt, "report")
        os.remove(os.path.join(mnt, "filler"))
        r = subprocess.run([need_env("FER_BIN"), "eval", "--data", data, "--model",
                            os.path.join(out, "last.fermodel"), "--report", rep],
                           capture_output=True, text=True)
        check(r.returncode == 0, "fer eval --report failed with space: %s", r.stderr)
        reports = {n: sha(os.path.join(rep, n)) for n in os.listdir(rep)}
        fill(os.path.join(mnt, "filler"))
        r = subprocess.run([need_env("FER_BIN"), "eval", "--data", data, "--model",
                            os.path.join(out, "best.fermodel"), "--report", rep],
                           capture_output=True, text=True)
        check(r.returncode != 0, "fer eval --report succeeded on a full disk")
        check("No space left on device" in r.stderr, "unclear report error: %r", r.stderr)
        check({n: sha(os.path.join(rep, n)) for n in os.listdir(rep)} == reports,
              "the previous report changed on a full disk: %s", sorted(os.listdir(rep)))
        eval_err = r.stderr.strip().splitlines()[-1]
        # Space back: --resume finishes the run as if nothing happened.
        os.remove(os.path.join(mnt, "filler"))
        r = train(data, out, ["--resume"])
        check(r.returncode == 0, "--resume after the full disk failed: %s", r.stderr)
        check(history_rows(out) == ref, "resumed history differs from the uninterrupted "
              "run:\n%s\n%s", history_rows(out), ref)
        log("     train: %s", err.strip().splitlines()[-1])
        log("     eval:  %s", eval_err)
        return ("filled %d KiB after epoch 1; failed at epoch %d with ENOSPC, checkpoint "
                "intact, resumed to the reference history" % (filled // 1024,
                                                              rows_at_failure + 1))
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        s.cleanup()


def checkpoint_epoch(path):
    """The finished epochs a checkpoint holds (its JSON header's state.epoch)."""
    with open(path, "rb") as f:
        head = f.read(16)
        check(head[:8] == b"FERCKPT\0", "%s: not a checkpoint", path)
        n = struct.unpack_from("<I", head, 12)[0]
        return json.loads(f.read(n))["state"]["epoch"]


# inotify through libc (the standard library has no binding).
IN_CREATE = 0x100


class Inotify:
    def __init__(self, path):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        check(self.fd >= 0, "inotify_init1 failed")
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), IN_CREATE)
        check(wd >= 0, "inotify_add_watch failed")

    def names(self):
        """Blocks until events arrive; yields the names created."""
        data = os.read(self.fd, 65536)
        pos = 0
        while pos + 16 <= len(data):
            _, mask, _, ln = struct.unpack_from("iIII", data, pos)
            name = data[pos + 16: pos + 16 + ln].rstrip(b"\0").decode()
            pos += 16 + ln
            yield mask, name

    def close(self):
        os.close(self.fd)


def kill9_checkpoint():
    s = Scratch("ferd-fault-kill-")
    try:
        data = s.path("data.csv")
        write_csv(data)
        ref = reference_history(s, data)
        out = s.path("run")
        os.mkdir(out)
        rounds = 3
        mid_write = 0
        epochs_done = []
        for rnd in range(rounds):
            ino = Inotify(out)
            args = [need_env("FER_BIN"), "train", "--data", data, "--out", out] + TRAIN_ARGS
            if rnd > 0:
                args.append("--resume")
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Each round lets one checkpoint be written whole (the run makes
            # progress) and kills the process as the next one is being written.
            seen = 0
            killed = False
            t0 = now()
            while not killed and now() - t0 < 120 and p.poll() is None:
                for mask, name in ino.names():
                    if name.startswith("checkpoint.ferckpt.tmp."):
                        seen += 1
                        if seen >= 2:
                            p.send_signal(signal.SIGKILL)
                            killed = True
                            break
            p.wait()
            ino.close()
            check(killed and p.returncode == -signal.SIGKILL,
                  "round %d: not killed mid-checkpoint (status %s)", rnd, p.returncode)
            mid_write += bool(temporaries(out))
            epochs_done.append(checkpoint_epoch(os.path.join(out, "checkpoint.ferckpt")))
        check(epochs_done == list(range(1, rounds + 1)), "checkpoints after the kills hold "
              "epochs %s", epochs_done)
        r = train(data, out, ["--resume"])
        check(r.returncode == 0, "the final --resume failed: %s", r.stderr)
        check(history_rows(out) == ref, "history after %d kills differs from the "
              "uninterrupted run:\n%s\n%s", rounds, history_rows(out), ref)
        stray = temporaries(out)
        check(not stray, "partial temporaries of the killed runs still there after --resume "
              "(F2): %s", stray)
        check("partial file" in r.stderr, "--resume did not say it removed the partial files: %s",
              r.stderr)
        return ("%d SIGKILLs during a checkpoint write (%d of them left a partial temporary "
                "file), the checkpoint held epochs %s and each --resume went on from it; final "
                "history equal to the uninterrupted run; the next run removed the partial files, %d left"
                % (rounds, mid_write, epochs_done, len(stray)))
    finally:
        s.cleanup()


CHECKS = [source_lost_and_back, corrupt_model_sighup, unread_notify_socket, disk_full, kill9_checkpoint]

if __name__ == "__main__":
    sys.exit(run_checks(CHECKS, sys.argv))
