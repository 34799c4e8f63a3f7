/* How long a blocking command may make the server hold its reply back,
 * read from its arguments, so that a call's timeout can wait that long
 * on top of the command timeout. */
#ifndef RK_META_BLOCK_H
#define RK_META_BLOCK_H

#include <stddef.h>

#include "rediskit/str.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* The server-side blocking time of the command argv (argv[0] its name, in
 * any case), in milliseconds: the timeout of BLPOP, BRPOP, BRPOPLPUSH,
 * BLMOVE, BZPOPMIN, BZPOPMAX (the last argument, seconds, fractions
 * allowed), BLMPOP and BZMPOP (the first argument), the BLOCK of XREAD and
 * XREADGROUP, the timeout of WAIT and WAITAOF (the last argument, ms).
 * -1 when it may block for ever (a timeout of 0); 0 for a command that
 * does not block, or whose timeout is not a number (the server refuses it
 * at once). No allocation, no error set. */
long long rk_meta_block_ms(const rk_str *argv, size_t argc);

/* rk_meta_block_ms of the command encoded last into writer (0 when there
 * is none). Only a blocking command's name costs more than a few
 * comparisons. */
long long rk_writer_last_block_ms(const rk_writer *writer);

/* The longer of two blocking times, -1 (for ever) being the longest. */
static inline long long rk_block_max(long long a, long long b) {
    return a < 0 || b < 0 ? -1 : (a > b ? a : b);
}

#pragma GCC visibility pop

#endif
