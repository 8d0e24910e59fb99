/*
 * arch.c — the architecture text parser (docs/ARCH_FORMAT.md).
 *
 * The input is untrusted: it comes from files on disk and from the header of
 * .fermodel files, and a fuzzer is pointed at it. So the parser treats it as
 * bytes of known length, never as a C string: each line is copied, bounded,
 * into a fixed buffer before anything looks at it, and every number is parsed
 * by hand with explicit ranges. Control bytes are rejected up front, which
 * makes binary garbage fail on its first line with a clear message.
 *
 * Parsing is one pass over the lines with a tiny state machine (which section
 * we are in, which of its keys were seen on which line). When a section ends
 * its required keys are checked; when the text ends the whole layer list goes
 * through fer_net_plan(), the one place that knows the shape rules, so an
 * arch that parses is an arch that can be built. Every failure names
 * "origin:line".
 */
#include "net/arch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

#define MAX_LINE 4095              /* bytes per line, without the newline */
#define MAX_INT_VALUE 65535        /* every integer key and input dimension */
#define MAX_ARCH_FILE (16u << 20)  /* fer_arch_load refuses larger files */

/* Every key of every section; a section accepts a subset (section_keys). */
enum key_id {
    K_NAME, K_INPUT, K_CLASSES,                         /* [net] */
    K_FILTERS, K_SIZE, K_STRIDE, K_PAD, K_BIAS,         /* [conv], [maxpool] */
    K_EPS, K_MOMENTUM,                                  /* [bn] */
    K_OUTPUTS,                                          /* [fc] */
    K_P,                                                /* [dropout] */
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "name", "input", "classes", "filters", "size", "stride", "pad", "bias",
    "eps", "momentum", "outputs", "p",
};

/* Section kinds: the layer types, plus [net] after them. */
#define SEC_NET 7
#define SEC_COUNT 8

static const char *const section_names[SEC_COUNT] = {
    [FER_LAYER_CONV] = "conv",  [FER_LAYER_BN] = "bn",   [FER_LAYER_RELU] = "relu",
    [FER_LAYER_MAXPOOL] = "maxpool", [FER_LAYER_GAP] = "gap", [FER_LAYER_FC] = "fc",
    [FER_LAYER_DROPOUT] = "dropout", [SEC_NET] = "net",
};

/* Bit set of the keys each section accepts. */
#define KB(k) (1u << (k))
static const unsigned section_keys[SEC_COUNT] = {
    [FER_LAYER_CONV] = KB(K_FILTERS) | KB(K_SIZE) | KB(K_STRIDE) | KB(K_PAD) | KB(K_BIAS),
    [FER_LAYER_BN] = KB(K_EPS) | KB(K_MOMENTUM),
    [FER_LAYER_RELU] = 0,
    [FER_LAYER_MAXPOOL] = KB(K_SIZE) | KB(K_STRIDE),
    [FER_LAYER_GAP] = 0,
    [FER_LAYER_FC] = KB(K_OUTPUTS),
    [FER_LAYER_DROPOUT] = KB(K_P),
    [SEC_NET] = KB(K_NAME) | KB(K_INPUT) | KB(K_CLASSES),
};

typedef struct parser {
    fer_arch *a;
    const char *origin;
    fer_error *err;
    int line;                 /* current line, 1-based */
    int section;              /* SEC_NET, a fer_layer_type, or -1 before the first */
    int section_line;
    int seen[K_COUNT];        /* line each key of the current section was set on, 0 = not */
    int net_line;             /* line of [net], 0 = none yet */
    int classes_line;         /* line of `classes`, 0 = not given */
} parser;

const char *fer_layer_type_name(fer_layer_type t)
{
    if ((unsigned)t < SEC_NET)
        return section_names[t];
    return "?";
}

void fer_arch_free(fer_arch *a)
{
    if (!a)
        return;
    free(a->text);
    free(a);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks at both ends of s[0..*len) in place; returns the new start. */
static char *trim(char *s, size_t *len)
{
    size_t n = *len;
    while (n && is_space(*s)) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    s[n] = '\0';
    *len = n;
    return s;
}

/* Parses a whole decimal integer in [min, max]; 0 or -1. No sign, no blanks. */
static int parse_int(const char *s, int min, int max, int *out)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *out = (int)v;
    return 0;
}

/* Parses a finite decimal float in [min, max] (max_open: exclusive). strtod also
 * takes "inf", "nan" and hex, so the characters are screened first. */
