/*
 * test_model.c — the .fermodel file: a save/load round trip is bit-exact, the
 * save is atomic, a model loaded for inference (bn folded) computes the same
 * logits, and every kind of damaged or inconsistent file fails with its own
 * code and a message of its own naming the file. Bad files are made from a
 * valid one: by cutting or flipping bytes, or by rewriting its header JSON and
 * then recomputing the checksum so the check under test is the one reached.
 * Each test works in its own mkdtemp directory, removed at the end.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cv/image.h"
#include "net/model.h"
#include "util/fileio.h"
#include "scratch.h"

/* conv without bias + bn (folded at inference), conv with bias + bn, pool, gap, fc. */
static const char *tiny_arch =
    "[net]\nname = tiny\ninput = 1x8x8\nclasses = a, b, c\n"
    "[conv]\nfilters = 4\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
    "[conv]\nfilters = 6\nsize = 3\n[bn]\n[relu]\n[gap]\n[fc]\noutputs = 3\n";

static char tmpdir[256];

static void make_tmp(void)
{
    scratch_make(tmpdir, sizeof tmpdir, "model");
}

static void remove_tmp(void)
{
    scratch_remove(tmpdir);
}

/* Number of entries of tmpdir other than . and .. */
static int tmp_entries(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* A model of tiny_arch with random parameters and statistics, preprocessing and meta. */
static fer_model *make_model(unsigned net_flags)
{
    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_arch_parse(&a, tiny_arch, strlen(tiny_arch), "tiny", &err) == 0, "%s",
                  err.msg);
    fer_model *m = calloc(1, sizeof *m);
    ck_assert_msg(fer_net_create(&m->net, a, 4, net_flags, 11, &err) == 0, "%s", err.msg);
    fer_tensor_ref refs[32];
    int n = fer_net_tensors(m->net, refs, 32);
    uint64_t s = 77;
    for (int t = 0; t < n; t++)
        for (size_t i = 0; i < refs[t].count; i++) {
            float u = fer_rng_uniform(&s);
            // Variances must be positive; everything else any sign.
            refs[t].data[i] = strstr(refs[t].name, "running_var") ? 0.5f + u : 2.0f * u - 1.0f;
        }
    fer_preproc_default(&m->pre);
    m->pre.margin = 0.15f;
    m->pre.grey = 0;
    strcpy(m->pre.resize, "linear");
    m->pre.mean = 0.48f;
    m->pre.std = 0.2f;
    fer_meta_init(&m->meta);
    strcpy(m->meta.dataset, "FER2013");
    strcpy(m->meta.created, "2026-11-28T10:00:00Z");
    strcpy(m->meta.command, "fer train --arch tiny \"quoted\"");
    m->meta.epochs = 30;
    m->meta.val_acc = 0.652f;
    strcpy(m->meta.extra, "{\"lr\":0.01,\"tags\":[\"x\"]}");
    return m;
}

/* The bytes of a valid file of make_model(). */
static uint8_t *valid_bytes(size_t *len)
{
    fer_model *m = make_model(0);
    uint8_t *buf = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_model_save_mem(m, &buf, len, &err) == 0, "%s", err.msg);
    fer_model_free(m);
    return buf;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Header JSON of a file image. */
