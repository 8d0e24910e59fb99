/*
 * analyze_out.h — the records `fer analyze` writes: one per face per frame, as
 * JSON lines or CSV, to stdout or to a file that appears only when complete.
 *
 * JSON: {"frame":12,"time":0.8,"path":...,"id":1,"box":{...},"label":"sad",
 * "prob":0.4612,"scores":{...},"smoothed":{"label":"sad","prob":0.45},"new":true,
 * "changed_from":"angry"} — the face members are the RESULT schema's Face
 * (docs/RESULT_SCHEMA.md); "time" is absent when unknown, "path" present for
 * images only.
 * CSV: a header row, then frame,time,[path,]id,x,y,w,h,label,prob,
 * smoothed_label,smoothed_prob,new,changed_from and one column per class in
 * the model's order (named after the class), fields quoted as RFC 4180 says.
 */
#ifndef FER_ANALYZE_OUT_H
#define FER_ANALYZE_OUT_H

#include "analyze_input.h"
#include "types/result.h"
#include "util/error.h"

typedef enum analyze_format { ANALYZE_JSON, ANALYZE_CSV } analyze_format;

typedef struct analyze_out analyze_out;

/*
 * Opens path ("-" = stdout; else a temporary beside path, renamed over it by a
 * committing close). classes[0 .. k) name the CSV columns. scores 0 leaves the
 * class scores out; with_path adds the image path. Errors name the path.
 */
int analyze_out_open(analyze_out **out, const char *path, analyze_format fmt, int scores,
                     int with_path, char (*classes)[FER_RESULT_CLASS_NAME], int k,
                     fer_error *err);

/* Writes r's faces. -ENOMEM, or -errno of a failed write (naming the path). */
int analyze_out_frame(analyze_out *o, const fer_frame_result *r, const analyze_frame_info *fi,
                      fer_error *err);

/* Records written so far. */
long long analyze_out_records(const analyze_out *o);

/* Flushes and, if commit, makes the file appear at its path; else removes the
 * temporary. Frees o (NULL accepted). */
int analyze_out_close(analyze_out *o, int commit, fer_error *err);

/* The format a file name asks for: .csv is CSV, .json/.jsonl/.ndjson JSON lines;
 * -1 for any other name. */
int analyze_format_of(const char *path);

#endif
