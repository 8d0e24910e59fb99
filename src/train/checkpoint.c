/*
 * checkpoint.c — see checkpoint.h for the layout. The JSON part is written with
 * cJSON; doubles print with 17 significant digits, so every float and every
 * 53-bit integer round-trips exactly. The 64-bit RNG states are written as
 * hexadecimal strings because JSON numbers cannot hold them.
 */
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/fileio.h"

#define CKPT_MAGIC "FERCKPT"
#define CKPT_VERSION 1u

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void add_hex(cJSON *o, const char *k, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, v);
    cJSON_AddStringToObject(o, k, buf);
}

static cJSON *cfg_to_json(const fer_train_cfg *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epochs", c->epochs);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    add_hex(o, "seed", c->seed);
    cJSON_AddNumberToObject(o, "threads", c->threads);
    cJSON_AddNumberToObject(o, "label_smoothing", c->label_smoothing);
    cJSON_AddNumberToObject(o, "class_balanced", c->class_balanced);
    cJSON_AddNumberToObject(o, "mean", c->mean);
    cJSON_AddNumberToObject(o, "std", c->std);
    cJSON *ct = cJSON_AddObjectToObject(o, "contrast");
    cJSON_AddStringToObject(ct, "mode", fer_contrast_name(c->contrast.mode));
    cJSON_AddNumberToObject(ct, "clip", c->contrast.clip);
    cJSON_AddNumberToObject(ct, "tiles", c->contrast.tiles);
    cJSON_AddNumberToObject(o, "max_train", c->max_train);
    cJSON_AddNumberToObject(o, "max_val", c->max_val);
    cJSON_AddStringToObject(o, "data", c->data);
    cJSON_AddStringToObject(o, "command", c->command);
    if (c->labels[0]) {
        cJSON_AddStringToObject(o, "labels", c->labels);
        add_hex(o, "labels_crc", c->labels_crc);
        cJSON_AddStringToObject(o, "target", fer_target_name(c->target));
    }
    if (c->nteachers > 0) {
        cJSON *t = cJSON_AddArrayToObject(o, "teachers");
        for (int i = 0; i < c->nteachers && i < FER_MAX_TEACHERS; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "path", c->teachers[i]);
            add_hex(e, "crc32", c->teacher_crc[i]);
            cJSON_AddItemToArray(t, e);
        }
        cJSON_AddNumberToObject(o, "kd_temp", c->kd_temp);
        cJSON_AddNumberToObject(o, "kd_weight", c->kd_weight);
        cJSON_AddNumberToObject(o, "kd_flip", c->kd_flip);
    }
    if (c->ema)
        cJSON_AddNumberToObject(o, "ema", c->ema_decay);
    if (c->mixup > 0.0f || c->cutmix > 0.0f) {
        cJSON_AddNumberToObject(o, "mixup", c->mixup);
        cJSON_AddNumberToObject(o, "cutmix", c->cutmix);
        cJSON_AddNumberToObject(o, "mix_prob", c->mix_prob);
    }
    cJSON *op = cJSON_AddObjectToObject(o, "optim");
    cJSON_AddNumberToObject(op, "kind", c->opt.kind);
    cJSON_AddNumberToObject(op, "momentum", c->opt.momentum);
    cJSON_AddNumberToObject(op, "nesterov", c->opt.nesterov);
    cJSON_AddNumberToObject(op, "weight_decay", c->opt.weight_decay);
    cJSON_AddNumberToObject(op, "decay_all", c->opt.decay_all);
    cJSON_AddNumberToObject(op, "beta1", c->opt.beta1);
    cJSON_AddNumberToObject(op, "beta2", c->opt.beta2);
    cJSON_AddNumberToObject(op, "eps", c->opt.eps);
    const fer_sched *s = &c->sched;
    cJSON *sc = cJSON_AddObjectToObject(o, "sched");
    cJSON_AddNumberToObject(sc, "kind", s->kind);
    cJSON_AddNumberToObject(sc, "lr", s->lr);
    cJSON_AddNumberToObject(sc, "min_lr", s->min_lr);
    cJSON_AddNumberToObject(sc, "warmup_epochs", s->warmup_epochs);
    cJSON_AddNumberToObject(sc, "pct_start", s->pct_start);
    cJSON_AddNumberToObject(sc, "gamma", s->gamma);
    cJSON_AddNumberToObject(sc, "step_epochs", s->step_epochs);
    cJSON_AddNumberToObject(sc, "factor", s->factor);
    cJSON_AddNumberToObject(sc, "patience", s->patience);
    cJSON_AddNumberToObject(sc, "best", s->best);
    cJSON_AddNumberToObject(sc, "bad_epochs", s->bad_epochs);
    cJSON_AddNumberToObject(sc, "reductions", s->reductions);
    const fer_augment *a = &c->aug;
    cJSON *au = cJSON_AddObjectToObject(o, "augment");
    cJSON_AddNumberToObject(au, "enabled", a->enabled);
    cJSON_AddNumberToObject(au, "flip", a->flip);
    cJSON_AddNumberToObject(au, "shift", a->shift);
    cJSON_AddNumberToObject(au, "rotate", a->rotate);
    cJSON_AddNumberToObject(au, "scale_min", a->scale_min);
    cJSON_AddNumberToObject(au, "scale_max", a->scale_max);
    cJSON_AddNumberToObject(au, "brightness", a->brightness);
    cJSON_AddNumberToObject(au, "contrast", a->contrast);
    cJSON_AddNumberToObject(au, "erase", a->erase);
    cJSON_AddNumberToObject(au, "erase_min", a->erase_min);
    cJSON_AddNumberToObject(au, "erase_max", a->erase_max);
    return o;
}