static cJSON *header_of(const uint8_t *buf)
{
    uint32_t h = rd32(buf + 12);
    cJSON *j = cJSON_ParseWithLength((const char *)buf + 16, h);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* A file image with the given header text and the data of valid (whose header it
 * replaces), with a correct checksum. */
static uint8_t *rebuild(const uint8_t *valid, size_t vlen, const char *header, size_t *len)
{
    size_t h_old = rd32(valid + 12), d_old = (16 + h_old + 63) / 64 * 64;
    size_t data = vlen - 4 - d_old;
    size_t h = strlen(header), d = (16 + h + 63) / 64 * 64;
    *len = d + data + 4;
    uint8_t *b = calloc(1, *len);
    memcpy(b, valid, 16);
    wr32(b + 12, (uint32_t)h);
    memcpy(b + 16, header, h);
    memcpy(b + d, valid + d_old, data);
    wr32(b + d + data, (uint32_t)crc32(0, b, (uInt)(d + data)));
    return b;
}

/* Rebuilds valid with its header JSON passed through edit. */
static uint8_t *rewrite(const uint8_t *valid, size_t vlen, void (*edit)(cJSON *), size_t *len)
{
    cJSON *j = header_of(valid);
    edit(j);
    char *txt = cJSON_PrintUnformatted(j);
    uint8_t *b = rebuild(valid, vlen, txt, len);
    cJSON_free(txt);
    cJSON_Delete(j);
    return b;
}

/* Loads buf and expects failure code with needle in the message; returns the message. */
static char *expect_fail(const uint8_t *buf, size_t len, int code, const char *needle,
                         const char *what)
{
    fer_model *m = (fer_model *)1;
    fer_error err = {0};
    // An exact-size heap copy, so the sanitizer build catches any read past the end.
    uint8_t *exact = malloc(len ? len : 1);
    memcpy(exact, buf, len);
    int r = fer_model_load_mem(&m, exact, len, "x.fermodel", 2, 0, &err);
    free(exact);
    ck_assert_msg(r == code, "%s: returned %d (%s), want %d (%s); msg: %s", what, r,
                  fer_strerror(r), code, fer_strerror(code), err.msg);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(!strncmp(err.msg, "x.fermodel", 10), "%s: message '%s' does not name the file",
                  what, err.msg);
    ck_assert_msg(strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what, err.msg, needle);
    return strdup(err.msg);
}

START_TEST(test_round_trip)
{
    make_tmp();
    char path[512];
    snprintf(path, sizeof path, "%s/m.fermodel", tmpdir);
    fer_model *m = make_model(FER_NET_TRAIN);
    fer_error err = {0};
    ck_assert_msg(fer_model_save(m, path, &err) == 0, "%s", err.msg);

    fer_model *l = NULL;
    ck_assert_msg(fer_model_load(&l, path, 3, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(l->net->max_batch, 3);
    ck_assert_ptr_nonnull(l->net->grads); // loaded for fine-tuning
    ck_assert_str_eq(l->net->arch->text, m->net->arch->text);
    ck_assert_int_eq(l->net->arch->nclasses, 3);
    ck_assert_str_eq(l->net->arch->classes[2], "c");

    fer_tensor_ref a[32], b[32];
    int na = fer_net_tensors(m->net, a, 32), nb = fer_net_tensors(l->net, b, 32);
    ck_assert_int_eq(na, nb);
    ck_assert_int_eq(na, 1 + 4 + 2 + 4 + 2); // bias-free conv has no bias tensor
    for (int t = 0; t < na; t++) {
        ck_assert_str_eq(a[t].name, b[t].name);
        ck_assert_uint_eq(a[t].count, b[t].count);
        ck_assert_msg(!memcmp(a[t].data, b[t].data, a[t].count * sizeof(float)),
                      "tensor %s differs", a[t].name);
    }

    ck_assert_float_eq(l->pre.margin, 0.15f);
    ck_assert_int_eq(l->pre.square, 1);
    ck_assert_int_eq(l->pre.grey, 0);
    ck_assert_str_eq(l->pre.resize, "linear");
    ck_assert_float_eq(l->pre.mean, 0.48f);
    ck_assert_float_eq(l->pre.std, 0.2f);
    ck_assert_str_eq(l->meta.dataset, "FER2013");
    ck_assert_str_eq(l->meta.created, "2026-11-28T10:00:00Z");
    ck_assert_str_eq(l->meta.command, "fer train --arch tiny \"quoted\"");
    ck_assert_int_eq(l->meta.epochs, 30);
    ck_assert_float_eq(l->meta.val_acc, 0.652f); // bit-exact through the shortest decimal
    ck_assert_float_lt(l->meta.test_acc, 0.0f);  // absent stays absent
    ck_assert_str_eq(l->meta.extra, "{\"lr\":0.01,\"tags\":[\"x\"]}");

    // The file holds exactly the bytes fer_model_save_mem produces, framed as specified.
    uint8_t *mem = NULL;
    size_t len = 0;
    ck_assert_int_eq(fer_model_save_mem(l, &mem, &len, &err), 0);
    FILE *f = fopen(path, "rb");
    uint8_t *disk = malloc(len + 1);
    ck_assert_uint_eq(fread(disk, 1, len + 1, f), len);
    fclose(f);
    ck_assert_mem_eq(disk, mem, len);
    ck_assert_mem_eq(mem, "FERMODEL\x01\x00\x00\x00", 12);
    uint32_t h = rd32(mem + 12);
    size_t d = (16 + h + 63) / 64 * 64;
    ck_assert_uint_eq(len, d + 4 * (size_t)(4 * 9 + 4 * 4 + 6 * 4 * 9 + 6 + 4 * 6 + 3 * 6 + 3) + 4);
    ck_assert_uint_eq(rd32(mem + len - 4), (uint32_t)crc32(0, mem, (uInt)(len - 4)));
    for (size_t i = 16 + h; i < d; i++)
        ck_assert_int_eq(mem[i], 0);
    free(disk);
    free(mem);

    fer_model_free(l);
    fer_model_free(m);
    fer_model_free(NULL);
    remove_tmp();
}
END_TEST

START_TEST(test_atomic_save)
{
    make_tmp();
    char path[512];
    snprintf(path, sizeof path, "%s/m.fermodel", tmpdir);
    fer_model *m = make_model(0);
    fer_error err = {0};
    ck_assert_int_eq(fer_model_save(m, path, &err), 0);
    ck_assert_int_eq(tmp_entries(), 1); // no temporary left behind

    // Saving again replaces the file.
    m->meta.epochs = 31;
    ck_assert_int_eq(fer_model_save(m, path, &err), 0);
    ck_assert_int_eq(tmp_entries(), 1);
    fer_model *l = NULL;
    ck_assert_int_eq(fer_model_load(&l, path, 1, FER_LOAD_INFER, &err), 0);
    ck_assert_int_eq(l->meta.epochs, 31);

    // A folded net cannot be saved, and a failed save leaves the old file alone.
    ck_assert_int_eq(fer_model_save(l, path, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "folded"), "%s", err.msg);
    ck_assert_int_eq(tmp_entries(), 1);

    // A directory that does not exist: the error names the path.
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.fermodel", tmpdir);
    ck_assert_int_eq(fer_model_save(m, bad, &err), -ENOENT);
    ck_assert_msg(strstr(err.msg, "no/such/dir"), "%s", err.msg);

    // A kill -9 mid-write leaves NAME.tmp.PID.N: removed once PID is gone; a
    // live process's temporaries and other names stay.
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    const char *names[] = {"m.fermodel.tmp.%ld.0", "m.fermodel.tmp.%ld.17", "x.tmp.%ld",
                           "y.tmp.%ld.3x"};
    long pids[] = {(long)dead, (long)getppid(), (long)dead, (long)dead};
    for (int i = 0; i < 4; i++) {
        char name[64], p[700];
        snprintf(name, sizeof name, names[i], pids[i]);
        snprintf(p, sizeof p, "%s/%s", tmpdir, name);
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
    }
    ck_assert_int_eq(tmp_entries(), 5);
    ck_assert_int_eq(fer_remove_stale_temporaries(tmpdir, &err), 1);
    ck_assert_int_eq(tmp_entries(), 4);
    ck_assert_int_eq(fer_remove_stale_temporaries(bad, &err), -ENOENT);

    fer_model_free(l);
    fer_model_free(m);
    remove_tmp();
}
END_TEST

/* A file written piece by piece: invisible until committed, removed on abort, and
 * its temporary (with an extension kept for format-sniffing writers) is one that
 * fer_remove_stale_temporaries recognises. */
START_TEST(test_atomic_stream)
{
    make_tmp();
    char path[512];
    snprintf(path, sizeof path, "%s/out.avi", tmpdir);
    fer_error err = {0};
    fer_atomic_file f;
    ck_assert_int_eq(fer_atomic_open(&f, path, ".avi", &err), 0);
    ck_assert_msg(strcmp(f.tmp + strlen(f.tmp) - 4, ".avi") == 0, "%s", f.tmp);
    ck_assert_int_eq(write(f.fd, "abc", 3), 3);
    ck_assert_int_eq(access(path, F_OK), -1); /* not there before the commit */
    ck_assert_int_eq(fer_atomic_commit(&f, &err), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(fer_read_file(path, &buf, &len, 100, &err), 0);
    ck_assert_int_eq(len, 3);
    free(buf);
    ck_assert_int_eq(tmp_entries(), 1);
    /* Written by name after closing the descriptor, then aborted: the old file stays. */
    ck_assert_int_eq(fer_atomic_open(&f, path, NULL, &err), 0);
    fer_atomic_close_fd(&f);
    FILE *w = fopen(f.tmp, "w");
    ck_assert_ptr_nonnull(w);
    fputs("longer text", w);
    fclose(w);
    fer_atomic_abort(&f);
    ck_assert_int_eq(tmp_entries(), 1);
    ck_assert_int_eq(fer_read_file(path, &buf, &len, 100, &err), 0);
    ck_assert_int_eq(len, 3);
    free(buf);
    fer_atomic_abort(&f); /* twice is harmless */
    /* A directory that does not exist: the error names it. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/none/out.csv", tmpdir);
    ck_assert_int_eq(fer_atomic_open(&f, bad, NULL, &err), -ENOENT);
    ck_assert_msg(strstr(err.msg, "/none"), "%s", err.msg);
    /* A dead writer's temporary with an extension is recognised as stale. */
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char p[700];
    snprintf(p, sizeof p, "%s/out.mp4.tmp.%ld.2.mp4", tmpdir, (long)dead);
    w = fopen(p, "w");
    ck_assert_ptr_nonnull(w);
    fclose(w);
    ck_assert_int_eq(fer_remove_stale_temporaries(tmpdir, &err), 1);
    ck_assert_int_eq(tmp_entries(), 1);
    remove_tmp();
}
END_TEST

/* The folded inference net computes what the unfolded one does. */
START_TEST(test_folded_logits)
{
    fer_model *m = make_model(0);
    uint8_t *buf = NULL;
    size_t len = 0;
    fer_error err = {0};
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), 0);
    fer_model *inf = NULL;
    ck_assert_msg(fer_model_load_mem(&inf, buf, len, "mem", 4, FER_LOAD_INFER, &err) == 0, "%s",
                  err.msg);
    ck_assert_ptr_null(inf->net->grads);
    ck_assert_int_eq(inf->net->layers[1].folded, 1);
    ck_assert_int_eq(inf->net->layers[5].folded, 1);

    float x[4 * 64];
    uint64_t s = 5;
    for (int i = 0; i < 4 * 64; i++)
        x[i] = fer_rng_normal(&s);
    float want[12];
    memcpy(want, fer_net_forward(m->net, x, 4, 0), sizeof want);
    const float *got = fer_net_forward(inf->net, x, 4, 0);
    float scale = 0.0f;
    for (int k = 0; k < 12; k++)
        scale = fmaxf(scale, fabsf(want[k]));
    ck_assert_float_gt(scale, 0.01f);
    for (int k = 0; k < 12; k++)
        ck_assert_msg(fabsf(got[k] - want[k]) <= 1e-4f * scale, "logit %d: folded %g, unfolded %g",
                      k, (double)got[k], (double)want[k]);
    free(buf);
    fer_model_free(inf);
    fer_model_free(m);
}
END_TEST

/*
 * The shipped model with and without Winograd (nn/winograd.c), on the committed 48x48
 * face, its mirror, four shifted copies and eight random images, one at a time and as
 * a batch. Tolerance: each Winograd conv's output differs from the old path's by
 * float rounding, measured around 3e-8 relative per layer (test_layers' kernel test);
 * six such layers and the rest of the net amplify that to about 1e-6 on logits of
 * magnitude ~4 (measured here: 1.3e-6 at largest |logit| 3.7). Asserted: 1e-5 *
 * max(1, largest |logit|), ~30x above (a 1e-4 slip in one filter-transform entry
 * shows as 2e-4 here). Top-1 must be identical wherever the top two logits are further apart
 * than twice that (all of these inputs, as it happens; at least 12 are required).
 */
START_TEST(test_winograd_default_model)
{
    char path[4096];
    const char *root = getenv("FER_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    snprintf(path, sizeof path, "%s/models/default.fermodel", root);
    fer_error err = {0};
    fer_model *m = NULL;
    ck_assert_msg(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    fer_net *net = m->net;
    ck_assert(net->wino_ready);
    int nwino = 0;
    for (int i = 0; i < net->nlayers; i++)
        nwino += net->layers[i].wino != NULL;
    ck_assert_int_ge(nwino, 4);
    ck_assert_ptr_null(net->layers[0].wino); // C = 1: the old path (fer_wino_pays)
    // A prepared model is never written back (its weights are folded, the Winograd
    // copy is not a tensor at all).
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_lt(fer_model_save_mem(m, &buf, &len, &err), 0);
    free(buf);

    const fer_layer *l0 = &net->layers[0];
    ck_assert(l0->ic == 1 && l0->ih == 48 && l0->iw == 48);
    snprintf(path, sizeof path, "%s/tests/fixtures/face48_cv2.png", root);
    fer_image face = {0};
    ck_assert_msg(fer_image_read(&face, path, 1, &err) == 0, "%s", err.msg);
    ck_assert(face.w == 48 && face.h == 48 && face.channels == 1);
    enum { N = 14, HW = 48 * 48 };
    static float x[N * HW];
    uint64_t rng = 11;
    for (int i = 0; i < N; i++) {
        const int dx[] = {0, 0, 2, -2, 0, 0}, dy[] = {0, 0, 0, 0, 2, -2};
        for (int y = 0; y < 48; y++) {
            for (int xx = 0; xx < 48; xx++) {
                float v;
                if (i < 6) {
                    int sx = i == 1 ? 47 - xx : xx - dx[i], sy = y - dy[i];
                    sx = sx < 0 ? 0 : sx > 47 ? 47 : sx;
                    sy = sy < 0 ? 0 : sy > 47 ? 47 : sy;
                    v = (face.data[sy * 48 + sx] / 255.0f - m->pre.mean) / m->pre.std;
                } else {
                    v = 4.0f * fer_rng_uniform(&rng) - 2.0f;
                }
                x[i * HW + y * 48 + xx] = v;
            }
        }
    }
    fer_image_free(&face);

    const int C = m->net->arch->nclasses;
    float ref[N * 8], got[N * 8], batch[N * 8];
    ck_assert_int_le(C, 8);
    for (int pass = 0; pass < 2; pass++) {
        net->wino_off = pass == 0;
        for (int i = 0; i < N; i++)
            memcpy((pass ? got : ref) + i * C, fer_net_forward(net, x + i * HW, 1, 0),
                   (size_t)C * sizeof(float));
    }
    memcpy(batch, fer_net_forward(net, x, N, 0), (size_t)N * C * sizeof(float));
    float scale = 1.0f, worst = 0.0f;
    for (int k = 0; k < N * C; k++)
        scale = fmaxf(scale, fabsf(ref[k]));
    const float tol = 1e-5f * scale;
    int decided = 0;
    for (int i = 0; i < N; i++) {
        int a = 0, b = 0;
        for (int c = 0; c < C; c++) {
            const float d = fabsf(got[i * C + c] - ref[i * C + c]);
            worst = fmaxf(worst, d);
            ck_assert_msg(d <= tol && fabsf(batch[i * C + c] - ref[i * C + c]) <= tol,
                          "input %d logit %d: winograd %g (batch %g), old path %g (tol %g)", i,
                          c, (double)got[i * C + c], (double)batch[i * C + c],
                          (double)ref[i * C + c], (double)tol);
            a = got[i * C + c] > got[i * C + a] ? c : a;
            b = ref[i * C + c] > ref[i * C + b] ? c : b;
        }
        float second = -1e30f;
        for (int c = 0; c < C; c++)
            if (c != b)
                second = fmaxf(second, ref[i * C + c]);
        if (ref[i * C + b] - second > 2 * tol) {
            decided++;
            ck_assert_msg(a == b, "input %d: top-1 %d with winograd, %d without", i, a, b);
        }
    }
    ck_assert_int_ge(decided, 12);
    printf("winograd on the default model: %d inputs, max |logit difference| %.3g "
           "(largest |logit| %.3g, tolerance %.3g)\n", N, (double)worst, (double)scale,
           (double)tol);
    fer_model_free(m);
}
END_TEST

/* ---- header edits for the bad-file cases ---- */

static void edit_bad_json(cJSON *j) { (void)j; } /* replaced by raw text below */
static void edit_no_classes(cJSON *j) { cJSON_DeleteItemFromObject(j, "classes"); }
static void edit_no_data_bytes(cJSON *j) { cJSON_DeleteItemFromObject(j, "data_bytes"); }
static void edit_classes_type(cJSON *j)
{
    cJSON_ReplaceItemInObject(j, "classes", cJSON_CreateString("a,b,c"));
}
static void edit_unknown_layer(cJSON *j)
{
    cJSON_ReplaceItemInObject(j, "arch", cJSON_CreateString(
        "[net]\ninput = 1x8x8\n[conv]\nfilters = 4\nsize = 3\n[conv3d]\n[fc]\noutputs = 3\n"));
}
static void edit_bad_arch(cJSON *j)
{
    cJSON_ReplaceItemInObject(j, "arch", cJSON_CreateString("[net]\ninput = 1x8x8\n[fc]\n"));
}
static cJSON *tensor(cJSON *j, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tensors"), i);
}
static void edit_tensor_size(cJSON *j)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(tensor(j, 0), "shape"), 3, cJSON_CreateNumber(2));
}
static void edit_tensor_shape(cJSON *j)
{
    cJSON *s = cJSON_CreateArray();
    cJSON_AddItemToArray(s, cJSON_CreateNumber(36));
    cJSON_ReplaceItemInObject(tensor(j, 0), "shape", s);
}
static void edit_tensor_unknown(cJSON *j)
{
    cJSON_ReplaceItemInObject(tensor(j, 1), "name", cJSON_CreateString("1.gamma"));
}
static void edit_tensor_repeated(cJSON *j)
{
    cJSON_ReplaceItemInObject(tensor(j, 2), "name", cJSON_CreateString("1.weight"));
}
static void edit_tensor_missing(cJSON *j)
{
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "tensors"), 12);
}
static void edit_tensor_offset(cJSON *j)
{
    cJSON_ReplaceItemInObject(tensor(j, 1), "offset", cJSON_CreateNumber(148));
}
static void edit_tensor_dtype(cJSON *j)
{
    cJSON_ReplaceItemInObject(tensor(j, 0), "dtype", cJSON_CreateString("f16"));
}
static void edit_class_count(cJSON *j)
{
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "classes"), 2);
}
static void edit_class_names(cJSON *j)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(j, "classes"), 1, cJSON_CreateString("z"));
}
static void edit_resize(cJSON *j)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "preprocess"), "resize",
                              cJSON_CreateString("cubic"));
}
static void set_pre(cJSON *j, const char *key, cJSON *v)
{
    cJSON *pre = cJSON_GetObjectItem(j, "preprocess");
    cJSON_DeleteItemFromObject(pre, key);
    if (v)
        cJSON_AddItemToObject(pre, key, v);
}
static void edit_contrast_name(cJSON *j)
{
    set_pre(j, "grey", cJSON_CreateTrue());
    set_pre(j, "contrast", cJSON_CreateString("gamma"));
}
static void edit_contrast_colour(cJSON *j)
{
    set_pre(j, "contrast", cJSON_CreateString("histeq")); /* make_model's model is colour */
}
static void edit_clahe_no_clip(cJSON *j)
{
    set_pre(j, "grey", cJSON_CreateTrue());
    set_pre(j, "contrast", cJSON_CreateString("clahe"));
    set_pre(j, "clahe_tiles", cJSON_CreateNumber(8));
}
static void edit_clahe_tiles(cJSON *j)
{
    set_pre(j, "grey", cJSON_CreateTrue());
    set_pre(j, "contrast", cJSON_CreateString("clahe"));
    set_pre(j, "clahe_clip", cJSON_CreateNumber(2));
    set_pre(j, "clahe_tiles", cJSON_CreateNumber(17));
}
static void edit_calib_temperature(cJSON *j)
{
    cJSON *c = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddNumberToObject(c, "temperature", 0);
}
static void edit_calib_figure(cJSON *j)
{
    cJSON *c = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddNumberToObject(c, "temperature", 1.5);
    cJSON_AddStringToObject(c, "nll_after", "low");
}
static void edit_meta_type(cJSON *j)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "meta"), "epochs", cJSON_CreateString("30"));
}

