/*
 * test_daemon_core.c — the daemon's parts tested directly, linked against
 * ferd_core (daemon/ without main.c) with no daemon running:
 *   outq     the reference-counted messages and the bounded ring: slots, bytes,
 *            capped writes, in-flight messages, wrap-around, clearing;
 *   limits   the soft/hard output limits: what is queued, dropped or
 *            disconnects, the soft-limit clock, its hysteresis and expiry;
 *   bucket   the request token bucket: burst, refill, cap, slow rates, a clock
 *            that goes back;
 *   config   defaults, every key's range and syntax, sizes, booleans, quoting,
 *            every bad line reported, relations between keys, and which keys a
 *            reload applies live versus after a restart (each key classified);
 *   peer     SO_PEERCRED on real sockets and the trust decision: root, the
 *            daemon's user, primary group, supplementary groups (SO_PEERGROUPS)
 *            and the user-database fallback, with a peer that really runs as
 *            another user (when the test runs as root);
 *   demand   the watcher and waiting-POLL counts and "wanted" for the threads.
 * Time is an argument of the limit and bucket functions, so nothing sleeps.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bucket.h"
#include "client.h"
#include "config.h"
#include "demand.h"
#include "limits.h"
#include "outq.h"
#include "peer.h"
#include "vision/preprocess.h"

#define SEC 1000000000ull

/* ---- outq ---- */

START_TEST(t_msg_refs)
{
    ferd_msg *m = ferd_msg_new("{\"a\":1}", 7);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->len, 8);
    ck_assert_int_eq(m->data[7], '\n');
    ck_assert_mem_eq(m->data, "{\"a\":1}", 7);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_ptr_eq(ferd_msg_ref(m), m);
    ck_assert_uint_eq(m->refs, 2);
    ferd_msg_unref(m);
    ck_assert_uint_eq(m->refs, 1);
    ferd_msg_unref(m);
    ferd_msg_unref(NULL);
}
END_TEST

START_TEST(t_outq_slots_and_bytes)
{
    static ferd_outq q;
    ferd_outq_init(&q);
    ferd_msg *m = ferd_msg_new("xyz", 3);
    for (unsigned i = 0; i < FERD_OUTQ_SLOTS; i++)
        ck_assert_int_eq(ferd_outq_push(&q, m), 0);
    ck_assert_uint_eq(q.count, FERD_OUTQ_SLOTS);
    ck_assert_uint_eq(q.bytes, (size_t)FERD_OUTQ_SLOTS * 4);
    ck_assert_uint_eq(m->refs, 1 + FERD_OUTQ_SLOTS);
    /* Full: refused, and the message is not referenced. */
    ck_assert_int_eq(ferd_outq_push(&q, m), -ENOBUFS);
    ck_assert_uint_eq(m->refs, 1 + FERD_OUTQ_SLOTS);
    ferd_outq_clear(&q);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(q.count, 0);
    ck_assert_uint_eq(q.bytes, 0);
    ferd_msg_unref(m);
}
END_TEST

START_TEST(t_outq_write_caps)
{
    static ferd_outq q;
    ferd_outq_init(&q);
    char big[1000];
    memset(big, 'b', sizeof big);
    ferd_msg *small = ferd_msg_new("s", 1);         /* 2 bytes */
    ferd_msg *large = ferd_msg_new(big, sizeof big); /* 1001 bytes */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ferd_outq_push(&q, small), 0);
    ck_assert_int_eq(ferd_outq_push(&q, large), 0);
    ferd_msg *out[FERD_WRITE_MAX_MSGS];
    /* The message cap. */
    ck_assert_uint_eq(ferd_outq_begin_write(&q, out, 4, 1 << 20), 4);
    ck_assert_uint_eq(q.inflight, 4);
    ck_assert_ptr_eq(out[0], small);
    /* A second batch starts after the in-flight messages; the byte cap stops
     * before the large one. */
    ck_assert_uint_eq(ferd_outq_begin_write(&q, out, 64, 100), 6);
    ck_assert_uint_eq(q.inflight, 10);
    ferd_outq_end_write(&q);
    ck_assert_uint_eq(q.count, 1);
    ck_assert_uint_eq(q.inflight, 0);
    ck_assert_uint_eq(q.bytes, 1001);
    ck_assert_uint_eq(small->refs, 1);
    /* A message over the byte cap still goes, alone. */
    ck_assert_uint_eq(ferd_outq_begin_write(&q, out, 64, 100), 1);
    ck_assert_ptr_eq(out[0], large);
    /* Nothing left after the in-flight ones. */
    ck_assert_uint_eq(ferd_outq_begin_write(&q, out, 64, 100), 0);
    ferd_outq_end_write(&q);
    ck_assert_uint_eq(q.count, 0);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(large->refs, 1);
    ferd_msg_unref(small);
    ferd_msg_unref(large);
}
END_TEST

