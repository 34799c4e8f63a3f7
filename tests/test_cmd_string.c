/* Typed commands of the string, bitmap, hyperloglog and generic (keys and
 * expiry) groups against a real redis-server, each test on RESP2 and RESP3:
 * the arguments each function sends, its typed output, and that the reply
 * has the same shape on both protocols. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rkt_cmd.h"

/* ---- helpers ------------------------------------------------------------ */

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A client of the shared server on database db, with the test's protocol. */
static rk_client *client_db(void **state, int db) {
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared), .protocol = rkt_cmd_protocol(state), .db = db});
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

static void set_str(rk_client *c, const char *key, const char *value) {
    RKT_OK(rk_set(c, key, value, NULL, NULL));
}

/* SET of binary strings, through the builder. */
static void set_bin(rk_client *c, rk_str key, rk_str value) {
    rk_command cmd;
    RKT_OK(rk_client_run(c, rk_cmd_set(&cmd, key, value, NULL), NULL));
}

/* The value at key is want (a C string). */
static void expect_get(rk_client *c, const char *key, const char *want) {
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_get(c, key, &v, &len));
    assert_non_null(v);
    assert_string_equal(v, want);
    assert_int_equal(len, strlen(want));
    rk_free(v);
}

static void expect_missing(rk_client *c, const char *key) {
    char *v = (char *)"unset";
    RKT_RC(rk_get(c, key, &v, NULL), RK_NIL);
    assert_null(v);
}

static long long ttl_of(rk_client *c, const char *key) {
    long long t = -100;
    RKT_OK(rk_ttl(c, key, &t));
    return t;
}

static void expect_str(const rk_reply *r, const char *want) {
    assert_non_null(r);
    assert_int_equal(rk_reply_type(r), RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(r), want);
}

static void expect_int(const rk_reply *r, long long want) {
    assert_non_null(r);
    assert_int_equal(rk_reply_type(r), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(r), want);
}

/* r is an array of n strings equal to want, in that order. */
static void expect_strings(const rk_reply *r, const char *const *want, size_t n) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, n);
    for (size_t i = 0; i < n; i++)
        expect_str(rk_reply_at(r, i), want[i]);
}

/* r is an array holding exactly the strings in want, in any order. */
static void expect_string_set(const rk_reply *r, const char *const *want, size_t n) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) {
            const rk_reply *e = rk_reply_at(r, j);
            found = rk_reply_type(e) == RK_REPLY_STRING && strcmp(rk_reply_str(e), want[i]) == 0;
        }
        if (!found)
            fail_msg("\"%s\" missing from the reply", want[i]);
    }
}

/* r is a [start, end] range pair of integers. */
static void expect_range(const rk_reply *r, long long start, long long end) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, 2);
    expect_int(rk_reply_at(r, 0), start);
    expect_int(rk_reply_at(r, 1), end);
}

static void rpush(rk_client *c, const char *key, const char *const *elems, size_t n) {
    RKT_OK(rk_rpush(c, key, elems, n, NULL));
}

/* ---- SET ---------------------------------------------------------------- */

static void test_set_replies_ok_status(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_set(c, "k", "v", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    expect_get(c, "k", "v");
    rk_client_free(c);
}

static void test_set_nx_on_existing_key_replies_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "old");
    rk_reply r;
    RKT_NIL(rk_set(c, "k", "new", &(rk_set_opts){.nx = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    expect_get(c, "k", "old");
    rk_client_free(c);
}

/* The return code alone says whether SET NX set the key. */
static void test_set_nx_tells_whether_it_set_without_a_reply(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "first", &(rk_set_opts){.nx = true}, NULL));
    RKT_NIL(rk_set(c, "k", "second", &(rk_set_opts){.nx = true}, NULL));
    expect_get(c, "k", "first");
    rk_client_free(c);
}

static void test_set_nx_on_missing_key_sets_it(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.nx = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    expect_get(c, "k", "v");
    rk_client_free(c);
}

static void test_set_xx_on_missing_key_replies_nil_and_sets_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_set(c, "k", "v", &(rk_set_opts){.xx = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    expect_missing(c, "k");
    rk_client_free(c);
}

static void test_set_get_replies_the_old_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "old");
    rk_reply r;
    RKT_OK(rk_set(c, "k", "new", &(rk_set_opts){.get = true}, &r));
    expect_str(&r, "old");
    rk_reply_free(&r);
    RKT_NIL(rk_set(c, "missing", "x", &(rk_set_opts){.get = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    expect_get(c, "k", "new");
    rk_client_free(c);
}

static void test_set_ex_sets_a_ttl_in_seconds(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 100}, NULL));
    assert_in_range(ttl_of(c, "k"), 50, 100);
    rk_client_free(c);
}

static void test_set_px_sets_a_ttl_in_milliseconds(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.px = 100000}, NULL));
    long long pttl = 0;
    RKT_OK(rk_pttl(c, "k", &pttl));
    assert_in_range(pttl, 50000, 100000);
    rk_client_free(c);
}

static void test_set_exat_sets_that_exact_expire_time(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long at = (long long)time(NULL) + 1000;
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.exat = at}, NULL));
    long long t = 0;
    RKT_OK(rk_expiretime(c, "k", &t));
    assert_int_equal(t, at);
    rk_client_free(c);
}

static void test_set_keepttl_keeps_the_ttl_a_plain_set_drops(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v1", &(rk_set_opts){.ex = 100}, NULL));
    RKT_OK(rk_set(c, "k", "v2", &(rk_set_opts){.keepttl = true}, NULL));
    assert_in_range(ttl_of(c, "k"), 50, 100);
    expect_get(c, "k", "v2");
    RKT_OK(rk_set(c, "k", "v3", NULL, NULL));
    assert_int_equal(ttl_of(c, "k"), -1);
    rk_client_free(c);
}

static void test_set_nx_with_xx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "old");
    long long before = rkt_cmd_calls("set");
    rk_reply r;
    RKT_RC(rk_set(c, "k", "new", &(rk_set_opts){.nx = true, .xx = true}, &r), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NX"));
    assert_int_equal(rkt_cmd_calls("set"), before);
    expect_get(c, "k", "old");
    rk_client_free(c);
}

