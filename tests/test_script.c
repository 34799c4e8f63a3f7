/* Lua scripts and functions against a real server: the SHA-1 against known
 * vectors, rk_script_run's EVALSHA path and its EVAL fallback (seen in
 * INFO commandstats and SCRIPT EXISTS), binary-safe keys and arguments,
 * script errors, SCRIPT LOAD, scripts in pipelines, and FCALL / FCALL_RO
 * of a library loaded by rk_functionload, on RESP2 and RESP3. Needs
 * redis-server; skips without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/rediskit.h"
#include "rediskit/reply.h"
#include "rkt_shared.h"
#include "util/sha1.h"

/* ---- helpers ------------------------------------------------------------ */

static rk_client *client_resp(int protocol) {
    rkt_shared_need();
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .protocol = protocol});
    assert_non_null(c);
    return c;
}

static rk_script *script_of(const char *src) {
    rk_script *s = rk_script_new(src, strlen(src));
    assert_non_null(s);
    return s;
}

/* Runs a command on the shared server through a raw connection, ignoring
 * its answer. */
static void server_run(const char *a0, const char *a1) {
    char *r = rkt_server_cmd(&rkt_shared, a0, a1, NULL);
    assert_non_null(r);
    free(r);
}

/* How many times the server ran cmd ("evalsha", "eval") since its last
 * CONFIG RESETSTAT, from INFO commandstats. */
static long long calls_of(const char *cmd) {
    char *info = rkt_server_cmd(&rkt_shared, "INFO", "commandstats", NULL);
    assert_non_null(info);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(info, field);
    long long n = at ? atoll(at + strlen(field)) : 0;
    free(info);
    return n;
}

/* Whether the server's script cache holds sha (SCRIPT EXISTS). */
static bool script_cached(const char *sha) {
    char *r = rkt_server_cmd(&rkt_shared, "SCRIPT", "EXISTS", sha, NULL);
    assert_non_null(r);
    bool cached = strcmp(r, "*1\r\n:1\r\n") == 0;
    free(r);
    return cached;
}

static void assert_reply_string(const rk_reply *r, const char *want, size_t len) {
    assert_int_equal(rk_reply_type(r), RK_REPLY_STRING);
    assert_int_equal(rk_reply_len(r), len);
    assert_memory_equal(rk_reply_str(r), want, len);
}

/* Runs s with no keys and the one argument arg, expecting RK_OK and an
 * echo of arg (the scripts below return ARGV[1]). */
static void run_echo(rk_client *c, const rk_script *s, const char *arg) {
    rk_reply r;
    const rk_str args[] = {rk_cstr(arg)};
    assert_int_equal(rk_script_run(c, s, NULL, 0, args, 1, &r), RK_OK);
    assert_reply_string(&r, arg, strlen(arg));
    rk_reply_free(&r);
}

static const char echo_src[] = "return ARGV[1]";

static const char lib_src[] =
    "#!lua name=rkt_lib\n"
    "redis.register_function('myfunc', function(keys, args) return args[1] end)\n"
    "redis.register_function{function_name='myfunc_ro', flags={'no-writes'},\n"
    "  callback=function(keys, args) return redis.call('get', keys[1]) end}\n";

/* ---- SHA-1 -------------------------------------------------------------- */

static void expect_sha1(const void *data, size_t len, const char *want) {
    char hex[RK_SHA1_HEX_LEN + 1];
    rk_sha1_hex(data, len, hex);
    assert_string_equal(hex, want);
}

/* FIPS 180 and RFC 3174 vectors: empty, one block, a tail of 56 bytes
 * that needs a second padding block, two blocks, and a million bytes. */
