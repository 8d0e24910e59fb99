/*
 * test_http.c — ferd-http's parts on their own (http/): the listen address,
 * query parameters, the per-address token buckets, the secret, the shared
 * message ring that fans frames out to viewers, the text buffer, the metrics
 * exposition and the configuration. The server itself is tested end to end by
 * api.py, slow.py and browser.py.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "listen.h"
#include "metrics.h"
#include "params.h"
#include "ratelimit.h"
#include "ring.h"
#include "sbuf.h"

/* ---- listen ---- */

START_TEST(t_listen_good)
{
    http_listen l;
    fer_error err = {0};
    ck_assert_int_eq(http_listen_parse(&l, "127.0.0.1:8090", &err), 0);
    ck_assert(l.loopback && !l.ipv6 && l.port == 8090);
    ck_assert_int_eq(http_listen_parse(&l, "127.8.9.1:1", &err), 0);
    ck_assert(l.loopback);
    ck_assert_int_eq(http_listen_parse(&l, "localhost:0", &err), 0);
    ck_assert(l.loopback && l.port == 0);
    ck_assert_int_eq(http_listen_parse(&l, "[::1]:443", &err), 0);
    ck_assert(l.loopback && l.ipv6 && l.port == 443);
    ck_assert_int_eq(http_listen_parse(&l, "[::ffff:127.0.0.1]:80", &err), 0);
    ck_assert(l.loopback && l.ipv6);
    ck_assert_int_eq(http_listen_parse(&l, "0.0.0.0:8090", &err), 0);
    ck_assert(!l.loopback);
    ck_assert_int_eq(http_listen_parse(&l, "[::]:8090", &err), 0);
    ck_assert(!l.loopback && l.ipv6);
    ck_assert_int_eq(http_listen_parse(&l, "192.168.1.20:65535", &err), 0);
    ck_assert(!l.loopback && l.port == 65535);
    char text[64];
    http_addr_format((struct sockaddr *)&l.addr, text, sizeof text);
    ck_assert_str_eq(text, "192.168.1.20:65535");
    http_listen_parse(&l, "[::1]:8090", &err);
    http_addr_format((struct sockaddr *)&l.addr, text, sizeof text);
    ck_assert_str_eq(text, "[::1]:8090");
}
END_TEST

START_TEST(t_listen_bad)
{
    static const char *const bad[] = {"8090",         ":8090",      "camera.local:80",
                                      "1.2.3.4:70000", "1.2.3.4:-1", "[::1:80",
                                      "1.2.3.4:",      "1.2.3.4:8x", "[]:80",
                                      "1.2.3:80",      "::1:80",     "1.2.3.4: 80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        http_listen l;
        fer_error err = {0};
        ck_assert_msg(http_listen_parse(&l, bad[i], &err) == FER_E_INVAL, "%s accepted", bad[i]);
        ck_assert_msg(strstr(err.msg, "listen") != NULL, "%s: message %s", bad[i], err.msg);
    }
    http_listen l;
    fer_error err = {0};
    http_listen_parse(&l, "camera.local:80", &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "not resolved"));
}
END_TEST

/* ---- params ---- */

static http_params params(const char *const *kv)
{
    http_params ps;
    memset(&ps, 0, sizeof ps);
    for (int i = 0; kv[i]; i += 2)
        http_params_add(&ps, kv[i], kv[i + 1]);
    return ps;
}

START_TEST(t_params_check)
{
    char why[256];
    static const char *const known[] = {"a", "b", NULL};
    http_params ps = params((const char *[]){"a", "1", "b", NULL, NULL});
    ck_assert_int_eq(http_params_check(&ps, known, why, sizeof why), 0);
    ck_assert_str_eq(http_params_get(&ps, "b"), "");
    ck_assert_ptr_null(http_params_get(&ps, "c"));
    ps = params((const char *[]){"a", "1", "zz", "2", NULL});
    ck_assert_int_eq(http_params_check(&ps, known, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "unknown query parameter \"zz\" (known: a, b)"));
    ps = params((const char *[]){"a", "1", "a", "2", NULL});
    ck_assert_int_eq(http_params_check(&ps, known, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "\"a\" given twice"));
    static const char *const none[] = {NULL};
    ps = params((const char *[]){"x", "1", NULL});
    ck_assert_int_eq(http_params_check(&ps, none, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "takes none"));
    memset(&ps, 0, sizeof ps);
    for (int i = 0; i < HTTP_MAX_PARAMS + 1; i++)
        http_params_add(&ps, "a", "1");
    ck_assert_int_eq(http_params_check(&ps, known, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "more than"));
    char big[200];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ps = params((const char *[]){"a", big, NULL});
    ck_assert_int_eq(http_params_check(&ps, known, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "too long"));
}
END_TEST

