/*
 * vision_util.h — shared helpers of the vision tests: a scratch directory per
 * test, the committed face fixture, synthetic frames, and a random-weight model
 * (the trained model does not exist when these tests run, and weights do not
 * matter to what they check).
 */
#ifndef FER_TEST_VISION_UTIL_H
#define FER_TEST_VISION_UTIL_H

#include "cv/image.h"
#include "net/model.h"
#include "types/result.h"

/* mkdtemp under $TMPDIR (or /tmp) into tu_dir; tu_cleanup removes it recursively. */
extern char tu_dir[256];
void tu_setup(void);
void tu_cleanup(void);
/* tu_dir/name in one of four rotating static buffers. */
const char *tu_path(const char *name);
/* $FER_SOURCE_ROOT/rel (meson sets it), in a static buffer. */
const char *tu_source(const char *rel);

/* Writes len bytes to path (asserting). */
void tu_write_bytes(const char *path, const void *bytes, size_t len);

/* tests/fixtures/face.png (a 128x128 public-domain portrait crop, face at about
 * 33,33 75x75) read as BGR. */
fer_image tu_face(void);
/* A w x h BGR frame of a plain grey level. */
fer_image tu_blank(int w, int h, int level);
/* Copies img (BGR) into frame with its top-left corner at (x, y), clipped. */
void tu_paste(fer_image *frame, const fer_image *img, int x, int y);

/* A random-weight model of models/default.arch saved to tu_dir and loaded back for
 * inference with max_batch, as the daemon loads the real one. */
fer_model *tu_random_model(int max_batch);

#endif
