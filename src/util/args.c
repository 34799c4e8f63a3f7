/* Collecting a NULL-terminated list of C-string arguments into an array,
 * for the "_args" variants of the calls. */
#include "util/common.h"

int rk_collect_args(const char *arg0, va_list ap, rk_str *argv, int max) {
    int argc = 0;
    for (const char *s = arg0; s != NULL; s = va_arg(ap, const char *)) {
        if (argc == max)
            return rk_fail(RK_EINVAL, "more than %d arguments: use the _argv variant", max);
        argv[argc++] = rk_cstr(s);
    }
    return argc;
}