static cJSON *state_to_json(const fer_train_state *st, const fer_optim *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", st->epoch);
    cJSON_AddNumberToObject(j, "batch", st->batch);
    cJSON_AddNumberToObject(j, "step", (double)st->step);
    add_hex(j, "net_rng", st->net_rng);
    cJSON_AddNumberToObject(j, "loss_sum", st->loss_sum);
    cJSON_AddNumberToObject(j, "correct", (double)st->correct);
    cJSON_AddNumberToObject(j, "seen", (double)st->seen);
    cJSON_AddNumberToObject(j, "elapsed", st->elapsed);
    cJSON_AddNumberToObject(j, "best_val", st->best_val);
    cJSON_AddNumberToObject(j, "best_epoch", st->best_epoch);
    cJSON_AddNumberToObject(j, "optim_steps", (double)o->steps);
    cJSON *h = cJSON_AddArrayToObject(j, "history");
    for (int i = 0; i < st->nhistory; i++) {
        const fer_history_row *r = &st->history[i];
        const double v[7] = {r->epoch, r->lr, r->train_loss, r->train_acc, r->val_loss, r->val_acc,
                             r->seconds};
        cJSON_AddItemToArray(h, cJSON_CreateDoubleArray(v, 7));
    }
    return j;
}

int fer_ckpt_save(const char *path, const fer_train_cfg *cfg, const fer_train_state *st,
                  const fer_model *m, const fer_optim *o, fer_error *err)
{
    uint8_t *model = NULL;
    size_t model_len = 0;
    int rc = fer_model_save_mem(m, &model, &model_len, err);
    if (rc < 0)
        return rc;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "config", cfg_to_json(cfg));
    cJSON_AddItemToObject(root, "state", state_to_json(st, o));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        free(model);
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    }
    size_t json_len = strlen(json);
    uint8_t head[16], mlen[8], slen[8], crc_bytes[4];
    const size_t ema_len = cfg->ema ? st->ema_len : 0;
    memcpy(head, CKPT_MAGIC, 8);
    put_u32(head + 8, CKPT_VERSION);
    put_u32(head + 12, (uint32_t)json_len);
    put_u64(mlen, model_len);
    put_u64(slen, o->state_len + ema_len);
    const size_t state_bytes = o->state_len * sizeof(float), ema_bytes = ema_len * sizeof(float);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, head, sizeof head);
    crc = crc32_z(crc, (const Bytef *)json, json_len);
    crc = crc32_z(crc, mlen, sizeof mlen);
    crc = crc32_z(crc, model, model_len);
    crc = crc32_z(crc, slen, sizeof slen);
    crc = crc32_z(crc, (const Bytef *)o->state, state_bytes);
    if (ema_bytes)
        crc = crc32_z(crc, (const Bytef *)st->ema, ema_bytes);
    put_u32(crc_bytes, (uint32_t)crc);
    const void *bufs[] = {head, json, mlen, model, slen, o->state, st->ema, crc_bytes};
    const size_t lens[] = {sizeof head, json_len, sizeof mlen, model_len, sizeof slen, state_bytes,
                           ema_bytes, sizeof crc_bytes};
    rc = fer_write_atomic(path, bufs, lens, 8, err);
    free(json);
    free(model);
    return rc;
}

