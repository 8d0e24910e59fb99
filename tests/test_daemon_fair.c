/*
 * test_daemon_fair.c — the daemon's rules against hostile peers (issue 13),
 * tested directly against ferd_core with no daemon running; time is an
 * argument, so nothing sleeps:
 *   rate     a client's max_fps turned into periods and a schedule: a positive
 *            rate however small stays a rate (never "every frame"), sums
 *            saturate at the end of time, the cap and the picture rate, and the
 *            bound on messages per window for rates from 1e-300 to 1000;
 *   slots    who may take a slot: the reserve for privileged peers, the
 *            per-uid cap, a full table; the reserve never covers every slot;
 *            the partial-line and idle deadlines;
 *   userrate one request budget per unprivileged uid, shared by all its
 *            connections, kept when the uid disconnects (no fresh burst for
 *            reconnecting), given away only to make room, the oldest first;
 *   lograte  one log line per kind per interval, the held-back ones counted;
 *   redact   credentials of URLs masked in any text, in copies and in place.
 * The same rules run against the real daemon in tests/reliability/hostile.py.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lograte.h"
#include "rate.h"
#include "slots.h"
#include "userrate.h"
#include "util/redact.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* ---- rate ---- */

START_TEST(t_rate_period_saturates)
{
    ck_assert_uint_eq(ferd_rate_period_ns(0), 0);
    ck_assert_uint_eq(ferd_rate_period_ns(-1), 0);
    ck_assert_uint_eq(ferd_rate_period_ns(NAN), 0);
    ck_assert_uint_eq(ferd_rate_period_ns(1), SEC);
    ck_assert_uint_eq(ferd_rate_period_ns(1000), MS);
    ck_assert_uint_eq(ferd_rate_period_ns(4e9), 1); /* a rate, however fast, has a period */
    /* However small, a positive rate is a long period, not "every frame". */
    const double tiny[] = {1e-3, 1e-9, 1e-12, 1e-100, 1e-300, 4.9e-324};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        uint64_t p = ferd_rate_period_ns(tiny[i]);
        ck_assert_msg(p > 0 && p <= FERD_RATE_MAX_PERIOD_NS, "fps %g: period %llu", tiny[i],
                      (unsigned long long)p);
    }
    ck_assert_uint_eq(ferd_rate_period_ns(1e-300), FERD_RATE_MAX_PERIOD_NS);
    ck_assert_uint_eq(ferd_rate_period_ns(INFINITY), 1);
}
END_TEST

START_TEST(t_rate_cap_and_image)
{
    ck_assert(ferd_rate_capped(0, 0) == 0);          /* every frame, no cap */
    ck_assert(ferd_rate_capped(0, 5) == 5);          /* every frame, capped */
    ck_assert(ferd_rate_capped(50, 5) == 5);
    ck_assert(ferd_rate_capped(2, 5) == 2);
    ck_assert(ferd_rate_capped(1e-300, 5) == 1e-300); /* slower than the cap is allowed */
    ck_assert(ferd_rate_capped(NAN, 5) == 5);
    ck_assert(ferd_rate_image(0, 5) == 5);
    ck_assert(ferd_rate_image(2, 5) == 2);
    ck_assert(ferd_rate_image(10, 5) == 5);
    ck_assert(ferd_rate_image(1e-300, 5) == 1e-300);
}
END_TEST

/* Messages due over frames every frame_ns for window_ns, from a monotonic
 * start of t0. */
static unsigned count_due(double fps, uint64_t t0, uint64_t frame_ns, uint64_t window_ns)
{
    uint64_t next = 0;
    unsigned n = 0;
    for (uint64_t t = t0; t - t0 <= window_ns; t += frame_ns)
        n += (unsigned)ferd_rate_due(t, &next, fps);
    return n;
}

