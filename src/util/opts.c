/* Options structs that can grow without breaking old binaries.
 *
 * Every public function taking an options struct is called through a
 * macro of the same name that passes sizeof the struct as the caller's
 * header declared it. A binary built against an older, shorter struct
 * passes its shorter size: the fields it did not know read as zero, which
 * is their default. A binary built against a newer header passes a longer
 * size: accepted when every byte this library does not know is zero (the
 * newer fields left at their defaults), refused otherwise. */
#include <stdbool.h>
#include <string.h>

#include "util/common.h"

bool rk_bytes_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

RK_HOT int rk_opts_settle(void *dst, size_t dst_size, const void *src, size_t src_size,
                          const char *what) {
    memset(dst, 0, dst_size);
    if (src == NULL)
        return RK_OK;
    if (src_size == 0)
        return rk_fail(RK_EINVAL, "%s: size 0; call through the header's macro", what);
    if (src_size > dst_size &&
        !rk_bytes_zero((const unsigned char *)src + dst_size, src_size - dst_size))
        return rk_fail(RK_EINVAL,
                       "%s: sets fields this rediskit does not have (built for a newer "
                       "version: %zu bytes, this one knows %zu)",
                       what, src_size, dst_size);
    memcpy(dst, src, RK_MIN(src_size, dst_size));
    return RK_OK;
}
