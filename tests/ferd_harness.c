/*
 * ferd_harness.c — see ferd_harness.h for the rules.
 *
 * Every child is also entered in a small registry with the pid of the process
 * that started it, and an atexit handler kills the ones this process started
 * and removes their sockets. The owner check matters under Check's fork mode:
 * a test child inherits the registry of the runner that forked it (a shared
 * daemon started by an unchecked fixture, say), and must not kill that
 * daemon when it exits.
 */
#include "ferd_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

/* ---- the registry ---- */

#define FH_MAX_CHILDREN 64

static struct {
    pid_t pid, owner;
    char sock[108], notify[108];
} registry[FH_MAX_CHILDREN];
static int registered;

static void kill_leftovers(void)
{
    for (int i = 0; i < FH_MAX_CHILDREN; i++) {
        if (!registry[i].pid || registry[i].owner != getpid())
            continue;
        kill(registry[i].pid, SIGKILL);
        waitpid(registry[i].pid, NULL, 0);
        if (registry[i].sock[0])
            unlink(registry[i].sock);
        if (registry[i].notify[0])
            unlink(registry[i].notify);
        registry[i].pid = 0;
    }
}

/* ---- scratch directories, and the end by a termination signal ---- */

#define FH_MAX_SCRATCH 8

static struct {
    pid_t owner;
    char path[256];
} scratch[FH_MAX_SCRATCH];
static int signals_caught;
static struct sigaction prev_action[3];
static const int caught[3] = {SIGTERM, SIGINT, SIGHUP};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_scratch(void)
{
    for (int i = 0; i < FH_MAX_SCRATCH; i++)
        if (scratch[i].path[0] && scratch[i].owner == getpid()) {
            nftw(scratch[i].path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            scratch[i].path[0] = '\0';
        }
}

/*
 * SIGTERM (how meson's timeout ends a test program), SIGINT or SIGHUP: neither
 * atexit handlers nor Check's fixtures run then. The previous handler goes
 * first: under Check's fork mode it is the runner's, which sends the running
 * test's process group SIGTERM and this process the signal again with the
 * default action restored (blocked until this handler returns). Then our own
 * daemons are killed and their sockets removed, the test child gets up to
 * 300 ms to exit (meson sends SIGKILL 0.5 s after SIGTERM), and the scratch
 * directories are removed; returning delivers the pending signal. nftw is not
 * async-signal-safe: acceptable in a test program that is ending, whose runner
 * spends its time blocked in waitpid.
 */
static void on_termination(int sig)
{
    int k = sig == SIGTERM ? 0 : sig == SIGINT ? 1 : 2;
    const struct sigaction *prev = &prev_action[k];
    if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
        prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    kill_leftovers();
    /* WNOWAIT: the runner reaps its test child itself (Check loops on
     * waitpid until it does). */
    for (int i = 0; i < 30; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    remove_scratch();
}

static void catch_termination(void)
{
    if (signals_caught)
        return;
    signals_caught = 1;
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        if (sigaction(caught[i], NULL, &prev_action[i]) < 0 ||
            prev_action[i].sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_termination;
        sigemptyset(&sa.sa_mask);
        sigaction(caught[i], &sa, NULL);
    }
}

void fh_remove_on_exit(const char *dir)
{
    static int at_exit;
    if (!at_exit) {
        atexit(remove_scratch);
        at_exit = 1;
    }
    catch_termination();
    for (int i = 0; i < FH_MAX_SCRATCH; i++)
        if (!scratch[i].path[0]) {
            scratch[i].owner = getpid();
            snprintf(scratch[i].path, sizeof scratch[i].path, "%s", dir);
            return;
        }
}

void fh_removed(const char *dir)
{
    for (int i = 0; i < FH_MAX_SCRATCH; i++)
        if (scratch[i].owner == getpid() && strcmp(scratch[i].path, dir) == 0)
            scratch[i].path[0] = '\0';
}

static void enter(pid_t pid, const char *sock, const char *notify)
{
    if (!registered) {
        atexit(kill_leftovers);
        registered = 1;
    }
    catch_termination();
    for (int i = 0; i < FH_MAX_CHILDREN; i++)
        if (!registry[i].pid) {
            registry[i].pid = pid;
            registry[i].owner = getpid();
            snprintf(registry[i].sock, sizeof registry[i].sock, "%s", sock ? sock : "");
            snprintf(registry[i].notify, sizeof registry[i].notify, "%s", notify ? notify : "");
            return;
        }
}

static void leave(pid_t pid)
{
    for (int i = 0; i < FH_MAX_CHILDREN; i++)
        if (registry[i].pid == pid)
            registry[i].pid = 0;
}

/* ---- any child ---- */

static void apply_env(const char *const env[])
{
    for (int i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - env[i]), env[i]);
        if (eq[1])
            setenv(key, eq + 1, 1);
        else
            unsetenv(key);
    }
}