static void test_set_ex_with_px_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "old");
    long long before = rkt_cmd_calls("set");
    RKT_RC(rk_set(c, "k", "new", &(rk_set_opts){.ex = 10, .px = 10000}, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "EX"));
    assert_int_equal(rkt_cmd_calls("set"), before);
    expect_get(c, "k", "old");
    assert_int_equal(ttl_of(c, "k"), -1);
    rk_client_free(c);
}

/* ---- GET and friends ---------------------------------------------------- */

static void test_get_missing_key_returns_nil_with_null_out(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *v = (char *)"unset";
    size_t len = 99;
    RKT_RC(rk_get(c, "nope", &v, &len), RK_NIL);
    assert_null(v);
    assert_int_equal(len, 0);
    rk_client_free(c);
}

static void test_get_on_a_list_is_wrongtype_eserver(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *e[] = {"a"};
    rpush(c, "l", e, 1);
    char *v = (char *)"unset";
    RKT_RC(rk_get(c, "l", &v, NULL), RK_ESERVER);
    assert_null(v);
    assert_string_equal(rk_error_last()->prefix, "WRONGTYPE");
    rk_client_free(c);
}

static void test_getex_ex_returns_value_and_sets_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_getex(c, "k", &(rk_getex_opts){.ex = 100}, &v, &len));
    assert_string_equal(v, "v");
    assert_int_equal(len, 1);
    rk_free(v);
    assert_in_range(ttl_of(c, "k"), 50, 100);
    rk_client_free(c);
}

static void test_getex_persist_removes_the_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 100}, NULL));
    char *v = NULL;
    RKT_OK(rk_getex(c, "k", &(rk_getex_opts){.persist = true}, &v, NULL));
    assert_string_equal(v, "v");
    rk_free(v);
    assert_int_equal(ttl_of(c, "k"), -1);
    rk_client_free(c);
}

static void test_getdel_returns_value_and_deletes_the_key(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    char *v = NULL;
    RKT_OK(rk_getdel(c, "k", &v, NULL));
    assert_string_equal(v, "v");
    rk_free(v);
    expect_missing(c, "k");
    RKT_RC(rk_getdel(c, "k", &v, NULL), RK_NIL);
    assert_null(v);
    rk_client_free(c);
}

static void test_getset_returns_old_value_or_nil_and_sets(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *v = (char *)"unset";
    RKT_RC(rk_getset(c, "k", "a", &v, NULL), RK_NIL);
    assert_null(v);
    RKT_OK(rk_getset(c, "k", "b", &v, NULL));
    assert_string_equal(v, "a");
    rk_free(v);
    expect_get(c, "k", "b");
    rk_client_free(c);
}

static void test_getrange_takes_inclusive_and_negative_indexes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "Hello World");
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_getrange(c, "k", 0, 4, &v, &len));
    assert_string_equal(v, "Hello");
    assert_int_equal(len, 5);
    rk_free(v);
    RKT_OK(rk_getrange(c, "k", -5, -1, &v, &len));
    assert_string_equal(v, "World");
    rk_free(v);
    RKT_OK(rk_getrange(c, "k", 100, 200, &v, &len));
    assert_string_equal(v, "");
    assert_int_equal(len, 0);
    rk_free(v);
    rk_client_free(c);
}

static void test_setrange_pads_a_missing_key_with_nul_bytes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_OK(rk_setrange(c, "k", 3, "xy", &n));
    assert_int_equal(n, 5);
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_get(c, "k", &v, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(v, "\0\0\0xy", 5);
    rk_free(v);
    rk_client_free(c);
}

static void test_append_returns_the_new_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_OK(rk_append(c, "k", "Hello", &n));
    assert_int_equal(n, 5);
    RKT_OK(rk_append(c, "k", " World", &n));
    assert_int_equal(n, 11);
    expect_get(c, "k", "Hello World");
    rk_client_free(c);
}

static void test_strlen_counts_bytes_and_zero_for_missing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "four");
    long long n = -1;
    RKT_OK(rk_strlen(c, "k", &n));
    assert_int_equal(n, 4);
    RKT_OK(rk_strlen(c, "nope", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

/* ---- multi-key ---------------------------------------------------------- */

static void test_mget_is_an_array_with_nil_for_missing_keys(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "1");
    set_str(c, "c", "3");
    const char *keys[] = {"a", "b", "c"};
    rk_reply r;
    RKT_OK(rk_mget(c, keys, 3, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "1");
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 1)), RK_REPLY_NIL);
    expect_str(rk_reply_at(&r, 2), "3");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_mset_sets_every_pair(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_mset_key_value kv[] = {
        {RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}, {RK_STR("c\0x"), RK_STR("3\0y")}};
    RKT_OK(rk_mset(c, kv, COUNT_OF(kv)));
    expect_get(c, "a", "1");
    expect_get(c, "b", "2");
    rkt_expect_value(c, RK_STR("c\0x"), RK_STR("3\0y"));
    rk_client_free(c);
}

static void test_msetnx_sets_nothing_when_one_key_exists(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    rk_msetnx_key_value first[] = {{RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}};
    RKT_OK(rk_msetnx(c, first, 2, &n));
    assert_int_equal(n, 1);
    rk_msetnx_key_value second[] = {{RK_STR("b"), RK_STR("x")}, {RK_STR("c"), RK_STR("3")}};
    RKT_OK(rk_msetnx(c, second, 2, &n));
    assert_int_equal(n, 0);
    expect_get(c, "b", "2");
    expect_missing(c, "c");
    rk_client_free(c);
}

static void test_setnx_sets_only_a_missing_key(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_setnx(c, "k", "a", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_setnx(c, "k", "b", &n));
    assert_int_equal(n, 0);
    expect_get(c, "k", "a");
    rk_client_free(c);
}

static void test_setex_sets_value_and_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_setex(c, "k", 100, "v"));
    expect_get(c, "k", "v");
    assert_in_range(ttl_of(c, "k"), 50, 100);
    RKT_RC(rk_setex(c, "k", 0, "v"), RK_ESERVER);
    rk_client_free(c);
}

static void test_psetex_sets_value_and_pttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_psetex(c, "k", 100000, "v"));
    expect_get(c, "k", "v");
    long long pttl = 0;
    RKT_OK(rk_pttl(c, "k", &pttl));
    assert_in_range(pttl, 50000, 100000);
    rk_client_free(c);
}

/* ---- counters ----------------------------------------------------------- */

