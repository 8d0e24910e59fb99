#!/usr/bin/python3
"""face48_fixture — the FER2013-like face of tests/test_input_path.c, made by OpenCV.

    face48_fixture.py [--out tests/fixtures/face48_cv2.png]

FER2013's images are faces cut from larger pictures and shrunk to 48x48. This
makes one the way a dataset maker would with OpenCV: tests/fixtures/face.png to
grey (cvtColor BGR2GRAY), the 87x87 square at (21, 21) around its face, shrunk
with INTER_AREA (a non-integer factor, 87/48 = 1.8125). The C test cuts the same
square out of a camera frame through ferd's pipeline code and requires the same
bytes within 1 grey level (the two area resamplers round differently).
"""
import argparse
import os
import sys

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "face48_cv2.png"))
    a = ap.parse_args()
    img = cv2.imread(os.path.join(ROOT, "tests", "fixtures", "face.png"), cv2.IMREAD_COLOR)
    if img is None:
        sys.exit("face48_fixture: cannot read tests/fixtures/face.png")
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    face = cv2.resize(grey[21:108, 21:108], (48, 48), interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(a.out, face):
        sys.exit(f"face48_fixture: cannot write {a.out}")
    print(f"{a.out}: 48x48 (OpenCV {cv2.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
