/*
 * memory.h — how ferd's memory stays bounded over many model reloads
 * (issue 13, class 9).
 *
 * glibc raises its mmap threshold each time a block it had mmapped is freed,
 * up to 32 MiB. The first reload frees the old model's large buffers, so from
 * then on buffers of that size come from malloc's heaps instead, where holes
 * left between reloads stay resident: RSS went from 105 MiB to 188 MiB over
 * the first 40 reloads (malloc_stats: 51 MB in use either way, 110 MB held).
 * Pinning the threshold keeps large buffers in mappings of their own, given
 * back whole when freed; after a reload, malloc_trim gives back the free pages
 * of the old model's smaller blocks. Measured in docs/RELIABILITY.md
 * (tests/reliability/reload_soak.py).
 */
#ifndef FERD_MEMORY_H
#define FERD_MEMORY_H

/* Blocks of this many bytes or more get a mapping of their own: glibc's
 * initial threshold, now fixed instead of rising. */
#define FERD_MMAP_THRESHOLD (128 * 1024)

/* Call first in main, before any thread starts. 0, or -EINVAL if the C
 * library refused (the daemon runs anyway, as before). A threshold set in
 * GLIBC_TUNABLES (glibc.malloc.mmap_threshold) is left as it is: that is how
 * tools/bench_malloc.py measures what the fixed threshold costs per frame. */
int ferd_memory_setup(void);

/* Gives free heap pages back to the system; after a model is replaced. */
void ferd_memory_release(void);

#endif
