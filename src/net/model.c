/*
 * model.c — model defaults, lifetime, and the file-level load and save: whole
 * files in and out through util/fileio (read at once; written atomically via a
 * temporary file, fsync and rename), with the byte-level work in model_read.c
 * and model_write.c.
 */
#include "net/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/model_bytes.h"
#include "nn/layers.h"
#include "util/fileio.h"

/* Larger than any model ferd could build (the activation and weight limits of net.h). */
#define MODEL_FILE_MAX ((size_t)16 << 30)

void fer_preproc_default(fer_preproc *p)
{
    memset(p, 0, sizeof *p);
    p->margin = 0.0f;
    p->square = 1;
    p->grey = 1;
    strcpy(p->resize, "area");
    fer_contrast_init(&p->contrast, FER_CONTRAST_NONE);
    p->mean = 0.5f;
    p->std = 0.25f;
}

static const char *const contrast_names[] = {"none", "histeq", "clahe"};

const char *fer_contrast_name(int mode)
{
    return mode >= 0 && mode <= FER_CONTRAST_CLAHE ? contrast_names[mode] : "?";
}

int fer_contrast_parse(const char *name)
{
    for (int i = 0; i <= FER_CONTRAST_CLAHE; i++)
        if (name && !strcmp(name, contrast_names[i]))
            return i;
    return -1;
}

void fer_contrast_init(fer_contrast *c, int mode)
{
    c->mode = mode;
    c->clip = 2.0f;
    c->tiles = 8;
}

int fer_contrast_check(const fer_contrast *c)
{
    if (c->mode < FER_CONTRAST_NONE || c->mode > FER_CONTRAST_CLAHE)
        return -EINVAL;
    if (c->mode == FER_CONTRAST_CLAHE &&
        (!(c->clip >= 0.0f && c->clip <= FER_CLAHE_MAX_CLIP) || c->tiles < 1 ||
         c->tiles > FER_CLAHE_MAX_TILES))
        return -EINVAL;
    return 0;
}

void fer_meta_init(fer_meta *m)
{
    memset(m, 0, sizeof *m);
    m->val_acc = -1.0f;
    m->test_acc = -1.0f;
}

void fer_calibration_init(fer_calibration *c)
{
    memset(c, 0, sizeof *c);
    c->temperature = 1.0f;
    c->nll_before = c->nll_after = c->ece_before = c->ece_after = -1.0f;
}

void fer_model_probs(const fer_model *m, float *probs, const float *logits, int n)
{
    const fer_net *net = m->net;
    const float t = m->calib.temperature > 0.0f ? m->calib.temperature : 1.0f;
    fer_softmax_t(probs, logits, t, net->layers[net->nlayers - 1].oc, n);
}

void fer_model_free(fer_model *m)
{
    if (!m)
        return;
    fer_net_free(m->net);
    free(m);
}

int fer_model_load(fer_model **out, const char *path, int max_batch, unsigned flags,
                   fer_error *err)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    int r = fer_read_file(path, &buf, &len, MODEL_FILE_MAX, err);
    if (r < 0)
        return r;
    r = fer_model_load_mem(out, buf, len, path, max_batch, flags, err);
    free(buf);
    return r;
}

int fer_model_save(const fer_model *m, const char *path, fer_error *err)
{
    if (!m || !path)
        return fer_fail(err, -EINVAL, "fer_model_save: no model or path");
    uint8_t *buf;
    size_t len;
    int r = fer_model_serialize(m, path, &buf, &len, err);
    if (r < 0)
        return r;
    const void *bufs[] = {buf};
    r = fer_write_atomic(path, bufs, &len, 1, err);
    free(buf);
    return r;
}
