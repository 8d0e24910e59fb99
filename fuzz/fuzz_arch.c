/*
 * fuzz_arch.c — the architecture text parser (fer_arch_parse, src/net/arch.c):
 * it reads .arch files and the "arch" string inside every .fermodel header.
 *
 * An arch that parses must also be buildable: fer_arch_parse promises that its
 * shapes went through fer_net_plan, so the target plans it again and checks the
 * parsed text is kept verbatim (model files embed it).
 */
#include <string.h>

#include "fuzz.h"
#include "net/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fer_arch *a = NULL;
    fer_error err = {0};
    int rc = fer_arch_parse(&a, (const char *)data, size, "fuzz.arch", &err);
    fuzz_note("arch", rc, err.msg);
    if (rc < 0) {
        if (a)
            fuzz_fail("a failed parse returned an arch");
        if (!err.msg[0])
            fuzz_fail("a failed parse gave no message (code %d)", err.code);
        return 0;
    }
    if (!a || !a->text || memcmp(a->text, data, size) != 0 || a->text[size] != '\0')
        fuzz_fail("the arch does not keep its source text");
    if (a->nlayers < 1 || a->nlayers > FER_MAX_LAYERS || a->nclasses < 0 ||
        a->nclasses > FER_MAX_CLASSES)
        fuzz_fail("arch counts out of range: %d layers, %d classes", a->nlayers, a->nclasses);
    fer_arch_free(a);
    return 0;
}