static void test_incr_and_incrby_return_the_new_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_OK(rk_incr(c, "n", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_incrby(c, "n", 41, &n));
    assert_int_equal(n, 42);
    RKT_OK(rk_incrby(c, "n", 5000000000LL, &n));
    assert_true(n == 5000000042LL);
    rk_client_free(c);
}

static void test_decr_and_decrby_go_below_zero(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 0;
    RKT_OK(rk_decr(c, "n", &n));
    assert_true(n == -1);
    RKT_OK(rk_decrby(c, "n", 10, &n));
    assert_true(n == -11);
    expect_get(c, "n", "-11");
    rk_client_free(c);
}

static void test_incr_on_a_non_integer_is_eserver(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "abc");
    long long n = 7;
    RKT_RC(rk_incr(c, "k", &n), RK_ESERVER);
    assert_int_equal(n, 7);
    assert_string_equal(rk_error_last()->prefix, "ERR");
    rk_client_free(c);
}

static void test_incrbyfloat_returns_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "f", "10.5");
    double d = 0;
    RKT_OK(rk_incrbyfloat(c, "f", 0.1, &d));
    assert_true(d == 10.6);
    RKT_OK(rk_incrbyfloat(c, "f", -0.6, &d));
    assert_true(d == 10.0);
    expect_get(c, "f", "10");
    rk_client_free(c);
}

/* ---- LCS ---------------------------------------------------------------- */

static void lcs_setup(rk_client *c) {
    set_str(c, "key1", "ohmytext");
    set_str(c, "key2", "mynewtext");
}

