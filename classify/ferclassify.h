/*
 * ferclassify.h — libferclassify: ferd's face finding and expression
 * classification inside your own process, without the daemon.
 *
 * A classifier is a model file opened once; each call takes one image and
 * returns its faces with their expression probabilities. It runs the very code
 * `fer classify` runs (the vision pipeline of libfer: Haar detection through
 * OpenCV, the model's own crop and normalisation, the network, softmax), so
 * both give the same numbers for the same image and model.
 *
 *     fer_classifier *c;
 *     fer_classifier_error err;
 *     if (fer_classifier_open(&c, NULL, NULL, &err) < 0) { report err.msg; }
 *     fer_classifier_result *r = malloc(sizeof *r);
 *     if (fer_classifier_classify_file(c, "photo.jpg", NULL, 0, r, &err) == 0)
 *         for (int i = 0; i < r->nfaces; i++)
 *             printf("%s %.3f\n", fer_classifier_class_name(c, r->faces[i].label),
 *                    r->faces[i].prob);
 *     free(r);
 *     fer_classifier_close(c);
 *
 * Images: a file (PNG, JPEG, BMP, PNM or WebP, recognised by content), the same
 * bytes in memory, or raw 8-bit pixels — grey, BGR or RGB, any size, any row
 * stride. Faces: found by the Haar cascade, or given by the caller as boxes
 * (your own detector), which are classified in the order given.
 *
 * Classes: their number and names come from the model (7 for FER2013 models,
 * 8 for FER+ ones, ...); never assume a count. fer_classifier_nclasses() and
 * fer_classifier_class_name() give them; scores[] holds one value per class in
 * that order.
 *
 * Threads. A handle may be called from several threads: calls on one handle
 * are serialised by its own lock. Calls on different handles run in parallel;
 * open one handle per thread for throughput. Process-wide state, all of it:
 *   - OpenCV's log level is set to silent when a cascade loads (the library
 *     never prints);
 *   - fer_classifier_set_threads() sets OpenBLAS's and OpenCV's thread counts
 *     for the whole process; the library never changes them otherwise;
 *   - the engine detects the processor's instruction set once, on first open.
 *
 * Errors: every function that can fail returns 0 (or a count) on success and a
 * negative code on failure: a negated errno (-ENOENT: no such model or image
 * file, -EINVAL: a bad argument, -ENOMEM) or one of ferd's own codes (from
 * -10000 up, all <= -9000) for a file that is not what it should be (not a
 * model, damaged, not an image); fer_classifier_strerror() describes any of them. The optional
 * fer_classifier_error receives the code and one line naming the file, the
 * argument or the box at fault. Nothing prints, nothing exits.
 *
 * Versioning: the shared library's SONAME is libferclassify.so.0; its ABI (the
 * structs below included) changes only with that number. Link with
 * `pkg-config --cflags --libs libferclassify`.
 */
#ifndef FER_CLASSIFY_H
#define FER_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(FER_CLASSIFY_BUILDING)
#define FER_CLASSIFY_API __attribute__((visibility("default")))
#else
#define FER_CLASSIFY_API
#endif

/* Most faces one result holds, most classes a model may have, longest class name
 * (with its NUL). */
#define FER_CLASSIFIER_MAX_FACES 16
#define FER_CLASSIFIER_MAX_CLASSES 32
#define FER_CLASSIFIER_CLASS_NAME 32

typedef struct fer_classifier fer_classifier;

/* What went wrong: the code returned and one line for people. */
typedef struct fer_classifier_error {
    int code;
    char msg[512];
} fer_classifier_error;

/* How faces are found. Start from fer_classifier_opts_init(): its values are
 * `fer classify`'s defaults. */
typedef struct fer_classifier_opts {
    const char *cascade;   /* Haar cascade XML; NULL: OpenCV's frontal-face default
                              (Debian's opencv-data package) */
    int max_faces;         /* at most this many faces, largest first: 1..16 (8) */
    int largest_only;      /* 1: only the largest face (0) */
    int detect_width;      /* search the image shrunk to this width; 0: full size (640) */
    double scale_factor;   /* detection pyramid step, in (1, 4] (1.1) */
    int min_neighbors;     /* overlapping detections a face needs, 0..100 (4) */
    int min_face;          /* smallest face side searched, image pixels (24) */
} fer_classifier_opts;

/* Pixel layouts of fer_classifier_image.format. */
enum {
    FER_PIXELS_GREY = 1, /* one byte per pixel */
    FER_PIXELS_BGR = 2,  /* three bytes per pixel, blue first (OpenCV's order) */
    FER_PIXELS_RGB = 3,  /* three bytes per pixel, red first (PIL's, most decoders') */
};

/* Raw pixels, read and never kept: row y starts at data + y * stride. */
typedef struct fer_classifier_image {
    const uint8_t *data;
    int width, height;     /* pixels, 1 .. 32767 each */
    size_t stride;         /* bytes from one row to the next, >= width * bytes per pixel */
    int format;            /* FER_PIXELS_* */
} fer_classifier_image;

/* A face's box in image pixels, origin top-left. */
typedef struct fer_classifier_box {
    int x, y, w, h;
} fer_classifier_box;

