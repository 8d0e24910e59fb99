/*
 * optim.h — optimisers over a net's parameter block: SGD (momentum, Nesterov,
 * weight decay) and Adam/AdamW, with PyTorch's update rules so recipes carry over.
 *
 * State (momentum buffers, or Adam's two moments) is ONE allocation laid out
 * parallel to the net's parameter block, so a checkpoint saves it as one array.
 */
#ifndef FER_OPTIM_H
#define FER_OPTIM_H

#include <stddef.h>

#include "net/net.h"

typedef enum fer_opt_kind { FER_OPT_SGD, FER_OPT_ADAM, FER_OPT_ADAMW } fer_opt_kind;

typedef struct fer_optim_cfg {
    fer_opt_kind kind;
    float momentum;      /* SGD (0.9) */
    int nesterov;        /* SGD */
    float weight_decay;  /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    int decay_all;       /* 1: decay every tensor; 0: conv/fc weights only (not bn, not bias) */
    float beta1, beta2;  /* Adam (0.9, 0.999) */
    float eps;           /* Adam (1e-8) */
} fer_optim_cfg;

typedef struct fer_optim {
    fer_optim_cfg cfg;
    fer_net *net;
    float *state;        /* SGD: params_len floats; Adam: 2 * params_len */
    size_t state_len;
    long long steps;     /* updates applied so far (Adam's bias correction) */
} fer_optim;

/* Defaults: SGD, momentum 0.9, Nesterov, weight decay 5e-4 on weights, Adam betas. */
void fer_optim_cfg_default(fer_optim_cfg *cfg);
/* Parses "sgd", "adam", "adamw"; -1 if unknown. */
int fer_opt_kind_parse(const char *name);
const char *fer_opt_kind_name(fer_opt_kind k);

int fer_optim_create(fer_optim **out, fer_net *net, const fer_optim_cfg *cfg, fer_error *err);
void fer_optim_free(fer_optim *o); /* accepts NULL */

/* Applies one update with learning rate lr from the gradients in net->grads. */
void fer_optim_step(fer_optim *o, float lr);

#endif
