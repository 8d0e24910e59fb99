#!/bin/sh
# ferd-valgrind.sh ARGS... — runs the real ferd ($FERD_REAL) under valgrind's
# memcheck with ARGS; the daemon tests use it as their FERD_BIN in the valgrind
# run (tests/reliability/valgrind-daemon.sh), so every daemon they start is
# checked. One log per process in $FERD_VG_LOGS (ferd.<pid>.log).
#
# Definite leaks count as errors, and any error makes the daemon's exit status
# 99, which the tests see as a failed stop; the logs are judged as a whole by
# valgrind-daemon.sh afterwards.
#
# FERD_VG_LIBS, when set, is put first in LD_LIBRARY_PATH: it holds a copy of
# libhwy.so.1 whose RDTSCP instructions are RDTSC, because valgrind 3.19 cannot
# execute RDTSCP on CPUs that do not advertise it, and Debian's libhwy (loaded
# through OpenCV -> FFmpeg -> libjxl) runs one in a static constructor.
set -eu
: "${FERD_REAL:?FERD_REAL not set}"
: "${FERD_VG_LOGS:?FERD_VG_LOGS not set}"
if [ -n "${FERD_VG_LIBS:-}" ]; then
    LD_LIBRARY_PATH="$FERD_VG_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no \
    --num-callers=30 --log-file="$FERD_VG_LOGS/ferd.%p.log" "$FERD_REAL" "$@"
