/** @file rediskit/version.h
 * rediskit: version of the library, at compile time and at run time. */
#ifndef RK_VERSION_H
#define RK_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define RK_VERSION_MAJOR 0
#define RK_VERSION_MINOR 1
#define RK_VERSION_PATCH 0
#define RK_VERSION_STRING "0.1.0"

/** The version of the library actually linked, "MAJOR.MINOR.PATCH". */
const char *rk_version(void);

#ifdef __cplusplus
}
#endif
#endif
