#!/bin/bash
# tests/systemd/run.sh — ferd's Debian packages, installed with apt into a
# booted systemd, as a user installs them.
#
#   run.sh BUILD_DIR SOURCE_DIR
#
# 1. The root (cached in BUILD_DIR/systemd-root, rebuilt when its package list
#    changes): a minimal Debian 12 (debootstrap) with systemd, the runtime
#    libraries ferd's packages depend on, marked as automatically installed,
#    and the test tools (socat, curl, mosquitto, man-db, bash-completion).
# 2. The packages: `dpkg-buildpackage -us -uc -b` of a copy of the source
#    (tracked and untracked files, not ignored ones), cached by the copy's
#    content hash in BUILD_DIR/systemd-debs; `lintian --fail-on error` on them;
#    and a newer build of ferd for the upgrade (the same files repacked with a
#    higher version and a changed /etc/ferd/ferd.conf). Then, host side: the
#    ferctl-view package does not depend on BLAS, and the -dev packages build
#    working programs (dev-packages.sh: unpacked with dpkg-deb -x, compiled
#    with their pkg-config files and headers alone, run against the packaged
#    libraries and ferd-data's model).
# 3. systemd booted as PID 1 in its own PID and mount namespaces on a fresh
#    overlay of the root (unshare, chroot; nsenter to run commands in it).
# 4. `apt-get install` of the packages into the booted root (ferctl-view and
#    the -dev packages aside: they need Qt and compilers; lintian checks them,
#    and 2. builds against the -dev packages on the host), then, in order:
#    - ferd, ferd-mqtt and ferd-http users (ferd in group video), every
#      service enabled and started by the install; nothing the packages do not
#      depend on would be autoremoved (their Depends cover the root's libraries);
#    - no camera (/dev/video0 absent): ferd stays up, STATUS= and `systemctl
#      status` say it waits for /dev/video0, the retry interval grows (back-off),
#      no restart, one warning in the journal and not one per try;
#    - a member of group ferd runs `ferctl status` (and the Python package's
#      `python3 -m ferd status`) without sudo; `systemctl reload ferd` reloads;
#    - man pages (man -w for each, ferd.conf(5) holds the keys) and bash
#      completion (ferctl and fer complete commands and options);
#    - with a file source in /etc/ferd/ferd.conf: RESULTs through ferctl watch,
#      in-process classification through python3-ferd and libferclassify,
#      start-up STATUS lines in the journal, stop, socket activation, ferd@cam1,
#      ferd-mqtt (the root's mosquitto) and ferd-mqtt@cam1, ferd-http and
#      ferd-http@cam1;
#    - the upgrade keeps the changed conffile (the new one as .dpkg-dist) and
#      restarts ferd;
#    - purge removes the packages' files, units, configuration and enablement,
#      and leaves the system users (Debian never deletes them: files they own
#      may remain elsewhere, and a reused uid would own them) and the files the
#      administrator made in /etc/ferd.
# Exits 77 (skipped) unless run as root with debootstrap, unshare and nsenter.
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
for t in debootstrap unshare nsenter chroot; do
    command -v "$t" >/dev/null || skip "$t not installed"
done
for t in dpkg-buildpackage dh lintian pgrep; do
    command -v "$t" >/dev/null || { echo "FAIL: $t not installed (sh tools/install-deps.sh test)"; exit 1; }
done

t_start=$(date +%s)
took() { echo "   ($1 took $(( $(date +%s) - $2 )) s)"; }

