/*
 * plots.c — charts drawn with the draw.h primitives: axis frames with "nice"
 * tick steps (1, 2 or 5 times a power of ten), polylines per series with a
 * legend, and a heat map whose cell text switches between dark and light for
 * contrast. Layout is in fixed pixels: these figures are read at one size.
 */
#include "train/plots.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "cv/draw.h"

static const fer_rgb white = {.r = 255, .g = 255, .b = 255}, black = {.r = 0, .g = 0, .b = 0},
                     grid = {.r = 225, .g = 225, .b = 225}, blue = {.r = 31, .g = 119, .b = 180},
                     orange = {.r = 255, .g = 127, .b = 14};

typedef struct axis {
    int x, y, w, h;          /* plot area in pixels */
    double x0, x1, y0, y1;   /* data range */
} axis;

static double nice_step(double range, int target)
{
    double raw = range / target, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

static float px(const axis *a, double x) { return (float)(a->x + (x - a->x0) / (a->x1 - a->x0) * a->w); }
static float py(const axis *a, double y) { return (float)(a->y + a->h - (y - a->y0) / (a->y1 - a->y0) * a->h); }

static void text_centered(fer_image *img, const char *s, int cx, int y, double scale, int thick)
{
    int w, h;
    fer_text_size(s, scale, thick, &w, &h);
    fer_draw_text(img, s, cx - w / 2, y, scale, black, thick);
}

/* Frame, grid, ticks and labels of one panel. */
static void draw_axes(fer_image *img, const axis *a, const char *title, const char *xlabel,
                      const char *ylabel, int percent)
{
    char buf[32];
    double xs = nice_step(a->x1 - a->x0, 8), ys = nice_step(a->y1 - a->y0, 6);
    for (double v = ceil(a->x0 / xs) * xs; v <= a->x1 + 1e-9; v += xs) {
        float x = px(a, v);
        fer_draw_line(img, x, (float)a->y, x, (float)(a->y + a->h), grid, 1);
        snprintf(buf, sizeof buf, "%g", v);
        text_centered(img, buf, (int)x, a->y + a->h + 20, 0.45, 1);
    }
    for (double v = ceil(a->y0 / ys) * ys; v <= a->y1 + 1e-9; v += ys) {
        float y = py(a, v);
        fer_draw_line(img, (float)a->x, y, (float)(a->x + a->w), y, grid, 1);
        if (percent)
            snprintf(buf, sizeof buf, "%g%%", round(v * 1000.0) / 10.0);
        else
            snprintf(buf, sizeof buf, "%g", round(v * 1000.0) / 1000.0);
        int w, h;
        fer_text_size(buf, 0.45, 1, &w, &h);
        fer_draw_text(img, buf, a->x - w - 8, (int)y + h / 2, 0.45, black, 1);
    }
    fer_draw_rect(img, a->x, a->y, a->w, a->h, black, 1);
    text_centered(img, title, a->x + a->w / 2, a->y - 12, 0.6, 1);
    text_centered(img, xlabel, a->x + a->w / 2, a->y + a->h + 45, 0.5, 1);
    int w, h;
    fer_text_size(ylabel, 0.5, 1, &w, &h);
    fer_draw_text_vertical(img, ylabel, a->x - 75, a->y + a->h / 2 - w / 2, 0.5, black, 1);
}

static void draw_series(fer_image *img, const axis *a, const fer_history_row *rows, int n,
                        size_t field, fer_rgb c)
{
    float xs[4096] = {0}, ys[4096] = {0};
    int m = 0;
    for (int i = 0; i < n && m < 4096; i++) {
        float v = *(const float *)((const char *)&rows[i] + field);
        if (v < 0)
            continue;
        xs[m] = px(a, rows[i].epoch);
        ys[m] = py(a, v);
        m++;
    }
    fer_draw_polyline(img, xs, ys, m, c, 2);
    for (int i = 0; i < m && m <= 60; i++)
        fer_draw_circle(img, (int)xs[i], (int)ys[i], 3, c, -1);
}

/* A legend whose right edge is at right: as wide as its longer label. */
static void legend(fer_image *img, int right, int y, const char *a, const char *b)
{
    int wa, wb, h;
    fer_text_size(a, 0.45, 1, &wa, &h);
    fer_text_size(b, 0.45, 1, &wb, &h);
    const int w = 44 + (wa > wb ? wa : wb) + 10, x = right - w;
    fer_draw_rect(img, x, y, w, 52, white, -1);
    fer_draw_rect(img, x, y, w, 52, grid, 1);
    fer_draw_line(img, (float)x + 8, (float)y + 16, (float)x + 36, (float)y + 16, blue, 2);
    fer_draw_text(img, a, x + 44, y + 21, 0.45, black, 1);
    fer_draw_line(img, (float)x + 8, (float)y + 38, (float)x + 36, (float)y + 38, orange, 2);
    fer_draw_text(img, b, x + 44, y + 43, 0.45, black, 1);
}

int fer_plot_curves(const char *path, const fer_history_row *rows, int n, const char *title,
                    const char *train_loss, fer_error *err)
{
    fer_image img = {0};
    int rc = fer_image_alloc(&img, 1280, 560, 3);
    if (rc < 0)
        return fer_fail(err, rc, "%s: cannot allocate the figure", path);
    fer_draw_rect(&img, 0, 0, img.w, img.h, white, -1);
    text_centered(&img, title, img.w / 2, 30, 0.7, 2);

    double lo_acc = 1.0, hi_acc = 0.0, hi_loss = 0.0, lo_loss = 1e30;
    for (int i = 0; i < n; i++) {
        const float acc[2] = {rows[i].train_acc, rows[i].val_acc};
        const float loss[2] = {rows[i].train_loss, rows[i].val_loss};
        for (int j = 0; j < 2; j++) {
            if (acc[j] >= 0) {
                lo_acc = fmin(lo_acc, acc[j]);
                hi_acc = fmax(hi_acc, acc[j]);
            }
            if (loss[j] >= 0) {
                lo_loss = fmin(lo_loss, loss[j]);
                hi_loss = fmax(hi_loss, loss[j]);
            }
        }
    }
    if (hi_acc < lo_acc)
        lo_acc = 0.0, hi_acc = 1.0;
    if (hi_loss < lo_loss)
        lo_loss = 0.0, hi_loss = 1.0;
    double pad_a = fmax(0.02, (hi_acc - lo_acc) * 0.08), pad_l = fmax(0.02, (hi_loss - lo_loss) * 0.08);
    double xmax = n > 1 ? rows[n - 1].epoch : 2;
    axis acc = {110, 80, 480, 380, n ? rows[0].epoch : 1, xmax, fmax(0.0, lo_acc - pad_a), fmin(1.0, hi_acc + pad_a)};
    axis los = {760, 80, 480, 380, acc.x0, xmax, fmax(0.0, lo_loss - pad_l), hi_loss + pad_l};
    if (acc.x1 <= acc.x0)
        acc.x1 = los.x1 = acc.x0 + 1;
    draw_axes(&img, &acc, "Accuracy", "epoch", "accuracy", 1);
    draw_axes(&img, &los, "Loss", "epoch", "loss", 0);
    draw_series(&img, &acc, rows, n, offsetof(fer_history_row, train_acc), blue);
    draw_series(&img, &acc, rows, n, offsetof(fer_history_row, val_acc), orange);
    draw_series(&img, &los, rows, n, offsetof(fer_history_row, train_loss), blue);
    draw_series(&img, &los, rows, n, offsetof(fer_history_row, val_loss), orange);
    legend(&img, acc.x + acc.w - 10, acc.y + acc.h - 62, "train", "validation");
    legend(&img, los.x + los.w - 10, los.y + 10, train_loss ? train_loss : "train",
           "validation: cross-entropy");
    rc = fer_image_write(&img, path, err);
    fer_image_free(&img);
    return rc;
}

/* White -> dark blue, like matplotlib's Blues. */
static fer_rgb blues(double v)
{
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return FER_RGB(247 - (int)(239 * v), 251 - (int)(203 * v), 255 - (int)(148 * v));
}

int fer_plot_confusion(const char *path, const fer_confusion *c,
                       const char names[][FER_MAX_CLASS_NAME], const char *title, fer_error *err)
{
    const int k = c->nclasses, cell = 78, left = 150, top = 90;
    const int wpx = left + k * cell + 40, hpx = top + k * cell + 110;
    fer_image img = {0};
    int rc = fer_image_alloc(&img, wpx, hpx, 3);
    if (rc < 0)
        return fer_fail(err, rc, "%s: cannot allocate the figure", path);
    fer_draw_rect(&img, 0, 0, img.w, img.h, white, -1);
    text_centered(&img, title, wpx / 2, 34, 0.65, 2);
    text_centered(&img, "rows: true class, normalised; cells: fraction (count)", wpx / 2, 62, 0.42, 1);
    char buf[48];
    for (int i = 0; i < k; i++) {
        long long row = 0;
        for (int j = 0; j < k; j++)
            row += c->m[i][j];
        for (int j = 0; j < k; j++) {
            double v = row ? (double)c->m[i][j] / (double)row : 0.0;
            int x = left + j * cell, y = top + i * cell;
            fer_draw_rect(&img, x, y, cell, cell, blues(v), -1);
            fer_rgb ink = v > 0.5 ? white : black;
            snprintf(buf, sizeof buf, "%.2f", v);
            int w, h;
            fer_text_size(buf, 0.55, 1, &w, &h);
            fer_draw_text(&img, buf, x + (cell - w) / 2, y + cell / 2, 0.55, ink, 1);
            snprintf(buf, sizeof buf, "(%lld)", c->m[i][j]);
            fer_text_size(buf, 0.4, 1, &w, &h);
            fer_draw_text(&img, buf, x + (cell - w) / 2, y + cell / 2 + 20, 0.4, ink, 1);
        }
        int w, h;
        fer_text_size(names[i], 0.5, 1, &w, &h);
        fer_draw_text(&img, names[i], left - w - 10, top + i * cell + cell / 2 + h / 2, 0.5, black, 1);
        fer_text_size(names[i], 0.5, 1, &w, &h);
        fer_draw_text_vertical(&img, names[i], left + i * cell + cell / 2 - h / 2 - 2,
                               top + k * cell + 8, 0.5, black, 1);
    }
    fer_draw_rect(&img, left, top, k * cell, k * cell, black, 1);
    text_centered(&img, "predicted", left + k * cell / 2, hpx - 8, 0.5, 1);
    fer_draw_text_vertical(&img, "true", 12, top + k * cell / 2 - 20, 0.5, black, 1);
    rc = fer_image_write(&img, path, err);
    fer_image_free(&img);
    return rc;
}

int fer_plot_reliability(const char *path, const fer_reliability *r, const char *title,
                         fer_error *err)
{
    fer_image img = {0};
    int rc = fer_image_alloc(&img, 760, 720, 3);
    if (rc < 0)
        return fer_fail(err, rc, "%s: cannot allocate the figure", path);
    fer_draw_rect(&img, 0, 0, img.w, img.h, white, -1);
    text_centered(&img, title, img.w / 2, 30, 0.6, 2);
    char sub[96];
    snprintf(sub, sizeof sub, "ECE %.4f over %d equal-width bins", fer_reliability_ece(r),
             FER_RELIABILITY_BINS);
    text_centered(&img, sub, img.w / 2, 56, 0.45, 1);
    axis acc = {110, 90, 600, 420, 0.0, 1.0, 0.0, 1.0};
    axis share = {110, 590, 600, 60, 0.0, 1.0, 0.0, 1.0};
    draw_axes(&img, &acc, "", "", "accuracy", 1);
    long long n = 0, most = 1;
    for (int b = 0; b < FER_RELIABILITY_BINS; b++) {
        n += r->count[b];
        most = r->count[b] > most ? r->count[b] : most;
    }
    const double w = 1.0 / FER_RELIABILITY_BINS;
    for (int b = 0; b < FER_RELIABILITY_BINS; b++) {
        if (!r->count[b])
            continue;
        double a = (double)r->correct[b] / (double)r->count[b];
        double c = r->conf_sum[b] / (double)r->count[b];
        int x0 = (int)px(&acc, b * w) + 2, x1 = (int)px(&acc, (b + 1) * w) - 2;
        int ya = (int)py(&acc, a), yc = (int)py(&acc, c), yb = (int)py(&acc, 0.0);
        fer_draw_rect(&img, x0, ya, x1 - x0, yb - ya, blue, -1);
        /* The mean confidence: where the bar would end if calibrated. */
        fer_draw_line(&img, (float)x0, (float)yc, (float)x1, (float)yc, orange, 3);
        int hs = (int)((double)r->count[b] / (double)most * share.h);
        fer_draw_rect(&img, x0, share.y + share.h - hs, x1 - x0, hs, grid, -1);
        fer_draw_rect(&img, x0, share.y + share.h - hs, x1 - x0, hs, blue, 1);
    }
    fer_draw_line(&img, px(&acc, 0.0), py(&acc, 0.0), px(&acc, 1.0), py(&acc, 1.0), black, 1);
    fer_draw_rect(&img, share.x, share.y, share.w, share.h, black, 1);
    text_centered(&img, "confidence of the top class", acc.x + acc.w / 2, share.y - 24, 0.5, 1);
    snprintf(sub, sizeof sub, "predictions per bin (%lld in all, tallest bar %lld)", n, most);
    text_centered(&img, sub, share.x + share.w / 2, share.y + share.h + 22, 0.42, 1);
    fer_draw_rect(&img, acc.x + 10, acc.y + 10, 190, 52, white, -1);
    fer_draw_rect(&img, acc.x + 10, acc.y + 10, 190, 52, grid, 1);
    fer_draw_rect(&img, acc.x + 18, acc.y + 20, 28, 12, blue, -1);
    fer_draw_text(&img, "accuracy", acc.x + 54, acc.y + 31, 0.45, black, 1);
    fer_draw_line(&img, (float)acc.x + 18, (float)acc.y + 48, (float)acc.x + 46,
                  (float)acc.y + 48, orange, 3);
    fer_draw_text(&img, "mean confidence", acc.x + 54, acc.y + 53, 0.45, black, 1);
    rc = fer_image_write(&img, path, err);
    fer_image_free(&img);
    return rc;
}
