#!/bin/bash
# tools/bench-demo-fresh.sh — the README's demo command on a fresh Debian 12
# root, timed, for two revisions of the tree in one run.
#
#   bash tools/bench-demo-fresh.sh BEFORE_REV [AFTER_REV]     (as root; AFTER_REV: HEAD)
#
# For each revision: a copy of a minimal Debian 12 root (debootstrap
# --variant=minbase, made once and kept in $FERD_FRESH_BASE, default
# /var/tmp/ferd-fresh-base; not part of the timing), the tree at that revision
# (git archive) in /root/ferd, and in a chroot with its own mounts
# `sh tools/demo.sh --count 30` (install the packages, build, run ferd on the
# demo clip, stream 30 results), timed from start to end. Printed per
# revision: the total time, the packages apt installed and their download
# size (machine-independent), the load average before and after; then the
# ratios. The roots are removed afterwards.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "bench-demo-fresh.sh: run as root" >&2; exit 1; }
[ $# -ge 1 ] || { sed -n 2,16p "$0"; exit 64; }
cd "$(dirname "$0")/.."
before=$(git rev-parse --short "$1")
after=$(git rev-parse --short "${2:-HEAD}")
BASE=${FERD_FRESH_BASE:-/var/tmp/ferd-fresh-base}
MIRROR=${FERD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /var/tmp/ferd-fresh-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ ! -f "$BASE/.done" ]; then
    echo "== debootstrap --variant=minbase bookworm into $BASE (once; not timed)"
    rm -rf "$BASE"
    debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
        { tail -20 "$WORK/debootstrap.log"; exit 1; }
    rm -f "$BASE/var/cache/apt/archives/"*.deb
    touch "$BASE/.done"
fi

# run REV: prints "seconds packages download_kib"
run() {
    local rev=$1 root=$WORK/root-$1
    cp -a "$BASE" "$root"
    mkdir -p "$root/root/ferd"
    git archive "$rev" | tar -x -C "$root/root/ferd"
    local n0
    n0=$(chroot "$root" dpkg-query -W -f '${Status}\n' | grep -c "install ok installed")
    cat > "$WORK/in-$rev.sh" <<EOF
set -e
mount -t proc proc $root/proc
mount -t sysfs -o ro sysfs $root/sys
mount --rbind /dev $root/dev
mount -t tmpfs tmpfs $root/tmp
t0=\$(date +%s.%N)
chroot $root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    sh -c 'cd /root/ferd && sh tools/demo.sh --count 30' > $WORK/demo-$rev.log 2>&1 || rc=\$?
echo "\$(date +%s.%N) \$t0 \${rc:-0}" > $WORK/time-$rev
EOF
    echo "== $rev: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    unshare --mount --propagation private bash "$WORK/in-$rev.sh"
    read -r t1 t0 rc < "$WORK/time-$rev"
    echo "== $rev: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    if [ "$rc" != 0 ]; then
        tail -30 "$WORK/demo-$rev.log" >&2
        echo "bench-demo-fresh.sh: the demo failed at $rev (exit $rc)" >&2
        exit 1
    fi
    grep -c '^[0-9:.]*  frame' "$WORK/demo-$rev.log" > /dev/null ||
        { tail -20 "$WORK/demo-$rev.log" >&2; echo "no result lines at $rev" >&2; exit 1; }
    local n1 kib
    n1=$(chroot "$root" dpkg-query -W -f '${Status}\n' | grep -c "install ok installed")
    kib=$(du -sk "$root/var/cache/apt/archives" | cut -f1)
    echo "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }') $((n1 - n0)) $kib"
    rm -rf "$root"
}

run "$before" > "$WORK/result-before"
run "$after" > "$WORK/result-after"
read -r tb pb kb < "$WORK/result-before"
read -r ta pa ka < "$WORK/result-after"
awk -v b="$before" -v a="$after" -v tb="$tb" -v pb="$pb" -v kb="$kb" -v ta="$ta" -v pa="$pa" -v ka="$ka" 'BEGIN {
    printf "%-10s %10s %10s %14s\n", "revision", "seconds", "packages", "download MiB"
    printf "%-10s %10.0f %10d %14.0f\n", b, tb, pb, kb / 1024
    printf "%-10s %10.0f %10d %14.0f\n", a, ta, pa, ka / 1024
    printf "after/before: time %.2f, packages %.2f, download %.2f\n", ta / tb, pa / pb, ka / kb
}'