typedef struct edit_case {
    const char *what;
    void (*edit)(cJSON *);
    int code;
    const char *needle;
} edit_case;

static const edit_case edits[] = {
    {"malformed header JSON", edit_bad_json, FER_E_HEADER, "not valid JSON"},
    {"missing field", edit_no_classes, FER_E_HEADER, "\"classes\" missing"},
    {"missing data_bytes", edit_no_data_bytes, FER_E_HEADER, "\"data_bytes\" missing"},
    {"field of the wrong type", edit_classes_type, FER_E_HEADER, "not an array"},
    {"bad preprocess value", edit_resize, FER_E_HEADER, "preprocess.resize"},
    {"bad meta type", edit_meta_type, FER_E_HEADER, "meta.epochs"},
    {"calibration temperature 0", edit_calib_temperature, FER_E_HEADER,
     "calibration.temperature"},
    {"calibration figure not a number", edit_calib_figure, FER_E_HEADER, "calibration.nll_after"},
    {"unknown contrast step", edit_contrast_name, FER_E_HEADER, "preprocess.contrast is not one"},
    {"contrast step on colour", edit_contrast_colour, FER_E_HEADER, "needs a grey model"},
    {"clahe without clip", edit_clahe_no_clip, FER_E_HEADER, "preprocess.clahe_clip"},
    {"clahe grid too fine", edit_clahe_tiles, FER_E_HEADER, "preprocess.clahe_tiles"},
    {"unknown layer in arch", edit_unknown_layer, FER_E_LAYER, "arch:6: unknown layer [conv3d]"},
    {"bad arch", edit_bad_arch, FER_E_ARCH, "arch:3:"},
    {"tensor size mismatch", edit_tensor_size, FER_E_TENSOR,
     "tensor 0.weight has 24 floats, the architecture needs 36"},
    {"tensor shape mismatch", edit_tensor_shape, FER_E_TENSOR, "has shape [36]"},
    {"unknown tensor", edit_tensor_unknown, FER_E_TENSOR, "unknown tensor \"1.gamma\""},
    {"repeated tensor", edit_tensor_repeated, FER_E_TENSOR, "1.weight listed twice"},
    {"missing tensor", edit_tensor_missing, FER_E_TENSOR, "tensor 8.bias missing"},
    {"wrong offset", edit_tensor_offset, FER_E_TENSOR, "at offset 148, expected 144"},
    {"wrong dtype", edit_tensor_dtype, FER_E_TENSOR, "dtype \"f16\""},
    {"class count mismatch", edit_class_count, FER_E_CLASSES, "2 classes, the output layer has 3"},
    {"class names differ", edit_class_names, FER_E_CLASSES, "\"z\" in the header but \"b\""},
};

