/*
 * protocol.c — protocol v1 objects to and from JSON lines (proto/PROTOCOL.md).
 *
 * Every encoder builds a cJSON tree and prints it unformatted; every decoder
 * parses with cJSON and then walks the tree with small typed getters that check
 * type and range and name the key on failure. Conventions, as in gpsd:
 *   - optional facts are left out rather than written as null, and a decoder
 *     treats an absent key as "unknown" (its default), never as an error unless
 *     the spec calls the key required;
 *   - unknown keys are ignored on both sides, so a minor version may add keys;
 *   - integers that may pass 2^53 (sequence numbers, monotonic ns) are printed
 *     as exact digits.
 * The request parser is the one piece the daemon runs on untrusted bytes. It is
 * a pure function over (line, len): it checks the length and NUL bytes before
 * cJSON sees anything, parses with an explicit length, and touches no global
 * state, which is what its fuzz target relies on.
 */
#include "proto/protocol.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/serve.h"
#include "proto/result_json.h"
#include "util/utf8.h"

/* Copies src (NULL: "") into dst, cut between characters when it does not fit. */
static void copy_str(char *dst, size_t n, const char *src)
{
    fer_utf8_copy(dst, n, src);
}

/* A frame rate on the wire, to 1e-3 fps; a positive rate stays positive, since
 * 0 means "every frame" (a rate below 0.0005 would otherwise round to it). */
static double round_fps(double v)
{
    double r = fer_json_round(v, 1e-3);
    return v > 0 && r < 1e-3 ? 1e-3 : r;
}

/* ---- names ---- */

static const char *const image_names[] = {"none", "jpeg", "annotated"};
static const char *const event_names[] = {"", "appeared", "changed", "ended"};

const char *fer_image_kind_name(fer_image_kind k)
{
    return (unsigned)k < 3 ? image_names[k] : "none";
}

const char *fer_face_event_name(fer_face_event_kind k)
{
    return k >= FER_EVENT_APPEARED && k <= FER_EVENT_ENDED ? event_names[k] : "";
}

static int image_kind_from(const char *s, fer_image_kind *k)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, image_names[i]) == 0) {
            *k = (fer_image_kind)i;
            return 0;
        }
    return -1;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fer_base64_encode(const uint8_t *data, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return -EINVAL;
    size_t n = (len + 2) / 3 * 4;
    char *s = malloc(n + 1);
    if (!s)
        return -ENOMEM;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        s[o++] = b64_alphabet[v >> 18 & 63];
        s[o++] = b64_alphabet[v >> 12 & 63];
        s[o++] = b64_alphabet[v >> 6 & 63];
        s[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        s[o++] = b64_alphabet[v >> 18 & 63];
        s[o++] = b64_alphabet[v >> 12 & 63];
        s[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        s[o++] = '=';
    }
    s[o] = '\0';
    *out = s;
    if (out_len)
        *out_len = o;
    return 0;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int fer_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4)
        return FER_E_PROTO;
    size_t pad = 0;
    if (len >= 1 && text[len - 1] == '=')
        pad++;
    if (len >= 2 && text[len - 2] == '=')
        pad++;
    size_t n = len / 4 * 3 - pad;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            char c = text[i + k];
            /* '=' only as the last one or two characters of the text. */
            if (c == '=' && i + 4 == len && (k == 3 || (k == 2 && text[i + 3] == '=')))
                v[k] = 0;
            else if ((v[k] = b64_value(c)) < 0)
                goto bad;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        for (int k = 0; k < 3 && o < n; k++)
            b[o++] = bytes[k];
    }
    *out = b;
    *out_len = n;
    return 0;
bad:
    free(b);
    return FER_E_PROTO;
}

/* ---- typed getters for decoding (the general ones are json.c's) ---- */

/* "image" in a WATCH or POLL: a name, or true (jpeg) / false (none). */
static int get_image_kind(const cJSON *o, const char *what, fer_image_kind *k, fer_error *err)
{
    const cJSON *it = fer_json_member(o, "image");
    if (!it)
        return 0;
    if (cJSON_IsBool(it)) {
        *k = cJSON_IsTrue(it) ? FER_IMAGE_JPEG : FER_IMAGE_NONE;
        return 1;
    }
    if (!cJSON_IsString(it) || image_kind_from(it->valuestring, k) < 0)
        return fer_fail(err, FER_E_PROTO, "%s: \"image\" is not \"none\", \"jpeg\" or \"annotated\"",
                     what);
    return 1;
}

/* ---- requests ---- */

void fer_watch_default(fer_watch *w)
{
    memset(w, 0, sizeof *w);
    w->enable = 1;
    w->scores = 1;
    w->image = FER_IMAGE_NONE;
}

/* The options of a WATCH object (request or acknowledgement) into w. */
static int watch_from_cjson(fer_watch *w, const cJSON *o, fer_error *err)
{
    const char *what = "WATCH";
    fer_watch_default(w);
    double d;
    int rc;
    if ((rc = fer_json_bool(o, what, "enable", &w->enable, err)) < 0)
        return rc;
    if ((rc = fer_json_num(o, what, "max_fps", 0, FER_PROTO_MAX_FPS, 0, &d, err)) < 0)
        return rc;
    if (rc)
        w->max_fps = d;
    if ((rc = fer_json_num(o, what, "min_prob", 0, 1, 0, &d, err)) < 0)
        return rc;
    if (rc)
        w->min_prob = d;
    if ((rc = fer_json_bool(o, what, "events", &w->events, err)) < 0)
        return rc;
    if ((rc = fer_json_bool(o, what, "scores", &w->scores, err)) < 0)
        return rc;
    if ((rc = get_image_kind(o, what, &w->image, err)) < 0)
        return rc;
    return 0;
}

