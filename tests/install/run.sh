#!/bin/bash
# tests/install/run.sh — installed programs work without the source tree.
#
#   run.sh BUILD_DIR SOURCE_DIR PREFIX BINDIR SBINDIR LIBDIR DATADIR
#
# 1. `meson install --destdir` of this build into a scratch directory;
# 2. no installed file names the source or build tree (for programs, libraries
#    and archives: their .rodata and .data, where a compiled-in path would be;
#    debug information may name the build directory, as it does everywhere);
# 3. the shipped data is installed: architectures and the model under
#    DATADIR/ferd/models, the demo samples under DATADIR/ferd/samples; the
#    viewer, ferctl-view, needs no BLAS library (ferd does);
# 4. in a private mount namespace where the installed tree is mounted at PREFIX
#    and the source tree (the build directory with it) is covered by an empty
#    tmpfs, the installed `fer info default` finds the architecture, `ferd
#    --check-config` reports the installed model (which is there), ferctl and
#    its library load, ferd-mqtt and ferd-http accept their installed
#    configuration, and libferclassify opens the installed default model —
#    with an empty environment, so no FER_DATA_DIR or FER_MODEL helps them.
# Exits 77 (skipped) when no mount namespace can be made (neither root nor
# unprivileged user namespaces).
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
PREFIX=$3 BINDIR=$4 SBINDIR=$5 LIBDIR=$6 DATADIR=$7
abs() { case $1 in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
BINDIR=$(abs "$BINDIR") SBINDIR=$(abs "$SBINDIR") LIBDIR=$(abs "$LIBDIR")
DATA=$(abs "$DATADIR")/ferd

fail() { echo "FAIL: $*"; exit 1; }
DEST=$(mktemp -d "${TMPDIR:-/tmp}/ferd-install-XXXXXX")
trap 'rm -rf "$DEST"' EXIT

# ---- 1. install ----
meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet >"$DEST.log" 2>&1 ||
    { cat "$DEST.log"; rm -f "$DEST.log"; fail "meson install --destdir failed"; }
rm -f "$DEST.log"
echo "installed $(find "$DEST" -type f | wc -l) files under $DEST$PREFIX"

# ---- 2. nothing names the source or build tree ----
bad=0
while IFS= read -r -d '' f; do
    magic=$(head -c 7 "$f" | tr -d '\0')
    if [ "${magic:0:4}" = $'\x7fELF' ] || [ "$magic" = '!<arch>' ]; then
        for sec in .rodata .data; do
            if readelf -p "$sec" "$f" 2>/dev/null | grep -qF -e "$SRC" -e "$BUILD"; then
                echo "  $f: its $sec names $(readelf -p "$sec" "$f" | grep -F -e "$SRC" -e "$BUILD" | head -1)"
                bad=1
            fi
        done
    elif grep -qF -e "$SRC" -e "$BUILD" "$f"; then
        echo "  $f: $(grep -F -e "$SRC" -e "$BUILD" "$f" | head -1)"
        bad=1
    fi
done < <(find "$DEST" -type f -print0)
[ "$bad" = 0 ] || fail "installed files name the source tree $SRC"
echo "no installed file names $SRC"

# ---- 3. the shipped data ----
for f in models/default.arch models/seed.arch models/ferplus.arch models/default.fermodel \
         models/ferplus.fermodel samples/demo.avi \
         samples/demo.truth.csv samples/face.png; do
    [ -s "$DEST$DATA/$f" ] || fail "$DATA/$f is not installed"
done
echo "architectures, model and samples installed under $DATA"

# ---- 3b. the viewer links no BLAS ----
# ferctl-view decodes, draws and shows pictures (the image layer, src/meson.build)
# and runs no network: a BLAS or LAPACK library in its NEEDED list means a
# dependency brought fer_net or OpenBLAS back onto its link line, and its
# Debian package would depend on libopenblas again. ferd, which runs the
# network, must name libopenblas: so the pattern finds BLAS where it is.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
blas_re='blas|lapack'
if [ -e "$DEST$BINDIR/ferctl-view" ]; then
    needed "$DEST$SBINDIR/ferd" | grep -Eq "$blas_re" ||
        fail "ferd's NEEDED list names no BLAS: the check below could not see one ($(needed "$DEST$SBINDIR/ferd" | tr '\n' ' '))"
    bad=$(needed "$DEST$BINDIR/ferctl-view" | grep -E "$blas_re" || true)
    [ -z "$bad" ] || fail "ferctl-view needs $bad (it runs no network: see client/meson.build)"
    echo "ferctl-view needs no BLAS: $(needed "$DEST$BINDIR/ferctl-view" | tr '\n' ' ')"
fi

# ---- 4. the installed programs, the source tree out of reach ----
if [ "$(id -u)" -eq 0 ]; then
    ns=(unshare --mount --propagation private)
else
    ns=(unshare --user --map-root-user --mount --propagation private)
fi
"${ns[@]}" true 2>/dev/null || { echo "SKIP: cannot make a mount namespace"; exit 77; }
[ -d "$PREFIX" ] || { echo "SKIP: $PREFIX does not exist to mount the installed tree on"; exit 77; }

# The inner script runs in the namespace; this file is not read again meanwhile.
inner='
set -eu
mount --bind "$DEST$PREFIX" "$PREFIX"
mount -t tmpfs -o size=1m none "$SRC"
[ -z "$(ls -A "$SRC")" ] || { echo "FAIL: the source tree is still visible"; exit 1; }
run() { env -i PATH=/usr/bin:/bin "$@"; }
out=$(run "$BINDIR/fer" info default) || { echo "$out"; echo "FAIL: fer info default"; exit 1; }
case $out in "$DATA/models/default.arch: "*) ;; *)
    echo "$out" | head -3; echo "FAIL: fer info default did not read $DATA/models/default.arch"; exit 1;; esac
