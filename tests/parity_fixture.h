/*
 * parity_fixture.h — reader for the .fert files tools/ferparity.py writes: the PyTorch
 * reference results (inputs, logits, loss, gradients) the parity test compares with.
 *
 * Format (little-endian; tools/ferparity.py's docstring is the normative description):
 *   "FERT", u32 version = 1, u32 comment length, comment (UTF-8),
 *   u32 tensor count, then per tensor: u16 name length, name, u16 dtype (0 = f32,
 *   1 = i32), u32 ndim (<= 4), u32 dims[ndim], data (4 bytes per element, row-major).
 */
#ifndef FER_PARITY_FIXTURE_H
#define FER_PARITY_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum { PFX_F32 = 0, PFX_I32 = 1 };

typedef struct pfx_tensor {
    char name[64];
    int dtype;            /* PFX_F32 or PFX_I32 */
    int ndim;
    int shape[4];
    size_t count;         /* product of shape (1 for ndim 0) */
    union {
        float *f;         /* dtype PFX_F32 */
        int32_t *i;       /* dtype PFX_I32 */
    } data;               /* into the fixture's own copy of the file, 4-byte aligned */
} pfx_tensor;

typedef struct pfx_fixture {
    char *comment;        /* NUL-terminated */
    int count;
    pfx_tensor *tensors;  /* in file order */
    void *blob;           /* owns every tensor's data */
} pfx_fixture;

/* Reads path. Errors: -errno, FER_E_NOT_MODEL (bad magic), FER_E_VERSION, FER_E_TRUNCATED,
 * FER_E_TRAILING, FER_E_INVAL (a malformed tensor record); err->msg names the file. */
int pfx_load(pfx_fixture **out, const char *path, fer_error *err);

/* The tensor called name, or NULL. */
const pfx_tensor *pfx_find(const pfx_fixture *f, const char *name);

void pfx_free(pfx_fixture *f); /* accepts NULL */

#endif
