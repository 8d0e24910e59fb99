/*
 * fuzz_util.c — helpers shared by the fuzz targets (see fuzz.h).
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fuzz_note(const char *what, int rc, const char *msg)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (!verbose)
        return;
    if (rc == 0)
        fprintf(stderr, "%s: ok\n", what);
    else
        fprintf(stderr, "%s: %d %s\n", what, rc, msg ? msg : "");
}

int fuzz_memfd(const uint8_t *data, size_t size, char *path)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0)
        fuzz_fail("memfd_create failed");
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            fuzz_fail("write to memfd failed");
        done += (size_t)w;
    }
    snprintf(path, 32, "/proc/self/fd/%d", fd);
    return fd;
}

void fuzz_fix_crc(uint8_t *buf, size_t len)
{
    if (len < 4)
        return;
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}
