/*
 * model_write.c — the .fermodel writer (docs/MODEL_FORMAT.md).
 *
 * Writing builds the header with cJSON (floats printed with the fewest digits
 * that read back to the same float) and streams header, padding and tensor data
 * through one CRC into a buffer sized up front; model.c hands that buffer to
 * fer_write_atomic for files.
 */
#include "net/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/model_bytes.h"

/* ---- writing ------------------------------------------------------------------ */

/* A float as a JSON number printed with the fewest digits that read back exactly. */
static cJSON *json_num_f(float f)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f)
            break;
    }
    return cJSON_CreateNumber(strtod(buf, NULL));
}

/* Adds item under key; -1 (and item freed) on failure, including item == NULL. */
static int add(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static int append(cJSON *arr, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* Checks that m is something fer_model_load would accept back; -EINVAL otherwise. */
static int check_saveable(const fer_model *m, const char *path, fer_error *err)
{
    const fer_net *net = m->net;
    if (!net || !net->arch || !net->arch->text)
        return fer_fail(err, -EINVAL, "%s: model has no net", path);
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].folded)
            return fer_fail(err, -EINVAL, "%s: cannot save a net with folded batch norm", path);
    for (int i = 0; i < net->arch->nclasses; i++)
        if (!valid_class_name(net->arch->classes[i]))
            return fer_fail(err, -EINVAL, "%s: class %d has no valid name", path, i);
    const fer_preproc *p = &m->pre;
    if (!isfinite(p->margin) || p->margin < 0.0f || !isfinite(p->mean) || !isfinite(p->std) ||
        !(p->std > 0.0f) || (strcmp(p->resize, "area") && strcmp(p->resize, "linear")))
        return fer_fail(err, -EINVAL, "%s: invalid preprocessing (margin >= 0, std > 0, resize "
                        "area or linear)", path);
    if (fer_contrast_check(&p->contrast) < 0 || (p->contrast.mode != FER_CONTRAST_NONE && !p->grey))
        return fer_fail(err, -EINVAL, "%s: invalid contrast normalisation (none, histeq or clahe "
                        "with clip in [0, %g] and 1..%d tiles; grey models only)", path,
                        (double)FER_CLAHE_MAX_CLIP, FER_CLAHE_MAX_TILES);
    const fer_calibration *cal = &m->calib;
    if (cal->temperature != 0.0f &&
        !(cal->temperature >= FER_CALIB_T_MIN && cal->temperature <= FER_CALIB_T_MAX))
        return fer_fail(err, -EINVAL, "%s: invalid calibration temperature %g (%g to %g)", path,
                        (double)cal->temperature, (double)FER_CALIB_T_MIN,
                        (double)FER_CALIB_T_MAX);
    const fer_meta *t = &m->meta;
    if (t->epochs < 0 || !(t->val_acc <= 1.0f) || !(t->test_acc <= 1.0f))
        return fer_fail(err, -EINVAL, "%s: invalid metadata (epochs >= 0, accuracies <= 1)",
                        path);
    return 0;
}

/* The header JSON for m with refs[0..nrefs) as the tensor table; NULL on -ENOMEM or a bad
 * meta.extra (*bad_extra set). Containers are created inside their parent (Add*ToObject),
 * so every item has exactly one owner and one cJSON_Delete(root) frees all. */