/* In the child: rule 1, the descriptors, the environment, then exec. Never
 * returns. */
static void child(char *const argv[], const char *const env[], int out_fd, int err_fd,
                  int keep_fd, pid_t parent)
{
    /* Dies with the parent; a parent already gone before the prctl counts too. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(126);
    setpgid(0, 0);
    apply_env(env);
    int in = open("/dev/null", O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    if (in < 0 || null < 0)
        _exit(126);
    /* Through descriptors above 3 first, so that none of the dup2 below
     * overwrites another's source. */
    int o = fcntl(out_fd >= 0 ? out_fd : null, F_DUPFD, 10);
    int e = fcntl(err_fd >= 0 ? err_fd : null, F_DUPFD, 10);
    int k = keep_fd >= 0 ? fcntl(keep_fd, F_DUPFD, 10) : -1;
    if (o < 0 || e < 0 || (keep_fd >= 0 && k < 0))
        _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    if (k >= 0 && dup2(k, 3) < 0) /* dup2 clears close-on-exec: it survives */
        _exit(126);
    execv(argv[0], argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t fh_spawn_fds(char *const argv[], const char *const env[], int out_fd, int err_fd,
                   int keep_fd)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        child(argv, env, out_fd, err_fd, keep_fd, parent);
    enter(pid, NULL, NULL);
    return pid;
}

pid_t fh_spawn(char *const argv[], const char *const env[], const char *out, const char *err,
               int keep_fd)
{
    int same = out && err && strcmp(out, err) == 0;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (same ? O_APPEND : O_TRUNC);
    int o = out ? open(out, flags, 0644) : -1;
    int e = same ? o : err ? open(err, flags, 0644) : -1;
    if ((out && o < 0) || (err && e < 0)) {
        int rc = -errno;
        if (o >= 0)
            close(o);
        return rc;
    }
    pid_t pid = fh_spawn_fds(argv, env, o, e, keep_fd);
    if (o >= 0)
        close(o);
    if (e >= 0 && !same)
        close(e);
    return pid;
}

int fh_wait_pid(pid_t pid, int timeout_ms)
{
    fh_deadline dl = fh_deadline_in(timeout_ms);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            leave(pid);
            return st;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (!fh_deadline_wait(&dl, 10))
            return -1;
    }
}

/* ---- deadlines ---- */

fh_deadline fh_deadline_in(int ms)
{
    fh_deadline d = {fer_mono_ms() + (ms > 0 ? ms : 0)};
    return d;
}

int fh_deadline_left(const fh_deadline *d)
{
    int64_t left = d->end_ms - fer_mono_ms();
    return left <= 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

int fh_deadline_wait(fh_deadline *d, int interval_ms)
{
    int left = fh_deadline_left(d);
    if (left <= 0)
        return 0;
    int ms = interval_ms < left ? interval_ms : left;
    fer_sleep_ns((uint64_t)ms * 1000000u);
    return 1;
}

/* ---- the daemon ---- */

void fh_collect_notify(fh_daemon *d, int timeout_ms)
{
    if (d->notify_fd < 0)
        return;
    struct pollfd p = {d->notify_fd, POLLIN, 0};
    while (poll(&p, 1, timeout_ms) > 0) {
        char buf[2048];
        ssize_t n = recv(d->notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n <= 0)
            break;
        buf[n] = '\0';
        size_t room = sizeof d->notify - d->notify_len;
        int w = snprintf(d->notify + d->notify_len, room, "%s\n", buf);
        if (w > 0)
            d->notify_len += (size_t)w < room ? (size_t)w : room - 1;
        timeout_ms = 0;
    }
}

/* 1 if the daemon has exited (and is reaped now). */
static int exited(fh_daemon *d)
{
    if (d->pid <= 0)
        return 1;
    int st;
    if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
        leave(d->pid);
        d->status = st;
        d->pid = 0;
        return 1;
    }
    return 0;
}

long fh_wait_note(fh_daemon *d, const char *note, size_t from, int timeout_ms)
{
    fh_deadline dl = fh_deadline_in(timeout_ms);
    for (;;) {
        fh_collect_notify(d, 0);
        const char *at = from <= d->notify_len ? strstr(d->notify + from, note) : NULL;
        if (at)
            return (long)(at - d->notify);
        if (exited(d)) {
            fh_collect_notify(d, 0);
            at = strstr(d->notify + from, note);
            return at ? (long)(at - d->notify) : -1;
        }
        int left = fh_deadline_left(&dl);
        if (left <= 0)
            return -1;
        fh_collect_notify(d, left < 50 ? left : 50);
    }
}

