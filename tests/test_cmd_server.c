/* Typed commands of the scripting, server, connection and transaction
 * groups against a real redis-server, on RESP2 and RESP3: the arguments
 * they send and the reply shapes they hand back (the same on both
 * protocols, as RESP3 would send them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rkt_cmd.h"

/* ---- helpers ------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Server settings some tests change, with their values at startup; the
 * per-test teardown puts them back even when a test fails half way. */
static const char *const saved_names[] = {"slowlog-log-slower-than", "latency-monitor-threshold",
                                          "slowlog-max-len", "maxmemory-samples"};
static char saved_values[N(saved_names)][64];

static int group_setup(void **state) {
    int rc = rkt_shared_setup(state);
    if (rc != 0 || !rkt_shared_running())
        return rc;
    for (size_t i = 0; i < N(saved_names); i++) {
        char *r = rkt_server_cmd(&rkt_shared, "CONFIG", "GET", saved_names[i], NULL);
        if (r == NULL || rkt_resp_field(r, saved_names[i], saved_values[i], 64) != 0) {
            free(r);
            return -1;
        }
        free(r);
    }
    return 0;
}

/* Undoes what a test may leave behind: config, users, scripts, functions. */
static int test_cleanup(void **state) {
    (void)state;
    if (!rkt_shared_running())
        return 0;
    for (size_t i = 0; i < N(saved_names); i++)
        free(rkt_server_cmd(&rkt_shared, "CONFIG", "SET", saved_names[i], saved_values[i], NULL));
    free(rkt_server_cmd(&rkt_shared, "ACL", "DELUSER", "rkt_alice", "rkt_bob", "rkt_carol", NULL));
    free(rkt_server_cmd(&rkt_shared, "FUNCTION", "FLUSH", NULL));
    free(rkt_server_cmd(&rkt_shared, "SCRIPT", "FLUSH", NULL));
    free(rkt_server_cmd(&rkt_shared, "LATENCY", "RESET", NULL));
    free(rkt_server_cmd(&rkt_shared, "SLOWLOG", "RESET", NULL));
    return 0;
}

/* RKT_BOTH with the cleanup above as each run's teardown. */
#define BOTH(f)                                                                                    \
    {#f "/resp2", f, rkt_cmd_flush, test_cleanup, (void *)&rkt_resp2}, {                           \
#f "/resp3", f, rkt_cmd_flush, test_cleanup, (void *)&rkt_resp3                            \
    }

/* Whether an array or set holds the string s. */
static bool has_str(const rk_reply *list, const char *s) {
    for (size_t i = 0; i < rk_reply_len(list); i++) {
        const char *e = rk_reply_str(rk_reply_at(list, i));
        if (e != NULL && strcmp(e, s) == 0)
            return true;
    }
    return false;
}

/* The element of an array of strings that starts with prefix, or NULL. */
static const char *str_with_prefix(const rk_reply *list, const char *prefix) {
    for (size_t i = 0; i < rk_reply_len(list); i++) {
        const char *e = rk_reply_str(rk_reply_at(list, i));
        if (e != NULL && strncmp(e, prefix, strlen(prefix)) == 0)
            return e;
    }
    return NULL;
}

static void expect_type(const rk_reply *r, rk_type type) {
    if (r == NULL)
        fail_msg("expected a %s, got nothing", rk_type_name(type));
    if (rk_reply_type(r) != type)
        fail_msg("expected a %s, got a %s", rk_type_name(type), rk_type_name(rk_reply_type(r)));
}

static void expect_list(const rk_reply *r) {
    if (r == NULL || (rk_reply_type(r) != RK_REPLY_ARRAY && rk_reply_type(r) != RK_REPLY_SET))
        fail_msg("expected an array or a set, got a %s",
                 r ? rk_type_name(rk_reply_type(r)) : "nothing");
}

static void set_key(rk_client *c, const char *key, const char *value) {
    RKT_OK(rk_set(c, key, value, NULL, NULL));
}

static long long exists(rk_client *c, const char *key) {
    long long n = -1;
    RKT_OK(rk_exists(c, &key, 1, &n));
    return n;
}

static void config_set(rk_client *c, const char *name, const char *value) {
    rk_configset_parameter_value pv = {rk_cstr(name), rk_cstr(value)};
    RKT_OK(rk_configset(c, &pv, 1));
}

/* The current value of one parameter into buf. */
static void config_get(rk_client *c, const char *name, char *buf, size_t size) {
    rk_reply r;
    RKT_OK(rk_configget(c, &name, 1, &r));
    snprintf(buf, size, "%s", rk_reply_str(rkt_map_expect(&r, name, NULL)));
    rk_reply_free(&r);
}

/* A connection of the client's pool held by the test; a command timeout
 * keeps a missing reply from hanging the test. */
static rk_conn *hold(rk_client *c) {
    rk_conn *conn = NULL;
    RKT_OK(rk_client_acquire(c, &conn));
    rk_conn_set_timeout(conn, 5000);
    return conn;
}

/* The CLIENT ID of a held connection. */
static long long conn_id(rk_conn *conn) {
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "CLIENT", "ID", NULL));
    expect_type(&r, RK_REPLY_INTEGER);
    long long id = rk_reply_int(&r);
    rk_reply_free(&r);
    return id;
}

static const char *const lib_code =
    "#!lua name=rkt_lib\n"
    "redis.register_function('rkt_set', function(keys, args)\n"
    "  return redis.call('SET', keys[1], args[1]) end)\n"
    "redis.register_function{function_name='rkt_get', flags={'no-writes'},\n"
    "  callback=function(keys, args) return redis.call('GET', keys[1]) end}\n";

static const char *const lib2_code =
    "#!lua name=rkt_lib2\n"
    "redis.register_function('rkt_two', function() return 2 end)\n";

static void load_lib(rk_client *c) {
    char *name = NULL;
    RKT_OK(rk_functionload(c, lib_code, NULL, &name, NULL));
    assert_string_equal(name, "rkt_lib");
    rk_free(name);
}

/* ---- scripting: EVAL and the script cache ------------------------------- */

static void test_eval_passes_keys_and_args(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *keys[] = {"rkt_k1", "rkt_k2"};
    const char *args[] = {"a", "b", "c"};
    rk_reply r;
    RKT_OK(rk_eval(c, "redis.call('SET', KEYS[1], ARGV[1]) return {KEYS[2], ARGV[3], #ARGV}", keys,
                   2, args, 3, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "rkt_k2");
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "c");
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 2)), 3);
    rk_reply_free(&r);
    char *v = NULL;
    RKT_OK(rk_get(c, "rkt_k1", &v, NULL));
    assert_string_equal(v, "a");
    rk_free(v);
    rk_client_free(c);
}

static void test_eval_ro_reads_and_refuses_writes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "v");
    const char *keys[] = {"rkt_k"};
    rk_reply r;
    RKT_OK(rk_eval_ro(c, "return redis.call('GET', KEYS[1])", keys, 1, NULL, 0, &r));
    expect_type(&r, RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), "v");
    rk_reply_free(&r);
    RKT_RC(rk_eval_ro(c, "return redis.call('SET', KEYS[1], 'x')", keys, 1, NULL, 0, &r),
           RK_ESERVER);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_script_load_gives_sha_for_evalsha(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *sha = NULL;
    size_t len = 0;
    RKT_OK(rk_scriptload(c, "return tonumber(ARGV[1]) + 1", &sha, &len));
    assert_int_equal(len, 40);
    assert_int_equal(strspn(sha, "0123456789abcdef"), 40);
    const char *args[] = {"41"};
    rk_reply r;
    RKT_OK(rk_evalsha(c, sha, NULL, 0, args, 1, &r));
    expect_type(&r, RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(&r), 42);
    rk_reply_free(&r);
    rk_free(sha);
    rk_client_free(c);
}