START_TEST(t_rate_schedule_bound)
{
    const double rates[] = {0.001, 0.5, 1, 5, 14.9, 15, 30, 1000};
    const uint64_t starts[] = {1, 5 * SEC, 3600 * SEC, UINT64_C(1) << 61};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
            uint64_t period = ferd_rate_period_ns(rates[i]);
            uint64_t window = 20 * SEC;
            unsigned n = count_due(rates[i], starts[s], 66 * MS + 7, window);
            unsigned bound = (unsigned)(window / period) + 3;
            unsigned frames = (unsigned)(window / (66 * MS + 7)) + 1;
            ck_assert_msg(n <= bound && n >= 1, "fps %g from %llu: %u due, bound %u", rates[i],
                          (unsigned long long)starts[s], n, bound);
            /* A rate below the frame rate keeps close to it: not every frame. */
            if (rates[i] < 10)
                ck_assert_msg(n < frames, "fps %g: every frame due (%u)", rates[i], n);
        }
    }
    /* 0 = every frame. */
    ck_assert_uint_eq(count_due(0, 1, 66 * MS, SEC), 16);
}
END_TEST

START_TEST(t_rate_tiny_is_one_result)
{
    /* The regression of issue 13: a tiny positive rate gave every frame. */
    const double tiny[] = {1e-9, 1e-100, 1e-300, 4.9e-324};
    const uint64_t starts[] = {1, 3 * SEC, UINT64_C(1) << 62, UINT64_MAX - 10 * SEC};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++)
        for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
            unsigned n = count_due(tiny[i], starts[s], 10 * MS, 5 * SEC);
            ck_assert_msg(n == 1, "fps %g from %llu: %u due in 5 s", tiny[i],
                          (unsigned long long)starts[s], n);
        }
    /* The next slot saturates instead of wrapping into the past. */
    uint64_t next = 0;
    ck_assert(ferd_rate_due(UINT64_MAX - 1, &next, 1e-300));
    ck_assert_uint_eq(next, UINT64_MAX);
    ck_assert(!ferd_rate_due(UINT64_MAX - 1, &next, 1e-300));
}
END_TEST

/* ---- slots ---- */

static ferd_slot_policy policy(int max, int reserved, int per_uid)
{
    fer_config c;
    fer_config_default(&c);
    c.max_clients = max;
    c.reserved_clients = reserved;
    c.max_clients_per_uid = per_uid;
    c.line_timeout_ms = 2000;
    c.idle_timeout_seconds = 30;
    ferd_slot_policy p;
    ferd_slots_from_config(&p, &c);
    return p;
}

START_TEST(t_slots_admission)
{
    ferd_slot_policy p = policy(12, 2, 4);
    /* One uid: its share, then refused. */
    ck_assert_int_eq(ferd_slots_admit(&p, 3, 3, 3, 0), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 4, 4, 4, 0), FERD_REFUSE_UID);
    /* Unprivileged peers together stop short of the reserve... */
    ck_assert_int_eq(ferd_slots_admit(&p, 9, 9, 1, 0), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 10, 10, 0, 0), FERD_REFUSE_RESERVED);
    /* ...which root and the daemon's user may take, up to the table. */
    ck_assert_int_eq(ferd_slots_admit(&p, 10, 10, 0, 1), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 11, 10, 0, 1), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 12, 10, 0, 1), FERD_REFUSE_FULL);
    ck_assert_int_eq(ferd_slots_admit(&p, 12, 0, 0, 0), FERD_REFUSE_FULL);
    /* Privileged peers have no per-uid cap. */
    ck_assert_int_eq(ferd_slots_admit(&p, 8, 0, 8, 1), FERD_ADMIT);
    /* Without a per-uid cap one uid may take every unreserved slot. */
    p = policy(12, 2, 0);
    ck_assert_int_eq(ferd_slots_admit(&p, 9, 9, 9, 0), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 10, 10, 10, 0), FERD_REFUSE_RESERVED);
    /* A reserve as large as the table still leaves one slot to the others. */
    p = policy(3, 64, 0);
    ck_assert_int_eq(p.reserved, 2);
    ck_assert_int_eq(ferd_slots_admit(&p, 0, 0, 0, 0), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 1, 1, 0, 0), FERD_REFUSE_RESERVED);
    p = policy(1, 4, 0);
    ck_assert_int_eq(ferd_slots_admit(&p, 0, 0, 0, 0), FERD_ADMIT);
    /* No reserve at all. */
    p = policy(4, 0, 0);
    ck_assert_int_eq(ferd_slots_admit(&p, 3, 3, 3, 0), FERD_ADMIT);
    ck_assert_int_eq(ferd_slots_admit(&p, 4, 4, 4, 0), FERD_REFUSE_FULL);
}
END_TEST

