#!/bin/sh
# The README's demo: ferd plays samples/demo.avi with its socket in a temporary
# directory, and `ferctl watch` streams its predictions to the terminal.
#  1. as root, installs the packages it needs to build and run (tools/install-deps.sh build);
#  2. builds into build/ (the directory tools/test.sh uses; $FER_BUILD_DIR
#     overrides it);
#  3. serves models/default.fermodel (the trained model), or, if that file is
#     missing, a random-weight one (faces found and tracked, labels noise);
#  4. starts ferd as the calling user (no systemd, no configuration file);
#  5. runs ferctl watch with this script's arguments (e.g. --events, --count 50);
#  6. on exit (the end of the watch, or Ctrl-C) stops ferd and removes the directory.
# While it runs, other terminals can use the socket it prints (FERD_SOCKET=...).
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    sh tools/install-deps.sh build >&2
fi
build=${FER_BUILD_DIR:-build}
if [ -d "$build/meson-private" ]; then
    meson setup --reconfigure "$build" >/dev/null
else
    meson setup "$build" >/dev/null
fi
meson compile -C "$build" >/dev/null

dir=$(mktemp -d "${TMPDIR:-/tmp}/ferd-demo.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

model=models/default.fermodel
if [ ! -f "$model" ]; then
    model=$dir/random.fermodel
    "$build/tests/make_model" models/default.arch "$model" >/dev/null
    echo "demo: no trained model yet (models/default.fermodel): random weights, so the labels are noise" >&2
fi

sock=$dir/ferd.sock
"$build/daemon/ferd" --source samples/demo.avi --socket "$sock" --model "$model" \
    --set allow_images=yes 2>"$dir/ferd.log" &
pid=$!
# Ready once the socket answers; a daemon that dies at start shows its log.
tries=0
until "$build/client/ferctl" --socket "$sock" status >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$dir/ferd.log" >&2
        exit 1
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { echo "demo: ferd did not start; see its log:" >&2; cat "$dir/ferd.log" >&2; exit 1; }
    sleep 0.1
done
echo "demo: ferd is playing samples/demo.avi; socket FERD_SOCKET=$sock; Ctrl-C stops the demo" >&2
"$build/client/ferctl" --socket "$sock" watch "$@"