static void test_script_exists_tells_loaded_from_unknown(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *sha = NULL;
    RKT_OK(rk_scriptload(c, "return 1", &sha, NULL));
    /* the SHA1 of "return 1" */
    assert_string_equal(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    const char *shas[] = {sha, "0000000000000000000000000000000000000000"};
    rk_reply r;
    RKT_OK(rk_scriptexists(c, shas, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 1);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 1)), 0);
    rk_reply_free(&r);
    rk_free(sha);
    rk_client_free(c);
}

static void test_script_flush_then_evalsha_is_noscript(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *sha = NULL;
    RKT_OK(rk_scriptload(c, "return 'x'", &sha, NULL));
    RKT_OK(rk_scriptflush(c, &(rk_scriptflush_opts){.sync = true}));
    rk_reply r;
    RKT_RC(rk_evalsha(c, sha, NULL, 0, NULL, 0, &r), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "NOSCRIPT");
    rk_reply_free(&r);
    rk_free(sha);
    rk_client_free(c);
}

/* ---- scripting: functions ----------------------------------------------- */

static void test_function_load_replace_reloads_a_library(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    char *name = NULL;
    RKT_RC(rk_functionload(c, lib_code, NULL, &name, NULL), RK_ESERVER);
    assert_null(name);
    size_t len = 0;
    RKT_OK(rk_functionload(c, lib_code, &(rk_functionload_opts){.replace = true}, &name, &len));
    assert_string_equal(name, "rkt_lib");
    assert_int_equal(len, 7);
    rk_free(name);
    rk_client_free(c);
}

