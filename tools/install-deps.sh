#!/bin/sh
# Installs every Debian package ferd needs to build, test and benchmark.
# Idempotent: apt-get skips what is already installed. Run as root on Debian 12.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (apt-get needs it)" >&2
    exit 1
fi
PKGS="
    gcc g++ clang pkg-config meson ninja-build git ca-certificates
    libopenblas-dev libuv1-dev libopencv-dev libcjson-dev libsystemd-dev check zlib1g-dev
    opencv-data
    python3 python3-numpy python3-torch python3-opencv python3-onnx
    python3-venv python3-setuptools python3-wheel python3-pytest python3-mypy
    valgrind strace libclang-rt-14-dev
    debootstrap socat
    jq xvfb xauth x11-apps
    libmosquitto-dev libssl-dev mosquitto mosquitto-clients openssl
    libmicrohttpd-dev curl chromium prometheus
"
# Update the package lists only when a package is missing, so a second run stays offline.
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps.sh: all packages present"
