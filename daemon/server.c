/*
 * server.c — see server.h.
 *
 * Socket activation: when systemd passes exactly one descriptor
 * (sd_listen_fds), it must be a listening AF_UNIX stream socket
 * (sd_is_socket_unix); its path, mode and group are the socket unit's
 * business and ferd never removes it. Otherwise ferd binds the configured
 * path itself: a stale socket left by a crash is removed (nobody answers on
 * it), a live one means another daemon and is an error, and the file is
 * created under a umask that already gives it the configured mode, so there
 * is no moment when it is more open than configured. Then the group is set.
 *
 * A socket that cannot be created is explained before binding is tried
 * (libuv reports a missing directory as "permission denied"): the directory
 * is missing, or not writable by this user (its owner and mode are named),
 * or another daemon listens on the path, or the path is taken by a file —
 * each with the path and what to do about it.
 */
#include "server.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

static void on_connection(uv_stream_t *server, int status)
{
    ferd *d = server->data;
    if (status < 0) {
        log_warning("listener: %s", uv_strerror(status));
        return;
    }
    ferd_client_accept(d);
}

int ferd_group_id(const char *name, gid_t *gid)
{
    *gid = (gid_t)-1;
    if (!name[0])
        return 0;
    struct group gr, *res = NULL;
    char buf[8192];
    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || !res)
        return -ENOENT;
    *gid = gr.gr_gid;
    return 0;
}

/* Removes path if it is a socket nobody listens on. */
static int clear_stale(const char *path, char *msg, size_t n)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(msg, n, "cannot create the socket %s: a file that is not a socket is there; "
                 "remove it, or give another --socket", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0) {
        snprintf(msg, n, "cannot listen on %s: address in use, another daemon is listening "
                 "there; stop it (systemctl stop ferd), or give this one another --socket", path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(msg, n, "%s: cannot tell whether it is in use: %s", path, strerror(e));
        return -e;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        e = errno;
        snprintf(msg, n, "%s: cannot remove the stale socket: %s", path, strerror(e));
        return -e;
    }
    log_info("removed stale socket %s", path);
    return 0;
}

/* Why a socket cannot be made at path, in msg, before trying: 0 if nothing
 * speaks against it. */
static int check_dir(const char *path, char *msg, size_t n)
{
    char dir[FERD_SOCKET_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(msg, n, "cannot create the socket %s: the directory %s does not exist; "
                     "create it (ferd.service's RuntimeDirectory=ferd makes /run/ferd), or give "
                     "another --socket", path, dir);
        else
            snprintf(msg, n, "cannot create the socket %s: %s: %s; give another --socket", path,
                     dir, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "cannot create the socket %s: %s is not a directory; give another "
                 "--socket", path, dir);
        return -ENOTDIR;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        int e = errno;
        snprintf(msg, n, "cannot create the socket %s: no permission to create files in %s "
                 "(owner uid %u gid %u, mode %04o; ferd runs as uid %u); run ferd as a user who "
                 "may, or give another --socket", path, dir, (unsigned)st.st_uid,
                 (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        return -e;
    }
    return 0;
}

static int bind_own(ferd *d, char *msg, size_t n)
{
    const char *path = d->cfg.socket_path;
    int rc = check_dir(path, msg, n);
    if (rc < 0)
        return rc;
    rc = clear_stale(path, msg, n);
    if (rc < 0) {
        if (!msg[0])
            snprintf(msg, n, "%s: %s", path, strerror(-rc));
        return rc;
    }
    mode_t old = umask(~(mode_t)d->cfg.socket_mode & 0777);
    rc = uv_pipe_bind(&d->server, path);
    umask(old);
    if (rc < 0) {
        snprintf(msg, n, "cannot bind %s: %s%s", path, uv_strerror(rc),
                 strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)
                     ? " (a socket path has at most 107 bytes)" : "");
        return rc;
    }
    d->socket_owned = 1;
    snprintf(d->bound_path, sizeof d->bound_path, "%s", path);
    if (chmod(path, (mode_t)d->cfg.socket_mode) < 0) {
        rc = -errno;
        snprintf(msg, n, "chmod %04o %s: %s", d->cfg.socket_mode, path, strerror(errno));
        return rc;
    }
    if (d->cfg.socket_group[0]) {
        gid_t gid;
        if (ferd_group_id(d->cfg.socket_group, &gid) < 0) {
            snprintf(msg, n, "socket_group %s: no such group", d->cfg.socket_group);
            return -ENOENT;
        }
        if (chown(path, (uid_t)-1, gid) < 0) {
            rc = -errno;
            snprintf(msg, n, "chgrp %s %s: %s", d->cfg.socket_group, path, strerror(errno));
            return rc;
        }
    }
    return 0;
}

int ferd_server_open(ferd *d, char *msg, size_t n)
{
    msg[0] = '\0';
    int rc = uv_pipe_init(d->loop, &d->server, 0);
    if (rc < 0) {
        snprintf(msg, n, "uv_pipe_init: %s", uv_strerror(rc));
        return rc;
    }
    d->server.data = d;
    d->server_open = 1;
    d->handles_open++;
    int nfds = sd_listen_fds(1);
    if (nfds < 0) {
        snprintf(msg, n, "sd_listen_fds: %s", strerror(-nfds));
        return nfds;
    }
    if (nfds > 1) {
        snprintf(msg, n, "systemd passed %d sockets; ferd takes exactly one", nfds);
        return -EINVAL;
    }
    if (nfds == 1) {
        int fd = SD_LISTEN_FDS_START;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
            snprintf(msg, n, "the socket systemd passed (fd %d) is not a listening AF_UNIX "
                     "stream socket", fd);
            return -EINVAL;
        }
        rc = uv_pipe_open(&d->server, fd);
        if (rc < 0) {
            snprintf(msg, n, "uv_pipe_open(fd %d): %s", fd, uv_strerror(rc));
            return rc;
        }
        d->activated = 1;
        char name[FERD_SOCKET_PATH_MAX];
        size_t len = sizeof name;
        if (uv_pipe_getsockname(&d->server, name, &len) == 0)
            log_info("listening on %.*s (socket activation)", (int)len, name);
    } else {
        rc = bind_own(d, msg, n);
        if (rc < 0)
            return rc;
    }
    rc = uv_listen((uv_stream_t *)&d->server, 128, on_connection);
    if (rc < 0) {
        snprintf(msg, n, "listen on %s: %s", d->activated ? "the passed socket"
                 : d->cfg.socket_path, uv_strerror(rc));
        return rc;
    }
    if (!d->activated)
        log_info("listening on %s (mode %04o%s%s)", d->cfg.socket_path, d->cfg.socket_mode,
                 d->cfg.socket_group[0] ? ", group " : "", d->cfg.socket_group);
    return 0;
}

static void on_server_closed(uv_handle_t *h)
{
    ferd *d = h->data;
    d->handles_open--;
}

void ferd_server_close(ferd *d)
{
    if (!d->server_open)
        return;
    d->server_open = 0;
    uv_close((uv_handle_t *)&d->server, on_server_closed);
}

void ferd_server_unlink(ferd *d)
{
    if (d->socket_owned && unlink(d->bound_path) < 0 && errno != ENOENT)
        log_warning("cannot remove %s: %s", d->bound_path, strerror(errno));
    d->socket_owned = 0;
}
