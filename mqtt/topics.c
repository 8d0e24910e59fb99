/*
 * topics.c — see topics.h. The status payload goes through proto's encoder
 * (fer_status_to_json) and is then trimmed, so the bridge never carries a
 * second STATUS encoder that could drift from the protocol.
 */
#include "topics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/result_json.h"
#include "proto/serve.h"

void fmq_topics_init(fmq_topics *t, const fmq_config *c)
{
    snprintf(t->base, sizeof t->base, "%s/%s", c->topic_prefix, c->instance);
    snprintf(t->availability, sizeof t->availability, "%s/availability", t->base);
    snprintf(t->events, sizeof t->events, "%s/events", t->base);
    snprintf(t->state, sizeof t->state, "%s/state", t->base);
    snprintf(t->results, sizeof t->results, "%s/results", t->base);
    snprintf(t->status, sizeof t->status, "%s/status", t->base);
}

double fmq_round(double v, double unit)
{
    if (!isfinite(v))
        return 0;
    return round(v / unit) * unit;
}

int fmq_json_add_box(cJSON *o, const char *key, fer_box b)
{
    cJSON *box = cJSON_AddObjectToObject(o, key);
    int ok = box && cJSON_AddNumberToObject(box, "x", b.x) &&
             cJSON_AddNumberToObject(box, "y", b.y) && cJSON_AddNumberToObject(box, "w", b.w) &&
             cJSON_AddNumberToObject(box, "h", b.h);
    return ok ? 0 : -ENOMEM;
}

int fmq_json_add_time(cJSON *o, const char *key, int64_t wall_ms)
{
    char when[40];
    if (fer_time_format(wall_ms, when, sizeof when) < 0)
        snprintf(when, sizeof when, "1970-01-01T00:00:00.000Z");
    return cJSON_AddStringToObject(o, key, when) ? 0 : -ENOMEM;
}

int fmq_json_finish(cJSON *o, int ok, char **out)
{
    *out = NULL;
    if (ok && o)
        *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out ? 0 : -ENOMEM;
}

void fmq_redact_userinfo(char *s, size_t n)
{
    for (char *p = strstr(s, "://"); p; p = strstr(p, "://")) {
        char *auth = p + 3;
        /* The authority ends at the first '/', blank or quote; an '@' inside
         * it separates user information from the host. */
        size_t alen = strcspn(auth, "/ \t\"'?#");
        char *at = NULL;
        for (size_t i = 0; i < alen; i++)
            if (auth[i] == '@')
                at = auth + i;
        if (at && at > auth) {
            /* "***" may be longer than what it replaces ("a@"): the tail is
             * cut to fit n rather than written past it. */
            if ((size_t)(auth + 3 - s) + 2 > n) {
                *auth = '\0';
                return;
            }
            size_t tail = strlen(at) + 1;
            size_t room = n - (size_t)(auth + 3 - s);
            if (tail > room) {
                tail = room;
                at[tail - 1] = '\0';
            }
            memmove(auth + 3, at, tail);
            memcpy(auth, "***", 3);
        }
        p = auth;
    }
}

int fmq_status_payload(const fer_status_msg *s, const char *instance, const fmq_bridge_stats *b,
                       char **out)
{
    *out = NULL;
    /* A copy, because the name and error are rewritten; the client list is
     * cut before encoding so it is never even printed. */
    fer_status_msg *copy = malloc(sizeof *copy);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, sizeof *copy);
    copy->nlist = 0;
    fmq_redact_userinfo(copy->source.name, sizeof copy->source.name);
    fmq_redact_userinfo(copy->source.error, sizeof copy->source.error);
    char *text = NULL;
    int rc = fer_status_to_json(copy, &text);
    free(copy);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o)
        return -ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "client_list");
    cJSON *br = NULL;
    int ok = cJSON_AddStringToObject(o, "instance", instance) &&
             (br = cJSON_AddObjectToObject(o, "bridge")) != NULL;
    ok = ok && cJSON_AddNumberToObject(br, "events", (double)b->events) &&
         cJSON_AddNumberToObject(br, "states", (double)b->states) &&
         cJSON_AddNumberToObject(br, "results", (double)b->results) &&
         cJSON_AddNumberToObject(br, "statuses", (double)b->statuses) &&
         cJSON_AddNumberToObject(br, "published", (double)b->published) &&
         cJSON_AddNumberToObject(br, "dropped", (double)b->dropped) &&
         cJSON_AddNumberToObject(br, "queued", (double)b->queued) &&
         cJSON_AddNumberToObject(br, "broker_connects", (double)b->broker_connects) &&
         cJSON_AddNumberToObject(br, "ferd_connects", (double)b->ferd_connects) &&
         cJSON_AddNumberToObject(br, "bad_lines", (double)b->bad_lines);
    return fmq_json_finish(o, ok, out);
}
