/*
 * trainer_setup.c — setting a training run up and tearing it down (trainer_run.h):
 * the data's index lists and label map, the input normalisation, the buffers, the
 * teachers, the weight average, --init, and what the model's metadata records.
 * The loop itself is trainer.c.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/trainer_run.h"
#include "vision/contrast.h"
#include "vision/preprocess.h"

/* A network's input step once on the first training image, so that a contrast setting
 * the image size cannot take fails here with its reason, never inside the batch thread.
 * who names the network in the message ("" for the student). */
static int try_input_step(fer_trainer_run *r, const fer_preproc *pre, const char *who, fer_error *err)
{
    uint8_t *face = malloc((size_t)r->hw);
    float *x = malloc((size_t)r->hw * sizeof(float));
    int rc = -ENOMEM;
    if (face && x) {
        memcpy(face, r->ds->pixels + (size_t)r->train_idx[0] * r->hw, (size_t)r->hw);
        fer_error e = {0};
        rc = fer_input_from_face(x, face, r->ds->h, r->ds->w, pre, &e);
        if (rc < 0)
            fer_fail(err, rc, "%s%s%s", who, who[0] ? ": " : "", e.msg);
    } else {
        fer_fail(err, rc, "out of memory");
    }
    free(face);
    free(x);
    return rc;
}

/* Fills the index lists, the label map, class weights and the normalisation. */
int fer_trainer_setup_data(fer_trainer_run *r, fer_error *err)
{
    const fer_dataset *ds = r->ds;
    const fer_arch *a = r->model->net->arch;
    r->hw = ds->h * ds->w;
    if (ds->h != a->in_h || ds->w != a->in_w || a->in_c != 1)
        return fer_fail(err, FER_E_INVAL, "data is %dx%d grey, the architecture wants %dx%dx%d",
                        ds->h, ds->w, a->in_c, a->in_h, a->in_w);
    if (!ds->votes != !r->cfg.labels[0])
        return fer_fail(err, FER_E_INVAL, "%s", ds->votes
                        ? "the data carries crowd votes but the run names no --labels"
                        : "the run was started with --labels, but the data carries no votes");
    /* Votes spread over all eight FER+ classes: a model without one of them could
     * never be trained towards the whole target. */
    int rc = fer_label_map_init(&r->map, a, r->nclasses,
                                ds->votes ? (1u << FER_NUM_LABELS) - 1 : 0, 1, err);
    if (rc < 0)
        return rc;
    r->train_idx = malloc((size_t)ds->n * sizeof(int));
    r->val_idx = malloc((size_t)ds->n * sizeof(int));
    r->perm = malloc((size_t)ds->n * sizeof(int));
    if (!r->train_idx || !r->val_idx || !r->perm)
        return fer_fail(err, -ENOMEM, "out of memory for the index lists");
    for (int i = 0; i < ds->n; i++) {
        if (r->map.out[ds->labels[i]] < 0)
            continue;
        if (ds->split[i] == FER_SPLIT_TRAIN && (!r->cfg.max_train || r->ntrain < r->cfg.max_train))
            r->train_idx[r->ntrain++] = i;
        else if (ds->split[i] == FER_SPLIT_VAL && (!r->cfg.max_val || r->nval < r->cfg.max_val))
            r->val_idx[r->nval++] = i;
    }
    if (r->ntrain < r->cfg.batch)
        return fer_fail(err, FER_E_INVAL, "%d training images, fewer than one batch of %d",
                        r->ntrain, r->cfg.batch);
    r->model->pre.contrast = r->cfg.contrast;
    if ((rc = try_input_step(r, &r->model->pre, "", err)) < 0)
        return rc;
    for (int t = 0; r->teach && t < r->teach->n; t++)
        if ((rc = try_input_step(r, &r->teach->m[t]->pre, r->cfg.teachers[t], err)) < 0)
            return rc;
    if (r->cfg.std <= 0.0f) {
        /* Measured on what the network is given: the training images after the model's
         * contrast step (which try_input_step showed applies). */
        uint8_t *face = malloc((size_t)r->hw);
        if (!face)
            return fer_fail(err, -ENOMEM, "out of memory");
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < r->ntrain; i++) {
            memcpy(face, ds->pixels + (size_t)r->train_idx[i] * r->hw, (size_t)r->hw);
            fer_contrast_apply(face, ds->h, ds->w, &r->cfg.contrast);
            for (int k = 0; k < r->hw; k++) {
                double v = face[k] / 255.0;
                s += v;
                s2 += v * v;
            }
        }
        free(face);
        double n = (double)r->ntrain * r->hw, mean = s / n;
        r->cfg.mean = (float)mean;
        r->cfg.std = (float)sqrt(fmax(s2 / n - mean * mean, 1e-12));
    }
    r->model->pre.mean = r->cfg.mean;
    r->model->pre.std = r->cfg.std;
    if (r->cfg.class_balanced) {
        long long count[FER_MAX_CLASSES] = {0};
        for (int i = 0; i < r->ntrain; i++)
            count[r->map.out[ds->labels[r->train_idx[i]]]]++;
        for (int c = 0; c < r->nclasses; c++)
            r->class_w[c] = count[c] ? (float)r->ntrain / ((float)r->nclasses * (float)count[c]) : 0.0f;
        r->use_w = 1;
    }
    return 0;
}

