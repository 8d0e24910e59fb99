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
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/protocol.h"
#include "proto/serve.h"

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
