/*
 * model_read.c — the .fermodel reader (docs/MODEL_FORMAT.md).
 *
 * Reading treats the file as untrusted bytes of known length (a fuzzer calls
 * fer_model_load_mem). Validation runs in the order the spec fixes, and each
 * stage only trusts what the previous one proved:
 *   1. framing: magic, version, header length, then the sizes: the header is
 *      parsed as JSON once here, only to learn data_bytes, so truncation and
 *      trailing bytes are reported from the sizes before anything else;
 *   2. the CRC-32 over everything before the stored checksum, so a damaged file
 *      says "checksum mismatch" and not whatever the damage looks like;
 *   3. the header's fields and their types (FER_E_HEADER);
 *   4. the architecture text, through the one parser (FER_E_LAYER/FER_E_ARCH);
 *   5. the tensor table against a *plan* of the net (shapes only, nothing
 *      allocated), so a header cannot make us allocate memory the file does
 *      not back with data (FER_E_TENSOR);
 *   6. the class names against the output width (FER_E_CLASSES);
 * and only then is the net built and the data copied in.
 * cJSON may read one byte past the length it is given, so the header is
 * parsed from a NUL-terminated copy.
 *
 * Integers are written and read byte by byte, little-endian, whatever the host;
 * floats go through the same u32 path, so the format does not depend on host
 * byte order either.
 *
 */
#include "net/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/model_bytes.h"

/* ---- reading: helpers ------------------------------------------------------- */

/* A JSON number that is an exact integer in [0, max]. */
static int json_uint(const cJSON *item, double max, double *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= max) || v != floor(v))
        return -1;
    *out = v;
    return 0;
}

/* A finite JSON number. */
static int json_float(const cJSON *item, float *out)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        fabs(item->valuedouble) > 3.0e38)
        return -1;
    *out = (float)item->valuedouble;
    return 0;
}

