/*
 * fileio.h — whole-file reads and crash-safe whole-file writes.
 *
 * Every file ferd writes (models, checkpoints, reports, images) goes through
 * fer_write_atomic: a temporary file beside the target, fsync, rename over the
 * target, fsync of the directory. A crash or a full disk leaves either the old
 * file or the new one, never a torn mix. Only a kill -9 or a power cut in the
 * middle leaves a temporary behind; fer_remove_stale_temporaries clears those.
 */
#ifndef FER_FILEIO_H
#define FER_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/error.h"

/* Writes the concatenation of n pieces (bufs[i], lens[i]) to path atomically. */
int fer_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int n,
                     fer_error *err);

/*
 * The same guarantee for a file written piece by piece (a long analysis, a
 * video): fer_atomic_open creates the temporary beside path (named
 * NAME.tmp.PID.N, then suffix: a writer that picks its format from the
 * extension, like a video encoder, may need it kept, e.g. ".mp4"), the caller
 * writes to fd or to tmp by name, and fer_atomic_commit makes it path — or
 * fer_atomic_abort removes it, leaving whatever was at path untouched.
 */
typedef struct fer_atomic_file {
    int fd;                 /* open for writing; -1 after commit, abort or fer_atomic_close_fd */
    char path[4096];        /* the target */
    char tmp[4096];         /* the temporary */
} fer_atomic_file;

int fer_atomic_open(fer_atomic_file *f, const char *path, const char *suffix, fer_error *err);
/* Closes fd without committing (for a writer that reopens tmp by name). */
void fer_atomic_close_fd(fer_atomic_file *f);
/* fsync, rename over path, fsync of the directory. On failure the temporary is removed. */
int fer_atomic_commit(fer_atomic_file *f, fer_error *err);
/* Removes the temporary; accepts a file already committed or aborted. */
void fer_atomic_abort(fer_atomic_file *f);

/* Removes, in dir, the temporaries fer_write_atomic left when its process was
 * killed mid-write (NAME.tmp.PID.N[.EXT] whose PID is no longer running; a live
 * process's are left alone). Returns how many were removed, or -errno if dir
 * cannot be read. */
int fer_remove_stale_temporaries(const char *dir, fer_error *err);

/*
 * Opens path for reading if it is a regular file, without blocking on the way:
 * a FIFO, a socket, a device or a directory is refused (-EINVAL, -EISDIR) with
 * a message naming what it is, instead of an open that waits for a writer
 * forever (issue 13, class 1). Returns the descriptor (close-on-exec, blocking
 * reads) and fills *st when st is not NULL; -errno with err naming path.
 */
int fer_open_regular(const char *path, struct stat *st, fer_error *err);

/* Reads a whole regular file into a malloc'd buffer (NUL-terminated beyond len),
 * opened with fer_open_regular. max_len bounds what will be read (-EFBIG beyond). */
int fer_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_len, fer_error *err);

#endif
