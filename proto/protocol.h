/*
 * protocol.h — ferd's socket protocol, version 1 (proto/PROTOCOL.md): the
 * requests a client sends and every object the daemon answers with, as C
 * structs, with one encoder and one decoder for each, shared by the daemon and
 * its clients.
 *
 * The protocol is JSON lines in the manner of gpsd: each line is one object,
 * each object names itself with "class", absent means unknown (never null), and
 * a reader ignores keys it does not know. Requests are small (at most
 * FER_PROTO_MAX_REQUEST bytes with the newline); the daemon's lines are at most
 * FER_PROTO_MAX_RESPONSE bytes, frames attached as base64 JPEG included.
 *
 * Like the rest of proto/ this links cJSON and libferutil and nothing else,
 * and it never logs: a failure returns FER_E_PROTO (malformed input) or
 * -ENOMEM, with a message naming the offending key in the optional fer_error.
 *
 * This header is installed with libferclient and declares the client's side
 * only: the structs, the WATCH defaults, the request encoder, the decoder of
 * the daemon's lines and the wire names. Every function declared here is
 * exported by libferclient (tests/test_client.c checks the list). The
 * daemon's side (request parser, object encoders, base64) is proto/serve.h,
 * inside ferproto and not part of the client ABI.
 */
#ifndef FER_PROTO_PROTOCOL_H
#define FER_PROTO_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "types/result.h"
#include "util/error.h"

#define FER_PROTO_MAJOR 1
#define FER_PROTO_MINOR 1

/* Longest request line a daemon must accept, newline included. */
#define FER_PROTO_MAX_REQUEST 4096
/* Longest line the daemon sends, newline included (a frame as base64 JPEG fits). */
#define FER_PROTO_MAX_RESPONSE (4 * 1024 * 1024)
/* Highest rate a WATCH may ask for, frames per second. */
#define FER_PROTO_MAX_FPS 1000.0

/* ---- requests ---- */

typedef enum fer_req_kind {
    FER_REQ_NONE = 0,
    FER_REQ_WATCH,
    FER_REQ_POLL,
    FER_REQ_STATUS,
    FER_REQ_RELOAD,
} fer_req_kind;

/* Which picture goes with a result. */
typedef enum fer_image_kind {
    FER_IMAGE_NONE = 0,
    FER_IMAGE_JPEG,       /* the frame as captured */
    FER_IMAGE_ANNOTATED,  /* the frame with boxes, labels and probabilities drawn */
} fer_image_kind;

/* A subscription, as requested and as acknowledged (the daemon's caps applied). */
typedef struct fer_watch {
    int enable;           /* 1 subscribe, 0 unsubscribe (1) */
    double max_fps;       /* at most this many messages per second; 0 = every frame (0) */
    double min_prob;      /* leave out faces whose probability is below this (0) */
    int events;           /* 1: FACE events only, no RESULTs (0) */
    int scores;           /* 1: every class score; 0: the top label only (1) */
    fer_image_kind image; /* attach the frame to RESULTs, at most max_fps (none) */
} fer_watch;

/* Why a request line was refused (fer_request.error after FER_E_PROTO). */
typedef enum fer_req_error {
    FER_REQERR_NONE = 0,
    FER_REQERR_JSON,      /* not JSON, not an object, a NUL byte, or too long */
    FER_REQERR_CLASS,     /* "class" missing or not a string */
    FER_REQERR_UNKNOWN,   /* a "class" that names no request */
    FER_REQERR_FIELD,     /* a known field of the wrong type or out of range */
} fer_req_error;

typedef struct fer_request {
    fer_req_kind kind;
    fer_req_error error;  /* after a failed parse */
    char cls[16];         /* the "class" as sent (truncated), "" if none: errors echo it */
    fer_watch watch;      /* WATCH */
    fer_image_kind image; /* POLL: the frame to attach (none) */
    int scores;           /* POLL: every class score (1) */
} fer_request;

/* The defaults of a WATCH with no options. */
void fer_watch_default(fer_watch *w);

/* The request as one line of JSON without the newline, malloc'd into *out. Only
 * options that differ from their defaults are written. 0 or -ENOMEM / -EINVAL. */
int fer_request_to_json(const fer_request *req, char **out);

/* ---- the daemon's objects ---- */

typedef enum fer_msg_kind {
    FER_MSG_UNKNOWN = 0,  /* a class this version does not know: ignore it */
    FER_MSG_VERSION,
    FER_MSG_ERROR,
    FER_MSG_WATCH,
    FER_MSG_RESULT,
    FER_MSG_POLL,
    FER_MSG_FACE,
    FER_MSG_STATUS,
    FER_MSG_RELOAD,
    FER_MSG_SHUTDOWN,
    FER_MSG_END,          /* 1.1: the source ended (a file without loop) */
} fer_msg_kind;

/* Greeting sent on connect. */
typedef struct fer_version_msg {
    char release[32];     /* ferd's version, "0.1.0" */
    int proto_major, proto_minor;
    int max_request;      /* this daemon's request line limit, bytes with the newline */
    int max_response;     /* its longest line */
} fer_version_msg;

typedef struct fer_error_msg {
    char code[24];        /* machine-readable reason (PROTOCOL.md lists them) */
    char message[256];    /* one English sentence */
    char request[16];     /* class of the request it answers; "" absent */
} fer_error_msg;

/* A frame attached to a RESULT: decoded bytes on the client side. */
typedef struct fer_image_data {
    fer_image_kind kind;  /* FER_IMAGE_NONE: no image */
    int width, height;
    uint8_t *jpeg;        /* JPEG bytes; malloc'd by the decoder, borrowed by the encoder */
    size_t len;
} fer_image_data;

