/*
 * result_json.h — the RESULT object of docs/RESULT_SCHEMA.md: encoder and
 * decoder of fer_frame_result, shared by the daemon, the client library and
 * `fer classify`.
 *
 * proto/ depends on cJSON and libferutil (src/util: errors) alone, so a client
 * never pulls in OpenCV or OpenBLAS.
 */
#ifndef FER_PROTO_RESULT_JSON_H
#define FER_PROTO_RESULT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "types/result.h"
#include "util/error.h"

/* Longest RESULT line the decoder accepts (16 faces of 32 long class names fit). */
#define FER_RESULT_JSON_MAX 65536

enum {
    FER_JSON_NO_SCORES = 1 << 0, /* omit each face's "scores" object */
};

/* The RESULT object for r (flags: FER_JSON_*); NULL only when out of memory. The
 * caller may add fields (`fer classify` adds "path") and owns the object. */
cJSON *fer_result_to_cjson(const fer_frame_result *r, unsigned flags);

/* Adds face f's members (id, box, label, prob, scores, smoothed, new,
 * changed_from: the schema's Face) to o, for a record that is not a RESULT
 * (`fer analyze`). 0 or -ENOMEM. */
int fer_face_add_to_cjson(cJSON *o, const fer_frame_result *r, const fer_face_result *f,
                          unsigned flags);

/* r as one line of JSON, no newline, in *out (malloc'd; free() it). -ENOMEM. */
int fer_result_to_json(const fer_frame_result *r, unsigned flags, char **out, fer_error *err);

/*
 * Decodes a RESULT object. Unknown keys are ignored; optional keys may be absent
 * (see the schema). The class table r->classes is built from the first face's
 * "scores" keys, in order, then from any other names met, so indices refer to it.
 * Errors: FER_E_PROTO with a message naming the offending key.
 */
int fer_result_from_cjson(fer_frame_result *r, const cJSON *obj, fer_error *err);
/* The same from text (len bytes, at most FER_RESULT_JSON_MAX), through the gate of
 * every daemon line (fer_json_parse_object): one object, valid UTF-8, no NUL. */
int fer_result_from_json(fer_frame_result *r, const char *text, size_t len, fer_error *err);

/* "2026-11-28T10:00:00.123Z" for wall_ms (ms since the epoch, UTC) into buf (>= 25
 * bytes). Returns 0, or -EINVAL if the time is outside years 0000..9999. */
int fer_time_format(int64_t wall_ms, char *buf, size_t n);
/* Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" to ms since the
 * epoch (fraction truncated to ms). Returns 0 or -EINVAL. */
int fer_time_parse(const char *s, int64_t *wall_ms);

#endif
