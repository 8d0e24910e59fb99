/*
 * annotate.c — planning and drawing annotations with draw.h (the OpenCV
 * drawing shim); the policy is in annotate.h.
 *
 * The plan is greedy, which is enough for the handful of faces a frame has:
 * faces in result order (largest first), all tags before any panel, each
 * element at the free spot nearest its face — spots on an 8-pixel grid around
 * the face, tried in order of their distance from its box (a tag preferring
 * above, then below; a panel right, left, below, above), where free means
 * inside the image, meeting nothing placed so far and no other face's box
 * (grown by its outline). A tag may sit inside its own face's box as a last
 * resort; a panel never covers its own face. Text sizes come from
 * fer_text_size, so the plan matches the drawing pixel for pixel. Sizes follow
 * the image size, so a 512 px still and a 1080p frame both stay legible.
 */
#include "vision/annotate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/draw.h"

/* Gap between a face's box and its panel, pixels. */
#define GAP 4
/* Grid of the spots tried, pixels, and how many of the nearest are tried. */
#define STEP 8
#define MAX_TRIED 400
/* Rows of a panel shown when the full one does not fit. */
#define COMPACT_ROWS 3

/* A colour per FER2013 class name, else from a small palette. */
static fer_rgb class_colour(const char *name, int index)
{
    static const struct {
        const char *name;
        fer_rgb c;
    } named[] = {
        {"angry", {40, 40, 230}},    {"disgust", {40, 160, 60}}, {"fear", {170, 60, 150}},
        {"happy", {30, 210, 250}},   {"sad", {200, 120, 40}},    {"surprise", {20, 140, 255}},
        {"neutral", {190, 190, 190}},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(name, named[i].name) == 0)
            return named[i].c;
    static const fer_rgb palette[] = {{255, 128, 0}, {0, 200, 255}, {255, 0, 200}, {0, 255, 128}};
    return palette[(unsigned)index % (sizeof palette / sizeof palette[0])];
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The image-dependent sizes every element derives from. */
typedef struct metrics {
    double scale;   /* base text scale */
    int thick;      /* text stroke */
    int border;     /* face box outline */
} metrics;

static metrics metrics_of(int w, int h)
{
    metrics m;
    int side = w < h ? w : h;
    m.scale = side / 900.0;
    m.scale = m.scale < 0.4 ? 0.4 : m.scale > 1.2 ? 1.2 : m.scale;
    m.thick = side >= 700 ? 2 : 1;
    m.border = side >= 400 ? 3 : 2;
    return m;
}

static int overlaps(fer_box a, fer_box b)
{
    return a.w > 0 && a.h > 0 && b.w > 0 && b.h > 0 && a.x < b.x + b.w && b.x < a.x + a.w &&
           a.y < b.y + b.h && b.y < a.y + a.h;
}

static fer_box grow(fer_box b, int d)
{
    return (fer_box){b.x - d, b.y - d, b.w + 2 * d, b.h + 2 * d};
}

/* What the plan has placed so far, and the faces' boxes. */
typedef struct board {
    int w, h, border;
    const fer_frame_result *r;
    fer_box placed[2 * FER_RESULT_MAX_FACES];
    int nplaced;
} board;

/* 1 if b fits: inside the image, clear of everything placed and of every face's
 * box except own's (own_ok: the tag's last resort) and those that meet own's —
 * own's box is an obstacle too when !own_ok. */
static int fits(const board *bd, fer_box b, int own, int own_ok)
{
    if (b.w <= 0 || b.h <= 0 || b.x < 0 || b.y < 0 || b.x + b.w > bd->w || b.y + b.h > bd->h)
        return 0;
    for (int i = 0; i < bd->nplaced; i++)
        if (overlaps(b, bd->placed[i]))
            return 0;
    const fer_box mine = bd->r->faces[own].box;
    for (int i = 0; i < bd->r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        if (i == own && own_ok)
            continue;
        /* A face whose box meets this one's (a detector's box nested in or
         * overlapping another) cannot be kept clear of: only the rest are. */
        if (i != own && overlaps(mine, bd->r->faces[i].box))
            continue;
        if (overlaps(b, grow(bd->r->faces[i].box, bd->border)))
            return 0;
    }
    return 1;
}

static void take(board *bd, fer_box b)
{
    if (bd->nplaced < (int)(sizeof bd->placed / sizeof bd->placed[0]))
        bd->placed[bd->nplaced++] = b;
}

/* A candidate spot: where, and how far from its face (smaller is tried first). */
typedef struct spot {
    fer_box b;
    int cost;
} spot;

static int by_cost(const void *a, const void *b)
{
    const spot *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->b.y != y->b.y)
        return x->b.y < y->b.y ? -1 : 1;
    return (x->b.x > y->b.x) - (x->b.x < y->b.x);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The positions in [lo, hi] that lie on a STEP grid through one of the four
 * anchors, sorted and without repeats, into out (room for max); how many. */
static int anchored(const int anchor[4], int lo, int hi, int *out, int max)
{
    int n = 0;
    for (int a = 0; a < 4; a++) {
        int v = anchor[a] - ((anchor[a] - lo) / STEP) * STEP;
        if (v < lo)
            v += STEP;
        for (; v <= hi && n < max; v += STEP)
            out[n++] = v;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_int);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || out[i] != out[u - 1])
            out[u++] = out[i];
    return u;
}