START_TEST(t_params_values)
{
    char why[256];
    int b = 7;
    double d = -1;
    fer_image_kind k = FER_IMAGE_NONE;
    static const char *const yes[] = {"", "1", "true", "YES", "on"};
    for (size_t i = 0; i < 5; i++) {
        http_params ps = params((const char *[]){"x", yes[i], NULL});
        b = 0;
        ck_assert_int_eq(http_params_bool(&ps, "x", &b, why, sizeof why), 0);
        ck_assert_int_eq(b, 1);
    }
    http_params ps = params((const char *[]){"x", "0", NULL});
    ck_assert_int_eq(http_params_bool(&ps, "x", &b, why, sizeof why), 0);
    ck_assert_int_eq(b, 0);
    ps = params((const char *[]){"x", "maybe", NULL});
    ck_assert_int_eq(http_params_bool(&ps, "x", &b, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "x=\"maybe\""));
    b = 5;
    ps = params((const char *[]){NULL});
    ck_assert_int_eq(http_params_bool(&ps, "x", &b, why, sizeof why), 0);
    ck_assert_int_eq(b, 5); /* absent: the default stays */

    static const char *const good[] = {"0", "2.5", "10", "1e1"};
    static const double want[] = {0, 2.5, 10, 10};
    for (int i = 0; i < 4; i++) {
        ps = params((const char *[]){"n", good[i], NULL});
        ck_assert_int_eq(http_params_number(&ps, "n", 0, 10, &d, why, sizeof why), 0);
        ck_assert(d == want[i]);
    }
    static const char *const badn[] = {"", "abc", "nan", "inf", "0x10", "11", "-1", "1,5", "1 "};
    for (int i = 0; i < 9; i++) {
        ps = params((const char *[]){"n", badn[i], NULL});
        ck_assert_msg(http_params_number(&ps, "n", 0, 10, &d, why, sizeof why) == -EINVAL,
                      "\"%s\" accepted", badn[i]);
    }
    static const char *const img[] = {"none", "jpeg", "annotated", "1", "0"};
    static const fer_image_kind kinds[] = {FER_IMAGE_NONE, FER_IMAGE_JPEG, FER_IMAGE_ANNOTATED,
                                           FER_IMAGE_JPEG, FER_IMAGE_NONE};
    for (int i = 0; i < 5; i++) {
        ps = params((const char *[]){"image", img[i], NULL});
        ck_assert_int_eq(http_params_image(&ps, "image", &k, why, sizeof why), 0);
        ck_assert_int_eq(k, kinds[i]);
    }
    ps = params((const char *[]){"image", "png", NULL});
    ck_assert_int_eq(http_params_image(&ps, "image", &k, why, sizeof why), -EINVAL);
    ps = params((const char *[]){"image", "", NULL});
    ck_assert_int_eq(http_params_image(&ps, "image", &k, why, sizeof why), -EINVAL);
}
END_TEST

START_TEST(t_params_watch)
{
    char why[256];
    fer_watch w;
    http_params ps = params((const char *[]){NULL});
    ck_assert_int_eq(http_params_watch(&ps, &w, why, sizeof why), 0);
    ck_assert(w.enable == 1 && w.max_fps == 0 && w.min_prob == 0 && w.events == 0 &&
              w.scores == 1 && w.image == FER_IMAGE_NONE);
    ps = params((const char *[]){"max_fps", "15", "min_prob", "0.5", "scores", "0", "image",
                                 "annotated", NULL});
    ck_assert_int_eq(http_params_watch(&ps, &w, why, sizeof why), 0);
    ck_assert(w.max_fps == 15 && w.min_prob == 0.5 && !w.scores && w.image == FER_IMAGE_ANNOTATED);
    ps = params((const char *[]){"max_fps", "1001", NULL});
    ck_assert_int_eq(http_params_watch(&ps, &w, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "max_fps"));
    ps = params((const char *[]){"events", "1", "image", "jpeg", NULL});
    ck_assert_int_eq(http_params_watch(&ps, &w, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "no picture"));
    ps = params((const char *[]){"enable", "0", NULL}); /* not a query option */
    ck_assert_int_eq(http_params_watch(&ps, &w, why, sizeof why), -EINVAL);
}
END_TEST

