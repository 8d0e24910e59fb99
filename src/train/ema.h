/*
 * ema.h — an exponential moving average of a net's parameter block
 * (`fer train --ema DECAY`), the weights validation, best.fermodel and
 * last.fermodel then use.
 *
 * The average covers the whole block: weights, biases and the batch-norm running
 * statistics alike (as timm's ModelEmaV2 averages every state-dict entry). The
 * statistics then describe the activations of weights close to the averaged ones,
 * not of the last raw step; recomputing them on training data for the averaged
 * weights would be the exact alternative, at the cost of an extra pass per epoch.
 *
 * The decay warms up as TensorFlow's ExponentialMovingAverage with num_updates:
 * step t (0-based) uses min(decay, (1 + t) / (10 + t)), so the random
 * initialisation fades from the average within the first few hundred steps
 * instead of lingering for 1 / (1 - decay) of them. Decay 0 makes the average the
 * raw weights exactly.
 */
#ifndef FER_EMA_H
#define FER_EMA_H

#include <stddef.h>

/* The decay used at step t for a configured decay. */
float fer_ema_decay(float decay, long long step);

/* ema[i] = d * ema[i] + (1 - d) * params[i] with d = fer_ema_decay(decay, step), i < n. */
void fer_ema_update(float *ema, const float *params, size_t n, float decay, long long step);

#endif
