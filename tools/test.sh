#!/bin/sh
# The project's whole test run, exactly what CI runs (.ci/run calls this):
#  1. install every Debian package the project needs (tools/install-deps.sh, as root);
#  2. a normal gcc build and `meson test`;
#  3. an ASan+UBSan build and `meson test` again.
# Build directories: build/ and build-san/ at the top of the source tree.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    sh tools/install-deps.sh
else
    echo "test.sh: not root, assuming the packages of tools/install-deps.sh are installed" >&2
fi

setup() { # setup DIR [meson options...]
    dir=$1; shift
    if [ -d "$dir/meson-private" ]; then
        meson setup --reconfigure "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

echo "== normal build"
setup build
meson compile -C build
meson test -C build --print-errorlogs

echo "== sanitizer build (ASan + UBSan)"
# b_lundef=false: the sanitizer runtimes resolve symbols at load time.
setup build-san -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-san
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-san --print-errorlogs
echo "test.sh: all suites passed"