/* ---- loading ---------------------------------------------------------------- */

static double num(const cJSON *o, const char *k, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return 0.0;
    }
    return v->valuedouble;
}

static uint64_t hex(const cJSON *o, const char *k, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v)) {
        *ok = 0;
        return 0;
    }
    return strtoull(v->valuestring, NULL, 16);
}

static void str(const cJSON *o, const char *k, char *dst, size_t n, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v)) {
        *ok = 0;
        return;
    }
    snprintf(dst, n, "%s", v->valuestring);
}

/*
 * Keys added after version 1 are optional, absent meaning the feature was off, so
 * the checkpoints of runs started by an older build still resume; a present key of
 * the wrong type is still malformed.
 */
static int cfg_optional_from_json(fer_train_cfg *c, const cJSON *o)
{
    int ok = 1;
    if (cJSON_GetObjectItemCaseSensitive(o, "labels")) {
        char target[16] = "";
        str(o, "labels", c->labels, sizeof c->labels, &ok);
        c->labels_crc = (uint32_t)hex(o, "labels_crc", &ok);
        str(o, "target", target, sizeof target, &ok);
        int t = fer_target_parse(target);
        if (t < 0)
            return 0;
        c->target = (fer_target)t;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "teachers");
    if (t) {
        if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < 1 ||
            cJSON_GetArraySize(t) > FER_MAX_TEACHERS)
            return 0;
        const cJSON *e;
        c->nteachers = 0;
        cJSON_ArrayForEach(e, t) {
            str(e, "path", c->teachers[c->nteachers], sizeof c->teachers[0], &ok);
            c->teacher_crc[c->nteachers] = (uint32_t)hex(e, "crc32", &ok);
            c->nteachers++;
        }
        c->kd_temp = (float)num(o, "kd_temp", &ok);
        c->kd_weight = (float)num(o, "kd_weight", &ok);
        c->kd_flip = (int)num(o, "kd_flip", &ok);
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "ema")) {
        c->ema = 1;
        c->ema_decay = (float)num(o, "ema", &ok);
        if (!(c->ema_decay >= 0.0f && c->ema_decay < 1.0f))
            return 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "mixup")) {
        c->mixup = (float)num(o, "mixup", &ok);
        c->cutmix = (float)num(o, "cutmix", &ok);
        c->mix_prob = (float)num(o, "mix_prob", &ok);
        if (!(c->mixup >= 0.0f && c->cutmix >= 0.0f && c->mix_prob >= 0.0f && c->mix_prob <= 1.0f))
            return 0;
    }
    return ok;
}

