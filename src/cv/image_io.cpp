/*
 * image_io.cpp — the OpenCV shim: decode, encode, write and resample fer_images.
 *
 * This is the only place in libfer that sees OpenCV image types. Every entry
 * point is extern "C", takes and returns plain fer_image structs, and wraps its
 * whole body in try/catch so no C++ exception ever crosses into C: cv::Exception
 * becomes FER_E_INVAL with OpenCV's message, std::bad_alloc becomes -ENOMEM.
 *
 * Reading does not call cv::imread. The file is read whole with fer_read_file
 * and then handed to cv::imdecode, for three reasons: open() reports
 * -ENOENT/-EACCES exactly and without a stat-then-open race; cv::imread logs a
 * warning to stderr for unreadable files, and library code never prints; and a
 * directory or device given by mistake is rejected before any decoder runs.
 *
 * Only PNG, JPEG, BMP, PNM and WebP are decoded (recognised by their magic
 * bytes): OpenCV's other decoders use temporary files or print, and a face
 * service needs none of them. OpenCV's decoders also print to stderr on some
 * broken input (libpng's default error handler, std::cerr inside imdecode); a
 * cheap structural check of PNG (chunk list and CRCs), BMP and PNM (headers
 * and raster size) runs first and rejects truncated or corrupt files quietly.
 * Known gap: libjpeg still prints one "Corrupt JPEG data" warning for damaged
 * entropy-coded data, which only a full decode can detect, and OpenCV offers
 * no hook to silence it.
 *
 * Decoding is bounded before it starts: the size every format states in its
 * header is read here, and an image of more pixels than the caller allows
 * (FER_IMAGE_MAX_PIXELS unless it says otherwise) is refused undecoded, so a
 * small file cannot make the reader allocate gigabytes.
 *
 * Writing encodes to memory first (cv::imencode, format chosen by extension)
 * and then replaces the target through fer_write_atomic (temporary file beside
 * it, fsync, rename), so a reader never sees half an image and a crash leaves
 * either the old file or the new one.
 */
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <strings.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <zlib.h>

extern "C" {
#include "cv/image.h"
#include "util/fileio.h"
}
#include "cv/boundary.hpp"

