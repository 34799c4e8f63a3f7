/* Built commands (rediskit/command.h) and their runners: one command,
 * built once, runs alike on the pooled client, a held connection and a
 * pipeline; a build error is reported by each runner without sending; a
 * command knows its name, arguments and keys. Each test runs on RESP2 and
 * RESP3 against the file's shared redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* ---- one typed command, every executor -------------------------------------- */

typedef rk_command *(*build_fn)(rk_command *cmd);
typedef void (*check_fn)(const rk_reply *r);

/* Builds a command with build and runs it on the client, on a held
 * connection and in a pipeline; check is given each reply. */
static void on_every_executor(rk_client *c, build_fn build, check_fn check) {
    rk_command cmd;
    rk_reply r;
    RKT_OK(rk_client_run(c, build(&cmd), &r));
    check(&r);
    rk_reply_free(&r);

    rk_conn *conn;
    RKT_OK(rk_client_acquire(c, &conn));
    RKT_OK(rk_conn_run(conn, build(&cmd), &r));
    check(&r);
    rk_reply_free(&r);
    rk_client_release(c, conn);

    rk_pipeline *p = rk_pipeline_new(c, NULL);
    RKT_OK(rk_pipeline_add(p, build(&cmd)));
    RKT_OK(rk_pipeline_exec(p));
    RKT_OK(rk_pipeline_status(p, 0));
    check(rk_pipeline_reply(p, 0));
    rk_pipeline_free(p);
}

static rk_command *build_get(rk_command *cmd) {
    return rk_cmd_get(cmd, RK_STR("k"));
}

static void check_get(const rk_reply *r) {
    rkt_assert_text(r, RK_REPLY_STRING, "v");
}

static void test_get_gives_the_same_string_on_every_executor(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", NULL, NULL));
    on_every_executor(c, build_get, check_get);
    rk_client_free(c);
}

static rk_command *build_hgetall(rk_command *cmd) {
    return rk_cmd_hgetall(cmd, RK_STR("h"));
}

static void check_hgetall(const rk_reply *r) {
    rkt_expect_shape(r, RK_REPLY_MAP, 2);
    rkt_map_expect(r, "f1", "v1");
    rkt_map_expect(r, "f2", "v2");
}

static void test_hgetall_gives_a_map_on_every_executor(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_hset_field_value fv[] = {{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}};
    RKT_OK(rk_hset(c, "h", fv, 2, NULL));
    on_every_executor(c, build_hgetall, check_hgetall);
    rk_client_free(c);
}

static rk_command *build_zscore(rk_command *cmd) {
    return rk_cmd_zscore(cmd, RK_STR("z"), RK_STR("m"));
}

static void check_zscore(const rk_reply *r) {
    assert_int_equal(rk_reply_type(r), RK_REPLY_DOUBLE);
    assert_true(rk_reply_double(r) == 1.5);
}

static void test_zscore_gives_a_double_on_every_executor(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{1.5, RK_STR("m")}}, 1, NULL, NULL));
    on_every_executor(c, build_zscore, check_zscore);
    rk_client_free(c);
}

static rk_command *build_xread(rk_command *cmd) {
    return rk_cmd_xread(cmd, (const rk_str[]){RK_STR("s")}, 1, (const rk_str[]){RK_STR("0")}, 1,
                        NULL);
}

/* {s: [[1-0, {f: v}]]} */
static void check_xread(const rk_reply *r) {
    rkt_expect_shape(r, RK_REPLY_MAP, 1);
    const rk_reply *entries = rkt_map_expect(r, "s", NULL);
    rkt_expect_shape(entries, RK_REPLY_ARRAY, 1);
    const rk_reply *entry = rk_reply_at(entries, 0);
    rkt_expect_shape(entry, RK_REPLY_ARRAY, 2);
    rkt_assert_text(rk_reply_at(entry, 0), RK_REPLY_STRING, "1-0");
    rkt_map_expect(rk_reply_at(entry, 1), "f", "v");
}

static void test_xread_gives_a_map_of_streams_on_every_executor(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_xadd(c, "s", "1-0", (rk_xadd_field_value[]){{RK_STR("f"), RK_STR("v")}}, 1, NULL,
                   NULL, NULL));
    on_every_executor(c, build_xread, check_xread);
    rk_client_free(c);
}

/* ---- keys ------------------------------------------------------------------- */

static void test_typed_builder_marks_its_keys(void **state) {
    (void)state;
    rk_command cmd;
    const rk_mset_key_value kv[] = {{RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}};
    rk_cmd_mset(&cmd, kv, 2);
    assert_string_equal(rk_command_name(&cmd), "MSET");
    expect_keys(&cmd, (const char *[]){"a", "b"}, 2);
    rk_command_release(&cmd);
    rk_cmd_configget(&cmd, (const rk_str[]){RK_STR("maxmemory")}, 1);
    assert_string_equal(rk_command_name(&cmd), "CONFIG GET");
    assert_int_equal(rk_command_nkeys(&cmd), 0);
    rk_command_release(&cmd);
}

/* EVAL and XREAD find their keys from their arguments (numkeys, STREAMS):
 * the builder marks the same ones the metadata table finds. */