/*
 * The parser every connected client's bytes go through. It fills req with the
 * defaults first, so a caller that ignores the return value still holds a
 * harmless request (kind FER_REQ_NONE on failure). The class is checked before
 * any option, so an unknown class is reported as such even when its options
 * would also be wrong; options are checked with the same getters as every
 * other object.
 */
int fer_request_parse(fer_request *req, const char *line, size_t len, fer_error *err)
{
    memset(req, 0, sizeof *req);
    fer_watch_default(&req->watch);
    req->scores = 1;
    if (!line)
        len = 0;
    /* The line ends at its newline; the limit counts it. */
    size_t n = len;
    if (n > FER_PROTO_MAX_REQUEST) {
        req->error = FER_REQERR_JSON;
        return fer_fail(err, FER_E_PROTO, "request line of %zu bytes exceeds %d", len,
                     FER_PROTO_MAX_REQUEST);
    }
    if (n && line[n - 1] == '\n')
        n--;
    if (n && line[n - 1] == '\r')
        n--;
    cJSON *o = n ? fer_json_parse_object(line, n, FER_PROTO_MAX_REQUEST, "request", err) : NULL;
    if (!o) {
        req->error = FER_REQERR_JSON;
        return n ? FER_E_PROTO : fer_fail(err, FER_E_PROTO, "request: empty line");
    }
    int rc = 0;
    const cJSON *cls = fer_json_member(o, "class");
    if (!cJSON_IsString(cls)) {
        req->error = FER_REQERR_CLASS;
        rc = fer_fail(err, FER_E_PROTO, "request: \"class\" missing or not a string");
        goto done;
    }
    copy_str(req->cls, sizeof req->cls, cls->valuestring);
    const char *c = cls->valuestring;
    if (strcmp(c, "WATCH") == 0) {
        req->kind = FER_REQ_WATCH;
        rc = watch_from_cjson(&req->watch, o, err);
    } else if (strcmp(c, "POLL") == 0) {
        req->kind = FER_REQ_POLL;
        rc = get_image_kind(o, "POLL", &req->image, err);
        if (rc >= 0)
            rc = fer_json_bool(o, "POLL", "scores", &req->scores, err);
    } else if (strcmp(c, "STATUS") == 0) {
        req->kind = FER_REQ_STATUS;
    } else if (strcmp(c, "RELOAD") == 0) {
        req->kind = FER_REQ_RELOAD;
    } else {
        req->error = FER_REQERR_UNKNOWN;
        char shown[33];
        fer_utf8_copy(shown, sizeof shown, c);
        rc = fer_fail(err, FER_E_PROTO, "request: unknown class \"%s\"", shown);
        goto done;
    }
    if (rc < 0) {
        req->error = FER_REQERR_FIELD;
        req->kind = FER_REQ_NONE;
    } else {
        rc = 0;
    }
done:
    cJSON_Delete(o);
    return rc;
}

/* Prints o (taking ownership) into *out; -ENOMEM if o is NULL or printing fails. */
static int print_owned(cJSON *o, int ok, char **out)
{
    *out = NULL;
    if (!o || !ok) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    char *s = fer_json_print(o);
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    *out = s;
    return 0;
}

/* The options of w that differ from the defaults (all of them with full = 1). */
static int watch_add(cJSON *o, const fer_watch *w, int full)
{
    fer_watch d;
    fer_watch_default(&d);
    int ok = 1;
    if (full || w->enable != d.enable)
        ok = ok && cJSON_AddBoolToObject(o, "enable", w->enable);
    if (full || w->max_fps != d.max_fps)
        ok = ok && cJSON_AddNumberToObject(o, "max_fps", round_fps(w->max_fps));
    if (full || w->min_prob != d.min_prob)
        ok = ok && cJSON_AddNumberToObject(o, "min_prob", fer_json_round(w->min_prob, 1e-4));
    if (full || w->events != d.events)
        ok = ok && cJSON_AddBoolToObject(o, "events", w->events);
    if (full || w->scores != d.scores)
        ok = ok && cJSON_AddBoolToObject(o, "scores", w->scores);
    if (full || w->image != d.image)
        ok = ok && cJSON_AddStringToObject(o, "image", fer_image_kind_name(w->image));
    return ok;
}

int fer_request_to_json(const fer_request *req, char **out)
{
    static const char *const names[] = {"", "WATCH", "POLL", "STATUS", "RELOAD"};
    *out = NULL;
    if (req->kind < FER_REQ_WATCH || req->kind > FER_REQ_RELOAD)
        return -EINVAL;
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "class", names[req->kind]);
    if (ok && req->kind == FER_REQ_WATCH)
        ok = watch_add(o, &req->watch, 0);
    if (ok && req->kind == FER_REQ_POLL) {
        if (req->image != FER_IMAGE_NONE)
            ok = cJSON_AddStringToObject(o, "image", fer_image_kind_name(req->image)) != NULL;
        if (ok && !req->scores)
            ok = cJSON_AddFalseToObject(o, "scores") != NULL;
    }
    return print_owned(o, ok, out);
}

/* ---- encoders of the daemon's objects ---- */

