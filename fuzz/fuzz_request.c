/*
 * fuzz_request.c — one request line from a client, as the daemon reads it
 * (fer_request_parse, proto/protocol.c): the bytes every connected client
 * controls.
 *
 * Beyond "no crash, no leak", a request that parses must survive the client
 * library's encoder: fer_request_to_json of it parses again to the same
 * request (rates within the encoder's rounding: 1e-3 fps, 1e-4 probability).
 *
 * A positive max_fps stays positive through the encoder (0 means "every frame"):
 * finding F4 of docs/RELIABILITY.md, fixed; below 0.0005 it is encoded as 0.001.
 *
 * And the daemon's arithmetic on the client's numbers (daemon/rate.c, issue 13
 * class 3): every WATCH that parses is capped as the daemon caps it (by a
 * watch_max_fps and an image_max_fps the input's last bytes choose) and run
 * through the daemon's schedule over frames whose times the input also
 * chooses, starting anywhere up to the end of the 64-bit clock. A positive
 * rate must stay a rate after the cap; over the frames, at most
 * window / period + 3 RESULTs and pictures may be due; the clock must never
 * wrap into the past.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/protocol.h"
#include "proto/serve.h"
#include "rate.h"

static void same_request(const fer_request *a, const fer_request *b)
{
    if (a->kind != b->kind)
        fuzz_fail("round trip changed the kind (%d -> %d)", a->kind, b->kind);
    if (a->kind == FER_REQ_WATCH) {
        const fer_watch *x = &a->watch, *y = &b->watch;
        if (x->enable != y->enable || x->events != y->events || x->scores != y->scores ||
            x->image != y->image)
            fuzz_fail("round trip changed a WATCH flag");
        double fps_tol = x->max_fps > 0 && x->max_fps < 0.5e-3 ? 1e-3 : 0.5e-3 + 1e-9;
        if (fabs(x->max_fps - y->max_fps) > fps_tol ||
            fabs(x->min_prob - y->min_prob) > 0.5e-4 + 1e-12)
            fuzz_fail("round trip moved a WATCH rate: max_fps %.17g -> %.17g, min_prob %.17g "
                      "-> %.17g", x->max_fps, y->max_fps, x->min_prob, y->min_prob);
        if ((x->max_fps == 0) != (y->max_fps == 0))
            fuzz_fail("round trip turned max_fps %.17g into %.17g (0 = every frame)",
                      x->max_fps, y->max_fps);
    }
    if (a->kind == FER_REQ_POLL && (a->image != b->image || a->scores != b->scores))
        fuzz_fail("round trip changed a POLL option");
}

/* Messages due over nframes frames from start, the gaps between them taken
 * from the input; fails if more are due than the rate allows. */
static void check_schedule(double fps, const uint8_t *data, size_t size, uint64_t start,
                           const char *what)
{
    uint64_t period = ferd_rate_period_ns(fps);
    if (fps > 0 && period == 0)
        fuzz_fail("%s: positive rate %.17g has no period", what, fps);
    uint64_t next = 0, t = start, last_next = 0;
    unsigned due = 0, nframes = 64 + (size ? data[0] % 192 : 0);
    for (unsigned i = 0; i < nframes; i++) {
        /* 1 us .. 256 ms between frames, as the input says. */
        uint64_t gap = 1000ull + (size ? data[i % size] : 0) * 1000000ull;
        if (t > UINT64_MAX - gap)
            break;
        t += gap;
        due += (unsigned)ferd_rate_due(t, &next, fps);
        if (period && next < last_next)
            fuzz_fail("%s: the schedule went back from %llu to %llu", what,
                      (unsigned long long)last_next, (unsigned long long)next);
        last_next = next;
    }
    if (!period)
        return;
    uint64_t window = t - start;
    double bound = (double)window / (double)period + 3.0;
    if ((double)due > bound)
        fuzz_fail("%s: %u messages due in %llu ns at %.17g fps (period %llu ns, bound %.1f)",
                  what, due, (unsigned long long)window, fps, (unsigned long long)period, bound);
}

static void check_rates(const fer_watch *w, const uint8_t *data, size_t size)
{
    static const double caps[] = {0, 0.01, 1, 5, 30, 1000};
    static const uint64_t starts[] = {1, 3600000000000ull, UINT64_C(1) << 62,
                                      UINT64_MAX - 1000000000ull};
    uint8_t sel = size ? data[size - 1] : 0;
    double cap = caps[sel % 6], image_cap = caps[1 + (sel / 6) % 5];
    uint64_t start = starts[(sel / 30) % 4];
    double fps = ferd_rate_capped(w->max_fps, cap);
    if (cap > 0 && !(fps > 0 && fps <= cap))
        fuzz_fail("max_fps %.17g under cap %g became %.17g", w->max_fps, cap, fps);
    if (w->max_fps > 0 && !(fps > 0))
        fuzz_fail("a positive max_fps %.17g became every frame", w->max_fps);
    double img = ferd_rate_image(fps, image_cap);
    if (!(img > 0 && img <= image_cap))
        fuzz_fail("picture rate %.17g outside (0, %g] (max_fps %.17g)", img, image_cap, fps);
    check_schedule(fps, data, size, start, "RESULT");
    check_schedule(img, data, size, start, "picture");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fer_request req;
    fer_error err = {0};
    int rc = fer_request_parse(&req, (const char *)data, size, &err);
    fuzz_note("request", rc, err.msg);
    if (rc < 0) {
        if (req.kind != FER_REQ_NONE || req.error == FER_REQERR_NONE)
            fuzz_fail("a failed parse left kind %d, error %d", req.kind, req.error);
        return 0;
    }
    if (req.kind == FER_REQ_WATCH)
        check_rates(&req.watch, data, size);
    char *line = NULL;
    if (fer_request_to_json(&req, &line) < 0)
        fuzz_fail("fer_request_to_json refused a parsed request");
    fer_request again;
    if (fer_request_parse(&again, line, strlen(line), &err) < 0)
        fuzz_fail("the encoder's own line does not parse: %s (%s)", line, err.msg);
    same_request(&req, &again);
    free(line);
    return 0;
}
