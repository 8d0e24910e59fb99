/*
 * discovery.h — Home Assistant MQTT discovery: the retained config messages
 * that make Home Assistant create one device per ferd instance.
 *
 * Topics are <discovery_prefix>/<component>/ferd_<instance>/<object>/config:
 *   sensor/.../faces/config         faces present (a count)
 *   sensor/.../expression/config    the dominant expression ("none" without faces)
 *   sensor/.../prob_<class>/config  one per class: its mean probability, in %
 *   binary_sensor/.../present/config  "a face is present" (occupancy)
 * Each reads the instance's retained state topic with a value template, is
 * tied to the availability topic (so a stopped bridge or an unreachable ferd
 * shows as unavailable), has a unique_id and names the same device
 * (identifiers ["ferd_<instance>"]), so Home Assistant groups them.
 *
 * Removing an instance (ferd-mqtt --remove-discovery) publishes an empty
 * retained message to each config topic; the topics to clear are found on
 * the broker (discovery_pattern), not recomputed, so configs of an older
 * model's classes are cleared too.
 */
#ifndef FMQ_DISCOVERY_H
#define FMQ_DISCOVERY_H

#include <stddef.h>

#include "proto/protocol.h"
#include "topics.h"

/* One config message: 4 fixed objects plus one per class. */
#define FMQ_DISCOVERY_MAX (4 + FER_RESULT_MAX_CLASSES)

typedef struct fmq_discovery_msg {
    char topic[FMQ_TOPIC_LEN + 128];
    char *payload;      /* malloc'd JSON */
} fmq_discovery_msg;

typedef struct fmq_discovery_info {
    const char *prefix;          /* discovery_prefix, "homeassistant" */
    const char *instance;
    const fmq_topics *topics;
    const char *release;         /* ferd's version, "" unknown */
    const char *model;           /* the model's name, "" unknown */
} fmq_discovery_info;

/*
 * Builds the config messages for a model with these classes into out
 * (FMQ_DISCOVERY_MAX entries); *n is set to the count. Class names become
 * object ids in lower case with characters outside [a-z0-9_] as '_'.
 * 0 or -ENOMEM (nothing left allocated).
 */
int fmq_discovery_build(const fmq_discovery_info *info,
                        const char (*classes)[FER_RESULT_CLASS_NAME], int nclasses,
                        fmq_discovery_msg *out, int *n);
void fmq_discovery_free(fmq_discovery_msg *msgs, int n);

/* The subscription that matches every config topic of the instance:
 * <prefix>/+/ferd_<instance>/+/config. */
void fmq_discovery_pattern(const char *prefix, const char *instance, char *out, size_t n);

/* "ferd_<instance>": the node id and device identifier. */
void fmq_discovery_node_id(const char *instance, char *out, size_t n);

#endif
