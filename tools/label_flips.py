#!/usr/bin/python3
"""label_flips.py — how often the smoothed label changes on a clip, for choosing
the smoothing and the label hysteresis (ferd's smoothing, label_margin,
label_hold_ms).

    tools/label_flips.py [--fer build/tools/fer] [--clip samples/demo.avi]
                         [--model models/default.fermodel]
                         [--smoothing 0,0.6] [--margin 0,0.05,0.1,0.15] [--hold 0,200,400,600]

For every combination it runs `fer analyze` on the clip (the file's own clock, so
the figures do not depend on the machine) and prints, per minute of video:
  flips    smoothed-label changes (records with "changed_from");
  raw      changes of the raw per-frame label from one frame to the next of a track;
and the share of face-frames whose smoothed label is their track's most common
one ("steady"). On samples/demo.avi every face is one still FER2013 image that
only moves and changes size, so every flip there is noise: a setting is better
the fewer it makes, as long as a real change still comes through quickly (a
hold of T ms delays every change by T).
"""
import argparse
import collections
import itertools
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def analyze(fer, clip, model, alpha, margin, hold):
    p = subprocess.run([fer, "analyze", clip, "--model", model, "-q", "--no-scores",
                        "--smoothing", str(alpha), "--label-margin", str(margin),
                        "--label-hold-ms", str(hold)], capture_output=True, text=True,
                       check=True)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def figures(recs, fps):
    minutes = (max(r["frame"] for r in recs) + 1) / fps / 60.0 if recs else 1.0
    flips = sum(1 for r in recs if "changed_from" in r)
    raw = 0
    last = {}
    labels = collections.defaultdict(collections.Counter)
    for r in recs:
        if r["id"] in last and last[r["id"]] != r["label"]:
            raw += 1
        last[r["id"]] = r["label"]
        labels[r["id"]][r["smoothed"]["label"]] += 1
    steady = sum(c.most_common(1)[0][1] for c in labels.values())
    return flips / minutes, raw / minutes, steady / max(1, len(recs))


def floats(s):
    return [float(x) for x in s.split(",")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fer", default=os.path.join(ROOT, "build", "tools", "fer"))
    ap.add_argument("--clip", default=os.path.join(ROOT, "samples", "demo.avi"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.fermodel"))
    ap.add_argument("--fps", type=float, default=15.0, help="the clip's frame rate")
    ap.add_argument("--smoothing", type=floats, default=[0.0, 0.6])
    ap.add_argument("--margin", type=floats, default=[0.0, 0.05, 0.1, 0.15])
    ap.add_argument("--hold", type=floats, default=[0, 200, 400, 600])
    a = ap.parse_args()
    print("%-9s %-7s %-8s %12s %12s %8s" % ("smoothing", "margin", "hold_ms", "flips/min",
                                             "raw/min", "steady"))
    for alpha, margin, hold in itertools.product(a.smoothing, a.margin, a.hold):
        recs = analyze(a.fer, a.clip, a.model, alpha, margin, int(hold))
        f, r, st = figures(recs, a.fps)
        print("%-9g %-7g %-8d %12.1f %12.1f %7.1f%%" % (alpha, margin, hold, f, r, 100 * st))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