static char *build_header(const fer_model *m, const fer_tensor_ref *refs, int nrefs,
                          size_t data_bytes, int *bad_extra)
{
    const fer_arch *a = m->net->arch;
    const fer_preproc *p = &m->pre;
    const fer_meta *t = &m->meta;
    char *txt = NULL;
    *bad_extra = 0;

    cJSON *root = cJSON_CreateObject();
    if (!root || add(root, "arch", cJSON_CreateString(a->text)))
        goto out;
    cJSON *cl = cJSON_AddArrayToObject(root, "classes");
    if (!cl)
        goto out;
    for (int i = 0; i < a->nclasses; i++)
        if (append(cl, cJSON_CreateString(a->classes[i])))
            goto out;

    cJSON *pr = cJSON_AddObjectToObject(root, "preprocess");
    if (!pr || add(pr, "margin", json_num_f(p->margin)) ||
        add(pr, "square", cJSON_CreateBool(p->square)) ||
        add(pr, "grey", cJSON_CreateBool(p->grey)) ||
        add(pr, "resize", cJSON_CreateString(p->resize)) || add(pr, "mean", json_num_f(p->mean)) ||
        add(pr, "std", json_num_f(p->std)))
        goto out;
    // No contrast step is written as no key, so such a file reads as before the key
    // existed, byte for byte.
    const fer_contrast *ct = &p->contrast;
    if (ct->mode != FER_CONTRAST_NONE &&
        add(pr, "contrast", cJSON_CreateString(fer_contrast_name(ct->mode))))
        goto out;
    if (ct->mode == FER_CONTRAST_CLAHE && (add(pr, "clahe_clip", json_num_f(ct->clip)) ||
                                           add(pr, "clahe_tiles", cJSON_CreateNumber(ct->tiles))))
        goto out;

    // Absent metadata is left out rather than written as 0 or "".
    cJSON *me = cJSON_AddObjectToObject(root, "meta");
    if (!me || (t->dataset[0] && add(me, "dataset", cJSON_CreateString(t->dataset))) ||
        (t->created[0] && add(me, "created", cJSON_CreateString(t->created))) ||
        (t->command[0] && add(me, "command", cJSON_CreateString(t->command))) ||
        (t->epochs > 0 && add(me, "epochs", cJSON_CreateNumber(t->epochs))) ||
        (t->val_acc >= 0.0f && add(me, "val_acc", json_num_f(t->val_acc))) ||
        (t->test_acc >= 0.0f && add(me, "test_acc", json_num_f(t->test_acc))) ||
        (t->test_split[0] && add(me, "test_split", cJSON_CreateString(t->test_split))))
        goto out;
    if (t->extra[0]) {
        cJSON *x = cJSON_ParseWithLength(t->extra, strnlen(t->extra, sizeof t->extra));
        if (!cJSON_IsObject(x)) {
            cJSON_Delete(x);
            *bad_extra = 1;
            goto out;
        }
        if (add(me, "extra", x))
            goto out;
    }

    // Calibration: written when fitted (a split named) or a temperature other than 1 set.
    const fer_calibration *c = &m->calib;
    if (c->split[0] || (c->temperature > 0.0f && c->temperature != 1.0f)) {
        cJSON *ca = cJSON_AddObjectToObject(root, "calibration");
        if (!ca || add(ca, "temperature", json_num_f(c->temperature > 0.0f ? c->temperature : 1.0f)) ||
            (c->split[0] && add(ca, "split", cJSON_CreateString(c->split))) ||
            (c->nll_before >= 0.0f && add(ca, "nll_before", json_num_f(c->nll_before))) ||
            (c->nll_after >= 0.0f && add(ca, "nll_after", json_num_f(c->nll_after))) ||
            (c->ece_before >= 0.0f && add(ca, "ece_before", json_num_f(c->ece_before))) ||
            (c->ece_after >= 0.0f && add(ca, "ece_after", json_num_f(c->ece_after))))
            goto out;
    }

    cJSON *tl = cJSON_AddArrayToObject(root, "tensors");
    if (!tl)
        goto out;
    size_t off = 0;
    for (int j = 0; j < nrefs; j++) {
        cJSON *e = cJSON_CreateObject();
        if (append(tl, e) || add(e, "name", cJSON_CreateString(refs[j].name)))
            goto out;
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        if (!shape)
            goto out;
        for (int d = 0; d < refs[j].ndim; d++)
            if (append(shape, cJSON_CreateNumber(refs[j].shape[d])))
                goto out;
        if (add(e, "dtype", cJSON_CreateString("f32")) ||
            add(e, "offset", cJSON_CreateNumber((double)off)))
            goto out;
        off += refs[j].count * sizeof(float);
    }
    if (add(root, "data_bytes", cJSON_CreateNumber((double)data_bytes)))
        goto out;
    txt = cJSON_PrintUnformatted(root);

out:
    cJSON_Delete(root);
    return txt;
}