static int cfg_from_json(fer_train_cfg *c, const cJSON *o)
{
    int ok = 1;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "optim");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "sched");
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(o, "augment");
    if (!cJSON_IsObject(op) || !cJSON_IsObject(sc) || !cJSON_IsObject(au))
        return 0;
    c->epochs = (int)num(o, "epochs", &ok);
    c->batch = (int)num(o, "batch", &ok);
    c->seed = hex(o, "seed", &ok);
    c->threads = (int)num(o, "threads", &ok);
    c->label_smoothing = (float)num(o, "label_smoothing", &ok);
    c->class_balanced = (int)num(o, "class_balanced", &ok);
    c->mean = (float)num(o, "mean", &ok);
    c->std = (float)num(o, "std", &ok);
    // Checkpoints written before the contrast step existed have none.
    fer_contrast_init(&c->contrast, FER_CONTRAST_NONE);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(o, "contrast");
    if (ct) {
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(ct, "mode");
        c->contrast.mode = cJSON_IsString(mode) ? fer_contrast_parse(mode->valuestring) : -1;
        double clip = num(ct, "clip", &ok), tiles = num(ct, "tiles", &ok);
        if (!(clip >= 0.0 && clip <= FER_CLAHE_MAX_CLIP) || !(tiles >= 1 && tiles <= FER_CLAHE_MAX_TILES))
            return 0;
        c->contrast.clip = (float)clip;
        c->contrast.tiles = (int)tiles;
        if (fer_contrast_check(&c->contrast) < 0)
            return 0;
    }
    c->max_train = (int)num(o, "max_train", &ok);
    c->max_val = (int)num(o, "max_val", &ok);
    str(o, "data", c->data, sizeof c->data, &ok);
    str(o, "command", c->command, sizeof c->command, &ok);
    c->opt.kind = (fer_opt_kind)num(op, "kind", &ok);
    c->opt.momentum = (float)num(op, "momentum", &ok);
    c->opt.nesterov = (int)num(op, "nesterov", &ok);
    c->opt.weight_decay = (float)num(op, "weight_decay", &ok);
    c->opt.decay_all = (int)num(op, "decay_all", &ok);
    c->opt.beta1 = (float)num(op, "beta1", &ok);
    c->opt.beta2 = (float)num(op, "beta2", &ok);
    c->opt.eps = (float)num(op, "eps", &ok);
    fer_sched *s = &c->sched;
    s->kind = (fer_sched_kind)num(sc, "kind", &ok);
    s->lr = (float)num(sc, "lr", &ok);
    s->min_lr = (float)num(sc, "min_lr", &ok);
    s->warmup_epochs = (float)num(sc, "warmup_epochs", &ok);
    s->pct_start = (float)num(sc, "pct_start", &ok);
    s->gamma = (float)num(sc, "gamma", &ok);
    s->step_epochs = (int)num(sc, "step_epochs", &ok);
    s->factor = (float)num(sc, "factor", &ok);
    s->patience = (int)num(sc, "patience", &ok);
    s->best = (float)num(sc, "best", &ok);
    s->bad_epochs = (int)num(sc, "bad_epochs", &ok);
    s->reductions = (int)num(sc, "reductions", &ok);
    fer_augment *a = &c->aug;
    a->enabled = (int)num(au, "enabled", &ok);
    a->flip = (float)num(au, "flip", &ok);
    a->shift = (float)num(au, "shift", &ok);
    a->rotate = (float)num(au, "rotate", &ok);
    a->scale_min = (float)num(au, "scale_min", &ok);
    a->scale_max = (float)num(au, "scale_max", &ok);
    a->brightness = (float)num(au, "brightness", &ok);
    a->contrast = (float)num(au, "contrast", &ok);
    a->erase = (float)num(au, "erase", &ok);
    a->erase_min = (float)num(au, "erase_min", &ok);
    a->erase_max = (float)num(au, "erase_max", &ok);
    if (c->epochs < 1 || c->epochs > FER_MAX_EPOCHS || c->batch < 1 || c->batch > 65536 ||
        (unsigned)c->opt.kind > FER_OPT_ADAMW || (unsigned)s->kind > FER_SCHED_PLATEAU)
        return 0;
    return ok && cfg_optional_from_json(c, o);
}