static cJSON *new_object(const char *cls)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "class", cls)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* A string member only when s is not empty (absent means unknown). */
static int add_opt_str(cJSON *o, const char *key, const char *s)
{
    return !s[0] || cJSON_AddStringToObject(o, key, s) != NULL;
}

int fer_version_to_json(const fer_version_msg *v, char **out)
{
    cJSON *o = new_object("VERSION");
    int ok = o && cJSON_AddStringToObject(o, "release", v->release) &&
             cJSON_AddNumberToObject(o, "proto_major", v->proto_major) &&
             cJSON_AddNumberToObject(o, "proto_minor", v->proto_minor) &&
             cJSON_AddNumberToObject(o, "max_request", v->max_request) &&
             cJSON_AddNumberToObject(o, "max_response", v->max_response);
    return print_owned(o, ok, out);
}

int fer_error_to_json(const fer_error_msg *e, char **out)
{
    cJSON *o = new_object("ERROR");
    int ok = o && add_opt_str(o, "code", e->code) &&
             cJSON_AddStringToObject(o, "message", e->message) &&
             add_opt_str(o, "request", e->request);
    return print_owned(o, ok, out);
}

int fer_watch_to_json(const fer_watch *w, char **out)
{
    cJSON *o = new_object("WATCH");
    int ok = o && watch_add(o, w, 1);
    return print_owned(o, ok, out);
}

static int add_time(cJSON *o, int64_t wall_ms)
{
    char when[40];
    if (fer_time_format(wall_ms, when, sizeof when) < 0)
        snprintf(when, sizeof when, "1970-01-01T00:00:00.000Z");
    return cJSON_AddStringToObject(o, "time", when) != NULL;
}

static int add_box(cJSON *o, fer_box b)
{
    cJSON *box = cJSON_AddObjectToObject(o, "box");
    return box && cJSON_AddNumberToObject(box, "x", b.x) && cJSON_AddNumberToObject(box, "y", b.y) &&
           cJSON_AddNumberToObject(box, "w", b.w) && cJSON_AddNumberToObject(box, "h", b.h);
}

int fer_face_event_to_json(const fer_face_event *ev, char **out)
{
    *out = NULL;
    if (ev->event < FER_EVENT_APPEARED || ev->event > FER_EVENT_ENDED)
        return -EINVAL;
    cJSON *o = new_object("FACE");
    int ok = o && cJSON_AddStringToObject(o, "event", fer_face_event_name(ev->event)) &&
             fer_json_add_u64(o, "seq", ev->seq) && add_time(o, ev->wall_ms) &&
             cJSON_AddNumberToObject(o, "id", ev->id);
    if (ok && ev->event != FER_EVENT_ENDED) {
        ok = add_box(o, ev->box) && cJSON_AddStringToObject(o, "label", ev->label) &&
             cJSON_AddNumberToObject(o, "prob", fer_json_round(ev->prob, 1e-4));
        if (ok && ev->event == FER_EVENT_CHANGED)
            ok = cJSON_AddStringToObject(o, "from", ev->from) != NULL;
        if (ok && ev->event == FER_EVENT_APPEARED && ev->initial)
            ok = cJSON_AddTrueToObject(o, "initial") != NULL;
    }
    return print_owned(o, ok, out);
}