START_TEST(t_outq_wraps_in_order)
{
    /* Three times round the ring, in batches that straddle the end: every
     * message comes out once, in order. */
    static ferd_outq q;
    ferd_outq_init(&q);
    enum { N = 100 };
    ferd_msg *msgs[N];
    for (int i = 0; i < N; i++) {
        char s[8];
        int n = snprintf(s, sizeof s, "%d", i);
        msgs[i] = ferd_msg_new(s, (size_t)n);
    }
    int pushed = 0, taken = 0;
    ferd_msg *out[FERD_WRITE_MAX_MSGS];
    while (taken < 3 * FERD_OUTQ_SLOTS) {
        while (q.count < FERD_OUTQ_SLOTS - 7 && pushed < 3 * FERD_OUTQ_SLOTS)
            ck_assert_int_eq(ferd_outq_push(&q, msgs[pushed++ % N]), 0);
        unsigned n = ferd_outq_begin_write(&q, out, 37, 1 << 20);
        ck_assert_uint_gt(n, 0);
        for (unsigned i = 0; i < n; i++)
            ck_assert_ptr_eq(out[i], msgs[(taken + (int)i) % N]);
        taken += (int)n;
        ferd_outq_end_write(&q);
    }
    ck_assert_uint_eq(q.count, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(msgs[i]->refs, 1);
        ferd_msg_unref(msgs[i]);
    }
}
END_TEST

/* ---- limits ---- */

/* A queue holding bytes in n messages (only the counters matter to the limits). */
static void fake_queue(ferd_outq *q, size_t bytes, unsigned n)
{
    memset(q, 0, sizeof *q);
    q->bytes = bytes;
    q->count = n;
}

static ferd_limits test_limits(void)
{
    ferd_limits l = {.soft = 1000, .hard = 5000, .soft_ns = 10 * SEC};
    return l;
}

START_TEST(t_limits_from_config)
{
    fer_config c;
    fer_config_default(&c);
    ferd_limits l;
    ferd_limits_from_config(&l, &c);
    ck_assert_uint_eq(l.soft, 1u << 20);
    ck_assert_uint_eq(l.hard, 8u << 20);
    ck_assert_uint_eq(l.soft_ns, 10 * SEC);
}
END_TEST

START_TEST(t_limits_stream_messages)
{
    ferd_limits l = test_limits();
    ferd_outq q;
    uint64_t since = 0;
    /* An empty queue takes one stream message larger than the soft limit... */
    fake_queue(&q, 0, 0);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 3000, 1, &since, 5 * SEC), FERD_OUT_QUEUE);
    /* ...and the queue is then past the soft limit: the clock runs. */
    ck_assert_uint_eq(since, 5 * SEC);
    /* But never one larger than the hard limit. */
    since = 0;
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 5001, 1, &since, 7 * SEC), FERD_OUT_DROP);
    ck_assert_uint_eq(since, 7 * SEC);
    /* Under the soft limit: queued, no clock. */
    since = 0;
    fake_queue(&q, 500, 3);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 500, 1, &since, 8 * SEC), FERD_OUT_QUEUE);
    ck_assert_uint_eq(since, 0);
    /* One byte over: dropped, the clock starts, and a later drop keeps its start. */
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 501, 1, &since, 8 * SEC), FERD_OUT_DROP);
    ck_assert_uint_eq(since, 8 * SEC);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 501, 1, &since, 9 * SEC), FERD_OUT_DROP);
    ck_assert_uint_eq(since, 8 * SEC);
    /* Every slot taken: dropped, whatever the bytes. */
    since = 0;
    fake_queue(&q, 10, FERD_OUTQ_SLOTS);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 2, 1, &since, 3 * SEC), FERD_OUT_DROP);
    ck_assert_uint_eq(since, 3 * SEC);
}
END_TEST