void fh_log_tail(const fh_daemon *d, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *f = fopen(d->log, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > (long)n - 1 ? size - (long)n + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

void fh_dump_log(const fh_daemon *d, FILE *f)
{
    FILE *in = fopen(d->log, "r");
    if (!in)
        return;
    fprintf(f, "---- %s ----\n", d->log);
    char line[1024];
    while (fgets(line, sizeof line, in))
        fputs(line, f);
    fclose(in);
}

int fh_start(fh_daemon *d, const char *dir, const char *name_prefix, const fh_opts *o,
             char *msg, size_t n)
{
    const char *p = name_prefix ? name_prefix : "";
    memset(d, 0, sizeof *d);
    d->notify_fd = -1;
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    snprintf(d->notify_path, sizeof d->notify_path, "%s/%snotify", dir, p);
    snprintf(d->log, sizeof d->log, "%s/%sferd.log", dir, p);
    snprintf(d->sock, sizeof d->sock, "%s", o->sock ? o->sock : "");
    const char *bin = o->bin ? o->bin : getenv("FERD_BIN");
    if (!bin || !*bin) {
        snprintf(msg, n, "FERD_BIN is not set (meson sets it)");
        return -EINVAL;
    }
    d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->notify_path);
    unlink(d->notify_path);
    if (d->notify_fd < 0 || bind(d->notify_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        snprintf(msg, n, "notify socket %s: %s", d->notify_path, strerror(e));
        fh_cleanup(d);
        return -e;
    }
    char *argv[40] = {(char *)bin};
    int argc = 1;
    for (int i = 0; o->args && o->args[i] && argc < 39; i++)
        argv[argc++] = (char *)o->args[i];
    argv[argc] = NULL;
    char notify_env[160], listen_pid[64];
    snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s", d->notify_path);
    const char *env[48] = {notify_env, "LISTEN_FDS=", "LISTEN_PID=", "WATCHDOG_USEC="};
    int ne = 4;
    for (int i = 0; o->env && o->env[i] && ne < 44; i++)
        env[ne++] = o->env[i];
    if (o->listen_fd >= 0) {
        /* LISTEN_PID must be the daemon's own pid: the child is that process,
         * and exec keeps the pid, so it is set in the child below. */
        env[ne++] = "LISTEN_FDS=1";
        env[ne++] = listen_pid;
    }
    env[ne] = NULL;
    int logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        int e = errno;
        snprintf(msg, n, "%s: %s", d->log, strerror(e));
        fh_cleanup(d);
        return -e;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd);
        snprintf(msg, n, "fork: %s", strerror(e));
        fh_cleanup(d);
        return -e;
    }
    if (pid == 0) {
        snprintf(listen_pid, sizeof listen_pid, "LISTEN_PID=%d", (int)getpid());
        child(argv, env, logfd, logfd, o->listen_fd, parent);
    }
    close(logfd);
    d->pid = pid;
    enter(pid, d->sock, d->notify_path);
    if (o->wait != FH_WAIT_READY)
        return 0;
    if (fh_wait_note(d, "READY=1", 0, o->timeout_ms > 0 ? o->timeout_ms : 20000) >= 0)
        return 0;
    char tail[1500];
    fh_log_tail(d, tail, sizeof tail);
    int was_running = d->pid > 0;
    int st = d->status;
    fh_cleanup(d);
    if (was_running) {
        snprintf(msg, n, "no READY=1 from %s within %d ms; log tail:\n%s", bin,
                 o->timeout_ms > 0 ? o->timeout_ms : 20000, tail);
        return -ETIMEDOUT;
    }
    snprintf(msg, n, "%s exited during start-up (status %d); log tail:\n%s", bin, st, tail);
    return -ECHILD;
}

int fh_wait_exit(fh_daemon *d, int timeout_ms)
{
    fh_deadline dl = fh_deadline_in(timeout_ms);
    while (!exited(d))
        if (!fh_deadline_wait(&dl, 10))
            return -1;
    return d->status;
}

int fh_stop(fh_daemon *d, int timeout_ms)
{
    int st = d->status;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        st = fh_wait_exit(d, timeout_ms);
    }
    fh_collect_notify(d, 0);
    if (st == -1) {
        fh_cleanup(d); /* killed: its socket is ours to remove */
        return -1;
    }
    /* An orderly stop: the daemon removed what it created (tests check that),
     * so only our notify socket goes. */
    if (d->notify_fd >= 0)
        close(d->notify_fd);
    d->notify_fd = -1;
    unlink(d->notify_path);
    return st;
}

void fh_cleanup(fh_daemon *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        int st;
        if (waitpid(d->pid, &st, 0) == d->pid)
            d->status = st;
        leave(d->pid);
        d->pid = 0;
    }
    if (d->notify_fd >= 0) {
        close(d->notify_fd);
        d->notify_fd = -1;
    }
    if (d->notify_path[0])
        unlink(d->notify_path);
    if (d->sock[0])
        unlink(d->sock);
}