static void test_lcs_plain_replies_the_common_string(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    rk_reply r;
    RKT_OK(rk_lcs(c, "key1", "key2", NULL, &r));
    expect_str(&r, "mytext");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lcs_len_replies_an_integer(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    rk_reply r;
    RKT_OK(rk_lcs(c, "key1", "key2", &(rk_lcs_opts){.len = true}, &r));
    expect_int(&r, 6);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lcs_idx_is_a_map_on_both_protocols(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    rk_reply r;
    RKT_OK(rk_lcs(c, "key1", "key2", &(rk_lcs_opts){.idx = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    expect_int(rkt_map_expect(&r, "len", NULL), 6);
    const rk_reply *m = rkt_map_expect(&r, "matches", NULL);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    rkt_expect_shape(rk_reply_at(m, 0), RK_REPLY_ARRAY, 2);
    expect_range(rk_reply_at(rk_reply_at(m, 0), 0), 4, 7);
    expect_range(rk_reply_at(rk_reply_at(m, 0), 1), 5, 8);
    expect_range(rk_reply_at(rk_reply_at(m, 1), 0), 2, 3);
    expect_range(rk_reply_at(rk_reply_at(m, 1), 1), 0, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lcs_idx_minmatchlen_withmatchlen_filters_and_adds_lengths(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    rk_reply r;
    RKT_OK(rk_lcs(c, "key1", "key2",
                  &(rk_lcs_opts){.idx = true, .minmatchlen = 4, .withmatchlen = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    const rk_reply *m = rkt_map_expect(&r, "matches", NULL);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 1);
    const rk_reply *match = rk_reply_at(m, 0);
    rkt_expect_shape(match, RK_REPLY_ARRAY, 3);
    expect_range(rk_reply_at(match, 0), 4, 7);
    expect_range(rk_reply_at(match, 1), 5, 8);
    expect_int(rk_reply_at(match, 2), 4);
    expect_int(rkt_map_expect(&r, "len", NULL), 6);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lcs_len_with_idx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    long long before = rkt_cmd_calls("lcs");
    rk_reply r;
    RKT_RC(rk_lcs(c, "key1", "key2", &(rk_lcs_opts){.len = true, .idx = true}, &r), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_non_null(strstr(rk_error_last()->message, "LEN"));
    assert_int_equal(rkt_cmd_calls("lcs"), before);
    rk_client_free(c);
}

/* ---- binary safety ------------------------------------------------------ */

static void test_builders_keep_nul_bytes_in_keys_and_values(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_str key = RK_STR("k\0ey"), val = RK_STR("a\0b\0c");
    rk_command cmd;
    RKT_OK(rk_client_run(c, rk_cmd_set(&cmd, key, val, NULL), NULL));
    rkt_expect_value(c, key, val);
    rk_reply r;
    RKT_OK(rk_client_run(c, rk_cmd_strlen(&cmd, key), &r));
    assert_int_equal(rk_reply_int(&r), 5);
    expect_missing(c, "k"); /* the key was not cut at its NUL */
    rk_client_free(c);
}

/* ---- bitmaps ------------------------------------------------------------ */

static void test_setbit_returns_old_bit_and_getbit_reads_it(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long old = -1, bit = -1;
    RKT_OK(rk_setbit(c, "b", 7, 1, &old));
    assert_int_equal(old, 0);
    RKT_OK(rk_setbit(c, "b", 7, 0, &old));
    assert_int_equal(old, 1);
    RKT_OK(rk_setbit(c, "b", 100, 1, NULL));
    RKT_OK(rk_getbit(c, "b", 100, &bit));
    assert_int_equal(bit, 1);
    RKT_OK(rk_getbit(c, "b", 7, &bit));
    assert_int_equal(bit, 0);
    RKT_OK(rk_getbit(c, "b", 100000, &bit));
    assert_int_equal(bit, 0);
    rk_client_free(c);
}

static void test_bitcount_counts_whole_string_and_byte_ranges(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "foobar");
    long long n = 0;
    RKT_OK(rk_bitcount(c, "k", NULL, &n));
    assert_int_equal(n, 26);
    RKT_OK(rk_bitcount(
        c, "k", &(rk_bitcount_opts){.index = &(rk_bitcount_index){.start = 0, .end = 0}}, &n));
    assert_int_equal(n, 4);
    RKT_OK(rk_bitcount(c, "k",
                       &(rk_bitcount_opts){.index = &(rk_bitcount_index){1, 1, .byte = true}}, &n));
    assert_int_equal(n, 6);
    rk_client_free(c);
}

static void test_bitcount_bit_range_counts_bits(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "foobar");
    long long n = 0;
    RKT_OK(rk_bitcount(c, "k",
                       &(rk_bitcount_opts){.index = &(rk_bitcount_index){5, 30, .bit = true}}, &n));
    assert_int_equal(n, 17);
    rk_client_free(c);
}

static void test_bitcount_byte_with_bit_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = 99;
    RKT_RC(rk_bitcount(
               c, "k",
               &(rk_bitcount_opts){.index = &(rk_bitcount_index){0, 1, .byte = true, .bit = true}},
               &n),
           RK_EINVAL);
    assert_int_equal(n, 99);
    rk_client_free(c);
}

static void test_bitpos_finds_the_first_bit_within_a_range(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_bin(c, RK_STR("k"), RK_STR("\x00\xff\xf0"));
    long long pos = 0;
    RKT_OK(rk_bitpos(c, "k", 1, NULL, &pos));
    assert_int_equal(pos, 8);
    RKT_OK(rk_bitpos(c, "k", 1, &(rk_bitpos_opts){.index = &(rk_bitpos_index){.start = 2}}, &pos));
    assert_int_equal(pos, 16);
    RKT_OK(rk_bitpos(
        c, "k", 0,
        &(rk_bitpos_opts){.index = &(rk_bitpos_index){1, &(rk_bitpos_end_index){-1, .byte = true}}},
        &pos));
    assert_int_equal(pos, 20);
    RKT_OK(rk_bitpos(
        c, "k", 1,
        &(rk_bitpos_opts){.index = &(rk_bitpos_index){2, &(rk_bitpos_end_index){7, .bit = true}}},
        &pos));
    assert_true(pos == -1);
    RKT_OK(rk_bitpos(
        c, "k", 1,
        &(rk_bitpos_opts){.index = &(rk_bitpos_index){7, &(rk_bitpos_end_index){9, .bit = true}}},
        &pos));
    assert_int_equal(pos, 8);
    rk_client_free(c);
}

static void test_bitop_and_stores_the_result_and_returns_its_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_bin(c, RK_STR("a"), RK_STR("\xff\x0f"));
    set_bin(c, RK_STR("b"), RK_STR("\x3c\xff\x01"));
    const char *keys[] = {"a", "b"};
    long long n = 0;
    RKT_OK(rk_bitop(c, RK_BITOP_AND, "dest", keys, 2, &n));
    assert_int_equal(n, 3);
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_get(c, "dest", &v, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(v, "\x3c\x0f\x00", 3);
    rk_free(v);
    RKT_OK(rk_bitop(c, RK_BITOP_NOT, "dest", keys, 1, &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_get(c, "dest", &v, &len));
    assert_memory_equal(v, "\x00\xf0", 2);
    rk_free(v);
    rk_client_free(c);
}

static void test_bitfield_set_get_incrby_reply_an_array_of_integers(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_bitfield_operation ops[] = {
        {.write = &(rk_bitfield_write){.set = &(rk_bitfield_set){RK_STR("u8"), 0, 255}}},
        {.get = &(rk_bitfield_get){RK_STR("u8"), 0}},
        {.write = &(rk_bitfield_write){.incrby = &(rk_bitfield_incrby){RK_STR("u8"), 0, 10}}},
        {.get = &(rk_bitfield_get){RK_STR("u4"), 0}},
    };
    rk_reply r;
    RKT_OK(rk_bitfield(c, "bf", ops, COUNT_OF(ops), &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 4);
    expect_int(rk_reply_at(&r, 0), 0);
    expect_int(rk_reply_at(&r, 1), 255);
    expect_int(rk_reply_at(&r, 2), 9); /* wraps by default */
    expect_int(rk_reply_at(&r, 3), 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bitfield_overflow_fail_gives_a_nil_element(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_bitfield_incrby add10 = {RK_STR("u8"), 0, 10};
    const rk_bitfield_operation ops[] = {
        {.write = &(rk_bitfield_write){.set = &(rk_bitfield_set){RK_STR("u8"), 0, 250}}},
        {.write = &(rk_bitfield_write){.overflow = RK_BITFIELD_OVERFLOW_FAIL, .incrby = &add10}},
        {.write = &(rk_bitfield_write){.overflow = RK_BITFIELD_OVERFLOW_SAT, .incrby = &add10}},
    };
    rk_reply r;
    RKT_OK(rk_bitfield(c, "bf", ops, COUNT_OF(ops), &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_int(rk_reply_at(&r, 0), 0);
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 1)), RK_REPLY_NIL);
    expect_int(rk_reply_at(&r, 2), 255);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bitfield_ro_get_reads_fields(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_bin(c, RK_STR("bf"), RK_STR("\xff\x01"));
    rk_bitfield_ro_get gets[] = {{RK_STR("u8"), 0}, {RK_STR("u8"), 8}, {RK_STR("i4"), 0}};
    rk_reply r;
    RKT_OK(rk_bitfield_ro(c, "bf", &(rk_bitfield_ro_opts){.gets = gets, .ngets = 3}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_int(rk_reply_at(&r, 0), 255);
    expect_int(rk_reply_at(&r, 1), 1);
    expect_int(rk_reply_at(&r, 2), -1);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- HyperLogLog -------------------------------------------------------- */

static void test_pfadd_reports_whether_the_estimate_changed(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *e[] = {"a", "b", "c"};
    long long n = -1;
    RKT_OK(rk_pfadd(c, "h", e, 3, &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_pfadd(c, "h", e, 2, &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_pfadd(c, "empty", NULL, 0, &n)); /* creates the key */
    assert_int_equal(n, 1);
    rk_client_free(c);
}

static void test_pfcount_counts_the_union_of_keys(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *e1[] = {"a", "b", "c"}, *e2[] = {"c", "d"};
    RKT_OK(rk_pfadd(c, "h1", e1, 3, NULL));
    RKT_OK(rk_pfadd(c, "h2", e2, 2, NULL));
    const char *k1[] = {"h1"}, *both[] = {"h1", "h2"};
    long long n = 0;
    RKT_OK(rk_pfcount(c, k1, 1, &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_pfcount(c, both, 2, &n));
    assert_int_equal(n, 4);
    rk_client_free(c);
}

static void test_pfmerge_merges_sources_into_destkey(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *e1[] = {"a", "b"}, *e2[] = {"b", "c", "d"};
    RKT_OK(rk_pfadd(c, "h1", e1, 2, NULL));
    RKT_OK(rk_pfadd(c, "h2", e2, 3, NULL));
    const char *src[] = {"h1", "h2"};
    RKT_OK(rk_pfmerge(c, "dst", src, 2));
    const char *dst[] = {"dst"};
    long long n = 0;
    RKT_OK(rk_pfcount(c, dst, 1, &n));
    assert_int_equal(n, 4);
    rk_client_free(c);
}

/* ---- keys --------------------------------------------------------------- */

static void test_del_and_unlink_count_the_keys_removed(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "1");
    set_str(c, "b", "2");
    set_str(c, "c", "3");
    const char *k1[] = {"a", "b", "nope"}, *k2[] = {"b", "c"};
    long long n = -1;
    RKT_OK(rk_del(c, k1, 3, &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_unlink(c, k2, 2, &n));
    assert_int_equal(n, 1);
    expect_missing(c, "c");
    rk_client_free(c);
}

static void test_exists_counts_each_named_key_even_repeated(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "1");
    const char *keys[] = {"a", "a", "nope"};
    long long n = -1;
    RKT_OK(rk_exists(c, keys, 3, &n));
    assert_int_equal(n, 2);
    rk_client_free(c);
}

static void test_expire_nx_sets_only_when_there_is_no_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    long long n = -1;
    RKT_OK(rk_expire(c, "k", 100, &(rk_expire_opts){.nx = true}, &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_expire(c, "k", 1000, &(rk_expire_opts){.nx = true}, &n));
    assert_int_equal(n, 0);
    assert_in_range(ttl_of(c, "k"), 50, 100);
    rk_client_free(c);
}

static void test_expire_xx_sets_only_when_there_is_a_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    long long n = -1;
    RKT_OK(rk_expire(c, "k", 100, &(rk_expire_opts){.xx = true}, &n));
    assert_int_equal(n, 0);
    assert_int_equal(ttl_of(c, "k"), -1);
    RKT_OK(rk_expire(c, "k", 100, NULL, &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_expire(c, "k", 1000, &(rk_expire_opts){.xx = true}, &n));
    assert_int_equal(n, 1);
    assert_in_range(ttl_of(c, "k"), 900, 1000);
    rk_client_free(c);
}

static void test_expire_gt_only_lengthens_the_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 500}, NULL));
    long long n = -1;
    RKT_OK(rk_expire(c, "k", 100, &(rk_expire_opts){.gt = true}, &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_expire(c, "k", 1000, &(rk_expire_opts){.gt = true}, &n));
    assert_int_equal(n, 1);
    assert_in_range(ttl_of(c, "k"), 900, 1000);
    rk_client_free(c);
}

static void test_expire_lt_only_shortens_the_ttl(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 500}, NULL));
    long long n = -1;
    RKT_OK(rk_expire(c, "k", 1000, &(rk_expire_opts){.lt = true}, &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_expire(c, "k", 100, &(rk_expire_opts){.lt = true}, &n));
    assert_int_equal(n, 1);
    assert_in_range(ttl_of(c, "k"), 50, 100);
    rk_client_free(c);
}

static void test_expire_nx_with_xx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    long long before = rkt_cmd_calls("expire");
    RKT_RC(rk_expire(c, "k", 100, &(rk_expire_opts){.nx = true, .xx = true}, NULL), RK_EINVAL);
    assert_int_equal(rkt_cmd_calls("expire"), before);
    assert_int_equal(ttl_of(c, "k"), -1);
    rk_client_free(c);
}

/* The server takes XX with GT or LT (only NX is exclusive, and GT with LT). */
static void test_expire_xx_with_gt_is_accepted(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 100}, NULL));
    long long n = -1;
    RKT_OK(rk_expire(c, "k", 1000, &(rk_expire_opts){.xx = true, .gt = true}, &n));
    assert_int_equal(n, 1);
    rk_client_free(c);
}

static void test_ttl_and_pttl_say_minus_two_missing_minus_one_persistent(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    long long t = 0;
    RKT_OK(rk_ttl(c, "nope", &t));
    assert_true(t == -2);
    RKT_OK(rk_pttl(c, "nope", &t));
    assert_true(t == -2);
    RKT_OK(rk_ttl(c, "k", &t));
    assert_true(t == -1);
    RKT_OK(rk_pttl(c, "k", &t));
    assert_true(t == -1);
    rk_client_free(c);
}

static void test_expiretime_reports_the_expireat_timestamp(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "v");
    long long t = 0, n = 0;
    RKT_OK(rk_expiretime(c, "k", &t));
    assert_true(t == -1);
    RKT_OK(rk_expiretime(c, "nope", &t));
    assert_true(t == -2);
    long long at = (long long)time(NULL) + 5000;
    RKT_OK(rk_expireat(c, "k", at, NULL, &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_expiretime(c, "k", &t));
    assert_int_equal(t, at);
    RKT_OK(rk_pexpiretime(c, "k", &t));
    assert_true(t == at * 1000);
    rk_client_free(c);
}

static void test_persist_removes_a_ttl_once(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_set(c, "k", "v", &(rk_set_opts){.ex = 100}, NULL));
    long long n = -1;
    RKT_OK(rk_persist(c, "k", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_persist(c, "k", &n));
    assert_int_equal(n, 0);
    assert_int_equal(ttl_of(c, "k"), -1);
    rk_client_free(c);
}

static void test_key_type_names_the_kind_of_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "s", "v");
    const char *e[] = {"a"};
    rpush(c, "l", e, 1);
    char *t = NULL;
    size_t len = 0;
    RKT_OK(rk_key_type(c, "s", &t, &len));
    assert_string_equal(t, "string");
    assert_int_equal(len, 6);
    rk_free(t);
    RKT_OK(rk_key_type(c, "l", &t, NULL));
    assert_string_equal(t, "list");
    rk_free(t);
    RKT_OK(rk_key_type(c, "nope", &t, NULL));
    assert_string_equal(t, "none");
    rk_free(t);
    rk_client_free(c);
}

static void test_rename_moves_the_value_to_the_new_name(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "v");
    set_str(c, "b", "old");
    RKT_OK(rk_rename(c, "a", "b"));
    expect_missing(c, "a");
    expect_get(c, "b", "v");
    rk_client_free(c);
}

static void test_rename_of_a_missing_key_is_eserver(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_RC(rk_rename(c, "nope", "b"), RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, "no such key"));
    rk_client_free(c);
}

static void test_renamenx_refuses_an_existing_target(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "1");
    set_str(c, "b", "2");
    long long n = -1;
    RKT_OK(rk_renamenx(c, "a", "b", &n));
    assert_int_equal(n, 0);
    expect_get(c, "b", "2");
    RKT_OK(rk_renamenx(c, "a", "c", &n));
    assert_int_equal(n, 1);
    expect_get(c, "c", "1");
    rk_client_free(c);
}

static void test_copy_refuses_an_existing_destination_without_replace(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "src", "new");
    set_str(c, "dst", "old");
    long long n = -1;
    RKT_OK(rk_copy(c, "src", "dst", NULL, &n));
    assert_int_equal(n, 0);
    expect_get(c, "dst", "old");
    RKT_OK(rk_copy(c, "src", "other", NULL, &n));
    assert_int_equal(n, 1);
    expect_get(c, "other", "new");
    expect_get(c, "src", "new");
    rk_client_free(c);
}

static void test_copy_replace_overwrites_the_destination(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "src", "new");
    set_str(c, "dst", "old");
    long long n = -1;
    RKT_OK(rk_copy(c, "src", "dst", &(rk_copy_opts){.replace = true}, &n));
    assert_int_equal(n, 1);
    expect_get(c, "dst", "new");
    rk_client_free(c);
}

