/*
 * serve.h — the daemon's side of protocol v1 (proto/PROTOCOL.md): the request
 * parser and the encoders of every object the daemon sends, plus the base64 of
 * attached pictures. In ferproto for the daemon, its tests and fake servers,
 * and programs that link ferproto statically; not installed, and not exported
 * by libferclient (whose ABI is proto/protocol.h and ferclient.h).
 *
 * The request parser is the one piece of ferd that reads untrusted bytes: a
 * pure function over (line, len), so it is fuzzed on its own
 * (fuzz/fuzz_request.c).
 */
#ifndef FER_PROTO_SERVE_H
#define FER_PROTO_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/protocol.h"

/*
 * Parses one request line of len bytes (a trailing "\n" or "\r\n" is allowed,
 * nothing else after the object). Pure: reads only line[0..len), allocates and
 * frees only inside cJSON. Unknown keys are ignored; absent options take their
 * defaults. Returns 0, or FER_E_PROTO with req->error and err->msg saying why
 * (req->cls is filled whenever a class string was found).
 */
int fer_request_parse(fer_request *req, const char *line, size_t len, fer_error *err);

/*
 * Encoders: one line of JSON without the newline, malloc'd into *out (free()).
 * Each returns 0 or -ENOMEM (-EINVAL for an argument no decoder would accept).
 */
int fer_version_to_json(const fer_version_msg *v, char **out);
int fer_error_to_json(const fer_error_msg *e, char **out);
int fer_watch_to_json(const fer_watch *w, char **out);
int fer_face_event_to_json(const fer_face_event *ev, char **out);
int fer_status_to_json(const fer_status_msg *s, char **out);
int fer_reload_to_json(const fer_reload_msg *r, char **out);
int fer_shutdown_to_json(const char *message, char **out);
int fer_end_to_json(const fer_end_msg *e, char **out);

/*
 * A RESULT line for r (flags: FER_JSON_* of result_json.h), with img attached
 * when not NULL and of a kind other than none, and "ready_ns" when ready_ns is
 * not 0. poll = 1 wraps it as {"class":"POLL","result":{...}}.
 */
int fer_result_msg_to_json(const fer_frame_result *r, unsigned flags, const fer_image_data *img,
                           uint64_t ready_ns, int poll, char **out);

/* Standard base64 (RFC 4648, with padding). Encode: malloc'd NUL-terminated text.
 * Decode: malloc'd bytes; FER_E_PROTO for bad characters or length. */
int fer_base64_encode(const uint8_t *data, size_t len, char **out, size_t *out_len);
int fer_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);

#endif
