/*
 * draw.h — drawing on a fer_image (lines, rectangles, text), through OpenCV.
 *
 * Used for the training plots (curves.png, confusion.png) and for annotated
 * frames (boxes and labels on faces). Colours are BGR byte triples; on a grey
 * image the first component is used. Coordinates are pixels, origin top-left;
 * anything outside the image is clipped. The C++ lives in draw.cpp, which
 * catches every exception; drawing failures are not worth an error code, so
 * these functions return nothing and draw nothing if OpenCV throws.
 */
#ifndef FER_DRAW_H
#define FER_DRAW_H

#include "cv/image.h"

typedef struct fer_rgb {
    uint8_t b, g, r;
} fer_rgb;

#define FER_RGB(r_, g_, b_) ((fer_rgb){(uint8_t)(b_), (uint8_t)(g_), (uint8_t)(r_)})

void fer_draw_line(fer_image *img, float x0, float y0, float x1, float y1, fer_rgb c,
                   int thickness);
/* A polyline through n points xs/ys, anti-aliased. */
void fer_draw_polyline(fer_image *img, const float *xs, const float *ys, int n, fer_rgb c,
                       int thickness);
/* Rectangle outline (thickness > 0) or filled (thickness < 0). */
void fer_draw_rect(fer_image *img, int x, int y, int w, int h, fer_rgb c, int thickness);
void fer_draw_circle(fer_image *img, int x, int y, int radius, fer_rgb c, int thickness);

/* Text with its baseline-left corner at (x, y). scale 1.0 ≈ 22 px tall (Hershey simplex). */
void fer_draw_text(fer_image *img, const char *text, int x, int y, double scale, fer_rgb c,
                   int thickness);
/* Size of text as drawn: width and height above the baseline, in pixels. */
void fer_text_size(const char *text, double scale, int thickness, int *w, int *h);
/* Text rotated by 90 degrees counter-clockwise (for a y-axis label), its box's
 * top-left corner at (x, y). */
void fer_draw_text_vertical(fer_image *img, const char *text, int x, int y, double scale,
                            fer_rgb c, int thickness);

#endif
