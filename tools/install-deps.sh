#!/bin/sh
# Installs the Debian packages ferd needs, by use. Run as root on Debian 12.
#
#   sh tools/install-deps.sh build     build ferd and run it: the demo (tools/demo.sh)
#   sh tools/install-deps.sh package   build + what dpkg-buildpackage needs (debian/)
#   sh tools/install-deps.sh test      build + package + every tool a test, benchmark or
#                                      script calls (tools/test.sh, CI)
#   sh tools/install-deps.sh           the same as test
#
# Each group names every package whose command a script of that use calls, so
# the group works on a minimal root (debootstrap --variant=minbase), where
# only Debian's essential and required packages are present.
# Idempotent: apt-get runs only when a package is missing, so a second run stays
# offline.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (apt-get needs it)" >&2
    exit 1
fi
use=${1:-test}

# Compilers, meson, and the libraries ferd, ferctl, ferd-mqtt, ferd-http and
# libferclassify build against; opencv-data holds the face detector's cascade.
BUILD="
    gcc g++ pkg-config meson ninja-build
    libopenblas-dev libuv1-dev libopencv-dev libcjson-dev libsystemd-dev check zlib1g-dev
    libjpeg-dev libpng-dev
    opencv-data libmosquitto-dev libssl-dev libmicrohttpd-dev
"
# dpkg-buildpackage -us -uc -b (debian/control's Build-Depends beyond BUILD):
# debhelper with its meson and pybuild build systems, pandoc for the man pages.
PACKAGE="
    dpkg-dev debhelper dh-python python3-all python3-setuptools python3-wheel
    pybuild-plugin-pyproject pandoc
"
# The test suites, benchmarks and helper scripts: Python with PyTorch and ONNX
# (parity, training, the Python package), sanitizer and fuzzing runtimes,
# valgrind, the real peers (mosquitto, chromium, prometheus's promtool, curl,
# socat), X for ferctl view, debootstrap for the systemd test, lintian for the
# packages, procps for pgrep, git for the sources a package build copies.
TEST="
    clang libclang-rt-14-dev valgrind strace
    python3 python3-numpy python3-torch python3-opencv python3-onnx
    python3-venv python3-pytest python3-mypy
    debootstrap lintian socat jq procps git ca-certificates
    xvfb xauth x11-apps
    mosquitto mosquitto-clients openssl curl chromium prometheus
"
case $use in
    build) PKGS=$BUILD ;;
    package) PKGS="$BUILD $PACKAGE" ;;
    test) PKGS="$BUILD $PACKAGE $TEST" ;;
    *) echo "install-deps.sh: unknown use '$use' (build, package or test)" >&2; exit 64 ;;
esac

# Update the package lists only when a package is missing.
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps.sh: the packages for '$use' are present"
