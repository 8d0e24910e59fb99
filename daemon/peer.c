/*
 * peer.c — see peer.h. SO_PEERGROUPS is asked first because it describes the
 * process that connected; the user database is the fallback for old kernels
 * and may differ from the process's actual groups (a group granted at run time,
 * or dropped by a sandbox).
 */
#include "peer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>

void ferd_peer_read(int fd, ferd_peer *p)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    p->uid = p->pid = -1;
    p->gid = (gid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
        p->uid = cr.uid;
        p->pid = cr.pid;
        p->gid = cr.gid;
    }
}

/* 1 if uid's user has gid among its groups (primary or supplementary), by the
 * user database. */
static int user_in_group(uid_t uid, gid_t gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
        return 0;
    if (pw.pw_gid == gid)
        return 1;
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        n = 256; /* more groups than we look at: check the first 256 */
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

/* 1 if the peer process had gid among its supplementary groups when it
 * connected, 0 if not, -1 if the kernel cannot say (before Linux 4.13). */
static int peer_in_group(int fd, gid_t gid)
{
    gid_t small[64], *groups = small;
    socklen_t len = sizeof small;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    if (rc < 0 && errno == ERANGE && len > sizeof small && (groups = malloc(len)) != NULL)
        rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    int found = rc < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < len / sizeof *groups; i++)
        found |= groups[i] == gid;
    if (groups != small)
        free(groups);
    return found;
}

int ferd_peer_trusted(const ferd_peer *p, int fd, gid_t gid, uid_t self_uid)
{
    if (p->uid < 0)
        return 0;
    if (p->uid == 0 || (uid_t)p->uid == self_uid)
        return 1;
    if (gid == (gid_t)-1)
        return 0;
    if (p->gid == gid)
        return 1;
    int in = peer_in_group(fd, gid);
    return in < 0 ? user_in_group((uid_t)p->uid, gid) : in;
}