namespace {

/* Largest image file read into memory; far above any face photo, far below a mistake. */
constexpr size_t max_file_bytes = size_t(1) << 30;

/* 0 if img is a well-formed, non-empty image whose byte count fits an int. */
int check_image(const fer_image *img, const char *what, fer_error *err)
{
    if (!img || !img->data || img->w <= 0 || img->h <= 0 ||
        (img->channels != 1 && img->channels != 3) ||
        size_t(img->w) * size_t(img->h) * size_t(img->channels) > size_t(INT_MAX))
        return fer_fail(err, -EINVAL, "%s: empty or malformed image", what);
    return 0;
}

/* A cv::Mat header over the pixels of img (no copy). The const_cast is safe:
 * callers only pass the Mat to functions that read it. */
cv::Mat view(const fer_image *img)
{
    return cv::Mat(img->h, img->w, CV_8UC(img->channels), const_cast<uint8_t *>(img->data));
}

/* Copies an 8-bit, 1- or 3-channel Mat into a fresh fer_image. */
int from_mat(fer_image *img, const cv::Mat &m, const char *what, fer_error *err)
{
    if (m.depth() != CV_8U || (m.channels() != 1 && m.channels() != 3))
        return fer_fail(err, FER_E_INVAL, "%s: decoded to an unsupported pixel format", what);
    int rc = fer_image_alloc(img, m.cols, m.rows, m.channels());
    if (rc < 0)
        return fer_fail(err, rc, "%s: cannot hold a %dx%d image: %s", what, m.cols, m.rows,
                        fer_strerror(rc));
    size_t row = size_t(m.cols) * size_t(m.channels());
    for (int y = 0; y < m.rows; y++)
        memcpy(img->data + size_t(y) * row, m.ptr(y), row);
    return 0;
}

uint32_t be32(const uint8_t *p)
{
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

uint32_t le32(const uint8_t *p)
{
    return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

uint32_t le16(const uint8_t *p)
{
    return uint32_t(p[1]) << 8 | p[0];
}

uint32_t be16(const uint8_t *p)
{
    return uint32_t(p[0]) << 8 | p[1];
}

/* PNG: the chunk list must run from IHDR to IEND inside buf, every CRC intact;
 * the size is IHDR's. */
int check_png(const uint8_t *b, size_t len, const char *what, uint64_t *w, uint64_t *h,
              fer_error *err)
{
    for (size_t pos = 8, n = 0;; n++) {
        if (len - pos < 12)
            return fer_fail(err, FER_E_INVAL, "%s: truncated PNG", what);
        uint32_t clen = be32(b + pos);
        if (clen > 0x7fffffffu)
            return fer_fail(err, FER_E_INVAL, "%s: corrupt PNG (bad chunk length)", what);
        if (len - pos - 12 < clen)
            return fer_fail(err, FER_E_INVAL, "%s: truncated PNG", what);
        const uint8_t *type = b + pos + 4;
        if (n == 0 && (memcmp(type, "IHDR", 4) != 0 || clen < 8))
            return fer_fail(err, FER_E_INVAL, "%s: corrupt PNG (no IHDR chunk)", what);
        if (n == 0) {
            *w = be32(type + 4);
            *h = be32(type + 8);
        }
        if (uint32_t(crc32(0, type, clen + 4)) != be32(type + 4 + clen))
            return fer_fail(err, FER_E_INVAL, "%s: corrupt PNG (chunk %.4s fails its CRC check)",
                            what, reinterpret_cast<const char *>(type));
        if (memcmp(type, "IEND", 4) == 0)
            return 0;
        pos += 12 + size_t(clen);
    }
}

/* BMP: the headers and palette must fit in buf, the compression must be one
 * OpenCV reads (it asserts, noisily, on others), and an uncompressed pixel
 * array must fit too. RLE data cannot be sized without decoding it. */
int check_bmp(const uint8_t *b, size_t len, const char *what, uint64_t *pw, uint64_t *ph,
              fer_error *err)
{
    if (len < 26 || len - 14 < le32(b + 14))
        return fer_fail(err, FER_E_INVAL, "%s: truncated BMP", what);
    uint64_t off = le32(b + 10), dib = le32(b + 14), w, h, bpp, comp, colours = 0;
    if (dib == 12) { /* OS/2 BITMAPCOREHEADER */
        w = le16(b + 18), h = le16(b + 20), bpp = le16(b + 24), comp = 0;
    } else if (dib >= 40) {
        int32_t sw = int32_t(le32(b + 18)), sh = int32_t(le32(b + 22));
        w = uint64_t(sw < 0 ? -int64_t(sw) : sw), h = uint64_t(sh < 0 ? -int64_t(sh) : sh);
        bpp = le16(b + 28), comp = le32(b + 30), colours = le32(b + 46);
    } else {
        return fer_fail(err, FER_E_INVAL, "%s: corrupt BMP (header size %u)", what,
                        unsigned(dib));
    }
    if (comp > 3 || bpp == 0 || bpp > 32 || w == 0 || h == 0 || w > (1u << 20) ||
        h > (1u << 20) || (bpp <= 8 && colours > 256))
        return fer_fail(err, FER_E_INVAL, "%s: corrupt or unsupported BMP", what);
    uint64_t extra = 0; /* palette entries, or the three BITFIELDS masks */
    if (bpp <= 8)
        extra = (colours ? colours : uint64_t(1) << bpp) * (dib == 12 ? 3 : 4);
    else if (comp == 3 && dib == 40)
        extra = 12;
    if (14 + dib + extra > len)
        return fer_fail(err, FER_E_INVAL, "%s: truncated BMP", what);
    if (comp == 0 || comp == 3) {
        uint64_t stride = (w * bpp + 31) / 32 * 4;
        if (off > len || stride * h > len - off)
            return fer_fail(err, FER_E_INVAL, "%s: truncated BMP", what);
    }
    *pw = w;
    *ph = h;
    return 0;
}

/* PNM (P1..P6): a well-formed header (OpenCV prints on a malformed one) and,
 * for the binary kinds P4..P6, a raster that fits in buf. */
int check_pnm(const uint8_t *b, size_t len, const char *what, uint64_t *w, uint64_t *h,
              fer_error *err)
{
    char kind = char(b[1]);
    int nums = (kind == '1' || kind == '4') ? 2 : 3;
    uint64_t v[3] = {0, 0, 1}; /* width, height, maxval */
    size_t pos = 2;
    for (int i = 0; i < nums; i++) {
        for (;;) { /* blanks and # comments */
            if (pos >= len)
                return fer_fail(err, FER_E_INVAL, "%s: truncated PNM", what);
            if (b[pos] == '#') {
                while (pos < len && b[pos] != '\n')
                    pos++;
            } else if (b[pos] == ' ' || (b[pos] >= '\t' && b[pos] <= '\r')) {
                pos++;
            } else {
                break;
            }
        }
        if (b[pos] < '0' || b[pos] > '9')
            return fer_fail(err, FER_E_INVAL, "%s: corrupt PNM header", what);
        v[i] = 0;
        while (pos < len && b[pos] >= '0' && b[pos] <= '9' && v[i] < (1u << 24))
            v[i] = v[i] * 10 + (b[pos++] - '0');
        if (pos >= len)
            return fer_fail(err, FER_E_INVAL, "%s: truncated PNM", what);
        if (!(b[pos] == ' ' || (b[pos] >= '\t' && b[pos] <= '\r') || b[pos] == '#'))
            return fer_fail(err, FER_E_INVAL, "%s: corrupt PNM header", what);
    }
    if (v[0] == 0 || v[1] == 0 || v[0] >= (1u << 24) || v[1] >= (1u << 24) || v[2] == 0 ||
        v[2] > 65535)
        return fer_fail(err, FER_E_INVAL, "%s: corrupt PNM header", what);
    *w = v[0];
    *h = v[1];
    if (kind < '4')
        return 0; /* ASCII raster: its length is not known in advance */
    pos++; /* the single blank that ends the header */
    uint64_t ch = kind == '6' ? 3 : 1, depth = v[2] > 255 ? 2 : 1;
    uint64_t need = kind == '4' ? (v[0] + 7) / 8 * v[1] : v[0] * v[1] * ch * depth;
    if (need > len - pos)
        return fer_fail(err, FER_E_INVAL, "%s: truncated PNM", what);
    return 0;
}

/* JPEG: the size is in the frame header (SOFn), which must come before the
 * first scan; the segments before it are walked by their lengths. */
int check_jpeg(const uint8_t *b, size_t len, const char *what, uint64_t *w, uint64_t *h,
               fer_error *err)
{
    size_t pos = 2;
    for (;;) {
        if (pos >= len)
            return fer_fail(err, FER_E_INVAL, "%s: truncated JPEG", what);
        if (b[pos] != 0xFF)
            return fer_fail(err, FER_E_INVAL, "%s: corrupt JPEG (no marker at byte %zu)", what,
                            pos);
        while (pos < len && b[pos] == 0xFF)
            pos++; /* fill bytes */
        if (pos >= len)
            return fer_fail(err, FER_E_INVAL, "%s: truncated JPEG", what);
        unsigned m = b[pos++];
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue; /* markers without a segment */
        if (m == 0xD9 || m == 0xDA)
            return fer_fail(err, FER_E_INVAL, "%s: corrupt JPEG (no frame header)", what);
        if (len - pos < 2)
            return fer_fail(err, FER_E_INVAL, "%s: truncated JPEG", what);
        size_t seg = be16(b + pos);
        if (seg < 2 || seg > len - pos)
            return fer_fail(err, FER_E_INVAL, "%s: truncated JPEG", what);
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (seg < 8)
                return fer_fail(err, FER_E_INVAL, "%s: corrupt JPEG frame header", what);
            *h = be16(b + pos + 3);
            *w = be16(b + pos + 5);
            if (!*w || !*h)
                return fer_fail(err, FER_E_INVAL, "%s: JPEG without a size in its frame header",
                                what);
            return 0;
        }
        pos += seg;
    }
}

/* WebP: the size is in the first chunk, which says which kind it is. */
int check_webp(const uint8_t *b, size_t len, const char *what, uint64_t *w, uint64_t *h,
               fer_error *err)
{
    if (len < 30)
        return fer_fail(err, FER_E_INVAL, "%s: truncated WebP", what);
    const uint8_t *d = b + 20; /* the first chunk's data */
    if (memcmp(b + 12, "VP8 ", 4) == 0) {
        if (d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
            return fer_fail(err, FER_E_INVAL, "%s: corrupt WebP (VP8 start code)", what);
        *w = le16(d + 6) & 0x3fff;
        *h = le16(d + 8) & 0x3fff;
    } else if (memcmp(b + 12, "VP8L", 4) == 0) {
        if (d[0] != 0x2f)
            return fer_fail(err, FER_E_INVAL, "%s: corrupt WebP (VP8L signature)", what);
        uint32_t bits = le32(d + 1);
        *w = (bits & 0x3fff) + 1;
        *h = ((bits >> 14) & 0x3fff) + 1;
    } else if (memcmp(b + 12, "VP8X", 4) == 0) {
        *w = 1 + (uint64_t(d[4]) | uint64_t(d[5]) << 8 | uint64_t(d[6]) << 16);
        *h = 1 + (uint64_t(d[7]) | uint64_t(d[8]) << 8 | uint64_t(d[9]) << 16);
    } else {
        return fer_fail(err, FER_E_INVAL, "%s: corrupt or unsupported WebP (chunk %.4s)", what,
                        reinterpret_cast<const char *>(b + 12));
    }
    if (!*w || !*h)
        return fer_fail(err, FER_E_INVAL, "%s: WebP without a size", what);
    return 0;
}

/*
 * Admits only the formats ferd has a use for, by their magic bytes, and checks
 * their structure before OpenCV sees them. OpenCV's other decoders (PFM, HDR,
 * EXR, JPEG 2000, PAM, ...) go through temporary files in /tmp or print to
 * stderr on bad input, and each is attack surface a face service does not need.
 * OpenCV's PNG, BMP and PNM decoders print to stderr (libpng's default error
 * handler, std::cerr in imdecode) on truncated or bit-rotten data, and library
 * code must not print, so those are checked here, quietly and with a more
 * precise message. Every format's header gives its size (*w, *h), so an
 * image too large to decode is refused before a byte of it is (issue 13,
 * class 6): a 400 KB PNG may say 20000x20000 pixels, 1.2 GB decoded.
 */
int precheck(const uint8_t *b, size_t len, const char *what, uint64_t *w, uint64_t *h,
             fer_error *err)
{
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return check_png(b, len, what, w, h, err);
    if (len >= 2 && b[0] == 'B' && b[1] == 'M')
        return check_bmp(b, len, what, w, h, err);
    if (len >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6')
        return check_pnm(b, len, what, w, h, err);
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return check_jpeg(b, len, what, w, h, err);
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return check_webp(b, len, what, w, h, err);
    return fer_fail(err, FER_E_INVAL,
                    "%s: not an image OpenCV can decode (ferd reads PNG, JPEG, BMP, PNM, WebP)",
                    what);
}

/* Decodes buf (len > 0) with OpenCV, if its header says at most max_pixels
 * pixels; the shared tail of read and decode. */
int decode(fer_image *img, const void *buf, size_t len, int grey, long long max_pixels,
           const char *what, fer_error *err)
{
    if (len == 0 || len > size_t(INT_MAX))
        return fer_fail(err, FER_E_INVAL, "%s: not an image OpenCV can decode (%zu bytes)", what,
                        len);
    uint64_t w = 0, h = 0;
    int rc = precheck(static_cast<const uint8_t *>(buf), len, what, &w, &h, err);
    if (rc < 0)
        return rc;
    if (max_pixels <= 0)
        max_pixels = FER_IMAGE_MAX_PIXELS;
    if (w * h > uint64_t(max_pixels)) /* each side < 2^32: no overflow */
        return fer_fail(err, -EFBIG,
                        "%s: %llux%llu pixels (%.3g megapixels decoded) is more than the %.3g "
                        "megapixels allowed; not decoded", what, (unsigned long long)w,
                        (unsigned long long)h, double(w) * double(h) / 1e6,
                        double(max_pixels) / 1e6);
    cv::Mat raw(1, int(len), CV_8UC1, const_cast<void *>(buf));
    cv::Mat m = cv::imdecode(raw, grey ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (m.empty())
        return fer_fail(err, FER_E_INVAL, "%s: not an image OpenCV can decode", what);
    return from_mat(img, m, what, err);
}

/* The encoder extension (".png", ...) for path, or NULL if ferd does not write it. */
const char *encoder_ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return nullptr;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".pgm"};
    for (const char *e : exts)
        if (strcasecmp(dot, e) == 0)
            return e;
    return nullptr;
}


} // namespace

/* Contract (image.h): img is overwritten, never freed first; on failure it is
 * left empty, so fer_image_free on it is always safe. */
extern "C" int fer_image_read(fer_image *img, const char *path, int grey, fer_error *err)
{
    return fer_image_read_max(img, path, grey, 0, err);
}

extern "C" int fer_image_read_max(fer_image *img, const char *path, int grey,
                                  long long max_pixels, fer_error *err)
{
    if (!img || !path)
        return fer_fail(err, -EINVAL, "fer_image_read: NULL argument");
    memset(img, 0, sizeof *img);
    uint8_t *buf;
    size_t len;
    int rc = fer_read_file(path, &buf, &len, max_file_bytes, err);
    if (rc == -EISDIR || rc == -EINVAL) {
        /* A directory, a FIFO, a device: refused without blocking, the message
         * saying which (fer_open_regular). */
        if (err)
            err->code = FER_E_INVAL;
        return FER_E_INVAL;
    }
    if (rc == -EFBIG)
        return fer_fail(err, FER_E_INVAL, "%s: too large for an image", path);
    if (rc < 0)
        return rc;
    try {
        rc = decode(img, buf, len, grey, max_pixels, path, err);
    } catch (...) {
        fer_image_free(img);
        rc = fer_cv_fail(err, path);
    }
    free(buf);
    return rc;
}

extern "C" int fer_image_decode(fer_image *img, const void *buf, size_t len, int grey,
                                fer_error *err)
{
    return fer_image_decode_max(img, buf, len, grey, 0, err);
}

extern "C" int fer_image_decode_max(fer_image *img, const void *buf, size_t len, int grey,
                                    long long max_pixels, fer_error *err)
{
    if (!img || (!buf && len > 0))
        return fer_fail(err, -EINVAL, "fer_image_decode: NULL argument");
    memset(img, 0, sizeof *img);
    try {
        return decode(img, buf, len, grey, max_pixels, "image in memory", err);
    } catch (...) {
        fer_image_free(img);
        return fer_cv_fail(err, "image in memory");
    }
}

/* Contract (image.h): the target is either untouched (any failure, including an
 * unsupported extension, which is checked before anything is written) or
 * completely replaced; no temporary file survives a failed call. */
extern "C" int fer_image_write(const fer_image *img, const char *path, fer_error *err)
{
    if (!path)
        return fer_fail(err, -EINVAL, "fer_image_write: NULL path");
    int rc = check_image(img, path, err);
    if (rc < 0)
        return rc;
    const char *ext = encoder_ext(path);
    if (!ext)
        return fer_fail(err, FER_E_INVAL,
                        "%s: unsupported extension (use .png, .jpg, .jpeg, .bmp or .pgm)", path);
    try {
        cv::Mat m = view(img);
        cv::Mat grey;
        std::vector<int> params;
        if (strcmp(ext, ".pgm") == 0 && img->channels == 3) {
            /* PGM is grey by definition; OpenCV would silently write PPM data. */
            cv::cvtColor(m, grey, cv::COLOR_BGR2GRAY);
            m = grey;
        }
        if (strcmp(ext, ".jpg") == 0 || strcmp(ext, ".jpeg") == 0)
            params = {cv::IMWRITE_JPEG_QUALITY, 95};
        std::vector<uint8_t> out;
        if (!cv::imencode(ext, m, out, params) || out.empty())
            return fer_fail(err, FER_E_INVAL, "%s: OpenCV could not encode the image", path);
        const void *bufs[1] = {out.data()};
        size_t lens[1] = {out.size()};
        return fer_write_atomic(path, bufs, lens, 1, err);
    } catch (...) {
        return fer_cv_fail(err, path);
    }
}

/* Contract (image.h): on success *buf is malloc'd (the caller frees it) and
 * holds a complete JPEG; on failure *buf is NULL and *len 0. */
extern "C" int fer_image_encode_jpeg(const fer_image *img, int quality, uint8_t **buf,
                                     size_t *len, fer_error *err)
{
    if (!buf || !len)
        return fer_fail(err, -EINVAL, "fer_image_encode_jpeg: NULL argument");
    *buf = nullptr;
    *len = 0;
    int rc = check_image(img, "fer_image_encode_jpeg", err);
    if (rc < 0)
        return rc;
    if (quality < 1 || quality > 100)
        return fer_fail(err, -EINVAL, "fer_image_encode_jpeg: quality %d not in 1..100",
                        quality);
    try {
        std::vector<uint8_t> out;
        if (!cv::imencode(".jpg", view(img), out, {cv::IMWRITE_JPEG_QUALITY, quality}) ||
            out.empty())
            return fer_fail(err, FER_E_INVAL, "fer_image_encode_jpeg: OpenCV could not encode");
        uint8_t *copy = static_cast<uint8_t *>(malloc(out.size()));
        if (!copy)
            return fer_fail(err, -ENOMEM, "fer_image_encode_jpeg: out of memory");
        memcpy(copy, out.data(), out.size());
        *buf = copy;
        *len = out.size();
        return 0;
    } catch (...) {
        return fer_cv_fail(err, "fer_image_encode_jpeg");
    }
}

extern "C" int fer_image_resize(fer_image *dst, const fer_image *src, int w, int h,
                                fer_error *err)
{
    if (!dst)
        return fer_fail(err, -EINVAL, "fer_image_resize: NULL argument");
    memset(dst, 0, sizeof *dst);
    int rc = check_image(src, "fer_image_resize", err);
    if (rc < 0)
        return rc;
    rc = fer_image_alloc(dst, w, h, src->channels);
    if (rc < 0)
        return fer_fail(err, rc, "fer_image_resize: cannot make a %dx%d image: %s", w, h,
                        fer_strerror(rc));
    try {
        /* dst already has the size and type resize wants, so OpenCV writes straight
         * into our buffer instead of allocating its own. */
        cv::Mat out = view(dst);
        cv::resize(view(src), out, cv::Size(w, h), 0, 0, cv::INTER_AREA);
        if (out.data != dst->data) { /* cannot happen; never hand back stale pixels */
            fer_image_free(dst);
            return fer_fail(err, FER_E_INVAL, "fer_image_resize: OpenCV reallocated");
        }
        return 0;
    } catch (...) {
        fer_image_free(dst);
        return fer_cv_fail(err, "fer_image_resize");
    }
}