/* Side ranks: what a tag and a panel prefer when two spots are as near. */
enum { SIDE_ABOVE, SIDE_BELOW, SIDE_RIGHT, SIDE_LEFT };

/*
 * The nearest free w x h spot around face i (not on its box: near = touching it
 * with gap pixels between, or further), trying sides in the order rank gives
 * them. 1 and *out if found. Spots lie on a grid up to a spot's size away.
 */
static int nearest_spot(const board *bd, int i, int w, int h, int gap, const int rank[4],
                        fer_box *out)
{
    const fer_box b = bd->r->faces[i].box;
    int reach = (w > h ? w : h) / 2 + gap;
    int x0 = b.x - w - reach, x1 = b.x + b.w + reach, y0 = b.y - h - reach,
        y1 = b.y + b.h + reach;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > bd->w - w ? bd->w - w : x1;
    y1 = y1 > bd->h - h ? bd->h - h : y1;
    if (x1 < x0 || y1 < y0)
        return 0;
    /* Positions on 8-pixel grids anchored where a spot touches the face or lines
     * up with its edges, so the nearest spots are exactly tried. */
    const int ax[4] = {b.x - gap - w, b.x + b.w + gap, b.x, b.x + b.w - w};
    const int ay[4] = {b.y - gap - h, b.y + b.h + gap, b.y, b.y + b.h - h};
    int xs[512], ys[512];
    int nx = anchored(ax, x0, x1, xs, 512), ny = anchored(ay, y0, y1, ys, 512);
    spot *sp = malloc(sizeof *sp * (size_t)(nx > 0 ? nx : 1) * (size_t)(ny > 0 ? ny : 1));
    if (!sp)
        return 0;
    int n = 0;
    const fer_box own = grow(b, gap);
    for (int yi = 0; yi < ny; yi++) {
        int y = ys[yi];
        for (int xi = 0; xi < nx; xi++) {
            int x = xs[xi];
            fer_box c = {x, y, w, h};
            if (overlaps(c, own))
                continue;
            int dx = b.x - (x + w) > x - (b.x + b.w) ? b.x - (x + w) : x - (b.x + b.w);
            int dy = b.y - (y + h) > y - (b.y + b.h) ? b.y - (y + h) : y - (b.y + b.h);
            dx = dx < 0 ? 0 : dx;
            dy = dy < 0 ? 0 : dy;
            int side = y + h <= b.y ? SIDE_ABOVE : y >= b.y + b.h ? SIDE_BELOW
                       : x >= b.x + b.w ? SIDE_RIGHT : SIDE_LEFT;
            sp[n++] = (spot){c, (dx + dy) * 8 + rank[side]};
        }
    }
    qsort(sp, (size_t)n, sizeof *sp, by_cost);
    /* The nearest MAX_TRIED only: further ones would leave the face too far
     * behind to read as its own (and a crowded frame would cost milliseconds). */
    int found = 0;
    for (int k = 0; k < n && k < MAX_TRIED && !found; k++) {
        if (fits(bd, sp[k].b, i, 0)) {
            *out = sp[k].b;
            found = 1;
        }
    }
    free(sp);
    return found;
}

/* ---- the tag ---- */

static const char *class_name(const fer_frame_result *r, int c)
{
    return c >= 0 && c < r->nclasses ? r->classes[c] : "?";
}

static void tag_text(const fer_frame_result *r, const fer_face_result *f, unsigned flags,
                     char *buf, size_t n)
{
    int smoothed = (flags & FER_ANNOTATE_SMOOTHED) != 0;
    int label = smoothed ? f->smoothed_label : f->label;
    float prob = smoothed ? f->smoothed_prob : f->prob;
    const char *what = smoothed ? " smoothed" : (flags & FER_ANNOTATE_RAW) ? " raw" : "";
    if (f->id > 0)
        snprintf(buf, n, "%s %.2f%s #%d", class_name(r, label), (double)prob, what, f->id);
    else
        snprintf(buf, n, "%s %.2f%s", class_name(r, label), (double)prob, what);
}

/* The tag's box for text at scale (padding included). */
static void tag_size(const char *text, double scale, int thick, int *w, int *h)
{
    int tw, th;
    fer_text_size(text, scale, thick, &tw, &th);
    int pad = th / 3 + 2;
    *w = tw + 2 * pad;
    *h = th + 2 * pad;
}

