/* subscriber.c — print each face ferd sees, with libferclient.
 * Build: cc subscriber.c $(pkg-config --cflags --libs libferclient)
 * Run:   ./a.out [SOCKET [COUNT]]   (socket default: $FERD_SOCKET, else /run/ferd/ferd.sock) */
#include <stdio.h>
#include <stdlib.h>
#include <ferclient.h>

int main(int argc, char **argv)
{
    fer_client *c;
    fer_error err = {0};
    long count = argc > 2 ? atol(argv[2]) : 10;
    if (fer_client_open(&c, argc > 1 ? argv[1] : NULL, 5000, &err) < 0 ||
        fer_client_watch(c, NULL, NULL, 5000, &err) < 0) {
        fprintf(stderr, "subscriber: %s\n", err.msg);
        return 1;
    }
    fer_message m = {0};
    while (count > 0 && fer_client_read(c, 10000, &m, &err) == 0) {
        if (m.kind != FER_MSG_RESULT)
            continue;
        const fer_frame_result *r = &m.u.result;
        printf("frame %llu: %d face(s)\n", (unsigned long long)r->seq, r->nfaces);
        for (int i = 0; i < r->nfaces; i++)
            printf("  face %d %s %.2f at %d,%d %dx%d\n", r->faces[i].id,
                   r->classes[r->faces[i].label], r->faces[i].prob, r->faces[i].box.x,
                   r->faces[i].box.y, r->faces[i].box.w, r->faces[i].box.h);
        count--;
    }
    fer_message_clear(&m);
    fer_client_close(c);
    return count > 0;
}