START_TEST(test_bad_files)
{
    size_t len;
    uint8_t *valid = valid_bytes(&len);
    uint8_t *b = malloc(len + 16);
    const uint32_t h = rd32(valid + 12);
    const size_t d = (16 + h + 63) / 64 * 64;
    char *msgs[64];
    int nmsg = 0;

    // The valid file loads.
    fer_model *m = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_model_load_mem(&m, valid, len, "ok", 1, 0, &err) == 0, "%s", err.msg);
    fer_model_free(m);

    // Missing file.
    make_tmp();
    char path[512];
    snprintf(path, sizeof path, "%s/missing.fermodel", tmpdir);
    ck_assert_int_eq(fer_model_load(&m, path, 1, 0, &err), -ENOENT);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    msgs[nmsg++] = strdup(err.msg);
    remove_tmp();

    memcpy(b, valid, len);
    b[0] = 'X';
    msgs[nmsg++] = expect_fail(b, len, FER_E_NOT_MODEL, "bad magic", "bad magic");

    memcpy(b, valid, len);
    wr32(b + 8, 2);
    msgs[nmsg++] = expect_fail(b, len, FER_E_VERSION, "format version 2, this build reads 1",
                               "version 2");

    // Truncated: inside the magic, the fixed header, the JSON, the padding, the data, the CRC.
    const size_t cuts[] = {5, 13, 16 + h / 2, 16 + h + 1, d + 10, len - 2};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        char *msg = expect_fail(valid, cuts[c], FER_E_TRUNCATED, "truncated", "truncated");
        if (c == 4)
            msgs[nmsg++] = msg; // one representative for the distinctness check
        else
            free(msg);
    }

    memcpy(b, valid, len);
    b[d + 7] ^= 0x10; // one data byte
    msgs[nmsg++] = expect_fail(b, len, FER_E_CHECKSUM, "checksum mismatch", "checksum");
    memcpy(b, valid, len);
    b[20] ^= 0x01; // one header byte: still the checksum that reports it
    free(expect_fail(b, len, FER_E_CHECKSUM, "checksum mismatch", "header byte"));

    memcpy(b, valid, len);
    memset(b + len, 0xAB, 5);
    msgs[nmsg++] = expect_fail(b, len + 5, FER_E_TRAILING, "5 unexpected bytes", "trailing");

    // Header length out of range.
    memcpy(b, valid, len);
    wr32(b + 12, 0);
    msgs[nmsg++] = expect_fail(b, len, FER_E_HEADER, "header length 0", "zero header length");

    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        size_t blen;
        uint8_t *bad;
        if (edits[k].edit == edit_bad_json) {
            cJSON *j = header_of(valid);
            char *txt = cJSON_PrintUnformatted(j);
            txt[strlen(txt) - 1] = ','; // lose the closing brace
            bad = rebuild(valid, len, txt, &blen);
            cJSON_free(txt);
            cJSON_Delete(j);
        } else {
            bad = rewrite(valid, len, edits[k].edit, &blen);
        }
        msgs[nmsg++] = expect_fail(bad, blen, edits[k].code, edits[k].needle, edits[k].what);
        free(bad);
    }

    for (int i = 0; i < nmsg; i++)
        for (int j = i + 1; j < nmsg; j++)
            ck_assert_msg(strcmp(msgs[i], msgs[j]), "two cases share the message '%s'", msgs[i]);
    for (int i = 0; i < nmsg; i++)
        free(msgs[i]);
    free(b);
    free(valid);
}
END_TEST

