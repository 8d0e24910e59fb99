"""`python -m ferd status|watch|snapshot` against the real ferd (classify is in
test_classifier.py), and examples/subscriber.py, the package's example."""

import json
import os
import subprocess
import sys

from conftest import SOURCE, env, run_c


def ferd_py(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "ferd", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_status(daemon):
    out = ferd_py("--socket", daemon.sock, "status")
    assert out.returncode == 0, out.stderr
    theirs = run_c([env("FERCTL"), "--socket", daemon.sock, "status"], timeout=60)
    assert theirs.returncode == 0
    # The same lines as ferctl's but for what changes between two calls.
    mine_first = out.stdout.splitlines()[1:3]
    their_first = theirs.stdout.splitlines()[1:3]
    strip = lambda s: s.split(", ")[0]  # noqa: E731  (fps and counts move)
    assert [strip(x) for x in mine_first] == [strip(x) for x in their_first]
    js = ferd_py("--socket", daemon.sock, "status", "--json")
    assert json.loads(js.stdout)["class"] == "STATUS"


def test_watch(daemon):
    out = ferd_py("--socket", daemon.sock, "watch", "--count", "3", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [o["class"] for o in lines[:2]] == ["VERSION", "WATCH"]
    assert len(lines) == 5 and all(o["class"] == "RESULT" for o in lines[2:])
    out = ferd_py("--socket", daemon.sock, "watch", "--count", "3", "--no-scores")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and all(" frame " in x for x in lines)


def test_snapshot(daemon, tmpdir_short):
    pic = os.path.join(tmpdir_short, "now.jpg")
    out = ferd_py("--socket", daemon.sock, "snapshot", "-o", pic, "--annotated")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("frame ") and "640x480" in out.stdout
    with open(pic, "rb") as f:
        assert f.read(2) == b"\xff\xd8"
    js = ferd_py("--socket", daemon.sock, "snapshot", "--json")
    assert json.loads(js.stdout)["class"] == "POLL"


def test_snapshot_format_from_name(daemon, tmpdir_short):
    """docs/cli.md: the name says the format; '-o -' is stdout and nothing else."""
    png = os.path.join(tmpdir_short, "now.png")
    out = ferd_py("-S", daemon.sock, "snapshot", "-o", png, "--annotated")
    assert out.returncode == 0, out.stderr
    assert "PNG" in out.stdout
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    import cv2
    pic = cv2.imread(png)
    assert pic is not None and pic.shape == (480, 640, 3)
    jpg = os.path.join(tmpdir_short, "now.JPEG")
    out = ferd_py("-S", daemon.sock, "snapshot", "-o", jpg)
    assert out.returncode == 0, out.stderr
    with open(jpg, "rb") as f:
        assert f.read(2) == b"\xff\xd8"
    raw = subprocess.run([sys.executable, "-m", "ferd", "-S", daemon.sock, "snapshot", "-o", "-"],
                         capture_output=True, timeout=60, cwd=tmpdir_short)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout[:2] == b"\xff\xd8" and raw.stdout[-2:] == b"\xff\xd9"
    assert not os.path.exists(os.path.join(tmpdir_short, "-"))
    assert not [n for n in os.listdir(tmpdir_short) if ".tmp." in n]
    # A name that says no format is refused before the daemon is asked.
    gif = os.path.join(tmpdir_short, "now.gif")
    out = ferd_py("-S", daemon.sock, "snapshot", "-o", gif)
    assert out.returncode == 64 and ".png" in out.stderr and not os.path.exists(gif)


def usage_error(*args, want=()):
    out = ferd_py(*args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 64, (args, out.returncode, out.stderr)
    assert len(lines) == 1, (args, out.stderr)
    assert out.stdout == ""
    assert "; see 'python -m ferd" in lines[0] and lines[0].endswith("--help'"), lines[0]
    for w in want:
        assert w in lines[0], (w, lines[0])


def test_usage_errors(tmpdir_short):
    """docs/cli.md: one line, a did-you-mean for a slip, exit 64 (not argparse's 2)."""
    sock = os.path.join(tmpdir_short, "absent.sock")
    usage_error("stauts", want=["python -m ferd: unknown command 'stauts' "
                                "(did you mean 'status'?)"])
    usage_error()
    usage_error("-S", sock, "watch", "--evnets",
                want=["python -m ferd watch: unknown option '--evnets' "
                      "(did you mean '--events'?)"])
    usage_error("-S", sock, "watch", "--count", want=["'--count' needs a value"])
    # The first slip typed is the one named, as getopt_long does in the C tools:
    # argparse alone read '--sokcet x status' as the unknown command 'x', and
    # '--evnets --count x' as a bad --count.
    usage_error("--sokcet", sock, "status",
                want=["python -m ferd: unknown option '--sokcet' (did you mean '--socket'?)"])
    usage_error("--sokcet=" + sock, "status", want=["unknown option '--sokcet' (did you"])
    usage_error("--timout", "3", "-S", sock, "stauts",
                want=["unknown option '--timout' (did you mean '--timeout'?)"])
    usage_error("-S", sock, "watch", "--evnets", "--count", "x",
                want=["python -m ferd watch: unknown option '--evnets'"])
    usage_error("-S", sock, "watch", "--count", "x", "--evnets", want=["--count", "'x'"])
    # -S and --timeout follow the client commands too, as in ferctl.
    usage_error("status", "--sokcet", sock, want=["python -m ferd status: unknown option "
                                                  "'--sokcet' (did you mean '--socket'?)"])
    usage_error("watch", "-S", sock, "--timeout", "x", want=["--timeout", "'x'"])
    usage_error("classify", "-S", sock, "x.png", want=["python -m ferd classify: unknown "
                                                       "option '-S'"])
    usage_error("-S", sock, "watch", "--max-fps", "x", want=["--max-fps"])
    usage_error("-S", sock, "status", "stray", want=["unexpected argument 'stray'"])
    usage_error("classify", "--modle", "m", "x.png", want=["(did you mean '--model'?)"])
    usage_error("-S", sock, "snapshot", "-o", "x.gif", want=[".jpg", ".png"])
    usage_error("-S", sock, "snapshot", "-o", "-", "--json", want=["stdout"])
    usage_error("-S", sock, "snapshot", "--annotated", want=["-o FILE"])
    for args in (["-h"], ["watch", "-h"], ["-V"]):
        out = ferd_py(*args)
        assert out.returncode == 0 and out.stdout and not out.stderr, (args, out)


def test_exit_codes(tmpdir_short):
    sock = os.path.join(tmpdir_short, "absent.sock")
    out = ferd_py("--socket", sock, "status")
    assert out.returncode == 2
    assert sock in out.stderr and "systemctl start ferd" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line, no traceback
    # The socket after the command, and over one given before it (as ferctl).
    for args in (["status", "-S", sock], ["-S", sock + ".not", "status", "--socket", sock],
                 ["--timeout", "3", "status", "--socket=" + sock, "--timeout", "2"]):
        out = ferd_py(*args)
        assert out.returncode == 2 and sock + " " in out.stderr.replace(")", " "), (args, out)
    assert ferd_py("--socket", sock, "watch", "--max-fps", "x").returncode == 64
    assert ferd_py().returncode == 64
    assert ferd_py("classify").returncode == 64


def test_subscriber_example(daemon):
    out = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "subscriber.py"),
                          daemon.sock, "3"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(x.startswith("frame ") for x in lines) == 3
    missing = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "subscriber.py"),
                              daemon.sock + ".absent", "1"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode != 0 and "systemctl start ferd" in missing.stderr
    assert "Traceback" not in missing.stderr
