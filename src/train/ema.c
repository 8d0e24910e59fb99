/*
 * ema.c — see ema.h. One pass over the parameter block per optimiser step,
 * about as much memory traffic as the optimiser's own update.
 */
#include "train/ema.h"

float fer_ema_decay(float decay, long long step)
{
    const float warm = (float)((1.0 + (double)step) / (10.0 + (double)step));
    return decay < warm ? decay : warm;
}

void fer_ema_update(float *ema, const float *params, size_t n, float decay, long long step)
{
    const float d = fer_ema_decay(decay, step), g = 1.0f - d;
    for (size_t i = 0; i < n; i++)
        ema[i] = d * ema[i] + g * params[i];
}
