/*
 * memory.c — malloc tuning for a long-running daemon that replaces its model
 * (see memory.h for why). glibc only; elsewhere both calls do nothing.
 */
#include "memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

int ferd_memory_setup(void)
{
#ifdef __GLIBC__
    /* An administrator's own threshold (GLIBC_TUNABLES=glibc.malloc.
     * mmap_threshold=N) wins; it too is fixed, not rising. */
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "malloc.mmap_threshold"))
        return 0;
    /* Setting the threshold at all turns off its dynamic adjustment. */
    if (mallopt(M_MMAP_THRESHOLD, FERD_MMAP_THRESHOLD) != 1)
        return -EINVAL;
#endif
    return 0;
}

void ferd_memory_release(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
