/*
 * ferctl_format.c — the text ferctl prints for people (its --json output is
 * the daemon's own lines and never passes through here).
 *
 * Design. Columns are fixed-width so a stream of lines reads as a table
 * without redrawing the terminal; times are local wall-clock (what a person
 * compares with their clock), while the JSON keeps UTC. Probabilities print
 * as 0.00..1.00, matching the JSON, so what one reads on the terminal can be
 * found in a log. Absent facts (negative or zero in the decoded structs) are
 * left out, never printed as zero.
 */
#include "ferctl_format.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

void ferctl_format_clock(int64_t wall_ms, char *buf, size_t n)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (wall_ms < 0 || !localtime_r(&t, &tm)) {
        snprintf(buf, n, "--:--:--.---");
        return;
    }
    snprintf(buf, n, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(wall_ms % 1000));
}

static const char *class_name(const fer_frame_result *r, int i)
{
    return i >= 0 && i < r->nclasses ? r->classes[i] : "?";
}

const char *ferctl_face_label(const fer_frame_result *r, const fer_face_result *f, float *prob)
{
    if (f->smoothed_label >= 0 && f->smoothed_label < r->nclasses) {
        *prob = f->smoothed_prob;
        return r->classes[f->smoothed_label];
    }
    *prob = f->prob;
    return class_name(r, f->label);
}

void ferctl_print_result(FILE *f, const fer_frame_result *r, int *last_nfaces)
{
    char clock[24];
    ferctl_format_clock(r->wall_ms, clock, sizeof clock);
    if (r->nfaces == 0) {
        if (*last_nfaces != 0)
            fprintf(f, "%s  frame %-6" PRIu64 "  no face\n", clock, r->seq);
        *last_nfaces = 0;
        return;
    }
    for (int i = 0; i < r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        const fer_face_result *fc = &r->faces[i];
        float prob;
        const char *label = ferctl_face_label(r, fc, &prob);
        fprintf(f, "%s  frame %-6" PRIu64 "  face %-3d  %-9s %.2f  at %d,%d %dx%d", clock,
                r->seq, fc->id, label, (double)prob, fc->box.x, fc->box.y, fc->box.w, fc->box.h);
        if (fc->events & FER_FACE_NEW)
            fprintf(f, "  new");
        if ((fc->events & FER_FACE_LABEL_CHANGED) && fc->previous_label >= 0)
            fprintf(f, "  (was %s)", class_name(r, fc->previous_label));
        fputc('\n', f);
    }
    *last_nfaces = r->nfaces;
}

void ferctl_print_face_event(FILE *f, const fer_face_event *ev)
{
    char clock[24];
    ferctl_format_clock(ev->wall_ms, clock, sizeof clock);
    /* A track already there when the watch began is "present", not "appeared". */
    fprintf(f, "%s  frame %-6" PRIu64 "  face %-3d  %-8s", clock, ev->seq, ev->id,
            ev->event == FER_EVENT_APPEARED && ev->initial ? "present"
                                                           : fer_face_event_name(ev->event));
    if (ev->event != FER_EVENT_ENDED) {
        fprintf(f, "  %-9s %.2f  at %d,%d %dx%d", ev->label, (double)ev->prob, ev->box.x,
                ev->box.y, ev->box.w, ev->box.h);
        if (ev->event == FER_EVENT_CHANGED && ev->from[0])
            fprintf(f, "  (was %s)", ev->from);
    }
    fputc('\n', f);
}

void ferctl_print_snapshot(FILE *f, const fer_frame_result *r)
{
    char clock[24];
    ferctl_format_clock(r->wall_ms, clock, sizeof clock);
    fprintf(f, "frame %" PRIu64 " at %s, %dx%d, %d face%s, %.1f ms\n", r->seq, clock, r->width,
            r->height, r->nfaces, r->nfaces == 1 ? "" : "s", r->total_ms);
    for (int i = 0; i < r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        const fer_face_result *fc = &r->faces[i];
        /* Led by the figure the annotated picture draws (the smoothed one when the
         * track has one), each figure saying which it is, so text and picture agree. */
        float prob;
        const char *label = ferctl_face_label(r, fc, &prob);
        int smoothed = fc->smoothed_label >= 0 && fc->smoothed_label < r->nclasses;
        fprintf(f, "  face %-3d  %-9s %.2f %-8s  at %d,%d %dx%d", fc->id, label, (double)prob,
                smoothed ? "smoothed" : "raw", fc->box.x, fc->box.y, fc->box.w, fc->box.h);
        if (smoothed)
            fprintf(f, "  this frame %s %.2f", class_name(r, fc->label), (double)fc->prob);
        fputc('\n', f);
        if (r->has_scores) {
            fprintf(f, "           ");
            for (int c = 0; c < r->nclasses; c++)
                fprintf(f, " %s %.2f", r->classes[c], (double)fc->scores[c]);
            fputc('\n', f);
        }
    }
}

/* "1d 02:03:04" or "02:03:04" for seconds. */
static void format_uptime(double s, char *buf, size_t n)
{
    long long t = (long long)s;
    long long d = t / 86400;
    int h = (int)(t / 3600 % 24), m = (int)(t / 60 % 60), sec = (int)(t % 60);
    if (d > 0)
        snprintf(buf, n, "%lldd %02d:%02d:%02d", d, h, m, sec);
    else
        snprintf(buf, n, "%02d:%02d:%02d", h, m, sec);
}