# The root's packages: what ferd's packages depend on (marked automatically
# installed, so that apt would remove any of them our packages do not need),
# and the test's own tools (kept as installed by hand).
RUNTIME="libuv1 libcjson1 libopenblas0 libopenblas0-pthread libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-videoio406 libopencv-objdetect406 opencv-data zlib1g libmosquitto1 libssl3 libmicrohttpd12 python3"
TOOLS="systemd systemd-sysv socat curl mosquitto mosquitto-clients man-db bash-completion"
MIRROR=${FERD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${FERD_SYSTEMD_ROOT:-$BUILD/systemd-root}
KEY="$RUNTIME | $TOOLS"

# ---- 1. the cached root ----
if [ ! -f "$CACHE/.ferd-root" ] || [ "$(cat "$CACHE/.ferd-root")" != "$KEY" ]; then
    echo "== debootstrap (bookworm, minbase + systemd + runtime libraries + test tools) into $CACHE"
    rm -rf "$CACHE" "$CACHE.tmp"
    t0=$(date +%s)
    debootstrap --variant=minbase --include="$(echo $RUNTIME $TOOLS | tr ' ' ,)" bookworm \
        "$CACHE.tmp" "$MIRROR" > "$BUILD/systemd-debootstrap.log" 2>&1 || {
        tail -20 "$BUILD/systemd-debootstrap.log"
        echo "debootstrap failed"; exit 1; }
    # shellcheck disable=SC2086
    chroot "$CACHE.tmp" apt-mark auto $RUNTIME > /dev/null
    # No package caches in the root: it is read-only from here on.
    rm -rf "$CACHE.tmp/var/cache/apt/archives/"*.deb
    echo "$KEY" > "$CACHE.tmp/.ferd-root"
    mv "$CACHE.tmp" "$CACHE"
    took debootstrap "$t0"
else
    echo "== using the cached root $CACHE"
fi

# ---- 2. the packages ----
# The source as a package build sees it: git's tracked and untracked files
# (not the ignored build directories), or everything but build*/ without git.
list_source() {
    if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$SRC" ls-files -z -co --exclude-standard |
            while IFS= read -r -d '' f; do [ -f "$SRC/$f" ] && printf '%s\0' "$f"; done
    else
        (cd "$SRC" && find . \( -name 'build*' -o -name .git \) -prune -o -type f -print0)
    fi | sort -z
}
hash=$(cd "$SRC" && list_source | xargs -0 sha256sum | sha256sum | cut -c1-16)
DEBS=$BUILD/systemd-debs/$hash
version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
if [ ! -f "$DEBS/.built" ]; then
    echo "== dpkg-buildpackage -us -uc -b (source $hash, version $version)"
    rm -rf "$BUILD/systemd-debs" "$BUILD/systemd-pkg"
    mkdir -p "$BUILD/systemd-pkg/ferd-$version" "$DEBS"
    (cd "$SRC" && list_source | tar --null -T - -cf -) | tar -xf - -C "$BUILD/systemd-pkg/ferd-$version"
    t0=$(date +%s)
    # The unit suite ran in this meson run already: nocheck.
    (cd "$BUILD/systemd-pkg/ferd-$version" &&
        DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
        > "$BUILD/systemd-dpkg-buildpackage.log" 2>&1 || {
        tail -40 "$BUILD/systemd-dpkg-buildpackage.log"
        echo "FAIL: dpkg-buildpackage (log: $BUILD/systemd-dpkg-buildpackage.log)"; exit 1; }
    took dpkg-buildpackage "$t0"
    mv "$BUILD/systemd-pkg/"*.deb "$BUILD/systemd-pkg/"*.changes "$BUILD/systemd-pkg/"*.buildinfo "$DEBS/"
    rm -rf "$BUILD/systemd-pkg"

    echo "== lintian"
    t0=$(date +%s)
    lintian --fail-on error "$DEBS/ferd_${version}_$arch.changes" \
        > "$DEBS/lintian.txt" 2>&1 || { cat "$DEBS/lintian.txt"; echo "FAIL: lintian reports errors"; exit 1; }
    took lintian "$t0"

    # The upgrade: this build of ferd with a higher version and a changed
    # conffile, as the next release would ship it.
    up=$BUILD/systemd-upgrade
    rm -rf "$up"
    dpkg-deb -R "$DEBS/ferd_${version}_$arch.deb" "$up"
    sed -i "s/^Version: .*/Version: ${version}+upgrade1/" "$up/DEBIAN/control"
    echo "# A line the newer package adds (tests/systemd/run.sh)." >> "$up/etc/ferd/ferd.conf"
    mkdir -p "$DEBS/upgrade"
    dpkg-deb --root-owner-group -b "$up" "$DEBS/upgrade/ferd_${version}+upgrade1_$arch.deb" > /dev/null
    rm -rf "$up"
    touch "$DEBS/.built"
else
    echo "== using the packages built from this source ($DEBS)"
fi
echo "lintian (no errors; warnings and notes as follows):"
sed 's/^/   /' "$DEBS/lintian.txt"
ls "$DEBS"/*.deb | sed "s|^$DEBS/|   |"

# The viewer shows pictures and runs no network: its package must not pull in
# OpenBLAS (src/meson.build's image layer). ferd's must, or the pattern is wrong.
echo "== ferctl-view's Depends"
view_dep=$(dpkg-deb -f "$DEBS/ferctl-view_${version}_$arch.deb" Depends)
echo "   $view_dep"
dpkg-deb -f "$DEBS/ferd_${version}_$arch.deb" Depends | grep -q blas ||
    { echo "FAIL: ferd's Depends names no BLAS: the check of ferctl-view's could not see one"; exit 1; }
case "$view_dep" in *blas*|*lapack*) echo "FAIL: ferctl-view depends on BLAS"; exit 1 ;; esac

# The -dev packages: headers, .pc files and .so links used to build and run a
# program against each library (seconds; also runs by itself on $DEBS).
t0=$(date +%s)
bash "$SRC/tests/systemd/dev-packages.sh" "$DEBS"
took "the -dev packages" "$t0"

# ---- 3. a fresh overlay and the boot ----
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
mkdir -p "$UP/var/cache/ferd-debs" "$UP/var/lib/ferd-test"
cp "$DEBS"/*.deb "$UP/var/cache/ferd-debs/"
cp -r "$DEBS/upgrade" "$UP/var/cache/ferd-debs/"
cp "$SRC/samples/demo.avi" "$UP/var/lib/ferd-test/demo.avi"
# Quiet, quick boot: no getty on a console we do not have.
mkdir -p "$UP/etc/systemd/system"
ln -sf /dev/null "$UP/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$UP/etc/systemd/system/getty@.service"
# The /etc/hosts Debian's installer writes (no package ships it, debootstrap
# leaves it out): ferd-mqtt's default broker is mqtt://localhost.
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$UP/etc/hosts"

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

in_root() { nsenter -t "$NSPID" -m -p chroot "$M" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# As the user tester (made below, a member of group ferd), without sudo.
as_tester() { in_root setpriv --reuid=tester --regid=tester --init-groups "$@"; }

fail() {
    echo "FAIL: $*"
    in_root systemctl --no-pager status ferd ferd.socket ferd-mqtt ferd-http 2>&1 | tail -50 || true
    in_root journalctl --no-pager -n 60 2>&1 || true
    exit 1
}
active() { [ "$(in_root systemctl is-active "$1" 2>/dev/null || true)" = active ]; }
prop() { in_root systemctl show -p "$2" --value "$1"; }

for i in $(seq 120); do
    st=$(in_root systemctl is-system-running 2>/dev/null || true)
    case "$st" in running|degraded) break ;; esac
    sleep 0.5
done
echo "== booted ($st) in the root"
[ "$st" = running ] || [ "$st" = degraded ] || { tail -30 "$RUN/systemd.log"; fail "boot: $st"; }

# ---- 4. install ----
echo "== apt-get install ferd ferd-data ferctl libferclient0 libferclassify0 ferd-mqtt ferd-http python3-ferd"
t0=$(date +%s)
pkgs="ferd ferd-data ferctl libferclient0 libferclassify0 ferd-mqtt ferd-http python3-ferd"
debs=""
for p in $pkgs; do debs="$debs $(cd "$UP/var/cache/ferd-debs" && ls "${p}_"*.deb | sed 's|^|/var/cache/ferd-debs/|')"; done
# shellcheck disable=SC2086
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $debs > "$RUN/apt-install.log" 2>&1 ||
    { cat "$RUN/apt-install.log"; fail "apt-get install"; }
took "apt-get install" "$t0"
grep -E "^(Setting up|Created symlink)" "$RUN/apt-install.log" | sed 's/^/   /'

echo "== users, enablement, dependencies"
in_root id -nG ferd | grep -qw video || fail "user ferd is not in group video: $(in_root id ferd)"
for u in ferd-mqtt ferd-http; do
    in_root id -nG "$u" | grep -qw ferd || fail "user $u is not in group ferd"
done
for u in ferd.service ferd.socket ferd-mqtt.service ferd-http.service; do
    [ "$(in_root systemctl is-enabled "$u")" = enabled ] || fail "$u is not enabled by the install"
done
removable=$(in_root apt-get -s autoremove | awk '/^Remv/ { print $2 }' | tr '\n' ' ')
[ -z "$removable" ] || fail "libraries in the root no package of ours depends on: $removable"
echo "   ferd in group video; ferd-mqtt, ferd-http in group ferd; units enabled; Depends cover the root's libraries"

echo "== no camera: ferd waits for /dev/video0"
in_root test ! -e /dev/video0 || fail "the root has a /dev/video0"
active ferd || fail "ferd is not running after the install"
[ "$(prop ferd NRestarts)" = 0 ] || fail "ferd was restarted $(prop ferd NRestarts) times since the install"
# The install took long enough for the back-off to reach its cap: watch it
# grow from the start again.
in_root timeout 60 systemctl restart ferd || fail "systemctl restart ferd"
pid0=$(prop ferd MainPID)
seen=""
for i in $(seq 80); do
    s=$(prop ferd StatusText)
    r=$(echo "$s" | sed -n 's/.*retrying every \([0-9.]*\) s.*/\1/p')
    [ -n "$r" ] && case " $seen " in *" $r "*) ;; *) seen="$seen $r" ;; esac
    case "$r" in 8|16|30) break ;; esac
    sleep 0.25