START_TEST(test_not_a_model)
{
    free(expect_fail((const uint8_t *)"", 0, FER_E_NOT_MODEL, "not a .fermodel", "empty"));
    free(expect_fail((const uint8_t *)"[net]\ninput = 1x8x8\n", 20, FER_E_NOT_MODEL,
                     "bad magic", "an arch file"));
    free(expect_fail((const uint8_t *)"FERM", 4, FER_E_TRUNCATED, "truncated", "magic prefix"));
}
END_TEST

/* Damage anywhere, with the checksum repaired so validation past it is exercised too:
 * loading must fail cleanly or succeed, never crash (the sanitizer build checks reads). */
START_TEST(test_mutations)
{
    size_t len;
    uint8_t *valid = valid_bytes(&len);
    const uint32_t h = rd32(valid + 12);
    uint8_t *b = malloc(len);
    uint64_t s = 2024;
    int ok = 0, codes[8] = {0};
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(b, valid, len);
        int flips = 1 + (int)(fer_rng_next(&s) % 3);
        for (int f = 0; f < flips; f++) {
            uint64_t x = fer_rng_next(&s);
            // Mostly the header, where the structure is; sometimes anywhere.
            size_t at = (x & 3) ? 16 + (x >> 8) % h : (x >> 8) % len;
            static const char pool[] = "{}[]\",:0123456789-.e \\nx";
            b[at] = (x & 16) ? (uint8_t)pool[(x >> 40) % (sizeof pool - 1)] : (uint8_t)(x >> 48);
        }
        if (iter % 2)
            wr32(b + len - 4, (uint32_t)crc32(0, b, (uInt)(len - 4)));
        uint8_t *exact = malloc(len);
        memcpy(exact, b, len);
        fer_model *m = NULL;
        fer_error err = {0};
        int r = fer_model_load_mem(&m, exact, len, "mut", 1, iter % 3 ? 0 : FER_LOAD_INFER, &err);
        free(exact);
        if (r == 0) {
            ok++;
            fer_model_free(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_int_eq(err.code, r);
            ck_assert_msg(!strncmp(err.msg, "mut", 3), "message '%s'", err.msg);
            if (r <= FER_E_BASE + 7 && r >= FER_E_BASE)
                codes[r - FER_E_BASE]++;
        }
    }
    // The damage reached several stages, not just the checksum.
    ck_assert_int_gt(codes[FER_E_CHECKSUM - FER_E_BASE], 0);
    ck_assert_int_gt(codes[FER_E_HEADER - FER_E_BASE], 0);
    (void)ok;
    free(b);
    free(valid);
}
END_TEST