/* Copies at most cap-1 bytes of s, cutting at a UTF-8 character boundary. */
static void copy_trunc(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Everything the stages share while loading one buffer. */
typedef struct loader {
    const unsigned char *buf;
    size_t len;
    const char *origin;
    fer_error *err;
    cJSON *root;            /* parsed header, or NULL if it is not JSON */
    const char *json_end;   /* where cJSON stopped (in hcopy) */
    char *hcopy;            /* the header, NUL-terminated */
    size_t hlen;            /* H */
    size_t data_off;        /* D */
    double data_bytes;
} loader;

/* Stages 1 and 2: magic, version, sizes, checksum. Leaves the header parsed in ld->root. */
static int check_framing(loader *ld)
{
    const unsigned char *buf = ld->buf;
    const size_t len = ld->len;
    const char *o = ld->origin;
    const size_t magic_len = strlen(FER_MODEL_MAGIC);

    if (len < magic_len) {
        if (len > 0 && !memcmp(buf, FER_MODEL_MAGIC, len))
            return fer_fail(ld->err, FER_E_TRUNCATED,
                            "%s: truncated: %zu bytes, the fixed header needs %d", o, len,
                            FIXED_HEADER);
        return fer_fail(ld->err, FER_E_NOT_MODEL, "%s: not a .fermodel file (%s)", o,
                        len ? "bad magic" : "empty");
    }
    if (memcmp(buf, FER_MODEL_MAGIC, magic_len))
        return fer_fail(ld->err, FER_E_NOT_MODEL, "%s: not a .fermodel file (bad magic)", o);
    if (len < FIXED_HEADER)
        return fer_fail(ld->err, FER_E_TRUNCATED,
                        "%s: truncated: %zu bytes, the fixed header needs %d", o, len,
                        FIXED_HEADER);
    uint32_t version = get_u32le(buf + 8);
    if (version != FER_MODEL_VERSION)
        return fer_fail(ld->err, FER_E_VERSION, "%s: format version %u, this build reads %d", o,
                        version, FER_MODEL_VERSION);
    uint32_t h = get_u32le(buf + 12);
    if (h < 1 || h > HEADER_MAX)
        return fer_fail(ld->err, FER_E_HEADER, "%s: header length %u is outside 1..%u", o, h,
                        HEADER_MAX);
    if (len - FIXED_HEADER < h)
        return fer_fail(ld->err, FER_E_TRUNCATED,
                        "%s: truncated: %zu bytes, the header needs %zu", o, len,
                        (size_t)FIXED_HEADER + h);
    ld->hlen = h;
    ld->data_off = align_up(FIXED_HEADER + (size_t)h);

    ld->hcopy = malloc((size_t)h + 1);
    if (!ld->hcopy)
        return fer_fail(ld->err, -ENOMEM, "%s: out of memory", o);
    memcpy(ld->hcopy, buf + FIXED_HEADER, h);
    ld->hcopy[h] = '\0';
    ld->root = cJSON_ParseWithLengthOpts(ld->hcopy, h, &ld->json_end, 0);

    // The sizes, if the header tells them; otherwise the checksum is taken to be the
    // last 4 bytes and the header check (stage 3) will say what is wrong.
    size_t crc_pos;
    double db;
    if (ld->root && json_uint(cJSON_GetObjectItemCaseSensitive(ld->root, "data_bytes"),
                              MAX_JSON_INT, &db) == 0) {
        double need = (double)ld->data_off + db + 4.0; // exact: all terms < 2^53
        if ((double)len < need)
            return fer_fail(ld->err, FER_E_TRUNCATED,
                            "%s: truncated: %zu bytes, header and data need %.0f", o, len, need);
        if ((double)len > need)
            return fer_fail(ld->err, FER_E_TRAILING,
                            "%s: %.0f unexpected bytes after the checksum (the file should be "
                            "%.0f bytes)", o, (double)len - need, need);
        crc_pos = (size_t)need - 4;
        ld->data_bytes = db;
    } else {
        if (len < ld->data_off + 4)
            return fer_fail(ld->err, FER_E_TRUNCATED,
                            "%s: truncated: %zu bytes, header and checksum need %zu", o, len,
                            ld->data_off + 4);
        crc_pos = len - 4;
        ld->data_bytes = -1.0;
    }
    uint32_t stored = get_u32le(buf + crc_pos);
    uint32_t computed = crc_update(0, buf, crc_pos);
    if (stored != computed)
        return fer_fail(ld->err, FER_E_CHECKSUM,
                        "%s: checksum mismatch (stored 0x%08x, computed 0x%08x)", o, stored,
                        computed);
    return 0;
}

/* Stage 3: every field the loader reads exists and has the right type. */
static int check_header(loader *ld)
{
    const char *o = ld->origin;
    fer_error *err = ld->err;
    cJSON *root = ld->root;

    if (!root) {
        size_t at = ld->json_end ? (size_t)(ld->json_end - ld->hcopy) : 0;
        return fer_fail(err, FER_E_HEADER, "%s: header: not valid JSON (error near byte %zu)", o,
                        at);
    }
    for (const char *p = ld->json_end; p && p < ld->hcopy + ld->hlen; p++)
        if (!strchr(" \t\r\n", *p))
            return fer_fail(err, FER_E_HEADER, "%s: header: bytes after the JSON object", o);
    if (!cJSON_IsObject(root))
        return fer_fail(err, FER_E_HEADER, "%s: header: not a JSON object", o);

    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    if (!arch)
        return fer_fail(err, FER_E_HEADER, "%s: header: \"arch\" missing", o);
    if (!cJSON_IsString(arch))
        return fer_fail(err, FER_E_HEADER, "%s: header: \"arch\" is not a string", o);

    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
    if (!classes)
        return fer_fail(err, FER_E_HEADER, "%s: header: \"classes\" missing", o);
    if (!cJSON_IsArray(classes))
        return fer_fail(err, FER_E_HEADER, "%s: header: \"classes\" is not an array", o);
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, classes) {
        if (!cJSON_IsString(c) || !valid_class_name(c->valuestring))
            return fer_fail(err, FER_E_HEADER, "%s: header: classes[%d] is not a name of 1..%d "
                            "printable bytes", o, i, FER_MAX_CLASS_NAME - 1);
        const cJSON *d;
        int j = 0;
        cJSON_ArrayForEach(d, classes) {
            if (j++ >= i)
                break;
            if (!strcmp(d->valuestring, c->valuestring))
                return fer_fail(err, FER_E_HEADER, "%s: header: class \"%s\" listed twice", o,
                                c->valuestring);
        }
        if (++i > FER_MAX_CLASSES)
            return fer_fail(err, FER_E_CLASSES, "%s: more than %d classes", o, FER_MAX_CLASSES);
    }

    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    if (!pre)
        return fer_fail(err, FER_E_HEADER, "%s: header: \"preprocess\" missing", o);
    if (!cJSON_IsObject(pre))
        return fer_fail(err, FER_E_HEADER, "%s: header: \"preprocess\" is not an object", o);
    static const char *const num_keys[] = {"margin", "mean", "std"};
    for (size_t k = 0; k < 3; k++) {
        float v;
        if (json_float(cJSON_GetObjectItemCaseSensitive(pre, num_keys[k]), &v) < 0)
            return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.%s missing or not a "
                            "number", o, num_keys[k]);
        if ((k == 0 && v < 0.0f) || (k == 2 && !(v > 0.0f)))
            return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.%s must be %s", o,
                            num_keys[k], k == 0 ? ">= 0" : "> 0");
    }
    static const char *const bool_keys[] = {"square", "grey"};
    for (size_t k = 0; k < 2; k++)
        if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(pre, bool_keys[k])))
            return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.%s missing or not a "
                            "boolean", o, bool_keys[k]);
    const cJSON *resize = cJSON_GetObjectItemCaseSensitive(pre, "resize");
    if (!cJSON_IsString(resize))
        return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.resize missing or not a "
                        "string", o);
    if (strcmp(resize->valuestring, "area") && strcmp(resize->valuestring, "linear"))
        return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.resize \"%.20s\" is neither "
                        "\"area\" nor \"linear\"", o, resize->valuestring);
    // Contrast normalisation is optional (absent = none, as in files written before it
    // existed); CLAHE's clip limit and grid are required with it, so that a model never
    // runs on settings its header does not state.
    const cJSON *contrast = cJSON_GetObjectItemCaseSensitive(pre, "contrast");
    if (contrast) {
        int mode = cJSON_IsString(contrast) ? fer_contrast_parse(contrast->valuestring) : -1;
        if (mode < 0)
            return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.contrast is not one of "
                            "\"none\", \"histeq\", \"clahe\"", o);
        if (mode != FER_CONTRAST_NONE && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "grey")))
            return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.contrast \"%s\" needs a "
                            "grey model", o, contrast->valuestring);
        if (mode == FER_CONTRAST_CLAHE) {
            float clip;
            double tiles;
            if (json_float(cJSON_GetObjectItemCaseSensitive(pre, "clahe_clip"), &clip) < 0 ||
                !(clip >= 0.0f && clip <= FER_CLAHE_MAX_CLIP))
                return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.clahe_clip missing or "
                                "not a number in [0, %g]", o, (double)FER_CLAHE_MAX_CLIP);
            if (json_uint(cJSON_GetObjectItemCaseSensitive(pre, "clahe_tiles"),
                          FER_CLAHE_MAX_TILES, &tiles) < 0 || tiles < 1)
                return fer_fail(err, FER_E_HEADER, "%s: header: preprocess.clahe_tiles missing or "
                                "not an integer in [1, %d]", o, FER_CLAHE_MAX_TILES);
        }
    }

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    if (meta) {
        if (!cJSON_IsObject(meta))
            return fer_fail(err, FER_E_HEADER, "%s: header: \"meta\" is not an object", o);
        static const char *const str_keys[] = {"dataset", "created", "command", "test_split"};
        for (size_t k = 0; k < 4; k++) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, str_keys[k]);
            if (s && !cJSON_IsString(s))
                return fer_fail(err, FER_E_HEADER, "%s: header: meta.%s is not a string", o,
                                str_keys[k]);
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(meta, "epochs");
        double dv;
        if (e && json_uint(e, INT_MAX, &dv) < 0)
            return fer_fail(err, FER_E_HEADER, "%s: header: meta.epochs is not a non-negative "
                            "integer", o);
        static const char *const acc_keys[] = {"val_acc", "test_acc"};
        for (size_t k = 0; k < 2; k++) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(meta, acc_keys[k]);
            float v;
            if (a && (json_float(a, &v) < 0 || v < 0.0f || v > 1.0f))
                return fer_fail(err, FER_E_HEADER, "%s: header: meta.%s is not a fraction in "
                                "[0, 1]", o, acc_keys[k]);
        }
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(meta, "extra");
        if (x && !cJSON_IsObject(x))
            return fer_fail(err, FER_E_HEADER, "%s: header: meta.extra is not an object", o);
    }

    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    if (cal) {
        float t;
        if (!cJSON_IsObject(cal))
            return fer_fail(err, FER_E_HEADER, "%s: header: \"calibration\" is not an object", o);
        if (json_float(cJSON_GetObjectItemCaseSensitive(cal, "temperature"), &t) < 0 ||
            !(t >= FER_CALIB_T_MIN && t <= FER_CALIB_T_MAX))
            return fer_fail(err, FER_E_HEADER, "%s: header: calibration.temperature missing or "
                            "not a number in [%g, %g]", o, (double)FER_CALIB_T_MIN,
                            (double)FER_CALIB_T_MAX);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cal, "split");
        if (sp && !cJSON_IsString(sp))
            return fer_fail(err, FER_E_HEADER, "%s: header: calibration.split is not a string", o);
        static const char *const fig_keys[] = {"nll_before", "nll_after", "ece_before", "ece_after"};
        for (size_t k = 0; k < 4; k++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(cal, fig_keys[k]);
            float v;
            if (f && (json_float(f, &v) < 0 || v < 0.0f))
                return fer_fail(err, FER_E_HEADER, "%s: header: calibration.%s is not a "
                                "non-negative number", o, fig_keys[k]);
        }
    }

    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!tensors)
        return fer_fail(err, FER_E_HEADER, "%s: header: \"tensors\" missing", o);
    if (!cJSON_IsArray(tensors))
        return fer_fail(err, FER_E_HEADER, "%s: header: \"tensors\" is not an array", o);
    i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "offset");
        double dv;
        if (!cJSON_IsObject(t) || !cJSON_IsString(name) || !cJSON_IsString(dtype) ||
            !cJSON_IsArray(shape) || json_uint(off, MAX_JSON_INT, &dv) < 0)
            return fer_fail(err, FER_E_HEADER, "%s: header: tensors[%d] needs \"name\" and "
                            "\"dtype\" strings, a \"shape\" array and an integer \"offset\"", o, i);
        const cJSON *d;
        int nd = 0;
        cJSON_ArrayForEach(d, shape) {
            if (json_uint(d, INT_MAX, &dv) < 0 || ++nd > 4)
                return fer_fail(err, FER_E_HEADER, "%s: header: tensors[%d].shape is not a list "
                                "of at most 4 non-negative integers", o, i);
        }
        if (++i > MAX_TENSORS)
            return fer_fail(err, FER_E_TENSOR, "%s: more than %d tensors", o, MAX_TENSORS);
    }

    if (ld->data_bytes < 0.0) {
        if (!cJSON_GetObjectItemCaseSensitive(root, "data_bytes"))
            return fer_fail(err, FER_E_HEADER, "%s: header: \"data_bytes\" missing", o);
        return fer_fail(err, FER_E_HEADER, "%s: header: \"data_bytes\" is not a non-negative "
                        "integer", o);
    }
    return 0;
}

