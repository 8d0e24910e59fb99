/*
 * ferctl_format.h — ferctl's human-readable renderings of the daemon's
 * objects. Pure functions onto a FILE, so the tests render into memory.
 */
#ifndef FERCTL_FORMAT_H
#define FERCTL_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include "proto/protocol.h"

/* The local wall-clock time of wall_ms as "HH:MM:SS.mmm" (buf >= 16 bytes). */
void ferctl_format_clock(int64_t wall_ms, char *buf, size_t n);

/* A face's label and probability as ferctl shows it: the smoothed label (what a
 * person watching would call the expression), the raw one when no smoothing is known. */
const char *ferctl_face_label(const fer_frame_result *r, const fer_face_result *f, float *prob);

/*
 * `ferctl watch`: one line per face of r. A frame without faces prints one
 * "no face" line when the frame before it had faces (or at the start), so an
 * empty scene does not flood the terminal. *last_nfaces carries that state
 * between calls; start it at -1.
 */
void ferctl_print_result(FILE *f, const fer_frame_result *r, int *last_nfaces);

/* `ferctl watch --events`: one line per FACE event. */
void ferctl_print_face_event(FILE *f, const fer_face_event *ev);

/* `ferctl snapshot`: the frame, each face with its scores. */
void ferctl_print_snapshot(FILE *f, const fer_frame_result *r);

/* `ferctl status`: a summary, one topic per line. */
void ferctl_print_status(FILE *f, const fer_status_msg *s);

/* `ferctl reload`: the model now serving and the keys that need a restart. */
void ferctl_print_reload(FILE *f, const fer_reload_msg *r);

#endif
