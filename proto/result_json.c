/*
 * result_json.c — RESULT objects to and from JSON with cJSON (schema in
 * docs/RESULT_SCHEMA.md).
 *
 * Encoding follows gpsd's conventions: a "class" key names the object; optional
 * facts are absent rather than null; numbers are rounded to what they mean
 * (probabilities to 4 decimals, milliseconds to 3), which keeps lines short.
 * Integers that may exceed 2^53 (seq, mono_ns) are written as exact digits.
 * Decoding ignores unknown keys, checks every type and range it relies on, and
 * reports the first problem as FER_E_PROTO naming the key.
 */
#include "proto/result_json.h"

#include "proto/json.h"
#include "util/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int fer_time_format(int64_t wall_ms, char *buf, size_t n)
{
    int64_t secs = wall_ms >= 0 ? wall_ms / 1000 : -((-wall_ms + 999) / 1000);
    int ms = (int)(wall_ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -EINVAL;
    int len = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return len > 0 && (size_t)len < n ? 0 : -EINVAL;
}

/* Reads exactly n digits at *s into *v. */
static int digits(const char **s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        *v = *v * 10 + (**s - '0');
    }
    return 0;
}

int fer_time_parse(const char *s, int64_t *wall_ms)
{
    int Y, M, D, h, m, sec, ms = 0;
    if (digits(&s, 4, &Y) || *s++ != '-' || digits(&s, 2, &M) || *s++ != '-' ||
        digits(&s, 2, &D) || (*s != 'T' && *s != 't') || !*s++ || digits(&s, 2, &h) ||
        *s++ != ':' || digits(&s, 2, &m) || *s++ != ':' || digits(&s, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -EINVAL;
    if (*s == '.') {
        s++;
        int nd = 0;
        while (*s >= '0' && *s <= '9') {
            if (nd < 3)
                ms = ms * 10 + (*s - '0');
            nd++;
            s++;
        }
        if (nd == 0)
            return -EINVAL;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -EINVAL;
    }
    if (*s)
        return -EINVAL;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *wall_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}

static const char *class_name(const fer_frame_result *r, int i)
{
    return i >= 0 && i < r->nclasses ? r->classes[i] : "unknown";
}

int fer_face_add_to_cjson(cJSON *o, const fer_frame_result *r, const fer_face_result *f,
                          unsigned flags)
{
    int n0 = cJSON_GetArraySize(o);
    cJSON_AddNumberToObject(o, "id", f->id);
    cJSON *box = cJSON_AddObjectToObject(o, "box");
    if (box) {
        cJSON_AddNumberToObject(box, "x", f->box.x);
        cJSON_AddNumberToObject(box, "y", f->box.y);
        cJSON_AddNumberToObject(box, "w", f->box.w);
        cJSON_AddNumberToObject(box, "h", f->box.h);
    }
    cJSON_AddStringToObject(o, "label", class_name(r, f->label));
    cJSON_AddNumberToObject(o, "prob", fer_json_round(f->prob, 1e-4));
    if (r->has_scores && !(flags & FER_JSON_NO_SCORES)) {
        cJSON *sc = cJSON_AddObjectToObject(o, "scores");
        for (int c = 0; sc && c < r->nclasses; c++)
            cJSON_AddNumberToObject(sc, r->classes[c], fer_json_round(f->scores[c], 1e-4));
    }
    cJSON *sm = cJSON_AddObjectToObject(o, "smoothed");
    if (sm) {
        cJSON_AddStringToObject(sm, "label", class_name(r, f->smoothed_label));
        cJSON_AddNumberToObject(sm, "prob", fer_json_round(f->smoothed_prob, 1e-4));
    }
    if (f->events & FER_FACE_NEW)
        cJSON_AddTrueToObject(o, "new");
    if ((f->events & FER_FACE_LABEL_CHANGED) && f->previous_label >= 0)
        cJSON_AddStringToObject(o, "changed_from", class_name(r, f->previous_label));
    /* id, box, label, prob and smoothed at least: fewer means an allocation failed. */
    return cJSON_GetArraySize(o) - n0 >= 5 && box && sm ? 0 : -ENOMEM;
}

static cJSON *face_to_cjson(const fer_frame_result *r, const fer_face_result *f, unsigned flags)
{
    cJSON *o = cJSON_CreateObject();
    if (o && fer_face_add_to_cjson(o, r, f, flags) < 0) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

cJSON *fer_result_to_cjson(const fer_frame_result *r, unsigned flags)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char when[40];
    if (fer_time_format(r->wall_ms, when, sizeof when) < 0)
        snprintf(when, sizeof when, "1970-01-01T00:00:00.000Z");
    int ok = cJSON_AddStringToObject(o, "class", "RESULT") != NULL;
    ok = ok && cJSON_AddItemToObject(o, "seq", fer_json_u64_item(r->seq));
    ok = ok && cJSON_AddStringToObject(o, "time", when);
    ok = ok && cJSON_AddItemToObject(o, "mono_ns", fer_json_u64_item(r->mono_ns));
    ok = ok && cJSON_AddNumberToObject(o, "width", r->width);
    ok = ok && cJSON_AddNumberToObject(o, "height", r->height);
    cJSON *timing = cJSON_AddObjectToObject(o, "timing");
    ok = ok && timing;
    ok = ok && cJSON_AddNumberToObject(timing, "detect_ms", fer_json_round(r->detect_ms, 1e-3));
    ok = ok && cJSON_AddNumberToObject(timing, "classify_ms", fer_json_round(r->classify_ms, 1e-3));
    ok = ok && cJSON_AddNumberToObject(timing, "total_ms", fer_json_round(r->total_ms, 1e-3));
    cJSON *faces = cJSON_AddArrayToObject(o, "faces");
    ok = ok && faces;
    int nf = r->nfaces < FER_RESULT_MAX_FACES ? r->nfaces : FER_RESULT_MAX_FACES;
    for (int i = 0; ok && i < nf; i++) {
        cJSON *f = face_to_cjson(r, &r->faces[i], flags);
        ok = f && cJSON_AddItemToArray(faces, f);
    }
    if (ok && r->nended > 0) {
        cJSON *ended = cJSON_AddArrayToObject(o, "ended");
        int ne = r->nended < FER_RESULT_MAX_ENDED ? r->nended : FER_RESULT_MAX_ENDED;
        for (int i = 0; ended && i < ne; i++)
            ok = ok && cJSON_AddItemToArray(ended, cJSON_CreateNumber(r->ended[i]));
        ok = ok && ended;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int fer_result_to_json(const fer_frame_result *r, unsigned flags, char **out, fer_error *err)
{
    *out = NULL;
    cJSON *o = fer_result_to_cjson(r, flags);
    char *s = fer_json_print(o);
    cJSON_Delete(o);
    if (!s)
        return fer_fail(err, -ENOMEM, "RESULT: out of memory encoding JSON");
    *out = s;
    return 0;
}

/* ---- decoding ---- */

/* The index of name in r's class table, adding it if new; -1 if the table is full. */
static int class_index(fer_frame_result *r, const char *name)
{
    for (int c = 0; c < r->nclasses; c++)
        if (strcmp(r->classes[c], name) == 0)
            return c;
    if (r->nclasses >= FER_RESULT_MAX_CLASSES || strlen(name) >= FER_RESULT_CLASS_NAME)
        return -1;
    snprintf(r->classes[r->nclasses], FER_RESULT_CLASS_NAME, "%s", name);
    return r->nclasses++;
}

/* A class name under key, entered in r's class table; 0 absent (and not required),
 * 1 read, FER_E_PROTO. */
static int get_label(fer_frame_result *r, const cJSON *o, const char *what, const char *key,
                     int required, int *label, fer_error *err)
{
    const cJSON *it = fer_json_member(o, key);
    if (!it && !required)
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return fer_fail(err, FER_E_PROTO, "%s: \"%s\" missing or not a class name", what, key);
    *label = class_index(r, it->valuestring);
    if (*label < 0)
        return fer_fail(err, FER_E_PROTO, "%s: \"%s\": more than %d classes or a name over %d "
                        "bytes", what, key, FER_RESULT_MAX_CLASSES, FER_RESULT_CLASS_NAME - 1);
    return 1;
}

/* Every face key but the class table's scores: what names the face in errors. */
static int face_from_cjson(fer_frame_result *r, fer_face_result *f, const cJSON *o, int i,
                           fer_error *err)
{
    char what[48], sub[64];
    snprintf(what, sizeof what, "RESULT faces[%d]", i);
    if (!cJSON_IsObject(o))
        return fer_fail(err, FER_E_PROTO, "%s is not an object", what);
    int rc;
    double v;
    memset(f, 0, sizeof *f);
    f->previous_label = -1;
    if ((rc = fer_json_num(o, what, "id", 0, 2147483647.0, 1, &v, err)) < 0)
        return rc;
    f->id = (int)v;
    const cJSON *box = fer_json_member(o, "box");
    if (!cJSON_IsObject(box))
        return fer_fail(err, FER_E_PROTO, "%s: \"box\" missing or not an object", what);
    static const char *const keys[4] = {"x", "y", "w", "h"};
    int *dst[4] = {&f->box.x, &f->box.y, &f->box.w, &f->box.h};
    snprintf(sub, sizeof sub, "%s.box", what);
    for (int k = 0; k < 4; k++) {
        if ((rc = fer_json_num(box, sub, keys[k], k < 2 ? -1e9 : 0, 1e9, 1, &v, err)) < 0)
            return rc;
        *dst[k] = (int)v;
    }

    /* Scores first: their keys, in order, are the class table. */
    const cJSON *sc = fer_json_member(o, "scores");
    if (sc) {
        if (!cJSON_IsObject(sc))
            return fer_fail(err, FER_E_PROTO, "%s: \"scores\" is not an object", what);
        const cJSON *it;
        cJSON_ArrayForEach(it, sc)
        {
            int c = class_index(r, it->string);
            if (c < 0)
                return fer_fail(err, FER_E_PROTO, "%s: \"scores\": more than %d classes or a "
                                "name over %d bytes", what, FER_RESULT_MAX_CLASSES,
                                FER_RESULT_CLASS_NAME - 1);
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble > 1)
                return fer_fail(err, FER_E_PROTO, "%s.scores: \"%s\" is not a number in [0, 1]",
                                what, it->string);
            f->scores[c] = (float)it->valuedouble;
        }
        r->has_scores = 1;
    }
    if ((rc = get_label(r, o, what, "label", 1, &f->label, err)) < 0)
        return rc;
    if ((rc = fer_json_num(o, what, "prob", 0, 1, 1, &v, err)) < 0)
        return rc;
    f->prob = (float)v;
    f->smoothed_label = f->label;
    f->smoothed_prob = f->prob;
    const cJSON *sm = fer_json_member(o, "smoothed");
    if (sm) {
        snprintf(sub, sizeof sub, "%s.smoothed", what);
        if (!cJSON_IsObject(sm))
            return fer_fail(err, FER_E_PROTO, "%s: \"smoothed\" is not an object", what);
        if ((rc = get_label(r, sm, sub, "label", 1, &f->smoothed_label, err)) < 0)
            return rc;
        if ((rc = fer_json_num(sm, sub, "prob", 0, 1, 1, &v, err)) < 0)
            return rc;
        f->smoothed_prob = (float)v;
    }
    int isnew = 0;
    if ((rc = fer_json_bool(o, what, "new", &isnew, err)) < 0)
        return rc;
    if (isnew)
        f->events |= FER_FACE_NEW;
    rc = get_label(r, o, what, "changed_from", 0, &f->previous_label, err);
    if (rc < 0)
        return rc;
    if (rc > 0)
        f->events |= FER_FACE_LABEL_CHANGED;
    return 0;
}

int fer_result_from_cjson(fer_frame_result *r, const cJSON *o, fer_error *err)
{
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o))
        return fer_fail(err, FER_E_PROTO, "RESULT: not a JSON object");
    const cJSON *cls = fer_json_member(o, "class");
    if (!cJSON_IsString(cls) || strcmp(cls->valuestring, "RESULT") != 0)
        return fer_fail(err, FER_E_PROTO, "RESULT: \"class\" is not \"RESULT\"");
    int rc;
    if ((rc = fer_json_u64(o, "RESULT", "seq", 1, &r->seq, err)) < 0 ||
        (rc = fer_json_u64(o, "RESULT", "mono_ns", 0, &r->mono_ns, err)) < 0)
        return rc;
    const cJSON *t = fer_json_member(o, "time");
    if (!cJSON_IsString(t) || fer_time_parse(t->valuestring, &r->wall_ms) < 0)
        return fer_fail(err, FER_E_PROTO, "RESULT: \"time\" missing or not RFC 3339");
    double v;
    if ((rc = fer_json_num(o, "RESULT", "width", 0, 1e6, 1, &v, err)) < 0)
        return rc;
    r->width = (int)v;
    if ((rc = fer_json_num(o, "RESULT", "height", 0, 1e6, 1, &v, err)) < 0)
        return rc;
    r->height = (int)v;
    const cJSON *timing = fer_json_member(o, "timing");
    if (timing) {
        if (!cJSON_IsObject(timing))
            return fer_fail(err, FER_E_PROTO, "RESULT: \"timing\" is not an object");
        double *dst[3] = {&r->detect_ms, &r->classify_ms, &r->total_ms};
        static const char *const keys[3] = {"detect_ms", "classify_ms", "total_ms"};
        for (int k = 0; k < 3; k++)
            if ((rc = fer_json_num(timing, "RESULT timing", keys[k], 0, 1e9, 0, dst[k], err)) < 0)
                return rc;
    }
    const cJSON *faces = fer_json_member(o, "faces");
    if (!cJSON_IsArray(faces))
        return fer_fail(err, FER_E_PROTO, "RESULT: \"faces\" missing or not an array");
    int n = cJSON_GetArraySize(faces);
    if (n > FER_RESULT_MAX_FACES)
        return fer_fail(err, FER_E_PROTO, "RESULT: %d faces, at most %d", n,
                          FER_RESULT_MAX_FACES);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, faces)
    {
        rc = face_from_cjson(r, &r->faces[i], it, i, err);
        if (rc < 0)
            return rc;
        i++;
    }
    r->nfaces = i;
    const cJSON *ended = fer_json_member(o, "ended");
    if (ended) {
        if (!cJSON_IsArray(ended) || cJSON_GetArraySize(ended) > FER_RESULT_MAX_ENDED)
            return fer_fail(err, FER_E_PROTO, "RESULT: \"ended\" is not an array of at most "
                              "%d ids", FER_RESULT_MAX_ENDED);
        cJSON_ArrayForEach(it, ended)
        {
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 1) || it->valuedouble > 2147483647.0)
                return fer_fail(err, FER_E_PROTO, "RESULT: \"ended\" holds a non-id");
            r->ended[r->nended++] = (int)it->valuedouble;
        }
    }
    return 0;
}

int fer_result_from_json(fer_frame_result *r, const char *text, size_t len, fer_error *err)
{
    memset(r, 0, sizeof *r);
    if (!text)
        return fer_fail(err, FER_E_PROTO, "RESULT: no text");
    /* The same gate as every daemon line (proto/json.c): names are copied into fixed
     * tables and re-encoded, so an invalid byte or a NUL must be refused here. */
    cJSON *o = fer_json_parse_object(text, len, FER_RESULT_JSON_MAX, "RESULT", err);
    if (!o)
        return FER_E_PROTO;
    int rc = fer_result_from_cjson(r, o, err);
    cJSON_Delete(o);
    return rc;
}