/* "[64, 1, 3, 3]" of a JSON shape or a ref's shape. */
static void shape_str(char *buf, size_t cap, const int *dims, int nd)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < nd && at < cap; d++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%d", d ? ", " : "", dims[d]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

/* Stage 5: the table lists every tensor of the plan once, with its shape, contiguously.
 * Fills where[j] = byte offset (from D) of plan tensor j. */
static int check_tensors(loader *ld, const fer_tensor_ref *refs, int nrefs, size_t *where)
{
    const char *o = ld->origin;
    fer_error *err = ld->err;
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(ld->root, "tensors");
    int seen[MAX_TENSORS] = {0};
    double expect = 0.0; // bytes; exact, stays below 2^53
    int i = 0;
    const cJSON *t;

    cJSON_ArrayForEach(t, tensors) {
        const char *name = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
        const char *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring;
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        double off = cJSON_GetObjectItemCaseSensitive(t, "offset")->valuedouble;

        int j = 0;
        while (j < nrefs && strcmp(refs[j].name, name))
            j++;
        if (j == nrefs)
            return fer_fail(err, FER_E_TENSOR, "%s: unknown tensor \"%.40s\" (tensors[%d])", o,
                            name, i);
        const fer_tensor_ref *r = &refs[j];
        if (seen[j])
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s listed twice", o, r->name);
        seen[j] = 1;
        if (strcmp(dtype, "f32"))
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s has dtype \"%.16s\", only f32 is "
                            "supported", o, r->name, dtype);

        int dims[4] = {0}, nd = 0, same = 1;
        double count = 1.0;
        const cJSON *d;
        cJSON_ArrayForEach(d, shape) {
            dims[nd] = (int)d->valuedouble;
            count *= d->valuedouble;
            nd++;
        }
        if (nd != r->ndim)
            same = 0;
        for (int k = 0; same && k < nd; k++)
            same = dims[k] == r->shape[k];
        if (!same) {
            if (count != (double)r->count)
                return fer_fail(err, FER_E_TENSOR, "%s: tensor %s has %.0f floats, the "
                                "architecture needs %zu", o, r->name, count, r->count);
            char got[64], want[64];
            shape_str(got, sizeof got, dims, nd);
            shape_str(want, sizeof want, r->shape, r->ndim);
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s has shape %s, the architecture "
                            "needs %s", o, r->name, got, want);
        }
        if (off != expect)
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s at offset %.0f, expected %.0f "
                            "(tensors are contiguous in table order)", o, r->name, off, expect);
        expect += 4.0 * (double)r->count;
        if (expect > ld->data_bytes)
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s ends at byte %.0f, beyond "
                            "data_bytes %.0f", o, r->name, expect, ld->data_bytes);
        where[j] = (size_t)off;
        i++;
    }
    for (int j = 0; j < nrefs; j++)
        if (!seen[j])
            return fer_fail(err, FER_E_TENSOR, "%s: tensor %s missing", o, refs[j].name);
    if (expect != ld->data_bytes)
        return fer_fail(err, FER_E_TENSOR, "%s: tensors end at byte %.0f, data_bytes is %.0f", o,
                        expect, ld->data_bytes);
    return 0;
}

