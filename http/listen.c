/*
 * listen.c — "HOST:PORT" into a socket address, and back into text.
 *
 * Only numeric addresses (and the name "localhost") are accepted: resolving
 * names at start-up would make the bound address depend on DNS or
 * /etc/hosts, and "is this loopback?" is a security decision here.
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_addr_is_loopback(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

int http_listen_parse(http_listen *l, const char *spec, fer_error *err)
{
    memset(l, 0, sizeof *l);
    const char *h = spec;
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return fer_fail(err, FER_E_INVAL, "listen \"%s\": expected HOST:PORT, e.g. 127.0.0.1:8090",
                        spec);
    char host[64];
    size_t hlen = (size_t)(colon - spec);
    if (spec[0] == '[') {
        if (hlen < 3 || spec[hlen - 1] != ']')
            return fer_fail(err, FER_E_INVAL,
                            "listen \"%s\": an IPv6 address goes in brackets, e.g. [::1]:8090",
                            spec);
        h++;
        hlen -= 2;
    }
    else if (memchr(h, ':', hlen))
        return fer_fail(err, FER_E_INVAL,
                        "listen \"%s\": an IPv6 address goes in brackets, e.g. [::1]:8090", spec);
    if (hlen >= sizeof host)
        return fer_fail(err, FER_E_INVAL, "listen \"%s\": host too long", spec);
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    char *end;
    errno = 0;
    long port = strtol(p, &end, 10);
    if (*p < '0' || *p > '9' || *end || errno || port < 0 || port > 65535)
        return fer_fail(err, FER_E_INVAL, "listen \"%s\": port \"%s\" is not a number in 0..65535",
                        spec, p);
    l->port = (int)port;

    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)&l->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&l->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        l->len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        l->len = sizeof *a6;
        l->ipv6 = 1;
    } else {
        return fer_fail(err, FER_E_INVAL,
                        "listen \"%s\": \"%s\" is not a numeric IPv4 or IPv6 address "
                        "(names are not resolved; use 127.0.0.1, ::1, 0.0.0.0 or ::)",
                        spec, host);
    }
    l->loopback = http_addr_is_loopback((const struct sockaddr *)&l->addr);
    return 0;
}

void http_addr_format(const struct sockaddr *addr, char *buf, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(buf, n, "%s:%d", host, port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(buf, n, "[%s]:%d", host, port);
    } else {
        snprintf(buf, n, "(family %d)", addr->sa_family);
    }
}
