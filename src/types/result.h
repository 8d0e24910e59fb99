/*
 * result.h — one processed frame as the pipeline produces it and the protocol
 * carries it (docs/RESULT_SCHEMA.md): fer_box, fer_face_result,
 * fer_frame_result. Plain C with no dependency at all, and no code: it sits
 * below every layer, so the vision layer fills these structs without knowing
 * the wire format, and proto/ encodes them without knowing vision. The daemon,
 * the client library and `fer classify` share the one struct; the JSON encoder
 * and decoder live in proto/result_json.c.
 */
#ifndef FER_TYPES_RESULT_H
#define FER_TYPES_RESULT_H

#include <stdint.h>

#define FER_RESULT_MAX_FACES 16
#define FER_RESULT_MAX_CLASSES 32
#define FER_RESULT_CLASS_NAME 32
#define FER_RESULT_MAX_ENDED 32     /* tracks that may end in one frame (live tracks at most) */

typedef struct fer_box {
    int x, y, w, h;                 /* pixels in the full frame, origin top-left */
} fer_box;

/* Per-face events of this frame (bit flags). */
enum {
    FER_FACE_NEW = 1 << 0,          /* the track started with this frame */
    FER_FACE_LABEL_CHANGED = 1 << 1 /* the smoothed label differs from the previous frame's */
};

typedef struct fer_face_result {
    int id;                         /* track id: stable across frames, never reused */
    fer_box box;
    int label;                      /* argmax of this frame's scores */
    float prob;                     /* its probability */
    float scores[FER_RESULT_MAX_CLASSES]; /* every class, model order */
    int smoothed_label;             /* argmax of the track's moving average */
    float smoothed_prob;
    int events;                     /* FER_FACE_* */
    int previous_label;             /* smoothed label before a LABEL_CHANGED, else -1 */
} fer_face_result;

typedef struct fer_frame_result {
    uint64_t seq;                   /* frame sequence number from the source, from 1 */
    int64_t wall_ms;                /* capture time, ms since the Unix epoch (UTC) */
    uint64_t mono_ns;               /* capture time, CLOCK_MONOTONIC ns */
    int width, height;              /* frame size */
    double detect_ms, classify_ms, total_ms;
    int nclasses;
    char classes[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    int has_scores;                 /* 1: faces[].scores are filled (the encoder may omit them) */
    int nfaces;
    fer_face_result faces[FER_RESULT_MAX_FACES];
    int nended;                     /* tracks that ended with this frame */
    int ended[FER_RESULT_MAX_ENDED];
} fer_frame_result;

#endif