/* The contrast step in the header: written only when there is one (a model without
 * one has the bytes it had before the key existed), read back exactly, CLAHE's
 * settings with it, and an invalid setting refused on save. */
START_TEST(test_contrast_round_trip)
{
    fer_model *m = make_model(0);
    m->pre.grey = 1;
    fer_error err = {0};
    for (int mode = FER_CONTRAST_NONE; mode <= FER_CONTRAST_CLAHE; mode++) {
        fer_contrast_init(&m->pre.contrast, mode);
        m->pre.contrast.clip = 2.5f;
        m->pre.contrast.tiles = 4;
        uint8_t *buf = NULL;
        size_t len = 0;
        ck_assert_msg(fer_model_save_mem(m, &buf, &len, &err) == 0, "%s", err.msg);
        cJSON *j = header_of(buf);
        const cJSON *pre = cJSON_GetObjectItem(j, "preprocess");
        const cJSON *c = cJSON_GetObjectItem(pre, "contrast");
        if (mode == FER_CONTRAST_NONE)
            ck_assert_ptr_null(c);
        else
            ck_assert_str_eq(c->valuestring, fer_contrast_name(mode));
        ck_assert_int_eq(cJSON_HasObjectItem(pre, "clahe_clip"), mode == FER_CONTRAST_CLAHE);
        ck_assert_int_eq(cJSON_HasObjectItem(pre, "clahe_tiles"), mode == FER_CONTRAST_CLAHE);
        cJSON_Delete(j);
        fer_model *l = NULL;
        ck_assert_msg(fer_model_load_mem(&l, buf, len, "c", 1, 0, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(l->pre.contrast.mode, mode);
        if (mode == FER_CONTRAST_CLAHE) {
            ck_assert_float_eq(l->pre.contrast.clip, 2.5f);
            ck_assert_int_eq(l->pre.contrast.tiles, 4);
        }
        fer_model_free(l);
        free(buf);
    }
    /* "none" written out by another tool reads as no step. */
    ck_assert_int_eq(fer_contrast_parse("none"), FER_CONTRAST_NONE);
    ck_assert_int_eq(fer_contrast_parse("CLAHE"), -1);
    uint8_t *buf = NULL;
    size_t len = 0;
    m->pre.contrast.tiles = 0;
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "contrast"));
    fer_contrast_init(&m->pre.contrast, FER_CONTRAST_HISTEQ);
    m->pre.grey = 0;
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), -EINVAL);
    ck_assert_ptr_null(buf);
    fer_model_free(m);
}
END_TEST

