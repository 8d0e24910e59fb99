/*
 * assets.h — the page's files, built into ferd-http (http/embed.c generates
 * the table from http/assets/ at build time). ferd-http serves these and
 * nothing else from its own bytes: no path in a request ever reaches the file
 * system.
 */
#ifndef FERD_HTTP_ASSETS_H
#define FERD_HTTP_ASSETS_H

#include <stddef.h>

typedef struct http_asset {
    const char *name;           /* the URL path without its leading "/": "index.html" */
    const char *type;           /* its Content-Type */
    const unsigned char *data;  /* the bytes (NUL-terminated for convenience) */
    size_t len;
    const char *etag;           /* quoted hash of the bytes */
} http_asset;

/* Every asset, ended by an entry whose name is NULL. */
extern const http_asset http_assets[];

#endif