static int state_from_json(fer_train_state *st, long long *optim_steps, const cJSON *j)
{
    int ok = 1;
    st->epoch = (int)num(j, "epoch", &ok);
    st->batch = (int)num(j, "batch", &ok);
    st->step = (long long)num(j, "step", &ok);
    st->net_rng = hex(j, "net_rng", &ok);
    st->loss_sum = num(j, "loss_sum", &ok);
    st->correct = (long long)num(j, "correct", &ok);
    st->seen = (long long)num(j, "seen", &ok);
    st->elapsed = num(j, "elapsed", &ok);
    st->best_val = (float)num(j, "best_val", &ok);
    st->best_epoch = (int)num(j, "best_epoch", &ok);
    *optim_steps = (long long)num(j, "optim_steps", &ok);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "history");
    if (!ok || !cJSON_IsArray(h) || cJSON_GetArraySize(h) > FER_MAX_EPOCHS || st->epoch < 0 ||
        st->batch < 0)
        return 0;
    st->nhistory = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, h) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 7)
            return 0;
        double v[7];
        for (int i = 0; i < 7; i++) {
            const cJSON *x = cJSON_GetArrayItem(row, i);
            if (!cJSON_IsNumber(x))
                return 0;
            v[i] = x->valuedouble;
        }
        fer_history_row *r = &st->history[st->nhistory++];
        r->epoch = (int)v[0];
        r->lr = (float)v[1];
        r->train_loss = (float)v[2];
        r->train_acc = (float)v[3];
        r->val_loss = (float)v[4];
        r->val_acc = (float)v[5];
        r->seconds = (float)v[6];
    }
    return 1;
}

int fer_ckpt_load(const char *path, fer_train_cfg *cfg, fer_train_state *st, fer_model **m,
                  fer_optim **o, fer_error *err)
{
    *m = NULL;
    *o = NULL;
    st->ema = NULL;
    st->ema_len = 0;
    uint8_t *buf;
    size_t len;
    int rc = fer_read_file(path, &buf, &len, (size_t)8 << 30, err);
    if (rc < 0)
        return rc;
    cJSON *root = NULL;
    size_t pos = 16;
    if (len < 16 + 8 + 8 + 4 || memcmp(buf, CKPT_MAGIC, 8) != 0) {
        rc = fer_fail(err, FER_E_INVAL, "%s: not a ferd training checkpoint", path);
        goto out;
    }
    if (get_u32(buf + 8) != CKPT_VERSION) {
        rc = fer_fail(err, FER_E_VERSION, "%s: checkpoint version %u, this build reads %u", path,
                      get_u32(buf + 8), CKPT_VERSION);
        goto out;
    }
    uint32_t stored = get_u32(buf + len - 4);
    uint32_t computed = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), buf, len - 4);
    if (stored != computed) {
        rc = fer_fail(err, FER_E_CHECKSUM, "%s: checksum mismatch (stored 0x%08x, computed 0x%08x)",
                      path, stored, computed);
        goto out;
    }
    /* The CRC matched, but a writer bug must still not send us out of bounds. */
    size_t json_len = get_u32(buf + 12);
    if (json_len > len - pos - 20) {
        rc = fer_fail(err, FER_E_TRUNCATED, "%s: truncated", path);
        goto out;
    }
    root = cJSON_ParseWithLength((const char *)buf + pos, json_len);
    pos += json_len;
    uint64_t model_len = get_u64(buf + pos);
    pos += 8;
    if (model_len > len - pos - 12) {
        rc = fer_fail(err, FER_E_TRUNCATED, "%s: truncated model section", path);
        goto out;
    }
    const uint8_t *model_bytes = buf + pos;
    pos += model_len;
    uint64_t nstate = get_u64(buf + pos);
    pos += 8;
    if (nstate > (len - pos - 4) / sizeof(float) || pos + nstate * sizeof(float) + 4 != len) {
        rc = fer_fail(err, FER_E_TRUNCATED, "%s: optimiser section does not fit the file", path);
        goto out;
    }
    long long optim_steps = 0;
    if (!root || !cfg_from_json(cfg, cJSON_GetObjectItemCaseSensitive(root, "config")) ||
        !state_from_json(st, &optim_steps, cJSON_GetObjectItemCaseSensitive(root, "state"))) {
        rc = fer_fail(err, FER_E_HEADER, "%s: malformed checkpoint header", path);
        goto out;
    }
    fer_error merr = {0};
    rc = fer_model_load_mem(m, model_bytes, model_len, path, cfg->batch, 0, &merr);
    if (rc < 0) {
        fer_fail(err, rc, "%s: embedded model: %s", path, merr.msg);
        goto out;
    }
    if ((rc = fer_optim_create(o, (*m)->net, &cfg->opt, err)) < 0)
        goto out;
    const size_t ema_len = cfg->ema ? (*m)->net->params_len : 0;
    if ((*o)->state_len + ema_len != nstate) {
        rc = fer_fail(err, FER_E_TENSOR, "%s: optimiser state has %llu floats, the model needs %zu",
                      path, (unsigned long long)nstate, (*o)->state_len + ema_len);
        goto out;
    }
    memcpy((*o)->state, buf + pos, (*o)->state_len * sizeof(float));
    if (ema_len) {
        if (!(st->ema = malloc(ema_len * sizeof(float)))) {
            rc = fer_fail(err, -ENOMEM, "%s: out of memory", path);
            goto out;
        }
        memcpy(st->ema, buf + pos + (*o)->state_len * sizeof(float), ema_len * sizeof(float));
        st->ema_len = ema_len;
    }
    (*o)->steps = optim_steps;
    rc = 0;