static void test_sha1_matches_known_vectors(void **state) {
    (void)state;
    expect_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *s448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_sha1(s448, strlen(s448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    const char *s896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    expect_sha1(s896, strlen(s896), "a49b2446a02c645bf419f995b67091253a04a259");
    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    expect_sha1(million, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(million);
}

/* The example of Redis's EVALSHA documentation. */
static void test_script_sha_is_sha1_of_its_source(void **state) {
    (void)state;
    rk_script *s = script_of("return 'Immabe a cached script'");
    assert_string_equal(rk_script_sha(s), "c664a3bf70bd1d45c4284ffebb65a6f2299bfc9f");
    size_t len;
    assert_string_equal(rk_script_source(s, &len), "return 'Immabe a cached script'");
    assert_int_equal(len, strlen("return 'Immabe a cached script'"));
    rk_script_free(s);
}

/* ---- running scripts ---------------------------------------------------- */

/* The first run after a flush: EVALSHA answers NOSCRIPT, EVAL runs the
 * script and caches it. */
static void test_first_run_falls_back_to_eval_and_caches_script(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        rk_script *s = script_of(echo_src);
        server_run("SCRIPT", "FLUSH");
        server_run("CONFIG", "RESETSTAT");
        run_echo(c, s, "first");
        assert_int_equal(calls_of("evalsha"), 1);
        assert_int_equal(calls_of("eval"), 1);
        assert_true(script_cached(rk_script_sha(s)));
        rk_script_free(s);
        rk_client_free(c);
    }
}

static void test_second_run_uses_evalsha_only(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        rk_script *s = script_of(echo_src);
        run_echo(c, s, "once");
        server_run("CONFIG", "RESETSTAT");
        run_echo(c, s, "twice");
        assert_int_equal(calls_of("evalsha"), 1);
        assert_int_equal(calls_of("eval"), 0);
        rk_script_free(s);
        rk_client_free(c);
    }
}

static void test_run_after_script_flush_loads_script_again(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of(echo_src);
    run_echo(c, s, "before");
    server_run("SCRIPT", "FLUSH");
    assert_false(script_cached(rk_script_sha(s)));
    run_echo(c, s, "after");
    assert_true(script_cached(rk_script_sha(s)));
    rk_script_free(s);
    rk_client_free(c);
}

/* With a NULL reply the NOSCRIPT answer is still seen, and the script
 * still runs. */
static void test_run_without_reply_still_falls_back_to_eval(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of("return redis.call('set', KEYS[1], ARGV[1])");
    server_run("SCRIPT", "FLUSH");
    const rk_str keys[] = {RK_STR("rkt-script-noreply")};
    const rk_str args[] = {RK_STR("v")};
    assert_int_equal(rk_script_run(c, s, keys, 1, args, 1, NULL), RK_OK);
    assert_true(script_cached(rk_script_sha(s)));
    rk_reply r;
    assert_int_equal(rk_client_call_args(c, &r, "GET", "rkt-script-noreply", NULL), RK_OK);
    assert_reply_string(&r, "v", 1);
    rk_reply_free(&r);
    rk_script_free(s);
    rk_client_free(c);
}

/* rk_script_run_ro: EVALSHA_RO, then EVAL_RO on NOSCRIPT (which caches
 * the script), and EVALSHA_RO alone once cached; on RESP2 and RESP3. */
static void test_run_ro_reads_by_evalsha_ro_then_eval_ro(void **state) {
    (void)state;
    free(rkt_server_cmd(&rkt_shared, "SET", "rkt-script-ro", "seen", NULL));
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        rk_script *s = script_of("return redis.call('get', KEYS[1])");
        const rk_str keys[] = {RK_STR("rkt-script-ro")};
        server_run("SCRIPT", "FLUSH");
        server_run("CONFIG", "RESETSTAT");
        for (int run = 0; run < 2; run++) {
            rk_reply r;
            assert_int_equal(rk_script_run_ro(c, s, keys, 1, NULL, 0, &r), RK_OK);
            assert_reply_string(&r, "seen", 4);
            rk_reply_free(&r);
        }
        assert_int_equal(calls_of("evalsha_ro"), 2);
        assert_int_equal(calls_of("eval_ro"), 1);
        assert_int_equal(calls_of("evalsha"), 0);
        assert_int_equal(calls_of("eval"), 0);
        assert_true(script_cached(rk_script_sha(s)));
        rk_script_free(s);
        rk_client_free(c);
    }
}

/* A script run read-only that writes is refused by the server, cached or
 * not, and writes nothing. */
static void test_run_ro_of_writing_script_is_eserver(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of("return redis.call('set', KEYS[1], 'written')");
    const rk_str keys[] = {RK_STR("rkt-script-ro-write")};
    server_run("DEL", "rkt-script-ro-write");
    for (int cached = 0; cached <= 1; cached++) {
        if (!cached)
            server_run("SCRIPT", "FLUSH");
        else
            assert_int_equal(rk_script_preload(c, s), RK_OK);
        rk_reply r;
        assert_int_equal(rk_script_run_ro(c, s, keys, 1, NULL, 0, &r), RK_ESERVER);
        assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
        assert_non_null(strstr(rk_reply_str(&r), "Write commands are not allowed"));
        rk_reply_free(&r);
    }
    char *v = rkt_server_cmd(&rkt_shared, "EXISTS", "rkt-script-ro-write", NULL);
    assert_string_equal(v, ":0\r\n");
    free(v);
    assert_int_equal(rk_script_run_ro(c, NULL, NULL, 0, NULL, 0, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "rk_script_run_ro"));
    rk_script_free(s);
    rk_client_free(c);
}