typedef struct fer_classifier_face {
    int id;                /* counts faces up from 1 over the handle's life */
    fer_classifier_box box;
    int label;             /* index of the most probable class */
    float prob;            /* its probability */
    float scores[FER_CLASSIFIER_MAX_CLASSES]; /* every class's probability, model order;
                                                 the first nclasses are used */
    int smoothed_label;    /* what a tracker's moving average would say: for unrelated */
    float smoothed_prob;   /* stills, label and prob again (kept for the RESULT schema) */
    int is_new;            /* 1: first sighting (always, for stills) */
} fer_classifier_face;

typedef struct fer_classifier_result {
    uint64_t seq;          /* images given to this handle, from 1 (one that failed to
                              decode counts too, as a file that fails in `fer classify`) */
    int64_t wall_ms;       /* when the call started, ms since the Unix epoch */
    uint64_t mono_ns;      /* the same on CLOCK_MONOTONIC */
    int width, height;     /* image size */
    double detect_ms, classify_ms, total_ms; /* where the time went */
    int nclasses;          /* the model's class count */
    int nfaces;            /* faces[0 .. nfaces) are filled */
    fer_classifier_face faces[FER_CLASSIFIER_MAX_FACES];
} fer_classifier_result;

/* The library's release ("0.1.0"). */
FER_CLASSIFY_API const char *fer_classifier_version(void);

/* Fills o with the defaults documented in fer_classifier_opts. */
FER_CLASSIFY_API void fer_classifier_opts_init(fer_classifier_opts *o);

/*
 * Opens the model at model_path (NULL: the default model: $FER_MODEL, else
 * models/default.fermodel of the data directory: $FER_DATA_DIR, an uninstalled
 * build's source tree, or the installed <datadir>/ferd) and loads the cascade. opts NULL:
 * the defaults. Errors: -ENOENT/-EACCES (model or cascade), -EINVAL (an option out
 * of range), the model loader's codes for a damaged or foreign file, -ENOMEM.
 * *out is NULL on failure.
 */
FER_CLASSIFY_API int fer_classifier_open(fer_classifier **out, const char *model_path,
                                         const fer_classifier_opts *opts,
                                         fer_classifier_error *err);

/* Frees the handle; accepts NULL. No call on it may be running or follow. */
FER_CLASSIFY_API void fer_classifier_close(fer_classifier *c);

/* The model's class count, and the name of class i ("" when i is out of range). */
FER_CLASSIFY_API int fer_classifier_nclasses(const fer_classifier *c);
FER_CLASSIFY_API const char *fer_classifier_class_name(const fer_classifier *c, int i);
/* The model file's path and its architecture's name. */
FER_CLASSIFY_API const char *fer_classifier_model_path(const fer_classifier *c);
FER_CLASSIFY_API const char *fer_classifier_model_name(const fer_classifier *c);

/*
 * Classifies the faces of img into *res. boxes NULL (nboxes 0): the cascade finds
 * them, largest first. Else boxes[0 .. nboxes) (at most FER_CLASSIFIER_MAX_FACES,
 * each at least 1x1 and overlapping the image) are classified in that order and
 * nothing is searched; nboxes 0 with boxes not NULL classifies nothing. Returns 0
 * (an image without faces is a result with nfaces 0) or -EINVAL (bad image or box,
 * named in err), -ENOMEM, or a code for an OpenCV failure.
 */
FER_CLASSIFY_API int fer_classifier_classify(fer_classifier *c, const fer_classifier_image *img,
                                             const fer_classifier_box *boxes, int nboxes,
                                             fer_classifier_result *res,
                                             fer_classifier_error *err);

/* The same for an encoded image of len bytes in memory (PNG, JPEG, BMP, PNM,
 * WebP). A buffer that is not such an image fails with a code <= -9000. */
FER_CLASSIFY_API int fer_classifier_classify_encoded(fer_classifier *c, const void *buf,
                                                     size_t len,
                                                     const fer_classifier_box *boxes,
                                                     int nboxes, fer_classifier_result *res,
                                                     fer_classifier_error *err);

/* The same for an image file (-ENOENT, -EACCES, or not an image: err names path). */
FER_CLASSIFY_API int fer_classifier_classify_file(fer_classifier *c, const char *path,
                                                  const fer_classifier_box *boxes, int nboxes,
                                                  fer_classifier_result *res,
                                                  fer_classifier_error *err);

/* Flags of fer_classifier_result_json. */
enum {
    FER_CLASSIFIER_JSON_NO_SCORES = 1 << 0, /* leave out each face's "scores" */
};

/*
 * res (from a call on c) as the one-line RESULT object `fer classify` prints
 * (docs/RESULT_SCHEMA.md, with "path" added when path is not NULL), written
 * into buf (size bytes, NUL-terminated) by the encoder the daemon uses. Returns
 * the line's length without the NUL, which is >= size when buf was too small
 * (call again with length + 1 bytes), or -ENOMEM, -EINVAL.
 */
FER_CLASSIFY_API int fer_classifier_result_json(const fer_classifier *c,
                                                const fer_classifier_result *res,
                                                const char *path, unsigned flags, char *buf,
                                                size_t size);

/* Threads OpenBLAS and OpenCV may use, for the whole process (n >= 1). One thread
 * per call is fastest when several handles run in parallel. */
FER_CLASSIFY_API void fer_classifier_set_threads(int n);

/* A static English description of any code these functions return. Never NULL. */
FER_CLASSIFY_API const char *fer_classifier_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
