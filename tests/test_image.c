/*
 * test_image.c — fer_image allocation and the OpenCV shim's file and memory I/O.
 *
 * Every test works in its own mkdtemp directory (made and removed by a checked
 * fixture, so in Check's fork mode each test gets a fresh one) and writes the
 * images it reads; nothing outside that directory is touched.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <zlib.h>

#include "cv/image.h"
#include "util/fileio.h"
#include "scratch.h"

static char tmp[256];

static void setup(void)
{
    scratch_make(tmp, sizeof tmp, "image");
}

static void teardown(void)
{
    scratch_remove(tmp);
}

/* tmp/name (scratch.h: valid for the paths of one statement). */
static const char *at(const char *name)
{
    return scratch_path(tmp, name);
}

/* A w x h image of the given channels filled from a fixed-seed LCG. */
static fer_image random_image(int w, int h, int ch, unsigned seed)
{
    fer_image img;
    ck_assert_int_eq(fer_image_alloc(&img, w, h, ch), 0);
    for (size_t i = 0; i < (size_t)w * h * ch; i++) {
        seed = seed * 1103515245u + 12345u;
        img.data[i] = (uint8_t)(seed >> 16);
    }
    return img;
}

static void write_bytes(const char *path, const char *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(t_alloc_free)
{
    fer_image img;
    ck_assert_int_eq(fer_image_alloc(&img, 0, 5, 1), -EINVAL);
    ck_assert_ptr_null(img.data);
    ck_assert_int_eq(fer_image_alloc(&img, 5, 5, 2), -EINVAL);
    ck_assert_int_eq(fer_image_alloc(&img, 1 << 16, 1 << 16, 3), -EINVAL);
    ck_assert_int_eq(fer_image_alloc(NULL, 5, 5, 1), -EINVAL);
    ck_assert_int_eq(fer_image_alloc(&img, 3, 2, 3), 0);
    ck_assert_int_eq(img.w, 3);
    ck_assert_int_eq(img.h, 2);
    ck_assert_int_eq(img.channels, 3);
    for (int i = 0; i < 18; i++)
        ck_assert_int_eq(img.data[i], 0);
    fer_image_free(&img);
    ck_assert_ptr_null(img.data);
    fer_image_free(&img); /* twice is fine */
    fer_image_free(NULL);
}
END_TEST

START_TEST(t_png_roundtrip_exact)
{
    fer_error err;
    for (int ch = 1; ch <= 3; ch += 2) {
        fer_image a = random_image(37, 23, ch, 7u + (unsigned)ch), b;
        const char *p = at(ch == 1 ? "grey.png" : "colour.png");
        ck_assert_int_eq(fer_image_write(&a, p, &err), 0);
        ck_assert_int_eq(fer_image_read(&b, p, ch == 1, &err), 0);
        ck_assert_int_eq(b.w, 37);
        ck_assert_int_eq(b.h, 23);
        ck_assert_int_eq(b.channels, ch);
        ck_assert_mem_eq(a.data, b.data, (size_t)37 * 23 * ch);
        fer_image_free(&a);
        fer_image_free(&b);
    }
}
END_TEST

START_TEST(t_other_formats_exact)
{
    /* BMP and PGM are lossless too; extensions match in any case. */
    const char *names[] = {"a.bmp", "b.pgm", "c.PNG", "d.Bmp"};
    fer_error err;
    for (int i = 0; i < 4; i++) {
        fer_image a = random_image(20, 11, 1, 100u + (unsigned)i), b;
        ck_assert_int_eq(fer_image_write(&a, at(names[i]), &err), 0);
        ck_assert_int_eq(fer_image_read(&b, at(names[i]), 1, &err), 0);
        ck_assert_int_eq(b.w, 20);
        ck_assert_int_eq(b.h, 11);
        ck_assert_mem_eq(a.data, b.data, 20 * 11);
        fer_image_free(&a);
        fer_image_free(&b);
    }
}
END_TEST

START_TEST(t_jpeg_approx)
{
    /* A smooth gradient survives JPEG at quality 95 within a few levels. */
    fer_image a, b;
    fer_error err;
    ck_assert_int_eq(fer_image_alloc(&a, 64, 48, 1), 0);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++)
            a.data[y * 64 + x] = (uint8_t)(x * 3 + y);
    ck_assert_int_eq(fer_image_write(&a, at("g.jpg"), &err), 0);
    ck_assert_int_eq(fer_image_read(&b, at("g.jpg"), 1, &err), 0);
    ck_assert_int_eq(b.w, 64);
    ck_assert_int_eq(b.h, 48);
    ck_assert_int_eq(b.channels, 1);
    long sum = 0;
    int worst = 0;
    for (int i = 0; i < 64 * 48; i++) {
        int d = abs(a.data[i] - b.data[i]);
        sum += d;
        worst = d > worst ? d : worst;
    }
    ck_assert_msg(sum < 2 * 64 * 48, "mean abs error %.2f", sum / (64.0 * 48));
    ck_assert_int_lt(worst, 16);
    fer_image_free(&a);
    fer_image_free(&b);
}
END_TEST

