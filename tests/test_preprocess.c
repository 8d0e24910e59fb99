/*
 * test_preprocess.c — crop geometry, edge handling, area and bilinear
 * resampling, grey conversion and normalisation against hand-computed values.
 *
 * The test frame holds v(x, y) = 40 y + 4 x, so every expected pixel below can be
 * checked by hand from the definitions in src/vision/preprocess.h.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/contrast.h"
#include "vision/preprocess.h"

static fer_image ramp(void)
{
    fer_image img;
    ck_assert_int_eq(fer_image_alloc(&img, 6, 6, 1), 0);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++)
            img.data[y * 6 + x] = (uint8_t)(40 * y + 4 * x);
    return img;
}

static void expect_bytes(const uint8_t *got, const int *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "pixel %d: got %d, want %d", i, got[i], want[i]);
}

START_TEST(t_crop_box)
{
    fer_preproc p;
    fer_preproc_default(&p);
    fer_box c = fer_crop_box((fer_box){1, 1, 4, 2}, &p);
    /* Square of the larger side (4) around the centre (3, 2). */
    ck_assert_int_eq(c.x, 1);
    ck_assert_int_eq(c.y, 0);
    ck_assert_int_eq(c.w, 4);
    ck_assert_int_eq(c.h, 4);
    p.margin = 0.25f; /* 4 x 2 grows to 6 x 3, squared to 6 x 6 */
    c = fer_crop_box((fer_box){1, 1, 4, 2}, &p);
    ck_assert_int_eq(c.x, 0);
    ck_assert_int_eq(c.y, -1);
    ck_assert_int_eq(c.w, 6);
    ck_assert_int_eq(c.h, 6);
    p.square = 0;
    c = fer_crop_box((fer_box){10, 20, 40, 20}, &p); /* 60 x 30 around (30, 30) */
    ck_assert_int_eq(c.x, 0);
    ck_assert_int_eq(c.y, 15);
    ck_assert_int_eq(c.w, 60);
    ck_assert_int_eq(c.h, 30);
}
END_TEST

START_TEST(t_area_shrink)
{
    fer_image f = ramp();
    uint8_t out[4];
    fer_error err;
    ck_assert_int_eq(fer_crop_resample(out, 2, 2, &f, (fer_box){1, 1, 4, 4}, 1, &err), 0);
    /* Means of the 2x2 blocks: (44+48+84+88)/4, ... */
    expect_bytes(out, (const int[]){66, 74, 146, 154}, 4);

    /* 3 -> 2 pixels along x: weights (2/3, 1/3) and (1/3, 2/3). Row 0 is 0, 4, 8 -> 1.33, 6.67. */
    uint8_t row[2];
    ck_assert_int_eq(fer_crop_resample(row, 2, 1, &f, (fer_box){0, 5, 3, 1}, 1, &err), 0);
    /* Row 5: 200, 204, 208 -> 200*2/3 + 204/3 = 201.33, 204/3 + 208*2/3 = 206.67. */
    expect_bytes(row, (const int[]){201, 207}, 2);
    fer_image_free(&f);
}
END_TEST

START_TEST(t_bilinear_enlarge)
{
    fer_image f = ramp();
    uint8_t out[16];
    fer_error err;
    /* 2x2 (0, 4 / 40, 44) to 4x4: source positions -0.25 (edge), 0.25, 0.75, 1.25 (edge). */
    ck_assert_int_eq(fer_crop_resample(out, 4, 4, &f, (fer_box){0, 0, 2, 2}, 1, &err), 0);
    expect_bytes(out, (const int[]){0, 1, 3, 4, 10, 11, 13, 14, 30, 31, 33, 34, 40, 41, 43, 44},
                 16);
    /* "linear" gives the same when enlarging. */
    uint8_t lin[16];
    ck_assert_int_eq(fer_crop_resample(lin, 4, 4, &f, (fer_box){0, 0, 2, 2}, 0, &err), 0);
    ck_assert_mem_eq(out, lin, 16);
    /* ... but samples instead of averaging when shrinking: 4 -> 2 reads positions 0.5, 2.5. */
    uint8_t l2[2];
    ck_assert_int_eq(fer_crop_resample(l2, 2, 1, &f, (fer_box){0, 0, 4, 1}, 0, &err), 0);
    expect_bytes(l2, (const int[]){2, 10}, 2);
    fer_image_free(&f);
}
END_TEST

