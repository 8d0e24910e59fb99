/*
 * analyze_out.c — see analyze_out.h.
 *
 * Records go into a 64 KiB buffer written out with write(2) when full, so a
 * long video costs one system call per few hundred records and the file's
 * descriptor stays ours (fer_atomic_commit syncs and renames it). A write
 * error — a full disk — is reported with the path and stops the run; the
 * temporary is then removed and nothing appears at the path.
 */
#include "analyze_out.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/result_json.h"
#include "util/fileio.h"

#define BUF_SIZE 65536

struct analyze_out {
    analyze_format fmt;
    int scores, with_path;
    int to_stdout;
    fer_atomic_file file;
    int fd;
    char path[4096];
    char *buf;
    size_t len;
    long long records;
};

int analyze_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return -1;
    if (strcasecmp(dot, ".csv") == 0)
        return ANALYZE_CSV;
    if (strcasecmp(dot, ".json") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
        strcasecmp(dot, ".ndjson") == 0)
        return ANALYZE_JSON;
    return -1;
}

static int write_all(analyze_out *o, const char *p, size_t n, fer_error *err)
{
    while (n) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            return fer_fail(err, -e, "%s: cannot write: %s", o->path, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_buf(analyze_out *o, fer_error *err)
{
    int rc = write_all(o, o->buf, o->len, err);
    o->len = 0;
    return rc;
}

static int put(analyze_out *o, const char *s, size_t n, fer_error *err)
{
    if (o->len + n > BUF_SIZE) {
        int rc = flush_buf(o, err);
        if (rc < 0)
            return rc;
        if (n > BUF_SIZE)
            return write_all(o, s, n, err);
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static int puts_(analyze_out *o, const char *s, fer_error *err)
{
    return put(o, s, strlen(s), err);
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static int put_field(analyze_out *o, const char *s, fer_error *err)
{
    if (!strpbrk(s, ",\"\r\n"))
        return puts_(o, s, err);
    int rc = put(o, "\"", 1, err);
    for (const char *p = s; rc == 0 && *p; p++)
        rc = *p == '"' ? put(o, "\"\"", 2, err) : put(o, p, 1, err);
    return rc == 0 ? put(o, "\"", 1, err) : rc;
}

int analyze_out_open(analyze_out **out, const char *path, analyze_format fmt, int scores,
                     int with_path, char (*classes)[FER_RESULT_CLASS_NAME], int k,
                     fer_error *err)
{
    *out = NULL;
    analyze_out *o = calloc(1, sizeof *o);
    char *buf = malloc(BUF_SIZE);
    if (!o || !buf) {
        free(o);
        free(buf);
        return fer_fail(err, -ENOMEM, "out of memory");
    }
    o->buf = buf;
    o->fmt = fmt;
    o->scores = scores;
    o->with_path = with_path;
    o->file.fd = -1;
    o->file.tmp[0] = '\0';
    if (strcmp(path, "-") == 0) {
        o->to_stdout = 1;
        o->fd = STDOUT_FILENO;
        snprintf(o->path, sizeof o->path, "standard output");
    } else {
        snprintf(o->path, sizeof o->path, "%s", path);
        int rc = fer_atomic_open(&o->file, path, NULL, err);
        if (rc < 0) {
            free(o->buf);
            free(o);
            return rc;
        }
        o->fd = o->file.fd;
    }
    int rc = 0;
    if (fmt == ANALYZE_CSV) {
        rc = puts_(o, with_path ? "frame,time,path," : "frame,time,", err);
        if (rc == 0)
            rc = puts_(o, "id,x,y,w,h,label,prob,smoothed_label,smoothed_prob,new,changed_from",
                       err);
        for (int c = 0; rc == 0 && scores && c < k; c++) {
            rc = put(o, ",", 1, err);
            if (rc == 0)
                rc = put_field(o, classes[c], err);
        }
        if (rc == 0)
            rc = put(o, "\n", 1, err);
    }
    if (rc < 0) {
        analyze_out_close(o, 0, NULL);
        return rc;
    }
    *out = o;
    return 0;
}

static const char *name_of(const fer_frame_result *r, int c)
{
    return c >= 0 && c < r->nclasses ? r->classes[c] : "";
}

static int csv_face(analyze_out *o, const fer_frame_result *r, const fer_face_result *f,
                    const analyze_frame_info *fi, fer_error *err)
{
    char num[96];
    snprintf(num, sizeof num, "%lld,", fi->index);
    int rc = puts_(o, num, err);
    if (rc == 0 && fi->time_s >= 0) {
        snprintf(num, sizeof num, "%.3f", fi->time_s);
        rc = puts_(o, num, err);
    }
    if (rc == 0)
        rc = put(o, ",", 1, err);
    if (rc == 0 && o->with_path) {
        rc = put_field(o, fi->path ? fi->path : "", err);
        if (rc == 0)
            rc = put(o, ",", 1, err);
    }
    if (rc == 0) {
        snprintf(num, sizeof num, "%d,%d,%d,%d,%d,", f->id, f->box.x, f->box.y, f->box.w,
                 f->box.h);
        rc = puts_(o, num, err);
    }
    if (rc == 0)
        rc = put_field(o, name_of(r, f->label), err);
    if (rc == 0) {
        snprintf(num, sizeof num, ",%.4f,", (double)f->prob);
        rc = puts_(o, num, err);
    }
    if (rc == 0)
        rc = put_field(o, name_of(r, f->smoothed_label), err);
    if (rc == 0) {
        snprintf(num, sizeof num, ",%.4f,%d,", (double)f->smoothed_prob,
                 (f->events & FER_FACE_NEW) ? 1 : 0);
        rc = puts_(o, num, err);
    }
    if (rc == 0 && (f->events & FER_FACE_LABEL_CHANGED))
        rc = put_field(o, name_of(r, f->previous_label), err);
    for (int c = 0; rc == 0 && o->scores && c < r->nclasses; c++) {
        snprintf(num, sizeof num, ",%.4f", (double)f->scores[c]);
        rc = puts_(o, num, err);
    }
    return rc == 0 ? put(o, "\n", 1, err) : rc;
}

static int json_face(analyze_out *o, const fer_frame_result *r, const fer_face_result *f,
                     const analyze_frame_info *fi, fer_error *err)
{
    cJSON *rec = cJSON_CreateObject();
    int ok = rec && cJSON_AddNumberToObject(rec, "frame", (double)fi->index);
    if (ok && fi->time_s >= 0)
        ok = cJSON_AddNumberToObject(rec, "time", (double)(long long)(fi->time_s * 1000 + 0.5) /
                                                      1000.0) != NULL;
    if (ok && o->with_path && fi->path)
        ok = cJSON_AddStringToObject(rec, "path", fi->path) != NULL;
    ok = ok && fer_face_add_to_cjson(rec, r, f, o->scores ? 0 : FER_JSON_NO_SCORES) == 0;
    char *line = ok ? cJSON_PrintUnformatted(rec) : NULL;
    cJSON_Delete(rec);
    if (!line)
        return fer_fail(err, -ENOMEM, "out of memory encoding a record");
    int rc = puts_(o, line, err);
    free(line);
    return rc == 0 ? put(o, "\n", 1, err) : rc;
}

int analyze_out_frame(analyze_out *o, const fer_frame_result *r, const analyze_frame_info *fi,
                      fer_error *err)
{
    for (int i = 0; i < r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        int rc = o->fmt == ANALYZE_CSV ? csv_face(o, r, &r->faces[i], fi, err)
                                       : json_face(o, r, &r->faces[i], fi, err);
        if (rc < 0)
            return rc;
        o->records++;
    }
    /* On a terminal or a pipe a reader follows along; a file is written in blocks. */
    return o->to_stdout ? flush_buf(o, err) : 0;
}

long long analyze_out_records(const analyze_out *o)
{
    return o->records;
}

int analyze_out_close(analyze_out *o, int commit, fer_error *err)
{
    if (!o)
        return 0;
    int rc = commit ? flush_buf(o, err) : 0;
    if (!o->to_stdout) {
        if (commit && rc == 0)
            rc = fer_atomic_commit(&o->file, err);
        else
            fer_atomic_abort(&o->file);
    }
    free(o->buf);
    free(o);
    return rc;
}
