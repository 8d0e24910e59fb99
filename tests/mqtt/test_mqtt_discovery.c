/*
 * test_mqtt_discovery.c — Home Assistant discovery configs (mqtt/discovery.c):
 * one per entity, topics in Home Assistant's layout, each payload valid JSON
 * with what Home Assistant requires of an MQTT sensor or binary sensor
 * (state_topic, a unique_id so it can be tied to a device, the device's
 * identifiers) and what this bridge promises (availability, templates that
 * read the state message, class names made safe for object ids and Jinja).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"

static fmq_topics topics_for(const char *instance)
{
    fmq_config c;
    fmq_config_default(&c);
    snprintf(c.instance, sizeof c.instance, "%s", instance);
    fmq_topics t;
    fmq_topics_init(&t, &c);
    return t;
}

static const char *sget(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(v), "%s missing or not a string", key);
    return v->valuestring;
}

START_TEST(t_configs)
{
    fmq_topics t = topics_for("kitchen");
    fmq_discovery_info info = {"homeassistant", "kitchen", &t, "0.1.0", "default"};
    char cl[7][FER_RESULT_CLASS_NAME] = {"angry", "disgust", "fear", "happy",
                                         "sad",   "surprise", "neutral"};
    fmq_discovery_msg msgs[FMQ_DISCOVERY_MAX];
    int n = 0;
    ck_assert_int_eq(
        fmq_discovery_build(&info, (const char (*)[FER_RESULT_CLASS_NAME])cl, 7, msgs, &n), 0);
    ck_assert_int_eq(n, 3 + 7);
    static const char *const want[] = {
        "homeassistant/sensor/ferd_kitchen/faces/config",
        "homeassistant/sensor/ferd_kitchen/expression/config",
        "homeassistant/binary_sensor/ferd_kitchen/present/config",
        "homeassistant/sensor/ferd_kitchen/prob_angry/config",
        "homeassistant/sensor/ferd_kitchen/prob_neutral/config",
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(msgs[i].topic, want[w]) == 0;
        ck_assert_msg(found, "no %s", want[w]);
    }
    char uids[FMQ_DISCOVERY_MAX][128];
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(msgs[i].payload);
        ck_assert_msg(o != NULL, "%s: not JSON", msgs[i].topic);
        ck_assert_str_eq(sget(o, "state_topic"), "ferd/kitchen/state");
        ck_assert_str_eq(sget(o, "availability_topic"), "ferd/kitchen/availability");
        ck_assert_str_eq(sget(o, "payload_available"), "online");
        ck_assert_str_eq(sget(o, "payload_not_available"), "offline");
        ck_assert(strstr(sget(o, "value_template"), "value_json.") != NULL);
        sget(o, "name");
        snprintf(uids[i], sizeof uids[i], "%s", sget(o, "unique_id"));
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(uids[i], uids[j]) != 0, "unique_id %s twice", uids[i]);
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
        ck_assert(cJSON_IsObject(dev));
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(dev, "identifiers");
        ck_assert(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == 1);
        ck_assert_str_eq(cJSON_GetArrayItem(ids, 0)->valuestring, "ferd_kitchen");
        ck_assert_str_eq(sget(dev, "sw_version"), "0.1.0");
        ck_assert(strstr(sget(dev, "model"), "default") != NULL);
        if (strstr(msgs[i].topic, "/binary_sensor/")) {
            ck_assert_str_eq(sget(o, "payload_on"), "ON");
            ck_assert_str_eq(sget(o, "payload_off"), "OFF");
            ck_assert_str_eq(sget(o, "device_class"), "occupancy");
        }
        if (strstr(msgs[i].topic, "/prob_happy/")) {
            ck_assert_str_eq(sget(o, "unit_of_measurement"), "%");
            ck_assert_str_eq(sget(o, "value_template"),
                             "{{ (value_json.scores['happy'] * 100) | round(1) }}");
            ck_assert_str_eq(sget(o, "unique_id"), "ferd_kitchen_prob_happy");
        }
        cJSON_Delete(o);
    }
    fmq_discovery_free(msgs, n);
}
END_TEST

START_TEST(t_odd_class_names)
{
    fmq_topics t = topics_for("x");
    fmq_discovery_info info = {"ha", "x", &t, "", ""};
    char cl[2][FER_RESULT_CLASS_NAME] = {"Big Smile!", "it's"};
    fmq_discovery_msg msgs[FMQ_DISCOVERY_MAX];
    int n = 0;
    ck_assert_int_eq(
        fmq_discovery_build(&info, (const char (*)[FER_RESULT_CLASS_NAME])cl, 2, msgs, &n), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(msgs[3].topic, "ha/sensor/ferd_x/prob_big_smile_/config");
    ck_assert_str_eq(msgs[4].topic, "ha/sensor/ferd_x/prob_it_s/config");
    cJSON *o = cJSON_Parse(msgs[4].payload);
    ck_assert_ptr_nonnull(o);
    /* The quote is escaped inside the Jinja string. */
    ck_assert_str_eq(sget(o, "value_template"),
                     "{{ (value_json.scores['it\\'s'] * 100) | round(1) }}");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
    /* Unknown release: absent, not empty. */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(dev, "sw_version"));
    cJSON_Delete(o);
    fmq_discovery_free(msgs, n);

    /* No classes (model not known yet): the three fixed entities. */
    ck_assert_int_eq(fmq_discovery_build(&info, NULL, 0, msgs, &n), 0);
    ck_assert_int_eq(n, 3);
    fmq_discovery_free(msgs, n);
}
END_TEST

START_TEST(t_pattern)
{
    char p[256], node[80];
    fmq_discovery_pattern("homeassistant", "door", p, sizeof p);
    ck_assert_str_eq(p, "homeassistant/+/ferd_door/+/config");
    fmq_discovery_node_id("door", node, sizeof node);
    ck_assert_str_eq(node, "ferd_door");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mqtt-discovery");
    TCase *tc = tcase_create("discovery");
    tcase_add_test(tc, t_configs);
    tcase_add_test(tc, t_odd_class_names);
    tcase_add_test(tc, t_pattern);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