done
echo "   StatusText: $s"
echo "   retry intervals seen:$seen s"
case "$s" in "Waiting for /dev/video0 "*) ;; *) fail "StatusText does not say it waits for /dev/video0" ;; esac
[ "$(echo "$seen" | wc -w)" -ge 3 ] || fail "the retry interval did not grow (seen:$seen)"
[ "$(prop ferd MainPID)" = "$pid0" ] && [ "$(prop ferd NRestarts)" = 0 ] || fail "ferd was restarted"
in_root systemctl --no-pager status ferd > "$RUN/status.txt" 2>&1 || true
grep -q "Status: \"Waiting for /dev/video0" "$RUN/status.txt" || { cat "$RUN/status.txt"; fail "systemctl status ferd does not say it waits"; }
j=$(in_root journalctl --no-pager -u ferd _PID="$pid0" -o cat)
n=$(echo "$j" | grep -c "retrying in" || true)
[ "$n" = 1 ] || { echo "$j"; fail "$n retry lines in the journal: one expected (repeats are debug)"; }
if in_root journalctl --no-pager -u ferd -o cat | grep -q "Scheduled restart"; then
    fail "the journal shows a restart loop"
fi
echo "   $(echo "$j" | grep "retrying in")"

echo "== a member of group ferd: ferctl status, python3 -m ferd status"
in_root useradd --system --no-create-home --shell /usr/sbin/nologin --groups ferd tester
out=$(as_tester ferctl status) || fail "ferctl status as a member of group ferd: $out"
echo "$out" | sed 's/^/   /' | head -4
echo "$out" | grep -q "^source   /dev/video0.*waiting for it" || fail "ferctl status does not say it waits"
out=$(as_tester python3 -m ferd status) || fail "python3 -m ferd status: $out"
echo "$out" | grep -q "waiting for it" || fail "python3 -m ferd status: $out"

