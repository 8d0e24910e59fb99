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

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* fer_fail's twin: proto/ links no libfer code. */
__attribute__((format(printf, 3, 4)))
static int proto_fail(fer_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static double round_to(double v, double unit)
{
    if (!isfinite(v))
        return 0.0;
    return round(v / unit) * unit;
}

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

/* An unsigned 64-bit integer as exact JSON digits. */
static cJSON *u64_item(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

static const char *class_name(const fer_frame_result *r, int i)
{
    return i >= 0 && i < r->nclasses ? r->classes[i] : "unknown";
}

static cJSON *face_to_cjson(const fer_frame_result *r, const fer_face_result *f, unsigned flags)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", f->id);
    cJSON *box = cJSON_AddObjectToObject(o, "box");
    if (box) {
        cJSON_AddNumberToObject(box, "x", f->box.x);
        cJSON_AddNumberToObject(box, "y", f->box.y);
        cJSON_AddNumberToObject(box, "w", f->box.w);
        cJSON_AddNumberToObject(box, "h", f->box.h);
    }
    cJSON_AddStringToObject(o, "label", class_name(r, f->label));
    cJSON_AddNumberToObject(o, "prob", round_to(f->prob, 1e-4));
    if (r->has_scores && !(flags & FER_JSON_NO_SCORES)) {
        cJSON *sc = cJSON_AddObjectToObject(o, "scores");
        for (int c = 0; sc && c < r->nclasses; c++)
            cJSON_AddNumberToObject(sc, r->classes[c], round_to(f->scores[c], 1e-4));
    }
    cJSON *sm = cJSON_AddObjectToObject(o, "smoothed");
    if (sm) {
        cJSON_AddStringToObject(sm, "label", class_name(r, f->smoothed_label));
        cJSON_AddNumberToObject(sm, "prob", round_to(f->smoothed_prob, 1e-4));
    }
    if (f->events & FER_FACE_NEW)
        cJSON_AddTrueToObject(o, "new");
    if ((f->events & FER_FACE_LABEL_CHANGED) && f->previous_label >= 0)
        cJSON_AddStringToObject(o, "changed_from", class_name(r, f->previous_label));
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
    ok = ok && cJSON_AddItemToObject(o, "seq", u64_item(r->seq));
    ok = ok && cJSON_AddStringToObject(o, "time", when);
    ok = ok && cJSON_AddItemToObject(o, "mono_ns", u64_item(r->mono_ns));
    ok = ok && cJSON_AddNumberToObject(o, "width", r->width);
    ok = ok && cJSON_AddNumberToObject(o, "height", r->height);
    cJSON *timing = cJSON_AddObjectToObject(o, "timing");
    ok = ok && timing;
    ok = ok && cJSON_AddNumberToObject(timing, "detect_ms", round_to(r->detect_ms, 1e-3));
    ok = ok && cJSON_AddNumberToObject(timing, "classify_ms", round_to(r->classify_ms, 1e-3));
    ok = ok && cJSON_AddNumberToObject(timing, "total_ms", round_to(r->total_ms, 1e-3));
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
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return proto_fail(err, -ENOMEM, "RESULT: out of memory encoding JSON");
    *out = s;
    return 0;
}

/* ---- decoding ---- */

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A required (or, with required = 0, optional) finite number in [lo, hi]; 1 if present. */
static int get_number(const cJSON *o, const char *key, double lo, double hi, int required,
                      double *v, const char *where, fer_error *err, int *rc)
{
    const cJSON *it = member(o, key);
    if (!it) {
        if (required)
            *rc = proto_fail(err, FER_E_PROTO, "RESULT: %s\"%s\" missing", where, key);
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo ||
        it->valuedouble > hi) {
        *rc = proto_fail(err, FER_E_PROTO, "RESULT: %s\"%s\" is not a number in [%g, %g]",
                         where, key, lo, hi);
        return 0;
    }
    *v = it->valuedouble;
    return 1;
}

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

static int get_label(fer_frame_result *r, const cJSON *o, const char *key, int required,
                     int *label, const char *where, fer_error *err)
{
    const cJSON *it = member(o, key);
    if (!it && !required)
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return proto_fail(err, FER_E_PROTO, "RESULT: %s\"%s\" missing or not a class name",
                          where, key);
    *label = class_index(r, it->valuestring);
    if (*label < 0)
        return proto_fail(err, FER_E_PROTO, "RESULT: %s\"%s\": more than %d classes or a name "
                          "over %d bytes", where, key, FER_RESULT_MAX_CLASSES,
                          FER_RESULT_CLASS_NAME - 1);
    return 1;
}

static int face_from_cjson(fer_frame_result *r, fer_face_result *f, const cJSON *o, int i,
                           fer_error *err)
{
    char where[32];
    snprintf(where, sizeof where, "faces[%d].", i);
    if (!cJSON_IsObject(o))
        return proto_fail(err, FER_E_PROTO, "RESULT: faces[%d] is not an object", i);
    int rc = 0;
    double v;
    memset(f, 0, sizeof *f);
    f->previous_label = -1;
    if (get_number(o, "id", 0, 2147483647.0, 1, &v, where, err, &rc))
        f->id = (int)v;
    if (rc < 0)
        return rc;
    const cJSON *box = member(o, "box");
    if (!cJSON_IsObject(box))
        return proto_fail(err, FER_E_PROTO, "RESULT: %s\"box\" missing or not an object", where);
    static const char *const keys[4] = {"x", "y", "w", "h"};
    int *dst[4] = {&f->box.x, &f->box.y, &f->box.w, &f->box.h};
    snprintf(where, sizeof where, "faces[%d].box.", i);
    for (int k = 0; k < 4; k++) {
        if (get_number(box, keys[k], k < 2 ? -1e9 : 0, 1e9, 1, &v, where, err, &rc))
            *dst[k] = (int)v;
        if (rc < 0)
            return rc;
    }
    snprintf(where, sizeof where, "faces[%d].", i);

    /* Scores first: their keys, in order, are the class table. */
    const cJSON *sc = member(o, "scores");
    if (sc) {
        if (!cJSON_IsObject(sc))
            return proto_fail(err, FER_E_PROTO, "RESULT: %s\"scores\" is not an object", where);
        const cJSON *it;
        cJSON_ArrayForEach(it, sc)
        {
            int c = class_index(r, it->string);
            if (c < 0)
                return proto_fail(err, FER_E_PROTO, "RESULT: %s\"scores\": more than %d classes "
                                  "or a name over %d bytes", where, FER_RESULT_MAX_CLASSES,
                                  FER_RESULT_CLASS_NAME - 1);
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble > 1)
                return proto_fail(err, FER_E_PROTO, "RESULT: %sscores.\"%s\" is not a number in "
                                  "[0, 1]", where, it->string);
            f->scores[c] = (float)it->valuedouble;
        }
        r->has_scores = 1;
    }
    rc = get_label(r, o, "label", 1, &f->label, where, err);
    if (rc < 0)
        return rc;
    if (get_number(o, "prob", 0, 1, 1, &v, where, err, &rc))
        f->prob = (float)v;
    if (rc < 0)
        return rc;
    f->smoothed_label = f->label;
    f->smoothed_prob = f->prob;
    const cJSON *sm = member(o, "smoothed");
    if (sm) {
        char w2[48];
        snprintf(w2, sizeof w2, "faces[%d].smoothed.", i);
        if (!cJSON_IsObject(sm))
            return proto_fail(err, FER_E_PROTO, "RESULT: %s\"smoothed\" is not an object", where);
        rc = get_label(r, sm, "label", 1, &f->smoothed_label, w2, err);
        if (rc < 0)
            return rc;
        if (get_number(sm, "prob", 0, 1, 1, &v, w2, err, &rc))
            f->smoothed_prob = (float)v;
        if (rc < 0)
            return rc;
    }
    const cJSON *isnew = member(o, "new");
    if (isnew) {
        if (!cJSON_IsBool(isnew))
            return proto_fail(err, FER_E_PROTO, "RESULT: %s\"new\" is not a boolean", where);
        if (cJSON_IsTrue(isnew))
            f->events |= FER_FACE_NEW;
    }
    rc = get_label(r, o, "changed_from", 0, &f->previous_label, where, err);
    if (rc < 0)
        return rc;
    if (rc > 0)
        f->events |= FER_FACE_LABEL_CHANGED;
    return 0;
}

