/*
 * config.h — ferd's settings: the built-in defaults, the redis.conf-style file
 * (conf/ferd.conf documents every key), validation, and which keys a reload may
 * change while running.
 *
 * The file is "key value" lines; '#' starts a comment line; a value may be
 * written in double quotes (an empty string is ""). Every problem is reported,
 * not just the first, each as "FILE:LINE: message". The parser is a pure
 * function over the text (fer_config_parse), so it can be fuzzed.
 */
#ifndef FERD_CONFIG_H
#define FERD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "util/log.h"

#define FERD_PATH_MAX 4096
#define FERD_SOCKET_PATH_MAX 108   /* sizeof sun_path */
#define FERD_NAME_MAX 64


typedef struct fer_config {
    /* Frame source. */
    char source[FERD_PATH_MAX];
    int loop;                     /* files and image lists start again at the end */
    int realtime;                 /* files are played at their frame rate */
    int capture_width, capture_height;
    double capture_fps;
    int stream_timeout_ms;
    int retry_initial_ms, retry_max_ms;
    int stop_timeout_ms;          /* how long shutdown waits for the threads */
    long long max_image_pixels;   /* larger frames and images are refused */
    int close_camera_when_idle;
    int idle_close_seconds;
    /* Model and vision pipeline. */
    char model[FERD_PATH_MAX];
    char cascade[FERD_PATH_MAX];
    int detect_width;
    double scale_factor;
    int min_neighbors, min_face, max_face;
    int full_every, max_faces;
    double still_threshold;
    double smoothing;             /* tracker alpha */
    double label_margin;          /* label hysteresis: lead ... */
    int label_hold_ms;            /* ... held this long */
    double track_iou;
    int track_max_misses;
    int tta;                      /* FER_TTA_NONE | FER_TTA_FLIP (vision/preprocess.h) */
    int track_gap_ms;             /* a longer gap between processed frames starts afresh */
    /* Socket. */
    char socket_path[FERD_SOCKET_PATH_MAX];
    int socket_mode;              /* octal in the file */
    char socket_group[FERD_NAME_MAX];
    /* Limits on what clients may use. */
    int max_clients;
    int reserved_clients;         /* of max_clients, kept for root and ferd's user */
    int max_clients_per_uid;      /* 0 = no cap */
    int max_line;                 /* request line, bytes with the newline */
    int line_timeout_ms;          /* a request line must be finished in this time */
    int idle_timeout_seconds;     /* idle clients are closed after this; 0 = never */
    double requests_per_second;
    int request_burst;
    double requests_per_second_per_uid; /* shared by an unprivileged uid's connections; 0 off */
    int request_burst_per_uid;
    double watch_max_fps;         /* 0 = no cap */
    double image_max_fps;
    long long output_soft_limit, output_hard_limit; /* bytes */
    int output_soft_seconds;
    int poll_timeout_ms;
    /* Images and privileged requests. */
    int allow_images;
    char image_group[FERD_NAME_MAX];
    char reload_group[FERD_NAME_MAX];
    int jpeg_quality;
    /* Logging. */
    int log_level;                /* FER_LOG_* (util/log.h) */
} fer_config;

/* Built-in defaults (the model path resolved as the tools do: installed data
 * directory, else the source tree the binary was built from). */
void fer_config_default(fer_config *c);

/*
 * Parses text (len bytes; need not be NUL-terminated) over c, which holds the
 * defaults or an earlier file's values. origin names the file in messages.
 * Returns 0, or -EINVAL with one "origin:line: message\n" per problem in errs
 * (truncated to n bytes); c may then be partly updated. Pure function.
 */
int fer_config_parse(fer_config *c, const char *text, size_t len, const char *origin,
                     char *errs, size_t n);

/* Reads path (at most 1 MiB) and parses it. -ENOENT, -EACCES ... with a message in
 * errs, or what fer_config_parse returns. */
int fer_config_load(fer_config *c, const char *path, char *errs, size_t n);

/* Sets one key from text (a command-line override), as a file line would. */
int fer_config_set(fer_config *c, const char *key, const char *value, char *errs, size_t n);

/* Checks relations between keys (soft <= hard limit, ...). -EINVAL with messages. */
int fer_config_validate(const fer_config *c, char *errs, size_t n);

/* Writes every key with its effective value, one "key value" line each; with
 * mask_secrets, credentials in URLs are shown as *** (util/redact.h) and a
 * comment says so (--check-config), without it the output reads back as the
 * same settings. */
void fer_config_print(const fer_config *c, FILE *f, int mask_secrets);

/* Names the keys that differ between a and b and need a restart to apply
 * (at most max, each < 32 bytes); returns how many. */
int fer_config_restart_keys(const fer_config *a, const fer_config *b, char (*names)[32], int max);

/* Copies the keys a reload applies live from src into dst; the others keep
 * dst's values (they need a restart). */
void fer_config_apply_live(fer_config *dst, const fer_config *src);

#endif
