/* rk-cli: small helpers every part of the tool shares: allocation that
 * exits on failure (a command-line tool has nothing better to do), a
 * growing string, and the monotonic clock. */
#ifndef RKCLI_UTIL_H
#define RKCLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** realloc, or exit(1) with a message when out of memory. */
void *cli_realloc(void *p, size_t size);

/** strdup of s (NULL stays NULL), or exit(1) when out of memory. */
char *cli_strdup(const char *s);

/** A string being built: NUL-terminated once anything was put in it
 *  (buf is NULL before); free buf when done. */
typedef struct cli_buf {
    char *buf;
    size_t len, cap;
} cli_buf;

/** Appends n bytes of s; exits when out of memory. */
void cli_buf_put(cli_buf *b, const char *s, size_t n);

/** Appends the C string s. */
void cli_buf_puts(cli_buf *b, const char *s);

/** Milliseconds of a monotonic clock. */
int64_t cli_now_ms(void);

#endif
