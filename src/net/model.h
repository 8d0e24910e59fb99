/*
 * model.h — the .fermodel file (docs/MODEL_FORMAT.md): a self-contained trained
 * network: architecture text, class names, input preprocessing, training
 * metadata and every parameter tensor, with a CRC-32 over the whole file.
 */
#ifndef FER_MODEL_H
#define FER_MODEL_H

#include "net/net.h"

#define FER_MODEL_MAGIC "FERMODEL"
#define FER_MODEL_VERSION 1

/* Per-face contrast normalisation of the 8-bit face at the input size (applied by
 * vision/contrast.c, after resampling and before the mean/std scaling). */
typedef enum fer_contrast_mode {
    FER_CONTRAST_NONE = 0,   /* header: absent or "none" */
    FER_CONTRAST_HISTEQ = 1, /* "histeq": global histogram equalisation */
    FER_CONTRAST_CLAHE = 2,  /* "clahe": contrast-limited adaptive equalisation */
} fer_contrast_mode;

#define FER_CLAHE_MAX_TILES 16
#define FER_CLAHE_MAX_CLIP 256.0f

typedef struct fer_contrast {
    int mode;          /* fer_contrast_mode */
    float clip;        /* CLAHE: OpenCV's clipLimit, in [0, 256] (0 = no clipping) */
    int tiles;         /* CLAHE: tiles x tiles grid, 1..FER_CLAHE_MAX_TILES */
} fer_contrast;

/* How a face crop becomes the network input (the vision pipeline and `fer train`
 * share the code that applies it). Pixel values are first scaled to [0, 1]. */
typedef struct fer_preproc {
    float margin;      /* extra border around the detected box, fraction of its side */
    int square;        /* 1: crop a square around the box centre */
    int grey;          /* 1: convert to one grey channel */
    char resize[16];   /* "area" | "linear" */
    fer_contrast contrast; /* none unless the header says otherwise */
    float mean, std;   /* input = (pixel/255 - mean) / std */
} fer_preproc;

/* Training metadata carried in the header; fields left 0/empty are absent. */
typedef struct fer_meta {
    char dataset[64];
    char created[32];      /* RFC 3339 UTC */
    char command[512];     /* how it was trained */
    int epochs;
    float val_acc, test_acc; /* fractions in [0,1]; < 0 = absent */
    char test_split[32];   /* what test_acc was measured on ("PrivateTest"); "" = absent */
    char extra[1024];      /* free-form JSON object text, "" = none */
} fer_meta;

/* Temperature scaling (docs/MODEL_FORMAT.md "calibration"): probabilities are
 * softmax(logits / temperature). The figures say what the fit did on its split. */
#define FER_CALIB_T_MIN 0.01f
#define FER_CALIB_T_MAX 100.0f
typedef struct fer_calibration {
    float temperature;     /* 1 = uncalibrated; 0 (a zeroed model) is read as 1 */
    char split[16];        /* split it was fitted on; "" = no calibration recorded */
    float nll_before, nll_after, ece_before, ece_after; /* < 0 = absent */
} fer_calibration;

typedef struct fer_model {
    fer_net *net;          /* owns the arch */
    fer_preproc pre;
    fer_meta meta;
    fer_calibration calib;
} fer_model;

/* No calibration: temperature 1, figures absent. */
void fer_calibration_init(fer_calibration *c);

/* The model's probabilities from its logits (n rows of its class count): softmax at the
 * model's temperature. Every path that turns a model's logits into probabilities (the
 * pipeline and so ferd and fer classify, fer eval) goes through here. */
void fer_model_probs(const fer_model *m, float *probs, const float *logits, int n);

/* Default preprocessing and empty metadata. */
void fer_preproc_default(fer_preproc *p);
void fer_meta_init(fer_meta *m);

/* The contrast mode's header name ("none", "histeq", "clahe"), and back: the mode,
 * or -1 for an unknown name. */
const char *fer_contrast_name(int mode);
int fer_contrast_parse(const char *name);
/* Default CLAHE settings (clip 2, 8 x 8 tiles, the common FER2013 recipe) with mode. */
void fer_contrast_init(fer_contrast *c, int mode);
/* 0 if c is a valid setting (mode known; for CLAHE clip in [0, 256], tiles in 1..16). */
int fer_contrast_check(const fer_contrast *c);

enum {
    FER_LOAD_INFER = 1 << 0, /* build for inference and fold batch norm */
};

/* Loads and validates path. max_batch sizes the activations; flags as above, else
 * FER_NET_TRAIN-capable for fine-tuning. Every failure has its own code and a message
 * naming the file: -ENOENT/-EACCES, FER_E_NOT_MODEL, FER_E_VERSION, FER_E_TRUNCATED,
 * FER_E_CHECKSUM, FER_E_HEADER, FER_E_LAYER, FER_E_ARCH, FER_E_TENSOR, FER_E_CLASSES,
 * FER_E_TRAILING. Never reads out of bounds, whatever the bytes. */
int fer_model_load(fer_model **out, const char *path, int max_batch, unsigned flags,
                   fer_error *err);
/* The same from memory (the fuzzers use this). */
int fer_model_load_mem(fer_model **out, const void *buf, size_t len, const char *origin,
                       int max_batch, unsigned flags, fer_error *err);

/* Writes atomically: path.tmp.<pid>, fsync, rename, fsync of the directory.
 * -EINVAL for what a load would refuse: a folded net, an arch without class names,
 * invalid preprocessing or metadata. */
int fer_model_save(const fer_model *m, const char *path, fer_error *err);

/* Serialises to a malloc'd buffer (*buf, *len): the exact bytes fer_model_save writes.
 * Checkpoints embed a model this way. */
int fer_model_save_mem(const fer_model *m, uint8_t **buf, size_t *len, fer_error *err);

void fer_model_free(fer_model *m); /* accepts NULL; frees the net too */

#endif