static void test_copy_db_copies_into_another_database(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_client *c1 = client_db(state, 1);
    set_str(c, "src", "v");
    long long n = -1;
    RKT_OK(rk_copy(c, "src", "dst", &(rk_copy_opts){.db = 1}, &n));
    assert_int_equal(n, 1);
    expect_get(c1, "dst", "v");
    expect_missing(c, "dst");
    /* .db_set sends DB 0 */
    set_str(c1, "back", "w");
    RKT_OK(rk_copy(c1, "back", "back", &(rk_copy_opts){.db = 0, .db_set = true}, &n));
    assert_int_equal(n, 1);
    expect_get(c, "back", "w");
    rk_client_free(c1);
    rk_client_free(c);
}

static void test_move_moves_a_key_to_another_database(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_client *c1 = client_db(state, 1);
    set_str(c, "k", "v");
    long long n = -1;
    RKT_OK(rk_move(c, "k", 1, &n));
    assert_int_equal(n, 1);
    expect_missing(c, "k");
    expect_get(c1, "k", "v");
    set_str(c, "k", "again");
    RKT_OK(rk_move(c, "k", 1, &n));
    assert_int_equal(n, 0); /* already there */
    expect_get(c, "k", "again");
    rk_client_free(c1);
    rk_client_free(c);
}