START_TEST(t_limits_replies)
{
    ferd_limits l = test_limits();
    ferd_outq q;
    uint64_t since = 0;
    /* Replies are never dropped: past the soft limit they queue (clock starts)... */
    fake_queue(&q, 900, 2);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 200, 0, &since, 4 * SEC), FERD_OUT_QUEUE);
    ck_assert_uint_eq(since, 4 * SEC);
    /* ...up to the hard limit exactly... */
    fake_queue(&q, 4000, 2);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 1000, 0, &since, 4 * SEC), FERD_OUT_QUEUE);
    /* ...and one byte beyond disconnects. */
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 1001, 0, &since, 4 * SEC), FERD_OUT_DISCONNECT);
    /* So does a full slot table. */
    fake_queue(&q, 10, FERD_OUTQ_SLOTS);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 2, 0, &since, 4 * SEC), FERD_OUT_DISCONNECT);
}
END_TEST

START_TEST(t_limits_clock)
{
    ferd_limits l = test_limits();
    ferd_outq q;
    uint64_t since = 100 * SEC;
    /* Hysteresis: the clock stops only at half the soft limit. */
    fake_queue(&q, 501, 1);
    ferd_limits_written(&l, &q, &since);
    ck_assert_uint_eq(since, 100 * SEC);
    fake_queue(&q, 500, 1);
    ferd_limits_written(&l, &q, &since);
    ck_assert_uint_eq(since, 0);
    /* Expiry after soft_ns, not before; a stopped clock never expires. */
    ck_assert(!ferd_limits_expired(&l, 100 * SEC, 109 * SEC));
    ck_assert(ferd_limits_expired(&l, 100 * SEC, 110 * SEC));
    ck_assert(!ferd_limits_expired(&l, 0, 1000 * SEC));
    /* output_soft_seconds 0: a client may stay at the soft limit for ever. */
    l.soft_ns = 0;
    ck_assert(!ferd_limits_expired(&l, 100 * SEC, 1000 * SEC));
    /* A clock started at time 0 still runs (0 means "stopped"). */
    since = 0;
    fake_queue(&q, 0, 0);
    ck_assert_int_eq(ferd_limits_offer(&l, &q, 2000, 0, &since, 0), FERD_OUT_QUEUE);
    ck_assert_uint_ne(since, 0);
}
END_TEST

START_TEST(t_limits_queue_verdict_means_push_fits)
{
    /* Random offers against a real queue: whenever the verdict is QUEUE the push
     * succeeds, and the queue never passes the hard limit. */
    ferd_limits l = test_limits();
    static ferd_outq q;
    ferd_outq_init(&q);
    char buf[6000];
    memset(buf, 'x', sizeof buf);
    unsigned seed = 12345;
    uint64_t since = 0;
    ferd_msg *out[FERD_WRITE_MAX_MSGS];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 5;
        len = len == 4 ? (seed >> 12) % 5500 : len * 37;
        ferd_msg *m = ferd_msg_new(buf, len);
        int v = ferd_limits_offer(&l, &q, m->len, (int)(seed >> 30) & 1, &since, (uint64_t)i);
        if (v == FERD_OUT_QUEUE)
            ck_assert_int_eq(ferd_outq_push(&q, m), 0);
        ck_assert_uint_le(q.bytes, l.hard);
        ferd_msg_unref(m);
        if ((seed >> 20) % 7 == 0) {
            ferd_outq_begin_write(&q, out, FERD_WRITE_MAX_MSGS, FERD_WRITE_MAX_BYTES);
            ferd_outq_end_write(&q);
            ferd_limits_written(&l, &q, &since);
        }
    }
    ferd_outq_clear(&q);
}
END_TEST

/* ---- bucket ---- */

START_TEST(t_bucket_burst_and_refill)
{
    ferd_bucket b;
    ferd_bucket_init(&b, 3, 10 * SEC);
    /* A new client may send its burst at once, then no more. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 10 * SEC), 1);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 10 * SEC), 0);
    /* At 2 per second, half a second buys exactly one request. */
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 10 * SEC + SEC / 2 - 1000), 0);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 10 * SEC + SEC / 2 + 1000), 1);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 10 * SEC + SEC / 2 + 2000), 0);
    /* A long idle refills to the burst, not beyond. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 1000 * SEC), 1);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 3, 1000 * SEC), 0);
}
END_TEST

START_TEST(t_bucket_slow_rate_and_clock)
{
    ferd_bucket b;
    ferd_bucket_init(&b, 1, 0);
    ck_assert_int_eq(ferd_bucket_take(&b, 0.5, 1, 0), 1);
    /* 0.5 per second: fractions accrue over calls that are refused. */
    ck_assert_int_eq(ferd_bucket_take(&b, 0.5, 1, SEC), 0);
    ck_assert_int_eq(ferd_bucket_take(&b, 0.5, 1, 2 * SEC - 1000), 0);
    ck_assert_int_eq(ferd_bucket_take(&b, 0.5, 1, 2 * SEC + 1000), 1);
    /* A clock that reads earlier refills nothing (no wrap to a huge interval). */
    ck_assert_int_eq(ferd_bucket_take(&b, 0.5, 1, SEC), 0);
    ck_assert_uint_eq(b.last_ns, SEC);
}
END_TEST

