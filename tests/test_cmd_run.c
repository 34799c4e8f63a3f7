/* Built commands (rediskit/command.h) and their runners: one command,
 * built once, runs alike on the pooled client, a held connection and a
 * pipeline; a build error is reported by each runner without sending; a
 * command knows its name, arguments and keys. Each test runs on RESP2 and
 * RESP3 against the file's shared redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_check.h"
#include "rkt_cmd.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static void expect_str(rk_str s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* The keys of cmd are want[0..n). */
static void expect_keys(const rk_command *cmd, const char *const *want, size_t n) {
    assert_int_equal(rk_command_nkeys(cmd), n);
    for (size_t i = 0; i < n; i++)
        expect_str(rk_command_key(cmd, i), want[i]);
}

/* A command from C strings, through rk_command_argv. */
static rk_command *from_words(rk_command *cmd, const char *const *words, size_t n) {
    rk_str argv[16];
    assert_true(n <= COUNT_OF(argv));
    for (size_t i = 0; i < n; i++)
        argv[i] = rk_cstr(words[i]);
    return rk_command_argv(cmd, argv, n);
}

/* ---- building ------------------------------------------------------------ */

static void test_argv_command_knows_its_name_arguments_and_key(void **state) {
    (void)state;
    rk_command cmd;
    const char *words[] = {"get", "user:1"};
    from_words(&cmd, words, 2);
    RKT_OK(rk_command_status(&cmd));
    assert_string_equal(rk_command_name(&cmd), "GET");
    assert_int_equal(rk_command_argc(&cmd), 2);
    expect_str(rk_command_arg(&cmd, 1), "user:1");
    assert_null(rk_command_arg(&cmd, 2).ptr);
    expect_keys(&cmd, (const char *[]){"user:1"}, 1);
    rk_command_release(&cmd);
}

static void test_argv_subcommand_is_named_with_its_container(void **state) {
    (void)state;
    rk_command cmd;
    const char *words[] = {"config", "get", "maxmemory"};
    from_words(&cmd, words, 3);
    assert_string_equal(rk_command_name(&cmd), "CONFIG GET");
    assert_int_equal(rk_command_nkeys(&cmd), 0);
    rk_command_release(&cmd);
}

static void test_argv_eval_keys_are_the_numkeys_after_the_script(void **state) {
    (void)state;
    rk_command cmd;
    const char *words[] = {"EVAL", "return 1", "2", "k1", "k2", "arg"};
    from_words(&cmd, words, COUNT_OF(words));
    expect_keys(&cmd, (const char *[]){"k1", "k2"}, 2);
    rk_command_release(&cmd);
}

static void test_argv_xread_keys_are_the_streams_before_their_ids(void **state) {
    (void)state;
    rk_command cmd;
    const char *words[] = {"XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"};
    from_words(&cmd, words, COUNT_OF(words));
    expect_keys(&cmd, (const char *[]){"s1", "s2"}, 2);
    rk_command_release(&cmd);
}

static void test_argv_unknown_command_builds_without_keys(void **state) {
    (void)state;
    rk_command cmd;
    const char *words[] = {"NOSUCHCMD", "a"};
    from_words(&cmd, words, 2);
    RKT_OK(rk_command_status(&cmd));
    assert_string_equal(rk_command_name(&cmd), "NOSUCHCMD");
    assert_int_equal(rk_command_nkeys(&cmd), 0);
    rk_command_release(&cmd);
}

static void test_argv_null_string_is_a_build_error_kept_in_the_command(void **state) {
    (void)state;
    rk_command cmd;
    rk_str argv[] = {RK_STR("GET"), {3, NULL}};
    rk_command_argv(&cmd, argv, 2);
    RKT_RC(rk_command_status(&cmd), RK_EINVAL);
    rk_command_release(&cmd);
    RKT_RC(rk_command_status(&cmd), RK_EINVAL); /* released: not a built command */
}

/* ---- running ------------------------------------------------------------- */

