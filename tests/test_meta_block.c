/* rk_meta_block_ms: how long each blocking command may make the server
 * wait, read from its arguments, and the same read back from a writer for
 * the commands that the client and connection send. No server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "meta/block.h"
#include "rediskit/rediskit.h"

/* rk_meta_block_ms over a NULL-terminated list of C strings. */
static long long block_of(const char *arg0, ...) {
    rk_str argv[32] = {rk_cstr(arg0)};
    size_t argc = 1;
    va_list ap;
    va_start(ap, arg0);
    for (const char *s; argc < 32 && (s = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = rk_cstr(s);
    va_end(ap);
    return rk_meta_block_ms(argv, argc);
}

static void test_list_pops_block_for_their_last_argument_in_seconds(void **state) {
    (void)state;
    assert_int_equal(block_of("BLPOP", "a", "b", "7", NULL), 7000);
    assert_int_equal(block_of("brpop", "a", "0.25", NULL), 250);
    assert_int_equal(block_of("BRPOPLPUSH", "s", "d", "1.5", NULL), 1500);
    assert_int_equal(block_of("BLMOVE", "s", "d", "LEFT", "RIGHT", "2", NULL), 2000);
    assert_int_equal(block_of("BZPOPMIN", "z", "0.001", NULL), 1);
    assert_int_equal(block_of("BZPOPMAX", "z", "3", NULL), 3000);
}

static void test_fractions_of_a_millisecond_round_up(void **state) {
    (void)state;
    assert_int_equal(block_of("BLPOP", "a", "0.0001", NULL), 1);
}

static void test_multi_pops_block_for_their_first_argument(void **state) {
    (void)state;
    assert_int_equal(block_of("BLMPOP", "2.5", "1", "k", "LEFT", NULL), 2500);
    assert_int_equal(block_of("BZMPOP", "4", "1", "z", "MIN", NULL), 4000);
}

static void test_timeout_zero_blocks_for_ever(void **state) {
    (void)state;
    assert_int_equal(block_of("BLPOP", "a", "0", NULL), -1);
    assert_int_equal(block_of("BLMPOP", "0", "1", "k", "LEFT", NULL), -1);
    assert_int_equal(block_of("WAIT", "1", "0", NULL), -1);
    assert_int_equal(block_of("XREAD", "BLOCK", "0", "STREAMS", "s", "$", NULL), -1);
}

static void test_stream_reads_block_for_their_block_option(void **state) {
    (void)state;
    assert_int_equal(block_of("XREAD", "COUNT", "5", "BLOCK", "100", "STREAMS", "s", "$", NULL),
                     100);
    assert_int_equal(block_of("XREAD", "STREAMS", "block", "5", NULL), 0); /* a stream's name */
    assert_int_equal(block_of("XREAD", "COUNT", "1", "STREAMS", "s", "0", NULL), 0);
    /* a group and a consumer named "block" are not the option */
    assert_int_equal(
        block_of("XREADGROUP", "GROUP", "block", "block", "BLOCK", "50", "STREAMS", "s", ">", NULL),
        50);
    assert_int_equal(block_of("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">", NULL), 0);
}

static void test_wait_blocks_for_its_last_argument_in_milliseconds(void **state) {
    (void)state;
    assert_int_equal(block_of("WAIT", "1", "250", NULL), 250);
    assert_int_equal(block_of("waitaof", "1", "0", "300", NULL), 300);
}

static void test_other_commands_and_bad_timeouts_do_not_block(void **state) {
    (void)state;
    assert_int_equal(block_of("GET", "k", NULL), 0);
    assert_int_equal(block_of("LPOP", "k", "7", NULL), 0);
    assert_int_equal(block_of("BLPOP", NULL), 0);
    assert_int_equal(block_of("BLPOP", "a", "soon", NULL), 0);
    assert_int_equal(block_of("BLPOP", "a", "-1", NULL), 0);
    assert_int_equal(block_of("WAIT", "1", "2.5", NULL), 0);
    assert_int_equal(rk_meta_block_ms(NULL, 3), 0);
}

static void test_absurdly_long_timeouts_count_as_for_ever(void **state) {
    (void)state;
    assert_int_equal(block_of("BLPOP", "a", "1e300", NULL), -1);
    assert_int_equal(block_of("WAIT", "1", "9223372036854775807", NULL), -1);
}

static void test_writer_reads_the_block_time_of_its_last_command(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    assert_int_equal(rk_writer_format(w, "BLPOP %s %s", "k", "1.5"), RK_OK);
    assert_int_equal(rk_writer_last_block_ms(w), 1500);
    assert_int_equal(rk_writer_format(w, "GET k"), RK_OK);
    assert_int_equal(rk_writer_last_block_ms(w), 0);
    rk_writer_free(w);
}

/* More keys than the few words read back without allocating. */
static void test_writer_reads_the_block_time_of_a_long_command(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    rk_str argv[42] = {RK_STR("BLPOP")};
    for (size_t i = 1; i < 41; i++)
        argv[i] = RK_STR("key");
    argv[41] = RK_STR("9");
    assert_int_equal(rk_writer_argv(w, argv, 42), RK_OK);
    assert_int_equal(rk_writer_last_block_ms(w), 9000);
    rk_writer_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_pops_block_for_their_last_argument_in_seconds),
        cmocka_unit_test(test_fractions_of_a_millisecond_round_up),
        cmocka_unit_test(test_multi_pops_block_for_their_first_argument),
        cmocka_unit_test(test_timeout_zero_blocks_for_ever),
        cmocka_unit_test(test_stream_reads_block_for_their_block_option),
        cmocka_unit_test(test_wait_blocks_for_its_last_argument_in_milliseconds),
        cmocka_unit_test(test_other_commands_and_bad_timeouts_do_not_block),
        cmocka_unit_test(test_absurdly_long_timeouts_count_as_for_ever),
        cmocka_unit_test(test_writer_reads_the_block_time_of_its_last_command),
        cmocka_unit_test(test_writer_reads_the_block_time_of_a_long_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
