#!/usr/bin/python3
"""contrast_fixture — OpenCV's results for the C contrast step's parity test.

    contrast_fixture.py make [--out tests/fixtures/contrast/cases.bin]  # the committed fixture
    contrast_fixture.py live --fer-test build/tests/test_preprocess --tmp DIR [--seed N]

src/vision/contrast.c implements histogram equalisation and CLAHE without OpenCV,
following cv::equalizeHist and cv::createCLAHE(clip, (tiles, tiles))->apply. This
script runs cv2 on a set of 8-bit grey images and writes inputs, settings and cv2's
outputs; tests/test_preprocess.c applies fer_contrast_apply to each input and
compares (it reads $FER_CONTRAST_FIXTURE, else the committed fixture).

Cases: the test face (tests/fixtures/face.png, grey, area-resized to 48x48 as the
pipeline would), random images with a narrow and a wide range, a ramp, a
near-constant image and one that is not square; histeq, and CLAHE with clip limits
0 (no clipping), 1, 2, 4 and 40 (OpenCV's default) on grids that divide the image
(4, 6, 8) and that do not (5, 7: OpenCV extends the image by reflection).
`live` draws new random images from --seed (default: the time) on every run.

File format (little-endian):
  "FERCTR1\\0"  u32 count
  count x { u32 h, u32 w, u32 mode (1 histeq, 2 clahe), f32 clip, u32 tiles,
            h*w bytes input, h*w bytes cv2 output }
"""
import argparse
import os
import struct
import subprocess
import sys
import time

try:
    import cv2
    import numpy as np
except ImportError as e:  # the live test skips without them
    cv2 = None
    IMPORT_ERROR = e

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CLAHE_SETTINGS = [(2.0, 8), (40.0, 8), (0.0, 4), (1.0, 6), (4.0, 5), (2.0, 7), (3.0, 3)]


def images(seed):
    rng = np.random.default_rng(seed)
    out = []
    face = cv2.imread(os.path.join(ROOT, "tests", "fixtures", "face.png"), cv2.IMREAD_GRAYSCALE)
    if face is None:
        sys.exit("contrast_fixture: cannot read tests/fixtures/face.png")
    out.append(("face", cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)))
    out.append(("narrow", rng.integers(90, 140, (48, 48), dtype=np.uint8)))
    out.append(("wide", rng.integers(0, 256, (48, 48), dtype=np.uint8)))
    ramp = (np.add.outer(np.arange(48) * 2, np.arange(48) * 3) % 256).astype(np.uint8)
    out.append(("ramp", ramp))
    flat = np.full((48, 48), 77, np.uint8)
    flat[rng.integers(0, 48, 5), rng.integers(0, 48, 5)] = 78
    out.append(("near-constant", flat))
    out.append(("37x50", rng.integers(30, 220, (37, 50), dtype=np.uint8)))
    return out


def cases(seed):
    for name, img in images(seed):
        yield name, img, 1, 0.0, 0, cv2.equalizeHist(img)
        for clip, tiles in CLAHE_SETTINGS:
            if min(img.shape) < 2 * tiles:
                continue
            res = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles)).apply(img)
            yield name, img, 2, clip, tiles, res


def write(path, seed):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    body = b""
    n = 0
    for _name, img, mode, clip, tiles, res in cases(seed):
        h, w = img.shape
        body += struct.pack("<IIIfI", h, w, mode, clip, tiles)
        body += np.ascontiguousarray(img).tobytes() + np.ascontiguousarray(res).tobytes()
        n += 1
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"FERCTR1\0" + struct.pack("<I", n) + body)
    os.replace(tmp, path)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "contrast",
                                                  "cases.bin"))
    mk.add_argument("--seed", type=int, default=1)
    lv = sub.add_parser("live")
    lv.add_argument("--fer-test", required=True)
    lv.add_argument("--tmp", required=True)
    lv.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    if cv2 is None:
        print(f"contrast_fixture: skipped: {IMPORT_ERROR}")
        return 77
    if a.cmd == "make":
        n = write(a.out, a.seed)
        print(f"{a.out}: {n} cases (OpenCV {cv2.__version__})")
        return 0
    seed = a.seed if a.seed is not None else int(time.time())
    path = os.path.join(a.tmp, "cases.bin")
    n = write(path, seed)
    print(f"contrast_fixture: {n} cases from seed {seed} (OpenCV {cv2.__version__})", flush=True)
    env = dict(os.environ, FER_CONTRAST_FIXTURE=path)
    return subprocess.call([a.fer_test], env=env)


if __name__ == "__main__":
    sys.exit(main())
