/*
 * fuzz_model.c — the .fermodel loader (fer_model_load_mem, src/net/model_read.c),
 * which the daemon runs on the configured model at start-up and on every reload.
 *
 * A CRC-32 guards the whole file, so mutated bytes almost always stop at
 * "checksum mismatch". The target therefore loads each input twice: as given,
 * and with its last four bytes replaced by the CRC of the rest, which lets the
 * fuzzer reach the header, architecture, tensor and class checks behind it.
 * max_batch is 1, as the daemon infers, so activations stay small.
 *
 * A model that loads for training must save again (fer_model_save_mem), and
 * the saved bytes must load and save to the very same bytes (the writer is
 * deterministic and the reader keeps everything the writer wrote).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/model.h"

static void check_save_cycle(const fer_model *m)
{
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    fer_error err = {0};
    if (fer_model_save_mem(m, &a, &alen, &err) < 0)
        fuzz_fail("a loaded model does not save: %s", err.msg);
    fer_model *m2 = NULL;
    if (fer_model_load_mem(&m2, a, alen, "resaved", 1, 0, &err) < 0)
        fuzz_fail("a saved model does not load: %s", err.msg);
    if (fer_model_save_mem(m2, &b, &blen, &err) < 0)
        fuzz_fail("a reloaded model does not save: %s", err.msg);
    if (alen != blen || memcmp(a, b, alen) != 0)
        fuzz_fail("save -> load -> save changed the bytes (%zu vs %zu)", alen, blen);
    fer_model_free(m2);
    free(a);
    free(b);
}

static void load(const uint8_t *data, size_t size, unsigned flags, int cycle)
{
    fer_model *m = NULL;
    fer_error err = {0};
    int rc = fer_model_load_mem(&m, data, size, "fuzz.fermodel", 1, flags, &err);
    fuzz_note(flags ? "model (infer)" : "model", rc, err.msg);
    if (rc < 0) {
        if (m)
            fuzz_fail("a failed load returned a model");
        return;
    }
    if (cycle)
        check_save_cycle(m);
    fer_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size, 0, 1);
    if (size < 20)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    fuzz_fix_crc(fixed, size);
    /* The daemon's way (folded batch norm), and the trainer's. */
    load(fixed, size, FER_LOAD_INFER, 0);
    if (memcmp(fixed + size - 4, data + size - 4, 4) != 0)
        load(fixed, size, 0, 1); /* else the first load already did this */
    free(fixed);
    return 0;
}