static cJSON *model_to_cjson(const fer_model_info *m)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_opt_str(o, "name", m->name) && add_opt_str(o, "path", m->path);
    cJSON *cl = ok ? cJSON_AddArrayToObject(o, "classes") : NULL;
    ok = ok && cl;
    for (int c = 0; ok && c < m->nclasses && c < FER_RESULT_MAX_CLASSES; c++) {
        cJSON *s = cJSON_CreateString(m->classes[c]);
        ok = s && cJSON_AddItemToArray(cl, s);
        if (!ok)
            cJSON_Delete(s);
    }
    if (ok && m->params >= 0)
        ok = cJSON_AddNumberToObject(o, "params", (double)m->params) != NULL;
    if (ok && m->val_acc >= 0)
        ok = cJSON_AddNumberToObject(o, "val_acc", fer_json_round(m->val_acc, 1e-4)) != NULL;
    if (ok && m->test_acc >= 0)
        ok = cJSON_AddNumberToObject(o, "test_acc", fer_json_round(m->test_acc, 1e-4)) != NULL;
    if (ok)
        ok = add_opt_str(o, "test_split", m->test_split);
    if (ok && m->temperature > 0) {
        cJSON *ca = cJSON_AddObjectToObject(o, "calibration");
        ok = ca && cJSON_AddNumberToObject(ca, "temperature",
                                           fer_json_round(m->temperature, 1e-4)) != NULL &&
             add_opt_str(ca, "split", m->calib_split);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_model(cJSON *o, const char *key, const fer_model_info *m)
{
    cJSON *mo = model_to_cjson(m);
    if (!mo)
        return 0;
    if (!cJSON_AddItemToObject(o, key, mo)) {
        cJSON_Delete(mo);
        return 0;
    }
    return 1;
}

static int add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

int fer_status_to_json(const fer_status_msg *s, char **out)
{
    cJSON *o = new_object("STATUS");
    int ok = o && cJSON_AddStringToObject(o, "release", s->release) &&
             add_num(o, "uptime", fer_json_round(s->uptime, 1e-3)) && add_num(o, "pid", (double)s->pid);

    cJSON *src = ok ? cJSON_AddObjectToObject(o, "source") : NULL;
    ok = ok && src && cJSON_AddStringToObject(src, "name", s->source.name) &&
         add_opt_str(src, "kind", s->source.kind) &&
         cJSON_AddStringToObject(src, "state", s->source.state) &&
         add_opt_str(src, "error", s->source.error) &&
         add_num(src, "reopens", (double)s->source.reopens);
    if (ok && s->source.fps >= 0)
        ok = add_num(src, "fps", fer_json_round(s->source.fps, 1e-2));
    if (ok && s->source.width > 0)
        ok = add_num(src, "width", s->source.width) && add_num(src, "height", s->source.height);

    if (ok && s->has_model)
        ok = add_model(o, "model", &s->model);

    cJSON *cl = ok ? cJSON_AddObjectToObject(o, "clients") : NULL;
    ok = ok && cl && add_num(cl, "connected", s->clients.connected) &&
         add_num(cl, "watching", s->clients.watching) && add_num(cl, "max", s->clients.max) &&
         add_num(cl, "accepted", (double)s->clients.accepted) &&
         add_num(cl, "rejected", (double)s->clients.rejected) &&
         add_num(cl, "soft_disconnects", (double)s->clients.soft_disconnects) &&
         add_num(cl, "hard_disconnects", (double)s->clients.hard_disconnects) &&
         add_num(cl, "line_disconnects", (double)s->clients.line_disconnects) &&
         add_num(cl, "rate_limited", (double)s->clients.rate_limited) &&
         add_num(cl, "timeouts", (double)s->clients.timeouts);

    cJSON *fr = ok ? cJSON_AddObjectToObject(o, "frames") : NULL;
    ok = ok && fr && add_num(fr, "captured", (double)s->frames.captured) &&
         add_num(fr, "processed", (double)s->frames.processed) &&
         add_num(fr, "dropped", (double)s->frames.dropped);

    if (ok && s->latency.samples > 0) {
        cJSON *la = cJSON_AddObjectToObject(o, "latency_ms");
        ok = la && add_num(la, "p50", fer_json_round(s->latency.p50, 1e-3)) &&
             add_num(la, "p99", fer_json_round(s->latency.p99, 1e-3)) &&
             add_num(la, "samples", (double)s->latency.samples);
    }

    cJSON *list = ok ? cJSON_AddArrayToObject(o, "client_list") : NULL;
    ok = ok && list;
    for (int i = 0; ok && i < s->nlist; i++) {
        const fer_status_client *c = &s->list[i];
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(list, e);
        if (!ok) {
            cJSON_Delete(e);
            break;
        }
        ok = add_num(e, "id", c->id) && cJSON_AddBoolToObject(e, "watching", c->watching) &&
             add_num(e, "sent", (double)c->sent) && add_num(e, "dropped", (double)c->dropped) &&
             add_num(e, "queued", (double)c->queued);
        if (ok && c->uid >= 0)
            ok = add_num(e, "uid", (double)c->uid);
        if (ok && c->pid >= 0)
            ok = add_num(e, "pid", (double)c->pid);
        if (ok && c->watching) {
            ok = cJSON_AddBoolToObject(e, "events", c->events) &&
                 cJSON_AddStringToObject(e, "image", fer_image_kind_name(c->image)) &&
                 add_num(e, "max_fps", round_fps(c->max_fps));
        }
    }
    return print_owned(o, ok, out);
}

int fer_reload_to_json(const fer_reload_msg *r, char **out)
{
    cJSON *o = new_object("RELOAD");
    int ok = o && add_model(o, "model", &r->model);
    if (ok && r->nrestart > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "restart_needed");
        ok = a != NULL;
        for (int i = 0; ok && i < r->nrestart && i < FER_RELOAD_MAX_KEYS; i++) {
            cJSON *s = cJSON_CreateString(r->restart[i]);
            ok = s && cJSON_AddItemToArray(a, s);
            if (!ok)
                cJSON_Delete(s);
        }
    }
    return print_owned(o, ok, out);
}

int fer_shutdown_to_json(const char *message, char **out)
{
    cJSON *o = new_object("SHUTDOWN");
    int ok = o && add_opt_str(o, "message", message ? message : "");
    return print_owned(o, ok, out);
}

int fer_end_to_json(const fer_end_msg *e, char **out)
{
    cJSON *o = new_object("END");
    int ok = o && add_opt_str(o, "source", e->source) && add_opt_str(o, "message", e->message);
    if (ok && e->frames >= 0)
        ok = cJSON_AddNumberToObject(o, "frames", (double)e->frames) != NULL;
    if (ok && e->seq > 0)
        ok = fer_json_add_u64(o, "seq", e->seq);
    return print_owned(o, ok, out);
}

/* Adds "image" (and "ready_ns") to a RESULT object. */
static int add_image(cJSON *o, const fer_image_data *img)
{
    char *b64 = NULL;
    if (fer_base64_encode(img->jpeg, img->len, &b64, NULL) < 0)
        return 0;
    cJSON *im = cJSON_AddObjectToObject(o, "image");
    int ok = im && cJSON_AddStringToObject(im, "kind", fer_image_kind_name(img->kind)) &&
             add_num(im, "width", img->width) && add_num(im, "height", img->height) &&
             cJSON_AddStringToObject(im, "data", b64);
    free(b64);
    return ok;
}

