/*
 * json.c — see json.h. One definition of each getter, so the protocol objects
 * and RESULT check types, ranges and required keys the same way and word their
 * errors alike.
 */
#include "proto/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

/*
 * 1 if a JSON string in text holds the escape \u0000. cJSON would decode it
 * into a C string that ends there, so {"class":"STATUS\u0000x"} would read as
 * STATUS and a key "max_fps\u0000x" as max_fps: the NUL rule of the protocol
 * covers escaped NULs too. Only escapes inside strings are looked at, pair by
 * pair, so an escaped backslash before "u0000" is not mistaken for one; the
 * scan needs to be right only for valid JSON, since cJSON refuses the rest.
 */
static int has_escaped_nul(const char *t, size_t n)
{
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_string) {
            in_string = t[i] == '"';
            continue;
        }
        if (t[i] == '"') {
            in_string = 0;
        } else if (t[i] == '\\') {
            if (i + 5 < n && t[i + 1] == 'u' && t[i + 2] == '0' && t[i + 3] == '0' &&
                t[i + 4] == '0' && t[i + 5] == '0')
                return 1;
            i++; /* the escaped character, whatever it is */
        }
    }
    return 0;
}

/*
 * See json.h. The checks come before cJSON sees a byte: the length (so a caller's
 * bound holds whatever it passes) and NUL bytes (cJSON would stop at one and
 * accept the prefix). cJSON is given the length, never asked to find a
 * terminator, and anything but whitespace after the object is refused, so
 * "{...}{...}" on one line cannot smuggle a second request.
 */
cJSON *fer_json_parse_object(const char *text, size_t len, size_t max, const char *what,
                             fer_error *err)
{
    if (len > max) {
        fer_fail(err, FER_E_PROTO, "%s: line of %zu bytes exceeds %zu", what, len, max);
        return NULL;
    }
    if (memchr(text, '\0', len)) {
        fer_fail(err, FER_E_PROTO, "%s: NUL byte in line", what);
        return NULL;
    }
    if (!fer_utf8_valid(text, len)) {
        fer_fail(err, FER_E_PROTO, "%s: not valid UTF-8 (byte %zu)", what,
                 fer_utf8_valid_prefix(text, len));
        return NULL;
    }
    if (has_escaped_nul(text, len)) {
        fer_fail(err, FER_E_PROTO, "%s: NUL character (\\u0000) in a string", what);
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!o) {
        fer_fail(err, FER_E_PROTO, "%s: not valid JSON", what);
        return NULL;
    }
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' ||
                                       *end == '\n'))
        end++;
    if (!end || end != text + len) {
        cJSON_Delete(o);
        fer_fail(err, FER_E_PROTO, "%s: text after the JSON object", what);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        fer_fail(err, FER_E_PROTO, "%s: not a JSON object", what);
        return NULL;
    }
    return o;
}

const cJSON *fer_json_member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

int fer_json_num(const cJSON *o, const char *what, const char *key, double lo, double hi,
                 int required, double *v, fer_error *err)
{
    const cJSON *it = fer_json_member(o, key);
    if (!it)
        return required ? fer_fail(err, FER_E_PROTO, "%s: \"%s\" missing", what, key) : 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo ||
        it->valuedouble > hi)
        return fer_fail(err, FER_E_PROTO, "%s: \"%s\" is not a number in [%g, %g]", what, key,
                        lo, hi);
    *v = it->valuedouble;
    return 1;
}

int fer_json_int(const cJSON *o, const char *what, const char *key, double lo, double hi,
                 int required, long long *v, fer_error *err)
{
    double d;
    int rc = fer_json_num(o, what, key, lo, hi, required, &d, err);
    if (rc == 1) {
        if (d != floor(d))
            return fer_fail(err, FER_E_PROTO, "%s: \"%s\" is not an integer", what, key);
        *v = (long long)d;
    }
    return rc;
}

int fer_json_u64(const cJSON *o, const char *what, const char *key, int required, uint64_t *v,
                 fer_error *err)
{
    double d;
    int rc = fer_json_num(o, what, key, 0, 1.8446744073709550e19, required, &d, err);
    if (rc == 1)
        *v = (uint64_t)d;
    return rc;
}

int fer_json_bool(const cJSON *o, const char *what, const char *key, int *v, fer_error *err)
{
    const cJSON *it = fer_json_member(o, key);
    if (!it)
        return 0;
    if (!cJSON_IsBool(it))
        return fer_fail(err, FER_E_PROTO, "%s: \"%s\" is not true or false", what, key);
    *v = cJSON_IsTrue(it) ? 1 : 0;
    return 1;
}

int fer_json_str(const cJSON *o, const char *what, const char *key, int required, char *dst,
                 size_t n, fer_error *err)
{
    const cJSON *it = fer_json_member(o, key);
    if (!it)
        return required ? fer_fail(err, FER_E_PROTO, "%s: \"%s\" missing", what, key) : 0;
    if (!cJSON_IsString(it))
        return fer_fail(err, FER_E_PROTO, "%s: \"%s\" is not a string", what, key);
    snprintf(dst, n, "%s", it->valuestring);
    return 1;
}

double fer_json_round(double v, double unit)
{
    if (!isfinite(v))
        return 0.0;
    return round(v / unit) * unit;
}

cJSON *fer_json_u64_item(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

int fer_json_add_u64(cJSON *o, const char *key, uint64_t v)
{
    cJSON *it = fer_json_u64_item(v);
    if (!it)
        return 0;
    if (!cJSON_AddItemToObject(o, key, it)) {
        cJSON_Delete(it);
        return 0;
    }
    return 1;
}

char *fer_json_print(const cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (!s)
        return NULL;
    size_t len = strlen(s);
    if (fer_utf8_valid(s, len))
        return s;
    /* cJSON escapes control characters but copies other bytes through, so an
     * invalid byte can only sit inside a string: replacing it keeps the line
     * valid JSON and makes it valid UTF-8. */
    char *fixed = fer_utf8_repair(s, len, NULL);
    free(s);
    return fixed;
}
