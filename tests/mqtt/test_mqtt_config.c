/*
 * test_mqtt_config.c — ferd-mqtt's settings (mqtt/config.c): defaults, the
 * file parser (every bad line reported, the password never a setting nor
 * echoed), the broker URL, the derived instance and client id, the relations
 * between keys, and the password file (first line only, refusals, loose
 * permissions, no secret in messages).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util/log.h"

static int parse(fmq_config *c, const char *text, char *errs, size_t n)
{
    return fmq_config_parse(c, text, strlen(text), "test.conf", errs, n);
}

START_TEST(t_defaults)
{
    fmq_config c;
    fmq_config_default(&c);
    char errs[1024] = "";
    ck_assert_int_eq(fmq_config_finish(&c, "cam1.example.org", errs, sizeof errs), 0);
    ck_assert_str_eq(c.broker, "mqtt://localhost:1883");
    ck_assert_str_eq(c.host, "localhost");
    ck_assert_int_eq(c.port, 1883);
    ck_assert_int_eq(c.tls, 0);
    ck_assert_str_eq(c.topic_prefix, "ferd");
    ck_assert_str_eq(c.discovery_prefix, "homeassistant");
    ck_assert_int_eq(c.discovery, 1);
    ck_assert_int_eq(c.events, 1);
    ck_assert_int_eq(c.results, 0);
    /* The default socket is ferd.sock: the instance is the host name's
     * first label. */
    ck_assert_str_eq(c.instance, "cam1");
    ck_assert_str_eq(c.client_id, "ferd-mqtt-cam1");
    ck_assert_int_eq(c.log_level, FER_LOG_INFO);
}
END_TEST

START_TEST(t_parse_values)
{
    fmq_config c;
    fmq_config_default(&c);
    char errs[1024] = "";
    const char *text = "# a comment\n"
                       "\n"
                       "  broker   mqtts://broker.lan:8884  \n"
                       "username \"ha bridge\"\n"
                       "state_max_rate 0.5\n"
                       "results yes\n"
                       "queue_max_bytes 64kb\n"
                       "status_interval 0\n"
                       "log_level DEBUG\r\n"
                       "instance \"\"\n";
    ck_assert_int_eq(parse(&c, text, errs, sizeof errs), 0);
    ck_assert_str_eq(errs, "");
    ck_assert_str_eq(c.broker, "mqtts://broker.lan:8884");
    ck_assert_str_eq(c.username, "ha bridge");
    ck_assert(c.state_max_rate == 0.5);
    ck_assert_int_eq(c.results, 1);
    ck_assert_int_eq(c.queue_max_bytes, 65536);
    ck_assert(c.status_interval == 0);
    ck_assert_int_eq(c.log_level, FER_LOG_DEBUG);
    ck_assert_str_eq(c.instance, "");
}
END_TEST

START_TEST(t_parse_errors_all_reported)
{
    fmq_config c, before;
    fmq_config_default(&c);
    before = c;
    char errs[4096] = "";
    const char *text = "bogus 1\n"
                       "events_qos 3\n"
                       "results maybe\n"
                       "state_max_rate fast\n"
                       "keepalive\n"
                       "username \"unterminated\n"
                       "password hunter2\n"
                       "queue_max_bytes 1tb\n";
    ck_assert_int_eq(parse(&c, text, errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "test.conf:1: unknown key \"bogus\""), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:2: events_qos: 3 is outside 0..2"), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:3: results: expected yes or no"), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:4: state_max_rate: expected a number"), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:5: keepalive: missing value"), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:6: username: unterminated quoted value"), "%s", errs);
    ck_assert_msg(strstr(errs, "test.conf:7: password: a password is never a setting"), "%s",
                  errs);
    ck_assert_msg(strstr(errs, "test.conf:8: queue_max_bytes: expected a size"), "%s", errs);
    /* The refused line's value is never echoed: it may be the password. */
    ck_assert_msg(!strstr(errs, "hunter2"), "%s", errs);
    /* Bad values changed nothing. */
    ck_assert_int_eq(c.events_qos, before.events_qos);
    ck_assert_int_eq(c.results, before.results);
    ck_assert(c.state_max_rate == before.state_max_rate);
    ck_assert_int_eq(c.queue_max_bytes, before.queue_max_bytes);
}
END_TEST

