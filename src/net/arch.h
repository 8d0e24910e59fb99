/*
 * arch.h — a network architecture parsed from its text description
 * (docs/ARCH_FORMAT.md): darknet-style [sections] of key = value lines.
 *
 * The parsed form keeps the source text so a model file can embed it verbatim
 * and every reader goes through this one parser.
 */
#ifndef FER_ARCH_H
#define FER_ARCH_H

#include "util/error.h"

#define FER_MAX_CLASSES 32
#define FER_MAX_CLASS_NAME 32
#define FER_MAX_LAYERS 128

typedef enum fer_layer_type {
    FER_LAYER_CONV,
    FER_LAYER_BN,
    FER_LAYER_RELU,
    FER_LAYER_MAXPOOL,
    FER_LAYER_GAP,
    FER_LAYER_FC,
    FER_LAYER_DROPOUT,
} fer_layer_type;

/* One [section] after [net]. Only the fields of its type are meaningful. */
typedef struct fer_layer_spec {
    fer_layer_type type;
    int line;          /* line of the [section] header, for error messages */
    int filters;       /* conv: output channels */
    int size;          /* conv: kernel size; maxpool: window */
    int stride;        /* conv, maxpool */
    int pad;           /* conv */
    int bias;          /* conv: 1 = has a bias tensor (default 1) */
    int outputs;       /* fc */
    float p;           /* dropout probability */
    float eps;         /* bn epsilon (default 1e-5) */
    float momentum;    /* bn running-stat momentum (default 0.1) */
} fer_layer_spec;

typedef struct fer_arch {
    char name[64];
    int in_c, in_h, in_w;                              /* input = CxHxW */
    int nclasses;
    char classes[FER_MAX_CLASSES][FER_MAX_CLASS_NAME]; /* in output order */
    int nlayers;
    fer_layer_spec layers[FER_MAX_LAYERS];
    char *text;                                        /* the source, NUL-terminated */
} fer_arch;

/* Parses text (len bytes, need not be NUL-terminated). origin names the source in
 * error messages ("models/seed.arch"). On success *out is a new fer_arch.
 * Errors: FER_E_ARCH (syntax, bad value, shapes that do not fit), FER_E_LAYER
 * (unknown section), FER_E_CLASSES (class count differs from the last layer's width),
 * -ENOMEM. err->msg names origin and line. */
int fer_arch_parse(fer_arch **out, const char *text, size_t len, const char *origin,
                   fer_error *err);

/* Reads and parses a file; -errno if it cannot be read. */
int fer_arch_load(fer_arch **out, const char *path, fer_error *err);

/* Frees an arch; accepts NULL. */
void fer_arch_free(fer_arch *a);

/* Section name of a layer type ("conv", "bn", ...). */
const char *fer_layer_type_name(fer_layer_type t);

#endif
