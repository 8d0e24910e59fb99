#!/usr/bin/python3
"""bench_analyze — frames per second of `fer analyze` on a whole video against the
origin's loop on the same video, measured in one run, rounds interleaved.

    /work/lead/bench-window.sh tools/bench_analyze.py [--fer build/tools/fer]
        [--clip samples/demo.avi] [--model models/default.fermodel] [--rounds 3]
        [--threads 2]

The origin's loop, as the project's origin webcam program ran it: every frame of
the clip decoded by OpenCV, turned grey, cv2.CascadeClassifier with
haarcascade_frontalface_default.xml at full resolution (detectMultiScale, step
1.1, 5 neighbours, faces from 48 px), then per face: crop, cv2.resize to 48x48,
x/255, the origin's network (models/seed.arch, 42.6M parameters, built in
PyTorch by tools/ferarch.py; its weights are random, which does not change its
speed) at batch 1, softmax. PyTorch and OpenCV get --threads threads.

fer analyze: `fer analyze CLIP -q -o -` with the shipped model, its records read
and counted (one per face per frame); it runs its own reader, find and finish
threads on both cores.

Each round runs both on the whole clip; the figure is frames per second of wall
time (the clip's frames over the run's time), the median over rounds, and the
ratio that of the medians; CPU time per frame (all threads) is printed beside it,
the steadier figure on a loaded machine. The load average is printed before and after: on a
shared machine the figures are provisional.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ferarch  # noqa: E402

CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def origin_loop(clip, net, cascade, cv2, torch, np):
    """(frames, faces, seconds, CPU seconds) of the origin's loop over the whole clip."""
    t0, c0 = time.perf_counter(), time.process_time()
    cap = cv2.VideoCapture(clip)
    frames = faces = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        for (x, y, w, h) in cascade.detectMultiScale(grey, 1.1, 5, minSize=(48, 48)):
            crop = cv2.resize(grey[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
            inp = torch.from_numpy(crop.astype(np.float32)[None, None] / 255.0)
            with torch.no_grad():
                torch.softmax(net(inp), dim=1)
            faces += 1
    cap.release()
    return frames, faces, time.perf_counter() - t0, time.process_time() - c0


def fer_analyze(fer, clip, model):
    """(frames with a record, records, seconds, CPU seconds) of fer analyze over the
    whole clip."""
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([fer, "analyze", clip, "--model", model, "-q", "-o", "-"],
                       capture_output=True, text=True, check=True)
    dt = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    recs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return len({r["frame"] for r in recs}), len(recs), dt, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fer", default=os.path.join(ROOT, "build", "tools", "fer"))
    ap.add_argument("--clip", default=os.path.join(ROOT, "samples", "demo.avi"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.fermodel"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import cv2
    import numpy as np
    import torch

    print(f"load average at start: {load_average()}")
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    net = ferarch.build_torch(ferarch.load_arch(os.path.join(ROOT, "models", "seed.arch")))
    net.eval()
    cascade = cv2.CascadeClassifier(CASCADE)
    cap = cv2.VideoCapture(a.clip)
    nframes = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    print(f"clip {a.clip} ({nframes} frames); origin: OpenCV {cv2.__version__} + PyTorch "
          f"{torch.__version__}, {a.threads} threads; fer analyze: {a.fer}, {a.model}")

    fer_fps, origin_fps, fer_cpu, origin_cpu = [], [], [], []
    for r in range(a.rounds):
        f_frames, f_recs, f_dt, f_cpu = fer_analyze(a.fer, a.clip, a.model)
        o_frames, o_faces, o_dt, o_cpu = origin_loop(a.clip, net, cascade, cv2, torch, np)
        fer_fps.append(nframes / f_dt)
        origin_fps.append(o_frames / o_dt)
        print(f"round {r + 1}: fer analyze {nframes} frames in {f_dt:.2f} s = "
              f"{nframes / f_dt:.1f} frames/s ({f_recs} records, {f_frames} frames with a "
              f"face; {f_cpu:.2f} s of CPU); origin {o_frames} frames in {o_dt:.2f} s = "
              f"{o_frames / o_dt:.1f} frames/s ({o_faces} faces; {o_cpu:.2f} s of CPU)")
        fer_cpu.append(f_cpu / nframes * 1000)
        origin_cpu.append(o_cpu / max(1, o_frames) * 1000)
        sys.stdout.flush()
    fm, om = statistics.median(fer_fps), statistics.median(origin_fps)
    print(f"median: fer analyze {fm:.1f} frames/s, origin's loop {om:.1f} frames/s; "
          f"ratio {fm / om:.1f}x (goal >= 10x)")
    fc, oc = statistics.median(fer_cpu), statistics.median(origin_cpu)
    print(f"CPU per frame (steadier on a shared machine): fer analyze {fc:.1f} ms, origin "
          f"{oc:.1f} ms; ratio {oc / fc:.1f}x")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
