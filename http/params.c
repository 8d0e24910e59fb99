/*
 * params.c — query parameters: bounded collection, known-key checks and typed
 * reads (params.h). The ranges of the WATCH options are the protocol's
 * (proto/PROTOCOL.md), so a request refused here would have been refused by
 * ferd too, only with a less direct message.
 */
#include "params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_params_add(http_params *ps, const char *key, const char *value)
{
    if (ps->n >= HTTP_MAX_PARAMS) {
        ps->overflow = 1;
        return;
    }
    http_param *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    if (!key)
        key = "";
    if (strlen(key) >= sizeof p->key || (value && strlen(value) >= sizeof p->value))
        p->too_long = 1;
    snprintf(p->key, sizeof p->key, "%s", key);
    if (value) {
        p->has_value = 1;
        snprintf(p->value, sizeof p->value, "%s", value);
    }
}

int http_params_check(const http_params *ps, const char *const *known, char *why, size_t n)
{
    if (ps->overflow) {
        snprintf(why, n, "more than %d query parameters", HTTP_MAX_PARAMS);
        return -EINVAL;
    }
    for (int i = 0; i < ps->n; i++) {
        const http_param *p = &ps->p[i];
        if (p->too_long) {
            snprintf(why, n, "query parameter \"%.20s...\" is too long (keys %d, values %d bytes)",
                     p->key, HTTP_PARAM_KEY - 1, HTTP_PARAM_VALUE - 1);
            return -EINVAL;
        }
        int ok = 0;
        for (int k = 0; known && known[k]; k++)
            ok |= strcmp(known[k], p->key) == 0;
        if (!ok) {
            int len = 0;
            for (int k = 0; known && known[k]; k++)
                len++;
            if (len == 0) {
                snprintf(why, n, "unknown query parameter \"%s\" (this address takes none)",
                         p->key);
            } else {
                char list[256] = "";
                size_t used = 0;
                for (int k = 0; known[k] && used < sizeof list; k++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                             k ? ", " : "", known[k]);
                snprintf(why, n, "unknown query parameter \"%s\" (known: %s)", p->key, list);
            }
            return -EINVAL;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ps->p[j].key, p->key) == 0) {
                snprintf(why, n, "query parameter \"%s\" given twice", p->key);
                return -EINVAL;
            }
    }
    return 0;
}

const char *http_params_get(const http_params *ps, const char *key)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].key, key) == 0)
            return ps->p[i].has_value ? ps->p[i].value : "";
    return NULL;
}

/* 1, 0, or -1 for a word that is no boolean. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"", "1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    return -1;
}

int http_params_bool(const http_params *ps, const char *key, int *out, char *why, size_t n)
{
    const char *v = http_params_get(ps, key);
    if (!v)
        return 0;
    int b = parse_bool(v);
    if (b < 0) {
        snprintf(why, n, "query parameter %s=\"%s\": expected 1 or 0 (true/false, yes/no)", key,
                 v);
        return -EINVAL;
    }
    *out = b;
    return 0;
}

int http_params_number(const http_params *ps, const char *key, double lo, double hi, double *out,
                       char *why, size_t n)
{
    const char *v = http_params_get(ps, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    /* strtod accepts "inf", "nan" and hex floats; a query wants plain decimals. */
    int plain = *v && strspn(v, "0123456789.+-eE") == strlen(v);
    if (!plain || *end || errno || !isfinite(d) || d < lo || d > hi) {
        snprintf(why, n, "query parameter %s=\"%s\": expected a number in [%g, %g]", key, v, lo,
                 hi);
        return -EINVAL;
    }
    *out = d;
    return 0;
}

int http_params_image(const http_params *ps, const char *key, fer_image_kind *out, char *why,
                      size_t n)
{
    const char *v = http_params_get(ps, key);
    if (!v)
        return 0;
    if (strcmp(v, "none") == 0) {
        *out = FER_IMAGE_NONE;
        return 0;
    }
    if (strcmp(v, "jpeg") == 0) {
        *out = FER_IMAGE_JPEG;
        return 0;
    }
    if (strcmp(v, "annotated") == 0) {
        *out = FER_IMAGE_ANNOTATED;
        return 0;
    }
    int b = *v ? parse_bool(v) : -1;
    if (b < 0) {
        snprintf(why, n, "query parameter %s=\"%s\": expected none, jpeg or annotated", key, v);
        return -EINVAL;
    }
    *out = b ? FER_IMAGE_JPEG : FER_IMAGE_NONE;
    return 0;
}

int http_params_watch(const http_params *ps, fer_watch *w, char *why, size_t n)
{
    static const char *const known[] = {"max_fps", "min_prob", "events", "scores", "image", NULL};
    fer_watch_default(w);
    int rc = http_params_check(ps, known, why, n);
    if (rc == 0)
        rc = http_params_number(ps, "max_fps", 0, FER_PROTO_MAX_FPS, &w->max_fps, why, n);
    if (rc == 0)
        rc = http_params_number(ps, "min_prob", 0, 1, &w->min_prob, why, n);
    if (rc == 0)
        rc = http_params_bool(ps, "events", &w->events, why, n);
    if (rc == 0)
        rc = http_params_bool(ps, "scores", &w->scores, why, n);
    if (rc == 0)
        rc = http_params_image(ps, "image", &w->image, why, n);
    if (rc == 0 && w->events && w->image != FER_IMAGE_NONE) {
        snprintf(why, n, "query parameters events=1 and image=%s: face events carry no picture",
                 fer_image_kind_name(w->image));
        rc = -EINVAL;
    }
    return rc;
}
