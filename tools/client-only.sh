#!/bin/sh
# tools/client-only.sh [BUILD_DIR] — proves that -Dclient_only=true builds
# libferclient and ferctl with cJSON alone: pkg-config is shown a directory
# holding only libcjson.pc (so OpenCV, OpenBLAS, libuv, libsystemd, zlib and
# Check, libjpeg and libpng are invisible) and no C++ compiler; the build must
# configure and compile with -Werror, ferctl must run and refuse a .png snapshot
# (no PNG encoder here) with a clear usage error, and nothing it links may be
# more than libc, libm, cJSON and libferclient. BUILD_DIR defaults to build-client.
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
# meson prints its errors on stdout: keep them for a failure, not for success.
log=$only/setup.log
if ! PKG_CONFIG_LIBDIR=$only CXX=false meson setup "$dir" -Dclient_only=true -Dwerror=true >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "client-only.sh: meson setup failed with cJSON alone (the lines above)" >&2
    exit 1
fi
meson compile -C "$dir"
"$dir/client/ferctl" --help >/dev/null
# Without libpng a .png snapshot is a usage error (64) naming the cause, before
# any socket is tried (the path given does not exist).
st=0
out=$("$dir/client/ferctl" -S "$only/no.sock" snapshot -o "$only/x.png" 2>&1) || st=$?
case "$st:$out" in
    64:*"built without libjpeg and libpng"*) ;;
    *) echo "client-only.sh: ferctl snapshot -o x.png should refuse with exit 64, got $st: $out" >&2
       exit 1 ;;
esac
libs=$(ldd "$dir/client/ferctl" | awk '{print $1}' | grep -v -e '^linux-vdso' -e '^/lib64/ld-linux' \
       -e '^libc\.so' -e '^libm\.so' -e '^libcjson\.so' -e '^libferclient\.so' || true)
if [ -n "$libs" ]; then
    echo "client-only.sh: ferctl links more than cJSON: $libs" >&2
    exit 1
fi
echo "client-only.sh: libferclient and ferctl built with cJSON alone; ferctl runs and links libc, libm, cJSON and libferclient only"