/* A byte count with a binary unit. */
static void format_bytes(unsigned long long b, char *buf, size_t n)
{
    if (b >= 1024ull * 1024)
        snprintf(buf, n, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    else if (b >= 1024)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, n, "%llu B", b);
}

void ferctl_print_status(FILE *f, const fer_status_msg *s)
{
    char up[32];
    format_uptime(s->uptime, up, sizeof up);
    fprintf(f, "ferd %s", s->release[0] ? s->release : "(release unknown)");
    if (s->pid >= 0)
        fprintf(f, ", pid %lld", s->pid);
    fprintf(f, ", up %s\n", up);

    fprintf(f, "source   %s", s->source.name[0] ? s->source.name : "?");
    if (s->source.kind[0])
        fprintf(f, " (%s)", s->source.kind);
    fprintf(f, ": %s", s->source.state);
    if (!strcmp(s->source.state, "reconnecting") || !strcmp(s->source.state, "error"))
        fprintf(f, " (waiting for it; ferd retries with back-off)");
    if (s->source.fps >= 0)
        fprintf(f, ", %.1f fps", s->source.fps);
    if (s->source.width > 0)
        fprintf(f, ", %dx%d", s->source.width, s->source.height);
    if (s->source.reopens > 0)
        fprintf(f, ", reopened %lld time%s", s->source.reopens, s->source.reopens == 1 ? "" : "s");
    if (s->source.error[0])
        fprintf(f, "; last error: %s", s->source.error);
    fputc('\n', f);

    if (s->has_model) {
        const fer_model_info *m = &s->model;
        fprintf(f, "model    %s", m->name[0] ? m->name : "(unnamed)");
        if (m->path[0])
            fprintf(f, " (%s)", m->path);
        fprintf(f, ": %d classes", m->nclasses);
        if (m->params >= 0)
            fprintf(f, ", %lld parameters", m->params);
        if (m->val_acc >= 0)
            fprintf(f, ", validation accuracy %.1f%%", m->val_acc * 100.0);
        if (m->test_acc >= 0)
            fprintf(f, ", test accuracy %.1f%% (%s)", m->test_acc * 100.0,
                    m->test_split[0] ? m->test_split : "split not recorded");
        fputc('\n', f);
        fprintf(f, "         classes");
        for (int c = 0; c < m->nclasses; c++)
            fprintf(f, "%s%s", c ? ", " : " ", m->classes[c]);
        if (m->temperature > 0) {
            fprintf(f, "; probabilities calibrated, temperature %.3g", m->temperature);
            if (m->calib_split[0])
                fprintf(f, " (fitted on %s)", m->calib_split);
        } else {
            fprintf(f, "; probabilities not calibrated");
        }
        fputc('\n', f);
    }

    fprintf(f, "clients  %d connected, %d watching", s->clients.connected, s->clients.watching);
    if (s->clients.max > 0)
        fprintf(f, " (max %d)", s->clients.max);
    fprintf(f, "; %lld accepted, %lld rejected; disconnected over limits: %lld soft, %lld hard, "
               "%lld long line, %lld timed out; %lld requests rate-limited\n",
            s->clients.accepted, s->clients.rejected, s->clients.soft_disconnects,
            s->clients.hard_disconnects, s->clients.line_disconnects, s->clients.timeouts,
            s->clients.rate_limited);

    fprintf(f, "frames   %lld captured, %lld processed, %lld dropped\n", s->frames.captured,
            s->frames.processed, s->frames.dropped);

    if (s->latency.p50 >= 0)
        fprintf(f, "latency  p50 %.1f ms, p99 %.1f ms (%lld samples)\n", s->latency.p50,
                s->latency.p99, s->latency.samples);
    else
        fprintf(f, "latency  no results yet\n");

    for (int i = 0; i < s->nlist; i++) {
        const fer_status_client *c = &s->list[i];
        char q[32];
        format_bytes(c->queued, q, sizeof q);
        fprintf(f, "  client %-4d", c->id);
        if (c->uid >= 0)
            fprintf(f, " uid %-5lld", c->uid);
        if (c->pid >= 0)
            fprintf(f, " pid %-7lld", c->pid);
        if (c->watching) {
            fprintf(f, " watching%s", c->events ? " events" : "");
            if (c->max_fps > 0)
                fprintf(f, " at %.3g fps", c->max_fps);
            if (c->image != FER_IMAGE_NONE)
                fprintf(f, " with %s images", fer_image_kind_name(c->image));
        } else {
            fprintf(f, " idle");
        }
        fprintf(f, ", %llu sent, %llu dropped, %s queued\n", c->sent, c->dropped, q);
    }
}

void ferctl_print_reload(FILE *f, const fer_reload_msg *r)
{
    const fer_model_info *m = &r->model;
    fprintf(f, "reloaded: model %s", m->name[0] ? m->name : "(unnamed)");
    if (m->path[0])
        fprintf(f, " (%s)", m->path);
    fprintf(f, ", %d classes", m->nclasses);
    if (m->val_acc >= 0)
        fprintf(f, ", validation accuracy %.1f%%", m->val_acc * 100.0);
    fputc('\n', f);
    if (r->nrestart > 0) {
        fprintf(f, "changed keys that apply only after a restart:");
        for (int i = 0; i < r->nrestart; i++)
            fprintf(f, "%s %s", i ? "," : "", r->restart[i]);
        fputc('\n', f);
    }
}
