/*
 * ferd_harness.h — the one way tests start ferd (and any other program that
 * must not outlive its test). test_daemon.c, test_ferctl.c, client_util.c and
 * bench_fanout.c use it; tests/reliability/ferdtest.py is a thin Python wrapper
 * over the same rules:
 *
 *  1. The child dies with the process that started it: PR_SET_PDEATHSIG
 *     (SIGKILL), checked against a parent that died before the prctl took
 *     effect. It runs in its own process group, stdin from /dev/null, stdout
 *     and stderr to a log file that is shown when a test fails.
 *  2. Waits poll a condition with a deadline, never a fixed sleep: start-up is
 *     READY=1 on a NOTIFY_SOCKET the harness listens on (as systemd's
 *     Type=notify), and a child that exits meanwhile ends the wait at once.
 *     fh_deadline makes the same loop for a test's own conditions.
 *  3. Nothing read is thrown away: every notification datagram is kept, in
 *     order, in fh_daemon.notify; fh_wait_note searches from a position, so a
 *     test asks for "READY=1 after RELOADING=1", not for any READY=1.
 *  4. However a test ends, the daemon is killed and its socket removed:
 *     fh_stop (SIGTERM, then SIGKILL at the deadline) or fh_cleanup (SIGKILL)
 *     in the test and its teardown, an atexit handler for the normal exits, and,
 *     where Check's fork mode ends a failed test with _exit (no teardown, no
 *     atexit), PR_SET_PDEATHSIG kills the daemon and the test's scratch
 *     directory, socket included, is removed by the fixture that made it, in
 *     Check's parent process. When the test program itself is ended by a
 *     signal (meson's timeout: SIGTERM), a handler chained after Check's kills
 *     the daemons and removes the scratch directories (fh_remove_on_exit).
 *
 * Functions return 0 or -errno and say why in a message buffer: no Check
 * dependency, so benchmarks use the harness too; tests assert on the result.
 */
#ifndef FER_TEST_FERD_HARNESS_H
#define FER_TEST_FERD_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- any child ---- */

/*
 * Starts argv (argv[0] a path) under rules 1 and 4: env entries "K=V" set, "K="
 * unset; stdout to out and stderr to err (NULL: /dev/null; the same path for
 * both appends them to one file); keep_fd >= 0 is passed on as descriptor 3.
 * Returns the pid, or -errno if fork failed.
 */
pid_t fh_spawn(char *const argv[], const char *const env[], const char *out, const char *err,
               int keep_fd);
/* The same with descriptors for stdout and stderr (-1: /dev/null), e.g. pipes;
 * the caller keeps and closes its own. */
pid_t fh_spawn_fds(char *const argv[], const char *const env[], int out_fd, int err_fd,
                   int keep_fd);

/* Waits for pid up to timeout_ms (polling); its wait status, or -1 on timeout
 * (the child is left running). */
int fh_wait_pid(pid_t pid, int timeout_ms);

/*
 * Removes dir and everything in it when this process ends: at exit, and on
 * SIGTERM, SIGINT or SIGHUP (meson's timeout sends SIGTERM, which runs neither
 * atexit handlers nor Check's teardown). For a scratch directory made in
 * Check's runner (an unchecked fixture); only the process that registered it
 * removes it. The same signals also kill the daemons this process started and
 * remove their sockets. fh_removed forgets dir once the caller removed it.
 */
void fh_remove_on_exit(const char *dir);
void fh_removed(const char *dir);

/* ---- deadlines ---- */

typedef struct fh_deadline {
    int64_t end_ms;          /* monotonic ms */
} fh_deadline;

fh_deadline fh_deadline_in(int ms);
/* Sleeps until the next poll (interval_ms, or less at the deadline): 1 if the
 * deadline has not passed yet, so `while (!cond) if (!fh_deadline_wait(&d, 50))
 * fail;` polls cond until it holds or time is up. */
int fh_deadline_wait(fh_deadline *d, int interval_ms);
/* Milliseconds left (0 once passed). */
int fh_deadline_left(const fh_deadline *d);

/* ---- the daemon ---- */

enum { FH_WAIT_NONE = 0, FH_WAIT_READY = 1 };

typedef struct fh_daemon {
    pid_t pid;               /* 0: not running (or reaped) */
    int status;              /* wait status once reaped */
    int notify_fd;           /* our end of its NOTIFY_SOCKET; -1 none */
    char notify[16384];      /* every datagram so far, each followed by '\n' */
    size_t notify_len;
    char dir[256];           /* where the notify socket and the log live */
    char notify_path[108];
    char sock[108];          /* the socket it serves: removed by fh_cleanup */
    char log[300];           /* its stdout and stderr */
} fh_daemon;

typedef struct fh_opts {
    const char *bin;               /* the ferd binary; NULL: $FERD_BIN */
    const char *const *args;       /* after argv[0], NULL-terminated */
    const char *const *env;        /* as fh_spawn's; NOTIFY_SOCKET is set, LISTEN_*
                                    * and WATCHDOG_USEC unset before these apply */
    int listen_fd;                 /* >= 0: passed as fd 3 with LISTEN_FDS=1 */
    const char *sock;              /* the socket path it will serve, or NULL */
    int wait;                      /* FH_WAIT_READY or FH_WAIT_NONE */
    int timeout_ms;                /* for READY=1 */
} fh_opts;

/*
 * Starts ferd in dir (its notify socket "notify" and log "ferd.log" go there;
 * a second daemon in the same dir needs another name: name_prefix, or NULL)
 * and with FH_WAIT_READY waits for READY=1. On failure (the child exited, or
 * no READY=1 by the deadline) returns -ECHILD or -ETIMEDOUT with the reason and
 * the log's tail in msg; the daemon is then cleaned up already.
 */
int fh_start(fh_daemon *d, const char *dir, const char *name_prefix, const fh_opts *o,
             char *msg, size_t n);

/* Appends the datagrams that arrive within timeout_ms (0: only those pending). */
void fh_collect_notify(fh_daemon *d, int timeout_ms);
/* Waits until note appears in the notifications at or after offset from;
 * returns its offset, or -1 at the deadline (or if the daemon exited first). */
long fh_wait_note(fh_daemon *d, const char *note, size_t from, int timeout_ms);

/* Waits for the daemon to exit by itself: its wait status, or -1 on timeout. */
int fh_wait_exit(fh_daemon *d, int timeout_ms);
/* SIGTERM and wait: its wait status, and the notifications up to its exit are
 * collected. At the deadline, fh_cleanup (SIGKILL, sockets removed) and -1.
 * After an orderly stop the serving socket is left to the daemon, which
 * removes the one it created (a test may check that). */
int fh_stop(fh_daemon *d, int timeout_ms);
/* Kills a daemon still running (SIGKILL), reaps it, closes the notify socket
 * and removes the notify and serving sockets. Idempotent. */
void fh_cleanup(fh_daemon *d);

/* Writes the log to f under a header naming it. */
void fh_dump_log(const fh_daemon *d, FILE *f);
/* The log's last n - 1 bytes at most, into buf. */
void fh_log_tail(const fh_daemon *d, char *buf, size_t n);

#endif