echo "== systemctl reload ferd"
in_root timeout 30 systemctl reload ferd || fail "reload"
for i in $(seq 40); do
    in_root journalctl --no-pager -u ferd -o cat | grep -q "model reloaded" && break
    sleep 0.25
done
in_root journalctl --no-pager -u ferd -o cat | grep -q "model reloaded" || fail "no reload in the journal"
active ferd && [ "$(prop ferd MainPID)" = "$pid0" ] || fail "reload restarted or stopped ferd"

echo "== man pages and bash completion"
for p in 8:ferd 1:ferctl 1:fer 1:fer-analyze 5:ferd.conf 7:ferd-protocol 8:ferd-mqtt 8:ferd-http; do
    in_root man -w "${p%%:*}" "${p#*:}" > /dev/null || fail "man ${p#*:}: no page"
done
in_root env MANWIDTH=100 man 5 ferd.conf 2>/dev/null | grep -q "retry_max_ms 30000" ||
    fail "ferd.conf(5) lacks retry_max_ms"
in_root env MANWIDTH=100 man 8 ferd 2>/dev/null | grep -q "^NAME" || fail "man ferd does not render"
completions() { # the words typed; prints the completions of the last one
    in_root bash -c 'source /usr/share/bash-completion/bash_completion
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _completion_loader "$1"; f=$(complete -p "$1" | sed "s/.*-F \([^ ]*\) .*/\1/")
        "$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        echo "${COMPREPLY[*]}"' completions "$@"
}
[ "$(completions ferctl st)" = status ] || fail "ferctl st<TAB>: '$(completions ferctl st)'"
completions ferctl watch --ev | grep -qw -- --events || fail "ferctl watch --ev<TAB>"
[ "$(completions fer tr)" = train ] || fail "fer tr<TAB>: '$(completions fer tr)'"
completions fer train --kd | grep -qw -- --kd-temp || fail "fer train --kd<TAB>"
echo "   8 pages; ferctl st -> status, fer tr -> train, options from --help"

