/* Internal: the layout of an rk_script, so that the library's own scripts
 * (the lock's) can live in static storage, named once, with no allocation
 * that could fail. */
#ifndef RK_SCRIPT_INT_H
#define RK_SCRIPT_INT_H

#include <stddef.h>

#include "rediskit/script.h"
#include "util/sha1.h"

#pragma GCC visibility push(hidden)

struct rk_script {
    const char *src; /* NUL-terminated; owned by the script from
                        rk_script_new, borrowed for rk_script_init */
    size_t len;
    char sha[RK_SHA1_HEX_LEN + 1];
};

/* Makes *s the script of src[0..len), which must be NUL-terminated at len
 * and outlive s (a string literal). Cannot fail; rk_script_free must not be
 * called on s. */
void rk_script_init(rk_script *s, const char *src, size_t len);

#pragma GCC visibility pop

#endif