START_TEST(t_edges_repeat)
{
    fer_image f = ramp();
    uint8_t out[16];
    fer_error err;
    /* Two pixels past the top-left corner: the corner pixel repeats. */
    ck_assert_int_eq(fer_crop_resample(out, 4, 4, &f, (fer_box){-2, -2, 4, 4}, 1, &err), 0);
    expect_bytes(out, (const int[]){0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 40, 40, 40, 44}, 16);
    /* Past the bottom-right corner. */
    ck_assert_int_eq(fer_crop_resample(out, 4, 4, &f, (fer_box){4, 4, 4, 4}, 1, &err), 0);
    expect_bytes(out, (const int[]){176, 180, 180, 180, 216, 220, 220, 220, 216, 220, 220, 220,
                                    216, 220, 220, 220}, 16);
    /* Entirely outside: every pixel is the nearest corner. */
    ck_assert_int_eq(fer_crop_resample(out, 2, 2, &f, (fer_box){100, -50, 8, 8}, 1, &err), 0);
    expect_bytes(out, (const int[]){20, 20, 20, 20}, 4);
    fer_image_free(&f);
}
END_TEST

START_TEST(t_bad_sizes)
{
    fer_image f = ramp();
    uint8_t out[4];
    fer_error err;
    ck_assert_int_eq(fer_crop_resample(out, 0, 2, &f, (fer_box){0, 0, 2, 2}, 1, &err), -EINVAL);
    ck_assert_int_eq(fer_crop_resample(out, 2, 2, &f, (fer_box){0, 0, 0, 2}, 1, &err), -EINVAL);
    fer_image empty = {0};
    ck_assert_int_eq(fer_crop_resample(out, 2, 2, &empty, (fer_box){0, 0, 2, 2}, 1, &err),
                     -EINVAL);
    fer_image_free(&f);
}
END_TEST

START_TEST(t_grey)
{
    const uint8_t bgr[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 255, 255, 255};
    uint8_t g[5];
    fer_grey_from_bgr(g, bgr, 5);
    /* (B 1868 + G 9617 + R 4899 + 8192) >> 14, OpenCV's BGR2GRAY. */
    expect_bytes(g, (const int[]){29, 150, 76, 22, 255}, 5);
    fer_image c, d = {0};
    ck_assert_int_eq(fer_image_alloc(&c, 5, 1, 3), 0);
    memcpy(c.data, bgr, sizeof bgr);
    fer_error err;
    ck_assert_int_eq(fer_image_to_grey(&d, &c, &err), 0);
    ck_assert_int_eq(d.channels, 1);
    ck_assert_mem_eq(d.data, g, 5);
    fer_image_free(&c);
    fer_image_free(&d);
}
END_TEST

START_TEST(t_face_to_input)
{
    /* The whole chain on the ramp: box (1,1,4,4), default preprocessing (no margin,
     * square, grey, area, mean 0.5, std 0.25), a 2x2 "network". */
    fer_image f = ramp();
    fer_preproc p;
    fer_preproc_default(&p);
    float in[4];
    uint8_t scratch[12];
    fer_error err;
    ck_assert_int_eq(fer_preprocess_face(in, scratch, 1, 2, 2, &f, (fer_box){1, 1, 4, 4}, &p,
                                         &err), 0);
    const uint8_t crop[4] = {66, 74, 146, 154};
    float want[4];
    fer_normalise(want, crop, 4, 0.5f, 0.25f); /* the function training uses */
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq_tol(in[i], want[i], 1e-6);
        ck_assert_float_eq_tol(in[i], (crop[i] / 255.0f - 0.5f) / 0.25f, 1e-5);
    }
    /* Grey network, colour frame: grey is taken of the resampled crop. */
    fer_image c;
    ck_assert_int_eq(fer_image_alloc(&c, 6, 6, 3), 0);
    for (int i = 0; i < 36; i++)
        c.data[3 * i] = c.data[3 * i + 1] = c.data[3 * i + 2] = f.data[i];
    float in2[4];
    ck_assert_int_eq(fer_preprocess_face(in2, scratch, 1, 2, 2, &c, (fer_box){1, 1, 4, 4}, &p,
                                         &err), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(in2[i], want[i], 1e-6);
    /* A colour network: planes R, G, B. */
    for (int i = 0; i < 36; i++) {
        c.data[3 * i] = 10;      /* B */
        c.data[3 * i + 1] = 20;  /* G */
        c.data[3 * i + 2] = 30;  /* R */
    }
    p.grey = 0;
    float in3[12];
    ck_assert_int_eq(fer_preprocess_face(in3, scratch, 3, 2, 2, &c, (fer_box){1, 1, 4, 4}, &p,
                                         &err), 0);
    const float r = (30 / 255.0f - 0.5f) / 0.25f, b = (10 / 255.0f - 0.5f) / 0.25f;
    ck_assert_float_eq_tol(in3[0], r, 1e-5);
    ck_assert_float_eq_tol(in3[11], b, 1e-5);
    /* Channel count and preprocessing must agree. */
    ck_assert_int_eq(fer_preprocess_face(in3, scratch, 1, 2, 2, &c, (fer_box){1, 1, 4, 4}, &p,
                                         &err), -EINVAL);
    fer_image_free(&c);
    fer_image_free(&f);
}
END_TEST

