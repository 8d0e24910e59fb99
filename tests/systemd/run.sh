#!/bin/bash
# tests/systemd/run.sh — ferd under a real systemd.
#
#   run.sh BUILD_DIR SOURCE_DIR MAKE_MODEL
#
# Builds (once, cached in BUILD_DIR/systemd-root) a minimal Debian root with
# systemd and ferd's runtime libraries (debootstrap), installs this build into
# a fresh overlay on top of it (meson install --destdir), boots systemd as
# PID 1 in its own PID and mount namespaces (unshare --pid --fork --mount,
# then chroot), and checks, with nsenter + chroot:
#   - systemd-analyze verify passes on the units;
#   - `systemctl start ferd` (playing the demo clip) returns only after
#     READY=1, and the service is active with a STATUS= text;
#   - the socket is ferd:ferd mode 0660, and a member of group ferd connects
#     and receives VERSION and RESULTs;
#   - `systemctl reload ferd` reloads (journal) and the service stays active;
#   - the journal holds the start-up STATUS lines;
#   - `systemctl stop ferd` stops it cleanly (status 0, socket removed);
#   - with ferd.socket started, the first connection starts the service, and
#     stopping the service leaves the socket in place;
#   - a template instance ferd@cam1 with /etc/ferd/cam1.conf and
#     /run/ferd/cam1.sock;
#   - ferd-mqtt (issue 15): its user exists and is in group ferd; with the
#     root's own mosquitto service, ferd-mqtt.service runs as ferd-mqtt under
#     its hardening, a subscriber sees the instance online with its Home
#     Assistant configs, a stop exits 0 and leaves "offline" retained; and
#     ferd-mqtt@cam1 beside ferd@cam1 publishes under ferd/cam1/.
#   - ferd-http.service (user ferd-http in group ferd, named in ferd's
#     image_group) serves /api/status, a snapshot and /metrics on
#     127.0.0.1:8090, and ferd-http@cam1 serves ferd@cam1 on its own port.
# Exits 77 (skipped) unless run as root with debootstrap, unshare and nsenter.
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
MAKE_MODEL=$3

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
for t in debootstrap unshare nsenter chroot; do
    command -v "$t" >/dev/null || skip "$t not installed"
done

