#!/bin/sh
# bench-mqtt.sh — what ferd-mqtt adds (docs/BENCHMARKS.md, "MQTT bridge").
#
#   sh tools/bench-mqtt.sh [BUILD_DIR] [SECONDS]     (default: build, 60)
#
# Four runs of tests/mqtt/bench_mqtt (each: its own mosquitto on a free
# loopback port, ferd playing a clip, ferd-mqtt between them, a subscriber
# and a direct client of ferd in the benchmark):
#   1. samples/demo.avi at its own rate (15 fps), ferd-mqtt's defaults
#      (events, state, status): its CPU, and the latency it adds to events;
#   2. the same with every RESULT published (results yes, results_max_rate 0):
#      the latency it adds to each frame's result;
#   3. and 4. the same two at 30 fps: the demo clip's frames written again at
#      30 fps (python3-opencv), so the faces and events are the clip's;
#   5. run 4 with the broker's set_tcp_nodelay on (mosquitto leaves Nagle's
#      algorithm on towards subscribers by default: a message sent right
#      after another, a result and an event of the same frame, may wait
#      for the first one's ACK).
# The model is the shipped models/default.fermodel. The load average is
# printed before each run: benchmark on a quiet machine.
set -eu

build=${1:-build}
secs=${2:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
bench="$build/tests/mqtt/bench_mqtt"
for f in "$bench" "$build/daemon/ferd" "$build/mqtt/ferd-mqtt"; do
    [ -x "$f" ] || { echo "bench-mqtt.sh: $f not found (build first, or pass the build dir)" >&2; exit 2; }
done
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] ||
    { echo "bench-mqtt.sh: mosquitto is not installed (tools/install-deps.sh)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

demo="$here/samples/demo.avi"
clip30="$tmp/demo30.avi"
/usr/bin/python3 - "$demo" "$clip30" <<'EOF'
import sys
import cv2
src, dst = sys.argv[1], sys.argv[2]
cap = cv2.VideoCapture(src)
out = None
while True:
    ok, img = cap.read()
    if not ok:
        break
    if out is None:
        h, w = img.shape[:2]
        out = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    out.write(img)
out.release()
EOF

model="$here/models/default.fermodel"
run() { # run LABEL CLIP [--results]
    label=$1; clip=$2; shift 2
    echo "== $label (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bench" --ferd "$build/daemon/ferd" --bridge "$build/mqtt/ferd-mqtt" --model "$model" \
        --clip "$clip" --seconds "$secs" "$@" | tee "$tmp/$label.txt"
}
run demo15-defaults "$demo"
run demo15-results "$demo" --results
run demo30-defaults "$clip30"
run demo30-results "$clip30" --results
run demo30-results-nodelay "$clip30" --results --broker-nodelay

echo "== summary (ms; CPU in % of one core)"
for l in demo15-defaults demo15-results demo30-defaults demo30-results demo30-results-nodelay; do
    awk -v l="$l" '$1 == "RESULT" { v[$2] = $3 }
        END {
            printf "%-23s fps %5.1f  bridge CPU %5.2f%%  broker CPU %5.2f%%", l, v["fps"], v["bridge_cpu_pct"], v["broker_cpu_pct"]
            if ("added_result_p50_ms" in v)
                printf "  added per result p50 %.3f p99 %.3f (n %d, missed %d)", v["added_result_p50_ms"], v["added_result_p99_ms"], v["added_result_n"], v["added_result_missed"]
            printf "  added per event p50 %.3f p99 %.3f (n %d, missed %d)\n", v["added_event_p50_ms"], v["added_event_p99_ms"], v["added_event_n"], v["added_event_missed"]
        }' "$tmp/$l.txt"
done