static int parse_float(const char *s, double min, double max, int max_open, float *out)
{
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < min || v > max || (max_open && v >= max))
        return -1;
    *out = (float)v;
    return 0;
}

/* "CxHxW" with optional blanks around each number. */
static int parse_input(char *s, fer_arch *a)
{
    int dims[3];
    for (int i = 0; i < 3; i++) {
        char *sep = i < 2 ? strchr(s, 'x') : s + strlen(s);
        if (!sep)
            return -1;
        char saved = *sep;
        *sep = '\0';
        size_t n = (size_t)(sep - s);
        char *num = trim(s, &n);
        int r = parse_int(num, 1, MAX_INT_VALUE, &dims[i]);
        *sep = saved;
        if (r < 0)
            return -1;
        s = sep + (saved ? 1 : 0);
    }
    a->in_c = dims[0];
    a->in_h = dims[1];
    a->in_w = dims[2];
    return 0;
}

/* Comma-separated class names, each trimmed, 1..31 bytes, distinct. */
static int parse_classes(parser *p, char *s)
{
    fer_arch *a = p->a;
    int n = 0;
    for (;;) {
        char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (comma)
            *comma = '\0';
        char *name = trim(s, &len);
        if (len == 0)
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: empty class name in 'classes'", p->origin,
                            p->line);
        if (len >= FER_MAX_CLASS_NAME)
            return fer_fail(p->err, FER_E_ARCH,
                            "%s:%d: class name '%.40s...' is longer than %d bytes", p->origin,
                            p->line, name, FER_MAX_CLASS_NAME - 1);
        if (n == FER_MAX_CLASSES)
            return fer_fail(p->err, FER_E_CLASSES, "%s:%d: more than %d classes", p->origin,
                            p->line, FER_MAX_CLASSES);
        for (int i = 0; i < n; i++)
            if (!strcmp(a->classes[i], name))
                return fer_fail(p->err, FER_E_ARCH, "%s:%d: class '%s' listed twice", p->origin,
                                p->line, name);
        memcpy(a->classes[n], name, len + 1);
        n++;
        if (!comma)
            break;
        s = comma + 1;
    }
    a->nclasses = n;
    return 0;
}

/* Applies one `key = value` of the current section. */
static int set_key(parser *p, int key, char *value)
{
    fer_arch *a = p->a;
    fer_layer_spec *l = p->section == SEC_NET ? NULL : &a->layers[a->nlayers - 1];
    int r = 0;

    switch (key) {
    case K_NAME: {
        size_t n = strlen(value);
        if (n >= sizeof a->name)
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: name is longer than %zu bytes", p->origin,
                            p->line, sizeof a->name - 1);
        memcpy(a->name, value, n + 1);
        return 0;
    }
    case K_INPUT:
        if (parse_input(value, a) < 0)
            return fer_fail(p->err, FER_E_ARCH,
                            "%s:%d: bad input '%.40s': expected CxHxW, each 1..%d", p->origin,
                            p->line, value, MAX_INT_VALUE);
        if ((long long)a->in_c * a->in_h * a->in_w > FER_MAX_INPUT_FLOATS)
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: input %dx%dx%d is larger than %d floats",
                            p->origin, p->line, a->in_c, a->in_h, a->in_w, FER_MAX_INPUT_FLOATS);
        return 0;
    case K_CLASSES:
        p->classes_line = p->line;
        return parse_classes(p, value);
    case K_FILTERS: r = parse_int(value, 1, MAX_INT_VALUE, &l->filters); break;
    case K_SIZE: r = parse_int(value, 1, MAX_INT_VALUE, &l->size); break;
    case K_STRIDE: r = parse_int(value, 1, MAX_INT_VALUE, &l->stride); break;
    case K_PAD: r = parse_int(value, 0, MAX_INT_VALUE, &l->pad); break;
    case K_BIAS: r = parse_int(value, 0, 1, &l->bias); break;
    case K_OUTPUTS: r = parse_int(value, 1, MAX_INT_VALUE, &l->outputs); break;
    case K_EPS: r = parse_float(value, 1e-12, 1.0, 0, &l->eps); break;
    case K_MOMENTUM: r = parse_float(value, 0.0, 1.0, 0, &l->momentum); break;
    case K_P: r = parse_float(value, 0.0, 1.0, 1, &l->p); break;
    default: r = -1; break;
    }
    if (r < 0) {
        const char *want = key == K_BIAS ? "0 or 1"
                           : key == K_PAD ? "an integer in 0..65535"
                           : key == K_EPS ? "a number in (0, 1]"
                           : key == K_MOMENTUM ? "a number in [0, 1]"
                           : key == K_P ? "a number in [0, 1)"
                           : "an integer in 1..65535";
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: bad value '%.40s' for %s: expected %s",
                        p->origin, p->line, value, key_names[key], want);
    }
    return 0;
}