/* Keys and arguments with NUL, CR and LF bytes reach the script whole. */
static void test_keys_and_args_are_binary_safe(void **state) {
    (void)state;
    rk_client *c = client_resp(2);
    rk_script *s = script_of("redis.call('set', KEYS[1], ARGV[1])\n"
                             "return {redis.call('get', KEYS[1]), KEYS[1]}");
    const char key[] = "rkt\0key\r\n", val[] = "v\0a\r\nl";
    const rk_str keys[] = {rk_bin(key, sizeof key - 1)};
    const rk_str args[] = {rk_bin(val, sizeof val - 1)};
    rk_reply r;
    assert_int_equal(rk_script_run(c, s, keys, 1, args, 1, &r), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_reply_string(rk_reply_at(&r, 0), val, sizeof val - 1);
    assert_reply_string(rk_reply_at(&r, 1), key, sizeof key - 1);
    rk_reply_free(&r);
    rk_script_free(s);
    rk_client_free(c);
}

/* More keys and arguments than fit the inline argv. */
static void test_many_keys_and_args_reach_script(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of("return #KEYS * 1000 + #ARGV");
    rk_str words[40];
    for (int i = 0; i < 40; i++)
        words[i] = RK_STR("w");
    rk_reply r;
    assert_int_equal(rk_script_run(c, s, words, 25, words, 40, &r), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(&r), 25040);
    rk_reply_free(&r);
    rk_script_free(s);
    rk_client_free(c);
}

/* A NULL keys or arguments array with a count above 0 is refused before
 * anything is sent, by rk_script_run and rk_script_append alike. */
static void test_null_keys_or_args_with_a_count_is_einval(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of(echo_src);
    const rk_str one[] = {RK_STR("x")};
    rk_reply r;
    assert_int_equal(rk_script_run(c, s, NULL, 1, one, 1, &r), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_non_null(strstr(rk_error_last()->message, "key list is NULL"));
    assert_int_equal(rk_script_run(c, s, one, 1, NULL, 2, &r), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "argument list is NULL"));
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_script_append(p, s, NULL, 1, one, 1), RK_EINVAL);
    assert_int_equal(rk_script_append(p, s, one, 1, NULL, 1), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    rk_pipeline_free(p);
    rk_script_free(s);
    rk_client_free(c);
}

static void test_script_error_is_eserver_with_its_message(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        rk_script *s = script_of("return redis.error_reply('MYERR it went wrong')");
        rk_reply r;
        assert_int_equal(rk_script_run(c, s, NULL, 0, NULL, 0, &r), RK_ESERVER);
        assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
        assert_string_equal(rk_error_last()->prefix, "MYERR");
        assert_non_null(strstr(rk_error_last()->message, "it went wrong"));
        rk_reply_free(&r);
        rk_script_free(s);
        rk_client_free(c);
    }
}

static void test_script_load_caches_script_under_same_sha(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of(echo_src);
    server_run("SCRIPT", "FLUSH");
    assert_int_equal(rk_script_preload(c, s), RK_OK);
    assert_true(script_cached(rk_script_sha(s)));
    server_run("CONFIG", "RESETSTAT");
    run_echo(c, s, "loaded");
    assert_int_equal(calls_of("eval"), 0);
    rk_script_free(s);
    rk_client_free(c);
}

static void test_script_load_of_bad_lua_is_eserver(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of("return (");
    assert_int_equal(rk_script_preload(c, s), RK_ESERVER);
    rk_script_free(s);
    rk_client_free(c);
}

/* ---- pipelines ---------------------------------------------------------- */

static void test_pipeline_runs_loaded_script_by_evalsha(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        rk_script *s = script_of("return {KEYS[1], ARGV[1]}");
        server_run("SCRIPT", "FLUSH");
        assert_int_equal(rk_script_preload(c, s), RK_OK);
        rk_pipeline *p = rk_pipeline_new(c, NULL);
        assert_non_null(p);
        const rk_str keys[] = {RK_STR("k")};
        const rk_str a1[] = {RK_STR("one")};
        const rk_str a2[] = {RK_STR("two")};
        assert_int_equal(rk_script_append(p, s, keys, 1, a1, 1), RK_OK);
        assert_int_equal(rk_script_append(p, s, keys, 1, a2, 1), RK_OK);
        assert_int_equal(rk_pipeline_exec(p), RK_OK);
        assert_int_equal(rk_pipeline_status(p, 0), RK_OK);
        assert_int_equal(rk_pipeline_status(p, 1), RK_OK);
        const rk_reply *r = rk_pipeline_reply(p, 1);
        assert_int_equal(rk_reply_type(r), RK_REPLY_ARRAY);
        assert_reply_string(rk_reply_at(r, 0), "k", 1);
        assert_reply_string(rk_reply_at(r, 1), "two", 3);
        rk_pipeline_free(p);
        rk_script_free(s);
        rk_client_free(c);
    }
}

