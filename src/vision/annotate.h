/*
 * annotate.h — a result drawn onto its frame: each face's box, a tag with its
 * label, probability and track id, and a panel with a bar and the number of
 * every class score. Used by `fer classify --annotate`, `fer analyze
 * --annotate`, ferd's annotated pictures and `ferctl view`.
 *
 * Layout: nothing drawn for one face covers another face or anything drawn
 * for another face (two faces whose boxes themselves overlap — a detector may
 * nest one in another — can only be kept off each other's tags and panels).
 * fer_annotate_plan places the tags first (every face keeps its label if any
 * room is left), then the panels, each at the first of
 * a list of spots around its face that is inside the image and free —
 * shrinking the text, then showing only the top three classes, before giving
 * a panel up. The plan is a function of the image size and the result alone,
 * so it is tested without drawing (tests/test_vision.c).
 *
 * Raw or smoothed: the tag shows the figure the caller's text output leads
 * with and says which (FER_ANNOTATE_SMOOTHED: the track's smoothed label and
 * averaged probability, "smoothed"; FER_ANNOTATE_RAW: this frame's, "raw";
 * neither: this frame's, unmarked, for unrelated still images where there is
 * nothing to smooth). The panel's bars are always this frame's scores; its
 * first row names its face's track ("#3 scores:", or "#3 this frame:" next to
 * a smoothed tag), it is outlined in its face's colour (a panel may have to go
 * some way from its face), and panels keep a gap between them.
 */
#ifndef FER_ANNOTATE_H
#define FER_ANNOTATE_H

#include "cv/image.h"
#include "types/result.h"

enum {
    FER_ANNOTATE_SMOOTHED = 1 << 0, /* the tag shows the smoothed label (video), marked so */
    FER_ANNOTATE_NO_BARS = 1 << 1,  /* no score panels */
    FER_ANNOTATE_RAW = 1 << 2,      /* the tag shows this frame's label, marked "raw" */
};

/* Where one face's annotation goes, in image pixels. */
typedef struct fer_annotate_place {
    fer_box tag;      /* the label tag; w = 0: no room for it anywhere */
    double tag_scale; /* its text scale */
    fer_box panel;    /* the score panel; w = 0: none (no room, or none asked for) */
    double panel_scale;
    int panel_rows;   /* classes shown: all, or the top 3 when room was short */
} fer_annotate_place;

/* Plans r's annotation on a w x h image into places[0 .. r->nfaces). */
void fer_annotate_plan(int w, int h, const fer_frame_result *r, unsigned flags,
                       fer_annotate_place *places);

/* Draws r onto img (BGR or grey, the frame r was computed on) as planned.
 * flags: FER_ANNOTATE_*. */
void fer_annotate(fer_image *img, const fer_frame_result *r, unsigned flags);

#endif