int fer_trainer_alloc(fer_trainer_run *r, fer_error *err)
{
    const size_t bs = (size_t)r->cfg.batch;
    for (int s = 0; s < 2; s++) {
        r->x[s] = malloc(bs * (size_t)r->hw * sizeof(float));
        r->work[s] = malloc((size_t)r->hw);
        r->y[s] = malloc(bs * sizeof(int));
        r->ok[s] = malloc(bs * sizeof(unsigned));
        r->q[s] = malloc(bs * (size_t)r->nclasses * sizeof(float));
        if (!r->x[s] || !r->work[s] || !r->y[s] || !r->ok[s] || !r->q[s])
            return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    }
    r->probs = malloc(bs * (size_t)r->nclasses * sizeof(float));
    r->dlogits = malloc(bs * (size_t)r->nclasses * sizeof(float));
    if (!r->probs || !r->dlogits)
        return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    if (!r->teach)
        return 0;
    r->tprobs = malloc(bs * (size_t)r->nclasses * sizeof(float));
    if (!r->tprobs)
        return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    for (int s = 0; s < 2; s++) {
        if (!(r->pix[s] = malloc((size_t)r->hw * sizeof(float))))
            return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
        for (int t = 0; t < r->teach->n; t++)
            if (!(r->tin[s][t] = malloc(bs * (size_t)r->hw * sizeof(float))))
                return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    }
    return 0;
}

void fer_trainer_free(fer_trainer_run *r)
{
    free(r->train_idx);
    free(r->val_idx);
    free(r->perm);
    for (int s = 0; s < 2; s++) {
        free(r->x[s]);
        free(r->work[s]);
        free(r->y[s]);
        free(r->ok[s]);
        free(r->q[s]);
        free(r->pix[s]);
        for (int t = 0; t < FER_MAX_TEACHERS; t++)
            free(r->tin[s][t]);
    }
    free(r->probs);
    free(r->dlogits);
    free(r->tprobs);
    fer_teachers_free(r->teach);
    fer_optim_free(r->opt);
    fer_model_free(r->model);
    if (r->st)
        free(r->st->ema);
    free(r->st);
}

/* --ema: the average starts at the initial weights (after --init). */
int fer_trainer_start_ema(fer_trainer_run *r, fer_error *err)
{
    if (!r->cfg.ema)
        return 0;
    if (!(r->cfg.ema_decay >= 0.0f && r->cfg.ema_decay < 1.0f))
        return fer_fail(err, FER_E_INVAL, "--ema %g: the decay must be in [0, 1)",
                        (double)r->cfg.ema_decay);
    const fer_net *net = r->model->net;
    r->st->ema = malloc(net->params_len * sizeof(float));
    if (!r->st->ema)
        return fer_fail(err, -ENOMEM, "out of memory for the weight average");
    memcpy(r->st->ema, net->params, net->params_len * sizeof(float));
    r->st->ema_len = net->params_len;
    return 0;
}

