#!/bin/sh
# bench.sh — ferd's engine against PyTorch and OpenCV DNN on the same weights, in one run.
#
#   sh tools/bench.sh [BUILD_DIR]        (default: build)
#
# 1. `fer bench --write-models` writes default.fermodel and seed.fermodel with random
#    weights (seeded) to a scratch directory, so all three runtimes see the same numbers;
# 2. `fer bench` on those files: load average, sgemm peak, batch-1 latency, per-layer
#    GFLOPS, batch-32 throughput, and the seed net again with fp16 fc weights;
# 3. `fer bench train`: training images/s of the default architecture (batch 64, 2 threads);
# 4. tools/bench_torch.py on the same files: PyTorch (eval, no_grad) and OpenCV DNN (the
#    ONNX export) at one thread, and PyTorch training at batch 64 with 2 threads;
# 5. the ratios, from the RESULT lines both print.
# OpenBLAS: fer runs with the environment as it is (OPENBLAS_CORETYPE pins Debian's
# OpenBLAS to kernels that are correct here; ferd's convolutions do not use it); the
# Python step runs without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE so PyTorch gets the
# OpenBLAS kernels it would pick itself, and prints which one that was.
# Benchmark on an idle machine: the load average is printed before each part and this
# script warns when it is above 0.5.
set -eu

build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
fer="$build/tools/fer"
[ -x "$fer" ] || { echo "bench.sh: $fer not found (build first, or pass the build dir)" >&2; exit 2; }
[ -x /usr/bin/python3 ] || { echo "bench.sh: /usr/bin/python3 is needed" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "bench.sh: WARNING: load $load > 0.5 — other jobs are running; the figures will be low and noisy."
fi

"$fer" bench --write-models "$tmp" >/dev/null
echo "== fer bench (inference, 1 thread) =="
"$fer" bench --model "$tmp/default.fermodel" --model "$tmp/seed.fermodel" --fp16 | tee "$tmp/fer.txt"
echo "== fer bench train (default, batch 64, 2 threads) =="
"$fer" bench train --arch default --threads 2 | tee -a "$tmp/fer.txt"
echo "== PyTorch and OpenCV DNN =="
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$here/bench_torch.py" \
    "$tmp/default.fermodel" "$tmp/seed.fermodel" --threads 1 --train default --train-threads 2 \
    | tee "$tmp/torch.txt"

echo "== ratios (ferd / other; time: < 1 is ferd faster; images/s: > 1 is ferd faster) =="
cat "$tmp/fer.txt" "$tmp/torch.txt" | awk '
    $1 == "RESULT" { v[$2 " " $3] = $4 }
    function ratio(label, a, b) {
        if ((a in v) && (b in v) && v[b] > 0)
            printf "  %-46s %8.3f   (%g / %g)\n", label, v[a] / v[b], v[a], v[b]
    }
    END {
        ratio("default batch-1 latency ferd/PyTorch", "default fer_b1_ms", "default torch_b1_ms")
        ratio("default batch-1 latency ferd/OpenCV DNN", "default fer_b1_ms", "default opencv_b1_ms")
        ratio("default batch-32 images/s ferd/PyTorch", "default fer_b32_ips", "default torch_b32_ips")
        ratio("default batch-32 images/s ferd/OpenCV DNN", "default fer_b32_ips", "default opencv_b32_ips")
        ratio("seed batch-1 latency ferd/PyTorch", "seed fer_b1_ms", "seed torch_b1_ms")
        ratio("seed batch-1 latency ferd/OpenCV DNN", "seed fer_b1_ms", "seed opencv_b1_ms")
        ratio("seed fp16-fc batch-1 latency ferd/OpenCV DNN", "seed_fp16 fer_b1_ms", "seed opencv_b1_ms")
        ratio("seed batch-32 images/s ferd/PyTorch", "seed fer_b32_ips", "seed torch_b32_ips")
        ratio("seed batch-32 images/s ferd/OpenCV DNN", "seed fer_b32_ips", "seed opencv_b32_ips")
        ratio("default training images/s ferd/PyTorch", "default fer_train_ips", "default torch_train_ips")
        if ("default fer_conv_peak_pct" in v)
            printf "  %-46s %7.0f%%\n", "default conv layers, share of the sgemm peak", v["default fer_conv_peak_pct"]
    }'
echo "bench.sh: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
