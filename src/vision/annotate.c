/*
 * annotate.c — drawing results with draw.h (the OpenCV drawing shim).
 *
 * Layout per face: the box in the colour of its label; above it a filled tag
 * "label 87% #id" (below the box's top edge when there is no room above); beside
 * the box, on whichever side has room, one bar per class with its name, the
 * bar's length the score. Sizes follow the image size so a 512 px still and a
 * 1080p frame both stay legible.
 */
#include "vision/annotate.h"

#include <stdio.h>
#include <string.h>

#include "cv/draw.h"

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

static void draw_bars(fer_image *img, const fer_frame_result *r, const fer_face_result *f,
                      double scale, int thick)
{
    int th, tw, name_w = 0;
    for (int c = 0; c < r->nclasses; c++) {
        fer_text_size(r->classes[c], scale * 0.8, thick, &tw, &th);
        name_w = tw > name_w ? tw : name_w;
    }
    fer_text_size("Xg", scale * 0.8, thick, &tw, &th);
    int row = th + th / 2 + 2;
    int bar_max = name_w + 4;
    int panel_w = name_w + 6 + bar_max + 4, panel_h = row * r->nclasses + 4;
    /* Right of the box if it fits, else left, else inside the frame's right edge. */
    int x = f->box.x + f->box.w + 6;
    if (x + panel_w > img->w)
        x = f->box.x - 6 - panel_w;
    if (x < 0)
        x = clampi(img->w - panel_w, 0, img->w);
    int y = clampi(f->box.y, 0, img->h > panel_h ? img->h - panel_h : 0);
    fer_draw_rect(img, x, y, panel_w, panel_h, FER_RGB(20, 20, 20), -1);
    for (int c = 0; c < r->nclasses; c++) {
        int yy = y + 2 + row * c;
        fer_rgb col = class_colour(r->classes[c], c);
        fer_draw_text(img, r->classes[c], x + 3, yy + th + 1, scale * 0.8, FER_RGB(235, 235, 235),
                      thick);
        int len = (int)(f->scores[c] * (float)bar_max + 0.5f);
        if (len > 0)
            fer_draw_rect(img, x + name_w + 8, yy + 2, len, th, col, -1);
    }
}

void fer_annotate(fer_image *img, const fer_frame_result *r, unsigned flags)
{
    if (!img || !img->data || !r)
        return;
    int side = img->w < img->h ? img->w : img->h;
    double scale = side / 900.0;
    scale = scale < 0.4 ? 0.4 : scale > 1.2 ? 1.2 : scale;
    int thick = side >= 700 ? 2 : 1;
    for (int i = 0; i < r->nfaces; i++) {
        const fer_face_result *f = &r->faces[i];
        int label = (flags & FER_ANNOTATE_SMOOTHED) ? f->smoothed_label : f->label;
        float prob = (flags & FER_ANNOTATE_SMOOTHED) ? f->smoothed_prob : f->prob;
        const char *name = label >= 0 && label < r->nclasses ? r->classes[label] : "?";
        fer_rgb col = class_colour(name, label);
        int bt = side >= 400 ? 3 : 2;
        fer_draw_rect(img, f->box.x, f->box.y, f->box.w, f->box.h, col, bt);

        char tag[96];
        if (f->id > 0)
            snprintf(tag, sizeof tag, "%s %d%% #%d", name, (int)(prob * 100.0f + 0.5f), f->id);
        else
            snprintf(tag, sizeof tag, "%s %d%%", name, (int)(prob * 100.0f + 0.5f));
        int tw, th;
        fer_text_size(tag, scale, thick, &tw, &th);
        int pad = th / 3 + 2;
        int ty = f->box.y - th - 2 * pad;
        if (ty < 0)
            ty = f->box.y;
        int tx = clampi(f->box.x, 0, img->w > tw + 2 * pad ? img->w - tw - 2 * pad : 0);
        fer_draw_rect(img, tx, ty, tw + 2 * pad, th + 2 * pad, col, -1);
        fer_draw_text(img, tag, tx + pad, ty + pad + th, scale, FER_RGB(0, 0, 0), thick);
        if (!(flags & FER_ANNOTATE_NO_BARS) && r->has_scores && r->nclasses > 0)
            draw_bars(img, r, f, scale, thick);
    }
}