int fer_result_msg_to_json(const fer_frame_result *r, unsigned flags, const fer_image_data *img,
                           uint64_t ready_ns, int poll, char **out)
{
    *out = NULL;
    cJSON *res = fer_result_to_cjson(r, flags);
    int ok = res != NULL;
    if (ok && img && img->kind != FER_IMAGE_NONE && img->jpeg)
        ok = add_image(res, img);
    if (ok && ready_ns)
        ok = fer_json_add_u64(res, "ready_ns", ready_ns);
    if (!ok || !poll)
        return print_owned(res, ok, out);
    cJSON *o = new_object("POLL");
    if (!o || !cJSON_AddItemToObject(o, "result", res)) {
        cJSON_Delete(o);
        cJSON_Delete(res);
        return -ENOMEM;
    }
    return print_owned(o, 1, out);
}

/* ---- decoders of the daemon's objects ---- */

void fer_message_clear(fer_message *m)
{
    free(m->image.jpeg);
    free(m->status);
    memset(m, 0, sizeof *m);
}

static int image_from_cjson(fer_image_data *img, const cJSON *res, fer_error *err)
{
    const cJSON *im = fer_json_member(res, "image");
    if (!im)
        return 0;
    const char *what = "RESULT image";
    if (!cJSON_IsObject(im))
        return fer_fail(err, FER_E_PROTO, "RESULT: \"image\" is not an object");
    char kind[16];
    long long v;
    int rc = fer_json_str(im, what, "kind", 1, kind, sizeof kind, err);
    if (rc < 0)
        return rc;
    if (image_kind_from(kind, &img->kind) < 0 || img->kind == FER_IMAGE_NONE)
        return fer_fail(err, FER_E_PROTO, "%s: unknown \"kind\"", what);
    if ((rc = fer_json_int(im, what, "width", 1, 1e6, 1, &v, err)) < 0)
        return rc;
    img->width = (int)v;
    if ((rc = fer_json_int(im, what, "height", 1, 1e6, 1, &v, err)) < 0)
        return rc;
    img->height = (int)v;
    const cJSON *data = fer_json_member(im, "data");
    if (!cJSON_IsString(data))
        return fer_fail(err, FER_E_PROTO, "%s: \"data\" missing or not a string", what);
    rc = fer_base64_decode(data->valuestring, strlen(data->valuestring), &img->jpeg, &img->len);
    if (rc < 0)
        return rc == -ENOMEM ? fer_fail(err, rc, "%s: out of memory", what)
                             : fer_fail(err, FER_E_PROTO, "%s: \"data\" is not base64", what);
    return 0;
}

static int result_from(fer_message *m, const cJSON *res, fer_error *err)
{
    int rc = fer_result_from_cjson(&m->u.result, res, err);
    if (rc < 0)
        return rc;
    rc = fer_json_u64(res, "RESULT", "ready_ns", 0, &m->ready_ns, err);
    if (rc < 0)
        return rc;
    return image_from_cjson(&m->image, res, err);
}

static int face_event_from(fer_face_event *ev, const cJSON *o, fer_error *err)
{
    const char *what = "FACE";
    char name[16];
    int rc = fer_json_str(o, what, "event", 1, name, sizeof name, err);
    if (rc < 0)
        return rc;
    ev->event = 0;
    for (int k = FER_EVENT_APPEARED; k <= FER_EVENT_ENDED; k++)
        if (strcmp(name, event_names[k]) == 0)
            ev->event = (fer_face_event_kind)k;
    if (!ev->event)
        return fer_fail(err, FER_E_PROTO, "FACE: unknown \"event\" \"%s\"", name);
    if ((rc = fer_json_u64(o, what, "seq", 1, &ev->seq, err)) < 0)
        return rc;
    const cJSON *t = fer_json_member(o, "time");
    if (!cJSON_IsString(t) || fer_time_parse(t->valuestring, &ev->wall_ms) < 0)
        return fer_fail(err, FER_E_PROTO, "FACE: \"time\" missing or not RFC 3339");
    long long v;
    if ((rc = fer_json_int(o, what, "id", 0, 2147483647.0, 1, &v, err)) < 0)
        return rc;
    ev->id = (int)v;
    if (ev->event == FER_EVENT_ENDED)
        return 0;
    const cJSON *box = fer_json_member(o, "box");
    if (!cJSON_IsObject(box))
        return fer_fail(err, FER_E_PROTO, "FACE: \"box\" missing or not an object");
    static const char *const keys[4] = {"x", "y", "w", "h"};
    int *dst[4] = {&ev->box.x, &ev->box.y, &ev->box.w, &ev->box.h};
    for (int k = 0; k < 4; k++) {
        if ((rc = fer_json_int(box, "FACE box", keys[k], k < 2 ? -1e9 : 0, 1e9, 1, &v, err)) < 0)
            return rc;
        *dst[k] = (int)v;
    }
    if ((rc = fer_json_str(o, what, "label", 1, ev->label, sizeof ev->label, err)) < 0)
        return rc;
    double d;
    if ((rc = fer_json_num(o, what, "prob", 0, 1, 1, &d, err)) < 0)
        return rc;
    ev->prob = (float)d;
    if (ev->event == FER_EVENT_CHANGED &&
        (rc = fer_json_str(o, what, "from", 1, ev->from, sizeof ev->from, err)) < 0)
        return rc;
    if (ev->event == FER_EVENT_APPEARED &&
        (rc = fer_json_bool(o, what, "initial", &ev->initial, err)) < 0)
        return rc;
    return 0;
}

