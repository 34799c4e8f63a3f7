/* Typed commands of the list, set and hash groups against a real
 * redis-server, on RESP2 and RESP3: arguments, typed outputs, nil, and the
 * one reply shape the library promises whichever protocol is spoken. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rkt_cmd.h"

/* An array literal of C strings and its length, as two arguments. */
#define STRS(...)                                                                                  \
    (const char *const[]){__VA_ARGS__},                                                            \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* ---- helpers ------------------------------------------------------------ */

static void expect_str(const rk_reply *r, const char *want) {
    assert_non_null(r);
    if (rk_reply_type(r) != RK_REPLY_STRING)
        fail_msg("expected a string \"%s\", got a %s", want, rk_type_name(rk_reply_type(r)));
    assert_string_equal(rk_reply_str(r), want);
}

/* An array of exactly these strings, in order (NULL-terminated list). */
static void expect_strings(const rk_reply *r, ...) {
    va_list ap;
    size_t n = 0;
    va_start(ap, r);
    while (va_arg(ap, const char *) != NULL)
        n++;
    va_end(ap);
    rkt_expect_shape(r, RK_REPLY_ARRAY, n);
    va_start(ap, r);
    for (size_t i = 0; i < n; i++)
        expect_str(rk_reply_at(r, i), va_arg(ap, const char *));
    va_end(ap);
}

/* Whether an array or set holds the string s. */
static bool holds(const rk_reply *r, const char *s) {
    for (size_t i = 0; i < rk_reply_len(r); i++) {
        const char *e = rk_reply_str(rk_reply_at(r, i));
        if (e != NULL && strcmp(e, s) == 0)
            return true;
    }
    return false;
}

static void expect_int(const rk_reply *r, long long want) {
    assert_non_null(r);
    if (rk_reply_type(r) != RK_REPLY_INTEGER)
        fail_msg("expected an integer, got a %s", rk_type_name(rk_reply_type(r)));
    assert_int_equal(rk_reply_int(r), want);
}

static void rpush(rk_client *c, const char *key, const char *const *el, size_t n) {
    RKT_OK(rk_rpush(c, key, el, n, NULL));
}

static void sadd(rk_client *c, const char *key, const char *const *m, size_t n) {
    RKT_OK(rk_sadd(c, key, m, n, NULL));
}

static void lrange_is(rk_client *c, const char *key, ...) {
    rk_reply r;
    RKT_OK(rk_lrange(c, key, 0, -1, &r));
    va_list ap;
    size_t n = 0;
    va_start(ap, key);
    while (va_arg(ap, const char *) != NULL)
        n++;
    va_end(ap);
    rkt_expect_shape(&r, RK_REPLY_ARRAY, n);
    va_start(ap, key);
    for (size_t i = 0; i < n; i++)
        expect_str(rk_reply_at(&r, i), va_arg(ap, const char *));
    va_end(ap);
    rk_reply_free(&r);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A second client that pushes one value after a delay. */
typedef struct pusher {
    int protocol;
    int delay_ms;
    const char *key, *value;
    int rc;
    pthread_t thread;
} pusher;

static void *push_later(void *arg) {
    pusher *p = arg;
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .protocol = p->protocol});
    if (c == NULL) {
        p->rc = RK_ECONNECT;
        return NULL;
    }
    sleep_ms(p->delay_ms);
    p->rc = rk_rpush(c, p->key, &p->value, 1, NULL);
    rk_client_free(c);
    return NULL;
}

static void pusher_start(pusher *p, void **state, int delay_ms, const char *key,
                         const char *value) {
    *p = (pusher){.protocol = rkt_cmd_protocol(state),
                  .delay_ms = delay_ms,
                  .key = key,
                  .value = value,
                  .rc = -1000};
    assert_int_equal(pthread_create(&p->thread, NULL, push_later, p), 0);
}

static void pusher_join(pusher *p) {
    pthread_join(p->thread, NULL);
    RKT_OK(p->rc);
}

/* ---- lists: pushes --------------------------------------------------------- */

static void test_lpush_and_rpush_return_the_new_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_rpush(c, "l", STRS("b", "c"), &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_lpush(c, "l", STRS("a0", "a1"), &n));
    assert_int_equal(n, 4);
    lrange_is(c, "l", "a1", "a0", "b", "c", NULL);
    rk_client_free(c);
}

static void test_pushx_on_a_missing_key_pushes_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_lpushx(c, "none", STRS("a"), &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_rpushx(c, "none", STRS("a", "b"), &n));
    assert_int_equal(n, 0);
    long long exists = -1;
    RKT_OK(rk_exists(c, STRS("none"), &exists));
    assert_int_equal(exists, 0);
    rk_client_free(c);
}

static void test_pushx_on_an_existing_list_pushes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("m"));
    long long n = -1;
    RKT_OK(rk_lpushx(c, "l", STRS("h"), &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_rpushx(c, "l", STRS("t1", "t2"), &n));
    assert_int_equal(n, 4);
    lrange_is(c, "l", "h", "m", "t1", "t2", NULL);
    rk_client_free(c);
}

/* ---- lists: reading -------------------------------------------------------- */

