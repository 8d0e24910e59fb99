/*
 * frame.h — one captured frame: its pixels and when it was taken.
 *
 * Sources fill it, the pipeline reads it. The image is owned by whoever owns the
 * struct; sources write into it and reallocate only when the frame size changes,
 * so a steady stream allocates nothing per frame.
 */
#ifndef FER_FRAME_H
#define FER_FRAME_H

#include <stdint.h>

#include "cv/image.h"

typedef struct fer_frame {
    fer_image img;     /* BGR (3 channels) or grey (1) */
    uint64_t seq;      /* from 1 over the life of a source, across loops and reopens */
    int64_t wall_ms;   /* capture time, ms since the Unix epoch (CLOCK_REALTIME) */
    uint64_t mono_ns;  /* capture time, CLOCK_MONOTONIC ns */
} fer_frame;

/* Frees the pixels and zeroes the struct; accepts NULL. */
void fer_frame_free(fer_frame *f);

/* Stamps f with the current wall and monotonic clocks. */
void fer_frame_stamp(fer_frame *f);

#endif