static int model_from(fer_model_info *m, const cJSON *o, const char *what, fer_error *err)
{
    memset(m, 0, sizeof *m);
    m->params = -1;
    m->val_acc = m->test_acc = -1;
    m->temperature = -1;
    if (!cJSON_IsObject(o))
        return fer_fail(err, FER_E_PROTO, "%s: \"model\" is not an object", what);
    int rc;
    if ((rc = fer_json_str(o, what, "name", 0, m->name, sizeof m->name, err)) < 0)
        return rc;
    if ((rc = fer_json_str(o, what, "path", 0, m->path, sizeof m->path, err)) < 0)
        return rc;
    const cJSON *cl = fer_json_member(o, "classes");
    if (cl) {
        if (!cJSON_IsArray(cl) || cJSON_GetArraySize(cl) > FER_RESULT_MAX_CLASSES)
            return fer_fail(err, FER_E_PROTO, "%s: \"classes\" is not an array of at most %d names",
                         what, FER_RESULT_MAX_CLASSES);
        const cJSON *it;
        cJSON_ArrayForEach(it, cl)
        {
            if (!cJSON_IsString(it))
                return fer_fail(err, FER_E_PROTO, "%s: \"classes\" holds a non-string", what);
            copy_str(m->classes[m->nclasses++], FER_RESULT_CLASS_NAME, it->valuestring);
        }
    }
    long long v;
    if ((rc = fer_json_int(o, what, "params", 0, 9e15, 0, &v, err)) < 0)
        return rc;
    if (rc)
        m->params = v;
    if ((rc = fer_json_num(o, what, "val_acc", 0, 1, 0, &m->val_acc, err)) < 0)
        return rc;
    if ((rc = fer_json_num(o, what, "test_acc", 0, 1, 0, &m->test_acc, err)) < 0)
        return rc;
    if ((rc = fer_json_str(o, what, "test_split", 0, m->test_split, sizeof m->test_split, err)) < 0)
        return rc;
    const cJSON *ca = fer_json_member(o, "calibration");
    if (ca) {
        if (!cJSON_IsObject(ca))
            return fer_fail(err, FER_E_PROTO, "%s: \"calibration\" is not an object", what);
        if ((rc = fer_json_num(ca, what, "temperature", 0.001, 1000, 1, &m->temperature, err)) < 0)
            return rc;
        if ((rc = fer_json_str(ca, what, "split", 0, m->calib_split, sizeof m->calib_split, err)) < 0)
            return rc;
    }
    return 0;
}

/* An optional integer counter into *dst (left alone when absent). */
static int opt_ll(const cJSON *o, const char *what, const char *key, long long *dst,
                  fer_error *err)
{
    long long v = 0;
    int rc = fer_json_int(o, what, key, -9e15, 9e15, 0, &v, err);
    if (rc == 1)
        *dst = v;
    return rc < 0 ? rc : 0;
}

static int opt_int(const cJSON *o, const char *what, const char *key, int *dst, fer_error *err)
{
    long long v = 0;
    int rc = fer_json_int(o, what, key, -2147483648.0, 2147483647.0, 0, &v, err);
    if (rc == 1)
        *dst = (int)v;
    return rc < 0 ? rc : 0;
}

static int status_client_from(fer_status_client *c, const cJSON *e, fer_error *err)
{
    const char *what = "STATUS client_list";
    memset(c, 0, sizeof *c);
    c->uid = c->pid = -1;
    if (!cJSON_IsObject(e))
        return fer_fail(err, FER_E_PROTO, "%s: an entry is not an object", what);
    long long v;
    int rc;
    if ((rc = fer_json_int(e, what, "id", 0, 2147483647.0, 1, &v, err)) < 0)
        return rc;
    c->id = (int)v;
    if ((rc = opt_ll(e, what, "uid", &c->uid, err)) < 0 ||
        (rc = opt_ll(e, what, "pid", &c->pid, err)) < 0)
        return rc;
    if ((rc = fer_json_bool(e, what, "watching", &c->watching, err)) < 0 ||
        (rc = fer_json_bool(e, what, "events", &c->events, err)) < 0 ||
        (rc = get_image_kind(e, what, &c->image, err)) < 0 ||
        (rc = fer_json_num(e, what, "max_fps", 0, FER_PROTO_MAX_FPS, 0, &c->max_fps, err)) < 0)
        return rc;
    long long sent = 0, dropped = 0, queued = 0;
    if ((rc = opt_ll(e, what, "sent", &sent, err)) < 0 ||
        (rc = opt_ll(e, what, "dropped", &dropped, err)) < 0 ||
        (rc = opt_ll(e, what, "queued", &queued, err)) < 0)
        return rc;
    c->sent = (unsigned long long)(sent < 0 ? 0 : sent);
    c->dropped = (unsigned long long)(dropped < 0 ? 0 : dropped);
    c->queued = (unsigned long long)(queued < 0 ? 0 : queued);
    return 0;
}

/* STATUS: every group optional (absent = unknown), but a group that is there
 * must have the right types; "unknown" numbers decode as -1 where 0 is a value. */
