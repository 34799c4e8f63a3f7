/* Internal: SHA-1 (FIPS 180-4), for the names Redis gives scripts in its
 * cache. Not for security: SHA-1 is broken for that; Redis only uses it as
 * a cache key. */
#ifndef RK_SHA1_H
#define RK_SHA1_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

/* Length of a digest as lowercase hex, without the NUL. */
#define RK_SHA1_HEX_LEN 40

/* Writes the SHA-1 of data[0..len) into hex as 40 lowercase hex digits and
 * a NUL. */
void rk_sha1_hex(const void *data, size_t len, char hex[RK_SHA1_HEX_LEN + 1]);

#pragma GCC visibility pop

#endif
