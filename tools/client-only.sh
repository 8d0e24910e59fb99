#!/bin/sh
# tools/client-only.sh [BUILD_DIR] — proves that -Dclient_only=true builds
# libferclient and ferctl with cJSON alone: pkg-config is shown a directory
# holding only libcjson.pc (so OpenCV, OpenBLAS, libuv, libsystemd, zlib and
# Check are invisible) and no C++ compiler; the build must configure and compile
# with -Werror, ferctl must run, and nothing it links may be more than libc,
# libm, cJSON and libferclient. BUILD_DIR defaults to build-client.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-client}
pc=$(pkg-config --variable=pcfiledir libcjson)
only=$(mktemp -d)
trap 'rm -rf "$only"' EXIT
cp "$pc/libcjson.pc" "$only/"
# A fresh configuration each time (only a meson build directory is removed).
if [ -e "$dir" ]; then
    [ -d "$dir/meson-private" ] || { echo "client-only.sh: $dir is not a build directory" >&2; exit 1; }
    rm -rf "$dir"
fi
PKG_CONFIG_LIBDIR=$only CXX=false meson setup "$dir" -Dclient_only=true -Dwerror=true >/dev/null
meson compile -C "$dir"
"$dir/client/ferctl" --help >/dev/null
libs=$(ldd "$dir/client/ferctl" | awk '{print $1}' | grep -v -e '^linux-vdso' -e '^/lib64/ld-linux' \
       -e '^libc\.so' -e '^libm\.so' -e '^libcjson\.so' -e '^libferclient\.so' || true)
if [ -n "$libs" ]; then
    echo "client-only.sh: ferctl links more than cJSON: $libs" >&2
    exit 1
fi
echo "client-only.sh: libferclient and ferctl built with cJSON alone; ferctl runs and links libc, libm, cJSON and libferclient only"
