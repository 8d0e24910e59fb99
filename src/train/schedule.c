/*
 * schedule.c — learning rate as a pure function of the step (plus the plateau
 * counters), so a resumed run recomputes exactly the rate it would have used.
 */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

void fer_sched_default(fer_sched *s)
{
    memset(s, 0, sizeof *s);
    s->kind = FER_SCHED_ONECYCLE;
    s->lr = 0.05f;
    s->min_lr = 0.0f;
    s->warmup_epochs = 2.0f;
    s->pct_start = 0.3f;
    s->gamma = 0.1f;
    s->step_epochs = 10;
    s->factor = 0.5f;
    s->patience = 3;
    s->epochs = 30;
    s->steps_per_epoch = 1;
    s->best = -1.0f;
}

int fer_sched_kind_parse(const char *name)
{
    static const char *names[] = {"const", "cosine", "onecycle", "step", "plateau"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

const char *fer_sched_kind_name(fer_sched_kind k)
{
    static const char *names[] = {"const", "cosine", "onecycle", "step", "plateau"};
    return (unsigned)k < 5 ? names[k] : "?";
}

/* Cosine interpolation from a (pct = 0) to b (pct = 1). */
static double cos_anneal(double a, double b, double pct)
{
    return b + (a - b) / 2.0 * (1.0 + cos(M_PI * pct));
}

float fer_sched_lr(const fer_sched *s, long step)
{
    const double total = (double)s->epochs * (double)s->steps_per_epoch;
    const double t = (double)step;
    const double epoch = t / (double)s->steps_per_epoch;
    switch (s->kind) {
    case FER_SCHED_CONST:
        return s->lr;
    case FER_SCHED_COSINE: {
        double warm = s->warmup_epochs * (double)s->steps_per_epoch;
        if (t < warm)
            return (float)(s->lr / 25.0 + (s->lr - s->lr / 25.0) * t / warm);
        double pct = total > warm ? (t - warm) / (total - warm) : 1.0;
        return (float)cos_anneal(s->lr, s->min_lr, pct > 1.0 ? 1.0 : pct);
    }
    case FER_SCHED_ONECYCLE: {
        /* PyTorch's OneCycleLR phases end at step pct*total - 1 and total - 1. */
        double initial = s->lr / 25.0, final = initial / 1e4;
        double up = s->pct_start * total - 1.0, end = total - 1.0;
        if (t <= up)
            return (float)cos_anneal(initial, s->lr, up > 0 ? t / up : 1.0);
        double pct = end > up ? (t - up) / (end - up) : 1.0;
        return (float)cos_anneal(s->lr, final, pct > 1.0 ? 1.0 : pct);
    }
    case FER_SCHED_STEP:
        return (float)(s->lr * pow(s->gamma, floor(epoch / (s->step_epochs > 0 ? s->step_epochs : 1))));
    case FER_SCHED_PLATEAU:
        return (float)(s->lr * pow(s->factor, s->reductions));
    }
    return s->lr;
}

void fer_sched_epoch_end(fer_sched *s, float val_acc)
{
    if (s->kind != FER_SCHED_PLATEAU)
        return;
    if (val_acc > s->best) {
        s->best = val_acc;
        s->bad_epochs = 0;
    } else if (++s->bad_epochs >= s->patience) {
        s->reductions++;
        s->bad_epochs = 0;
    }
}
