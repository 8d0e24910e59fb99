/*
 * discovery.c — see discovery.h. Payloads use Home Assistant's full key names
 * (not the abbreviations) so a person reading the broker can follow them.
 */
#include "discovery.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FER_VERSION
#define FER_VERSION "0"
#endif

void fmq_discovery_node_id(const char *instance, char *out, size_t n)
{
    snprintf(out, n, "ferd_%s", instance);
}

void fmq_discovery_pattern(const char *prefix, const char *instance, char *out, size_t n)
{
    char node[FMQ_NAME_MAX + 8];
    fmq_discovery_node_id(instance, node, sizeof node);
    snprintf(out, n, "%s/+/%s/+/config", prefix, node);
}

/* A class name as an object id: lower case, [a-z0-9_]. */
static void object_id(const char *name, char *out, size_t n)
{
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)name[i]);
        out[i] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? (char)ch : '_';
    }
    out[i] = '\0';
}

/* name inside a single-quoted Jinja string: ' and \ escaped. */
static void jinja_quote(const char *name, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; name[i] && o + 2 < n; i++) {
        if (name[i] == '\'' || name[i] == '\\')
            out[o++] = '\\';
        out[o++] = name[i];
    }
    out[o] = '\0';
}

typedef struct entity {
    const char *component;   /* sensor, binary_sensor */
    char object[64];
    char name[96];
    char template_[256];
    const char *icon;        /* NULL none */
    const char *unit;        /* NULL none */
    const char *device_class;
    int measurement;
    int binary;
} entity;

static cJSON *device_object(const fmq_discovery_info *info, const char *node)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *ids = d ? cJSON_AddArrayToObject(d, "identifiers") : NULL;
    char name[FMQ_NAME_MAX + 8], model[128];
    snprintf(name, sizeof name, "ferd %s", info->instance);
    if (info->model && info->model[0])
        snprintf(model, sizeof model, "ferd (model %s)", info->model);
    else
        snprintf(model, sizeof model, "ferd");
    int ok = ids && cJSON_AddItemToArray(ids, cJSON_CreateString(node)) &&
             cJSON_AddStringToObject(d, "name", name) &&
             cJSON_AddStringToObject(d, "manufacturer", "ferd project") &&
             cJSON_AddStringToObject(d, "model", model);
    if (ok && info->release && info->release[0])
        ok = cJSON_AddStringToObject(d, "sw_version", info->release) != NULL;
    if (!ok) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

static int entity_payload(const fmq_discovery_info *info, const char *node, const entity *e,
                          char **out)
{
    char uid[FMQ_NAME_MAX + 96];
    snprintf(uid, sizeof uid, "%s_%s", node, e->object);
    cJSON *o = cJSON_CreateObject();
    cJSON *origin = NULL;
    int ok = o && cJSON_AddStringToObject(o, "name", e->name) &&
             cJSON_AddStringToObject(o, "unique_id", uid) &&
             cJSON_AddStringToObject(o, "object_id", uid) &&
             cJSON_AddStringToObject(o, "state_topic", info->topics->state) &&
             cJSON_AddStringToObject(o, "value_template", e->template_) &&
             cJSON_AddStringToObject(o, "availability_topic", info->topics->availability) &&
             cJSON_AddStringToObject(o, "payload_available", FMQ_ONLINE) &&
             cJSON_AddStringToObject(o, "payload_not_available", FMQ_OFFLINE);
    if (ok && e->binary)
        ok = cJSON_AddStringToObject(o, "payload_on", "ON") &&
             cJSON_AddStringToObject(o, "payload_off", "OFF");
    if (ok && e->icon)
        ok = cJSON_AddStringToObject(o, "icon", e->icon) != NULL;
    if (ok && e->unit)
        ok = cJSON_AddStringToObject(o, "unit_of_measurement", e->unit) != NULL;
    if (ok && e->device_class)
        ok = cJSON_AddStringToObject(o, "device_class", e->device_class) != NULL;
    if (ok && e->measurement)
        ok = cJSON_AddStringToObject(o, "state_class", "measurement") != NULL;
    cJSON *dev = ok ? device_object(info, node) : NULL;
    if (ok && dev && cJSON_AddItemToObject(o, "device", dev))
        dev = NULL;
    else
        ok = 0;
    cJSON_Delete(dev);
    ok = ok && (origin = cJSON_AddObjectToObject(o, "origin")) != NULL &&
         cJSON_AddStringToObject(origin, "name", "ferd-mqtt") &&
         cJSON_AddStringToObject(origin, "sw_version", FER_VERSION);
    return fmq_json_finish(o, ok, out);
}

