/*
 * listen.h — the address ferd-http listens on, from "HOST:PORT".
 *
 * HOST is a numeric IPv4 address, a numeric IPv6 address in brackets
 * ("[::1]:8090"), or "localhost" (127.0.0.1); no name is ever resolved, so
 * what the configuration says is exactly what gets bound. PORT is 0..65535
 * (0: the kernel picks one, which ferd-http then logs). Whether the address is
 * a loopback one decides whether authentication is required.
 */
#ifndef FERD_HTTP_LISTEN_H
#define FERD_HTTP_LISTEN_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "util/error.h"

typedef struct http_listen {
    struct sockaddr_storage addr;
    socklen_t len;
    int ipv6;           /* 1: addr is a sockaddr_in6 */
    int loopback;       /* 1: 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
    int port;
} http_listen;

/* Parses spec into l. FER_E_INVAL with err naming spec and what is wrong. */
int http_listen_parse(http_listen *l, const char *spec, fer_error *err);

/* "127.0.0.1:8090" or "[::1]:8090" for addr (the port from addr itself), into buf. */
void http_addr_format(const struct sockaddr *addr, char *buf, size_t n);

/* 1 if addr (IPv4 or IPv6) is a loopback address. */
int http_addr_is_loopback(const struct sockaddr *addr);

#endif