static void test_keys_returns_the_matching_names(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "user:1", "a");
    set_str(c, "user:2", "b");
    set_str(c, "other", "c");
    rk_reply r;
    RKT_OK(rk_keys(c, "user:*", &r));
    const char *want[] = {"user:1", "user:2"};
    expect_string_set(&r, want, 2);
    rk_reply_free(&r);
    RKT_OK(rk_keys(c, "none:*", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_scan_one_step_replies_cursor_and_filtered_keys(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "user:1", "a");
    set_str(c, "user:2", "b");
    set_str(c, "other", "c");
    const char *e[] = {"x"};
    rpush(c, "user:list", e, 1);
    rk_reply r;
    RKT_OK(rk_scan(
        c, 0, &(rk_scan_opts){.match = RK_STR("user:*"), .count = 1000, .type = RK_STR("string")},
        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "0");
    const char *want[] = {"user:1", "user:2"};
    expect_string_set(rk_reply_at(&r, 1), want, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_randomkey_on_an_empty_db_returns_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *k = (char *)"unset";
    size_t len = 99;
    RKT_RC(rk_randomkey(c, &k, &len), RK_NIL);
    assert_null(k);
    assert_int_equal(len, 0);
    rk_client_free(c);
}

static void test_randomkey_returns_the_only_key(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "only", "v");
    char *k = NULL;
    RKT_OK(rk_randomkey(c, &k, NULL));
    assert_string_equal(k, "only");
    rk_free(k);
    rk_client_free(c);
}

static void test_touch_counts_the_existing_keys(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "a", "1");
    set_str(c, "b", "2");
    const char *keys[] = {"a", "b", "nope"};
    long long n = -1;
    RKT_OK(rk_touch(c, keys, 3, &n));
    assert_int_equal(n, 2);
    rk_client_free(c);
}

static void test_dump_then_restore_bin_recreates_the_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_bin(c, RK_STR("src"), RK_STR("v\0w"));
    rk_command cmd;
    char *payload = NULL;
    size_t len = 0;
    RKT_OK(rk_dump(c, "src", &payload, &len));
    assert_non_null(payload);
    assert_true(len > 3);
    assert_non_null(memchr(payload, '\0', len)); /* binary: holds NUL bytes */
    RKT_OK(
        rk_client_run(c, rk_cmd_restore(&cmd, RK_STR("dst"), 0, rk_bin(payload, len), NULL), NULL));
    char *v = NULL;
    size_t vlen = 0;
    RKT_OK(rk_get(c, "dst", &v, &vlen));
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "v\0w", 3);
    rk_free(v);
    assert_int_equal(ttl_of(c, "dst"), -1);
    /* restoring over an existing key needs REPLACE */
    RKT_RC(
        rk_client_run(c, rk_cmd_restore(&cmd, RK_STR("dst"), 0, rk_bin(payload, len), NULL), NULL),
        RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "BUSYKEY");
    RKT_OK(rk_client_run(c,
                         rk_cmd_restore(&cmd, RK_STR("dst"), 100000, rk_bin(payload, len),
                                        &(rk_restore_opts){.replace = true}),
                         NULL));
    assert_in_range(ttl_of(c, "dst"), 50, 100);
    rk_free(payload);
    rk_client_free(c);
}

static void test_dump_of_a_missing_key_returns_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *payload = (char *)"unset";
    RKT_RC(rk_dump(c, "nope", &payload, NULL), RK_NIL);
    assert_null(payload);
    rk_client_free(c);
}

static void test_object_encoding_names_int_embstr_and_raw(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "i", "12345");
    set_str(c, "e", "hello");
    char big[100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    set_str(c, "r", big);
    char *enc = NULL;
    RKT_OK(rk_objectencoding(c, "i", &enc, NULL));
    assert_string_equal(enc, "int");
    rk_free(enc);
    RKT_OK(rk_objectencoding(c, "e", &enc, NULL));
    assert_string_equal(enc, "embstr");
    rk_free(enc);
    RKT_OK(rk_objectencoding(c, "r", &enc, NULL));
    assert_string_equal(enc, "raw");
    rk_free(enc);
    RKT_RC(rk_objectencoding(c, "nope", &enc, NULL), RK_NIL);
    assert_null(enc);
    rk_client_free(c);
}