t_start=$(date +%s)
PKGS="systemd,systemd-sysv,libuv1,libcjson1,libopenblas0-pthread,libopencv-core406,libopencv-imgproc406,libopencv-imgcodecs406,libopencv-videoio406,libopencv-objdetect406,opencv-data,socat,zlib1g,libmosquitto1,mosquitto,mosquitto-clients,libmicrohttpd12,curl"
MIRROR=${FERD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${FERD_SYSTEMD_ROOT:-$BUILD/systemd-root}

# ---- the cached root ----
if [ ! -f "$CACHE/.ferd-root" ] || [ "$(cat "$CACHE/.ferd-root")" != "$PKGS" ]; then
    echo "== debootstrap (bookworm, minbase + systemd + ferd's libraries) into $CACHE"
    rm -rf "$CACHE" "$CACHE.tmp"
    t0=$(date +%s)
    debootstrap --variant=minbase --include="$PKGS" bookworm "$CACHE.tmp" "$MIRROR" \
        > "$BUILD/systemd-debootstrap.log" 2>&1 || {
        tail -20 "$BUILD/systemd-debootstrap.log"
        echo "debootstrap failed"; exit 1; }
    # No package caches in the root: it is read-only from here on.
    rm -rf "$CACHE.tmp/var/cache/apt/archives/"*.deb
    echo "$PKGS" > "$CACHE.tmp/.ferd-root"
    mv "$CACHE.tmp" "$CACHE"
    echo "debootstrap took $(( $(date +%s) - t0 )) s"
else
    echo "== using the cached root $CACHE"
fi

# ---- a fresh overlay with this build installed ----
RUN=$BUILD/systemd-run
NSPID=
cleanup() {
    if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
        kill -9 "$NSPID" 2>/dev/null || true
        sleep 1
    fi
    rm -rf "$RUN"
}
trap cleanup EXIT
rm -rf "$RUN"
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/merged"
UP=$RUN/upper

meson install -C "$BUILD" --no-rebuild --quiet --destdir "$UP" > "$RUN/install.log" 2>&1 || {
    cat "$RUN/install.log"; exit 1; }
prefix=$(meson introspect "$BUILD" --buildoptions | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
sysconfdir=$( [ "$prefix" = /usr ] && echo /etc || echo "$prefix/etc" )
model_dir=$UP$prefix/share/ferd/models
if [ ! -f "$model_dir/default.fermodel" ]; then
    # No trained model yet: random weights exercise the daemon just as well.
    mkdir -p "$model_dir"
    "$MAKE_MODEL" "$SRC/models/default.arch" "$model_dir/default.fermodel"
fi
mkdir -p "$UP/var/lib/ferd-test"
cp "$SRC/samples/demo.avi" "$UP/var/lib/ferd-test/demo.avi"
conf=$UP$sysconfdir/ferd/ferd.conf
sed -i 's|^source .*|source /var/lib/ferd-test/demo.avi|' "$conf"
sed "s|^source .*|source /var/lib/ferd-test/demo.avi|" "$conf" > "$UP$sysconfdir/ferd/cam1.conf"
# ferd-mqtt talks to the root's own mosquitto (Debian's package, local only).
sed -i 's|^broker .*|broker mqtt://127.0.0.1:1883|' "$UP$sysconfdir/ferd/ferd-mqtt.conf"
# Pictures for ferd-http (its service user), as docs/HTTP.md tells users to do.
sed -i -e 's|^allow_images .*|allow_images yes|' -e 's|^image_group .*|image_group ferd-http|' "$conf"
sed 's|^listen .*|listen 127.0.0.1:8091|' "$UP$sysconfdir/ferd/ferd-http.conf" \
    > "$UP$sysconfdir/ferd/cam1-http.conf"
# A user in group ferd, to connect as someone other than root (the group
# itself is made at boot by systemd-sysusers from ferd's sysusers.d entry).
mkdir -p "$UP/etc/sysusers.d"
printf 'u tester - "socket tester" /nonexistent\nm tester ferd\n' > "$UP/etc/sysusers.d/tester.conf"
# Quiet, quick boot: no getty on a console we do not have.
mkdir -p "$UP/etc/systemd/system"
ln -sf /dev/null "$UP/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$UP/etc/systemd/system/getty@.service"

# ---- boot ----
M=$RUN/merged
cat > "$RUN/boot.sh" <<BOOT
set -e
mount -t overlay overlay -o lowerdir=$CACHE,upperdir=$RUN/upper,workdir=$RUN/work $M
mount -t proc proc $M/proc
mount -t sysfs -o ro sysfs $M/sys
mount -t tmpfs -o mode=0755 tmpfs $M/dev
for d in null zero full random urandom tty; do touch $M/dev/\$d; mount --bind /dev/\$d $M/dev/\$d; done
mkdir -p $M/dev/pts $M/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $M/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $M/run
mount -t tmpfs -o mode=1777 tmpfs $M/tmp
exec chroot $M /usr/bin/env -i container=ferd-test /lib/systemd/systemd --system --log-target=console > $RUN/systemd.log 2>&1
BOOT
unshare --pid --fork --mount --propagation private bash "$RUN/boot.sh" &
UNSHARE_PID=$!
for i in $(seq 50); do
    NSPID=$(pgrep -P "$UNSHARE_PID" || true)
    [ -n "$NSPID" ] && break
    sleep 0.2
done
[ -n "$NSPID" ] || { echo "systemd did not start"; cat "$RUN/systemd.log" 2>/dev/null; exit 1; }

in_root() { nsenter -t "$NSPID" -m -p chroot "$M" "$@"; }

fail() {
    echo "FAIL: $*"
    in_root systemctl --no-pager status ferd ferd.socket ferd-mqtt ferd-http 2>&1 | tail -50 || true
    in_root journalctl --no-pager -n 60 2>&1 || true
    exit 1
}

# Wait until the system is up (degraded counts: some units need hardware).
for i in $(seq 120); do
    st=$(in_root systemctl is-system-running 2>/dev/null || true)
    case "$st" in running|degraded) break ;; esac
    sleep 0.5
done
echo "== booted ($st) in the root"
[ "$st" = running ] || [ "$st" = degraded ] || { cat "$RUN/systemd.log" | tail -30; fail "boot: $st"; }

unitdir=$prefix/lib/systemd/system
echo "== systemd-analyze verify"
in_root systemd-analyze verify "$unitdir/ferd.service" "$unitdir/ferd.socket" \
    || fail "systemd-analyze verify ferd.service ferd.socket"
in_root systemd-analyze verify "$unitdir/ferd@.service" "$unitdir/ferd@.socket" 2>&1 \
    | grep -v "Unit name ferd@.* is not valid\|is a template" && fail "verify ferd@" || true
in_root getent group ferd > /dev/null || fail "sysusers: no group ferd"
in_root systemd-analyze verify "$unitdir/ferd-http.service" || fail "verify ferd-http.service"
in_root id -nG ferd-http | grep -qw ferd || fail "sysusers: ferd-http is not in group ferd"
# libferclient went to the prefix's library directory: tell the loader.
in_root ldconfig

# A client: sends $1, prints what arrives within $2 seconds, as user $3.
client() {
    local req=$1 secs=$2 user=${3:-root} sock=${4:-/run/ferd/ferd.sock}
    in_root timeout "$secs" setpriv --reuid="$user" --regid="$user" --init-groups \
        sh -c "(printf '%s\n' '$req'; sleep $secs) | socat - UNIX-CONNECT:$sock" || true
}

echo "== systemctl start ferd"
t0=$(date +%s%N)
in_root timeout 60 systemctl start ferd || fail "systemctl start ferd"
echo "started in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ "$(in_root systemctl is-active ferd)" = active ] || fail "not active after start"
status_text=$(in_root systemctl show -p StatusText --value ferd)
echo "StatusText: $status_text"
[ -n "$status_text" ] || fail "no STATUS= text"
perm=$(in_root stat -c '%a %U %G' /run/ferd/ferd.sock)
[ "$perm" = "660 ferd ferd" ] || fail "socket permissions: $perm"

out=$(client '{"class":"WATCH"}' 4 tester)
echo "$out" | head -c 600; echo
echo "$out" | grep -q '"class":"VERSION"' || fail "no VERSION"
n=$(echo "$out" | grep -c '"class":"RESULT"' || true)
[ "$n" -ge 3 ] || fail "only $n RESULTs in 4 s"
echo "RESULTs received by a member of group ferd: $n"

echo "== systemctl reload ferd"
in_root timeout 30 systemctl reload ferd || fail "reload"
sleep 1
[ "$(in_root systemctl is-active ferd)" = active ] || fail "not active after reload"
in_root journalctl --no-pager -u ferd | grep -q "model reloaded" || fail "no reload in the journal"

echo "== journal: start-up STATUS lines"
j=$(in_root journalctl --no-pager -u ferd -o cat)
for line in "Loading model" "Loading face detector" "Opening socket" "ready:"; do
    echo "$j" | grep -q "$line" || fail "journal lacks \"$line\""
done
in_root journalctl --no-pager -u ferd -p notice -o cat | grep -q "SIGHUP" \
    || fail "priority prefixes not honoured (SIGHUP line is notice)"

echo "== systemctl stop ferd"
in_root timeout 30 systemctl stop ferd || fail "stop"
[ "$(in_root systemctl show -p ExecMainStatus --value ferd)" = 0 ] || fail "exit status not 0"
in_root test ! -e /run/ferd/ferd.sock || fail "socket left behind"

echo "== socket activation"
in_root timeout 30 systemctl start ferd.socket || fail "start ferd.socket"
[ "$(in_root systemctl is-active ferd)" != active ] || fail "service active before any client"
perm=$(in_root stat -c '%a %U %G' /run/ferd/ferd.sock)
[ "$perm" = "660 ferd ferd" ] || fail "activated socket permissions: $perm"
out=$(client '{"class":"STATUS"}' 8 tester)
echo "$out" | grep -q '"class":"STATUS"' || fail "no STATUS through the activated socket"
[ "$(in_root systemctl is-active ferd)" = active ] || fail "first connection did not start ferd"
# Stopping the service must not take the socket unit's file with it.
in_root timeout 30 systemctl stop ferd.service || fail "stop activated service"
in_root test -S /run/ferd/ferd.sock || fail "stopping ferd.service removed the socket"
out=$(client '{"class":"STATUS"}' 8 tester)
echo "$out" | grep -q '"class":"STATUS"' || fail "no restart on the next connection"
in_root timeout 30 systemctl stop ferd.socket ferd.service || fail "stop socket"

echo "== template instance ferd@cam1"
in_root timeout 60 systemctl start ferd@cam1 || fail "start ferd@cam1"
out=$(client '{"class":"POLL"}' 6 root /run/ferd/cam1.sock)
echo "$out" | grep -q '"class":"POLL"' || fail "no POLL answer from ferd@cam1"
in_root timeout 30 systemctl stop ferd@cam1 || fail "stop ferd@cam1"

echo "== ferd-mqtt"
in_root getent passwd ferd-mqtt > /dev/null || fail "sysusers: no user ferd-mqtt"
in_root id -nG ferd-mqtt | grep -qw ferd || fail "ferd-mqtt is not in group ferd"
in_root systemd-analyze verify "$unitdir/ferd-mqtt.service" || fail "verify ferd-mqtt.service"
in_root timeout 30 systemctl start mosquitto || fail "start the root's mosquitto"
in_root timeout 60 systemctl start ferd || fail "start ferd for ferd-mqtt"
in_root timeout 30 systemctl start ferd-mqtt || fail "start ferd-mqtt"
# Retained messages reach a subscriber whenever it comes: online and a config.
sub() { in_root timeout 30 mosquitto_sub -h 127.0.0.1 -v -W 25 "$@" 2>&1 || true; }
out=$(sub -C 2 -t 'ferd/+/availability' -t 'homeassistant/sensor/+/faces/config')
echo "$out" | cut -c1-160
echo "$out" | grep -q '^ferd/[^/]*/availability online$' || fail "ferd-mqtt: no online"
echo "$out" | grep -q '^homeassistant/sensor/ferd_[^/]*/faces/config {' || fail "ferd-mqtt: no config"
out=$(sub -C 1 -t 'ferd/+/state')
echo "$out" | grep -q '"faces":' || fail "ferd-mqtt: no state"
[ "$(in_root systemctl is-active ferd-mqtt)" = active ] || fail "ferd-mqtt not active"
pid=$(in_root systemctl show -p MainPID --value ferd-mqtt)
uid=$(in_root awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" = "$(in_root id -u ferd-mqtt)" ] || fail "ferd-mqtt runs as uid $uid"
in_root timeout 30 systemctl stop ferd-mqtt || fail "stop ferd-mqtt"
[ "$(in_root systemctl show -p ExecMainStatus --value ferd-mqtt)" = 0 ] \
    || fail "ferd-mqtt exit status not 0"
out=$(sub -C 1 -t 'ferd/+/availability')
echo "$out" | grep -q ' offline$' || fail "no offline retained after stopping ferd-mqtt: $out"
in_root journalctl --no-pager -u ferd-mqtt -o cat | grep -q "connected to the broker" \
    || fail "ferd-mqtt's journal lacks its connection"
in_root timeout 30 systemctl stop ferd || fail "stop ferd"

echo "== ferd-mqtt@cam1 beside ferd@cam1"
in_root timeout 60 systemctl start ferd@cam1 ferd-mqtt@cam1 || fail "start ferd-mqtt@cam1"
out=$(sub -C 1 -t 'ferd/cam1/state')
echo "$out" | grep -q '^ferd/cam1/state {' || fail "ferd-mqtt@cam1: no ferd/cam1/state"
in_root timeout 30 systemctl stop ferd-mqtt@cam1 ferd@cam1 || fail "stop the cam1 pair"

echo "== ferd-http.service"
in_root timeout 60 systemctl start ferd ferd-http || fail "systemctl start ferd ferd-http"
[ "$(in_root systemctl is-active ferd-http)" = active ] || fail "ferd-http not active"
hcurl() { in_root curl -sS --max-time 10 -o /tmp/body -w '%{http_code} %{content_type}' "$@"; }
r=$(hcurl http://127.0.0.1:8090/api/status)
[ "${r%% *}" = 200 ] || fail "ferd-http /api/status: $r"
in_root grep -q '"class":"STATUS"' /tmp/body || fail "ferd-http /api/status body"
r=$(hcurl 'http://127.0.0.1:8090/api/snapshot.jpg?annotated=1')
[ "$r" = "200 image/jpeg" ] || fail "ferd-http snapshot (image_group ferd-http): $r"
r=$(hcurl http://127.0.0.1:8090/metrics)
in_root grep -q '^ferd_up 1' /tmp/body || fail "ferd-http /metrics: $r"
r=$(hcurl http://127.0.0.1:8090/)
[ "${r%% *}" = 200 ] || fail "ferd-http page: $r"
in_root timeout 30 systemctl stop ferd-http || fail "stop ferd-http"
[ "$(in_root systemctl show -p ExecMainStatus --value ferd-http)" = 0 ] || fail "ferd-http exit status"
in_root timeout 30 systemctl stop ferd || fail "stop ferd"

echo "== template instance ferd-http@cam1"
in_root timeout 60 systemctl start ferd@cam1 ferd-http@cam1 || fail "start ferd-http@cam1"
r=$(hcurl http://127.0.0.1:8091/api/status)
[ "${r%% *}" = 200 ] || fail "ferd-http@cam1 /api/status: $r"
in_root timeout 30 systemctl stop ferd-http@cam1 ferd@cam1 || fail "stop ferd-http@cam1"

echo "systemd test passed in $(( $(date +%s) - t_start )) s"
