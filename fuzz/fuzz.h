/*
 * fuzz.h — what every fuzz target of fuzz/ shares.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput for one parser of outside
 * input. The same object links two ways: with clang's libFuzzer
 * (-fsanitize=fuzzer, the fuzz build) to search for crashes, and with replay.c,
 * a plain main() that feeds files to it, so gcc builds replay the committed
 * seeds and regression inputs as ordinary meson tests.
 *
 * A target reports a broken invariant (a round trip that does not round-trip)
 * with fuzz_fail, which aborts: libFuzzer saves the input as a crash, and the
 * replay test fails.
 */
#ifndef FER_FUZZ_H
#define FER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: <message>" to stderr and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Puts data into an anonymous in-memory file (memfd) for parsers that only read
 * paths. On success returns the fd and writes "/proc/self/fd/<fd>" to path
 * (at least 32 bytes); the caller closes the fd. Aborts if the kernel refuses,
 * since then no input can be tested at all.
 */
int fuzz_memfd(const uint8_t *data, size_t size, char *path);

/* With FUZZ_VERBOSE set in the environment (replaying one input by hand),
 * prints "what: ok" or "what: <code> <message>" to stderr; otherwise nothing. */
void fuzz_note(const char *what, int rc, const char *msg);

/* Replaces the last 4 bytes of buf[0..len) by the little-endian CRC-32 (zlib)
 * of the bytes before them, as the .fermodel and checkpoint writers do. No-op
 * when len < 4. */
void fuzz_fix_crc(uint8_t *buf, size_t len);

#endif