/* ---- SORT --------------------------------------------------------------- */

static void sort_setup(rk_client *c) {
    const char *e[] = {"3", "1", "2"};
    rpush(c, "l", e, 3);
}

static void test_sort_orders_numbers_ascending_and_descending(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sort_setup(c);
    rk_reply r;
    RKT_OK(rk_sort(c, "l", NULL, &r));
    const char *asc[] = {"1", "2", "3"};
    expect_strings(&r, asc, 3);
    rk_reply_free(&r);
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.desc = true}, &r));
    const char *desc[] = {"3", "2", "1"};
    expect_strings(&r, desc, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sort_alpha_orders_strings(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *e[] = {"pear", "apple", "fig"};
    rpush(c, "l", e, 3);
    rk_reply r;
    RKT_RC(rk_sort(c, "l", NULL, &r), RK_ESERVER); /* not numbers */
    rk_reply_free(&r);
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.alpha = true}, &r));
    const char *want[] = {"apple", "fig", "pear"};
    expect_strings(&r, want, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sort_by_pattern_with_get_list(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sort_setup(c);
    set_str(c, "w_1", "30");
    set_str(c, "w_2", "10");
    set_str(c, "w_3", "20");
    set_str(c, "name_1", "one");
    set_str(c, "name_2", "two");
    set_str(c, "name_3", "three");
    const rk_str get[] = {RK_STR("#"), RK_STR("name_*")};
    rk_reply r;
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.by = RK_STR("w_*"), .get = get, .nget = 2}, &r));
    const char *want[] = {"2", "two", "3", "three", "1", "one"};
    expect_strings(&r, want, 6);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sort_limit_returns_a_window(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sort_setup(c);
    rk_reply r;
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.limit = &(rk_sort_limit){1, 2}}, &r));
    const char *want[] = {"2", "3"};
    expect_strings(&r, want, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sort_store_replies_the_count_and_stores_a_list(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sort_setup(c);
    rk_reply r;
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.desc = true, .store = RK_STR("out")}, &r));
    expect_int(&r, 3);
    rk_reply_free(&r);
    RKT_OK(rk_lrange(c, "out", 0, -1, &r));
    const char *want[] = {"3", "2", "1"};
    expect_strings(&r, want, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Strings in options carry a length too: a STORE key with a NUL byte. */
static void test_sort_store_to_a_binary_key(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const char *elems[] = {"2", "1"};
    rpush(c, "l", elems, 2);
    rk_reply r;
    RKT_OK(rk_sort(c, "l", &(rk_sort_opts){.store = RK_STR("o\0ut")}, &r));
    assert_int_equal(rk_reply_int(&r), 2);
    rk_reply_free(&r);
    long long n = -1;
    rk_command cmd;
    RKT_OK(rk_client_run(c, rk_cmd_exists(&cmd, (const rk_str[]){RK_STR("o\0ut")}, 1), &r));
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    RKT_OK(rk_exists(c, (const char *[]){"o"}, 1, &n)); /* not cut at the NUL */
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_sort_asc_with_desc_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sort_setup(c);
    long long before = rkt_cmd_calls("sort");
    rk_reply r;
    RKT_RC(rk_sort(c, "l", &(rk_sort_opts){.asc = true, .desc = true}, &r), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rkt_cmd_calls("sort"), before);
    rk_client_free(c);
}

/* ---- pipelines ---------------------------------------------------------- */

static void test_pipeline_typed_calls_give_the_same_shapes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    lcs_setup(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("v"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("f"), RK_STR("1"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_incrbyfloat(&cmd, RK_STR("f"), 0.5)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_get(&cmd, RK_STR("k"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_get(&cmd, RK_STR("nope"))));
    RKT_OK(rk_pipeline_add(
        p, rk_cmd_lcs(&cmd, RK_STR("key1"), RK_STR("key2"), &(rk_lcs_opts){.idx = true})));
    RKT_OK(rk_pipeline_add(p, rk_cmd_incr(&cmd, RK_STR("n"))));
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_replies(p), 7);
    const rk_reply *r = rk_pipeline_reply(p, 0);
    assert_int_equal(rk_reply_type(r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(r), "OK");
    r = rk_pipeline_reply(p, 2);
    assert_int_equal(rk_reply_type(r), RK_REPLY_DOUBLE);
    assert_true(rk_reply_double(r) == 1.5);
    expect_str(rk_pipeline_reply(p, 3), "v");
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 4)), RK_REPLY_NIL);
    r = rk_pipeline_reply(p, 5);
    rkt_expect_shape(r, RK_REPLY_MAP, 2);
    expect_int(rkt_map_expect(r, "len", NULL), 6);
    expect_int(rk_pipeline_reply(p, 6), 1);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(rk_pipeline_status(p, i), RK_OK);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* In a pipeline a nil answer is a nil reply with status RK_OK. */
static void test_pipeline_set_nx_not_set_is_nil_reply_with_status_ok(void **state) {
    rk_client *c = rkt_cmd_client(state);
    set_str(c, "k", "old");
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(
        p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("new"), &(rk_set_opts){.nx = true})));
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_status(p, 0), RK_OK);
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 0)), RK_REPLY_NIL);
    rk_pipeline_free(p);
    expect_get(c, "k", "old");
    rk_client_free(c);
}