int fmq_discovery_build(const fmq_discovery_info *info,
                        const char (*classes)[FER_RESULT_CLASS_NAME], int nclasses,
                        fmq_discovery_msg *out, int *n)
{
    *n = 0;
    if (nclasses < 0)
        nclasses = 0;
    if (nclasses > FER_RESULT_MAX_CLASSES)
        nclasses = FER_RESULT_MAX_CLASSES;
    char node[FMQ_NAME_MAX + 8];
    fmq_discovery_node_id(info->instance, node, sizeof node);

    entity ents[FMQ_DISCOVERY_MAX];
    int ne = 0;
    memset(ents, 0, sizeof ents);
    ents[ne] = (entity){.component = "sensor", .icon = "mdi:account-multiple", .measurement = 1};
    snprintf(ents[ne].object, sizeof ents[ne].object, "faces");
    snprintf(ents[ne].name, sizeof ents[ne].name, "Faces");
    snprintf(ents[ne].template_, sizeof ents[ne].template_, "{{ value_json.faces }}");
    ne++;
    ents[ne] = (entity){.component = "sensor", .icon = "mdi:emoticon-outline"};
    snprintf(ents[ne].object, sizeof ents[ne].object, "expression");
    snprintf(ents[ne].name, sizeof ents[ne].name, "Expression");
    snprintf(ents[ne].template_, sizeof ents[ne].template_, "{{ value_json.dominant }}");
    ne++;
    ents[ne] = (entity){.component = "binary_sensor", .device_class = "occupancy", .binary = 1};
    snprintf(ents[ne].object, sizeof ents[ne].object, "present");
    snprintf(ents[ne].name, sizeof ents[ne].name, "Face present");
    snprintf(ents[ne].template_, sizeof ents[ne].template_,
             "{{ 'ON' if value_json.faces > 0 else 'OFF' }}");
    ne++;
    for (int i = 0; i < nclasses; i++) {
        entity *e = &ents[ne++];
        *e = (entity){.component = "sensor", .icon = "mdi:percent", .unit = "%",
                      .measurement = 1};
        char oid[FER_RESULT_CLASS_NAME], q[2 * FER_RESULT_CLASS_NAME];
        object_id(classes[i], oid, sizeof oid);
        jinja_quote(classes[i], q, sizeof q);
        snprintf(e->object, sizeof e->object, "prob_%s", oid);
        snprintf(e->name, sizeof e->name, "Probability %s", classes[i]);
        snprintf(e->template_, sizeof e->template_,
                 "{{ (value_json.scores['%s'] * 100) | round(1) }}", q);
    }

    for (int i = 0; i < ne; i++) {
        fmq_discovery_msg *m = &out[i];
        snprintf(m->topic, sizeof m->topic, "%s/%s/%s/%s/config", info->prefix,
                 ents[i].component, node, ents[i].object);
        if (entity_payload(info, node, &ents[i], &m->payload) < 0) {
            fmq_discovery_free(out, i);
            return -ENOMEM;
        }
    }
    *n = ne;
    return 0;
}

void fmq_discovery_free(fmq_discovery_msg *msgs, int n)
{
    for (int i = 0; i < n; i++) {
        free(msgs[i].payload);
        msgs[i].payload = NULL;
    }
}
