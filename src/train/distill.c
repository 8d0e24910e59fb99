/*
 * distill.c — see distill.h.
 *
 * Teachers are built as training-capable nets with their batch norm folded, and
 * run with train = 0: a training net has the scratch of the engine's second
 * thread, so a batch of teacher inference is shared by both threads like the
 * trainer's validation (an inference-only net would run it on one). The cost is
 * the unused gradient block, a few MB for nets of ferd's size.
 */
#include "train/distill.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/fileio.h"

#define TEACHER_FILE_MAX ((size_t)2 << 30)

void fer_teachers_free(fer_teachers *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        fer_model_free(t->m[i]);
    free(t->mirror);
    free(t);
}

/* Maps the student's outputs to teacher m's by class name. */
static int map_classes(fer_teachers *t, int i, const fer_arch *student, const char *path,
                       fer_error *err)
{
    const fer_arch *a = t->m[i]->net->arch;
    const int tout = t->m[i]->net->layers[t->m[i]->net->nlayers - 1].oc;
    if (a->nclasses != student->nclasses || tout != t->nout)
        return fer_fail(err, FER_E_CLASSES, "%s: the teacher has %d classes, the student %d "
                        "(a teacher must have the student's classes)", path, a->nclasses,
                        student->nclasses);
    for (int k = 0; k < student->nclasses; k++) {
        t->out[i][k] = -1;
        for (int j = 0; j < a->nclasses; j++)
            if (strcmp(a->classes[j], student->classes[k]) == 0)
                t->out[i][k] = j;
        if (t->out[i][k] < 0)
            return fer_fail(err, FER_E_CLASSES, "%s: the teacher has no class '%s' (a teacher "
                            "must have the student's classes)", path, student->classes[k]);
    }
    return 0;
}

int fer_teachers_load(fer_teachers **out, const char *const *paths, int n,
                      const fer_arch *student, int max_batch, uint32_t *crc, fer_error *err)
{
    *out = NULL;
    if (n < 1 || n > FER_MAX_TEACHERS)
        return fer_fail(err, -EINVAL, "%d teachers: 1 to %d are possible", n, FER_MAX_TEACHERS);
    if (!student->nclasses)
        return fer_fail(err, FER_E_CLASSES, "the student's architecture names no classes");
    fer_teachers *t = calloc(1, sizeof *t);
    if (!t)
        return fer_fail(err, -ENOMEM, "out of memory");
    t->nout = student->nclasses;
    t->h = student->in_h;
    t->w = student->in_w;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t *buf;
        size_t len;
        if ((rc = fer_read_file(paths[i], &buf, &len, TEACHER_FILE_MAX, err)) < 0)
            break;
        /* The CRC of the bytes before the file's own trailing CRC (which that equals):
         * a CRC over a message and its CRC is the same constant for every message. */
        crc[i] = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), buf, len >= 4 ? len - 4 : len);
        rc = fer_model_load_mem(&t->m[i], buf, len, paths[i], max_batch, 0, err);
        free(buf);
        if (rc < 0)
            break;
        t->n = i + 1;
        fer_net_fold_bn(t->m[i]->net);
        const fer_arch *a = t->m[i]->net->arch;
        if (a->in_c != 1 || a->in_h != student->in_h || a->in_w != student->in_w)
            rc = fer_fail(err, FER_E_ARCH, "%s: the teacher's input is %dx%dx%d, the student's "
                          "1x%dx%d", paths[i], a->in_c, a->in_h, a->in_w, student->in_h,
                          student->in_w);
        else
            rc = map_classes(t, i, student, paths[i], err);
    }
    if (rc == 0) {
        t->mirror = malloc((size_t)max_batch * t->h * t->w * sizeof(float));
        if (!t->mirror)
            rc = fer_fail(err, -ENOMEM, "out of memory for the teachers");
    }
    if (rc < 0) {
        fer_teachers_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Adds scale * softmax(z / temp) of teacher i's logits (n rows) to probs, mapped. */
static void add_softened(fer_teachers *t, int i, float *probs, const float *logits, int n,
                         float temp, float scale)
{
    const int C = t->nout;
    for (int r = 0; r < n; r++) {
        const float *z = logits + (size_t)r * C;
        float *p = probs + (size_t)r * C;
        float m = z[0];
        for (int j = 1; j < C; j++)
            m = z[j] > m ? z[j] : m;
        double sum = 0.0;
        for (int k = 0; k < C; k++)
            sum += exp((double)(z[t->out[i][k]] - m) / temp);
        for (int k = 0; k < C; k++)
            p[k] += (float)(scale * exp((double)(z[t->out[i][k]] - m) / temp) / sum);
    }
}

void fer_teachers_predict(fer_teachers *t, float *probs, float *const *in, int n, float temp,
                          int flip)
{
    const int views = flip ? 2 : 1, hw = t->h * t->w;
    const float scale = 1.0f / (float)(t->n * views);
    memset(probs, 0, (size_t)n * t->nout * sizeof *probs);
    for (int i = 0; i < t->n; i++) {
        add_softened(t, i, probs, fer_net_forward(t->m[i]->net, in[i], n, 0), n, temp, scale);
        if (!flip)
            continue;
        for (int r = 0; r < n; r++)
            for (int y = 0; y < t->h; y++)
                for (int x = 0; x < t->w; x++)
                    t->mirror[(size_t)r * hw + y * t->w + x] =
                        in[i][(size_t)r * hw + y * t->w + (t->w - 1 - x)];
        add_softened(t, i, probs, fer_net_forward(t->m[i]->net, t->mirror, n, 0), n, temp,
                     scale);
    }
}
