/*
 * targets.c — see targets.h. Kept apart from the trainer because evaluation
 * scores with the same rules: one definition of "correct" for both.
 */
#include "train/targets.h"

#include <string.h>

#include "data/ferplus.h"

int fer_target_parse(const char *name)
{
    if (name && strcmp(name, "majority") == 0)
        return FER_TARGET_MAJORITY;
    if (name && strcmp(name, "dist") == 0)
        return FER_TARGET_DIST;
    return -1;
}

const char *fer_target_name(fer_target t)
{
    return t == FER_TARGET_DIST ? "dist" : "majority";
}

int fer_label_map_init(fer_label_map *m, const fer_arch *a, int nout, unsigned require_all_of,
                       int strict, fer_error *err)
{
    m->nout = nout;
    for (int l = 0; l < FER_NUM_LABELS; l++)
        m->out[l] = -1;
    for (int k = 0; k < nout; k++) {
        int l = a->nclasses ? fer_class_parse(a->classes[k]) : (k < FER_NUM_CLASSES ? k : -1);
        if (l < 0) {
            if (strict)
                return fer_fail(err, FER_E_CLASSES, "model class '%s' is no FER2013 or FER+ class",
                                a->nclasses ? a->classes[k] : "?");
            continue;
        }
        m->out[l] = k;
    }
    for (int l = 0; l < FER_NUM_LABELS; l++)
        if ((require_all_of >> l & 1) && m->out[l] < 0)
            return fer_fail(err, FER_E_CLASSES, "the labels have the class '%s', which the "
                            "architecture '%s' does not", fer_class_names[l], a->name);
    return 0;
}

unsigned fer_target_correct(const fer_dataset *ds, int i, const fer_label_map *m)
{
    unsigned top = ds->votes ? fer_votes_top(ds->votes + (size_t)i * FER_NUM_LABELS)
                             : 1u << ds->labels[i];
    unsigned mask = 0;
    for (int l = 0; l < FER_NUM_LABELS; l++)
        if ((top >> l & 1) && m->out[l] >= 0)
            mask |= 1u << m->out[l];
    return mask;
}

void fer_target_fill(float *q, const fer_dataset *ds, int i, const fer_label_map *m,
                     fer_target t)
{
    memset(q, 0, (size_t)m->nout * sizeof *q);
    if (!ds->votes) {
        int k = m->out[ds->labels[i]];
        if (k >= 0)
            q[k] = 1.0f;
        return;
    }
    const uint8_t *v = ds->votes + (size_t)i * FER_NUM_LABELS;
    unsigned top = fer_votes_top(v);
    float total = 0.0f;
    for (int l = 0; l < FER_NUM_LABELS; l++) {
        if (m->out[l] < 0)
            continue;
        float w = t == FER_TARGET_DIST ? (float)v[l] : (float)(top >> l & 1);
        q[m->out[l]] = w;
        total += w;
    }
    if (total > 0.0f)
        for (int k = 0; k < m->nout; k++)
            q[k] /= total;
}