echo "== a file source: results through ferctl watch, the Python classifier"
conf=/etc/ferd/ferd.conf
in_root sed -i -e 's|^source .*|source /var/lib/ferd-test/demo.avi|' \
    -e 's|^allow_images .*|allow_images yes|' -e 's|^image_group .*|image_group ferd-http|' $conf
in_root timeout 60 systemctl restart ferd || fail "restart with the file source"
out=$(as_tester timeout 30 ferctl watch --json --count 5) || fail "ferctl watch: $out"
n=$(echo "$out" | grep -c '"class":"RESULT"' || true)
[ "$n" -ge 5 ] || fail "ferctl watch --json printed $n RESULTs"
out=$(as_tester timeout 30 ferctl watch --count 3) || fail "ferctl watch: $out"
echo "$out" | head -3 | sed 's/^/   /'
out=$(as_tester python3 -m ferd classify /usr/share/ferd/samples/face.png) || fail "python3 -m ferd classify: $out"
echo "$out" | grep -q '"faces":\[{' || fail "python3 -m ferd classify found no face: $out"
echo "   python3 -m ferd classify: $(echo "$out" | cut -c1-120)..."
j=$(in_root journalctl --no-pager -u ferd -o cat)
for line in "Loading model" "Loading face detector" "Opening socket" "ready:"; do
    echo "$j" | grep -q "$line" || fail "journal lacks \"$line\""
done
in_root journalctl --no-pager -u ferd -p notice -o cat | grep -q "SIGHUP" ||
    fail "priority prefixes not honoured (SIGHUP line is notice)"
perm=$(in_root stat -c '%a %U %G' /run/ferd/ferd.sock)
[ "$perm" = "660 ferd ferd" ] || fail "socket permissions: $perm"

