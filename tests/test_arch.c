/*
 * test_arch.c — the architecture parser: both shipped files parse to the
 * documented sizes and shapes, every kind of malformed text fails with its
 * own code and a message naming "origin:line", and mutated or random bytes
 * never crash it (the sanitizer build checks for out-of-bounds reads).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/arch.h"
#include "net/net.h"

static const char *source_path(char *buf, size_t cap, const char *rel)
{
    const char *root = getenv("FER_SOURCE_ROOT");
    snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
    return buf;
}

static fer_arch *load_shipped(const char *rel)
{
    char path[4096];
    fer_error err = {0};
    fer_arch *a = NULL;
    int r = fer_arch_load(&a, source_path(path, sizeof path, rel), &err);
    ck_assert_msg(r == 0, "%s: %s", rel, err.msg);
    return a;
}

/* Plans a and returns the layers (caller frees). */
static fer_layer *plan_of(const fer_arch *a)
{
    fer_error err = {0};
    fer_layer *l = calloc((size_t)a->nlayers, sizeof *l);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(fer_net_plan(l, a, "t", &err) == 0, "%s", err.msg);
    return l;
}

static const char *const fer2013[7] = {"angry", "disgust", "fear", "happy",
                                       "sad", "surprise", "neutral"};

START_TEST(test_seed_arch)
{
    fer_arch *a = load_shipped("models/seed.arch");
    ck_assert_str_eq(a->name, "seed");
    ck_assert_int_eq(a->in_c, 1);
    ck_assert_int_eq(a->in_h, 48);
    ck_assert_int_eq(a->in_w, 48);
    ck_assert_int_eq(a->nclasses, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_str_eq(a->classes[i], fer2013[i]);
    ck_assert_int_eq(a->nlayers, 18);

    fer_layer *l = plan_of(a);
    size_t total = 0;
    for (int i = 0; i < a->nlayers; i++)
        total += l[i].nparams;
    ck_assert_uint_eq(total, 42582023);
    ck_assert_int_eq(l[8].oc, 256); // last pool: 256x6x6 = 9216 features
    ck_assert_int_eq(l[8].oh, 6);
    ck_assert_uint_eq(l[9].in_size, 9216);
    ck_assert_int_eq(l[9].oc, 4096);
    free(l);

    // The built net agrees with the plan.
    fer_net *net = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_net_create(&net, a, 1, 0, 1, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(net->nparams, 42582023);
    fer_net_free(net);
}
END_TEST

START_TEST(test_default_arch)
{
    fer_arch *a = load_shipped("models/default.arch");
    ck_assert_str_eq(a->name, "default");
    ck_assert_int_eq(a->nclasses, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_str_eq(a->classes[i], fer2013[i]);
    ck_assert_int_eq(a->nlayers, 26);
    ck_assert_int_eq(a->layers[0].type, FER_LAYER_CONV);
    ck_assert_int_eq(a->layers[0].bias, 0);
    ck_assert_int_eq(a->layers[1].type, FER_LAYER_BN);
    ck_assert_float_eq_tol(a->layers[1].eps, 1e-5f, 1e-12f);
    ck_assert_float_eq_tol(a->layers[1].momentum, 0.1f, 1e-7f);
    ck_assert_int_eq(a->layers[6].type, FER_LAYER_MAXPOOL);
    ck_assert_int_eq(a->layers[6].stride, 2); // stride defaults to size

    fer_layer *l = plan_of(a);
    static const struct { int i, c, h, w; } shapes[] = {
        {0, 32, 48, 48}, {3, 32, 48, 48}, {6, 32, 24, 24}, {10, 64, 24, 24}, {13, 64, 12, 12},
        {17, 128, 12, 12}, {20, 128, 6, 6}, {21, 256, 6, 6}, {24, 256, 1, 1}, {25, 7, 1, 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const fer_layer *x = &l[shapes[k].i];
        ck_assert_msg(x->oc == shapes[k].c && x->oh == shapes[k].h && x->ow == shapes[k].w,
                      "layer %d: %dx%dx%d, want %dx%dx%d", shapes[k].i, x->oc, x->oh, x->ow,
                      shapes[k].c, shapes[k].h, shapes[k].w);
    }
    size_t params = 0;
    long long macs = 0;
    for (int i = 0; i < a->nlayers; i++) {
        params += l[i].nparams;
        macs += l[i].macs;
    }
    ck_assert_uint_eq(params, 584103);
    ck_assert_int_eq(macs, 96216832LL);
    ck_assert_int_eq(l[1].bn.c, 32);
    ck_assert_int_eq(l[1].bn.hw, 48 * 48);
    free(l);
    fer_arch_free(a);
}
END_TEST

/* A small valid text, also used as the base of the mutation test. */
static const char *valid_text =
    "# a comment line\n"
    "[net]\n"
    "name = tiny   ; trailing comment\n"
    "input = 3 x 8 x 8\n"
    "classes = a, b ,c\n"
    "\n"
    "[conv]\nfilters = 4\nsize = 3\nstride = 1\npad = 1\nbias = 0\n"
    "[bn]\neps = 0.001\nmomentum = 0.2\n"
    "[relu]\n[maxpool]\nsize = 2\nstride = 2\n"
    "[fc]\noutputs = 5\n[bn]\n[dropout]\np = 0.25\n[fc]\noutputs = 3\n";

START_TEST(test_valid_text)
{
    fer_arch *a = NULL;
    fer_error err = {0};
    size_t len = strlen(valid_text);
    ck_assert_msg(fer_arch_parse(&a, valid_text, len, "v", &err) == 0, "%s", err.msg);
    ck_assert_str_eq(a->name, "tiny");
    ck_assert_int_eq(a->in_c, 3);
    ck_assert_int_eq(a->nclasses, 3);
    ck_assert_str_eq(a->classes[1], "b");
    ck_assert_str_eq(a->classes[2], "c");
    ck_assert_int_eq(a->nlayers, 8);
    ck_assert_float_eq_tol(a->layers[1].eps, 0.001f, 1e-9f);
    ck_assert_float_eq_tol(a->layers[6].p, 0.25f, 1e-9f);
    ck_assert_int_eq(a->layers[0].line, 7);
    ck_assert_mem_eq(a->text, valid_text, len + 1); // kept verbatim, NUL-terminated
    ck_assert_str_eq(fer_layer_type_name(a->layers[3].type), "maxpool");
    fer_arch_free(a);

    // No trailing newline, CRLF line ends, and a text that is not NUL-terminated.
    const char *crlf = "[net]\r\ninput = 1x4x4\r\n[fc]\r\noutputs = 2";
    char buf[64];
    memcpy(buf, crlf, strlen(crlf));
    memset(buf + strlen(crlf), 'x', sizeof buf - strlen(crlf));
    ck_assert_msg(fer_arch_parse(&a, buf, strlen(crlf), "crlf", &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a->layers[0].outputs, 2);
    ck_assert_int_eq(a->nclasses, 2);
    ck_assert_str_eq(a->classes[0], ""); // no names given
    fer_arch_free(a);
    fer_arch_free(NULL);
}
END_TEST

typedef struct bad_case {
    const char *what;
    const char *text;
    int code;
    int line;
    const char *needle; /* also expected in the message, or NULL */
} bad_case;

#define NET "[net]\ninput = 1x8x8\n"
#define FC2 "[fc]\noutputs = 2\n"

static const bad_case bad[] = {
    {"unknown section", NET "[conv3d]\nfilters = 2\n", FER_E_LAYER, 3, "unknown layer [conv3d]"},
    {"unknown key", NET "[fc]\noutputs = 2\nfoo = 1\n", FER_E_ARCH, 5, "unknown key 'foo'"},
    {"key of another section", NET "[relu]\nsize = 2\n" FC2, FER_E_ARCH, 4, "unknown key 'size'"},
    {"duplicate key", NET "[fc]\noutputs = 2\noutputs = 3\n", FER_E_ARCH, 5, "first set on line 4"},
    {"bad number", NET "[conv]\nfilters = 3x\nsize = 3\n" FC2, FER_E_ARCH, 4, "bad value '3x'"},
    {"negative number", NET "[fc]\noutputs = -2\n", FER_E_ARCH, 4, "bad value"},
    {"huge number", NET "[fc]\noutputs = 99999999999999999999\n", FER_E_ARCH, 4, "bad value"},
    {"float in int", NET "[fc]\noutputs = 2.5\n", FER_E_ARCH, 4, "bad value"},
    {"bias not 0/1", NET "[conv]\nfilters = 2\nsize = 1\nbias = 2\n" FC2, FER_E_ARCH, 6, "0 or 1"},
    {"p = 1", NET FC2 "[dropout]\np = 1\n", FER_E_ARCH, 6, "[0, 1)"},
    {"p = nan", NET FC2 "[dropout]\np = nan\n", FER_E_ARCH, 6, "bad value"},
    {"eps = 0", NET "[conv]\nfilters = 2\nsize = 1\n[bn]\neps = 0\n" FC2, FER_E_ARCH, 7, "eps"},
    {"empty value", NET "[fc]\noutputs =\n", FER_E_ARCH, 4, "no value"},
    {"no key", NET "[fc]\n= 2\n", FER_E_ARCH, 4, "missing key"},
    {"no '='", NET "[fc]\noutputs 2\n", FER_E_ARCH, 4, "key = value"},
    {"malformed section", NET "[fc\noutputs = 2\n", FER_E_ARCH, 3, "malformed section"},
    {"section with junk", NET "[fc] x\noutputs = 2\n", FER_E_ARCH, 3, "malformed section"},
    {"missing input", "[net]\nname = x\n" FC2, FER_E_ARCH, 1, "no 'input'"},
    {"bad input", "[net]\ninput = 1x8\n" FC2, FER_E_ARCH, 2, "CxHxW"},
    {"zero input", "[net]\ninput = 0x8x8\n" FC2, FER_E_ARCH, 2, "CxHxW"},
    {"key before [net]", "input = 1x8x8\n[net]\n", FER_E_ARCH, 1, "[net] must come first"},
    {"layer before [net]", FC2 NET, FER_E_ARCH, 1, "[net] must come first"},
    {"second [net]", NET "[net]\n" FC2, FER_E_ARCH, 3, "second [net]"},
    {"no [net]", "# nothing here\n", FER_E_ARCH, 1, "no [net]"},
    {"empty text", "", FER_E_ARCH, 1, "no [net]"},
    {"no layers", NET, FER_E_ARCH, 1, "no layers"},
    {"conv without filters", NET "[conv]\nsize = 3\n" FC2, FER_E_ARCH, 3, "no 'filters'"},
    {"fc without outputs", NET "[fc]\n", FER_E_ARCH, 3, "no 'outputs'"},
    {"pad >= size", NET "[conv]\nfilters = 2\nsize = 3\npad = 3\n" FC2, FER_E_ARCH, 3,
     "smaller than size"},
    {"empty conv output", NET "[conv]\nfilters = 2\nsize = 9\n" FC2, FER_E_ARCH, 3,
     "output would be empty"},
    {"empty pool output", NET "[maxpool]\nsize = 9\n" FC2, FER_E_ARCH, 3, "output would be empty"},
    {"conv after gap", NET "[gap]\n[conv]\nfilters = 2\nsize = 1\n" FC2, FER_E_ARCH, 4,
     "flattened (line 3)"},
    {"pool after fc", NET "[fc]\noutputs = 4\n[maxpool]\n" FC2, FER_E_ARCH, 5, "flattened"},
    {"bn after relu", NET "[conv]\nfilters = 2\nsize = 1\n[relu]\n[bn]\n" FC2, FER_E_ARCH, 7,
     "[bn] must directly follow [conv]"},
    {"bn first", NET "[bn]\n" FC2, FER_E_ARCH, 3, "[bn]"},
    {"last layer not fc", NET "[conv]\nfilters = 2\nsize = 1\n[relu]\n", FER_E_ARCH, 3,
     "must end with [fc]"},
    {"classes count mismatch", "[net]\ninput = 1x8x8\nclasses = a, b, c\n" FC2, FER_E_CLASSES, 3,
     "3 classes listed"},
    {"too many outputs", NET "[fc]\noutputs = 33\n", FER_E_CLASSES, 3, "at most 32"},
    {"empty class name", "[net]\ninput = 1x8x8\nclasses = a,,b\n" FC2, FER_E_ARCH, 3, "empty"},
    {"duplicate class", "[net]\ninput = 1x8x8\nclasses = a, a\n" FC2, FER_E_ARCH, 3, "twice"},
    {"long class name",
     "[net]\ninput = 1x8x8\nclasses = a, abcdefghijklmnopqrstuvwxyz0123456\n" FC2, FER_E_ARCH, 3,
     "longer than 31"},
    {"name too long",
     "[net]\ninput = 1x8x8\nname = "
     "0123456789012345678901234567890123456789012345678901234567890123\n" FC2,
     FER_E_ARCH, 3, "longer than 63"},
    {"binary garbage", "\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00", FER_E_ARCH, 1, "control byte"},
    {"garbage mid-file", NET "[fc]\noutputs = 2\x01\n", FER_E_ARCH, 4, "control byte 0x01"},
    {"no trailing newline, error on last line", NET "[fc]\noutputs = 2x", FER_E_ARCH, 4,
     "bad value '2x'"},
    {"huge input", "[net]\ninput = 4096x4096x4096\n" FC2, FER_E_ARCH, 2, "larger than"},
    {"huge fc", "[net]\ninput = 64x64x64\n[fc]\noutputs = 65535\n[fc]\noutputs = 2\n", FER_E_ARCH,
     3, "weights"},
};

/* The bad texts are C strings except the garbage one, which holds NULs: its length is
 * the size of the literal. */
static size_t bad_len(const bad_case *b)
{
    if (!strcmp(b->what, "binary garbage"))
        return 11;
    return strlen(b->text);
}

START_TEST(test_bad_text)
{
    const bad_case *b = &bad[_i];
    fer_arch *a = (fer_arch *)1;
    fer_error err = {0};
    int r = fer_arch_parse(&a, b->text, bad_len(b), "bad.arch", &err);
    ck_assert_msg(r == b->code, "%s: returned %d (%s), want %d; msg: %s", b->what, r,
                  fer_strerror(r), b->code, err.msg);
    ck_assert_int_eq(err.code, b->code);
    ck_assert_ptr_null(a);
    char where[32];
    snprintf(where, sizeof where, "bad.arch:%d:", b->line);
    ck_assert_msg(strstr(err.msg, where), "%s: message '%s' lacks '%s'", b->what, err.msg, where);
    if (b->needle)
        ck_assert_msg(strstr(err.msg, b->needle), "%s: message '%s' lacks '%s'", b->what,
                      err.msg, b->needle);
}
END_TEST

START_TEST(test_long_line)
{
    size_t n = 20000;
    char *t = malloc(n + 64);
    int at = snprintf(t, 64, "[net]\ninput = 1x8x8\nname = ");
    memset(t + at, 'a', n);
    strcpy(t + at + n, "\n[fc]\noutputs = 2\n");
    fer_arch *a = NULL;
    fer_error err = {0};
    int r = fer_arch_parse(&a, t, strlen(t), "long.arch", &err);
    ck_assert_int_eq(r, FER_E_ARCH);
    ck_assert_msg(strstr(err.msg, "long.arch:3:") && strstr(err.msg, "longer than"), "%s",
                  err.msg);
    free(t);
}
END_TEST

START_TEST(test_too_many_layers)
{
    size_t cap = 64 + 8 * (FER_MAX_LAYERS + 2);
    char *t = malloc(cap);
    size_t at = (size_t)snprintf(t, cap, "[net]\ninput = 1x2x2\n");
    for (int i = 0; i < FER_MAX_LAYERS + 1; i++)
        at += (size_t)snprintf(t + at, cap - at, "[relu]\n");
    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_arch_parse(&a, t, at, "many", &err), FER_E_ARCH);
    char where[32];
    snprintf(where, sizeof where, "many:%d:", 3 + FER_MAX_LAYERS);
    ck_assert_msg(strstr(err.msg, where) && strstr(err.msg, "more than 128 layers"), "%s", err.msg);
    free(t);
}
END_TEST

START_TEST(test_too_many_classes)
{
    char t[512];
    size_t at = (size_t)snprintf(t, sizeof t, "[net]\ninput = 1x2x2\nclasses = c0");
    for (int i = 1; i < 33; i++)
        at += (size_t)snprintf(t + at, sizeof t - at, ",c%d", i);
    at += (size_t)snprintf(t + at, sizeof t - at, "\n[fc]\noutputs = 33\n");
    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_arch_parse(&a, t, at, "cls", &err), FER_E_CLASSES);
    ck_assert_msg(strstr(err.msg, "cls:3:"), "%s", err.msg);
}
END_TEST

START_TEST(test_load_missing)
{
    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_arch_load(&a, "/nonexistent/x.arch", &err), -ENOENT);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(err.msg, "/nonexistent/x.arch"), "%s", err.msg);
}
END_TEST

/* Mutated copies of a valid text and plain random bytes: the parser must return
 * (0 or an error with a message), never crash or read out of bounds. */
START_TEST(test_mutations)
{
    uint64_t rng = 42;
    size_t base = strlen(valid_text);
    char *buf = malloc(base + 64);
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len;
        if (iter % 4 == 3) {
            len = (size_t)(fer_rng_next(&rng) % (base + 64));
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)fer_rng_next(&rng);
        } else {
            memcpy(buf, valid_text, base);
            len = base - (size_t)(fer_rng_next(&rng) % 8);
            int flips = 1 + (int)(fer_rng_next(&rng) % 4);
            for (int f = 0; f < flips; f++) {
                uint64_t x = fer_rng_next(&rng);
                static const char pool[] = "[]=#;,x0123456789 \n\r\t-.e\x01\xff";
                buf[x % len] = pool[(x >> 32) % (sizeof pool - 1)];
            }
        }
        // A heap copy of exactly len bytes: ASan flags any read past it.
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        fer_arch *a = NULL;
        fer_error err = {0};
        int r = fer_arch_parse(&a, exact, len, "m", &err);
        if (r == 0) {
            ck_assert_ptr_nonnull(a);
            ok++;
        } else {
            ck_assert_ptr_null(a);
            ck_assert_int_eq(err.code, r);
            ck_assert_msg(!strncmp(err.msg, "m:", 2), "message '%s'", err.msg);
        }
        fer_arch_free(a);
        free(exact);
    }
    ck_assert_int_gt(ok, 0); // some mutations (e.g. inside comments) stay valid
    free(buf);
}
END_TEST

static Suite *arch_suite(void)
{
    Suite *s = suite_create("arch");
    TCase *tc = tcase_create("shipped");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_seed_arch);
    tcase_add_test(tc, test_default_arch);
    tcase_add_test(tc, test_valid_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bad_text, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_too_many_layers);
    tcase_add_test(tc, test_too_many_classes);
    tcase_add_test(tc, test_load_missing);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
