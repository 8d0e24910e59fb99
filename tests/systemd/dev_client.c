/*
 * dev_client.c — a program built against the libferclient-dev package as a
 * user builds it (tests/systemd/dev-packages.sh): its headers through
 * `pkg-config --cflags libferclient`, its library through `--libs`, nothing
 * from the source tree. It needs no daemon: it asks for the default socket
 * path and connects to a socket that does not exist, which ferclient.h says
 * fails with -ENOENT, no client and a message naming the path.
 *
 *   dev_client MISSING_SOCKET_PATH
 *
 * Exits 0 when the library behaves as documented, 1 (saying what differs)
 * when not.
 */
#define _POSIX_C_SOURCE 200809L /* unsetenv */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferclient.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dev_client MISSING_SOCKET_PATH\n");
        return 2;
    }
    /* Headers nested under the -dev package's include directory: proto/protocol.h
     * (through ferclient.h) and util/error.h (fer_error). */
    printf("protocol %d, default socket %s\n", FER_PROTO_MAJOR, FER_CLIENT_DEFAULT_SOCKET);

    unsetenv(FER_CLIENT_SOCKET_ENV);
    const char *def = fer_client_socket_path(NULL);
    if (strcmp(def, FER_CLIENT_DEFAULT_SOCKET) != 0) {
        printf("fer_client_socket_path(NULL) is %s, not %s\n", def, FER_CLIENT_DEFAULT_SOCKET);
        return 1;
    }

    fer_client *c = (fer_client *)1;
    fer_error err = {0};
    int rc = fer_client_open(&c, argv[1], 2000, &err);
    printf("fer_client_open(%s): %d (%s): %s\n", argv[1], rc, fer_client_strerror(rc), err.msg);
    if (rc != -ENOENT) {
        printf("expected -ENOENT (%d)\n", -ENOENT);
        return 1;
    }
    if (c != NULL) {
        printf("the client is not NULL after a failed open\n");
        return 1;
    }
    if (strstr(err.msg, argv[1]) == NULL) {
        printf("the message does not name the path\n");
        return 1;
    }
    fer_client_close(NULL);
    return 0;
}
