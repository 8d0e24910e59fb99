/*
 * vision_util.c — see vision_util.h.
 */
#include "vision_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/arch.h"
#include "scratch.h"

char tu_dir[256];

void tu_setup(void)
{
    scratch_make(tu_dir, sizeof tu_dir, "vision");
}

void tu_cleanup(void)
{
    scratch_remove(tu_dir);
}

const char *tu_path(const char *name)
{
    return scratch_path(tu_dir, name);
}

const char *tu_source(const char *rel)
{
    static char buf[2][1024];
    static int k;
    k ^= 1;
    const char *root = getenv("FER_SOURCE_ROOT");
    snprintf(buf[k], sizeof buf[k], "%s/%s", root && *root ? root : ".", rel);
    return buf[k];
}

void tu_write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

fer_image tu_face(void)
{
    fer_image img;
    fer_error err = {0};
    int rc = fer_image_read(&img, tu_source("tests/fixtures/face.png"), 0, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return img;
}

fer_image tu_blank(int w, int h, int level)
{
    fer_image img;
    ck_assert_int_eq(fer_image_alloc(&img, w, h, 3), 0);
    memset(img.data, level, (size_t)w * h * 3);
    return img;
}

void tu_paste(fer_image *frame, const fer_image *img, int x, int y)
{
    for (int r = 0; r < img->h; r++) {
        int fy = y + r;
        if (fy < 0 || fy >= frame->h)
            continue;
        for (int c = 0; c < img->w; c++) {
            int fx = x + c;
            if (fx < 0 || fx >= frame->w)
                continue;
            for (int k = 0; k < 3; k++)
                frame->data[((size_t)fy * frame->w + fx) * 3 + k] =
                    img->data[((size_t)r * img->w + c) * img->channels +
                              (img->channels == 3 ? k : 0)];
        }
    }
}

fer_model *tu_random_model(int max_batch)
{
    fer_error err = {0};
    fer_arch *arch = NULL;
    int rc = fer_arch_load(&arch, tu_source("models/default.arch"), &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_model m;
    memset(&m, 0, sizeof m);
    rc = fer_net_create(&m.net, arch, 1, 0, 7, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_preproc_default(&m.pre);
    fer_meta_init(&m.meta);
    const char *path = tu_path("random.fermodel");
    rc = fer_model_save(&m, path, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_net_free(m.net);
    fer_model *out = NULL;
    rc = fer_model_load(&out, path, max_batch, FER_LOAD_INFER, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return out;
}