static int status_from(fer_status_msg *s, const cJSON *o, fer_error *err)
{
    const char *what = "STATUS";
    memset(s, 0, sizeof *s);
    s->source.fps = -1;
    s->latency.p50 = s->latency.p99 = -1;
    s->pid = -1;
    int rc;
    if ((rc = fer_json_str(o, what, "release", 0, s->release, sizeof s->release, err)) < 0 ||
        (rc = fer_json_num(o, what, "uptime", 0, 1e12, 0, &s->uptime, err)) < 0 ||
        (rc = opt_ll(o, what, "pid", &s->pid, err)) < 0)
        return rc;
    const cJSON *src = fer_json_member(o, "source");
    if (src) {
        const char *w = "STATUS source";
        if (!cJSON_IsObject(src))
            return fer_fail(err, FER_E_PROTO, "STATUS: \"source\" is not an object");
        if ((rc = fer_json_str(src, w, "name", 0, s->source.name, sizeof s->source.name, err)) < 0 ||
            (rc = fer_json_str(src, w, "kind", 0, s->source.kind, sizeof s->source.kind, err)) < 0 ||
            (rc = fer_json_str(src, w, "state", 1, s->source.state, sizeof s->source.state, err)) < 0 ||
            (rc = fer_json_str(src, w, "error", 0, s->source.error, sizeof s->source.error, err)) < 0 ||
            (rc = fer_json_num(src, w, "fps", 0, 1e6, 0, &s->source.fps, err)) < 0 ||
            (rc = opt_int(src, w, "width", &s->source.width, err)) < 0 ||
            (rc = opt_int(src, w, "height", &s->source.height, err)) < 0 ||
            (rc = opt_ll(src, w, "reopens", &s->source.reopens, err)) < 0)
            return rc;
    }
    const cJSON *model = fer_json_member(o, "model");
    if (model) {
        if ((rc = model_from(&s->model, model, "STATUS model", err)) < 0)
            return rc;
        s->has_model = 1;
    }
    const cJSON *cl = fer_json_member(o, "clients");
    if (cl) {
        const char *w = "STATUS clients";
        if (!cJSON_IsObject(cl))
            return fer_fail(err, FER_E_PROTO, "STATUS: \"clients\" is not an object");
        if ((rc = opt_int(cl, w, "connected", &s->clients.connected, err)) < 0 ||
            (rc = opt_int(cl, w, "watching", &s->clients.watching, err)) < 0 ||
            (rc = opt_int(cl, w, "max", &s->clients.max, err)) < 0 ||
            (rc = opt_ll(cl, w, "accepted", &s->clients.accepted, err)) < 0 ||
            (rc = opt_ll(cl, w, "rejected", &s->clients.rejected, err)) < 0 ||
            (rc = opt_ll(cl, w, "soft_disconnects", &s->clients.soft_disconnects, err)) < 0 ||
            (rc = opt_ll(cl, w, "hard_disconnects", &s->clients.hard_disconnects, err)) < 0 ||
            (rc = opt_ll(cl, w, "line_disconnects", &s->clients.line_disconnects, err)) < 0 ||
            (rc = opt_ll(cl, w, "rate_limited", &s->clients.rate_limited, err)) < 0 ||
            (rc = opt_ll(cl, w, "timeouts", &s->clients.timeouts, err)) < 0)
            return rc;
    }
    const cJSON *fr = fer_json_member(o, "frames");
    if (fr) {
        const char *w = "STATUS frames";
        if (!cJSON_IsObject(fr))
            return fer_fail(err, FER_E_PROTO, "STATUS: \"frames\" is not an object");
        if ((rc = opt_ll(fr, w, "captured", &s->frames.captured, err)) < 0 ||
            (rc = opt_ll(fr, w, "processed", &s->frames.processed, err)) < 0 ||
            (rc = opt_ll(fr, w, "dropped", &s->frames.dropped, err)) < 0)
            return rc;
    }
    const cJSON *la = fer_json_member(o, "latency_ms");
    if (la) {
        const char *w = "STATUS latency_ms";
        if (!cJSON_IsObject(la))
            return fer_fail(err, FER_E_PROTO, "STATUS: \"latency_ms\" is not an object");
        if ((rc = fer_json_num(la, w, "p50", 0, 1e9, 1, &s->latency.p50, err)) < 0 ||
            (rc = fer_json_num(la, w, "p99", 0, 1e9, 1, &s->latency.p99, err)) < 0 ||
            (rc = opt_ll(la, w, "samples", &s->latency.samples, err)) < 0)
            return rc;
    }
    const cJSON *list = fer_json_member(o, "client_list");
    if (list) {
        if (!cJSON_IsArray(list))
            return fer_fail(err, FER_E_PROTO, "STATUS: \"client_list\" is not an array");
        const cJSON *e;
        cJSON_ArrayForEach(e, list)
        {
            if (s->nlist >= FER_STATUS_MAX_CLIENTS)
                break;
            if ((rc = status_client_from(&s->list[s->nlist], e, err)) < 0)
                return rc;
            s->nlist++;
        }
    }
    return 0;
}

static int reload_from(fer_reload_msg *r, const cJSON *o, fer_error *err)
{
    memset(r, 0, sizeof *r);
    const cJSON *model = fer_json_member(o, "model");
    if (!model)
        return fer_fail(err, FER_E_PROTO, "RELOAD: \"model\" missing");
    int rc = model_from(&r->model, model, "RELOAD model", err);
    if (rc < 0)
        return rc;
    const cJSON *a = fer_json_member(o, "restart_needed");
    if (a) {
        if (!cJSON_IsArray(a))
            return fer_fail(err, FER_E_PROTO, "RELOAD: \"restart_needed\" is not an array");
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            if (!cJSON_IsString(it))
                return fer_fail(err, FER_E_PROTO, "RELOAD: \"restart_needed\" holds a non-string");
            if (r->nrestart < FER_RELOAD_MAX_KEYS)
                copy_str(r->restart[r->nrestart++], sizeof r->restart[0], it->valuestring);
        }
    }
    return 0;
}

