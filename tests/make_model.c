/*
 * make_model.c — writes a random-weight .fermodel for an architecture file:
 * `make_model ARCH OUT [SEED]`. The daemon's tests, benchmarks and systemd
 * test use it, and so can anyone who wants to run ferd before a trained model
 * exists (the weights are random, so the labels are noise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/arch.h"
#include "net/model.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: make_model ARCH OUT.fermodel [SEED]\n");
        return 2;
    }
    fer_error err = {0};
    fer_arch *arch = NULL;
    if (fer_arch_load(&arch, argv[1], &err) < 0) {
        fprintf(stderr, "make_model: %s\n", err.msg);
        return 1;
    }
    fer_model m;
    memset(&m, 0, sizeof m);
    uint64_t seed = argc == 4 ? strtoull(argv[3], NULL, 10) : 7;
    if (fer_net_create(&m.net, arch, 1, 0, seed, &err) < 0) {
        fprintf(stderr, "make_model: %s\n", err.msg);
        return 1;
    }
    fer_preproc_default(&m.pre);
    fer_meta_init(&m.meta);
    snprintf(m.meta.dataset, sizeof m.meta.dataset, "random weights (make_model)");
    int rc = fer_model_save(&m, argv[2], &err);
    fer_net_free(m.net);
    if (rc < 0) {
        fprintf(stderr, "make_model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
