/*
 * test_mqtt_queue.c — the bridge's bounded queue (mqtt/queue.c) and its
 * reconnection back-off (mqtt/backoff.c): order, both bounds, coalescing in
 * place, a message larger than the byte bound, drop episodes reported once
 * each, and back-off doubling, capping, spreading and resetting.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "queue.h"

static int push(fmq_queue *q, const char *topic, const char *payload, int coalesce)
{
    return fmq_queue_push(q, topic, payload, strlen(payload), 1, 0, coalesce);
}

START_TEST(t_fifo)
{
    fmq_queue q;
    ck_assert_int_eq(fmq_queue_init(&q, 4, 1 << 20), 0);
    ck_assert_ptr_null(fmq_queue_peek(&q));
    ck_assert_int_eq(push(&q, "a", "1", 0), 0);
    ck_assert_int_eq(fmq_queue_push(&q, "b", "22", 2, 2, 1, 0), 0);
    ck_assert_int_eq(push(&q, "c", "", 0), 0);
    const fmq_msg *m = fmq_queue_peek(&q);
    ck_assert_str_eq(m->topic, "a");
    ck_assert_str_eq(m->payload, "1");
    fmq_queue_pop(&q);
    m = fmq_queue_peek(&q);
    ck_assert_str_eq(m->topic, "b");
    ck_assert_int_eq(m->len, 2);
    ck_assert_int_eq(m->qos, 2);
    ck_assert_int_eq(m->retain, 1);
    fmq_queue_pop(&q);
    m = fmq_queue_peek(&q);
    ck_assert_str_eq(m->topic, "c");
    ck_assert_int_eq(m->len, 0);
    fmq_queue_pop(&q);
    ck_assert_ptr_null(fmq_queue_peek(&q));
    fmq_queue_pop(&q); /* empty: no-op */
    ck_assert_int_eq(q.bytes, 0);
    /* Wrap around the ring several times. */
    for (int i = 0; i < 20; i++) {
        char t[8];
        snprintf(t, sizeof t, "t%d", i);
        ck_assert_int_eq(push(&q, t, "x", 0), 0);
        ck_assert_str_eq(fmq_queue_peek(&q)->topic, t);
        fmq_queue_pop(&q);
    }
    fmq_queue_free(&q);
    fmq_queue_free(&q); /* twice: harmless */
}
END_TEST

