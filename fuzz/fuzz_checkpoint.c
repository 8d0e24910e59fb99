/*
 * fuzz_checkpoint.c — the training checkpoint loader (fer_ckpt_load,
 * src/train/checkpoint.c), which `fer train --resume` runs on a file a killed
 * run may have left behind.
 *
 * The loader reads a path, so the input goes into a memfd. Two CRC-32s guard
 * the file (the checkpoint's, and the embedded .fermodel's), so mutated bytes
 * would nearly always stop at "checksum mismatch"; the target recomputes both
 * where the framing lets it find them, so the fuzzer reaches the JSON header,
 * the embedded model and the optimiser state behind them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "train/checkpoint.h"

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Fixes the embedded model's CRC when the framing locates it, then the file's. */
static void fix_crcs(uint8_t *b, size_t len)
{
    if (len >= 16 + 8 + 8 + 4) {
        uint64_t json_len = get_le(b + 12, 4);
        if (json_len <= len - 36) {
            size_t pos = 16 + (size_t)json_len;
            uint64_t model_len = get_le(b + pos, 8);
            if (model_len <= len - pos - 20)
                fuzz_fix_crc(b + pos + 8, (size_t)model_len);
        }
    }
    fuzz_fix_crc(b, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    if (!b)
        return 0;
    if (size)
        memcpy(b, data, size);
    fix_crcs(b, size);
    char path[32];
    int fd = fuzz_memfd(b, size, path);
    free(b);

    static fer_train_cfg cfg;      /* large (the history): off the stack */
    static fer_train_state st;
    fer_model *m = NULL;
    fer_optim *o = NULL;
    fer_error err = {0};
    int rc = fer_ckpt_load(path, &cfg, &st, &m, &o, &err);
    fuzz_note("checkpoint", rc, err.msg);
    if (rc == 0) {
        if (!m || !o)
            fuzz_fail("a successful load without model or optimiser");
        if (st.nhistory < 0 || st.nhistory > FER_MAX_EPOCHS || cfg.batch < 1)
            fuzz_fail("loaded state out of range");
    } else if (m || o) {
        fuzz_fail("a failed load left a model or optimiser");
    }
    if (rc == 0 && cfg.ema && st.ema_len != m->net->params_len)
        fuzz_fail("an EMA of %zu floats for %zu parameters", st.ema_len, m->net->params_len);
    free(st.ema);
    st.ema = NULL;
    fer_optim_free(o);
    fer_model_free(m);
    close(fd);
    return 0;
}