/* GET k on each executor gives the same string. */
static void test_same_built_command_runs_on_client_conn_and_pipeline(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_client_call(c, NULL, "SET k v"));
    const char *words[] = {"GET", "k"};
    rk_command cmd;
    rk_reply r;

    RKT_OK(rk_client_run(c, from_words(&cmd, words, 2), &r));
    rkt_assert_text(&r, RK_REPLY_STRING, "v");
    rk_reply_free(&r);

    rk_conn *conn;
    RKT_OK(rk_client_acquire(c, &conn));
    RKT_OK(rk_conn_run(conn, from_words(&cmd, words, 2), &r));
    rkt_assert_text(&r, RK_REPLY_STRING, "v");
    rk_reply_free(&r);
    rk_client_release(c, conn);

    rk_pipeline *p = rk_pipeline_new(c, NULL);
    RKT_OK(rk_pipeline_add(p, from_words(&cmd, words, 2)));
    RKT_OK(rk_pipeline_exec(p));
    rkt_assert_text(rk_pipeline_reply(p, 0), RK_REPLY_STRING, "v");
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_nil_reply_is_rk_nil_on_client_and_conn(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *words[] = {"GET", "missing"};
    rk_command cmd;
    RKT_NIL(rk_client_run(c, from_words(&cmd, words, 2), NULL));
    rk_conn *conn;
    RKT_OK(rk_client_acquire(c, &conn));
    RKT_NIL(rk_conn_run(conn, from_words(&cmd, words, 2), NULL));
    rk_client_release(c, conn);
    rk_client_free(c);
}

/* A GET whose key is a NULL pointer with a length. */
static rk_command *broken_get(rk_command *cmd) {
    rk_str argv[] = {RK_STR("GET"), {3, NULL}};
    return rk_command_argv(cmd, argv, 2);
}

static void expect_build_error_reported(int rc, long long calls_before) {
    RKT_RC(rc, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL"));
    assert_int_equal(rkt_cmd_calls("get"), calls_before);
}

static void test_build_error_reported_by_client_run_without_sending(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long before = rkt_cmd_calls("get");
    rk_command cmd;
    rk_reply r;
    expect_build_error_reported(rk_client_run(c, broken_get(&cmd), &r), before);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_client_free(c);
}

static void test_build_error_reported_by_conn_run_without_sending(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn;
    RKT_OK(rk_client_acquire(c, &conn));
    long long before = rkt_cmd_calls("get");
    rk_command cmd;
    expect_build_error_reported(rk_conn_run(conn, broken_get(&cmd), NULL), before);
    assert_int_equal(rk_conn_pending(conn), 0);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_build_error_reported_by_pipeline_add_without_queueing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    long long before = rkt_cmd_calls("get");
    rk_command cmd;
    expect_build_error_reported(rk_pipeline_add(p, broken_get(&cmd)), before);
    assert_int_equal(rk_pipeline_size(p), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_command_run_once_is_refused_the_second_time(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *words[] = {"PING"};
    rk_command cmd;
    RKT_OK(rk_client_run(c, from_words(&cmd, words, 1), NULL));
    RKT_RC(rk_client_run(c, &cmd, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "not a built command"));
    RKT_RC(rk_client_run(c, NULL, NULL), RK_EINVAL);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_command_knows_its_name_arguments_and_key),
        cmocka_unit_test(test_argv_subcommand_is_named_with_its_container),
        cmocka_unit_test(test_argv_eval_keys_are_the_numkeys_after_the_script),
        cmocka_unit_test(test_argv_xread_keys_are_the_streams_before_their_ids),
        cmocka_unit_test(test_argv_unknown_command_builds_without_keys),
        cmocka_unit_test(test_argv_null_string_is_a_build_error_kept_in_the_command),
        RKT_BOTH(test_same_built_command_runs_on_client_conn_and_pipeline),
        RKT_BOTH(test_nil_reply_is_rk_nil_on_client_and_conn),
        RKT_BOTH(test_build_error_reported_by_client_run_without_sending),
        RKT_BOTH(test_build_error_reported_by_conn_run_without_sending),
        RKT_BOTH(test_build_error_reported_by_pipeline_add_without_queueing),
        RKT_BOTH(test_command_run_once_is_refused_the_second_time),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
