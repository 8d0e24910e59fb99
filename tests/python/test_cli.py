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


def test_exit_codes(tmpdir_short):
    sock = os.path.join(tmpdir_short, "absent.sock")
    out = ferd_py("--socket", sock, "status")
    assert out.returncode == 2
    assert sock in out.stderr and "systemctl start ferd" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line, no traceback
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
