/*
 * layer_check.c — the main() of the layer-check-* executables (src/meson.build).
 * Each links one of src/'s layers whole over the layers below it and nothing
 * else; it exists only to be linked, so that a call from a layer into a higher
 * one is an undefined symbol at build time. It never runs.
 */
int main(void)
{
    return 0;
}