START_TEST(t_bucket_ready_takes_nothing)
{
    ferd_bucket b;
    ferd_bucket_init(&b, 1, 0);
    /* ready says whether a take would succeed, and never takes. */
    ck_assert_int_eq(ferd_bucket_ready(&b, 2, 1, 0), 1);
    ck_assert_int_eq(ferd_bucket_ready(&b, 2, 1, 0), 1);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 1, 0), 1);
    ck_assert_int_eq(ferd_bucket_ready(&b, 2, 1, SEC / 2 - 1000), 0);
    ck_assert_int_eq(ferd_bucket_ready(&b, 2, 1, SEC / 2 + 1000), 1);
    ck_assert_int_eq(ferd_bucket_take(&b, 2, 1, SEC / 2 + 1000), 1);
    ck_assert_int_eq(ferd_bucket_ready(&b, 2, 1, SEC / 2 + 2000), 0);
}
END_TEST

/* ---- config ---- */

/* Every key, a valid value other than its default, and whether a reload
 * applies it live (1) or it needs a restart (0): the behaviour conf/ferd.conf
 * and docs/ferd.md document. A key added without a line here fails
 * t_config_every_key_classified. */
static const struct {
    const char *key, *value;
    int live;
} key_table[] = {
    {"source", "/tmp/other.avi", 0},
    {"loop", "no", 0},
    {"realtime", "no", 0},
    {"capture_width", "640", 0},
    {"capture_height", "480", 0},
    {"capture_fps", "15", 0},
    {"stream_timeout_ms", "1000", 0},
    {"retry_initial_ms", "100", 0},
    {"retry_max_ms", "1000", 0},
    {"close_camera_when_idle", "yes", 1},
    {"idle_close_seconds", "30", 1},
    {"model", "/tmp/other.fermodel", 1},
    {"cascade", "/tmp/other.xml", 0},
    {"detect_width", "640", 0},
    {"scale_factor", "1.2", 0},
    {"min_neighbors", "5", 0},
    {"min_face", "30", 0},
    {"max_face", "300", 0},
    {"full_every", "5", 0},
    {"max_faces", "4", 0},
    {"still_threshold", "2", 0},
    {"smoothing", "0.5", 0},
    {"label_margin", "0.25", 0},
    {"label_hold_ms", "700", 0},
    {"track_iou", "0.5", 0},
    {"track_max_misses", "7", 0},
    {"track_gap_ms", "4000", 0},
    {"tta", "flip", 1},
    {"socket", "/tmp/other.sock", 0},
    {"socket_mode", "0600", 0},
    {"socket_group", "video", 0},
    {"max_clients", "8", 0},
    {"stop_timeout_ms", "700", 1},
    {"max_image_pixels", "1000000", 0},
    {"reserved_clients", "2", 1},
    {"max_clients_per_uid", "3", 1},
    {"max_line", "1024", 1},
    {"line_timeout_ms", "900", 1},
    {"idle_timeout_seconds", "60", 1},
    {"requests_per_second", "5", 1},
    {"request_burst", "3", 1},
    {"requests_per_second_per_uid", "7", 1},
    {"request_burst_per_uid", "9", 1},
    {"watch_max_fps", "10", 1},
    {"image_max_fps", "1", 1},
    {"output_soft_limit", "64kb", 1},
    {"output_hard_limit", "16mb", 1},
    {"output_soft_seconds", "3", 1},
    {"poll_timeout_ms", "500", 1},
    {"allow_images", "yes", 1},
    {"image_group", "video", 1},
    {"reload_group", "video", 1},
    {"jpeg_quality", "50", 1},
    {"log_level", "debug", 1},
};
#define NTABLE (sizeof key_table / sizeof key_table[0])

/* fer_config_print's text (malloc'd). */
static char *printed(const fer_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    fer_config_print(c, f, 0);
    fclose(f);
    return buf;
}

