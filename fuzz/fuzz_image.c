/*
 * fuzz_image.c — image bytes as ferd and fer meet them (fer_image_decode_max,
 * src/cv/image_io.cpp): a file dropped into an image directory, an image
 * source, `fer classify`.
 *
 * Beyond "no crash", the decoded-size bound of issue 13, class 6: an image is
 * refused before decoding when the size its header states is over the bound,
 * so that bound holds only if what OpenCV then decodes is no larger than what
 * the header said. Every input is decoded with a bound of 4096 pixels (which
 * also keeps each decode cheap); whatever decodes must have at most that many
 * pixels, sides > 0 and the channels asked for. A refusal must say why.
 */
#include "cv/image.h"
#include "fuzz.h"

#define FUZZ_MAX_PIXELS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fer_image img = {0};
    fer_error err = {0};
    int grey = (int)(size & 1);
    int rc = fer_image_decode_max(&img, data, size, grey, FUZZ_MAX_PIXELS, &err);
    fuzz_note("image", rc, err.msg);
    if (rc < 0) {
        if (!err.msg[0])
            fuzz_fail("a refused image gave no message (code %d)", rc);
        if (img.data)
            fuzz_fail("a refused image left pixels behind");
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || !img.data)
        fuzz_fail("decoded an empty image: %dx%d", img.w, img.h);
    if ((long long)img.w * img.h > FUZZ_MAX_PIXELS)
        fuzz_fail("decoded %dx%d pixels past a bound of %d: the header stated less", img.w,
                  img.h, FUZZ_MAX_PIXELS);
    if (img.channels != (grey ? 1 : 3))
        fuzz_fail("asked for %s, got %d channels", grey ? "grey" : "colour", img.channels);
    fer_image_free(&img);
    return 0;
}
