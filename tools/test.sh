#!/bin/sh
# The project's whole test run, exactly what CI runs (.ci/run calls this):
#  1. install every Debian package the project needs (tools/install-deps.sh, as root);
#  2. a normal gcc build and `meson test`;
#  3. an ASan+UBSan build and `meson test` again;
#  4. the reliability runs of issue 7 (docs/RELIABILITY.md): the soak (SOAK_SECONDS,
#     default 120) and valgrind suites on the normal build, and every libFuzzer target
#     for FUZZ_SECONDS (default 45) each in a clang build (tools/fuzz.sh); with
#     VALGRIND_DAEMON_TESTS=1 also the daemon's tests under valgrind.
# Build directories: build/, build-san/ and build-fuzz/ at the top of the source tree.
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

# Suites with a run of their own below (tests/reliability/meson.build).
heavy="--no-suite soak --no-suite valgrind --no-suite valgrind-daemon"
took() { echo "test.sh: $1 took $(( $(date +%s) - $2 )) s"; }

echo "== normal build"
t=$(date +%s)
setup build
meson compile -C build
# shellcheck disable=SC2086
meson test -C build --print-errorlogs $heavy
took "normal build and tests" "$t"

echo "== soak and valgrind (normal build)"
# valgrind-daemon (the daemon's Check tests with every ferd under memcheck, ~6 min)
# runs with VALGRIND_DAEMON_TESTS=1; the valgrind suite always runs.
t=$(date +%s)
vg="--suite valgrind"
[ "${VALGRIND_DAEMON_TESTS:-0}" = 1 ] && vg="$vg --suite valgrind-daemon"
# shellcheck disable=SC2086
SOAK_SECONDS=${SOAK_SECONDS:-120} meson test -C build --print-errorlogs --suite soak $vg
took "soak and valgrind" "$t"

echo "== sanitizer build (ASan + UBSan)"
# b_lundef=false: the sanitizer runtimes resolve symbols at load time.
t=$(date +%s)
setup build-san -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-san
# shellcheck disable=SC2086
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-san --print-errorlogs $heavy
took "sanitizer build and tests" "$t"

echo "== fuzzing (clang, libFuzzer, ASan + UBSan)"
t=$(date +%s)
sh tools/fuzz.sh "${FUZZ_SECONDS:-45}"
took "fuzz build and runs" "$t"
echo "test.sh: all suites passed"
