#!/usr/bin/python3
"""bench_python — images per second of ferd.Classifier against the Python route a
user would take instead: PyTorch on the same weights, with OpenCV's Haar cascade
as the project's origin used it. Same machine, same run, rounds interleaved.

    tools/bench_python.py [--model models/default.fermodel] [--lib build/classify]
                          [--rounds 5] [--seconds 1.5] [--threads 1]

Two workloads, both from samples/demo.avi (decoded once by OpenCV, kept in memory):
  * 640x480 photos (frames of the clip, most with one to three faces):
      ferd:   Classifier.classify(frame), its default still-image settings (the
              cascade over the whole frame at full resolution for 640 px, step 1.1,
              4 neighbours, faces from 24 px, CLAHE; crop, network, softmax in C);
              again with the origin's detection settings (faces from 48 px, 5
              neighbours); and searching the frame shrunk to 320 px as the daemon does;
      origin: cv2.CascadeClassifier.detectMultiScale on the grey frame at full
              resolution (step 1.1, 5 neighbours, faces from 48 px, no equalisation),
              then per face: crop, cv2.resize to the input size (INTER_AREA),
              (x/255 - mean)/std, one PyTorch forward (batch 1), softmax.
  * 48x48 grey faces (the faces of those frames cut out and shrunk, FER2013-sized):
      ferd:   Classifier.classify(face, boxes=[(0, 0, 48, 48)]) — no search;
      PyTorch: normalise, forward at batch 1, softmax; and, for reference, the same
              faces in batches of 32 (which no per-image API offers).
Each round times every image once per contender (repeated to at least --seconds);
the figure is the median over rounds, the ratio that of medians, both in wall time
and in the process's CPU time (steadier on a shared machine). Both sides run on
--threads threads (torch.set_num_threads, cv2.setNumThreads, ferd.set_threads). A
check first compares the two networks' probabilities on the 48x48 faces.

Needs /usr/bin/python3 with python3-torch, python3-opencv, python3-numpy, and the
ferd package (installed, or python/ of this tree) with libferclassify (--lib, or
$FERD_CLASSIFY_LIB, or installed). Run through /work/lead/bench-window.sh.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ferarch  # noqa: E402


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def frames_of(path, count, cv2):
    """count frames spread over the clip, as BGR arrays."""
    cap = cv2.VideoCapture(path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 300
    out = []
    for k in np.linspace(0, n - 1, count).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(k))
        ok, img = cap.read()
        if ok:
            out.append(img)
    cap.release()
    return out


def rate(fn, items, seconds):
    """(images per second of wall time, images per second of this process's CPU time)
    of fn over items, repeated until seconds of wall time have passed. On a loaded
    machine the CPU figure is the steadier one: it does not count time spent waiting
    for a processor."""
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        for x in items:
            fn(x)
        n += len(items)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt, n / max(1e-9, time.process_time() - c0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.fermodel"))
    ap.add_argument("--lib", default=os.environ.get("FERD_CLASSIFY_LIB") or
                    os.path.join(ROOT, "build", "classify"))
    ap.add_argument("--clip", default=os.path.join(ROOT, "samples", "demo.avi"))
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    os.environ["FERD_CLASSIFY_LIB"] = a.lib
    try:
        import ferd
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import ferd
    import cv2
    import torch

    print(f"load average at start: {load_average()}")
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.threads)
    cv2.setNumThreads(a.threads)
    ferd.set_threads(a.threads)
    print(f"ferd {ferd.library_version()} ({a.lib}), PyTorch {torch.__version__}, OpenCV "
          f"{cv2.__version__}, numpy {np.__version__}; {a.threads} thread(s) each; model "
          f"{a.model}")

    clf = ferd.Classifier(a.model)
    net, m = ferarch.load_fermodel_torch(a.model)
    net.eval()
    pre = m["header"]["preprocess"]
    c, h, w = m["arch"].input
    if c != 1 or not pre.get("grey", True):
        sys.exit("bench_python: the origin's route here is written for grey models")
    mean, std = float(pre["mean"]), float(pre["std"])
    # What the header records is part of the network: the contrast step on the 8-bit face
    # (OpenCV's own functions, which src/vision/contrast.c reproduces byte for byte) and the
    # calibration temperature. Leaving either out would time a different classifier.
    contrast = pre.get("contrast", "none")
    if contrast == "histeq":
        def contrast_step(face):
            return cv2.equalizeHist(face)
    elif contrast == "clahe":
        clahe = cv2.createCLAHE(float(pre.get("clahe_clip", 2.0)),
                                (int(pre.get("clahe_tiles", 8)),) * 2)

        def contrast_step(face):
            return clahe.apply(face)
    elif contrast == "none":
        def contrast_step(face):
            return face
    else:
        sys.exit(f"bench_python: {a.model}: contrast '{contrast}' is not known to this script")
    temperature = float(m["header"].get("calibration", {}).get("temperature", 1.0))
    cascade = cv2.CascadeClassifier(
        "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")

    frames = frames_of(a.clip, a.frames, cv2)
    faces48 = []
    for fr in frames:
        grey = cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY)
        for f in clf.classify(fr).faces:
            b = f.box
            crop = grey[max(0, b.y):b.y + b.h, max(0, b.x):b.x + b.w]
            faces48.append(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))
    print(f"inputs: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]} "
          f"from {os.path.basename(a.clip)}; {len(faces48)} faces of {w}x{h} cut from them")

    def torch_probs(batch):
        faces = np.stack([contrast_step(f) for f in batch[:, 0]])[:, None]
        x = (faces.astype(np.float32) / 255.0 - mean) / std
        with torch.no_grad():
            return torch.softmax(net(torch.from_numpy(x)) / temperature, dim=1).numpy()

    whole = [(0, 0, w, h)]

    def ferd48(face):
        return clf.classify(face, boxes=whole)

    def torch48(face):
        return torch_probs(face[None, None])

    def origin640(frame):
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        out = []
        for (x, y, bw, bh) in cascade.detectMultiScale(grey, 1.1, 5, minSize=(48, 48)):
            crop = cv2.resize(grey[y:y + bh, x:x + bw], (w, h), interpolation=cv2.INTER_AREA)
            out.append(torch_probs(crop[None, None])[0])
        return out

    def ferd640(frame):
        return clf.classify(frame)

    # The same classifier with the origin's detection settings (faces from 48 px, 5
    # neighbours), and with the daemon's search width (the frame shrunk to 320 px).
    clf_origin = ferd.Classifier(a.model, min_face=48, min_neighbors=5)
    clf_320 = ferd.Classifier(a.model, detect_width=320, min_face=48, min_neighbors=3)

    def ferd640_origin(frame):
        return clf_origin.classify(frame)

    def ferd640_320(frame):
        return clf_320.classify(frame)

    stack = np.stack(faces48)[:, None]

    def torch48_batched(_):
        for i in range(0, len(stack), 32):
            torch_probs(stack[i:i + 32])

    # The two networks agree (same weights, same input): a check, not a benchmark.
    pf = np.array([[f.scores[k] for k in clf.classes] for f in
                   (ferd48(x).faces[0] for x in faces48)])
    pt = torch_probs(stack)
    agree = float(np.mean(pf.argmax(1) == pt.argmax(1)))
    diff = float(np.abs(pf - pt).max())
    print(f"check on the {len(faces48)} faces (contrast {contrast}, temperature "
          f"{temperature:.4g} applied to both): same top class {agree * 100:.1f}%, largest "
          f"probability difference {diff:.2g}")
    if agree < 1.0 or diff > 1e-4:
        sys.exit("bench_python: ferd and PyTorch disagree on the same faces: the comparison "
                 "would time two different classifiers")
    found = {name: sum(len(fn(f)) for f in frames) for name, fn in (
        ("ferd", lambda f: ferd640(f).faces), ("ferd, origin's settings",
                                               lambda f: ferd640_origin(f).faces),
        ("ferd at 320 px", lambda f: ferd640_320(f).faces), ("origin", origin640))}
    print(f"faces found in the {len(frames)} frames: " +
          ", ".join(f"{k} {v}" for k, v in found.items()))

    runs = {k: [] for k in ("ferd48", "torch48", "torch48b", "ferd640", "ferd640o",
                            "ferd640s", "origin640")}
    for r in range(a.rounds):
        runs["ferd48"].append(rate(ferd48, faces48, a.seconds))
        runs["torch48"].append(rate(torch48, faces48, a.seconds))
        wall, cpu = rate(torch48_batched, [None], a.seconds)
        runs["torch48b"].append((wall * len(faces48), cpu * len(faces48)))
        runs["ferd640"].append(rate(ferd640, frames, a.seconds))
        runs["ferd640o"].append(rate(ferd640_origin, frames, a.seconds))
        runs["ferd640s"].append(rate(ferd640_320, frames, a.seconds))
        runs["origin640"].append(rate(origin640, frames, a.seconds))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f}/s (cpu {v[-1][1]:.1f}/s)"
                                             for k, v in runs.items()), flush=True)
    wall = {k: statistics.median(x[0] for x in v) for k, v in runs.items()}
    cpu = {k: statistics.median(x[1] for x in v) for k, v in runs.items()}
    rows = [("48x48 faces, ferd.Classifier (box given, no search)", "ferd48"),
            ("48x48 faces, PyTorch batch 1", "torch48"),
            ("48x48 faces, PyTorch batches of 32", "torch48b"),
            ("640x480 photos, ferd.Classifier (defaults: faces from 24 px, CLAHE)", "ferd640"),
            ("640x480 photos, ferd.Classifier (min_face=48, min_neighbors=5)", "ferd640o"),
            ("640x480 photos, ferd.Classifier (detect_width=320, min_face=48)", "ferd640s"),
            ("640x480 photos, OpenCV cascade + PyTorch (origin's way)", "origin640")]
    print()
    print(f"| workload ({a.threads} thread{'s' if a.threads > 1 else ''}; median of {a.rounds} "
          f"rounds) | images/s, wall time | images/s, CPU time |")
    print("|---|---|---|")
    for label, k in rows:
        print(f"| {label} | {wall[k]:.{0 if '48x48' in label else 1}f} | "
              f"{cpu[k]:.{0 if '48x48' in label else 1}f} |")
    for what, m in (("wall", wall), ("CPU", cpu)):
        print(f"ratios of medians ({what}): 48x48 ferd / PyTorch batch 1 = "
              f"{m['ferd48'] / m['torch48']:.2f}x (/ batches of 32: "
              f"{m['ferd48'] / m['torch48b']:.2f}x); 640x480 ferd / origin = "
              f"{m['ferd640'] / m['origin640']:.2f}x (defaults), "
              f"{m['ferd640o'] / m['origin640']:.2f}x (origin's settings), "
              f"{m['ferd640s'] / m['origin640']:.2f}x (320 px)")
    print(f"load average at end: {load_average()}")
    for c in (clf, clf_origin, clf_320):
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