/* Checks the section that just ended: required keys, cross-key constraints, defaults. */
static int end_section(parser *p)
{
    if (p->section < 0)
        return 0;
    if (p->section == SEC_NET) {
        if (!p->seen[K_INPUT])
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: [net] has no 'input'", p->origin,
                            p->section_line);
        return 0;
    }
    fer_layer_spec *l = &p->a->layers[p->a->nlayers - 1];
    const char *sec = section_names[p->section];
    static const int conv_req[] = {K_FILTERS, K_SIZE};
    if (l->type == FER_LAYER_CONV) {
        for (size_t i = 0; i < sizeof conv_req / sizeof conv_req[0]; i++)
            if (!p->seen[conv_req[i]])
                return fer_fail(p->err, FER_E_ARCH, "%s:%d: [%s] has no '%s'", p->origin,
                                p->section_line, sec, key_names[conv_req[i]]);
        if (l->pad >= l->size)
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: [conv] pad %d must be smaller than size %d",
                            p->origin, p->section_line, l->pad, l->size);
    }
    if (l->type == FER_LAYER_FC && !p->seen[K_OUTPUTS])
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: [fc] has no 'outputs'", p->origin,
                        p->section_line);
    if (l->type == FER_LAYER_MAXPOOL && !p->seen[K_STRIDE])
        l->stride = l->size;
    return 0;
}

/* Opens section `name` (already validated as [a-z0-9_]+). */
static int begin_section(parser *p, const char *name)
{
    int sec = -1;
    for (int i = 0; i < SEC_COUNT; i++)
        if (!strcmp(name, section_names[i]))
            sec = i;
    if (sec < 0)
        return fer_fail(p->err, FER_E_LAYER, "%s:%d: unknown layer [%s]", p->origin, p->line,
                        name);

    int r = end_section(p);
    if (r < 0)
        return r;
    if (sec == SEC_NET && p->net_line)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: second [net] (the first is on line %d)",
                        p->origin, p->line, p->net_line);
    if (sec != SEC_NET && !p->net_line)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: [%s] before [net]: [net] must come first",
                        p->origin, p->line, name);

    p->section = sec;
    p->section_line = p->line;
    memset(p->seen, 0, sizeof p->seen);
    if (sec == SEC_NET) {
        p->net_line = p->line;
        return 0;
    }

    fer_arch *a = p->a;
    if (a->nlayers == FER_MAX_LAYERS)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: more than %d layers", p->origin, p->line,
                        FER_MAX_LAYERS);
    fer_layer_spec *l = &a->layers[a->nlayers++];
    memset(l, 0, sizeof *l);
    l->type = (fer_layer_type)sec;
    l->line = p->line;
    l->stride = 1;
    l->bias = 1;
    l->size = sec == FER_LAYER_MAXPOOL ? 2 : 0;
    l->p = 0.5f;
    l->eps = 1e-5f;
    l->momentum = 0.1f;
    return 0;
}

/* Handles one line (NUL-terminated copy, newline and any '\r' removed). */
static int parse_line(parser *p, char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fer_fail(p->err, FER_E_ARCH, "%s:%d: control byte 0x%02x (not a text file?)",
                            p->origin, p->line, c);
    }
    // A comment runs from '#' or ';' to the end of the line, values included.
    len = strcspn(s, "#;");
    s = trim(s, &len);
    if (len == 0)
        return 0;

    if (s[0] == '[') {
        size_t n = len - 1;
        if (s[len - 1] != ']' || len < 3 ||
            strspn(s + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") != len - 2)
            return fer_fail(p->err, FER_E_ARCH,
                            "%s:%d: malformed section header '%.40s' (expected [name])",
                            p->origin, p->line, s);
        s[n] = '\0';
        return begin_section(p, s + 1);
    }

    char *eq = strchr(s, '=');
    if (!eq)
        return fer_fail(p->err, FER_E_ARCH,
                        "%s:%d: expected 'key = value' or [section], got '%.40s'", p->origin,
                        p->line, s);
    *eq = '\0';
    size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
    char *key = trim(s, &klen);
    char *value = trim(eq + 1, &vlen);
    if (klen == 0)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: missing key before '='", p->origin, p->line);
    if (p->section < 0)
        return fer_fail(p->err, FER_E_ARCH,
                        "%s:%d: key '%.40s' before [net]: [net] must come first", p->origin,
                        p->line, key);

    int k = -1;
    for (int i = 0; i < K_COUNT; i++)
        if ((section_keys[p->section] & KB(i)) && !strcmp(key, key_names[i]))
            k = i;
    if (k < 0)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: unknown key '%.40s' in [%s]", p->origin,
                        p->line, key, section_names[p->section]);
    if (p->seen[k])
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: duplicate key '%s' (first set on line %d)",
                        p->origin, p->line, key, p->seen[k]);
    if (vlen == 0)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: key '%s' has no value", p->origin, p->line,
                        key);
    p->seen[k] = p->line;
    return set_key(p, k, value);
}