START_TEST(t_slots_deadlines)
{
    ferd_slot_policy p = policy(8, 0, 0);
    uint64_t t = 100 * SEC;
    ck_assert(!ferd_slots_line_expired(&p, 0, t));                /* no partial line */
    ck_assert(!ferd_slots_line_expired(&p, t, t + 1999 * MS));
    ck_assert(ferd_slots_line_expired(&p, t, t + 2000 * MS));
    ck_assert(!ferd_slots_line_expired(&p, t, t - 1));            /* a clock behind */
    ck_assert(!ferd_slots_idle_expired(&p, t, t + 29 * SEC));
    ck_assert(ferd_slots_idle_expired(&p, t, t + 30 * SEC));
    ck_assert(!ferd_slots_idle_expired(&p, t, t - 1));
    p.idle_ns = 0; /* idle_timeout_seconds 0: never */
    ck_assert(!ferd_slots_idle_expired(&p, 1, UINT64_MAX));
}
END_TEST

/* ---- redaction (util/redact.h) ---- */

START_TEST(t_redact)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"},
        {"rtsp://admin:p@ss@cam/x: cannot open the stream",
         "rtsp://admin:***@cam/x: cannot open the stream"},
        {"Source rtsp://u:pw@h/a streaming; and http://x:y@z too",
         "Source rtsp://u:***@h/a streaming; and http://x:***@z too"},
        {"https://cam/snap?user=admin&password=hunter2&ch=1",
         "https://cam/snap?user=admin&password=***&ch=1"},
        {"http://h/x?ApiKey=abc;token=def#frag", "http://h/x?ApiKey=***;token=***#frag"},
        {"rtsp://admin:secr", "rtsp://admin:***"},      /* cut short before its '@' */
        {"http://host:8080/x", "http://host:8080/x"},   /* a port is not a password */
        {"rtsp://host:554", "rtsp://host:554"},
        {"rtsp://admin@host/x", "rtsp://admin@host/x"}, /* a user alone is not secret */
        {"/srv/video.avi: no such file", "/srv/video.avi: no such file"},
        {"rtsp://a:***@h/", "rtsp://a:***@h/"},          /* masking twice changes nothing */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        int any = fer_redact(cases[i].in, out, sizeof out);
        ck_assert_msg(strcmp(out, cases[i].out) == 0, "%s -> %s, expected %s", cases[i].in, out,
                      cases[i].out);
        ck_assert_int_eq(any, strcmp(cases[i].in, cases[i].out) != 0 ||
                                  strstr(cases[i].in, "***") != NULL);
        /* In place: the same secrets, as many '*' as they had characters. */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        fer_redact_inplace(buf);
        ck_assert_uint_eq(strlen(buf), strlen(cases[i].in));
        ck_assert_msg(!strstr(buf, "s3cret") && !strstr(buf, "hunter2") && !strstr(buf, "p@ss"),
                      "%s", buf);
    }
    /* A small buffer cuts, never overflows. */
    char tiny[8];
    fer_redact("rtsp://admin:s3cret@h/", tiny, sizeof tiny);
    ck_assert_str_eq(tiny, "rtsp://");
}
END_TEST

/* ---- userrate ---- */