static int place_tag(board *bd, int i, const char *text, const metrics *m,
                     fer_annotate_place *pl)
{
    static const int rank[4] = {0, 1, 2, 3}; /* above, below, right, left */
    const fer_box b = bd->r->faces[i].box;
    const int bt = bd->border;
    for (double s = m->scale; s >= 0.3; s *= 0.75) {
        int w, h;
        tag_size(text, s, m->thick, &w, &h);
        fer_box spot_box;
        if (nearest_spot(bd, i, w, h, bt, rank, &spot_box)) {
            pl->tag = spot_box;
            pl->tag_scale = s;
            take(bd, spot_box);
            return 1;
        }
        /* Last resort: inside its own box's top. */
        fer_box inside = {clampi(b.x + bt, 0, bd->w - w > 0 ? bd->w - w : 0),
                          clampi(b.y + bt, 0, bd->h - h > 0 ? bd->h - h : 0), w, h};
        if (w <= b.w && fits(bd, inside, i, 1)) {
            pl->tag = inside;
            pl->tag_scale = s;
            take(bd, inside);
            return 1;
        }
    }
    return 0;
}

/* ---- the panel ---- */

typedef struct panel_geom {
    int name_w, num_w, th, row, bar_max, header;
} panel_geom;

/* The panel's first row: which face it belongs to ("#3", when the panel had to
 * go away from its face) and, next to a smoothed tag, that the bars are this
 * frame's. Empty: no header row. */
static void panel_header(const fer_face_result *f, unsigned flags, char *buf, size_t n)
{
    const int smoothed = (flags & FER_ANNOTATE_SMOOTHED) != 0;
    if (f->id > 0)
        snprintf(buf, n, "#%d%s", f->id, smoothed ? " this frame:" : " scores:");
    else
        snprintf(buf, n, "%s", smoothed ? "this frame:" : "");
}

static void panel_geometry(const fer_frame_result *r, double scale, int thick,
                           const char *header, panel_geom *g, int *w)
{
    int tw, th;
    g->name_w = 0;
    for (int c = 0; c < r->nclasses; c++) {
        fer_text_size(r->classes[c], scale, thick, &tw, &th);
        g->name_w = tw > g->name_w ? tw : g->name_w;
    }
    fer_text_size("0.00", scale, thick, &g->num_w, &th);
    fer_text_size("Xg", scale, thick, &tw, &g->th);
    g->row = g->th + g->th / 2 + 2;
    g->bar_max = g->name_w > 30 ? g->name_w : 30;
    g->header = header[0] != '\0';
    *w = 3 + g->name_w + 5 + g->bar_max + 5 + g->num_w + 4;
    if (g->header) {
        fer_text_size(header, scale, thick, &tw, &th);
        if (tw + 6 > *w)
            *w = tw + 6;
    }
}

static int panel_height(const panel_geom *g, int rows)
{
    return g->row * (rows + (g->header ? 1 : 0)) + 4;
}

static int place_panel(board *bd, int i, const metrics *m, unsigned flags,
                       fer_annotate_place *pl)
{
    static const int rank[4] = {3, 2, 0, 1}; /* right, left, below, above */
    const fer_frame_result *r = bd->r;
    char header[48];
    panel_header(&r->faces[i], flags, header, sizeof header);
    int compact = r->nclasses > COMPACT_ROWS ? COMPACT_ROWS : r->nclasses;
    /* Full panel, then the top classes, each at shrinking sizes. */
    const struct {
        double f;
        int rows;
    } tries[] = {{1.0, r->nclasses}, {1.0, compact}, {0.75, r->nclasses}, {0.75, compact},
                 {0.6, compact}};
    for (size_t t = 0; t < sizeof tries / sizeof tries[0]; t++) {
        double s = m->scale * tries[t].f;
        panel_geom g;
        int w;
        panel_geometry(r, s, m->thick, header, &g, &w);
        int h = panel_height(&g, tries[t].rows);
        fer_box spot_box;
        if (nearest_spot(bd, i, w, h, GAP + bd->border, rank, &spot_box)) {
            pl->panel = spot_box;
            pl->panel_scale = s;
            pl->panel_rows = tries[t].rows;
            /* Kept GAP away from the next panels, so two never read as one table. */
            take(bd, (fer_box){spot_box.x - GAP, spot_box.y - GAP, spot_box.w + 2 * GAP,
                               spot_box.h + 2 * GAP});
            return 1;
        }
    }
    return 0;
}