static void test_pipeline_refused_typed_call_queues_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("v"), NULL)));
    RKT_RC(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("w"),
                                         &(rk_set_opts){.nx = true, .xx = true})),
           RK_EINVAL);
    RKT_RC(rk_pipeline_add(p, rk_cmd_incrbyfloat(&cmd, RK_STR("f"), NAN)), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 1);
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_replies(p), 1);
    rk_pipeline_free(p);
    expect_get(c, "k", "v");
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_set_replies_ok_status),
        RKT_BOTH(test_set_nx_on_existing_key_replies_nil),
        RKT_BOTH(test_set_nx_tells_whether_it_set_without_a_reply),
        RKT_BOTH(test_set_nx_on_missing_key_sets_it),
        RKT_BOTH(test_set_xx_on_missing_key_replies_nil_and_sets_nothing),
        RKT_BOTH(test_set_get_replies_the_old_value),
        RKT_BOTH(test_set_ex_sets_a_ttl_in_seconds),
        RKT_BOTH(test_set_px_sets_a_ttl_in_milliseconds),
        RKT_BOTH(test_set_exat_sets_that_exact_expire_time),
        RKT_BOTH(test_set_keepttl_keeps_the_ttl_a_plain_set_drops),
        RKT_BOTH(test_set_nx_with_xx_is_einval_and_sends_nothing),
        RKT_BOTH(test_set_ex_with_px_is_einval_and_sends_nothing),
        RKT_BOTH(test_get_missing_key_returns_nil_with_null_out),
        RKT_BOTH(test_get_on_a_list_is_wrongtype_eserver),
        RKT_BOTH(test_getex_ex_returns_value_and_sets_ttl),
        RKT_BOTH(test_getex_persist_removes_the_ttl),
        RKT_BOTH(test_getdel_returns_value_and_deletes_the_key),
        RKT_BOTH(test_getset_returns_old_value_or_nil_and_sets),
        RKT_BOTH(test_getrange_takes_inclusive_and_negative_indexes),
        RKT_BOTH(test_setrange_pads_a_missing_key_with_nul_bytes),
        RKT_BOTH(test_append_returns_the_new_length),
        RKT_BOTH(test_strlen_counts_bytes_and_zero_for_missing),
        RKT_BOTH(test_mget_is_an_array_with_nil_for_missing_keys),
        RKT_BOTH(test_mset_sets_every_pair),
        RKT_BOTH(test_msetnx_sets_nothing_when_one_key_exists),
        RKT_BOTH(test_setnx_sets_only_a_missing_key),
        RKT_BOTH(test_setex_sets_value_and_ttl),
        RKT_BOTH(test_psetex_sets_value_and_pttl),
        RKT_BOTH(test_incr_and_incrby_return_the_new_value),
        RKT_BOTH(test_decr_and_decrby_go_below_zero),
        RKT_BOTH(test_incr_on_a_non_integer_is_eserver),
        RKT_BOTH(test_incrbyfloat_returns_a_double),
        RKT_BOTH(test_lcs_plain_replies_the_common_string),
        RKT_BOTH(test_lcs_len_replies_an_integer),
        RKT_BOTH(test_lcs_idx_is_a_map_on_both_protocols),
        RKT_BOTH(test_lcs_idx_minmatchlen_withmatchlen_filters_and_adds_lengths),
        RKT_BOTH(test_lcs_len_with_idx_is_einval_and_sends_nothing),
        RKT_BOTH(test_builders_keep_nul_bytes_in_keys_and_values),
        RKT_BOTH(test_setbit_returns_old_bit_and_getbit_reads_it),
        RKT_BOTH(test_bitcount_counts_whole_string_and_byte_ranges),
        RKT_BOTH(test_bitcount_bit_range_counts_bits),
        RKT_BOTH(test_bitcount_byte_with_bit_is_einval),
        RKT_BOTH(test_bitpos_finds_the_first_bit_within_a_range),
        RKT_BOTH(test_bitop_and_stores_the_result_and_returns_its_length),
        RKT_BOTH(test_bitfield_set_get_incrby_reply_an_array_of_integers),
        RKT_BOTH(test_bitfield_overflow_fail_gives_a_nil_element),
        RKT_BOTH(test_bitfield_ro_get_reads_fields),
        RKT_BOTH(test_pfadd_reports_whether_the_estimate_changed),
        RKT_BOTH(test_pfcount_counts_the_union_of_keys),
        RKT_BOTH(test_pfmerge_merges_sources_into_destkey),
        RKT_BOTH(test_del_and_unlink_count_the_keys_removed),
        RKT_BOTH(test_exists_counts_each_named_key_even_repeated),
        RKT_BOTH(test_expire_nx_sets_only_when_there_is_no_ttl),
        RKT_BOTH(test_expire_xx_sets_only_when_there_is_a_ttl),
        RKT_BOTH(test_expire_gt_only_lengthens_the_ttl),
        RKT_BOTH(test_expire_lt_only_shortens_the_ttl),
        RKT_BOTH(test_expire_nx_with_xx_is_einval_and_sends_nothing),
        RKT_BOTH(test_expire_xx_with_gt_is_accepted),
        RKT_BOTH(test_ttl_and_pttl_say_minus_two_missing_minus_one_persistent),
        RKT_BOTH(test_expiretime_reports_the_expireat_timestamp),
        RKT_BOTH(test_persist_removes_a_ttl_once),
        RKT_BOTH(test_key_type_names_the_kind_of_value),
        RKT_BOTH(test_rename_moves_the_value_to_the_new_name),
        RKT_BOTH(test_rename_of_a_missing_key_is_eserver),
        RKT_BOTH(test_renamenx_refuses_an_existing_target),
        RKT_BOTH(test_copy_refuses_an_existing_destination_without_replace),
        RKT_BOTH(test_copy_replace_overwrites_the_destination),
        RKT_BOTH(test_copy_db_copies_into_another_database),
        RKT_BOTH(test_move_moves_a_key_to_another_database),
        RKT_BOTH(test_keys_returns_the_matching_names),
        RKT_BOTH(test_scan_one_step_replies_cursor_and_filtered_keys),
        RKT_BOTH(test_randomkey_on_an_empty_db_returns_nil),
        RKT_BOTH(test_randomkey_returns_the_only_key),
        RKT_BOTH(test_touch_counts_the_existing_keys),
        RKT_BOTH(test_dump_then_restore_bin_recreates_the_value),
        RKT_BOTH(test_dump_of_a_missing_key_returns_nil),
        RKT_BOTH(test_object_encoding_names_int_embstr_and_raw),
        RKT_BOTH(test_sort_orders_numbers_ascending_and_descending),
        RKT_BOTH(test_sort_alpha_orders_strings),
        RKT_BOTH(test_sort_by_pattern_with_get_list),
        RKT_BOTH(test_sort_limit_returns_a_window),
        RKT_BOTH(test_sort_store_replies_the_count_and_stores_a_list),
        RKT_BOTH(test_sort_store_to_a_binary_key),
        RKT_BOTH(test_sort_asc_with_desc_is_einval),
        RKT_BOTH(test_pipeline_typed_calls_give_the_same_shapes),
        RKT_BOTH(test_pipeline_set_nx_not_set_is_nil_reply_with_status_ok),
        RKT_BOTH(test_pipeline_refused_typed_call_queues_nothing),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