START_TEST(t_userrate_shared_and_kept)
{
    ferd_userrate t;
    ck_assert_int_eq(ferd_userrate_init(&t, 3), 0);
    /* Two connections of uid 65534 share one bucket: 4 tokens in all. */
    ferd_user_bucket *a = ferd_userrate_attach(&t, 65534, 4, 0);
    ferd_user_bucket *b = ferd_userrate_attach(&t, 65534, 4, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(a->refs, 2);
    int taken = 0;
    for (int i = 0; i < 10; i++)
        taken += ferd_bucket_take(i % 2 ? &a->bucket : &b->bucket, 1, 4, 0);
    ck_assert_int_eq(taken, 4);
    /* Another uid has a bucket of its own. */
    ferd_user_bucket *o = ferd_userrate_attach(&t, 4242, 4, 0);
    ck_assert_ptr_ne(o, a);
    ck_assert_int_eq(ferd_bucket_take(&o->bucket, 1, 4, 0), 1);
    /* Both of 65534's connections go and one comes back at once: the same,
     * empty bucket, not a fresh burst. */
    ferd_userrate_detach(a, 1);
    ferd_userrate_detach(b, 1);
    ck_assert_int_eq(a->refs, 0);
    ferd_user_bucket *again = ferd_userrate_attach(&t, 65534, 4, 2);
    ck_assert_ptr_eq(again, a);
    ck_assert_int_eq(ferd_bucket_take(&again->bucket, 1, 4, 2), 0);
    ferd_userrate_detach(again, 3);
    ferd_userrate_detach(NULL, 3);
    ferd_userrate_free(&t);
}
END_TEST

START_TEST(t_userrate_room)
{
    ferd_userrate t;
    ck_assert_int_eq(ferd_userrate_init(&t, 2), 0);
    ferd_user_bucket *a = ferd_userrate_attach(&t, 1000, 2, 10);
    ferd_user_bucket *b = ferd_userrate_attach(&t, 1001, 2, 20);
    ck_assert_ptr_ne(a, b);
    /* Every entry attached: no room for a third uid. */
    ck_assert_ptr_null(ferd_userrate_attach(&t, 1002, 2, 30));
    /* Both gone, 1000 longest ago: a new uid takes 1000's entry, fresh. */
    ferd_userrate_detach(b, 40);
    ferd_userrate_detach(a, 50);
    ferd_userrate_detach(b, 60); /* detaching more than attached changes nothing */
    ck_assert_int_eq(b->refs, 0);
    ferd_user_bucket *c = ferd_userrate_attach(&t, 1002, 2, 70);
    ck_assert_ptr_eq(c, b); /* b was left at 40, a at 50 */
    ck_assert_int_eq(c->refs, 1);
    ck_assert(c->uid == 1002);
    ck_assert(c->bucket.tokens == 2);
    /* 1000 still finds its own entry. */
    ck_assert_ptr_eq(ferd_userrate_attach(&t, 1000, 2, 80), a);
    ferd_userrate_free(&t);
}
END_TEST

/* ---- lograte ---- */

START_TEST(t_lograte)
{
    ferd_lograte r = {0};
    unsigned long held = 99;
    ck_assert(ferd_lograte_ok(&r, 5 * SEC, &held));
    ck_assert_uint_eq(held, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert(!ferd_lograte_ok(&r, 5 * SEC + (uint64_t)i * MS, &held));
    ck_assert(!ferd_lograte_ok(&r, 5 * SEC + FERD_LOGRATE_NS - 1, &held));
    ck_assert(ferd_lograte_ok(&r, 5 * SEC + FERD_LOGRATE_NS, &held));
    ck_assert_uint_eq(held, 1001);
    ck_assert(!ferd_lograte_ok(&r, 5 * SEC + FERD_LOGRATE_NS + 1, &held));
    /* At time 0 (a test clock) the first line still goes through, once. */
    ferd_lograte z = {0};
    ck_assert(ferd_lograte_ok(&z, 0, &held));
    ck_assert(!ferd_lograte_ok(&z, 0, &held));
}
END_TEST

static Suite *fair_suite(void)
{
    Suite *s = suite_create("daemon_fair");
    TCase *tc = tcase_create("rate");
    tcase_add_test(tc, t_rate_period_saturates);
    tcase_add_test(tc, t_rate_cap_and_image);
    tcase_add_test(tc, t_rate_schedule_bound);
    tcase_add_test(tc, t_rate_tiny_is_one_result);
    suite_add_tcase(s, tc);
    tc = tcase_create("slots");
    tcase_add_test(tc, t_slots_admission);
    tcase_add_test(tc, t_slots_deadlines);
    suite_add_tcase(s, tc);
    tc = tcase_create("userrate");
    tcase_add_test(tc, t_userrate_shared_and_kept);
    tcase_add_test(tc, t_userrate_room);
    suite_add_tcase(s, tc);
    tc = tcase_create("lograte");
    tcase_add_test(tc, t_lograte);
    tcase_add_test(tc, t_redact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fair_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