/* Without rk_script_preload, a pipeline cannot fall back: NOSCRIPT. */
static void test_pipeline_script_not_loaded_answers_noscript(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_script *s = script_of(echo_src);
    server_run("SCRIPT", "FLUSH");
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    const rk_str args[] = {RK_STR("x")};
    assert_int_equal(rk_script_append(p, s, NULL, 0, args, 1), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_status(p, 0), RK_ESERVER);
    const rk_reply *r = rk_pipeline_reply(p, 0);
    assert_int_equal(strncmp(rk_reply_str(r), "NOSCRIPT", 8), 0);
    rk_pipeline_free(p);
    rk_script_free(s);
    rk_client_free(c);
}

/* ---- functions ---------------------------------------------------------- */

static void load_lib(rk_client *c) {
    char *name;
    size_t len;
    assert_int_equal(
        rk_functionload(c, lib_src, &(rk_functionload_opts){.replace = true}, &name, &len), RK_OK);
    assert_string_equal(name, "rkt_lib");
    assert_int_equal(len, 7);
    rk_free(name);
}

static void test_fcall_runs_function_of_loaded_library(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_client *c = client_resp(protocol);
        load_lib(c);
        const char *args[] = {"hello"};
        rk_reply r;
        assert_int_equal(rk_fcall(c, "myfunc", NULL, 0, args, 1, &r), RK_OK);
        assert_reply_string(&r, "hello", 5);
        rk_reply_free(&r);
        rk_client_free(c);
    }
}

static void test_fcall_ro_runs_no_writes_function(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    load_lib(c);
    assert_int_equal(rk_client_call_args(c, NULL, "SET", "rkt-fro", "stored", NULL), RK_OK);
    const char *keys[] = {"rkt-fro"};
    rk_reply r;
    assert_int_equal(rk_fcall_ro(c, "myfunc_ro", keys, 1, NULL, 0, &r), RK_OK);
    assert_reply_string(&r, "stored", 6);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_fcall_ro_of_writing_function_is_eserver(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    load_lib(c);
    const char *args[] = {"x"};
    rk_reply r;
    assert_int_equal(rk_fcall_ro(c, "myfunc", NULL, 0, args, 1, &r), RK_ESERVER);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_fcall_of_unknown_function_is_eserver(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    rk_reply r;
    assert_int_equal(rk_fcall(c, "rkt_no_such_fn", NULL, 0, NULL, 0, &r), RK_ESERVER);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_load_without_replace_refuses_existing_library(void **state) {
    (void)state;
    rk_client *c = client_resp(3);
    load_lib(c);
    char *name = NULL;
    assert_int_equal(rk_functionload(c, lib_src, NULL, &name, NULL), RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, "already exists"));
    assert_null(name);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_matches_known_vectors),
        cmocka_unit_test(test_script_sha_is_sha1_of_its_source),
        cmocka_unit_test(test_first_run_falls_back_to_eval_and_caches_script),
        cmocka_unit_test(test_second_run_uses_evalsha_only),
        cmocka_unit_test(test_run_after_script_flush_loads_script_again),
        cmocka_unit_test(test_run_without_reply_still_falls_back_to_eval),
        cmocka_unit_test(test_run_ro_reads_by_evalsha_ro_then_eval_ro),
        cmocka_unit_test(test_run_ro_of_writing_script_is_eserver),
        cmocka_unit_test(test_keys_and_args_are_binary_safe),
        cmocka_unit_test(test_many_keys_and_args_reach_script),
        cmocka_unit_test(test_null_keys_or_args_with_a_count_is_einval),
        cmocka_unit_test(test_script_error_is_eserver_with_its_message),
        cmocka_unit_test(test_script_load_caches_script_under_same_sha),
        cmocka_unit_test(test_script_load_of_bad_lua_is_eserver),
        cmocka_unit_test(test_pipeline_runs_loaded_script_by_evalsha),
        cmocka_unit_test(test_pipeline_script_not_loaded_answers_noscript),
        cmocka_unit_test(test_fcall_runs_function_of_loaded_library),
        cmocka_unit_test(test_fcall_ro_runs_no_writes_function),
        cmocka_unit_test(test_fcall_ro_of_writing_function_is_eserver),
        cmocka_unit_test(test_fcall_of_unknown_function_is_eserver),
        cmocka_unit_test(test_function_load_without_replace_refuses_existing_library),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