/* Output through one running CRC into a buffer sized before the first put. */
typedef struct writer {
    uint32_t crc;
    unsigned char *mem;
    size_t len, cap;
} writer;

static int put(writer *w, const void *p, size_t n)
{
    w->crc = crc_update(w->crc, p, n);
    if (w->len + n > w->cap)
        return -1; /* cannot happen: serialize() sizes the buffer exactly */
    memcpy(w->mem + w->len, p, n);
    w->len += n;
    return 0;
}

/* Tensor data as little-endian float32, in chunks. */
static int put_floats(writer *w, const float *x, size_t count)
{
    unsigned char chunk[4096];
    while (count) {
        size_t n = count < sizeof chunk / 4 ? count : sizeof chunk / 4;
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            put_u32le(chunk + 4 * i, u);
        }
        if (put(w, chunk, 4 * n) < 0)
            return -1;
        x += n;
        count -= n;
    }
    return 0;
}

/* Writes the whole file image of m into w's buffer, allocated here at its exact
 * final size (name is for messages). */
static int serialize(const fer_model *m, const char *name, writer *w, fer_error *err)
{
    int r = check_saveable(m, name, err);
    if (r < 0)
        return r;
    fer_tensor_ref *refs = calloc(MAX_TENSORS, sizeof *refs);
    char *header = NULL;
    if (!refs) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory", name);
        goto out;
    }
    int nrefs = fer_net_tensors(m->net, refs, MAX_TENSORS);
    size_t data_bytes = 0;
    for (int j = 0; j < nrefs; j++)
        data_bytes += refs[j].count * sizeof(float);
    int bad_extra;
    header = build_header(m, refs, nrefs, data_bytes, &bad_extra);
    if (!header) {
        r = bad_extra ? fer_fail(err, -EINVAL, "%s: meta.extra is not a JSON object", name)
                      : fer_fail(err, -ENOMEM, "%s: out of memory", name);
        goto out;
    }
    size_t hlen = strlen(header);
    if (hlen > HEADER_MAX) {
        r = fer_fail(err, -EINVAL, "%s: header is %zu bytes, at most %u", name, hlen, HEADER_MAX);
        goto out;
    }
    size_t data_off = align_up(FIXED_HEADER + hlen);
    if (!(w->mem = malloc(w->cap = data_off + data_bytes + 4))) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory for %zu bytes", name, w->cap);
        goto out;
    }

    unsigned char fixed[FIXED_HEADER], pad[DATA_ALIGN] = {0}, crc[4];
    memcpy(fixed, FER_MODEL_MAGIC, 8);
    put_u32le(fixed + 8, FER_MODEL_VERSION);
    put_u32le(fixed + 12, (uint32_t)hlen);
    int bad = put(w, fixed, sizeof fixed) || put(w, header, hlen) ||
              put(w, pad, data_off - FIXED_HEADER - hlen);
    for (int j = 0; !bad && j < nrefs; j++)
        bad = put_floats(w, refs[j].data, refs[j].count);
    put_u32le(crc, w->crc);
    if (bad || put(w, crc, 4)) {
        r = fer_fail(err, -EIO, "%s: internal error: serialised size mismatch", name);
        goto out;
    }
    r = 0;

out:
    cJSON_free(header);
    free(refs);
    return r;
}

int fer_model_serialize(const fer_model *m, const char *name, uint8_t **buf, size_t *len,
                        fer_error *err)
{
    *buf = NULL;
    *len = 0;
    if (!m)
        return fer_fail(err, -EINVAL, "%s: no model", name);
    writer w = {0};
    int r = serialize(m, name, &w, err);
    if (r < 0) {
        free(w.mem);
        return r;
    }
    *buf = w.mem;
    *len = w.len;
    return 0;
}

int fer_model_save_mem(const fer_model *m, uint8_t **buf, size_t *len, fer_error *err)
{
    return fer_model_serialize(m, "<memory>", buf, len, err);
}
