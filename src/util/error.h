/*
 * error.h — how libfer reports failure.
 *
 * Every fallible function returns 0 on success or a negative code: either a
 * negated errno (-ENOENT, -ENOMEM, ...) for system failures, or one of the
 * FER_E_* codes below for format and validation failures. The codes say
 * *what* went wrong; the optional fer_error filled by the callee says *where*
 * (file, line, tensor name). Library code never prints: the caller that
 * decides what to do with an error logs it once.
 */
#ifndef FER_ERROR_H
#define FER_ERROR_H

#include <stddef.h>

/* Project error codes. They sit far below any errno value so the two ranges never meet. */
enum {
    FER_E_BASE = -10000,
    FER_E_NOT_MODEL = FER_E_BASE, /* file does not start with the .fermodel magic */
    FER_E_VERSION,                /* format version this build cannot read */
    FER_E_TRUNCATED,              /* file ends before the data its header announces */
    FER_E_CHECKSUM,               /* stored CRC-32 differs from the computed one */
    FER_E_HEADER,                 /* header JSON malformed or missing a required field */
    FER_E_LAYER,                  /* unknown layer type in an architecture */
    FER_E_ARCH,                   /* architecture text malformed (syntax, bad value, bad shape) */
    FER_E_TENSOR,                 /* tensor missing, duplicated or of the wrong size */
    FER_E_CLASSES,                /* class count does not match the output layer */
    FER_E_TRAILING,               /* bytes after the checksum */
    FER_E_INVAL,                  /* invalid argument or data (e.g. a bad CSV row) */
    FER_E_EOF,                    /* a frame source reached its end */
    FER_E_UNSUPPORTED,            /* a device or stream offers no format we can use */
    FER_E_LOST,                   /* a camera or stream went away while streaming */
    FER_E_PROTO,                  /* a protocol message is malformed or of the wrong kind */
    FER_E_LAST
};

/* Optional detail filled by a failing function: the code it returned and a
 * one-line message naming the file, line or object involved. */
typedef struct fer_error {
    int code;
    char msg[512];
} fer_error;

/* A static English description of a code (negated errno or FER_E_*). */
const char *fer_strerror(int code);

/* Records code and a printf-style message in err (which may be NULL) and
 * returns code, so a failure site can write `return fer_fail(err, -EIO, ...)`. */
int fer_fail(fer_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
