/* rk-cli: small helpers every part of the tool shares: allocation that
 * exits on failure (a command-line tool has nothing better to do), and the
 * monotonic clock. */
#ifndef RKCLI_UTIL_H
#define RKCLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** realloc, or exit(1) with a message when out of memory. */
void *cli_realloc(void *p, size_t size);

/** strdup of s (NULL stays NULL), or exit(1) when out of memory. */
char *cli_strdup(const char *s);

/** Milliseconds of a monotonic clock. */
int64_t cli_now_ms(void);

#endif