static void test_lrange_returns_a_slice_as_an_array(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c", "d"));
    rk_reply r;
    RKT_OK(rk_lrange(c, "l", 1, -2, &r));
    expect_strings(&r, "b", "c", NULL);
    rk_reply_free(&r);
    RKT_OK(rk_lrange(c, "missing", 0, -1, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lindex_returns_the_element_and_its_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("first", "second"));
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_lindex(c, "l", -1, &v, &len));
    assert_string_equal(v, "second");
    assert_int_equal(len, 6);
    rk_free(v);
    rk_client_free(c);
}

static void test_lindex_out_of_range_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a"));
    char *v = (char *)"untouched";
    size_t len = 99;
    RKT_RC(rk_lindex(c, "l", 5, &v, &len), RK_NIL);
    assert_null(v);
    assert_int_equal(len, 0);
    RKT_RC(rk_lindex(c, "missing", 0, &v, NULL), RK_NIL);
    rk_client_free(c);
}

static void test_llen_counts_elements(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_llen(c, "l", &n));
    assert_int_equal(n, 0);
    rpush(c, "l", STRS("a", "b", "c"));
    RKT_OK(rk_llen(c, "l", &n));
    assert_int_equal(n, 3);
    rk_client_free(c);
}

/* ---- lists: popping -------------------------------------------------------- */

static void test_lpop_and_rpop_without_count_return_one_string(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_lpop(c, "l", NULL, &r));
    expect_str(&r, "a");
    rk_reply_free(&r);
    RKT_OK(rk_rpop(c, "l", NULL, &r));
    expect_str(&r, "c");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lpop_and_rpop_with_count_return_arrays(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c", "d", "e"));
    rk_reply r;
    RKT_OK(rk_lpop(c, "l", &(rk_lpop_opts){.count = 2}, &r));
    expect_strings(&r, "a", "b", NULL);
    rk_reply_free(&r);
    RKT_OK(rk_rpop(c, "l", &(rk_rpop_opts){.count = 2}, &r));
    expect_strings(&r, "e", "d", NULL);
    rk_reply_free(&r);
    lrange_is(c, "l", "c", NULL);
    rk_client_free(c);
}

