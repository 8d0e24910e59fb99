#!/usr/bin/python3
"""make_demo_clip.py — builds samples/demo.avi and its ground truth, reproducibly.

Usage (from the repository root):
    /usr/bin/python3 tools/make_demo_clip.py ../shared/data/fer2013.csv.gz \\
        --photo ../shared/samples/astronaut.png

The clip is 640x480 MJPEG at 15 fps, 20 s: a dozen FER2013 PrivateTest faces (never
used for training) enlarged to 120-200 px and the public-domain NASA astronaut
portrait, composed over a soft gradient, moving, appearing and disappearing, with
a stretch of empty frames. Faces are chosen with a fixed seed, two per class (one
disgust, one neutral), among PrivateTest faces that OpenCV's default frontal-face
cascade finds when the face alone is enlarged to 160 px: a Haar cascade only
finds frontal faces, and many FER2013 crops are profiles or occluded.

Next to the clip it writes demo.truth.csv: one row per visible face per frame,
`frame,face,x,y,w,h` (frame from 0, face = the actor number of the README's table,
box in frame pixels: the pasted square of a FER2013 face; for the photo, the face
box found by the cascade in the original photo, mapped through the same scaling).
"""
import argparse
import gzip
import os
import struct
import sys

import cv2
import numpy as np

W, H, FPS, SECONDS = 640, 480, 15, 20
NFRAMES = FPS * SECONDS
SEED = 2026
CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
QUOTA = {0: 2, 1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 1}
# The astronaut's face in the 512x512 original (cv2 cascade, scale 1.1, 5 neighbours).
PHOTO_FACE = (177, 66, 95, 95)


def read_private_test(path):
    """(row, label, 48x48 uint8) of every PrivateTest row; row counts data rows from 0."""
    out = []
    with gzip.open(path, "rt") as f:
        f.readline()
        for row, line in enumerate(f):
            label, pixels, usage = line.rstrip("\n").split(",")
            if usage.strip() == "PrivateTest":
                img = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
                out.append((row, int(label), img))
    return out


