/*
 * sse_decode.c — a test tool: reads a Server-Sent Events stream (as curl
 * saves /api/events) on stdin, splits it into events as the SSE specification
 * says (lines ended by LF, CRLF or CR; "data", "event", "id", "retry" fields;
 * ':' comments; a blank line dispatches), and decodes every unnamed event's
 * data with the project's own protocol decoder (fer_message_parse, the one
 * libferclient uses). It prints one JSON line per event:
 *
 *   {"event":"message","class":"RESULT","kind":4,"seq":12,"faces":1,
 *    "labels":["sad"],"image":"jpeg","image_bytes":31245,"jpeg_ok":true}
 *   {"event":"gateway","data":"{\"ferd\":\"connected\"}"}
 *   {"event":"message","error":"RESULT: ..."}
 *
 * and exits 1 if any message failed to decode, 0 otherwise. --count N stops
 * after N decoded messages. jpeg_ok says the attached picture's bytes start
 * with a JPEG SOI marker and end with EOI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferclient.h"

static int bad;
static long decoded;

/* Prints s as a JSON string. */
static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void dispatch(const char *event, const char *data, size_t len)
{
    if (event[0] && strcmp(event, "message") != 0) {
        printf("{\"event\":");
        json_str(event, strlen(event));
        printf(",\"data\":");
        json_str(data, len);
        printf("}\n");
        return;
    }
    fer_message m;
    memset(&m, 0, sizeof m);
    fer_error err = {0};
    int rc = fer_message_parse(&m, data, len, &err);
    if (rc < 0) {
        bad = 1;
        printf("{\"event\":\"message\",\"error\":");
        json_str(err.msg, strlen(err.msg));
        printf("}\n");
        fer_message_clear(&m);
        return;
    }
    decoded++;
    printf("{\"event\":\"message\",\"class\":");
    json_str(m.cls, strlen(m.cls));
    printf(",\"kind\":%d", (int)m.kind);
    if (m.kind == FER_MSG_RESULT) {
        const fer_frame_result *r = &m.u.result;
        printf(",\"seq\":%llu,\"faces\":%d,\"labels\":[", (unsigned long long)r->seq, r->nfaces);
        for (int i = 0; i < r->nfaces; i++) {
            int l = r->faces[i].label;
            const char *name = l >= 0 && l < r->nclasses ? r->classes[l] : "?";
            printf("%s", i ? "," : "");
            json_str(name, strlen(name));
        }
        printf("],\"has_scores\":%s", r->has_scores ? "true" : "false");
        if (m.image.kind != FER_IMAGE_NONE) {
            int ok = m.image.len > 4 && m.image.jpeg[0] == 0xFF && m.image.jpeg[1] == 0xD8 &&
                     m.image.jpeg[m.image.len - 2] == 0xFF && m.image.jpeg[m.image.len - 1] == 0xD9;
            printf(",\"image\":\"%s\",\"image_bytes\":%zu,\"jpeg_ok\":%s",
                   fer_image_kind_name(m.image.kind), m.image.len, ok ? "true" : "false");
        }
    } else if (m.kind == FER_MSG_FACE) {
        printf(",\"event_kind\":\"%s\",\"id\":%d", fer_face_event_name(m.u.face.event),
               m.u.face.id);
    } else if (m.kind == FER_MSG_WATCH) {
        printf(",\"max_fps\":%g,\"events\":%s,\"scores\":%s,\"image_kind\":\"%s\"",
               m.u.watch.max_fps, m.u.watch.events ? "true" : "false",
               m.u.watch.scores ? "true" : "false", fer_image_kind_name(m.u.watch.image));
    }
    printf("}\n");
    fer_message_clear(&m);
}

int main(int argc, char **argv)
{
    long count = argc == 3 && strcmp(argv[1], "--count") == 0 ? atol(argv[2]) : -1;
    size_t cap = 1 << 16, dlen = 0, llen = 0;
    char *data = malloc(cap), *line = malloc(cap);
    size_t lcap = cap;
    char event[64] = "";
    int c, prev_cr = 0;
    if (!data || !line)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        c = getchar();
        if (c == '\n' && prev_cr) { /* the LF of a CRLF */
            prev_cr = 0;
            continue;
        }
        prev_cr = c == '\r';
        if (c != EOF && c != '\n' && c != '\r') {
            if (llen + 1 >= lcap) {
                lcap *= 2;
                char *l = realloc(line, lcap);
                if (!l)
                    return 2;
                line = l;
            }
            line[llen++] = (char)c;
            continue;
        }
        if (c == EOF && llen == 0)
            break;
        line[llen] = '\0';
        if (llen == 0) { /* a blank line: dispatch */
            if (dlen > 0) {
                dlen--; /* the last data line's newline */
                dispatch(event, data, dlen);
                if (count > 0 && decoded >= count)
                    break;
            }
            dlen = 0;
            event[0] = '\0';
        } else if (line[0] != ':') {
            char *colon = strchr(line, ':');
            char *value = colon ? colon + 1 : line + llen;
            if (colon)
                *colon = '\0';
            if (*value == ' ')
                value++;
            size_t vl = strlen(value);
            if (strcmp(line, "data") == 0) {
                if (dlen + vl + 2 > cap) {
                    while (dlen + vl + 2 > cap)
                        cap *= 2;
                    char *d = realloc(data, cap);
                    if (!d)
                        return 2;
                    data = d;
                }
                memcpy(data + dlen, value, vl);
                dlen += vl;
                data[dlen++] = '\n';
            } else if (strcmp(line, "event") == 0) {
                snprintf(event, sizeof event, "%s", value);
            }
        }
        llen = 0;
        if (c == EOF)
            break;
    }
    free(data);
    free(line);
    return bad ? 1 : 0;
}