START_TEST(t_grey_vs_colour)
{
    fer_error err;
    fer_image c, g, r;
    /* A colour image with B = G = R reads back grey with the same values... */
    ck_assert_int_eq(fer_image_alloc(&c, 8, 4, 3), 0);
    for (int i = 0; i < 32; i++)
        c.data[3 * i] = c.data[3 * i + 1] = c.data[3 * i + 2] = (uint8_t)(i * 7);
    ck_assert_int_eq(fer_image_write(&c, at("c.png"), &err), 0);
    ck_assert_int_eq(fer_image_read(&g, at("c.png"), 1, &err), 0);
    ck_assert_int_eq(g.channels, 1);
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(g.data[i], i * 7);
    /* ...and a grey image reads back as colour with three equal channels. */
    ck_assert_int_eq(fer_image_write(&g, at("g.png"), &err), 0);
    ck_assert_int_eq(fer_image_read(&r, at("g.png"), 0, &err), 0);
    ck_assert_int_eq(r.channels, 3);
    ck_assert_mem_eq(r.data, c.data, 96);
    fer_image_free(&c);
    fer_image_free(&g);
    fer_image_free(&r);
}
END_TEST

START_TEST(t_missing_file)
{
    fer_image img;
    fer_error err = {0};
    const char *p = at("nope.png");
    ck_assert_int_eq(fer_image_read(&img, p, 1, &err), -ENOENT);
    ck_assert_int_eq(err.code, -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_ptr_null(img.data);
    fer_image_free(&img);
    ck_assert_int_eq(fer_image_read(&img, p, 1, NULL), -ENOENT); /* err is optional */
}
END_TEST

START_TEST(t_not_an_image)
{
    fer_image img;
    fer_error err = {0};
    const char *p = at("notes.png");
    write_bytes(p, "this is text, not a PNG\n", 24);
    ck_assert_int_eq(fer_image_read(&img, p, 1, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_ptr_nonnull(strstr(err.msg, "not an image OpenCV can decode"));
    ck_assert_ptr_null(img.data);

    p = at("empty.jpg");
    write_bytes(p, "", 0);
    ck_assert_int_eq(fer_image_read(&img, p, 1, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, p));

    /* A directory is not an image either. */
    ck_assert_int_eq(fer_image_read(&img, tmp, 1, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
}
END_TEST

/* Writes a to tmp/name, then cuts the file to half its size. */
static const char *write_truncated(const fer_image *a, const char *name)
{
    fer_error err;
    const char *p = at(name);
    ck_assert_int_eq(fer_image_write(a, p, &err), 0);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size / 2), 0);
    return p;
}

START_TEST(t_truncated_image)
{
    /* Half a PNG, BMP or PGM is caught by the shim's structural check with a precise
     * message; half a JPEG decodes to a partly grey image, which is JPEG's nature. */
    fer_error err = {0};
    fer_image a = random_image(40, 40, 1, 3), b;
    const char *names[] = {"t.png", "t.bmp", "t.pgm"};
    for (int i = 0; i < 3; i++) {
        const char *p = write_truncated(&a, names[i]);
        ck_assert_int_eq(fer_image_read(&b, p, 1, &err), FER_E_INVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, p));
        ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    }
    int rc = fer_image_read(&b, write_truncated(&a, "t.jpg"), 1, &err);
    ck_assert(rc == 0 || rc == FER_E_INVAL);
    if (rc == 0)
        ck_assert_int_eq(b.w, 40);
    fer_image_free(&b);

    /* A flipped byte inside a PNG fails the chunk CRC. */
    ck_assert_int_eq(fer_image_write(&a, at("c.png"), &err), 0);
    FILE *f = fopen(at("c.png"), "r+b");
    ck_assert_int_eq(fseek(f, 60, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, 60, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
    ck_assert_int_eq(fer_image_read(&b, at("c.png"), 1, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "CRC"));
    fer_image_free(&a);
}
END_TEST

START_TEST(t_permission_denied)
{
    if (geteuid() == 0)
        return; /* root reads anything: nothing to test */
    fer_image a = random_image(4, 4, 1, 1), b;
    fer_error err = {0};
    const char *p = at("locked.png");
    ck_assert_int_eq(fer_image_write(&a, p, &err), 0);
    ck_assert_int_eq(chmod(p, 0), 0);
    ck_assert_int_eq(fer_image_read(&b, p, 1, &err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    fer_image_free(&a);
}
END_TEST

START_TEST(t_encode_decode_jpeg)
{
    fer_error err;
    fer_image a = random_image(33, 17, 3, 9), b;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(fer_image_encode_jpeg(&a, 90, &buf, &len, &err), 0);
    ck_assert_uint_gt(len, 4);
    ck_assert_int_eq(buf[0], 0xFF);
    ck_assert_int_eq(buf[1], 0xD8);
    ck_assert_int_eq(buf[len - 2], 0xFF);
    ck_assert_int_eq(buf[len - 1], 0xD9);
    ck_assert_int_eq(fer_image_decode(&b, buf, len, 0, &err), 0);
    ck_assert_int_eq(b.w, 33);
    ck_assert_int_eq(b.h, 17);
    ck_assert_int_eq(b.channels, 3);
    fer_image_free(&b);
    ck_assert_int_eq(fer_image_decode(&b, buf, len, 1, &err), 0);
    ck_assert_int_eq(b.channels, 1);
    fer_image_free(&b);
    free(buf);

    ck_assert_int_eq(fer_image_encode_jpeg(&a, 0, &buf, &len, &err), -EINVAL);
    ck_assert_int_eq(fer_image_encode_jpeg(&a, 101, &buf, &len, &err), -EINVAL);
    ck_assert_ptr_null(buf);
    fer_image empty = {0};
    ck_assert_int_eq(fer_image_encode_jpeg(&empty, 90, &buf, &len, &err), -EINVAL);

    ck_assert_int_eq(fer_image_decode(&b, "garbage", 7, 1, &err), FER_E_INVAL);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(fer_image_decode(&b, "", 0, 1, &err), FER_E_INVAL);
    /* Formats outside PNG, JPEG, BMP, PNM and WebP are refused by content. */
    ck_assert_int_eq(fer_image_decode(&b, "PF\n4 4\n-1\n", 11, 1, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "ferd reads PNG, JPEG"));
    fer_image_free(&a);
}
END_TEST

START_TEST(t_atomic_write)
{
    fer_error err = {0};
    fer_image a = random_image(16, 16, 1, 1), b = random_image(16, 16, 1, 2), r;
    const char *p = at("face.png");
    ck_assert_int_eq(fer_image_write(&a, p, &err), 0);
    ck_assert_int_eq(fer_image_write(&b, p, &err), 0); /* replaces */
    ck_assert_int_eq(count_entries(tmp), 1);         /* no temporary left behind */
    ck_assert_int_eq(fer_image_read(&r, p, 1, &err), 0);
    ck_assert_mem_eq(r.data, b.data, 256);
    fer_image_free(&r);

    /* The new file gets ordinary permissions (umask applied), not mkstemp's 0600. */
    mode_t old = umask(022);
    ck_assert_int_eq(fer_image_write(&a, at("perm.png"), &err), 0);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(at("perm.png"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);

    /* Failures leave nothing behind either. */
    ck_assert_int_eq(fer_image_write(&a, at("face.gif"), &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "face.gif"));
    ck_assert_int_eq(fer_image_write(&a, at("noext"), &err), FER_E_INVAL);
    ck_assert_int_eq(fer_image_write(&a, at("missing/dir/x.png"), &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing/dir/x.png"));
    ck_assert_int_eq(fer_image_write(&a, at("dir.png/"), &err), FER_E_INVAL);
    fer_image empty = {0};
    ck_assert_int_eq(fer_image_write(&empty, at("e.png"), &err), -EINVAL);
    ck_assert_int_eq(count_entries(tmp), 2);
    fer_image_free(&a);
    fer_image_free(&b);
}
END_TEST

START_TEST(t_write_relative_path)
{
    /* A bare file name writes into the current directory. */
    fer_error err;
    fer_image a = random_image(5, 5, 1, 5), r;
    ck_assert_int_eq(chdir(tmp), 0);
    ck_assert_int_eq(fer_image_write(&a, "rel.bmp", &err), 0);
    ck_assert_int_eq(fer_image_read(&r, "rel.bmp", 1, &err), 0);
    ck_assert_mem_eq(r.data, a.data, 25);
    ck_assert_int_eq(count_entries("."), 1);
    fer_image_free(&a);
    fer_image_free(&r);
}
END_TEST

START_TEST(t_pgm_from_colour)
{
    /* PGM is grey: a colour image is converted, not written as PPM. */
    fer_error err;
    fer_image c, g;
    ck_assert_int_eq(fer_image_alloc(&c, 6, 6, 3), 0);
    memset(c.data, 120, 108);
    ck_assert_int_eq(fer_image_write(&c, at("c.pgm"), &err), 0);
    ck_assert_int_eq(fer_image_read(&g, at("c.pgm"), 0, &err), 0);
    ck_assert_int_eq(g.data[0], 120);
    FILE *f = fopen(at("c.pgm"), "rb");
    char magic[2];
    ck_assert_uint_eq(fread(magic, 1, 2, f), 2);
    fclose(f);
    ck_assert(magic[0] == 'P' && magic[1] == '5');
    fer_image_free(&c);
    fer_image_free(&g);
}
END_TEST

START_TEST(t_resize)
{
    fer_error err;
    fer_image a, r;
    ck_assert_int_eq(fer_image_alloc(&a, 96, 64, 1), 0);
    memset(a.data, 77, 96 * 64);
    ck_assert_int_eq(fer_image_resize(&r, &a, 48, 48, &err), 0);
    ck_assert_int_eq(r.w, 48);
    ck_assert_int_eq(r.h, 48);
    ck_assert_int_eq(r.channels, 1);
    for (int i = 0; i < 48 * 48; i++)
        ck_assert_int_eq(r.data[i], 77);
    fer_image_free(&r);
    fer_image_free(&a);

    /* Halving averages 2x2 blocks exactly. */
    ck_assert_int_eq(fer_image_alloc(&a, 4, 2, 1), 0);
    uint8_t px[8] = {10, 20, 100, 100, 30, 40, 0, 200};
    memcpy(a.data, px, 8);
    ck_assert_int_eq(fer_image_resize(&r, &a, 2, 1, &err), 0);
    ck_assert_int_eq(r.data[0], 25);
    ck_assert_int_eq(r.data[1], 100);
    fer_image_free(&r);
    fer_image_free(&a);

    fer_image c = random_image(10, 7, 3, 4);
    ck_assert_int_eq(fer_image_resize(&r, &c, 30, 21, &err), 0); /* enlarging works too */
    ck_assert_int_eq(r.channels, 3);
    fer_image_free(&r);
    ck_assert_int_eq(fer_image_resize(&r, &c, 0, 5, &err), -EINVAL);
    ck_assert_ptr_null(r.data);
    fer_image_free(&c);
}
END_TEST

START_TEST(t_silent_on_bad_input)
{
    /* Library code never prints: decoding failures must not reach stderr. */
    char log[512];
    snprintf(log, sizeof log, "%s/stderr.txt", tmp);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    close(fd);

    fer_image a = random_image(40, 40, 1, 3), b;
    fer_error err;
    fer_image_read(&b, at("nope.png"), 1, &err);
    write_bytes(at("text.png"), "hello", 5);
    fer_image_read(&b, at("text.png"), 1, &err);
    fer_image_decode(&b, "\x89PNG\r\n\x1a\n garbage", 16, 1, &err);
    fer_image_decode(&b, "\xFF\xD8\xFF\xE0 garbage", 12, 1, &err);
    fer_image_decode(&b, "BM garbage", 10, 1, &err);
    /* Formats ferd refuses, whose OpenCV decoders would print or use temp files. */
    fer_image_decode(&b, "PF\n4 4\n-1\n", 11, 1, &err);
    fer_image_decode(&b, "#?RADIANCE\nxxxx", 15, 1, &err);
    fer_image_decode(&b, "P7\nWIDTH 4\n", 11, 1, &err);
    fer_image_decode(&b, "P5\n64 64\n255\n", 14, 1, &err);
    fer_image_read(&b, write_truncated(&a, "t.png"), 1, &err);
    fer_image_read(&b, write_truncated(&a, "t.bmp"), 1, &err);
    fer_image_read(&b, write_truncated(&a, "t.pgm"), 1, &err);
    fer_image_read(&b, write_truncated(&a, "t.jpg"), 1, &err);
    fer_image_free(&b);
    fer_image_free(&b);
    fer_image_free(&a);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
}
END_TEST


/* Issue 13, class 6: the size an image's header states is checked before it
 * is decoded, in every format: exactly the bound decodes, one pixel less is
 * refused (-EFBIG, naming the file and the size); and a FIFO is refused
 * without blocking. */
START_TEST(t_pixel_bound)
{
    static const char *const names[] = {"b.png", "b.jpg", "b.bmp", "b.pgm"};
    fer_image a = random_image(37, 23, 3, 5);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = at(names[i]);
        fer_error err = {0};
        ck_assert_int_eq(fer_image_write(&a, p, &err), 0);
        fer_image img;
        ck_assert_msg(fer_image_read_max(&img, p, 0, 37 * 23, &err) == 0, "%s: %s", p, err.msg);
        ck_assert_int_eq(img.w, 37);
        fer_image_free(&img);
        ck_assert_int_eq(fer_image_read_max(&img, p, 0, 37 * 23 - 1, &err), -EFBIG);
        ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "37x23"), "%s", err.msg);
        ck_assert_ptr_null(img.data);
        /* The same bytes in memory. */
        uint8_t *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(fer_read_file(p, &buf, &len, 1 << 20, &err), 0);
        ck_assert_int_eq(fer_image_decode_max(&img, buf, len, 1, 37 * 23 - 1, &err), -EFBIG);
        ck_assert_int_eq(fer_image_decode_max(&img, buf, len, 1, 37 * 23, &err), 0);
        fer_image_free(&img);
        free(buf);
    }
    fer_image_free(&a);
    /* A PNG header that states 20000x20000 (with a valid CRC) is refused by
     * the default bound without a byte of pixel data. */
    uint8_t png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                       'I', 'H', 'D', 'R', 0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 0, 0, 0, 0};
    uLong crc = crc32(0, png + 12, 17);
    png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16);
    png[31] = (uint8_t)(crc >> 8), png[32] = (uint8_t)crc;
    uint8_t file[33 + 12] = {0};
    memcpy(file, png, 33);
    memcpy(file + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    fer_image img;
    fer_error err = {0};
    ck_assert_int_eq(fer_image_decode(&img, file, sizeof file, 0, &err), -EFBIG);
    ck_assert_msg(strstr(err.msg, "20000x20000"), "%s", err.msg);
}
END_TEST

START_TEST(t_fifo_refused)
{
    const char *p = at("fifo.png");
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    fer_image img;
    fer_error err = {0};
    /* With a blocking open this would wait for a writer forever. */
    ck_assert_int_eq(fer_image_read(&img, p, 0, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, "FIFO") && strstr(err.msg, p), "%s", err.msg);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_alloc_free);
    tcase_add_test(tc, t_pixel_bound);
    tcase_add_test(tc, t_fifo_refused);
    tcase_add_test(tc, t_png_roundtrip_exact);
    tcase_add_test(tc, t_other_formats_exact);
    tcase_add_test(tc, t_jpeg_approx);
    tcase_add_test(tc, t_grey_vs_colour);
    tcase_add_test(tc, t_missing_file);
    tcase_add_test(tc, t_not_an_image);
    tcase_add_test(tc, t_truncated_image);
    tcase_add_test(tc, t_permission_denied);
    tcase_add_test(tc, t_encode_decode_jpeg);
    tcase_add_test(tc, t_atomic_write);
    tcase_add_test(tc, t_write_relative_path);
    tcase_add_test(tc, t_pgm_from_colour);
    tcase_add_test(tc, t_resize);
    tcase_add_test(tc, t_silent_on_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(image_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
