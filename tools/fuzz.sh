#!/bin/sh
# tools/fuzz.sh [SECONDS] [TARGET...] — builds the libFuzzer targets of fuzz/ with
# clang, ASan and UBSan, and runs each for SECONDS (default 60; FUZZ_SECONDS too).
#
# The build is a separate meson directory (FUZZ_BUILD, default build-fuzz) set up
# with CC=clang -Dfuzz=true -Dwerror=true -Db_sanitize=address,undefined
# -Db_lundef=false, options given again on every run so that a directory set up
# before (or by hand) is held to them too; only the fuzz targets and what they
# link are compiled. `sh tools/fuzz.sh 1` is the build with a 1-s run of each.
# Each target starts from its committed seeds (fuzz/corpus/<target>/, read
# only) and its regression inputs; what it discovers goes to
# FUZZ_BUILD/fuzz-work/<target>/corpus, which is thrown away on the next run so
# every run starts from the same seeds.
#
# Any crash, leak, timeout (10 s per input), out-of-memory (2 GiB RSS) or
# sanitizer report makes the script exit 1 after all targets ran; the input
# that did it is kept in FUZZ_BUILD/fuzz-work/<target>/ (crash-*, leak-*,
# timeout-*, oom-*). Once fixed, copy it to fuzz/regressions/<target>/: the
# meson test fuzz-<target> replays it in every build from then on.
#
# Per target the executions, coverage and peak RSS libFuzzer reports with
# -print_final_stats=1 are written to FUZZ_BUILD/fuzz-summary.txt.
set -eu
cd "$(dirname "$0")/.."

secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
targets=${*:-request result_json model arch csv folder ferplus config checkpoint image}
dir=${FUZZ_BUILD:-build-fuzz}

opts="-Dfuzz=true -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false"
# shellcheck disable=SC2086
if [ -d "$dir/meson-private" ]; then
    meson setup --reconfigure "$dir" $opts >/dev/null
else
    CC=clang CXX=clang++ meson setup "$dir" $opts >/dev/null
fi
build=""
for t in $targets; do
    build="$build fuzz/fuzz_$t"
done
# shellcheck disable=SC2086
meson compile -C "$dir" $build

summary="$dir/fuzz-summary.txt"
printf '%-12s %8s %12s %10s %6s %6s %8s  %s\n' target seconds executions exec/s cov corpus rss_mb \
    result >"$summary"
failed=""
for t in $targets; do
    work="$dir/fuzz-work/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    dirs="fuzz/corpus/$t"
    [ -d "fuzz/regressions/$t" ] && dirs="$dirs fuzz/regressions/$t"
    echo "== fuzz $t: $secs s"
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2086
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
        "$dir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/" \
        "$work/corpus" $dirs >"$work/log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log" | tail -n 1)
    cov=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
    units=$(find "$work/corpus" -type f | wc -l)
    # A sanitizer report that did not stop the run is a failure all the same.
    if grep -q 'runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|ERROR: libFuzzer' \
        "$work/log"; then
        [ "$rc" -ne 0 ] || rc=99
    fi
    result=ok
    if [ "$rc" -ne 0 ]; then
        result="FAILED (exit $rc)"
        failed="$failed $t"
        echo "fuzz.sh: $t failed; the end of its log ($work/log):" >&2
        tail -n 40 "$work/log" >&2
        ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' >&2 || true
    fi
    printf '%-12s %8s %12s %10s %6s %6s %8s  %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "$units" "${rss:-?}" "$result" >>"$summary"
done
cat "$summary"
if [ -n "$failed" ]; then
    echo "fuzz.sh: FAILED:$failed" >&2
    exit 1
fi
echo "fuzz.sh: all targets clean"
