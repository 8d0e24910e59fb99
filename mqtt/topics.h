/*
 * topics.h — where ferd-mqtt publishes (docs/MQTT.md), and the payloads that
 * are not a module of their own: availability and status.
 *
 * Every topic of an instance lives under <topic_prefix>/<instance>:
 *   availability  "online" / "offline", retained; the broker's last will
 *                 says "offline" when the bridge vanishes
 *   events        one JSON message per face event (events.h)
 *   state         the retained summary (state.h)
 *   results       every RESULT line of ferd, as ferd sent it (off by default)
 *   status        ferd's STATUS, without what only concerns the local host
 * Home Assistant's discovery topics are made in discovery.h.
 *
 * The JSON helpers here (rounding, boxes, times) are the conventions of
 * proto/PROTOCOL.md applied to the bridge's own objects: probabilities to 4
 * decimals, RFC 3339 UTC times with milliseconds, absent rather than null.
 */
#ifndef FMQ_TOPICS_H
#define FMQ_TOPICS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto/protocol.h"

/* <prefix>/<instance> fits FMQ_BASE_LEN, and any leaf under it FMQ_TOPIC_LEN. */
#define FMQ_BASE_LEN (FMQ_TOPIC_MAX + FMQ_NAME_MAX)
#define FMQ_TOPIC_LEN (FMQ_BASE_LEN + 32)

typedef struct fmq_topics {
    char base[FMQ_BASE_LEN];           /* <prefix>/<instance> */
    char availability[FMQ_TOPIC_LEN];
    char events[FMQ_TOPIC_LEN];
    char state[FMQ_TOPIC_LEN];
    char results[FMQ_TOPIC_LEN];
    char status[FMQ_TOPIC_LEN];
} fmq_topics;

/* The topic names of c (after fmq_config_finish). */
void fmq_topics_init(fmq_topics *t, const fmq_config *c);

#define FMQ_ONLINE "online"
#define FMQ_OFFLINE "offline"

/* The bridge's own counters, published inside the status message. */
typedef struct fmq_bridge_stats {
    unsigned long long events, states, results, statuses; /* messages queued, per kind */
    unsigned long long published;      /* handed to the broker connection */
    unsigned long long dropped;        /* lost because the queue was full */
    unsigned long long queued;         /* waiting now */
    unsigned long long broker_connects, ferd_connects;
    unsigned long long bad_lines;      /* lines from ferd that did not decode */
} fmq_bridge_stats;

/*
 * The status payload: ferd's STATUS through the shared encoder, without its
 * client_list (local user and process ids are nobody's business on other
 * hosts) and with any user:password@ in the source name or error replaced by
 * "***@" (a camera URL may carry credentials), plus "instance" and a
 * "bridge" object with b's counters. malloc'd into *out; 0 or -ENOMEM.
 */
int fmq_status_payload(const fer_status_msg *s, const char *instance, const fmq_bridge_stats *b,
                       char **out);

/* Replaces the user information of every URL in s ("scheme://user:pw@host")
 * by "***", in place, within the n bytes of s's buffer (n must exceed
 * strlen(s) + 3 for "://" to fit; a tail that no longer fits is cut). */
void fmq_redact_userinfo(char *s, size_t n);

/* ---- JSON conventions ---- */

/* v rounded to a multiple of unit (4 decimals for probabilities: 1e-4). */
double fmq_round(double v, double unit);
/* Adds key: {"x","y","w","h"}; 0 or -ENOMEM. */
int fmq_json_add_box(cJSON *o, const char *key, fer_box b);
/* Adds key: "2026-11-28T10:00:00.123Z"; 0 or -ENOMEM. */
int fmq_json_add_time(cJSON *o, const char *key, int64_t wall_ms);
/* Prints o unformatted into *out and deletes o (also when ok is 0).
 * 0, or -ENOMEM when !ok or printing failed. */
int fmq_json_finish(cJSON *o, int ok, char **out);

#endif
