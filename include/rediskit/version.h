/** @file rediskit/version.h
 * rediskit: version of the library, at compile time and at run time. */
#ifndef RK_VERSION_H
#define RK_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the headers compiled against; rk_version() gives that of
 * the library linked, which may differ. */
#define RK_VERSION_MAJOR 0        /**< Major version of these headers. */
#define RK_VERSION_MINOR 1        /**< Minor version of these headers. */
#define RK_VERSION_PATCH 0        /**< Patch level of these headers. */
#define RK_VERSION_STRING "0.1.0" /**< MAJOR.MINOR.PATCH, as a string. */

/** The version of the library actually linked, "MAJOR.MINOR.PATCH". */
const char *rk_version(void);

#ifdef __cplusplus
}
#endif
#endif
