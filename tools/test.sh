#!/bin/sh
# The project's whole test run, exactly what CI runs (.ci/run calls this):
#  1. install every Debian package the project needs (tools/install-deps.sh test, as root);
#  2. a normal gcc build with -Werror; `meson test` (the fast suites, the default
#     test setup) and then, by name, the suites it leaves out: fuzz (the corpus
#     replays), parity (live PyTorch parity) and systemd;
#  3. an ASan+UBSan build with -Werror and the same (systemd excepted);
#  4. the reliability runs of issue 7 (docs/RELIABILITY.md): the soak (SOAK_SECONDS,
#     default 120) and valgrind suites on the normal build, and every libFuzzer target
#     for FUZZ_SECONDS (default 45) each in a clang build (tools/fuzz.sh); with
#     VALGRIND_DAEMON_TESTS=1 also the daemon's tests under valgrind;
#  5. a client-only build (-Dclient_only=true) that sees no library but cJSON.
# Build directories: build/, build-san/, build-fuzz/ and build-client/ at the top of
# the source tree.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    sh tools/install-deps.sh test
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

# `meson test` runs the fast suites (add_test_setup 'fast' in meson.build); these
# run by name. soak, valgrind and valgrind-daemon have a run of their own below.
by_name="--suite fuzz --suite parity"
took() { echo "test.sh: $1 took $(( $(date +%s) - $2 )) s"; }

echo "== normal build"
t=$(date +%s)
setup build -Dwerror=true
meson compile -C build
meson test -C build --print-errorlogs
# shellcheck disable=SC2086
meson test -C build --print-errorlogs $by_name --suite systemd
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
setup build-san -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-san
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build-san --print-errorlogs
# shellcheck disable=SC2086
meson test -C build-san --print-errorlogs $by_name
unset ASAN_OPTIONS UBSAN_OPTIONS
took "sanitizer build and tests" "$t"

echo "== fuzzing (clang, libFuzzer, ASan + UBSan)"
t=$(date +%s)
sh tools/fuzz.sh "${FUZZ_SECONDS:-45}"
took "fuzz build and runs" "$t"

echo "== client-only build (libferclient and ferctl with cJSON alone)"
t=$(date +%s)
sh tools/client-only.sh build-client
took "client-only build" "$t"
echo "test.sh: all suites passed"
