/*
 * config.c — ferd's configuration file, in the style of redis.conf.
 *
 * One table lists every key: its type, where it lives in fer_config, its range,
 * and whether a reload applies it live. The syntax, the parser, the printer
 * (--check-config) and the reload comparison are util/conf.c's, shared with
 * ferd-mqtt and ferd-http, and walk that table, so a key added to it is
 * parsed, shown and compared without further code. Relations between keys are
 * checked here, in fer_config_validate.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/detect.h"
#include "cv/image.h"
#include "util/conf.h"
#include "util/paths.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"

/* Names of the tta values, in FER_TTA_* order. */
static const char *const tta_names[] = {"none", "flip", NULL};

#define F(field) offsetof(fer_config, field)
#define S(field) F(field), sizeof(((fer_config *)0)->field)

static const fer_conf_key keys[] = {
    {"source", FER_CONF_STR, S(source), 0, 0, 0, NULL},
    {"loop", FER_CONF_BOOL, F(loop), 0, 0, 1, 0, NULL},
    {"realtime", FER_CONF_BOOL, F(realtime), 0, 0, 1, 0, NULL},
    {"capture_width", FER_CONF_INT, F(capture_width), 0, 0, 16384, 0, NULL},
    {"capture_height", FER_CONF_INT, F(capture_height), 0, 0, 16384, 0, NULL},
    {"capture_fps", FER_CONF_DBL, F(capture_fps), 0, 0, 1000, 0, NULL},
    {"stream_timeout_ms", FER_CONF_INT, F(stream_timeout_ms), 0, 100, 600000, 0, NULL},
    {"retry_initial_ms", FER_CONF_INT, F(retry_initial_ms), 0, 10, 3600000, 0, NULL},
    {"retry_max_ms", FER_CONF_INT, F(retry_max_ms), 0, 10, 3600000, 0, NULL},
    {"max_image_pixels", FER_CONF_SIZE, F(max_image_pixels), 0, 4096, 1073741824.0, 0, NULL},
    {"stop_timeout_ms", FER_CONF_INT, F(stop_timeout_ms), 0, 100, 600000, 1, NULL},
    {"close_camera_when_idle", FER_CONF_BOOL, F(close_camera_when_idle), 0, 0, 1, 1, NULL},
    {"idle_close_seconds", FER_CONF_INT, F(idle_close_seconds), 0, 0, 86400, 1, NULL},
    {"model", FER_CONF_STR, S(model), 0, 0, 1, NULL},
    {"cascade", FER_CONF_STR, S(cascade), 0, 0, 0, NULL},
    {"detect_width", FER_CONF_INT, F(detect_width), 0, 0, 16384, 0, NULL},
    {"scale_factor", FER_CONF_DBL, F(scale_factor), 0, 1.01, 2.0, 0, NULL},
    {"min_neighbors", FER_CONF_INT, F(min_neighbors), 0, 0, 100, 0, NULL},
    {"min_face", FER_CONF_INT, F(min_face), 0, 0, 16384, 0, NULL},
    {"max_face", FER_CONF_INT, F(max_face), 0, 0, 16384, 0, NULL},
    {"full_every", FER_CONF_INT, F(full_every), 0, 1, 1000, 0, NULL},
    {"max_faces", FER_CONF_INT, F(max_faces), 0, 1, 16, 0, NULL},
    {"still_threshold", FER_CONF_DBL, F(still_threshold), 0, 0, 255, 0, NULL},
    {"smoothing", FER_CONF_DBL, F(smoothing), 0, 0, 0.99, 0, NULL},
    {"label_margin", FER_CONF_DBL, F(label_margin), 0, 0, 1, 0, NULL},
    {"label_hold_ms", FER_CONF_INT, F(label_hold_ms), 0, 0, 60000, 0, NULL},
    {"track_iou", FER_CONF_DBL, F(track_iou), 0, 0.01, 1, 0, NULL},
    {"track_max_misses", FER_CONF_INT, F(track_max_misses), 0, 0, 1000, 0, NULL},
    {"track_gap_ms", FER_CONF_INT, F(track_gap_ms), 0, 0, 3600000, 0, NULL},
    {"tta", FER_CONF_ENUM, F(tta), 0, 0, 0, 1, tta_names},
    {"socket", FER_CONF_STR, S(socket_path), 0, 0, 0, NULL},
    {"socket_mode", FER_CONF_MODE, F(socket_mode), 0, 0, 0777, 0, NULL},
    {"socket_group", FER_CONF_STR, S(socket_group), 0, 0, 0, NULL},
    {"max_clients", FER_CONF_INT, F(max_clients), 0, 1, 4096, 0, NULL},
    {"reserved_clients", FER_CONF_INT, F(reserved_clients), 0, 0, 4096, 1, NULL},
    {"max_clients_per_uid", FER_CONF_INT, F(max_clients_per_uid), 0, 0, 4096, 1, NULL},
    {"max_line", FER_CONF_INT, F(max_line), 0, 256, 4096, 1, NULL},
    {"line_timeout_ms", FER_CONF_INT, F(line_timeout_ms), 0, 100, 600000, 1, NULL},
    {"idle_timeout_seconds", FER_CONF_INT, F(idle_timeout_seconds), 0, 0, 86400, 1, NULL},
    {"requests_per_second", FER_CONF_DBL, F(requests_per_second), 0, 0.1, 100000, 1, NULL},
    {"request_burst", FER_CONF_INT, F(request_burst), 0, 1, 100000, 1, NULL},
    {"requests_per_second_per_uid", FER_CONF_DBL, F(requests_per_second_per_uid), 0, 0, 100000, 1,
     NULL},
    {"request_burst_per_uid", FER_CONF_INT, F(request_burst_per_uid), 0, 1, 100000, 1, NULL},
    {"watch_max_fps", FER_CONF_DBL, F(watch_max_fps), 0, 0, 1000, 1, NULL},
    {"image_max_fps", FER_CONF_DBL, F(image_max_fps), 0, 0.01, 1000, 1, NULL},
    {"output_soft_limit", FER_CONF_SIZE, F(output_soft_limit), 0, 4096, 1073741824.0, 1, NULL},
    {"output_hard_limit", FER_CONF_SIZE, F(output_hard_limit), 0, 4096, 1073741824.0, 1, NULL},
    {"output_soft_seconds", FER_CONF_INT, F(output_soft_seconds), 0, 0, 3600, 1, NULL},
    {"poll_timeout_ms", FER_CONF_INT, F(poll_timeout_ms), 0, 10, 600000, 1, NULL},
    {"allow_images", FER_CONF_BOOL, F(allow_images), 0, 0, 1, 1, NULL},
    {"image_group", FER_CONF_STR, S(image_group), 0, 0, 1, NULL},
    {"reload_group", FER_CONF_STR, S(reload_group), 0, 0, 1, NULL},
    {"jpeg_quality", FER_CONF_INT, F(jpeg_quality), 0, 1, 100, 1, NULL},
    {"log_level", FER_CONF_LEVEL, F(log_level), 0, FER_LOG_ERR, FER_LOG_DEBUG, 1, NULL},
};

