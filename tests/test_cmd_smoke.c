/* Typed commands: a first check that the generated functions, the reply
 * shapes and the pipeline path work together, on RESP2 and RESP3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_cmd.h"

static void test_set_then_get_returns_the_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", NULL, NULL));
    char *v;
    size_t len;
    RKT_OK(rk_get(c, "k", &v, &len));
    assert_string_equal(v, "v");
    assert_int_equal(len, 1);
    rk_free(v);
    rk_client_free(c);
}

/* No client, connection or pipeline is RK_EINVAL, not a crash. */
static void test_null_target_is_einval(void **state) {
    (void)state;
    RKT_RC(rk_set(NULL, "k", "v", NULL, NULL), RK_EINVAL);
    long long n;
    RKT_RC(rk_incr(NULL, "k", &n), RK_EINVAL);
    RKT_RC(rk_select(NULL, 1), RK_EINVAL);
    RKT_RC(rk_pipe_set(NULL, "k", "v", NULL), RK_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_set_then_get_returns_the_value),
        cmocka_unit_test(test_null_target_is_einval),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
