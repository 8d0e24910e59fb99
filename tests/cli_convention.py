#!/usr/bin/python3
"""cli_convention.py — fer, ferd, ferctl, ferd-mqtt and ferd-http share one
command-line convention (python -m ferd's is tested in tests/python/test_cli.py).

Checked on the real binaries (util/cli.h states the convention):
  - a usage error exits 64 in all three, with exactly one line on stderr
    ("PROG: ...; see 'PROG --help'"), a did-you-mean for a near miss of a
    command or an option, and nothing on stdout;
  - the shared short options mean the same everywhere: -h help, -V version,
    -m model, -S socket, -o output (ferd has no -o and says what to use);
  - the output format follows the file name (ferctl snapshot -o x.png writes a
    PNG, x.jpg a JPEG, x.gif is refused before anything is asked), '-o -' is
    stdout (fer analyze, ferctl snapshot);
  - a socket ferd cannot create is explained: a missing directory, a
    directory it may not write (as another user, when run as root), a live
    daemon on the path, a file in the way — each naming the path, exit 1.
Needs FER_BIN, FERD_BIN, FERCTL, FERD_MQTT_BIN, FERD_HTTP_BIN, FER_SOURCE_ROOT
(meson; suite 'client').
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reliability"))
from ferdtest import Daemon, Scratch, SOURCE_ROOT, check, need_env, run_checks  # noqa: E402

MODEL = os.path.join(SOURCE_ROOT, "models", "default.fermodel")
CLIP = os.path.join(SOURCE_ROOT, "samples", "demo.avi")


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def usage_error(argv, *want):
    p = run(argv)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 64, "%s: exit %d, expected 64 (stderr %r)", argv[1:], p.returncode,
          p.stderr)
    check(len(lines) == 1, "%s: %d lines on stderr: %r", argv[1:], len(lines), p.stderr)
    check(p.stdout == "", "%s: stdout %r", argv[1:], p.stdout)
    check("see '" in lines[0] and "--help'" in lines[0], "%s: no pointer to --help: %s",
          argv[1:], lines[0])
    for w in want:
        check(w in lines[0], "%s: %r not in %r", argv[1:], w, lines[0])
    return lines[0]


def usage_errors():
    fer, ferd, ferctl = need_env("FER_BIN"), need_env("FERD_BIN"), need_env("FERCTL")
    usage_error([ferctl, "stauts"], "ferctl: unknown command 'stauts' (did you mean 'status'?)")
    usage_error([fer, "clasify"], "fer: unknown command 'clasify' (did you mean 'classify'?)")
    usage_error([fer], "fer: ")
    usage_error([ferctl], "ferctl: ")
    usage_error([ferctl, "watch", "--evnets"], "ferctl watch: unknown option '--evnets' "
                "(did you mean '--events'?)")
    usage_error([fer, "classify", "--modle", "m", "x.png"], "(did you mean '--model'?)")
    usage_error([ferd, "--sokcet", "x"], "ferd: unknown option '--sokcet' "
                "(did you mean '--socket'?)")
    # A slip before the command is named first, not its value taken for the command.
    usage_error([ferctl, "--sokcet", "x", "stauts"], "ferctl: unknown option '--sokcet' "
                "(did you mean '--socket'?)")
    usage_error([ferctl, "--sokcet=x", "status"], "ferctl: unknown option '--sokcet' (did")
    usage_error([ferctl, "watch", "--evnets", "--count", "x"], "unknown option '--evnets'")
    usage_error([fer, "--verison"], "fer: unknown option '--verison' (did you mean "
                "'--version'?)")
    usage_error([fer, "--modle", "m", "classify"], "options follow the command")
    usage_error([ferd, "--sokcet", "x", "stray"], "unknown option '--sokcet'")
    usage_error([ferd, "--socket"], "needs a value")
    usage_error([ferctl, "watch", "--count"], "needs a value")
    usage_error([fer, "analyze", "--output"], "needs a value")
    usage_error([ferd, "stray"], "unexpected argument 'stray'")
    usage_error([ferctl, "status", "stray"], "unexpected argument 'stray'")
    usage_error([fer, "info"], "fer info:")
    usage_error([ferctl, "watch", "--count", "many"], "--count")
    usage_error([fer, "train", "--data", "x"], "--out")
    usage_error([ferd, "--set", "nokey"], "KEY=VALUE")
    # ferd has no -o; it says what -o means elsewhere and what to use.
    usage_error([ferd, "-o", "allow_images=yes"], "--set KEY=VALUE")
    usage_error([ferctl, "snapshot", "-o", "x.gif"], ".png")
    usage_error([ferctl, "snapshot", "-o", "-", "--json"], "stdout")
    usage_error([fer, "analyze", CLIP, "-o", "x.txt"], ".csv")
    # The bridges: the same one line, did-you-mean and 64.
    for prog in (need_env("FERD_MQTT_BIN"), need_env("FERD_HTTP_BIN")):
        name = os.path.basename(prog)
        usage_error([prog, "--sokcet", "x"], "%s: unknown option '--sokcet' "
                    "(did you mean '--socket'?)" % name)
        usage_error([prog, "--sokcet", "x", "stray"], "%s: unknown option '--sokcet' "
                    "(did you mean '--socket'?)" % name)
        usage_error([prog, "--check-confgi"], "(did you mean '--check-config'?)")
        usage_error([prog, "--socket"], "%s: option '--socket' needs a value" % name)
        usage_error([prog, "-S"], "needs a value")
        usage_error([prog, "stray"], "%s: unexpected argument 'stray'" % name)
        usage_error([prog, "--set", "nokey"], "KEY=VALUE")
        usage_error([prog, "-o", "log_level=debug"], name + ": ")
        p = run([prog, "-h"])
        check(p.returncode == 0 and "usage:" in p.stdout, "%s -h: %d", name, p.returncode)
        p = run([prog, "-V"])
        check(p.returncode == 0 and "0." in p.stdout, "%s -V: %d %r", name, p.returncode,
              p.stdout)
    usage_error([need_env("FERD_HTTP_BIN"), "--lisen", "x"], "(did you mean '--listen'?)")
    # ferd-mqtt's -o was --set; it now says what -o means elsewhere and what to use.
    usage_error([need_env("FERD_MQTT_BIN"), "-o", "log_level=debug"], "--set KEY=VALUE")


def short_options():
    fer, ferd, ferctl = need_env("FER_BIN"), need_env("FERD_BIN"), need_env("FERCTL")
    for argv in ([fer, "-h"], [ferd, "-h"], [ferctl, "-h"], [fer, "analyze", "-h"],
                 [ferctl, "watch", "-h"]):
        p = run(argv)
        check(p.returncode == 0 and "usage:" in p.stdout, "%s: %d %r", argv, p.returncode,
              p.stdout[:200])
    for argv in ([fer, "-V"], [ferd, "-V"], [ferctl, "-V"]):
        p = run(argv)
        check(p.returncode == 0 and "0." in p.stdout, "%s: %d %r", argv, p.returncode, p.stdout)
    # -m is the model for fer's commands as for ferd (--check-config reads it).
    p = run([fer, "classify", "-m", "/nonexistent.fermodel",
             os.path.join(SOURCE_ROOT, "tests", "fixtures", "face.png")])
    check(p.returncode == 1 and "/nonexistent.fermodel" in p.stderr, "fer classify -m: %s",
          p.stderr)
    p = run([ferd, "--check-config", "-m", "/nonexistent.fermodel"])
    check(p.returncode == 1 and "/nonexistent.fermodel" in p.stderr, "ferd -m: %s", p.stderr)
    # -S is the socket for ferctl as for ferd.
    p = run([ferctl, "-S", "/nonexistent/s.sock", "status"])
    check(p.returncode == 2 and "/nonexistent/s.sock" in p.stderr, "ferctl -S: %s", p.stderr)
    p = run([ferctl, "status", "-S", "/nonexistent/s.sock"])
    check(p.returncode == 2 and "/nonexistent/s.sock" in p.stderr, "ferctl status -S: %s",
          p.stderr)


def bind_failures():
    ferd = need_env("FERD_BIN")
    s = Scratch("ferd_cli_")
    try:
        base = [ferd, "--model", MODEL, "--source", CLIP]
        # A missing directory is named as such (libuv calls it "permission denied").
        sock = s.path("nodir/ferd.sock")
        p = run(base + ["--socket", sock], timeout=300)
        check(p.returncode == 1 and "the directory %s does not exist" % s.path("nodir")
              in p.stderr, "missing directory: %d %s", p.returncode, p.stderr)
        # A file in the way.
        f = s.path("file.sock")
        open(f, "w").close()
        p = run(base + ["--socket", f], timeout=300)
        check(p.returncode == 1 and "not a socket" in p.stderr and f in p.stderr,
              "a file in the way: %s", p.stderr)
        # A live daemon on the path: address in use.
        d = Daemon(s, {"source": CLIP, "model": MODEL}).start()
        try:
            p = run(base + ["--socket", d.sock], timeout=300)
            check(p.returncode == 1 and "address in use" in p.stderr and d.sock in p.stderr,
                  "address in use: %s", p.stderr)
        finally:
            check(d.stop() == 0, "ferd did not stop cleanly")
        # A directory the user may not write: as nobody, when we are root.
        if os.geteuid() != 0:
            return "as root only: the permission case"
        ro = s.path("ro")
        os.mkdir(ro, 0o755)
        os.chmod(s.dir, 0o755)

        def as_nobody():
            os.setgid(65534)
            os.setuid(65534)
        p = run(base + ["--socket", os.path.join(ro, "ferd.sock")], timeout=300,
                preexec_fn=as_nobody)
        check(p.returncode == 1 and "no permission to create files in %s" % ro in p.stderr and
              "uid 65534" in p.stderr, "permission: %d %s", p.returncode, p.stderr)
        return None
    finally:
        s.cleanup()


def output_formats():
    ferctl = need_env("FERCTL")
    s = Scratch("ferd_cli_")
    d = Daemon(s, {"source": CLIP, "model": MODEL, "allow_images": "yes"}).start()
    try:
        png = s.path("shot.png")
        p = run([ferctl, "-S", d.sock, "snapshot", "-o", png, "--annotated"])
        check(p.returncode == 0, "snapshot -o x.png: %d %s", p.returncode, p.stderr)
        with open(png, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "shot.png is not a PNG")
        jpg = s.path("shot.jpeg")
        p = run([ferctl, "-S", d.sock, "snapshot", "-o", jpg])
        with open(jpg, "rb") as f:
            check(p.returncode == 0 and f.read(2) == b"\xff\xd8", "shot.jpeg is not a JPEG")
        p = subprocess.run([ferctl, "-S", d.sock, "snapshot", "-o", "-"], capture_output=True,
                           timeout=120)
        check(p.returncode == 0 and p.stdout[:2] == b"\xff\xd8" and p.stdout[-2:] == b"\xff\xd9",
              "-o - did not put exactly a JPEG on stdout (%d, %r...)", p.returncode,
              p.stdout[:20])
        check(not os.path.exists("-"), "-o - created a file named '-'")
        leftovers = [n for n in os.listdir(s.dir) if ".tmp." in n]
        check(not leftovers, "temporaries left: %s", leftovers)
        try:
            import cv2
        except ImportError:
            return "no cv2: PNG contents not compared"
        a, b = cv2.imread(png), cv2.imread(jpg)
        check(a is not None and a.shape == (480, 640, 3) and b.shape == a.shape,
              "pictures of %s and %s", None if a is None else a.shape, b.shape)
        return None
    finally:
        check(d.stop() == 0, "ferd did not stop cleanly")
        s.cleanup()


if __name__ == "__main__":
    sys.exit(run_checks([usage_errors, short_options, bind_failures, output_formats], sys.argv))