START_TEST(t_count_bound)
{
    fmq_queue q;
    ck_assert_int_eq(fmq_queue_init(&q, 3, 1 << 20), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(push(&q, "e", "x", 0), 0);
    ck_assert_int_eq(push(&q, "e", "y", 0), -ENOBUFS);
    ck_assert_int_eq(push(&q, "e", "z", 0), -ENOBUFS);
    ck_assert_int_eq(q.count, 3);
    ck_assert_int_eq(q.dropped, 2);
    /* The newest were dropped; the oldest are still in order. */
    ck_assert_str_eq(fmq_queue_peek(&q)->payload, "x");
    fmq_queue_free(&q);
}
END_TEST

START_TEST(t_byte_bound)
{
    fmq_queue q;
    ck_assert_int_eq(fmq_queue_init(&q, 100, 20), 0);
    ck_assert_int_eq(push(&q, "ab", "12345678", 0), 0); /* 10 bytes */
    ck_assert_int_eq(push(&q, "ab", "12345678", 0), 0); /* 20 bytes */
    ck_assert_int_eq(q.bytes, 20);
    ck_assert_int_eq(push(&q, "a", "", 0), -ENOBUFS);
    fmq_queue_pop(&q);
    ck_assert_int_eq(q.bytes, 10);
    ck_assert_int_eq(push(&q, "a", "123456789", 0), 0);
    ck_assert_int_eq(q.bytes, 20);
    /* One message larger than the whole bound never fits. */
    ck_assert_int_eq(push(&q, "a", "123456789012345678901", 0), -EMSGSIZE);
    ck_assert_int_eq(q.dropped, 2);
    fmq_queue_free(&q);
}
END_TEST

START_TEST(t_coalesce)
{
    fmq_queue q;
    ck_assert_int_eq(fmq_queue_init(&q, 3, 1 << 20), 0);
    ck_assert_int_eq(push(&q, "state", "s1", 1), 0);
    ck_assert_int_eq(push(&q, "events", "e1", 0), 0);
    ck_assert_int_eq(push(&q, "status", "st1", 1), 0);
    /* Full, yet a new state replaces the queued one, in its place. */
    ck_assert_int_eq(push(&q, "state", "s2-longer", 1), 1);
    ck_assert_int_eq(push(&q, "events", "e2", 1), -ENOBUFS); /* the queued event does not coalesce */
    ck_assert_int_eq(q.count, 3);
    ck_assert_int_eq(q.bytes, strlen("state") + 9 + strlen("events") + 2 + strlen("status") + 3);
    ck_assert_int_eq(q.coalesced, 1);
    const fmq_msg *m = fmq_queue_peek(&q);
    ck_assert_str_eq(m->topic, "state");
    ck_assert_str_eq(m->payload, "s2-longer");
    fmq_queue_pop(&q);
    ck_assert_str_eq(fmq_queue_peek(&q)->payload, "e1");
    fmq_queue_pop(&q);
    ck_assert_str_eq(fmq_queue_peek(&q)->payload, "st1");
    fmq_queue_free(&q);

    /* A replacement that would pass the byte bound is a drop. */
    ck_assert_int_eq(fmq_queue_init(&q, 10, 20), 0);
    ck_assert_int_eq(push(&q, "e", "123456789", 0), 0);
    ck_assert_int_eq(push(&q, "s", "12345", 1), 0);
    ck_assert_int_eq(push(&q, "s", "123456789012", 1), -ENOBUFS);
    fmq_queue_pop(&q);
    ck_assert_str_eq(fmq_queue_peek(&q)->payload, "12345");
    fmq_queue_free(&q);
}
END_TEST

START_TEST(t_drop_episodes)
{
    fmq_queue q;
    unsigned long long n = 99;
    ck_assert_int_eq(fmq_queue_init(&q, 4, 1 << 20), 0);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_NONE);
    for (int i = 0; i < 4; i++)
        push(&q, "e", "x", 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(push(&q, "e", "x", 0), -ENOBUFS);
    /* Told once, however many drops. */
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_DROPPING);
    ck_assert_int_eq(push(&q, "e", "x", 0), -ENOBUFS);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_NONE);
    /* Not recovered until under half full. */
    fmq_queue_pop(&q);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_NONE);
    fmq_queue_pop(&q);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_RECOVERED);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_NONE);
    /* A second episode counts from zero. */
    push(&q, "e", "x", 0);
    push(&q, "e", "x", 0);
    ck_assert_int_eq(push(&q, "e", "x", 0), -ENOBUFS);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_DROPPING);
    while (q.count)
        fmq_queue_pop(&q);
    ck_assert_int_eq(fmq_queue_report(&q, &n), FMQ_REPORT_RECOVERED);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(q.dropped, 7);
    fmq_queue_free(&q);
}
END_TEST

START_TEST(t_init_refuses)
{
    fmq_queue q;
    ck_assert_int_eq(fmq_queue_init(&q, 0, 100), -EINVAL);
    ck_assert_int_eq(fmq_queue_init(&q, 10, 0), -EINVAL);
    fmq_queue_free(&q);
}
END_TEST

START_TEST(t_backoff)
{
    fmq_backoff b;
    fmq_backoff_init(&b, 500, 30000, 42);
    int expect[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int d = fmq_backoff_next(&b);
        ck_assert_msg(d >= expect[i] * 8 / 10 && d < expect[i] * 12 / 10 + 1,
                      "step %zu: %d not within 20%% of %d", i, d, expect[i]);
    }
    fmq_backoff_reset(&b);
    int d = fmq_backoff_next(&b);
    ck_assert_int_ge(d, 400);
    ck_assert_int_le(d, 600);

    /* The spread is real: different seeds give different delays. */
    int seen_distinct = 0;
    fmq_backoff_init(&b, 10000, 10000, 1);
    int first = fmq_backoff_next(&b);
    for (int s = 2; s < 20; s++) {
        fmq_backoff_init(&b, 10000, 10000, (uint64_t)s * 7919);
        if (fmq_backoff_next(&b) != first)
            seen_distinct = 1;
    }
    ck_assert(seen_distinct);
    /* Nonsense bounds are made sane. */
    fmq_backoff_init(&b, 0, -5, 3);
    ck_assert_int_ge(fmq_backoff_next(&b), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mqtt-queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, t_fifo);
    tcase_add_test(tc, t_count_bound);
    tcase_add_test(tc, t_byte_bound);
    tcase_add_test(tc, t_coalesce);
    tcase_add_test(tc, t_drop_episodes);
    tcase_add_test(tc, t_init_refuses);
    tcase_add_test(tc, t_backoff);
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