/* Lines hold a path and a key at most. */
static const fer_conf_table table = {keys, sizeof keys / sizeof keys[0], FERD_PATH_MAX + 255,
                                     NULL, 0};

/* The shipped model in the data directory (util/paths.h: $FER_DATA_DIR, an
 * uninstalled build's source tree, or the installed $datadir/ferd); the path is
 * kept even when the file is missing, so the error at start names it. */
static void default_model(char *dst, size_t n)
{
    fer_data_file("models/default.fermodel", dst, n);
}

void fer_config_default(fer_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "0");
    c->loop = 1;
    c->realtime = 1;
    c->stream_timeout_ms = 5000;
    c->retry_initial_ms = 500;
    c->retry_max_ms = 30000;
    c->stop_timeout_ms = 5000;
    c->max_image_pixels = FER_IMAGE_MAX_PIXELS;
    c->close_camera_when_idle = 0;
    c->idle_close_seconds = 10;
    default_model(c->model, sizeof c->model);
    /* Detection and tracking default to what the pipeline itself defaults to. */
    fer_pipeline_opts po;
    fer_pipeline_opts_default(&po);
    snprintf(c->cascade, sizeof c->cascade, "%s", po.cascade ? po.cascade : FER_CASCADE_DEFAULT);
    c->detect_width = po.detect_width;
    c->scale_factor = po.scale_factor;
    c->min_neighbors = po.min_neighbors;
    c->min_face = po.min_face;
    c->max_face = po.max_face;
    c->full_every = po.full_every;
    c->max_faces = po.max_faces;
    c->still_threshold = po.still_threshold;
    c->smoothing = po.tracker.alpha;
    c->label_margin = po.tracker.hold_margin;
    c->label_hold_ms = po.tracker.hold_ms;
    c->track_gap_ms = po.gap_ms;
    c->track_iou = po.tracker.iou_min;
    c->track_max_misses = po.tracker.max_misses;
    c->tta = po.tta;
    snprintf(c->socket_path, sizeof c->socket_path, "/run/ferd/ferd.sock");
    c->socket_mode = 0660;
    c->max_clients = 64;
    c->reserved_clients = 4;
    c->max_clients_per_uid = 32;
    c->max_line = 4096;
    c->line_timeout_ms = 5000;
    c->idle_timeout_seconds = 300;
    c->requests_per_second = 20;
    c->request_burst = 40;
    c->requests_per_second_per_uid = 40;
    c->request_burst_per_uid = 80;
    c->watch_max_fps = 0;
    c->image_max_fps = 5;
    c->output_soft_limit = 1LL << 20;
    c->output_hard_limit = 8LL << 20;
    c->output_soft_seconds = 10;
    c->poll_timeout_ms = 3000;
    c->allow_images = 0;
    c->jpeg_quality = 80;
    c->log_level = FER_LOG_INFO;
}