/* Stage 6: header class names against the output width and any names in the arch;
 * on success the header's names become the arch's. */
static int check_classes(loader *ld, fer_arch *a)
{
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(ld->root, "classes");
    int n = cJSON_GetArraySize(classes);
    if (n != a->nclasses)
        return fer_fail(ld->err, FER_E_CLASSES, "%s: %d classes, the output layer has %d",
                        ld->origin, n, a->nclasses);
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, classes) {
        if (a->classes[i][0] && strcmp(a->classes[i], c->valuestring))
            return fer_fail(ld->err, FER_E_CLASSES, "%s: class %d is \"%s\" in the header but "
                            "\"%s\" in the arch", ld->origin, i, c->valuestring, a->classes[i]);
        snprintf(a->classes[i], sizeof a->classes[i], "%s", c->valuestring);
        i++;
    }
    return 0;
}

/* Fills c from the (already checked) header: absent = no calibration. */
static void read_calibration(const cJSON *root, fer_calibration *c)
{
    fer_calibration_init(c);
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    if (!cal)
        return;
    json_float(cJSON_GetObjectItemCaseSensitive(cal, "temperature"), &c->temperature);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cal, "split");
    copy_trunc(c->split, sizeof c->split, sp ? sp->valuestring : "?");
    json_float(cJSON_GetObjectItemCaseSensitive(cal, "nll_before"), &c->nll_before);
    json_float(cJSON_GetObjectItemCaseSensitive(cal, "nll_after"), &c->nll_after);
    json_float(cJSON_GetObjectItemCaseSensitive(cal, "ece_before"), &c->ece_before);
    json_float(cJSON_GetObjectItemCaseSensitive(cal, "ece_after"), &c->ece_after);
}