/* A required non-negative integer that may exceed 2^53 (accepted as a double). */
static int get_u64(const cJSON *o, const char *key, int required, uint64_t *v, fer_error *err)
{
    const cJSON *it = member(o, key);
    if (!it)
        return required ? proto_fail(err, FER_E_PROTO, "RESULT: \"%s\" missing", key) : 0;
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble >= 1.8446744073709552e19)
        return proto_fail(err, FER_E_PROTO, "RESULT: \"%s\" is not a non-negative integer", key);
    *v = (uint64_t)it->valuedouble;
    return 0;
}

int fer_result_from_cjson(fer_frame_result *r, const cJSON *o, fer_error *err)
{
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o))
        return proto_fail(err, FER_E_PROTO, "RESULT: not a JSON object");
    const cJSON *cls = member(o, "class");
    if (!cJSON_IsString(cls) || strcmp(cls->valuestring, "RESULT") != 0)
        return proto_fail(err, FER_E_PROTO, "RESULT: \"class\" is not \"RESULT\"");
    int rc = get_u64(o, "seq", 1, &r->seq, err);
    if (rc == 0)
        rc = get_u64(o, "mono_ns", 0, &r->mono_ns, err);
    if (rc < 0)
        return rc;
    const cJSON *t = member(o, "time");
    if (!cJSON_IsString(t) || fer_time_parse(t->valuestring, &r->wall_ms) < 0)
        return proto_fail(err, FER_E_PROTO, "RESULT: \"time\" missing or not RFC 3339");
    double v;
    if (get_number(o, "width", 0, 1e6, 1, &v, "", err, &rc))
        r->width = (int)v;
    if (rc == 0 && get_number(o, "height", 0, 1e6, 1, &v, "", err, &rc))
        r->height = (int)v;
    if (rc < 0)
        return rc;
    const cJSON *timing = member(o, "timing");
    if (timing) {
        if (!cJSON_IsObject(timing))
            return proto_fail(err, FER_E_PROTO, "RESULT: \"timing\" is not an object");
        double *dst[3] = {&r->detect_ms, &r->classify_ms, &r->total_ms};
        static const char *const keys[3] = {"detect_ms", "classify_ms", "total_ms"};
        for (int k = 0; k < 3; k++) {
            if (get_number(timing, keys[k], 0, 1e9, 0, &v, "timing.", err, &rc))
                *dst[k] = v;
            if (rc < 0)
                return rc;
        }
    }
    const cJSON *faces = member(o, "faces");
    if (!cJSON_IsArray(faces))
        return proto_fail(err, FER_E_PROTO, "RESULT: \"faces\" missing or not an array");
    int n = cJSON_GetArraySize(faces);
    if (n > FER_RESULT_MAX_FACES)
        return proto_fail(err, FER_E_PROTO, "RESULT: %d faces, at most %d", n,
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
    const cJSON *ended = member(o, "ended");
    if (ended) {
        if (!cJSON_IsArray(ended) || cJSON_GetArraySize(ended) > FER_RESULT_MAX_ENDED)
            return proto_fail(err, FER_E_PROTO, "RESULT: \"ended\" is not an array of at most "
                              "%d ids", FER_RESULT_MAX_ENDED);
        cJSON_ArrayForEach(it, ended)
        {
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 1) || it->valuedouble > 2147483647.0)
                return proto_fail(err, FER_E_PROTO, "RESULT: \"ended\" holds a non-id");
            r->ended[r->nended++] = (int)it->valuedouble;
        }
    }
    return 0;
}

int fer_result_from_json(fer_frame_result *r, const char *text, size_t len, fer_error *err)
{
    memset(r, 0, sizeof *r);
    if (!text || len > FER_RESULT_JSON_MAX)
        return proto_fail(err, FER_E_PROTO, "RESULT: line of %zu bytes exceeds %d", len,
                          FER_RESULT_JSON_MAX);
    cJSON *o = cJSON_ParseWithLength(text, len);
    if (!o)
        return proto_fail(err, FER_E_PROTO, "RESULT: not valid JSON");
    int rc = fer_result_from_cjson(r, o, err);
    cJSON_Delete(o);
    return rc;
}