/* ---- rate limit ---- */

static void v4(struct sockaddr_storage *ss, const char *ip)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
}

static void v6(struct sockaddr_storage *ss, const char *ip)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
}

START_TEST(t_ratelimit_bucket)
{
    static http_ratelimit rl;
    http_ratelimit_init(&rl, 2, 3);
    struct sockaddr_storage a, b;
    v4(&a, "10.0.0.1");
    v4(&b, "10.0.0.2");
    uint8_t ka[16], kb[16];
    http_ratelimit_key((struct sockaddr *)&a, ka);
    http_ratelimit_key((struct sockaddr *)&b, kb);
    uint64_t t = 1000000000ull;
    int retry = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(http_ratelimit_take(&rl, ka, t, &retry), 1);
    ck_assert_int_eq(http_ratelimit_take(&rl, ka, t, &retry), 0);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(rl.refused, 1);
    /* Another address has its own bucket. */
    ck_assert_int_eq(http_ratelimit_take(&rl, kb, t, NULL), 1);
    /* Half a second refills one token at 2 per second. */
    ck_assert_int_eq(http_ratelimit_take(&rl, ka, t + 500000000ull, NULL), 1);
    ck_assert_int_eq(http_ratelimit_take(&rl, ka, t + 500000000ull, NULL), 0);
    /* Long idle refills to the burst, not beyond. */
    uint64_t later = t + 100ull * 1000000000ull;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(http_ratelimit_take(&rl, ka, later, NULL), 1);
    ck_assert_int_eq(http_ratelimit_take(&rl, ka, later, NULL), 0);
    /* rate 0: no limit. */
    http_ratelimit_init(&rl, 0, 1);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(http_ratelimit_take(&rl, ka, t, NULL), 1);
}
END_TEST

START_TEST(t_ratelimit_keys)
{
    struct sockaddr_storage a, b;
    uint8_t ka[16], kb[16];
    v6(&a, "2001:db8:1:2:aaaa::1");
    v6(&b, "2001:db8:1:2:bbbb::9");
    http_ratelimit_key((struct sockaddr *)&a, ka);
    http_ratelimit_key((struct sockaddr *)&b, kb);
    ck_assert_mem_eq(ka, kb, 16); /* one /64, one host */
    v6(&b, "2001:db8:1:3::1");
    http_ratelimit_key((struct sockaddr *)&b, kb);
    ck_assert(memcmp(ka, kb, 16) != 0);
    v4(&a, "192.0.2.7");
    v6(&b, "::ffff:192.0.2.7");
    http_ratelimit_key((struct sockaddr *)&a, ka);
    http_ratelimit_key((struct sockaddr *)&b, kb);
    ck_assert_mem_eq(ka, kb, 16); /* the same host over both families */
}
END_TEST

START_TEST(t_ratelimit_table)
{
    static http_ratelimit rl;
    http_ratelimit_init(&rl, 1, 1);
    uint8_t k[16];
    struct sockaddr_storage a;
    char ip[32];
    /* Fill every slot, each address using its one token. */
    for (int i = 0; i < HTTP_RL_SLOTS; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 250, i % 250 + 1);
        v4(&a, ip);
        http_ratelimit_key((struct sockaddr *)&a, k);
        ck_assert_int_eq(http_ratelimit_take(&rl, k, 1000 + (uint64_t)i, NULL), 1);
    }
    ck_assert_uint_eq(rl.evictions, 0);
    /* One more address takes the least recently used slot (the first). */
    v4(&a, "10.9.9.9");
    http_ratelimit_key((struct sockaddr *)&a, k);
    ck_assert_int_eq(http_ratelimit_take(&rl, k, 5000, NULL), 1);
    ck_assert_uint_eq(rl.evictions, 1);
    /* The second address still has its (empty) bucket. */
    v4(&a, "10.1.0.2");
    http_ratelimit_key((struct sockaddr *)&a, k);
    ck_assert_int_eq(http_ratelimit_take(&rl, k, 5001, NULL), 0);
}
END_TEST