/* Loads the run's teachers, recording their CRCs in a fresh run and checking them
 * against the recorded ones in a resumed run. */
int fer_trainer_load_teachers(fer_trainer_run *r, int fresh, fer_error *err)
{
    const int n = r->cfg.nteachers;
    if (n == 0)
        return 0;
    if (n < 0 || n > FER_MAX_TEACHERS || !(r->cfg.kd_temp > 0.0f) ||
        !(r->cfg.kd_weight >= 0.0f && r->cfg.kd_weight <= 1.0f))
        return fer_fail(err, FER_E_INVAL, "distillation: %d teachers, temperature %g, weight %g "
                        "(1..%d teachers, T > 0, 0 <= W <= 1)", n, (double)r->cfg.kd_temp,
                        (double)r->cfg.kd_weight, FER_MAX_TEACHERS);
    const char *paths[FER_MAX_TEACHERS];
    uint32_t crc[FER_MAX_TEACHERS];
    for (int t = 0; t < n; t++)
        paths[t] = r->cfg.teachers[t];
    int rc = fer_teachers_load(&r->teach, paths, n, r->model->net->arch, r->cfg.batch, crc, err);
    if (rc < 0)
        return rc;
    for (int t = 0; t < n; t++) {
        if (fresh)
            r->cfg.teacher_crc[t] = crc[t];
        else if (crc[t] != r->cfg.teacher_crc[t])
            return fer_fail(err, FER_E_INVAL, "%s: the teacher changed since the run started "
                            "(CRC %08x, the checkpoint has %08x)", paths[t], crc[t],
                            r->cfg.teacher_crc[t]);
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

static const char *dataset_name(const char *path)
{
    const char *base = base_name(path);
    return strncasecmp(base, "fer2013", 7) == 0 ? "FER2013" : base;
}

/* meta.extra: what the run trained towards beyond the dataset itself, for `fer info`
 * and the model card. File names only: the model travels, the folders do not. */
void fer_trainer_set_meta(fer_trainer_run *r)
{
    fer_meta *m = &r->model->meta;
    snprintf(m->dataset, sizeof m->dataset, "%.63s", dataset_name(r->cfg.data));
    cJSON *o = cJSON_CreateObject();
    if (r->cfg.labels[0]) {
        const char *colon = strchr(r->cfg.labels, ':');
        char spec[1100];
        snprintf(spec, sizeof spec, "%.*s:%s", colon ? (int)(colon - r->cfg.labels) : 0,
                 r->cfg.labels, base_name(colon ? colon + 1 : r->cfg.labels));
        cJSON_AddStringToObject(o, "labels", spec);
        cJSON_AddStringToObject(o, "target", fer_target_name(r->cfg.target));
    }
    if (r->cfg.ema)
        cJSON_AddNumberToObject(o, "ema", round(r->cfg.ema_decay * 1e6) / 1e6);
    if (r->cfg.mixup > 0.0f || r->cfg.cutmix > 0.0f) {
        cJSON_AddNumberToObject(o, "mixup", round(r->cfg.mixup * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "cutmix", round(r->cfg.cutmix * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "mix_prob", round(r->cfg.mix_prob * 1e6) / 1e6);
    }
    if (r->cfg.nteachers) {
        cJSON *t = cJSON_AddArrayToObject(o, "teachers");
        for (int i = 0; i < r->cfg.nteachers; i++) {
            cJSON *e = cJSON_CreateObject();
            char crc[16];
            snprintf(crc, sizeof crc, "%08x", r->cfg.teacher_crc[i]);
            cJSON_AddStringToObject(e, "file", base_name(r->cfg.teachers[i]));
            cJSON_AddStringToObject(e, "crc32", crc);
            cJSON_AddItemToArray(t, e);
        }
        cJSON_AddNumberToObject(o, "kd_temp", round(r->cfg.kd_temp * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "kd_weight", round(r->cfg.kd_weight * 1e6) / 1e6);
        cJSON_AddBoolToObject(o, "kd_flip", r->cfg.kd_flip);
    }
    char *text = cJSON_GetArraySize(o) ? cJSON_PrintUnformatted(o) : NULL;
    if (text && strlen(text) >= sizeof m->extra && cJSON_HasObjectItem(o, "teachers")) {
        /* Long teacher names: keep their CRCs, which identify them anyway. */
        cJSON *t = cJSON_GetObjectItem(o, "teachers"), *e;
        cJSON_ArrayForEach(e, t)
            cJSON_DeleteItemFromObject(e, "file");
        free(text);
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    if (text && strlen(text) < sizeof m->extra)
        snprintf(m->extra, sizeof m->extra, "%s", text);
    free(text);
}

/* Whether layers [0, n) of a and b have the same shapes, hence the same place in
 * the parameter block (layout() assigns it in layer order). */
static int same_layers(const fer_net *a, const fer_net *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a->layers[i].spec.type != b->layers[i].spec.type ||
            a->layers[i].in_size != b->layers[i].in_size ||
            a->layers[i].out_size != b->layers[i].out_size ||
            a->layers[i].nparams != b->layers[i].nparams)
            return 0;
    return 1;
}

/* The last layer holding parameters, if it is the fc that gives the class scores. */
static int head_layer(const fer_net *n)
{
    int h = n->nlayers - 1;
    while (h >= 0 && !n->layers[h].w)
        h--;
    return h >= 0 && n->layers[h].spec.type == FER_LAYER_FC ? h : -1;
}

/* A model for other classes (FER2013's 7 -> FER+'s 8): every layer below the
 * classifier is taken whole, and each class the two share by name keeps its row of
 * the classifier, so only a new class starts from the random initialisation. */
static int take_backbone(fer_net *b, const fer_net *a, const fer_arch *aa,
                         const fer_arch *ba)
{
    int ha = head_layer(a), hb = head_layer(b);
    if (ha < 0 || ha != hb || a->nlayers != b->nlayers || !same_layers(a, b, ha) ||
        a->layers[ha].in_size != b->layers[hb].in_size)
        return -1;
    memcpy(b->params, a->params, (size_t)(a->layers[ha].w - a->params) * sizeof *a->params);
    const fer_layer *la = &a->layers[ha];
    fer_layer *lb = &b->layers[hb];
    int shared = 0;
    for (int j = 0; j < ba->nclasses; j++)
        for (int i = 0; i < aa->nclasses; i++)
            if (strcmp(ba->classes[j], aa->classes[i]) == 0) {
                memcpy(lb->w + (size_t)j * lb->in_size, la->w + (size_t)i * la->in_size,
                       la->in_size * sizeof *la->w);
                lb->b[j] = la->b[i];
                shared++;
                break;
            }
    return shared;
}

/* Starts r's fresh net from the weights of the model at path (--init), and takes
 * its input normalisation. The model must have the architecture being trained, or
 * differ only in its classes (then see take_backbone). */
int fer_trainer_init_from(fer_trainer_run *r, const char *path, fer_error *err)
{
    fer_model *m = NULL;
    int rc = fer_model_load(&m, path, 1, 0, err);
    if (rc < 0)
        return rc;
    const fer_net *a = m->net;
    fer_net *b = r->model->net;
    if (a->params_len == b->params_len && a->nlayers == b->nlayers &&
        same_layers(a, b, a->nlayers)) {
        memcpy(b->params, a->params, a->params_len * sizeof *a->params);
    } else if (take_backbone(b, a, a->arch, b->arch) < 0) {
        rc = fer_fail(err, FER_E_ARCH, "%s: its architecture (%d layers, %zu parameters) is not "
                      "the one being trained (%d layers, %zu parameters), nor the same below "
                      "the classifier", path, a->nlayers, a->nparams, b->nlayers, b->nparams);
    }
    if (rc == 0) {
        r->cfg.mean = m->pre.mean;
        r->cfg.std = m->pre.std;
        /* The weights were learnt on this input; a different one must be asked for. */
        if (r->cfg.contrast.mode < 0)
            r->cfg.contrast = m->pre.contrast;
    }
    fer_model_free(m);
    return rc;
}