static void test_typed_builder_keys_of_movable_key_commands_match_the_table(void **state) {
    (void)state;
    rk_command cmd;
    const rk_str keys[] = {RK_STR("k1"), RK_STR("k2")}, args[] = {RK_STR("x")};
    rk_cmd_eval(&cmd, RK_STR("return 1"), keys, 2, args, 1);
    expect_keys(&cmd, (const char *[]){"k1", "k2"}, 2);
    rk_command_release(&cmd);
    const rk_str ids[] = {RK_STR("0"), RK_STR("0")};
    rk_cmd_xread(&cmd, keys, 2, ids, 2, &(rk_xread_opts){.count = 1});
    expect_keys(&cmd, (const char *[]){"k1", "k2"}, 2);
    rk_command_release(&cmd);
}

/* ---- options structs of another size ---------------------------------------- */

/* SET's options as an older header declared them: only NX and XX. */
typedef struct old_set_opts {
    bool nx, xx;
} old_set_opts;

static void test_shorter_options_struct_reads_the_missing_fields_as_zero(void **state) {
    (void)state;
    rk_set_opts full = {.nx = true, .get = true, .ex = 10};
    memcpy(&full, &(old_set_opts){.nx = true}, sizeof(old_set_opts));
    rk_command cmd;
    (rk_cmd_set)(&cmd, RK_STR("k"), RK_STR("v"), &full, sizeof(old_set_opts));
    RKT_OK(rk_command_status(&cmd));
    assert_int_equal(rk_command_argc(&cmd), 4); /* SET k v NX: nothing of get or ex */
    expect_str(rk_command_arg(&cmd, 3), "NX");
    rk_command_release(&cmd);
}

static void test_longer_options_struct_with_unknown_fields_set_is_refused(void **state) {
    (void)state;
    struct {
        rk_set_opts known;
        int newer;
    } newer = {.known = {.nx = true}, .newer = 1};
    rk_command cmd;
    (rk_cmd_set)(&cmd, RK_STR("k"), RK_STR("v"), &newer.known, sizeof(newer));
    RKT_RC(rk_command_status(&cmd), RK_EINVAL);
    rk_command_release(&cmd);
    newer.newer = 0; /* newer fields left at their defaults: accepted */
    (rk_cmd_set)(&cmd, RK_STR("k"), RK_STR("v"), &newer.known, sizeof(newer));
    RKT_OK(rk_command_status(&cmd));
    rk_command_release(&cmd);
}

/* ---- pipelines copy what they queue ------------------------------------------ */

enum { BIG = 20 * 1024 }; /* past the writer's 16 KiB reference threshold */

/* SET k1 buf, then buf rewritten, then SET k2 buf, in one pipeline (made
 * with opts); returns the pipeline's client. */
static rk_client *set_twice_from_one_buffer(void **state, const rk_pipeline_opts *opts) {
    static char buf[BIG];
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, opts);
    rk_command cmd;
    memset(buf, 'a', sizeof buf);
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k1"), rk_bin(buf, sizeof buf), NULL)));
    memset(buf, 'b', sizeof buf);
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k2"), rk_bin(buf, sizeof buf), NULL)));
    RKT_OK(rk_pipeline_exec(p));
    rk_pipeline_free(p);
    return c;
}

/* k holds BIG bytes, each fill. */
static void expect_filled(rk_client *c, const char *k, char fill) {
    static char want[BIG];
    memset(want, fill, sizeof want);
    rkt_expect_value(c, rk_cstr(k), rk_bin(want, sizeof want));
}

static void test_pipeline_copies_a_large_buffer_reused_between_adds(void **state) {
    rk_client *c = set_twice_from_one_buffer(state, NULL);
    expect_filled(c, "k1", 'a');
    expect_filled(c, "k2", 'b');
    rk_client_free(c);
}

/* The opt-in zero-copy: the buffer is sent as it is at exec, so the
 * caller must not reuse it before. */
static void test_pipeline_borrowing_large_values_sends_them_as_they_are_at_exec(void **state) {
    rk_client *c =
        set_twice_from_one_buffer(state, &(rk_pipeline_opts){.borrow_large_values = true});
    expect_filled(c, "k1", 'b');
    expect_filled(c, "k2", 'b');
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
        RKT_BOTH(test_get_gives_the_same_string_on_every_executor),
        RKT_BOTH(test_hgetall_gives_a_map_on_every_executor),
        RKT_BOTH(test_zscore_gives_a_double_on_every_executor),
        RKT_BOTH(test_xread_gives_a_map_of_streams_on_every_executor),
        cmocka_unit_test(test_typed_builder_marks_its_keys),
        cmocka_unit_test(test_typed_builder_keys_of_movable_key_commands_match_the_table),
        cmocka_unit_test(test_shorter_options_struct_reads_the_missing_fields_as_zero),
        cmocka_unit_test(test_longer_options_struct_with_unknown_fields_set_is_refused),
        RKT_BOTH(test_pipeline_copies_a_large_buffer_reused_between_adds),
        RKT_BOTH(test_pipeline_borrowing_large_values_sends_them_as_they_are_at_exec),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
