#!/usr/bin/python3
"""fer_cli_analyze.py — `fer analyze` driven as a user drives it, judged by the
demo clip's truth file.

The real `fer` binary on samples/demo.avi (300 frames, 15 fps) with the shipped
model, and on image sequences this script cuts from the clip (OpenCV's Python
binding; those checks skip without it). Checked: every one of the 300 frames is
processed in order and the records find the clip's true faces
(samples/demo.truth.csv, IoU >= 0.3); JSON lines and CSV carry the same
records; the output format follows the file name and '-o -' is stdout; outputs
appear only when complete (no temporary left, an old file untouched by a failed
run); the annotated video has every frame; image directories, @lists with an
unreadable image, and the errors for a camera, a missing file and `fer classify`
on a video. Run by meson (suite 'unit') with FER_BIN set; stdlib only besides
the optional cv2.
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

import demo_truth
from demo_truth import iou

FER = os.environ.get("FER_BIN")
ROOT = os.environ.get("FER_SOURCE_ROOT",
                      os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
CLIP = os.path.join(ROOT, "samples", "demo.avi")
TRUTH = os.path.join(ROOT, "samples", "demo.truth.csv")
MODEL = os.path.join(ROOT, "models", "default.fermodel")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg, *args):
    if not cond:
        fail(msg % args)


def run(*args, expect=0, stdin=None):
    p = subprocess.run([FER, "analyze", "--model", MODEL] + list(args), capture_output=True,
                       text=True, timeout=600, input=stdin)
    check(p.returncode == expect, "fer analyze %s: exit %d, expected %d\nstdout: %s\nstderr: %s",
          " ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:])
    return p


def records_json(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_video_json(d):
    p = run(CLIP, "-o", "-")
    recs = records_json(p.stdout)
    check(recs, "no records")
    frames = [r["frame"] for r in recs]
    check(frames == sorted(frames), "records out of frame order")
    check(min(frames) >= 0 and max(frames) <= 299, "frames outside 0..299: %d..%d",
          min(frames), max(frames))
    classes = list(recs[0]["scores"].keys())
    for r in recs:
        check(abs(r["time"] - r["frame"] / 15.0) < 0.0015, "frame %d at time %s", r["frame"],
              r["time"])
        check(r["id"] > 0 and r["box"]["w"] > 0, "bad record %s", r)
        check(list(r["scores"].keys()) == classes, "classes differ: %s", r)
        check(abs(sum(r["scores"].values()) - 1.0) < 2e-3, "scores do not sum to 1: %s", r)
        check(r["label"] == max(r["scores"], key=r["scores"].get), "label not the top score")
        check(r["smoothed"]["label"] in classes, "smoothed label %s", r["smoothed"])
    # The summary says every frame was processed.
    check("300 frames in" in p.stderr, "summary: %s", p.stderr)
    # Judged by the truth file: the faces of each frame.
    t = demo_truth.load(TRUTH)
    by_frame = {}
    for r in recs:
        b = r["box"]
        by_frame.setdefault(r["frame"], []).append((b["x"], b["y"], b["w"], b["h"]))
    found = total = false = 0
    for f in range(300):
        boxes = by_frame.get(f, [])
        for tb in t.get(f, []):
            total += 1
            found += any(iou(tb, b) >= 0.3 for b in boxes)
        false += sum(1 for b in boxes if not any(iou(tb, b) >= 0.3 for tb in t.get(f, [])))
    print("true faces found: %d of %d (%.1f%%); false detections: %d" %
          (found, total, 100.0 * found / total, false))
    # The daemon's settings find 95.7% of the clip's faces (docs/BENCHMARKS.md; 94.6%
    # here, where frames are never skipped as unchanged); the misses are faces that
    # wait for the next full search.
    check(found >= 0.93 * total, "only %d of %d true faces found", found, total)
    check(false <= 10, "%d false detections", false)
    return recs


def test_same_again_and_csv(d, recs):
    # A second run, to a CSV file: the same records (the file's own clock drives
    # tracking and hysteresis, so the machine's load changes nothing).
    out = os.path.join(d, "demo.csv")
    run(CLIP, "-o", out, "-q")
    check(sorted(os.listdir(d)) == ["demo.csv"], "left behind: %s", os.listdir(d))
    rows = list(csv.DictReader(open(out)))
    check(len(rows) == len(recs), "CSV has %d rows, JSON %d records", len(rows), len(recs))
    classes = list(recs[0]["scores"].keys())
    for row, r in zip(rows, recs):
        check(int(row["frame"]) == r["frame"] and int(row["id"]) == r["id"], "row %s vs %s",
              row, r)
        check(int(row["x"]) == r["box"]["x"] and row["label"] == r["label"], "row %s", row)
        check(abs(float(row["prob"]) - r["prob"]) < 1e-4, "prob %s vs %s", row["prob"], r["prob"])
        check(row["smoothed_label"] == r["smoothed"]["label"], "smoothed %s", row)
        check(row["new"] == ("1" if r.get("new") else "0"), "new %s", row)
        check(row["changed_from"] == r.get("changed_from", ""), "changed_from %s", row)
        for c in classes:
            check(abs(float(row[c]) - r["scores"][c]) < 1e-4, "score %s", c)
    # The name says the format; a name that says none, or a contradiction, is a
    # usage error of one line; the old file stays as it was.
    before = open(out).read()
    for args in (["-o", os.path.join(d, "x.txt")], ["-o", out, "--json"],
                 ["--annotate", os.path.join(d, "x.gif")], ["--full-every", "0"],
                 ["--frobnicate"], []):
        p = run(*(([CLIP] if args != [] else []) + args), expect=64)
        check(len(p.stderr.strip().splitlines()) == 1 and "fer analyze" in p.stderr,
              "usage error is not one line: %r", p.stderr)
    p = run(CLIP, "--ful-every", "3", expect=64)
    check("did you mean '--full-every'" in p.stderr, "no suggestion: %s", p.stderr)
    check(open(out).read() == before, "a refused run touched %s", out)
    # A directory that does not exist: the error names it, nothing is written.
    p = run(CLIP, "-o", os.path.join(d, "none", "x.csv"), expect=1)
    check(os.path.join(d, "none") in p.stderr, "error does not name the directory: %s",
          p.stderr)


def test_annotated_video(d):
    try:
        import cv2
    except ImportError:
        print("skip: no cv2 to read the annotated video back")
        return
    for name, src, frames in (("a.avi", CLIP, 300), ("a.mp4", "frames", 12)):
        out = os.path.join(d, name)
        if src == "frames":
            src = os.path.join(os.path.dirname(d), "frames")
        run(src, "--fps", "15", "-o", os.path.join(d, "a.jsonl"), "--annotate", out, "-q")
        cap = cv2.VideoCapture(out)
        n = 0
        while True:
            ok, img = cap.read()
            if not ok:
                break
            check(img.shape == (480, 640, 3), "%s: frame of shape %s", name, img.shape)
            n += 1
        check(n == frames, "%s holds %d frames, not %d", name, n, frames)
        check(not [f for f in os.listdir(d) if ".tmp." in f], "temporaries left: %s",
              os.listdir(d))


def test_images(d, v):
    try:
        import cv2
    except ImportError:
        print("skip: no cv2 to cut frames from the clip")
        return
    frames = os.path.join(d, "frames")
    os.mkdir(frames)
    cap = cv2.VideoCapture(CLIP)
    for i in range(12):
        ok, img = cap.read()
        check(ok, "cannot read frame %d of the clip", i)
        cv2.imwrite(os.path.join(frames, "f%03d.png" % i), img)
    # A directory: a sequence, tracked; with --fps the frames have times.
    p = run(frames, "--fps", "15", "-q")
    recs = records_json(p.stdout)
    check(sorted({r["frame"] for r in recs}) == list(range(12)), "frames %s",
          sorted({r["frame"] for r in recs}))
    check({r["id"] for r in recs} == {1}, "one face tracked through 12 frames: ids %s",
          {r["id"] for r in recs})
    check(recs[3]["path"].endswith("f003.png") and abs(recs[3]["time"] - 0.2) < 1e-3,
          "record %s", recs[3])
    # The same frames as a video gave the same boxes and labels.
    for a in recs:
        b = next(r for r in v if r["frame"] == a["frame"])
        check(a["box"] == b["box"] and a["label"] == b["label"], "frame %d: %s vs %s",
              a["frame"], a, b)
    # An @list with an unreadable image: that one fails (exit 1, named), the rest go on.
    bad = os.path.join(d, "broken.png")
    with open(bad, "wb") as f:
        f.write(b"not a png")
    lst = os.path.join(d, "list.txt")
    with open(lst, "w") as f:
        f.write("# frames\n%s\n%s\n\n%s\n" % (os.path.join(frames, "f000.png"), bad,
                                            os.path.join(frames, "f001.png")))
    p = run("@" + lst, "--stills", expect=1)
    recs = records_json(p.stdout)
    check([r["frame"] for r in recs] == [0, 2], "frames %s", [r["frame"] for r in recs])
    check("broken.png" in p.stderr and "1 frames could not be read" in p.stderr, "stderr: %s",
          p.stderr)
    # @- reads the list from stdin; --csv on stdout.
    p = run("@-", "-q", "--csv", stdin=os.path.join(frames, "f005.png") + "\n")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    check(len(rows) == 1 and rows[0]["path"].endswith("f005.png"), "@-: %s", p.stdout)


def test_errors(d):
    p = run("/dev/video99", expect=1)
    check("/dev/video99" in p.stderr, "camera: %s", p.stderr)
    p = run(os.path.join(d, "nothing.avi"), expect=1)
    check("nothing.avi" in p.stderr, "missing file: %s", p.stderr)
    p = subprocess.run([FER, "classify", "--model", MODEL, CLIP], capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == 1 and "fer analyze" in p.stderr, "fer classify on a video: %d %s",
          p.returncode, p.stderr)


def main():
    if not FER:
        fail("FER_BIN not set")
    with tempfile.TemporaryDirectory(prefix="fer_analyze_") as d:
        recs = test_video_json(d)
        sub = os.path.join(d, "csv")
        os.mkdir(sub)
        test_same_again_and_csv(sub, recs)
        test_images(d, recs)
        sub = os.path.join(d, "video")
        os.mkdir(sub)
        test_annotated_video(sub)
        test_errors(d)
    print("ok")


if __name__ == "__main__":
    main()