START_TEST(t_parse_hostile_lines)
{
    fmq_config c;
    fmq_config_default(&c);
    char errs[1024] = "";
    /* A NUL inside a line, and a line longer than the parser's buffer. */
    char text[FMQ_PATH_MAX + 600];
    memcpy(text, "socket /x\0y\n", 12);
    size_t n = 12;
    memcpy(text + n, "broker ", 7);
    n += 7;
    memset(text + n, 'a', FMQ_PATH_MAX + 300);
    n += FMQ_PATH_MAX + 300;
    text[n++] = '\n';
    ck_assert_int_eq(fmq_config_parse(&c, text, n, "t", errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "t:1: NUL byte in line"), "%s", errs);
    ck_assert_msg(strstr(errs, "t:2: line longer than"), "%s", errs);
    /* A value longer than its field. */
    char line[400];
    snprintf(line, sizeof line, "instance %0200d\n", 7);
    errs[0] = '\0';
    ck_assert_int_eq(parse(&c, line, errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "instance: value longer than 63 bytes"), "%s", errs);
}
END_TEST

START_TEST(t_set)
{
    fmq_config c;
    fmq_config_default(&c);
    char errs[512] = "";
    ck_assert_int_eq(fmq_config_set(&c, "min_prob", "0.4", errs, sizeof errs), 0);
    ck_assert(c.min_prob == 0.4);
    ck_assert_int_eq(fmq_config_set(&c, "min_prob", "1.5", errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "min_prob: 1.5 is outside 0..1"), "%s", errs);
    errs[0] = '\0';
    ck_assert_int_eq(fmq_config_set(&c, "password", "s3cret", errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "password_file") && !strstr(errs, "s3cret"), "%s", errs);
    errs[0] = '\0';
    ck_assert_int_eq(fmq_config_set(&c, "nope", "1", errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "unknown key \"nope\""), "%s", errs);
}
END_TEST

static int url(const char *u, char *host, int *port, int *tls, char *why)
{
    return fmq_parse_broker_url(u, host, 256, port, tls, why, 300);
}