static void test_function_list_is_array_of_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    RKT_OK(rk_functionload(c, lib2_code, NULL, NULL, NULL));
    rk_reply r;
    RKT_OK(rk_functionlist(c, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    for (size_t i = 0; i < 2; i++) {
        const rk_reply *lib = rk_reply_at(&r, i);
        rkt_map_expect(lib, "library_name", NULL);
        rkt_map_expect(lib, "engine", "LUA");
        assert_null(rk_reply_map_get(lib, "library_code"));
    }
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_list_withcode_libraryname_filters(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    RKT_OK(rk_functionload(c, lib2_code, NULL, NULL, NULL));
    rk_reply r;
    RKT_OK(rk_functionlist(
        c, &(rk_functionlist_opts){.libraryname = RK_STR("rkt_lib2"), .withcode = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *lib = rk_reply_at(&r, 0);
    rkt_map_expect(lib, "library_name", "rkt_lib2");
    rkt_map_expect(lib, "library_code", lib2_code);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Each library's "functions" is an array of maps, whose "flags" is a set. */
static void test_function_list_functions_are_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    rk_reply r;
    RKT_OK(rk_functionlist(c, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *fns = rkt_map_expect(rk_reply_at(&r, 0), "functions", NULL);
    rkt_expect_shape(fns, RK_REPLY_ARRAY, 2);
    for (size_t i = 0; i < 2; i++) {
        const rk_reply *fn = rk_reply_at(fns, i);
        const char *name = rk_reply_str(rkt_map_expect(fn, "name", NULL));
        const rk_reply *flags = rkt_map_expect(fn, "flags", NULL);
        expect_type(flags, RK_REPLY_SET);
        if (strcmp(name, "rkt_get") == 0)
            assert_true(has_str(flags, "no-writes"));
    }
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_stats_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    rk_reply r;
    RKT_OK(rk_functionstats(c, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    expect_type(rkt_map_expect(&r, "running_script", NULL), RK_REPLY_NIL);
    rkt_map_expect(&r, "engines", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* "engines" maps each engine to a map of counts. */
static void test_function_stats_engines_is_a_map_of_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    rk_reply r;
    RKT_OK(rk_functionstats(c, &r));
    const rk_reply *engines = rkt_map_expect(&r, "engines", NULL);
    const rk_reply *lua = rkt_map_expect(engines, "LUA", NULL);
    assert_int_equal(rk_reply_int(rkt_map_expect(lua, "libraries_count", NULL)), 1);
    assert_int_equal(rk_reply_int(rkt_map_expect(lua, "functions_count", NULL)), 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_delete_removes_one_library(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    RKT_OK(rk_functionload(c, lib2_code, NULL, NULL, NULL));
    RKT_OK(rk_functiondelete(c, "rkt_lib"));
    RKT_RC(rk_functiondelete(c, "rkt_lib"), RK_ESERVER);
    rk_reply r;
    RKT_RC(rk_fcall(c, "rkt_set", NULL, 0, NULL, 0, &r), RK_ESERVER);
    rk_reply_free(&r);
    RKT_OK(rk_fcall(c, "rkt_two", NULL, 0, NULL, 0, &r));
    assert_int_equal(rk_reply_int(&r), 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_flush_removes_every_library(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    RKT_OK(rk_functionload(c, lib2_code, NULL, NULL, NULL));
    RKT_OK(rk_functionflush(c, &(rk_functionflush_opts){.sync = true}));
    rk_reply r;
    RKT_OK(rk_functionlist(c, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_function_dump_then_restore_brings_libraries_back(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    rk_reply dump;
    RKT_OK(rk_functiondump(c, &dump));
    expect_type(&dump, RK_REPLY_STRING);
    assert_true(rk_reply_len(&dump) > 0);
    RKT_OK(rk_functionflush(c, NULL));
    const rk_str payload = rk_bin(rk_reply_str(&dump), rk_reply_len(&dump));
    rk_command cmd;
    RKT_OK(rk_client_run(c, rk_cmd_functionrestore(&cmd, payload, NULL), NULL));
    /* restoring over existing libraries: refused, unless REPLACE */
    RKT_RC(rk_client_run(c, rk_cmd_functionrestore(&cmd, payload, NULL), NULL), RK_ESERVER);
    rk_cmd_functionrestore(&cmd, payload, &(rk_functionrestore_opts){.replace = true});
    RKT_OK(rk_client_run(c, &cmd, NULL));
    rk_reply_free(&dump);
    const char *keys[] = {"rkt_k"}, *args[] = {"restored"};
    rk_reply r;
    RKT_OK(rk_fcall(c, "rkt_set", keys, 1, args, 1, &r));
    rk_reply_free(&r);
    char *v = NULL;
    RKT_OK(rk_get(c, "rkt_k", &v, NULL));
    assert_string_equal(v, "restored");
    rk_free(v);
    rk_client_free(c);
}

static void test_fcall_passes_keys_and_args(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    const char *keys[] = {"rkt_k"}, *args[] = {"hello"};
    rk_reply r;
    RKT_OK(rk_fcall(c, "rkt_set", keys, 1, args, 1, &r));
    expect_type(&r, RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    RKT_OK(rk_fcall(c, "rkt_get", keys, 1, NULL, 0, &r));
    assert_string_equal(rk_reply_str(&r), "hello");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_fcall_ro_runs_only_no_writes_functions(void **state) {
    rk_client *c = rkt_cmd_client(state);
    load_lib(c);
    set_key(c, "rkt_k", "v");
    const char *keys[] = {"rkt_k"}, *args[] = {"w"};
    rk_reply r;
    RKT_OK(rk_fcall_ro(c, "rkt_get", keys, 1, NULL, 0, &r));
    assert_string_equal(rk_reply_str(&r), "v");
    rk_reply_free(&r);
    RKT_RC(rk_fcall_ro(c, "rkt_set", keys, 1, args, 1, &r), RK_ESERVER);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- ACL ---------------------------------------------------------------- */

static void test_acl_setuser_rules_show_in_getuser_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *rules[] = {"on", ">alicepw", "~rkt:*", "&*", "-@all", "+get"};
    RKT_OK(rk_aclsetuser(c, "rkt_alice", rules, N(rules)));
    rk_reply r;
    RKT_OK(rk_aclgetuser(c, "rkt_alice", &r));
    expect_type(&r, RK_REPLY_MAP);
    const rk_reply *flags = rkt_map_expect(&r, "flags", NULL);
    expect_list(flags);
    assert_true(has_str(flags, "on"));
    const rk_reply *pw = rkt_map_expect(&r, "passwords", NULL);
    rkt_expect_shape(pw, RK_REPLY_ARRAY, 1);
    rkt_map_expect(&r, "keys", "~rkt:*");
    rkt_map_expect(&r, "channels", "&*");
    rkt_map_expect(&r, "commands", "-@all +get");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_getuser_flags_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *rules[] = {"on", "nopass"};
    RKT_OK(rk_aclsetuser(c, "rkt_alice", rules, N(rules)));
    rk_reply r;
    RKT_OK(rk_aclgetuser(c, "rkt_alice", &r));
    const rk_reply *flags = rkt_map_expect(&r, "flags", NULL);
    expect_type(flags, RK_REPLY_SET);
    assert_true(has_str(flags, "nopass"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_getuser_of_unknown_user_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_aclgetuser(c, "rkt_nobody", &r));
    expect_type(&r, RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_deluser_counts_users_deleted(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_aclsetuser(c, "rkt_alice", NULL, 0));
    RKT_OK(rk_aclsetuser(c, "rkt_bob", NULL, 0));
    const char *users[] = {"rkt_alice", "rkt_bob", "rkt_nobody"};
    long long n = -1;
    RKT_OK(rk_acldeluser(c, users, N(users), &n));
    assert_int_equal(n, 2);
    rk_client_free(c);
}

static void test_acl_list_and_users_show_a_new_user(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *rules[] = {"on", "nopass", "+ping"};
    RKT_OK(rk_aclsetuser(c, "rkt_carol", rules, N(rules)));
    rk_reply r;
    RKT_OK(rk_acllist(c, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_non_null(str_with_prefix(&r, "user default "));
    const char *line = str_with_prefix(&r, "user rkt_carol ");
    assert_non_null(line);
    assert_non_null(strstr(line, "+ping"));
    rk_reply_free(&r);
    RKT_OK(rk_aclusers(c, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_true(has_str(&r, "default"));
    assert_true(has_str(&r, "rkt_carol"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_whoami_is_the_default_user(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *who = NULL;
    size_t len = 0;
    RKT_OK(rk_aclwhoami(c, &who, &len));
    assert_string_equal(who, "default");
    assert_int_equal(len, 7);
    rk_free(who);
    rk_client_free(c);
}

static void test_acl_cat_lists_categories_and_their_commands(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_aclcat(c, NULL, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_true(has_str(&r, "string"));
    assert_true(has_str(&r, "scripting"));
    rk_reply_free(&r);
    RKT_OK(rk_aclcat(c, &(rk_aclcat_opts){.categoryname = RK_STR("string")}, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_true(has_str(&r, "get"));
    assert_false(has_str(&r, "lpush"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_genpass_length_follows_bits(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *pw = NULL;
    size_t len = 0;
    RKT_OK(rk_aclgenpass(c, NULL, &pw, &len));
    assert_int_equal(len, 64); /* 256 bits in hex */
    assert_int_equal(strspn(pw, "0123456789abcdef"), 64);
    rk_free(pw);
    RKT_OK(rk_aclgenpass(c, &(rk_aclgenpass_opts){.bits = 32}, &pw, &len));
    assert_int_equal(len, 8);
    assert_int_equal(strlen(pw), 8);
    rk_free(pw);
    rk_client_free(c);
}

/* Fails an AUTH on a held connection so that ACL LOG has an entry. */
static void failed_auth(rk_client *c) {
    RKT_OK(rk_acllog(c, &(rk_acllog_opts){.reset = true}, NULL));
    rk_conn *conn = hold(c);
    RKT_RC(rk_auth(conn, "wrongpw", &(rk_auth_opts){.username = RK_STR("rkt_nobody")}), RK_EAUTH);
    rk_client_release(c, conn);
}

static void test_acl_log_is_array_of_maps_after_failed_auth(void **state) {
    rk_client *c = rkt_cmd_client(state);
    failed_auth(c);
    rk_reply r;
    RKT_OK(rk_acllog(c, &(rk_acllog_opts){.count = 10}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *e = rk_reply_at(&r, 0);
    rkt_map_expect(e, "reason", "auth");
    rkt_map_expect(e, "object", "AUTH");
    rkt_map_expect(e, "username", "rkt_nobody");
    rkt_map_expect(e, "context", "toplevel");
    assert_int_equal(rk_reply_int(rkt_map_expect(e, "count", NULL)), 1);
    rkt_map_expect(e, "age-seconds", NULL);
    rkt_map_expect(e, "client-info", NULL);
    rk_reply_free(&r);
    RKT_OK(rk_acllog(c, &(rk_acllog_opts){.reset = true}, NULL));
    RKT_OK(rk_acllog(c, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* RESP3 sends an entry's age as a double. */
static void test_acl_log_age_is_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    failed_auth(c);
    rk_reply r;
    RKT_OK(rk_acllog(c, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *age = rkt_map_expect(rk_reply_at(&r, 0), "age-seconds", NULL);
    expect_type(age, RK_REPLY_DOUBLE);
    assert_true(rk_reply_double(age) >= 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_acl_dryrun_tells_allowed_from_denied(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *rules[] = {"on", "nopass", "~*", "-@all", "+get"};
    RKT_OK(rk_aclsetuser(c, "rkt_alice", rules, N(rules)));
    const char *get_args[] = {"k"}, *set_args[] = {"k", "v"};
    char *out = NULL;
    RKT_OK(rk_acldryrun(c, "rkt_alice", "get", get_args, 1, &out, NULL));
    assert_string_equal(out, "OK");
    rk_free(out);
    RKT_OK(rk_acldryrun(c, "rkt_alice", "set", set_args, 2, &out, NULL));
    assert_non_null(strstr(out, "no permissions"));
    rk_free(out);
    rk_client_free(c);
}

/* ---- INFO and CONFIG ---------------------------------------------------- */

static void test_info_without_sections_is_a_map_of_sections(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "v");
    rk_reply r;
    RKT_OK(rk_info(c, NULL, 0, &r));
    expect_type(&r, RK_REPLY_MAP);
    assert_true(rk_reply_len(&r) >= 8);
    const rk_reply *server = rkt_map_expect(&r, "Server", NULL);
    expect_type(server, RK_REPLY_MAP);
    rkt_map_expect(server, "redis_version", NULL);
    expect_type(rkt_map_expect(&r, "Clients", NULL), RK_REPLY_MAP);
    const rk_reply *ks = rkt_map_expect(&r, "Keyspace", NULL);
    const char *db0 = rk_reply_str(rkt_map_expect(ks, "db0", NULL));
    assert_non_null(strstr(db0, "keys=1"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_info_with_sections_gives_only_those(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "v");
    const char *sections[] = {"server", "keyspace"};
    rk_reply r;
    RKT_OK(rk_info(c, sections, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    rkt_map_expect(rkt_map_expect(&r, "Server", NULL), "tcp_port", NULL);
    rkt_map_expect(rkt_map_expect(&r, "Keyspace", NULL), "db0", NULL);
    assert_null(rk_reply_map_get(&r, "Clients"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_config_get_of_several_patterns_is_one_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *params[] = {"maxmemory", "maxmemory-*", "appendonly"};
    rk_reply r;
    RKT_OK(rk_configget(c, params, N(params), &r));
    expect_type(&r, RK_REPLY_MAP);
    assert_true(rk_reply_len(&r) >= 5);
    rkt_map_expect(&r, "maxmemory", NULL);
    rkt_map_expect(&r, "maxmemory-policy", NULL);
    rkt_map_expect(&r, "maxmemory-samples", NULL);
    rkt_map_expect(&r, "appendonly", "no");
    assert_null(rk_reply_map_get(&r, "save"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_config_set_of_two_parameters_shows_in_get(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char old_len[64], old_samples[64];
    config_get(c, "slowlog-max-len", old_len, sizeof old_len);
    config_get(c, "maxmemory-samples", old_samples, sizeof old_samples);
    rk_configset_parameter_value pv[] = {{RK_STR("slowlog-max-len"), RK_STR("77")},
                                         {RK_STR("maxmemory-samples"), RK_STR("7")}};
    RKT_OK(rk_configset(c, pv, 2));
    const char *params[] = {"slowlog-max-len", "maxmemory-samples"};
    rk_reply r;
    RKT_OK(rk_configget(c, params, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    rkt_map_expect(&r, "slowlog-max-len", "77");
    rkt_map_expect(&r, "maxmemory-samples", "7");
    rk_reply_free(&r);
    rk_configset_parameter_value back[] = {{RK_STR("slowlog-max-len"), rk_cstr(old_len)},
                                           {RK_STR("maxmemory-samples"), rk_cstr(old_samples)}};
    RKT_OK(rk_configset(c, back, 2));
    rk_client_free(c);
}

static void test_config_resetstat_zeroes_the_counters(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *v = NULL;
    RKT_RC(rk_get(c, "rkt_missing", &v, NULL), RK_NIL);
    const char *stats[] = {"stats"};
    rk_reply r;
    RKT_OK(rk_info(c, stats, 1, &r));
    const char *misses =
        rk_reply_str(rkt_map_expect(rkt_map_expect(&r, "Stats", NULL), "keyspace_misses", NULL));
    assert_true(atoll(misses) >= 1);
    rk_reply_free(&r);
    RKT_OK(rk_configresetstat(c));
    RKT_OK(rk_info(c, stats, 1, &r));
    rkt_map_expect(rkt_map_expect(&r, "Stats", NULL), "keyspace_misses", "0");
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- CLIENT ------------------------------------------------------------- */

static void test_client_id_is_positive_and_stable(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long a = 0, b = 0;
    RKT_OK(rk_clientid(c, &a));
    RKT_OK(rk_clientid(c, &b));
    assert_true(a > 0);
    assert_int_equal(a, b); /* one thread: the same pooled connection */
    rk_client_free(c);
}

static void test_client_setname_then_getname(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *name = NULL;
    RKT_RC(rk_clientgetname(c, &name, NULL), RK_NIL);
    assert_null(name);
    /* a name belongs to one connection: CLIENT SETNAME runs on a held one */
    rk_conn *conn = hold(c);
    RKT_OK(rk_clientsetname(conn, "rkt_named"));
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "CLIENT", "GETNAME", NULL));
    assert_string_equal(rk_reply_str(&r), "rkt_named");
    rk_reply_free(&r);
    rk_conn_close(conn);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_client_list_is_a_string_filtered_by_type(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *list = NULL;
    RKT_OK(rk_clientlist(c, NULL, &list, NULL));
    assert_non_null(strstr(list, "cmd=client|list"));
    rk_free(list);
    RKT_OK(rk_clientlist(c, &(rk_clientlist_opts){.type = RK_CLIENTLIST_TYPE_NORMAL}, &list, NULL));
    assert_true(strncmp(list, "id=", 3) == 0);
    rk_free(list);
    size_t len = 99;
    RKT_OK(rk_clientlist(c, &(rk_clientlist_opts){.type = RK_CLIENTLIST_TYPE_PUBSUB}, &list, &len));
    assert_string_equal(list, "");
    assert_int_equal(len, 0);
    rk_free(list);
    rk_client_free(c);
}

static void test_client_list_by_id_gives_that_client(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long id = 0;
    RKT_OK(rk_clientid(c, &id));
    char *list = NULL;
    RKT_OK(rk_clientlist(c, &(rk_clientlist_opts){.id = &id, .nid = 1}, &list, NULL));
    char want[64];
    snprintf(want, sizeof want, "id=%lld ", id);
    assert_true(strncmp(list, want, strlen(want)) == 0);
    assert_int_equal(strchr(list, '\n') - list, strlen(list) - 1); /* one line */
    rk_free(list);
    rk_client_free(c);
}

static void test_client_info_describes_this_connection(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long id = 0;
    RKT_OK(rk_clientid(c, &id));
    char *info = NULL;
    RKT_OK(rk_clientinfo(c, &info, NULL));
    char want[64];
    snprintf(want, sizeof want, "id=%lld ", id);
    assert_true(strncmp(info, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "resp=%d", rkt_cmd_protocol(state));
    assert_non_null(strstr(info, want));
    assert_non_null(strstr(info, "cmd=client|info"));
    rk_free(info);
    rk_client_free(c);
}

static void test_client_kill_by_id_closes_another_connection(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *victim = hold(c);
    const rk_clientkill_filter filters[] = {{.id = conn_id(victim)}, {.skipme = RK_STR("yes")}};
    long long killed = -1;
    RKT_OK(rk_clientkill(c, filters, 2, &killed));
    assert_int_equal(killed, 1);
    assert_true(rk_conn_call_args(victim, NULL, "PING", NULL) < 0);
    rk_client_release(c, victim);
    /* the pool goes on with a new connection */
    RKT_OK(rk_ping(c, NULL, NULL));
    rk_client_free(c);
}

/* The CLIENT INFO line of a held connection, to rk_free. */
static char *conn_info(rk_conn *conn) {
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "CLIENT", "INFO", NULL));
    char *s = strdup(rk_reply_str(&r));
    rk_reply_free(&r);
    return s;
}

static void test_client_no_evict_flags_the_held_connection(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_clientno_evict(conn, RK_CLIENTNO_EVICT_ENABLED_ON));
    char *info = conn_info(conn);
    const char *flags = strstr(info, " flags=");
    assert_non_null(flags);
    assert_non_null(memchr(flags + 7, 'e', strcspn(flags + 7, " ")));
    free(info);
    RKT_OK(rk_clientno_evict(conn, RK_CLIENTNO_EVICT_ENABLED_OFF));
    info = conn_info(conn);
    flags = strstr(info, " flags=");
    assert_null(memchr(flags + 7, 'e', strcspn(flags + 7, " ")));
    free(info);
    RKT_RC(rk_clientno_evict(conn, (rk_clientno_evict_enabled)9), RK_EINVAL);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_client_tracking_turns_on_for_the_held_connection(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    rk_reply r;
    RKT_OK(rk_clienttracking(conn, RK_CLIENTTRACKING_STATUS_ON, NULL, &r));
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    RKT_OK(rk_conn_call_args(conn, &r, "CLIENT", "TRACKINGINFO", NULL));
    const rk_reply *flags =
        rk_reply_type(&r) == RK_REPLY_MAP ? rk_reply_map_get(&r, "flags") : rk_reply_at(&r, 1);
    assert_true(has_str(flags, "on"));
    rk_reply_free(&r);
    RKT_OK(rk_clienttracking(conn, RK_CLIENTTRACKING_STATUS_OFF, NULL, NULL));
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_client_caching_needs_optin_tracking(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    rk_reply r;
    RKT_RC(rk_clientcaching(conn, RK_CLIENTCACHING_MODE_YES, &r), RK_ESERVER);
    rk_reply_free(&r);
    RKT_OK(rk_clienttracking(conn, RK_CLIENTTRACKING_STATUS_ON,
                             &(rk_clienttracking_opts){.optin = true}, NULL));
    RKT_OK(rk_clientcaching(conn, RK_CLIENTCACHING_MODE_YES, &r));
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    RKT_OK(rk_clienttracking(conn, RK_CLIENTTRACKING_STATUS_OFF, NULL, NULL));
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_client_trackinginfo_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_clienttrackinginfo(c, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 3);
    const rk_reply *flags = rkt_map_expect(&r, "flags", NULL);
    expect_list(flags);
    assert_true(has_str(flags, "off"));
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "redirect", NULL)), -1);
    rkt_expect_shape(rkt_map_expect(&r, "prefixes", NULL), RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_client_trackinginfo_flags_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_clienttrackinginfo(c, &r));
    expect_type(rkt_map_expect(&r, "flags", NULL), RK_REPLY_SET);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- SLOWLOG, LATENCY --------------------------------------------------- */

static void test_slowlog_get_len_reset(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char old[64];
    config_get(c, "slowlog-log-slower-than", old, sizeof old);
    config_set(c, "slowlog-log-slower-than", "0");
    RKT_OK(rk_slowlogreset(c));
    set_key(c, "rkt_slow", "v");
    long long n = 0;
    RKT_OK(rk_slowloglen(c, &n));
    assert_true(n >= 1);
    rk_reply r;
    RKT_OK(rk_slowlogget(c, &(rk_slowlogget_opts){.count = 100}, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_true(rk_reply_len(&r) >= 2); /* the SET and the SLOWLOG LEN at least */
    bool found = false;
    for (size_t i = 0; i < rk_reply_len(&r); i++) {
        const rk_reply *e = rk_reply_at(&r, i);
        expect_type(e, RK_REPLY_ARRAY);
        assert_true(rk_reply_len(e) >= 6);
        expect_type(rk_reply_at(e, 0), RK_REPLY_INTEGER);
        expect_type(rk_reply_at(e, 1), RK_REPLY_INTEGER);
        expect_type(rk_reply_at(e, 2), RK_REPLY_INTEGER);
        const rk_reply *argv = rk_reply_at(e, 3);
        expect_type(argv, RK_REPLY_ARRAY);
        if (rk_reply_len(argv) == 3 && strcmp(rk_reply_str(rk_reply_at(argv, 0)), "SET") == 0 &&
            strcmp(rk_reply_str(rk_reply_at(argv, 1)), "rkt_slow") == 0)
            found = true;
    }
    assert_true(found);
    rk_reply_free(&r);
    RKT_OK(rk_slowlogget(c, &(rk_slowlogget_opts){.count = 1}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    rk_reply_free(&r);
    config_set(c, "slowlog-log-slower-than", old);
    RKT_OK(rk_slowlogreset(c));
    RKT_OK(rk_slowloglen(c, &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

/* A script slow enough (tens of milliseconds) to pass a 1 ms threshold. */
static void slow_command(rk_client *c) {
    rk_reply r;
    RKT_OK(rk_eval(c, "local i = 0 while i < 5000000 do i = i + 1 end return i", NULL, 0, NULL, 0,
                   &r));
    rk_reply_free(&r);
}

static void test_latency_latest_and_history_after_a_slow_command(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char old[64];
    config_get(c, "latency-monitor-threshold", old, sizeof old);
    config_set(c, "latency-monitor-threshold", "1");
    slow_command(c);
    rk_reply r;
    RKT_OK(rk_latencylatest(c, &r));
    expect_type(&r, RK_REPLY_ARRAY);
    bool found = false;
    for (size_t i = 0; i < rk_reply_len(&r); i++) {
        const rk_reply *e = rk_reply_at(&r, i);
        rkt_expect_shape(e, RK_REPLY_ARRAY, 4); /* event, time, latest, max */
        if (strcmp(rk_reply_str(rk_reply_at(e, 0)), "command") == 0) {
            found = true;
            assert_true(rk_reply_int(rk_reply_at(e, 2)) >= 1);
        }
    }
    assert_true(found);
    rk_reply_free(&r);
    RKT_OK(rk_latencyhistory(c, "command", &r));
    expect_type(&r, RK_REPLY_ARRAY);
    assert_true(rk_reply_len(&r) >= 1);
    rkt_expect_shape(rk_reply_at(&r, 0), RK_REPLY_ARRAY, 2); /* time, latency */
    rk_reply_free(&r);
    config_set(c, "latency-monitor-threshold", old);
    rk_client_free(c);
}

/* LATENCY RESET answers the number of event series reset (an integer). */
static void test_latency_reset_clears_the_events(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char old[64];
    config_get(c, "latency-monitor-threshold", old, sizeof old);
    config_set(c, "latency-monitor-threshold", "1");
    slow_command(c);
    config_set(c, "latency-monitor-threshold", old);
    const char *events[] = {"command"};
    long long reset = -1;
    RKT_OK(rk_latencyreset(c, events, 1, &reset));
    assert_int_equal(reset, 1);
    rk_reply r;
    RKT_OK(rk_latencyhistory(c, "command", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    RKT_OK(rk_latencyreset(c, NULL, 0, NULL));
    rk_client_free(c);
}

/* LATENCY HISTOGRAM is a map of command to a map whose histogram_usec is
 * a map of bucket to count, on RESP2 (flat arrays) as on RESP3. */
static void test_latency_histogram_is_a_map_of_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "v");
    const char *cmds[] = {"set"};
    rk_reply r;
    RKT_OK(rk_latencyhistogram(c, cmds, 1, &r));
    expect_type(&r, RK_REPLY_MAP);
    const rk_reply *set = rkt_map_expect(&r, "set", NULL);
    expect_type(set, RK_REPLY_MAP);
    assert_true(rk_reply_int(rkt_map_expect(set, "calls", NULL)) >= 1);
    const rk_reply *buckets = rkt_map_expect(set, "histogram_usec", NULL);
    expect_type(buckets, RK_REPLY_MAP);
    assert_true(rk_reply_len(buckets) >= 1);
    expect_type(rk_reply_map_key(buckets, 0), RK_REPLY_INTEGER);
    assert_true(rk_reply_int(rk_reply_map_value(buckets, 0)) >= 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- MEMORY, OBJECT ----------------------------------------------------- */

static void test_memory_usage_of_key_and_of_missing_key(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "some value");
    long long n = 0;
    RKT_OK(rk_memoryusage(c, "rkt_k", NULL, &n));
    assert_true(n > 10);
    RKT_OK(
        rk_memoryusage(c, "rkt_k", &(rk_memoryusage_opts){.samples = 0, .samples_set = true}, &n));
    assert_true(n > 10);
    n = 12345;
    RKT_RC(rk_memoryusage(c, "rkt_missing", NULL, &n), RK_NIL);
    rk_client_free(c);
}

static void test_memory_stats_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_memorystats(c, &r));
    expect_type(&r, RK_REPLY_MAP);
    assert_true(rk_reply_len(&r) >= 20);
    assert_true(rk_reply_int(rkt_map_expect(&r, "peak.allocated", NULL)) > 0);
    expect_type(rkt_map_expect(&r, "keys.count", NULL), RK_REPLY_INTEGER);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Nested values keep RESP3's form: "db.N" is a map, ratios are doubles. */
static void test_memory_stats_db_is_a_map_and_ratios_doubles(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_k", "v");
    rk_reply r;
    RKT_OK(rk_memorystats(c, &r));
    const rk_reply *db = rkt_map_expect(&r, "db.0", NULL);
    expect_type(rkt_map_expect(db, "overhead.hashtable.main", NULL), RK_REPLY_INTEGER);
    expect_type(rkt_map_expect(&r, "dataset.percentage", NULL), RK_REPLY_DOUBLE);
    expect_type(rkt_map_expect(&r, "fragmentation", NULL), RK_REPLY_DOUBLE);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_memory_doctor_is_a_string(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *text = NULL;
    size_t len = 0;
    RKT_OK(rk_memorydoctor(c, &text, &len));
    assert_true(len > 10);
    assert_int_equal(strlen(text), len);
    rk_free(text);
    rk_client_free(c);
}

static void test_object_encoding_idletime_refcount(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_int", "12345");
    set_key(c, "rkt_str", "hello");
    rk_hset_field_value fv = {RK_STR("f"), RK_STR("v")};
    RKT_OK(rk_hset(c, "rkt_hash", &fv, 1, NULL));
    char *enc = NULL;
    RKT_OK(rk_objectencoding(c, "rkt_int", &enc, NULL));
    assert_string_equal(enc, "int");
    rk_free(enc);
    RKT_OK(rk_objectencoding(c, "rkt_str", &enc, NULL));
    assert_string_equal(enc, "embstr");
    rk_free(enc);
    RKT_OK(rk_objectencoding(c, "rkt_hash", &enc, NULL));
    assert_string_equal(enc, "listpack");
    rk_free(enc);
    long long n = -1;
    RKT_OK(rk_objectidletime(c, "rkt_str", &n));
    assert_true(n >= 0);
    n = -1;
    RKT_OK(rk_objectrefcount(c, "rkt_str", &n));
    assert_true(n >= 1);
    rk_client_free(c);
}

static void test_object_encoding_of_missing_key_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *enc = NULL;
    RKT_RC(rk_objectencoding(c, "rkt_missing", &enc, NULL), RK_NIL);
    assert_null(enc);
    rk_client_free(c);
}

/* OBJECT IDLETIME / REFCOUNT / FREQ answer nil for a missing key. */
static void test_object_idletime_refcount_of_missing_key_are_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_RC(rk_objectidletime(c, "rkt_missing", &n), RK_NIL);
    RKT_RC(rk_objectrefcount(c, "rkt_missing", &n), RK_NIL);
    RKT_RC(rk_objectfreq(c, "rkt_missing", &n), RK_NIL);
    rk_client_free(c);
}

/* ---- keyspace and server facts ----------------------------------------- */

static void test_dbsize_counts_the_keys(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_dbsize(c, &n));
    assert_int_equal(n, 0);
    set_key(c, "rkt_a", "1");
    set_key(c, "rkt_b", "2");
    set_key(c, "rkt_c", "3");
    RKT_OK(rk_dbsize(c, &n));
    assert_int_equal(n, 3);
    rk_client_free(c);
}

static void test_time_is_seconds_and_microseconds(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_time(c, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_type(rk_reply_at(&r, 0), RK_REPLY_STRING);
    assert_true(atoll(rk_reply_str(rk_reply_at(&r, 0))) > 1600000000LL);
    long long us = atoll(rk_reply_str(rk_reply_at(&r, 1)));
    assert_true(us >= 0 && us < 1000000);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lastsave_is_a_unix_time(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long t = 0;
    RKT_OK(rk_lastsave(c, &t));
    assert_true(t > 1600000000LL);
    rk_client_free(c);
}

static void test_command_count_counts_commands(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_OK(rk_commandcount(c, &n));
    assert_true(n > 200);
    rk_client_free(c);
}

static void test_command_info_describes_commands(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *names[] = {"get", "rkt-no-such-command"};
    rk_reply r;
    RKT_OK(rk_commandinfo(c, names, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *get = rk_reply_at(&r, 0);
    expect_type(get, RK_REPLY_ARRAY);
    assert_true(rk_reply_len(get) >= 10);
    assert_string_equal(rk_reply_str(rk_reply_at(get, 0)), "get");
    assert_int_equal(rk_reply_int(rk_reply_at(get, 1)), 2);
    assert_true(has_str(rk_reply_at(get, 2), "readonly"));
    expect_type(rk_reply_at(&r, 1), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* RESP3 sends a command's flags and ACL categories as sets. */
static void test_command_info_flags_are_sets(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *names[] = {"get"};
    rk_reply r;
    RKT_OK(rk_commandinfo(c, names, 1, &r));
    const rk_reply *get = rk_reply_at(&r, 0);
    expect_type(rk_reply_at(get, 2), RK_REPLY_SET);
    expect_type(rk_reply_at(get, 6), RK_REPLY_SET);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_command_docs_is_a_map_by_command(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *names[] = {"get", "set"};
    rk_reply r;
    RKT_OK(rk_commanddocs(c, names, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    rkt_map_expect(&r, "get", NULL);
    rkt_map_expect(&r, "set", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Each command's doc is a map too (summary, since, group, arguments...). */
static void test_command_docs_entries_are_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *names[] = {"get"};
    rk_reply r;
    RKT_OK(rk_commanddocs(c, names, 1, &r));
    const rk_reply *get = rkt_map_expect(&r, "get", NULL);
    rkt_map_expect(get, "group", "string");
    rkt_map_expect(get, "since", "1.0.0");
    const rk_reply *args = rkt_map_expect(get, "arguments", NULL);
    rkt_expect_shape(args, RK_REPLY_ARRAY, 1);
    rkt_map_expect(rk_reply_at(args, 0), "name", "key");
    rk_reply_free(&r);
    rk_client_free(c);
}

/* A command's doc_flags and history are sets on RESP3; RESP2's arrays
 * become sets too (history's entries stay [version, text] arrays). */
static void test_command_docs_doc_flags_and_history_are_sets(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *names[] = {"georadius"};
    rk_reply r;
    RKT_OK(rk_commanddocs(c, names, 1, &r));
    const rk_reply *geo = rkt_map_expect(&r, "georadius", NULL);
    const rk_reply *flags = rkt_map_expect(geo, "doc_flags", NULL);
    rkt_expect_shape(flags, RK_REPLY_SET, 1);
    assert_string_equal(rk_reply_str(rk_reply_at(flags, 0)), "deprecated");
    const rk_reply *history = rkt_map_expect(geo, "history", NULL);
    expect_type(history, RK_REPLY_SET);
    assert_true(rk_reply_len(history) >= 1);
    rkt_expect_shape(rk_reply_at(history, 0), RK_REPLY_ARRAY, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* COMMAND GETKEYS command [arg...]: the keys of a command. */
static void test_command_getkeys_lists_the_keys_of_a_command(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_commandgetkeys(c, "MSET", (const char *[]){"k1", "v1", "k2", "v2"}, 4, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "k1");
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "k2");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_echo_returns_the_message_binary_safe(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *out = NULL;
    size_t len = 0;
    RKT_OK(rk_echo(c, "hello", &out, &len));
    assert_string_equal(out, "hello");
    assert_int_equal(len, 5);
    rk_free(out);
    rk_command cmd;
    rkt_run_bytes(c, rk_cmd_echo(&cmd, RK_STR("a\0b")), RK_STR("a\0b"));
    rk_client_free(c);
}

static void test_ping_with_and_without_message(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_ping(c, NULL, &r));
    expect_type(&r, RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    RKT_OK(rk_ping(c, &(rk_ping_opts){.message = RK_STR("hi there")}, &r));
    expect_type(&r, RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), "hi there");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lolwut_gives_art_and_the_version(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *out = NULL;
    RKT_OK(rk_lolwut(c, NULL, &out, NULL));
    assert_non_null(strstr(out, "Redis ver."));
    rk_free(out);
    RKT_OK(rk_lolwut(c, &(rk_lolwut_opts){.version = 5}, &out, NULL));
    assert_non_null(strstr(out, "Redis ver."));
    rk_free(out);
    rk_client_free(c);
}

static void test_role_of_a_lone_server_is_master(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_role(c, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "master");
    expect_type(rk_reply_at(&r, 1), RK_REPLY_INTEGER);
    rkt_expect_shape(rk_reply_at(&r, 2), RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* A client of the shared server on database db. */
static rk_client *db_client(void **state, int db) {
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared), .protocol = rkt_cmd_protocol(state), .db = db});
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

static void test_swapdb_swaps_two_databases(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_client *c1 = db_client(state, 1);
    set_key(c, "rkt_in0", "v");
    RKT_OK(rk_swapdb(c, 0, 1));
    assert_int_equal(exists(c, "rkt_in0"), 0);
    assert_int_equal(exists(c1, "rkt_in0"), 1);
    RKT_OK(rk_swapdb(c, 1, 0));
    assert_int_equal(exists(c, "rkt_in0"), 1);
    rk_client_free(c1);
    rk_client_free(c);
}

static void test_flushdb_empties_only_the_current_database(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_client *c1 = db_client(state, 1);
    set_key(c, "rkt_a", "1");
    set_key(c1, "rkt_b", "2");
    RKT_OK(rk_flushdb(c, NULL));
    long long n = -1;
    RKT_OK(rk_dbsize(c, &n));
    assert_int_equal(n, 0);
    assert_int_equal(exists(c1, "rkt_b"), 1);
    RKT_OK(rk_flushdb(c1, &(rk_flushdb_opts){.sync = true}));
    RKT_OK(rk_dbsize(c1, &n));
    assert_int_equal(n, 0);
    rk_client_free(c1);
    rk_client_free(c);
}

/* ---- connection state on a held connection ------------------------------ */

static void test_select_moves_the_held_connection_to_db1(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_select(conn, 1));
    RKT_OK(rk_conn_call_args(conn, NULL, "SET", "rkt_db1", "v", NULL));
    assert_int_equal(exists(c, "rkt_db1"), 0);
    rk_client *c1 = db_client(state, 1);
    assert_int_equal(exists(c1, "rkt_db1"), 1);
    rk_client_free(c1);
    RKT_OK(rk_select(conn, 0));
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_auth_as_a_user_made_by_acl_setuser(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *rules[] = {"on", ">alicepw", "~*", "&*", "+@all"};
    RKT_OK(rk_aclsetuser(c, "rkt_alice", rules, N(rules)));
    rk_conn *conn = hold(c);
    RKT_RC(rk_auth(conn, "wrong", &(rk_auth_opts){.username = RK_STR("rkt_alice")}), RK_EAUTH);
    RKT_OK(rk_auth(conn, "alicepw", &(rk_auth_opts){.username = RK_STR("rkt_alice")}));
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "ACL", "WHOAMI", NULL));
    assert_string_equal(rk_reply_str(&r), "rkt_alice");
    rk_reply_free(&r);
    rk_conn_close(conn); /* authenticated as someone else: not for the pool */
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_hello_is_a_map_with_the_protocol(void **state) {
    rk_client *c = rkt_cmd_client(state);
    int proto = rkt_cmd_protocol(state);
    rk_conn *conn = hold(c);
    rk_reply r;
    RKT_OK(rk_hello(conn, NULL, &r));
    expect_type(&r, RK_REPLY_MAP);
    rkt_map_expect(&r, "server", "redis");
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "proto", NULL)), proto);
    rkt_map_expect(&r, "role", "master");
    expect_type(rkt_map_expect(&r, "modules", NULL), RK_REPLY_ARRAY);
    rk_reply_free(&r);
    rk_hello_protover pv = {.protover = proto, .setname = RK_STR("rkt_hello")};
    RKT_OK(rk_hello(conn, &(rk_hello_opts){.protover = &pv}, &r));
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "proto", NULL)), proto);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "id", NULL)), conn_id(conn));
    rk_reply_free(&r);
    RKT_OK(rk_conn_call_args(conn, &r, "CLIENT", "GETNAME", NULL));
    assert_string_equal(rk_reply_str(&r), "rkt_hello");
    rk_reply_free(&r);
    rk_conn_close(conn); /* renamed: not for the pool */
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_watch_multi_exec_commits_when_untouched(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_w", "1");
    rk_conn *conn = hold(c);
    const char *keys[] = {"rkt_w"};
    RKT_OK(rk_watch(conn, keys, 1));
    RKT_OK(rk_multi(conn));
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "INCR", "rkt_w", NULL));
    assert_string_equal(rk_reply_str(&r), "QUEUED");
    rk_reply_free(&r);
    RKT_OK(rk_conn_call_args(conn, NULL, "GET", "rkt_w", NULL));
    RKT_OK(rk_exec(conn, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 2);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "2");
    rk_reply_free(&r);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_exec_is_nil_when_a_watched_key_changed(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_w", "1");
    rk_conn *conn = hold(c);
    const char *keys[] = {"rkt_w"};
    RKT_OK(rk_watch(conn, keys, 1));
    set_key(c, "rkt_w", "changed"); /* another connection of the pool */
    RKT_OK(rk_multi(conn));
    RKT_OK(rk_conn_call_args(conn, NULL, "INCR", "rkt_w", NULL));
    rk_reply r;
    RKT_NIL(rk_exec(conn, &r));
    expect_type(&r, RK_REPLY_NIL);
    rk_reply_free(&r);
    char *v = NULL;
    RKT_OK(rk_get(c, "rkt_w", &v, NULL));
    assert_string_equal(v, "changed");
    rk_free(v);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_unwatch_and_discard_drop_the_transaction(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_key(c, "rkt_w", "1");
    rk_conn *conn = hold(c);
    const char *keys[] = {"rkt_w"};
    RKT_OK(rk_watch(conn, keys, 1));
    RKT_OK(rk_unwatch(conn));
    set_key(c, "rkt_w", "5");
    RKT_OK(rk_multi(conn));
    RKT_OK(rk_conn_call_args(conn, NULL, "INCR", "rkt_w", NULL));
    RKT_OK(rk_discard(conn));
    RKT_OK(rk_multi(conn));
    RKT_OK(rk_conn_call_args(conn, NULL, "INCR", "rkt_w", NULL));
    rk_reply r;
    RKT_OK(rk_exec(conn, &r)); /* unwatched: runs despite the change */
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 6);
    rk_reply_free(&r);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_reset_returns_the_connection_to_db0(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_select(conn, 1));
    RKT_OK(rk_multi(conn));
    rk_reply r;
    RKT_OK(rk_reset(conn));
    /* out of MULTI and back on db 0 */
    RKT_OK(rk_conn_call_args(conn, &r, "SET", "rkt_after_reset", "v", NULL));
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    assert_int_equal(exists(c, "rkt_after_reset"), 1);
    rk_conn_close(conn);
    rk_client_release(c, conn);
    rk_client_free(c);
}

/* RESET puts the server side back to RESP2; a connection that settled on
 * RESP3 in its handshake should still speak what it reports. */
static void test_reset_keeps_the_protocol_of_the_connection(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_reset(conn));
    char *info = conn_info(conn);
    char want[16];
    snprintf(want, sizeof want, "resp=%d", rk_conn_protocol(conn));
    assert_int_equal(rk_conn_protocol(conn), rkt_cmd_protocol(state));
    assert_non_null(strstr(info, want));
    free(info);
    rk_conn_close(conn);
    rk_client_release(c, conn);
    rk_client_free(c);
}

/* MONITOR streams what others run; RESET ends it and the connection is
 * an ordinary one again. */
static void test_monitor_streams_commands_until_reset(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_monitor(conn));
    RKT_OK(rk_set(c, "rkt_monitored", "v", NULL, NULL));
    bool seen = false;
    for (int i = 0; i < 20 && !seen; i++) { /* PINGs of other clients may come first */
        rk_reply r;
        RKT_OK(rk_conn_read(conn, &r));
        expect_type(&r, RK_REPLY_STATUS);
        seen = strstr(rk_reply_str(&r), "\"SET\" \"rkt_monitored\" \"v\"") != NULL;
        rk_reply_free(&r);
    }
    assert_true(seen);
    RKT_OK(rk_set(c, "rkt_monitored", "w", NULL, NULL)); /* a line still in flight */
    RKT_OK(rk_reset(conn));
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "PING", NULL));
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(conn), 0);
    rk_conn_close(conn);
    rk_client_release(c, conn);
    rk_client_free(c);
}

static void test_client_reply_off_then_on(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_conn *conn = hold(c);
    RKT_OK(rk_clientreply(conn, RK_CLIENTREPLY_OFF));
    /* no reply comes for these: sent, not waited for */
    RKT_OK(rk_conn_append_args(conn, "SET", "rkt_quiet", "1", NULL));
    RKT_OK(rk_conn_flush(conn));
    rk_reply r;
    RKT_OK(rk_conn_call_args(conn, &r, "INCR", "rkt_quiet", NULL)); /* returns at once */
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_conn_pending(conn), 0);
    char *v = NULL;
    for (int i = 0; i < 400; i++) { /* the other connection may be served first */
        if (rk_get(c, "rkt_quiet", &v, NULL) == RK_OK && strcmp(v, "2") == 0)
            break;
        rk_free(v);
        v = NULL;
        usleep(5000);
    }
    assert_non_null(v);
    assert_string_equal(v, "2");
    rk_free(v);
    RKT_OK(rk_clientreply(conn, RK_CLIENTREPLY_ON));
    RKT_OK(rk_conn_call_args(conn, &r, "PING", NULL));
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(conn), 0);
    RKT_RC(rk_clientreply(conn, (rk_clientreply_mode)0), RK_EINVAL);
    rk_client_release(c, conn);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        BOTH(test_eval_passes_keys_and_args),
        BOTH(test_eval_ro_reads_and_refuses_writes),
        BOTH(test_script_load_gives_sha_for_evalsha),
        BOTH(test_script_exists_tells_loaded_from_unknown),
        BOTH(test_script_flush_then_evalsha_is_noscript),
        BOTH(test_function_load_replace_reloads_a_library),
        BOTH(test_function_list_is_array_of_maps),
        BOTH(test_function_list_withcode_libraryname_filters),
        BOTH(test_function_list_functions_are_maps),
        BOTH(test_function_stats_is_a_map),
        BOTH(test_function_stats_engines_is_a_map_of_maps),
        BOTH(test_function_delete_removes_one_library),
        BOTH(test_function_flush_removes_every_library),
        BOTH(test_function_dump_then_restore_brings_libraries_back),
        BOTH(test_fcall_passes_keys_and_args),
        BOTH(test_fcall_ro_runs_only_no_writes_functions),
        BOTH(test_acl_setuser_rules_show_in_getuser_map),
        BOTH(test_acl_getuser_flags_is_a_set),
        BOTH(test_acl_getuser_of_unknown_user_is_nil),
        BOTH(test_acl_deluser_counts_users_deleted),
        BOTH(test_acl_list_and_users_show_a_new_user),
        BOTH(test_acl_whoami_is_the_default_user),
        BOTH(test_acl_cat_lists_categories_and_their_commands),
        BOTH(test_acl_genpass_length_follows_bits),
        BOTH(test_acl_log_is_array_of_maps_after_failed_auth),
        BOTH(test_acl_log_age_is_a_double),
        BOTH(test_acl_dryrun_tells_allowed_from_denied),
        BOTH(test_info_without_sections_is_a_map_of_sections),
        BOTH(test_info_with_sections_gives_only_those),
        BOTH(test_config_get_of_several_patterns_is_one_map),
        BOTH(test_config_set_of_two_parameters_shows_in_get),
        BOTH(test_config_resetstat_zeroes_the_counters),
        BOTH(test_client_id_is_positive_and_stable),
        BOTH(test_client_setname_then_getname),
        BOTH(test_client_list_is_a_string_filtered_by_type),
        BOTH(test_client_list_by_id_gives_that_client),
        BOTH(test_client_info_describes_this_connection),
        BOTH(test_client_kill_by_id_closes_another_connection),
        BOTH(test_client_no_evict_flags_the_held_connection),
        BOTH(test_client_tracking_turns_on_for_the_held_connection),
        BOTH(test_client_caching_needs_optin_tracking),
        BOTH(test_client_trackinginfo_is_a_map),
        BOTH(test_client_trackinginfo_flags_is_a_set),
        BOTH(test_slowlog_get_len_reset),
        BOTH(test_latency_latest_and_history_after_a_slow_command),
        BOTH(test_latency_reset_clears_the_events),
        BOTH(test_latency_histogram_is_a_map_of_maps),
        BOTH(test_memory_usage_of_key_and_of_missing_key),
        BOTH(test_memory_stats_is_a_map),
        BOTH(test_memory_stats_db_is_a_map_and_ratios_doubles),
        BOTH(test_memory_doctor_is_a_string),
        BOTH(test_object_encoding_idletime_refcount),
        BOTH(test_object_encoding_of_missing_key_is_nil),
        BOTH(test_object_idletime_refcount_of_missing_key_are_nil),
        BOTH(test_dbsize_counts_the_keys),
        BOTH(test_time_is_seconds_and_microseconds),
        BOTH(test_lastsave_is_a_unix_time),
        BOTH(test_command_count_counts_commands),
        BOTH(test_command_info_describes_commands),
        BOTH(test_command_info_flags_are_sets),
        BOTH(test_command_docs_is_a_map_by_command),
        BOTH(test_command_docs_entries_are_maps),
        BOTH(test_command_docs_doc_flags_and_history_are_sets),
        BOTH(test_command_getkeys_lists_the_keys_of_a_command),
        BOTH(test_echo_returns_the_message_binary_safe),
        BOTH(test_ping_with_and_without_message),
        BOTH(test_lolwut_gives_art_and_the_version),
        BOTH(test_role_of_a_lone_server_is_master),
        BOTH(test_swapdb_swaps_two_databases),
        BOTH(test_flushdb_empties_only_the_current_database),
        BOTH(test_select_moves_the_held_connection_to_db1),
        BOTH(test_auth_as_a_user_made_by_acl_setuser),
        BOTH(test_hello_is_a_map_with_the_protocol),
        BOTH(test_watch_multi_exec_commits_when_untouched),
        BOTH(test_exec_is_nil_when_a_watched_key_changed),
        BOTH(test_unwatch_and_discard_drop_the_transaction),
        BOTH(test_reset_returns_the_connection_to_db0),
        BOTH(test_reset_keeps_the_protocol_of_the_connection),
        BOTH(test_client_reply_off_then_on),
        BOTH(test_monitor_streams_commands_until_reset),
    };
    return cmocka_run_group_tests(tests, group_setup, rkt_shared_teardown);
}