void fer_annotate_plan(int w, int h, const fer_frame_result *r, unsigned flags,
                       fer_annotate_place *places)
{
    int n = r->nfaces < FER_RESULT_MAX_FACES ? r->nfaces : FER_RESULT_MAX_FACES;
    memset(places, 0, sizeof *places * (size_t)(n > 0 ? n : 0));
    if (w <= 0 || h <= 0)
        return;
    metrics m = metrics_of(w, h);
    board bd;
    memset(&bd, 0, sizeof bd);
    bd.w = w;
    bd.h = h;
    bd.border = m.border;
    bd.r = r;
    for (int i = 0; i < n; i++) {
        char text[96];
        tag_text(r, &r->faces[i], flags, text, sizeof text);
        place_tag(&bd, i, text, &m, &places[i]);
    }
    if ((flags & FER_ANNOTATE_NO_BARS) || !r->has_scores || r->nclasses <= 0)
        return;
    for (int i = 0; i < n; i++)
        place_panel(&bd, i, &m, flags, &places[i]);
}

/* ---- drawing ---- */

static void draw_panel(fer_image *img, const fer_frame_result *r, const fer_face_result *f,
                       const fer_annotate_place *pl, int thick, unsigned flags, fer_rgb col)
{
    panel_geom g;
    int w;
    char header[48];
    panel_header(f, flags, header, sizeof header);
    panel_geometry(r, pl->panel_scale, thick, header, &g, &w);
    const fer_box p = pl->panel;
    fer_draw_rect(img, p.x, p.y, p.w, p.h, FER_RGB(20, 20, 20), -1);
    /* Outlined in its face's colour: the panel and its face belong together. */
    fer_draw_rect(img, p.x, p.y, p.w, p.h, col, 1);
    /* Rows: every class in the model's order, or the top ones by score. */
    int order[FER_RESULT_MAX_CLASSES];
    for (int c = 0; c < r->nclasses; c++)
        order[c] = c;
    if (pl->panel_rows < r->nclasses) {
        for (int a = 0; a < r->nclasses; a++)
            for (int b = a + 1; b < r->nclasses; b++)
                if (f->scores[order[b]] > f->scores[order[a]]) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
    }
    int y = p.y + 2;
    if (g.header) {
        fer_draw_text(img, header, p.x + 3, y + g.th + 1, pl->panel_scale,
                      FER_RGB(160, 160, 160), thick);
        y += g.row;
    }
    for (int k = 0; k < pl->panel_rows && k < r->nclasses; k++, y += g.row) {
        int c = order[k];
        fer_draw_text(img, r->classes[c], p.x + 3, y + g.th + 1, pl->panel_scale,
                      FER_RGB(235, 235, 235), thick);
        int len = (int)(f->scores[c] * (float)g.bar_max + 0.5f);
        int bx = p.x + 3 + g.name_w + 5;
        if (len > 0)
            fer_draw_rect(img, bx, y + 2, len, g.th, class_colour(r->classes[c], c), -1);
        char num[16];
        snprintf(num, sizeof num, "%.2f", (double)f->scores[c]);
        fer_draw_text(img, num, bx + g.bar_max + 5, y + g.th + 1, pl->panel_scale,
                      FER_RGB(235, 235, 235), thick);
    }
}

void fer_annotate(fer_image *img, const fer_frame_result *r, unsigned flags)
{
    if (!img || !img->data || !r)
        return;
    metrics m = metrics_of(img->w, img->h);
    fer_annotate_place places[FER_RESULT_MAX_FACES];
    fer_annotate_plan(img->w, img->h, r, flags, places);
    int n = r->nfaces < FER_RESULT_MAX_FACES ? r->nfaces : FER_RESULT_MAX_FACES;
    for (int i = 0; i < n; i++) {
        const fer_face_result *f = &r->faces[i];
        int label = (flags & FER_ANNOTATE_SMOOTHED) ? f->smoothed_label : f->label;
        fer_rgb col = class_colour(class_name(r, label), label);
        fer_draw_rect(img, f->box.x, f->box.y, f->box.w, f->box.h, col, m.border);
    }
    for (int i = 0; i < n; i++) {
        const fer_face_result *f = &r->faces[i];
        const fer_annotate_place *pl = &places[i];
        int label = (flags & FER_ANNOTATE_SMOOTHED) ? f->smoothed_label : f->label;
        fer_rgb col = class_colour(class_name(r, label), label);
        if (pl->tag.w > 0) {
            char text[96];
            tag_text(r, f, flags, text, sizeof text);
            int tw, th;
            fer_text_size(text, pl->tag_scale, m.thick, &tw, &th);
            int pad = th / 3 + 2;
            fer_draw_rect(img, pl->tag.x, pl->tag.y, pl->tag.w, pl->tag.h, col, -1);
            fer_draw_text(img, text, pl->tag.x + pad, pl->tag.y + pad + th, pl->tag_scale,
                          FER_RGB(0, 0, 0), m.thick);
        }
        if (pl->panel.w > 0)
            draw_panel(img, r, f, pl, m.thick, flags, col);
    }
}