echo "== stop, and socket activation"
in_root timeout 30 systemctl stop ferd.socket ferd.service || fail "stop"
[ "$(prop ferd ExecMainStatus)" = 0 ] || fail "exit status not 0"
in_root test ! -e /run/ferd/ferd.sock || fail "socket left behind"
in_root timeout 30 systemctl start ferd.socket || fail "start ferd.socket"
if active ferd; then fail "service active before any client"; fi
out=$(as_tester timeout 20 ferctl status --json) || fail "ferctl status through the activated socket: $out"
echo "$out" | grep -q '"class":"STATUS"' || fail "no STATUS through the activated socket"
active ferd || fail "the first connection did not start ferd"
in_root timeout 30 systemctl stop ferd.service || fail "stop the activated service"
in_root test -S /run/ferd/ferd.sock || fail "stopping ferd.service removed the socket"
in_root timeout 60 systemctl start ferd || fail "start ferd again"

echo "== template instance ferd@cam1"
in_root cp $conf /etc/ferd/cam1.conf
in_root timeout 60 systemctl start ferd@cam1 || fail "start ferd@cam1"
out=$(as_tester timeout 20 ferctl --socket /run/ferd/cam1.sock snapshot --json) || fail "ferd@cam1: $out"
echo "$out" | grep -q '"class":"POLL"' || fail "no POLL answer from ferd@cam1"

echo "== ferd-mqtt and ferd-mqtt@cam1 (the root's mosquitto)"
active mosquitto || in_root timeout 30 systemctl start mosquitto || fail "start mosquitto"
# Installed before mosquitto ran, ferd-mqtt retries with back-off: restart for a quick test.
in_root timeout 30 systemctl restart ferd-mqtt || fail "restart ferd-mqtt"
sub() { in_root timeout 30 mosquitto_sub -h 127.0.0.1 -v -W 25 "$@" 2>&1 || true; }
# The retained availability may still be the stopped bridge's "offline" for a
# moment after the restart: poll it (each read returns at once, retained).
for i in $(seq 40); do
    out=$(sub -C 1 -t 'ferd/+/availability')
    echo "$out" | grep -q '^ferd/[^/]*/availability online$' && break
    sleep 0.25
