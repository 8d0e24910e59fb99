#!/bin/bash
# tests/systemd/dev-packages.sh — the -dev packages used as a user uses them.
#
#   dev-packages.sh DEBS_DIR
#
# DEBS_DIR holds the built .debs (run.sh calls this after dpkg-buildpackage;
# it also runs by itself on any such directory, as root or not, in seconds).
# libferclient0 + libferclient-dev, libferclassify0 + libferclassify-dev and
# ferd-data are unpacked with `dpkg-deb -x` into a scratch root; then for each
# library a small C program (dev_client.c, dev_classify.c beside this script)
# is compiled and linked with the flags of the packaged .pc file alone
# (PKG_CONFIG_LIBDIR names the root's pkgconfig directory first,
# PKG_CONFIG_SYSROOT_DIR maps its /usr into the root), and run with
# LD_LIBRARY_PATH into the root: libferclient fails to connect to a missing
# socket as documented; libferclassify opens ferd-data's model and classifies
# ferd-data's face.png. A header, the .pc file or the .so link missing from a
# -dev package fails the compile, pkg-config or the link; each step also checks
# that what it used came from the root (the .pc file, the linked .so, the
# loaded .so.0), not from a library installed on this machine.
set -euo pipefail

DEBS=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
for t in dpkg-deb pkg-config cc ldd; do
    command -v "$t" >/dev/null || fail "$t not installed (sh tools/install-deps.sh test)"
done
ma=$(cc -print-multiarch)
[ -n "$ma" ] || fail "cc -print-multiarch printed nothing"

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ferd-dev-XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
for p in libferclient0 libferclient-dev libferclassify0 libferclassify-dev ferd-data; do
    deb=$(ls "$DEBS/${p}_"*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || fail "no ${p}_*.deb in $DEBS"
    dpkg-deb -x "$deb" "$ROOT"
done
version=$(dpkg-deb -f "$(ls "$DEBS"/libferclassify-dev_*.deb | head -1)" Version)
upstream=${version%%-*}
LIB=$ROOT/usr/lib/$ma

# The root's .pc files first; the system's directories after them for what
# they require (libcjson). The sysroot prefixes every -I and -L: a system
# package's flags then name paths that do not exist in the root, which the
# compiler ignores and finds those headers and libraries where they are.
export PKG_CONFIG_LIBDIR=$LIB/pkgconfig:/usr/lib/$ma/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$ROOT
unset PKG_CONFIG_PATH

# build NAME PCNAME: compile and link HERE/NAME.c into ROOT/NAME with the
# package's flags; the link's trace must show the root's .so.
build() {
    local name=$1 pc=$2 cflags libs
    [ "$(pkg-config --variable=pcfiledir "$pc" 2>/dev/null)" = "$LIB/pkgconfig" ] ||
        fail "$pc.pc is not in the -dev package (pkg-config found it in '$(pkg-config --variable=pcfiledir "$pc" 2>/dev/null)')"
    cflags=$(pkg-config --cflags "$pc") || fail "pkg-config --cflags $pc"
    libs=$(pkg-config --libs "$pc") || fail "pkg-config --libs $pc"
    # -nostdinc would also hide libc: instead, no include path but the
    # package's (no -I of the source tree, no /usr/local/include/ferd).
    # shellcheck disable=SC2086
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$ROOT/$name" "$HERE/$name.c" $cflags $libs \
        -Wl,--trace > "$ROOT/$name.trace" 2> "$ROOT/$name.err" ||
        { cat "$ROOT/$name.err"; fail "$name.c does not build against the -dev package (cflags: $cflags; libs: $libs)"; }
    grep -qx "$LIB/lib${pc#lib}.so" "$ROOT/$name.trace" ||
        { grep "${pc#lib}" "$ROOT/$name.trace" || true; fail "$name was not linked with $LIB/lib${pc#lib}.so"; }
    local loaded
    loaded=$(LD_LIBRARY_PATH=$LIB ldd "$ROOT/$name" | awk -v l="lib${pc#lib}.so.0" '$1 == l { print $3 }')
    [ "$loaded" = "$LIB/lib${pc#lib}.so.0" ] || fail "$name loads lib${pc#lib}.so.0 from '$loaded', not $LIB"
    echo "   $name: cflags $cflags; libs $libs"
}

echo "== the -dev packages in use ($version, unpacked into a scratch root)"
build dev_client libferclient
out=$(LD_LIBRARY_PATH=$LIB "$ROOT/dev_client" "$ROOT/no-such-dir/ferd.sock" 2>&1) ||
    { echo "$out"; fail "dev_client against libferclient0"; }
echo "$out" | sed 's/^/   /'

build dev_classify libferclassify
data=$ROOT/usr/share/ferd
# The model is named; FER_DATA_DIR keeps any other data lookup in the root, away
# from an installed /usr/share/ferd. The Haar cascade is the host's opencv-data
# (a Depends of libferclassify0, installed with the build dependencies).
out=$(LD_LIBRARY_PATH=$LIB FER_DATA_DIR=$data "$ROOT/dev_classify" \
      "$data/models/default.fermodel" "$data/samples/face.png" "$upstream" 2>&1) ||
    { echo "$out"; fail "dev_classify against libferclassify0 and ferd-data"; }
echo "$out" | sed 's/^/   /'
echo "   libferclient-dev and libferclassify-dev build working programs"
