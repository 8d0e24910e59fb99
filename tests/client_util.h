/*
 * client_util.h — helpers of the client tests (test_client.c against a fake
 * server, test_ferctl.c against the real daemon): a scratch directory, a
 * scripted fake ferd on a temporary Unix socket, running a program with its
 * output captured, and protocol lines made with the shared encoder.
 */
#ifndef FER_TEST_CLIENT_UTIL_H
#define FER_TEST_CLIENT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/protocol.h"
#include "proto/serve.h"
#include "util/clock.h" /* fer_mono_ms for deadlines */

/* mkdtemp under $TMPDIR (or /tmp) into cu_dir; cu_cleanup removes it. */
extern char cu_dir[256];
void cu_setup(void);
void cu_cleanup(void);
/* cu_dir/name in one of sixteen rotating static buffers: copy it to keep it. */
const char *cu_path(const char *name);

/* ---- the fake server ---- */

typedef enum fs_op {
    FS_END = 0,
    FS_ACCEPT,      /* accept the next connection (closing the current one) */
    FS_GREET,       /* send VERSION with proto_major n (0: ours), text: max_response or NULL */
    FS_SEND,        /* send text + "\n" */
    FS_SEND_RAW,    /* send text as is (n bytes, or strlen when n is 0) */
    FS_RESULTS,     /* send n RESULT lines, one face each, continuing the sequence
                     * (stopping quietly if the client leaves) */
    FS_EXPECT,      /* read one request line; it must contain text */
    FS_SLEEP,       /* n ms */
    FS_CLOSE,       /* close the connection */
    FS_HOLD,        /* read until the client closes (or n ms pass, 0: 10 s) */
} fs_op;

typedef struct fs_step {
    fs_op op;
    const char *text;
    int n;
} fs_step;

/* Binds a listening socket at path and forks a server that plays steps. The
 * returned pid is the server's; it exits 0 when every step succeeded, else 1
 * with a message on stderr. */
pid_t fs_start(const char *path, const fs_step *steps);
/* Waits for the server (killing it after timeout_ms) and returns its exit
 * status, or -1 if it had to be killed or died by a signal. */
int fs_wait(pid_t pid, int timeout_ms);

/* ---- protocol lines from the shared encoder (malloc'd, no newline) ---- */

/* A sample frame result: seq, 640x480, nfaces faces (ids 1..), 7 classes. */
fer_frame_result cu_result(uint64_t seq, int nfaces);
char *cu_result_line(uint64_t seq, int nfaces);
char *cu_version_line(int major, int minor, int max_response);
/* The WATCH acknowledgement for w. */
char *cu_watch_ack_line(const fer_watch *w);
/* A STATUS of a daemon playing samples/demo.avi, every section filled. */
char *cu_status_line(void);

/* ---- running programs ---- */

typedef struct cu_run_result {
    int status;      /* exit code, or 128 + signal, or -1 if killed on timeout */
    char *out, *err; /* captured, NUL-terminated; free with cu_run_free */
    size_t out_len, err_len;
} cu_run_result;

/*
 * Runs argv (argv[0] a path) with env entries ("K=V", or "K=" to unset K)
 * added to the environment, stdin from /dev/null, and captures stdout and
 * stderr; kills it after timeout_ms. Returns the pid-less result.
 */
void cu_run(char *const argv[], const char *const env[], int timeout_ms, cu_run_result *res);
void cu_run_free(cu_run_result *res);
/* Programs that run in the background: fh_spawn (ferd_harness.h). */
/* Number of lines in s. */
int cu_count_lines(const char *s);

/* Reads a whole file into a malloc'd buffer (NULL on failure). */
char *cu_read_file(const char *path, size_t *len);

#endif
