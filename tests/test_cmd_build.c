/* Typed commands: the generated functions' common machinery (rk_command):
 * a first round trip, argument lists past the inline storage, numbers
 * past the inline number room, no target, and running out of memory while
 * building, on RESP2 and RESP3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_alloc.h"
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
    rk_command cmd;
    RKT_RC(rk_pipeline_add(NULL, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("v"), NULL)), RK_EINVAL);
    RKT_RC(rk_client_run(NULL, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("v"), NULL), NULL), RK_EINVAL);
    RKT_RC(rk_conn_run(NULL, rk_cmd_select(&cmd, 1), NULL), RK_EINVAL);
}

enum { MANY = 1500 };

/* MANY members with distinct scores: more words than the inline argv and
 * more numbers than the inline number room hold. */
static rk_zadd_score_member *many_members(char (*names)[16]) {
    rk_zadd_score_member *m = calloc(MANY, sizeof(*m));
    assert_non_null(m);
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        m[i] = (rk_zadd_score_member){.score = i + 0.25, .member = rk_cstr(names[i])};
    }
    return m;
}

static void test_long_argument_lists_go_out_whole(void **state) {
    rk_client *c = rkt_cmd_client(state);
    static char names[MANY][16];
    rk_zadd_score_member *m = many_members(names);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", m, MANY, NULL, &r));
    assert_int_equal(rk_reply_int(&r), MANY);
    rk_reply_free(&r);
    double score;
    RKT_OK(rk_zscore(c, "z", "m1499", &score));
    assert_true(score == 1499.25);
    const char *keys[MANY];
    for (int i = 0; i < MANY; i++)
        keys[i] = i == 700 ? "z" : names[i];
    long long n;
    RKT_OK(rk_del(c, keys, MANY, &n));
    assert_int_equal(n, 1);
    free(m);
    rk_client_free(c);
}

/* Whichever allocation fails while a long command is built, the call is
 * RK_ENOMEM, kept in the command (a runner sends nothing after a failed
 * build), and nothing leaks. Only built, so that only building allocates. */
static void test_out_of_memory_while_building_is_enomem(void **state) {
    (void)state;
    static char names[MANY][16];
    rk_zadd_score_member *m = many_members(names);
    rkt_alloc_install();
    size_t failures = 0;
    for (size_t nth = 1; nth < 40; nth++) {
        size_t before = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(nth);
        rk_command cmd;
        rk_cmd_zadd(&cmd, RK_STR("z"), m, MANY, NULL);
        int rc = rk_command_status(&cmd);
        rk_command_release(&cmd);
        bool failed = rkt_alloc_stats_now().failed > before;
        rkt_alloc_fail_nth(0);
        if (!failed)
            break;
        failures++;
        RKT_RC(rc, RK_ENOMEM);
    }
    assert_true(failures > 0);
    assert_int_equal(rkt_alloc_live(), 0);
    rkt_alloc_uninstall();
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_set_then_get_returns_the_value),
        cmocka_unit_test(test_null_target_is_einval),
        RKT_BOTH(test_long_argument_lists_go_out_whole),
        cmocka_unit_test(test_out_of_memory_while_building_is_enomem),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