/* After the last line: whole-arch checks, then shapes through fer_net_plan. */
static int finish(parser *p)
{
    fer_arch *a = p->a;
    int r = end_section(p);
    if (r < 0)
        return r;
    if (!p->net_line)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: no [net] section", p->origin,
                        p->line > 0 ? p->line : 1);
    if (a->nlayers == 0)
        return fer_fail(p->err, FER_E_ARCH, "%s:%d: no layers after [net]", p->origin,
                        p->net_line);

    fer_layer *plan = calloc((size_t)a->nlayers, sizeof *plan);
    if (!plan)
        return fer_fail(p->err, -ENOMEM, "%s: out of memory", p->origin);
    r = fer_net_plan(plan, a, p->origin, p->err);
    size_t width = plan[a->nlayers - 1].out_size;
    free(plan);
    if (r < 0)
        return r;

    const fer_layer_spec *last = &a->layers[a->nlayers - 1];
    if (width > FER_MAX_CLASSES)
        return fer_fail(p->err, FER_E_CLASSES,
                        "%s:%d: the output layer has %zu outputs, at most %d classes are supported",
                        p->origin, last->line, width, FER_MAX_CLASSES);
    if (p->classes_line && (size_t)a->nclasses != width)
        return fer_fail(p->err, FER_E_CLASSES,
                        "%s:%d: %d classes listed, the output layer (line %d) has %zu outputs",
                        p->origin, p->classes_line, a->nclasses, last->line, width);
    a->nclasses = (int)width;
    return 0;
}

int fer_arch_parse(fer_arch **out, const char *text, size_t len, const char *origin,
                   fer_error *err)
{
    *out = NULL;
    if (!origin)
        origin = "arch";
    if (!text && len)
        return fer_fail(err, -EINVAL, "%s: no text", origin);

    fer_arch *a = calloc(1, sizeof *a);
    char *line = malloc(MAX_LINE + 1);
    if (!a || !line || !(a->text = malloc(len + 1))) {
        free(line);
        fer_arch_free(a);
        return fer_fail(err, -ENOMEM, "%s: out of memory", origin);
    }
    if (len)
        memcpy(a->text, text, len);
    a->text[len] = '\0';

    parser p = {.a = a, .origin = origin, .err = err, .section = -1};
    int r = 0;
    size_t pos = 0;
    while (pos < len) {
        // The last line may lack its newline: it still counts as a line.
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p.line++;
        if (n > 0 && text[pos + n - 1] == '\r')
            n--;
        if (n > MAX_LINE) {
            r = fer_fail(err, FER_E_ARCH, "%s:%d: line is longer than %d bytes", origin, p.line,
                         MAX_LINE);
            goto out;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        r = parse_line(&p, line, n);
        if (r < 0)
            goto out;
        pos += (nl ? (size_t)(nl - (text + pos)) + 1 : len - pos);
    }
    r = finish(&p);

out:
    free(line);
    if (r < 0) {
        fer_arch_free(a);
        return r;
    }
    *out = a;
    return 0;
}

int fer_arch_load(fer_arch **out, const char *path, fer_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fer_fail(err, -errno, "%s: %s", path, strerror(errno));

    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int r = 0;
    if (!buf) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_ARCH_FILE) {
                r = fer_fail(err, FER_E_ARCH, "%s: larger than %u bytes, not an architecture",
                             path, MAX_ARCH_FILE);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                r = fer_fail(err, -ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                r = fer_fail(err, -e, "%s: %s", path, strerror(e));
                goto out;
            }
            break;
        }
    }
    r = fer_arch_parse(out, buf, len, path, err);

out:
    free(buf);
    fclose(f);
    return r;
}
