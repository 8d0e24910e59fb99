#!/usr/bin/python3
"""bench_torch — the other runtimes on the same weights: PyTorch and OpenCV DNN.

    bench_torch.py MODEL.fermodel [MODEL.fermodel ...] [--threads 1] [--iters N]
                   [--train-threads 2] [--train-steps 20] [--no-train] [--no-opencv]

For each model (written by `fer bench --write-models DIR`, so ferd and this script
time the very same weights), in this order:
  * PyTorch, eval mode under torch.no_grad(), torch.set_num_threads(--threads) and
    set_num_interop_threads: batch-1 latency (median, p10, p90 over --iters runs after
    a warm-up) and batch-32 throughput;
  * OpenCV DNN on the model's ONNX export (tools/fer2onnx.py), cv2.setNumThreads
    (--threads): the same two figures, plus the largest logit difference from PyTorch
    on the same input (a check that both run the same network);
  * PyTorch training images/s of the same architecture: batch 64, random data,
    SGD with Nesterov momentum 0.9 and weight decay 5e-4, cross-entropy with label
    smoothing 0.1, --train-threads threads (2: what `fer train` uses).
The load average is printed first and last, with a warning above 0.5. Every figure
also goes to one "RESULT <model> <key> <value>" line that tools/bench.sh reads.

The OpenBLAS build Debian ships is pinned to its Haswell kernels on some machines
through OPENBLAS_CORETYPE; tools/bench.sh runs this script without that variable (so
PyTorch gets its best BLAS) and this script prints the OpenBLAS kernel it loaded.
Needs /usr/bin/python3 with python3-torch, python3-numpy and python3-opencv.
"""

import argparse
import ctypes
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferarch  # noqa: E402


def load_average(when):
    with open("/proc/loadavg") as f:
        l1, l5, l15 = (float(v) for v in f.read().split()[:3])
    print(f"load average ({when}): {l1:.2f} {l5:.2f} {l15:.2f}")
    if l1 > 0.5:
        print(f"WARNING: load {l1:.2f} > 0.5: other work competes for the processor; "
              "these figures understate the runtimes. Re-run on an idle machine.")
    return l1


def openblas_core():
    """The OpenBLAS kernel this process runs (what threadpoolctl would report)."""
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            fn = lib.openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode()
        except (OSError, AttributeError):
            continue
    return "not OpenBLAS"


def timed(fn, iters, warm_s=0.3):
    """Runs fn for ~warm_s, then iters timed runs; returns the list of seconds."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warm_s:
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def quantiles(ts):
    ts = sorted(ts)
    q = lambda p: float(np.interp(p * (len(ts) - 1), range(len(ts)), ts))  # noqa: E731
    return q(0.5), q(0.1), q(0.9)


def result(model, key, value):
    print(f"RESULT {model} {key} {value:.6g}")


def bench_infer(torch, name, net, shape, iters, threads):
    c, h, w = shape
    rng = np.random.default_rng(1)
    x1 = torch.from_numpy(rng.uniform(-1, 1, (1, c, h, w)).astype(np.float32))
    x32 = torch.from_numpy(rng.uniform(-1, 1, (32, c, h, w)).astype(np.float32))
    with torch.no_grad():
        def one():
            net(x1)
        t = timed(one, iters)
        med, p10, p90 = quantiles(t)
        print(f"  PyTorch batch 1: median {med * 1e3:.3f} ms, p10 {p10 * 1e3:.3f}, "
              f"p90 {p90 * 1e3:.3f} ({iters} runs, {threads} thread{'s' if threads > 1 else ''})")
        result(name, "torch_b1_ms", med * 1e3)

        def batch():
            net(x32)
        t = timed(batch, max(5, iters // 16))
        med32 = quantiles(t)[0]
        print(f"  PyTorch batch 32: {med32 * 1e3:.3f} ms per batch = {32 / med32:.1f} images/s")
        result(name, "torch_b32_ips", 32 / med32)
        ref = net(x1).numpy()
    return x1.numpy(), x32.numpy(), ref


def bench_opencv(name, model_path, x1, x32, ref, iters, threads):
    import cv2
    import fer2onnx
    cv2.setNumThreads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        fer2onnx.export(model_path, onnx_path)
        dnn = cv2.dnn.readNetFromONNX(onnx_path)
    dnn.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    dnn.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def run(x):
        dnn.setInput(x)
        return dnn.forward()

    diff = float(np.max(np.abs(run(x1) - ref)))
    t = timed(lambda: run(x1), iters)
    med, p10, p90 = quantiles(t)
    print(f"  OpenCV DNN {cv2.__version__} batch 1: median {med * 1e3:.3f} ms, p10 {p10 * 1e3:.3f}, "
          f"p90 {p90 * 1e3:.3f} ({iters} runs; max |logit - PyTorch| {diff:.2g})")
    result(name, "opencv_b1_ms", med * 1e3)
    t = timed(lambda: run(x32), max(5, iters // 16))
    med32 = quantiles(t)[0]
    print(f"  OpenCV DNN batch 32: {med32 * 1e3:.3f} ms per batch = {32 / med32:.1f} images/s")
    result(name, "opencv_b32_ips", 32 / med32)


def bench_train(torch, name, arch, threads, steps, batch=64):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = ferarch.build_torch(arch)
    net.train()
    c, h, w = arch.input
    ncls = arch.layers[-1]["out"][0]
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, ncls, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    med = statistics.median(times)
    print(f"  PyTorch training: batch {batch}, {threads} threads, SGD Nesterov 0.9 wd 5e-4: "
          f"{batch * steps / total:.1f} images/s (mean of {steps} steps; median step "
          f"{med * 1e3:.1f} ms = {batch / med:.1f} images/s)")
    result(name, "torch_train_ips", batch * steps / total)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help=".fermodel files (fer bench --write-models DIR)")
    ap.add_argument("--threads", type=int, default=1, help="inference threads (1)")
    ap.add_argument("--iters", type=int, default=0, help="batch-1 runs (default: ~2 s worth)")
    ap.add_argument("--train-threads", type=int, default=2)
    ap.add_argument("--train", default="default",
                    help="comma-separated model names to time training for (default)")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--no-opencv", action="store_true")
    args = ap.parse_args(argv)

    import torch
    load_average("start")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    print(f"PyTorch {torch.__version__}, OpenBLAS kernel {openblas_core()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    for path in args.models:
        net, m = ferarch.load_fermodel_torch(path)
        net.eval()
        arch = m["arch"]
        name = arch.name or os.path.splitext(os.path.basename(path))[0]
        print(f"\n{name} ({path})")
        iters = args.iters
        if not iters:
            with torch.no_grad():
                x = torch.zeros(1, *arch.input)
                t = timed(lambda: net(x), 5, warm_s=0.1)
            iters = max(50, int(2.0 / statistics.median(t)))
        torch.set_num_threads(args.threads)
        x1, x32, ref = bench_infer(torch, name, net, arch.input, iters, args.threads)
        if not args.no_opencv:
            bench_opencv(name, path, x1, x32, ref, iters, args.threads)
        if not args.no_train and name in args.train.split(","):
            bench_train(torch, name, arch, args.train_threads, args.train_steps)
            torch.set_num_threads(args.threads)
    print()
    load_average("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
