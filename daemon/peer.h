/*
 * peer.h — who is at the other end of a client connection (SO_PEERCRED), and
 * whether that peer is trusted with images and RELOAD.
 *
 * A peer is trusted when it is root, the daemon's own user, or a member of the
 * configured group: by its primary group, by the supplementary groups the
 * connecting process had (SO_PEERGROUPS, Linux 4.13+: the process's real set,
 * so a sandbox that dropped the group is not trusted), or, where the kernel
 * cannot say, by the user database's groups of its uid. An unknown peer (the
 * kernel gave no credentials) is trusted with nothing.
 */
#ifndef FERD_PEER_H
#define FERD_PEER_H

#include <sys/types.h>

typedef struct ferd_peer {
    long long uid, pid;      /* -1 if unknown */
    gid_t gid;               /* (gid_t)-1 if unknown */
} ferd_peer;

/* The credentials of fd's peer (a connected Unix socket); unknown on failure. */
void ferd_peer_read(int fd, ferd_peer *p);

/* 1 if p (connected on fd) is root, self_uid, or a member of gid ((gid_t)-1: no
 * group, so only root and self_uid), else 0. */
int ferd_peer_trusted(const ferd_peer *p, int fd, gid_t gid, uid_t self_uid);

#endif