static int parse_text(fer_config *c, const char *text, char *errs, size_t n)
{
    return fer_config_parse(c, text, strlen(text), "t.conf", errs, n);
}

START_TEST(t_config_defaults)
{
    fer_config c;
    fer_config_default(&c);
    char errs[1024];
    ck_assert_int_eq(fer_config_validate(&c, errs, sizeof errs), 0);
    ck_assert_str_eq(c.source, "0");
    ck_assert_str_eq(c.socket_path, "/run/ferd/ferd.sock");
    ck_assert_int_eq(c.socket_mode, 0660);
    ck_assert_int_eq(c.max_clients, 64);
    ck_assert_int_eq(c.max_line, 4096);
    ck_assert_int_eq(c.request_burst, 40);
    ck_assert(c.requests_per_second == 20);
    ck_assert_int_eq(c.output_soft_limit, 1LL << 20);
    ck_assert_int_eq(c.output_hard_limit, 8LL << 20);
    ck_assert_int_eq(c.allow_images, 0);
    ck_assert_int_eq(c.log_level, FER_LOG_INFO);
    ck_assert(strstr(c.model, "default.fermodel"));
    /* The defaults print as a file that parses back to the same settings. */
    char *text = printed(&c);
    fer_config d;
    memset(&d, 0x5a, sizeof d);
    fer_config_default(&d);
    d.max_clients = 1;
    ck_assert_int_eq(parse_text(&d, text, errs, sizeof errs), 0);
    char *again = printed(&d);
    ck_assert_str_eq(again, text);
    free(text);
    free(again);
}
END_TEST

START_TEST(t_config_every_key_classified)
{
    fer_config base;
    fer_config_default(&base);
    /* The table names every printed key, once. */
    char *text = printed(&base);
    int nprinted = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64];
        ck_assert_int_eq(sscanf(line, "%63s", key), 1);
        size_t i = 0;
        while (i < NTABLE && strcmp(key_table[i].key, key) != 0)
            i++;
        ck_assert_msg(i < NTABLE, "key %s is not classified in key_table", key);
        nprinted++;
    }
    free(text);
    ck_assert_int_eq(nprinted, (int)NTABLE);

    for (size_t i = 0; i < NTABLE; i++) {
        fer_config changed = base;
        char errs[256] = "";
        ck_assert_msg(fer_config_set(&changed, key_table[i].key, key_table[i].value, errs,
                                     sizeof errs) == 0, "%s %s: %s", key_table[i].key,
                      key_table[i].value, errs);
        char *a = printed(&base), *b = printed(&changed);
        ck_assert_msg(strcmp(a, b) != 0, "%s: the test value equals the default",
                      key_table[i].key);
        free(a);
        free(b);
        /* A restart key is named by fer_config_restart_keys; a live one is not. */
        char names[64][32];
        int n = fer_config_restart_keys(&base, &changed, names, 64);
        if (key_table[i].live) {
            ck_assert_msg(n == 0, "%s is live but reported as needing a restart",
                          key_table[i].key);
        } else {
            ck_assert_msg(n == 1, "%s: %d restart keys", key_table[i].key, n);
            ck_assert_str_eq(names[0], key_table[i].key);
        }
        /* fer_config_apply_live carries exactly the live keys over. */
        fer_config running = base;
        fer_config_apply_live(&running, &changed);
        char *r = printed(&running), *want = printed(key_table[i].live ? &changed : &base);
        ck_assert_msg(strcmp(r, want) == 0, "%s: apply_live did the wrong thing",
                      key_table[i].key);
        free(r);
        free(want);
    }
}
END_TEST

START_TEST(t_config_restart_keys_bounded)
{
    fer_config a, b;
    fer_config_default(&a);
    b = a;
    for (size_t i = 0; i < NTABLE; i++)
        ck_assert_int_eq(fer_config_set(&b, key_table[i].key, key_table[i].value, NULL, 0), 0);
    char names[3][32];
    ck_assert_int_eq(fer_config_restart_keys(&a, &b, names, 3), 3);
    ck_assert_str_eq(names[0], "source");
}
END_TEST