static void test_pop_on_a_missing_list_is_nil_with_and_without_count(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_lpop(c, "missing", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    RKT_NIL(rk_rpop(c, "missing", &(rk_rpop_opts){.count = 3}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- lists: LPOS ----------------------------------------------------------- */

static void test_lpos_returns_the_first_match_as_an_integer(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "x", "b", "x", "c", "x"));
    rk_reply r;
    RKT_OK(rk_lpos(c, "l", "x", NULL, &r));
    expect_int(&r, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lpos_with_rank_finds_a_later_or_reverse_match(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "x", "b", "x", "c", "x"));
    rk_reply r;
    RKT_OK(rk_lpos(c, "l", "x", &(rk_lpos_opts){.rank = 2}, &r));
    expect_int(&r, 3);
    rk_reply_free(&r);
    RKT_OK(rk_lpos(c, "l", "x", &(rk_lpos_opts){.rank = -1}, &r));
    expect_int(&r, 5);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lpos_with_count_zero_returns_every_match(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "x", "b", "x", "c", "x"));
    rk_reply r;
    RKT_OK(rk_lpos(c, "l", "x", &(rk_lpos_opts){.count = 0, .count_set = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_int(rk_reply_at(&r, 0), 1);
    expect_int(rk_reply_at(&r, 1), 3);
    expect_int(rk_reply_at(&r, 2), 5);
    rk_reply_free(&r);
    RKT_OK(rk_lpos(c, "l", "x", &(rk_lpos_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lpos_with_maxlen_scans_only_the_head(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c", "x"));
    rk_reply r;
    RKT_NIL(rk_lpos(c, "l", "x", &(rk_lpos_opts){.maxlen = 3}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    RKT_OK(rk_lpos(c, "l", "x",
                   &(rk_lpos_opts){.count = 0, .count_set = true, .maxlen = 3, .rank = 1}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lpos_of_a_missing_element_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a"));
    rk_reply r;
    RKT_NIL(rk_lpos(c, "l", "zz", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- lists: changing ------------------------------------------------------- */

static void test_linsert_before_and_after_the_pivot(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "c"));
    long long n = -1;
    RKT_OK(rk_linsert(c, "l", RK_LINSERT_WHERE_BEFORE, "c", "b", &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_linsert(c, "l", RK_LINSERT_WHERE_AFTER, "c", "d", &n));
    assert_int_equal(n, 4);
    lrange_is(c, "l", "a", "b", "c", "d", NULL);
    RKT_OK(rk_linsert(c, "l", RK_LINSERT_WHERE_AFTER, "nope", "z", &n));
    assert_int_equal(n, -1);
    rk_client_free(c);
}

static void test_linsert_where_out_of_range_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a"));
    RKT_RC(rk_linsert(c, "l", (rk_linsert_where)0, "a", "b", NULL), RK_EINVAL);
    RKT_RC(rk_linsert(c, "l", (rk_linsert_where)3, "a", "b", NULL), RK_EINVAL);
    lrange_is(c, "l", "a", NULL);
    rk_client_free(c);
}

static void test_lset_replaces_an_element(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c"));
    RKT_OK(rk_lset(c, "l", -2, "B"));
    lrange_is(c, "l", "a", "B", "c", NULL);
    rk_client_free(c);
}

static void test_lset_out_of_range_is_a_server_error(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a"));
    RKT_RC(rk_lset(c, "l", 9, "x"), RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, "index out of range"));
    rk_client_free(c);
}

static void test_lrem_removes_matches_from_either_end(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("x", "a", "x", "b", "x"));
    long long n = -1;
    RKT_OK(rk_lrem(c, "l", -1, "x", &n));
    assert_int_equal(n, 1);
    lrange_is(c, "l", "x", "a", "x", "b", NULL);
    RKT_OK(rk_lrem(c, "l", 0, "x", &n));
    assert_int_equal(n, 2);
    lrange_is(c, "l", "a", "b", NULL);
    rk_client_free(c);
}

static void test_ltrim_keeps_only_the_range(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c", "d", "e"));
    RKT_OK(rk_ltrim(c, "l", 1, 3));
    lrange_is(c, "l", "b", "c", "d", NULL);
    rk_client_free(c);
}

/* ---- lists: moving --------------------------------------------------------- */

static void test_lmove_takes_and_puts_on_the_given_sides(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "src", STRS("a", "b", "c"));
    rpush(c, "dst", STRS("x"));
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_lmove(c, "src", "dst", RK_RIGHT, RK_LEFT, &v, &len));
    assert_string_equal(v, "c");
    assert_int_equal(len, 1);
    rk_free(v);
    RKT_OK(rk_lmove(c, "src", "dst", RK_LEFT, RK_RIGHT, &v, NULL));
    assert_string_equal(v, "a");
    rk_free(v);
    lrange_is(c, "src", "b", NULL);
    lrange_is(c, "dst", "c", "x", "a", NULL);
    rk_client_free(c);
}

static void test_lmove_from_a_missing_list_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *v = (char *)"untouched";
    RKT_RC(rk_lmove(c, "missing", "dst", RK_LEFT, RK_LEFT, &v, NULL), RK_NIL);
    assert_null(v);
    rk_client_free(c);
}

static void test_side_out_of_range_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "src", STRS("a"));
    char *v = NULL;
    RKT_RC(rk_lmove(c, "src", "dst", (rk_side)7, RK_LEFT, &v, NULL), RK_EINVAL);
    assert_null(v);
    RKT_RC(rk_lmove(c, "src", "dst", RK_LEFT, (rk_side)0, &v, NULL), RK_EINVAL);
    rk_reply r;
    RKT_RC(rk_lmpop(c, STRS("src"), (rk_side)7, NULL, &r), RK_EINVAL);
    RKT_RC(rk_blmove(c, "src", "dst", (rk_side)3, RK_LEFT, 0.1, &v, NULL), RK_EINVAL);
    lrange_is(c, "src", "a", NULL);
    rk_client_free(c);
}

static void test_blmove_moves_an_available_element_at_once(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "src", STRS("a", "b"));
    char *v;
    size_t len;
    RKT_OK(rk_blmove(c, "src", "dst", RK_LEFT, RK_RIGHT, 1, &v, &len));
    assert_string_equal(v, "a");
    assert_int_equal(len, 1);
    rk_free(v);
    lrange_is(c, "dst", "a", NULL);
    rk_client_free(c);
}

static void test_blmove_on_an_empty_list_times_out_with_rk_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *v = (char *)"untouched";
    RKT_RC(rk_blmove(c, "missing", "dst", RK_LEFT, RK_RIGHT, 0.1, &v, NULL), RK_NIL);
    assert_null(v);
    rk_client_free(c);
}

static void test_rpoplpush_rotates_the_tail_to_the_head(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c"));
    char *v = NULL;
    RKT_OK(rk_rpoplpush(c, "l", "l", &v, NULL));
    assert_string_equal(v, "c");
    rk_free(v);
    lrange_is(c, "l", "c", "a", "b", NULL);
    RKT_RC(rk_rpoplpush(c, "missing", "l", &v, NULL), RK_NIL);
    assert_null(v);
    rk_client_free(c);
}

/* ---- lists: LMPOP / BLMPOP ------------------------------------------------- */

static void test_lmpop_pops_from_the_first_non_empty_list(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l2", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_lmpop(c, STRS("l1", "l2"), RK_LEFT, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "l2");
    expect_strings(rk_reply_at(&r, 1), "a", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lmpop_with_count_from_the_right(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_lmpop(c, STRS("l"), RK_RIGHT, &(rk_lmpop_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "l");
    expect_strings(rk_reply_at(&r, 1), "c", "b", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_lmpop_on_empty_lists_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_lmpop(c, STRS("l1", "l2"), RK_LEFT, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blmpop_pops_available_elements(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_blmpop(c, 1, STRS("none", "l"), RK_LEFT, &(rk_blmpop_opts){.count = 5}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "l");
    expect_strings(rk_reply_at(&r, 1), "a", "b", "c", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blmpop_on_empty_lists_times_out_with_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_blmpop(c, 0.1, STRS("l1", "l2"), RK_RIGHT, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- lists: BLPOP / BRPOP -------------------------------------------------- */

static void test_blpop_returns_key_and_element_when_available(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rpush(c, "l2", STRS("a", "b"));
    rk_reply r;
    RKT_OK(rk_blpop(c, STRS("l1", "l2"), 1, &r));
    expect_strings(&r, "l2", "a", NULL);
    rk_reply_free(&r);
    RKT_OK(rk_brpop(c, STRS("l1", "l2"), 1, &r));
    expect_strings(&r, "l2", "b", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blpop_on_empty_list_times_out_with_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_blpop(c, STRS("empty"), 0.1, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_brpop_on_empty_list_times_out_with_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_brpop(c, STRS("empty", "empty2"), 0.1, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blpop_is_served_by_a_push_from_another_thread(void **state) {
    rk_client *c = rkt_cmd_client(state);
    pusher p;
    pusher_start(&p, state, 100, "q", "hello");
    rk_reply r;
    int rc = rk_blpop(c, STRS("q"), 10, &r);
    pusher_join(&p);
    RKT_OK(rc);
    expect_strings(&r, "q", "hello", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blpop_outlasts_a_shorter_command_timeout(void **state) {
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared),
                                               .protocol = rkt_cmd_protocol(state),
                                               .command_timeout_ms = 200});
    assert_non_null(c);
    /* Connect first, so the command timeout is all that is at stake. */
    RKT_OK(rk_client_call(c, NULL, "PING"));
    pusher p;
    pusher_start(&p, state, 500, "q", "late");
    rk_reply r;
    int rc = rk_blpop(c, STRS("q"), 1, &r);
    pusher_join(&p);
    RKT_OK(rc);
    expect_strings(&r, "q", "late", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_blpop_with_no_keys_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_RC(rk_blpop(c, NULL, 0, 0.1, &r), RK_EINVAL);
    RKT_RC(rk_blpop(c, NULL, 1, 0.1, &r), RK_EINVAL);
    rk_client_free(c);
}

/* ---- sets ------------------------------------------------------------------ */

static void test_sadd_srem_and_scard_count_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_sadd(c, "s", STRS("a", "b", "c", "a"), &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_sadd(c, "s", STRS("c", "d"), &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_srem(c, "s", STRS("a", "zz"), &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_scard(c, "s", &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_scard(c, "missing", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_sadd_with_no_members_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    free(rkt_server_cmd(&rkt_shared, "CONFIG", "RESETSTAT", NULL));
    long long n = -7;
    const char *members[] = {"x"};
    RKT_RC(rk_sadd(c, "s", members, 0, &n), RK_EINVAL);
    assert_int_equal(n, -7);
    assert_non_null(strstr(rk_error_last()->message, "at least one"));
    char *stats = rkt_server_cmd(&rkt_shared, "INFO", "commandstats", NULL);
    assert_non_null(stats);
    assert_null(strstr(stats, "cmdstat_sadd:"));
    free(stats);
    rk_client_free(c);
}

static void test_null_member_array_with_a_count_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -7;
    RKT_RC(rk_sadd(c, "s", NULL, 2, &n), RK_EINVAL);
    RKT_RC(rk_srem(c, "s", NULL, 1, &n), RK_EINVAL);
    RKT_RC(rk_rpush(c, "l", NULL, 1, &n), RK_EINVAL);
    rk_reply r;
    RKT_RC(rk_sinter(c, NULL, 2, &r), RK_EINVAL);
    RKT_RC(rk_hset(c, "h", NULL, 1, &n), RK_EINVAL);
    assert_int_equal(n, -7);
    RKT_OK(rk_scard(c, "s", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_smembers_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_smembers(c, "s", &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 3);
    assert_true(holds(&r, "a") && holds(&r, "b") && holds(&r, "c"));
    rk_reply_free(&r);
    RKT_OK(rk_smembers(c, "missing", &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sinter_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s1", STRS("a", "b", "c"));
    sadd(c, "s2", STRS("b", "c", "d"));
    rk_reply r;
    RKT_OK(rk_sinter(c, STRS("s1", "s2"), &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 2);
    assert_true(holds(&r, "b") && holds(&r, "c"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sunion_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s1", STRS("a", "b"));
    sadd(c, "s2", STRS("b", "c"));
    rk_reply r;
    RKT_OK(rk_sunion(c, STRS("s1", "s2"), &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 3);
    assert_true(holds(&r, "a") && holds(&r, "b") && holds(&r, "c"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sdiff_is_a_set(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s1", STRS("a", "b", "c"));
    sadd(c, "s2", STRS("b"));
    rk_reply r;
    RKT_OK(rk_sdiff(c, STRS("s1", "s2"), &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 2);
    assert_true(holds(&r, "a") && holds(&r, "c"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_sismember_and_smismember_tell_membership(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b"));
    long long n = -1;
    RKT_OK(rk_sismember(c, "s", "a", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_sismember(c, "s", "z", &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_smismember(c, "s", STRS("z", "b", "a"), &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_int(rk_reply_at(&r, 0), 0);
    expect_int(rk_reply_at(&r, 1), 1);
    expect_int(rk_reply_at(&r, 2), 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_srandmember_without_count_returns_one_member(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_srandmember(c, "s", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    const char *m = rk_reply_str(&r);
    assert_true(!strcmp(m, "a") || !strcmp(m, "b") || !strcmp(m, "c"));
    rk_reply_free(&r);
    long long n = -1;
    RKT_OK(rk_scard(c, "s", &n));
    assert_int_equal(n, 3);
    RKT_NIL(rk_srandmember(c, "missing", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_srandmember_with_count_returns_an_array(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_srandmember(c, "s", &(rk_srandmember_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_string_not_equal(rk_reply_str(rk_reply_at(&r, 0)), rk_reply_str(rk_reply_at(&r, 1)));
    rk_reply_free(&r);
    /* A negative count may repeat members. */
    RKT_OK(rk_srandmember(c, "s", &(rk_srandmember_opts){.count = -5}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 5);
    rk_reply_free(&r);
    RKT_OK(rk_srandmember(c, "s", &(rk_srandmember_opts){.count = 0, .count_set = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_spop_without_count_removes_one_member(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b"));
    rk_reply r;
    RKT_OK(rk_spop(c, "s", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    long long n = -1;
    RKT_OK(rk_sismember(c, "s", rk_reply_str(&r), &n));
    assert_int_equal(n, 0);
    rk_reply_free(&r);
    RKT_OK(rk_scard(c, "s", &n));
    assert_int_equal(n, 1);
    rk_client_free(c);
}

/* RESP3 sends SPOP's counted reply as a set (~). */
static void test_spop_with_count_is_a_set_on_both_protocols(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("a", "b", "c"));
    rk_reply r;
    RKT_OK(rk_spop(c, "s", &(rk_spop_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 2);
    rk_reply_free(&r);
    long long n = -1;
    RKT_OK(rk_scard(c, "s", &n));
    assert_int_equal(n, 1);
    rk_client_free(c);
}

static void test_sintercard_with_limit_stops_counting(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s1", STRS("a", "b", "c", "d"));
    sadd(c, "s2", STRS("a", "b", "c", "x"));
    long long n = -1;
    RKT_OK(rk_sintercard(c, STRS("s1", "s2"), NULL, &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_sintercard(c, STRS("s1", "s2"), &(rk_sintercard_opts){.limit = 2}, &n));
    assert_int_equal(n, 2);
    /* LIMIT 0 means no limit. */
    RKT_OK(rk_sintercard(c, STRS("s1", "s2"), &(rk_sintercard_opts){.limit_set = true}, &n));
    assert_int_equal(n, 3);
    rk_client_free(c);
}

static void test_smove_moves_a_member_between_sets(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "src", STRS("a", "b"));
    long long n = -1;
    RKT_OK(rk_smove(c, "src", "dst", "a", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_smove(c, "src", "dst", "zz", &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_sismember(c, "dst", "a", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_sismember(c, "src", "a", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_store_variants_store_the_result_and_count_it(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s1", STRS("a", "b", "c"));
    sadd(c, "s2", STRS("b", "c", "d"));
    long long n = -1;
    RKT_OK(rk_sdiffstore(c, "diff", STRS("s1", "s2"), &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_sinterstore(c, "inter", STRS("s1", "s2"), &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_sunionstore(c, "union", STRS("s1", "s2"), &n));
    assert_int_equal(n, 4);
    rk_reply r;
    RKT_OK(rk_smembers(c, "diff", &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 1);
    assert_true(holds(&r, "a"));
    rk_reply_free(&r);
    RKT_OK(rk_scard(c, "inter", &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_scard(c, "union", &n));
    assert_int_equal(n, 4);
    rk_client_free(c);
}

static void test_sscan_one_step_returns_cursor_and_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    sadd(c, "s", STRS("apple", "avocado", "banana"));
    rk_reply r;
    RKT_OK(rk_sscan(c, "s", 0, &(rk_sscan_opts){.match = RK_STR("a*"), .count = 100}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "0");
    const rk_reply *m = rk_reply_at(&r, 1);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    assert_true(holds(m, "apple") && holds(m, "avocado"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_set_commands_are_binary_safe(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_str m[] = {RK_STR("a\0b"), RK_STR("a\0c")}, key = RK_STR("s\0k");
    rk_command cmd;
    assert_int_equal(rkt_run_int(c, rk_cmd_sadd(&cmd, key, m, 2)), 2);
    assert_int_equal(rkt_run_int(c, rk_cmd_sismember(&cmd, key, RK_STR("a\0c"))), 1);
    assert_int_equal(rkt_run_int(c, rk_cmd_sismember(&cmd, key, RK_STR("a"))), 0);
    rk_reply r;
    RKT_OK(rk_client_run(c, rk_cmd_smembers(&cmd, key), &r));
    rkt_expect_shape(&r, RK_REPLY_SET, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(rk_reply_len(rk_reply_at(&r, i)), 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- hashes ---------------------------------------------------------------- */

static void test_hset_with_field_value_structs_counts_new_fields(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_hset(
        c, "h", (rk_hset_field_value[]){{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}},
        2, &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_hset(c, "h",
                   (rk_hset_field_value[]){{.field = RK_STR("f2"), .value = RK_STR("new")},
                                           {.field = RK_STR("f3"), .value = RK_STR("v3")}},
                   2, &n));
    assert_int_equal(n, 1);
    char *v = NULL;
    RKT_OK(rk_hget(c, "h", "f2", &v, NULL));
    assert_string_equal(v, "new");
    rk_free(v);
    rk_client_free(c);
}

static void test_hset_with_no_pairs_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_RC(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f"), RK_STR("v")}}, 0, NULL),
           RK_EINVAL);
    long long n = -1;
    RKT_OK(rk_hlen(c, "h", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_hgetall_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(
        c, "h", (rk_hset_field_value[]){{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}},
        2, NULL));
    rk_reply r;
    RKT_OK(rk_hgetall(c, "h", &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    rkt_map_expect(&r, "f1", "v1");
    rkt_map_expect(&r, "f2", "v2");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hgetall_of_a_missing_key_is_an_empty_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_hgetall(c, "missing", &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hgetall_through_a_pipeline_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(
        p, rk_cmd_hset(&cmd, RK_STR("h"), (rk_hset_field_value[]){{RK_STR("f"), RK_STR("v")}}, 1)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("h"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_smembers(&cmd, RK_STR("missing"))));
    RKT_OK(rk_pipeline_exec(p));
    expect_int(rk_pipeline_reply(p, 0), 1);
    rkt_expect_shape(rk_pipeline_reply(p, 1), RK_REPLY_MAP, 1);
    rkt_map_expect(rk_pipeline_reply(p, 1), "f", "v");
    rkt_expect_shape(rk_pipeline_reply(p, 2), RK_REPLY_SET, 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_hget_returns_the_value(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f"), RK_STR("value")}}, 1, NULL));
    char *v = NULL;
    size_t len = 0;
    RKT_OK(rk_hget(c, "h", "f", &v, &len));
    assert_string_equal(v, "value");
    assert_int_equal(len, 5);
    rk_free(v);
    rk_client_free(c);
}

static void test_hget_of_a_missing_field_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f"), RK_STR("v")}}, 1, NULL));
    char *v = (char *)"untouched";
    size_t len = 99;
    RKT_RC(rk_hget(c, "h", "other", &v, &len), RK_NIL);
    assert_null(v);
    assert_int_equal(len, 0);
    RKT_RC(rk_hget(c, "missing", "f", &v, NULL), RK_NIL);
    rk_client_free(c);
}

static void test_hmget_returns_values_and_nils_in_order(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h",
                   (rk_hset_field_value[]){{RK_STR("a"), RK_STR("1")}, {RK_STR("c"), RK_STR("3")}},
                   2, NULL));
    rk_reply r;
    RKT_OK(rk_hmget(c, "h", STRS("a", "b", "c"), &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "1");
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 1)), RK_REPLY_NIL);
    expect_str(rk_reply_at(&r, 2), "3");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hincrby_adds_to_the_field(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_hincrby(c, "h", "n", 5, &n));
    assert_int_equal(n, 5);
    RKT_OK(rk_hincrby(c, "h", "n", -7, &n));
    assert_int_equal(n, -2);
    rk_client_free(c);
}

static void test_hincrby_on_a_non_integer_is_a_server_error(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f"), RK_STR("abc")}}, 1, NULL));
    long long n = 42;
    RKT_RC(rk_hincrby(c, "h", "f", 1, &n), RK_ESERVER);
    assert_int_equal(n, 42);
    rk_client_free(c);
}

static void test_hincrbyfloat_returns_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    double d = 0;
    RKT_OK(rk_hincrbyfloat(c, "h", "x", 10.5, &d));
    assert_true(fabs(d - 10.5) < 1e-9);
    RKT_OK(rk_hincrbyfloat(c, "h", "x", -0.25, &d));
    assert_true(fabs(d - 10.25) < 1e-9);
    char *v = NULL;
    RKT_OK(rk_hget(c, "h", "x", &v, NULL));
    assert_string_equal(v, "10.25");
    rk_free(v);
    rk_client_free(c);
}

static void test_hrandfield_with_values_gives_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(
        c, "h", (rk_hset_field_value[]){{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}},
        2, NULL));
    rk_reply r;
    RKT_OK(
        rk_hrandfield(c, "h", &(rk_hrandfield_opts){.count = &(rk_hrandfield_count){2, true}}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    for (size_t i = 0; i < 2; i++) {
        const rk_reply *pair = rk_reply_at(&r, i);
        rkt_expect_shape(pair, RK_REPLY_ARRAY, 2);
        const char *f = rk_reply_str(rk_reply_at(pair, 0));
        assert_non_null(f);
        expect_str(rk_reply_at(pair, 1), !strcmp(f, "f1") ? "v1" : "v2");
    }
    rk_reply_free(&r);
    /* A negative count may repeat fields; still pairs. */
    RKT_OK(rk_hrandfield(c, "h", &(rk_hrandfield_opts){.count = &(rk_hrandfield_count){-3, true}},
                         &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    rkt_expect_shape(rk_reply_at(&r, 2), RK_REPLY_ARRAY, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hrandfield_without_values_gives_fields(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(
        c, "h", (rk_hset_field_value[]){{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}},
        2, NULL));
    rk_reply r;
    RKT_OK(rk_hrandfield(c, "h", &(rk_hrandfield_opts){.count = &(rk_hrandfield_count){5, false}},
                         &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_true(holds(&r, "f1") && holds(&r, "f2"));
    rk_reply_free(&r);
    RKT_OK(rk_hrandfield(c, "h", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    rk_reply_free(&r);
    RKT_NIL(rk_hrandfield(c, "missing", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hkeys_and_hvals_are_arrays(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(
        c, "h", (rk_hset_field_value[]){{RK_STR("f1"), RK_STR("v1")}, {RK_STR("f2"), RK_STR("v2")}},
        2, NULL));
    rk_reply r;
    RKT_OK(rk_hkeys(c, "h", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_true(holds(&r, "f1") && holds(&r, "f2"));
    rk_reply_free(&r);
    RKT_OK(rk_hvals(c, "h", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_true(holds(&r, "v1") && holds(&r, "v2"));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hlen_hexists_and_hdel(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h",
                   (rk_hset_field_value[]){{RK_STR("a"), RK_STR("1")},
                                           {RK_STR("b"), RK_STR("2")},
                                           {RK_STR("c"), RK_STR("3")}},
                   3, NULL));
    long long n = -1;
    RKT_OK(rk_hlen(c, "h", &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_hexists(c, "h", "b", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_hdel(c, "h", STRS("b", "c", "zz"), &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_hexists(c, "h", "b", &n));
    assert_int_equal(n, 0);
    RKT_OK(rk_hlen(c, "h", &n));
    assert_int_equal(n, 1);
    rk_client_free(c);
}

static void test_hsetnx_sets_only_a_new_field(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_hsetnx(c, "h", "f", "first", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_hsetnx(c, "h", "f", "second", &n));
    assert_int_equal(n, 0);
    char *v = NULL;
    RKT_OK(rk_hget(c, "h", "f", &v, NULL));
    assert_string_equal(v, "first");
    rk_free(v);
    rk_client_free(c);
}

static void test_hstrlen_is_the_value_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f"), RK_STR("hello")}}, 1, NULL));
    long long n = -1;
    RKT_OK(rk_hstrlen(c, "h", "f", &n));
    assert_int_equal(n, 5);
    RKT_OK(rk_hstrlen(c, "h", "missing", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_hscan_one_step_returns_cursor_and_a_map_of_fields(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_hset(c, "h",
                   (rk_hset_field_value[]){{RK_STR("k1"), RK_STR("v1")},
                                           {RK_STR("k2"), RK_STR("v2")},
                                           {RK_STR("x"), RK_STR("y")}},
                   3, NULL));
    rk_reply r;
    RKT_OK(rk_hscan(c, "h", 0, &(rk_hscan_opts){.match = RK_STR("k*"), .count = 100}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "0");
    const rk_reply *fv = rk_reply_at(&r, 1); /* a map of this step's fields */
    rkt_expect_shape(fv, RK_REPLY_MAP, 2);
    rkt_map_expect(fv, "k1", "v1");
    rkt_map_expect(fv, "k2", "v2");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hset_struct_lengths_carry_nul_bytes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    long long n = -1;
    RKT_OK(rk_hset(c, "h", (rk_hset_field_value[]){{RK_STR("f\0x"), RK_STR("a\0b\0c")}}, 1, &n));
    assert_int_equal(n, 1);
    rk_command cmd;
    assert_int_equal(rkt_run_int(c, rk_cmd_hstrlen(&cmd, RK_STR("h"), RK_STR("f\0x"))), 5);
    RKT_OK(rk_hexists(c, "h", "f", &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_hgetall(c, "h", &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    const rk_reply *k = rk_reply_map_key(&r, 0), *v = rk_reply_map_value(&r, 0);
    assert_int_equal(rk_reply_len(k), 3);
    assert_memory_equal(rk_reply_str(k), "f\0x", 3);
    assert_int_equal(rk_reply_len(v), 5);
    assert_memory_equal(rk_reply_str(v), "a\0b\0c", 5);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_hget_builder_reads_values_with_nul_bytes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_str key = RK_STR("h\0k");
    rk_command cmd;
    const rk_hset_field_value fv[] = {{RK_STR("f\0"), RK_STR("\0\0v")}};
    assert_int_equal(rkt_run_int(c, rk_cmd_hset(&cmd, key, fv, 1)), 1);
    rkt_run_bytes(c, rk_cmd_hget(&cmd, key, RK_STR("f\0")), RK_STR("\0\0v"));
    RKT_NIL(rk_client_run(c, rk_cmd_hget(&cmd, key, RK_STR("f")), NULL));
    assert_int_equal(rkt_run_int(c, rk_cmd_hsetnx(&cmd, key, RK_STR("g\0"), RK_STR("x\0y"))), 1);
    assert_int_equal(rkt_run_int(c, rk_cmd_hlen(&cmd, key)), 2);
    rk_client_free(c);
}

static void test_list_builders_keep_nul_bytes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const rk_str el[] = {RK_STR("a\0b"), RK_STR("plain")}, key = RK_STR("l\0");
    rk_command cmd;
    assert_int_equal(rkt_run_int(c, rk_cmd_rpush(&cmd, key, el, 2)), 2);
    rkt_run_bytes(c, rk_cmd_lindex(&cmd, key, 0), RK_STR("a\0b"));
    long long n = -1;
    RKT_OK(rk_llen(c, "l", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        /* lists */
        RKT_BOTH(test_lpush_and_rpush_return_the_new_length),
        RKT_BOTH(test_pushx_on_a_missing_key_pushes_nothing),
        RKT_BOTH(test_pushx_on_an_existing_list_pushes),
        RKT_BOTH(test_lrange_returns_a_slice_as_an_array),
        RKT_BOTH(test_lindex_returns_the_element_and_its_length),
        RKT_BOTH(test_lindex_out_of_range_is_nil),
        RKT_BOTH(test_llen_counts_elements),
        RKT_BOTH(test_lpop_and_rpop_without_count_return_one_string),
        RKT_BOTH(test_lpop_and_rpop_with_count_return_arrays),
        RKT_BOTH(test_pop_on_a_missing_list_is_nil_with_and_without_count),
        RKT_BOTH(test_lpos_returns_the_first_match_as_an_integer),
        RKT_BOTH(test_lpos_with_rank_finds_a_later_or_reverse_match),
        RKT_BOTH(test_lpos_with_count_zero_returns_every_match),
        RKT_BOTH(test_lpos_with_maxlen_scans_only_the_head),
        RKT_BOTH(test_lpos_of_a_missing_element_is_nil),
        RKT_BOTH(test_linsert_before_and_after_the_pivot),
        RKT_BOTH(test_linsert_where_out_of_range_is_einval),
        RKT_BOTH(test_lset_replaces_an_element),
        RKT_BOTH(test_lset_out_of_range_is_a_server_error),
        RKT_BOTH(test_lrem_removes_matches_from_either_end),
        RKT_BOTH(test_ltrim_keeps_only_the_range),
        RKT_BOTH(test_lmove_takes_and_puts_on_the_given_sides),
        RKT_BOTH(test_lmove_from_a_missing_list_is_nil),
        RKT_BOTH(test_side_out_of_range_is_einval),
        RKT_BOTH(test_blmove_moves_an_available_element_at_once),
        RKT_BOTH(test_blmove_on_an_empty_list_times_out_with_rk_nil),
        RKT_BOTH(test_rpoplpush_rotates_the_tail_to_the_head),
        RKT_BOTH(test_lmpop_pops_from_the_first_non_empty_list),
        RKT_BOTH(test_lmpop_with_count_from_the_right),
        RKT_BOTH(test_lmpop_on_empty_lists_is_nil),
        RKT_BOTH(test_blmpop_pops_available_elements),
        RKT_BOTH(test_blmpop_on_empty_lists_times_out_with_nil),
        RKT_BOTH(test_blpop_returns_key_and_element_when_available),
        RKT_BOTH(test_blpop_on_empty_list_times_out_with_nil),
        RKT_BOTH(test_brpop_on_empty_list_times_out_with_nil),
        RKT_BOTH(test_blpop_is_served_by_a_push_from_another_thread),
        RKT_BOTH(test_blpop_outlasts_a_shorter_command_timeout),
        RKT_BOTH(test_blpop_with_no_keys_is_einval),
        RKT_BOTH(test_list_builders_keep_nul_bytes),
        /* sets */
        RKT_BOTH(test_sadd_srem_and_scard_count_members),
        RKT_BOTH(test_sadd_with_no_members_is_einval_and_sends_nothing),
        RKT_BOTH(test_null_member_array_with_a_count_is_einval),
        RKT_BOTH(test_smembers_is_a_set),
        RKT_BOTH(test_sinter_is_a_set),
        RKT_BOTH(test_sunion_is_a_set),
        RKT_BOTH(test_sdiff_is_a_set),
        RKT_BOTH(test_sismember_and_smismember_tell_membership),
        RKT_BOTH(test_srandmember_without_count_returns_one_member),
        RKT_BOTH(test_srandmember_with_count_returns_an_array),
        RKT_BOTH(test_spop_without_count_removes_one_member),
        RKT_BOTH(test_spop_with_count_is_a_set_on_both_protocols),
        RKT_BOTH(test_sintercard_with_limit_stops_counting),
        RKT_BOTH(test_smove_moves_a_member_between_sets),
        RKT_BOTH(test_store_variants_store_the_result_and_count_it),
        RKT_BOTH(test_sscan_one_step_returns_cursor_and_members),
        RKT_BOTH(test_set_commands_are_binary_safe),
        /* hashes */
        RKT_BOTH(test_hset_with_field_value_structs_counts_new_fields),
        RKT_BOTH(test_hset_with_no_pairs_is_einval),
        RKT_BOTH(test_hgetall_is_a_map),
        RKT_BOTH(test_hgetall_of_a_missing_key_is_an_empty_map),
        RKT_BOTH(test_hgetall_through_a_pipeline_is_a_map),
        RKT_BOTH(test_hget_returns_the_value),
        RKT_BOTH(test_hget_of_a_missing_field_is_nil),
        RKT_BOTH(test_hmget_returns_values_and_nils_in_order),
        RKT_BOTH(test_hincrby_adds_to_the_field),
        RKT_BOTH(test_hincrby_on_a_non_integer_is_a_server_error),
        RKT_BOTH(test_hincrbyfloat_returns_a_double),
        RKT_BOTH(test_hrandfield_with_values_gives_pairs),
        RKT_BOTH(test_hrandfield_without_values_gives_fields),
        RKT_BOTH(test_hkeys_and_hvals_are_arrays),
        RKT_BOTH(test_hlen_hexists_and_hdel),
        RKT_BOTH(test_hsetnx_sets_only_a_new_field),
        RKT_BOTH(test_hstrlen_is_the_value_length),
        RKT_BOTH(test_hscan_one_step_returns_cursor_and_a_map_of_fields),
        RKT_BOTH(test_hset_struct_lengths_carry_nul_bytes),
        RKT_BOTH(test_hget_builder_reads_values_with_nul_bytes),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
