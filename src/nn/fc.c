/*
 * fc.c — fully connected layer, out (N, O) = in (N, I) . w^T + b, w: (O, I).
 *
 * The weight layout is PyTorch's nn.Linear, so a state_dict tensor loads
 * as-is. Batch 1 (the daemon) is a matrix-vector product: cblas_sgemv is
 * used there because OpenBLAS's sgemm with M = 1 still packs panels and is
 * several times slower. Larger batches use one sgemm. As in conv.c, the bias
 * is written into out first and BLAS accumulates onto it (beta = 1).
 */
#include "nn/layers.h"

#include <cblas.h>

/* b may be NULL (no bias). */
void fer_fc_forward(float *out, const float *in, const float *w, const float *b, int in_dim,
                    int out_dim, int n)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out_dim; o++)
                out[(size_t)i * out_dim + o] = b[o];
        beta = 1.0f;
    }
    if (n == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in_dim, 1.0f, w, in_dim, in, 1, beta,
                    out, 1);
    } else {
        // out (N, O) = in (N, I) . w^T (I, O)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim, 1.0f, in, in_dim,
                    w, in_dim, beta, out, out_dim);
    }
}

/*
 * dw (O, I) += dout^T (O, N) . in (N, I); db (O) += column sums of dout (db
 * may be NULL); din (N, I) = dout (N, O) . w (O, I) unless din is NULL.
 */
void fer_fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int in_dim, int out_dim, int n)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n, 1.0f, dout, out_dim,
                in, in_dim, 1.0f, dw, in_dim);
    if (db) {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out_dim; o++)
                db[o] += dout[(size_t)i * out_dim + o];
    }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim, 1.0f, dout,
                    out_dim, w, in_dim, 0.0f, din, in_dim);
}