done
echo "$out" | grep -q '^ferd/[^/]*/availability online$' || fail "ferd-mqtt: no online: $out"
out=$(sub -C 1 -t 'homeassistant/sensor/+/faces/config')
echo "$out" | grep -q '^homeassistant/sensor/ferd_[^/]*/faces/config {' || fail "ferd-mqtt: no config: $out"
out=$(sub -C 1 -t 'ferd/+/state')
echo "$out" | grep -q '"faces":' || fail "ferd-mqtt: no state"
pid=$(prop ferd-mqtt MainPID)
uid=$(in_root awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" = "$(in_root id -u ferd-mqtt)" ] || fail "ferd-mqtt runs as uid $uid"
in_root timeout 60 systemctl start ferd-mqtt@cam1 || fail "start ferd-mqtt@cam1"
out=$(sub -C 1 -t 'ferd/cam1/state')
echo "$out" | grep -q '^ferd/cam1/state {' || fail "ferd-mqtt@cam1: no ferd/cam1/state"
in_root timeout 30 systemctl stop ferd-mqtt@cam1 || fail "stop ferd-mqtt@cam1"
echo "   online, Home Assistant configs, state, as user ferd-mqtt; ferd/cam1/state"

echo "== ferd-http and ferd-http@cam1"
hcurl() { in_root curl -sS --max-time 10 -o /tmp/body -w '%{http_code} %{content_type}' "$@"; }
in_root timeout 30 systemctl restart ferd-http || fail "restart ferd-http"
for i in $(seq 40); do
    r=$(hcurl http://127.0.0.1:8090/api/status 2>/dev/null || true)
    [ "${r%% *}" = 200 ] && break
    sleep 0.25
done
[ "${r%% *}" = 200 ] || fail "ferd-http /api/status: $r"
in_root grep -q '"class":"STATUS"' /tmp/body || fail "ferd-http /api/status body"
r=$(hcurl 'http://127.0.0.1:8090/api/snapshot.jpg?annotated=1')
[ "$r" = "200 image/jpeg" ] || fail "ferd-http snapshot (image_group ferd-http): $r"
r=$(hcurl http://127.0.0.1:8090/metrics)
in_root grep -q '^ferd_up 1' /tmp/body || fail "ferd-http /metrics: $r"
in_root sh -c "sed 's|^listen .*|listen 127.0.0.1:8091|' /etc/ferd/ferd-http.conf > /etc/ferd/cam1-http.conf"
in_root timeout 60 systemctl start ferd-http@cam1 || fail "start ferd-http@cam1"
for i in $(seq 40); do
    r=$(hcurl http://127.0.0.1:8091/api/status 2>/dev/null || true)
    [ "${r%% *}" = 200 ] && break
    sleep 0.25
done
[ "${r%% *}" = 200 ] || fail "ferd-http@cam1 /api/status: $r"
in_root timeout 30 systemctl stop ferd-http@cam1 ferd@cam1 || fail "stop the cam1 instances"
echo "   /api/status, snapshot, /metrics; ferd-http@cam1 on 8091"

echo "== upgrade to ${version}+upgrade1 with a changed conffile"
pid1=$(prop ferd MainPID)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "/var/cache/ferd-debs/upgrade/ferd_${version}+upgrade1_$arch.deb" > "$RUN/apt-upgrade.log" 2>&1 ||
    { cat "$RUN/apt-upgrade.log"; fail "upgrade"; }
[ "$(in_root dpkg-query -W -f '${Version}' ferd)" = "${version}+upgrade1" ] || fail "ferd not upgraded"
in_root grep -q '^source /var/lib/ferd-test/demo.avi' $conf || fail "the upgrade replaced the changed $conf"
in_root grep -q 'A line the newer package adds' $conf.dpkg-dist || fail "no $conf.dpkg-dist"
active ferd || fail "ferd not running after the upgrade"
[ "$(prop ferd MainPID)" != "$pid1" ] || fail "the upgrade did not restart ferd"
out=$(as_tester timeout 30 ferctl watch --count 2) || fail "ferctl watch after the upgrade: $out"
echo "   $conf kept (the package's new one is $conf.dpkg-dist); ferd restarted and streaming"

echo "== purge"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkgs > "$RUN/apt-purge.log" 2>&1 ||
    { cat "$RUN/apt-purge.log"; fail "purge"; }
for f in /usr/sbin/ferd /usr/bin/fer /usr/bin/ferctl /usr/sbin/ferd-mqtt /usr/sbin/ferd-http \
         /usr/share/ferd /lib/systemd/system/ferd.service /lib/systemd/system/ferd-http.service \
         /etc/ferd/ferd.conf /etc/ferd/ferd.conf.dpkg-dist /etc/ferd/ferd-mqtt.conf \
         /etc/ferd/ferd-http.conf /usr/lib/sysusers.d/ferd.conf /usr/share/man/man8/ferd.8.gz \
         /usr/lib/python3/dist-packages/ferd; do
    in_root test ! -e "$f" || fail "purge left $f"
done
left=$(in_root find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled -name '*ferd*' 2>/dev/null || true)
[ -z "$left" ] || fail "purge left enablement links: $left"
for u in ferd ferd-mqtt ferd-http; do
    if active "$u"; then fail "$u still running after purge"; fi
done
echo "   left, by design: users and groups $(in_root getent passwd ferd ferd-mqtt ferd-http | cut -d: -f1 | tr '\n' ' ')"
echo "   left, the administrator's: $(in_root find /etc/ferd -type f | tr '\n' ' ')"
[ "$(in_root find /etc/ferd -type f | sort | tr '\n' ' ')" = "/etc/ferd/cam1-http.conf /etc/ferd/cam1.conf " ] ||
    fail "/etc/ferd holds more than the test's own files"

echo "systemd test passed in $(( $(date +%s) - t_start )) s"