/*
 * The client side's decoder: the class picks the struct, the getters check
 * every member the struct takes, and a class this version does not know is
 * not an error (FER_MSG_UNKNOWN). On failure the half-decoded message is
 * cleared (its class kept), so a caller never sees partly filled fields.
 */
int fer_message_parse(fer_message *m, const char *line, size_t len, fer_error *err)
{
    fer_message_clear(m);
    if (!line)
        return fer_fail(err, FER_E_PROTO, "message: no line");
    size_t n = len;
    if (n && line[n - 1] == '\n')
        n--;
    if (n && line[n - 1] == '\r')
        n--;
    cJSON *o = fer_json_parse_object(line, n, FER_PROTO_MAX_RESPONSE, "message", err);
    if (!o)
        return FER_E_PROTO;
    int rc = 0;
    const cJSON *cls = fer_json_member(o, "class");
    if (!cJSON_IsString(cls)) {
        rc = fer_fail(err, FER_E_PROTO, "message: \"class\" missing or not a string");
        goto done;
    }
    copy_str(m->cls, sizeof m->cls, cls->valuestring);
    const char *c = cls->valuestring;
    if (strcmp(c, "VERSION") == 0) {
        fer_version_msg *v = &m->u.version;
        long long x;
        m->kind = FER_MSG_VERSION;
        v->max_request = FER_PROTO_MAX_REQUEST;
        v->max_response = FER_PROTO_MAX_RESPONSE;
        if ((rc = fer_json_str(o, c, "release", 1, v->release, sizeof v->release, err)) < 0)
            goto done;
        if ((rc = fer_json_int(o, c, "proto_major", 0, 1e6, 1, &x, err)) < 0)
            goto done;
        v->proto_major = (int)x;
        if ((rc = fer_json_int(o, c, "proto_minor", 0, 1e6, 1, &x, err)) < 0)
            goto done;
        v->proto_minor = (int)x;
        if ((rc = opt_int(o, c, "max_request", &v->max_request, err)) < 0 ||
            (rc = opt_int(o, c, "max_response", &v->max_response, err)) < 0)
            goto done;
    } else if (strcmp(c, "ERROR") == 0) {
        fer_error_msg *e = &m->u.error;
        m->kind = FER_MSG_ERROR;
        if ((rc = fer_json_str(o, c, "message", 1, e->message, sizeof e->message, err)) < 0 ||
            (rc = fer_json_str(o, c, "code", 0, e->code, sizeof e->code, err)) < 0 ||
            (rc = fer_json_str(o, c, "request", 0, e->request, sizeof e->request, err)) < 0)
            goto done;
    } else if (strcmp(c, "WATCH") == 0) {
        m->kind = FER_MSG_WATCH;
        rc = watch_from_cjson(&m->u.watch, o, err);
    } else if (strcmp(c, "RESULT") == 0) {
        m->kind = FER_MSG_RESULT;
        rc = result_from(m, o, err);
    } else if (strcmp(c, "POLL") == 0) {
        m->kind = FER_MSG_POLL;
        const cJSON *res = fer_json_member(o, "result");
        rc = res ? result_from(m, res, err)
                 : fer_fail(err, FER_E_PROTO, "POLL: \"result\" missing");
    } else if (strcmp(c, "FACE") == 0) {
        m->kind = FER_MSG_FACE;
        rc = face_event_from(&m->u.face, o, err);
    } else if (strcmp(c, "STATUS") == 0) {
        m->kind = FER_MSG_STATUS;
        m->status = malloc(sizeof *m->status);
        rc = m->status ? status_from(m->status, o, err)
                       : fer_fail(err, -ENOMEM, "STATUS: out of memory");
    } else if (strcmp(c, "RELOAD") == 0) {
        m->kind = FER_MSG_RELOAD;
        rc = reload_from(&m->u.reload, o, err);
    } else if (strcmp(c, "SHUTDOWN") == 0) {
        m->kind = FER_MSG_SHUTDOWN;
        rc = fer_json_str(o, c, "message", 0, m->u.shutdown, sizeof m->u.shutdown, err);
    } else if (strcmp(c, "END") == 0) {
        fer_end_msg *e = &m->u.end;
        long long x = -1;
        m->kind = FER_MSG_END;
        e->frames = -1;
        if ((rc = fer_json_str(o, c, "source", 0, e->source, sizeof e->source, err)) < 0 ||
            (rc = fer_json_str(o, c, "message", 0, e->message, sizeof e->message, err)) < 0 ||
            (rc = fer_json_int(o, c, "frames", 0, 9e15, 0, &x, err)) < 0 ||
            (rc = fer_json_u64(o, c, "seq", 0, &e->seq, err)) < 0)
            goto done;
        e->frames = x;
    } else {
        m->kind = FER_MSG_UNKNOWN;
    }
    rc = rc < 0 ? rc : 0;
done:
    cJSON_Delete(o);
    if (rc < 0) {
        /* Keep the class for the caller's message; drop what was half-decoded. */
        char cls_copy[sizeof m->cls];
        memcpy(cls_copy, m->cls, sizeof cls_copy);
        fer_message_clear(m);
        memcpy(m->cls, cls_copy, sizeof cls_copy);
    }
    return rc;
}