/* ---- auth ---- */

static char *write_secret(const char *text, mode_t mode)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ferd-http-test-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
    return path;
}

START_TEST(t_auth_load)
{
    http_auth a;
    fer_error err = {0};
    char *p = write_secret("  0123456789abcdefXYZ  \nsecond line ignored\n", 0600);
    ck_assert_int_eq(http_auth_load(&a, p, &err), 0);
    ck_assert(a.enabled);
    ck_assert_str_eq(a.secret, "0123456789abcdefXYZ");
    unlink(p);
    p = write_secret("0123456789abcdefXYZ\n", 0644);
    ck_assert_int_eq(http_auth_load(&a, p, &err), -EPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "chmod"));
    ck_assert(!a.enabled);
    unlink(p);
    p = write_secret("short\n", 0640);
    ck_assert_int_eq(http_auth_load(&a, p, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "5 characters"));
    unlink(p);
    p = write_secret("0123456789 abcdefXYZ\n", 0600);
    ck_assert_int_eq(http_auth_load(&a, p, &err), FER_E_INVAL);
    unlink(p);
    ck_assert_int_eq(http_auth_load(&a, "/nonexistent/secret", &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/secret"));
}
END_TEST

START_TEST(t_auth_check)
{
    http_auth a;
    memset(&a, 0, sizeof a);
    ck_assert(http_auth_check(&a, NULL, NULL)); /* off: everything passes */
    a.enabled = 1;
    snprintf(a.secret, sizeof a.secret, "0123456789abcdefXYZ");
    a.len = strlen(a.secret);
    ck_assert(!http_auth_check(&a, NULL, NULL));
    ck_assert(http_auth_check(&a, "Bearer 0123456789abcdefXYZ", NULL));
    ck_assert(http_auth_check(&a, "bearer 0123456789abcdefXYZ ", NULL));
    ck_assert(!http_auth_check(&a, "Bearer 0123456789abcdefXY", NULL));
    ck_assert(!http_auth_check(&a, "Bearer 0123456789abcdefXYZZ", NULL));
    ck_assert(!http_auth_check(&a, "Bearer ", NULL));
    ck_assert(!http_auth_check(&a, "Basic MDEyMzQ1Njc4OWFiY2RlZlhZWg==", NULL));
    ck_assert(http_auth_check(&a, "Basic whatever", "0123456789abcdefXYZ"));
    ck_assert(!http_auth_check(&a, "Basic whatever", "0123456789abcdefXYz"));
    ck_assert(!http_auth_check(&a, NULL, ""));
    ck_assert(http_auth_equal("abc", 3, "abc", 3));
    ck_assert(!http_auth_equal("abc", 3, "abd", 3));
    ck_assert(!http_auth_equal("ab", 2, "abc", 3));
    ck_assert(!http_auth_equal("abcd", 4, "abc", 3));
    http_auth_clear(&a);
    ck_assert(!a.enabled && a.secret[0] == 0);
}
END_TEST

/* ---- ring ---- */

static http_msg *msg(const char *text, int super)
{
    http_msg *m = http_msg_new(strlen(text), super);
    memcpy(m->data, text, strlen(text));
    return m;
}

/* The texts a viewer at *pos receives now, joined by '|'. */
static void drain(http_ring *r, uint64_t *pos, uint64_t *skipped, char *out, size_t n)
{
    out[0] = '\0';
    http_msg *m;
    while ((m = http_ring_next(r, pos, skipped))) {
        snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "|" : "", m->data);
        http_msg_unref(m);
    }
}

