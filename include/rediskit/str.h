/** @file rediskit/str.h
 * rediskit: the one way to pass a binary-safe string.
 *
 * Across the API a `const char *` is always a NUL-terminated C string, and
 * a string that may hold any bytes (NUL included) is an rk_str: a length
 * and a pointer. Lists are always an array followed by its count.
 *
 *     rk_str key = RK_STR("user:42");          // a literal, length known
 *     rk_str val = rk_bin(buf, n);              // any bytes
 *     rk_str name = rk_cstr(s);                 // a C string, by strlen
 *
 * The length comes first on purpose: a struct of two rk_str written as if
 * it held C strings and lengths, `{"f", 0, "v", 0}`, puts a pointer where
 * a length belongs, which C compilers diagnose (an error with
 * -pedantic-errors, and by default in current GCC and Clang) instead of
 * silently sending empty strings. A NULL pointer with a non-zero length,
 * or a length over RK_STR_MAX, is refused with RK_EINVAL. */
#ifndef RK_STR_H
#define RK_STR_H

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A binary-safe string: len bytes at ptr (ptr may be NULL when len is 0). */
typedef struct rk_str {
    size_t len;      /**< Its length in bytes. */
    const char *ptr; /**< Its bytes; need not be NUL-terminated. */
} rk_str;

/** The longest string an argument may be: Redis's own limit for a bulk
 *  string (proto-max-bulk-len), 512 MiB. */
#define RK_STR_MAX ((size_t)512 * 1024 * 1024)

/** An rk_str of a string literal (its length counted at compile time). */
#define RK_STR(lit) ((rk_str){sizeof("" lit) - 1, (lit)})

/** An rk_str of len bytes at ptr. */
static inline rk_str rk_bin(const void *ptr, size_t len) {
    rk_str s = {len, (const char *)ptr};
    return s;
}

/** An rk_str of a C string (NULL gives a NULL rk_str, which a required
 *  argument refuses with RK_EINVAL). */
static inline rk_str rk_cstr(const char *s) {
    rk_str r = {s ? strlen(s) : 0, s};
    return r;
}

#ifdef __cplusplus
}
#endif

#endif
