/*
 * conf.h — the settings files of ferd's programs (ferd.conf, ferd-mqtt.conf,
 * ferd-http.conf): one syntax, one parser, one printer, driven by each
 * program's table of keys.
 *
 * The syntax, as redis.conf: one "key value" per line; blank lines and lines
 * starting with '#' are skipped; blanks around the value are trimmed; a value
 * may be written in double quotes (an empty string is ""); a non-string key
 * needs a value, and so does a string key where the table says so. Every problem is reported, not just the first, each as
 * "ORIGIN:LINE: key: why" on a line of its own, and a refused value leaves its
 * setting as it was. The parser is a pure function over the text (it copies
 * each line into a bounded buffer before cutting it), so each program fuzzes or
 * unit-tests its table through it.
 *
 * A table describes a settings struct: each key's type, its offset and size in
 * the struct, its range, and whether a reload applies it while running (for
 * programs that reload; the others leave it 0).
 */
#ifndef FER_UTIL_CONF_H
#define FER_UTIL_CONF_H

#include <stddef.h>
#include <stdio.h>

typedef enum fer_conf_type {
    FER_CONF_STR,     /* char[size], NUL-terminated */
    FER_CONF_INT,     /* int in [lo, hi] */
    FER_CONF_DBL,     /* finite double in [lo, hi] */
    FER_CONF_BOOL,    /* int 0/1: yes/no, true/false, on/off, 1/0 */
    FER_CONF_SIZE,    /* long long bytes in [lo, hi]: 4096, 64kb, 1mb, 2g */
    FER_CONF_MODE,    /* int, an octal file mode such as 0660 */
    FER_CONF_LEVEL,   /* int, a log level by name (util/log.h) */
    FER_CONF_ENUM,    /* int, the index of the value's name in names */
} fer_conf_type;

typedef struct fer_conf_key {
    const char *name;
    fer_conf_type type;
    size_t off;                /* offset of the field in the settings struct */
    size_t size;               /* FER_CONF_STR: the buffer's size */
    double lo, hi;             /* numeric range */
    int live;                  /* 1: a reload applies it while running */
    const char *const *names;  /* FER_CONF_ENUM: the values' names, NULL-terminated */
} fer_conf_key;

typedef struct fer_conf_table {
    const fer_conf_key *keys;
    size_t nkeys;
    size_t line_max;           /* longest line accepted, in bytes (without the newline) */
    /* NULL, or the reason a key is refused outright (its value is never echoed:
     * it may be a secret someone put in the wrong place). */
    const char *(*refused)(const char *key);
    /* 1: a string key with nothing after it is an error too (an empty string is
     * written ""); 0: it sets the string empty. */
    int empty_needs_quotes;
} fer_conf_table;

/* The key of that name, or NULL. */
const fer_conf_key *fer_conf_find(const fer_conf_table *t, const char *name);

/* Sets one key of cfg from text (a command-line --set), as a file line would.
 * 0, or -EINVAL with "key: why" appended to errs (n bytes). */
int fer_conf_set(const fer_conf_table *t, void *cfg, const char *key, const char *value,
                 char *errs, size_t n);

/* Parses text (len bytes, need not be NUL-terminated) over cfg, which holds
 * the defaults or an earlier file's values; origin names the file in messages.
 * 0, or -EINVAL with one line per problem in errs (cleared first, truncated to
 * n bytes); the good lines still apply. Pure. */
int fer_conf_parse(const fer_conf_table *t, void *cfg, const char *text, size_t len,
                   const char *origin, char *errs, size_t n);

/* Reads path (a regular file of at most 1 MiB) and parses it. -ENOENT, -EACCES,
 * -EINVAL, ... with a message in errs, or what fer_conf_parse returns. */
int fer_conf_load(const fer_conf_table *t, void *cfg, const char *path, char *errs, size_t n);

/* Every key with its value, one "key value" line each, quoted where a value
 * would not read back as itself; what --check-config prints. */
void fer_conf_print(const fer_conf_table *t, const void *cfg, FILE *f);
/* The same with credentials in URLs shown as *** (util/redact.h) and a
 * comment saying so: for showing, not for reading back. */
void fer_conf_print_masked(const fer_conf_table *t, const void *cfg, FILE *f);

/* Names the keys that differ between a and b and are not live (at most max,
 * each < 32 bytes); returns how many. */
int fer_conf_restart_keys(const fer_conf_table *t, const void *a, const void *b,
                          char (*names)[32], int max);

/* Copies the live keys from src into dst; the others keep dst's values. */
void fer_conf_apply_live(const fer_conf_table *t, void *dst, const void *src);

/* Appends one formatted line to errs (n bytes, kept NUL-terminated, silently
 * truncated): for the checks between keys each program makes after parsing. */
void fer_conf_error(char *errs, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
