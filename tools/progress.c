/*
 * progress.c — see progress.h.
 */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util/clock.h"

#define BAR 30

void fer_progress_start(fer_progress *p, long long total, int on)
{
    p->on = on && isatty(STDERR_FILENO);
    p->total = total > 0 ? total : 0;
    p->t0_ns = fer_mono_ns();
    p->last_ns = 0;
}

void fer_progress_update(fer_progress *p, long long done)
{
    if (!p->on)
        return;
    uint64_t now = fer_mono_ns();
    if (p->last_ns && now - p->last_ns < 100000000ull && done != p->total)
        return;
    p->last_ns = now;
    double secs = (double)(now - p->t0_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0;
    if (p->total) {
        long long shown = done > p->total ? p->total : done;
        int fill = (int)(BAR * shown / p->total);
        char bar[BAR + 1];
        for (int i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        double left = rate > 0 ? (double)(p->total - shown) / rate : 0;
        fprintf(stderr, "\r%lld/%lld frames [%s] %3d%%  %.1f frames/s  %d:%02d left \033[K",
                shown, p->total, bar, (int)(100 * shown / p->total), rate, (int)left / 60,
                (int)left % 60);
    } else {
        fprintf(stderr, "\r%lld frames  %.1f frames/s \033[K", done, rate);
    }
    fflush(stderr);
}

void fer_progress_end(fer_progress *p)
{
    if (!p->on)
        return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