START_TEST(t_ring_viewers)
{
    http_ring r;
    http_ring_init(&r, 8, 1 << 20);
    char got[256];
    uint64_t skipped = 0;
    /* A new viewer of an empty ring waits for the next message. */
    uint64_t fast = http_ring_start(&r);
    http_ring_push(&r, msg("f1", 1));
    drain(&r, &fast, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "f1");
    /* Frames and events; a viewer in step (it reads after every push, as the
     * server wakes it) gets every one of them. */
    uint64_t slow = fast;
    char all[1024] = "";
    static const char *const seq[] = {"f2", "e1", "f3"};
    for (int i = 0; i < 3; i++) {
        http_ring_push(&r, msg(seq[i], seq[i][0] == 'f'));
        drain(&r, &fast, &skipped, got, sizeof got);
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "|" : "", got);
    }
    ck_assert_str_eq(all, "f2|e1|f3");
    ck_assert_uint_eq(skipped, 0);
    /* One that reads after two frames gets the newer only. */
    uint64_t mid = fast;
    http_ring_push(&r, msg("fx", 1));
    http_ring_push(&r, msg("fy", 1));
    drain(&r, &mid, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "fy");
    ck_assert_uint_eq(skipped, 1);
    skipped = 0;
    http_ring_push(&r, msg("f4", 1));
    /* A viewer that was behind skips superseded frames, not events. */
    drain(&r, &slow, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "e1|f4");
    ck_assert_uint_eq(skipped, 4); /* f2, f3, fx, fy */
    /* A new viewer starts with the newest frame. */
    uint64_t late = http_ring_start(&r);
    skipped = 0;
    drain(&r, &late, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "f4");
    ck_assert_uint_eq(skipped, 0);
    http_ring_clear(&r);
    late = http_ring_start(&r);
    drain(&r, &late, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(t_ring_limits)
{
    http_ring r;
    http_ring_init(&r, 4, 1 << 20);
    char got[256];
    uint64_t skipped = 0, pos = http_ring_start(&r);
    /* A viewer holding a message keeps it alive after the ring drops it. */
    http_ring_push(&r, msg("e0", 0));
    http_msg *held = http_ring_next(&r, &pos, &skipped);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(held->refs, 2);
    for (int i = 1; i <= 6; i++) {
        char t[8];
        snprintf(t, sizeof t, "e%d", i);
        http_ring_push(&r, msg(t, 0));
    }
    ck_assert_int_eq(held->refs, 1);
    ck_assert_str_eq(held->data, "e0");
    http_msg_unref(held);
    /* Events that fell out of the ring are counted as skipped. */
    drain(&r, &pos, &skipped, got, sizeof got);
    ck_assert_str_eq(got, "e3|e4|e5|e6");
    ck_assert_uint_eq(skipped, 2);
    /* max_bytes: old messages go to make room; the newest is kept whatever its size. */
    http_ring_clear(&r);
    http_ring_init(&r, 8, 10);
    http_ring_push(&r, msg("aaaa", 0));
    http_ring_push(&r, msg("bbbb", 0));
    http_ring_push(&r, msg("cccc", 0));
    ck_assert_uint_le(r.bytes, 10);
    ck_assert_uint_eq(r.head - r.tail, 2);
    http_ring_push(&r, msg("a-message-longer-than-max", 0));
    ck_assert_uint_eq(r.head - r.tail, 1);
    http_ring_clear(&r);
    ck_assert_uint_eq(r.bytes, 0);
}
END_TEST

/* ---- sbuf and metrics ---- */

START_TEST(t_sbuf)
{
    sbuf b;
    sbuf_init(&b, 64);
    sbuf_printf(&b, "%s=%d;", "a", 1);
    sbuf_json_str(&b, "q\"\\\n");
    sbuf_put(&b, ";", 1);
    sbuf_label(&b, "x\"y\\z\n");
    size_t len;
    char *t = sbuf_take(&b, &len);
    ck_assert_str_eq(t, "a=1;q\\\"\\\\\\u000a;x\\\"y\\\\z\\n");
    ck_assert_uint_eq(len, strlen(t));
    free(t);
    sbuf_init(&b, 16);
    for (int i = 0; i < 10; i++)
        sbuf_printf(&b, "%d", 12345);
    ck_assert_int_eq(b.err, -E2BIG);
    ck_assert_ptr_null(sbuf_take(&b, NULL));
}
END_TEST

START_TEST(t_hist)
{
    http_hist h;
    static const double le[] = {0.01, 0.1, 1};
    http_hist_init(&h, le, 3);
    http_hist_observe(&h, 0.005);
    http_hist_observe(&h, 0.01); /* on a bound: in that bucket (le is <=) */
    http_hist_observe(&h, 0.5);
    http_hist_observe(&h, 7);
    ck_assert_uint_eq(h.count[0], 2);
    ck_assert_uint_eq(h.count[1], 0);
    ck_assert_uint_eq(h.count[2], 1);
    ck_assert_uint_eq(h.count[3], 1);
    ck_assert_uint_eq(h.total, 4);
    ck_assert(h.sum > 7.514 && h.sum < 7.516);
}
END_TEST

static fer_message result_msg(int nfaces, const int *labels)
{
    fer_message m;
    memset(&m, 0, sizeof m);
    m.kind = FER_MSG_RESULT;
    fer_frame_result *r = &m.u.result;
    r->nclasses = 3;
    snprintf(r->classes[0], sizeof r->classes[0], "happy");
    snprintf(r->classes[1], sizeof r->classes[1], "sad");
    snprintf(r->classes[2], sizeof r->classes[2], "we\"ird");
    r->nfaces = nfaces;
    for (int i = 0; i < nfaces; i++)
        r->faces[i].label = labels[i];
    r->total_ms = 12;
    r->mono_ns = 1000000000ull;
    m.ready_ns = 1030000000ull;
    return m;
}

START_TEST(t_metrics_text)
{
    static http_metrics m;
    http_metrics_init(&m);
    fer_message a = result_msg(3, (const int[]){0, 1, 0});
    fer_message b = result_msg(1, (const int[]){2});
    http_metrics_result(&m, &a, 1032000000ull);
    http_metrics_result(&m, &b, 1032000000ull);
    ck_assert_uint_eq(m.results, 2);
    ck_assert_int_eq(m.faces_now, 1);
    ck_assert_uint_eq(m.pipeline.total, 2);
    ck_assert_uint_eq(m.fanout.total, 2);
    m.requests_by_class[2] = 5;
    sbuf s;
    sbuf_init(&s, 1 << 20);
    http_metrics_write(&s, &m, NULL, 1);
    char *t = sbuf_take(&s, NULL);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE ferd_up gauge\nferd_up 0\n"));
    ck_assert_ptr_null(strstr(t, "ferd_frames_processed_total")); /* no STATUS */
    ck_assert_ptr_nonnull(strstr(t, "ferd_faces_observed_total{label=\"happy\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_faces_observed_total{label=\"sad\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_faces_observed_total{label=\"we\\\"ird\"} 1\n"));
    /* 12 ms pipeline: cumulative buckets from le 0.02 up. */
    ck_assert_ptr_nonnull(strstr(t, "ferd_pipeline_seconds_bucket{le=\"0.01\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_pipeline_seconds_bucket{le=\"0.02\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_pipeline_seconds_bucket{le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_pipeline_seconds_count 2\n"));
    /* 2 ms from ready to read: the fan-out histogram. */
    ck_assert_ptr_nonnull(strstr(t, "ferd_fanout_seconds_bucket{le=\"0.001\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_fanout_seconds_bucket{le=\"0.0025\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_http_responses_total{code=\"2xx\"} 5\n"));
    /* Every family has one HELP and one TYPE line. */
    int help = 0, type = 0;
    for (const char *p = t; (p = strstr(p, "# HELP ")); p++)
        help++;
    for (const char *p = t; (p = strstr(p, "# TYPE ")); p++)
        type++;
    ck_assert_int_eq(help, type);
    free(t);

    /* With a STATUS: ferd's counters and the current source state. */
    static fer_status_msg st;
    memset(&st, 0, sizeof st);
    snprintf(st.release, sizeof st.release, "0.1.0");
    snprintf(st.source.state, sizeof st.source.state, "streaming");
    snprintf(st.source.name, sizeof st.source.name, "/dev/video0");
    st.source.fps = -1;
    st.frames.processed = 42;
    st.latency.p50 = -1;
    sbuf_init(&s, 1 << 20);
    http_metrics_write(&s, &m, &st, 0);
    t = sbuf_take(&s, NULL);
    ck_assert_ptr_nonnull(strstr(t, "ferd_up 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_frames_processed_total 42\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_source_state{state=\"streaming\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "ferd_source_state{state=\"idle\"} 0\n"));
    ck_assert_ptr_null(strstr(t, "ferd_source_frames_per_second")); /* absent: unknown */
    ck_assert_ptr_null(strstr(t, "ferd_faces_observed_total")); /* no stream figures */
    free(t);
}
END_TEST

/* ---- config ---- */

START_TEST(t_config)
{
    http_config c;
    char errs[1024] = "";
    http_config_default(&c);
    ck_assert_str_eq(c.listen, "127.0.0.1:8090");
    ck_assert_int_eq(c.max_streams, 16);
    ck_assert(c.metrics_watch);
    const char *text = "# a comment\n"
                       "listen 0.0.0.0:9000\n"
                       "  auth_file \"/etc/ferd/http secret\"  \n"
                       "max_streams 4\r\n"
                       "page_view mjpeg\n"
                       "metrics_watch no\n"
                       "requests_per_second 2.5\n"
                       "\n";
    ck_assert_int_eq(http_config_parse(&c, text, strlen(text), "f.conf", errs, sizeof errs), 0);
    ck_assert_str_eq(c.listen, "0.0.0.0:9000");
    ck_assert_str_eq(c.auth_file, "/etc/ferd/http secret");
    ck_assert_int_eq(c.max_streams, 4);
    ck_assert_int_eq(c.page_view, HTTP_VIEW_MJPEG);
    ck_assert(!c.metrics_watch);
    ck_assert(c.requests_per_second == 2.5);
    const char *bad = "max_streams 0\nbogus 1\nlisten\npage_fps 1000\nmetrics_watch maybe\n"
                      "auth_file \"open\n";
    errs[0] = '\0';
    ck_assert_int_eq(http_config_parse(&c, bad, strlen(bad), "b.conf", errs, sizeof errs), -EINVAL);
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:1: max_streams"));
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:2: unknown key \"bogus\""));
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:3: listen: no value"));
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:4: page_fps"));
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:5: metrics_watch"));
    ck_assert_ptr_nonnull(strstr(errs, "b.conf:6: auth_file: unterminated"));
    ck_assert_int_eq(c.max_streams, 4); /* bad values change nothing */
    errs[0] = '\0';
    ck_assert_int_eq(http_config_set(&c, "log_level", "debug", errs, sizeof errs), 0);
    ck_assert_int_eq(http_config_set(&c, "log_level", "loud", errs, sizeof errs), -EINVAL);
    ck_assert_int_eq(http_config_set(&c, "nope", "1", errs, sizeof errs), -EINVAL);
    ck_assert_ptr_nonnull(strstr(errs, "unknown key \"nope\""));
}
END_TEST