/* ---- contrast normalisation (vision/contrast.h) ------------------------------ */

START_TEST(t_histeq_hand)
{
    /* hist: 10 x2, 20, 30. The darkest level maps to 0; scale 255 / (4 - 2) = 127.5;
     * 20 -> round(127.5) = 128 (half to even), 30 -> 255. */
    uint8_t a[4] = {10, 20, 10, 30};
    fer_histeq(a, 4);
    expect_bytes(a, (const int[]){0, 128, 0, 255}, 4);
    /* One grey level: left as it is (OpenCV's rule). */
    uint8_t b[3] = {7, 7, 7};
    fer_histeq(b, 3);
    expect_bytes(b, (const int[]){7, 7, 7}, 3);
    /* Monotone: a brighter, stretched copy of an image equalises to the same bytes. */
    uint8_t c[64], d[64];
    for (int i = 0; i < 64; i++) {
        c[i] = (uint8_t)((i * 37) % 64);
        d[i] = (uint8_t)(100 + 2 * c[i]);
    }
    fer_histeq(c, 64);
    fer_histeq(d, 64);
    ck_assert_mem_eq(c, d, 64);
}
END_TEST

START_TEST(t_clahe_hand)
{
    /* One tile, no clipping: LUT = round(cdf * 255 / 4), cdf counting the level itself,
     * so unlike histeq the darkest level does not go to 0: 0 -> 64 (63.75),
     * 50 -> 191 (191.25), 200 -> 255. */
    uint8_t a[4] = {0, 50, 50, 200};
    ck_assert_int_eq(fer_clahe(a, 2, 2, 0.0f, 1), 0);
    expect_bytes(a, (const int[]){64, 191, 191, 255}, 4);

    /* One 4x4 tile, clip 32: limit int(32 * 16 / 256) = 2. Level 100 x12 and 200 x4 clip
     * 10 + 2 = 12 pixels; 12 / 256 = 0 per bin, remainder 12 one by one from bin 0 in
     * steps of 256 / 12 = 21 (bins 0, 21, ..., 231). cdf(100) = 5 + 2 = 7 -> round(7 *
     * 255 / 16 = 111.56) = 112; cdf(200) = 10 + 2 + 2 = 14 -> round(223.125) = 223. */
    uint8_t b[16];
    for (int i = 0; i < 16; i++)
        b[i] = i < 12 ? 100 : 200;
    ck_assert_int_eq(fer_clahe(b, 4, 4, 32.0f, 1), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(b[i], i < 12 ? 112 : 223);

    /* Grids the face cannot take, and bad settings. */
    uint8_t c[48 * 48] = {0};
    ck_assert_int_eq(fer_clahe(c, 48, 48, 2.0f, 0), -EINVAL);
    ck_assert_int_eq(fer_clahe(c, 48, 48, 2.0f, FER_CLAHE_MAX_TILES + 1), -EINVAL);
    ck_assert_int_eq(fer_clahe(c, 48, 48, -1.0f, 8), -EINVAL);
    ck_assert_int_eq(fer_clahe(c, 48, 48, NAN, 8), -EINVAL);
    ck_assert_int_eq(fer_clahe(c, 15, 48, 2.0f, 8), -EINVAL);
    ck_assert_int_eq(fer_clahe(c, 16, 16, 2.0f, 8), 0);
    fer_contrast bad = {.mode = 7};
    ck_assert_int_eq(fer_contrast_apply(c, 48, 48, &bad), -EINVAL);
}
END_TEST

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parity with OpenCV: every case of the fixture (tools/contrast_fixture.py: cv2's
 * equalizeHist and CLAHE on faces, noise, ramps, odd sizes and grids) must come out
 * byte for byte. $FER_CONTRAST_FIXTURE names a freshly drawn one (the live test). */
START_TEST(t_contrast_matches_opencv)
{
    char path[1024];
    const char *env = getenv("FER_CONTRAST_FIXTURE");
    if (env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/tests/fixtures/contrast/cases.bin",
                 getenv("FER_SOURCE_ROOT") ? getenv("FER_SOURCE_ROOT") : ".");
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    ck_assert_msg(len >= 12 && !memcmp(buf, "FERCTR1", 8), "%s: not a contrast fixture", path);
    uint32_t n = le32(buf + 8);
    size_t off = 12;
    int checked[3] = {0};
    for (uint32_t k = 0; k < n; k++) {
        ck_assert_msg(off + 20 <= (size_t)len, "%s: case %u truncated", path, k);
        uint32_t h = le32(buf + off), w = le32(buf + off + 4), mode = le32(buf + off + 8);
        uint32_t cu = le32(buf + off + 12), tiles = le32(buf + off + 16);
        float clip;
        memcpy(&clip, &cu, 4);
        off += 20;
        size_t npx = (size_t)h * w;
        ck_assert_msg(h <= 4096 && w <= 4096 && off + 2 * npx <= (size_t)len,
                      "%s: case %u truncated", path, k);
        uint8_t *img = malloc(npx);
        memcpy(img, buf + off, npx);
        fer_contrast c = {.mode = (int)mode, .clip = clip, .tiles = (int)tiles};
        ck_assert_int_eq(fer_contrast_apply(img, (int)h, (int)w, &c), 0);
        size_t differ = 0, first = 0;
        for (size_t i = 0; i < npx; i++)
            if (img[i] != buf[off + npx + i] && !differ++)
                first = i;
        ck_assert_msg(differ == 0, "case %u (%ux%u %s clip %g tiles %u): %zu of %zu pixels "
                      "differ from OpenCV, first at %zu: %d vs %d", k, h, w,
                      fer_contrast_name((int)mode), (double)clip, tiles, differ, npx, first,
                      img[first], buf[off + npx + first]);
        checked[mode < 3 ? mode : 0]++;
        free(img);
        off += 2 * npx;
    }
    ck_assert_uint_eq(off, (size_t)len);
    ck_assert_msg(checked[1] >= 6 && checked[2] >= 30, "only %d histeq and %d clahe cases",
                  checked[1], checked[2]);
    free(buf);
}
END_TEST

/* The pipeline's path applies the model's contrast step between the grey crop and
 * the scaling, leaving the raw crop in scratch for the unchanged-face check. */
START_TEST(t_face_to_input_contrast)
{
    fer_image f = ramp();
    fer_preproc p;
    fer_preproc_default(&p);
    fer_contrast_init(&p.contrast, FER_CONTRAST_HISTEQ);
    float in[4], want[4];
    uint8_t scratch[12];
    fer_error err;
    ck_assert_int_eq(fer_preprocess_face(in, scratch, 1, 2, 2, &f, (fer_box){1, 1, 4, 4}, &p,
                                         &err), 0);
    expect_bytes(scratch, (const int[]){66, 74, 146, 154}, 4);
    /* histeq of 66, 74, 146, 154: 0, 85, 170, 255. */
    fer_normalise(want, (const uint8_t[]){0, 85, 170, 255}, 4, 0.5f, 0.25f);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(in[i], want[i]);
    /* CLAHE's grid must fit the input: 8 tiles on 2x2 is refused with the reason. */
    fer_contrast_init(&p.contrast, FER_CONTRAST_CLAHE);
    ck_assert_int_eq(fer_preprocess_face(in, scratch, 1, 2, 2, &f, (fer_box){1, 1, 4, 4}, &p,
                                         &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "clahe") && strstr(err.msg, "2x2"), "%s", err.msg);
    /* No contrast step for a colour model. */
    fer_image c;
    ck_assert_int_eq(fer_image_alloc(&c, 6, 6, 3), 0);
    memset(c.data, 9, 6 * 6 * 3);
    p.grey = 0;
    float in3[12];
    ck_assert_int_eq(fer_preprocess_face(in3, scratch, 3, 2, 2, &c, (fer_box){1, 1, 4, 4}, &p,
                                         &err), -EINVAL);
    fer_image_free(&c);
    fer_image_free(&f);
}
END_TEST

static Suite *preprocess_suite(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, t_crop_box);
    tcase_add_test(tc, t_area_shrink);
    tcase_add_test(tc, t_bilinear_enlarge);
    tcase_add_test(tc, t_edges_repeat);
    tcase_add_test(tc, t_bad_sizes);
    tcase_add_test(tc, t_grey);
    tcase_add_test(tc, t_face_to_input);
    tcase_add_test(tc, t_histeq_hand);
    tcase_add_test(tc, t_clahe_hand);
    tcase_add_test(tc, t_contrast_matches_opencv);
    tcase_add_test(tc, t_face_to_input_contrast);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(preprocess_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