int fer_config_set(fer_config *c, const char *key, const char *value, char *errs, size_t n)
{
    return fer_conf_set(&table, c, key, value, errs, n);
}

int fer_config_parse(fer_config *c, const char *text, size_t len, const char *origin,
                     char *errs, size_t n)
{
    return fer_conf_parse(&table, c, text, len, origin, errs, n);
}

int fer_config_load(fer_config *c, const char *path, char *errs, size_t n)
{
    return fer_conf_load(&table, c, path, errs, n);
}

int fer_config_validate(const fer_config *c, char *errs, size_t n)
{
    int bad = 0;
    if (errs && n)
        errs[0] = '\0';
    if (!c->source[0])
        fer_conf_error(errs, n, "source: empty"), bad++;
    if (!c->model[0])
        fer_conf_error(errs, n, "model: empty"), bad++;
    if (!c->socket_path[0])
        fer_conf_error(errs, n, "socket: empty"), bad++;
    if (c->output_soft_limit > c->output_hard_limit)
        fer_conf_error(errs, n, "output_soft_limit (%lld) is above output_hard_limit (%lld)",
                       c->output_soft_limit, c->output_hard_limit), bad++;
    if (c->retry_initial_ms > c->retry_max_ms)
        fer_conf_error(errs, n, "retry_initial_ms is above retry_max_ms"), bad++;
    if (c->max_face && c->max_face < c->min_face)
        fer_conf_error(errs, n, "max_face is below min_face"), bad++;
    return bad ? -EINVAL : 0;
}

void fer_config_print(const fer_config *c, FILE *f, int mask_secrets)
{
    if (mask_secrets)
        fer_conf_print_masked(&table, c, f);
    else
        fer_conf_print(&table, c, f);
}

int fer_config_restart_keys(const fer_config *a, const fer_config *b, char (*names)[32], int max)
{
    return fer_conf_restart_keys(&table, a, b, names, max);
}

void fer_config_apply_live(fer_config *dst, const fer_config *src)
{
    fer_conf_apply_live(&table, dst, src);
}