def enlarge(face, side):
    """A 48x48 face at side x side: bicubic, then a blur that hides the 48-px grid."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(big, (0, 0), side / 160.0)


def choose_faces(rows, cascade):
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(rows))
    need = dict(QUOTA)
    chosen = []
    for k in order:
        row, label, img = rows[k]
        if need.get(label, 0) == 0:
            continue
        canvas = np.full((300, 300), 128, np.uint8)
        canvas[70:230, 70:230] = enlarge(img, 160)
        if len(cascade.detectMultiScale(canvas, 1.1, 5, minSize=(48, 48))) == 0:
            continue
        need[label] -= 1
        chosen.append((row, label, img))
        if sum(need.values()) == 0:
            break
    # Actor order: by class, then row, so the README's table reads naturally.
    chosen.sort(key=lambda c: (c[1], c[0]))
    return chosen


def background():
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    b = 150 + 50 * (x / W) - 30 * (y / H)
    g = 130 + 30 * (y / H) + 10 * np.sin(x / 90.0)
    r = 110 + 40 * (1 - x / W) + 20 * (y / H)
    return np.clip(np.dstack([b, g, r]), 0, 255).astype(np.float32)


def lerp(a, b, t):
    return a + (b - a) * t


# Actors: (face index or "photo", t0, t1, (x0, y0), (x1, y1), side0, side1), times in s.
# Positions are the top-left corner; every path stays inside the frame.
def script():
    return [
        (0, 0.0, 5.0, (40, 150), (440, 170), 160, 160),      # slides across
        (1, 2.0, 5.0, (470, 20), (480, 40), 130, 130),       # appears top right
        (2, 5.0, 9.0, (240, 120), (200, 100), 120, 200),     # grows
        (3, 6.5, 9.0, (30, 40), (60, 300), 140, 140),        # moves down
        ("photo", 9.0, 13.0, (320, 60), (260, 80), 300, 300),  # the photograph pans in
        (4, 9.5, 13.0, (40, 250), (60, 180), 150, 150),
        (5, 13.0, 17.0, (20, 30), (200, 60), 130, 130),      # three at once
        (6, 13.0, 17.0, (460, 300), (300, 310), 140, 140),
        (7, 13.5, 17.0, (250, 200), (470, 40), 120, 120),
        # 17-18 s: nobody.
        (8, 18.0, 18.7, (60, 80), (70, 90), 170, 170),       # quick appearances
        (9, 18.4, 19.3, (400, 60), (390, 80), 150, 150),
        (10, 18.9, 20.0, (120, 260), (150, 250), 140, 140),
        (11, 19.3, 20.0, (420, 280), (430, 270), 180, 180),
    ]


class MjpegAvi:
    """A minimal MJPEG AVI writer: frames JPEG-encoded by cv2.imencode (libjpeg, 4:2:0)
    at a chosen quality, in a RIFF AVI with an idx1 index. OpenCV's own MJPEG writer
    makes frames twice as large, and FFmpeg's output depends on its version."""

    def __init__(self, path, w, h, fps, quality):
        self.path, self.w, self.h, self.fps, self.quality = path, w, h, fps, quality
        self.chunks = []

    def write(self, frame):
        ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        self.chunks.append(jpg.tobytes())

    def close(self):
        def chunk(fourcc, data):
            pad = b"\0" if len(data) % 2 else b""
            return fourcc + struct.pack("<I", len(data)) + data + pad

        def lst(kind, data):
            return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data

        n, w, h = len(self.chunks), self.w, self.h
        biggest = max(len(c) for c in self.chunks)
        avih = struct.pack("<IIIIIIIIII16x", int(1e6 / self.fps), biggest * self.fps, 0, 0x10,
                           n, 0, 1, biggest, w, h)
        strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", b"MJPG", 0, 0, 0, 0, 1, self.fps,
                           0, n, biggest, 0xFFFFFFFF, 0, 0, 0, w, h)
        strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
        hdrl = lst(b"hdrl", chunk(b"avih", avih) +
                   lst(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
        movi_data, index, offset = [], [], 4  # offsets count from the "movi" fourcc
        for c in self.chunks:
            ck = chunk(b"00dc", c)
            index.append(struct.pack("<4sIII", b"00dc", 0x10, offset, len(c)))
            movi_data.append(ck)
            offset += len(ck)
        movi = lst(b"movi", b"".join(movi_data))
        idx1 = chunk(b"idx1", b"".join(index))
        body = b"AVI " + hdrl + movi + idx1
        with open(self.path, "wb") as f:
            f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def paste(frame, img, x, y):
    """Pastes img (h x w x 3 float) with its top-left at (x, y); img lies inside the frame."""
    h, w = img.shape[:2]
    frame[y:y + h, x:x + w] = img


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="fer2013.csv.gz (../shared/data/fer2013.csv.gz)")
    ap.add_argument("--photo", default="../shared/samples/astronaut.png")
    ap.add_argument("--out", default="samples/demo.avi")
    ap.add_argument("--truth", default=None, help="default: OUT with .truth.csv")
    ap.add_argument("--quality", type=int, default=80, help="JPEG quality of the frames")
    args = ap.parse_args()
    truth_path = args.truth or os.path.splitext(args.out)[0] + ".truth.csv"

    cv2.setRNGSeed(SEED)
    cascade = cv2.CascadeClassifier(CASCADE)
    rows = read_private_test(args.csv)
    faces = choose_faces(rows, cascade)
    if len(faces) != sum(QUOTA.values()):
        sys.exit("make_demo_clip: not enough suitable faces")
    photo = cv2.imread(args.photo, cv2.IMREAD_COLOR)
    if photo is None:
        sys.exit(f"make_demo_clip: cannot read {args.photo}")

    bg = background()
    writer = MjpegAvi(args.out, W, H, FPS, args.quality)
    truth = ["frame,face,x,y,w,h"]
    actors = script()
    for n in range(NFRAMES):
        t = n / FPS
        frame = bg.copy()
        for actor, t0, t1, p0, p1, s0, s1 in actors:
            if not (t0 <= t < t1):
                continue
            u = (t - t0) / (t1 - t0)
            side = int(round(lerp(s0, s1, u)))
            x = int(round(lerp(p0[0], p1[0], u)))
            y = int(round(lerp(p0[1], p1[1], u)))
            if actor == "photo":
                img = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
                paste(frame, img.astype(np.float32), x, y)
                k = side / photo.shape[1]
                fx, fy, fw, fh = PHOTO_FACE
                box = (x + round(fx * k), y + round(fy * k), round(fw * k), round(fh * k))
                ident = len(faces)
            else:
                grey = enlarge(faces[actor][2], side)
                paste(frame, np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32), x, y)
                box = (x, y, side, side)
                ident = actor
            truth.append(f"{n},{ident},{box[0]},{box[1]},{box[2]},{box[3]}")
        writer.write(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    writer.close()
    with open(truth_path, "w") as f:
        f.write("\n".join(truth) + "\n")

    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {NFRAMES} frames) and {truth_path}")
    print("actor,fer2013_row,class")
    for i, (row, label, _) in enumerate(faces):
        print(f"{i},{row},{CLASSES[label]}")
    print(f"{len(faces)},photo,astronaut.png")


if __name__ == "__main__":
    main()
