/*
 * config.h — ferd-mqtt's settings: built-in defaults, the redis.conf-style
 * file (conf/ferd-mqtt.conf documents every key), the broker URL, the
 * instance name, and the password file.
 *
 * The file is "key value" lines as ferd's own: '#' starts a comment line, a
 * value may be written in double quotes ("" is the empty string), and every
 * bad line is reported, not just the first, as "FILE:LINE: message".
 * Command-line settings (--socket, --broker, --set KEY=VALUE) go through the
 * same table, so they are checked the same way.
 *
 * No password is ever a setting: `password_file` names a file that holds it,
 * so it is never on a command line (visible in ps) or in a file that is
 * printed by --check-config.
 */
#ifndef FMQ_CONFIG_H
#define FMQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define FMQ_PATH_MAX 4096
#define FMQ_SOCKET_MAX 108   /* sizeof sun_path */
#define FMQ_NAME_MAX 64      /* instance names */
#define FMQ_TOPIC_MAX 256    /* topic prefixes */
#define FMQ_SECRET_MAX 1024  /* a password read from password_file */

typedef struct fmq_config {
    /* ferd. */
    char socket[FMQ_SOCKET_MAX];      /* "" = $FERD_SOCKET or /run/ferd/ferd.sock */
    int ferd_max_fps;                 /* RESULTs asked of ferd per second; 0 every frame */
    /* The broker. */
    char broker[1024];                /* mqtt://host[:port] or mqtts://host[:port] */
    char client_id[128];              /* "" = ferd-mqtt-<instance> */
    char username[256];
    char password_file[FMQ_PATH_MAX];
    char ca_file[FMQ_PATH_MAX];       /* TLS: the CA that signed the broker's certificate */
    char ca_path[FMQ_PATH_MAX];       /* TLS: a directory of CA certificates (c_rehash) */
    char cert_file[FMQ_PATH_MAX];     /* TLS client certificate ... */
    char key_file[FMQ_PATH_MAX];      /* ... and its key */
    int keepalive;                    /* seconds */
    /* Topics. */
    char topic_prefix[FMQ_TOPIC_MAX]; /* "ferd": topics are <prefix>/<instance>/... */
    char instance[FMQ_NAME_MAX];      /* "" = the ferd@ instance name or the host name */
    /* What is published. */
    int events;                       /* FACE events on .../events */
    int events_qos;
    double min_prob;                  /* events whose probability is below this are not told */
    int state_qos;
    int state_retain;
    double state_max_rate;            /* state messages per second, at most */
    double state_prob_delta;          /* a probability moving this much is a change */
    double state_stall_seconds;       /* no frame this long: "no faces, stalled"; 0 never */
    int results;                      /* every RESULT on .../results (off by default) */
    int results_qos;
    double results_max_rate;          /* RESULTs per second, at most; 0 = every one */
    double status_interval;           /* seconds between STATUS messages; 0 = never */
    int status_qos;
    int status_retain;
    int discovery;                    /* Home Assistant MQTT discovery */
    char discovery_prefix[FMQ_TOPIC_MAX];
    /* Limits. */
    int queue_max_messages;           /* messages waiting for the broker */
    long long queue_max_bytes;        /* ... and their bytes (topics + payloads) */
    int max_inflight;                 /* QoS 1/2 messages handed to the broker, not yet acknowledged */
    int retry_initial_ms, retry_max_ms; /* reconnection back-off, both sides */
    int log_level;                    /* FER_LOG_* */

    /* Derived by fmq_config_finish (not settings). */
    char host[256];                   /* the broker's host, without brackets */
    int port;
    int tls;                          /* mqtts:// */
} fmq_config;

void fmq_config_default(fmq_config *c);

/* Sets one key from text, checking type and range. -EINVAL with "key: why"
 * appended to errs (n bytes) for an unknown key or a bad value. */
int fmq_config_set(fmq_config *c, const char *key, const char *value, char *errs, size_t n);

/* Parses a whole file's text (pure: no I/O); origin names it in messages.
 * Every bad line is appended to errs; -EINVAL if there was one. */
int fmq_config_parse(fmq_config *c, const char *text, size_t len, const char *origin, char *errs,
                     size_t n);

/* Reads and parses path (a regular file of at most 1 MiB). -errno or -EINVAL. */
int fmq_config_load(fmq_config *c, const char *path, char *errs, size_t n);

/*
 * After all settings are in: parses the broker URL into host/port/tls, derives
 * the instance (from the socket name, else hostname) and the client id, and
 * checks the relations between keys (TLS files need mqtts://, a client
 * certificate needs its key, a password file needs a user name, retry bounds).
 * Every problem is appended to errs; -EINVAL if any.
 */
int fmq_config_finish(fmq_config *c, const char *hostname, char *errs, size_t n);

/* The effective settings, one "key value" line each (--check-config). */
void fmq_config_print(const fmq_config *c, FILE *f);

/*
 * Parses mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883); HOST may be
 * a name, an IPv4 address or a bracketed IPv6 address. Credentials in the URL
 * (user:pass@) are refused: they belong in username and password_file.
 * 0, or -EINVAL with the reason in why.
 */
int fmq_parse_broker_url(const char *url, char *host, size_t hostn, int *port, int *tls,
                         char *why, size_t whyn);

/*
 * The default instance name: NAME for a socket NAME.sock other than
 * ferd.sock (ferd@NAME listens on /run/ferd/NAME.sock), else the host name
 * up to its first dot. Characters other than letters, digits, '_' and '-'
 * become '_' (the name is a topic level and a Home Assistant node id).
 */
void fmq_instance_default(const char *socket_path, const char *hostname, char *out, size_t n);

/* 1 if s is a valid instance name: 1..63 of [A-Za-z0-9_-]. */
int fmq_instance_valid(const char *s);

/* 1 if s can prefix a topic we publish: not empty, no '+' '#', no empty
 * level, no leading or trailing '/', at most FMQ_TOPIC_MAX - 1 bytes. */
int fmq_topic_prefix_valid(const char *s);

/*
 * Reads the password from path: the first line, without its line end; a file
 * of more than FMQ_SECRET_MAX - 1 bytes on that line, an empty password or a
 * NUL byte is refused. *loose is set to 1 when the file is readable or writable
 * by others than its owner and group (the caller warns). The password never
 * appears in why. 0 or -errno / -EINVAL.
 */
int fmq_read_password(const char *path, char *out, size_t n, int *loose, char *why, size_t whyn);

#endif