START_TEST(t_config_ranges_and_syntax)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"max_clients 0", "max_clients: 0 is outside 1..4096"},
        {"max_clients 4097", "outside 1..4096"},
        {"max_clients 12x", "max_clients: expected"},
        {"max_clients 99999999999999999999", "max_clients"},
        {"scale_factor 1.0", "scale_factor: 1.0 is outside 1.01..2"},
        {"scale_factor nan", "scale_factor"},
        {"max_line 255", "max_line: 255 is outside 256..4096"},
        {"output_soft_limit 4095", "output_soft_limit"},
        {"output_hard_limit 2gb", "output_hard_limit"},
        {"output_soft_limit 12qb", "output_soft_limit"},
        {"output_soft_limit -1", "output_soft_limit"},
        {"socket_mode 0778", "socket_mode"},
        {"socket_mode rw", "expected an octal mode"},
        {"log_level loud", "expected debug, info, notice, warning or err"},
        {"allow_images maybe", "allow_images"},
        {"jpeg_quality 0", "jpeg_quality"},
        {"smoothing 1", "smoothing"},
        {"tta crops", "tta: expected none or flip, got \"crops\""},
        {"no_such_key 1", "unknown key \"no_such_key\""},
        {"max_clients", "max_clients: missing value"},
        {"source \"unterminated", "unterminated quoted value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fer_config c, before;
        fer_config_default(&c);
        before = c;
        char errs[512];
        char text[256];
        snprintf(text, sizeof text, "# comment\n\n%s\n", bad[i].line);
        ck_assert_msg(parse_text(&c, text, errs, sizeof errs) == -EINVAL, "%s accepted",
                      bad[i].line);
        ck_assert_msg(strncmp(errs, "t.conf:3: ", 10) == 0, "%s: '%s' lacks the place",
                      bad[i].line, errs);
        ck_assert_msg(strstr(errs, bad[i].why), "%s: '%s' lacks '%s'", bad[i].line, errs,
                      bad[i].why);
        /* A refused value leaves the setting as it was. */
        ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "%s changed the config", bad[i].line);
    }
}
END_TEST

START_TEST(t_config_values)
{
    fer_config c;
    fer_config_default(&c);
    char errs[512];
    const char *text = "  max_clients\t 12  \n"
                       "output_soft_limit 64kb\n"
                       "output_hard_limit 2M\n"
                       "socket_mode 600\n"
                       "allow_images ON\n"
                       "loop false\n"
                       "log_level WARNING\n"
                       "tta Flip\n"
                       "image_group \"\"\n"
                       "source \" /dev/video0 \"\r\n"
                       "model /m/a b.fermodel\n";
    ck_assert_int_eq(parse_text(&c, text, errs, sizeof errs), 0);
    ck_assert_int_eq(c.max_clients, 12);
    ck_assert_int_eq(c.output_soft_limit, 65536);
    ck_assert_int_eq(c.output_hard_limit, 2 * 1024 * 1024);
    ck_assert_int_eq(c.socket_mode, 0600);
    ck_assert_int_eq(c.allow_images, 1);
    ck_assert_int_eq(c.loop, 0);
    ck_assert_int_eq(c.log_level, FER_LOG_WARNING);
    ck_assert_int_eq(c.tta, FER_TTA_FLIP);
    ck_assert_str_eq(c.image_group, "");
    ck_assert_str_eq(c.source, " /dev/video0 ");
    ck_assert_str_eq(c.model, "/m/a b.fermodel");
    /* Quoted values survive printing and parsing again. */
    char *p = printed(&c);
    fer_config d;
    fer_config_default(&d);
    ck_assert_int_eq(parse_text(&d, p, errs, sizeof errs), 0);
    ck_assert_str_eq(d.source, " /dev/video0 ");
    ck_assert_str_eq(d.image_group, "");
    free(p);
}
END_TEST

START_TEST(t_config_every_bad_line_reported)
{
    fer_config c;
    fer_config_default(&c);
    char errs[1024];
    const char text[] = "max_clients 0\nmax_line 300\nbogus 1\nlog_level x\n"
                        "jpeg_quality 101\nsource a\0b\n";
    ck_assert_int_eq(fer_config_parse(&c, text, sizeof text - 1, "t.conf", errs, sizeof errs),
                     -EINVAL);
    ck_assert(strstr(errs, "t.conf:1: max_clients"));
    ck_assert(strstr(errs, "t.conf:3: unknown key"));
    ck_assert(strstr(errs, "t.conf:4: log_level"));
    ck_assert(strstr(errs, "t.conf:5: jpeg_quality"));
    ck_assert(strstr(errs, "t.conf:6: NUL byte"));
    ck_assert(!strstr(errs, "t.conf:2:"));
    /* The good line in between still applied. */
    ck_assert_int_eq(c.max_line, 300);
    /* A small buffer truncates the report but not the verdict. */
    char small[16];
    fer_config_default(&c);
    ck_assert_int_eq(fer_config_parse(&c, text, sizeof text - 1, "t.conf", small, sizeof small),
                     -EINVAL);
    ck_assert_uint_lt(strlen(small), sizeof small);
}
END_TEST