/* Fills pre and meta from the (already checked) header. */
static void read_pre_meta(const cJSON *root, fer_preproc *p, fer_meta *m)
{
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    fer_preproc_default(p);
    json_float(cJSON_GetObjectItemCaseSensitive(pre, "margin"), &p->margin);
    json_float(cJSON_GetObjectItemCaseSensitive(pre, "mean"), &p->mean);
    json_float(cJSON_GetObjectItemCaseSensitive(pre, "std"), &p->std);
    p->square = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "square"));
    p->grey = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "grey"));
    copy_trunc(p->resize, sizeof p->resize,
               cJSON_GetObjectItemCaseSensitive(pre, "resize")->valuestring);
    const cJSON *contrast = cJSON_GetObjectItemCaseSensitive(pre, "contrast");
    if (contrast) {
        p->contrast.mode = fer_contrast_parse(contrast->valuestring);
        if (p->contrast.mode == FER_CONTRAST_CLAHE) {
            json_float(cJSON_GetObjectItemCaseSensitive(pre, "clahe_clip"), &p->contrast.clip);
            p->contrast.tiles =
                (int)cJSON_GetObjectItemCaseSensitive(pre, "clahe_tiles")->valuedouble;
        }
    }

    fer_meta_init(m);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    if (!meta)
        return;
    const cJSON *s;
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "dataset")))
        copy_trunc(m->dataset, sizeof m->dataset, s->valuestring);
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "created")))
        copy_trunc(m->created, sizeof m->created, s->valuestring);
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "command")))
        copy_trunc(m->command, sizeof m->command, s->valuestring);
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "epochs")))
        m->epochs = (int)s->valuedouble;
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "val_acc")))
        m->val_acc = (float)s->valuedouble;
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "test_acc")))
        m->test_acc = (float)s->valuedouble;
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "test_split")))
        copy_trunc(m->test_split, sizeof m->test_split, s->valuestring);
    // extra is kept as compact JSON text; one too long for the buffer is dropped
    // whole rather than cut into invalid JSON.
    if ((s = cJSON_GetObjectItemCaseSensitive(meta, "extra"))) {
        char *txt = cJSON_PrintUnformatted(s);
        if (txt && strlen(txt) < sizeof m->extra && strcmp(txt, "{}"))
            strcpy(m->extra, txt);
        cJSON_free(txt);
    }
}

