"""demo_truth — samples/demo.truth.csv, the judge of the daemon and analysis tests.

The truth file lists, per frame of samples/demo.avi, the box of every face in it;
tests match reported boxes to it by intersection over union. One reader and one
IoU for daemon_truth.py and fer_cli_analyze.py, so both judge by the same rules.
"""
import csv


def load(path):
    """{frame: [(x, y, w, h), ...]} from the truth CSV at path."""
    faces = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            faces.setdefault(int(row["frame"]), []).append(
                tuple(int(row[k]) for k in ("x", "y", "w", "h")))
    return faces


def iou(a, b):
    """Intersection over union of two (x, y, w, h) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = (x1 - x0) * (y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
