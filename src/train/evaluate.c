/*
 * evaluate.c — batches of normalised images through the inference forward;
 * with TTA every view of a batch (fer_input_view) runs as its own batch and the
 * model's probabilities are averaged (probabilities, not logits, as TTA usually
 * does; ferd's pipeline averages its flip views by the same rule).
 */
#include "train/evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "train/augment.h"
#include "train/targets.h"
#include "vision/preprocess.h"

int fer_evaluate(fer_model *m, const fer_dataset *ds, int split, fer_tta tta,
                 fer_eval_result *res, fer_error *err)
{
    fer_net *net = m->net;
    const fer_arch *a = net->arch;
    const int C = net->layers[net->nlayers - 1].oc, hw = ds->h * ds->w, bs = net->max_batch;
    const int nviews = fer_tta_views(tta);
    memset(res, 0, sizeof *res);
    fer_confusion_init(&res->conf, C);
    fer_reliability_init(&res->rel);
    if (ds->h != a->in_h || ds->w != a->in_w || a->in_c != 1)
        return fer_fail(err, FER_E_INVAL, "data is %dx%d grey, the model wants %dx%dx%d", ds->h,
                        ds->w, a->in_c, a->in_h, a->in_w);
    fer_label_map map;
    fer_label_map_init(&map, a, C, 0, 0, NULL);
    float *x = malloc((size_t)bs * hw * sizeof(float));
    float *view = malloc((size_t)bs * hw * sizeof(float));
    float *probs = malloc((size_t)bs * C * sizeof(float));
    float *avg = malloc((size_t)bs * C * sizeof(float));
    int *idx = malloc((size_t)bs * sizeof(int));
    uint8_t *face = malloc((size_t)hw);
    unsigned *ok = malloc((size_t)bs * sizeof(unsigned));
    if (!x || !view || !probs || !avg || !idx || !face || !ok) {
        free(x), free(view), free(probs), free(avg), free(idx), free(face), free(ok);
        return fer_fail(err, -ENOMEM, "evaluation: out of memory");
    }
    double loss = 0.0;
    long long counted = 0;
    int n = 0;
    for (int i = 0; i <= ds->n; i++) {
        if (i < ds->n) {
            if (split >= 0 && ds->split[i] != split)
                continue;
            unsigned correct = fer_target_correct(ds, i, &map);
            if (!correct) {
                res->skipped++;
                continue;
            }
            memcpy(face, ds->pixels + (size_t)i * hw, (size_t)hw);
            int rc = fer_input_from_face(x + (size_t)n * hw, face, ds->h, ds->w, &m->pre, err);
            if (rc < 0) {
                free(x), free(view), free(probs), free(avg), free(idx), free(face), free(ok);
                return rc;
            }
            ok[n] = correct;
            idx[n++] = i;
        }
        if (n == bs || (i == ds->n && n > 0)) {
            memset(avg, 0, (size_t)n * C * sizeof(float));
            for (int v = 0; v < nviews; v++) {
                const float *in = x;
                if (v > 0) {
                    for (int k = 0; k < n; k++)
                        fer_input_view(view + (size_t)k * hw, x + (size_t)k * hw, 1, ds->h,
                                       ds->w, v);
                    in = view;
                }
                const float *logits = fer_net_forward(net, in, n, 0);
                fer_model_probs(m, probs, logits, n);
                for (int k = 0; k < n * C; k++)
                    avg[k] += probs[k] / (float)nviews;
            }
            for (int k = 0; k < n; k++) {
                const float *p = avg + (size_t)k * C;
                int pred = 0, ntrue = __builtin_popcount(ok[k]);
                for (int c = 1; c < C; c++)
                    if (p[c] > p[pred])
                        pred = c;
                const int hit = ok[k] >> pred & 1;
                fer_confusion_add(&res->conf, hit ? pred : __builtin_ctz(ok[k]), pred);
                fer_reliability_add(&res->rel, p, C, ok[k]);
                if (ntrue > 1) {
                    res->ties++;
                    res->ties_correct += hit;
                }
                double l = 0.0;
                for (int c = 0; c < C; c++)
                    if (ok[k] >> c & 1)
                        l -= log(fmax((double)p[c], 1e-12));
                loss += l / ntrue;
                counted++;
            }
            n = 0;
        }
    }
    res->loss = counted ? loss / (double)counted : 0.0;
    res->ece = fer_reliability_ece(&res->rel);
    free(x), free(view), free(probs), free(avg), free(idx), free(face), free(ok);
    return 0;
}

int fer_collect_logits(fer_model *m, const fer_dataset *ds, int split, float **logits,
                       unsigned **correct, int *n, fer_error *err)
{
    fer_net *net = m->net;
    const fer_arch *a = net->arch;
    const int C = net->layers[net->nlayers - 1].oc, hw = ds->h * ds->w, bs = net->max_batch;
    *logits = NULL;
    *correct = NULL;
    *n = 0;
    if (ds->h != a->in_h || ds->w != a->in_w || a->in_c != 1)
        return fer_fail(err, FER_E_INVAL, "data is %dx%d grey, the model wants %dx%dx%d", ds->h,
                        ds->w, a->in_c, a->in_h, a->in_w);
    fer_label_map map;
    fer_label_map_init(&map, a, C, 0, 0, NULL);
    int total = 0;
    for (int i = 0; i < ds->n; i++)
        total += (split < 0 || ds->split[i] == split) && fer_target_correct(ds, i, &map);
    float *out = malloc((size_t)(total ? total : 1) * C * sizeof(float));
    unsigned *ok = malloc((size_t)(total ? total : 1) * sizeof(unsigned));
    float *x = malloc((size_t)bs * hw * sizeof(float));
    uint8_t *face = malloc((size_t)hw);
    int rc = 0, k = 0, nb = 0;
    if (!out || !ok || !x || !face) {
        rc = fer_fail(err, -ENOMEM, "evaluation: out of memory");
        goto fail;
    }
    for (int i = 0; i <= ds->n; i++) {
        if (i < ds->n) {
            unsigned c = split >= 0 && ds->split[i] != split ? 0 : fer_target_correct(ds, i, &map);
            if (!c)
                continue;
            memcpy(face, ds->pixels + (size_t)i * hw, (size_t)hw);
            rc = fer_input_from_face(x + (size_t)nb * hw, face, ds->h, ds->w, &m->pre, err);
            if (rc < 0)
                goto fail;
            ok[k + nb++] = c;
        }
        if (nb == bs || (i == ds->n && nb > 0)) {
            const float *z = fer_net_forward(net, x, nb, 0);
            memcpy(out + (size_t)k * C, z, (size_t)nb * C * sizeof(float));
            k += nb;
            nb = 0;
        }
    }
    free(x);
    free(face);
    *logits = out;
    *correct = ok;
    *n = k;
    return 0;
fail:
    free(out), free(ok), free(x), free(face);
    return rc;
}