/* The shipped conf/ferd-http.conf parses and matches the built-in defaults. */
START_TEST(t_config_shipped)
{
    const char *root = getenv("FER_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/conf/ferd-http.conf", root);
    http_config c, d;
    char errs[2048] = "";
    http_config_default(&c);
    http_config_default(&d);
    ck_assert_msg(http_config_load(&c, path, errs, sizeof errs) == 0, "%s", errs);
    ck_assert_msg(memcmp(&c, &d, sizeof c) == 0,
                  "conf/ferd-http.conf sets values other than the defaults");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("parts");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_listen_good);
    tcase_add_test(tc, t_listen_bad);
    tcase_add_test(tc, t_params_check);
    tcase_add_test(tc, t_params_values);
    tcase_add_test(tc, t_params_watch);
    tcase_add_test(tc, t_ratelimit_bucket);
    tcase_add_test(tc, t_ratelimit_keys);
    tcase_add_test(tc, t_ratelimit_table);
    tcase_add_test(tc, t_auth_load);
    tcase_add_test(tc, t_auth_check);
    tcase_add_test(tc, t_ring_viewers);
    tcase_add_test(tc, t_ring_limits);
    tcase_add_test(tc, t_sbuf);
    tcase_add_test(tc, t_hist);
    tcase_add_test(tc, t_metrics_text);
    tcase_add_test(tc, t_config);
    tcase_add_test(tc, t_config_shipped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