/* Little-endian float32 bytes to floats. */
static void load_floats(float *dst, const unsigned char *src, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t u = get_u32le(src + 4 * i);
        memcpy(&dst[i], &u, sizeof u);
    }
}

int fer_model_load_mem(fer_model **out, const void *buf, size_t len, const char *origin,
                       int max_batch, unsigned flags, fer_error *err)
{
    *out = NULL;
    if (!origin)
        origin = "<memory>";
    loader ld = {.buf = buf, .len = len, .origin = origin, .err = err};
    fer_arch *arch = NULL;
    fer_layer *plan = NULL;
    fer_tensor_ref *refs = NULL;
    size_t *where = NULL;
    fer_model *m = NULL;
    int r;

    if (!buf && len)
        return fer_fail(err, -EINVAL, "%s: no data", origin);
    if ((r = check_framing(&ld)) < 0 || (r = check_header(&ld)) < 0)
        goto out;

    // Stage 4: the architecture, named "<origin>: arch:<line>" in messages.
    char arch_origin[512];
    snprintf(arch_origin, sizeof arch_origin, "%s: arch", origin);
    const char *text = cJSON_GetObjectItemCaseSensitive(ld.root, "arch")->valuestring;
    if ((r = fer_arch_parse(&arch, text, strlen(text), arch_origin, err)) < 0)
        goto out;

    // Stage 5: tensors against the plan, before any memory is committed to them.
    plan = calloc((size_t)arch->nlayers, sizeof *plan);
    refs = calloc(MAX_TENSORS, sizeof *refs);
    where = calloc(MAX_TENSORS, sizeof *where);
    m = calloc(1, sizeof *m);
    if (!plan || !refs || !where || !m) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory", origin);
        goto out;
    }
    if ((r = fer_net_plan(plan, arch, arch_origin, err)) < 0)
        goto out;
    fer_net planned = {.arch = arch, .nlayers = arch->nlayers, .layers = plan};
    int nrefs = fer_net_tensors(&planned, refs, MAX_TENSORS);
    if ((r = check_tensors(&ld, refs, nrefs, where)) < 0)
        goto out;
    if ((r = check_classes(&ld, arch)) < 0)
        goto out;

    // Valid: build the net (it owns arch from here, also on failure) and fill it.
    fer_arch *owned = arch;
    arch = NULL;
    unsigned net_flags = (flags & FER_LOAD_INFER) ? 0 : FER_NET_TRAIN;
    if ((r = fer_net_create(&m->net, owned, max_batch, net_flags, 0, err)) < 0)
        goto out;
    nrefs = fer_net_tensors(m->net, refs, MAX_TENSORS);
    for (int j = 0; j < nrefs; j++)
        load_floats(refs[j].data, ld.buf + ld.data_off + where[j], refs[j].count);
    read_pre_meta(ld.root, &m->pre, &m->meta);
    read_calibration(ld.root, &m->calib);
    if (flags & FER_LOAD_INFER)
        fer_net_fold_bn(m->net);
    *out = m;
    m = NULL;
    r = 0;

out:
    fer_model_free(m);
    fer_arch_free(arch);
    free(where);
    free(refs);
    free(plan);
    cJSON_Delete(ld.root);
    free(ld.hcopy);
    return r;
}

