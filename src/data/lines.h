/*
 * lines.h — private to src/data/: reading a text file line by line through zlib,
 * and the helpers the CSV readers share to report a bad row.
 *
 * Both FER2013 CSVs (fer2013.csv and the FER+ labels, fer2013new.csv) come plain
 * or gzip-compressed; gzread passes non-gzip data through, so one reader covers
 * both forms and nothing is ever unpacked to disk. Errors name the file and,
 * for rows, the line ("path:line: problem").
 */
#ifndef FER_DATA_LINES_H
#define FER_DATA_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "util/error.h"

/* A line reader. The unconsumed bytes are buf[start, end). */
typedef struct fer_lines {
    gzFile gz;
    const char *path;
    char *buf;
    size_t cap, start, end;
    int eof;
    long line;       /* number of the line last returned, 1-based */
    int want_crc;    /* set before the first read: keep crc over the text read */
    uint32_t crc;    /* CRC-32 of the (decompressed) text so far, if want_crc */
} fer_lines;

/* Opens path for reading (plain or gzip). On failure r is closed (fer_lines_close is
 * still safe) and -errno or -ENOMEM is returned with a message naming path. */
int fer_lines_open(fer_lines *r, const char *path, fer_error *err);
void fer_lines_close(fer_lines *r); /* accepts a zeroed or failed reader */

/* Returns 1 and the next line in (*s, *len) without its "\n" or "\r\n", 0 at the end
 * of the file, or a negative code (I/O, truncated or corrupt gzip, a line over 16 MiB).
 * The line stays valid until the next call. A last line without a newline counts. */
int fer_lines_next(fer_lines *r, char **s, size_t *len, fer_error *err);

/* Reads line 1 and checks it is `header` (case-insensitive, after a UTF-8 byte-order
 * mark, trailing blanks ignored). FER_E_INVAL naming path, the header and `what`
 * ("the FER2013 CSV") otherwise. */
int fer_lines_header(fer_lines *r, const char *header, const char *what, fer_error *err);

/* Records "path:line: problem" in err (which may be NULL) and returns FER_E_INVAL. */
int fer_row_fail(fer_error *err, const char *path, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies at most 40 bytes of s into out as printable text, for quoting in messages. */
const char *fer_quote(char out[48], const char *s, size_t len);

/* The split of a FER2013 Usage value s[0, len): Training, PublicTest or PrivateTest
 * (case-insensitive; not the folder aliases), or -1. */
int fer_usage_parse(const char *s, size_t len);

/* Narrows [*s, *e) by surrounding blanks and then one pair of double quotes. */
void fer_trim_field(const char **s, const char **e);

#endif
