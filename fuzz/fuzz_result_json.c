/*
 * fuzz_result_json.c — the client side of the wire: the RESULT decoder
 * (fer_result_from_json, proto/result_json.c) and the decoder of every daemon
 * line (fer_message_parse, proto/protocol.c), which libferclient runs on
 * whatever arrives on the socket.
 *
 * Invariants checked beyond memory safety: a RESULT that decodes re-encodes
 * (fer_result_to_json, with and without scores) to a line that decodes again to
 * the same frame header and faces; one fer_message is reused across two parses,
 * as a client does, so the "free the previous message first" path is exercised.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/protocol.h"
#include "proto/result_json.h"

static void check_round_trip(const fer_frame_result *r, unsigned flags)
{
    char *line = NULL;
    fer_error err = {0};
    if (fer_result_to_json(r, flags, &line, &err) < 0)
        fuzz_fail("fer_result_to_json refused a decoded result: %s", err.msg);
    static fer_frame_result again;
    if (fer_result_from_json(&again, line, strlen(line), &err) < 0)
        fuzz_fail("the encoder's own RESULT does not decode: %s (%s)", err.msg, line);
    if (again.seq != r->seq || again.nfaces != r->nfaces || again.nended != r->nended ||
        again.width != r->width || again.height != r->height)
        fuzz_fail("RESULT round trip changed the frame: %s", line);
    for (int i = 0; i < r->nfaces; i++) {
        const fer_face_result *a = &r->faces[i], *b = &again.faces[i];
        if (a->id != b->id || memcmp(&a->box, &b->box, sizeof a->box) != 0)
            fuzz_fail("RESULT round trip changed face %d: %s", i, line);
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fer_error err = {0};

    static fer_frame_result r; /* large: keep it off the stack */
    int rc = fer_result_from_json(&r, text, size, &err);
    fuzz_note("result", rc, err.msg);
    if (rc == 0) {
        check_round_trip(&r, 0);
        check_round_trip(&r, FER_JSON_NO_SCORES);
    }

    /* The same bytes as a daemon line, twice into one message, then cleared. */
    fer_message m;
    memset(&m, 0, sizeof m);
    rc = fer_message_parse(&m, text, size, &err);
    fuzz_note("message", rc, err.msg);
    fer_message_parse(&m, text, size / 2, &err);
    fer_message_clear(&m);
    return 0;
}
