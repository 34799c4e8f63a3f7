/* Skips that CTest can see.
 *
 * cmocka exits 0 when tests were skipped, so a machine without redis-server
 * would "pass" with most tests never run. A test that cannot run because
 * something it needs is missing (redis-server, openssl, a tool not built)
 * says so with rkt_skip_missing() (rkt_require_binaries() does it for
 * programs); the program then exits with RKT_SKIP_CODE instead of 0, which
 * every CTest test declares as its SKIP_RETURN_CODE, so CTest lists it as
 * "***Skipped". With RK_TEST_REQUIRE_SERVERS=1 in the environment (CI) a
 * missing program fails the test instead of skipping it.
 *
 * The exit status is set by an exit handler that every test program gets
 * (tests/CMakeLists.txt links this file into each), so test mains simply
 * return cmocka's count of failures. That handler also turns a failure
 * count that would read as a pass or a skip (256 failures: status 0; 77)
 * into 1. Skips for what the machine is, not what it lacks (no IPv6
 * loopback), stay plain cmocka skips. */
#ifndef RKT_SKIP_H
#define RKT_SKIP_H

#include <stdbool.h>

/** The exit status of a test program that skipped tests for something
 *  missing and failed none (Automake's convention). */
#define RKT_SKIP_CODE 77

/** True when RK_TEST_REQUIRE_SERVERS is set to 1 (or anything but "" and
 *  "0"): every program the tests need must be present. */
bool rkt_require_servers(void);

/** Says that what (e.g. "redis-server not found on PATH") keeps the calling
 *  test from running. Normally it prints "skipping: <what>" and records it,
 *  and the caller then calls cmocka's skip(); under RK_TEST_REQUIRE_SERVERS
 *  it fails the running test (or group fixture) with that message and does
 *  not return. */
void rkt_skip_missing(const char *what);

#endif