START_TEST(t_config_relations)
{
    fer_config c;
    char errs[512];
    fer_config_default(&c);
    c.output_soft_limit = c.output_hard_limit + 1;
    ck_assert_int_eq(fer_config_validate(&c, errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "output_soft_limit"));
    fer_config_default(&c);
    c.retry_initial_ms = c.retry_max_ms + 1;
    ck_assert_int_eq(fer_config_validate(&c, errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "retry_initial_ms"));
    fer_config_default(&c);
    c.min_face = 100;
    c.max_face = 50;
    ck_assert_int_eq(fer_config_validate(&c, errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "max_face"));
    fer_config_default(&c);
    c.source[0] = c.socket_path[0] = '\0';
    ck_assert_int_eq(fer_config_validate(&c, errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "source: empty") && strstr(errs, "socket: empty"));
}
END_TEST

START_TEST(t_config_load_errors)
{
    fer_config c;
    fer_config_default(&c);
    char errs[512];
    ck_assert_int_eq(fer_config_load(&c, "/nonexistent/ferd.conf", errs, sizeof errs), -ENOENT);
    ck_assert(strstr(errs, "/nonexistent/ferd.conf"));
    ck_assert_int_eq(fer_config_load(&c, "/", errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "not a regular file"));
    char path[] = "/tmp/ferd-core-conf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (1 << 20) + 1), 0);
    ck_assert_int_eq(fer_config_load(&c, path, errs, sizeof errs), -EINVAL);
    ck_assert(strstr(errs, "at most 1 MiB"));
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    const char *ok = "max_clients 5\n";
    ck_assert_int_eq(write(fd, ok, strlen(ok)), (ssize_t)strlen(ok));
    close(fd);
    ck_assert_int_eq(fer_config_load(&c, path, errs, sizeof errs), 0);
    ck_assert_int_eq(c.max_clients, 5);
    unlink(path);
}
END_TEST

/* ---- peer credentials ---- */

START_TEST(t_peer_self)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ferd_peer p;
    ferd_peer_read(sv[0], &p);
    ck_assert_int_eq(p.uid, (long long)geteuid());
    ck_assert_int_eq(p.pid, (long long)getpid());
    ck_assert_uint_eq(p.gid, getegid());
    /* Our own user is trusted with no group configured; root always is. */
    ck_assert_int_eq(ferd_peer_trusted(&p, sv[0], (gid_t)-1, geteuid()), 1);
    ferd_peer r = {.uid = 0, .pid = 1, .gid = 0};
    ck_assert_int_eq(ferd_peer_trusted(&r, -1, (gid_t)-1, 4321), 1);
    close(sv[0]);
    close(sv[1]);
    /* Not a socket: unknown, trusted with nothing, even "as ourselves". */
    ferd_peer_read(-1, &p);
    ck_assert_int_eq(p.uid, -1);
    ck_assert_int_eq(p.pid, -1);
    ck_assert_int_eq(ferd_peer_trusted(&p, -1, 0, (uid_t)-1), 0);
}
END_TEST

START_TEST(t_peer_user_database_fallback)
{
    /* Without SO_PEERGROUPS (fd -1 here), group membership comes from the user
     * database: nobody's primary group in /etc/passwd. */
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "t_peer_user_database_fallback: no user nobody; not checked\n");
        return;
    }
    ferd_peer p = {.uid = pw->pw_uid, .pid = 99, .gid = 4242};
    ck_assert_int_eq(ferd_peer_trusted(&p, -1, pw->pw_gid, 0), 1);
    ck_assert_int_eq(ferd_peer_trusted(&p, -1, pw->pw_gid + 1, 0), 0);
    ck_assert_int_eq(ferd_peer_trusted(&p, -1, (gid_t)-1, 0), 0);
    /* The primary group the kernel reported counts without any lookup. */
    ck_assert_int_eq(ferd_peer_trusted(&p, -1, 4242, 0), 1);
}
END_TEST

/*
 * A peer that really is someone else: a child drops to uid 65534 with primary
 * group 65534 and the supplementary group 4242 only, then connects. What the
 * daemon reads and decides is checked against that. Needs root (setuid).
 */
