/* Run-time version query. */
#include "rediskit/version.h"

const char *rk_version(void) {
    return RK_VERSION_STRING;
}