/* The calibration block: absent on a model without one (and read as T = 1), written
 * and read back exactly with its figures, and a bad temperature refused on save. */
START_TEST(test_calibration_round_trip)
{
    fer_model *m = make_model(0);
    fer_error err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    memset(&m->calib, 0, sizeof m->calib); /* a zeroed model: no calibration */
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), 0);
    cJSON *j = header_of(buf);
    ck_assert(!cJSON_HasObjectItem(j, "calibration"));
    cJSON_Delete(j);
    fer_model *l = NULL;
    ck_assert_int_eq(fer_model_load_mem(&l, buf, len, "c", 1, 0, &err), 0);
    ck_assert_float_eq(l->calib.temperature, 1.0f);
    ck_assert_str_eq(l->calib.split, "");
    fer_model_free(l);
    free(buf);

    fer_calibration_init(&m->calib);
    m->calib.temperature = 1.37f;
    strcpy(m->calib.split, "PublicTest");
    m->calib.nll_before = 0.95f;
    m->calib.nll_after = 0.91f;
    m->calib.ece_before = 0.041f;
    m->calib.ece_after = 0.012f;
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), 0);
    ck_assert_int_eq(fer_model_load_mem(&l, buf, len, "c", 1, 0, &err), 0);
    ck_assert_float_eq(l->calib.temperature, 1.37f);
    ck_assert_str_eq(l->calib.split, "PublicTest");
    ck_assert_float_eq(l->calib.nll_before, 0.95f);
    ck_assert_float_eq(l->calib.nll_after, 0.91f);
    ck_assert_float_eq(l->calib.ece_before, 0.041f);
    ck_assert_float_eq(l->calib.ece_after, 0.012f);
    /* fer_model_probs applies it: logits (0, 0, 1.37 ln 2) give p2 = 2 p0. */
    float z[3] = {0.0f, 0.0f, 1.37f * logf(2.0f)}, p[3];
    fer_model_probs(l, p, z, 1);
    ck_assert_float_eq_tol(p[2], 0.5f, 1e-6f);
    ck_assert_float_eq_tol(p[0], 0.25f, 1e-6f);
    fer_model_free(l);
    free(buf);

    m->calib.temperature = 1000.0f;
    ck_assert_int_eq(fer_model_save_mem(m, &buf, &len, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "temperature"));
    fer_model_free(m);
}
END_TEST

START_TEST(test_defaults)
{
    fer_preproc p;
    fer_preproc_default(&p);
    ck_assert_float_eq(p.margin, 0.0f);
    ck_assert_int_eq(p.square, 1);
    ck_assert_int_eq(p.grey, 1);
    ck_assert_str_eq(p.resize, "area");
    ck_assert_int_eq(p.contrast.mode, FER_CONTRAST_NONE);
    ck_assert_float_eq(p.mean, 0.5f);
    ck_assert_float_eq(p.std, 0.25f);
    fer_meta t;
    fer_meta_init(&t);
    ck_assert_float_lt(t.val_acc, 0.0f);
    ck_assert_float_lt(t.test_acc, 0.0f);
    ck_assert_int_eq(t.epochs, 0);
    ck_assert_str_eq(t.dataset, "");
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("file");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_contrast_round_trip);
    tcase_add_test(tc, test_calibration_round_trip);
    tcase_add_test(tc, test_atomic_save);
    tcase_add_test(tc, test_atomic_stream);
    tcase_add_test(tc, test_folded_logits);
    tcase_add_test(tc, test_winograd_default_model);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_not_a_model);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