out:
    cJSON_Delete(root);
    free(buf);
    if (rc < 0) {
        fer_optim_free(*o);
        fer_model_free(*m);
        free(st->ema);
        st->ema = NULL;
        *o = NULL;
        *m = NULL;
    }
    return rc;
}

/*
 * Reads the magic, version and JSON at the start of the file only: a checkpoint of
 * a large net is hundreds of MB, and the caller wants its settings before loading
 * data. The CRC covers the whole file, so it is not checked here; fer_ckpt_load,
 * which always follows, checks it.
 */
int fer_ckpt_peek(const char *path, fer_train_cfg *cfg, fer_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rbe");
    if (!f)
        return fer_fail(err, -errno, "%s: %s", path, strerror(errno));
    uint8_t head[16];
    char *json = NULL;
    cJSON *root = NULL;
    int rc;
    if (fread(head, 1, sizeof head, f) != sizeof head || memcmp(head, CKPT_MAGIC, 8) != 0) {
        rc = fer_fail(err, FER_E_INVAL, "%s: not a ferd training checkpoint", path);
        goto out;
    }
    if (get_u32(head + 8) != CKPT_VERSION) {
        rc = fer_fail(err, FER_E_VERSION, "%s: checkpoint version %u, this build reads %u", path,
                      get_u32(head + 8), CKPT_VERSION);
        goto out;
    }
    const size_t json_len = get_u32(head + 12);
    if (json_len > (64u << 20) || !(json = malloc(json_len + 1))) {
        rc = fer_fail(err, json_len > (64u << 20) ? FER_E_HEADER : -ENOMEM,
                      "%s: checkpoint header of %zu bytes", path, json_len);
        goto out;
    }
    if (fread(json, 1, json_len, f) != json_len) {
        rc = fer_fail(err, FER_E_TRUNCATED, "%s: truncated", path);
        goto out;
    }
    root = cJSON_ParseWithLength(json, json_len);
    if (!root || !cfg_from_json(cfg, cJSON_GetObjectItemCaseSensitive(root, "config"))) {
        rc = fer_fail(err, FER_E_HEADER, "%s: malformed checkpoint header", path);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(json);
    fclose(f);
    return rc;
}