START_TEST(t_broker_url)
{
    char host[256], why[300];
    int port, tls;
    ck_assert_int_eq(url("mqtt://127.0.0.1:18830", host, &port, &tls, why), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 18830);
    ck_assert_int_eq(tls, 0);
    ck_assert_int_eq(url("mqtts://broker.lan", host, &port, &tls, why), 0);
    ck_assert_str_eq(host, "broker.lan");
    ck_assert_int_eq(port, 8883);
    ck_assert_int_eq(tls, 1);
    ck_assert_int_eq(url("mqtt://[::1]:1999/", host, &port, &tls, why), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 1999);
    ck_assert_int_eq(url("mqtt://h", host, &port, &tls, why), 0);
    ck_assert_int_eq(port, 1883);

    static const struct {
        const char *url, *why;
    } bad[] = {
        {"tcp://h:1883", "is not mqtt://"},
        {"h:1883", "is not mqtt://"},
        {"mqtt://", "no host"},
        {"mqtt://:1883", "no host"},
        {"mqtt://h:0", "port is not a number"},
        {"mqtt://h:65536", "port is not a number"},
        {"mqtt://h:12x", "port is not a number"},
        {"mqtt://h:1883/topic", "nothing may follow"},
        {"mqtt://[::1", "unterminated"},
        {"mqtt://user:pw@h", "credentials in the broker URL are refused"},
        {"mqtt://h h", "bad character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        ck_assert_msg(url(bad[i].url, host, &port, &tls, why) == -EINVAL, "%s", bad[i].url);
        ck_assert_msg(strstr(why, bad[i].why), "%s: %s", bad[i].url, why);
        /* The refusal never repeats a password. */
        ck_assert_msg(!strstr(why, "pw@"), "%s", why);
    }
}
END_TEST

START_TEST(t_instance)
{
    char out[FMQ_NAME_MAX];
    fmq_instance_default("/run/ferd/kitchen.sock", "host", out, sizeof out);
    ck_assert_str_eq(out, "kitchen");
    fmq_instance_default("/run/ferd/ferd.sock", "cam-2.lan", out, sizeof out);
    ck_assert_str_eq(out, "cam-2");
    fmq_instance_default(NULL, "my host!", out, sizeof out);
    ck_assert_str_eq(out, "my_host_");
    fmq_instance_default("/tmp/x/front door.sock", "h", out, sizeof out);
    ck_assert_str_eq(out, "front_door");
    fmq_instance_default(NULL, "", out, sizeof out);
    ck_assert_str_eq(out, "ferd");
    fmq_instance_default("/tmp/.sock", "h", out, sizeof out);
    ck_assert_str_eq(out, "h");
    ck_assert(fmq_instance_valid("a-b_C9"));
    ck_assert(!fmq_instance_valid(""));
    ck_assert(!fmq_instance_valid("a/b"));
    ck_assert(!fmq_instance_valid("a+b"));
    ck_assert(!fmq_instance_valid("a.b"));
}
END_TEST

START_TEST(t_topic_prefix)
{
    ck_assert(fmq_topic_prefix_valid("ferd"));
    ck_assert(fmq_topic_prefix_valid("site/a/ferd"));
    ck_assert(!fmq_topic_prefix_valid(""));
    ck_assert(!fmq_topic_prefix_valid("/ferd"));
    ck_assert(!fmq_topic_prefix_valid("ferd/"));
    ck_assert(!fmq_topic_prefix_valid("a//b"));
    ck_assert(!fmq_topic_prefix_valid("a/+/b"));
    ck_assert(!fmq_topic_prefix_valid("a/#"));
}
END_TEST

START_TEST(t_finish_relations)
{
    fmq_config c;
    fmq_config_default(&c);
    char errs[4096] = "";
    snprintf(c.ca_file, sizeof c.ca_file, "/etc/ca.pem");
    snprintf(c.cert_file, sizeof c.cert_file, "/etc/me.pem");
    snprintf(c.password_file, sizeof c.password_file, "/etc/pw");
    snprintf(c.instance, sizeof c.instance, "a.b");
    snprintf(c.topic_prefix, sizeof c.topic_prefix, "x/#");
    c.retry_initial_ms = 5000;
    c.retry_max_ms = 100;
    ck_assert_int_eq(fmq_config_finish(&c, "h", errs, sizeof errs), -EINVAL);
    ck_assert_msg(strstr(errs, "need an mqtts:// broker"), "%s", errs);
    ck_assert_msg(strstr(errs, "cert_file and key_file go together"), "%s", errs);
    ck_assert_msg(strstr(errs, "password_file needs a username"), "%s", errs);
    ck_assert_msg(strstr(errs, "instance: \"a.b\""), "%s", errs);
    ck_assert_msg(strstr(errs, "topic_prefix: \"x/#\""), "%s", errs);
    ck_assert_msg(strstr(errs, "retry_initial_ms is above retry_max_ms"), "%s", errs);

    fmq_config_default(&c);
    snprintf(c.broker, sizeof c.broker, "mqtts://b:1");
    snprintf(c.ca_file, sizeof c.ca_file, "/etc/ca.pem");
    snprintf(c.socket, sizeof c.socket, "/run/ferd/door.sock");
    errs[0] = '\0';
    ck_assert_int_eq(fmq_config_finish(&c, "h", errs, sizeof errs), 0);
    ck_assert_str_eq(c.instance, "door");
    ck_assert_int_eq(c.tls, 1);
    ck_assert_int_eq(c.port, 1);
}
END_TEST

/* ---- the password file ---- */

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text, size_t len, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

static void tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fmq-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

START_TEST(t_password_file)
{
    tmp_setup();
    char pw[FMQ_SECRET_MAX], why[600];
    int loose = -1;
    const char *p = write_tmp("pw", "s3cret\nsecond line\n", 19, 0600);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), 0);
    ck_assert_str_eq(pw, "s3cret");
    ck_assert_int_eq(loose, 0);

    p = write_tmp("crlf", "pa ss\r\n", 7, 0640);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), 0);
    ck_assert_str_eq(pw, "pa ss");
    ck_assert_int_eq(loose, 0);

    p = write_tmp("noeol", "abc", 3, 0644);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), 0);
    ck_assert_str_eq(pw, "abc");
    ck_assert_int_eq(loose, 1); /* readable by everyone: the caller warns */

    p = write_tmp("empty", "\nx\n", 3, 0600);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), -EINVAL);
    ck_assert_msg(strstr(why, "empty first line"), "%s", why);

    p = write_tmp("nul", "ab\0cd\n", 6, 0600);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), -EINVAL);
    ck_assert_msg(strstr(why, "NUL byte") && !strstr(why, "ab"), "%s", why);

    char big[FMQ_SECRET_MAX + 10];
    memset(big, 'x', sizeof big);
    p = write_tmp("big", big, sizeof big, 0600);
    ck_assert_int_eq(fmq_read_password(p, pw, sizeof pw, &loose, why, sizeof why), -EINVAL);
    ck_assert_msg(strstr(why, "longer than") && !strstr(why, "xxxx"), "%s", why);

    char path[600];
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    ck_assert_int_eq(fmq_read_password(path, pw, sizeof pw, &loose, why, sizeof why), -ENOENT);
    ck_assert_msg(strstr(why, "missing") && strstr(why, "No such file"), "%s", why);

    ck_assert_int_eq(fmq_read_password(tmpdir, pw, sizeof pw, &loose, why, sizeof why),
                     -EINVAL);
    ck_assert_msg(strstr(why, "not a regular file"), "%s", why);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(t_load_and_print_round_trip)
{
    tmp_setup();
    fmq_config a, b;
    fmq_config_default(&a);
    char errs[1024] = "";
    snprintf(a.username, sizeof a.username, " spaced ");
    snprintf(a.client_id, sizeof a.client_id, "id\"q");
    a.state_prob_delta = 0.125;
    a.queue_max_bytes = 12345;
    char path[600];
    snprintf(path, sizeof path, "%s/print.conf", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fmq_config_print(&a, f);
    fclose(f);
    fmq_config_default(&b);
    ck_assert_int_eq(fmq_config_load(&b, path, errs, sizeof errs), 0);
    ck_assert_str_eq(b.username, " spaced ");
    ck_assert_str_eq(b.client_id, "id\"q");
    ck_assert(b.state_prob_delta == 0.125);
    ck_assert_int_eq(b.queue_max_bytes, 12345);
    snprintf(path, sizeof path, "%s/absent.conf", tmpdir);
    ck_assert_int_lt(fmq_config_load(&b, path, errs, sizeof errs), 0);
    ck_assert_msg(strstr(errs, "absent.conf"), "%s", errs);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mqtt-config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, t_defaults);
    tcase_add_test(tc, t_parse_values);
    tcase_add_test(tc, t_parse_errors_all_reported);
    tcase_add_test(tc, t_parse_hostile_lines);
    tcase_add_test(tc, t_set);
    tcase_add_test(tc, t_broker_url);
    tcase_add_test(tc, t_instance);
    tcase_add_test(tc, t_topic_prefix);
    tcase_add_test(tc, t_finish_relations);
    tcase_add_test(tc, t_password_file);
    tcase_add_test(tc, t_load_and_print_round_trip);
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