START_TEST(t_peer_other_user)
{
    if (geteuid() != 0) {
        fprintf(stderr, "t_peer_other_user: not root, cannot become another user; not checked\n");
        return;
    }
    char dir[] = "/tmp/ferd-core-peer-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0777), 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s", dir);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ls, 0);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(chmod(sa.sun_path, 0777), 0);
    ck_assert_int_eq(listen(ls, 1), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        gid_t supp = 4242;
        if (setgroups(1, &supp) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
            _exit(3);
        char b;
        (void)!read(s, &b, 1); /* hold the connection until the parent is done */
        _exit(0);
    }
    int fd = accept(ls, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    ferd_peer p;
    ferd_peer_read(fd, &p);
    ck_assert_int_eq(p.uid, 65534);
    ck_assert_int_eq(p.pid, (long long)child);
    ck_assert_uint_eq(p.gid, 65534);
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, (gid_t)-1, 0), 0);      /* no group */
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, (gid_t)-1, 65534), 1);  /* our own user */
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, 65534, 0), 1);          /* primary group */
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, 4242, 0), 1);           /* SO_PEERGROUPS */
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, 4343, 0), 0);           /* another group */
    ck_assert_int_eq(ferd_peer_trusted(&p, fd, 0, 0), 0);              /* root's group */
    close(fd);
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(ls);
    unlink(sa.sun_path);
    rmdir(dir);
}
END_TEST

/* ---- demand ---- */

static ferd demand_d;
static ferd_client demand_clients[2];

static void demand_setup(void)
{
    memset(&demand_d, 0, sizeof demand_d);
    ck_assert_int_eq(pthread_mutex_init(&demand_d.sh.mu, NULL), 0);
    ck_assert_int_eq(ferd_cond_init(&demand_d.sh.infer_cond), 0);
    ck_assert_int_eq(ferd_cond_init(&demand_d.sh.capture_cond), 0);
    memset(demand_clients, 0, sizeof demand_clients);
    for (int i = 0; i < 2; i++)
        demand_clients[i].d = &demand_d;
}

START_TEST(t_demand_counts)
{
    demand_setup();
    ferd *d = &demand_d;
    ferd_client *a = &demand_clients[0], *b = &demand_clients[1];
    fer_watch on, off;
    fer_watch_default(&on);
    off = on;
    off.enable = 0;
    ck_assert_int_eq(d->sh.wanted, 0);
    ferd_client_set_watch(a, &on);
    ck_assert_int_eq(d->watching, 1);
    ck_assert_int_eq(d->sh.wanted, 1);
    /* Changing an existing subscription counts it once. */
    on.max_fps = 5;
    ferd_client_set_watch(a, &on);
    ck_assert_int_eq(d->watching, 1);
    ck_assert(a->watch.max_fps == 5);
    ferd_client_poll_wait(b, 123);
    ck_assert_int_eq(d->polls_waiting, 1);
    ck_assert_uint_eq(b->poll_deadline_ns, 123);
    ferd_client_poll_wait(b, 456); /* already waiting: unchanged */
    ck_assert_int_eq(d->polls_waiting, 1);
    ck_assert_uint_eq(b->poll_deadline_ns, 123);
    ferd_client_set_watch(a, &off);
    ck_assert_int_eq(d->watching, 0);
    ck_assert_int_eq(d->sh.wanted, 1); /* the POLL still wants a frame */
    ferd_client_poll_done(b);
    ferd_client_poll_done(b);
    ck_assert_int_eq(d->polls_waiting, 0);
    ck_assert_int_eq(d->sh.wanted, 0);
    ferd_client_set_watch(a, &off);
    ck_assert_int_eq(d->watching, 0);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("daemon_core");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"outq", {t_msg_refs, t_outq_slots_and_bytes, t_outq_write_caps, t_outq_wraps_in_order}},
        {"limits", {t_limits_from_config, t_limits_stream_messages, t_limits_replies,
                    t_limits_clock, t_limits_queue_verdict_means_push_fits}},
        {"bucket", {t_bucket_burst_and_refill, t_bucket_slow_rate_and_clock,
                    t_bucket_ready_takes_nothing}},
        {"config", {t_config_defaults, t_config_every_key_classified,
                    t_config_restart_keys_bounded, t_config_ranges_and_syntax, t_config_values,
                    t_config_every_bad_line_reported, t_config_relations,
                    t_config_load_errors}},
        {"peer", {t_peer_self, t_peer_user_database_fallback, t_peer_other_user}},
        {"demand", {t_demand_counts}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        for (int j = 0; j < 8 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
