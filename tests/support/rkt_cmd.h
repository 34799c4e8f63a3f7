/* Helpers for the typed-command tests (tests/test_cmd_*.c): each test runs
 * twice, on RESP2 and on RESP3, against the file's shared redis-server
 * (rkt_shared.h), flushed before each run.
 *
 *     static void test_incr_counts_up(void **state) {
 *         rk_client *c = rkt_cmd_client(state);
 *         long long n;
 *         RKT_OK(rk_incr(c, "n", &n));
 *         assert_int_equal(n, 1);
 *         rk_client_free(c);
 *     }
 *     ...
 *     const struct CMUnitTest tests[] = {RKT_BOTH(test_incr_counts_up)};
 *     return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
 */
#ifndef RKT_CMD_H
#define RKT_CMD_H

#include <stddef.h>

#include "rediskit/rediskit.h"
#include "rkt_shared.h"

extern const int rkt_resp2, rkt_resp3;

/* The protocol (2 or 3) of the running test. */
int rkt_cmd_protocol(void **state);

/* A client of the shared server speaking the test's protocol; skips the
 * test when there is no server. Free it with rk_client_free. */
rk_client *rkt_cmd_client(void **state);

/* Group-test setup: FLUSHALL on the shared server. */
int rkt_cmd_flush(void **state);

/* How many times the shared server ran cmd (lower case, "get",
 * "config|get") since it started or since CONFIG RESETSTAT, from INFO
 * commandstats: to show that a refused call sent nothing. */
long long rkt_cmd_calls(const char *cmd);

/* Fails the test unless rc == want, with the library's last message. */
void rkt_expect_rc(int rc, int want, const char *what, const char *file, int line);
#define RKT_RC(expr, want) rkt_expect_rc((expr), (want), #expr, __FILE__, __LINE__)
#define RKT_OK(expr) RKT_RC(expr, RK_OK)
#define RKT_NIL(expr) RKT_RC(expr, RK_NIL) /* the server answered nil */

/* Runs a built command on c: it answers an integer, returned; or the
 * string want exactly. */
long long rkt_run_int(rk_client *c, rk_command *cmd);
void rkt_run_bytes(rk_client *c, rk_command *cmd, rk_str want);

/* GET key (binary safe, through rk_cmd_get) answers exactly want. */
void rkt_expect_value(rk_client *c, rk_str key, rk_str want);

/* The reply is a map (on both protocols) and key maps to a string equal
 * to value (or, when value is NULL, is present at all); returns the value. */
const rk_reply *rkt_map_expect(const rk_reply *map, const char *key, const char *value);

/* The reply is of kind type, with n elements (arrays, sets; pairs of a map). */
void rkt_expect_shape(const rk_reply *r, rk_type type, size_t n);

/* A test twice, on RESP2 and on RESP3, each run between setup and
 * teardown (cmocka fixtures; NULL for none). */
#define RKT_BOTH_FIXTURES(f, setup, teardown)                                                      \
    {#f "/resp2", f, setup, teardown, (void *)&rkt_resp2}, {                                       \
#f "/resp3", f, setup, teardown, (void *)&rkt_resp3                                        \
    }

/* A test twice: on RESP2 and on RESP3, each after a FLUSHALL. */
#define RKT_BOTH(f) RKT_BOTH_FIXTURES(f, rkt_cmd_flush, NULL)

#endif
