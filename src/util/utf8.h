/*
 * utf8.h — UTF-8 checks, repair and cutting, for everything ferd sends or shows.
 *
 * The protocol promises that every byte the daemon writes is valid UTF-8 JSON
 * (proto/PROTOCOL.md, Conventions), whatever a client sent and whatever a file
 * name, a model's class names or an error message from a library hold. cJSON
 * copies bytes >= 0x80 through as they are, so the one place that can keep the
 * promise is here: the encoders check each printed line and repair the rare
 * bad one; strings cut to fit a buffer are cut between characters, never
 * inside one.
 *
 * Valid means RFC 3629: shortest form only, no UTF-16 surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. NUL is a valid character here;
 * callers that must refuse it do so themselves.
 */
#ifndef FER_UTIL_UTF8_H
#define FER_UTIL_UTF8_H

#include <stddef.h>

/* Length of the longest valid UTF-8 prefix of s (n bytes): n if all of it is valid. */
size_t fer_utf8_valid_prefix(const char *s, size_t n);

/* 1 if the n bytes at s are valid UTF-8, else 0. */
int fer_utf8_valid(const char *s, size_t n);

/*
 * A malloc'd, NUL-terminated copy of s (n bytes) in which every byte that does
 * not start a valid sequence is replaced by U+FFFD (so the copy is at most 3n
 * bytes); its length in *out_len when out_len is not NULL. NULL when out of memory.
 */
char *fer_utf8_repair(const char *s, size_t n, size_t *out_len);

/* The largest length <= max at which s (NUL-terminated) may be cut without
 * splitting a character: max itself, or less when max falls inside one. */
size_t fer_utf8_cut(const char *s, size_t max);

/* Copies src into dst (cap > 0 bytes, NUL-terminated), cut between characters
 * when it does not fit. */
void fer_utf8_copy(char *dst, size_t cap, const char *src);

#endif