typedef enum fer_face_event_kind {
    FER_EVENT_APPEARED = 1, /* a track started */
    FER_EVENT_CHANGED,      /* its smoothed label changed */
    FER_EVENT_ENDED,        /* the track ended */
} fer_face_event_kind;

typedef struct fer_face_event {
    fer_face_event_kind event;
    uint64_t seq;           /* the frame it happened on */
    int64_t wall_ms;        /* that frame's capture time */
    int id;                 /* track id */
    /* APPEARED and CHANGED only: */
    fer_box box;
    char label[FER_RESULT_CLASS_NAME];  /* smoothed label */
    float prob;                         /* its smoothed probability */
    char from[FER_RESULT_CLASS_NAME];   /* CHANGED: the label before */
    int initial;            /* APPEARED, 1.1: the track was already there when the WATCH
                               began (the current state a subscriber gets first) */
} fer_face_event;

/* 1.1: the source ended — a file or image list without loop played to its end,
 * every frame processed and sent. */
typedef struct fer_end_msg {
    char source[256];       /* the source as configured */
    char message[256];      /* why, for people ("samples/demo.avi: end of video") */
    long long frames;       /* frames the source delivered; < 0 absent */
    uint64_t seq;           /* seq of its last frame; 0 absent */
} fer_end_msg;

/* A model as STATUS and RELOAD describe it. */
typedef struct fer_model_info {
    char name[64];          /* the architecture's name */
    char path[256];
    int nclasses;
    char classes[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    long long params;       /* trainable parameters; < 0 absent */
    double val_acc, test_acc; /* fractions from the model header; < 0 absent */
    char test_split[32];    /* what test_acc was measured on ("PrivateTest"); "" absent */
    double temperature;     /* calibration temperature (probabilities = softmax(z / T));
                               < 0 absent: the model is not calibrated */
    char calib_split[16];   /* the split the temperature was fitted on; "" absent */
} fer_model_info;

/* One client in STATUS. */
typedef struct fer_status_client {
    int id;
    long long uid, pid;     /* from SO_PEERCRED; < 0 absent */
    int watching, events;
    fer_image_kind image;
    double max_fps;
    unsigned long long sent;    /* messages written */
    unsigned long long dropped; /* stream messages dropped for it (slow reader or rate) */
    unsigned long long queued;  /* bytes waiting to be written */
} fer_status_client;

/* At most this many clients are decoded from a STATUS (the rest are counted). */
#define FER_STATUS_MAX_CLIENTS 256

typedef struct fer_status_msg {
    char release[32];
    double uptime;          /* seconds */
    long long pid;
    struct {
        char name[256];     /* the source string */
        char kind[16];      /* camera | video | image | images | stream */
        char state[16];     /* starting | streaming | reconnecting | ended | error | idle */
        char error[256];    /* the last failure, "" absent */
        double fps;         /* measured over the last seconds; < 0 absent */
        int width, height;  /* 0 absent */
        long long reopens;
    } source;
    int has_model;
    fer_model_info model;
    struct {
        int connected, watching, max;
        long long accepted, rejected;          /* rejected: refused a slot (slots) */
        long long soft_disconnects, hard_disconnects; /* output limits */
        long long line_disconnects;            /* over-long request lines */
        long long rate_limited;                /* requests refused for rate */
        long long timeouts;                    /* closed by the line or idle deadline */
    } clients;
    struct {
        long long captured, processed, dropped;
    } frames;
    struct {
        double p50, p99;    /* ms from capture to the result reaching the loop; < 0 absent */
        long long samples;
    } latency;
    int nlist;              /* entries in list (decoded: at most FER_STATUS_MAX_CLIENTS) */
    fer_status_client list[FER_STATUS_MAX_CLIENTS];
} fer_status_msg;

#define FER_RELOAD_MAX_KEYS 16

typedef struct fer_reload_msg {
    fer_model_info model;   /* the model now serving */
    int nrestart;           /* changed keys that need a restart to apply */
    char restart[FER_RELOAD_MAX_KEYS][32];
} fer_reload_msg;

/* Any object the daemon sends, decoded. */
typedef struct fer_message {
    fer_msg_kind kind;
    char cls[16];           /* the "class" as received */
    union {
        fer_version_msg version;
        fer_error_msg error;
        fer_watch watch;
        fer_frame_result result; /* RESULT, and POLL's "result" */
        fer_face_event face;
        fer_reload_msg reload;
        char shutdown[256]; /* SHUTDOWN's message */
        fer_end_msg end;
    } u;
    fer_status_msg *status; /* STATUS: malloc'd (it is large); NULL otherwise */
    fer_image_data image;   /* RESULT and POLL: the attached frame, if any */
    uint64_t ready_ns;      /* RESULT and POLL: monotonic ns the result was ready; 0 absent */
} fer_message;

/*
 * Decodes one line from the daemon. A class this version does not know gives
 * kind FER_MSG_UNKNOWN and returns 0 (a newer minor version may add objects).
 * Frees what m held from a previous call first, so one fer_message can be
 * reused; call fer_message_clear at the end. m must be zeroed before first use.
 * Errors: FER_E_PROTO (malformed, naming the key), -ENOMEM.
 */
int fer_message_parse(fer_message *m, const char *line, size_t len, fer_error *err);
/* Frees the image and status a parse allocated; accepts a zeroed message. */
void fer_message_clear(fer_message *m);

/* Names of enum values as on the wire ("none", "jpeg", "annotated"; "appeared", ...). */
const char *fer_image_kind_name(fer_image_kind k);
const char *fer_face_event_name(fer_face_event_kind k);

#endif
