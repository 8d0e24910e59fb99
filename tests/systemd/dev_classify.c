/*
 * dev_classify.c — a program built against the libferclassify-dev package as
 * a user builds it (tests/systemd/dev-packages.sh): `pkg-config --cflags
 * --libs libferclassify`, nothing from the source tree. It opens the model
 * that ferd-data ships, classifies one image and prints each face, as the
 * example in ferclassify.h does.
 *
 *   dev_classify MODEL IMAGE VERSION
 *
 * Exits 0 when the library reports VERSION, opens MODEL and finds at least one
 * face in IMAGE with a probability for each of the model's classes; 1 when not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferclassify.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: dev_classify MODEL IMAGE VERSION\n");
        return 2;
    }
    const char *v = fer_classifier_version();
    printf("libferclassify %s\n", v);
    if (strcmp(v, argv[3]) != 0) {
        printf("the library says version %s, the package is %s\n", v, argv[3]);
        return 1;
    }

    fer_classifier *c;
    fer_classifier_error err;
    int rc = fer_classifier_open(&c, argv[1], NULL, &err);
    if (rc < 0) {
        printf("fer_classifier_open: %s\n", err.msg);
        return 1;
    }
    int ok = 0;
    fer_classifier_result *r = malloc(sizeof *r);
    if (r == NULL)
        goto out;
    rc = fer_classifier_classify_file(c, argv[2], NULL, 0, r, &err);
    if (rc < 0) {
        printf("fer_classifier_classify_file: %s\n", err.msg);
        goto out;
    }
    printf("model %s (%s), %d classes; %s: %dx%d, %d faces\n", fer_classifier_model_path(c),
           fer_classifier_model_name(c), fer_classifier_nclasses(c), argv[2], r->width,
           r->height, r->nfaces);
    float sum = 0;
    for (int i = 0; i < r->nfaces; i++) {
        printf("  face %d at %d,%d %dx%d: %s %.3f\n", r->faces[i].id, r->faces[i].box.x,
               r->faces[i].box.y, r->faces[i].box.w, r->faces[i].box.h,
               fer_classifier_class_name(c, r->faces[i].label), r->faces[i].prob);
    }
    if (r->nfaces >= 1)
        for (int k = 0; k < r->nclasses; k++)
            sum += r->faces[0].scores[k];
    /* Probabilities of every class of the model: they sum to 1. */
    ok = r->nfaces >= 1 && r->nclasses == fer_classifier_nclasses(c) && r->nclasses > 0 &&
         sum > 0.99f && sum < 1.01f;
    if (!ok)
        printf("expected a face with %d class probabilities summing to 1 (sum %.3f)\n",
               fer_classifier_nclasses(c), sum);
out:
    free(r);
    fer_classifier_close(c);
    return ok ? 0 : 1;
}