echo "fer info default: $(echo "$out" | head -1)"
out=$(run "$BINDIR/fer" info "$DATA/models/ferplus.fermodel") ||
    { echo "$out"; echo "FAIL: fer info on the installed FER+ model"; exit 1; }
echo "$out" | grep -q "^classes *angry, disgust, fear, happy, sad, surprise, neutral, contempt$" ||
    { echo "$out" | grep "^classes"; echo "FAIL: the installed FER+ model has not its 8 classes"; exit 1; }
echo "fer info ferplus.fermodel: 8 classes"
out=$(run "$SBINDIR/ferd" --check-config 2>&1) || { echo "$out"; echo "FAIL: ferd --check-config"; exit 1; }
echo "$out" | grep -qx "model $DATA/models/default.fermodel" ||
    { echo "$out" | grep "^model"; echo "FAIL: ferd does not default to the installed model"; exit 1; }
[ -r "$DATA/models/default.fermodel" ] || { echo "FAIL: the installed model is not readable"; exit 1; }
echo "ferd --check-config: $(echo "$out" | head -1), $(echo "$out" | grep "^model")"
run LD_LIBRARY_PATH="$LIBDIR" "$BINDIR/ferctl" --help >/dev/null ||
    { echo "FAIL: the installed ferctl does not run"; exit 1; }
echo "ferctl --help: ok (libferclient from $LIBDIR)"
for prog in ferd-mqtt ferd-http; do
    out=$(run LD_LIBRARY_PATH="$LIBDIR" "$SBINDIR/$prog" --check-config 2>&1) ||
        { echo "$out" | tail -3; echo "FAIL: $prog --check-config"; exit 1; }
done
echo "ferd-mqtt and ferd-http --check-config: ok"
# The installed libferclassify, opened as a program opens it, with no model
# named: its default model must be the installed one (util/paths.c looks for
# a build tree beside the library first, which must not be found here).
# In a sanitizer build the library needs the ASan runtime loaded first (PRE).
pre=()
[ -z "$PRE" ] || pre=(LD_PRELOAD="$PRE" ASAN_OPTIONS=detect_leaks=0)
out=$(run "${pre[@]}" /usr/bin/python3 -c "
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.fer_classifier_model_path.restype = ctypes.c_char_p
c = ctypes.c_void_p()
err = ctypes.create_string_buffer(4 + 512)
if lib.fer_classifier_open(ctypes.byref(c), None, None, err) < 0:
    print(err.raw[4:].split(bytes(1))[0].decode())
    sys.exit(1)
print(lib.fer_classifier_model_path(c).decode())
lib.fer_classifier_close(c)
" "$LIBDIR/libferclassify.so.0" 2>&1) || { echo "$out"; echo "FAIL: libferclassify did not open its default model"; exit 1; }
[ "$out" = "$DATA/models/default.fermodel" ] ||
    { echo "$out"; echo "FAIL: libferclassify opened $out, not the installed model"; exit 1; }
echo "libferclassify default model: $out"
'
# libferclassify built with -fsanitize links libasan: the interpreter that
# loads it must have the runtimes preloaded (as tests/python/run.py does).
PRE=
if readelf -d "$DEST$LIBDIR/libferclassify.so.0" | grep -q 'NEEDED.*libasan'; then
    for lib in libasan.so libubsan.so; do
        p=$(gcc -print-file-name=$lib)
        [ "$p" = "$lib" ] || PRE="$PRE $(readlink -f "$p")"
    done
fi
PRE=$PRE DEST=$DEST PREFIX=$PREFIX SRC=$SRC DATA=$DATA BINDIR=$BINDIR SBINDIR=$SBINDIR LIBDIR=$LIBDIR \
    "${ns[@]}" bash -c "$inner"
echo "installed programs work with $SRC out of reach"
