/*
 * error.c — error codes to text, and the helper that fills a fer_error.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *fer_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case FER_E_NOT_MODEL: return "not a .fermodel file";
    case FER_E_VERSION: return "unsupported format version";
    case FER_E_TRUNCATED: return "file is truncated";
    case FER_E_CHECKSUM: return "checksum mismatch";
    case FER_E_HEADER: return "malformed header";
    case FER_E_LAYER: return "unknown layer type";
    case FER_E_ARCH: return "malformed architecture";
    case FER_E_TENSOR: return "tensor does not match the architecture";
    case FER_E_CLASSES: return "class count does not match the output layer";
    case FER_E_TRAILING: return "unexpected bytes after the checksum";
    case FER_E_INVAL: return "invalid argument or data";
    case FER_E_EOF: return "end of stream";
    case FER_E_UNSUPPORTED: return "unsupported format";
    case FER_E_LOST: return "stream lost";
    case FER_E_PROTO: return "protocol error";
    default: break;
    }
    if (code < 0 && code > FER_E_BASE)
        return strerror(-code);
    return "unknown error";
}

int fer_fail(fer_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
